import { failureLogFields, isStoreFailure } from './errors.ts';
import type { Logger } from './log.ts';

/** How a work loop's lines name what it owes the store. */
export interface OwedWords {
  /** The loop's name, which starts its lines ("dispatch", "mailer"). */
  readonly loop: string;
  /** One outcome ("gateway outcome"), and several ("gateway outcomes"). */
  readonly one: string;
  readonly several: string;
  /** The field that counts the items ("sms", "mail"), and one item in words ("SMS", "mail"). */
  readonly unit: string;
  readonly item: string;
  /** What becomes of the items whose outcome the stop could not write. */
  readonly atNextStart: string;
}

/**
 * The line of an answer that came after another relay took the item over (this relay frozen or cut off past
 * its lease): its outcome is that relay's, and the store kept this one as a history line only.
 */
export function lateAnswerLine({ loop, item }: Pick<OwedWords, 'loop' | 'item'>): string {
  return `${loop}: late answer: another relay took the ${item} over after this relay's lease ended; its outcome is that relay's, this one is kept in the history only`;
}

export interface OwedOutcomesOptions<O> {
  readonly logger: Logger;
  readonly clock: () => number;
  /**
   * Writes one outcome (one transaction), returning how many of its items were late answers (lateAnswerLine); throws
   * while the store fails. `keptAt`: when the store refused it (the clock's), so that its lines say how long it was owed.
   */
  readonly write: (outcome: O, keptAt: number) => Promise<number>;
  /**
   * The stop could not write the outcome, which waited `owedMs`: told once, so that no item's own line is lost with
   * the process (its outcome is then the next start's).
   */
  readonly unrecorded?: (outcome: O, owedMs: number) => void;
  /** The ids of the leases an outcome's items hold. */
  readonly ids: (outcome: O) => readonly number[];
  readonly words: OwedWords;
}

/**
 * Outcomes the store could not take (its outage, a full disk, a lock held too long) after the work was
 * done: the gateway or the smarthost took the message. Kept in memory, oldest first, their leases held
 * (`held()`, which the heartbeat renews), and written before the loop claims anything else, so the
 * running relay never does that work again; if it dies first, the next start resumes the lease and
 * counts the resend. The dispatcher's (gateway answers) and the mailer's (the relay's own mail).
 */
export class OwedOutcomes<O> {
  readonly #options: OwedOutcomesOptions<O>;
  /** Oldest first, each with when it was kept. */
  readonly #owed: Array<{ readonly outcome: O; readonly keptAt: number }> = [];
  /** Since when the oldest outcome waits, and how many items were written since the first was kept (late: as late answers only). */
  #since = 0;
  #written = 0;
  #late = 0;
  #writing: Promise<void> | undefined;
  /** The stop has said that outcomes could not be written (the relay's stop asks twice). */
  #toldUnrecorded = false;

  constructor(options: OwedOutcomesOptions<O>) {
    this.#options = options;
  }

  /** The store refused `outcome` with `error`: kept until it takes writes again, one line each (`log`: the item's own logger). */
  keep(outcome: O, error: unknown, log: Logger = this.#options.logger): void {
    const { loop, one, item } = this.#options.words;
    const now = this.#options.clock();
    if (this.#owed.length === 0) this.#since = now;
    this.#owed.push({ outcome, keptAt: now });
    // The store's outage is its health's line (store/health.ts): each outcome it could not take is a debug
    // line with the store's code and reason (docs/operations.md); anything else is a bug, with its stack.
    log[isStoreFailure(error) ? 'debug' : 'error'](
      { ...failureLogFields(error), owed: this.#owed.length },
      `${loop}: could not record the ${one}; it is kept until the store takes writes again, and the ${item} is not sent again`,
    );
  }

  /** The leases of the items whose outcome is owed: they stay until it is written. */
  held(): number[] {
    return this.#owed.flatMap(({ outcome }) => [...this.#options.ids(outcome)]);
  }

  /** Writes what is owed, oldest first, one outcome a transaction; throws (keeping the rest owed) while the store fails. */
  write(): Promise<void> {
    if (this.#owed.length === 0) return Promise.resolve();
    this.#writing ??= (async () => {
      for (let next = this.#owed[0]; next !== undefined; next = this.#owed[0]) {
        const late = await this.#options.write(next.outcome, next.keptAt);
        this.#owed.shift();
        this.#written += this.#options.ids(next.outcome).length - late;
        this.#late += late;
      }
      const { loop, several, unit } = this.#options.words;
      // The late answers were each told as such (lateAnswerLine): recorded, they changed nothing.
      this.#options.logger.warn(
        { [unit]: this.#written, ...(this.#late > 0 ? { late: this.#late } : {}), owedMs: this.#options.clock() - this.#since },
        `${loop}: ${several} recorded now that the store takes writes again`,
      );
      this.#written = 0;
      this.#late = 0;
    })().finally(() => {
      this.#writing = undefined;
    });
    return this.#writing;
  }

  /** The stop's last chance to write what is owed: what stays unwritten keeps its lease, said once, with each outcome's own line (`unrecorded`). */
  async writeAtStop(): Promise<void> {
    const count = this.held().length;
    await this.write().catch((error: unknown) => {
      const { loop, several, unit, atNextStart } = this.#options.words;
      // A store failure is an expected outage, in the store's words; only anything else has a stack (docs/operations.md).
      if (this.#toldUnrecorded) return this.#options.logger.debug({ ...failureLogFields(error), [unit]: count }, `${loop}: ${several} still not recorded`);
      this.#toldUnrecorded = true;
      this.#options.logger.error({ ...failureLogFields(error), [unit]: count }, `${loop}: ${several} could not be recorded before the stop; ${atNextStart}`);
      const now = this.#options.clock();
      for (const { outcome, keptAt } of this.#owed) this.#options.unrecorded?.(outcome, now - keptAt);
    });
  }
}
