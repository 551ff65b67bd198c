/**
 * ClockStepStore on PostgreSQL (src/store/clock-step-types.ts). A retry's due time is the relay's clock (`$1`),
 * as the relays schedule it; a lease's end and a pause's probe are the database's, as they are set (DB_NOW_MS,
 * clusterNow): a relay whose clock stepped back moves none of them, but a database whose clock stepped back
 * would, and the same bounds bring those back.
 */
import { FAILED_AFTER_NOW_MS, type LongestWaits, type Rescheduled } from '../clock-step-types.ts';
import { DB_NOW_MS } from './clock.ts';
import { clusterNow, type Query, skewOf } from './shared-state.ts';

/** A never-tried SMS due at its mail's `sendAt`: the sender's time, which no clock step moves. */
const AT_SENDERS_TIME = 'o.attempts = 0 AND o.next_attempt_at = m.send_at';

/** Runs inside a write transaction: one statement, its counts per kind. */
export async function rescheduleBeyond(query: Query, now: number, longest: LongestWaits): Promise<Rescheduled> {
  const [row] = await query<Rescheduled & { [column: string]: number }>(
    `WITH sms AS (
       UPDATE outbound o SET next_attempt_at = $1::bigint FROM messages m
       WHERE m.id = o.message_id AND o.status = 'queued' AND o.lease_owner IS NULL AND o.next_attempt_at > $1::bigint + $2::bigint
         AND NOT (${AT_SENDERS_TIME}) RETURNING 1),
     mail AS (
       UPDATE mail_out SET next_attempt_at = $1::bigint WHERE status = 'queued' AND lease_owner IS NULL AND next_attempt_at > $1::bigint + $3::bigint RETURNING 1),
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
    [now, longest.smsMs, longest.mailMs, longest.leaseMs, longest.probeMs, skewOf(now)],
  );
  return row ?? { sms: 0, mail: 0, leases: 0, probes: 0, hosts: 0 };
}
