/** DNS rebinding: the HTTP port answers only requests sent to a name of the relay (docs/security.md, "Host names"). */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { hashPassword } from '../../src/policy/passwords.ts';
import { removeDir, startTestRelay, type TestRelay } from '../helpers/relay.ts';

/** A request with the Host a browser would send (fetch may not set it), over a real socket to 127.0.0.1. */
function get(port: number, path: string, host: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers: { host, ...headers } }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A request written byte for byte (two Host lines, an absolute-form target: no client library sends them): the status line and the body. */
function raw(port: number, head: string) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write(`${head}Connection: close\r\n\r\n`));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      answer += chunk;
    });
    socket.on('error', reject);
    socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]), body: answer.slice(answer.indexOf('\r\n\r\n') + 4) }));
  });
}

describe('the HTTP port answers only its own names', () => {
  let relay: TestRelay;
  let port: number;
  const STOP = 'msisdn=447700900124&to=447700900000&messageId=0B0000000000AA03&text=STOP&type=text&keyword=STOP&message-timestamp=2026-12-06+03%3A00%3A00';

  before(async () => {
    relay = await startTestRelay({
      gateway: { provider: 'vonage-simulator', from: 'Relay', publicUrl: 'https://hooks.example.net/relay' },
      sms: { defaultRegion: 'GB' },
      inbound: { defaultMailbox: 'ops@example.com' },
      http: { allowedHosts: ['relay.example.com'] },
      console: {
        users: [{ name: 'olivia', passwordHash: await hashPassword('console-pass-123'), role: 'operator' }],
        publicUrl: 'https://console.example.org',
      },
    });
    port = relay.relay.httpPort;
  });
  after(async () => {
    await relay.stop();
    removeDir(relay.dir);
  });

  test('a page re-pointed to the relay by DNS reaches it under its own name: refused 421 on the webhooks, /metrics, the simulator and unknown paths, naming the Host and the setting', async () => {
    for (const path of [`/webhooks/vonage/mo?${STOP}`, '/metrics', '/simulator/vonage/messages', '/nowhere']) {
      for (const host of [
        `rebind.evil.example:${port}`,
        'evil.example',
        `127.0.0.1.evil.example:${port}`,
        `evil.example@127.0.0.1:${port}`,
        `[127.0.0.1]:${port}`,
      ]) {
        const answer = await get(port, path, host);
        assert.equal(answer.status, 421, `${path} ${host}`);
        assert.deepEqual(JSON.parse(answer.body), {
          error: 'MISDIRECTED_REQUEST',
          message: `Misdirected request: Host "${host}" is not a name of this relay; if it is, add it to http.allowedHosts (SMSRELAY_HTTP_ALLOWED_HOSTS)`,
        });
      }
    }
    // None of them reached the inbound service; the same STOP sent to the relay's address does.
    assert.equal(await relay.relay.store.isOptedOut('+447700900124'), false);
    assert.equal((await get(port, `/webhooks/vonage/mo?${STOP}`, `127.0.0.1:${port}`)).status, 200);
    assert.equal(await relay.relay.store.isOptedOut('+447700900124'), true);
  });

  test("two Host lines, in either order, are 400 with the catalogue's JSON (RFC 9112 §3.2), whichever path", async () => {
    for (const path of ['/metrics', '/webhooks/vonage/mo', '/healthz']) {
      for (const hosts of [
        ['127.0.0.1', 'evil.example'],
        ['evil.example', '127.0.0.1'],
      ]) {
        const answer = await raw(port, `GET ${path} HTTP/1.1\r\n${hosts.map((host) => `Host: ${host}\r\n`).join('')}`);
        assert.equal(answer.status, 400, `${path} ${hosts}`);
        assert.deepEqual(JSON.parse(answer.body), { error: 'BAD_REQUEST', message: 'Malformed HTTP request: more than one Host header (RFC 9112 §3.2)' });
      }
    }
  });

  test('an absolute-form target is judged by its own host, not the Host line (RFC 9112 §3.2.2)', async () => {
    const foreign = await raw(port, 'GET http://evil.example/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    assert.equal(foreign.status, 421);
    assert.match(JSON.parse(foreign.body).message, /^Misdirected request: Host "evil\.example" is not a name of this relay/);
    assert.equal((await raw(port, 'POST HTTP://user@evil.example:8080/webhooks/vonage/mo HTTP/1.1\r\nHost: 127.0.0.1\r\n')).status, 421);
    const own = await raw(port, `GET http://127.0.0.1:${port}/metrics HTTP/1.1\r\nHost: evil.example\r\n`);
    assert.equal(own.status, 200, own.body.slice(0, 200));
    assert.equal(
      (await raw(port, 'GET http://evil.example/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n')).status,
      200,
      'the health check answers any name, as ever',
    );
  });

  test('IP addresses (any port), localhost, http.allowedHosts and the publicUrls’ hosts are answered, however written', async () => {
    for (const host of [
      `127.0.0.1:${port}`,
      '192.0.2.1',
      `[::1]:${port}`,
      '[2001:db8::1]',
      `localhost:${port}`,
      'LOCALHOST',
      'relay.example.com',
      'Relay.Example.COM.:8443',
      'hooks.example.net',
      'console.example.org:443',
    ]) {
      assert.equal((await get(port, '/metrics', host)).status, 200, host);
    }
    // From a peer that is no proxy of ours (http.trustedProxies unset) the header is not believed: its Host decides.
    assert.equal((await get(port, '/metrics', `127.0.0.1:${port}`, { 'x-forwarded-host': 'rebind.evil.example' })).status, 200);
  });

  test('/healthz and /readyz answer any name: load balancers probe them by whatever name they were given', async () => {
    for (const path of ['/healthz', '/readyz']) assert.equal((await get(port, path, 'lb-probe.internal')).status, 200, path);
  });

  test('the console refuses another name with its page, or the JSON refusal to a script', async () => {
    const page = await get(port, '/console/signin', `rebind.evil.example:${port}`, { accept: 'text/html' });
    assert.equal(page.status, 421);
    assert.match(page.type, /^text\/html/);
    assert.match(page.body, /421 Misdirected Request/);
    assert.match(page.body, /Host &quot;rebind\.evil\.example:\d+&quot; is not a name of this relay; if it is, add it to http\.allowedHosts/);
    assert.doesNotMatch(page.body, /name="password"/, 'no sign-in form');
    const json = await get(port, '/console', `rebind.evil.example:${port}`, { accept: 'application/json' });
    assert.equal(json.status, 421);
    assert.equal(JSON.parse(json.body).error, 'MISDIRECTED_REQUEST');
    assert.equal((await get(port, '/console/signin', `localhost:${port}`)).status, 200);
  });
});

describe('behind a trusted proxy, the host its client sent the request to is checked too', () => {
  let relay: TestRelay;
  let port: number;
  const STOP = 'msisdn=447700900125&to=447700900000&messageId=0B0000000000AA04&text=STOP&type=text&keyword=STOP&message-timestamp=2026-12-06+03%3A00%3A00';

  before(async () => {
    relay = await startTestRelay({
      gateway: { provider: 'vonage-simulator', from: 'Relay' },
      sms: { defaultRegion: 'GB' },
      inbound: { defaultMailbox: 'ops@example.com' },
      // The test's requests come from 127.0.0.1: the proxy, as nginx on the relay's host.
      http: { allowedHosts: ['relay.example.com'], trustedProxies: ['127.0.0.1/32'] },
      console: { users: [{ name: 'olivia', passwordHash: await hashPassword('console-pass-123'), role: 'operator' }] },
    });
    port = relay.relay.httpPort;
  });
  after(async () => {
    await relay.stop();
    removeDir(relay.dir);
  });

  test('a proxy that sends the relay its own address as Host: a rebinding page’s name, in X-Forwarded-Host, is refused 421 naming it, on the webhooks, /metrics and the console', async () => {
    const proxied = (forwarded: string, accept = 'application/json') => ({ 'x-forwarded-host': forwarded, accept });
    for (const path of [`/webhooks/vonage/mo?${STOP}`, '/metrics', '/console', '/console/signin']) {
      // The proxy's own value is the last: one further left is whatever the page wrote.
      for (const forwarded of [`rebind.evil.example:${port}`, `relay.example.com, rebind.evil.example:${port}`]) {
        const answer = await get(port, path, `127.0.0.1:${port}`, proxied(forwarded));
        assert.equal(answer.status, 421, `${path} ${forwarded}`);
        assert.deepEqual(JSON.parse(answer.body), {
          error: 'MISDIRECTED_REQUEST',
          message: `Misdirected request: X-Forwarded-Host "rebind.evil.example:${port}" is not a name of this relay; if it is, add it to http.allowedHosts (SMSRELAY_HTTP_ALLOWED_HOSTS)`,
        });
      }
    }
    const page = await get(port, '/console/signin', `127.0.0.1:${port}`, proxied('rebind.evil.example', 'text/html'));
    assert.equal(page.status, 421);
    assert.match(page.body, /X-Forwarded-Host &quot;rebind\.evil\.example&quot; is not a name of this relay/);
    assert.doesNotMatch(page.body, /name="password"/, 'no sign-in form');
    assert.equal((await get(port, '/healthz', `127.0.0.1:${port}`, proxied('lb-probe.internal'))).status, 200);
    assert.equal(await relay.relay.store.isOptedOut('+447700900125'), false);
  });

  test('the relay’s own names in X-Forwarded-Host are answered, and so is a proxy that sends none', async () => {
    for (const forwarded of ['relay.example.com', `rebind.evil.example, relay.example.com:8443`, '192.0.2.1', `localhost:${port}`]) {
      assert.equal((await get(port, '/metrics', `127.0.0.1:${port}`, { 'x-forwarded-host': forwarded })).status, 200, forwarded);
    }
    assert.equal((await get(port, '/metrics', `127.0.0.1:${port}`)).status, 200);
    assert.equal((await get(port, '/console/signin', `127.0.0.1:${port}`, { 'x-forwarded-host': 'relay.example.com' })).status, 200);
    assert.equal((await get(port, `/webhooks/vonage/mo?${STOP}`, 'relay.example.com', { 'x-forwarded-host': 'relay.example.com' })).status, 200);
    assert.equal(await relay.relay.store.isOptedOut('+447700900125'), true);
  });
});
