/**
 * What a body's removed blocks were, said to the sender when nothing of the body was left: a mail
 * whose only content was a uuencoded file, or "Sent from my iPhone", is told so, not that quotes,
 * signatures or disclaimers went (`smsrelay preview` names each block with its full reason).
 */
import { type Removal, SIGN_OFF_REASON } from './strip.ts';

/** Each kind of block by the words of its reasons (strip.ts, uuencoded.ts, sealed.ts, thread.ts, extract.ts), tested in this order. */
const KINDS: readonly (readonly [reason: RegExp, kind: string])[] = [
  [/^(?:uuencoded|BinHex) attachment/, 'an encoded file'],
  [/^PGP /, 'a PGP signature'],
  [/^device or app line/, 'a device line'],
  [/^inline image placeholder/, 'an image placeholder'],
  [/signature/, 'a signature'],
  [/^disclaimer/, 'a disclaimer'],
  [/invitation/, "an invitation's added block"],
  [/footer|digest header|reply-above marker/, 'a list or notification footer'],
  [/^(?:above the start|below the end) marker/, 'text outside the start and end markers'],
  [/^punctuation alone/, 'punctuation'],
];
/** Everything else removed is the mail answered or forwarded: quotes, attributions, header blocks, markers. */
const QUOTED = 'quoted text';

/** Lists in the relay's English ("a, b and c"), built once: an Intl formatter costs more to make (about 9 µs) than to use, and a reply's 250 may name lists. */
export const ENGLISH_LIST = new Intl.ListFormat('en');

/** The kinds of the removed blocks, in the order first removed ("a device line", "quoted text and a signature"); quoted text for none (a client's quote element). */
export function removedKinds(removed: readonly Removal[]): string {
  const kinds = new Set(removed.map(({ reason }) => KINDS.find(([pattern]) => pattern.test(reason))?.[1] ?? QUOTED));
  return ENGLISH_LIST.format(kinds.size > 0 ? [...kinds] : [QUOTED]);
}

/** The sign-off line a removed sign-off block opened with, without the comma or stop after it ("Kind regards"), if one was removed. */
export function signOffOf(removed: readonly Removal[]): string | undefined {
  return removed.find(({ reason }) => reason === SIGN_OFF_REASON)?.first.replace(/[\s,.:;،。，]+$/u, '');
}
