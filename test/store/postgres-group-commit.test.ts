import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import pg from 'pg';
import { RelayError } from '../../src/errors.ts';
import { GroupWriter, MAX_GROUPS_IN_FLIGHT, type Statements } from '../../src/store/postgres/group-writer.ts';
import { PostgresStore, SMS_CANDIDATES } from '../../src/store/postgres/store.ts';
import type { Store } from '../../src/store/types.ts';
import { freshDatabase, withClient, describeOnPostgres } from '../helpers/postgres.ts';
import { claim, mail } from '../helpers/store.ts';
import { forEachStore } from '../helpers/stores.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

/** #17 item 8: PostgreSQL commits writes in groups as SQLite does, with the same answer to each write. */
forEachStore((kind) =>
  describe('group commit', () => {
    let store: Store;
    beforeEach(async () => {
      store = await kind.fresh();
    });

    test('writes that arrive together share commits: far fewer commits than writes, every write resolved and kept', async () => {
      const before = await store.commitStats();
      const mails = Array.from({ length: 60 }, (_, index) => mail([`+4477009${String(index).padStart(5, '0')}`]));
      await Promise.all(mails.map((item) => store.acceptMail(item)));
      const after = await store.commitStats();
      assert.equal(after.writes - before.writes, 60);
      // Each write alone would be 60 commits; the first goes alone, the others wait for its COMMIT together.
      assert.ok(after.commits - before.commits <= 6, `${after.commits - before.commits} commits for 60 writes`);
      await store.close();
      store = await kind.reopen();
      assert.equal((await claim(store, 100, 1)).length, 60);
      await store.close();
    });

    test("a write failing in a group with a claim (on PostgreSQL, a claim is a transaction of its own beside it): the group's other writes commit once each, in order, and only the faulty one is refused", async () => {
      const first = mail(['+447700900123']);
      const second = mail(['+447700900124']);
      const results = await Promise.allSettled([
        store.acceptMail(first),
        claim(store, 10, 1),
        store.acceptMail({ ...first }), // the same id: the primary key refuses it (on PostgreSQL, whichever of the two commits second)
        store.acceptMail(second),
      ]);
      // On PostgreSQL the claim between them puts the two writes of one id in two groups, committing at once on
      // two connections.
      const statuses = results.map((result) => result.status);
      if (kind.name === 'SQLite' || statuses[0] === 'fulfilled') assert.deepEqual(statuses, ['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
      else assert.deepEqual(statuses, ['rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
      const refused = (results.find((result) => result.status === 'rejected') as PromiseRejectedResult).reason;
      assert.ok(refused instanceof RelayError && refused.code === 'STORE_UNAVAILABLE');
      // On SQLite the claim runs in the group, between the two mails; on PostgreSQL it is a transaction of its
      // own (claimDueSms), beside the others: whichever mails it saw, each mail is claimed once, by it or the next.
      const claimed = (results[1] as PromiseFulfilledResult<Awaited<ReturnType<typeof claim>>>).value.map((batch) => batch.message.id);
      const next = (await claim(store, 10, 1)).map((batch) => batch.message.id);
      assert.deepEqual([...claimed, ...next].sort(), [first.id, second.id].sort());
      if (kind.name === 'SQLite') assert.deepEqual(claimed, [first.id]);
      assert.deepEqual(
        (await store.smsOf(first.id)).map((sms) => [sms.status, sms.possibleDuplicates]),
        [['queued', 0]],
      );
      assert.equal((await store.events(first.id)).filter((event) => event.kind === 'accepted').length, 1);
      await store.close();
    });

    test('a write whose values cannot even be sent fails alone, and says nothing of the store: the others of its group commit, the store stays healthy', async () => {
      const circular: Record<string, unknown> = {};
      circular.self = circular;
      const unsendable = { ...mail(['+447700900125']), headers: circular as unknown as string };
      const results = await Promise.allSettled([
        store.acceptMail(mail(['+447700900123'])),
        store.acceptMail(unsendable),
        store.acceptMail(mail(['+447700900124'])),
      ]);
      assert.deepEqual(
        results.map((result) => result.status),
        ['fulfilled', 'rejected', 'fulfilled'],
      );
      assert.equal(((results[1] as PromiseRejectedResult).reason as RelayError).code, 'STORE_UNAVAILABLE');
      assert.deepEqual(await store.probeWrites(), { state: 'ok' });
      assert.equal((await claim(store, 10, 1)).length, 2);
      await store.close();
    });

    test("a delivery report racing its SMS's send result (in another commit group) is applied all the same", async () => {
      const numbers = Array.from({ length: 40 }, (_, index) => `+4477009${String(index).padStart(5, '0')}`);
      await store.acceptMail(mail(numbers));
      const sms = (await claim(store, 40, 1)).flatMap((batch) => batch.sms);
      assert.equal(sms.length, 40);
      await Promise.all(
        sms.map(async (item) => {
          const sent = store.recordSmsOutcomes([{ smsId: item.id, kind: 'sent', providerId: `p-${item.id}` }]);
          // The report arrives while the send result is being committed, as a gateway's fast webhook does.
          await new Promise((resolve) => setImmediate(resolve));
          const report = store.applyDeliveryReport({
            provider: 'test',
            providerId: `p-${item.id}`,
            number: item.number,
            code: 0,
            state: 'delivered',
            receivedAt: 3_000,
          });
          await Promise.all([sent, report]);
        }),
      );
      const delivered = (await store.smsOf((await store.messagesOfNumber(numbers[0] ?? '', 1))[0] ?? '')).filter((item) => item.delivery === 'delivered');
      assert.equal(delivered.length, 40);
      await store.close();
    });

    test('a resubmission (accepted in one statement on PostgreSQL): linked to its original both ways, no SMS, its conversation left alone', async () => {
      const resubmission = { fingerprint: 'fp-1', since: 500 };
      // A resubmission has its original's Message-ID (the store looks it up under it).
      const messageIdHeader = '<fp-1@example.com>';
      const conversation = { mailbox: 'alice@example.com', continues: false };
      const original = mail(['+447700900123'], { resubmission, messageIdHeader, conversation, sms: { ...mail([]).sms, userContext: 'ctx-1' } });
      assert.deepEqual(await store.acceptMail(original), { duplicateOf: undefined });
      const again = mail(['+447700900123'], {
        resubmission,
        messageIdHeader,
        conversation: { mailbox: 'bob@example.com', continues: false },
        sms: { ...mail([]).sms, userContext: 'ctx-1' },
      });
      assert.deepEqual(await store.acceptMail(again), { duplicateOf: original.id });
      assert.deepEqual(await store.smsOf(again.id), []);
      assert.deepEqual(
        (await store.events(again.id)).map((event) => [event.kind, event.detail]),
        [['resubmission', `same mail as ${original.id}, sent once`]],
      );
      assert.deepEqual(
        (await store.events(original.id)).map((event) => event.kind),
        ['accepted', 'resubmitted'],
      );
      assert.equal((await store.conversation('ctx-1', '+447700900123'))?.mailbox, 'alice@example.com');
      // Outside the window it is a mail of its own.
      const later = mail(['+447700900123'], { messageIdHeader, resubmission: { fingerprint: 'fp-1', since: 1_500 } });
      assert.deepEqual(await store.acceptMail(later), { duplicateOf: undefined });
      assert.equal((await store.smsOf(later.id)).length, 1);
      await store.close();
    });
  }),
);

describeOnPostgres('PostgreSQL statements', async (url) => {
  test('a claim among thousands of deferred SMS reads none of them: the bound is a condition the due index stops at', async () => {
    const store = await PostgresStore.open({ url });
    const numbers = Array.from({ length: 3_000 }, (_, index) => `+4477009${String(index).padStart(5, '0')}`);
    await store.acceptMail(mail(numbers));
    const batches = await claim(store, 30, 100);
    const ids = batches.flatMap((batch) => batch.sms.map((sms) => sms.id));
    assert.equal(ids.length, 3_000);
    // Deferred for an hour by the relay's clock, here the real one (the bound is the later of it and the database's).
    const now = Date.now();
    await store.recordSmsOutcomes(ids.map((smsId) => ({ smsId, kind: 'retry', nextAttemptAt: now + 3_600_000, error: 'gateway down', attempted: true })));
    assert.deepEqual(await claim(store, 30, 100, now), []);
    await store.close();
    const plan = await withClient(url, async (client) => {
      // On a table this small the planner may well read it whole; what is tested is that the index can stop at the bound.
      await client.query('SET enable_seqscan = off');
      const explained = await client.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(
        `EXPLAIN (ANALYZE, FORMAT JSON) ${SMS_CANDIDATES.replaceAll('$7', '$3')}`,
        [
          now,
          3_000,
          [], // the relay's SMS in flight, none
        ],
      );
      return explained.rows[0]?.['QUERY PLAN'][0]?.Plan;
    });
    const scans = nodes(plan).filter((node) => node['Relation Name'] === 'outbound');
    assert.ok(scans.length > 0, JSON.stringify(plan));
    for (const scan of scans) {
      assert.equal(scan['Actual Rows'], 0);
      assert.equal(scan['Rows Removed by Filter'] ?? 0, 0, `the scan read the deferred rows: ${JSON.stringify(scan)}`);
    }
  });

  test('a write failing after others in its group rolls them back with it, and they then commit once each, alone', async () => {
    const url = (await freshDatabase()) ?? '';
    const store = await PostgresStore.open({ url });
    const first = mail(['+447700900123']);
    const second = mail(['+447700900124']);
    const before = (await store.commitStats()).commits;
    // One turn, no claim among them: one group, whose third write the primary key refuses after the first two ran.
    const results = await Promise.allSettled([store.acceptMail(second), store.acceptMail(first), store.acceptMail({ ...first, recipients: [] })]);
    assert.deepEqual(
      results.map((result) => result.status),
      ['fulfilled', 'fulfilled', 'rejected'],
    );
    // The group rolled back (no commit), then the two good writes committed alone.
    assert.equal((await store.commitStats()).commits - before, 2);
    for (const item of [first, second]) assert.equal((await store.events(item.id)).filter((event) => event.kind === 'accepted').length, 1);
    assert.equal((await claim(store, 10, 1)).length, 2);
    await store.close();
  });

  test("every group's transaction plans with the writer's settings (group-writer.ts, BEGIN), in a claim's own transaction as in a group with code (the stale leases released)", async () => {
    const url = (await freshDatabase()) ?? '';
    const store = await PostgresStore.open({ url });
    await store.acceptMail(mail(['+447700900123']));
    await withClient(url, (client) =>
      client.query(`
        CREATE TABLE writer_settings (seqscan text, plans text);
        CREATE FUNCTION note_settings() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
          INSERT INTO writer_settings VALUES (current_setting('enable_seqscan'), current_setting('plan_cache_mode')); RETURN NULL; END $$;
        CREATE TRIGGER note_settings AFTER UPDATE ON outbound FOR EACH STATEMENT EXECUTE FUNCTION note_settings();`),
    );
    assert.equal((await claim(store, 10, 1)).length, 1);
    // Code on the group's connection (the statement trigger fires whether or not a lease was stale).
    await store.releaseStaleLeases('nobody', Date.now(), { possiblyTwice: true });
    await store.close();
    const settings = await withClient(url, async (client) => (await client.query('SELECT seqscan, plans FROM writer_settings')).rows);
    assert.ok(settings.length >= 2, JSON.stringify(settings));
    for (const row of settings) assert.deepEqual(row, { seqscan: 'off', plans: 'force_generic_plan' });
  });

  test("a column a newer relay added (an additive migration) breaks none of a running relay's prepared statements", async () => {
    const url = (await freshDatabase()) ?? '';
    const store = await PostgresStore.open({ url });
    const conversation = { mailbox: 'alice@example.com', continues: false };
    const before = mail(['+447700900123'], { conversation, sms: { ...mail([]).sms, userContext: 'ctx1' } });
    await store.acceptMail(before);
    assert.equal((await store.conversation('ctx1', '+447700900123'))?.mailbox, 'alice@example.com');
    assert.equal((await claim(store, 10, 10)).length, 1);
    await withClient(url, async (client) => {
      for (const table of ['messages', 'outbound', 'conversations', 'inbound', 'mail_out'])
        await client.query(`ALTER TABLE ${table} ADD COLUMN newer_relay BIGINT`);
    });
    const after = mail(['+447700900124'], { conversation, sms: { ...mail([]).sms, userContext: 'ctx2' } });
    await store.acceptMail(after);
    assert.equal((await store.conversation('ctx1', '+447700900123'))?.mailbox, 'alice@example.com');
    assert.equal((await store.conversation('ctx2', '+447700900124'))?.mailbox, 'alice@example.com');
    assert.deepEqual(
      (await claim(store, 10, 10)).map((batch) => batch.message.id),
      [after.id],
    );
    await store.close();
  });
});

interface PlanNode {
  readonly 'Relation Name'?: string;
  readonly 'Actual Rows'?: number;
  readonly 'Rows Removed by Filter'?: number;
  readonly Plans?: readonly PlanNode[];
}

function nodes(plan: PlanNode | undefined): PlanNode[] {
  return plan ? [plan, ...(plan.Plans ?? []).flatMap(nodes)] : [];
}

describeOnPostgres('PostgreSQL: which commits wait for the WAL flush', async () => {
  test('a sent outcome run again alone, after a mail in its group failed, commits and counts as unsynced, as it runs', async () => {
    const url = (await freshDatabase()) ?? '';
    const store = await PostgresStore.open({ url });
    const first = mail(['+447700900125']);
    await store.acceptMail(first);
    const [sms] = (await claim(store, 1, 1)).flatMap((batch) => batch.sms);
    assert.ok(sms);
    const before = await store.commitStats();
    // One turn: one group, which the mail's primary key fails; each write then runs alone.
    const results = await Promise.allSettled([store.recordSmsOutcomes([{ smsId: sms.id, kind: 'sent', providerId: 'p-5' }]), store.acceptMail(first)]);
    const after = await store.commitStats();
    await store.close();
    assert.deepEqual(
      results.map((result) => result.status),
      ['fulfilled', 'rejected'],
    );
    assert.deepEqual([after.commits - before.commits, after.synced - before.synced], [1, 0]);
  });

  test('as on SQLite, a claim and a sent outcome commit without waiting (synchronous_commit off for their transaction); a mail and a retry wait', async () => {
    const url = (await freshDatabase()) ?? '';
    const store = await PostgresStore.open({ url });
    await withClient(url, (client) =>
      client.query(`
        CREATE TABLE flush_levels (id bigserial, operation text, level text);
        CREATE FUNCTION note_level() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
          INSERT INTO flush_levels (operation, level) VALUES (TG_OP, current_setting('synchronous_commit')); RETURN NULL; END $$;
        CREATE TRIGGER note_level AFTER INSERT OR UPDATE ON outbound FOR EACH STATEMENT EXECUTE FUNCTION note_level();`),
    );
    const before = await store.commitStats();
    await store.acceptMail(mail(['+447700900123', '+447700900124']));
    const [first, second] = (await claim(store, 10, 1)).flatMap((batch) => batch.sms);
    assert.ok(first && second);
    await store.recordSmsOutcomes([{ smsId: first.id, kind: 'sent', providerId: 'p-1' }]);
    await store.recordSmsOutcomes([{ smsId: second.id, kind: 'retry', nextAttemptAt: Date.now() + 60_000, error: 'busy', attempted: true }]);
    const after = await store.commitStats();
    await store.close();
    const levels = await withClient(url, async (client) => (await client.query('SELECT operation, level FROM flush_levels ORDER BY id')).rows);
    assert.deepEqual(
      levels.map((row) => `${row.operation} ${row.level}`),
      // The mail; the claim; the sent outcome (its look for reports that came first finds none: ADOPT_ORPHANS updates nothing); the retry.
      ['INSERT on', 'UPDATE off', 'UPDATE off', 'UPDATE on'],
    );
    const { commits, synced } = before;
    assert.deepEqual([after.commits - commits, after.synced - synced], [4, 2]);
  });
});

/**
 * How many groups the writer opens at once (group-writer.ts): two, more only once those have been in flight
 * the waiting time, and a claim (`alone`) at once whatever the groups do. The waiting time here is long
 * (WAITING_MS), so that a stall of the machine between two steps cannot pass for the rule.
 */
describeOnPostgres('PostgreSQL: commit groups in flight', async () => {
  const WAITING_MS = 1_000;
  /** The advisory lock every insert into `held` waits for while the test holds it: a group held up on the server. */
  const HOLD = '4242, 18';

  /** A writer over a pool as large as the writer may use, on a fresh database whose inserts into `held` wait for HOLD. */
  async function heldWriter(): Promise<{ writer: GroupWriter; commits: () => number; held: () => Promise<number>; close: () => Promise<void> }> {
    const url = (await freshDatabase()) ?? '';
    await withClient(url, (client) =>
      client.query(`
        CREATE TABLE held (label text);
        CREATE FUNCTION hold_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_advisory_xact_lock_shared(${HOLD}); RETURN NEW; END $$;
        CREATE TRIGGER hold_insert BEFORE INSERT ON held FOR EACH ROW EXECUTE FUNCTION hold_insert();`),
    );
    const pool = new pg.Pool({ connectionString: url, max: MAX_GROUPS_IN_FLIGHT });
    let commits = 0;
    const writer = new GroupWriter({
      pool,
      wake: () => undefined,
      isConnectionError: () => false,
      isStoreFault: () => false,
      onCommit: () => {
        commits += 1;
      },
      onServerFailure: () => undefined,
      types: { getTypeParser: (oid, format) => pg.types.getTypeParser(oid, format) },
      waitingMs: WAITING_MS,
    });
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    await holder.query(`SELECT pg_advisory_lock(${HOLD})`);
    let closed = false;
    return {
      writer,
      commits: () => commits,
      /** The groups in flight waiting for the lock. */
      held: async () =>
        Number((await holder.query<{ n: string }>("SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")).rows[0]?.n),
      /** Lets the held groups go, and waits for every write to settle (once, whether the test got there or failed). */
      close: async () => {
        if (closed) return;
        closed = true;
        await holder.query(`SELECT pg_advisory_unlock(${HOLD})`);
        await writer.drained();
        await holder.end();
        await pool.end();
      },
    };
  }

  const insert = (label: string): Statements<void> => ({
    statements: [{ text: 'INSERT INTO held (label) VALUES ($1)', values: [label] }],
    result: () => undefined,
  });
  /** Each write in a turn of its own: with a free connection and no limit but the pool, each would open a group. */
  const turnByTurn = async (labels: readonly string[], writer: GroupWriter) => {
    const written: Array<Promise<void>> = [];
    for (const label of labels) {
      written.push(writer.run(insert(label), []));
      await new Promise((resolve) => setImmediate(resolve));
    }
    return written;
  };

  test('writes coming turn after turn gather behind two groups; once those have been in flight the waiting time, the writes behind them go on together in a third', async () => {
    const { writer, commits, held, close } = await heldWriter();
    try {
      const written = await turnByTurn(['a', 'b', 'c', 'd', 'e', 'f'], writer);
      await waitFor('the first two groups, at the lock', async () => (await held()) === 2 || undefined);
      const opened = performance.now();
      // Held two groups, the four behind them wait for a place rather than opening groups of their own.
      await sleep(WAITING_MS / 4);
      if (performance.now() - opened < WAITING_MS / 2) assert.equal(await held(), 2, 'a third group opened before the two had been in flight the waiting time');
      await waitFor('the third group, at the lock too', async () => (await held()) === 3 || undefined);
      await sleep(WAITING_MS / 4);
      assert.equal(await held(), 3, 'every write is in one of three groups: none opens another');
      await close();
      await Promise.all(written);
      assert.equal(commits(), 3);
    } finally {
      await close();
    }
  });

  test('a claim (an `alone` write) opens at once while two groups hold every place, ahead of the writes queued before it', async () => {
    const { writer, commits, held, close } = await heldWriter();
    try {
      const written = await turnByTurn(['a', 'b', 'c'], writer);
      await waitFor('two groups, at the lock', async () => (await held()) === 2 || undefined);
      const started = performance.now();
      const claimed = await writer.run({ alone: true, statements: [{ text: 'SELECT 1 AS one', values: [] }], result: ([read]) => read?.rows[0] }, []);
      const tookMs = performance.now() - started;
      assert.deepEqual(claimed, { one: 1 });
      assert.ok(tookMs < WAITING_MS / 2, `the claim waited ${Math.round(tookMs)} ms behind the groups`);
      // Committed beside the groups, which still wait; the write queued before it still waits for a place.
      assert.equal(commits(), 1);
      assert.equal(await held(), 2);
      await close();
      await Promise.all(written);
      // The claim, the two groups, and the write that waited for a place.
      assert.equal(commits(), 4);
    } finally {
      await close();
    }
  });
});
