import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { makeDataDir } from '../../src/store/lock.ts';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { relayEnvironment, removeDir, spawnRelay, startTestRelay, tempDir, waitFor } from '../helpers/relay.ts';

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
