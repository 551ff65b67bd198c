/**
 * The InteractSMS adapter held to the raw wire fixtures against a plain node:http server (never the
 * simulator), its webhook parsing and SMS-Verify held to the inbound fixtures (form bodies whose
 * hashes were computed outside this code base), and transport failures provoked on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { outcomeClassifier } from '../../src/dispatch/outcomes.ts';
import type { Gateway, GatewayOptions, InboundRequest, SmsSubmission, SubmissionResult } from '../../src/providers/contract.ts';
import { createInteractSmsGateway, notifyIdFor } from '../../src/providers/interactsms/adapter.ts';
import { messageIdOfKey } from '../../src/random-ids.ts';
import { describeStatus, parseReceived, parseReport, verify } from '../../src/providers/interactsms/inbound.ts';
import { interactsmsPlugin as interactsmsModule } from '../../src/providers/interactsms/index.ts';
import { senderIdProblem } from '../../src/providers/interactsms/sender-id.ts';
import { InteractSmsSimulator } from '../../src/simulators/interactsms.ts';
import { createSimulator } from '../../src/simulators/index.ts';
import { createLogger } from '../../src/log.ts';
import { adapterFixtures, formFieldMultiset, loadInteractSmsInboundFixtures, loadWireFixtures } from '../helpers/fixtures.ts';
import { TEST_GATEWAY_SETTINGS, withFreshGateway } from '../helpers/gateway.ts';
import { describeAdapterFixtures, itUsesEndpointsAsGiven } from '../helpers/gateway-suites.ts';
import { assertNeverLogged, captureLog } from '../helpers/log-lines.ts';
import { ReplayServer, serveDuringSuite, type RecordedRequest, type Reply } from '../helpers/replay-server.ts';
import { freePort, startSilentTcpServer } from '../helpers/tcp.ts';

const FIXTURE_DIR = fileURLToPath(new URL('./fixtures/interactsms/', import.meta.url));
const { classifyRecipient } = outcomeClassifier(interactsmsModule.outcomeRules);
const INBOUND_DIR = join(FIXTURE_DIR, 'inbound');
const fixtures = adapterFixtures(loadWireFixtures(FIXTURE_DIR));
const FORM = 'application/x-www-form-urlencoded';

const MESSAGE_ID = '0194f3b2-7c1e-7a3d-8f21-3c4b5d6e7f80';
/** Its 128 bits in base 36, computed outside this code base. */
const NOTIFY_ID = '03ddaaswvcywy77nbawyv3tkw';

const SUBMISSION: SmsSubmission = {
  messageId: MESSAGE_ID,
  recipients: ['+353861234567'],
  text: 'Your parcel arrives today',
  encoding: 'gsm7',
  maxParts: 1,
};

// ------------------------------------------------------------------------------------------------
// Inbound fixtures: the form bodies the gateway posts to the relay.

const inboundFixtures = loadInteractSmsInboundFixtures(INBOUND_DIR);

function inbound(body: string, contentType = FORM): InboundRequest {
  return { contentType, body, query: new URLSearchParams(), headers: { 'content-type': contentType } };
}

/** Undefined properties dropped, as the JSON fixtures hold them. */
function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value));
}

// ------------------------------------------------------------------------------------------------
// A gateway stand-in that records raw requests.

const TEXT_PLAIN = 'text/plain; charset=utf-8';
const ACCEPTED = { status: 200, body: '0\nRequest deferred successfully\n' };

function recordingServer(): ReplayServer {
  return new ReplayServer({ contentType: TEXT_PLAIN, answer: ACCEPTED });
}

function gatewayOptions(overrides: Partial<GatewayOptions> = {}): GatewayOptions {
  return { ...TEST_GATEWAY_SETTINGS, username: 'relaytest', password: 'p@ss w0rd&=+', accountId: '4321', sessions: false, ...overrides };
}

function withGateway<T>(options: GatewayOptions, use: (gateway: Gateway) => Promise<T>): Promise<T> {
  return withFreshGateway(createInteractSmsGateway, options, use);
}

function sendOnce(base: string, submission: SmsSubmission = SUBMISSION, overrides: Partial<GatewayOptions> = {}): Promise<SubmissionResult> {
  return withGateway(gatewayOptions({ endpoints: [base], ...overrides }), (gateway) => gateway.send(submission, 0));
}

describeAdapterFixtures('InteractSMS adapter: wire fixtures', {
  fixtures,
  atLeast: 15,
  contentType: TEXT_PLAIN,
  send: (fixture, url) => {
    const form = new URLSearchParams(fixture.request.body ?? '');
    const account = { username: form.get('user') ?? '', password: form.get('password') ?? '', accountId: form.get('api_id') ?? undefined };
    return withGateway(gatewayOptions({ endpoints: [url], ...account }), (gateway) => gateway.send(fixture.submission, 0));
  },
  checkRequest: (request, fixture) => assert.deepEqual(formFieldMultiset(request.body), formFieldMultiset(fixture.request.body ?? '')),
});

describe('InteractSMS adapter: what the wire fixtures mean', () => {
  it('the fixtures’ results mean what the outcome table should make of them', () => {
    const expected: Record<string, string> = {
      'single-recipient-ok': 'sent',
      'login-invalid': 'pause',
      'api-id-missing': 'pause',
      'credit-exhausted': 'pause',
      'invalid-number': 'fail',
      'text-too-long': 'fail',
      'garbage-html': 'ambiguous',
      'http-503': 'failover',
    };
    for (const [name, action] of Object.entries(expected)) {
      const fixture = fixtures.find((candidate) => candidate.name === name);
      assert.ok(fixture, name);
      for (const number of fixture.submission.recipients) {
        assert.equal(classifyRecipient(fixture.result, number).action, action, `${name} ${number}`);
      }
    }
  });
});

describe('InteractSMS adapter: request shape', () => {
  const server = recordingServer();
  const backup = recordingServer();
  serveDuringSuite(server, backup);

  it('describes itself as the contract asks', () => {
    assert.equal(interactsmsModule.name, 'interactsms');
    assert.deepEqual(interactsmsModule.capabilities, {
      maxRecipientsPerRequest: 50,
      maxParts: 1,
      replyTracking: 'tracking-id',
      scheduling: false,
      standIns: { '¬': '~' },
    });
    assert.deepEqual(interactsmsModule.settings.defaultUrls, { url: 'https://secure.interactsms.com' });
    const gateway = interactsmsModule.createGateway(gatewayOptions({ endpoints: ['https://a.example', 'https://b.example'] }));
    try {
      assert.equal(gateway.provider, 'interactsms');
      assert.deepEqual(gateway.capabilities, { maxRecipientsPerRequest: 50, maxParts: 1 });
      assert.deepEqual(gateway.endpoints, ['https://a.example', 'https://b.example']);
    } finally {
      void gateway.close();
    }
  });

  it('createSimulator builds the InteractSMS simulator with the given account', async () => {
    const simulator = await createSimulator('interactsms', {
      username: 'u',
      password: 'p',
      accountId: '1',
      logger: createLogger('silent'),
    });
    assert.ok(simulator instanceof InteractSmsSimulator);
    await simulator.close();
  });

  it('derives the notify id from the message id: UUID bits in base 36, 25 characters, the same on every attempt', () => {
    assert.equal(notifyIdFor(MESSAGE_ID), NOTIFY_ID);
    assert.equal(notifyIdFor(MESSAGE_ID.toUpperCase()), NOTIFY_ID);
    assert.equal(notifyIdFor('0194f3b2-7c1e-7a3d-8f21-3c4b5d6e7f81'), '03ddaaswvcywy77nbawyv3tkx');
    assert.equal(notifyIdFor('00000000-0000-7000-8000-000000000001'), '0000000002e4nenowz3qmamtd');
    assert.equal(notifyIdFor('ffffffff-ffff-ffff-ffff-ffffffffffff'), 'f5lxx1zz5pnorynqglhzmsp33');
    // Any other id: the first 128 bits of its SHA-256, the same form.
    assert.equal(notifyIdFor('msg-0001'), '1kan8z7m4rbvw2r7bkjvyfvhg');
    assert.notEqual(notifyIdFor('msg-0002'), notifyIdFor('msg-0001'));
  });

  it("reads a notify id back as the relay's message id it was made from; one no UUID could give, as none", () => {
    for (const id of ['0194f3b2-7c1e-7a3d-8f21-3c4b5d6e7f81', '00000000-0000-7000-8000-000000000001', 'ffffffff-ffff-ffff-ffff-ffffffffffff']) {
      assert.equal(messageIdOfKey(notifyIdFor(id)), id);
    }
    assert.equal(messageIdOfKey('zzzzzzzzzzzzzzzzzzzzzzzzz'), undefined, 'above 128 bits');
    assert.equal(messageIdOfKey('abc'), undefined, 'not 25 digits');
    assert.equal(messageIdOfKey('03DDAASWVCYWY77NBAWYV3TKX'), undefined, 'not as the relay writes it');
  });

  it('sends the same notify_id when a message is retried, and another for another message', async () => {
    server.requests.length = 0;
    server.answer = ACCEPTED;
    await withGateway(gatewayOptions({ endpoints: [server.url] }), async (gateway) => {
      await gateway.send(SUBMISSION, 0);
      await gateway.send(SUBMISSION, 0);
      await gateway.send({ ...SUBMISSION, messageId: '0194f3b2-7c1e-7a3d-8f21-3c4b5d6e7f99' }, 0);
    });
    const ids = server.requests.map((request) => new URLSearchParams(request.body).get('notify_id'));
    assert.equal(ids[0], NOTIFY_ID);
    assert.equal(ids[1], NOTIFY_ID);
    assert.notEqual(ids[2], NOTIFY_ID);
    assert.equal(ids[2]?.length, 25);
  });

  it('sends the text with every LF as ¬ and nothing else changed; never deliverytime, validity or user context', async () => {
    server.requests.length = 0;
    const text = 'a\nb\r\nc\n\n€ [x] 😀';
    await sendOnce(server.url, {
      ...SUBMISSION,
      text,
      userContext: 'ctx-1',
      expiresAt: Date.now() + 60_000,
      sendAt: Date.now() + 60_000,
      deliveryReport: false,
      newSession: true,
    });
    const form = new URLSearchParams(server.requests[0]?.body ?? '');
    assert.equal(form.get('text'), 'a¬b\r¬c¬¬€ [x] 😀');
    assert.deepEqual(
      [...form.keys()].sort(),
      ['api_id', 'notify_id', 'password', 'text', 'to', 'user'],
      'notify_id even without a delivery report asked: replies are tracked through it',
    );
    assert.match(server.requests[0]?.body ?? '', /text=a%C2%ACb%0D%C2%ACc/);
  });

  itUsesEndpointsAsGiven(server, backup, '/api/v1/sendmessage.aspx', (endpoints, index) =>
    withGateway(gatewayOptions({ endpoints }), (gateway) => gateway.send(SUBMISSION, index)),
  );

  it('sends 50 recipients in one request and answers each; refuses 51 (and no recipient) by throwing, without a request', async () => {
    server.requests.length = 0;
    server.answer = ACCEPTED;
    const recipients = Array.from({ length: 51 }, (_, index) => `+3538612${String(index).padStart(5, '0')}`);
    await withGateway(gatewayOptions({ endpoints: [server.url] }), async (gateway) => {
      const result = await gateway.send({ ...SUBMISSION, recipients: recipients.slice(0, 50) }, 0);
      assert.equal(result.kind, 'answered');
      assert.deepEqual(
        result.results.map((entry) => [entry.number, entry.code, entry.providerId, entry.trackingId]),
        recipients.slice(0, 50).map((number) => [number, 'INTERACT:0', NOTIFY_ID, NOTIFY_ID]),
      );
      assert.equal(
        new URLSearchParams(server.requests[0]?.body ?? '').get('to'),
        recipients
          .slice(0, 50)
          .map((number) => number.slice(1))
          .join(','),
      );
      await assert.rejects(gateway.send({ ...SUBMISSION, recipients }, 0), RangeError);
      await assert.rejects(gateway.send({ ...SUBMISSION, recipients: [] }, 0), RangeError);
      await assert.rejects(gateway.send(SUBMISSION, 2), RangeError);
    });
    assert.equal(server.requests.length, 1);
  });

  it('names a refusal by its words: the account, the number or the message, else an unknown code (retried)', async () => {
    const cases: Array<[string, string]> = [
      ['1\nInvalid username or password', 'INTERACT:ACCOUNT'],
      ['1\nInvalid User', 'INTERACT:ACCOUNT'],
      ['1\nLOGIN FAILED', 'INTERACT:ACCOUNT'],
      ['2\nApiId not valid', 'INTERACT:ACCOUNT'],
      ['2\napi id missing', 'INTERACT:ACCOUNT'],
      ['3\nNo credits left', 'INTERACT:ACCOUNT'],
      ['3\nBalance too low', 'INTERACT:ACCOUNT'],
      ['5\nUnauthorised', 'INTERACT:ACCOUNT'],
      ['5\nAuthentication error', 'INTERACT:ACCOUNT'],
      // Authorisation and the account's access, as refused accounts word it: every SMS would be refused alike.
      ['-16\r\nAccess denied', 'INTERACT:ACCOUNT'],
      ['-17\r\nInvalid API key', 'INTERACT:ACCOUNT'],
      ['-17\nApiKey missing', 'INTERACT:ACCOUNT'],
      ['-12\r\nIP address not whitelisted', 'INTERACT:ACCOUNT'],
      ['-12\nIP not allowed', 'INTERACT:ACCOUNT'],
      ['-12\nCaller not on the allowlist', 'INTERACT:ACCOUNT'],
      ['-16\nPermission denied', 'INTERACT:ACCOUNT'],
      ['-16\nForbidden', 'INTERACT:ACCOUNT'],
      ['-17\nInvalid token', 'INTERACT:ACCOUNT'],
      ['-17\nBad credentials', 'INTERACT:ACCOUNT'],
      ['-17\nToken expired', 'INTERACT:ACCOUNT'],
      ['-17\nAPI token revoked', 'INTERACT:ACCOUNT'],
      ['-12\nYour IP 192.0.2.7 is not allowed', 'INTERACT:ACCOUNT'],
      // An account's refusal that mentions the message it refused (what it was asked, not its subject): the account's,
      // never a bounce of every SMS in the queue.
      ['-16\nAccess denied. Unable to send message.', 'INTERACT:ACCOUNT'],
      ['-16\nAccess denied - message not sent', 'INTERACT:ACCOUNT'],
      ['-12\nIP address not whitelisted for sending messages', 'INTERACT:ACCOUNT'],
      ['-12\nIP not whitelisted. Message rejected.', 'INTERACT:ACCOUNT'],
      ['-12\nYour IP is not allowed to send messages', 'INTERACT:ACCOUNT'],
      ['-12\nForbidden: IP 203.0.113.5 not in whitelist (message rejected)', 'INTERACT:ACCOUNT'],
      ['-16\nPermission denied: cannot send text messages', 'INTERACT:ACCOUNT'],
      ['-16\nAccess denied: invalid sender', 'INTERACT:ACCOUNT'],
      // A token or the caller's IP with a refusal word anywhere: the account's credentials, which every SMS shares.
      ['-17\nToken is invalid', 'INTERACT:ACCOUNT'],
      ['-17\nToken has expired', 'INTERACT:ACCOUNT'],
      ['-17\nInvalid or expired token', 'INTERACT:ACCOUNT'],
      ['-17\nInvalid token provided', 'INTERACT:ACCOUNT'],
      ['-17\nInvalid token: abc123', 'INTERACT:ACCOUNT'],
      ['-17\nSession token expired', 'INTERACT:ACCOUNT'],
      ['-12\nInvalid IP', 'INTERACT:ACCOUNT'],
      ['-12\nIP blocked', 'INTERACT:ACCOUNT'],
      ['-12\nIP address is blocked', 'INTERACT:ACCOUNT'],
      // Words an account shares with a party (authorised, user, account) whose subject is the sender, the number or
      // the recipient: that SMS bounces, and one client's bad sender id does not stop all sending.
      ['8\nSender ID not authorised', 'INTERACT:REFUSED:8'],
      ['8\nUnauthorized sender', 'INTERACT:REFUSED:8'],
      ['4\nUser has opted out', 'INTERACT:REFUSED:4'],
      ['4\nRecipient user unknown', 'INTERACT:REFUSED:4'],
      ['4\nNumber not permitted on this account', 'INTERACT:REFUSED:4'],
      ['8\nInvalid sender: not authorised for this account', 'INTERACT:REFUSED:8'],
      ['-12\nAccount suspended: invalid sender', 'INTERACT:ACCOUNT'],
      // The text's own IP address or token refused, whatever the refusal's words: that SMS's.
      ['6\nMessage contains invalid IP address', 'INTERACT:REFUSED:6'],
      // The same words refusing one SMS (its sender, number or text): that SMS bounces, the others still go.
      ['8\nSender ID not whitelisted', 'INTERACT:REFUSED:8'],
      ['8\nSender not on whitelist', 'INTERACT:REFUSED:8'],
      ['8\nSender ID forbidden', 'INTERACT:REFUSED:8'],
      ['6\nForbidden content', 'INTERACT:REFUSED:6'],
      ['6\nMessage blocked: forbidden keyword', 'INTERACT:REFUSED:6'],
      ['6\nInvalid token in message', 'INTERACT:REFUSED:6'],
      ['6\nText contains an IP address', 'INTERACT:REFUSED:6'],
      ['6\nURL with IP address not allowed in message', 'INTERACT:REFUSED:6'],
      ['4\nNumber not whitelisted', 'INTERACT:REFUSED:4'],
      ['4\nDestination not in allowlist', 'INTERACT:REFUSED:4'],
      ['4\nPremium numbers forbidden', 'INTERACT:REFUSED:4'],
      ['4\nForbidden destination', 'INTERACT:REFUSED:4'],
      ['4\nPermission denied for destination country', 'INTERACT:REFUSED:4'],
      // "Too many" is a passing state (retried), never the account's.
      ['6\nMessage contains too many tokens', 'INTERACT:6'],
      // An IP address or a token merely mentioned, without the account's refusal: unknown, retried.
      ['6\nContains an IP address', 'INTERACT:6'],
      ['6\nToken count exceeded', 'INTERACT:6'],
      ['-12\r\nAccount suspended', 'INTERACT:ACCOUNT'],
      ['-12\nAccount disabled', 'INTERACT:ACCOUNT'],
      ['-13\r\nDaily limit exceeded', 'INTERACT:ACCOUNT'],
      ['-13\nMonthly cap reached', 'INTERACT:ACCOUNT'],
      ['-13\nSending allowance exhausted', 'INTERACT:ACCOUNT'],
      ['-13\nQuota exceeded', 'INTERACT:ACCOUNT'],
      // An allowance over a period, whatever stands between the period and the limit: the account's,
      // even where it names the message (it must not bounce every SMS until the allowance renews).
      ['-13\r\nDaily message limit exceeded', 'INTERACT:ACCOUNT'],
      ['-13\r\nDaily SMS limit exceeded', 'INTERACT:ACCOUNT'],
      ['-13\nMonthly text message cap reached', 'INTERACT:ACCOUNT'],
      ['-13\nWeekly sending limits exceeded', 'INTERACT:ACCOUNT'],
      ['-13\nLimit of messages per day reached', 'INTERACT:ACCOUNT'],
      ['-13\nYou have reached your message limit for this month', 'INTERACT:ACCOUNT'],
      ['-13\nMonthly message quota exceeded', 'INTERACT:ACCOUNT'],
      // A limit with no period is the message's (or a rate, which passes); a period with no limit is no allowance.
      ['6\nMessage too long', 'INTERACT:REFUSED:6'],
      ['4\nInvalid number', 'INTERACT:REFUSED:4'],
      ['6\nMessage exceeds the character limit', 'INTERACT:REFUSED:6'],
      ['6\nMessages sent daily must not be empty', 'INTERACT:REFUSED:6'],
      ['4\nInvalid destination number', 'INTERACT:REFUSED:4'],
      ['6\nText is longer than 160 characters', 'INTERACT:REFUSED:6'],
      ['8\nInvalid sender', 'INTERACT:REFUSED:8'],
      ['-5\nMessage rejected by the network', 'INTERACT:REFUSED:-5'],
      ['-1\nSystem temporarily unavailable, message not sent', 'INTERACT:-1'],
      // The README's examples, as it writes them.
      ['-5\nInsufficient credit', 'INTERACT:ACCOUNT'],
      ['-1\nSystem temporarily unavailable', 'INTERACT:-1'],
      ['7\nMessage queue full, try again later', 'INTERACT:7'],
      ['12\nThrottled', 'INTERACT:12'],
      ['9\nUserContext not allowed here', 'INTERACT:9'],
      ['10', 'INTERACT:10'],
      // A bare limit is not the account's: a rate limit passes, an unknown answer is retried.
      ['11\nRate limit exceeded', 'INTERACT:11'],
      // A rate limit naming the messages it counts is still a rate limit: retried, never a refusal of the message.
      ['11\nRate limit exceeded: 10 messages per second', 'INTERACT:11'],
      // An error constant's spelling of an allowance is the allowance.
      ['-13\nDaily_limit', 'INTERACT:ACCOUNT'],
      ['-13\nDailyLimitExceeded', 'INTERACT:ACCOUNT'],
      ['-13\ndailylimit', 'INTERACT:ACCOUNT'],
      ['11\nToo many messages, slow down', 'INTERACT:11'],
      ['14\nSomething unexpected happened', 'INTERACT:14'],
    ];
    const actions = { ACCOUNT: 'pause', REFUSED: 'fail' } as Record<string, string>;
    // Every row read before judging, so that a failure lists all the answers read wrongly, not the first.
    const wrong: string[] = [];
    for (const [body, code] of cases) {
      server.answer = { status: 200, body };
      const result = await sendOnce(server.url);
      assert.equal(result.kind, 'answered', body);
      const kind = /^INTERACT:([A-Z]+)/.exec(code)?.[1] ?? '';
      const action = classifyRecipient(result, SUBMISSION.recipients[0] ?? '').action;
      const expected = actions[kind] ?? 'retry';
      if (result.results[0]?.code !== code || action !== expected) {
        wrong.push(`${JSON.stringify(body)}: ${result.results[0]?.code} (${action}), expected ${code} (${expected})`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('logs a debug line per send with the notify id, never the password or the text; warns about a literal ¬', async () => {
    const { logger, lines } = captureLog('debug');
    const password = 'Zebra-Secret-42';
    server.answer = ACCEPTED;
    await sendOnce(server.url, { ...SUBMISSION, text: 'Confidential text 7431' }, { password, logger });
    await sendOnce(server.url, { ...SUBMISSION, text: 'Price ¬ 5' }, { logger });
    const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const sendLine = parsed.find((line) => 'ms' in line);
    assert.ok(sendLine, `no send line in ${lines.join('')}`);
    assert.equal(sendLine.level, 'debug');
    assert.equal(sendLine.endpoint, server.url);
    assert.equal(sendLine.notifyId, NOTIFY_ID);
    assert.equal(sendLine.status, 200);
    assert.equal(sendLine.code, 'INTERACT:0');
    assert.ok(parsed.some((line) => line.level === 'warn' && /¬/.test(String(line.msg))));
    assertNeverLogged(lines, { password, 'message text': 'Confidential text' });
  });

  it('reports an over-long 200 body as UNPARSEABLE', async () => {
    server.answer = { status: 200, body: '0\n'.padEnd(200_000, 'x') };
    const result = await sendOnce(server.url);
    assert.equal(result.kind, 'refused');
    assert.equal(result.code, 'UNPARSEABLE');
  });
});

describe('InteractSMS adapter: a refused request with several numbers', () => {
  const server = recordingServer();
  serveDuringSuite(server);
  const INVALID = { status: 200, body: '4\nInvalid destination number\n' };
  const toOf = (request: RecordedRequest) => new URLSearchParams(request.body).get('to') ?? '';
  const three = ['+353861234567', '+353861234999', '+447700900123'];

  async function run(respond: (request: RecordedRequest) => Reply, recipients = three): Promise<SubmissionResult> {
    server.requests.length = 0;
    server.respond = respond;
    try {
      return await sendOnce(server.url, { ...SUBMISSION, recipients });
    } finally {
      server.respond = undefined;
    }
  }

  it('sends each number alone to learn which one the gateway refuses; the others still go', async () => {
    const result = await run((request) => (toOf(request).includes('353861234999') ? INVALID : ACCEPTED));
    assert.deepEqual(server.requests.map(toOf), ['353861234567,353861234999,447700900123', '353861234567', '353861234999', '447700900123']);
    const forms = server.requests.map((request) => new URLSearchParams(request.body));
    for (const form of forms) {
      assert.equal(form.get('notify_id'), NOTIFY_ID);
      assert.equal(form.get('text'), SUBMISSION.text);
      assert.equal(form.get('user'), 'relaytest');
    }
    assert.deepEqual(result, {
      kind: 'answered',
      results: [
        { number: '+353861234567', code: 'INTERACT:0', providerId: NOTIFY_ID, trackingId: NOTIFY_ID },
        { number: '+353861234999', code: 'INTERACT:REFUSED:4', detail: 'Invalid destination number' },
        { number: '+447700900123', code: 'INTERACT:0', providerId: NOTIFY_ID, trackingId: NOTIFY_ID },
      ],
    });
    assert.deepEqual(
      three.map((number) => classifyRecipient(result, number).action),
      ['sent', 'fail', 'sent'],
    );
  });

  it('a refusal that concerns every number (the text) fails each, after asking about each', async () => {
    const result = await run(() => ({ status: 200, body: '6\nText is longer than 160 characters\n' }), three.slice(0, 2));
    assert.equal(server.requests.length, 3);
    assert.deepEqual(plain(result), {
      kind: 'answered',
      results: three.slice(0, 2).map((number) => ({ number, code: 'INTERACT:REFUSED:6', detail: 'Text is longer than 160 characters' })),
    });
  });

  it('an unknown answer is not narrowed down either: one request, every number retried', async () => {
    const result = await run(() => ({ status: 200, body: '-1\nSystem temporarily unavailable\n' }));
    assert.equal(server.requests.length, 1);
    assert.deepEqual(
      three.map((number) => classifyRecipient(result, number).action),
      ['retry', 'retry', 'retry'],
    );
  });

  it('an account refusal is not narrowed down: one request, every number paused', async () => {
    const result = await run(() => ({ status: 200, body: '1\nInvalid username or password\n' }));
    assert.equal(server.requests.length, 1);
    assert.ok(result.kind === 'answered' && result.results.every((entry) => entry.code === 'INTERACT:ACCOUNT'));
  });

  it("an allowance over a period is the account's even where it names the message: one request, every number paused", async () => {
    const result = await run(() => ({ status: 200, body: '-13\r\nDaily message limit exceeded' }));
    assert.equal(server.requests.length, 1);
    assert.deepEqual(
      three.map((number) => classifyRecipient(result, number).action),
      ['pause', 'pause', 'pause'],
    );
  });

  it('a lone number is not asked about twice', async () => {
    const result = await run(() => INVALID, ['+353861234999']);
    assert.equal(server.requests.length, 1);
    assert.equal(result.kind === 'answered' && result.results[0]?.code, 'INTERACT:REFUSED:4');
  });

  it('when a number cannot be asked about before any was taken, that failure stands for the whole submission', async () => {
    let count = 0;
    const result = await run(() => (++count === 1 ? INVALID : 'destroy'));
    assert.equal(server.requests.length, 2);
    assert.equal(result.kind, 'transport');
    assert.equal(result.kind === 'transport' && result.phase, 'response');
  });

  it('once one was taken, the rest carry the failure one by one and are not sent', async () => {
    let count = 0;
    const result = await run(() => {
      count++;
      if (count === 1) return INVALID;
      if (count === 2) return ACCEPTED;
      return { status: 503, body: 'Service Unavailable' };
    });
    assert.equal(server.requests.length, 3, 'the third number is not sent after the gateway failed');
    assert.deepEqual(result, {
      kind: 'answered',
      results: [
        { number: '+353861234567', code: 'INTERACT:0', providerId: NOTIFY_ID, trackingId: NOTIFY_ID },
        { number: '+353861234999', code: 'HTTP_503', failure: 'request', detail: 'Service Unavailable' },
        { number: '+447700900123', code: 'HTTP_503', detail: 'Service Unavailable' },
      ],
    });
    assert.equal(classifyRecipient(result, '+353861234999').action, 'failover', 'its own request failed as a 503 does');
    assert.equal(classifyRecipient(result, '+353861234567').action, 'sent');
    assert.notEqual(classifyRecipient(result, '+447700900123').action, 'fail', 'never bounced for the gateway failing');
    assert.notEqual(classifyRecipient(result, '+447700900123').action, 'sent');
  });
});

describe('InteractSMS adapter: a number sent alone whose request times out', () => {
  const server = recordingServer();
  serveDuringSuite(server);
  const three = ['+353861234567', '+353861234999', '+447700900123'];

  it('is ambiguous (counted as a possible duplicate) as a single-number timeout is; the numbers never sent are not', async () => {
    let count = 0;
    server.respond = () => {
      count++;
      if (count === 1) return { status: 200, body: '4\nInvalid destination number\n' };
      if (count === 2) return ACCEPTED;
      return new Promise<Reply>(() => undefined);
    };
    try {
      const result = await sendOnce(server.url, { ...SUBMISSION, recipients: three }, { responseTimeoutMs: 300 });
      assert.equal(server.requests.length, 3, 'the third number is not sent after the second timed out');
      assert.deepEqual(
        three.map((number) => classifyRecipient(result, number).action),
        ['sent', 'ambiguous', 'retry'],
      );
      const single = await sendOnce(server.url, SUBMISSION, { responseTimeoutMs: 300 });
      assert.equal(classifyRecipient(result, '+353861234999').category, classifyRecipient(single, SUBMISSION.recipients[0] ?? '').category);
    } finally {
      server.respond = undefined;
    }
  });
});

describe('InteractSMS adapter: transport failures', () => {
  it('a closed port is a connect-phase ECONNREFUSED', async () => {
    const port = await freePort();
    const result = await sendOnce(`http://127.0.0.1:${port}`);
    assert.equal(result.kind, 'transport');
    assert.equal(result.phase, 'connect');
    assert.equal(result.code, 'ECONNREFUSED');
  });

  it('a server that never answers is a response-phase headers timeout', async () => {
    const silent = await startSilentTcpServer((socket) => socket.resume());
    try {
      const result = await sendOnce(`http://127.0.0.1:${silent.port}`, SUBMISSION, { responseTimeoutMs: 200 });
      assert.equal(result.kind, 'transport');
      assert.equal(result.phase, 'response');
      assert.equal(result.code, 'RESPONSE_TIMEOUT');
    } finally {
      await silent.close();
    }
  });
});

describe('InteractSMS webhooks: inbound fixtures', () => {
  it('has fixtures of both kinds, some signed', () => {
    assert.ok(inboundFixtures.filter((fixture) => fixture.kind === 'mo').length >= 10);
    assert.ok(inboundFixtures.filter((fixture) => fixture.kind === 'dr').length >= 10);
    assert.ok(inboundFixtures.filter((fixture) => fixture.verify?.portal || fixture.verify?.kb).length >= 5);
  });

  for (const fixture of inboundFixtures) {
    it(`${fixture.kind} ${fixture.name}: ${fixture.description}`, () => {
      const request = inbound(fixture.body, fixture.contentType);
      const parsed = fixture.kind === 'mo' ? parseReceived(request) : parseReport(request);
      if (fixture.parsed.ok) {
        assert.deepEqual(plain(parsed), fixture.parsed);
      } else {
        assert.equal(parsed.ok, false, JSON.stringify(parsed));
        assert.match(parsed.ok ? '' : parsed.reason, new RegExp(fixture.parsed.reason));
      }
      if (fixture.verify && fixture.secret !== undefined) {
        assert.equal(verify(request, fixture.kind, fixture.secret, 'portal'), fixture.verify.portal, 'portal formula');
        assert.equal(verify(request, fixture.kind, fixture.secret, 'kb'), fixture.verify.kb, 'kb formula');
        // A signature is only ever good for the secret it was made with.
        assert.equal(verify(request, fixture.kind, `${fixture.secret}x`, 'portal'), false);
        assert.equal(verify(request, fixture.kind, `${fixture.secret}x`, 'kb'), false);
      }
    });
  }
});

describe('InteractSMS webhooks: parsing and verification details', () => {
  const moFixture = inboundFixtures.find((fixture) => fixture.name === 'mo-reply');
  const drFixture = inboundFixtures.find((fixture) => fixture.name === 'dr-delivered');

  it('gives a retried MO the same id, and a different MO another', () => {
    assert.ok(moFixture);
    const first = parseReceived(inbound(moFixture.body));
    const again = parseReceived(inbound(moFixture.body));
    const form = new URLSearchParams(moFixture.body);
    form.set('SMS-TimeStamp', '2026-03-14 09:26:54');
    const later = parseReceived(inbound(form.toString()));
    assert.ok(first.ok && again.ok && later.ok);
    assert.equal(first.items[0]?.providerId, again.items[0]?.providerId);
    assert.notEqual(first.items[0]?.providerId, later.items[0]?.providerId);
    assert.match(first.items[0]?.providerId ?? '', /^[0-9a-f]{40}$/);
  });

  it('reads the fields whatever the order; changing any signed field breaks the signature', () => {
    assert.ok(moFixture?.secret && drFixture?.secret);
    const shuffled = [...new URLSearchParams(moFixture.body)].reverse();
    assert.equal(verify(inbound(new URLSearchParams(shuffled).toString()), 'mo', moFixture.secret, 'portal'), true);
    for (const [fixture, kind, names] of [
      [moFixture, 'mo', ['SMS-From', 'SMS-Content']],
      [drFixture, 'dr', ['SMS-NotifyId', 'SMS-Success']],
    ] as const) {
      for (const name of names) {
        const form = new URLSearchParams(fixture.body);
        form.set(name, `${form.get(name)}1`);
        assert.equal(verify(inbound(form.toString()), kind, fixture.secret ?? '', 'portal'), false, name);
      }
    }
  });

  it('refuses to verify what is not a form, and throws for a formula it does not know', () => {
    const secret = drFixture?.secret;
    assert.ok(drFixture && secret);
    assert.equal(verify(inbound(drFixture.body), 'dr', secret, 'portal'), true);
    assert.equal(verify(inbound(drFixture.body, 'application/json'), 'dr', secret, 'portal'), false);
    assert.throws(() => verify(inbound(drFixture.body), 'dr', secret, 'sha1'), RangeError);
  });

  it('takes a form without a content type, and ignores the query string (a token may ride there)', () => {
    assert.ok(drFixture);
    const request: InboundRequest = { ...inbound(drFixture.body, ''), query: new URLSearchParams('token=abc&SMS-Success=False') };
    const parsed = parseReport(request);
    assert.ok(parsed.ok);
    assert.equal(parsed.items[0]?.state, 'delivered');
  });

  it('reads a receipt naming several numbers as one report per number', () => {
    const parsed = parseReport(inbound('SMS-Type=Notification&SMS-NotifyId=abc&SMS-Success=True&SMS-To=353861234567,447700900123'));
    assert.deepEqual(plain(parsed), {
      ok: true,
      items: [
        { providerId: 'abc', number: '+353861234567', code: 1, state: 'delivered', said: 'SMS-Success=True', trackingId: 'abc' },
        { providerId: 'abc', number: '+447700900123', code: 1, state: 'delivered', said: 'SMS-Success=True', trackingId: 'abc' },
      ],
    });
  });
});

describe('InteractSMS: status words and sender ids', () => {
  it('describes the two receipt codes', () => {
    assert.equal(describeStatus(1), 'delivered to the phone');
    assert.equal(describeStatus(0), 'InteractSMS reports it not delivered to the phone (not every part of it arrived)');
    assert.match(describeStatus(7), /7/);
  });

  it('takes up to 11 letters and digits, or up to 15 digits; says why otherwise', () => {
    for (const ok of ['AcmeCo', 'YourCompany', 'A', '50123', '353877777777', '123456789012345', 'Shop24']) {
      assert.equal(senderIdProblem(ok), undefined, ok);
    }
    const problems: Array<[string, RegExp]> = [
      ['', /empty/],
      ['Acme Co', /spaces/],
      ['AcmeCompany1', /longer than 11/],
      ['Acme-Co', /letters and digits/],
      ['Café', /letters and digits/],
      ['1234567890123456', /more than 15 digits/],
      ['+353877777777', /without it/],
    ];
    for (const [senderId, pattern] of problems) {
      const problem = senderIdProblem(senderId);
      assert.match(problem ?? '', pattern, senderId);
      assert.match(problem ?? '', /^The sender id/, senderId);
    }
  });
});
