/**
 * Puzzel's per-message `statusCode` values (Puzzel SMS Gateway REST documentation, "Status codes"),
 * reported by the adapter as `PUZZEL:<statusCode>`.
 */
import type { OutcomeRule } from '../contract.ts';
import { REASONS } from '../outcome-reasons.ts';

/** Puzzel's delivery reports name the SMS by its clientReference (customermessagereference): they find it without the gateway's id. */
const MATCHED_BY_REFERENCE = "its delivery reports are matched by the SMS's reference";
/** What the history says of an SMS Puzzel took without giving an id. */
const TAKEN_WITHOUT_ID = `the gateway gave no id; ${MATCHED_BY_REFERENCE}`;

export const PUZZEL_OUTCOME_RULES: readonly OutcomeRule[] = [
  {
    match: /^recipient\/PUZZEL:1$/,
    action: 'sent',
    category: 'sent',
    reason: REASONS.accepted,
    withoutId: TAKEN_WITHOUT_ID,
  },
  // QUOTA_EXCEEDED: "Message is queued but will not be sent before manually approved" (too many to one MSISDN).
  // Taken: a resend would only queue another copy. It awaits its DR like any sent SMS (whether Puzzel reports one never
  // approved is unverified); the history and a warn say it waits.
  {
    match: /^recipient\/PUZZEL:24$/,
    action: 'sent',
    category: 'held',
    reason: 'taken by Puzzel but held until approved there: too many messages to the same number (its quota per number)',
    withoutId: TAKEN_WITHOUT_ID,
    heldAtGateway:
      "approve it at Puzzel (its portal or support) to have it sent, or have the number's quota raised; unapproved it is never sent, and its delivery report, if Puzzel reports it, says which",
  },
  // The clientReference was seen before: our retry of an SMS it already has, which it did not send again.
  // The id it gives is not the one its reports name (the adapter keeps none).
  {
    match: /^recipient\/PUZZEL:25$/,
    action: 'sent',
    category: 'duplicate',
    reason: 'the SMS gateway already had this SMS (a retry after a lost answer)',
    recognisedResend: true,
    withoutId: `the gateway recognised a resend and gave no id; ${MATCHED_BY_REFERENCE}`,
  },
  { match: /^(request|recipient)\/PUZZEL:6$/, action: 'retry', category: 'gateway-error', reason: REASONS.temporary },
  { match: /^(request|recipient)\/PUZZEL:2$/, action: 'pause', category: 'account', reason: "the SMS gateway refused the relay's account (access error)" },
  // 3 ILLEGAL_ACTION, 4 ILLEGAL_SERVICE: the service (gateway.serviceId) may not do this; every message would fail alike.
  {
    match: /^(request|recipient)\/PUZZEL:[34]$/,
    action: 'pause',
    category: 'account',
    reason: "the SMS gateway refused the relay's service (check gateway.serviceId and what the service may do)",
  },
  // 5 Syntax error: a parameter of the message (its recipient, content or originator) is invalid.
  // Any other code falls to the generic rules and is retried: an unknown answer never bounces.
  {
    match: /^(request|recipient)\/PUZZEL:5$/,
    action: 'fail',
    category: 'refused',
    reason: 'the SMS gateway refused the message (its number, text or sender id)',
  },
];
