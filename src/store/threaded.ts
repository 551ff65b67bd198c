import { Worker } from 'node:worker_threads';
import { RelayError, type RelayErrorCode, StoreFileError } from '../errors.ts';
import { addsOptOut, NotOptedOut } from './not-opted-out.ts';
import type { Migrated } from './migrations.ts';
import type { SqliteStoreOptions } from './sqlite.ts';
import { toBuffers } from './thread-wire.ts';
import type { NewInbound, Store, StoreHealth } from './types.ts';

type Pending = { readonly resolve: (value: unknown) => void; readonly reject: (error: unknown) => void };
type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: { code?: RelayErrorCode; message: string; sqlite?: SqliteFailure } };
/** SQLite's own failure under a store failure, told across the thread (thread-server.ts). */
export type SqliteFailure = { readonly code: string; readonly message: string };
/** Told by the thread, between answers, when the store's health changes. */
type HealthNote = { health: StoreHealth };
export type Call = { readonly id: number; readonly method: string; readonly args: unknown[] };

/** The thread's failure as an Error with SQLite's code, as SQLite's own errors carry it (`code`), when it has one. */
function sqliteError(message: string, code: string | undefined): Error {
  return code === undefined ? new Error(message) : Object.assign(new Error(message), { code });
}

/**
 * The SQLite store on its own thread (see thread-server.ts), with the same interface: every method
 * is a message to the thread and a promise for its answer. A RelayError thrown there (the store is
 * unavailable) arrives here as the same RelayError. `onHealth` hears what SqliteStore.open's does,
 * and that the thread died; `onMigrated`, the schema the store was at and is at now. Calls made
 * during one turn of the event loop travel as one message, and the thread answers a turn's results
 * as one (a commit group's 250s together): a message costs a structured clone and a wake-up of the
 * other thread, whatever it carries.
 */
export async function openThreadedStore(
  options: SqliteStoreOptions,
  onHealth: (health: StoreHealth) => void = () => undefined,
  onMigrated: (migrated: Migrated) => void = () => undefined,
): Promise<Store> {
  // ESBUILD_WORKER_THREADS=0: the thread compiles its modules with esbuild's transformSync (thread.mjs), which
  // otherwise starts a worker thread of esbuild's own (an isolate, ~15-20 MB, #15) whenever a module is not in tsx's
  // cache — at every start under systemd's PrivateTmp. Without it each uncached module costs one esbuild process run.
  const env = { ...process.env, ESBUILD_WORKER_THREADS: '0' };
  const worker = new Worker(new URL('./thread.mjs', import.meta.url), { workerData: options, env });
  const pending = new Map<number, Pending>();
  let next = 0;
  let failure: Error | undefined;
  await new Promise<void>((resolve, reject) => {
    worker.once('message', (message: { ready: boolean; migrated?: Migrated; error?: { message: string; storeFile: boolean; sqlite?: SqliteFailure } }) => {
      if (message.migrated) onMigrated(message.migrated);
      if (message.ready) return resolve();
      void worker.terminate();
      const words = message.error?.message ?? 'the store thread did not start';
      reject(message.error?.storeFile ? new StoreFileError(words) : sqliteError(words, message.error?.sqlite?.code));
    });
    worker.once('error', reject);
  });
  worker.on('message', (message: { replies: Reply[] } | HealthNote) => {
    if ('health' in message) return onHealth(message.health);
    for (const reply of message.replies) {
      const waiting = pending.get(reply.id);
      if (!waiting) continue;
      pending.delete(reply.id);
      if (reply.ok) waiting.resolve(toBuffers(reply.value));
      else {
        const { code, message: words, sqlite } = reply.error;
        waiting.reject(
          code ? new RelayError(code, words, sqlite ? { cause: sqliteError(sqlite.message, sqlite.code) } : undefined) : sqliteError(words, sqlite?.code),
        );
      }
    }
  });
  // A thread that dies takes every answer with it: the callers get STORE_UNAVAILABLE, not a hang.
  worker.on('error', (error) => {
    failure = error;
    onHealth({ state: 'failing', reason: `the store thread failed (${error.message})`, code: 'STORE_UNAVAILABLE' });
    for (const waiting of pending.values())
      waiting.reject(new RelayError('STORE_UNAVAILABLE', `Temporary local problem: the store thread failed (${error.message})`));
    pending.clear();
  });
  let outbox: Call[] = [];
  const send = () => {
    const calls = outbox;
    outbox = [];
    worker.postMessage({ calls });
  };
  const call = (method: string, args: unknown[]) =>
    new Promise((resolve, reject) => {
      if (failure) return reject(new RelayError('STORE_UNAVAILABLE', `Temporary local problem: the store thread failed (${failure.message})`));
      const id = next++;
      pending.set(id, { resolve, reject });
      if (outbox.push({ id, method, args }) === 1) setImmediate(send);
    });
  const notOptedOut = new NotOptedOut();
  return new Proxy({} as Store, {
    get(_target, method) {
      if (typeof method !== 'string' || method === 'then') return undefined;
      if (method === 'isOptedOut') return (number: string) => notOptedOut.check(number, () => call(method, [number]) as Promise<boolean>);
      if (method === 'acceptInbound') {
        return (inbound: NewInbound) => (addsOptOut(inbound) ? notOptedOut.changing(() => call(method, [inbound])) : call(method, [inbound]));
      }
      if (method === 'recordOptOut') return (...args: unknown[]) => notOptedOut.changing(() => call(method, args));
      if (method === 'close') {
        return async () => {
          await call('close', []);
          await worker.terminate();
        };
      }
      return (...args: unknown[]) => call(method, args);
    },
  });
}
