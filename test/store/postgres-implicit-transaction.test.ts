/**
 * #17 item 8: a commit group of statements only is its round trip's implicit transaction
 * (src/store/postgres/group-writer.ts, oneRoundTrip): no BEGIN or COMMIT goes to the server, yet the
 * group is one transaction with its settings, committed before its writes are answered, rolled back
 * whole by a write's error, and its settings end with it. A group with a follow-up keeps BEGIN … COMMIT.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { GroupWriter, type Statements } from '../../src/store/postgres/group-writer.ts';
import { walkingDueIndex } from '../../src/store/postgres/store.ts';
import { describeOnPostgres, freshDatabase, withClient } from '../helpers/postgres.ts';
import { postgresProxy } from '../helpers/postgres-proxy.ts';

const SETTINGS =
  "SELECT current_setting('enable_seqscan') AS seqscan, current_setting('plan_cache_mode') AS plans, current_setting('enable_bitmapscan') AS bitmaps";

/** A write inserting `label`, answered with how many rows the insert made. */
const insert = (label: string): Statements<number | null> => ({
  statements: [{ text: 'INSERT INTO labels (label) VALUES ($1)', values: [label] }],
  result: ([inserted]) => inserted?.rowCount ?? null,
});

const settingsRead: Statements<unknown> = { statements: [{ text: SETTINGS, values: [] }], result: ([read]) => read?.rows[0] };
/** The settings as a claim reads them (walkingDueIndex), then as the group's next statement does. */
const claimSettingsRead: Statements<unknown> = {
  statements: [...walkingDueIndex({ text: SETTINGS, values: [] }), { text: SETTINGS, values: [] }],
  result: ([, during, , after]) => [during?.rows[0], after?.rows[0]],
};

/** The group writer over a pool of one connection through `url`. */
function writerOn(url: string): { writer: GroupWriter; pool: pg.Pool; errors: unknown[] } {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  const errors: unknown[] = [];
  const writer = new GroupWriter({
    pool,
    wake: () => undefined,
    isConnectionError: () => false,
    isStoreFault: () => false,
    onCommit: () => undefined,
    onServerFailure: (error) => errors.push(error),
    types: { getTypeParser: (oid, format) => pg.types.getTypeParser(oid, format) },
  });
  return { writer, pool, errors };
}

const labels = (url: string) => withClient(url, async (client) => (await client.query('SELECT label FROM labels ORDER BY id')).rows.map((row) => row.label));

describeOnPostgres('PostgreSQL: a group of statements is its round trip’s implicit transaction', async () => {
  test('no BEGIN or COMMIT is sent; the writes are committed when answered, ran with the settings, which end with the group', async () => {
    const url = (await freshDatabase()) ?? '';
    await withClient(url, (client) => client.query('CREATE TABLE labels (id bigserial PRIMARY KEY, label text UNIQUE)'));
    const proxy = await postgresProxy(url);
    const { writer, pool } = writerOn(proxy.url);
    try {
      const [first, settings, claimed, second] = await Promise.all([
        writer.run(insert('a'), []),
        writer.run(settingsRead, []),
        writer.run(claimSettingsRead, []),
        writer.run(insert('b'), []),
      ]);
      assert.deepEqual([first, second], [1, 1]);
      assert.deepEqual(settings, { seqscan: 'off', plans: 'force_generic_plan', bitmaps: 'on' });
      // A claim walks its due index without bitmaps; the group's next statement has them again.
      assert.deepEqual(claimed, [
        { seqscan: 'off', plans: 'force_generic_plan', bitmaps: 'off' },
        { seqscan: 'off', plans: 'force_generic_plan', bitmaps: 'on' },
      ]);
      assert.deepEqual(
        proxy.tags().filter((tag) => tag === 'BEGIN' || tag === 'COMMIT'),
        [],
      );
      // Committed: another connection sees them at once.
      assert.deepEqual(await labels(url), ['a', 'b']);
      // The pool's one connection, after the group: the settings were the transaction's only.
      assert.deepEqual((await pool.query(SETTINGS)).rows[0], { seqscan: 'on', plans: 'auto', bitmaps: 'on' });
    } finally {
      await writer.drained();
      await pool.end();
      await proxy.close();
    }
  });

  test("a write's error rolls back its group's implicit transaction: the others commit once each when run again alone", async () => {
    const url = (await freshDatabase()) ?? '';
    await withClient(url, (client) =>
      client.query("CREATE TABLE labels (id bigserial PRIMARY KEY, label text UNIQUE); INSERT INTO labels (label) VALUES ('taken')"),
    );
    const { writer, pool } = writerOn(url);
    try {
      const results = await Promise.allSettled([writer.run(insert('c'), []), writer.run(insert('taken'), []), writer.run(insert('d'), [])]);
      assert.deepEqual(
        results.map((result) => result.status),
        ['fulfilled', 'rejected', 'fulfilled'],
      );
      assert.deepEqual(await labels(url), ['taken', 'c', 'd']);
      // The connection is usable after the error (no transaction left open on it).
      assert.equal(await writer.run(insert('e'), []), 1);
    } finally {
      await writer.drained();
      await pool.end();
    }
  });

  test('a group of only writes nobody was promised anything on commits without waiting for the WAL flush; one other write makes the group wait', async () => {
    const url = (await freshDatabase()) ?? '';
    const { writer, pool } = writerOn(url);
    const flushWait: Statements<unknown> = {
      statements: [{ text: "SELECT current_setting('synchronous_commit') AS level", values: [] }],
      result: ([read]) => read?.rows[0]?.level,
    };
    const followed: Statements<unknown> = { statements: flushWait.statements, followUp: async ([read]) => read?.rows[0]?.level };
    const unsynced = { synced: false };
    try {
      // One turn, one group each (as of statements only, then with a follow-up): unsynced only, then mixed.
      assert.deepEqual(await Promise.all([writer.run(flushWait, [], unsynced), writer.run(flushWait, [], unsynced)]), ['off', 'off']);
      assert.deepEqual(await Promise.all([writer.run(flushWait, [], unsynced), writer.run(followed, [], unsynced)]), ['off', 'off']);
      assert.deepEqual(await Promise.all([writer.run(flushWait, [], unsynced), writer.run(flushWait, [])]), ['on', 'on']);
      assert.deepEqual(await Promise.all([writer.run(followed, [], unsynced), writer.run(flushWait, [])]), ['on', 'on']);
      // The level was the transaction's only: the pool's one connection is back at the server's.
      assert.equal((await pool.query('SHOW synchronous_commit')).rows[0]?.synchronous_commit, 'on');
    } finally {
      await writer.drained();
      await pool.end();
    }
  });

  test('a group with a follow-up (a round trip inside it) still opens with BEGIN and ends with COMMIT', async () => {
    const url = (await freshDatabase()) ?? '';
    await withClient(url, (client) => client.query('CREATE TABLE labels (id bigserial PRIMARY KEY, label text UNIQUE)'));
    const proxy = await postgresProxy(url);
    const { writer, pool } = writerOn(proxy.url);
    try {
      const followed: Statements<string> = {
        statements: [{ text: SETTINGS, values: [] }],
        followUp: async ([read], client) => {
          await client.query('INSERT INTO labels (label) VALUES ($1)', [String(read?.rows[0]?.seqscan)]);
          return 'done';
        },
      };
      assert.deepEqual(await Promise.all([writer.run(insert('f'), []), writer.run(followed, [])]), [1, 'done']);
      assert.deepEqual(
        proxy.tags().filter((tag) => tag === 'BEGIN' || tag === 'COMMIT'),
        ['BEGIN', 'COMMIT'],
      );
      assert.deepEqual(await labels(url), ['f', 'off']);
    } finally {
      await writer.drained();
      await pool.end();
      await proxy.close();
    }
  });
});
