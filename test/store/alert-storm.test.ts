import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import type { FoldedRecipient, NewMail, Store } from '../../src/store/types.ts';
import { claim, mail } from '../helpers/store.ts';
import { forEachStore } from '../helpers/stores.ts';

const PHONE = '+447700900150';

/**
 * The store's part of alert-storm control (src/acceptance/alert-storm.ts decides): Store#latestSmsTo, each number's latest
 * SMS with what a fold compares, and Store#acceptMail's history lines of a folded number, on both stores.
 */
forEachStore((kind) =>
  describe('alert-storm store', () => {
    let store: Store;
    let at = 1_000;
    beforeEach(async () => {
      store = await kind.fresh();
    });
    const alert = (text: string, numbers: readonly string[] = [PHONE], overrides: Partial<NewMail> = {}): NewMail => {
      const base = mail(numbers, { receivedAt: at++, ...overrides });
      return { ...base, sms: { ...base.sms, text, ...overrides.sms } };
    };
    const accepted = async (latest: Promise<readonly { number: string; accepted: boolean }[]>) =>
      Object.fromEntries((await latest).map((sms) => [sms.number, sms.accepted]));

    test('latestSmsTo: the latest SMS to each number within the window, its sender, and whether the gateway took it with no failure since', async () => {
      const [queued, sent, reported, refused, deleted, held] = [
        '+447700900661',
        '+447700900662',
        '+447700900663',
        '+447700900664',
        '+447700900665',
        '+447700900666',
      ];
      const first = alert('Fire alarm zone 3', [sent, reported, refused, deleted, held], {
        envelopeFrom: 'nagios@example.com',
        account: 'ops',
        gatewayAccount: 'ops',
        sms: { text: 'Fire alarm zone 3', encoding: 'gsm7', parts: 1, maxParts: 6, senderId: 'Acme', userContext: 'ctx1' },
        conversation: { mailbox: 'oncall@example.com', continues: false },
      });
      await store.acceptMail(first);
      const [batch] = await claim(store, 1, 10);
      const id = (number: string) => batch?.sms.find((sms) => sms.number === number)?.id ?? 0;
      await store.recordSmsOutcomes([
        { smsId: id(sent), kind: 'sent', providerId: 'S1' },
        { smsId: id(reported), kind: 'sent', providerId: 'R1' },
        { smsId: id(refused), kind: 'failed', error: 'ERR:INVALID_NUMBER' },
        { smsId: id(deleted), kind: 'retry', nextAttemptAt: at + 60_000, error: 'HTTP_503: busy', attempted: true },
        { smsId: id(held), kind: 'retry', nextAttemptAt: at + 60_000, error: 'HTTP_503: busy', attempted: true },
      ]);
      await store.applyDeliveryReport({ provider: 'intellisoftware', providerId: 'R1', number: reported, code: 6, state: 'failed', receivedAt: at++ });
      assert.equal((await store.applyQueueAction('delete', { messageId: first.id, smsId: id(deleted) }, at++)).changed, 1);
      assert.equal((await store.applyQueueAction('hold', { messageId: first.id, smsId: id(held) }, at++)).changed, 1);
      await store.acceptMail(alert('Fire alarm zone 3', [queued]));
      assert.deepEqual(await accepted(store.latestSmsTo([queued, sent, reported, refused, deleted, held, '+447700900669'], 0)), {
        [queued]: false,
        [sent]: true,
        [reported]: false,
        [refused]: false,
        [deleted]: false,
        [held]: false,
      });
      const [latest] = await store.latestSmsTo([sent], 0);
      assert.deepEqual(latest, {
        number: sent,
        smsId: id(sent),
        messageId: first.id,
        receivedAt: first.receivedAt,
        text: 'Fire alarm zone 3',
        envelopeFrom: 'nagios@example.com',
        senderId: 'Acme',
        account: 'ops',
        gatewayAccount: 'ops',
        userContext: 'ctx1',
        mailbox: 'oncall@example.com',
        accepted: true,
      });
      assert.deepEqual(await store.latestSmsTo([sent], first.receivedAt + 1), [], 'outside the window: none');
      await store.acceptMail(alert('RECOVERY', [sent]));
      assert.equal((await store.latestSmsTo([sent], 0))[0]?.text, 'RECOVERY', 'the latest only');
      await store.close();
    });

    test("a folded number's lines: its own on the mail, and one repeated line on the earlier SMS however many repeats; none for a resubmission", async () => {
      const first = alert('UPS on battery');
      await store.acceptMail(first);
      const [sms] = await store.smsOf(first.id);
      const fold = (base: NewMail): NewMail => {
        const folded: FoldedRecipient[] = base.recipients.map((recipient) => ({ ...recipient, earlier: first.id, earlierSms: sms?.smsId ?? 0 }));
        return { ...base, recipients: [], folded };
      };
      const repeats = [fold(alert('UPS on battery')), fold(alert('UPS on battery'))];
      for (const repeat of repeats) assert.deepEqual(await store.acceptMail(repeat), { duplicateOf: undefined });
      for (const repeat of repeats) {
        assert.deepEqual(await store.smsOf(repeat.id), []);
        assert.deepEqual(
          (await store.events(repeat.id)).map((event) => [event.kind, event.smsId, event.detail]),
          [
            [
              'folded',
              undefined,
              `${PHONE.slice(1)}@sms.localhost -> ${PHONE}: the same alert as ${first.id}, whose SMS the gateway took, within policy.alertStormWindow: not sent again`,
            ],
          ],
        );
      }
      assert.deepEqual(
        (await store.events(first.id)).filter((event) => event.kind === 'repeated').map((event) => [event.smsId, event.detail]),
        [
          [
            sms?.smsId,
            `the same alert again in ${repeats[0]?.id}, within policy.alertStormWindow: not sent again (later repeats say so in their own history only)`,
          ],
        ],
      );
      const resubmission = { fingerprint: 'ups', since: 0 };
      const original = alert('UPS restored', [PHONE], { messageIdHeader: '<ups2@example.com>', resubmission });
      await store.acceptMail(original);
      const resent = fold(alert('UPS restored', [PHONE], { messageIdHeader: '<ups2@example.com>', resubmission }));
      assert.deepEqual(await store.acceptMail({ ...resent, recipients: original.recipients }), { duplicateOf: original.id });
      assert.deepEqual(
        (await store.events(resent.id)).map((event) => event.kind),
        ['resubmission'],
        'a resubmission stores no line of a fold',
      );
      await store.close();
    });

    test('a mail every number of which was folded is what its resend folds into: the resend (its 250 lost) is not texted once the fold no longer holds', async () => {
      const first = alert('PROBLEM web1');
      await store.acceptMail(first);
      const [sms] = await store.smsOf(first.id);
      const resubmission = { fingerprint: 'web1', since: 0, date: 'Mon, 7 Dec 2026 10:00:00 +0000' };
      const repeat = alert('PROBLEM web1', [PHONE], { messageIdHeader: '<web1@example.com>', resubmission });
      const folded: FoldedRecipient[] = repeat.recipients.map((recipient) => ({ ...recipient, earlier: first.id, earlierSms: sms?.smsId ?? 0 }));
      assert.deepEqual(await store.acceptMail({ ...repeat, recipients: [], folded }), { duplicateOf: undefined });
      // The server sends it again (its 250 lost) after a RECOVERY went to the number: the alert-storm rule folds it no more.
      const again = alert('PROBLEM web1', [PHONE], { messageIdHeader: '<web1@example.com>', resubmission });
      assert.deepEqual(await store.acceptMail(again), { duplicateOf: repeat.id });
      assert.deepEqual(await store.smsOf(again.id), []);
      await store.close();
    });
  }),
);
