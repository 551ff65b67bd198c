import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { MIGRATIONS } from '../../src/store/migrations.ts';
import { migrate } from '../../src/store/postgres/migrate.ts';
import { describeOnPostgres, withClient } from '../helpers/postgres.ts';

describeOnPostgres('schema 35 on PostgreSQL: the sender index', async (url) => {
  test("an older relay's accept (it reads messages, then writes it, in one transaction) while the upgrade builds the index is waited for, never a deadlock", async () => {
    await withClient(url, (client) => migrate(client, { create: true, migrations: MIGRATIONS.slice(0, 35 - 1) }));
    const older = new pg.Client({ connectionString: url });
    await older.connect();
    try {
      await older.query('BEGIN');
      await older.query('SELECT count(*) FROM messages');
      const upgrade = withClient(url, (client) => migrate(client, { create: true, migrations: MIGRATIONS }));
      // The upgrade is at its step now, waiting on the older relay's read; the older relay then writes.
      await sleep(300);
      await older.query('INSERT INTO messages SELECT * FROM messages WHERE false');
      await older.query('COMMIT');
      assert.deepEqual(await upgrade, { from: 34, to: MIGRATIONS.length });
      const indexes = await withClient(url, (client) =>
        client.query<{ name: string }>("SELECT indexname AS name FROM pg_indexes WHERE tablename = 'messages'"),
      );
      const names = indexes.rows.map((row) => row.name);
      assert.ok(names.includes('messages_sender_lower') && !names.includes('messages_sender'), names.join(', '));
    } finally {
      await older.end();
    }
  });
});
