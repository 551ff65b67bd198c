/**
 * A database host that vanishes without a word (power lost, a network partition, a firewall that drops,
 * a failover that moved the address) closes nothing: the relay's connections simply stop getting
 * answers, and TCP gives up on them only after ~15 minutes of retransmissions. Meanwhile every commit
 * in flight waits, SMTP clients get no answer at all and /readyz stays green. A stopped server closes
 * its connections and the relay notices at once; this watch is for the silent kind.
 *
 * Each pooled connection is watched on its socket: bytes written since the last byte heard mean a
 * round trip in progress. One in progress for SUSPECT_AFTER_MS makes the watch ask the server, over a
 * fresh connection, which of the waiting connections' backends are working (`pg_stat_activity`). No
 * answer: the database is unreachable, and every connection to it is cut (an idle one is as dead and
 * would hold the next statement as long), so the statements in flight fail as when a server stops
 * (451 4.3.0 / 503, not ready) and the pool opens new ones once it answers again. An answer: a
 * backend that is working is a slow statement (a purge of a large table, a lock wait) and is left
 * alone; one idle for a while never got our request, or its answer was lost, and is cut; one that
 * is not there at all is either a server that is not the one we connected to (after a failover) or a
 * transaction pooler in between (whose backends have other ids), told apart only by time: cut after
 * ABSENT_STALL_MS.
 *
 * Hand-written: node-postgres's `query_timeout` ends the caller's wait but leaves the connection in
 * use with the statement in flight (and does not apply to our batches, batch.ts), and TCP keepalive
 * never fires on a connection with unacknowledged data; Node offers no TCP_USER_TIMEOUT.
 */
import type { Socket } from 'node:net';
import pg from 'pg';

/** How often the sockets are looked at: the granularity of every figure below. */
const WATCH_TICK_MS = 1_000;
/** A round trip waiting this long is suspect: commits take milliseconds (p99 6.5 ms at 1,000 mails/s). */
const SUSPECT_AFTER_MS = 3_000;
/** The question to the server, connection included: as long as a connection may take to open (url.ts). */
const PROBE_TIMEOUT_MS = 5_000;
/** While suspects stay (slow statements), the server is asked again this often, not at every tick. */
const PROBE_EVERY_MS = 5_000;
/** A backend idle this long while its client still waits: its answer is not merely on its way. */
const ANSWER_IN_FLIGHT_MS = 1_000;
/** A waiting connection whose backend the server does not list: cut after this (see above). */
const ABSENT_STALL_MS = 60_000;

/** Where node-postgres keeps a client's socket and backend id (not in its type declarations). */
interface ClientInternals {
  readonly connection: { readonly stream: Socket };
  readonly processID: number | null;
}

/** A backend as `pg_stat_activity` shows it: what it does and since when (ms). */
interface BackendState {
  readonly state: string;
  readonly idleMs: number;
}

interface Watched {
  readonly socket: Socket;
  readonly backend: number | null;
  /** `socket.bytesWritten` when a byte was last heard: more written since means a round trip in progress. */
  writtenWhenHeard: number;
  /** Since when a round trip is in progress (to the tick), while one is. */
  waitingSince: number | undefined;
}

/** Closes `client`'s socket at once: end() waits for the server's goodbye, which a silent server never sends. */
export function cutConnection(client: pg.ClientBase): void {
  (client as unknown as Partial<ClientInternals>).connection?.stream.destroy();
}

/** `work`'s answer, or an Error saying `message` when none came within `ms`: for a server that may never answer. */
export async function answerWithin<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let deadline: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    deadline = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(deadline);
  }
}

export interface SilenceWatchOptions {
  /** How the probe connects: the pool's own settings (host, TLS, credentials, connect timeout). */
  readonly connection: pg.ClientConfig;
  /** The database did not answer: the reason, for the store's health. */
  readonly onSilent: (reason: string) => void;
}

export class SilenceWatch {
  readonly #options: SilenceWatchOptions;
  readonly #watched = new Map<pg.ClientBase, Watched>();
  readonly #timer: NodeJS.Timeout;
  #probing = false;
  #lastProbe = Number.NEGATIVE_INFINITY;

  constructor(options: SilenceWatchOptions) {
    this.#options = options;
    // Real time: what is watched is real sockets waiting (the tests make a real silence).
    this.#timer = setInterval(() => this.#tick(), WATCH_TICK_MS);
    this.#timer.unref();
  }

  /** A connection the pool opened: watched until its socket closes. */
  watch(client: pg.ClientBase): void {
    const { connection, processID } = client as unknown as ClientInternals;
    const socket = connection.stream;
    const watched: Watched = { socket, backend: processID, writtenWhenHeard: socket.bytesWritten, waitingSince: undefined };
    this.#watched.set(client, watched);
    socket.on('data', () => {
      watched.writtenWhenHeard = socket.bytesWritten;
      watched.waitingSince = undefined;
    });
    socket.once('close', () => this.#watched.delete(client));
  }

  /** One look at every socket. */
  #tick(): void {
    const now = Date.now();
    const suspects: Watched[] = [];
    for (const watched of this.#watched.values()) {
      if (watched.socket.bytesWritten <= watched.writtenWhenHeard) continue;
      watched.waitingSince ??= now;
      if (now - watched.waitingSince >= SUSPECT_AFTER_MS) suspects.push(watched);
    }
    if (suspects.length === 0 || this.#probing || now - this.#lastProbe < PROBE_EVERY_MS) return;
    this.#lastProbe = now;
    this.#probing = true;
    void this.#probe(suspects).finally(() => {
      this.#probing = false;
    });
  }

  async #probe(suspects: readonly Watched[]): Promise<void> {
    const backends = suspects.flatMap((suspect) => (suspect.backend === null ? [] : [suspect.backend]));
    let backendStates: ReadonlyMap<number, BackendState>;
    try {
      backendStates = await this.#ask(backends);
    } catch (error) {
      const waited = Math.round((Date.now() - Math.min(...suspects.map((suspect) => suspect.waitingSince ?? Date.now()))) / 1000);
      this.#options.onSilent(`the database has not answered for ${waited} s (${(error as Error).message}): its connections are closed and opened again`);
      for (const watched of this.#watched.values()) watched.socket.destroy();
      return;
    }
    const now = Date.now();
    for (const suspect of suspects) {
      // Answered while the server was asked: not lost.
      if (suspect.waitingSince === undefined) continue;
      const backend = suspect.backend === null ? undefined : backendStates.get(suspect.backend);
      const lost = backend === undefined ? now - suspect.waitingSince >= ABSENT_STALL_MS : backend.state !== 'active' && backend.idleMs >= ANSWER_IN_FLIGHT_MS;
      if (lost) suspect.socket.destroy();
    }
  }

  /** The state of each of `backends` the server lists, asked over a connection of its own. */
  async #ask(backends: readonly number[]): Promise<ReadonlyMap<number, BackendState>> {
    const client = new pg.Client(this.#options.connection);
    client.on('error', () => undefined);
    const asked = async () => {
      await client.connect();
      const { rows } = await client.query<{ pid: number; state: string | null; idle_ms: number | null }>(
        'SELECT pid, state, (extract(epoch FROM now() - state_change) * 1000)::float8 AS idle_ms FROM pg_stat_activity WHERE pid = ANY($1::int[])',
        [backends],
      );
      return new Map(rows.map((row) => [row.pid, { state: row.state ?? '', idleMs: row.idle_ms ?? 0 }]));
    };
    try {
      return await answerWithin(asked(), PROBE_TIMEOUT_MS, `no answer within ${PROBE_TIMEOUT_MS / 1000} s`);
    } finally {
      cutConnection(client);
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
