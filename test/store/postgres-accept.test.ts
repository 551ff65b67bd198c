import assert from 'node:assert/strict';
import { test } from 'node:test';
import type pg from 'pg';
import { resubmissionOf } from '../../src/acceptance/resubmission-fingerprint.ts';
import { MIGRATIONS } from '../../src/store/migrations.ts';
import { acceptText, conversationUsedAt } from '../../src/store/postgres/accept.ts';
import { migrate } from '../../src/store/postgres/migrate.ts';
import { PostgresStore } from '../../src/store/postgres/store.ts';
import type { NewMail } from '../../src/store/types.ts';
import { describeOnPostgres, freshDatabase, genericPlan, type PlanNode, planTables, withClient } from '../helpers/postgres.ts';
import { mail } from '../helpers/store.ts';

/**
 * The accept as one text for every mail, before it was chosen by the mail's shape (src/store/postgres/accept.ts;
 * the text of commit 33ddac6, values `$1`–`$28` as ONE_TEXT_VALUES lists them, its resubmission schema 38's: the
 * latest mail under the Message-ID that is the match or of another text or Subject): the reference each shape's text must write exactly as.
 */
const ONE_TEXT_ACCEPT = `WITH original AS (
          SELECT COALESCE(duplicate_of, id) AS id FROM (
            SELECT id, duplicate_of, fingerprint, subject FROM messages WHERE message_id_header = $6 AND received_at >= $27
              AND (fingerprint = $17 OR text IS DISTINCT FROM $9 OR subject IS DISTINCT FROM $7)
            ORDER BY received_at DESC, id DESC LIMIT 1
          ) latest WHERE fingerprint = $17 AND subject IS NOT DISTINCT FROM $7
        ), message AS (
          INSERT INTO messages (id, received_at, envelope_from, client_address, client_helo, message_id_header, subject,
            headers, text, encoding, parts, max_parts, sender_id, user_context, dsn_ret, dsn_envid, fingerprint, duplicate_of,
            report_all, send_at, gateway_account)
          SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, (SELECT id FROM original), $18, $19, $20
        ), sms AS (
          INSERT INTO outbound (message_id, number, rcpt, notify, orcpt, status, next_attempt_at, updated_at)
          SELECT $1, t.number, t.rcpt, t.notify, t.orcpt, 'queued', $21, $2
          FROM unnest($22::text[], $23::text[], $24::text[], $25::text[]) WITH ORDINALITY AS t(number, rcpt, notify, orcpt, position)
          WHERE NOT EXISTS (SELECT 1 FROM original)
          ORDER BY t.position
          RETURNING id, number, rcpt
        ), accepted AS (
          INSERT INTO events (at, message_id, sms_id, kind, detail)
          SELECT $2, $1, id, 'accepted', rcpt || ' -> ' || number FROM sms ORDER BY id
        ), resubmitted AS (
          INSERT INTO events (at, message_id, sms_id, kind, detail)
          SELECT $2, $1, NULL::bigint, 'resubmission', 'same mail as ' || id || ', sent once' FROM original
          UNION ALL SELECT $2, id, NULL, 'resubmitted', 'the client sent it again as ' || $1 FROM original
        ), upserted AS (
          INSERT INTO conversations (context, number, mailbox, subject, message_id_header, message_id, created_at, last_used_at)
          SELECT $14, t.number, $28, $7, $6, $1, $2, ${conversationUsedAt('t.number')} FROM unnest($22::text[]) AS t(number)
          WHERE $28::text IS NOT NULL AND $14::text IS NOT NULL AND NOT EXISTS (SELECT 1 FROM original)
          ON CONFLICT (context, number) DO UPDATE SET
            mailbox = CASE WHEN $26 THEN conversations.mailbox ELSE excluded.mailbox END,
            subject = CASE WHEN $26 THEN conversations.subject ELSE excluded.subject END,
            message_id_header = CASE WHEN $26 THEN conversations.message_id_header ELSE excluded.message_id_header END,
            message_id = excluded.message_id,
            last_used_at = excluded.last_used_at
        ), linked AS (
          INSERT INTO conversation_mail (message_id_header, number, context)
          SELECT $6, number, $14 FROM unnest($22::text[]) AS number
          WHERE $6::text IS NOT NULL AND $28::text IS NOT NULL AND $14::text IS NOT NULL AND NOT EXISTS (SELECT 1 FROM original)
          ON CONFLICT DO NOTHING
        )
        SELECT (SELECT id FROM original) AS duplicate_of`;

const ONE_TEXT_VALUES = (accepted: NewMail, due: number) => [
  accepted.id,
  accepted.receivedAt,
  accepted.envelopeFrom,
  accepted.client.address,
  accepted.client.helo,
  accepted.messageIdHeader ?? null,
  accepted.subject ?? null,
  accepted.headers,
  accepted.sms.text,
  accepted.sms.encoding,
  accepted.sms.parts,
  accepted.sms.maxParts,
  accepted.sms.senderId ?? null,
  accepted.sms.userContext ?? null,
  accepted.dsn.ret ?? null,
  accepted.dsn.envid ?? null,
  accepted.resubmission?.fingerprint ?? null,
  accepted.reportAll ? 1 : 0,
  accepted.sendAt ?? null,
  accepted.gatewayAccount ?? null,
  due,
  accepted.recipients.map((recipient) => recipient.number),
  accepted.recipients.map((recipient) => recipient.rcpt),
  accepted.recipients.map((recipient) => recipient.notify?.join(',') ?? null),
  accepted.recipients.map((recipient) => recipient.orcpt ?? null),
  accepted.conversation?.continues ?? false,
  accepted.resubmission?.since ?? 0,
  accepted.conversation?.mailbox ?? null,
];

/**
 * The rows an accept writes, each table in a fixed order; a conversation's last use is the database's clock, so only its
 * order is kept, and a message's database stamp (schema 37) only that it was made.
 */
async function written(client: pg.ClientBase): Promise<Record<string, unknown[]>> {
  const rows = async (sql: string) => (await client.query<{ row: unknown }>(sql)).rows.map((row) => row.row);
  return {
    messages: await rows(
      "SELECT to_jsonb(t) - 'db_received_at' || jsonb_build_object('stamped', db_received_at IS NOT NULL) AS row FROM messages t ORDER BY id",
    ),
    outbound: await rows("SELECT to_jsonb(t) - 'updated_at' AS row FROM outbound t ORDER BY id"),
    events: await rows('SELECT to_jsonb(t) AS row FROM events t ORDER BY id'),
    conversations: await rows(
      "SELECT to_jsonb(t) - 'last_used_at' || jsonb_build_object('use', rank() OVER (PARTITION BY number ORDER BY last_used_at)) AS row FROM conversations t ORDER BY context, number",
    ),
    conversation_mail: await rows('SELECT to_jsonb(t) AS row FROM conversation_mail t ORDER BY message_id_header, number, context'),
  };
}

const FIRST = 1_000;
const reply = (context: string, mailbox: string, continues: boolean, numbers: readonly string[], overrides: Partial<NewMail> = {}): NewMail => {
  const base = mail(numbers, overrides);
  return { ...base, sms: { ...base.sms, userContext: context }, conversation: { mailbox, continues }, ...overrides };
};

/** Mails of every shape the accept chooses a text for, in order: each may depend on the ones before. */
const scenario = (): Array<{ shape: string; mail: NewMail }> => [
  { shape: 'plain, one number', mail: mail(['+447700900001'], { receivedAt: FIRST }) },
  {
    shape: 'plain, several numbers with NOTIFY and ORCPT, a DSN, report all, an account',
    mail: {
      ...mail(['+447700900002', '+447700900003', '+447700900004'], { receivedAt: FIRST + 1 }),
      dsn: { ret: 'HDRS', envid: 'env-1' },
      reportAll: true,
      gatewayAccount: 'acme',
      recipients: ['+447700900002', '+447700900003', '+447700900004'].map((number, index) => ({
        number,
        rcpt: `${number.slice(1)}@sms.localhost`,
        notify: index === 0 ? undefined : ['SUCCESS', 'FAILURE'],
        orcpt: index === 2 ? `rfc822;${number}@example.com` : undefined,
      })),
    },
  },
  { shape: 'held until its send time', mail: mail(['+447700900005'], { receivedAt: FIRST + 2, sendAt: FIRST + 60_000, holdUntilSendAt: true }) },
  { shape: 'scheduled by the provider', mail: mail(['+447700900006'], { receivedAt: FIRST + 3, sendAt: FIRST + 60_000 }) },
  {
    shape: 'with a fingerprint, first seen',
    mail: mail(['+447700900007'], {
      receivedAt: FIRST + 4,
      messageIdHeader: '<f-1@example.com>',
      resubmission: { fingerprint: 'f-1', since: 0 },
    }),
  },
  {
    shape: 'a resubmission',
    mail: mail(['+447700900007'], {
      receivedAt: FIRST + 5,
      messageIdHeader: '<f-1@example.com>',
      resubmission: { fingerprint: 'f-1', since: 0 },
    }),
  },
  {
    shape: 'the same fingerprint after its window',
    mail: mail(['+447700900007'], {
      receivedAt: FIRST + 6,
      messageIdHeader: '<f-1@example.com>',
      resubmission: { fingerprint: 'f-1', since: FIRST + 6 },
    }),
  },
  { shape: 'a conversation started', mail: reply('c-1', 'alice@example.com', false, ['+447700900008', '+447700900009'], { receivedAt: FIRST + 7 }) },
  {
    shape: 'a conversation continued',
    mail: reply('c-1', 'bob@example.com', true, ['+447700900008'], { receivedAt: FIRST + 8, subject: 'Re: Server down' }),
  },
  { shape: 'a conversation taken over', mail: reply('c-1', 'carol@example.com', false, ['+447700900009'], { receivedAt: FIRST + 9 }) },
  {
    shape: 'a conversation without a Message-ID',
    mail: reply('c-2', 'alice@example.com', false, ['+447700900010'], { receivedAt: FIRST + 10, messageIdHeader: undefined }),
  },
  {
    shape: 'a conversation with a fingerprint, first seen',
    mail: reply('c-3', 'alice@example.com', false, ['+447700900011'], {
      receivedAt: FIRST + 11,
      messageIdHeader: '<f-2@example.com>',
      resubmission: { fingerprint: 'f-2', since: 0 },
    }),
  },
  {
    shape: 'a conversation resubmitted',
    mail: reply('c-3', 'dave@example.com', false, ['+447700900011'], {
      receivedAt: FIRST + 12,
      messageIdHeader: '<f-2@example.com>',
      resubmission: { fingerprint: 'f-2', since: 0 },
    }),
  },
  {
    shape: 'a user context without a mailbox',
    mail: (() => {
      const base = mail(['+447700900012'], { receivedAt: FIRST + 13 });
      return { ...base, sms: { ...base.sms, userContext: 'c-4' } };
    })(),
  },
  {
    shape: 'a mailbox without a user context',
    mail: mail(['+447700900013'], { receivedAt: FIRST + 14, conversation: { mailbox: 'alice@example.com', continues: false } }),
  },
  { shape: 'no recipients', mail: mail([], { receivedAt: FIRST + 15 }) },
];

describeOnPostgres('The accept chosen by the mail on PostgreSQL', async (url) => {
  test('every shape of mail writes the rows, and answers the duplicate, that the one text for every mail did', async () => {
    const mails = scenario();
    const store = await PostgresStore.open({ url });
    const answers: Record<string, string | undefined> = {};
    try {
      for (const { shape, mail: accepted } of mails) answers[shape] = (await store.acceptMail(accepted)).duplicateOf;
    } finally {
      await store.close();
    }
    const reference = await freshDatabase();
    assert.ok(reference);
    await (await PostgresStore.open({ url: reference })).close();
    const referenceAnswers: Record<string, string | undefined> = {};
    const expected = await withClient(reference, async (client) => {
      for (const { shape, mail: accepted } of mails) {
        const due = accepted.holdUntilSendAt && accepted.sendAt !== undefined ? Math.max(accepted.sendAt, accepted.receivedAt) : accepted.receivedAt;
        const row = (await client.query<{ duplicate_of: string | null }>(ONE_TEXT_ACCEPT, ONE_TEXT_VALUES(accepted, due))).rows[0];
        referenceAnswers[shape] = row?.duplicate_of ?? undefined;
      }
      return written(client);
    });
    assert.deepEqual(answers, referenceAnswers);
    assert.equal(Object.values(answers).filter(Boolean).length, 2, 'two resubmissions in the scenario');
    const actual = await withClient(url, written);
    for (const table of Object.keys(expected)) assert.deepEqual(actual[table], expected[table], table);
    assert.equal(actual['conversations']?.length, 4, 'the scenario upserts conversations');
  });

  test("a resubmission's look-up reads the index by Message-ID, time and id backward from its end in the generic plan: no sort, whatever number of mails share a Message-ID", async () => {
    const reference = await freshDatabase();
    assert.ok(reference);
    await (await PostgresStore.open({ url: reference })).close();
    /** The plan nodes under the accept's `original` CTE, in its generic plan (as a statement prepared by name runs after 5 executions). */
    const originalPlan = async (client: pg.ClientBase) => {
      const nodes: PlanNode[] = [];
      const walk = (node: PlanNode, inOriginal: boolean) => {
        const within = inOriginal || node['Subplan Name'] === 'CTE original';
        if (within) nodes.push(node);
        for (const child of node.Plans ?? []) walk(child, within);
      };
      walk(await genericPlan(client, acceptText({ resubmission: true, conversation: false })), false);
      return nodes.map((node) => [node['Node Type'], node['Index Name'] ?? node['Relation Name'] ?? ''].join(' ').trim());
    };
    await withClient(reference, async (client) => {
      // A device's 20,000 mails under one Message-ID (a year of a UPS's every-half-hour alerts), and as many others.
      await client.query(`INSERT INTO messages (id, received_at, envelope_from, client_address, client_helo, message_id_header, subject, headers, text,
          encoding, parts, max_parts, fingerprint)
        SELECT 'm' || n, n, 'ups@example.com', '127.0.0.1', 'ups', CASE WHEN n % 2 = 0 THEN '<constant@ups>' ELSE '<' || n || '@example.com>' END,
          'UPS1', '', 'On battery', 'gsm7', 1, 1, 'f' || n
        FROM generate_series(1, 40000) AS n`);
      for (const analyzed of [false, true]) {
        if (analyzed) await client.query('ANALYZE messages');
        // The Message-ID's entries newest first, at most the walk's rows, each with whether one of another text came
        // before it (a running window in the index's order), until a match passes its filter: no Sort, no other scan; then
        // whether the one found has an SMS sent or to be sent, or none at all, by the index of its SMS (a mail none of whose SMS
        // was is no original).
        assert.deepEqual(
          await originalPlan(client),
          [
            'Subquery Scan',
            'Limit',
            'Subquery Scan',
            'WindowAgg',
            'Subquery Scan',
            'Limit',
            'Index Scan messages_message_id',
            'Aggregate',
            'Index Scan outbound_message_id_number_key',
          ],
          analyzed ? 'analyzed' : 'never analyzed',
        );
      }
    });
  });

  test('a database of schema 37 is migrated by a relay: a mail stored before is resent after it as one; one index by Message-ID, the one by fingerprint kept for older relays', async () => {
    const older = await freshDatabase();
    assert.ok(older);
    const [ups, two] = [['+447700900123'], ['+447700900125', '+447700900124']];
    const now = Date.now();
    await withClient(older, async (client) => {
      await migrate(client, { create: true, migrations: MIGRATIONS.slice(0, 37) });
      const stored = async (id: string, at: number, messageId: string, numbers: readonly string[], text: string) => {
        await client.query(
          `INSERT INTO messages (id, received_at, envelope_from, client_address, client_helo, message_id_header, subject, headers, text, encoding,
            parts, max_parts, fingerprint) VALUES ($1, $2, 'a@example.com', '127.0.0.1', 'client', $3, 'UPS1', '', $4, 'gsm7', 1, 1, $5)`,
          [id, at, messageId, text, resubmissionOf(messageId, numbers, text, 0)?.fingerprint],
        );
        for (const number of numbers)
          await client.query(`INSERT INTO outbound (message_id, number, rcpt, status, next_attempt_at, updated_at) VALUES ($1, $2, 'a@sms', 'sent', $3, $3)`, [
            id,
            number,
            at,
          ]);
      };
      await stored('m-old', now - 60_000, '<old@ups>', ups, 'On battery');
      await stored('m-two', now - 60_000, '<two@example.com>', two, 'Backup failed');
    });
    const store = await PostgresStore.open({ url: older });
    const resend = (messageId: string, numbers: readonly string[], text: string) =>
      mail(numbers, { messageIdHeader: messageId, subject: 'UPS1', receivedAt: now, resubmission: resubmissionOf(messageId, numbers, text, now - 600_000) });
    try {
      assert.equal((await store.acceptMail(resend('<old@ups>', ups, 'On battery'))).duplicateOf, 'm-old', 'a resend of a mail stored before the upgrade');
      assert.equal((await store.acceptMail(resend('<two@example.com>', two, 'Backup failed'))).duplicateOf, 'm-two', 'its numbers in any order');
    } finally {
      await store.close();
    }
    await withClient(older, async (client) => {
      assert.deepEqual(
        (await client.query("SELECT indexname FROM pg_indexes WHERE tablename = 'messages' AND indexdef LIKE '%message_id_header%' ORDER BY 1")).rows,
        [{ indexname: 'messages_message_id' }],
      );
      assert.deepEqual(
        (await client.query("SELECT indexname FROM pg_indexes WHERE tablename = 'messages' AND indexdef LIKE '%(fingerprint%'")).rows,
        [{ indexname: 'messages_fingerprint' }],
        'an older relay of a rolling upgrade looks resubmissions up by it',
      );
      assert.equal(
        (await client.query("SELECT fingerprint FROM messages WHERE message_id_header = '<old@ups>' ORDER BY received_at DESC LIMIT 1")).rows[0]?.fingerprint,
        resubmissionOf('<old@ups>', ups, 'On battery', 0)?.fingerprint,
        'a newer relay still writes the fingerprint an older one looks up',
      );
    });
  });

  test('a mail with no fingerprint and no conversation runs a statement that touches only its mail, its SMS and their history', async () => {
    assert.deepEqual(await planTables(url, acceptText({ resubmission: false, conversation: false })), ['events', 'messages', 'outbound']);
  });
});
