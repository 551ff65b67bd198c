/**
 * SMPP 3.4 to an SMSC or aggregator: `binds` transceiver binds (or as many transmitter and receiver
 * pairs), each with its window of outstanding submit_sm; one submit_sm per part of an SMS, the parts
 * carrying a UDH (8- or 16-bit reference) or the whole text going in message_payload.
 *
 * Decisions:
 * - The id the relay keeps for an SMS of one part is its submit_sm_resp message_id, which receipts
 *   name. An SMS of several parts has an id per part and a receipt per part: the relay keeps
 *   `parts:<a digest of the message and number>/<parts>`, the send result lists the parts' ids, and
 *   each receipt names its message id as a part's (it may be one): the relay keeps the parts in its
 *   store and combines their receipts there (src/replies/inbound.ts: delivered once every part is,
 *   failed or expired at the first part that is), whichever relay's bind the SMSC delivers them on,
 *   across restarts.
 * - What arrives on a bind (receipts, SMS from phones, their parts) goes to the relay's inbound sink;
 *   deliver_sm_resp is written only once the sink has committed it, ESME_RX_T_APPN while the store
 *   cannot commit (the SMSC delivers it again). A deliver_sm that cannot be read is kept in
 *   quarantine and answered with the status that names its fault.
 * - An SMS from a phone has no id in SMPP: its id is a digest of what it carries, the connection's random
 *   id and its sequence number there, unique by construction. An SMSC delivers a deliver_sm again only
 *   when it did not get ESME_ROK for it before its response timer ran out (SMPP 3.4 §2.8), so the same
 *   deliver_sm again gets the earlier one's id (stored once) only when no ESME_ROK for that one may have
 *   reached the SMSC in time: its connection was gone before the answer was written, or its ESME_ROK was
 *   written and the SMSC had not answered a request written after it when its connection closed (within
 *   REPEAT_WINDOW_MS of it); it was answered otherwise, or its ESME_ROK written SMSC_RESPONSE_TIMER_MIN_MS
 *   or more after it came (within SMSC_RESEND_WINDOW_MS of that answer); or, committing or its ESME_ROK
 *   not yet known read, the copy comes on another connection after its own was lost, or
 *   SMSC_RESPONSE_TIMER_MIN_MS after it. Anything else is a second SMS (two "Yes" back to back, on one
 *   bind or two). A part of a long SMS the rule tells from every earlier copy the relay saw, or one after
 *   a copy whose ESME_ROK the SMSC read, is a new SMS's part even with that one's text, and the store is
 *   told so (SmsPart.repeatsById); without that memory (after a restart, a copy another relay saw) the
 *   store's rule for a part with a kept part's text stays.
 */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { SEGMENT_LIMITS, SEGMENT_LIMITS_16BIT_REFERENCE, splitIntoParts } from '../../sms/encoding.ts';
import { halfCharacter } from '../../sms/half-characters.ts';
import { maskNumber, maskNumbersIn, normaliseNumber } from '../../sms/numbers.ts';
import { readSender } from '../../sms/senders.ts';
import { type InboundSink, LATE_PART_WINDOW_MS } from '../../vocabulary.ts';
import type { Gateway, GatewayOptions, ProviderCapabilities, SmsSubmission, SubmissionResult } from '../contract.ts';
import { REAL_TIMERS, type Timers } from '../../timers.ts';
import { type BindKind, type DeliveryAnswer, type DeliveryLink, type LateAnswer, type SmscAddress, SmppBind, type SubmitAnswer } from './bind.ts';
import {
  COMMAND,
  commandName,
  decodeDataSm,
  decodeShortMessage,
  ESM_CLASS,
  encodeShortMessage,
  type Pdu,
  PduError,
  type ShortMessage,
  STATUS,
  statusName,
  TAG,
  TON,
} from './pdu.ts';
import { messageIdKey, readReceipt } from './receipts.ts';
import { sourceAddress } from './sender-id.ts';
import type { SmppSettings } from './settings.ts';
import { concatenationUdh, DATA_CODING_UCS2, encodeGsm7, encodeUcs2, readText } from './text.ts';

export const PROVIDER = 'smpp';

const MAX_RECIPIENTS_PER_REQUEST = 1;
/** A UDH counts parts in one octet; 10 keeps costs sane, as for the other providers. */
const MAX_PARTS = 10;

export const SMPP_CAPABILITIES: ProviderCapabilities = {
  maxRecipientsPerRequest: MAX_RECIPIENTS_PER_REQUEST,
  maxParts: MAX_PARTS,
  // deliver_sm echoes nothing of the SMS it answers: conversations are found by number.
  replyTracking: 'none',
  scheduling: false,
};

export const CODE_PREFIX = 'SMPP:';
export const BIND_CODE_PREFIX = 'SMPP_BIND:';
/** A submit_sm the SMSC answered with generic_nack, and the nack's command_status. */
export const NACK_CODE_PREFIX = 'SMPP_GENERIC_NACK:';
/**
 * Every part of the SMS an earlier attempt's, which the SMSC took after its submit timeout: this attempt wrote
 * nothing, so the possible duplicate that timeout counted is none (outcomes.ts: recognisedResend).
 */
export const TAKEN_LATE_CODE = 'SMPP_TAKEN_LATE';
/** registered_delivery: an SMSC delivery receipt on success and failure (§5.2.17). */
const RECEIPT_REQUESTED = 0x01;
/**
 * How long a deliver_sm whose answer may never have reached the SMSC (its bind lost before the answer was
 * written, or before the SMSC was seen to read it) is remembered for its redelivery: the SMSC delivers it
 * again once a bind is back, within minutes.
 */
const REPEAT_WINDOW_MS = 10 * 60_000;
/**
 * How long after an answer that may not have counted (an ESME_ROK written SMSC_RESPONSE_TIMER_MIN_MS or
 * more after the deliver_sm came) or that asked for it again (ESME_RX_T_APPN) a copy is taken for its
 * redelivery: an SMSC waits up to about a minute for an answer and delivers again at its next attempt,
 * commonly within a minute. Each minute more would take the phone's next identical SMS for the earlier
 * one (one mail for two); a redelivery later than this is mailed again where the first commit went through.
 */
const SMSC_RESEND_WINDOW_MS = 2 * 60_000;
/**
 * No SMSC delivers a deliver_sm again sooner than this after it: it resends only once its response timer
 * ran out with no ESME_ROK, and SMSCs wait tens of seconds (SMPP 3.4 leaves the time to them), while a
 * commit, even a slow one, takes far less. So a copy sooner than this after one still unanswered (or its
 * ESME_ROK not yet known read) on the same connection is a second SMS (a burst the SMSC flushes with a
 * window above 1), and an ESME_ROK written later than this may have come after the SMSC gave up on it: a
 * copy then is a redelivery.
 */
const SMSC_RESPONSE_TIMER_MIN_MS = 5_000;
/**
 * SMS partly taken remembered at most: each waits for its retry to send only the parts the SMSC did not
 * take, until the SMS expires (delivery.maxAge). Rare (the SMSC refused one part of a long SMS and took
 * another, or took a part only after its submit timeout), so few are ever kept.
 */
const PARTLY_TAKEN_ENTRIES = 10_000;
/**
 * How many unknown stat: words a gateway warns about, once each: an SMSC writes a few; one writing a new word
 * at every receipt (a garbled field) gets info lines past this, and no set growing without end.
 */
const UNKNOWN_STATS_WARNED = 100;
/** How long one is kept when its SMS has no expiry: delivery.maxAge's default. */
const PARTLY_TAKEN_TTL_MS = 24 * 60 * 60_000;
/**
 * Parts of SMS whose latest written attempt is remembered, for a submit_sm answered after its timeout (bind.ts,
 * LATE_ANSWER_MS, which bounds how long one is kept): its answer counts only while no later copy of its part was
 * written. Some minutes of sending at the highest rates an SMSC allows.
 */
const ATTEMPTS_REMEMBERED = 100_000;
/**
 * No bind to send on for this long is no blip: an SMSC's restart or fail-over takes seconds, and the first
 * tries come 250 ms, 500 ms, 1 s… apart. The next try that fails after it is one `warn` line for the gateway,
 * whatever number of binds it keeps, so that a log kept at `warn` shows a relay that cannot send before any
 * SMS tries; the first bind made after it is another.
 */
const UNBOUND_WARN_MS = 10_000;
/**
 * Digests of deliver_sm from phones kept at most, each a few hundred bytes (some tens of MB in all): an
 * hour of 25 SMS a second, each remembered up to LATE_PART_WINDOW_MS. Past it the least recent go first: a
 * redelivery of one of them is mailed again, and a part repeated with its text falls to the store's rule.
 */
const MEMORY_ENTRIES = 100_000;
/** How much of an unreadable PDU is kept in quarantine (hex). */
const QUARANTINE_OCTETS = 4_096;

/**
 * An SMS the SMSC took some parts of and not all: its concatenation reference, the ids of the parts taken by their
 * place (0-based), and which of those it took only after their submit timeout (`late`).
 */
interface PartlyTaken {
  readonly reference: number;
  readonly taken: ReadonlyMap<number, string>;
  readonly late: ReadonlySet<number>;
}

/**
 * What became of a deliver_sm's answer, and when: `written`, an ESME_ROK written in time on its connection
 * at `place` (the SMSC has it once it answers a request written after it: okReached); `unwritten`, its
 * connection was gone (the SMSC delivers it again once a bind is back); `doubtful`, an error answer, or
 * an ESME_ROK written too late to count (the SMSC may deliver it again at its next attempt).
 */
type MoAnswer = { readonly fate: 'written'; readonly at: number; readonly place: number } | { readonly fate: 'unwritten' | 'doubtful'; readonly at: number };

/** A deliver_sm from a phone: its id, when and on which connection it came, and its answer once settled. */
interface SeenMo {
  readonly providerId: string;
  readonly arrived: number;
  readonly link: DeliveryLink;
  answer: MoAnswer | undefined;
}

/**
 * The SMSC had this deliver_sm's ESME_ROK in time: it never delivers it again, so a copy is a new SMS.
 * Known only once it answered a request written after the ESME_ROK on that connection: one written into a
 * connection whose path is dead (a fail-over, a NAT's timeout, no RST) is lost however long the
 * connection seems up, and the relay learns that only at an enquire_link left unanswered.
 */
function okReached(seen: SeenMo): boolean {
  return seen.answer?.fate === 'written' && seen.link.readPast(seen.answer.place);
}

/**
 * Whether `seen` still tells anything at `now`: a copy may be its redelivery (REPEAT_WINDOW_MS,
 * SMSC_RESEND_WINDOW_MS), or its ESME_ROK reached the SMSC within LATE_PART_WINDOW_MS, for which the
 * store would take a new part with its text for its repeat.
 */
function remembered(seen: SeenMo, now: number): boolean {
  const { answer } = seen;
  if (answer === undefined) return true;
  if (okReached(seen)) return now - answer.at < LATE_PART_WINDOW_MS;
  return answer.fate === 'doubtful' ? now - answer.at < SMSC_RESEND_WINDOW_MS : now - seen.arrived < REPEAT_WINDOW_MS;
}

/** Whether a copy of `seen` (remembered) arriving at `arrived` on `link` may be the SMSC delivering it again. */
function mayBeRedelivery(seen: SeenMo, link: DeliveryLink, arrived: number): boolean {
  if (seen.answer !== undefined && seen.answer.fate !== 'written') return true;
  if (okReached(seen)) return false;
  // Still being committed, or its ESME_ROK not yet known read: the SMSC resends it only after its response
  // timer, or on another bind once it lost this one.
  return (seen.link !== link && !seen.link.isUp()) || arrived - seen.arrived >= SMSC_RESPONSE_TIMER_MIN_MS;
}

/** Of the copies whose ESME_ROK the SMSC read, the one read last: it tells all the others do, and for longest (remembered()). */
function latestReached(copies: readonly SeenMo[]): SeenMo | undefined {
  return copies
    .filter(okReached)
    .reduce<SeenMo | undefined>((latest, seen) => ((latest?.answer?.at ?? -1) >= (seen.answer?.at ?? 0) ? latest : seen), undefined);
}

/** The id the relay keeps for an SMS of several parts (each part has the SMSC's own): unique to the message and number. */
function partsKey(messageId: string, number: string, parts: number): string {
  return `parts:${createHash('sha256').update(`${messageId}\n${number}`, 'utf8').digest('hex').slice(0, 24)}/${parts}`;
}

/** New binds the SMSC never takes as bound (bind.ts, bindsLostForAccount): refused as a bind is, so the outcome rules pause the account. */
const LOST_BINDS_CODE = `${BIND_CODE_PREFIX}${statusName(STATUS.ESME_RINVBNDSTS)}`;

function lostBindsDetail(binds: number): string {
  return `the SMSC answered ESME_RINVBNDSTS on ${binds} new binds in a row`;
}

export function createSmppGateway(options: GatewayOptions<SmppSettings>, timers?: Timers): Gateway {
  const { settings } = options;
  const logger = options.logger.child({ provider: PROVIDER });
  const address = smscAddress(settings, options.endpoints);
  const limits = settings.longText === 'udh16' ? SEGMENT_LIMITS_16BIT_REFERENCE : SEGMENT_LIMITS;
  // data_coding 0 is GSM-7 unless the SMSC's default alphabet is Latin-1; what the relay sends GSM-7 as (1) always is.
  const gsm7Codes = [0, settings.dataCoding].filter((code) => code !== 0 || settings.defaultAlphabet === 'gsm7');
  // Per relay (docs/replies.md, "Several relays on one database"): a deliver_sm redelivered on another
  // relay's bind after this relay died between commit and deliver_sm_resp is a second SMS (it was in flight).
  // By digest, those the SMSC may still deliver again, and the latest whose ESME_ROK reached it (remembered()).
  const recentMo = new LRUCache<string, SeenMo[]>({ max: MEMORY_ENTRIES, ttl: LATE_PART_WINDOW_MS });
  const clock = timers ?? REAL_TIMERS;
  let lastReference = Math.floor(Math.random() * 0x10000);
  /** A message_id without its terminating NUL was warned about (later ones are info lines). */
  let unterminatedIdWarned = false;
  /** The unknown stat: words warned about (later receipts with one are info lines), at most UNKNOWN_STATS_WARNED. */
  const unknownStatsWarned = new Set<string>();
  const partlyTaken = new LRUCache<string, PartlyTaken>({ max: PARTLY_TAKEN_ENTRIES, ttl: PARTLY_TAKEN_TTL_MS });
  /** Each part's latest attempt that wrote it (an object of its own per send), by `<message id>\n<number>\n<part>`. */
  const latestAttempt = new LRUCache<string, object>({ max: ATTEMPTS_REMEMBERED });
  /**
   * The concatenation reference of each SMS's latest attempt once it started, by `<message id>\n<number>`: a retry
   * that began under a new reference (no part taken yet) writes every part under it, so an earlier attempt's part
   * taken late cannot be joined with them and is not kept as one of its parts.
   */
  const startedReference = new LRUCache<string, number>({ max: ATTEMPTS_REMEMBERED });
  let sink: InboundSink | undefined;
  let healthChanged: (() => void) | undefined;
  let next = 0;
  /** Since when no sending bind is up (the start, or the last one lost), and whether that outage got its warning (UNBOUND_WARN_MS). */
  let unboundSince = 0;
  let unboundWarned = false;
  /** Whether a PDU was refused as the relay stops: the first is an `info` line, the rest (an SMSC redelivering at once) `debug`. */
  let refusedWhileStopping = false;

  const kinds: BindKind[] = settings.bindMode === 'transceiver' ? ['transceiver'] : ['transmitter', 'receiver'];
  const binds = kinds.flatMap((kind) =>
    Array.from(
      { length: settings.binds },
      (_, index) =>
        new SmppBind({
          address,
          kind,
          account: { systemId: options.username, password: options.password, systemType: settings.systemType },
          windowSize: settings.windowSize,
          submitTimeoutMs: settings.submitTimeout,
          enquireLinkMs: settings.enquireLinkInterval,
          connectTimeoutMs: options.connectTimeoutMs,
          logger: logger.child({ bind: `${kind}-${index + 1}` }),
          onDeliver: (pdu, link) => deliver(pdu, link),
          onAttempted: () => healthChanged?.(),
          ...(kind === 'receiver' ? {} : { onDown: sendingDown, onBound: sendingBound }),
          ...(timers ? { timers } : {}),
        }),
    ),
  );
  const senders = binds.filter((bind) => bind.kind !== 'receiver');

  /** A sending bind's connection ended: while another sends, nothing; the last one lost starts an outage, warned once it lasts. */
  function sendingDown({ wasBound, reason, retryInMs }: { readonly wasBound: boolean; readonly reason: string | undefined; readonly retryInMs: number }): void {
    if (senders.some((bind) => bind.bound)) return;
    const now = clock.now();
    if (wasBound) unboundSince = now;
    if (unboundWarned || now - unboundSince < UNBOUND_WARN_MS) return;
    unboundWarned = true;
    logger.warn({ reason, retryInMs, unboundMs: now - unboundSince, binds: senders.length }, 'smpp: still no bind; trying again');
  }

  /** A sending bind made: the end of a warned outage, logged once whichever bind ends it; whether it was one. */
  function sendingBound(): boolean {
    if (!unboundWarned) return false;
    unboundWarned = false;
    logger.warn({ unboundMs: clock.now() - unboundSince }, 'smpp: bound again after a lasting failure to bind');
    return true;
  }

  /**
   * A deliver_sm or data_sm: a receipt, an SMS (or one part of one), or an SME's acknowledgement,
   * committed before it is answered.
   */
  async function deliver(pdu: Pdu, link: DeliveryLink): Promise<number | DeliveryAnswer> {
    if (!sink) return STATUS.ESME_RX_T_APPN;
    // Looked at as it arrives (a commit begun before the stop goes on, and is answered): the stopping relay's mailer sends
    // nothing more, so the SMSC delivers it again to a running relay's bind, as a webhook's 503 has the provider do.
    if (sink.stopping()) {
      const command = commandName(pdu.commandId);
      logger[refusedWhileStopping ? 'debug' : 'info'](
        { command, sequence: pdu.sequence },
        `smpp: ${command} while the relay is stopping: answered ESME_RX_T_APPN, not committed (the SMSC delivers it again)`,
      );
      refusedWhileStopping = true;
      return STATUS.ESME_RX_T_APPN;
    }
    let sm: ShortMessage;
    let text: ReturnType<typeof readText>;
    try {
      sm = pdu.commandId === COMMAND.data_sm ? decodeDataSm(pdu.body) : decodeShortMessage(pdu.body);
      text = readText(sm, gsm7Codes);
    } catch (error) {
      if (!(error instanceof PduError)) throw error;
      return refuse('mo', error.status, error.message, pdu);
    }
    if (text.notSeptets) {
      logger.warn(
        { dataCoding: `0x${sm.dataCoding.toString(16).padStart(2, '0')}`, from: maskNumber(sm.source) },
        'smpp: a deliver_sm in a GSM-7 data_coding carries octets above 0x7F, which no GSM-7 septet is: read as Latin-1 (if the SMSC writes data_coding 0 in Latin-1, set gateway.defaultAlphabet: latin1)',
      );
    }
    const type = sm.esmClass & ESM_CLASS.TYPE_MASK;
    const receipt = type === ESM_CLASS.DELIVERY_RECEIPT || type === ESM_CLASS.INTERMEDIATE_NOTIFICATION;
    // SME delivery or manual/user acknowledgements (and the other types): no text from a phone, nothing to mail.
    if (!receipt && type !== 0) {
      logger.info(
        { messageType: `0x${type.toString(16).padStart(2, '0')}`, from: maskNumber(sm.source) },
        'smpp: a deliver_sm that is no SMS and no receipt (an SME acknowledgement or another message type): acknowledged, not mailed',
      );
      return STATUS.ESME_ROK;
    }
    try {
      if (receipt) return await deliverReceipt(sm, text.text, pdu, type === ESM_CLASS.INTERMEDIATE_NOTIFICATION);
      return await deliverSms(sm, text, pdu, link);
    } catch (error) {
      // The store cannot commit: the SMSC keeps it and delivers it again.
      logger.warn({ err: error, receipt }, 'smpp: deliver_sm not committed; answered ESME_RX_T_APPN so that the SMSC delivers it again');
      return STATUS.ESME_RX_T_APPN;
    }
  }

  /** `intermediate`: an intermediate delivery notification, never final whatever its text says. */
  async function deliverReceipt(sm: ShortMessage, text: string, pdu: Pdu, intermediate: boolean): Promise<number> {
    const found = readReceipt(sm, text, settings.receiptIdFormat);
    if (typeof found === 'string') return refuse('dr', STATUS.ESME_ROK, found, pdu);
    const number = await receiptNumber(sm, found.messageId, found.written);
    if (typeof number !== 'string') return refuse('dr', STATUS.ESME_ROK, number.problem, pdu);
    const state = intermediate ? 'sent' : found.state;
    // The id may be a part's of a long SMS, which the relay's store resolves (on any relay's bind).
    const { messageId, code, said, unknownStat, written } = found;
    if (unknownStat !== undefined) {
      // An SMSC writes its few words at every receipt: a warning once per word, for the operator to learn what it means.
      const line = { stat: unknownStat, id: messageId, to: maskNumber(number) };
      const kept = state === 'sent' ? "kept in the SMS's history, the SMS awaits a final receipt" : `its final message_state made the SMS ${state}`;
      const words = `smpp: a delivery receipt's stat:${unknownStat} is no state the relay knows: ${kept} (ask the SMSC what it means)`;
      if (unknownStatsWarned.has(unknownStat) || unknownStatsWarned.size >= UNKNOWN_STATS_WARNED) logger.info(line, words);
      else {
        unknownStatsWarned.add(unknownStat);
        logger.warn(line, words);
      }
    }
    // An SMS sent before ids were keyed was recorded under the id as written: found by it when its key finds none.
    const former = written === undefined ? {} : { formerId: written };
    await sink?.reported([{ providerId: messageId, number, code, ...(said === undefined ? {} : { said }), state, part: { id: messageId }, ...former }]);
    return STATUS.ESME_ROK;
  }

  /**
   * The number a receipt is about. The id names the SMS; SMSCs write the addresses as they like (empty,
   * not swapped, national, `00…`), so they only choose among several SMS sent under one id. An id the
   * relay has not recorded yet (a receipt before its submit_sm_resp is committed) is kept under the
   * number its source_addr gives, as an orphan matched when the send is recorded.
   */
  async function receiptNumber(sm: ShortMessage, messageId: string, formerId: string | undefined): Promise<string | { readonly problem: string }> {
    const keyed = (await sink?.numbersSentUnder(messageId)) ?? [];
    const known = keyed.length > 0 || formerId === undefined ? keyed : ((await sink?.numbersSentUnder(formerId)) ?? []);
    const written = [smppNumber(sm.source, sm.sourceTon), smppNumber(sm.destination, sm.destinationTon)];
    if (known.length === 1) return known[0] as string;
    const named = known.find((number) => written.includes(number));
    if (named !== undefined) return named;
    if (known.length > 1) return { problem: `a delivery receipt for id "${messageId}", which SMS to several numbers were sent under, naming none of them` };
    return written[0]?.startsWith('+')
      ? written[0]
      : { problem: `a delivery receipt for id "${messageId}", which no SMS was (yet) sent under, without a number in source_addr` };
  }

  async function deliverSms(
    sm: ShortMessage,
    { text, part, ucs2 }: ReturnType<typeof readText>,
    pdu: Pdu,
    link: DeliveryLink,
  ): Promise<number | DeliveryAnswer> {
    const arrived = clock.now();
    const number = smppNumber(sm.source, sm.sourceTon);
    if (number === undefined) return refuse('mo', STATUS.ESME_RINVSRCADR, `source_addr "${sm.source.slice(0, 21)}" is no sender`, pdu);
    // A single SMS cut mid-character (an SMSC cutting a long one without a UDH): permanent, as a coding the relay cannot read.
    const half = halfCharacter({ text, part, ucs2 });
    if (half !== undefined) return refuse('mo', STATUS.ESME_RX_P_APPN, half, pdu);
    // The account's number or short code the phone texted, where the SMSC names it: its mail names it.
    const to = smppNumber(sm.destination, sm.destinationTon);
    if (part && (part.total < 1 || part.index < 1 || part.index > part.total)) {
      const status = sm.tlvs.has(TAG.sar_segment_seqnum) ? STATUS.ESME_RINVOPTPARAMVAL : STATUS.ESME_RINVESMCLASS;
      return refuse('mo', status, `part ${part.index} of ${part.total} cannot be`, pdu);
    }
    const digest = createHash('sha256').update(pdu.body).digest('hex').slice(0, 24);
    const earlier = (recentMo.get(digest) ?? []).filter((seen) => remembered(seen, arrived));
    const candidates = earlier.filter((seen) => mayBeRedelivery(seen, link, arrived));
    // One whose answer never went out first: the SMSC delivers that one again for certain.
    const redelivered = candidates.find((seen) => seen.answer === undefined || seen.answer.fate === 'unwritten') ?? candidates[0];
    // A copy after one the SMSC had the OK for, or that the rule tells from every earlier copy the relay saw, is
    // known to be no repeat: only then is a part told apart by its id alone; with no such memory (a restart, a
    // copy another relay saw) the store's text rule stays.
    const knownNew = earlier.some(okReached) || (earlier.length > 0 && candidates.length === 0);
    const mo: SeenMo = { providerId: redelivered?.providerId ?? `${digest}.${link.id}.${pdu.sequence}`, arrived, link, answer: undefined };
    // A redelivery stands for the copy it repeats: its answer is what the SMSC waits for now. Of the copies whose
    // OK the SMSC read, the latest tells what the others do (an OK known read stays so; one not yet known may be lost).
    const reached = latestReached(earlier);
    recentMo.set(digest, [...earlier.filter((seen) => seen !== redelivered && (seen === reached || !okReached(seen))), mo]);
    try {
      await sink?.received([
        {
          providerId: mo.providerId,
          number,
          text,
          sentAt: undefined,
          userContext: undefined,
          trackingId: undefined,
          ...(to === undefined ? {} : { to }),
          ...(part && part.total > 1 ? { part: knownNew ? { ...part, repeatsById: true as const } : part } : {}),
        },
      ]);
    } catch (error) {
      // Answered ESME_RX_T_APPN by deliver() on `link` while it is up: the SMSC delivers it again either way.
      mo.answer = { fate: link.isUp() ? 'doubtful' : 'unwritten', at: clock.now() };
      throw error;
    }
    return {
      status: STATUS.ESME_ROK,
      // bind.ts writes the OK on `link` while it is up, and says where among the PDUs written there.
      written: (place) => {
        const at = clock.now();
        if (place === undefined) mo.answer = { fate: 'unwritten', at };
        else mo.answer = at - arrived < SMSC_RESPONSE_TIMER_MIN_MS ? { fate: 'written', at, place } : { fate: 'doubtful', at };
      },
    };
  }

  /**
   * An address as the relay keeps numbers: TON 1 is international digits (an `00` prefix some SMSCs leave
   * in is read as every provider's is: src/sms/senders.ts); TON 2, or a leading trunk 0, a national number
   * read in sms.defaultRegion; anything else as the gateway gives it, short codes and names included.
   */
  function smppNumber(address: string, ton: number): string | undefined {
    const digits = address.replace(/^\+/, '');
    if (ton === TON.INTERNATIONAL) return readSender(`+${digits}`);
    if (options.defaultRegion !== undefined && (ton === TON.NATIONAL || /^0[1-9]/.test(digits))) {
      // TON 2 says the digits are national even without a trunk 0: never guessed abroad (`2038655870` is London, not +20).
      const national = normaliseNumber(digits, options.defaultRegion, 'national');
      if (national.ok) return national.e164;
    }
    return readSender(address);
  }

  /** Kept for the operator and answered with the status naming the fault; one log line. */
  async function refuse(kind: 'mo' | 'dr', status: number, written: string, pdu: Pdu): Promise<number> {
    // A reason may quote what the SMSC sent (a source_addr that is no sender: `447700900197#`, `44 7700 900193`): masked as
    // any logged number is, and as the console shows it to a viewer; the operator reads the PDU whole in its quarantined body.
    const reason = maskNumbersIn(written);
    logger.warn({ kind, status: statusName(status), reason }, 'smpp: deliver_sm not understood: quarantined');
    try {
      // In hex, to read: a PDU is binary.
      await sink?.quarantine(kind, `smpp: ${reason}`, Buffer.from(pdu.body.subarray(0, QUARANTINE_OCTETS).toString('hex')));
    } catch {
      return STATUS.ESME_RX_T_APPN;
    }
    return status;
  }

  /** The bound bind with the least outstanding; round robin among equals. */
  function pickBind(): SmppBind | undefined {
    const bound = senders.filter((bind) => bind.bound);
    if (bound.length === 0) return undefined;
    const least = Math.min(...bound.map((bind) => bind.load));
    const candidates = bound.filter((bind) => bind.load === least);
    next = (next + 1) % candidates.length;
    return candidates[next];
  }

  return {
    provider: PROVIDER,
    capabilities: { maxRecipientsPerRequest: MAX_RECIPIENTS_PER_REQUEST, maxParts: MAX_PARTS },
    endpoints: [`${address.tls ? 'smpps' : 'smpp'}://${address.host}:${address.port}`],
    async start(context) {
      sink = context.inbound;
      healthChanged = context.healthChanged;
      unboundSince = clock.now();
      await Promise.all(binds.map((bind) => bind.start()));
    },
    health() {
      const connections = kinds.map((kind) => {
        const ofKind = binds.filter((bind) => bind.kind === kind);
        return { kind, up: ofKind.filter((bind) => bind.bound).length, kept: ofKind.length };
      });
      // Receiver binds down do not stop sending (/readyz stays ready): `connections` shows them.
      const bound = senders.filter((bind) => bind.bound);
      // A bind the SMSC will not take as bound (ESME_RINVBNDSTS on new binds in a row) cannot send: while every
      // bound one is so, it is the account's refusal, so that a bind made again does not end the pause early
      // (the dispatcher probes a gateway back at once) and the pause probes at its own interval.
      if (bound.some((bind) => bind.bindsLostForAccount === undefined)) return { ok: true, connections };
      if (bound.length > 0)
        return {
          ok: false,
          connections,
          detail: lostBindsDetail(Math.min(...bound.map((bind) => bind.bindsLostForAccount ?? 0))),
          refusal: LOST_BINDS_CODE,
        };
      const refusal = bindRefusal();
      if (refusal) return { ok: false, connections, detail: `bind refused: ${refusal}`, refusal: `${BIND_CODE_PREFIX}${refusal}` };
      return { ok: false, connections, detail: `not bound: ${senders[0]?.lastError ?? 'connecting'}` };
    },
    async send(submission) {
      const [number] = submission.recipients as [string];
      const bind = pickBind();
      if (!bind) return notBound();
      const sent = `${submission.messageId}\n${number}`;
      const earlier = partlyTaken.get(sent);
      const { bodies, reference } = submitBodies(submission, number, earlier);
      startedReference.set(sent, reference);
      const attempt = {};
      const ttl = submission.expiresAt === undefined ? PARTLY_TAKEN_TTL_MS : Math.max(1, submission.expiresAt - clock.now());
      const partKey = (index: number) => `${sent}\n${index}`;
      /** Parts not written by this attempt, each taken before: `late`, those the SMSC took after an earlier copy's timeout. */
      const kept = new Set<number>();
      const keptLate = new Set<number>();
      const keep = (index: number, messageId: string, late: boolean): SubmitAnswer => {
        kept.add(index);
        if (late) keptLate.add(index);
        return { kind: 'answered', status: STATUS.ESME_ROK, messageId };
      };
      // A part's answer after its timeout, while no later copy of the part was written, is the SMSC's word on it: a
      // part it took then is taken, as one taken in time, and the retry does not write it again.
      const late = (index: number) => (answer: LateAnswer) => {
        const line = { msgId: submission.messageId, to: maskNumber(number), part: index + 1, status: statusName(answer.status) };
        const superseded = startedReference.get(sent) !== reference;
        if (superseded && answer.kind === 'answered' && answer.status === STATUS.ESME_ROK) {
          logger.info(
            { ...line, id: answer.messageId },
            'smpp: the SMSC took a submit_sm after its timeout, once its SMS was being sent again under another concatenation reference: the phone cannot join that part with the others, which are all written again (the possible duplicate counted)',
          );
          return;
        }
        if (superseded || latestAttempt.get(partKey(index)) !== attempt) {
          if (answer.kind === 'answered' && answer.status === STATUS.ESME_ROK)
            logger.info(
              { ...line, id: answer.messageId },
              'smpp: the SMSC took a submit_sm after its timeout, once its SMS had been written again: both may reach the phone (the possible duplicate counted)',
            );
          else
            logger.info(
              line,
              'smpp: the SMSC refused a submit_sm after its timeout, once its SMS had been written again: that copy was not taken, only the one written again may reach the phone',
            );
          return;
        }
        if (answer.kind !== 'answered' || answer.status !== STATUS.ESME_ROK || answer.messageId === '') return;
        const known = partlyTaken.get(sent);
        const taken = new Map(known?.taken).set(index, answer.messageId);
        partlyTaken.set(sent, { reference, taken, late: new Set(known?.late).add(index) }, { ttl });
        logger.info(
          { ...line, id: answer.messageId },
          'smpp: the SMSC took a submit_sm after its timeout: its SMS is recorded as sent under that id at its retry, which does not write it again',
        );
      };
      // Right before a part is written (after any wait for a window slot or a pause): a late ESME_ROK for an earlier
      // copy that came meanwhile is its answer, and nothing is written; else this attempt is the part's latest.
      /** Each part's latest attempt before this one wrote it (undefined: none known), given back by notTaken. */
      const before = new Map<number, object | undefined>();
      const writing = (index: number) => (): SubmitAnswer | undefined => {
        const known = partlyTaken.get(sent);
        const messageId = known?.late.has(index) ? known.taken.get(index) : undefined;
        if (messageId !== undefined) return keep(index, messageId, true);
        const previous = latestAttempt.get(partKey(index));
        if (previous !== attempt) before.set(index, previous);
        latestAttempt.set(partKey(index), attempt);
        return undefined;
      };
      // This attempt's copy was refused (throttled, a full queue, any error): it cannot reach the phone, so the part's
      // earlier copy is its latest again, and that copy's late ESME_ROK, while this attempt waits or after it, is used.
      const notTaken = (index: number) => () => {
        if (latestAttempt.get(partKey(index)) !== attempt) return;
        const previous = before.get(index);
        if (previous === undefined) latestAttempt.delete(partKey(index));
        else latestAttempt.set(partKey(index), previous);
      };
      // The parts the SMSC took before are not written again: the phone joins them with these by the reference.
      const answers = await Promise.all(
        bodies.map((body, index) => {
          const messageId = earlier?.taken.get(index);
          if (messageId !== undefined) return Promise.resolve(keep(index, messageId, earlier?.late.has(index) === true));
          return bind.submit(body, { late: late(index), writing: writing(index), notTaken: notTaken(index) });
        }),
      );
      const nothingWritten = kept.size === bodies.length;
      if (nothingWritten)
        logger.info(
          { msgId: submission.messageId, parts: bodies.length, takenLate: keptLate.size },
          'smpp: the SMSC had taken every part of this SMS, some after their timeout: recorded as sent, nothing written again',
        );
      else if (kept.size > 0)
        logger.info(
          { msgId: submission.messageId, parts: bodies.length, taken: kept.size },
          'smpp: sent again only the parts of the SMS the SMSC had not taken, under the same reference',
        );
      const taken = new Map(
        answers.flatMap((answer, index) => (answer.kind === 'answered' && answer.status === STATUS.ESME_ROK ? [[index, answer.messageId] as const] : [])),
      );
      // A late answer may have come meanwhile (for a part whose submit_sm timed out): it is kept with these.
      const stored = partlyTaken.get(sent);
      const takenNow = new Map([...(stored?.taken ?? []), ...taken]);
      // Kept while a retry is to come: not every part was taken in time by this attempt.
      if (takenNow.size > 0 && taken.size < bodies.length) partlyTaken.set(sent, { reference, taken: takenNow, late: new Set(stored?.late) }, { ttl });
      else partlyTaken.delete(sent);
      const key = bodies.length > 1 ? partsKey(submission.messageId, number, bodies.length) : undefined;
      const result = toResult(answers, number, key, keptLate.size > 0 ? { parts: [...keptLate], nothingWritten } : undefined);
      // message_id is mandatory in a submit_sm_resp that takes the SMS (§4.4.2): without it no receipt can name it.
      const idless = answers.filter((answer) => answer.kind === 'answered' && answer.status === STATUS.ESME_ROK && answer.messageId === '').length;
      const idProblem = answers.find((answer) => answer.kind === 'answered' && answer.idProblem !== undefined);
      if (idProblem?.kind === 'answered' && idProblem.idKept) {
        // An SMSC that leaves the NUL out does so at every SMS: one warning, then info lines.
        const line = { msgId: submission.messageId, to: maskNumber(number), parts: answers.length, problem: idProblem.idProblem };
        const words =
          "smpp: the SMSC's message_id has no terminating NUL (SMPP 3.4 §4.4.2 wants one): taken to the end of the submit_sm_resp or to the TLVs after it, as such SMSCs mean it";
        if (unterminatedIdWarned) logger.info(line, words);
        else logger.warn(line, words);
        unterminatedIdWarned = true;
      } else if (idProblem?.kind === 'answered') {
        logger.warn(
          { msgId: submission.messageId, to: maskNumber(number), parts: answers.length, idless, problem: idProblem.idProblem },
          "smpp: the SMSC took the SMS with a message_id too long for SMPP 3.4, which the relay does not keep: its delivery receipts cannot be matched (the SMSC's id format is at fault)",
        );
      } else if (idless > 0) {
        logger.warn(
          { msgId: submission.messageId, to: maskNumber(number), parts: answers.length, idless },
          'smpp: the SMSC took the SMS without a message_id: its delivery receipts cannot be matched (is the account set up for receipts?)',
        );
      }
      const partIds = key && result.kind === 'answered' && result.results[0]?.providerId !== undefined ? result.results[0].parts : undefined;
      if (partIds && new Set(partIds).size < partIds.length) {
        // The store keeps one state per id: a receipt for a shared id counts for each part under it.
        logger.info(
          { msgId: submission.messageId, parts: partIds },
          'smpp: SMS taken in parts, some under the same id: a receipt for that id counts for each part that has it',
        );
      } else if (partIds) logger.info({ msgId: submission.messageId, parts: partIds }, 'smpp: SMS taken in parts, each with its own id and receipt');
      return result;
    },
    async close() {
      await Promise.all(binds.map((bind) => bind.close()));
    },
  };

  /** The status the SMSC refused a sending bind with, while one is refused. */
  function bindRefusal(): string | undefined {
    const refused = senders.find((bind) => bind.refusal !== undefined);
    return refused && statusName(refused.refusal ?? 0);
  }

  function notBound(): SubmissionResult {
    const refusal = bindRefusal();
    if (refusal) return { kind: 'refused', code: `${BIND_CODE_PREFIX}${refusal}`, detail: 'the SMSC refused the bind' };
    // Node's code for a certificate the relay does not trust: the generic rules make it an error for the operator, as for any gateway.
    const untrusted = senders.find((bind) => bind.certificateError !== undefined);
    // Else why a bind attempt ended (bind.ts, BIND_FAILURE): the outcome rules word each for the history and the pause.
    const failed = untrusted ?? senders.find((bind) => bind.failureCode !== undefined);
    return {
      kind: 'transport',
      phase: 'connect',
      code: untrusted?.certificateError ?? failed?.failureCode ?? 'SMPP_NOT_BOUND',
      detail: (failed ?? senders[0])?.lastError ?? 'no bind to the SMSC',
    };
  }

  function nextReference(): number {
    lastReference = (lastReference + 1) % (settings.longText === 'udh16' ? 0x10000 : 0x100);
    return lastReference;
  }

  /** One submit_sm body per part (or one with message_payload); `earlier`: the parts of it the SMSC took, whose reference the parts keep. */
  function submitBodies(submission: SmsSubmission, number: string, earlier: PartlyTaken | undefined): { bodies: Buffer[]; reference: number } {
    const encode = submission.encoding === 'ucs2' ? encodeUcs2 : encodeGsm7;
    const dataCoding = submission.encoding === 'ucs2' ? DATA_CODING_UCS2 : settings.dataCoding;
    const sender = submission.senderId ?? settings.from;
    const source = sender === undefined ? { ton: 0, npi: 0, address: '' } : sourceAddress(sender);
    const base = {
      serviceType: '',
      sourceTon: source.ton,
      sourceNpi: source.npi,
      source: source.address,
      destinationTon: 1,
      destinationNpi: 1,
      destination: number.replace(/^\+/, ''),
      protocolId: 0,
      priority: 0,
      scheduleDeliveryTime: '',
      validityPeriod: submission.expiresAt === undefined ? '' : relativeValidity(submission.expiresAt - clock.now()),
      registeredDelivery: submission.deliveryReport === false ? 0 : RECEIPT_REQUESTED,
      dataCoding,
    };
    const parts = splitIntoParts(submission, limits);
    if (parts.length <= 1 || settings.longText === 'payload') {
      const octets = encode(submission.text);
      const payload = octets.length > 254 || parts.length > 1;
      return {
        bodies: [
          encodeShortMessage({
            ...base,
            esmClass: 0,
            shortMessage: payload ? Buffer.alloc(0) : octets,
            tlvs: new Map(payload ? [[TAG.message_payload, octets]] : []),
          }),
        ],
        reference: 0,
      };
    }
    const reference = earlier?.reference ?? nextReference();
    const method = settings.longText === 'udh16' ? 'udh16' : 'udh8';
    const bodies = parts.map((text, index) =>
      encodeShortMessage({
        ...base,
        esmClass: ESM_CLASS.UDHI,
        shortMessage: Buffer.concat([concatenationUdh(method, reference, parts.length, index + 1), encode(text)]),
        tlvs: new Map(),
      }),
    );
    return { bodies, reference };
  }

  /**
   * Every part taken: sent; else the first part's trouble speaks for the SMS (with how many parts were taken).
   * `takenLate`: the parts of it an earlier attempt wrote and the SMSC took after their timeout, this attempt writing none of them.
   */
  function toResult(
    answers: readonly SubmitAnswer[],
    number: string,
    partsKey: string | undefined,
    takenLate?: { readonly parts: readonly number[]; readonly nothingWritten: boolean },
  ): SubmissionResult {
    const refused = answers.find((answer) => answer.kind === 'nacked' || (answer.kind === 'answered' && answer.status !== STATUS.ESME_ROK));
    // A part written and never answered (timed out, or its bind dropped) may reach the phone: beside a refusal it counts
    // as a part the gateway may have taken, so the refusal decides (a bounce for good, naming the parts the phone may
    // show; a retry otherwise) and a retry, which writes that part again, is a possible duplicate.
    const inFlight = answers.filter((answer) => answer.kind === 'timeout' || answer.kind === 'dropped').length;
    if (refused?.kind === 'answered' || refused?.kind === 'nacked') {
      const taken = answers.filter((answer) => answer.kind === 'answered' && answer.status === STATUS.ESME_ROK).length + inFlight;
      // New binds the SMSC never takes as bound: the account's trouble, as a refused bind is (nothing was taken).
      if (refused.kind === 'answered' && refused.bindsLost !== undefined && taken === 0)
        return { kind: 'refused', code: LOST_BINDS_CODE, detail: lostBindsDetail(refused.bindsLost) };
      const prefix = refused.kind === 'nacked' ? NACK_CODE_PREFIX : CODE_PREFIX;
      // The parts taken are kept (partlyTaken) for a retry that sends only the others. Promised only where this
      // relay makes the retry (another relay of a shared queue knows none of them and sends the whole text) and no part
      // is in flight (the retry writes that one again).
      const kept = options.sharedQueue || inFlight > 0 ? {} : { partsKept: true as const };
      const parts = taken > 0 ? { partsTaken: taken, partsTotal: answers.length, ...kept } : {};
      return { kind: 'answered', results: [{ number, code: `${prefix}${statusName(refused.status)}`, ...parts }] };
    }
    // Only when no part was written: one in flight, or taken, may reach the phone.
    if (answers.every((answer) => answer.kind === 'unbound')) return notBound();
    const lost = answers.find((answer) => answer.kind === 'timeout' || answer.kind === 'dropped') ?? answers.find((answer) => answer.kind !== 'answered');
    if (lost) {
      const code = lost.kind === 'timeout' ? 'SMPP_SUBMIT_TIMEOUT' : 'SMPP_BIND_DROPPED';
      return {
        kind: 'transport',
        phase: 'response',
        code,
        detail: `${answers.filter((answer) => answer.kind === 'answered').length} of ${answers.length} parts answered`,
      };
    }
    // Each id as its receipts will name it.
    const ids = answers.map((answer) => (answer.kind === 'answered' ? messageIdKey(answer.messageId, 'submitted', settings.receiptIdFormat) : ''));
    const providerId = partsKey ?? ids[0];
    const code = takenLate?.nothingWritten ? TAKEN_LATE_CODE : `${CODE_PREFIX}ESME_ROK`;
    const note = takenLate && takenLateNote(takenLate.parts, answers.length, takenLate.nothingWritten);
    return {
      kind: 'answered',
      results: [{ number, code, ...(providerId ? { providerId } : {}), ...(partsKey ? { parts: ids } : {}), ...(note ? { note } : {}) }],
    };
  }
}

/** The history's words for an SMS some parts of which (`parts`, 0-based, of `total`) the SMSC took after an earlier attempt's timeout. */
function takenLateNote(parts: readonly number[], total: number, nothingWritten: boolean): string {
  const again = nothingWritten ? 'nothing was written again' : 'not written again';
  if (total === 1) return `the SMSC took the earlier attempt after its submit timeout: ${again}`;
  const named = [...parts].sort((a, b) => a - b).map((index) => index + 1);
  const [noun, their] = named.length === 1 ? ['part', 'its'] : ['parts', 'their'];
  return `the SMSC took ${noun} ${named.join(', ')} of ${total} after ${their} submit timeout at an earlier attempt: ${again}`;
}

/** host/port/tls from the settings, or the simulator's `smpp://host:port` when it stands in. */
function smscAddress(settings: SmppSettings, endpoints: readonly string[]): SmscAddress {
  if (settings.host !== undefined) return { host: settings.host, port: settings.port, tls: settings.tls };
  const url = new URL(endpoints[0] ?? 'smpp://127.0.0.1:2775');
  return { host: url.hostname, port: Number(url.port) || settings.port, tls: url.protocol === 'smpps:' };
}

/** validity_period in the relative form `YYMMDDhhmmss000R` (§7.1.1), at least a minute. */
function relativeValidity(ms: number): string {
  let seconds = Math.max(60, Math.floor(ms / 1000));
  const units = [365 * 86_400, 30 * 86_400, 86_400, 3_600, 60, 1].map((size) => {
    const count = Math.floor(seconds / size);
    seconds -= count * size;
    return String(Math.min(99, count)).padStart(2, '0');
  });
  return `${units.join('')}000R`;
}
