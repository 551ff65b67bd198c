import {
  type QuarantineBodyRow,
  type QuarantineRow,
  quarantinedBody,
  quarantineEntry,
  type LeasedRow,
  dueLeftSql,
  leasedLeftSql,
  notBeingSent,
  CUT_OFF_ATTEMPT_COUNTED,
  type QueuedRow,
  queuedColumns,
  queueTarget,
  queueTargetSql,
  toLeasedSms,
  type ReplyOfNumberRow,
  toQueuedSms,
  REPLIES_OF_NUMBER,
  toReceivedReply,
  waitsForSendAt,
  quarantineBytesSql,
} from './rows.ts';
import type { Database } from 'better-sqlite3';
import {
  DELETED_BY_OPERATOR,
  type QuarantinedBody,
  type QuarantineEntry,
  type QueueAction,
  type QueueActionDone,
  type QueuedSms,
  type QueueStats,
  type QueueTarget,
  type ReceivedReply,
} from './types.ts';

/** A kept body's size as received (rows.ts quarantineBytesSql), in SQLite's bytes of its text. */
const QUARANTINE_BYTES = quarantineBytesSql('length(CAST(body AS BLOB))');

/** A queued SMS not held that waits for its send time, still ahead (`@now`): counted apart, its age from that time. */
const SCHEDULED = `o.held = 0 AND m.send_at > @now AND ${waitsForSendAt('o', 'm')}`;

/** A queue action's target (QueueTarget). */
const TARGET = queueTargetSql('@message', '@sms');

/**
 * The host's clock, as SQLite reads it: what the queue's reads and actions judge leases by (QueuedSms.beingSent), as
 * PostgreSQL's judge them by the database's. One host holds the file, its relay and its CLI: their clocks are this one,
 * while the `now` a caller passes may be a console's or a test's own.
 */
export const SQLITE_NOW_MS = "CAST(unixepoch('subsec') * 1000 AS INTEGER)";

/**
 * A LIMIT of the bound parameter `param` (`?`, `@limit`), as the SQLite store's statements write it. Given the bare
 * parameter, SQLite's planner reads its value and the statement is compiled again each time it is bound, which
 * better-sqlite3 does at every run: ~15 µs of the store thread per run, for a plan the value does not change
 * (#15, measured in one process: 20 µs per run of a claim's branch against 4 µs with this form). The unary plus
 * is a value the planner does not read.
 */
export const sqliteLimit = (param: string): string => `LIMIT +${param}`;

/** What operators ask of the store (`smsrelay status | log | queue`, `/metrics`). */
export function prepareAdminStatements(db: Database) {
  return {
    smsStats: db.prepare(`
      SELECT COUNT(*) FILTER (WHERE held = 0) AS queued, COUNT(*) FILTER (WHERE held = 1) AS held,
        COUNT(*) FILTER (WHERE ${SCHEDULED}) AS scheduled, MIN(m.send_at) FILTER (WHERE ${SCHEDULED}) AS next_scheduled,
        MIN(MAX(m.received_at, COALESCE(m.send_at, 0))) AS oldest
      FROM outbound o JOIN messages m ON m.id = o.message_id WHERE o.status = 'queued'`),
    mailStats: db.prepare("SELECT COUNT(*) AS queued, MIN(created_at) AS oldest FROM mail_out WHERE status = 'queued'"),
    undeliverableCount: db.prepare('SELECT COUNT(*) AS n FROM inbound WHERE mailbox IS NULL'),
    quarantineCount: db.prepare('SELECT COUNT(*) AS n FROM quarantine'),
    quarantineList: db.prepare(
      `SELECT id, received_at, provider, kind, reason, ${QUARANTINE_BYTES} AS bytes, body_erased FROM quarantine WHERE id > ? ORDER BY id ${sqliteLimit('?')}`,
    ),
    quarantineOne: db.prepare(`SELECT id, received_at, provider, kind, reason, ${QUARANTINE_BYTES} AS bytes, body, body_erased FROM quarantine WHERE id = ?`),
    quarantineSpan: db.prepare('SELECT COUNT(*) AS count, MAX(id) AS newest_id FROM quarantine'),
    quarantineDelete: db.prepare('DELETE FROM quarantine WHERE id = @id'),
    quarantineDeleteAll: db.prepare('DELETE FROM quarantine'),
    // What the confirmation showed, or nothing: the count and the deletion in one statement, so one snapshot.
    quarantineDeleteThrough: db.prepare('DELETE FROM quarantine WHERE id <= @through AND (SELECT COUNT(*) FROM quarantine WHERE id <= @through) = @count'),
    queued: db.prepare(`
      SELECT ${queuedColumns(SQLITE_NOW_MS)}
      FROM outbound o JOIN messages m ON m.id = o.message_id WHERE o.status = 'queued' AND o.id > ? ORDER BY o.id ${sqliteLimit('?')}`),
    hold: db.prepare(`UPDATE outbound SET held = 1, updated_at = @now WHERE status = 'queued' AND held = 0 AND ${TARGET} RETURNING id, message_id`),
    release: db.prepare(`UPDATE outbound SET held = 0, updated_at = @now WHERE status = 'queued' AND held = 1 AND ${TARGET} RETURNING id, message_id`),
    // Only SMS whose next attempt is ahead: one due already is sent at the next claim as it is (QueueActionDone.due).
    retry: db.prepare(`
      UPDATE outbound SET next_attempt_at = @now, updated_at = @now
      WHERE status = 'queued' AND held = 0 AND lease_owner IS NULL AND next_attempt_at > @now AND ${TARGET}
        AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = outbound.message_id AND m.send_at > @now AND ${waitsForSendAt('outbound', 'm')})
      RETURNING id, message_id`),
    sendNow: db.prepare(`
      UPDATE outbound SET next_attempt_at = @now, updated_at = @now
      WHERE status = 'queued' AND held = 0 AND lease_owner IS NULL AND next_attempt_at > @now AND @message IS NOT NULL AND ${TARGET} RETURNING id, message_id`),
    dueLeft: db.prepare(dueLeftSql('@now', TARGET)),
    // An ended lease still held is an attempt whose answer was lost (CUT_OFF_ATTEMPT_COUNTED).
    remove: db.prepare(`
      UPDATE outbound SET status = 'failed', last_error = '${DELETED_BY_OPERATOR}', ${CUT_OFF_ATTEMPT_COUNTED('')}, lease_owner = NULL, updated_at = @now
      WHERE status = 'queued' AND ${notBeingSent(SQLITE_NOW_MS)} AND ${TARGET} RETURNING id, message_id`),
    leasedLeft: db.prepare(leasedLeftSql(SQLITE_NOW_MS, "@action = 'delete'", TARGET)),
    actionEvent: db.prepare('INSERT INTO events (at, message_id, sms_id, kind, detail) VALUES (?, ?, ?, ?, ?)'),
    pause: db.prepare("INSERT INTO control (key, value) VALUES ('dispatch_paused', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
    resume: db.prepare("DELETE FROM control WHERE key = 'dispatch_paused'"),
    paused: db.prepare("SELECT value FROM control WHERE key = 'dispatch_paused'"),
    messagesOfNumber: db.prepare(`SELECT DISTINCT message_id FROM outbound WHERE number = ? ORDER BY id DESC ${sqliteLimit('?')}`),
    repliesOfNumber: db.prepare(`${REPLIES_OF_NUMBER} WHERE i.number = ? ORDER BY i.received_at DESC ${sqliteLimit('?')}`),
    receivedReply: db.prepare(`${REPLIES_OF_NUMBER} WHERE i.id = ?`),
  };
}

export type AdminStatements = ReturnType<typeof prepareAdminStatements>;

export function queueStats(sql: AdminStatements, now: number): QueueStats {
  const sms = sql.smsStats.get({ now }) as { queued: number; held: number; scheduled: number; next_scheduled: number | null; oldest: number | null };
  const mail = sql.mailStats.get() as { queued: number; oldest: number | null };
  const age = (oldest: number | null) => (oldest === null ? 0 : Math.max(0, Math.round((now - oldest) / 1000)));
  return {
    sms: { queued: sms.queued, held: sms.held, scheduled: sms.scheduled, nextScheduledAt: sms.next_scheduled ?? undefined, oldestAgeSeconds: age(sms.oldest) },
    mail: { queued: mail.queued, oldestAgeSeconds: age(mail.oldest) },
    undeliverableInbound: (sql.undeliverableCount.get() as { n: number }).n,
    quarantined: (sql.quarantineCount.get() as { n: number }).n,
  };
}

export function listQueued(sql: AdminStatements, limit: number, afterSmsId: number): QueuedSms[] {
  return (sql.queued.all(afterSmsId, limit) as QueuedRow[]).map(toQueuedSms);
}

/** Applies an operator's action to one message's queued SMS, one SMS or all (QueueTarget): what it changed and left (QueueActionDone). */
export function applyQueueAction(sql: AdminStatements, action: QueueAction, target: QueueTarget, now: number, by: string): QueueActionDone {
  const statement = { hold: sql.hold, release: sql.release, retry: sql.retry, 'send now': sql.sendNow, delete: sql.remove }[action];
  const named = { now, ...queueTarget(target) };
  // Before the action, which makes what it changes due too.
  const due = action === 'retry' || action === 'send now' ? (sql.dueLeft.get(named) as { n: number }).n : 0;
  const changed = statement.all(named) as Array<{ id: number; message_id: string }>;
  for (const row of changed) sql.actionEvent.run(now, row.message_id, row.id, `operator ${action}`, by);
  const leased = action === 'hold' || action === 'release' ? [] : (sql.leasedLeft.all({ ...named, action }) as LeasedRow[]).map(toLeasedSms);
  return { changed: changed.length, due, leased };
}

export function listQuarantine(sql: AdminStatements, limit: number, afterId: number): QuarantineEntry[] {
  return (sql.quarantineList.all(afterId, limit) as QuarantineRow[]).map(quarantineEntry);
}

export function quarantinedRequest(sql: AdminStatements, id: number): QuarantinedBody | undefined {
  const row = sql.quarantineOne.get(id) as QuarantineBodyRow | undefined;
  return row && quarantinedBody(row);
}

export function repliesOfNumber(sql: AdminStatements, number: string, limit: number): ReceivedReply[] {
  return (sql.repliesOfNumber.all(number, limit) as ReplyOfNumberRow[]).map(toReceivedReply);
}

export function receivedReply(sql: AdminStatements, id: string): ReceivedReply | undefined {
  const row = sql.receivedReply.get(id) as ReplyOfNumberRow | undefined;
  return row && toReceivedReply(row);
}
