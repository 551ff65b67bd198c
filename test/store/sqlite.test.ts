import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { RelayError } from '../../src/errors.ts';
import { MIGRATIONS } from '../../src/store/migrations.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { mail, storeFile } from '../helpers/store.ts';

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

  test('a store locked by someone else fails writes with STORE_UNAVAILABLE, and recovers', async () => {
    const intruder = new BetterSqlite3(file);
    intruder.exec('BEGIN IMMEDIATE');
    await assert.rejects(store.acceptMail(mail(['+447700900123'])), (error: unknown) => {
      assert.ok(error instanceof RelayError);
      assert.equal(error.code, 'STORE_UNAVAILABLE');
      return true;
    });
    intruder.exec('ROLLBACK');
    intruder.close();
    await store.acceptMail(mail(['+447700900123']));
    await store.close();
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
