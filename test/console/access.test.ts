/** Console access rules over real HTTP (issue #19): off without users, TLS-only sign-in off loopback, throttle, config errors. */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import BetterSqlite3 from 'better-sqlite3';
import { after, before, describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { createLogger } from '../../src/log.ts';
import { startRelay } from '../../src/relay.ts';
import { STORE_FILE } from '../../src/store/lock.ts';
import { hashPassword } from '../../src/policy/passwords.ts';
import { relayEnvironment, removeDir, startTestRelay, type TestRelay, tempDir, waitFor } from '../helpers/relay.ts';
import { queuedId, sendMail } from '../helpers/smtp.ts';

const PASSWORD = 'correct horse battery';

/** A form POST from a chosen local address (127.0.0.2 stands for a remote client). */
function post(port: number, path: string, form: string, headers: Record<string, string> = {}, localAddress = '127.0.0.1') {
  return send(port, 'POST', path, form, { 'content-type': 'application/x-www-form-urlencoded', ...headers }, localAddress);
}

/** The sign-in page's cookie and form token, as a browser at `localAddress` gets them. */
async function signinForm(port: number, headers: Record<string, string> = {}, localAddress = '127.0.0.1') {
  const page = await send(port, 'GET', '/console/signin', '', headers, localAddress);
  const cookie = String(page.headers['set-cookie'] ?? '').split(';')[0] ?? '';
  return { cookie, token: /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1] ?? '' };
}

/** A sign-in as a browser makes it: the sign-in page first, then its form with the page's token. */
async function signIn(port: number, form: string, headers: Record<string, string> = {}, localAddress = '127.0.0.1') {
  const { cookie, token } = await signinForm(port, headers, localAddress);
  return post(port, '/console/signin', `${form}&_csrf=${token}`, { cookie, ...headers }, localAddress);
}

function send(port: number, method: string, path: string, body: string, headers: Record<string, string>, localAddress: string) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, localAddress, headers }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('console access', () => {
  let relay: TestRelay;
  let off: TestRelay;
  const pauses: number[] = [];
  /** The console's clock: the expiry test moves it instead of waiting half an hour. */
  let now = Date.now();

  before(async () => {
    const hash = await hashPassword(PASSWORD);
    relay = await startTestRelay(
      {
        console: {
          users: [{ name: 'olivia', passwordHash: hash, role: 'operator' }],
          // 127.0.0.3 is a TLS proxy in front of the relay; 127.0.0.4 is not allowed at all.
          allowedNetworks: ['127.0.0.1/32', '127.0.0.2/32', '127.0.0.3/32', '192.0.2.0/24'],
          trustedProxies: ['127.0.0.3/32'],
        },
        // The name the TLS proxy forwards (X-Forwarded-Host).
        http: { allowedHosts: ['relay.example.com'] },
      },
      {},
      tempDir(),
      {
        loginPause: async (ms) => {
          pauses.push(ms);
        },
        consoleClock: () => now,
      },
    );
    off = await startTestRelay();
  });
  after(async () => {
    await relay.stop();
    await off.stop();
    removeDir(relay.dir);
    removeDir(off.dir);
  });

  test('the console is off until a user is configured', async () => {
    const response = await fetch(`http://127.0.0.1:${off.relay.httpPort}/console`);
    assert.equal(response.status, 404);
  });

  test('plain HTTP sign-in from another address is refused, and a forged X-Forwarded-Proto does not help', async () => {
    const form = `name=olivia&password=${encodeURIComponent(PASSWORD)}`;
    // The page offers no password field there (a browser would send it in clear before the refusal), and says why.
    for (const headers of [{}, { 'x-forwarded-proto': 'https' }] as Array<Record<string, string>>) {
      const page = await send(relay.relay.httpPort, 'GET', '/console/signin', '', headers, '127.0.0.2');
      assert.equal(page.status, 200);
      assert.doesNotMatch(page.body, /type="password"|<form/);
      assert.match(
        page.body,
        /role="alert">Sign-in needs HTTPS from anywhere but this host \(set console\.publicUrl or http\.trustedProxies for a TLS proxy\)</,
      );
      assert.equal(page.headers['set-cookie'], undefined, 'no sign-in form, no form token');
    }
    const expired = await send(relay.relay.httpPort, 'GET', '/console/signin?expired=1', '', {}, '127.0.0.2');
    assert.doesNotMatch(expired.body, /type="password"/);
    const proxied = await send(
      relay.relay.httpPort,
      'GET',
      '/console/signin',
      '',
      { 'x-forwarded-proto': 'https', 'x-forwarded-for': '192.0.2.7' },
      '127.0.0.3',
    );
    assert.match(proxied.body, /type="password"/, 'over TLS (a trusted proxy) the form is there');
    assert.match((await send(relay.relay.httpPort, 'GET', '/console/signin', '', {}, '127.0.0.1')).body, /type="password"/, 'and from this host');
    const remote = await signIn(relay.relay.httpPort, form, { 'x-forwarded-proto': 'https' }, '127.0.0.2');
    assert.equal(remote.status, 403);
    assert.match(remote.body, /Sign-in needs HTTPS/);
    assert.equal(remote.headers['set-cookie'], undefined);
    const local = await signIn(relay.relay.httpPort, form);
    assert.equal(local.status, 303);
    assert.match(String(local.headers['set-cookie']), /HttpOnly; SameSite=Strict/);
  });

  test('an address outside console.allowedNetworks gets 403 before anything else', async () => {
    const refused = await signIn(relay.relay.httpPort, `name=olivia&password=${encodeURIComponent(PASSWORD)}`, {}, '127.0.0.4');
    assert.equal(refused.status, 403);
    assert.match(refused.body, /does not answer 127\.0\.0\.4 \(console\.allowedNetworks\)/);
  });

  test('behind a trusted TLS proxy sign-in works for the forwarded client, and the cookie is Secure', async () => {
    const form = `name=olivia&password=${encodeURIComponent(PASSWORD)}`;
    const proxied = await signIn(relay.relay.httpPort, form, { 'x-forwarded-proto': 'https', 'x-forwarded-for': '192.0.2.7' }, '127.0.0.3');
    assert.equal(proxied.status, 303);
    assert.match(String(proxied.headers['set-cookie']), /; Secure/);
    const plain = await signIn(relay.relay.httpPort, form, { 'x-forwarded-proto': 'http', 'x-forwarded-for': '192.0.2.7' }, '127.0.0.3');
    assert.equal(plain.status, 403, 'the proxy says the client came over plain HTTP');
  });

  test("a POST whose Origin is not the console's own is 403, sign-in and actions alike; the console's own origin, also behind a trusted proxy, passes", async () => {
    const port = relay.relay.httpPort;
    const form = `name=olivia&password=${encodeURIComponent(PASSWORD)}`;
    for (const origin of ['https://attacker.example', 'null', `http://127.0.0.1:${port + 1}`, `https://127.0.0.1:${port}`]) {
      const refused = await signIn(port, form, { origin });
      assert.equal(refused.status, 403, origin);
      assert.match(refused.body, /sent from another site/, origin);
      assert.equal(refused.headers['set-cookie'], undefined, origin);
    }
    const own = await signIn(port, form, { origin: `http://127.0.0.1:${port}` });
    assert.equal(own.status, 303);
    const proxiedHeaders = { 'x-forwarded-proto': 'https', 'x-forwarded-for': '192.0.2.8', 'x-forwarded-host': 'relay.example.com' };
    const proxied = await signIn(port, form, { ...proxiedHeaders, origin: 'https://relay.example.com' }, '127.0.0.3');
    assert.equal(proxied.status, 303, 'the host the browser sent to, as the trusted proxy forwards it');
    const forged = await signIn(port, form, { 'x-forwarded-host': 'attacker.example', origin: 'http://attacker.example' });
    assert.equal(forged.status, 403, 'X-Forwarded-Host from an address that is no trusted proxy is ignored');
    const rebound = await signIn(
      port,
      form,
      { ...proxiedHeaders, 'x-forwarded-host': 'rebind.evil.example', origin: 'https://rebind.evil.example' },
      '127.0.0.3',
    );
    assert.equal(rebound.status, 421, 'a forwarded Host that is no name of the relay (DNS rebinding through the proxy) is not answered at all');
    assert.match(rebound.body, /X-Forwarded-Host &quot;rebind\.evil\.example&quot; is not a name of this relay/);
    // Signed in, with the session's CSRF token: another site's form still changes nothing.
    const cookie = String(own.headers['set-cookie']).split(';')[0] ?? '';
    const csrf =
      /name="_csrf" value="([^"]+)"/.exec(await (await fetch(`http://127.0.0.1:${port}/console`, { headers: { cookie } })).text())?.[1] ??
      assert.fail('no CSRF token');
    const action = await post(port, '/console/queue', `_csrf=${csrf}&action=pause`, { cookie, origin: 'https://attacker.example' });
    assert.equal(action.status, 403);
    assert.equal(await relay.relay.store.dispatchPausedSince(), undefined, 'dispatch is not paused');
    const out = await post(port, '/console/signout', `_csrf=${csrf}`, { cookie, origin: `http://127.0.0.1:${port}` });
    assert.equal(out.status, 303);
  });

  test("sign-in needs its form's token, the same as its sign-in cookie: none, or another browser's, is 403 and signs no one in", async () => {
    const port = relay.relay.httpPort;
    const form = `name=olivia&password=${encodeURIComponent(PASSWORD)}`;
    const mine = await signinForm(port);
    const theirs = await signinForm(port);
    assert.match(mine.cookie, /^smsrelay_signin=[\w-]{43}$/);
    assert.notEqual(mine.token, theirs.token);
    for (const [name, body, cookie] of [
      ['no token, no cookie', form, ''],
      ['no token', form, mine.cookie],
      ["another browser's token", `${form}&_csrf=${theirs.token}`, mine.cookie],
      ['a token without its cookie', `${form}&_csrf=${mine.token}`, ''],
    ] as const) {
      const refused = await post(port, '/console/signin', body, cookie ? { cookie } : {});
      assert.equal(refused.status, 403, name);
      assert.match(refused.body, /The sign-in form has expired: sign in again/, name);
      assert.doesNotMatch(String(refused.headers['set-cookie'] ?? ''), /smsrelay_console=/, name);
    }
    const signedIn = await post(port, '/console/signin', `${form}&_csrf=${mine.token}`, { cookie: mine.cookie });
    assert.equal(signedIn.status, 303);
    const cookies = [signedIn.headers['set-cookie']].flat().map(String);
    assert.match(cookies[0] ?? '', /^smsrelay_console=/);
    assert.match(cookies[1] ?? '', /^smsrelay_signin=; Path=\/console\/signin; HttpOnly; SameSite=Strict; Max-Age=0$/, 'the used token is cleared');
    const header = await post(port, '/console/signin', form, { cookie: theirs.cookie, 'x-csrf-token': theirs.token });
    assert.equal(header.status, 303, 'the token in X-CSRF-Token, as for every POST');
  });

  test('a session unused for console.sessionIdleTimeout ends: the page asks to sign in again', async () => {
    const signedIn = await signIn(relay.relay.httpPort, `name=olivia&password=${encodeURIComponent(PASSWORD)}`);
    const cookie = String(signedIn.headers['set-cookie']).split(';')[0] ?? '';
    const page = `http://127.0.0.1:${relay.relay.httpPort}/console/queue`;
    assert.equal((await fetch(page, { headers: { cookie } })).status, 200);
    // The timeout (30 minutes) and the most the saved last use may lag (1 minute) have passed.
    now += 32 * 60_000;
    const expired = await fetch(page, { headers: { cookie }, redirect: 'manual' });
    assert.equal(expired.status, 303);
    assert.equal(expired.headers.get('location'), '/console/signin?next=%2Fconsole%2Fqueue&expired=1');
    const signin = await fetch(`http://127.0.0.1:${relay.relay.httpPort}${expired.headers.get('location')}`);
    assert.match(await signin.text(), /Your session has expired: sign in again/);
  });

  test('a session that ran out reads as expired on every later request too, after another tab or the sweep removed it; a signed-out one as ended', async () => {
    const port = relay.relay.httpPort;
    const page = `http://127.0.0.1:${port}/console/queue`;
    const cookieOf = async () => String((await signIn(port, `name=olivia&password=${encodeURIComponent(PASSWORD)}`)).headers['set-cookie']).split(';')[0] ?? '';
    const where = async (cookie: string) => (await fetch(page, { headers: { cookie }, redirect: 'manual' })).headers.get('location');
    const expired = '/console/signin?next=%2Fconsole%2Fqueue&expired=1';
    const tabs = await cookieOf();
    const swept = await cookieOf();
    assert.equal(await where(tabs), null, 'signed in');
    now += 32 * 60_000;
    assert.equal(await where(tabs), expired, 'the first request after the timeout');
    assert.equal(await where(tabs), expired, "a second one (another tab's), its session already removed");
    // A sign-in sweeps the sessions that ran out: the one never used since is gone before it is asked for.
    await cookieOf();
    assert.equal(await where(swept), expired, 'removed by the sweep');
    // A session in use carries its last use in its cookie: 20 minutes after it, signed out, it ended.
    const used = await cookieOf();
    now += 20 * 60_000;
    const renewed = await fetch(page, { headers: { cookie: used } });
    const cookie = String(renewed.headers.get('set-cookie')).split(';')[0] ?? '';
    assert.match(cookie, /^smsrelay_console=[\w-]+\.\d+\.\d+$/, 'the saved last use is in the cookie');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await renewed.text())?.[1] ?? '';
    now += 20 * 60_000;
    assert.equal((await post(port, '/console/signout', `_csrf=${encodeURIComponent(csrf)}`, { cookie })).status, 303);
    assert.equal(await where(cookie), '/console/signin?next=%2Fconsole%2Fqueue&ended=1');
  });

  test("a form sent after the idle timeout is not done: sign-in says the session expired and leads back to the form's page", async () => {
    const port = relay.relay.httpPort;
    const forms = [
      ['/console/queue', 'action=pause', `http://127.0.0.1:${port}/console/queue?after=5`, '/console/queue?after=5'],
      // Without a Referer: the form's own page when it has one, else the overview.
      ['/console/send', 'to=07700900001&text=hello', undefined, '/console/send'],
      ['/console/quarantine/1/delete', '', undefined, '/console'],
    ] as const;
    for (const [path, form, referer, next] of forms) {
      const signedIn = await signIn(port, `name=olivia&password=${encodeURIComponent(PASSWORD)}`);
      const cookie = String(signedIn.headers['set-cookie']).split(';')[0] ?? '';
      const csrf = /name="_csrf" value="([^"]+)"/.exec((await send(port, 'GET', '/console', '', { cookie }, '127.0.0.1')).body)?.[1] ?? '';
      now += 32 * 60_000;
      const headers = { cookie, accept: 'text/html,application/xhtml+xml', ...(referer ? { referer } : {}) };
      const sent = await post(port, path, `${form}&_csrf=${encodeURIComponent(csrf)}`, headers);
      assert.equal(sent.status, 303, path);
      assert.equal(sent.headers.location, `/console/signin?next=${encodeURIComponent(next)}&expired=1&form=1`, path);
      const signin = await send(port, 'GET', sent.headers.location ?? '', '', {}, '127.0.0.1');
      assert.match(signin.body, /Your session has expired: what you sent was not done\. Sign in, then send it again\./, path);
    }
    assert.equal(await relay.relay.store.dispatchPausedSince(), undefined, 'the expired form paused nothing');
  });

  test('a form sent after a sign-out in another tab (no cookie left at all) is not done: sign-in says signed out and that it was not done', async () => {
    const port = relay.relay.httpPort;
    const headers = { accept: 'text/html,application/xhtml+xml', referer: `http://127.0.0.1:${port}/console/send` };
    const sent = await post(port, '/console/send', 'to=07700900001&text=hello&_csrf=stale', headers);
    assert.equal(sent.status, 303);
    assert.equal(sent.headers.location, '/console/signin?next=%2Fconsole%2Fsend&form=1');
    const signin = await send(port, 'GET', sent.headers.location ?? '', '', {}, '127.0.0.1');
    assert.match(signin.body, /You are signed out: what you sent was not done\. Sign in, then send it again\./);
    // A page asked for without a session is no form: the sign-in says nothing was lost.
    const page = await send(port, 'GET', '/console/queue', '', { accept: 'text/html' }, '127.0.0.1');
    assert.equal(page.headers.location, '/console/signin?next=%2Fconsole%2Fqueue');
    assert.doesNotMatch((await send(port, 'GET', page.headers.location ?? '', '', {}, '127.0.0.1')).body, /not done/);
  });

  test('Sign out in a stale tab (signed out in another, no cookie left) leads to the bare sign-in: nothing to send again', async () => {
    const port = relay.relay.httpPort;
    const headers = { accept: 'text/html,application/xhtml+xml', referer: `http://127.0.0.1:${port}/console/queue` };
    const sent = await post(port, '/console/signout', '_csrf=stale', headers);
    assert.equal(sent.status, 303);
    assert.equal(sent.headers.location, '/console/signin?next=%2Fconsole%2Fqueue');
    assert.doesNotMatch((await send(port, 'GET', sent.headers.location ?? '', '', {}, '127.0.0.1')).body, /not done/);
  });

  test('a session in use never ends at the idle timeout, though its last use is saved at most once a minute', async () => {
    const signedIn = await signIn(relay.relay.httpPort, `name=olivia&password=${encodeURIComponent(PASSWORD)}`);
    const cookie = String(signedIn.headers['set-cookie']).split(';')[0] ?? '';
    const page = `http://127.0.0.1:${relay.relay.httpPort}/console/queue`;
    const open = async () => (await fetch(page, { headers: { cookie }, redirect: 'manual' })).status;
    // A request 50 s after sign-in is not saved (under a minute); the next comes 29.5 minutes after it, within the 30-minute timeout.
    now += 50_000;
    assert.equal(await open(), 200);
    now += 29.5 * 60_000;
    assert.equal(await open(), 200, '29.5 minutes after the last request: still signed in');
    for (let step = 0; step < 4; step++) {
      now += 29 * 60_000;
      assert.equal(await open(), 200, `used every 29 minutes (${step})`);
    }
    now += 32 * 60_000;
    assert.equal(await open(), 303, 'unused for longer than the timeout and its save interval: ended');
  });

  test('a text erased by store.retention says so on its page', async () => {
    const signedIn = await signIn(relay.relay.httpPort, `name=olivia&password=${encodeURIComponent(PASSWORD)}`);
    const cookie = String(signedIn.headers['set-cookie']).split(';')[0] ?? '';
    const sent = await sendMail(relay.relay.smtpPort, { to: ['447700900321@sms.localhost'], body: 'soon forgotten' });
    const id = queuedId(sent.data);
    await waitFor('the SMS sent', async () => (await relay.relay.store.smsOf(id))[0]?.status === 'sent');
    const page = `http://127.0.0.1:${relay.relay.httpPort}/console/messages/${id}`;
    assert.match(await (await fetch(page, { headers: { cookie } })).text(), /soon forgotten/);
    await relay.relay.store.purgeContent(Date.now() + 1000, Date.now());
    const erased = await (await fetch(page, { headers: { cookie } })).text();
    assert.doesNotMatch(erased, /soon forgotten/);
    assert.match(erased, /Erased by store\.retention/);
  });

  test('a POST without a session is 401; too many failed sign-ins get 429 with a wait', async () => {
    const anonymous = await post(relay.relay.httpPort, '/console/queue', 'action=pause', { accept: 'application/json' });
    assert.equal(anonymous.status, 401);
    assert.equal(JSON.parse(anonymous.body).message, 'Sign in first');
    for (let attempt = 0; attempt < 10; attempt++) {
      const wrong = await signIn(relay.relay.httpPort, 'name=olivia&password=wrong-password', {}, '127.0.0.1');
      assert.equal(wrong.status, 401);
      // The form again with the user name as given: only the password is typed anew.
      if (attempt === 0) assert.match(wrong.body, /<input id="name" name="name"[^>]* value="olivia">[\s\S]*type="password"[^>]* autofocus>/);
    }
    assert.equal(pauses.length, 10, 'each failure was slowed');
    const blocked = await signIn(relay.relay.httpPort, `name=olivia&password=${encodeURIComponent(PASSWORD)}`);
    assert.equal(blocked.status, 429);
    assert.match(blocked.body, /wait 15 minutes/);
    assert.ok(Number(blocked.headers['retry-after']) > 0);
  });

  test("signing in as one user forgets only that user's failures: guesses at another from the same address still get 429", async () => {
    const own = await startTestRelay(
      {
        console: {
          users: [
            { name: 'olivia', passwordHash: await hashPassword(PASSWORD), role: 'operator' },
            { name: 'vic', passwordHash: await hashPassword('viewer password'), role: 'viewer' },
          ],
        },
      },
      {},
      tempDir(),
      { loginPause: async () => {} },
    );
    try {
      const port = own.relay.httpPort;
      // olivia mistypes once and signs in: her own slip is forgotten.
      assert.equal((await signIn(port, 'name=olivia&password=typo')).status, 401);
      assert.equal((await signIn(port, `name=olivia&password=${encodeURIComponent(PASSWORD)}`)).status, 303);
      // The viewer guesses at olivia's password, signing in as vic between guesses.
      const statuses: number[] = [];
      for (let guess = 0; guess < 12; guess++) {
        statuses.push((await signIn(port, `name=olivia&password=guess${guess}`)).status);
        if (guess % 3 === 2) statuses.push((await signIn(port, 'name=vic&password=viewer%20password')).status);
      }
      assert.deepEqual(statuses.slice(0, 13), [401, 401, 401, 303, 401, 401, 401, 303, 401, 401, 401, 303, 401], 'vic signs in while under the limit');
      assert.deepEqual(new Set(statuses.slice(13)), new Set([429]), `blocked at the tenth failure: ${statuses.join(' ')}`);
      assert.equal((await signIn(port, `name=olivia&password=${encodeURIComponent(PASSWORD)}`)).status, 429, 'the right password too');
    } finally {
      await own.stop();
      removeDir(own.dir);
    }
  });

  test('a sign-in without its user name or password, or with one empty, is 400 naming the field, and no failed sign-in: never slowed nor blocking', async () => {
    const slowed: number[] = [];
    const own = await startTestRelay(
      { console: { users: [{ name: 'olivia', passwordHash: await hashPassword(PASSWORD), role: 'operator' }] } },
      {},
      tempDir(),
      {
        loginPause: async (ms) => {
          slowed.push(ms);
        },
      },
    );
    try {
      const port = own.relay.httpPort;
      const json = { accept: 'application/json' };
      const forms: Array<[string, RegExp]> = [
        [`username=olivia&password=${encodeURIComponent(PASSWORD)}`, /^User name: missing; write it \(the form's field "name"\)$/],
        ['name=olivia', /^Password: missing; write it \(the form's field "password"\)$/],
        ['password=x', /^User name: missing/],
        ['name=&password=', /^User name: missing/],
        ['name=olivia&password=', /^Password: missing/],
      ];
      // More of them than the failures that block an address: none is one.
      for (let round = 0; round < 3; round++) {
        for (const [form, said] of forms) {
          const answer = await signIn(port, form, json);
          assert.equal(answer.status, 400, `${form}: ${answer.body}`);
          const refusal = JSON.parse(answer.body) as { error: string; message: string };
          assert.equal(refusal.error, 'BAD_PARAMETER');
          assert.match(refusal.message, said);
        }
      }
      const page = await signIn(port, 'name=olivia');
      assert.equal(page.status, 400);
      assert.match(page.body, /Password: missing/);
      assert.match(page.body, /<input[^>]*name="name"[^>]*value="olivia"/, 'the user name typed is kept');
      assert.deepEqual(slowed, [], 'no failed sign-in was slowed');
      assert.equal((await signIn(port, `name=olivia&password=${encodeURIComponent(PASSWORD)}`)).status, 303, 'the address is not blocked');
    } finally {
      await own.stop();
      removeDir(own.dir);
    }
  });

  test('wrong passwords sent in parallel are stopped after as many as sent one by one; the right one among them is blocked too', async () => {
    const before = pauses.length;
    const proxied = { 'x-forwarded-proto': 'https', 'x-forwarded-for': '192.0.2.30' };
    const { cookie, token } = await signinForm(relay.relay.httpPort, proxied, '127.0.0.3');
    const wrong = await Promise.all(
      Array.from({ length: 30 }, (_, index) =>
        post(relay.relay.httpPort, '/console/signin', `name=olivia&password=wrong${index}&_csrf=${token}`, { ...proxied, cookie }, '127.0.0.3'),
      ),
    );
    const statuses = wrong.map((response) => response.status);
    assert.equal(statuses.filter((status) => status === 401).length, 10, `checked: ${statuses.join(' ')}`);
    assert.equal(statuses.filter((status) => status === 429).length, 20);
    assert.equal(pauses.length - before, 10, 'only the checked ones were failures');
    const right = await signIn(relay.relay.httpPort, `name=olivia&password=${encodeURIComponent(PASSWORD)}`, proxied, '127.0.0.3');
    assert.equal(right.status, 429);
    assert.equal(right.headers['set-cookie'], undefined);
  });

  test('sign-in goes on only to a console page read with GET: a CR/LF, another site, a look-alike path, a .. out of the console or sign-out gets the overview', async () => {
    const form = (next: string) => `name=olivia&password=${encodeURIComponent(PASSWORD)}&next=${encodeURIComponent(next)}`;
    // From a client of its own: an earlier test blocked loopback's sign-ins.
    const proxied = { 'x-forwarded-proto': 'https', 'x-forwarded-for': '192.0.2.31' };
    const elsewhere = ['/console/\r\nX-Injected: yes', '//evil.example/console', 'https://evil.example/', '/consoleevil', '/console/\\evil'];
    // Out of the console once the browser normalises it, or no page to read: sign-out (POST only, a 405), an action, an asset.
    const noPage = ['/console/../simulator/messages', '/console/%2e%2e/simulator/messages', '/console/signout', '/console/queue/../signout'];
    for (const next of [...elsewhere, ...noPage, '/console/undeliverable/x/reroute', '/console/assets/console.css', '/console/signin']) {
      const signedIn = await signIn(relay.relay.httpPort, form(next), proxied, '127.0.0.3');
      assert.equal(signedIn.status, 303, JSON.stringify(next));
      assert.equal(signedIn.headers.location, '/console', JSON.stringify(next));
      assert.equal(signedIn.headers['x-injected'], undefined);
    }
    for (const page of ['/console/messages?status=failed', '/console/quarantine/7', '/console/queue']) {
      const kept = await signIn(relay.relay.httpPort, form(page), proxied, '127.0.0.3');
      assert.equal(kept.headers.location, page);
    }
  });

  test('an asset name that is a property of every object is no asset: 404, without signing in', async () => {
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      const response = await fetch(`http://127.0.0.1:${relay.relay.httpPort}/console/assets/${name}`);
      assert.equal(response.status, 404, name);
    }
    assert.equal((await fetch(`http://127.0.0.1:${relay.relay.httpPort}/console/assets/console.css`)).status, 200);
  });

  test("a console user whose account cannot test-send stops the start, naming the user, the account and the fix; the account's first address, or a sender it allows, starts", async () => {
    const dir = tempDir();
    const hash = await hashPassword(PASSWORD);
    const load = (senders: readonly string[] | undefined, sender?: string) =>
      loadConfig(
        relayEnvironment(dir, {
          accounts: [{ username: 'tester', passwordHash: hash, ...(senders && { senders }) }],
          console: { users: [{ name: 'olivia', passwordHash: hash, role: 'operator', account: 'tester', ...(sender && { sender }) }] },
        }),
        dir,
      );
    const refusal = (senders: readonly string[] | undefined, sender?: string) => {
      try {
        load(senders, sender);
      } catch (error) {
        assert.ok(error instanceof ConfigError);
        return error.problems.map((problem) => problem.replace(/^.*smsrelay\.yaml: /, ''));
      }
      assert.fail('the config loaded');
    };
    try {
      assert.deepEqual(refusal(['@example.com']), [
        'console.users.0.sender: test sends of console user olivia go out as account tester, but its senders (@example.com) name no single address: set sender to the address they are sent from',
      ]);
      assert.deepEqual(refusal(undefined), [
        'console.users.0.sender: test sends of console user olivia go out as account tester, but it lists no senders: set sender to the address they are sent from',
      ]);
      assert.deepEqual(refusal(['@example.com'], 'alerts@example.org'), [
        'console.users.0.sender: test sends of console user olivia go out as account tester, which may not send from alerts@example.org (its senders: @example.com): set sender to one of its addresses',
      ]);
      assert.equal(load(['@example.com'], 'alerts@example.com').config.console.users[0]?.sender, 'alerts@example.com');
      assert.equal(load(undefined, 'alerts@example.com').config.console.users[0]?.sender, 'alerts@example.com');
      assert.equal(load(['@example.com', 'ups@example.com']).config.console.users[0]?.sender, undefined);
    } finally {
      removeDir(dir);
    }
  });

  test('an invalid console.users entry stops the start with one line naming it', () => {
    const dir = tempDir();
    try {
      const env = relayEnvironment(dir, { console: { users: [{ name: 'olivia', passwordHash: 'hunter2', role: 'admin' }] } });
      assert.throws(
        () => loadConfig(env, dir),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.problems.some((problem) => /console\.users\.0\.passwordHash: expected a hash made by `smsrelay hash-password`/.test(problem)) &&
          error.problems.some((problem) => /console\.users\.0\.role: expected viewer or operator/.test(problem)),
      );
    } finally {
      removeDir(dir);
    }
  });
});

describe('console requests while another process holds the store locked past store.busyTimeout', () => {
  test('a sign-in, a test send, a page whose session is due a save and a form get the 503 STORE_BUSY with Retry-After: 15; no guess is checked uncounted', async () => {
    const dir = tempDir();
    const logs: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    let now = Date.now();
    const yaml = {
      store: { busyTimeout: '200ms' },
      sms: { domains: ['sms.localhost'] },
      accounts: [{ username: 'erp', passwordHash: await hashPassword(PASSWORD), senders: ['alerts@erp.example.com'] }],
      console: {
        sessionIdleTimeout: '1m',
        users: [{ name: 'olivia', passwordHash: await hashPassword(PASSWORD), role: 'operator', account: 'erp' }],
      },
    };
    const { config } = loadConfig(relayEnvironment(dir, yaml), dir);
    const relay = await startRelay(config, createLogger('debug', sink), { loginPause: async () => undefined, consoleClock: () => now });
    const port = relay.httpPort;
    const lock = new BetterSqlite3(join(config.dataDir, STORE_FILE), { timeout: 5_000 });
    try {
      const signedIn = await signIn(port, `name=olivia&password=${encodeURIComponent(PASSWORD)}`);
      assert.equal(signedIn.status, 303);
      const cookie = String(signedIn.headers['set-cookie'] ?? '').split(';')[0] ?? '';
      const csrf = /name="_csrf" value="([^"]+)"/.exec((await send(port, 'GET', '/console/queue', '', { cookie }, '127.0.0.1')).body)?.[1] ?? '';
      lock.exec('BEGIN IMMEDIATE');
      const json = { accept: 'application/json' };
      for (const password of ['wrong password', PASSWORD]) {
        const answer = await signIn(port, `name=olivia&password=${encodeURIComponent(password)}`, json);
        assert.equal(answer.status, 503, answer.body);
        assert.equal((JSON.parse(answer.body) as { error: string }).error, 'STORE_BUSY');
        assert.equal(answer.headers['retry-after'], '15');
      }
      // The session not due a save: a test send's store failure comes back as its outcome, not thrown: told when to come back all the same.
      for (const accept of ['application/json', 'text/html']) {
        const send = await post(port, '/console/send', `_csrf=${csrf}&to=447700900123&text=hello`, { cookie, accept });
        assert.equal(send.status, 503, send.body);
        assert.match(send.body, /store is busy/);
        assert.equal(send.headers['retry-after'], '15', `test send answering ${accept}`);
      }
      // Past the session's save interval (a tenth of the idle timeout): the next request writes its last use.
      now += 10_000;
      const page = await send(port, 'GET', '/console/queue', '', { cookie, accept: 'text/html' }, '127.0.0.1');
      assert.equal(page.status, 503);
      assert.equal(page.headers['retry-after'], '15');
      assert.match(page.body, /The relay keeps trying the store; this page tries again every 15 s/);
      const form = await post(port, '/console/queue', `_csrf=${csrf}&action=pause`, { cookie, ...json });
      assert.equal(form.status, 503, form.body);
      assert.equal((JSON.parse(form.body) as { error: string }).error, 'STORE_BUSY');
      assert.equal(form.headers['retry-after'], '15', 'a script is told when to come back as a browser is');
      lock.exec('ROLLBACK');
      assert.deepEqual(
        logs.filter((line) => line['level'] === 'error' && JSON.stringify(line).includes('"stack"')),
        [],
        'a store failure is logged as its code and reason, never a stack',
      );
      // Refused before the password was checked: neither sign-in was a guess, so none is counted or logged as failed.
      assert.equal(logs.filter((line) => line['msg'] === 'console: sign-in failed').length, 0);
      const failures = new BetterSqlite3(join(config.dataDir, STORE_FILE), { readonly: true });
      try {
        assert.equal((failures.prepare('SELECT COUNT(*) AS n FROM console_login_failures').get() as { n: number }).n, 0);
      } finally {
        failures.close();
      }
      assert.equal((await signIn(port, 'name=olivia&password=wrong')).status, 401, 'once the lock is gone, a wrong password is one');
    } finally {
      if (lock.inTransaction) lock.exec('ROLLBACK');
      lock.close();
      await relay.stop();
      removeDir(dir);
    }
  });
});
