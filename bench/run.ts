/**
 * `npm run bench`: the relay driven over real sockets, every figure next to a baseline measured in
 * the same run (issue #8). Prints a table and one JSON line. Sizes: BENCH_MAILS (per MT run, 5000),
 * BENCH_MO (3000), BENCH_SOAK (100000; 0 skips the soak).
 */
import { cpus } from 'node:os';
import { Pool } from 'undici';
import { SmtpSink } from '../test/helpers/smtp-sink.ts';
import { load, percentile, textOf } from './client.ts';
import { type Child, cpuMs, memoryMb, type RelayChild, startRelay, startTs } from './processes.ts';

const MAILS = Number(process.env.BENCH_MAILS ?? 5000);
const MO = Number(process.env.BENCH_MO ?? 3000);
const SOAK = Number(process.env.BENCH_SOAK ?? 100_000);
const GATEWAY_ACCOUNT = { SMSRELAY_GATEWAY_USERNAME: 'bench', SMSRELAY_GATEWAY_PASSWORD: 'bench-password' };
const rate = (count: number, ms: number) => Math.round((count / ms) * 1000);
const round = (value: number, digits = 1) => Number(value.toFixed(digits));

interface Shape {
  readonly name: string;
  readonly sessions: number;
  readonly persistent: boolean;
  /**
   * Share of BENCH_MAILS this shape sends. The baseline sink keeps smtp-server's 100 ms early-talker
   * pause per connection, so with a connection per mail and one session it does ~10 mails/s.
   */
  readonly share: number;
}
const SHAPES: readonly Shape[] = [
  { name: '1 session, persistent', sessions: 1, persistent: true, share: 1 },
  { name: '10 sessions, persistent', sessions: 10, persistent: true, share: 1 },
  { name: '50 sessions, persistent', sessions: 50, persistent: true, share: 1 },
  { name: '1 session, a connection per mail', sessions: 1, persistent: false, share: 0.02 },
  { name: '10 sessions, a connection per mail', sessions: 10, persistent: false, share: 0.1 },
  { name: '50 sessions, a connection per mail', sessions: 50, persistent: false, share: 1 },
];

async function jsonLine<T>(child: Child, ask?: string): Promise<T> {
  const line = child.line((text) => text.startsWith('{') || text.startsWith('['));
  if (ask) child.process.stdin?.write(`${ask}\n`);
  return JSON.parse(await line) as T;
}

async function gatewayCount(gateway: Child): Promise<number> {
  return (await jsonLine<{ count: number }>(gateway, 'count')).count;
}

async function waitForGateway(gateway: Child, total: number): Promise<void> {
  while ((await gatewayCount(gateway)) < total) await new Promise((resolve) => setTimeout(resolve, 25));
}

/** MT: mails/s to 250 and to the gateway, latencies, CPU per mail; the baseline with the same client. */
async function mt() {
  const sink = startTs('./bare-sink.ts');
  const { port: sinkPort } = await jsonLine<{ port: number }>(sink);
  const gateway = startTs('./gateway.ts');
  const { url } = await jsonLine<{ url: string }>(gateway);
  const relay = await startRelay({ SMSRELAY_GATEWAY: 'intellisoftware', SMSRELAY_GATEWAY_URL: url, ...GATEWAY_ACCOUNT });
  const pid = relay.process.pid ?? 0;
  const rows = [];
  let sent = 0;
  await load({ port: sinkPort, sessions: 10, mails: 500, persistent: true, label: 'warm-sink' });
  await load({ port: relay.smtpPort, sessions: 10, mails: 500, persistent: true, label: 'warm-relay' });
  sent += 500;
  await waitForGateway(gateway, sent);
  for (const shape of SHAPES) {
    const mails = Math.max(1, Math.round(MAILS * shape.share));
    const baseline = await load({ port: sinkPort, mails, label: `base-${shape.sessions}`, ...shape });
    const cpuBefore = cpuMs(pid);
    const started = performance.now();
    const label = `mt-${shape.sessions}-${shape.persistent ? 'p' : 'c'}`;
    const run = await load({ port: relay.smtpPort, mails, label, ...shape });
    sent += mails;
    await waitForGateway(gateway, sent);
    const endToEnd = performance.now() - started;
    const cpu = cpuMs(pid) - cpuBefore;
    const arrivals = await jsonLine<Array<[string, number]>>(gateway, 'times');
    const toGateway = arrivals.flatMap(([text, at]) => {
      const end = run.dataEndAt.get(text);
      return end === undefined ? [] : [at - end];
    });
    rows.push({
      shape: shape.name,
      mails,
      baselineMailsPerSec: rate(mails, baseline.elapsedMs),
      acceptedMailsPerSec: rate(mails, run.elapsedMs),
      endToEndMailsPerSec: rate(mails, endToEnd),
      ratioToBaseline: round(baseline.elapsedMs / endToEnd, 3),
      p50To250Ms: round(percentile(run.latencies, 50)),
      p99To250Ms: round(percentile(run.latencies, 99)),
      p50ToGatewayMs: round(percentile(toGateway, 50)),
      p99ToGatewayMs: round(percentile(toGateway, 99)),
      cpuMicrosPerMail: Math.round((cpu * 1000) / mails),
      refused: run.refused,
    });
  }
  // Latency at a steady 500 mails/s (the target's condition), 10 sessions.
  const paced = await load({ port: relay.smtpPort, sessions: 10, mails: MAILS, persistent: true, label: 'paced', perSecond: 500 });
  const peakRssMb = memoryMb(pid).peak;
  await Promise.all([relay.stop(), sink.stop(), gateway.stop()]);
  return { rows, paced: { p50To250Ms: round(percentile(paced.latencies, 50)), p99To250Ms: round(percentile(paced.latencies, 99)) }, peakRssMb };
}

/** MO: webhooks/s committed and SMS → mail delivered, against a bare fastify form handler. */
async function mo() {
  const bare = startTs('./bare-webhook.ts');
  const { port: barePort } = await jsonLine<{ port: number }>(bare);
  const baseline = await post(barePort, '/mo', 'base');
  await bare.stop();
  const mailSink = await new SmtpSink().start();
  const relay = await startRelay({ SMSRELAY_DEFAULT_MAILBOX: 'ops@example.com', SMSRELAY_MAIL_URL: mailSink.url });
  const committed = await post(relay.httpPort, '/webhooks/intellisoftware/mo', 'relay');
  const started = performance.now() - committed;
  while (mailSink.received.length < MO) await new Promise((resolve) => setTimeout(resolve, 25));
  const toMail = performance.now() - started;
  await relay.stop();
  await mailSink.stop();
  return {
    baselineWebhooksPerSec: rate(MO, baseline),
    committedWebhooksPerSec: rate(MO, committed),
    ratioToBaseline: round(baseline / committed, 3),
    smsToMailPerSec: rate(MO, toMail),
  };
}

/** Posts MO webhooks, 50 at a time; resolves with the elapsed ms once all were answered 200. */
async function post(port: number, path: string, label: string): Promise<number> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 50 });
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      for (let index = next++; index < MO; index = next++) {
        const body = new URLSearchParams({ from: `447700${String(900000 + (index % 1000))}`, text: textOf(label, index), msgid: `${label}${index}`, sent: '2026-11-23T10:00:00+00:00' });
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

/** A long run with RSS sampled every second: it must stay flat. */
async function soak() {
  if (SOAK === 0) return undefined;
  const gateway = startTs('./gateway.ts');
  const { url } = await jsonLine<{ url: string }>(gateway);
  const relay: RelayChild = await startRelay({ SMSRELAY_GATEWAY: 'intellisoftware', SMSRELAY_GATEWAY_URL: url, ...GATEWAY_ACCOUNT });
  const pid = relay.process.pid ?? 0;
  const samples: number[] = [];
  const sampler = setInterval(() => samples.push(memoryMb(pid).rss), 1000);
  const started = performance.now();
  await load({ port: relay.smtpPort, sessions: 10, mails: SOAK, persistent: true, label: 'soak' });
  await waitForGateway(gateway, SOAK);
  const elapsed = performance.now() - started;
  clearInterval(sampler);
  const half = samples.slice(Math.floor(samples.length / 2));
  await Promise.all([relay.stop(), gateway.stop()]);
  return {
    mails: SOAK,
    mailsPerSec: rate(SOAK, elapsed),
    rssFirstMb: samples[0] ?? 0,
    rssMaxMb: Math.max(...samples),
    rssLastMb: samples.at(-1) ?? 0,
    secondHalfGrowthMb: (half.at(-1) ?? 0) - (half[0] ?? 0),
  };
}

const mtResult = await mt();
const moResult = await mo();
const soakResult = await soak();
const machine = { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version };
console.log(`\nsmsrelay bench — ${machine.cpus} × ${machine.cpu}, Node ${machine.node}, ${MAILS} mails per MT run\n`);
console.log('MT (SMTP → gateway request), (mails)        baseline/s  250/s  e2e/s  ratio  p50/p99 →250 ms  p50/p99 →gateway ms  CPU µs/mail');
for (const row of mtResult.rows) {
  console.log(
    `${`${row.shape} (${row.mails})`.padEnd(42)}${String(row.baselineMailsPerSec).padStart(10)}${String(row.acceptedMailsPerSec).padStart(7)}${String(row.endToEndMailsPerSec).padStart(7)}${String(row.ratioToBaseline).padStart(7)}${`${row.p50To250Ms}/${row.p99To250Ms}`.padStart(17)}${`${row.p50ToGatewayMs}/${row.p99ToGatewayMs}`.padStart(21)}${String(row.cpuMicrosPerMail).padStart(13)}`,
  );
}
console.log(`at a steady 500 mails/s: p50/p99 end of DATA → 250 = ${mtResult.paced.p50To250Ms}/${mtResult.paced.p99To250Ms} ms; relay peak RSS ${mtResult.peakRssMb} MB`);
console.log(
  `MO: bare handler ${moResult.baselineWebhooksPerSec}/s, relay committed ${moResult.committedWebhooksPerSec}/s (${moResult.ratioToBaseline}×), SMS → mail delivered ${moResult.smsToMailPerSec}/s`,
);
if (soakResult) {
  console.log(
    `soak: ${soakResult.mails} mails at ${soakResult.mailsPerSec}/s; RSS first ${soakResult.rssFirstMb} MB, max ${soakResult.rssMaxMb} MB, last ${soakResult.rssLastMb} MB, second-half growth ${soakResult.secondHalfGrowthMb} MB`,
  );
}
console.log(JSON.stringify({ bench: 'smsrelay', machine, mails: MAILS, mt: mtResult, mo: moResult, soak: soakResult }));
