/** A queue action on PostgreSQL while another relay claims: what the answer says of each SMS it names. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { queueAction } from '../../src/admin.ts';
import { PostgresStore } from '../../src/store/postgres/store.ts';
import { describeOnPostgres, freshDatabase } from '../helpers/postgres.ts';
import { mail } from '../helpers/store.ts';

describeOnPostgres('a retry racing a claim on PostgreSQL', async () => {
  test('an SMS another relay claims while a retry reads the queue is said once: due already, as the retry found it, never being sent too', async () => {
    const url = (await freshDatabase()) ?? '';
    const store = await PostgresStore.open({ url });
    const query = pg.Client.prototype.query;
    try {
      const message = mail(['+447700900151'], { receivedAt: 1_000 });
      await store.acceptMail(message);
      let claimed: Promise<number> | undefined;
      // Once the retry's first read of the SMS has its answer, before its transaction goes on: another relay claims the due SMS.
      (pg.Client.prototype as { query: unknown }).query = function (this: pg.Client, ...args: unknown[]) {
        const result = (query as (...values: unknown[]) => unknown).apply(this, args);
        const text = typeof args[0] === 'string' ? args[0] : ((args[0] as { text?: string } | undefined)?.text ?? '');
        if (claimed || !text.includes('FROM outbound')) return result;
        claimed = (result as Promise<unknown>).then(() =>
          store.claimDueSms({ owner: 'other', now: 2_000, leaseUntil: Date.now() + 600_000, maxBatches: 1, batchSize: 10 }).then((batches) => batches.length),
        );
        return claimed.then(() => result);
      };
      const { said } = await queueAction(store, 'retry', message.id, 2_000);
      pg.Client.prototype.query = query;
      assert.equal(await claimed, 1, 'the other relay claimed the SMS meanwhile');
      assert.equal(said, 'retry: 0 queued SMS changed; 1 due already, not retried: the next claim takes it');
    } finally {
      pg.Client.prototype.query = query;
      await store.close();
    }
  });
});
