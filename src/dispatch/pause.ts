import type { PauseChange, ProbeClaim, SharedPause, SharedStateStore } from '../store/shared-state-types.ts';

export type PauseStore = Pick<SharedStateStore, 'pauseAccount' | 'claimProbe' | 'releaseProbe' | 'resumeAccount'>;

/** An answer on a lease this relay still held: the shared state is its to change. */
const ON_LEASE = Promise.resolve(true);

/**
 * A provider-wide stop: the gateway refused the relay itself (login, credit, allowance, a wrong URL),
 * every host of it failed, or it asked the relay to wait (Retry-After, DELAY), so every SMS would
 * fail alike. Sending stops, the queue is kept, and one request is let through every
 * `probeIntervalMs` (or the wait the stop was given) to see whether the gateway works again. Kept in the store, so that every
 * relay on the database stops together and only one of them probes; what this object holds is the
 * dispatcher's snapshot of it (`load`, about every second), written through on each change. A store
 * that fails a write leaves this relay deciding alone, as a relay of its own would.
 */
export class ProviderPause {
  readonly #provider: string;
  readonly #probeIntervalMs: number;
  readonly #store: PauseStore;
  readonly #storeFailed: (error: unknown) => void;
  /** `probeInMs`: the interval of this pause's probes (a down gateway's grow), which a probe taken holds off the next. */
  #state: { readonly reason: string; readonly since: number; readonly nextProbeAt: number; readonly probeInMs: number } | undefined;
  /** This relay holds the probe: its request decides. */
  #probing = false;
  /** Counts local changes, so that a snapshot read before one does not undo it. */
  #changes = 0;
  /**
   * When the request went whose answer, other than a refusal, this relay last had while it knew of no
   * pause. Relays read the shared pauses about once a second, so one can send after another paused the
   * provider: a pause begun before such a request was answered is over, and `outlived` says so. The
   * request's time, not its answer's: a request sent before the pause and answered after it (a slow
   * gateway) says nothing of the gateway since.
   */
  #answeredAt: number | undefined;

  constructor(provider: string, probeIntervalMs: number, store: PauseStore, storeFailed: (error: unknown) => void) {
    this.#provider = provider;
    this.#probeIntervalMs = probeIntervalMs;
    this.#store = store;
    this.#storeFailed = storeFailed;
  }

  get paused(): boolean {
    return this.#state !== undefined;
  }

  /** When paused, the next probe time (nothing is due before it); undefined when not paused. */
  get nextProbeAt(): number | undefined {
    return this.#state?.nextProbeAt;
  }

  /** This relay took the due probe and has not yet had its answer: its request is the one that decides. */
  get probing(): boolean {
    return this.#probing;
  }

  /** Why the account is refused (`<code>: <reason>`), while it is. */
  get reason(): string | undefined {
    return this.#state?.reason;
  }

  /** A mark to hand back to `load`: a snapshot read after it was taken. */
  get mark(): number {
    return this.#changes;
  }

  /** The store's view (no row: not paused), unless this relay changed the pause since `mark`. */
  load(row: SharedPause | undefined, mark: number): void {
    if (mark !== this.#changes) return;
    // The row keeps no interval: the one this relay last set, else the account pause's.
    this.#state = row && { reason: row.reason, since: row.since, nextProbeAt: row.nextProbeAt, probeInMs: this.#state?.probeInMs ?? this.#probeIntervalMs };
    if (!row) this.#probing = false;
  }

  /**
   * Whether a request may go to the provider now: not paused, or this relay holds the probe, or the
   * probe is due and this relay takes it. (Routes across providers ask this per provider; a refused
   * one is passed over until its probe.)
   */
  async mayTry(now: number): Promise<boolean> {
    const state = this.#state;
    if (state === undefined || this.#probing) return true;
    return now >= state.nextProbeAt && (await this.#claim(now));
  }

  /** While paused and no probe is under way: takes the probe if it is due. Whether this relay probes now. */
  async takeDueProbe(now: number): Promise<boolean> {
    const state = this.#state;
    if (state === undefined || this.#probing || now < state.nextProbeAt) return false;
    return this.#claim(now);
  }

  async #claim(now: number): Promise<boolean> {
    this.#changes++;
    const probeInMs = this.#state?.probeInMs ?? this.#probeIntervalMs;
    const claim: ProbeClaim = await this.#store.claimProbe(this.#provider, probeInMs, now).catch((error: unknown) => {
      this.#storeFailed(error);
      return 'probe' as const;
    });
    if (claim === 'not-paused') {
      this.#state = undefined;
      return true;
    }
    // Taken (by this relay or another): the next is one interval away.
    if (this.#state) this.#state = { ...this.#state, nextProbeAt: now + probeInMs };
    this.#probing = claim === 'probe';
    return this.#probing;
  }

  /**
   * The gateway refused the account (or is down, or busy): the next probe is `probeInMs` away. Says
   * whether this starts a pause, or changes its reason, on any relay (to alert once per change).
   * `onLease` says whether the answer came on the SMS's lease: a late one (another relay took the SMS
   * over meanwhile, docs/several-relays.md) holds this relay alone, until its next read of the shared
   * state, and starts or changes no pause.
   */
  async refused(reason: string, now: number, probeInMs = this.#probeIntervalMs, onLease = ON_LEASE): Promise<PauseChange> {
    this.#changes++;
    const before = this.#state;
    this.#state = { reason, since: before?.since ?? now, nextProbeAt: now + probeInMs, probeInMs };
    this.#probing = false;
    // Its own refusal is newer than any answer it had: read back, its pause is not outlived (the store's
    // \`since\` comes back a few milliseconds off on PostgreSQL, which an answer just before could pass).
    this.#answeredAt = undefined;
    if (!(await onLease)) return { starts: false, changes: false };
    return this.#store.pauseAccount(this.#provider, reason, probeInMs, now).catch((error: unknown) => {
      this.#storeFailed(error);
      return { starts: before === undefined, changes: before?.reason !== reason };
    });
  }

  /**
   * The gateway answered something other than an account refusal. Returns the ended pause, to the
   * one relay that ends it; no store call when this relay knows of no pause. A late answer (`onLease`
   * false, as for `refused`) ends no shared pause: this relay reads it back at its next look.
   */
  async answered(now: number, onLease = ON_LEASE, sentAt = now): Promise<{ reason: string; since: number } | undefined> {
    const known = this.#state;
    if (this.noteAnswerIfClear(sentAt)) return undefined;
    this.#changes++;
    this.#state = undefined;
    this.#probing = false;
    if (!(await onLease)) return undefined;
    return this.#store.resumeAccount(this.#provider, now).catch((error: unknown) => {
      this.#storeFailed(error);
      return known && { reason: known.reason, since: known.since };
    });
  }

  /**
   * `answered` at once, with no promise, when this relay knows of no pause and holds no probe (nearly every
   * request): the answer is only noted for `outlived`. Whether it was; if not, `answered` has it to do.
   */
  noteAnswerIfClear(sentAt: number): boolean {
    if (this.#state !== undefined || this.#probing) return false;
    this.#answeredAt = sentAt;
    return true;
  }

  /** A probe this relay took never reached the gateway (no SMS to send, or all past their age): the next may go. */
  async probeSkipped(now: number): Promise<void> {
    if (!this.#probing) return;
    this.#changes++;
    this.#probing = false;
    await this.#store.releaseProbe(this.#provider, now).catch(this.#storeFailed);
  }

  /** The gateway says by itself that it is back (a bind made again): the probe is due now, not at its time. */
  async probeNow(now: number): Promise<void> {
    const state = this.#state;
    if (state === undefined || this.#probing || now >= state.nextProbeAt) return;
    this.#changes++;
    this.#state = { ...state, nextProbeAt: now };
    await this.#store.releaseProbe(this.#provider, now).catch(this.#storeFailed);
  }

  /**
   * The shared pause this relay read began before a request it had answered since: the gateway
   * works, so the pause must end (`answered`) rather than hold every relay until its next probe, which
   * waits for the next SMS. (The store gives `since` in this relay's clock.)
   */
  get outlived(): boolean {
    return this.#state !== undefined && this.#answeredAt !== undefined && this.#answeredAt > this.#state.since;
  }

  /** Since when the account is refused, while it is (the console's overview). */
  get since(): number | undefined {
    return this.#state?.since;
  }
}
