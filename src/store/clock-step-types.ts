/**
 * The store's part in a backward step of the wall clock (src/clock-step.ts): every due time the relay stored
 * before the step lies up to the step further ahead than it meant. None the relay schedules is ever further
 * ahead than the longest wait of its kind, so one that is was set before a step and is brought back; a mail's
 * `sendAt` (the sender's time, however far ahead) is left alone.
 */

/**
 * How far the wall clock must fall behind the monotonic clock between two looks to be taken for a step back.
 * NTP slews a clock by at most 0.5 ms a second, and the two clocks are read one after the other, so between looks
 * a second apart they part by well under a millisecond but for a step (an NTP or chrony step, a VM restored from a
 * snapshot); a step below this holds a due time less than a second past its time, within the work loops' own
 * polling, and needs no word.
 */
export const CLOCK_STEP_BACK_MS = 1_000;

/**
 * How far after now a host's failure may lie without a step: the relay's now and the database's, read a round trip
 * apart on a loaded machine, part by milliseconds; a second is far above that and far below any step worth a word
 * (CLOCK_STEP_BACK_MS).
 */
export const FAILED_AFTER_NOW_MS = 1_000;

/** The longest wait the relay ever schedules, per kind of due time (ms). */
export interface LongestWaits {
  /** An SMS's retry, or its hold behind a paused provider: the retry schedule's maximum or a pause's probe interval. */
  readonly smsMs: number;
  /** A reply mail's retry (`mail.retryMaxDelay`, with `mail.retryMinDelay` of slack). */
  readonly mailMs: number;
  /** A lease, an SMS's or a mail's (`delivery.leaseTtl`, renewed by the heartbeat). */
  readonly leaseMs: number;
  /** A gateway pause's next probe: the longest interval between probes. */
  readonly probeMs: number;
}

/** How many due times were brought back, per kind. */
export interface Rescheduled {
  readonly sms: number;
  readonly mail: number;
  readonly leases: number;
  readonly probes: number;
  /** Gateway hosts marked failed after now: each is skipped a full `gateway.failoverRecovery` from now, no longer. */
  readonly hosts: number;
}

export interface ClockStepStore {
  /**
   * Brings back the due times a backward step of the relay's clock left ahead of `now` (its clock). `stepMs`, when
   * the step was seen (0 at the start, when it cannot be known): an SMS's retry or hold, a reply mail's retry, and on
   * SQLite a pause's probe, all set on the clock that stepped, come `stepMs` sooner, never before now. Then, step
   * known or not, one still further ahead than `longest` allows becomes due now; a lease ends a full lease from now,
   * never sooner (its relay may still be sending); a host failed after now failed now. An SMS waiting for its mail's
   * `sendAt` (the sender's time, no clock's) keeps it. On PostgreSQL a lease, a pause and a failed host go by the
   * database's clock, as they are set: no step of a relay's clock moves them, and only the bounds apply.
   * `setSince`, with a step: an SMS or reply mail whose `updated_at` (its writer's clock) lies from it to `now` was
   * set after the step, on the new clock, and keeps its time; before it, or after `now`, it was set before the step.
   */
  rescheduleBeyond(now: number, longest: LongestWaits, stepMs: number, setSince: number): Promise<Rescheduled>;
}

/**
 * How far ahead of now a due time of one kind must lie to be changed: with a step known every one ahead moves by
 * it; without, only one beyond the longest wait of its kind.
 */
export const aheadBy = (longestMs: number, stepMs: number) => (stepMs > 0 ? 0 : longestMs);
