import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { MIGRATIONS } from '../../src/store/migrations.ts';
import { migrate } from '../../src/store/postgres/migrate.ts';
import { PostgresStore } from '../../src/store/postgres/store.ts';
import { describeOnPostgres, freshDatabase, withClient } from '../helpers/postgres.ts';
import { waitFor } from '../helpers/wait.ts';

/** The upgrade's own bound on a step's lock wait (migrate.ts STEP_LOCK_TIMEOUT_MS), unless the database's settings make it shorter. */
const STEP_LOCK_TIMEOUT_MS = 2_000;

/** The indexes of the mails' table. */
async function messageIndexes(url: string): Promise<string[]> {
  const indexes = await withClient(url, (client) => client.query<{ name: string }>("SELECT indexname AS name FROM pg_indexes WHERE tablename = 'messages'"));
  return indexes.rows.map((row) => row.name);
}

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
      const names = await messageIndexes(url);
      assert.ok(names.includes('messages_sender_lower') && !names.includes('messages_sender'), names.join(', '));
    } finally {
      await older.end();
    }
  });
});

describeOnPostgres('schema 35 on PostgreSQL behind a session that holds the mails (an idle transaction, a pg_dump)', async () => {
  /**
   * A database at schema 34 (with `settings` for its new sessions) and a session of application `report` that read a
   * mail in a transaction it leaves open, holding ACCESS SHARE on messages; an older relay's accept, a write to
   * messages, every 100 ms meanwhile. The upgrade starts as a relay's start does (PostgresStore.open), then the session
   * ends after `holdMs`. Returns the warnings, the longest write, and the health once the upgrade is done.
   */
  async function upgradeBehindIdleReader(settings: Record<string, string>, holdMs: number) {
    const url = (await freshDatabase()) ?? '';
    await withClient(url, async (client) => {
      await migrate(client, { create: true, migrations: MIGRATIONS.slice(0, 35 - 1) });
      for (const [name, value] of Object.entries(settings))
        await client.query(`DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET ${name} = %L', current_database(), '${value}'); END $$`);
    });
    const holder = new pg.Client({ connectionString: url, application_name: 'report' });
    const writer = new pg.Client({ connectionString: url });
    await holder.connect();
    await writer.connect();
    const waits: Array<{ waitingFor: string; reason: string }> = [];
    let health = '';
    let opening: Promise<PostgresStore | undefined> | undefined;
    let writing = true;
    const writes: number[] = [];
    try {
      const holderPid = Number((await holder.query('SELECT pg_backend_pid() AS pid')).rows[0].pid);
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM messages LIMIT 1');
      const written = (async () => {
        while (writing) {
          const started = Date.now();
          await writer.query('INSERT INTO messages SELECT * FROM messages WHERE false');
          writes.push(Date.now() - started);
          await sleep(100);
        }
        // A write cut off as the test ends early (its session ended) counts as none.
      })().catch(() => undefined);
      // Not awaited: a start that waits for the lock (no lock_timeout) opens only once the session ends.
      opening = PostgresStore.open({ url, onWaiting: (waitingFor, reason) => waits.push({ waitingFor, reason }) }, (told) => {
        health = told.state;
      });
      const refused = opening.then(
        () => new Promise<never>(() => undefined),
        (error: unknown) => assert.fail(`the start was refused: ${String(error)}`),
      );
      await Promise.race([waitFor('the lock wait warned', () => waits.length > 0, 15_000), refused]);
      await sleep(holdMs);
      await holder.query('COMMIT');
      await waitFor('the upgrade done once the session ended', () => health === 'ok', 40_000);
      writing = false;
      await written;
      return {
        holderPid,
        waits,
        longestWrite: Math.max(...writes),
        writes: writes.length,
        schema: await schemaVersion(url),
        indexes: await messageIndexes(url),
      };
    } finally {
      writing = false;
      await holder.end();
      await writer.end();
      await (await opening?.catch(() => undefined))?.close();
    }
  }

  async function schemaVersion(url: string): Promise<number> {
    return withClient(url, async (client) => Number((await client.query('SELECT version FROM smsrelay_schema')).rows[0].version));
  }

  for (const { settings, lockTimeout, name } of [
    { settings: {}, lockTimeout: STEP_LOCK_TIMEOUT_MS, name: 'no timeouts set' },
    // upgrade finding 1b: a lock wait past statement_timeout was refused for good as a slow step (exit 78).
    { settings: { statement_timeout: '1s' }, lockTimeout: 500, name: "the database's statement_timeout 1 s" },
  ]) {
    test(`${name}: the upgrade waits its lock_timeout, warns naming the session, tries again and completes once the session ends; the other relays' writes each wait at most the lock_timeout`, async () => {
      const result = await upgradeBehindIdleReader(settings, 5_000);
      assert.equal(result.waits.length, 1, JSON.stringify(result.waits));
      const [wait] = result.waits;
      assert.equal(wait?.waitingFor, "a lock another session holds on the store's tables, held past lock_timeout");
      assert.match(
        wait?.reason ?? '',
        new RegExp(
          `^migration 35 of 35–35 waited ${lockTimeout >= 1_000 ? `${lockTimeout / 1_000}s` : `${lockTimeout}ms`} \\(lock_timeout\\) for a lock on the store's tables and was rolled back, the store still at schema 34; held by pid ${result.holderPid} \\(application_name "report", idle in transaction, its transaction open since \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ: AccessShareLock on messages\\): end that transaction \\(COMMIT or ROLLBACK it in its session, or SELECT pg_terminate_backend\\(${result.holderPid}\\)\\)`,
        ),
      );
      assert.equal(result.schema, 35);
      assert.ok(result.indexes.includes('messages_sender_lower') && !result.indexes.includes('messages_sender'), result.indexes.join(', '));
      // An older relay's accept: never stalled for as long as the session held the mails, only up to the step's lock wait at each try.
      assert.ok(result.writes >= 20, `${result.writes} writes`);
      assert.ok(result.longestWrite < lockTimeout + 1_000, `the longest write took ${result.longestWrite} ms`);
    });
  }
});
