import type { Database } from 'better-sqlite3';

/**
 * Bounds the latency one commit adds to the writes queued behind it, and the memory of a burst.
 * A commit costs one WAL fsync whatever its size, so larger batches are cheaper per write.
 */
const MAX_WRITES_PER_COMMIT = 512;

type Work<T> = (db: Database) => T;

interface PendingWrite {
  readonly work: Work<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Group commit: every write queued during one turn of the event loop runs in one SQLite transaction
 * (one fsync), each in its own savepoint so that one failing write rolls back alone. A write's
 * promise settles only after the COMMIT returned, which is what lets SMTP answer 250 per mail while
 * the disk sees one sync for many mails. If the COMMIT itself fails, every write of the batch fails.
 */
export class GroupCommitter {
  #pending: PendingWrite[] = [];
  #scheduled = false;
  readonly #inSavepoint: (work: Work<unknown>) => unknown;
  readonly #commitBatch: (batch: readonly PendingWrite[]) => Array<{ ok: boolean; value: unknown }>;

  constructor(db: Database) {
    // A transaction function called inside another runs as a SAVEPOINT (better-sqlite3).
    this.#inSavepoint = db.transaction((work: Work<unknown>) => work(db));
    const runAll = db.transaction((batch: readonly PendingWrite[]) =>
      batch.map((write) => {
        try {
          return { ok: true, value: this.#inSavepoint(write.work) };
        } catch (error) {
          return { ok: false, value: error };
        }
      }),
    );
    // IMMEDIATE takes the write lock up front, so the batch cannot fail half-way on a lock upgrade.
    this.#commitBatch = (batch) => runAll.immediate(batch);
  }

  run<T>(work: Work<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  /** Commits what is queued now, synchronously (used at shutdown). */
  flushNow(): void {
    while (this.#pending.length > 0) this.#commitNext();
  }

  #flush(): void {
    this.#scheduled = false;
    this.#commitNext();
    if (this.#pending.length > 0 && !this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  #commitNext(): void {
    const batch = this.#pending.splice(0, MAX_WRITES_PER_COMMIT);
    if (batch.length === 0) return;
    let results: Array<{ ok: boolean; value: unknown }>;
    try {
      results = this.#commitBatch(batch);
    } catch (error) {
      for (const write of batch) write.reject(error);
      return;
    }
    results.forEach((result, index) => {
      const write = batch[index] as PendingWrite;
      if (result.ok) write.resolve(result.value);
      else write.reject(result.value);
    });
  }
}
