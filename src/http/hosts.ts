import { isIP } from 'node:net';
import type { Config } from '../config/load.ts';
import { RelayError } from '../errors.ts';

/**
 * The names every relay answers to besides its settings': `localhost` resolves to this host's loopback
 * only (RFC 6761 §6.3), so no other site's page can be served under it.
 */
const LOCAL_NAMES = ['localhost'];

/**
 * The paths that answer whatever the request's `Host`: read-only, saying nothing of the relay's data,
 * and probed by load balancers and orchestrators by whatever name or address they were given.
 */
export const ANY_HOST_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz']);

/**
 * The names the relay is reached by, as set: `http.allowedHosts`, the hosts of `console.publicUrl` and
 * `gateway.publicUrl`, and `http.host` when it is a name.
 */
export function servedHostNames(config: Pick<Config, 'http' | 'console' | 'gateway'>): string[] {
  const urls = [config.console.publicUrl, config.gateway.publicUrl].flatMap((url) => (url === undefined ? [] : [new URL(url).host]));
  return [...config.http.allowedHosts, ...urls, config.http.host];
}

/**
 * Whether a `Host` (or `X-Forwarded-Host`) names this relay: an IP address (any port: an address cannot
 * be re-pointed by DNS), `localhost`, or one of `names`. A web page whose own name an attacker re-points
 * to the relay's address (DNS rebinding) reaches the relay under that name, which is none of these.
 */
export function hostMatcher(names: readonly string[]): (host: string | undefined) => boolean {
  const allowed = new Set([...LOCAL_NAMES, ...names].map((name) => hostName(name)));
  return (host) => {
    const name = hostName(host);
    return name !== undefined && (isIP(name) !== 0 || allowed.has(name));
  };
}

/** The refusal of a request sent to a name that is not the relay's, naming it and the setting that adds it. */
export function misdirected(host: string): RelayError {
  return new RelayError(
    'MISDIRECTED_REQUEST',
    `Misdirected request: Host "${host.slice(0, MAX_HOST_SHOWN)}" is not a name of this relay; if it is, add it to http.allowedHosts (SMSRELAY_HTTP_ALLOWED_HOSTS)`,
  );
}

/** A Host header is short; one longer is cut where it is shown, so that the answer stays a line. */
const MAX_HOST_SHOWN = 255;

/** A Host value's name: its port and a root dot dropped, lower-cased, an IPv6 address without brackets; undefined when it is none. */
function hostName(host: string | undefined): string | undefined {
  const match = /^(?:\[([0-9a-f:.]+)\]|([^:[\]/@\s]+))(?::\d{1,5})?$/i.exec(host ?? '');
  // Brackets hold an IPv6 address only (RFC 3986 §3.2.2).
  if (match?.[1] !== undefined) return isIP(match[1]) === 6 ? match[1].toLowerCase() : undefined;
  return match?.[2]?.replace(/\.$/, '').toLowerCase();
}
