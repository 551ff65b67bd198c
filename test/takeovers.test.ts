import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Takeovers } from '../src/takeovers.ts';
import { captureLog } from './helpers/log-lines.ts';

/**
 * The takeover line (src/takeovers.ts) gathers a heartbeat interval's claims. A relay stopping writes what it
 * gathered, and a claim still under way at the stop that resolves after it is logged at once: the process may
 * end before any timer. The line says when the takeover began (`since`), not when it was written.
 */

const LEASE_MS = 60_000;
const WORDS = { unit: 'mails', line: 'mailer: taking over mail' };
const FIRST_CLAIM_AT = Date.parse('2026-12-06T08:00:00.000Z');

const takeoverLines = (lines: readonly string[]) =>
  lines.map((line) => JSON.parse(line) as Record<string, unknown>).map((entry) => [entry.level, entry.mails, entry.from, entry.since]);

test('a stop writes what was gathered, dated by the first claim; a claim resolving after the stop is logged at once', async () => {
  const { logger, lines } = captureLog('debug');
  let now = FIRST_CLAIM_AT;
  const takeovers = new Takeovers({ logger, leaseMs: LEASE_MS, words: WORDS, clock: () => now });
  const from = (item: { readonly from?: string }) => item.from;

  takeovers.claimed([{ from: 'relay-a' }, {}], from);
  now += 15_000;
  takeovers.claimed([{ from: 'relay-c' }], from);
  assert.deepEqual(takeoverLines(lines), [], 'gathered for a heartbeat interval');
  takeovers.stop();
  assert.deepEqual(takeoverLines(lines), [['warn', 2, ['relay-a', 'relay-c'], '2026-12-06T08:00:00.000Z']]);

  // A claim under way when the loop stopped resolves now: no timer would outlive the process to write its line.
  now += 5_000;
  takeovers.claimed([{ from: 'relay-d' }, { from: 'relay-d' }], from);
  takeovers.claimed([{}], from);
  assert.deepEqual(takeoverLines(lines).slice(1), [['warn', 2, ['relay-d'], '2026-12-06T08:00:20.000Z']]);
});
