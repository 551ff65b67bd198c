import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Templates } from '../../src/mailer/templates.ts';
import { vonagePlugin } from '../../src/providers/vonage/index.ts';
import { InboundService } from '../../src/replies/inbound.ts';
import { replyMailOptions } from '../../src/replies/reply-mail.ts';
import { ReplyTracking } from '../../src/replies/tracking.ts';
import type { Store } from '../../src/store/types.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { claim, mail } from '../helpers/store.ts';
import { forEachStore } from '../helpers/stores.ts';

const DAY_MS = 24 * 60 * 60_000;

/**
 * A delivery report saying the recipient opted out (Twilio's 21610 in a callback, Vonage's err-code 9), or
 * blaming the account, through the inbound service on each real store: the relay keeps the opt-out only for
 * an SMS sent on its own gateway account, as dispatch does for the same code in a send's answer.
 */
describe("a report's opt-out and account alert, by whose gateway account sent the SMS", () =>
  forEachStore((kind) => {
    /** Sends a mail to `number` (on `account`'s own gateway credentials, or the relay's) and records it sent under `providerId`. */
    const sent = async (store: Store, number: string, providerId: string, account?: string) => {
      await store.acceptMail(mail([number], { gatewayAccount: account }));
      const [batch] = await claim(store, 1, 10);
      const sms = batch?.sms[0];
      assert.ok(sms);
      await store.recordSmsOutcomes([{ smsId: sms.id, kind: 'sent', providerId }]);
    };

    /** The inbound service's sink for `provider` on `store`, as the relay binds it. */
    const sinkOn = (store: Store, logger: ReturnType<typeof captureLog>['logger'], provider = 'twilio') =>
      new InboundService({
        store,
        tracking: new ReplyTracking({ store, windowMs: 7 * DAY_MS, defaultMailbox: 'ops@example.com', logger }),
        replyMail: replyMailOptions({ sms: { domains: ['sms.example.com'] }, smtp: { hostname: 'relay.example.com' }, mail: {} }, new Templates()),
        keywords: { stop: ['STOP'], start: ['START'] },
        logger,
        onMailQueued: () => {},
        onReportApplied: () => {},
      }).sinkFor(provider);
    /** A failed report saying the number opted out, dated `at` by the gateway (undefined: it gives no time, as Twilio's callback). */
    const optedOut = (providerId: string, number: string, at?: number) => ({
      providerId,
      number,
      code: 21610,
      state: 'failed' as const,
      optedOut: { code: 'TWILIO:21610', at },
    });

    test("a user's own account's opt-out is not the relay's STOP; the relay's is, dated when the report says; an orphan's is not kept", async () => {
      const store = await kind.fresh();
      const { logger, lines } = captureLog('info');
      try {
        const sink = sinkOn(store, logger);
        const logged = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);

        await sent(store, '+447700900301', 'SM-USER', 'billing');
        assert.deepEqual(await sink.reported([optedOut('SM-USER', '+447700900301')]), ['advanced']);
        assert.equal(await store.isOptedOut('+447700900301'), false, "billing's own Twilio account's opt-out refuses no other sender's mail");
        assert.ok(
          logged().some(
            (line) =>
              line['account'] === 'billing' &&
              line['msg'] === "inbound: the gateway says the number opted out of account billing's own messages: not a STOP for the relay's",
          ),
        );

        await sent(store, '+447700900302', 'SM-RELAY');
        // Refused after its send, the report arriving a moment later.
        const failedAt = Date.now();
        await new Promise((resolve) => setTimeout(resolve, 20));
        assert.deepEqual(await sink.reported([optedOut('SM-RELAY', '+447700900302', failedAt)]), ['advanced']);
        assert.equal(await store.optOutKeyword('+447700900302'), 'gateway:TWILIO:21610');
        const [kept] = await kind.rows("SELECT since FROM opt_outs WHERE number = '+447700900302'");
        assert.equal(Number(kept?.['since']), failedAt, 'the time the report gives, not its arrival');

        // The SMS is not known yet: whose account sent it is not either.
        assert.deepEqual(await sink.reported([optedOut('SM-NOT-YET', '+447700900303')]), ['orphan']);
        assert.equal(await store.isOptedOut('+447700900303'), false);

        // An account failure on the user's own credentials names that account, as dispatch's alert does.
        await sent(store, '+447700900304', 'SM-USER-2', 'billing');
        await sink.reported([{ providerId: 'SM-USER-2', number: '+447700900304', code: 30002, state: 'failed', accountWide: true }]);
        const alert = logged().find((line) => line['alert'] === 'gateway-account');
        assert.equal(alert?.['account'], 'billing');
        assert.match(String(alert?.['msg']), /account billing's own gateway account or sender cannot send \(twilio status 30002\)/);
        // Without a fix of the code's own: the account at the provider, not the credentials (the SMS was sent with them).
        assert.match(String(alert?.['msg']), /fix the account at the provider/);
        assert.doesNotMatch(String(alert?.['msg']), /credentials in the settings/);

        // Twilio posting the same callback again: already alerted, and no line against the relay's own account.
        await sink.reported([{ providerId: 'SM-USER-2', number: '+447700900304', code: 30002, state: 'failed', accountWide: true }]);
        const about = (code: number) => logged().filter((line) => line['code'] === code && String(line['msg']).includes('cannot send'));
        assert.equal(about(30002).length, 1, 'a repeated callback raises no second alert');

        // A report that changes no state (it came after the final one) still knows whose account sent its SMS.
        await sent(store, '+447700900305', 'SM-USER-3', 'billing');
        assert.deepEqual(await sink.reported([{ providerId: 'SM-USER-3', number: '+447700900305', code: 0, state: 'delivered' }]), ['advanced']);
        assert.deepEqual(await sink.reported([{ providerId: 'SM-USER-3', number: '+447700900305', code: 30010, state: 'failed', accountWide: true }]), [
          'stale',
        ]);
        const [stale] = about(30010);
        assert.equal(stale?.['account'], 'billing');
        assert.match(String(stale?.['msg']), /account billing's own gateway account/);

        // An orphan's SMS is not known yet: neither is whose account sent it, and the alert says so rather than naming the relay's.
        assert.deepEqual(await sink.reported([{ providerId: 'SM-NOT-YET-2', number: '+447700900306', code: 30034, state: 'failed', accountWide: true }]), [
          'orphan',
        ]);
        const [orphan] = about(30034);
        assert.equal(orphan?.['account'], undefined);
        assert.match(String(orphan?.['msg']), /a gateway account not yet known/);
      } finally {
        await store.close();
      }
    });

    test("a gateway's opt-out dated before the number's last START does not opt it out again, whichever arrives first", async () => {
      const store = await kind.fresh();
      const { logger, lines } = captureLog('info');
      const tick = () => new Promise((resolve) => setTimeout(resolve, 5));
      try {
        const sink = sinkOn(store, logger, 'vonage');
        const number = '+447700900794';
        await sent(store, number, 'V-BEFORE-1');
        await sent(store, number, 'V-BEFORE-2');
        await tick();
        const startAt = Date.now();
        const [start] = await sink.received([
          { providerId: 'MO-START', number, text: 'START', sentAt: undefined, userContext: undefined, trackingId: undefined },
        ]);
        assert.equal(start?.status, 'accepted');
        await tick();

        // Vonage retried its receipt past the START: dated two minutes before it.
        assert.deepEqual(await sink.reported([optedOut('V-BEFORE-1', number, startAt - 120_000)]), ['advanced']);
        assert.equal(await store.isOptedOut(number), false, 'the START, after the receipt, stands');
        assert.ok(lines.some((line) => line.includes('opted out before it texted START: the START stands')));
        // A report without a time of its own (Twilio's callback) is dated by its SMS's send, before the START: arriving after
        // it, it does not opt out for good a phone just told it is subscribed again.
        assert.deepEqual(await sink.reported([optedOut('V-BEFORE-2', number)]), ['advanced']);
        assert.equal(await store.isOptedOut(number), false, 'dated by its send, before the START');

        // A second START, then a send's refusal dated after it (dispatch's): it counts; one dated before does not.
        await tick();
        const secondStartAt = Date.now();
        await sink.received([{ providerId: 'MO-START-2', number, text: 'START', sentAt: undefined, userContext: undefined, trackingId: undefined }]);
        assert.equal(await store.isOptedOut(number), false);
        assert.equal(await store.recordOptOut(number, secondStartAt - 1, 'gateway:TWILIO:21610'), false);
        assert.equal(await store.isOptedOut(number), false);
        assert.equal(await store.recordOptOut(number, Date.now() + 1_000, 'gateway:TWILIO:21610'), true);
        assert.equal(await store.isOptedOut(number), true);
      } finally {
        await store.close();
      }
    });

    test('a receipt dated in whole seconds is never dated before its SMS was sent', async () => {
      const store = await kind.fresh();
      const { logger } = captureLog('info');
      try {
        const sink = sinkOn(store, logger, 'vonage');
        const number = '+447700900795';
        // The START a fifth into a second, the send after it in the same second: Vonage's receipt names that whole second.
        while (Date.now() % 1_000 < 200 || Date.now() % 1_000 > 600) await new Promise((resolve) => setTimeout(resolve, 10));
        const [start] = await sink.received([
          { providerId: 'MO-START', number, text: 'START', sentAt: undefined, userContext: undefined, trackingId: undefined },
        ]);
        assert.equal(start?.status, 'accepted');
        await sent(store, number, 'V-AFTER-START');
        const second = new Date(Math.floor(Date.now() / 1_000) * 1_000).toISOString().replace('T', ' ').slice(0, 19);
        const receipt = vonagePlugin.parseReport?.({
          contentType: '',
          body: '',
          headers: {},
          method: 'GET',
          query: new URLSearchParams({
            msisdn: number.slice(1),
            to: 'AcmeInc',
            messageId: 'V-AFTER-START',
            status: 'rejected',
            'err-code': '9',
            'message-timestamp': second,
          }),
        });
        assert.ok(receipt?.ok);
        assert.deepEqual(await sink.reported((await sink.placeReports(receipt.items)).reports), ['advanced']);
        assert.equal(await store.optOutKeyword(number), 'gateway:VONAGE:err-code 9', 'refused after the START it was sent after');

        // Dated by the gateway before its SMS was sent (a clock behind): a refusal comes after its send, so it counts.
        await sink.received([{ providerId: 'MO-START-2', number, text: 'START', sentAt: undefined, userContext: undefined, trackingId: undefined }]);
        await sent(store, number, 'V-SKEWED');
        assert.deepEqual(await sink.reported([optedOut('V-SKEWED', number, Date.now() - 60_000)]), ['advanced']);
        assert.equal(await store.isOptedOut(number), true);
      } finally {
        await store.close();
      }
    });
  }));
