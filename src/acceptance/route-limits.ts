/**
 * The limits a route sets at RCPT and DATA (`gateway.routes`, #21): its first provider's sender-id
 * rules, and what every provider of the route can carry, since any of them may send the SMS after a
 * failover: the fewest parts and the fewest units per part (the plug-in's limit, or the account's `maxParts`), and scheduling by the
 * provider only when each of them schedules (else the relay holds the SMS until its time).
 */
import { SEGMENT_LIMITS, type SegmentLimits } from '../sms/encoding.ts';
import type { ProviderLimits, RouteLimits, Routes } from './types.ts';

interface LimitedRoute {
  readonly name: string;
  readonly match: readonly string[];
  readonly providers: readonly { readonly provider: string; readonly maxParts: number | undefined; readonly segmentLimits?: SegmentLimits | undefined }[];
}

/** Of several accounts' units per part, the fewest (SMPP's 16-bit references: 152/66); undefined = 153/67. */
export function tightestSegmentLimits(each: readonly (SegmentLimits | undefined)[]): SegmentLimits {
  return each.reduce<SegmentLimits>(
    (fewest, limits = SEGMENT_LIMITS) => (limits.gsm7.concatenatedPart < fewest.gsm7.concatenatedPart ? limits : fewest),
    SEGMENT_LIMITS,
  );
}

/** The stand-ins of every provider that may carry an SMS: a character one of them cannot carry is replaced for all. */
export function everyStandIn(each: readonly ProviderLimits[]): Readonly<Record<string, string>> {
  return Object.assign({}, ...each.map((limits) => limits.capabilities.standIns ?? {}));
}

export function routeLimits<Route extends LimitedRoute>(
  table: { readonly routes: readonly Route[]; routeOf(e164: string): Route | undefined },
  registry: { get(name: string): ProviderLimits },
): Routes {
  const byRoute = new Map<Route, RouteLimits>();
  for (const route of table.routes) {
    const plugins = route.providers.map((account) => ({ account, limits: registry.get(account.provider) }));
    const first = plugins[0]?.limits;
    byRoute.set(route, {
      route: route.name,
      capabilities: {
        maxParts: Math.min(...plugins.map(({ account, limits }) => Math.min(limits.capabilities.maxParts, account.maxParts ?? Number.POSITIVE_INFINITY))),
        scheduling: plugins.every(({ limits }) => limits.capabilities.scheduling),
        standIns: everyStandIn(plugins.map(({ limits }) => limits)),
      },
      // Parts are counted as the route's most restrictive account concatenates (SMPP's 16-bit references: 152/66).
      segmentLimits: tightestSegmentLimits(route.providers.map((account) => account.segmentLimits)),
      senderIdProblem: (senderId) => first?.senderIdProblem(senderId),
    });
  }
  return {
    limitsOf: (e164) => {
      const route = table.routeOf(e164);
      return route && byRoute.get(route);
    },
    described: table.routes.map((route) => `${route.name === route.match.join(', ') ? '' : `${route.name} `}${route.match.join(', ')}`).join('; '),
  };
}
