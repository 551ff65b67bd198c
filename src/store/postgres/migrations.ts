/**
 * What steps of the shared migrations (src/store/migrations.ts) add on PostgreSQL alone: functions
 * of the server's, for work SQLite's store does in its own code. Each runs in its step's transaction,
 * after the step's shared SQL. As with the shared steps, a step that has shipped is never edited: a
 * change is a new step (CREATE OR REPLACE, or a new name).
 */
import { SENDER_INDEX_BY_CASE } from '../migrations.ts';
import { DB_NOW_MS } from './clock.ts';

/** A delivery state's rank (sqlite-replies.ts, RANK): a report moves an SMS's state only forward. */
const rankOf = (state: string) =>
  `CASE ${state} WHEN 'queued' THEN 0 WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'failed' THEN 2 WHEN 'expired' THEN 2 END`;

/** The SMS `o` of `$2` (ids) joined to the reports that arrived before their send result, `d` (the orphans' index). */
const ORPHANS_OF_SMS = `JOIN delivery_reports d ON d.provider_id = o.provider_id AND d.number = o.number AND d.sms_id IS NULL
    WHERE o.id = ANY($2::bigint[])`;

/**
 * One version of the adoption's history lines: their `words` (SQL over the report `applied`'s columns
 * `code`, `state` and, with `readsSaid`, `said`). Step 15's did not select `said`, which schema 25 added.
 */
interface AdoptionWords {
  readonly words: string;
  readonly readsSaid: boolean;
}

/** Step 15's history words: the code alone. */
const STEP_15_WORDS: AdoptionWords = { words: "state || ' (provider status ' || code || ')'", readsSaid: false };
/** Step 27's: the provider's words when the report had them, as a report applied at once reads (rows.ts, reportDetail). */
const STEP_27_WORDS: AdoptionWords = { words: "state || ' (' || COALESCE(said, 'provider status ' || code) || ')'", readsSaid: true };

/**
 * The delivery reports that arrived before the send results of the SMS `$2` (ids), adopted at `$1`: as
 * SQLite applies them one by one in arrival order (sqlite-replies.ts, advance), each moves its SMS's
 * state only forward of the state before it, gets a history line when it does (in `words`), and the last
 * that does sets the state, its code and whether a notice is due (wantsNotice). Step 15's function
 * shipped with the code alone (STEP_15_WORDS): edit nothing else here, a change is a new step.
 */
const orphansAdopted = ({ words, readsSaid }: AdoptionWords) => {
  // The reports' said column where this version reads it: `d.said` from the table, then `said` from `found`.
  const said = (of = '') => (readsSaid ? `${of}said, ` : '');
  return `WITH found AS (
    SELECT d.id, d.code, d.state, ${said('d.')}o.id AS sms_id, o.message_id, o.notify, m.report_all, ${rankOf('d.state')} AS rank,
      COALESCE(${rankOf('o.delivery')}, -1) AS from_rank
    FROM outbound o JOIN messages m ON m.id = o.message_id
    ${ORPHANS_OF_SMS}
  ), applied AS (
    SELECT id, code, state, ${said()}sms_id, message_id, notify, report_all FROM (
      SELECT id, code, state, ${said()}sms_id, message_id, notify, report_all, rank > GREATEST(from_rank, COALESCE(max(rank) OVER (PARTITION BY sms_id ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), -1)) AS forward
      FROM found
    ) ordered WHERE forward
  ), adopted AS (
    UPDATE delivery_reports d SET sms_id = found.sms_id FROM found WHERE d.id = found.id
  ), advanced AS (
    UPDATE outbound o SET delivery = last.state, delivery_code = last.code, updated_at = $1,
      notice_due = CASE WHEN CASE last.state
        WHEN 'delivered' THEN last.report_all = 1 OR 'SUCCESS' = ANY(string_to_array(last.notify, ','))
        WHEN 'failed' THEN last.notify IS NULL OR 'FAILURE' = ANY(string_to_array(last.notify, ','))
        WHEN 'expired' THEN last.notify IS NULL OR 'FAILURE' = ANY(string_to_array(last.notify, ','))
        ELSE FALSE END THEN 1 ELSE 0 END
    FROM (SELECT DISTINCT ON (sms_id) sms_id, state, code, notify, report_all FROM applied ORDER BY sms_id, id DESC) last WHERE o.id = last.sms_id
  ), logged AS (
    INSERT INTO events (at, message_id, sms_id, kind, detail)
    SELECT $1, message_id, sms_id, 'delivery report', ${words} FROM applied ORDER BY id
  )`;
};

/** ORPHANS_ADOPTED as a statement of its own, answering how many it adopted: for tests of its plan and its result. */
export const SENT_ORPHANS = `${orphansAdopted(STEP_27_WORDS)}
  SELECT count(*)::int AS adopted FROM found`;

/** `smsrelay_adopt_orphans(at, ids)`, its history lines in `words`. */
const adoptionFunction = (
  words: AdoptionWords,
) => `CREATE OR REPLACE FUNCTION smsrelay_adopt_orphans(BIGINT, BIGINT[]) RETURNS INTEGER LANGUAGE plpgsql AS $adopt$
DECLARE adopted INTEGER;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM outbound o ${ORPHANS_OF_SMS}) THEN
    RETURN 0;
  END IF;
  ${orphansAdopted(words)}
  SELECT count(*)::int INTO adopted FROM found;
  RETURN adopted;
END
$adopt$`;

/**
 * Step 15: `smsrelay_adopt_orphans(at, ids)`, SENT_ORPHANS behind a look at the orphans' index. The
 * server initialises every part of a statement's plan at each execution, run or not: SENT_ORPHANS cost
 * 46–48 µs of its CPU per send result though it nearly always finds nothing (bench/statement-cpu.ts,
 * 2026-12-04); its own statement in the function runs only when a report came first, and the look
 * costs 17 µs. Without SENT_ORPHANS at all the server took 420–445 µs per mail where it took 475–498, and
 * the relay 1.5–6% more mails per second (driver, -l 800, three pairs): what the look spares most of. A function
 * and not a look from the relay: what the look finds would decide the group's next statement, a round
 * trip inside its transaction. Its statements take their snapshot after the report lock the send result's
 * statement took before it (ONE_SMS_SENT), as SENT_ORPHANS did as a statement of its own. Returns how
 * many reports it adopted.
 */
const ADOPTION_STEP = adoptionFunction(STEP_15_WORDS);

/**
 * Step 27: the same function, an adopted report's history line in the provider's words (schema 25's
 * `said`), so that a report that came before its send result reads as one that came after.
 */
const ADOPTION_WORDS_STEP = adoptionFunction(STEP_27_WORDS);

/** The statement that adopts the reports that came before the send results of the SMS `$2` (ids), at `$1` (steps 15 and 27). */
export const ADOPT_ORPHANS = 'SELECT smsrelay_adopt_orphans($1::bigint, $2::bigint[]) AS adopted';

/**
 * Step 35 on PostgreSQL: the table locked before its index is built. Building takes a lock that lets readers
 * on and dropping the old index one that lets nobody on; taken in that order, an older relay's accept (it reads
 * messages, then writes it, in one statement) waiting between them deadlocked the upgrade, again at each retry
 * (a reviewer's run, 1M mails). Locked first, the other relays' mail waits for the build instead: about 2–3 s
 * per million mails stored (docs/several-relays.md). The lock itself is waited for up to the upgrade's lock_timeout
 * (migrate.ts STEP_LOCK_TIMEOUT_MS): another session holding the table makes the step a retry, not every relay's stall.
 */
const SENDER_INDEX_STEP = `LOCK TABLE messages IN ACCESS EXCLUSIVE MODE; ${SENDER_INDEX_BY_CASE}`;

/**
 * Step 37 on PostgreSQL: the database's clock (DB_NOW_MS) at each mail's and each own mail's insert, by a default, so that
 * every relay's insert gets it, an older relay's in a rolling upgrade too; `queueStats` measures the queues' oldest age
 * from it on the same clock, where `received_at` and `created_at` are the accepting relay's clock, off by its offset.
 * Added without a default first: rows already stored keep none (NULL, read as their relay's stamp) rather than the
 * upgrade's time, and the table is not rewritten. Both tables locked first, in one order, as step 35's.
 */
const DATABASE_STAMP_STEP = `
  LOCK TABLE messages, mail_out IN ACCESS EXCLUSIVE MODE;
  ALTER TABLE messages ADD COLUMN db_received_at BIGINT;
  ALTER TABLE messages ALTER COLUMN db_received_at SET DEFAULT ${DB_NOW_MS};
  ALTER TABLE mail_out ADD COLUMN db_created_at BIGINT;
  ALTER TABLE mail_out ALTER COLUMN db_created_at SET DEFAULT ${DB_NOW_MS};
`;

/**
 * The columns step 37 adds on PostgreSQL alone, by table: stamps the database's clock makes at an insert, which a SQLite
 * store has no counterpart of. `store copy` leaves them empty in a copied row (copy.ts) and refuses a target with any other
 * column the source lacks: one it does not know it cannot fill right, and its default could be worse than NULL.
 */
export const DATABASE_STAMP_COLUMNS: Readonly<Record<string, readonly string[]>> = {
  messages: ['db_received_at'],
  mail_out: ['db_created_at'],
};

/**
 * Step 38 on PostgreSQL: the index by Message-ID, time and id in place of the one by Message-ID alone. The index by
 * fingerprint (step 2's) stays, and every relay still writes the fingerprint: an older relay of a rolling upgrade looks
 * a resubmission up by it, and without it would read every mail of the window. The first step that may drop it is
 * the first breaking one after 38 (schema-readers.ts, BREAKING_MIGRATIONS), which no relay older than 38 runs beside.
 * Locked first, as step 35's; no mail is rewritten, so the lock is held for the index's build alone.
 */
const MESSAGE_ID_STEP = `
  LOCK TABLE messages IN ACCESS EXCLUSIVE MODE;
  CREATE INDEX messages_message_id ON messages (message_id_header, received_at, id) WHERE message_id_header IS NOT NULL;
  DROP INDEX messages_message_id_header;
`;

/** By step number: what the step adds on PostgreSQL. */
export const POSTGRES_STEPS: ReadonlyMap<number, string> = new Map([
  [15, ADOPTION_STEP],
  [27, ADOPTION_WORDS_STEP],
  [35, SENDER_INDEX_STEP],
  [37, DATABASE_STAMP_STEP],
  [38, MESSAGE_ID_STEP],
]);
