/**
 * Which route a destination number takes (`gateway.routes`, issue #21): each route matches E.164
 * prefixes (`+47`), ISO countries (`NO`) or everything (`*`), and the most specific match wins, so
 * the order of the routes in the file never decides. A prefix is as specific as its digits; a
 * country as its calling code's digits and a half (it is a part of that calling code: `NO` is
 * narrower than `+47`, which Svalbard shares, and wider than `+479`); `*` least of all. Two routes
 * matching the same prefix, country or `*` are ambiguous: the config refuses them.
 */
import { getCountryCallingCode } from 'libphonenumber-js/max';
import { countryOf } from '../policy/destinations.ts';
import { isCountryCode } from '../sms/numbers.ts';

/** What a route matches on, as written in `gateway.routes[].match`. */
export const ROUTE_MATCH = /^(?:\*|[A-Z]{2}|\+\d{1,15})$/;
/** The match that takes every number. */
export const CATCH_ALL = '*';

export interface RouteSpec {
  /** How the route is named in config problems and logs: its `name`, else its matches. */
  readonly name: string;
  readonly match: readonly string[];
}

interface Matcher<Route> {
  readonly route: Route;
  readonly written: string;
  readonly specificity: number;
  readonly matches: (e164: string, country: () => string | undefined) => boolean;
}

/** Routes by destination: build with `compileRoutes`, which refuses ambiguous overlaps. */
export interface RouteTable<Route extends RouteSpec> {
  readonly routes: readonly Route[];
  /** The route of an E.164 number, or undefined when no route matches it (no `*` route). */
  routeOf(e164: string): Route | undefined;
  /** Whether some number can match no route (no route has `*`). */
  readonly hasCatchAll: boolean;
}

export type CompiledRoutes<Route extends RouteSpec> =
  | { readonly ok: true; readonly table: RouteTable<Route> }
  | { readonly ok: false; readonly problems: readonly { readonly route: number; readonly problem: string }[] };

export function compileRoutes<Route extends RouteSpec>(routes: readonly Route[]): CompiledRoutes<Route> {
  const problems: { route: number; problem: string }[] = [];
  const seen = new Map<string, number>();
  const matchers: Matcher<Route>[] = [];
  for (const [index, route] of routes.entries()) {
    for (const written of new Set(route.match)) {
      const matcher = matcherOf(route, written);
      if (!matcher) {
        problems.push({ route: index, problem: `"${written}" is not a prefix such as +47, a country such as NO, nor *` });
        continue;
      }
      const other = seen.get(written);
      if (other !== undefined) {
        const otherName = routes[other]?.name ?? '';
        problems.push({
          route: index,
          problem: `"${written}" is matched by route ${otherName} too, at the same specificity: which of the two takes such a number is ambiguous; keep it in one route`,
        });
        continue;
      }
      seen.set(written, index);
      matchers.push(matcher);
    }
  }
  if (problems.length > 0) return { ok: false, problems };
  // Most specific first; the sort is stable, and no two matchers have the same key.
  matchers.sort((a, b) => b.specificity - a.specificity);
  const needsCountry = matchers.some((matcher) => isCountryCode(matcher.written));
  return {
    ok: true,
    table: {
      routes,
      hasCatchAll: seen.has(CATCH_ALL),
      routeOf(e164) {
        let country: string | undefined | null = needsCountry ? null : undefined;
        const countryOnce = () => {
          if (country === null) country = countryOf(e164);
          return country;
        };
        return matchers.find((matcher) => matcher.matches(e164, countryOnce))?.route;
      },
    },
  };
}

function matcherOf<Route extends RouteSpec>(route: Route, written: string): Matcher<Route> | undefined {
  if (written === CATCH_ALL) return { route, written, specificity: 0, matches: () => true };
  if (written.startsWith('+') && ROUTE_MATCH.test(written)) {
    return { route, written, specificity: written.length - 1, matches: (e164) => e164.startsWith(written) };
  }
  if (!isCountryCode(written)) return undefined;
  const callingCode = getCountryCallingCode(written);
  return { route, written, specificity: callingCode.length + 0.5, matches: (_e164, country) => country() === written };
}
