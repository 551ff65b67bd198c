/**
 * Delay before retry number `attempt` (1 = the first retry): exponential from `minMs`, capped at
 * `maxMs`, with "equal jitter" (between half and all of the step) so that a burst of failures does
 * not come back as a burst.
 */
export function retryDelay(attempt: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const step = Math.min(maxMs, minMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(step / 2 + (random() * step) / 2);
}

/**
 * Vendor SDK rule for `DELAY:n` (PROTOCOLS §1.1): wait n seconds, but a wait above 120 s is taken as
 * 15 s — a provider asking for minutes is better probed again soon than trusted blindly.
 */
export const MAX_HONOURED_DELAY_SECONDS = 120;
export const DELAY_FALLBACK_SECONDS = 15;

export function providerDelayMs(seconds: number): number {
  return (seconds > MAX_HONOURED_DELAY_SECONDS ? DELAY_FALLBACK_SECONDS : seconds) * 1000;
}
