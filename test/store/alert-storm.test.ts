import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import type { NewMail, Store } from '../../src/store/types.ts';
import { claim, mail } from '../helpers/store.ts';
import { forEachStore } from '../helpers/stores.ts';

const PHONE = '+447700900150';
const WINDOW_START = 500;

/**
 * Alert-storm control in Store#acceptMail (src/store/alert-storm.ts), on both stores: a number is folded only when its
 * latest SMS within the window is of the same text and has not failed, decided in the commit's transaction.
 */
forEachStore((kind) =>
  describe('alert-storm fold', () => {
    let store: Store;
    let at = 1_000;
    beforeEach(async () => {
      store = await kind.fresh();
    });
    /** An alert of `text` to `numbers`, the window on from WINDOW_START unless `since` says. */
    const alert = (text: string, numbers: readonly string[] = [PHONE], overrides: Partial<NewMail> = {}): NewMail => {
      const base = mail(numbers, { receivedAt: at++, ...overrides });
      return { ...base, sms: { ...base.sms, text }, alertStorm: { since: WINDOW_START }, ...overrides };
    };
    const smsTo = async (id: string) => (await store.smsOf(id)).map((sms) => sms.number);

    test('PROBLEM, RECOVERY, PROBLEM: each sent, as another text came between; a true repeat is folded, both mails say against which', async () => {
      const problem = alert('PROBLEM web1/HTTP is CRITICAL');
      assert.deepEqual((await store.acceptMail(problem)).folded, []);
      const recovery = alert('RECOVERY web1/HTTP is OK');
      assert.deepEqual((await store.acceptMail(recovery)).folded, []);
      const again = alert('PROBLEM web1/HTTP is CRITICAL');
      assert.deepEqual((await store.acceptMail(again)).folded, [], 'the state came back after a recovery: texted');
      assert.deepEqual(await smsTo(again.id), [PHONE]);
      const repeat = alert('PROBLEM web1/HTTP is CRITICAL');
      assert.deepEqual((await store.acceptMail(repeat)).folded, [{ number: PHONE, earlier: again.id }], 'the same alert again: folded');
      assert.deepEqual(await smsTo(repeat.id), []);
      assert.deepEqual(
        (await store.events(repeat.id)).map((event) => [event.kind, event.smsId, event.detail]),
        [
          [
            'folded',
            undefined,
            `${PHONE.slice(1)}@sms.localhost -> ${PHONE}: the same text as ${again.id}, the latest to it, within policy.alertStormWindow: not sent again`,
          ],
        ],
      );
      const [sms] = await store.smsOf(again.id);
      assert.deepEqual(
        (await store.events(again.id)).filter((event) => event.kind === 'repeated').map((event) => [event.smsId, event.detail]),
        [[sms?.smsId, `the same text again in ${repeat.id}, within policy.alertStormWindow: not sent again`]],
      );
      await store.close();
    });

    test('a resend of an SMS that failed, was reported failed, or was deleted is sent; one queued or sent is folded', async () => {
      const [failed, reported, deleted, sent] = ['+447700900661', '+447700900662', '+447700900663', '+447700900664'];
      const first = alert('Fire alarm zone 3', [failed, reported, deleted, sent]);
      await store.acceptMail(first);
      const [batch] = await claim(store, 1, 10);
      const id = (number: string) => batch?.sms.find((sms) => sms.number === number)?.id ?? 0;
      await store.recordSmsOutcomes([
        { smsId: id(failed), kind: 'failed', error: 'ERR:INVALID_NUMBER' },
        { smsId: id(reported), kind: 'sent', providerId: 'R1' },
        { smsId: id(sent), kind: 'sent', providerId: 'S1' },
        // Waiting for its retry, no longer leased: the operator may delete it.
        { smsId: id(deleted), kind: 'retry', nextAttemptAt: at + 60_000, error: 'HTTP_503: busy', attempted: true },
      ]);
      await store.applyDeliveryReport({ provider: 'intellisoftware', providerId: 'R1', number: reported, code: 6, state: 'failed', receivedAt: at++ });
      assert.equal((await store.applyQueueAction('delete', first.id, at++)).changed, 1);
      const resend = alert('Fire alarm zone 3', [failed, reported, deleted, sent]);
      assert.deepEqual((await store.acceptMail(resend)).folded, [{ number: sent, earlier: first.id }]);
      assert.deepEqual((await smsTo(resend.id)).sort(), [failed, reported, deleted].sort());
      const queuedRepeat = alert('Fire alarm zone 3', [failed]);
      assert.deepEqual((await store.acceptMail(queuedRepeat)).folded, [{ number: failed, earlier: resend.id }], 'queued: the phone will get it');
      await store.close();
    });

    test('outside the window, or with the window off, the same text is sent', async () => {
      const first = alert('Disk full on db1');
      await store.acceptMail(first);
      assert.deepEqual((await store.acceptMail(alert('Disk full on db1', [PHONE], { alertStorm: { since: at } }))).folded, [], 'before the window');
      const off = alert('Disk full on db1', [PHONE], { alertStorm: undefined });
      assert.deepEqual((await store.acceptMail(off)).folded, []);
      assert.deepEqual(await smsTo(off.id), [PHONE]);
      await store.close();
    });

    test('identical alerts committed at once: one is sent, the others folded into it', async () => {
      const storm = Array.from({ length: 4 }, () => alert('race storm 7'));
      const accepted = await Promise.all(storm.map((each) => store.acceptMail(each)));
      const sent = storm.filter((_, index) => accepted[index]?.folded.length === 0);
      assert.equal(sent.length, 1, 'one SMS for four identical alerts');
      assert.deepEqual(
        accepted.flatMap((result) => result.folded.map((fold) => fold.earlier)),
        [sent[0]?.id, sent[0]?.id, sent[0]?.id],
      );
      await store.close();
    });

    test("a folded number's report is queued in the mail's transaction; an unfolded number's, and a resubmission's, never", async () => {
      const report = (id: string) => ({
        kind: 'notice' as const,
        messageId: id,
        envelopeFrom: '',
        recipients: ['alice@example.com'],
        raw: Buffer.from(`folded ${id}`),
      });
      const first = alert('UPS on battery', [PHONE], { messageIdHeader: '<ups@example.com>' });
      await store.acceptMail(first);
      const withReports = (base: NewMail, numbers: readonly string[]): NewMail => ({
        ...base,
        alertStorm: { since: WINDOW_START, reports: numbers.map((number) => ({ number, report: report(base.id) })) },
      });
      const other = '+447700900151';
      const repeat = withReports(alert('UPS on battery', [PHONE, other]), [PHONE, other]);
      assert.deepEqual((await store.acceptMail(repeat)).folded, [{ number: PHONE, earlier: first.id }]);
      const resubmission = { fingerprint: 'ups', since: WINDOW_START };
      const original = withReports(alert('UPS restored', [other], { messageIdHeader: '<ups2@example.com>', resubmission }), []);
      await store.acceptMail(original);
      const resent = withReports(alert('UPS restored', [other], { messageIdHeader: '<ups2@example.com>', resubmission }), [other]);
      assert.deepEqual(await store.acceptMail(resent), { duplicateOf: original.id, folded: [] }, 'a resubmission folds nothing: it stores nothing');
      assert.deepEqual(
        (await kind.rows('SELECT message_id, kind FROM mail_out ORDER BY id')).map((row) => [row.message_id, row.kind]),
        [[repeat.id, 'notice']],
      );
      assert.deepEqual(
        (await store.events(resent.id)).map((event) => event.kind),
        ['resubmission'],
        'nor any line of a fold',
      );
      await store.close();
    });
  }),
);
