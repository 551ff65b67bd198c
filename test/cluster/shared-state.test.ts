import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { ProviderPause } from '../../src/dispatch/pause.ts';
import { RATE_DAY_MS, RATE_MINUTE_MS } from '../../src/store/shared-state-types.ts';
import type { Store } from '../../src/store/types.ts';
import { forEachStore } from '../helpers/stores.ts';

const HOUR_MS = 60 * RATE_MINUTE_MS;
/**
 * PostgreSQL keeps the database's time, given back in the caller's clock: off by the real time the
 * calls took (milliseconds, more on a loaded machine), so times are compared to within this.
 */
const SLACK_MS = 1_500;
/** Reads of one pause: enough that reads converted each with its own round trip differ at least once. */
const READS = 50;
/** `gateway.failoverRecovery`'s default. */
const RECOVERY_MS = 300_000;

/** Each time field within SLACK_MS of the expected one, every other field equal. */
function assertTimes<T extends object>(actual: readonly T[], expected: readonly T[]): void {
  assert.equal(actual.length, expected.length, JSON.stringify(actual));
  for (const [index, row] of actual.entries()) {
    const want = expected[index] as Record<string, unknown>;
    for (const [key, value] of Object.entries(row)) {
      if (typeof value === 'number' && key !== 'reason')
        assert.ok(Math.abs(value - (want[key] as number)) < SLACK_MS, `${key}: ${value} ≉ ${String(want[key])}`);
      else assert.equal(value, want[key], key);
    }
    assert.deepEqual(Object.keys(row).sort(), Object.keys(want).sort());
  }
}

forEachStore((kind) => {
  const open: Store[] = [];
  after(async () => {
    for (const store of open.splice(0)) await store.close();
  });
  const fresh = async () => {
    const store = await kind.fresh();
    open.push(store);
    return store;
  };
  // The caller's clock, far from the real one: every window must follow it on both stores.
  const start = Date.now() + 3 * RATE_DAY_MS;

  test(`${kind.name}: a daily limit counts every mail taken, refuses the one over it, and a released mail frees its place`, async () => {
    const store = await fresh();
    const limits = { perDay: 3 };
    const ids: number[] = [];
    for (const offset of [0, 2 * HOUR_MS, 4 * HOUR_MS]) {
      const taken = await store.takeRate('account:ops', limits, 1, start + offset);
      assert.ok(taken.taken, 'under the limit');
      ids.push(taken.id);
    }
    const refused = await store.takeRate('account:ops', limits, 1, start + 5 * HOUR_MS);
    assert.deepEqual(refused, { taken: false, exceeded: 'perDay', counts: { lastMinute: 0, today: 3, partsToday: 3 } });
    assert.ok((await store.takeRate('account:other', limits, 1, start + 5 * HOUR_MS)).taken, 'another principal counts apart');
    await store.releaseRate(ids[2] ?? 0);
    assert.ok((await store.takeRate('account:ops', limits, 1, start + 5 * HOUR_MS)).taken, 'the released mail no longer counts');
    assert.equal((await store.takeRate('account:ops', limits, 1, start + 5 * HOUR_MS)).taken, false);
    // A day after the first mail, its place is free again (a sliding window).
    assert.ok((await store.takeRate('account:ops', limits, 1, start + RATE_DAY_MS + SLACK_MS)).taken, 'the first mail left the window');
  });

  test(`${kind.name}: a minute limit and a parts budget, each by its own window`, async () => {
    const store = await fresh();
    const limits = { perMinute: 2, dailyParts: 10 };
    assert.ok((await store.takeRate('network:lab', limits, 4, start)).taken);
    assert.ok((await store.takeRate('network:lab', limits, 4, start + 1_000)).taken);
    const minute = await store.takeRate('network:lab', limits, 1, start + 2_000);
    assert.equal(minute.taken || minute.exceeded, 'perMinute');
    const parts = await store.takeRate('network:lab', limits, 3, start + RATE_MINUTE_MS + 2_000);
    assert.deepEqual(parts, { taken: false, exceeded: 'dailyParts', counts: { lastMinute: 0, today: 2, partsToday: 8 } });
    assert.ok((await store.takeRate('network:lab', limits, 2, start + RATE_MINUTE_MS + 2_000)).taken, 'two parts still fit the budget');
  });

  test(`${kind.name}: mails taken at once by many callers never exceed the limit`, async () => {
    const store = await fresh();
    const results = await Promise.all(Array.from({ length: 12 }, () => store.takeRate('account:burst', { perDay: 5 }, 1, start)));
    assert.equal(results.filter((result) => result.taken).length, 5);
  });

  test(`${kind.name}: failed logins count per client within the window, and a success forgets those naming its account only`, async () => {
    const store = await fresh();
    const window = 15 * RATE_MINUTE_MS;
    assert.equal(await store.addAuthFailure('192.0.2.7', 'erp', window, start), 1);
    assert.equal(await store.addAuthFailure('192.0.2.7', 'erp', window, start + 5_000), 2);
    assert.equal(await store.addAuthFailure('192.0.2.8', 'erp', window, start + 1_000), 1);
    assert.equal(await store.authFailures('192.0.2.7', window, start + 6_000), 2);
    assert.equal(await store.authFailures('192.0.2.7', window, start + window + SLACK_MS), 1, 'the first left the window');
    await store.addAuthFailure('192.0.2.7', 'other', window, start + 5_500);
    assert.equal(await store.authFailures('192.0.2.7', window, start + 6_000), 3, "a client's failures count together, whatever account they named");
    await store.clearAuthFailures('192.0.2.7', 'erp');
    assert.equal(await store.authFailures('192.0.2.7', window, start + 6_000), 1, "a success to erp forgets erp's failures, not those naming another account");
    await store.clearAuthFailures('192.0.2.7', 'other');
    assert.equal(await store.authFailures('192.0.2.7', window, start + 6_000), 0);
    assert.equal(await store.authFailures('192.0.2.8', window, start + 2_000), 1, 'another client keeps its failures');
  });

  test(`${kind.name}: housekeeping prunes counted mails and failed logins older than a day`, async () => {
    const store = await fresh();
    await store.takeRate('account:ops', { perDay: 100 }, 1, start);
    await store.addAuthFailure('192.0.2.7', 'erp', HOUR_MS, start);
    await store.takeRate('account:ops', { perDay: 100 }, 1, start + HOUR_MS);
    assert.equal(await store.pruneSharedState(start + RATE_DAY_MS + SLACK_MS, RECOVERY_MS), 2);
    assert.equal(await store.pruneSharedState(start + RATE_DAY_MS + SLACK_MS, RECOVERY_MS), 0);
    const counts = await store.takeRate('account:ops', { perDay: 1 }, 1, start + RATE_DAY_MS + SLACK_MS);
    assert.equal(counts.taken || counts.counts.today, 1, 'the newer mail is kept');
  });

  test(`${kind.name}: an account pause starts once, its probe is taken by one caller, and resuming ends it once`, async () => {
    const store = await fresh();
    assert.deepEqual(await store.pauseAccount('vonage', 'LOGIN: refused', 60_000, start), { starts: true, changes: true });
    assert.deepEqual(await store.pauseAccount('vonage', 'LOGIN: refused', 60_000, start + 1_000), { starts: false, changes: false }, 'a probe refused alike');
    assert.deepEqual(await store.pauseAccount('vonage', 'CREDIT: none left', 60_000, start + 5_000), { starts: false, changes: true });
    const { pauses } = await store.gatewayState(start + 5_000);
    assertTimes(pauses, [{ provider: 'vonage', reason: 'CREDIT: none left', since: start, nextProbeAt: start + 65_000 }]);
    assert.equal(await store.claimProbe('vonage', 60_000, start + 63_000), 'wait', 'not due yet');
    const claims = await Promise.all([
      store.claimProbe('vonage', 60_000, start + 65_000 + SLACK_MS),
      store.claimProbe('vonage', 60_000, start + 65_000 + SLACK_MS),
    ]);
    assert.deepEqual(claims.sort(), ['probe', 'wait'], 'one caller probes');
    await store.releaseProbe('vonage', start + 66_000);
    assert.equal(await store.claimProbe('vonage', 60_000, start + 66_000 + SLACK_MS), 'probe', 'a released probe may go at once');
    assertTimes([(await store.resumeAccount('vonage', start + 70_000)) ?? { reason: 'none', since: 0 }], [{ reason: 'CREDIT: none left', since: start }]);
    assert.equal(await store.resumeAccount('vonage', start + 70_000), undefined, 'ended once');
    assert.equal(await store.claimProbe('vonage', 60_000, start + 70_000), 'not-paused');
    assert.deepEqual((await store.gatewayState(start + 70_000)).pauses, []);
  });

  test(`${kind.name}: one pause has one since, read after read and when it ends (findings/cluster.md 3)`, async () => {
    const store = await fresh();
    await store.pauseAccount('vonage', 'LOGIN: refused', 60_000, start);
    // Each read its own round trip: a conversion per read showed each a few milliseconds apart.
    const seen = new Set<number>();
    for (let read = 0; read < READS; read++) for (const pause of (await store.gatewayState(start + read)).pauses) seen.add(pause.since);
    assert.equal(seen.size, 1, [...seen].join(', '));
    const [since] = seen;
    assert.ok(Math.abs((since ?? 0) - start) < SLACK_MS, `${since} ≉ ${start}`);
    assert.equal((await store.resumeAccount('vonage', start + READS))?.since, since);
  });

  test(`${kind.name}: a relay that had an answer after another relay paused the provider ends that pause when it reads it (findings/cluster.md 2)`, async () => {
    const store = await fresh();
    const ignore = () => undefined;
    const relays = [1, 2, 3, 4, 5, 6].map(() => new ProviderPause('vonage', 60_000, store, ignore));
    const [pausing, answering, answeredBefore, sentBefore, notedAtOnce, notedSentBefore] = relays as [
      ProviderPause,
      ProviderPause,
      ProviderPause,
      ProviderPause,
      ProviderPause,
      ProviderPause,
    ];
    // One relay had its answer before the pause began; one sent before it and had its answer after (a slow
    // gateway); one sent after it (it had not read the pause yet).
    await answeredBefore.answered(start - 5_000);
    await pausing.refused('RESPONSE_TIMEOUT: no answer', start);
    await sentBefore.answered(start + 5_000, undefined, start - 5_000);
    await answering.answered(start + 5_000);
    // The dispatcher's way for a relay that knows of no pause (no promise): the same as `answered`.
    assert.equal(notedAtOnce.noteAnswerIfClear(start + 5_000), true);
    assert.equal(notedSentBefore.noteAnswerIfClear(start - 5_000), true);
    for (const pause of [answering, answeredBefore, sentBefore, notedAtOnce, notedSentBefore]) {
      pause.load((await store.gatewayState(start + 6_000)).pauses[0], pause.mark);
    }
    assert.equal(answeredBefore.outlived, false, 'an answer before the pause proves nothing');
    assert.equal(sentBefore.outlived, false, 'nor one to a request sent before it');
    assert.equal(notedSentBefore.outlived, false);
    assert.equal(answering.outlived, true);
    assert.equal(notedAtOnce.outlived, true);
    // Once it knows of the pause, it is `answered`'s to end it.
    assert.equal(notedAtOnce.noteAnswerIfClear(start + 6_000), false);
    assertTimes([(await answering.answered(start + 6_000)) ?? { reason: 'none', since: 0 }], [{ reason: 'RESPONSE_TIMEOUT: no answer', since: start }]);
    assert.deepEqual((await store.gatewayState(start + 6_000)).pauses, [], 'ended for every relay');
  });

  test(`${kind.name}: failed gateway hosts are kept per provider and host until they work again`, async () => {
    const store = await fresh();
    await store.markHostFailed('intellisms', 'https://primary.example', start);
    await store.markHostFailed('intellisms', 'https://primary.example', start + 1_000);
    await store.markHostFailed('vonage', 'https://rest.example', start + 2_000);
    const { failures } = await store.gatewayState(start + 3_000);
    assertTimes(
      [...failures].sort((a, b) => a.provider.localeCompare(b.provider)),
      [
        { provider: 'intellisms', endpoint: 'https://primary.example', failedAt: start + 1_000 },
        { provider: 'vonage', endpoint: 'https://rest.example', failedAt: start + 2_000 },
      ],
    );
    await store.markHostWorking('intellisms', 'https://primary.example');
    assertTimes((await store.gatewayState(start + 3_000)).failures, [{ provider: 'vonage', endpoint: 'https://rest.example', failedAt: start + 2_000 }]);
  });

  test(`${kind.name}: a failed host is forgotten past a day and gateway.failoverRecovery, whatever its key: one no longer configured, or an older relay's`, async () => {
    const store = await fresh();
    await store.markHostFailed('intellisms', 'https://gone.example/?key=***', start);
    await store.markHostFailed('intellisms', 'sha256:aa', start + HOUR_MS);
    const later = start + RATE_DAY_MS + SLACK_MS;
    assert.equal(await store.pruneSharedState(later, 2 * RATE_DAY_MS), 0, 'kept while failoverRecovery is longer than a day');
    assert.equal(await store.pruneSharedState(later, RECOVERY_MS), 1);
    assertTimes((await store.gatewayState(later)).failures, [{ provider: 'intellisms', endpoint: 'sha256:aa', failedAt: start + HOUR_MS }]);
  });

  test(`${kind.name}: the shared state survives a restart`, async () => {
    const store = await fresh();
    await store.pauseAccount('vonage', 'LOGIN: refused', 60_000, start);
    await store.takeRate('account:ops', { perDay: 1 }, 1, start);
    await store.close();
    open.splice(open.indexOf(store), 1);
    const again = await kind.reopen();
    open.push(again);
    assert.equal((await again.gatewayState(start)).pauses.length, 1);
    assert.equal((await again.takeRate('account:ops', { perDay: 1 }, 1, start + 1_000)).taken, false);
  });
});
