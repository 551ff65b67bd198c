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
 * its server's refusals name). `hides`: which parameters' values are hidden (name and value as read), every one
 * unless given. The rest is shown as written, not as `URL` serialises it (a slash
 * added). A value without `scheme://` is no URL a setting takes, and where credentials in it would
 * end cannot be told (`user:password@host`): none of it is shown.
 */
export function maskedUrl(url: string, showUser = false, hides: (name: string, value: string) => boolean = () => true): string {
  // A blank value hides nothing, and shown as it is it says what is wrong (an undefined `${VAR}`).
  if (!/\S/.test(url)) return url;
  if (!HIERARCHICAL_URL.test(url.trim())) return REDACTED;
  return url
    .replace(URL_CREDENTIALS, (_credentials, scheme: string, userinfo: string) => {
      // The user name ends at the first `:`; the password runs on to the last `@`.
      const colon = userinfo.indexOf(':');
      return showUser && colon >= 0 ? `${scheme}${userinfo.slice(0, colon)}:${REDACTED}@` : `${scheme}${REDACTED}@`;
    })
    .replace(/([?&#])([^=&#]*)(=?)([^&#]*)/g, (parameter, separator: string, name: string, equals: string, value: string) => {
      // A bare `?T0KEN` is all value.
      if (!equals) return name && hides('', readQueryPart(name)) ? `${separator}${REDACTED}` : parameter;
      return hides(readQueryPart(name), readQueryPart(value)) ? `${separator}${name}=${REDACTED}` : parameter;
    });
}

/** A URL with an authority (`scheme://`), the only form any URL setting takes. */
const HIERARCHICAL_URL = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * A URL in free text: `scheme://` to the next blank, quote, angle bracket or parenthesis (a history's `(the gateway
 * said: "…")`), and not the punctuation that ends a sentence or a clause after it (`…/status?p=1.`, `…/gw;`), as
 * linkifiers read it: RFC 3986 allows those characters in a URL, but not as its end in prose.
 */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>()[\]]*[^\s"'<>()[\].,;:!?]/gi;

/**
 * Free text with every URL in it shown with its secrets masked: where a stored text is shown (`smsrelay log` and
 * `status`, the console), as an SMS's history or last error written by an older relay names a gateway's URL as
 * written (`via https://gw.example.com/send?apikey=KEY`). Its credentials, and the query values that can be a
 * secret by the rule that cuts a gateway's echo (secretQueryParameter): an ordinary link a gateway's words give
 * (`https://status.example.com/?p=1`) is shown as written. What a relay writes now is masked already, and stays so.
 */
export function maskedUrlsIn(text: string): string {
  return text.replace(URL_IN_TEXT, (url) => maskedUrl(url, false, secretQueryParameter));
}

/**
 * A query value at least this long is taken for a secret whatever its parameter's name: a key or a signature is longer,
 * and the common values shorter (`json`, `eu`, `2`) would garble a gateway's words wherever it writes them.
 */
const QUERY_SECRET_CHARS = 8;

/**
 * A word of a query parameter's name that says it carries a secret (`key`, `access_token`, `sig`, Azure's `code`), or
 * one word written as two (`apikey`): its value is one from MIN_REDACTED_CHARS on, as every secret cut. Whole words
 * (split at non-letters and camelCase), so `countrycode` and `keyword` carry none.
 */
const SECRET_QUERY_WORD =
  /^(?:(?:api|access|client|app|auth|session|private|secret)?(?:key|token|secret)|pass|password|passwd|pwd|sig|signature|auth|code|credentials?)$/;

function secretQueryName(name: string): boolean {
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/);
  return words.some((word) => SECRET_QUERY_WORD.test(word));
}

/**
 * Whether a URL's query parameter (its name and value as read: readQueryPart) can hold a secret: a value
 * QUERY_SECRET_CHARS long or more, or a parameter secretQueryName names. What a gateway's echo is cut of
 * (src/config/secrets.ts querySecrets) and what a URL in free text is shown masked (maskedUrlsIn).
 */
export function secretQueryParameter(name: string, value: string): boolean {
  return value.length >= QUERY_SECRET_CHARS || secretQueryName(name);
}

/** A query's name or value as a form reads it: `+` a space, then percent-decoded. */
export function readQueryPart(part: string): string {
  return percentDecoded(part.replaceAll('+', ' '));
}

/** A URL's part as read, its %-escapes decoded; as written when they are no UTF-8 (`%E9`), as a peer may read it too. */
export function percentDecoded(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}
