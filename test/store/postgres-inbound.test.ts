import assert from 'node:assert/strict';
import { test } from 'node:test';
import type pg from 'pg';
import { conversationUsedAt } from '../../src/store/postgres/accept.ts';
import { inboundStatement, PostgresStore } from '../../src/store/postgres/store.ts';
import type { NewInbound, NewMail } from '../../src/store/types.ts';
import { describeOnPostgres, freshDatabase, planTables, withClient } from '../helpers/postgres.ts';
import { mail } from '../helpers/store.ts';

/**
 * A received SMS kept as one text for every SMS, before it was chosen by the SMS's shape (the text of commit
 * d41018c, values `$1`–`$20` as ONE_TEXT_VALUES lists them): the reference each shape's text must write exactly as.
 */
const ONE_TEXT_INBOUND = `WITH kept AS (
    INSERT INTO inbound (id, provider, provider_id, number, text, sent_at, user_context, received_at, mailbox, context)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (provider, provider_id) DO NOTHING RETURNING id
  ), used AS (
    UPDATE conversations SET last_used_at = ${conversationUsedAt('$4')}
    WHERE context = $10 AND number = $4 AND EXISTS (SELECT 1 FROM kept)
  ), linked AS (
    INSERT INTO conversation_mail (message_id_header, number, context) SELECT $11, $4, $10
    WHERE $10::text IS NOT NULL AND EXISTS (SELECT 1 FROM kept) ON CONFLICT DO NOTHING
  ), queued AS (
    INSERT INTO mail_out (created_at, kind, message_id, envelope_from, recipients, raw, status, next_attempt_at, updated_at, once_key)
    SELECT $8, $12, $13, $14, $15, $16, 'queued', $8, $8, $17 WHERE $12::text IS NOT NULL AND EXISTS (SELECT 1 FROM kept)
    ON CONFLICT (once_key) WHERE once_key IS NOT NULL DO NOTHING RETURNING id
  ), logged AS (
    INSERT INTO events (at, message_id, sms_id, kind, detail)
    SELECT $8, $13, NULL, $12 || ' queued', 'mail ' || id || ' to ' || $18 FROM queued
  ), opted_out AS (
    INSERT INTO opt_outs (number, since, keyword) SELECT $4, $8, $20 WHERE $19 = 'stop' AND EXISTS (SELECT 1 FROM kept)
    ON CONFLICT (number) DO NOTHING
  ), opted_in AS (
    DELETE FROM opt_outs WHERE $19 = 'start' AND number = $4 AND EXISTS (SELECT 1 FROM kept)
  ), opted_in_at AS (
    INSERT INTO opt_ins (number, since) SELECT $4, $8 WHERE $19 = 'start' AND EXISTS (SELECT 1 FROM kept)
    ON CONFLICT (number) DO UPDATE SET since = GREATEST(opt_ins.since, excluded.since)
  )
  SELECT count(*)::int AS kept FROM kept`;

const ONE_TEXT_VALUES = (inbound: NewInbound) => {
  const route = inbound.route;
  const reply = route?.mail;
  return [
    // The SMS's own columns, as every shape's text takes them.
    ...inboundStatement(inbound).values.slice(0, 10),
    route?.messageIdHeader ?? null,
    reply?.kind ?? null,
    reply?.messageId ?? null,
    reply?.envelopeFrom ?? null,
    reply ? JSON.stringify(reply.recipients) : null,
    reply?.raw ?? null,
    reply?.onceKey ?? null,
    reply?.recipients.join(', ') ?? null,
    inbound.optOut?.action ?? null,
    inbound.optOut?.action === 'stop' ? inbound.optOut.keyword : null,
  ];
};

/**
 * The rows a received SMS writes, each table in a fixed order; a conversation's last use is the database's clock, so only
 * its order is kept, and a reply mail's database stamp (schema 37) only that it was made.
 */
async function written(client: pg.ClientBase): Promise<Record<string, unknown[]>> {
  const rows = async (sql: string) => (await client.query<{ row: unknown }>(sql)).rows.map((row) => row.row);
  return {
    inbound: await rows('SELECT to_jsonb(t) AS row FROM inbound t ORDER BY id'),
    mail_out: await rows("SELECT to_jsonb(t) - 'db_created_at' || jsonb_build_object('stamped', db_created_at IS NOT NULL) AS row FROM mail_out t ORDER BY id"),
    events: await rows('SELECT to_jsonb(t) AS row FROM events t ORDER BY id'),
    conversations: await rows(
      "SELECT to_jsonb(t) - 'last_used_at' || jsonb_build_object('use', rank() OVER (PARTITION BY number ORDER BY last_used_at)) AS row FROM conversations t ORDER BY context, number",
    ),
    conversation_mail: await rows('SELECT to_jsonb(t) AS row FROM conversation_mail t ORDER BY message_id_header, number, context'),
    opt_outs: await rows('SELECT to_jsonb(t) AS row FROM opt_outs t ORDER BY number'),
    opt_ins: await rows('SELECT to_jsonb(t) AS row FROM opt_ins t ORDER BY number'),
  };
}

const FIRST = 10_000;
/** The mail whose conversation the replies below continue (context c-1 with +447700900001). */
const ALERT: NewMail = (() => {
  const base = mail(['+447700900001'], { receivedAt: 1_000, subject: 'Disk full' });
  return { ...base, sms: { ...base.sms, userContext: 'c-1' }, conversation: { mailbox: 'alice@example.com', continues: false } };
})();

/** A second alert to the same number (context c-2): which conversation was used last then shows in its rank. */
const ALERT2: NewMail = (() => {
  const base = mail(['+447700900001'], { receivedAt: 2_000, subject: 'Disk full again' });
  return { ...base, sms: { ...base.sms, userContext: 'c-2' }, conversation: { mailbox: 'bob@example.com', continues: false } };
})();
let sequence = 0;
/** A received SMS from `number`, routed to `mailbox` (in conversation `context`) or not, with `optOut`. */
const sms = (
  number: string,
  text: string,
  how: {
    readonly mailbox?: string;
    readonly context?: string;
    readonly optOut?: NewInbound['optOut'];
    readonly providerId?: string;
    readonly onceKey?: string;
  } = {},
): NewInbound => {
  const index = ++sequence;
  const id = `in-${index}`;
  return {
    id,
    provider: 'intellisoftware',
    providerId: how.providerId ?? `G${index}`,
    number,
    text,
    sentAt: index % 2 === 0 ? '2026-12-06T10:00:00Z' : undefined,
    userContext: how.context,
    receivedAt: FIRST + index,
    optOut: how.optOut,
    route:
      how.mailbox === undefined
        ? undefined
        : {
            mailbox: how.mailbox,
            context: how.context,
            messageIdHeader: `<reply-${index}@relay.example>`,
            mail: {
              kind: 'reply',
              messageId: id,
              envelopeFrom: 'relay@relay.example',
              recipients: [how.mailbox],
              raw: Buffer.from(`Subject: SMS from ${number}\r\n\r\n${text}\r\n`),
              ...(how.onceKey ? { onceKey: how.onceKey } : {}),
            },
          },
  };
};

/** Received SMS of every shape the store chooses a text for, in order: each may depend on the ones before. */
const scenario = (): Array<{ shape: string; inbound: NewInbound }> => [
  { shape: 'no mailbox', inbound: sms('+447700900002', 'who is this') },
  { shape: 'a mailbox, no conversation', inbound: sms('+447700900003', 'on it', { mailbox: 'ops@example.com' }) },
  { shape: 'a reply in a conversation', inbound: sms('+447700900001', 'rebooting', { mailbox: 'alice@example.com', context: 'c-1' }) },
  { shape: 'a second reply in it', inbound: sms('+447700900001', 'done', { mailbox: 'alice@example.com', context: 'c-1' }) },
  { shape: 'the provider retrying a reply', inbound: sms('+447700900001', 'done', { mailbox: 'alice@example.com', context: 'c-1', providerId: 'G4' }) },
  { shape: 'a reply mail with a once-key', inbound: sms('+447700900004', 'ack', { mailbox: 'ops@example.com', onceKey: 'once-1' }) },
  { shape: 'the once-key again', inbound: sms('+447700900004', 'ack', { mailbox: 'ops@example.com', onceKey: 'once-1' }) },
  { shape: 'a STOP, no mailbox', inbound: sms('+447700900005', 'STOP', { optOut: { action: 'stop', keyword: 'STOP' } }) },
  {
    shape: 'a STOP with a mailbox',
    inbound: sms('+447700900006', 'UNSUBSCRIBE', { mailbox: 'ops@example.com', optOut: { action: 'stop', keyword: 'UNSUBSCRIBE' } }),
  },
  { shape: 'a STOP again', inbound: sms('+447700900006', 'STOP', { mailbox: 'ops@example.com', optOut: { action: 'stop', keyword: 'STOP' } }) },
  { shape: 'a START after a STOP', inbound: sms('+447700900005', 'START', { optOut: { action: 'start', keyword: 'START' } }) },
  { shape: 'a START with a mailbox', inbound: sms('+447700900006', 'START', { mailbox: 'ops@example.com', optOut: { action: 'start', keyword: 'START' } }) },
  {
    shape: 'a START in a conversation',
    inbound: sms('+447700900001', 'YES', { mailbox: 'alice@example.com', context: 'c-1', optOut: { action: 'start', keyword: 'YES' } }),
  },
  { shape: 'a STOP that stays', inbound: sms('+447700900007', 'STOP', { optOut: { action: 'stop', keyword: 'STOP' } }) },
  { shape: 'a STOP repeated by the provider', inbound: sms('+447700900005', 'STOP', { optOut: { action: 'stop', keyword: 'STOP' }, providerId: 'G8' }) },
  {
    shape: 'a STOP in a conversation',
    inbound: sms('+447700900001', 'STOP', { mailbox: 'alice@example.com', context: 'c-1', optOut: { action: 'stop', keyword: 'STOP' } }),
  },
  {
    shape: 'a START repeated after the STOP',
    inbound: sms('+447700900001', 'YES', { mailbox: 'alice@example.com', context: 'c-1', optOut: { action: 'start', keyword: 'YES' }, providerId: 'G13' }),
  },
  { shape: 'a START repeated no mailbox', inbound: sms('+447700900005', 'START', { optOut: { action: 'start', keyword: 'START' }, providerId: 'G11' }) },
  { shape: 'a reply in the newer conversation', inbound: sms('+447700900001', 'c2 answer', { mailbox: 'bob@example.com', context: 'c-2' }) },
  {
    shape: 'the provider retrying the older conversation reply',
    inbound: sms('+447700900001', 'done', { mailbox: 'alice@example.com', context: 'c-1', providerId: 'G4' }),
  },
];

describeOnPostgres('A received SMS kept by its shape on PostgreSQL', async (url) => {
  test('every shape of received SMS writes the rows, and answers the repeat, that the one text for every SMS did', async () => {
    const received = scenario();
    const store = await PostgresStore.open({ url });
    const answers: Record<string, boolean> = {};
    try {
      await store.acceptMail(ALERT);
      await store.acceptMail(ALERT2);
      for (const { shape, inbound } of received) answers[shape] = (await store.acceptInbound(inbound)).duplicate;
    } finally {
      await store.close();
    }
    const reference = await freshDatabase();
    assert.ok(reference);
    const referenceStore = await PostgresStore.open({ url: reference });
    await referenceStore.acceptMail(ALERT);
    await referenceStore.acceptMail(ALERT2);
    await referenceStore.close();
    const referenceAnswers: Record<string, boolean> = {};
    const expected = await withClient(reference, async (client) => {
      for (const { shape, inbound } of received) {
        const row = (await client.query<{ kept: number }>(ONE_TEXT_INBOUND, ONE_TEXT_VALUES(inbound))).rows[0];
        referenceAnswers[shape] = row?.kept === 0;
      }
      return written(client);
    });
    assert.deepEqual(answers, referenceAnswers);
    assert.equal(Object.values(answers).filter(Boolean).length, 5, 'five repeats in the scenario: two replies, a STOP and two STARTs');
    const actual = await withClient(url, written);
    for (const table of Object.keys(expected)) assert.deepEqual(actual[table], expected[table], table);
    assert.equal(actual['opt_outs']?.length, 2, 'the scenario leaves two numbers opted out: a repeated START deletes no later STOP');
    assert.equal(actual['conversations']?.length, 2, 'two conversations with one number, told apart by which was used last');
    assert.equal(actual['conversation_mail']?.length, 7, 'the scenario links the two alerts and five reply mails to their conversations');
  });

  test('a received SMS with a mailbox and no conversation or keyword runs a statement that touches only the SMS, its reply mail and its history', async () => {
    const { text } = inboundStatement(sms('+447700900009', 'on it', { mailbox: 'ops@example.com' }));
    assert.deepEqual(await planTables(url, text), ['events', 'inbound', 'mail_out']);
  });
});
