import type { Database } from 'better-sqlite3';
import { storeFailureCode } from './rows.ts';
import type { CommitStats, StoreHealth } from './types.ts';

/**
 * Bounds the latency one commit adds to the writes queued behind it, and the memory of a burst.
 * A commit costs one WAL fsync whatever its size, so larger batches are cheaper per write.
 */
const MAX_WRITES_PER_COMMIT = 512;
/**
 * How long a batch of only writes that may wait (`waits`: an outcome after the gateway took the SMS,
 * unsynced and awaited by nobody) waits for another write to share its commit. A commit's CPU is
 * mostly the pages it writes to the WAL, and an outcome touches the very pages of the mails around
 * it: alone it costs the store thread ~100 µs, inside a mail's commit a fraction of that (#15:
 * measured in one process, 313 → 214 µs of store CPU per mail at two mails per commit with claims
 * and outcomes inside the mails' commits). Under load a mail comes well within the wait. A claim does
 * not wait: dispatch claims one batch of work at a time and would send no faster than one claim per wait.
 */
export const UNSYNCED_WAIT_MS = 2;
/**
 * While commits fail, a write probe runs at most this often, and not at all when a real commit that
 * tells (one that failed, or one that reached the disk) was tried this recently (its result is as
 * fresh): probes never compete with real commits.
 */
export const PROBE_INTERVAL_MS = 1_000;
/**
 * What a write probe writes (and deletes again in the same transaction), on either store: as much as
 * the commit of a mail with long headers and a long text, so that it fails as such a mail would on a
 * full store. A smaller commit (a heartbeat, an outcome) fits in pages the store already holds while
 * mail is refused 452, and proves nothing. A larger mail may still not fit: its own failure makes the
 * relay not ready again.
 */
export const WRITE_PROBE_BYTES = 64 * 1024;
/**
 * SQLite result codes that mean the store itself cannot commit (disk, file, lock), as opposed to
 * one write being wrong (a constraint): only these make the store unhealthy.
 */
const STORE_FAULTS = /^SQLITE_(FULL|READONLY|IOERR|BUSY|LOCKED|CANTOPEN|CORRUPT|NOTADB|PERM)/;

type Work<T> = (db: Database) => T;

/**
 * How a write commits: `synced` unless nobody was promised anything on it, `waits` when nobody awaits it
 * either, `proves` for a write as large as a mail's (GroupCommitter.run).
 */
export interface WriteKind {
  readonly synced?: boolean;
  readonly waits?: boolean;
  readonly proves?: boolean;
}

interface PendingWrite {
  readonly work: Work<unknown>;
  readonly synced: boolean;
  readonly waits: boolean;
  readonly proves: boolean;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/** `PRAGMA synchronous` at NORMAL: in WAL mode a commit is written to the WAL but not fsynced. */
const SYNCHRONOUS_NORMAL = 1;

/** Whether commits succeed: the last one that met a store fault says why not, the next that proves mail is taken again clears it. */
export type CommitHealth = Extract<StoreHealth, { readonly state: 'ok' | 'failing' }>;

export interface GroupCommitOptions {
  /** Runs before each commit; throwing refuses the whole batch (the store file is gone). */
  readonly guard?: () => void;
  /** Called when commits start failing and when they succeed again. */
  readonly onHealth?: (health: CommitHealth) => void;
  /**
   * The write probe: a write as large as a mail's, so that it fails as a mail would (on a full disk a
   * small commit still fits in pages the store's files already hold). Without one, nothing probes.
   */
  readonly probe?: Work<unknown>;
  readonly clock?: () => number;
  /** UNSYNCED_WAIT_MS unless a test needs a wait it can tell from a turn of the event loop. */
  readonly unsyncedWaitMs?: number;
}

/**
 * Group commit: every write queued during one turn of the event loop runs in one SQLite transaction
 * (one fsync), and one failing write fails alone: the batch runs first as one plain transaction,
 * and only when a write in it fails again with each write in its own savepoint (so a write must
 * change nothing but the database: it may run twice). A write's
 * promise settles only after the COMMIT returned, which is what lets SMTP answer 250 per mail while
 * the disk sees one sync for many mails. If the COMMIT itself fails, or a write meets a store fault
 * (not a constraint: the disk, the file, a lock), every write of the batch fails.
 *
 * A write is `synced` unless its caller says nobody was promised anything on it (a lease, an outcome
 * after the next hop took the message: a power loss can cost a resend, never a message). A batch
 * with any synced write commits at the connection's own level (`synchronous=FULL`: the WAL is
 * fsynced); a batch of only unsynced writes commits at NORMAL (written to the WAL, which the OS
 * keeps through a crash of the relay, fsynced with the next synced commit or checkpoint), and the
 * connection is set back at once, so every other commit and reader sees the level it was opened with.
 */
export class GroupCommitter {
  #pending: PendingWrite[] = [];
  #scheduled = false;
  /** The timer of a batch of only writes that may wait, waiting for another (UNSYNCED_WAIT_MS). */
  #waiting: NodeJS.Timeout | undefined;
  #health: CommitHealth = { state: 'ok' };
  #lastAttemptAt = Number.NEGATIVE_INFINITY;
  #stats = { commits: 0, writes: 0, seconds: 0, synced: 0, failed: 0 };
  readonly #relax: () => void;
  readonly #restore: () => void;
  /** The connection's level when the committer was made: what synced commits keep. */
  readonly #syncedLevel: number;
  readonly #commitBatch: (batch: readonly PendingWrite[]) => { results: Array<{ ok: boolean; value: unknown }>; wrote: boolean };
  readonly #options: GroupCommitOptions;
  readonly #clock: () => number;

  constructor(db: Database, options: GroupCommitOptions = {}) {
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
    this.#syncedLevel = Number(db.pragma('synchronous', { simple: true }));
    // Not prepared once: SQLite applies this pragma when the statement is compiled.
    this.#relax = () => db.exec(`PRAGMA synchronous = ${SYNCHRONOUS_NORMAL}`);
    this.#restore = () => db.exec(`PRAGMA synchronous = ${this.#syncedLevel}`);
    // Counted inside the transaction that commits, so rows a failed write changed and rolled back never count.
    const totalChanges = db.prepare('SELECT total_changes()').pluck();
    const changes = (): number => totalChanges.get() as number;
    // A transaction function called inside another runs as a SAVEPOINT (better-sqlite3).
    const inSavepoint = db.transaction((work: Work<unknown>) => work(db));
    const isolated = db.transaction((batch: readonly PendingWrite[]) => {
      let wrote = false;
      const results = batch.map((write) => {
        const before = changes();
        try {
          const value = inSavepoint(write.work);
          wrote ||= changes() > before;
          return { ok: true, value };
        } catch (error) {
          // A store fault (SQLITE_FULL on an insert) may have rolled back the whole transaction: the batch fails with it.
          if (isStoreFault(error)) throw error;
          return { ok: false, value: error };
        }
      });
      return { results, wrote };
    });
    const together = db.transaction((batch: readonly PendingWrite[]) => {
      const before = changes();
      const results = batch.map((write) => ({ ok: true, value: write.work(db) }));
      return { results, wrote: changes() > before };
    });
    // IMMEDIATE takes the write lock up front, so the batch cannot fail half-way on a lock upgrade.
    this.#commitBatch = (batch) => {
      // First without a savepoint per write: a savepoint costs its statements and a sub-journal of
      // every page it changes first (#15: ~50 µs of CPU and ~100 µs of system time per mail). A write
      // that fails rolls the whole transaction back; then the batch runs again, each write in its own
      // savepoint, so that it fails alone. Writes change nothing but the database, so running again is safe.
      try {
        return together.immediate(batch);
      } catch (error) {
        if (isStoreFault(error)) throw error;
        if (batch.length === 1) return { results: [{ ok: false, value: error }], wrote: false };
        return isolated.immediate(batch);
      }
    };
  }

  get health(): CommitHealth {
    return this.#health;
  }

  get stats(): CommitStats {
    return { ...this.#stats };
  }

  /**
   * `synced: false` only for a write nobody was promised anything on (see the class); `waits` only
   * for one of those that nobody awaits either (an outcome). A write commits at the next turn of the
   * event loop with everything queued; a batch of only writes that may wait waits up to
   * UNSYNCED_WAIT_MS for another write to commit with. `proves` for a mail's write: its commit shows that
   * mail is taken again after commits failed (see #commitNext).
   */
  run<T>(work: Work<T>, { synced = true, waits = false, proves = false }: WriteKind = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const mayWait = waits && !synced;
      this.#pending.push({ work, synced, waits: mayWait, proves, resolve: resolve as (value: unknown) => void, reject });
      this.#schedule(mayWait);
    });
  }

  /**
   * While commits fail, tries the write probe (GroupCommitOptions.probe: as large as a mail) to learn
   * whether mail would be taken again without waiting for traffic, which a not-ready relay does not get.
   * Rate-limited by PROBE_INTERVAL_MS. Resolves with the health after it.
   */
  async probe(): Promise<CommitHealth> {
    const work = this.#options.probe;
    if (work === undefined || this.#health.state === 'ok' || this.#clock() - this.#lastAttemptAt < PROBE_INTERVAL_MS) return this.#health;
    await this.run(work, { proves: true }).catch(() => undefined);
    return this.#health;
  }

  /** Commits what is queued now, synchronously (used at shutdown). */
  flushNow(): void {
    clearTimeout(this.#waiting);
    this.#waiting = undefined;
    while (this.#pending.length > 0) this.#commitNext();
  }

  #schedule(mayWait: boolean): void {
    if (this.#scheduled) return;
    if (!mayWait) {
      clearTimeout(this.#waiting);
      this.#waiting = undefined;
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    } else {
      this.#waiting ??= setTimeout(() => {
        this.#waiting = undefined;
        this.#flush();
      }, this.#options.unsyncedWaitMs ?? UNSYNCED_WAIT_MS);
    }
  }

  #flush(): void {
    this.#scheduled = false;
    this.#commitNext();
    if (this.#pending.length > 0) this.#schedule(this.#pending.every((write) => write.waits));
  }

  #commitNext(): void {
    const batch = this.#pending.splice(0, MAX_WRITES_PER_COMMIT);
    if (batch.length === 0) return;
    let committed: { results: Array<{ ok: boolean; value: unknown }>; wrote: boolean };
    const started = performance.now();
    const relaxed = this.#syncedLevel > SYNCHRONOUS_NORMAL && !batch.some((write) => write.synced);
    try {
      this.#options.guard?.();
      // The level can only change outside a transaction.
      if (relaxed) this.#relax();
      try {
        committed = this.#commitBatch(batch);
      } finally {
        if (relaxed) this.#restore();
      }
    } catch (error) {
      this.#lastAttemptAt = this.#clock();
      this.#stats.failed++;
      this.#setHealth(error);
      for (const write of batch) write.reject(error);
      return;
    }
    this.#stats.commits++;
    if (!relaxed && this.#syncedLevel > SYNCHRONOUS_NORMAL) this.#stats.synced++;
    this.#stats.writes += batch.length;
    this.#stats.seconds += (performance.now() - started) / 1000;
    // Only a commit whose pages were written and fsynced shows the disk takes writes again: one that
    // changed no row (a claim that found nothing due) writes nothing and succeeds on a read-only disk,
    // and one at NORMAL was not fsynced. And only one as large as a mail shows mail is taken: on a full
    // disk a heartbeat or an outcome still fits in pages the WAL already holds while every mail gets 452
    // (mail flipped ready for seconds). A small one that succeeds is worth a probe, which tells.
    // A write that proves only if it committed itself: a batch rerun one write at a time may commit without its mail.
    const proven = batch.some((write, index) => write.proves && committed.results[index]?.ok);
    if (committed.wrote && !relaxed && (this.#health.state === 'ok' || proven)) {
      this.#lastAttemptAt = this.#clock();
      this.#setHealth(undefined);
    } else if (committed.wrote && !relaxed) {
      void this.probe();
    }
    committed.results.forEach((result, index) => {
      const write = batch[index] as PendingWrite;
      if (result.ok) write.resolve(result.value);
      else write.reject(result.value);
    });
  }

  #setHealth(fault: unknown): void {
    const failing = fault !== undefined;
    if (failing === (this.#health.state === 'failing')) return;
    this.#health = failing
      ? { state: 'failing', reason: fault instanceof Error ? fault.message : String(fault), code: storeFailureCode(fault) }
      : { state: 'ok' };
    this.#options.onHealth?.(this.#health);
  }
}

function isStoreFault(error: unknown): boolean {
  return STORE_FAULTS.test(String((error as { code?: unknown } | undefined)?.code ?? ''));
}
