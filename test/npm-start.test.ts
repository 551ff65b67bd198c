/**
 * `npm start` is the documented way to run the relay, and operators stop it the way they stop any
 * process: a SIGTERM to the process they started. npm runs the script through a shell that passes no
 * signal on, so without `exec` the relay outlived npm and held the data directory's lock.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { removeDir, tempDir, waitFor } from './helpers/relay.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dir = tempDir();
after(() => removeDir(dir));

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whatever a failed assertion leaves running (npm and the relay under it) must not hold the suite open. */
let started: number | undefined;
after(() => {
  if (started === undefined) return;
  try {
    process.kill(-started, 'SIGKILL');
  } catch {
    // already gone
  }
});

test('a SIGTERM to `npm start` stops the relay gracefully, not only npm', { timeout: 120_000 }, async () => {
  const env = { PATH: process.env.PATH ?? '', HOME: dir, SMSRELAY_DATA_DIR: join(dir, 'data'), SMSRELAY_SMTP_PORT: '0', SMSRELAY_HTTP_PORT: '0' };
  // Its own process group, so that `after` can end npm and the relay together if the test fails.
  const npm = spawn('npm', ['start', '--silent'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  started = npm.pid;
  const lines: Array<{ pid?: number; msg?: string; level?: string; heapGrowingPercent?: number; mallocArenaMax?: string }> = [];
  let pending = '';
  npm.stdout.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const complete = pending.split('\n');
    pending = complete.pop() ?? '';
    for (const line of complete) if (line.startsWith('{')) lines.push(JSON.parse(line) as (typeof lines)[number]);
  });
  const exited = new Promise<number | null>((resolve) => npm.on('exit', (code) => resolve(code)));
  const ready = await waitFor('relay: ready', () => lines.find((line) => line.msg === 'relay: ready'), 60_000);
  const relayPid = ready.pid ?? 0;
  assert.notEqual(relayPid, npm.pid, 'the relay runs in its own process under npm');
  // glibc reads it at exec: two malloc arenas instead of one per allocating thread (docs/operations.md, Memory).
  const environment = readFileSync(`/proc/${relayPid}/environ`, 'utf8').split('\0');
  // V8 sizes the young generation when the process starts: only the command line can (docs/operations.md, Memory).
  const commandLine = readFileSync(`/proc/${relayPid}/cmdline`, 'utf8').split('\0');

  npm.kill('SIGTERM');
  await exited;
  await waitFor('the relay process gone', () => !isRunning(relayPid), 10_000);
  assert.ok(
    lines.some((line) => line.msg === 'relay: stopped'),
    'the relay stopped gracefully (its own SIGTERM handler ran)',
  );
  assert.ok(environment.includes('MALLOC_ARENA_MAX=2'), 'npm start runs the relay with MALLOC_ARENA_MAX=2');
  assert.ok(commandLine.includes('--max-semi-space-size=8'), `npm start runs the relay with 8 MB semi-spaces (${commandLine.join(' ')})`);
  const memory = lines.find((line) => line.msg?.startsWith('memory: '));
  assert.deepEqual(
    { level: memory?.level, heapGrowingPercent: memory?.heapGrowingPercent, mallocArenaMax: memory?.mallocArenaMax, msg: memory?.msg },
    { level: 'info', heapGrowingPercent: 50, mallocArenaMax: '2', msg: 'memory: heap growth and malloc arenas bounded' },
    'the relay says how its memory is bounded',
  );
});
