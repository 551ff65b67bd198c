/**
 * The state relays sharing one database must agree on (#18 item 4): sending limits and budgets per
 * principal, failed logins per client address, and per provider the account pause (with its probe)
 * and the failed gateway hosts. One relay alone keeps it here too, so that a restart keeps it.
 *
 * Times go in and come out in the caller's clock (the injected clock, tests move it). Where relays
 * compare times the store counts by one clock for all: PostgreSQL's `now()`, shifted by however far
 * the caller's clock is from the real one (none in production); SQLite serves one process, whose
 * clock it uses. Windows are given as lengths, never as instants of one relay's clock.
 */

/** The sliding windows of the sending limits. */
export const RATE_MINUTE_MS = 60_000;
export const RATE_DAY_MS = 24 * 60 * RATE_MINUTE_MS;

/** A principal's limits (unset: no limit of that kind). */
export interface RateLimitSettings {
  readonly perMinute?: number | undefined;
  readonly perDay?: number | undefined;
  readonly dailyParts?: number | undefined;
}

/** What a principal sent in the windows, before the mail asked about. */
export interface RateCounts {
  readonly lastMinute: number;
  readonly today: number;
  readonly partsToday: number;
}

export type RateTaken =
  /** Counted: `id` undoes it (the mail was not committed after all). */
  | { readonly taken: true; readonly id: number }
  /** Refused: which limit, and the counts that say so. */
  | { readonly taken: false; readonly exceeded: keyof RateLimitSettings; readonly counts: RateCounts };

/** Which limit one more mail of `parts` parts would exceed, or undefined: both stores decide alike. */
export function exceededLimit(limits: RateLimitSettings, counts: RateCounts, parts: number): keyof RateLimitSettings | undefined {
  if (limits.perMinute !== undefined && counts.lastMinute >= limits.perMinute) return 'perMinute';
  if (limits.perDay !== undefined && counts.today >= limits.perDay) return 'perDay';
  if (limits.dailyParts !== undefined && counts.partsToday + parts > limits.dailyParts) return 'dailyParts';
  return undefined;
}

/**
 * How long a failed host's row is kept: past this relay's `gateway.failoverRecovery` it skips the host for no relay of
 * that setting or a shorter one, of whatever version, but a day at least, so that a relay whose setting differs for a
 * while (changed on one relay first) is not cut short. One whose setting is longer than both (relays do not compare it)
 * may see its row go early and try the host once again before its time: one failed request, failed over at once. Rows of hosts no longer configured, or keyed as an older relay keyed them (docs/several-relays.md), go then.
 */
export function hostFailureKeptMs(failoverRecoveryMs: number): number {
  return Math.max(RATE_DAY_MS, failoverRecoveryMs);
}

/** A provider's account refused by its gateway: sending paused, one probe due at `nextProbeAt`. */
export interface SharedPause {
  readonly provider: string;
  readonly reason: string;
  readonly since: number;
  readonly nextProbeAt: number;
}

/** A gateway host that failed in a way that proves the request did not get through. */
export interface SharedHostFailure {
  readonly provider: string;
  /** The host's key (Gateway.hostKeys); in a row an older relay wrote, its URL as that relay showed or configured it. */
  readonly endpoint: string;
  readonly failedAt: number;
}

/** Everything the dispatcher's per-claim checks read, in one go. */
export interface SharedGatewayState {
  readonly pauses: readonly SharedPause[];
  readonly failures: readonly SharedHostFailure[];
}

/** What a probe claim found: this relay probes now, another probes or the probe is not due, or the pause ended. */
export type ProbeClaim = 'probe' | 'wait' | 'not-paused';

/** What a refusal did to the provider's pause: started it, or changed its reason (a busy gateway that now refuses the account). */
export interface PauseChange {
  readonly starts: boolean;
  readonly changes: boolean;
}

export interface SharedStateStore {
  /**
   * Counts one mail of `parts` SMS parts for `principal` unless it would exceed `limits`: checked and
   * counted in one transaction, so that relays sharing the database cannot both take the last one.
   */
  takeRate(principal: string, limits: RateLimitSettings, parts: number, now: number): Promise<RateTaken>;
  /** Undoes a `takeRate` whose mail was not committed. */
  releaseRate(id: number): Promise<void>;
  /** Failed logins from `client` within the last `windowMs`, whatever account they named. */
  authFailures(client: string, windowMs: number, now: number): Promise<number>;
  /** Records a failed login naming `account`; returns the client's failures within the window, this one included. */
  addAuthFailure(client: string, account: string, windowMs: number, now: number): Promise<number>;
  /** A successful login to `account` forgets the client's failures naming it (and only those). */
  clearAuthFailures(client: string, account: string): Promise<void>;
  /** The pauses and failed hosts of every provider. */
  gatewayState(now: number): Promise<SharedGatewayState>;
  /**
   * The gateway refused `provider`'s account: paused (since the first refusal), the next probe in `probeInMs`.
   * `starts`: no pause was on; `changes`: none was on, or it was for another reason (to one caller only).
   */
  pauseAccount(provider: string, reason: string, probeInMs: number, now: number): Promise<PauseChange>;
  /** Takes the due probe of a paused provider (the next one moves `probeInMs` on): one relay probes. */
  claimProbe(provider: string, probeInMs: number, now: number): Promise<ProbeClaim>;
  /** A claimed probe was not sent: the next may go now. */
  releaseProbe(provider: string, now: number): Promise<void>;
  /** The gateway accepts the account again: the pause it ended (to one caller only), if one was on. */
  resumeAccount(provider: string, now: number): Promise<{ readonly reason: string; readonly since: number } | undefined>;
  markHostFailed(provider: string, endpoint: string, now: number): Promise<void>;
  markHostWorking(provider: string, endpoint: string): Promise<void>;
  /**
   * Forgets counted mails and failed logins older than a day (every window is shorter), and failed hosts older than a
   * day and than `failoverRecoveryMs` (a host no relay skips any more: one no longer configured, or keyed as an older
   * relay keyed it, is never marked working again); returns how many.
   */
  pruneSharedState(now: number, failoverRecoveryMs: number): Promise<number>;
}
