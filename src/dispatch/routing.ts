/**
 * The providers the dispatcher sends through, and which of them a number's SMS goes to: one
 * provider for everything (no `gateway.routes`), or the ordered providers of the number's route.
 */
import type { Gateway } from '../providers/contract.ts';
import type { OutcomeClassifier } from './outcomes.ts';
import { compileRoutes, type RouteSpec, type RouteTable } from './routes.ts';

/** One provider account as the dispatcher uses it. */
export interface DispatchProvider {
  /** The plug-in's name: one account per provider, so it names the account too (logs, the SMS's history). */
  readonly name: string;
  readonly gateway: Gateway;
  /** The provider's outcome rules, with the generic ones after them. */
  readonly outcomes: OutcomeClassifier;
  /** Ask the provider for a reply session per SMS (Puzzel). */
  readonly sessions: boolean;
  /** The sender id as the provider names the sender's queue (ProviderPlugin.senderQueue); as written without it. */
  readonly senderQueue?: ((senderId: string) => string) | undefined;
  /** The sender id the account sends as when a mail names none (`gateway.from`): a refused sender's bounce names it. */
  readonly defaultSenderId?: string | undefined;
  /** The gateway with an account's own credentials (`accounts[].gateway`), when it has them for this provider. */
  readonly gatewayFor?: ((account: string) => Gateway | undefined) | undefined;
}

export interface DispatchRouting {
  /** Every provider, each once. */
  readonly providers: readonly DispatchProvider[];
  /**
   * The providers of the route that takes `number`, the first preferred; the same array for every
   * number of a route. Empty when no route takes it (the routes changed after it was accepted).
   */
  providersOf(number: string): readonly DispatchProvider[];
}

/** One provider takes every number (the relay without `gateway.routes`). */
export function singleProvider(provider: DispatchProvider): DispatchRouting {
  const providers = [provider];
  return { providers, providersOf: () => providers };
}

/** A route whose providers are named (`gateway.routes` as loaded). */
export interface NamedRoute extends RouteSpec {
  readonly providers: readonly { readonly provider: string }[];
}

/** The routes as the config loader checked them; throws for routes it would have refused. */
export function routeTable<Route extends RouteSpec>(routes: readonly Route[]): RouteTable<Route> {
  const compiled = compileRoutes(routes);
  if (!compiled.ok) throw new RangeError(`routes: ${compiled.problems.map((entry) => entry.problem).join('; ')}`);
  return compiled.table;
}

/** Each number to its route's providers, by name among `byName` (every provider a route names). */
export function routedProviders(table: RouteTable<NamedRoute>, byName: ReadonlyMap<string, DispatchProvider>): DispatchRouting {
  const ofRoute = new Map(
    table.routes.map((route) => [
      route,
      route.providers.map(({ provider }) => {
        const found = byName.get(provider);
        if (!found) throw new RangeError(`routes: route ${route.name} names ${provider}, which has no gateway`);
        return found;
      }),
    ]),
  );
  const none: readonly DispatchProvider[] = [];
  return {
    providers: [...byName.values()],
    providersOf: (number) => {
      const route = table.routeOf(number);
      return (route && ofRoute.get(route)) ?? none;
    },
  };
}
