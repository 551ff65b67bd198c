/**
 * A delivery report that names its SMS by the relay's own reference while the SMS's attempt is in flight (leased): kept,
 * and decided in the attempt's outcome's commit, on both stores; or, when that relay stops or dies with the attempt in
 * flight, where its lease is released (a start) or taken over. Two stores on one database stand for two relays.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import type { ClaimedSms, NewDeliveryReport, SmsOutcome, Store } from '../../src/store/types.ts';
import { mail } from '../helpers/store.ts';
import { forEachStore } from '../helpers/stores.ts';

const NUMBERS = ['+447700900601', '+447700900602', '+447700900603', '+447700900604'];
const TIMED_OUT = { kind: 'retry', nextAttemptAt: 50_000, error: 'RESPONSE_TIMEOUT: no answer', attempted: true, possibleDuplicate: true } as const;

forEachStore((kind) =>
  describe('a report while its SMS is in flight', () => {
    let store: Store;
    let messageId: string;
    let sms: readonly ClaimedSms[];
    beforeEach(async () => {
      store = await kind.fresh();
      const accepted = mail(NUMBERS);
      await store.acceptMail({ ...accepted, sms: { ...accepted.sms, userContext: 'ctx-1' } });
      const [batch] = await store.claimDueSms({ owner: 'relay-a', now: 2_000, leaseUntil: 62_000, maxBatches: 1, batchSize: 10 });
      messageId = batch?.message.id ?? '';
      sms = batch?.sms ?? [];
      assert.equal(sms.length, NUMBERS.length);
    });
    const report = (number: string, providerId: string, at = 3_000): NewDeliveryReport => ({
      provider: 'interactsms',
      providerId,
      number,
      code: 1,
      state: 'delivered',
      receivedAt: at,
      messageId,
      trackingId: providerId,
    });
    const lines = async (smsId: number) =>
      (await store.events(messageId)).filter((event) => event.smsId === smsId && event.kind !== 'accepted').map((event) => [event.kind, event.detail]);

    test('kept, then the outcome decides: no answer records it sent with the report, a send answer adopts it once, a failure leaves it an orphan', async () => {
      const [timedOut, answered, failed, untouched] = sms;
      assert.ok(timedOut && answered && failed && untouched);
      for (const [target, id] of [
        [timedOut, 'N-1'],
        [answered, 'N-2'],
        [failed, 'N-3'],
      ] as const) {
        assert.equal((await store.applyDeliveryReport(report(target.number, id))).kind, 'orphan', 'kept for the attempt in flight');
        // The provider posts it again: a repeat, still not applied.
        assert.equal((await store.applyDeliveryReport(report(target.number, id, 3_100))).kind, 'duplicate');
      }
      assert.deepEqual(
        (await store.smsOf(messageId)).map((state) => [state.status, state.delivery]),
        NUMBERS.map(() => ['queued', undefined]),
        'nothing applied while in flight',
      );
      const outcomes: SmsOutcome[] = [
        { smsId: timedOut.id, ...TIMED_OUT },
        { smsId: answered.id, kind: 'sent', providerId: 'N-2' },
        { smsId: failed.id, kind: 'failed', error: 'REFUSED: no' },
        { smsId: untouched.id, ...TIMED_OUT },
      ];
      assert.deepEqual(await store.recordSmsOutcomes(outcomes, [], 'relay-a'), []);
      const states = await store.smsOf(messageId);
      assert.deepEqual(
        states.map((state) => [state.status, state.delivery, state.attempts, state.possibleDuplicates, state.providerId]),
        [
          ['sent', 'delivered', 1, 0, 'N-1'],
          ['sent', 'delivered', 1, 0, 'N-2'],
          ['failed', undefined, 1, 0, undefined],
          ['queued', undefined, 1, 1, undefined],
        ],
      );
      assert.deepEqual(await lines(timedOut.id), [
        [
          'sent',
          "id N-1; the gateway's delivery report for it came while an attempt had no answer yet, which then ended with none (RESPONSE_TIMEOUT: no answer): the gateway took it, so it is not sent again",
        ],
        ['delivery report', 'delivered (provider status 1)'],
      ]);
      assert.deepEqual(await lines(answered.id), [
        ['sent', 'id N-2'],
        ['delivery report', 'delivered (provider status 1)'],
      ]);
      assert.equal(await store.contextOfTracking('N-1', timedOut.number), 'ctx-1', 'replies naming the report id find its conversation');
      // Applied once: a repeat now is one.
      assert.equal((await store.applyDeliveryReport(report(timedOut.number, 'N-1', 4_000))).kind, 'duplicate');
      assert.equal((await store.applyDeliveryReport(report(answered.number, 'N-2', 4_000))).kind, 'duplicate');
      // The failed SMS keeps no id of the report: a later report of it is an orphan, and moves nothing.
      assert.equal((await store.applyDeliveryReport({ ...report(failed.number, 'N-3', 4_000), state: 'failed', code: 2 })).kind, 'orphan');
      assert.deepEqual(
        await store
          .claimDueSms({ owner: 'relay-b', now: 100_000, leaseUntil: 160_000, maxBatches: 1, batchSize: 10 })
          .then((batches) => batches.flatMap((batch) => batch.sms.map((claimed) => claimed.id))),
        [untouched.id],
        'only the SMS with no report is sent again',
      );
      await store.close();
    });

    test("a report another relay keeps while the first relay has the SMS in flight is decided by the first relay's outcome", async () => {
      const [first] = sms;
      assert.ok(first);
      const other = kind.name === 'PostgreSQL' ? await kind.reopen() : store;
      assert.equal((await other.applyDeliveryReport(report(first.number, 'N-9'))).kind, 'orphan');
      await store.recordSmsOutcomes([{ smsId: first.id, ...TIMED_OUT }], [], 'relay-a');
      assert.deepEqual(
        (await store.smsOf(messageId)).slice(0, 1).map((state) => [state.status, state.delivery, state.possibleDuplicates]),
        [['sent', 'delivered', 0]],
      );
      if (other !== store) await other.close();
      await store.close();
    });
  }),
);

/** The sent line of an SMS a report named in flight whose attempt ended with none, `ended` saying how. */
const sentByTheReport = (id: string, ended: string) =>
  `id ${id}; the gateway's delivery report for it came while an attempt had no answer yet, which then ended with none (${ended}): the gateway took it, so it is not sent again`;

forEachStore((kind) =>
  describe('a report while its SMS is in flight, then its relay stops or dies before the answer', () => {
    let store: Store;
    let messageId: string;
    let sms: readonly ClaimedSms[];
    let now: number;
    beforeEach(async () => {
      store = await kind.fresh();
      await store.acceptMail(mail(NUMBERS));
      now = Date.now();
      // relay-a's lease has ended by every clock (its heartbeat stopped with it): as after a kill -9, or a stop given up.
      const [batch] = await store.claimDueSms({ owner: 'relay-a', now, leaseUntil: now - 1_000, maxBatches: 1, batchSize: 10 });
      messageId = batch?.message.id ?? '';
      sms = batch?.sms ?? [];
      assert.equal(sms.length, NUMBERS.length);
      const [first] = sms;
      const report: NewDeliveryReport = {
        provider: 'vonage',
        providerId: 'N-1',
        number: first?.number ?? '',
        code: 0,
        state: 'delivered',
        receivedAt: now,
        messageId,
      };
      assert.equal((await store.applyDeliveryReport(report)).kind, 'orphan', 'kept for the attempt in flight');
    });
    const lines = async (smsId: number | undefined) =>
      (await store.events(messageId)).filter((event) => event.smsId === smsId && event.kind !== 'accepted').map((event) => [event.kind, event.detail]);
    const states = async () =>
      (await store.smsOf(messageId)).map((state) => [state.status, state.delivery, state.attempts, state.possibleDuplicates, state.providerId]);

    test('its relay started again: the SMS is sent by the report, not resumed; the others are resumed and counted', async () => {
      await store.close();
      store = await kind.reopen();
      assert.deepEqual(await store.releaseStaleLeases('relay-a', now, { possiblyTwice: true }), { sms: 3, mail: 0 }, 'three may reach the gateway twice');
      assert.deepEqual(await states(), [['sent', 'delivered', 1, 0, 'N-1'], ...NUMBERS.slice(1).map(() => ['queued', undefined, 1, 1, undefined])]);
      assert.deepEqual(await lines(sms[0]?.id), [
        ['sent', sentByTheReport('N-1', 'the relay sending it stopped')],
        ['delivery report', 'delivered (provider status 0)'],
      ]);
      assert.deepEqual(await lines(sms[1]?.id), [['resumed', 'was in flight when the relay stopped; may reach the gateway twice']]);
      const claimed = await store.claimDueSms({ owner: 'relay-a', now, leaseUntil: now + 60_000, maxBatches: 1, batchSize: 10 });
      assert.deepEqual(
        claimed.flatMap((batch) => batch.sms.map((one) => one.id)),
        sms.slice(1).map((one) => one.id),
        'the SMS sent by its report is not sent again',
      );
      await store.close();
    });

    test('its relay claims its own ended leases again (a claim whose answer was lost): the SMS is sent by the report, as at a takeover', async () => {
      const claimed = await store.claimDueSms({ owner: 'relay-a', now, leaseUntil: now + 60_000, maxBatches: 1, batchSize: 10 });
      assert.deepEqual(
        claimed.flatMap((batch) => batch.sms.map((one) => [one.id, one.takenOverFrom, one.attempts])),
        sms.slice(1).map((one) => [one.id, undefined, 0]),
        'the SMS sent by its report is not sent again',
      );
      // The lost claim sent nothing: no attempt counted, none resent.
      assert.deepEqual(await states(), [['sent', 'delivered', 0, 0, 'N-1'], ...NUMBERS.slice(1).map(() => ['queued', undefined, 0, 0, undefined])]);
      assert.deepEqual(await lines(sms[0]?.id), [
        ['sent', sentByTheReport('N-1', 'lease of relay relay-a expired')],
        ['delivery report', 'delivered (provider status 0)'],
      ]);
      assert.deepEqual(await lines(sms[1]?.id), []);
      await store.close();
    });

    test('another relay takes its leases over: the SMS is sent by the report, neither claimed nor taken over; the others are', async () => {
      const other = kind.name === 'PostgreSQL' ? await kind.reopen() : store;
      const claimed = await other.claimDueSms({ owner: 'relay-b', now, leaseUntil: now + 60_000, maxBatches: 1, batchSize: 10 });
      assert.deepEqual(
        claimed.flatMap((batch) => batch.sms.map((one) => [one.id, one.takenOverFrom, one.attempts])),
        sms.slice(1).map((one) => [one.id, 'relay-a', 1]),
        'the SMS sent by its report is not sent again',
      );
      assert.deepEqual(await states(), [['sent', 'delivered', 1, 0, 'N-1'], ...NUMBERS.slice(1).map(() => ['queued', undefined, 1, 1, undefined])]);
      assert.deepEqual(await lines(sms[0]?.id), [
        ['sent', sentByTheReport('N-1', 'lease of relay relay-a expired')],
        ['delivery report', 'delivered (provider status 0)'],
      ]);
      assert.deepEqual(await lines(sms[1]?.id), [['taken over', 'lease of relay relay-a expired: sent again by relay-b, possibly a duplicate']]);
      if (other !== store) await other.close();
      await store.close();
    });
  }),
);
