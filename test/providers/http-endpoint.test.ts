/**
 * The HTTP layer every provider adapter shares (src/providers/http-endpoint.ts), against a plain
 * node:http server on 127.0.0.1: what a request puts on the wire, what an answer becomes (any
 * status, the body capped), and how a failure is classified by phase. Held the same across the
 * change from undici's `pool.request` to a handler of the relay's own (#15).
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { HttpEndpoints } from '../../src/providers/http-endpoint.ts';
import { relayVersion } from '../../src/version.ts';
import { freePort } from '../helpers/tcp.ts';

const OPTIONS = { connectTimeoutMs: 2_000, responseTimeoutMs: 2_000, connectionsPerEndpoint: 2 };

interface Seen {
  readonly method: string | undefined;
  readonly url: string | undefined;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

async function serve(answer: (request: IncomingMessage, response: ServerResponse) => void): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      seen.push({ method: request.method, url: request.url, headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
      answer(request, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/base/`, seen, server };
}

describe('HttpEndpoints', () => {
  it("names the relay and its version in every request's User-Agent (RFC 9110 §10.1.5), whatever headers the provider sends", async () => {
    const { url, seen } = await serve((_request, response) => response.end('ID:1'));
    const endpoints = new HttpEndpoints('test', { ...OPTIONS, endpoints: [url] });
    try {
      await endpoints.request(0, { method: 'POST', path: '/send', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: '{}' });
      await endpoints.request(0, { method: 'GET', path: '/status', headers: {} });
      assert.deepEqual(
        seen.map((request) => request.headers['user-agent']),
        [`smsrelay/${relayVersion()}`, `smsrelay/${relayVersion()}`],
      );
    } finally {
      await endpoints.close();
    }
  });

  it('sends the method, path under the base URL, headers and body, and reads any status with its body', async () => {
    const { url, seen } = await serve((_request, response) => {
      response.writeHead(503, { 'content-type': 'text/plain' });
      response.end('ERR: busy, ünïcode');
    });
    const endpoints = new HttpEndpoints('test', { ...OPTIONS, endpoints: [url] });
    try {
      const outcome = await endpoints.request(0, {
        method: 'POST',
        path: '/send',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-extra': 'yes' },
        body: 'to=447700900123&text=hello',
      });
      assert.deepEqual(outcome, { kind: 'http', status: 503, text: 'ERR: busy, ünïcode', truncated: false });
      assert.equal(seen.length, 1);
      assert.equal(seen[0]?.method, 'POST');
      assert.equal(seen[0]?.url, '/base/send');
      assert.equal(seen[0]?.headers['content-type'], 'application/x-www-form-urlencoded');
      assert.equal(seen[0]?.headers['x-extra'], 'yes');
      assert.equal(seen[0]?.body, 'to=447700900123&text=hello');
      const get = await endpoints.request(0, { method: 'GET', path: '/status?id=1', headers: {} });
      assert.deepEqual(get, { kind: 'http', status: 503, text: 'ERR: busy, ünïcode', truncated: false });
      assert.equal(seen[1]?.method, 'GET');
      assert.equal(seen[1]?.url, '/base/status?id=1');
    } finally {
      await endpoints.close();
    }
  });

  it('reads an empty body as empty text, and the final status after an informational 103', async () => {
    const { url } = await serve((_request, response) => {
      response.writeEarlyHints({ link: '</style.css>; rel=preload' });
      response.writeHead(204);
      response.end();
    });
    const endpoints = new HttpEndpoints('test', { ...OPTIONS, endpoints: [url] });
    try {
      assert.deepEqual(await endpoints.request(0, { method: 'GET', path: '/', headers: {} }), { kind: 'http', status: 204, text: '', truncated: false });
    } finally {
      await endpoints.close();
    }
  });

  it('stops reading a body longer than 64 KB and says it is truncated; the endpoint still answers the next request', async () => {
    let calls = 0;
    const { url } = await serve((_request, response) => {
      calls++;
      response.writeHead(200, { 'content-type': 'text/html' });
      if (calls === 1) {
        // 1 MB in 16 KB writes: an error page, far beyond what a send answer can be.
        for (let index = 0; index < 64; index++) response.write('x'.repeat(16 * 1024));
      }
      response.end('OK');
    });
    const endpoints = new HttpEndpoints('test', { ...OPTIONS, endpoints: [url] });
    try {
      const outcome = await endpoints.request(0, { method: 'GET', path: '/', headers: {} });
      assert.equal(outcome.kind, 'http');
      assert.equal(outcome.kind === 'http' && outcome.truncated, true);
      assert.equal(outcome.kind === 'http' && outcome.status, 200);
      const length = outcome.kind === 'http' ? outcome.text.length : 0;
      assert.ok(length > 64 * 1024 && length < 1024 * 1024, `read ${length} characters`);
      assert.deepEqual(await endpoints.request(0, { method: 'GET', path: '/', headers: {} }), { kind: 'http', status: 200, text: 'OK', truncated: false });
    } finally {
      await endpoints.close();
    }
  });

  /** What one POST to `url` comes back as: its phase and code when it is a transport failure. */
  const failureOf = async (url: string) => {
    const endpoints = new HttpEndpoints('test', { ...OPTIONS, endpoints: [url] });
    try {
      const outcome = await endpoints.request(0, { method: 'POST', path: '/send', headers: {}, body: 'x' });
      return outcome.kind === 'transport' ? { phase: outcome.phase, code: outcome.code } : outcome;
    } finally {
      await endpoints.close();
    }
  };

  it("gives up an answer that trickles in after responseTimeout, headers and body together (not per chunk), with the relay's code RESPONSE_TIMEOUT, not undici's", async () => {
    const drips: NodeJS.Timeout[] = [];
    const { url } = await serve((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain' });
      // A byte every 50 ms, each well within the timeout, for 3 s: far longer than it.
      let left = 60;
      const drip = setInterval(() => {
        if (--left > 0) return response.write('0');
        clearInterval(drip);
        response.end('0');
      }, 50);
      drips.push(drip);
    });
    const endpoints = new HttpEndpoints('test', { ...OPTIONS, responseTimeoutMs: 400, endpoints: [url] });
    try {
      const started = performance.now();
      const outcome = await endpoints.request(0, { method: 'POST', path: '/send', headers: {}, body: 'x' });
      assert.equal(outcome.kind, 'transport');
      assert.equal(outcome.kind === 'transport' && outcome.phase, 'response');
      assert.equal(outcome.kind === 'transport' && outcome.code, 'RESPONSE_TIMEOUT');
      assert.ok(performance.now() - started < 1_500, `held ${Math.round(performance.now() - started)} ms`);
    } finally {
      for (const drip of drips) clearInterval(drip);
      await endpoints.close();
    }
  });

  it('reports a refused connection as a connect-phase failure (safe to send elsewhere)', async () => {
    assert.deepEqual(await failureOf(`http://127.0.0.1:${await freePort()}/`), { phase: 'connect', code: 'ECONNREFUSED' });
  });

  it('reports a connection closed after the request as a response-phase failure (the gateway may have it)', async () => {
    const { url } = await serve((request) => request.socket.destroy());
    assert.deepEqual(await failureOf(url), { phase: 'response', code: 'UND_ERR_SOCKET' });
  });

  it('rejects a request to an endpoint it does not have, and reports a request after close as a transport failure', async () => {
    const { url } = await serve((_request, response) => response.end('OK'));
    const endpoints = new HttpEndpoints('test', { ...OPTIONS, endpoints: [url] });
    await assert.rejects(endpoints.request(1, { method: 'GET', path: '/', headers: {} }), /test: no endpoint #1/);
    await endpoints.close();
    const outcome = await endpoints.request(0, { method: 'GET', path: '/', headers: {} });
    assert.equal(outcome.kind, 'transport');
    assert.equal(outcome.kind === 'transport' && outcome.code, 'UND_ERR_DESTROYED');
  });
});
