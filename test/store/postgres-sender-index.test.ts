import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { MIGRATIONS } from '../../src/store/migrations.ts';
import { type LookupSession, migrate } from '../../src/store/postgres/migrate.ts';
import { configProblem, PostgresStore } from '../../src/store/postgres/store.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { describeOnPostgres, freshDatabase, ownPostgres, withClient, withDatabase } from '../helpers/postgres.ts';
import { storeFile } from '../helpers/store.ts';
import { waitFor } from '../helpers/wait.ts';

const BIN = fileURLToPath(new URL('../../bin/smsrelay.js', import.meta.url));

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
          `^migration 35 of 35–${MIGRATIONS.length} waited ${lockTimeout >= 1_000 ? `${lockTimeout / 1_000}s` : `${lockTimeout}ms`} \\(lock_timeout\\) for a lock on the store's tables and was rolled back, the store still at schema 34, the other relays' statements on that table having waited with it; held by pid ${result.holderPid} \\(application_name "report", idle in transaction, its transaction open since \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ${endsSession(result.holderPid, 'AccessShareLock on messages')}`,
        ),
      );
      assert.equal(result.schema, MIGRATIONS.length);
      assert.ok(result.indexes.includes('messages_sender_lower') && !result.indexes.includes('messages_sender'), result.indexes.join(', '));
      // An older relay's accept: never stalled for as long as the session held the mails, only up to the step's lock wait at each try.
      assert.ok(result.writes >= 20, `${result.writes} writes`);
      assert.ok(result.longestWrite < lockTimeout + 1_000, `the longest write took ${result.longestWrite} ms`);
    });
  }
});

/** A session of application `name` that holds what `sql` locks in a transaction it leaves open; and its pid. */
async function holding(url: string, name: string, sql: string): Promise<{ session: pg.Client; pid: number }> {
  const session = new pg.Client({ connectionString: url, application_name: name });
  await session.connect();
  const pid = Number((await session.query('SELECT pg_backend_pid() AS pid')).rows[0].pid);
  await session.query('BEGIN');
  await session.query(sql);
  return { session, pid };
}

/** A database at schema 34, the step before the sender index's. */
async function atSchema34(): Promise<string> {
  const url = (await freshDatabase()) ?? '';
  await withClient(url, (client) => migrate(client, { create: true, migrations: MIGRATIONS.slice(0, 35 - 1) }));
  return url;
}

/** What one upgrade of `url` to `migrations` throws, its lookups on a session of their own (as a relay's start makes them). */
async function upgradeFailure(url: string, migrations: readonly string[] = MIGRATIONS, lookupSession?: () => Promise<LookupSession>): Promise<Error> {
  const lookup =
    lookupSession ??
    (async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      return { client, close: () => client.end() };
    });
  return withClient(url, (client) => migrate(client, { create: true, migrations, lookupSession: lookup })).then(
    () => assert.fail('the upgrade waits for the lock'),
    (error: unknown) => error as Error,
  );
}

/** The end of the message naming one session: its locks on the table waited for, and how to end it. */
const endsSession = (pid: number, locks: string) => `: ${locks}; end it: COMMIT or ROLLBACK it in its session, or SELECT pg_terminate_backend\\(${pid}\\)\\)`;

describeOnPostgres('an upgrade step that waits for a lock names who it waits for', async () => {
  test('the sessions the step waits for alone, one whose transaction began after the upgrade began included; not one holding another table', async () => {
    const url = await atSchema34();
    const bystander = await holding(url, 'relays-reader', 'SELECT 1 FROM relays LIMIT 1');
    let late: { session: pg.Client; pid: number } | undefined;
    try {
      // Step 35 sleeps first, then locks messages (its own step): the report begins meanwhile, after the upgrade's BEGIN.
      const failing = upgradeFailure(url, [...MIGRATIONS.slice(0, 34), 'SELECT pg_sleep(1)']);
      await sleep(300);
      late = await holding(url, 'report', 'SELECT 1 FROM messages LIMIT 1');
      const error = await failing;
      assert.match(
        error.message,
        new RegExp(
          `^migration 35 of 35–35 waited 2s \\(lock_timeout\\) for a lock on the store's tables and was rolled back, the store still at schema 34, the other relays' statements on that table having waited with it; held by pid ${late.pid} \\(application_name "report", idle in transaction, its transaction open since \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ${endsSession(late.pid, 'AccessShareLock on messages')}; or let it finish`,
        ),
      );
      assert.doesNotMatch(error.message, new RegExp(`pid ${bystander.pid}\\b`));
      assert.doesNotMatch(error.message, /ARRAY|tries again/);
    } finally {
      await bystander.session.end();
      await late?.session.end();
    }
  });

  test('a pg_dump (every table, the version table first): before migration 35, on the version table', async () => {
    const url = await atSchema34();
    const dump = await holding(url, 'pg_dump', 'SELECT 1');
    try {
      await dump.session.query('LOCK TABLE smsrelay_schema, messages IN ACCESS SHARE MODE');
      const error = await upgradeFailure(url);
      assert.match(
        error.message,
        new RegExp(
          `^the upgrade's first statement, on its version table, before migration 35 of 35–${MIGRATIONS.length} waited 2s \\(lock_timeout\\) .*held by pid ${dump.pid} \\(application_name "pg_dump", idle in transaction, its transaction open since [^:]+:\\d\\d:\\d\\dZ${endsSession(dump.pid, 'AccessShareLock on smsrelay_schema')}`,
        ),
      );
    } finally {
      await dump.session.end();
    }
  });

  test('a lookup that fails names nobody, and the wait is still one the start tries again (not a refusal)', async () => {
    const url = await atSchema34();
    const holder = await holding(url, 'report', 'SELECT 1 FROM messages LIMIT 1');
    try {
      const error = await upgradeFailure(url, MIGRATIONS, () => Promise.reject(new Error('too many connections')));
      assert.match(error.message, /waited 2s \(lock_timeout\).*; the session holding it could not be named/);
      assert.equal(configProblem(error), undefined, 'a wait, not a refusal');
      assert.equal((error.cause as { code?: string }).code, '55P03');
    } finally {
      await holder.session.end();
    }
  });

  test("store copy into a database whose tables another session holds: exit 69, naming it, nothing copied, 'run the copy again'", async () => {
    const url = await atSchema34();
    const holder = await holding(url, 'report', 'SELECT 1 FROM messages LIMIT 1');
    try {
      const file = storeFile();
      await (await SqliteStore.open({ file, busyTimeoutMs: 100 })).close();
      const copy = spawnSync(process.execPath, [BIN, 'store', 'copy', '--from', file, '--to', url], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(copy.status, 69, copy.stderr);
      assert.match(copy.stderr, new RegExp(`held by pid ${holder.pid} .*; nothing was copied: run the copy again once that session has ended`));
      assert.doesNotMatch(copy.stderr, /tries again|trying again/);
    } finally {
      await holder.session.end();
    }
  });
});

describeOnPostgres('an upgrade step that waits for a prepared transaction (two-phase commit) names its gid', async () => {
  test("its gid, with ROLLBACK PREPARED: it holds the lock with no session, past the server's restarts", async () => {
    const server = await ownPostgres();
    await withClient(server.url, (client) => client.query('ALTER SYSTEM SET max_prepared_transactions = 2'));
    await server.stop();
    await server.start();
    const url = withDatabase(server.url, 'prepared');
    await withClient(server.url, (client) => client.query('CREATE DATABASE prepared'));
    await withClient(url, (client) => migrate(client, { create: true, migrations: MIGRATIONS.slice(0, 35 - 1) }));
    const { session } = await holding(url, 'xa', 'SELECT 1 FROM messages LIMIT 1');
    await session.query("PREPARE TRANSACTION 'order''s 42'");
    await session.end();
    try {
      const error = await upgradeFailure(url);
      assert.match(
        error.message,
        /held by the prepared transaction 'order''s 42' \(prepared at [^:]+:\d\d:\d\dZ: AccessShareLock on messages; it holds its locks past its session's end and the server's restarts: end it with ROLLBACK PREPARED 'order''s 42'/,
      );
      assert.equal((error.cause as { code?: string }).code, '55P03');
    } finally {
      await withClient(url, (client) => client.query("ROLLBACK PREPARED 'order''s 42'"));
    }
  });
});

describeOnPostgres("a relay's start behind one session, then another: each named in a warning of its own", async () => {
  test('the session that holds the lock next gets its own warning (at most one per 10 s), then the upgrade completes', async () => {
    const url = await atSchema34();
    const first = await holding(url, 'report-1', 'SELECT 1 FROM messages LIMIT 1');
    let second: { session: pg.Client; pid: number } | undefined;
    const waits: string[] = [];
    let health = '';
    const opening = PostgresStore.open({ url, onWaiting: (_waitingFor, reason) => waits.push(reason) }, (told) => {
      health = told.state;
    });
    try {
      await waitFor('the first warning', () => waits.length > 0, 15_000);
      assert.match(waits[0] ?? '', new RegExp(`held by pid ${first.pid} \\(application_name "report-1"`));
      // The first session ends and another holds the mails from then on.
      second = await holding(url, 'report-2', 'SELECT 1 FROM messages LIMIT 1');
      await first.session.end();
      await waitFor('a warning naming the second session', () => waits.length > 1, 40_000);
      assert.equal(waits.length, 2, JSON.stringify(waits));
      assert.match(waits[1] ?? '', new RegExp(`held by pid ${second.pid} \\(application_name "report-2"`));
      assert.doesNotMatch(waits[1] ?? '', new RegExp(`pid ${first.pid}\\b`));
      await second.session.end();
      await waitFor('the upgrade done once the second session ended', () => health === 'ok', 40_000);
      assert.equal(waits.length, 2, JSON.stringify(waits));
    } finally {
      await first.session.end().catch(() => undefined);
      await second?.session.end().catch(() => undefined);
      await (await opening.catch(() => undefined))?.close();
    }
  });
});
