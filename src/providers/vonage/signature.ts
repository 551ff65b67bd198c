/**
 * Vonage's signed requests (https://developer.vonage.com/en/getting-started/concepts/signing-messages):
 * every field but `sig`, sorted by name, as `&name=value` with `&` and `=` in values replaced by `_`;
 * then either MD5 of that string followed by the signature secret (`md5hash`, the default) or an
 * HMAC of it keyed with the secret (`md5`, `sha1`, `sha256`, `sha512`), as lower-case hex.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** The dashboard's "MD5 hash", "MD5 HMAC", "SHA1 HMAC", "SHA-256 HMAC", "SHA-512 HMAC". */
export const SIGNATURE_METHODS = ['md5hash', 'md5', 'sha1', 'sha256', 'sha512'] as const;
export type SignatureMethod = (typeof SIGNATURE_METHODS)[number];

export function isSignatureMethod(value: string): value is SignatureMethod {
  return (SIGNATURE_METHODS as readonly string[]).includes(value);
}

export function vonageSignature(secret: string, method: SignatureMethod, fields: ReadonlyMap<string, string>): string {
  const names = [...fields.keys()].filter((name) => name !== 'sig').sort();
  const data = names.map((name) => `&${name}=${(fields.get(name) ?? '').replace(/[&=]/g, '_')}`).join('');
  if (method === 'md5hash') return createHash('md5').update(`${data}${secret}`, 'utf8').digest('hex');
  return createHmac(method, secret).update(data, 'utf8').digest('hex');
}

/** Whether the `sig` field is the signature of the other fields; compared in constant time. */
export function validVonageSignature(secret: string, method: SignatureMethod, fields: ReadonlyMap<string, string>): boolean {
  const given = fields.get('sig');
  if (!given) return false;
  const expected = Buffer.from(vonageSignature(secret, method, fields), 'utf8');
  const actual = Buffer.from(given.toLowerCase(), 'utf8');
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
