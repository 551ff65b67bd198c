/**
 * #17 item 8: a commit group in one round trip (src/store/postgres/batch.ts). Round trips are counted
 * as the server's ReadyForQuery messages on their way to the relay, through a TCP proxy on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import pg from 'pg';
import { admitMembers } from '../../src/acceptance/number-checks.ts';
import { createLogger } from '../../src/log.ts';
import { SenderPolicy } from '../../src/policy/senders.ts';
import { runBatch, type Statement } from '../../src/store/postgres/batch.ts';
import { prepareStatements, statementName, toWire } from '../../src/store/postgres/prepared.ts';
import { SENT_ORPHANS } from '../../src/store/postgres/migrations.ts';
import { ONE_SMS_SENT, PostgresStore, SMS_CANDIDATES, SMS_CLAIM, SMS_SENT } from '../../src/store/postgres/store.ts';
import type { NewInbound, Store } from '../../src/store/types.ts';
import { postgresProxy } from '../helpers/postgres-proxy.ts';
import { describeOnPostgres, freshDatabase } from '../helpers/postgres.ts';
import { mail, NONE_HELD, relayMember } from '../helpers/store.ts';
import { forEachStore } from '../helpers/stores.ts';
import { waitFor } from '../helpers/relay.ts';

const PHONE = '+447700900123';
/** An SMS from PHONE that opts it out. */
const stop: NewInbound = {
  id: 'in-stop',
  provider: 'test',
  providerId: 'mo-stop',
  number: PHONE,
  text: 'STOP',
  sentAt: undefined,
  userContext: undefined,
  receivedAt: 3_000,
  route: undefined,
  optOut: { action: 'stop', keyword: 'STOP' },
};
const member = relayMember;

/** The store's type parsers (int8 as a number), for a client of the test's own. */
const types = { getTypeParser: (oid: number, format?: 'text' | 'binary') => (oid === 20 ? Number : pg.types.getTypeParser(oid, format)) };

/** A store on a fresh database through a proxy counting round trips, PHONE opted out (its STOP and the notice after it passed). */
async function optedOutThroughProxy() {
  const url = (await freshDatabase()) ?? '';
  const proxy = await postgresProxy(url);
  const store = await PostgresStore.open({ url: proxy.url });
  await store.acceptInbound(stop);
  // Its commit is followed by the notice that opt-outs changed (for the other relays' memory of them).
  const committed = proxy.roundTrips();
  await waitFor("the STOP's notice", () => proxy.roundTrips() > committed, 2_000);
  return { store, proxy };
}

describeOnPostgres('PostgreSQL: a commit group in one round trip', async () => {
  test('the hot writes of a group (mail accepted, SMS claimed, SMS sent with their orphan reports, mail claimed and sent, an SMS received) are one round trip per group: BEGIN, statements and COMMIT together; a relay alone notifies only the STOP', async () => {
    const url = (await freshDatabase()) ?? '';
    const proxy = await postgresProxy(url);
    const store = await PostgresStore.open({ url: proxy.url });
    try {
      // A relay alone: its heartbeat sees no other relay, so nothing notifies after the commits.
      await store.heartbeat(member('alone'), 30_000, NONE_HELD);
      await Promise.all(Array.from({ length: 4 }, (_, index) => store.acceptMail(mail([`+4477009001${index}`]))));
      const sms = (await store.claimDueSms({ owner: 'alone', now: 2_000, leaseUntil: 62_000, maxBatches: 4, batchSize: 1 })).flatMap((batch) => batch.sms);
      assert.equal(sms.length, 4);
      await store.enqueueMail([{ kind: 'bounce', messageId: undefined, envelopeFrom: '', recipients: ['alice@example.com'], raw: Buffer.from('x') }]);
      const [queued] = await store.claimDueMail({ owner: 'alone', now: Date.now(), leaseUntil: Date.now() + 60_000, limit: 1 });
      assert.ok(queued);

      const before = { trips: proxy.roundTrips(), commits: (await store.commitStats()).commits };
      const writes: Promise<unknown>[] = [
        ...Array.from({ length: 6 }, (_, index) => store.acceptMail(mail([`+4477009002${index}`]))),
        ...sms.map((item) => store.recordSmsOutcomes([{ smsId: item.id, kind: 'sent', providerId: `p-${item.id}` }])),
        store.recordMailOutcome({ id: queued.id, kind: 'sent', response: '250 ok' }),
        store.claimDueMail({ owner: 'alone', now: Date.now(), leaseUntil: Date.now() + 60_000, limit: 5 }),
        store.claimDueSms({ owner: 'alone', now: 2_000, leaseUntil: 62_000, maxBatches: 4, batchSize: 1 }),
        store.acceptInbound(stop),
      ];
      await Promise.all(writes);
      // Nothing else on the store's connections while the writes were committed: every round trip was a group's.
      const commits = (await store.commitStats()).commits - before.commits;
      assert.ok(commits >= 1 && commits <= 3, `${commits} groups for ${writes.length} writes`);
      // And one notification: the STOP's, which every relay hears (opt-outs changed), alone or not.
      await waitFor("the STOP's notice", () => proxy.roundTrips() - before.trips > commits, 2_000);
      assert.equal(proxy.roundTrips() - before.trips, commits + 1, 'one round trip per commit group, and the notice');
      assert.equal(await store.isOptedOut(PHONE), true);
      assert.deepEqual(
        (await store.smsOf((await store.messagesOfNumber('+44770090010', 1))[0] ?? '')).map((item) => item.status),
        ['sent'],
      );
    } finally {
      await store.close();
      await proxy.close();
    }
  });

  test('the opt-out checks of one turn of the event loop are one round trip, each answered for its own number', async () => {
    const { store, proxy } = await optedOutThroughProxy();
    try {
      const before = proxy.roundTrips();
      const numbers = [PHONE, '+447700900124', PHONE, '+447700900125'];
      assert.deepEqual(await Promise.all(numbers.map((number) => store.isOptedOut(number))), [true, false, true, false]);
      assert.equal(proxy.roundTrips() - before, 1);
    } finally {
      await store.close();
      await proxy.close();
    }
  });

  test("a distribution list's members are checked for opt-outs together: one round trip for 40 members, not one each", async () => {
    const { store, proxy } = await optedOutThroughProxy();
    try {
      const senders = new SenderPolicy({
        trustedNetworks: ['127.0.0.1/32'],
        networks: [],
        accounts: [],
        defaultRegion: undefined,
        premiumBlocklist: false,
        blockedPrefixes: [],
      });
      const principal = senders.byAddress('127.0.0.1');
      assert.ok(principal);
      const members = [PHONE, ...Array.from({ length: 39 }, (_, index) => `+4477009002${String(index).padStart(2, '0')}`)];
      const before = proxy.roundTrips();
      const { admitted, refused } = await admitMembers(principal, members, store, senders);
      assert.deepEqual(admitted, members.slice(1));
      assert.deepEqual(
        refused.map((member) => member.number),
        [PHONE],
      );
      // Two round trips: the 40 checks (two statements of at most 32 keys, sent together), then the opted-out member's keyword.
      assert.equal(proxy.roundTrips() - before, 2);
    } finally {
      await store.close();
      await proxy.close();
    }
  });

  test("a relay notifies once another relay runs (its heartbeat seen), and the operator's commands (no heartbeat) always do", async () => {
    const url = (await freshDatabase()) ?? '';
    const alpha = await PostgresStore.open({ url, wakeTag: 'alpha' });
    const beta = await PostgresStore.open({ url, wakeTag: 'beta' });
    const operator = await PostgresStore.open({ url, wakeTag: 'cli' });
    const heard: string[][] = [];
    const listener = beta.listenForWork('beta', (queues) => heard.push([...queues]), createLogger('silent'));
    try {
      await waitFor('the first look', () => heard.shift());
      await alpha.heartbeat(member('alpha'), 30_000, NONE_HELD);
      await alpha.acceptMail(mail([PHONE], { receivedAt: Date.now() }));
      await operator.enqueueMail([{ kind: 'bounce', messageId: undefined, envelopeFrom: '', recipients: ['alice@example.com'], raw: Buffer.from('x') }]);
      // Alpha's notification, had it sent one, would come first (it committed first) and say 'sms'.
      assert.deepEqual(await waitFor("the operator's wake-up", () => heard.shift(), 1_000), ['mail']);
      assert.deepEqual(heard, [], 'alpha, alone by its heartbeat, notified nobody');
      await beta.heartbeat(member('beta'), 30_000, NONE_HELD);
      await alpha.heartbeat(member('alpha'), 30_000, NONE_HELD);
      await alpha.acceptMail(mail([PHONE], { receivedAt: Date.now() }));
      assert.deepEqual(await waitFor("alpha's wake-up", () => heard.shift(), 1_000), ['sms']);
    } finally {
      await listener.stop();
      await Promise.all([alpha.close(), beta.close(), operator.close()]);
    }
  });

  test('a batch answers as node-postgres does, statement by statement: rows parsed by the same type parsers, counts and commands', async () => {
    const url = (await freshDatabase()) ?? '';
    const store = await PostgresStore.open({ url });
    await store.acceptMail(
      mail([PHONE, '+447700900124'], { conversation: { mailbox: 'alice@example.com', continues: false }, sms: { ...mail([]).sms, userContext: 'ctx' } }),
    );
    await store.enqueueMail([{ kind: 'reply', messageId: 'm-1', envelopeFrom: 'a@b', recipients: ['alice@example.com'], raw: Buffer.from([0, 1, 255]) }]);
    await store.applyDeliveryReport({ provider: 'test', providerId: 'p-1', number: PHONE, code: 0, state: 'delivered', receivedAt: 3_000 });
    await store.close();
    const client = new pg.Client({ connectionString: url, types } as pg.ClientConfig);
    await client.connect();
    prepareStatements(client);
    try {
      const ids = (await client.query<{ id: number }>('SELECT id FROM outbound ORDER BY id', [])).rows.map((row) => row.id);
      const statements: Statement[] = [
        // Its in-flight ids (`$7` in a claim) as `$3`: a statement alone may leave no position unused.
        { text: SMS_CANDIDATES.replaceAll('$7', '$3'), values: [2_000, 10, []] },
        {
          text: 'SELECT o.id, o.message_id, o.number, o.rcpt, o.notify, o.orcpt, o.attempts, to_jsonb(m) AS message FROM outbound o JOIN messages m ON m.id = o.message_id ORDER BY o.id',
          values: [],
        },
        {
          text: 'SELECT id, created_at, kind, message_id, envelope_from, recipients, raw, attempts, next_attempt_at AS due FROM mail_out ORDER BY id',
          values: [],
        },
        { text: 'SELECT * FROM conversations ORDER BY number', values: [] },
        { text: SMS_SENT, values: [5_000, ids, ['p-1', 'p-2'], [null, 't-2'], ['id p-1', 'id p-2'], null] },
        { text: SENT_ORPHANS, values: [5_000, ids] },
      ];
      for (const { text, values } of statements) {
        await client.query('BEGIN');
        const plain = await client.query(text, values as unknown[]);
        await client.query('ROLLBACK');
        await client.query('BEGIN');
        const [batched] = await runBatch(client, [{ text, values: toWire(values) }], types);
        await client.query('ROLLBACK');
        assert.ok(batched);
        assert.deepEqual(
          { rows: batched.rows, rowCount: batched.rowCount, command: batched.command },
          { rows: plain.rows, rowCount: plain.rowCount, command: plain.command },
          text,
        );
        assert.ok(plain.rowCount !== null && plain.rowCount > 0, `a statement with rows to compare: ${text}`);
      }
    } finally {
      await client.end();
    }
  });

  test("a statement that fails stops its batch there: its error is the batch's, the statements after it do not run, and the connection knows which statements it has parsed", async () => {
    const url = (await freshDatabase()) ?? '';
    const client = new pg.Client({ connectionString: url, types } as pg.ClientConfig);
    await client.connect();
    try {
      await client.query('CREATE TABLE seen (n int)');
      const first = { text: 'SELECT 1 + $1::int AS n', values: ['1'] };
      const dividing = (by: string) => ({ text: 'SELECT 10 / $1::int AS n', values: [by] });
      const after = { text: 'INSERT INTO seen (n) SELECT $1::int', values: ['3'] };
      const connection = (client as unknown as { connection: { parsedStatements: Record<string, string>; submittedNamedStatements: Record<string, string> } })
        .connection;
      await assert.rejects(runBatch(client, [first, dividing('0'), after], types), (error: { code?: string }) => error.code === '22012');
      // The division parsed before it failed; the insert after it was never parsed nor run.
      assert.deepEqual(Object.keys(connection.parsedStatements).sort(), [statementName(first.text), statementName(dividing('0').text)].sort());
      assert.deepEqual(connection.submittedNamedStatements, {});
      assert.equal((await client.query('SELECT count(*)::int AS n FROM seen')).rows[0]?.n, 0);
      // A statement refused at its Parse is not counted as parsed either.
      await assert.rejects(runBatch(client, [first, { text: 'SELEKT 1', values: [] }], types), (error: { code?: string }) => error.code === '42601');
      assert.equal(connection.parsedStatements[statementName('SELEKT 1') ?? ''], undefined);
      assert.deepEqual(connection.submittedNamedStatements, {});
      // The same statements run again on the same connection: parsed once, no "already exists" nor "does not exist".
      const results = await runBatch(client, [first, dividing('5'), after], types);
      assert.deepEqual(
        results.map((result) => [result.command, result.rows]),
        [
          ['SELECT', [{ n: 2 }]],
          ['SELECT', [{ n: 2 }]],
          ['INSERT', []],
        ],
      );
      assert.equal((await client.query('SELECT count(*)::int AS n FROM seen')).rows[0]?.n, 1);
    } finally {
      await client.end();
    }
  });
});

/** Orphan reports are adopted in one statement on PostgreSQL: the same outcome as SQLite's one by one. */
forEachStore((kind) =>
  describe('reports that arrived before their send result', () => {
    let store: Store;
    beforeEach(async () => {
      store = await kind.fresh();
    });

    test('are applied in arrival order, each only forward of the state before it: the history lines, the state, its code and the notice', async () => {
      await store.acceptMail(mail([PHONE]));
      const report = (code: number, state: 'queued' | 'sent' | 'delivered' | 'failed') =>
        store.applyDeliveryReport({ provider: 'test', providerId: 'P1', number: PHONE, code, state, receivedAt: 3_000 + code });
      for (const [code, state] of [
        [3, 'sent'],
        [2, 'queued'],
        [6, 'failed'],
        [4, 'delivered'],
      ] as const)
        assert.deepEqual(await report(code, state), { kind: 'orphan' });
      const [batch] = await store.claimDueSms({ owner: 't', now: 2_000, leaseUntil: 62_000, maxBatches: 1, batchSize: 1 });
      const sms = batch?.sms[0];
      assert.ok(batch && sms);
      await store.recordSmsOutcomes([{ smsId: sms.id, kind: 'sent', providerId: 'P1' }]);
      assert.deepEqual(
        (await store.events(batch.message.id)).filter((event) => event.kind === 'delivery report').map((event) => event.detail),
        ['sent (provider status 3)', 'failed (provider status 6)'],
      );
      assert.equal((await store.smsOf(batch.message.id))[0]?.delivery, 'failed');
      assert.deepEqual(
        (await store.dueNotices(10)).map((notice) => [notice.state, notice.code]),
        [['failed', 6]],
      );
      // Adopted: a report repeated now is a duplicate, not an orphan again.
      assert.deepEqual(await report(4, 'delivered'), { kind: 'duplicate', sms: { gatewayAccount: undefined } });
      await store.close();
    });

    test('opt-out checks asked together are each answered for their own number', async () => {
      await store.acceptInbound(stop);
      const numbers = [PHONE, '+447700900124', PHONE];
      assert.deepEqual(await Promise.all(numbers.map((number) => store.isOptedOut(number))), [true, false, true]);
      assert.equal(await store.isOptedOut('+447700900124'), false);
      await store.close();
    });
  }),
);

test("the hot statements run named, planned once per connection: none has a result column from '*' (such a text runs unnamed, parsed and planned at every call)", () => {
  // Measured 2026-12-03 (driver, 2,500 mails of 800 B): SENT_ORPHANS and the claim's lease, unnamed for a `*` inside, cost the
  // server 1.0–1.3 ms of planning per mail, a third of its CPU.
  for (const [name, text] of Object.entries({ SMS_SENT, ONE_SMS_SENT, SENT_ORPHANS, SMS_CLAIM })) {
    assert.notEqual(statementName(text), undefined, `${name} runs unnamed`);
  }
});
