import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Mailer } from '../../src/mailer/mailer.ts';
import { smarthostTransport } from '../../src/mailer/smarthost.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import type { NewInbound } from '../../src/store/types.ts';
import { createLogger } from '../../src/log.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { SmtpSink } from '../helpers/smtp-sink.ts';
import { storeFile } from '../helpers/store.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

/**
 * A mailer that answers after its lease ended and another relay took the mail over (the relay frozen, or
 * its heartbeat cut off, while the smarthost held its answer): its outcome is only history, so the
 * relay holding the lease is the only one delivering the mail. On SQLite, whose claims go by the
 * relay's clock: relay-a's stands still while relay-b's is past relay-a's lease, so relay-a's own loop
 * does not take its lease back meanwhile (on PostgreSQL's database clock it would, with no heartbeat
 * here to renew it); test/store/mail-lease.test.ts holds both stores' statements to the same rule.
 */

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

const LEASE_MS = 1_000;
/** How far relay-b's clock is ahead of relay-a's stopped one: well past relay-a's lease. */
const FROZEN_MS = 10 * 60_000;
const RELAY = { hostname: 'relay.example.com', from: 'MAILER-DAEMON@sms.example.com', logger: createLogger('silent') };

const answer: NewInbound = {
  id: 'in-taken',
  provider: 'intellisoftware',
  providerId: 'G-taken',
  number: '+447700900123',
  text: 'yes',
  sentAt: undefined,
  userContext: 'c1',
  receivedAt: 1_000,
  route: {
    mailbox: 'alice@example.com',
    context: 'c1',
    mail: {
      kind: 'reply',
      messageId: 'in-taken',
      envelopeFrom: '447700900123@sms.localhost',
      recipients: ['alice@example.com'],
      raw: Buffer.from('From: 447700900123@sms.localhost\r\nTo: alice@example.com\r\nMessage-ID: <in-taken@sms.localhost>\r\n\r\nyes\r\n'),
    },
    messageIdHeader: '<in-taken@sms.localhost>',
  },
};

describe('mailer: an outcome that comes after another relay took the mail over', () => {
  test("is kept as a history line and logged: the other relay's lease stands, and nobody delivers the mail again", async () => {
    const store = SqliteStore.open({ file: storeFile(), busyTimeoutMs: 100 });
    cleanups.push(() => store.close());
    const sink = await new SmtpSink().start();
    cleanups.push(() => sink.stop());
    let release: () => void = () => undefined;
    sink.answerAfter = new Promise((resolve) => (release = resolve));
    sink.refuseWith = 451;
    const { logger, lines } = captureLog('debug');
    await store.acceptInbound(answer);
    const clock = { now: Date.now() };
    const transport = smarthostTransport(sink.url, RELAY);
    cleanups.push(() => transport.close());
    const mailer = new Mailer({
      store,
      transport,
      logger,
      owner: 'relay-a',
      leaseMs: LEASE_MS,
      idleWaitMs: 100,
      retryMinDelayMs: 50,
      retryMaxDelayMs: 200,
      clock: () => clock.now,
    });
    cleanups.push(() => mailer.stop());
    mailer.start();
    await waitFor('the smarthost holding its answer', () => sink.holding === 1, 5_000);

    // relay-a stands still past its lease, and relay-b takes the mail over.
    const later = clock.now + FROZEN_MS;
    const [taken] = await store.claimDueMail({ owner: 'relay-b', now: later, leaseUntil: later + 60_000, limit: 5 });
    assert.ok(taken);
    // relay-a's smarthost defers it now: under relay-b's lease, that frees the mail for nobody.
    sink.answerAfter = undefined;
    release();
    const [late] = await waitFor(
      "relay-a's late answer",
      () => {
        const found = lines
          .map((line) => JSON.parse(line) as { level: string; msg: string; mailId?: number })
          .filter((entry) => /^mailer: late answer/.test(entry.msg));
        return found.length > 0 && found;
      },
      10_000,
    );
    assert.equal(late?.level, 'warn');
    assert.equal(late?.mailId, taken.id);
    // relay-a runs again, and the smarthost takes mail: time for relay-a's loop to claim the mail, were it free.
    clock.now = later;
    sink.refuseWith = undefined;
    await sleep(1_000);
    assert.equal(sink.received.length, 0, 'relay-a did not deliver it again');
    assert.deepEqual(await store.claimDueMail({ owner: 'relay-c', now: later, leaseUntil: later + 60_000, limit: 5 }), [], "relay-b's lease stands");
    assert.deepEqual(mailer.held(), []);

    assert.equal(await store.recordMailOutcome({ id: taken.id, kind: 'sent', response: '250 2.0.0 queued as B' }, 'relay-b'), 'recorded');
    assert.deepEqual(
      (await store.events('in-taken')).map((event) => [event.kind, event.detail]),
      [
        ['reply queued', `mail ${taken.id} to alice@example.com`],
        ['late answer', 'from relay-a, after its lease was taken over: mail deferred: 451 refused by the test sink'],
        ['mail sent', '250 2.0.0 queued as B'],
      ],
    );
  });
});
