import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import type { Config } from '../config/load.ts';
import { RelayError } from '../errors.ts';
import { headerList, peerAddress } from '../policy/networks.ts';

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

/** What a request says of where it was sent: its target, its headers, and the socket it came over (whose peer may be a trusted proxy). */
interface HostedRequest {
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly socket: { readonly remoteAddress?: string | undefined };
}

/** An absolute-form request target (`GET http://host/path`, RFC 9112 §3.2.2): its authority, without any user info. */
const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\/(?:[^/?#@]*@)?([^/?#]*)/i;

/**
 * The host a request was sent to: an absolute-form target's authority, whatever its `Host` says (RFC
 * 9112 §3.2.2: a server MUST ignore the Host header then), else its `Host`.
 */
export function requestHost(request: Pick<HostedRequest, 'url' | 'headers'>): string | undefined {
  return ABSOLUTE_FORM.exec(request.url)?.[1] ?? request.headers.host;
}

/** A request target's path, an absolute-form target's origin dropped (`GET http://host/healthz` asks for `/healthz`). */
export function targetPath(url: string): string {
  const origin = ABSOLUTE_FORM.exec(url)?.[0] ?? '';
  return url.slice(origin.length).split('?')[0] || '/';
}

/**
 * Whether a request has more than one `Host` line (RFC 9112 §3.2: a server MUST answer it 400). Node
 * keeps the first and drops the others; a proxy in front that reads the last would judge another host.
 */
export function repeatsHost(rawHeaders: readonly string[]): boolean {
  let hosts = 0;
  for (let name = 0; name < rawHeaders.length; name += 2) if (rawHeaders[name]?.toLowerCase() === 'host') hosts += 1;
  return hosts > 1;
}

/**
 * The host the client sent the request to as a trusted proxy forwards it (`X-Forwarded-Host`, the value
 * of the proxy nearest us: one further left is whatever the client wrote); undefined from a peer that is
 * no proxy of ours (its header is not believed) or without the header.
 */
export function forwardedHost(request: HostedRequest, isProxy: (address: string) => boolean): string | undefined {
  return isProxy(peerAddress(request.socket.remoteAddress)) ? headerList(request.headers['x-forwarded-host']).at(-1) : undefined;
}

/** A name a request was sent to that is not the relay's, and the header that carried it. */
export interface ForeignHost {
  readonly header: 'Host' | 'X-Forwarded-Host';
  readonly host: string;
}

/**
 * The first name the request was sent to that `served` does not take: its host (`requestHost`), then, from a trusted
 * proxy, the forwarded host. A proxy may send the relay's own address as `Host` (nginx's default
 * `proxy_pass http://127.0.0.1:8080`) whatever name its client used: the name a rebinding page's
 * request carries then reaches the relay only in the forwarded host, which must be the relay's too.
 */
export function foreignHost(request: HostedRequest, isProxy: (address: string) => boolean, served: (host: string) => boolean): ForeignHost | undefined {
  const host = requestHost(request);
  if (host !== undefined && !served(host)) return { header: 'Host', host };
  const forwarded = forwardedHost(request, isProxy);
  return forwarded !== undefined && !served(forwarded) ? { header: 'X-Forwarded-Host', host: forwarded } : undefined;
}

/** The refusal of a request sent to a name that is not the relay's, naming the header, the name and the setting that adds it. */
export function misdirected({ header, host }: ForeignHost): RelayError {
  return new RelayError(
    'MISDIRECTED_REQUEST',
    `Misdirected request: ${header} "${host.slice(0, MAX_HOST_SHOWN)}" is not a name of this relay; if it is, add it to http.allowedHosts (SMSRELAY_HTTP_ALLOWED_HOSTS)`,
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
