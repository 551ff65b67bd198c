/**
 * SMS text arithmetic: which encoding a text needs, how many units it costs and how many
 * concatenated parts it takes. Table-driven after GSM 03.38 / 3GPP TS 23.038 (docs/text.md).
 */
import type { SmsEncoding } from '../vocabulary.ts';

const ESC = '\u001b';

/** The GSM 03.38 basic table in septet order (index = septet value); 0x1B escapes to the extension table. */
export const GSM7_BASIC_TABLE = [
  '@£$¥èéùìòÇ\nØø\rÅå',
  `Δ_ΦΓΛΩΠΨΣΘΞ${ESC}ÆæßÉ`,
  ' !"#¤%&\'()*+,-./',
  '0123456789:;<=>?',
  '¡ABCDEFGHIJKLMNO',
  'PQRSTUVWXYZÄÖÑÜ§',
  '¿abcdefghijklmno',
  'pqrstuvwxyzäöñüà',
].join('');

/** Characters of the extension table: each is sent as ESC + code, so costs 2 septets. */
export const GSM7_EXTENSION_CHARS = '\f^{}\\[~]|€';
/** The extension table's codes, in the order of GSM7_EXTENSION_CHARS. */
export const GSM7_EXTENSION_CODES = [0x0a, 0x14, 0x28, 0x29, 0x2f, 0x3c, 0x3d, 0x3e, 0x40, 0x65];
const EXTENSION_CHAR = new Map([...GSM7_EXTENSION_CHARS].map((char, index) => [GSM7_EXTENSION_CODES[index] as number, char] as const));

/**
 * Septets per UTF-16 code unit: 1 for the basic table, 2 for the extension table (ESC + code), 0 for
 * anything GSM-7 cannot carry. A table indexed by char code, since every text is scanned by it.
 * A literal ESC in the text is no character of the alphabet: it would start an extension pair.
 */
const GSM7_SEPTETS = new Uint8Array(0x10000);
for (const char of GSM7_BASIC_TABLE) if (char !== ESC) GSM7_SEPTETS[char.charCodeAt(0)] = 1;
for (const char of GSM7_EXTENSION_CHARS) GSM7_SEPTETS[char.charCodeAt(0)] = 2;

/** Units a single part and each part of a concatenated SMS carry, per encoding. */
export type SegmentLimits = Readonly<Record<SmsEncoding, { readonly singlePart: number; readonly concatenatedPart: number }>>;

/**
 * TP-UD holds 140 octets. A single part fills them: 160 septets or 70 UCS-2 units. A concatenated
 * part gives 6 octets to the UDH (05 00 03 ref total seq): 134 octets = 1072 bits = 153 septets
 * (plus a fill bit) or 67 UCS-2 units. What every provider uses unless it says otherwise.
 */
export const SEGMENT_LIMITS = {
  gsm7: { singlePart: 160, concatenatedPart: 153 },
  ucs2: { singlePart: 70, concatenatedPart: 67 },
} as const satisfies SegmentLimits;

/**
 * With a 16-bit reference the UDH takes 7 octets (06 08 04 ref ref total seq): 133 octets = 1064
 * bits = 152 septets or 66 UCS-2 units per part (an SMPP account configured for it).
 */
export const SEGMENT_LIMITS_16BIT_REFERENCE = {
  gsm7: { singlePart: 160, concatenatedPart: 152 },
  ucs2: { singlePart: 70, concatenatedPart: 66 },
} as const satisfies SegmentLimits;

/**
 * Typography from word processors and mail clients that has a GSM-7 look-alike. Only characters that
 * read the same after mapping are here. Letters are never changed (no `ç`→`Ç` as some gateways do,
 * no `á`→`a`, no `µ`→`u`) and signs without a form that reads the same stay (`°`: `o` or `deg` is not
 * how a temperature reads): a message with those goes out as UCS-2 and keeps its spelling. The one
 * exception is GSM 03.38's own: its alphabet holds only the Greek capitals without a Latin twin
 * (Δ Φ Γ Λ Ω Π Ψ Σ Θ Ξ), and the others are written with the Latin capitals that are drawn the same,
 * as Greek handsets and SMSCs do; a Greek text in capitals is then GSM-7 (lower case stays UCS-2).
 * Its capitals with an accent lose it there, as Greek writes capitals (and the mapping applies only to a
 * text all of which it makes GSM-7, so a text with small letters keeps every accent).
 */
const TYPOGRAPHIC_LOOKALIKES: readonly (readonly [replacement: string, chars: string])[] = [
  // ‘ ’ ‚ ‛ ′ ´ ` ‹ ›
  ["'", '\u2018\u2019\u201a\u201b\u2032\u00b4`\u2039\u203a'],
  // “ ” „ ‟ ″ « »
  ['"', '\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb'],
  // ‐ non-breaking hyphen ‒ – — ― − and the bullet • (as an HTML list item is written: `- item`)
  ['-', '\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2022'],
  // …
  ['...', '\u2026'],
  // × © ® ™ ¼ ½ ¾
  ['x', '\u00d7'],
  ['(c)', '\u00a9'],
  ['(R)', '\u00ae'],
  ['(TM)', '\u2122'],
  ['1/4', '\u00bc'],
  ['1/2', '\u00bd'],
  ['3/4', '\u00be'],
  // Α Β Ε Ζ Η Ι Κ Μ Ν Ο Ρ Τ Υ Χ, and the capitals with tonos or dialytika Ά Έ Ή Ί Ϊ Ό Ύ Ϋ Ώ, which Greek
  // spelling writes without them in all capitals (ΣΦΑΛΜΑ) while programs' case mapping keeps them (ΣΦΆΛΜΑ)
  ['A', '\u0391\u0386'],
  ['B', '\u0392'],
  ['E', '\u0395\u0388'],
  ['Z', '\u0396'],
  ['H', '\u0397\u0389'],
  ['I', '\u0399\u038a\u03aa'],
  ['K', '\u039a'],
  ['M', '\u039c'],
  ['N', '\u039d'],
  ['O', '\u039f\u038c'],
  ['P', '\u03a1'],
  ['T', '\u03a4'],
  ['Y', '\u03a5\u038e\u03ab'],
  ['X', '\u03a7'],
  ['\u03a9', '\u038f'],
  // TAB, NBSP, en quad … hair space (U+2000–U+200A), narrow NBSP, medium math space, ideographic space
  [' ', '\t\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000'],
];

/** ¼ ½ ¾ after a digit: `2½` is `2 1/2`, not `21/2`. */
const FRACTIONS = '\u00bc\u00bd\u00be';

/**
 * Dots that separate where they stand between spaces (or at a line's start or end), as a bullet does:
 * the middle dot ·, the bullet operator ∙ and the dot operator ⋅ (Google Calendar's date line, "Thu
 * Dec 10, 2026 ⋅ 2pm – 3pm"; a list written "· Milk"). There they become `-`; elsewhere they mean
 * something else: Catalan's "l·l" (the ela geminada, written `l.l` without the middle dot) becomes
 * `l.l`; any other, a product ("2⋅3") or German's gender dot ("Mitarbeiter·innen"), stays, and the
 * SMS is UCS-2, as it is written.
 */
const SEPARATOR_DOTS = '\u00b7\u2219\u22c5';
const CATALAN_MIDDLE_DOT = '\u00b7';

/** Arabic, Syriac and Kaithi signs of category Cf that are drawn, over the digits after them (Prepended_Concatenation_Mark). */
const DRAWN_FORMAT_SIGNS = '\\u0600-\\u0605\\u06dd\\u070f\\u0890\\u0891\\u08e2\\u{110bd}\\u{110cd}';

/**
 * Invisible format characters (Unicode category Cf, but for the drawn signs): soft hyphen, zero-width
 * space and joiners, word joiner, BOM, the bidi marks, embeddings and isolates, tags … A text that is
 * GSM-7 without them loses them (they have no meaning there, and any of them would make the SMS
 * UCS-2); a UCS-2 text keeps them all, since there they may carry meaning: ZWJ in an emoji sequence,
 * ZWNJ in a Persian or Indic word, bidi marks in right-to-left text.
 */
const FORMAT_SOURCE = `[^\\P{Cf}${DRAWN_FORMAT_SIGNS}]`;

/** Anything a phone shows: not a space or line break, not an invisible format character. */
const VISIBLE = new RegExp(`[^\\s\\p{Cf}]|[${DRAWN_FORMAT_SIGNS}]`, 'u');

/** Blanks and invisible format characters at a line's start or end: an RTL client's RLM before each line. */
const EDGE_FORMAT = new RegExp(`^(?:\\s|${FORMAT_SOURCE})+|(?:\\s|${FORMAT_SOURCE})+$`, 'gu');
const FORMAT_CHARS = new RegExp(FORMAT_SOURCE, 'gu');
const HAS_FORMAT = new RegExp(FORMAT_SOURCE, 'u');

/** Whether `text` has an invisible format character anywhere (most mail has none). */
export function hasFormatCharacter(text: string): boolean {
  return HAS_FORMAT.test(text);
}

/**
 * The line without the invisible format characters at its edges, its blanks kept ("\u200f-- " is
 * "-- "): they do not change what the line is, and a UCS-2 text keeps them where the line is kept.
 */
export function withoutEdgeFormat(line: string): string {
  return line.replace(EDGE_FORMAT, (edge) => edge.replace(FORMAT_CHARS, ''));
}

/** Whether the text shows anything: one of only spaces and format characters is empty (docs/text.md). */
export function hasVisibleText(text: string): boolean {
  return VISIBLE.test(text);
}

/** What mapping replaces: the look-alikes, and the format characters, which it drops. */
const MAPPED = new RegExp(`[${TYPOGRAPHIC_LOOKALIKES.map(([, chars]) => chars).join('')}${SEPARATOR_DOTS}]|${FORMAT_SOURCE}`, 'gu');
const LOOKALIKE = new Map(TYPOGRAPHIC_LOOKALIKES.flatMap(([replacement, chars]) => [...chars].map((char) => [char, replacement] as const)));
const FORMAT = new RegExp(`^${FORMAT_SOURCE}$`, 'u');

/**
 * The text with its line breaks as LF, what GSM-7 and every phone take for one: CR LF, CR, and the
 * Unicode line and paragraph separators, which a phone does not break at.
 */
export function withLineFeeds(text: string): string {
  return text.replace(/\r\n?|[\u2028\u2029]/g, '\n');
}

/**
 * macOS and iOS write accents decomposed (NFD: `e` + U+0301), which would make the SMS UCS-2 and cost
 * two units each: composed (NFC), they are GSM-7 where the alphabet has them (`é`) and one unit where
 * not. Only a text with a combining mark has anything to compose.
 */
const COMBINING_MARK = /\p{M}/u;

function composed(text: string): string {
  return COMBINING_MARK.test(text) ? text.normalize('NFC') : text;
}

export interface SmsText {
  /** What is sent: line breaks as LF, accents composed; typography mapped and format characters dropped when that made the text GSM-7. */
  readonly text: string;
  readonly encoding: SmsEncoding;
  /** Septets (gsm7, extension characters count 2) or UTF-16 code units (ucs2). */
  readonly units: number;
  readonly parts: number;
  /** Capacity of each part: the single-part limit for one part, else the concatenated-part limit. */
  readonly perPart: number;
  /** Whether typographic characters were replaced by GSM-7 look-alikes. */
  readonly mapped: boolean;
}

/**
 * Picks the encoding and counts. GSM-7 if the text fits (most do: nothing else is done to them); else
 * its accents composed, GSM-7 if that fits, else after typographic mapping and without format
 * characters if that makes all of it fit; else UCS-2 with the original characters (a message that
 * needs UCS-2 anyway keeps its curly quotes and its joiners).
 */
export function analyseText(input: string, limits: SegmentLimits = SEGMENT_LIMITS): SmsText {
  // CR LF on every text, the separators (not GSM-7) only below: withLineFeeds here measured 6% slower on 800 ASCII characters.
  const text = input.replace(/\r\n?/g, '\n');
  // Whether a text is GSM-7 and its septets, in one pass: most texts are, and need nothing else.
  const septets = gsm7Septets(text);
  if (septets !== undefined) return describe(text, 'gsm7', false, limits, septets);
  const whole = composed(withLineFeeds(text));
  const composedSeptets = whole === text ? undefined : gsm7Septets(whole);
  if (composedSeptets !== undefined) return describe(whole, 'gsm7', false, limits, composedSeptets);
  const mapped = mapTypography(whole);
  const mappedSeptets = gsm7Septets(mapped);
  if (mappedSeptets !== undefined) return describe(mapped, 'gsm7', true, limits, mappedSeptets);
  return describe(whole, 'ucs2', false, limits, unitsOf(whole, 'ucs2'));
}

/** Characters named by `notGsm7`: the first few tell the writer what to change. */
const NAMED_CHARACTERS = 5;

/**
 * The distinct characters (code points) that keep a text from GSM-7 after mapping, the first few, as
 * `U+00E7 ç` (a mark on a dotted circle; a space or format character by its code only): what
 * `smsrelay preview` says made an SMS UCS-2.
 */
export function notGsm7(input: string): string[] {
  const named = new Set<string>();
  for (const char of composed(withLineFeeds(input))) {
    if (named.size === NAMED_CHARACTERS) break;
    if ((char.length === 1 && GSM7_SEPTETS[char.charCodeAt(0)] !== 0) || LOOKALIKE.has(char) || FORMAT.test(char)) continue;
    const code = `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
    named.add(!hasVisibleText(char) ? code : COMBINING_MARK.test(char) ? `${code} \u25cc${char}` : `${code} ${char}`);
  }
  return [...named];
}

/**
 * The text cut into parts the way a gateway packs them: greedily, never splitting a grapheme cluster
 * (so neither an extension pair nor a surrogate pair, ZWJ sequence, flag or combining mark), except
 * a single grapheme longer than a part, which is cut between code points.
 */
export function splitIntoParts({ text, encoding }: Pick<SmsText, 'text' | 'encoding'>, segmentLimits: SegmentLimits = SEGMENT_LIMITS): string[] {
  const limits = segmentLimits[encoding];
  const units = unitsOf(text, encoding);
  if (units === 0) return [];
  if (units <= limits.singlePart) return [text];

  if (!needsSegmentation(text)) {
    const starts = partStarts(text, encoding, limits.concatenatedPart);
    return starts.map((start, index) => text.slice(start, starts[index + 1]));
  }
  const parts: string[] = [];
  let current = '';
  let currentUnits = 0;
  for (const piece of packablePieces(text, encoding, limits.concatenatedPart)) {
    const pieceUnits = unitsOf(piece, encoding);
    if (currentUnits + pieceUnits > limits.concatenatedPart) {
      parts.push(current);
      current = '';
      currentUnits = 0;
    }
    current += piece;
    currentUnits += pieceUnits;
  }
  parts.push(current);
  return parts;
}

/**
 * The characters a grapheme cluster boundary can be suppressed next to (UAX #29, GB3–GB13): marks and
 * variation selectors (\p{M}); format characters such as ZWJ, ZWNJ and the Arabic prepend signs
 * (\p{Cf}); the other Extend, SpacingMark and Prepend characters of the BMP that are letters (halfwidth
 * katakana sound marks, Thai SARA AM, Lao AM, Malayalam dot reph); conjoining Hangul jamo; astral code
 * points (emoji, flags, modifiers, tags) and lone surrogates; CR (CR LF is one cluster). Between two
 * characters that are neither, there is always a boundary. Intl.Segmenter costs about 1 µs per
 * character on Node 20 (800 characters: 0.8 ms, most of the text stage), so it only ever sees the
 * few characters around these, and a text without them is packed in one pass over its code units.
 */
const MAY_CLUSTER_SOURCE =
  '[\\p{M}\\p{Cf}\\uFF9E\\uFF9F\\u0E33\\u0EB3\\u0D4E\\u1100-\\u11FF\\uA960-\\uA97F\\uD7B0-\\uD7FF\\u{10000}-\\u{10FFFF}\\uD800-\\uDFFF\\r]+';
const MAY_CLUSTER = new RegExp(MAY_CLUSTER_SOURCE, 'u');

/** True when some grapheme cluster of the text may span more than one UTF-16 unit. */
function needsSegmentation(text: string): boolean {
  return MAY_CLUSTER.test(text);
}

/**
 * Where each part starts in the greedy packing of a text whose every UTF-16 unit is its own grapheme cluster, in one
 * pass: splitIntoParts slices the parts there, describe counts them without making them.
 */
function partStarts(text: string, encoding: SmsEncoding, capacity: number): number[] {
  const starts = [0];
  let used = 0;
  for (let index = 0; index < text.length; index++) {
    const cost = encoding === 'gsm7' ? GSM7_SEPTETS[text.charCodeAt(index)] || 1 : 1;
    if (used + cost > capacity) {
      starts.push(index);
      used = 0;
    }
    used += cost;
  }
  return starts;
}

const segmenter = new Intl.Segmenter('und', { granularity: 'grapheme' });
/**
 * Node 20's Intl.Segmenter takes time quadratic in the string's length (40,000 characters: 0.4 s;
 * 1 MB: hours), so a long stretch of clustering characters is segmented a slice at a time.
 */
const SEGMENT_SLICE = 1024;

/**
 * A lone emoji between characters that cluster with nothing is a cluster by itself: no rule joins an
 * Extended_Pictographic code point to a neighbour without a ZWJ, a modifier or a mark, and those
 * would be part of the same run of clustering characters. Most emoji in SMS are such, so they skip
 * the segmenter.
 */
const LONE_PICTOGRAPH = /^\p{Extended_Pictographic}$/u;

/**
 * The text's grapheme clusters: every code point outside the stretches around clustering characters
 * is its own cluster; each stretch (one character of context on each side, where a boundary is
 * certain) goes through Intl.Segmenter. One pass; the segmenter sees only what needs it.
 */
export function* graphemesOf(text: string): Generator<string> {
  const clustering = new RegExp(MAY_CLUSTER_SOURCE, 'gu');
  let done = 0;
  let stretch: { start: number; end: number } | undefined;
  for (let match = clustering.exec(text); ; match = clustering.exec(text)) {
    if (match !== null && LONE_PICTOGRAPH.test(match[0])) continue;
    const start = match === null ? text.length : Math.max(match.index - 1, 0);
    if (stretch && start < stretch.end) {
      stretch.end = Math.min(clustering.lastIndex + 1, text.length);
      continue;
    }
    if (stretch) {
      yield* text.slice(done, stretch.start);
      yield* segmented(text.slice(stretch.start, stretch.end));
      done = stretch.end;
    }
    if (match === null) break;
    stretch = { start, end: Math.min(clustering.lastIndex + 1, text.length) };
  }
  yield* text.slice(done);
}

/**
 * A stretch's clusters. A slice's last cluster may go on past the slice, so it is segmented again
 * with what follows; a single cluster longer than a slice (a letter under a thousand marks) is cut there.
 */
function* segmented(text: string): Generator<string> {
  let start = 0;
  while (text.length - start > SEGMENT_SLICE) {
    // Never cut a surrogate pair: the break before the slice's last code point is then final (UAX #29 looks back, not ahead).
    const end = start + SEGMENT_SLICE - (isHighSurrogate(text.charCodeAt(start + SEGMENT_SLICE - 1)) ? 1 : 0);
    const clusters = Array.from(segmenter.segment(text.slice(start, end)), ({ segment }) => segment);
    const complete = clusters.length > 1 ? clusters.slice(0, -1) : clusters;
    yield* complete;
    for (const cluster of complete) start += cluster.length;
  }
  for (const { segment } of segmenter.segment(text.slice(start))) yield segment;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/** Grapheme clusters, with any cluster larger than a part broken into its code points. */
function* packablePieces(text: string, encoding: SmsEncoding, capacity: number): Generator<string> {
  for (const segment of graphemesOf(text)) {
    if (unitsOf(segment, encoding) <= capacity) yield segment;
    else yield* segment;
  }
}

/**
 * No gateway concatenates more than 255 parts (the UDH's part counter is one octet): a longer text
 * is counted, not packed, since no sender may send it anyway.
 */
const MAX_CONCATENATED_PARTS = 255;

/** The SmsText of a text of `units` units (unitsOf) in `encoding`. */
function describe(text: string, encoding: SmsEncoding, mapped: boolean, segmentLimits: SegmentLimits, units: number): SmsText {
  const limits = segmentLimits[encoding];
  const parts =
    units > MAX_CONCATENATED_PARTS * limits.concatenatedPart ? Math.ceil(units / limits.concatenatedPart) : partCount(text, encoding, units, segmentLimits);
  const perPart = parts > 1 ? limits.concatenatedPart : limits.singlePart;
  return { text, encoding, units, parts, perPart, mapped };
}

/** splitIntoParts(…).length, counted without making the parts where every unit is a grapheme cluster of its own (most texts). */
function partCount(text: string, encoding: SmsEncoding, units: number, segmentLimits: SegmentLimits): number {
  const limits = segmentLimits[encoding];
  if (units === 0) return 0;
  if (units <= limits.singlePart) return 1;
  if (needsSegmentation(text)) return splitIntoParts({ text, encoding }, segmentLimits).length;
  return partStarts(text, encoding, limits.concatenatedPart).length;
}

/** The septets of a text that is all GSM-7 (an extension character takes two, unitsOf), or undefined for one that is not. */
function gsm7Septets(text: string): number | undefined {
  let septets = 0;
  for (let index = 0; index < text.length; index++) {
    const cost = GSM7_SEPTETS[text.charCodeAt(index)] ?? 0;
    if (cost === 0) return undefined;
    septets += cost;
  }
  return septets;
}

function unitsOf(text: string, encoding: SmsEncoding): number {
  if (encoding === 'ucs2') return text.length;
  let septets = 0;
  for (let index = 0; index < text.length; index++) septets += GSM7_SEPTETS[text.charCodeAt(index)] || 1;
  return septets;
}

function mapTypography(text: string): string {
  return text.replace(MAPPED, (char: string, offset: number) => {
    if (SEPARATOR_DOTS.includes(char)) return separatorDot(char, text.charAt(offset - 1), text.charAt(offset + 1));
    // What is no look-alike is a format character: dropped.
    const replacement = LOOKALIKE.get(char) ?? '';
    return FRACTIONS.includes(char) && /\d/.test(text.charAt(offset - 1)) ? ` ${replacement}` : replacement;
  });
}

/** `before` and `after`: the characters around the dot, '' at the text's edge (which counts as a space). */
function separatorDot(char: string, before: string, after: string): string {
  const spaced = (side: string) => side === '' || /\s/.test(side);
  if (spaced(before) && spaced(after)) return '-';
  if (char === CATALAN_MIDDLE_DOT && /[lL]/.test(before) && /[lL]/.test(after)) return '.';
  return char;
}

/** What a cut message ends with; an ellipsis becomes "..." where the rest of the text is GSM-7. */
export const CUT_MARK = '\u2026';

/**
 * The longest start of the text, cut at a grapheme boundary and ended with `CUT_MARK`, that fits in
 * `maxParts` parts. The cut text may need a cheaper encoding than the whole (an emoji past the cut).
 */
export function truncateToParts(input: string, maxParts: number, limits: SegmentLimits = SEGMENT_LIMITS): SmsText {
  const whole = analyseText(input, limits);
  if (whole.parts <= maxParts) return whole;
  return longestStart(input, maxParts, limits, CUT_MARK).sms;
}

/** How many characters (grapheme clusters) from the start of a text that does not fit `maxParts` parts do: what a refusal tells the writer. */
export function charactersThatFit(input: string, maxParts: number, limits: SegmentLimits = SEGMENT_LIMITS): number {
  return longestStart(input, maxParts, limits, '').characters;
}

/** The longest start of a text too long for `maxParts` parts that fits them with `mark` after it, and its length in grapheme clusters. */
function longestStart(input: string, maxParts: number, limits: SegmentLimits, mark: string): { sms: SmsText; characters: number } {
  const text = composed(withLineFeeds(input));
  // Every character but a format character costs at least one unit: nothing past this many others can be in the cut.
  const shownMost = maxParts * SEGMENT_LIMITS.gsm7.singlePart + 1;
  let reach = 0;
  for (let shown = 0; reach < text.length && shown < shownMost; reach++) if (!FORMAT.test(text.charAt(reach))) shown++;
  const pieces = [...graphemesOf(text.slice(0, reach))];
  const cut = (count: number) => analyseText(`${pieces.slice(0, count).join('').trimEnd()}${mark}`, limits);
  // The part count grows with the length: binary search for the last length that fits.
  let fits = 0;
  let tooLong = pieces.length;
  while (tooLong - fits > 1) {
    const middle = Math.floor((fits + tooLong) / 2);
    if (cut(middle).parts <= maxParts) fits = middle;
    else tooLong = middle;
  }
  return { sms: cut(fits), characters: fits };
}

/** The tables septets are read with: the basic one (or a national locking shift table) and the one ESC leads to. */
export interface Gsm7Tables {
  readonly basic: readonly string[];
  readonly extension: ReadonlyMap<number, string>;
}

export const GSM7_DEFAULT_TABLES: Gsm7Tables = { basic: [...GSM7_BASIC_TABLE], extension: EXTENSION_CHAR };

/** GSM 03.38 septets, one per octet (as SMPP carries them, unpacked); `tables`: national ones a UDH named (src/sms/gsm7-national.ts). */
export function decodeGsm7(octets: Uint8Array, tables: Gsm7Tables = GSM7_DEFAULT_TABLES): string {
  let text = '';
  for (let index = 0; index < octets.length; index++) {
    const code = (octets[index] as number) & 0x7f;
    if (code === 0x1b && index + 1 < octets.length) {
      const next = (octets[++index] as number) & 0x7f;
      // An unknown escape shows as the basic character (3GPP TS 23.038 §6.2.1.1).
      text += tables.extension.get(next) ?? tables.basic[next] ?? '';
    } else text += code === 0x1b ? ' ' : (tables.basic[code] ?? '');
  }
  return text;
}

const UTF16BE = new TextDecoder('utf-16be');

/** UCS-2 (UTF-16) big-endian; half a surrogate pair with no other half is one U+FFFD. */
export function decodeUcs2(octets: Uint8Array): string {
  return UTF16BE.decode(octets);
}
