/** Console access rules over real HTTP (issue #19): off without users, TLS-only sign-in off loopback, throttle, config errors. */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { hashPassword } from '../../src/policy/passwords.ts';
import { relayEnvironment, removeDir, startTestRelay, type TestRelay, tempDir } from '../helpers/relay.ts';

const PASSWORD = 'correct horse battery';

/** A form POST from a chosen local address (127.0.0.2 stands for a remote client). */
function post(port: number, path: string, form: string, headers: Record<string, string> = {}, localAddress = '127.0.0.1') {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, method: 'POST', localAddress, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } },
      (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => {
          body += chunk.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(form);
  });
}

describe('console access', () => {
  let relay: TestRelay;
  let off: TestRelay;
  const pauses: number[] = [];

  before(async () => {
    const hash = await hashPassword(PASSWORD);
    relay = await startTestRelay({ console: { users: [{ name: 'olivia', passwordHash: hash, role: 'operator' }] } }, {}, tempDir(), {
      loginPause: async (ms) => {
        pauses.push(ms);
      },
    });
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
    const remote = await post(relay.relay.httpPort, '/console/signin', form, { 'x-forwarded-proto': 'https' }, '127.0.0.2');
    assert.equal(remote.status, 403);
    assert.match(remote.body, /Sign-in needs HTTPS/);
    assert.equal(remote.headers['set-cookie'], undefined);
    const local = await post(relay.relay.httpPort, '/console/signin', form);
    assert.equal(local.status, 303);
    assert.match(String(local.headers['set-cookie']), /HttpOnly; SameSite=Strict/);
  });

  test('a POST without a session is 401; too many failed sign-ins get 429 with a wait', async () => {
    const anonymous = await post(relay.relay.httpPort, '/console/queue', 'action=pause', { accept: 'application/json' });
    assert.equal(anonymous.status, 401);
    assert.equal(JSON.parse(anonymous.body).message, 'Sign in first');
    for (let attempt = 0; attempt < 10; attempt++) {
      const wrong = await post(relay.relay.httpPort, '/console/signin', 'name=olivia&password=wrong-password', {}, '127.0.0.1');
      assert.equal(wrong.status, 401);
    }
    assert.equal(pauses.length, 10, 'each failure was slowed');
    const blocked = await post(relay.relay.httpPort, '/console/signin', `name=olivia&password=${encodeURIComponent(PASSWORD)}`);
    assert.equal(blocked.status, 429);
    assert.match(blocked.body, /wait 15 minutes/);
    assert.ok(Number(blocked.headers['retry-after']) > 0);
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
