import assert from 'node:assert/strict';
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import { history } from '../../src/admin.ts';
import { Mailer } from '../../src/mailer/mailer.ts';
import { smarthostTransport } from '../../src/mailer/smarthost.ts';
import { createLogger } from '../../src/log.ts';
import type { Store } from '../../src/store/types.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { waitFor } from '../helpers/relay.ts';
import { SmtpSink } from '../helpers/smtp-sink.ts';
import { replyAnswer } from '../helpers/store.ts';
import { forEachStore } from '../helpers/stores.ts';
import { sleep } from '../helpers/wait.ts';

/**
 * findings/cluster.md 1 (round 3): a reply mail whose relay died while the smarthost was taking it is
 * mailed again by the relay that takes its lease over (SMTP has no idempotency), and that must be known
 * as for an SMS: a history line, a count `smsrelay log` shows, one warning per takeover. relay-a's claims
 * are made on the store as a relay that dies after them would have made them; relay-b is a real mailer
 * delivering to a real smarthost.
 */

/** relay-b's lease: its takeover line gathers a third of it (one heartbeat interval, src/takeovers.ts). */
const LEASE_MS = 3_000;
const RELAY = { hostname: 'relay.example.com', from: 'MAILER-DAEMON@sms.example.com', logger: createLogger('silent') };

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

forEachStore((kind) =>
  describe('mailer: mail taken over from a relay whose lease ended', () => {
    let store: Store;
    beforeEach(async () => {
      store = await kind.fresh();
    });
    afterEach(async () => {
      await store.close();
    });

    test('is sent again with a history line, counted as a possible duplicate, and logged once for the takeover', async () => {
      await store.acceptInbound(replyAnswer('in-a'));
      await store.acceptInbound(replyAnswer('in-b'));
      // relay-a died holding both: one lease has ended already, the other ends a moment later (claimed after its last heartbeat).
      const now = Date.now();
      const [first] = await store.claimDueMail({ owner: 'relay-a', now, leaseUntil: now + 300, limit: 1 });
      const [second] = await store.claimDueMail({ owner: 'relay-a', now, leaseUntil: now - 1_000, limit: 1 });
      assert.ok(first && second);

      const sink = await new SmtpSink().start();
      cleanups.push(() => sink.stop());
      const transport = smarthostTransport(sink.url, RELAY);
      cleanups.push(() => transport.close());
      const { logger, lines } = captureLog('debug');
      const mailer = new Mailer({ store, transport, logger, owner: 'relay-b', leaseMs: LEASE_MS, idleWaitMs: 100, retryMinDelayMs: 50, retryMaxDelayMs: 200 });
      cleanups.push(() => mailer.stop());
      mailer.start();
      await waitFor('both mails at the smarthost', () => sink.received.length === 2, 10_000);
      // The takeover's line comes once its interval is over.
      await sleep(LEASE_MS / 3 + 200);

      const takeovers = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => /^mailer: taking over mail/.test(String(entry.msg)));
      assert.deepEqual(
        takeovers.map((entry) => [entry.level, entry.mails, entry.from]),
        [['warn', 2, ['relay-a']]],
        'one line for the takeover, not one per claim',
      );
      await waitFor('both outcomes recorded', async () => (await store.events('in-b')).some((event) => event.kind === 'mail sent'), 5_000);
      for (const [id, mail] of [
        ['in-a', first],
        ['in-b', second],
      ] as const) {
        const events = await store.events(id);
        assert.deepEqual(
          events.map((event) => [event.kind, event.kind === 'mail sent' ? event.detail?.slice(0, 3) : event.detail]),
          [
            ['reply queued', `mail ${mail.id} to alice@example.com`],
            ['mail taken over', 'lease of relay relay-a expired: sent again by relay-b, possibly a duplicate'],
            ['mail sent', '250'],
          ],
        );
      }
      const log = await history(store, '+447700900123', Date.now());
      assert.equal(log.match(/to alice@example\.com, mail sent \(1 possible duplicate\)/g)?.length, 2, log);
    });

    test('a delivery the stop gave up on while the smarthost took it: at the next start its history says so and it counts as a possible duplicate', async () => {
      await store.acceptInbound(replyAnswer('in-cut'));
      const sink = await new SmtpSink().start();
      cleanups.push(() => sink.stop());
      // The smarthost has the whole mail and has not answered yet when the relay stops.
      let answer: () => void = () => undefined;
      sink.answerAfter = new Promise((resolve) => (answer = resolve));
      cleanups.push(() => answer());
      const transport = smarthostTransport(sink.url, RELAY);
      const { logger, lines } = captureLog('debug');
      const options = { store, logger, owner: 'relay-a', leaseMs: LEASE_MS, idleWaitMs: 100, retryMinDelayMs: 50, retryMaxDelayMs: 200 };
      const stopping = new Mailer({ ...options, transport });
      stopping.start();
      await waitFor('the smarthost holding the mail', () => sink.holding === 1, 10_000);
      await stopping.stop(100);
      assert.ok(
        lines.some((line) => line.includes('stopped with work still in flight')),
        'the stop gave the delivery up',
      );

      // The next start, as relay.ts makes it: its mail goes to a smarthost.
      assert.deepEqual(await store.releaseStaleLeases('relay-a', Date.now(), { possiblyTwice: true }), { sms: 0, mail: 1 });
      sink.answerAfter = undefined;
      answer();
      const again = smarthostTransport(sink.url, RELAY);
      cleanups.push(() => again.close());
      const restarted = new Mailer({ ...options, transport: again });
      cleanups.push(() => restarted.stop());
      restarted.start();
      await waitFor('the mail sent again', async () => (await store.events('in-cut')).some((event) => event.kind === 'mail sent'), 10_000);
      assert.deepEqual(
        (await store.events('in-cut')).map((event) => event.kind),
        ['reply queued', 'mail resumed', 'mail sent'],
      );
      const log = await history(store, '+447700900123', Date.now());
      assert.match(log, /to alice@example\.com, mail sent \(1 possible duplicate\)$/m, log);
    });
  }),
);
