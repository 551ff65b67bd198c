import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { removeDir, startTestRelay, type TestRelay } from '../helpers/relay.ts';

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
    assert.equal(await closedWithin(silent, 12_500), true);
  });
});
