import { createLogger } from '../../src/log.ts';
import type { Gateway } from '../../src/providers/contract.ts';
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
 * over; `state.failing` makes it a store that cannot commit (each call then rejects).
 */
export function collectingSink() {
  const received: ReceivedSms[] = [];
  const reports: StatusReport[] = [];
  const quarantined: string[] = [];
  const state = { failing: false, calls: 0 };
  const sink: InboundSink = {
    received: async (items) => {
      state.calls++;
      if (state.failing) throw new Error('the store cannot commit');
      received.push(...items);
      return items.map(() => ({ status: 'accepted', id: 'x' }));
    },
    reported: async (items) => {
      reports.push(...items);
      return items.map(() => 'advanced');
    },
    quarantine: async (kind, reason) => {
      quarantined.push(`${kind}: ${reason}`);
    },
  };
  return { sink, received, reports, quarantined, state };
}
