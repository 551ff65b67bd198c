import type { Principal } from './senders.ts';

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;

interface Sent {
  readonly at: number;
  readonly parts: number;
}

/**
 * Mails per minute and per day and SMS parts per day, per principal, over sliding windows. Kept in
 * memory: a restart forgets the counts (a limit is a brake on runaway senders, not an invoice).
 */
export class RateLimits {
  readonly #sent = new Map<string, Sent[]>();

  /** Why one more mail of `parts` parts (to `numbers` numbers) would exceed a limit, or undefined. */
  problem(principal: Principal, parts: number, now: number): string | undefined {
    const history = this.#recent(principal, now);
    const lastMinute = history.filter((sent) => sent.at > now - MINUTE_MS).length;
    if (principal.perMinute !== undefined && lastMinute >= principal.perMinute) {
      return `${principal.name} may send ${principal.perMinute} mails a minute; try again in a minute`;
    }
    if (principal.perDay !== undefined && history.length >= principal.perDay) {
      return `${principal.name} may send ${principal.perDay} mails a day; try again later`;
    }
    const partsToday = history.reduce((sum, sent) => sum + sent.parts, 0);
    if (principal.dailyParts !== undefined && partsToday + parts > principal.dailyParts) {
      return `${principal.name} has a budget of ${principal.dailyParts} SMS parts a day (${partsToday} used); try again later`;
    }
    return undefined;
  }

  record(principal: Principal, parts: number, now: number): void {
    if (principal.perMinute === undefined && principal.perDay === undefined && principal.dailyParts === undefined) return;
    this.#recent(principal, now).push({ at: now, parts });
  }

  #recent(principal: Principal, now: number): Sent[] {
    const key = `${principal.kind}:${principal.name}`;
    const kept = (this.#sent.get(key) ?? []).filter((sent) => sent.at > now - DAY_MS);
    this.#sent.set(key, kept);
    return kept;
  }
}
