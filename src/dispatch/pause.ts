/**
 * An account-wide stop: the gateway refused the relay itself (login, credit, allowance, a wrong URL),
 * so every SMS would fail alike. Sending stops, the queue is kept, and one request is let through
 * every `probeIntervalMs` to see whether the account works again. In memory: after a restart the
 * first request finds out afresh.
 */
export class AccountPause {
  readonly #probeIntervalMs: number;
  #state: { readonly reason: string; readonly since: number; nextProbeAt: number; probing: boolean } | undefined;

  constructor(probeIntervalMs: number) {
    this.#probeIntervalMs = probeIntervalMs;
  }

  get paused(): boolean {
    return this.#state !== undefined;
  }

  /** When paused, the next probe time (nothing is due before it); undefined when not paused. */
  get nextProbeAt(): number | undefined {
    return this.#state?.nextProbeAt;
  }

  /** Why the account is refused (`<code>: <reason>`), while it is. */
  get reason(): string | undefined {
    return this.#state?.reason;
  }

  /**
   * Whether a request may go to the provider now: not paused, or its probe is under way or due.
   * (Routes across providers ask this per provider; a refused one is passed over until its probe.)
   */
  mayTry(now: number): boolean {
    const state = this.#state;
    return state === undefined || state.probing || now >= state.nextProbeAt;
  }

  /** Batches that may be sent now: all of them when not paused, one probe when it is due. */
  allowance(now: number, free: number): number {
    const state = this.#state;
    if (!state) return free;
    if (state.probing || now < state.nextProbeAt) return 0;
    return Math.min(free, 1);
  }

  /** A probe batch was claimed: no other until its outcome is known. */
  probeStarted(): void {
    if (this.#state) this.#state.probing = true;
  }

  /** The gateway refused the account. Returns true when this starts a pause (to alert once). */
  refused(reason: string, now: number): boolean {
    const starts = this.#state === undefined;
    this.#state = { reason, since: this.#state?.since ?? now, nextProbeAt: now + this.#probeIntervalMs, probing: false };
    return starts;
  }

  /** The gateway answered something other than an account refusal. Returns the ended pause, if any. */
  answered(): { reason: string; since: number } | undefined {
    const ended = this.#state;
    this.#state = undefined;
    return ended && { reason: ended.reason, since: ended.since };
  }

  /** A claimed probe never reached the gateway (its SMS were all past their age): allow the next. */
  probeSkipped(): void {
    if (this.#state) this.#state.probing = false;
  }

  /** Since when the account is refused, while it is (the console's overview). */
  get since(): number | undefined {
    return this.#state?.since;
  }
}
