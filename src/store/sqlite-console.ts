import BetterSqlite3, { type Database, type Statement } from 'better-sqlite3';
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
} from './console-rows.ts';
import type {
  ActivityBucket,
  ConsoleAction,
  ConsoleSession,
  ConsoleStore,
  ConversationSummary,
  MessageDetail,
  MessageSearch,
  MessageSummary,
  RelayReads,
  ThreadCursor,
  ThreadPage,
  TimedDetail,
} from './console-types.ts';
import { asStoreError } from './rows.ts';

/** The statements that write; every other runs on the read-only connection. */
const WRITES: ReadonlySet<ConsoleStatement> = new Set([
  'insertSession',
  'touchSession',
  'deleteSession',
  'expireSessions',
  'insertAttempt',
  'attemptFailed',
  'forgetAttempt',
  'clearFailures',
  'insertAction',
  'insertEvent',
]);

/**
 * The console's store on SQLite: its own two connections to the relay's store file, apart from the
 * store thread's. Reads use a read-only one (WAL readers never wait for the writer); the console's
 * few writes (a sign-in, an audit line) use the other, each one short transaction. Queries are
 * bounded by their caller's limit and served by indexes (migration 11); they are console-rows.ts's,
 * shared with PostgreSQL's console store.
 */
export class SqliteConsoleStore implements ConsoleStore {
  readonly #read: Database;
  readonly #write: Database;
  readonly #searches = new Map<string, Statement>();
  readonly #sql: Readonly<Record<ConsoleStatement, Statement>>;

  private constructor(read: Database, write: Database) {
    this.#read = read;
    this.#write = write;
    this.#sql = Object.fromEntries(
      Object.entries(CONSOLE_SQL).map(([name, sql]) => [name, (WRITES.has(name as ConsoleStatement) ? write : read).prepare(sql)]),
    ) as Record<ConsoleStatement, Statement>;
  }

  /** Opens the store file the relay has already created and migrated. */
  static open(file: string, busyTimeoutMs: number): SqliteConsoleStore {
    const read = new BetterSqlite3(file, { readonly: true, fileMustExist: true, timeout: busyTimeoutMs });
    const write = new BetterSqlite3(file, { fileMustExist: true, timeout: busyTimeoutMs });
    write.pragma('synchronous = FULL');
    // Never checkpoints: the relay's store thread does (sqlite.ts, WAL_AUTOCHECKPOINT_PAGES), and a console write that
    // crossed the threshold would copy the whole WAL on the main thread that serves SMTP and HTTP. A command's own
    // connection (cli.ts) leaves the WAL to the next SqliteStore that opens the file.
    write.pragma('wal_autocheckpoint = 0');
    return new SqliteConsoleStore(read, write);
  }

  async createSession(session: ConsoleSession): Promise<void> {
    return this.#answer(() => {
      this.#sql.insertSession.run(session.id, session.username, session.csrf, session.client, session.createdAt, session.lastSeenAt);
    });
  }

  async session(id: string): Promise<ConsoleSession | undefined> {
    return this.#answer(() => {
      const row = this.#sql.session.get(id) as SessionRow | undefined;
      return row && toSession(row);
    });
  }

  async touchSession(id: string, at: number): Promise<void> {
    return this.#answer(() => {
      this.#sql.touchSession.run(at, id);
    });
  }

  async deleteSession(id: string): Promise<void> {
    return this.#answer(() => {
      this.#sql.deleteSession.run(id);
    });
  }

  async expireSessions(idleBefore: number, createdBefore: number): Promise<number> {
    return this.#answer(() => this.#sql.expireSessions.run(idleBefore, createdBefore).changes);
  }

  async recordLoginAttempt(client: string, account: string, at: number): Promise<number> {
    return this.#answer(() => (this.#sql.insertAttempt.get(client, account, at) as { id: number }).id);
  }

  async loginAttemptFailed(id: number): Promise<void> {
    return this.#answer(() => {
      this.#sql.attemptFailed.run(id);
    });
  }

  async forgetLoginAttempt(id: number): Promise<void> {
    return this.#answer(() => {
      this.#sql.forgetAttempt.run(id);
    });
  }

  async loginFailures(client: string, since: number): Promise<number[]> {
    return this.#answer(() => (this.#sql.failures.all(client, since) as Array<{ at: number }>).map((row) => row.at));
  }

  async clearLoginFailures(client: string, account: string): Promise<void> {
    return this.#answer(() => {
      this.#sql.clearFailures.run(client, account);
    });
  }

  async recordAction(action: ConsoleAction): Promise<void> {
    return this.#answer(() => {
      this.#write.transaction(() => {
        this.#sql.insertAction.run(action.at, action.username, action.client, action.action, action.target ?? null, action.detail ?? null);
        if (action.messageId) {
          this.#sql.insertEvent.run(action.at, action.messageId, `console ${action.action}`, `by ${action.username} from ${action.client}`);
        }
      })();
    });
  }

  async recentActions(limit: number): Promise<ConsoleAction[]> {
    return this.#answer(() => (this.#sql.actions.all(limit) as ActionRow[]).map(toAction));
  }

  async searchMessages(search: MessageSearch, limit: number): Promise<MessageSummary[]> {
    return this.#answer(() => {
      const { sql, values } = searchStatement(search, limit, 'rowid');
      // One prepared statement per shape of search.
      let statement = this.#searches.get(sql);
      if (!statement) {
        statement = this.#read.prepare(sql);
        this.#searches.set(sql, statement);
      }
      return this.#withSms(statement.all(...values) as MessageRow[]);
    });
  }

  async message(id: string): Promise<MessageDetail | undefined> {
    return this.#answer(() => {
      const row = this.#sql.message.get(id) as MessageDetailRow | undefined;
      const [summary] = row ? this.#withSms([row]) : [];
      return row && summary && toDetail(row, summary);
    });
  }

  async activity(since: number, until: number, bucketMs: number): Promise<ActivityBucket[]> {
    return this.#answer(() => {
      // Bound as integers (BigInt), so the division is whole and each bucket is one group.
      const rows = this.#sql.activity.all(...activityValues(BigInt(since), BigInt(bucketMs))) as ActivityRow[];
      return toBuckets(rows, since, until, bucketMs);
    });
  }

  async gatewayActivity(): Promise<{ readonly lastError: TimedDetail | undefined; readonly lastSent: number | undefined }> {
    return this.#answer(() => ({
      lastError: this.#sql.lastSmsError.get() as TimedDetail | undefined,
      lastSent: (this.#sql.lastSmsSent.get() as { at: number } | undefined)?.at,
    }));
  }

  async mailActivity(): Promise<{ readonly lastError: TimedDetail | undefined; readonly lastSent: number | undefined }> {
    return this.#answer(() => ({
      lastError: this.#sql.lastMailError.get() as TimedDetail | undefined,
      lastSent: (this.#sql.lastMailSent.get() as { at: number } | undefined)?.at,
    }));
  }

  async conversations(): Promise<ConversationSummary[]> {
    return this.#answer(() =>
      toConversations(this.#sql.recentOutbound.all(RECENT_TRAFFIC_ROWS) as TrafficRow[], this.#sql.recentInbound.all(RECENT_TRAFFIC_ROWS) as TrafficRow[]),
    );
  }

  async numberOfRef(ref: string): Promise<string | undefined> {
    return this.#answer(() => {
      const parsed = parseRef(ref);
      if (!parsed) return undefined;
      const statement = parsed.kind === 'outbound' ? this.#sql.outboundNumber : this.#sql.inboundNumber;
      return (statement.get(parsed.id) as { number: string } | undefined)?.number;
    });
  }

  async thread(number: string, limit: number, after?: ThreadCursor): Promise<ThreadPage> {
    return this.#answer(() => {
      const { mail, reply } = threadValues(after);
      // One more of each than the page shows: whether anything is left after it.
      return threadPage(
        this.#sql.mailsTo.all(number, ...mail, limit + 1) as MailToRow[],
        this.#sql.repliesFrom.all(number, ...reply, limit + 1) as ReplyRow[],
        limit,
        after,
      );
    });
  }

  /** The store's own: its reads are WAL reads on its thread, which wait for no writer and no lock. */
  relayReads(store: RelayReads): RelayReads {
    return store;
  }

  async close(): Promise<void> {
    this.#read.close();
    this.#write.close();
  }

  /**
   * A statement's failure as the relay's store failure (asStoreError, as every store's): a lock held past
   * `store.busyTimeout`, a full disk, a file that cannot be read is the console's 503, never a raw SqliteError.
   */
  #answer<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      throw asStoreError(error);
    }
  }

  #withSms(rows: readonly MessageRow[]): MessageSummary[] {
    if (rows.length === 0) return [];
    const holders = smsHolders(rows);
    const sms = this.#read.prepare(smsOfStatement(holders.length)).all(...holders) as SmsRow[];
    return toSummaries(rows, sms);
  }
}
