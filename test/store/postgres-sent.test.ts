import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RelayError } from '../../src/errors.ts';
import { ONE_SMS_SENT, PostgresStore, REPORT_LOCK_CLASS, SMS_SENT } from '../../src/store/postgres/store.ts';
import { describeOnPostgres, withClient } from '../helpers/postgres.ts';
import { postgresProxy } from '../helpers/postgres-proxy.ts';
import { claim, mail } from '../helpers/store.ts';
import { waitFor } from '../helpers/wait.ts';

describeOnPostgres('The outcome of one SMS sent on PostgreSQL', async (url) => {
  test('ONE_SMS_SENT writes what SMS_SENT writes for the same SMS, and takes the same report lock', async () => {
    const store = await PostgresStore.open({ url });
    await store.acceptMail(mail(['+447700900001']));
    await store.acceptMail(mail(['+447700900002']));
    await store.close();
    const outcome = (sql: string, id: number, providerId: string, trackingId: string | null, detail: string) =>
      withClient(url, async (client) => {
        await client.query('BEGIN');
        const values: unknown[] =
          sql === SMS_SENT ? [5_000, [id], [providerId], [trackingId], [detail], null] : [5_000, id, providerId, trackingId, detail, null];
        await client.query(sql, values);
        const locks = await client.query<{ objid: string }>(
          "SELECT objid::text FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted ORDER BY objid",
        );
        const written = await client.query<{ sms: Record<string, unknown>; events: Array<Record<string, unknown>> }>(
          `SELECT to_jsonb(o) - 'id' - 'message_id' - 'number' - 'rcpt' AS sms,
            (SELECT jsonb_agg(to_jsonb(e) - 'id' - 'message_id' - 'sms_id') FROM events e WHERE e.sms_id = o.id AND e.kind = 'sent') AS events
          FROM outbound o WHERE o.id = $1`,
          [id],
        );
        // The lock's key is the provider id and number hashed: the same provider id for both numbers gives different keys.
        const key = await client.query<{ key: string }>("SELECT hashtext($1 || ' ' || number)::oid::text AS key FROM outbound WHERE id = $2", [providerId, id]);
        await client.query('COMMIT');
        return { row: written.rows[0], locks: locks.rows.map((lock) => lock.objid), key: key.rows[0]?.key };
      });
    const ids = await withClient(url, async (client) =>
      (await client.query<{ id: string }>('SELECT id FROM outbound ORDER BY id')).rows.map((row) => Number(row.id)),
    );
    const [first, second] = ids as [number, number];
    const many = await outcome(SMS_SENT, first, 'p-1', 't-1', 'id p-1; a note');
    const one = await outcome(ONE_SMS_SENT, second, 'p-1', 't-1', 'id p-1; a note');
    assert.deepEqual(one.row, many.row);
    assert.equal(one.row?.sms['status'], 'sent');
    assert.equal(one.row?.events.length, 1);
    assert.deepEqual(many.locks, [many.key]);
    assert.deepEqual(one.locks, [one.key]);
  });
});

describeOnPostgres('A delivery report that races its send result on PostgreSQL', async (url) => {
  test('a report committed while the send result waits for its lock is adopted by that send result: its SMS delivered, the report no orphan', async () => {
    const relay = await PostgresStore.open({ url });
    const webhook = await PostgresStore.open({ url });
    const number = '+447700900031';
    await relay.acceptMail(mail([number], { reportAll: true }));
    const [batch] = await claim(relay, 1, 1);
    const smsId = batch?.sms[0]?.id ?? 0;
    const waiting = () =>
      withClient(url, async (client) =>
        Number(
          (
            await client.query(
              "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            )
          ).rows[0]?.n,
        ),
      );
    // The report lock of ('P-31', number) held here, so that the report queues first and the send result after it.
    const outcome = await withClient(url, async (holder) => {
      await holder.query('BEGIN');
      await holder.query(`SELECT pg_advisory_xact_lock(${REPORT_LOCK_CLASS}, hashtext($1 || ' ' || $2))`, ['P-31', number]);
      const report = webhook.applyDeliveryReport({ provider: 'intellisoftware', providerId: 'P-31', number, code: 4, state: 'delivered', receivedAt: 3_000 });
      await waitFor('the report waiting for the lock', async () => (await waiting()) === 1 || undefined);
      const sent = relay.recordSmsOutcomes([{ smsId, kind: 'sent', providerId: 'P-31' }]);
      await waitFor('the send result waiting behind it', async () => (await waiting()) === 2 || undefined);
      await holder.query('COMMIT');
      // The report found no SMS sent with that id yet: an orphan, committed before the send result's statement got the lock.
      const result = await report;
      await sent;
      return result;
    });
    assert.deepEqual(outcome, { kind: 'orphan' });
    assert.equal((await relay.smsOf(batch?.message.id ?? ''))[0]?.delivery, 'delivered');
    const orphans = await withClient(
      url,
      async (client) => (await client.query('SELECT count(*)::int AS n FROM delivery_reports WHERE sms_id IS NULL')).rows[0]?.n,
    );
    assert.equal(orphans, 0);
    assert.equal((await relay.dueNotices(10)).length, 1);
    await webhook.close();
    await relay.close();
  });
});

describeOnPostgres('Delivery notices recorded by two relays on PostgreSQL', async (url) => {
  test('two relays that read different notices of one mail name each SMS in one bounce, and one recording does not wait for the other', async () => {
    const one = await PostgresStore.open({ url });
    const other = await PostgresStore.open({ url });
    const numbers = ['+447700900151', '+447700900152', '+447700900153'];
    await one.acceptMail(mail(numbers));
    const [batch] = await claim(one, 1, 3);
    assert.equal(batch?.sms.length, 3);
    await one.recordSmsOutcomes((batch?.sms ?? []).map((sms, index) => ({ smsId: sms.id, kind: 'sent' as const, providerId: `N${index}` })));
    const fail = (index: number) =>
      other.applyDeliveryReport({
        provider: 'intellisoftware',
        providerId: `N${index}`,
        number: numbers[index] ?? '',
        code: 6,
        state: 'failed',
        receivedAt: 9_000,
      });
    const bounce = (due: readonly { smsId: number }[]) => {
      const key = `report:${due.map((notice) => notice.smsId).join(',')}:failed`;
      const raw = Buffer.from(key);
      return {
        smsIds: due.map((notice) => notice.smsId),
        mail: { kind: 'bounce' as const, messageId: batch?.message.id, envelopeFrom: '', recipients: ['alice@example.com'], raw, onceKey: key },
      };
    };
    await fail(0);
    await fail(1);
    const readByOne = await one.dueNotices(10);
    await fail(2);
    const readByOther = await other.dueNotices(10);
    assert.deepEqual([readByOne.length, readByOther.length], [2, 3]);
    // An SMS of the group locked by another transaction (a relay recording it): the group is left at once, not waited for.
    const skipped = await withClient(url, async (holder) => {
      await holder.query('BEGIN');
      await holder.query('SELECT id FROM outbound WHERE id = $1 FOR UPDATE', [readByOne[0]?.smsId]);
      const recorded = await one.recordNotices([bounce(readByOne)]);
      await holder.query('ROLLBACK');
      return recorded;
    });
    assert.deepEqual(skipped, [false]);
    const recorded = await Promise.all([one.recordNotices([bounce(readByOne)]), other.recordNotices([bounce(readByOther)])]);
    assert.equal(recorded.flat().filter(Boolean).length, 1, 'one of the two groups recorded');
    const rest = await other.dueNotices(10);
    if (rest.length > 0) assert.deepEqual(await other.recordNotices([bounce(rest)]), [true]);
    const queued = await one.claimDueMail({ owner: 't', now: Date.now() + 1_000, leaseUntil: Date.now() + 60_000, limit: 10 });
    const named = queued.flatMap((item) => item.raw.toString().split(':')[1]?.split(',') ?? []);
    assert.deepEqual(named.sort(), (batch?.sms ?? []).map((sms) => String(sms.id)).sort(), 'each SMS named in one bounce');
    await one.close();
    await other.close();
  });
});

describeOnPostgres('Sent outcomes waiting for one group on PostgreSQL', async (url) => {
  /** `count` mails of one SMS each, accepted and claimed by `owner`: their SMS ids. */
  const claimed = async (store: PostgresStore, count: number, first: number) => {
    for (let index = 0; index < count; index++) await store.acceptMail(mail([`+4477009${String(first + index).padStart(5, '0')}`]));
    const batches = await store.claimDueSms({ owner: 'me', now: 2_000, leaseUntil: 62_000, maxBatches: count, batchSize: 1 });
    return batches.flatMap((batch) => batch.sms.map((sms) => sms.id));
  };
  const sentLines = (ids: readonly number[]) =>
    withClient(url, async (client) =>
      (
        await client.query<{ id: string; status: string; lines: string }>(
          "SELECT o.id, o.status, (SELECT COUNT(*) FROM events e WHERE e.sms_id = o.id AND e.kind = 'sent') AS lines FROM outbound o WHERE o.id = ANY($1::bigint[]) ORDER BY o.id",
          [ids],
        )
      ).rows.map((row) => `${row.status} ${row.lines}`),
    );
  /** An SMS's status and its history after it was queued, in order. */
  const history = (id: number) =>
    withClient(url, async (client) => {
      const { rows } = await client.query<{ status: string; kinds: string | null }>(
        `SELECT o.status, (SELECT string_agg(e.kind, ',' ORDER BY e.id) FROM events e WHERE e.sms_id = o.id AND e.kind NOT IN ('accepted', 'queued')) AS kinds
         FROM outbound o WHERE o.id = $1`,
        [id],
      );
      return `${rows[0]?.status} ${rows[0]?.kinds}`;
    });

  test('are recorded by one statement of their send results and one adoption, whatever their number; each call answered its own late SMS', async () => {
    const proxy = await postgresProxy(url);
    const store = await PostgresStore.open({ url: proxy.url });
    try {
      const ids = await claimed(store, 6, 100);
      // One SMS's lease another relay's meanwhile: its outcome is late, answered to its own call only.
      const [taken, ...mine] = ids as [number, ...number[]];
      await withClient(url, (client) => client.query("UPDATE outbound SET lease_owner = 'other' WHERE id = $1", [taken]));
      const before = proxy.tags().length;
      const stats = await store.commitStats();
      const answers = await Promise.all(ids.map((id, index) => store.recordSmsOutcomes([{ smsId: id, kind: 'sent', providerId: `p-${index}` }], [], 'me')));
      const tags = proxy.tags().slice(before);
      // Each call counted as a write of its own, as SQLite counts it: writes per commit stays the group size (the late line is one more).
      const after = await store.commitStats();
      assert.deepEqual([after.commits - stats.commits, after.writes - stats.writes], [2, ids.length + 1]);
      // The group's settings, the send results, the adoption; then the late SMS's history line in a group of its own (its settings, the line).
      assert.deepEqual(tags, ['SELECT 1', 'SELECT 5', 'SELECT 1', 'SELECT 1', 'INSERT 0 1']);
      assert.deepEqual(answers, [[taken], ...mine.map(() => [])]);
      assert.deepEqual(
        await sentLines(mine),
        mine.map(() => 'sent 1'),
      );
    } finally {
      await store.close();
      await proxy.close();
    }
  });

  test('an outcome the server refuses fails its own call only: the others gathered with it are recorded', async () => {
    const store = await PostgresStore.open({ url });
    try {
      const ids = await claimed(store, 3, 200);
      // A NUL byte passes node-postgres and is refused by the server (invalid byte sequence), as any value it cannot store.
      const answers = await Promise.allSettled(
        ids.map((id, index) => store.recordSmsOutcomes([{ smsId: id, kind: 'sent', providerId: index === 1 ? 'p\u0000bad' : `p-${index}` }], [], 'me')),
      );
      assert.deepEqual(
        answers.map((answer) => answer.status),
        ['fulfilled', 'rejected', 'fulfilled'],
      );
      assert.deepEqual(await sentLines(ids), ['sent 1', 'queued 0', 'sent 1']);
    } finally {
      await store.close();
    }
  });

  test('an outcome whose values cannot even be sent fails its own call only, and says nothing of the store', async () => {
    const store = await PostgresStore.open({ url });
    try {
      const ids = await claimed(store, 3, 250);
      const circular: Record<string, unknown> = {};
      circular.self = circular;
      const answers = await Promise.allSettled(
        ids.map((id, index) =>
          store.recordSmsOutcomes(
            [{ smsId: id, kind: 'sent', providerId: `p-${index}`, trackingId: index === 1 ? (circular as unknown as string) : undefined }],
            [],
            'me',
          ),
        ),
      );
      assert.deepEqual(
        answers.map((answer) => answer.status),
        ['fulfilled', 'rejected', 'fulfilled'],
      );
      assert.equal(((answers[1] as PromiseRejectedResult).reason as RelayError).code, 'STORE_UNAVAILABLE');
      assert.deepEqual(await sentLines(ids), ['sent 1', 'queued 0', 'sent 1']);
      assert.deepEqual(await store.probeWrites(), { state: 'ok' });
    } finally {
      await store.close();
    }
  });

  test('a second outcome for one SMS gathers apart, after the first: answered late with its history line', async () => {
    const store = await PostgresStore.open({ url });
    try {
      const [a, b] = (await claimed(store, 2, 300)) as [number, number];
      const answers = await Promise.all([
        store.recordSmsOutcomes([{ smsId: a, kind: 'sent', providerId: 'a-1' }], [], 'me'),
        store.recordSmsOutcomes([{ smsId: a, kind: 'sent', providerId: 'a-2' }], [], 'me'),
        store.recordSmsOutcomes([{ smsId: b, kind: 'sent', providerId: 'b-1' }], [], 'me'),
      ]);
      assert.deepEqual(answers, [[], [a], []]);
      assert.deepEqual([await history(a), await history(b)], ['sent sent,late answer', 'sent sent']);
    } finally {
      await store.close();
    }
  });

  test('an outcome of another kind queued between them keeps its place: a later sent outcome for its SMS does not join the gathering ahead of it', async () => {
    const store = await PostgresStore.open({ url });
    try {
      const [a, b, c] = (await claimed(store, 3, 400)) as [number, number, number];
      const answers = await Promise.all([
        store.recordSmsOutcomes([{ smsId: b, kind: 'sent', providerId: 'b-1' }], [], 'me'),
        store.recordSmsOutcomes([{ smsId: a, kind: 'retry', nextAttemptAt: 99_000, error: 'busy', attempted: true }], [], 'me'),
        store.recordSmsOutcomes([{ smsId: a, kind: 'sent', providerId: 'a-1' }], [], 'me'),
        store.recordSmsOutcomes([{ smsId: c, kind: 'failed', error: 'refused' }], [], 'me'),
        store.recordSmsOutcomes([{ smsId: c, kind: 'sent', providerId: 'c-1' }], [], 'me'),
      ]);
      // In the order the calls came, as each alone: the retry and the failure ended the leases, the sent outcomes after them came late.
      assert.deepEqual(answers, [[], [], [a], [], [c]]);
      assert.deepEqual([await history(a), await history(b), await history(c)], ['queued deferred,late answer', 'sent sent', 'failed failed,late answer']);
    } finally {
      await store.close();
    }
  });
});
