import { heartbeatInterval } from './cluster/membership.ts';
import type { Logger } from './log.ts';

/** How a work loop's takeover line names what it took over. */
export interface TakeoverWords {
  /** The field that counts the items ("numbers", "mails"). */
  readonly unit: string;
  /** The line itself: what was taken over and who may get it twice. */
  readonly line: string;
}

export interface TakeoversOptions {
  readonly logger: Logger;
  /** A claim's lease (`delivery.leaseTtl`): a dead relay's leases end within one of its heartbeats of each other. */
  readonly leaseMs: number;
  readonly words: TakeoverWords;
  /** The time a takeover's first claim is dated by (Date.now). */
  readonly clock?: (() => number) | undefined;
}

/**
 * Work claimed after another relay's lease on it ended with no outcome (it died, froze or lost the store):
 * that relay may have handed it over already (an SMS to the gateway, a mail to the smarthost), so this
 * one sends it again, possibly a duplicate. The store writes the history line per item as it claims;
 * this says it in the operator's log, one `warn` line per takeover with how many and from which relays
 * (docs/several-relays.md). A dead relay's leases were all last renewed by its last heartbeat, and
 * those it claimed after it end up to one heartbeat later: successive claims take them over during
 * that time, so the line gathers what they take for one heartbeat interval and is written then, with
 * `since`, the first claim's time, as it may be read up to that interval later. Once its loop stopped
 * (`stop`), a claim still under way that resolves takes over all the same: its line is written at once,
 * the process may end before any timer. The dispatcher's (SMS) and the mailer's (the relay's own mail).
 */
export class Takeovers {
  readonly #options: TakeoversOptions;
  /** The items taken over since the first claim of this takeover (`since`), and from whom. */
  #gathered: { readonly since: number; count: number; readonly from: Set<string> } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: TakeoversOptions) {
    this.#options = options;
  }

  /** A claim's items (`from`: the relay whose lease ended, for an item taken over), returned as they are. */
  claimed<T>(items: readonly T[], from: (item: T) => string | undefined): readonly T[] {
    for (const item of items) {
      const relay = from(item);
      if (relay === undefined) continue;
      if (!this.#gathered) {
        this.#gathered = { since: (this.#options.clock ?? Date.now)(), count: 0, from: new Set() };
        this.#timer = setTimeout(() => this.#flush(), heartbeatInterval(this.#options.leaseMs));
        // A relay stopping meanwhile writes the line at its stop, not after its last timer.
        this.#timer.unref();
      }
      this.#gathered.count += 1;
      this.#gathered.from.add(relay);
    }
    if (this.#stopped) this.#flush();
    return items;
  }

  /** At the loop's stop: writes what was gathered, and from now on the line of each claim as it resolves. */
  stop(): void {
    this.#stopped = true;
    this.#flush();
  }

  /** Writes the line of what was gathered, if anything: at the end of its interval, and at the loop's stop. */
  #flush(): void {
    clearTimeout(this.#timer);
    const gathered = this.#gathered;
    this.#gathered = undefined;
    if (!gathered) return;
    const { logger, words } = this.#options;
    logger.warn({ [words.unit]: gathered.count, from: [...gathered.from], since: new Date(gathered.since).toISOString() }, words.line);
  }
}
