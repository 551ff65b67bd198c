/**
 * Which gateway host to try, and in what order: the vendor SDK's failover rule (docs/delivery.md).
 * A host that failed in a way that proves the request did not get through is skipped for
 * `recoveryMs` (300 s by default), then the primary is preferred again. When every host is marked
 * failed, all are tried in preference order anyway: one of them may be back, and an SMS waiting for
 * a breaker to close helps nobody.
 */
export class EndpointBreaker {
  readonly #failedAt: Array<number | undefined>;
  readonly #recoveryMs: number;

  constructor(endpointCount: number, recoveryMs: number) {
    this.#failedAt = Array.from({ length: endpointCount }, () => undefined);
    this.#recoveryMs = recoveryMs;
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

  markFailed(endpoint: number, now: number): void {
    this.#failedAt[endpoint] = now;
  }

  markWorking(endpoint: number): void {
    this.#failedAt[endpoint] = undefined;
  }

  #isOpen(endpoint: number, now: number): boolean {
    const failedAt = this.#failedAt[endpoint];
    return failedAt !== undefined && now - failedAt < this.#recoveryMs;
  }
}
