import { after } from 'node:test';
import pg from 'pg';
import { webhookPaths } from '../../src/http/webhooks.ts';
import { type RelayProcess, relayEnvironment, spawnRelay, tempDir } from './relay.ts';
import { type Reply, sendMail } from './smtp.ts';
import { sleep } from './wait.ts';

export const CLUSTER_WEBHOOK_TOKEN = 'cluster-webhook-token-0123456789';

/**
 * The gateway timeouts of a cluster under test: a lease today lasts the longest request (connect +
 * response) plus a fixed margin (src/dispatch/dispatcher.ts), so short timeouts keep the takeover of
 * a killed relay's SMS short.
 */
const GATEWAY_TIMEOUTS = { connectTimeout: '1s', responseTimeout: '2s' } as const;

export interface ClusterRelay {
  readonly name: string;
  readonly dir: string;
  readonly env: Record<string, string>;
  process: RelayProcess;
}

export interface ClusterOptions {
  /** The shared PostgreSQL database. */
  readonly databaseUrl: string;
  /** The standalone gateway simulator every relay sends to. */
  readonly gatewayUrl: string;
  /** The smarthost for the relays' own mail (a Maildir is per machine, no place for a cluster's mail). */
  /** The smarthost every relay sends its own mail through: relays sharing a database may not keep a Maildir each. */
  readonly mailUrl: string;
  readonly relays: number;
}

/** `count` relay processes (`bin/smsrelay.js start`) on one database, each with its own name, ports and data dir. */
export async function startCluster(options: ClusterOptions): Promise<ClusterRelay[]> {
  return Promise.all(
    Array.from({ length: options.relays }, async (_, index) => {
      const name = `relay-${String.fromCharCode(97 + index)}`;
      const dir = tempDir(`smsrelay-${name}-`);
      const yaml = {
        gateway: { provider: 'intellisoftware', url: options.gatewayUrl, username: 'relay-test', password: 'secret-test', ...GATEWAY_TIMEOUTS },
        inbound: { webhookToken: CLUSTER_WEBHOOK_TOKEN },
        // A dead relay's work is taken over this long after its last heartbeat (the shortest allowed).
        delivery: { leaseTtl: '3s' },
      };
      const env = relayEnvironment(dir, yaml, {
        SMSRELAY_DATABASE_URL: options.databaseUrl,
        SMSRELAY_RELAY_NAME: name,
        SMSRELAY_MAIL_URL: options.mailUrl,
      });
      return { name, dir, env, process: await spawnRelay(dir, env) };
    }),
  );
}

const pools = new Map<string, pg.Pool>();
after(async () => {
  for (const pool of pools.values()) await pool.end();
});

/** One query on the shared database, through the test's own small pool (apart from the relays'). */
export async function query<R extends pg.QueryResultRow>(url: string, sql: string, values: unknown[] = []): Promise<R[]> {
  let pool = pools.get(url);
  if (!pool) {
    pool = new pg.Pool({ connectionString: url, max: 2 });
    // A restarted server drops the pool's idle connections: the next query opens another.
    pool.on('error', () => undefined);
    pools.set(url, pool);
  }
  return (await pool.query<R>(sql, values)).rows;
}

/** Like waitFor, probing every `intervalMs` only: for probes that query the database or walk thousands of records. */
export async function waitEvery<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** The SMS a relay holds leased (claimed, not yet recorded): its work in flight. */
export async function leasedSms(url: string, owner: string): Promise<number[]> {
  const rows = await query<{ id: string }>(url, "SELECT id FROM outbound WHERE lease_owner = $1 AND status = 'queued' ORDER BY id", [owner]);
  return rows.map((row) => Number(row.id));
}

/** Whether none of these SMS is still queued (each was sent, or ended). */
export async function allSettled(url: string, ids: readonly number[]): Promise<boolean> {
  if (ids.length === 0) return true;
  const rows = await query<{ n: string }>(url, "SELECT COUNT(*) AS n FROM outbound WHERE id = ANY($1::bigint[]) AND status = 'queued'", [ids]);
  return Number(rows[0]?.n) === 0;
}

/**
 * Mails sent as an MTA with several MX hosts sends them: each to the next relay in turn, and one that
 * is not answered 250 (connection lost, 4xx) sent again, unchanged (same Message-ID), to the next.
 * `accepted` holds the mails some relay answered 250.
 */
export class MailLoad {
  readonly accepted = new Set<number>();
  /** Transactions under way per relay port: a kill cuts these. */
  readonly open = new Map<number, number>();
  /** Sends that were not answered 250 and went to another relay. */
  retried = 0;
  /** A mail refused for good (a bug, not a fault): the waits on this load stop at once. */
  failure: Error | undefined;
  readonly #relays: () => readonly ClusterRelay[];
  #stopped = false;

  constructor(relays: () => readonly ClusterRelay[]) {
    this.#relays = relays;
  }

  /** The text of mail `index`: `#<index>#` is the marker the gateway's records are matched by. */
  static text(index: number): string {
    return `Load mail #${index}#`;
  }

  /** Sends mails `0..count-1` with `concurrency` under way at once; resolves when each was answered 250. */
  async run(count: number, concurrency: number, to: (index: number) => string): Promise<void> {
    let next = 0;
    const worker = async () => {
      for (let index = next++; index < count && !this.failure && !this.#stopped; index = next++) await this.#send(index, to(index));
    };
    try {
      await Promise.all(Array.from({ length: concurrency }, worker));
    } catch (error) {
      this.failure = error as Error;
      throw error;
    }
  }

  /** Sends no further mail (the test ends, passed or not): the relays' shutdown answers must not read as the load's failure. */
  stop(): void {
    this.#stopped = true;
  }

  /** The mails answered 250 so far; throws the load's failure, so that a wait on the load ends with it. */
  acceptedCount(): number {
    if (this.failure) throw this.failure;
    return this.accepted.size;
  }

  async #send(index: number, to: string): Promise<void> {
    for (let attempt = 0; ; attempt += 1) {
      const relays = this.#relays();
      const relay = relays[(index + attempt) % relays.length] as ClusterRelay;
      const port = relay.process.smtpPort;
      this.open.set(port, (this.open.get(port) ?? 0) + 1);
      let reply: Reply | undefined;
      try {
        const sent = await sendMail(port, {
          to: [to],
          subject: `load ${index}`,
          body: MailLoad.text(index),
          headers: { 'Message-ID': `<load-${index}@cluster.test>` },
        });
        reply = sent.data ?? sent.rcpt[0];
      } catch {
        reply = undefined;
      } finally {
        this.open.set(port, (this.open.get(port) ?? 1) - 1);
      }
      if (reply?.code === 250) {
        this.accepted.add(index);
        return;
      }
      if (this.#stopped) return;
      if (reply && reply.code !== 451) throw new Error(`mail ${index}: ${reply.code} ${reply.text}`);
      this.retried += 1;
      // A 451 (the store away) is worth a short pause before the next host; a lost connection is not.
      if (reply) await sleep(50);
    }
  }
}

/** A webhook (form) posted to a relay; the HTTP status, or undefined when no answer came (the relay is gone). */
export async function postWebhook(relay: ClusterRelay, kind: 'mo' | 'dr', form: Record<string, string>): Promise<number | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${relay.process.httpPort}${webhookPaths('intellisoftware')[kind]}?token=${CLUSTER_WEBHOOK_TOKEN}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
      signal: AbortSignal.timeout(10_000),
    });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return undefined;
  }
}
