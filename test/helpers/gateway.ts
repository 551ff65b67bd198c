import { outcomeClassifier } from '../../src/dispatch/outcomes.ts';
import { singleProvider } from '../../src/dispatch/routing.ts';
import { createLogger } from '../../src/log.ts';
import type { Gateway } from '../../src/providers/contract.ts';
import { intellisoftwarePlugin } from '../../src/providers/intellisoftware/index.ts';
import { reportNumber } from '../../src/sms/senders.ts';
import { GATEWAY_ACCOUNT } from './relay.ts';
import type { InboundSink, ReceivedSms, StatusReport } from '../../src/vocabulary.ts';

/** What a gateway adapter under test gets besides its account: an endpoint nobody answers on, short timeouts, no logs. */
export const TEST_GATEWAY_SETTINGS = {
  endpoints: ['http://127.0.0.1:1'],
  connectTimeoutMs: 1_000,
  responseTimeoutMs: 2_000,
  connectionsPerEndpoint: 2,
  logger: createLogger('silent'),
  settings: {},
};

/**
 * The IntelliSoftware adapter on the simulator at `url`, as a dispatcher's only route: at most
 * `connections` requests at once, each answered within `responseTimeoutMs`.
 */
export function simulatorRoute(url: string, options: { readonly connections: number; readonly responseTimeoutMs: number }) {
  const gateway = intellisoftwarePlugin.createGateway({
    endpoints: [url],
    ...GATEWAY_ACCOUNT,
    accountId: undefined,
    sessions: false,
    connectTimeoutMs: 1_000,
    responseTimeoutMs: options.responseTimeoutMs,
    connectionsPerEndpoint: options.connections,
    logger: createLogger('silent'),
    settings: {},
  });
  return {
    gateway,
    routing: singleProvider({ name: 'intellisoftware', gateway, outcomes: outcomeClassifier(intellisoftwarePlugin.outcomeRules), sessions: false }),
  };
}

/** A test dispatcher's retry, notice, failover and pause policy (the defaults' order of magnitude), reporting nothing. */
export const TEST_DISPATCH_POLICY = {
  retry: { minDelayMs: 5_000, maxDelayMs: 60_000, maxAgeMs: 24 * 3_600_000 },
  delayNoticeMs: 3_600_000,
  failoverRecoveryMs: 300_000,
  pauseProbeIntervalMs: 60_000,
  report: async () => undefined,
  onMailQueued: () => undefined,
};

/** Runs `use` with a fresh gateway from `create`, and always closes it. */
export async function withFreshGateway<Options, Result>(
  create: (options: Options) => Gateway,
  options: Options,
  use: (gateway: Gateway) => Promise<Result>,
): Promise<Result> {
  const gateway = create(options);
  try {
    return await use(gateway);
  } finally {
    await gateway.close();
  }
}

/**
 * The sink a provider that pushes what it receives (SMPP) is started with, collecting what it hands
 * over (`offered`: every SMS handed over, `received`: those committed); `state.failing` makes it a store
 * that cannot commit (each call then rejects), `state.hold` one whose commits wait for that promise, `state.stopping`
 * a relay that has begun to stop.
 */
export function collectingSink() {
  const received: ReceivedSms[] = [];
  const offered: ReceivedSms[] = [];
  const reports: StatusReport[] = [];
  const quarantined: string[] = [];
  const state: { failing: boolean; calls: number; hold: Promise<void> | undefined; stopping: boolean } = {
    failing: false,
    calls: 0,
    hold: undefined,
    stopping: false,
  };
  /** What the store would say was sent under an id (InboundSink.numbersSentUnder), by id. */
  const sentUnder = new Map<string, string[]>();
  const sink: InboundSink = {
    received: async (items) => {
      state.calls++;
      offered.push(...items);
      await state.hold;
      if (state.failing) throw new Error('the store cannot commit');
      received.push(...items);
      return items.map(() => ({ status: 'accepted', id: 'x' }));
    },
    reported: async (items) => {
      reports.push(...items);
      return items.map(() => 'advanced');
    },
    stopping: () => state.stopping,
    placeReports: async (items) => {
      const placed = items.map((report) => {
        const placing = reportNumber(report.number, sentUnder.get(report.providerId) ?? [], undefined);
        return placing.kind === 'one' ? { ...report, number: placing.number } : `no number for id "${report.providerId}"`;
      });
      return {
        reports: placed.filter((report): report is StatusReport => typeof report !== 'string'),
        unplaced: placed.filter((reason): reason is string => typeof reason === 'string'),
      };
    },
    numbersSentUnder: async (providerId) => sentUnder.get(providerId) ?? [],
    quarantine: async (kind, reason) => {
      quarantined.push(`${kind}: ${reason}`);
    },
  };
  return { sink, received, offered, reports, quarantined, state, sentUnder };
}
