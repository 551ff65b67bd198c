import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { sqliteLimit } from '../../src/store/sqlite-admin.ts';

const STORE = join(import.meta.dirname, '../../src/store');

test("the SQLite store's statements give a LIMIT of a bound parameter as sqliteLimit writes it: a bare one is compiled again at every run", () => {
  const bare: string[] = [];
  for (const name of readdirSync(STORE).filter((file) => /^sqlite.*\.ts$/.test(file))) {
    readFileSync(join(STORE, name), 'utf8')
      .split('\n')
      .forEach((line, index) => {
        if (/\bLIMIT\s+[?@:$]/i.test(line)) bare.push(`${name}:${index + 1}: ${line.trim()}`);
      });
  }
  assert.deepEqual(bare, []);
});

test('sqliteLimit limits as a bare parameter does, named or positional', () => {
  const db = new BetterSqlite3(':memory:');
  db.exec('CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1), (2), (3)');
  assert.deepEqual(
    db
      .prepare(`SELECT n FROM t ORDER BY n ${sqliteLimit('?')}`)
      .pluck()
      .all(2),
    [1, 2],
  );
  assert.deepEqual(
    db
      .prepare(`SELECT n FROM t ORDER BY n ${sqliteLimit('@limit')}`)
      .pluck()
      .all({ limit: 1 }),
    [1],
  );
  db.close();
});
