/**
 * The store's own thread: SQLite (better-sqlite3) is synchronous, and a durable commit waits for an
 * fsync. On the main thread that wait stops SMTP, HTTP and dispatch for every commit; here it stops
 * nothing but other writes, which group commit batches anyway. Serves SqliteStore's methods to
 * ThreadedStore over the worker's message port.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { RelayError, StoreFileError } from '../errors.ts';
import { SqliteStore, type SqliteStoreOptions } from './sqlite.ts';
import { toBuffers } from './thread-wire.ts';
import type { Call, SqliteFailure } from './threaded.ts';

/**
 * SQLite's own failure under one (its code, SQLITE_FULL, SQLITE_IOERR_…, and words): the relay's start tells a
 * full or failing disk from other failures by it (cli.ts), as the commands do with the store in their process.
 */
function sqliteFailure(error: unknown): SqliteFailure | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? { code, message: (error as Error).message } : undefined;
}

const port = parentPort;
if (!port) throw new Error('thread-server runs in a worker thread');

let store: SqliteStore;
try {
  store = SqliteStore.open(workerData as SqliteStoreOptions, (health) => port.postMessage({ health }));
  port.postMessage({ ready: true, migrated: store.migrated });
} catch (error) {
  // Said as a message, not thrown: a throw's 'error' event could reach the relay before this message and
  // arrive as a bare Error (its class lost), and a store file's one line would become a crash. The relay
  // ends this thread once it has read why.
  port.postMessage({
    ready: false,
    error: { message: error instanceof Error ? error.message : String(error), storeFile: error instanceof StoreFileError, sqlite: sqliteFailure(error) },
  });
}

type Reply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: { code: string | undefined; message: string; sqlite?: SqliteFailure | undefined } };
/** Answers of this turn, sent together (see ThreadedStore). */
let outbox: Reply[] = [];
const send = () => {
  const replies = outbox;
  outbox = [];
  if (replies.length === 0) return;
  try {
    port.postMessage({ replies });
  } catch {
    // A value that cannot be cloned fails its own call, not the others of its turn.
    for (const reply of replies) {
      try {
        port.postMessage({ replies: [reply] });
      } catch (error) {
        port.postMessage({
          replies: [{ id: reply.id, ok: false, error: { code: undefined, message: error instanceof Error ? error.message : String(error) } }],
        });
      }
    }
  }
};
const answer = (reply: Reply) => {
  if (outbox.push(reply) === 1) setImmediate(send);
};

const serve = async ({ id, method, args }: Call): Promise<void> => {
  try {
    const target = (store as unknown as Record<string, (...values: unknown[]) => Promise<unknown>>)[method];
    if (typeof target !== 'function') throw new Error(`the store has no method ${method}`);
    answer({ id, ok: true, value: await target.apply(store, toBuffers(args) as unknown[]) });
  } catch (error) {
    const code = error instanceof RelayError ? error.code : undefined;
    const message = error instanceof Error ? error.message : String(error);
    answer({ id, ok: false, error: { code, message, sqlite: sqliteFailure(error instanceof RelayError ? error.cause : error) } });
  }
  if (method === 'close') {
    send();
    port.close();
  }
};

port.on('message', ({ calls }: { calls: Call[] }) => {
  for (const call of calls) void serve(call);
});
