/** Failed logins from one address counted over this window. */
export const LOGIN_WINDOW_MS = 15 * 60_000;
/** After this many failures in the window, AUTH from that address is refused until the window passes. */
export const MAX_LOGIN_FAILURES = 10;
/** Each failure's answer waits this long times the failures so far (capped): guessing gets slow. */
const DELAY_STEP_MS = 500;
const MAX_DELAY_MS = 5_000;

/** How long the answer to a failed login waits, after `failures` in the window. */
export function failureDelay(failures: number): number {
  return Math.min(DELAY_STEP_MS * failures, MAX_DELAY_MS);
}

/** Slows and then stops password guessing, per client address. */
export class LoginThrottle {
  readonly #failures = new Map<string, number[]>();

  blocked(address: string, now: number): boolean {
    return this.#recent(address, now).length >= MAX_LOGIN_FAILURES;
  }

  /** Records a failure; returns how long to wait before answering it. */
  failed(address: string, now: number): number {
    const recent = [...this.#recent(address, now), now];
    this.#failures.set(address, recent);
    return failureDelay(recent.length);
  }

  succeeded(address: string): void {
    this.#failures.delete(address);
  }

  /** The failures still in the window; an address with none is forgotten, so the map stays small. */
  #recent(address: string, now: number): number[] {
    const kept = (this.#failures.get(address) ?? []).filter((at) => at > now - LOGIN_WINDOW_MS);
    if (kept.length === 0) this.#failures.delete(address);
    else this.#failures.set(address, kept);
    return kept;
  }
}
