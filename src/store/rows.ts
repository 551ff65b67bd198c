import { isUtf8 } from 'node:buffer';
import { RelayError, type StoreFailureCode } from '../errors.ts';
import type { DeliveryState } from '../vocabulary.ts';
import { RELAY_STALE_MS } from './cluster-types.ts';
import type {
  BouncedReply,
  ClaimedMail,
  ClaimedSms,
  FoldedRecipient,
  LatestSms,
  MailOutcome,
  NewOutgoingMail,
  QuarantinedBody,
  QuarantineEntry,
  QueuedMailError,
  QueuedSms,
  QueueTarget,
  LeasedSms,
  RefusedRecipient,
  ReceivedReply,
  SmsBatch,
  SmsClaimRequest,
  SmsState,
  StoredMessage,
} from './types.ts';
import { DELETED_BY_OPERATOR } from './types.ts';

/** Row shapes and conversions shared by the SQLite and PostgreSQL stores (same tables, same columns). */

/** The history line's kind of a number of a mail refused at acceptance while its others were taken (NewMail.refused). */
export const REFUSED_EVENT = 'refused';
/** Its detail: the address that named it, the number, and why (`oncall@sms.example.com -> +447700900603: not sent: …`). */
export const refusedDetail = (recipient: RefusedRecipient): string => `${recipient.rcpt} -> ${recipient.number}: ${recipient.reason}`;

/**
 * The history lines of a number folded by `policy.alertStormWindow` (NewMail.folded): on the folded mail, naming the
 * earlier one; on the earlier SMS, once (a storm of repeats would bury its history), naming the first repeat.
 */
export const FOLDED_EVENT = 'folded';
export const REPEATED_EVENT = 'repeated';
export const foldedDetail = (recipient: FoldedRecipient): string =>
  `${recipient.rcpt} -> ${recipient.number}: the same alert as ${recipient.earlier}, whose SMS the gateway took, within policy.alertStormWindow: not sent again`;
/** The earlier mail a `folded` line names (foldedDetail), for a link to it; undefined for any other line. */
export const foldedOnto = (kind: string, detail: string | undefined): string | undefined =>
  kind === FOLDED_EVENT ? / the same alert as (\S+), whose SMS the gateway took,/.exec(detail ?? '')?.[1] : undefined;
export const repeatedDetail = (id: string): string =>
  `the same alert again in ${id}, within policy.alertStormWindow: not sent again (later repeats say so in their own history only)`;

/**
 * A number's latest SMS with its mail's sender and its conversation's mailbox (Store#latestSmsTo): `number`, the SQL of
 * the number; `since`, of the window's start. The index outbound_number (number, id) finds it without a sort.
 */
export const latestSmsTo = (number: string, since: string): string => `
  SELECT * FROM (
    SELECT o.number, o.id AS sms_id, o.message_id, o.status, o.delivery, m.received_at, m.text, m.envelope_from, m.sender_id,
      m.account, m.gateway_account, m.user_context, c.mailbox
    FROM outbound o JOIN messages m ON m.id = o.message_id
    LEFT JOIN conversations c ON c.context = m.user_context AND c.number = o.number
    WHERE o.number = ${number} ORDER BY o.id DESC LIMIT 1
  ) latest WHERE received_at >= ${since}`;

/** A row of latestSmsTo as LatestSms: taken by the gateway (sent) with no failure reported since. */
export function toLatestSms(row: Record<string, unknown>): LatestSms {
  const optional = (value: unknown) => (value === null || value === undefined ? undefined : String(value));
  return {
    number: String(row.number),
    smsId: Number(row.sms_id),
    messageId: String(row.message_id),
    receivedAt: Number(row.received_at),
    text: String(row.text),
    envelopeFrom: String(row.envelope_from),
    senderId: optional(row.sender_id),
    account: optional(row.account),
    gatewayAccount: optional(row.gateway_account),
    userContext: optional(row.user_context),
    mailbox: optional(row.mailbox),
    accepted: row.status === 'sent' && row.delivery !== 'failed' && row.delivery !== 'expired',
  };
}

/** The history line of a job whose lease was released at start. */
export const RESUMED_DETAIL = 'was in flight when the relay stopped; may reach the gateway twice';

/**
 * The same of a mail of the relay's own released at start, when it goes to a smarthost (SMTP has no idempotency:
 * the smarthost may have taken it before the stop). A Maildir's mail has none: its write is found again by its
 * file name (maildirTransport), no duplicate.
 */
export const MAIL_RESUMED = 'mail resumed';
export const MAIL_RESUMED_DETAIL = 'was in flight when the relay stopped; may reach the smarthost twice';

/**
 * How an attempt in flight ended when its relay stopped or died, its lease released at a start (Store.releaseStaleLeases):
 * with no answer, in the sent line of an SMS that a report had named in flight (sentByReportInFlightDetail), not resumed.
 */
export const STOPPED_IN_FLIGHT = 'the relay sending it stopped';

/**
 * The relay whose lease a claim takes over, in SQL, of a row's `lease_owner` and the claiming relay: another relay's
 * lease that ended with no outcome (that relay may have sent the SMS or mail). NULL for a row nobody leased, and for
 * the claimant's own lease, which no other relay ever held: a claim of its that committed but whose answer was lost
 * with the connection, made again later, sent nothing. Both stores' SMS and mail claims decide by it alone whether a
 * row is taken over: its history line, its attempt and its possible duplicate.
 */
export const takenOverFrom = (leaseOwner: string, claimant: string) => `NULLIF(${leaseOwner}, ${claimant})`;

/**
 * How an attempt of a relay whose lease ended (`was`, SQL) ended, in SQL: with no answer. A taken-over SMS's line says it
 * (takenOverDetail), and so does one that a report had named in flight, sent by that report instead (sentByReportInFlightDetail).
 */
export const leaseExpired = (was: string) => `'lease of relay ' || ${was} || ' expired'`;

/** The history line's kind of an SMS claimed when another relay's lease on it had ended (takenOverFrom). */
export const TAKEN_OVER = 'taken over';
/**
 * Its detail, an SQL expression of the relay whose lease ended (`was`) and the one claiming (`by`), both
 * SQL: both stores write it in the statement that finds who held the lease.
 */
export const takenOverDetail = (was: string, by: string) => `${leaseExpired(was)} || ': sent again by ' || ${by} || ', possibly a duplicate'`;

/**
 * The same of a mail of the relay's own (a bounce, notice or reply) claimed when another relay's lease on it had
 * ended: with the same detail, told from its SMS's lines, as the mail's other lines (`mail sent`, …) are.
 */
export const MAIL_TAKEN_OVER = 'mail taken over';

/**
 * The history line's kind of an outcome that came from a relay no longer holding its SMS's (or mail's)
 * lease (it was frozen or cut off past its lease, and another relay took the SMS over): the lease
 * holder's outcome is the SMS's, this one only history.
 */
export const LATE_ANSWER = 'late answer';
/**
 * Its detail, an SQL expression of the relay that answered late (`owner`) and what it would have recorded
 * (`said`), read after the kind as `smsrelay log` prints them: `late answer: from relay-a, after its lease
 * was taken over: id 351`.
 */
export const lateAnswerDetail = (owner: string, said: string) => `'from ' || ${owner} || ', after its lease was taken over: ' || ${said}`;

/**
 * A mail's outcome is the mail's only when the relay recording it (`owner`, SQL; null: any) holds its
 * lease on the mail still queued (Store.recordMailOutcome): a relay that took it over may have sent it, and
 * a late failure would otherwise end that relay's delivery, a late retry free it for a third relay.
 */
export const mailHeldBy = (owner: string) => `(${owner} IS NULL OR (lease_owner = ${owner} AND status = 'queued'))`;

/** A mail outcome's history line: its kind (`mail sent`, `mail deferred`, `mail failed`) and the smarthost's words. */
export function mailOutcomeLine(outcome: MailOutcome): { readonly kind: string; readonly detail: string } {
  if (outcome.kind === 'sent') return { kind: 'mail sent', detail: outcome.response };
  return { kind: outcome.kind === 'retry' ? 'mail deferred' : 'mail failed', detail: outcome.error };
}

/**
 * The reports (bounces, notices) of a batch without those about a message an outcome of which came late:
 * the relay that took its SMS over reports them from its own attempt. A takeover takes a batch's SMS
 * together (their leases end together), so no report of an outcome recorded in time is lost with them.
 */
export function withoutLateReports(mail: readonly NewOutgoingMail[], lateMessages: ReadonlySet<string>): readonly NewOutgoingMail[] {
  return lateMessages.size === 0 ? mail : mail.filter((item) => item.messageId === undefined || !lateMessages.has(item.messageId));
}

/**
 * A sent SMS's history detail: the gateway's id, or the provider's words for its outcome without one
 * (OutcomeRule.withoutId: how its delivery reports find the SMS), else that their reports cannot be
 * matched; and what took it when there is a choice.
 */
export const sentDetail = (outcome: { readonly providerId: string; readonly note?: string; readonly withoutId?: string | undefined }) => {
  const id = outcome.providerId !== '' ? `id ${outcome.providerId}` : (outcome.withoutId ?? 'the gateway gave no id: its delivery reports cannot be matched');
  return outcome.note ? `${id}; ${outcome.note}` : id;
};

/**
 * A deferred, failed or expired SMS's history detail: its error, then what gave the answer where there is a choice
 * (`via`: `via <host>`, `via <provider> at <host>`), as a sent one's and a failed-over line name it. In the history line
 * only: its last error, which bounces and notices to the mail's sender quote, names no host.
 */
export const attemptDetail = (outcome: { readonly error: string; readonly via?: string | undefined }) =>
  outcome.via === undefined ? outcome.error : `${outcome.error}; ${outcome.via}`;

/**
 * An SMS's possible duplicates, one taken back (never below none): the relay learnt that one of its attempts with no
 * answer sent it and nothing was sent twice for it, whether the gateway recognised a resend of it
 * (OutcomeRule.recognisedResend) or a report proved that attempt reached the gateway while the SMS waited to be sent
 * again (sentByReportDetail). Only one: its other attempts may have been another provider's or a taken-over lease's.
 */
export const ONE_DUPLICATE_TAKEN_BACK = 'possible_duplicates = CASE WHEN possible_duplicates > 0 THEN possible_duplicates - 1 ELSE 0 END';

/**
 * The history detail of an SMS recorded as sent by a delivery report that names it by the relay's own
 * reference while it waited to be sent again (both stores): the attempt with no answer reached the gateway, and it is
 * not sent again, so the possible duplicate that attempt counted is taken back (ONE_DUPLICATE_TAKEN_BACK).
 */
export const sentByReportDetail = (providerId: string) =>
  `id ${providerId}; the gateway's delivery report for it came while it waited to be sent again after an attempt with no answer: that attempt reached the gateway, so it is not sent again`;

/**
 * The history detail, an SQL expression of the SMS's gateway id (`id`) and the attempt's error (`error`), of an SMS
 * recorded as sent at its attempt's outcome (both stores): a delivery report that names it came while that attempt was
 * in flight (sqlite-replies.ts, applyReport), and the attempt then ended with no answer or another retry, or never
 * ended, its relay stopped or gone (STOPPED_IN_FLIGHT at a start, leaseExpired at a takeover). The report
 * proves the gateway took the SMS, so it is not sent again, and the possible duplicate the attempt counted is taken back
 * (ONE_DUPLICATE_TAKEN_BACK), as for a report that came while it waited (sentByReportDetail).
 */
export const sentByReportInFlightDetail = (id: string, error: string) =>
  `'id ' || ${id} || '; the gateway''s delivery report for it came while an attempt had no answer yet, which then ended with none (' || ${error} || '): the gateway took it, so it is not sent again'`;

/** A delivery report's history detail: its state, and the provider's words for it or else its code (both stores; ADOPT_ORPHANS too). */
export const reportDetail = (report: { readonly state: string; readonly code: number; readonly said?: string | undefined }) =>
  `${report.state} (${report.said ?? `provider status ${report.code}`})`;

/**
 * How long after the smarthost took a reply mail (its 250) a bounce of it may still come: the longest
 * queue lifetime of common MTAs, Postfix's `maximal_queue_lifetime` default of 5 days (Exchange's is 2,
 * Exim's and sendmail's 4-5). A bounce fails the mail and lists its SMS as undeliverable again, to be
 * rerouted from its text, so the text outlives it.
 */
export const REPLY_BOUNCE_WINDOW_MS = 5 * 24 * 60 * 60_000;

/**
 * When retention may erase an inbound SMS's text (both stores), `sentBefore` being the placeholder of the
 * time before which a reply mail sent can no longer bounce (REPLY_BOUNCE_WINDOW_MS before now): once its
 * reply mail was delivered that long ago. Before that the text is all there is of it: an undeliverable SMS
 * is rerouted from it, and a reply mail still queued may yet be refused for good, or one the smarthost took
 * bounce, which lists the SMS as undeliverable again.
 */
export const inboundFinished = (sentBefore: string) => `inbound.mailbox IS NOT NULL AND EXISTS (
  SELECT 1 FROM mail_out WHERE mail_out.message_id = inbound.id AND mail_out.kind = 'reply' AND mail_out.status = 'sent'
    AND mail_out.updated_at < ${sentBefore})`;

/**
 * Whether the inbound SMS `i` has lost its text to store.retention (both stores, 1 or 0): no text, and the
 * content of a reply mail of it erased as well (retention erases that one no later than the text; texts
 * erased before REPLY_BOUNCE_WINDOW_MS was kept are found alike). An SMS that came empty reads the same
 * once retention has erased its reply mail too: the store keeps no other mark of an erasure, and taking
 * such an SMS for erased never tells a mailbox that a phone which wrote sent nothing.
 */
export const TEXT_ERASED = `CASE WHEN i.text = '' AND EXISTS (
  SELECT 1 FROM mail_out e WHERE e.message_id = i.id AND e.kind = 'reply' AND length(e.raw) = 0) THEN 1 ELSE 0 END`;

/** When retention may erase a part of a long SMS (both stores): once its set was closed (mailed, or kept as undeliverable). */
export const PARTS_FINISHED = 'sms_parts.set_id IN (SELECT id FROM part_sets WHERE closed_at IS NOT NULL)';

/** A reply mail found by its return path (replyMailOfReturnPathSql), with its SMS's sender. */
export interface BouncedMailRow {
  readonly id: number | string;
  readonly status: string;
  readonly recipients: string;
  readonly number: string;
}

/**
 * The reply mail about inbound SMS `inboundId` whose return path (its envelope sender, any case) is
 * `returnPath`, as a BouncedMailRow; the two parameters as each store writes its placeholders.
 */
export const replyMailOfReturnPathSql = (inboundId: string, returnPath: string) =>
  `SELECT m.id, m.status, m.recipients, i.number FROM mail_out m JOIN inbound i ON i.id = m.message_id
   WHERE m.message_id = ${inboundId} AND m.kind = 'reply' AND lower(m.envelope_from) = lower(${returnPath})`;

/** The mailbox a reply mail went to: its one recipient. */
export function replyMailbox(row: BouncedMailRow): string {
  const [mailbox = ''] = JSON.parse(row.recipients) as string[];
  return mailbox;
}

/** What a bounce did to the reply mail `row`: `alreadyFailed` when it was failed before it (its SMS unrouted then). */
export function bouncedReply(row: BouncedMailRow, alreadyFailed: boolean): BouncedReply {
  return { mailbox: replyMailbox(row), number: row.number, alreadyFailed };
}

/** Store.queuedMailErrors's query, the limit as `limit` (SQL), for both stores. */
export const queuedMailErrorsSql = (limit: string) =>
  `SELECT id, kind, message_id, last_error FROM mail_out WHERE status = 'queued' AND last_error IS NOT NULL ORDER BY id LIMIT ${limit}`;

/** A row of queuedMailErrorsSql as the store returns it. */
export function toQueuedMailError(row: { id: number | string; kind: NewOutgoingMail['kind']; message_id: string | null; last_error: string }): QueuedMailError {
  return { mailId: Number(row.id), kind: row.kind, messageId: row.message_id ?? undefined, lastError: row.last_error };
}

export interface MessageRow {
  id: string;
  received_at: number;
  envelope_from: string;
  client_address: string;
  client_helo: string;
  message_id_header: string | null;
  subject: string | null;
  headers: string;
  text: string;
  encoding: 'gsm7' | 'ucs2';
  parts: number;
  max_parts: number;
  sender_id: string | null;
  user_context: string | null;
  dsn_ret: 'FULL' | 'HDRS' | null;
  dsn_envid: string | null;
  report_all: number;
  send_at: number | null;
  gateway_account: string | null;
}

export interface ClaimedSmsRow {
  id: number;
  message_id: string;
  number: string;
  rcpt: string;
  notify: string | null;
  orcpt: string | null;
  attempts: number;
  last_error: string | null;
  /** The relay whose lease ended, for an SMS taken over (ClaimedSms.takenOverFrom). */
  was?: string | null;
}

/**
 * How far ahead of the retries a never-tried SMS goes: a claim orders it as if due this much earlier.
 * After an outage every retry of the backlog is due before a mail accepted now, so in due order alone a
 * new alert waited behind all of them (37,008th of 40,001 in a test), as MTAs do not let it (Postfix
 * alternates its incoming and deferred queues). A head start, not a strict priority: mail arriving faster
 * than the gateway takes it delays a retry by at most this much, never starves it. Ten minutes is
 * `delivery.retryMaxDelay`'s default, the farthest apart a backlog retried through an outage is due.
 */
export const NEVER_TRIED_HEAD_START_MS = 10 * 60_000;

/** A queued SMS that nobody holds and nobody has tried (no attempt, no deferral): the predicate of the index outbound_never_tried (migration 21). */
export const NEVER_TRIED = 'lease_owner IS NULL AND attempts = 0 AND last_error IS NULL';

/** When a claim takes a queued row, in SQL: its due time, NEVER_TRIED_HEAD_START_MS earlier when it is NEVER_TRIED. */
export const CLAIM_AT = `next_attempt_at - CASE WHEN ${NEVER_TRIED} THEN ${NEVER_TRIED_HEAD_START_MS} ELSE 0 END`;

/**
 * A queued SMS (`sms`, of message `message`) the relay holds until its X-SMS-Send-At itself (a provider
 * that cannot schedule) and has not tried: it was queued due at that time, and an operator's retry must
 * not pull it earlier (docs/delivery.md). One a provider schedules was queued due at once, so is not one.
 */
export const waitsForSendAt = (sms: string, message: string) => `(${sms}.attempts = 0 AND ${sms}.next_attempt_at >= ${message}.send_at)`;

/** An SMS's lease end while a relay holds it (its attempt's deadline: `next_attempt_at` is the lease's end then), of `outbound o`. */
const LEASED_UNTIL = 'CASE WHEN o.lease_owner IS NOT NULL THEN o.next_attempt_at END AS leased_until';

/**
 * Whether an `outbound` row (`table`: its alias with the dot, or none) is being sent: a relay holds its lease and the
 * lease has not ended by `clock` (the store's, a SQL expression: the database's on PostgreSQL, the host's on SQLite).
 * An ended lease is an attempt cut off (its relay stopped): that SMS is queued like any other.
 */
const leaseLive = (clock: string, table = '') => `${table}lease_owner IS NOT NULL AND ${table}next_attempt_at > ${clock}`;

/** Whether `outbound o`'s lease has not ended by `clock`: SmsState.beingSent, QueuedSms.beingSent. */
export const beingSent = (clock: string) => `CASE WHEN ${leaseLive(clock, 'o.')} THEN 1 ELSE 0 END AS being_sent`;

/**
 * Whether `outbound o` is leased by a relay that is gone, by `clock`: one that recorded its stop, or whose heartbeat is
 * older than RELAY_STALE_MS (killed), with the request in flight: SmsState.attemptCutOff, QueuedSms.attemptCutOff.
 * Read from what the claim and the heartbeat write anyway: the hot path writes nothing for it. A lease owner that never
 * wrote a heartbeat is not judged.
 */
const attemptCutOff = (clock: string) => `CASE WHEN o.status = 'queued' AND o.lease_owner IS NOT NULL AND EXISTS (
    SELECT 1 FROM relays r WHERE r.name = o.lease_owner AND (r.stopped_at IS NOT NULL OR r.heartbeat_at < ${clock} - ${RELAY_STALE_MS})
  ) THEN 1 ELSE 0 END AS attempt_cut_off`;

/**
 * What a delete (by an operator) writes of an SMS whose lease ended still held (its relay stopped with the request in
 * flight: attemptCutOff): that attempt counts, and as a possible duplicate, as a takeover counts it, for the gateway may
 * have sent it (SENT_OR_TO_BE_SENT). `cast`: how the store makes the boolean a number (PostgreSQL's `::int`).
 */
export const CUT_OFF_ATTEMPT_COUNTED = (cast: string) =>
  `attempts = attempts + (lease_owner IS NOT NULL)${cast}, possible_duplicates = possible_duplicates + (lease_owner IS NOT NULL)${cast}`;

/** A queued SMS a delete may take: none a relay is attempting now, for the gateway may have it and its answer decides it. */
export const notBeingSent = (clock: string) => `NOT (${leaseLive(clock)})`;

/**
 * A queue action's target (QueueTarget) over `outbound`: one message's SMS, one of them (both given), or all (neither),
 * `message` and `sms` being the store's placeholders for them.
 */
export const queueTargetSql = (message: string, sms: string) => `(${message} IS NULL OR message_id = ${message}) AND (${sms} IS NULL OR id = ${sms})`;

/**
 * The SMS of a queue action's target still leased once it changed what it could (QueueActionDone.leased): after a
 * delete (`isDelete`, a SQL boolean), those being sent; after a retry or send now, every leased one not held (a held
 * one is said held). Leases judged by `clock`, as `leaseLive`.
 */
export const leasedLeftSql = (clock: string, isDelete: string, target: string) =>
  `SELECT id, next_attempt_at, CASE WHEN next_attempt_at <= ${clock} THEN 1 ELSE 0 END AS ended FROM outbound
  WHERE status = 'queued' AND lease_owner IS NOT NULL AND (${isDelete} OR held = 0) AND ${target} ORDER BY id`;

/**
 * How many SMS of a queue action's target a retry or send now finds due already (QueueActionDone.due): queued, not held,
 * not leased, their next attempt not ahead of `now` (a placeholder). Counted before the action, which changes only those
 * whose next attempt is ahead: one due already goes at the next claim as it is, and a retry of it changes nothing.
 */
export const dueLeftSql = (now: string, target: string) =>
  `SELECT COUNT(*) AS n FROM outbound WHERE status = 'queued' AND held = 0 AND lease_owner IS NULL AND next_attempt_at <= ${now} AND ${target}`;

/** What listQueued selects of `outbound o` joined to `messages m`, in both stores, leases judged by `clock`. */
export const queuedColumns = (clock: string) =>
  `o.id, o.message_id, o.number, o.attempts, o.next_attempt_at, o.last_error, o.held, m.received_at, m.envelope_from, ${LEASED_UNTIL}, ${beingSent(clock)},
  ${attemptCutOff(clock)}`;

/** The SMS a queue action left for a relay's lease (QueueActionDone.leased), as both stores select them. */
export interface LeasedRow {
  id: number;
  next_attempt_at: number;
  ended: number;
}

export const toLeasedSms = (row: LeasedRow): LeasedSms => ({ smsId: Number(row.id), until: Number(row.next_attempt_at), ended: row.ended === 1 });

/** A queue action's target (QueueTarget) as both stores' statements take it: a message id, with an SMS id for one of its SMS; neither for all. */
export function queueTarget(target: QueueTarget): { message: string | null; sms: number | null } {
  return typeof target === 'object' ? { message: target.messageId, sms: target.smsId } : { message: target ?? null, sms: null };
}

/**
 * An SMS's state as `log`, `status` and the console show and find it, of `outbound o`: the status stored, but `deleted` for one
 * an operator deleted from the queue (stored as `failed`, DELETED_BY_OPERATOR its last error): no gateway failed it.
 */
export const SMS_STATUS = `CASE WHEN o.status = 'failed' AND o.last_error = '${DELETED_BY_OPERATOR}' THEN 'deleted' ELSE o.status END`;

/**
 * Whether an SMS (a row of `outbound`, as `alias`) was sent and not reported failed, may have been sent (an attempt
 * whose answer was lost, counted in `possible_duplicates`: the gateway may have taken it, whatever came after), or is
 * still to be sent: a mail with one such SMS is what its resend within `delivery.resubmissionWindow` folds into
 * (Store#acceptMail, both stores); one whose every SMS failed, expired or was deleted unsent is not, and its resend is
 * texted. sentOrToBeSent says it of an SmsState.
 */
export const SENT_OR_TO_BE_SENT = (alias: string) =>
  `(${alias}.status = 'queued' OR ${alias}.possible_duplicates > 0 OR (${alias}.status = 'sent' AND (${alias}.delivery IS NULL OR ${alias}.delivery NOT IN ('failed', 'expired'))))`;

/**
 * Whether the mail `id` is what a resend folds into: one of its SMS is SENT_OR_TO_BE_SENT, or it has no SMS at all (every
 * number folded by the alert-storm rule into an SMS sent before it: texting its resend would repeat that alert, perhaps
 * after the recovery that came since).
 */
export const MAIL_SENT_OR_TO_BE_SENT = (id: string) =>
  // One read of the mail's SMS by the index on outbound (message_id, …), no SMS counting as sent: PostgreSQL plans two
  // EXISTS joined by OR as a subplan with a sequential scan of outbound as its alternative.
  `(COALESCE((SELECT MAX(CASE WHEN ${SENT_OR_TO_BE_SENT('o')} THEN 1 ELSE 0 END) FROM outbound o WHERE o.message_id = ${id}), 1) = 1)`;

/** SENT_OR_TO_BE_SENT of an SMS as smsOf gives it. */
export function sentOrToBeSent(sms: Pick<SmsState, 'status' | 'delivery' | 'possibleDuplicates'>): boolean {
  return sms.status === 'queued' || sms.possibleDuplicates > 0 || (sms.status === 'sent' && sms.delivery !== 'failed' && sms.delivery !== 'expired');
}

/** What smsOf selects of `outbound o` joined to `messages m`, in both stores, leases judged by `clock`. */
export const smsStateColumns = (
  clock: string,
) => `o.id, o.number, ${SMS_STATUS} AS status, o.held, CASE WHEN o.status = 'queued' AND ${waitsForSendAt('o', 'm')} THEN m.send_at END AS scheduled_for,
  o.attempts, o.next_attempt_at, o.possible_duplicates, o.provider_id, o.last_error, o.delivery, ${LEASED_UNTIL}, ${beingSent(clock)},
  ${attemptCutOff(clock)}`;

/** CLAIM_AT of a row read. */
export const claimAt = (row: Pick<ClaimedSmsRow, 'attempts' | 'last_error'> & { next_attempt_at: number; lease_owner: string | null }): number =>
  row.next_attempt_at - (row.lease_owner === null && row.attempts === 0 && row.last_error === null ? NEVER_TRIED_HEAD_START_MS : 0);

/**
 * Walks due jobs in due order, but those the relay has in flight (SmsClaimRequest.inFlight), and keeps those that fit in `maxBatches` gateway requests of at most
 * `batchSize` numbers each, numbers of one mail together. Stops at the first job that would need one
 * batch too many, so a claim never takes more than the dispatcher can send at once (a job leased but
 * left waiting could outlive its lease and be sent twice).
 */
export function selectBatchRows<Row extends Pick<ClaimedSmsRow, 'id' | 'message_id'>>(due: Iterable<Row>, request: SmsClaimRequest): Row[] {
  const selected: Row[] = [];
  const openBatchSize = new Map<string, number>();
  const inFlight = new Set(request.inFlight);
  let batches = 0;
  for (const row of due) {
    if (inFlight.has(row.id)) continue;
    const size = openBatchSize.get(row.message_id);
    if (size === undefined || size === request.batchSize) {
      if (batches === request.maxBatches) break;
      batches += 1;
      openBatchSize.set(row.message_id, 1);
    } else {
      openBatchSize.set(row.message_id, size + 1);
    }
    selected.push(row);
  }
  return selected;
}

/** One SMS job as a claim (or `waitingSms`) gives it. */
export function toClaimedSms(row: Omit<ClaimedSmsRow, 'message_id'>): ClaimedSms {
  return {
    id: row.id,
    number: row.number,
    rcpt: row.rcpt,
    notify: row.notify === null ? undefined : row.notify.split(','),
    orcpt: row.orcpt ?? undefined,
    attempts: row.attempts,
    lastError: row.last_error ?? undefined,
    ...(row.was ? { takenOverFrom: row.was } : {}),
  };
}

/** Claimed jobs as gateway requests: the numbers of one mail together, at most `batchSize` per request. */
export function groupIntoBatches(rows: readonly ClaimedSmsRow[], batchSize: number, message: (id: string) => StoredMessage): SmsBatch[] {
  const perMessage = new Map<string, ClaimedSms[]>();
  for (const row of rows) {
    const sms = toClaimedSms(row);
    const list = perMessage.get(row.message_id);
    if (list) list.push(sms);
    else perMessage.set(row.message_id, [sms]);
  }
  const batches: SmsBatch[] = [];
  for (const [messageId, sms] of perMessage) {
    const stored = message(messageId);
    for (let start = 0; start < sms.length; start += batchSize) {
      batches.push({ message: stored, sms: sms.slice(start, start + batchSize) });
    }
  }
  return batches;
}

/**
 * Store failures are temporary to callers, with the reason a client can act on: a full disk (as the
 * free-space watermark answers it: the space ran out before the watermark's next look), a store busy
 * (storeFailureCode), else "the store is unavailable". The database's words stay in the detail, for the log. `as`: what a
 * caller knows the failure to be better than its code says (the console's own lock wait ended: busy).
 */
export function asStoreError(error: unknown, as?: StoreFailureCode): RelayError {
  const reason = error instanceof Error ? error.message : String(error);
  switch (as ?? storeFailureCode(error)) {
    case 'DISK_FULL':
      return new RelayError('DISK_FULL', undefined, { cause: error });
    case 'STORE_BUSY':
      return new RelayError('STORE_BUSY', `Temporary local problem: the message store is busy (${reason}); try again in a moment`, { cause: error });
    case 'STORE_UNAVAILABLE':
      return new RelayError('STORE_UNAVAILABLE', `Temporary local problem: the message store is unavailable (${reason}); try again later`, {
        cause: error,
      });
  }
}

/**
 * The database's error codes by what a client should do. A full disk: SQLITE_FULL, or PostgreSQL's
 * disk_full (53100). Busy, free again in a moment: SQLite's lock held by another process past
 * `store.busyTimeout` (PostgreSQL waits for its locks with no timeout of the relay's). The rest of
 * PostgreSQL's class 53 is unavailable, as the server down: insufficient_resources (53000) and
 * out_of_memory (53200) are the server's own trouble with no time they end by, and too_many_connections
 * (53300) frees itself only if other clients leave: with max_connections below what the relays' pools
 * open it lasts until the operator acts (the health's reason says what to do: postgres/store.ts describe).
 */
const DISK_FULL_CODES = /^(SQLITE_FULL|53100$)/;
const STORE_BUSY_CODES = /^(SQLITE_BUSY|SQLITE_LOCKED)/;

/** Which of the store's failures `error` is to its callers (asStoreError), and so what mail and webhooks get meanwhile. */
export function storeFailureCode(error: unknown): StoreFailureCode {
  const code = String((error as { code?: unknown } | undefined)?.code ?? '');
  if (DISK_FULL_CODES.test(code)) return 'DISK_FULL';
  if (STORE_BUSY_CODES.test(code)) return 'STORE_BUSY';
  return 'STORE_UNAVAILABLE';
}

export function toStoredMessage(row: MessageRow): StoredMessage {
  return {
    id: row.id,
    receivedAt: row.received_at,
    envelopeFrom: row.envelope_from,
    client: { address: row.client_address, helo: row.client_helo },
    messageIdHeader: row.message_id_header ?? undefined,
    subject: row.subject ?? undefined,
    headers: row.headers,
    text: row.text,
    encoding: row.encoding,
    parts: row.parts,
    maxParts: row.max_parts,
    senderId: row.sender_id ?? undefined,
    userContext: row.user_context ?? undefined,
    dsn: { ret: row.dsn_ret ?? undefined, envid: row.dsn_envid ?? undefined },
    reportAll: row.report_all === 1,
    sendAt: row.send_at ?? undefined,
    gatewayAccount: row.gateway_account ?? undefined,
  };
}

/** A queued mail of the relay's own (mail_out) as claimed. */
export interface MailRow {
  id: number;
  created_at: number;
  kind: NewOutgoingMail['kind'];
  message_id: string | null;
  envelope_from: string;
  recipients: string;
  raw: Buffer;
  attempts: number;
  /** The relay whose lease ended, for a mail taken over (ClaimedMail.takenOverFrom). */
  was?: string | null;
}

export function toClaimedMail(row: MailRow): ClaimedMail {
  return {
    id: row.id,
    createdAt: row.created_at,
    kind: row.kind,
    messageId: row.message_id ?? undefined,
    envelopeFrom: row.envelope_from,
    recipients: JSON.parse(row.recipients) as string[],
    raw: row.raw,
    attempts: row.attempts,
    ...(row.was ? { takenOverFrom: row.was } : {}),
  };
}

/** A kept webhook request, without its body. */
export interface QuarantineRow {
  id: number;
  received_at: number;
  provider: string;
  kind: string;
  reason: string;
  bytes: number;
  /** 1 once store.retention erased the body; NULL while it is as received (or was written by a relay before schema 16). */
  body_erased: number | null;
}

export function quarantineEntry(row: QuarantineRow): QuarantineEntry {
  const entry = { id: row.id, receivedAt: row.received_at, provider: row.provider, kind: row.kind, reason: row.reason, bytes: row.bytes };
  return row.body_erased === 1 ? { ...entry, bodyErased: true } : entry;
}

/** A kept webhook request with its body. */
export interface QuarantineBodyRow extends QuarantineRow {
  body: string;
}

export function quarantinedBody(row: QuarantineBodyRow): QuarantinedBody {
  return { ...quarantineEntry(row), body: quarantinedBytes(row.body) };
}

/**
 * How `quarantine.body` (TEXT, on both stores) holds a body that is not text it can keep as it came: bytes that are not
 * UTF-8 (a gateway's Latin-1 form), a NUL (which PostgreSQL's text refuses), or text that starts so itself. Those are
 * kept as this prefix and their bytes in hex, every other body as its text: either way the bytes as received come back.
 */
const HEX_BODY_PREFIX = 'smsrelay-bytes-hex:';

/** A body as `quarantine.body` keeps it (HEX_BODY_PREFIX). */
export function quarantineColumn(bytes: Buffer): string {
  const text = bytes.toString('utf8');
  return isUtf8(bytes) && !bytes.includes(0) && !text.startsWith(HEX_BODY_PREFIX) ? text : `${HEX_BODY_PREFIX}${bytes.toString('hex')}`;
}

/** The bytes as received of a `quarantine.body` value (quarantineColumn's). */
function quarantinedBytes(column: string): Buffer {
  return column.startsWith(HEX_BODY_PREFIX) ? Buffer.from(column.slice(HEX_BODY_PREFIX.length), 'hex') : Buffer.from(column, 'utf8');
}

/**
 * A kept body's size as received, in SQL (`quarantine list` reads no body): half its hex digits when kept in hex, else
 * `octets`, the store's byte length of the text (`length(CAST(body AS BLOB))` on SQLite, `octet_length(body)` on PostgreSQL).
 */
export function quarantineBytesSql(octets: string): string {
  return `CASE WHEN substr(body, 1, ${HEX_BODY_PREFIX.length}) = '${HEX_BODY_PREFIX}' THEN (length(body) - ${HEX_BODY_PREFIX.length}) / 2 ELSE ${octets} END`;
}

/** A queued SMS job with its mail's sender and time, as `listQueued` selects it. */
export interface QueuedRow {
  id: number;
  message_id: string;
  number: string;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  held: number;
  received_at: number;
  envelope_from: string;
  leased_until: number | null;
  being_sent: number;
  attempt_cut_off: number;
}

export function toQueuedSms(row: QueuedRow): QueuedSms {
  return {
    smsId: row.id,
    messageId: row.message_id,
    number: row.number,
    from: row.envelope_from,
    receivedAt: row.received_at,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    lastError: row.last_error ?? undefined,
    held: row.held === 1,
    leasedUntil: row.leased_until ?? undefined,
    beingSent: row.being_sent === 1,
    attemptCutOff: row.attempt_cut_off === 1,
  };
}

/** One number of a message, as `smsOf` selects it. */
export interface SmsStateRow {
  id: number;
  number: string;
  status: SmsState['status'];
  held: number;
  scheduled_for: number | null;
  attempts: number;
  next_attempt_at: number;
  possible_duplicates: number;
  provider_id: string | null;
  last_error: string | null;
  delivery: DeliveryState | null;
  leased_until: number | null;
  being_sent: number;
  attempt_cut_off: number;
}

export function toSmsState(row: SmsStateRow): SmsState {
  return {
    smsId: row.id,
    number: row.number,
    status: row.status,
    held: row.held === 1,
    scheduledFor: row.scheduled_for ?? undefined,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    possibleDuplicates: row.possible_duplicates,
    providerId: row.provider_id ?? undefined,
    // A deleted SMS's last error is the delete, which its status says already.
    lastError: row.status === 'deleted' ? undefined : (row.last_error ?? undefined),
    delivery: row.delivery ?? undefined,
    leasedUntil: row.leased_until ?? undefined,
    beingSent: row.being_sent === 1,
    attemptCutOff: row.attempt_cut_off === 1,
  };
}

/** An inbound SMS `i` of a number with its newest reply mail `m`, as repliesOfNumber selects them (both stores; the number and limit follow). */
export const REPLIES_OF_NUMBER = `SELECT i.id, i.received_at, i.mailbox, i.context, m.status AS mail_status, m.last_error AS mail_error,
    m.possible_duplicates AS mail_duplicates, m.recipients AS mail_to, m.created_at AS mail_at, ${TEXT_ERASED} AS text_erased
  FROM inbound i LEFT JOIN mail_out m ON m.id = (SELECT max(id) FROM mail_out WHERE message_id = i.id AND kind = 'reply')`;

/** An inbound SMS of a number with its newest reply mail, as repliesOfNumber selects it. */
export interface ReplyOfNumberRow {
  id: string;
  received_at: number;
  mailbox: string | null;
  context: string | null;
  mail_status: 'queued' | 'sent' | 'failed' | null;
  mail_error: string | null;
  /** The reply mail's own count (mail_out.possible_duplicates), not its SMS's other mails': a rerouted SMS's new mail starts at 0. PostgreSQL's bigint comes as a string. */
  mail_duplicates: number | string | null;
  /** The reply mail's recipients, as mail_out keeps them (JSON). */
  mail_to: string | null;
  /** When the reply mail was queued (PostgreSQL's bigint may come as a string). */
  mail_at: number | string | null;
  /** TEXT_ERASED (PostgreSQL's integer may come as a string). */
  text_erased: number | string;
}

export function toReceivedReply(row: ReplyOfNumberRow): ReceivedReply {
  return {
    id: row.id,
    receivedAt: row.received_at,
    mailbox: row.mailbox ?? undefined,
    context: row.context ?? undefined,
    textErased: Number(row.text_erased) === 1,
    mail:
      row.mail_status === null
        ? undefined
        : {
            status: row.mail_status,
            to: (JSON.parse(row.mail_to ?? '[]') as string[]).join(', '),
            queuedAt: Number(row.mail_at),
            error: row.mail_error ?? undefined,
            possibleDuplicates: Number(row.mail_duplicates ?? 0),
          },
  };
}

/** Rows deleted (each naming its provider) counted by provider: what expireOrphanReports returns, on both stores. */
export function countedByProvider(rows: readonly { readonly provider: string }[]): Readonly<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const { provider } of rows) counts[provider] = (counts[provider] ?? 0) + 1;
  return counts;
}
