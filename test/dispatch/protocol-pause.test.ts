/**
 * The pause for unreadable gateway answers (docs/delivery.md, `alert: gateway-protocol`) across a restart, and only for
 * the relay's own account: a reviewer's cases of fix-seedgw-a2.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import nodemailer from 'nodemailer';
import { hashPassword } from '../../src/policy/passwords.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { gatewayYaml, removeDir, startTestRelay, tempDir, waitFor } from '../helpers/relay.ts';
import { ReplayServer } from '../helpers/replay-server.ts';
import { sendMail } from '../helpers/smtp.ts';
import { sleep } from '../helpers/wait.ts';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});
const TLS = {
  key: fileURLToPath(new URL('../fixtures/tls/key.pem', import.meta.url)),
  cert: fileURLToPath(new URL('../fixtures/tls/cert.pem', import.meta.url)),
};
/** A proxy's or a wrong product's page: a 200 the IntelliSoftware adapter cannot read. */
const UNREADABLE = { status: 200, body: '<html><body>Message submitted</body></html>' };
const logged = (lines: readonly string[]) => lines.map((line) => JSON.parse(line) as Record<string, unknown>);

test("a pause for unreadable answers outlives a restart: the next relay's unreadable probe answer keeps it, though its own count starts again", async () => {
  const server = await new ReplayServer({ contentType: 'text/html', answer: UNREADABLE }).start();
  cleanups.push(() => server.close());
  const dir = tempDir();
  const yaml = { ...gatewayYaml(server.url), delivery: { retryMinDelay: '100ms', retryMaxDelay: '200ms', pauseProbeInterval: '1s' } };
  const one = captureLog('info');
  const r1 = await startTestRelay(yaml, {}, dir, {}, one.logger);
  await sendMail(r1.relay.smtpPort, { to: ['447700900188@sms.localhost'], body: 'a' });
  await sendMail(r1.relay.smtpPort, { to: ['447700900189@sms.localhost'], body: 'b' });
  await waitFor('alert', async () => logged(one.lines).some((line) => line.alert === 'gateway-protocol'), 10_000);
  await r1.stop();
  const before = server.requests.length;
  const two = captureLog('info');
  const r2 = await startTestRelay(yaml, {}, dir, {}, two.logger);
  cleanups.push(() => r2.stop());
  await sleep(4_000);
  const resumed = logged(two.lines).filter((line) => String(line.msg).includes('sending resumed'));
  assert.deepEqual(resumed, [], 'an unreadable probe answer ends no pause');
  assert.ok(server.requests.length - before <= 5, `${server.requests.length - before} requests in 4 s: probes only, one a second`);
  removeDir(dir);
});

test("a sender's own gateway account's unreadable answers neither count toward nor end the run of the relay's own account", async () => {
  const server = await new ReplayServer({ contentType: 'text/html', answer: UNREADABLE }).start();
  cleanups.push(() => server.close());
  const yaml = {
    ...gatewayYaml(server.url),
    delivery: { retryMinDelay: '60s', retryMaxDelay: '60s', pauseProbeInterval: '60s' },
    smtp: { trustedNetworks: ['127.0.0.1/32'], tls: TLS, tlsPort: 0 },
    accounts: [{ username: 'billing', passwordHash: await hashPassword('pw-billing-1'), gateway: { username: 'billing-at-gateway', password: 'x' } }],
  };
  const log = captureLog('info');
  const r = await startTestRelay(yaml, {}, undefined, {}, log.logger);
  cleanups.push(() => r.stop());
  const billing = nodemailer.createTransport({
    host: '127.0.0.1',
    port: r.relay.smtpPort,
    secure: false,
    requireTLS: true,
    localAddress: '127.0.0.2',
    tls: { rejectUnauthorized: false },
    auth: { user: 'billing', pass: 'pw-billing-1' },
  });
  for (let i = 0; i < 3; i++) await billing.sendMail({ from: 'b@example.com', to: `44770090011${i}@sms.localhost`, text: `b${i}` });
  billing.close();
  await waitFor('3 billing requests', async () => server.requests.filter((request) => request.body.includes('billing-at-gateway')).length >= 3, 10_000);
  await sleep(500);
  assert.ok(!logged(log.lines).some((line) => line.alert === 'gateway-protocol'), 'no alert yet');
  await sendMail(r.relay.smtpPort, { to: ['447700900120@sms.localhost'], body: 'relay own' });
  await waitFor('relay request', async () => server.requests.some((request) => !request.body.includes('billing-at-gateway')), 10_000);
  await sleep(800);
  const own = server.requests.filter((request) => !request.body.includes('billing-at-gateway')).length;
  const alerts = logged(log.lines).filter((line) => line.alert === 'gateway-protocol');
  assert.equal(alerts.length, 0, `the relay's own provider paused after ${own} unreadable answer(s) of its own account`);
});
