/** The highest TCP port: a URL naming a larger one does not parse. */
export const MAX_PORT = 65_535;
/** The lowest port a URL may name: 0 is no port to connect to (a listener's 0 takes any free one; a URL's, nothing). */
const MIN_URL_PORT = 1;

/** A URL's port as written, after its scheme, any user and password (up to the last `@`) and its host: the text before it, and its digits. */
const WRITTEN_PORT = /^([a-z][a-z0-9+.-]*:\/\/(?:[^/?#]*@)?(?:\[[^\]]*\]|[^/?#:@]*):)(\d+)(?=[/?#]|$)/i;

/**
 * A URL's port out of range (0, or past MAX_PORT): the problem said with the port alone (never the URL, which may
 * hold a password), and the URL with a port in range in its place, for the caller to check the rest of it: only a URL
 * whose port is its only fault is told so. Undefined when the URL names no port, or one in range.
 */
export function outOfRangePort(url: string): { readonly problem: string; readonly mended: string } | undefined {
  const written = WRITTEN_PORT.exec(url);
  if (!written) return undefined;
  const [whole, before, digits = ''] = written;
  const port = Number(digits);
  if (port >= MIN_URL_PORT && port <= MAX_PORT) return undefined;
  return {
    problem: `the port ${digits} is out of range: give a port from ${MIN_URL_PORT} to ${MAX_PORT}`,
    mended: `${before}${MIN_URL_PORT}${url.slice(whole.length)}`,
  };
}
