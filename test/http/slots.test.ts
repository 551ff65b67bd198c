import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { HTTP_STRESSED_HEAD_MS, type HttpServer, httpReserve, startHttpServer } from '../../src/http/server.ts';
import { Metrics } from '../../src/metrics.ts';
import type { Store } from '../../src/store/types.ts';
import { captureLog } from '../helpers/log-lines.ts';

const MAX = 10;
const PER_CLIENT = 3;
const HOLDERS = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
const WEBHOOK_SOURCE = '127.0.0.9';

/** A connection from `localAddress`, once the server has seen it. */
async function open(port: number, localAddress: string): Promise<Socket> {
  const socket = connect({ port, host: '127.0.0.1', localAddress });
  socket.on('error', () => {});
  await once(socket, 'connect');
  return socket;
}

/** What a request from `localAddress` got until the connection closed: the status, or `closed` without an answer. */
async function ask(port: number, localAddress: string, request: string): Promise<string> {
  const socket = await open(port, localAddress);
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    text += chunk;
  });
  socket.write(request);
  await once(socket, 'close');
  return /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 'closed';
}

const healthz = 'GET /healthz HTTP/1.1\r\nHost: relay.test\r\nConnection: close\r\n\r\n';
const webhook = 'POST /hook HTTP/1.1\r\nHost: relay.test\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}';

/**
 * Clients trickling request heads from several addresses, each within http.maxConnectionsPerClient, cannot
 * keep /healthz from loopback or the providers' webhooks (inbound.allowedNetworks) unanswered: a share of
 * http.maxConnections is theirs, and once the others fill theirs, a connection whose head has been coming
 * for HTTP_STRESSED_HEAD_MS (by the server's clock, moved here) makes room for a new client.
 */
describe('HTTP slots under clients trickling request heads', () => {
  let server: HttpServer;
  let now = Date.now();
  const log = captureLog('debug');
  // Its counters only: no store is read unless /metrics is scraped.
  const metrics = new Metrics({} as Store);
  const closedForRoom = async () => (await metrics.httpMadeRoom.get()).values[0]?.value ?? 0;

  before(async () => {
    server = await startHttpServer({
      metrics,
      host: '127.0.0.1',
      port: 0,
      maxConnections: MAX,
      maxConnectionsPerClient: PER_CLIENT,
      trustedProxies: [],
      webhookNetworks: [`${WEBHOOK_SOURCE}/32`],
      allowedHosts: ['relay.test'],
      logger: log.logger,
      health: [],
      mounts: [(app) => app.post('/hook', async () => ({ status: 'accepted' }))],
      clock: () => now,
    });
  });
  after(() => server.close());

  test('loopback and webhook sources keep their share of http.maxConnections; when full, a head still coming after 2 s makes room; the log names the holders', async () => {
    assert.equal(httpReserve(MAX), 1);
    const held: Socket[] = [];
    try {
      for (const address of HOLDERS) {
        for (let index = 0; index < PER_CLIENT; index++) {
          const socket = await open(server.port, address);
          socket.write('POST /hook HTTP/1.1\r\nHost: relay.test\r\n');
          held.push(socket);
          now += 1;
        }
      }
      // The server has read every head begun.
      await sleep(100);
      assert.equal(await ask(server.port, '127.0.0.5', healthz), 'closed', 'another client finds no room');
      const turnedAway = log.lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => line.code === 'SERVER_BUSY');
      assert.equal(turnedAway?.holders, '127.0.0.2 (3), 127.0.0.3 (3), 127.0.0.4 (3)', 'the log names who holds the slots');
      assert.equal(await ask(server.port, '127.0.0.1', healthz), '200', '/healthz from loopback is answered');
      assert.equal(await ask(server.port, WEBHOOK_SOURCE, webhook), '200', "a provider's webhook from inbound.allowedNetworks is answered");
      assert.ok(
        held.every((socket) => !socket.destroyed),
        'no holder was closed: none had waited 2 s',
      );

      // A head still coming 2 s after its connection opened, however it trickles: the oldest makes room, the others stay.
      now += HTTP_STRESSED_HEAD_MS;
      const [oldest, ...younger] = held as [Socket, ...Socket[]];
      const oldestClosed = once(oldest, 'close');
      assert.equal(await ask(server.port, '127.0.0.5', healthz), '200', 'a new client gets in once a head 2 s old made room');
      await oldestClosed;
      assert.ok(
        younger.every((socket) => !socket.destroyed),
        'one made room, for one client',
      );
      assert.equal(await closedForRoom(), 1, 'smsrelay_http_connections_closed_for_room_total counts it');
      const closed = log.lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => String(line.msg).includes('closed to make room'));
      assert.deepEqual(
        closed.map((line) => [line.level, line.client]),
        [['debug', HOLDERS[0]]],
        'one line names the client whose connection made room',
      );
    } finally {
      for (const socket of held) socket.destroy();
    }
  });

  test('an address in inbound.allowedNetworks is held to http.maxConnectionsPerClient: it cannot fill every slot and lock out loopback', async () => {
    const held: Socket[] = [];
    try {
      for (let index = 0; index < MAX; index++) held.push(await open(server.port, WEBHOOK_SOURCE));
      await sleep(100);
      const alive = held.filter((socket) => !socket.destroyed).length;
      assert.ok(alive <= PER_CLIENT, `${alive} idle connections held open from one allowedNetworks address (limit ${PER_CLIENT})`);
      assert.equal(await ask(server.port, '127.0.0.1', healthz), '200', '/healthz from loopback is answered');
    } finally {
      for (const socket of held) socket.destroy();
      await sleep(100);
    }
  });

  test('when full, a request whose body is still coming 2 s after its head makes room like a trickled head', async () => {
    const held: Socket[] = [];
    try {
      for (const address of HOLDERS) {
        for (let index = 0; index < PER_CLIENT; index++) {
          const socket = await open(server.port, address);
          socket.write('POST /hook HTTP/1.1\r\nHost: relay.test\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{');
          held.push(socket);
        }
      }
      await sleep(100);
      assert.equal(await ask(server.port, '127.0.0.5', healthz), 'closed', 'a body coming for less than 2 s is left alone');
      now += HTTP_STRESSED_HEAD_MS;
      assert.equal(await ask(server.port, '127.0.0.5', healthz), '200', 'a new outside client gets in');
    } finally {
      for (const socket of held) socket.destroy();
      await sleep(100);
    }
  });

  test('when full, an idle keep-alive connection is closed last: a head trickled, younger, makes room first', async () => {
    const held: Socket[] = [];
    try {
      // The oldest holder asked once and keeps its connection alive, idle.
      const keptAlive = await open(server.port, HOLDERS[0] as string);
      held.push(keptAlive);
      let answered = '';
      keptAlive.setEncoding('utf8');
      keptAlive.on('data', (chunk: string) => {
        answered += chunk;
      });
      keptAlive.write('GET /healthz HTTP/1.1\r\nHost: relay.test\r\n\r\n');
      await waitUntil(() => answered.startsWith('HTTP/1.1 200'));
      now += 1;
      for (const address of HOLDERS) {
        for (let index = address === HOLDERS[0] ? 1 : 0; index < PER_CLIENT; index++) {
          const socket = await open(server.port, address);
          socket.write('POST /hook HTTP/1.1\r\nHost: relay.test\r\n');
          held.push(socket);
        }
      }
      await sleep(100);
      now += HTTP_STRESSED_HEAD_MS;
      assert.equal(await ask(server.port, '127.0.0.5', healthz), '200', 'a new client gets in');
      await sleep(100);
      assert.equal(keptAlive.destroyed, false, 'the idle keep-alive connection, though the longest waiting, is kept');
      assert.equal(held.filter((socket) => socket.destroyed).length, 1, 'one trickled head made room');
    } finally {
      for (const socket of held) socket.destroy();
      await sleep(100);
    }
  });
});

async function waitUntil(done: () => boolean): Promise<void> {
  for (let tries = 0; tries < 100 && !done(); tries++) await sleep(20);
  assert.ok(done());
}
