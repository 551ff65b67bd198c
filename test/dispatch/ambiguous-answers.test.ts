import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { captureLog } from '../helpers/log-lines.ts';
import { gatewayYaml, removeDir, startTestRelay, type TestRelay, waitFor } from '../helpers/relay.ts';
import { ReplayServer } from '../helpers/replay-server.ts';
import { queuedId, sendMail } from '../helpers/smtp.ts';

/**
 * Passing answers about a request that say nothing of the account (a 408): a real relay, a test gateway over HTTP
 * answering each case, real SMTP.
 */

const dirs: string[] = [];
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  dirs.forEach(removeDir);
});

const fast = { retryMinDelay: '100ms', retryMaxDelay: '200ms' };

async function gateway(answer: { status: number; body: string }, contentType = 'text/html'): Promise<ReplayServer> {
  const server = await new ReplayServer({ contentType, answer }).start();
  cleanups.push(() => server.close());
  return server;
}

async function relayWith(yaml: object): Promise<TestRelay & { readonly lines: string[] }> {
  const { logger, lines } = captureLog('info');
  const relay = await startTestRelay(yaml, {}, undefined, {}, logger);
  dirs.push(relay.dir);
  cleanups.push(() => relay.stop());
  return { ...relay, lines };
}

const logged = (lines: readonly string[]) => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
const sendOne = async (relay: TestRelay, to: string, body: string) =>
  queuedId((await sendMail(relay.relay.smtpPort, { to: [`${to}@sms.localhost`], body })).data);

describe('a passing answer about the request', () => {
  test('a 408 is retried and pauses nothing for the account: no error, no credentials alert', async () => {
    const server = await gateway({ status: 200, body: 'ID:8008' }, 'text/plain');
    server.next = [{ status: 408, body: '<html><body><h1>408 Request Time-out</h1></body></html>' }];
    const relay = await relayWith({ ...gatewayYaml(server.url), delivery: { ...fast, pauseProbeInterval: '60s' } });
    const id = await sendOne(relay, '447700900186', 'timed out');
    await waitFor('the SMS sent', async () => (await relay.relay.store.smsOf(id))[0]?.status === 'sent', 5_000);
    assert.equal(server.requests.length, 2);
    assert.deepEqual(
      logged(relay.lines).filter((line) => line.level === 'error' || line.alert !== undefined),
      [],
      'no account alert',
    );
  });
});
