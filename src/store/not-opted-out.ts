/**
 * Numbers remembered as not opted out (a recipient's number), so that the check at RCPT of a number
 * seen before needs no round trip to the store (SQLite's thread: a message each way and a read;
 * PostgreSQL: a round trip to the server, on every mail's way to its 250). Bounded: a relay's regular
 * recipients fit, a stream of new numbers only turns the oldest out.
 */
export const NOT_OPTED_OUT_REMEMBERED = 10_000;

export interface NotOptedOutOptions {
  /**
   * How long an answer is trusted when a change made elsewhere might not be heard of (another relay's
   * STOP whose notification was lost with its process): unset, until a change forgets it.
   */
  readonly rememberMs?: number;
  readonly clock?: () => number;
}

/**
 * Whether a received SMS may opt its number out (a STOP), which every remembered answer must give way to. A START only
 * takes an opt-out away, which no answer remembered here ("not opted out") can contradict: it forgets nothing, here
 * or at the other relays (no notification on PostgreSQL), however many on-call "Yes" answers come in.
 */
export const addsOptOut = (inbound: { readonly optOut?: { readonly action: 'stop' | 'start' } | undefined }): boolean => inbound.optOut?.action === 'stop';

/**
 * Which numbers the store last said are not opted out. Opt-outs are added only through acceptInbound (a
 * STOP received) and recordOptOut (a provider's refusal; neither the console nor a command line
 * tool writes them): every such write
 * forgets everything when it starts and again when it ends, whatever its outcome, and so does news of
 * another process's (`forget`); an answer is remembered only when no such write began or ran, and
 * nothing was forgotten, while it was asked. "Opted out" is never remembered: that answer stays the store's.
 */
export class NotOptedOut {
  /** Number → when its answer was remembered (Map order: the oldest first). */
  readonly #numbers = new Map<string, number>();
  readonly #rememberMs: number;
  readonly #clock: () => number;
  /** Opt-out writes under way and not answered yet. */
  #writing = 0;
  /** Counts the forgettings: an answer asked before one is not remembered. */
  #generation = 0;

  constructor({ rememberMs = Number.POSITIVE_INFINITY, clock = Date.now }: NotOptedOutOptions = {}) {
    this.#rememberMs = rememberMs;
    this.#clock = clock;
  }

  check(number: string, ask: () => Promise<boolean>): Promise<boolean> {
    const since = this.#numbers.get(number);
    if (since !== undefined) {
      if (this.#clock() - since < this.#rememberMs) return Promise.resolve(false);
      this.#numbers.delete(number);
    }
    const generation = this.#generation;
    return ask().then((optedOut) => {
      if (!optedOut && this.#writing === 0 && generation === this.#generation) this.#remember(number);
      return optedOut;
    });
  }

  async changing<T>(write: () => Promise<T>): Promise<T> {
    this.forget();
    this.#writing++;
    try {
      return await write();
    } finally {
      this.#writing--;
      this.forget();
    }
  }

  /** Forgets every answer, and any answer being asked now: opt-outs may have changed elsewhere. */
  forget(): void {
    this.#numbers.clear();
    this.#generation++;
  }

  #remember(number: string): void {
    if (this.#numbers.size >= NOT_OPTED_OUT_REMEMBERED) this.#numbers.delete(this.#numbers.keys().next().value as string);
    this.#numbers.set(number, this.#clock());
  }
}
