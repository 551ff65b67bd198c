import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { resubmissionOf } from '../../src/acceptance/resubmission-fingerprint.ts';
import { BeingSent, history, LISTED, NotFound, quarantine, queue, queueAction, status } from '../../src/admin.ts';
import { RelayError } from '../../src/errors.ts';
import { NEVER_TRIED_HEAD_START_MS } from '../../src/store/rows.ts';
import type { Resubmission, Store } from '../../src/store/types.ts';
import { mail } from '../helpers/store.ts';
import { forEachStore } from '../helpers/stores.ts';

const numbers = (count: number, from = 100): string[] => Array.from({ length: count }, (_, index) => `+447700900${from + index}`);
/** A lease that ends within the test: long enough for the actions on it while it runs, on a loaded machine too. */
const LEASE_MS = 3_000;
const claim = (store: Store, maxBatches: number, batchSize: number, now = 2_000, owner = 'test', leaseMs = 60_000) =>
  store.claimDueSms({ owner, now, leaseUntil: now + leaseMs, maxBatches, batchSize });

/** The store contract (src/store/types.ts), the same tests on SQLite and on PostgreSQL. */
forEachStore((kind) =>
  describe('store contract', () => {
    let store: Store;
    beforeEach(async () => {
      store = await kind.fresh();
    });

    test('an accepted mail survives closing and reopening, one SMS job per number', async () => {
      await store.acceptMail(mail(['+447700900123', '+447700900124']));
      await store.close();
      store = await kind.reopen();
      const batches = await claim(store, 10, 100);
      assert.equal(batches.length, 1);
      assert.deepEqual(
        batches[0]?.sms.map((sms) => sms.number),
        ['+447700900123', '+447700900124'],
      );
      assert.equal(batches[0]?.message.subject, 'Server down');
      await store.close();
    });

    test('an SMS whose lease ended with no outcome is claimed again naming the relay that held it (a possible duplicate)', async () => {
      await store.acceptMail(mail(['+447700900125']));
      const now = Date.now();
      const [first] = await claim(store, 1, 1, now, 'relay-a', 1);
      assert.equal(first?.sms[0]?.takenOverFrom, undefined, 'a first claim takes over nothing');
      await new Promise((resolve) => setTimeout(resolve, 20));
      const [again] = await claim(store, 1, 1, Date.now(), 'relay-b');
      assert.equal(again?.sms[0]?.id, first?.sms[0]?.id);
      assert.equal(again?.sms[0]?.takenOverFrom, 'relay-a');
      await store.close();
    });

    test('a count taken for a mail is given back in the commit that stores it as a resubmission, kept for a new mail', async () => {
      const limits = { perMinute: undefined, perDay: 2, dailyParts: undefined };
      const take = async () => {
        const taken = await store.takeRate('network:resend', limits, 1, Date.now());
        assert.ok(taken.taken, 'the count is taken');
        return taken.id;
      };
      const fingerprint = { messageIdHeader: '<counted@example.com>', resubmission: { fingerprint: 'counted mail', since: 0 } };
      const first = mail(['+447700900611'], fingerprint);
      assert.equal((await store.acceptMail(first, [], { rateTicket: await take() })).duplicateOf, undefined);
      const again = mail(['+447700900611'], fingerprint);
      assert.equal((await store.acceptMail(again, [], { rateTicket: await take() })).duplicateOf, first.id);
      // Given back with no releaseRate: the day has room for one more, and only one.
      await take();
      assert.equal((await store.takeRate('network:resend', limits, 1, Date.now())).taken, false);
      await store.close();
    });

    test("a mail's numbers refused at acceptance are failed SMS with their reason, their bounce queued in its transaction; a resubmission stores neither", async () => {
      const refused = [{ number: '+447700900603', rcpt: 'oncall@sms.localhost', notify: ['FAILURE'], orcpt: undefined, reason: 'not sent: opted out' }];
      const bounce = { kind: 'bounce' as const, envelopeFrom: '', recipients: ['alice@example.com'], raw: Buffer.from('the bounce') };
      const fingerprint = { messageIdHeader: '<same@example.com>', resubmission: { fingerprint: 'same mail', since: 0 } };
      const first = mail(['+447700900601'], { refused, ...fingerprint });
      assert.equal((await store.acceptMail(first, [{ ...bounce, messageId: first.id }])).duplicateOf, undefined);
      const again = mail(['+447700900601'], { refused, ...fingerprint });
      assert.equal((await store.acceptMail(again, [{ ...bounce, messageId: again.id }])).duplicateOf, first.id);
      assert.deepEqual(
        (await store.smsOf(first.id)).map((sms) => [sms.number, sms.status, sms.attempts]),
        [
          ['+447700900601', 'queued', 0],
          ['+447700900603', 'failed', 0],
        ],
      );
      assert.deepEqual(
        (await store.events(first.id))
          .filter((event) => event.kind === 'refused' || event.kind === 'bounce queued')
          .map((event) => [event.kind, event.detail?.replace(/mail \d+/, 'mail N')]),
        [
          ['refused', 'oncall@sms.localhost -> +447700900603: not sent: opted out'],
          ['bounce queued', 'mail N to alice@example.com'],
        ],
      );
      assert.deepEqual(await store.smsOf(again.id), []);
      assert.deepEqual(
        (await kind.rows('SELECT message_id, kind FROM mail_out')).map((row) => [row.message_id, row.kind]),
        [[first.id, 'bounce']],
      );
      assert.deepEqual(
        (await store.claimDueSms({ owner: 'test', now: 2_000, leaseUntil: 62_000, maxBatches: 10, batchSize: 10 })).flatMap((batch) =>
          batch.sms.map((sms) => sms.number),
        ),
        ['+447700900601'],
        'a refused number is never claimed',
      );
      assert.deepEqual(
        (await store.latestSmsTo(['+447700900601', '+447700900603'], 0)).map((sms) => [sms.number, sms.accepted]),
        [
          ['+447700900601', false],
          ['+447700900603', false],
        ],
        'neither was taken by the gateway (queued, refused): the alert-storm check folds nothing onto them',
      );
      await store.close();
    });

    test('a mail is a resubmission only of the latest mail under its Message-ID to its numbers in the window, if that one has its text and Subject', async () => {
      const messageIdHeader = '<42@ups1.local>';
      let at = 10_000;
      /** A mail under the one Message-ID (its key and fingerprint as acceptance makes them); its duplicateOf and id. */
      const send = async (to: readonly string[], text: string, options: { subject?: string; since?: number; id?: string } = {}) => {
        const base = mail(to, { messageIdHeader, subject: options.subject ?? 'UPS1', receivedAt: at++ });
        const sent = { ...base, sms: { ...base.sms, text }, resubmission: resubmissionOf(messageIdHeader, to, text, options.since ?? 0) };
        return { id: sent.id, duplicateOf: (await store.acceptMail(sent)).duplicateOf };
      };
      const [ups, a, b] = [['+447700900611'], ['+447700900612'], ['+447700900613', '+447700900614']];
      // A UPS reusing its Message-ID: on battery, restored, on battery again: each a mail of its own.
      assert.equal((await send(ups, 'On battery')).duplicateOf, undefined);
      assert.equal((await send(ups, 'Power restored')).duplicateOf, undefined);
      const again = await send(ups, 'On battery');
      assert.equal(again.duplicateOf, undefined, 'on battery again, after restored: a mail of its own');
      assert.equal((await send(ups, 'On battery')).duplicateOf, again.id, "the client's resend of the latest mail");
      assert.equal((await send(ups, 'On battery')).duplicateOf, again.id, 'a second resend: of the original, not of the first resend');
      assert.equal((await send(ups, 'On battery', { subject: 'Motion: server room' })).duplicateOf, undefined, 'another Subject');
      assert.equal(
        (await send(ups, 'On battery', { subject: 'Motion: server room', since: at })).duplicateOf,
        undefined,
        'the latest mail before the window is none',
      );
      // One Message-ID in a transaction per set of numbers (a list's per-member copies, a split at a recipient limit): each
      // texted, and each one's resend folded into its own, whatever was sent to the others between.
      const toA = await send(a, 'Backup failed');
      const toB = await send(b, 'Backup failed');
      assert.deepEqual([toA.duplicateOf, toB.duplicateOf], [undefined, undefined], 'the same Message-ID and text to other numbers is texted');
      assert.equal((await send(a, 'Backup failed')).duplicateOf, toA.id, "A's resend after B's transaction");
      assert.equal((await send([...b].reverse(), 'Backup failed')).duplicateOf, toB.id, "B's resend, its numbers in another order");
      assert.equal((await send([...a, ...b], 'Backup failed')).duplicateOf, undefined, 'all the numbers at once: another set');
      assert.equal((await claim(store, 10, 10, 1_000_000)).flatMap((batch) => batch.sms).length, 11, 'one SMS for each number of each mail of its own');
      await store.close();
    });

    test('a resend is texted when none of the mail it repeats was sent or is to be sent (each SMS failed, expired, deleted or reported failed); folded while one was or is', async () => {
      let at = 10_000;
      const send = async (messageIdHeader: string, to: readonly string[]) => {
        const base = mail(to, { messageIdHeader, receivedAt: at++ });
        const sent = { ...base, sms: { ...base.sms, text: 'the same alert' }, resubmission: resubmissionOf(messageIdHeader, to, 'the same alert', 0) };
        return { id: sent.id, duplicateOf: (await store.acceptMail(sent)).duplicateOf };
      };
      /** Claims `id`'s SMS and records `kinds[i]` for its i-th (sent with an id; failed; expired). */
      const finish = async (id: string, kinds: ReadonlyArray<'sent' | 'failed' | 'expired'>) => {
        const sms = (await claim(store, 100, 100, 1_000_000)).find((batch) => batch.message.id === id)?.sms ?? [];
        await store.recordSmsOutcomes(
          kinds.map((kind, index) => {
            const smsId = sms[index]?.id ?? 0;
            return kind === 'sent' ? { smsId, kind, providerId: `P-${smsId}` } : { smsId, kind, error: 'ERR:INVALID_NUMBER' };
          }),
        );
        return sms;
      };
      const [A, B] = ['+447700900651', '+447700900652'];
      // Deleted from the queue by the operator, both numbers: the resend is a mail of its own, and is texted.
      const deleted = await send('<deleted@example.com>', [A, B]);
      await store.applyQueueAction('delete', deleted.id, 20_000);
      const afterDelete = await send('<deleted@example.com>', [A, B]);
      assert.equal(afterDelete.duplicateOf, undefined, 'after every SMS was deleted');
      assert.deepEqual(
        (await store.smsOf(afterDelete.id)).map((sms) => sms.status),
        ['queued', 'queued'],
      );
      assert.equal((await send('<deleted@example.com>', [A, B])).duplicateOf, afterDelete.id, 'its own resend folds into it, queued');
      // Failed and expired: texted again.
      const failed = await send('<failed@example.com>', [A, B]);
      await finish(failed.id, ['failed', 'expired']);
      assert.equal((await send('<failed@example.com>', [A, B])).duplicateOf, undefined, 'after every SMS failed or expired');
      // Sent, then reported failed by the phone's network: texted again.
      const reported = await send('<reported@example.com>', [A]);
      const [sms] = await finish(reported.id, ['sent']);
      await store.applyDeliveryReport({ provider: 'twilio', providerId: `P-${sms?.id}`, number: A, state: 'failed', code: 30007, receivedAt: 30_000 });
      assert.equal((await send('<reported@example.com>', [A])).duplicateOf, undefined, 'after its SMS was reported failed');
      // One of its SMS sent (the other failed): folded, as before.
      const half = await send('<half@example.com>', [A, B]);
      await finish(half.id, ['sent', 'failed']);
      assert.equal((await send('<half@example.com>', [A, B])).duplicateOf, half.id, 'one SMS of it was sent');
      await store.close();
    });

    test('a resend folds into a mail whose SMS may have been sent (an attempt whose answer was lost), expired, failed or deleted after it; queue retry says so, never "none of its SMS was sent"', async () => {
      const A = '+447700900653';
      let at = 10_000;
      const send = async (messageIdHeader: string) => {
        const base = mail([A], { messageIdHeader, receivedAt: at++ });
        const sent = { ...base, sms: { ...base.sms, text: 'the same alert' }, resubmission: resubmissionOf(messageIdHeader, [A], 'the same alert', 0) };
        return { id: sent.id, duplicateOf: (await store.acceptMail(sent)).duplicateOf };
      };
      const smsIdOf = async (id: string) => (await claim(store, 100, 100, 1_000_000)).find((batch) => batch.message.id === id)?.sms[0]?.id ?? 0;
      const error = 'RESPONSE_TIMEOUT: the SMS gateway did not answer in time; the message may have been sent';
      const advice = async (id: string) => {
        const refused = await queueAction(store, 'retry', id, 2_000_000).then(
          () => assert.fail('nothing to retry'),
          (thrown: unknown) => (thrown as Error).message,
        );
        assert.doesNotMatch(refused, /unsent|none of its SMS was sent/, refused);
        assert.match(refused, /may have been sent \(1 attempt whose answer was lost\); .* with a new Message-ID/, refused);
      };
      // An attempt in doubt, then a retry that failed for good at the maximum age (its own answer known).
      const expired = await send('<expired@example.com>');
      const first = await smsIdOf(expired.id);
      await store.recordSmsOutcomes([{ smsId: first, kind: 'retry', nextAttemptAt: 0, error, attempted: true, possibleDuplicate: true }]);
      await store.recordSmsOutcomes([{ smsId: await smsIdOf(expired.id), kind: 'expired', error: 'ERR:UNAVAILABLE; given up at the maximum age' }]);
      assert.equal((await send('<expired@example.com>')).duplicateOf, expired.id, 'expired after an attempt in doubt');
      await advice(expired.id);
      // Given up at the maximum age on the attempt in doubt itself: queued again due at once, then given up without a request.
      const lastInDoubt = await send('<last@example.com>');
      const lastId = await smsIdOf(lastInDoubt.id);
      await store.recordSmsOutcomes([{ smsId: lastId, kind: 'retry', nextAttemptAt: 0, error, attempted: true, possibleDuplicate: true }]);
      await store.recordSmsOutcomes([{ smsId: await smsIdOf(lastInDoubt.id), kind: 'expired', error: 'EXPIRED: too old', attempted: false }]);
      assert.equal((await send('<last@example.com>')).duplicateOf, lastInDoubt.id, 'expired on an attempt in doubt');
      await advice(lastInDoubt.id);
      // Deleted by the operator once its relay's lease ended with the attempt in flight: that attempt counts, in doubt.
      const cut = await send('<cut@example.com>');
      await store.claimDueSms({ owner: 'gone', now: Date.now(), leaseUntil: Date.now() + 1, maxBatches: 100, batchSize: 100 });
      await sleep(20);
      assert.equal((await store.applyQueueAction('delete', cut.id, Date.now())).changed, 1);
      assert.deepEqual(
        (await store.smsOf(cut.id)).map(({ status, attempts, possibleDuplicates }) => ({ status, attempts, possibleDuplicates })),
        [{ status: 'deleted', attempts: 1, possibleDuplicates: 1 }],
      );
      assert.equal((await send('<cut@example.com>')).duplicateOf, cut.id, 'deleted after an attempt in doubt');
      await advice(cut.id);
      await store.close();
    });

    test('a mail of another text or Subject under the Message-ID to any numbers breaks the chain: a flap split over other or overlapping numbers is texted', async () => {
      const messageIdHeader = '<43@ups2.local>';
      let at = 10_000;
      const send = async (to: readonly string[], text: string, subject = 'UPS2') => {
        const base = mail(to, { messageIdHeader, subject, receivedAt: at++ });
        const sent = { ...base, sms: { ...base.sms, text }, resubmission: resubmissionOf(messageIdHeader, to, text, 0) };
        return { id: sent.id, duplicateOf: (await store.acceptMail(sent)).duplicateOf };
      };
      const [A, B, C] = ['+447700900621', '+447700900622', '+447700900623'];
      // Restored reached the relay in two transactions (a 4xx on one RCPT, retried alone), then on battery again to both.
      await send([A, B], 'On battery');
      await send([A], 'Power restored');
      await send([B], 'Power restored');
      assert.equal((await send([A, B], 'On battery')).duplicateOf, undefined, 'on battery again after restored to each alone');
      // Restored to a superset (the on-call list grew), then on battery again to the first set.
      await send([A], 'On battery 2');
      await send([A, C], 'Power restored 2');
      assert.equal((await send([A], 'On battery 2')).duplicateOf, undefined, 'on battery again after restored to a superset');
      // Another Subject to other numbers between breaks it too.
      await send([A], 'Door open', 'Camera 1');
      await send([B], 'Door open', 'Camera 2');
      assert.equal((await send([A], 'Door open', 'Camera 1')).duplicateOf, undefined, 'after another Subject to other numbers');
      // One mail's transactions split (the same text and Subject to each) still fold each one's resend.
      const toA = await send([A], 'Backup failed');
      await send([B, C], 'Backup failed');
      assert.equal((await send([A], 'Backup failed')).duplicateOf, toA.id, "A's resend after B and C's transaction");
      // The known cost: a list's copies personalised per member are mails of another text between: A's resend is texted again.
      await send([A], 'Dear A: backup failed');
      await send([B], 'Dear B: backup failed');
      assert.equal((await send([A], 'Dear A: backup failed')).duplicateOf, undefined, 'a duplicate, never a loss');
      assert.equal((await claim(store, 100, 100, 1_000_000)).flatMap((batch) => batch.sms).length, 19, 'one SMS for each number of each mail of its own');
      await store.close();
    });

    test("a server's queued retry (its Date unchanged) folds whatever came between; a device's new alert (a new Date) is texted; the walk reads at most its rows", async () => {
      const messageIdHeader = '<44@ups3.local>';
      let at = 20_000;
      const send = async (to: readonly string[], text: string, date: string | undefined, rows?: number) => {
        const base = mail(to, { messageIdHeader, subject: 'UPS3', receivedAt: at++ });
        const resubmission = { ...resubmissionOf(messageIdHeader, to, text, 0, date), ...(rows === undefined ? {} : { rows }) } as Resubmission;
        const sent = { ...base, sms: { ...base.sms, text }, resubmission };
        return { id: sent.id, duplicateOf: (await store.acceptMail(sent)).duplicateOf };
      };
      const [A, B] = ['+447700900631', '+447700900632'];
      // On battery (its 250 lost, queued by the server), restored, then the server's retry of the first: folded into it.
      const battery = await send([A], 'On battery', 'Mon, 7 Dec 2026 11:00:00 +0000');
      await send([A], 'Power restored', 'Mon, 7 Dec 2026 11:03:00 +0000');
      assert.equal((await send([A], 'On battery', 'Mon, 7 Dec 2026 11:00:00 +0000')).duplicateOf, battery.id, 'the late queued retry');
      // The flap with a new Date each time: each alert texted, and its own retry folds.
      const second = await send([A], 'On battery', 'Mon, 7 Dec 2026 11:10:00 +0000');
      assert.equal(second.duplicateOf, undefined, 'on battery again, a new Date');
      await send([A], 'Power restored', 'Mon, 7 Dec 2026 11:12:00 +0000');
      const third = await send([A], 'On battery', 'Mon, 7 Dec 2026 11:14:00 +0000');
      assert.equal(third.duplicateOf, undefined, 'and again');
      // A retry of the second after the third (its latest match, nothing between) is sent once, as the third.
      assert.equal((await send([A], 'On battery', 'Mon, 7 Dec 2026 11:10:00 +0000')).duplicateOf, third.id, "the second's retry after the third");
      await send([A], 'Power restored', 'Mon, 7 Dec 2026 11:16:00 +0000');
      // Queued once more, restored between: folded by its Date (as its earlier retry, into the third).
      assert.equal((await send([A], 'On battery', 'Mon, 7 Dec 2026 11:10:00 +0000')).duplicateOf, third.id, "the second's retry, restored between");
      // Without a Date, the chain alone: restored between means a new alert.
      await send([B], 'Door open', undefined);
      await send([B], 'Door closed', undefined);
      assert.equal((await send([B], 'Door open', undefined)).duplicateOf, undefined, 'no Date: texted');
      // The walk's bound (4 rows here): a retry whose match is the 4th mail back folds; once 4 others came since, it is
      // not folded (a duplicate, never a loss).
      const far = await send([B], 'Backup failed', 'Mon, 7 Dec 2026 12:00:00 +0000');
      const steps = async (from: number) => {
        for (const n of [from, from + 1, from + 2]) await send([B], `Backup step ${n}`, `Mon, 7 Dec 2026 12:0${n}:00 +0000`);
      };
      await steps(1);
      assert.equal((await send([B], 'Backup failed', 'Mon, 7 Dec 2026 12:00:00 +0000', 4)).duplicateOf, far.id, 'within the bound');
      await steps(4);
      await send([B], 'Backup step 7', 'Mon, 7 Dec 2026 12:07:00 +0000');
      assert.equal((await send([B], 'Backup failed', 'Mon, 7 Dec 2026 12:00:00 +0000', 4)).duplicateOf, undefined, 'past the bound');
      await store.close();
    });

    test('group commit: writes queued together commit together, and one failing write fails alone', async () => {
      const first = mail(['+447700900123']);
      const results = await Promise.allSettled([
        store.acceptMail(first),
        store.acceptMail(mail(['+447700900124'])),
        store.acceptMail({ ...first, recipients: [] }), // same id: the primary key refuses it
        store.acceptMail(mail(['+447700900125'])),
      ]);
      assert.deepEqual(
        results.map((result) => result.status),
        ['fulfilled', 'fulfilled', 'rejected', 'fulfilled'],
      );
      const refused = (results[2] as PromiseRejectedResult).reason;
      assert.ok(refused instanceof RelayError && refused.code === 'STORE_UNAVAILABLE');
      const batches = await claim(store, 10, 100);
      assert.equal(batches.length, 3);
      await store.close();
    });

    test('a scheduled SMS the relay holds: retry leaves it until its time, send now of its message does not; counted apart, aged from its time', async () => {
      const sendAt = 100_000;
      const held = mail(['+447700900131'], { sendAt, holdUntilSendAt: true });
      // A provider that schedules (Puzzel) takes it at once: a retry of it is an ordinary retry.
      const handedOver = mail(['+447700900132'], { sendAt, holdUntilSendAt: false });
      await store.acceptMail(held);
      await store.acceptMail(handedOver);
      assert.deepEqual((await store.queueStats(2_000)).sms, { queued: 2, held: 0, scheduled: 1, nextScheduledAt: sendAt, oldestAgeSeconds: 0 });
      assert.deepEqual(
        (await store.smsOf(held.id)).map((sms) => sms.scheduledFor),
        [sendAt],
      );
      // The one a provider schedules is due already (it goes now, for the provider to hold): no retry changes it.
      assert.deepEqual(await store.applyQueueAction('retry', undefined, 2_000), { changed: 0, due: 1, leased: [] }, 'the held one left until its time');
      assert.equal((await store.applyQueueAction('retry', held.id, 2_000)).changed, 0);
      assert.deepEqual(await claim(store, 10, 100, 3_000).then((batches) => batches.map((batch) => batch.message.id)), [handedOver.id]);
      assert.equal((await store.applyQueueAction('send now', held.id, 4_000)).changed, 1);
      assert.equal((await store.smsOf(held.id))[0]?.scheduledFor, undefined, 'no longer waiting for its time');
      assert.deepEqual(await claim(store, 10, 100, 5_000).then((batches) => batches.map((batch) => batch.message.id)), [held.id]);
      await store.close();
    });

    test('a retry changes only SMS waiting for a later attempt: one due already (never tried, or its retry time passed) is left, said so, in no history', async () => {
      const message = mail(['+447700900151', '+447700900152']);
      await store.acceptMail(message);
      const retried = async () => (await store.events(message.id)).filter((event) => event.kind === 'operator retry').length;
      // Never tried, waiting only for a claim (as while dispatch is paused): each retry, by the CLI or the console, changes nothing.
      for (let click = 0; click < 3; click++) {
        assert.equal(
          (await queueAction(store, 'retry', message.id, 2_000)).said,
          'retry: 0 queued SMS changed; 2 due already, not retried: the next claim takes them',
        );
      }
      assert.match(await queue(store, ['retry', 'all'], 2_000), /^retry: 0 queued SMS changed; 2 due already, not retried: the next claim takes them$/);
      assert.equal(await retried(), 0, 'no history line for a retry that changed nothing');
      // One deferred by the gateway waits for its next attempt: a retry makes it due, once; the other is due already.
      const [batch] = await claim(store, 1, 100, 2_000);
      const [first, second] = batch?.sms ?? [];
      assert.ok(first && second);
      await store.recordSmsOutcomes([
        { smsId: first.id, kind: 'retry', nextAttemptAt: 60_000, error: 'ERR:GATEWAY_ERROR', attempted: true },
        { smsId: second.id, kind: 'retry', nextAttemptAt: 2_500, error: 'ERR:GATEWAY_ERROR', attempted: true },
      ]);
      assert.deepEqual(await store.applyQueueAction('retry', message.id, 3_000), { changed: 1, due: 1, leased: [] });
      assert.equal(
        (await queueAction(store, 'retry', message.id, 3_000)).said,
        'retry: 0 queued SMS changed; 2 due already, not retried: the next claim takes them',
      );
      assert.equal(await retried(), 1, 'one line, for the retry that changed it');
      assert.deepEqual(
        (await store.smsOf(message.id)).map((sms) => sms.nextAttemptAt),
        [3_000, 2_500],
      );
      await store.close();
    });

    test('a queue action on one SMS of a message changes that SMS alone; a delete leaves an SMS being sent, saying so, until its lease ends', async () => {
      const message = mail(['+447700900141', '+447700900142', '+447700900143']);
      await store.acceptMail(message);
      const [first, second, third] = await store.smsOf(message.id);
      assert.ok(first && second && third);
      const states = async () => (await store.smsOf(message.id)).map((sms) => `${sms.status}${sms.held && sms.status === 'queued' ? ' held' : ''}`);
      assert.equal((await queueAction(store, 'hold', { messageId: message.id, smsId: second.smsId }, 2_000)).said, 'hold: 1 queued SMS changed');
      assert.deepEqual(await states(), ['queued', 'queued held', 'queued']);
      // An SMS id with another message's id is no SMS of that message: nothing changes.
      const other = mail(['+447700900144']);
      await store.acceptMail(other);
      await assert.rejects(queueAction(store, 'delete', { messageId: other.id, smsId: third.smsId }, 2_000), NotFound);
      assert.equal((await queueAction(store, 'delete', { messageId: message.id, smsId: third.smsId }, 2_000)).said, 'delete: 1 queued SMS changed');
      assert.deepEqual(await states(), ['queued', 'queued held', 'deleted']);
      // The first is leased (a relay sends it; on PostgreSQL until the database's clock's time): a delete of the message takes
      // the held one and leaves it.
      const now = Date.now();
      await claim(store, 10, 100, now, 'test', LEASE_MS);
      const until = (await store.smsOf(message.id))[0]?.leasedUntil ?? assert.fail('no lease');
      assert.equal(
        (await queueAction(store, 'delete', message.id, now)).said,
        `delete: 1 queued SMS changed; 1 being sent, not deleted: the gateway may have it already, and its answer decides; delete again once the attempt ends (by ${new Date(until).toISOString()}) if still queued`,
      );
      await assert.rejects(queueAction(store, 'delete', { messageId: message.id, smsId: first.smsId }, now), BeingSent);
      assert.deepEqual(await states(), ['queued', 'deleted', 'deleted']);
      // Once its lease ended (its relay stopped), it is due already, which a retry says, and a delete takes it as any other.
      await sleep(until - Date.now() + 50);
      assert.equal(
        (await queueAction(store, 'retry', message.id, Date.now())).said,
        'retry: 0 queued SMS changed; 1 due already, not retried: the relay sending it stopped before the answer, and the next claim takes it again',
      );
      assert.equal((await queueAction(store, 'delete', message.id, Date.now())).said, 'delete: 1 queued SMS changed');
      await store.close();
    });

    test('delete all and a retry name the SMS they left being sent, and the queue reads it so, as the store judges the lease', async () => {
      const sending = mail(['+447700900145']);
      const waiting = mail(['+447700900146']);
      await store.acceptMail(sending);
      const now = Date.now();
      await claim(store, 1, 1, now);
      await store.acceptMail(waiting);
      const [leased] = await store.smsOf(sending.id);
      assert.equal(leased?.beingSent, true);
      assert.equal((await store.smsOf(waiting.id))[0]?.beingSent, false);
      assert.deepEqual(
        (await store.listQueued(10)).map((sms) => sms.beingSent),
        [true, false],
      );
      const by = new Date(leased.leasedUntil ?? assert.fail('no lease')).toISOString();
      const being = (done: string) => `1 being sent, not ${done}: the gateway may have it already, and its answer decides`;
      assert.equal(
        (await queueAction(store, 'retry', { messageId: sending.id, smsId: leased.smsId }, now)).said,
        `retry: 0 queued SMS changed; ${being('retried')} what comes next (due by ${by})`,
      );
      assert.equal(
        await queue(store, ['delete', 'all'], now),
        `delete: 1 queued SMS changed; ${being('deleted')}; delete again once the attempt ends (by ${by}) if still queued`,
      );
      await assert.rejects(queue(store, ['delete', 'all'], now), BeingSent, 'every SMS left is being sent: exit 1, as for a message');
      assert.deepEqual(
        (await store.smsOf(sending.id)).map((sms) => sms.status),
        ['queued'],
      );
      await store.close();
    });

    test("a caller whose clock runs ahead neither deletes nor retries an SMS another relay is sending: leases are judged by the store's clock", async () => {
      const message = mail(['+447700900147']);
      await store.acceptMail(message);
      const now = Date.now();
      await claim(store, 1, 1, now, 'relay-b');
      const ahead = now + 120_000;
      await assert.rejects(queueAction(store, 'delete', message.id, ahead), BeingSent);
      await assert.rejects(queue(store, ['delete', 'all'], ahead), BeingSent);
      assert.match((await queueAction(store, 'retry', message.id, ahead)).said, /^retry: 0 queued SMS changed; 1 being sent, not retried/);
      const [sms] = await store.smsOf(message.id);
      assert.deepEqual([sms?.status, sms?.beingSent], ['queued', true]);
      await store.close();
    });

    test("smsrelay log: a scheduled SMS's time is ahead until it passes, then the SMS is due since it (still queued while dispatch is paused)", async () => {
      const sendAt = 100_000;
      const held = mail(['+447700900133'], { sendAt, holdUntilSendAt: true });
      await store.acceptMail(held);
      const at = new Date(sendAt).toISOString();
      assert.match(await history(store, held.id, sendAt - 1), new RegExp(`: queued, scheduled for ${at}, 0 attempts`));
      assert.match(await history(store, held.id, sendAt + 60_000), new RegExp(`: queued, due since ${at} \\(its X-SMS-Send-At\\), 0 attempts`));
      await store.close();
    });

    test('smsrelay quarantine list: a list cut at LISTED says so on stderr, with the count and how to list the next', async () => {
      for (let kept = 0; kept <= LISTED; kept++)
        await store.quarantine({ receivedAt: 1_000 + kept, provider: 'puzzel', kind: 'mo', reason: 'unreadable', body: Buffer.from(`${kept}`) });
      const notes: string[] = [];
      const lines = (await quarantine(store, ['list'], (line) => notes.push(line))).split('\n');
      assert.equal(lines.length, LISTED);
      assert.deepEqual(notes, [
        `quarantine list: the oldest 1,000 of 1,001 quarantined requests; delete those dealt with (smsrelay quarantine delete <id>) to list the next`,
      ]);
      await store.close();
    });

    test('a quarantined body is kept as its bytes, whatever they are: Latin-1, a NUL, text that starts like the hex form; its size as received', async () => {
      const bodies = [
        Buffer.from('from=447700900123&text=caf\u00e9 latin&x=1', 'latin1'),
        Buffer.from('{"text":"a\u0000b"}'),
        Buffer.from('smsrelay-bytes-hex:6869'),
        Buffer.from('{"text":"caf\u00e9 \u20ac"}'),
        Buffer.alloc(0),
      ];
      const ids: number[] = [];
      for (const body of bodies) ids.push(await store.quarantine({ receivedAt: 1_000, provider: 'puzzel', kind: 'mo', reason: 'unreadable', body }));
      assert.deepEqual(
        (await store.listQuarantine(10)).map((entry) => entry.bytes),
        bodies.map((body) => body.length),
      );
      for (const [index, id] of ids.entries()) assert.deepEqual((await store.quarantined(id))?.body, bodies[index], `body ${index}`);
      await store.close();
    });

    test('claims never take more batches than asked, numbers of one mail together, at most batchSize each', async () => {
      await store.acceptMail(mail(numbers(250)));
      await store.acceptMail(mail(['+447700900999']));
      const batches = await claim(store, 2, 100);
      assert.deepEqual(
        batches.map((batch) => batch.sms.length),
        [100, 100],
      );
      const rest = await claim(store, 5, 100);
      assert.deepEqual(
        rest.map((batch) => batch.sms.length),
        [50, 1],
      );
      assert.deepEqual(await claim(store, 5, 100), [], 'leased jobs are not due');
      await store.close();
    });

    test('outcomes: sent is final, retry comes back when due, failed/expired are final', async () => {
      await store.acceptMail(mail(numbers(4)));
      const [batch] = await claim(store, 1, 100);
      const [a, b, c, d] = batch?.sms ?? [];
      assert.ok(a && b && c && d);
      await store.recordSmsOutcomes([
        { smsId: a.id, kind: 'sent', providerId: 'ID1' },
        { smsId: b.id, kind: 'retry', nextAttemptAt: 5_000, error: 'ERR:GATEWAY_ERROR', attempted: true },
        { smsId: c.id, kind: 'failed', error: 'ERR:INVALID_NUMBER' },
        { smsId: d.id, kind: 'expired', error: 'too old' },
      ]);
      assert.equal(await store.nextSmsDueAt(), 5_000);
      assert.deepEqual(await claim(store, 5, 100, 4_999), []);
      const again = await claim(store, 5, 100, 5_000);
      assert.equal(again[0]?.sms.length, 1);
      assert.equal(again[0]?.sms[0]?.number, b.number);
      assert.equal(again[0]?.sms[0]?.attempts, 1);
      assert.equal(again[0]?.sms[0]?.lastError, 'ERR:GATEWAY_ERROR', 'what its expiry bounce repeats');
      assert.equal(a.lastError, undefined);
      const kinds = (await store.events(batch?.message.id ?? '')).map((event) => event.kind);
      assert.deepEqual(kinds.slice(4), ['sent', 'deferred', 'failed', 'expired']);
      await store.close();
    });

    test("requests that failed over before an outcome: each an attempt and a history line before the outcome's, those that may have been processed possible duplicates", async () => {
      await store.acceptMail(mail(numbers(2)));
      const [batch] = await claim(store, 1, 100);
      const [a, b] = batch?.sms ?? [];
      assert.ok(a && b);
      await store.recordSmsOutcomes(
        [
          { smsId: a.id, kind: 'sent', providerId: 'ID1', note: 'via two', failedOver: ['HTTP_500: down; via one'] },
          {
            smsId: b.id,
            kind: 'retry',
            nextAttemptAt: 9_000,
            error: 'HTTP_503: busy',
            attempted: true,
            failedOver: ['HTTP_500: down; via one', 'HTTP_502: bad; via two'],
            failedOverDuplicates: 1,
          },
        ],
        [],
        'test',
      );
      const events = await store.events(batch?.message.id ?? '');
      const linesOf = (id: number) => events.filter((event) => event.smsId === id && event.kind !== 'accepted').map((event) => [event.kind, event.detail]);
      assert.deepEqual(linesOf(a.id), [
        ['failed over', 'HTTP_500: down; via one'],
        ['sent', 'id ID1; via two'],
      ]);
      assert.deepEqual(linesOf(b.id), [
        ['failed over', 'HTTP_500: down; via one'],
        ['failed over', 'HTTP_502: bad; via two'],
        ['deferred', 'HTTP_503: busy'],
      ]);
      const states = await store.smsOf(batch?.message.id ?? '');
      assert.deepEqual(
        states.map((sms) => [sms.attempts, sms.possibleDuplicates]),
        [
          [2, 0],
          [3, 1],
        ],
      );
      await store.close();
    });

    test("an attempt's line names what answered it (via), deferred, failed and expired alike; its last error does not", async () => {
      await store.acceptMail(mail(numbers(4)));
      const [batch] = await claim(store, 1, 100);
      const [a, b, c, d] = batch?.sms ?? [];
      assert.ok(a && b && c && d);
      await store.recordSmsOutcomes(
        [
          { smsId: a.id, kind: 'retry', nextAttemptAt: 9_000, error: 'HTTP_503: busy', attempted: true, via: 'via https://backup.example' },
          { smsId: b.id, kind: 'failed', error: 'ERR:INVALID_NUMBER: refused', via: 'via two at https://two.example' },
          { smsId: c.id, kind: 'expired', error: 'HTTP_503: busy; given up at the maximum age', via: 'via one' },
          { smsId: d.id, kind: 'retry', nextAttemptAt: 9_000, error: 'HTTP_503: busy', attempted: true },
        ],
        [],
        'test',
      );
      const events = await store.events(batch?.message.id ?? '');
      const lineOf = (id: number) => events.filter((event) => event.smsId === id && event.kind !== 'accepted').map((event) => [event.kind, event.detail]);
      assert.deepEqual(lineOf(a.id), [['deferred', 'HTTP_503: busy; via https://backup.example']]);
      assert.deepEqual(lineOf(b.id), [['failed', 'ERR:INVALID_NUMBER: refused; via two at https://two.example']]);
      assert.deepEqual(lineOf(c.id), [['expired', 'HTTP_503: busy; given up at the maximum age; via one']]);
      assert.deepEqual(lineOf(d.id), [['deferred', 'HTTP_503: busy']], 'one host, one provider: nothing to name');
      assert.deepEqual(
        (await store.smsOf(batch?.message.id ?? '')).map((sms) => sms.lastError),
        ['HTTP_503: busy', 'ERR:INVALID_NUMBER: refused', 'HTTP_503: busy; given up at the maximum age', 'HTTP_503: busy'],
        'what notices and bounces quote',
      );
      await store.close();
    });

    test('the numbers sent under an id: an SMS of one part by its id, a long SMS by any part of it; none for an id never sent', async () => {
      await store.acceptMail(mail(numbers(2)));
      const [batch] = await claim(store, 1, 100);
      const [a, b] = batch?.sms ?? [];
      assert.ok(a && b);
      await store.recordSmsOutcomes([
        { smsId: a.id, kind: 'sent', providerId: 'ONE' },
        { smsId: b.id, kind: 'sent', providerId: 'parts:x/2' },
      ]);
      await store.recordSentParts({ provider: 'smpp', providerId: 'parts:x/2', number: b.number, partIds: ['ONE', 'P2'], sentAt: 1_000 });
      assert.deepEqual(await store.numbersSentUnder('smpp', 'ONE'), [a.number, b.number].sort());
      assert.deepEqual(await store.numbersSentUnder('smpp', 'P2'), [b.number]);
      assert.deepEqual(await store.numbersSentUnder('vonage', 'P2'), [], "another provider's parts are not these");
      assert.deepEqual(await store.numbersSentUnder('smpp', 'NEVER'), []);
      await store.close();
    });

    test("a delivery report's history line: the provider's words for its status when it gives them, else its code", async () => {
      await store.acceptMail(mail(numbers(2)));
      const [batch] = await claim(store, 1, 100);
      const [a, b] = batch?.sms ?? [];
      assert.ok(a && b);
      await store.recordSmsOutcomes([
        { smsId: a.id, kind: 'sent', providerId: 'SMA' },
        { smsId: b.id, kind: 'sent', providerId: 'SMB' },
      ]);
      const report = { provider: 'twilio', state: 'failed' as const, code: 30007, receivedAt: 3_000 };
      await store.applyDeliveryReport({ ...report, providerId: 'SMA', number: a.number, said: 'MessageStatus undelivered, ErrorCode 30007' });
      await store.applyDeliveryReport({ ...report, providerId: 'SMB', number: b.number });
      const lines = (await store.events(batch?.message.id ?? ''))
        .filter((event) => event.kind === 'delivery report')
        .map((event) => [event.smsId, event.detail]);
      assert.deepEqual(lines, [
        [a.id, 'failed (MessageStatus undelivered, ErrorCode 30007)'],
        [b.id, 'failed (provider status 30007)'],
      ]);
      await store.close();
    });

    test('a report that came before its send result reads as one after it once adopted: its words, listed after the sent line', async () => {
      await store.acceptMail(mail(numbers(1)));
      const [batch] = await claim(store, 1, 100);
      const [sms] = batch?.sms ?? [];
      assert.ok(sms);
      const said = 'SMS-Success=False, SMS-TotalToSend=1, SMS-TotalSent=0, SMS-TotalFailed=1';
      const early = await store.applyDeliveryReport({
        provider: 'interactsms',
        providerId: 'N1',
        number: sms.number,
        code: 0,
        state: 'failed',
        said,
        receivedAt: 3_000,
      });
      assert.equal(early.kind, 'orphan');
      await store.recordSmsOutcomes([{ smsId: sms.id, kind: 'sent', providerId: 'N1' }]);
      const lines = (await store.events(batch?.message.id ?? '')).filter((event) => event.kind !== 'accepted').map((event) => [event.kind, event.detail]);
      assert.deepEqual(lines, [
        ['sent', 'id N1'],
        ['delivery report', `failed (${said})`],
      ]);
      await store.close();
    });

    test("a report naming its SMS by the relay's own reference: one waiting to be sent again is sent with it (and its tracking id), one sent without the gateway's id is found, one in flight waits", async () => {
      const accepted = mail(numbers(3));
      await store.acceptMail({ ...accepted, sms: { ...accepted.sms, userContext: 'ctx-waiting' } });
      const [batch] = await claim(store, 1, 100);
      const [waiting, noId, inFlight] = batch?.sms ?? [];
      assert.ok(waiting && noId && inFlight);
      const messageId = batch?.message.id ?? '';
      await store.recordSmsOutcomes([
        { smsId: waiting.id, kind: 'retry', nextAttemptAt: 50_000, error: 'RESPONSE_TIMEOUT: no answer', attempted: true, possibleDuplicate: true },
        { smsId: noId.id, kind: 'sent', providerId: '' },
      ]);
      const report = { provider: 'interactsms', state: 'delivered' as const, code: 1, receivedAt: 3_000, messageId };
      // A key the gateway made up, with no reference of the relay's: the waiting SMS is not taken for it.
      assert.equal((await store.applyDeliveryReport({ ...report, providerId: 'G-1', number: waiting.number, messageId: undefined })).kind, 'orphan');
      assert.equal((await store.applyDeliveryReport({ ...report, providerId: 'NOTIFY-1', number: waiting.number, trackingId: 'NOTIFY-1' })).kind, 'advanced');
      assert.equal(await store.contextOfTracking('NOTIFY-1', waiting.number), 'ctx-waiting', 'replies naming it find its conversation');
      assert.deepEqual(await store.numbersOfTracking('NOTIFY-1'), [waiting.number], 'a national sender answering it is matched against its number');
      assert.deepEqual(await store.numbersOfTracking('NOTIFY-NEVER'), []);
      assert.equal((await store.applyDeliveryReport({ ...report, providerId: 'PZ-2', number: noId.number })).kind, 'advanced');
      const states = await store.smsOf(messageId);
      assert.deepEqual(
        states.map((sms) => [sms.status, sms.delivery]),
        [
          ['sent', 'delivered'],
          ['sent', 'delivered'],
          ['queued', undefined],
        ],
      );
      assert.equal(states[0]?.possibleDuplicates, 0, 'the report proved its attempt with no answer reached the gateway, and it is not sent again');
      const lines = (await store.events(messageId))
        .filter((event) => event.smsId === waiting.id && event.kind !== 'accepted')
        .map((event) => [event.kind, event.detail]);
      assert.deepEqual(lines, [
        ['deferred', 'RESPONSE_TIMEOUT: no answer'],
        [
          'sent',
          "id NOTIFY-1; the gateway's delivery report for it came while it waited to be sent again after an attempt with no answer: that attempt reached the gateway, so it is not sent again",
        ],
        ['delivery report', 'delivered (provider status 1)'],
      ]);
      // Still leased (in flight): its send result will say; the report waits for it.
      assert.equal((await store.applyDeliveryReport({ ...report, providerId: 'NOTIFY-3', number: inFlight.number })).kind, 'orphan');
      assert.deepEqual(await claim(store, 1, 100, 60_000), [], 'the SMS sent by its report is not claimed again');
      await store.close();
    });

    test("a resend the gateway recognised (sent nothing this time) takes back one possible duplicate (the others may be another provider's); a plain send keeps them", async () => {
      await store.acceptMail(mail(numbers(3)));
      const timedOut = { kind: 'retry', nextAttemptAt: 2_000, error: 'RESPONSE_TIMEOUT: no answer', attempted: true, possibleDuplicate: true } as const;
      const [first] = await claim(store, 1, 100);
      const [recognised, twiceLost, plain] = first?.sms ?? [];
      assert.ok(first && recognised && twiceLost && plain);
      await store.recordSmsOutcomes([
        { smsId: recognised.id, ...timedOut },
        { smsId: twiceLost.id, ...timedOut },
        { smsId: plain.id, ...timedOut },
      ]);
      await claim(store, 1, 100, 3_000);
      await store.recordSmsOutcomes([{ smsId: twiceLost.id, ...timedOut, nextAttemptAt: 4_000 }]);
      await claim(store, 1, 100, 5_000);
      const recognisedAnswer = { kind: 'sent', providerId: '', recognisedResend: true, withoutId: 'the gateway recognised a resend and gave no id' } as const;
      await store.recordSmsOutcomes([
        { smsId: recognised.id, ...recognisedAnswer },
        { smsId: twiceLost.id, ...recognisedAnswer },
        { smsId: plain.id, kind: 'sent', providerId: 'P-2' },
      ]);
      const states = await store.smsOf(first.message.id);
      assert.deepEqual(
        states.map((sms) => [sms.status, sms.attempts, sms.possibleDuplicates]),
        [
          ['sent', 2, 0],
          ['sent', 3, 1],
          ['sent', 2, 1],
        ],
      );
      const sent = (await store.events(first.message.id)).filter((event) => event.kind === 'sent').map((event) => [event.smsId, event.detail]);
      assert.deepEqual(sent, [
        [recognised.id, 'the gateway recognised a resend and gave no id'],
        [twiceLost.id, 'the gateway recognised a resend and gave no id'],
        [plain.id, 'id P-2'],
      ]);
      await store.close();
    });

    test("a report by the relay's own reference does not decide an SMS sent under another id (a retry's, another provider's): it waits as an orphan", async () => {
      await store.acceptMail(mail(numbers(1)));
      const [batch] = await claim(store, 1, 100);
      const [sms] = batch?.sms ?? [];
      assert.ok(sms);
      const messageId = batch?.message.id ?? '';
      await store.recordSmsOutcomes([{ smsId: sms.id, kind: 'sent', providerId: 'RETRY-ID' }]);
      const report = { provider: 'puzzel', providerId: 'FIRST-ID', number: sms.number, state: 'failed' as const, code: 351, receivedAt: 3_000, messageId };
      assert.equal((await store.applyDeliveryReport(report)).kind, 'orphan');
      assert.deepEqual(
        (await store.smsOf(messageId)).map((one) => [one.status, one.delivery]),
        [['sent', undefined]],
      );
      assert.deepEqual(await store.dueNotices(10), [], 'no bounce for it');
      assert.equal(
        (await store.applyDeliveryReport({ ...report, providerId: 'RETRY-ID', state: 'delivered', code: 0 })).kind,
        'advanced',
        'its own id decides it',
      );
      await store.close();
    });

    test('a report naming a former id finds the SMS kept under it, once: a repeat is one, and no orphan is left under its own id', async () => {
      await store.acceptMail(mail(numbers(2)));
      const [batch] = await claim(store, 1, 100);
      const [kept, current] = batch?.sms ?? [];
      assert.ok(kept && current);
      await store.recordSmsOutcomes([
        { smsId: kept.id, kind: 'sent', providerId: 'ref.1' },
        { smsId: current.id, kind: 'sent', providerId: 'MSG-2' },
      ]);
      const report = { provider: 'vonage', state: 'delivered' as const, code: 0, receivedAt: 3_000 };
      const first = await store.applyDeliveryReport({ ...report, providerId: 'MSG-1', formerId: 'ref.1', number: kept.number });
      assert.equal(first.kind, 'advanced');
      assert.equal((await store.applyDeliveryReport({ ...report, providerId: 'MSG-1', formerId: 'ref.1', number: kept.number })).kind, 'duplicate');
      // Its own id first: the former one is only looked at when that finds nothing.
      assert.equal((await store.applyDeliveryReport({ ...report, providerId: 'MSG-2', formerId: 'ref.2', number: current.number })).kind, 'advanced');
      assert.deepEqual(
        (await store.smsOf(batch?.message.id ?? '')).map((sms) => sms.delivery),
        ['delivered', 'delivered'],
      );
      assert.deepEqual(await store.expireOrphanReports(Number.MAX_SAFE_INTEGER), {}, 'no orphan kept');
      await store.close();
    });

    test('an id the gateway gives again for the same number: a receipt goes to the newest SMS under it not yet final, not to the older final one', async () => {
      for (const [index, [id, first, second]] of (
        [
          ['888', ['delivered', 0], ['failed', 11]],
          ['999', ['failed', 11], ['delivered', 0]],
          ['777', ['delivered', 0], ['delivered', 0]],
        ] as const
      ).entries()) {
        const number = `+4477009003${10 + index}`;
        const states: string[] = [];
        for (const [state, code] of [first, second]) {
          await store.acceptMail(mail([number]));
          const [batch] = await claim(store, 1, 100);
          const sms = batch?.sms[0];
          assert.ok(sms);
          await store.recordSmsOutcomes([{ smsId: sms.id, kind: 'sent', providerId: id }]);
          const applied = await store.applyDeliveryReport({ provider: 'smpp', providerId: id, number, state, code, receivedAt: 3_000 });
          assert.deepEqual(applied.kind === 'advanced' && applied.smsId, sms.id, `${id}: ${state} applied to the SMS just sent`);
          states.push((await store.smsOf(batch?.message.id ?? ''))[0]?.delivery ?? 'none');
        }
        assert.deepEqual(states, [first[0], second[0]], id);
        const again = await store.applyDeliveryReport({ provider: 'smpp', providerId: id, number, state: second[0], code: second[1], receivedAt: 4_000 });
        assert.equal(again.kind, 'duplicate', `${id}: the same receipt again is a repeat`);
      }
      await store.close();
    });

    test('waitingSms lists the SMS of a message neither sent nor given up, leased or not, with their last error', async () => {
      const accepted = mail(numbers(4));
      await store.acceptMail({ ...accepted, recipients: accepted.recipients.map((recipient) => ({ ...recipient, notify: ['DELAY'] })) });
      const [batch] = await claim(store, 1, 100);
      const [a, b, c, d] = batch?.sms ?? [];
      assert.ok(batch && a && b && c && d);
      await store.recordSmsOutcomes([
        { smsId: a.id, kind: 'sent', providerId: 'ID1' },
        { smsId: b.id, kind: 'retry', nextAttemptAt: 5_000, error: 'ERR:GATEWAY_ERROR: busy', attempted: true },
        { smsId: c.id, kind: 'failed', error: 'ERR:INVALID_NUMBER' },
      ]);
      const waiting = await store.waitingSms(batch.message.id);
      assert.deepEqual(
        waiting.map((sms) => [sms.number, sms.attempts, sms.lastError, sms.notify]),
        [
          [b.number, 1, 'ERR:GATEWAY_ERROR: busy', ['DELAY']],
          [d.number, 0, undefined, ['DELAY']],
        ],
      );
      assert.deepEqual(await store.waitingSms('no-such-message'), []);
      await store.close();
    });

    test('a never-tried SMS goes ahead of the retries due less than NEVER_TRIED_HEAD_START_MS before it, behind those overdue longer', async () => {
      const accepted = NEVER_TRIED_HEAD_START_MS + 10_000;
      await store.acceptMail(mail(numbers(3), { receivedAt: 1_000 }));
      const [backlog] = await claim(store, 1, 100, 1_000);
      const [overdue, recent, deferred] = backlog?.sms ?? [];
      assert.ok(overdue && recent && deferred);
      await store.recordSmsOutcomes([
        { smsId: overdue.id, kind: 'retry', nextAttemptAt: accepted - NEVER_TRIED_HEAD_START_MS - 1, error: 'ERR:GATEWAY_ERROR', attempted: true },
        { smsId: recent.id, kind: 'retry', nextAttemptAt: accepted - 1_000, error: 'ERR:GATEWAY_ERROR', attempted: true },
        // Deferred without reaching the gateway is a retry all the same.
        { smsId: deferred.id, kind: 'retry', nextAttemptAt: accepted - 500, error: 'gateway unreachable', attempted: false },
      ]);
      await store.acceptMail(mail(numbers(2, 500), { receivedAt: accepted }));
      const now = accepted + 1_000;
      const claimed: string[][] = [];
      for (let round = 0; round < 4; round++) claimed.push((await claim(store, 1, 100, now))[0]?.sms.map((sms) => sms.number) ?? []);
      assert.deepEqual(claimed, [[overdue.number], numbers(2, 500), [recent.number, deferred.number], []]);
      await store.close();
    });

    test('while every provider is paused: when the first SMS is past its maximum age, and a claim of only such SMS', async () => {
      const maxAge = 10_000;
      const old = mail(numbers(2, 600), { receivedAt: 1_000 });
      await store.acceptMail(old);
      await store.acceptMail(mail(numbers(1, 700), { receivedAt: 5_000 }));
      // Scheduled for later: its age counts from its time, not its arrival.
      await store.acceptMail(mail(numbers(1, 800), { receivedAt: 1_000, sendAt: 20_000 }));
      assert.equal(await store.nextSmsExpiryAt(maxAge), 11_000);
      const expiredAt = (now: number) =>
        store.claimDueSms({ owner: 'test', now, leaseUntil: now + 60_000, maxBatches: 5, batchSize: 100, startedBy: now - maxAge });
      assert.deepEqual(await expiredAt(10_999), [], 'none is past its age yet');
      const batches = await expiredAt(12_000);
      assert.deepEqual(
        batches.map((batch) => [batch.message.id, batch.sms.map((sms) => sms.number)]),
        [[old.id, numbers(2, 600)]],
      );
      assert.equal(await store.nextSmsExpiryAt(maxAge), 15_000, 'the leased ones are not counted again before their lease ends');
      assert.deepEqual(await expiredAt(12_000), []);
      await store.close();
    });

    test("a restart frees the leases of its own dead process and makes those jobs due at once, each counted as an attempt (the dead process's)", async () => {
      await store.acceptMail(mail(numbers(3)));
      await claim(store, 1, 100);
      assert.deepEqual(await claim(store, 1, 100, 61_999), [], 'leased until the lease ends');
      await store.close();
      store = await kind.reopen();
      assert.deepEqual(await store.releaseStaleLeases('test', 3_000, { possiblyTwice: true }), { sms: 3, mail: 0 });
      assert.equal(await store.nextSmsDueAt(), 3_000);
      const [batch] = await claim(store, 1, 100, 3_000);
      assert.equal(batch?.sms.length, 3);
      assert.deepEqual(
        batch?.sms.map((sms) => sms.attempts),
        [1, 1, 1],
      );
      const kinds = (await store.events(batch?.message.id ?? '')).map((event) => event.kind);
      assert.equal(kinds.filter((kind) => kind === 'resumed').length, 3);
      await store.close();
    });

    test('outgoing mail queue: enqueue, claim with a lease, retry, sent', async () => {
      await store.enqueueMail([{ kind: 'bounce', messageId: undefined, envelopeFrom: '', recipients: ['alice@example.com'], raw: Buffer.from('x') }]);
      const now = Date.now();
      const [claimed] = await store.claimDueMail({ owner: 'test', now, leaseUntil: now + 1000, limit: 5 });
      assert.ok(claimed);
      assert.deepEqual(claimed.recipients, ['alice@example.com']);
      assert.equal(claimed.raw.toString(), 'x');
      assert.deepEqual(await store.claimDueMail({ owner: 'test', now, leaseUntil: now + 1000, limit: 5 }), []);
      await store.recordMailOutcome({ id: claimed.id, kind: 'retry', nextAttemptAt: now + 10, error: 'smarthost down' });
      const [retried] = await store.claimDueMail({ owner: 'test', now: now + 10, leaseUntil: now + 1000, limit: 5 });
      assert.equal(retried?.attempts, 1);
      await store.recordMailOutcome({ id: claimed.id, kind: 'sent', response: '250 ok' });
      assert.equal(await store.nextMailDueAt(), undefined);
      await store.close();
    });

    test('a mail whose lease ended, or was resumed at start, is claimed with that attempt counted: it may have been delivered', async () => {
      const mailOf = (text: string) => ({
        kind: 'bounce' as const,
        messageId: undefined,
        envelopeFrom: '',
        recipients: ['alice@example.com'],
        raw: Buffer.from(text),
      });
      await store.enqueueMail([mailOf('taken over')]);
      const now = Date.now();
      // alpha's lease has ended when beta claims (alpha froze or died): no real wait, on either clock.
      assert.deepEqual(
        (await store.claimDueMail({ owner: 'alpha', now, leaseUntil: now - 1_000, limit: 5 })).map((mail) => mail.attempts),
        [0],
      );
      assert.deepEqual(
        (await store.claimDueMail({ owner: 'beta', now, leaseUntil: now + 60_000, limit: 5 })).map((mail) => mail.attempts),
        [1],
      );
      await store.enqueueMail([mailOf('resumed')]);
      const later = Date.now() + 1;
      assert.deepEqual(
        (await store.claimDueMail({ owner: 'beta', now: later, leaseUntil: later + 60_000, limit: 5 })).map((mail) => mail.attempts),
        [0],
      );
      // beta restarts: its leases are resumed, each an attempt.
      await store.releaseStaleLeases('beta', later, { possiblyTwice: true });
      const resumed = await store.claimDueMail({ owner: 'beta', now: later + 1, leaseUntil: later + 60_000, limit: 5 });
      assert.deepEqual(resumed.map((mail) => [mail.raw.toString(), mail.attempts]).sort(), [
        ['resumed', 1],
        ['taken over', 2],
      ]);
      await store.close();
    });

    test('mail waiting on its backoff is listed by status with its error, and made due at once when the transport works again; a leased mail is left alone', async () => {
      const bounce = (text: string) => ({
        kind: 'bounce' as const,
        messageId: undefined,
        envelopeFrom: '',
        recipients: ['alice@example.com'],
        raw: Buffer.from(text),
      });
      await store.enqueueMail([bounce('deferred'), bounce('in flight')]);
      const now = Date.now();
      const [deferred, inFlight] = await store.claimDueMail({ owner: 'test', now, leaseUntil: now + 60_000, limit: 5 });
      assert.ok(deferred && inFlight);
      await store.recordMailOutcome({ id: deferred.id, kind: 'retry', nextAttemptAt: now + 3_600_000, error: 'Maildir full' });
      assert.match(
        await status(store, now, { pid: undefined, name: 'test', database: kind.name === 'PostgreSQL' }),
        new RegExp(`^last error mail ${deferred.id} \\(bounce\\): Maildir full$`, 'm'),
        'status lists it',
      );
      assert.equal(await store.mailDueNow(now + 1), 1);
      const claimed = await store.claimDueMail({ owner: 'test', now: now + 1, leaseUntil: now + 60_000, limit: 5 });
      assert.deepEqual(
        claimed.map((mail) => mail.raw.toString()),
        ['deferred'],
      );
      await store.close();
    });

    test("a mail for the postmaster is queued under its own kind, with its message's history line", async () => {
      const raw = Buffer.from('Received: from client\r\n\r\nfor the postmaster\r\n');
      await store.enqueueMail([{ kind: 'postmaster', messageId: 'pm-1', envelopeFrom: '', recipients: ['ops@example.com'], raw }]);
      const now = Date.now();
      const [claimed] = await store.claimDueMail({ owner: 'test', now, leaseUntil: now + 1000, limit: 5 });
      assert.equal(claimed?.kind, 'postmaster');
      assert.equal(claimed?.messageId, 'pm-1');
      assert.equal(claimed?.envelopeFrom, '');
      assert.ok(claimed?.raw.equals(raw));
      await store.recordMailOutcome({ id: claimed.id, kind: 'sent', response: '250 ok' });
      assert.deepEqual(
        (await store.events('pm-1')).map((event) => [event.kind, event.detail]),
        [
          ['postmaster queued', `mail ${claimed.id} to ops@example.com`],
          ['mail sent', '250 ok'],
        ],
      );
      await store.close();
    });

    test('at start a relay frees its own and expired leases, never a live lease of another relay', async () => {
      const now = Date.now();
      const [mine, others, expired] = [mail(['+447700900101']), mail(['+447700900102']), mail(['+447700900103'])];
      for (const accepted of [mine, others, expired]) await store.acceptMail({ ...accepted, receivedAt: now - 1_000 });
      assert.equal((await claim(store, 1, 1, now, 'relay-a')).length, 1);
      assert.equal((await claim(store, 1, 1, now, 'relay-b')).length, 1, 'relay-b sends this one right now');
      assert.equal((await claim(store, 1, 1, now, 'relay-c', -1)).length, 1, 'relay-c died and its lease ran out');
      await store.close();
      store = await kind.reopen();
      assert.deepEqual(await store.releaseStaleLeases('relay-a', now, { possiblyTwice: true }), { sms: 2, mail: 0 });
      const resumed = await claim(store, 5, 1, now + 1);
      assert.deepEqual(resumed.map((batch) => batch.message.id).sort(), [mine.id, expired.id].sort(), 'the live lease of relay-b stays its own');
      assert.deepEqual(
        (await store.events(others.id)).map((event) => event.kind),
        ['accepted'],
      );
      await store.close();
    });
  }),
);
