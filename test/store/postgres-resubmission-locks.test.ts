/**
 * The resubmission check's lock on PostgreSQL (accept.ts, resubmissionLocks; group-writer.ts, Statements.locks): copies
 * of one mail committed at once by two relays' groups, both waiting on a session that holds `messages`, are folded;
 * a group takes every mail's lock at once in one order, so two groups with the same two Message-IDs in opposite
 * orders wait one for the other and never deadlock; two copies in one group fold without any lock.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { resubmissionOf } from '../../src/acceptance/resubmission-fingerprint.ts';
import { PostgresStore } from '../../src/store/postgres/store.ts';
import type { NewMail } from '../../src/store/types.ts';
import { query, waitEvery } from '../helpers/cluster.ts';
import { describeOnPostgres } from '../helpers/postgres.ts';
import { mail } from '../helpers/store.ts';

const PHONE = '+447700900480';

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

/** The stores' statements waiting on a lock: an accept behind the held table, or a group behind another's keys. */
const waiting = async (url: string) =>
  Number(
    (
      await query<{ n: string }>(
        url,
        `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
          AND (query LIKE '%INSERT INTO messages%' OR query LIKE '%pg_advisory_xact_lock%')`,
      )
    )[0]?.n,
  );

const deadlocks = async (url: string) =>
  Number((await query<{ n: string }>(url, 'SELECT deadlocks AS n FROM pg_stat_database WHERE datname = current_database()'))[0]?.n);

describeOnPostgres('PostgreSQL: a mail and its resend committed at once', async (url) => {
  test('two groups with the same two Message-IDs in opposite orders, both behind a held table: each resend folded, no deadlock', async () => {
    const alpha = await PostgresStore.open({ url, wakeTag: 'alpha' });
    const beta = await PostgresStore.open({ url, wakeTag: 'beta' });
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      const before = await deadlocks(url);
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE messages IN SHARE MODE');
      // Each store's two mails in one turn: one group.
      const first = [alpha.acceptMail(copy('a-x', '<x@example.com>')), alpha.acceptMail(copy('a-y', '<y@example.com>'))];
      await waitEvery("alpha's group waiting", async () => (await waiting(url)) === 1, 20_000, 20);
      const second = [beta.acceptMail(copy('b-y', '<y@example.com>')), beta.acceptMail(copy('b-x', '<x@example.com>'))];
      await waitEvery("beta's group waiting", async () => (await waiting(url)) === 2, 20_000, 20);
      await holder.query('COMMIT');
      const answers = await Promise.all([...first, ...second]);
      assert.deepEqual(
        answers.map((answer) => answer.duplicateOf),
        [undefined, undefined, 'a-y', 'a-x'],
      );
      assert.equal(await deadlocks(url), before, 'no deadlock (each group took its keys in one order)');
      const sms = await query<{ message_id: string }>(url, 'SELECT message_id FROM outbound WHERE number = $1 ORDER BY message_id', [PHONE]);
      assert.deepEqual(
        sms.map((row) => row.message_id),
        ['a-x', 'a-y'],
      );
    } finally {
      await holder.end();
      await Promise.all([alpha.close(), beta.close()]);
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
});
