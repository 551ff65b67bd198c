/**
 * ClockStepStore on PostgreSQL (src/store/clock-step-types.ts). A retry's due time is the relay's clock (`$1`),
 * as the relays schedule it, and comes the step sooner; a lease's end and a pause's probe are the database's, as
 * they are set (DB_NOW_MS, clusterNow): a relay whose clock stepped back moves none of them, but a database whose
 * clock stepped back would, and the same bounds bring those back.
 */
import { aheadBy, FAILED_AFTER_NOW_MS, type LongestWaits, type Rescheduled } from '../clock-step-types.ts';
import { DB_NOW_MS } from './clock.ts';
import { clusterNow, type Query, skewOf } from './shared-state.ts';

/**
 * Not a never-tried SMS due at its mail's `sendAt` (the sender's time, which no clock step moves). NULL-safe: most
 * mail has no `sendAt`, and `NOT (… = NULL)` kept every never-tried SMS (held behind a pause, new) where the step
 * left it. Only a never-tried SMS reads its mail, by key: no pass over every message.
 */
const NOT_AT_SENDERS_TIME = `(o.attempts > 0 OR NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = o.message_id AND m.send_at = o.next_attempt_at))`;

/**
 * Not set after the step (ClockStepStore.rescheduleBeyond's `setSince`, `$10`): a retry a relay stored since on the
 * new clock lies no further ahead than it meant.
 */
const setBeforeStep = (row: string) => `NOT ($7::bigint > 0 AND ${row}updated_at BETWEEN $10::bigint AND $1::bigint)`;

/** `column` less the step (`$7`), never before now (`$1`); then, still beyond `longest`, now. */
const brought = (column: string, longest: string) =>
  `CASE WHEN ${column} - $7::bigint > $1::bigint + ${longest} THEN $1::bigint ELSE GREATEST($1::bigint, ${column} - $7::bigint) END`;

/** Runs inside a write transaction: one statement, its counts per kind. */
export async function rescheduleBeyond(query: Query, now: number, longest: LongestWaits, stepMs: number, setSince: number): Promise<Rescheduled> {
  const [row] = await query<Rescheduled & { [column: string]: number }>(
    `WITH sms AS (
       UPDATE outbound o SET next_attempt_at = ${brought('o.next_attempt_at', '$2::bigint')}
       WHERE o.status = 'queued' AND o.lease_owner IS NULL AND o.next_attempt_at > $1::bigint + $8::bigint AND ${NOT_AT_SENDERS_TIME} AND ${setBeforeStep('o.')} RETURNING 1),
     mail AS (
       UPDATE mail_out SET next_attempt_at = ${brought('next_attempt_at', '$3::bigint')}
       WHERE status = 'queued' AND lease_owner IS NULL AND next_attempt_at > $1::bigint + $9::bigint AND ${setBeforeStep('')} RETURNING 1),
     sms_leases AS (
       UPDATE outbound SET next_attempt_at = ${DB_NOW_MS} + $4::bigint
       WHERE status = 'queued' AND lease_owner IS NOT NULL AND next_attempt_at > ${DB_NOW_MS} + $4::bigint RETURNING 1),
     mail_leases AS (
       UPDATE mail_out SET next_attempt_at = ${DB_NOW_MS} + $4::bigint
       WHERE status = 'queued' AND lease_owner IS NOT NULL AND next_attempt_at > ${DB_NOW_MS} + $4::bigint RETURNING 1),
     probes AS (
       UPDATE gateway_pauses SET next_probe_at = ${clusterNow(6)} WHERE next_probe_at > ${clusterNow(6)} + $5::bigint RETURNING 1),
     hosts AS (UPDATE gateway_host_failures SET failed_at = ${clusterNow(6)} WHERE failed_at > ${clusterNow(6)} + ${FAILED_AFTER_NOW_MS} RETURNING 1)
     SELECT (SELECT count(*) FROM sms)::int AS sms, (SELECT count(*) FROM mail)::int AS mail,
       ((SELECT count(*) FROM sms_leases) + (SELECT count(*) FROM mail_leases))::int AS leases, (SELECT count(*) FROM probes)::int AS probes,
       (SELECT count(*) FROM hosts)::int AS hosts`,
    [
      now,
      longest.smsMs,
      longest.mailMs,
      longest.leaseMs,
      longest.probeMs,
      skewOf(now),
      stepMs,
      aheadBy(longest.smsMs, stepMs),
      aheadBy(longest.mailMs, stepMs),
      setSince,
    ],
  );
  return row ?? { sms: 0, mail: 0, leases: 0, probes: 0, hosts: 0 };
}
