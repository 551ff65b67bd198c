import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { beforeEach, describe, test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { resubmissionOf } from '../../src/acceptance/resubmission-fingerprint.ts';
import { failureLogFields, RelayError, StoreFileError } from '../../src/errors.ts';
import { MIGRATIONS } from '../../src/store/migrations.ts';
import { asStoreError } from '../../src/store/rows.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { SqliteConsoleStore } from '../../src/store/sqlite-console.ts';
import { RESUBMISSION_WALK_ROWS, type StoreHealth } from '../../src/store/types.ts';
import { waitFor } from '../helpers/relay.ts';
import {
  assertPartsKeepContextAfterSchema17,
  assertReportsKeptAfterSchema25,
  mail,
  ORPHAN_REPORT_OF_SCHEMA_24,
  REPORT_INSERT_OF_SCHEMA_24,
  storeFile,
} from '../helpers/store.ts';

/** What only SQLite has (its journal, its file locks, its version pragma); the contract is in contract.test.ts. */
describe('SQLite store', () => {
  let file: string;
  let store: SqliteStore;
  beforeEach(async () => {
    file = storeFile();
    store = SqliteStore.open({ file, busyTimeoutMs: 100 });
  });

  test('uses WAL with synchronous=FULL, and records its schema version', async () => {
    assert.deepEqual(await store.durability(), { journalMode: 'wal', synchronous: 'FULL' });
    await store.close();
    const db = new BetterSqlite3(file);
    assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
    db.close();
  });

  test('a store locked by someone else fails writes with STORE_BUSY, and recovers', async () => {
    const intruder = new BetterSqlite3(file);
    intruder.exec('BEGIN IMMEDIATE');
    await assert.rejects(store.acceptMail(mail(['+447700900123'])), (error: unknown) => {
      assert.ok(error instanceof RelayError);
      assert.equal(error.code, 'STORE_BUSY');
      return true;
    });
    intruder.exec('ROLLBACK');
    intruder.close();
    await store.acceptMail(mail(['+447700900123']));
    await store.close();
  });

  for (const suffix of ['-wal', '-shm']) {
    test(`its ${suffix} file deleted under it: the next commit fails, the store is lost, and the copy holds what was committed before`, async () => {
      await store.close();
      const healths: StoreHealth[] = [];
      store = SqliteStore.open({ file, busyTimeoutMs: 100 }, (health) => healths.push(health));
      const committed = mail(['+447700900123']);
      await store.acceptMail(committed);
      rmSync(`${file}${suffix}`);
      await assert.rejects(store.acceptMail(mail(['+447700900124'])), (error: unknown) => error instanceof RelayError && error.code === 'STORE_UNAVAILABLE');
      const lost = await waitFor('the copy', () => healths.find((health) => health.state === 'lost' && health.recovery));
      assert.ok(lost.state === 'lost' && lost.recovery && 'file' in lost.recovery, JSON.stringify(lost));
      assert.equal(lost.reason, `its file ${file}${suffix} was deleted while the relay ran`);
      await store.close();
      assert.ok(existsSync(lost.recovery.file));
      const copy = new BetterSqlite3(lost.recovery.file, { readonly: true });
      assert.deepEqual(copy.prepare('SELECT id FROM messages').pluck().all(), [committed.id]);
      copy.close();
    });
  }

  test('the fsync follows what a commit holds: a mail, a failure, a bounce are synced; a lease and a sent outcome alone are not', async () => {
    const synced = async () => {
      const { commits, synced } = await store.commitStats();
      return { commits, synced };
    };
    const claim = (now: number) => store.claimDueSms({ owner: 'test', now, leaseUntil: now + 60_000, maxBatches: 10, batchSize: 1 });
    await store.acceptMail(mail(['+447700900123', '+447700900124']));
    assert.deepEqual(await synced(), { commits: 1, synced: 1 }, 'a mail before its 250');
    const [first, second] = (await claim(2_000)).flatMap((batch) => batch.sms);
    assert.ok(first && second);
    assert.deepEqual(await synced(), { commits: 2, synced: 1 }, 'a lease');
    await store.recordSmsOutcomes([{ smsId: first.id, kind: 'sent', providerId: 'p1' }]);
    assert.deepEqual(await synced(), { commits: 3, synced: 1 }, 'the gateway took it');
    const bounce = { kind: 'bounce', messageId: undefined, envelopeFrom: '', recipients: ['alice@example.com'], raw: Buffer.from('bounce') } as const;
    await store.recordSmsOutcomes([{ smsId: second.id, kind: 'sent', providerId: 'p2' }], [bounce]);
    assert.deepEqual(await synced(), { commits: 4, synced: 2 }, 'a sent outcome that queues a mail');
    await store.acceptMail(mail(['+447700900125']));
    const [third] = (await claim(3_000)).flatMap((batch) => batch.sms);
    assert.ok(third);
    await store.recordSmsOutcomes([{ smsId: third.id, kind: 'failed', error: 'ERR: no such number' }]);
    assert.deepEqual(await synced(), { commits: 7, synced: 4 }, 'a mail, a lease, a failure');
    // One turn: a lease and a mail share a commit, which the mail makes synced.
    const [accepted] = await Promise.all([store.acceptMail(mail(['+447700900126'])), claim(4_000)]);
    assert.equal(accepted.duplicateOf, undefined);
    assert.deepEqual(await synced(), { commits: 8, synced: 5 });
    // The bounce was queued at the real time (the store's own clock).
    const [queued] = await store.claimDueMail({ owner: 'test', now: Date.now(), leaseUntil: Date.now() + 60_000, limit: 10 });
    assert.ok(queued);
    assert.deepEqual(await synced(), { commits: 9, synced: 5 }, "the mailer's lease");
    await store.recordMailOutcome({ id: queued.id, kind: 'sent', response: '250 ok' });
    assert.deepEqual(await synced(), { commits: 10, synced: 5 }, 'the smarthost took it');
    assert.deepEqual(await store.durability(), { journalMode: 'wal', synchronous: 'FULL' }, 'the connection is back at FULL between commits');
    await store.close();
  });

  test("the database file is written only by a checkpoint of 10,000 WAL pages, not by SQLite's default 1,000: a page many commits wrote is copied once", async () => {
    await store.acceptMail(mail(['+447700900100']));
    const before = readFileSync(file);
    const frames = () => Math.floor((statSync(`${file}-wal`).size - 32) / (4096 + 24));
    const unchanged = () => readFileSync(file).equals(before);
    // A checkpoint at 1,000 pages would change the file and start the WAL again before it held 2,000.
    for (let index = 1; frames() < 2_000 && unchanged(); index++) await store.acceptMail(mail([`+4477009${String(index).padStart(5, '0')}`]));
    assert.ok(unchanged(), 'no checkpoint copied pages into the file at 1,000 pages');
    await store.close();
  });

  test("a console write never checkpoints (the store's thread does): past SQLite's default 1,000 pages it leaves the database file as it was", async () => {
    await store.acceptMail(mail(['+447700900100']));
    const frames = () => Math.floor((statSync(`${file}-wal`).size - 32) / (4096 + 24));
    for (let index = 1; frames() < 1_100; index++) await store.acceptMail(mail([`+4477009${String(index).padStart(5, '0')}`]));
    const consoleStore = SqliteConsoleStore.open(file, 100);
    const before = readFileSync(file);
    await consoleStore.createSession({ id: 's1', username: 'admin', csrf: 'c', client: '203.0.113.9', createdAt: 1, lastSeenAt: 1 });
    assert.ok(readFileSync(file).equals(before), "the console's commit copied no page into the file on the main thread");
    await consoleStore.close();
    await store.close();
  });

  test('what retention erased is not left in the file, its WAL or a backup taken after, overflow pages included', async () => {
    const secret = 'the-launch-code-is-4711';
    // A long mail: its headers spill over onto overflow pages, which an erasure frees.
    const headers = `Subject: ${secret}\r\nX-Note: ${secret.repeat(400)}\r\n\r\n`;
    await store.acceptMail(
      mail(['+447700900123'], {
        subject: secret,
        headers,
        sms: { text: secret, encoding: 'gsm7', parts: 1, maxParts: 6, senderId: undefined, userContext: undefined },
      }),
    );
    const [sms] = (await store.claimDueSms({ owner: 'test', now: 2_000, leaseUntil: 62_000, maxBatches: 1, batchSize: 1 })).flatMap((batch) => batch.sms);
    await store.recordSmsOutcomes([{ smsId: sms?.id ?? 0, kind: 'sent', providerId: 'p1' }]);
    assert.ok((await store.purgeContent(Date.now(), Date.now())) > 0);
    const backup = `${file}.backup`;
    await SqliteStore.backupAsItIs(file, 100, backup);
    const holds = (path: string) => existsSync(path) && readFileSync(path).includes(secret);
    assert.deepEqual([file, `${file}-wal`, backup].filter(holds), [], 'no copy of the erased text');
    await store.close();
  });

  test("the store's files and backups are the owner's alone, the directory made for them never world-accessible; an existing store keeps its mode", async () => {
    await store.acceptMail(mail(['+447700900123']));
    const mode = (path: string) => statSync(path).mode & 0o777;
    assert.deepEqual([file, `${file}-wal`, `${file}-shm`, dirname(file)].map(mode), [0o600, 0o600, 0o600, 0o750 & ~process.umask()]);
    const backup = join(dirname(file), 'backup.db');
    writeFileSync(backup, '', { mode: 0o644 });
    await SqliteStore.backupAsItIs(file, 100, backup);
    assert.equal(mode(backup), 0o600, 'also over an older file');
    await store.close();
    chmodSync(file, 0o640);
    const reopened = SqliteStore.open({ file, busyTimeoutMs: 100 });
    await reopened.acceptMail(mail(['+447700900123']));
    assert.deepEqual([file, `${file}-wal`].map(mode), [0o640, 0o640], "the operator's choice");
    await reopened.close();
  });

  /** The SQL of every statement prepared while `work` runs (a store's statements are prepared as it opens). */
  async function preparedWhile(work: () => Promise<void>): Promise<string[]> {
    const prepared: string[] = [];
    const prepare = BetterSqlite3.prototype.prepare;
    BetterSqlite3.prototype.prepare = function (this: BetterSqlite3.Database, sql: string) {
      prepared.push(sql);
      return prepare.call(this, sql);
    } as typeof prepare;
    try {
      await work();
    } finally {
      BetterSqlite3.prototype.prepare = prepare;
    }
    return prepared;
  }

  /** `store` opened (and so migrated) on a new file made at schema `version` holding `rows` (SQL inserts). */
  async function openUpgraded(version: number, rows: readonly string[]): Promise<void> {
    await store.close();
    file = storeFile();
    mkdirSync(dirname(file), { recursive: true });
    const older = new BetterSqlite3(file);
    for (const sql of MIGRATIONS.slice(0, version)) older.exec(sql);
    older.pragma(`user_version = ${version}`);
    for (const row of rows) older.exec(row);
    older.close();
    store = SqliteStore.open({ file, busyTimeoutMs: 100 });
  }

  test('a store of schema 16 is migrated at open: the parts it kept read on without a context, new parts keep theirs', async () => {
    await openUpgraded(16, [
      "INSERT INTO part_sets (id, provider, sender, reference, total, first_seen) VALUES (1, 'smpp', '+447700900501', 5, 2, 1000)",
      "INSERT INTO sms_parts (set_id, part_index, provider_id, text, sent_at, received_at) VALUES (1, 1, 'p5-1', 'before ', NULL, 1000)",
    ]);
    await assertPartsKeepContextAfterSchema17(store);
    await store.close();
    const db = new BetterSqlite3(file);
    assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
    db.close();
  });

  test('a store of schema 24 is migrated at open: the receipts it kept stay, and a final receipt is no repeat of an interim one', async () => {
    await openUpgraded(24, [ORPHAN_REPORT_OF_SCHEMA_24]);
    await assertReportsKeptAfterSchema25(store);
    const olderRelay = new BetterSqlite3(file);
    assert.equal(olderRelay.prepare(REPORT_INSERT_OF_SCHEMA_24).run().changes, 1, 'an older relay still records its reports');
    olderRelay.close();
  });

  test('a store of schema 25 is migrated at open: its quarantined requests stay as they were, and the id of the last one deleted is not given again', async () => {
    await openUpgraded(25, [
      "INSERT INTO quarantine (id, received_at, provider, kind, reason, body, body_erased) VALUES (1, 1000, 'puzzel', 'mo', 'unreadable', 'kept', NULL)",
      "INSERT INTO quarantine (id, received_at, provider, kind, reason, body, body_erased) VALUES (2, 1000, 'puzzel', 'dr', 'unreadable', '', 1)",
    ]);
    assert.deepEqual(await store.quarantined(1), {
      id: 1,
      receivedAt: 1000,
      provider: 'puzzel',
      kind: 'mo',
      reason: 'unreadable',
      bytes: 4,
      body: Buffer.from('kept'),
    });
    assert.equal((await store.quarantined(2))?.bodyErased, true);
    assert.equal(await store.deleteQuarantined({ id: 2 }), 1);
    assert.equal(await store.quarantine({ receivedAt: 2000, provider: 'puzzel', kind: 'mo', reason: 'unreadable', body: Buffer.from('new') }), 3);
  });

  test('a store of schema 37 is migrated at open: a mail stored before is resent after it as one; one index by Message-ID', async () => {
    const [ups, two] = [['+447700900123'], ['+447700900125', '+447700900124']];
    const now = Date.now();
    const old = (id: string, at: number, messageId: string, numbers: readonly string[], text: string) => [
      `INSERT INTO messages (id, received_at, envelope_from, client_address, client_helo, message_id_header, subject, headers, text, encoding, parts, max_parts, fingerprint)
        VALUES ('${id}', ${at}, 'a@example.com', '127.0.0.1', 'client', '${messageId}', 'UPS1', '', '${text}', 'gsm7', 1, 1, '${resubmissionOf(messageId, numbers, text, 0)?.fingerprint}')`,
      ...numbers.map(
        (number) =>
          `INSERT INTO outbound (message_id, number, rcpt, status, next_attempt_at, updated_at) VALUES ('${id}', '${number}', 'a@sms', 'sent', ${at}, ${at})`,
      ),
    ];
    await openUpgraded(37, [
      ...old('m-old', now - 60_000, '<old@ups>', ups, 'On battery'),
      ...old('m-two', now - 60_000, '<two@example.com>', two, 'Backup failed'),
    ]);
    const resend = (messageId: string, numbers: readonly string[], text: string) => ({
      ...mail(numbers, { messageIdHeader: messageId, subject: 'UPS1', receivedAt: now, resubmission: resubmissionOf(messageId, numbers, text, now - 600_000) }),
    });
    assert.equal((await store.acceptMail(resend('<old@ups>', ups, 'On battery'))).duplicateOf, 'm-old', 'a resend of a mail stored before the upgrade');
    assert.equal((await store.acceptMail(resend('<two@example.com>', two, 'Backup failed'))).duplicateOf, 'm-two', 'its numbers in any order');
    await store.close();
    const db = new BetterSqlite3(file);
    assert.deepEqual(
      db
        .prepare(
          "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages' AND (sql LIKE '%message_id_header%' OR sql LIKE '%fingerprint%')",
        )
        .pluck()
        .all(),
      ['messages_message_id'],
      'one index for the Message-ID and the resubmission look-ups',
    );
    db.close();
  });

  test("a resubmission's look-up reads the index by Message-ID and time backward from its end: no sort, whatever number of mails share a Message-ID", async () => {
    await store.close();
    const looked = await preparedWhile(async () => {
      store = SqliteStore.open({ file, busyTimeoutMs: 100 });
    });
    const lookup = looked.filter((sql) => /FROM messages\s+WHERE message_id_header = @message_id_header AND received_at >= @since/.test(sql));
    assert.equal(lookup.length, 1, looked.filter((sql) => /message_id_header/.test(sql)).join('\n'));
    const messageIdHeader = '<constant@ups>';
    for (let index = 0; index < 2_000; index++)
      await store.acceptMail(
        mail(['+447700900123'], { messageIdHeader, receivedAt: index, resubmission: resubmissionOf(messageIdHeader, ['+447700900123'], `alert ${index}`, 0) }),
      );
    await store.close();
    const db = new BetterSqlite3(file);
    const plan = (
      db
        .prepare(`EXPLAIN QUERY PLAN ${lookup[0]}`)
        .all({ message_id_header: messageIdHeader, since: 0, fingerprint: 'f', date: null, text: 't', subject: null, rows: RESUBMISSION_WALK_ROWS }) as Array<{
        detail: string;
      }>
    ).map((step) => step.detail);
    assert.deepEqual(plan, ['SEARCH messages USING INDEX messages_message_id (message_id_header=? AND received_at>?)']);
    db.close();
  });

  test('a store of schema 35 is migrated at open: its leases are released at start as before, found without an index by owner, never by reading the queue whole', async () => {
    const explained = await preparedWhile(() =>
      openUpgraded(35, [
        `INSERT INTO messages (id, received_at, envelope_from, client_address, client_helo, headers, text, encoding, parts, max_parts)
          VALUES ('m1', 1000, 'a@example.com', '127.0.0.1', 'client', '', 'hello', 'gsm7', 1, 1)`,
        `INSERT INTO outbound (message_id, number, rcpt, status, next_attempt_at, lease_owner, updated_at)
          VALUES ('m1', '+447700900123', 'a@sms', 'queued', 90000, 'relay-a', 1000), ('m1', '+447700900124', 'b@sms', 'queued', 90000, 'relay-b', 1000)`,
        `INSERT INTO mail_out (created_at, kind, envelope_from, recipients, raw, status, next_attempt_at, lease_owner, updated_at)
          VALUES (1000, 'bounce', '', '[]', x'', 'queued', 90000, 'relay-a', 1000)`,
      ]),
    );
    assert.deepEqual(await store.releaseStaleLeases('relay-a', 5_000, { possiblyTwice: true }), { sms: 1, mail: 1 }, "relay-a's own, not relay-b's live one");
    await store.close();
    const db = new BetterSqlite3(file);
    const indexes = db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE '%leased'").pluck().all();
    assert.deepEqual(indexes, [], 'no index of leases by owner');
    // Every statement of the store's that looks leases up by their owner or presence (its parameters all 1: the plan is the
    // same), planned on a store of schema 35 and on this one: none reads the table whole where it did not before.
    const older = new BetterSqlite3(':memory:');
    for (const sql of MIGRATIONS.slice(0, 35)) older.exec(sql);
    const planOn = (on: BetterSqlite3.Database, sql: string) => {
      const named = [...new Set([...sql.matchAll(/[@$]([a-z]\w*)/gi)].map((match) => match[1] ?? ''))];
      const positional = (sql.replace(/'[^']*'/g, '').match(/\?/g) ?? []).length;
      const values = [...Array(positional).fill(1), ...(named.length > 0 ? [Object.fromEntries(named.map((name) => [name, 1]))] : [])];
      return (on.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...values) as Array<{ detail: string }>).map((step) => step.detail).join(' | ');
    };
    const wholeTable = /SCAN (outbound|mail_out|o|m)( \||$)/;
    const byLease = explained.filter((sql) => /lease_owner (=|IS NOT NULL)/.test(sql) && /(FROM|UPDATE) (outbound|mail_out)/.test(sql));
    const indexedBefore = byLease.filter((sql) => !wholeTable.test(planOn(older, sql)));
    assert.ok(indexedBefore.length >= 7, indexedBefore.join('\n'));
    for (const sql of indexedBefore) assert.doesNotMatch(planOn(db, sql), wholeTable, sql);
    older.close();
    db.close();
  });

  test('an upgrade is one transaction: a step that fails rolls back the steps before it, and the store is refused with the step and the fix', async () => {
    await store.close();
    file = storeFile();
    mkdirSync(dirname(file), { recursive: true });
    const older = new BetterSqlite3(file);
    for (const sql of MIGRATIONS.slice(0, 8)) older.exec(sql);
    older.pragma('user_version = 8');
    // What migration 13 creates, there before it: the step fails after 9–12 ran.
    older.exec('CREATE TABLE rate_events (id INTEGER PRIMARY KEY)');
    older.close();
    assert.throws(
      () => SqliteStore.open({ file, busyTimeoutMs: 100 }),
      (error: unknown) =>
        error instanceof StoreFileError &&
        error.message ===
          `the store ${file}: migration 13 of 9–${MIGRATIONS.length} failed (table rate_events already exists); nothing was changed, the store is still at schema 8: run the release that wrote it on it, or restore a backup taken before the upgrade, and report this line (docs/operations.md#upgrading)`,
    );
    const db = new BetterSqlite3(file, { readonly: true });
    assert.equal(db.pragma('user_version', { simple: true }), 8);
    assert.deepEqual(
      db.prepare("SELECT name FROM sqlite_master WHERE name IN ('relays', 'part_sets', 'inbound_conversation')").pluck().all(),
      [],
      'steps 9–12 rolled back',
    );
    db.close();
    store = SqliteStore.open({ file: storeFile(), busyTimeoutMs: 100 });
  });

  test('a database written by a newer relay is refused rather than misread', async () => {
    await store.close();
    const db = new BetterSqlite3(file);
    db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    db.close();
    assert.throws(() => SqliteStore.open({ file, busyTimeoutMs: 100 }), /newer smsrelay/);
    store = SqliteStore.open({ file: storeFile(), busyTimeoutMs: 100 });
    await store.close();
  });
});

describe('store failures as the client is told them', () => {
  test("SQLite's full database is DISK_FULL (452 4.3.1, as the watermark answers), its lock past busyTimeout STORE_BUSY; the rest STORE_UNAVAILABLE", () => {
    const file = storeFile();
    mkdirSync(dirname(file), { recursive: true });
    const db = new BetterSqlite3(file, { timeout: 50 });
    const other = new BetterSqlite3(file, { timeout: 50 });
    try {
      db.exec('CREATE TABLE filler (text TEXT)');
      db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true })}`);
      const full = (() => {
        try {
          db.prepare('INSERT INTO filler VALUES (?)').run('x'.repeat(64 * 1024));
        } catch (error) {
          return asStoreError(error);
        }
      })();
      assert.equal(full?.code, 'DISK_FULL');
      assert.equal(full?.publicReason, 'Insufficient system storage: the relay is not taking mail until disk space is freed; try again later');
      other.exec('BEGIN EXCLUSIVE');
      const busy = (() => {
        try {
          db.prepare('SELECT COUNT(*) FROM filler').get();
        } catch (error) {
          return asStoreError(error);
        }
      })();
      assert.equal(busy?.code, 'STORE_BUSY');
      assert.match(busy?.message ?? '', /database is locked/, "the database's words stay in the detail, for the log");
      assert.equal(asStoreError(new Error('disk I/O error')).code, 'STORE_UNAVAILABLE');
    } finally {
      other.close();
      db.close();
    }
  });
});

test("a full disk is logged in the database's words, not in the reply a client gets", () => {
  // A database allowed two pages: the next write fails SQLITE_FULL, as on a full disk.
  const db = new BetterSqlite3(':memory:');
  try {
    db.exec('CREATE TABLE filler (text TEXT); PRAGMA max_page_count = 2');
    let full: unknown;
    try {
      db.prepare('INSERT INTO filler VALUES (?)').run('x'.repeat(64 * 1024));
    } catch (error) {
      full = asStoreError(error);
    }
    assert.ok(full instanceof RelayError && full.code === 'DISK_FULL', String(full));
    const fields = failureLogFields(full);
    assert.ok('reason' in fields, 'no stack for the outage');
    assert.match(fields.reason, /full/);
    assert.doesNotMatch(fields.reason, /Insufficient system storage/);
  } finally {
    db.close();
  }
});
