import type { Database } from 'better-sqlite3';
import { sqliteLimit } from './sqlite-admin.ts';
import type { DeliveryState } from '../vocabulary.ts';
import { ONE_DUPLICATE_TAKEN_BACK, replyMailOfReturnPathSql, reportDetail, sentByReportDetail, TEXT_ERASED } from './rows.ts';
import type {
  Conversation,
  DeliveryReportResult,
  NewConversation,
  NewDeliveryReport,
  NewInbound,
  NewMail,
  NewRecipient,
  UndeliverableInbound,
} from './types.ts';

/** States only move forward: a late "sent" never undoes "delivered"; the first final state stays. */
const RANK: Readonly<Record<DeliveryState, number>> = { queued: 0, sent: 1, delivered: 2, failed: 2, expired: 2 };

/** RANK in SQL, of the state in `column`. */
const rankOf = (column: string) =>
  `CASE ${column} ${Object.entries(RANK)
    .map(([state, rank]) => `WHEN '${state}' THEN ${rank}`)
    .join(' ')} END`;

/**
 * The ON CONFLICT of a delivery report on both stores. Its key is (provider, id, number, code), so an
 * interim receipt and the final one with the same code (Vonage's accepted then delivered, err-code 0)
 * meet there: the one kept is replaced by a report that moves forward of it, or says its state in other
 * words (`saysMore`), and the replacing one is applied; anything else is a repeat. Never by an earlier
 * state: while its SMS's send result is not committed, the kept row is all there is of the report
 * (adoptOrphans), and a late interim receipt must not undo the final one (schema 25). A report about
 * another SMS than the kept one's (an id the gateway gave again: REPORT_TARGET_ORDER) is a report of its own.
 */
export const REPORT_CONFLICT = `ON CONFLICT (provider, provider_id, number, code) DO UPDATE
  SET state = excluded.state, said = excluded.said, received_at = excluded.received_at, sms_id = coalesce(excluded.sms_id, delivery_reports.sms_id)
  WHERE ${rankOf('excluded.state')} > ${rankOf('delivery_reports.state')}
    OR (excluded.state = delivery_reports.state AND excluded.said IS DISTINCT FROM delivery_reports.said)
    OR excluded.sms_id <> delivery_reports.sms_id`;

/**
 * Which of the SMS to one number under one id (outbound `o`) a report is about, first: the newest not yet
 * final. A gateway may give an id again (an SMSC's sequential ids restart after its restart, or wrap): the
 * older SMS under it have their final state, and a receipt follows the latest send.
 */
export const REPORT_TARGET_ORDER = `CASE WHEN ${rankOf('o.delivery')} = ${RANK.delivered} THEN 1 ELSE 0 END, o.id DESC`;

/** When the SMS `o` was last sent (its history's latest `sent` line, found by its message's index), as `sent_at`. */
export const SENT_AT = "(SELECT max(e.at) FROM events e WHERE e.message_id = o.message_id AND e.sms_id = o.id AND e.kind = 'sent') AS sent_at";

export interface ConversationRow {
  context: string;
  number: string;
  mailbox: string;
  subject: string | null;
  message_id_header: string | null;
  latest_message_id_header: string | null;
  /** The latest mail's header block from its `Thread-Index:` line on (THREAD_FIELD_CHARS), or its start when it has none. */
  latest_thread_field: string | null;
  last_used_at: number;
}

/**
 * How much of a mail's header block is read from its Thread-Index line: the longest index a reply
 * mail continues (MAX_THREAD_INDEX_BYTES in src/replies/reply-mail.ts, in base64) with its name fits,
 * and the whole block is not read for every received SMS.
 */
export const THREAD_FIELD_CHARS = 1_000;

/** A Thread-Index field at a line's start (folded or not), and its value. */
const THREAD_INDEX_FIELD = /(?:^|\n)thread-index:((?:[ \t]*\r?\n)?[ \t]*[A-Za-z0-9+/=]+(?:\r?\n[ \t]+[A-Za-z0-9+/=]+)*)/i;

/** The Thread-Index in a header block's fragment, when it has the form of one: a 22-byte header (its first byte 1) and 5-byte child blocks. */
function threadIndexIn(fragment: string | null): string | undefined {
  const value = fragment?.match(THREAD_INDEX_FIELD)?.[1]?.replace(/\s+/g, '');
  if (!value) return undefined;
  const bytes = Buffer.from(value, 'base64');
  return bytes.length >= 22 && (bytes.length - 22) % 5 === 0 && bytes[0] === 1 ? bytes.toString('base64') : undefined;
}

export interface OutboundForReport {
  id: number;
  message_id: string;
  delivery: DeliveryState | null;
  notify: string | null;
  report_all: number;
  /** The account whose own gateway credentials sent it (NULL: the relay's): a report's opt-out is only the relay's to keep on its own account. */
  gateway_account: string | null;
  /** When it was last sent (SENT_AT): a report's opt-out without a time of its own is dated then. */
  sent_at: number | null;
}

/**
 * The SMS a report is about (outboundForReport, outboundOfMessage): `queued` is waiting to be sent again, or in
 * flight (leased: `lease_owner`), where a report that names it is the proof its attempt's outcome decides by.
 */
interface ReportedSms extends OutboundForReport {
  status: 'sent' | 'queued' | 'failed' | 'expired';
  lease_owner: string | null;
}

export function toConversation(row: ConversationRow | undefined): Conversation | undefined {
  if (!row) return undefined;
  return {
    context: row.context,
    number: row.number,
    mailbox: row.mailbox,
    subject: row.subject ?? undefined,
    messageIdHeader: row.message_id_header ?? undefined,
    latestMessageIdHeader: row.latest_message_id_header ?? undefined,
    latestThreadIndex: threadIndexIn(row.latest_thread_field),
    lastUsedAt: row.last_used_at,
  };
}

/** Whether the sender wants to hear of this final state: failures unless NOTIFY says otherwise, successes when asked. */
export function wantsNotice(state: DeliveryState, notify: readonly string[] | undefined, reportAll: boolean): boolean {
  if (state === 'delivered') return reportAll || (notify?.includes('SUCCESS') ?? false);
  if (state === 'failed' || state === 'expired') return notify === undefined || notify.includes('FAILURE');
  return false;
}

export function isForward(from: DeliveryState | null, to: DeliveryState): boolean {
  return from === null || RANK[to] > RANK[from];
}

/**
 * A new report (not a repeat) of the state its SMS is already in, in other words (Twilio's `sending` after
 * `queued`, `read` after `delivered`): its history shows it, as the provider's console does, and the state stays.
 */
export function saysMore(from: DeliveryState | null, to: DeliveryState): boolean {
  return from === to;
}

/** A conversation's row, with the Message-ID and Thread-Index field of the latest mail that named it (conversations.message_id is that mail). */
const CONVERSATION_COLUMNS = `c.*, (SELECT message_id_header FROM messages WHERE id = c.message_id) AS latest_message_id_header,
  (SELECT substr(headers, instr(lower(headers), char(10) || 'thread-index:'), ${THREAD_FIELD_CHARS}) FROM messages WHERE id = c.message_id) AS latest_thread_field`;

export function prepareReplyStatements(db: Database) {
  return {
    upsertConversation: db.prepare(`
      INSERT INTO conversations (context, number, mailbox, subject, message_id_header, message_id, created_at, last_used_at)
      VALUES (@context, @number, @mailbox, @subject, @message_id_header, @message_id, @now, @now)
      ON CONFLICT (context, number) DO UPDATE SET
        mailbox = CASE WHEN @continues THEN mailbox ELSE excluded.mailbox END,
        subject = CASE WHEN @continues THEN subject ELSE excluded.subject END,
        message_id_header = CASE WHEN @continues THEN message_id_header ELSE excluded.message_id_header END,
        message_id = excluded.message_id,
        last_used_at = excluded.last_used_at`),
    insertConversationMail: db.prepare('INSERT OR IGNORE INTO conversation_mail (message_id_header, number, context) VALUES (?, ?, ?)'),
    conversation: db.prepare(`SELECT ${CONVERSATION_COLUMNS} FROM conversations c WHERE context = ? AND number = ?`),
    latestConversation: db.prepare(
      `SELECT ${CONVERSATION_COLUMNS} FROM conversations c WHERE number = ? AND last_used_at >= ? ORDER BY last_used_at DESC, rowid DESC LIMIT 1`,
    ),
    contextOfTracking: db.prepare(`
      SELECT m.user_context AS context FROM outbound o JOIN messages m ON m.id = o.message_id
      WHERE o.tracking_id = ? AND o.number = ? ORDER BY o.id DESC LIMIT 1`),
    numbersOfTracking: db.prepare('SELECT number FROM outbound WHERE tracking_id = ? UNION SELECT number FROM conversations WHERE context = ? ORDER BY number'),
    contextOfMail: db.prepare('SELECT context FROM conversation_mail WHERE message_id_header = ? AND number = ?'),
    isReplyMail: db.prepare(`
      SELECT 1 AS yes FROM conversation_mail WHERE message_id_header = @id
      AND NOT EXISTS (SELECT 1 FROM messages WHERE message_id_header = @id) LIMIT 1`),
    answeredNumbers: db.prepare(`
      SELECT DISTINCT number FROM conversation_mail
      WHERE context = ? AND message_id_header IN (SELECT value FROM json_each(?)) AND number IN (SELECT value FROM json_each(?))`),
    touchConversation: db.prepare('UPDATE conversations SET last_used_at = ? WHERE context = ? AND number = ?'),
    insertInbound: db.prepare(`
      INSERT INTO inbound (id, provider, provider_id, number, text, sent_at, user_context, received_at, mailbox, context)
      VALUES (@id, @provider, @provider_id, @number, @text, @sent_at, @user_context, @received_at, @mailbox, @context)
      ON CONFLICT (provider, provider_id) DO NOTHING`),
    knowsInbound: db.prepare('SELECT 1 AS yes FROM inbound WHERE provider = ? AND provider_id = ?'),
    knowsSender: db.prepare('SELECT 1 AS yes FROM inbound WHERE number = ? LIMIT 1'),
    sentReplies: db.prepare(`
      SELECT m.raw FROM inbound i JOIN mail_out m ON m.message_id = i.id AND m.kind = 'reply'
      WHERE i.context = ? AND i.number = ? AND length(m.raw) > 0 AND m.status <> 'failed' ORDER BY i.received_at DESC ${sqliteLimit('?')}`),
    repliedIn: db.prepare(`
      SELECT 1 AS yes FROM inbound i JOIN mail_out m ON m.message_id = i.id AND m.kind = 'reply' AND m.status <> 'failed'
      WHERE i.number IN (SELECT value FROM json_each(@numbers)) AND i.context IN (
        SELECT value FROM json_each(@contexts)
        UNION SELECT context FROM conversation_mail
        WHERE message_id_header IN (SELECT value FROM json_each(@ids)) AND number IN (SELECT value FROM json_each(@numbers)))
      LIMIT 1`),
    undeliverable: db.prepare(`
      SELECT ${UNDELIVERABLE_COLUMNS} WHERE i.mailbox IS NULL AND (@at IS NULL OR (i.received_at, i.id) < (@at, @id))
      ORDER BY i.received_at DESC, i.id DESC ${sqliteLimit('@limit')}`),
    undeliverableById: db.prepare(`SELECT ${UNDELIVERABLE_COLUMNS} WHERE i.id = ? AND i.mailbox IS NULL`),
    replyMailOfReturnPath: db.prepare(replyMailOfReturnPathSql('?', '?')),
    bounceReplyMail: db.prepare(
      "UPDATE mail_out SET status = 'failed', last_error = @error, lease_owner = NULL, updated_at = @now WHERE id = @id AND status <> 'failed'",
    ),
    /** A reply mail refused for good: its SMS has no mailbox again, so it is listed and can be rerouted. */
    unrouteRefusedReply: db.prepare("UPDATE inbound SET mailbox = NULL WHERE id = (SELECT message_id FROM mail_out WHERE id = ? AND kind = 'reply')"),
    setMailbox: db.prepare('UPDATE inbound SET mailbox = ? WHERE id = ? AND mailbox IS NULL'),
    moveConversation: db.prepare('UPDATE conversations SET mailbox = ? WHERE context = ? AND number = ? AND mailbox = ?'),
    optOut: db.prepare('INSERT INTO opt_outs (number, since, keyword) VALUES (?, ?, ?) ON CONFLICT (number) DO NOTHING'),
    optIn: db.prepare('DELETE FROM opt_outs WHERE number = ?'),
    // When the number last opted in, kept so that a gateway's opt-out dated before it does not count (recordOptOut).
    optedInAt: db.prepare('INSERT INTO opt_ins (number, since) VALUES (?, ?) ON CONFLICT (number) DO UPDATE SET since = max(since, excluded.since)'),
    optedInSince: db.prepare('SELECT 1 AS yes FROM opt_ins WHERE number = ? AND since >= ?'),
    isOptedOut: db.prepare('SELECT 1 AS yes FROM opt_outs WHERE number = ?'),
    optOutKeyword: db.prepare('SELECT keyword FROM opt_outs WHERE number = ?'),
    insertQuarantine: db.prepare('INSERT INTO quarantine (received_at, provider, kind, reason, body) VALUES (?, ?, ?, ?, ?)'),
    insertReport: db.prepare(`
      INSERT INTO delivery_reports (provider, provider_id, number, code, state, said, received_at, sms_id)
      VALUES (@provider, @provider_id, @number, @code, @state, @said, @received_at, @sms_id)
      ${REPORT_CONFLICT}`),
    outboundForReport: db.prepare(`
      SELECT o.id, o.message_id, o.delivery, o.notify, m.report_all, m.gateway_account, ${SENT_AT}, o.status, o.lease_owner
      FROM outbound o JOIN messages m ON m.id = o.message_id
      WHERE o.provider_id = ? AND o.number = ? ORDER BY ${REPORT_TARGET_ORDER} LIMIT 1`),
    numbersSentUnder: db.prepare(
      'SELECT number FROM outbound WHERE provider_id = ? UNION SELECT number FROM sent_parts WHERE provider = ? AND part_id = ? ORDER BY number',
    ),
    /**
     * The SMS of a message to a number, by the relay's own reference (NewDeliveryReport.messageId), while
     * no gateway's id names it: sent without one, or queued (waiting to be sent again, or in flight). One sent
     * under another id (a retry's, another provider's after a failover) is that id's: a report of an earlier
     * attempt must not decide it.
     */
    outboundOfMessage: db.prepare(`
      SELECT o.id, o.message_id, o.delivery, o.notify, m.report_all, m.gateway_account, ${SENT_AT}, o.status, o.lease_owner
      FROM outbound o JOIN messages m ON m.id = o.message_id
      WHERE o.message_id = ? AND o.number = ? AND COALESCE(o.provider_id, '') = ''
        AND (o.status = 'sent' OR (o.status = 'queued' AND o.held = 0))`),
    /**
     * An SMS in flight named by a report (applyReport): it takes the report's id, which its attempt's outcome reads as the
     * proof that the gateway took it (sqlite.ts, recordSmsOutcomes), and the report's tracking id unless it has one. A
     * queued SMS has no gateway id otherwise. The first report's id stays.
     */
    reportedInFlight: db.prepare(
      "UPDATE outbound SET provider_id = ?, tracking_id = COALESCE(tracking_id, ?) WHERE id = ? AND status = 'queued' AND COALESCE(provider_id, '') = ''",
    ),
    sentByReport: db.prepare(
      `UPDATE outbound SET status = 'sent', provider_id = ?, tracking_id = COALESCE(tracking_id, ?), last_error = NULL, updated_at = ?, ${ONE_DUPLICATE_TAKEN_BACK} WHERE id = ?`,
    ),
    outboundById: db.prepare(`
      SELECT o.id, o.message_id, o.delivery, o.notify, m.report_all, m.gateway_account, ${SENT_AT} FROM outbound o JOIN messages m ON m.id = o.message_id WHERE o.id = ?`),
    advanceDelivery: db.prepare('UPDATE outbound SET delivery = ?, delivery_code = ?, notice_due = ?, updated_at = ? WHERE id = ?'),
    /** A line of an SMS's message's history (`smsrelay log`): each report that moved it, its sending proved by a report. */
    smsEvent: db.prepare('INSERT INTO events (at, message_id, sms_id, kind, detail) SELECT ?, message_id, id, ?, ? FROM outbound WHERE id = ?'),
    orphanReports: db.prepare('SELECT id, code, state, said FROM delivery_reports WHERE provider_id = ? AND number = ? AND sms_id IS NULL ORDER BY id'),
    adoptReport: db.prepare('UPDATE delivery_reports SET sms_id = ? WHERE id = ?'),
    expireOrphans: db.prepare('DELETE FROM delivery_reports WHERE sms_id IS NULL AND received_at < ? RETURNING provider'),
    dueNotices: db.prepare(`
      SELECT id, message_id, number, rcpt, notify, orcpt, delivery, delivery_code FROM outbound
      WHERE notice_due = 1 ORDER BY id ${sqliteLimit('?')}`),
    noticeDue: db.prepare('SELECT 1 FROM outbound WHERE id = ? AND notice_due = 1'),
    clearNotice: db.prepare('UPDATE outbound SET notice_due = 0 WHERE id = ?'),
  };
}

export type ReplyStatements = ReturnType<typeof prepareReplyStatements>;

/** The conversation rows of a newly accepted mail: one per number, its Message-ID findable again. */
export function recordConversation(sql: ReplyStatements, mail: NewMail, conversation: NewConversation, context: string): void {
  for (const recipient of mail.recipients) {
    sql.upsertConversation.run({
      context,
      number: recipient.number,
      mailbox: conversation.mailbox,
      subject: mail.subject ?? null,
      message_id_header: mail.messageIdHeader ?? null,
      message_id: mail.id,
      now: mail.receivedAt,
      continues: conversation.continues ? 1 : 0,
    });
    if (mail.messageIdHeader) sql.insertConversationMail.run(mail.messageIdHeader, recipient.number, context);
  }
}

export interface InboundRow {
  id: string;
  provider: string;
  provider_id: string;
  number: string;
  text: string;
  sent_at: string | null;
  user_context: string | null;
  received_at: number;
}

/** An undeliverable SMS's row with its last reply mail that failed, if any (UNDELIVERABLE_COLUMNS). */
export interface UndeliverableRow extends InboundRow {
  /** The conversation it was mailed under (inbound.context). */
  context: string | null;
  /** The failed mail's recipients, as mail_out keeps them (JSON). */
  refused_to: string | null;
  refused_error: string | null;
  /** TEXT_ERASED: 1 once store.retention erased its text (PostgreSQL's integer may come as a string). */
  text_erased: number | string;
}

/**
 * The id of the last reply mail of the received SMS `i` that was refused for good (`mail_out_message` finds it).
 * By max(id), not an ORDER BY: PostgreSQL would sort the SMS's mails for each row.
 */
export const LAST_REFUSED_REPLY_MAIL_ID = `(SELECT max(id) FROM mail_out WHERE message_id = i.id AND kind = 'reply' AND status = 'failed')`;

/**
 * The columns of an undeliverable SMS `i`, with the recipients and error of its last reply mail that
 * failed, one statement on both stores.
 */
export const UNDELIVERABLE_COLUMNS = `i.*, m.recipients AS refused_to, m.last_error AS refused_error, ${TEXT_ERASED} AS text_erased FROM inbound i
  LEFT JOIN mail_out m ON m.id = ${LAST_REFUSED_REPLY_MAIL_ID}`;

/** A refused reply mail's recipients (mail_out's JSON list) and the server's answer, as the console and the CLI name them. */
export function refusedMail(recipients: string, error: string | null): { mailbox: string; error: string } {
  return { mailbox: (JSON.parse(recipients) as string[]).join(', '), error: error ?? '' };
}

export function toUndeliverable(row: UndeliverableRow): UndeliverableInbound {
  const inbound = {
    id: row.id,
    provider: row.provider,
    providerId: row.provider_id,
    number: row.number,
    text: row.text,
    sentAt: row.sent_at ?? undefined,
    userContext: row.user_context ?? undefined,
    receivedAt: row.received_at,
  };
  const erased = Number(row.text_erased) === 1 ? { ...inbound, textErased: true as const } : inbound;
  const answered = row.context === null ? erased : { ...erased, context: row.context };
  if (row.refused_to === null) return answered;
  return { ...answered, refused: refusedMail(row.refused_to, row.refused_error) };
}

export function insertInbound(sql: ReplyStatements, inbound: NewInbound): boolean {
  const { changes } = sql.insertInbound.run({
    id: inbound.id,
    provider: inbound.provider,
    provider_id: inbound.providerId,
    number: inbound.number,
    text: inbound.text,
    sent_at: inbound.sentAt ?? null,
    user_context: inbound.userContext ?? null,
    received_at: inbound.receivedAt,
    mailbox: inbound.route?.mailbox ?? null,
    context: inbound.route?.context ?? null,
  });
  if (changes === 0) return false;
  if (inbound.optOut?.action === 'stop') sql.optOut.run(inbound.number, inbound.receivedAt, inbound.optOut.keyword);
  if (inbound.optOut?.action === 'start') {
    sql.optIn.run(inbound.number);
    sql.optedInAt.run(inbound.number, inbound.receivedAt);
  }
  const route = inbound.route;
  if (route?.context) {
    sql.touchConversation.run(inbound.receivedAt, route.context, inbound.number);
    sql.insertConversationMail.run(route.messageIdHeader, inbound.number, route.context);
  }
  return true;
}

/** What an `advanced` report result says of its SMS (DeliveryReportResult). */
export const advancedOf = (target: OutboundForReport) => ({
  smsId: target.id,
  messageId: target.message_id,
  gatewayAccount: target.gateway_account ?? undefined,
  sentAt: target.sent_at ?? undefined,
});

/**
 * Records a report and moves its SMS forward when it can; an early report waits for its SMS. A report of an SMS
 * still queued proves an attempt reached the gateway: one waiting to be sent again is recorded as sent now; one in
 * flight keeps the report as an orphan, and its attempt's outcome decides (sqlite.ts, recordSmsOutcomes): a send
 * answer adopts it as any early report, an attempt that ends without one records the SMS as sent and adopts it.
 */
export function applyReport(sql: ReplyStatements, report: NewDeliveryReport): DeliveryReportResult {
  const byId = (id: string) => sql.outboundForReport.get(id, report.number) as ReportedSms | undefined;
  const current = byId(report.providerId);
  const former = current === undefined && report.formerId !== undefined ? byId(report.formerId) : undefined;
  const byReference =
    current !== undefined || former !== undefined || report.messageId === undefined
      ? undefined
      : (sql.outboundOfMessage.get(report.messageId, report.number) as ReportedSms | undefined);
  const found = current ?? former ?? byReference;
  // Kept under the id that found its SMS, so that a repeat is one and no orphan is left under the other.
  const keptUnder = former ? (report.formerId ?? report.providerId) : report.providerId;
  const inFlight = found?.status === 'queued' && found.lease_owner !== null;
  if (inFlight) sql.reportedInFlight.run(keptUnder, report.trackingId ?? null, found.id);
  else if (found?.status === 'queued') {
    // Its report proves the attempt with no answer reached the gateway: sent, with the reports that came before this one.
    sql.sentByReport.run(keptUnder, report.trackingId ?? null, report.receivedAt, found.id);
    sql.smsEvent.run(report.receivedAt, 'sent', sentByReportDetail(keptUnder), found.id);
    adoptOrphans(sql, found.id, report.number, keptUnder, report.receivedAt);
  }
  const target = inFlight ? undefined : found;
  const { changes } = sql.insertReport.run({
    provider: report.provider,
    provider_id: keptUnder,
    number: report.number,
    code: report.code,
    state: report.state,
    said: report.said ?? null,
    received_at: report.receivedAt,
    sms_id: target?.id ?? null,
  });
  // The SMS it is about, when known: whose account sent it (DeliveryReportResult).
  const sms = target && { sms: { gatewayAccount: target.gateway_account ?? undefined } };
  if (changes === 0) return { kind: 'duplicate', ...sms };
  if (!target) return { kind: 'orphan' };
  if (advance(sql, target, report, report.receivedAt)) {
    return { kind: 'advanced', ...advancedOf(target) };
  }
  if (saysMore(target.delivery, report.state)) sql.smsEvent.run(report.receivedAt, 'delivery report', reportDetail(report), target.id);
  return { kind: 'stale', ...sms };
}

/** Reports that arrived before their SMS's send result, applied now that it is committed. */
export function adoptOrphans(sql: ReplyStatements, smsId: number, number: string, providerId: string, now: number): void {
  const orphans = sql.orphanReports.all(providerId, number) as Array<{ id: number; code: number; state: DeliveryState; said: string | null }>;
  for (const orphan of orphans) {
    sql.adoptReport.run(smsId, orphan.id);
    const target = sql.outboundById.get(smsId) as OutboundForReport;
    advance(sql, target, { ...orphan, said: orphan.said ?? undefined }, now);
  }
}

function advance(
  sql: ReplyStatements,
  target: OutboundForReport,
  report: { readonly state: DeliveryState; readonly code: number; readonly said?: string | undefined },
  now: number,
): boolean {
  const { state, code } = report;
  if (!isForward(target.delivery, state)) return false;
  const notify = target.notify === null ? undefined : target.notify.split(',');
  const due = wantsNotice(state, notify, target.report_all === 1);
  sql.advanceDelivery.run(state, code, due ? 1 : 0, now, target.id);
  sql.smsEvent.run(now, 'delivery report', reportDetail(report), target.id);
  return true;
}

export function toRecipient(row: { number: string; rcpt: string; notify: string | null; orcpt: string | null }): NewRecipient {
  return { number: row.number, rcpt: row.rcpt, notify: row.notify === null ? undefined : row.notify.split(','), orcpt: row.orcpt ?? undefined };
}
