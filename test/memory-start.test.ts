/**
 * How the relay bounds its memory when it starts (docs/operations.md, Memory): V8's old generation
 * grows 1.5 times between full collections, set by the relay itself so that every way of starting it
 * gets it, unless the operator gave Node a growth factor; and glibc's MALLOC_ARENA_MAX, which only
 * whoever starts the process can set, is named in a warning when it did not reach the relay.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { removeDir, tempDir } from './helpers/relay.ts';
import { waitFor } from './helpers/wait.ts';

const BIN = fileURLToPath(new URL('../bin/smsrelay.js', import.meta.url));
const dir = tempDir();
const running = new Set<ChildProcess>();
after(() => {
  for (const child of running) child.kill('SIGKILL');
  removeDir(dir);
});

type Line = { level?: string; msg?: string; heapGrowingPercent?: number; mallocArenaMax?: string };

/** Starts `node [nodeArgs] bin/smsrelay.js start` as a unit file would, and returns its memory line; then stops it. */
async function memoryLine(name: string, nodeArgs: readonly string[], env: Record<string, string>): Promise<Line> {
  const base = { PATH: process.env.PATH ?? '', HOME: dir, SMSRELAY_DATA_DIR: join(dir, name), SMSRELAY_SMTP_PORT: '0', SMSRELAY_HTTP_PORT: '0' };
  const child = spawn(process.execPath, [...nodeArgs, BIN, 'start'], { cwd: dir, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  running.add(child);
  const lines: Line[] = [];
  let pending = '';
  child.stdout.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const complete = pending.split('\n');
    pending = complete.pop() ?? '';
    for (const line of complete) if (line.startsWith('{')) lines.push(JSON.parse(line) as Line);
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await waitFor('relay: ready', () => lines.find((line) => line.msg === 'relay: ready'), 60_000);
  child.kill('SIGTERM');
  await exited;
  running.delete(child);
  const memory = lines.find((line) => line.msg?.startsWith('memory: '));
  assert.ok(memory, `the relay logs how its memory is bounded (lines: ${lines.map((line) => line.msg).join(' | ')})`);
  return memory;
}

test('started without MALLOC_ARENA_MAX (a unit file of its own), the relay warns naming it, and bounds its heap growth itself', {
  timeout: 90_000,
}, async () => {
  const line = await memoryLine('bare', [], {});
  assert.equal(line.level, 'warn');
  assert.match(line.msg ?? '', /MALLOC_ARENA_MAX is not set.*MALLOC_ARENA_MAX=2/);
  assert.equal(line.heapGrowingPercent, 50);
});

test("an operator's own --heap-growing-percent and MALLOC_ARENA_MAX are kept, and said", { timeout: 90_000 }, async () => {
  const line = await memoryLine('own', ['--heap-growing-percent=70'], { MALLOC_ARENA_MAX: '4' });
  assert.equal(line.level, 'info');
  assert.equal(line.heapGrowingPercent, 70);
  assert.equal(line.mallocArenaMax, '4');
});
