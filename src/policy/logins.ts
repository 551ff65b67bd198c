import { createHmac, randomBytes } from 'node:crypto';
import type { SharedStateStore } from '../store/shared-state-types.ts';

/** Failed logins from one address (whatever account they named) counted over this window. */
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
 * The key of an unknown name's tag, new with each process: the tag cannot be read back, nor a guess at
 * it checked offline from the logs, yet one name tried again and again shows as one tag.
 */
const UNKNOWN_NAME_KEY = randomBytes(32);
/** Hex digits of an unknown name's tag: enough to tell the names of one attack apart. */
const UNKNOWN_NAME_TAG_CHARS = 8;

/**
 * A sign-in's user name as logged and counted: a configured account's or user's as written, any other
 * as `unknown#` and a tag. A name that is no account is often a password typed into the wrong field,
 * or a phone number: neither may reach the log (or the store's failure counts) as written.
 */
export function signInName(name: string, known: boolean): string {
  if (known) return name;
  return `unknown#${createHmac('sha256', UNKNOWN_NAME_KEY).update(name, 'utf8').digest('hex').slice(0, UNKNOWN_NAME_TAG_CHARS)}`;
}

/**
 * Where an input keeps its failed logins, each with its client address and the account it named: an
 * address's failures count together (within LOGIN_WINDOW_MS of `now`), a success forgets its account's.
 */
export interface LoginFailureStore {
  /** The address's failures in the window, whatever account they named. */
  failures(address: string, now: number): Promise<number>;
  /**
   * One attempt naming `account`, before its password is checked: what it writes now (if anything) is never counted
   * by `failures`, so that attempts in flight on other relays sharing the store neither block nor are forgotten.
   */
  attempt(address: string, account: string, now: number): Promise<LoginRecord>;
  /** Forgets the address's failures naming `account` (only those, and no attempt still in flight). */
  clear(address: string, account: string): Promise<void>;
}

/** What an attempt records once its password was checked. */
export interface LoginRecord {
  /** Wrong: the attempt counts as one failure; returns the address's failures in the window, this one included. */
  failed(): Promise<number>;
  /** Right: forgets what the attempt wrote before the check (only that). */
  passed(): Promise<void>;
}

/** SMTP AUTH's failures: the shared state every relay on the database counts. A success writes nothing. */
export function sharedLoginFailures(store: Pick<SharedStateStore, 'authFailures' | 'addAuthFailure' | 'clearAuthFailures'>): LoginFailureStore {
  return {
    failures: (address, now) => store.authFailures(address, LOGIN_WINDOW_MS, now),
    attempt: async (address, account, now) => ({
      failed: () => store.addAuthFailure(address, account, LOGIN_WINDOW_MS, now),
      passed: async () => undefined,
    }),
    clear: (address, account) => store.clearAuthFailures(address, account),
  };
}

/** A login attempt's outcome: blocked unchecked, passed (with who signed in), or failed (answer after `delayMs`). */
export type LoginAttempt<T> =
  | { readonly outcome: 'blocked' }
  | { readonly outcome: 'passed'; readonly who: T }
  | { readonly outcome: 'failed'; readonly delayMs: number };

/**
 * Slows and then stops password guessing, per client address: every failure from an address counts
 * towards its block, whichever account it named, and a success forgets only the failures naming the
 * account that signed in (a user who mistyped is not held by their own slips), never those against
 * another: owning one account must not buy unlimited guesses at the others. The failures are kept in the store:
 * relays sharing a database add up an address's failures, so spreading guesses over them gains nothing.
 * One address's attempts are checked one after another: guesses sent in parallel are stopped after
 * MAX_LOGIN_FAILURES exactly as guesses sent one by one, and a client that opens many sessions at once
 * with the right password (an MTA's burst) waits a password check per session before it, never refused.
 */
export class LoginThrottle {
  readonly #store: LoginFailureStore;
  /** Per address, the end of its last attempt queued: the next one starts after it. */
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(store: LoginFailureStore) {
    this.#store = store;
  }

  /**
   * One attempt from `address` naming `account` (as the client gave it), after the ones it sent
   * before: blocked at MAX_LOGIN_FAILURES, else `verify` decides (who signs in, or undefined). A
   * failure is recorded; a success forgets the address's failures naming `account` (an address without
   * failures costs no write). The caller waits `delayMs` before answering a failure (outside the
   * queue: the wait slows the guesser, not the next check).
   */
  attempt<T>(address: string, account: string, now: number, verify: () => Promise<T | undefined>): Promise<LoginAttempt<T>> {
    const run = () => this.#check(address, account, now, verify);
    const attempt = (this.#queues.get(address) ?? Promise.resolve()).then(run, run);
    const settled = attempt.catch(() => undefined);
    this.#queues.set(address, settled);
    void settled.then(() => {
      if (this.#queues.get(address) === settled) this.#queues.delete(address);
    });
    return attempt;
  }

  async #check<T>(address: string, account: string, now: number, verify: () => Promise<T | undefined>): Promise<LoginAttempt<T>> {
    const failures = await this.#store.failures(address, now);
    if (failures >= MAX_LOGIN_FAILURES) return { outcome: 'blocked' };
    const record = await this.#store.attempt(address, account, now);
    const who = await verify();
    if (who !== undefined) {
      await record.passed();
      if (failures > 0) await this.#store.clear(address, account);
      return { outcome: 'passed', who };
    }
    return { outcome: 'failed', delayMs: failureDelay(await record.failed()) };
  }
}
