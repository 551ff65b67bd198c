import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { ClockStepWatch } from '../../src/clock-step.ts';
import type { LongestWaits } from '../../src/store/clock-step-types.ts';
import type { Store } from '../../src/store/types.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { mail } from '../helpers/store.ts';
import { forEachStore } from '../helpers/stores.ts';

/**
 * A wall clock stepped back an hour leaves every due time stored before the step an hour further ahead than the
 * relay meant (docs/delivery.md, "When the clock steps"): Store.rescheduleBeyond brings back each one further
 * ahead than the longest wait of its kind, and no mail's own send time. Times are the real clock's: on PostgreSQL
 * leases and pauses are set by the database's.
 */

const HOUR = 3_600_000;
const LONGEST: LongestWaits = { smsMs: 600_000, mailMs: 600_000, leaseMs: 60_000, probeMs: 600_000 };
/** How far the database's clock and the test's may part while one test runs (round trips, a loaded machine). */
const SLACK_MS = 5_000;

forEachStore((kind) =>
  describe('store: due times a backward clock step left ahead', () => {
    let store: Store;
    beforeEach(async () => {
      store = await kind.fresh();
    });
    afterEach(async () => {
      await store.close();
    });

    test('a retry, a reply mail, a lease, a probe and a failed host beyond the longest wait of their kind come back; a send time and a near retry stay', async () => {
      const now = Date.now();
      // Scheduled before the step: a retry and a reply mail's retry an hour ahead of the stepped clock.
      const stepped = mail(['+447700900001'], { receivedAt: now - 60_000 });
      await store.acceptMail(stepped);
      const near = mail(['+447700900002'], { receivedAt: now - 60_000 });
      await store.acceptMail(near);
      const claimed = (await store.claimDueSms({ owner: 'relay-a', now, leaseUntil: now + 60_000, maxBatches: 5, batchSize: 5 })).flatMap((batch) => batch.sms);
      const [first, second] = [stepped, near].map((sent) => claimed.find((sms) => sms.number === sent.recipients[0]?.number));
      assert.ok(first && second);
      await store.recordSmsOutcomes(
        [
          { smsId: first.id, kind: 'retry', nextAttemptAt: now + HOUR, error: 'ERR:GATEWAY_ERROR', attempted: true },
          { smsId: second.id, kind: 'retry', nextAttemptAt: now + 60_000, error: 'ERR:GATEWAY_ERROR', attempted: true },
        ],
        [],
        'relay-a',
      );
      // The sender's own time, two hours ahead: the relay holds the SMS until then, whatever the clock did.
      const scheduled = mail(['+447700900003'], { receivedAt: now, sendAt: now + 2 * HOUR, holdUntilSendAt: true });
      await store.acceptMail(scheduled);
      // A lease taken before the step: an hour ahead.
      const leased = mail(['+447700900004'], { receivedAt: now });
      await store.acceptMail(leased);
      assert.equal((await store.claimDueSms({ owner: 'relay-b', now, leaseUntil: now + HOUR, maxBatches: 5, batchSize: 5 })).length, 1);
      await store.enqueueMail([{ kind: 'bounce', messageId: stepped.id, envelopeFrom: '', recipients: ['alice@example.com'], raw: Buffer.from('x') }]);
      // Queued on the store's own clock, a moment after `now`.
      const queuedAt = Date.now();
      const [reply] = await store.claimDueMail({ owner: 'relay-a', now: queuedAt, leaseUntil: queuedAt + 60_000, limit: 5 });
      assert.ok(reply);
      await store.recordMailOutcome({ id: reply.id, kind: 'retry', nextAttemptAt: now + HOUR, error: '421 4.3.2 down' }, 'relay-a');
      await store.pauseAccount('intellisoftware', 'ERR:GATEWAY_DOWN: every host down', HOUR, now);
      // A host marked failed before the step: an hour after the stepped clock's now.
      await store.markHostFailed('intellisoftware', 'https://primary.example', now + HOUR);
      await store.markHostFailed('intellisoftware', 'https://backup.example', now - 1_000);

      assert.deepEqual(await store.rescheduleBeyond(now, LONGEST, 0, 0), { sms: 1, mail: 1, leases: 1, probes: 1, hosts: 1 });

      const sms = await kind.rows('SELECT number, next_attempt_at AS due FROM outbound ORDER BY number');
      const due = new Map(sms.map((row) => [row.number, Number(row.due)]));
      assert.equal(due.get('+447700900001'), now, 'the retry is due now');
      assert.equal(due.get('+447700900002'), now + 60_000, 'a retry within the schedule keeps its time');
      assert.equal(due.get('+447700900003'), now + 2 * HOUR, "the sender's time stays");
      const leaseEnd = due.get('+447700900004') ?? 0;
      assert.ok(leaseEnd > now && leaseEnd <= now + LONGEST.leaseMs + SLACK_MS, `the lease ends a lease from now, not sooner (${leaseEnd - now} ms)`);
      const [mailRow] = await kind.rows(`SELECT next_attempt_at AS due FROM mail_out WHERE id = ${reply.id}`);
      assert.equal(Number(mailRow?.due), now, "the reply mail's retry is due now");
      const { pauses, failures } = await store.gatewayState(now);
      const [pause] = pauses;
      assert.ok(pause && pause.nextProbeAt <= now + SLACK_MS, `the probe is due now (${(pause?.nextProbeAt ?? 0) - now} ms ahead)`);
      const failedAt = new Map(failures.map((failure) => [failure.endpoint, failure.failedAt]));
      assert.ok((failedAt.get('https://primary.example') ?? Infinity) <= now + SLACK_MS, 'the host failed after now failed now: skipped one recovery time');
      assert.ok(Math.abs((failedAt.get('https://backup.example') ?? 0) - (now - 1_000)) <= SLACK_MS, 'a host failed before keeps its time');

      assert.deepEqual(await store.rescheduleBeyond(now, LONGEST, 0, 0), { sms: 0, mail: 0, leases: 0, probes: 0, hosts: 0 }, 'nothing further ahead now');
      const [again] = await store.claimDueSms({ owner: 'relay-a', now, leaseUntil: now + 60_000, maxBatches: 5, batchSize: 5 });
      assert.deepEqual(
        again?.sms.map((entry) => entry.number),
        ['+447700900001'],
        'the claim takes the retry at once',
      );
    });

    test('never-tried SMS left ahead come back: one held behind a pause (no attempt, no send time) and one accepted and not yet claimed', async () => {
      const now = Date.now();
      const held = mail(['+447700900001'], { receivedAt: now - 60_000 });
      await store.acceptMail(held);
      const [batch] = await store.claimDueSms({ owner: 'relay-a', now, leaseUntil: now + 60_000, maxBatches: 5, batchSize: 5 });
      const sms = batch?.sms[0];
      assert.ok(sms);
      // Held behind a paused provider: no request, so no attempt; due at the probe, an hour ahead after the step.
      await store.recordSmsOutcomes([{ smsId: sms.id, kind: 'retry', nextAttemptAt: now + HOUR, error: 'ERR:GATEWAY_DOWN', attempted: false }], [], 'relay-a');
      // Accepted just before the step, on the clock an hour ahead: due at its arrival.
      await store.acceptMail(mail(['+447700900002'], { receivedAt: now + HOUR }));
      // A mail held for its own send time, an hour ahead, stays held.
      await store.acceptMail(mail(['+447700900003'], { receivedAt: now, sendAt: now + HOUR, holdUntilSendAt: true }));

      assert.equal((await store.rescheduleBeyond(now, LONGEST, 0, 0)).sms, 2);
      const rows = await kind.rows('SELECT number, attempts, next_attempt_at AS due FROM outbound ORDER BY number');
      assert.deepEqual(
        rows.map((row) => [row.number, Number(row.attempts), Number(row.due) - now]),
        [
          ['+447700900001', 0, 0],
          ['+447700900002', 0, 0],
          ['+447700900003', 0, HOUR],
        ],
      );
    });

    test('a step of known size brings every retry and hold set before it as much sooner, never before now, and no send time', async () => {
      const now = Date.now();
      const step = 9 * 60_000;
      const numbers = ['+447700900001', '+447700900002', '+447700900003'];
      const mails = numbers.map((number) => mail([number], { receivedAt: now - 60_000 }));
      for (const accepted of mails) await store.acceptMail(accepted);
      const claimed = (await store.claimDueSms({ owner: 'relay-a', now, leaseUntil: now + 60_000, maxBatches: 5, batchSize: 5 })).flatMap((batch) => batch.sms);
      const id = (number: string) => claimed.find((sms) => sms.number === number)?.id ?? -1;
      // Set on the clock 9 minutes ahead: a hold a minute off, a retry 5 minutes off, a retry 5 minutes off set earlier.
      await store.recordSmsOutcomes(
        [
          { smsId: id('+447700900001'), kind: 'retry', nextAttemptAt: now + step + 60_000, error: 'ERR:GATEWAY_DOWN', attempted: false },
          { smsId: id('+447700900002'), kind: 'retry', nextAttemptAt: now + step + 300_000, error: 'ERR:GATEWAY_ERROR', attempted: true },
          { smsId: id('+447700900003'), kind: 'retry', nextAttemptAt: now + 300_000, error: 'ERR:GATEWAY_ERROR', attempted: true },
        ],
        [],
        'relay-a',
      );
      await store.acceptMail(mail(['+447700900004'], { receivedAt: now, sendAt: now + step + 60_000, holdUntilSendAt: true }));
      await store.enqueueMail([{ kind: 'bounce', messageId: mails[0]?.id ?? '', envelopeFrom: '', recipients: ['alice@example.com'], raw: Buffer.from('x') }]);
      const queuedAt = Date.now();
      const [reply] = await store.claimDueMail({ owner: 'relay-a', now: queuedAt, leaseUntil: queuedAt + 60_000, limit: 5 });
      assert.ok(reply);
      await store.recordMailOutcome({ id: reply.id, kind: 'retry', nextAttemptAt: now + step + 120_000, error: '421 4.3.2 down' }, 'relay-a');

      // Every row was set before the step: none from `setSince` to now.
      const got = await store.rescheduleBeyond(now, LONGEST, step, now + 1);
      assert.deepEqual([got.sms, got.mail], [3, 1]);
      const rows = await kind.rows('SELECT number, next_attempt_at AS due FROM outbound ORDER BY number');
      assert.deepEqual(
        rows.map((row) => [row.number, Number(row.due) - now]),
        [
          ['+447700900001', 60_000],
          ['+447700900002', 300_000],
          ['+447700900003', 0],
          ['+447700900004', step + 60_000],
        ],
        'each as much sooner as the step, never before now; the send time stays',
      );
      const [mailRow] = await kind.rows(`SELECT next_attempt_at AS due FROM mail_out WHERE id = ${reply.id}`);
      assert.equal(Number(mailRow?.due) - now, 120_000, "the reply mail's retry too");
    });

    test('a retry set after the step, on the new clock, keeps its time', async () => {
      const setSince = Date.now() - 1;
      const accepted = mail(['+447700900001'], { receivedAt: setSince });
      await store.acceptMail(accepted);
      const [batch] = await store.claimDueSms({ owner: 'relay-a', now: Date.now(), leaseUntil: Date.now() + 60_000, maxBatches: 1, batchSize: 1 });
      const sms = batch?.sms[0];
      assert.ok(sms);
      await store.recordSmsOutcomes(
        [{ smsId: sms.id, kind: 'retry', nextAttemptAt: setSince + 300_000, error: 'ERR:GATEWAY_ERROR', attempted: true }],
        [],
        'relay-a',
      );
      await store.enqueueMail([{ kind: 'bounce', messageId: accepted.id, envelopeFrom: '', recipients: ['alice@example.com'], raw: Buffer.from('x') }]);
      const [reply] = await store.claimDueMail({ owner: 'relay-a', now: Date.now(), leaseUntil: Date.now() + 60_000, limit: 5 });
      assert.ok(reply);
      await store.recordMailOutcome({ id: reply.id, kind: 'retry', nextAttemptAt: setSince + 300_000, error: '421 4.3.2 down' }, 'relay-a');
      // Both stored between `setSince` and now.
      const now = Date.now() + 1;
      const got = await store.rescheduleBeyond(now, LONGEST, HOUR, setSince);
      assert.deepEqual([got.sms, got.mail], [0, 0]);
      const [row] = await kind.rows('SELECT next_attempt_at AS due FROM outbound');
      assert.equal(Number(row?.due), setSince + 300_000);
    });

    test('the watch on a monotonic clock with fractions of a ms (performance.now) brings a retry the step sooner: every stored time whole ms', async () => {
      const start = Date.now();
      // Whole ms on the wall clock, as Date.now; fractions on the monotonic one, as performance.now.
      let monotonic = 0.3719;
      let shift = 0;
      const wall = () => start + Math.floor(monotonic) + shift;
      const log = captureLog('debug');
      const watch = new ClockStepWatch({ store, longest: LONGEST, logger: log.logger, wall, monotonic: () => monotonic, onRescheduled: () => {} });
      await watch.look();
      const accepted = mail(['+447700900001'], { receivedAt: wall() });
      await store.acceptMail(accepted);
      const [batch] = await store.claimDueSms({ owner: 'relay-a', now: wall(), leaseUntil: wall() + 60_000, maxBatches: 1, batchSize: 1 });
      const sms = batch?.sms[0];
      assert.ok(sms);
      const meant = wall() + 300_000;
      await store.recordSmsOutcomes([{ smsId: sms.id, kind: 'retry', nextAttemptAt: meant, error: 'ERR:GATEWAY_ERROR', attempted: true }], [], 'relay-a');

      const step = 120_000;
      monotonic += 1_000.4567;
      shift -= step;
      await watch.look();
      const [row] = await kind.rows('SELECT next_attempt_at AS due FROM outbound');
      const due = Number(row?.due);
      assert.ok(Number.isInteger(due), `a whole ms (${due})`);
      assert.ok(Math.abs(due - (meant - step)) <= 1, `the retry came the step sooner: ${(meant - due) / 1000} s, not ${step / 1000} s`);
      const failed = log.lines.filter((line) => line.includes('could not be brought back'));
      assert.deepEqual(failed, [], 'the store took it at the first look');
    });

    // PostgreSQL's own: its pauses follow the database's clock (SQLite's, the relay's, has no offset to measure), so only there.
    if (kind.name === 'PostgreSQL')
      test("PostgreSQL: a relay whose clock stepped back reads a pause's probe in its new clock at once, not an hour late", async (t) => {
        const now = Date.now();
        await store.pauseAccount('intellisoftware', 'ERR:GATEWAY_DOWN: every host down', 30_000, now);
        const [before] = (await store.gatewayState(now)).pauses;
        assert.ok(before && Math.abs(before.nextProbeAt - (now + 30_000)) < SLACK_MS);
        // The relay's wall clock steps back an hour (its monotonic clock does not): the database's stays.
        const wall = Date.now;
        t.mock.method(Date, 'now', () => wall() - HOUR);
        const stepped = Date.now();
        const [after] = (await store.gatewayState(stepped)).pauses;
        assert.ok(after, 'still paused');
        const ahead = after.nextProbeAt - stepped;
        assert.ok(ahead <= 30_000 + SLACK_MS, `the probe is ${Math.round(ahead / 1000)} s ahead in the stepped clock, not 30 s`);
      });
  }),
);
