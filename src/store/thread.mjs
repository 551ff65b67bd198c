// The store's worker thread runs TypeScript like the rest of the relay, but through tsx's require hook, which compiles
// in this thread, not through its ESM loader: on Node 20 a thread that registers ESM hooks gets a hooks thread of its
// own (an isolate more, ~15-20 MB of RSS, #15), and the main thread's hooks do not reach a worker. The thread's modules
// (src/store's SQLite side and src/errors.ts, src/timers.ts, src/vocabulary.ts; node: built-ins and better-sqlite3)
// use neither a top-level await nor import() (scripts/architecture/store-thread.ts checks both), which a CommonJS
// module could not; tsx compiles import.meta for it.
// thread.tsconfig.json, beside this file, is named so that they are compiled as strict code, as ES modules are (tsx
// reads a tsconfig from the working directory otherwise, which a relay's is not). It is the thread's own, not the
// project's tsconfig.json, so that the relay needs no file from outside src/ to run, as the main thread needs none.
// Its include is all of src/ (../**/*), where the thread's modules are: tsx applies a tsconfig only to what it includes.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/cjs/api';

process.env.TSX_TSCONFIG_PATH = fileURLToPath(new URL('./thread.tsconfig.json', import.meta.url));
register();
createRequire(import.meta.url)('./thread-server.ts');
