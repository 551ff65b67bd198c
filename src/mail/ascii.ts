/** Anything beyond ASCII: a domain written in UTF-8 (RFC 6531), a word with letters other scripts write, an address needing SMTPUTF8. */
export const NOT_ASCII = /\P{ASCII}/u;

/**
 * Text for a field that must be printable US-ASCII: an SMTP reply line (RFC 5321 §4.2, without
 * SMTPUTF8), a delivery-status field (RFC 3464 §2.1.2). Letters keep their base letter (`Résumé` →
 * `Resume`, `ﬁ` → `fi`: compatibility decomposition, then the combining marks dropped), so a name
 * stays readable; anything else without an ASCII form (CJK, emoji, controls) becomes `?`, or what
 * `unreadable` writes for it.
 */
export function printableAscii(text: string, unreadable: (character: string) => string = () => '?'): string {
  return text
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .replace(/[^\x20-\x7e]/gu, unreadable);
}

/**
 * Latin letters with no decomposition that NFKD cannot take to ASCII, spelt as their languages write
 * them without the letter (German "Grüße" as "Gruesse" loses the umlaut in NFKD but keeps its ß as ss):
 * for printableAscii's `unreadable` where the writer's words are quoted back to them.
 */
const LATIN_SPELLINGS: Readonly<Record<string, string>> = {
  ß: 'ss',
  ẞ: 'SS',
  æ: 'ae',
  Æ: 'AE',
  œ: 'oe',
  Œ: 'OE',
  ø: 'o',
  Ø: 'O',
  ł: 'l',
  Ł: 'L',
  đ: 'd',
  Đ: 'D',
  ð: 'd',
  Ð: 'D',
  þ: 'th',
  Þ: 'Th',
  ı: 'i',
};

/** A Latin letter NFKD leaves as it is, in ASCII ("ß" is "ss"); any other character is "?". */
export function latinSpelling(character: string): string {
  return LATIN_SPELLINGS[character] ?? '?';
}

/** A character as Unicode names it (`U+00AC`): where it is the subject of the text, as a note about what was sent in its place. */
export function codePointName(character: string): string {
  return `U+${(character.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Text a client wrote, quoted back in printable US-ASCII with every other character by its code point
 * (`smsU+00E9local.example`, `+U+FF14U+FF14…`): unlike printableAscii, never folded into a different,
 * real-looking name or number (`smselocal.example`, `+44…`) that the client did not write.
 */
export function asciiQuoted(text: string): string {
  return text.replace(/[^\x20-\x7e]/gu, codePointName);
}
