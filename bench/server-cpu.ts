/**
 * Where the PostgreSQL server's CPU per mail goes (#17 item 8): relays of the given commits
 * (`SERVER_CPU_COMMITS`, comma list, `.` for this checkout: the default) each on a fresh database of one
 * throwaway server with pg_stat_statements loaded, sending to nginx answering `ID:…` as in the bench, run in
 * turn, the order reversed every other round (`SERVER_CPU_ROUNDS`, 3), `BENCH_MAILS` (3,000) of
 * `SERVER_CPU_SHAPE` (`source-default`) each. Per run: the server's CPU per mail by process (each client
 * backend by application_name and database, walwriter, checkpointer, autovacuum workers…, from
 * /proc/<pid>/stat), statements and commits per mail; after the rounds, each relay's statements per mail
 * (calls, the server's time in them, rows), nested ones (a foreign key's check, a function's statements)
 * counted too. Counts hold on a machine too loaded to time; the CPU only in alternating pairs.
 * Run: SERVER_CPU_COMMITS=0466ea2d,. node --import tsx bench/server-cpu.ts
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { startThrowawayPostgres } from '../scripts/throwaway-postgres.js';
import { SmtpSink } from '../test/helpers/smtp-sink.ts';
import { baselineCheckout } from './baseline.ts';
import { startGateway } from './gateways.ts';
import { ALL_SHAPES, awaitArrivals, drive, GATEWAY_ACCOUNT, gatewayCount } from './harness.ts';
import { cpuMs, type RelayChild, relayCounters, startRelay } from './processes.ts';

/** Before the last reading: the WAL writer's flush and the backends' last commits of a run are in it. */
const SETTLE_MS = 1_500;
/** Mails sent to each relay before the rounds: its connections open, its statements prepared, V8 warm. */
const WARM_UP_MAILS = 1_000;
/** Statements listed per relay, the costliest first. */
const LISTED = 20;

const mails = Number(process.env.BENCH_MAILS ?? 3000);
const rounds = Number(process.env.SERVER_CPU_ROUNDS ?? 3);
const shapeId = process.env.SERVER_CPU_SHAPE ?? 'source-default';
const shape = ALL_SHAPES.find((candidate) => candidate.id === shapeId);
if (!shape || shape.corpus) throw new Error(`SERVER_CPU_SHAPE=${shapeId}: one of ${ALL_SHAPES.filter((one) => !one.corpus).map((one) => one.id)}`);

const server = await startThrowawayPostgres({ settings: { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'all' } });
const urlOf = (database: string) => Object.assign(new URL(server.url), { pathname: `/${database}` }).toString();
const admin = new pg.Client({ connectionString: server.url });
await admin.connect();
await admin.query('CREATE EXTENSION pg_stat_statements');
const { data_directory: dataDirectory } = (await admin.query<{ data_directory: string }>('SHOW data_directory')).rows[0] ?? { data_directory: '' };
const postmaster = Number(readFileSync(`${dataDirectory}/postmaster.pid`, 'utf8').split('\n')[0]);

/** The postmaster's reaped children's CPU (cutime + cstime, ms). */
const reapedMs = () => {
  const fields = readFileSync(`/proc/${postmaster}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[13]) + Number(fields[14])) * 10;
};
/** The server's live processes and their CPU so far (ms). */
const serverProcesses = (): Map<number, number> => {
  const cpu = new Map<number, number>();
  for (const pid of readFileSync(`/proc/${postmaster}/task/${postmaster}/children`, 'utf8').split(' ').filter(Boolean).map(Number)) {
    try {
      cpu.set(pid, cpuMs(pid));
    } catch {
      // ended between the listing and the read: its time is among the reaped
    }
  }
  return cpu.set(postmaster, cpuMs(postmaster));
};
/** What each server process is: a client backend by application name and database, else its kind (walwriter, autovacuum worker…). */
const processKinds = async (): Promise<Map<number, string>> => {
  const { rows } = await admin.query<{ pid: number; kind: string }>(
    `SELECT pid, CASE WHEN backend_type = 'client backend' THEN COALESCE(NULLIF(application_name, ''), 'client') || ' @' || datname
      ELSE backend_type END AS kind FROM pg_stat_activity`,
  );
  return new Map(rows.map((row) => [row.pid, row.kind.replace(/^smsrelay listener .*@/, 'smsrelay listener @')]));
};

interface Target {
  readonly name: string;
  readonly database: string;
  readonly relay: RelayChild;
  readonly sink: SmtpSink;
  readonly statements: Map<string, { calls: number; ms: number; rows: number }>;
}

const gateway = await startGateway('nginx');
const targets: Target[] = [];
try {
  for (const [index, ref] of (process.env.SERVER_CPU_COMMITS ?? '.').split(',').entries()) {
    const database = `server_cpu_${index}`;
    await admin.query(`CREATE DATABASE ${database}`);
    const sink = await new SmtpSink().start();
    const root = ref === '.' ? undefined : baselineCheckout(ref).root;
    const relay = await startRelay(
      {
        SMSRELAY_DATABASE_URL: urlOf(database),
        SMSRELAY_RELAY_NAME: `server-cpu-${index}`,
        SMSRELAY_MAIL_URL: sink.url,
        SMSRELAY_GATEWAY: 'intellisoftware',
        SMSRELAY_GATEWAY_URL: gateway.url,
        ...GATEWAY_ACCOUNT,
      },
      root ? { root } : {},
    );
    targets.push({ name: ref, database, relay, sink, statements: new Map() });
    const before = await gatewayCount(gateway.child);
    await drive(shape, relay.smtpPort, 'warm', WARM_UP_MAILS, []);
    await awaitArrivals(gateway.child, before + WARM_UP_MAILS);
  }
  for (let round = 0; round < rounds; round++) {
    for (const target of round % 2 === 0 ? targets : [...targets].reverse()) {
      await admin.query('SELECT pg_stat_statements_reset()');
      const counters = await relayCounters(target.relay);
      const [processes, reaped, relayCpu] = [serverProcesses(), reapedMs(), cpuMs(target.relay.process.pid ?? 0)];
      const before = await gatewayCount(gateway.child);
      const started = performance.now();
      await drive(shape, target.relay.smtpPort, `round-${round}`, mails, []);
      const arrived = (await awaitArrivals(gateway.child, before + mails)) - before;
      const seconds = (performance.now() - started) / 1000;
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      const [after, kinds] = [serverProcesses(), await processKinds()];
      const perMail = (ms: number) => Math.round((ms * 1000) / mails);
      const byKind = new Map<string, number>();
      for (const [pid, cpu] of after) {
        const kind = pid === postmaster ? 'postmaster' : (kinds.get(pid) ?? 'other');
        // This tool's own connection is not the relay's.
        if (kind.endsWith(' @postgres')) continue;
        byKind.set(kind, (byKind.get(kind) ?? 0) + cpu - (processes.get(pid) ?? 0));
      }
      // A process that ended in the run (an autovacuum worker, a connection the pool closed): its time since the first reading.
      let ended = reapedMs() - reaped;
      for (const [pid, cpu] of processes) if (!after.has(pid)) ended -= cpu;
      byKind.set('ended in the run', ended);
      const { rows } = await admin.query<{ query: string; calls: string; ms: number; rows: string }>(
        `SELECT s.query, s.calls, s.total_exec_time + s.total_plan_time AS ms, s.rows FROM pg_stat_statements s
        JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = $1`,
        [target.database],
      );
      for (const row of rows) {
        const text = row.query.replace(/\s+/g, ' ').slice(0, 120);
        const sum = target.statements.get(text) ?? { calls: 0, ms: 0, rows: 0 };
        target.statements.set(text, { calls: sum.calls + Number(row.calls), ms: sum.ms + row.ms, rows: sum.rows + Number(row.rows) });
      }
      const commits = ((await relayCounters(target.relay)).get('smsrelay_store_commits_total') ?? 0) - (counters.get('smsrelay_store_commits_total') ?? 0);
      console.log(
        JSON.stringify({
          relay: target.name,
          round,
          arrived,
          mailsPerSecond: Math.round(mails / seconds),
          relayCpuUsPerMail: perMail(cpuMs(target.relay.process.pid ?? 0) - relayCpu),
          serverCpuUsPerMail: perMail([...byKind.values()].reduce((sum, ms) => sum + ms, 0)),
          statementsPerMail: Number((rows.reduce((sum, row) => sum + Number(row.calls), 0) / mails).toFixed(2)),
          commitsPerMail: Number((commits / mails).toFixed(3)),
          serverCpuUsPerMailBy: Object.fromEntries([...byKind].filter(([, ms]) => ms !== 0).map(([kind, ms]) => [kind, perMail(ms)])),
        }),
      );
    }
  }
  for (const target of targets) {
    console.log(`\n${target.name}: statements per mail (calls, the server's µs in them, rows), nested ones counted too`);
    const all = mails * rounds;
    for (const [text, sum] of [...target.statements].sort((a, b) => b[1].ms - a[1].ms).slice(0, LISTED))
      console.log(
        `${(sum.calls / all).toFixed(3).padStart(7)} ${((sum.ms * 1000) / all).toFixed(1).padStart(7)} ${(sum.rows / all).toFixed(2).padStart(6)}  ${text}`,
      );
  }
} finally {
  for (const target of targets) {
    await target.relay.stop();
    await target.sink.stop();
  }
  await gateway.child.stop();
  await admin.end();
  await server.destroy();
}
