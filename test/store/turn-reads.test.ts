import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KEYS, TurnReads } from '../../src/store/postgres/turn-reads.ts';
import { PostgresStore } from '../../src/store/postgres/store.ts';
import type { NewInbound } from '../../src/store/types.ts';
import { describeOnPostgres } from '../helpers/postgres.ts';

const received = (provider: string, providerId: string): NewInbound => ({
  id: `in-${provider}-${providerId}`,
  provider,
  providerId,
  number: '+447700900100',
  text: 'hello',
  sentAt: undefined,
  userContext: undefined,
  receivedAt: 1_000,
  route: undefined,
});

/** Turn reads over a pool whose every connection fails with `error`, counting the reads run alone. */
function failingReads(error: Error) {
  const counted = { alone: 0 };
  const reads = new TurnReads({
    pool: { connect: () => Promise.reject(error) } as never,
    types: {} as never,
    alone: async () => {
      counted.alone++;
      throw error;
    },
    isConnectionError: () => true,
    failed: (failure) => failure,
  });
  return { reads, counted };
}

const QUESTION = `SELECT k AS key FROM t WHERE k IN (${KEYS})`;

test('a turn read of several keys lost with its connection fails every key at once, not once more per key alone', async () => {
  const { reads, counted } = failingReads(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }));
  const settled = await Promise.allSettled([...Array.from({ length: 17 }, (_, index) => reads.has(QUESTION, [], `K${index}`)), reads.rows('SELECT 1', [])]);
  assert.ok(settled.every((one) => one.status === 'rejected'));
  assert.equal(counted.alone, 0);
});

test('a turn read of several keys the server refuses for a value (class 22) asks each key alone, to find the faulty one', async () => {
  const { reads, counted } = failingReads(Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code: '22021' }));
  await Promise.allSettled([reads.has(QUESTION, [], 'A'), reads.has(QUESTION, [], 'B'), reads.has(QUESTION, [], 'C')]);
  assert.equal(counted.alone, 4, 'the read of three keys, then each of them alone');
});

describeOnPostgres('turn reads on PostgreSQL', async (url) => {
  test('40 keys of one provider (two reads, padded), repeated keys, a NUL key and another provider are each answered their own', async () => {
    const store = await PostgresStore.open({ url });
    try {
      for (const index of [0, 31, 32, 39]) await store.acceptInbound(received('p', `K${index}`));
      await store.acceptInbound(received('q', 'K5'));
      const keys = Array.from({ length: 40 }, (_, index) => `K${index}`);
      const settled = await Promise.allSettled([
        ...keys.map((key) => store.knowsInbound('p', key)),
        store.knowsInbound('p', 'K39'),
        store.knowsInbound('p', 'K1'),
        store.knowsInbound('p', 'BAD\u0000'),
        store.knowsInbound('q', 'K5'),
        store.knowsInbound('q', 'K0'),
      ]);
      const values = settled.map((one) => (one.status === 'fulfilled' ? one.value : 'rejected'));
      assert.deepEqual(values, [...keys.map((_, index) => [0, 31, 32, 39].includes(index)), true, false, 'rejected', true, false]);
    } finally {
      await store.close();
    }
  });

  test('a provider id with a lone surrogate (a JSON webhook\'s "\\ud800") received before is a repeat', async () => {
    const store = await PostgresStore.open({ url });
    try {
      await store.acceptInbound(received('p', 'S\uD800'));
      assert.equal(await store.knowsInbound('p', 'S\uD800'), true);
    } finally {
      await store.close();
    }
  });
});
