/**
 * A mail accepted on PostgreSQL in one statement: the mail, its SMS jobs and their history lines, and
 * only what this mail needs besides. The server initialises every part of a statement's plan at each
 * execution, run or not, so one text with every branch made every mail pay for the conversations'
 * upsert and link (most mails have no conversation) and for the resubmission check and its two history
 * lines (a mail without a Message-ID has no fingerprint), all finding nothing. Each shape has its own
 * text (its own named statement, prepared.ts). Server CPU per accept (bench/statement-cpu.ts,
 * 2026-12-04, 4 to a transaction): with a fingerprint and no conversation, the usual mail, 135–146 µs
 * where the one text cost 153–159; with neither, 109–114 where it cost 150–157.
 */
import { FOLDED_EVENT, foldedDetail, REFUSED_EVENT, REPEATED_EVENT, refusedDetail, repeatedDetail, MAIL_SENT_OR_TO_BE_SENT } from '../rows.ts';
import { type NewMail, RESUBMISSION_WALK_ROWS } from '../types.ts';
import type { Statement } from './batch.ts';
import { DB_NOW_MS } from './clock.ts';
import { lockedKey } from './key-lock.ts';

/**
 * When a conversation with the number `numberSql` (SQL) is used: the database's clock, and later than any use of
 * that number's conversations so far, so "the phone's latest conversation" has one answer whichever
 * relay (with whatever clock) wrote it.
 */
export const conversationUsedAt = (numberSql: string) =>
  `GREATEST(${DB_NOW_MS}, (SELECT COALESCE(MAX(used.last_used_at) + 1, 0) FROM conversations used WHERE used.number = ${numberSql}))`;

/** What a mail's statement must do besides storing the mail and its SMS. */
export interface AcceptShape {
  /** It has a fingerprint: it may be a resubmission of an earlier mail (then stored without SMS, linked to it). */
  readonly resubmission: boolean;
  /** It has a mailbox for replies and a user context: its numbers' conversations are upserted and linked. */
  readonly conversation: boolean;
  /** Stored only as a resubmission (Store#acceptMail's onlyAsResubmission): with no original, nothing is stored. */
  readonly onlyAsResubmission?: boolean;
}

/** The values every shape takes, `$1`–`$25`; a shape's own follow, in the order of acceptText. */
const COMMON_VALUES = 25;

/**
 * The statement of a mail of `shape`. The values (acceptValues): `$1` id, `$2` received at, `$3`–`$19`
 * the mail's columns, `$20` first due, `$21`–`$24` the recipients' numbers, RCPTs, NOTIFYs and ORCPTs, `$25` the
 * account it was accepted under (a column added after the recipients' values were numbered);
 * then for a resubmission its fingerprint, the window's start, its Date and the most mails its look-up reads, for a conversation whether it
 * continues one and its mailbox. Its one result row, for a resubmission, has the original's id (or null).
 */
export function acceptText(shape: AcceptShape): string {
  let next = COMMON_VALUES + 1;
  const value = () => `$${next++}`;
  const [fingerprint, since, date, rows] = shape.resubmission ? [value(), value(), value(), value()] : [];
  const [continues, mailbox] = shape.conversation ? [value(), value()] : [];
  const parts: string[] = [];
  if (shape.resubmission)
    // The latest of its matches (its fingerprint and Subject, $7) under its Message-ID ($6) in the window with its Date
    // (queued again, whatever came between) or with no mail of another text ($9) or Subject since (Store#acceptMail):
    // at most `rows` mails read backward in messages_message_id (schema 38), whose id orders two stamped in the same ms
    // (time-ordered within a relay), each with whether one of another text came before it in that walk. A stored
    // resubmission (its original sent again, no alert of its own) folds by its Date alone and breaks no chain. Not
    // into a mail none of whose SMS was sent or is still to be sent (every one failed, expired or deleted): folded, the
    // resend would never be texted.
    parts.push(`original AS (
    SELECT id FROM (SELECT COALESCE(duplicate_of, id) AS id FROM (
      SELECT id, duplicate_of, received_at, fingerprint, subject, date_header,
        bool_or(duplicate_of IS NULL AND (text IS DISTINCT FROM $9 OR subject IS DISTINCT FROM $7))
          OVER (ORDER BY received_at DESC, id DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS other_since
      FROM (
        SELECT id, duplicate_of, received_at, fingerprint, subject, date_header, text FROM messages
        WHERE message_id_header = $6 AND received_at >= ${since}
        ORDER BY received_at DESC, id DESC LIMIT ${rows}
      ) walked
    ) latest WHERE fingerprint = ${fingerprint} AND subject IS NOT DISTINCT FROM $7
      AND (date_header = ${date} OR (duplicate_of IS NULL AND other_since IS NOT TRUE))
    ORDER BY latest.received_at DESC, latest.id DESC LIMIT 1) found
    WHERE ${MAIL_SENT_OR_TO_BE_SENT('found.id')}
  )`);
  const notResubmission = shape.resubmission ? 'WHERE NOT EXISTS (SELECT 1 FROM original)' : '';
  const andNotResubmission = shape.resubmission ? 'AND NOT EXISTS (SELECT 1 FROM original)' : '';
  const columns = `$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $25
      ${shape.resubmission ? `, ${fingerprint}, ${date}, (SELECT id FROM original)` : ''}`;
  parts.push(
    `message AS (
    INSERT INTO messages (id, received_at, envelope_from, client_address, client_helo, message_id_header, subject,
      headers, text, encoding, parts, max_parts, sender_id, user_context, dsn_ret, dsn_envid, report_all, send_at, gateway_account, account
      ${shape.resubmission ? ', fingerprint, date_header, duplicate_of' : ''})
    ${shape.onlyAsResubmission ? `SELECT ${columns} WHERE EXISTS (SELECT 1 FROM original)` : `VALUES (${columns})`}
  )`,
    `sms AS (
    INSERT INTO outbound (message_id, number, rcpt, notify, orcpt, status, next_attempt_at, updated_at)
    SELECT $1, t.number, t.rcpt, t.notify, t.orcpt, 'queued', $20, $2
    FROM unnest($21::text[], $22::text[], $23::text[], $24::text[]) WITH ORDINALITY AS t(number, rcpt, notify, orcpt, position)
    ${notResubmission}
    ORDER BY t.position
    RETURNING id, number, rcpt
  )`,
  );
  if (shape.conversation)
    parts.push(
      `upserted AS (
    INSERT INTO conversations (context, number, mailbox, subject, message_id_header, message_id, created_at, last_used_at)
    SELECT $14, t.number, ${mailbox}, $7, $6, $1, $2, ${conversationUsedAt('t.number')} FROM unnest($21::text[]) AS t(number)
    ${notResubmission}
    ON CONFLICT (context, number) DO UPDATE SET
      mailbox = CASE WHEN ${continues} THEN conversations.mailbox ELSE excluded.mailbox END,
      subject = CASE WHEN ${continues} THEN conversations.subject ELSE excluded.subject END,
      message_id_header = CASE WHEN ${continues} THEN conversations.message_id_header ELSE excluded.message_id_header END,
      message_id = excluded.message_id,
      last_used_at = excluded.last_used_at
  )`,
      `linked AS (
    INSERT INTO conversation_mail (message_id_header, number, context)
    SELECT $6, number, $14 FROM unnest($21::text[]) AS number
    WHERE $6::text IS NOT NULL ${andNotResubmission}
    ON CONFLICT DO NOTHING
  )`,
    );
  const accepted = "SELECT $2, $1, id, 'accepted', rcpt || ' -> ' || number FROM sms ORDER BY id";
  const logged = 'INSERT INTO events (at, message_id, sms_id, kind, detail)';
  // Without a resubmission check there is nothing to answer: the history lines are the statement itself.
  if (!shape.resubmission) return `WITH ${parts.join(', ')}\n${logged} ${accepted}`;
  // The SMS's lines, or the two that link a resubmission to its original (it has no SMS), in one insert:
  // each insert costs its table's and indexes' opening at every execution, lines or none.
  parts.push(`logged AS (
    ${logged} (${accepted})
    UNION ALL SELECT $2, $1, NULL::bigint, 'resubmission', 'same mail as ' || id || ', sent once' FROM original
    UNION ALL SELECT $2, id, NULL, 'resubmitted', 'the client sent it again as ' || $1 FROM original
  )`);
  return `WITH ${parts.join(', ')}\nSELECT (SELECT id FROM original) AS duplicate_of`;
}

/** Each shape's text, built once: by whether it is a resubmission, then whether it has a conversation. */
const TEXTS = {
  false: { false: acceptText({ resubmission: false, conversation: false }), true: acceptText({ resubmission: false, conversation: true }) },
  true: { false: acceptText({ resubmission: true, conversation: false }), true: acceptText({ resubmission: true, conversation: true }) },
} as const;
/** The text of a mail stored only as a resubmission: acceptStatement gives it no SMS and no conversation. */
const ONLY_AS_RESUBMISSION = acceptText({ resubmission: true, conversation: false, onlyAsResubmission: true });

/** What `mail` needs: a conversation only with both a mailbox and a user context to key it. */
export const shapeOf = (mail: NewMail): AcceptShape => ({
  resubmission: mail.resubmission !== undefined,
  conversation: mail.conversation !== undefined && mail.sms.userContext !== undefined,
});

/**
 * The statement that accepts `mail`, first due at `due`; with `onlyAsResubmission` (for a mail with a fingerprint), the one
 * that stores it only as a resubmission (ONLY_AS_RESUBMISSION: it stores no numbers, a resubmission stores none).
 */
export function acceptStatement(mail: NewMail, due: number, onlyAsResubmission = false): Statement {
  if (onlyAsResubmission) {
    const { values } = acceptStatement({ ...mail, recipients: [], conversation: undefined }, due);
    return { text: ONLY_AS_RESUBMISSION, values };
  }
  const shape = shapeOf(mail);
  const values: unknown[] = [
    mail.id,
    mail.receivedAt,
    mail.envelopeFrom,
    mail.client.address,
    mail.client.helo,
    mail.messageIdHeader ?? null,
    mail.subject ?? null,
    mail.headers,
    mail.sms.text,
    mail.sms.encoding,
    mail.sms.parts,
    mail.sms.maxParts,
    mail.sms.senderId ?? null,
    mail.sms.userContext ?? null,
    mail.dsn.ret ?? null,
    mail.dsn.envid ?? null,
    mail.reportAll ? 1 : 0,
    mail.sendAt ?? null,
    mail.gatewayAccount ?? null,
    due,
    mail.recipients.map((recipient) => recipient.number),
    mail.recipients.map((recipient) => recipient.rcpt),
    mail.recipients.map((recipient) => recipient.notify?.join(',') ?? null),
    mail.recipients.map((recipient) => recipient.orcpt ?? null),
    mail.account ?? null,
  ];
  if (mail.resubmission)
    values.push(mail.resubmission.fingerprint, mail.resubmission.since, mail.resubmission.date ?? null, mail.resubmission.rows ?? RESUBMISSION_WALK_ROWS);
  if (shape.conversation && mail.conversation) values.push(mail.conversation.continues, mail.conversation.mailbox);
  return { text: TEXTS[`${shape.resubmission}`][`${shape.conversation}`], values };
}

/**
 * The lock (group-writer.ts, Statements.locks) `mail`'s statement takes before its resubmission check: on its
 * Message-ID, which the check looks mails up by. Without it two copies committed at once (a client that gave up
 * waiting on one relay and sent the mail again to another, both commits waiting on a lock or a slow disk) each checked
 * in a snapshot without the other and both were texted; with it the second checks once the first committed (READ
 * COMMITTED: a statement's snapshot is taken when it starts) and is folded. Two copies in one group need none: the
 * second's statement sees the first's rows. A mail without a Message-ID has no check and takes no lock.
 */
export const resubmissionLocks = (mail: NewMail): readonly string[] =>
  mail.resubmission && mail.messageIdHeader !== undefined ? [lockedKey('messages', mail.messageIdHeader)] : [];

/** A condition that holds unless the mail `idSql` (SQL) was stored as a resubmission by its statement before (acceptText). */
export const unlessResubmitted = (idSql: string) => `(SELECT duplicate_of FROM messages WHERE id = ${idSql}) IS NULL`;

/**
 * The numbers of a mail refused at acceptance (NewMail.refused), stored as failed SMS with their history lines in the
 * mail's transaction, after its statement and only if it stored no resubmission. A statement of its own, for the rare
 * mail that has them (a list with a member that opted out): the usual mail's statement pays nothing for it.
 */
const REFUSED_TEXT = `WITH refused AS (
    INSERT INTO outbound (message_id, number, rcpt, notify, orcpt, status, last_error, next_attempt_at, updated_at)
    SELECT $1, t.number, t.rcpt, t.notify, t.orcpt, 'failed', t.reason, $2, $2
    FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) WITH ORDINALITY AS t(number, rcpt, notify, orcpt, reason, position)
    WHERE ${unlessResubmitted('$1')}
    ORDER BY t.position
    RETURNING id, number
  )
  INSERT INTO events (at, message_id, sms_id, kind, detail)
  SELECT $2, $1, refused.id, $9, t.detail FROM refused JOIN unnest($3::text[], $8::text[]) AS t(number, detail) USING (number) ORDER BY refused.id`;

/** The statements that store `mail`'s refused numbers (REFUSED_TEXT): none for a mail without. */
export function refusedStatements(mail: NewMail): Statement[] {
  const refused = mail.refused ?? [];
  if (refused.length === 0) return [];
  return [
    {
      text: REFUSED_TEXT,
      values: [
        mail.id,
        mail.receivedAt,
        refused.map((recipient) => recipient.number),
        refused.map((recipient) => recipient.rcpt),
        refused.map((recipient) => recipient.notify?.join(',') ?? null),
        refused.map((recipient) => recipient.orcpt ?? null),
        refused.map((recipient) => recipient.reason),
        refused.map(refusedDetail),
        REFUSED_EVENT,
      ],
    },
  ];
}

/**
 * The history lines of a mail's numbers folded by `policy.alertStormWindow` (NewMail.folded), in the mail's transaction,
 * after its statement and only if it stored no resubmission: its `folded` lines, and a `repeated` line on each earlier SMS
 * that has none yet. A statement of its own, for a mail that has them: the usual mail's statement pays nothing for it.
 */
const FOLDED_TEXT = `WITH folded AS (
    SELECT * FROM unnest($3::text[], $4::text[], $5::bigint[]) WITH ORDINALITY AS t(detail, earlier, earlier_sms, position)
    WHERE ${unlessResubmitted('$1')}
  ), lines AS (
    INSERT INTO events (at, message_id, sms_id, kind, detail)
    SELECT $2, $1, NULL, $6, detail FROM folded ORDER BY position
  )
  INSERT INTO events (at, message_id, sms_id, kind, detail)
  SELECT DISTINCT $2::bigint, earlier, earlier_sms, $7, $8 FROM folded
  WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.message_id = folded.earlier AND e.sms_id = folded.earlier_sms AND e.kind = $7)`;

/** The statements that store `mail`'s folded numbers' lines (FOLDED_TEXT): none for a mail without. */
export function foldedStatements(mail: NewMail): Statement[] {
  const folded = mail.folded ?? [];
  if (folded.length === 0) return [];
  return [
    {
      text: FOLDED_TEXT,
      values: [
        mail.id,
        mail.receivedAt,
        folded.map(foldedDetail),
        folded.map((recipient) => recipient.earlier),
        folded.map((recipient) => recipient.earlierSms),
        FOLDED_EVENT,
        REPEATED_EVENT,
        repeatedDetail(mail.id),
      ],
    },
  ];
}
