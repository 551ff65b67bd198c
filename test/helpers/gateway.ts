import { createLogger } from '../../src/log.ts';
import type { Gateway } from '../../src/providers/contract.ts';

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
