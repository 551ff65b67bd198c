import type { Config } from '../config/load.ts';
import type { Logger } from '../log.ts';
import { createIntelliSoftwareGateway } from './intellisoftware.ts';
import type { Gateway } from './types.ts';

/** Connections kept per gateway host: one per concurrent request, so none waits for a socket. */
const connectionsFor = (config: Config): number => config.gateway.maxConcurrentRequests;

/**
 * The gateway the config selects. The simulator speaks IntelliSoftware's wire format on the relay's
 * own HTTP port, so `simulatorUrl` (that port) replaces the configured URLs and the real adapter is
 * exercised end to end.
 */
export function createGateway(config: Config, logger: Logger, simulatorUrl: string | undefined): Gateway {
  const { gateway } = config;
  const endpoints = simulatorUrl ? [simulatorUrl] : [gateway.url, gateway.backupUrl].filter((url): url is string => Boolean(url));
  return createIntelliSoftwareGateway({
    endpoints,
    username: simulatorUrl ? SIMULATOR_CREDENTIALS.username : (gateway.username ?? ''),
    password: simulatorUrl ? SIMULATOR_CREDENTIALS.password : (gateway.password ?? ''),
    connectTimeoutMs: gateway.connectTimeout,
    responseTimeoutMs: gateway.responseTimeout,
    connectionsPerEndpoint: connectionsFor(config),
    logger: logger.child({ component: 'gateway' }),
  });
}

/** The built-in simulator's account; it checks them like the real gateway would. */
export const SIMULATOR_CREDENTIALS = { username: 'simulator', password: 'simulator' } as const;
