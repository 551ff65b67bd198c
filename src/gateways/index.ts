import type { Config } from '../config/load.ts';
import type { Logger } from '../log.ts';
import { intellisoftwareModule } from './intellisoftware.ts';
import { interactsmsModule } from './interactsms.ts';
import type { ProviderModule, ProviderName } from './provider.ts';
import { puzzelModule } from './puzzel.ts';
import type { Gateway } from './types.ts';

/** Every provider the relay speaks: adding one = one module here, its simulator, the contract suite. */
export const PROVIDER_MODULES: Readonly<Record<ProviderName, ProviderModule>> = {
  intellisoftware: intellisoftwareModule,
  puzzel: puzzelModule,
  interactsms: interactsmsModule,
};

/** The built-in simulators' account; they check it like the real gateway would. */
export const SIMULATOR_ACCOUNT = { username: 'simulator', password: 'simulator', accountId: '1000' } as const;

/**
 * The gateway the config selects. A simulated provider speaks its wire format on the relay's own HTTP
 * port, so `simulatorUrl` (that port) replaces the configured URLs and the real adapter is exercised
 * end to end. `credentials`: an account's own (`accounts[].gateway`) instead of the relay's.
 */
export function createGateway(
  config: Config,
  logger: Logger,
  simulatorUrl: string | undefined,
  credentials?: { readonly username: string; readonly password: string },
): Gateway {
  const { gateway } = config;
  const module = PROVIDER_MODULES[gateway.provider];
  const simulated = simulatorUrl !== undefined && credentials === undefined;
  return module.createGateway({
    endpoints: simulatorUrl ? [simulatorUrl] : [gateway.url, gateway.backupUrl].filter((url): url is string => Boolean(url)),
    username: credentials?.username ?? (simulated ? SIMULATOR_ACCOUNT.username : (gateway.username ?? '')),
    password: credentials?.password ?? (simulated ? SIMULATOR_ACCOUNT.password : (gateway.password ?? '')),
    accountId: simulatorUrl ? SIMULATOR_ACCOUNT.accountId : gateway.accountId,
    sessions: gateway.sessions,
    connectTimeoutMs: gateway.connectTimeout,
    responseTimeoutMs: gateway.responseTimeout,
    // One connection per concurrent request, so none waits for a socket.
    connectionsPerEndpoint: gateway.maxConcurrentRequests,
    logger: logger.child({ component: 'gateway' }),
  });
}
