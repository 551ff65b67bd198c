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
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { storeFile } from '../helpers/store.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/store-thread/count-threads.ts', import.meta.url));

async function threadsStarted(tmp: string): Promise<number> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', FIXTURE, storeFile()], {
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
