import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { configProblem, PostgresStore, StoreConfigError } from '../../src/store/postgres/store.ts';
import { databaseUrl } from '../../src/store/postgres/url.ts';
import { MIGRATIONS } from '../../src/store/migrations.ts';
import { POSTGRES_STEPS } from '../../src/store/postgres/migrations.ts';
import { migrate } from '../../src/store/postgres/migrate.ts';
import { freshDatabase, describeOnPostgres, withClient } from '../helpers/postgres.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { removeDir, tempDir, waitFor } from '../helpers/relay.ts';
import { mail, relayMember, storeFile } from '../helpers/store.ts';
import { sleep } from '../helpers/wait.ts';

const BIN = fileURLToPath(new URL('../../bin/smsrelay.js', import.meta.url));
/** The installed command in a directory of its own, with only these variables. */
const smsrelay = (env: Record<string, string>, ...args: string[]) => {
  const dir = tempDir();
  try {
    return spawnSync(process.execPath, [BIN, ...args], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', SMSRELAY_DATA_DIR: `${dir}/data`, ...env },
      encoding: 'utf8',
    });
  } finally {
    removeDir(dir);
  }
};

/** What only PostgreSQL has: its URL, its refusals of a database that is not ours. The contract is in contract.test.ts. */
test("PostgreSQL's own steps are the SQL they shipped as: a shipped step is never edited, a change is a new step", () => {
  const shipped = new Map([
    [15, '0521444ad7dfe916fb969ca4941b6ccf3f1c471f240251ffa40aced6d6e5d1fa'],
    [27, '8d06f520f7c44c796c3f84c3c4d740d6770251558299ae9e16b3b5f60ae72870'],
    [35, '969288cebd7565e003f147b4a878b22a46ab0f6434d75ea8a3d5dfc591e27f59'],
    [37, '057ee3c81bba8cc65bb5cce47ac1ceaa8a084709d3650d2b5555ec9b649298df'],
    [38, '9476a9a7bb10f79f70ae055085ddae35b58bee42fc58f956ede2a28b523ec908'],
  ]);
  assert.deepEqual(new Map([...POSTGRES_STEPS].map(([step, sql]) => [step, createHash('sha256').update(sql).digest('hex')])), shipped);
});

describe('store.url', () => {
  const problems = (url: string) => {
    const dir = tempDir();
    try {
      loadConfig({ SMSRELAY_DATABASE_URL: url }, dir);
      return [];
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      return error.problems;
    } finally {
      removeDir(dir);
    }
  };

  test('a malformed URL or an unknown sslmode is a config error naming the variable, with the password masked', () => {
    const [malformed] = problems('postgres//user:s3cret@host/db');
    assert.match(malformed ?? '', /^SMSRELAY_DATABASE_URL=".*": expected postgres:\/\/user:password@host:port\/database/);
    const [mode] = problems('postgres://user:s3cret@db.example.com/relay?sslmode=prefer');
    assert.equal(
      mode,
      'SMSRELAY_DATABASE_URL="postgres://user:***@db.example.com/relay?sslmode=***": unknown sslmode "prefer" (falling back to a clear connection is not supported: use require or disable); use one of disable, require, verify-ca, verify-full',
    );
    assert.deepEqual(problems('postgres://user:s3cret@db.example.com/relay?sslmode=verify-full'), []);
    assert.match(
      problems('postgres://user:s3cret@db.example.com/relay?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem')[0] ?? '',
      /sslrootcert \/nonexistent\/ca\.pem cannot be read \(ENOENT\)/,
    );
    const [badEscape] = problems('postgres://postgres:p%ZZs3cret@127.0.0.1:5432/relay1');
    assert.equal(
      badEscape,
      'SMSRELAY_DATABASE_URL="postgres://postgres:***@127.0.0.1:5432/relay1": the password holds a "%" that does not start an escape (%XX, hex): write "%" itself as %25',
    );
    // libpq's socket form (no host) is no WHATWG URL: its password, a raw @ in it, is hidden up to the authority's last @ all the same.
    assert.match(problems('postgres://user:s3@cret@/relay?host=run')[0] ?? '', /^SMSRELAY_DATABASE_URL="postgres:\/\/user:\*\*\*@\/relay\?host=\*\*\*": /);
    assert.match(
      problems('postgres://user:s3cret@db.example.com/relay?ssl=true')[0] ?? '',
      /unknown URL parameter "ssl" \(known: sslmode, sslrootcert, host\)/,
    );
  });

  test('a database on any loopback address (all of 127.0.0.0/8, ::1, localhost) is reached in clear by default; any other host with verify-full', () => {
    for (const host of ['127.0.0.1', '127.0.0.2', '[::1]', 'localhost']) {
      assert.equal(databaseUrl(`postgres://relay:s3cret@${host}:5432/relay`).sslMode, 'disable', host);
    }
    assert.equal(databaseUrl('postgres://relay:s3cret@128.0.0.1:5432/relay').sslMode, 'verify-full');
  });

  test('host=/dir is taken, with or without a host before the database; clear by default, since it only reaches this machine', () => {
    assert.deepEqual(problems('postgres://relay:s3cret@/relay?host=/var/run/postgresql'), []);
    assert.deepEqual(problems('postgres://relay:s3cret@localhost:5433/relay?host=/var/run/postgresql&sslmode=disable'), []);
    const { pool, sslMode } = databaseUrl('postgres://relay:s3cret@/relay?host=/var/run/postgresql');
    assert.equal(sslMode, 'disable');
    assert.equal(pool.host, '/var/run/postgresql');
    assert.equal(pool.ssl, false);
    assert.equal(pool.port, 5432);
  });

  test('a host parameter that is not a directory path, or TLS asked of a socket: a config error naming the fix', () => {
    assert.match(
      problems('postgres://relay:s3cret@/relay?host=db.example.com')[0] ?? '',
      /host="db\.example\.com" is not a directory path: the host parameter names the directory of the server's Unix socket/,
    );
    assert.match(
      problems('postgres://relay:s3cret@/relay?host=/var/run/postgresql&sslmode=verify-full')[0] ?? '',
      /sslmode "verify-full" with host=\/var\/run\/postgresql: a Unix socket is never encrypted .*: leave sslmode out or use disable/,
    );
    assert.match(problems('postgres://relay:s3cret@/relay')[0] ?? '', /the URL names no host/);
  });
});

describeOnPostgres('PostgreSQL: databases that are not ours, and the commands', async () => {
  const run = async (url: string, sql: string) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(sql);
    await client.end();
  };

  /** New sessions of the database at `url` read-only (a standby a failover left the name on) or not. */
  const setReadOnly = (url: string, on: boolean) =>
    // BEGIN READ WRITE: the session of a read-only database may still turn it back.
    run(
      url,
      `BEGIN READ WRITE; DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET default_transaction_read_only = ${on ? 'on' : 'off'}', current_database()); END $$; COMMIT`,
    );
  const READ_ONLY_WAIT = 'the server to take writes: it is read-only (a standby; in a failover, the name may still point at it)';

  test("another application's tables, a newer schema, a wrong password: StoreConfigError with one clear line", async () => {
    const foreign = (await freshDatabase()) ?? '';
    await run(foreign, 'CREATE TABLE invoices (id int)');
    await assert.rejects(PostgresStore.open({ url: foreign }), (error: unknown) => {
      assert.ok(error instanceof StoreConfigError);
      assert.match(error.message, /holds tables that are not smsrelay's \(invoices\)/);
      return true;
    });

    const newer = (await freshDatabase()) ?? '';
    await (await PostgresStore.open({ url: newer })).close();
    await run(newer, `UPDATE smsrelay_schema SET version = ${MIGRATIONS.length + 1}, min_reader = ${MIGRATIONS.length + 1}`);
    await assert.rejects(PostgresStore.open({ url: newer }), /written by a newer smsrelay/);

    const wrong = new URL(newer);
    wrong.password = 'not-the-password';
    await assert.rejects(
      PostgresStore.open({ url: wrong.toString() }),
      (error: unknown) => error instanceof StoreConfigError && /password/.test(error.message),
    );
  });

  test('a read-only server (a standby a failover left the name on) is waited for, not refused: the store becomes ready once it takes writes', async () => {
    const url = (await freshDatabase()) ?? '';
    await setReadOnly(url, true);
    const waits: string[] = [];
    let healthy = false;
    const store = await PostgresStore.open({ url, onWaiting: (waitingFor) => waits.push(waitingFor) }, (health) => {
      healthy = health.state === 'ok';
    });
    try {
      assert.deepEqual(waits, [READ_ONLY_WAIT]);
      assert.equal(healthy, false);
      await setReadOnly(url, false);
      await waitFor('ready once the server takes writes', () => healthy, 10_000);
      assert.deepEqual(await store.acceptMail(mail(['+447700900001'], { receivedAt: Date.now() })), { duplicateOf: undefined });
    } finally {
      await store.close();
    }
  });

  test("a read-only server met by the start's first heartbeat on a current schema is waited for as such, and its sessions are not reused once it takes writes", async () => {
    const url = (await freshDatabase()) ?? '';
    await (await PostgresStore.open({ url })).close();
    await setReadOnly(url, true);
    const waits: string[] = [];
    let healthy = false;
    const store = await PostgresStore.open(
      {
        url,
        onConnected: async (opened) => {
          await opened.heartbeat(relayMember('alpha'), 30_000, { sms: [], mail: [] });
        },
        onWaiting: (waitingFor) => waits.push(waitingFor),
      },
      (health) => {
        healthy = health.state === 'ok';
      },
    );
    try {
      assert.deepEqual(waits, [READ_ONLY_WAIT]);
      await setReadOnly(url, false);
      // Within two tries: a session the failed try left idle in the pool would stay read-only and fail every try.
      await waitFor('ready once the server takes writes', () => healthy, 4_000);
    } finally {
      await store.close();
    }
  });

  test('one warning per reason, however the reasons alternate; none for an unreachable database, whose outage the health says', async () => {
    const outage: string[] = [];
    const unreachable = await PostgresStore.open(
      { url: 'postgres://relay:secret@127.0.0.1:1/relay', onWaiting: (waitingFor) => outage.push(waitingFor) },
      (health) => outage.push(health.state),
    );
    await unreachable.close();
    assert.deepEqual(outage, ['failing']);

    const url = (await freshDatabase()) ?? '';
    await withClient(url, (client) => migrate(client, { create: true, migrations: MIGRATIONS.slice(0, -1) }));
    await run(url, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET lock_timeout = %L', current_database(), '100ms'); END $$`);
    await setReadOnly(url, true);
    const waits: string[] = [];
    const store = await PostgresStore.open({ url, onWaiting: (waitingFor) => waits.push(waitingFor) });
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      // The next try meets a lock past lock_timeout (every upgrade first alters smsrelay_schema), the one after the read-only server again.
      await holder.query('BEGIN');
      await holder.query('SELECT * FROM smsrelay_schema');
      await setReadOnly(url, false);
      await waitFor('the lock waited for', () => waits.length === 2, 5_000);
      await setReadOnly(url, true);
      await holder.query('COMMIT');
      await sleep(4_500);
      assert.deepEqual(waits, [READ_ONLY_WAIT, "a lock another session holds on the store's tables, held past lock_timeout"]);
    } finally {
      await holder.end();
      await store.close();
    }
  });

  test("an upgrade step slow by itself past the server's statement_timeout is refused, naming the setting to raise for the relay's role; one waiting for a lock is not (the step's lock_timeout ends it first)", async () => {
    const url = (await freshDatabase()) ?? '';
    await withClient(url, (client) => migrate(client, { create: true, migrations: MIGRATIONS.slice(0, -1) }));
    await run(url, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET statement_timeout = %L', current_database(), '300ms'); END $$`);
    // A step as slow as a big table's rewrite: the same at every try.
    const slow = [...MIGRATIONS.slice(0, -1), 'SELECT pg_sleep(1)'];
    const error = await withClient(url, (client) => migrate(client, { create: true, migrations: slow })).then(
      () => assert.fail('the slow step is refused'),
      (failure: unknown) => failure,
    );
    assert.match(
      configProblem(error) ?? '',
      /^migration \d+ of \d+–\d+ ran past the server's statement_timeout \(canceling statement due to statement timeout\); nothing was changed/,
    );
    assert.match(configProblem(error) ?? '', /raise the timeout for the relay's role \(ALTER ROLE \w+ SET statement_timeout = '30min'/);
    // The same step behind another session's lock on a table it alters: a wait the start tries again, not a refusal.
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT * FROM smsrelay_schema');
      const waited = await withClient(url, (client) => migrate(client, { create: true, migrations: slow })).then(
        () => assert.fail('the step waits for the lock'),
        (failure: unknown) => failure,
      );
      assert.equal(configProblem(waited), undefined, String(waited));
      assert.match(String(waited), /waited 150ms \(lock_timeout\) for a lock on the store's tables/);
    } finally {
      await holder.end();
    }
  });

  test('a store closed while a connect try is under way tells nothing more of it: no warning, no health', async () => {
    const url = (await freshDatabase()) ?? '';
    await setReadOnly(url, true);
    const told: string[] = [];
    let closed = false;
    const store = await PostgresStore.open(
      {
        url,
        // The relay stopping while its retry's first heartbeat is under way.
        onConnected: async (opened) => {
          await opened.close();
          closed = true;
          await opened.heartbeat(relayMember('alpha'), 30_000, { sms: [], mail: [] });
        },
        onWaiting: (waitingFor) => closed && told.push(waitingFor),
      },
      (health) => closed && told.push(health.state),
    );
    await setReadOnly(url, false);
    await waitFor('the retry under way closed the store', () => closed, 5_000);
    await sleep(300);
    assert.deepEqual(told, []);
    await store.close();
  });

  test('relays starting together migrate once (advisory lock), and the schema records its version', async () => {
    const url = (await freshDatabase()) ?? '';
    const stores = await Promise.all([1, 2, 3].map(() => PostgresStore.open({ url })));
    for (const store of stores) await store.close();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    assert.equal(Number((await client.query('SELECT version FROM smsrelay_schema')).rows[0]?.version), MIGRATIONS.length);
    await client.end();
  });

  test('smsrelay store copy: progress on stderr, counts and checksums on stdout; a second copy into the same database is refused', async () => {
    const file = storeFile();
    const source = SqliteStore.open({ file, busyTimeoutMs: 100 });
    for (let index = 0; index < 3; index += 1) await source.acceptMail(mail(['+447700900123', '+447700900124']));
    const longSmsPart = {
      provider: 'smpp',
      sender: '+447700900123',
      recipient: undefined,
      reference: 9,
      total: 2,
      index: 1,
      providerId: 'p9-1',
      text: 'first ',
    };
    await source.addPart({ ...longSmsPart, sentAt: '2026-03-14T09:00:05+00:00', userContext: 'ctx-9', trackingId: 'trk-9', receivedAt: 1_000 });
    await source.close();
    const url = (await freshDatabase()) ?? '';
    const copy = smsrelay({}, 'store', 'copy', '--from', file, '--to', url);
    assert.equal(copy.status, 0, copy.stderr);
    assert.match(copy.stderr, /messages +\[#+\] 3\/3/);
    assert.match(copy.stdout, /^outbound +6 rows {2}sha256 [0-9a-f]{64}$/m);
    assert.match(copy.stdout, /^sms_parts +1 rows {2}sha256 [0-9a-f]{64}$/m);
    const copiedPart = await withClient(url, (client) => client.query('SELECT text, sent_at, user_context, tracking_id FROM sms_parts'));
    assert.deepEqual(copiedPart.rows, [{ text: 'first ', sent_at: '2026-03-14T09:00:05+00:00', user_context: 'ctx-9', tracking_id: 'trk-9' }]);
    assert.match(copy.stdout, /every table's count and checksum verified/);
    const counts = copy.stdout.split('\n').filter((line) => line.includes(' rows  sha256 '));
    assert.ok(
      counts.some((line) => /^\w{19,} /.test(line)),
      'a table name longer than 18 characters is listed',
    );
    assert.equal(new Set(counts.map((line) => line.indexOf(' rows  sha256'))).size, 1, `the counts line up:\n${copy.stdout}`);
    assert.ok(!copy.stdout.includes(new URL(url).password), 'the password is not printed');
    const again = smsrelay({}, 'store', 'copy', '--from', file, '--to', url);
    assert.equal(again.status, 73);
    assert.match(again.stderr, /the target database is not empty \(table messages holds rows\)/);
  });

  test('store copy only reads its source: a file that is no smsrelay store is refused unchanged (exit 66), an older schema names the fix (exit 65)', async () => {
    const dir = tempDir();
    after(() => removeDir(dir));
    const url = (await freshDatabase()) ?? '';
    const other = join(dir, 'other.db');
    const otherDb = new BetterSqlite3(other);
    otherDb.exec('CREATE TABLE invoices (id INTEGER PRIMARY KEY, total INTEGER)');
    otherDb.close();
    const older = storeFile();
    await SqliteStore.open({ file: older, busyTimeoutMs: 100 }).close();
    const olderDb = new BetterSqlite3(older);
    olderDb.pragma(`user_version = ${MIGRATIONS.length - 1}`);
    olderDb.close();
    // Schema 12 as development builds a16ed74 … c4487b5 numbered it (this history's 13, rate_events, where its 12 is relays).
    const untraceable = join(dir, 'other-12.db');
    const untraceableDb = new BetterSqlite3(untraceable);
    for (const sql of [...MIGRATIONS.slice(0, 11), MIGRATIONS[12] ?? '']) untraceableDb.exec(sql);
    untraceableDb.pragma('user_version = 12');
    untraceableDb.close();
    const files: Record<string, string | Buffer> = { 'empty.db': '', 'one-byte.db': 'x', 'text.db': 'not a database\n' };
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
    const cases = [
      { file: other, status: 66, stderr: /other\.db is not a smsrelay store: it holds tables that are not smsrelay's \(invoices\)/ },
      { file: join(dir, 'empty.db'), status: 66, stderr: /empty\.db is not a smsrelay store: it has no smsrelay schema version/ },
      { file: join(dir, 'one-byte.db'), status: 66, stderr: /one-byte\.db is not a smsrelay store/ },
      { file: join(dir, 'text.db'), status: 66, stderr: /text\.db is not a smsrelay store: it is not a SQLite database/ },
      { file: join(dir, 'missing.db'), status: 66, stderr: /--from .*missing\.db: no such file/ },
      { file: older, status: 65, stderr: new RegExp(`holds schema ${MIGRATIONS.length - 1} of an older smsrelay.*start this smsrelay on it once`) },
      {
        file: untraceable,
        status: 65,
        stderr:
          /other-12\.db is at the schema 12 of the development builds a16ed74 to c4487b5 .*start this release on a new store once that relay has sent its queue/,
      },
    ];
    for (const { file, status, stderr } of cases) {
      const before = existsSync(file) ? readFileSync(file) : undefined;
      const copy = smsrelay({}, 'store', 'copy', '--from', file, '--to', url);
      assert.equal(copy.status, status, `${file}: ${copy.stderr}`);
      assert.match(copy.stderr, stderr);
      assert.equal(copy.stderr.trim().split('\n').length, 1, `one line: ${copy.stderr}`);
      assert.equal(copy.stdout, '');
      assert.deepEqual(existsSync(file) ? readFileSync(file) : undefined, before, `${file} is unchanged`);
    }
    const tables = await withClient(url, (client) => client.query('SELECT tablename FROM pg_tables WHERE schemaname = current_schema()'));
    assert.equal(tables.rowCount, 0, 'nothing was created in the target');
  });

  test("store copy from a stopped store in a directory this user may not write: one line saying where to copy it (exit 66), not SQLite's words and exit 69; a backup copy there is copied", async () => {
    const dir = tempDir();
    after(() => removeDir(dir));
    chmodSync(dir, 0o755);
    const data = join(dir, 'data');
    const store = SqliteStore.open({ file: join(data, 'smsrelay.db'), busyTimeoutMs: 100 });
    await store.acceptMail(mail(['+447700900123']));
    await store.close();
    // A crashed relay's store, as a snapshot or a failed machine's disk holds it: commits only in its WAL.
    const snapshot = join(dir, 'snapshot');
    mkdirSync(snapshot);
    const writer = new BetterSqlite3(join(data, 'smsrelay.db'));
    writer.pragma('wal_autocheckpoint = 0');
    writer.exec('CREATE TABLE only_in_the_wal (x); DROP TABLE only_in_the_wal');
    for (const name of ['smsrelay.db', 'smsrelay.db-wal']) copyFileSync(join(data, name), join(snapshot, name));
    writer.close();
    const backups = join(dir, 'backups');
    mkdirSync(backups);
    const backup = spawnSync(process.execPath, [BIN, 'backup', backups], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', SMSRELAY_DATA_DIR: data },
      encoding: 'utf8',
    });
    assert.equal(backup.status, 0, backup.stderr);
    const [copyName] = readdirSync(backups);
    // Neither directory is the user's to write: root writes anywhere, so the copy runs as nobody there.
    const asRoot = process.getuid?.() === 0;
    for (const place of [dir, data, backups, snapshot]) chmodSync(place, asRoot ? 0o755 : 0o555);
    for (const file of [join(data, 'smsrelay.db'), join(backups, copyName ?? ''), join(snapshot, 'smsrelay.db'), join(snapshot, 'smsrelay.db-wal')]) {
      chmodSync(file, 0o644);
    }
    const copyAsOther = async (from: string) =>
      spawnSync(process.execPath, [BIN, 'store', 'copy', '--from', from, '--to', (await freshDatabase()) ?? ''], {
        cwd: dir,
        env: { PATH: process.env.PATH ?? '', SMSRELAY_DATA_DIR: join(dir, 'none') },
        encoding: 'utf8',
        ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
      });
    try {
      const stopped = await copyAsOther(join(data, 'smsrelay.db'));
      assert.equal(stopped.status, 66, stopped.stderr);
      assert.match(
        stopped.stderr,
        /^smsrelay: store copy: \S+smsrelay\.db cannot be read here: SQLite opens a store in WAL mode only where it may create smsrelay\.db-shm beside it \(.+\); copy the file to a directory this user may write \(or take `smsrelay backup` there\)/,
      );
      assert.equal(stopped.stderr.trim().split('\n').length, 1, stopped.stderr);
      assert.doesNotMatch(stopped.stderr, /together with/, 'a stopped store is the file alone');
      const crashed = await copyAsOther(join(snapshot, 'smsrelay.db'));
      assert.equal(crashed.status, 66, crashed.stderr);
      assert.match(crashed.stderr, /copy the file together with smsrelay\.db-wal \(it holds commits the file lacks\)/);
      const copied = await copyAsOther(join(backups, copyName ?? ''));
      assert.equal(copied.status, 0, copied.stderr);
      assert.match(copied.stdout, /^messages +1 rows/m);
    } finally {
      for (const place of [dir, data, backups, snapshot]) chmodSync(place, 0o755);
    }
  });

  test('store copy exit codes as the other commands: a target that refuses (password, database, foreign tables, TLS it lacks) 78, one not reachable 69', async () => {
    const file = storeFile();
    await SqliteStore.open({ file, busyTimeoutMs: 100 }).close();
    const url = (await freshDatabase()) ?? '';
    const foreign = (await freshDatabase()) ?? '';
    await run(foreign, 'CREATE TABLE invoices (id int)');
    const wrongPassword = new URL(url);
    wrongPassword.password = 'not-the-password';
    const missing = new URL(url);
    missing.pathname = '/no_such_database';
    const tls = new URL(url);
    tls.search = 'sslmode=require';
    const unreachable = new URL(url);
    unreachable.port = '1';
    const cases = [
      { to: wrongPassword.toString(), status: 78, stderr: /password authentication failed/ },
      { to: missing.toString(), status: 78, stderr: /database "no_such_database" does not exist/ },
      { to: foreign, status: 78, stderr: /holds tables that are not smsrelay's \(invoices\)/ },
      { to: tls.toString(), status: 78, stderr: /does not support SSL connections: turn TLS on at the server .* sslmode=disable/ },
      { to: unreachable.toString(), status: 69, stderr: /ECONNREFUSED/ },
    ];
    for (const { to, status, stderr } of cases) {
      const copy = smsrelay({}, 'store', 'copy', '--from', file, '--to', to);
      assert.equal(copy.status, status, `${to}: ${copy.stderr}`);
      assert.match(copy.stderr, /^smsrelay: store copy: --to postgres:\/\/postgres:\*\*\*@/);
      assert.match(copy.stderr, stderr);
      assert.ok(!copy.stderr.includes(new URL(url).password), 'the password is not printed');
    }
  });

  test('sslmode=require against a server without TLS: StoreConfigError naming the fix (the relay exits 78), not a store that retries for ever', async () => {
    const url = new URL((await freshDatabase()) ?? '');
    url.search = 'sslmode=require';
    await assert.rejects(PostgresStore.open({ url: url.toString() }), (error: unknown) => {
      assert.ok(error instanceof StoreConfigError, String(error));
      assert.match(
        error.message,
        /The server does not support SSL connections: turn TLS on at the server \(ssl = on\), or, on a network you trust, add sslmode=disable/,
      );
      return true;
    });
  });

  test('config check shows the server version and synchronous_commit; backup names pg_dump; no command creates a store', async () => {
    const url = (await freshDatabase()) ?? '';
    const empty = smsrelay({ SMSRELAY_DATABASE_URL: url }, 'status');
    assert.equal(empty.status, 66);
    assert.match(empty.stderr, /^smsrelay: SMSRELAY_DATABASE_URL="postgres:\/\/postgres:\*\*\*@[^"]+": the database holds no smsrelay store yet/);
    await (await PostgresStore.open({ url })).close();
    const check = smsrelay({ SMSRELAY_DATABASE_URL: url }, 'config', 'check');
    assert.equal(check.status, 0, check.stderr);
    assert.match(check.stdout, /^store: PostgreSQL \d+\.\d+ sslmode=disable synchronous_commit=on$/m);
    assert.ok(!check.stdout.includes(new URL(url).password), 'the password is masked');
    assert.match(check.stdout, /"url": "postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/\w+"/, 'the user is shown, as docs/operations.md says');
    const unreachable = new URL(url);
    unreachable.port = '1';
    const down = smsrelay({ SMSRELAY_DATABASE_URL: unreachable.toString() }, 'config', 'check');
    assert.equal(down.status, 69, down.stderr);
    assert.match(down.stdout, /"relayName": /, 'the configuration is printed all the same');
    assert.match(down.stdout, /^store: cannot be reached now \(connect ECONNREFUSED 127\.0\.0\.1:1\)$/m);
    assert.ok(!down.stdout.includes(new URL(url).password), 'the password is masked');
    const backup = smsrelay({ SMSRELAY_DATABASE_URL: url }, 'backup', 'copy.db');
    assert.equal(backup.status, 64);
    assert.match(backup.stderr, /on PostgreSQL use pg_dump/);
  });

  test('connections the server kills in the middle of transactions: each write resolves or fails with STORE_UNAVAILABLE, the process lives, the next write succeeds', async () => {
    const url = (await freshDatabase()) ?? '';
    const store = await PostgresStore.open({ url });
    const killer = new pg.Client({ connectionString: url });
    await killer.connect();
    let writing = true;
    const kills = (async () => {
      while (writing) {
        await killer.query(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'smsrelay' AND datname = current_database() AND pid <> pg_backend_pid()",
        );
        await new Promise((resolve) => setTimeout(resolve, 3));
      }
    })();
    const results = await Promise.allSettled(Array.from({ length: 200 }, () => store.acceptMail(mail(['+447700900123', '+447700900124']))));
    writing = false;
    await kills;
    await killer.end();
    for (const result of results) if (result.status === 'rejected') assert.equal((result.reason as { code?: string }).code, 'STORE_UNAVAILABLE');
    await store.acceptMail(mail(['+447700900125']));
    assert.deepEqual(await store.probeWrites(), { state: 'ok' });
    await store.close();
  });
});
