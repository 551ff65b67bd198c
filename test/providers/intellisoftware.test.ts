/**
 * The IntelliSoftware adapter held to the raw wire fixtures, against a plain node:http server (never
 * the simulator), plus transport failures provoked for real on 127.0.0.1.
 */
import type { Gateway, GatewayOptions, SmsSubmission, SubmissionResult } from '../../src/providers/contract.ts';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { outcomeClassifier } from '../../src/dispatch/outcomes.ts';
import { createIntelliSoftwareGateway } from '../../src/providers/intellisoftware/adapter.ts';
import { intellisoftwarePlugin } from '../../src/providers/intellisoftware/index.ts';
import { adapterFixtures, formFieldMultiset, loadWireFixtures } from '../helpers/fixtures.ts';
import { TEST_GATEWAY_SETTINGS, withFreshGateway } from '../helpers/gateway.ts';
import { describeAdapterFixtures, itUsesEndpointsAsGiven } from '../helpers/gateway-suites.ts';
import { assertNeverLogged, captureLog } from '../helpers/log-lines.ts';
import { type RecordedRequest, type Reply, ReplayServer, serveDuringSuite, type ReplayAnswer } from '../helpers/replay-server.ts';
import { freePort, startSilentTcpServer } from '../helpers/tcp.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

const FIXTURE_DIR = fileURLToPath(new URL('./fixtures/intellisoftware/', import.meta.url));
const fixtures = adapterFixtures(loadWireFixtures(FIXTURE_DIR));

const SUBMISSION: SmsSubmission = {
  messageId: 'msg-transport',
  recipients: ['+447700900123'],
  text: 'Your parcel arrives today',
  encoding: 'gsm7',
  maxParts: 1,
};

const TEXT_PLAIN = 'text/plain; charset=utf-8';
const ACCEPTED: ReplayAnswer = { status: 200, body: 'ID:10011000000000000001' };

/** A stand-in gateway answering every request `ACCEPTED` unless the test says otherwise. */
function recordingServer(): ReplayServer {
  return new ReplayServer({ contentType: TEXT_PLAIN, answer: ACCEPTED });
}

function gatewayOptions(overrides: Partial<GatewayOptions> = {}): GatewayOptions {
  return { ...TEST_GATEWAY_SETTINGS, username: 'relaytest', password: 'p@ss w0rd&=+', accountId: undefined, sessions: false, ...overrides };
}

function withGateway<T>(options: GatewayOptions, use: (gateway: Gateway) => Promise<T>): Promise<T> {
  return withFreshGateway(createIntelliSoftwareGateway, options, use);
}

/** Sends the standard submission through a fresh gateway whose only endpoint is `base`. */
function sendOnce(base: string, overrides: Partial<GatewayOptions> = {}): Promise<SubmissionResult> {
  return withGateway(gatewayOptions({ endpoints: [base], ...overrides }), (gateway) => gateway.send(SUBMISSION, 0));
}

describeAdapterFixtures('IntelliSoftware adapter: wire fixtures', {
  fixtures,
  atLeast: 12,
  contentType: TEXT_PLAIN,
  send: (fixture, url) => {
    const credentials = new URLSearchParams(fixture.request.body ?? '');
    const account = { username: credentials.get('username') ?? '', password: credentials.get('password') ?? '' };
    return withGateway(gatewayOptions({ endpoints: [url], ...account }), (gateway) => gateway.send(fixture.submission, 0));
  },
  checkRequest: (request, fixture) => assert.deepEqual(formFieldMultiset(request.body), formFieldMultiset(fixture.request.body ?? '')),
});

describe('IntelliSoftware adapter: request shape', () => {
  const server = recordingServer();
  const backup = recordingServer();
  serveDuringSuite(server, backup);

  it('describes itself as the contract asks', () => {
    const endpoints = ['https://a.example', 'https://b.example'];
    const gateway = createIntelliSoftwareGateway(gatewayOptions({ endpoints }));
    try {
      assert.equal(gateway.provider, 'intellisoftware');
      assert.deepEqual(gateway.capabilities, { maxRecipientsPerRequest: 100, maxParts: 6 });
      assert.deepEqual(gateway.endpoints, ['https://a.example', 'https://b.example']);
    } finally {
      void gateway.close();
    }
  });

  itUsesEndpointsAsGiven(server, backup, '/smsgateway/sendmsg.aspx', (endpoints, index) =>
    withGateway(gatewayOptions({ endpoints }), (gateway) => gateway.send(SUBMISSION, index)),
  );

  it('encodes a 100-recipient request and answers every recipient', async () => {
    const recipients = Array.from({ length: 100 }, (_, index) => `+4477009${String(index).padStart(5, '0')}`);
    server.requests.length = 0;
    const result = await withGateway(gatewayOptions({ endpoints: [server.url] }), (gateway) => gateway.send({ ...SUBMISSION, recipients }, 0));
    const to = new URLSearchParams(server.requests[0]?.body ?? '').get('to');
    assert.equal(to, recipients.map((number) => number.slice(1)).join(','));
    assert.equal(result.kind, 'answered');
    assert.deepEqual(
      result.results.map((entry) => entry.number),
      recipients,
    );
  });

  it('keeps connections alive and never has two requests in flight on one socket', async () => {
    server.requests.length = 0;
    const held: Array<() => void> = [];
    server.respond = () => new Promise((answer) => held.push(() => answer(ACCEPTED)));
    try {
      await withGateway(gatewayOptions({ endpoints: [server.url], connectionsPerEndpoint: 2 }), async (gateway) => {
        const sends = Array.from({ length: 4 }, () => gateway.send(SUBMISSION, 0));
        await waitFor('server.requests.length === 2', () => server.requests.length === 2, 2_000);
        await sleep(50);
        assert.equal(server.requests.length, 2, 'two connections, one request in flight on each, the rest queued');
        for (const answer of held.splice(0)) answer();
        await waitFor('server.requests.length === 4', () => server.requests.length === 4, 2_000);
        for (const answer of held.splice(0)) answer();
        const results = await Promise.all(sends);
        assert.ok(results.every((result) => result.kind === 'answered'));
        assert.equal(new Set(server.requests.map((request) => request.socket)).size, 2, 'sockets were reused');
      });
    } finally {
      server.respond = undefined;
    }
  });

  it('logs a debug line per send (endpoint, recipients, status, ms), never the password or text', async () => {
    const { logger, lines } = captureLog('debug');
    const password = 'Zebra-Secret-42';
    server.answer = ACCEPTED;
    await withGateway(gatewayOptions({ endpoints: [server.url], password, logger }), (gateway) =>
      gateway.send({ ...SUBMISSION, text: 'Confidential text 7431' }, 0),
    );
    const sendLine = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => 'ms' in line);
    assert.ok(sendLine, `no send line in ${lines.join('')}`);
    assert.equal(sendLine.level, 'debug');
    assert.equal(sendLine.endpoint, server.url);
    assert.equal(sendLine.recipients, 1);
    assert.equal(sendLine.status, 200);
    assert.equal(typeof sendLine.ms, 'number');
    assertNeverLogged(lines, { password, 'message text': 'Confidential text' });
  });

  it('reports an over-long 200 body as UNPARSEABLE without reading it all', async () => {
    server.answer = { status: 200, body: 'ID:1'.padEnd(200_000, 'x') };
    const result = await sendOnce(server.url);
    assert.equal(result.kind, 'refused');
    assert.equal(result.code, 'UNPARSEABLE');
    assert.equal(result.detail?.length, 200);
  });

  it('refuses a contract violation (too many recipients) by throwing, without a request', async () => {
    server.requests.length = 0;
    const recipients = Array.from({ length: 101 }, (_, index) => `+4477009${String(index).padStart(5, '0')}`);
    await withGateway(gatewayOptions({ endpoints: [server.url] }), async (gateway) => {
      await assert.rejects(gateway.send({ ...SUBMISSION, recipients }, 0), RangeError);
      await assert.rejects(gateway.send(SUBMISSION, 2), RangeError);
    });
    assert.equal(server.requests.length, 0);
  });
});

describe('IntelliSoftware adapter: one ERR:INVALID_NUMBER line for a request with several numbers', () => {
  const server = recordingServer();
  serveDuringSuite(server);
  const { classifyRecipient } = outcomeClassifier(intellisoftwarePlugin.outcomeRules);
  const INVALID: ReplayAnswer = { status: 200, body: 'ERR:INVALID_NUMBER\r\n' };
  const toOf = (request: RecordedRequest) => new URLSearchParams(request.body).get('to') ?? '';
  const three = ['+447700900171', '+447700900172', '+447700900173'];

  async function run(respond: (request: RecordedRequest) => Reply, recipients = three): Promise<SubmissionResult> {
    server.requests.length = 0;
    server.respond = respond;
    try {
      return await withGateway(gatewayOptions({ endpoints: [server.url] }), (gateway) => gateway.send({ ...SUBMISSION, recipients }, 0));
    } finally {
      server.respond = undefined;
    }
  }

  it('sends each number alone to learn which one it refuses: only that one bounces, the others are sent', async () => {
    const result = await run((request) =>
      toOf(request).includes(',') || toOf(request) === '447700900172' ? INVALID : { status: 200, body: `ID:${toOf(request)}` },
    );
    assert.deepEqual(server.requests.map(toOf), ['447700900171,447700900172,447700900173', '447700900171', '447700900172', '447700900173']);
    for (const request of server.requests) assert.equal(new URLSearchParams(request.body).get('text'), SUBMISSION.text);
    assert.deepEqual(result, {
      kind: 'answered',
      results: [
        { number: '+447700900171', code: 'ID', providerId: '447700900171' },
        { number: '+447700900172', code: 'ERR:INVALID_NUMBER' },
        { number: '+447700900173', code: 'ID', providerId: '447700900173' },
      ],
    });
    assert.deepEqual(
      three.map((number) => classifyRecipient(result, number).action),
      ['sent', 'fail', 'sent'],
    );
  });

  it('a code about the request or the account still stands for every number: one request', async () => {
    for (const [body, action] of [
      ['ERR:NO_TEXT', 'fail'],
      ['ERR:LOGIN_INVALID', 'pause'],
      ['DELAY:3', 'delay'],
    ] as const) {
      const result = await run(() => ({ status: 200, body }));
      assert.equal(server.requests.length, 1, body);
      assert.deepEqual(
        three.map((number) => classifyRecipient(result, number).action),
        [action, action, action],
        body,
      );
    }
  });

  it('a lone number is not asked about twice', async () => {
    const result = await run(() => INVALID, ['+447700900172']);
    assert.equal(server.requests.length, 1);
    assert.equal(classifyRecipient(result, '+447700900172').action, 'fail');
  });

  it('once one was taken, a failure of the next stands for it and the rest, which are not sent', async () => {
    let count = 0;
    const result = await run(() => {
      count++;
      if (count === 1) return INVALID;
      if (count === 2) return ACCEPTED;
      return { status: 200, body: 'ERR:GATEWAY_ERROR' };
    });
    assert.equal(server.requests.length, 3, 'the third number is not sent after the gateway failed');
    assert.deepEqual(
      three.map((number) => classifyRecipient(result, number).action),
      ['sent', 'failover', 'failover'],
    );
  });
});

describe('IntelliSoftware adapter: transport failures', () => {
  it('a closed port is a connect-phase ECONNREFUSED', async () => {
    const port = await freePort();
    const result = await sendOnce(`http://127.0.0.1:${port}`);
    assert.equal(result.kind, 'transport');
    assert.equal(result.phase, 'connect');
    assert.equal(result.code, 'ECONNREFUSED');
    assert.match(result.detail, /ECONNREFUSED/);
  });

  it('a server that accepts and never answers is a response-phase headers timeout', async () => {
    const silent = await startSilentTcpServer((socket) => socket.resume());
    try {
      const started = performance.now();
      const result = await sendOnce(`http://127.0.0.1:${silent.port}`, { responseTimeoutMs: 200 });
      assert.deepEqual({ kind: result.kind, phase: result.kind === 'transport' ? result.phase : undefined }, { kind: 'transport', phase: 'response' });
      assert.equal(result.kind === 'transport' && result.code, 'RESPONSE_TIMEOUT');
      assert.ok(performance.now() - started < 2_000, 'the response timeout was not applied');
    } finally {
      await silent.close();
    }
  });

  it('a body that stops mid-way is a response-phase body timeout', async () => {
    const stalling = await startSilentTcpServer((socket) => {
      socket.once('data', () => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 23\r\n\r\nID:1001'));
    });
    try {
      const result = await sendOnce(`http://127.0.0.1:${stalling.port}`, { responseTimeoutMs: 200 });
      assert.equal(result.kind, 'transport');
      assert.equal(result.phase, 'response');
      assert.equal(result.code, 'RESPONSE_TIMEOUT');
    } finally {
      await stalling.close();
    }
  });

  it('a connection dropped after the request was sent is response-phase (it may have been processed)', async () => {
    const dropping = await startSilentTcpServer((socket) => {
      socket.once('data', () => socket.destroy());
    });
    try {
      const result = await sendOnce(`http://127.0.0.1:${dropping.port}`);
      assert.equal(result.kind, 'transport');
      assert.equal(result.phase, 'response');
      assert.match(result.code, /^(UND_ERR_SOCKET|ECONNRESET)$/);
    } finally {
      await dropping.close();
    }
  });

  it('a TLS handshake that never completes is a connect-phase connect timeout', async () => {
    const silent = await startSilentTcpServer((socket) => socket.resume());
    try {
      const result = await sendOnce(`https://127.0.0.1:${silent.port}`, { connectTimeoutMs: 200 });
      assert.equal(result.kind, 'transport');
      assert.equal(result.phase, 'connect');
      assert.equal(result.code, 'UND_ERR_CONNECT_TIMEOUT');
    } finally {
      await silent.close();
    }
  });

  it('a TLS handshake failure (https to a plain HTTP server) is connect-phase', async () => {
    const plain = await recordingServer().start();
    try {
      const result = await sendOnce(plain.url.replace('http:', 'https:'));
      assert.equal(result.kind, 'transport');
      assert.equal(result.phase, 'connect');
      assert.match(result.code, /^ERR_SSL_/);
      assert.equal(plain.requests.length, 0);
    } finally {
      await plain.close();
    }
  });
});
