import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RECOVERY_SETTLED_MS, StoreHealthMonitor } from '../../src/store/health.ts';
import type { Timers } from '../../src/timers.ts';
import { captureLog } from '../helpers/log-lines.ts';

/** A clock the test moves: timers due by then run, in order; a cleared one never does. */
function movedTimers() {
  let at = 0;
  type Timer = { readonly due: number; readonly run: () => void; readonly unref?: () => unknown };
  const pending = new Set<Timer>();
  const timers: Timers = {
    now: () => at,
    setTimeout: (run, ms) => {
      const timer: Timer = { due: at + ms, run };
      pending.add(timer);
      return timer;
    },
    clearTimeout: (timer) => pending.delete(timer as Timer),
  };
  const advance = (ms: number) => {
    at += ms;
    for (const timer of [...pending].sort((a, b) => a.due - b.due)) {
      if (timer.due > at) continue;
      pending.delete(timer);
      timer.run();
    }
  };
  return { timers, advance };
}

test('an outage whose commits flip between failing and succeeding as the connections go is one "commits fail" line and, once over, one "succeed again"', () => {
  const { logger, lines } = captureLog('info');
  const { timers, advance } = movedTimers();
  const health = new StoreHealthMonitor(logger, timers);
  const messages = () => lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
  // As a database goes away: each pooled connection fails in turn while a commit on one still open succeeds.
  for (let flip = 0; flip < 6; flip += 1) {
    health.update({ state: 'failing', reason: 'Connection terminated unexpectedly', code: 'STORE_UNAVAILABLE' });
    assert.equal(health.ok, false, 'not ready at once');
    health.update({ state: 'ok' });
    assert.equal(health.ok, true, 'ready again at once');
    advance(RECOVERY_SETTLED_MS / 10);
  }
  health.update({ state: 'failing', reason: 'connect ECONNREFUSED 127.0.0.1:5432', code: 'STORE_UNAVAILABLE' });
  advance(RECOVERY_SETTLED_MS * 1.5);
  assert.deepEqual(messages(), ['store: commits fail: not ready (mail 451 4.3.0, webhooks 503) until one succeeds'], 'one line while it lasts');
  health.update({ state: 'ok' });
  advance(RECOVERY_SETTLED_MS - 1);
  assert.equal(messages().length, 1, 'not over until commits kept succeeding for RECOVERY_SETTLED_MS');
  advance(1);
  assert.deepEqual(messages(), ['store: commits fail: not ready (mail 451 4.3.0, webhooks 503) until one succeeds', 'store: commits succeed again: ready']);
  health.update({ state: 'failing', reason: 'connect ECONNREFUSED 127.0.0.1:5432', code: 'STORE_UNAVAILABLE' });
  assert.equal(messages().length, 3, 'the next outage is logged again');
});

test('the "commits fail" line names the answers mail and webhooks get for that failure: 452 4.3.1 for a full disk, as the SMTP reply', () => {
  const { logger, lines } = captureLog('info');
  const health = new StoreHealthMonitor(logger, movedTimers().timers);
  health.update({ state: 'failing', reason: 'database or disk is full', code: 'DISK_FULL' });
  const [line] = lines.map((text) => JSON.parse(text) as { msg: string; code: string; reason: string });
  assert.equal(line?.msg, 'store: commits fail: not ready (mail 452 4.3.1, webhooks 503) until one succeeds');
  assert.deepEqual([line?.code, line?.reason], ['DISK_FULL', 'database or disk is full']);
});
