/**
 * The store's thread costs one thread: it compiles its TypeScript in itself (tsx's require hook, src/store/thread.mjs),
 * not through an ESM loader, which on Node 20 starts a hooks thread of its own per thread that registers one — an
 * isolate more, ~15-20 MB of the relay's RSS (#15).
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { openThreadedStore } from '../../src/store/threaded.ts';
import { storeFile } from '../helpers/store.ts';

const threads = () => readdirSync('/proc/self/task').length;

test('opening the SQLite store starts its thread and no other', async () => {
  // libuv's pool starts at the first asynchronous file operation: started before counting.
  await readFile(new URL(import.meta.url));
  const before = threads();
  const store = await openThreadedStore({ file: storeFile(), busyTimeoutMs: 100 });
  try {
    assert.equal(threads() - before, 1);
  } finally {
    await store.close();
  }
});
