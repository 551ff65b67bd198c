import assert from 'node:assert/strict';
import { createConnection, createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config/load.ts';
import { createLogger } from '../src/log.ts';
import { hashPassword } from '../src/policy/passwords.ts';
import { startRelay } from '../src/relay.ts';
import { SmppSimulator } from '../src/simulators/smpp.ts';
import type { IntelliSoftwareSimulator } from '../src/simulators/intellisoftware.ts';
import type { ProviderSimulator } from '../src/simulators/contract.ts';
import { after, describe, test } from 'node:test';
import { request } from 'undici';
import { captureLog } from './helpers/log-lines.ts';
import { freePort, gatewayYaml, relayEnvironment, removeDir, startSimulator, startTestRelay, tempDir, waitFor } from './helpers/relay.ts';
import { queuedId, sendMail } from './helpers/smtp.ts';

const dirs: string[] = [];
after(() => dirs.forEach(removeDir));

describe('relay wiring', () => {
  test('the ready line writes an IPv6 listener as [::]:port or [::1]:port and names the SMTP TLS port when it is set', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const tls = {
      key: fileURLToPath(new URL('./fixtures/tls/key.pem', import.meta.url)),
      cert: fileURLToPath(new URL('./fixtures/tls/cert.pem', import.meta.url)),
    };
    const { config } = loadConfig(relayEnvironment(dir, { smtp: { host: '::', tls, tlsPort: 0 }, http: { host: '::1' } }), dir);
    const { logger, lines } = captureLog('info');
    const relay = await startRelay(config, logger);
    try {
      const ready = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => line.msg === 'relay: ready');
      assert.deepEqual([ready?.smtp, ready?.smtpTls, ready?.http], [`[::]:${relay.smtpPort}`, `[::]:${relay.smtpTlsPort}`, `[::1]:${relay.httpPort}`]);
    } finally {
      await relay.stop();
    }
  });

  test('an SMSC that cannot be reached at start: no "relay: ready" but a warning naming the gateway and why; /readyz says gateway', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const gateway = { provider: 'smpp', host: '127.0.0.1', port: await freePort(), username: 'u', password: 'secret12' };
    const { config } = loadConfig(relayEnvironment(dir, { gateway }), dir);
    const { logger, lines } = captureLog('info');
    const relay = await startRelay(config, logger);
    try {
      const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      assert.ok(!logged.some((line) => line.msg === 'relay: ready'), 'not ready: the gateway cannot send');
      const start = logged.find((line) => String(line.msg).startsWith('relay: listening, '));
      assert.equal(start?.msg, 'relay: listening, gateway not ready (mail accepted and queued) until it can send');
      assert.equal(start?.level, 'warn');
      assert.match(String(start?.gatewayNotReady), new RegExp(`^smpp: not bound: connect ECONNREFUSED 127\\.0\\.0\\.1:${gateway.port}$`));
      const ready = await request(`http://127.0.0.1:${relay.httpPort}/readyz`);
      assert.equal(ready.statusCode, 503);
      assert.deepEqual(await ready.body.json(), { status: 'not ready', reasons: { gateway: 'cannot send: smpp' } });
    } finally {
      await relay.stop();
    }
  });

  test('a relay that started without a bind logs "relay: ready" once, with its listeners and how long it was not ready, when the SMSC binds', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const account = { username: 'smpp-test', password: 'smpp-pw' };
    const gateway = { provider: 'smpp', host: '127.0.0.1', port: await freePort(), ...account };
    const { config } = loadConfig(relayEnvironment(dir, { gateway }), dir);
    const { logger, lines } = captureLog('info');
    const smsc = new SmppSimulator({ ...account, accountId: undefined, logger: createLogger('silent') });
    const smscUrl = new URL(await smsc.listen());
    // The SMSC comes up at the address the relay tries: a forwarder to the simulator on the port that was closed.
    const connections = new Set<Socket>();
    const forwarder = createServer((socket) => {
      const upstream = createConnection({ host: smscUrl.hostname, port: Number(smscUrl.port) });
      connections.add(socket);
      socket.pipe(upstream).pipe(socket);
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
    });
    const relay = await startRelay(config, logger);
    const logged = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    try {
      assert.ok(logged().some((line) => line.msg === 'relay: listening, gateway not ready (mail accepted and queued) until it can send'));
      await new Promise<void>((resolve) => forwarder.listen(gateway.port, '127.0.0.1', resolve));
      const ready = await waitFor('relay: ready', () => logged().find((line) => line.msg === 'relay: ready'), 10_000);
      assert.equal(ready.level, 'info');
      assert.equal(ready.smtp, `127.0.0.1:${relay.smtpPort}`);
      assert.equal(ready.http, `127.0.0.1:${relay.httpPort}`);
      assert.ok(typeof ready.notReadyMs === 'number' && ready.notReadyMs > 0, 'how long it was not ready');
      assert.equal((await request(`http://127.0.0.1:${relay.httpPort}/readyz`)).statusCode, 200);
      // The bind lost and made again later says nothing more of the relay.
      const bound = () => logged().filter((line) => String(line.msg).startsWith('smpp: bound')).length;
      const binds = bound();
      for (const socket of connections) socket.destroy();
      await waitFor('bound again', () => bound() > binds, 10_000);
      assert.equal(logged().filter((line) => line.msg === 'relay: ready').length, 1, 'once');
    } finally {
      await relay.stop();
      await new Promise((resolve) => forwarder.close(resolve));
      await smsc.close();
    }
  });

  test("a sender's own SMPP credentials the SMSC refuses: the start line names the account, and the relay is ready (only that account's SMS wait)", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const { config } = loadConfig(
      relayEnvironment(dir, {
        gateway: { provider: 'smpp-simulator' },
        accounts: [{ username: 'alice', passwordHash: await hashPassword('alice-password'), gateway: { username: 'alice-at-smsc', password: 'wrong-pw' } }],
      }),
      dir,
    );
    const { logger, lines } = captureLog('info');
    const relay = await startRelay(config, logger);
    try {
      const start = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => String(line.msg).startsWith('relay: '));
      assert.equal(start?.msg, 'relay: ready');
      assert.equal(start?.gatewayNotReady, undefined);
      assert.match(String(start?.accountGatewayNotReady), /^smpp \(account alice\): bind refused: ESME_R\w+$/);
      const ready = await request(`http://127.0.0.1:${relay.httpPort}/readyz`);
      assert.equal(ready.statusCode, 200, JSON.stringify(await ready.body.json()));
    } finally {
      await relay.stop();
    }
  });

  test('the simulator serves on the relay HTTP port when selected, and can be told to fail', async () => {
    const relay = await startTestRelay({ delivery: { retryMinDelay: '100ms', retryMaxDelay: '200ms' } });
    dirs.push(relay.dir);
    const base = `http://127.0.0.1:${relay.relay.httpPort}`;
    try {
      const control = await request(`${base}/simulator/control`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ mode: 'error', code: 'GATEWAY_ERROR', times: 1 }),
      });
      assert.equal(control.statusCode, 200);
      await control.body.dump();

      const result = await sendMail(relay.relay.smtpPort, { to: ['447700900123@sms.localhost'], body: 'after a hiccup' });
      queuedId(result.data);
      const simulator = relay.relay.simulator as (ProviderSimulator & { native: IntelliSoftwareSimulator }) | undefined;
      assert.ok(simulator);
      await simulator.native.waitForMessages(1);
      assert.equal(simulator.native.requests, 2, 'the first request failed with GATEWAY_ERROR, the retry went through');

      const listed = await request(`${base}/simulator/messages`);
      const messages = (await listed.body.json()) as Array<{ text: string; to: string }>;
      assert.deepEqual(
        messages.map((sms) => [sms.to, sms.text]),
        [['447700900123', 'after a hiccup']],
      );
    } finally {
      await relay.stop();
    }
  });

  test('with a real provider selected, no simulator routes exist; unknown routes answer JSON 404', async () => {
    const gateway = await startSimulator();
    const relay = await startTestRelay(gatewayYaml(gateway.url));
    dirs.push(relay.dir);
    try {
      assert.equal(relay.relay.simulator, undefined);
      const response = await request(`http://127.0.0.1:${relay.relay.httpPort}/simulator/messages`);
      assert.equal(response.statusCode, 404);
      assert.deepEqual(await response.body.json(), { error: 'NOT_FOUND', message: 'no route for GET /simulator/messages' });
      const result = await sendMail(relay.relay.smtpPort, { to: ['447700900124@sms.localhost'], body: 'via the real adapter' });
      queuedId(result.data);
      await waitFor('the SMS', () => gateway.simulator.received.length === 1);
    } finally {
      await relay.stop();
      await gateway.close();
    }
  });
});
