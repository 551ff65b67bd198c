/**
 * The console's store (issue #19) on SQLite and PostgreSQL alike: sessions, the sign-in throttle,
 * the audit and its events, searches, message details, the charts' counts, the health lines,
 * conversations and threads give the same results on both, from data the relay's own store wrote.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { RelayError } from '../../src/errors.ts';
import { CONSOLE_SQL, searchStatement } from '../../src/store/console-rows.ts';
import type { ConsoleStore, ThreadCursor } from '../../src/store/console-types.ts';
import { PostgresConsoleStore } from '../../src/store/postgres/console.ts';
import { PostgresStore } from '../../src/store/postgres/store.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import type { Store } from '../../src/store/types.ts';
import { mail, storeFile } from '../helpers/store.ts';
import { describeOnPostgres, freshDatabase, POSTGRES_SKIP, withClient, withDatabase } from '../helpers/postgres.ts';
import { forEachStore } from '../helpers/stores.ts';

const MINUTE_MS = 60_000;
const A = '+447700900001';
const B = '+447700900002';
const C = '+447700900003';
/** Message ids as the relay makes them (UUIDv7: time-ordered), oldest first. */
const ID = (n: number) => `0190a4e2-7c3b-7d6e-9f10-2b3c4d5e6f7${n}`;

describe('console store', () => {
  forEachStore((kind) => {
    let store: Store;
    let consoleStore: ConsoleStore;

    beforeEach(async () => {
      store = await kind.fresh();
      consoleStore = kind.console();
    });
    afterEach(async () => {
      await consoleStore.close();
      await store.close();
    });

    /** Three mails: 1 from nagios to A (sent, delivered), 2 from Ops@Example.COM to A and B (B failed), 3 to C (queued). */
    async function traffic(): Promise<void> {
      await store.acceptMail(mail([A], { id: ID(1), receivedAt: 1_000, envelopeFrom: 'nagios@example.com' }));
      await store.acceptMail(mail([A, B], { id: ID(2), receivedAt: 2_000, envelopeFrom: 'Ops@Example.COM' }));
      await store.acceptMail(mail([C], { id: ID(3), receivedAt: 3_000, envelopeFrom: 'cron@other.example' }));
      const batches = await store.claimDueSms({ owner: 'test', now: 3_000, leaseUntil: 60_000, maxBatches: 2, batchSize: 10 });
      const sms = batches.flatMap((batch) => batch.sms);
      const id = (messageId: string, number: string) =>
        batches.find((batch) => batch.message.id === messageId)?.sms.find((item) => item.number === number)?.id ?? assert.fail(`${messageId} ${number}`);
      assert.equal(sms.length, 3);
      await store.recordSmsOutcomes([
        { smsId: id(ID(1), A), kind: 'sent', providerId: 'P1' },
        { smsId: id(ID(2), A), kind: 'sent', providerId: 'P2' },
        { smsId: id(ID(2), B), kind: 'failed', error: 'ERR:INVALID_NUMBER' },
      ]);
      await store.applyDeliveryReport({ provider: 'intellisoftware', providerId: 'P1', number: A, code: 0, state: 'delivered', receivedAt: Date.now() });
    }

    test(`${kind.name}: a search by Message-ID lists its mails newest first by time, page after page, each once, mails of one ms too`, async () => {
      const messageIdHeader = '<constant@ups>';
      // Stored out of id order (relays whose clocks differ), three of them in one ms.
      const stored = [
        { id: ID(5), receivedAt: 1_000 },
        { id: ID(1), receivedAt: 2_000 },
        { id: ID(7), receivedAt: 3_000 },
        { id: ID(3), receivedAt: 3_000 },
        { id: ID(6), receivedAt: 3_000 },
        { id: ID(2), receivedAt: 4_000 },
      ];
      for (const { id, receivedAt } of stored) await store.acceptMail(mail([A], { id, receivedAt, messageIdHeader }));
      await store.acceptMail(mail([A], { id: ID(9), receivedAt: 3_500, messageIdHeader: '<other@ups>' }));
      const pages: string[][] = [];
      let before: string | undefined;
      do {
        const page = (await consoleStore.searchMessages({ messageIdHeader, ...(before === undefined ? {} : { before }) }, 2)).map((row) => row.id);
        pages.push(page);
        before = page.length === 2 ? page[1] : undefined;
      } while (before !== undefined);
      const times = new Map(stored.map(({ id, receivedAt }) => [id, receivedAt]));
      const listed = pages.flat();
      assert.deepEqual([...listed].sort(), stored.map(({ id }) => id).sort(), 'each mail once, on some page');
      const listedTimes = listed.map((id) => times.get(id) ?? 0);
      assert.deepEqual(
        listedTimes,
        [...listedTimes].sort((a, b) => b - a),
        'newest first',
      );
      // The mails of one ms in the index's order, the latest first: SQLite's by when each was stored, PostgreSQL's by id.
      assert.deepEqual(
        listed.filter((id) => times.get(id) === 3_000),
        kind.name === 'SQLite' ? [ID(6), ID(3), ID(7)] : [ID(7), ID(6), ID(3)],
      );
    });

    test(`${kind.name}: a domain searched is matched as typed: a backslash, % or _ in it is itself, no wildcard nor escape`, async () => {
      const senders = ['a@ex_mple.com', 'b@exampl%.com', 'c@example\\', 'd@example.com', 'e@exampleXcom'];
      for (const [index, envelopeFrom] of senders.entries()) await store.acceptMail(mail([A], { id: ID(index), receivedAt: 1_000 + index, envelopeFrom }));
      const found = async (sender: string) => (await consoleStore.searchMessages({ sender }, 50)).map((row) => row.envelopeFrom);
      assert.deepEqual(await found('@ex_mple.com'), ['a@ex_mple.com']);
      assert.deepEqual(await found('@exampl%.com'), ['b@exampl%.com']);
      assert.deepEqual(await found('@example\\'), ['c@example\\']);
      assert.deepEqual(await found('@Example\\'), ['c@example\\']);
      assert.deepEqual(await found('@%'), []);
      assert.deepEqual(await found('@example_com'), []);
    });

    test(`${kind.name}: a sender holding non-ASCII letters (JÖRG@, müller@, ops@BÜCHER) is found as listed, and found when either folding of the typed text (the store's lower() of it, or of its toLowerCase()) matches`, () =>
      findsSendersAsTheStoreFolds(store, consoleStore, kind.rows));

    test(`${kind.name}: sessions are created, read, touched, expired and deleted`, async () => {
      const session = { id: 'h1', username: 'olivia', csrf: 'c1', client: '127.0.0.1', createdAt: 1_000, lastSeenAt: 1_000 };
      await consoleStore.createSession(session);
      await consoleStore.createSession({ ...session, id: 'h2', createdAt: 5_000, lastSeenAt: 5_000 });
      assert.deepEqual(await consoleStore.session('h1'), session);
      await consoleStore.touchSession('h1', 9_000);
      assert.equal((await consoleStore.session('h1'))?.lastSeenAt, 9_000);
      assert.equal(await consoleStore.expireSessions(6_000, 0), 1, 'h2 idle since 5 000');
      assert.equal(await consoleStore.session('h2'), undefined);
      await consoleStore.deleteSession('h1');
      assert.equal(await consoleStore.session('h1'), undefined);
      assert.equal(await consoleStore.session('never'), undefined);
    });

    test(`${kind.name}: failed sign-ins are kept per client, counted since a time and cleared per user; a pending attempt counts only once it failed`, async () => {
      const failed = async (client: string, account: string, at: number) =>
        consoleStore.loginAttemptFailed(await consoleStore.recordLoginAttempt(client, account, at));
      for (const at of [1_000, 2_000, 3_000]) await failed('192.0.2.1', 'olivia', at);
      await failed('192.0.2.1', 'vic', 2_200);
      await failed('192.0.2.2', 'olivia', 2_500);
      const pending = await consoleStore.recordLoginAttempt('192.0.2.1', 'olivia', 3_500);
      assert.deepEqual(await consoleStore.loginFailures('192.0.2.1', 2_000), [2_000, 2_200, 3_000], 'whatever user they named, none pending');
      await consoleStore.clearLoginFailures('192.0.2.1', 'vic');
      assert.deepEqual(await consoleStore.loginFailures('192.0.2.1', 0), [1_000, 2_000, 3_000], "vic's sign-in forgets vic's failures, not olivia's");
      await consoleStore.clearLoginFailures('192.0.2.1', 'olivia');
      assert.deepEqual(await consoleStore.loginFailures('192.0.2.1', 0), []);
      assert.deepEqual(await consoleStore.loginFailures('192.0.2.2', 0), [2_500]);
      await consoleStore.loginAttemptFailed(pending);
      assert.deepEqual(await consoleStore.loginFailures('192.0.2.1', 0), [3_500], 'a clear leaves an attempt in flight, counted once it failed');
      const passed = await consoleStore.recordLoginAttempt('192.0.2.1', 'olivia', 3_600);
      await consoleStore.forgetLoginAttempt(passed);
      assert.deepEqual(await consoleStore.loginFailures('192.0.2.1', 0), [3_500], 'an attempt forgotten takes only itself');
    });

    test(`${kind.name}: an action is audited with its user, newest first, and joins its message's history`, async () => {
      await store.acceptMail(mail([A], { id: ID(1) }));
      await consoleStore.recordAction({
        at: 5_000,
        username: 'olivia',
        client: '127.0.0.1',
        action: 'queue hold',
        target: ID(1),
        detail: '1 SMS',
        messageId: ID(1),
      });
      await consoleStore.recordAction({ at: 6_000, username: 'olivia', client: '127.0.0.1', action: 'pause', target: undefined, detail: undefined });
      assert.deepEqual(
        (await consoleStore.recentActions(10)).map((action) => [action.action, action.target, action.detail]),
        [
          ['pause', undefined, undefined],
          ['queue hold', ID(1), '1 SMS'],
        ],
      );
      assert.equal((await consoleStore.recentActions(1)).length, 1, 'bounded by the limit');
      const events = await store.events(ID(1));
      assert.ok(
        events.some((event) => event.kind === 'console queue hold' && event.detail === 'by olivia from 127.0.0.1'),
        JSON.stringify(events),
      );
    });

    test(`${kind.name}: searches by number, sender, domain, id, status, time, and page by page`, async () => {
      await traffic();
      const ids = async (search: Parameters<ConsoleStore['searchMessages']>[0], limit = 50) =>
        (await consoleStore.searchMessages(search, limit)).map((found) => found.id);
      assert.deepEqual(await ids({}), [ID(3), ID(2), ID(1)], 'newest first');
      assert.deepEqual(await ids({ number: A }), [ID(2), ID(1)]);
      assert.deepEqual(await ids({ sender: 'nagios@example.com' }), [ID(1)]);
      assert.deepEqual(await ids({ sender: '@example.com' }), [ID(2), ID(1)], 'a domain matches whatever the case');
      for (const sender of ['ops@example.com', 'Ops@Example.COM', 'OPS@EXAMPLE.COM'])
        assert.deepEqual(await ids({ sender }), [ID(2)], `${sender}: whatever the case`);
      assert.deepEqual(await ids({ sender: 'Nagios@Example.com' }), [ID(1)], 'a sender stored in lower case, typed with capitals');
      assert.deepEqual(await ids({ messageId: ID(2) }), [ID(2)]);
      assert.deepEqual(await ids({ status: 'queued' }), [ID(3)]);
      assert.deepEqual(await ids({ status: 'sent' }), [ID(2)], 'a delivered SMS is no longer only sent');
      assert.deepEqual(await ids({ status: 'delivered' }), [ID(1)]);
      assert.deepEqual(await ids({ status: 'failed' }), [ID(2)]);
      assert.deepEqual(await ids({ since: 2_000, until: 3_000 }), [ID(2)]);
      assert.deepEqual(await ids({}, 2), [ID(3), ID(2)], 'bounded by the limit');
      assert.deepEqual(await ids({ before: ID(2) }, 2), [ID(1)], 'the next page');
      assert.deepEqual(await ids({ number: C, status: 'delivered' }), []);
      const [second] = await consoleStore.searchMessages({ messageId: ID(2) }, 1);
      assert.deepEqual(second?.numbers, [A, B]);
      assert.deepEqual(second?.statuses, ['sent', 'failed']);
      assert.equal(second?.envelopeFrom, 'Ops@Example.COM');
      // An operator's delete is its own state: no gateway failed it.
      await store.applyQueueAction('delete', ID(3), 4_000, 'by olivia');
      assert.deepEqual(await ids({ status: 'deleted' }), [ID(3)]);
      assert.deepEqual(await ids({ status: 'failed' }), [ID(2)], 'not found as failed');
      assert.deepEqual((await consoleStore.searchMessages({ messageId: ID(3) }, 1))[0]?.statuses, ['deleted']);
      assert.deepEqual(
        (await store.smsOf(ID(3))).map((sms) => [sms.status, sms.lastError]),
        [['deleted', undefined]],
      );
    });

    test(`${kind.name}: a mail is found by its own Message-ID; a resubmission by its original's numbers and as a resubmission, listed with them`, async () => {
      await traffic();
      const again = { fingerprint: 'same-mail', since: 0 };
      await store.acceptMail(mail([A], { id: ID(4), receivedAt: 4_000, messageIdHeader: '<dup-1@example.com>', resubmission: again }));
      const resent = await store.acceptMail(mail([A], { id: ID(5), receivedAt: 5_000, messageIdHeader: '<dup-1@example.com>', resubmission: again }));
      assert.equal(resent.duplicateOf, ID(4), 'kept as a resubmission, without SMS');
      const ids = async (search: Parameters<ConsoleStore['searchMessages']>[0]) => (await consoleStore.searchMessages(search, 50)).map((found) => found.id);
      assert.deepEqual(await ids({ messageIdHeader: '<dup-1@example.com>' }), [ID(5), ID(4)], 'the mail and its resubmission');
      assert.deepEqual(await ids({ messageIdHeader: '<nobody@example.com>' }), []);
      assert.deepEqual(await ids({ number: A }), [ID(5), ID(4), ID(2), ID(1)], 'the resubmission by its original’s number');
      assert.deepEqual(await ids({ number: B }), [ID(2)]);
      assert.deepEqual(await ids({ status: 'resubmission' }), [ID(5)]);
      assert.deepEqual(await ids({ number: B, status: 'resubmission' }), []);
      assert.deepEqual(await ids({ status: 'queued' }), [ID(4), ID(3)], 'a resubmission has no state of its own');
      const [listed] = await consoleStore.searchMessages({ messageId: ID(5) }, 1);
      assert.deepEqual([listed?.numbers, listed?.statuses, listed?.duplicateOf], [[A], [], ID(4)]);
      const detail = await consoleStore.message(ID(5));
      assert.deepEqual([detail?.numbers, detail?.statuses, detail?.duplicateOf, detail?.messageIdHeader], [[A], [], ID(4), '<dup-1@example.com>']);
      assert.equal((await consoleStore.message(ID(4)))?.duplicateOf, undefined);
    });

    test(`${kind.name}: a message's details, and none for an unknown id`, async () => {
      await traffic();
      const detail = await consoleStore.message(ID(1));
      assert.ok(detail);
      assert.equal(detail.receivedAt, 1_000);
      assert.deepEqual(detail.client, { address: '127.0.0.1', helo: 'client.example.com' });
      assert.equal(detail.subject, 'Server down');
      assert.equal(detail.encoding, 'gsm7');
      assert.equal(detail.parts, 1);
      assert.equal(detail.senderId, undefined);
      assert.equal(detail.erased, false);
      assert.deepEqual(detail.statuses, ['delivered']);
      assert.equal(await consoleStore.message(ID(9)), undefined);
    });

    test(`${kind.name}: the charts count sent, delivered and failed SMS per bucket; the health lines show the latest`, async () => {
      const start = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS - 30 * MINUTE_MS;
      const empty = await consoleStore.gatewayActivity();
      assert.deepEqual(empty, { lastError: undefined, lastSent: undefined });
      await traffic();
      const buckets = await consoleStore.activity(start, start + 60 * MINUTE_MS, MINUTE_MS);
      assert.equal(buckets.length, 60);
      assert.deepEqual(
        buckets.map((bucket) => bucket.at),
        Array.from({ length: 60 }, (_, slot) => start + slot * MINUTE_MS),
      );
      const sum = (key: 'sent' | 'delivered' | 'failed') => buckets.reduce((total, bucket) => total + bucket[key], 0);
      assert.deepEqual([sum('sent'), sum('delivered'), sum('failed')], [2, 1, 1]);
      const now = buckets.filter((bucket) => bucket.sent > 0);
      assert.equal(now.length, 1, 'both sends in the minute they happened');
      assert.equal(typeof now[0]?.sent, 'number');
      assert.deepEqual(
        (await consoleStore.activity(start + 3_600_000, start + 3_600_000 * 10, 3_600_000)).map((bucket) => bucket.sent),
        Array.from({ length: 9 }, () => 0),
        'nothing before the range',
      );
      // The clock stepped back an hour after they were sent: still sent, in the latest bucket, not dropped for an hour.
      const hours = await consoleStore.activity(start - 3_600_000 * 10, start - 3_600_000, 3_600_000);
      assert.deepEqual(
        hours.map((bucket) => [bucket.sent, bucket.delivered, bucket.failed]),
        [...Array.from({ length: 8 }, () => [0, 0, 0]), [2, 1, 1]],
        'what lies after the range counts in its latest bucket',
      );
      const gateway = await consoleStore.gatewayActivity();
      assert.equal(gateway.lastError?.detail, 'ERR:INVALID_NUMBER');
      assert.ok(gateway.lastSent && gateway.lastSent >= start);

      assert.deepEqual(await consoleStore.mailActivity(), { lastError: undefined, lastSent: undefined });
      await store.enqueueMail([{ kind: 'bounce', messageId: ID(2), envelopeFrom: '', recipients: ['ops@example.com'], raw: Buffer.from('x') }]);
      const [claimed] = await store.claimDueMail({ owner: 'test', now: Date.now(), leaseUntil: Date.now() + 60_000, limit: 1 });
      assert.ok(claimed);
      await store.recordMailOutcome({ id: claimed.id, kind: 'retry', nextAttemptAt: Date.now(), error: '451 4.3.0 try later' });
      assert.equal((await consoleStore.mailActivity()).lastError?.detail, '451 4.3.0 try later');
    });

    test(`${kind.name}: queued SMS page by page, oldest first, each page after the last SMS of the one before`, async () => {
      for (const n of [1, 2, 3]) await store.acceptMail(mail([A], { id: ID(n), receivedAt: n * 1_000 }));
      const first = await store.listQueued(2);
      assert.deepEqual(
        first.map((sms) => sms.messageId),
        [ID(1), ID(2)],
      );
      const next = await store.listQueued(2, first.at(-1)?.smsId);
      assert.deepEqual(
        next.map((sms) => sms.messageId),
        [ID(3)],
      );
    });

    test(`${kind.name}: replies without a mailbox page by page, newest first, ties by id, each page after the last reply of the one before`, async () => {
      // Two replies in the same millisecond: the page boundary falls between them.
      for (const [id, receivedAt] of [
        ['in-1', 1_000],
        ['in-2', 2_000],
        ['in-3', 2_000],
        ['in-4', 3_000],
      ] as const) {
        const sms = { provider: 'intellisoftware', providerId: id, number: A, text: id, sentAt: undefined, userContext: undefined };
        await store.acceptInbound({ ...sms, id, receivedAt, route: undefined });
      }
      const ids = (list: ReadonlyArray<{ readonly id: string }>) => list.map((item) => item.id);
      const first = await store.undeliverableInbound(2);
      assert.deepEqual(ids(first), ['in-4', 'in-3']);
      const second = await store.undeliverableInbound(2, first.at(-1));
      assert.deepEqual(ids(second), ['in-2', 'in-1']);
      assert.deepEqual(ids(await store.undeliverableInbound(2, second.at(-1))), []);
    });

    test(`${kind.name}: quarantined requests page by page, oldest first, each page after the last request of the one before`, async () => {
      for (const n of [1, 2, 3])
        await store.quarantine({ receivedAt: n * 1_000, provider: 'intellisoftware', kind: 'mo', reason: `bad ${n}`, body: Buffer.from('x') });
      const first = await store.listQuarantine(2);
      assert.deepEqual(
        first.map((entry) => entry.reason),
        ['bad 1', 'bad 2'],
      );
      assert.deepEqual(
        (await store.listQuarantine(2, first.at(-1)?.id)).map((entry) => entry.reason),
        ['bad 3'],
      );
    });

    test(`${kind.name}: a retry makes due only queued SMS that are not held nor due already, and counts only those`, async () => {
      await store.acceptMail(mail([A, B], { id: ID(1), receivedAt: 1_000 }));
      assert.equal((await store.applyQueueAction('hold', ID(1), 2_000)).changed, 2);
      const due = (await store.listQueued(10)).map((sms) => sms.nextAttemptAt);
      assert.equal((await store.applyQueueAction('retry', ID(1), 3_000)).changed, 0, 'held SMS are not retried');
      assert.equal((await store.applyQueueAction('retry', undefined, 3_000)).changed, 0, 'nor by a retry of all');
      assert.deepEqual(
        (await store.listQueued(10)).map((sms) => sms.nextAttemptAt),
        due,
      );
      assert.ok(!(await store.events(ID(1))).some((event) => event.kind === 'operator retry'), 'no retry in its history');
      assert.equal((await store.applyQueueAction('release', ID(1), 4_000)).changed, 2);
      assert.equal((await store.applyQueueAction('retry', ID(1), 5_000)).changed, 0, 'released, they are due already: nothing to retry');
      // Deferred by the gateway, they wait for their next attempt: a retry makes them due.
      const [batch] = await store.claimDueSms({ owner: 'test', now: 5_000, leaseUntil: 65_000, maxBatches: 1, batchSize: 10 });
      await store.recordSmsOutcomes(
        (batch?.sms ?? []).map((sms) => ({ smsId: sms.id, kind: 'retry' as const, nextAttemptAt: 60_000, error: 'ERR:GATEWAY_ERROR', attempted: true })),
      );
      assert.equal((await store.applyQueueAction('retry', ID(1), 6_000)).changed, 2);
    });

    test(`${kind.name}: conversations by number, newest first; a thread holds mails and replies; references name their number`, async () => {
      await traffic();
      await store.acceptInbound({
        id: 'in-1',
        provider: 'intellisoftware',
        providerId: 'G1',
        number: A,
        text: 'on it',
        sentAt: undefined,
        userContext: undefined,
        receivedAt: 2_500,
        route: undefined,
      });
      const list = await consoleStore.conversations();
      assert.deepEqual(
        list.map((item) => [item.number, item.lastAt]),
        [
          [C, 3_000],
          [A, 2_500],
          [B, 2_000],
        ],
      );
      assert.equal(list[1]?.ref, 'iin-1');
      for (const item of list) assert.equal(await consoleStore.numberOfRef(item.ref), item.number);
      assert.equal(await consoleStore.numberOfRef('o999999'), undefined);
      assert.equal(await consoleStore.numberOfRef('x1'), undefined);
      const thread = await consoleStore.thread(A, 10);
      assert.equal(thread.next, undefined, 'the whole thread');
      assert.deepEqual(
        thread.items.map((item) => [item.kind, item.at, item.kind === 'mail' ? item.status : item.mailbox]),
        [
          ['reply', 2_500, undefined],
          ['mail', 2_000, 'sent'],
          ['mail', 1_000, 'delivered'],
        ],
      );
    });

    test(`${kind.name}: a thread page by page, newest first, each page after the last item of the one before, ties of one millisecond split between pages`, async () => {
      // Mails and replies in the same milliseconds: a page boundary falls inside each kind and between the kinds.
      for (const n of [1, 2, 3, 4, 5]) await store.acceptMail(mail([A], { id: ID(n), receivedAt: n <= 3 ? 1_000 : 2_000 }));
      for (const [id, receivedAt] of [
        ['in-1', 1_000],
        ['in-2', 2_000],
        ['in-3', 2_000],
      ] as const) {
        const sms = { provider: 'intellisoftware', providerId: id, number: A, text: id, sentAt: undefined, userContext: undefined };
        await store.acceptInbound({ ...sms, id, receivedAt, route: undefined });
      }
      const whole = await consoleStore.thread(A, 100);
      assert.deepEqual(
        whole.items.map((item) => item.id),
        ['in-3', 'in-2', ID(5), ID(4), 'in-1', ID(3), ID(2), ID(1)],
      );
      for (const size of [1, 2, 3, 8]) {
        const paged: string[] = [];
        let after: ThreadCursor | undefined;
        let pages = 0;
        do {
          const page = await consoleStore.thread(A, size, after);
          assert.ok(page.items.length <= size, `pages of ${size}`);
          paged.push(...page.items.map((item) => item.id));
          after = page.next;
          pages += 1;
        } while (after && pages < 10);
        assert.equal(pages, Math.ceil(8 / size), `pages of ${size}: the last one says it is`);
        assert.deepEqual(
          paged,
          whole.items.map((item) => item.id),
          `pages of ${size}`,
        );
      }
    });

    test(`${kind.name}: a thread's mails in the order they were accepted, merged with the replies by time, each once, whatever the pages`, async () => {
      // A mail accepted after another yet dated before it (a clock stepped back): each kind keeps its own order, and no page
      // skips or repeats an item for it.
      for (const [n, receivedAt] of [
        [1, 1_000],
        [2, 3_000],
        [3, 2_000],
        [4, 4_000],
      ] as const)
        await store.acceptMail(mail([A], { id: ID(n), receivedAt }));
      for (const [id, receivedAt] of [
        ['in-1', 1_500],
        ['in-2', 2_500],
      ] as const) {
        const sms = { provider: 'intellisoftware', providerId: id, number: A, text: id, sentAt: undefined, userContext: undefined };
        await store.acceptInbound({ ...sms, id, receivedAt, route: undefined });
      }
      const whole = (await consoleStore.thread(A, 50)).items.map((item) => item.id);
      assert.deepEqual(whole, [ID(4), 'in-2', ID(3), ID(2), 'in-1', ID(1)]);
      for (const size of [1, 2, 4]) {
        const paged: string[] = [];
        let after: ThreadCursor | undefined;
        do {
          const page = await consoleStore.thread(A, size, after);
          paged.push(...page.items.map((item) => item.id));
          after = page.next;
        } while (after && paged.length < 20);
        assert.deepEqual(paged, whole, `pages of ${size}`);
      }
    });
  });
});

describe('console store on PostgreSQL: connections of its own', () => {
  test('searches answer while its write connection waits on a lock, on at most 3 connections, none of them the relay’s', async (t) => {
    const url = await freshDatabase();
    if (url === undefined) return t.skip(POSTGRES_SKIP);
    const store = await PostgresStore.open({ url });
    const consoleStore = PostgresConsoleStore.open(url);
    const blocker = new pg.Client({ connectionString: url });
    await blocker.connect();
    try {
      await store.acceptMail(mail([A], { id: ID(1) }));
      const connections = async (application: string) =>
        Number(
          (
            await blocker.query<{ count: string }>('SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1', [
              application,
            ])
          ).rows[0]?.count,
        );
      const relayConnections = await connections('smsrelay');
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE console_actions IN ACCESS EXCLUSIVE MODE');
      const audit = consoleStore.recordAction({ at: 1, username: 'olivia', client: '127.0.0.1', action: 'pause', target: undefined, detail: undefined });
      const searches = await Promise.all(Array.from({ length: 20 }, () => consoleStore.searchMessages({ number: A }, 50)));
      assert.ok(searches.every((found) => found.length === 1 && found[0]?.id === ID(1)));
      assert.ok((await connections('smsrelay console')) <= 3, 'two read connections and one for writes at most');
      assert.equal(await connections('smsrelay'), relayConnections, 'the relay’s pool was not used');
      await blocker.query('COMMIT');
      await audit;
      assert.equal((await consoleStore.recentActions(1))[0]?.action, 'pause');
    } finally {
      await blocker.end();
      await consoleStore.close();
      await store.close();
    }
  });

  test('a database that cannot be reached is STORE_UNAVAILABLE (answered 503), never a crash', async () => {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    const consoleStore = PostgresConsoleStore.open('postgres://relay:secret@127.0.0.1:1/smsrelay');
    try {
      await assert.rejects(consoleStore.searchMessages({}, 50), (error: unknown) => error instanceof RelayError && error.code === 'STORE_UNAVAILABLE');
      await assert.rejects(consoleStore.session('h1'), (error: unknown) => error instanceof RelayError && error.code === 'STORE_UNAVAILABLE');
      await assert.rejects(
        consoleStore.recordAction({ at: 1, username: 'olivia', client: '127.0.0.1', action: 'pause', target: undefined, detail: undefined }),
        (error: unknown) => error instanceof RelayError && error.code === 'STORE_UNAVAILABLE' && !error.message.includes('secret'),
      );
    } finally {
      await consoleStore.close();
    }
  });
});

/** `check` given the plan (EXPLAIN QUERY PLAN's lines) of a statement with its values on a new SQLite store. */
async function withSqlitePlans(check: (plan: (sql: string, values: unknown[]) => string[]) => void): Promise<void> {
  const file = storeFile();
  await (await SqliteStore.open({ file, busyTimeoutMs: 100 })).close();
  const db = new BetterSqlite3(file, { readonly: true });
  try {
    check((sql, values) => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...values) as Array<{ detail: string }>).map((row) => row.detail));
  } finally {
    db.close();
  }
}

/**
 * A conversation's page reads each kind on its own index from where the page before ended: never every mail of the
 * number, nor every message (a thread ordered by its message's time read the whole messages table: 150–510 ms at 200,000).
 */
describe("a conversation's page reads by index", () => {
  test("SQLite: the mails by outbound_number, each one's message by its id, the replies by inbound_number_received, no sort", async () => {
    await withSqlitePlans((plan) => {
      assert.deepEqual(plan(CONSOLE_SQL.mailsTo, [A, 100, 51]), [
        'SEARCH o USING INDEX outbound_number (number=? AND id<?)',
        'SEARCH m USING INDEX sqlite_autoindex_messages_1 (id=?)',
      ]);
      // Each reply's last refused mail by its message, never a scan.
      assert.deepEqual(plan(CONSOLE_SQL.repliesFrom, [A, 5_000, 'in-9', 51]), [
        'SEARCH i USING INDEX inbound_number_received (number=? AND (received_at,id)<(?,?))',
        'CORRELATED SCALAR SUBQUERY 2',
        'SEARCH mail_out USING INTEGER PRIMARY KEY (rowid=?)',
        'CORRELATED SCALAR SUBQUERY 1',
        'SEARCH mail_out USING INDEX mail_out_message (message_id=?)',
        'CORRELATED SCALAR SUBQUERY 4',
        'SEARCH mail_out USING INTEGER PRIMARY KEY (rowid=?)',
        'CORRELATED SCALAR SUBQUERY 3',
        'SEARCH mail_out USING INDEX mail_out_message (message_id=?)',
      ]);
    });
  });
});

/**
 * Mail from senders holding non-ASCII letters, searched by several spellings: each is found exactly when the store's own
 * lower() (asked through `rows`) of the sender stored equals that lower() of the text typed or of its toLowerCase(): so
 * always as listed, in ASCII case alone, and a sender stored in lower case typed with capitals (`MÜLLER@`).
 */
async function findsSendersAsTheStoreFolds(store: Store, consoleStore: ConsoleStore, rows: (sql: string) => Promise<Record<string, unknown>[]>): Promise<void> {
  const senders = ['JÖRG@example.com', 'Jörg@example.com', 'ops@BÜCHER.example', 'ops@bücher.example', 'müller@example.com', 'élodie@example.fr'];
  for (const [index, envelopeFrom] of senders.entries()) await store.acceptMail(mail([A], { id: ID(index), receivedAt: 1_000 + index, envelopeFrom }));
  const found = async (sender: string) => (await consoleStore.searchMessages({ sender }, 50)).map((row) => row.envelopeFrom).sort();
  const folded = async (value: string) => String((await rows(`SELECT lower('${value.replace(/'/g, "''")}') AS folded`))[0]?.['folded']);
  const typed = [
    ...senders,
    'jörg@EXAMPLE.COM',
    'JöRG@Example.Com',
    'OPS@BÜCHER.EXAMPLE',
    'ops@bÜcher.example',
    'ops@BüCHER.example',
    'MÜLLER@example.com',
    'Müller@Example.com',
    'Élodie@example.fr',
  ];
  for (const sender of typed) {
    const expected: string[] = [];
    const ways = [await folded(sender), await folded(sender.toLowerCase())];
    for (const stored of senders) if (ways.includes(await folded(stored))) expected.push(stored);
    assert.deepEqual(await found(sender), expected.sort(), sender);
  }
  for (const sender of senders) assert.ok((await found(sender)).includes(sender), `${sender} typed as listed`);
  assert.ok((await found('jÖrg@EXAMPLE.COM')).includes('JÖRG@example.com'), 'in ASCII case alone');
  assert.ok((await found('OPS@BÜCHER.EXAMPLE')).includes('ops@BÜCHER.example'), 'in ASCII case alone');
  for (const [sender, stored] of [
    ['MÜLLER@example.com', 'müller@example.com'],
    ['Élodie@example.fr', 'élodie@example.fr'],
    ['OPS@BÜCHER.EXAMPLE', 'ops@bücher.example'],
  ] as const)
    assert.ok((await found(sender)).includes(stored), `${stored} typed as ${sender}`);
  assert.ok((await found('@BÜCHER.EXAMPLE')).includes('ops@BÜCHER.example'), 'a domain holding a non-ASCII capital');
  assert.ok((await found('@BÜCHER.EXAMPLE')).includes('ops@bücher.example'), 'a lower-case domain typed in capitals');
  assert.ok((await found('@bÜcher.example')).includes('ops@BÜCHER.example'), 'a domain in ASCII case alone');
}

/** PostgreSQL's lower() folds by the database's character type: ASCII alone under C, every letter under a UTF-8 locale; the typed text's toLowerCase() fills the gap under C. */
describeOnPostgres('a sender holding non-ASCII capitals on PostgreSQL, by the character type of the database', async (url) => {
  for (const ctype of ['C', 'C.UTF-8']) {
    test(`LC_CTYPE ${ctype}: found as listed, and when the database's lower() of the typed text or of its toLowerCase() matches`, async () => {
      const database = new URL(url).pathname.slice(1);
      // The test's own database made again with this character type (dropped after the file as before).
      await withClient(withDatabase(url, 'postgres'), async (client) => {
        await client.query(`DROP DATABASE "${database}" WITH (FORCE)`);
        await client.query(`CREATE DATABASE "${database}" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE '${ctype}'`);
      });
      const store = await PostgresStore.open({ url });
      const consoleStore = PostgresConsoleStore.open(url);
      try {
        await findsSendersAsTheStoreFolds(store, consoleStore, (sql) => withClient(url, async (client) => (await client.query(sql)).rows));
      } finally {
        await consoleStore.close();
        await store.close();
      }
    });
  }
});

/** A search by Message-ID reads its index by Message-ID and time backward, a page at a time: never every mail under it, sorted. */
describe('a search by Message-ID reads by index, no sort', () => {
  test('SQLite: by messages_message_id backward, from the page before on too, no temporary B-tree', async () => {
    await withSqlitePlans((plan) => {
      for (const search of [{ messageIdHeader: '<constant@ups>' }, { messageIdHeader: '<constant@ups>', before: ID(1) }]) {
        const { sql, values } = searchStatement(search, 51, 'rowid');
        const steps = plan(sql, values);
        assert.match(steps[0] ?? '', /^SEARCH m USING INDEX messages_message_id \(message_id_header=\?/, JSON.stringify(steps));
        assert.ok(!steps.some((step) => /TEMP B-TREE/.test(step)), JSON.stringify(steps));
      }
    });
  });
});

describeOnPostgres('a search by Message-ID reads by index on PostgreSQL, no sort', async (url) => {
  test('by messages_message_id backward, from the page before on too, among 1,000 mails under one Message-ID (1 % of 100,000), as the planner chooses', async () => {
    await (await PostgresStore.open({ url })).close();
    const list = await withClient(url, async (client) => {
      await client.query(`INSERT INTO messages (id, received_at, envelope_from, client_address, client_helo, message_id_header, subject, headers, text,
          encoding, parts, max_parts)
        SELECT 'm' || n, n, 'ups@example.com', '127.0.0.1', 'ups', CASE WHEN n % 100 = 0 THEN '<constant@ups>' ELSE '<' || n || '@example.com>' END,
          'UPS1', '', 'On battery', 'gsm7', 1, 1
        FROM generate_series(1, 100000) AS n`);
      // A device's Message-ID on 1 % of the mails, spread over time, the planner's statistics up to date: the plan it
      // really chooses, no setting steering it.
      await client.query('ANALYZE messages');
      const plans: PlanNode[][] = [];
      for (const search of [{ messageIdHeader: '<constant@ups>' }, { messageIdHeader: '<constant@ups>', before: 'm50000' }]) {
        const { sql, values } = searchStatement(search, 51, 'id');
        let index = 0;
        const explained = await client.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(
          `EXPLAIN (FORMAT JSON) ${sql.replace(/\?/g, () => `$${++index}`)}`,
          values,
        );
        plans.push(nodes(explained.rows[0]?.['QUERY PLAN'][0]?.Plan));
      }
      return plans;
    });
    for (const plan of list) {
      const shown = JSON.stringify(plan.map((node) => [node['Node Type'], node['Index Name']]));
      assert.ok(!plan.some((node) => node['Node Type'] === 'Sort' || node['Node Type'] === 'Incremental Sort'), shown);
      assert.ok(
        plan.some((node) => node['Node Type'] === 'Index Scan' && node['Index Name'] === 'messages_message_id'),
        shown,
      );
    }
  });
});

/** A search by sender reads that sender's mails alone, by the index of the sender folded as the search folds it (schema 35). */
describe('a search by sender reads by index', () => {
  test('SQLite: by messages_sender_lower', async () => {
    const { sql, values } = searchStatement({ sender: 'Alerts@Example.com' }, 51, 'rowid');
    await withSqlitePlans((plan) => {
      const steps = plan(sql, values);
      assert.match(steps[0] ?? '', /^SEARCH m USING INDEX messages_sender_lower \(<expr>=\?\)/, JSON.stringify(steps));
    });
  });
});

describeOnPostgres('a search by sender reads by index on PostgreSQL', async (url) => {
  test('by messages_sender_lower, no sequential scan', async () => {
    await (await PostgresStore.open({ url })).close();
    const { sql, values } = searchStatement({ sender: 'Alerts@Example.com' }, 51, 'id');
    let index = 0;
    const list = await withClient(url, async (client) => {
      await client.query('SET enable_seqscan = off');
      const explained = await client.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(
        `EXPLAIN (FORMAT JSON) ${sql.replace(/\?/g, () => `$${++index}`)}`,
        values,
      );
      return nodes(explained.rows[0]?.['QUERY PLAN'][0]?.Plan);
    });
    assert.ok(
      list.some((node) => node['Index Name'] === 'messages_sender_lower'),
      JSON.stringify(list.map((node) => [node['Node Type'], node['Index Name']])),
    );
  });
});

describeOnPostgres("a conversation's page reads by index on PostgreSQL", async (url) => {
  test('the mails by outbound_number, the replies by inbound_number_received, from the position on, no sort and no sequential scan', async () => {
    await (await PostgresStore.open({ url })).close();
    const numbered = (sql: string) => {
      let index = 0;
      return sql.replace(/\?/g, () => `$${++index}`);
    };
    const plans = await withClient(url, async (client) => {
      const explain = async (sql: string) =>
        (await client.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(`EXPLAIN (GENERIC_PLAN, FORMAT JSON) ${numbered(sql)}`)).rows[0]?.['QUERY PLAN'][0]
          ?.Plan;
      return { mails: nodes(await explain(CONSOLE_SQL.mailsTo)), replies: nodes(await explain(CONSOLE_SQL.repliesFrom)) };
    });
    const scans = (list: PlanNode[]) =>
      list.filter((node) => node['Node Type'].endsWith('Scan')).map((node) => [node['Relation Name'], node['Index Name'], node['Index Cond'] ?? '']);
    for (const list of [plans.mails, plans.replies])
      assert.ok(!list.some((node) => node['Node Type'] === 'Sort' || node['Node Type'] === 'Seq Scan'), JSON.stringify(list));
    assert.deepEqual(
      scans(plans.mails).map(([relation, index]) => [relation, index]),
      [
        ['outbound', 'outbound_number'],
        ['messages', 'messages_pkey'],
      ],
    );
    assert.match(String(scans(plans.mails)[0]?.[2]), /id < \$2/, 'from the last mail shown');
    const [replies, ...refusedMail] = scans(plans.replies);
    assert.deepEqual(replies?.slice(0, 2), ['inbound', 'inbound_number_received']);
    // Each reply's last refused mail: by its message, then by its id.
    assert.ok(
      refusedMail.every(([relation, index]) => relation === 'mail_out' && (index === 'mail_out_message' || index === 'mail_out_pkey')),
      JSON.stringify(refusedMail),
    );
    assert.match(String(replies?.[2]), /ROW\(received_at, id\) < ROW\(\$2, \$3\)/, 'from the last reply shown');
  });
});

interface PlanNode {
  readonly 'Node Type': string;
  readonly 'Relation Name'?: string;
  readonly 'Index Name'?: string;
  readonly 'Index Cond'?: string;
  readonly Plans?: readonly PlanNode[];
}

const nodes = (plan: PlanNode | undefined): PlanNode[] => (plan ? [plan, ...(plan.Plans ?? []).flatMap(nodes)] : []);
