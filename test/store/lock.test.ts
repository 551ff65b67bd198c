import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import { makeDataDir } from '../../src/store/lock.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { BIN, relayEnvironment, removeDir, spawnRelay, startTestRelay, tempDir, waitFor } from '../helpers/relay.ts';
import { sendMail } from '../helpers/smtp.ts';

/** A live process that is not a relay, standing in for whatever got a dead relay's pid. */
async function unrelatedProcess() {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  await once(child, 'spawn');
  return { pid: child.pid as number, stop: () => child.kill('SIGKILL') };
}

/** Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot. */
function startTime(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] as string;
}

/** The data directory's lock file, whatever the store: one relay per data directory (its Maildir; its SQLite file). */
test("a data directory the relay makes is never world-accessible, its group's as the umask allows; its parents and an existing one are left as they are", () => {
  const root = tempDir('smsrelay-datadir-');
  const umask = process.umask();
  try {
    // 0027: what security.md advises for a Maildir reader in the relay's group, who must be able to enter the data directory.
    for (const [mask, expected] of [
      [0o027, 0o750],
      [0o077, 0o700],
      [0o022, 0o750],
    ] as const) {
      process.umask(mask);
      const dataDir = join(root, mask.toString(8), 'var', 'data');
      makeDataDir(dataDir);
      assert.equal(statSync(dataDir).mode & 0o777, expected, `umask ${mask.toString(8)}`);
      assert.equal(statSync(dirname(dataDir)).mode & 0o777, 0o777 & ~mask);
    }
    const dataDir = join(root, 'existing');
    mkdirSync(dataDir);
    chmodSync(dataDir, 0o755);
    makeDataDir(dataDir);
    assert.equal(statSync(dataDir).mode & 0o777, 0o755);
  } finally {
    process.umask(umask);
    removeDir(root);
  }
});

describe('the data directory lock', { skip: process.platform !== 'linux' && 'process start times are read from /proc' }, () => {
  test('a pid file whose pid now belongs to another process does not block a restart', async () => {
    const dir = tempDir('smsrelay-lock-');
    const other = await unrelatedProcess();
    try {
      mkdirSync(join(dir, 'data'));
      // What a relay killed with -9 leaves, after the system gave its pid to another process.
      writeFileSync(join(dir, 'data', 'smsrelay.pid'), `${other.pid}\n${Number(startTime(other.pid)) - 1}\n`);
      const relay = await startTestRelay({}, {}, dir);
      assert.equal(readFileSync(join(dir, 'data', 'smsrelay.pid'), 'utf8'), `${process.pid}\n${startTime(process.pid)}\n`);
      await relay.stop();
    } finally {
      other.stop();
      removeDir(dir);
    }
  });

  test("the take-over line names the dead relay's pid as stalePid, apart from the line's own pid", async () => {
    const dir = tempDir('smsrelay-lock-');
    const other = await unrelatedProcess();
    try {
      mkdirSync(join(dir, 'data'));
      writeFileSync(join(dir, 'data', 'smsrelay.pid'), `${other.pid}\n${Number(startTime(other.pid)) - 1}\n`);
      const relay = await spawnRelay(dir, relayEnvironment(dir, {}));
      const line = relay.logs.find((entry) => entry.msg === 'relay: took over the lock of a relay that is gone');
      assert.equal(line?.pid, relay.child.pid);
      assert.equal(line?.stalePid, other.pid);
      assert.equal(line?.reason, 'pid reused');
      assert.equal(await relay.stop(), 0);
    } finally {
      other.stop();
      removeDir(dir);
    }
  });

  test('a pid file of a relay killed but not yet reaped by its parent (a zombie) does not block a restart', async () => {
    const dir = tempDir('smsrelay-lock-');
    // The shell becomes a sleep that never waits for its children: the one killed stays a zombie until it exits.
    const parent = spawn('sh', ['-c', 'sleep 30 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const [output] = (await once(parent.stdout, 'data')) as [Buffer];
      const pid = Number(output.toString().trim());
      const started = startTime(pid);
      // Killed before the shell became the sleep, the child would be reaped by the shell (no zombie).
      await waitFor('the shell to become a sleep', () => readFileSync(`/proc/${parent.pid}/comm`, 'utf8').trim() === 'sleep');
      process.kill(pid, 'SIGKILL');
      await waitFor('a zombie', () => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z'));
      mkdirSync(join(dir, 'data'));
      writeFileSync(join(dir, 'data', 'smsrelay.pid'), `${pid}\n${started}\n`);
      const relay = await startTestRelay({}, {}, dir);
      assert.equal(readFileSync(join(dir, 'data', 'smsrelay.pid'), 'utf8'), `${process.pid}\n${startTime(process.pid)}\n`);
      await relay.stop();
    } finally {
      parent.kill('SIGKILL');
      removeDir(dir);
    }
  });

  test('a pid file of a process that still runs since it wrote it blocks a second relay', async () => {
    const dir = tempDir('smsrelay-lock-');
    const other = await unrelatedProcess();
    try {
      mkdirSync(join(dir, 'data'));
      writeFileSync(join(dir, 'data', 'smsrelay.pid'), `${other.pid}\n${startTime(other.pid)}\n`);
      await assert.rejects(startTestRelay({}, {}, dir), new RegExp(`in use by another smsrelay \\(pid ${other.pid}\\)`));
    } finally {
      other.stop();
      removeDir(dir);
    }
  });
});

describe('a data directory its user can no longer write', () => {
  /** The relay's own user: root writes anywhere whatever the modes, so as root the relay runs as nobody. */
  const asRoot = process.getuid?.() === 0;
  const user = asRoot ? { uid: 65534, gid: 65534 } : undefined;

  /** `dir` (the config, the relay's cwd) and its data directory, the relay's user's. */
  function relayDir() {
    const dir = tempDir('smsrelay-unwritable-');
    chmodSync(dir, 0o755);
    const data = join(dir, 'data');
    mkdirSync(data, { mode: 0o700 });
    if (user) chownSync(data, user.uid, user.gid);
    return { dir, data, env: relayEnvironment(dir, {}) };
  }

  /** relayDir with a store made in it (closed: no WAL left), `owner`'s. */
  async function relayStore(owner = user) {
    const made = relayDir();
    const file = join(made.data, 'smsrelay.db');
    await (await SqliteStore.open({ file, busyTimeoutMs: 100 })).close();
    if (owner) chownSync(file, owner.uid, owner.gid);
    return { ...made, file };
  }

  /** `smsrelay <command>` run to its end in `dir` as the relay's user, or under `wrapper` (a command and its arguments). */
  const run = (dir: string, env: Record<string, string>, command: string, wrapper: readonly string[] = []) => {
    const [program = process.execPath, ...args] = [...wrapper, process.execPath, BIN, command];
    return spawnSync(program, args, {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', ...env },
      encoding: 'utf8',
      timeout: 60_000,
      ...(wrapper.length === 0 ? user : undefined),
    });
  };

  test('its lock and store files still writable in place (left by a relay killed with -9): the start refuses with one line naming it and the fix, exit 78', async () => {
    const { dir, data, env } = relayDir();
    try {
      const first = await spawnRelay(dir, env, user);
      await first.kill9();
      assert.ok(existsSync(join(data, 'smsrelay.pid')), 'the killed relay left its lock file');
      chmodSync(data, 0o500);
      const result = run(dir, env, 'start');
      assert.equal(result.status, 78, result.stderr);
      assert.deepEqual(
        result.stderr
          .trim()
          .split('\n')
          .filter((line) => !line.startsWith('{')),
        [
          `smsrelay: config: SMSRELAY_DATA_DIR="${data}": data directory ${data} cannot be written: permission denied for the user the relay runs as; choose a directory the relay can write`,
        ],
      );
    } finally {
      chmodSync(data, 0o700);
      removeDir(dir);
    }
  });

  test("its store's file, WAL or WAL index not writable by it (a backup restored as root, a file made read-only): the start (and a command, for the WAL or its index) refuses with one line naming dataDir, the file and the fix, exit 78", async () => {
    const { dir, data, env, file } = await relayStore();
    try {
      /** `path` (made when missing) with `mode`, `owner`'s. */
      const own = (path: string, mode: number, owner = user) => {
        writeFileSync(path, '', { flag: 'a' });
        if (owner) chownSync(path, owner.uid, owner.gid);
        chmodSync(path, mode);
      };
      const root = { uid: 0, gid: 0 };
      const cases: ReadonlyArray<readonly [string, string, number, typeof user]> = [
        ['the store made read-only', file, 0o444, user],
        ['its WAL read-only', `${file}-wal`, 0o400, user],
        ['its WAL index read-only', `${file}-shm`, 0o400, user],
        // Restored with cp as root, root's alone: where the test is root (and the relay runs as nobody).
        ...(user ? [["the store root's", file, 0o600, root] as const] : []),
      ];
      for (const [name, denied, mode, owner] of cases) {
        own(denied, mode, owner);
        // The commands open a store they may open as start does: one whose WAL or index they may not write is this line too.
        for (const command of denied === file ? ['start'] : ['start', 'status']) {
          const result = run(dir, env, command);
          assert.equal(result.status, 78, `${name}, ${command}: ${result.stderr}`);
          const lines = result.stderr
            .trim()
            .split('\n')
            .filter((line) => !line.startsWith('{') && !line.startsWith('smsrelay: data directory '));
          assert.equal(lines.length, 1, `${name}, ${command}: ${result.stderr}`);
          assert.match(
            lines[0] ?? '',
            new RegExp(
              `^smsrelay: config: SMSRELAY_DATA_DIR="${data}": the store ${file} cannot be opened: (\\S+), the user smsrelay runs as, may not write ${denied} \\(EACCES, permission denied; a file restored or copied as root is root's\\): chown \\1 ${denied}; chmod u\\+rwX ${denied}$`,
            ),
            `${name}, ${command}`,
          );
        }
        // Put right as the line says: the next case starts from a store the relay's user may use.
        if (denied === file) own(file, 0o600);
        else rmSync(denied);
      }
    } finally {
      removeDir(dir);
    }
  });

  test('a data directory its user may read but not write, its store writable (made or restored as root): a command refuses with one line naming the directory and the fix, exit 78', async () => {
    // No WAL left: the command's open must make the WAL and its index in the directory.
    const { dir, data, env, file } = await relayStore();
    try {
      chmodSync(data, 0o500);
      const result = run(dir, env, 'status');
      assert.equal(result.status, 78, result.stderr);
      assert.match(
        result.stderr,
        new RegExp(
          `^smsrelay: config: SMSRELAY_DATA_DIR="${data}": the store ${file} cannot be opened: (\\S+), the user smsrelay runs as, may not write ${data} \\(EACCES, permission denied; a file restored or copied as root is root's\\): chown \\1 ${data}; chmod u\\+rwX ${data}$`,
          'm',
        ),
      );
      assert.deepEqual(readdirSync(data), ['smsrelay.db'], 'nothing made in it');
    } finally {
      chmodSync(data, 0o700);
      removeDir(dir);
    }
  });

  /** Whether setpriv (util-linux) is here to start a process as another user with capabilities. */
  const setpriv = asRoot && spawnSync('setpriv', ['--version']).status === 0;

  test("a relay given CAP_DAC_OVERRIDE (systemd's AmbientCapabilities) on a store its user does not own: it starts, and a command opens the store", {
    skip: setpriv ? false : 'needs root and setpriv',
  }, async () => {
    const { dir, env, file } = await relayStore({ uid: 0, gid: 0 });
    // nobody, with the capability to read and write whatever the modes (access(2) would still judge by nobody alone).
    const wrapper = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=+dac_override', '--ambient-caps=+dac_override'];
    try {
      chmodSync(file, 0o600);
      const status = run(dir, env, 'status', wrapper);
      assert.equal(status.status, 0, status.stderr);
      assert.equal(statSync(file).uid, 0, "the store is still root's");
      const relay = await spawnRelay(dir, env, undefined, { wrapper });
      assert.equal(await relay.stop(), 0, relay.stderr());
    } finally {
      removeDir(dir);
    }
  });

  test('made unwritable under the running relay: the stop logs that the lock file stays, says `relay: stopped` and exits 0, no stack', async () => {
    const { dir, data, env } = relayDir();
    try {
      const relay = await spawnRelay(dir, env, user);
      chmodSync(data, 0o500);
      assert.equal(await relay.stop(), 0);
      const kept = relay.logs.find((line) => String(line.msg).startsWith('relay: the lock file stays'));
      assert.equal(kept?.level, 'warn');
      assert.equal(
        kept?.reason,
        `data directory ${data} keeps its lock file: smsrelay.pid cannot be removed: permission denied for the user the relay runs as; choose a directory the relay can write`,
      );
      assert.equal(relay.logs.at(-1)?.msg, 'relay: stopped');
      assert.deepEqual(
        relay.logs.filter((line) => JSON.stringify(line).includes('"stack"')),
        [],
        'no line with a stack',
      );
    } finally {
      chmodSync(data, 0o700);
      removeDir(dir);
    }
  });
});

describe('a store file that is a symbolic link (moved to another disk and linked back)', () => {
  /** `smsrelay <command>` run to its end in `dir`. */
  const run = (dir: string, env: Record<string, string>, ...command: string[]) =>
    spawnSync(process.execPath, [BIN, ...command], { cwd: dir, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 60_000 });
  /** A stopped relay's store in `elsewhere/data`, and a data directory `linked` whose smsrelay.db links to it. */
  async function linkedStore() {
    const elsewhere = tempDir('smsrelay-link-target-');
    const linked = tempDir('smsrelay-link-');
    const target = join(elsewhere, 'data', 'smsrelay.db');
    mkdirSync(dirname(target));
    await (await SqliteStore.open({ file: target, busyTimeoutMs: 100 })).close();
    mkdirSync(join(linked, 'data'));
    symlinkSync(target, join(linked, 'data', 'smsrelay.db'));
    return { elsewhere, linked, target, env: relayEnvironment(linked, { delivery: { retryMinDelay: '1m' } }), targetEnv: relayEnvironment(elsewhere, {}) };
  }

  test('the relay starts on it and commits into the linked file (its WAL beside it); status reads it; a second relay on the file, from its own directory, is refused with one line, exit 78', async () => {
    const { elsewhere, linked, target, env, targetEnv } = await linkedStore();
    try {
      const relay = await spawnRelay(linked, env);
      try {
        const sent = await sendMail(relay.smtpPort, { to: ['447700900301@sms.localhost'], body: 'through the link' });
        assert.equal(sent.data?.code, 250, sent.data?.text);
        assert.ok(existsSync(`${target}-wal`), 'the WAL is beside the file the link names');
        const status = run(linked, env, 'status');
        assert.equal(status.status, 0, status.stderr);
        assert.match(status.stdout, new RegExp(`^relay: running \\(pid ${relay.child.pid}\\)`));
        // The directory the store is in has a relay now: one started there would write the same file.
        const second = run(elsewhere, targetEnv, 'start');
        assert.equal(second.status, 78, second.stderr);
        assert.match(
          second.stderr,
          new RegExp(
            `^smsrelay: config: SMSRELAY_DATA_DIR="${join(elsewhere, 'data')}": data directory ${join(elsewhere, 'data')} is in use by another smsrelay \\(pid ${relay.child.pid}\\)`,
            'm',
          ),
        );
      } finally {
        assert.equal(await relay.stop(), 0);
      }
      assert.equal(lstatSync(join(linked, 'data', 'smsrelay.db')).isSymbolicLink(), true, 'the link is left as it was');
      assert.ok(!existsSync(join(elsewhere, 'data', 'smsrelay.pid')), "the store's directory's lock is released with the relay's own");
      const db = new BetterSqlite3(target, { readonly: true });
      assert.equal((db.prepare('SELECT COUNT(*) AS n FROM outbound').get() as { n: number }).n, 1);
      db.close();
      // And the other way round: a relay in the store's own directory refuses one on the link.
      const owner = await spawnRelay(elsewhere, targetEnv);
      try {
        // Seen through the link: the commands that must not run beside a relay (store copy, backup) ask the same.
        const seen = run(linked, env, 'status');
        assert.match(seen.stdout, new RegExp(`^relay: running \\(pid ${owner.child.pid}\\)`), seen.stdout + seen.stderr);
        const second = run(linked, env, 'start');
        assert.equal(second.status, 78, second.stderr);
        assert.match(
          second.stderr,
          new RegExp(
            `^smsrelay: config: SMSRELAY_DATA_DIR="${join(linked, 'data')}": ${join(linked, 'data', 'smsrelay.db')} is a link into ${join(elsewhere, 'data')}: data directory ${join(elsewhere, 'data')} is in use by another smsrelay \\(pid ${owner.child.pid}\\)`,
            'm',
          ),
        );
      } finally {
        assert.equal(await owner.stop(), 0);
      }
    } finally {
      removeDir(elsewhere);
      removeDir(linked);
    }
  });

  test('one that names nothing (its disk not mounted), or a path that is no file (a directory, a loop of links): start and status refuse with one line naming dataDir, the file and the fix, exit 78, and make no store', async () => {
    const { elsewhere, linked, target, env } = await linkedStore();
    const file = join(linked, 'data', 'smsrelay.db');
    try {
      rmSync(dirname(target), { recursive: true });
      const cases: ReadonlyArray<readonly [string, () => void, RegExp]> = [
        ['a link to nothing', () => undefined, new RegExp(`the store ${file} is a link to ${target}, which does not exist: mount the disk it is on`)],
        [
          'a link to itself',
          () => {
            rmSync(file);
            symlinkSync(file, file);
          },
          new RegExp(`the store ${file} cannot be opened \\(ELOOP: .*\\): make it the store file, or a link to one, or remove it to start a new store$`),
        ],
        [
          'a directory',
          () => {
            rmSync(file);
            mkdirSync(file);
          },
          new RegExp(`the store ${file} is a directory: make it the store file, or a link to one, or remove it to start a new store$`),
        ],
      ];
      for (const [name, make, line] of cases) {
        make();
        for (const command of ['start', 'status']) {
          const result = run(linked, env, command);
          assert.equal(result.status, 78, `${name}, ${command}: ${result.stderr}`);
          const lines = result.stderr
            .trim()
            .split('\n')
            .filter((text) => !text.startsWith('{'));
          assert.equal(lines.length, 1, `${name}, ${command}: ${result.stderr}`);
          assert.match(lines[0] ?? '', new RegExp(`^smsrelay: config: SMSRELAY_DATA_DIR="${join(linked, 'data')}": `), `${name}, ${command}`);
          assert.match(lines[0] ?? '', line, `${name}, ${command}`);
          assert.equal(existsSync(target), false, `${name}, ${command}: no new store made where the link points`);
        }
      }
    } finally {
      removeDir(elsewhere);
      removeDir(linked);
    }
  });
});
