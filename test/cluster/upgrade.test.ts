/**
 * Rolling upgrades (#18 item 6): the database records beside its version the lowest schema a relay must
 * know to use it. An older relay runs on a newer schema whose newer steps were all additive, and is
 * refused, saying how to upgrade, when one was breaking; a newer relay does not run a breaking step
 * under relays that cannot read its result.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MIGRATIONS } from '../../src/store/migrations.ts';
import { migrate, SchemaError } from '../../src/store/postgres/migrate.ts';
import { PostgresStore, StoreConfigError } from '../../src/store/postgres/store.ts';
import { ADDITIVE_MIGRATIONS, BREAKING_MIGRATIONS, FIRST_CLASSIFIED, minimumReader } from '../../src/store/schema-readers.ts';
import { freshDatabase, withClient, describeOnPostgres } from '../helpers/postgres.ts';
import { assertPartsKeepContextAfterSchema17, mail, NONE_HELD } from '../helpers/store.ts';

const KNOWN = MIGRATIONS.length;

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
