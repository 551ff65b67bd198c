/**
 * What every part of the bench shares: the shapes of MT load and how to drive them at one relay or
 * split across several, the gateway process's counts, a relay run's refusals and losses, MO posts,
 * and the small arithmetic of the tables.
 */
import { Pool } from 'undici';
import { benchRecipient, load, type LoadResult, textOf } from './client.ts';
import { rotation } from './corpus.ts';
import { smtpSource } from './postfix.ts';
import { type Child, type RelayChild, relayCounters } from './processes.ts';

/** smtp-source's one recipient (it cannot vary it without making another number: -r/-N prepend digits). */
export const SOURCE_TO = process.env.BENCH_TO ?? '447700900123@sms.localhost';
/** Gateway arrivals that stop for this long count the missing SMS as lost. */
export const ARRIVAL_PATIENCE_MS = 15_000;
/** MO posts in flight at once (the "50 concurrent"). */
const MO_CONCURRENCY = 50;
export const GATEWAY_ACCOUNT = { SMSRELAY_GATEWAY_USERNAME: 'bench', SMSRELAY_GATEWAY_PASSWORD: 'bench-password' };

export const rate = (count: number, ms: number) => Math.round((count / ms) * 1000);
export const round = (value: number, digits = 1) => Number(value.toFixed(digits));
export const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
};
export const cell = (value: number | string | undefined) => (value === undefined ? '—' : String(value));
/** Progress on stderr, so that a long run shows where it is. */
export const progress = (message: string) => console.error(`bench ${new Date().toISOString().slice(11, 19)} ${message}`);

export interface Shape {
  readonly id: string;
  readonly name: string;
  readonly client: 'smtp-source' | 'own';
  readonly sessions: number;
  readonly persistent: boolean;
  /** smtp-source -l */
  readonly length?: number;
  readonly corpus?: boolean;
}
export const ALL_SHAPES: readonly Shape[] = [
  { id: 'source-800', name: 'smtp-source -d -s 10 -l 800', client: 'smtp-source', sessions: 10, persistent: true, length: 800 },
  { id: 'source-default', name: 'smtp-source -d -s 10 (default body)', client: 'smtp-source', sessions: 10, persistent: true },
  { id: 'source-800-conn', name: 'smtp-source -s 50 -l 800 (a connection per mail)', client: 'smtp-source', sessions: 50, persistent: false, length: 800 },
  { id: 'corpus', name: 'corpus rotation, 10 sessions, pipelined', client: 'own', sessions: 10, persistent: true, corpus: true },
  { id: 'short', name: 'short alerts, 10 sessions, pipelined', client: 'own', sessions: 10, persistent: true },
];

export async function jsonLine<T>(child: Child, ask?: string): Promise<T> {
  const line = child.line((text) => text.startsWith('{') || text.startsWith('['));
  if (ask) child.process.stdin?.write(`${ask}\n`);
  return JSON.parse(await line) as T;
}

export const gatewayCount = async (gateway: Child) => (await jsonLine<{ count: number }>(gateway, 'count')).count;

/** Waits until the gateway has `total` SMS, or until arrivals stop for ARRIVAL_PATIENCE_MS; returns the count reached. */
export async function awaitArrivals(gateway: Child, total: number): Promise<number> {
  let count = await gatewayCount(gateway);
  let progressAt = performance.now();
  while (count < total && performance.now() - progressAt < ARRIVAL_PATIENCE_MS) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    const now = await gatewayCount(gateway);
    if (now > count) progressAt = performance.now();
    count = now;
  }
  return count;
}

export interface Drive {
  readonly elapsedMs: number;
  readonly refusals: Map<string, number>;
  readonly latencies: number[];
  readonly own?: LoadResult;
}

/**
 * `mails` of `shape` to the SMTP port(s): with several ports (relays sharing one database) the load
 * is split between them — the own client's sessions alternate between the ports, smtp-source runs
 * once per port in parallel with its share of the sessions and mails; the time is until the last ends.
 */
export async function drive(
  shape: Shape,
  ports: number | readonly number[],
  label: string,
  mails: number,
  corpus: ReadonlyArray<{ readonly message: string }>,
): Promise<Drive> {
  const all = typeof ports === 'number' ? [ports] : ports;
  if (shape.client === 'smtp-source') {
    const started = performance.now();
    const share = (total: number, index: number) => Math.floor(total / all.length) + (index < total % all.length ? 1 : 0);
    const runs = await Promise.all(
      all.map((port, index) =>
        smtpSource({
          port,
          sessions: share(shape.sessions, index),
          mails: share(mails, index),
          persistent: shape.persistent,
          length: shape.length,
          to: SOURCE_TO,
        }),
      ),
    );
    const refusals = new Map<string, number>();
    for (const run of runs) {
      for (const line of run.complaints) refusals.set(`smtp-source: ${line}`, (refusals.get(`smtp-source: ${line}`) ?? 0) + 1);
      if (run.exitCode !== 0) refusals.set(`smtp-source exited ${run.exitCode}`, (refusals.get(`smtp-source exited ${run.exitCode}`) ?? 0) + 1);
    }
    return { elapsedMs: performance.now() - started, refusals, latencies: [] };
  }
  const own = await load({
    port: all,
    sessions: shape.sessions,
    mails,
    persistent: shape.persistent,
    label,
    pipelining: true,
    ...(shape.corpus ? { mail: rotation(corpus, label, benchRecipient) } : {}),
  });
  return { elapsedMs: own.elapsedMs, refusals: own.refusals, latencies: own.latencies, own };
}

/** Counter deltas of one relay between two readings of /metrics; an unknown name reads as undefined. */
export function counterDelta(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>) {
  return (name: string) => {
    const now = after.get(name);
    return now === undefined ? undefined : now - (before.get(name) ?? 0);
  };
}

/**
 * What a run must not have: a refused mail (by the client's replies or the relays' refusal
 * counters), fewer 250s than mails sent, fewer SMS at the gateway than mails accepted. Empty = reportable.
 */
export function runProblems(
  mails: number,
  refusals: ReadonlyMap<string, number>,
  relays: ReadonlyArray<{ readonly before: ReadonlyMap<string, number>; readonly after: ReadonlyMap<string, number> }>,
  arrived: number,
): string[] {
  const problems = [...refusals].map(([reason, count]) => `${count} × ${reason}`);
  let accepted = 0;
  for (const [index, { before, after }] of relays.entries()) {
    accepted += counterDelta(before, after)('smsrelay_mails_accepted_total') ?? 0;
    const which = relays.length > 1 ? `relay ${index + 1}: ` : '';
    for (const [name, value] of after) {
      if (name.startsWith('smsrelay_smtp_refused_total') && value > (before.get(name) ?? 0))
        problems.push(`${which}${value - (before.get(name) ?? 0)} × ${name}`);
    }
  }
  if (accepted < mails) problems.push(`${mails - accepted} of ${mails} mails not accepted (250)`);
  if (arrived < accepted) problems.push(`${accepted - arrived} accepted mails never reached the gateway (lost)`);
  return problems;
}

/** The mails every relay in `relays` has accepted so far (to let the gateway drain after a warm-up). */
export async function acceptedSoFar(relays: readonly RelayChild[]): Promise<number> {
  let accepted = 0;
  for (const relay of relays) accepted += (await relayCounters(relay)).get('smsrelay_mails_accepted_total') ?? 0;
  return accepted;
}

/** Posts `count` MO webhooks, MO_CONCURRENCY at a time; resolves with the elapsed ms once all were answered 200. */
export async function postMo(port: number, path: string, label: string, count: number): Promise<number> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: MO_CONCURRENCY });
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: MO_CONCURRENCY }, async () => {
      for (let index = next++; index < count; index = next++) {
        const body = new URLSearchParams({
          from: `447700${String(900000 + (index % 1000))}`,
          text: textOf(label, index),
          msgid: `${label}${index}`,
          sent: '2026-11-23T10:00:00+00:00',
        });
        const response = await pool.request({ method: 'POST', path, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: body.toString() });
        await response.body.dump();
        if (response.statusCode !== 200) throw new Error(`webhook answered ${response.statusCode}`);
      }
    }),
  );
  const elapsed = performance.now() - started;
  await pool.close();
  return elapsed;
}
