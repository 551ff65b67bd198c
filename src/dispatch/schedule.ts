/**
 * When a temporary failure is tried again, and when an SMS is given up. Pure functions of the time
 * they are given, so the whole schedule is tested with a fake clock.
 */

export interface RetryPolicy {
  /** Delay before the first retry; each further retry doubles it (with jitter). */
  readonly minDelayMs: number;
  /** Cap of one delay. */
  readonly maxDelayMs: number;
  /** Age at which an unsent SMS is bounced. */
  readonly maxAgeMs: number;
}

/**
 * Vendor SDK rule for `DELAY:n` (docs/delivery.md): wait n seconds, but a wait above 120 s is taken as
 * 15 s — a provider asking for minutes is better probed again soon than trusted blindly.
 */
const MAX_HONOURED_DELAY_SECONDS = 120;
const DELAY_FALLBACK_SECONDS = 15;

/**
 * Delay before retry number `attempt` (1 = the first retry): exponential from `minMs`, capped at
 * `maxMs`, with "equal jitter" (between half and all of a step of twice that) so that a burst of
 * failures does not come back as a burst; never below `minMs`, the operator's promise to the gateway.
 */
export function retryDelay(attempt: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const step = Math.min(maxMs, minMs * 2 ** Math.max(1, attempt));
  return Math.max(minMs, Math.round(step / 2 + (random() * step) / 2));
}

/**
 * An HTTP `Retry-After` (RFC 9110 §10.2.3: delay-seconds or an HTTP date) as a wait from `now`, not
 * below the policy's `minDelayMs` nor above its `maxDelayMs` (`delivery.retryMaxDelay`, the longest
 * wait between retries whoever asks for it: a gateway asking for more is asked again then, rather
 * than one header spending much of the SMS's life, or all of it, on one wait); undefined when it is
 * neither form.
 */
export function retryAfterMs(value: string, now: number, policy: Pick<RetryPolicy, 'minDelayMs' | 'maxDelayMs'>): number | undefined {
  const at = /^\d+$/.test(value) ? now + Number(value) * 1000 : Date.parse(value);
  if (!Number.isFinite(at)) return undefined;
  return Math.min(policy.maxDelayMs, Math.max(policy.minDelayMs, at - now));
}

/**
 * A provider's `DELAY:n` as a wait, by the vendor rule above, kept between the policy's `minDelayMs` and
 * `maxDelayMs` as a `Retry-After` is: a busy gateway slows the relay down, never speeds it up (a `DELAY:0`
 * taken at its word is a request per round trip, a history line each, until the SMS's maximum age).
 */
export function providerDelayMs(seconds: number, policy: Pick<RetryPolicy, 'minDelayMs' | 'maxDelayMs'>): number {
  const asked = (seconds > MAX_HONOURED_DELAY_SECONDS ? DELAY_FALLBACK_SECONDS : seconds) * 1000;
  return Math.min(policy.maxDelayMs, Math.max(policy.minDelayMs, asked));
}

/** The moment an SMS received at `receivedAt` is given up. */
export function deadline(receivedAt: number, policy: RetryPolicy): number {
  return receivedAt + policy.maxAgeMs;
}

export type NextStep = { readonly kind: 'retry'; readonly at: number } | { readonly kind: 'expire' };

/**
 * After a temporary failure at `now` (the `attempts`-th attempt of an SMS): retry at the backoff
 * time, or at `waitMs` when the provider or a pause decided the wait, never later than the deadline,
 * so an SMS is given up at its maximum age exactly; at or past the deadline, give up now.
 */
export function nextStep(
  input: { readonly attempts: number; readonly receivedAt: number; readonly now: number; readonly waitMs?: number },
  policy: RetryPolicy,
  random: () => number = Math.random,
): NextStep {
  const giveUpAt = deadline(input.receivedAt, policy);
  if (input.now >= giveUpAt) return { kind: 'expire' };
  const wait = input.waitMs ?? retryDelay(input.attempts, policy.minDelayMs, policy.maxDelayMs, random);
  return { kind: 'retry', at: Math.min(input.now + wait, giveUpAt) };
}

/**
 * The longest waits the dispatcher ever schedules: between a pause's probes (an account's interval, or a down or
 * busy gateway's, within `maxDelayMs`), and for an SMS (a retry, a provider's wait, its hold behind a pause, or
 * behind its sender's full queue with that hold's jitter). A stored due time further ahead was set before the
 * clock stepped back (src/clock-step.ts).
 */
export function longestWaits(policy: RetryPolicy, pauseProbeIntervalMs: number): { readonly smsMs: number; readonly probeMs: number } {
  const probeMs = Math.max(pauseProbeIntervalMs, policy.maxDelayMs);
  return { smsMs: Math.max(probeMs, policy.maxDelayMs + policy.minDelayMs), probeMs };
}
