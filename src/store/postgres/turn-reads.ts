/**
 * The reads a received SMS waits for before its write (the repeat check, the route's look-ups and whether its
 * number opted out, src/replies/inbound.ts; the opt-out checks of RCPT too), of every webhook of one turn of the
 * event loop, in one round trip
 * (batch.ts) on one connection. Each read alone was a socket write that woke a server backend, and on
 * a busy machine the relay's event loop lost its core to that backend inside the write: measured
 * with 50 concurrent MO webhooks (2026-12-03), the pool's query writes held the main thread 400 µs
 * per received SMS, more than a third of its time, and 4.9 round trips per SMS.
 *
 * The batch runs without BEGIN: its statements run in the implicit transaction up to its Sync, each
 * read as it would alone. A read that fails for a reason of its own (the server refused its value)
 * stops the batch, so then each read of it runs again alone and only the faulty one fails.
 */
import type pg from 'pg';
import { runBatch, type Statement, type TypeParsers } from './batch.ts';
import { toWire } from './prepared.ts';

/**
 * Bounds one round trip's reads (and the answer the relay parses at once): a burst of webhooks beyond
 * it takes several round trips, each still far fewer than a read each.
 */
const MAX_READS_PER_BATCH = 128;

interface PendingRead {
  readonly text: string;
  readonly values: readonly unknown[];
  readonly resolve: (rows: pg.QueryResultRow[]) => void;
  readonly reject: (error: unknown) => void;
}

export interface TurnReadsOptions {
  readonly pool: pg.Pool;
  /** The pool's type parsers, for the results of batches as for the client's own queries. */
  readonly types: TypeParsers;
  /** One read alone, as the store runs any read (its errors mapped as the store maps them). */
  readonly alone: (text: string, values: readonly unknown[]) => Promise<pg.QueryResultRow[]>;
  /** The server or the way to it failed (as opposed to one read being wrong). */
  readonly isConnectionError: (error: unknown) => boolean;
  /** Maps a failure of the batch as `alone` maps a read's (and tells the store when the server failed). */
  readonly failed: (error: unknown) => unknown;
}

export class TurnReads {
  readonly #options: TurnReadsOptions;
  #pending: PendingRead[] = [];

  constructor(options: TurnReadsOptions) {
    this.#options = options;
  }

  /** The rows of `text`, read with the other reads of this turn. */
  rows<R extends pg.QueryResultRow>(text: string, values: readonly unknown[]): Promise<R[]> {
    return new Promise<pg.QueryResultRow[]>((resolve, reject) => {
      this.#pending.push({ text, values, resolve, reject });
      if (this.#pending.length === 1) setImmediate(() => this.#flush());
    }) as Promise<R[]>;
  }

  #flush(): void {
    const pending = this.#pending;
    this.#pending = [];
    for (let start = 0; start < pending.length; start += MAX_READS_PER_BATCH) void this.#run(pending.slice(start, start + MAX_READS_PER_BATCH));
  }

  async #run(reads: readonly PendingRead[]): Promise<void> {
    if (reads.length === 1) {
      this.#alone(reads);
      return;
    }
    const statements: Statement[] = [];
    const sent: PendingRead[] = [];
    for (const read of reads) {
      try {
        statements.push({ text: read.text, values: toWire(read.values) });
        sent.push(read);
      } catch (error) {
        // A value that cannot be sent fails its own read, before anything goes to the server.
        read.reject(this.#options.failed(error));
      }
    }
    let client: pg.PoolClient | undefined;
    try {
      client = await this.#options.pool.connect();
      const results = await runBatch(client, statements, this.#options.types);
      client.release();
      for (const [index, read] of sent.entries()) read.resolve(results[index]?.rows ?? []);
    } catch (error) {
      const lost = this.#options.isConnectionError(error);
      client?.release(lost ? (error as Error) : undefined);
      if (lost) for (const read of sent) read.reject(this.#options.failed(error));
      else this.#alone(sent);
    }
  }

  #alone(reads: readonly PendingRead[]): void {
    for (const read of reads) this.#options.alone(read.text, read.values).then(read.resolve, read.reject);
  }
}
