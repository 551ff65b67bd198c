import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import type { PoolConfig } from 'pg';
import { isLoopbackHost } from '../../policy/networks.ts';
import { outOfRangePort } from '../../ports.ts';

/**
 * What `sslmode` in `store.url` can say, as node-postgres (`pg`) honours it here. libpq's `allow` and
 * `prefer` (try TLS, fall back to a clear connection) are refused: the client cannot fall back, and a
 * relay that silently runs in clear is what an operator asking for TLS least expects.
 */
export const SSL_MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** The URL parameters the relay reads; any other is refused (a typo must not weaken TLS silently). */
const PARAMETERS = new Set(['sslmode', 'sslrootcert', 'host']);

/**
 * Connections one relay opens at most. Acceptance, dispatch claims, outcomes, the mailer and
 * housekeeping each hold one for a short transaction at a time, so a handful covers a busy relay;
 * a bound keeps a relay that meets a slow server from piling up connections until the server's
 * `max_connections` refuses every relay on it (#15 runs several against one database).
 */
export const POOL_MAX_CONNECTIONS = 10;
/** A connection attempt slower than this counts as the database unreachable (the relay is not ready, it retries). */
export const CONNECT_TIMEOUT_MS = 5_000;

export interface DatabaseUrl {
  readonly sslMode: SslMode;
  readonly pool: PoolConfig;
}

/**
 * `url` parsed, with `hostname` empty when it names none. libpq writes a Unix socket's URL with
 * credentials and no host (`postgres://user:password@/database?host=/dir`), which the URL standard
 * refuses: a stand-in host is parsed and blanked.
 */
function parseUrl(url: string): { readonly parsed: URL; readonly hostname: string } {
  const noHost = /^postgres(?:ql)?:\/\/[^/?#]*@\//.test(url);
  const parsed = new URL(noHost ? url.replace('@/', '@localhost/') : url);
  return { parsed, hostname: noHost ? '' : parsed.hostname };
}

/** Why `url` cannot be used, as the end of a config problem; undefined when it can. */
export function databaseUrlProblem(url: string): string | undefined {
  // A port out of range is said as such only when it is the URL's only fault: the rest is checked with a port in range.
  const port = outOfRangePort(url);
  if (port) return databaseUrlProblem(port.mended) ?? port.problem;
  let parsed: URL;
  let hostname: string;
  try {
    ({ parsed, hostname } = parseUrl(url));
  } catch {
    return 'expected postgres://user:password@host:port/database';
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    // Without `//` what stands before the first `:` is no scheme but, as likely, a user name (`user:password@host/db`).
    const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? `, not a ${parsed.protocol}// URL` : '';
    return `expected postgres://user:password@host:port/database${scheme}`;
  }
  if (!hostname && !parsed.searchParams.has('host')) return 'the URL names no host: expected postgres://user:password@host:port/database';
  if (parsed.pathname.replace(/^\//, '') === '') return 'the URL names no database: expected postgres://user:password@host:port/database';
  for (const [part, text] of [
    ['user', parsed.username],
    ['password', parsed.password],
    ['database', parsed.pathname],
  ] as const) {
    try {
      decodeURIComponent(text);
    } catch {
      return `the ${part} holds a "%" that does not start an escape (%XX, hex): write "%" itself as %25`;
    }
  }
  for (const key of parsed.searchParams.keys()) {
    if (!PARAMETERS.has(key)) return `unknown URL parameter "${key}" (known: ${[...PARAMETERS].join(', ')})`;
  }
  const mode = parsed.searchParams.get('sslmode');
  const socketDir = parsed.searchParams.get('host');
  if (socketDir !== null) {
    if (!isAbsolute(socketDir)) {
      return `host="${socketDir}" is not a directory path: the host parameter names the directory of the server's Unix socket (e.g. host=/var/run/postgresql); a server's name goes before the database`;
    }
    if (mode !== null && mode !== 'disable') {
      return `sslmode "${mode}" with host=${socketDir}: a Unix socket is never encrypted (it only reaches this machine): leave sslmode out or use disable`;
    }
  }
  if (mode !== null && !(SSL_MODES as readonly string[]).includes(mode)) {
    const why = mode === 'prefer' || mode === 'allow' ? ' (falling back to a clear connection is not supported: use require or disable)' : '';
    return `unknown sslmode "${mode}"${why}; use one of ${SSL_MODES.join(', ')}`;
  }
  const rootCert = parsed.searchParams.get('sslrootcert');
  if (rootCert !== null) {
    try {
      readFileSync(rootCert);
    } catch (error) {
      return `sslrootcert ${rootCert} cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)}): name the CA certificate's PEM file`;
    }
  }
  return undefined;
}

/** The URL with its password replaced by `***`: the only form of it that may be logged or shown. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    // As the URL standard reads it: the password ends at the authority's last `@` (libpq's socket form, with no host, lands here).
    return url.replace(/\/\/([^:/@]*):[^/?#]*@/, '//$1:***@');
  }
}

/** The pool settings of a URL that `databaseUrlProblem` accepted: TLS per its sslmode, bounded, with a connect timeout. */
export function databaseUrl(url: string): DatabaseUrl {
  const { parsed, hostname: host } = parseUrl(url);
  const socketDir = parsed.searchParams.get('host');
  const sslMode = (parsed.searchParams.get('sslmode') as SslMode | null) ?? (socketDir !== null || isLoopbackHost(host) ? 'disable' : 'verify-full');
  const rootCert = parsed.searchParams.get('sslrootcert');
  const ca = rootCert ? readFileSync(rootCert, 'utf8') : undefined;
  const ssl =
    sslMode === 'disable'
      ? false
      : sslMode === 'require'
        ? { rejectUnauthorized: false }
        : sslMode === 'verify-ca'
          ? { ca, checkServerIdentity: () => undefined }
          : { ca };
  return {
    sslMode,
    pool: {
      // A directory is node-postgres's way to a Unix socket (`<dir>/.s.PGSQL.<port>`), as libpq's.
      host: socketDir ?? host.replace(/^\[(.*)\]$/, '$1'),
      port: parsed.port ? Number(parsed.port) : 5432,
      user: decodeURIComponent(parsed.username),
      password: decodeURIComponent(parsed.password),
      database: decodeURIComponent(parsed.pathname.replace(/^\//, '')),
      ssl,
      max: POOL_MAX_CONNECTIONS,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      application_name: 'smsrelay',
    },
  };
}
