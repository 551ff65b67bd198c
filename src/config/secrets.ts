/**
 * Which configured values are secrets (`config check` masks them), and the forms a gateway request
 * carries them in: a gateway that echoes its request in an error text must not carry them on into
 * logs, SMS histories or the bounce mailed to the sender.
 */

/** Keys whose values are secrets wherever they are in the configuration (a provider's own keys included). */
export const SECRET_KEYS = /password|secret|token/i;

/** What a secret is replaced with, as the logger censors a password. */
export const REDACTED = '***';

/**
 * Shorter values are left in a gateway's words: cutting every "ab" out of them would garble the text
 * and hide nothing a guess would not find.
 */
export const MIN_REDACTED_CHARS = 4;

/**
 * Every secret of `config` in each form a request may carry it in, longest first (a longer form
 * can hold a shorter one): as written, percent-encoded (a URL's query, a webhook token inside a
 * callback URL), form-encoded (a POST body, also of that URL), JSON-escaped, and a `username` and
 * `password` pair as HTTP Basic authentication's base64.
 */
export function configuredSecrets(config: object): string[] {
  const forms = new Set<string>();
  const walk = (value: unknown, key: string): void => {
    if (typeof value === 'string') {
      if (SECRET_KEYS.test(key)) for (const form of wireForms(value)) forms.add(form);
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    if (Array.isArray(value)) {
      for (const item of value) walk(item, key);
      return;
    }
    const { username, password } = value as Partial<Record<string, unknown>>;
    if (typeof username === 'string' && typeof password === 'string') forms.add(Buffer.from(`${username}:${password}`, 'utf8').toString('base64'));
    for (const [name, item] of Object.entries(value)) walk(item, name);
  };
  walk(config, '');
  return [...forms].filter((form) => form.length >= MIN_REDACTED_CHARS).sort((a, b) => b.length - a.length);
}

function wireForms(secret: string): string[] {
  const percentEncoded = encodeURIComponent(secret);
  return [secret, percentEncoded, formEncoded(secret), formEncoded(percentEncoded), JSON.stringify(secret).slice(1, -1)];
}

/** As `application/x-www-form-urlencoded` writes a value (a space as `+`). */
function formEncoded(value: string): string {
  return new URLSearchParams([['', value]]).toString().slice(1);
}
