import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { Templates } from '../../src/mailer/templates.ts';
import { InboundService } from '../../src/replies/inbound.ts';
import { replyMailOptions } from '../../src/replies/reply-mail.ts';
import { ReplyTracking } from '../../src/replies/tracking.ts';
import { statementName } from '../../src/store/postgres/prepared.ts';
import { CONVERSATION, LATEST_CONVERSATION, PostgresStore } from '../../src/store/postgres/store.ts';
import type { NewInbound, Store } from '../../src/store/types.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { describeOnPostgres } from '../helpers/postgres.ts';
import { postgresProxy } from '../helpers/postgres-proxy.ts';
import { mail } from '../helpers/store.ts';
import { forEachStore } from '../helpers/stores.ts';
import { startSilentTcpServer } from '../helpers/tcp.ts';

/** The round trips of the MO path on PostgreSQL (#17 item 8): a received SMS's reads, many webhooks at once, and a delivery report. */
const numbers = Array.from({ length: 20 }, (_, index) => `+4477009001${String(index).padStart(2, '0')}`);
const withConversation = (number: string) =>
  mail([number], {
    sms: { text: 'x', encoding: 'gsm7', parts: 1, maxParts: 6, senderId: undefined, userContext: `c-${number}` },
    conversation: { mailbox: `ops-${number.slice(-2)}@example.com`, continues: false },
    subject: `alert for ${number}`,
  });
const received = (providerId: string): NewInbound => ({
  id: `in-${providerId}`,
  provider: 'intellisoftware',
  providerId,
  number: numbers[0] ?? '',
  text: 'hello',
  sentAt: undefined,
  userContext: undefined,
  receivedAt: 1_000,
  route: undefined,
});

/** Wide enough for SQLite's conversations (used at the mails' receivedAt, near the epoch) and PostgreSQL's (the database's now). */
const WINDOW_MS = Date.now() + 86_400_000;

/** All at once, as the webhooks of one turn of the event loop ask them. */
const readTogether = (store: Store) =>
  Promise.all([
    ...numbers.map((number) => store.latestConversation(number, WINDOW_MS, Date.now())),
    ...numbers.map((number) => store.conversation(`c-${number}`, number)),
    ...numbers.map((_, index) => store.knowsInbound('intellisoftware', `G${index}`)),
  ]);

forEachStore((kind) =>
  describe('store: the reads before a received SMS is kept, many at once', () => {
    let store: Store;
    beforeEach(async () => {
      store = await kind.fresh();
      for (const number of numbers.slice(0, 10)) await store.acceptMail(withConversation(number));
      for (const index of [0, 1, 2]) await store.acceptInbound(received(`G${index}`));
    });
    afterEach(() => store.close());

    test('each read answers its own question', async () => {
      const answers = await readTogether(store);
      const latest = answers.slice(0, 20);
      const known = answers.slice(20, 40);
      const seen = answers.slice(40);
      assert.deepEqual(
        latest.map((conversation) => (conversation as { context?: string } | undefined)?.context),
        numbers.map((number, index) => (index < 10 ? `c-${number}` : undefined)),
      );
      assert.deepEqual(
        known.map((conversation) => (conversation as { mailbox?: string } | undefined)?.mailbox),
        numbers.map((number, index) => (index < 10 ? `ops-${number.slice(-2)}@example.com` : undefined)),
      );
      assert.equal((latest[3] as { subject?: string } | undefined)?.subject, `alert for ${numbers[3]}`);
      assert.deepEqual(
        seen,
        numbers.map((_, index) => index < 3),
      );
    });

    test('a read the database refuses fails alone: the reads beside it still answer', async () => {
      const [bad, good, unknown] = await Promise.allSettled([
        // A NUL byte: PostgreSQL refuses it in a text value; SQLite finds nothing.
        store.knowsInbound('intellisoftware', 'G\u0000'),
        store.knowsInbound('intellisoftware', 'G1'),
        store.latestConversation(numbers[0] ?? '', WINDOW_MS, Date.now()),
      ]);
      if (kind.name === 'PostgreSQL') assert.equal(bad?.status, 'rejected');
      else assert.deepEqual(bad, { status: 'fulfilled', value: false });
      assert.deepEqual(good, { status: 'fulfilled', value: true });
      assert.equal(unknown?.status === 'fulfilled' && unknown.value?.context, `c-${numbers[0]}`);
    });
  }),
);

/** A TCP relay in front of PostgreSQL that counts what the store writes to it: its round trips. */
async function countingProxy(target: URL): Promise<{ port: number; close(): Promise<void>; writes: () => number }> {
  let writes = 0;
  const listener = await startSilentTcpServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    client.on('data', (chunk) => {
      writes++;
      upstream.write(chunk);
    });
    upstream.pipe(client);
    upstream.on('error', () => client.destroy()).on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  return { ...listener, writes: () => writes };
}

/** A store on `url` through a counting proxy: its socket writes to the server, one per round trip (a batch goes as one). */
async function proxiedStore(url: string) {
  const proxy = await countingProxy(new URL(url));
  const proxied = new URL(url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(proxy.port);
  const store = await PostgresStore.open({ url: proxied.toString() });
  return {
    store,
    writes: proxy.writes,
    async close() {
      await store.close();
      await proxy.close();
    },
  };
}

describeOnPostgres('PostgreSQL: round trips of the MO path', async (url) => {
  test('the reads of many received SMS asked in one turn go to the server in one round trip, not one each', async () => {
    const { store, writes, close } = await proxiedStore(url);
    try {
      for (const number of numbers.slice(0, 10)) await store.acceptMail(withConversation(number));
      await readTogether(store);
      const before = writes();
      const answers = await readTogether(store);
      assert.equal(answers.length, 60);
      // 60 reads alone were 60.
      assert.ok(writes() - before <= 2, `${writes() - before} writes for 60 reads`);
    } finally {
      await close();
    }
  });

  test("the repeat checks of the SMS received in one turn are one statement, as their numbers' opt-out checks are, each answered its own", async () => {
    const proxy = await postgresProxy(url);
    const store = await PostgresStore.open({ url: proxy.url });
    try {
      await store.acceptInbound(received('R1'));
      await store.recordOptOut(numbers[1] ?? '', Date.now(), 'STOP');
      const ask = () =>
        Promise.all([
          ...numbers.map((_, index) => store.knowsInbound('intellisoftware', `R${index}`)),
          ...numbers.map((number) => store.isOptedOut(number)),
          store.knowsInbound('another', 'R1'),
        ]);
      await ask();
      const before = proxy.tags().length;
      const answers = await ask();
      assert.deepEqual(answers, [...numbers.map((_, index) => index === 1), ...numbers.map((_, index) => index === 1), false]);
      // 20 repeat checks of one provider were 20 statements: one per kind of question (the other provider's is another).
      assert.deepEqual(proxy.tags().slice(before), ['SELECT 1', 'SELECT 1', 'SELECT 0']);
    } finally {
      await store.close();
      await proxy.close();
    }
  });

  test("a received SMS through the inbound service: its reads (the repeat check, the route, whether the number opted out) in one round trip, then its commit and its mail's notification", async () => {
    const { store, writes, close } = await proxiedStore(url);
    try {
      const sink = new InboundService({
        store,
        tracking: new ReplyTracking({ store, windowMs: 86_400_000, defaultMailbox: 'ops@example.com', logger: captureLog('error').logger }),
        replyMail: replyMailOptions({ sms: { domains: ['sms.example.com'] }, smtp: { hostname: 'relay.example.com' }, mail: {} }, new Templates()),
        keywords: { stop: ['STOP'], start: ['START'] },
        logger: captureLog('error').logger,
        onMailQueued: () => {},
        onReportApplied: () => {},
      }).sinkFor('intellisoftware');
      const receive = (index: number) =>
        sink.received([
          { providerId: `MO-${index}`, number: `+4477009002${index}0`, text: 'on my way', sentAt: undefined, userContext: undefined, trackingId: undefined },
        ]);
      // The first ones open the pool's connections and prepare the statements.
      for (const index of [0, 1]) await receive(index);
      for (const index of [2, 3, 4]) {
        const before = writes();
        assert.equal((await receive(index))[0]?.status, 'accepted');
        // Four when the opt-out read went alone, after the others.
        assert.equal(writes() - before, 3, `SMS ${index}`);
      }
    } finally {
      await close();
    }
  });

  test('a delivery report takes three round trips (its lock and read, its keeping and applying, COMMIT), not one per statement', async () => {
    const { store, writes, close } = await proxiedStore(url);
    try {
      const number = numbers[0] ?? '';
      await store.acceptMail(mail([number]));
      const [batch] = await store.claimDueSms({ owner: 't', now: Date.now(), leaseUntil: Date.now() + 60_000, maxBatches: 1, batchSize: 10 });
      const sms = batch?.sms[0];
      assert.ok(sms);
      await store.recordSmsOutcomes([{ smsId: sms.id, kind: 'sent', providerId: 'P1' }]);
      const report = (code: number, state: 'delivered' | 'sent') =>
        store.applyDeliveryReport({ provider: 'intellisoftware', providerId: 'P1', number, code, state, receivedAt: Date.now() });
      const before = writes();
      const sentBy = Date.now();
      const applied = await report(2, 'delivered');
      const sentAt = applied.kind === 'advanced' ? applied.sentAt : undefined;
      assert.ok(sentAt !== undefined && sentAt <= sentBy, 'when its SMS was sent, which dates an opt-out the report gives no time for');
      assert.deepEqual(applied, { kind: 'advanced', smsId: sms.id, messageId: batch?.message.id, gatewayAccount: undefined, sentAt });
      // Five before: the insert, the update and the history line went one by one.
      assert.equal(writes() - before, 3);
      assert.deepEqual(await report(2, 'delivered'), { kind: 'duplicate', sms: { gatewayAccount: undefined } });
      assert.deepEqual(await report(1, 'sent'), { kind: 'stale', sms: { gatewayAccount: undefined } });
      const events = (await store.events(batch?.message.id ?? '')).filter((event) => event.kind === 'delivery report');
      assert.deepEqual(
        events.map((event) => event.detail),
        ['delivered (provider status 2)'],
      );
      assert.equal((await store.smsOf(batch?.message.id ?? ''))[0]?.delivery, 'delivered');
    } finally {
      await close();
    }
  });
});

test("the route's look-ups run named, planned once per connection: a result column from '*' made them unnamed, planned at every call", () => {
  // Measured 2026-12-03 (MO driver, 3,000 webhooks): the latest conversation's look-up cost the server 71 µs of planning per received SMS.
  for (const [name, text] of Object.entries({ CONVERSATION, LATEST_CONVERSATION })) assert.notEqual(statementName(text), undefined, `${name} runs unnamed`);
});
