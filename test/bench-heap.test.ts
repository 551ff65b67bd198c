/**
 * The soak's heap pass reads the relay as `npm start` runs it: its inspector is opened after the start (bench/heap.ts,
 * inspectRelay), since a relay started with --inspect gets tsx's source maps with every module's TypeScript source in
 * them (~12 MB more of the main thread's heap).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { inspectableArgs, inspectRelay } from '../bench/heap.ts';
import { freePort, ROOT, startRelay } from '../bench/processes.ts';

test("the heap pass's relay holds its modules' source maps without their TypeScript source, as npm start's does", async () => {
  const port = await freePort();
  const relay = await startRelay(
    {
      SMSRELAY_GATEWAY: 'intellisoftware',
      SMSRELAY_GATEWAY_URL: 'http://127.0.0.1:9/',
      SMSRELAY_GATEWAY_USERNAME: 'heap',
      SMSRELAY_GATEWAY_PASSWORD: 'heap-password',
    },
    { nodeArgs: inspectableArgs(port) },
  );
  try {
    const inspector = await inspectRelay(relay.process.pid ?? 0, port);
    try {
      const relayModule = new URL('src/relay.ts', `file://${ROOT}`).href;
      const map = (await inspector.evaluate(
        'main',
        `JSON.stringify(process.getBuiltinModule('node:module').findSourceMap(${JSON.stringify(relayModule)})?.payload ?? null)`,
      )) as { sources: string[]; sourcesContent?: Array<string | null> } | null;
      assert.ok(map, 'src/relay.ts has a source map');
      assert.deepEqual(map.sourcesContent ?? [null], [null]);
      assert.ok((await inspector.memoryUsage(inspector.store)).heapTotal > 0, 'the store thread is reached too');
    } finally {
      inspector.close();
    }
  } finally {
    await relay.stop();
  }
});

test('a process whose SIGUSR1 listener keeps its inspector shut is told apart from a slow one', async () => {
  const port = await freePort();
  // The listener replaces Node's own handler, the one that opens the inspector (a log reopen is the usual one).
  const child = spawn(process.execPath, [...inspectableArgs(port), '-e', "process.on('SIGUSR1', () => {}); setInterval(() => {}, 1000); console.log('up')"], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    await once(child.stdout, 'data');
    await assert.rejects(inspectRelay(child.pid ?? 0, port), /SIGUSR1 listener of its own/);
  } finally {
    child.kill();
  }
});
