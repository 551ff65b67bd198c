#!/usr/bin/env node
// Runs every *.test.ts under test/ (subfolders too) with node:test through tsx.
// Node 20's `node --test` expands no globs, so the files are listed here.
// Extra arguments are passed to node (e.g. --test-name-pattern=kill).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { startThrowawayPostgres } from './throwaway-postgres.js';

/** Tests wait on sockets, child processes and fsync far more than on the CPU, so more files than cores run at once. */
const TEST_FILE_CONCURRENCY = 4;

function findTests(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return findTests(path);
    return entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

const args = process.argv.slice(2);
const explicit = args.filter((arg) => !arg.startsWith('-'));
const flags = args.filter((arg) => arg.startsWith('-'));
const files = explicit.length > 0 ? explicit : findTests('test').sort();
// One throwaway PostgreSQL for the whole run (each test makes its own database on it), unless the
// person running the tests named a server. When none can start, the PostgreSQL tests skip loudly,
// except under CI=true, where that is a failure.
let postgres;
if (!process.env.SMSRELAY_TEST_DATABASE_URL) {
  try {
    postgres = await startThrowawayPostgres();
    process.env.SMSRELAY_TEST_DATABASE_URL = postgres.url;
  } catch (error) {
    process.stderr.write(`\n*** NO POSTGRESQL FOR THE TESTS *** ${error.message}\n`);
    if (process.env.CI === 'true') process.exit(1);
    process.stderr.write('The PostgreSQL tests will skip (set SMSRELAY_TEST_DATABASE_URL to a server to run them).\n\n');
  }
}

const child = spawn(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${TEST_FILE_CONCURRENCY}`, ...flags, ...files], { stdio: 'inherit' });
child.on('exit', async (code, signal) => {
  await postgres?.destroy();
  process.exit(code ?? (signal ? 1 : 0));
});
