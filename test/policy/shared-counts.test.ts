import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { RelayError } from '../../src/errors.ts';
import { LoginThrottle, MAX_LOGIN_FAILURES, sharedLoginFailures } from '../../src/policy/logins.ts';
import { RateLimits } from '../../src/policy/rates.ts';
import type { Principal } from '../../src/policy/senders.ts';
import type { SharedStateStore } from '../../src/store/shared-state-types.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { storeFile } from '../helpers/store.ts';

const store = SqliteStore.open({ file: storeFile(), busyTimeoutMs: 100 });
after(() => store.close());

/** The real store, with the calls made to it counted: the SMTP path must not pay for what it does not use. */
function counted(): { readonly store: SharedStateStore; readonly calls: string[] } {
  const calls: string[] = [];
  const proxy = new Proxy(store, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(String(name));
        return value.apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}

const principal = (limits: Partial<Pick<Principal, 'perMinute' | 'perDay' | 'dailyParts'>>, name = 'erp'): Principal =>
  ({ kind: 'account', name, perMinute: undefined, perDay: undefined, dailyParts: undefined, ...limits }) as Principal;

const refusal = (pattern: RegExp) => (error: unknown) => error instanceof RelayError && error.code === 'RATE_LIMITED' && pattern.test(error.message);

test('a principal without limits makes no store call; one with limits is counted in the store', async () => {
  const { store: spied, calls } = counted();
  const rates = new RateLimits(spied);
  assert.equal(await rates.take(principal({}, 'trusted networks'), 3, 0), undefined);
  assert.deepEqual(calls, [], 'no limits, no round trip');
  assert.ok(await rates.take(principal({ perDay: 1 }, 'counted'), 1, 0));
  assert.deepEqual(calls, ['takeRate']);
});

test('each limit refuses with the words it always had (451 4.7.1 Sending limit reached: …)', async () => {
  const rates = new RateLimits(store);
  const now = 1_000_000;
  await rates.take(principal({ perMinute: 1 }, 'minute'), 1, now);
  await assert.rejects(
    rates.take(principal({ perMinute: 1 }, 'minute'), 1, now + 1),
    refusal(/^Sending limit reached: minute may send 1 mails a minute; try again in a minute$/),
  );
  await rates.take(principal({ perDay: 1 }, 'day'), 1, now);
  await assert.rejects(
    rates.take(principal({ perDay: 1 }, 'day'), 1, now + 120_000),
    refusal(/^Sending limit reached: day may send 1 mails a day; try again later$/),
  );
  await rates.take(principal({ dailyParts: 4 }, 'parts'), 3, now);
  await assert.rejects(
    rates.take(principal({ dailyParts: 4 }, 'parts'), 2, now + 1),
    refusal(/^Sending limit reached: parts has a budget of 4 SMS parts a day \(3 used\); try again later$/),
  );
});

test('a mail whose commit failed is released: it does not count', async () => {
  const rates = new RateLimits(store);
  const ticket = await rates.take(principal({ perDay: 1 }, 'released'), 1, 5_000_000);
  await rates.release(ticket);
  assert.ok(await rates.take(principal({ perDay: 1 }, 'released'), 1, 5_000_001));
});

test('login throttle: a success without failures writes nothing; failures slow, then block, and a success forgets them', async () => {
  const { store: spied, calls } = counted();
  const logins = new LoginThrottle(sharedLoginFailures(spied));
  const now = 9_000_000;
  const right = async () => 'erp';
  const wrong = async () => undefined;
  assert.deepEqual(await logins.attempt('192.0.2.10', 'erp', now, right), { outcome: 'passed', who: 'erp' });
  assert.deepEqual(calls, ['authFailures'], 'one read, no write');
  const delays = [];
  for (let index = 0; index < MAX_LOGIN_FAILURES; index++) {
    const failed = await logins.attempt('192.0.2.10', 'erp', now + index, wrong);
    assert.equal(failed.outcome, 'failed');
    delays.push('delayMs' in failed ? failed.delayMs : undefined);
  }
  assert.deepEqual(delays.slice(0, 3), [500, 1_000, 1_500]);
  assert.equal(delays.at(-1), 5_000, 'capped');
  let checked = false;
  const blocked = await logins.attempt('192.0.2.10', 'erp', now + 20, async () => {
    checked = true;
    return 'erp';
  });
  assert.deepEqual(blocked, { outcome: 'blocked' });
  assert.equal(checked, false, 'a blocked address gets no password check');
  await store.clearAuthFailures('192.0.2.10', 'erp');
  await logins.attempt('192.0.2.10', 'erp', now + 21, wrong);
  assert.equal((await logins.attempt('192.0.2.10', 'erp', now + 22, right)).outcome, 'passed');
  assert.equal(await store.authFailures('192.0.2.10', 60_000, now + 23), 0, 'the success forgot the failure');
});

test("login throttle: one address's attempts are checked one after another, so parallel guesses are stopped after as many as sequential ones", async () => {
  const logins = new LoginThrottle(sharedLoginFailures(store));
  const now = 9_500_000;
  let checked = 0;
  // A slow check (scrypt takes ~50 ms): all the attempts are in flight at once.
  const slowWrong = async () => {
    checked++;
    await new Promise((resolve) => setTimeout(resolve, 50));
    return undefined;
  };
  const outcomes = await Promise.all(Array.from({ length: 30 }, () => logins.attempt('192.0.2.11', 'erp', now, slowWrong)));
  assert.equal(checked, MAX_LOGIN_FAILURES, 'only as many passwords checked as sequential guessing gets');
  assert.equal(outcomes.filter((attempt) => attempt.outcome === 'blocked').length, 30 - MAX_LOGIN_FAILURES);
  assert.equal((await logins.attempt('192.0.2.11', 'erp', now + 1, async () => 'erp')).outcome, 'blocked', 'even the right password');
});

test('login throttle: many sessions at once with the right password (an MTA opening connections in a burst) all pass', async () => {
  const logins = new LoginThrottle(sharedLoginFailures(store));
  const slowRight = async () => {
    await new Promise((resolve) => setTimeout(resolve, 5));
    return 'erp';
  };
  const outcomes = await Promise.all(Array.from({ length: 3 * MAX_LOGIN_FAILURES }, () => logins.attempt('192.0.2.12', 'erp', 9_600_000, slowRight)));
  assert.deepEqual(new Set(outcomes.map((attempt) => attempt.outcome)), new Set(['passed']));
});
