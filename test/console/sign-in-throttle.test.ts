/**
 * The console's sign-in throttle over the store, as relays sharing a database run it: each relay's throttle writes an
 * attempt before its password is checked, pending, so that an attempt in flight on one relay neither blocks a correct
 * password on another nor is forgotten by its success, and a correct one whose last write fails is never a failure.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { consoleLoginFailures } from '../../src/console/access.ts';
import { RelayError } from '../../src/errors.ts';
import { LoginThrottle, MAX_LOGIN_FAILURES } from '../../src/policy/logins.ts';
import type { ConsoleStore } from '../../src/store/console-types.ts';
import { SqliteConsoleStore } from '../../src/store/sqlite-console.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import type { Store } from '../../src/store/types.ts';
import { storeFile } from '../helpers/store.ts';
import { forEachStore } from '../helpers/stores.ts';

const ADDRESS = '192.0.2.40';
const NOW = 9_000_000;
const wrong = async () => undefined;
const right = async () => 'olivia';

/** A password check that waits for `release`: the sign-in is in flight, its attempt written, from `started` on. */
function heldCheck<T>(who: T | undefined) {
  let started!: () => void;
  let release!: () => void;
  const running = new Promise<void>((resolve) => {
    started = resolve;
  });
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const check = async () => {
    started();
    await released;
    return who;
  };
  return { check, running, release };
}

describe('console sign-in throttle on one store shared by two relays', () => {
  forEachStore((kind) => {
    let store: Store;
    let consoles: ConsoleStore[];
    /** Each relay's throttle, on its own console store on the one database. */
    let relayA: LoginThrottle;
    let relayB: LoginThrottle;

    beforeEach(async () => {
      store = await kind.fresh();
      consoles = [kind.console(), kind.console()];
      [relayA, relayB] = consoles.map((console) => new LoginThrottle(consoleLoginFailures(console))) as [LoginThrottle, LoginThrottle];
    });
    afterEach(async () => {
      for (const console of consoles) await console.close();
      await store.close();
    });

    const failures = async () => (await (consoles[0] as ConsoleStore).loginFailures(ADDRESS, 0)).length;

    test(`${kind.name}: a correct sign-in in flight on one relay does not make another refuse a correct password as blocked`, async () => {
      for (let n = 1; n < MAX_LOGIN_FAILURES; n++) await relayA.attempt(ADDRESS, 'olivia', NOW + n, wrong);
      const held = heldCheck('olivia');
      const inFlight = relayA.attempt(ADDRESS, 'olivia', NOW + 100, held.check);
      await held.running;
      assert.deepEqual(await relayB.attempt(ADDRESS, 'olivia', NOW + 101, right), { outcome: 'passed', who: 'olivia' });
      held.release();
      assert.deepEqual(await inFlight, { outcome: 'passed', who: 'olivia' });
      assert.equal(await failures(), 0, 'both successes leave no failure');
    });

    test(`${kind.name}: a success on one relay does not forget a wrong attempt in flight on another`, async () => {
      await relayA.attempt(ADDRESS, 'olivia', NOW, wrong);
      const held = heldCheck(undefined);
      const inFlight = relayA.attempt(ADDRESS, 'olivia', NOW + 1, held.check);
      await held.running;
      assert.deepEqual(await relayB.attempt(ADDRESS, 'olivia', NOW + 2, right), { outcome: 'passed', who: 'olivia' }, 'forgets the failure before it');
      held.release();
      assert.deepEqual(await inFlight, { outcome: 'failed', delayMs: 500 }, 'the first failure since the success');
      assert.equal(await failures(), 1, 'the wrong attempt is counted');
    });

    test(`${kind.name}: a correct sign-in whose write after the check fails leaves no failure counted`, async () => {
      const closing = kind.console();
      const held = heldCheck('olivia');
      const inFlight = new LoginThrottle(consoleLoginFailures(closing)).attempt(ADDRESS, 'olivia', NOW, held.check);
      await held.running;
      // The store goes away between the check and its write: the attempt cannot be forgotten.
      await closing.close();
      held.release();
      await assert.rejects(inFlight);
      assert.equal(await failures(), 0);
      assert.equal((await relayB.attempt(ADDRESS, 'olivia', NOW + 1, wrong)).outcome, 'failed');
      assert.equal(await failures(), 1, 'only the later wrong one');
    });
  });
});

test('a console store that cannot take the attempt refuses it before its password is checked', async () => {
  const file = storeFile();
  const store = SqliteStore.open({ file, busyTimeoutMs: 100 });
  const console = SqliteConsoleStore.open(file, 100);
  const other = new BetterSqlite3(file, { timeout: 5_000 });
  try {
    const logins = new LoginThrottle(consoleLoginFailures(console));
    let checks = 0;
    const counted = async () => {
      checks++;
      return 'olivia';
    };
    // Another process holds the store's write lock past busyTimeout: the attempt is the store's failure, unchecked.
    other.exec('BEGIN IMMEDIATE');
    await assert.rejects(logins.attempt(ADDRESS, 'olivia', NOW, counted), (error: unknown) => error instanceof RelayError && error.code === 'STORE_BUSY');
    assert.equal(checks, 0, 'no password is checked that could not be counted');
    other.exec('ROLLBACK');
    assert.deepEqual(await logins.attempt(ADDRESS, 'olivia', NOW + 1, wrong), { outcome: 'failed', delayMs: 500 }, 'counted once');
    assert.deepEqual(await logins.attempt(ADDRESS, 'olivia', NOW + 2, counted), { outcome: 'passed', who: 'olivia' });
    assert.deepEqual(await console.loginFailures(ADDRESS, 0), [], 'a success forgets its own attempt and the earlier failure');
  } finally {
    if (other.inTransaction) other.exec('ROLLBACK');
    other.close();
    await console.close();
    await store.close();
  }
});
