import { failureLogFields, isStoreFailure } from './errors.ts';
import type { Logger } from './log.ts';

/**
 * Upper bound of an idle wait, so a clock jump, a missed kick or an operator's command from another
 * process (`smsrelay queue retry`, `undeliverable reroute`) is acted on within seconds. One indexed
 * query per wait. On PostgreSQL other relays' work wakes the loop at once (store/postgres/notify.ts):
 * this stays the floor under a lost notification.
 */
const MAX_IDLE_WAIT_MS = 5_000;
/** After the store failed, wait this long before claiming again. */
const STORE_RETRY_MS = 1_000;
/**
 * Items past their slot whose outcome is still being committed, per slot: a store whose commits are
 * slow does not hold the next request back, but one that stops answering gathers at most this many
 * pending outcomes before no further item starts.
 */
const COMMITTING_PER_SLOT = 2;
/**
 * While items are in flight, the look-up of when the next item is due runs at most this often: each
 * completion wakes the loop anyway, and under load a claim that takes what is due, then a look-up, came
 * after nearly every item: the mailer's were 0.73 queries per received SMS under 50 concurrent webhooks.
 * Measured (2026-12-04, 3,000 webhooks a run, two pairs each): on SQLite the relay's CPU per received SMS
 * fell from 600–613 µs to 460–477 and the webhooks committed from 5,126–5,495/s to 6,311–6,659/s; on
 * PostgreSQL the relay's from 463–487 µs to 363–387 and the server's from 359–379 to 306–328. What becomes
 * due meanwhile (a retry, a scheduled mail) waits this much at most.
 */
const IN_FLIGHT_DUE_LOOKUP_MS = 100;

export interface WorkLoopOptions<T> {
  readonly name: string;
  readonly logger: Logger;
  readonly concurrency: number;
  /** Leases up to `free` due items; [] when none is due. */
  readonly claim: (free: number) => Promise<readonly T[]>;
  /**
   * Works one claimed item to its recorded outcome; must not throw for expected failures. It calls
   * `release` once the scarce part is done (the gateway answered, the smarthost took the mail): its
   * slot starts the next item while the outcome is committed. Without a call the slot frees at the end.
   */
  readonly process: (item: T, release: () => void) => Promise<void>;
  /** When the next queued item becomes due, if any. */
  readonly nextDueAt: () => Promise<number | undefined>;
  /** The ids an item holds leases on (`held()`, which the heartbeat renews). */
  readonly leaseIds: (item: T) => readonly number[];
  readonly clock: () => number;
  /** The longest idle wait; MAX_IDLE_WAIT_MS unless a test shows that something else wakes the loop. */
  readonly idleWaitMs?: number | undefined;
  /**
   * Whether the store's commits succeed now (its health, store/health.ts). A claim that found nothing due
   * writes nothing and succeeds on a full or read-only disk: after the store failed, the loop says it works
   * again only once commits do, not at a pass that wrote nothing (which said so, then failed again in the
   * same millisecond). Unset: a pass that succeeds is taken as the store working.
   */
  readonly storeCommits?: (() => boolean) | undefined;
}

/**
 * A durable queue's worker loop: claim what is due, process each item with at most `concurrency`
 * in their slot at once, and sleep until the next item is due or `kick()` says new work arrived.
 * An item leaves its slot when it releases it and counts as in flight (for the stop's grace, and its
 * lease stays) until its outcome is committed. Nothing is claimed ahead of a free slot: a lease says
 * the item may be at the gateway, and a restart after a crash counts it as a possible duplicate.
 * Shared by the SMS dispatcher and the outgoing-mail worker.
 */
export class WorkLoop<T> {
  readonly #options: WorkLoopOptions<T>;
  /** Items started and not finished (outcome committed), in their slot or past it, by their work. */
  readonly #inFlight = new Map<Promise<void>, T>();
  /** Items in their slot. */
  #busy = 0;
  /** The pass under way (a claim, the look-up of when the next item is due), if any: a claim in it may start items after the stop came. */
  #pass: Promise<void> | undefined;
  #again = false;
  /** Kicks so far: each says new work may be due. */
  #kicks = 0;
  /**
   * The count of kicks when the last claim began, if it took fewer items than it had free slots for:
   * nothing else was due then, and until the next kick a freed slot finds nothing either.
   */
  #drainedAt: number | undefined;
  #stopped = false;
  #stopping: Promise<void> | undefined;
  #abandoned = false;
  /** When claiming started failing, while it fails: one line per episode, not one per retry. */
  #failingSince: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** When the next due item was last looked up (performance.now()), and the look-up due while items are in flight. */
  #dueLookedUpAt = -Infinity;
  #lookAgain: NodeJS.Timeout | undefined;

  constructor(options: WorkLoopOptions<T>) {
    this.#options = options;
  }

  start(): void {
    this.kick();
  }

  /** New work may be due: look now. */
  kick(): void {
    this.#kicks++;
    this.#wake();
  }

  /** The last claim left nothing due that it could have taken, and no new work came since. */
  #drained(): boolean {
    return this.#drainedAt === this.#kicks;
  }

  /** Runs the loop now (or again after the current pass): claims what free slots may take, then waits. */
  #wake(): void {
    if (this.#stopped) return;
    if (this.#pass) {
      this.#again = true;
      return;
    }
    this.#pass = this.#run();
  }

  /**
   * Claims nothing from now on, and waits for the items in flight at most `graceMs`. Items still in
   * flight then are abandoned (`abandoned` tells the subclass): their lease stays, so the next start
   * takes them up again. A second call returns the first one's promise.
   */
  stop(graceMs = Infinity): Promise<void> {
    this.#stopping ??= this.#stop(graceMs);
    return this.#stopping;
  }

  /** The stop gave up waiting: what the items still in flight learn now is left to the next start. */
  protected get abandoned(): boolean {
    return this.#abandoned;
  }

  async #stop(graceMs: number): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#lookAgain);
    let timer: NodeJS.Timeout | undefined;
    const graceOver = Number.isFinite(graceMs) ? new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs))) : new Promise<void>(() => undefined);
    // The store closes after the loops stopped: a pass still under way would meet it closed (a failed start logged
    // "the store fails" with a stack). A claim under way when the stop came starts what it took: those items are
    // waited for as the others, not counted as left in flight once the ones started before the stop ended.
    const settled = async () => {
      await this.#pass;
      while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight.keys()]);
    };
    await Promise.race([settled(), graceOver]);
    clearTimeout(timer);
    if (this.#inFlight.size === 0) return;
    this.#abandoned = true;
    this.#options.logger.warn(
      { inFlight: this.#inFlight.size, graceMs },
      `${this.#options.name}: stopped with work still in flight; its lease stays and the next start takes it up again`,
    );
  }

  async #run(): Promise<void> {
    clearTimeout(this.#timer);
    let wait: number | undefined;
    try {
      // A kick while the idle wait is worked out is new work too: look again rather than sleep on it.
      do {
        this.#again = false;
        await this.#claimAndProcess();
        if (this.#again || this.#stopped) continue;
        wait = await this.#idleWait();
      } while (this.#again && !this.#stopped);
      if (this.#options.storeCommits?.() ?? true) this.#recovered();
    } catch (error) {
      this.#failed(error);
      wait = STORE_RETRY_MS;
    } finally {
      this.#pass = undefined;
    }
    if (!this.#stopped && wait !== undefined) {
      this.#timer = setTimeout(() => this.kick(), wait);
      this.#timer.unref();
    }
  }

  #failed(error: unknown): void {
    const { logger, name, clock } = this.#options;
    if (this.#failingSince !== undefined) {
      logger.debug({ err: error }, `${name}: the store still fails`);
      return;
    }
    this.#failingSince = clock();
    // The store's own failure is its health's error line (store/health.ts); this one says what the loop does meanwhile, without a stack.
    logger[isStoreFailure(error) ? 'warn' : 'error'](
      { ...failureLogFields(error), retryEveryMs: STORE_RETRY_MS },
      `${name}: the store fails; nothing is claimed until it works again`,
    );
  }

  #recovered(): void {
    if (this.#failingSince === undefined) return;
    this.#options.logger.warn({ failedMs: this.#options.clock() - this.#failingSince }, `${this.#options.name}: the store works again; claiming resumed`);
    this.#failingSince = undefined;
  }

  async #claimAndProcess(): Promise<void> {
    const { concurrency, claim } = this.#options;
    for (;;) {
      // As many as start now: free slots, within the bound on outcomes waiting for their commit.
      const free = Math.min(concurrency - this.#busy, concurrency * COMMITTING_PER_SLOT - this.#committing());
      if (this.#stopped || free <= 0 || this.#drained()) return;
      const kicks = this.#kicks;
      const items = await claim(free);
      // Under load the claims fill the slots freed meanwhile; between the mails of a light load a claim after one
      // that took less than it could found nothing: 1.74 such claims per mail at one SMTP session on PostgreSQL
      // (each a transaction of its own), where the idle wait's look-up of the next due item suffices.
      this.#drainedAt = items.length < free ? kicks : undefined;
      if (items.length === 0) return;
      for (const item of items) this.#start(item);
    }
  }

  /** Items past their slot, their outcome being committed. */
  #committing(): number {
    return this.#inFlight.size - this.#busy;
  }

  #start(item: T): void {
    const { process, logger, name } = this.#options;
    this.#busy++;
    // Inline arrows and a state object, no named closures: tsx's keepNames wraps each named one per item (~1.5 µs).
    const slot = { released: false };
    // The slot frees before the outcome commits: it can take only what the last claim left due.
    const work = process(item, () => {
      if (this.#freeSlot(slot) && !this.#drained()) this.#wake();
    })
      .catch((error: unknown) => {
        // A store that fails says so once each way (store/health.ts): every item it fails meanwhile is no news.
        const fields = failureLogFields(error);
        if ('err' in fields) logger.error(fields, `${name}: unexpected failure; the item is retried when its lease ends`);
        else logger.debug(fields, `${name}: the store failed; the item is retried when its lease ends`);
      })
      .finally(() => {
        this.#inFlight.delete(work);
        this.#freeSlot(slot);
        // A committed outcome may lift the bound on those pending, and may move when the next item is due (a retry): the idle wait looks again.
        this.#wake();
      });
    this.#inFlight.set(work, item);
  }

  /** Frees an item's slot once, whether it released it or ended without: true the first time. */
  #freeSlot(slot: { released: boolean }): boolean {
    if (slot.released) return false;
    slot.released = true;
    this.#busy--;
    return true;
  }

  /** The ids of the leases this loop holds: its items in flight, until their outcome is committed. */
  held(): number[] {
    // Asked at every claim: one array, no copy of the items' nor one per item.
    const ids: number[] = [];
    for (const item of this.#inFlight.values()) ids.push(...this.#options.leaseIds(item));
    return ids;
  }

  /** Time until the next item is due; undefined when work in flight will wake us anyway. */
  async #idleWait(): Promise<number | undefined> {
    // Every slot busy, or outcomes pending up to their bound: a freed slot or a commit wakes the loop.
    const { concurrency } = this.#options;
    if (this.#busy >= concurrency || this.#committing() >= concurrency * COMMITTING_PER_SLOT) return undefined;
    if (this.#inFlight.size > 0) {
      const wait = this.#dueLookedUpAt + IN_FLIGHT_DUE_LOOKUP_MS - performance.now();
      if (wait > 0) {
        this.#lookAgain ??= setTimeout(() => {
          this.#lookAgain = undefined;
          this.#wake();
        }, wait);
        this.#lookAgain.unref();
        return undefined;
      }
    }
    this.#dueLookedUpAt = performance.now();
    const next = await this.#options.nextDueAt();
    const longest = this.#options.idleWaitMs ?? MAX_IDLE_WAIT_MS;
    if (next === undefined) return this.#busy > 0 ? undefined : longest;
    return Math.min(longest, Math.max(0, next - this.#options.clock()));
  }
}
