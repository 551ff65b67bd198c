/**
 * The Puzzel adapter held to the raw wire fixtures (test/helpers/fixtures.ts's Puzzel schema),
 * against a plain node:http server (never the simulator); its webhook parsers held to the inbound
 * fixtures in ./fixtures/puzzel/inbound/; transport failures provoked for real on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { outcomeClassifier } from '../../src/dispatch/outcomes.ts';
import type { Gateway, GatewayOptions, InboundRequest, SmsSubmission } from '../../src/providers/contract.ts';
import { batchReferenceFor, clientReferenceFor, sendWindowFor, validityFor } from '../../src/providers/puzzel/adapter.ts';
import { originatorFor, senderIdProblem } from '../../src/providers/puzzel/sender-id.ts';
import { describeStatus, parseReceived, parseReport } from '../../src/providers/puzzel/inbound.ts';
import { puzzelPlugin as puzzelModule } from '../../src/providers/puzzel/index.ts';
import { parseXml } from '../../src/providers/puzzel/xml.ts';
import { loadJsonFixtures, loadPuzzelWireFixtures, type PuzzelWireFixture } from '../helpers/fixtures.ts';
import { TEST_GATEWAY_SETTINGS, withFreshGateway } from '../helpers/gateway.ts';
import { describeAdapterFixtures, itUsesEndpointsAsGiven } from '../helpers/gateway-suites.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { ReplayServer, serveDuringSuite, type RecordedRequest } from '../helpers/replay-server.ts';
import { freePort, startSilentTcpServer } from '../helpers/tcp.ts';

const FIXTURE_DIR = fileURLToPath(new URL('./fixtures/puzzel/', import.meta.url));
const { classifyRecipient } = outcomeClassifier(puzzelModule.outcomeRules);
const INBOUND_DIR = join(FIXTURE_DIR, 'inbound');
const SEND_PATH = '/gw/rs/sendMessages';
const JSON_TYPE = 'application/json';

// ---------------------------------------------------------------------------------------------------
// Fixtures

const inboundFixtureSchema = z
  .object({
    description: z.string().min(1),
    kind: z.enum(['mo', 'dr']),
    contentType: z.string(),
    body: z.string(),
    expected: z.union([
      z.object({ ok: z.literal(true), items: z.array(z.record(z.string(), z.unknown())), unreadable: z.array(z.string()).min(1).optional() }).strict(),
      z.object({ ok: z.literal(false), reason: z.string() }).strict(),
    ]),
  })
  .strict();

const adapterFixtures = loadPuzzelWireFixtures(FIXTURE_DIR).filter((fixture) => fixture.adapter !== false);
const inboundFixtures = loadJsonFixtures(INBOUND_DIR, inboundFixtureSchema);

/** The fixture's submission as the dispatcher would give it, relative times resolved now. */
function toSubmission(fixture: PuzzelWireFixture): SmsSubmission {
  assert.ok(fixture.submission, `${fixture.name}: an adapter fixture needs a submission`);
  const { expiresInMs, ...submission } = fixture.submission;
  return { ...submission, ...(expiresInMs === undefined ? {} : { expiresAt: Date.now() + expiresInMs }) };
}

// ---------------------------------------------------------------------------------------------------
// Harness

/** A stand-in gateway answering JSON unless the test says otherwise. */
function recordingServer(): ReplayServer {
  return new ReplayServer({ contentType: JSON_TYPE, answer: { status: 200, body: '{}' } });
}

const ACCOUNT = { accountId: '1000', username: 'relaytest', password: 'p@ss "w0rd"&<>' };

function gatewayOptions(overrides: Partial<GatewayOptions> = {}): GatewayOptions {
  return { ...TEST_GATEWAY_SETTINGS, ...ACCOUNT, sessions: false, ...overrides };
}

function withGateway<T>(options: GatewayOptions, use: (gateway: Gateway) => Promise<T>): Promise<T> {
  return withFreshGateway(puzzelModule.createGateway, options, use);
}

const SUBMISSION: SmsSubmission = {
  messageId: '0192d3a4-5b6c-7d8e-9f00-00000000aaaa',
  recipients: ['+447700900123'],
  text: 'Your parcel arrives today',
  encoding: 'gsm7',
  maxParts: 1,
};

function okAnswer(request: RecordedRequest): { status: number; body: string } {
  const sent = JSON.parse(request.body) as { message: Array<{ recipient: string; clientReference: string }> };
  return {
    status: 200,
    body: JSON.stringify({
      messageStatus: sent.message.map((message, index) => ({
        statusCode: 1,
        statusMessage: 'Message enqueued for sending',
        clientReference: message.clientReference,
        recipient: message.recipient,
        messageId: `id${String(index).padStart(10, '0')}`,
        sessionId: null,
        sequenceIndex: index + 1,
      })),
    }),
  };
}

// ---------------------------------------------------------------------------------------------------

describeAdapterFixtures('Puzzel adapter: wire fixtures', {
  fixtures: adapterFixtures,
  atLeast: 18,
  contentType: JSON_TYPE,
  send: (fixture, url) => {
    const sent = JSON.parse(fixture.request.body ?? '{}') as { serviceId?: number; username?: string; password?: string };
    const account = { accountId: String(sent.serviceId), username: sent.username ?? '', password: sent.password ?? '' };
    return withGateway(gatewayOptions({ endpoints: [url], ...account }), (gateway) => gateway.send(toSubmission(fixture), 0));
  },
  checkRequest: (request, fixture) => {
    assert.equal(request.headers.accept, fixture.request.accept);
    // Parsed first for a readable diff, then byte for byte (field order included).
    assert.deepEqual(JSON.parse(request.body), JSON.parse(fixture.request.body ?? ''));
    assert.equal(request.body, fixture.request.body);
  },
});

describe('Puzzel adapter: requests', () => {
  const server = recordingServer();
  const backup = recordingServer();
  serveDuringSuite(server, backup);
  server.respond = okAnswer;
  backup.respond = okAnswer;

  const lastBody = () => JSON.parse(server.requests.at(-1)?.body ?? '{}') as Record<string, unknown> & { message: Array<Record<string, unknown>> };

  it('describes itself as the contract asks', () => {
    assert.equal(puzzelModule.name, 'puzzel');
    assert.deepEqual(puzzelModule.capabilities, {
      maxRecipientsPerRequest: 100,
      maxParts: 6,
      replyTracking: 'tracking-id',
      scheduling: true,
      accountIdAddresses: true,
    });
    assert.deepEqual(puzzelModule.settings.defaultUrls, { url: 'https://smsgw.puzzel.com' });
    assert.equal(puzzelModule.verify, undefined, 'Puzzel signs nothing');
    const gateway = puzzelModule.createGateway(gatewayOptions({ endpoints: ['https://a.example', 'https://b.example'] }));
    try {
      assert.equal(gateway.provider, 'puzzel');
      assert.deepEqual(gateway.capabilities, { maxRecipientsPerRequest: 100, maxParts: 6 });
      assert.deepEqual(gateway.endpoints, ['https://a.example', 'https://b.example']);
    } finally {
      void gateway.close();
    }
  });

  it('needs a numeric service id', () => {
    for (const accountId of [undefined, '', 'abc', '12.5', '1234567890']) {
      assert.throws(() => puzzelModule.createGateway(gatewayOptions({ accountId })), /numeric Puzzel service id/, String(accountId));
    }
  });

  itUsesEndpointsAsGiven(server, backup, SEND_PATH, (endpoints, index) =>
    withGateway(gatewayOptions({ endpoints }), (gateway) => gateway.send(SUBMISSION, index)),
  );

  it('sends 100 recipients as 100 messages and answers every one', async () => {
    const recipients = Array.from({ length: 100 }, (_, index) => `+4477009${String(index).padStart(5, '0')}`);
    const result = await withGateway(gatewayOptions({ endpoints: [server.url] }), (gateway) => gateway.send({ ...SUBMISSION, recipients }, 0));
    assert.deepEqual(
      lastBody().message.map((message) => message['recipient']),
      recipients,
    );
    assert.equal(result.kind, 'answered');
    assert.deepEqual(
      result.results.map((entry) => [entry.number, entry.code]),
      recipients.map((number) => [number, 'PUZZEL:1']),
    );
  });

  it('refuses a submission that breaks the contract before sending anything', async () => {
    const before = server.requests.length;
    await withGateway(gatewayOptions({ endpoints: [server.url] }), async (gateway) => {
      const tooMany = Array.from({ length: 101 }, (_, index) => `+4477009${String(index).padStart(5, '0')}`);
      await assert.rejects(gateway.send({ ...SUBMISSION, recipients: tooMany }, 0), RangeError);
      await assert.rejects(gateway.send({ ...SUBMISSION, recipients: [] }, 0), RangeError);
      await assert.rejects(gateway.send({ ...SUBMISSION, recipients: ['+447700900123', '+447700900123'] }, 0), /distinct/);
    });
    assert.equal(server.requests.length, before);
  });

  it('sends neither price nor settings it was not asked for, and never the user context', async () => {
    await withGateway(gatewayOptions({ endpoints: [server.url], sessions: true }), (gateway) =>
      gateway.send({ ...SUBMISSION, userContext: 'ctx-42', deliveryReport: true }, 0),
    );
    const [message] = lastBody().message;
    assert.deepEqual(Object.keys(message ?? {}), ['recipient', 'content', 'clientReference']);
  });

  it('leaves out a send window whose time has come, and counts validity from now', async () => {
    const now = Date.now();
    await withGateway(gatewayOptions({ endpoints: [server.url] }), (gateway) =>
      gateway.send({ ...SUBMISSION, sendAt: now - 60_000, expiresAt: now + 10 * 60_000 + 30_000 }, 0),
    );
    assert.deepEqual(lastBody().message[0]?.['settings'], { validity: 1 });
  });

  it('gives a resend of the same numbers the same references, and other numbers other batch references', async () => {
    const bodies: Array<ReturnType<typeof lastBody>> = [];
    await withGateway(gatewayOptions({ endpoints: [server.url] }), async (gateway) => {
      for (const recipients of [['+447700900123', '+447700900124'], ['+447700900124', '+447700900123'], ['+447700900124']]) {
        await gateway.send({ ...SUBMISSION, recipients }, 0);
        bodies.push(lastBody());
      }
    });
    const [first, reordered, subset] = bodies;
    assert.equal(first?.['batchReference'], reordered?.['batchReference']);
    assert.notEqual(first?.['batchReference'], subset?.['batchReference']);
    assert.equal(first?.message[1]?.['clientReference'], subset?.message[0]?.['clientReference']);
    assert.equal(subset?.message[0]?.['clientReference'], `${SUBMISSION.messageId}:447700900124`);
  });

  it('hashes a message id that is too long or unusual into a short reference', () => {
    const long = `<${'x'.repeat(200)}@example.com>`;
    const reference = clientReferenceFor(long, '+447700900123');
    assert.match(reference, /^[0-9a-f]{32}:447700900123$/);
    assert.equal(reference, clientReferenceFor(long, '+447700900123'), 'deterministic');
    assert.ok(reference.length <= 64);
    assert.match(batchReferenceFor(long, ['+447700900123']), /^[0-9a-f]{32}\.[0-9a-f]{8}$/);
    // The DR parser gets the number back from it.
    const parsed = parseReport(inbound('application/json', JSON.stringify({ dr: [{ messageid: 'm1', customermessagereference: reference, statuscode: 0 }] })));
    const hashed = reference.slice(0, reference.indexOf(':'));
    assert.deepEqual(parsed, {
      ok: true,
      items: [{ providerId: 'm1', number: '+447700900123', code: 0, state: 'delivered', said: 'statuscode=0', messageId: hashed }],
    });
  });

  it('correlates a status whose clientReference is not ours neither by reference nor by position', async () => {
    const body = JSON.stringify({ messageStatus: [{ statusCode: 1, clientReference: 'someone-else', messageId: 'x', sequenceIndex: 1 }] });
    server.respond = () => ({ status: 200, body });
    try {
      const result = await withGateway(gatewayOptions({ endpoints: [server.url] }), (gateway) => gateway.send(SUBMISSION, 0));
      // The answer's start goes with it: what the gateway said instead is what the operator checks.
      assert.deepEqual(result, { kind: 'answered', results: [{ number: '+447700900123', code: 'MISSING_RESULT', detail: body }] });
    } finally {
      server.respond = okAnswer;
    }
  });

  it('takes the entry saying Puzzel took the message over another entry for it, whichever comes first; an id chooses between two taken', async () => {
    type Entry = [statusCode: number, messageId?: string];
    const cases: Array<[Entry[], { code: string; providerId?: string; detail: string }]> = [
      [[[5], [1, 'dup2']], { code: 'PUZZEL:1', providerId: 'dup2', detail: 'OK' }],
      [[[1, 'dup2'], [5]], { code: 'PUZZEL:1', providerId: 'dup2', detail: 'OK' }],
      // Taken without an id is still taken (the outcome rules' withoutId): it wins over a refusal carrying one.
      [[[5], [1]], { code: 'PUZZEL:1', detail: 'OK' }],
      [[[5, 'r1'], [24]], { code: 'PUZZEL:24', detail: 'QUOTA_EXCEEDED' }],
      [[[5], [25]], { code: 'PUZZEL:25', detail: 'Duplicate message' }],
      [[[1], [1, 'id2']], { code: 'PUZZEL:1', providerId: 'id2', detail: 'OK' }],
      [
        [
          [1, 'id1'],
          [1, 'id2'],
        ],
        { code: 'PUZZEL:1', providerId: 'id1', detail: 'OK' },
      ],
    ];
    const MESSAGES: Record<number, string> = { 1: 'OK', 5: 'Syntax error', 24: 'QUOTA_EXCEEDED', 25: 'Duplicate message' };
    for (const [entries, expected] of cases) {
      server.respond = (request) => {
        const [message] = (JSON.parse(request.body) as { message: Array<{ clientReference: string }> }).message;
        const messageStatus = entries.map(([statusCode, messageId]) => ({
          statusCode,
          statusMessage: MESSAGES[statusCode],
          clientReference: message?.clientReference,
          ...(messageId === undefined ? {} : { messageId }),
          sequenceIndex: 1,
        }));
        return { status: 200, body: JSON.stringify({ messageStatus }) };
      };
      try {
        const result = await withGateway(gatewayOptions({ endpoints: [server.url] }), (gateway) => gateway.send(SUBMISSION, 0));
        assert.deepEqual(result, { kind: 'answered', results: [{ number: '+447700900123', ...expected }] }, JSON.stringify(entries));
      } finally {
        server.respond = okAnswer;
      }
    }
  });

  it('takes the one entry of a one-message request as its own, in whatever form Puzzel writes the number', async () => {
    const answerNaming = (recipient: string) => () => ({
      status: 200,
      body: JSON.stringify({ messageStatus: [{ statusCode: 1, recipient, messageId: 'm1', sequenceIndex: 1 }] }),
    });
    const cases: Array<[string, string]> = [
      ['+447700900123', '+447700900123'],
      ['+447700900123', '447700900123'],
      ['+447700900123', '00447700900123'],
      ['+447700900123', '07700900123'],
      ['+447700900123', '+44 (0)7700 900123'],
      ['+447700900123', '+4407700900123'],
      ['+447700900123', 'tel:+447700900123'],
      ['+447700900123', '44.7700.900123'],
      // Renormalised in ways no reading foresees: Russia's trunk 8, Argentina's mobile 9 dropped, Mexico's 1 dropped.
      ['+79123456789', '89123456789'],
      ['+5491123456789', '+541123456789'],
      ['+5215512345678', '+525512345678'],
      // Even a number that is not the one sent: nothing in the request is evidence it is another message's.
      ['+447700900123', '+4700000000'],
    ];
    try {
      for (const [number, recipient] of cases) {
        server.respond = answerNaming(recipient);
        const result = await withGateway(gatewayOptions({ endpoints: [server.url] }), (gateway) => gateway.send({ ...SUBMISSION, recipients: [number] }, 0));
        assert.deepEqual(result, { kind: 'answered', results: [{ number, code: 'PUZZEL:1', providerId: 'm1' }] }, recipient);
      }
    } finally {
      server.respond = okAnswer;
    }
  });

  it("leaves an entry without a reference found by position to the message it names when that is another of the request's", async () => {
    const recipients = ['+447700900123', '+447700900456', '+447700900789'];
    const answer = (entries: Array<[string, string]>) => () => ({
      status: 200,
      body: JSON.stringify({
        messageStatus: entries.map(([recipient, messageId], index) => ({ statusCode: 1, recipient, messageId, sequenceIndex: index + 1 })),
      }),
    });
    try {
      // The first two entries swapped (each names the other message's number); the third names its own in a form of Puzzel's.
      const swappedAnswer = answer([
        ['07700900456', 'b'],
        ['+447700900123', 'a'],
        ['+44 (0)7700 900789', 'c'],
      ]);
      server.respond = swappedAnswer;
      const swapped = await withGateway(gatewayOptions({ endpoints: [server.url] }), (gateway) => gateway.send({ ...SUBMISSION, recipients }, 0));
      const said = swappedAnswer().body.slice(0, 200);
      assert.deepEqual(swapped, {
        kind: 'answered',
        results: [
          { number: '+447700900123', code: 'MISSING_RESULT', detail: said },
          { number: '+447700900456', code: 'MISSING_RESULT', detail: said },
          { number: '+447700900789', code: 'PUZZEL:1', providerId: 'c' },
        ],
      });
      // Retried on the same host as any message an answer leaves out, counted as a possible duplicate.
      assert.equal(classifyRecipient(swapped, '+447700900123').action, 'ambiguous');
      // A number matching none of the request's is no evidence: each entry is its position's message's.
      server.respond = answer([
        ['+541123456789', 'a'],
        ['+447700900456', 'b'],
        ['+4700000000', 'c'],
      ]);
      const unknown = await withGateway(gatewayOptions({ endpoints: [server.url] }), (gateway) => gateway.send({ ...SUBMISSION, recipients }, 0));
      assert.deepEqual(
        unknown.kind === 'answered' && unknown.results.map((result) => [result.number, result.code, result.providerId]),
        recipients.map((number, index) => [number, 'PUZZEL:1', 'abc'[index]]),
      );
    } finally {
      server.respond = okAnswer;
    }
  });

  it('maps Puzzel codes through the outcome table as intended', async () => {
    const cases: Array<[number, string]> = [
      [1, 'sent'],
      [24, 'sent'],
      [25, 'sent'],
      [2, 'pause'],
      [6, 'retry'],
      [5, 'fail'],
    ];
    for (const [statusCode, action] of cases) {
      server.respond = (request) => {
        const sent = JSON.parse(request.body) as { message: Array<{ clientReference: string }> };
        return { status: 200, body: JSON.stringify({ messageStatus: [{ statusCode, clientReference: sent.message[0]?.clientReference, sequenceIndex: 1 }] }) };
      };
      const result = await withGateway(gatewayOptions({ endpoints: [server.url] }), (gateway) => gateway.send(SUBMISSION, 0));
      assert.equal(classifyRecipient(result, '+447700900123').action, action, `statusCode ${statusCode}`);
    }
    server.respond = okAnswer;
  });
});

describe('Puzzel adapter: transport', () => {
  it('reports a refused connection as a connect-phase failure', async () => {
    const port = await freePort();
    const result = await withGateway(gatewayOptions({ endpoints: [`http://127.0.0.1:${port}`] }), (gateway) => gateway.send(SUBMISSION, 0));
    assert.equal(result.kind, 'transport');
    assert.equal(result.kind === 'transport' && result.phase, 'connect');
    assert.equal(result.kind === 'transport' && result.code, 'ECONNREFUSED');
  });

  it('reports a gateway that took the request and went silent as a response-phase failure', async () => {
    const silent = await startSilentTcpServer();
    try {
      const result = await withGateway(gatewayOptions({ endpoints: [`http://127.0.0.1:${silent.port}`], responseTimeoutMs: 300 }), (gateway) =>
        gateway.send(SUBMISSION, 0),
      );
      assert.equal(result.kind, 'transport');
      assert.equal(result.kind === 'transport' && result.phase, 'response');
      assert.equal(result.kind === 'transport' && result.code, 'RESPONSE_TIMEOUT');
    } finally {
      await silent.close();
    }
  });

  it('calls an answer too long to be one unparseable', async () => {
    const server = await recordingServer().start();
    try {
      server.answer = { status: 200, body: `{"messageStatus":[${'{"statusCode":1},'.repeat(5_000)}{}]}` };
      const result = await withGateway(gatewayOptions({ endpoints: [server.url] }), (gateway) => gateway.send(SUBMISSION, 0));
      assert.equal(result.kind === 'refused' && result.code, 'UNPARSEABLE');
    } finally {
      await server.close();
    }
  });

  it('logs without the password and with masked numbers', async () => {
    const server = await recordingServer().start();
    const { logger, lines } = captureLog('debug');
    try {
      server.answer = { status: 200, body: '{"messageStatus":[]}' };
      await withGateway(gatewayOptions({ endpoints: [server.url], logger }), (gateway) => gateway.send(SUBMISSION, 0));
      const log = lines.join('');
      assert.match(log, /puzzel: send/);
      assert.match(log, /answer does not match/);
      assert.doesNotMatch(log, /447700900123/);
      assert.doesNotMatch(log, /w0rd/);
    } finally {
      await server.close();
    }
  });
});

describe('Puzzel adapter: settings', () => {
  it('encodes validity as GSM TP-VP relative, rounded down, capped at 173', () => {
    const minutes: Array<[number, number]> = [
      [0, 0],
      [4.9, 0],
      [9.9, 0],
      [10, 1],
      [150.5, 29],
      [720, 143],
      [749, 143],
      [750, 144],
      [779, 144],
      [780, 145],
      [24 * 60, 167],
      [48 * 60 - 1, 167],
      [48 * 60, 168],
      [3 * 24 * 60 + 60, 169],
      [7 * 24 * 60, 173],
      [30 * 24 * 60, 173],
    ];
    for (const [value, expected] of minutes) assert.equal(validityFor(value * 60_000), expected, `${value} min`);
    assert.equal(validityFor(-5_000), 0);
  });

  it('writes the send window in UTC with Z', () => {
    assert.deepEqual(sendWindowFor(Date.parse('2099-12-31T23:59:59.999Z')), { startDate: '2099-12-31Z', startTime: '23:59:59Z' });
    assert.deepEqual(sendWindowFor(Date.parse('2030-03-05T00:00:00+02:00')), { startDate: '2030-03-04Z', startTime: '22:00:00Z' });
  });

  it('chooses the originator type from the sender id', () => {
    const cases: Array<[string, string, string]> = [
      ['Acme', 'ALPHANUMERIC', 'Acme'],
      ['Acme & Co.', 'ALPHANUMERIC', 'Acme & Co.'],
      ['12', 'ALPHANUMERIC', '12'],
      ['1960', 'NETWORK', '1960'],
      ['12345678', 'NETWORK', '12345678'],
      ['+4799999999', 'INTERNATIONAL', '+4799999999'],
      ['447700900123', 'INTERNATIONAL', '+447700900123'],
      ['+46701234567', 'INTERNATIONAL', '+46701234567'],
      ['+4712', 'ALPHANUMERIC', '+4712'],
      // 00 is the international prefix (as the allow-list and a received sender read it), also left after a +.
      ['004799999999', 'INTERNATIONAL', '+4799999999'],
      ['00447700900123', 'INTERNATIONAL', '+447700900123'],
      ['0099999999', 'INTERNATIONAL', '+99999999'],
      ['+004791234999', 'INTERNATIONAL', '+4791234999'],
    ];
    for (const [senderId, originatorType, originator] of cases) {
      assert.deepEqual(originatorFor(senderId), { originatorType, originator }, senderId);
      assert.equal(senderIdProblem(senderId), undefined, senderId);
    }
  });

  it('explains a sender id Puzzel cannot show', () => {
    const rule =
      'Puzzel takes a sender id of at most 11 letters, digits, spaces and % & - + . , or an international number (+ or 00 and up to 15 digits), or a short number (3 to 8 digits)';
    const national = 'is a national number, which names no country: write it as + and the country code, then the number without its leading 0';
    const noCountry = 'has no country code (none begins with 0): write it as + and the country code, then the number without its leading 0';
    const cases: Array<[string, string]> = [
      ['07700900123', `"07700900123" ${national}`],
      ['0001234567', `"0001234567" ${national}`],
      ['+07700900123', `"+07700900123" ${noCountry}`],
      ['+0012', `"+0012" ${noCountry}`],
      ['Ab_cd', '"Ab_cd" has "_"'],
      ['Café@Home', '"Café@Home" has "é", "@"'],
      ['Far Too Long Sender', '"Far Too Long Sender" has 19 characters'],
      ['+1234567890123456', '"+1234567890123456" has 16 digits'],
      ['', 'the sender id is empty'],
      ['An extremely long sender name indeed', '"An extremely long se…" has 36 characters'],
    ];
    for (const [senderId, why] of cases) assert.equal(senderIdProblem(senderId), `${rule}; ${why}`, senderId);
  });

  it('describes delivery status codes in plain words', () => {
    assert.equal(describeStatus(0), 'delivered to the phone');
    assert.equal(describeStatus(351), 'unknown or illegal recipient');
    assert.equal(describeStatus(361), 'the phone was unreachable until the message expired');
    assert.equal(describeStatus(9999), 'the network reported status 9999');
    for (const code of [350, 354, 355, 356, 357, 358, 359, 360, 362, 363, 364, 368, 369, 370, 371, 380, 385, 386, 390, 650, 651, 652, 653, 654, 655]) {
      assert.doesNotMatch(describeStatus(code), /reported status/, `${code} is in the §2.6 table`);
    }
  });
});

// ---------------------------------------------------------------------------------------------------

function inbound(contentType: string, body: string): InboundRequest {
  return { contentType, body, query: new URLSearchParams(), headers: {} };
}

/** Without the keys whose value is undefined: the fixtures (JSON) cannot write them. */
function defined(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value));
}

describe('Puzzel webhooks: inbound fixtures', () => {
  it('has fixtures to run', () => {
    assert.ok(inboundFixtures.filter((fixture) => fixture.kind === 'mo').length >= 10);
    assert.ok(inboundFixtures.filter((fixture) => fixture.kind === 'dr').length >= 8);
  });

  for (const fixture of inboundFixtures) {
    it(`${fixture.name}: ${fixture.description}`, () => {
      const request = inbound(fixture.contentType, fixture.body);
      const parsed = fixture.kind === 'mo' ? parseReceived(request) : parseReport(request);
      assert.deepEqual(defined(parsed), fixture.expected);
      if (parsed.ok && fixture.kind === 'mo') {
        // Every field of the contract is there, undefined or not; unreadTime only where the time was not read.
        for (const item of parsed.items) {
          const keys = ['number', 'providerId', 'sentAt', 'text', 'trackingId', ...('unreadTime' in item ? ['unreadTime'] : []), 'userContext'];
          assert.deepEqual(Object.keys(item).sort(), keys);
        }
      }
    });
  }

  it('reads a body without a content type by its first character', () => {
    const json = parseReceived(inbound('', ' {"mo":[{"messageid":"a1","originator":"+447700900123","content":"x","sessionid":""}]}'));
    const xml = parseReport(
      inbound(
        '',
        '<dr><message><messageid>b1</messageid><customermessagereference>m:447700900123</customermessagereference><statuscode>0</statuscode></message></dr>',
      ),
    );
    assert.equal(json.ok && json.items[0]?.number, '+447700900123');
    assert.equal(xml.ok && xml.items[0]?.state, 'delivered');
    assert.deepEqual(parseReceived(inbound('', 'junk')), { ok: false, reason: 'content type "" is neither JSON nor XML' });
  });

  it('takes back a messageid with "+", as the send answer gave it', () => {
    const parsed = parseReport(
      inbound('application/json', JSON.stringify({ dr: [{ messageid: 'pm+4791234010', customermessagereference: 'm:4791234010', statuscode: 0 }] })),
    );
    assert.equal(parsed.ok && parsed.items[0]?.providerId, 'pm+4791234010');
  });

  it('takes JSON media types with a suffix and refuses other shapes', () => {
    assert.equal(parseReceived(inbound('application/vnd.puzzel+json', '{"mo":[]}')).ok, true);
    assert.deepEqual(parseReceived(inbound('application/json', '{"mo":{"messageid":"a"}}')), { ok: false, reason: 'the body has no "mo" list' });
    assert.deepEqual(parseReceived(inbound('application/json', '{"mo":["a"]}')), { ok: false, reason: 'mo[0]: not an object' });
    const mixed = parseReceived(inbound('application/json', '{"mo":["a",{"messageid":"a1","originator":"+447700900123","content":"x"}]}'));
    assert.deepEqual(mixed.ok && [mixed.items.map((item) => item.providerId), mixed.unreadable], [['a1'], ['mo[0]: not an object']]);
    const xml = parseReceived(
      inbound(
        'application/xml',
        '<mo><message><messageid>a2</messageid><messageid>a3</messageid></message><message><messageid>a4</messageid><originator>+447700900123</originator><content>y</content></message></mo>',
      ),
    );
    assert.deepEqual(xml.ok && [xml.items.map((item) => item.providerId), xml.unreadable], [['a4'], ['mo[0]: <messageid> appears twice with two values']]);
    assert.deepEqual(parseReport(inbound('application/json', '{"dr":')), { ok: false, reason: 'the body is not JSON' });
    assert.deepEqual(parseReceived(inbound('application/xml', '<mo>junk</mo>')), { ok: false, reason: '<mo> holds text, not <message> elements' });
    assert.deepEqual(parseReceived(inbound('application/xml', '<mo/>')), { ok: true, items: [] });
  });

  it('quarantines a message naming one field twice, in two cases, with two values, by GET, JSON or XML; one value given twice is that value', () => {
    const reference = 'm:447700900123';
    const get = (query: string) => parseReport({ ...inbound('', ''), method: 'GET', query: new URLSearchParams(query) });
    const taken = { providerId: 'c', code: 0, state: 'delivered', said: 'statuscode=0', number: '+447700900123', messageId: 'm' };
    assert.deepEqual(get(`messageid=a&MessageId=b&customerMessageReference=${reference}&statusCode=0`), {
      ok: false,
      reason: 'dr[0]: MessageId is given twice with different values',
    });
    assert.deepEqual(get(`messageid=c&MessageId=c&customerMessageReference=${reference}&statusCode=0`), { ok: true, items: [taken] });

    const json = parseReport(
      inbound(
        'application/json',
        JSON.stringify({
          dr: [
            { messageid: 'a', MessageId: 'b', customermessagereference: reference, statuscode: 0 },
            { messageid: 'c', messageId: 'c', customermessagereference: reference, statuscode: 0 },
          ],
        }),
      ),
    );
    assert.deepEqual(json, { ok: true, items: [taken], unreadable: ['dr[0]: MessageId is given twice with different values'] });

    const message = (first: string, second: string) =>
      `<message><messageid>${first}</messageid><MessageId>${second}</MessageId><customermessagereference>${reference}</customermessagereference><statuscode>0</statuscode></message>`;
    const xml = parseReport(inbound('application/xml', `<dr>${message('a', 'b')}${message('c', 'c')}</dr>`));
    assert.deepEqual(xml, { ok: true, items: [taken], unreadable: ['dr[0]: <MessageId> appears twice with two values'] });
  });
});

describe('Puzzel adapter: XML reader', () => {
  it('reads elements, drops prefixes and attributes, decodes text', () => {
    const root = parseXml("<?xml version='1.0'?><!-- c --><p:a xmlns:p='u' x=\"1\"><b>x &lt; y &#65;&#x42;</b><c/><b><![CDATA[&raw;]]></b></p:a>");
    assert.deepEqual(root, {
      name: 'a',
      children: [
        { name: 'b', children: [], text: 'x < y AB' },
        { name: 'c', children: [], text: '' },
        { name: 'b', children: [], text: '&raw;' },
      ],
      text: '',
    });
  });

  it('refuses what is not well-formed or not safe', () => {
    const bad = [
      '',
      'text',
      '<a>',
      '<a></b>',
      '<a><b></a></b>',
      '<a/><b/>',
      '<a>x<b/></a>',
      '<a>&nbsp;</a>',
      '<a>a & b</a>',
      '<a>&#0;</a>',
      '<a>&#xD800;</a>',
      '<a x=1/>',
      '<!DOCTYPE a><a/>',
      '<a><!-- open</a>',
      `${'<a>'.repeat(9)}${'</a>'.repeat(9)}`,
    ];
    for (const source of bad) assert.equal(typeof parseXml(source), 'string', JSON.stringify(source));
    assert.equal(typeof parseXml(`${'<a>'.repeat(8)}${'</a>'.repeat(8)}`), 'object');
  });
});
