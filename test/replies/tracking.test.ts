import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { createLogger } from '../../src/log.ts';
import { type ConversationClues, ReplyTracking } from '../../src/replies/tracking.ts';
import type { Store } from '../../src/store/types.ts';
import { assertNeverLogged, captureLog } from '../helpers/log-lines.ts';
import { mail } from '../helpers/store.ts';
import { forEachStore } from '../helpers/stores.ts';

const PHONE = '+447700900123';
const WINDOW_MS = 7 * 24 * 60 * 60_000;
const NO_CLUES: ConversationClues = { userContext: undefined, threadIds: [], mailbox: undefined, author: undefined };

/** Reply tracking on each real store: the context a mail carries, and where a phone's answer goes. */
forEachStore((kind) =>
  describe('reply tracking', () => {
    let store: Store;
    let tracking: ReplyTracking;
    beforeEach(async () => {
      store = await kind.fresh();
      tracking = new ReplyTracking({ store, windowMs: WINDOW_MS, defaultMailbox: 'ops@example.com', logger: createLogger('silent') });
    });
    afterEach(() => store.close());

    /** Commits a mail to PHONE with `clues` (From: its mailbox unless they say), as acceptance does; the context it got. */
    const send = async (clues: Partial<ConversationClues>, messageIdHeader: string | undefined, receivedAt = 1_000) => {
      const { userContext, conversation } = await tracking.outgoing({ ...NO_CLUES, author: clues.mailbox, ...clues }, [PHONE]);
      await store.acceptMail(
        mail([PHONE], {
          receivedAt,
          messageIdHeader,
          conversation,
          sms: { text: 'x', encoding: 'gsm7', parts: 1, maxParts: 6, senderId: undefined, userContext },
        }),
      );
      return userContext;
    };
    const commit = (context: string, mailbox: string, messageIdHeader: string, receivedAt = 1_000) =>
      send({ userContext: context, mailbox }, messageIdHeader, receivedAt);

    test("a read of the earlier reply mail that fails leaves the phone's answer unthreaded, its route kept, and says why: a warning once per kind, never the number", async () => {
      // A conversation whose writer gives no Message-ID (a device talking SMTP): its reply mails are threaded under each other.
      await send({ userContext: 'c1', mailbox: 'alice@example.com' }, undefined);
      const { logger, lines } = captureLog('debug');
      const failing = new ReplyTracking({
        store: {
          conversation: (context, number) => store.conversation(context, number),
          latestConversation: (number, windowMs, now) => store.latestConversation(number, windowMs, now),
          contextOfTracking: (trackingId, number) => store.contextOfTracking(trackingId, number),
          contextOfMail: (messageIds, numbers) => store.contextOfMail(messageIds, numbers),
          answeredNumbers: (context, messageIds, numbers) => store.answeredNumbers(context, messageIds, numbers),
          // A PostgreSQL role without the right to read the sent mails: it fails each time.
          sentReplies: async () => {
            throw Object.assign(new Error(`permission denied for table mail_out (${PHONE})`), { code: '42501' });
          },
        },
        windowMs: WINDOW_MS,
        defaultMailbox: 'ops@example.com',
        logger,
      });
      for (let turn = 0; turn < 2; turn++) {
        const route = await failing.route(PHONE, 'c1', 2_000);
        assert.equal(route?.mailbox, 'alice@example.com');
        assert.equal(route?.earlierReply, undefined);
      }
      const said = lines.map((line) => JSON.parse(line) as { level: string; msg: string }).filter((line) => /unthreaded/.test(line.msg));
      assert.deepEqual(
        said.map(({ level, msg }) => [level, msg]),
        [
          ['warn', 'replies: a reply mail goes unthreaded: its earlier reply mail could not be read (42501)'],
          ['debug', 'replies: a reply mail goes unthreaded: its earlier reply mail could not be read (42501)'],
        ],
      );
      assertNeverLogged(lines, { 'the number': PHONE.slice(1) });
    });

    test('new contexts stay random across refills of the random pool: 2,000 mails, 2,000 contexts', async () => {
      const contexts = new Set<string>();
      for (let index = 0; index < 2_000; index++) contexts.add((await tracking.outgoing(NO_CLUES, [PHONE])).userContext);
      assert.equal(contexts.size, 2_000);
      for (const context of contexts) assert.match(context, /^[0-9a-z]{8}$/);
    });

    test("a mail without clues gets a new context; a reply mail continues its thread's", async () => {
      const fresh = await tracking.outgoing(NO_CLUES, [PHONE]);
      assert.match(fresh.userContext, /^[0-9a-z]{8}$/);
      assert.equal(fresh.conversation, undefined);
      await commit('c1', 'alice@example.com', '<alice-1@example.com>');
      const reply = await tracking.outgoing({ ...NO_CLUES, threadIds: ['<alice-1@example.com>'], mailbox: 'alice@example.com' }, [PHONE]);
      assert.deepEqual(reply, {
        userContext: 'c1',
        conversation: { mailbox: 'alice@example.com', continues: true },
        notTaken: undefined,
        mailboxTaken: true,
        posedAs: undefined,
      });
    });

    test("an SMS goes to its context's mailbox, else the latest conversation, else the default mailbox", async () => {
      assert.deepEqual(await tracking.route(PHONE, undefined, 2_000), { mailbox: 'ops@example.com', conversation: undefined });
      await commit('c1', 'alice@example.com', '<alice-1@example.com>', 1_000);
      await commit('c2', 'bob@example.com', '<bob-1@example.com>', 1_500);
      assert.equal((await tracking.route(PHONE, 'c1', 2_000))?.mailbox, 'alice@example.com');
      assert.equal((await tracking.route(PHONE, undefined, 2_000))?.mailbox, 'bob@example.com');
      assert.equal((await tracking.route(PHONE, 'unknown', 2_000))?.mailbox, 'bob@example.com');
    });

    test("a committed mail that moves a conversation's mailbox is seen at once (read from the store, no cache)", async () => {
      await commit('c1', 'alice@example.com', '<alice-1@example.com>');
      assert.equal((await tracking.route(PHONE, 'c1', 2_000))?.mailbox, 'alice@example.com');
      // Alice's own mail, her replies now to Carol.
      await send({ userContext: 'c1', mailbox: 'carol@example.com', author: 'Alice@Example.com' }, '<alice-2@example.com>', 1_500);
      assert.equal((await tracking.route(PHONE, 'c1', 2_000))?.mailbox, 'carol@example.com');
    });

    test("another mailbox naming a conversation's context, in any form, gets a new one; the conversation stays", async () => {
      await commit('bob-ctx', 'bob@example.com', '<bob-1@example.com>');
      const clues = { ...NO_CLUES, userContext: 'bob-ctx', mailbox: 'mallory@example.com', author: 'mallory@example.com' };
      const mallory = await tracking.outgoing(clues, [PHONE]);
      assert.notEqual(mallory.userContext, 'bob-ctx');
      assert.match(mallory.userContext, /^[0-9a-z]{8}$/);
      assert.deepEqual(mallory.conversation, { mailbox: 'mallory@example.com', continues: false });
      assert.deepEqual(mallory.notTaken, { context: 'bob-ctx', numbers: [PHONE] });
      const given = await send({ userContext: 'bob-ctx', mailbox: 'mallory@example.com' }, '<mallory-1@example.com>', 1_500);
      assert.equal((await tracking.route(PHONE, 'bob-ctx', 2_000))?.mailbox, 'bob@example.com');
      assert.equal((await tracking.route(PHONE, given, 2_000))?.mailbox, 'mallory@example.com');
      // Bob's own mail (an ERP naming its ticket's context again) keeps it.
      assert.equal(await commit('bob-ctx', 'bob@example.com', '<bob-2@example.com>', 1_600), 'bob-ctx');
      // A reply found by the thread (a colleague answering Bob's mail) continues it, the mailbox stays Bob's.
      const colleague = await tracking.outgoing(
        {
          ...NO_CLUES,
          userContext: 'bob-ctx',
          threadIds: ['<bob-1@example.com>'],
          mailbox: 'carol@example.com',
          author: 'carol@example.com',
        },
        [PHONE],
      );
      assert.deepEqual(colleague, {
        userContext: 'bob-ctx',
        conversation: { mailbox: 'carol@example.com', continues: true },
        notTaken: undefined,
        mailboxTaken: false,
        posedAs: undefined,
      });
    });

    test("a From or Reply-To the mail's sender may not write as makes the mail no conversation's mailbox's: it gets a new context, and says whom it posed as", async () => {
      await commit('alice-ctx', 'alice@example.com', '<alice-1@example.com>');
      const erp = (address: string) => address.endsWith('@erp.example.com');
      const forged = { ...NO_CLUES, userContext: 'alice-ctx', mailbox: 'mallory@evil.example', author: 'Alice@example.com', mayWriteAs: erp };
      const mallory = await tracking.outgoing(forged, [PHONE]);
      assert.notEqual(mallory.userContext, 'alice-ctx');
      assert.deepEqual(mallory.notTaken, { context: 'alice-ctx', numbers: [PHONE] });
      assert.equal(mallory.posedAs, 'alice@example.com');
      // The same mail from a sender who may write as Alice is hers: it moves her conversation.
      const alice = await tracking.outgoing({ ...forged, mayWriteAs: () => true }, [PHONE]);
      assert.deepEqual(alice, {
        userContext: 'alice-ctx',
        conversation: { mailbox: 'mallory@evil.example', continues: false },
        notTaken: undefined,
        mailboxTaken: true,
        posedAs: undefined,
      });
      // Answering a mail of her conversation continues it, and her mailbox keeps it.
      const answer = await tracking.outgoing({ ...forged, threadIds: ['<alice-1@example.com>'] }, [PHONE]);
      assert.deepEqual(answer, {
        userContext: 'alice-ctx',
        conversation: { mailbox: 'mallory@evil.example', continues: true },
        notTaken: undefined,
        mailboxTaken: false,
        posedAs: undefined,
      });
    });

    test('the context of an SMS: the one the provider echoed, else the one its tracking id stands for', async () => {
      await commit('c1', 'alice@example.com', '<alice-1@example.com>');
      const [batch] = await store.claimDueSms({ owner: 't', now: 5_000, leaseUntil: 65_000, maxBatches: 1, batchSize: 10 });
      const sms = batch?.sms[0];
      assert.ok(sms);
      await store.recordSmsOutcomes([{ smsId: sms.id, kind: 'sent', providerId: 'P1', trackingId: 'session-7' }]);
      assert.equal(await tracking.contextOf({ userContext: undefined, trackingId: 'session-7', number: PHONE }), 'c1');
      assert.equal(await tracking.contextOf({ userContext: 'echoed', trackingId: 'session-7', number: PHONE }), 'echoed');
      assert.equal(await tracking.contextOf({ userContext: undefined, trackingId: undefined, number: PHONE }), undefined);
    });
  }),
);
