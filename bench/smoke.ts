/**
 * `npm run bench`: end-to-end speed on the embedded default, visible early. Sends MAILS mails over
 * SESSIONS persistent SMTP sessions (nodemailer's pool, a real client) first to a bare
 * smtp-server + simpleParser sink (the baseline, measured in this run), then to the relay with its
 * built-in simulator, and reports mails/s to 250 and to the gateway, with the ratio to the baseline.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import { request } from 'undici';

const MAILS = Number(process.env.BENCH_MAILS ?? 2000);
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 10);
const BIN = fileURLToPath(new URL('../bin/smsrelay.js', import.meta.url));
const SINK = fileURLToPath(new URL('./bare-sink.ts', import.meta.url));

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 0;
}

/** Sends MAILS mails over SESSIONS pooled connections; resolves with the elapsed milliseconds. */
async function drive(port: number, label: string): Promise<number> {
  const client = nodemailer.createTransport({ pool: true, maxConnections: SESSIONS, maxMessages: Infinity, host: '127.0.0.1', port, secure: false, ignoreTLS: true });
  const started = performance.now();
  await Promise.all(
    Array.from({ length: MAILS }, (_, index) =>
      client.sendMail({
        from: 'bench@example.com',
        to: `447700900${String(index % 1000).padStart(3, '0')}@sms.localhost`,
        subject: `${label} ${index}`,
        text: `${label} mail ${index}: disk usage 91% on db-${index % 7}`,
      }),
    ),
  );
  const elapsed = performance.now() - started;
  client.close();
  return elapsed;
}

function waitForLine(child: ChildProcess, predicate: (line: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (predicate(line)) resolve(line);
    });
    child.once('exit', (code) => reject(new Error(`process exited with ${code}`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

async function baseline(): Promise<number> {
  const sink = spawn(process.execPath, ['--import', 'tsx', SINK], { stdio: ['ignore', 'pipe', 'inherit'] });
  const { port } = JSON.parse(await waitForLine(sink, (line) => line.startsWith('{'))) as { port: number };
  await drive(port, 'warm-up');
  const elapsed = await drive(port, 'baseline');
  await stop(sink);
  return elapsed;
}

async function relay(): Promise<{ accepted: number; delivered: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'smsrelay-bench-'));
  const [smtpPort, httpPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [BIN, 'start'], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', SMSRELAY_SMTP_PORT: String(smtpPort), SMSRELAY_HTTP_PORT: String(httpPort), SMSRELAY_DATA_DIR: join(dir, 'data'), SMSRELAY_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await waitForLine(child, (line) => line.includes('"relay: ready"'));
  const received = async () => {
    const response = await request(`http://127.0.0.1:${httpPort}/simulator/control`);
    return ((await response.body.json()) as { received: number }).received;
  };
  const started = performance.now();
  const accepted = await drive(smtpPort, 'relay');
  while ((await received()) < MAILS) await new Promise((resolve) => setTimeout(resolve, 20));
  const delivered = performance.now() - started;
  await stop(child);
  rmSync(dir, { recursive: true, force: true });
  return { accepted, delivered };
}

const perSecond = (ms: number) => Math.round((MAILS / ms) * 1000);
const base = await baseline();
const measured = await relay();
const result = {
  bench: 'smoke',
  mails: MAILS,
  sessions: SESSIONS,
  cpus: cpus().length,
  node: process.version,
  baselineMailsPerSec: perSecond(base),
  relayAcceptedMailsPerSec: perSecond(measured.accepted),
  relayEndToEndMailsPerSec: perSecond(measured.delivered),
  endToEndRatioToBaseline: Number((base / measured.delivered).toFixed(3)),
};
console.log(`
${MAILS} mails, ${SESSIONS} persistent SMTP sessions, ${result.cpus} CPUs, Node ${result.node}
  bare smtp-server + simpleParser sink (baseline)   ${String(result.baselineMailsPerSec).padStart(6)} mails/s
  relay: SMTP 250 (durably committed)               ${String(result.relayAcceptedMailsPerSec).padStart(6)} mails/s
  relay: end to end, SMTP in → gateway request      ${String(result.relayEndToEndMailsPerSec).padStart(6)} mails/s  (${result.endToEndRatioToBaseline}× baseline)
`);
console.log(JSON.stringify(result));
