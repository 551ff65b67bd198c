import assert from 'node:assert/strict';
import { REPLY_BOUNCE_WINDOW_MS } from '../../src/store/rows.ts';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { quarantine, rerouteUndeliverable } from '../../src/admin.ts';
import { ReplyNotes } from '../../src/replies/reply-notes.ts';
import { RELAY_KEYWORDS } from '../../src/vocabulary.ts';
import type { NewSmsPart, PartAdded } from '../../src/store/reassembly.ts';
import { addPart } from '../../src/store/postgres/reassembly.ts';
import type { NewInbound, Store } from '../../src/store/types.ts';
import { PostgresStore } from '../../src/store/postgres/store.ts';
import { describeOnPostgres, withClient } from '../helpers/postgres.ts';
import { mail } from '../helpers/store.ts';
import { forEachStore } from '../helpers/stores.ts';

const PHONE = '+447700900123';

/**
 * Part `index` of 2 of long SMS `sms` (A, B, C …: its texts and provider ids) from PHONE under `reference`, sent by
 * the phone at `sentAt` when given, received at `receivedAt` (1,000 unless given).
 */
const addLongSmsPart = (
  store: Pick<Store, 'addPart'>,
  part: { readonly reference: number; readonly sms: string; readonly index: number; readonly sentAt?: string | undefined; readonly receivedAt?: number },
) =>
  store.addPart({
    provider: 'vonage',
    sender: PHONE,
    recipient: '447700900777',
    reference: part.reference,
    total: 2,
    index: part.index,
    providerId: `${part.sms}${part.index}`,
    text: `${part.sms}${part.index} `,
    sentAt: part.sentAt,
    userContext: undefined,
    trackingId: undefined,
    receivedAt: part.receivedAt ?? 1_000,
  });
const withContext = (context: string, mailbox: string, continues = false, receivedAt = 1_000) =>
  mail([PHONE], {
    receivedAt,
    sms: { text: 'x', encoding: 'gsm7', parts: 1, maxParts: 6, senderId: undefined, userContext: context },
    conversation: { mailbox, continues },
    subject: `from ${mailbox}`,
  });

/** The phone's answer in conversation `context`, mailed to gone@example.com: a mailbox the tests have refuse it. */
const answerToGone = (context: string, receivedAt: number, messageIdHeader: string): NewInbound => ({
  id: 'in-gone',
  provider: 'intellisoftware',
  providerId: 'G-gone',
  number: PHONE,
  text: 'answer to gone',
  sentAt: undefined,
  userContext: context,
  receivedAt,
  route: {
    mailbox: 'gone@example.com',
    context,
    mail: { kind: 'reply', messageId: 'in-gone', envelopeFrom: '', recipients: ['gone@example.com'], raw: Buffer.from('x') },
    messageIdHeader,
  },
});

/** A received SMS of `number` kept for a reroute, as the inbound service stores one (its opt-out action as taken then). */
const inboundFrom =
  (number: string) =>
  (id: string, text: string, receivedAt: number, optOut?: NewInbound['optOut']): NewInbound => ({
    id,
    provider: 'intellisoftware',
    providerId: `P-${id}`,
    number,
    text,
    sentAt: undefined,
    userContext: undefined,
    receivedAt,
    optOut,
    route: undefined,
  });

forEachStore((kind) =>
  describe('store: conversations, inbound SMS, delivery reports', () => {
    let store: Store;
    beforeEach(async () => {
      store = await kind.fresh();
    });
    afterEach(() => store.close());

    /** Sends the only queued SMS: the gateway answered with `providerId`. */
    const send = async (providerId: string) => {
      const [batch] = await store.claimDueSms({ owner: 't', now: 5_000, leaseUntil: 65_000, maxBatches: 1, batchSize: 10 });
      const sms = batch?.sms[0];
      assert.ok(sms);
      await store.recordSmsOutcomes([{ smsId: sms.id, kind: 'sent', providerId }]);
      return batch.message.id;
    };
    const report = (code: number, state: 'queued' | 'sent' | 'delivered' | 'failed' | 'expired', providerId = 'P1') =>
      store.applyDeliveryReport({ provider: 'intellisoftware', providerId, number: PHONE, code, state, receivedAt: 9_000 });

    /** The only queued mail, `in-gone`'s reply mail, refused for good, then its SMS rerouted to Carol: her mail as queued and parsed. */
    const refuseAndReroute = async () => {
      const [refused] = await store.claimDueMail({ owner: 't', now: Date.now() + 1_000, leaseUntil: Date.now() + 60_000, limit: 10 });
      assert.ok(refused);
      await store.recordMailOutcome({ id: refused.id, kind: 'failed', error: '550 5.1.1 <gone@example.com>: no such user' });
      const settings = { sms: { domains: ['sms.example.com'] }, smtp: { hostname: 'relay.example.com' }, mail: {} };
      await rerouteUndeliverable(store, settings, new ReplyNotes({ keywords: RELAY_KEYWORDS }), 'in-gone', 'carol@example.com');
      const [rerouted] = await store.claimDueMail({ owner: 't', now: Date.now() + 1_000, leaseUntil: Date.now() + 60_000, limit: 10 });
      return { rerouted, parsed: await simpleParser(rerouted?.raw ?? Buffer.alloc(0)) };
    };

    test('a mail records its conversation; a continuing mail keeps mailbox and thread, a new one takes over', async () => {
      const first = withContext('c1', 'alice@example.com');
      await store.acceptMail(first);
      await store.acceptMail(withContext('c1', 'carol@example.com', true, 2_000));
      assert.equal((await store.conversation('c1', PHONE))?.mailbox, 'alice@example.com');
      // SQLite keeps the relay's clock, PostgreSQL the database's (later than 2_000 ms after the epoch in any case).
      const lastUsedAt = (await store.conversation('c1', PHONE))?.lastUsedAt ?? 0;
      if (kind.name === 'SQLite') assert.equal(lastUsedAt, 2_000);
      else assert.ok(lastUsedAt > Date.now() - 60_000, 'the database clock');
      await store.acceptMail(withContext('c1', 'bob@example.com', false, 3_000));
      assert.equal((await store.conversation('c1', PHONE))?.mailbox, 'bob@example.com');
      assert.equal(await store.contextOfMail(['<nope@example.com>', first.messageIdHeader ?? ''], [PHONE]), 'c1');
      assert.equal(await store.contextOfMail([first.messageIdHeader ?? ''], ['+447700900999']), undefined);
      // Whether a mail answers the conversation, number by number, by any of its Message-IDs: one read for them all.
      assert.deepEqual(await store.answeredNumbers('c1', ['<nope@example.com>', first.messageIdHeader ?? ''], [PHONE, '+447700900999']), [PHONE]);
      assert.deepEqual(await store.answeredNumbers('c2', [first.messageIdHeader ?? ''], [PHONE]), []);
      assert.deepEqual(await store.answeredNumbers('c1', [], [PHONE]), []);
    });

    test("a conversation names its latest mail's Outlook Thread-Index (folded or not), and none for a mail without one or with a value of another form", async () => {
      const index = Buffer.concat([Buffer.from([1]), Buffer.alloc(21, 7), Buffer.alloc(5, 9)]).toString('base64');
      const withHeaders = (context: string, headers: string, receivedAt: number) => ({
        ...withContext(context, 'alice@example.com', false, receivedAt),
        headers,
      });
      await store.acceptMail(withHeaders('t1', `From: alice@example.com\r\nThread-Topic: Pump\r\nThread-Index: ${index}\r\nSubject: Pump\r\n\r\n`, 1_000));
      assert.equal((await store.conversation('t1', PHONE))?.latestThreadIndex, index);
      await store.acceptMail(withHeaders('t2', `Thread-Index:\r\n ${index.slice(0, 20)}\r\n ${index.slice(20)}\r\nFrom: alice@example.com\r\n\r\n`, 1_000));
      assert.equal((await store.conversation('t2', PHONE))?.latestThreadIndex, index, 'folded, and the first field');
      await store.acceptMail(withHeaders('t3', 'From: alice@example.com\r\nX-Thread-Index: AQ==\r\n\r\n', 1_000));
      assert.equal((await store.conversation('t3', PHONE))?.latestThreadIndex, undefined);
      await store.acceptMail(withHeaders('t4', 'From: alice@example.com\r\nThread-Index: bm90IGFuIGluZGV4\r\n\r\n', 1_000));
      assert.equal((await store.conversation('t4', PHONE))?.latestThreadIndex, undefined, 'no 22-byte header and 5-byte blocks');
    });

    test('the latest conversation with a number, only within the window', async () => {
      await store.acceptMail(withContext('old', 'alice@example.com', false, 1_000));
      await store.acceptMail(withContext('new', 'bob@example.com', false, 2_000));
      if (kind.name === 'SQLite') {
        assert.equal((await store.latestConversation(PHONE, 2_000, 2_000))?.context, 'new');
        assert.equal(await store.latestConversation(PHONE, 1_000, 3_001), undefined);
      } else {
        // The database's clock: the relay's `now` is not asked; the mails were used moments ago.
        assert.equal((await store.latestConversation(PHONE, 60_000, 0))?.context, 'new');
        await new Promise((resolve) => setTimeout(resolve, 20));
        assert.equal(await store.latestConversation(PHONE, 10, Date.now()), undefined);
      }
    });

    test("which conversation is latest: the store's one clock decides (the relay's on SQLite, the database's on PostgreSQL)", async () => {
      // Alice's mail came through a relay whose clock ran ten minutes ahead; Bob's after it, through one on time.
      const skewed = Date.now() + 10 * 60_000;
      await store.acceptMail(withContext('alice', 'alice@example.com', false, skewed));
      await store.acceptMail(withContext('bob', 'bob@example.com', false, Date.now()));
      const latest = await store.latestConversation(PHONE, 60 * 60_000, skewed);
      // One SQLite file has one relay, whose clock is the truth; on PostgreSQL the database saw Bob's last.
      assert.equal(latest?.context, kind.name === 'SQLite' ? 'alice' : 'bob');
      // An SMS answering Alice's conversation makes it the latest again, whatever the relay's clock says.
      await store.acceptInbound({
        id: 'in-alice',
        provider: 'intellisoftware',
        providerId: 'G-alice',
        number: PHONE,
        text: 'to alice',
        sentAt: undefined,
        userContext: 'alice',
        receivedAt: kind.name === 'SQLite' ? skewed + 1 : 1_000,
        route: {
          mailbox: 'alice@example.com',
          context: 'alice',
          mail: { kind: 'reply', messageId: 'in-alice', envelopeFrom: '', recipients: ['alice@example.com'], raw: Buffer.from('x') },
          messageIdHeader: '<in-alice@relay>',
        },
      });
      assert.equal((await store.latestConversation(PHONE, 60 * 60_000, skewed + 1))?.context, 'alice');
    });

    test('whether the relay ever sent a reply mail in a conversation, named by its context or by a Message-ID of its mails, whatever retention erased', async () => {
      const first = withContext('c1', 'alice@example.com');
      await store.acceptMail(first);
      await store.acceptMail(withContext('c2', 'bob@example.com'));
      const writer = first.messageIdHeader ?? '';
      // A conversation with no reply mail yet: its context or its writer's mail name none.
      assert.equal(await store.repliedIn(['c1'], [writer], [PHONE]), false);
      await store.acceptInbound(answerToGone('c1', 2_000, '<reply-1@sms.example.com>'));
      assert.equal(await store.repliedIn(['c1'], [], [PHONE]), true, 'by its context');
      assert.equal(await store.repliedIn([], ['<nope@example.com>', '<reply-1@sms.example.com>'], [PHONE]), true, 'by the reply mail');
      assert.equal(await store.repliedIn(['c9'], [writer], [PHONE]), true, "by its writer's mail");
      assert.equal(await store.repliedIn(['c2'], ['<nope@example.com>'], [PHONE]), false, 'another conversation');
      assert.equal(await store.repliedIn(['c1'], ['<reply-1@sms.example.com>'], ['+447700900999']), false, 'another number');
      assert.equal(await store.repliedIn([], [], [PHONE]), false);
      // A reply mail's Message-ID is the relay's, to any number (a list's copy of it comes back to every phone on it);
      // a writer's mail of the conversation is no reply mail.
      assert.equal(await store.isReplyMail('<reply-1@sms.example.com>'), true, 'the reply mail');
      assert.equal(await store.isReplyMail(writer), false, "the writer's mail");
      assert.equal(await store.isReplyMail('<nope@example.com>'), false);
      // Retention erases what was sent, never that it was sent.
      await store.purgeContent(Date.now() + 1_000, Date.now() + 10 * 24 * 3_600_000);
      assert.equal(await store.repliedIn([], ['<reply-1@sms.example.com>'], [PHONE]), true, 'after retention');
      // Refused for good, it reached no mailbox: nothing can answer it.
      const [refused] = await store.claimDueMail({ owner: 't', now: Date.now() + 1_000, leaseUntil: Date.now() + 60_000, limit: 10 });
      assert.ok(refused);
      await store.recordMailOutcome({ id: refused.id, kind: 'failed', error: '550 5.1.1 <gone@example.com>: no such user' });
      assert.equal(await store.repliedIn(['c1'], ['<reply-1@sms.example.com>'], [PHONE]), false, 'refused for good');
    });

    test('an inbound SMS is stored once per gateway id; one without a route is listed as undeliverable', async () => {
      const inbound: NewInbound = {
        id: 'in-1',
        provider: 'intellisoftware',
        providerId: 'G1',
        number: PHONE,
        text: 'hello',
        sentAt: undefined,
        userContext: undefined,
        receivedAt: 1_000,
        route: undefined,
      };
      assert.deepEqual(await store.acceptInbound(inbound), { duplicate: false });
      assert.deepEqual(await store.acceptInbound({ ...inbound, id: 'in-2' }), { duplicate: true });
      assert.deepEqual(
        (await store.undeliverableInbound(10)).map((row) => row.id),
        ['in-1'],
      );
    });

    test('a reply mail refused for good puts its SMS among the undeliverable ones with the refusal; rerouted, it leaves them', async () => {
      const reply = (id: string, mailbox: string) => ({
        kind: 'reply' as const,
        messageId: id,
        envelopeFrom: '',
        recipients: [mailbox],
        raw: Buffer.from('x'),
      });
      await store.acceptInbound(answerToGone('c1', 1_000, '<in-gone@relay>'));
      // A bounce refused for good is only the log's: no SMS of a phone is in it.
      await store.enqueueMail([{ kind: 'bounce', messageId: 'some-mail', envelopeFrom: '', recipients: ['alice@example.com'], raw: Buffer.from('x') }]);
      const refuse = async (error: string) => {
        for (const claimed of await store.claimDueMail({ owner: 't', now: Date.now() + 1_000, leaseUntil: Date.now() + 60_000, limit: 10 })) {
          await store.recordMailOutcome({ id: claimed.id, kind: 'failed', error });
        }
      };
      assert.deepEqual(await store.undeliverableInbound(10), []);
      await refuse('550 5.1.1 <gone@example.com>: no such user');

      const refused = { mailbox: 'gone@example.com', error: '550 5.1.1 <gone@example.com>: no such user' };
      const [listed] = await store.undeliverableInbound(10);
      assert.equal(listed?.id, 'in-gone');
      assert.equal(listed?.text, 'answer to gone');
      assert.deepEqual(listed?.refused, refused);
      assert.deepEqual((await store.undeliverableInboundById('in-gone'))?.refused, refused);
      assert.equal((await store.queueStats(Date.now())).undeliverableInbound, 1);
      assert.deepEqual(
        (await store.repliesOfNumber(PHONE, 10)).map((row) => [row.mailbox, row.mail?.status]),
        [[undefined, 'failed']],
      );

      assert.equal(await store.rerouteInbound('in-gone', 'ops@example.com', reply('in-gone', 'ops@example.com')), true);
      assert.deepEqual(await store.undeliverableInbound(10), []);
      assert.deepEqual(
        (await store.repliesOfNumber(PHONE, 10)).map((row) => [row.mailbox, row.mail?.status]),
        [['ops@example.com', 'queued']],
        'one line per SMS: its latest mail',
      );
      // By its id (a second reroute says where it went): the latest mail, with when it was queued.
      const rerouted = await store.receivedReply('in-gone');
      assert.deepEqual([rerouted?.mailbox, rerouted?.mail?.status, rerouted?.mail?.to], ['ops@example.com', 'queued', 'ops@example.com']);
      assert.ok(typeof rerouted?.mail?.queuedAt === 'number' && Math.abs(rerouted.mail.queuedAt - Date.now()) < 60_000, String(rerouted?.mail?.queuedAt));
      assert.equal(await store.receivedReply('in-none'), undefined);
      // The rerouted mail refused as well: listed again, with the latest refusal.
      await refuse('550 5.7.1 rejected');
      assert.deepEqual(
        (await store.undeliverableInbound(10)).map((row) => row.refused),
        [{ mailbox: 'ops@example.com', error: '550 5.7.1 rejected' }],
      );
    });

    test('an SMS whose text store.retention erased before its reply mail bounced is listed and logged as erased; one that came empty is not', async () => {
      const returnPath = (id: string) => `bounces+${id}.aaaaaaaaaaaaa@sms.example.com`;
      const answer = (id: string, text: string): NewInbound => {
        const inbound = answerToGone('c1', 1_000, `<${id}@relay>`);
        const route = inbound.route;
        assert.ok(route);
        return { ...inbound, id, providerId: `G-${id}`, text, route: { ...route, mail: { ...route.mail, messageId: id, envelopeFrom: returnPath(id) } } };
      };
      await store.acceptInbound(answer('in-said', 'gas leak'));
      await store.acceptInbound(answer('in-empty', ''));
      for (const claimed of await store.claimDueMail({ owner: 't', now: Date.now() + 1_000, leaseUntil: Date.now() + 60_000, limit: 10 }))
        await store.recordMailOutcome({ id: claimed.id, kind: 'sent', response: '250 2.0.0 Ok' }, 't');
      const bounced = async (id: string) => {
        await store.bounceReplyMail(id, returnPath(id), 'bounced after the smarthost took it: 4.4.1');
        return (await store.undeliverableInbound(10)).find((sms) => sms.id === id);
      };
      const empty = await bounced('in-empty');
      assert.deepEqual([empty?.text, empty?.textErased], ['', undefined], 'the phone sent it empty');
      // Received and mailed before the retention, and mailed before every MTA's queue lifetime: its text and mail are erased.
      await store.purgeContent(Date.now() + 60_000, Date.now() + REPLY_BOUNCE_WINDOW_MS + 60_000);
      const erased = await bounced('in-said');
      assert.deepEqual([erased?.text, erased?.textErased], ['', true]);
      const logged = (await store.repliesOfNumber(PHONE, 10)).find((reply) => reply.id === 'in-said');
      assert.deepEqual([logged?.textErased, logged?.mail?.to, logged?.mail?.status], [true, 'gone@example.com', 'failed']);
    });

    test("a bounce to a reply mail's return path fails that mail and lists its SMS; another path or SMS finds nothing; a second bounce changes nothing", async () => {
      const first = 'bounces+in-gone.aaaaaaaaaaaaa@sms.example.com';
      const inbound = answerToGone('c1', 1_000, '<in-gone@relay>');
      const route = inbound.route;
      assert.ok(route);
      await store.acceptInbound({ ...inbound, route: { ...route, mail: { ...route.mail, envelopeFrom: first } } });
      const [claimed] = await store.claimDueMail({ owner: 't', now: Date.now() + 1_000, leaseUntil: Date.now() + 60_000, limit: 10 });
      assert.ok(claimed);
      await store.recordMailOutcome({ id: claimed.id, kind: 'sent', response: '250 2.0.0 Ok' }, 't');

      assert.equal(await store.returnPathMailbox('in-gone', first.toUpperCase()), 'gone@example.com', 'in any case');
      assert.equal(await store.returnPathMailbox('in-gone', 'bounces+in-gone.bbbbbbbbbbbbb@sms.example.com'), undefined);
      assert.equal(await store.returnPathMailbox('in-other', first), undefined);
      assert.equal(await store.bounceReplyMail('in-gone', 'bounces+in-gone.bbbbbbbbbbbbb@sms.example.com', 'x'), undefined);
      assert.deepEqual(await store.undeliverableInbound(10), []);

      const error = 'bounced after the smarthost took it: 5.1.1 smtp; 550 5.1.1 User unknown';
      assert.deepEqual(await store.bounceReplyMail('in-gone', first, error), { mailbox: 'gone@example.com', number: PHONE, alreadyFailed: false });
      const [listed] = await store.undeliverableInbound(10);
      assert.equal(listed?.id, 'in-gone');
      assert.deepEqual(listed?.refused, { mailbox: 'gone@example.com', error });
      assert.ok((await store.events('in-gone')).some((event) => event.kind === 'mail failed' && event.detail === error));

      // Rerouted, then a second bounce of the first mail: the rerouted SMS keeps its new mailbox.
      const rerouted = {
        kind: 'reply' as const,
        messageId: 'in-gone',
        envelopeFrom: 'bounces+in-gone.ccccccccccccc@sms.example.com',
        recipients: ['ops@example.com'],
        raw: Buffer.from('x'),
      };
      assert.equal(await store.rerouteInbound('in-gone', 'ops@example.com', rerouted), true);
      assert.deepEqual(await store.bounceReplyMail('in-gone', first, 'again'), { mailbox: 'gone@example.com', number: PHONE, alreadyFailed: true });
      assert.deepEqual(await store.undeliverableInbound(10), []);
    });

    /**
     * Part `index` of 2 of a long SMS from PHONE to `recipient` (undefined: none, as a relay before schema 31 kept every
     * part) under `reference`, sent at `sentAt` (ISO 8601) when given.
     */
    const part = (recipient: string | undefined, index: number, providerId: string, text: string, reference = 33, sentAt?: string) =>
      store.addPart({
        provider: 'vonage',
        sender: PHONE,
        recipient,
        reference,
        total: 2,
        index,
        providerId,
        text,
        sentAt,
        userContext: undefined,
        trackingId: undefined,
        receivedAt: 1_000,
      });

    test("a long SMS's parts: one set per number texted; a part with another provider id and text at a place taken is another SMS, never a repeat", async () => {
      const alpha = await part('447700900777', 1, 'A1', 'Alpha one, ');
      const bravo = await part('447700900888', 1, 'B1', 'Bravo one, ');
      assert.ok(alpha.kind === 'stored' && bravo.kind === 'stored');
      assert.notEqual(alpha.set.id, bravo.set.id);
      assert.equal(bravo.set.recipient, '447700900888');
      // The provider retrying (its id), or the same text again: a repeat.
      for (const [id, text] of [
        ['B1', 'changed'],
        ['B9', 'Bravo one, '],
      ]) {
        const again = await part('447700900888', 1, id ?? '', text ?? '');
        assert.ok(again.kind === 'stored' && again.repeat && again.set.id === bravo.set.id, `${id} ${text}`);
      }
      // Neither: another SMS that reuses the reference, in a set of its own.
      const charlie = await part('447700900888', 1, 'C1', 'Charlie one, ');
      assert.ok(charlie.kind === 'stored' && !charlie.repeat && charlie.set.id !== bravo.set.id);
      const complete = await part('447700900777', 2, 'A2', 'alpha two');
      assert.ok(complete.kind === 'stored');
      assert.deepEqual(
        complete.set.parts.map((stored) => stored.text),
        ['Alpha one, ', 'alpha two'],
      );
    });

    /** `seconds` after the phone sent the first part of the tests' long SMS. */
    const sent = (seconds: number) => new Date(Date.parse('2026-12-06T17:59:40Z') + seconds * 1_000).toISOString();

    test("a set a relay before schema 31 opened (no number texted) takes a part to any number sent within seconds of its parts where no set of that number does, and is then that number's; one it mailed takes a part late", async () => {
      const older = await part(undefined, 1, 'A1', 'Alpha one, ', 33, sent(0));
      const bravo = await part('447700900888', 1, 'B1', 'Bravo one, ', 33, sent(0));
      assert.ok(older.kind === 'stored' && bravo.kind === 'stored' && older.set.id !== bravo.set.id, 'the older set holds another part 1');
      // Both lack part 2, sent as near to both: the set of its number takes it, not the older (and oldest) one.
      const bravoWhole = await part('447700900888', 2, 'B2', 'bravo two', 33, sent(2));
      assert.ok(bravoWhole.kind === 'stored' && bravoWhole.set.id === bravo.set.id);
      const alphaWhole = await part('447700900777', 2, 'A2', 'alpha two', 33, sent(1));
      assert.ok(alphaWhole.kind === 'stored' && !alphaWhole.repeat && alphaWhole.set.id === older.set.id);
      assert.deepEqual(
        alphaWhole.set.parts.map((stored) => stored.text),
        ['Alpha one, ', 'alpha two'],
      );
      assert.equal(alphaWhole.set.recipient, '447700900777', 'the mail names the number texted');
      // The provider retrying part 1, now with its number: a repeat.
      const again = await part('447700900777', 1, 'A1', 'Alpha one, ', 33, sent(0));
      assert.ok(again.kind === 'stored' && again.repeat && again.set.id === older.set.id);
      // The older set is 777's now: a part to another number lacking its place is another SMS.
      const delta = await part('447700900999', 2, 'D2', 'delta two', 33, sent(1));
      assert.ok(delta.kind === 'stored' && delta.set.id !== older.set.id && delta.set.parts.length === 1);
      assert.deepEqual(
        (await kind.rows('SELECT recipient FROM part_sets ORDER BY id')).map((row) => row.recipient),
        ['447700900777', '447700900888', '447700900999'],
      );
      // A set the older relay mailed without its part 2: that part, to any number, is late.
      const mailed = await part(undefined, 1, 'E1', 'Echo one, ', 34, sent(0));
      assert.ok(mailed.kind === 'stored');
      await store.closePartSet(mailed.set.id, 2_000);
      assert.equal((await part('447700900777', 2, 'E2', 'echo two', 34, sent(3))).kind, 'late');
    });

    test('a set of no number is another SMS to a part to a number sent more than ten seconds off its parts, or without times: the part opens a set of its own', async () => {
      const older = await part(undefined, 1, 'A1', 'Alpha one, ', 35, sent(0));
      assert.ok(older.kind === 'stored');
      // The phone's SMS to two of the account's numbers under one reference: one of them may be the older set's.
      for (const [recipient, providerId, sentAt] of [
        ['447700900888', 'B2', sent(11)],
        ['447700900999', 'C2', sent(-11)],
        ['447700900666', 'D2', undefined],
      ] as const) {
        const other = await part(recipient, 2, providerId, `${providerId} `, 35, sentAt);
        assert.ok(other.kind === 'stored' && other.set.id !== older.set.id && other.set.parts.length === 1, `${providerId} sent ${sentAt}`);
      }
      // Its own part 2, sent ten seconds after part 1: the older set is completed.
      const whole = await part('447700900777', 2, 'A2', 'alpha two', 35, sent(10));
      assert.ok(whole.kind === 'stored' && whole.set.id === older.set.id && whole.set.parts.length === 2);
      assert.equal(whole.set.recipient, '447700900777');
    });

    test("a set of no number waiting for this very part takes it before the number's own mailed set, sent further off", async () => {
      // 777's own SMS under the reference, mailed without its part 2; then the older relay's set, open.
      const mailed = await part('447700900777', 1, 'M1', 'Mailed one, ', 36, sent(-600));
      assert.ok(mailed.kind === 'stored');
      await store.closePartSet(mailed.set.id, 2_000);
      const older = await part(undefined, 1, 'A1', 'Alpha one, ', 36, sent(0));
      const whole = await part('447700900777', 2, 'A2', 'alpha two', 36, sent(1));
      assert.ok(older.kind === 'stored' && whole.kind === 'stored' && whole.set.id === older.set.id, 'not late to the mailed set');
      assert.deepEqual(
        whole.set.parts.map((stored) => stored.text),
        ['Alpha one, ', 'alpha two'],
      );
    });

    test('two long SMS under one reference, their parts interleaved (A1, B1, A2, B2): each part goes to the oldest open set lacking it, no text spliced', async () => {
      const to777 = (index: number, providerId: string, text: string) => part('447700900777', index, providerId, text, 44);
      const a1 = await to777(1, 'A1', 'Alpha one, ');
      const b1 = await to777(1, 'B1', 'Bravo one, ');
      assert.ok(a1.kind === 'stored' && b1.kind === 'stored' && a1.set.id !== b1.set.id);
      const a2 = await to777(2, 'A2', 'alpha two');
      assert.ok(a2.kind === 'stored' && !a2.repeat);
      assert.equal(a2.set.id, a1.set.id, 'the oldest open set lacking part 2');
      assert.deepEqual(
        a2.set.parts.map((stored) => stored.text),
        ['Alpha one, ', 'alpha two'],
      );
      // The provider retrying B1 while both sets are open: a repeat in its own set, not a part of another.
      const again = await to777(1, 'B1', 'Bravo one, ');
      assert.ok(again.kind === 'stored' && again.repeat && again.set.id === b1.set.id);
      const b2 = await to777(2, 'B2', 'bravo two');
      assert.ok(b2.kind === 'stored' && !b2.repeat);
      assert.equal(b2.set.id, b1.set.id);
      assert.deepEqual(
        b2.set.parts.map((stored) => stored.text),
        ['Bravo one, ', 'bravo two'],
      );
    });

    const longSmsPart = (reference: number, sms: string, index: number, sentAt?: string) => addLongSmsPart(store, { reference, sms, index, sentAt });
    const textsOf = (added: PartAdded) => (added.kind === 'stored' ? added.set.parts.map((stored) => stored.text).join('') : added.kind);

    test('two long SMS under one reference, whatever the interleaving of their parts: the SMSC times the gateway gives keep each whole', async () => {
      // SMS A sent at 10:00:00 (its second part a second later), B at 10:00:20: every order the two phones' parts may interleave in.
      const sentAt = { A: ['2026-12-06T10:00:00Z', '2026-12-06T10:00:01Z'], B: ['2026-12-06T10:00:20Z', '2026-12-06T10:00:21Z'] };
      const orders = ['A1 A2 B1 B2', 'A1 B1 A2 B2', 'A1 B1 B2 A2', 'B1 A1 A2 B2', 'B1 A1 B2 A2', 'B1 B2 A1 A2'];
      for (const [reference, order] of orders.entries()) {
        const complete: string[] = [];
        for (const [sms, index] of order.split(' ').map((name) => [name.charAt(0) as 'A' | 'B', Number(name.charAt(1))] as const)) {
          const added = await longSmsPart(reference, sms, index, sentAt[sms][index - 1]);
          assert.ok(added.kind === 'stored' && !added.repeat, `${order}: ${sms}${index}`);
          if (added.set.parts.length === 2) complete.push(textsOf(added));
        }
        assert.deepEqual(complete.sort(), ['A1 A2 ', 'B1 B2 '], order);
      }
    });

    test('a retried part of a mailed long SMS is a repeat even once a newer set of its reference exists; a late part finds its own set by its time', async () => {
      const mailed = async (added: PartAdded, at: number) => {
        assert.ok(added.kind === 'stored');
        await store.closePartSet(added.set.id, at);
        return added.set.id;
      };
      // A mailed whole, then B begins: the provider retrying A2 is a repeat, not B's second part.
      await longSmsPart(1, 'A', 1);
      await mailed(await longSmsPart(1, 'A', 2), 2_000);
      const b1 = await longSmsPart(1, 'B', 1);
      assert.equal(textsOf(await longSmsPart(1, 'A', 2)), 'repeat');
      const b2 = await longSmsPart(1, 'B', 2);
      assert.ok(b1.kind === 'stored' && b2.kind === 'stored' && b2.set.id === b1.set.id);
      assert.equal(textsOf(b2), 'B1 B2 ');
      // Both mailed: a retried part of either, or its text again, is still a repeat, not a new SMS.
      await mailed(b2, 3_000);
      assert.equal(textsOf(await longSmsPart(1, 'A', 2)), 'repeat');
      assert.equal(textsOf(await longSmsPart(1, 'B', 1)), 'repeat');
      // C mailed without its second part (the timeout), D begins: C2 comes late, and its time says it is C's, not D's.
      await mailed(await longSmsPart(2, 'C', 1, '2026-12-06T10:00:00Z'), 4_000);
      const d1 = await longSmsPart(2, 'D', 1, '2026-12-06T10:30:00Z');
      const c2 = await longSmsPart(2, 'C', 2, '2026-12-06T10:00:01Z');
      assert.ok(c2.kind === 'late' && c2.closedAt === 4_000);
      const d2 = await longSmsPart(2, 'D', 2, '2026-12-06T10:30:01Z');
      assert.ok(d1.kind === 'stored' && d2.kind === 'stored' && d2.set.id === d1.set.id);
      assert.equal(textsOf(d2), 'D1 D2 ');
      // Without times, a part lacking in a mailed set and in none open is late there; with an open set lacking it, the open set takes it.
      await mailed(await longSmsPart(3, 'E', 1), 5_000);
      assert.equal(textsOf(await longSmsPart(3, 'E', 2)), 'late');
    });

    /** A part of SMS `sms` with its own text, received at `receivedAt` (ms), sent at `sentAt` when given. */
    const partAt = (reference: number, sms: string, index: number, text: string, receivedAt: number, sentAt?: string) =>
      store.addPart({
        provider: 'vonage',
        sender: PHONE,
        recipient: '447700900777',
        reference,
        total: 2,
        index,
        providerId: `${sms}${index}`,
        text,
        sentAt,
        userContext: undefined,
        trackingId: undefined,
        receivedAt,
      });
    const HOUR = 60 * 60_000;

    test('a new SMS\'s part with the text of a mailed SMS\'s part ("OK") is kept, not dropped as a repeat: the same text is a repeat only at the same time, or without times within the window', async () => {
      // C mailed whole at 09:00; D under the same reference six hours later ends in the same "OK".
      const c2 = await partAt(1, 'C', 2, 'OK', 1_000, '2026-12-06T09:00:01Z');
      assert.ok(c2.kind === 'stored');
      const c = await partAt(1, 'C', 1, 'x'.repeat(153), 1_000, '2026-12-06T09:00:00Z');
      assert.ok(c.kind === 'stored' && c.set.parts.length === 2);
      await store.closePartSet(c.set.id, 2_000);
      await partAt(1, 'D', 1, 'y'.repeat(153), 6 * HOUR, '2026-12-06T15:00:00Z');
      const d2 = await partAt(1, 'D', 2, 'OK', 6 * HOUR, '2026-12-06T15:00:01Z');
      assert.ok(d2.kind === 'stored' && !d2.repeat, textsOf(d2));
      assert.equal(textsOf(d2), `${'y'.repeat(153)}OK`);
      // C2's text and time again under another id (an SMSC delivering it twice): a repeat, hours later too.
      assert.equal((await partAt(1, 'E', 2, 'OK', 7 * HOUR, '2026-12-06T09:00:01Z')).kind, 'repeat');
      // Without times: the same text is a repeat of a set mailed within the window, not of one mailed before it.
      const f = await partAt(2, 'F', 1, 'x'.repeat(153), 1_000);
      assert.ok(f.kind === 'stored');
      await partAt(2, 'F', 2, 'OK', 1_000);
      await store.closePartSet(f.set.id, 2_000);
      assert.equal((await partAt(2, 'G', 2, 'OK', 2_000 + HOUR / 2)).kind, 'repeat');
      const h2 = await partAt(2, 'H', 2, 'OK', 2_000 + 3 * HOUR);
      assert.ok(h2.kind === 'stored' && !h2.repeat && h2.set.id !== f.set.id, textsOf(h2));
    });

    test("a provider that names repeats by id (repeatsById, SMPP): a part under a new id is a new SMS's even with a kept part's text; under its id, a repeat", async () => {
      const byId = (reference: number, sms: string, index: number, text: string, receivedAt: number) =>
        store.addPart({
          provider: 'smpp',
          sender: PHONE,
          recipient: undefined,
          reference,
          total: 2,
          index,
          providerId: `${sms}${index}`,
          text,
          sentAt: undefined,
          userContext: undefined,
          trackingId: undefined,
          repeatsById: true,
          receivedAt,
        });
      // "ALARM" + "ZONE3" mailed; the device sends the same long SMS under the same reference 2 s later: a second SMS, whole.
      const a1 = await byId(0x77, 'A', 1, 'ALARM', 1_000);
      const a2 = await byId(0x77, 'A', 2, 'ZONE3', 1_400);
      assert.ok(a1.kind === 'stored' && a2.kind === 'stored' && a2.set.parts.length === 2);
      await store.closePartSet(a2.set.id, 1_500);
      const b1 = await byId(0x77, 'B', 1, 'ALARM', 3_500);
      assert.ok(b1.kind === 'stored' && !b1.repeat && b1.set.id !== a2.set.id, textsOf(b1));
      const b2 = await byId(0x77, 'B', 2, 'ZONE3', 3_900);
      assert.equal(textsOf(b2), 'ALARMZONE3');
      // A new long SMS whose first part equals an earlier one's: reassembled whole, not short of its part 1.
      const c1 = await byId(0x41, 'C', 1, 'NEW', 1_000);
      assert.ok(c1.kind === 'stored');
      await byId(0x41, 'C', 2, 'TEXT1', 1_400);
      await store.closePartSet(c1.set.id, 1_500);
      await byId(0x41, 'D', 1, 'NEW', 3_500);
      const d2 = await byId(0x41, 'D', 2, 'OTHER2', 3_900);
      assert.equal(textsOf(d2), 'NEWOTHER2');
      // The SMSC delivering a part again (its id): a repeat, of a mailed set as of an open one.
      assert.ok(d2.kind === 'stored');
      await store.closePartSet(d2.set.id, 3_950);
      assert.equal((await byId(0x41, 'D', 2, 'OTHER2', 4_000)).kind, 'repeat');
      const e1 = await byId(0x42, 'E', 1, 'OPEN', 5_000);
      const again = await byId(0x42, 'E', 1, 'OPEN', 5_100);
      assert.ok(e1.kind === 'stored' && again.kind === 'stored' && again.repeat && again.set.id === e1.set.id);
    });

    test('a part of a new SMS reusing the reference of a set mailed hours ago opens a set of its own: a set takes a part only within LATE_PART_WINDOW_MS', async () => {
      // A mailed at the timeout with part 1 alone; three hours later B (same reference) arrives, B2 first.
      const a1 = await partAt(3, 'A', 1, 'Meeting moved to ', 1_000, '2026-12-06T09:00:00Z');
      assert.ok(a1.kind === 'stored');
      await store.closePartSet(a1.set.id, 2_000);
      const b2 = await partAt(3, 'B', 2, 'tomorrow 10am', 3 * HOUR, '2026-12-06T12:00:00Z');
      assert.ok(b2.kind === 'stored' && b2.set.id !== a1.set.id, textsOf(b2));
      const b1 = await partAt(3, 'B', 1, 'Lunch at ', 3 * HOUR, '2026-12-06T11:59:59Z');
      assert.ok(b1.kind === 'stored' && b1.set.id === b2.set.id);
      assert.equal(textsOf(b1), 'Lunch at tomorrow 10am');
      // A part the SMSC held back, sent with its set, comes late to it even well after the timeout.
      const c1 = await partAt(4, 'C', 1, 'Held ', 1_000, '2026-12-06T09:00:00Z');
      assert.ok(c1.kind === 'stored');
      await store.closePartSet(c1.set.id, 2_000);
      assert.equal((await partAt(4, 'C', 2, 'back', 2_000 + (3 * HOUR) / 4, '2026-12-06T09:00:01Z')).kind, 'late');
      // Without times: late within the window after the set was mailed, another SMS after it.
      const e1 = await partAt(5, 'E', 1, 'Early ', 1_000);
      assert.ok(e1.kind === 'stored');
      await store.closePartSet(e1.set.id, 2_000);
      const f2 = await partAt(5, 'F', 2, 'later', 2_000 + 2 * HOUR);
      assert.ok(f2.kind === 'stored' && f2.set.id !== e1.set.id, textsOf(f2));
      // An open set (its mail not sent yet) whose parts were sent hours before: not the new SMS's either.
      const g1 = await partAt(6, 'G', 1, 'Old ', 1_000, '2026-12-06T09:00:00Z');
      const h2 = await partAt(6, 'H', 2, 'new', 3 * HOUR, '2026-12-06T12:00:00Z');
      assert.ok(g1.kind === 'stored' && h2.kind === 'stored' && h2.set.id !== g1.set.id && h2.set.parts.length === 1);
    });

    test('an SMS rerouted from its refused mailbox keeps its conversation: subject, tag, thread; a reply to it continues it', async () => {
      const first = { ...withContext('c9', 'gone@example.com'), messageIdHeader: '<gone-1@example.com>', subject: 'Gone conv' };
      await store.acceptMail(first);
      await store.acceptInbound(answerToGone('c9', 2_000, '<in-gone@sms.example.com>'));
      const { rerouted, parsed } = await refuseAndReroute();
      assert.deepEqual(
        [rerouted?.recipients, parsed.subject, parsed.inReplyTo, parsed.references],
        [['carol@example.com'], 'Re: Gone conv [UserContext: c9]', '<gone-1@example.com>', '<gone-1@example.com>'],
      );
      assert.equal(await store.contextOfMail([parsed.messageId ?? ''], [PHONE]), 'c9', "Carol's reply to it continues the conversation");
      assert.equal((await store.conversation('c9', PHONE))?.mailbox, 'carol@example.com', "the phone's next answers go to Carol");
    });

    test("an SMS rerouted in a conversation whose writer gave no Message-ID is threaded under the relay's latest reply mail in it, as a routed one is", async () => {
      await store.acceptMail({ ...withContext('c10', 'gone@example.com'), messageIdHeader: undefined, subject: 'UPS on battery' });
      const earlier = '<reply-a@sms.example.com>';
      const raw = Buffer.from(`Message-ID: ${earlier}\r\nReferences: <reply-0@sms.example.com>\r\nSubject: x\r\n\r\nok\r\n`);
      await store.acceptInbound({
        ...answerToGone('c10', 2_000, earlier),
        id: 'in-a',
        providerId: 'G-a',
        route: {
          mailbox: 'ups-desk@example.com',
          context: 'c10',
          mail: { kind: 'reply', messageId: 'in-a', envelopeFrom: '', recipients: ['ups-desk@example.com'], raw },
          messageIdHeader: earlier,
        },
      });
      const [sent] = await store.claimDueMail({ owner: 't', now: Date.now() + 1_000, leaseUntil: Date.now() + 60_000, limit: 10 });
      assert.ok(sent);
      await store.recordMailOutcome({ id: sent.id, kind: 'sent', response: '250 2.0.0 Ok' });
      // The SMS rerouted came later; its own reply mail, refused, was never in a mailbox: nothing is threaded under it.
      await store.acceptInbound({
        ...answerToGone('c10', 3_000, '<in-gone@sms.example.com>'),
        route: {
          mailbox: 'gone@example.com',
          context: 'c10',
          mail: {
            kind: 'reply',
            messageId: 'in-gone',
            envelopeFrom: '',
            recipients: ['gone@example.com'],
            raw: Buffer.from('Message-ID: <in-gone@sms.example.com>\r\n\r\nx\r\n'),
          },
          messageIdHeader: '<in-gone@sms.example.com>',
        },
      });
      const { rerouted, parsed } = await refuseAndReroute();
      assert.deepEqual([rerouted?.recipients, parsed.inReplyTo, parsed.references], [['carol@example.com'], earlier, ['<reply-0@sms.example.com>', earlier]]);
    });

    test('a rerouted STOP, START or SMS of an opted-out phone ends with the opt-out notes a mail sent straight to a mailbox has', async () => {
      const settings = { sms: { domains: ['sms.example.com'] }, smtp: { hostname: 'relay.example.com' }, mail: {} };
      const notes = new ReplyNotes({ keywords: RELAY_KEYWORDS });
      const kept = inboundFrom('+447700900777');
      const rerouted = async (inbound: NewInbound) => {
        await store.acceptInbound(inbound);
        await rerouteUndeliverable(store, settings, notes, inbound.id, 'ops@example.com');
        const due = await store.claimDueMail({ owner: 't', now: Date.now() + 1_000, leaseUntil: Date.now() + 60_000, limit: 10 });
        const mail = due.find((row) => row.messageId === inbound.id);
        return (await simpleParser(mail?.raw ?? Buffer.alloc(0))).text ?? '';
      };
      const stop = await rerouted(kept('in-stop', 'STOP', 1_000, { action: 'stop', keyword: 'STOP' }));
      assert.match(stop, /\+44 7700 900777 opted out of SMS from this relay \(it texted STOP\): replies to this mail are not sent\./);
      assert.doesNotMatch(stop, /Reply to this mail/);
      const later = await rerouted(kept('in-later', 'hello? who is this', 2_000));
      assert.match(later, /has opted out of SMS from this relay \(they texted STOP\): replies to this mail are not sent until it opts in again\./);
      assert.doesNotMatch(later, /Reply to this mail/);
      const start = await rerouted(kept('in-start', 'Start', 3_000, { action: 'start', keyword: 'START' }));
      assert.match(start, /texted START: SMS from this relay, and replies to this mail, reach it again\./);
    });

    test('a STOP rerouted after the phone opted in again says so, and is mailed as any SMS (the Reply line, no "not sent")', async () => {
      const settings = { sms: { domains: ['sms.example.com'] }, smtp: { hostname: 'relay.example.com' }, mail: {} };
      const notes = new ReplyNotes({ keywords: RELAY_KEYWORDS });
      const kept = inboundFrom('+447700900778');
      await store.acceptInbound(kept('again-stop', 'STOP', 1_000, { action: 'stop', keyword: 'STOP' }));
      await store.acceptInbound(kept('again-start', 'START', 2_000, { action: 'start', keyword: 'START' }));
      assert.equal(await store.isOptedOut('+447700900778'), false);
      await rerouteUndeliverable(store, settings, notes, 'again-stop', 'ops@example.com');
      const due = await store.claimDueMail({ owner: 't', now: Date.now() + 1_000, leaseUntil: Date.now() + 60_000, limit: 10 });
      const text = (await simpleParser(due.find((row) => row.messageId === 'again-stop')?.raw ?? Buffer.alloc(0))).text ?? '';
      assert.match(
        text,
        /\+44 7700 900778 texted STOP \(opting out of SMS from this relay\) and has opted in again since: SMS from this relay, and replies to this mail, reach it\./,
      );
      assert.doesNotMatch(text, /not sent/);
      assert.match(text, /Reply to this mail/);
    });

    test('a report that arrives before its send result is kept and applied when the result is recorded', async () => {
      await store.acceptMail(withContext('c1', 'alice@example.com'));
      assert.deepEqual(await report(6, 'failed'), { kind: 'orphan' });
      const id = await send('P1');
      assert.equal((await store.smsOf(id))[0]?.delivery, 'failed');
      const [notice] = await store.dueNotices(10);
      assert.equal(notice?.state, 'failed');
      assert.equal(notice?.code, 6);
      assert.deepEqual(await store.recordNotices([{ smsIds: [notice?.smsId ?? 0] }]), [true]);
      assert.deepEqual(await store.dueNotices(10), []);
    });

    test('a group of notices read before some of its SMS were recorded (by another relay) is left, and its rest told in a mail of its own', async () => {
      const numbers = ['+447700900141', '+447700900142', '+447700900143'];
      await store.acceptMail(mail(numbers));
      const [batch] = await store.claimDueSms({ owner: 't', now: 5_000, leaseUntil: 65_000, maxBatches: 1, batchSize: 10 });
      assert.equal(batch?.sms.length, 3);
      await store.recordSmsOutcomes((batch?.sms ?? []).map((sms, index) => ({ smsId: sms.id, kind: 'sent' as const, providerId: `G${index}` })));
      const fail = (index: number) =>
        store.applyDeliveryReport({
          provider: 'intellisoftware',
          providerId: `G${index}`,
          number: numbers[index] ?? '',
          code: 6,
          state: 'failed',
          receivedAt: 9_000,
        });
      // Its text names its SMS, as a bounce names their numbers.
      const bounce = (due: readonly { smsId: number }[], key = `report:${due.map((notice) => notice.smsId).join(',')}:failed`) => ({
        smsIds: due.map((notice) => notice.smsId),
        mail: {
          kind: 'bounce' as const,
          messageId: batch?.message.id,
          envelopeFrom: '',
          recipients: ['alice@example.com'],
          raw: Buffer.from(key),
          onceKey: key,
        },
      });
      await fail(0);
      await fail(1);
      const readByOne = await store.dueNotices(10);
      await fail(2);
      const readByOther = await store.dueNotices(10);
      assert.deepEqual([readByOne.length, readByOther.length], [2, 3]);
      assert.deepEqual(await store.recordNotices([bounce(readByOne)]), [true]);
      assert.deepEqual(await store.recordNotices([bounce(readByOther)]), [false], 'its first two are told already');
      const rest = await store.dueNotices(10);
      assert.deepEqual(
        rest.map((notice) => notice.recipient.number),
        [numbers[2]],
      );
      assert.deepEqual(await store.recordNotices([bounce(rest)]), [true]);
      const queued = await store.claimDueMail({ owner: 't', now: Date.now() + 1_000, leaseUntil: Date.now() + 60_000, limit: 10 });
      assert.deepEqual(
        queued.map((item) => item.raw.toString()),
        [bounce(readByOne).mail.onceKey, bounce(rest).mail.onceKey],
        'each SMS named in one bounce',
      );
    });

    test('states only move forward, repeats change nothing, and success is due only when asked', async () => {
      await store.acceptMail(withContext('c1', 'alice@example.com'));
      const id = await send('P1');
      assert.equal((await report(3, 'sent')).kind, 'advanced');
      assert.equal((await report(4, 'delivered')).kind, 'advanced');
      assert.deepEqual(
        await report(4, 'delivered'),
        { kind: 'duplicate', sms: { gatewayAccount: undefined } },
        'a repeat still knows whose account sent its SMS',
      );
      assert.deepEqual(await report(2, 'queued'), { kind: 'stale', sms: { gatewayAccount: undefined } });
      assert.deepEqual(await report(6, 'failed'), { kind: 'stale', sms: { gatewayAccount: undefined } });
      assert.equal((await store.smsOf(id))[0]?.delivery, 'delivered');
      assert.deepEqual(await store.dueNotices(10), []);
    });

    test('a repeat is the same report: an interim receipt and the final one with the same code are two, and the final one is applied', async () => {
      const said = (words: string) => ({ provider: 'vonage', providerId: 'P1', number: PHONE, code: 0, receivedAt: 9_000, said: words });
      await store.acceptMail(withContext('c1', 'alice@example.com'));
      const id = await send('P1');
      assert.equal((await store.applyDeliveryReport({ ...said('status accepted, err-code 0'), state: 'sent' })).kind, 'advanced');
      assert.equal((await store.applyDeliveryReport({ ...said('status accepted, err-code 0'), state: 'sent' })).kind, 'duplicate');
      // The same state in other words: a line of its own, the state as it was.
      assert.equal((await store.applyDeliveryReport({ ...said('status buffered, err-code 0'), state: 'sent' })).kind, 'stale');
      assert.equal((await store.applyDeliveryReport({ ...said('status delivered, err-code 0'), state: 'delivered' })).kind, 'advanced');
      assert.equal((await store.applyDeliveryReport({ ...said('status delivered, err-code 0'), state: 'delivered' })).kind, 'duplicate');
      assert.equal((await store.smsOf(id))[0]?.delivery, 'delivered');
      assert.deepEqual(
        (await store.events(id)).filter((event) => event.kind === 'delivery report').map((event) => event.detail),
        ['sent (status accepted, err-code 0)', 'sent (status buffered, err-code 0)', 'delivered (status delivered, err-code 0)'],
      );
      // Without the provider's words, the state tells them apart: unknown (1), then failed (1).
      await store.acceptMail(withContext('c2', 'alice@example.com'));
      const other = await send('P2');
      assert.equal((await report(1, 'sent', 'P2')).kind, 'advanced');
      assert.equal((await report(1, 'failed', 'P2')).kind, 'advanced');
      assert.equal((await report(1, 'failed', 'P2')).kind, 'duplicate');
      assert.equal((await store.smsOf(other))[0]?.delivery, 'failed');
    });

    test('an interim and a final receipt with the same code before their send result: the final one kept, and applied once it is', async () => {
      await store.acceptMail(withContext('c1', 'alice@example.com'));
      assert.deepEqual(await report(0, 'sent'), { kind: 'orphan' });
      assert.deepEqual(await report(0, 'delivered'), { kind: 'orphan' });
      assert.deepEqual(await report(0, 'delivered'), { kind: 'duplicate' });
      const id = await send('P1');
      assert.equal((await store.smsOf(id))[0]?.delivery, 'delivered');
    });

    test('a late interim receipt never undoes the final one with the same code: before the send result, or after it as a repeat', async () => {
      const said = (words: string, providerId: string) => ({ provider: 'vonage', providerId, number: PHONE, code: 0, receivedAt: 9_000, said: words });
      const [accepted, delivered] = [
        (providerId: string) => store.applyDeliveryReport({ ...said('status accepted, err-code 0', providerId), state: 'sent' }),
        (providerId: string) => store.applyDeliveryReport({ ...said('status delivered, err-code 0', providerId), state: 'delivered' }),
      ];
      // The gateway posts each receipt on its own request and retries any unanswered: the interim can come last.
      await store.acceptMail(withContext('c1', 'alice@example.com'));
      assert.deepEqual(await delivered('P1'), { kind: 'orphan' });
      assert.deepEqual(await accepted('P1'), { kind: 'duplicate' }, 'the kept row is all there is of the final receipt until the send result');
      const first = await send('P1');
      assert.equal((await store.smsOf(first))[0]?.delivery, 'delivered');
      await store.acceptMail(withContext('c2', 'bob@example.com'));
      const second = await send('P2');
      assert.equal((await accepted('P2')).kind, 'advanced');
      assert.equal((await delivered('P2')).kind, 'advanced');
      assert.deepEqual(await accepted('P2'), { kind: 'duplicate', sms: { gatewayAccount: undefined } }, 'a retried interim receipt');
      assert.deepEqual(await delivered('P2'), { kind: 'duplicate', sms: { gatewayAccount: undefined } }, 'a retried final receipt: no second history line');
      assert.deepEqual(
        (await store.events(second)).filter((event) => event.kind === 'delivery report').map((event) => event.detail),
        ['sent (status accepted, err-code 0)', 'delivered (status delivered, err-code 0)'],
      );
    });

    test('retention erases what people wrote once it is finished, and keeps what is still queued', async () => {
      const done = withContext('c1', 'alice@example.com');
      await store.acceptMail(done);
      await send('P9');
      await store.acceptMail(withContext('c2', 'bob@example.com', false, 1_500));
      await store.purgeContent(2_000, Date.now());
      assert.deepEqual(
        (await kind.rows('SELECT text FROM messages ORDER BY received_at')).map((row) => row.text),
        ['', 'x'],
      );
      const [queued] = await store.claimDueSms({ owner: 't', now: 5_000, leaseUntil: 65_000, maxBatches: 1, batchSize: 10 });
      assert.equal(queued?.message.text, 'x', 'a queued SMS keeps its text');
    });

    test('retention keeps the text of an inbound SMS until its reply mail was delivered and can no longer bounce, then erases it with its parts and old subjects', async () => {
      const reply = (id: string) => ({ kind: 'reply' as const, messageId: id, envelopeFrom: '', recipients: ['alice@example.com'], raw: Buffer.from('x') });
      const inbound = (id: string, routed: boolean): NewInbound => ({
        id,
        provider: 'intellisoftware',
        providerId: `G-${id}`,
        number: PHONE,
        text: `text of ${id}`,
        sentAt: undefined,
        userContext: undefined,
        receivedAt: 1_000,
        route: routed ? { mailbox: 'alice@example.com', context: 'c1', mail: reply(id), messageIdHeader: `<${id}@relay>` } : undefined,
      });
      const mailOutcome = async (kind: 'sent' | 'retry' | 'failed') => {
        for (const claimed of await store.claimDueMail({ owner: 't', now: Date.now() + 1_000, leaseUntil: Date.now() + 60_000, limit: 10 })) {
          if (kind === 'sent') await store.recordMailOutcome({ id: claimed.id, kind, response: '250 ok' });
          else if (kind === 'retry') await store.recordMailOutcome({ id: claimed.id, kind, nextAttemptAt: 0, error: '451 4.3.0 try later' });
          else await store.recordMailOutcome({ id: claimed.id, kind, error: '550 5.1.1 no such user' });
        }
      };
      /** What the store really keeps (the tables read beside it). */
      const texts = async () => Object.fromEntries((await kind.rows('SELECT id, text FROM inbound ORDER BY id')).map((row) => [row.id, row.text]));
      const subjects = async () => (await kind.rows('SELECT subject FROM conversations')).map((row) => row.subject);
      const partTexts = async () => (await kind.rows('SELECT text FROM sms_parts ORDER BY set_id, part_index')).map((row) => row.text);
      // Everything below is older than this on either store's clock (PostgreSQL's is the database's now).
      const retained = (now = Date.now()) => store.purgeContent(Date.now() + 60_000, now);
      await store.acceptMail(withContext('c1', 'alice@example.com'));

      await store.acceptInbound(inbound('nowhere', false));
      await store.acceptInbound(inbound('deferred', true));
      await mailOutcome('retry');
      await retained();
      assert.deepEqual(await texts(), { deferred: 'text of deferred', nowhere: 'text of nowhere' }, 'undeliverable, or its mail still queued: kept');
      assert.deepEqual(await subjects(), [null], 'a conversation last used before: its subject erased');
      // The deferred reply is then refused for good: its SMS is listed with its text, to be rerouted.
      await mailOutcome('failed');
      assert.equal((await store.undeliverableInboundById('deferred'))?.text, 'text of deferred');
      assert.equal(await store.rerouteInbound('deferred', 'ops@example.com', reply('deferred')), true);
      await retained();
      assert.equal((await texts()).deferred, 'text of deferred', 'rerouted, its mail not sent yet: kept');
      await mailOutcome('sent');
      await retained();
      assert.equal((await texts()).deferred, 'text of deferred', 'delivered just now: a bounce may still come, so kept');
      await retained(Date.now() + REPLY_BOUNCE_WINDOW_MS + 60_000);
      assert.deepEqual(await texts(), { deferred: '', nowhere: 'text of nowhere' }, 'delivered past every MTA queue lifetime: erased');

      // A long SMS's parts: those of an open set are kept, those of a mailed (closed) one erased.
      const part = (reference: number, index: number) =>
        store.addPart({
          provider: 'smpp',
          sender: PHONE,
          recipient: undefined,
          reference,
          total: 2,
          index,
          providerId: `P${reference}-${index}`,
          text: `part ${reference}.${index}`,
          sentAt: undefined,
          userContext: undefined,
          trackingId: undefined,
          receivedAt: 1_000,
        });
      const mailed = await part(1, 1);
      assert.equal(mailed.kind, 'stored');
      await store.closePartSet(mailed.kind === 'stored' ? mailed.set.id : 0, 1_500);
      await part(2, 1);
      await retained();
      assert.deepEqual(await partTexts(), ['', 'part 2.1']);
    });

    test('quarantine show and list tell an empty body from one store.retention erased', async () => {
      const kept = (reason: string, body: string) => store.quarantine({ receivedAt: 1_000, provider: 'puzzel', kind: 'mo', reason, body: Buffer.from(body) });
      const keptIds = [await kept('empty', ''), await kept('full', '{"mo":[]}')];
      const [empty, full] = await store.listQuarantine(10);
      assert.deepEqual(keptIds, [empty?.id, full?.id], 'each request kept gives its id');
      const show = async (id: number | undefined) => (await quarantine(store, ['show', String(id)], () => undefined)).split('\n')[1];
      assert.equal(await show(empty?.id), '(empty body)');
      assert.equal(await show(full?.id), '{"mo":[]}');
      await store.purgeContent(2_000, Date.now());
      assert.equal(await show(full?.id), '(body erased by store.retention)');
      assert.equal(await show(empty?.id), '(empty body)', 'nothing to erase: still empty');
      assert.equal((await store.quarantined(full?.id ?? 0))?.bodyErased, true);
      // bytes stays a number (scripts sum and compare it); the flag tells an erased body from one that came empty.
      const listed = (await quarantine(store, ['list'], () => undefined))
        .split('\n')
        .map((line) => JSON.parse(line) as { bytes: unknown; bodyErased?: unknown });
      assert.deepEqual(
        listed.map(({ bytes, bodyErased }) => ({ bytes, bodyErased })),
        [
          { bytes: 0, bodyErased: undefined },
          { bytes: 0, bodyErased: true },
        ],
      );
    });

    test("a quarantined request's id is never given again, and deleting all through the newest seen keeps the ones kept after it", async () => {
      const kept = (body: string) =>
        store.quarantine({ receivedAt: 1_000, provider: 'intellisoftware', kind: 'mo', reason: 'unreadable', body: Buffer.from(body) });
      const first = await kept('first');
      assert.equal(await store.deleteQuarantined({ id: first }), 1);
      const second = await kept('second');
      assert.ok(second > first, `the request kept after the last was deleted has a new id (${second}, not ${first})`);
      assert.equal(await store.quarantined(first), undefined, 'the deleted id names nothing');
      assert.equal(await store.deleteQuarantined({ id: first }), 0, 'a stale delete deletes nothing');
      assert.deepEqual(await store.quarantineSpan(), { count: 1, newestId: second });
      const third = await kept('third');
      assert.equal(await store.deleteQuarantined({ through: second, count: 1 }), 1, 'only what the operator saw');
      assert.deepEqual(
        (await store.listQuarantine(10)).map((entry) => entry.id),
        [third],
      );
      assert.equal(await store.deleteQuarantined({ through: undefined }), 1, "the CLI's delete all: every one");
      assert.ok((await kept('fourth')) > third, 'after every one was deleted, still a new id');
      assert.deepEqual((await store.quarantineSpan()).count, 1);
    });

    test('deleting all through the newest seen deletes none when the requests up to it are not as many as were seen', async () => {
      const kept = (body: string) =>
        store.quarantine({ receivedAt: 1_000, provider: 'intellisoftware', kind: 'mo', reason: 'unreadable', body: Buffer.from(body) });
      const [first, second] = [await kept('first'), await kept('second')];
      const seen = await store.quarantineSpan();
      assert.deepEqual(seen, { count: 2, newestId: second });
      // Another operator deleted one meanwhile: the requests up to the newest are no longer the ones shown.
      await store.deleteQuarantined({ id: first });
      assert.equal(await store.deleteQuarantined({ through: second, count: seen.count }), 0);
      assert.deepEqual(await store.quarantineSpan(), { count: 1, newestId: second }, 'nothing deleted');
      assert.equal(await store.deleteQuarantined({ through: second, count: 1 }), 1, 'confirmed again with the numbers now');
    });
  }),
);

describeOnPostgres('store on PostgreSQL: a quarantined request committed below the newest shown', async (url) => {
  test('is not deleted unseen: its id was given before the newest shown, and it committed after the confirmation was shown', async () => {
    const store = await PostgresStore.open({ url });
    try {
      await withClient(url, async (slow) => {
        await slow.query('BEGIN');
        await slow.query("INSERT INTO quarantine (received_at, provider, kind, reason, body) VALUES (1000, 'intellisoftware', 'mo', 'slow', 'slow')");
        const shown = await store.quarantine({ receivedAt: 1_000, provider: 'intellisoftware', kind: 'mo', reason: 'unreadable', body: Buffer.from('shown') });
        const seen = await store.quarantineSpan();
        assert.deepEqual(seen, { count: 1, newestId: shown });
        await slow.query('COMMIT');
        assert.equal(await store.deleteQuarantined({ through: shown, count: seen.count }), 0, 'two are kept up to the newest shown, not one');
        assert.deepEqual(
          (await store.listQuarantine(10)).map((entry) => entry.reason),
          ['slow', 'unreadable'],
        );
      });
    } finally {
      await store.close();
    }
  });
});

describeOnPostgres('store on PostgreSQL: two relays placing the parts of one long SMS at once', async (url) => {
  test('the first parts of one SMS at two relays at once meet in one set, and a part both receive at once is kept once', async () => {
    const [one, two] = [await PostgresStore.open({ url }), await PostgresStore.open({ url })];
    const part = (store: Store, reference: number, index: number) =>
      store.addPart({
        provider: 'vonage',
        sender: PHONE,
        recipient: '447700900777',
        reference,
        total: 2,
        index,
        providerId: `A${index}`,
        text: `A${index} `,
        sentAt: undefined,
        userContext: undefined,
        trackingId: undefined,
        receivedAt: 1_000,
      });
    try {
      // Several tries: without the key's lock, both relays find no set and each opens one.
      for (let reference = 0; reference < 10; reference++) {
        const [first, second] = await Promise.all([part(one, reference, 1), part(two, reference, 2)]);
        assert.ok(first.kind === 'stored' && second.kind === 'stored');
        assert.equal(first.set.id, second.set.id, `reference ${reference}: one set`);
        const [retried, again] = await Promise.all([part(one, 100 + reference, 1), part(two, 100 + reference, 1)]);
        assert.ok(retried.kind === 'stored' && again.kind === 'stored' && retried.set.id === again.set.id);
        assert.equal([retried.repeat, again.repeat].filter(Boolean).length, 1, `reference ${100 + reference}: kept once, one repeat`);
      }
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });
});

describeOnPostgres('store on PostgreSQL: placing a part locks only the sets it may write', async (url) => {
  test('a part is placed while another transaction holds the rows of mailed sets: only the open sets are locked', async () => {
    const store = await PostgresStore.open({ url });
    const HOUR = 60 * 60_000;
    const part = (reference: number, sms: string, index: number, receivedAt: number) => addLongSmsPart(store, { reference, sms, index, receivedAt });
    try {
      // Under one reference: A mailed hours ago, B mailed just now (the new part may be late to it), C open.
      for (const [sms, closedAt] of [
        ['A', 2_000],
        ['B', 3 * HOUR],
      ] as const) {
        const first = await part(8, sms, 1, closedAt - 1_000);
        assert.ok(first.kind === 'stored');
        await store.closePartSet(first.set.id, closedAt);
      }
      const c1 = await part(8, 'C', 1, 3 * HOUR);
      await withClient(url, async (other) => {
        await other.query('BEGIN');
        await other.query('SELECT id FROM part_sets WHERE closed_at IS NOT NULL FOR UPDATE');
        try {
          const placed = await Promise.race([
            part(8, 'C', 2, 3 * HOUR + 1_000),
            new Promise<'waited'>((resolve) => setTimeout(() => resolve('waited'), 3_000).unref()),
          ]);
          assert.ok(placed !== 'waited', 'placing the part waited for the rows of mailed sets');
          assert.ok(c1.kind === 'stored' && placed.kind === 'stored' && placed.set.id === c1.set.id);
        } finally {
          await other.query('ROLLBACK');
        }
      });
    } finally {
      await store.close();
    }
  });
});

describeOnPostgres('store on PostgreSQL: parts to two numbers racing for one set of no number', async (url) => {
  test("the part another relay is placing into a set of no number holds its row: a part to another number waits, reads it as that number's, and opens a set of its own", async () => {
    const store = await PostgresStore.open({ url });
    /** Part `index` of 2 of a long SMS from PHONE to `recipient` (undefined: as a relay before schema 31 kept it), sent `seconds` after part 1. */
    const part = (recipient: string | undefined, index: number, providerId: string, seconds: number): NewSmsPart => ({
      provider: 'vonage',
      sender: PHONE,
      recipient,
      reference: 33,
      total: 2,
      index,
      providerId,
      text: `${providerId} `,
      sentAt: new Date(Date.parse('2026-12-06T17:59:40Z') + seconds * 1_000).toISOString(),
      userContext: undefined,
      trackingId: undefined,
      receivedAt: 1_000,
    });
    try {
      const older = await store.addPart(part(undefined, 1, 'A1', 0));
      assert.ok(older.kind === 'stored');
      await withClient(url, async (other) => {
        // Another relay places 777's part 2 into the older set, its transaction not yet committed.
        await other.query('BEGIN');
        const alpha = await addPart(other, part('447700900777', 2, 'A2', 1));
        // A plain client reads the set's id (bigint) as text, as the store's own pool does not.
        assert.ok(alpha.kind === 'stored' && Number(alpha.set.id) === older.set.id && alpha.set.parts.length === 2);
        // 888's part 2, sent as near: it waits for that row, then finds the set 777's.
        const bravo = store.addPart(part('447700900888', 2, 'B2', 1));
        const first = await Promise.race([bravo, new Promise<'waiting'>((resolve) => setTimeout(() => resolve('waiting'), 300).unref())]);
        assert.equal(first, 'waiting', "888's part waits for the row the other relay holds");
        await other.query('COMMIT');
        const placed = await bravo;
        assert.ok(placed.kind === 'stored' && placed.set.id !== older.set.id && placed.set.parts.length === 1);
      });
      assert.deepEqual(
        (
          await withClient(url, (client) =>
            client.query('SELECT s.recipient, p.provider_id FROM part_sets s JOIN sms_parts p ON p.set_id = s.id ORDER BY s.id, p.part_index'),
          )
        ).rows,
        [
          { recipient: '447700900777', provider_id: 'A1' },
          { recipient: '447700900777', provider_id: 'A2' },
          { recipient: '447700900888', provider_id: 'B2' },
        ],
      );
    } finally {
      await store.close();
    }
  });
});
