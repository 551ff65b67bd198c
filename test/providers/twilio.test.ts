import { simpleParser } from 'mailparser';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { loadConfig } from '../../src/config/load.ts';
import { webhookPaths } from '../../src/http/webhooks.ts';
import { createLogger } from '../../src/log.ts';
import type { InboundRequest } from '../../src/providers/contract.ts';
import { buildMessageForm, createTwilioGateway } from '../../src/providers/twilio/adapter.ts';
import { outcomeClassifier } from '../../src/dispatch/outcomes.ts';
import { TWILIO_ERRORS } from '../../src/providers/twilio/errors.ts';
import { twilioPlugin } from '../../src/providers/twilio/index.ts';
import { EMPTY_TWIML } from '../../src/providers/twilio/inbound.ts';
import { startRelay, STORE_FILE, type Relay } from '../../src/relay.ts';
import type { TwilioSimulator } from '../../src/simulators/twilio.ts';
import { relayEnvironment, removeDir, tempDir, waitFor } from '../helpers/relay.ts';
import { queuedId, sendMail } from '../helpers/smtp.ts';
import { TEST_GATEWAY_SETTINGS, withFreshGateway } from '../helpers/gateway.ts';
import { ReplayServer, serveDuringSuite } from '../helpers/replay-server.ts';
import { SmtpSink } from '../helpers/smtp-sink.ts';

const FORM = 'application/x-www-form-urlencoded';
const verify = twilioPlugin.verify!;

function request(url: string, body: string, signature: string | undefined, contentType = FORM): InboundRequest {
  return {
    contentType,
    body,
    query: new URL(url).searchParams,
    headers: signature === undefined ? {} : { 'x-twilio-signature': signature },
    url,
    method: 'POST',
  };
}

/**
 * Twilio's published request-validation examples (https://www.twilio.com/docs/usage/webhooks/webhooks-security,
 * and the test vectors of Twilio's helper libraries): auth token 12345.
 */
describe('Twilio signature: the published examples', () => {
  const url = 'https://mycompany.com/myapp.php?foo=1&bar=2';
  const docsForm = new URLSearchParams({
    CallSid: 'CA1234567890ABCDE',
    Caller: '+14158675310',
    Digits: '1234',
    From: '+14158675310',
    To: '+18005551212',
  }).toString();
  const libraryForm = new URLSearchParams({
    CallSid: 'CA1234567890ABCDE',
    Caller: '+12349013030',
    Digits: '1234',
    From: '+12349013030',
    To: '+18005551212',
  }).toString();

  test('the security page example and the library vector (form parameters) validate', () => {
    assert.equal(verify(request(url, docsForm, 'GvWf1cFY/Q7PnoempGyD5oXAezc='), 'mo', '12345', 'hmac-sha1'), true);
    assert.equal(verify(request(url, libraryForm, '0/KCTR6DLpKmkAf8muzZqo1nDgQ='), 'mo', '12345', 'hmac-sha1'), true);
  });

  test('a JSON body is bound by bodySHA256 in the URL', () => {
    const jsonUrl = `${url}&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620`;
    const body = '{"property": "value", "boolean": true}';
    assert.equal(verify(request(jsonUrl, body, 'a9nBmqA0ju/hNViExpshrM61xv4=', 'application/json'), 'dr', '12345', 'hmac-sha1'), true);
    assert.equal(
      verify(request(jsonUrl, body.replace('value', 'other'), 'a9nBmqA0ju/hNViExpshrM61xv4=', 'application/json'), 'dr', '12345', 'hmac-sha1'),
      false,
    );
  });

  test("the URL with the default port written out validates too (as Twilio's libraries accept)", () => {
    const withPort = 'https://mycompany.com:443/myapp.php?foo=1&bar=2';
    assert.equal(verify(request(withPort, libraryForm, '0/KCTR6DLpKmkAf8muzZqo1nDgQ='), 'mo', '12345', 'hmac-sha1'), true);
  });

  test('another token, a changed field, another URL or no signature at all is forged', () => {
    assert.equal(verify(request(url, libraryForm, '0/KCTR6DLpKmkAf8muzZqo1nDgQ='), 'mo', '54321', 'hmac-sha1'), false);
    assert.equal(verify(request(url, libraryForm.replace('1234', '9999'), '0/KCTR6DLpKmkAf8muzZqo1nDgQ='), 'mo', '12345', 'hmac-sha1'), false);
    assert.equal(verify(request(`${url}&x=1`, libraryForm, '0/KCTR6DLpKmkAf8muzZqo1nDgQ='), 'mo', '12345', 'hmac-sha1'), false);
    assert.equal(verify(request(url, libraryForm, undefined), 'mo', '12345', 'hmac-sha1'), false);
  });
});

describe('Twilio payloads', () => {
  // The incoming-message fields of Twilio's webhook request page (https://www.twilio.com/docs/messaging/guides/webhook-request).
  const incoming = new URLSearchParams({
    ToCountry: 'US',
    ToState: 'CA',
    SmsMessageSid: 'SM1f0e8ae6ade43cb3c0ce4525424e404f',
    NumMedia: '0',
    ToCity: '',
    FromZip: '',
    SmsSid: 'SM1f0e8ae6ade43cb3c0ce4525424e404f',
    FromState: '',
    SmsStatus: 'received',
    FromCity: '',
    Body: 'Hello there ✓',
    FromCountry: 'GB',
    To: '+14155552345',
    ToZip: '',
    NumSegments: '1',
    MessageSid: 'SM1f0e8ae6ade43cb3c0ce4525424e404f',
    AccountSid: 'AC1234567890abcdef1234567890abcdef',
    From: '+447700900123',
    ApiVersion: '2010-04-01',
  }).toString();

  test('an incoming message: its MessageSid, the phone and the whole text; no reply tracking', () => {
    const parsed = twilioPlugin.parseReceived!({ contentType: FORM, body: incoming, query: new URLSearchParams(), headers: {} });
    assert.deepEqual(parsed, {
      ok: true,
      items: [
        {
          providerId: 'SM1f0e8ae6ade43cb3c0ce4525424e404f',
          number: '+447700900123',
          text: 'Hello there ✓',
          sentAt: undefined,
          userContext: undefined,
          trackingId: undefined,
          to: '+14155552345',
        },
      ],
    });
  });

  test('an MMS: the text says how many media items the phone sent, with their URLs and types as plain text', () => {
    const media = 'https://api.twilio.com/2010-04-01/Accounts/AC1234567890abcdef1234567890abcdef/Messages/MM1f0e8ae6ade43cb3c0ce4525424e404f/Media/ME';
    const mms = (fields: Record<string, string>) => {
      const form = new URLSearchParams(incoming);
      for (const [name, value] of Object.entries(fields)) form.set(name, value);
      const parsed = twilioPlugin.parseReceived!({ contentType: FORM, body: form.toString(), query: new URLSearchParams(), headers: {} });
      return parsed.ok ? parsed.items[0]?.text : parsed.reason;
    };
    assert.equal(
      mms({ Body: '', NumMedia: '1', MediaUrl0: `${media}1`, MediaContentType0: 'image/jpeg' }),
      `[the phone sent 1 media item, kept at Twilio (not fetched by the relay):]\n${media}1 (image/jpeg)`,
    );
    assert.equal(
      mms({ Body: 'Look', NumMedia: '2', MediaUrl0: `${media}1`, MediaContentType0: 'image/png', MediaUrl1: 'javascript:alert(1)\r\nBcc: x@example.com' }),
      `Look\n\n[the phone sent 2 media items, kept at Twilio (not fetched by the relay):]\n${media}1 (image/png)\n(no readable URL)`,
    );
    assert.equal(mms({ NumMedia: '0' }), 'Hello there ✓', 'an SMS is its text alone');
    assert.equal(mms({ NumMedia: '11' }), 'NumMedia is not a count of up to 10');
  });

  test('status callbacks: every MessageStatus Twilio has is read (delivered, undelivered with its ErrorCode, sent and partially_delivered not final); an unknown status is unreadable', () => {
    const callback = (fields: Record<string, string>) =>
      twilioPlugin.parseReport!({
        contentType: FORM,
        body: new URLSearchParams({
          AccountSid: 'AC1234567890abcdef1234567890abcdef',
          ApiVersion: '2010-04-01',
          From: '+14155552345',
          MessageSid: 'SM5bd6d4ab3f4e4a5e9a8e1c5f8e2f3a11',
          SmsSid: 'SM5bd6d4ab3f4e4a5e9a8e1c5f8e2f3a11',
          To: '+447700900123',
          ...fields,
        }).toString(),
        query: new URLSearchParams(),
        headers: {},
      });
    const item = (fields: Record<string, string>) => {
      const parsed = callback(fields);
      assert.ok(parsed.ok);
      return parsed.items[0];
    };
    assert.deepEqual(item({ MessageStatus: 'delivered', SmsStatus: 'delivered' }), {
      providerId: 'SM5bd6d4ab3f4e4a5e9a8e1c5f8e2f3a11',
      number: '+447700900123',
      code: 0,
      state: 'delivered',
      said: 'MessageStatus delivered',
    });
    assert.deepEqual(item({ MessageStatus: 'undelivered', ErrorCode: '30003' }), {
      providerId: 'SM5bd6d4ab3f4e4a5e9a8e1c5f8e2f3a11',
      number: '+447700900123',
      code: 30003,
      state: 'failed',
      said: 'MessageStatus undelivered, ErrorCode 30003',
    });
    assert.equal(item({ MessageStatus: 'sent' })?.state, 'sent');
    assert.equal(callback({ MessageStatus: 'teleported' }).ok, false);
    assert.deepEqual(callback({ MessageStatus: 'sent', MessageSid: `SM${'g'.repeat(32)}`, SmsSid: `SM${'g'.repeat(32)}` }), {
      ok: false,
      reason: 'MessageSid is not a Twilio message SID (SM or MM and 32 hex digits)',
    });
    // Every value of Twilio's Message status enum is read: none is quarantined as unknown.
    const expected: Record<string, string> = {
      queued: 'queued',
      sending: 'queued',
      sent: 'sent',
      failed: 'failed',
      delivered: 'delivered',
      undelivered: 'failed',
      accepted: 'queued',
      scheduled: 'queued',
      read: 'delivered',
      partially_delivered: 'sent',
      canceled: 'failed',
    };
    for (const [status, state] of Object.entries(expected)) {
      const found = item({ MessageStatus: status });
      assert.equal(found?.state, state, status);
      assert.doesNotMatch(twilioPlugin.describeStatus(found?.code ?? -1), /^Twilio error/, status);
    }
    assert.match(twilioPlugin.describeStatus(30003), /switched off|out of reach/);
    // An incoming message's status is no report: the "A message comes in" URL points at the status-callback one.
    for (const status of ['received', 'receiving']) {
      const parsed = callback({ SmsStatus: status, Body: 'an MO', From: '+447700900123', To: '+14155552345' });
      assert.equal(parsed.ok, false, status);
      assert.match(
        parsed.ok ? '' : parsed.reason,
        /^an incoming message \(status (?:received|receiving)\) on the status-callback URL: set the "A message comes in" URL .* \/webhooks\/twilio\/mo, not \/webhooks\/twilio\/dr$/,
      );
    }
    // The same ErrorCode means what it means in a send's answer: the account's alerts, the recipient's opt-out.
    assert.equal(item({ MessageStatus: 'failed', ErrorCode: '21704' })?.accountWide, true);
    assert.equal(item({ MessageStatus: 'failed', ErrorCode: '21408' })?.accountWide, undefined, "one country's permission: the others' SMS still go");
    assert.deepEqual(item({ MessageStatus: 'failed', ErrorCode: '21610' })?.optedOut, { code: 'TWILIO:21610', at: undefined });
    assert.equal(item({ MessageStatus: 'failed', ErrorCode: '21211' })?.accountWide, undefined);
    assert.match(twilioPlugin.describeStatus(21704), /sender pool holds no number/);
    assert.equal(twilioPlugin.statusCode?.(6), 'MessageStatus canceled');
    assert.equal(twilioPlugin.statusCode?.(21610), 'ErrorCode 21610', "a callback's ErrorCode, never a status (Twilio's API word for its own list)");
  });

  test('a status callback posted to the incoming-message URL is unreadable there, saying which URL it belongs to', () => {
    const parsed = twilioPlugin.parseReceived!({
      contentType: FORM,
      body: new URLSearchParams({ MessageSid: `SM${'a'.repeat(32)}`, MessageStatus: 'delivered', To: '+447700900123', From: '+14155552345' }).toString(),
      query: new URLSearchParams(),
      headers: {},
    });
    assert.deepEqual(parsed, {
      ok: false,
      reason:
        'a status callback (MessageStatus delivered) on the incoming-message URL: the status callback URL must end in /webhooks/twilio/dr, not /webhooks/twilio/mo',
    });
  });

  test("the create form: To, Body, the Messaging Service, From for a mail's own sender, StatusCallback and ValidityPeriod", () => {
    const service = `MG${'a'.repeat(32)}`;
    const base = { messageId: 'm1', recipients: ['+447700900123'], text: 'Pump 3\nstopped', encoding: 'gsm7' as const, maxParts: 10 };
    const form = buildMessageForm(
      { ...base, expiresAt: 1_000_000 + 90_500 },
      '+447700900123',
      service,
      'https://relay.example.com/webhooks/twilio/dr?token=t',
      1_000_000,
    );
    assert.deepEqual(Object.fromEntries(form), {
      To: '+447700900123',
      Body: 'Pump 3\nstopped',
      MessagingServiceSid: service,
      StatusCallback: 'https://relay.example.com/webhooks/twilio/dr?token=t',
      ValidityPeriod: '91',
    });
    const own = buildMessageForm({ ...base, senderId: 'Acme', expiresAt: 1_000_000 + 86_400_000 }, '+447700900123', service, undefined, 1_000_000);
    assert.equal(own.get('From'), 'Acme');
    assert.equal(own.get('ValidityPeriod'), '36000', "clamped to Twilio's maximum");
    const otherService = `MG${'b'.repeat(32)}`;
    const asService = buildMessageForm({ ...base, senderId: otherService }, '+447700900123', service, undefined, 0);
    assert.equal(asService.get('MessagingServiceSid'), otherService);
    assert.equal(asService.has('From'), false);
    // Upper-case hex digits name the same service: sent as Twilio issues its SID, never as a From.
    const upperCase = buildMessageForm({ ...base, senderId: `MG${'B'.repeat(32)}` }, '+447700900123', service, undefined, 0);
    assert.equal(upperCase.get('MessagingServiceSid'), otherService);
    assert.equal(upperCase.has('From'), false);
    assert.equal(twilioPlugin.senderIdProblem(`MG${'B'.repeat(32)}`), undefined);
  });

  test('error codes: a known number or message code bounces, an unknown 400 code is retried', () => {
    const { classifyRecipient } = outcomeClassifier(twilioPlugin.outcomeRules);
    const answered = (code: string) => ({ kind: 'answered' as const, results: [{ number: '+447700900123', code }] });
    assert.equal(classifyRecipient(answered('TWILIO:21211'), '+447700900123').action, 'fail');
    assert.equal(classifyRecipient(answered('TWILIO:21610'), '+447700900123').action, 'fail');
    assert.equal(classifyRecipient(answered('TWILIO:21611'), '+447700900123').action, 'retry', "a passing state (the sender's queue full) is retried");
    assert.equal(classifyRecipient(answered('TWILIO:21999'), '+447700900123').action, 'retry', 'an unknown code never bounces');
  });

  test("a 30xxx code (the delivery's, reported by callback) in a send's 400 is no create-time answer: retried as an unknown code", () => {
    const { classifyRecipient } = outcomeClassifier(twilioPlugin.outcomeRules);
    const codes = Object.keys(TWILIO_ERRORS).filter((code) => code.startsWith('30'));
    assert.ok(codes.includes('30002') && codes.includes('30001') && codes.includes('30005'));
    for (const code of codes) {
      const sent = classifyRecipient({ kind: 'answered', results: [{ number: '+447700900123', code: `TWILIO:${code}` }] }, '+447700900123');
      assert.deepEqual([sent.action, sent.category], ['retry', 'unclassified'], code);
    }
  });

  test("every create-time code of Twilio's table has the same effect in a send's 400 and in a failed callback: pause ⇔ alert, opted out ⇔ opt-out, else that SMS alone", () => {
    const { classifyRecipient } = outcomeClassifier(twilioPlugin.outcomeRules);
    const codes = Object.keys(TWILIO_ERRORS).filter((code) => code.startsWith('21'));
    assert.ok(codes.length >= 15);
    for (const code of codes) {
      const sent = classifyRecipient({ kind: 'answered', results: [{ number: '+447700900123', code: `TWILIO:${code}` }] }, '+447700900123');
      const parsed = twilioPlugin.parseReport!({
        contentType: FORM,
        body: new URLSearchParams({ MessageSid: `SM${'a'.repeat(32)}`, To: '+447700900123', MessageStatus: 'failed', ErrorCode: code }).toString(),
        query: new URLSearchParams(),
        headers: {},
      });
      assert.ok(parsed.ok);
      const report = parsed.items[0];
      assert.notEqual(sent.category, 'unclassified', `${code} is classified at send time`);
      assert.equal(sent.reason.startsWith(twilioPlugin.describeStatus(Number(code))), true, `${code}: the same words either way`);
      assert.equal(report?.accountWide === true, sent.action === 'pause', `${code}: a callback alerts exactly when a send pauses`);
      assert.equal(report?.optedOut !== undefined, sent.optsOut === true, `${code}: a callback keeps the opt-out exactly when a send does`);
      assert.ok(['pause', 'fail', 'retry'].includes(sent.action), `${code}: ${sent.action}`);
    }
    // The sender a mail names and one country's permission are that SMS's, at send and by callback alike.
    for (const code of ['21212', '21408', '21606']) {
      const sent = classifyRecipient({ kind: 'answered', results: [{ number: '+447700900123', code: `TWILIO:${code}` }] }, '+447700900123');
      assert.equal(sent.action, 'fail', code);
    }
  });

  test("error codes about the account's settings (no sender, the Messaging Service, the StatusCallback URL) pause sending, naming the setting", () => {
    const { classifyRecipient } = outcomeClassifier(twilioPlugin.outcomeRules);
    const answered = (code: string) => ({ kind: 'answered' as const, results: [{ number: '+447700900123', code }] });
    for (const code of ['21603', '21703', '21704', '21705']) {
      const classified = classifyRecipient(answered(`TWILIO:${code}`), '+447700900123');
      assert.deepEqual([classified.action, classified.category], ['pause', 'account'], code);
      assert.match(classified.reason, /gateway\.messagingServiceSid/, code);
    }
    const callback = classifyRecipient(answered('TWILIO:21609'), '+447700900123');
    assert.equal(callback.action, 'pause');
    assert.match(callback.reason, /gateway\.publicUrl/);
  });
});

describe('Twilio adapter: what each HTTP status with an error object means', () => {
  const server = new ReplayServer({ contentType: 'application/json' });
  serveDuringSuite(server);
  const { classifyRecipient } = outcomeClassifier(twilioPlugin.outcomeRules);
  const number = '+447700900123';
  const send = () =>
    withFreshGateway(
      createTwilioGateway,
      { ...TEST_GATEWAY_SETTINGS, endpoints: [server.url], username: `AC${'0'.repeat(32)}`, password: 'token', accountId: undefined, sessions: false },
      (gateway) => gateway.send({ messageId: 'm1', recipients: [number], text: 'hi', encoding: 'gsm7', maxParts: 1 }, 0),
    );
  const cases: Array<[number, number, string]> = [
    [500, 20500, 'failover'],
    [503, 20503, 'failover'],
    [503, 20003, 'failover'],
    // Its edge's 502: the API behind it may have created the message (a proxy's no-answer, src/dispatch/outcomes.ts).
    [502, 30001, 'ambiguous'],
    [429, 20429, 'retry'],
    [401, 20003, 'pause'],
    [404, 20404, 'pause'],
  ];
  test('a 400 about the Messaging Service pauses sending with the configured service, but bounces only the mail that named its own', async () => {
    const refusal = { status: 400, body: JSON.stringify({ code: 21705, message: 'The Messaging Service is invalid', status: 400 }) };
    server.next = [refusal];
    assert.equal(classifyRecipient(await send(), number).action, 'pause');
    server.next = [refusal];
    const own = await withFreshGateway(
      createTwilioGateway,
      { ...TEST_GATEWAY_SETTINGS, endpoints: [server.url], username: `AC${'0'.repeat(32)}`, password: 'token', accountId: undefined, sessions: false },
      (gateway) => gateway.send({ messageId: 'm2', recipients: [number], text: 'hi', encoding: 'gsm7', maxParts: 1, senderId: `MG${'c'.repeat(32)}` }, 0),
    );
    const classified = classifyRecipient(own, number);
    assert.deepEqual([classified.action, classified.category], ['fail', 'sender']);
  });

  test("21611 (a sender's queue full) holds only the sender of a send whose mail named one (a From or its own Messaging Service); without one the queue is the configured service's and holds the provider", async () => {
    const full = {
      status: 400,
      body: JSON.stringify({ code: 21611, message: 'This From number has exceeded the maximum number of queued messages', status: 400 }),
    };
    const sendFrom = (senderId: string | undefined) =>
      withFreshGateway(
        createTwilioGateway,
        { ...TEST_GATEWAY_SETTINGS, endpoints: [server.url], username: `AC${'0'.repeat(32)}`, password: 'token', accountId: undefined, sessions: false },
        (gateway) => gateway.send({ messageId: 'm3', recipients: [number], text: 'hi', encoding: 'gsm7', maxParts: 1, senderId }, 0),
      );
    server.next = [full];
    const named = classifyRecipient(await sendFrom('+447700900999'), number);
    assert.deepEqual([named.action, named.category], ['retry', 'sender-busy']);
    // `busy` is what holds the whole provider (the dispatcher probes it as a down one): one bulk sender would stop everyone.
    assert.notEqual(named.category, 'busy');
    assert.match(named.reason, /the sender the mail names/);
    // X-SMS-From naming the mail's own Messaging Service: that service's queue, the mail's sender's alone.
    server.next = [full];
    const ownService = classifyRecipient(await sendFrom(`MG${'d'.repeat(32)}`), number);
    assert.deepEqual([ownService.action, ownService.category], ['retry', 'sender-busy']);
    server.next = [full];
    const service = classifyRecipient(await sendFrom(undefined), number);
    assert.deepEqual([service.action, service.category], ['retry', 'busy']);
  });

  for (const [status, code, action] of cases) {
    test(`HTTP ${status} with code ${code} → ${action}, Twilio's code and message kept as the detail`, async () => {
      server.next = [{ status, body: JSON.stringify({ code, message: 'Some words', more_info: 'https://www.twilio.com/docs/errors', status }) }];
      const result = await send();
      assert.equal(classifyRecipient(result, number).action, action);
      assert.equal(result.kind === 'refused' && result.detail, `TWILIO:${code} Some words`);
    });
  }
});

describe('Twilio through the relay', () => {
  const AUTH_TOKEN = 'relay-auth-token';
  const PUBLIC_URL = 'https://sms.example.com/relay';
  const paths = webhookPaths('twilio');
  let dir: string;
  let relay: Relay;
  let sink: SmtpSink;
  let simulator: TwilioSimulator;
  const lines: Array<Record<string, unknown>> = [];

  before(async () => {
    dir = tempDir('smsrelay-twilio-');
    sink = await new SmtpSink().start();
    const yaml = {
      gateway: { provider: 'twilio-simulator', messagingServiceSid: `MG${'1'.repeat(32)}`, authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL },
      sms: { domains: ['sms.example.com'], defaultRegion: 'GB' },
      mail: { url: sink.url },
      inbound: { defaultMailbox: 'ops@example.com' },
      store: { busyTimeout: '100ms' },
    };
    const { config } = loadConfig(relayEnvironment(dir, yaml), dir);
    const capture = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    relay = await startRelay(config, createLogger('info', capture));
    simulator = relay.simulator as TwilioSimulator;
  });
  after(async () => {
    await relay.stop();
    await sink.stop();
    removeDir(dir);
  });

  const url = (path: string) => `http://127.0.0.1:${relay.httpPort}${path}`;
  /** Signed as Twilio signs a request to the public URL the relay is configured with. */
  const signedFor = (publicPath: string, form: URLSearchParams, token = AUTH_TOKEN) =>
    createHmac('sha1', token)
      .update(
        `${PUBLIC_URL}${publicPath}${[...form]
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([k, v]) => `${k}${v}`)
          .join('')}`,
      )
      .digest('base64');
  const mo = (sid: string, body: string) =>
    new URLSearchParams({
      MessageSid: `SM${sid.padStart(32, '0')}`,
      SmsSid: `SM${sid.padStart(32, '0')}`,
      AccountSid: `AC${'0'.repeat(32)}`,
      From: '+447700900171',
      To: '+15005550006',
      Body: body,
      NumMedia: '0',
    });
  const post = (path: string, form: URLSearchParams, signature?: string) =>
    fetch(url(path), { method: 'POST', headers: { 'content-type': FORM, ...(signature ? { 'x-twilio-signature': signature } : {}) }, body: form.toString() });

  test('the StatusCallback is the public URL; an MO signed for the public URL is answered with empty TwiML', async () => {
    await sendMail(relay.smtpPort, { to: ['447700900170@sms.example.com'], body: 'callback?' });
    const record = await waitFor('the SMS', () => simulator.records.find((entry) => entry.to === '447700900170'));
    assert.equal(record.statusCallback, `${PUBLIC_URL}${paths.dr}`);

    const form = mo('a1', 'Signed for the public URL');
    const answer = await post(paths.mo, form, signedFor(paths.mo, form));
    assert.equal(answer.status, 200);
    assert.match(answer.headers.get('content-type') ?? '', /^text\/xml/);
    assert.equal(await answer.text(), EMPTY_TWIML);
    await waitFor('the mail', () => sink.received.find((mail) => mail.raw.includes('Signed for the public URL')));
  });

  test("the SMS's history shows each status callback in Twilio's words (MessageStatus, ErrorCode), not the relay's codes", async () => {
    const id = queuedId((await sendMail(relay.smtpPort, { to: ['447700900176@sms.example.com'], body: 'what Twilio said' })).data);
    const [sent] = await waitFor('the SMS sent', async () => {
      const sms = await relay.store.smsOf(id);
      return sms[0]?.status === 'sent' && sms;
    });
    // Twilio's order, one callback repeated, and a late `sent` after the final one.
    const callbacks: Array<[Record<string, string>, string]> = [
      [{ MessageStatus: 'queued' }, 'advanced'],
      [{ MessageStatus: 'sending' }, 'stale'],
      [{ MessageStatus: 'sending' }, 'duplicate'],
      [{ MessageStatus: 'sent' }, 'advanced'],
      [{ MessageStatus: 'undelivered', ErrorCode: '30007' }, 'advanced'],
      [{ MessageStatus: 'sent' }, 'duplicate'],
    ];
    const answers: string[] = [];
    for (const [fields] of callbacks) {
      const form = new URLSearchParams({ MessageSid: sent?.providerId ?? '', AccountSid: `AC${'0'.repeat(32)}`, To: '+447700900176', ...fields });
      const answer = await post(paths.dr, form, signedFor(paths.dr, form));
      assert.equal(answer.status, 200);
      answers.push(((await answer.json()) as { status: string }).status);
    }
    assert.deepEqual(
      answers,
      callbacks.map(([, answer]) => answer),
    );
    const reports = (await relay.store.events(id)).filter((event) => event.kind === 'delivery report').map((event) => event.detail);
    assert.deepEqual(reports, [
      'queued (MessageStatus queued)',
      'queued (MessageStatus sending)',
      'sent (MessageStatus sent)',
      'failed (MessageStatus undelivered, ErrorCode 30007)',
    ]);
    assert.equal((await relay.store.smsOf(id))[0]?.delivery, 'failed');
  });

  test("an MO Twilio's Advanced Opt-Out took as STOP opts the phone out whatever its word, and one it took as START opts it in again", async () => {
    const phone = '+447700900172';
    const optOut = (sid: string, body: string, type: string) => {
      const form = mo(sid, body);
      form.set('From', phone);
      form.set('OptOutType', type);
      return form;
    };
    const stop = optOut('b1', 'Stopp', 'STOP');
    assert.equal((await post(paths.mo, stop, signedFor(paths.mo, stop))).status, 200);
    const mailed = await waitFor('the reply mail', () => sink.received.find((mail) => mail.raw.includes('Stopp')));
    assert.match(mailed.raw.replace(/=\r?\n/g, '').replace(/\r?\n\s+/g, ' '), /opted out of SMS from this relay \(it texted STOPP\)/);
    const refused = await sendMail(relay.smtpPort, { to: ['447700900172@sms.example.com'], body: 'after the opt-out' });
    assert.equal(refused.rcpt[0]?.code, 550);
    assert.match(refused.rcpt[0]?.text ?? '', /has opted out of SMS from this relay/);
    // HELP changes nothing; START opts in again, whatever its word.
    const help = optOut('b2', 'Hilfe', 'HELP');
    assert.equal((await post(paths.mo, help, signedFor(paths.mo, help))).status, 200);
    await waitFor('the HELP mailed', () => sink.received.find((mail) => mail.raw.includes('Hilfe')));
    assert.equal((await sendMail(relay.smtpPort, { to: ['447700900172@sms.example.com'], body: 'after HELP' })).rcpt[0]?.code, 550);
    const start = optOut('b3', 'Weiter', 'START');
    assert.equal((await post(paths.mo, start, signedFor(paths.mo, start))).status, 200);
    await waitFor('the START mailed', () => sink.received.find((mail) => mail.raw.includes('Weiter')));
    assert.equal((await sendMail(relay.smtpPort, { to: ['447700900172@sms.example.com'], body: 'after the opt-in' })).rcpt[0]?.code, 250);
    await waitFor('the SMS sent', () => simulator.records.find((entry) => entry.to === '447700900172'));
  });

  test("without OptOutType (no Advanced Opt-Out), Twilio's default keywords decide: REVOKE and OPTOUT opt out, YES opts in; an SMS from a number still opted out invites no reply", async () => {
    const texted = async (sid: string, phone: string, body: string) => {
      const form = mo(sid, body);
      form.set('From', phone);
      assert.equal((await post(paths.mo, form, signedFor(paths.mo, form))).status, 200);
      return (await waitFor(`the mail of ${body}`, () => sink.received.find((mail) => mail.raw.includes(phone.slice(-6)) && mail.raw.includes(body)))).raw
        .replace(/=\r?\n/g, '')
        .replace(/\r?\n\s+/g, ' ');
    };
    const rcpt = async (phone: string) => (await sendMail(relay.smtpPort, { to: [`${phone.slice(1)}@sms.example.com`], body: 'to it' })).rcpt[0]?.code;
    for (const [sid, phone, word] of [
      ['d1', '+447700900672', 'Revoke'],
      ['d2', '+447700900673', 'OPTOUT'],
    ] as const) {
      assert.match(await texted(sid, phone, word), new RegExp(`opted out of SMS from this relay \\(it texted ${word.toUpperCase()}\\)`));
      assert.equal(await rcpt(phone), 550, `${word}: Twilio blocks the number, so the relay refuses it at RCPT rather than bounce after a 250`);
    }
    // Still opted out: its mail says a reply is not sent, rather than inviting one RCPT refuses.
    const meanwhile = await texted('d3', '+447700900672', 'what is this');
    assert.match(meanwhile, /has opted out of SMS from this relay \(they texted REVOKE\): replies to this mail are not sent/);
    assert.doesNotMatch(meanwhile, /Reply to this mail to answer by SMS/);
    // YES is one of Twilio's opt-in words: Twilio sends to the number again, and so does the relay.
    assert.match(
      await texted('d4', '+447700900672', 'YES'),
      /texted YES: SMS from this relay, and replies to this mail, reach it again\.\s*Reply to this mail/,
    );
    assert.equal(await rcpt('+447700900672'), 250);
    await waitFor('the SMS sent', () => simulator.records.find((entry) => entry.to === '447700900672'));
  });

  test('a send Twilio refuses with 21610 (the recipient unsubscribed) bounces and records the opt-out: the next mail to the number is refused at RCPT', async () => {
    simulator.setBehaviour({ mode: 'error', code: 21610, message: 'Attempt to send to unsubscribed recipient', times: 1 });
    const id = queuedId((await sendMail(relay.smtpPort, { to: ['447700900173@sms.example.com'], body: 'to an unsubscribed phone' })).data);
    await waitFor('failed', async () => (await relay.store.smsOf(id))[0]?.status === 'failed');
    await waitFor('the opt-out recorded', () => relay.store.isOptedOut('+447700900173'));
    const refused = await sendMail(relay.smtpPort, { to: ['447700900173@sms.example.com'], body: 'again' });
    assert.equal(refused.rcpt[0]?.code, 550);
    // The phone texted nothing to the relay: the refusal says where the opt-out came from.
    assert.match(refused.rcpt[0]?.text ?? '', /has opted out of SMS from this relay \(the gateway refused an SMS to it as opted out, TWILIO:21610\)/);
    assert.ok(lines.some((line) => line['msg'] === 'dispatch: the gateway refused the number as opted out: recorded as a STOP, RCPT refuses it from now on'));
  });

  test("a callback's ErrorCode about the account (30002 suspended) alerts the operator once, and each bounce names Twilio's words for its code", async () => {
    const send = async (phone: string) => {
      const id = queuedId((await sendMail(relay.smtpPort, { to: [`${phone}@sms.example.com`], body: `account-wide to ${phone}` })).data);
      const [sent] = await waitFor('the SMS sent', async () => {
        const sms = await relay.store.smsOf(id);
        return sms[0]?.status === 'sent' && sms;
      });
      return sent?.providerId ?? '';
    };
    const undelivered = async (sid: string, phone: string, errorCode: string) => {
      const form = new URLSearchParams({
        MessageSid: sid,
        AccountSid: `AC${'0'.repeat(32)}`,
        To: `+${phone}`,
        MessageStatus: 'undelivered',
        ErrorCode: errorCode,
      });
      assert.equal((await post(paths.dr, form, signedFor(paths.dr, form))).status, 200);
    };
    await undelivered(await send('447700900177'), '447700900177', '30002');
    await undelivered(await send('447700900178'), '447700900178', '30002');
    await undelivered(await send('447700900179'), '447700900179', '30001');
    const bounce = (phone: string) =>
      waitFor(`the bounce for ${phone}`, () => sink.received.find((mail) => mail.raw.includes('Action: failed') && mail.raw.includes(phone)));
    assert.match((await bounce('447700900177')).raw.replace(/\r?\n\s+/g, ' '), /Diagnostic-Code: X-SMS; ErrorCode 30002 \(the Twilio account is suspended\)/);
    assert.match((await bounce('447700900179')).raw.replace(/\r?\n\s+/g, ' '), /ErrorCode 30001 \(Twilio's queue for the account overflowed/);
    const accountLines = lines.filter((line) => String(line['msg']).startsWith("inbound: a delivery report says the gateway's account or sender cannot send"));
    assert.deepEqual(
      accountLines.map((line) => [line['alert'], line['code']]),
      [
        ['gateway-account', 30002],
        [undefined, 30002],
      ],
    );
  });

  /** A mail to `phone`, its SMS sent, then Twilio's callback that it was undelivered with `errorCode`: the bounce the relay sends. */
  const bounceOfUndelivered = async (phone: string, errorCode: string, body: string) => {
    const id = queuedId((await sendMail(relay.smtpPort, { to: [`${phone}@sms.example.com`], body })).data);
    const [sent] = await waitFor('the SMS sent', async () => {
      const sms = await relay.store.smsOf(id);
      return sms[0]?.status === 'sent' && sms;
    });
    const form = new URLSearchParams({
      MessageSid: sent?.providerId ?? '',
      AccountSid: `AC${'0'.repeat(32)}`,
      To: `+${phone}`,
      MessageStatus: 'undelivered',
      ErrorCode: errorCode,
    });
    assert.equal((await post(paths.dr, form, signedFor(paths.dr, form))).status, 200);
    return waitFor(`the bounce for ${phone}`, () => sink.received.find((mail) => mail.raw.includes('Action: failed') && mail.raw.includes(phone)));
  };

  test("a passing code of Twilio's or the network's load (21611, 30001, 30017) reports 4.4.5 and a busy provider or network; 30003 (the phone out of reach) 4.2.0 and the phone", async () => {
    const cases = [
      ['447700900191', '21611', /^Status: 4\.4\.5$/m, /provider or the mobile network was too busy to take it for now/],
      ['447700900192', '30001', /^Status: 4\.4\.5$/m, /provider or the mobile network was too busy to take it for now/],
      ['447700900193', '30017', /^Status: 4\.4\.5$/m, /provider or the mobile network was too busy to take it for now/],
      ['447700900194', '30003', /^Status: 4\.2\.0$/m, /phone or its subscription could not take it for now/],
    ] as const;
    for (const [phone, errorCode, status, words] of cases) {
      const bounce = await bounceOfUndelivered(phone, errorCode, `busy to ${phone}`);
      assert.match(bounce.raw, status, errorCode);
      const text = (await simpleParser(bounce.raw)).text?.replace(/\s+/g, ' ') ?? '';
      assert.match(text, words, errorCode);
      if (errorCode !== '30003') assert.doesNotMatch(text, /phone or its subscription/, errorCode);
    }
  });

  test("a failed callback's ErrorCode acts as in a send's answer: 21610 records the opt-out, 21704 alerts the operator, each bounce in Twilio's words", async () => {
    const sendAndFail = async (phone: string, fields: Record<string, string>) => {
      const id = queuedId((await sendMail(relay.smtpPort, { to: [`${phone}@sms.example.com`], body: `through the service to ${phone}` })).data);
      const [sent] = await waitFor('the SMS sent', async () => {
        const sms = await relay.store.smsOf(id);
        return sms[0]?.status === 'sent' && sms;
      });
      const form = new URLSearchParams({ MessageSid: sent?.providerId ?? '', AccountSid: `AC${'0'.repeat(32)}`, To: `+${phone}`, ...fields });
      assert.equal((await post(paths.dr, form, signedFor(paths.dr, form))).status, 200);
    };
    const bounce = (phone: string) =>
      waitFor(`the bounce for ${phone}`, async () =>
        sink.received.find((mail) => mail.raw.includes('Action: failed') && mail.raw.includes(phone))?.raw.replace(/\r?\n\s+/g, ' '),
      );

    await sendAndFail('447700900181', { MessageStatus: 'failed', ErrorCode: '21610' });
    await waitFor('the opt-out recorded', () => relay.store.isOptedOut('+447700900181'));
    const refused = await sendMail(relay.smtpPort, { to: ['447700900181@sms.example.com'], body: 'again' });
    assert.equal(refused.rcpt[0]?.code, 550);
    assert.match(refused.rcpt[0]?.text ?? '', /has opted out of SMS from this relay \(the gateway refused an SMS to it as opted out, TWILIO:21610\)/);
    assert.ok(lines.some((line) => line['msg'] === 'inbound: the gateway refused the number as opted out: recorded as a STOP, RCPT refuses it from now on'));
    assert.match(await bounce('447700900181'), /ErrorCode 21610 \(the recipient has opted out of messages from this sender/);

    await sendAndFail('447700900182', { MessageStatus: 'failed', ErrorCode: '21704' });
    assert.match(await bounce('447700900182'), /ErrorCode 21704 \(the Messaging Service's sender pool holds no number\)/);
    assert.ok(lines.some((line) => line['alert'] === 'gateway-account' && line['code'] === 21704));

    // Cancelled at Twilio: its word, not the relay's own number for the status.
    await sendAndFail('447700900183', { MessageStatus: 'canceled' });
    assert.match(await bounce('447700900183'), /Diagnostic-Code: X-SMS; MessageStatus canceled \(cancelled at Twilio before it was sent\)/);
  });

  test('a WhatsApp message through the Messaging Service (whatsapp: addresses) is quarantined, saying it is WhatsApp and the relay takes SMS only', async () => {
    const form = mo('e1', 'Hello on WhatsApp');
    form.set('From', 'whatsapp:+447700900661');
    form.set('To', 'whatsapp:+15005550006');
    form.set('WaId', '447700900661');
    form.set('ProfileName', 'Ann');
    assert.equal((await post(paths.mo, form, signedFor(paths.mo, form))).status, 200);
    const db = new BetterSqlite3(join(dir, 'data', STORE_FILE), { readonly: true });
    const rows = db.prepare("SELECT reason, body FROM quarantine WHERE kind = 'mo'").all() as Array<{ reason: string; body: string }>;
    db.close();
    const kept = rows.find((row) => row.body.includes('WhatsApp'));
    assert.match(kept?.reason ?? '', /^a WhatsApp message \(From is a whatsapp: address\): the relay takes SMS only/);
  });

  test('an incoming message posted to the status-callback URL is quarantined, saying which URL to set, not dropped as an orphan report', async () => {
    const form = mo('c1', 'MO on the callback URL');
    form.set('SmsStatus', 'received');
    const answer = await post(paths.dr, form, signedFor(paths.dr, form));
    assert.equal(answer.status, 200);
    const db = new BetterSqlite3(join(dir, 'data', STORE_FILE), { readonly: true });
    const rows = db.prepare("SELECT reason, body FROM quarantine WHERE kind = 'dr'").all() as Array<{ reason: string; body: string }>;
    db.close();
    const kept = rows.find((row) => row.body.includes('callback+URL'));
    assert.equal(
      kept?.reason,
      'an incoming message (status received) on the status-callback URL: set the "A message comes in" URL of the Messaging Service or number to the relay\'s /webhooks/twilio/mo, not /webhooks/twilio/dr',
    );
  });

  test("a body-less 'received' status event on the status-callback URL (a Messaging Service's callback) is acknowledged and ignored, not quarantined", async () => {
    const quarantined = () => {
      const db = new BetterSqlite3(join(dir, 'data', STORE_FILE), { readonly: true });
      const { count } = db.prepare("SELECT count(*) AS count FROM quarantine WHERE kind = 'dr'").get() as { count: number };
      db.close();
      return count;
    };
    const before = quarantined();
    for (const status of ['received', 'receiving']) {
      const form = new URLSearchParams({
        MessageSid: `SM${'e1'.padStart(32, '0')}`,
        AccountSid: `AC${'0'.repeat(32)}`,
        From: '+447700900171',
        To: '+15005550006',
        SmsStatus: status,
        MessageStatus: status,
      });
      const answer = await post(paths.dr, form, signedFor(paths.dr, form));
      assert.equal(answer.status, 200, status);
      const parsed = twilioPlugin.parseReport!({ contentType: FORM, body: form.toString(), query: new URLSearchParams(), headers: {} });
      assert.deepEqual(parsed, { ok: true, items: [], ignored: `an incoming message's status event (${status}), no report of a sent SMS` });
    }
    assert.equal(quarantined(), before, 'nothing kept for the operator: there is nothing to do');
  });

  test("a mail's X-SMS-From naming a Messaging Service SID is sent through that service", async () => {
    const service = `MG${'0123456789abcdef'.repeat(2)}`;
    const { data } = await sendMail(relay.smtpPort, { to: ['447700900175@sms.example.com'], headers: { 'X-SMS-From': service }, body: 'via its own service' });
    assert.equal(data?.code, 250);
    const record = await waitFor('the SMS', () => simulator.records.find((entry) => entry.to === '447700900175'));
    assert.equal(record.messagingServiceSid, service);
  });

  test('a forged or missing signature, or one made for the URL the relay sees instead of the public one: 403, counted, logged once a minute', async () => {
    const form = mo('a2', 'Forged');
    const before = lines.length;
    const local = createHmac('sha1', AUTH_TOKEN)
      .update(
        `${url(paths.mo)}${[...form]
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([k, v]) => `${k}${v}`)
          .join('')}`,
      )
      .digest('base64');
    for (const signature of [signedFor(paths.mo, form, 'another-token'), undefined, local]) {
      const answer = await post(paths.mo, form, signature);
      assert.equal(answer.status, 403);
      assert.equal(((await answer.json()) as { error: string }).error, 'FORBIDDEN');
    }
    const refusals = lines.slice(before).filter((line) => String(line.msg).startsWith('webhook: refused'));
    assert.equal(refusals.length, 1, 'a flood of forged requests does not flood the log');
    assert.ok(refusals.every((line) => line.level === 'warn' && line.provider === 'twilio' && String(line.msg).includes('gateway.publicUrl')));
    const metrics = await (await fetch(`http://127.0.0.1:${relay.httpPort}/metrics`)).text();
    assert.match(metrics, /^smsrelay_webhook_refused_total\{provider="twilio",reason="signature"\} 3$/m);
    assert.equal(
      sink.received.some((mail) => mail.raw.includes('Forged')),
      false,
    );
  });

  test('a signed payload that cannot be read is quarantined and acknowledged (TwiML), not retried for ever', async () => {
    const form = new URLSearchParams({ MessageSid: 'not-a-sid', From: '+447700900172', Body: 'x' });
    const answer = await post(paths.mo, form, signedFor(paths.mo, form));
    assert.equal(answer.status, 200);
    assert.equal(await answer.text(), EMPTY_TWIML);
    const db = new BetterSqlite3(join(dir, 'data', STORE_FILE), { readonly: true });
    const rows = db.prepare("SELECT reason FROM quarantine WHERE reason LIKE '%MessageSid%'").all();
    db.close();
    assert.equal(rows.length, 1);
  });

  test('while the store cannot commit an MO gets 503 (no TwiML: Twilio keeps it for its fallback or retry), then it is taken', async () => {
    const other = new BetterSqlite3(join(dir, 'data', STORE_FILE));
    other.exec('BEGIN IMMEDIATE');
    const form = mo('a3', 'During the outage');
    try {
      const answer = await post(paths.mo, form, signedFor(paths.mo, form));
      assert.equal(answer.status, 503);
      assert.notEqual(await answer.text(), EMPTY_TWIML);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    await waitFor('ready again', async () => (await fetch(url('/readyz'))).status === 200, 2_000);
    const retried = await post(paths.mo, form, signedFor(paths.mo, form));
    assert.equal(retried.status, 200);
    await waitFor('the mail', () => sink.received.find((mail) => mail.raw.includes('During the outage')));
  });

  test("an account code in a callback (US A2P 10DLC throughput and caps, a sender not provisioned, a suspension, a price, a registration): bounced in Twilio's words, the operator alerted with the code's own fix, not the credentials", async () => {
    const cases: Array<[string, string, RegExp, RegExp]> = [
      ['447700900722', '30022', /throughput allows/, /gateway\.maxConcurrentRequests/],
      ['447700900723', '30023', /daily message cap is reached/, /renew the next day/],
      ['447700900727', '30027', /T-Mobile's daily message limit/, /renew the next day/],
      ['447700900724', '30024', /not provisioned with the recipient's carrier/, /registration .* completed with the carriers/],
      // The account's other codes: the SMS was sent, so its credentials are not what to check.
      ['447700900702', '30002', /account is suspended/, /ask Twilio support why the account was suspended/],
      ['447700900710', '30010', /over the maximum price/, /raise the maximum price set at Twilio/],
      ['447700900732', '30032', /toll-free number whose verification/, /Toll-Free Verifications/],
      ['447700900733', '30033', /campaign is suspended/, /campaign's page in the Twilio console/],
      ['447700900734', '30034', /not registered for A2P 10DLC/, /linked to an approved US A2P 10DLC campaign/],
    ];
    for (const [phone, code, words, fix] of cases) {
      const bounce = (await bounceOfUndelivered(phone, code, `capped ${code}`)).raw.replace(/\r?\n\s+/g, ' ');
      assert.match(bounce, new RegExp(`Diagnostic-Code: X-SMS; ErrorCode ${code} \\([^)]*${words.source}`), code);
      const alert = lines.find((line) => line['alert'] === 'gateway-account' && line['code'] === Number(code));
      assert.ok(alert, `the alert for ${code}`);
      assert.match(String(alert['msg']), fix, code);
      assert.doesNotMatch(String(alert['msg']), /fix the account|credentials/, code);
    }
  });

  // Last: it pauses sending for the suite's relay.
  test("a send's 21609 (the StatusCallback URL refused) pauses sending with an alert naming gateway.publicUrl as the fix, not the credentials", async () => {
    simulator.setBehaviour({ mode: 'error', code: 21609, message: 'Invalid StatusCallback URL', times: 1 });
    await sendMail(relay.smtpPort, { to: ['447700900975@sms.example.com'], body: 'callback refused' });
    const paused = await waitFor('the pause alert', () =>
      lines.find((line) => line['alert'] === 'gateway-account' && String(line['msg']).startsWith('dispatch: sending paused')),
    );
    assert.match(
      String(paused['msg']),
      /probed; set gateway\.publicUrl to the https address at which Twilio reaches the relay, then `smsrelay queue retry all`/,
    );
    assert.doesNotMatch(String(paused['msg']), /credentials/);
  });
});
