import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { request } from 'undici';
import {
  freePort,
  GATEWAY_ACCOUNT,
  httpStatus,
  killSpawnedRelays,
  relayEnvironment,
  removeDir,
  spawnRelay,
  startSimulator,
  startTestRelay,
  tempDir,
  waitFor,
} from './helpers/relay.ts';
import { sleep } from './helpers/wait.ts';
import { refusalOf, sendMail } from './helpers/smtp.ts';

/**
 * Faults of the store under a running relay (a deleted data directory, a commit that fails): the
 * relay answers 451/503, never a 250 it cannot keep, and /readyz and /healthz say what the README's
 * "Health" section says they do.
 */

const dirs: string[] = [];
after(() => {
  killSpawnedRelays();
  dirs.forEach(removeDir);
});

/** An `smsrelay` command run in `dir` with the relay's settings `env`; cut off after 20 s (a start that is not refused runs on: no exit code then). */
function smsrelay(dir: string, env: Record<string, string>, ...args: string[]) {
  return spawnSync(process.execPath, [fileURLToPath(new URL('../bin/smsrelay.js', import.meta.url)), ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
}

/** The sweep's interval with inbound.reassemblyTimeout 10s (a tenth of it), and how many more of them a test watches. */
const SWEEP_EVERY_MS = 1_000;
const SWEEPS_AFTER = 3;

describe('a data directory deleted under the running relay', () => {
  test('the next commit gets 451, the relay turns not-ready, and what was answered 250 is saved, named in an error line, and reaches the gateway once restored', async () => {
    const dir = tempDir('smsrelay-lost-');
    dirs.push(dir);
    const gatewayPort = await freePort();
    const env = relayEnvironment(dir, {
      gateway: { provider: 'intellisoftware', url: `http://127.0.0.1:${gatewayPort}`, ...GATEWAY_ACCOUNT, connectTimeout: '1s' },
      delivery: { retryMinDelay: '200ms', retryMaxDelay: '1s' },
      // Its sweep for long SMS missing parts runs every second, and meets the store gone too.
      inbound: { reassemblyTimeout: '10s' },
    });
    const dataDir = join(dir, 'data');
    const texts = Array.from({ length: 10 }, (_, index) => `before-delete ${index}`);
    const relay = await spawnRelay(dir, env);
    for (const [index, text] of texts.entries()) {
      const sent = await sendMail(relay.smtpPort, { to: [`4477009002${String(index).padStart(2, '0')}@sms.localhost`], body: text });
      assert.equal(sent.data?.code, 250, sent.data?.text);
    }
    rmSync(dataDir, { recursive: true, force: true });

    // The next commit (this mail's, or the dispatcher's recording a failed attempt) finds the file gone.
    const next = refusalOf(await sendMail(relay.smtpPort, { to: ['447700900299@sms.localhost'], body: 'after-delete' }));
    assert.equal(next?.code, 451, next?.text);
    assert.equal(next?.text, '4.3.0 Temporary local problem: the message store is unavailable, try again later', 'the cause is for the log, not the client');
    await waitFor('the cause in the log', () => relay.logs.some((line) => JSON.stringify(line).includes('was deleted while the relay ran')));
    const notReady = await request(`http://127.0.0.1:${relay.httpPort}/readyz`);
    assert.equal(notReady.statusCode, 503);
    const body = await notReady.body.text();
    assert.match(body, /"store":"the store file or its write-ahead log was deleted or replaced under the running relay/);
    assert.ok(!body.includes(dir), `no path in ${body}`);
    assert.equal(await httpStatus(relay.httpPort, '/healthz'), 200, 'a restart would start an empty store beside the copy: not a liveness failure');
    const lost = await waitFor('the error line naming the copy', () =>
      relay.logs.find((line) => String(line.msg).startsWith('store: lost') && typeof line.recovery === 'string'),
    );
    assert.equal(lost.level, 'error');
    const recovery = String(lost.recovery);
    assert.ok(String(lost.msg).includes(recovery));
    assert.ok(existsSync(recovery));
    const copy = new BetterSqlite3(recovery, { readonly: true });
    assert.equal((copy.prepare("SELECT COUNT(*) AS n FROM outbound WHERE status = 'queued'").get() as { n: number }).n, texts.length);
    copy.close();
    const later = await sendMail(relay.smtpPort, { to: ['447700900298@sms.localhost'], body: 'later' });
    assert.equal(later.mail.code, 451, 'refused at MAIL FROM from then on');
    const sweepFailures = () => relay.logs.filter((line) => String(line.msg).startsWith('inbound: reassembling long SMS failed')).length;
    await waitFor('the sweep meeting the store gone', () => sweepFailures() > 0);
    // The sweeps after it fail too (one a second here): the episode is one line, as the store's loss is one error line.
    await sleep(SWEEPS_AFTER * SWEEP_EVERY_MS);
    assert.equal(sweepFailures(), 1, 'one line for the episode, not one per sweep');
    assert.equal(await relay.stop(), 0);
    // An expected outage, whose cause the "store: lost" line gives: every line about it in its words, none with a stack.
    assert.ok(relay.logs.some((line) => String(line.msg).startsWith('relay: could not record its stop')));
    const withStack = relay.logs.filter((line) => JSON.stringify(line).includes('"stack"')).map((line) => line.msg);
    assert.deepEqual(withStack, []);

    // The operator restores the copy, the gateway comes back: every mail answered 250 is sent.
    mkdirSync(dataDir, { recursive: true });
    renameSync(recovery, join(dataDir, 'smsrelay.db'));
    assert.equal(basename(recovery).startsWith('smsrelay.db.recovered-'), true);
    const gateway = await startSimulator({ port: gatewayPort });
    const restored = await spawnRelay(dir, env);
    try {
      await waitFor('every accepted mail at the gateway', () => new Set(gateway.simulator.received.map((sms) => sms.text)).size === texts.length, 20_000);
      assert.deepEqual(gateway.simulator.received.map((sms) => sms.text).sort(), [...texts].sort());
    } finally {
      await restored.stop();
      await gateway.close();
    }
  });
});

describe('a data directory deleted while SMS are at the gateway', () => {
  test("the outcomes the lost store cannot take are one error line at the stop, in the store's words, without a stack", async () => {
    const dir = tempDir('smsrelay-lost-in-flight-');
    dirs.push(dir);
    const gateway = await startSimulator();
    gateway.simulator.setBehaviour({ mode: 'hang', times: 2 });
    const relay = await spawnRelay(dir, relayEnvironment(dir, { gateway: { provider: 'intellisoftware', url: gateway.url, ...GATEWAY_ACCOUNT } }));
    try {
      for (const number of ['447700900271', '447700900272']) {
        const sent = await sendMail(relay.smtpPort, { to: [`${number}@sms.localhost`], body: `in flight to ${number}` });
        assert.equal(sent.data?.code, 250, sent.data?.text);
      }
      await waitFor('both requests held at the gateway', () => gateway.simulator.pendingRequests === 2);
      rmSync(join(dir, 'data'), { recursive: true, force: true });
      gateway.simulator.releaseHanging();
      await waitFor('the outcomes refused by the lost store', () => relay.logs.some((line) => String(line.msg).startsWith('dispatch: the store fails')), 5_000);
      assert.equal(await relay.stop(), 0);
      const unrecorded = relay.logs.filter((line) => String(line.msg).startsWith('dispatch: gateway outcomes could not be recorded before the stop'));
      // The stop tries twice (its own step, then as the store closes): the outcome is told once.
      assert.equal(unrecorded.length, 1, JSON.stringify(unrecorded));
      assert.equal(unrecorded[0]?.level, 'error');
      assert.equal(unrecorded[0]?.code, 'STORE_UNAVAILABLE');
      assert.match(String(unrecorded[0]?.reason), /deleted/);
      assert.deepEqual(
        relay.logs.filter((line) => JSON.stringify(line).includes('"stack"')).map((line) => line.msg),
        [],
      );
    } finally {
      await relay.stop();
      await gateway.close();
    }
  });
});

describe('the store files deleted under the running relay, its pid file kept', () => {
  test('smsrelay status names the running relay and the copy it saved, not "no relay data"', async () => {
    const dir = tempDir('smsrelay-deleted-');
    dirs.push(dir);
    const env = relayEnvironment(dir, {});
    const dataDir = join(dir, 'data');
    const relay = await spawnRelay(dir, env);
    try {
      assert.equal((await sendMail(relay.smtpPort, { to: ['447700900295@sms.localhost'], body: 'before' })).data?.code, 250);
      for (const name of readdirSync(dataDir).filter((file) => file.startsWith('smsrelay.db'))) rmSync(join(dataDir, name));
      await sendMail(relay.smtpPort, { to: ['447700900294@sms.localhost'], body: 'after' });
      const lost = await waitFor('the copy saved', () => relay.logs.find((line) => typeof line.recovery === 'string'));
      const status = smsrelay(dir, env, 'status');
      assert.equal(status.status, 66, status.stderr);
      assert.match(status.stderr, new RegExp(`a relay runs on it \\(pid ${relay.child.pid}\\): its store was deleted under it`));
      assert.ok(status.stderr.includes(String(lost.recovery)), status.stderr);
    } finally {
      await relay.stop();
    }
  });
});

describe('a start after the store was lost, its copy in the data directory', () => {
  test('start, status and the commands refuse (exit 78) naming the copy, its queue and both ways on, before and after a new store exists beside it', async () => {
    const dir = tempDir('smsrelay-restart-lost-');
    dirs.push(dir);
    const env = relayEnvironment(dir, {});
    const dataDir = join(dir, 'data');
    const cli = (...args: string[]) => smsrelay(dir, env, ...args);
    const relay = await spawnRelay(dir, env);
    let copy: string;
    try {
      assert.equal(cli('queue', 'pause').status, 0);
      for (const number of ['447700900281', '447700900282'])
        assert.equal((await sendMail(relay.smtpPort, { to: [`${number}@sms.localhost`], body: 'queued' })).data?.code, 250);
      rmSync(join(dataDir, 'smsrelay.db'));
      await sendMail(relay.smtpPort, { to: ['447700900283@sms.localhost'], body: 'after' });
      copy = String((await waitFor('the copy saved', () => relay.logs.find((line) => typeof line.recovery === 'string'))).recovery);
    } finally {
      await relay.stop();
    }
    const refused = (run: ReturnType<typeof cli>, newStore: boolean) => {
      assert.equal(run.status, 78, run.stderr);
      const line = run.stderr.trim().split('\n').at(-1) ?? '';
      assert.ok(line.startsWith('smsrelay: config: SMSRELAY_DATA_DIR='), line);
      assert.ok(line.includes(`${copy} (2 SMS and 0 mail queued`), line);
      assert.ok(
        line.includes(`rm -f ${join(dataDir, 'smsrelay.db-wal')} ${join(dataDir, 'smsrelay.db-shm')} && mv ${copy} ${join(dataDir, 'smsrelay.db')}`),
        line,
      );
      assert.ok(line.includes(`move the copy out of ${dataDir} (mv ${copy} <another directory>/)`), line);
      assert.equal(line.includes('which replaces the smsrelay.db started since'), newStore, line);
    };
    // No store yet beside the copy: a start would make an empty one.
    refused(cli('start'), false);
    assert.ok(!existsSync(join(dataDir, 'smsrelay.db')));
    refused(cli('status'), false);
    // A store started beside it knowingly (the copy moved out meanwhile), the copy back: still refused, each time.
    const aside = join(dir, basename(copy));
    renameSync(copy, aside);
    // The lost file's WAL too: a new store is refused beside a WAL of another file (SQLite would apply it to the new one).
    const walAside = join(dir, 'lost-wal');
    mkdirSync(walAside);
    for (const name of ['smsrelay.db-wal', 'smsrelay.db-shm']) if (existsSync(join(dataDir, name))) renameSync(join(dataDir, name), join(walAside, name));
    const fresh = await spawnRelay(dir, env);
    await fresh.stop();
    renameSync(aside, copy);
    refused(cli('start'), true);
    refused(cli('status'), true);
    refused(cli('queue', 'list'), true);
    // The restore the line names brings the queue back.
    renameSync(copy, join(dataDir, 'smsrelay.db'));
    for (const name of ['smsrelay.db-wal', 'smsrelay.db-shm']) rmSync(join(dataDir, name), { force: true });
    const status = cli('status');
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, /sms queued: 2 \(held: 0\)/);
  });
});

describe('what a lost store left in the data directory other than a copy to restore', () => {
  /** A store holding two queued SMS, the relay stopped; and its data directory. */
  async function queuedStore(prefix: string) {
    const dir = tempDir(prefix);
    dirs.push(dir);
    const env = relayEnvironment(dir, {}, { TMPDIR: dir });
    const relay = await spawnRelay(dir, env);
    try {
      assert.equal(smsrelay(dir, env, 'queue', 'pause').status, 0);
      for (const number of ['447700900281', '447700900282'])
        assert.equal((await sendMail(relay.smtpPort, { to: [`${number}@sms.localhost`], body: 'queued' })).data?.code, 250);
    } finally {
      await relay.stop();
    }
    return { dir, env, dataDir: join(dir, 'data'), cli: (...args: string[]) => smsrelay(dir, env, ...args) };
  }

  test("an empty file of a copy's name is never offered to restore, and a marker names the copy saved in a path the shell must have quoted", async () => {
    const { dir, dataDir, cli } = await queuedStore('smsrelay-no-copy-');
    const store = join(dataDir, 'smsrelay.db');
    // What a data directory full at the loss leaves: an older release's empty attempt, this one's marker and the copy in the temp dir.
    const empty = `${store}.recovered-2026-01-01T00-00-00-000Z`;
    writeFileSync(empty, '');
    const elsewhere = join(dir, "it's tmp");
    mkdirSync(elsewhere);
    const copy = join(elsewhere, 'smsrelay.db.recovered-2026-01-01T00-00-01-000Z');
    renameSync(store, copy);
    const marker = `${store}.recovered-2026-01-01T00-00-01-000Z.elsewhere`;
    writeFileSync(marker, `${copy}\n`);
    const quoted = `'${copy.replaceAll("'", "'\\''")}'`;
    const line = (run: ReturnType<typeof cli>) => {
      assert.equal(run.status, 78, run.stderr);
      return run.stderr.trim().split('\n').at(-1) ?? '';
    };
    const started = line(cli('start'));
    assert.ok(started.includes(`${empty} empty: no copy, never restore it`), started);
    assert.ok(!started.includes(`mv ${empty} ${store} `), started);
    assert.ok(started.includes(`${copy} (named by ${marker}) (2 SMS and 0 mail queued`), started);
    assert.ok(started.includes(`rm -f ${store}-wal ${store}-shm && mv ${quoted} ${store} && rm ${marker}`), started);
    assert.ok(started.includes(`(mv ${empty} ${marker} <another directory>/)`), started);
    // config check: the configuration, then the refusal as its store line; never "start creates it".
    const checked = cli('config', 'check');
    assert.equal(checked.status, 78, checked.stderr);
    assert.ok(checked.stdout.startsWith('{'), checked.stdout);
    const storeLine = checked.stdout.trim().split('\n').at(-1) ?? '';
    assert.ok(storeLine.startsWith('store: start refuses: SMSRELAY_DATA_DIR='), storeLine);
    assert.ok(storeLine.includes(`mv ${quoted} ${store}`), storeLine);
    assert.ok(!checked.stdout.includes('creates it'), checked.stdout);
    // The empty file alone: no restore offered, the "store: lost" line named as where the copy went.
    rmSync(marker);
    const alone = line(cli('status'));
    assert.ok(alone.includes(`${empty} empty: no copy`), alone);
    assert.ok(alone.includes('"store: lost" line'), alone);
    assert.ok(!/ mv (?!<that copy>)/.test(alone), alone);
  });

  test('a copy the store already holds (restored with cp) refuses nothing: one warning names it as restored already', async () => {
    const { dataDir, cli } = await queuedStore('smsrelay-restored-copy-');
    const store = join(dataDir, 'smsrelay.db');
    const copy = `${store}.recovered-2026-01-01T00-00-00-000Z`;
    copyFileSync(store, copy);
    const status = cli('status');
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, /sms queued: 2 \(held: 0\)/);
    const warnings = status.stderr.split('\n').filter((line) => line.includes(copy));
    assert.equal(warnings.length, 1, status.stderr);
    assert.ok(warnings[0]?.includes(`restored already; remove it (rm ${copy})`), status.stderr);
    assert.ok(!status.stderr.includes(' mv '), status.stderr);
  });

  test("a copy the full data directory cannot take leaves no file of a copy's name there, only a marker naming the copy in the temp directory", {
    skip: process.getuid?.() !== 0 && 'mounts a 2 MB tmpfs: root only',
  }, async () => {
    const dir = tempDir('smsrelay-full-copy-');
    dirs.push(dir);
    const mount = join(dir, 'data');
    mkdirSync(mount);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mount]);
    try {
      const env = relayEnvironment(dir, { store: { minFreeMegabytes: 0 } }, { TMPDIR: dir });
      const relay = await spawnRelay(dir, env);
      try {
        assert.equal(smsrelay(dir, env, 'queue', 'pause').status, 0);
        for (const number of ['447700900281', '447700900282'])
          assert.equal((await sendMail(relay.smtpPort, { to: [`${number}@sms.localhost`], body: 'queued' })).data?.code, 250);
        const free = statfsSync(mount);
        writeFileSync(join(mount, 'filler'), Buffer.alloc(Math.max(0, free.bavail * free.bsize - 4096)));
        rmSync(join(mount, 'smsrelay.db'));
        await sendMail(relay.smtpPort, { to: ['447700900283@sms.localhost'], body: 'after' });
        const lost = await waitFor('the copy saved', () => relay.logs.find((line) => typeof line.recovery === 'string'));
        assert.ok(String(lost.recovery).startsWith(dir), String(lost.recovery));
        // Each /readyz tries again only a copy that failed: none here, and none of a copy's name left in the data directory.
        for (let i = 0; i < 3; i++) await httpStatus(relay.httpPort, '/readyz');
      } finally {
        await relay.stop();
      }
      const left = readdirSync(mount).filter((name) => name.includes('.recovered-'));
      assert.equal(left.length, 1, left.join(', '));
      assert.ok(left[0]?.endsWith('.elsewhere'), left.join(', '));
      const run = smsrelay(dir, env, 'start');
      assert.equal(run.status, 78, run.stderr);
      assert.match(run.stderr, /\(2 SMS and 0 mail queued/);
      assert.ok(!run.stderr.includes(`mv ${join(mount, left[0]?.replace('.elsewhere', '') ?? '')} `), run.stderr);
    } finally {
      execFileSync('umount', ['-l', mount]);
    }
  });
});

describe('a store copied over in place under the running relay', () => {
  test('the first statement that finds it damaged turns /readyz red for good, with one error line naming the file and the fix', async () => {
    const dir = tempDir('smsrelay-damaged-');
    dirs.push(dir);
    const env = relayEnvironment(dir, { delivery: { retryMinDelay: '200ms', retryMaxDelay: '1s' } });
    const file = join(dir, 'data', 'smsrelay.db');
    const relay = await spawnRelay(dir, env);
    for (let index = 0; index < 20; index++) {
      const sent = await sendMail(relay.smtpPort, { to: [`4477009003${String(index).padStart(2, '0')}@sms.localhost`], body: `before ${index}` });
      assert.equal(sent.data?.code, 250, sent.data?.text);
    }
    // `cp backup.db smsrelay.db`: another store's pages written into the same inode (no stat tells), the relay's WAL left beside it.
    const other = join(dir, 'other.db');
    const backup = new BetterSqlite3(other);
    backup.exec('CREATE TABLE unrelated (id INTEGER PRIMARY KEY, text TEXT); CREATE INDEX unrelated_text ON unrelated (text)');
    const insert = backup.prepare('INSERT INTO unrelated (text) VALUES (?)');
    for (let row = 0; row < 3000; row++) insert.run(`row ${row} ${'y'.repeat(80)}`);
    backup.close();
    // As a relay that ran a while has: its commits checkpointed into the file, so its reads go to the file's pages.
    const checkpoint = new BetterSqlite3(file);
    checkpoint.pragma('wal_checkpoint(TRUNCATE)');
    checkpoint.close();
    execFileSync('cp', [other, file]);

    await waitFor(
      'the damage found by a statement',
      async () => {
        await sendMail(relay.smtpPort, { to: ['447700900399@sms.localhost'], body: 'after the copy' });
        return relay.logs.some((line) => String(line.msg).startsWith('store: damaged'));
      },
      20_000,
    );
    const damaged = relay.logs.find((line) => String(line.msg).startsWith('store: damaged'));
    assert.equal(damaged?.level, 'error');
    assert.ok(String(damaged?.msg).includes(file), String(damaged?.msg));
    assert.match(String(damaged?.msg), /put the last `smsrelay backup` copy in its place/);
    // Write probes that succeed (other pages) prove nothing: it stays red past several probes.
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    const notReady = await request(`http://127.0.0.1:${relay.httpPort}/readyz`);
    assert.equal(notReady.statusCode, 503);
    assert.match(await notReady.body.text(), /"store":"the store file is damaged/);
    const later = await sendMail(relay.smtpPort, { to: ['447700900398@sms.localhost'], body: 'later' });
    assert.equal(later.mail.code, 451, 'refused up front from then on');
    assert.equal(await httpStatus(relay.httpPort, '/healthz'), 200, 'a restart cures nothing: it refuses the file');
    await relay.stop();
  });
});

describe('commits that fail', () => {
  test('/readyz turns 503 at the first failed commit and 200 again when one succeeds (a probe, with no traffic); /healthz stays 200', async () => {
    const dir = tempDir('smsrelay-busy-');
    dirs.push(dir);
    const { relay, config } = await startTestRelay({ store: { busyTimeout: '100ms' } }, {}, dir);
    try {
      assert.equal(await httpStatus(relay.httpPort, '/readyz'), 200);
      // Another process holds the store's write lock (an operator's sqlite3 shell): every commit fails.
      const other = new BetterSqlite3(join(config.dataDir, 'smsrelay.db'));
      other.exec('BEGIN IMMEDIATE');
      const refused = await sendMail(relay.smtpPort, { to: ['447700900297@sms.localhost'], body: 'locked out' });
      assert.equal(refused.data?.code, 451, refused.data?.text);
      assert.equal(refused.data?.text, '4.3.0 Temporary local problem: the message store is busy, try again in a moment');
      const notReady = await request(`http://127.0.0.1:${relay.httpPort}/readyz`);
      assert.equal(notReady.statusCode, 503);
      assert.deepEqual(await notReady.body.json(), {
        status: 'not ready',
        reasons: { store: 'commits fail (see the log line "store: commits fail")' },
      });
      assert.equal(await httpStatus(relay.httpPort, '/healthz'), 200, 'a restart does not cure it');
      const metrics = await (await request(`http://127.0.0.1:${relay.httpPort}/metrics`)).body.text();
      const failed = Number(/^smsrelay_store_failed_commits_total (\d+)$/m.exec(metrics)?.[1]);
      assert.ok(failed >= 1, `the failed commits counted: ${failed}`);
      other.exec('ROLLBACK');
      other.close();
      await waitFor('ready again', async () => (await httpStatus(relay.httpPort, '/readyz')) === 200, 2_000);
      const accepted = await sendMail(relay.smtpPort, { to: ['447700900296@sms.localhost'], body: 'unlocked' });
      assert.equal(accepted.data?.code, 250, accepted.data?.text);
    } finally {
      await relay.stop();
    }
  });
});

describe('a disk that refuses writes', () => {
  /**
   * The relay's own file-size limit set to 0 (prlimit on its pid): every write to the store's files
   * fails (EFBIG; Node ignores SIGXFSZ), as on a filesystem gone read-only, while locks, reads and
   * commits that write nothing still succeed. Lowering and raising back one's own soft limit needs no
   * privilege, and root is held to it too (file permissions are not), so the test runs alike for both
   * and needs no loop device or mount.
   */
  function limitFileSize(pid: number, limit: '0' | 'unlimited'): void {
    execFileSync('prlimit', ['--pid', String(pid), `--fsize=${limit}:`]);
  }

  test('/readyz stays 503 with one "commits fail" line while writes cannot reach the disk (commits that write nothing do not count), and turns 200 once one does', async () => {
    const dir = tempDir('smsrelay-refusing-disk-');
    dirs.push(dir);
    const relay = await spawnRelay(dir, relayEnvironment(dir, {}));
    const pid = relay.child.pid as number;
    try {
      const before = await sendMail(relay.smtpPort, { to: ['447700900281@sms.localhost'], body: 'before' });
      assert.equal(before.data?.code, 250, before.data?.text);
      limitFileSize(pid, '0');
      const refused = refusalOf(await sendMail(relay.smtpPort, { to: ['447700900282@sms.localhost'], body: 'refused' }));
      assert.equal(refused?.code, 451, refused?.text);
      // Seven seconds: the mail queue's claims (which find nothing to claim), heartbeats and /readyz write probes.
      const answers: number[] = [];
      for (let tries = 0; tries < 28; tries++) {
        answers.push(await httpStatus(relay.httpPort, '/readyz'));
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      assert.deepEqual(new Set(answers), new Set([503]), `/readyz answered ${answers.join(' ')}`);
      const episodes = (text: string) => relay.logs.filter((line) => String(line.msg).startsWith(`store: commits ${text}`)).length;
      assert.equal(episodes('succeed again'), 0);
      assert.equal(episodes('fail'), 1);

      limitFileSize(pid, 'unlimited');
      await waitFor('ready again', async () => (await httpStatus(relay.httpPort, '/readyz')) === 200, 3_000);
      // Logged once commits have kept succeeding for RECOVERY_SETTLED_MS.
      await waitFor('one recovery line', () => episodes('succeed again') === 1, 3_000);
      assert.equal(episodes('fail'), 1);
      const after = await sendMail(relay.smtpPort, { to: ['447700900283@sms.localhost'], body: 'after' });
      assert.equal(after.data?.code, 250, after.data?.text);
    } finally {
      limitFileSize(pid, 'unlimited');
      assert.equal(await relay.stop(), 0);
    }
  });

  test('a gateway outcome the store cannot take while writes fail is kept, a debug line each and no error with a stack (docs: a stack means a bug); it is recorded once writes succeed', async () => {
    const dir = tempDir('smsrelay-owed-outcome-');
    dirs.push(dir);
    const gateway = await startSimulator();
    gateway.simulator.setBehaviour({ mode: 'hang', times: 1 });
    const relay = await spawnRelay(dir, relayEnvironment(dir, { gateway: { provider: 'intellisoftware', url: gateway.url, ...GATEWAY_ACCOUNT } }));
    const pid = relay.child.pid as number;
    try {
      const sent = await sendMail(relay.smtpPort, { to: ['447700900284@sms.localhost'], body: 'owed' });
      assert.equal(sent.data?.code, 250, sent.data?.text);
      await waitFor('the send request held at the gateway', () => gateway.simulator.pendingRequests === 1);
      limitFileSize(pid, '0');
      gateway.simulator.releaseHanging();
      // The outcome's commit is the only write due: its failure is the outage's line.
      await waitFor('the outcome refused by the store', () => relay.logs.find((line) => String(line.msg).startsWith('store: commits fail')));
      await waitFor('the dispatcher waiting for the store', () => relay.logs.find((line) => String(line.msg).startsWith('dispatch: the store fails')));
      limitFileSize(pid, 'unlimited');
      await waitFor(
        'the outcome recorded',
        () => relay.logs.find((line) => line.msg === 'dispatch: gateway outcomes recorded now that the store takes writes again'),
        5_000,
      );
      // Logged at info: the debug line each is not among them, nor any error line but the outage's.
      assert.deepEqual(
        relay.logs.filter((line) => line.level === 'error' || String(line.msg).startsWith('dispatch: could not record')).map((line) => line.msg),
        [relay.logs.find((line) => String(line.msg).startsWith('store: commits fail'))?.msg],
      );
      assert.deepEqual(
        relay.logs.filter((line) => JSON.stringify(line).includes('"stack"')).map((line) => line.msg),
        [],
      );
    } finally {
      limitFileSize(pid, 'unlimited');
      assert.equal(await relay.stop(), 0);
      await gateway.close();
    }
  });
});
