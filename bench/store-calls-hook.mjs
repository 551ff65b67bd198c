// Preloaded into a relay by bench/store-calls.ts (node --import): counts what its main thread and its
// SQLite store thread tell each other (src/store/threaded.ts: a message per turn of the event loop each
// way, carrying that turn's calls or answers) and the calls by method, and writes the counts as JSON to
// STORE_CALLS_FILE every STORE_CALLS_WRITE_MS. Only the bench loads it; the relay has no such code.
import { renameSync, writeFileSync } from 'node:fs';
import { isMainThread, Worker } from 'node:worker_threads';

/** Often enough for a run that waits this long after its last SMS to read counts that include it. */
const STORE_CALLS_WRITE_MS = 200;

const file = process.env.STORE_CALLS_FILE;
if (isMainThread && file) {
  const counts = { toStore: 0, fromStore: 0, calls: {} };
  const post = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (message, ...rest) {
    if (Array.isArray(message?.calls)) {
      counts.toStore++;
      for (const { method } of message.calls) counts.calls[method] = (counts.calls[method] ?? 0) + 1;
    }
    return post.call(this, message, ...rest);
  };
  const emit = Worker.prototype.emit;
  Worker.prototype.emit = function (name, message, ...rest) {
    if (name === 'message' && Array.isArray(message?.replies)) counts.fromStore++;
    return emit.call(this, name, message, ...rest);
  };
  // Written whole, then renamed: the bench never reads half a file.
  setInterval(() => {
    writeFileSync(`${file}.partial`, JSON.stringify(counts));
    renameSync(`${file}.partial`, file);
  }, STORE_CALLS_WRITE_MS).unref();
}
