import BetterSqlite3, { type Database, type Statement } from 'better-sqlite3';
import type {
  ActivityBucket,
  ConsoleAction,
  ConsoleSession,
  ConsoleStore,
  ConversationSummary,
  MessageDetail,
  MessageSearch,
  MessageSummary,
  ThreadItem,
  TimedDetail,
} from './console-types.ts';

/** Rows looked at to list recent conversations: the newest traffic either way, enough for a page. */
const RECENT_TRAFFIC_ROWS = 500;

interface MessageRow {
  id: string;
  received_at: number;
  envelope_from: string;
  text: string;
}

/** An SMS's state as people ask for it: a final delivery report wins over "sent". */
const STATUS_CONDITIONS: Readonly<Record<NonNullable<MessageSearch['status']>, string>> = {
  queued: "o.status = 'queued'",
  sent: "o.status = 'sent' AND (o.delivery IS NULL OR o.delivery NOT IN ('delivered', 'failed', 'expired'))",
  delivered: "o.delivery = 'delivered'",
  failed: "(o.status IN ('failed', 'expired') OR o.delivery IN ('failed', 'expired'))",
};

/**
 * The console's store on SQLite: its own two connections to the relay's store file, apart from the
 * store thread's. Reads use a read-only one (WAL readers never wait for the writer); the console's
 * few writes (a sign-in, an audit line) use the other, each one short transaction. Queries are
 * bounded by their caller's limit and served by indexes (migration 10).
 */
export class SqliteConsoleStore implements ConsoleStore {
  readonly #read: Database;
  readonly #write: Database;
  readonly #searches = new Map<string, Statement>();
  readonly #sql: ReturnType<typeof prepare>;

  private constructor(read: Database, write: Database) {
    this.#read = read;
    this.#write = write;
    this.#sql = prepare(read, write);
  }

  /** Opens the store file the relay has already created and migrated. */
  static open(file: string, busyTimeoutMs: number): SqliteConsoleStore {
    const read = new BetterSqlite3(file, { readonly: true, fileMustExist: true, timeout: busyTimeoutMs });
    const write = new BetterSqlite3(file, { fileMustExist: true, timeout: busyTimeoutMs });
    write.pragma('synchronous = FULL');
    return new SqliteConsoleStore(read, write);
  }

  async createSession(session: ConsoleSession): Promise<void> {
    this.#sql.insertSession.run(session.id, session.username, session.csrf, session.client, session.createdAt, session.lastSeenAt);
  }

  async session(id: string): Promise<ConsoleSession | undefined> {
    const row = this.#sql.session.get(id) as
      | { id: string; username: string; csrf: string; client: string; created_at: number; last_seen_at: number }
      | undefined;
    return row && { id: row.id, username: row.username, csrf: row.csrf, client: row.client, createdAt: row.created_at, lastSeenAt: row.last_seen_at };
  }

  async touchSession(id: string, at: number): Promise<void> {
    this.#sql.touchSession.run(at, id);
  }

  async deleteSession(id: string): Promise<void> {
    this.#sql.deleteSession.run(id);
  }

  async expireSessions(idleBefore: number, createdBefore: number): Promise<number> {
    return this.#sql.expireSessions.run(idleBefore, createdBefore).changes;
  }

  async recordLoginFailure(client: string, at: number): Promise<void> {
    this.#sql.insertFailure.run(client, at);
  }

  async loginFailures(client: string, since: number): Promise<number[]> {
    return (this.#sql.failures.all(client, since) as Array<{ at: number }>).map((row) => row.at);
  }

  async clearLoginFailures(client: string): Promise<void> {
    this.#sql.clearFailures.run(client);
  }

  async recordAction(action: ConsoleAction): Promise<void> {
    this.#write.transaction(() => {
      this.#sql.insertAction.run(action.at, action.username, action.client, action.action, action.target ?? null, action.detail ?? null);
      if (action.messageId) {
        this.#sql.insertEvent.run(action.at, action.messageId, `console ${action.action}`, `by ${action.username} from ${action.client}`);
      }
    })();
  }

  async recentActions(limit: number): Promise<ConsoleAction[]> {
    const rows = this.#sql.actions.all(limit) as Array<{
      at: number;
      username: string;
      client: string;
      action: string;
      target: string | null;
      detail: string | null;
    }>;
    return rows.map((row) => ({ ...row, target: row.target ?? undefined, detail: row.detail ?? undefined }));
  }

  async searchMessages(search: MessageSearch, limit: number): Promise<MessageSummary[]> {
    const conditions: string[] = [];
    const values: Record<string, string | number> = { limit };
    const add = (condition: string, name: string, value: string | number | undefined) => {
      if (value === undefined) return;
      conditions.push(condition);
      values[name] = value;
    };
    add('m.id < @before', 'before', search.before);
    add('m.id = @id', 'id', search.messageId);
    if (search.sender?.startsWith('@')) add('m.envelope_from LIKE @sender', 'sender', `%${search.sender}`);
    else add('m.envelope_from = @sender', 'sender', search.sender);
    add('m.received_at >= @since', 'since', search.since);
    add('m.received_at < @until', 'until', search.until);
    add('m.id IN (SELECT message_id FROM outbound WHERE number = @number)', 'number', search.number);
    if (search.status) conditions.push(`EXISTS (SELECT 1 FROM outbound o WHERE o.message_id = m.id AND ${STATUS_CONDITIONS[search.status]})`);
    // One prepared statement per shape of search: only the conditions asked for, so each can use its index.
    const sql = `SELECT m.id, m.received_at, m.envelope_from, m.text FROM messages m ${
      conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : ''
    } ORDER BY m.id DESC LIMIT @limit`;
    let statement = this.#searches.get(sql);
    if (!statement) {
      statement = this.#read.prepare(sql);
      this.#searches.set(sql, statement);
    }
    const rows = statement.all(values) as MessageRow[];
    return this.#withSms(rows);
  }

  async message(id: string): Promise<MessageDetail | undefined> {
    const row = this.#sql.message.get(id) as
      | (MessageRow & {
          client_address: string;
          client_helo: string;
          subject: string | null;
          encoding: string;
          parts: number;
          sender_id: string | null;
          user_context: string | null;
          gateway_account: string | null;
          duplicate_of: string | null;
        })
      | undefined;
    if (!row) return undefined;
    const [summary] = this.#withSms([row]);
    return {
      ...(summary as MessageSummary),
      client: { address: row.client_address, helo: row.client_helo },
      subject: row.subject ?? undefined,
      encoding: row.encoding,
      parts: row.parts,
      senderId: row.sender_id ?? undefined,
      userContext: row.user_context ?? undefined,
      gatewayAccount: row.gateway_account ?? undefined,
      duplicateOf: row.duplicate_of ?? undefined,
      // A mail is never accepted without text: an empty one was erased by store.retention.
      erased: row.text === '',
    };
  }

  async activity(since: number, until: number, bucketMs: number): Promise<ActivityBucket[]> {
    // Bound as integers (BigInt), so the division is whole and each bucket is one group.
    const rows = this.#sql.activity.all({ since: BigInt(since), until: BigInt(until), bucket: BigInt(bucketMs) }) as Array<{
      slot: number;
      sent: number;
      delivered: number;
      failed: number;
    }>;
    const buckets = Array.from({ length: Math.ceil((until - since) / bucketMs) }, (_, slot) => ({
      at: since + slot * bucketMs,
      sent: 0,
      delivered: 0,
      failed: 0,
    }));
    for (const row of rows) {
      const bucket = buckets[row.slot];
      if (!bucket) continue;
      bucket.sent += row.sent;
      bucket.delivered += row.delivered;
      bucket.failed += row.failed;
    }
    return buckets;
  }

  async gatewayActivity(): Promise<{ readonly lastError: TimedDetail | undefined; readonly lastSent: number | undefined }> {
    return { lastError: this.#sql.lastSmsError.get() as TimedDetail | undefined, lastSent: (this.#sql.lastSmsSent.get() as { at: number } | undefined)?.at };
  }

  async mailActivity(): Promise<{ readonly lastError: TimedDetail | undefined; readonly lastSent: number | undefined }> {
    return { lastError: this.#sql.lastMailError.get() as TimedDetail | undefined, lastSent: (this.#sql.lastMailSent.get() as { at: number } | undefined)?.at };
  }

  async conversations(limit: number): Promise<ConversationSummary[]> {
    const traffic = [
      ...(this.#sql.recentOutbound.all(RECENT_TRAFFIC_ROWS) as Array<{ id: number; number: string; at: number }>).map((row) => ({ ...row, ref: `o${row.id}` })),
      ...(this.#sql.recentInbound.all(RECENT_TRAFFIC_ROWS) as Array<{ id: string; number: string; at: number }>).map((row) => ({ ...row, ref: `i${row.id}` })),
    ].sort((a, b) => b.at - a.at);
    const latest = new Map<string, ConversationSummary>();
    for (const row of traffic) if (!latest.has(row.number)) latest.set(row.number, { ref: row.ref, number: row.number, lastAt: row.at });
    return [...latest.values()].slice(0, limit);
  }

  async numberOfRef(ref: string): Promise<string | undefined> {
    const kind = ref.charAt(0);
    const id = ref.slice(1);
    if (kind === 'o' && /^\d+$/.test(id)) return (this.#sql.outboundNumber.get(Number(id)) as { number: string } | undefined)?.number;
    if (kind === 'i') return (this.#sql.inboundNumber.get(id) as { number: string } | undefined)?.number;
    return undefined;
  }

  async thread(number: string, limit: number): Promise<ThreadItem[]> {
    const mails = this.#sql.mailsTo.all(number, limit) as Array<MessageRow & { status: string; delivery: string | null }>;
    const replies = this.#sql.repliesFrom.all(number, limit) as Array<{ id: string; received_at: number; text: string; mailbox: string | null }>;
    return [
      ...mails.map((row) => ({
        kind: 'mail' as const,
        at: row.received_at,
        id: row.id,
        from: row.envelope_from,
        text: row.text,
        status: row.delivery ?? row.status,
      })),
      ...replies.map((row) => ({ kind: 'reply' as const, at: row.received_at, id: row.id, text: row.text, mailbox: row.mailbox ?? undefined })),
    ].sort((a, b) => b.at - a.at);
  }

  async close(): Promise<void> {
    this.#read.close();
    this.#write.close();
  }

  /** Each mail with its numbers and their states (one query for the page). */
  #withSms(rows: readonly MessageRow[]): MessageSummary[] {
    if (rows.length === 0) return [];
    const sms = this.#read
      .prepare(`SELECT message_id, number, status, delivery FROM outbound WHERE message_id IN (${rows.map(() => '?').join(', ')}) ORDER BY id`)
      .all(...rows.map((row) => row.id)) as Array<{ message_id: string; number: string; status: string; delivery: string | null }>;
    return rows.map((row) => {
      const own = sms.filter((item) => item.message_id === row.id);
      return {
        id: row.id,
        receivedAt: row.received_at,
        envelopeFrom: row.envelope_from,
        text: row.text,
        numbers: own.map((item) => item.number),
        statuses: own.map((item) => item.delivery ?? item.status),
      };
    });
  }
}

function prepare(read: Database, write: Database) {
  return {
    insertSession: write.prepare('INSERT INTO console_sessions (id, username, csrf, client, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?)'),
    session: read.prepare('SELECT id, username, csrf, client, created_at, last_seen_at FROM console_sessions WHERE id = ?'),
    touchSession: write.prepare('UPDATE console_sessions SET last_seen_at = ? WHERE id = ?'),
    deleteSession: write.prepare('DELETE FROM console_sessions WHERE id = ?'),
    expireSessions: write.prepare('DELETE FROM console_sessions WHERE last_seen_at < ? OR created_at < ?'),
    insertFailure: write.prepare('INSERT INTO console_login_failures (client, at) VALUES (?, ?)'),
    failures: read.prepare('SELECT at FROM console_login_failures WHERE client = ? AND at >= ? ORDER BY at'),
    clearFailures: write.prepare('DELETE FROM console_login_failures WHERE client = ?'),
    insertAction: write.prepare('INSERT INTO console_actions (at, username, client, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)'),
    insertEvent: write.prepare('INSERT INTO events (at, message_id, sms_id, kind, detail) VALUES (?, ?, NULL, ?, ?)'),
    actions: read.prepare('SELECT at, username, client, action, target, detail FROM console_actions ORDER BY id DESC LIMIT ?'),
    message: read.prepare(`
      SELECT id, received_at, envelope_from, text, client_address, client_helo, subject, encoding, parts, sender_id, user_context,
        gateway_account, duplicate_of
      FROM messages WHERE id = ?`),
    activity: read.prepare(`
      SELECT (at - @since) / @bucket AS slot,
        SUM(CASE WHEN kind = 'sent' THEN 1 ELSE 0 END) AS sent,
        SUM(CASE WHEN kind = 'delivery report' AND detail LIKE 'delivered%' THEN 1 ELSE 0 END) AS delivered,
        SUM(CASE WHEN kind IN ('failed', 'expired') OR (kind = 'delivery report' AND (detail LIKE 'failed%' OR detail LIKE 'expired%'))
          THEN 1 ELSE 0 END) AS failed
      FROM events WHERE at >= @since AND at < @until AND kind IN ('sent', 'failed', 'expired', 'delivery report')
      GROUP BY (at - @since) / @bucket`),
    lastSmsError: read.prepare("SELECT at, detail FROM events WHERE kind IN ('deferred', 'failed', 'expired') AND detail IS NOT NULL ORDER BY at DESC LIMIT 1"),
    lastSmsSent: read.prepare("SELECT at FROM events WHERE kind = 'sent' ORDER BY at DESC LIMIT 1"),
    lastMailError: read.prepare("SELECT at, detail FROM events WHERE kind IN ('mail deferred', 'mail failed') AND detail IS NOT NULL ORDER BY at DESC LIMIT 1"),
    lastMailSent: read.prepare("SELECT at FROM events WHERE kind = 'mail sent' ORDER BY at DESC LIMIT 1"),
    recentOutbound: read.prepare(
      'SELECT o.id, o.number, m.received_at AS at FROM outbound o JOIN messages m ON m.id = o.message_id ORDER BY o.id DESC LIMIT ?',
    ),
    recentInbound: read.prepare('SELECT id, number, received_at AS at FROM inbound ORDER BY received_at DESC LIMIT ?'),
    outboundNumber: read.prepare('SELECT number FROM outbound WHERE id = ?'),
    inboundNumber: read.prepare('SELECT number FROM inbound WHERE id = ?'),
    mailsTo: read.prepare(`
      SELECT m.id, m.received_at, m.envelope_from, m.text, o.status, o.delivery FROM outbound o JOIN messages m ON m.id = o.message_id
      WHERE o.number = ? ORDER BY o.id DESC LIMIT ?`),
    repliesFrom: read.prepare('SELECT id, received_at, text, mailbox FROM inbound WHERE number = ? ORDER BY received_at DESC LIMIT ?'),
  };
}
