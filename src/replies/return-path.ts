import { randomUint64 } from '../random-ids.ts';
import { isAtSmsDomain, withCanonicalDomain } from '../mail/addresses.ts';

/**
 * A reply mail's return path (its envelope sender), VERP-style: `bounces+<inbound id>.<token>@<SMS domain>`.
 * A server that takes the mail and refuses it later bounces to it (RFC 5321 §4.5.5), and the address
 * names what the bounce is about: the SMS (its relay id, without dashes) and, by a random token, the one
 * mail of it (a rerouted SMS has one per mail). Only a bounce to the address of a mail the relay sent is
 * taken, so a forged bounce can touch no other reply. The local part is 54 characters, within RFC
 * 5321's 64, of lower-case letters and digits only: an MTA that folds case does not change it.
 */
const LOCAL_PART = /^bounces\+([0-9a-f]{32})\.([0-9a-z]{13})$/;

/** A new return path for a reply mail about inbound SMS `inboundId`, at the SMS domain it comes from. */
export function replyReturnPath(inboundId: string, domain: string): string {
  return `bounces+${inboundId.replace(/-/g, '')}.${randomUint64().toString(36).padStart(13, '0')}@${domain}`;
}

/** The inbound SMS a RCPT address names as a reply mail's return path at one of `domains`, or undefined when it is none. */
export function returnPathOf(address: string, domains: readonly string[]): { readonly inboundId: string; readonly returnPath: string } | undefined {
  if (!isAtSmsDomain(address, domains)) return undefined;
  // As the relay wrote it (a client may write the SMS domain in U-labels): the return path is looked up as such.
  const lower = withCanonicalDomain(address).toLowerCase();
  const hex = LOCAL_PART.exec(lower.slice(0, lower.lastIndexOf('@')))?.[1];
  if (hex === undefined) return undefined;
  const inboundId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return { inboundId, returnPath: lower };
}
