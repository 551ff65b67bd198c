import { failureLogFields } from './errors.ts';
import type { Logger } from './log.ts';
import { CLOCK_STEP_BACK_MS, type ClockStepStore, type LongestWaits, type Rescheduled } from './store/clock-step-types.ts';

/** How often the two clocks are compared: a step back holds nothing longer than this before its due times are brought back. */
const CLOCK_LOOK_INTERVAL_MS = 1_000;

/**
 * Looks in a row whose store refused to bring due times back before that is said at warn (once, until one succeeds):
 * a store busy past its busyTimeout for a look or two is no news, one that keeps refusing leaves retries late.
 */
const FAILED_LOOKS_BEFORE_WARN = 10;

export interface ClockStepOptions {
  readonly store: ClockStepStore;
  readonly longest: LongestWaits;
  readonly logger: Logger;
  /** The relay's wall clock (whole epoch ms, as Date.now), the one its due times are stored in. */
  readonly wall: () => number;
  /** Monotonic ms (performance.now unless a test moves it; fractional): no step moves it. */
  readonly monotonic: () => number;
  /** Due times were brought back: the work loops look at once. */
  readonly onRescheduled: () => void;
}

/** Due times to bring back: ClockStepStore.rescheduleBeyond's `stepMs` and `setSince`; `start`, the start's bounds. */
interface Owed {
  readonly stepMs: number;
  readonly setSince: number;
  readonly start: boolean;
}

/**
 * Adds a step (`stepMs`, positive back, negative forward; a retry set after it lies from `setSince` on) to what the
 * store has not taken yet. Steps add up with their signs: one set before a step back and a step forward lies ahead
 * by their difference, never behind. A retry set after an earlier step and before this one is taken for set after.
 */
function owe(owed: Owed | undefined, stepMs: number, setSince: number): Owed | undefined {
  const net = Math.max(0, (owed?.stepMs ?? 0) + stepMs);
  const start = owed?.start ?? false;
  if (net === 0 && !start) return undefined;
  return { stepMs: net, setSince: Math.min(owed && owed.stepMs > 0 ? owed.setSince : setSince, setSince), start };
}

const total = (rescheduled: Rescheduled) => rescheduled.sms + rescheduled.mail + rescheduled.leases + rescheduled.probes + rescheduled.hosts;

/**
 * A wall clock stepped back leaves every due time the relay stored before (an SMS's retry, a reply mail's, a lease,
 * a gateway pause's next probe) up to the step further ahead than the relay meant: without a word nothing was sent
 * for as long as the step. This compares the wall clock with the monotonic one; on a step back it says so once and
 * brings every due time the step's size sooner, never before now (ClockStepStore.rescheduleBeyond, which leaves a
 * mail's own send time alone). At the start a step made while the relay was down has no size: only due times
 * further ahead than the longest wait of their kind come back. A store that fails meanwhile is asked again at the
 * next look.
 */
export class ClockStepWatch {
  readonly #options: ClockStepOptions;
  /** The wall clock less the monotonic one at the last look. */
  #offset: number;
  /** The wall clock at the last look: a retry set after a step since lies from it less the step to now. */
  #wall: number;
  /** Due times to bring back that the store has not taken yet (ClockStepStore.rescheduleBeyond), the start's bounds too. */
  #owed: Owed | undefined = { stepMs: 0, setSince: 0, start: true };
  /** Looks in a row whose store refused the due times owed (FAILED_LOOKS_BEFORE_WARN). */
  #failedLooks = 0;
  #timer: NodeJS.Timeout | undefined;
  #looking: Promise<void> | undefined;
  #again: Promise<void> | undefined;

  constructor(options: ClockStepOptions) {
    this.#options = options;
    this.#wall = options.wall();
    this.#offset = this.#wall - options.monotonic();
  }

  /**
   * Brings back what a step before the start left ahead, then looks every CLOCK_LOOK_INTERVAL_MS. Not awaited: on a
   * big scheduled queue the first look reads for seconds, and the listeners need not wait for it.
   */
  start(): void {
    void this.look();
    this.#timer = setInterval(() => void this.look(), CLOCK_LOOK_INTERVAL_MS);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await (this.#again ?? this.#looking);
  }

  /** Compares the clocks after this call (the timer's look; tests call it after moving their clocks). */
  look(): Promise<void> {
    if (!this.#looking) {
      this.#looking = this.#look().finally(() => (this.#looking = undefined));
      return this.#looking;
    }
    // The look in flight (the start's takes seconds on a big scheduled queue) compared the clocks before this call:
    // one more after it, shared by every call meanwhile, so a step made during it is not left to the next timer.
    this.#again ??= this.#looking.then(() => {
      this.#again = undefined;
      return this.look();
    });
    return this.#again;
  }

  async #look(): Promise<void> {
    const { wall, monotonic, logger, longest, store } = this.#options;
    const lastWall = this.#wall;
    this.#wall = wall();
    const offset = this.#wall - monotonic();
    // Positive back, negative forward. Whole ms, as every time the store keeps: the monotonic clock has fractions,
    // which an INTEGER column (SQLite's STRICT tables) or a bigint parameter (PostgreSQL) refuses.
    const stepMs = Math.round(this.#offset - offset);
    // Every look moves the mark, so a slow drift never adds up to a step, and one step is told once.
    this.#offset = offset;
    if (stepMs > CLOCK_STEP_BACK_MS) {
      logger.warn(
        { stepMs: Math.round(stepMs), ...longest },
        `relay: the clock stepped back ${(stepMs / 1000).toFixed(1)} s; every retry and probe set before it comes as much sooner (never before now), a mail's own send time excepted`,
      );
    }
    // Ages are measured on the wall clock from a mail's arrival (or send time): a step forward ages the whole queue
    // at once, which no stored time can undo without rewriting when each mail arrived; said so that a burst of
    // bounces or delay notices after it has its cause in the log.
    if (stepMs < -CLOCK_STEP_BACK_MS) {
      logger.warn(
        { stepMs },
        `relay: the clock stepped forward ${(-stepMs / 1000).toFixed(1)} s (or the machine was suspended: the monotonic clock does not count a suspend); every queued mail is as much older: one accepted before it is bounced at delivery.maxAge, and sent its delay notice at delivery.delayNotice, that much sooner`,
      );
    }
    // A step forward as large counts too: it cancels a step back still owed.
    if (Math.abs(stepMs) > CLOCK_STEP_BACK_MS) this.#owed = owe(this.#owed, stepMs, lastWall - stepMs);
    const owed = this.#owed;
    if (!owed) return;
    const rescheduled = await store.rescheduleBeyond(wall(), longest, owed.stepMs, owed.setSince).catch((error: unknown) => {
      this.#failedLooks++;
      logger[this.#failedLooks === FAILED_LOOKS_BEFORE_WARN ? 'warn' : 'debug'](
        { ...failureLogFields(error), failedLooks: this.#failedLooks },
        'relay: due times left ahead by a clock step could not be brought back now; trying again at the next look',
      );
      return undefined;
    });
    if (!rescheduled) return;
    this.#failedLooks = 0;
    // Looks never overlap (look() chains them), so nothing was owed meanwhile.
    this.#owed = undefined;
    if (total(rescheduled) === 0) return;
    this.#options.onRescheduled();
    // After a step the warning above said it. At the start (its look failed and taken with a step's, too) nothing
    // tells why the stored times lie so far ahead.
    logger[owed.start ? 'warn' : 'info'](
      { ...rescheduled },
      owed.start
        ? 'relay: due times further ahead than any wait this relay schedules became due now (a clock step back while it was down, a lowered retry or probe setting, or another relay whose clock is ahead)'
        : 'relay: due times left ahead by the clock step came as much sooner',
    );
  }
}
