/**
 * Group commit on PostgreSQL, as SQLite's store thread does it (src/store/group-commit.ts): the
 * writes that arrive while commits are in flight go together into the next transaction, on one
 * connection, with one commit (one WAL flush) for all of them, then their notification; unlike SQLite's single
 * writer, up to MAX_GROUPS_IN_FLIGHT groups commit at once, on connections of their own. Before it, each write
 * was a transaction of its own (pool checkout, BEGIN, statements, COMMIT): 2.35 commits per mail
 * through a relay, 0.43 mails per commit.
 *
 * Durability is unchanged: a write's promise settles only after the commit that holds it returned
 * (its group's COMMIT, or the Sync that ends its group's implicit transaction: oneRoundTrip), so a
 * 250 or a webhook 200 still follows a commit made as the server's `synchronous_commit` says (only
 * a group of writes nobody was promised anything on commits without waiting for the flush: `run`).
 * A write that fails for a reason of its own (a constraint, a bad value, a deadlock) aborts the
 * transaction of its whole group, so the group is rolled back and each of its writes runs again
 * alone, in order: only the faulty one fails, the others commit as if they had come alone. (No
 * savepoints: they would cost two round trips per write on every group to spare a retry on the
 * rare group that meets an error.) The server or the way to it failing fails the whole group, and
 * its connection goes. The server short of its own resources on a connection that works (a full disk:
 * isStoreFault) rolls the group back as a write's own error does, the connection stays in the pool, and
 * each write runs again alone: those small enough to fit (a heartbeat, an outcome) still commit.
 */
import type pg from 'pg';
import { runBatch, type Statement, type TypeParsers } from './batch.ts';
import { KEYS_BUSY, keysLocked } from './key-lock.ts';
import type { Notice } from './notify.ts';
import { toWire } from './prepared.ts';

/**
 * Bounds the latency one group adds to the writes queued behind it, and the memory of a burst:
 * one group is one COMMIT whatever its size, so larger groups are cheaper per write.
 */
const MAX_WRITES_PER_GROUP = 256;
/**
 * Groups committing at once at most, each on a connection of its own. One group at a time (as on SQLite) left
 * the relay waiting on round trips: a group's statements go one after the other, and on a busy
 * machine each waits for the relay's event loop and the server's backend to be scheduled. Six, not three:
 * webhooks wait for their commit (a received SMS is answered 200 only after it), so under 50 concurrent
 * webhooks the commits in flight bound the rate, and the server merges the WAL flushes of commits that
 * arrive together. Measured in the bench's MO (2026-12-04 17:57–18:08, idle machine, 3,000 webhooks,
 * median of 3 each): committed on PostgreSQL 2,199 / 2,670 / 2,592 / 2,648 per s with three, 2,808 / 2,460
 * / 3,156 / 2,955 with six (0.65–0.74 of SQLite's figure in the same runs against 0.70–0.81). Four
 * connections of the pool's POOL_MAX_CONNECTIONS stay for reads. Up to six open: a claim (`alone`) whenever it
 * comes, other groups beyond GROUPS_AT_ONCE only while those in flight wait (GROUP_WAITING_MS).
 */
export const MAX_GROUPS_IN_FLIGHT = 6;
/**
 * Groups that open at once while those in flight commit as usual; beyond them a write waits for the
 * next group, which takes every write that came meanwhile. Opening a group whenever one of six
 * connections was free, a write rarely waited, so the groups were small (0.86–0.95 commits per mail or
 * received SMS, each a round trip, a transaction and a commit for the relay and the server alike) on
 * cores the relay and the server share, where CPU per mail is what bounds the rate. Measured with a
 * driver (2026-12-06 14:36–14:50, a machine shared with other testers, load 4–13; relay and server CPU
 * from /proc; main and this, alternating, 3,000 or 1,500 of each per round; short alerts over 10
 * pipelining sessions until the gateway had every SMS, MO at 50 concurrent webhooks until every reply
 * mail): short alerts 0.60–0.64 commits per mail against 0.86–0.93, relay + server 1,885 against 2,129 µs
 * (4 pairs, each lower: 0.85–0.91) and 1,460 against 1,557 (12 pairs, 9 lower, median 0.92); MO 0.74–0.79
 * commits per SMS against 0.84–0.95, 1,431 against 1,624 µs (6 pairs, median 0.92), 1,412 against 1,480
 * (12 pairs, median 0.95), 2,225 against 2,013 (4 pairs at load 4–10, each higher): median 0.97 of 22 pairs.
 * One at once took about as much CPU as two (median 1.02 of it for MO, 0.97 for short alerts; 8 pairs each
 * at load 21–31) and took fewer per second (166 against 182 SMS, 180 against 197 mails).
 */
const GROUPS_AT_ONCE = 2;
/**
 * A group in flight longer than this waits on something (a lock another transaction holds, a disk slow to
 * flush): it no longer holds a place among GROUPS_AT_ONCE, so the writes behind it go on in a group of
 * their own (up to MAX_GROUPS_IN_FLIGHT), as they did before. It assumes a server whose commit takes a few
 * milliseconds: a group commits in 1–4 ms under load on the same machine (the bench: 2.0 ms of commit per
 * mail summed over the pool, 1.36 mails per commit), far below it. On a server whose round trip alone
 * takes longer (a remote one), every group counts as waiting once this has passed, so up to
 * MAX_GROUPS_IN_FLIGHT commit at once, with smaller groups, as before GROUPS_AT_ONCE: acceptable there, since
 * the round trips in flight, not cores shared with the server, bound the rate, and below MAX_GROUPS_IN_FLIGHT a
 * write waits for a place no longer than this, nor than the older of the two groups ahead of it takes to commit.
 * (Judging the age against the commit time the writer observes would keep such a relay at two larger
 * groups, but a lock held for seconds would stretch that measure too: unmeasured, not done.)
 */
export const GROUP_WAITING_MS = 20;
/**
 * The longest a group waits for the lock of one of its writes' keys (Statements.locks: a Message-ID under which another
 * transaction commits a copy of the mail). An ordinary commit holds it a few milliseconds (1–4 ms under load on the same
 * machine: GROUP_WAITING_MS); one held longer is held by a transaction that waits itself (on a lock, a slow disk) or
 * whose relay stopped in the middle of it (SIGSTOP, a frozen VM, a partition), until its connection ends. Waited for
 * without a bound, it held up every write of the group, mails without a Message-ID too; past this the group runs again
 * without the writes whose keys are held, and each of those alone, waiting as long once more, else fails (KeysBusy).
 */
export const KEY_WAIT_MS = 100;
/**
 * How long a write whose key was busy waits for it alone (#aroundBusyKeys), holding up only itself: a copy committed on a
 * remote server, behind a synchronous standby or a slow disk may hold the key longer than KEY_WAIT_MS, and a copy that is
 * no resend (one mail split over parallel transactions by its sending server) would be deferred for the client's retry,
 * minutes later; a relay stopped mid-commit costs the mail under its key this second, then MESSAGE_ID_BUSY.
 */
export const KEY_WAIT_ALONE_MS = 1_000;
/** lock_not_available: a lock waited for past lock_timeout (KEY_WAIT_MS, keysLocked). */
const LOCK_NOT_AVAILABLE = '55P03';
const isLockNotAvailable = (error: unknown) => (error as { code?: unknown } | undefined)?.code === LOCK_NOT_AVAILABLE;

/**
 * Opens a group's transaction. Every write finds its rows through an index (claims stop at the due
 * index, outcomes go by primary key), but a named statement keeps the plan made at its sixth use, and
 * on a fresh database that is while the queue tables are a few pages, never analysed: PostgreSQL
 * then plans a sequential scan and keeps it as the table grows (autoanalyze, which would replan,
 * comes only after a minute). Measured through a relay (2026-12-03, 3,300 mails in a fresh
 * database): the sent outcome and its orphan look-up read all of `outbound` at every group, 2.6 ms
 * of the server's 3.5 ms of statements per mail, growing with the table. Sent with BEGIN, in the
 * same round trip; a statement with no index to use still scans.
 *
 * And every named statement of the group runs its generic plan, planned once per connection: left to
 * choose, the server planned the sent outcome anew for each call's values (its generic plan is costed
 * for a parameter array's assumed 10 rows, a group's custom plan for its one or few), 150–220 µs of
 * its CPU per mail, as much as running it (driver, 2,500 mails of 800 B, 2026-12-03); the generic plan
 * ran as fast. Both settings in one statement. Exported for a test of the plans.
 */
export const BEGIN = "BEGIN; SELECT set_config('enable_seqscan', 'off', true), set_config('plan_cache_mode', 'force_generic_plan', true)";
/** BEGIN as the statements of a batch (one statement each in the extended protocol); bench/statement-cpu.ts sends it too. */
export const BEGIN_STATEMENTS: readonly Statement[] = BEGIN.split('; ').map((text) => ({ text, values: [] }));
/** BEGIN itself, and its settings alone (SETTINGS: for a group whose transaction is its round trip's, oneRoundTrip). */
const [BEGIN_STATEMENT, ...SETTINGS] = BEGIN_STATEMENTS as [Statement, ...Statement[]];
/**
 * The settings of a group of writes nobody was promised anything on (a lease, a sent outcome: see
 * `run`): its COMMIT returns without waiting for the WAL flush, as SQLite commits such a group at
 * `synchronous=NORMAL` (src/store/group-commit.ts). The server's WAL writer flushes it within a few
 * hundred milliseconds, and any later synchronous commit flushes it first (the WAL is written in
 * order), so a crash of the server can lose only the last of them: an SMS sent again, never a mail.
 */
const UNSYNCED_SETTINGS: readonly Statement[] = SETTINGS.map(({ text, values }) => ({
  text: `${text}, set_config('synchronous_commit', 'off', true)`,
  values,
}));
const settingsOf = (synced: boolean) => (synced ? SETTINGS : UNSYNCED_SETTINGS);

/** The keys whose locks `write` must hold (Statements.locks). */
const keysOf = ({ work }: OpenWrite): readonly string[] => (typeof work === 'function' ? [] : (work.locks ?? []));

/**
 * The statements that open a transaction of `writes` (after BEGIN, or first in its round trip): its settings, with the
 * locks of its writes' keys (Statements.locks) taken in the same statement, before any of theirs runs, each waited for
 * at most `keyWaitMs`. A group without keys sends the settings alone, as before keys were.
 */
function opening(writes: readonly OpenWrite[], keyWaitMs: number): readonly Statement[] {
  const settings = settingsOf(isSynced(writes));
  const keys = writes.flatMap(keysOf);
  if (keys.length === 0) return settings;
  const [first, ...rest] = settings as [Statement, ...Statement[]];
  return [{ text: `${first.text}, ${keysLocked(`$${first.values.length + 1}`, keyWaitMs)}`, values: toWire([...first.values, keys]) }, ...rest];
}
const COMMIT: Statement = { text: 'COMMIT', values: [] };

/**
 * Whether every write of `writes` is statements whose answer needs nothing from the server until the
 * commit: then the group is one round trip, and that round trip is its transaction. The server runs
 * the statements up to a Sync that no BEGIN opened as one implicit transaction, committed at the Sync
 * (as `synchronous_commit` says, before its ReadyForQuery) and rolled back whole by any error among
 * them: the same transaction as BEGIN … COMMIT, for two statements fewer per group, each a Bind and
 * Execute the relay encodes and the server runs and answers.
 */
const oneRoundTrip = (writes: readonly OpenWrite[]) => writes.every(({ work }) => typeof work !== 'function' && 'result' in work);

/**
 * A write said up front: its statements go with the group's others in one round trip (batch.ts), and
 * `result` makes its answer of their results. Only where the results decide what comes next, a
 * `followUp` runs on the group's connection once they are back (the statements before it are sent
 * first, the next write's after it), and makes the answer itself.
 */
export type Statements<T> = {
  /**
   * Its statements, or what makes them when its group opens: a write that gathers what comes meanwhile (the
   * sent outcomes waiting for a group, PostgresStore's SentGathering) is made of all of it at that moment.
   */
  readonly statements: readonly Statement[] | (() => Gathered);
  /**
   * In a transaction of its own, not grouped with others, opened at once (out of its turn, up to
   * MAX_GROUPS_IN_FLIGHT) even while GROUPS_AT_ONCE young groups hold every place: a write whose caller
   * must not wait for the slowest write of a group, nor for a group to open (a claim, which the
   * dispatcher's slots wait for).
   */
  readonly alone?: boolean;
  /**
   * Keys (key-lock.ts, lockedKey) whose locks its statements must hold from the transaction's start, so that each reads
   * what the transaction that held one last committed (a mail's resubmission check: accept.ts, resubmissionLocks). Its
   * group takes every write's at once, in one order, in the statement that opens it (opening): no round trip or
   * statement more, and two groups sharing keys never wait on each other in a cycle. Each is waited for at most
   * KEY_WAIT_MS: a write whose key stays held past it fails alone (KeysBusy), the others commit without it
   * (#aroundBusyKeys).
   */
  readonly locks?: readonly string[];
} & (
  | { readonly result: (results: readonly pg.QueryResult[]) => T }
  | { readonly followUp: (results: readonly pg.QueryResult[], client: pg.PoolClient) => Promise<T> }
);

/**
 * A gathering write as its group opens: its statements, and how many of the store's writes it carries (the
 * calls it gathered), counted as each would be alone (onCommit), as SQLite counts each: writes per commit
 * stays the group size a load gets.
 */
export interface Gathered {
  readonly statements: readonly Statement[];
  readonly writes: number;
}

/** A write as code on the group's connection inside the group's transaction (a round trip per statement), or as Statements. */
export type Work<T> = ((client: pg.PoolClient) => Promise<T>) | Statements<T>;

interface PendingWrite<W extends Work<unknown> = Work<unknown>> {
  readonly work: W;
  /** Whether its COMMIT must wait for the WAL flush (`run`). */
  readonly synced: boolean;
  /** The queues it adds due work to: notified to the other relays after the COMMIT. */
  readonly wakes: readonly Notice[];
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/** Statements made (a gathering write's once its group opened: `opened`). */
type Made = Statements<unknown> & { readonly statements: readonly Statement[] };
/** A write of a group that opened: code, or statements made; `writes`: a gathering's (Gathered), else one. */
type OpenWrite = PendingWrite<((client: pg.PoolClient) => Promise<unknown>) | Made> & { readonly writes?: number };

/** The store's writes `group` carries (GroupWriterOptions.onCommit). */
const carried = (group: readonly OpenWrite[]) => group.reduce((sum, write) => sum + (write.writes ?? 1), 0);

export interface GroupWriterOptions {
  readonly pool: pg.Pool;
  /** A group committed that added due work to `queues`: tell the other relays (notify.ts, WakeSender). */
  readonly wake: (queues: readonly Notice[]) => void;
  /** The server or the way to it failed (as opposed to one write being wrong): the connection is broken and goes. */
  readonly isConnectionError: (error: unknown) => boolean;
  /**
   * The server cannot do this write now for want of its own resources (a full disk), on a connection that
   * works: the connection stays, the group's writes run again alone, and the store is told (onServerFailure).
   */
  readonly isStoreFault: (error: unknown) => boolean;
  /** A group committed: how many writes (a gathering's each, Gathered), in how long, and whether its COMMIT waited for the WAL flush. */
  readonly onCommit: (writes: number, seconds: number, synced: boolean) => void;
  /** A group or a write failed because the server or the way to it did (isConnectionError, isStoreFault). */
  readonly onServerFailure: (error: unknown) => void;
  /** The pool's type parsers, for the results of batches as for the client's own queries. */
  readonly types: TypeParsers;
  /** How long a group is in flight before it counts as waiting; GROUP_WAITING_MS unless a test needs a margin. */
  readonly waitingMs?: number;
  /** How long a group waits for a key's lock; KEY_WAIT_MS unless a test needs a margin. */
  readonly keyWaitMs?: number;
}

/** The server answered COMMIT with ROLLBACK: the transaction had failed. in_failed_sql_transaction, a write's own fault. */
class RolledBack extends Error {
  readonly code = '25P02';
  constructor() {
    super('the transaction failed and was rolled back');
  }
}

/** Statements whose answer `result` makes of their results. */
type Mapped = Made & { readonly result: (results: readonly pg.QueryResult[]) => unknown };

/**
 * A write's answer once its group committed: its value, or its statements' results for its `result` to
 * map (a mapping that throws fails that write alone, after the COMMIT). Data, not a closure per write.
 */
type Answer = { readonly value: unknown } | { readonly work: Mapped; readonly results: readonly pg.QueryResult[] };

function settle(write: PendingWrite, answer: Answer | undefined): void {
  try {
    write.resolve(answer === undefined ? undefined : 'value' in answer ? answer.value : answer.work.result(answer.results));
  } catch (error) {
    write.reject(error);
  }
}

/** `statements` with their values converted for the wire; throws on a value that cannot be sent. */
const onWire = (statements: readonly Statement[]): Statement[] => statements.map(({ text, values }) => ({ text, values: toWire(values) }));

/**
 * `write` as its group opens: a gathering write's statements made now (Statements.statements), or the write
 * failed alone (none) when they cannot be sent.
 */
function opened(write: PendingWrite): OpenWrite[] {
  const { work } = write;
  if (typeof work === 'function' || typeof work.statements !== 'function') return [write as OpenWrite];
  try {
    const { statements, writes } = work.statements();
    return [{ ...write, work: { ...work, statements: onWire(statements) }, writes }];
  } catch (error) {
    write.reject(error);
    return [];
  }
}

/** Whether a group's COMMIT waits for the WAL flush: when any of its writes must (`run`). */
const isSynced = (writes: readonly PendingWrite[]) => writes.some((write) => write.synced);

const isAlone = (write: PendingWrite) => typeof write.work !== 'function' && write.work.alone === true;

/**
 * A write whose keys (Statements.locks) another transaction held past KEY_WAIT_MS, at its group's try and again alone:
 * not the server's failure, nor the write's own, so its caller says to try again in a moment.
 */
export class KeysBusy extends Error {
  constructor(cause: unknown) {
    super('a key of the write was held by another transaction past its wait, twice', { cause });
  }
}

/** A transaction's outcome: its writes' answers in order once it committed, or the error it failed with (rolled back). */
type Outcome = { readonly ok: true; readonly results: Answer[] } | { readonly ok: false; readonly error: unknown };

/** A group failed for the server's reason: every write of it fails with `error`. */
class GroupLost {
  constructor(readonly error: unknown) {}
}

export class GroupWriter {
  readonly #options: GroupWriterOptions;
  #pending: PendingWrite[] = [];
  /** When each group being committed started (performance.now()): while they hold every place (#placeFree), new writes but a claim wait for the next one. */
  #inFlight: number[] = [];
  #scheduled = false;
  /** Looks again (#next) once the older of the young groups in flight has been in flight #waitingMs, while armed. */
  #lookAgain: NodeJS.Timeout | undefined;
  #idle: Array<() => void> = [];
  /** GroupWriterOptions.waitingMs. */
  readonly #waitingMs: number;
  /** GroupWriterOptions.keyWaitMs. */
  readonly #keyWaitMs: number;
  /** KEY_WAIT_ALONE_MS, or GroupWriterOptions.keyWaitMs. */
  readonly #keyWaitAloneMs: number;

  constructor(options: GroupWriterOptions) {
    this.#options = options;
    this.#waitingMs = options.waitingMs ?? GROUP_WAITING_MS;
    this.#keyWaitMs = options.keyWaitMs ?? KEY_WAIT_MS;
    this.#keyWaitAloneMs = options.keyWaitMs ?? KEY_WAIT_ALONE_MS;
  }

  /**
   * Runs `work` in the next group; resolves with its result once that group's COMMIT returned.
   * `synced: false` only for a write nobody was promised anything on (a lease, an outcome saying the
   * next hop took the message with nothing queued on it). A group of only such writes commits without
   * waiting for the WAL flush (UNSYNCED_SETTINGS); one synced write makes its whole group wait, as on
   * SQLite (src/store/group-commit.ts). Grouped apart instead, each kind waiting for no other, the
   * relay took 3–6% more CPU per mail for its extra round trips, and the server as much, for no more
   * mails per second (driver, 2026-12-04 21:48, default body, three pairs: 1,380–1,428 against
   * 1,396–1,484 mails/s, 473–483 against 445–463 µs of the relay's CPU per mail).
   */
  run<T>(work: Work<T>, wakes: readonly Notice[], { synced = true }: { readonly synced?: boolean } = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      // A value that cannot be sent fails its write alone, before it joins a group (a gathering write's when its group opens: `opened`).
      const ready = typeof work === 'function' || typeof work.statements === 'function' ? work : { ...work, statements: onWire(work.statements) };
      this.#pending.push({ work: ready as Work<unknown>, synced, wakes, resolve: resolve as (value: unknown) => void, reject });
      this.#schedule();
    });
  }

  /** Resolves when every write queued so far has settled (before the pool is closed). */
  drained(): Promise<void> {
    if (this.#inFlight.length === 0 && !this.#scheduled && this.#pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #schedule(): void {
    if (this.#scheduled) return;
    if (this.#pending.length === 0) {
      if (this.#inFlight.length === 0) for (const resolve of this.#idle.splice(0)) resolve();
      return;
    }
    if (this.#next() === undefined) return;
    // The writes of this turn of the event loop go together (as on SQLite), the next ones wait for its COMMIT.
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#commitNext();
    });
  }

  /**
   * Where in #pending the group that may open now starts, and how many writes it takes; undefined when
   * none may open yet. Fewer than MAX_GROUPS_IN_FLIGHT in all, and then the next group (an `alone` write
   * by itself, else the writes queued before the next `alone` one, up to MAX_WRITES_PER_GROUP) while a
   * place among GROUPS_AT_ONCE is free (#placeFree). Without one, an `alone` write still opens, out of
   * its turn: its caller must not wait behind groups (Statements.alone), and groups already commit side
   * by side in no order between them.
   */
  #next(): { readonly from: number; readonly count: number } | undefined {
    if (this.#inFlight.length >= MAX_GROUPS_IN_FLIGHT) return undefined;
    const alone = this.#pending.findIndex(isAlone);
    if (this.#placeFree()) return { from: 0, count: alone === 0 ? 1 : alone > 0 ? Math.min(alone, MAX_WRITES_PER_GROUP) : MAX_WRITES_PER_GROUP };
    return alone === -1 ? undefined : { from: alone, count: 1 };
  }

  /**
   * Whether fewer than GROUPS_AT_ONCE of the groups in flight are younger than #waitingMs. When not, it
   * looks again once the older of them has been in flight that long (a group ending looks again too).
   */
  #placeFree(): boolean {
    const now = performance.now();
    const young = this.#inFlight.filter((started) => now - started < this.#waitingMs);
    if (young.length < GROUPS_AT_ONCE) return true;
    this.#lookAgain ??= setTimeout(
      () => {
        this.#lookAgain = undefined;
        this.#schedule();
      },
      Math.min(...young) + this.#waitingMs - now,
    );
    return false;
  }

  async #commitNext(): Promise<void> {
    const group = this.#takeGroup();
    if (group.length === 0) return this.#schedule();
    const started = performance.now();
    this.#inFlight.push(started);
    // More may be waiting than one group takes, and another connection may be free.
    this.#schedule();
    try {
      await this.#commitGroup(group);
    } finally {
      this.#inFlight.splice(this.#inFlight.indexOf(started), 1);
      this.#schedule();
    }
  }

  /** The group that may open now (#next), out of #pending, its gathering writes made (`opened`); none when none may. */
  #takeGroup(): OpenWrite[] {
    const next = this.#next();
    return next === undefined ? [] : this.#pending.splice(next.from, next.count).flatMap(opened);
  }

  async #commitGroup(group: readonly OpenWrite[]): Promise<void> {
    let client: pg.PoolClient;
    try {
      client = await this.#options.pool.connect();
    } catch (error) {
      this.#lost(group, error);
      return;
    }
    // The queues the committed writes added work to: notified once the connection is back in the pool, for the notification to take.
    const woken: Notice[] = [];
    try {
      const started = performance.now();
      const together = await this.#transaction(client, group);
      if (together.ok) this.#committed(group, together.results, started, woken);
      else if (isLockNotAvailable(together.error) && group.some((write) => keysOf(write).length > 0)) await this.#aroundBusyKeys(client, group, woken);
      else if (group.length === 1) this.#failed(group[0], together.error);
      else await this.#oneByOne(client, group, together.error, woken);
      client.release();
    } catch (error) {
      // The connection is broken (or in an unknown state): it goes, and the writes not settled yet fail.
      const cause = error instanceof GroupLost ? error.error : error;
      client.release(cause instanceof Error ? cause : new Error(String(cause)));
      this.#lost(group, cause);
    }
    if (woken.length > 0) this.#options.wake(woken);
  }

  /**
   * `writes`, which committed in one transaction started at `started` (performance.now()) with `results`: each answered,
   * then the commit counted as their durability says (a write alone commits as its own, not its group's), and the
   * queues they woke gathered into `woken`.
   */
  #committed(writes: readonly OpenWrite[], results: readonly Answer[], started: number, woken: Notice[]): void {
    for (const [index, write] of writes.entries()) settle(write, results[index]);
    // After the answers: a mail's (PostgresStore.acceptMail) tells the store mail is taken before its commit is counted.
    this.#options.onCommit(carried(writes), (performance.now() - started) / 1000, isSynced(writes));
    woken.push(...writes.flatMap((write) => write.wakes));
  }

  /** `writes`, whose transaction rolled back with `error` (one write's own reason, the server's lack of room): each again alone, in order, and only its own error fails it. */
  async #oneByOne(client: pg.PoolClient, writes: readonly OpenWrite[], error: unknown, woken: Notice[]): Promise<void> {
    if (this.#options.isStoreFault(error)) this.#options.onServerFailure(error);
    for (const write of writes) {
      const started = performance.now();
      const alone = await this.#transaction(client, [write]);
      if (alone.ok) this.#committed([write], alone.results, started, woken);
      else this.#failed(write, alone.error);
    }
  }

  /**
   * `group`, whose opening waited past #keyWaitMs for a key's lock (55P03), again: in a transaction that first takes the
   * lock of every key of its writes that no other transaction holds, waiting for none (KEYS_BUSY), with the writes all of
   * whose keys it took; then each of the others alone, its keys waited for as in any group, and failed with KeysBusy when
   * one is still held. So a key held long (its relay stopped mid-commit) holds up the writes under it, each by two bounded
   * waits, never the writes grouped with them, and the group is not taken apart write by write. One statement more, and
   * only for a group that met a busy key.
   */
  async #aroundBusyKeys(client: pg.PoolClient, group: readonly OpenWrite[], woken: Notice[]): Promise<void> {
    const started = performance.now();
    let free = group;
    let held: readonly OpenWrite[] = [];
    const again = await this.#guarded(client, false, async () => {
      const [, taken] = await runBatch(client, [BEGIN_STATEMENT, { text: KEYS_BUSY, values: toWire([group.flatMap(keysOf)]) }], this.#options.types);
      const busy = new Set((taken?.rows[0] as { busy: string[] } | undefined)?.busy);
      held = group.filter((write) => keysOf(write).some((key) => busy.has(key)));
      free = group.filter((write) => !held.includes(write));
      if (free.length > 0) return this.#inRoundTrips(client, free, settingsOf(isSynced(free)));
      await client.query('ROLLBACK');
      return [];
    });
    if (!again.ok) await this.#oneByOne(client, free, again.error, woken);
    else if (free.length > 0) this.#committed(free, again.results, started, woken);
    for (const write of held) {
      const started = performance.now();
      const alone = await this.#transaction(client, [write], this.#keyWaitAloneMs);
      if (alone.ok) this.#committed([write], alone.results, started, woken);
      else this.#failed(write, isLockNotAvailable(alone.error) ? new KeysBusy(alone.error) : alone.error);
    }
  }

  /**
   * One transaction for `writes`: their answers in order once COMMIT returned, or the error of the
   * write that failed for its own reason (the transaction rolled back). Throws GroupLost when the
   * server or the way to it failed. The statements go in as few round trips as the writes allow:
   * every write's statements in one, as the implicit transaction of that round trip (oneRoundTrip),
   * unless a write is code or has a follow-up: then BEGIN opens it and COMMIT ends it.
   */
  #transaction(client: pg.PoolClient, writes: readonly OpenWrite[], keyWaitMs = this.#keyWaitMs): Promise<Outcome> {
    const implicit = oneRoundTrip(writes);
    return this.#guarded(client, implicit, () =>
      implicit ? this.#inOneRoundTrip(client, writes, keyWaitMs) : this.#inRoundTrips(client, writes, [BEGIN_STATEMENT, ...opening(writes, keyWaitMs)]),
    );
  }

  /**
   * `run`'s transaction (`implicit`: its round trip's, else opened by BEGIN) as an Outcome: rolled back when it failed
   * for a reason of a write's own or the server's lack of room; GroupLost thrown when the server or the way to it failed.
   */
  async #guarded(client: pg.PoolClient, implicit: boolean, run: () => Promise<Answer[]>): Promise<Outcome> {
    const { isConnectionError } = this.#options;
    try {
      return { ok: true, results: await run() };
    } catch (error) {
      // The server's word that the connection failed: it goes. Anything else without a word of the server
      // (a connection that ended, or one write's own code throwing) is told apart by whether ROLLBACK works.
      const coded = typeof (error as { code?: unknown }).code === 'string';
      if (coded && isConnectionError(error)) throw new GroupLost(error);
      // The server's error ended an implicit transaction at its Sync: there is none to roll back.
      if (coded && implicit) return { ok: false, error };
      try {
        await client.query('ROLLBACK');
      } catch (rollback) {
        throw new GroupLost(isConnectionError(error) ? error : rollback);
      }
      return { ok: false, error };
    }
  }

  /** `writes` (oneRoundTrip) as the implicit transaction of one round trip: answered without an error, it committed at the Sync. */
  async #inOneRoundTrip(client: pg.PoolClient, writes: readonly OpenWrite[], keyWaitMs: number): Promise<Answer[]> {
    const settings = opening(writes, keyWaitMs);
    const batch: Statement[] = [...settings];
    for (const write of writes) batch.push(...(write.work as Made).statements);
    const answers = await runBatch(client, batch, this.#options.types);
    let from = settings.length;
    return writes.map((write) => {
      const work = write.work as Mapped;
      const results = answers.slice(from, from + work.statements.length);
      from += work.statements.length;
      return { work, results };
    });
  }

  /**
   * `writes` between BEGIN and COMMIT, in as few round trips as their code and follow-ups allow; `first`: what opens the
   * transaction (BEGIN and the opening; a transaction begun already, its keys taken: #aroundBusyKeys, its settings only).
   */
  async #inRoundTrips(client: pg.PoolClient, writes: readonly OpenWrite[], first: readonly Statement[]): Promise<Answer[]> {
    const { types } = this.#options;
    let batch: Statement[] = [...first];
    /** The writes whose statements are in `batch`, with where they start in it. */
    let mapped: Array<{ readonly index: number; readonly from: number }> = [];
    const results: Answer[] = [];
    /** Sends what is batched; each mapped write's answer is made of its results once COMMIT returned. */
    const send = async (): Promise<pg.QueryResult[]> => {
      if (batch.length === 0) return [];
      const answers = await runBatch(client, batch, types);
      for (const { index, from } of mapped) {
        const work = writes[index]?.work as Mapped;
        results[index] = { work, results: answers.slice(from, from + work.statements.length) };
      }
      batch = [];
      mapped = [];
      return answers;
    };
    for (const [index, write] of writes.entries()) {
      const work = write.work;
      if (typeof work === 'function') {
        await send();
        results[index] = { value: await work(client) };
        continue;
      }
      const from = batch.length;
      batch.push(...work.statements);
      if ('result' in work) {
        mapped.push({ index, from });
        continue;
      }
      const answers = await send();
      results[index] = { value: await work.followUp(answers.slice(from, from + work.statements.length), client) };
    }
    batch.push(COMMIT);
    const committed = (await send()).at(-1);
    // COMMIT of a transaction that an error aborted (one a write caught and went on from) rolls back without an error.
    if (committed?.command !== 'COMMIT') throw new RolledBack();
    return results;
  }

  /** A write that failed alone (its group rolled back): a store fault tells the store, whose health it is. */
  #failed(write: PendingWrite | undefined, error: unknown): void {
    if (this.#options.isStoreFault(error)) this.#options.onServerFailure(error);
    write?.reject(error);
  }

  #lost(group: readonly PendingWrite[], error: unknown): void {
    if (this.#options.isConnectionError(error) || this.#options.isStoreFault(error)) this.#options.onServerFailure(error);
    // A write already settled (resolved or rejected alone) ignores this.
    for (const write of group) write.reject(error);
  }
}
