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
 *
 * A question of yes or no about a key (has: whether an SMS was received before, whether a number opted out)
 * is asked with the turn's others of its kind in one statement, which answers the keys it found. Each of the
 * 50 concurrent MO webhooks' repeat checks was a statement of its own in the batch (2026-12-06, one per SMS,
 * with 3–4 SMS to a turn): a Bind, an Execute and an answer the relay encoded and parsed and the server ran.
 */
import type pg from 'pg';
import { runBatch, type Statement, type TypeParsers } from './batch.ts';
import { toWire } from './prepared.ts';

/**
 * Bounds one round trip's reads (and the answer the relay parses at once): a burst of webhooks beyond
 * it takes several round trips, each still far fewer than a read each.
 */
const MAX_READS_PER_BATCH = 128;

/**
 * Keys one question's read takes at most (more go in several reads of the batch), and its texts: `IN` with as many
 * placeholders as the next power of two (the last key repeated), so that a connection prepares a few texts and the
 * server keeps their generic plans, point look-ups of the index. A key array (`= ANY($1)`) was planned again at every
 * execution, its custom plan costed below the generic one's assumed ten elements: 57–65 µs of the server's CPU per
 * statement of 1–4 keys, where one look-up costs 9–14 and four in one `IN` 15 (2026-12-06, a backend's
 * schedstat, least of 3 runs of 3,000). A repeated key costs little: the index scan drops duplicate keys. 32: at 50
 * concurrent MO webhooks a turn held about 17 (0.06 repeat checks per SMS, the driver, 2026-12-06), one read.
 */
const MAX_KEYS_PER_READ = 32;

/** The placeholders' count for `keys` keys: the next power of two. */
const placesFor = (keys: number) => 2 ** Math.ceil(Math.log2(keys));

interface Asker {
  readonly resolve: (found: boolean) => void;
  readonly reject: (error: unknown) => void;
}

/** The yes-or-no questions of a turn asked with one `text` and `values` (has), by key, each with its askers. */
interface KeyedAsks {
  readonly text: string;
  readonly values: readonly unknown[];
  readonly keys: Map<string, Asker[]>;
}

interface PendingRead {
  readonly text: string;
  readonly values: readonly unknown[];
  readonly resolve: (rows: pg.QueryResultRow[]) => void;
  readonly reject: (error: unknown) => void;
}

/** Where a question's text (TurnReads.has) lists its keys. */
export const KEYS = '$KEYS';

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
  /** The turn's reads, and its questions (has) as one read of each kind. */
  #pending: Array<PendingRead | KeyedAsks> = [];
  /** The turn's questions by kind (has), each in #pending. */
  #asks = new Map<string, KeyedAsks>();

  constructor(options: TurnReadsOptions) {
    this.#options = options;
  }

  /** The rows of `text`, read with the other reads of this turn. */
  rows<R extends pg.QueryResultRow>(text: string, values: readonly unknown[]): Promise<R[]> {
    return new Promise<pg.QueryResultRow[]>((resolve, reject) => this.#add({ text, values, resolve, reject })) as Promise<R[]>;
  }

  #add(read: PendingRead | KeyedAsks): void {
    this.#pending.push(read);
    if (this.#pending.length === 1) setImmediate(() => this.#flush());
  }

  /**
   * Whether `key` is among the rows' `key` column of `text` run with `values` and the keys asked as the list
   * KEYS stands for (`… IN (${KEYS})`): asked with the others of this turn of the same `text` and `values`, in one statement.
   */
  has(text: string, values: readonly unknown[], key: string): Promise<boolean> {
    return new Promise((resolve, reject) => {
      const kind = JSON.stringify([text, values]);
      let asks = this.#asks.get(kind);
      if (asks === undefined) {
        asks = { text, values, keys: new Map() };
        this.#asks.set(kind, asks);
        this.#add(asks);
      }
      const askers = asks.keys.get(key);
      if (askers) askers.push({ resolve, reject });
      else asks.keys.set(key, [{ resolve, reject }]);
    });
  }

  #flush(): void {
    const pending = this.#pending.flatMap((read) => ('keys' in read ? this.#keyed(read) : [read]));
    this.#pending = [];
    this.#asks = new Map();
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

  /**
   * The questions `asks` as one read of every key asked, whose rows answer each. Failed with several keys (a
   * key the server refuses), each key is asked again alone, and only the faulty one fails.
   */
  #keyed({ text, values, keys }: KeyedAsks): PendingRead[] {
    const asked = [...keys];
    const reads: PendingRead[] = [];
    for (let start = 0; start < asked.length; start += MAX_KEYS_PER_READ) {
      const part = new Map(asked.slice(start, start + MAX_KEYS_PER_READ));
      const named = [...part.keys()];
      const places = Array.from({ length: placesFor(named.length) }, (_, index) => named[Math.min(index, named.length - 1)]);
      reads.push({
        text: text.replace(KEYS, places.map((_, index) => `$${values.length + index + 1}`).join(', ')),
        values: [...values, ...places],
        resolve: (rows) => {
          const found = new Set(rows.map((row) => String(row.key)));
          for (const [key, askers] of part) for (const { resolve } of askers) resolve(found.has(asSent(key)));
        },
        reject: (error) => {
          if (part.size === 1 || !isValueError(error)) for (const askers of part.values()) for (const { reject } of askers) reject(error);
          else for (const [key, askers] of part) this.#alone(this.#keyed({ text, values, keys: new Map([[key, askers]]) }));
        },
      });
    }
    return reads;
  }

  #alone(reads: readonly PendingRead[]): void {
    for (const read of reads) this.#options.alone(read.text, read.values).then(read.resolve, read.reject);
  }
}

/**
 * Whether a read's failure can be one key's doing, so that each key asked alone finds the faulty one: the
 * server refused a value (data_exception, SQLSTATE class 22: a NUL byte) or a value could not be put on the
 * wire (a TypeError or RangeError of its conversion). Any other failure (the server or the way to it lost, a
 * timeout) is every key's: asking each alone would only wait again for each, and connect once per key.
 */
function isValueError(error: unknown): boolean {
  const cause = (error as { cause?: unknown }).cause ?? error;
  const code = (cause as { code?: unknown }).code;
  return typeof code === 'string' ? code.startsWith('22') : cause instanceof TypeError || cause instanceof RangeError;
}

/**
 * The key as node-postgres sends it and the server gives it back: a lone surrogate (a JSON webhook's "\ud800")
 * becomes U+FFFD on the wire, so the row found answers the key only so compared.
 */
const asSent = (key: string) => key.replace(/\p{Cs}/gu, '\uFFFD');
