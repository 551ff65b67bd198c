import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { type CommitHealth, GroupCommitter, PROBE_INTERVAL_MS, UNSYNCED_WAIT_MS } from '../../src/store/group-commit.ts';
import { storeFile } from '../helpers/store.ts';

/** A row bigger than a page: it needs fresh pages, as a mail does. */
const BIG = 'x'.repeat(8 * 1024);

function openDb(): Database {
  const db = new BetterSqlite3(storeFile().replace(/data\/smsrelay\.db$/, 'commit.db'));
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT NOT NULL)');
  return db;
}

/** SQLite only: group commit is how the one SQLite writer batches commits (PostgreSQL runs each write as its own transaction). */
describe('group commit health', () => {
  test('a full store (SQLITE_FULL for real) turns it failing at once, a constraint error does not; a small commit that still fits leaves it failing, a mail-sized one clears it', async () => {
    const db = openDb();
    const heard: CommitHealth[] = [];
    const writes = new GroupCommitter(db, { onHealth: (health) => heard.push(health) });
    const insert = (k: string, v = 'small', proves = false) => writes.run((conn) => conn.prepare('INSERT INTO t VALUES (?, ?)').run(k, v), { proves });
    await insert('a');
    await assert.rejects(insert('a'), /UNIQUE constraint failed/);
    assert.deepEqual(heard, []);
    // The file may not grow: the next insert that needs a page fails as on a full disk.
    db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
    await assert.rejects(insert('b', BIG, true), (error: Error & { code?: string }) => error.code === 'SQLITE_FULL');
    // What mail gets meanwhile comes with it: a full disk's 452 4.3.1, as asStoreError answers the write.
    assert.deepEqual(heard, [{ state: 'failing', reason: 'database or disk is full', code: 'DISK_FULL' }]);
    assert.equal(writes.health.state, 'failing');
    await assert.rejects(insert('c', BIG));
    assert.equal(heard.length, 1, 'one report per change, not per failed write');
    // A heartbeat's or an outcome's commit rewrites pages the store already has: it succeeds on the full
    // disk, where the next mail still fails (the relay turned ready for seconds while mail got 452).
    await writes.run((conn) => conn.prepare("UPDATE t SET v = 'beat' WHERE k = 'a'").run());
    assert.equal(writes.health.state, 'failing', 'a small commit proves nothing about a mail');
    await assert.rejects(insert('c', BIG, true), (error: Error & { code?: string }) => error.code === 'SQLITE_FULL');
    assert.equal(heard.length, 1);
    // A mail whose write fails for a reason of its own, in one batch with a small write that fits: the batch is
    // rerun one write at a time and the small one commits, which proves nothing about a mail either.
    const [mail, beat] = await Promise.allSettled([
      insert('a', 'small', true),
      writes.run((conn) => conn.prepare("UPDATE t SET v = 'beat 2' WHERE k = 'a'").run()),
    ]);
    assert.deepEqual([mail.status, beat.status], ['rejected', 'fulfilled']);
    assert.equal(writes.health.state, 'failing', 'the mail of the batch did not commit');
    db.pragma('max_page_count = 1000000');
    await insert('d', BIG, true);
    assert.deepEqual(heard.at(-1), { state: 'ok' });
    db.close();
  });

  test('a read-only store (SQLITE_READONLY for real) fails every write of the batch and turns it failing until a mail commits', async () => {
    const db = openDb();
    const heard: CommitHealth[] = [];
    const writes = new GroupCommitter(db, { onHealth: (health) => heard.push(health) });
    const insert = (k: string) => writes.run((conn) => conn.prepare('INSERT INTO t VALUES (?, ?)').run(k, 'v'), { proves: true });
    db.pragma('query_only = ON');
    const results = await Promise.allSettled([insert('a'), insert('b')]);
    assert.deepEqual(
      results.map((result) => result.status),
      ['rejected', 'rejected'],
    );
    assert.equal((results[0] as PromiseRejectedResult).reason.code, 'SQLITE_READONLY');
    assert.deepEqual(
      heard.map((health) => health.state),
      ['failing'],
    );
    db.pragma('query_only = OFF');
    await insert('c');
    assert.deepEqual(
      heard.map((health) => health.state),
      ['failing', 'ok'],
    );
    assert.equal((db.prepare('SELECT COUNT(*) AS n FROM t').get() as { n: number }).n, 1);
    db.close();
  });

  test('the write probe runs only while commits fail, at most once per interval, and never right after a real commit; a small commit that succeeds meanwhile sets one off', async () => {
    const db = openDb();
    let now = 1_000_000;
    let probes = 0;
    const writes = new GroupCommitter(db, {
      clock: () => now,
      probe: (conn) => {
        probes += 1;
        conn.prepare("INSERT INTO t VALUES ('probe', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v").run(BIG);
        conn.prepare("DELETE FROM t WHERE k = 'probe'").run();
      },
    });
    await writes.run((conn) => conn.prepare("INSERT INTO t VALUES ('beat', '0')").run());
    assert.deepEqual(await writes.probe(), { state: 'ok' });
    assert.equal(probes, 0, 'no probe while commits succeed');
    db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
    await assert.rejects(writes.run((conn) => conn.prepare('INSERT INTO t VALUES (?, ?)').run('mail', BIG), { proves: true }));
    assert.equal((await writes.probe()).state, 'failing');
    assert.equal(probes, 0, 'a real commit was just tried');
    now += PROBE_INTERVAL_MS;
    assert.equal((await writes.probe()).state, 'failing');
    assert.equal(probes, 1, 'the probe fails as a mail would');
    assert.equal((await writes.probe()).state, 'failing');
    assert.equal(probes, 1, 'rate-limited');
    db.pragma('max_page_count = 1000000');
    now += PROBE_INTERVAL_MS;
    // No /readyz asks: a heartbeat that commits sets off the probe, which tells.
    const recovered = new Promise<void>((resolve) => {
      const look = () => (writes.health.state === 'ok' ? resolve() : setImmediate(look));
      look();
    });
    await writes.run((conn) => conn.prepare("UPDATE t SET v = '1' WHERE k = 'beat'").run());
    await recovered;
    assert.equal(probes, 2);
    db.close();
  });

  test('a write that fails in a batch fails alone: the batch runs again write by write, the others commit; a batch without failure runs each write once', async () => {
    const db = openDb();
    const writes = new GroupCommitter(db);
    const runs = new Map<string, number>();
    const insert = (k: string) =>
      writes.run((conn) => {
        runs.set(k, (runs.get(k) ?? 0) + 1);
        return conn.prepare('INSERT INTO t VALUES (?, ?)').run(k, 'v').changes;
      });
    assert.deepEqual(await Promise.all([insert('a'), insert('b')]), [1, 1]);
    assert.deepEqual(
      [...runs],
      [
        ['a', 1],
        ['b', 1],
      ],
      'one plain transaction',
    );
    const results = await Promise.allSettled([insert('c'), insert('a'), insert('d')]);
    assert.deepEqual(
      results.map((result) => result.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    assert.match(String((results[1] as PromiseRejectedResult).reason), /UNIQUE constraint failed/);
    assert.deepEqual(db.prepare('SELECT k FROM t ORDER BY k').pluck().all(), ['a', 'b', 'c', 'd']);
    assert.equal(runs.get('c'), 2, 'rolled back with the failed write, then run again in its own savepoint');
    assert.equal(writes.stats.commits, 2);
    db.close();
  });

  test('stats count commits, the writes they carried and their time: writes of one turn share one commit', async () => {
    const db = openDb();
    const writes = new GroupCommitter(db);
    const insert = (k: string) => writes.run((conn) => conn.prepare('INSERT INTO t VALUES (?, ?)').run(k, 'v'));
    await Promise.all([insert('a'), insert('b'), insert('c')]);
    await insert('d');
    await assert.rejects(insert('a'), /UNIQUE constraint failed/);
    const stats = writes.stats;
    assert.equal(stats.commits, 3);
    assert.equal(stats.writes, 5, 'a write that failed alone still rode in its commit');
    assert.ok(stats.seconds > 0);
    db.close();
  });
});

/** SQLite only: PostgreSQL flushes every commit (synchronous_commit is the server's). */
describe('group commit: the fsync follows what the batch holds', () => {
  /** Each write reports the level its own commit runs at (set before BEGIN, so visible inside the transaction). */
  const levelSeen = (writes: GroupCommitter, synced: boolean) => writes.run((conn) => conn.pragma('synchronous', { simple: true }) as number, { synced });
  /** A committer on a connection opened at `level`. */
  const committer = (level: 'FULL' | 'NORMAL') => {
    const db = openDb();
    db.pragma(`synchronous = ${level}`);
    return { db, writes: new GroupCommitter(db) };
  };

  test('only unsynced writes commit at NORMAL (no fsync); one synced write makes its whole batch FULL; the connection stays FULL between', async () => {
    const { db, writes } = committer('FULL');
    // One turn, one batch each: unsynced alone, then mixed, then synced alone.
    assert.deepEqual(await Promise.all([levelSeen(writes, false), levelSeen(writes, false)]), [1, 1]);
    assert.equal(db.pragma('synchronous', { simple: true }), 2, 'set back after the unsynced commit');
    assert.deepEqual(await Promise.all([levelSeen(writes, false), levelSeen(writes, true), levelSeen(writes, false)]), [2, 2, 2]);
    assert.deepEqual(await Promise.all([levelSeen(writes, true)]), [2]);
    assert.deepEqual(await Promise.all([levelSeen(writes, false)]), [1]);
    assert.deepEqual(writes.stats, { ...writes.stats, commits: 4, writes: 7, synced: 2 });
    assert.equal(db.pragma('synchronous', { simple: true }), 2);
    db.close();
  });

  test('a failing unsynced commit still leaves the connection at its own level', async () => {
    const { db, writes } = committer('FULL');
    db.pragma('query_only = ON');
    await assert.rejects(levelSeen(writes, false), (error: Error & { code?: string }) => error.code === 'SQLITE_READONLY');
    assert.equal(db.pragma('synchronous', { simple: true }), 2);
    db.close();
  });

  test('a connection opened below FULL is never raised, and none of its commits counts as synced', async () => {
    const { db, writes } = committer('NORMAL');
    assert.deepEqual(await Promise.all([levelSeen(writes, true), levelSeen(writes, false)]), [1, 1]);
    assert.equal(writes.stats.synced, 0);
    db.close();
  });
});

describe('group commit: an outcome nobody awaits waits for another write to share its commit', () => {
  /** Waited out in full where a test needs the wait to end. */
  const WAIT_MS = 300;
  /** Where a test shows that something does not wait: no turn of the event loop, however loaded the machine, comes near it. */
  const LONG_WAIT_MS = 60_000;
  const insert = (writes: GroupCommitter, k: string, how: { synced: boolean; waits?: boolean }) =>
    writes.run((conn) => conn.prepare('INSERT INTO t VALUES (?, ?)').run(k, 'v'), how);
  const OUTCOME = { synced: false, waits: true };
  const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
  /** A committer on a connection at FULL, whose outcomes wait `waitMs`. */
  const fullCommitter = (waitMs: number) => {
    const db = openDb();
    db.pragma('synchronous = FULL');
    return { db, writes: new GroupCommitter(db, { unsyncedWaitMs: waitMs }) };
  };

  test('an outcome queued alone does not commit at the next turn; the mail queued after it takes it into its own commit', async () => {
    const { db, writes } = fullCommitter(LONG_WAIT_MS);
    const outcome = insert(writes, 'outcome', OUTCOME);
    await nextTurn();
    await nextTurn();
    assert.equal(writes.stats.commits, 0, 'the outcome waits');
    await Promise.all([insert(writes, 'mail', { synced: true }), outcome]);
    assert.deepEqual(writes.stats, { ...writes.stats, commits: 1, writes: 2, synced: 1 });
    db.close();
  });

  test('a claim (unsynced, awaited) does not wait, and takes the waiting outcomes with it at NORMAL', async () => {
    const { db, writes } = fullCommitter(LONG_WAIT_MS);
    const started = performance.now();
    const outcome = insert(writes, 'outcome', OUTCOME);
    await nextTurn();
    await Promise.all([insert(writes, 'claim', { synced: false }), outcome]);
    assert.ok(performance.now() - started < LONG_WAIT_MS, 'committed at the next turn, not after the wait');
    assert.deepEqual(writes.stats, { ...writes.stats, commits: 1, writes: 2, synced: 0 });
    db.close();
  });

  test('outcomes queued alone commit after the wait, at NORMAL, together', async (t) => {
    // The wait's timer on node:test's fake clock: the test moves time instead of sleeping through it.
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { db, writes } = fullCommitter(WAIT_MS);
    const first = insert(writes, 'a', OUTCOME);
    await nextTurn();
    const second = insert(writes, 'b', OUTCOME);
    await nextTurn();
    t.mock.timers.tick(WAIT_MS - 1);
    await nextTurn();
    assert.equal(writes.stats.commits, 0, 'not committed before the wait is over');
    t.mock.timers.tick(1);
    await Promise.all([first, second]);
    assert.deepEqual(writes.stats, { ...writes.stats, commits: 1, writes: 2, synced: 0 });
    db.close();
  });

  test('the wait is short by default, and a shutdown commits what waits at once', async () => {
    assert.ok(UNSYNCED_WAIT_MS <= 5, 'a few milliseconds at most: an outcome is recorded this much later');
    const db = openDb();
    const writes = new GroupCommitter(db, { unsyncedWaitMs: WAIT_MS });
    const waiting = insert(writes, 'a', OUTCOME);
    writes.flushNow();
    assert.equal(writes.stats.commits, 1);
    await waiting;
    assert.equal((db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n, 1);
    db.close();
  });
});
