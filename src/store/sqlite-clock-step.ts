/**
 * ClockStepStore on SQLite (src/store/clock-step-types.ts): one process uses the file, so every due time,
 * a lease's and a pause's too, is on the relay's (injected) clock. Runs inside the store's write transaction.
 */
import type { Database } from 'better-sqlite3';
import { aheadBy, FAILED_AFTER_NOW_MS, type LongestWaits, type Rescheduled } from './clock-step-types.ts';

/**
 * A never-tried SMS due at its mail's `sendAt`: the sender's time, which no clock step moves. `IS`, not `=`: most
 * mail has no `sendAt`, and `NOT (… = NULL)` is NULL, which kept every never-tried SMS (held behind a pause, new)
 * where the step left it. A tried SMS is past its send time, and its mail is not read.
 */
const AT_SENDERS_TIME = 'attempts = 0 AND next_attempt_at IS (SELECT m.send_at FROM messages m WHERE m.id = outbound.message_id)';

/**
 * Not set after the step (ClockStepStore.rescheduleBeyond's `setSince`): a retry the relay stored since on the new
 * clock lies no further ahead than it meant.
 */
const SET_BEFORE_STEP = 'NOT (@stepMs > 0 AND updated_at BETWEEN @setSince AND @now)';

/** `column` less the step, never before now; then, still beyond `longest`, now. */
const brought = (column: string, longest: string) => `CASE WHEN ${column} - @stepMs > @now + ${longest} THEN @now ELSE max(@now, ${column} - @stepMs) END`;

export function prepareClockStepStatements(db: Database) {
  return {
    sms: db.prepare(
      `UPDATE outbound SET next_attempt_at = ${brought('next_attempt_at', '@smsMs')}
       WHERE status = 'queued' AND lease_owner IS NULL AND next_attempt_at > @now + @smsAhead AND NOT (${AT_SENDERS_TIME}) AND ${SET_BEFORE_STEP}`,
    ),
    smsLeases: db.prepare(
      "UPDATE outbound SET next_attempt_at = @now + @leaseMs WHERE status = 'queued' AND lease_owner IS NOT NULL AND next_attempt_at > @now + @leaseMs",
    ),
    mail: db.prepare(
      `UPDATE mail_out SET next_attempt_at = ${brought('next_attempt_at', '@mailMs')}
       WHERE status = 'queued' AND lease_owner IS NULL AND next_attempt_at > @now + @mailAhead AND ${SET_BEFORE_STEP}`,
    ),
    mailLeases: db.prepare(
      "UPDATE mail_out SET next_attempt_at = @now + @leaseMs WHERE status = 'queued' AND lease_owner IS NOT NULL AND next_attempt_at > @now + @leaseMs",
    ),
    probes: db.prepare(`UPDATE gateway_pauses SET next_probe_at = ${brought('next_probe_at', '@probeMs')} WHERE next_probe_at > @now + @probeAhead`),
    hosts: db.prepare(`UPDATE gateway_host_failures SET failed_at = @now WHERE failed_at > @now + ${FAILED_AFTER_NOW_MS}`),
  };
}

export type ClockStepStatements = ReturnType<typeof prepareClockStepStatements>;

/** Runs inside a write transaction. */
export function rescheduleBeyond(sql: ClockStepStatements, now: number, longest: LongestWaits, stepMs: number, setSince: number): Rescheduled {
  const values = {
    now,
    stepMs,
    setSince,
    ...longest,
    smsAhead: aheadBy(longest.smsMs, stepMs),
    mailAhead: aheadBy(longest.mailMs, stepMs),
    probeAhead: aheadBy(longest.probeMs, stepMs),
  };
  return {
    sms: sql.sms.run(values).changes,
    mail: sql.mail.run(values).changes,
    leases: sql.smsLeases.run(values).changes + sql.mailLeases.run(values).changes,
    probes: sql.probes.run(values).changes,
    hosts: sql.hosts.run(values).changes,
  };
}
