import assert from 'node:assert/strict';
import { type SpawnSyncReturns, spawn, spawnSync } from 'node:child_process';
import { simpleParser } from 'mailparser';
import { once } from 'node:events';
import {
  chmodSync,
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import { type AddressInfo, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, describe, type TestContext, test } from 'node:test';
import { request } from 'undici';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { killSpawnedRelays, maildirMessages, relayEnvironment, removeDir, spawnRelay, tempDir, waitFor } from './helpers/relay.ts';
import { verifyPassword } from '../src/policy/passwords.ts';
import { SqliteStore } from '../src/store/sqlite.ts';
import { MIGRATIONS } from '../src/store/migrations.ts';
import { loadConfig } from '../src/config/load.ts';
import { createLogger } from '../src/log.ts';
import { startRelay } from '../src/relay.ts';
import { queuedId, sendMail } from './helpers/smtp.ts';
import { mail } from './helpers/store.ts';
import { PLAIN, secretParts, YAML_SPECIAL_FIRST, yamlSpecialSecrets } from './helpers/yaml-secrets.ts';

const BIN = fileURLToPath(new URL('../bin/smsrelay.js', import.meta.url));
const dirs: string[] = [];
after(() => {
  killSpawnedRelays();
  dirs.forEach(removeDir);
});

/**
 * The words that run `sh -c` in a namespace of the test's own (no privilege needed where user namespaces are
 * allowed), or undefined, the test skipped and saying why, where `probe` cannot run in one here.
 */
function inNamespace(context: TestContext, kind: 'uts' | 'mount', probe: string): string[] | undefined {
  const unshare = ['--user', '--map-root-user', `--${kind}`, 'sh', '-c'];
  if (spawnSync('unshare', [...unshare, probe]).status === 0) return unshare;
  context.skip(`no ${kind} namespace here (unshare)`);
  return undefined;
}

/** `smsrelay config check` run in `cwd` with only PATH, the data directory and `env` set. */
function configCheckIn(cwd: string, data: string, env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [BIN, 'config', 'check'], {
    cwd,
    env: { PATH: process.env.PATH ?? '', SMSRELAY_DATA_DIR: data, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

function dir(): string {
  const created = tempDir('smsrelay-cli-');
  dirs.push(created);
  return created;
}

/**
 * `smsrelay start` in a mount namespace (`unshare`) on a 2 MB tmpfs at `mountPoint` ($0) holding the store
 * made in `cwd` under data/, after `then` ran there (it ends with `exec "$@"`: the start).
 */
function startOnTmpfs(
  unshare: readonly string[],
  then: string,
  where: { readonly cwd: string; readonly mountPoint: string; readonly data: string; readonly env?: Record<string, string> },
): SpawnSyncReturns<string> {
  return spawnSync(
    'unshare',
    [
      ...unshare,
      `mount -t tmpfs -o size=2m tmpfs "$0" && mkdir "$0/data" && cp "$STORE" "$0/data/smsrelay.db" && ${then}`,
      where.mountPoint,
      process.execPath,
      BIN,
      'start',
    ],
    {
      cwd: where.cwd,
      env: {
        PATH: process.env.PATH ?? '',
        STORE: join(where.cwd, 'made', 'smsrelay.db'),
        SMSRELAY_DATA_DIR: where.data,
        SMSRELAY_HTTP_PORT: '0',
        SMSRELAY_SMTP_PORT: '0',
        ...where.env,
      },
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
}

describe('smsrelay command', () => {
  test('a wrong configuration stops start-up with exit 78 and one clear line per problem', () => {
    const cwd = dir();
    const result = spawnSync(process.execPath, [BIN, 'start'], {
      cwd,
      env: { PATH: process.env.PATH ?? '', SMSRELAY_SMTP_PORT: 'abc', SMSRELAY_SMS_DOMAINS: 'not a domain', SMSRELAY_DATA_DIR: `${cwd}/data` },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(result.status, 78);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 2, result.stderr);
    assert.match(lines[0] ?? '', /^smsrelay: config: SMSRELAY_SMTP_PORT="abc": /);
    assert.match(lines[1] ?? '', /^smsrelay: config: SMSRELAY_SMS_DOMAINS="not a domain": expected a domain name/);
  });

  /** `smsrelay start` in `cwd` with only these variables; it is expected to refuse to start. */
  function refusedStart(cwd: string, env: Record<string, string | undefined>) {
    const result = spawnSync(process.execPath, [BIN, 'start'], {
      cwd,
      // A variable given as undefined is left out by Node (an empty one counts as set).
      env: { PATH: process.env.PATH ?? '', SMSRELAY_DATA_DIR: `${cwd}/data`, SMSRELAY_HTTP_PORT: '0', ...env },
      encoding: 'utf8',
      timeout: 60_000, // a start that opens the store and its listeners, on a loaded 2-core machine
    });
    return { status: result.status, lines: result.stderr.trim().split('\n'), stderr: result.stderr, stdout: result.stdout };
  }

  test('config errors name the true source and the fix: the variable when there is no file, GB for UK, the key a typo meant', () => {
    const cwd = dir();
    const gateway = refusedStart(cwd, { SMSRELAY_GATEWAY: 'intellisoftware', SMSRELAY_DEFAULT_REGION: 'UK' });
    assert.equal(gateway.status, 78);
    assert.deepEqual(gateway.lines.toSorted(), [
      'smsrelay: config: SMSRELAY_DEFAULT_REGION="UK": UK is not an ISO country code: use GB',
      'smsrelay: config: SMSRELAY_GATEWAY_PASSWORD: required for the intellisoftware gateway (or gateway.password in smsrelay.yaml)',
      'smsrelay: config: SMSRELAY_GATEWAY_USERNAME: required for the intellisoftware gateway (or gateway.username in smsrelay.yaml)',
    ]);
    writeFileSync(join(cwd, 'smsrelay.yaml'), 'sms:\n  domain: sms.example.com\ndelivery:\n  maxAge: 24\n');
    const file = refusedStart(cwd, {});
    assert.equal(file.status, 78, 'a mistyped key never starts the relay on the default domain');
    assert.deepEqual(file.lines.toSorted(), [
      `smsrelay: config: ${join(cwd, 'smsrelay.yaml')}: delivery.maxAge: write a duration such as 30s, 5m or 24h (a number needs its unit: 24s, 24m…)`,
      `smsrelay: config: ${join(cwd, 'smsrelay.yaml')}: sms.domain: unknown setting; did you mean domains?`,
    ]);
  });

  test('an unusable data directory is one line naming dataDir, where it came from and why, exit 78, from start and from every command that reads it; never a hang', () => {
    const cwd = dir();
    const file = join(cwd, 'a-file');
    writeFileSync(file, '');
    const cases: Array<[Record<string, string | undefined>, string | undefined, RegExp]> = [
      [
        { SMSRELAY_DATA_DIR: `${file}/data` },
        undefined,
        /^smsrelay: config: SMSRELAY_DATA_DIR=".*\/a-file\/data": .*a part of the path is a file, not a directory; choose a directory the relay can write$/,
      ],
      [
        { SMSRELAY_DATA_DIR: file },
        undefined,
        /^smsrelay: config: SMSRELAY_DATA_DIR=".*\/a-file": .*it is a file, not a directory; choose a directory the relay can write$/,
      ],
      // Node's recursive mkdir loops for ever in /proc (ENOENT, then the parent exists, then ENOENT …).
      [
        { SMSRELAY_DATA_DIR: undefined },
        'dataDir: /proc/smsrelay-nope\n',
        /^smsrelay: config: .*smsrelay\.yaml: dataDir: data directory \/proc\/smsrelay-nope cannot be created: no directory can be created there/,
      ],
    ];
    for (const [env, yaml, expected] of cases) {
      writeFileSync(join(cwd, 'smsrelay.yaml'), yaml ?? '');
      const result = refusedStart(cwd, env);
      assert.equal(result.status, 78, result.stderr);
      assert.deepEqual(result.lines.length, 1, result.stderr);
      assert.match(result.lines[0] ?? '', expected);
    }
    // The commands looked for the store under a file and failed on the path (ENOTDIR, exit 1); nothing to create where the directory is missing.
    for (const [env, , expected] of cases.slice(0, 2)) {
      writeFileSync(join(cwd, 'smsrelay.yaml'), '');
      for (const command of [['status'], ['config', 'check'], ['queue', 'list'], ['backup', join(cwd, 'copy.db')]]) {
        const result = spawnSync(process.execPath, [BIN, ...command], {
          cwd,
          env: { PATH: process.env.PATH ?? '', ...env },
          encoding: 'utf8',
          timeout: 60_000,
        });
        assert.equal(result.status, 78, `${command.join(' ')}: ${result.stderr}`);
        assert.match(result.stderr.trim(), expected, command.join(' '));
      }
    }
  });

  test('smtp.hostname unset on a machine whose own name is no host name is one line naming the setting, exit 78, not that name in the greeting', (context) => {
    // The machine's name changed in a UTS namespace of the test's own.
    const unshare = inNamespace(context, 'uts', 'echo probe > /proc/sys/kernel/hostname');
    if (!unshare) return;
    const cwd = dir();
    const run = (name: string) =>
      spawnSync('unshare', [...unshare, 'echo "$0" > /proc/sys/kernel/hostname && exec "$@"', name, process.execPath, BIN, 'config', 'check'], {
        cwd,
        env: { PATH: process.env.PATH ?? '', SMSRELAY_DATA_DIR: join(cwd, 'data') },
        encoding: 'utf8',
        timeout: 60_000,
      });
    const refused = run('Bad Host');
    assert.equal(refused.status, 78, refused.stderr);
    assert.match(
      refused.stderr,
      /smtp\.hostname: unset, so the greeting would carry this machine's name, "Bad Host", which is no host name; set smtp\.hostname/,
    );
    const taken = run('build_7.internal');
    assert.equal(taken.status, 0, taken.stderr);
    assert.match(taken.stdout, /"hostname": "build_7\.internal"/);
  });

  test('a data directory on a full disk is one line saying to free space there, exit 75 (temporary: a supervisor restarts it)', (context) => {
    // A real full filesystem: a 16 kB tmpfs, filled, in a mount namespace of the test's own.
    const unshare = inNamespace(context, 'mount', 'mount -t tmpfs -o size=16k tmpfs /mnt');
    if (!unshare) return;
    const cwd = dir();
    const full = join(cwd, 'full');
    mkdirSync(full);
    const result = spawnSync(
      'unshare',
      [...unshare, 'mount -t tmpfs -o size=16k tmpfs "$0" && { cat /dev/zero > "$0/fill"; exec "$@"; }', full, process.execPath, BIN, 'start'],
      { cwd, env: { PATH: process.env.PATH ?? '', SMSRELAY_DATA_DIR: join(full, 'data'), SMSRELAY_HTTP_PORT: '0' }, encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(result.status, 75, result.stderr);
    assert.deepEqual(
      result.stderr
        .trim()
        .split('\n')
        .filter((line) => !line.startsWith('cat:')),
      [
        `smsrelay: config: SMSRELAY_DATA_DIR="${join(full, 'data')}": data directory ${join(full, 'data')} cannot be written: the disk is full; free space in ${join(full, 'data')}`,
      ],
    );
  });

  test("the commands on a store whose disk is full say so in one line naming dataDir and the fix, exit 75, not SQLite's bare words and exit 1, and leave no -wal or -shm behind", (context) => {
    const unshare = inNamespace(context, 'mount', 'mount -t tmpfs -o size=16k tmpfs /mnt');
    if (!unshare) return;
    const { cwd, mountPoint: full } = storeToMount('full');
    for (const command of [['status'], ['queue', 'list'], ['log', '+447700900123'], ['config', 'check']]) {
      // The store copied onto a small tmpfs, which is then filled: a real full disk under the command.
      const result: SpawnSyncReturns<string> = spawnSync(
        'unshare',
        [
          ...unshare,
          'mount -t tmpfs -o size=2m tmpfs "$0" && mkdir "$0/data" && cp "$STORE" "$0/data/smsrelay.db" && { cat /dev/zero > "$0/fill"; "$@"; rc=$?; ls "$0/data" | sed "s/^/left: /" >&2; exit $rc; }',
          full,
          process.execPath,
          BIN,
          ...command,
        ],
        {
          cwd,
          env: { PATH: process.env.PATH ?? '', STORE: join(cwd, 'made', 'smsrelay.db'), SMSRELAY_DATA_DIR: join(full, 'data') },
          encoding: 'utf8',
          timeout: 60_000,
        },
      );
      const lines = result.stderr
        .trim()
        .split('\n')
        .filter((line: string) => !line.startsWith('cat:') && !line.startsWith('smsrelay: data directory ') && !line.startsWith('left: '));
      // No relay runs there: the command leaves the directory as it found it (no -wal or -shm its open made).
      assert.deepEqual(
        result.stderr.split('\n').filter((line) => line.startsWith('left: ')),
        ['left: smsrelay.db'],
        command.join(' '),
      );
      assertDiskFullLine(result, lines, join(full, 'data'), command.join(' '));
    }
  });

  test("start on a nearly full disk (room for the lock, not for the store's open or first commits) is the disk's one line naming dataDir and saying to free space there, exit 75, not SQLite's bare words and exit 1", (context) => {
    const unshare = inNamespace(context, 'mount', 'mount -t tmpfs -o size=16k tmpfs /mnt');
    if (!unshare) return;
    const { cwd, mountPoint: full } = storeToMount('full');
    const data = join(full, 'data');
    // 8 kB free: SQLite's shared-memory file is refused ("disk I/O error", SQLITE_IOERR_SHMSIZE); 40 kB: the WAL's pages ("database or disk is full").
    for (const freeKb of [8, 40]) {
      const result = startOnTmpfs(
        unshare,
        'dd if=/dev/zero of="$0/spare" bs=1k count=$FREE_KB 2>/dev/null && { cat /dev/zero > "$0/fill"; rm "$0/spare"; exec "$@"; }',
        { cwd, mountPoint: full, data, env: { FREE_KB: String(freeKb) } },
      );
      const lines = result.stderr
        .trim()
        .split('\n')
        .filter((line: string) => !line.startsWith('cat:'));
      assertDiskFullLine(result, lines, data, `${freeKb} kB free`);
    }
  });

  test("backup onto a full, read-only, missing or wrong target leaves no file behind, keeps a file it did not make, and says what is wrong with the target (75, 74, 73), never the store's words and exit 1", (context) => {
    const unshare = inNamespace(context, 'mount', 'mount -t tmpfs -o size=16k tmpfs /mnt && mount -o remount,ro /mnt');
    if (!unshare) return;
    const { cwd, mountPoint } = storeToMount('target');
    const data = join(cwd, 'made');
    /** `backup <args>` after `setup` ran on a 64 kB tmpfs at `mountPoint` ($0): smaller than the store's copy. */
    const backupOnto = (setup: string, ...args: string[]) => {
      const result = spawnSync(
        'unshare',
        [
          ...unshare,
          `mount -t tmpfs -o size=64k tmpfs "$0" && ${setup} && { "$@"; rc=$?; ls -A "$0" | sed "s/^/left: /" >&2; [ -f "$0/old.db" ] && sed "s/^/old: /" "$0/old.db" >&2; exit $rc; }`,
          mountPoint,
          process.execPath,
          BIN,
          'backup',
          ...args,
        ],
        { cwd, env: { PATH: process.env.PATH ?? '', SMSRELAY_DATA_DIR: data }, encoding: 'utf8', timeout: 60_000 },
      );
      const lines = result.stderr.trim().split('\n');
      return {
        status: result.status,
        said: lines.filter((line) => !/^(left|old): /.test(line) && !line.startsWith('smsrelay: data directory')),
        left: lines.filter((line) => /^(left|old): /.test(line)),
      };
    };
    const full = `its disk is full (SQLITE_FULL); free space there, or name a file on another disk`;
    assert.deepEqual(backupOnto('true', join(mountPoint, 'b.db')), { status: 75, said: [`smsrelay: backup ${join(mountPoint, 'b.db')}: ${full}`], left: [] });
    const into = backupOnto('true', `${mountPoint}/`);
    assert.equal(into.status, 75, into.said.join('\n'));
    assert.match(into.said.join('\n'), new RegExp(`^smsrelay: backup ${mountPoint}/smsrelay-backup-[\\dT-]+Z\\.db: its disk is full \\(SQLITE_FULL\\)`));
    assert.deepEqual(into.left, [], 'no dated file that looks like a backup');
    // --force over a file the command did not make: that file stays as it was until a whole copy replaces it.
    assert.deepEqual(backupOnto('echo keep > "$0/old.db"', '--force', join(mountPoint, 'old.db')), {
      status: 75,
      said: [`smsrelay: backup ${join(mountPoint, 'old.db')}: ${full}`],
      left: ['left: old.db', 'old: keep'],
    });
    assert.deepEqual(backupOnto('mount -o remount,ro "$0"', join(mountPoint, 'b.db')), {
      status: 74,
      said: [`smsrelay: backup ${join(mountPoint, 'b.db')}: it is on a read-only filesystem (EROFS); remount it read-write, or name a file on another disk`],
      left: [],
    });
    writeFileSync(join(cwd, 'a-file'), '');
    for (const [target, said] of [
      [
        join(cwd, 'nonexistent', 'dir', 'x.db'),
        `${join(cwd, 'nonexistent', 'dir', 'x.db')}: its directory does not exist (ENOENT); create it, or name a file in a directory that exists`,
      ],
      [join(cwd, 'a-file', 'x.db'), `${join(cwd, 'a-file', 'x.db')}: a part of its path is a file, not a directory (ENOTDIR); name a file in a directory`],
    ]) {
      const result = spawnSync(process.execPath, [BIN, 'backup', target as string], {
        cwd,
        env: { PATH: process.env.PATH ?? '', SMSRELAY_DATA_DIR: data },
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.equal(result.status, 73, result.stderr);
      assert.deepEqual(result.stderr.trim().split('\n'), [`smsrelay: data directory ${data}`, `smsrelay: backup ${said}`]);
    }
    // A name ending in "/" is a directory: one that does not exist is said so, not "illegal operation on a directory".
    const missing = spawnSync(process.execPath, [BIN, 'backup', `${join(cwd, 'nonexistent')}/`], {
      cwd,
      env: { PATH: process.env.PATH ?? '', SMSRELAY_DATA_DIR: data },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(missing.status, 73, missing.stderr);
    assert.match(missing.stderr, /smsrelay: backup .*\/nonexistent\/smsrelay-backup-[\dT-]+Z\.db: its directory does not exist \(ENOENT\)/);
    assert.deepEqual(readdirSync(cwd).sort(), ['a-file', 'made', 'target']);
  });

  test('backup onto a target that is no regular file (a FIFO, a symbolic link to /dev/null or to a FIFO), with --force or not, is refused naming it and what it is, exit 73, the target left as it was', async () => {
    const cwd = dir();
    const data = join(cwd, 'data');
    await (await SqliteStore.open({ file: join(data, 'smsrelay.db'), busyTimeoutMs: 100 })).close();
    // No device node is made or written: a link to /dev/null shows a device (the copy was renamed onto the link itself, never onto /dev/null).
    const fifo = join(cwd, 'fifo');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
    symlinkSync('/dev/null', join(cwd, 'null-link'));
    symlinkSync(fifo, join(cwd, 'fifo-link'));
    const before = readdirSync(cwd).sort();
    for (const [name, what] of [
      ['fifo', 'a FIFO (named pipe)'],
      ['null-link', `a symbolic link to ${realpathSync('/dev/null')}, a character device`],
      ['fifo-link', `a symbolic link to ${fifo}, a FIFO (named pipe)`],
    ] as const) {
      for (const force of [['--force'], []]) {
        const target = join(cwd, name);
        const result = spawnSync(process.execPath, [BIN, 'backup', ...force, target], {
          cwd,
          env: { PATH: process.env.PATH ?? '', SMSRELAY_DATA_DIR: data },
          encoding: 'utf8',
          timeout: 60_000,
        });
        assert.equal(result.status, 73, `${name} ${force.join(' ')}: ${result.stderr}`);
        assert.equal(
          result.stderr.trim(),
          `smsrelay: backup ${target}: ${what}, not a file a copy can replace; name a regular file, or a directory to write into`,
        );
      }
    }
    assert.deepEqual(readdirSync(cwd).sort(), before, 'no partial copy, nothing renamed');
    assert.ok(lstatSync(fifo).isFIFO());
    assert.equal(readlinkSync(join(cwd, 'null-link')), '/dev/null');
    assert.equal(readlinkSync(join(cwd, 'fifo-link')), fifo);
  });

  test('backup onto a symbolic link replaces the file it leads to, written beside that file, never the link; a link to nothing, in a loop or to a pipe (/dev/stdout piped) is refused, exit 73, the links kept', async () => {
    const cwd = dir();
    const data = join(cwd, 'data');
    await (await SqliteStore.open({ file: join(data, 'smsrelay.db'), busyTimeoutMs: 100 })).close();
    const run = (args: readonly string[], stdout: 'pipe' | number = 'pipe') =>
      spawnSync(process.execPath, [BIN, 'backup', ...args], {
        cwd,
        env: { PATH: process.env.PATH ?? '', SMSRELAY_DATA_DIR: data },
        encoding: 'utf8',
        stdio: ['ignore', stdout, 'pipe'],
        timeout: 60_000,
      });
    const backups = join(cwd, 'backups');
    mkdirSync(backups);
    const real = join(backups, 'real.db');
    writeFileSync(real, 'the previous copy');
    symlinkSync(real, join(cwd, 'real-link'));
    symlinkSync('real-link', join(cwd, 'link-to-link'));
    // What /dev/stdout is: a link the kernel follows to this process's standard output (Node's pipe is a socket pair, a shell's a FIFO).
    symlinkSync('/proc/self/fd/1', join(cwd, 'stdout-link'));
    symlinkSync('nowhere', join(cwd, 'dangling'));
    symlinkSync('loop', join(cwd, 'loop'));

    const kept = run(['real-link']);
    assert.equal(kept.status, 73, kept.stderr);
    assert.match(kept.stderr, new RegExp(`backup real-link \\(a symbolic link to ${real}\\): the file exists; .* add --force`));
    for (const link of ['real-link', 'link-to-link']) {
      const replaced = run(['--force', link]);
      assert.equal(replaced.status, 0, replaced.stderr);
      assert.equal(replaced.stdout.trim(), `store copied to ${real}`);
      assert.ok(lstatSync(join(cwd, link)).isSymbolicLink(), `${link} is still a link`);
      assert.equal(readFileSync(real).subarray(0, 15).toString(), 'SQLite format 3');
      assert.deepEqual(readdirSync(backups), ['real.db'], 'the copy was written beside the file, and nothing is left of it');
      writeFileSync(real, 'the previous copy');
    }

    // Standard output redirected to a file: the copy replaces that file.
    const redirected = join(backups, 'redirected.db');
    const out = openSync(redirected, 'w');
    try {
      assert.equal(run(['--force', 'stdout-link'], out).status, 0);
    } finally {
      closeSync(out);
    }
    assert.equal(readFileSync(redirected).subarray(0, 15).toString(), 'SQLite format 3');

    for (const [name, what] of [
      ['stdout-link', /a symbolic link to \/proc\/self\/fd\/1, (a FIFO \(named pipe\)|a socket)/],
      ['dangling', /a symbolic link to nowhere, which does not exist/],
      ['loop', /a symbolic link in a loop \(to loop\)/],
    ] as const) {
      for (const force of [['--force'], []]) {
        const refused = run([...force, name]);
        assert.equal(refused.status, 73, `${name} ${force.join(' ')}: ${refused.stderr}`);
        assert.match(refused.stderr, new RegExp(`^smsrelay: backup ${name}: ${what.source}, not a file a copy can replace; name a regular file`));
        assert.ok(lstatSync(join(cwd, name)).isSymbolicLink(), `${name} is still a link`);
      }
    }
    assert.deepEqual(readdirSync(cwd).sort(), ['backups', 'dangling', 'data', 'link-to-link', 'loop', 'real-link', 'stdout-link']);
  });

  test('the commands on a read-only data directory are one line naming dataDir and the fix, exit 74, not a bare EROFS and exit 1', (context) => {
    const unshare = inNamespace(context, 'mount', 'mount -t tmpfs -o size=16k tmpfs /mnt && mount -o remount,ro /mnt');
    if (!unshare) return;
    const { cwd, mountPoint: mounted } = storeToMount('ro');
    const data = join(mounted, 'data');
    for (const command of [['status'], ['queue', 'list'], ['undeliverable'], ['log', '+447700900123']]) {
      const result: SpawnSyncReturns<string> = spawnSync(
        'unshare',
        [
          ...unshare,
          'mount -t tmpfs -o size=2m tmpfs "$0" && mkdir "$0/data" && cp "$STORE" "$0/data/smsrelay.db" && mount -o remount,ro "$0" && exec "$@"',
          mounted,
          process.execPath,
          BIN,
          ...command,
        ],
        { cwd, env: { PATH: process.env.PATH ?? '', STORE: join(cwd, 'made', 'smsrelay.db'), SMSRELAY_DATA_DIR: data }, encoding: 'utf8', timeout: 60_000 },
      );
      assert.equal(result.status, 74, `${command.join(' ')}: ${result.stderr}`);
      assert.deepEqual(
        result.stderr.trim().split('\n'),
        [
          `smsrelay: SMSRELAY_DATA_DIR="${data}": the store in ${data} cannot be used: it is on a read-only filesystem (EROFS: read-only file system, open '${join(data, 'smsrelay.db')}'); remount it read-write and run it again`,
        ],
        command.join(' '),
      );
    }
  });

  test('start on a read-only data directory (its store there, or not yet made) says to remount it read-write, exit 74 as the commands (the unit restarts it), not 78', (context) => {
    const unshare = inNamespace(context, 'mount', 'mount -t tmpfs -o size=16k tmpfs /mnt && mount -o remount,ro /mnt');
    if (!unshare) return;
    const { cwd, mountPoint: mounted } = storeToMount('ro');
    for (const [name, step] of [
      ['data', 'cannot be written'],
      ['new', 'cannot be created'],
    ] as const) {
      const data = join(mounted, name);
      const result = startOnTmpfs(unshare, 'mount -o remount,ro "$0" && exec "$@"', { cwd, mountPoint: mounted, data });
      assert.equal(result.status, 74, result.stderr);
      assert.deepEqual(
        result.stderr
          .trim()
          .split('\n')
          .filter((line: string) => !line.startsWith('{')),
        [`smsrelay: config: SMSRELAY_DATA_DIR="${data}": data directory ${data} ${step}: it is on a read-only filesystem; remount it read-write`],
      );
    }
  });

  test('a second relay on a data directory in use names where dataDir came from, exit 78', async () => {
    const cwd = dir();
    const env = relayEnvironment(cwd, { dataDir: join(cwd, 'shared') });
    delete env.SMSRELAY_DATA_DIR;
    const relay = await spawnRelay(cwd, env);
    try {
      const second = refusedStart(cwd, { SMSRELAY_DATA_DIR: undefined, SMSRELAY_SMTP_PORT: '0' });
      assert.equal(second.status, 78, second.stderr);
      assert.deepEqual(second.lines, [
        `smsrelay: config: ${join(cwd, 'smsrelay.yaml')}: dataDir: data directory ${join(cwd, 'shared')} is in use by another smsrelay (pid ${relay.child.pid}); stop it or give this relay another data directory`,
      ]);
    } finally {
      await relay.stop();
    }
  });

  test('a store that is not a database, damaged or newer is one line naming dataDir, the file and the fix, exit 78, for start and the commands', () => {
    const cwd = dir();
    const data = join(cwd, 'data');
    const file = join(data, 'smsrelay.db');
    mkdirSync(data);
    const expect = (problem: RegExp, commands = ['start', 'status']) => {
      for (const command of commands) {
        const result = spawnSync(process.execPath, [BIN, command], {
          cwd,
          env: { PATH: process.env.PATH ?? '', SMSRELAY_DATA_DIR: data, SMSRELAY_HTTP_PORT: '0', SMSRELAY_SMTP_PORT: '0' },
          encoding: 'utf8',
          timeout: 60_000,
        });
        assert.equal(result.status, 78, `${command}: ${result.stderr}`);
        const lines = result.stderr
          .trim()
          .split('\n')
          .filter((line) => line !== `smsrelay: data directory ${data}`);
        assert.equal(lines.length, 1, result.stderr);
        assert.ok(lines[0]?.startsWith(`smsrelay: config: SMSRELAY_DATA_DIR="${data}": the store ${file} `), lines[0]);
        assert.match(lines[0] ?? '', problem);
      }
    };
    writeFileSync(file, 'not a database at all, but long enough to have a header of sorts\n'.repeat(20));
    expect(/is damaged or not a smsrelay store \(file is not a database\): stop the relay, move it .* put the last `smsrelay backup` copy in its place/);

    rmSync(file);
    const newer = new BetterSqlite3(file);
    newer.pragma('user_version = 999');
    newer.close();
    expect(/was written by a newer smsrelay \(schema 999, this version knows \d+\): upgrade smsrelay/);

    // A valid header over pages that contradict each other: what copying another store over the file leaves.
    rmSync(file);
    const damaged = new BetterSqlite3(file);
    damaged.exec('CREATE TABLE filler (id INTEGER PRIMARY KEY, text TEXT); CREATE INDEX filler_text ON filler (text)');
    const insert = damaged.prepare('INSERT INTO filler (text) VALUES (?)');
    for (let row = 0; row < 2000; row++) insert.run(`row ${row} ${'x'.repeat(100)}`);
    damaged.close();
    const bytes = readFileSync(file);
    bytes.fill(0x5a, 8 * 4096, 12 * 4096);
    writeFileSync(file, bytes);
    // Only the relay's start reads every page (a command next to a running relay does not wait for that).
    expect(/is damaged or not a smsrelay store \(.+\): stop the relay/, ['start']);
  });

  /** A SQLite store in `data` of schema `version` (this version's first migrations), with one mail, as an older release left it. */
  function olderStore(data: string, version: number, steps: readonly string[] = MIGRATIONS.slice(0, version)): string {
    mkdirSync(data, { recursive: true });
    const file = join(data, 'smsrelay.db');
    const older = new BetterSqlite3(file);
    older.pragma('journal_mode = WAL');
    for (const sql of steps) older.exec(sql);
    older.pragma(`user_version = ${version}`);
    older.exec(`INSERT INTO messages (id, received_at, envelope_from, client_address, client_helo, headers, text, encoding, parts, max_parts)
      VALUES ('m-old', 1000, 'alice@example.com', '127.0.0.1', 'client', '', 'from the old release', 'gsm7', 1, 1)`);
    older.close();
    return file;
  }
  const schemaOf = (file: string) => {
    const db = new BetterSqlite3(file, { readonly: true });
    try {
      return db.pragma('user_version', { simple: true });
    } finally {
      db.close();
    }
  };

  test("the commands never upgrade an older store: each refuses in one line (schema, this version's, start upgrades it), exit 78; config check shows the configuration and says start will upgrade it; backup copies it as it is", () => {
    const cwd = dir();
    const data = join(cwd, 'data');
    const file = olderStore(data, 8);
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [BIN, ...args], { cwd, env: { PATH: process.env.PATH ?? '', SMSRELAY_DATA_DIR: data }, encoding: 'utf8', timeout: 60_000 });
    for (const args of [['status'], ['queue', 'list'], ['queue', 'hold', 'all'], ['log', 'm-old'], ['quarantine', 'list'], ['undeliverable']]) {
      const result = run(...args);
      assert.equal(result.status, 78, `${args.join(' ')}: ${result.stderr}`);
      const lines = result.stderr
        .trim()
        .split('\n')
        .filter((line) => line !== `smsrelay: data directory ${data}`);
      assert.deepEqual(lines, [
        `smsrelay: config: SMSRELAY_DATA_DIR="${data}": the store ${file} is at schema 8, this version needs ${MIGRATIONS.length}: \`smsrelay start\` upgrades it, for good; back up first (\`smsrelay backup <file>\` copies it as it is, as does the release that wrote it) and stop the relay that runs on it (docs/operations.md#upgrading)`,
      ]);
      assert.equal(schemaOf(file), 8, `${args.join(' ')} left the store at schema 8`);
    }
    // What to run before the upgrade: this release's view of the configuration, which it may refuse where the older took it.
    const check = run('config', 'check');
    assert.equal(check.status, 0, check.stderr);
    const lines = check.stdout.trimEnd().split('\n');
    assert.equal(
      lines.at(-1),
      `store: schema 8: \`smsrelay start\` will upgrade it from 8 to ${MIGRATIONS.length}; back up first (docs/operations.md#upgrading)`,
    );
    assert.equal((JSON.parse(lines.slice(0, -1).join('\n')) as { dataDir: string }).dataDir, data);
    assert.equal(schemaOf(file), 8, 'config check left the store at schema 8');
    const copy = join(cwd, 'before-upgrade.db');
    const backup = run('backup', copy);
    assert.equal(backup.status, 0, backup.stderr);
    assert.equal(backup.stdout.trim(), `store copied to ${copy}`);
    assert.equal(schemaOf(copy), 8, 'the backup is of the schema the old release reads');
    assert.equal(schemaOf(file), 8, 'and the store too');
    const restored = new BetterSqlite3(copy, { readonly: true });
    assert.deepEqual(restored.prepare('SELECT text FROM messages').pluck().all(), ['from the old release']);
    restored.close();
  });

  test('start upgrades an older store and says so in one line; a migration that fails stops it in one line naming dataDir, the step and the fix, exit 78, the store untouched', async () => {
    const cwd = dir();
    const data = join(cwd, 'data');
    const file = olderStore(data, 8);
    const relay = await spawnRelay(cwd, relayEnvironment(cwd, {}, { SMSRELAY_DATA_DIR: data }));
    try {
      const upgraded = relay.logs.filter((entry) => String(entry.msg).startsWith('store: schema'));
      assert.deepEqual(
        upgraded.map((entry) => [entry.level, entry.msg]),
        [['info', `store: schema 8 → ${MIGRATIONS.length} (migrations 9–${MIGRATIONS.length})`]],
      );
    } finally {
      assert.equal(await relay.stop(), 0);
    }
    assert.equal(schemaOf(file), MIGRATIONS.length);

    // Schema 12 as the shared-state commits (a16ed74 … c4487b5) numbered it: rate_events, where this version's 12 is relays and 13 adds rate_events.
    const otherData = join(cwd, 'other');
    const other = olderStore(otherData, 12, [...MIGRATIONS.slice(0, 11), MIGRATIONS[12] ?? '']);
    const refused = refusedStart(cwd, { SMSRELAY_DATA_DIR: otherData, SMSRELAY_SMTP_PORT: '0' });
    assert.equal(refused.status, 78, refused.stderr);
    const untraceable = `smsrelay: config: SMSRELAY_DATA_DIR="${otherData}": the store ${other}: is at the schema 12 of the development builds a16ed74 to c4487b5 (it holds rate_events and no relays), which no release upgrades: keep running the build that wrote it on it, or start this release on a new store once that relay has sent its queue (docs/several-relays.md#rolling-upgrade)`;
    assert.deepEqual(refused.lines, [untraceable]);
    assert.equal(schemaOf(other), 12);
    // config check (step 1 of an upgrade) and status say so before the old relay is stopped, not "start will upgrade it".
    for (const command of [['config', 'check'], ['status']]) {
      const result = spawnSync(process.execPath, [BIN, ...command], {
        cwd,
        env: { PATH: process.env.PATH ?? '', SMSRELAY_DATA_DIR: otherData },
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.equal(result.status, 78, `${command.join(' ')}: ${result.stderr}`);
      assert.ok(result.stderr.trim().split('\n').includes(untraceable), `${command.join(' ')}: ${result.stderr}`);
      assert.doesNotMatch(result.stdout, /will upgrade/, command.join(' '));
    }
    assert.equal(schemaOf(other), 12);
  });

  test('config check says on stderr what start warns of in the configuration: an old setting name and its new one', async () => {
    const cwd = dir();
    const data = join(cwd, 'data');
    await (await SqliteStore.open({ file: join(data, 'smsrelay.db'), busyTimeoutMs: 100 })).close();
    writeFileSync(join(cwd, 'smsrelay.yaml'), 'console:\n  trustedProxies: [127.0.0.1/32]\n');
    const result = configCheckIn(cwd, data);
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(result.stderr.trim().split('\n'), [
      `smsrelay: data directory ${data}`,
      `smsrelay: config: ${join(cwd, 'smsrelay.yaml')}: console.trustedProxies: the old name of http.trustedProxies, read as it for now; rename it to http.trustedProxies`,
    ]);
    assert.match(result.stdout, /"trustedProxies": \[\n\s+"127\.0\.0\.1\/32"/);
  });

  test("config check with explicit keyword lists and Twilio: a warning naming the words Twilio's gateway acts on that the lists lack, and the lists in effect per provider", async () => {
    const cwd = dir();
    const data = join(cwd, 'data');
    const file = join(cwd, 'smsrelay.yaml');
    writeFileSync(
      file,
      [
        'gateway:',
        '  routes:',
        '    - {name: us, match: ["+1"], providers: [twilio-simulator]}',
        '    - {name: rest, match: "*", providers: [simulator]}',
        '  providers:',
        `    twilio-simulator: {messagingServiceSid: MG${'ab12'.repeat(8)}}`,
        'policy:',
        '  stopKeywords: [stop, Unsubscribe, STOPALL, CANCEL, END, QUIT]',
        '',
      ].join('\n'),
    );
    const result = configCheckIn(cwd, data);
    assert.equal(result.status, 0, result.stderr);
    // On stderr: stdout stays a configuration to copy back.
    assert.deepEqual(result.stderr.trim().split('\n'), [
      `smsrelay: config: ${file}: policy.stopKeywords: twilio's gateway itself opts out a number that texts REVOKE, OPTOUT, which this list lacks: the relay keeps sending to a phone that texted one, each SMS refused by the gateway; add them to the list, or unset it to use twilio's own`,
      "smsrelay: keywords: twilio's SMS: opt out stop, Unsubscribe, STOPALL, CANCEL, END, QUIT (policy.stopKeywords); opt in START, YES, UNSTOP (twilio's own)",
      "smsrelay: keywords: intellisoftware's SMS: opt out stop, Unsubscribe, STOPALL, CANCEL, END, QUIT (policy.stopKeywords); opt in START, UNSTOP (the relay's)",
    ]);
    assert.ok(!result.stdout.includes('keywords: '), 'stdout is the configuration and the store line only');
  });

  test('a port in use is one line naming the listener and its setting, exit 78, no stack trace', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = String((taken.address() as AddressInfo).port);
    try {
      const cwd = dir();
      const smtp = refusedStart(cwd, { SMSRELAY_SMTP_PORT: port });
      assert.equal(smtp.status, 78);
      assert.deepEqual(smtp.lines, [
        `smsrelay: config: SMSRELAY_SMTP_PORT="${port}": the SMTP listener cannot listen on 127.0.0.1:${port}: the port is in use by another program (another relay on this machine?); stop it or choose another port`,
      ]);
      assert.doesNotMatch(smtp.stdout, /EADDRINUSE|stack/, 'no error object in the log either');
      writeFileSync(join(cwd, 'smsrelay.yaml'), `http:\n  port: ${port}\n`);
      const http = refusedStart(cwd, { SMSRELAY_HTTP_PORT: undefined });
      assert.equal(http.status, 78);
      assert.deepEqual(http.lines, [
        `smsrelay: config: ${join(cwd, 'smsrelay.yaml')}: http.port: the HTTP listener cannot listen on 127.0.0.1:${port}: the port is in use by another program (another relay on this machine?); stop it or choose another port`,
      ]);
    } finally {
      taken.close();
    }
  });

  test('a port in use on an IPv6 address names it as [::1]:port, not with colons running into the port', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '::1', resolve));
    const port = String((taken.address() as AddressInfo).port);
    try {
      const smtp = refusedStart(dir(), { SMSRELAY_SMTP_HOST: '::1', SMSRELAY_SMTP_PORT: port });
      assert.equal(smtp.status, 78);
      assert.match(smtp.lines[0] ?? '', new RegExp(`the SMTP listener cannot listen on \\[::1\\]:${port}: the port is in use`));
    } finally {
      taken.close();
    }
  });

  test('a start refused for a port in use leaves an older store at its schema; a port taken once the store was upgraded says the upgrade stays; one step is `migration N`', async () => {
    const cwd = dir();
    const data = join(cwd, 'data');
    const older = MIGRATIONS.length - 1;
    const file = olderStore(data, older);
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = String((taken.address() as AddressInfo).port);
    try {
      for (const variable of ['SMSRELAY_SMTP_PORT', 'SMSRELAY_HTTP_PORT']) {
        const refused = refusedStart(cwd, { SMSRELAY_DATA_DIR: data, SMSRELAY_SMTP_PORT: '0', [variable]: port });
        assert.equal(refused.status, 78, refused.stderr);
        assert.match(
          refused.lines.join('\n'),
          new RegExp(
            `^smsrelay: config: ${variable}="${port}": the (SMTP|HTTP) listener cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use by another program`,
          ),
        );
        assert.doesNotMatch(refused.stdout, /store: schema/, `${variable}: no upgrade logged`);
        assert.equal(schemaOf(file), older, `${variable}: the store is at the schema the older release reads`);
      }
    } finally {
      taken.close();
    }
    // Free when the start looks, taken by another program the moment the store is upgraded.
    const { config } = loadConfig({ ...relayEnvironment(cwd, {}, { SMSRELAY_DATA_DIR: data }), SMSRELAY_HTTP_PORT: port }, cwd);
    const lines: string[] = [];
    const thief = createServer();
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        const line = chunk.toString('utf8');
        lines.push(line);
        if (line.includes('"msg":"store: schema')) thief.listen(Number(port), '127.0.0.1');
        callback();
      },
    });
    try {
      await assert.rejects(startRelay(config, createLogger('info', sink)), (error: Error) => {
        assert.equal(
          error.message,
          `the HTTP listener cannot listen on 127.0.0.1:${port}: the port is in use by another program (another relay on this machine?); stop it or choose another port; this start had already upgraded the store from schema ${older} to ${MIGRATIONS.length}, for good: fix this and start this release again, or restore the backup taken before the upgrade to run the older release (docs/operations.md#upgrading)`,
        );
        return true;
      });
    } finally {
      thief.close();
    }
    assert.ok(
      lines.some((line) => line.includes(`"msg":"store: schema ${older} → ${MIGRATIONS.length} (migration ${MIGRATIONS.length})"`)),
      lines.join(''),
    );
    assert.equal(schemaOf(file), MIGRATIONS.length);
  });

  test('SIGHUP reads the settings again: an unchanged file is said so, changed settings are named as applying at restart, an invalid file is one error line; the relay keeps running on its settings, the TLS reload as before', async () => {
    const cwd = dir();
    const relay = await spawnRelay(cwd, relayEnvironment(cwd, { smtp: { maxRecipients: 50 } }));
    const after = (count: number) => relay.logs.slice(count).filter((line) => String(line.msg).includes('SIGHUP'));
    const hangUp = async (yaml: string | undefined) => {
      if (yaml !== undefined) writeFileSync(join(cwd, 'smsrelay.yaml'), yaml);
      const count = relay.logs.length;
      relay.child.kill('SIGHUP');
      return waitFor('the SIGHUP log lines', () =>
        after(count).length === 2 ? after(count).map(({ level, msg, changed }) => ({ level, msg, changed })) : undefined,
      );
    };
    const tls = { level: 'info', msg: 'smtp: SIGHUP: no smtp.tls configured, nothing to reload', changed: undefined };
    try {
      assert.deepEqual(await hangUp(undefined), [
        tls,
        { level: 'info', msg: 'config: SIGHUP: the settings are as the relay started with them', changed: undefined },
      ]);
      assert.deepEqual(await hangUp('smtp:\n  maxRecipients: 5\ndelivery:\n  maxAge: 2h\n'), [
        tls,
        {
          level: 'warn',
          msg: 'config: SIGHUP: smtp.maxRecipients, delivery.maxAge changed; only a restart applies them (the relay keeps running on the settings it started with)',
          changed: ['smtp.maxRecipients', 'delivery.maxAge'],
        },
      ]);
      assert.deepEqual(await hangUp('smtp:\n  maxRecipients: 5\nsms:\n  domain: sms.example.com\ndelivery:\n  maxAge: 24\n'), [
        tls,
        {
          level: 'error',
          msg: `config: SIGHUP: the settings are invalid (${join(cwd, 'smsrelay.yaml')}: sms.domain: unknown setting; did you mean domains?; ${join(cwd, 'smsrelay.yaml')}: delivery.maxAge: write a duration such as 30s, 5m or 24h (a number needs its unit: 24s, 24m…)); the relay keeps running on the settings it started with`,
          changed: undefined,
        },
      ]);
      const result = await sendMail(relay.smtpPort, { to: ['447700900123@sms.localhost'], body: 'still running' });
      assert.ok(queuedId(result.data));
    } finally {
      assert.equal(await relay.stop(), 0, 'SIGTERM stops the relay cleanly');
    }
  });

  test("SIGHUP warns of what start and config check warn of: a wrong file value a variable overrides, another provider's key, an old setting name", async () => {
    const cwd = dir();
    // The log level is SMSRELAY_LOG_LEVEL=info (spawnRelay's): a wrong log.level in the file is overridden, and warned of.
    const relay = await spawnRelay(cwd, relayEnvironment(cwd, {}));
    const file = join(cwd, 'smsrelay.yaml');
    const hangUp = async (yaml: string, lines: number) => {
      writeFileSync(file, yaml);
      const count = relay.logs.length;
      relay.child.kill('SIGHUP');
      const logged = () => relay.logs.slice(count).filter((line) => String(line.msg).startsWith('config: SIGHUP'));
      return waitFor('the SIGHUP log lines', () => (logged().length === lines ? logged().map(({ level, msg }) => ({ level, msg })) : undefined));
    };
    /** The warnings `config check` gives on the same file and variables, as the SIGHUP logs them. */
    const checked = () =>
      configCheckIn(cwd, join(cwd, 'data'), { SMSRELAY_LOG_LEVEL: 'info' })
        .stderr.split('\n')
        .filter((line) => line.startsWith('smsrelay: config: '))
        .map((line) => ({ level: 'warn', msg: `config: SIGHUP: ${line.slice('smsrelay: config: '.length)}` }));
    try {
      const unchanged = await hangUp('log:\n  level: verbose\ngateway:\n  serviceId: x\n', 3);
      assert.deepEqual(unchanged, [
        { level: 'warn', msg: `config: SIGHUP: ${file}: gateway.serviceId: a setting of the puzzel gateway, not used with simulator; ignored` },
        {
          level: 'warn',
          msg: `config: SIGHUP: ${file}: log.level: write one of: fatal, error, warn, info, debug, trace, silent; overridden by SMSRELAY_LOG_LEVEL for now: correct it or remove it`,
        },
        { level: 'info', msg: 'config: SIGHUP: the settings are as the relay started with them, with the warnings above' },
      ]);
      assert.deepEqual(unchanged.slice(0, -1), checked());
      const renamed = await hangUp('console:\n  trustedProxies: [127.0.0.1/32]\n', 2);
      assert.deepEqual(renamed[0], {
        level: 'warn',
        msg: `config: SIGHUP: ${file}: console.trustedProxies: the old name of http.trustedProxies, read as it for now; rename it to http.trustedProxies`,
      });
      assert.deepEqual(renamed.slice(0, 1), checked());
      assert.match(String(renamed[1]?.msg), /^config: SIGHUP: http\.trustedProxies, console\.trustedProxies changed; only a restart applies them/);
    } finally {
      assert.equal(await relay.stop(), 0, 'SIGTERM stops the relay cleanly');
    }
  });

  test("SIGHUP logs an expired or expiring certificate's warning once: the TLS reload's line, not again among the configuration's warnings", async () => {
    const cwd = dir();
    const tls = fileURLToPath(new URL('./fixtures/tls/', import.meta.url));
    const cert = join(tls, 'expired-cert.pem');
    const relay = await spawnRelay(cwd, relayEnvironment(cwd, { smtp: { tls: { key: join(tls, 'key.pem'), cert } } }));
    try {
      const count = relay.logs.length;
      relay.child.kill('SIGHUP');
      const lines = await waitFor('the SIGHUP log lines', () => {
        const since = relay.logs.slice(count).map(({ level, msg }) => ({ level, msg: String(msg) }));
        return since.some(({ msg }) => msg.startsWith('config: SIGHUP: the settings are')) ? since : undefined;
      });
      assert.deepEqual(
        lines.filter(({ msg }) => msg.includes('the certificate expired on')),
        [
          {
            level: 'warn',
            msg: `smtp: smtp.tls.cert: ${cert}: the certificate expired on 2020-01-01: clients that check certificates refuse it; renew it, then send SIGHUP`,
          },
        ],
      );
      assert.deepEqual(lines.at(-1), { level: 'info', msg: 'config: SIGHUP: the settings are as the relay started with them' });
    } finally {
      assert.equal(await relay.stop(), 0, 'SIGTERM stops the relay cleanly');
    }
  });

  test('on the embedded default the built-in simulator takes the SMS and logs it; unknown variables are warned', async () => {
    const cwd = dir();
    const relay = await spawnRelay(cwd, { ...relayEnvironment(cwd, {}), SMSRELAY_BOGUS: '1' });
    try {
      const warning = relay.logs.find((line) => line.level === 'warn' && String(line.msg).includes('SMSRELAY_BOGUS'));
      assert.equal(warning?.msg, 'config: SMSRELAY_BOGUS: unknown variable, ignored');

      const result = await sendMail(relay.smtpPort, { to: ['447700900123@sms.localhost'], body: 'hi' });
      const id = queuedId(result.data);
      const logged = await waitFor('the simulator log line', () => relay.logs.find((line) => line.msg === 'simulator: SMS received'));
      assert.equal(logged.chars, 2, 'info logs carry no message text');
      assert.equal(logged.text, undefined);
      assert.equal(logged.to, '+4477******23', 'numbers are masked in info logs');
      const accepted = relay.logs.find((line) => line.msg === 'smtp: mail accepted');
      assert.equal(accepted?.msgId, id, 'the message id follows the mail through the log');
      await waitFor('the dispatch line', () => relay.logs.find((line) => line.msg === 'dispatch: gateway answered' && line.msgId === id));

      const health = await request(`http://127.0.0.1:${relay.httpPort}/healthz`);
      assert.equal(health.statusCode, 200);
      assert.deepEqual(await health.body.json(), { status: 'ok', checks: { smtp: true, store: true } });
    } finally {
      assert.equal(await relay.stop(), 0, 'SIGTERM stops the relay cleanly');
    }
  });

  test("the embedded default shows the whole loop: a reply from POST /simulator/mo lands in the Maildir; a stranger's SMS is listed", async () => {
    const cwd = dir();
    const env = relayEnvironment(cwd, {});
    const relay = await spawnRelay(cwd, env);
    try {
      await sendMail(relay.smtpPort, { from: 'alice@example.com', to: ['447700900123@sms.localhost'], subject: 'Server down', body: 'db1 down' });
      const sent = await waitFor('the SMS', () => relay.logs.find((line) => line.msg === 'simulator: SMS received'));
      const messages = await request(`http://127.0.0.1:${relay.httpPort}/simulator/messages`);
      const [sms] = (await messages.body.json()) as Array<{ userContext: string }>;
      assert.ok(sent && sms?.userContext);
      for (const mo of [
        { from: '447700900123', text: 'On it', usercontext: sms.userContext },
        { from: '447700900777', text: 'Who is this?' },
      ]) {
        const posted = await request(`http://127.0.0.1:${relay.httpPort}/simulator/mo`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(mo),
        });
        assert.equal(posted.statusCode, 202);
        await posted.body.dump();
      }
      const maildir = join(env.SMSRELAY_DATA_DIR ?? '', 'maildir');
      const [reply] = await waitFor('the reply mail', () => maildirMessages(maildir).length === 1 && maildirMessages(maildir));
      assert.match(reply ?? '', /^Subject: Re: Server down \[UserContext: /m);
      assert.match(reply ?? '', /^To: alice@example\.com/m);
      await waitFor("the stranger's SMS kept", () => relay.logs.find((line) => String(line.msg).includes('kept as undeliverable')));
      const listed = spawnSync(process.execPath, [BIN, 'undeliverable'], { cwd, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' });
      assert.equal(listed.status, 0, listed.stderr);
      const rows = listed.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { number: string; text: string });
      assert.deepEqual(
        rows.map((row) => [row.number, row.text]),
        [['+447700900777', 'Who is this?']],
      );
      const [stranger] = listed.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { id: string });
      const rerouted = spawnSync(process.execPath, [BIN, 'undeliverable', 'reroute', stranger?.id ?? '', 'ops@example.com'], {
        cwd,
        env: { PATH: process.env.PATH ?? '', ...env },
        encoding: 'utf8',
      });
      assert.equal(rerouted.status, 0, rerouted.stderr);
      const mails = await waitFor('the rerouted mail', () => maildirMessages(maildir).length === 2 && maildirMessages(maildir), 15_000);
      assert.match(mails[1] ?? '', /^To: ops@example\.com/m);
      assert.match(mails[1] ?? '', /Who is this\?/);
    } finally {
      assert.equal(await relay.stop(), 0);
    }
  });

  test('undeliverable reroute: the mail of an SMS from a number the relay texts for no sender says replies are not sent, as the first would have', async () => {
    const cwd = dir();
    const env = relayEnvironment(cwd, {});
    const relay = await spawnRelay(cwd, env);
    try {
      // A premium-rate number (policy.premiumBlocklist, on by default), and no mailbox for it.
      const posted = await request(`http://127.0.0.1:${relay.httpPort}/simulator/mo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ from: '449098790123', text: 'Call me back' }),
      });
      assert.equal(posted.statusCode, 202);
      await posted.body.dump();
      await waitFor('the SMS kept', () => relay.logs.find((line) => String(line.msg).includes('kept as undeliverable')));
      const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { cwd, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' });
      const listed = cli('undeliverable');
      assert.equal(listed.status, 0, listed.stderr);
      const { id } = JSON.parse(listed.stdout.trim()) as { id: string };
      const rerouted = cli('undeliverable', 'reroute', id, 'ops@example.com');
      assert.equal(rerouted.status, 0, rerouted.stderr);
      const maildir = join(env.SMSRELAY_DATA_DIR ?? '', 'maildir');
      const [mail] = await waitFor('the rerouted mail', () => maildirMessages(maildir).length === 1 && maildirMessages(maildir), 15_000);
      const text = (await simpleParser(mail ?? '')).text ?? '';
      assert.ok(
        text.includes('Replies to this mail are not sent: this relay refuses them (Recipient refused: +44 909 879 0123 is a premium-rate number'),
        text,
      );
      assert.ok(!text.includes('Reply to this mail to answer by SMS'), text);
      // Again (a second operator, or one unsure it worked): where it went, when and how, not "no such SMS"; still exit 1.
      const again = await waitFor('the mail marked sent', () => {
        const run = cli('undeliverable', 'reroute', id, 'other@example.com');
        return run.stderr.includes(', sent)') && run;
      });
      assert.equal(again.status, 1, again.stderr);
      assert.match(
        again.stderr,
        new RegExp(
          `^smsrelay: SMS ${id} is not undeliverable: its mail goes to ops@example\\.com \\(queued \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z, sent\\), rerouted there already or the mailbox it found when received; no second mail is queued`,
          'm',
        ),
      );
      assert.equal(maildirMessages(maildir).length, 1);
      const unknown = cli('undeliverable', 'reroute', '01a24e78-0000-7000-8000-000000000000', 'ops@example.com');
      assert.equal(unknown.status, 1, unknown.stderr);
      assert.match(unknown.stderr, /^smsrelay: no undeliverable SMS with id 01a24e78-0000-7000-8000-000000000000 \(see smsrelay undeliverable\)$/m);
    } finally {
      assert.equal(await relay.stop(), 0);
    }
  });

  test('hash-password reads the password on stdin and prints a hash the relay verifies', async () => {
    const hashed = spawnSync(process.execPath, [BIN, 'hash-password'], { input: 'correct horse battery\n', encoding: 'utf8' });
    assert.equal(hashed.status, 0, hashed.stderr);
    const hash = hashed.stdout.trim();
    assert.match(hash, /^scrypt\$32768\$8\$1\$/);
    assert.ok(await verifyPassword('correct horse battery', hash));
    assert.ok(!(await verifyPassword('correct horse batter', hash)));
    const short = spawnSync(process.execPath, [BIN, 'hash-password'], { input: 'short', encoding: 'utf8' });
    assert.equal(short.status, 65);
  });

  test('hash-password on a terminal does not show the password typed', async (context) => {
    // util-linux's script runs the command on a pseudo-terminal of its own, as an operator's shell would.
    if (spawnSync('script', ['--version']).error) {
      // Under CI nothing skips silently: script(1) is util-linux's (Debian's bsdutils, an essential package).
      if (process.env.CI === 'true') throw new Error('CI=true and no script(1) for a terminal (apt-get install -y bsdutils)');
      return context.skip('no script(1) here for a terminal');
    }
    const password = 'typed on a terminal';
    const child = spawn('script', ['-qec', `${process.execPath} ${BIN} hash-password`, '/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let shown = '';
    child.stdout.on('data', (chunk: Buffer) => {
      // Typed once asked, as a person does: typed before, the terminal would echo it ahead of the command.
      const asked = shown.includes('Password');
      shown += chunk.toString();
      if (!asked && shown.includes('Password')) child.stdin.write(`${password}\r`);
    });
    const [code] = (await once(child, 'exit')) as [number];
    assert.equal(code, 0, shown);
    assert.ok(!shown.includes(password), shown);
    assert.ok(await verifyPassword(password, /scrypt\S+/.exec(shown)?.[0] ?? ''), shown);
  });

  test('help and version', () => {
    const help = spawnSync(process.execPath, [BIN, 'help'], { encoding: 'utf8' });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /Usage: smsrelay/);
    const version = spawnSync(process.execPath, [BIN, '--version'], { encoding: 'utf8' });
    assert.match(version.stdout.trim(), /^\d+\.\d+\.\d+$/);
    const unknown = spawnSync(process.execPath, [BIN, 'frobnicate'], { encoding: 'utf8' });
    assert.equal(unknown.status, 64);
  });

  test("help <command> shows that command's help, help of no command is exit 64; each exit code is listed once", () => {
    const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 30_000 });
    for (const args of [
      ['help', 'status'],
      ['status', '--help'],
      ['--help', 'status'],
    ]) {
      const shown = run(...args);
      assert.equal(shown.status, 0, shown.stderr);
      assert.match(shown.stdout, /^Usage: smsrelay status\n\nqueue depths/, args.join(' '));
    }
    const unknown = run('help', 'nosuch');
    assert.equal(unknown.status, 64);
    assert.match(unknown.stderr, /^smsrelay: help: unknown command "nosuch"\n\nUsage: smsrelay/);
    // A command's own command may follow, as it is typed: the command's help.
    for (const [args, line] of [
      [['help', 'config', 'check'], 'Usage: smsrelay config check\n'],
      [['help', 'queue', 'list'], 'Usage: smsrelay queue list [--after'],
      [['help', 'store', 'copy'], 'Usage: smsrelay store copy --from'],
    ] as const) {
      const shown = run(...args);
      assert.equal(shown.status, 0, `${args.join(' ')}: ${shown.stderr}`);
      assert.ok(shown.stdout.startsWith(line), `${args.join(' ')}: ${shown.stdout}`);
    }
    // A command's own command has its own help, with only the exit codes it can end with: pause has no id to miss.
    const exitsOf = (...args: string[]) => {
      const shown = run(...args);
      assert.equal(shown.status, 0, `${args.join(' ')}: ${shown.stderr}`);
      return (/Exit codes: (.*)$/m.exec(shown.stdout)?.[1] ?? '').split(', ').flatMap((part) => /^\d+/.exec(part) ?? []);
    };
    for (const [args, usageLine, notFound] of [
      [['queue', 'pause', '--help'], 'queue pause', false],
      [['queue', 'list', '--help'], 'queue list [--after <sms id>] [--limit <n>]', false],
      [['queue', 'hold', '--help'], 'queue hold <message id|all>', true],
      [['help', 'queue', 'retry'], 'queue retry <message id|all> [--now]', true],
      [['quarantine', 'show', '--help'], 'quarantine show <id>', true],
      [['quarantine', 'list', '--help'], 'quarantine list', false],
      [['undeliverable', 'reroute', '--help'], 'undeliverable reroute <id> <mailbox>', true],
    ] as const) {
      const shown = run(...args).stdout;
      assert.ok(shown.startsWith(`Usage: smsrelay ${usageLine}\n\n`), `${args.join(' ')}: ${shown}`);
      assert.ok(!shown.includes('Commands:'), shown);
      assert.equal(exitsOf(...args).includes('1'), notFound, `${args.join(' ')}: ${shown}`);
    }
    // The command's help lists each of its commands and every exit code any of them ends with.
    const whole = run('queue', '--help').stdout;
    for (const own of ['list', 'hold', 'release', 'retry', 'delete', 'pause', 'resume']) assert.match(whole, new RegExp(`^  queue ${own}\\b`, 'm'));
    assert.ok(exitsOf('queue', '--help').includes('1'));
    const stray = run('help', 'status', 'now');
    assert.equal(stray.status, 64);
    assert.match(stray.stderr, /^smsrelay: help: status has no command "now"\n/);
    for (const command of ['config', 'backup', 'queue', 'store', 'start', 'log']) {
      const exits = /Exit codes: (.*)$/m.exec(run(command, '--help').stdout)?.[1] ?? '';
      const codes = exits.split(', ').flatMap((part) => /^\d+/.exec(part) ?? []);
      assert.ok(codes.length > 1, exits);
      assert.deepEqual(codes, [...new Set(codes)], `${command}: ${exits}`);
    }
    // A listing's help says where its JSON lines go, and where the word that there are none.
    assert.match(run('undeliverable', '--help').stdout, /as JSON lines on stdout \(none is said on stderr\)/);
    assert.match(run('config', 'check', '--help').stdout, /, 69 the store cannot be reached now \(the configuration is shown all the same\), 74 /);
  });

  test('an option without its value or given twice is refused (64) with the reason and usage; -- ends the options', async () => {
    const cwd = dir();
    await (await SqliteStore.open({ file: join(cwd, 'data', 'smsrelay.db'), busyTimeoutMs: 100 })).close();
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [BIN, ...args], {
        cwd,
        input: 'Subject: hi\r\n\r\nhello\r\n',
        env: { PATH: process.env.PATH ?? '', SMSRELAY_DATA_DIR: join(cwd, 'data') },
        encoding: 'utf8',
        timeout: 30_000,
      });
    for (const [args, reason] of [
      [['preview', '--to'], 'preview: --to needs a value'],
      [['preview', '--to', '--from', 'a@example.com'], 'preview: --to needs a value'],
      [['preview', '--to', '447700900123@sms.localhost', '--to', '447700900124@sms.localhost'], 'preview: --to given twice'],
      [['queue', 'list', '--limit', '5', '--limit', '6'], 'queue list: --limit given twice'],
      [['backup', '--force', '--force', join(cwd, 'b.db')], 'backup: --force given twice'],
      [['backup', '--force=yes', join(cwd, 'b.db')], 'backup: --force takes no value'],
      [['nosuch', 'status'], 'unknown command "nosuch"'],
      // A name every object has is no command (it exited 0 having done nothing).
      [['constructor'], 'unknown command "constructor"'],
      [['help', 'constructor'], 'help: unknown command "constructor"'],
      [['preview', '--constructor'], 'preview: unknown option "--constructor"'],
    ] as const) {
      const result = run(...args);
      assert.equal(result.status, 64, `${args.join(' ')}: ${result.stderr}`);
      assert.ok(result.stderr.startsWith(`smsrelay: ${reason}\n\nUsage: smsrelay`), `${args.join(' ')}: ${result.stderr}`);
    }
    const ended = run('--', 'status');
    assert.equal(ended.status, 0, ended.stderr);
    assert.match(ended.stdout, /^relay: not running/);
    // After --, a word that starts with a dash is a word: an id, not an unknown option.
    const id = run('log', '--', '-5');
    assert.equal(id.status, 1, id.stderr);
    assert.match(id.stderr, /nothing known about -5/);
    const inline = run('preview', '--to=447700900123@sms.localhost');
    assert.equal(inline.status, 0, inline.stderr);
    assert.match(inline.stdout, /^text: +"hello"/);
  });

  test('a command called wrongly says so before it opens the store: the usage, not the data directory', async () => {
    const cwd = dir();
    await (await SqliteStore.open({ file: join(cwd, 'data', 'smsrelay.db'), busyTimeoutMs: 100 })).close();
    for (const [args, reason] of [
      [['log'], 'log needs a message id or a phone number'],
      [['queue', 'nosuch'], 'unknown queue command "nosuch": use list, hold, release, retry, delete, pause, resume'],
      [['queue', 'list', '--limit', '0'], 'queue list: --limit needs a number from 1 to 10,000'],
      [['queue', '--after', 'x'], 'queue list: --after needs an SMS id (the smsId of the last line listed)'],
      // A negative number is the value given, refused for what it is, not taken for a forgotten value.
      [['queue', 'list', '--after', '-1'], 'queue list: --after needs an SMS id (the smsId of the last line listed)'],
      [['config'], 'config needs "check"'],
      [['config', 'chek'], 'unknown config command "chek": use check'],
      [['store', '--from', 'a.db', '--to', 'postgres://u@127.0.0.1/x'], 'store needs "copy --from <sqlite file> --to <postgres url>"'],
      [['queue', 'hold'], 'queue hold needs a message id, or "all"'],
      [['queue', 'pause', 'extra'], 'queue pause: unexpected argument "extra"'],
      [['queue', 'retry', 'all', 'extra'], 'queue retry: unexpected argument "extra"'],
      [['queue', 'retry', 'all', '--now'], 'queue retry --now needs a message id: it sends scheduled SMS one message at a time'],
      [['queue', 'hold', 'X', '--now'], 'queue hold takes no --now: only queue retry <message id> --now'],
      // --now is no message id.
      [['queue', 'retry', '--now'], 'queue retry --now needs a message id: it sends scheduled SMS one message at a time'],
      [['queue', 'hold', '--now'], 'queue hold takes no --now: only queue retry <message id> --now'],
      // Only the stray words are quoted, not the options around them.
      [['queue', 'list', '--after', '2', 'extra'], 'queue list: unexpected argument "extra"'],
      [['queue', 'list', 'extra', '--limit', '2'], 'queue list: unexpected argument "extra"'],
      [['quarantine', 'show'], 'quarantine show needs a request id (see smsrelay quarantine list)'],
      [['quarantine', 'show', '1', '2'], 'quarantine show: unexpected argument "2"'],
      [['undeliverable', 'reroute', 'X'], 'undeliverable reroute needs an inbound SMS id and a mail address'],
      [
        ['undeliverable', 'reroute', 'X', 'notanaddress'],
        'undeliverable reroute: "notanaddress" is not a mail address the relay can mail (write it as name@example.com)',
      ],
    ] as const) {
      const result = spawnSync(process.execPath, [BIN, ...args], {
        cwd,
        env: { PATH: process.env.PATH ?? '', SMSRELAY_DATA_DIR: join(cwd, 'data') },
        encoding: 'utf8',
        timeout: 30_000,
      });
      assert.equal(result.status, 64, `${args.join(' ')}: ${result.stderr}`);
      assert.ok(result.stderr.startsWith(`smsrelay: ${reason}\n\nUsage: smsrelay ${args[0]}`), `${args.join(' ')}: ${result.stderr}`);
      // The command's own usage (of its own command's, when named: queue hold), not the list of every command to find it in.
      assert.doesNotMatch(result.stderr, /^Usage: smsrelay \[command\]/m, args.join(' '));
      if (['hold', 'pause', 'retry', 'show', 'reroute'].includes(args[1] ?? ''))
        assert.ok(result.stderr.includes(`\n\nUsage: smsrelay ${args[0]} ${args[1]}`), result.stderr);
      assert.match(result.stderr, /Every command: smsrelay help$/m, args.join(' '));
    }
  });

  test('a command on a store its user may not open is one line naming dataDir, its source and the fix, exit 66, not a raw EACCES', async () => {
    const cwd = dir();
    chmodSync(cwd, 0o755);
    const data = join(cwd, 'data');
    await (await SqliteStore.open({ file: join(data, 'smsrelay.db'), busyTimeoutMs: 100 })).close();
    // The relay's store, another user's: root opens any file, so the command runs as nobody.
    const asRoot = process.getuid?.() === 0;
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [BIN, ...args], {
        cwd,
        env: { PATH: process.env.PATH ?? '', SMSRELAY_DATA_DIR: data },
        encoding: 'utf8',
        timeout: 30_000,
        ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
      });
    const modes = asRoot
      ? [
          [0o755, 0o600],
          [0o700, 0o600],
        ]
      : [[0o755, 0o000]];
    for (const [dirMode, fileMode] of modes) {
      chmodSync(data, dirMode ?? 0);
      chmodSync(join(data, 'smsrelay.db'), fileMode ?? 0);
      for (const command of [['status'], ['queue', 'list'], ['backup', join(cwd, 'copy.db')]]) {
        const result = run(...command);
        assert.equal(result.status, 66, `${command.join(' ')}: ${result.stderr}`);
        assert.equal(
          result.stderr,
          `smsrelay: SMSRELAY_DATA_DIR="${data}": this user may not open the store ${join(data, 'smsrelay.db')} (EACCES, permission denied): run the command as the user the relay runs as, or give this user access\n`,
          command.join(' '),
        );
      }
    }
    chmodSync(data, 0o700);
  });

  test('backup of a stopped store leaves its data directory as it found it (no -wal or -shm), and the copy is in rollback-journal mode: any reader opens it where it lies', async () => {
    const cwd = dir();
    const data = join(cwd, 'data');
    const store = await SqliteStore.open({ file: join(data, 'smsrelay.db'), busyTimeoutMs: 100 });
    await store.acceptMail(mail(['+447700900123']));
    await store.close();
    const before = readdirSync(data).toSorted();
    const copy = join(cwd, 'copy.db');
    const result = spawnSync(process.execPath, [BIN, 'backup', copy], {
      cwd,
      env: { PATH: process.env.PATH ?? '', SMSRELAY_DATA_DIR: data },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(readdirSync(data).toSorted(), before, 'no -wal or -shm left beside the stopped store');
    // Bytes 18 and 19 of a SQLite header: 1 for a rollback journal, 2 for WAL.
    assert.deepEqual([...readFileSync(copy).subarray(18, 20)], [1, 1]);
    const reader = new BetterSqlite3(copy, { readonly: true, fileMustExist: true });
    assert.deepEqual(reader.prepare('SELECT count(*) AS n FROM messages').get(), { n: 1 });
    reader.close();
    assert.ok(!existsSync(`${copy}-shm`), 'a read-only open of the copy makes no -shm');
  });

  test("the commands on a store another process holds locked: the reading ones read it; a writing one is one line naming dataDir, the lock and the fix, exit 75, not SQLite's bare words and exit 1", async () => {
    const cwd = dir();
    const file = join(cwd, 'data', 'smsrelay.db');
    const store = await SqliteStore.open({ file, busyTimeoutMs: 100 });
    await store.acceptMail(mail(['+447700900123'], { id: '0190a4e2-7c3b-7d6e-9f10-2b3c4d5e6f70' }));
    await store.close();
    writeFileSync(join(cwd, 'smsrelay.yaml'), 'store: { busyTimeout: 200ms }\n');
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [BIN, ...args], {
        cwd,
        env: { PATH: process.env.PATH ?? '', SMSRELAY_DATA_DIR: join(cwd, 'data') },
        encoding: 'utf8',
        timeout: 30_000,
      });
    // Another process's write transaction, held past store.busyTimeout (as a sqlite3 shell left in BEGIN IMMEDIATE would).
    const other = new BetterSqlite3(file, { timeout: 5_000 });
    try {
      other.exec('BEGIN IMMEDIATE');
      for (const args of [['status'], ['log', '0190a4e2-7c3b-7d6e-9f10-2b3c4d5e6f70'], ['queue', 'list'], ['undeliverable'], ['quarantine', 'list']]) {
        const read = run(...args);
        assert.equal(read.status, 0, `${args.join(' ')}: ${read.stderr}`);
      }
      for (const args of [
        ['queue', 'pause'],
        ['queue', 'hold', 'all'],
      ]) {
        const written = run(...args);
        assert.equal(written.status, 75, `${args.join(' ')}: ${written.stderr}`);
        const lines = written.stderr.trim().split('\n');
        assert.equal(lines.length, 2, written.stderr);
        assert.match(
          lines[1] ?? '',
          new RegExp(
            `^smsrelay: SMSRELAY_DATA_DIR="${join(cwd, 'data')}": the store in ${join(cwd, 'data')} cannot be written now: its write lock was held past store\\.busyTimeout \\(200ms; SQLITE_BUSY: database is locked\\); run the command again in a while \\(a relay's commits hold the lock for milliseconds, its long writes longer: the store\\.retention sweep, an upgrade of the store at start; a hold that does not end is another program writing to smsrelay\\.db, such as a sqlite3 shell left in a transaction\\)$`,
          ),
        );
      }
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
  });

  test('undeliverable lists every kept SMS, past the store read of 1,000 at a time', async () => {
    const cwd = dir();
    const kept = 1001;
    const store = await SqliteStore.open({ file: join(cwd, 'data', 'smsrelay.db'), busyTimeoutMs: 100 });
    for (let index = 0; index < kept; index++) {
      await store.acceptInbound({
        id: `in-${index}`,
        provider: 'intellisoftware',
        providerId: `P${index}`,
        number: '+447700900123',
        text: `reply ${index}`,
        sentAt: undefined,
        userContext: undefined,
        receivedAt: 1_000 + Math.floor(index / 2),
        route: undefined,
      });
    }
    await store.close();
    const listed = spawnSync(process.execPath, [BIN, 'undeliverable'], {
      cwd,
      env: { PATH: process.env.PATH ?? '', SMSRELAY_DATA_DIR: join(cwd, 'data') },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(listed.status, 0, listed.stderr);
    const ids = listed.stdout
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { id: string }).id);
    assert.equal(new Set(ids).size, kept);
  });

  test("config check and a problem naming a URL variable hide a password holding a raw @ or :, or %40, as the URL standard reads it (to the authority's last @)", async () => {
    const cwd = dir();
    const data = join(cwd, 'data');
    await (await SqliteStore.open({ file: join(data, 'smsrelay.db'), busyTimeoutMs: 100 })).close();
    const run = (env: Record<string, string>) =>
      spawnSync(process.execPath, [BIN, 'config', 'check'], {
        cwd,
        env: { PATH: process.env.PATH ?? '', SMSRELAY_DATA_DIR: data, ...env },
        encoding: 'utf8',
        timeout: 60_000,
      });
    for (const password of ['p@ss:w0rd', 'p:ss@w0rd', 'p%40ss%3Aw0rd']) {
      const mailUrl = `smtps://user:${password}@127.0.0.1:465`;
      const shown = run({ SMSRELAY_MAIL_URL: mailUrl });
      assert.equal(shown.status, 0, shown.stderr);
      assert.match(shown.stdout, /"url": "smtps:\/\/\*\*\*@127\.0\.0\.1:465"/, password);
      // A URL setting the relay takes with credentials and a query, shown with both masked.
      const publicUrl = run({ SMSRELAY_GATEWAY_PUBLIC_URL: `https://u:${password}@sms.example.com/x?apikey=K3Y` });
      assert.equal(publicUrl.status, 0, publicUrl.stderr);
      assert.match(publicUrl.stdout, /"publicUrl": "https:\/\/\*\*\*@sms\.example\.com\/x\?apikey=\*\*\*"/, password);
      // A gateway's URL with credentials is refused (src/config/load.ts), named by its variable with them masked.
      const gateway = run({
        SMSRELAY_GATEWAY: 'intellisoftware',
        SMSRELAY_GATEWAY_USERNAME: 'u',
        SMSRELAY_GATEWAY_PASSWORD: 'x',
        SMSRELAY_GATEWAY_URL: `https://u:${password}@gw.example.com/x?apikey=K3Y`,
      });
      assert.equal(gateway.status, 78, gateway.stderr);
      assert.match(gateway.stderr, /SMSRELAY_GATEWAY_URL="https:\/\/\*\*\*@gw\.example\.com\/x\?apikey=\*\*\*": carries a user name or password/, password);
      // A wrong URL is named by its variable, the password hidden there too.
      const refused = run({ SMSRELAY_MAIL_URL: `ftp://user:${password}@127.0.0.1:465` });
      assert.equal(refused.status, 78);
      assert.match(refused.stderr, /^smsrelay: config: SMSRELAY_MAIL_URL="ftp:\/\/\*\*\*@127\.0\.0\.1:465": /m);
      for (const output of [shown, publicUrl, gateway, refused]) assert.doesNotMatch(output.stdout + output.stderr, /w0rd|ss@|K3Y/, password);
    }
  });

  test('config check shows inbound.webhookTokenHeader (a header name) and hides the token itself', () => {
    const cwd = dir();
    const token = 'tok-0123456789abcdef-SECRET';
    writeFileSync(join(cwd, 'smsrelay.yaml'), `inbound:\n  webhookToken: ${token}\n  webhookTokenHeader: X-Api-Key\n`);
    const shown = spawnSync(process.execPath, [BIN, 'config', 'check'], {
      cwd,
      env: { PATH: process.env.PATH ?? '', SMSRELAY_DATA_DIR: join(cwd, 'data') },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(shown.status, 0, shown.stderr);
    assert.match(shown.stdout, /"webhookTokenHeader": "X-Api-Key"/);
    assert.match(shown.stdout, /"webhookToken": "\*\*\*"/);
    assert.ok(!shown.stdout.includes(token), 'the token hidden');
  });

  test('config check before the first start shows the configuration and says start creates the store; the other commands say there is no relay data', () => {
    const cwd = dir();
    writeFileSync(join(cwd, 'smsrelay.yaml'), 'sms:\n  domains: [new.test]\n');
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [BIN, ...args], { cwd, env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8', timeout: 30_000 });
    const checked = run('config', 'check');
    assert.equal(checked.status, 0, checked.stderr);
    assert.match(checked.stdout, /"new\.test"/);
    assert.match(
      checked.stdout,
      new RegExp(`\\nstore: none yet in ${join(cwd, 'data').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}; \`smsrelay start\` creates it\\n?$`),
    );
    assert.equal(existsSync(join(cwd, 'data', 'smsrelay.db')), false, 'the check creates no store');
    const status = run('status');
    assert.equal(status.status, 66);
    assert.match(status.stderr, /no relay data in/);
  });

  test('config check prints a configuration to copy back: each provider as configured, no key the relay derives; the copy checks the same', () => {
    const cwd = dir();
    writeFileSync(
      join(cwd, 'smsrelay.yaml'),
      [
        'sms: {domains: [copy.test]}',
        'gateway:',
        '  provider: puzzel-simulator',
        '  routes:',
        '    - {name: norway, match: ["+47"], providers: [puzzel-simulator, twilio-simulator]}',
        '    - {match: ["*"], providers: [puzzel-simulator]}',
        'console: {trustedProxies: [10.0.0.1]}',
        '',
      ].join('\n'),
    );
    const check = (file: string) =>
      spawnSync(process.execPath, [BIN, 'config', 'check'], {
        cwd,
        env: { PATH: process.env.PATH ?? '', SMSRELAY_CONFIG: file },
        encoding: 'utf8',
        timeout: 30_000,
      });
    const first = check(join(cwd, 'smsrelay.yaml'));
    assert.equal(first.status, 0, first.stderr);
    const json = first.stdout.slice(0, first.stdout.lastIndexOf('\nstore: '));
    const shown = JSON.parse(json);
    assert.equal(shown.gateway.provider, 'puzzel-simulator');
    assert.deepEqual(shown.gateway.routes[0], { name: 'norway', match: ['+47'], providers: ['puzzel-simulator', 'twilio-simulator'] });
    assert.deepEqual(Object.keys(shown.gateway.providers), ['twilio-simulator']);
    for (const derived of ['simulated', 'settings', 'accountId', 'configuredAs', 'url']) assert.equal(derived in shown.gateway, false, derived);
    assert.equal('file' in shown, false);
    assert.equal('postmaster' in shown.mail, false, 'the default postmaster at an SMS domain would be refused if written');
    assert.deepEqual([shown.http.trustedProxies, 'trustedProxies' in shown.console], [['10.0.0.1'], false], 'under its name only');
    writeFileSync(join(cwd, 'copy.yaml'), json);
    const again = check(join(cwd, 'copy.yaml'));
    assert.equal(again.status, 0, again.stderr);
    assert.deepEqual(JSON.parse(again.stdout.slice(0, again.stdout.lastIndexOf('\nstore: '))), shown);
  });

  test("config check's output for each real provider copies back into a file that checks the same: no URL where the provider takes none, durations with their units, no default the file would refuse", () => {
    const cwd = dir();
    const secrets: Record<string, string> = { password: 'secret12', authToken: '0123456789abcdef0123456789abcdef' };
    const providers: Record<string, Record<string, string>> = {
      intellisoftware: {},
      interactsms: { apiId: '12345' },
      puzzel: { serviceId: '1234' },
      smpp: { host: '127.0.0.1' },
      twilio: { accountSid: `AC${'0'.repeat(32)}`, messagingServiceSid: `MG${'0'.repeat(32)}` },
      vonage: { from: 'Relay' },
    };
    const check = (file: string) =>
      spawnSync(process.execPath, [BIN, 'config', 'check'], {
        cwd,
        env: { PATH: process.env.PATH ?? '', SMSRELAY_CONFIG: file, SMSRELAY_DATA_DIR: join(cwd, 'data') },
        encoding: 'utf8',
        timeout: 30_000,
      });
    const configuration = (stdout: string) => stdout.slice(0, stdout.lastIndexOf('\nstore: '));
    for (const [provider, settings] of Object.entries(providers)) {
      const gateway = { provider, username: 'relay', ...secrets, ...settings };
      writeFileSync(join(cwd, `${provider}.yaml`), JSON.stringify({ smtp: { hostname: 'copy.test' }, gateway }));
      const first = check(join(cwd, `${provider}.yaml`));
      assert.equal(first.status, 0, `${provider}: ${first.stderr}`);
      // The secrets are shown masked: the operator writes them back.
      const copy = configuration(first.stdout).replace(/"(\w+)": "\*\*\*"/g, (_all, key: string) => `"${key}": ${JSON.stringify(secrets[key])}`);
      writeFileSync(join(cwd, `${provider}-copy.yaml`), copy);
      const again = check(join(cwd, `${provider}-copy.yaml`));
      assert.equal(again.status, 0, `${provider}: ${again.stderr}`);
      assert.deepEqual(JSON.parse(configuration(again.stdout)), JSON.parse(configuration(first.stdout)), provider);
      if (provider === 'smpp') {
        const shown = JSON.parse(configuration(first.stdout)).gateway;
        assert.deepEqual([shown.url, shown.submitTimeout, shown.enquireLinkInterval], [undefined, '30s', '30s']);
      }
    }
  });

  test("a settings file's YAML faults are said in the relay's words, naming the key, its lines and the fix, by config check and start alike, exit 78", () => {
    const cwd = dir();
    const file = join(cwd, 'smsrelay.yaml');
    const refused = (text: string, expected: readonly string[]) => {
      writeFileSync(file, text);
      for (const command of ['config check', 'start']) {
        const result = spawnSync(process.execPath, [BIN, ...command.split(' ')], {
          cwd,
          env: { PATH: process.env.PATH ?? '', SMSRELAY_DATA_DIR: join(cwd, 'data'), SMSRELAY_SMTP_PORT: '0', SMSRELAY_HTTP_PORT: '0' },
          encoding: 'utf8',
          timeout: 30_000,
        });
        assert.equal(result.status, 78, `${command}: ${result.stderr}`);
        const lines = result.stderr
          .trim()
          .split('\n')
          .filter((line) => line.startsWith('smsrelay: config: '));
        assert.deepEqual(
          lines,
          expected.map((line) => `smsrelay: config: ${file}:${line}`),
          command,
        );
      }
    };
    // Fragments joined: a ConfigMap, a template, `cat base.yaml site.yaml`.
    refused('smtp:\n  port: 2525\n---\nhttp:\n  port: 8080\n', [
      '3: the file holds 2 YAML documents (a `---` at line 3 starts the second); the settings are one document: remove the `---` and merge their sections',
    ]);
    refused('smtp:\n  port: 2525\nhttp:\n  port: 8080\nsmtp:\n  host: 127.0.0.1\n  host: ::1\n', [
      '5: smtp given twice, at lines 1 and 5: merge them into one (their settings under it once each)',
      '7: smtp.host given twice, at lines 6 and 7: keep one',
    ]);
    refused('console:\n  users:\n    - name: a\n      name: b\n', ['4: console.users.0.name given twice, at lines 3 and 4: keep one']);
    refused('smtp:\n  port: 2525\n...\nhttp:\n  port: 8080\n', [
      '4: the file holds 2 YAML documents (a `...` at line 3 ends the first); the settings are one document: remove the `...` and merge their sections',
    ]);
    // Said once, at the line indented too far (the package says it twice, at the line before).
    refused('smtp:\n  port: 2525\n    host: 127.0.0.1\n', [
      '3: indented further than the line before it, which has a value: indent it as far as that line, or, if it belongs under that key, leave its value out ("key:" alone)',
    ]);
    refused('smtp:\n  banner: Alert: disk\n', [
      '2: a ": " inside a value, where YAML reads a key: put the value in quotes, or write each "key: value" on a line of its own',
    ]);
    refused('sms:\n  domains: [a.example, b.example\nhttp:\n  port: 8080\n', ['3: a list opened with [ above is not closed: end it with ] on its line']);
    refused('smtp:\n\tport: 2525\n', ['2: a tab indents this line; YAML indents with spaces only: replace the tab with spaces']);
    refused('smtp\n  port: 2525\n', [
      '1: a line that is neither "key: value" nor "- item" (a key without its colon, or a key going on over two lines): end each key with a colon and a space',
    ]);
    // A generated password read as an alias (the package throws, quoting its rest), an anchor or a tag (read without a word).
    const quoteIt = "write it in single quotes ('…', a ' inside written twice)";
    const gateway = 'gateway:\n  provider: intellisoftware\n  username: acme\n';
    refused(`${gateway}  password: *Xk9$2pQ-r7\n`, [
      `4: gateway.password: a value starting with * is read by YAML as an alias (a repeat of an earlier value marked &name), and no such &name comes before it: ${quoteIt}`,
    ]);
    refused(`${gateway}  password: &Xk9$2pQ-r7\n`, [
      `4: gateway.password: a value starting with & is read by YAML as an anchor (a name for the value after it, for an alias *name to repeat), and no alias repeats it: ${quoteIt}`,
    ]);
    refused(`${gateway}  password: !Xk9pQr7 tagged\n`, [
      `4: gateway.password: a value starting with ! is read by YAML as a tag (a type for the value after it), one the settings cannot take: ${quoteIt}`,
    ]);
  });

  test('a password whose first character YAML reserves is never said by config check (exit 78 unless it loads as written) nor by a SIGHUP, one of each character', async () => {
    const cwd = dir();
    // As generators make them: the package reads `*` and the rest as an alias's name, and throws quoting it (its other faults are load.test.ts's).
    const secrets = yamlSpecialSecrets(YAML_SPECIAL_FIRST.length, 0xc1, PLAIN);
    const shown = (secret: string, output: string) => secretParts(secret).filter((part) => output.includes(part));
    const check = (file: string) =>
      new Promise<{ status: number | null; output: string }>((resolve) => {
        const child = spawn(process.execPath, [BIN, 'config', 'check'], {
          cwd,
          env: { PATH: process.env.PATH ?? '', SMSRELAY_DATA_DIR: join(cwd, 'data'), SMSRELAY_CONFIG: file },
        });
        let output = '';
        child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
        child.once('close', (status) => resolve({ status, output }));
      });
    // Three at a time: each check starts Node and tsx.
    for (let at = 0; at < secrets.length; at += 3) {
      await Promise.all(
        secrets.slice(at, at + 3).map(async (secret, index) => {
          const file = join(cwd, `check-${at + index}.yaml`);
          writeFileSync(file, `gateway:\n  provider: intellisoftware\n  username: acme\n  password: ${secret}\n`);
          const { status, output } = await check(file);
          assert.deepEqual(shown(secret, output), [], `${JSON.stringify(secret)}: ${output}`);
          if (!`'"`.includes(secret.charAt(0))) assert.equal(status, 78, `${JSON.stringify(secret)}: ${output}`);
          if (status === 78) assert.match(output, /^smsrelay: config: /m, JSON.stringify(secret));
        }),
      );
    }
    // The reload reads the same file: its error line at error level, in the log and the journal.
    const relay = await spawnRelay(cwd, relayEnvironment(cwd, {}));
    try {
      for (const secret of secrets) {
        writeFileSync(join(cwd, 'smsrelay.yaml'), `inbound:\n  webhookToken: ${secret}\n`);
        const count = relay.logs.length;
        relay.child.kill('SIGHUP');
        // Its last line: invalid, unchanged, or which settings changed.
        const said = await waitFor('the SIGHUP config line', () =>
          relay.logs.slice(count).find((line) => /^config: SIGHUP: (the settings are|.* changed; only a restart)/.test(String(line.msg))),
        );
        if (!`'"`.includes(secret.charAt(0))) assert.match(String(said.msg), /^config: SIGHUP: the settings are invalid \(/, JSON.stringify(secret));
        assert.deepEqual(shown(secret, JSON.stringify(relay.logs.slice(count)) + relay.stderr()), [], JSON.stringify(secret));
      }
    } finally {
      assert.equal(await relay.stop(), 0);
    }
  });

  test("a settings file's YAML fault never quotes a value of the file (a password) to stderr, whatever its shape", () => {
    const cwd = dir();
    const file = join(cwd, 'smsrelay.yaml');
    const secret = 'Sup3rS3cret';
    // Faults the package reports by quoting the token at fault, which may be the value.
    const shapes = [
      `  log:\n    level: info\ngateway:\n  password: ${secret}\n`,
      `gateway:\n  password: |x ${secret}\n`,
      `gateway: { password: ${secret}, , }\n`,
      `gateway:\n  password: ${secret}\n  - x\n`,
      `gateway:\n  password: "${secret}\n`,
      `gateway:\n  password: '${secret}\n`,
      `gateway:\n  password: ${secret}: x\n`,
      `gateway:\n  password: "${secret}\\q"\n`,
      `gateway:\n  password: ${secret}\n  password: ${secret}\n`,
      `gateway:\n  password: %${secret}\n`,
      `gateway: {password: [${secret}\nhttp: 1\n`,
    ];
    for (const shape of shapes) {
      writeFileSync(file, shape);
      const result = spawnSync(process.execPath, [BIN, 'config', 'check'], {
        cwd,
        env: { PATH: process.env.PATH ?? '', SMSRELAY_DATA_DIR: join(cwd, 'data') },
        encoding: 'utf8',
        timeout: 30_000,
      });
      assert.equal(result.status, 78, `${JSON.stringify(shape)}: ${result.stderr}`);
      assert.match(result.stderr, /smsrelay: config: .*smsrelay\.yaml:\d+: /, JSON.stringify(shape));
      assert.ok(!result.stderr.includes(secret), `${JSON.stringify(shape)}: ${result.stderr}`);
      assert.ok(!/token in YAML stream/.test(result.stderr), `${JSON.stringify(shape)}: said in the relay's words: ${result.stderr}`);
    }
  });

  test('a settings file that is a directory, unreadable or missing, or SMSRELAY_CONFIG empty, is one config line naming it and the fix, exit 78; the name is trimmed', () => {
    const cwd = dir();
    chmodSync(cwd, 0o755);
    const check = (env: Record<string, string>, asOther = false) =>
      spawnSync(process.execPath, [BIN, 'config', 'check'], {
        cwd,
        env: { PATH: process.env.PATH ?? '', SMSRELAY_DATA_DIR: join(cwd, 'data'), ...env },
        encoding: 'utf8',
        timeout: 30_000,
        // Root reads any file: the unreadable one is read as another user.
        ...(asOther && process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {}),
      });
    const refused = (env: Record<string, string>, expected: string, asOther = false) => {
      const result = check(env, asOther);
      assert.equal(result.status, 78, result.stderr);
      assert.deepEqual(result.stderr.trim().split('\n'), [`smsrelay: config: ${expected}`]);
    };
    mkdirSync(join(cwd, 'smsrelay.yaml'));
    refused({}, `${join(cwd, 'smsrelay.yaml')}: a directory, not a settings file; move it away, or set SMSRELAY_CONFIG to the settings file`);
    refused(
      { SMSRELAY_CONFIG: cwd },
      `SMSRELAY_CONFIG="${cwd}": a directory, not a settings file; name the settings file in it (SMSRELAY_CONFIG=${join(cwd, 'smsrelay.yaml')}), or unset it`,
    );
    rmSync(join(cwd, 'smsrelay.yaml'), { recursive: true });
    writeFileSync(join(cwd, 'smsrelay.yaml'), 'dataDir: from-the-default-file\n');
    refused({ SMSRELAY_CONFIG: '' }, 'SMSRELAY_CONFIG="": empty; name the settings file, or unset it to read ./smsrelay.yaml');
    refused(
      { SMSRELAY_CONFIG: 'missing.yaml' },
      `SMSRELAY_CONFIG="missing.yaml": file not found (${join(cwd, 'missing.yaml')}); create it (it may be empty: every setting has its default or its variable), or unset SMSRELAY_CONFIG to read ./smsrelay.yaml`,
    );
    refused({ SMSRELAY_CONFIG: '  ' }, 'SMSRELAY_CONFIG="": empty; name the settings file, or unset it to read ./smsrelay.yaml');
    writeFileSync(join(cwd, 'other.yaml'), 'sms:\n  domains: [other.test]\n');
    chmodSync(join(cwd, 'other.yaml'), 0o600);
    const spaced = check({ SMSRELAY_CONFIG: ' other.yaml ' });
    assert.equal(spaced.status, 0, spaced.stderr);
    assert.match(spaced.stdout, /"other\.test"/, 'the file read, its name trimmed');
    chmodSync(join(cwd, 'other.yaml'), 0o000);
    refused(
      { SMSRELAY_CONFIG: 'other.yaml' },
      `SMSRELAY_CONFIG="other.yaml": cannot be read by this user (EACCES); let the relay's user read ${join(cwd, 'other.yaml')} (chmod, chown)`,
      true,
    );
  });

  test('quarantine list and show name the characters a terminal acts on (bidi, line separators, C1) as the log does, never print them raw', async () => {
    const cwd = dir();
    const store = await SqliteStore.open({ file: join(cwd, 'data', 'smsrelay.db'), busyTimeoutMs: 100 });
    const status = '\u202edelivered\u2028\x1b[31mX\x85';
    await store.quarantine({
      receivedAt: Date.now(),
      provider: 'twilio',
      kind: 'dr',
      reason: `unknown MessageStatus ${status}`,
      body: Buffer.from(`MessageStatus=${status}`),
    });
    await store.close();
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [BIN, 'quarantine', ...args], {
        cwd,
        env: { PATH: process.env.PATH ?? '', SMSRELAY_DATA_DIR: join(cwd, 'data') },
        encoding: 'utf8',
        timeout: 30_000,
      });
    for (const args of [['list'], ['show', '1']]) {
      const result = run(...args);
      assert.equal(result.status, 0, result.stderr);
      assert.doesNotMatch(result.stdout, /[\u0085\u202e\u2028]/, `${args.join(' ')}: ${JSON.stringify(result.stdout)}`);
      assert.match(result.stdout, /U\+202EdeliveredU\+2028/, args.join(' '));
      assert.match(result.stdout, /U\+0085/, args.join(' '));
    }
  });

  test('queue list says on stderr when it cuts the list at 1,000, and pages on with --after and --limit; past the last page or on an empty queue, stdout stays empty', async () => {
    const cwd = dir();
    const queued = 1002;
    const store = await SqliteStore.open({ file: join(cwd, 'data', 'smsrelay.db'), busyTimeoutMs: 100 });
    for (let index = 0; index < queued; index++) await store.acceptMail(mail([`+4477009${String(index).padStart(5, '0')}`]));
    await store.close();
    const list = (...args: string[]) =>
      spawnSync(process.execPath, [BIN, 'queue', 'list', ...args], {
        cwd,
        env: { PATH: process.env.PATH ?? '', SMSRELAY_DATA_DIR: join(cwd, 'data') },
        encoding: 'utf8',
        timeout: 30_000,
      });
    const ids = (stdout: string) =>
      stdout
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { smsId: number }).smsId);
    const first = list();
    assert.equal(first.status, 0, first.stderr);
    const firstIds = ids(first.stdout);
    assert.equal(firstIds.length, 1000);
    assert.match(
      first.stderr,
      new RegExp(`smsrelay: queue list: the first 1,000 of 1,002 queued SMS; the next: smsrelay queue list --after ${firstIds.at(-1)}\n$`),
    );
    const rest = list('--after', String(firstIds.at(-1)));
    assert.equal(rest.status, 0, rest.stderr);
    assert.equal(ids(rest.stdout).length, 2);
    assert.doesNotMatch(rest.stderr, /queue list:/, 'the last page is not cut');
    const short = list('--after', String(firstIds[0]), '--limit', '3');
    assert.deepEqual(ids(short.stdout), firstIds.slice(1, 4));
    assert.match(
      short.stderr,
      new RegExp(`queue list: 3 after SMS ${firstIds[0]} of 1,002 queued SMS; the next: smsrelay queue list --after ${firstIds[3]}\n$`),
    );
    // Past the last page: nothing on stdout, which a pipe into jq reads as JSON lines; the words on stderr.
    const past = list('--after', String(ids(rest.stdout).at(-1)));
    assert.equal(past.status, 0, past.stderr);
    assert.equal(past.stdout, '');
    assert.match(past.stderr, /^smsrelay: data directory .+\nsmsrelay: queue list: no queued SMS after SMS \d+\n$/);
    const empty = await SqliteStore.open({ file: join(cwd, 'data', 'smsrelay.db'), busyTimeoutMs: 100 });
    await empty.applyQueueAction('delete', undefined, Date.now());
    await empty.close();
    const none = list();
    assert.equal(none.stdout, '');
    assert.match(none.stderr, /\nsmsrelay: queue list: no queued SMS\n$/);
    for (const wrong of [['--limit', '0'], ['--limit', '10001'], ['--after', 'x'], ['--limit']]) {
      const refused = list(...wrong);
      assert.equal(refused.status, 64, `${wrong.join(' ')}: ${refused.stderr}`);
      assert.match(refused.stderr, /smsrelay: queue list: --(limit|after) needs/);
    }
  });
});

/**
 * A full disk's answer: exit 75 and one line naming dataDir and the fix. SQLite's code in it varies with what met
 * the full disk first (the shared-memory file: SQLITE_IOERR_SHMSIZE), so it is left out of the comparison.
 */
function assertDiskFullLine(result: SpawnSyncReturns<string>, lines: readonly string[], data: string, what: string): void {
  assert.equal(result.status, 75, `${what}: ${result.stderr}`);
  assert.equal(lines.length, 1, result.stderr);
  assert.equal(
    lines[0]?.replace(/ \(SQLITE_\w+\)/, ''),
    `smsrelay: SMSRELAY_DATA_DIR="${data}": the store in ${data} cannot be used: the disk is full; free space in ${data}`,
  );
}

/** A fresh directory with a store made in it (`made/smsrelay.db`, which a test copies onto its tmpfs) and an empty directory `name` to mount the tmpfs on. */
function storeToMount(name: string): { cwd: string; mountPoint: string } {
  const cwd = dir();
  void SqliteStore.open({ file: join(cwd, 'made', 'smsrelay.db'), busyTimeoutMs: 1000 }).close();
  const mountPoint = join(cwd, name);
  mkdirSync(mountPoint);
  return { cwd, mountPoint };
}
