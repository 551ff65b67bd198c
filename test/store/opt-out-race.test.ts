/**
 * Two relays on one PostgreSQL database: one takes a START while the other records a provider's opt-out of the
 * same number dated before it (a receipt the provider posted again). Whichever transaction is in flight when the
 * other runs, the START stands once both committed: the number is not opted out.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { optOutLock, PostgresStore } from '../../src/store/postgres/store.ts';
import { keyword } from '../helpers/opt-outs.ts';
import { describeOnPostgres } from '../helpers/postgres.ts';

/** Long enough for the store's statement to reach the server and wait there, were it to wait. */
const IN_FLIGHT_MS = 300;

describeOnPostgres("a START and a provider's opt-out of one number at once, on two relays", (url) => {
  /** Another relay's transaction, held open between `work` and its commit, on a connection of its own. */
  const otherRelay = async (number: string, work: (client: pg.Client) => Promise<void>) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query('BEGIN');
    const lock = optOutLock(number);
    await client.query(lock.text, [...lock.values]);
    await work(client);
    return {
      /** Read on this connection, past the store's memory of numbers not opted out. */
      optedOut: async () => (await client.query('SELECT 1 FROM opt_outs WHERE number = $1', [number])).rows.length > 0,
      commit: () => client.query('COMMIT'),
      end: () => client.end(),
    };
  };
  test('a START in flight while an opt-out dated before it is recorded: the START stands', async () => {
    const store = await PostgresStore.open({ url });
    const number = '+447700900796';
    try {
      await store.recordOptOut(number, 1_000, 'STOP');
      // The other relay's START at 5,000 (its statements as acceptInbound's: the lock, the STOP deleted, the time kept).
      const start = await otherRelay(number, async (client) => {
        await client.query('DELETE FROM opt_outs WHERE number = $1', [number]);
        await client.query(
          'INSERT INTO opt_ins (number, since) VALUES ($1, 5000) ON CONFLICT (number) DO UPDATE SET since = GREATEST(opt_ins.since, excluded.since)',
          [number],
        );
      });
      // A receipt dated 2,000, before the START, recorded meanwhile.
      const pending = store.recordOptOut(number, 2_000, 'gateway:VONAGE:err-code 9');
      await new Promise((resolve) => setTimeout(resolve, IN_FLIGHT_MS));
      await start.commit();
      assert.equal(await pending, false, 'dated before the START, it does not count');
      assert.equal(await start.optedOut(), false);
      await start.end();
    } finally {
      await store.close();
    }
  });

  test('an opt-out dated before a START in flight while the START is taken: the START stands', async () => {
    const store = await PostgresStore.open({ url });
    const number = '+447700900797';
    try {
      // The other relay records a receipt dated 2,000 (recordOptOut's statements: the lock, the opt-out).
      const opted = await otherRelay(number, async (client) => {
        await client.query('INSERT INTO opt_outs (number, since, keyword) VALUES ($1, 2000, $2) ON CONFLICT (number) DO NOTHING', [
          number,
          'gateway:VONAGE:err-code 9',
        ]);
      });
      // This relay's START (received at 3,000 and after), taken meanwhile.
      const pending = store.acceptInbound(keyword('start', number));
      await new Promise((resolve) => setTimeout(resolve, IN_FLIGHT_MS));
      await opted.commit();
      assert.deepEqual(await pending, { duplicate: false });
      assert.equal(await opted.optedOut(), false, 'the START removed the opt-out committed before it, which it waited for');
      await opted.end();
    } finally {
      await store.close();
    }
  });
});
