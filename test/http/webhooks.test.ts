import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Agent, request } from 'undici';
import { removeDir, startTestRelay, type TestRelay } from '../helpers/relay.ts';

/** The webhooks' own guards: the source network allowlist and the per-address rate. */
describe('webhook guards', () => {
  let relay: TestRelay;
  const from = (localAddress: string) => new Agent({ localAddress });

  before(async () => {
    relay = await startTestRelay({ http: { host: '0.0.0.0' }, inbound: { allowedNetworks: ['127.0.0.2/32'], webhookRequestsPerMinute: 3 } });
  });
  after(async () => {
    await relay.stop();
    removeDir(relay.dir);
  });

  const post = async (localAddress: string, msgid: string) => {
    const response = await request(`http://127.0.0.1:${relay.relay.httpPort}/webhooks/intellisoftware/mo`, {
      method: 'POST',
      dispatcher: from(localAddress),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ from: '447700900195', text: 'hi', msgid }).toString(),
    });
    return { status: response.statusCode, body: (await response.body.json()) as { error?: string; message?: string } };
  };

  test('an address outside inbound.allowedNetworks gets 403 with a JSON error', async () => {
    const refused = await post('127.0.0.3', 'g1');
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error, 'FORBIDDEN');
  });

  test('beyond the per-address rate: 429, so the provider retries later', async () => {
    const statuses = [];
    for (const msgid of ['r1', 'r2', 'r3', 'r4']) statuses.push((await post('127.0.0.2', msgid)).status);
    assert.deepEqual(statuses.slice(0, 2), [200, 200]);
    const limited = await post('127.0.0.2', 'r5');
    assert.equal(limited.status, 429);
    assert.equal(limited.body.error, 'RATE_LIMITED');
    assert.match(limited.body.message ?? '', /at most 3 a minute/);
  });
});
