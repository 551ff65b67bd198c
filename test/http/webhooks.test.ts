import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Agent, request } from 'undici';
import { simpleParser } from 'mailparser';
import { quarantine } from '../../src/admin.ts';
import { loadConfig } from '../../src/config/load.ts';
import { startRelay } from '../../src/relay.ts';
import type { TwilioSimulator } from '../../src/simulators/twilio.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { sendMail } from '../helpers/smtp.ts';
import { maildirMessages, relayEnvironment, removeDir, startTestRelay, type TestRelay, tempDir, waitFor } from '../helpers/relay.ts';

/** The webhooks' own guards: the source network allowlist and the per-address rate. */
describe('webhook guards', () => {
  let relay: TestRelay;
  const from = (localAddress: string) => new Agent({ localAddress });
  const TOKEN = 'a-long-enough-webhook-secret';

  before(async () => {
    relay = await startTestRelay(
      { http: { host: '0.0.0.0' }, inbound: { allowedNetworks: ['127.0.0.2/32'], webhookRequestsPerMinute: 3 } },
      { SMSRELAY_WEBHOOK_TOKEN: TOKEN },
    );
  });
  after(async () => {
    await relay.stop();
    removeDir(relay.dir);
  });

  const post = async (localAddress: string, msgid: string) => {
    const response = await request(`http://127.0.0.1:${relay.relay.httpPort}/webhooks/intellisoftware/mo?token=${TOKEN}`, {
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

/**
 * While the token is changed (inbound.previousWebhookToken): a report on its way to the URL a provider was given
 * with the previous token is taken, the callback URLs of new sends carry the current one, any other token is refused.
 */
describe('webhook token change', () => {
  const CURRENT = 'the+new/webhook=token';
  const PREVIOUS = 'the+old/webhook=token';
  const AUTH_TOKEN = 'twilio-auth-token-for-tests';
  const PUBLIC_URL = 'https://sms.example.com/relay';
  let relay: TestRelay;

  before(async () => {
    relay = await startTestRelay(
      {
        gateway: { provider: 'twilio-simulator', messagingServiceSid: `MG${'1'.repeat(32)}`, authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL },
        inbound: { defaultMailbox: 'ops@example.com' },
      },
      { SMSRELAY_WEBHOOK_TOKEN: CURRENT, SMSRELAY_PREVIOUS_WEBHOOK_TOKEN: PREVIOUS },
    );
  });
  after(async () => {
    await relay.stop();
    removeDir(relay.dir);
  });

  /** A status callback signed as Twilio signs it, to the public URL with `token` in its query. */
  const callback = async (token: string, sid: string) => {
    const query = `?token=${encodeURIComponent(token)}`;
    const form = new URLSearchParams({ MessageSid: sid, AccountSid: `AC${'0'.repeat(32)}`, To: '+447700900196', MessageStatus: 'delivered' });
    const signed = `${PUBLIC_URL}/webhooks/twilio/dr${query}${[...form]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([name, value]) => `${name}${value}`)
      .join('')}`;
    const response = await request(`http://127.0.0.1:${relay.relay.httpPort}/webhooks/twilio/dr${query}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': createHmac('sha1', AUTH_TOKEN).update(signed).digest('base64') },
      body: form.toString(),
    });
    await response.body.dump();
    return response.statusCode;
  };

  test('a report carrying the previous token or the current one is taken, another token refused; new sends are given the current one', async () => {
    assert.equal(await callback(PREVIOUS, `SM${'a'.repeat(32)}`), 200);
    assert.equal(await callback(CURRENT, `SM${'b'.repeat(32)}`), 200);
    assert.equal(await callback('some-other-token-entirely', `SM${'c'.repeat(32)}`), 401);
    await sendMail(relay.relay.smtpPort, { to: ['447700900196@sms.localhost'], body: 'which token?' });
    const simulator = relay.relay.simulator as TwilioSimulator;
    const record = await waitFor('the SMS', () => simulator.records.find((entry) => entry.to === '447700900196'));
    assert.equal(record.statusCallback, `${PUBLIC_URL}/webhooks/twilio/dr?token=${encodeURIComponent(CURRENT)}`);
  });
});

/** Anyone who reaches the HTTP port can send requests with a wrong token: counted, and logged once a minute. */
describe('webhook requests with a wrong token, many of them', () => {
  test('each is refused 401 and counted by provider and reason; one warning line names the setting to check', async () => {
    const dir = tempDir('smsrelay-token-flood-');
    const { config } = loadConfig(relayEnvironment(dir, { inbound: { webhookRequestsPerMinute: 1000 } }, { SMSRELAY_WEBHOOK_TOKEN: TOKEN_FOR_FLOOD }), dir);
    const { logger, lines } = captureLog('info');
    const relay = await startRelay(config, logger);
    try {
      for (let guess = 0; guess < 50; guess++) {
        const answer = await request(`http://127.0.0.1:${relay.httpPort}/webhooks/intellisoftware/mo?token=guess-${guess}`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: 'from=447700900195&text=hi&msgid=f1',
        });
        assert.equal(answer.statusCode, 401);
        await answer.body.dump();
      }
      const refusals = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => String(line.msg).startsWith('webhook: refused'));
      assert.equal(refusals.length, 1, '50 requests, one line');
      const [line] = refusals;
      assert.equal(line?.level, 'warn');
      assert.equal(line?.provider, 'intellisoftware');
      assert.equal(line?.path, '/webhooks/intellisoftware/mo');
      assert.match(String(line?.msg), /inbound\.webhookToken/);
      assert.ok(!lines.join('').includes('guess-'), 'what the caller presented is not logged');
      const metrics = await (await request(`http://127.0.0.1:${relay.httpPort}/metrics`)).body.text();
      assert.match(metrics, /^smsrelay_webhook_refused_total\{provider="intellisoftware",reason="token"\} 50$/m);
    } finally {
      await relay.stop();
      removeDir(dir);
    }
  });
});
const TOKEN_FOR_FLOOD = 'a-long-enough-webhook-secret';

/** A form from `from` to a webhook path, with extra headers; the status and JSON answer. */
async function postForm(port: number, path: string, options: { from?: string; headers?: Record<string, string>; body: string | Buffer; contentType?: string }) {
  const response = await request(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    dispatcher: new Agent({ localAddress: options.from ?? '127.0.0.1' }),
    headers: { 'content-type': options.contentType ?? 'application/x-www-form-urlencoded', ...options.headers },
    body: options.body,
  });
  return { status: response.statusCode, body: (await response.body.json()) as { error?: string; message?: string } };
}

/** The defaults (no token, loopback): a web page in a browser on this host must not fake an SMS. */
describe('webhooks refuse what a web browser sends', () => {
  let relay: TestRelay;

  before(async () => {
    relay = await startTestRelay({ http: { simulatorNetworks: ['127.0.0.1/32', '127.0.0.12/32'] } });
  });
  after(async () => {
    await relay.stop();
    removeDir(relay.dir);
  });

  const stop = (msgid: string, headers: Record<string, string>) =>
    postForm(relay.relay.httpPort, '/webhooks/intellisoftware/mo', {
      headers,
      body: new URLSearchParams({ from: '447700900322', text: 'STOP', msgid }).toString(),
    });

  test('a cross-site form POST (Origin) is refused 403 with a JSON error, and the STOP is not taken', async () => {
    const refused = await stop('b1', { origin: 'https://evil.example', referer: 'https://evil.example/page.html' });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error, 'FORBIDDEN');
    assert.match(refused.body.message ?? '', /web page/);
    assert.equal(await relay.relay.store.isOptedOut('+447700900322'), false);
  });

  test('a browser request that names its site only in Sec-Fetch-Site is refused too', async () => {
    assert.equal((await stop('b2', { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' })).status, 403);
  });

  test("a provider's server (no Origin, no Sec-Fetch-Site; Node's fetch sends Sec-Fetch-Mode) is answered 200", async () => {
    assert.equal((await stop('b3', { 'sec-fetch-mode': 'cors' })).status, 200);
  });

  test("the simulator's control routes answer only http.simulatorNetworks", async () => {
    const control = (from: string) =>
      postForm(relay.relay.httpPort, '/simulator/control', { from, contentType: 'application/json', body: JSON.stringify({ mode: 'ok' }) });
    const refused = await control('127.0.0.13');
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error, 'FORBIDDEN');
    assert.equal((await control('127.0.0.12')).status, 200);
  });
});

/** Several providers' webhooks on one relay: one rate per address over all of them; bodies in their charset. */
describe('webhooks of several providers', () => {
  let relay: TestRelay;
  const TOKEN = 'another-long-webhook-secret';

  before(async () => {
    relay = await startTestRelay(
      {
        gateway: {
          routes: [
            { match: ['+47'], providers: ['puzzel-simulator'] },
            { match: '*', providers: ['simulator'] },
          ],
        },
        inbound: { webhookRequestsPerMinute: 4, defaultMailbox: 'ops@example.com' },
      },
      { SMSRELAY_WEBHOOK_TOKEN: TOKEN },
    );
  });
  after(async () => {
    await relay.stop();
    removeDir(relay.dir);
  });

  test('an address has one bucket over all providers: token guesses spread over them get 429 at the limit', async () => {
    const statuses = [];
    for (const provider of ['intellisoftware', 'puzzel', 'intellisoftware', 'puzzel', 'intellisoftware', 'puzzel']) {
      statuses.push((await postForm(relay.relay.httpPort, `/webhooks/${provider}/mo?token=guess`, { from: '127.0.0.14', body: 'a=b' })).status);
    }
    assert.deepEqual(statuses, [401, 401, 401, 401, 429, 429]);
  });

  test("a body is read in its Content-Type's charset: a Latin-1 form and Latin-1 JSON keep their é", async () => {
    const form = await postForm(relay.relay.httpPort, `/webhooks/intellisoftware/mo?token=${TOKEN}`, {
      from: '127.0.0.15',
      contentType: 'application/x-www-form-urlencoded; charset=iso-8859-1',
      body: 'from=447700900401&msgid=cs1&text=caf%E9+form',
    });
    assert.equal(form.status, 200);
    const json = await postForm(relay.relay.httpPort, `/webhooks/puzzel/mo?token=${TOKEN}`, {
      from: '127.0.0.15',
      contentType: 'application/json; charset=ISO-8859-1',
      body: Buffer.from(JSON.stringify({ mo: [{ messageid: 'cs2', originator: '+4799999999', content: 'café json' }] }), 'latin1'),
    });
    assert.equal(json.status, 200);
    // Naming no charset and not UTF-8 (a gateway or proxy that writes Latin-1 or windows-1252 without saying so): read as windows-1252.
    const undeclaredForm = await postForm(relay.relay.httpPort, `/webhooks/intellisoftware/mo?token=${TOKEN}`, {
      from: '127.0.0.15',
      body: 'from=447700900402&msgid=cs3&text=caf%E9+undeclared+%80',
    });
    assert.equal((undeclaredForm.body as { status?: string }).status, 'accepted');
    const undeclaredJson = await postForm(relay.relay.httpPort, `/webhooks/puzzel/mo?token=${TOKEN}`, {
      from: '127.0.0.15',
      contentType: 'application/json',
      body: Buffer.from(JSON.stringify({ mo: [{ messageid: 'cs4', originator: '+4799999998', content: 'café undeclared json' }] }), 'latin1'),
    });
    assert.equal((undeclaredJson.body as { status?: string }).status, 'accepted');
    for (const text of ['café form', 'café json', 'café undeclared €', 'café undeclared json']) {
      await waitFor(`the mail of "${text}"`, async () => {
        for (const raw of maildirMessages(relay.maildir)) if ((await simpleParser(raw)).text?.includes(text)) return true;
        return undefined;
      });
    }
  });
});

/** Several providers' webhooks on one relay: XML in its declared encoding; text in no known charset quarantined, never mailed as U+FFFD. */
describe('webhook text in the charset it names', () => {
  let relay: TestRelay;
  const TOKEN = 'a-fourth-long-webhook-secret';

  before(async () => {
    relay = await startTestRelay(
      { gateway: { provider: 'puzzel-simulator' }, inbound: { defaultMailbox: 'ops@example.com' } },
      { SMSRELAY_WEBHOOK_TOKEN: TOKEN },
    );
  });
  after(async () => {
    await relay.stop();
    removeDir(relay.dir);
  });

  const xmlMo = (encoding: string, id: string, content: string) =>
    `<?xml version="1.0" encoding="${encoding}"?><mo><message><messageid>${id}</messageid><originator>+4791234571</originator><destination>1960</destination><content>${content}</content></message></mo>`;

  test("an XML body with no charset on its Content-Type is read in its declaration's encoding (ISO-8859-1, windows-1252)", async () => {
    // Node has no windows-1252 encoder: its € is written as the byte 0x80, a C1 control in Latin-1.
    for (const [encoding, id, bytes, content] of [
      ['ISO-8859-1', 'xml-latin1', 'latin \u00e6\u00f8\u00e5', 'latin æøå'],
      ['windows-1252', 'xml-cp1252', 'cp1252 \u0080 \u00e6', 'cp1252 € æ'],
    ] as const) {
      const answer = await postForm(relay.relay.httpPort, `/webhooks/puzzel/mo?token=${TOKEN}`, {
        contentType: 'application/xml',
        body: Buffer.from(xmlMo(encoding, id, bytes), 'latin1'),
      });
      assert.equal(answer.status, 200);
      assert.equal((answer.body as { status?: string }).status, 'accepted', content);
      await waitFor(`the mail of "${content}"`, async () => {
        for (const raw of maildirMessages(relay.maildir)) if ((await simpleParser(raw)).text?.includes(content)) return true;
        return undefined;
      });
    }
  });

  test('text that is not in the charset it names (Latin-1 escapes in a GET, Latin-1 XML declared UTF-8) is quarantined with why, not mailed', async () => {
    const get = await request(
      `http://127.0.0.1:${relay.relay.httpPort}/webhooks/puzzel/mo?token=${TOKEN}&messageid=get-latin1&originator=%2B4791234572&content=get+latin+%E6%F8%E5`,
    );
    assert.equal(get.statusCode, 200);
    assert.deepEqual(await get.body.json(), {
      status: 'quarantined',
      reason: "the query's %-escapes are not UTF-8 text (a GET callback can name no other charset)",
    });
    const xml = await postForm(relay.relay.httpPort, `/webhooks/puzzel/mo?token=${TOKEN}`, {
      contentType: 'text/xml',
      body: Buffer.from(xmlMo('UTF-8', 'xml-not-utf8', 'bad \u00e6'), 'latin1'),
    });
    assert.deepEqual(xml.body, { status: 'quarantined', reason: 'the body is not UTF-8 text (its charset: UTF-8)' });
    const kept = await relay.relay.store.listQuarantine(100);
    assert.equal(kept.length, 2);
    for (const raw of maildirMessages(relay.maildir)) assert.doesNotMatch((await simpleParser(raw)).text ?? '', /\uFFFD/);
  });

  test('a quarantined request is kept exactly as received, its bytes: a Latin-1 form, control bytes, a GET less its token; shown with the bytes escaped', async () => {
    const before = (await relay.relay.store.listQuarantine(100)).length;
    // No charset named: read as windows-1252 for the parsers, but kept as sent (a form is no Puzzel MO, so quarantined).
    const form = Buffer.from('from=447700900123&text=caf\u00e9 latin\u0000\u0001\u001b\\&x=1', 'latin1');
    const posted = await postForm(relay.relay.httpPort, `/webhooks/puzzel/mo?token=${TOKEN}`, { body: form });
    assert.equal((posted.body as { status?: string }).status, 'quarantined', JSON.stringify(posted));
    const query = `messageid=get-latin1-kept&originator=%2B4791234573&content=caf%E9+latin`;
    const get = await request(`http://127.0.0.1:${relay.relay.httpPort}/webhooks/puzzel/mo?token=${TOKEN}&${query}`);
    assert.equal(get.statusCode, 200);
    await get.body.json();
    const kept = (await relay.relay.store.listQuarantine(100)).slice(before);
    assert.deepEqual(
      kept.map((entry) => entry.bytes),
      [form.length, query.length],
      'the size as received',
    );
    const [post, got] = await Promise.all(kept.map((entry) => relay.relay.store.quarantined(entry.id)));
    assert.deepEqual(post?.body, form, 'the bytes as received');
    assert.equal(got?.body.toString('latin1'), query, 'the query as written, less the token');
    const shown = (await quarantine(relay.relay.store, ['show', String(post?.id)], () => undefined)).split('\n');
    assert.equal((JSON.parse(shown[0] ?? '') as { bodyEscaped?: boolean; bytes: number }).bodyEscaped, true);
    assert.equal(shown.slice(1).join('\n'), 'from=447700900123&text=caf\\xE9 latin\\x00\\x01\\x1B\\\\&x=1');
  });
});

/** Behind a TLS proxy: the client is the address the trusted proxy forwarded for, for the allowlist and the rate. */
describe('webhooks behind a trusted proxy', () => {
  let relay: TestRelay;
  const TOKEN = 'a-third-long-webhook-secret';
  const PROXY = '127.0.0.16';

  before(async () => {
    relay = await startTestRelay(
      { http: { trustedProxies: [`${PROXY}/32`] }, inbound: { allowedNetworks: ['10.0.0.0/8'], webhookRequestsPerMinute: 2 } },
      { SMSRELAY_WEBHOOK_TOKEN: TOKEN },
    );
  });
  after(async () => {
    await relay.stop();
    removeDir(relay.dir);
  });

  let next = 0;
  const report = (from: string, forwardedFor: string) =>
    postForm(relay.relay.httpPort, `/webhooks/intellisoftware/dr?token=${TOKEN}`, {
      from,
      headers: { 'x-forwarded-for': forwardedFor },
      body: `msgid=${++next}&status=4`,
    });

  test('the right-most untrusted X-Forwarded-For hop is the client: inbound.allowedNetworks works behind the proxy', async () => {
    assert.equal((await report(PROXY, '10.1.2.3')).status, 200);
    assert.equal((await report(PROXY, '10.1.2.3, 192.0.2.7')).status, 403, 'a hop the client wrote to the left does not count');
    assert.equal((await report('127.0.0.17', '10.1.2.4')).status, 403, 'X-Forwarded-For from an untrusted peer is ignored');
  });

  test('each forwarded client has its own rate bucket: one flooding client does not get the provider 429d', async () => {
    assert.deepEqual(
      [(await report(PROXY, '10.9.9.9')).status, (await report(PROXY, '10.9.9.9')).status, (await report(PROXY, '10.9.9.9')).status],
      [200, 200, 429],
    );
    assert.equal((await report(PROXY, '10.5.5.5')).status, 200);
  });
});
