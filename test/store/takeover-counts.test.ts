import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { history } from '../../src/admin.ts';
import type { Store } from '../../src/store/types.ts';
import { mail, replyAnswer } from '../helpers/store.ts';
import { forEachStore } from '../helpers/stores.ts';

/**
 * Which claims and restarts count a possible duplicate (docs/several-relays.md, docs/delivery.md), on both stores:
 * only another relay's ended lease is taken over; each mail counts its own; a mail released at start was in flight
 * to a smarthost, not to a Maildir. A lease "ends" by being taken for a time already past: no real wait, on either
 * store's clock.
 */

const PHONE = '+447700900123';
const SMARTHOST = { possiblyTwice: true } as const;
const MAILDIR = { possiblyTwice: false } as const;

forEachStore((kind) =>
  describe('store: takeovers and resumed mail, counted right', () => {
    let store: Store;
    beforeEach(async () => {
      store = await kind.fresh();
    });
    afterEach(async () => {
      await store.close();
    });

    test("a relay claiming its own ended lease takes nothing over: no 'taken over' line, no attempt, no possible duplicate (SMS and mail)", async () => {
      const accepted = mail([PHONE]);
      await store.acceptMail(accepted);
      await store.acceptInbound(replyAnswer('in-own'));
      const now = Date.now();
      // relay-b's claims committed but their answers were lost (the connection dropped): nothing was sent.
      assert.equal((await store.claimDueSms({ owner: 'relay-b', now, leaseUntil: now - 1_000, maxBatches: 1, batchSize: 1 })).length, 1);
      assert.equal((await store.claimDueMail({ owner: 'relay-b', now, leaseUntil: now - 1_000, limit: 1 })).length, 1);

      const [batch] = await store.claimDueSms({ owner: 'relay-b', now, leaseUntil: now + 60_000, maxBatches: 1, batchSize: 1 });
      const [claimed] = await store.claimDueMail({ owner: 'relay-b', now, leaseUntil: now + 60_000, limit: 1 });
      assert.deepEqual(
        batch?.sms.map((sms) => [sms.attempts, sms.takenOverFrom]),
        [[0, undefined]],
      );
      assert.deepEqual([claimed?.attempts, claimed?.takenOverFrom], [0, undefined]);
      assert.deepEqual(
        await kind.rows('SELECT CAST(attempts AS INTEGER) AS attempts, CAST(possible_duplicates AS INTEGER) AS possible_duplicates FROM outbound'),
        [{ attempts: 0, possible_duplicates: 0 }],
      );
      assert.deepEqual(
        await kind.rows('SELECT CAST(attempts AS INTEGER) AS attempts, CAST(possible_duplicates AS INTEGER) AS possible_duplicates FROM mail_out'),
        [{ attempts: 0, possible_duplicates: 0 }],
      );
      assert.deepEqual(
        (await store.events(accepted.id)).map((event) => event.kind),
        ['accepted'],
      );
      assert.deepEqual(
        (await store.events('in-own')).map((event) => event.kind),
        ['reply queued'],
      );
    });

    test('an SMS the relay still has in flight is never claimed by it again once its own lease ended (a store outage or a stall past leaseTtl); another relay takes it over, counted', async () => {
      await store.acceptMail(mail([PHONE, '+447700900124']));
      const now = Date.now();
      // relay-b sent both; the store then went away past the lease, which ended with the requests still open.
      const [sent] = await store.claimDueSms({ owner: 'relay-b', now, leaseUntil: now - 1_000, maxBatches: 1, batchSize: 2 });
      const ids = sent?.sms.map((sms) => sms.id) ?? [];
      assert.equal(ids.length, 2);
      const [first] = ids;
      for (const startedBy of [undefined, now]) {
        const again = await store.claimDueSms({ owner: 'relay-b', now, leaseUntil: now - 1_000, maxBatches: 2, batchSize: 1, inFlight: ids, startedBy });
        assert.deepEqual(again, [], `claimed again while in flight (${startedBy === undefined ? 'due' : 'past their age'})`);
      }
      // One of them answered and is no longer in flight: its own ended lease is claimed (nothing else was sent of it).
      const [mine] = await store.claimDueSms({ owner: 'relay-b', now, leaseUntil: now - 1_000, maxBatches: 2, batchSize: 1, inFlight: ids.slice(1) });
      assert.deepEqual(
        mine?.sms.map((sms) => [sms.id, sms.attempts, sms.takenOverFrom]),
        [[first, 0, undefined]],
      );
      // Another relay is not holding them: it takes both over, each an attempt and a possible duplicate.
      const taken = await store.claimDueSms({ owner: 'relay-c', now, leaseUntil: now + 60_000, maxBatches: 2, batchSize: 1 });
      assert.deepEqual(
        taken.flatMap((batch) => batch.sms.map((sms) => sms.takenOverFrom)),
        ['relay-b', 'relay-b'],
      );
      assert.deepEqual(await kind.rows('SELECT CAST(possible_duplicates AS INTEGER) AS possible_duplicates FROM outbound ORDER BY id'), [
        { possible_duplicates: 1 },
        { possible_duplicates: 1 },
      ]);
    });

    test('a mail the relay still has in flight is never claimed by it again once its own lease ended; another relay takes it over, counted', async () => {
      await store.acceptInbound(replyAnswer('in-flight'));
      const now = Date.now();
      const [sent] = await store.claimDueMail({ owner: 'relay-b', now, leaseUntil: now - 1_000, limit: 1 });
      assert.ok(sent);
      assert.deepEqual(await store.claimDueMail({ owner: 'relay-b', now, leaseUntil: now - 1_000, limit: 1, inFlight: [sent.id] }), []);
      const [taken] = await store.claimDueMail({ owner: 'relay-c', now, leaseUntil: now + 60_000, limit: 1 });
      assert.deepEqual([taken?.id, taken?.takenOverFrom], [sent.id, 'relay-b']);
    });

    test('a reply mail taken over, refused and rerouted: the count is the taken-over mail’s, not the new mailbox’s mail that went once', async () => {
      await store.acceptInbound(replyAnswer('in-moved'));
      const now = Date.now();
      await store.claimDueMail({ owner: 'relay-a', now, leaseUntil: now - 1_000, limit: 1 });
      const [takenOver] = await store.claimDueMail({ owner: 'relay-b', now, leaseUntil: now + 60_000, limit: 1 });
      assert.ok(takenOver);
      const before = await history(store, PHONE, Date.now());
      assert.match(before, /to alice@example\.com, mail queued \(1 possible duplicate\)$/m, before);
      await store.recordMailOutcome({ id: takenOver.id, kind: 'failed', error: '550 5.1.1 no such user' }, 'relay-b');
      const rerouted = { kind: 'reply' as const, messageId: 'in-moved', envelopeFrom: '', recipients: ['ops@example.com'], raw: Buffer.from('x') };
      assert.equal(await store.rerouteInbound('in-moved', 'ops@example.com', rerouted), true);
      const rerouteAt = Date.now();
      const [moved] = await store.claimDueMail({ owner: 'relay-b', now: rerouteAt, leaseUntil: rerouteAt + 60_000, limit: 1 });
      assert.ok(moved);
      await store.recordMailOutcome({ id: moved.id, kind: 'sent', response: '250 2.0.0 ok' }, 'relay-b');

      assert.deepEqual(
        (await store.repliesOfNumber(PHONE, 10)).map((reply) => [reply.mailbox, reply.mail?.status, reply.mail?.possibleDuplicates]),
        [['ops@example.com', 'sent', 0]],
      );
      const log = await history(store, PHONE, Date.now());
      assert.match(log, /to ops@example\.com, mail sent$/m, log);
      assert.doesNotMatch(log, /possible duplicate/, log);
    });

    test('mail released at start (its relay stopped or died in flight) is resumed with a line and a possible duplicate when it went to a smarthost', async () => {
      await store.acceptInbound(replyAnswer('in-mine'));
      await store.acceptInbound(replyAnswer('in-dead'));
      const now = Date.now();
      // relay-a stopped with its delivery in flight; relay-c died and its lease ended.
      await store.claimDueMail({ owner: 'relay-a', now, leaseUntil: now + 60_000, limit: 1 });
      await store.claimDueMail({ owner: 'relay-c', now, leaseUntil: now - 1_000, limit: 1 });
      assert.deepEqual(await store.releaseStaleLeases('relay-a', now, SMARTHOST), { sms: 0, mail: 2 });
      for (const id of ['in-mine', 'in-dead'])
        assert.deepEqual(
          (await store.events(id)).map((event) => [event.kind, event.detail]).slice(1),
          [['mail resumed', 'was in flight when the relay stopped; may reach the smarthost twice']],
          id,
        );
      assert.deepEqual(
        (await store.repliesOfNumber(PHONE, 10)).map((reply) => reply.mail?.possibleDuplicates),
        [1, 1],
      );
      assert.equal((await history(store, PHONE, Date.now())).match(/mail queued \(1 possible duplicate\)/g)?.length, 2);
    });

    test('mail released at start to a Maildir is no duplicate: its write is found again by its file name', async () => {
      await store.acceptInbound(replyAnswer('in-maildir'));
      const now = Date.now();
      await store.claimDueMail({ owner: 'relay-a', now, leaseUntil: now + 60_000, limit: 1 });
      assert.deepEqual(await store.releaseStaleLeases('relay-a', now, MAILDIR), { sms: 0, mail: 1 });
      assert.deepEqual(
        (await store.events('in-maildir')).map((event) => event.kind),
        ['reply queued'],
      );
      assert.deepEqual(
        (await store.repliesOfNumber(PHONE, 10)).map((reply) => reply.mail?.possibleDuplicates),
        [0],
      );
    });
  }),
);
