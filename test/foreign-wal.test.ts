/**
 * A WAL left by a relay killed with -9 belongs to the store file it was written against: a file put in that file's
 * place (a backup restored with `cp`, which writes in place; another store's file moved there under a running relay)
 * is refused by the start and every command before SQLite opens it, and the WAL is never applied. A plain crash
 * restart, at any moment of the start's switch to a new generation, is never refused.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statfsSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { GENERATION_SUFFIX } from '../src/store/generation.ts';
import { freePort, GATEWAY_ACCOUNT, killSpawnedRelays, relayEnvironment, removeDir, runCommand, spawnRelay, tempDir } from './helpers/relay.ts';
import { sendMail } from './helpers/smtp.ts';

const dirs: string[] = [];
after(() => {
  killSpawnedRelays();
  dirs.forEach(removeDir);
});

/** A data directory whose gateway never answers: what is accepted stays queued, in the store and its WAL. */
async function relayDir(yaml: object = {}) {
  const dir = tempDir('smsrelay-foreign-wal-');
  dirs.push(dir);
  const env = relayEnvironment(dir, {
    gateway: { provider: 'intellisoftware', url: `http://127.0.0.1:${await freePort()}`, ...GATEWAY_ACCOUNT, connectTimeout: '1s' },
    ...yaml,
  });
  const store = join(dir, 'data', 'smsrelay.db');
  return { dir, env, store, wal: `${store}-wal`, shm: `${store}-shm` };
}

async function send(port: number, count: number, tag: string): Promise<void> {
  for (let index = 0; index < count; index++) {
    const result = await sendMail(port, { to: [`447700900${String(100 + index).padStart(3, '0')}@sms.localhost`], body: `${tag} ${index}` });
    assert.equal(result.data?.code, 250, result.data?.text);
  }
}

/** A running relay that queued `before` SMS, took a backup (`smsrelay backup`, application_id 0), then queued `after` more. */
async function relayWithBackup(before: number, after: number) {
  const files = await relayDir();
  const relay = await spawnRelay(files.dir, files.env);
  await send(relay.smtpPort, before, 'before the backup');
  const backup = join(files.dir, 'backup.db');
  const taken = runCommand(files.dir, files.env, 'backup', backup);
  assert.equal(taken.status, 0, taken.stderr);
  await send(relay.smtpPort, after, 'after the backup');
  return { ...files, relay, backup };
}

/** The SMS `smsrelay status` counts queued. */
function queued(dir: string, env: Record<string, string>): number {
  const status = runCommand(dir, env, 'status');
  assert.equal(status.status, 0, status.stderr);
  return Number(/sms queued: (\d+)/.exec(status.stdout)?.[1]);
}

/** The line a start or command refuses a WAL of another file with, exit 78, the files left as they were. */
function assertRefused(result: { status: number | null; stderr: string }, wal: string): void {
  assert.equal(result.status, 78, result.stderr);
  assert.match(result.stderr, /smsrelay\.db-wal was not written against the store .*smsrelay\.db/);
  assert.match(result.stderr, /move smsrelay\.db-wal and smsrelay\.db-shm aside/);
  assert.match(result.stderr, /what was committed only into that WAL .* is then not in the store/);
  assert.match(result.stderr, /if an older smsrelay ran on this file since \(a rollback\).*remove smsrelay\.db\.generation/);
  // `backup` names the data directory first, as it always does.
  const lines = result.stderr
    .trim()
    .split('\n')
    .filter((line) => !line.startsWith('smsrelay: data directory '));
  assert.equal(lines.length, 1, `one line: ${result.stderr}`);
  assert.ok(statSync(wal).size > 0, 'the WAL is never applied, nor removed');
}

describe('a WAL beside a file it was not written against', () => {
  test('a backup restored with cp after kill -9: status, backup and start refuse, the backup stays as it was; with the WAL moved aside it is the backup', async () => {
    const { dir, env, store, wal, shm, relay, backup } = await relayWithBackup(3, 4);
    await relay.kill9();
    assert.ok(statSync(wal).size > 0, 'the dead relay left its WAL');

    const { ino } = statSync(store);
    copyFileSync(backup, store);
    assert.equal(statSync(store).ino, ino, 'cp writes in place: the inode cannot tell');
    const walBefore = readFileSync(wal);
    for (const command of [['status'], ['queue', 'list'], ['backup', join(dir, 'again.db')]]) assertRefused(runCommand(dir, env, ...command), wal);
    assert.deepEqual(readFileSync(store), readFileSync(backup), 'the restored backup is not written');
    assert.deepEqual(readFileSync(wal), walBefore, 'the WAL is not applied');
    const start = spawn(process.execPath, [join(import.meta.dirname, '../bin/smsrelay.js'), 'start'], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    start.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const status = await new Promise<number | null>((resolve) => start.once('exit', resolve));
    assertRefused(
      {
        status,
        stderr: stderr
          .split('\n')
          .filter((line) => line.includes('smsrelay.db-wal'))
          .join('\n'),
      },
      wal,
    );
    assert.deepEqual(readFileSync(store), readFileSync(backup), 'start did not write it either');

    // The fix the line gives: the WAL and its index moved aside; the store is the backup, whole.
    renameSync(wal, join(dir, 'moved-wal'));
    renameSync(shm, join(dir, 'moved-shm'));
    assert.equal(queued(dir, env), 3, "the backup's queue, nothing of the dead relay's WAL");
    const again = await spawnRelay(dir, env);
    await again.stop();
    assert.equal(queued(dir, env), 3);
  });

  test("another store's file moved in under a running relay: after it stops, start refuses before judging its lost store's copy", async () => {
    const { dir, env, store, wal } = await relayDir();
    const other = await relayDir();
    const otherRelay = await spawnRelay(other.dir, other.env);
    await send(otherRelay.smtpPort, 1, 'other');
    await otherRelay.stop();

    const relay = await spawnRelay(dir, env);
    await send(relay.smtpPort, 5, 'queued');
    copyFileSync(other.store, `${store}.new`);
    renameSync(`${store}.new`, store);
    // The relay notices at its next write, saves its copy and refuses mail.
    const refused = await sendMail(relay.smtpPort, { to: ['447700900199@sms.localhost'], body: 'after the replace' });
    assert.notEqual(refused.data?.code, 250);
    await relay.stop();
    if (!existsSync(wal) || statSync(wal).size === 0) return assert.fail('the replaced file left no WAL: nothing to check');
    const line = runCommand(dir, env, 'status');
    assertRefused(line, wal);
    assert.match(line.stderr, /except in the lost store's copy .*smsrelay\.db\.recovered-\S+ that relay saved/, "names the copy that holds the WAL's commits");
    assert.deepEqual(readFileSync(store), readFileSync(other.store), 'the file put in place is not written');
  });
});

describe('a WAL beside a file with no SQLite header (an empty file put in place, or one cut short)', () => {
  /** A data directory whose relay queued one SMS and was killed with -9, its store then cut to `bytes`: its WAL is left. */
  async function killedAndCut(bytes: number) {
    const files = await relayDir();
    const relay = await spawnRelay(files.dir, files.env);
    await send(relay.smtpPort, 1, 'queued');
    await relay.kill9();
    truncateSync(files.store, bytes);
    return files;
  }

  test('refused, the line saying the file is missing or has no SQLite header', async () => {
    const { dir, env, store, wal } = await killedAndCut(0);
    for (const bytes of [0, 40]) {
      truncateSync(store, bytes);
      const line = runCommand(dir, env, 'status');
      assertRefused(line, wal);
      assert.match(line.stderr, /: the file is missing \(deleted or moved\) or has no SQLite header after the relay/, `${bytes} bytes`);
    }
  });

  test('store copy refuses it in the line every command refuses it with (smsrelay: config: <setting>: <message>, exit 78), the setting being --from', async () => {
    const { dir, env, store, wal } = await killedAndCut(0);
    const copy = runCommand(dir, env, 'store', 'copy', '--from', store, '--to', 'postgres://smsrelay@127.0.0.1:9/never');
    assertRefused(copy, wal);
    const status = runCommand(dir, env, 'status');
    const [, setting, message] = /^smsrelay: config: (.+?): (\S+ was not written against .*)$/m.exec(status.stderr) ?? assert.fail(status.stderr);
    assert.match(setting ?? '', /SMSRELAY_DATA_DIR|dataDir/, 'status names the setting of its data directory');
    assert.equal(copy.stderr.trim(), `smsrelay: config: --from ${store}: ${message}`);
  });
});

describe('a plain crash restart is never refused', () => {
  test('a rollback as documented, then a crash of the older release: its WAL (written against the backup, the record stale) is applied, not refused', async () => {
    const { dir, env, store, wal, shm, relay, backup } = await relayWithBackup(2, 3);
    await relay.stop();
    // The rollback: the upgraded store moved aside, the backup (application_id 0) put in place; the record stays
    // beside it, naming this release's last generation, for the older release knows nothing of it.
    const aside = join(dir, 'aside');
    mkdirSync(aside);
    for (const file of [store, wal, shm]) if (existsSync(file)) renameSync(file, join(aside, basename(file)));
    copyFileSync(backup, store);
    const recorded = readFileSync(`${store}${GENERATION_SUFFIX}`, 'utf8').trim();
    assert.notEqual(recorded, '0');
    // The older release commits (growing the file, so page 1 is in its WAL) and is killed before any checkpoint.
    const older = spawn(
      process.execPath,
      [
        '-e',
        // Every release puts the store in WAL mode at its open (a backup copy is in rollback-journal mode).
        `const db = new (require('better-sqlite3'))(${JSON.stringify(store)}); db.pragma('journal_mode = WAL'); db.pragma('wal_autocheckpoint = 0');
         db.exec('CREATE TABLE older_release (body BLOB)');
         for (let i = 0; i < 200; i++) db.prepare('INSERT INTO older_release VALUES (randomblob(2000))').run();
         process.kill(process.pid, 'SIGKILL');`,
      ],
      { cwd: join(import.meta.dirname, '..'), stdio: 'inherit' },
    );
    await new Promise((resolve) => older.once('exit', resolve));
    assert.ok(statSync(wal).size > 0, 'the older release left its WAL');
    assert.equal(queued(dir, env), 2, "the backup's queue");
    const again = await spawnRelay(dir, env);
    await again.stop();
    const db = new BetterSqlite3(store, { readonly: true });
    try {
      assert.equal(
        (db.prepare('SELECT count(*) AS rows FROM older_release').get() as { rows: number }).rows,
        200,
        "the older release's commits are in the store",
      );
    } finally {
      db.close();
    }
  });

  test('kill -9 after mail, and at random moments of the start (its switch to a new generation): every restart opens, nothing lost', async () => {
    const { dir, env, store, wal } = await relayDir();
    const relay = await spawnRelay(dir, env);
    await send(relay.smtpPort, 5, 'queued');
    await relay.kill9();
    assert.ok(statSync(wal).size > 0);
    for (let round = 0; round < 8; round++) {
      const child = spawn(process.execPath, [join(import.meta.dirname, '../bin/smsrelay.js'), 'start'], {
        cwd: dir,
        env: { PATH: process.env.PATH ?? '', ...env },
        stdio: 'ignore',
      });
      // From before the store opens to after the relay is ready: the switch falls somewhere in between.
      await sleep(300 + round * 150);
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    assert.equal(queued(dir, env), 5);
    const again = await spawnRelay(dir, env);
    await send(again.smtpPort, 1, 'more');
    await again.kill9();
    assert.equal(queued(dir, env), 6);
    assert.ok(existsSync(`${store}${GENERATION_SUFFIX}`));
  });

  test('kill -9 in the middle of the switch: the new generation committed into the WAL, not yet in the file', async () => {
    const { dir, env, store, wal } = await relayDir();
    const relay = await spawnRelay(dir, env);
    await send(relay.smtpPort, 2, 'queued');
    await relay.kill9();
    const sidecar = `${store}${GENERATION_SUFFIX}`;
    const old = readFileSync(sidecar, 'utf8').trim();
    // What the start does up to the new value's commit, then a kill -9 before any checkpoint copies it into the file.
    const next = Number(old) === 12345 ? 54321 : 12345;
    writeFileSync(sidecar, `${old} ${next}\n`);
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const db = new (require('better-sqlite3'))(${JSON.stringify(store)}); db.pragma('wal_autocheckpoint = 0'); db.pragma('application_id = ${next}'); process.kill(process.pid, 'SIGKILL');`,
      ],
      { cwd: join(import.meta.dirname, '..'), stdio: 'inherit' },
    );
    await new Promise((resolve) => child.once('exit', resolve));
    assert.ok(statSync(wal).size > 0);
    assert.equal(queued(dir, env), 2);
    const again = await spawnRelay(dir, env);
    await again.stop();
    assert.equal(queued(dir, env), 2);
  });

  test('kill -9 on a nearly full disk: the start goes on without the checkpoint the file has no room to grow by, and sends its queue', {
    skip: process.getuid?.() !== 0 && 'mounts an 8 MB tmpfs: root only',
  }, async () => {
    const { dir, env, store, wal } = await relayDir({ store: { minFreeMegabytes: 0 } });
    const mount = join(dir, 'data');
    mkdirSync(mount);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mount]);
    try {
      const relay = await spawnRelay(dir, env);
      // Mails of ~50 KB (an attachment the SMS leaves out, the stored mail keeps): a WAL of a few MB.
      const attachment = Buffer.from(Array.from({ length: 37_000 }, (_, i) => String.fromCharCode(33 + ((i * 7919) % 90))).join(''))
        .toString('base64')
        .replace(/.{76}/g, '$&\r\n');
      for (let index = 0; index < 40; index++) {
        const result = await sendMail(relay.smtpPort, {
          to: [`447700900${String(100 + index).padStart(3, '0')}@sms.localhost`],
          headers: { 'MIME-Version': '1.0', 'Content-Type': 'multipart/mixed; boundary=BB' },
          body: `--BB\r\nContent-Type: text/plain\r\n\r\nqueued ${index}\r\n--BB\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n${attachment}\r\n--BB--`,
        });
        assert.equal(result.data?.code, 250, result.data?.text);
      }
      await relay.kill9();
      const walPages = statSync(wal).size;
      assert.ok(walPages > 0);
      // The disk filled, then a little freed: room for the start's small files, not for the file to take in the WAL.
      const filler = join(dir, 'data', 'filler');
      try {
        writeFileSync(filler, Buffer.alloc(statfsSync(mount).bavail * statfsSync(mount).bsize));
      } catch {}
      truncateSync(filler, Math.max(0, statSync(filler).size - 16 * 1024));
      const recorded = readFileSync(`${store}${GENERATION_SUFFIX}`, 'utf8').trim();
      const again = await spawnRelay(dir, env);
      const values = readFileSync(`${store}${GENERATION_SUFFIX}`, 'utf8').trim().split(' ');
      assert.ok(values.includes(recorded), `the record keeps the value the file holds: ${values.join(' ')}`);
      await again.stop();
      rmSync(filler);
      assert.equal(queued(dir, env), 40);
    } finally {
      execFileSync('umount', ['-l', mount]);
    }
  });

  test('a store of a release before the check (no record beside it) after kill -9: opened as before, and recorded from this start', async () => {
    const { dir, env, store, wal } = await relayDir();
    const relay = await spawnRelay(dir, env);
    await send(relay.smtpPort, 2, 'queued');
    await relay.kill9();
    rmSync(`${store}${GENERATION_SUFFIX}`);
    assert.ok(statSync(wal).size > 0);
    const again = await spawnRelay(dir, env);
    await again.stop();
    assert.equal(queued(dir, env), 2);
    assert.ok(existsSync(`${store}${GENERATION_SUFFIX}`));
  });
});
