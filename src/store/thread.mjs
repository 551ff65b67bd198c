// The store's worker thread runs TypeScript like the rest of the relay, but through tsx's require hook, which compiles
// in this thread, not through its ESM loader: on Node 20 a thread that registers ESM hooks gets a hooks thread of its
// own (an isolate more, ~15-20 MB of RSS, #15), and the main thread's hooks do not reach a worker. The thread's modules
// (src/store's SQLite side and src/errors.ts, src/timers.ts, src/vocabulary.ts; node: built-ins and better-sqlite3)
// use neither import.meta nor a top-level await nor import(), which a CommonJS module could not.
// The project's tsconfig is named so that they are compiled as strict code, as ES modules are (tsx reads it from the
// working directory otherwise, which a relay's is not).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/cjs/api';

process.env.TSX_TSCONFIG_PATH = fileURLToPath(new URL('../../tsconfig.json', import.meta.url));
register();
createRequire(import.meta.url)('./thread-server.ts');
