import { RelayError } from '../errors.ts';
import type { SharedStateStore } from '../store/shared-state-types.ts';
import type { Principal } from './senders.ts';

/** A mail counted against its sender's limits: release it when the mail was not committed after all. */
export type RateTicket = { readonly id: number } | undefined;

/**
 * Mails per minute and per day and SMS parts per day, per principal, over sliding windows. Kept in
 * the store, so that every relay on one database counts the same mails (a limit of 100 a day is 100
 * a day across the relays) and a restart forgets nothing. A principal without limits costs nothing:
 * no store call.
 */
export class RateLimits {
  readonly #store: Pick<SharedStateStore, 'takeRate' | 'releaseRate'>;

  constructor(store: Pick<SharedStateStore, 'takeRate' | 'releaseRate'>) {
    this.#store = store;
  }

  /**
   * Counts one more mail of `parts` parts for the principal, or throws RATE_LIMITED saying which
   * limit it would exceed: checked and counted at once, so two relays cannot both take the last one.
   * A mail of more parts than the whole `dailyParts` is OVER_DAILY_BUDGET, permanent: no day has room
   * for it. (`perMinute` and `perDay` are at least 1, so a single mail always fits them.)
   */
  async take(principal: Principal, parts: number, now: number): Promise<RateTicket> {
    const { perMinute, perDay, dailyParts } = principal;
    if (perMinute === undefined && perDay === undefined && dailyParts === undefined) return undefined;
    if (dailyParts !== undefined && parts > dailyParts) {
      throw new RelayError(
        'OVER_DAILY_BUDGET',
        `Over the daily budget: this mail needs ${parts} SMS parts, more than ${principal.name}'s whole budget of ${dailyParts} a day; send a shorter text or to fewer numbers`,
      );
    }
    const taken = await this.#store.takeRate(`${principal.kind}:${principal.name}`, { perMinute, perDay, dailyParts }, parts, now);
    if (taken.taken) return { id: taken.id };
    const problem = {
      perMinute: `${principal.name} may send ${perMinute} mails a minute; try again in a minute`,
      perDay: `${principal.name} may send ${perDay} mails a day; try again later`,
      dailyParts: `${principal.name} has a budget of ${dailyParts} SMS parts a day (${taken.counts.partsToday} used); try again later`,
    }[taken.exceeded];
    throw new RelayError('RATE_LIMITED', `Sending limit reached: ${problem}`);
  }

  /** The mail was not committed: it does not count. Best effort (the store that failed the commit may fail this too). */
  async release(ticket: RateTicket): Promise<void> {
    if (ticket) await this.#store.releaseRate(ticket.id).catch(() => undefined);
  }
}
