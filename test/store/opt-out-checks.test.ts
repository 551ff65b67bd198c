/**
 * #15: the opt-out check at RCPT. On SQLite the store thread's client remembers the numbers it was
 * told are not opted out (src/store/threaded.ts), so a regular recipient's check needs no round trip
 * to the thread; every STOP or START received makes it forget. The same sequence holds on every store.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { NotOptedOut } from '../../src/store/not-opted-out.ts';
import { openThreadedStore } from '../../src/store/threaded.ts';
import type { Store } from '../../src/store/types.ts';
import { keyword, OPT_OUT_PHONE } from '../helpers/opt-outs.ts';
import { storeFile } from '../helpers/store.ts';
import { forEachStore } from '../helpers/stores.ts';

const PHONE = OPT_OUT_PHONE;

/** Checks, a STOP, checks, a START, checks: each answer as the store holds it at that moment. */
async function checkAroundKeywords(store: Store): Promise<void> {
  assert.equal(await store.isOptedOut(PHONE), false);
  assert.equal(await store.isOptedOut(PHONE), false);
  await store.acceptInbound(keyword('stop'));
  assert.equal(await store.isOptedOut(PHONE), true);
  assert.equal(await store.optOutKeyword(PHONE), 'STOP', 'the keyword it texted, for the RCPT refusal to name');
  assert.equal(await store.isOptedOut('+447700900124'), false);
  await store.acceptInbound(keyword('start'));
  assert.equal(await store.isOptedOut(PHONE), false);
  assert.equal(await store.optOutKeyword(PHONE), undefined);
  await store.acceptInbound(keyword('stop'));
  assert.equal(await store.isOptedOut(PHONE), true);
}

describe('opt-out checks around STOP and START', () => {
  forEachStore((kind) => {
    test(`${kind.name}: a STOP counts at the next check, a START too`, async () => {
      const store = await kind.fresh();
      try {
        await checkAroundKeywords(store);
      } finally {
        await store.close();
      }
    });

    test(`${kind.name}: a provider's refusal as opted out counts at the next check, and a START undoes it`, async () => {
      const store = await kind.fresh();
      try {
        assert.equal(await store.isOptedOut(PHONE), false);
        await store.recordOptOut(PHONE, 1_000, 'TWILIO:21610');
        await store.recordOptOut(PHONE, 2_000, 'TWILIO:21610');
        assert.equal(await store.isOptedOut(PHONE), true);
        await store.acceptInbound(keyword('start'));
        assert.equal(await store.isOptedOut(PHONE), false);
      } finally {
        await store.close();
      }
    });
  });
});

describe('SQLite on its thread: numbers not opted out are remembered', () => {
  const stores: Store[] = [];
  after(() => Promise.all(stores.map((store) => store.close())));
  const open = async () => {
    const store = await openThreadedStore({ file: storeFile(), busyTimeoutMs: 100 });
    stores.push(store);
    return store;
  };
  /** Whether the check was answered before a round trip to the thread could be (it is sent by a setImmediate). */
  const answeredAtOnce = async (check: Promise<boolean>) => {
    const first = await Promise.race([check.then((optedOut) => ({ optedOut })), new Promise((resolve) => setImmediate(() => resolve('the thread')))]);
    await check;
    return first;
  };

  test('a number checked before is answered without the thread; a STOP or START forgets it', async () => {
    const store = await open();
    await checkAroundKeywords(store);
    await store.acceptInbound(keyword('start'));
    assert.equal(await answeredAtOnce(store.isOptedOut(PHONE)), 'the thread');
    assert.deepEqual(await answeredAtOnce(store.isOptedOut(PHONE)), { optedOut: false });
    // A STOP from another number forgets every number too: it is rare, and safe whatever its spelling.
    await store.acceptInbound(keyword('stop', '+447700900125'));
    assert.equal(await answeredAtOnce(store.isOptedOut(PHONE)), 'the thread');
  });

  test('an answer asked while a STOP was being written is not remembered', async () => {
    const store = await open();
    assert.equal(await store.isOptedOut(PHONE), false);
    await store.acceptInbound(keyword('start'));
    // Both checks leave in the STOP's message, one before it, one after it; the thread answers them
    // before the STOP's commit (a read sees what is committed): "not opted out" both, neither remembered.
    const before = store.isOptedOut(PHONE);
    const stop = store.acceptInbound(keyword('stop'));
    const during = store.isOptedOut(PHONE);
    assert.equal(await before, false);
    assert.equal(await during, false);
    await stop;
    assert.equal(await answeredAtOnce(store.isOptedOut(PHONE)), 'the thread');
    assert.equal(await store.isOptedOut(PHONE), true);
  });
});

describe('NotOptedOut with a time limit (PostgreSQL: a change elsewhere whose notice was lost)', () => {
  test('an answer is trusted for rememberMs by the clock given, then the store is asked again', async () => {
    let now = 0;
    const remembered = new NotOptedOut({ rememberMs: 30_000, clock: () => now });
    let asked = 0;
    const ask = async () => {
      asked += 1;
      return false;
    };
    assert.equal(await remembered.check(PHONE, ask), false);
    now = 29_999;
    assert.equal(await remembered.check(PHONE, ask), false);
    assert.equal(asked, 1);
    now = 30_000;
    assert.equal(await remembered.check(PHONE, ask), false);
    assert.equal(asked, 2);
    remembered.forget();
    assert.equal(await remembered.check(PHONE, ask), false);
    assert.equal(asked, 3);
  });
});
