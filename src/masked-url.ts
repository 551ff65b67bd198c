import { createHash } from 'node:crypto';

/**
 * The one way a URL that may carry a secret is shown to people: `config check` and a configuration
 * problem, and a gateway's address wherever the relay names it (an SMS's history, a log line,
 * `smsrelay status`, the console). Here, not under src/config, as the provider adapters that name
 * their hosts may not import the configuration.
 */

/** What a secret is replaced with, as the logger censors a password. */
export const REDACTED = '***';

/**
 * The credentials of a URL as written: the URL standard (WHATWG, as `new URL` and every client here
 * read it) ends them at the authority's last `@`, so a raw `@` or `:` in a password is part of it.
 */
export const URL_CREDENTIALS = /^([^:/?#]+:\/\/)([^/?#\\]*)@/;

/**
 * A URL's credentials and query (and fragment) values hidden (a gateway's `?apikey=…`): for every URL
 * setting, in `config check` and in a problem naming its variable, and for a gateway's address wherever
 * the relay names it (the gateway is sent the query as written). `showUser` keeps the user name before the password (the database's: no secret, and what
 * its server's refusals name). The rest is shown as written, not as `URL` serialises it (a slash
 * added). A value without `scheme://` is no URL a setting takes, and where credentials in it would
 * end cannot be told (`user:password@host`): none of it is shown.
 */
export function maskedUrl(url: string, showUser = false): string {
  // A blank value hides nothing, and shown as it is it says what is wrong (an undefined `${VAR}`).
  if (!/\S/.test(url)) return url;
  if (!HIERARCHICAL_URL.test(url.trim())) return REDACTED;
  return url
    .replace(URL_CREDENTIALS, (_credentials, scheme: string, userinfo: string) => {
      // The user name ends at the first `:`; the password runs on to the last `@`.
      const colon = userinfo.indexOf(':');
      return showUser && colon >= 0 ? `${scheme}${userinfo.slice(0, colon)}:${REDACTED}@` : `${scheme}${REDACTED}@`;
    })
    .replace(/([?&#])([^=&#]*)(=?)[^&#]*/g, (_match, separator: string, name: string, equals: string) =>
      equals ? `${separator}${name}=${REDACTED}` : `${separator}${name && REDACTED}`,
    );
}

/** A URL with an authority (`scheme://`), the only form any URL setting takes. */
const HIERARCHICAL_URL = /^[a-z][a-z0-9+.-]*:\/\//i;

/** A URL in free text: `scheme://` to the next blank, quote, angle bracket or parenthesis (a history's `(the gateway said: "…")`). */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>()[\]]+/gi;

/**
 * Free text with every URL in it shown as maskedUrl shows it: where a stored text is shown (`smsrelay log` and
 * `status`, the console), as an SMS's history or last error written by an older relay names a gateway's URL as
 * written (`via https://gw.example.com/send?apikey=KEY`). What a relay writes now is masked already, and stays so.
 */
export function maskedUrlsIn(text: string): string {
  return text.replace(URL_IN_TEXT, (url) => maskedUrl(url));
}

/**
 * What tells a gateway host apart exactly without saying its URL's secrets, where relays sharing a database key its
 * failure (src/dispatch/endpoints.ts): the SHA-256 of the provider and the URL as configured. The URL shown (maskedUrl)
 * is one for two URLs that differ only in a secret (two accounts' `?key=`), whose failures are not each other's. An
 * unsalted fast hash: it hides a long random token (an API key), not a short guessable value, which guesses hashed into
 * the masked URL's shape could find from a copy of the database (docs/delivery.md).
 */
export function hostKey(provider: string, url: string): string {
  return `sha256:${createHash('sha256').update(`${provider}\n${url}`, 'utf8').digest('hex')}`;
}
