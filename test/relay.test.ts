import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config/load.ts';
import { startRelay } from '../src/relay.ts';
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
