import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import { PostgresStore, SMS_CLAIM } from '../../src/store/postgres/store.ts';
import type { NewDeliveryReport, Store } from '../../src/store/types.ts';
import { describeOnPostgres, freshDatabase, withClient } from '../helpers/postgres.ts';
import { claim, mail } from '../helpers/store.ts';
import { forEachStore } from '../helpers/stores.ts';
import { waitFor } from '../helpers/wait.ts';

/** #17 item 8: what a claim of due SMS takes, the same on both stores, and what it reads on PostgreSQL to find it. */
forEachStore((kind) =>
  describe('claims of due SMS', () => {
    let store: Store;
    beforeEach(async () => {
      store = await kind.fresh();
    });

    test('a claim takes SMS in due order and stops at the first that would need a batch too many, even where a later SMS of a mail it took would fit that batch', async () => {
      const first = mail(['+447700900101', '+447700900102']);
      const second = mail(['+447700900201']);
      await store.acceptMail(first);
      await store.acceptMail(second);
      const sms = (await claim(store, 10, 10)).flatMap((batch) => batch.sms.map((item) => ({ ...item, message: batch.message.id })));
      // Due again in the order first's first number, second's number, first's second number.
      const retryAt = new Map([
        ['+447700900101', 3_000],
        ['+447700900201', 3_100],
        ['+447700900102', 3_200],
      ]);
      await store.recordSmsOutcomes(
        sms.map((item) => ({ smsId: item.id, kind: 'retry', nextAttemptAt: retryAt.get(item.number) ?? 0, error: 'ERR:GATEWAY_ERROR', attempted: true })),
      );
      const batches = await claim(store, 1, 10, 4_000);
      assert.deepEqual(
        batches.map((batch) => [batch.message.id, batch.sms.map((item) => item.number)]),
        [[first.id, ['+447700900101']]],
      );
      assert.deepEqual(
        (await claim(store, 2, 10, 4_000)).map((batch) => [batch.message.id, batch.sms.map((item) => item.number)]),
        [
          [second.id, ['+447700900201']],
          [first.id, ['+447700900102']],
        ],
      );
      await store.close();
    });

    test('an SMS whose lease ended (its relay died with it in flight) is claimed before the backlog due before its lease ended', async () => {
      const inFlight = mail(['+447700900501'], { receivedAt: 1_000 });
      await store.acceptMail(inFlight);
      // alpha dies with it in flight: a lease that has ended by every clock when beta claims.
      const [taken] = await store.claimDueSms({ owner: 'alpha', now: 1_000, leaseUntil: 999, maxBatches: 1, batchSize: 1 });
      assert.equal(taken?.message.id, inFlight.id);
      const backlog = [0, 1, 2].map((index) => mail([`+44770090060${index}`], { receivedAt: 1_500 }));
      for (const item of backlog) await store.acceptMail(item);

      const [again] = await store.claimDueSms({ owner: 'beta', now: 3_000, leaseUntil: 63_000, maxBatches: 1, batchSize: 1 });
      assert.equal(again?.message.id, inFlight.id, 'the ended lease first, not the SMS due before it ended');
      assert.deepEqual(
        (await claim(store, 5, 1, 3_000)).map((batch) => batch.message.id),
        backlog.map((item) => item.id),
        'then the backlog in due order',
      );
      await store.close();
    });
  }),
);

/** What a claim of the relay's own due mail takes, the same on both stores. */
forEachStore((kind) =>
  describe('claims of due mail', () => {
    test('a mail whose lease ended (its relay died with it in flight) is claimed before the backlog due before its lease ended', async () => {
      const store = await kind.fresh();
      const bounce = (to: string) => ({ kind: 'bounce', messageId: undefined, envelopeFrom: '', recipients: [to], raw: Buffer.from(to) }) as const;
      await store.enqueueMail(['a@example.com', 'b@example.com', 'c@example.com'].map(bounce));
      const now = Date.now();
      const backlog = await store.claimDueMail({ owner: 'gamma', now, leaseUntil: now + 60_000, limit: 5 });
      assert.equal(backlog.length, 3);
      await store.enqueueMail([bounce('in-flight@example.com')]);
      // alpha dies with it in flight: a lease that has ended by every clock when beta claims.
      const dying = Date.now();
      const [inFlight] = await store.claimDueMail({ owner: 'alpha', now: dying, leaseUntil: dying - 1, limit: 5 });
      assert.deepEqual(inFlight?.recipients, ['in-flight@example.com']);
      // The smarthost deferred the backlog: due long before alpha's lease ended.
      for (const [index, item] of backlog.entries())
        await store.recordMailOutcome({ id: item.id, kind: 'retry', nextAttemptAt: 1_000 + index, error: 'smarthost down' });

      const later = Date.now();
      const [again] = await store.claimDueMail({ owner: 'beta', now: later, leaseUntil: later + 60_000, limit: 1 });
      assert.equal(again?.id, inFlight?.id, 'the ended lease first, not the mail due before it ended');
      assert.deepEqual(
        (await store.claimDueMail({ owner: 'beta', now: later, leaseUntil: later + 60_000, limit: 5 })).map((item) => item.id),
        backlog.map((item) => item.id),
        'then the backlog in due order',
      );
      await store.close();
    });
  }),
);

describeOnPostgres('PostgreSQL: what a claim reads', async () => {
  test('a claim among many due one-number mails reads one due SMS per batch it may take and the one that stops it, not what its batches could hold', async () => {
    const url = (await freshDatabase()) ?? '';
    const store = await PostgresStore.open({ url });
    for (let index = 0; index < 60; index++) await store.acceptMail(mail([`+4477009003${String(index).padStart(2, '0')}`]));
    // A backend's statistics reach the server's views when it ends: each store's connections end with the store.
    await store.close();
    const indexRowsRead = async () =>
      Number(
        (
          await withClient(url, (client) =>
            client.query<{ read: string }>("SELECT idx_tup_read AS read FROM pg_stat_user_indexes WHERE indexrelname = 'outbound_due'"),
          )
        ).rows[0]?.read,
      );
    const before = await indexRowsRead();
    const claiming = await PostgresStore.open({ url });
    const batches = await claim(claiming, 4, 100);
    await claiming.close();
    assert.equal(batches.length, 4);
    await waitFor('the claim to reach the statistics', async () => (await indexRowsRead()) > before);
    // The candidates: four batches and the SMS that would need a fifth, not the 60 due (the 100 per batch the gateway
    // could take); then the lease may find the four taken by their ids through this index too.
    const read = (await indexRowsRead()) - before;
    assert.ok(read <= 5 + 4, `${read} index rows read for 4 SMS taken`);
  });

  test('a claim adopts the reports of the SMS it recorded sent by them, and calls no adoption at all when it recorded none (the usual claim)', async () => {
    const url = (await freshDatabase()) ?? '';
    await (await PostgresStore.open({ url })).close();
    // The relay's adoption function (its migrations, run above), its calls noted: every claim's statements are the relay's own (claimDueSms).
    await withClient(url, (client) =>
      client.query(`CREATE SCHEMA noted; CREATE TABLE noted.adoption_calls (ids BIGINT[]);
        ALTER FUNCTION smsrelay_adopt_orphans(BIGINT, BIGINT[]) RENAME TO smsrelay_adopt_orphans_noted;
        CREATE FUNCTION smsrelay_adopt_orphans(BIGINT, BIGINT[]) RETURNS INTEGER LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO noted.adoption_calls VALUES ($2); RETURN smsrelay_adopt_orphans_noted($1, $2); END $$`),
    );
    const calls = async () =>
      (await withClient(url, (client) => client.query<{ ids: string[] }>('SELECT ids FROM noted.adoption_calls'))).rows.map((row) => row.ids.map(Number));
    const store = await PostgresStore.open({ url });
    const mails = [mail(['+447700900701']), mail(['+447700900702'])];
    for (const one of mails) await store.acceptMail(one);
    const now = Date.now();
    // relay-a dies with both in flight (leases ended by every clock), a report naming the first meanwhile.
    const inFlight = (await store.claimDueSms({ owner: 'relay-a', now, leaseUntil: now - 1_000, maxBatches: 2, batchSize: 1 })).flatMap((batch) => batch.sms);
    assert.deepEqual(await calls(), [], 'a claim that recorded no SMS sent by a report');
    const [first] = inFlight;
    const report: NewDeliveryReport = {
      provider: 'vonage',
      providerId: 'N-7',
      number: first?.number ?? '',
      code: 0,
      state: 'delivered',
      receivedAt: now,
      messageId: mails[0]?.id ?? '',
    };
    assert.equal((await store.applyDeliveryReport(report)).kind, 'orphan');
    const before = (await calls()).length;
    const taken = (await store.claimDueSms({ owner: 'relay-b', now, leaseUntil: now + 60_000, maxBatches: 2, batchSize: 1 })).flatMap((batch) => batch.sms);
    assert.deepEqual(
      taken.map((sms) => sms.number),
      ['+447700900702'],
    );
    assert.deepEqual((await calls()).slice(before), [[first?.id]], 'the claim that recorded the first sent by its report adopts its report');
    assert.deepEqual(
      (await store.smsOf(mails[0]?.id ?? '')).map((sms) => [sms.status, sms.delivery]),
      [['sent', 'delivered']],
    );
    await store.close();
  });

  test("a claim's lease returns its mails' columns the dispatcher reads, each a column of its own, not the whole row as one JSON value", async () => {
    const url = (await freshDatabase()) ?? '';
    const store = await PostgresStore.open({ url });
    const accepted = mail(['+447700900401']);
    await store.acceptMail(accepted);
    await store.close();
    const fields = await withClient(url, async (client) => {
      await client.query('BEGIN');
      const leased = await client.query(SMS_CLAIM, [2_000, 2, 1, 10, 'test', 60_000, []]);
      await client.query('ROLLBACK');
      assert.equal(leased.rowCount, 1);
      return leased.fields.map((field) => field.name);
    });
    for (const unread of ['message', 'fingerprint', 'duplicate_of']) assert.ok(!fields.includes(unread), `${unread} in ${fields.join(', ')}`);
    for (const read of ['message_id', 'number', 'attempts', 'received_at', 'headers', 'text', 'gateway_account'])
      assert.ok(fields.includes(read), `${read} missing`);
  });
});
