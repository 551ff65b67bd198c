import { failureLogFields, isStoreFailure } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Store } from '../store/types.ts';

/**
 * How often the relay looks at the operator's pause (`smsrelay queue pause`, the console's Pause): the CLI writes it to
 * the store, which the claims obey at once, and the log names it within this long. One read of one row.
 */
export const OPERATOR_PAUSE_LOOK_MS = 5_000;
/** While paused, the warning again this often: a pause left for days is in every day's journal, not only in its first hour's. */
export const OPERATOR_PAUSE_REMIND_MS = 3_600_000;

export interface OperatorPauseWatchOptions {
  readonly store: Pick<Store, 'dispatchPausedSince'>;
  readonly logger: Logger;
  readonly clock: () => number;
}

/**
 * Logs the operator's pause, which holds every SMS queued: a warning when the relay first sees it (at start too, while
 * paused), again every OPERATOR_PAUSE_REMIND_MS while it lasts, and an info line when it ends, as a gateway's pause is
 * logged. A store that cannot be read says so through its own health; the next look tries again.
 */
export class OperatorPauseWatch {
  readonly #options: OperatorPauseWatchOptions;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #looking: Promise<void> | undefined;
  /** The pause's start as last seen, undefined while running; null before the first look. */
  #since: number | undefined | null = null;
  #warnedAt = 0;
  /** The last unexpected read error's message: logged once at error, then at debug while it repeats every look. */
  #fault: string | undefined;

  constructor(options: OperatorPauseWatchOptions) {
    this.#options = options;
  }

  /** The first look at once (its warning right after the start's lines), then every OPERATOR_PAUSE_LOOK_MS. */
  start(): void {
    this.#lookInBackground();
    this.#timer = setInterval(() => this.#lookInBackground(), OPERATOR_PAUSE_LOOK_MS);
    this.#timer.unref();
  }

  /** The operator's pause as the last look saw it (at most OPERATOR_PAUSE_LOOK_MS old): its start, undefined while running. */
  get pausedSince(): number | undefined {
    return this.#since ?? undefined;
  }

  /**
   * Stops looking without waiting for a look in flight: a read held by a PostgreSQL outage (seconds) must not delay the
   * stop's first step (421, 503, ESME_RX_T_APPN at once); what that look finds, or how it fails as the store closes, is
   * not said.
   */
  stop(): void {
    clearInterval(this.#timer);
    this.#stopped = true;
  }

  #lookInBackground(): void {
    if (this.#looking) return;
    this.#looking = this.look().finally(() => {
      this.#looking = undefined;
    });
  }

  async look(): Promise<void> {
    const { store, logger, clock } = this.#options;
    let since: number | undefined;
    try {
      since = await store.dispatchPausedSince();
    } catch (error) {
      if (this.#stopped) return;
      // The store's outage is its health's to log. Anything else is a bug, with its stack: once, not every look
      // (17,280 a day), again when it changes or after a look that worked.
      if (isStoreFailure(error)) return;
      const fault = error instanceof Error ? error.message : String(error);
      const level = fault === this.#fault ? 'debug' : 'error';
      this.#fault = fault;
      logger[level](failureLogFields(error), "dispatch: the operator's pause could not be read; tried again later");
      return;
    }
    if (this.#stopped) return;
    this.#fault = undefined;
    const now = clock();
    const was = this.#since;
    this.#since = since;
    if (since === undefined) {
      if (was !== null && was !== undefined) logger.info({ pausedMs: Math.max(0, now - was) }, 'dispatch: resumed by the operator; queued SMS are sent again');
      return;
    }
    if (was === since && now - this.#warnedAt < OPERATOR_PAUSE_REMIND_MS) return;
    this.#warnedAt = now;
    logger.warn(
      { since: new Date(since).toISOString(), pausedMs: Math.max(0, now - since) },
      `dispatch: paused by the operator (smsrelay queue pause, or the console) since ${new Date(since).toISOString()}; no SMS is sent, the queue is kept until \`smsrelay queue resume\``,
    );
  }
}
