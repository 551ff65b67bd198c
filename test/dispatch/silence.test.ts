/**
 * GatewaySilence's warning counts what was in flight: a request whose own ending (the connection
 * lost, an SMSC unbinding with it unanswered) starts the episode is one of them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatewaySilence } from '../../src/dispatch/silence.ts';
import { captureLog } from '../helpers/log-lines.ts';

test('a request that ends unanswered before the threshold starts the episode and is counted in flight', () => {
  const { logger, lines } = captureLog('warn');
  const silence = new GatewaySilence(10_000, logger);
  const ended = silence.requested('smpp://127.0.0.1:2775', 1_000);
  ended('unanswered', 1_849);
  const warnings = lines.map((line) => JSON.parse(line)).filter((line) => /is not answering/.test(line.msg));
  assert.equal(warnings.length, 1);
  assert.deepEqual([warnings[0].inFlight, warnings[0].waitingMs], [1, 849]);
});

test('one ending unanswered beside another still waiting: both were in flight', () => {
  const { logger, lines } = captureLog('warn');
  const silence = new GatewaySilence(10_000, logger);
  silence.requested('smpp://127.0.0.1:2775', 0);
  const ended = silence.requested('smpp://127.0.0.1:2775', 500);
  ended('unanswered', 900);
  const [warning] = lines.map((line) => JSON.parse(line)).filter((line) => /is not answering/.test(line.msg));
  assert.deepEqual([warning?.inFlight, warning?.waitingMs], [2, 900]);
});
