import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { loadConfig } from '../../src/config/load.ts';
import { IDLE_TIMEOUT_MS } from '../../src/http/server.ts';
import { type Relay, startRelay } from '../../src/relay.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { relayEnvironment, removeDir, startTestRelay, tempDir, type TestRelay } from '../helpers/relay.ts';

/** How much later than the idle timeout a silent connection may close (timers are not exact). */
const SLACK_MS = 2500;

/** The HTTP port's own limits: connections at once, and how long a connection may send nothing. */
describe('HTTP connection limits', () => {
  let relay: TestRelay;

  before(async () => {
    relay = await startTestRelay({ http: { maxConnections: 3 } });
  });
  after(async () => {
    await relay.stop();
    removeDir(relay.dir);
  });

  const open = async (): Promise<Socket> => {
    const socket = connect(relay.relay.httpPort, '127.0.0.1');
    await once(socket, 'connect');
    return socket;
  };
  const closedWithin = (socket: Socket, ms: number) =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });

  test('a connection over http.maxConnections is closed at once and counted; the port answers again once one closes', async () => {
    const held = [await open(), await open(), await open()];
    const extra = await open();
    assert.equal(await closedWithin(extra, 1000), true, 'the fourth connection is closed at once');
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const metrics = await (await request(`http://127.0.0.1:${relay.relay.httpPort}/metrics`)).body.text();
    assert.match(metrics, /^smsrelay_http_connections_refused_total 1$/m);
    assert.equal((await request(`http://127.0.0.1:${relay.relay.httpPort}/healthz`)).statusCode, 200);
  });

  test("a connection that sends no request is closed after 10 s (Node's own timeouts never close it)", async () => {
    const silent = await open();
    assert.equal(await closedWithin(silent, IDLE_TIMEOUT_MS + SLACK_MS), true);
  });

  test('a keep-alive connection that sends nothing after its answer is closed after the same 10 s, as its Keep-Alive header says', async () => {
    const socket = await open();
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      answer += chunk;
    });
    socket.write('GET /healthz HTTP/1.1\r\nHost: relay\r\n\r\n');
    const closed = closedWithin(socket, IDLE_TIMEOUT_MS + SLACK_MS);
    assert.equal(await closed, true, 'closed within the idle timeout');
    assert.match(answer, /^HTTP\/1\.1 200 /);
    assert.match(answer, new RegExp(`^Keep-Alive: timeout=${IDLE_TIMEOUT_MS / 1000}\\r$`, 'm'));
  });
});

/** One address cannot take every HTTP slot: /healthz keeps answering while it holds its share. */
describe('HTTP connections per client', () => {
  const OUTSIDER = '127.0.0.2';
  const PROXY = '127.0.0.3';
  const PER_CLIENT = 2;
  const log = captureLog('info');
  let dir: string;
  let relay: Relay;

  before(async () => {
    dir = tempDir();
    const { config } = loadConfig(
      // On every address: its IPv4 clients' sockets say ::ffff:127.0.0.2, logged and counted as 127.0.0.2 all the same.
      relayEnvironment(dir, {
        http: { host: '::', maxConnections: 20, maxConnectionsPerClient: PER_CLIENT, trustedProxies: [`${PROXY}/32`] },
        inbound: { webhookToken: 'a-webhook-token-for-tests' },
      }),
      dir,
    );
    relay = await startRelay(config, log.logger);
  });
  after(async () => {
    await relay.stop();
    removeDir(dir);
  });

  const open = async (localAddress: string): Promise<Socket> => {
    const socket = connect({ port: relay.httpPort, host: '127.0.0.1', localAddress });
    await once(socket, 'connect');
    return socket;
  };
  const closedWithin = (socket: Socket, ms: number) =>
    new Promise<boolean>((resolve) => {
      if (socket.destroyed) return resolve(true);
      const timer = setTimeout(() => resolve(false), ms);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });

  test('an address over http.maxConnectionsPerClient is closed at once, counted and logged; loopback and trusted proxies are not limited', async () => {
    const held = [await open(OUTSIDER), await open(OUTSIDER)];
    const exempt = [...Array.from({ length: PER_CLIENT + 1 }, () => open(PROXY)), ...Array.from({ length: PER_CLIENT + 1 }, () => open('127.0.0.1'))];
    const extra = await open(OUTSIDER);
    const others = await Promise.all(exempt);
    try {
      assert.equal(await closedWithin(extra, 1000), true, 'the third connection from one address is closed at once');
      for (const socket of [...held, ...others]) assert.equal(socket.destroyed, false);
      assert.equal((await request(`http://127.0.0.1:${relay.httpPort}/healthz`)).statusCode, 200);
      const metrics = await (await request(`http://127.0.0.1:${relay.httpPort}/metrics`)).body.text();
      assert.match(metrics, /^smsrelay_http_connections_refused_total 1$/m);
      const line = log.lines.map((text) => JSON.parse(text) as Record<string, unknown>).find((entry) => entry.msg === 'http: connection turned away');
      assert.equal(line?.code, 'TOO_MANY_CONNECTIONS');
      assert.equal(line?.client, OUTSIDER);
      held[0]?.destroy();
      await closedWithin(held[0] as Socket, 1000);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const again = await open(OUTSIDER);
      assert.equal(await closedWithin(again, 300), false, 'a slot freed by that address is its own again');
      again.destroy();
    } finally {
      for (const socket of [...held, ...others]) socket.destroy();
    }
  });
});

/** Requests Node's parser refuses are answered from the catalogue, as every other error of the port. */
describe('malformed HTTP', () => {
  let relay: TestRelay;

  before(async () => {
    relay = await startTestRelay();
  });
  after(async () => {
    await relay.stop();
    removeDir(relay.dir);
  });

  /** What the port answers a raw request: the status line, the head (its lines) and the body, read until it closes. */
  const answer = (raw: string) =>
    new Promise<{ status: string; head: string; body: unknown }>((resolve, reject) => {
      const socket = connect(relay.relay.httpPort, '127.0.0.1', () => socket.write(raw));
      let received = '';
      socket.on('data', (chunk) => {
        received += chunk;
      });
      socket.on('error', reject);
      socket.on('close', () => {
        const [head = '', body = ''] = received.split('\r\n\r\n');
        resolve({ status: head.split('\r\n')[0] ?? '', head, body: JSON.parse(body) });
      });
    });

  for (const [name, raw] of [
    ['Content-Length with Transfer-Encoding', 'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['two Content-Lengths', 'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'],
    ['a folded header', 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n'],
    ['bare LF line ends', 'GET /healthz HTTP/1.1\nHost: x\n\n'],
  ] as const) {
    test(`${name}: 400 with the catalogue's {error, message}`, async () => {
      const { status, body } = await answer(raw);
      assert.equal(status, 'HTTP/1.1 400 Bad Request');
      assert.equal((body as { error: string }).error, 'BAD_REQUEST');
      assert.deepEqual(Object.keys(body as object), ['error', 'message']);
    });
  }

  test('a method a webhook does not take is 405 with Allow and a JSON error, not 404; a path that does not exist stays 404', async () => {
    for (const [method, path, allow] of [
      ['GET', '/webhooks/intellisoftware/mo', 'POST'],
      ['DELETE', '/webhooks/intellisoftware/dr', 'POST'],
      ['POST', '/healthz', 'GET, HEAD'],
    ] as const) {
      const { status, head, body } = await answer(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      assert.equal(status, 'HTTP/1.1 405 Method Not Allowed', `${method} ${path}`);
      assert.match(head, new RegExp(`\r\nallow: ${allow}(\r\n|$)`, 'i'), `${method} ${path}`);
      assert.equal((body as { error: string }).error, 'METHOD_NOT_ALLOWED');
      assert.match((body as { message: string }).message, new RegExp(`use ${allow}`));
    }
    const missing = await answer('GET /webhooks/nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    assert.match(missing.status, /^HTTP\/1\.1 404 /);
  });

  test('an HTTP/1.1 request without Host is 400 with the JSON error every other malformed request gets', async () => {
    const { status, body } = await answer('GET /healthz HTTP/1.1\r\n\r\n');
    assert.equal(status, 'HTTP/1.1 400 Bad Request');
    assert.equal((body as { error: string }).error, 'BAD_REQUEST');
    assert.match((body as { message: string }).message, /Host/);
    // HTTP/1.0 has no Host to require.
    assert.equal((await answer('GET /healthz HTTP/1.0\r\n\r\n')).status, 'HTTP/1.1 200 OK');
  });

  for (const kilobytes of [17, 64]) {
    test(`a ${kilobytes} KB header: 431 from the catalogue, read to its end rather than reset`, async () => {
      const { status, body } = await answer(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(kilobytes * 1024)}\r\n\r\n`);
      assert.equal(status, 'HTTP/1.1 431 Request Header Fields Too Large');
      assert.deepEqual(body, { error: 'HEADERS_TOO_BIG', message: 'Request headers too big: the limit is 16 KB' });
    });
  }
});
