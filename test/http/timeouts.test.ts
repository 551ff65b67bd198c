import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type HttpServer, startHttpServer } from '../../src/http/server.ts';
import { captureLog } from '../helpers/log-lines.ts';

/** Shorter than the relay's 30 s and 10 s, so that the tests wait seconds, not minutes. */
const REQUEST_MS = 2000;
const IDLE_MS = 800;
/** How much later than its timeout a request may be cut: Node looks each second, and timers are not exact. */
const SLACK_MS = 1500;

/** What a raw connection got until it was closed, and how long after `since` it closed. */
async function answerOf(socket: Socket, since: number): Promise<{ text: string; closedAfterMs: number }> {
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    text += chunk;
  });
  socket.on('error', () => {});
  await once(socket, 'close');
  return { text, closedAfterMs: performance.now() - since };
}

async function open(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  return socket;
}

/** Writes `bytes` one at a time, `everyMs` apart, while the connection is open. */
async function dribble(socket: Socket, bytes: string, everyMs: number): Promise<void> {
  for (const byte of bytes) {
    if (socket.destroyed || socket.writableEnded) return;
    socket.write(byte);
    await sleep(everyMs);
  }
}

function assertTimedOut(text: string): void {
  assert.match(text, /^HTTP\/1\.1 408 Request Timeout\r\n/);
  assert.match(text, /Connection: close\r\n/i);
  assert.equal(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)).error, 'REQUEST_TIMEOUT');
}

describe('HTTP request timeouts', () => {
  let server: HttpServer;
  const form = '{"from":"447700900200","text":"slow post","msgid":"90000000000000000020"}';
  const head = (length: number) => `POST /hook HTTP/1.1\r\nHost: relay.test\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;

  before(async () => {
    server = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      maxConnections: 16,
      maxConnectionsPerClient: 16,
      trustedProxies: [],
      allowedHosts: ['relay.test'],
      logger: captureLog('silent').logger,
      health: [],
      mounts: [(app) => app.post('/hook', async () => ({ status: 'accepted' }))],
      timeouts: { requestMs: REQUEST_MS, idleMs: IDLE_MS },
    });
  });
  after(() => server.close());

  test('a body whose bytes keep coming, but not all within the request timeout, is cut with 408 at that timeout, not taken later', async () => {
    const socket = await open(server.port);
    const started = performance.now();
    socket.write(head(form.length));
    // A byte every 150 ms: each well within the idle timeout, the whole body past the request timeout.
    void dribble(socket, form, 150);
    const { text, closedAfterMs } = await answerOf(socket, started);
    assertTimedOut(text);
    assert.ok(closedAfterMs < REQUEST_MS + SLACK_MS, `cut after ${Math.round(closedAfterMs)} ms`);
  });

  test('a body that stops short is answered 408 at the request timeout', async () => {
    const socket = await open(server.port);
    const started = performance.now();
    socket.write(`${head(form.length)}${form.slice(0, -3)}`);
    const { text, closedAfterMs } = await answerOf(socket, started);
    assertTimedOut(text);
    assert.ok(closedAfterMs >= REQUEST_MS - 100 && closedAfterMs < REQUEST_MS + SLACK_MS, `answered after ${Math.round(closedAfterMs)} ms`);
  });

  test('a head sent byte by byte is cut with 408 at the request timeout', async () => {
    const socket = await open(server.port);
    const started = performance.now();
    void dribble(socket, `${head(form.length)}${form}`, 150);
    const { text, closedAfterMs } = await answerOf(socket, started);
    assertTimedOut(text);
    assert.ok(closedAfterMs < REQUEST_MS + SLACK_MS, `cut after ${Math.round(closedAfterMs)} ms`);
  });

  test('a head cut short and then silence is answered 408 at the idle timeout, not closed without a word', async () => {
    const socket = await open(server.port);
    const started = performance.now();
    socket.write('POST /hook HTTP/1.1\r\nHost: relay.test\r\n');
    const { text, closedAfterMs } = await answerOf(socket, started);
    assertTimedOut(text);
    assert.ok(closedAfterMs < IDLE_MS + SLACK_MS, `answered after ${Math.round(closedAfterMs)} ms`);
  });

  test('a body answered before it is read, then silence, gets its one answer and is closed without another', async () => {
    const socket = await open(server.port);
    const started = performance.now();
    socket.write(`${head(form.length).replace('application/json', 'text/csv')}`);
    await sleep(IDLE_MS / 2);
    socket.write(form);
    const { text, closedAfterMs } = await answerOf(socket, started);
    assert.match(text, /^HTTP\/1\.1 415 /);
    assert.equal(text.match(/HTTP\/1\.1 /g)?.length, 1, 'one answer');
    assert.ok(closedAfterMs < IDLE_MS * 2 + SLACK_MS);
  });

  test('a keep-alive connection silent after its answer is still closed without a word, as one that never sent a byte', async () => {
    const socket = await open(server.port);
    const started = performance.now();
    socket.write(`${head(form.length)}${form}`);
    const { text, closedAfterMs } = await answerOf(socket, started);
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.equal(text.match(/HTTP\/1\.1 /g)?.length, 1, 'one answer: the request');
    assert.ok(closedAfterMs < IDLE_MS + SLACK_MS);
  });
});
