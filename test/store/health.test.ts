import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { RECOVERY_SETTLED_MS, StoreHealthMonitor } from '../../src/store/health.ts';
import { captureLog } from '../helpers/log-lines.ts';

test('an outage whose commits flip between failing and succeeding as the connections go is one "commits fail" line and, once over, one "succeed again"', async () => {
  const { logger, lines } = captureLog('info');
  const health = new StoreHealthMonitor(logger);
  const messages = () => lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
  // As a database goes away: each pooled connection fails in turn while a commit on one still open succeeds.
  for (let flip = 0; flip < 6; flip += 1) {
    health.update({ state: 'failing', reason: 'Connection terminated unexpectedly' });
    assert.equal(health.ok, false, 'not ready at once');
    health.update({ state: 'ok' });
    assert.equal(health.ok, true, 'ready again at once');
  }
  health.update({ state: 'failing', reason: 'connect ECONNREFUSED 127.0.0.1:5432' });
  await sleep(RECOVERY_SETTLED_MS * 1.5);
  assert.deepEqual(messages(), ['store: commits fail: not ready (mail 451, webhooks 503) until one succeeds'], 'one line while it lasts');
  health.update({ state: 'ok' });
  await sleep(RECOVERY_SETTLED_MS * 1.5);
  assert.deepEqual(messages(), ['store: commits fail: not ready (mail 451, webhooks 503) until one succeeds', 'store: commits succeed again: ready']);
  health.update({ state: 'failing', reason: 'connect ECONNREFUSED 127.0.0.1:5432' });
  assert.equal(messages().length, 3, 'the next outage is logged again');
});
