/** Timers a time-based part runs on: tests give their own to move time instead of waiting. */
export interface Timers {
  readonly now: () => number;
  readonly setTimeout: (run: () => void, ms: number) => { unref?: () => unknown };
  readonly clearTimeout: (timer: unknown) => void;
  /** A number in [0, 1) for a delay's jitter; Math.random when absent. */
  readonly random?: () => number;
}

export const REAL_TIMERS: Timers = {
  now: Date.now,
  setTimeout: (run, ms) => setTimeout(run, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout),
};
