/** A body fastify cannot read (finding 7): the catalogue's code or the path's own 404/405, never a framework's code; the console answers its page. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hashPassword } from '../../src/policy/passwords.ts';
import { signInAt } from '../helpers/console.ts';
import { removeDir, startTestRelay, type TestRelay } from '../helpers/relay.ts';

describe('a malformed body', () => {
  let relay: TestRelay;
  let base: string;
  const bad = (path: string, accept = 'application/json') =>
    fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', accept }, body: '{bad', redirect: 'manual' });

  before(async () => {
    relay = await startTestRelay({ console: { users: [{ name: 'olivia', passwordHash: await hashPassword('console-pass-123'), role: 'operator' }] } });
    base = `http://127.0.0.1:${relay.relay.httpPort}`;
  });
  after(async () => {
    await relay.stop();
    removeDir(relay.dir);
  });

  test("gets the path's own 404 or 405 where the path or method does not exist, else BAD_REQUEST saying what was wrong", async () => {
    for (const [path, status, error] of [
      ['/nowhere', 404, 'NOT_FOUND'],
      ['/webhooks/nosuch/mo', 404, 'NOT_FOUND'],
      ['/healthz', 405, 'METHOD_NOT_ALLOWED'],
      ['/metrics', 405, 'METHOD_NOT_ALLOWED'],
      ['/simulator/mo', 400, 'BAD_REQUEST'],
      ['/console/signin', 400, 'BAD_REQUEST'],
    ] as const) {
      const response = await bad(path);
      const body = (await response.json()) as { error: string; message: string };
      assert.equal(response.status, status, path);
      assert.equal(body.error, error, path);
      if (status === 400) assert.match(body.message, /Body is not valid JSON/, path);
    }
  });

  test('a path parameter of any length gets the path’s own answer after the access checks, never the router’s 414 echoing it', async () => {
    // A number, then more: what the router's own 414 showed unmasked.
    for (const long of [`4477009001010000${'a'.repeat(85)}`, `4477009001010000${'a'.repeat(5_000)}`]) {
      const webhook = await fetch(`${base}/webhooks/${long}/mo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      assert.equal(webhook.status, 404);
      assert.equal(((await webhook.json()) as { error: string }).error, 'NOT_FOUND');
      // No session: the console's checks come first, a browser sent to sign in, a script refused 401.
      const browser = await fetch(`${base}/console/messages/${long}`, { headers: { accept: 'text/html' }, redirect: 'manual' });
      assert.equal(browser.status, 303);
      assert.match(browser.headers.get('location') ?? '', /^\/console\/signin\?next=/);
      const script = await fetch(`${base}/console/undeliverable/${long}/reroute`, { method: 'POST', headers: { accept: 'application/json' } });
      assert.equal(script.status, 401);
      assert.equal(((await script.json()) as { error: string }).error, 'UNAUTHORIZED');
      const cookie = await signInAt(base, 'olivia', 'console-pass-123');
      for (const path of [`/console/messages/${long}`, `/console/conversations/${long}`, `/console/quarantine/${long}`]) {
        const page = await fetch(`${base}${path}`, { headers: { cookie, accept: 'text/html' } });
        assert.equal(page.status, 404, path);
        assert.match(await page.text(), /<h1>404 Not Found<\/h1>[\s\S]*data-code="NOT_FOUND"/, path);
        const json = await fetch(`${base}${path}`, { headers: { cookie, accept: 'application/json' } });
        assert.equal(json.status, 404, path);
        assert.equal(((await json.json()) as { error: string }).error, 'NOT_FOUND', path);
      }
    }
  });

  test('a path parameter whose percent-encoding does not decode gets the catalogue’s 400, the path not echoed', async () => {
    for (const path of ['/console/messages/%zz4477009001', '/console/undeliverable/4477009001%zz/reroute']) {
      const response = await fetch(`${base}${path}`, { method: path.endsWith('reroute') ? 'POST' : 'GET', headers: { accept: 'application/json' } });
      assert.equal(response.status, 400, path);
      assert.deepEqual(await response.json(), {
        error: 'BAD_REQUEST',
        message: 'Malformed request: its path holds a percent-encoding that does not decode',
      });
    }
  });

  test('the same to a browser on a console path: the console’s own page, with its security headers; JSON on a webhook’s', async () => {
    const page = await fetch(`${base}/console/messages/%zz4477009001`, { headers: { accept: 'text/html' } });
    assert.equal(page.status, 400);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    assert.equal(page.headers.get('cache-control'), 'no-store');
    const html = await page.text();
    assert.match(html, /<h1>400 Bad Request<\/h1>[\s\S]*data-code="BAD_REQUEST">Malformed request: its path holds a percent-encoding that does not decode/);
    assert.doesNotMatch(html, /4477009001/);
    const webhook = await fetch(`${base}/webhooks/%zz4477009001/mo`, { method: 'POST', headers: { accept: 'text/html' } });
    assert.equal(webhook.status, 400);
    assert.equal(((await webhook.json()) as { error: string }).error, 'BAD_REQUEST');
  });

  test('a 404 for a path with no route names at most its start, its numbers masked, never the whole path', async () => {
    for (const [method, path] of [
      ['POST', `/webhooks/+${'4477009001'.repeat(20)}/mo`],
      ['GET', `/nope/4477009001010/${'a'.repeat(10_000)}`],
    ] as const) {
      const response = await fetch(`${base}${path}`, { method, headers: { accept: 'application/json' } });
      assert.equal(response.status, 404, path);
      const { error, message } = (await response.json()) as { error: string; message: string };
      assert.equal(error, 'NOT_FOUND');
      assert.doesNotMatch(message, /4477009001/, 'no number unmasked');
      assert.ok(message.length < 100, `${message.length} characters`);
    }
  });

  test("the console's sign-in answers its page to a browser, saying why the body was not read", async () => {
    const response = await bad('/console/signin', 'text/html');
    assert.equal(response.status, 400);
    assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
    const page = await response.text();
    assert.match(page, /Request body not read: Body is not valid JSON/);
    assert.match(page, /name="password"/, 'the sign-in form again');
  });

  test('a body too big, or of a media type the console does not read, keeps its status and the catalogue’s words on the page as in the JSON', async () => {
    const big = `name=olivia&password=${'x'.repeat(300 * 1024)}`;
    for (const [type, body, status, error, message] of [
      ['application/x-www-form-urlencoded', big, 413, 'MESSAGE_TOO_BIG', 'Request body too big: the limit is 256 KB'],
      ['text/csv', 'name,password', 415, 'UNSUPPORTED_MEDIA_TYPE', 'Request body not read: Unsupported Media Type'],
      // The one type besides a form another site's page can post without a preflight: no field of it is read.
      ['text/plain', 'name=olivia&password=console-pass-123', 415, 'UNSUPPORTED_MEDIA_TYPE', 'Request body not read: Unsupported Media Type'],
    ] as const) {
      const send = (accept: string) => fetch(`${base}/console/signin`, { method: 'POST', headers: { 'content-type': type, accept }, body, redirect: 'manual' });
      const json = await send('application/json');
      assert.equal(json.status, status, type);
      assert.deepEqual(await json.json(), { error, message });
      const html = await send('text/html');
      assert.equal(html.status, status, type);
      assert.match(html.headers.get('content-type') ?? '', /^text\/html/);
      const page = await html.text();
      assert.ok(page.includes(message), `${type}: ${message}`);
      assert.match(page, /name="password"/, 'the sign-in form again');
    }
  });

  test('a text/plain form to a signed-in page is 415 UNSUPPORTED_MEDIA_TYPE, the token in its header or none: not read as a form, nor answered as one', async () => {
    const form = await fetch(`${base}/console/signin`);
    const cookie = (form.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const token = /name="_csrf" value="([^"]+)"/.exec(await form.text())?.[1] ?? assert.fail('no sign-in token');
    const signedIn = await fetch(`${base}/console/signin`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      body: new URLSearchParams({ name: 'olivia', password: 'console-pass-123', _csrf: token }),
      redirect: 'manual',
    });
    const session = (signedIn.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await (await fetch(`${base}/console/send`, { headers: { cookie: session } })).text())?.[1];
    const withToken: Record<string, string> = { 'x-csrf-token': csrf ?? assert.fail('no CSRF token') };
    for (const headers of [{}, withToken]) {
      const response = await fetch(`${base}/console/send`, {
        method: 'POST',
        headers: { cookie: session, 'content-type': 'text/plain', accept: 'application/json', origin: base, ...headers },
        body: 'to=%2B447700900901&text=hi',
        redirect: 'manual',
      });
      assert.equal(response.status, 415, JSON.stringify(headers));
      assert.equal(((await response.json()) as { error: string }).error, 'UNSUPPORTED_MEDIA_TYPE');
    }
  });
});
