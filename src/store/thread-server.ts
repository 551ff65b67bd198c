/**
 * The store's own thread: SQLite (better-sqlite3) is synchronous, and a durable commit waits for an
 * fsync. On the main thread that wait stops SMTP, HTTP and dispatch for every commit; here it stops
 * nothing but other writes, which group commit batches anyway. Serves SqliteStore's methods to
 * ThreadedStore over the worker's message port.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { RelayError } from '../errors.ts';
import { SqliteStore, type SqliteStoreOptions } from './sqlite.ts';
import { toBuffers } from './thread-wire.ts';

const port = parentPort;
if (!port) throw new Error('thread-server runs in a worker thread');

let store: SqliteStore;
try {
  store = SqliteStore.open(workerData as SqliteStoreOptions, (health) => port.postMessage({ health }));
  port.postMessage({ ready: true });
} catch (error) {
  port.postMessage({ ready: false, error: { message: error instanceof Error ? error.message : String(error) } });
  throw error;
}

port.on('message', async ({ id, method, args }: { id: number; method: string; args: unknown[] }) => {
  try {
    const target = (store as unknown as Record<string, (...values: unknown[]) => Promise<unknown>>)[method];
    if (typeof target !== 'function') throw new Error(`the store has no method ${method}`);
    const value = await target.apply(store, toBuffers(args) as unknown[]);
    port.postMessage({ id, ok: true, value });
    if (method === 'close') port.close();
  } catch (error) {
    const code = error instanceof RelayError ? error.code : undefined;
    port.postMessage({ id, ok: false, error: { code, message: error instanceof Error ? error.message : String(error) } });
  }
});
