/**
 * Which configured values are secrets (`config check` masks them), and the forms a gateway request
 * carries them in: a gateway that echoes its request in an error text must not carry them on into
 * logs, SMS histories or the bounce mailed to the sender.
 */
import { maskedUrl, REDACTED } from '../masked-url.ts';

/**
 * Keys whose values are secrets wherever they are in the configuration (a provider's own keys
 * included); one ending in `Header` holds the name of the header a secret travels in
 * (`inbound.webhookTokenHeader: X-Api-Key`), which an operator checking a refusal needs to see.
 */
export const SECRET_KEYS = /^(?!.*header$).*(?:password|secret|token)/i;

/** The gateway's URLs, the smarthost's, the public ones: each may carry a secret. */
export const URL_KEY = /url$/i;

/**
 * `value` (the configuration or a part of it) with every secret that holds one `***`, and each URL's credentials and
 * query values too; `leaf` may show a value its own way first (a duration, the database's URL), by its path.
 */
export function maskedSecrets(value: unknown, leaf: (value: unknown, path: string) => unknown = () => undefined, key = '', path = ''): unknown {
  // A blank secret hides nothing, and shown as it is it says it is empty, as a refusal does (`SMSRELAY_GATEWAY_PASSWORD=""`).
  if (SECRET_KEYS.test(key) && value !== undefined && !(typeof value === 'string' && !/\S/.test(value))) return REDACTED;
  if (Array.isArray(value)) return value.map((item) => maskedSecrets(item, leaf));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([name, item]) => [name, maskedSecrets(item, leaf, name, path ? `${path}.${name}` : name)]));
  }
  const shown = leaf(value, path);
  if (shown !== undefined) return shown;
  if (URL_KEY.test(key) && typeof value === 'string') return maskedUrl(value);
  return value;
}

/** The settings whose URLs the relay sends a gateway: its own address, and the webhook base it is told per message. */
const GATEWAY_SECTIONS = new Set(['gateway', 'accounts']);

/**
 * Every secret of `config` as written, and a `username` and `password` pair as HTTP Basic
 * authentication's base64 (no escaping of the value shows it), and the passwords and query values of the URLs a
 * gateway is sent (`urlSecrets` and `querySecrets` of gateway.url, its backup and publicUrl, an account's): what a
 * gateway may echo (a proxy's redirect or error page quotes the URL it was asked for, `?apikey=` and all). Other
 * URLs' passwords are left out: no gateway is sent them, and a common one (`postgres`, `mail`) cut from every
 * answer garbles words operators read (`Postgres error` as `*** error`); the smarthost's are cut from its
 * answers alone. The escapings a peer's echo may write them in are undone where its words are read
 * (src/dispatch/echoes.ts).
 */
export function configuredSecrets(config: object): string[] {
  const secrets = new Set<string>();
  const walk = (value: unknown, key: string, sentToGateways: boolean): void => {
    if (typeof value === 'string') {
      if (SECRET_KEYS.test(key)) secrets.add(value);
      if (sentToGateways && URL_KEY.test(key)) {
        const { clear, encoded } = urlSecrets(value);
        for (const secret of [...clear, ...encoded, ...querySecrets(value)]) secrets.add(secret);
      }
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    if (Array.isArray(value)) {
      for (const item of value) walk(item, key, sentToGateways);
      return;
    }
    const { username, password } = value as Partial<Record<string, unknown>>;
    if (typeof username === 'string' && typeof password === 'string') secrets.add(Buffer.from(`${username}:${password}`, 'utf8').toString('base64'));
    for (const [name, item] of Object.entries(value)) walk(item, name, sentToGateways || (value === config && GATEWAY_SECTIONS.has(name)));
  };
  walk(config, '', false);
  return [...secrets];
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
 * The values of a URL's query a gateway is sent with every request (src/providers/http-endpoint.ts) and may echo: as
 * written and as a form reads them (`%2B`, `+` for a space), those QUERY_SECRET_CHARS long or more and those of a
 * parameter secretQueryName names (a bare `?T0KEN` is all value). None for a value that is no URL.
 */
export function querySecrets(value: string): string[] {
  let search: string;
  try {
    search = new URL(value).search.slice(1);
  } catch {
    return [];
  }
  // As a form reads a query: `+` a space, then percent-decoded.
  const read = (part: string): string => percentDecoded(part.replaceAll('+', ' '));
  const values = new Set<string>();
  for (const parameter of search.split('&')) {
    const equals = parameter.indexOf('=');
    const [name, written] = equals < 0 ? ['', parameter] : [read(parameter.slice(0, equals)), parameter.slice(equals + 1)];
    const text = read(written);
    if (text.length >= QUERY_SECRET_CHARS || secretQueryName(name)) for (const form of [written, text]) values.add(form);
  }
  return [...values].filter((form) => form !== '');
}

/** A URL's part as read, its %-escapes decoded; as written when they are no UTF-8 (`%E9`), as a peer may read it too. */
function percentDecoded(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/** A URL's password in the forms a login sends it: `clear`, as written and as read; `encoded`, in base64. */
export interface UrlSecrets {
  readonly clear: readonly string[];
  readonly encoded: readonly string[];
}

/**
 * The password of a URL with credentials, as written and as read (percent-decoded), and the base64 forms a login sends
 * it in: AUTH LOGIN's password line and AUTH PLAIN's `\0user\0password` (the relay's SMTP client,
 * src/mailer/smtp-client.ts), HTTP Basic's `user:password` (a gateway's client). None for a value that is no URL or has
 * no password. Each peer's answers are cut of those of the URLs it is sent: the smarthost's of `mail.url`'s (one that
 * quotes the login it refused in its 535, the client's AUTH line or the decoded credentials, must not carry it into the
 * log, the mail's history or `smsrelay status`), a gateway's of the gateway URLs' (configuredSecrets).
 */
export function urlSecrets(value: string): UrlSecrets {
  const none = { clear: [], encoded: [] };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return none;
  }
  if (url.password === '') return none;
  const [user, password] = [percentDecoded(url.username), percentDecoded(url.password)];
  const base64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
  return {
    clear: [...new Set([url.password, password])],
    encoded: [base64(password), base64(`\u0000${user}\u0000${password}`), base64(`${user}:${password}`)],
  };
}
