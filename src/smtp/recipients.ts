import type { CountryCode } from 'libphonenumber-js';
import { RelayError } from '../errors.ts';
import { normaliseNumber } from '../sms/numbers.ts';

export interface RecipientRules {
  readonly domains: readonly string[];
  readonly defaultRegion: CountryCode | undefined;
  readonly lists: Readonly<Record<string, readonly string[]>>;
}

/**
 * Characters that turn a local part into a route to somewhere else: `%` and `!` hacks, an `@` or
 * `:` left over from a source route, quotes around a local part. smtp-server strips RFC 5321 source
 * routes itself; whatever is left with one of these is refused as relaying, never parsed as a number.
 */
const ROUTING_CHARACTERS = /[%!@:"\\]/;

/**
 * The E.164 numbers a RCPT address stands for: `<number>@<sms-domain>` or a configured distribution
 * list. Anything else is refused with the catalogue's reply: 550 5.7.1 for a foreign domain or a
 * routing trick (never an open relay), 550 5.1.3 for a local part that is no valid number.
 */
export function resolveRecipient(address: string, rules: RecipientRules): readonly string[] {
  const at = address.lastIndexOf('@');
  const local = at > 0 ? address.slice(0, at) : '';
  const domain = address.slice(at + 1).toLowerCase();
  if (at <= 0 || !rules.domains.includes(domain)) {
    throw new RelayError('RELAY_DENIED', `Relaying denied: ${at > 0 ? domain : address} is not an SMS domain of this relay`);
  }
  if (ROUTING_CHARACTERS.test(local)) {
    throw new RelayError('RELAY_DENIED', 'Relaying denied: routed or quoted addresses are not accepted, only <phone number>@domain');
  }
  const list = rules.lists[`${local.toLowerCase()}@${domain}`];
  if (list) return list;
  const number = normaliseNumber(local, rules.defaultRegion);
  if (!number.ok) throw new RelayError('BAD_NUMBER', `Bad recipient: ${number.reason}`);
  return [number.e164];
}
