import type { SharedStateStore } from '../store/shared-state-types.ts';

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

/**
 * Slows and then stops password guessing, per client address. The failures are kept in the store:
 * relays sharing a database add up an address's failures, so spreading guesses over them gains nothing.
 */
export class LoginThrottle {
  readonly #store: Pick<SharedStateStore, 'authFailures' | 'addAuthFailure' | 'clearAuthFailures'>;

  constructor(store: Pick<SharedStateStore, 'authFailures' | 'addAuthFailure' | 'clearAuthFailures'>) {
    this.#store = store;
  }

  /** The address's failures in the window (the caller blocks at MAX_LOGIN_FAILURES, and clears them on success). */
  failures(address: string, now: number): Promise<number> {
    return this.#store.authFailures(address, LOGIN_WINDOW_MS, now);
  }

  /** Records a failure; returns how long to wait before answering it. */
  async failed(address: string, now: number): Promise<number> {
    return failureDelay(await this.#store.addAuthFailure(address, LOGIN_WINDOW_MS, now));
  }

  /** A success forgets the address's failures; `failures` as read before: none to forget costs no write. */
  async succeeded(address: string, failures: number): Promise<void> {
    if (failures > 0) await this.#store.clearAuthFailures(address);
  }
}
