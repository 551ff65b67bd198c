/**
 * The IntelliSoftware adapter held to the raw wire fixtures, against a plain node:http server (never
 * the simulator), plus transport failures provoked for real on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  createIntelliSoftwareGateway,
  type IntelliSoftwareGatewayOptions,
} from '../../src/gateways/intellisoftware.ts';
import type { Gateway, SmsSubmission, SubmissionResult } from '../../src/gateways/types.ts';
import { createLogger } from '../../src/log.ts';
import { sleep, waitFor } from '../helpers/wait.ts';
import { adapterFixtures, formFieldMultiset, loadWireFixtures } from '../helpers/fixtures.ts';

const FIXTURE_DIR = fileURLToPath(new URL('./fixtures/intellisoftware/', import.meta.url));
const fixtures = adapterFixtures(loadWireFixtures(FIXTURE_DIR));

const SUBMISSION: SmsSubmission = {
  messageId: 'msg-transport',
  recipients: ['+447700900123'],
  text: 'Your parcel arrives today',
  encoding: 'gsm7',
  maxParts: 1,
};

interface CapturedRequest {
  readonly method: string;
  readonly path: string;
  readonly contentType: string | undefined;
  readonly body: string;
  readonly socket: Socket;
}

/** Records every raw request and answers with whatever the current test set. */
class RecordingServer {
  readonly requests: CapturedRequest[] = [];
  answer: { status: number; body: string } = { status: 200, body: 'ID:10011000000000000001' };
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
      body: Buffer.concat(chunks).toString('utf8'),
      socket: request.socket,
    };
    this.requests.push(captured);
    if (this.hold) return this.hold(captured, response);
    response.writeHead(this.answer.status, { 'content-type': 'text/plain; charset=utf-8' });
    response.end(this.answer.body);
  }
}

/** A TCP listener that does nothing but hold sockets: a gateway that accepted and went silent. */
async function startSilentTcpServer(onSocket: (socket: Socket) => void = () => {}): Promise<{
  port: number;
  close(): Promise<void>;
}> {
  const sockets = new Set<Socket>();
  const server: TcpServer = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onSocket(socket);
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

/** A port nothing listens on: bound once by the OS for us, then released. */
async function freePort(): Promise<number> {
  const server = createTcpServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

function gatewayOptions(overrides: Partial<IntelliSoftwareGatewayOptions> = {}): IntelliSoftwareGatewayOptions {
  return {
    endpoints: ['http://127.0.0.1:1'],
    username: 'relaytest',
    password: 'p@ss w0rd&=+',
    connectTimeoutMs: 1_000,
    responseTimeoutMs: 2_000,
    connectionsPerEndpoint: 2,
    logger: createLogger('silent'),
    ...overrides,
  };
}

/** Runs `use` with a fresh gateway and always closes it. */
async function withGateway<T>(
  options: IntelliSoftwareGatewayOptions,
  use: (gateway: Gateway) => Promise<T>,
): Promise<T> {
  const gateway = createIntelliSoftwareGateway(options);
  try {
    return await use(gateway);
  } finally {
    await gateway.close();
  }
}

/** Sends the standard submission through a fresh gateway whose only endpoint is `base`. */
function sendOnce(base: string, overrides: Partial<IntelliSoftwareGatewayOptions> = {}): Promise<SubmissionResult> {
  return withGateway(gatewayOptions({ endpoints: [base], ...overrides }), (gateway) => gateway.send(SUBMISSION, 0));
}

describe('IntelliSoftware adapter: wire fixtures', () => {
  const server = new RecordingServer();
  before(() => server.start());
  after(() => server.close());

  it('has fixtures to run', () => {
    assert.ok(fixtures.length >= 12, `only ${fixtures.length} adapter fixtures found in ${FIXTURE_DIR}`);
  });

  for (const fixture of fixtures) {
    it(`${fixture.name}: ${fixture.description}`, async () => {
      server.requests.length = 0;
      server.answer = fixture.response;
      const credentials = new URLSearchParams(fixture.request.body ?? '');
      const options = gatewayOptions({
        endpoints: [server.url],
        username: credentials.get('username') ?? '',
        password: credentials.get('password') ?? '',
      });

      const result = await withGateway(options, (gateway) => gateway.send(fixture.submission, 0));

      assert.equal(server.requests.length, 1, 'exactly one HTTP request per send');
      const [captured] = server.requests;
      assert.ok(captured);
      assert.equal(captured.method, fixture.request.method);
      assert.equal(captured.path, fixture.request.path);
      assert.equal(captured.contentType, fixture.request.contentType);
      assert.deepEqual(formFieldMultiset(captured.body), formFieldMultiset(fixture.request.body ?? ''));
      assert.deepEqual(result, fixture.result);
    });
  }
});

describe('IntelliSoftware adapter: request shape', () => {
  const server = new RecordingServer();
  const backup = new RecordingServer();
  before(async () => {
    await server.start();
    await backup.start();
  });
  after(async () => {
    await server.close();
    await backup.close();
  });

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

  it('keeps a base URL path prefix, with or without a trailing slash', async () => {
    for (const base of [`${server.url}/gw/`, `${server.url}/gw`]) {
      server.requests.length = 0;
      await sendOnce(base);
      assert.equal(server.requests[0]?.path, '/gw/smsgateway/sendmsg.aspx', base);
    }
  });

  it('sends to the endpoint it is asked for', async () => {
    server.requests.length = 0;
    backup.requests.length = 0;
    const options = gatewayOptions({ endpoints: [server.url, backup.url] });
    const result = await withGateway(options, (gateway) => gateway.send(SUBMISSION, 1));
    assert.equal(result.kind, 'answered');
    assert.equal(server.requests.length, 0);
    assert.equal(backup.requests.length, 1);
  });

  it('encodes a 100-recipient request and answers every recipient', async () => {
    const recipients = Array.from({ length: 100 }, (_, index) => `+4477009${String(index).padStart(5, '0')}`);
    server.requests.length = 0;
    const result = await withGateway(gatewayOptions({ endpoints: [server.url] }), (gateway) =>
      gateway.send({ ...SUBMISSION, recipients }, 0),
    );
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
    server.hold = (_request, response) => {
      held.push(() => response.end('ID:10011000000000000001'));
    };
    try {
      await withGateway(gatewayOptions({ endpoints: [server.url], connectionsPerEndpoint: 2 }), async (gateway) => {
        const sends = Array.from({ length: 4 }, () => gateway.send(SUBMISSION, 0));
        await waitFor('server.requests.length === 2', () => server.requests.length === 2, 2_000);
        await sleep(50);
        assert.equal(server.requests.length, 2, 'two connections, one request in flight on each, the rest queued');
        held.splice(0).forEach((answer) => answer());
        await waitFor('server.requests.length === 4', () => server.requests.length === 4, 2_000);
        held.splice(0).forEach((answer) => answer());
        const results = await Promise.all(sends);
        assert.ok(results.every((result) => result.kind === 'answered'));
        assert.equal(new Set(server.requests.map((request) => request.socket)).size, 2, 'sockets were reused');
      });
    } finally {
      server.hold = undefined;
    }
  });

  it('logs a debug line per send (endpoint, recipients, status, ms), never the password or text', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(chunk.toString('utf8'));
        callback();
      },
    });
    const password = 'Zebra-Secret-42';
    const logger = createLogger('debug', sink);
    server.answer = { status: 200, body: 'ID:10011000000000000001' };
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
    const everything = lines.join('');
    assert.ok(!everything.includes(password), 'password logged');
    assert.ok(!everything.includes('Confidential text'), 'message text logged');
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
      assert.deepEqual(
        { kind: result.kind, phase: result.kind === 'transport' ? result.phase : undefined },
        { kind: 'transport', phase: 'response' },
      );
      assert.equal(result.kind === 'transport' && result.code, 'UND_ERR_HEADERS_TIMEOUT');
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
      assert.equal(result.code, 'UND_ERR_BODY_TIMEOUT');
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
    const plain = await new RecordingServer().start();
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
