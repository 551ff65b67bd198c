import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { RelayError } from '../../errors.ts';
import { PROBE_INTERVAL_MS, WRITE_PROBE_BYTES } from '../group-commit.ts';
import { NOT_PAUSED, PostgresReads } from './reads.ts';
import { addsOptOut, NotOptedOut } from '../not-opted-out.ts';
import { SilenceWatch } from './silence-watch.ts';
import { ADOPT_ORPHANS } from './migrations.ts';
import {
  asStoreError,
  type BouncedMailRow,
  bouncedReply,
  replyMailbox,
  replyMailOfReturnPathSql,
  storeFailureCode,
  inboundFinished,
  REPLY_BOUNCE_WINDOW_MS,
  REPLIES_OF_NUMBER,
  PARTS_FINISHED,
  type ClaimedSmsRow,
  type MailRow,
  groupIntoBatches,
  type MessageRow,
  RESUMED_DETAIL,
  MAIL_RESUMED,
  MAIL_RESUMED_DETAIL,
  MAIL_TAKEN_OVER,
  TAKEN_OVER,
  LATE_ANSWER,
  lateAnswerDetail,
  mailHeldBy,
  mailOutcomeLine,
  sentDetail,
  attemptDetail,
  withoutLateReports,
  queuedMailErrorsSql,
  toQueuedMailError,
  takenOverDetail,
  takenOverFrom,
  leaseExpired,
  STOPPED_IN_FLIGHT,
  toStoredMessage,
  toClaimedMail,
  CLAIM_AT,
  NEVER_TRIED,
  NEVER_TRIED_HEAD_START_MS,
  type ReplyOfNumberRow,
  queueTarget,
  type LeasedRow,
  dueLeftSql,
  leasedLeftSql,
  notBeingSent,
  CUT_OFF_ATTEMPT_COUNTED,
  queueTargetSql,
  toLeasedSms,
  toReceivedReply,
  toClaimedSms,
  waitsForSendAt,
  reportDetail,
  sentByReportDetail,
  sentByReportInFlightDetail,
  latestSmsTo,
  toLatestSms,
  countedByProvider,
  quarantineColumn,
  ONE_DUPLICATE_TAKEN_BACK,
} from '../rows.ts';
import {
  type ConversationRow,
  THREAD_FIELD_CHARS,
  isForward,
  type OutboundForReport,
  REPORT_CONFLICT,
  REPORT_TARGET_ORDER,
  SENT_AT,
  advancedOf,
  saysMore,
  toConversation,
  toRecipient,
  toUndeliverable,
  UNDELIVERABLE_COLUMNS,
  type UndeliverableRow,
  wantsNotice,
} from '../sqlite-replies.ts';
import type {
  BouncedReply,
  ClaimedSms,
  ClaimedMail,
  ClaimRequest,
  CommitStats,
  Conversation,
  DeliveryReportResult,
  DueNotice,
  LatestSms,
  MailOutcome,
  MailOutcomeRecorded,
  NewDeliveryReport,
  InboundPosition,
  NewInbound,
  NewMail,
  NewOutgoingMail,
  NoticeGroup,
  ReroutedConversation,
  QuarantinedRequest,
  QuarantinedBody,
  QuarantineDeletion,
  QuarantineEntry,
  QuarantineSpan,
  QueueAction,
  QueueActionDone,
  QueueTarget,
  QueuedMailError,
  QueuedSms,
  QueueStats,
  ReceivedReply,
  SmsBatch,
  SmsClaimRequest,
  StaleMail,
  SmsOutcome,
  SmsState,
  Store,
  StoredEvent,
  StoreHealth,
  StoredMessage,
  UndeliverableInbound,
} from '../types.ts';
import { type AcceptOptions, DELETED_BY_OPERATOR, FAILED_OVER, OPERATOR } from '../types.ts';
import type { DeliveryState } from '../../vocabulary.ts';
import type { NewSmsPart, PartAdded, PartSet } from '../reassembly.ts';
import { ClusterError, type ClusterStore, type HeldLeases, type RelayMember, type RelaySeen } from '../cluster-types.ts';
import type { Logger } from '../../log.ts';
import { acceptStatement, conversationUsedAt, foldedStatements, refusedStatements, resubmissionLocks, unlessResubmitted } from './accept.ts';
import { DB_NOW_MS } from './clock.ts';
import { rescheduleBeyond } from './clock-step.ts';
import type { LongestWaits, Rescheduled } from '../clock-step-types.ts';
import { clockOffset, heartbeatStatements, leaveCluster, relaysSeen, relaysSeenAsItIs } from './cluster.ts';
import { LockWaitError, migrate, NoStoreError, SchemaError, STATEMENT_TIMEOUT } from './migrate.ts';
import { type Migrated, MigrationError, OlderSchemaError } from '../migrations.ts';
import type { Statement } from './batch.ts';
import { GroupWriter, KeysBusy, type Work } from './group-writer.ts';
import { keyLockStatement } from './key-lock.ts';
import { type Notice, WakeSender, WorkListener, type WorkQueue } from './notify.ts';
import { prepareStatements } from './prepared.ts';
import { addPart, expirePartSets, overduePartSets } from './reassembly.ts';
import { KEYS, TurnReads } from './turn-reads.ts';
import type { PauseChange, ProbeClaim, RateLimitSettings, RateTaken, SharedGatewayState } from '../shared-state-types.ts';
import * as shared from './shared-state.ts';
import { databaseUrl, POOL_MAX_CONNECTIONS, redactUrl } from './url.ts';
import type { PartReceipt, PartReceiptResult, PartsOfSms, SentParts } from '../part-receipts-types.ts';
import * as sentParts from './part-receipts.ts';

/** PostgreSQL's int8 (ids, counts, ms timestamps) as a JS number: every value we store is far below 2^53. */
const INT8_OID = 20;
/** How every connection of the store reads values: int8 as a number (INT8_OID), the rest as pg does. */
const TYPES = { getTypeParser: (oid: number, format?: 'text' | 'binary') => (oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format)) };
/** Reconnecting at start: first wait, and the most it grows to (doubling). */
const CONNECT_RETRY_MIN_MS = 1_000;
const CONNECT_RETRY_MAX_MS = 30_000;

/** The longest /readyz waits for a write probe: load balancers give up on a health check after 2–5 s. */
const READY_PROBE_WAIT_MS = 1_000;
/**
 * The write probe's row (probeWrites, #startProbe): WRITE_PROBE_BYTES of text that PostgreSQL cannot compress (random
 * bytes in base64: `repeat('x', …)` compresses to a few bytes), stored out of line in `control`'s TOAST
 * table, and deleted in the same transaction. On a full disk what fails first is a relation that must grow
 * ("could not extend file", 53100: the WAL's segments are written ahead and recycled), and a dead probe's
 * pages are reused only after a vacuum, which gives the emptied pages back: so each probe needs new pages,
 * as a large mail does, and commits a WAL record of a mail's size. A tiny row fitted in `control`'s one page
 * on a full disk (/readyz flipped to ready every other second while every mail was refused).
 */
const WRITE_PROBE_INSERT = "INSERT INTO control (key, value) VALUES ('write_probe', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value";
const WRITE_PROBE_DELETE: Statement = { text: "DELETE FROM control WHERE key = 'write_probe'", values: [] };
/** The store's health from a connect until the write probe commits (#proveWrites). */
const WRITES_UNPROVEN: StoreHealth = {
  state: 'failing',
  reason: 'connected to PostgreSQL; writes not proven yet (the write probe has not committed)',
  code: 'STORE_UNAVAILABLE',
};
/**
 * How long a "not opted out" answer is trusted without news (#notOptedOut): another relay's STOP is
 * heard at once, unless its notification was lost with that relay between its commit and the notice;
 * then a regular recipient's check asks the database again within this.
 */
const NOT_OPTED_OUT_TRUSTED_MS = 30_000;

/**
 * A conversation's columns by name: a text with `*` in its result runs unnamed (prepared.ts), parsed and
 * planned at every call, and the route's look-up runs for every received SMS (71 µs of planning per SMS
 * in the MO driver, 2026-12-03).
 */
const CONVERSATION_COLUMNS = `context, number, mailbox, subject, message_id_header, last_used_at,
  (SELECT message_id_header FROM messages WHERE id = conversations.message_id) AS latest_message_id_header,
  (SELECT substr(headers, strpos(lower(headers), chr(10) || 'thread-index:'), ${THREAD_FIELD_CHARS}) FROM messages WHERE id = conversations.message_id)
    AS latest_thread_field`;
/** A conversation by its context and number (exported, with LATEST_CONVERSATION, for a test that both run named). */
export const CONVERSATION = `SELECT ${CONVERSATION_COLUMNS} FROM conversations WHERE context = $1 AND number = $2`;
/** The number's conversation used last within `$2` ms of the database's now. */
export const LATEST_CONVERSATION = `SELECT ${CONVERSATION_COLUMNS} FROM conversations WHERE number = $1 AND last_used_at >= ${DB_NOW_MS} - $2
  ORDER BY last_used_at DESC, created_at DESC LIMIT 1`;

/**
 * SQLSTATEs that no retry fixes: wrong password or user (28P01, 28000), no such database (3D000),
 * no permission to connect or to create our tables (42501).
 */
const CONFIG_SQLSTATES = new Set(['28P01', '28000', '3D000', '42501']);

/** The database refuses this relay for good (bad credentials, no such database, another application's, no TLS where sslmode asks for it): a config error, exit 78. */
export class StoreConfigError extends Error {}

export interface PostgresStoreOptions {
  readonly url: string;
  /** After the schema is current and before the store reports ok: the relay's start-up work (its stale leases). */
  readonly onConnected?: (store: PostgresStore) => Promise<void>;
  /** Creates the schema in an empty database (the relay); false: NoStoreError instead (the operator's commands). */
  readonly create?: boolean;
  /**
   * A connect is ok only once the write probe commits (#proveWrites): the relay, whose readiness and 250s
   * depend on it. Off for the operator's commands (status, log, queue, quarantine, config check, preview),
   * which answer by what they read or write themselves: a 64 KB probe at each run would be work for nothing.
   */
  readonly proveWrites?: boolean;
  /** This process's tag in the notifications its writes send (see notify.ts); none by default. */
  readonly wakeTag?: string;
  /** Told, once the schema is current, what it was at before (the relay logs an upgrade). */
  readonly onMigrated?: (migrated: Migrated) => void;
  /**
   * Before the migration, on the database as it is: the relay's refusals that read only the `relays`
   * rows (a ClusterError), so that a start refused for them leaves the schema as it was.
   */
  readonly admit?: (relays: Pick<ClusterStore, 'relaysSeen'>) => Promise<unknown>;
  /**
   * A refusal of the start (startRefusal) met only by a connect after the first, the database having been
   * unreachable at start: the store stops trying, and the relay refuses as a start that met it would.
   */
  readonly onRefused?: (refusal: Error) => void;
  /**
   * A connect that failed for a reason a retry cures (startWait): what the store waits for before it tries
   * again, told once per reason however the reasons alternate, at the first connect and at each retry alike;
   * never for an unreachable database, whose outage the health tells.
   */
  readonly onWaiting?: (waitingFor: string, reason: string) => void;
}

type Client = pg.PoolClient;

/** Whether a write's COMMIT waits for the WAL flush (GroupWriter.run). */
type Durability = { readonly synced: boolean };
/** A write someone is answered on (a 250, a webhook's 200) or that queues a message: its COMMIT waits for the flush. */
const PROMISED: Durability = { synced: true };
/**
 * A write nobody was promised anything on, as on SQLite (sqlite.ts, UNPROMISED): a claim's lease, an
 * outcome saying the next hop took the message with nothing queued on it. A crash of the server can
 * cost such a write, and with it the SMS or mail is sent again; never a message lost.
 */
const UNPROMISED: Durability = { synced: false };

/**
 * The store on PostgreSQL, behind the same contract as SQLite's, on the same tables and columns.
 * Writes are group-committed (group-writer.ts): those that arrive while a commit is in flight share
 * the next transaction, and each resolves only after that COMMIT returned (durable as the server's
 * `synchronous_commit` makes it; `config check` shows it). Statements are prepared (prepared.ts). Claims lock the
 * due rows with `FOR UPDATE SKIP LOCKED`, so relays sharing the database never claim one job twice,
 * and no transaction is ever open across a gateway request. Unreachable at start, the store is not
 * ready (every call fails with STORE_UNAVAILABLE: SMTP 451, webhooks 503) and connects in the
 * background with backoff; a connection lost later fails the calls meanwhile and heals by itself.
 */
/**
 * When a queued row is due: `next_attempt_at` holds either a relay's schedule (a retry, by the
 * relay's injected clock, `$1`) or, while the row is leased, the lease's end by the database's clock
 * (`delivery.leaseTtl`, renewed by the heartbeat). A lease is judged by the database's clock only, so
 * a relay whose clock runs ahead never takes a live lease from another.
 */
const DUE = `(CASE WHEN lease_owner IS NULL THEN next_attempt_at <= $1 ELSE next_attempt_at <= ${DB_NOW_MS} END)`;
/**
 * A leased row's lease has ended, by the database's clock as DUE judges it, in a form the
 * `(next_attempt_at, id)` index can stop at (DUE, a CASE on the clock that is read anew per row, cannot):
 * without it a claim read every queued row to find that none is due, say 10,000 retries waiting for a
 * gateway to come back, at every claim. `statement_timestamp()` is at most the per-row
 * `clock_timestamp()`: a lease that ended within this statement waits for the next claim.
 */
const LEASE_ENDED = 'next_attempt_at <= (extract(epoch from statement_timestamp()) * 1000)::bigint';
/**
 * The advisory-lock class (the text "smdr") that orders a delivery report with its SMS's send result.
 * Without it a report could miss its SMS for good: it finds no SMS with its provider id while the
 * result is not committed yet and is kept as an orphan, and the result's transaction, which adopts
 * the orphans it finds, had looked before the report committed (group commits run side by side,
 * so that window is a commit long). The key is the provider id and number, hashed.
 */
export const REPORT_LOCK_CLASS = 0x736d6472;
const reportLockKey = (providerId: string, number: string) => `hashtext(${providerId} || ' ' || ${number})`;
/**
 * The lock of one number's opt-out, taken by a START (acceptInbound) and a provider's opt-out (recordOptOut) before
 * their statements: without it a START committing while another relay's opt-out ran left the number opted out (the
 * opt-out read no START yet, and the START's delete had not seen the opt-out's row). Ordered, each statement's
 * snapshot is taken after the other's commit. A STOP needs none: two opt-outs keep the first either way.
 */
export const optOutLock = (number: string): Statement => keyLockStatement('opt_outs', number);
/**
 * The order a claim takes due SMS in: those whose lease ended first (their relay died, or lost the store,
 * with them in flight), then the others by CLAIM_AT (rows.ts: a never-tried SMS ahead of the retries due
 * less than NEVER_TRIED_HEAD_START_MS before it). A leased row's next_attempt_at holds its lease's end, so
 * in due order alone such work waited behind everything due before its lease ended, the whole backlog,
 * where docs/several-relays.md promises it within `delivery.leaseTtl` plus a poll. The relay's own mail
 * is taken alike, by due time alone. `claim_at`: a candidate's CLAIM_AT (its due time for an ended lease).
 */
const CLAIM_ORDER = 'lease_owner IS NULL, claim_at, id';
/**
 * The first `limit` queued rows of `table` due at `$1` (the relay's clock) that also match `where`, in
 * claim order, each with the relay whose lease ended (`lease_owner`), rows locked by `lock`: the ended
 * leases through their index (outbound_lease_end, mail_out_lease_end: nearly always empty), then the rows
 * nobody leased (`waiting`; by default through the due index, in due order), each read only as far as the
 * `limit` it may take (a subquery each: a locking clause may not stand in a UNION's branch). The branches
 * come out in the order written: a statement that writes never runs a parallel plan, the only one whose
 * Append mixes them. `claimAt`: when given, each row's `claim_at` too, this in the ended branch (a `waiting` gives its own).
 */
const endedLeasesFirst = (
  table: 'outbound' | 'mail_out',
  columns: string,
  where: string,
  limit: string,
  lock: string,
  { claimAt, waiting = `SELECT ${columns} FROM (${dueUnleased(table, columns, where, limit, lock)}) waiting` }: { claimAt?: string; waiting?: string } = {},
) => `SELECT ${claimAt === undefined ? columns : `${columns}, claim_at`} FROM (
    SELECT ${claimAt === undefined ? columns : `${columns}, ${claimAt} AS claim_at`} FROM (SELECT ${columns} FROM ${table}
      WHERE status = 'queued' AND lease_owner IS NOT NULL AND ${LEASE_ENDED}${where}
      ORDER BY next_attempt_at, id LIMIT ${limit} ${lock}) ended
    UNION ALL
    ${waiting}
  ) candidates`;
/** The first `limit` queued rows of `table` that are `unleased`, due at `$1` and match `where`, in due order, locked by `lock`. */
const dueUnleased = (table: 'outbound' | 'mail_out', columns: string, where: string, limit: string, lock: string, unleased = 'lease_owner IS NULL') =>
  `SELECT ${columns} FROM ${table} WHERE status = 'queued' AND ${unleased} AND next_attempt_at <= $1${where} ORDER BY next_attempt_at, id LIMIT ${limit} ${lock}`;
const SMS_COLUMNS = 'id, message_id, next_attempt_at, lease_owner';
/** Not among the SMS the claiming relay has in flight (`$7`, SmsClaimRequest.inFlight): it never sends one twice at once. */
const NOT_IN_FLIGHT = 'id <> ALL($7::bigint[])';
/**
 * The SMS nobody leased that a claim chooses from, not held, locked by `lock`: the first `$2` by
 * CLAIM_AT, from the first `$2` never-tried (through their own index, outbound_never_tried) and the
 * retries among the first `$2` of all (through the due index): those hold every retry among the first
 * `$2` by CLAIM_AT, since whatever is due before a retry comes before it. Each index is read `$2` rows at
 * most, whatever the backlog behind them.
 */
const smsWaiting = (lock: string) => `(SELECT ${SMS_COLUMNS}, claim_at FROM (
      SELECT ${SMS_COLUMNS}, next_attempt_at - ${NEVER_TRIED_HEAD_START_MS} AS claim_at
      FROM (${dueUnleased('outbound', SMS_COLUMNS, ` AND held = 0 AND ${NOT_IN_FLIGHT}`, '$2', lock, NEVER_TRIED)}) never_tried
      UNION ALL
      SELECT ${SMS_COLUMNS}, next_attempt_at FROM (${dueUnleased('outbound', `${SMS_COLUMNS}, attempts, last_error`, ` AND held = 0 AND ${NOT_IN_FLIGHT}`, '$2', lock)}) waiting
      WHERE NOT (${NEVER_TRIED})
    ) unleased ORDER BY claim_at, id LIMIT $2)`;
/**
 * The first `$2` SMS due at `$1`, not held, that a claim chooses from, in CLAIM_ORDER (endedLeasesFirst,
 * smsWaiting), with their `claim_at`, rows locked by `lock`. Not paused is checked once, before both branches.
 */
const smsCandidates = (lock: string) =>
  `${endedLeasesFirst('outbound', SMS_COLUMNS, ` AND held = 0 AND ${NOT_IN_FLIGHT}`, '$2', lock, { claimAt: 'next_attempt_at', waiting: smsWaiting(lock) })} WHERE ${NOT_PAUSED} LIMIT $2`;
/** The candidates of SMS_CLAIM, unlocked. Exported for tests of its plan. */
export const SMS_CANDIDATES = smsCandidates('');

/** What a sent SMS's row becomes (at `$1`), with its provider's ids from `providerId` and `trackingId` (SQL): SMS_SENT and ONE_SMS_SENT. */
const sentColumns = (providerId: string, trackingId: string) =>
  `status = 'sent', provider_id = ${providerId}, tracking_id = ${trackingId}, attempts = attempts + 1, lease_owner = NULL, last_error = NULL, updated_at = $1`;

/**
 * An outcome is the SMS's only when the relay recording it (`$6`, SQL; null: any) holds its lease
 * (Store.recordSmsOutcomes): the statement's row waits for a claim taking it over and then reads its owner again.
 */
const heldBy = (owner: string) => `(${owner}::text IS NULL OR o.lease_owner = ${owner})`;
const HELD_BY_6 = heldBy('$6');

/**
 * In a retry's or a failure's statement (rare: the sent outcome has SENT_LATE instead), the history lines
 * of the outcomes in `answers` (a FROM item `t` with `id` and `detail`, `count` of them) that the
 * statement's `done` did not record, by relay `owner` (SQL): their SMS's lease is another relay's. A
 * SELECT to go UNION ALL with the recorded outcomes' lines into one insert (PostgreSQL opens a
 * data-modifying CTE's table and indexes at every execution, lines or none); its first condition is a
 * one-time filter, so when `done` recorded every outcome the join does not run. `outbound` here is the
 * statement's snapshot, before `done`.
 */
const lateLines = (answers: string, count: string, owner: string) =>
  `SELECT $1, o.message_id, o.id, '${LATE_ANSWER}', ${lateAnswerDetail(owner, 't.detail')} FROM ${answers} JOIN outbound o ON o.id = t.id
    WHERE (SELECT COUNT(*) FROM done) < ${count} AND o.id NOT IN (SELECT id FROM done)`;

/**
 * SMS sent (`$2` ids, `$3` provider ids, `$4` tracking ids, `$5` history details, at `$1`, by `$6`): each row
 * marked sent with its history line, and its report lock (REPORT_LOCK_CLASS) taken; answers the ids
 * it recorded (those whose lease `$6` holds: SENT_LATE writes the others' lines). Exported, with
 * the adoption of the reports that came before (ADOPT_ORPHANS), for a test of its plan.
 */
export const SMS_SENT = `WITH done AS (
    UPDATE outbound o SET ${sentColumns('t.provider_id', 't.tracking_id')}
    FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[]) AS t(id, provider_id, tracking_id, detail)
    WHERE o.id = t.id AND ${HELD_BY_6} RETURNING o.id, o.message_id, o.provider_id, o.number, t.detail
  ), logged AS (
    INSERT INTO events (at, message_id, sms_id, kind, detail) SELECT $1, message_id, id, 'sent', detail FROM done ORDER BY id
  )
  SELECT ids, pg_advisory_xact_lock(${REPORT_LOCK_CLASS}, key) FROM (
    SELECT ${reportLockKey('provider_id', 'number')} AS key, array_agg(id) AS ids FROM done GROUP BY key ORDER BY key
  ) keys`;

/**
 * SMS_SENT for one SMS (`$2` id, `$3` provider id, `$4` tracking id, `$5` history detail, at `$1`, by `$6`), the
 * usual outcome (a batch is one mail's SMS): a row found by its key instead of joined to four unnested
 * arrays, and one lock without the sort of its keys, costs the server 85–89 µs per execution where
 * SMS_SENT costs 103–106 (bench/statement-cpu.ts, 2026-12-04). Exported for a test of its plan.
 */
export const ONE_SMS_SENT = `WITH done AS (
    UPDATE outbound o SET ${sentColumns('$3', '$4')}
    WHERE o.id = $2 AND ${HELD_BY_6} RETURNING o.id, o.message_id, o.provider_id, o.number
  ), logged AS (
    INSERT INTO events (at, message_id, sms_id, kind, detail) SELECT $1, message_id, id, 'sent', $5 FROM done
  )
  SELECT ARRAY[id] AS ids, pg_advisory_xact_lock(${REPORT_LOCK_CLASS}, ${reportLockKey('provider_id', 'number')}) FROM done`;

/**
 * The SMS (`$1` ids) the gateway recognised as resends and sent nothing for this time (SmsOutcome's
 * recognisedResend), whose lease `$2` holds: an earlier attempt at that provider sent each, so one possible
 * duplicate fewer (only one: the others may be another provider's attempts or a taken-over lease's).
 * Rare: only a resend after a lost answer, to a provider that recognises it, has it.
 */
const RESENDS_RECOGNISED = `UPDATE outbound o SET ${ONE_DUPLICATE_TAKEN_BACK} WHERE o.id = ANY($1::bigint[]) AND ${heldBy('$2')}`;

/**
 * The requests that failed over before an outcome (`$2` SMS ids, `$3` details in order, at `$1`, by `$4`, `$5` 1 for a
 * possible duplicate: SmsOutcome's FailedOver): each an attempt of its SMS and a history line, for the SMS whose lease `$4`
 * holds (another relay's lease: the outcome's late line says what this relay found). Rare: only a
 * round that failed over has it.
 */
const FAILED_OVER_LINES = `WITH t AS (SELECT * FROM unnest($2::bigint[], $3::text[], $5::int[]) WITH ORDINALITY AS t(id, detail, duplicate, n)
  ), counted AS (
    UPDATE outbound o SET attempts = o.attempts + c.requests, possible_duplicates = o.possible_duplicates + c.duplicates
    FROM (SELECT id, count(*)::int AS requests, sum(duplicate)::int AS duplicates FROM t GROUP BY id) c
    WHERE o.id = c.id AND ${heldBy('$4')} RETURNING o.id, o.message_id
  )
  INSERT INTO events (at, message_id, sms_id, kind, detail)
  SELECT $1, counted.message_id, counted.id, '${FAILED_OVER}', t.detail FROM t JOIN counted ON counted.id = t.id ORDER BY t.n`;

/**
 * What a retry's or a failure's insert of history lines answers: the SMS of each late answer's line (null
 * for the others), so that the caller learns which outcomes were another relay's (Store.recordSmsOutcomes).
 */
const LATE_IDS = `RETURNING CASE WHEN kind = '${LATE_ANSWER}' THEN sms_id END AS late`;

/**
 * Retries (`$2` ids, `$3` next attempts, `$4` errors, `$5` 1 for an attempt, `$6` 1 for a possible duplicate, `$8` history
 * details, at `$1`, by `$7`), each queued again with its `deferred` line, but one a report named while its attempt was in
 * flight (REPORTED_IN_FLIGHT: a queued SMS has no gateway id otherwise), which is sent with the report's proof, its
 * possible duplicate taken back (sqlite.ts's smsSentByReport): RETRIED_ORPHANS adopts its reports. Decided on the row as
 * the update finds it, after a report committed meanwhile by another relay (its lock, REPORTED_SMS). `reported`: only
 * such a row's error is cleared (a retry's error is never null), as RETURNING reads the row after the update.
 */
const REPORTED = `(o.status = 'queued' AND COALESCE(o.provider_id, '') <> '')`;
const RETRIED = `WITH done AS (
    UPDATE outbound o SET status = CASE WHEN ${REPORTED} THEN 'sent' ELSE o.status END, next_attempt_at = t.next_attempt_at,
      last_error = CASE WHEN ${REPORTED} THEN NULL ELSE t.error END, attempts = o.attempts + t.attempted,
      possible_duplicates = CASE WHEN ${REPORTED} THEN GREATEST(o.possible_duplicates + t.duplicate - 1, 0) ELSE o.possible_duplicates + t.duplicate END,
      lease_owner = NULL, updated_at = $1
    FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::int[], $6::int[], $8::text[]) AS t(id, next_attempt_at, error, attempted, duplicate, detail)
    WHERE o.id = t.id AND ${heldBy('$7')} RETURNING o.id, o.message_id, o.last_error IS NULL AS reported, o.provider_id, t.error, t.detail
  )
  INSERT INTO events (at, message_id, sms_id, kind, detail)
  SELECT $1, message_id, id, CASE WHEN reported THEN 'sent' ELSE 'deferred' END,
    CASE WHEN reported THEN ${sentByReportInFlightDetail('provider_id', 'error')} ELSE detail END FROM done
  UNION ALL ${lateLines('unnest($2::bigint[], $8::text[]) AS t(id, detail)', 'cardinality($2::bigint[])', '$7::text')} ORDER BY id
  ${LATE_IDS}`;

/**
 * The reports adopted by the retries' SMS (`$2` ids, at `$1`) that RETRIED recorded as sent. Sent by another relay
 * (a late answer's SMS) each adopted its own at its send result: nothing is left to adopt.
 */
const RETRIED_ORPHANS = `SELECT smsrelay_adopt_orphans($1::bigint, ARRAY(SELECT id FROM outbound WHERE id = ANY($2::bigint[]) AND status = 'sent')) AS adopted`;

/**
 * The history lines of sent outcomes that came late (`$2` ids, `$4` what each would have recorded, by
 * relay `$3`, at `$1`): their SMS's lease is another relay's. Not in SMS_SENT itself, where PostgreSQL
 * would open the join's relations at every execution for a case that almost never comes (12–15 µs of
 * the server's CPU per mail, bench/statement-cpu.ts, 2026-12-05): written after it, when its answer
 * says which it did not record. A crash in between loses only these lines, which change nothing.
 */
const SENT_LATE = `INSERT INTO events (at, message_id, sms_id, kind, detail)
  SELECT $1, o.message_id, o.id, '${LATE_ANSWER}', ${lateAnswerDetail('$3::text', 't.detail')}
  FROM unnest($2::bigint[], $4::text[]) AS t(id, detail) JOIN outbound o ON o.id = t.id ORDER BY o.id`;

type SentOutcome = Extract<SmsOutcome, { kind: 'sent' }>;

/**
 * The statements of sent outcomes with their history details (`details`, sentDetail, in order; at `now`, by
 * `by`): SMS_SENT (ONE_SMS_SENT for one), whose answer is the ids it recorded, then the adoption of the reports
 * that came before them (ADOPT_ORPHANS). Each SMS's report lock (REPORT_LOCK) is taken with its result, and
 * the reports that arrived before it are adopted in the next statement: after any report that could not see
 * this result yet has committed.
 */
function sentStatements(now: number, sent: readonly SentOutcome[], details: readonly string[], by: string | null): Statement[] {
  const ids = sent.map((outcome) => outcome.smsId);
  const [one] = sent;
  return [
    sent.length === 1 && one
      ? { text: ONE_SMS_SENT, values: [now, one.smsId, one.providerId, one.trackingId ?? null, details[0], by] }
      : { text: SMS_SENT, values: [now, ids, sent.map((outcome) => outcome.providerId), sent.map((outcome) => outcome.trackingId ?? null), details, by] },
    { text: ADOPT_ORPHANS, values: [now, ids] },
  ];
}

/** The history lines (SENT_LATE, at `now`) of sent outcomes that came late to `owner`'s lease; none without such outcomes. */
const sentLateLines = (now: number, late: readonly SentOutcome[], owner: string | undefined): Statement | undefined =>
  late.length === 0 ? undefined : { text: SENT_LATE, values: [now, late.map((outcome) => outcome.smsId), owner, late.map(sentDetail)] };

/** The ids SMS_SENT (or ONE_SMS_SENT) recorded, from its result. */
const sentRecorded = (result: pg.QueryResult | undefined): Set<number> =>
  new Set((result?.rows ?? []).flatMap((row: { ids: unknown[] }) => row.ids.map(Number)));

/**
 * A relay's sent outcomes gathered while they wait for a group (PostgresStore's recordSmsOutcomes): written
 * as one write, one SMS_SENT for all and one adoption, made when the group opens.
 */
interface SentGathering {
  readonly outcomes: SentOutcome[];
  /** Their history details (sentDetail), made once as each came. */
  readonly details: string[];
  /**
   * Their SMS, and those of the outcomes recorded since it was queued (#recordOutcomes): a later outcome for one
   * of them gathers apart, after those, so each is recorded (or late) in the order the calls came, as if alone.
   */
  readonly ids: Set<number>;
  /** The calls gathered. */
  calls: number;
  /** Its statements are made (its group opened) or it settled: outcomes coming now gather anew. */
  closed: boolean;
  /** The ids SMS_SENT recorded, once committed. */
  recorded: Promise<ReadonlySet<number>>;
}

/**
 * A delivery report kept (`$1`–`$7`: provider, provider id, number, code, state, received at, its SMS or
 * null; `$11`: the provider's words or null) and, unless it is a repeat, applied to its SMS
 * when it moves the state forward (`$8`, decided from the SMS's row read before under its lock:
 * sqlite-replies.ts, isForward) with whether a notice is due (`$9`, wantsNotice) and its history line
 * (`$10`), which a report of the SMS's state in other words gets too (`$12`, saysMore): one round trip
 * after that read, where the insert, the state's update and the history line were one each, holding the
 * group's connection and the writes grouped with the report for each.
 */
/**
 * An SMS waiting to be sent again recorded as sent by its delivery report (`$1` its id, `$2` the report's
 * id, at `$3`, history `$4`, `$5` the report's tracking id unless it has one).
 */
const SENT_BY_REPORT = `WITH sent AS (
    UPDATE outbound SET status = 'sent', provider_id = $2, tracking_id = COALESCE(tracking_id, $5), last_error = NULL, updated_at = $3,
      ${ONE_DUPLICATE_TAKEN_BACK}
    WHERE id = $1 RETURNING id, message_id
  )
  INSERT INTO events (at, message_id, sms_id, kind, detail) SELECT $3, message_id, id, 'sent', $4 FROM sent`;

/**
 * An SMS in flight named by a report (`$1` its id, `$2` the report's id, `$3` its tracking id unless it has one): as
 * sqlite-replies.ts's reportedInFlight, its attempt's outcome reads the id as the proof the gateway took it (RETRIED).
 */
const REPORTED_IN_FLIGHT = `UPDATE outbound SET provider_id = $2, tracking_id = COALESCE(tracking_id, $3)
  WHERE id = $1 AND status = 'queued' AND COALESCE(provider_id, '') = ''`;

const REPORT_KEPT = `WITH kept AS (
    INSERT INTO delivery_reports (provider, provider_id, number, code, state, said, received_at, sms_id)
    VALUES ($1, $2, $3, $4, $5, $11, $6, $7) ${REPORT_CONFLICT} RETURNING id
  ), advanced AS (
    UPDATE outbound SET delivery = $5, delivery_code = $4, notice_due = $9, updated_at = $6
    WHERE id = $7 AND $8 AND EXISTS (SELECT 1 FROM kept) RETURNING id, message_id
  ), logged AS (
    INSERT INTO events (at, message_id, sms_id, kind, detail)
    SELECT $6, message_id, id, 'delivery report', $10 FROM outbound WHERE id = $7 AND ($8 OR $12) AND EXISTS (SELECT 1 FROM kept)
  )
  SELECT (SELECT count(*) FROM kept)::int AS kept, (SELECT count(*) FROM advanced)::int AS advanced`;

/**
 * The columns of a leased SMS's mail that the dispatcher reads (a StoredMessage), each its own result
 * column: the whole row as one JSON value (`to_jsonb(m)`) cost the server its build and text output
 * and the relay its parse, for columns no one reads.
 */
const LEASED_MESSAGE_COLUMNS = [
  'received_at',
  'envelope_from',
  'client_address',
  'client_helo',
  'message_id_header',
  'subject',
  'headers',
  'text',
  'encoding',
  'parts',
  'max_parts',
  'sender_id',
  'user_context',
  'dsn_ret',
  'dsn_envid',
  'report_all',
  'send_at',
  'gateway_account',
] as const satisfies ReadonlyArray<keyof MessageRow>;

/**
 * Of a claim's chosen row `c` of `o`, a lease that ended (another relay's, `was`, or the claimant's own) on an SMS a
 * report named while that lease's attempt was in flight (REPORTED_IN_FLIGHT: a queued SMS has no gateway id otherwise):
 * an attempt reached the gateway.
 */
const CLAIMED_REPORTED = `(o.lease_owner IS NOT NULL AND COALESCE(o.provider_id, '') <> '')`;

/**
 * The lease of the SMS a claim chose (`c`: their ids, due times and the other relay whose lease ended, `was`,
 * takenOverFrom; `decided` says whether it chose): leased to `$5` for `$6` ms by the database's clock, and returned
 * with their mails' columns. One another relay still leased had its lease end with no outcome: that relay's attempt
 * may have reached the gateway, so it counts as an attempt and a possible duplicate, with a history
 * line (takenOverDetail). But one a report named while a lease's attempt was in flight (CLAIMED_REPORTED) is recorded
 * sent by the report instead, as that attempt's outcome would have (RETRIED), whoever held the lease: another relay's
 * attempt counted, one possible duplicate taken back (the claimant's own lease was a claim whose answer was lost, which
 * sent nothing: the report names an attempt before it, counted then), not leased nor returned; its ids are noted for
 * SENT_BY_REPORT_ORPHANS (`smsrelay.sent_by_report`, walkingDueIndex).
 * One row with `decided` and no SMS when none is leased. The end of SMS_CLAIM and SMS_CLAIM_ONE_PER_BATCH.
 */
const leaseChosen = (chosen: string) => `claimed AS (
    UPDATE outbound o SET status = CASE WHEN ${CLAIMED_REPORTED} THEN 'sent' ELSE o.status END,
      possible_duplicates = CASE WHEN ${CLAIMED_REPORTED} THEN GREATEST(o.possible_duplicates - (c.was IS NULL)::int, 0)
        ELSE o.possible_duplicates + (c.was IS NOT NULL)::int END,
      attempts = o.attempts + CASE WHEN c.was IS NULL THEN 0 ELSE 1 END,
      lease_owner = CASE WHEN ${CLAIMED_REPORTED} THEN NULL ELSE $5 END,
      next_attempt_at = CASE WHEN ${CLAIMED_REPORTED} THEN o.next_attempt_at ELSE ${DB_NOW_MS} + $6 END,
      last_error = CASE WHEN ${CLAIMED_REPORTED} THEN NULL ELSE o.last_error END,
      updated_at = CASE WHEN ${CLAIMED_REPORTED} THEN $1 ELSE o.updated_at END
    FROM (${chosen}) c
    WHERE o.id = c.id RETURNING o.id, o.message_id, o.number, o.rcpt, o.notify, o.orcpt, o.attempts, o.last_error, c.due, c.was,
      o.status = 'sent' AS reported, o.provider_id
  ), taken_over AS (
    INSERT INTO events (at, message_id, sms_id, kind, detail)
    SELECT $1, message_id, id, CASE WHEN reported THEN 'sent' ELSE '${TAKEN_OVER}' END,
      CASE WHEN reported THEN ${sentByReportInFlightDetail('provider_id', leaseExpired('COALESCE(was, $5)'))} ELSE ${takenOverDetail('was', '$5')} END
    FROM claimed WHERE was IS NOT NULL OR reported ORDER BY id
  )
  SELECT decided.decided, claimed.due, claimed.was, claimed.id, claimed.message_id, claimed.number, claimed.rcpt, claimed.notify, claimed.orcpt, claimed.attempts, claimed.last_error,
    ${LEASED_MESSAGE_COLUMNS.map((column) => `m.${column}`).join(', ')},
    set_config('smsrelay.sent_by_report', (SELECT COALESCE(array_agg(id), '{}') FROM claimed WHERE reported)::text, true) AS sent_by_report
  FROM decided LEFT JOIN (claimed JOIN messages m ON m.id = claimed.message_id) ON NOT claimed.reported`;

/**
 * The reports adopted by the SMS a claim recorded sent by them (leaseChosen, at `$1`), as columns of walkingDueIndex's
 * statement after the claim in its transaction, whose snapshot sees the claim's update and the reports a relay committed
 * while the claim waited for their SMS's row. Nearly always none, and then not even looked for: a statement of its own, or
 * the function called with no ids, cost the server 59–115 µs per claim, 8–15% of it (the review of fix-inflightstop,
 * bench/claim-cpu.ts, 2026-12-07). A custom setting reads '' after a transaction that set it, '{}' when the claim noted none.
 */
const SENT_BY_REPORT_ORPHANS = `CASE WHEN COALESCE(current_setting('smsrelay.sent_by_report', true), '') NOT IN ('', '{}')
    THEN smsrelay_adopt_orphans($1::bigint, current_setting('smsrelay.sent_by_report')::bigint[]) END AS adopted`;

/**
 * A claim in one statement, so that its transaction is one round trip (group-writer.ts): of the
 * first `$2` due SMS (SMS_CANDIDATES), the prefix that fits in `$3` batches of at most `$4` numbers of
 * one mail (selectBatchRows, as on SQLite: an SMS starts a batch when it is the first of its mail or its
 * mail's batch is full, and the count of batches started only grows along the due order), locked
 * (`SKIP LOCKED`: another relay's claim has them), checked due again and leased (leaseChosen). That
 * prefix is the claim's only when the candidates decide it: fewer than `$2` were due, or the last needs
 * a batch too many. Otherwise (`decided` false) nothing is leased. Exported for tests of its plan and
 * its result.
 */
export const SMS_CLAIM = batchedClaim(SMS_CANDIDATES, 'count(*) < $2 OR COALESCE(max(batch) > $3, FALSE)');

/**
 * A claim of `candidates` (SQL: the first `$2` SMS in claim order, with their `claim_at`) in batches
 * (SMS_CLAIM), leased when `decided` (SQL over `batched`) holds.
 */
function batchedClaim(candidates: string, decided: string): string {
  return `WITH due AS MATERIALIZED (${candidates}
  ), batched AS (
    SELECT id, sum(starts) OVER (ORDER BY ${CLAIM_ORDER} ROWS UNBOUNDED PRECEDING) AS batch FROM (
      SELECT id, claim_at, lease_owner,
        CASE WHEN (row_number() OVER (PARTITION BY message_id ORDER BY ${CLAIM_ORDER}) - 1) % $4 = 0 THEN 1 ELSE 0 END AS starts
      FROM due) numbered
  ), decided AS (
    SELECT ${decided} AS decided FROM batched
  ), ${leaseChosen(`SELECT id, ${CLAIM_AT} AS due, ${takenOverFrom('lease_owner', '$5')} AS was FROM outbound WHERE id = ANY(ARRAY(SELECT id FROM batched WHERE batch <= $3)) AND (SELECT decided FROM decided)
      AND status = 'queued' AND held = 0 AND ${DUE} AND ${NOT_PAUSED}
      FOR UPDATE SKIP LOCKED`)}`;
}

/**
 * When a mail's SMS is past its maximum age: its start (StoredMessage: its arrival, or its
 * `X-SMS-Send-At`) plus the age, in a query joining `outbound o` to `messages m`.
 */
const STARTED = 'GREATEST(m.received_at, COALESCE(m.send_at, 0))';

/**
 * SMS_CLAIM of only the SMS whose mail started by `$8` (SmsClaimRequest.startedBy: past their maximum
 * age), with the same values: the first `$2` of them due, in due order (ended leases first), each
 * mail's SMS in batches of `$4`, the first `$3` batches leased. Every due SMS of an old mail, read
 * through the join: such a claim is made only while every provider is paused, when one is due.
 */
const EXPIRED_SMS_CLAIM = batchedClaim(
  `SELECT o.id, o.message_id, o.next_attempt_at, o.lease_owner, o.next_attempt_at AS claim_at FROM outbound o JOIN messages m ON m.id = o.message_id
    WHERE o.status = 'queued' AND o.held = 0 AND ${DUE} AND ${STARTED} <= $8 AND o.${NOT_IN_FLIGHT} AND ${NOT_PAUSED}
    ORDER BY o.lease_owner IS NULL, o.next_attempt_at, o.id LIMIT $2`,
  // Always: the SMS chosen are those of the first `$3` batches, however many were due (an aggregate: one row).
  'count(*) >= 0',
);

/**
 * SMS_CLAIM where each SMS is a batch of its own (the usual alert: a mail to one number), with the same
 * values: the first `$2` due SMS that no other claim has locked (`SKIP LOCKED`, checked due again as
 * they are locked), the first `$3` of them leased (leaseChosen), decided when no two of them are one
 * mail's or a batch is one number (`$4` = 1): then every SMS starts a batch and SMS_CLAIM, for `$2` = `$3`
 * + 1, chooses just those. Otherwise (`decided` false) nothing is leased and SMS_CLAIM claims. Without
 * SMS_CLAIM's batch numbering (two window functions over a materialised set) and second look-up of
 * the rows to lock, it costs the server 44–72 µs (15%) less per claim: 259/297/393 µs at 1/3/10 due SMS
 * against 303/349/465 (bench/claim-cpu.ts, 2026-12-04; sent as the relay sends it, smsClaimStatements, with the
 * adoption of reports after it, on 2026-12-07 on a machine other work kept loaded: 780/930/1086 against 857/1043/1210,
 * 749/934/1078 without the adoption, within the runs' noise of it). The lease's new entries in every index of
 * `outbound` (it changes two keys) are not what costs most: leasing without changing a key column took
 * 25–57 µs less per claim in the same runs, too little for a schema change. Exported for tests of its
 * plan and its result.
 */
export const SMS_CLAIM_ONE_PER_BATCH = `WITH due AS (${smsCandidates('FOR UPDATE SKIP LOCKED')}
  ), decided AS (
    SELECT $4::int = 1 OR count(DISTINCT message_id) = count(*) AS decided FROM due
  ), ${leaseChosen(`SELECT id, claim_at AS due, ${takenOverFrom('lease_owner', '$5')} AS was FROM due WHERE (SELECT decided FROM decided) ORDER BY ${CLAIM_ORDER} LIMIT $3`)}`;

/**
 * The SMS of a delivery report (`$1` its ids, `$2` the number, `$3` the relay's reference): under the report's own id,
 * else under its former one, else by the relay's own reference while no id names it, sent or queued (waiting to be sent
 * again, or in flight: `lease_owner`) (sqlite-replies.ts, outboundOfMessage). Locked: an attempt's outcome recorded at
 * once by another relay waits for the report's commit, and reads what it did (REPORTED_IN_FLIGHT), or the report
 * reads the outcome. Exported for a test of its plan.
 */
export const REPORTED_SMS = `SELECT o.id, o.message_id, o.delivery, o.notify, m.report_all, m.gateway_account, ${SENT_AT}, o.provider_id, o.status, o.lease_owner,
    COALESCE(o.provider_id = ANY($1::text[]), FALSE) AS by_id
  FROM outbound o JOIN messages m ON m.id = o.message_id
  WHERE o.number = $2 AND (o.provider_id = ANY($1::text[])
    OR (o.message_id = $3 AND COALESCE(o.provider_id, '') = ''
      AND (o.status = 'sent' OR (o.status = 'queued' AND o.held = 0))))
  ORDER BY by_id DESC, COALESCE(o.provider_id = $1[1], FALSE) DESC, ${REPORT_TARGET_ORDER} LIMIT 1 FOR UPDATE OF o`;

/**
 * A claim's statement between bitmap scans turned off and back as they were, in its transaction's batch (no round
 * trip more). For a claim's unknown due time and limit, on a queue table that grew unanalysed or whose statistics say
 * it is nearly all sent, the server read every due row's index entry and heap page into a bitmap and sorted them all to
 * take the first few, where walking the due index in order stops at them: the reply mails' claim read 266 blocks a time
 * through a relay on a fresh database (the bench's MO, 2026-12-06: 1.25 ms of the server per claim, 0.29 claims per
 * received SMS, a third of the server's time per SMS), 66 without. Only around the claim: a delivery report's look-up
 * (an OR of two indexes) needs its BitmapOr, and a statement's generic plan is made once per connection, under the
 * settings of its first run, so the setting is as before again for the group's next statement. `after`: columns (and
 * their values) of that statement, which the claim's own transaction reads after it at no round trip nor statement more.
 * The SMS claims hand it what they noted through a transaction-local setting: the ids of the SMS they recorded sent by
 * a report (`smsrelay.sent_by_report`, leaseChosen), whose reports it adopts (SENT_BY_REPORT_ORPHANS), as the value
 * before the claim reaches it in `smsrelay.bitmapscan`: a statement's result is not another's parameter in one batch.
 */
export const walkingDueIndex = (claim: Statement, after?: Statement): Statement[] => [
  // set_config, not SET LOCAL: a group of statements alone is its round trip's implicit transaction (group-writer.ts),
  // where SET LOCAL does nothing. The value before is kept in a setting of the relay's own, to be put back.
  {
    text: "SELECT set_config('smsrelay.bitmapscan', current_setting('enable_bitmapscan'), true), set_config('enable_bitmapscan', 'off', true)",
    values: [],
  },
  claim,
  {
    text: `SELECT set_config('enable_bitmapscan', current_setting('smsrelay.bitmapscan'), true)${after === undefined ? '' : `, ${after.text}`}`,
    values: after?.values ?? [],
  },
];

/**
 * An SMS claim's statements as claimDueSms sends them, `values` those of the claim (SMS_CLAIM_ONE_PER_BATCH, `$1` its
 * time): walking the due index, and adopting after it the reports of the SMS it recorded sent by them. Exported for
 * bench/claim-cpu.ts.
 */
export const smsClaimStatements = (text: string, values: readonly unknown[]): Statement[] =>
  walkingDueIndex({ text, values }, { text: SENT_BY_REPORT_ORPHANS, values: [values[0]] });

/**
 * The first `$4` mails of the relay's own due at `$1` (endedLeasesFirst) but those it has in flight (`$5`, ClaimRequest.inFlight), locked (`SKIP LOCKED`) and
 * leased to `$2` for `$3` ms by the database's clock, returned with their due time and the other relay whose
 * lease ended (`was`, takenOverFrom); each such mail taken over counts an attempt and a possible duplicate, and gets
 * its history line (MAIL_TAKEN_OVER) in the same statement. Exported for a test of its plan.
 */
export const MAIL_CLAIM = `WITH claimed AS (
    UPDATE mail_out o SET lease_owner = $2, next_attempt_at = ${DB_NOW_MS} + $3, attempts = o.attempts + (c.was IS NOT NULL)::int,
      possible_duplicates = o.possible_duplicates + (c.was IS NOT NULL)::int
    FROM (SELECT id, next_attempt_at, ${takenOverFrom('lease_owner', '$2')} AS was FROM (${endedLeasesFirst('mail_out', 'id, next_attempt_at, lease_owner', ' AND id <> ALL($5::bigint[])', '$4', 'FOR UPDATE SKIP LOCKED')} LIMIT $4) chosen) c
    WHERE o.id = c.id RETURNING o.id, o.created_at, o.kind, o.message_id, o.envelope_from, o.recipients, o.raw, o.attempts, c.next_attempt_at AS due, c.was
  ), taken_over AS (
    INSERT INTO events (at, message_id, sms_id, kind, detail)
    SELECT $1, message_id, NULL, '${MAIL_TAKEN_OVER}', ${takenOverDetail('was', '$2')} FROM claimed WHERE was IS NOT NULL ORDER BY id
  )
  SELECT * FROM claimed`;

/**
 * A mail's outcome (`$1` retry, `$2` status, `$3` next attempt, `$4` error, `$5` now, `$6` id) by relay `$9`
 * (null: any), and its history line (`$7`, `$8`); or, when `$9` no longer holds the mail's lease (mailHeldBy:
 * the row waits for a claim taking it over and then reads its owner again), only the late answer's line,
 * `mail_out` there being the statement's snapshot, before `done`. Returns the line's kind.
 */
const mailOutcome = (besides: string) => `WITH done AS (
    UPDATE mail_out SET status = CASE WHEN $1 THEN status ELSE $2 END, next_attempt_at = CASE WHEN $1 THEN $3 ELSE next_attempt_at END,
      last_error = $4, attempts = attempts + 1, lease_owner = NULL, updated_at = $5
    WHERE id = $6 AND ${mailHeldBy('$9::text')} RETURNING message_id, kind
  )${besides}
  INSERT INTO events (at, message_id, sms_id, kind, detail) SELECT $5, message_id, NULL::bigint, $7::text, $8::text FROM done
  UNION ALL
  SELECT $5, message_id, NULL, '${LATE_ANSWER}', ${lateAnswerDetail('$9::text', "$7::text || ': ' || $8::text")} FROM mail_out
    WHERE id = $6 AND $9::text IS NOT NULL AND NOT EXISTS (SELECT 1 FROM done)
  RETURNING kind`;
const MAIL_OUTCOME = mailOutcome('');
/** The reply mail about inbound SMS `$1` sent with return path `$2` (any case), with its SMS's sender: the FROM and WHERE of a query. */
/** A reply mail refused for good: its SMS has no mailbox again, so it is listed and can be rerouted. */
const MAIL_FAILED = mailOutcome(`, unrouted AS (
    UPDATE inbound SET mailbox = NULL WHERE id = (SELECT message_id FROM done WHERE kind = 'reply')
  )`);

export class PostgresStore implements Store, ClusterStore {
  readonly #pool: pg.Pool;
  readonly #writer: GroupWriter;
  readonly #wakes = new WakeSender(
    (sql) => this.#pool.query(sql),
    () => this.#wakeTag,
  );
  readonly #url: string;
  #wakeTag = '';
  readonly #sslMode: string;
  readonly #onHealth: (health: StoreHealth) => void;
  #health: StoreHealth = { state: 'ok' };
  /** The health the listener was told last (#tell): a connect's WRITES_UNPROVEN is told only if it lasts (#proveWrites). */
  #told: StoreHealth = { state: 'ok' };
  /** Until the schema is current nothing else may touch the database. */
  #ready = false;
  #closed = false;
  #retry: NodeJS.Timeout | undefined;
  /**
   * When a commit that tells whether mail is taken was last tried: the write probe's start, a mail's commit
   * that succeeded, any commit that failed. No probe within PROBE_INTERVAL_MS of it: its answer is as fresh.
   */
  #lastTry = 0;
  /**
   * How many commits that tell whether mail is taken have answered (#mailTaken, #commitFailed): a connect's
   * #proveWrites leaves the health to one that answered since the connect began.
   */
  #answers = 0;
  /** The write probe in flight (probeWrites), while one is. */
  #writeProbe: Promise<void> | undefined;
  /** Cuts the connections of a database that stopped answering without closing them (silence-watch.ts). */
  readonly #silence: SilenceWatch;
  #stats = { commits: 0, writes: 0, seconds: 0, synced: 0, failed: 0 };
  /**
   * Whether another relay may be listening for this one's notifications (notify.ts): a relay alone sent
   * a NOTIFY after 0.3 commits per mail (2026-12-03) that nobody heard (it kicks its own loops itself).
   * Each heartbeat says whether another relay ran lately; undefined until the first, and in processes
   * that send none (the operator's commands that release or retry queued work): then it notifies. A
   * relay whose heartbeat finds others says hello (a notification) and whoever hears one notifies
   * again, so a relay that joins is woken at once, not from the others' next heartbeat.
   */
  #othersAlive: boolean | undefined;
  /** A received SMS's reads before its write, with the other webhooks' of the turn in one round trip. */
  readonly #turnReads: TurnReads;
  /**
   * The numbers the database said are not opted out, trusted only while the listener hears every other
   * relay's opt-out change (listenForWork; each notice forgets them all), and for NOT_OPTED_OUT_TRUSTED_MS
   * at most in case a notice was lost with its sender between its commit and its notification.
   */
  readonly #notOptedOut = new NotOptedOut({ rememberMs: NOT_OPTED_OUT_TRUSTED_MS });
  /** Sent outcomes waiting for their group, by the relay whose lease they name (recordSmsOutcomes). */
  readonly #sentGatherings = new Map<string | null, SentGathering>();
  /** Whether the listener hears the other relays now (listenForWork): until then every check asks the database. */
  #hearsOthers = false;

  /** What the connects that failed waited for, each told once (onWaiting): a lock wait once per set of its holders. */
  readonly #waitedFor = new Set<string>();
  /** When a lock wait's holders were last told (HOLDERS_TOLD_EVERY_MS). */
  #holdersToldAt = Number.NEGATIVE_INFINITY;

  private constructor(url: string, onHealth: (health: StoreHealth) => void) {
    const { pool, sslMode } = databaseUrl(url);
    this.#url = url;
    this.#sslMode = sslMode;
    this.#onHealth = onHealth;
    this.#pool = new pg.Pool({ ...pool, types: TYPES } as pg.PoolConfig);
    this.#silence = new SilenceWatch({ connection: pool, onSilent: (reason) => this.#failing(new Error(reason)) });
    // An idle connection the server dropped (a restart): the next checkout opens a new one; the error is not a crash.
    this.#pool.on('error', (error) => this.#failing(error));
    // The pool listens on its idle connections only: one the server drops while checked out (between two
    // statements, or as it is released) would emit an unhandled 'error' and end the process. The statement
    // in progress, or the next, fails instead, and that failure is handled.
    this.#pool.on('connect', (client) => {
      client.on('error', (error) => this.#failing(error));
      prepareStatements(client);
      this.#silence.watch(client);
    });
    this.#turnReads = new TurnReads({
      pool: this.#pool,
      types: TYPES,
      alone: (text, values) => this.#rows(text, values),
      isConnectionError,
      failed: (error) => {
        if (isServerFailure(error)) this.#failing(error);
        return asStoreError(error);
      },
    });
    this.#writer = new GroupWriter({
      pool: this.#pool,
      wake: (queues) => {
        // An opt-out change is told even when no other relay seemed to run: one that starts now must not miss it.
        if (this.#othersAlive !== false || queues.includes('opt-outs')) this.#wakes.wake(queues);
      },
      isConnectionError,
      isStoreFault,
      onCommit: (writes, seconds, synced) => {
        const stats = this.#stats;
        this.#stats = {
          ...stats,
          commits: stats.commits + 1,
          writes: stats.writes + writes,
          seconds: stats.seconds + seconds,
          synced: stats.synced + (synced ? 1 : 0),
        };
        // Only a mail's commit or the write probe shows mail is taken again (acceptMail, probeWrites): on a
        // full disk a heartbeat or an outcome still fits in pages the tables hold. A small one that succeeds
        // while commits fail is worth a probe, which tells (told after its writes' answers: a mail's has made the store ok).
        if (this.#health.state !== 'ok') this.#startProbe();
      },
      onServerFailure: (error) => {
        this.#stats = { ...this.#stats, failed: this.#stats.failed + 1 };
        this.#commitFailed(error);
      },
      types: TYPES,
    });
  }

  /**
   * Connects and brings the schema up to date. A start the database or the relay's own checks refuse
   * (startRefusal) throws; an unreachable database gives a store that is not ready and keeps trying,
   * until it connects or meets such a refusal (`onRefused`).
   */
  static async open(options: PostgresStoreOptions, onHealth: (health: StoreHealth) => void = () => undefined): Promise<PostgresStore> {
    const store = new PostgresStore(options.url, onHealth);
    store.#wakeTag = options.wakeTag ?? '';
    try {
      await store.#connect(options);
    } catch (error) {
      const refusal = startRefusal(error);
      if (refusal) {
        await store.#pool.end();
        throw refusal;
      }
      await store.#waiting(error, options);
      store.#retryConnect(options, CONNECT_RETRY_MIN_MS);
    }
    return store;
  }

  /**
   * A connect failed for a reason a retry cures: not ready, saying what it waits for, and without the sessions
   * the try left idle in the pool: a read-only standby's stay read-only once a failover points the name at the
   * new primary, and the next try must open its own.
   */
  async #waiting(error: unknown, options: PostgresStoreOptions): Promise<void> {
    this.#ready = false;
    await this.#dropIdleSessions();
    // Not a startRefusal: every other failure is the server's or the way to it.
    const wait = startWait(error) ?? { waitingFor: REACHABLE, failure: error };
    // The not-ready reason (health, /readyz) says what passes with time, beside what the server said; the
    // code stays the failure's (a full disk met by an upgrade step is DISK_FULL: mail gets 452).
    this.#failing(wait.failure, wait.waitingFor === REACHABLE ? undefined : `${describe(wait.failure)}: waiting for ${wait.waitingFor}`);
    // An unreachable database is the outage's own lines (the health's); any other reason is told once, however often it
    // comes back; a lock wait once per set of sessions holding it, so a session that holds it next is named too.
    const holders = wait.failure instanceof LockWaitError ? wait.failure.holders : undefined;
    const told = holders === undefined ? wait.waitingFor : `${wait.waitingFor}\n${holders}`;
    if (wait.waitingFor === REACHABLE || this.#waitedFor.has(told)) return;
    if (holders !== undefined) {
      if (Date.now() - this.#holdersToldAt < HOLDERS_TOLD_EVERY_MS) return;
      this.#holdersToldAt = Date.now();
    }
    this.#waitedFor.add(told);
    options.onWaiting?.(wait.waitingFor, describe(wait.failure));
  }

  /** Closes the pool's idle sessions. pg's pool has no call for it: they are checked out (idle ones come first) and destroyed. */
  async #dropIdleSessions(): Promise<void> {
    const idle = await Promise.all(Array.from({ length: this.#pool.idleCount }, () => this.#pool.connect().catch(() => undefined)));
    for (const client of idle) client?.release(true);
  }

  async #connect(options: PostgresStoreOptions): Promise<void> {
    const answers = this.#answers;
    const client = await this.#pool.connect();
    try {
      await options.admit?.({ relaysSeen: (withinMs) => relaysSeenAsItIs(client, withinMs) });
      const migrated = await migrate(client, {
        create: options.create ?? true,
        lookupSession: async () => {
          const lookup = await this.#pool.connect();
          // Not kept: the pool's sessions are the relay's statements'.
          return { client: lookup, close: () => lookup.release(true) };
        },
      });
      options.onMigrated?.(migrated);
      client.release();
    } catch (error) {
      // Not kept for the next try: a read-only standby's session stays read-only once the name points at the new primary.
      client.release(true);
      throw error;
    }
    this.#ready = true;
    await options.onConnected?.(this);
    if (options.proveWrites) await this.#proveWrites(answers);
    else this.#ok();
  }

  #retryConnect(options: PostgresStoreOptions, delay: number): void {
    this.#retry = setTimeout(() => {
      if (this.#closed) return;
      this.#connect(options).catch(async (error: unknown) => {
        // A store closed meanwhile (the relay stopping) refuses nothing, warns of nothing and tells no health: the stop was asked first.
        if (this.#closed) return;
        // The same rule as open's: a database that returned can still refuse the start, which no retry cures.
        const refusal = startRefusal(error);
        if (refusal) {
          this.#ready = false;
          this.#failing(refusal);
          options.onRefused?.(refusal);
        } else {
          await this.#waiting(error, options);
          if (!this.#closed) this.#retryConnect(options, Math.min(delay * 2, CONNECT_RETRY_MAX_MS));
        }
      });
    }, delay);
    this.#retry.unref();
  }

  /** `reason`: what the health says, when more than the error's words. */
  #failing(error: unknown, reason = describe(error)): void {
    this.#tell({ state: 'failing', reason, code: storeFailureCode(error) });
  }

  /** A commit that tells whether mail is taken failed: an answer as fresh as a probe's (PROBE_INTERVAL_MS). */
  #commitFailed(error: unknown): void {
    this.#lastTry = Date.now();
    this.#answers++;
    this.#failing(error);
  }

  /**
   * After a connect: connected is not writable. On a full disk the schema's check and the start's small
   * writes succeed while every mail would get 452, so the store is ok only once the write probe commits;
   * a connect waits for it as /readyz does (READY_PROBE_WAIT_MS), and reports the store not ready
   * (WRITES_UNPROVEN) if it has not answered by then: the probe goes on, and its result tells.
   * `answersBefore`: #answers when the connect began.
   */
  async #proveWrites(answersBefore: number): Promise<void> {
    // A probe onConnected's writes set off, a mail, or a failed commit answered since the connect began: that
    // answer stands (and #startProbe would decline a probe so soon after it, leaving WRITES_UNPROVEN for good).
    if (this.#answers !== answersBefore) return;
    // Quietly: told only if it still stands after the wait (a start that proves its writes at once logs no outage).
    this.#health = WRITES_UNPROVEN;
    await this.probeWrites();
    if (this.#health === WRITES_UNPROVEN) this.#tell(WRITES_UNPROVEN);
  }

  /** A mail's commit or the write probe committed: mail is taken (onCommit), an answer as fresh as a probe's. */
  #mailTaken(): void {
    this.#lastTry = Date.now();
    this.#answers++;
    this.#ok();
  }

  #ok(): void {
    this.#tell({ state: 'ok' });
  }

  /** Sets the health, and tells the listener when it differs from what it was told last (one report per change). */
  #tell(health: StoreHealth): void {
    this.#health = health;
    const told = this.#told;
    if (health.state === told.state && (health.state !== 'failing' || (told.state === 'failing' && told.reason === health.reason))) return;
    this.#told = health;
    this.#onHealth(health);
  }

  /**
   * A write in the next commit group (group-writer.ts): resolves after the COMMIT that holds it
   * returned. A failure is STORE_UNAVAILABLE to the caller (a mail whose Message-ID stayed busy: MESSAGE_ID_BUSY). `wakes`: the queues it adds due work to,
   * notified to the other relays after the COMMIT.
   */
  async #write<T>(work: Work<T>, wakes: readonly Notice[] = [], durability: Durability = PROMISED): Promise<T> {
    this.#usable();
    try {
      return await this.#writer.run(work, wakes, durability);
    } catch (error) {
      // The only keys a write holds are its mail's Message-ID (accept.ts, resubmissionLocks).
      if (error instanceof KeysBusy) throw new RelayError('MESSAGE_ID_BUSY', undefined, { cause: error });
      throw asStoreError(error);
    }
  }

  /** A write that adds due work (or an opt-out change) to `wakes`: the other relays hear of it after its COMMIT. */
  #queueing<T>(wakes: readonly Notice[], work: Work<T>): Promise<T> {
    return this.#write(work, wakes);
  }

  async #rows<R extends pg.QueryResultRow>(sql: string, values: readonly unknown[] = []): Promise<R[]> {
    this.#usable();
    try {
      return (await this.#pool.query<R>(sql, values as unknown[])).rows;
    } catch (error) {
      if (isServerFailure(error)) this.#failing(error);
      throw asStoreError(error);
    }
  }

  async #row<R extends pg.QueryResultRow>(sql: string, values: readonly unknown[] = []): Promise<R | undefined> {
    return (await this.#rows<R>(sql, values))[0];
  }

  /** A read of a received SMS before its write (turn-reads.ts): with the others of this turn in one round trip. */
  async #turnRow<R extends pg.QueryResultRow>(sql: string, values: readonly unknown[]): Promise<R | undefined> {
    this.#usable();
    return (await this.#turnReads.rows<R>(sql, values))[0];
  }

  #usable(): void {
    if (this.#closed) throw asStoreError(new Error('the store is closed'));
    if (!this.#ready) throw asStoreError(new Error(this.#health.state === 'failing' ? this.#health.reason : 'not connected to PostgreSQL yet'));
  }

  /**
   * One statement, one round trip (accept.ts): the mail, its SMS jobs and their history lines, and only
   * for a mail that needs them the resubmission check (or the two lines that link a resubmission to its
   * original) and its conversations.
   */
  acceptMail(mail: NewMail, reports: readonly NewOutgoingMail[] = [], options: AcceptOptions = {}): Promise<{ duplicateOf: string | undefined }> {
    const due = mail.holdUntilSendAt && mail.sendAt !== undefined ? Math.max(mail.sendAt, mail.receivedAt) : mail.receivedAt;
    const now = Date.now();
    const { onlyAsResubmission = false } = options;
    // Without a fingerprint no mail is a resubmission: nothing to store.
    if (onlyAsResubmission && !mail.resubmission) return Promise.resolve({ duplicateOf: undefined });
    // The refused numbers and their bounce in the mail's transaction (Store.acceptMail), not for a resubmission (nor
    // for a mail stored only as one).
    const queued = onlyAsResubmission
      ? []
      : reports.map((report) => ({ text: QUEUE_MAIL_UNLESS_RESUBMITTED, values: [now, mail.id, ...queuedMailValues(report)] }));
    const others = onlyAsResubmission ? [] : [...refusedStatements(mail), ...foldedStatements(mail), ...queued];
    // Its count given back in its own transaction if it was stored as a resubmission (Store#acceptMail's rateTicket).
    const released = options.rateTicket === undefined ? [] : [{ text: RELEASE_RATE_IF_RESUBMITTED, values: [options.rateTicket, mail.id] }];
    return this.#queueing(queued.length > 0 ? ['sms', 'mail'] : ['sms'], {
      locks: resubmissionLocks(mail),
      statements: [acceptStatement(mail, due, onlyAsResubmission), ...others, ...released],
      result: ([accepted]) => {
        // Its commit shows mail is taken again after commits failed (see onCommit).
        this.#mailTaken();
        return { duplicateOf: (accepted?.rows[0] as { duplicate_of: string | null } | undefined)?.duplicate_of ?? undefined };
      },
    });
  }

  /**
   * One statement, one round trip: SMS_CLAIM_ONE_PER_BATCH, which decides the claim when the due SMS it
   * reads (one per batch and the one that would need a batch too many) are of distinct mails (the
   * usual alert). Only when a mail of several numbers is among them does SMS_CLAIM read as many as the
   * batches could hold, which decides always. Before, SMS_CLAIM read that prefix first and decided the
   * same claims at 44–72 µs more of the server's CPU (bench/claim-cpu.ts, 2026-12-04), and before that
   * a claim read all the batches could hold every time (130 index rows for ~4 taken through a relay
   * with a backlog) and took two round trips more in its group (driver, 2026-12-03). In a transaction
   * of its own (`alone`): grouped, it waited for its group's slowest write (test/dispatch/slots.test.ts);
   * and it opens at once, not waiting for a place behind the groups in flight (group-writer.ts).
   */
  async claimDueSms(request: SmsClaimRequest): Promise<SmsBatch[]> {
    const claim = (text: string, candidates: number, more: readonly number[] = []) =>
      this.#write(
        {
          // Its own transaction: a claim in a group whose other write waits (a lock, a slow disk) would hold the dispatcher's free slots with it.
          alone: true,
          statements: [
            ...smsClaimStatements(text, [
              request.now,
              candidates,
              request.maxBatches,
              request.batchSize,
              request.owner,
              request.leaseUntil - request.now,
              request.inFlight ?? [],
              ...more,
            ]),
          ],
          result: ([, claimed]) =>
            (claimed?.rows ?? []) as Array<{ decided: boolean; due: number; was: string | null } & ClaimedSmsRow & Omit<MessageRow, 'id'>>,
        },
        [],
        UNPROMISED,
      );
    let claimed: Awaited<ReturnType<typeof claim>>;
    if (request.startedBy !== undefined) claimed = await claim(EXPIRED_SMS_CLAIM, request.maxBatches * request.batchSize, [request.startedBy]);
    else {
      claimed = await claim(SMS_CLAIM_ONE_PER_BATCH, request.maxBatches + 1);
      if (claimed[0]?.decided === false) claimed = await claim(SMS_CLAIM, request.maxBatches * request.batchSize + 1);
    }
    // The row of a claim that leased nothing has no SMS; the others in CLAIM_ORDER, as chosen.
    const rows = claimed.filter((row) => row.id !== null).sort((a, b) => Number(a.was === null) - Number(b.was === null) || a.due - b.due || a.id - b.id);
    const messages = new Map<string, StoredMessage>();
    for (const row of rows) if (!messages.has(row.message_id)) messages.set(row.message_id, toStoredMessage({ ...row, id: row.message_id }));
    return groupIntoBatches(rows, request.batchSize, (id) => messages.get(id) as StoredMessage);
  }

  async commitStats(): Promise<CommitStats> {
    return this.#stats;
  }

  async nextSmsExpiryAt(maxAgeMs: number): Promise<number | undefined> {
    // A queued SMS's next attempt is never after its age; a leased one is claimable at its lease's end.
    const row = await this.#row<{ at: number | null }>(
      `SELECT MIN(GREATEST(${STARTED} + $1::bigint, o.next_attempt_at)) AS at FROM outbound o JOIN messages m ON m.id = o.message_id
      WHERE o.status = 'queued' AND o.held = 0 AND ${NOT_PAUSED}`,
      [maxAgeMs],
    );
    return row?.at ?? undefined;
  }

  /**
   * The sent outcomes (SMS_SENT) and the reports that arrived before them adopted (ADOPT_ORPHANS), the
   * retries, the final failures and the mail to queue, in that order, with the group's other statements.
   */
  recordSmsOutcomes(outcomes: readonly SmsOutcome[], mail: readonly NewOutgoingMail[] = [], owner?: string): Promise<readonly number[]> {
    const onlySent = outcomes.every((outcome) => outcome.kind === 'sent' && !outcome.recognisedResend && !outcome.failedOver?.length);
    return mail.length === 0 && outcomes.length > 0 && onlySent
      ? this.#recordSent(outcomes as readonly SentOutcome[], owner)
      : this.#recordOutcomes(outcomes, mail, owner);
  }

  /**
   * Sent outcomes alone (the usual batch's), gathered with the others that wait for the same group
   * (SentGathering): one SMS_SENT and one adoption for all of them, where each batch's were two statements of
   * their own, each with its plan's start, its tables and indexes opened and its CHECK constraints read
   * again at every execution. A gathering that fails is written again call by call, so that one outcome's
   * own fault (a value that cannot be sent, or one the server refuses) fails that outcome alone, as it did
   * before it was gathered.
   * Answers as #recordOutcomes: the SMS whose lease was another relay's, with their late history lines.
   */
  async #recordSent(sent: readonly SentOutcome[], owner: string | undefined): Promise<readonly number[]> {
    const key = owner ?? null;
    let gathering = this.#sentGatherings.get(key);
    if (!gathering || gathering.closed || sent.some((outcome) => gathering?.ids.has(outcome.smsId))) gathering = this.#gatherSent(key);
    for (const outcome of sent) {
      gathering.outcomes.push(outcome);
      gathering.details.push(sentDetail(outcome));
      gathering.ids.add(outcome.smsId);
    }
    gathering.calls++;
    let recorded: ReadonlySet<number>;
    try {
      recorded = await gathering.recorded;
    } catch (error) {
      if (gathering.calls === 1) throw error;
      return this.#recordOutcomes(sent, [], owner);
    }
    if (owner === undefined) return [];
    const late = sent.filter((outcome) => !recorded.has(outcome.smsId));
    const lines = sentLateLines(Date.now(), late, owner);
    if (lines) await this.#write({ statements: [lines], result: () => undefined }, [], UNPROMISED);
    return late.map((outcome) => outcome.smsId);
  }

  /** A new gathering of `owner`'s sent outcomes (null: any relay's lease), its write queued for the next group. */
  #gatherSent(owner: string | null): SentGathering {
    const gathering: SentGathering = { outcomes: [], details: [], ids: new Set(), calls: 0, closed: false, recorded: Promise.resolve(new Set()) };
    const close = () => {
      gathering.closed = true;
      if (this.#sentGatherings.get(owner) === gathering) this.#sentGatherings.delete(owner);
    };
    this.#sentGatherings.set(owner, gathering);
    gathering.recorded = this.#write(
      {
        // A value that cannot be sent fails the gathering here (the group writer's `opened`), and each call is written again alone.
        statements: () => {
          close();
          return { statements: sentStatements(Date.now(), gathering.outcomes, gathering.details, owner), writes: gathering.calls };
        },
        result: ([sms]) => sentRecorded(sms),
      },
      [],
      UNPROMISED,
    ).finally(close);
    return gathering;
  }

  /** The outcomes of a batch, and mail to queue with them (recordSmsOutcomes). */
  async #recordOutcomes(outcomes: readonly SmsOutcome[], mail: readonly NewOutgoingMail[], owner: string | undefined): Promise<readonly number[]> {
    // Queued after the open gatherings: a sent outcome for one of these SMS that comes later must not join them, ahead of this.
    for (const gathering of this.#sentGatherings.values()) for (const outcome of outcomes) gathering.ids.add(outcome.smsId);
    const now = Date.now();
    const sent = outcomes.filter((outcome): outcome is SentOutcome => outcome.kind === 'sent');
    const retries = outcomes.filter((outcome): outcome is Extract<SmsOutcome, { kind: 'retry' }> => outcome.kind === 'retry');
    const finals = outcomes.filter(
      (outcome): outcome is Extract<SmsOutcome, { kind: 'failed' | 'expired' }> => outcome.kind === 'failed' || outcome.kind === 'expired',
    );
    const by = owner ?? null;
    const statements: Statement[] = [];
    // Before the outcomes' own statements: they end the lease that says whose the SMS is, and its line comes after these.
    // Each line with 1 for as many of the SMS's as may have been processed (FailedOver's failedOverDuplicates): their sum is its count.
    const failedOver = outcomes.flatMap((outcome) =>
      (outcome.failedOver ?? []).map((detail, n) => [outcome.smsId, detail, n < (outcome.failedOverDuplicates ?? 0) ? 1 : 0] as const),
    );
    if (failedOver.length > 0) {
      const values = [now, failedOver.map(([id]) => id), failedOver.map(([, detail]) => detail), by, failedOver.map(([, , duplicate]) => duplicate)];
      statements.push({ text: FAILED_OVER_LINES, values });
    }
    // Before SMS_SENT, which ends the lease that says whose the SMS is.
    const resends = sent.filter((outcome) => outcome.recognisedResend).map((outcome) => outcome.smsId);
    if (resends.length > 0) statements.push({ text: RESENDS_RECOGNISED, values: [resends, by] });
    // Whose answer is the ids SMS_SENT recorded.
    const sentStatement = statements.length;
    if (sent.length > 0) statements.push(...sentStatements(now, sent, sent.map(sentDetail), by));
    const retryStatement = retries.length > 0 ? statements.length : undefined;
    if (retries.length > 0) {
      statements.push({
        text: RETRIED,
        values: [
          now,
          retries.map((outcome) => outcome.smsId),
          retries.map((outcome) => outcome.nextAttemptAt),
          retries.map((outcome) => outcome.error),
          retries.map((outcome) => (outcome.attempted ? 1 : 0)),
          retries.map((outcome) => (outcome.possibleDuplicate ? 1 : 0)),
          by,
          retries.map(attemptDetail),
        ],
      });
      // Its own statement, whose snapshot sees the reports a relay committed while RETRIED waited for their SMS's row.
      statements.push({ text: RETRIED_ORPHANS, values: [now, retries.map((outcome) => outcome.smsId)] });
    }
    const finalStatement = finals.length > 0 ? statements.length : undefined;
    if (finals.length > 0) {
      statements.push({
        text: `WITH done AS (
          UPDATE outbound o SET status = t.status, last_error = t.error, attempts = o.attempts + t.attempted, lease_owner = NULL,
            provider_id = NULL, updated_at = $1
          FROM unnest($2::bigint[], $3::text[], $4::text[], $6::int[], $7::text[]) AS t(id, status, error, attempted, detail)
          WHERE o.id = t.id AND ${heldBy('$5')} RETURNING o.id, o.message_id, t.status, t.detail
        )
        INSERT INTO events (at, message_id, sms_id, kind, detail) SELECT $1, message_id, id, status, detail FROM done
        UNION ALL ${lateLines('unnest($2::bigint[], $7::text[]) AS t(id, detail)', 'cardinality($2::bigint[])', '$5::text')} ORDER BY id
        ${LATE_IDS}`,
        values: [
          now,
          finals.map((outcome) => outcome.smsId),
          finals.map((outcome) => outcome.kind),
          finals.map((outcome) => outcome.error),
          by,
          finals.map((outcome) => (outcome.attempted === false ? 0 : 1)),
          finals.map(attemptDetail),
        ],
      });
    }
    /** The late answers among the retries and failures, as their statements' rows name them (LATE_IDS). */
    const lateOfStatements = (results: readonly pg.QueryResult[]) =>
      [retryStatement, finalStatement]
        .flatMap((index) => (index === undefined ? [] : ((results[index]?.rows ?? []) as { late: string | null }[])))
        .flatMap((row) => (row.late === null ? [] : [Number(row.late)]));
    const durability = mail.length === 0 && sent.length === outcomes.length ? UNPROMISED : PROMISED;
    const wakes: Notice[] = mail.length > 0 ? ['mail'] : [];
    /** The sent outcomes not recorded (`recorded` ids): another relay's lease. */
    const lateSent = (recorded: ReadonlySet<number>) => sent.filter((outcome) => !recorded.has(outcome.smsId));
    /** Their history lines. */
    const lateSentLines = (late: readonly SentOutcome[]) => sentLateLines(now, late, owner);
    if (owner === undefined || mail.length === 0) {
      const { sentLate, others } = await this.#write(
        {
          statements: [...statements, ...mailStatements(mail, now)],
          result: (results) => ({
            sentLate: owner === undefined || sent.length === 0 ? [] : lateSent(sentRecorded(results[sentStatement])),
            others: lateOfStatements(results),
          }),
        },
        wakes,
        durability,
      );
      const lines = lateSentLines(sentLate);
      if (lines) await this.#write({ statements: [lines], result: () => undefined }, [], UNPROMISED);
      return [...sentLate.map((outcome) => outcome.smsId), ...others];
    }
    // Reports go with outcomes recorded in time only: the SMS's rows are locked first, so whose lease each is stays so until the commit.
    return this.#write(
      async (client) => {
        const { rows } = await client.query<{ id: string; message_id: string; lease_owner: string | null }>(
          'SELECT id, message_id, lease_owner FROM outbound WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE',
          [outcomes.map((outcome) => outcome.smsId)],
        );
        const lateRows = rows.filter((row) => row.lease_owner !== owner);
        const late = new Set(lateRows.map((row) => row.message_id));
        const lateLinesOfSent = lateSentLines(lateSent(new Set(rows.filter((row) => row.lease_owner === owner).map((row) => Number(row.id)))));
        const all = [...statements, ...(lateLinesOfSent ? [lateLinesOfSent] : []), ...mailStatements(withoutLateReports(mail, late), now)];
        for (const { text, values } of all) await client.query(text, values as unknown[]);
        return lateRows.map((row) => Number(row.id));
      },
      wakes,
      durability,
    );
  }

  enqueueMail(mail: readonly NewOutgoingMail[]): Promise<void> {
    return this.#queueing(['mail'], { statements: mailStatements(mail, Date.now()), result: () => undefined });
  }

  /** One statement: the due mail locked (`SKIP LOCKED`), leased and returned, in CLAIM_ORDER. */
  claimDueMail(request: ClaimRequest): Promise<ClaimedMail[]> {
    return this.#write(
      {
        statements: walkingDueIndex({
          text: MAIL_CLAIM,
          values: [request.now, request.owner, request.leaseUntil - request.now, request.limit, request.inFlight ?? []],
        }),
        result: ([, claimed]) =>
          ((claimed?.rows ?? []) as Array<MailRow & { due: number; was: string | null }>)
            .sort((a, b) => Number(a.was === null) - Number(b.was === null) || a.due - b.due || a.id - b.id)
            .map(toClaimedMail),
      },
      [],
      UNPROMISED,
    );
  }

  async nextMailDueAt(): Promise<number | undefined> {
    return (await this.#row<{ at: number | null }>("SELECT MIN(next_attempt_at) AS at FROM mail_out WHERE status = 'queued'"))?.at ?? undefined;
  }

  /**
   * One statement: the outcome and its history line (or, from a relay whose lease was taken over, only a
   * late answer's line); for a failure, also a refused reply mail's SMS
   * left without a mailbox again, so it is listed and can be rerouted. Only a failure's text has that
   * update: the server opens every part of a statement's plan at each execution (accept.ts), and most
   * outcomes are sent.
   */
  recordMailOutcome(outcome: MailOutcome, owner?: string): Promise<MailOutcomeRecorded> {
    const retry = outcome.kind === 'retry';
    const { kind, detail } = mailOutcomeLine(outcome);
    return this.#write(
      {
        statements: [
          {
            text: outcome.kind === 'failed' ? MAIL_FAILED : MAIL_OUTCOME,
            values: [
              retry,
              retry ? 'queued' : outcome.kind,
              retry ? outcome.nextAttemptAt : 0,
              outcome.kind === 'sent' ? null : outcome.error,
              Date.now(),
              outcome.id,
              kind,
              detail,
              owner ?? null,
            ],
          },
        ],
        result: ([lines]) =>
          owner !== undefined && !((lines?.rows ?? []) as { kind: string }[]).some((line) => line.kind !== LATE_ANSWER) ? 'late' : 'recorded',
      },
      [],
      outcome.kind === 'sent' ? UNPROMISED : PROMISED,
    );
  }

  mailDueNow(now: number): Promise<number> {
    return this.#queueing(['mail'], {
      statements: [
        { text: "UPDATE mail_out SET next_attempt_at = $1 WHERE status = 'queued' AND lease_owner IS NULL AND next_attempt_at > $1", values: [now] },
      ],
      result: ([updated]) => updated?.rowCount ?? 0,
    });
  }

  releaseStaleLeases(owner: string, now: number, outgoing: StaleMail): Promise<{ sms: number; mail: number }> {
    return this.#queueing(['sms', 'mail'], async (client) => {
      const stale = `lease_owner IS NOT NULL AND (lease_owner = $2 OR next_attempt_at <= ${DB_NOW_MS})`;
      // One a report named while its attempt was in flight (REPORTED) reached the gateway: sent by the report, as that
      // attempt's outcome would have recorded it (RETRIED), not resumed nor counted as such; its reports adopted after.
      const sms = await client.query<{ kind: string; sms_id: string }>(
        `WITH released AS (
          UPDATE outbound o SET status = CASE WHEN ${REPORTED} THEN 'sent' ELSE o.status END, lease_owner = NULL,
            next_attempt_at = CASE WHEN ${REPORTED} THEN o.next_attempt_at ELSE LEAST(o.next_attempt_at, $1) END,
            possible_duplicates = o.possible_duplicates + CASE WHEN ${REPORTED} THEN 0 ELSE 1 END, attempts = o.attempts + 1,
            last_error = CASE WHEN ${REPORTED} THEN NULL ELSE o.last_error END, updated_at = CASE WHEN ${REPORTED} THEN $1 ELSE o.updated_at END
          WHERE ${stale} RETURNING o.id, o.message_id, o.status = 'sent' AS reported, o.provider_id
        )
        INSERT INTO events (at, message_id, sms_id, kind, detail)
        SELECT $1, message_id, id, CASE WHEN reported THEN 'sent' ELSE 'resumed' END,
          CASE WHEN reported THEN ${sentByReportInFlightDetail('provider_id', '$4')} ELSE $3 END FROM released ORDER BY id
        RETURNING kind, sms_id`,
        [now, owner, RESUMED_DETAIL, STOPPED_IN_FLIGHT],
      );
      const sent = sms.rows.filter((row) => row.kind === 'sent').map((row) => Number(row.sms_id));
      // Its own statement, whose snapshot sees the reports a relay committed while the release waited for their SMS's row.
      if (sent.length > 0) await client.query(RETRIED_ORPHANS, [now, sent]);
      // The attempt its lease was for counts (ClaimedMail.attempts): it may have delivered the mail; to a smarthost
      // (`$3`), twice, with a history line.
      const mail = await client.query<{ released: string }>(
        `WITH released AS (
          UPDATE mail_out SET lease_owner = NULL, next_attempt_at = LEAST(next_attempt_at, $1), attempts = attempts + 1,
            possible_duplicates = possible_duplicates + $3::int
          WHERE ${stale} RETURNING id, message_id
        ), resumed AS (
          INSERT INTO events (at, message_id, sms_id, kind, detail) SELECT $1, message_id, NULL, '${MAIL_RESUMED}', $4 FROM released WHERE $3::int = 1 ORDER BY id
        )
        SELECT count(*) AS released FROM released`,
        [now, owner, outgoing.possiblyTwice ? 1 : 0, MAIL_RESUMED_DETAIL],
      );
      return { sms: sms.rows.length - sent.length, mail: Number(mail.rows[0]?.released ?? 0) };
    });
  }

  async durability(): Promise<{ journalMode: string; synchronous: string; server: string }> {
    const row = await this.#row<{ server: string; synchronous: string }>(
      "SELECT current_setting('server_version') AS server, current_setting('synchronous_commit') AS synchronous",
    );
    return { journalMode: `sslmode=${this.#sslMode}`, synchronous: row?.synchronous ?? 'unknown', server: `PostgreSQL ${row?.server ?? '?'}` };
  }

  /** Where the store is, for operators: the URL without its password. */
  get location(): string {
    return redactUrl(this.#url);
  }

  purgeContent(before: number, now: number): Promise<number> {
    return this.#write(async (client) => {
      const byAge = [before];
      const statements: Array<readonly [string, readonly number[]]> = [
        [
          `UPDATE messages SET text = '', headers = '', subject = NULL
        WHERE received_at < $1 AND (text != '' OR headers != '')
          AND NOT EXISTS (SELECT 1 FROM outbound WHERE outbound.message_id = messages.id AND outbound.status = 'queued')`,
          byAge,
        ],
        [`UPDATE inbound SET text = '' WHERE received_at < $1 AND text != '' AND ${inboundFinished('$2')}`, [before, now - REPLY_BOUNCE_WINDOW_MS]],
        [`UPDATE sms_parts SET text = '', octets = NULL WHERE received_at < $1 AND text != '' AND ${PARTS_FINISHED}`, byAge],
        ['UPDATE conversations SET subject = NULL WHERE last_used_at < $1 AND subject IS NOT NULL', byAge],
        ["UPDATE mail_out SET raw = ''::bytea WHERE created_at < $1 AND status != 'queued' AND length(raw) > 0", byAge],
        ["UPDATE quarantine SET body = '', body_erased = 1 WHERE received_at < $1 AND body != ''", byAge],
      ];
      let changed = 0;
      for (const [sql, params] of statements) changed += (await client.query(sql, [...params])).rowCount ?? 0;
      return changed;
    });
  }

  async latestSmsTo(numbers: readonly string[], since: number): Promise<readonly LatestSms[]> {
    const rows = await this.#rows<Record<string, unknown>>(LATEST_SMS_TO_EACH, [numbers, since]);
    return rows.map(toLatestSms);
  }

  async queuedMailErrors(limit: number): Promise<QueuedMailError[]> {
    return (await this.#rows<Parameters<typeof toQueuedMailError>[0]>(queuedMailErrorsSql('$1'), [limit])).map(toQueuedMailError);
  }

  applyQueueAction(action: QueueAction, target: QueueTarget, now: number, by = OPERATOR): Promise<QueueActionDone> {
    // As SQLite's (sqlite-admin.ts): a retry or send now leaves a leased SMS, a delete one being sent (the gateway's answer
    // decides it), its lease judged by the database's clock as DUE judges it: a relay whose clock runs ahead must not take
    // an SMS another relay is sending.
    const change = {
      hold: "held = 1, updated_at = $1 WHERE status = 'queued' AND held = 0",
      release: "held = 0, updated_at = $1 WHERE status = 'queued' AND held = 1",
      retry: `next_attempt_at = $1, updated_at = $1 WHERE status = 'queued' AND held = 0 AND lease_owner IS NULL AND next_attempt_at > $1
        AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = outbound.message_id AND m.send_at > $1 AND ${waitsForSendAt('outbound', 'm')})`,
      'send now':
        "next_attempt_at = $1, updated_at = $1 WHERE status = 'queued' AND held = 0 AND lease_owner IS NULL AND next_attempt_at > $1 AND $2::text IS NOT NULL",
      delete: `status = 'failed', last_error = '${DELETED_BY_OPERATOR}', ${CUT_OFF_ATTEMPT_COUNTED('::int')}, lease_owner = NULL, updated_at = $1
        WHERE status = 'queued' AND ${notBeingSent(DB_NOW_MS)}`,
    }[action];
    const { message, sms } = queueTarget(target);
    const targeted = queueTargetSql('$2::text', '$3::bigint');
    const retry = action === 'retry' || action === 'send now';
    const values = [now, message, sms, `operator ${action}`, by];
    const changing = `WITH changed AS (UPDATE outbound SET ${change} AND ${targeted} RETURNING id, message_id),
      logged AS (INSERT INTO events (at, message_id, sms_id, kind, detail) SELECT $1, message_id, id, $4, $5 FROM changed ORDER BY id)`;
    return this.#queueing(retry || action === 'release' ? ['sms'] : [], async (client) => {
      if (retry) {
        // What it found due already and what it left for a lease (every leased one not held), as SQLite's DUE_LEFT and LEASED_LEFT,
        // read in the statement that retries, from the one snapshot its change was decided on: an SMS a relay claims meanwhile is
        // said once, due (as it was), never due and being sent too; those it changes were neither.
        const { rows } = await client.query<{ changed: number; due: string; leased: LeasedRow[] }>(
          `${changing}
          SELECT (SELECT count(*)::int FROM changed) AS changed, (${dueLeftSql('$1', targeted)}) AS due,
            (SELECT COALESCE(json_agg(left_leased ORDER BY left_leased.id), '[]') FROM (${leasedLeftSql(DB_NOW_MS, 'FALSE', targeted)}) left_leased) AS leased`,
          values,
        );
        const [done] = rows;
        return { changed: done?.changed ?? 0, due: Number(done?.due ?? 0), leased: (done?.leased ?? []).map(toLeasedSms) };
      }
      const { rowCount } = await client.query(`${changing} SELECT 1 FROM changed`, values);
      if (action === 'hold' || action === 'release') return { changed: rowCount ?? 0, due: 0, leased: [] };
      // What a delete left for a lease, as SQLite's LEASED_LEFT: those being sent, read after it (an SMS it deleted is failed, one it could
      // not take is still leased), so that one a relay claimed while it ran is said being sent.
      const { rows } = await client.query<LeasedRow>(leasedLeftSql(DB_NOW_MS, '$1', targeted), [true, message, sms]);
      return { changed: rowCount ?? 0, due: 0, leased: rows.map(toLeasedSms) };
    });
  }

  deleteQuarantined(which: QuarantineDeletion): Promise<number> {
    // With a count, the count and the deletion in one statement: one snapshot, so a request committed meanwhile is in
    // neither (below `through` or not) and the deletion takes exactly the requests counted, or none.
    const [sql, values] =
      'id' in which
        ? ['DELETE FROM quarantine WHERE id = $1', [which.id]]
        : which.through === undefined
          ? ['DELETE FROM quarantine', []]
          : ['DELETE FROM quarantine WHERE id <= $1 AND (SELECT COUNT(*) FROM quarantine WHERE id <= $1) = $2', [which.through, which.count]];
    return this.#write(async (client) => (await client.query(sql, values)).rowCount ?? 0);
  }

  setDispatchPaused(paused: boolean, now: number): Promise<void> {
    return this.#queueing(paused ? [] : ['sms'], async (client) => {
      if (paused) {
        await client.query("INSERT INTO control (key, value) VALUES ('dispatch_paused', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [
          String(now),
        ]);
      } else {
        await client.query("DELETE FROM control WHERE key = 'dispatch_paused'");
      }
    });
  }

  async repliesOfNumber(number: string, limit: number): Promise<ReceivedReply[]> {
    const rows = await this.#rows<ReplyOfNumberRow>(`${REPLIES_OF_NUMBER} WHERE i.number = $1 ORDER BY i.received_at DESC LIMIT $2`, [number, limit]);
    return rows.map(toReceivedReply);
  }

  async receivedReply(id: string): Promise<ReceivedReply | undefined> {
    const row = await this.#row<ReplyOfNumberRow>(`${REPLIES_OF_NUMBER} WHERE i.id = $1`, [id]);
    return row && toReceivedReply(row);
  }

  async messagesOfNumber(number: string, limit: number): Promise<string[]> {
    const rows = await this.#rows<{ message_id: string }>(
      'SELECT message_id FROM outbound WHERE number = $1 GROUP BY message_id ORDER BY MAX(id) DESC LIMIT $2',
      [number, limit],
    );
    return rows.map((row) => row.message_id);
  }

  /**
   * The opt-out checks asked together (a mail's RCPTs, a received SMS's) in one statement, sent with the other reads
   * of the turn of the event loop (TurnReads: the RCPTs of every SMTP session that arrived together, a received SMS's
   * repeat check and route): a round trip per recipient before, one per mail of the 2026-12-03 runs.
   */
  isOptedOut(number: string): Promise<boolean> {
    return this.#hearsOthers ? this.#notOptedOut.check(number, () => this.#askOptedOut(number)) : this.#askOptedOut(number);
  }

  async #askOptedOut(number: string): Promise<boolean> {
    this.#usable();
    return this.#turnReads.has(`SELECT number AS key FROM opt_outs WHERE number IN (${KEYS})`, [], number);
  }

  async optOutKeyword(number: string): Promise<string | undefined> {
    return (await this.#rows<{ keyword: string }>('SELECT keyword FROM opt_outs WHERE number = $1', [number]))[0]?.keyword;
  }

  quarantine(request: QuarantinedRequest): Promise<number> {
    return this.#write(async (client) => {
      const { rows } = await client.query<{ id: number }>(
        'INSERT INTO quarantine (received_at, provider, kind, reason, body) VALUES ($1, $2, $3, $4, $5) RETURNING id',
        [request.receivedAt, request.provider, request.kind, request.reason, quarantineColumn(request.body)],
      );
      return Number(rows[0]?.id);
    });
  }

  async undeliverableInboundById(id: string): Promise<UndeliverableInbound | undefined> {
    const row = await this.#row<UndeliverableRow>(`SELECT ${UNDELIVERABLE_COLUMNS} WHERE i.id = $1 AND i.mailbox IS NULL`, [id]);
    return row ? toUndeliverable(row) : undefined;
  }

  rerouteInbound(id: string, mailbox: string, mail: NewOutgoingMail, conversation?: ReroutedConversation): Promise<boolean> {
    return this.#queueing(['mail'], async (client) => {
      if ((await client.query('UPDATE inbound SET mailbox = $1 WHERE id = $2 AND mailbox IS NULL', [mailbox, id])).rowCount === 0) return false;
      if (conversation) {
        const { context, number, from, messageIdHeader } = conversation;
        await client.query('UPDATE conversations SET mailbox = $1 WHERE context = $2 AND number = $3 AND mailbox = $4', [mailbox, context, number, from]);
        await client.query('INSERT INTO conversation_mail (message_id_header, number, context) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [
          messageIdHeader,
          number,
          context,
        ]);
      }
      await insertMail(client, [mail], Date.now());
      return true;
    });
  }

  /** The report lock and the report's SMS with the group's other statements; what follows depends on whether it was found. */
  applyDeliveryReport(report: NewDeliveryReport): Promise<DeliveryReportResult> {
    // With a former id, both ids' locks, in the order send results take theirs (SMS_SENT): no deadlock with a group of them.
    const ids = report.formerId === undefined ? [report.providerId] : [report.providerId, report.formerId];
    return this.#write({
      statements: [
        // Waits for a send result of this SMS being committed; the next statement then sees it (REPORT_LOCK_CLASS).
        {
          text: `SELECT pg_advisory_xact_lock(${REPORT_LOCK_CLASS}, key) FROM (SELECT DISTINCT ${reportLockKey('id', '$2::text')} AS key FROM unnest($1::text[]) AS id ORDER BY key) keys`,
          values: [ids, report.number],
        },
        { text: REPORTED_SMS, values: [ids, report.number, report.messageId ?? null] },
      ],
      followUp: async ([, found], client) => {
        const row = found?.rows[0] as
          | (OutboundForReport & { provider_id: string | null; status: string; lease_owner: string | null; by_id: boolean })
          | undefined;
        // Kept under the id that found its SMS, so that a repeat is one and no orphan is left under the other.
        const keptUnder = row === undefined || !row.by_id ? report.providerId : (row.provider_id ?? report.providerId);
        // Queued, it is in flight or waits to be sent again (sqlite-replies.ts, applyReport): the report proves an attempt reached the gateway.
        const inFlight = row?.status === 'queued' && row.lease_owner !== null;
        if (inFlight) await client.query(REPORTED_IN_FLIGHT, [row.id, keptUnder, report.trackingId ?? null]);
        else if (row?.status === 'queued') {
          // Its report proves the attempt with no answer reached the gateway: sent, with the reports that came before this one.
          await client.query(SENT_BY_REPORT, [row.id, keptUnder, report.receivedAt, sentByReportDetail(keptUnder), report.trackingId ?? null]);
          await client.query(ADOPT_ORPHANS, [report.receivedAt, [row.id]]);
        }
        // In flight, the report is kept as an orphan: the attempt's outcome adopts it.
        const target = row && !inFlight ? { ...row, provider_id: keptUnder } : undefined;
        const forward = target !== undefined && isForward(target.delivery, report.state);
        const due = forward && wantsNotice(report.state, target.notify === null ? undefined : target.notify.split(','), target.report_all === 1);
        const [kept] = (
          await client.query<{ kept: number; advanced: number }>(REPORT_KEPT, [
            report.provider,
            keptUnder,
            report.number,
            report.code,
            report.state,
            report.receivedAt,
            target?.id ?? null,
            forward,
            due ? 1 : 0,
            reportDetail(report),
            report.said ?? null,
            target !== undefined && saysMore(target.delivery, report.state),
          ])
        ).rows;
        // The SMS it is about, when known: whose account sent it (DeliveryReportResult).
        const sms = target && { sms: { gatewayAccount: target.gateway_account ?? undefined } };
        if (kept?.kept === 0) return { kind: 'duplicate', ...sms };
        if (!target) return { kind: 'orphan' };
        return kept?.advanced === 1 ? { kind: 'advanced', ...advancedOf(target) } : { kind: 'stale', ...sms };
      },
    });
  }

  async numbersSentUnder(provider: string, providerId: string): Promise<string[]> {
    const rows = await this.#rows<{ number: string }>(
      'SELECT number FROM outbound WHERE provider_id = $2 UNION SELECT number FROM sent_parts WHERE provider = $1 AND part_id = $2 ORDER BY number',
      [provider, providerId],
    );
    return rows.map((row) => row.number);
  }

  expireOrphanReports(before: number): Promise<Readonly<Record<string, number>>> {
    return this.#write(async (client) =>
      countedByProvider(
        (await client.query<{ provider: string }>('DELETE FROM delivery_reports WHERE sms_id IS NULL AND received_at < $1 RETURNING provider', [before])).rows,
      ),
    );
  }

  async dueNotices(limit: number): Promise<DueNotice[]> {
    const rows = await this.#rows<ClaimedSmsRow & { delivery: DeliveryState; delivery_code: number; message: MessageRow }>(
      `SELECT o.id, o.message_id, o.number, o.rcpt, o.notify, o.orcpt, o.delivery, o.delivery_code, to_jsonb(m) AS message
      FROM outbound o JOIN messages m ON m.id = o.message_id WHERE o.notice_due = 1 ORDER BY o.id LIMIT $1`,
      [limit],
    );
    return rows.map((row) => ({
      smsId: row.id,
      message: toStoredMessage(row.message),
      recipient: toRecipient(row),
      state: row.delivery,
      code: row.delivery_code,
    }));
  }

  recordNotices(groups: readonly NoticeGroup[]): Promise<boolean[]> {
    const now = Date.now();
    return this.#queueing(groups.some((group) => group.mail) ? ['mail'] : [], async (client) => {
      const recorded: boolean[] = [];
      for (const { smsIds, mail } of groups) {
        // Skipped, not waited for, when another relay is recording some of them: it names them, this group is left.
        const still = await client.query('SELECT id FROM outbound WHERE id = ANY($1::bigint[]) AND notice_due = 1 FOR UPDATE SKIP LOCKED', [smsIds]);
        const whole = still.rowCount === new Set(smsIds).size;
        if (whole) {
          await client.query('UPDATE outbound SET notice_due = 0 WHERE id = ANY($1::bigint[])', [smsIds]);
          if (mail) await insertMail(client, [mail], now);
        }
        recorded.push(whole);
      }
      return recorded;
    });
  }

  async ping(): Promise<void> {
    await this.#rows('SELECT 1');
  }

  /**
   * While commits fail, the write probe (WRITE_PROBE_INSERT: as large as a mail's write, at most every
   * PROBE_INTERVAL_MS, one at a time) finds out whether mail would be taken again. /readyz waits for it at
   * most READY_PROBE_WAIT_MS: a database that does not answer at all would otherwise hold every health
   * check for the connect timeout; the probe goes on and its result serves the next one.
   */
  async probeWrites(): Promise<StoreHealth> {
    this.#startProbe();
    if (this.#writeProbe !== undefined) {
      let waited: NodeJS.Timeout | undefined;
      await Promise.race([this.#writeProbe, new Promise((resolve) => (waited = setTimeout(resolve, READY_PROBE_WAIT_MS)))]);
      clearTimeout(waited);
    }
    return this.#health;
  }

  /** Starts the write probe (probeWrites) when commits fail and no commit that tells was tried within PROBE_INTERVAL_MS (#lastTry). */
  #startProbe(): void {
    const now = Date.now();
    if (this.#health.state === 'ok' || !this.#ready || this.#writeProbe !== undefined || now - this.#lastTry < PROBE_INTERVAL_MS) return;
    this.#lastTry = now;
    this.#writeProbe = this.#write({
      // Its own transaction: failing on a full disk, it must not take a group's other writes with it.
      alone: true,
      // Base64 writes 4 characters for 3 bytes.
      statements: [{ text: WRITE_PROBE_INSERT, values: [randomBytes((WRITE_PROBE_BYTES * 3) / 4).toString('base64')] }, WRITE_PROBE_DELETE],
      result: () => this.#mailTaken(),
    })
      .catch((error: unknown) => {
        // A server failure the writer told already (onServerFailure); any other (a read-only standby's 25006)
        // is told here, so that the health names it rather than "writes not proven yet".
        const failure = error instanceof RelayError ? error.cause : error;
        if (!isServerFailure(failure)) this.#commitFailed(failure);
      })
      .finally(() => {
        this.#writeProbe = undefined;
      });
  }

  async waitingSms(messageId: string): Promise<ClaimedSms[]> {
    const rows = await this.#rows<ClaimedSmsRow>(
      "SELECT id, number, rcpt, notify, orcpt, attempts, last_error FROM outbound WHERE message_id = $1 AND status = 'queued' ORDER BY id",
      [messageId],
    );
    return rows.map(toClaimedSms);
  }

  async conversation(context: string, number: string): Promise<Conversation | undefined> {
    return toConversation(await this.#turnRow<ConversationRow>(CONVERSATION, [context, number]));
  }

  /** By the database's clock (see ReplyStore): the relays' own may be minutes apart. */
  async latestConversation(number: string, windowMs: number): Promise<Conversation | undefined> {
    return toConversation(await this.#turnRow<ConversationRow>(LATEST_CONVERSATION, [number, windowMs]));
  }

  async numbersOfTracking(tracking: string): Promise<string[]> {
    const rows = await this.#rows<{ number: string }>(
      'SELECT number FROM outbound WHERE tracking_id = $1 UNION SELECT number FROM conversations WHERE context = $1 ORDER BY number',
      [tracking],
    );
    return rows.map((row) => row.number);
  }

  async contextOfTracking(trackingId: string, number: string): Promise<string | undefined> {
    const row = await this.#turnRow<{ context: string | null }>(
      `SELECT m.user_context AS context FROM outbound o JOIN messages m ON m.id = o.message_id
      WHERE o.tracking_id = $1 AND o.number = $2 ORDER BY o.id DESC LIMIT 1`,
      [trackingId, number],
    );
    return row?.context ?? undefined;
  }

  async contextOfMail(messageIdHeaders: readonly string[], numbers: readonly string[]): Promise<string | undefined> {
    if (messageIdHeaders.length === 0 || numbers.length === 0) return undefined;
    // The first header (then number) that matches wins, as the caller ordered them.
    const row = await this.#row<{ context: string }>(
      `SELECT context FROM conversation_mail WHERE message_id_header = ANY($1::text[]) AND number = ANY($2::text[])
      ORDER BY array_position($1::text[], message_id_header), array_position($2::text[], number) LIMIT 1`,
      [messageIdHeaders, numbers],
    );
    return row?.context;
  }

  async isReplyMail(messageIdHeader: string): Promise<boolean> {
    const row = await this.#row<{ yes: number }>(
      `SELECT 1 AS yes FROM conversation_mail WHERE message_id_header = $1
      AND NOT EXISTS (SELECT 1 FROM messages WHERE message_id_header = $1) LIMIT 1`,
      [messageIdHeader],
    );
    return row !== undefined;
  }

  async answeredNumbers(context: string, messageIdHeaders: readonly string[], numbers: readonly string[]): Promise<string[]> {
    if (messageIdHeaders.length === 0 || numbers.length === 0) return [];
    const rows = await this.#rows<{ number: string }>(
      'SELECT DISTINCT number FROM conversation_mail WHERE context = $1 AND message_id_header = ANY($2::text[]) AND number = ANY($3::text[])',
      [context, messageIdHeaders, numbers],
    );
    return rows.map((row) => row.number);
  }

  async repliedIn(contexts: readonly string[], messageIdHeaders: readonly string[], numbers: readonly string[]): Promise<boolean> {
    if (numbers.length === 0 || (contexts.length === 0 && messageIdHeaders.length === 0)) return false;
    const row = await this.#row<{ yes: number }>(
      `SELECT 1 AS yes FROM inbound i JOIN mail_out m ON m.message_id = i.id AND m.kind = 'reply' AND m.status <> 'failed'
      WHERE i.number = ANY($3::text[]) AND i.context IN (
        SELECT unnest($1::text[])
        UNION SELECT context FROM conversation_mail WHERE message_id_header = ANY($2::text[]) AND number = ANY($3::text[]))
      LIMIT 1`,
      [contexts, messageIdHeaders, numbers],
    );
    return row !== undefined;
  }

  async sentReplies(context: string, numbers: readonly string[], limit: number): Promise<Buffer[]> {
    const rows = await this.#rows<{ raw: Buffer }>(
      `SELECT m.raw FROM inbound i JOIN mail_out m ON m.message_id = i.id AND m.kind = 'reply'
      WHERE i.context = $1 AND i.number = ANY($2::text[]) AND length(m.raw) > 0 AND m.status <> 'failed'
      ORDER BY array_position($2::text[], i.number), i.received_at DESC LIMIT $3`,
      [context, numbers, limit],
    );
    return rows.map((row) => row.raw);
  }

  /** With the other repeat checks of this turn of the same provider, in one statement (TurnReads.has). */
  async knowsInbound(provider: string, providerId: string): Promise<boolean> {
    this.#usable();
    return this.#turnReads.has(`SELECT provider_id AS key FROM inbound WHERE provider = $1 AND provider_id IN (${KEYS})`, [provider], providerId);
  }

  addPart(part: NewSmsPart): Promise<PartAdded> {
    return this.#write((client) => addPart(client, part));
  }

  /** A read of several statements, so one connection in one transaction (a consistent set with its parts). */
  overduePartSets(before: number, limit: number): Promise<PartSet[]> {
    return this.#write((client) => overduePartSets(client, before, limit));
  }

  closePartSet(id: number, closedAt: number): Promise<void> {
    return this.#write(async (client) => void (await client.query('UPDATE part_sets SET closed_at = $1 WHERE id = $2 AND closed_at IS NULL', [closedAt, id])));
  }

  expirePartSets(before: number): Promise<number> {
    return this.#write((client) => expirePartSets(client, before));
  }

  takeRate(principal: string, limits: RateLimitSettings, parts: number, now: number): Promise<RateTaken> {
    return this.#write((client) => shared.takeRate(shared.queryOf(client), principal, limits, parts, now));
  }

  releaseRate(id: number): Promise<void> {
    return this.#write((client) => shared.releaseRate(shared.queryOf(client), id));
  }

  authFailures(client: string, windowMs: number, now: number): Promise<number> {
    return shared.authFailures(this.#query, client, windowMs, now);
  }

  addAuthFailure(client: string, account: string, windowMs: number, now: number): Promise<number> {
    return this.#write((connection) => shared.addAuthFailure(shared.queryOf(connection), client, account, windowMs, now));
  }

  clearAuthFailures(client: string, account: string): Promise<void> {
    return this.#write((connection) => shared.clearAuthFailures(shared.queryOf(connection), client, account));
  }

  // The caller's clock needs no word: a stored instant in it is the stored value less the database clock's offset.
  pauseAccount(provider: string, reason: string, probeInMs: number, now: number): Promise<PauseChange> {
    return this.#write((client) => shared.pauseAccount(shared.queryOf(client), provider, reason, probeInMs, now));
  }

  claimProbe(provider: string, probeInMs: number, now: number): Promise<ProbeClaim> {
    return this.#write((client) => shared.claimProbe(shared.queryOf(client), provider, probeInMs, now));
  }

  releaseProbe(provider: string, now: number): Promise<void> {
    // A probe made due is SMS work: the relays hear of it at once (`queue retry`), not at their next look.
    return this.#queueing(['sms'], (client) => shared.releaseProbe(shared.queryOf(client), provider, now));
  }

  async resumeAccount(provider: string): Promise<{ readonly reason: string; readonly since: number } | undefined> {
    const ahead = await this.#databaseClock.ahead(this.#query);
    return this.#write((client) => shared.resumeAccount(shared.queryOf(client), provider, ahead));
  }

  markHostFailed(provider: string, endpoint: string, now: number): Promise<void> {
    return this.#write((client) => shared.markHostFailed(shared.queryOf(client), provider, endpoint, now));
  }

  markHostWorking(provider: string, endpoint: string): Promise<void> {
    return this.#write((client) => shared.markHostWorking(shared.queryOf(client), provider, endpoint));
  }

  pruneSharedState(now: number, failoverRecoveryMs: number): Promise<number> {
    return this.#write((client) => shared.pruneSharedState(shared.queryOf(client), now, failoverRecoveryMs));
  }

  rescheduleBeyond(now: number, longest: LongestWaits, stepMs: number, setSince: number): Promise<Rescheduled> {
    // What became due is the other relays' work too: they hear of it at once.
    return this.#queueing(['sms', 'mail'], (client) => rescheduleBeyond(shared.queryOf(client), now, longest, stepMs, setSince));
  }

  /** A single statement on the pool (no transaction), as the shared-state reads run it. */
  readonly #query: shared.Query = (sql, values) => this.#rows(sql, values);

  /** The database's clock against this relay's, one offset for every read of the shared state's times. */
  readonly #databaseClock = new shared.DatabaseClock();

  /** The reads operators make of the queue and its history (reads.ts), on the relay's pool: the CLI's; the console has its own. */
  readonly #reads = new PostgresReads(this.#query, this.#databaseClock);

  nextSmsDueAt(): Promise<number | undefined> {
    return this.#reads.nextSmsDueAt();
  }

  queueStats(now: number): Promise<QueueStats> {
    return this.#reads.queueStats(now);
  }

  listQueued(limit: number, afterSmsId?: number): Promise<QueuedSms[]> {
    return this.#reads.listQueued(limit, afterSmsId);
  }

  listQuarantine(limit: number, afterId?: number): Promise<QuarantineEntry[]> {
    return this.#reads.listQuarantine(limit, afterId);
  }

  quarantined(id: number): Promise<QuarantinedBody | undefined> {
    return this.#reads.quarantined(id);
  }

  quarantineSpan(): Promise<QuarantineSpan> {
    return this.#reads.quarantineSpan();
  }

  dispatchPausedSince(): Promise<number | undefined> {
    return this.#reads.dispatchPausedSince();
  }

  undeliverableInbound(limit: number, before?: InboundPosition): Promise<UndeliverableInbound[]> {
    return this.#reads.undeliverableInbound(limit, before);
  }

  events(messageId: string): Promise<StoredEvent[]> {
    return this.#reads.events(messageId);
  }

  smsOf(messageId: string): Promise<SmsState[]> {
    return this.#reads.smsOf(messageId);
  }

  gatewayState(): Promise<SharedGatewayState> {
    return this.#reads.gatewayState();
  }

  async knowsSender(sender: string): Promise<boolean> {
    return (await this.#row('SELECT 1 AS yes FROM inbound WHERE number = $1 LIMIT 1', [sender])) !== undefined;
  }

  async returnPathMailbox(inboundId: string, returnPath: string): Promise<string | undefined> {
    const mail = await this.#row<BouncedMailRow>(replyMailOfReturnPathSql('$1', '$2'), [inboundId, returnPath]);
    return mail && replyMailbox(mail);
  }

  bounceReplyMail(inboundId: string, returnPath: string, error: string): Promise<BouncedReply | undefined> {
    return this.#write(async (client) => {
      const found = await client.query<BouncedMailRow>(`${replyMailOfReturnPathSql('$1', '$2')} FOR UPDATE OF m`, [inboundId, returnPath]);
      const mail = found.rows[0];
      if (!mail) return undefined;
      const now = Date.now();
      const failed =
        (
          await client.query(
            "UPDATE mail_out SET status = 'failed', last_error = $1, lease_owner = NULL, updated_at = $2 WHERE id = $3 AND status <> 'failed'",
            [error, now, mail.id],
          )
        ).rowCount === 1;
      if (failed) {
        await client.query('UPDATE inbound SET mailbox = NULL WHERE id = $1', [inboundId]);
        await client.query("INSERT INTO events (at, message_id, sms_id, kind, detail) VALUES ($1, $2, NULL, 'mail failed', $3)", [now, inboundId, error]);
      }
      return bouncedReply(mail, !failed);
    }, []);
  }

  acceptInbound(inbound: NewInbound): Promise<{ duplicate: boolean }> {
    const route = inbound.route;
    // One statement for the SMS, its conversation's use and link, its reply mail with the mail's history line, and its opt-out or in (inboundText).
    const notices: Notice[] = route ? ['mail'] : [];
    // After a STOP the other relays forget the numbers they remembered as not opted out (isOptedOut), and so does this one.
    const stop = addsOptOut(inbound);
    if (stop) notices.push('opt-outs');
    const write = () =>
      this.#queueing(notices, {
        statements: [
          // A START and a provider's opt-out of its number (recordOptOut) one after the other: each sees the other's commit.
          ...(inbound.optOut?.action === 'start' ? [optOutLock(inbound.number)] : []),
          inboundStatement(inbound),
        ],
        result: (results) => ({ duplicate: (results.at(-1)?.rows[0] as { kept: number } | undefined)?.kept === 0 }),
      });
    return stop ? this.#notOptedOut.changing(write) : write();
  }

  recordOptOut(number: string, at: number, keyword: string): Promise<boolean> {
    // The other relays forget the numbers they remembered as not opted out, as after a STOP (acceptInbound).
    return this.#notOptedOut.changing(() =>
      this.#queueing(['opt-outs'], {
        statements: [
          // Waits for a START of the number in flight (acceptInbound), whose opt_ins row this statement then reads.
          optOutLock(number),
          {
            text: `WITH opted_in AS (SELECT 1 FROM opt_ins WHERE number = $1 AND since >= $2), kept AS (
              INSERT INTO opt_outs (number, since, keyword) SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM opted_in)
              ON CONFLICT (number) DO NOTHING
            )
            SELECT NOT EXISTS (SELECT 1 FROM opted_in) AS counted`,
            values: [number, at, keyword],
          },
        ],
        result: (results) => (results.at(-1)?.rows[0] as { counted: boolean } | undefined)?.counted === true,
      }),
    );
  }

  heartbeat(member: RelayMember, leaseTtlMs: number, held: HeldLeases): Promise<number> {
    const sent = Date.now();
    return this.#write({
      statements: heartbeatStatements(member, leaseTtlMs, held),
      result: (results) => {
        const row = results.at(-1)?.rows[0] as { others: number; now: number } | undefined;
        const others = row?.others !== 0;
        if (others && this.#othersAlive !== true) this.#wakes.hello();
        this.#othersAlive = others;
        return clockOffset(row?.now, sent, Date.now());
      },
    });
  }

  /**
   * The relays seen on the database at `url` whatever its schema (relaysSeenAsItIs), on a connection of
   * its own: `config check` on a database an older release runs, which no PostgresStore opens.
   */
  static async relaysSeenAsItIs(url: string, withinMs: number): Promise<RelaySeen[]> {
    const client = new pg.Client({ ...databaseUrl(url).pool, types: TYPES } as pg.ClientConfig);
    await client.connect();
    try {
      return await relaysSeenAsItIs(client, withinMs);
    } finally {
      await client.end();
    }
  }

  async relaysSeen(withinMs: number): Promise<RelaySeen[]> {
    this.#usable();
    try {
      return await relaysSeen(this.#pool, withinMs);
    } catch (error) {
      throw asStoreError(error);
    }
  }

  leaveCluster(member: RelayMember): Promise<void> {
    return this.#write((client) => leaveCluster(client, member));
  }

  /** Hears the other relays' notifications (notify.ts) on a connection of its own; stop it before closing the store. */
  recordSentParts(sent: SentParts): Promise<PartsOfSms> {
    return this.#write((client) => sentParts.recordSentParts(client, sent));
  }

  applyPartReceipt(receipt: PartReceipt): Promise<PartReceiptResult> {
    return this.#write((client) => sentParts.applyPartReceipt(client, receipt));
  }

  expireSentParts(before: number): Promise<number> {
    return this.#write((client) => sentParts.expireSentParts(client, before));
  }

  listenForWork(relayName: string, onWake: (queues: readonly WorkQueue[]) => void, logger: Logger): WorkListener {
    const listener = new WorkListener({
      connection: { ...databaseUrl(this.#url).pool, application_name: `smsrelay listener ${relayName}` } as pg.ClientConfig,
      tag: this.#wakeTag,
      onWake,
      onHeard: () => {
        this.#othersAlive = true;
      },
      onOptOuts: () => this.#notOptedOut.forget(),
      onListening: (listening) => {
        this.#hearsOthers = listening;
        this.#notOptedOut.forget();
      },
      logger,
    });
    listener.start();
    return listener;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#retry);
    await this.#writer.drained();
    await this.#wakes.sent();
    await this.#pool.end();
    this.#silence.stop();
  }
}

/** How many parameters queuedMail takes for its mail (queuedMailValues, in its order). */
const QUEUED_MAIL_VALUES = 7;

/**
 * The CTEs `queued` and `logged` of a statement that queues one outgoing mail (at most one per
 * once-key) with its history line, when `when` holds: the one place of that rule, for a mail queued
 * alone and for a reply mail queued with its received SMS. The time is the parameter `at`; the mail's
 * kind, message id, envelope sender, recipients (JSON), raw bytes, once-key and recipients as the
 * history line lists them are the seven parameters from `$first` on.
 */
function queuedMail(at: string, first: number, when = 'TRUE'): string {
  const [kind, messageId, envelopeFrom, recipients, raw, onceKey, recipientList] = Array.from(
    { length: QUEUED_MAIL_VALUES },
    (_, index) => `$${first + index}`,
  );
  return `queued AS (
    INSERT INTO mail_out (created_at, kind, message_id, envelope_from, recipients, raw, status, next_attempt_at, updated_at, once_key)
    SELECT ${at}, ${kind}, ${messageId}, ${envelopeFrom}, ${recipients}, ${raw}, 'queued', ${at}, ${at}, ${onceKey} WHERE ${when}
    ON CONFLICT (once_key) WHERE once_key IS NOT NULL DO NOTHING RETURNING id
  ), logged AS (
    INSERT INTO events (at, message_id, sms_id, kind, detail)
    SELECT ${at}, ${messageId}, NULL, ${kind} || ' queued', 'mail ' || id || ' to ' || ${recipientList} FROM queued
  )`;
}

const QUEUE_MAIL = `WITH ${queuedMail('$1', 2)} SELECT count(*) FROM queued`;
/** The same, with the mail the report is of (`$2`) after it in the transaction: queued unless that was a resubmission. */
const QUEUE_MAIL_UNLESS_RESUBMITTED = `WITH ${queuedMail('$1', 3, unlessResubmitted('$2'))} SELECT count(*) FROM queued`;
/** The count `$1` (rate_events) given back if the mail `$2` before it in the transaction was stored as a resubmission. */
const RELEASE_RATE_IF_RESUBMITTED = `DELETE FROM rate_events WHERE id = $1 AND NOT ${unlessResubmitted('$2')}`;
/** Each number's latest SMS (latestSmsTo), `$1` the numbers, `$2` the window's start: one indexed read per number. */
const LATEST_SMS_TO_EACH = `SELECT latest.* FROM unnest($1::text[]) AS t(number) CROSS JOIN LATERAL (${latestSmsTo('t.number', '$2')}) latest`;

/** A mail's parameters for queuedMail, in its order. */
const queuedMailValues = (mail: NewOutgoingMail): unknown[] => [
  mail.kind,
  mail.messageId ?? null,
  mail.envelopeFrom,
  JSON.stringify(mail.recipients),
  mail.raw,
  mail.onceKey ?? null,
  mail.recipients.join(', '),
];

/**
 * What a received SMS's statement (inboundText) does besides keeping the SMS: only the parts its SMS needs. The
 * server initialises every part of a statement's plan at each execution, run or not (accept.ts), so one text
 * with every part made each SMS pay for a conversation's use and link, a reply mail, a STOP's and a START's
 * writes, opening their tables and indexes to find they had nothing to do: the usual SMS (a mailbox, no
 * conversation, no keyword) needs itself and its reply mail with its line, and paid for five writes more.
 */
interface InboundShape {
  /** It has a mailbox: its reply mail is queued with its history line. */
  readonly routed: boolean;
  /** It continues a conversation: the conversation's use and the reply mail's link to it. */
  readonly conversation: boolean;
  readonly optOut: 'stop' | 'start' | undefined;
}

/**
 * The statement of a received SMS of `shape`, each write after the SMS only once it was kept (a repeat of its
 * provider id keeps nothing and does nothing else). Its values (inboundStatement): `$1`–`$10` the SMS's columns
 * (its mailbox and context null without a route), then for a conversation the reply mail's Message-ID, for a
 * route the reply mail's (queuedMail), for a STOP its keyword. Its one row says whether the SMS was kept.
 */
function inboundText(shape: InboundShape): string {
  let next = 11;
  const parts = [
    `kept AS (
    INSERT INTO inbound (id, provider, provider_id, number, text, sent_at, user_context, received_at, mailbox, context)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (provider, provider_id) DO NOTHING RETURNING id
  )`,
  ];
  const ifKept = 'EXISTS (SELECT 1 FROM kept)';
  if (shape.conversation)
    parts.push(
      `used AS (
    UPDATE conversations SET last_used_at = ${conversationUsedAt('$4')} WHERE context = $10 AND number = $4 AND ${ifKept}
  )`,
      `linked AS (
    INSERT INTO conversation_mail (message_id_header, number, context) SELECT $${next++}, $4, $10 WHERE ${ifKept} ON CONFLICT DO NOTHING
  )`,
    );
  if (shape.routed) {
    parts.push(queuedMail('$8', next, ifKept));
    next += QUEUED_MAIL_VALUES;
  }
  if (shape.optOut === 'stop')
    parts.push(`opted_out AS (
    INSERT INTO opt_outs (number, since, keyword) SELECT $4, $8, $${next++} WHERE ${ifKept} ON CONFLICT (number) DO NOTHING
  )`);
  if (shape.optOut === 'start')
    parts.push(
      `opted_in AS (
    DELETE FROM opt_outs WHERE number = $4 AND ${ifKept}
  )`,
      `opted_in_at AS (
    INSERT INTO opt_ins (number, since) SELECT $4, $8 WHERE ${ifKept}
    ON CONFLICT (number) DO UPDATE SET since = GREATEST(opt_ins.since, excluded.since)
  )`,
    );
  return `WITH ${parts.join(', ')}\n  SELECT count(*)::int AS kept FROM kept`;
}

/** Each shape's text (inboundText), built once, by its key. */
const INBOUND_TEXTS = new Map<string, string>();

/** The statement that keeps `inbound` with what its route and keyword need (inboundText). Exported for bench/statement-cpu.ts. */
export function inboundStatement(inbound: NewInbound): Statement {
  const route = inbound.route;
  const shape: InboundShape = { routed: route !== undefined, conversation: route?.context !== undefined, optOut: inbound.optOut?.action };
  const key = `${shape.routed} ${shape.conversation} ${shape.optOut}`;
  let text = INBOUND_TEXTS.get(key);
  if (text === undefined) {
    text = inboundText(shape);
    INBOUND_TEXTS.set(key, text);
  }
  const values: unknown[] = [
    inbound.id,
    inbound.provider,
    inbound.providerId,
    inbound.number,
    inbound.text,
    inbound.sentAt ?? null,
    inbound.userContext ?? null,
    inbound.receivedAt,
    route?.mailbox ?? null,
    route?.context ?? null,
  ];
  if (shape.conversation) values.push(route?.messageIdHeader ?? null);
  if (route) values.push(...queuedMailValues(route.mail));
  if (inbound.optOut?.action === 'stop') values.push(inbound.optOut.keyword);
  return { text, values };
}

/** Queues mail (at most one per once-key) with its history line: one statement per mail. */
function mailStatements(mail: readonly NewOutgoingMail[], now: number): Statement[] {
  return mail.map((item) => ({ text: QUEUE_MAIL, values: [now, ...queuedMailValues(item)] }));
}

/** As mailStatements, on a write's connection. */
async function insertMail(client: Client, mail: readonly NewOutgoingMail[], now: number): Promise<void> {
  for (const { text, values } of mailStatements(mail, now)) await client.query(text, values as unknown[]);
}

function describe(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return describe(error.errors[0]);
  const words = error instanceof Error ? error.message || (error as NodeJS.ErrnoException).code || error.name : String(error);
  // Frees itself only if other clients leave: when the relays' pools alone want more, only the operator can end it.
  if ((error as { code?: string }).code === TOO_MANY_CONNECTIONS)
    return `${words}: every connection slot of the server is taken; the relay keeps trying, but unless other clients leave, raise the server's max_connections to at least ${POOL_MAX_CONNECTIONS} per relay (more with the console on: docs/console.md) plus the other clients' connections, or run fewer relays on it`;
  return words;
}

/**
 * node-postgres's error (no SQLSTATE: the server answered the TLS request with a plain "no") when the
 * URL's sslmode asks for TLS of a server that has none: no retry fixes it, as no retry fixes a wrong password.
 */
const NO_TLS = 'The server does not support SSL connections';
/**
 * Node's codes for a server certificate that fails the check `sslmode=verify-ca`/`verify-full` asks for:
 * a CA or a name to fix, or a certificate to renew, which no retry cures.
 */
const CERTIFICATE_REFUSALS: ReadonlySet<string> = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * The database's answers that pass with time, though the server answered (SQLSTATE, or Node's code for a
 * certificate outside its dates by this machine's clock), each with what a start that met one waits for.
 * Met by a step of the upgrade, they roll the upgrade back whole, which the next try runs again.
 */
const PASSING_FAILURES: ReadonlyMap<string, string> = new Map([
  ['57014', "a statement to finish within the server's statement_timeout (another session's work slowed it)"],
  // An upgrade step's lock_timeout is its own (migrate.ts), naming who holds the lock; a statement's outside the upgrade the server's.
  ['55P03', "a lock another session holds on the store's tables, held past lock_timeout"],
  ['40P01', 'a deadlock with another session, which the server broke'],
  ['40001', "a serialization failure with another session's transaction"],
  ['25006', 'the server to take writes: it is read-only (a standby; in a failover, the name may still point at it)'],
  ['CERT_NOT_YET_VALID', "the server's certificate to be valid by this machine's clock (not yet valid: a clock not synced yet)"],
  ['CERT_HAS_EXPIRED', "the server's certificate to be valid by this machine's clock (expired: a renewal in progress, or a clock not synced yet)"],
]);

/** What the store waits for after a connect's failure a retry cures (not a startRefusal), and the failure it met. */
interface StartWait {
  readonly waitingFor: string;
  /** The server's own failure when an upgrade step or onConnected's write met it, so that health names what the server said (and its code). */
  readonly failure: unknown;
}

/**
 * A connect's failure a retry cures, whether the first connect's or one after an outage: one of the
 * PASSING_FAILURES, the server short of room to write (isStoreFault), or the server or the way to it (a
 * connection refused, reset or lost, too many connections, the server starting or shutting down), also when
 * a step of the upgrade met it (the first two also when onConnected's writes did);
 * undefined for any other failure of a step (a MigrationError: the step itself fails, which no retry
 * cures; without a cause, a store no step may run on: untraceableSchema).
 */
function startWait(error: unknown): StartWait | undefined {
  // The server's own error: what a step met (MigrationError), or the start's own writes (the first heartbeat: the store's RelayError).
  const failure = error instanceof MigrationError || error instanceof RelayError ? error.cause : error;
  if (failure === undefined) return undefined;
  const code = (failure as { code?: string }).code ?? '';
  // A step too slow for the server's statement_timeout is as slow at the next try: a refusal naming the setting (migrate.ts).
  if (error instanceof MigrationError && code === STATEMENT_TIMEOUT) return undefined;
  const passing = PASSING_FAILURES.get(code);
  if (passing) return { waitingFor: passing, failure };
  // The server's own shortage (a full disk, out of memory), met by a step or by onConnected's writes, waits for room as any commit does.
  if (isStoreFault(failure)) return { waitingFor: ROOM_TO_WRITE, failure };
  if (!(error instanceof MigrationError)) return undefined;
  return isConnectionError(failure) ? { waitingFor: REACHABLE, failure } : undefined;
}

/**
 * The shortest time between two warnings naming who holds a lock an upgrade step waits for: sessions that come and go
 * (a report every few seconds) are named as they change, not at each of the first tries, which are 1 s, 2 s, 4 s … apart.
 */
const HOLDERS_TOLD_EVERY_MS = 10_000;

/** What a store that cannot reach the database waits for. */
const REACHABLE = 'the database to be reachable';
/** What a store whose server is short of disk or memory waits for. */
const ROOM_TO_WRITE = 'the database server to have room to write (disk, memory)';

/**
 * What a connect's failure refuses the start with, whether it is the first connect or one after an outage
 * at start: the database's refusal for good (StoreConfigError: configProblem), the relay's own checks'
 * (ClusterError), no store where none may be made (NoStoreError); undefined for a failure a retry may
 * cure (startWait, and the server or the way to it, which every other failure is taken for).
 */
function startRefusal(error: unknown): Error | undefined {
  if (error instanceof NoStoreError || error instanceof ClusterError) return error;
  const problem = configProblem(error);
  return problem === undefined ? undefined : new StoreConfigError(problem, { cause: error });
}

/** Why the database refuses us for good, with the fix where it is ours to name; undefined for a failure a retry may cure. */
export function configProblem(error: unknown): string | undefined {
  if (startWait(error)) return undefined;
  if (
    error instanceof SchemaError ||
    error instanceof OlderSchemaError ||
    error instanceof MigrationError ||
    CONFIG_SQLSTATES.has((error as { code?: string }).code ?? '')
  )
    return describe(error);
  if (error instanceof Error && error.message === NO_TLS) {
    return `${NO_TLS}: turn TLS on at the server (ssl = on), or, on a network you trust, add sslmode=disable to the URL`;
  }
  if (CERTIFICATE_REFUSALS.has((error as { code?: string }).code ?? '')) {
    return `the server's certificate does not pass sslmode's check (${(error as Error).message}): name the CA that signed it with sslrootcert=<file>, reach the server by a name its certificate carries, or renew it`;
  }
  return undefined;
}

/** too_many_connections: refused at connect, every slot of the server's max_connections taken; no connection to keep. */
const TOO_MANY_CONNECTIONS = '53300';

/**
 * The server or the way to it failed (refused, reset, timed out, shutting down, too many connections at
 * connect): the connection is broken, and the store is failing until a commit succeeds. Anything else (a
 * constraint, a bad value) is this write's own problem and says nothing of the store's health; the
 * server short of its resources on a working connection is isStoreFault.
 */
function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: string }).code ?? '';
  // 26000: a statement this connection prepared is gone (a proxy that does not keep them): the connection goes.
  if (/^(08|57P|58)/.test(code) || code === TOO_MANY_CONNECTIONS || code === '26000') return true;
  if (/^[0-9A-Z]{5}$/.test(code)) return false;
  return true;
}

/**
 * The server cannot do the work for want of its own resources (class 53 but too_many_connections: a full
 * disk 53100, out of memory 53200, insufficient_resources 53000) on a connection that works: the store is
 * failing until a mail's commit or the write probe succeeds, but the connection stays (closing it on a full
 * disk made each commit open a new server session), and the writes that fit still commit (group-writer.ts).
 */
function isStoreFault(error: unknown): boolean {
  const code = (error as { code?: string }).code ?? '';
  return code.startsWith('53') && code !== TOO_MANY_CONNECTIONS;
}

/** The store's health fails for it: the connection's fault or the server's (a retry may cure either), not one write's own. */
const isServerFailure = (error: unknown) => isConnectionError(error) || isStoreFault(error);
