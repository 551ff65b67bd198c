import { hostKey } from '../masked-url.ts';
import type { Gateway } from '../providers/contract.ts';
import type { SharedHostFailure, SharedStateStore } from '../store/shared-state-types.ts';

export type BreakerStore = Pick<SharedStateStore, 'markHostFailed' | 'markHostWorking'>;

/**
 * A host that failed within `recoveryMs`: when, and until when the breaker skips it (tried again after). No `until`
 * while every host of the provider failed: the breaker then tries them all, and the provider's pause, not the breaker,
 * says when (its next probe).
 */
export interface HostFailure {
  readonly at: number;
  readonly until?: number;
}

/**
 * Which gateway host to try, and in what order: the vendor SDK's failover rule (docs/delivery.md).
 * A host that failed in a way that proves the request did not get through is skipped for
 * `recoveryMs` (300 s by default), then the primary is preferred again. When every host is marked
 * failed, all are tried in preference order anyway: one of them may be back, and an SMS waiting for
 * a breaker to close helps nobody. The failures are kept in the store by provider and host key (Gateway.hostKeys:
 * the URL as configured, hashed; the URL shown masks its secrets, and two accounts' `?key=` would be one host), so
 * that every relay on the database skips a host one of them found failed; this object is the
 * dispatcher's snapshot (`load`), written through when a host fails or works again.
 */
export class EndpointBreaker {
  readonly #provider: string;
  /** The store's key of each endpoint. */
  readonly #keys: readonly string[];
  readonly #failedAt: Array<number | undefined>;
  readonly #recoveryMs: number;
  readonly #store: BreakerStore;
  readonly #storeFailed: (error: unknown) => void;
  /** Counts local changes, so that a snapshot read before one does not undo it. */
  #changes = 0;

  constructor(
    provider: string,
    gateway: Pick<Gateway, 'endpoints' | 'hostKeys'>,
    recoveryMs: number,
    store: BreakerStore,
    storeFailed: (error: unknown) => void,
  ) {
    this.#provider = provider;
    this.#keys = gateway.hostKeys ?? gateway.endpoints.map((endpoint) => hostKey(provider, endpoint));
    this.#failedAt = this.#keys.map(() => undefined);
    this.#recoveryMs = recoveryMs;
    this.#store = store;
    this.#storeFailed = storeFailed;
  }

  /** Endpoint indexes to try now, best first. */
  order(now: number): number[] {
    const all = this.#failedAt.map((_, index) => index);
    const healthy = all.filter((index) => !this.#isOpen(index, now));
    return healthy.length > 0 ? healthy : all;
  }

  /** Whether some endpoint is not skipped now (a provider all of whose hosts failed is tried after the others). */
  healthy(now: number): boolean {
    return this.#failedAt.some((_, index) => !this.#isOpen(index, now));
  }

  /** A mark to hand back to `load`: a snapshot read after it was taken. */
  get mark(): number {
    return this.#changes;
  }

  /** The store's failures (of every provider: this one's are picked), unless this relay changed one since `mark`. */
  load(failures: readonly SharedHostFailure[], mark: number): void {
    if (mark !== this.#changes) return;
    for (const [index, key] of this.#keys.entries()) {
      this.#failedAt[index] = failures.find((failure) => failure.provider === this.#provider && failure.endpoint === key)?.failedAt;
    }
  }

  async markFailed(endpoint: number, now: number): Promise<void> {
    this.#changes++;
    this.#failedAt[endpoint] = now;
    await this.#store.markHostFailed(this.#provider, this.#keys[endpoint] ?? '', now).catch(this.#storeFailed);
  }

  /** Whether this relay knows a failure of the host, however old: only then has an answer from it something to mark (`markWorking`). */
  knowsFailed(endpoint: number): boolean {
    return this.#failedAt[endpoint] !== undefined;
  }

  /** A host this relay knew failed (`knowsFailed`: the caller asks first, so that an answered request awaits nothing) answered. */
  async markWorking(endpoint: number): Promise<void> {
    this.#changes++;
    this.#failedAt[endpoint] = undefined;
    await this.#store.markHostWorking(this.#provider, this.#keys[endpoint] ?? '').catch(this.#storeFailed);
  }

  /** When host `endpoint` failed and, while another is not failed, until when it is skipped; undefined while it is not failed. */
  failure(endpoint: number, now: number): HostFailure | undefined {
    const at = this.#failedAt[endpoint];
    if (at === undefined || !this.#isOpen(endpoint, now)) return undefined;
    return this.healthy(now) ? { at, until: at + this.#recoveryMs } : { at };
  }

  #isOpen(endpoint: number, now: number): boolean {
    const failedAt = this.#failedAt[endpoint];
    return failedAt !== undefined && now - failedAt < this.#recoveryMs;
  }
}
