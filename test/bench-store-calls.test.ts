/**
 * The bench's count of store round trips (bench/store-calls-hook.mjs, preloaded into a relay by
 * bench/store-calls.ts): a process with the SQLite store on its own thread, asked over the real worker
 * port, counts each turn's calls as one message and each call by method.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { tempDir } from './helpers/relay.ts';

const dir = tempDir('smsrelay-store-calls-');
after(() => rmSync(dir, { recursive: true, force: true }));

describe('bench store-call counts', () => {
  test("a turn's calls are one message to the store thread, and each call is counted by its method", () => {
    const script = join(dir, 'calls.mts');
    const counts = join(dir, 'counts.json');
    const threaded = fileURLToPath(new URL('../src/store/threaded.ts', import.meta.url));
    writeFileSync(
      script,
      `import { openThreadedStore } from ${JSON.stringify(threaded)};
const store = await openThreadedStore({ file: ${JSON.stringify(join(dir, 'data', 'smsrelay.db'))}, busyTimeoutMs: 1000 });
await Promise.all([store.ping(), store.ping(), store.nextSmsDueAt()]);
await store.nextSmsDueAt();
await store.close();
// Longer than the hook's write interval: its last write holds every call.
await new Promise((resolve) => setTimeout(resolve, 500));
`,
    );
    const hook = fileURLToPath(new URL('../bench/store-calls-hook.mjs', import.meta.url));
    execFileSync(process.execPath, ['--import', 'tsx', '--import', hook, script], {
      env: { ...process.env, STORE_CALLS_FILE: counts },
      stdio: 'inherit',
      timeout: 30_000,
    });
    const { toStore, fromStore, calls } = JSON.parse(readFileSync(counts, 'utf8')) as { toStore: number; fromStore: number; calls: Record<string, number> };
    assert.deepEqual(calls, { ping: 2, nextSmsDueAt: 2, close: 1 });
    assert.deepEqual([toStore, fromStore], [3, 3]);
  });
});
