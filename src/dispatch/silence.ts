import type { Logger } from '../log.ts';

/**
 * A request unanswered this long is far beyond a healthy gateway (its answers take well under a
 * second) and still well before the default response timeout (30 s): time to tell the operator
 * while the requests are still waiting.
 */
export const SILENCE_WARN_MS = 10_000;

/**
 * The relay's own timers this late mean its event loop did not run: its process was stopped (SIGSTOP,
 * a paused VM), starved of the CPU, or busy with one long task of its own. A timer seconds late is no
 * scheduling jitter, and the requests' waits it adds are a fifth of SILENCE_WARN_MS or more, none of
 * them the gateway's.
 */
export const RELAY_STALL_MS = 2_000;

/** The CPU time the process has used, user and system, in ms: all its threads (Node 20 has no per-thread count). */
export const processCpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

/** How a request to a gateway host ended, as far as its silence goes. */
export type RequestEnding =
  /** The host answered something (an id, an error code, an HTTP error status). */
  | 'answered'
  /** It took the request and gave no answer (response timeout, connection lost). */
  | 'unanswered'
  /** It was never reached: the endpoint breaker deals with that, it says nothing about silence. */
  | 'unreachable'
  /** The relay gave up on it (the stop, a failing send): nothing learnt about the host. */
  | 'dropped';

interface Waiting {
  readonly host: string;
  /** Its start, moved later by the relay's own stalls while it waited: only the gateway's share counts. */
  since: number;
  /** The relay stalled while it waited: a timeout of it says nothing about the gateway. */
  stalled: boolean;
}

/**
 * Notices a gateway host that takes requests and stops answering them: one warning when a request to
 * it has waited `thresholdMs` (or ended without an answer first), and one when the host answers
 * again, per episode, however many requests hang meanwhile. Times come from the caller's monotonic clock (a wall-clock step is no wait);
 * `check` is what a timer calls while requests wait, with how late that timer ran: a relay that was
 * itself stopped says so instead of blaming the gateway.
 */
export class GatewaySilence {
  readonly #thresholdMs: number;
  readonly #logger: Logger;
  readonly #waiting = new Set<Waiting>();
  readonly #silent = new Map<string, { readonly since: number; unanswered: number }>();

  constructor(thresholdMs: number, logger: Logger) {
    this.#thresholdMs = thresholdMs;
    this.#logger = logger;
  }

  /** A request to `host` starts at `now`; the returned function is told how it ended, and when. */
  requested(host: string, now: number): (ending: RequestEnding, at: number) => void {
    const request: Waiting = { host, since: now, stalled: false };
    this.#waiting.add(request);
    return (ending, at) => {
      if (!this.#waiting.has(request)) return;
      // Still counted as waiting while its own ending starts an episode: it was in flight until now.
      if (ending === 'unanswered' && !request.stalled) this.#episode(host, request.since, at).unanswered += 1;
      this.#waiting.delete(request);
      if (ending === 'answered') this.#answered(host, at);
    };
  }

  /**
   * Starts an episode for each host with a request waiting past the threshold. `lateMs`: how late the
   * timer calling it ran (real time); from RELAY_STALL_MS on, the relay itself did not run meanwhile.
   * `cpuMs`: the CPU time the process used since the timer last ran, which tells why.
   */
  check(now: number, lateMs = 0, cpuMs = 0): void {
    if (lateMs >= RELAY_STALL_MS) this.#stalled(lateMs, cpuMs);
    for (const request of this.#waiting) {
      if (now - request.since >= this.#thresholdMs) this.#episode(request.host, request.since, now);
    }
  }

  #stalled(ms: number, cpuMs: number): void {
    for (const request of this.#waiting) {
      request.since += ms;
      request.stalled = true;
    }
    // Named, not blamed: a relay on a busy host whose own long task stalled it used only part of the stall's CPU either way.
    this.#logger.warn(
      { stalledMs: Math.round(ms), cpuMs: Math.round(cpuMs), inFlight: this.#waiting.size },
      `dispatch: this relay's event loop did not run for ${Math.round(ms / 1000)} s (its timers ran that late) while the relay used ${(cpuMs / 1000).toFixed(1)} s of CPU: ` +
        'its own work (one long task, such as a mail it read) when that is near the stall, else a stop (SIGSTOP, a paused VM) or a host short of CPU; its gateway requests waited through no fault of the gateway',
    );
  }

  #episode(host: string, since: number, now: number): { readonly since: number; unanswered: number } {
    const current = this.#silent.get(host);
    if (current) return current;
    const waiting = [...this.#waiting].filter((request) => request.host === host);
    const oldest = Math.min(since, ...waiting.map((request) => request.since));
    const episode = { since: oldest, unanswered: 0 };
    this.#silent.set(host, episode);
    this.#logger.warn(
      { endpoint: host, waitingMs: now - oldest, inFlight: waiting.length },
      `dispatch: the SMS gateway at ${host} is not answering; SMS left without an answer are retried later and may reach the phone twice`,
    );
    return episode;
  }

  #answered(host: string, at: number): void {
    const episode = this.#silent.get(host);
    if (!episode) return;
    this.#silent.delete(host);
    this.#logger.warn({ endpoint: host, silentMs: at - episode.since, unanswered: episode.unanswered }, `dispatch: the SMS gateway at ${host} answers again`);
  }
}
