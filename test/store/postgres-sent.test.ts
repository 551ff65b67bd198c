import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ONE_SMS_SENT, PostgresStore, SMS_SENT } from '../../src/store/postgres/store.ts';
import { describeOnPostgres, withClient } from '../helpers/postgres.ts';
import { mail } from '../helpers/store.ts';

describeOnPostgres('The outcome of one SMS sent on PostgreSQL', async (url) => {
  test('ONE_SMS_SENT writes what SMS_SENT writes for the same SMS, and takes the same report lock', async () => {
    const store = await PostgresStore.open({ url });
    await store.acceptMail(mail(['+447700900001']));
    await store.acceptMail(mail(['+447700900002']));
    await store.close();
    const outcome = (sql: string, id: number, providerId: string, trackingId: string | null, detail: string) =>
      withClient(url, async (client) => {
        await client.query('BEGIN');
        const values: unknown[] = sql === SMS_SENT ? [5_000, [id], [providerId], [trackingId], [detail]] : [5_000, id, providerId, trackingId, detail];
        await client.query(sql, values);
        const locks = await client.query<{ objid: string }>(
          "SELECT objid::text FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted ORDER BY objid",
        );
        const written = await client.query<{ sms: Record<string, unknown>; events: Array<Record<string, unknown>> }>(
          `SELECT to_jsonb(o) - 'id' - 'message_id' - 'number' - 'rcpt' AS sms,
            (SELECT jsonb_agg(to_jsonb(e) - 'id' - 'message_id' - 'sms_id') FROM events e WHERE e.sms_id = o.id AND e.kind = 'sent') AS events
          FROM outbound o WHERE o.id = $1`,
          [id],
        );
        // The lock's key is the provider id and number hashed: the same provider id for both numbers gives different keys.
        const key = await client.query<{ key: string }>("SELECT hashtext($1 || ' ' || number)::oid::text AS key FROM outbound WHERE id = $2", [providerId, id]);
        await client.query('COMMIT');
        return { row: written.rows[0], locks: locks.rows.map((lock) => lock.objid), key: key.rows[0]?.key };
      });
    const ids = await withClient(url, async (client) =>
      (await client.query<{ id: string }>('SELECT id FROM outbound ORDER BY id')).rows.map((row) => Number(row.id)),
    );
    const [first, second] = ids as [number, number];
    const many = await outcome(SMS_SENT, first, 'p-1', 't-1', 'id p-1; a note');
    const one = await outcome(ONE_SMS_SENT, second, 'p-1', 't-1', 'id p-1; a note');
    assert.deepEqual(one.row, many.row);
    assert.equal(one.row?.sms['status'], 'sent');
    assert.equal(one.row?.events.length, 1);
    assert.deepEqual(many.locks, [many.key]);
    assert.deepEqual(one.locks, [one.key]);
  });
});
