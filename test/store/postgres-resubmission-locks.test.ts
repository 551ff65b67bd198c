/**
 * The resubmission check's lock on PostgreSQL (accept.ts, resubmissionLocks; group-writer.ts, Statements.locks,
 * KEY_WAIT_MS): a group takes every mail's Message-ID lock at once, in one order, each waited for at most KEY_WAIT_MS.
 * A key held past it (its relay stopped mid-commit) holds up only the mail under it, which is refused MESSAGE_ID_BUSY,
 * never the mails grouped with it; two groups with the same two Message-IDs in opposite orders wait one for the other
 * and never deadlock; two copies in one group fold without any lock; a group whose keys are free sends no statement
 * more than one without keys.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { resubmissionOf } from '../../src/acceptance/resubmission-fingerprint.ts';
import { RelayError } from '../../src/errors.ts';
import { GroupWriter, KEY_WAIT_MS } from '../../src/store/postgres/group-writer.ts';
import { lockedKey } from '../../src/store/postgres/key-lock.ts';
import { PostgresStore } from '../../src/store/postgres/store.ts';
import type { NewMail } from '../../src/store/types.ts';
import { query, waitEvery } from '../helpers/cluster.ts';
import { describeOnPostgres } from '../helpers/postgres.ts';
import { postgresProxy } from '../helpers/postgres-proxy.ts';
import { mail } from '../helpers/store.ts';
import { sleep } from '../helpers/wait.ts';

const PHONE = '+447700900480';
/** CommandComplete: one per statement the server ran. */
const COMMAND_COMPLETE = 0x43;

/** A copy of the mail under `messageId`: its text and Date the same at each copy, its own relay id. */
const copy = (id: string, messageId: string): NewMail => {
  const text = `alert ${messageId}`;
  return mail([PHONE], {
    id,
    receivedAt: 5_000,
    messageIdHeader: messageId,
    sms: { text, encoding: 'gsm7', parts: 1, maxParts: 6, senderId: undefined, userContext: undefined },
    resubmission: resubmissionOf(messageId, [PHONE], text, 0, 'Mon, 07 Dec 2026 18:00:00 +0000'),
  });
};

/** Sessions waiting on an advisory lock (a group's opening behind another's key). */
const waitingOnKeys = async (url: string) =>
  Number(
    (
      await query<{ n: string }>(
        url,
        `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'`,
      )
    )[0]?.n,
  );

const deadlocks = async (url: string) =>
  Number((await query<{ n: string }>(url, 'SELECT deadlocks AS n FROM pg_stat_database WHERE datname = current_database()'))[0]?.n);

/** A session holding the lock of `messageId`'s key (as a relay stopped in the middle of its commit would). */
async function holding(url: string, messageId: string): Promise<pg.Client> {
  const holder = new pg.Client({ connectionString: url });
  await holder.connect();
  await holder.query('BEGIN');
  await holder.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [lockedKey('messages', messageId)]);
  return holder;
}

/** A group writer on `pool`, as the store makes one (its failures the writes' own). */
const writerOn = (pool: pg.Pool, options: { readonly keyWaitMs?: number }) =>
  new GroupWriter({
    pool,
    wake: () => undefined,
    isConnectionError: () => false,
    isStoreFault: () => false,
    onCommit: () => undefined,
    onServerFailure: () => undefined,
    types: { getTypeParser: (oid, format) => pg.types.getTypeParser(oid, format) },
    ...options,
  });

/** `promise`'s outcome, seen by polling `settled` (no timed assertion). */
function watched<T>(promise: Promise<T>): { settled: () => boolean; outcome: Promise<{ value?: T; error?: unknown }> } {
  let done = false;
  const outcome = promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  void outcome.finally(() => {
    done = true;
  });
  return { settled: () => done, outcome };
}

describeOnPostgres('PostgreSQL: a mail and its resend committed at once', async (url) => {
  test('a Message-ID held by a stalled session: the mails grouped with it commit while it is held; it is refused MESSAGE_ID_BUSY, never left waiting', async () => {
    const store = await PostgresStore.open({ url, wakeTag: 'delta' });
    const holder = await holding(url, '<held@example.com>');
    try {
      // One turn: one group, the held mail first, then mails without a Message-ID's lock and one under another Message-ID.
      const held = watched(store.acceptMail(copy('d-held', '<held@example.com>')));
      const others = [
        ...Array.from({ length: 5 }, (_, index) => watched(store.acceptMail(mail([`+44770090049${index}`], { id: `d-free-${index}` })))),
        watched(store.acceptMail(copy('d-other', '<other@example.com>'))),
      ];
      await waitEvery('the mails grouped with the held one answered while it is held', () => others.every((other) => other.settled()), 30_000, 20);
      for (const other of others) assert.equal((await other.outcome).error, undefined);
      await waitEvery('the held mail answered while its key is held', () => held.settled(), 30_000, 20);
      const { error } = await held.outcome;
      assert.ok(error instanceof RelayError, String(error));
      assert.equal(error.code, 'MESSAGE_ID_BUSY');
      assert.equal(error.spec.smtp, 451);
      const stored = await query<{ id: string }>(url, "SELECT id FROM messages WHERE id LIKE 'd-%' ORDER BY id");
      assert.deepEqual(
        stored.map((row) => row.id),
        ['d-free-0', 'd-free-1', 'd-free-2', 'd-free-3', 'd-free-4', 'd-other'],
      );
      await holder.query('COMMIT');
      // Its key free again, the client's retry is taken.
      assert.equal((await store.acceptMail(copy('d-held-2', '<held@example.com>'))).duplicateOf, undefined);
    } finally {
      await holder.end();
      await store.close();
    }
  });

  test('two groups with the same two Message-IDs in opposite orders, behind a held key: one waits for the other, no deadlock', async () => {
    // A wait longer than the test's steps take, so that each group waits on the held key as long as the test holds it.
    const writers = ['alpha', 'beta'].map(() => {
      const pool = new pg.Pool({ connectionString: url, max: 2 });
      return { pool, writer: writerOn(pool, { keyWaitMs: 120_000 }) };
    });
    const [alpha, beta] = writers as [(typeof writers)[number], (typeof writers)[number]];
    const x = lockedKey('messages', '<x@example.com>');
    const y = lockedKey('messages', '<y@example.com>');
    const write = (writer: GroupWriter, label: string, key: string) =>
      writer.run({ locks: [key], statements: [{ text: 'SELECT $1::text AS label', values: [label] }], result: ([row]) => row?.rows[0]?.label }, []);
    // x's key, not y's: taken in the order written (alpha x then y, beta y then x), alpha would get x on its release while beta holds y.
    const holder = await holding(url, '<x@example.com>');
    try {
      const before = await deadlocks(url);
      // Each writer's two writes in one turn: one group.
      const first = [write(alpha.writer, 'a-x', x), write(alpha.writer, 'a-y', y)];
      await waitEvery("alpha's group waiting", async () => (await waitingOnKeys(url)) === 1, 20_000, 20);
      const second = [write(beta.writer, 'b-y', y), write(beta.writer, 'b-x', x)];
      await waitEvery("beta's group waiting", async () => (await waitingOnKeys(url)) === 2, 20_000, 20);
      await holder.query('COMMIT');
      assert.deepEqual(await Promise.all([...first, ...second]), ['a-x', 'a-y', 'b-y', 'b-x']);
      assert.equal(await deadlocks(url), before, 'no deadlock (each group took its keys in one order)');
    } finally {
      await holder.end();
      await Promise.all(writers.map(({ pool }) => pool.end()));
    }
  });

  test("a busy Message-ID's mail tried alone waits longer than its group did (KEY_WAIT_ALONE_MS): a key freed during that wait commits it", async () => {
    const store = await PostgresStore.open({ url, wakeTag: 'alone-wait' });
    const holder = await holding(url, '<slow@example.com>');
    try {
      /** The start of each wait on a key: the group's try, then the mail's own. */
      const waitsBegun = new Set<string>();
      const waiting = async () => {
        const rows = await query<{ started: string }>(
          url,
          `SELECT query_start::text AS started FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'`,
        );
        for (const row of rows) waitsBegun.add(row.started);
        return waitsBegun.size >= 2;
      };
      const accepted = watched(store.acceptMail(copy('alone-1', '<slow@example.com>')));
      // Freed well past the group's bound into the mail's own wait: with the group's bound alone it was refused
      // MESSAGE_ID_BUSY by then (KEY_WAIT_ALONE_MS leaves it a margin of more than twice that).
      await waitEvery('the mail waiting for its key alone', async () => accepted.settled() || (await waiting()), 30_000, 10);
      await sleep(3 * KEY_WAIT_MS);
      await holder.query('COMMIT');
      const { value, error } = await accepted.outcome;
      assert.equal((error as RelayError | undefined)?.code, undefined, 'committed once the key was free, not refused');
      assert.deepEqual(value, { duplicateOf: undefined });
    } finally {
      await holder.end();
      await store.close();
    }
  });

  test('two copies in one group: the second is folded into the first', async () => {
    const store = await PostgresStore.open({ url, wakeTag: 'gamma' });
    try {
      const answers = await Promise.all([store.acceptMail(copy('g-1', '<z@example.com>')), store.acceptMail(copy('g-2', '<z@example.com>'))]);
      assert.deepEqual(
        answers.map((answer) => answer.duplicateOf),
        [undefined, 'g-1'],
      );
    } finally {
      await store.close();
    }
  });

  test("a group whose keys are free sends as many statements as a group without keys, and its writes run without the keys' bound", async () => {
    const proxy = await postgresProxy(url);
    const pool = new pg.Pool({ connectionString: proxy.url, max: 1 });
    const writer = writerOn(pool, {});
    try {
      /** The statements the server ran for one group (one turn) of three writes, each with `locks`. */
      const statements = async (locks: (index: number) => readonly string[]) => {
        const before = proxy.count(COMMAND_COMPLETE);
        await Promise.all(
          [0, 1, 2].map((index) => writer.run({ locks: locks(index), statements: [{ text: 'SELECT 1', values: [] }], result: () => index }, [])),
        );
        return proxy.count(COMMAND_COMPLETE) - before;
      };
      const keyless = await statements(() => []);
      assert.equal(keyless, 4, 'the settings, then the three writes');
      assert.equal(await statements((index) => [lockedKey('messages', `<free-${index}@example.com>`)]), keyless);
      // The bound is the keys' alone: the writes after the opening wait for their locks as the server says (no lock_timeout).
      const bound = await writer.run(
        {
          locks: [lockedKey('messages', '<free@example.com>')],
          statements: [{ text: "SELECT current_setting('lock_timeout') AS t", values: [] }],
          result: ([row]) => row?.rows[0]?.t,
        },
        [],
      );
      assert.equal(bound, '0');
    } finally {
      await pool.end();
      await proxy.close();
    }
  });
});
