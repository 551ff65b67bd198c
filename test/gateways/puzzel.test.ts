/**
 * The Puzzel adapter held to the raw wire fixtures, against a plain node:http server (never the
 * simulator); its webhook parsers held to the inbound fixtures; transport failures provoked for
 * real on 127.0.0.1.
 *
 * The fixtures use test/helpers/fixtures.ts's schema, plus what Puzzel needs: the `accept` header,
 * the response's content type, and submission times (`sendAt`/`expiresAt` as ISO strings,
 * `expiresInMs` relative to the send), `newSession`; the simulator setup takes `authFailure` and
 * `priorRequests`. Inbound fixtures live in ./fixtures/puzzel/inbound/.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { classifyRecipient } from '../../src/dispatch/outcomes.ts';
import type { GatewayOptions, InboundRequest } from '../../src/gateways/provider.ts';
import {
  batchReferenceFor,
  clientReferenceFor,
  describeStatus,
  originatorFor,
  parseReceived,
  parseReport,
  parseXml,
  puzzelModule,
  senderIdProblem,
  sendWindowFor,
  validityFor,
} from '../../src/gateways/puzzel.ts';
import type { Gateway, SmsSubmission } from '../../src/gateways/types.ts';
import { createLogger } from '../../src/log.ts';

const FIXTURE_DIR = fileURLToPath(new URL('./fixtures/puzzel/', import.meta.url));
const INBOUND_DIR = join(FIXTURE_DIR, 'inbound');
const SEND_PATH = '/gw/rs/sendMessages';

// ---------------------------------------------------------------------------------------------------
// Fixtures

const isoTime = z.iso.datetime().transform((value) => Date.parse(value));
const submissionSchema = z
  .object({
    messageId: z.string(),
    recipients: z.array(z.string().regex(/^\+\d+$/)).min(1),
    text: z.string(),
    encoding: z.enum(['gsm7', 'ucs2']),
    maxParts: z.number().int().positive(),
    senderId: z.string().optional(),
    userContext: z.string().optional(),
    deliveryReport: z.boolean().optional(),
    newSession: z.boolean().optional(),
    sendAt: isoTime.optional(),
    expiresAt: isoTime.optional(),
    expiresInMs: z.number().int().positive().optional(),
  })
  .strict();
const recipientResultSchema = z
  .object({
    number: z.string(),
    code: z.string(),
    providerId: z.string().optional(),
    trackingId: z.string().optional(),
    detail: z.string().optional(),
  })
  .strict();
const resultSchema = z.union([
  z.object({ kind: z.literal('answered'), results: z.array(recipientResultSchema) }).strict(),
  z.object({ kind: z.literal('refused'), code: z.string(), detail: z.string().optional() }).strict(),
]);
const wireFixtureSchema = z
  .object({
    description: z.string().min(1),
    submission: submissionSchema.optional(),
    request: z
      .object({
        method: z.enum(['GET', 'POST']),
        path: z.string().startsWith('/'),
        contentType: z.string().optional(),
        accept: z.string().optional(),
        body: z.string().optional(),
      })
      .strict(),
    response: z.object({ status: z.number().int(), contentType: z.string().optional(), body: z.string() }).strict(),
    result: resultSchema.optional(),
    adapter: z.literal(false).optional(),
    simulator: z
      .union([
        z.literal(false),
        z
          .object({
            invalidNumbers: z.array(z.string()).optional(),
            behaviour: z.unknown().optional(),
            authFailure: z.enum(['status-code', 'http-401']).optional(),
            priorRequests: z.number().int().positive().optional(),
          })
          .strict(),
      ])
      .optional(),
  })
  .strict();

type WireFixture = z.infer<typeof wireFixtureSchema> & { readonly name: string };

const inboundFixtureSchema = z
  .object({
    description: z.string().min(1),
    kind: z.enum(['mo', 'dr']),
    contentType: z.string(),
    body: z.string(),
    expected: z.union([
      z.object({ ok: z.literal(true), items: z.array(z.record(z.string(), z.unknown())) }).strict(),
      z.object({ ok: z.literal(false), reason: z.string() }).strict(),
    ]),
  })
  .strict();

function loadJson<T>(dir: string, schema: z.ZodType<T>): Array<T & { name: string }> {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => {
      const parsed = schema.safeParse(JSON.parse(readFileSync(join(dir, file), 'utf8')));
      if (!parsed.success) throw new Error(`${file}: ${z.prettifyError(parsed.error)}`);
      return { ...parsed.data, name: file.replace(/\.json$/, '') };
    });
}

const wireFixtures: WireFixture[] = loadJson(FIXTURE_DIR, wireFixtureSchema);
const adapterFixtures = wireFixtures.filter((fixture) => fixture.adapter !== false);
const inboundFixtures = loadJson(INBOUND_DIR, inboundFixtureSchema);

/** The fixture's submission as the dispatcher would give it, relative times resolved now. */
function toSubmission(fixture: WireFixture): SmsSubmission {
  assert.ok(fixture.submission, `${fixture.name}: an adapter fixture needs a submission`);
  const { expiresInMs, ...submission } = fixture.submission;
  return { ...submission, ...(expiresInMs === undefined ? {} : { expiresAt: Date.now() + expiresInMs }) };
}

// ---------------------------------------------------------------------------------------------------
// Harness

interface CapturedRequest {
  readonly method: string;
  readonly path: string;
  readonly contentType: string | undefined;
  readonly accept: string | undefined;
  readonly body: string;
}

/** Records every raw request and answers with whatever the current test set. */
class RecordingServer {
  readonly requests: CapturedRequest[] = [];
  answer: { status: number; contentType?: string | undefined; body: string } = { status: 200, body: '{}' };
  /** Computes the answer from the request instead of `answer`. */
  respond: ((request: CapturedRequest) => { status: number; contentType?: string | undefined; body: string }) | undefined;
  /** When set, requests are held until the test answers them itself. */
  hold: ((request: CapturedRequest, response: ServerResponse) => void) | undefined;
  readonly #server: Server;

  constructor() {
    this.#server = createServer((request, response) => void this.#onRequest(request, response));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async start(): Promise<this> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    return this;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    this.#server.close();
    await once(this.#server, 'close');
  }

  async #onRequest(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const captured: CapturedRequest = {
      method: request.method ?? '',
      path: request.url ?? '',
      contentType: request.headers['content-type'],
      accept: request.headers.accept,
      body: Buffer.concat(chunks).toString('utf8'),
    };
    this.requests.push(captured);
    if (this.hold) return this.hold(captured, response);
    const answer = this.respond ? this.respond(captured) : this.answer;
    response.writeHead(answer.status, { 'content-type': answer.contentType ?? 'application/json' });
    response.end(answer.body);
  }
}

const ACCOUNT = { accountId: '1000', username: 'relaytest', password: 'p@ss "w0rd"&<>' };

function gatewayOptions(overrides: Partial<GatewayOptions> = {}): GatewayOptions {
  return {
    endpoints: ['http://127.0.0.1:1'],
    ...ACCOUNT,
    sessions: false,
    connectTimeoutMs: 1_000,
    responseTimeoutMs: 2_000,
    connectionsPerEndpoint: 2,
    logger: createLogger('silent'),
    ...overrides,
  };
}

async function withGateway<T>(options: GatewayOptions, use: (gateway: Gateway) => Promise<T>): Promise<T> {
  const gateway = puzzelModule.createGateway(options);
  try {
    return await use(gateway);
  } finally {
    await gateway.close();
  }
}

const SUBMISSION: SmsSubmission = {
  messageId: '0192d3a4-5b6c-7d8e-9f00-00000000aaaa',
  recipients: ['+447700900123'],
  text: 'Your parcel arrives today',
  encoding: 'gsm7',
  maxParts: 1,
};

function okAnswer(request: CapturedRequest): { status: number; body: string } {
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

async function freePort(): Promise<number> {
  const server = createTcpServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

async function startSilentTcpServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: TcpServer = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

// ---------------------------------------------------------------------------------------------------

describe('Puzzel adapter: wire fixtures', () => {
  const server = new RecordingServer();
  before(() => server.start());
  after(() => server.close());

  it('has fixtures to run', () => {
    assert.ok(adapterFixtures.length >= 18, `only ${adapterFixtures.length} adapter fixtures found in ${FIXTURE_DIR}`);
  });

  for (const fixture of adapterFixtures) {
    it(`${fixture.name}: ${fixture.description}`, async () => {
      server.requests.length = 0;
      server.answer = fixture.response;
      const sent = JSON.parse(fixture.request.body ?? '{}') as { serviceId?: number; username?: string; password?: string };
      const options = gatewayOptions({
        endpoints: [server.url],
        accountId: String(sent.serviceId),
        username: sent.username ?? '',
        password: sent.password ?? '',
      });

      const result = await withGateway(options, (gateway) => gateway.send(toSubmission(fixture), 0));

      assert.equal(server.requests.length, 1, 'exactly one HTTP request per send');
      const [captured] = server.requests;
      assert.ok(captured);
      assert.equal(captured.method, fixture.request.method);
      assert.equal(captured.path, fixture.request.path);
      assert.equal(captured.contentType, fixture.request.contentType);
      assert.equal(captured.accept, fixture.request.accept);
      // Parsed first for a readable diff, then byte for byte (field order included).
      assert.deepEqual(JSON.parse(captured.body), JSON.parse(fixture.request.body ?? ''));
      assert.equal(captured.body, fixture.request.body);
      assert.deepEqual(result, fixture.result);
    });
  }
});

describe('Puzzel adapter: requests', () => {
  const server = new RecordingServer();
  const backup = new RecordingServer();
  before(async () => {
    await server.start();
    await backup.start();
    server.respond = okAnswer;
    backup.respond = okAnswer;
  });
  after(async () => {
    await server.close();
    await backup.close();
  });

  const lastBody = () => JSON.parse(server.requests.at(-1)?.body ?? '{}') as Record<string, unknown> & { message: Array<Record<string, unknown>> };

  it('describes itself as the contract asks', () => {
    assert.equal(puzzelModule.name, 'puzzel');
    assert.deepEqual(puzzelModule.capabilities, { maxRecipientsPerRequest: 100, maxParts: 6, replyTracking: 'tracking-id', scheduling: true });
    assert.deepEqual(puzzelModule.defaultUrls, { url: 'https://smsgw.puzzel.com' });
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

  it('keeps a base URL path prefix, with or without a trailing slash', async () => {
    for (const base of [`${server.url}/puzzel/`, `${server.url}/puzzel`]) {
      await withGateway(gatewayOptions({ endpoints: [base] }), (gateway) => gateway.send(SUBMISSION, 0));
      assert.equal(server.requests.at(-1)?.path, `/puzzel${SEND_PATH}`, base);
    }
  });

  it('sends to the endpoint it is asked for', async () => {
    const before = { primary: server.requests.length, backup: backup.requests.length };
    const result = await withGateway(gatewayOptions({ endpoints: [server.url, backup.url] }), (gateway) => gateway.send(SUBMISSION, 1));
    assert.equal(result.kind, 'answered');
    assert.equal(server.requests.length, before.primary);
    assert.equal(backup.requests.length, before.backup + 1);
  });

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
    assert.deepEqual(parsed, { ok: true, items: [{ providerId: 'm1', number: '+447700900123', code: 0, state: 'delivered' }] });
  });

  it('correlates a status whose clientReference is not ours neither by reference nor by position', async () => {
    server.respond = () => ({
      status: 200,
      body: JSON.stringify({ messageStatus: [{ statusCode: 1, clientReference: 'someone-else', messageId: 'x', sequenceIndex: 1 }] }),
    });
    try {
      const result = await withGateway(gatewayOptions({ endpoints: [server.url] }), (gateway) => gateway.send(SUBMISSION, 0));
      assert.deepEqual(result, { kind: 'answered', results: [{ number: '+447700900123', code: 'MISSING_RESULT' }] });
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
      assert.equal(result.kind === 'transport' && result.code, 'UND_ERR_HEADERS_TIMEOUT');
    } finally {
      await silent.close();
    }
  });

  it('calls an answer too long to be one unparseable', async () => {
    const server = await new RecordingServer().start();
    try {
      server.answer = { status: 200, body: `{"messageStatus":[${'{"statusCode":1},'.repeat(5_000)}{}]}` };
      const result = await withGateway(gatewayOptions({ endpoints: [server.url] }), (gateway) => gateway.send(SUBMISSION, 0));
      assert.equal(result.kind === 'refused' && result.code, 'UNPARSEABLE');
    } finally {
      await server.close();
    }
  });

  it('logs without the password and with masked numbers', async () => {
    const server = await new RecordingServer().start();
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    try {
      server.answer = { status: 200, body: '{"messageStatus":[]}' };
      await withGateway(gatewayOptions({ endpoints: [server.url], logger: createLogger('debug', sink) }), (gateway) => gateway.send(SUBMISSION, 0));
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
    ];
    for (const [senderId, originatorType, originator] of cases) {
      assert.deepEqual(originatorFor(senderId), { originatorType, originator }, senderId);
      assert.equal(senderIdProblem(senderId), undefined, senderId);
    }
  });

  it('explains a sender id Puzzel cannot show', () => {
    const rule =
      'Puzzel takes a sender id of at most 11 letters, digits, spaces and % & - + . , or an international number (+ and up to 15 digits), or a short number (3 to 8 digits)';
    const cases: Array<[string, string]> = [
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
        // Every field of the contract is there, undefined or not.
        for (const item of parsed.items) assert.deepEqual(Object.keys(item).sort(), ['number', 'providerId', 'sentAt', 'text', 'trackingId', 'userContext']);
      }
    });
  }

  it('reads a body without a content type by its first character', () => {
    const json = parseReceived(inbound('', ' {"mo":[{"messageid":"a1","originator":"+447700900123","content":"x","sessionid":""}]}'));
    const xml = parseReport(inbound('', '<dr><message><messageid>b1</messageid><customermessagereference>m:447700900123</customermessagereference><statuscode>0</statuscode></message></dr>'));
    assert.equal(json.ok && json.items[0]?.number, '+447700900123');
    assert.equal(xml.ok && xml.items[0]?.state, 'delivered');
    assert.deepEqual(parseReceived(inbound('', 'junk')), { ok: false, reason: 'content type "" is neither JSON nor XML' });
  });

  it('takes JSON media types with a suffix and refuses other shapes', () => {
    assert.equal(parseReceived(inbound('application/vnd.puzzel+json', '{"mo":[]}')).ok, true);
    assert.deepEqual(parseReceived(inbound('application/json', '{"mo":{"messageid":"a"}}')), { ok: false, reason: 'the body has no "mo" list' });
    assert.deepEqual(parseReceived(inbound('application/json', '{"mo":["a"]}')), { ok: false, reason: 'an entry of "mo" is not an object' });
    assert.deepEqual(parseReport(inbound('application/json', '{"dr":')), { ok: false, reason: 'the body is not JSON' });
    assert.deepEqual(parseReceived(inbound('application/xml', '<mo>junk</mo>')), { ok: false, reason: '<mo> holds text, not <message> elements' });
    assert.deepEqual(parseReceived(inbound('application/xml', '<mo/>')), { ok: true, items: [] });
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
