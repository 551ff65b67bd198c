/**
 * submit_sm_resp command_status values (SMPP 3.4 §5.1.3), reported by the adapter as
 * `SMPP:<ESME_… name>` (or `SMPP:0x…` for a code the specification does not name); a bind the SMSC
 * refused as `request/SMPP_BIND:<name>`; a submit_sm answered with generic_nack as
 * `SMPP_GENERIC_NACK:<name>`. Only statuses known to be about this SMS bounce it: anything else
 * (SMSC vendor-specific codes 0x400–0x4FF, which often mean no credit, throttling or a route down,
 * and codes nobody classified) falls to the generic rules and is retried (docs/delivery.md).
 */
import type { OutcomeRule } from '../contract.ts';
import { BIND_FAILURE } from './bind.ts';
import { REASONS, TLS_CERTIFICATE, TLS_CERTIFICATE_CONNECT, UNTRUSTED_CERTIFICATE_KINDS } from '../outcome-reasons.ts';

/** The words for each bind that ended without bind_resp though the SMSC was reached, by its code. */
const BIND_FAILURE_REASONS: Readonly<Record<string, string>> = {
  [BIND_FAILURE.closed]: 'the SMSC closed the connection before answering the bind: an address allow-list, or TLS on one side only (check gateway.tls)',
  [BIND_FAILURE.portSpeaksTls]: "the SMSC's port speaks TLS and the relay's bind was plain: set gateway.tls: true",
  [BIND_FAILURE.portNotTls]: "the SMSC's port speaks plain SMPP and the relay's gateway.tls is true: set it false, or use the SMSC's TLS port",
  [BIND_FAILURE.handshakeRefused]:
    "the SMSC refused the TLS handshake: it requires a TLS version, cipher or client certificate the relay's does not offer (the log line names which)",
  [BIND_FAILURE.notSmpp]: 'the SMSC answered the bind with what is no SMPP PDU: the port of another service, or a proxy (check gateway.host and port)',
  [BIND_FAILURE.handshakeTimeout]: 'the SMSC did not answer the TLS handshake in time: a hung SMSC, or a port that speaks plain SMPP (check gateway.tls)',
  [BIND_FAILURE.bindTimeout]: 'the SMSC did not answer the bind in time: a hung SMSC, a firewall, or TLS on one side only (check gateway.tls)',
};

export const SMPP_OUTCOME_RULES: readonly OutcomeRule[] = [
  // The generic rule's, in SMPP's setting: an SMSC has gateway.host, no URL.
  {
    match: TLS_CERTIFICATE_CONNECT,
    action: 'failover',
    category: TLS_CERTIFICATE,
    reason: `the SMSC's TLS certificate is not trusted (${UNTRUSTED_CERTIFICATE_KINDS}): check gateway.host and the CAs, or what intercepts the connection`,
  },
  // Why no bind was made (bind.ts, BIND_FAILURE): the connection was made, so "could not be reached" would send the operator to the network.
  ...Object.entries(BIND_FAILURE_REASONS).map(
    ([code, reason]): OutcomeRule => ({ match: new RegExp(`^connect/${code}$`), action: 'failover', category: 'unreachable', reason }),
  ),
  { match: /^recipient\/SMPP:ESME_ROK$/, action: 'sent', category: 'sent', reason: REASONS.accepted },
  // An earlier attempt's copy the SMSC took after its timeout (adapter.ts): nothing written this time, so the possible duplicate that timeout counted is none.
  {
    match: /^recipient\/SMPP_TAKEN_LATE$/,
    action: 'sent',
    category: 'sent',
    reason: 'the SMSC took an earlier attempt after its submit timeout; nothing was written again',
    recognisedResend: true,
  },
  // The bind already slows down by itself (adapter.ts); the SMS waits its turn in the queue.
  {
    match: /^recipient\/SMPP:(ESME_RTHROTTLED|ESME_RMSGQFUL)$/,
    action: 'retry',
    category: 'busy',
    reason: 'the SMSC is busy (throttled or its queue is full)',
  },
  // Number errors: the destination address, its TON or NPI.
  {
    match: /^recipient\/SMPP:(ESME_RINVDSTADR|ESME_RINVDSTTON|ESME_RINVDSTNPI)$/,
    action: 'fail',
    category: 'invalid-number',
    reason: 'the SMSC refused the number',
  },
  {
    match: /^recipient\/SMPP:(ESME_RINVSRCADR|ESME_RINVSRCTON|ESME_RINVSRCNPI)$/,
    action: 'fail',
    category: 'sender',
    reason: 'the SMSC refused the sender id',
  },
  // The SMSC does not take the bind as bound (it lost its sessions): the bind is made again (bind.ts), and the SMS goes on it.
  {
    match: /^recipient\/SMPP:ESME_RINVBNDSTS$/,
    action: 'retry',
    category: 'gateway-error',
    reason: 'the SMSC no longer took the bind as bound (ESME_RINVBNDSTS); the relay binds again and sends it then',
  },
  // New binds in a row the SMSC accepts and never takes as bound (bind.ts, LOST_BINDS_FOR_ACCOUNT): no lost session, the account's trouble.
  {
    match: /^request\/SMPP_BIND:ESME_RINVBNDSTS$/,
    action: 'pause',
    category: 'account',
    reason:
      "the SMSC accepts the relay's binds but takes none as bound (ESME_RINVBNDSTS on each new one): check the account's rights and system_type with the SMSC",
  },
  // The SMSC refuses the account: the account is the problem, not the SMS.
  {
    match: /^(recipient\/SMPP:(ESME_RBINDFAIL|ESME_RINVPASWD|ESME_RINVSYSID)|request\/SMPP_BIND:.*)$/,
    action: 'pause',
    category: 'account',
    reason: "the SMSC refused the relay's bind (system_id, password, system_type or the number of binds)",
  },
  // The message itself: its length, esm_class or optional parameters, or a permanent refusal of it.
  {
    match:
      /^recipient\/SMPP:(ESME_RINVMSGLEN|ESME_RINVESMCLASS|ESME_RX_P_APPN|ESME_RX_R_APPN|ESME_RINVOPTPARSTREAM|ESME_ROPTPARNOTALLWD|ESME_RINVPARLEN|ESME_RMISSINGOPTPARAM|ESME_RINVOPTPARAMVAL)$/,
    action: 'fail',
    category: 'refused',
    reason: REASONS.refused,
  },
  { match: /^recipient\/SMPP:(ESME_RSYSERR|ESME_RSUBMITFAIL|ESME_RX_T_APPN)$/, action: 'retry', category: 'gateway-error', reason: REASONS.temporary },
  // The SMSC could not read the submit_sm, so it did not take it: no possible duplicate.
  {
    match: /^recipient\/SMPP_GENERIC_NACK:/,
    action: 'retry',
    category: 'gateway-error',
    reason: 'the SMSC could not read the request (generic_nack); it is sent again later',
  },
];
