/**
 * Rolling upgrades (#18 item 6): the database records beside its version the lowest schema a relay must
 * know to use it. An older relay runs on a newer schema whose newer steps were all additive, and is
 * refused, saying how to upgrade, when one was breaking; a newer relay does not run a breaking step
 * under relays that cannot read its result.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { type AddressInfo, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { MIGRATIONS } from '../../src/store/migrations.ts';
import { DB_NOW_MS } from '../../src/store/postgres/clock.ts';
import { migrate, SchemaError } from '../../src/store/postgres/migrate.ts';
import { PostgresStore, StoreConfigError } from '../../src/store/postgres/store.ts';
import { ADDITIVE_MIGRATIONS, BREAKING_MIGRATIONS, FIRST_CLASSIFIED, minimumReader } from '../../src/store/schema-readers.ts';
import { freshDatabase, withClient, describeOnPostgres } from '../helpers/postgres.ts';
import { killSpawnedRelays, relayEnvironment, removeDir, spawnRelay, tempDir } from '../helpers/relay.ts';
import {
  assertPartsKeepContextAfterSchema17,
  assertReportsKeptAfterSchema25,
  mail,
  NONE_HELD,
  ORPHAN_REPORT_OF_SCHEMA_24,
  REPORT_INSERT_OF_SCHEMA_24,
} from '../helpers/store.ts';

const KNOWN = MIGRATIONS.length;
/** How often a relay the tests play writes its heartbeat: well within the join's look (JOIN_LOOK_MS, 1 s). */
const HEARTBEAT_MS = 200;

test('every migration since the rule says whether an older relay still reads the schema', () => {
  for (let step = FIRST_CLASSIFIED; step <= KNOWN; step++) {
    assert.notEqual(
      ADDITIVE_MIGRATIONS.has(step),
      BREAKING_MIGRATIONS.has(step),
      `migration ${step}: in ADDITIVE_MIGRATIONS or BREAKING_MIGRATIONS (src/store/schema-readers.ts)`,
    );
  }
  assert.equal(minimumReader(FIRST_CLASSIFIED - 1), FIRST_CLASSIFIED - 1, 'before the rule a relay must know every step');
  assert.equal(minimumReader(12), 11, 'migration 12 (relays) is additive');
  assert.equal(minimumReader(KNOWN + 1), KNOWN + 1, 'an unclassified step counts as breaking');
});

describeOnPostgres('schema versions on PostgreSQL', async () => {
  const schemaRow = (url: string) =>
    withClient(
      url,
      async (client) => (await client.query<{ version: number; min_reader: number }>('SELECT version::int, min_reader::int FROM smsrelay_schema')).rows[0],
    );

  test('an older relay runs on a newer schema it can read, and is refused with the upgrade order on one it cannot', async () => {
    const url = (await freshDatabase()) ?? '';
    await (await PostgresStore.open({ url })).close();
    assert.deepEqual(await schemaRow(url), { version: KNOWN, min_reader: minimumReader(KNOWN) });

    // A newer relay added an additive step: this one reads on.
    await withClient(url, (client) => client.query(`UPDATE smsrelay_schema SET version = ${KNOWN + 1}, min_reader = ${KNOWN}`));
    const older = await PostgresStore.open({ url });
    try {
      assert.deepEqual(await older.acceptMail(mail(['+447700900001'], { receivedAt: Date.now() })), { duplicateOf: undefined });
    } finally {
      await older.close();
    }
    assert.equal((await schemaRow(url))?.version, KNOWN + 1, 'the older relay did not touch the version');

    // A breaking one: refused, saying how to upgrade.
    await withClient(url, (client) => client.query(`UPDATE smsrelay_schema SET min_reader = ${KNOWN + 1}`));
    await assert.rejects(PostgresStore.open({ url }), (error: unknown) => {
      assert.ok(error instanceof StoreConfigError);
      assert.equal(
        error.message,
        `the database was written by a newer smsrelay (schema ${KNOWN + 1}, read by relays that know schema ${KNOWN + 1} or later; this one knows ${KNOWN}): stop every relay, upgrade them all, then start them (docs/several-relays.md#rolling-upgrade)`,
      );
      return true;
    });
  });

  test('a database of schema 16 is migrated by a relay: the parts it kept read on without a context, new parts keep theirs', async () => {
    const url = (await freshDatabase()) ?? '';
    await withClient(url, async (client) => {
      await migrate(client, { create: true, migrations: MIGRATIONS.slice(0, 16) });
      await client.query("INSERT INTO part_sets (id, provider, sender, reference, total, first_seen) VALUES (1, 'smpp', '+447700900501', 5, 2, 1000)");
      await client.query("INSERT INTO sms_parts (set_id, part_index, provider_id, text, sent_at, received_at) VALUES (1, 1, 'p5-1', 'before ', NULL, 1000)");
    });
    assert.equal((await schemaRow(url))?.version, 16);
    const store = await PostgresStore.open({ url });
    try {
      await assertPartsKeepContextAfterSchema17(store);
    } finally {
      await store.close();
    }
    assert.deepEqual(await schemaRow(url), { version: KNOWN, min_reader: minimumReader(KNOWN) });
  });

  test('a database of schema 24 is migrated by a relay: the receipts it kept stay, and a final receipt is no repeat of an interim one', async () => {
    const url = (await freshDatabase()) ?? '';
    await withClient(url, async (client) => {
      await migrate(client, { create: true, migrations: MIGRATIONS.slice(0, 24) });
      await client.query(ORPHAN_REPORT_OF_SCHEMA_24);
    });
    const store = await PostgresStore.open({ url });
    try {
      await assertReportsKeptAfterSchema25(store);
      await withClient(url, async (client) =>
        assert.equal((await client.query(REPORT_INSERT_OF_SCHEMA_24)).rowCount, 1, 'an older relay still records its reports'),
      );
    } finally {
      await store.close();
    }
    assert.deepEqual(await schemaRow(url), { version: KNOWN, min_reader: minimumReader(KNOWN) });
  });

  test('a newer relay does not run a breaking step while a relay that cannot read it runs; it does once that relay stopped', async () => {
    const url = (await freshDatabase()) ?? '';
    const running = await PostgresStore.open({ url });
    const alpha = {
      name: 'alpha',
      instance: 'a1',
      version: '1.0.0',
      schema: KNOWN,
      startedAt: Date.now(),
      pid: 1,
      host: 'h1',
      mail: 'smarthost',
      settings: '{}',
    } as const;
    await running.heartbeat(alpha, 30_000, NONE_HELD);
    const newer = [...MIGRATIONS, 'CREATE TABLE renamed_things (id INTEGER PRIMARY KEY) STRICT;'];
    await withClient(url, async (client) => {
      await assert.rejects(
        migrate(client, { create: true, migrations: newer }),
        (error: unknown) =>
          error instanceof SchemaError &&
          error.message ===
            `schema ${KNOWN + 1} (this relay's) cannot be read by relays still running on this database: alpha (schema ${KNOWN}); stop every relay, upgrade them all, then start them (docs/several-relays.md#rolling-upgrade)`,
      );
      assert.equal((await schemaRow(url))?.version, KNOWN, 'nothing migrated');
      await running.leaveCluster(alpha);
      assert.deepEqual(await migrate(client, { create: true, migrations: newer }), { from: KNOWN, to: KNOWN + 1 });
    });
    await running.close();
    assert.deepEqual(await schemaRow(url), { version: KNOWN + 1, min_reader: KNOWN + 1 });
    await assert.rejects(PostgresStore.open({ url }), /read by relays that know schema \d+ or later/);
  });
});

describeOnPostgres('upgrading a database of an older release', async () => {
  const BIN = fileURLToPath(new URL('../../bin/smsrelay.js', import.meta.url));
  after(killSpawnedRelays);
  /** A database of schema `steps.length` as a release from before the minimum reader left it (no min_reader column). */
  const olderDatabase = async (steps: readonly string[]) => {
    const url = (await freshDatabase()) ?? '';
    await withClient(url, async (client) => {
      await migrate(client, { create: true, migrations: steps });
      await client.query('ALTER TABLE smsrelay_schema DROP COLUMN min_reader');
    });
    return url;
  };
  const recorded = (url: string) =>
    withClient(url, async (client) => (await client.query<{ version: string }>('SELECT * FROM smsrelay_schema')).rows[0] as Record<string, unknown>);

  test('the commands leave it as it is (one line: its schema, this one, start upgrades it, exit 78; config check shows the configuration and that start will upgrade it); start upgrades it, logging the upgrade and that relays of before the rule must be stopped', async () => {
    const url = await olderDatabase(MIGRATIONS.slice(0, 9));
    const dir = tempDir();
    try {
      const env = relayEnvironment(dir, {}, { SMSRELAY_DATABASE_URL: url });
      for (const args of [['status'], ['queue', 'list'], ['queue', 'pause']]) {
        const result = spawnSync(process.execPath, [BIN, ...args], {
          cwd: dir,
          env: { PATH: process.env.PATH ?? '', ...env },
          encoding: 'utf8',
          timeout: 60_000,
        });
        assert.equal(result.status, 78, `${args.join(' ')}: ${result.stderr}`);
        assert.match(
          result.stderr.trim(),
          new RegExp(
            `^smsrelay: config: SMSRELAY_DATABASE_URL="[^"]+": the database is at schema 9, this version needs ${KNOWN}: \`smsrelay start\` upgrades it, for good; back up first \\(pg_dump --format=custom --file=smsrelay\\.dump '<store\\.url>'\\), then stop every relay, upgrade them all, then start them \\(docs/several-relays\\.md#rolling-upgrade\\)$`,
          ),
        );
        assert.deepEqual(await recorded(url), { version: '9' }, `${args.join(' ')} changed nothing, not even the version table`);
      }
      const check = spawnSync(process.execPath, [BIN, 'config', 'check'], {
        cwd: dir,
        env: { PATH: process.env.PATH ?? '', ...env },
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.equal(check.status, 0, check.stderr);
      const lines = check.stdout.trimEnd().split('\n');
      assert.equal(lines.at(-1), `store: schema 9: \`smsrelay start\` will upgrade it from 9 to ${KNOWN}; back up first (docs/operations.md#upgrading)`);
      assert.match(lines.slice(0, -1).join('\n'), /"url": "postgres:/);
      assert.deepEqual(await recorded(url), { version: '9' }, 'config check changed nothing');
      const relay = await spawnRelay(dir, env);
      try {
        const lines = relay.logs.filter((entry) => String(entry.msg).startsWith('store: '));
        assert.deepEqual(
          lines.map((entry) => [entry.level, entry.msg]),
          [
            ['info', `store: schema 9 → ${KNOWN} (migrations 10–${KNOWN})`],
            [
              'warn',
              'store: the database was at schema 9, from before relays recorded which schema they read: this relay cannot know whether relays of that release still run on it; stop them all before they write (docs/several-relays.md#rolling-upgrade)',
            ],
          ],
        );
      } finally {
        await relay.stop();
      }
      assert.deepEqual(await recorded(url), { version: String(KNOWN), min_reader: String(minimumReader(KNOWN)) });
    } finally {
      removeDir(dir);
    }
  });

  test('a start refused beside the relays on it (a Maildir, a live relay of its name) or for a port in use leaves it at its schema; config check says the Maildir refusals first; status names the rolling upgrade', async () => {
    const older = KNOWN - 2;
    const url = (await freshDatabase()) ?? '';
    await withClient(url, async (client) => {
      await migrate(client, { create: true, migrations: MIGRATIONS.slice(0, older) });
      // A relay of that release, elsewhere, delivering its own mail to its Maildir.
      await client.query(
        `INSERT INTO relays (name, instance, version, schema_version, started_at, heartbeat_at, stopped_at, pid, host, mail)
          VALUES ('old', 'o1', '0.9.0', ${older}, ${DB_NOW_MS}, ${DB_NOW_MS}, NULL, 1, 'elsewhere', 'maildir')`,
      );
    });
    // That relay runs: its heartbeat moves, as a live relay's does, for as long as the test.
    const beating = setInterval(
      () => void withClient(url, (client) => client.query(`UPDATE relays SET heartbeat_at = ${DB_NOW_MS} WHERE name = 'old'`)).catch(() => undefined),
      HEARTBEAT_MS,
    );
    const version = async () => (await recorded(url)).version;
    const dir = tempDir();
    const run = (env: Record<string, string>, ...args: string[]) =>
      spawnSync(process.execPath, [BIN, ...args], { cwd: dir, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 60_000 });
    /** A start that must be refused before it migrates: its one line, the schema as it was. */
    const refusedStart = async (env: Record<string, string>, line: RegExp) => {
      await assert.rejects(spawnRelay(dir, env), (error: Error) => {
        assert.match(error.message, new RegExp(`^relay exited \\(78\\) before it was ready: ${line.source}\\n$`));
        return true;
      });
      assert.equal(await version(), String(older), 'the start left the schema as it was');
    };
    const smarthost = 'smtp://127.0.0.1:2525';
    const maildir = relayEnvironment(dir, {}, { SMSRELAY_DATABASE_URL: url, SMSRELAY_RELAY_NAME: 'new' });
    const withSmarthost = { ...maildir, SMSRELAY_MAIL_URL: smarthost };
    const unset =
      /smsrelay: config: mail\.url \(the default; set SMSRELAY_MAIL_URL or mail\.url in [^)]+\): unset \(a Maildir in the data directory\), but relays old share this database: a relay's own mail goes through the smarthost when several relays run; set mail\.url on every relay/;
    const other =
      /smsrelay: config: SMSRELAY_MAIL_URL="[^"]+": relay old on this database delivers its own mail to a Maildir: a relay's own mail goes through the smarthost when several relays run; set mail\.url on it and restart it first/;
    try {
      for (const [env, line] of [
        [maildir, unset],
        [withSmarthost, other],
      ] as const) {
        const check = run(env, 'config', 'check');
        assert.equal(check.status, 78, check.stderr);
        assert.match(check.stderr, new RegExp(`^${line.source}$`, 'm'));
        assert.equal(
          check.stdout.trimEnd().split('\n').at(-1),
          `store: schema ${older}: \`smsrelay start\` will upgrade it from ${older} to ${KNOWN}; back up first (docs/operations.md#upgrading)`,
        );
        await refusedStart(env, line);
      }
      // The relay being upgraded is the one of its own name: config check leaves it aside, and start waits for it to stop.
      const check = run({ ...withSmarthost, SMSRELAY_RELAY_NAME: 'old' }, 'config', 'check');
      assert.equal(check.status, 0, check.stderr);
      await refusedStart(
        { ...withSmarthost, SMSRELAY_RELAY_NAME: 'old' },
        /smsrelay: config: SMSRELAY_RELAY_NAME="old": another relay named "old" is running on this database \(pid 1 on elsewhere\): give each relay its own store\.relayName/,
      );
      await withClient(url, (client) => client.query(`UPDATE relays SET mail = 'smarthost' WHERE name = 'old'`));
      const taken = createServer();
      await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
      const port = (taken.address() as AddressInfo).port;
      try {
        await refusedStart(
          { ...withSmarthost, SMSRELAY_HTTP_PORT: String(port) },
          new RegExp(
            `smsrelay: config: SMSRELAY_HTTP_PORT="${port}": the HTTP listener cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use by another program \\(another relay on this machine\\?\\); stop it or choose another port`,
          ),
        );
      } finally {
        taken.close();
      }
      // Halfway through a rolling upgrade the commands that read the tables name it, not a stop.
      const status = run(withSmarthost, 'status');
      assert.equal(status.status, 78, status.stderr);
      assert.match(
        status.stderr,
        new RegExp(
          `the database is at schema ${older}, this version needs ${KNOWN}: \`smsrelay start\` upgrades it, for good; back up first \\(pg_dump [^)]+\\), then upgrade one relay at a time: the first upgraded relay migrates it, and the relays of schema ${older} keep running beside it \\(docs/several-relays\\.md#rolling-upgrade\\)$`,
          'm',
        ),
      );
      const relay = await spawnRelay(dir, withSmarthost);
      try {
        assert.deepEqual(
          relay.logs.filter((entry) => String(entry.msg).startsWith('store: ')).map((entry) => entry.msg),
          [`store: schema ${older} → ${KNOWN} (migrations ${older + 1}–${KNOWN})`],
        );
      } finally {
        await relay.stop();
      }
      assert.equal(await version(), String(KNOWN));
    } finally {
      clearInterval(beating);
      removeDir(dir);
    }
  });

  test("a migration that fails stops the relay's start in one line naming store.url, the step and the fix, exit 78; the database is as it was", async () => {
    // Schema 13 with a table its migration 14 creates already there.
    const url = await olderDatabase([...MIGRATIONS.slice(0, 12), `${MIGRATIONS[12] ?? ''}; CREATE TABLE sent_parts (id BIGINT)`]);
    const dir = tempDir();
    try {
      await assert.rejects(
        spawnRelay(dir, relayEnvironment(dir, {}, { SMSRELAY_DATABASE_URL: url })),
        new RegExp(
          `relay exited \\(78\\) before it was ready: smsrelay: config: SMSRELAY_DATABASE_URL="[^"]+": migration 14 of 14–${KNOWN} failed \\(relation "sent_parts" already exists\\); nothing was changed, the store is still at schema 13: run the release that wrote it on it, or restore a backup taken before the upgrade, and report this line \\(docs/operations\\.md#upgrading\\)\\n$`,
        ),
      );
      assert.deepEqual(await recorded(url), { version: '13' }, 'the version table as it was (its min_reader column added in the rolled-back transaction)');
    } finally {
      removeDir(dir);
    }
  });

  test("a database of the schema 12 of development builds stops the relay's start in one line naming store.url and the way out, exit 78; the database is as it was", async () => {
    // Schema 12 as the shared-state commits (a16ed74 … c4487b5) numbered it: rate_events, where this version's 12 is relays and 13 adds rate_events.
    const url = await olderDatabase([...MIGRATIONS.slice(0, 11), MIGRATIONS[12] ?? '']);
    const dir = tempDir();
    try {
      await assert.rejects(
        spawnRelay(dir, relayEnvironment(dir, {}, { SMSRELAY_DATABASE_URL: url })),
        /relay exited \(78\) before it was ready: smsrelay: config: SMSRELAY_DATABASE_URL="[^"]+": the database is at the schema 12 of the development builds a16ed74 to c4487b5 \(it holds rate_events and no relays\), which no release upgrades: keep running the build that wrote it on it, or start this release on a new store once that relay has sent its queue \(docs\/several-relays\.md#rolling-upgrade\)\n$/,
      );
      assert.deepEqual(await recorded(url), { version: '12' }, 'the version table as it was');
    } finally {
      removeDir(dir);
    }
  });
});
