/**
 * Twilio's webhook signature (https://www.twilio.com/docs/usage/webhooks/webhooks-security):
 * `X-Twilio-Signature` = base64(HMAC-SHA1(auth token, URL + each form parameter's name and value,
 * sorted by name)). A JSON body is not in the string: its SHA-256 (hex) rides in the URL as
 * `bodySHA256`, which the signature covers. Twilio's own libraries accept the URL with and without
 * the default port, since a proxy may add or drop it; so does this.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** The only formula Twilio has: the `signature.formula` the plug-in's account reports. */
export const SIGNATURE_FORMULA = 'hmac-sha1';

/** The signature Twilio sends for a request to `url` with these form parameters (none for JSON bodies). */
export function twilioSignature(authToken: string, url: string, params: Iterable<readonly [string, string]>): string {
  const sorted = [...params].sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0));
  const data = `${url}${sorted.map(([name, value]) => `${name}${value}`).join('')}`;
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

/**
 * Whether `given` is Twilio's signature of a request to `url` carrying `body` (a form, or JSON
 * with `bodySHA256` in the URL). Compared in constant time.
 */
export function validTwilioSignature(authToken: string, given: string, url: string, body: string): boolean {
  const bodyHash = new URL(url).searchParams.get('bodySHA256');
  if (bodyHash !== null && createHash('sha256').update(body, 'utf8').digest('hex') !== bodyHash.toLowerCase()) return false;
  const params = bodyHash === null ? [...new URLSearchParams(body)] : [];
  const expected = Buffer.from(given, 'utf8');
  return portVariants(url).some((candidate) => {
    const signature = Buffer.from(twilioSignature(authToken, candidate, params), 'utf8');
    return signature.length === expected.length && timingSafeEqual(signature, expected);
  });
}

/** The URL as written (byte for byte: it is what Twilio signed), and with its default port added or removed. */
function portVariants(url: string): string[] {
  const parts = /^(https?):\/\/([^/?#]+)(.*)$/i.exec(url);
  if (!parts) return [url];
  const [, scheme = '', authority = '', rest = ''] = parts;
  const defaultPort = scheme.toLowerCase() === 'https' ? '443' : '80';
  const port = /:(\d+)$/.exec(authority)?.[1];
  if (port === undefined) return [url, `${scheme}://${authority}:${defaultPort}${rest}`];
  return port === defaultPort ? [url, `${scheme}://${authority.slice(0, -port.length - 1)}${rest}`] : [url];
}
