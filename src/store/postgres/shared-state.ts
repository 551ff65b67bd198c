/**
 * SharedStateStore on PostgreSQL (src/store/shared-state-types.ts): the same tables as
 * sqlite-shared-state.ts, shared by every relay on the database. Times are the database's (`now()`),
 * so that relays whose clocks disagree count one window; a caller whose clock is moved (tests) moves
 * them by as much, and gets every time back in its own clock.
 */
import type pg from 'pg';
import {
  exceededLimit,
  type PauseChange,
  type ProbeClaim,
  RATE_DAY_MS,
  RATE_MINUTE_MS,
  type RateCounts,
  type RateLimitSettings,
  type RateTaken,
  type SharedGatewayState,
  type SharedHostFailure,
  type SharedPause,
  hostFailureKeptMs,
} from '../shared-state-types.ts';
import { CLOCK_STEP_BACK_MS } from '../clock-step-types.ts';

/** Runs one statement: in a transaction's client, or on the pool for a single read. */
export type Query = <R extends pg.QueryResultRow>(sql: string, values: readonly unknown[]) => Promise<R[]>;

/** The inside of a transaction as a Query. */
export function queryOf(client: pg.ClientBase): Query {
  return async <R extends pg.QueryResultRow>(sql: string, values: readonly unknown[]) => (await client.query<R>(sql, values as unknown[])).rows;
}

/**
 * The database's time in ms, moved by `$n` (how far the caller's clock is ahead of the real one:
 * 0 in production). Every relay on the database reads the same clock.
 */
export const clusterNow = (n: number) => `((extract(epoch from now()) * 1000)::bigint + $${n}::bigint)`;

/** How far the caller's clock is from the real one: what `clusterNow` is moved by. */
export const skewOf = (now: number) => now - Date.now();

/**
 * The advisory-lock class of the rate counts (the text "smsr"): one principal's check and count is
 * one critical section across relays, the principal's name hashed for the second key.
 */
const RATE_LOCK_CLASS = 0x736d7372;

/** Runs inside a write transaction. */
export async function takeRate(query: Query, principal: string, limits: RateLimitSettings, parts: number, now: number): Promise<RateTaken> {
  const [locked] = await query<{ now: number }>(`SELECT ${clusterNow(3)} AS now FROM (SELECT pg_advisory_xact_lock($1, hashtext($2))) AS locked`, [
    RATE_LOCK_CLASS,
    principal,
    skewOf(now),
  ]);
  const at = locked?.now ?? now;
  const [counts] = await query<RateCounts & pg.QueryResultRow>(
    `SELECT count(*) FILTER (WHERE at > $2::bigint - $3::bigint) AS "lastMinute", count(*) AS today, coalesce(sum(parts), 0)::bigint AS "partsToday"
     FROM rate_events WHERE principal = $1 AND at > $2::bigint - $4::bigint`,
    [principal, at, RATE_MINUTE_MS, RATE_DAY_MS],
  );
  const found = counts ?? { lastMinute: 0, today: 0, partsToday: 0 };
  const exceeded = exceededLimit(limits, found, parts);
  if (exceeded) return { taken: false, exceeded, counts: found };
  const [inserted] = await query<{ id: number }>('INSERT INTO rate_events (principal, at, parts) VALUES ($1, $2, $3) RETURNING id', [principal, at, parts]);
  return { taken: true, id: inserted?.id ?? 0 };
}

export async function releaseRate(query: Query, id: number): Promise<void> {
  await query('DELETE FROM rate_events WHERE id = $1', [id]);
}

export async function authFailures(query: Query, client: string, windowMs: number, now: number): Promise<number> {
  const [row] = await query<{ failures: number }>(`SELECT count(*) AS failures FROM login_failures WHERE client = $1 AND at > ${clusterNow(2)} - $3::bigint`, [
    client,
    skewOf(now),
    windowMs,
  ]);
  return row?.failures ?? 0;
}

/** Runs inside a write transaction. */
export async function addAuthFailure(query: Query, client: string, account: string, windowMs: number, now: number): Promise<number> {
  await query(`INSERT INTO login_failures (client, account, at) VALUES ($1, $3, ${clusterNow(2)})`, [client, skewOf(now), account]);
  return authFailures(query, client, windowMs, now);
}

export async function clearAuthFailures(query: Query, client: string, account: string): Promise<void> {
  await query('DELETE FROM login_failures WHERE client = $1 AND account = $2', [client, account]);
}

/** The database's clock against this relay's is looked at again this often: an NTP step on either shows within it. */
const CLOCK_RECHECK_MS = 60_000;

/**
 * How far the database's clock is ahead of this relay's real one, measured once and reused, so that
 * one stored instant (a pause's `since`) is the same time on every read: converted per read, each
 * would carry that read's round trip (milliseconds apart between `status`, `queue retry`, the
 * console and the metrics). A stored instant is the database's clock moved by its writer's (tests'
 * moved clocks); in the caller's clock it is the stored value less this, whatever the caller's move.
 */
export class DatabaseClock {
  #ahead: number | undefined;
  /** When it was last measured, on the monotonic clock, and this relay's wall clock less the monotonic one then. */
  #checked = { at: Number.NEGATIVE_INFINITY, wallLessMonotonic: 0 };

  async ahead(query: Query): Promise<number> {
    // Measured again after CLOCK_RECHECK_MS of monotonic time, and at once when this relay's wall clock stepped since
    // (src/clock-step.ts): judged on the wall clock alone, a step back an hour kept the old offset an hour, and every
    // pause read back an hour late, holding every SMS (docs/delivery.md, "When the clock steps").
    const at = performance.now();
    const stepped = Math.abs(Date.now() - at - this.#checked.wallLessMonotonic) > CLOCK_STEP_BACK_MS;
    if (this.#ahead !== undefined && at - this.#checked.at < CLOCK_RECHECK_MS && !stepped) return this.#ahead;
    const sent = Date.now();
    const [row] = await query<{ now: number }>(`SELECT ${clusterNow(1)} AS now`, [0]);
    const received = Date.now();
    const measured = (row?.now ?? received) - (sent + received) / 2;
    // The measurement is uncertain by half its round trip: an offset within that is the round trip's, not
    // the clocks' (synchronised clocks, as docs/several-relays.md asks), and is none: every relay and
    // command then shows the stored instant itself. A new look within it of the last keeps the last.
    const uncertainty = (received - sent) / 2 + 1;
    if (this.#ahead === undefined || Math.abs(measured - this.#ahead) > uncertainty) this.#ahead = Math.abs(measured) <= uncertainty ? 0 : Math.round(measured);
    const checkedAt = performance.now();
    this.#checked = { at: checkedAt, wallLessMonotonic: Date.now() - checkedAt };
    return this.#ahead;
  }
}

/** Every stored instant turned into the caller's clock by the database clock's one offset (DatabaseClock). */
export async function gatewayState(query: Query, clock: DatabaseClock): Promise<SharedGatewayState> {
  const ahead = await clock.ahead(query);
  const pauses = await query<SharedPause & pg.QueryResultRow>(
    'SELECT provider, reason, since - $1::bigint AS since, next_probe_at - $1::bigint AS "nextProbeAt" FROM gateway_pauses',
    [ahead],
  );
  const failures = await query<SharedHostFailure & pg.QueryResultRow>(
    'SELECT provider, endpoint, failed_at - $1::bigint AS "failedAt" FROM gateway_host_failures',
    [ahead],
  );
  return { pauses, failures };
}

/**
 * A new row has no `xmax` (no earlier version was updated): the pause starts with it. The reason it had
 * is read under the row's lock first, so that of relays refusing at once only the first sees it change.
 */
export async function pauseAccount(query: Query, provider: string, reason: string, probeInMs: number, now: number): Promise<PauseChange> {
  const [before] = await query<{ reason: string }>('SELECT reason FROM gateway_pauses WHERE provider = $1 FOR UPDATE', [provider]);
  const [row] = await query<{ starts: boolean }>(
    `INSERT INTO gateway_pauses (provider, reason, since, next_probe_at) VALUES ($1, $2, ${clusterNow(3)}, ${clusterNow(3)} + $4::bigint)
     ON CONFLICT (provider) DO UPDATE SET reason = excluded.reason, next_probe_at = excluded.next_probe_at
     RETURNING (xmax = 0) AS starts`,
    [provider, reason, skewOf(now), probeInMs],
  );
  const starts = row?.starts ?? false;
  // A row another relay inserted after the read: its pause, started by that relay.
  return { starts, changes: starts || (before !== undefined && before.reason !== reason) };
}

/** Runs inside a write transaction: the row's lock makes one relay the prober. */
export async function claimProbe(query: Query, provider: string, probeInMs: number, now: number): Promise<ProbeClaim> {
  const claimed = await query(
    `UPDATE gateway_pauses SET next_probe_at = ${clusterNow(2)} + $3::bigint WHERE provider = $1 AND next_probe_at <= ${clusterNow(2)} RETURNING provider`,
    [provider, skewOf(now), probeInMs],
  );
  if (claimed.length > 0) return 'probe';
  return (await query('SELECT 1 FROM gateway_pauses WHERE provider = $1', [provider])).length > 0 ? 'wait' : 'not-paused';
}

export async function releaseProbe(query: Query, provider: string, now: number): Promise<void> {
  await query(`UPDATE gateway_pauses SET next_probe_at = ${clusterNow(2)} WHERE provider = $1`, [provider, skewOf(now)]);
}

/** The pause's `since` as gatewayState shows it: the clock's offset is read before the transaction's row lock. */
export async function resumeAccount(query: Query, provider: string, ahead: number): Promise<{ reason: string; since: number } | undefined> {
  const [ended] = await query<{ reason: string; since: number }>(
    'DELETE FROM gateway_pauses WHERE provider = $1 RETURNING reason, since - $2::bigint AS since',
    [provider, ahead],
  );
  return ended;
}

export async function markHostFailed(query: Query, provider: string, endpoint: string, now: number): Promise<void> {
  await query(
    `INSERT INTO gateway_host_failures (provider, endpoint, failed_at) VALUES ($1, $2, ${clusterNow(3)})
     ON CONFLICT (provider, endpoint) DO UPDATE SET failed_at = excluded.failed_at`,
    [provider, endpoint, skewOf(now)],
  );
}

export async function markHostWorking(query: Query, provider: string, endpoint: string): Promise<void> {
  await query('DELETE FROM gateway_host_failures WHERE provider = $1 AND endpoint = $2', [provider, endpoint]);
}

/** Runs inside a write transaction. */
export async function pruneSharedState(query: Query, now: number, failoverRecoveryMs: number): Promise<number> {
  const [row] = await query<{ pruned: number }>(
    `WITH rates AS (DELETE FROM rate_events WHERE at <= ${clusterNow(1)} - $2::bigint RETURNING 1),
     logins AS (DELETE FROM login_failures WHERE at <= ${clusterNow(1)} - $2::bigint RETURNING 1),
     hosts AS (DELETE FROM gateway_host_failures WHERE failed_at <= ${clusterNow(1)} - $3::bigint RETURNING 1)
     SELECT (SELECT count(*) FROM rates) + (SELECT count(*) FROM logins) + (SELECT count(*) FROM hosts) AS pruned`,
    [skewOf(now), RATE_DAY_MS, hostFailureKeptMs(failoverRecoveryMs)],
  );
  return row?.pruned ?? 0;
}
