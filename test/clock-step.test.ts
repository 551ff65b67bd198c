import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { ClockStepWatch } from '../src/clock-step.ts';
import { CLOCK_STEP_BACK_MS } from '../src/store/clock-step-types.ts';
import type { ClockStepStore, LongestWaits } from '../src/store/clock-step-types.ts';
import { SqliteStore } from '../src/store/sqlite.ts';
import type { Store } from '../src/store/types.ts';
import { captureLog } from './helpers/log-lines.ts';
import { mail, storeFile } from './helpers/store.ts';

/**
 * A wall clock stepped back (an NTP step, a VM restored from a snapshot) held every SMS retry stored before the
 * step for as long as the step, without a word (docs/delivery.md, "When the clock steps"). The watch compares the
 * injected wall clock with the injected monotonic one, over a real SQLite file: no waiting.
 */

const HOUR = 3_600_000;
const LONGEST: LongestWaits = { smsMs: 600_000, mailMs: 600_000, leaseMs: 60_000, probeMs: 600_000 };
const BASE = 1_800_000_000_000;

describe('clock step: the relay notices a backward step of its wall clock', () => {
  let store: Store;
  let wallShift: number;
  let monotonic: number;
  const wall = () => BASE + monotonic + wallShift;
  let log: ReturnType<typeof captureLog>;
  let kicks: number;
  let watch: ClockStepWatch | undefined;

  beforeEach(async () => {
    store = await SqliteStore.open({ file: storeFile(), busyTimeoutMs: 100 });
    wallShift = 0;
    monotonic = 0;
    log = captureLog('info');
    kicks = 0;
  });
  afterEach(async () => {
    await watch?.stop();
    await store.close();
  });

  const newWatch = () => new ClockStepWatch({ store, longest: LONGEST, logger: log.logger, wall, monotonic: () => monotonic, onRescheduled: () => kicks++ });
  /** A watch over a store that refuses every look while `failing()` says so. */
  const flakyWatch = (failing: () => boolean) => {
    const flaky: ClockStepStore = {
      rescheduleBeyond: async (...args) => {
        if (failing()) throw new Error('busy');
        return store.rescheduleBeyond(...args);
      },
    };
    return new ClockStepWatch({ store: flaky, longest: LONGEST, logger: log.logger, wall, monotonic: () => monotonic, onRescheduled: () => kicks++ });
  };
  /** An SMS deferred at the wall clock's now for `inMs`, as the dispatcher records a retry. */
  const retryIn = async (inMs: number) => {
    const now = wall();
    await store.acceptMail(mail(['+447700900001'], { receivedAt: now }));
    const [batch] = await store.claimDueSms({ owner: 'relay', now, leaseUntil: now + 60_000, maxBatches: 1, batchSize: 1 });
    const sms = batch?.sms[0];
    assert.ok(sms);
    await store.recordSmsOutcomes([{ smsId: sms.id, kind: 'retry', nextAttemptAt: now + inMs, error: 'ERR:GATEWAY_ERROR', attempted: true }], [], 'relay');
  };
  const claimable = async () => (await store.claimDueSms({ owner: 'relay', now: wall(), leaseUntil: wall() + 60_000, maxBatches: 5, batchSize: 5 })).length;
  const warnings = () => log.lines.map((line) => JSON.parse(line) as { level: string; msg: string }).filter((line) => line.level === 'warn');

  test('a step back says so once, with how far and what it does, and brings a retry it left an hour ahead an hour sooner', async () => {
    watch = newWatch();
    watch.start();
    await watch.look();
    await retryIn(30_000);
    // A slew within the threshold is no step, and adds up to none over many looks.
    for (let look = 0; look < 5; look++) {
      monotonic += 1_000;
      wallShift -= CLOCK_STEP_BACK_MS / 2;
      await watch.look();
    }
    assert.deepEqual(warnings(), [], 'no step yet');

    wallShift -= HOUR;
    await watch.look();
    const [line, ...more] = warnings();
    assert.deepEqual(more, []);
    assert.match(line?.msg ?? '', /^relay: the clock stepped back 3600\.0 s; every retry and probe set before it comes as much sooner \(never before now\)/);
    assert.equal(kicks, 1, 'the work loops look at once');
    assert.equal(await claimable(), 0, 'the retry is not due before its time');
    // 30 s after it was set (5 s of looks, 2.5 s of slew): due in 27.5 s, not in an hour.
    monotonic += 27_500;
    await watch.look();
    assert.equal(await claimable(), 1, 'the retry is due when it was meant, not an hour later');
    assert.equal(warnings().length, 1, 'said once');
  });

  test("a step back shorter than the longest wait brings the pause's probe and a hold as much sooner, not ten minutes on", async () => {
    watch = newWatch();
    // The start's look may still be in flight at the step: the look after it compares the clocks again.
    watch.start();
    await store.pauseAccount('intellisoftware', 'ERR:GATEWAY_DOWN: every host down', 60_000, wall());
    await retryIn(60_000);
    monotonic += 1_000;
    wallShift -= 9 * 60_000;
    await watch.look();
    const [pause] = (await store.gatewayState(wall())).pauses;
    const probeIn = (pause?.nextProbeAt ?? Infinity) - wall();
    assert.ok(probeIn <= 60_000, `the probe is ${probeIn / 1000} s away, not about 9 minutes more`);
    monotonic += 60_000;
    assert.equal(await claimable(), 1, 'the retry a minute off comes a minute after the step');
  });

  test('a relay started after a step makes the due times it left ahead due now, and says so', async () => {
    await retryIn(30_000);
    wallShift -= HOUR;
    assert.equal(await claimable(), 0);
    watch = newWatch();
    watch.start();
    await watch.look();
    assert.equal(await claimable(), 1);
    assert.match(
      warnings()[0]?.msg ?? '',
      /^relay: due times further ahead than any wait this relay schedules became due now \(a clock step back while it was down, a lowered retry or probe setting, or another relay whose clock is ahead\)/,
    );
  });

  test('the start does not wait for its first look (on a big scheduled queue it reads for seconds): the listeners bind meanwhile', async () => {
    await retryIn(30_000);
    wallShift -= HOUR;
    let answer: () => void = () => {};
    const answered = new Promise<void>((resolve) => (answer = resolve));
    // The store answers the first look only when the test says so.
    const slow: ClockStepStore = { rescheduleBeyond: async (...args) => answered.then(() => store.rescheduleBeyond(...args)) };
    watch = new ClockStepWatch({ store: slow, longest: LONGEST, logger: log.logger, wall, monotonic: () => monotonic, onRescheduled: () => kicks++ });
    const started = await Promise.race([Promise.resolve(watch.start()).then(() => 'started'), new Promise((resolve) => setTimeout(resolve, 1_000, 'held'))]);
    assert.equal(started, 'started');
    assert.equal(await claimable(), 0, 'not yet looked');
    answer();
    await watch.look();
    assert.equal(await claimable(), 1, 'the look, once the store answers, brings the retry back');
  });

  test('a step made while a look is in flight is seen by the next call, not left to the next timer', async () => {
    await store.pauseAccount('intellisoftware', 'ERR:GATEWAY_DOWN: every host down', 60_000, wall());
    let answer: () => void = () => {};
    const answered = new Promise<void>((resolve) => (answer = resolve));
    const slow: ClockStepStore = { rescheduleBeyond: async (...args) => answered.then(() => store.rescheduleBeyond(...args)) };
    watch = new ClockStepWatch({ store: slow, longest: LONGEST, logger: log.logger, wall, monotonic: () => monotonic, onRescheduled: () => kicks++ });
    watch.start();
    monotonic += 1_000;
    wallShift -= 9 * 60_000;
    const looked = watch.look();
    answer();
    await looked;
    const [pause] = (await store.gatewayState(wall())).pauses;
    const probeIn = (pause?.nextProbeAt ?? Infinity) - wall();
    assert.ok(probeIn <= 60_000, `the probe is ${probeIn / 1000} s away, not about 9 minutes more`);
    assert.equal(warnings().length, 1, 'the step said');
  });

  test('a retry set after the step, before the next look, keeps its time', async (t) => {
    // The store stamps a row's updated_at with Date.now, the relay's wall clock.
    t.mock.method(Date, 'now', wall);
    watch = newWatch();
    watch.start();
    await watch.look();
    monotonic += 1_000;
    wallShift -= HOUR;
    monotonic += 10;
    await retryIn(5 * 60_000);
    await watch.look();
    assert.equal(warnings().length, 1, 'the step said');
    assert.equal(await claimable(), 0, 'the retry set on the new clock 5 minutes off is not due now');
  });

  test('a retry set while the store refused the look after a step keeps its time; one set before comes the step sooner', async (t) => {
    // The store stamps a row's updated_at with Date.now, the relay's wall clock.
    t.mock.method(Date, 'now', wall);
    let failing = false;
    watch = flakyWatch(() => failing);
    watch.start();
    await watch.look();
    await retryIn(30_000);
    failing = true;
    monotonic += 1_000;
    wallShift -= HOUR;
    for (let look = 0; look < 60; look++) {
      monotonic += 1_000;
      await watch.look();
    }
    await retryIn(5 * 60_000);
    failing = false;
    monotonic += 1_000;
    await watch.look();
    assert.equal(await claimable(), 1, 'the retry set before the step is due, the one set after it is not');
  });

  test('a store that keeps refusing to bring the due times back is said at warn once, not only at debug', async (t) => {
    // The store stamps a row's updated_at with Date.now, the relay's wall clock.
    t.mock.method(Date, 'now', wall);
    let failing = true;
    watch = flakyWatch(() => failing);
    await retryIn(30_000);
    monotonic += 1_000;
    wallShift -= HOUR;
    for (let look = 0; look < 30; look++) {
      monotonic += 1_000;
      await watch.look();
    }
    const refused = () => warnings().filter((line) => line.msg.startsWith('relay: due times left ahead by a clock step could not be brought back now'));
    assert.equal(refused().length, 1, 'said once, however long it lasts');
    failing = false;
    monotonic += 1_000;
    await watch.look();
    assert.equal(await claimable(), 1, 'the retry, 30 s off before the step, is due once the store takes it');
    assert.equal(refused().length, 1);
  });

  test('a step forward says so once, at warn, with how far and what it does to the queue', async () => {
    watch = newWatch();
    watch.start();
    await watch.look();
    await retryIn(30_000);
    monotonic += 1_000;
    wallShift += 2 * 24 * HOUR;
    await watch.look();
    monotonic += 1_000;
    await watch.look();
    const [line, ...more] = warnings();
    assert.deepEqual(more, [], 'said once');
    assert.match(
      line?.msg ?? '',
      /^relay: the clock stepped forward 172800\.0 s \(or the machine was suspended: the monotonic clock does not count a suspend\); every queued mail is as much older: one accepted before it is bounced at delivery\.maxAge, and sent its delay notice at delivery\.delayNotice, that much sooner$/,
    );
    assert.equal(await claimable(), 1, 'the retry is due, as it was due sooner');
  });

  test('a step forward cancels a step back the store has not taken yet', async () => {
    let failing = false;
    watch = flakyWatch(() => failing);
    watch.start();
    await watch.look();
    await retryIn(5 * 60_000);
    failing = true;
    monotonic += 1_000;
    wallShift -= HOUR;
    await watch.look();
    // Stepped back to where it was: the retry lies 5 minutes ahead again, as meant.
    monotonic += 1_000;
    wallShift += HOUR;
    await watch.look();
    failing = false;
    monotonic += 1_000;
    await watch.look();
    assert.equal(await claimable(), 0, 'the retry is not due 5 minutes early');
    assert.equal(kicks, 0);
  });

  test("a start whose look failed, taken with a step's: what lay beyond the bounds is told at warn", async () => {
    await retryIn(30_000);
    // Set on a clock two hours ahead, as a step back while the relay was down leaves it.
    await store.acceptMail(mail(['+447700900002'], { receivedAt: wall() + 2 * HOUR }));
    let failing = true;
    watch = flakyWatch(() => failing);
    watch.start();
    await watch.look();
    failing = false;
    monotonic += 1_000;
    wallShift -= 60_000;
    await watch.look();
    assert.match(warnings().at(-1)?.msg ?? '', /^relay: due times further ahead than any wait this relay schedules became due now/);
  });

  test('a start with nothing ahead says nothing', async () => {
    await retryIn(30_000);
    watch = newWatch();
    watch.start();
    await watch.look();
    assert.deepEqual(log.lines, []);
    assert.equal(kicks, 0);
  });
});
