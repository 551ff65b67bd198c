/**
 * Running text code on a long input in a child process that is killed past a generous limit: a
 * regular expression that backtracks over a long run holds the thread for minutes, and node:test's
 * own timeout cannot stop synchronous code (the test would pass, minutes late).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

/** Far above the milliseconds the linear reading takes, far below the minutes a quadratic one takes. */
const LIMIT_MS = 60_000;

/** What `script` (an ES module run with tsx, which may import src/) prints; fails when it runs past LIMIT_MS. */
export function finishes(script: string): string {
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', script], { encoding: 'utf8', timeout: LIMIT_MS });
  assert.equal(child.signal, null, `still running after ${LIMIT_MS / 1000} s: a regular expression backtracks over the long input`);
  assert.equal(child.status, 0, child.stderr);
  return child.stdout;
}
