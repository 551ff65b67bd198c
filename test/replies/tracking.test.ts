import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import { ReplyTracking } from '../../src/replies/tracking.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { mail, storeFile } from '../helpers/store.ts';

const PHONE = '+447700900123';
const WINDOW_MS = 7 * 24 * 60 * 60_000;
const NO_CLUES = { userContext: undefined, contextFromReplyTag: false, threadIds: [], mailbox: undefined };

/** Reply tracking on a real SQLite store: the context a mail carries, and where a phone's answer goes. */
describe('reply tracking', () => {
  let store: SqliteStore;
  let tracking: ReplyTracking;
  beforeEach(() => {
    store = SqliteStore.open({ file: storeFile(), busyTimeoutMs: 100 });
    tracking = new ReplyTracking({ store, windowMs: WINDOW_MS, defaultMailbox: 'ops@example.com' });
  });

  /** Commits a mail to PHONE under `context` from `mailbox`, as acceptance does. */
  const commit = async (context: string, mailbox: string, messageIdHeader: string, receivedAt = 1_000) => {
    const { conversation } = await tracking.outgoing({ ...NO_CLUES, userContext: context, mailbox }, [PHONE]);
    await store.acceptMail(
      mail([PHONE], {
        receivedAt,
        messageIdHeader,
        conversation,
        sms: { text: 'x', encoding: 'gsm7', parts: 1, maxParts: 6, senderId: undefined, userContext: context },
      }),
    );
  };

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
    assert.deepEqual(reply, { userContext: 'c1', conversation: { mailbox: 'alice@example.com', continues: true } });
  });

  test("an SMS goes to its context's mailbox, else the latest conversation, else the default mailbox", async () => {
    assert.deepEqual(await tracking.route(PHONE, undefined, 2_000), { mailbox: 'ops@example.com', conversation: undefined });
    await commit('c1', 'alice@example.com', '<alice-1@example.com>', 1_000);
    await commit('c2', 'bob@example.com', '<bob-1@example.com>', 1_500);
    assert.equal((await tracking.route(PHONE, 'c1', 2_000))?.mailbox, 'alice@example.com');
    assert.equal((await tracking.route(PHONE, undefined, 2_000))?.mailbox, 'bob@example.com');
    assert.equal((await tracking.route(PHONE, 'unknown', 2_000))?.mailbox, 'bob@example.com');
  });

  test('a committed mail that takes a conversation over is seen at once (read from the store, no cache)', async () => {
    await commit('c1', 'alice@example.com', '<alice-1@example.com>');
    assert.equal((await tracking.route(PHONE, 'c1', 2_000))?.mailbox, 'alice@example.com');
    await commit('c1', 'carol@example.com', '<carol-1@example.com>', 1_500);
    assert.equal((await tracking.route(PHONE, 'c1', 2_000))?.mailbox, 'carol@example.com');
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
});
