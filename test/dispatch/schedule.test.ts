import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { deadline, nextStep, providerDelayMs, retryAfterMs, retryDelay, type RetryPolicy } from '../../src/dispatch/schedule.ts';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DEFAULTS: RetryPolicy = { minDelayMs: 5 * SECOND, maxDelayMs: 10 * MINUTE, maxAgeMs: 24 * HOUR };
/** Jitter pinned to its top (the full step) or bottom (half a step, never below the minimum). */
const top = () => 1;
const bottom = () => 0;

describe('retry schedule (fake clock)', () => {
  test('every step of the default schedule, from the first retry within seconds to the cap', () => {
    const receivedAt = Date.UTC(2026, 10, 23, 8, 0, 0);
    let now = receivedAt;
    const waits: number[] = [];
    for (let attempts = 1; attempts <= 12; attempts += 1) {
      const step = nextStep({ attempts, receivedAt, now }, DEFAULTS, top);
      assert.equal(step.kind, 'retry');
      if (step.kind !== 'retry') return;
      waits.push(step.at - now);
      now = step.at;
    }
    assert.deepEqual(
      waits.map((ms) => ms / SECOND),
      [10, 20, 40, 80, 160, 320, 600, 600, 600, 600, 600, 600],
    );
  });

  test('jitter keeps each wait between half and all of its step, and never below the configured minimum', () => {
    assert.equal(retryDelay(1, 5 * SECOND, 10 * MINUTE, bottom), 5 * SECOND);
    assert.equal(retryDelay(4, 5 * SECOND, 10 * MINUTE, bottom), 40 * SECOND);
    assert.equal(retryDelay(30, 5 * SECOND, 10 * MINUTE, bottom), 5 * MINUTE);
    for (let sample = 0; sample < 100; sample += 1) {
      const wait = retryDelay(3, 5 * SECOND, 10 * MINUTE);
      assert.ok(wait >= 20 * SECOND && wait <= 40 * SECOND, String(wait));
      const first = retryDelay(1, 2 * SECOND, 10 * MINUTE);
      assert.ok(first >= 2 * SECOND && first <= 4 * SECOND, `retryMinDelay 2s: ${first} ms`);
    }
    assert.equal(retryDelay(1, 2 * SECOND, 3 * SECOND, bottom), 2 * SECOND, 'a cap below twice the minimum still keeps the minimum');
  });

  test('an HTTP Retry-After, in seconds or as a date, is the wait from now, kept between retryMinDelay and retryMaxDelay', () => {
    const now = Date.UTC(2026, 10, 23, 8, 0, 0);
    assert.equal(retryAfterMs('30', now, DEFAULTS), 30 * SECOND);
    assert.equal(retryAfterMs(new Date(now + 90 * SECOND).toUTCString(), now, DEFAULTS), 90 * SECOND);
    assert.equal(retryAfterMs('0', now, DEFAULTS), 5 * SECOND, 'not below the minimum');
    assert.equal(retryAfterMs(new Date(now - MINUTE).toUTCString(), now, DEFAULTS), 5 * SECOND, 'a date past is the minimum');
    assert.equal(retryAfterMs('86400', now, DEFAULTS), DEFAULTS.maxDelayMs, 'a day is bounded by retryMaxDelay');
    const short = { ...DEFAULTS, minDelayMs: SECOND, maxDelayMs: 4 * SECOND, maxAgeMs: 2 * MINUTE };
    assert.equal(retryAfterMs('3600', now, short), 4 * SECOND, 'an hour asked for is asked again after retryMaxDelay, not at the end of the SMS life');
    assert.equal(retryAfterMs('soon', now, DEFAULTS), undefined);
  });

  test('the last retry is at the deadline, and at the deadline the SMS is given up (bounced)', () => {
    const receivedAt = 0;
    const almost = DEFAULTS.maxAgeMs - 2 * MINUTE;
    assert.deepEqual(nextStep({ attempts: 50, receivedAt, now: almost }, DEFAULTS, top), { kind: 'retry', at: deadline(receivedAt, DEFAULTS) });
    assert.deepEqual(nextStep({ attempts: 51, receivedAt, now: DEFAULTS.maxAgeMs }, DEFAULTS, top), { kind: 'expire' });
    assert.deepEqual(nextStep({ attempts: 51, receivedAt, now: DEFAULTS.maxAgeMs + 1 }, DEFAULTS, top), { kind: 'expire' });
  });

  test('the whole life of an SMS that never gets through in 24 h: 149 sends, then the bounce', () => {
    const receivedAt = 0;
    let now = receivedAt;
    let attempts = 0;
    for (;;) {
      attempts += 1;
      const step = nextStep({ attempts, receivedAt, now }, DEFAULTS, top);
      if (step.kind === 'expire') break;
      now = step.at;
    }
    assert.equal(now, DEFAULTS.maxAgeMs, 'given up exactly at the maximum age');
    // 6 growing waits (630 s), 142 capped 10-minute waits, one shortened to the deadline: 149 sends;
    // the 150th decision, at the deadline, gives up without sending.
    assert.equal(attempts, 150);
  });

  test('a provider- or pause-decided wait replaces the backoff, still capped by the deadline', () => {
    assert.deepEqual(nextStep({ attempts: 1, receivedAt: 0, now: 1000, waitMs: 2000 }, DEFAULTS, top), { kind: 'retry', at: 3000 });
    const late = DEFAULTS.maxAgeMs - 500;
    assert.deepEqual(nextStep({ attempts: 1, receivedAt: 0, now: late, waitMs: 60_000 }, DEFAULTS, top), { kind: 'retry', at: DEFAULTS.maxAgeMs });
  });

  test('DELAY:n is honoured up to 120 s; longer asks are probed again after 15 s (vendor SDK rule); kept between retryMinDelay and retryMaxDelay', () => {
    assert.equal(providerDelayMs(7, DEFAULTS), 7_000);
    assert.equal(providerDelayMs(120, DEFAULTS), 120_000);
    assert.equal(providerDelayMs(121, DEFAULTS), 15_000);
    assert.equal(providerDelayMs(120, { ...DEFAULTS, maxDelayMs: 4 * SECOND }), 4 * SECOND);
    assert.equal(providerDelayMs(0, DEFAULTS), 5 * SECOND, 'DELAY:0 is no licence to ask again at once');
    assert.equal(providerDelayMs(2, DEFAULTS), 5 * SECOND, 'not below the minimum');
  });
});
