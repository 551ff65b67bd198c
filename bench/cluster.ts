/**
 * #18's benchmark: one relay and two relays on the same PostgreSQL server, in the same run, on the
 * same MT shapes, end to end to one gateway. Each setup has a fresh database; the two relays have
 * their own names (SMSRELAY_RELAY_NAME), their own SMTP and HTTP ports and a smarthost each (no
 * Maildir with a shared database). The load is split across both relays' SMTP ports: the own
 * client's sessions alternate between the ports, smtp-source runs once per port with half the
 * sessions and mails. Coordination overhead: CPU per mail summed over the relays and the server,
 * commits, what each relay accepted and sent (a relay sends what the other accepted when it claims
 * first), retried gateway attempts, every lease/claim/notify counter a relay exports, and SMS the
 * gateway got twice. A run with a refused or lost mail is not reported.
 */
import { type Child, cpuMs, type RelayChild, relayCounters, startTs } from './processes.ts';
import {
  acceptedSoFar,
  awaitArrivals,
  cell,
  counterDelta,
  drive,
  GATEWAY_ACCOUNT,
  gatewayCount,
  jsonLine,
  median,
  progress,
  rate,
  round,
  runProblems,
  type Shape,
} from './harness.ts';
import type { BenchPostgres } from './postgres.ts';

export interface ClusterOptions {
  readonly postgres: BenchPostgres;
  readonly shapes: readonly Shape[];
  readonly mails: number;
  readonly runs: number;
  readonly corpus: ReadonlyArray<{ readonly message: string }>;
  /** Where a run that refused or lost mail is named (the bench then exits 1). */
  readonly failures: string[];
}

/** Counters that tell how relays coordinate, whatever the relays export of them (leases, claims, notifications): their change over a run. */
const COORDINATION = /lease|claim|conflict|takeover|notif/;
const SENT = 'smsrelay_sms_outcomes_total{outcome="sent"}';
const RETRIED = 'smsrelay_sms_outcomes_total{outcome="retry"}';
/** How long the relays' outcome counters may lag the gateway's count. */
const OUTCOME_PATIENCE_MS = 2000;

interface ClusterRun {
  readonly acceptedPerSec: number;
  readonly endToEndPerSec: number;
  /** Both relays' CPU (user + system, all threads) per mail. */
  readonly cpuMicrosPerMail: number;
  readonly serverCpuMicrosPerMail: number;
  readonly commitsPerSec: number | undefined;
  readonly mailsPerCommit: number | undefined;
  readonly acceptedByRelay: number[];
  readonly sentByRelay: number[];
  readonly retried: number;
  /** SMS the gateway got beyond the mails accepted. */
  readonly duplicates: number;
  readonly coordination: Record<string, number>;
}

/**
 * The relays' counters once their "sent" outcomes account for the SMS the gateway got (a relay
 * counts an outcome just after the gateway's answer), or after OUTCOME_PATIENCE_MS.
 */
async function settledCounters(relays: readonly RelayChild[], before: ReadonlyArray<ReadonlyMap<string, number>>, arrived: number) {
  const deadline = performance.now() + OUTCOME_PATIENCE_MS;
  for (;;) {
    const after = await Promise.all(relays.map((relay) => relayCounters(relay)));
    const sent = after.reduce((total, counters, index) => total + (counters.get(SENT) ?? 0) - (before[index]?.get(SENT) ?? 0), 0);
    if (sent >= arrived || performance.now() > deadline) return after;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** One run of `shape` split across `relays` (one or two); a refusal or a loss throws, naming them. */
async function clusterRun(relays: readonly RelayChild[], options: ClusterOptions, gateway: Child, shape: Shape, label: string) {
  const before = await Promise.all(relays.map((relay) => relayCounters(relay)));
  const arrivedBefore = await gatewayCount(gateway);
  const cpuBefore = relays.map((relay) => cpuMs(relay.process.pid ?? 0));
  const serverBefore = options.postgres.cpuMs();
  const started = performance.now();
  const run = await drive(
    shape,
    relays.map((relay) => relay.smtpPort),
    label,
    options.mails,
    options.corpus,
  );
  const arrived = (await awaitArrivals(gateway, arrivedBefore + options.mails)) - arrivedBefore;
  const endToEnd = performance.now() - started;
  const cpu = relays.reduce((sum, relay, index) => sum + cpuMs(relay.process.pid ?? 0) - (cpuBefore[index] ?? 0), 0);
  const serverCpu = options.postgres.cpuMs() - serverBefore;
  const after = await settledCounters(relays, before, arrived);
  // Short alerts carry the run's label and the mail's index in their text: the gateway's texts then
  // tell each missing mail and each SMS sent twice exactly, not only by count.
  const texts = shape.client === 'own' && !shape.corpus ? (await jsonLine<Array<[string, number]>>(gateway, 'times')).map(([text]) => text) : undefined;
  if (!texts) gateway.process.stdin?.write('forget\n');
  const ours = texts?.filter((text) => text.startsWith(`${label} mail `));
  const distinct = ours ? new Set(ours).size : undefined;
  const pairs = relays.map((_, index) => ({ before: before[index] ?? new Map(), after: after[index] ?? new Map() }));
  const problems = runProblems(options.mails, run.refusals, pairs, distinct ?? arrived);
  if (problems.length > 0) throw new Error(`${relays.length} relay(s) on PostgreSQL, ${shape.name}, ${label}: ${problems.join('; ')}`);
  const deltas = pairs.map(({ before, after }) => counterDelta(before, after));
  const sum = (name: string) => {
    const values = deltas.map((delta) => delta(name));
    return values.every((value) => value === undefined) ? undefined : values.reduce<number>((total, value) => total + (value ?? 0), 0);
  };
  const commits = sum('smsrelay_store_commits_total');
  const accepted = sum('smsrelay_mails_accepted_total') ?? 0;
  const coordination: Record<string, number> = {};
  for (const name of new Set(after.flatMap((counters) => [...counters.keys()]))) if (COORDINATION.test(name)) coordination[name] = sum(name) ?? 0;
  return {
    acceptedPerSec: rate(options.mails, run.elapsedMs),
    endToEndPerSec: rate(options.mails, endToEnd),
    cpuMicrosPerMail: Math.round((cpu * 1000) / options.mails),
    serverCpuMicrosPerMail: Math.round((serverCpu * 1000) / options.mails),
    commitsPerSec: commits === undefined ? undefined : rate(commits, endToEnd),
    mailsPerCommit: commits ? round(options.mails / commits, 2) : undefined,
    acceptedByRelay: deltas.map((delta) => delta('smsrelay_mails_accepted_total') ?? 0),
    sentByRelay: deltas.map((delta) => delta(SENT) ?? 0),
    retried: sum(RETRIED) ?? 0,
    duplicates: ours && distinct !== undefined ? ours.length - distinct : Math.max(0, arrived - accepted),
    coordination,
  } satisfies ClusterRun;
}

export async function clusterBench(options: ClusterOptions) {
  // Whatever was started is stopped, also when a relay refuses to start (a config rule) midway.
  const started: Child[] = [];
  const relay = async (name: string, env: Record<string, string>) => {
    const child = await options.postgres.startRelay(name, env);
    started.push(child);
    return child;
  };
  try {
    const gateway = startTs('./gateway.ts');
    started.push(gateway);
    const { url } = await jsonLine<{ url: string }>(gateway);
    const env = { SMSRELAY_GATEWAY: 'intellisoftware', SMSRELAY_GATEWAY_URL: url, ...GATEWAY_ACCOUNT };
    const one = [await relay('bench-one', env)];
    const shared = await options.postgres.freshDatabase();
    const two = [await relay('bench-a', { ...env, SMSRELAY_DATABASE_URL: shared }), await relay('bench-b', { ...env, SMSRELAY_DATABASE_URL: shared })];
    progress('cluster: one relay and two relays on PostgreSQL up');
    return await measureCluster(options, gateway, [
      { relays: 1, children: one },
      { relays: 2, children: two },
    ]);
  } finally {
    await Promise.all(started.map((child) => child.stop()));
  }
}

/** Warms both setups up on every shape, then RUNS rounds of each shape, each round both setups once. */
async function measureCluster(options: ClusterOptions, gateway: Child, setups: ReadonlyArray<{ readonly relays: number; readonly children: RelayChild[] }>) {
  for (const shape of options.shapes)
    for (const setup of setups)
      await drive(
        shape,
        setup.children.map((relay) => relay.smtpPort),
        `cwarm-${setup.relays}`,
        Math.min(500, options.mails),
        options.corpus,
      );
  await awaitArrivals(gateway, await acceptedSoFar(setups.flatMap((setup) => setup.children)));
  gateway.process.stdin?.write('forget\n');

  const rows = [];
  for (const shape of options.shapes) {
    const runs = new Map<number, ClusterRun[]>(setups.map((setup) => [setup.relays, []]));
    for (let pass = 0; pass < options.runs; pass++) {
      progress(`cluster ${shape.id} run ${pass + 1}/${options.runs}`);
      for (const setup of setups) {
        try {
          runs.get(setup.relays)?.push(await clusterRun(setup.children, options, gateway, shape, `c${setup.relays}-${shape.id}-${pass}`));
        } catch (error) {
          options.failures.push((error as Error).message);
          console.error(`REFUSED TO REPORT: ${(error as Error).message}`);
          gateway.process.stdin?.write('forget\n');
        }
      }
    }
    const oneRelay = runs.get(1) ?? [];
    for (const setup of setups) {
      const list = runs.get(setup.relays) ?? [];
      const complete = list.length === options.runs;
      const pick = (key: 'acceptedPerSec' | 'endToEndPerSec' | 'cpuMicrosPerMail' | 'serverCpuMicrosPerMail' | 'commitsPerSec' | 'mailsPerCommit') => {
        const values = list.map((run) => run[key]).filter((value): value is number => value !== undefined);
        return complete && values.length ? median(values) : undefined;
      };
      const endToEnd = pick('endToEndPerSec');
      const oneEndToEnd = oneRelay.length === options.runs ? median(oneRelay.map((run) => run.endToEndPerSec)) : undefined;
      rows.push({
        shape: shape.id,
        shapeName: shape.name,
        relays: setup.relays,
        reported: complete,
        acceptedPerSec: pick('acceptedPerSec'),
        endToEndPerSec: endToEnd,
        ofOneRelay: endToEnd && oneEndToEnd ? round(endToEnd / oneEndToEnd, 2) : undefined,
        cpuMicrosPerMail: pick('cpuMicrosPerMail'),
        serverCpuMicrosPerMail: pick('serverCpuMicrosPerMail'),
        commitsPerSec: pick('commitsPerSec'),
        mailsPerCommit: pick('mailsPerCommit'),
        acceptedByRelay: list.map((run) => run.acceptedByRelay),
        sentByRelay: list.map((run) => run.sentByRelay),
        retried: list.reduce((total, run) => total + run.retried, 0),
        duplicates: list.reduce((total, run) => total + run.duplicates, 0),
        coordination: list.map((run) => run.coordination),
        runs: list.map((run) => run.endToEndPerSec),
      });
    }
  }
  return rows;
}

type ClusterRow = Awaited<ReturnType<typeof measureCluster>>[number];

/** The cluster table: one and two relays per shape, two against one, and what coordination cost. */
export function printCluster(rows: readonly ClusterRow[]): void {
  console.log('\none and two relays on one PostgreSQL (load split across the SMTP ports):');
  console.log(
    '| shape | relays | 250/s | end to end/s | of one relay | relays CPU µs/mail | PostgreSQL CPU µs/mail | commits/s | mails/commit | accepted / sent per relay (last run) | retried | at the gateway twice | coordination counters (last run) |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |');
  for (const row of rows) {
    const last = row.acceptedByRelay.length - 1;
    const split = last < 0 ? '—' : `${row.acceptedByRelay[last]?.join(' + ')} / ${row.sentByRelay[last]?.join(' + ')}`;
    const counters = Object.entries(row.coordination.at(-1) ?? {}).map(([name, value]) => `${name} ${value}`);
    console.log(
      `| ${row.shapeName} | ${row.relays} | ${row.reported ? cell(row.acceptedPerSec) : 'REFUSED'} | ${cell(row.endToEndPerSec)} | ${cell(row.ofOneRelay)} | ${cell(row.cpuMicrosPerMail)} | ${cell(row.serverCpuMicrosPerMail)} | ${cell(row.commitsPerSec)} | ${cell(row.mailsPerCommit)} | ${split} | ${row.retried} | ${row.duplicates} | ${counters.length ? counters.join(', ') : 'none exported'} |`,
    );
  }
  for (const row of rows)
    if (row.relays === 2 && row.ofOneRelay !== undefined)
      console.log(
        `two relays against one, ${row.shape}: ${row.ofOneRelay}× (#18: two must not be slower than one) — ${row.ofOneRelay >= 1 ? 'met' : 'MISSED'}`,
      );
}
