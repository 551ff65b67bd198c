import type { Classified } from './outcomes.ts';

/**
 * One sender held at one provider: why (the answer that held it), since when, and when its next probe may go,
 * on the monotonic clock (in this relay's memory only: a step of the wall clock neither holds a sender for its
 * length nor lets its SMS all go).
 */
export interface SenderHold {
  readonly classified: Classified;
  readonly since: number;
  readonly nextProbeAt: number;
  readonly probeInMs: number;
}

/**
 * The senders whose own queue at a provider is full (OutcomeRule.holdsSender: Twilio's 21611 for a mail's
 * From), by provider, gateway account and sender id. Their SMS to that provider wait without a request; one
 * is let through when the hold's probe is due, and a message its queue takes (sent, or maybe) ends it. The
 * provider's other senders go on, and its pause is not touched: a bulk sender's full queue neither holds
 * nor frees everyone else. Each relay holds its own (not the store's, as a provider's pause is): another
 * relay on the database learns of the queue from its own first answer.
 */
export class SenderHolds {
  readonly #holds = new Map<string, SenderHold>();

  /** No sender is held: nothing to take or end, so no key need be made. */
  get empty(): boolean {
    return this.#holds.size === 0;
  }

  /**
   * Undefined when a request for the sender may go now (no hold, or its probe is due, which this call
   * takes: the next is one interval away, whatever became of this one); else the hold that defers it.
   */
  take(key: string, now: number): SenderHold | undefined {
    const hold = this.#holds.get(key);
    if (hold === undefined) return undefined;
    if (now < hold.nextProbeAt) return hold;
    this.#holds.set(key, { ...hold, nextProbeAt: now + hold.probeInMs });
    return undefined;
  }

  /** The provider said the sender's queue is full: held, its next probe `probeOf(since)` away. */
  held(key: string, classified: Classified, now: number, probeOf: (since: number) => number): void {
    this.#prune(now);
    const since = this.#holds.get(key)?.since ?? now;
    const probeInMs = probeOf(since);
    this.#holds.set(key, { classified, since, nextProbeAt: now + probeInMs, probeInMs });
  }

  /** The sender's queue took a message: its SMS go again. */
  answered(key: string): void {
    this.#holds.delete(key);
  }

  /**
   * Holds whose probe was due an interval ago and that no SMS came to take: a sender that stopped sending.
   * Its next SMS would go as a probe anyway; only how long it was held is forgotten, which bounds the map.
   */
  #prune(now: number): void {
    for (const [key, hold] of this.#holds) if (now > hold.nextProbeAt + hold.probeInMs) this.#holds.delete(key);
  }
}

/** Whose queue a send fills: the provider's, the gateway account's the mail sends on, and the sender id the mail named. */
export function senderKey(provider: string, gatewayAccount: string | undefined, senderId: string | undefined): string {
  return JSON.stringify([provider, gatewayAccount ?? null, senderId ?? null]);
}
