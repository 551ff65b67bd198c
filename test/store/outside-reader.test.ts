/**
 * An operator's `sqlite3` read of a running relay's store (docs/operations.md suggests `PRAGMA freelist_count`) is a
 * reader that comes and goes: it must leave the relay's WAL alone, as SQLite does while any other connection is open.
 * On Linux closing any descriptor of a file drops every POSIX lock the process holds on it: a relay that opened the
 * store with fs beside its connection lost its shared lock, the reader's close then took itself for the last
 * connection, checkpointed and deleted the WAL, and the relay declared its store lost (451 for ever).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { freePort, GATEWAY_ACCOUNT, httpStatus, killSpawnedRelays, relayEnvironment, removeDir, spawnRelay, tempDir } from '../helpers/relay.ts';
import { sendMail } from '../helpers/smtp.ts';

const dirs: string[] = [];
after(() => {
  killSpawnedRelays();
  dirs.forEach(removeDir);
});

/** One read by another process that opens the store, reads and closes: the `sqlite3` shell where installed, else Python's sqlite3 module. */
function readFromOutside(store: string): void {
  const shell = spawnSync('sqlite3', [store, 'PRAGMA freelist_count'], { encoding: 'utf8' });
  if (shell.error === undefined) {
    assert.equal(shell.status, 0, shell.stderr);
    return;
  }
  const python = spawnSync(
    'python3',
    ['-c', 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("PRAGMA freelist_count").fetchall(); c.close()', store],
    { encoding: 'utf8' },
  );
  assert.equal(python.status, 0, `neither sqlite3 nor python3 read the store: ${shell.error.message}; ${python.error?.message ?? python.stderr}`);
}

test("an outside reader's open and close of the store leaves the running relay's WAL, and the next mail gets 250", async () => {
  const dir = tempDir('smsrelay-outside-reader-');
  dirs.push(dir);
  // A gateway that never answers: what is accepted stays queued.
  const env = relayEnvironment(dir, {
    gateway: { provider: 'intellisoftware', url: `http://127.0.0.1:${await freePort()}`, ...GATEWAY_ACCOUNT, connectTimeout: '1s' },
  });
  const store = join(dir, 'data', 'smsrelay.db');
  const relay = await spawnRelay(dir, env);
  const first = await sendMail(relay.smtpPort, { to: ['447700900300@sms.localhost'], body: 'before the read' });
  assert.equal(first.data?.code, 250, first.data?.text);
  const wal = statSync(`${store}-wal`);

  readFromOutside(store);

  assert.ok(existsSync(`${store}-wal`) && existsSync(`${store}-shm`), 'the WAL and its index are still there');
  assert.equal(statSync(`${store}-wal`).ino, wal.ino, 'the same WAL, not one made again');
  const second = await sendMail(relay.smtpPort, { to: ['447700900301@sms.localhost'], body: 'after the read' });
  assert.equal(second.data?.code, 250, second.data?.text);
  assert.equal(await httpStatus(relay.httpPort, '/readyz'), 200);
  assert.equal(await relay.stop(), 0);
});
