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

/** With a webhook token: the rate counts every request, and a body over the limit gets the relay's own error. */
describe('webhook guards with a token', () => {
  let relay: TestRelay;
  const TOKEN = 'a-long-enough-webhook-secret';

  before(async () => {
    relay = await startTestRelay({ inbound: { webhookRequestsPerMinute: 3 } }, { SMSRELAY_WEBHOOK_TOKEN: TOKEN });
  });
  after(async () => {
    await relay.stop();
    removeDir(relay.dir);
  });

  const post = async (localAddress: string, token: string, body: string) => {
    const response = await request(`http://127.0.0.1:${relay.relay.httpPort}/webhooks/intellisoftware/dr?token=${token}`, {
      method: 'POST',
      dispatcher: new Agent({ localAddress }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });
    return { status: response.statusCode, body: (await response.body.json()) as { error?: string; message?: string } };
  };

  test('requests with a wrong token count against the rate too: guessing the token gets 429', async () => {
    const statuses = [];
    for (let guess = 0; guess < 5; guess++) statuses.push((await post('127.0.0.4', `guess-${guess}`, 'msgid=1&status=4')).status);
    assert.deepEqual(statuses, [401, 401, 401, 429, 429]);
    const right = await post('127.0.0.4', TOKEN, 'msgid=1&status=4');
    assert.equal(right.status, 429, 'the address is limited, whatever it presents');
  });

  test("a body over 256 KB gets the relay's JSON error naming the limit", async () => {
    const tooBig = await post('127.0.0.5', TOKEN, `msgid=1&status=4&pad=${'x'.repeat(300 * 1024)}`);
    assert.equal(tooBig.status, 413);
    assert.deepEqual(tooBig.body, { error: 'MESSAGE_TOO_BIG', message: 'Request body too big: the limit is 256 KB' });
  });
});
