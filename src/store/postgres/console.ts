/**
 * ConsoleStore on PostgreSQL (src/store/console-types.ts): the same statements and conversions as
 * SQLite's (console-rows.ts), on two small pools of its own apart from the relay's. Searches and
 * pages read on read-only connections (`default_transaction_read_only`), so that a person paging
 * through results never holds one of the connections the relay commits mail on; the console's few
 * writes (a sign-in, a session touch, an audit line) take one connection of their own.
 */
import { SilenceWatch } from './silence-watch.ts';
import pg from 'pg';
import {
  type ActionRow,
  type ActivityRow,
  activityValues,
  CONSOLE_SQL,
  type ConsoleStatement,
  type MailToRow,
  type MessageDetailRow,
  type MessageRow,
  parseRef,
  RECENT_TRAFFIC_ROWS,
  type ReplyRow,
  type SessionRow,
  type SmsRow,
  searchStatement,
  smsHolders,
  smsOfStatement,
  type TrafficRow,
  toAction,
  toBuckets,
  toConversations,
  toDetail,
  toSession,
  toSummaries,
  threadPage,
  threadValues,
} from '../console-rows.ts';
import type {
  ActivityBucket,
  ConsoleAction,
  ConsoleSession,
  ConsoleStore,
  ConversationSummary,
  MessageDetail,
  RelayReads,
  MessageSearch,
  MessageSummary,
  ThreadCursor,
  ThreadPage,
  TimedDetail,
} from '../console-types.ts';
import type { RelayError } from '../../errors.ts';
import { asStoreError } from '../rows.ts';
import { databaseUrl } from './url.ts';
import { PostgresReads } from './reads.ts';
import { DatabaseClock, type Query } from './shared-state.ts';

/** Read connections: two people's pages at once; a third waits its turn rather than take from the relay. */
export const CONSOLE_READ_CONNECTIONS = 2;
/**
 * A console read running longer than this is cancelled by the server: every page's query is bounded
 * and indexed and takes milliseconds, so one this slow is a fault, and it must not hold a connection.
 */
const CONSOLE_QUERY_TIMEOUT_MS = 10_000;
/**
 * The longest a console read waits for a lock another session holds (a VACUUM FULL, a migration, an admin's open
 * transaction): the relay's own locks last milliseconds, so a wait this long is such a holder, and the page is answered
 * STORE_BUSY ("try again in a moment") at once rather than after the read's whole timeout as "unavailable"; well under
 * CONSOLE_QUERY_TIMEOUT_MS, so a lock wait ends as one (55P03), never as a slow read. Reads only: a write may be the
 * audit of an action already done on the relay's store, which must be kept, so it waits for the lock as long as it is held.
 */
const CONSOLE_LOCK_TIMEOUT_MS = 3_000;
/**
 * The console's waits ended by the server: a lock held past CONSOLE_LOCK_TIMEOUT_MS or, for a write, the server's own
 * lock_timeout (lock_not_available), or a read past CONSOLE_QUERY_TIMEOUT_MS (query_canceled). The database answered,
 * another session's work held it up: the store is busy, not unavailable (the relay's store, which sets neither, maps
 * these as before).
 */
const CONSOLE_WAIT_ENDED = new Set(['55P03', '57014']);
/**
 * pg-pool's words, and its only use of them, for a statement that waited CONNECT_TIMEOUT_MS for one of the pool's
 * connections while every one was busy (a connection that itself fails to connect in time is "Connection terminated
 * due to connection timeout"): the console's own connections are taken, by reads waiting behind another session's
 * lock, while the database answers and the relay may well take mail.
 */
const POOL_WAIT_ENDED = 'timeout exceeded when trying to connect';
/**
 * A console statement's failure as the relay's error: STORE_BUSY when the server ended one of the console's waits or
 * no console connection came free in time, else as for the relay's store.
 */
function consoleStoreError(error: unknown): RelayError {
  const waitEnded = CONSOLE_WAIT_ENDED.has(String((error as { code?: unknown }).code)) || (error instanceof Error && error.message === POOL_WAIT_ENDED);
  return asStoreError(error, waitEnded ? 'STORE_BUSY' : undefined);
}
/** One connection for the console's writes: each is a single short statement or transaction. */
const CONSOLE_WRITE_CONNECTIONS = 1;
/** PostgreSQL's int8 (ids, counts, ms timestamps) as a JS number: every value stored is far below 2^53. */
const INT8_OID = 20;

/** `?` placeholders as PostgreSQL's `$1, $2, …` (the console's SQL holds no `?` in a literal). */
function numbered(sql: string): string {
  let index = 0;
  return sql.replace(/\?/g, () => `$${++index}`);
}

const STATEMENTS = Object.fromEntries(Object.entries(CONSOLE_SQL).map(([name, sql]) => [name, numbered(sql)])) as Record<ConsoleStatement, string>;

export class PostgresConsoleStore implements ConsoleStore {
  readonly #read: pg.Pool;
  readonly #write: pg.Pool;
  readonly #silence: SilenceWatch;
  /** The relay's tables read on the console's read pool, with its lock and statement bounds (STORE_BUSY past them). */
  readonly #relayReads: PostgresReads;

  private constructor(read: pg.Pool, write: pg.Pool, silence: SilenceWatch) {
    this.#read = read;
    this.#write = write;
    this.#silence = silence;
    const query: Query = async <R extends pg.QueryResultRow>(sql: string, values: readonly unknown[]) => (await this.#query<R>(read, sql, values)).rows;
    this.#relayReads = new PostgresReads(query, new DatabaseClock());
  }

  /** Pools on the relay's database (`store.url`), which the relay's store has already migrated. Connects lazily. */
  static open(url: string): PostgresConsoleStore {
    const { pool } = databaseUrl(url);
    const types = { getTypeParser: (oid: number, format?: 'text' | 'binary') => (oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format)) };
    // A database gone silent: the console's statements fail (503) instead of waiting for TCP to give up.
    // It has no health of its own to report: the relay's store reports the same database's.
    const silence = new SilenceWatch({ connection: pool, onSilent: () => undefined });
    const make = (max: number, options: string | undefined) => {
      const created = new pg.Pool({ ...pool, max, types, application_name: 'smsrelay console', ...(options ? { options } : {}) } as pg.PoolConfig);
      // An idle connection the server dropped: the next query opens another (and fails, answered as 503, while it cannot).
      created.on('error', () => undefined);
      created.on('connect', (client) => {
        client.on('error', () => undefined);
        silence.watch(client);
      });
      return created;
    };
    return new PostgresConsoleStore(
      make(
        CONSOLE_READ_CONNECTIONS,
        `-c default_transaction_read_only=on -c statement_timeout=${CONSOLE_QUERY_TIMEOUT_MS} -c lock_timeout=${CONSOLE_LOCK_TIMEOUT_MS}`,
      ),
      make(CONSOLE_WRITE_CONNECTIONS, undefined),
      silence,
    );
  }

  /** One statement; a database that cannot answer is STORE_UNAVAILABLE (503), as for the relay's store. */
  async #query<R extends pg.QueryResultRow>(pool: pg.Pool, sql: string, values: readonly unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await pool.query<R>(sql, values as unknown[]);
    } catch (error) {
      throw consoleStoreError(error);
    }
  }

  async #rows<R extends pg.QueryResultRow>(name: ConsoleStatement, values: readonly unknown[]): Promise<R[]> {
    return (await this.#query<R>(this.#read, STATEMENTS[name], values)).rows;
  }

  async #run(name: ConsoleStatement, values: readonly unknown[]): Promise<number> {
    return (await this.#query(this.#write, STATEMENTS[name], values)).rowCount ?? 0;
  }

  async createSession(session: ConsoleSession): Promise<void> {
    await this.#run('insertSession', [session.id, session.username, session.csrf, session.client, session.createdAt, session.lastSeenAt]);
  }

  async session(id: string): Promise<ConsoleSession | undefined> {
    const [row] = await this.#rows<SessionRow>('session', [id]);
    return row && toSession(row);
  }

  async touchSession(id: string, at: number): Promise<void> {
    await this.#run('touchSession', [at, id]);
  }

  async deleteSession(id: string): Promise<void> {
    await this.#run('deleteSession', [id]);
  }

  expireSessions(idleBefore: number, createdBefore: number): Promise<number> {
    return this.#run('expireSessions', [idleBefore, createdBefore]);
  }

  async recordLoginAttempt(client: string, account: string, at: number): Promise<number> {
    const [row] = (await this.#query<{ id: number }>(this.#write, STATEMENTS.insertAttempt, [client, account, at])).rows;
    return row?.id ?? 0;
  }

  async loginAttemptFailed(id: number): Promise<void> {
    await this.#run('attemptFailed', [id]);
  }

  async forgetLoginAttempt(id: number): Promise<void> {
    await this.#run('forgetAttempt', [id]);
  }

  async loginFailures(client: string, since: number): Promise<number[]> {
    return (await this.#rows<{ at: number }>('failures', [client, since])).map((row) => row.at);
  }

  async clearLoginFailures(client: string, account: string): Promise<void> {
    await this.#run('clearFailures', [client, account]);
  }

  async recordAction(action: ConsoleAction): Promise<void> {
    const client = await this.#write.connect().catch((error: unknown) => {
      throw consoleStoreError(error);
    });
    try {
      await client.query('BEGIN');
      await client.query(STATEMENTS.insertAction, [action.at, action.username, action.client, action.action, action.target ?? null, action.detail ?? null]);
      if (action.messageId) {
        await client.query(STATEMENTS.insertEvent, [action.at, action.messageId, `console ${action.action}`, `by ${action.username} from ${action.client}`]);
      }
      await client.query('COMMIT');
      client.release();
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      // A connection that failed mid-transaction is not given back to the pool.
      client.release(true);
      throw consoleStoreError(error);
    }
  }

  async recentActions(limit: number): Promise<ConsoleAction[]> {
    return (await this.#rows<ActionRow>('actions', [limit])).map(toAction);
  }

  async searchMessages(search: MessageSearch, limit: number): Promise<MessageSummary[]> {
    const { sql, values } = searchStatement(search, limit, 'id');
    return this.#withSms((await this.#query<MessageRow>(this.#read, numbered(sql), values)).rows);
  }

  async message(id: string): Promise<MessageDetail | undefined> {
    const [row] = await this.#rows<MessageDetailRow>('message', [id]);
    const [summary] = row ? await this.#withSms([row]) : [];
    return row && summary && toDetail(row, summary);
  }

  async activity(since: number, until: number, bucketMs: number): Promise<ActivityBucket[]> {
    return toBuckets(await this.#rows<ActivityRow>('activity', activityValues(since, bucketMs)), since, until, bucketMs);
  }

  async gatewayActivity(): Promise<{ readonly lastError: TimedDetail | undefined; readonly lastSent: number | undefined }> {
    const [[lastError], [lastSent]] = await Promise.all([this.#rows<TimedDetail>('lastSmsError', []), this.#rows<{ at: number }>('lastSmsSent', [])]);
    return { lastError, lastSent: lastSent?.at };
  }

  async mailActivity(): Promise<{ readonly lastError: TimedDetail | undefined; readonly lastSent: number | undefined }> {
    const [[lastError], [lastSent]] = await Promise.all([this.#rows<TimedDetail>('lastMailError', []), this.#rows<{ at: number }>('lastMailSent', [])]);
    return { lastError, lastSent: lastSent?.at };
  }

  async conversations(): Promise<ConversationSummary[]> {
    const [outbound, inbound] = await Promise.all([
      this.#rows<TrafficRow>('recentOutbound', [RECENT_TRAFFIC_ROWS]),
      this.#rows<TrafficRow>('recentInbound', [RECENT_TRAFFIC_ROWS]),
    ]);
    return toConversations(outbound, inbound);
  }

  async numberOfRef(ref: string): Promise<string | undefined> {
    const parsed = parseRef(ref);
    if (!parsed) return undefined;
    const [row] = await this.#rows<{ number: string }>(parsed.kind === 'outbound' ? 'outboundNumber' : 'inboundNumber', [parsed.id]);
    return row?.number;
  }

  async thread(number: string, limit: number, after?: ThreadCursor): Promise<ThreadPage> {
    const { mail, reply } = threadValues(after);
    // One more of each than the page shows: whether anything is left after it.
    const [mails, replies] = await Promise.all([
      this.#rows<MailToRow>('mailsTo', [number, ...mail, limit + 1]),
      this.#rows<ReplyRow>('repliesFrom', [number, ...reply, limit + 1]),
    ]);
    return threadPage(mails, replies, limit, after);
  }

  relayReads(): RelayReads {
    return this.#relayReads;
  }

  async close(): Promise<void> {
    await Promise.all([this.#read.end(), this.#write.end()]);
    this.#silence.stop();
  }

  async #withSms(rows: readonly MessageRow[]): Promise<MessageSummary[]> {
    if (rows.length === 0) return [];
    const holders = smsHolders(rows);
    const sms = (await this.#read.query<SmsRow>(numbered(smsOfStatement(holders.length)), holders)).rows;
    return toSummaries(rows, sms);
  }
}
