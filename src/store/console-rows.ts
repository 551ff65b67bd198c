/**
 * The console's queries and row conversions, shared by the SQLite and PostgreSQL console stores
 * (same tables, same columns): each backend only runs them. SQL is written with `?` placeholders
 * (SQLite's own; PostgreSQL's store numbers them), so that both run the very same statement.
 */
import type {
  ActivityBucket,
  ConsoleAction,
  ConsoleSession,
  ConversationSummary,
  MessageDetail,
  MessageSearch,
  MessageSummary,
  ThreadCursor,
  ThreadItem,
  ThreadPage,
} from './console-types.ts';
import { SMS_STATUS } from './rows.ts';
import { LAST_REFUSED_REPLY_MAIL_ID, refusedMail, type UndeliverableRow } from './sqlite-replies.ts';

/** A column of the last reply mail of the received SMS `i` that was refused for good (UNDELIVERABLE_COLUMNS' mail). */
function lastRefusedReplyMail(column: 'recipients' | 'last_error'): string {
  return `(SELECT ${column} FROM mail_out WHERE id = ${LAST_REFUSED_REPLY_MAIL_ID})`;
}

/**
 * Rows looked at to list recent conversations: the newest traffic either way. Bounds the query (no
 * grouping over every SMS ever kept); an older number is opened by the page's number field.
 */
export const RECENT_TRAFFIC_ROWS = 500;

export interface MessageRow {
  id: string;
  received_at: number;
  envelope_from: string;
  text: string;
  duplicate_of: string | null;
}

export interface MessageDetailRow extends MessageRow {
  client_address: string;
  client_helo: string;
  subject: string | null;
  encoding: string;
  parts: number;
  sender_id: string | null;
  user_context: string | null;
  gateway_account: string | null;
  account: string | null;
  message_id_header: string | null;
}

export interface SessionRow {
  id: string;
  username: string;
  csrf: string;
  client: string;
  created_at: number;
  last_seen_at: number;
}

export interface ActionRow {
  at: number;
  username: string;
  client: string;
  action: string;
  target: string | null;
  detail: string | null;
}

export interface SmsRow {
  message_id: string;
  number: string;
  status: string;
  delivery: string | null;
}

export interface ActivityRow {
  slot: number;
  sent: number;
  delivered: number;
  failed: number;
}

export type TrafficRow = { id: number | string; number: string; at: number };
export type MailToRow = MessageRow & { sms_id: number; status: string; delivery: string | null };
export type ReplyRow = Pick<UndeliverableRow, 'id' | 'received_at' | 'text' | 'refused_to' | 'refused_error'> & { mailbox: string | null };

/**
 * A mail's state as people ask for it: one of its SMS's (a final delivery report wins over "sent"), or, for a
 * resubmission (the same mail sent again, kept without SMS of its own), that it is one.
 */
const STATUS_CONDITIONS: Readonly<Record<NonNullable<MessageSearch['status']>, string>> = {
  queued: "EXISTS (SELECT 1 FROM outbound o WHERE o.message_id = m.id AND o.status = 'queued')",
  sent: "EXISTS (SELECT 1 FROM outbound o WHERE o.message_id = m.id AND o.status = 'sent' AND (o.delivery IS NULL OR o.delivery NOT IN ('delivered', 'failed', 'expired')))",
  delivered: "EXISTS (SELECT 1 FROM outbound o WHERE o.message_id = m.id AND o.delivery = 'delivered')",
  failed: `EXISTS (SELECT 1 FROM outbound o WHERE o.message_id = m.id AND (${SMS_STATUS} IN ('failed', 'expired') OR o.delivery IN ('failed', 'expired')))`,
  deleted: `EXISTS (SELECT 1 FROM outbound o WHERE o.message_id = m.id AND ${SMS_STATUS} = 'deleted')`,
  resubmission: 'm.duplicate_of IS NOT NULL',
};

/** Every fixed statement of the console, by name. */
export const CONSOLE_SQL = {
  insertSession: 'INSERT INTO console_sessions (id, username, csrf, client, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?)',
  session: 'SELECT id, username, csrf, client, created_at, last_seen_at FROM console_sessions WHERE id = ?',
  touchSession: 'UPDATE console_sessions SET last_seen_at = ? WHERE id = ?',
  deleteSession: 'DELETE FROM console_sessions WHERE id = ?',
  expireSessions: 'DELETE FROM console_sessions WHERE last_seen_at < ? OR created_at < ?',
  insertAttempt: 'INSERT INTO console_login_failures (client, account, at, pending) VALUES (?, ?, ?, 1) RETURNING id',
  attemptFailed: 'UPDATE console_login_failures SET pending = NULL WHERE id = ?',
  forgetAttempt: 'DELETE FROM console_login_failures WHERE id = ?',
  failures: 'SELECT at FROM console_login_failures WHERE client = ? AND at >= ? AND pending IS NULL ORDER BY at',
  clearFailures: 'DELETE FROM console_login_failures WHERE client = ? AND account = ? AND pending IS NULL',
  insertAction: 'INSERT INTO console_actions (at, username, client, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)',
  insertEvent: 'INSERT INTO events (at, message_id, sms_id, kind, detail) VALUES (?, ?, NULL, ?, ?)',
  actions: 'SELECT at, username, client, action, target, detail FROM console_actions ORDER BY id DESC LIMIT ?',
  message: `
    SELECT id, received_at, envelope_from, text, client_address, client_helo, subject, encoding, parts, sender_id, user_context,
      gateway_account, account, duplicate_of, message_id_header
    FROM messages WHERE id = ?`,
  // Parameters: since, bucket, since (see activityValues). Grouped by the first column: the same slot expression. No
  // upper bound: what lies after the range (stamped before the clock stepped back) is toBuckets' to place.
  activity: `
    SELECT (at - ?) / ? AS slot,
      SUM(CASE WHEN kind = 'sent' THEN 1 ELSE 0 END) AS sent,
      SUM(CASE WHEN kind = 'delivery report' AND detail LIKE 'delivered%' THEN 1 ELSE 0 END) AS delivered,
      SUM(CASE WHEN kind IN ('failed', 'expired') OR (kind = 'delivery report' AND (detail LIKE 'failed%' OR detail LIKE 'expired%'))
        THEN 1 ELSE 0 END) AS failed
    FROM events WHERE at >= ? AND kind IN ('sent', 'failed', 'expired', 'delivery report')
    GROUP BY 1`,
  lastSmsError: "SELECT at, detail, kind FROM events WHERE kind IN ('deferred', 'failed', 'expired') AND detail IS NOT NULL ORDER BY at DESC LIMIT 1",
  lastSmsSent: "SELECT at FROM events WHERE kind = 'sent' ORDER BY at DESC LIMIT 1",
  lastMailError: "SELECT at, detail, kind FROM events WHERE kind IN ('mail deferred', 'mail failed') AND detail IS NOT NULL ORDER BY at DESC LIMIT 1",
  lastMailSent: "SELECT at FROM events WHERE kind = 'mail sent' ORDER BY at DESC LIMIT 1",
  recentOutbound: 'SELECT o.id, o.number, m.received_at AS at FROM outbound o JOIN messages m ON m.id = o.message_id ORDER BY o.id DESC LIMIT ?',
  recentInbound: 'SELECT id, number, received_at AS at FROM inbound ORDER BY received_at DESC LIMIT ?',
  outboundNumber: 'SELECT number FROM outbound WHERE id = ?',
  inboundNumber: 'SELECT number FROM inbound WHERE id = ?',
  // A thread's page, each kind on its own index from its own cursor (threadValues), merged by threadPage: a mail's time is
  // its message's, in another table, so an order by it would read every mail of the number (or every message) first.
  // Parameters: number, the last mail's SMS id, limit (outbound_number).
  mailsTo: `
    SELECT m.id, o.id AS sms_id, m.received_at, m.envelope_from, m.text, ${SMS_STATUS} AS status, o.delivery FROM outbound o JOIN messages m ON m.id = o.message_id
    WHERE o.number = ? AND o.id < ? ORDER BY o.id DESC LIMIT ?`,
  // Parameters: number, the last reply's time and id, limit (inbound_number_received, schema 29). With its last refused
  // reply mail (as the queue's list reads it): whom it was mailed to and what the server answered, each looked up for the
  // page's rows alone by mail_out_message (a join would be planned as a scan of mail_out on PostgreSQL).
  repliesFrom: `
    SELECT id, received_at, text, mailbox, ${lastRefusedReplyMail('recipients')} AS refused_to, ${lastRefusedReplyMail('last_error')} AS refused_error
    FROM inbound i WHERE number = ? AND (received_at, id) < (?, ?) ORDER BY received_at DESC, id DESC LIMIT ?`,
} as const;

export type ConsoleStatement = keyof typeof CONSOLE_SQL;

/** The activity statement's parameters, in the order of its placeholders. */
export function activityValues<T>(since: T, bucket: T): T[] {
  return [since, bucket, since];
}

/** LIKE's wildcards and its escape, each matched as itself once escaped (`ESCAPE '\\'`): a `%` or `_` typed is no wildcard. */
const LIKE_SPECIAL = /[\\%_]/g;

/**
 * What orders two mails stamped in the same ms in the index by Message-ID and time (messages_message_id, schema 38),
 * which each store built its own way: SQLite's rowid (its index holds it after the time), PostgreSQL's id (its third column).
 */
export type MessageIdTie = 'rowid' | 'id';

/**
 * The search as one statement with only the conditions asked for (each can use its index), and its
 * values. Newest first: by id (a UUIDv7, time-ordered), but a search by Message-ID by time then `tie`, the order of its
 * index, so that a Message-ID under which a device sent 100,000 mails is read a page at a time, never sorted whole;
 * its next page goes on from the time and `tie` of the page before's last mail (`before`). A sender is compared without case, by the index messages_sender_lower (schema 35: the sender folded by the
 * store's lower(), ASCII letters alone on SQLite, on PostgreSQL as the database's LC_CTYPE folds: every letter under a
 * UTF-8 locale, ASCII alone under C). The typed text is folded two ways and either may match: by that lower() as it is
 * typed (a sender is always found as listed, its capitals lower() keeps, `JÖRG@` on SQLite, as written), and by that
 * lower() after JavaScript's toLowerCase, which folds every letter (a sender stored in lower case is found typed as a
 * name is written, `MÜLLER@` finding `müller@`). Both are values of the index's expression, so it is still read.
 */
export function searchStatement(search: MessageSearch, limit: number, tie: MessageIdTie): { sql: string; values: Array<string | number> } {
  const conditions: string[] = [];
  const values: Array<string | number> = [];
  const add = (condition: string, value: string | number | undefined) => {
    if (value === undefined) return;
    conditions.push(condition);
    values.push(value);
  };
  const byMessageId = search.messageIdHeader !== undefined;
  if (byMessageId && search.before !== undefined) {
    // The time bound alone is the index's range; the pair orders the mails of the page before's last mail's ms.
    conditions.push(
      `m.received_at <= (SELECT received_at FROM messages WHERE id = ?) AND (m.received_at, m.${tie}) < (SELECT received_at, ${tie} FROM messages WHERE id = ?)`,
    );
    values.push(search.before, search.before);
  } else add('m.id < ?', search.before);
  add('m.id = ?', search.messageId);
  add('m.message_id_header = ?', search.messageIdHeader);
  const sender = search.sender;
  if (sender !== undefined) {
    const domain = sender.startsWith('@');
    conditions.push(
      domain
        ? "(lower(m.envelope_from) LIKE lower(?) ESCAPE '\\' OR lower(m.envelope_from) LIKE lower(?) ESCAPE '\\')"
        : 'lower(m.envelope_from) IN (lower(?), lower(?))',
    );
    for (const typed of [sender, sender.toLowerCase()]) values.push(domain ? `%${typed.replace(LIKE_SPECIAL, '\\$&')}` : typed);
  }
  add('m.received_at >= ?', search.since);
  add('m.received_at < ?', search.until);
  // A resubmission has no SMS of its own: it is to its original's numbers, and found by them.
  if (search.number !== undefined) {
    conditions.push('(m.id IN (SELECT message_id FROM outbound WHERE number = ?) OR m.duplicate_of IN (SELECT message_id FROM outbound WHERE number = ?))');
    values.push(search.number, search.number);
  }
  if (search.status) conditions.push(STATUS_CONDITIONS[search.status]);
  values.push(limit);
  const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
  const order = byMessageId ? `m.received_at DESC, m.${tie} DESC` : 'm.id DESC';
  return { sql: `SELECT m.id, m.received_at, m.envelope_from, m.text, m.duplicate_of FROM messages m ${where} ORDER BY ${order} LIMIT ?`, values };
}

/** The messages whose SMS a page of mails shows: each mail's own, a resubmission's original's. */
export function smsHolders(rows: readonly MessageRow[]): string[] {
  return [...new Set(rows.map((row) => row.duplicate_of ?? row.id))];
}

/** The SMS of a page of mails (one query for the page), of `count` messages (smsHolders). */
export function smsOfStatement(count: number): string {
  return `SELECT o.message_id, o.number, ${SMS_STATUS} AS status, o.delivery FROM outbound o WHERE o.message_id IN (${Array.from({ length: count }, () => '?').join(', ')}) ORDER BY id`;
}

export function toSession(row: SessionRow): ConsoleSession {
  return { id: row.id, username: row.username, csrf: row.csrf, client: row.client, createdAt: row.created_at, lastSeenAt: row.last_seen_at };
}

export function toAction(row: ActionRow): ConsoleAction {
  return { ...row, target: row.target ?? undefined, detail: row.detail ?? undefined };
}

/** Each mail with its numbers and their states; a resubmission with its original's numbers and no state of its own (it sent nothing). */
export function toSummaries(rows: readonly MessageRow[], sms: readonly SmsRow[]): MessageSummary[] {
  return rows.map((row) => {
    const own = sms.filter((item) => item.message_id === (row.duplicate_of ?? row.id));
    return {
      id: row.id,
      receivedAt: row.received_at,
      envelopeFrom: row.envelope_from,
      text: row.text,
      numbers: own.map((item) => item.number),
      statuses: row.duplicate_of === null ? own.map((item) => item.delivery ?? item.status) : [],
      duplicateOf: row.duplicate_of ?? undefined,
    };
  });
}

export function toDetail(row: MessageDetailRow, summary: MessageSummary): MessageDetail {
  return {
    ...summary,
    client: { address: row.client_address, helo: row.client_helo },
    subject: row.subject ?? undefined,
    encoding: row.encoding,
    parts: row.parts,
    senderId: row.sender_id ?? undefined,
    userContext: row.user_context ?? undefined,
    gatewayAccount: row.gateway_account ?? undefined,
    // A mail accepted before schema 32 (or by an older relay) names its account only when that account has gateway credentials of its own.
    account: row.account ?? row.gateway_account ?? undefined,
    messageIdHeader: row.message_id_header ?? undefined,
    // A mail is never accepted without text: an empty one was erased by store.retention.
    erased: row.text === '',
  };
}

/** Every bucket from `since` to `until`, empty ones too, with the counted slots filled in. */
export function toBuckets(rows: readonly ActivityRow[], since: number, until: number, bucketMs: number): ActivityBucket[] {
  const buckets = Array.from({ length: Math.ceil((until - since) / bucketMs) }, (_, slot) => ({
    at: since + slot * bucketMs,
    sent: 0,
    delivered: 0,
    failed: 0,
  }));
  for (const row of rows) {
    // After the range (its end is now's bucket): stamped on a wall clock that has stepped back since, so it happened
    // before now; counted in the latest bucket, not dropped until the clock catches up with its stamp.
    const bucket = buckets[Math.min(Number(row.slot), buckets.length - 1)];
    if (!bucket) continue;
    bucket.sent += Number(row.sent);
    bucket.delivered += Number(row.delivered);
    bucket.failed += Number(row.failed);
  }
  return buckets;
}

/** The latest traffic per number, newest first, from the newest outbound and inbound rows. */
export function toConversations(outbound: readonly TrafficRow[], inbound: readonly TrafficRow[]): ConversationSummary[] {
  // A total order (time, then reference): the same rows list alike every time, so a page can start after any entry.
  const traffic = [...outbound.map((row) => ({ ...row, ref: `o${row.id}` })), ...inbound.map((row) => ({ ...row, ref: `i${row.id}` }))].sort(
    (a, b) => b.at - a.at || (a.ref < b.ref ? -1 : 1),
  );
  const latest = new Map<string, ConversationSummary>();
  for (const row of traffic) if (!latest.has(row.number)) latest.set(row.number, { ref: row.ref, number: row.number, lastAt: row.at });
  return [...latest.values()];
}

/** A reference's kind and id, when it is one (`o<number>` or `i<id>`). */
export function parseRef(ref: string): { kind: 'outbound'; id: number } | { kind: 'inbound'; id: string } | undefined {
  const id = ref.slice(1);
  if (ref.charAt(0) === 'o' && /^\d+$/.test(id)) return { kind: 'outbound', id: Number(id) };
  if (ref.charAt(0) === 'i') return { kind: 'inbound', id };
  return undefined;
}

/**
 * A reply as a thread shows it: the mailbox it was mailed to, or, with none (undeliverable), the one its last mail was
 * refused by and the server's answer when it was mailed (a reply that never had a mailbox has neither).
 */
function replyItem(row: ReplyRow): ThreadItem {
  const item = { kind: 'reply' as const, at: row.received_at, id: row.id, text: row.text };
  if (row.mailbox !== null) return { ...item, mailbox: row.mailbox };
  if (row.refused_to === null) return { ...item, mailbox: undefined };
  return { ...item, mailbox: undefined, refused: refusedMail(row.refused_to, row.refused_error) };
}

/** The cursors of a thread's page after `after` (none: from the newest), as mailsTo's and repliesFrom's parameters. */
export function threadValues(after: ThreadCursor | undefined): { mail: [number]; reply: [number, string] } {
  return {
    mail: [after?.mail ?? Number.MAX_SAFE_INTEGER],
    // Below the largest time every reply is older, whatever its id.
    reply: after?.reply ? [after.reply.at, after.reply.id] : [Number.MAX_SAFE_INTEGER, ''],
  };
}

/**
 * A thread's page of at most `limit` items after `after`, from the next `limit + 1` mails (by SMS id, highest first) and
 * replies (by time and id, newest first), merged newest first (at one time, the reply first): each kind is read in its
 * own order and the page ends where it ends, so every item shows once, whatever the pages. `next` carries both kinds'
 * last items shown (a kind none was shown of keeps its cursor); undefined when nothing is left.
 */
export function threadPage(mails: readonly MailToRow[], replies: readonly ReplyRow[], limit: number, after: ThreadCursor | undefined): ThreadPage {
  const items: ThreadItem[] = [];
  let cursor: ThreadCursor = { mail: after?.mail, reply: after?.reply };
  let [mail, reply] = [0, 0];
  while (items.length < limit) {
    const nextMail = mails[mail];
    const nextReply = replies[reply];
    if (nextReply && (!nextMail || nextReply.received_at >= nextMail.received_at)) {
      items.push(replyItem(nextReply));
      cursor = { ...cursor, reply: { at: nextReply.received_at, id: nextReply.id } };
      reply += 1;
    } else if (nextMail) {
      const status = nextMail.delivery ?? nextMail.status;
      items.push({ kind: 'mail', at: nextMail.received_at, id: nextMail.id, from: nextMail.envelope_from, text: nextMail.text, status });
      cursor = { ...cursor, mail: nextMail.sms_id };
      mail += 1;
    } else break;
  }
  return { items, next: mail < mails.length || reply < replies.length ? cursor : undefined };
}
