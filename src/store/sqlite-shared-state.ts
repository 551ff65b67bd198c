/**
 * SharedStateStore on SQLite (src/store/shared-state-types.ts): the tables of migration 13 (#18).
 * One process uses the file, so its (injected) clock is the clock; every write runs inside the
 * store's write transaction, so a check and its count cannot interleave with another.
 */
import type { Database } from 'better-sqlite3';
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
  hostFailureKeptMs,
} from './shared-state-types.ts';

export function prepareSharedStateStatements(db: Database) {
  return {
    rateCounts: db.prepare(
      'SELECT count(CASE WHEN at > ? THEN 1 END) AS lastMinute, count(*) AS today, coalesce(sum(parts), 0) AS partsToday FROM rate_events WHERE principal = ? AND at > ?',
    ),
    insertRate: db.prepare('INSERT INTO rate_events (principal, at, parts) VALUES (?, ?, ?) RETURNING id'),
    deleteRate: db.prepare('DELETE FROM rate_events WHERE id = ?'),
    loginFailures: db.prepare('SELECT count(*) AS failures FROM login_failures WHERE client = ? AND at > ?'),
    insertLoginFailure: db.prepare('INSERT INTO login_failures (client, account, at) VALUES (?, ?, ?)'),
    clearAuthFailures: db.prepare('DELETE FROM login_failures WHERE client = ? AND account = ?'),
    pauses: db.prepare('SELECT provider, reason, since, next_probe_at AS nextProbeAt FROM gateway_pauses'),
    failures: db.prepare('SELECT provider, endpoint, failed_at AS failedAt FROM gateway_host_failures'),
    pauseOf: db.prepare('SELECT reason FROM gateway_pauses WHERE provider = ?'),
    upsertPause: db.prepare(
      'INSERT INTO gateway_pauses (provider, reason, since, next_probe_at) VALUES (?, ?, ?, ?) ON CONFLICT (provider) DO UPDATE SET reason = excluded.reason, next_probe_at = excluded.next_probe_at',
    ),
    claimProbe: db.prepare('UPDATE gateway_pauses SET next_probe_at = ? WHERE provider = ? AND next_probe_at <= ?'),
    releaseProbe: db.prepare('UPDATE gateway_pauses SET next_probe_at = ? WHERE provider = ?'),
    resume: db.prepare('DELETE FROM gateway_pauses WHERE provider = ? RETURNING reason, since'),
    hostFailed: db.prepare(
      'INSERT INTO gateway_host_failures (provider, endpoint, failed_at) VALUES (?, ?, ?) ON CONFLICT (provider, endpoint) DO UPDATE SET failed_at = excluded.failed_at',
    ),
    hostWorking: db.prepare('DELETE FROM gateway_host_failures WHERE provider = ? AND endpoint = ?'),
    pruneRates: db.prepare('DELETE FROM rate_events WHERE at <= ?'),
    pruneLogins: db.prepare('DELETE FROM login_failures WHERE at <= ?'),
    pruneHostFailures: db.prepare('DELETE FROM gateway_host_failures WHERE failed_at <= ?'),
  };
}

export type SharedStateStatements = ReturnType<typeof prepareSharedStateStatements>;

/** Runs inside a write transaction. */
export function takeRate(sql: SharedStateStatements, principal: string, limits: RateLimitSettings, parts: number, now: number): RateTaken {
  const counts = sql.rateCounts.get(now - RATE_MINUTE_MS, principal, now - RATE_DAY_MS) as RateCounts;
  const exceeded = exceededLimit(limits, counts, parts);
  if (exceeded) return { taken: false, exceeded, counts };
  const { id } = sql.insertRate.get(principal, now, parts) as { id: number };
  return { taken: true, id };
}

/** Runs inside a write transaction. */
export function addAuthFailure(sql: SharedStateStatements, client: string, account: string, windowMs: number, now: number): number {
  sql.insertLoginFailure.run(client, account, now);
  return (sql.loginFailures.get(client, now - windowMs) as { failures: number }).failures;
}

export function gatewayState(sql: SharedStateStatements): SharedGatewayState {
  return { pauses: sql.pauses.all() as SharedGatewayState['pauses'], failures: sql.failures.all() as SharedGatewayState['failures'] };
}

/** Runs inside a write transaction. */
export function pauseAccount(sql: SharedStateStatements, provider: string, reason: string, probeInMs: number, now: number): PauseChange {
  const before = sql.pauseOf.get(provider) as { reason: string } | undefined;
  sql.upsertPause.run(provider, reason, now, now + probeInMs);
  return { starts: before === undefined, changes: before?.reason !== reason };
}

/** Runs inside a write transaction. */
export function claimProbe(sql: SharedStateStatements, provider: string, probeInMs: number, now: number): ProbeClaim {
  if (sql.claimProbe.run(now + probeInMs, provider, now).changes > 0) return 'probe';
  return sql.pauseOf.get(provider) === undefined ? 'not-paused' : 'wait';
}

/** Runs inside a write transaction. */
export function pruneSharedState(sql: SharedStateStatements, now: number, failoverRecoveryMs: number): number {
  const hostsBefore = now - hostFailureKeptMs(failoverRecoveryMs);
  return sql.pruneRates.run(now - RATE_DAY_MS).changes + sql.pruneLogins.run(now - RATE_DAY_MS).changes + sql.pruneHostFailures.run(hostsBefore).changes;
}
