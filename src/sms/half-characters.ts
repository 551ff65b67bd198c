/**
 * Half a character in an SMS from a phone, whichever provider brought it: a UTF-16 surrogate without its pair (JSON's
 * `\uD83D`), or UCS-2 octets of an odd count. A part of a long SMS may hold one, as the phone cut where the part was
 * full, mid-pair too: the part keeps its half and the reassembly joins it with its neighbour's (store/reassembly.ts).
 * A single SMS cannot: mailed, its half would read as U+FFFD, so it is unreadable, as text not in its charset is.
 */
import type { SmsPart } from '../vocabulary.ts';

/** A UTF-16 surrogate that is no half of a pair (with `u`, a pair is one code point, never Cs). */
const LONE_SURROGATE = /\p{Cs}/u;

/** An SMS as a provider read it: its text, its place in a long SMS, and its UCS-2 octets when it came so. */
export interface SmsText {
  readonly text: string;
  readonly part?: SmsPart | undefined;
  readonly ucs2?: Uint8Array | undefined;
}

/** Why the SMS cannot be mailed for the half character it holds; undefined when it holds none, or is a part that keeps it. */
export function halfCharacter({ text, part, ucs2 }: SmsText): string | undefined {
  if (part !== undefined && part.total > 1) return undefined;
  if (ucs2 !== undefined && ucs2.length % 2 === 1) return 'its text holds half a character (UCS-2 in an odd number of octets)';
  const units = ucs2 === undefined ? text : Buffer.from(ucs2).swap16().toString('utf16le');
  return LONE_SURROGATE.test(units) ? 'its text holds half a character (a lone UTF-16 surrogate)' : undefined;
}
