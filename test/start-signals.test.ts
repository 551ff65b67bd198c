import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { after, describe, test } from 'node:test';
import { loadConfig } from '../src/config/load.ts';
import { RelayError } from '../src/errors.ts';
import { startRelay } from '../src/relay.ts';
import { captureLog } from './helpers/log-lines.ts';
import { SmtpDialog, sendMail } from './helpers/smtp.ts';
import { freePort } from './helpers/tcp.ts';
import { BIN, relayEnvironment, removeDir, tempDir, waitFor } from './helpers/relay.ts';
import { sleep } from './helpers/wait.ts';

/**
 * Crash round 23, finding 1: SIGTERM, SIGINT and SIGHUP during start-up (loading the modules, the store,
 * a gateway's first bind: seconds on a loaded machine) killed the relay with Node's default action: no
 * log line, the lock left for the next start to take over as a dead relay's, and after `systemctl reload`
 * a relay systemd does not restart. The relay is its own process here, signalled at several moments.
 */

const dirs: string[] = [];
const children = new Set<ChildProcess>();
const servers: Server[] = [];
const smscSockets: Socket[] = [];
after(() => {
  for (const child of children) child.kill('SIGKILL');
  for (const socket of smscSockets) socket.destroy();
  for (const server of servers) server.close();
  dirs.forEach(removeDir);
});

interface Starting {
  readonly child: ChildProcess;
  readonly dataDir: string;
  readonly logs: Array<Record<string, unknown>>;
  readonly exited: Promise<number | null>;
  /** The messages logged so far. */
  messages(): string[];
}

/** `smsrelay start` as its own process, watched from its first moment (spawnRelay waits for it to listen); in `dir` to start again where one ran. */
function startProcess(yaml: object, dir?: string): Starting {
  const where = dir ?? tempDir('smsrelay-start-signals-');
  if (!dir) dirs.push(where);
  const env = relayEnvironment(where, yaml);
  const child = spawn(process.execPath, [BIN, 'start'], {
    cwd: where,
    env: { PATH: process.env.PATH ?? '', ...env, SMSRELAY_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const logs: Array<Record<string, unknown>> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not a log line
    }
  });
  child.stderr?.resume();
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  return { child, dataDir: env.SMSRELAY_DATA_DIR as string, logs, exited, messages: () => logs.map((line) => String(line.msg)) };
}

/**
 * Whether the process has its own SIGHUP handler yet (Linux's caught-signal mask; Node catches SIGINT and SIGTERM
 * itself from its first moment, SIGHUP only for a listener): from then on bin/smsrelay.js holds the three signals.
 */
function holdsSignals(child: ChildProcess): boolean {
  const mask = /^SigCgt:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
  return mask !== undefined && (BigInt(`0x${mask}`) & 1n) === 1n;
}

/** `smsrelay start` past Node's own start-up (no JavaScript of ours runs before it), loading its modules. */
async function loading(yaml: object): Promise<Starting> {
  const relay = startProcess(yaml);
  await waitFor('the signals held', () => holdsSignals(relay.child), 30_000);
  return relay;
}

/** An SMSC that takes the connection and never answers the bind: the start waits for it up to gateway.connectTimeout. */
async function silentSmsc(): Promise<{ readonly port: number; readonly connected: () => boolean }> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    smscSockets.push(socket);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new Error('no port');
  return { port: address.port, connected: () => sockets.length > 0 };
}

/** A relay held in its start by the first bind to a silent SMSC, with its store open and its lock taken. */
async function heldInBind(connectTimeout: string): Promise<Starting> {
  const smsc = await silentSmsc();
  const relay = startProcess({ gateway: { provider: 'smpp', host: '127.0.0.1', port: smsc.port, username: 'u', password: 'secret12', connectTimeout } });
  await waitFor('the first bind', smsc.connected, 30_000);
  return relay;
}

const STOPPING = 'relay: stopping while starting: what has started stops once the step under way ends';
const STOPPED = 'relay: stopped while starting';
/** Ample for the unwinding on a loaded machine, and well below the bind's connectTimeout that it cuts. */
const STOP_WITHIN_MS = 10_000;
const LONG_BIND = '60s';
const SIGNAL_GAP_MS = 50;
/** src/cli.ts: a second signal sooner than this after the first is the same stop. */
const SECOND_SIGNAL_MIN_GAP_MS = 500;

describe('signals during start-up', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`${signal} while the modules load: a stop, logged, exit 0, no lock left`, async () => {
      const relay = await loading({});
      relay.child.kill(signal);
      assert.equal(await relay.exited, 0);
      assert.deepEqual(
        relay.logs.filter((line) => String(line.msg).includes('while starting')).map(({ msg, signal }) => ({ msg, signal })),
        [
          { msg: STOPPING, signal },
          { msg: STOPPED, signal },
        ],
      );
      assert.ok(!relay.messages().includes('relay: ready'));
      assert.ok(!existsSync(join(relay.dataDir, 'smsrelay.pid')), 'the lock is not left behind');
    });
  }

  test('SIGTERM while a first bind holds the start (store open, lock taken): the bind is cut, what started stops, the lock is released, exit 0', async () => {
    const relay = await heldInBind(LONG_BIND);
    assert.ok(existsSync(join(relay.dataDir, 'smsrelay.pid')), 'the lock is taken by now');
    const sent = Date.now();
    relay.child.kill('SIGTERM');
    assert.equal(await relay.exited, 0);
    assert.ok(Date.now() - sent < STOP_WITHIN_MS, `stopped within ${STOP_WITHIN_MS} ms, not at the bind's connectTimeout`);
    const messages = relay.messages();
    assert.ok(messages.indexOf(STOPPING) >= 0 && messages.indexOf(STOPPED) > messages.indexOf(STOPPING), messages.join('\n'));
    assert.ok(!messages.some((msg) => msg === 'relay: ready' || msg.startsWith('relay: listening')));
    assert.ok(!existsSync(join(relay.dataDir, 'smsrelay.pid')), 'the lock is released');
    assert.ok(existsSync(join(relay.dataDir, 'smsrelay.db')), 'the store stays');

    // The next start finds no dead relay's lock to take over.
    const next = startProcess({});
    await waitFor('the next start', () => next.messages().some((msg) => msg === 'relay: ready'), 30_000);
    assert.ok(!next.messages().includes('relay: took over the lock of a relay that is gone'));
    next.child.kill('SIGTERM');
    assert.equal(await next.exited, 0);
  });

  test('two SIGINTs milliseconds apart while the modules load (Ctrl-C under npm start): one stop, exit 0, no lock left', async () => {
    const relay = await loading({});
    relay.child.kill('SIGINT');
    // Apart, or the kernel delivers them as one.
    await sleep(SIGNAL_GAP_MS);
    relay.child.kill('SIGINT');
    assert.equal(await relay.exited, 0);
    assert.ok(relay.messages().includes(STOPPED));
    assert.ok(!existsSync(join(relay.dataDir, 'smsrelay.pid')), 'the lock is not left behind');
  });

  test('a running relay waiting for an open transaction: a second signal milliseconds after the first is the same stop; one later exits at once, code 130', async () => {
    const relay = startProcess({ smtp: { trustedNetworks: ['127.0.0.1/32'] } });
    const ready = await waitFor('the relay ready', () => relay.logs.find((line) => line.msg === 'relay: ready'), 30_000);
    const dialog = await SmtpDialog.open(Number(/:(\d+)$/.exec(String(ready.smtp))?.[1]));
    assert.equal((await dialog.command('EHLO client.example')).code, 250);
    assert.equal((await dialog.command('MAIL FROM:<sender@example.com>')).code, 250);
    relay.child.kill('SIGINT');
    await sleep(SIGNAL_GAP_MS);
    relay.child.kill('SIGINT');
    await sleep(SECOND_SIGNAL_MIN_GAP_MS + SIGNAL_GAP_MS);
    assert.equal(relay.child.exitCode, null, 'still stopping: the transaction may finish');
    assert.ok(relay.messages().includes('relay: stopping'));
    relay.child.kill('SIGINT');
    assert.equal(await relay.exited, 130);
    await dialog.close();
  });

  test('a second SIGTERM while a gateway request is in flight: one warn line saying the stop was cut short and what it leaves, exit 130; the next start takes over the lock and resumes the SMS', async () => {
    const relay = startProcess({});
    const ready = await waitFor('the relay ready', () => relay.logs.find((line) => line.msg === 'relay: ready'), 30_000);
    const port = (listener: unknown) => Number(/:(\d+)$/.exec(String(listener))?.[1]);
    const control = await fetch(`http://127.0.0.1:${port(ready.http)}/simulator/control`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ mode: 'hang' }),
    });
    assert.equal(control.status, 200);
    await sendMail(port(ready.smtp), { to: ['447700900971@sms.localhost'], body: 'in flight' });
    await waitFor('the request at the gateway', () => relay.messages().includes('simulator: SMS received'), 30_000);
    relay.child.kill('SIGTERM');
    await waitFor('the stop begun', () => relay.messages().includes('relay: stopping'), 10_000);
    await sleep(SECOND_SIGNAL_MIN_GAP_MS + SIGNAL_GAP_MS);
    relay.child.kill('SIGTERM');
    assert.equal(await relay.exited, 130);
    const last = relay.logs.at(-1) ?? {};
    assert.deepEqual(
      { level: last.level, signal: last.signal, sms: last.sms, mail: last.mail, exitCode: last.exitCode },
      { level: 'warn', signal: 'SIGTERM', sms: 1, mail: 0, exitCode: 130 },
    );
    assert.match(
      String(last.msg),
      /^relay: stop cut short by a second signal, exiting now: the work in flight keeps its lease, and the next start takes it up again/,
    );

    const next = startProcess({}, dirname(relay.dataDir));
    await waitFor('the next start', () => next.messages().includes('relay: ready'), 30_000);
    assert.ok(next.messages().includes('relay: took over the lock of a relay that is gone'), next.messages().join('\n'));
    const resumed = next.logs.find((line) => String(line.msg).startsWith('relay: resuming work that was in flight'));
    assert.equal(resumed?.sms, 1, 'the SMS in flight is taken up again');
    next.child.kill('SIGTERM');
    assert.equal(await next.exited, 0);
  });

  test('SIGHUP while the modules load and during the first bind: never a death; applied once the relay is started', async () => {
    const relay = await loading({});
    relay.child.kill('SIGHUP');
    await waitFor('the reload', () => relay.messages().includes('config: SIGHUP: the settings are as the relay started with them'), 30_000);
    const messages = relay.messages();
    assert.ok(messages.indexOf('relay: a SIGHUP came while starting: applied now that the relay is started') > messages.indexOf('relay: ready'));
    relay.child.kill('SIGTERM');
    assert.equal(await relay.exited, 0);

    const held = await heldInBind('2s');
    held.child.kill('SIGHUP');
    await waitFor('the reload', () => held.messages().includes('config: SIGHUP: the settings are as the relay started with them'), 30_000);
    assert.ok(held.messages().some((msg) => msg.startsWith('relay: listening, gateway not ready')));
    held.child.kill('SIGTERM');
    assert.equal(await held.exited, 0);
  });
});

/**
 * Crash round 24, finding 1: handing the held signals on removed the holding listener before adding the next one,
 * and Node closes a signal's handle with its last listener: a signal the OS had delivered while JavaScript was busy
 * (evaluating cli.ts's imports), not yet read by the event loop, was dropped, and the relay came up after a SIGTERM.
 */
describe('a signal delivered while the process is busy, before the signals are handed on', () => {
  const FIXTURE = fileURLToPath(new URL('./fixtures/start-signals/held-while-busy.ts', import.meta.url));
  /** Long enough for the signal to arrive well inside it on a loaded machine. */
  const BUSY_MS = 1_500;

  async function signalledWhileBusy(mode: 'take' | 'release', signal: NodeJS.Signals) {
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, mode, String(BUSY_MS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.add(child);
    const lines: string[] = [];
    createInterface({ input: child.stdout! }).on('line', (line) => lines.push(line));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => {
        children.delete(child);
        resolve({ code, signal });
      }),
    );
    await waitFor('the synchronous work', () => lines.includes('busy'), 30_000);
    child.kill(signal);
    return { ...(await exited), lines };
  }

  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    test(`${signal}: start's handler gets it`, async () => {
      const { code, lines } = await signalledWhileBusy('take', signal);
      assert.deepEqual(lines, ['busy', `handled ${signal}`]);
      assert.equal(code, 0);
    });

    test(`${signal}: another command ends by it, as by Node's default`, async () => {
      const { signal: endedBy, lines } = await signalledWhileBusy('release', signal);
      assert.deepEqual(lines, ['busy']);
      assert.equal(endedBy, signal);
    });
  }
});

/**
 * Crash round 24, finding 3: a stop asked for while the SMTP listeners bound (after startRelay's last look) logged
 * `relay: stopping while starting`, then `relay: ready`, `relay: stopping`, `relay: stopped`. The SMTP listeners'
 * undoing is now on the stack before they bind, and startRelay looks once more after it.
 */
test('a stop asked for while the SMTP listeners bind: startRelay unwinds them too, and the relay is never ready', async () => {
  const dir = tempDir('smsrelay-start-signals-');
  dirs.push(dir);
  const smtpPort = await freePort();
  const { config } = loadConfig(relayEnvironment(dir, {}, { SMSRELAY_SMTP_PORT: String(smtpPort) }), dir);
  const { logger, lines } = captureLog('info');
  const stopAsked = new AbortController();
  const reason = new RelayError('SHUTTING_DOWN', 'SIGTERM while starting');
  // The real listen, with the stop asked for as the SMTP port's begins.
  const listen = Server.prototype.listen;
  Server.prototype.listen = function (this: Server, ...args: unknown[]) {
    if (args[0] === smtpPort) stopAsked.abort(reason);
    return (listen as (...args: unknown[]) => Server).apply(this, args);
  } as typeof listen;
  try {
    await assert.rejects(startRelay(config, logger, { stopAsked: stopAsked.signal }), (error) => error === reason);
  } finally {
    Server.prototype.listen = listen;
  }
  assert.ok(stopAsked.signal.aborted, 'the SMTP port was bound');
  const messages = lines.map((line) => String(JSON.parse(line).msg));
  assert.ok(!messages.some((msg) => msg === 'relay: ready' || msg.startsWith('relay: listening')), messages.join('\n'));
  assert.ok(!existsSync(join(config.dataDir, 'smsrelay.pid')), 'the lock is released');
  // The SMTP port is free again.
  const again = createServer();
  await new Promise<void>((resolve, reject) => again.once('error', reject).listen(smtpPort, '127.0.0.1', resolve));
  await new Promise((resolve) => again.close(resolve));
});
