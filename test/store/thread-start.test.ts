/**
 * The store's thread costs one thread: it compiles its TypeScript in itself (tsx's require hook, src/store/thread.mjs),
 * not through an ESM loader, which on Node 20 starts a hooks thread of its own per thread that registers one — an
 * isolate more, ~15-20 MB of the relay's RSS (#15) — and without esbuild's worker thread, which esbuild's
 * transformSync starts whenever a module is not in tsx's compile cache. The cache is under TMPDIR, empty at every start
 * of a systemd unit with PrivateTmp=true: the store is opened in a child process with a fresh TMPDIR (cold), then again
 * with the same one (warm).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { storeFile } from '../helpers/store.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/store-thread/count-threads.ts', import.meta.url));

async function threadsStarted(tmp: string, fixture = FIXTURE, cwd = process.cwd()): Promise<number> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', fixture, storeFile()], {
    cwd,
    env: { ...process.env, TMPDIR: tmp },
    timeout: 60_000,
  });
  return (JSON.parse(stdout) as { added: number }).added;
}

test('opening the SQLite store starts its thread and no other, with tsx’s cache cold and warm', async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'smsrelay-tsx-cache-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  assert.equal(await threadsStarted(tmp), 1, 'cold cache');
  assert.equal(await threadsStarted(tmp), 1, 'warm cache');
});

test('the store thread needs no tsconfig.json beside src/ and still compiles its modules as strict code', async (t) => {
  const copy = mkdtempSync(join(tmpdir(), 'smsrelay-no-tsconfig-'));
  t.after(() => rmSync(copy, { recursive: true, force: true }));
  const root = fileURLToPath(new URL('../../', import.meta.url));
  // A relay as deployed without the project's tsconfig.json: src/, package.json and the packages.
  cpSync(join(root, 'src'), join(copy, 'src'), { recursive: true });
  cpSync(join(root, 'test/fixtures/store-thread'), join(copy, 'test/fixtures/store-thread'), { recursive: true });
  cpSync(join(root, 'package.json'), join(copy, 'package.json'));
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'));
  // In sloppy code a plain function's `this` is the global object: the thread then fails to start, and says so.
  const server = join(copy, 'src/store/thread-server.ts');
  const sentinel = "if ((function (this: unknown) { return this; })() !== undefined) throw new Error('compiled as sloppy code');\n";
  writeFileSync(server, sentinel + readFileSync(server, 'utf8'));
  const tmp = join(copy, 'tmp');
  mkdirSync(tmp);
  assert.equal(await threadsStarted(tmp, join(copy, 'test/fixtures/store-thread/count-threads.ts'), copy), 1);
});
