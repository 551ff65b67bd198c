/**
 * ClockStepStore on SQLite (src/store/clock-step-types.ts): one process uses the file, so every due time,
 * a lease's and a pause's too, is on the relay's (injected) clock. Runs inside the store's write transaction.
 */
import type { Database } from 'better-sqlite3';
import { FAILED_AFTER_NOW_MS, type LongestWaits, type Rescheduled } from './clock-step-types.ts';

/** A never-tried SMS due at its mail's `sendAt`: the sender's time, which no clock step moves. */
const AT_SENDERS_TIME = 'attempts = 0 AND next_attempt_at = (SELECT m.send_at FROM messages m WHERE m.id = outbound.message_id)';

export function prepareClockStepStatements(db: Database) {
  return {
    sms: db.prepare(
      `UPDATE outbound SET next_attempt_at = @now WHERE status = 'queued' AND lease_owner IS NULL AND next_attempt_at > @now + @smsMs AND NOT (${AT_SENDERS_TIME})`,
    ),
    smsLeases: db.prepare(
      "UPDATE outbound SET next_attempt_at = @now + @leaseMs WHERE status = 'queued' AND lease_owner IS NOT NULL AND next_attempt_at > @now + @leaseMs",
    ),
    mail: db.prepare("UPDATE mail_out SET next_attempt_at = @now WHERE status = 'queued' AND lease_owner IS NULL AND next_attempt_at > @now + @mailMs"),
    mailLeases: db.prepare(
      "UPDATE mail_out SET next_attempt_at = @now + @leaseMs WHERE status = 'queued' AND lease_owner IS NOT NULL AND next_attempt_at > @now + @leaseMs",
    ),
    probes: db.prepare('UPDATE gateway_pauses SET next_probe_at = @now WHERE next_probe_at > @now + @probeMs'),
    hosts: db.prepare(`UPDATE gateway_host_failures SET failed_at = @now WHERE failed_at > @now + ${FAILED_AFTER_NOW_MS}`),
  };
}

export type ClockStepStatements = ReturnType<typeof prepareClockStepStatements>;

/** Runs inside a write transaction. */
export function rescheduleBeyond(sql: ClockStepStatements, now: number, longest: LongestWaits): Rescheduled {
  const values = { now, ...longest };
  return {
    sms: sql.sms.run(values).changes,
    mail: sql.mail.run(values).changes,
    leases: sql.smsLeases.run(values).changes + sql.mailLeases.run(values).changes,
    probes: sql.probes.run(values).changes,
    hosts: sql.hosts.run(values).changes,
  };
}
