/**
 * Phone numbers as senders write them in the local part of `<number>@<sms domain>`, turned into
 * E.164 (`+447700900123`) or refused with a sentence the sender can act on.
 *
 * How the local part is read (user-visible; keep the docs in step):
 * 1. Spaces, `.`, `-` and parentheses are ignored; anything else but digits and one leading `+`
 *    makes it "not a phone number".
 * 2. A leading `+` or `00` means international: country code, then the number.
 * 2'. Where the default region's own international prefix is `00` and more digits (AU `0011`, KR `002`, TW `009`,
 *    BR `0021`: libphonenumber's metadata), digits after `00` have two readings, the region's prefix stripped and `00`
 *    alone stripped. A number's type says nothing of which prefix its writer used, so nothing of rule 4 chooses: two
 *    valid different numbers are refused naming both (`002 51 912 345 678` in Korea: Peru, or Ethiopia's
 *    +251 91 234 5678; `0011 64 9 309 1234` in Australia: an Auckland landline, or +1 649 309 1234); the region's
 *    reading that finds a country but no number of it is refused with its reason (`0011 44 7700 9001`: too short for
 *    the UK, not +1 447 700 9001); `00` alone is read only where the region's reading is no country's (`0044 7700
 *    900123`, `0011 999…`) or the region's own (`008 62…` in Indonesia, which nobody there dials), and only such a
 *    reading of the region's own is never taken (`00 86 …` in Indonesia, a Chinese number one digit off, is refused).
 * 3. A leading single `0` is a national trunk prefix (`07700900123`): the number is read in the
 *    default region (SMSRELAY_DEFAULT_REGION), and refused when none is set.
 * 4. Any other digits, with a default region set, have two readings: international (`+` and the
 *    digits) and national (a number of the region, also with its own trunk prefix, NANP `1` or
 *    Russia's `8`, or its country code). A number meant at home must never reach a stranger abroad,
 *    nor a foreign number a stranger at home, so the relay guesses only where one reading is plainly
 *    meant: (a) only one is a valid number, or both are the same; (b) only one is of a type that
 *    receives SMS (mobile, or fixed-line-or-mobile where a country does not tell them apart);
 *    (c) the national one is certainly a mobile and the international one only possibly (NANP's
 *    fixed-line-or-mobile): the region's own mobile (`13812345678` in China, `15123456789` in Germany);
 *    (d) in a NANP region (country code 1), 10 digits or 1 and 10 are national there
 *    (`(479) 379-3952` is how Americans write it, though +47 93 79 39 52 is Norway's). Anything else
 *    is refused, naming both readings: the sender writes `+` and the country code.
 *    Without a default region they are read only as international.
 * 4'. Where the gateway says the digits are a national number (SMPP TON 2), `reading: 'national'`
 *    reads them in the default region alone.
 * 5. The number must be valid by libphonenumber's full metadata. Its type only chooses between two
 *    readings (4b, 4c): some providers deliver text-to-landline, so fixed-line numbers are accepted too (costly types are the
 *    destination policy's: src/policy/destinations.ts).
 * 6. 3 to 6 digits that are no number either way (`112`, `81025`, `116117`) are refused as a short code or
 *    emergency number of the default region, also where libphonenumber allows a number that short (DE, AU, NZ…).
 */
import {
  getCountryCallingCode,
  isSupportedCountry,
  type NumberType,
  parsePhoneNumberFromString,
  validatePhoneNumberLength,
  type CountryCode,
  type ValidatePhoneNumberLengthResult,
} from 'libphonenumber-js/max';
import metadata from 'libphonenumber-js/metadata.max.json';
import { decodeHTML, decodeHTMLStrict } from 'entities';
import { LRUCache } from 'lru-cache';
import { asciiQuoted, codePointName, NOT_ASCII } from '../mail/ascii.ts';

export type NumberResult = { ok: true; e164: string } | { ok: false; reason: string };

/**
 * Ofcom reserves 07700 900000–900999 for drama; our tests and docs use it. libphonenumber's metadata
 * calls these numbers invalid (they are only "possible"), so this one range is let through by name.
 */
const UK_DRAMA_MOBILE_RANGE = /^\+447700900\d{3}$/;

const IGNORED_SEPARATORS = /[\s.\-()]/g;
const DIALLABLE = /^(\+|00)?(\d+)$/;
const NATIONAL_TRUNK_PREFIX = /^0(?!0)/;

const regionNames = new Intl.DisplayNames(['en'], { type: 'region' });

/** A region's name in English ("Isle of Man" for IM), or the code where the runtime has none. */
export function regionName(region: string): string {
  return regionNames.of(region) ?? region;
}

/** libphonenumber's length verdicts, or 'INVALID': the right length but no number in that country. */
type Problem = ValidatePhoneNumberLengthResult | 'INVALID';

/** One way of reading the digits: international (`+…`, no region) or national in a region. */
interface Reading {
  readonly text: string;
  readonly region?: CountryCode;
  /** International only by the relay's guess (digits written without `+` or `00`): a refusal says how they were read. */
  readonly guessed?: boolean;
}

/** `readAs`: the digits as the relay read them, when the sender did not write them so. */
type Refusal = { ok: false; problem: Problem; country?: string | undefined; readAs?: string | undefined };
/**
 * A valid reading: whether its type receives SMS (rule 4b), whether it is certainly a mobile (MOBILE, rule
 * 4c) rather than only possibly one (FIXED_LINE_OR_MOBILE: NANP's), and how a refusal naming it shows it
 * (`+47 93 79 39 52 (Norway)`).
 */
type ReadingOutcome = { ok: true; e164: string; textable: boolean; mobile: boolean; shown: string } | Refusal;

/**
 * libphonenumber's full metadata makes a parse cost tens of µs, and the same numbers come again and
 * again (the on-call phones, a list): results are remembered. Pure function of its inputs.
 */
const remembered = new LRUCache<string, NumberResult>({ max: 10_000 });

/** Whether `input` is written as a number (digits, an optional `+` or `00`, separators), valid or not: not a name or an address. */
export function isDiallable(input: string): boolean {
  return DIALLABLE.test(input.replace(IGNORED_SEPARATORS, ''));
}

/**
 * How the digits are to be read: `written`, as a person writes them in an address (the rules above);
 * `national`, as a number of the default region, where its source says so (SMPP TON 2).
 */
export type NumberReading = 'written' | 'national';

export function normaliseNumber(input: string, defaultRegion?: CountryCode, reading: NumberReading = 'written'): NumberResult {
  const key = `${reading}\u0000${defaultRegion ?? ''}\u0000${input}`;
  const known = remembered.get(key);
  if (known) return known;
  const result = readNumber(input, defaultRegion, reading);
  remembered.set(key, result);
  return result;
}

function readNumber(input: string, defaultRegion: CountryCode | undefined, reading: NumberReading): NumberResult {
  const match = DIALLABLE.exec(input.replace(IGNORED_SEPARATORS, ''));
  const digits = match?.[2];
  if (match === null || digits === undefined) return withOtherSigns(input, defaultRegion, reading) ?? refuse(input, { ok: false, problem: 'NOT_A_NUMBER' });

  const international: Reading = { text: `+${digits}` };
  if (match[1] === '00' && defaultRegion !== undefined) {
    const region = readByRegionPrefix(input, digits, defaultRegion);
    if (region !== undefined) return region;
  }
  if (match[1] !== undefined) return readAs(input, international);
  if (reading === 'national' || NATIONAL_TRUNK_PREFIX.test(digits)) {
    if (defaultRegion === undefined) {
      return {
        ok: false,
        reason: `${quote(input)} is a national number; the relay has no default region (set SMSRELAY_DEFAULT_REGION) — write it in international form: +, the country code, then the number without its trunk 0`,
      };
    }
    return readAs(input, { text: digits, region: defaultRegion });
  }
  const guessed: Reading = { ...international, guessed: true };
  if (defaultRegion === undefined) return readAs(input, guessed);
  const read = readEither(input, guessed, { text: digits, region: defaultRegion });
  return read.ok || !isShortNumber(digits, defaultRegion) ? read : shortNumber(input, defaultRegion);
}

/** Read as a foreign number ("+112 in the United States") a short code would say nothing to whoever dialled it at home. */
function shortNumber(input: string, region: CountryCode): NumberResult {
  return { ok: false, reason: `${quote(input)} is a short code or emergency number in ${regionName(region)}, not a phone number: it cannot be texted` };
}

/** The longest international prefix tried: AU's 14-digit carrier forms (`1411…0011`) are no `00…` prefix, KR's `00700` is. */
const LONGEST_DOUBLE_ZERO_PREFIX = 5;
/** Per region, whether its international prefix is `00` followed by more digits (AU `0011`, KR `002`): none for GB's `00`, US's `011`. */
const doubleZeroPrefixRegions = new Map<CountryCode, RegExp | undefined>();

/**
 * The region's international prefix (libphonenumber's metadata) where it is `00` and more digits (AU `0011`, KR
 * `001`/`002`/`00700`, TW `002`/`009`, BR `0021`, SG `001`…), as a whole-string pattern; undefined where plain `00`
 * is the only `00…` form (most of Europe) or its prefix does not start with `00` (US `011`, which libphonenumber
 * reads in the national reading).
 */
function doubleZeroPrefix(region: CountryCode): RegExp | undefined {
  if (doubleZeroPrefixRegions.has(region)) return doubleZeroPrefixRegions.get(region);
  const source = metadata.countries[region]?.[1];
  const pattern = source === undefined ? undefined : new RegExp(`^(?:${source})$`);
  let longer = false;
  for (let digits = 1; pattern !== undefined && !longer && digits <= LONGEST_DOUBLE_ZERO_PREFIX - 2; digits++)
    for (let tail = 0; tail < 10 ** digits && !longer; tail++) longer = pattern.test(`00${String(tail).padStart(digits, '0')}`);
  const found = longer ? pattern : undefined;
  doubleZeroPrefixRegions.set(region, found);
  return found;
}

/**
 * Digits written after `00` in a region whose international prefix is `00` and more (rule 2'): the region's own
 * reading strips its prefix (`0011 44 7700 900123` in Australia is +44), the rest of the world's strips `00` alone
 * (`00 1 354 611 1234`, a Canadian number as a European writes it). Undefined where the region has no such prefix:
 * `00` is international there.
 */
function readByRegionPrefix(input: string, digits: string, region: CountryCode): NumberResult | undefined {
  const prefix = doubleZeroPrefix(region);
  if (prefix === undefined) return undefined;
  const written = `00${digits}`;
  let length = 0;
  for (let end = 3; end <= Math.min(LONGEST_DOUBLE_ZERO_PREFIX, written.length - 1); end++) if (prefix.test(written.slice(0, end))) length = end;
  const plain: Reading = { text: `+${digits}` };
  // Nothing after 00 is the region's prefix (`0044…` in Australia): the only reading is `00`'s, or a number of the region's own (`000`).
  if (length === 0) return isShortNumber(written, region) ? shortNumber(input, region) : readAs(input, plain);
  const afterPrefix = `+${written.slice(length)}`;
  const byRegion = check({ text: afterPrefix, guessed: true });
  const byPlain = check(plain);
  // Through its own international prefix the region reaches no number of its own (`008 62…` in Indonesia): that reading
  // was not meant, and taken it would text a stranger at home for a foreign number written a digit off.
  const ownCountry = callingCodeOf(afterPrefix) === getCountryCallingCode(region);
  if (byRegion.ok) {
    if (!byPlain.ok) return ownCountry ? ownThroughPrefix(input, byRegion, region) : number(byRegion);
    // Either is how someone dials (the region's prefix, or `00` as most of the world and, in HK and BO, the region too), and
    // either number may be a landline: its type says nothing of the prefix used, two different numbers are the writer's to tell.
    return byRegion.e164 === byPlain.e164 ? number(byRegion) : bothReadings(input, byRegion, byPlain);
  }
  // The region's prefix found a country but no number of it (a digit short, `0011 44 7700 9001`): its reason, since `00`
  // alone would read the same digits as another country's number (`+1 447 700 9001`).
  if (!ownCountry && byRegion.problem !== 'INVALID_COUNTRY') return refuse(input, byRegion);
  return byPlain.ok ? number(byPlain) : refuse(input, ownCountry ? byPlain : byRegion);
}

/** A number of the region read only through its own international prefix: refused, saying how to write it. */
function ownThroughPrefix(input: string, reading: { shown: string }, region: CountryCode): NumberResult {
  return {
    ok: false,
    reason: `${quote(input)} reads as ${reading.shown} only through ${regionName(region)}'s international prefix, and as no number after 00 alone: write + and the country code`,
  };
}

/** The country calling code an international number (`+…`) starts with, valid or not: calling codes are prefix-free. */
function callingCodeOf(international: string): string | undefined {
  const digits = international.slice(1);
  for (let length = 1; length <= MAX_CALLING_CODE_DIGITS; length++) {
    const code = digits.slice(0, length);
    if (metadata.country_calling_codes[code] !== undefined) return code;
  }
  return undefined;
}

/** ITU-T E.164: a country calling code has 1 to 3 digits. */
const MAX_CALLING_CODE_DIGITS = 3;

/**
 * The types a number receives SMS as: a mobile, or a number the metadata cannot tell from one (NANP,
 * China…). Not PAGER: a paging number takes pages through its own network, not SMS from a gateway,
 * and who texts one means something else.
 */
const SMS_TYPES: ReadonlySet<NumberType> = new Set(['MOBILE', 'FIXED_LINE_OR_MOBILE']);

/** NANP's country code: its 10-digit national numbers are written without trunk prefix or country code. */
const NANP_CALLING_CODE = '1';
/** A NANP number as people there write it: the 10 digits (area code, exchange, line), or 1 and the 10. */
const NANP_WRITTEN = /^1?\d{10}$/;

/**
 * Digits written without `+`, `00` or a trunk 0 in a region (rule 4 above): the one reading plainly
 * meant, or a refusal naming both when either could be.
 */
function readEither(input: string, international: Reading, national: Reading): NumberResult {
  const abroad = check(international);
  const home = check(national);
  // Of two refusals the international one names the country it found, which tells a writer the most; an
  // unknown country code only says the digits were not meant internationally, and the national one is then the useful one.
  if (!home.ok) {
    if (abroad.ok) return number(abroad);
    return refuse(input, abroad.problem === 'INVALID_COUNTRY' ? home : abroad);
  }
  if (!abroad.ok || abroad.e164 === home.e164) return number(home);
  if (abroad.textable !== home.textable) return number(abroad.textable ? abroad : home);
  // The region's own mobile against a number only possibly one abroad (NANP's 1 and 10 digits: China's 11-digit
  // mobiles, a German mobile without its 0): in the region the relay is set for, its own mobile is what was meant.
  if (home.mobile && !abroad.mobile) return number(home);
  if (national.region !== undefined && getCountryCallingCode(national.region) === NANP_CALLING_CODE && NANP_WRITTEN.test(national.text)) return number(home);
  return bothReadings(input, abroad, home);
}

/** Two valid different numbers the digits could be: refused naming both, for the writer to say which. */
function bothReadings(input: string, one: { shown: string }, other: { shown: string }): NumberResult {
  return { ok: false, reason: `${quote(input)} could be ${one.shown} or ${other.shown}: write + and the country code` };
}

/**
 * Short codes (SMS and voice services) and emergency numbers have 3 to 6 digits in most countries
 * (112, 999, 81025, 116123, Germany's 22222 and 116117).
 */
const SHORT_NUMBER_DIGITS = /^\d{3,6}$/;

/**
 * Whether digits no valid number reads are a short code of the region: 3 to 6 of them, whatever libphonenumber says of
 * that length. Where a few numbers are that short (DE, AT, AU, NZ, NO: 5 and 6 digits; IT, SE: 6), its length check
 * calls any such digits a possible number, yet they are no number of the region, and a country guessed abroad
 * ("+116117 in United States") would tell whoever dialled them at home nothing true. libphonenumber-js has no short-number
 * metadata; google-libphonenumber's (ShortNumberInfo) would not do instead: New Zealand's there has no 5-digit code, so
 * `22222 44844` would still be joined into a NZ mobile (severalNumbers).
 */
function isShortNumber(digits: string, region: CountryCode): boolean {
  return SHORT_NUMBER_DIGITS.test(digits) && !parsePhoneNumberFromString(digits, region)?.isValid();
}

/** The one reading there is: the number, or why it is none. */
function readAs(input: string, reading: Reading): NumberResult {
  const outcome = check(reading);
  return outcome.ok ? number(outcome) : refuse(input, outcome);
}

function number({ e164 }: { e164: string }): NumberResult {
  return { ok: true, e164 };
}

function check({ text, region, guessed }: Reading): ReadingOutcome {
  const lengthProblem = validatePhoneNumberLength(text, region);
  const parsed = parsePhoneNumberFromString(text, region);
  const country = parsed === undefined ? undefined : describeCallingCode(parsed.countryCallingCode, region);
  const readAs = guessed ? text : undefined;
  if (lengthProblem !== undefined) return { ok: false, problem: lengthProblem, country, readAs };
  if (parsed === undefined) return { ok: false, problem: 'NOT_A_NUMBER' };
  const drama = UK_DRAMA_MOBILE_RANGE.test(parsed.number);
  if (!parsed.isValid() && !drama) return { ok: false, problem: 'INVALID', country, readAs };
  const place = parsed.country ?? region;
  const shown = `${parsed.formatInternational()}${place === undefined ? '' : ` (${regionName(place)})`}`;
  const type = parsed.getType();
  return { ok: true, e164: parsed.number, textable: drama || (type !== undefined && SMS_TYPES.has(type)), mobile: drama || type === 'MOBILE', shown };
}

/** "United Kingdom (+44)": the region read in, or the main country of the calling code. */
function describeCallingCode(callingCode: string, region: CountryCode | undefined): string | undefined {
  const country = region !== undefined && getCountryCallingCode(region) === callingCode ? region : regionOfCallingCode(callingCode);
  if (country === undefined) return undefined;
  return `${regionName(country)} (+${callingCode})`;
}

/**
 * A dash or plus other than ASCII's, as Word, PDFs and web pages write a number (`+1–202–555–0162`, an en dash; `＋`
 * full-width), which a number written in an address never has: not read as a number's, but named, with the number to write.
 */
const OTHER_DASH = /(?!-)[\p{Pd}\u2212]/gu;
const OTHER_PLUS = /[\uFF0B\uFE62\u207A\u208A]/gu;

/** The refusal of `input` that is a number once its dashes and plus are ASCII's (OTHER_DASH, OTHER_PLUS), or undefined. */
function withOtherSigns(input: string, defaultRegion: CountryCode | undefined, reading: NumberReading): NumberResult | undefined {
  const ascii = input.replace(OTHER_DASH, '-').replace(OTHER_PLUS, '+');
  if (ascii === input) return undefined;
  const read = readNumber(ascii, defaultRegion, reading);
  if (!read.ok) return undefined;
  const signs = [...new Set(input.match(OTHER_DASH) ?? []), ...new Set(input.match(OTHER_PLUS) ?? [])].map(codePointName).join(', ');
  return { ok: false, reason: `${quote(input)} holds ${signs} where ASCII's - or + goes: write ${read.e164}` };
}

/** Characters the relay does not read as a number's, written as digits nonetheless (full-width `４`, Arabic-Indic `٤`). */
const OTHER_DIGIT = /(?![0-9])\p{Nd}/u;

function refuse(input: string, failure: Refusal): NumberResult {
  const quoted = quote(input);
  // "900123" is no number of Türkiye's to whoever wrote it: a country the relay guessed is named with the reading that gave it.
  const guess = failure.readAs === undefined ? '' : ` when read as ${failure.readAs}`;
  const inCountry = failure.country === undefined ? '' : `${guess} in ${failure.country}`;
  const forCountry = failure.country === undefined ? '' : `${guess} for ${failure.country}`;
  const reasons: Record<Problem, string> = {
    NOT_A_NUMBER: OTHER_DIGIT.test(input) ? `${quoted} is not a phone number: write its digits as ASCII digits 0-9` : `${quoted} is not a phone number`,
    INVALID_COUNTRY: `${quoted} has an unknown country code`,
    TOO_SHORT: `${quoted} is too short to be a phone number${inCountry}`,
    TOO_LONG: `${quoted} is too long to be a phone number${inCountry}`,
    INVALID_LENGTH: `${quoted} has the wrong number of digits for a phone number${inCountry}`,
    INVALID: `${quoted} is not a valid number${forCountry}`,
  };
  return { ok: false, reason: reasons[failure.problem] };
}

/**
 * The input as written, in quotes, each character beyond ASCII by its code point (`+U+FF14…`): a reply
 * is ASCII, and folding `４` to `4` would have it quote a valid-looking number it refused.
 */
function quote(input: string): string {
  return `"${asciiQuoted(input)}"`;
}

/**
 * Why digits written as words (a subject's `To:81234 85678`) are not read as one number, or undefined: the words each
 * read on their own as a number or a short code of `defaultRegion`, so the writer may have meant several (`81234 85678`
 * is two short codes, joined a valid +1 812 348 5678; `447700900193 447700900194` two numbers). Words that are no whole
 * number alone (`+44 7700 900123`, `07700 900123`) are one number's groups.
 */
export function severalNumbers(input: string, defaultRegion?: CountryCode): string | undefined {
  const words = input.trim().split(/\s+/u);
  if (words.length < 2 || !words.every((word) => standsAlone(word, defaultRegion))) return undefined;
  if (groupedAsOneNumber(words, defaultRegion)) return undefined;
  return `${quote(input)} could be ${words.length} numbers or one: write each number without blanks, and "," between numbers`;
}

/**
 * A number a person wrote with blanks where no address forbids them (a list's member in the config): read as
 * normaliseNumber reads it, unless its words could each be a number of their own (severalNumbers), as a subject's are.
 */
export function normaliseWrittenNumber(input: string, defaultRegion?: CountryCode): NumberResult {
  const several = severalNumbers(input, defaultRegion);
  return several === undefined ? normaliseNumber(input, defaultRegion) : { ok: false, reason: several };
}

/**
 * Whether the words are the digit groups of one valid number as its country writes it, nationally or
 * internationally (`202 555 1234`: (202) 555-1234; `07700 900123`; `+1 202 555 1234`): groups that short in the
 * US are each a possible short code, yet nobody writing a number so means three. Two short codes joined
 * (`81234 85678`, read +1 812 348 5678) do not follow its grouping, 3-3-4: still refused.
 */
function groupedAsOneNumber(words: readonly string[], defaultRegion: CountryCode | undefined): boolean {
  const written = words.map((word) => word.replace(/\D/gu, '').length);
  const parsed = parsePhoneNumberFromString(words.join(''), defaultRegion);
  if (!parsed?.isValid()) return false;
  const groups = (formatted: string) => formatted.match(/\d+/gu)?.map((group) => group.length) ?? [];
  const international = groups(parsed.formatInternational());
  // Written nationally without the trunk prefix too (India's `98765 43210`, Australia's `412 345 678`): its groups after the country code.
  return [groups(parsed.formatNational()), international, international.slice(1)].some(
    (expected) => expected.length === written.length && expected.every((length, index) => length === written[index]),
  );
}

/**
 * The fewest digits of a short code a word could mean on its own: SMS short codes are 5 or 6 digits in most
 * countries (US, UK, India); 3 or 4 digits are how people group a number (`612 345 678`, `2012 3456`), and
 * service numbers that short (`112`, `118`) are no SMS destination anyone means beside another number.
 */
const MIN_SHORT_CODE_DIGITS = 5;

/**
 * Whether `word` is a whole number alone: a valid one, or a short code of the region (readNumber's step 6) of
 * MIN_SHORT_CODE_DIGITS; so every word of 5 or 6 digits without a trunk or international prefix's `0`, valid or not, in
 * every region: only the country's own grouping (groupedAsOneNumber) joins two of them.
 */
function standsAlone(word: string, defaultRegion: CountryCode | undefined): boolean {
  if (normaliseNumber(word, defaultRegion).ok) return true;
  const digits = word.replace(IGNORED_SEPARATORS, '');
  return defaultRegion !== undefined && digits.length >= MIN_SHORT_CODE_DIGITS && !digits.startsWith('0') && isShortNumber(digits, defaultRegion);
}

/** For config validation of SMSRELAY_DEFAULT_REGION: an upper-case ISO 3166 code libphonenumber knows. */
export function isCountryCode(value: string): value is CountryCode {
  return /^[A-Z]{2}$/.test(value) && isSupportedCountry(value);
}

const MASK_KEEP_HEAD = 4;
const MASK_KEEP_TAIL = 2;
/** Short numbers hide at least this many digits, so that no number is logged whole. */
const MASK_MIN_HIDDEN = 4;

/** The main country of a calling code (`44`: GB), by libphonenumber's metadata; undefined for a code no country has. */
export function regionOfCallingCode(callingCode: string): CountryCode | undefined {
  return (metadata.country_calling_codes as Record<string, CountryCode[] | undefined>)[callingCode]?.[0];
}

/**
 * The countries an E.164 number may be of: those of its country calling code (+44: GB, GG, IM, JE), by libphonenumber's
 * metadata, whether or not it lists the number (Ofcom's drama range, a range opened since).
 */
export function countriesOf(e164: string): readonly CountryCode[] {
  const code = parsePhoneNumberFromString(e164, { extract: false })?.countryCallingCode;
  return code === undefined ? [] : ((metadata.country_calling_codes as Record<string, CountryCode[] | undefined>)[code] ?? []);
}

/**
 * For info-level logs: `+447700900123` → `+4477******23`. By code point, so a number written in another
 * script's digits (full-width `+４４７７…`, Arabic-Indic) is masked alike: `+４４７７******２３`.
 */
export function maskNumber(e164: string): string {
  const plus = e164.startsWith('+') ? '+' : '';
  const digits = [...e164.slice(plus.length)];
  const beyondKept = digits.length - MASK_KEEP_HEAD - MASK_KEEP_TAIL;
  const hidden = Math.min(digits.length, Math.max(beyondKept, MASK_MIN_HIDDEN));
  const visible = digits.length - hidden;
  const tail = Math.min(MASK_KEEP_TAIL, Math.floor(visible / 2));
  const head = visible - tail;
  return `${plus}${digits.slice(0, head).join('')}${'*'.repeat(hidden)}${digits.slice(digits.length - tail).join('')}`;
}

/** E.164 allows at most 15 digits, the country code included: a longer run of digits is no number. */
const E164_MAX_DIGITS = 15;

/**
 * Where a word of digits starts: after no letter or digit of any script (`_` parts words as a blank does: `backup_2026-12-05`).
 * `\b` knows ASCII word characters only, even with the `u` flag, so a date or address in another script's digits after a
 * blank would find no boundary and be masked.
 */
const WORD_START = String.raw`(?<![\p{L}\p{Nd}])`;
/** A plus as people write one in any script: ASCII, full-width `＋`, small `﹢`, superscript and subscript. */
const PLUS = String.raw`[+\uFF0B\uFE62\u207A\u208A]`;
/** A dash of any script (`-`, `‑`, full-width `－`…) and the minus sign. */
const DASH = String.raw`\p{Pd}\u2212`;
/** One blank between words, not a line break nor a tab: a space, a no-break or thin space. */
const BLANK = String.raw`[^\S\t\n\v\f\r\u2028\u2029]`;
/** An ISO 8601 or dotted date (`05.12.2026`) with its time, skipped as no number (NUMBER_IN_TEXT). */
const DATE = String.raw`(?:\p{Nd}{4}-\p{Nd}\p{Nd}-\p{Nd}\p{Nd}|\p{Nd}\p{Nd}?\.\p{Nd}\p{Nd}?\.\p{Nd}{4})(?:[T ]\p{Nd}\p{Nd}:\p{Nd}\p{Nd}(?::\p{Nd}\p{Nd}(?:\.\p{Nd}+)?)?)?`;
/** An IPv4 address, skipped as no number. */
const IPV4 = String.raw`\p{Nd}{1,3}(?:\.\p{Nd}{1,3}){3}(?![.\p{Nd}])`;
/**
 * What no blank before it joins to a number: a date, an address, a time (`06:50:41`). A gateway's answer and an error page
 * put one after a status code, a port or a time, on the same line or the next (`Error 503\n2026-12-07 06:50:41`).
 */
const NOT_A_GROUP = String.raw`(?!${DATE}|${IPV4}|\p{Nd}\p{Nd}?:\p{Nd}\p{Nd}(?!\p{Nd}))`;
/**
 * What joins a number's digit groups, in any script: one blank, a dash or a dot (also full-width, each with a blank on
 * either side: `+44 - 7700 - 900123`), or a plus. Written as a phone number is (WRITTEN_AS_NUMBER), any run of blanks
 * joins them too: a line break or a tab (a message of two lines: `+44\n7700\n900123`), several blanks.
 */
const separator = (blank: string) => String.raw`(?:[${DASH}.\uFF0E+\uFF0B]|(?:(?:${blank})?[${DASH}.\uFF0E](?:${blank})?|${blank})${NOT_A_GROUP})`;
/**
 * Where a number is written as one is (a `+`, international `00` or a trunk `0` first): its groups may stand on lines of
 * their own. Other digits written one group a line, a tab or several blanks apart are a list (`ERR\n400\n1001`,
 * `400\t1001\t17`, `counts: 12  345  67`): each group is read on its own.
 */
const WRITTEN_AS_NUMBER = String.raw`(?:${PLUS}\(?|\(?(?=0))`;

/**
 * The words that make a following `id` a message's id even written as one word with it (`msgid=…`, `smsid …`); written
 * apart (`order-id …`, `correlation id …`, `a delivery receipt for id "…"`) any word does, but the words of PHONE_WORDS
 * (`caller id`, `sender-id`, `user id`): their value is masked where it reads as a number. `id` also stands alone
 * (`"id":…`, `sent: id …`).
 */
const ID_LABELS = ['msg', 'message', 'sms', 'provider', 'gateway', 'batch', 'request', 'transaction', 'tracking'].join('|');
/** Words that name a phone or its owner: an `id` after one is a number's. */
const PHONE_WORDS = ['caller', 'sender', 'user', 'phone', 'mobile', 'msisdn', 'tel', 'fax', 'customer'].join('|');
/** The longest word read as an id's label (`correlation`, `transaction`), bounded as an id's value is. */
const ID_WORD_MAX_CHARS = 32;
/**
 * How far an id's value is read (its first digit looked for, its dash-joined parts): bounded, so that each `id` in a
 * run of them (`--id--id…`, `msgid-msgid-…`, a hostile 256 KB webhook body shown on the quarantine page) is read in
 * constant time rather than to the run's end. A gateway's or message's id (a UUID: 36 characters, 5 parts) fits.
 */
const ID_MAX_CHARS = 64;
const ID_PART_MAX_CHARS = 64;
const ID_MAX_PARTS = 8;

/**
 * A number in free text, as people and gateways write it: `+447700900123`, `+44 7700 900123`,
 * `07700-900-123`, `+44 (0)7700 900123`, `%2B44+7700+900123` (a form body, `+` for a space): digit
 * groups joined by one blank (more where written as a number: WRITTEN_AS_NUMBER), `.`, `-`, `+` or a parenthesis each, whatever precedes the first (`tel-4477…`,
 * `ops-07700-900123`: a dash joins digit groups, which the match takes from a number's first digit, and
 * otherwise parts words as any separator does). Matched first and left alone, as
 * no number: a message id (UUID, whose groups can be all digits), a run of more digits than E.164
 * allows (a gateway's id; groups joined as a number's are still masked, as two numbers side by side
 * could be, dots too), a value labelled as a message's id (ID_LABELS: a gateway's `msgid=…`, `"id":…`, `gateway id …`), a Maildir
 * file name (`<time>.P<pid>…`, `<time>.M…P…`, the relay's own `<time>.S<mail id>H<digest>…`), a word of letters and digits (a hex code
 * `0x00000401`, a gateway's id `SM0123…`: a number is written apart from letters, while `_` parts
 * words as a blank does, and the `%2B` of a form-encoded `+` is no word), an ISO 8601 or dotted date
 * (`05.12.2026`) with its time, an IPv4 address (each also after an opening parenthesis, where a
 * number could begin), an SMTP reply code with its enhanced status code (`550 5.1.10`, `550-5.7.708`:
 * RFC 3463's `class.subject.detail`, which a bounce's reason quotes and the operator must read).
 */
const NUMBER_IN_TEXT = new RegExp(
  [
    String.raw`(?<skip>\(?${WORD_START}[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?![\p{L}\p{Nd}])`,
    String.raw`(?:${WORD_START}(?:(?!(?:${PHONE_WORDS})[_ .-]id)\p{L}{1,${ID_WORD_MAX_CHARS}}[_ .-]|(?:${ID_LABELS})[_ .-]?)|(?<![\p{L}\p{Nd}][_ .-]?))id["']?\s?[=:]?\s?["']?(?=[a-z\p{Nd}-]{0,${ID_MAX_CHARS}}\p{Nd})[a-z\p{Nd}]{1,${ID_PART_MAX_CHARS}}(?:-[a-z\p{Nd}]{1,${ID_PART_MAX_CHARS}}){0,${ID_MAX_PARTS}}`,
    String.raw`${WORD_START}\p{Nd}+\.(?:(?:M\p{Nd}+)?P\p{Nd}+|S\p{Nd}+H[0-9a-f]+)`,
    String.raw`\(?(?<!\p{Nd})\p{Nd}{${E164_MAX_DIGITS + 1},}`,
    String.raw`\(?(?<![a-z\p{Nd}%])(?=[a-z\p{Nd}]*[a-z])(?=[a-z\p{Nd}]*\p{Nd})[a-z\p{Nd}]+`,
    String.raw`\(?${WORD_START}${DATE}`,
    String.raw`\(?${WORD_START}${IPV4}`,
    // The code's class is the reply's first digit; one that more digits follow (joined by a `-` or after a blank) may be a
    // number's start (`447 4.7.09 00123`), masked as before.
    String.raw`\(?${WORD_START}(?<replyClass>[245])\p{Nd}\p{Nd}[ -]\k<replyClass>\.\p{Nd}{1,3}\.\p{Nd}{1,3}(?![.\p{Nd}-])(?!\s+\p{Nd}))`,
    String.raw`(?<!\p{Nd})${WRITTEN_AS_NUMBER}\p{Nd}+(?:(?:${separator(String.raw`\s+`)}|\)\s*|\s*\(${PLUS}?)\p{Nd}+)*`,
    String.raw`(?<!\p{Nd})\(?\p{Nd}+(?:(?:${separator(BLANK)}|\)${BLANK}?|${BLANK}?\(${PLUS}?)\p{Nd}+)*`,
  ].join('|'),
  'giu',
);
/** Fewer digits than this are no phone number (a count, a port, a status code); 7 is the shortest national number in use. */
const MIN_DIGITS_IN_TEXT = 7;

/**
 * Free text (a refusal's reason, an event's detail, a raw webhook body) with every number in it masked
 * as `maskNumber` does, digit for digit in the number's own layout: `+44 7700 900123` → `+44 77** ****23`.
 * A digit is any script's (`\p{Nd}`: full-width, Arabic-Indic), also where a reply quoted it by its code
 * point (`+44U+FF17U+FF17…`, asciiQuoted), or a JSON string by its escape (`\u002B44…`, `+44\u00a07700…`); and what stands
 * between a number's groups or before it is read as what it stands for (CHARACTER_ESCAPES: a JSON message's `\n`, an HTML
 * page's `&nbsp;`, a form's `%20` are the blanks they write): what reads as a number is masked however it was written. One
 * masker for every text the relay shows (log lines, the console, bounces), so that no surface reads a number another masks.
 * `byteEscapes`: the text is bytesAsText's (bytes kept as received), whose `\xHH` escapes stand for bytes that are no
 * character of the text (a Latin-1 `°` beside a number, an ESC, UTF-16's NULs between digits): read as the bytes they are
 * (between digits as nothing, withDigitsUnescaped), not as the letters and digits they are written with, and kept as written.
 */
export function maskNumbersIn(text: string, options: { readonly byteEscapes?: boolean } = {}): string {
  return masked(text, options.byteEscapes === true, AFTER_WORD_AND_DASH);
}

/**
 * maskNumbersIn, with each of `kept` (digits alone: not the start or end of a longer run, which is another number) left
 * whole: values the text's writer knows to be no stranger's number, the relay's own configured limit in its own words
 * (`the limit is 10485760 bytes`), or an SMS's own number in a history written for its sender.
 */
export function maskNumbersInBut(text: string, kept: readonly string[]): string {
  const digits = kept.filter((value) => /^\d+$/.test(value));
  if (digits.length === 0) return maskNumbersIn(text);
  const standingAlone = new RegExp(`(?<!\\p{Nd})(?:${digits.join('|')})(?!\\p{Nd})`, 'gu');
  let out = '';
  let from = 0;
  for (const found of text.matchAll(standingAlone)) {
    out += maskNumbersIn(text.slice(from, found.index)) + found[0];
    from = found.index + found[0].length;
  }
  return out + maskNumbersIn(text.slice(from));
}

/**
 * A user context (a client's conversation key) with a number in it masked as maskNumbersIn does, the console for a viewer
 * as the logs: a client writes its id after a word with any of `-_#:/` or a blank (`order_1234567`, `ticket#1234567`,
 * `case/2026/1234567`, `order 20261206-0042`), which stays as written to be searched by, and digits there are masked only
 * where they read as a phone number (`tel-447700900558`, `customer 07700900558`); a context of digits alone is masked.
 */
export function maskContext(context: string): string {
  return masked(context, false, AFTER_WORD_IN_CONTEXT);
}

/** maskNumbersIn, with digits after what `afterWord` finds before them masked only where they read as a number. */
function masked(text: string, byteEscapes: boolean, afterWord: RegExp): string {
  // Most texts logged per mail (a sender's address, a reason) hold too few digits for any number: nothing is read. An escape
  // writes a digit with one digit at least (`\u0034`, `&#52;`, `&#x34;`, `U+FF14`): the text as written is counted first.
  if (!hasDigits(text, MIN_DIGITS_IN_TEXT)) return text;
  const { plain, pieces, leads } = withDigitsUnescaped(text, byteEscapes);
  const hidden = hiddenDigitsSeen(plain, afterWord);
  if (hidden.size === 0) return text;
  const out: string[] = [];
  // An astral digit's second unit is skipped where its first became the `*`.
  for (let index = 0; index < plain.length; index++)
    out.push(
      leads?.get(index) ?? '',
      hidden.has(index) ? '*' : hidden.has(index - 1) && isSecondUnit(plain, index) ? '' : (pieces?.[index] ?? plain.charAt(index)),
    );
  out.push(leads?.get(plain.length) ?? '');
  return out.join('');
}

/** Where in `plain` the digits are that masking its numbers hides (maskNumber's `*`), by UTF-16 unit. */
function hiddenDigits(plain: string, afterWord: RegExp = AFTER_WORD_AND_DASH): ReadonlySet<number> {
  const hidden = new Set<number>();
  if (!hasDigits(plain, MIN_DIGITS_IN_TEXT)) return hidden;
  let readings = 0;
  for (const found of plain.matchAll(NUMBER_IN_TEXT)) {
    const digits = [...found[0].matchAll(ANY_DIGIT)];
    if (found.groups?.skip !== undefined || digits.length < MIN_DIGITS_IN_TEXT) continue;
    const written = digits.map(([digit]) => digit).join('');
    const idAfterWord = afterWord.test(plain.slice(Math.max(0, found.index - AFTER_WORD_CHARS), found.index));
    if (idAfterWord && readings++ < MAX_NUMBER_READINGS && !readsAsNumber(written)) continue;
    const masked = [...maskNumber(written)];
    digits.forEach((digit, index) => {
      if (masked[index] === '*') hidden.add(found.index + digit.index);
    });
  }
  return hidden;
}

/** Text that is bytes written as hex, two digits each, as the SMPP adapter keeps a PDU it quarantines (a PDU is binary). */
const HEX_BYTES = /^(?:[0-9a-fA-F]{2})+$/;
/** What a hidden digit's byte becomes: `*`, in ASCII and as UCS-2's low byte alike. */
const ASTERISK = 0x2a;

/**
 * Bytes written as hex with every number they hold masked, in the hex: each hidden digit's byte written as `2a` (`*`), so
 * that whoever decodes the hex (or reads each `3x` as the digit x) reads the number as maskNumber shows it. The numbers are
 * those of the bytes read one a character (an SMPP address field, a GSM or Latin-1 text: `447700900150` NUL-terminated)
 * and two a character (UCS-2's `00 34 00 34 …`, from either byte). Any other text is returned as it is.
 */
export function maskNumbersInHex(text: string): string {
  if (!HEX_BYTES.test(text)) return text;
  const bytes = Buffer.from(text, 'hex');
  const masked = Buffer.from(bytes);
  for (const at of hiddenDigits(bytes.toString('latin1'))) masked[at] = ASTERISK;
  for (const offset of [0, 1]) {
    const pairs = Buffer.from(bytes.subarray(offset, offset + ((bytes.length - offset) & ~1))).swap16();
    for (const unit of hiddenDigits(pairs.toString('utf16le'))) masked[offset + 2 * unit + 1] = ASTERISK;
  }
  return masked.equals(bytes) ? text : masked.toString('hex');
}

/**
 * Bytes kept as received (bytesAsText's text, or a PDU's hex) with every number in them masked: hex as maskNumbersInHex
 * masks it and nothing more (its masked hex read again as text would lose a digit run after a hex letter to `*`, and with
 * it the hex), any other text as maskNumbersIn reads bytesAsText's.
 */
export function maskKeptBytes(text: string): string {
  return HEX_BYTES.test(text) ? maskNumbersInHex(text) : maskNumbersIn(text, { byteEscapes: true });
}

/**
 * How many digit runs after a word and a dash one text has read by libphonenumber (tens of µs each): beyond them, in a
 * hostile text (a 256 KB webhook body of `a-1234567 a-1234568 …` on the quarantine page), they are masked unread, so
 * masking it stays a matter of milliseconds. A log line or a page's text holds a few.
 */
const MAX_NUMBER_READINGS = 64;

/**
 * A word and a dash before a number's first digit (or its `+`, `(`): `tel-447700900123@`, but also an operator's id
 * (`noreply-12345678@`, `INC-0012345`, `ticket-2026120001`, `ip-172-31-22-145`), which only a phone number's reading tells apart.
 */
const AFTER_WORD_AND_DASH = new RegExp(String.raw`\p{L}[${DASH}]$`, 'u');
/** What stands between a context's words: a dash, `_`, `#`, `:`, `/` or a blank. */
const CONTEXT_JOIN = String.raw`[${DASH}_#:/\s]`;
/** A word of a context, then any parts of it (`case/2026/`), then what joins its id: `order_`, `SO#`, `order `. */
const AFTER_WORD_IN_CONTEXT = new RegExp(String.raw`\p{L}[\p{L}\p{Nd}]*(?:${CONTEXT_JOIN}[\p{L}\p{Nd}]+)*${CONTEXT_JOIN}$`, 'u');
/** How far before a number its word is looked for: a context's (`case/2026/`), bounded as a hostile text's is. */
const AFTER_WORD_CHARS = 32;

/**
 * Whether digits after a word and a dash read as a phone number: international, as RCPT reads a local part written
 * with or without its `+` or `00`; a national number's trunk `0` (not `00`) is read as a number's start, since no region is at
 * hand to check it (the masker serves logs and pages of every relay alike), so it is masked. Digits of another script are
 * masked unchecked. A national number written without its trunk `0` after a word and a dash (`alerts-4155552671@`)
 * reads as no number and is left as written.
 */
function readsAsNumber(digits: string): boolean {
  if (!/^[0-9]+$/.test(digits)) return true;
  if (normaliseNumber(`+${digits}`).ok) return true;
  // The international prefix most of the world dials (`tel:00447700900558`): an id starting 00 is no valid number after it.
  if (digits.startsWith('00') && normaliseNumber(`+${digits.slice(2)}`).ok) return true;
  return NATIONAL_TRUNK_PREFIX.test(digits);
}

function isSecondUnit(text: string, index: number): boolean {
  const code = text.charCodeAt(index);
  return code >= 0xdc00 && code <= 0xdfff;
}

/** One alternative each, in the order they are tried: a longer escape before the backslash alone. */
const escapeOf = (parts: readonly string[]) => new RegExp(parts.join('|'), 'g');
/**
 * What stands for a character in text the masker reads, read as that character, so that a number written with it reads as one
 * and one such character beside a number reads as the boundary or separator it is:
 * - a character quoted by its code point (asciiQuoted: `U+FF14`, an astral one `U+1D7CE`), which digits may follow
 *   (`U+FF10900123`): read as 4 hex digits, or 5 where those are an astral digit's code point;
 * - a JSON string's `\uXXXX` escape (`json`; an astral character's two): a gateway's JSON may write any character so
 *   (.NET's System.Text.Json writes `+` as `\u002B` by default; `\u00a0` between groups; `\u0030` for a 0); ES2015's,
 *   Rust's and Swift's `\u{a}` (`braced`);
 * - JSON's and C's one-letter escapes (`short`): JSON writes every line break and tab in a string as `\n`, `\r\n`, `\t`, so
 *   a gateway's message of two lines is `…:\n447700900123`, whose `n` is no letter of a word of the number's;
 * - an HTML character reference (`reference`: `&nbsp;`, `&#160;`, `&#xA0;`, `&#10;`, `&#52;`), as an error page writes a
 *   number's groups apart, also escaped once more (`&amp;nbsp;`); a named one only with its `;` but `&nbsp`, the one legacy
 *   name of a blank a browser reads without it (a query string's `&times7` is none); a numeric one without its `;` as the
 *   fewest digits that make a blank (`&#x0A447700900123` is a line break and a number: a reader cannot tell where it ends);
 * - a percent-encoded character (`percent`: `%20`, `%0A`, UTF-8's no-break and narrow no-break spaces `%C2%A0`,
 *   `%E2%80%AF`, a `+` as `%2B`), as a form body writes one: each UTF-8 sequence, one character.
 * Each escape of JSON may have its own backslash escaped once (`\\u002B`, `\\n`: JSON inside JSON, or bytesAsText's doubled
 * backslash).
 */
const CHARACTER_ESCAPES = [
  String.raw`U\+([0-9A-F]{4})([0-9A-F])?`,
  String.raw`\\\\?u(?<json>[0-9A-Fa-f]{4}(?:\\\\?u[dD][c-fC-F][0-9A-Fa-f]{2})?)`,
  String.raw`\\\\?u\{(?<braced>[0-9A-Fa-f]{1,6})\}`,
  String.raw`\\\\?(?<short>[bfnrtv])`,
  String.raw`&(?:amp;)?(?:#(?<decimal>[0-9]{1,7})(?<decimalEnd>;?)|#[xX](?<hexadecimal>[0-9A-Fa-f]{1,6})(?<hexadecimalEnd>;?)|(?<named>[A-Za-z][A-Za-z0-9]{1,31};|nbsp))`,
  String.raw`(?<percent>%[0-7][0-9A-Fa-f]|%[cdCD][0-9A-Fa-f]%[89abAB][0-9A-Fa-f]|%[eE][0-9A-Fa-f](?:%[89abAB][0-9A-Fa-f]){2}|%[fF][0-7](?:%[89abAB][0-9A-Fa-f]){3})`,
];
/** In text: also C's and Python's `\xHH`, a character by its code (`\x0a`, `\xa0`). */
const TEXT_ESCAPE = escapeOf([...CHARACTER_ESCAPES, String.raw`\\x(?<hex>[0-9A-Fa-f]{2})`]);
/**
 * In bytesAsText's text: its escapes instead, bytes in a row (`\xB0`, `\x00\x1B`: `bytes`) and a backslash (`\\`), which
 * writes a JSON escape's own backslash (`\\u002B`, read before the backslash alone; a text with no byte escaped keeps its
 * one backslash, `\u002B`, as bytesAsText leaves it).
 */
const BYTES_ESCAPE = escapeOf([...CHARACTER_ESCAPES, String.raw`(?<bytes>(?:\\x[0-9A-F]{2})+)`, String.raw`\\\\`]);
/** What JSON's and C's one-letter escapes stand for. */
const SHORT_ESCAPES: Readonly<Record<string, string>> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };
/** Where an escape CHARACTER_ESCAPES reads may start: a text without any (most addresses and reasons) is read as it is. */
const ESCAPE_START = /[\\&%]|U\+/;
/** A decimal digit of any script. */
const ANY_DIGIT = /\p{Nd}/gu;
const ONE_DIGIT = /^\p{Nd}$/u;
/** What bytes that are no character read as beside a letter or a blank: U+FFFD, the decoder's own stand-in. */
const NO_CHARACTER = '\uFFFD';

/**
 * `text` with each character written by an escape (CHARACTER_ESCAPES) as the character (`plain`): a number's separators are
 * escaped too (`+44U+FF0D7700U+FF0D900123`, `+44&nbsp;7700`); and where there was one, for each UTF-16 unit of `plain` the
 * text it stands for (`pieces`: the escape, '' for an astral character's second unit), to write the masked text back as it was written.
 * With `byteEscapes`, bytes between two digits (UTF-16's NULs, `4477\x00900123`) are no unit of `plain`, the digits are read
 * together: `leads` keeps them before the digit they stand before; elsewhere they read as one character that is no letter
 * nor digit (`Tel\xB0447700900124` is a word and a number, as `Tel°447700900124` is); `\\` is the one backslash it stands for.
 */
function withDigitsUnescaped(
  text: string,
  byteEscapes: boolean,
): { readonly plain: string; readonly pieces?: readonly string[]; readonly leads?: ReadonlyMap<number, string> } {
  if (!ESCAPE_START.test(text)) return { plain: text };
  let plain = '';
  const pieces: string[] = [];
  const leads = new Map<number, string>();
  let from = 0;
  /** `character` (one or two units) for `written`, the text from `from` to the escape kept as it is. */
  const read = (at: number, written: string, character: string) => {
    const before = text.slice(from, at);
    plain += before + character;
    // One at a time: a spread is a call's arguments, which overflow the stack past ~125,000 (a 256 KB quarantined body).
    for (let unit = 0; unit < before.length; unit++) pieces.push(before.charAt(unit));
    pieces.push(written, ...(character.length > 1 ? [''] : []));
    from = at + written.length;
  };
  for (const found of text.matchAll(byteEscapes ? BYTES_ESCAPE : TEXT_ESCAPE)) {
    const [whole, four, fifth = ''] = found;
    const { json, braced, short, decimal, decimalEnd, hexadecimal, hexadecimalEnd, named, percent, hex, bytes } = found.groups ?? {};
    if (four !== undefined) {
      const bmp = String.fromCodePoint(Number.parseInt(four, 16));
      const astral = fifth === '' ? '' : String.fromCodePoint(Number.parseInt(four + fifth, 16));
      const character = !ONE_DIGIT.test(bmp) && ONE_DIGIT.test(astral) ? astral : bmp;
      read(found.index, `U+${character === bmp ? four : four + fifth}`, character);
    } else if (json !== undefined) read(found.index, whole, String.fromCharCode(...json.split(/\\+u/).map((unit) => Number.parseInt(unit, 16))));
    else if (braced !== undefined) {
      const code = Number.parseInt(braced, 16);
      if (code <= MAX_CODE_POINT) read(found.index, whole, String.fromCodePoint(code));
    } else if (short !== undefined) read(found.index, whole, SHORT_ESCAPES[short] ?? short);
    else if (named !== undefined) {
      // An unknown name (`&Secret;`) is text as written.
      const character = decodeHTML(`&${named}`);
      if (character !== `&${named}`) read(found.index, whole, character);
    } else if (decimal !== undefined || hexadecimal !== undefined) {
      const [digits, base, end] = decimal === undefined ? [hexadecimal ?? '', 16, hexadecimalEnd] : [decimal, 10, decimalEnd];
      const length = end === ';' ? digits.length : blankDigits(digits, base);
      const code = Number.parseInt(digits.slice(0, length), base);
      // Without its `;` the reference ends with its digits: what follows the digits read is text.
      const written = length === digits.length ? whole : whole.slice(0, whole.length - digits.length + length);
      if (code <= MAX_CODE_POINT) read(found.index, written, decodeHTMLStrict(`&#${code};`));
    } else if (percent !== undefined) {
      const character = decodedPercent(percent);
      if (character !== undefined) read(found.index, whole, character);
    } else if (hex !== undefined) read(found.index, whole, String.fromCharCode(Number.parseInt(hex, 16)));
    else if (bytes === undefined) read(found.index, whole, '\\');
    else {
      const before = text.slice(from, found.index);
      if (ONE_DIGIT.test(before === '' ? plain.slice(-1) : before.slice(-1)) && ONE_DIGIT.test(text.charAt(found.index + whole.length))) {
        plain += before;
        for (let unit = 0; unit < before.length; unit++) pieces.push(before.charAt(unit));
        leads.set(plain.length, bytes);
        from = found.index + whole.length;
      } else read(found.index, bytes, NO_CHARACTER);
    }
  }
  if (from === 0) return { plain: text };
  const rest = text.slice(from);
  return { plain: plain + rest, pieces: [...pieces, ...rest.split('')], ...(leads.size > 0 ? { leads } : {}) };
}

/**
 * What stands between a written number's digits but the digits: a blank, a dash, a dot, a plus, a parenthesis. Not a BOM,
 * a blank to JavaScript: invisible characters are runs of their own (INVISIBLE_RUN), each looked at once.
 */
const SEPARATOR_IN_NUMBER = new RegExp(String.raw`(?!\p{Cf})[\s${DASH}.\uFF0E+\uFF0B()]`, 'u');
/** A run of invisible characters (Unicode's Cf: a zero-width space, a soft hyphen, a word joiner, a ZWJ, bidi marks, a BOM, a tag). */
const INVISIBLE_RUN = /\p{Cf}+/gu;
const DIGIT_AT_END = /\p{Nd}$/u;
const DIGIT_AT_START = /^\p{Nd}/u;
const DIGITS_AT_START = /^\p{Nd}+/u;
/** How many UTF-16 units a run of one number's digits takes at most (E164_MAX_DIGITS, each an astral digit's two), and one more digit. */
const NUMBER_DIGIT_UNITS = 2 * (E164_MAX_DIGITS + 1);

/**
 * The digits of `plain` that masking its numbers hides (hiddenDigits), where `plain` is read both as written and as a
 * reader sees it, without the invisible characters within a number (withInvisiblesLifted): `07700\u200B900123` shows the
 * number `07700900123`, and is masked as one (`0770*\u200B****23`), not as two runs too short for a number, left in clear.
 * Each digit hidden in either reading is hidden: the reading without them never leaves in clear a digit the reading with
 * them hides (it may read a labelled id's value, `id 0770\u200B0900123`, or a date where there were none).
 */
function hiddenDigitsSeen(plain: string, afterWord: RegExp): ReadonlySet<number> {
  const hidden = hiddenDigits(plain, afterWord);
  const seen = withInvisiblesLifted(plain);
  if (seen === undefined) return hidden;
  const both = new Set(hidden);
  for (const unit of hiddenDigits(seen.plain, afterWord)) both.add(seen.origin[unit] ?? unit);
  return both;
}

/**
 * `plain` without each run of invisible characters that stands within a number: a digit before it and a digit after it,
 * each beside it or past a number's separators only (`4477\u200B00900123`, `+44 7700\u200E 900123`); and not where the
 * digits it joins would make a run longer than a number (E164_MAX_DIGITS: two numbers a ZWSP apart are two, not a run of
 * 22 digits read as an id). One before a number's first digit or after its last (a bidi mark around it, `id \u200B0770…`)
 * is no part of it and stays. `origin`: for each unit kept, its index in `plain`. Undefined where none is lifted.
 */
function withInvisiblesLifted(plain: string): { readonly plain: string; readonly origin: readonly number[] } | undefined {
  if (!NOT_ASCII.test(plain)) return undefined;
  let kept = '';
  const origin: number[] = [];
  let from = 0;
  /** The digits that run up to `from`, the end of the last run lifted, through it and those lifted before it. */
  let carried = 0;
  for (const found of plain.matchAll(INVISIBLE_RUN)) {
    const end = found.index + found[0].length;
    const before = digitsBefore(plain, found.index);
    const joined = before.units === found.index - from && from > 0 ? carried + before.count : before.count;
    if (!withinNumber(plain, found.index, end, joined)) continue;
    for (let unit = from; unit < found.index; unit++) origin.push(unit);
    kept += plain.slice(from, found.index);
    from = end;
    carried = joined;
  }
  if (from === 0) return undefined;
  for (let unit = from; unit < plain.length; unit++) origin.push(unit);
  return { plain: kept + plain.slice(from), origin };
}

/**
 * Whether the invisible run from `start` to `end` of `plain` stands within a number (withInvisiblesLifted), `before` the
 * digits that run up to it (those of runs lifted before it counted).
 */
function withinNumber(plain: string, start: number, end: number, before: number): boolean {
  let last = start;
  while (last > 0 && SEPARATOR_IN_NUMBER.test(plain.charAt(last - 1))) last--;
  let next = end;
  while (next < plain.length && SEPARATOR_IN_NUMBER.test(plain.charAt(next))) next++;
  if (!DIGIT_AT_END.test(plain.slice(Math.max(0, last - 2), last)) || !DIGIT_AT_START.test(plain.slice(next, next + 2))) return false;
  // Past a separator it joins no digits into one run; beside digits on both sides, never into one longer than a number.
  return last < start || next > end || before + digitsAfter(plain, end) <= E164_MAX_DIGITS;
}

/** The digits that run up to `at` in `plain` (how many, in how many UTF-16 units), counted to more than a number holds at most. */
function digitsBefore(plain: string, at: number): { readonly count: number; readonly units: number } {
  let count = 0;
  let unit = at;
  for (let digit = DIGIT_AT_END.exec(plain.slice(Math.max(0, unit - 2), unit)); digit !== null && count <= E164_MAX_DIGITS; ) {
    count++;
    unit -= digit[0].length;
    digit = DIGIT_AT_END.exec(plain.slice(Math.max(0, unit - 2), unit));
  }
  return { count, units: at - unit };
}

/** How many digits run from `at` in `plain`, counted to more than a number holds at most. */
function digitsAfter(plain: string, at: number): number {
  return [...(DIGITS_AT_START.exec(plain.slice(at, at + NUMBER_DIGIT_UNITS))?.[0] ?? '')].length;
}

/** The highest code point there is (U+10FFFF): a `\u{…}` beyond it is none. */
const MAX_CODE_POINT = 0x10ffff;

const BLANK_CHARACTER = /^\s$/u;
/**
 * How many digits of a numeric reference written without its `;` (`&#x0A447700900123`) it is read with: the fewest that make
 * a blank, or where none does all of them (`&#52`), as an HTML parser reads it.
 */
function blankDigits(digits: string, base: number): number {
  for (let length = 1; length < digits.length; length++)
    if (BLANK_CHARACTER.test(String.fromCodePoint(Math.min(Number.parseInt(digits.slice(0, length), base), MAX_CODE_POINT)))) return length;
  return digits.length;
}

/** One character written as its UTF-8 bytes percent-encoded, or undefined where they are no UTF-8 (`%C0%80`). */
function decodedPercent(written: string): string | undefined {
  try {
    return decodeURIComponent(written);
  } catch {
    return undefined;
  }
}

/** Whether `text` holds at least `least` digits, anywhere: ASCII ones counted first, any script's where there are too few. */
function hasDigits(text: string, least: number): boolean {
  let found = 0;
  for (let index = 0; index < text.length && found < least; index++) {
    const code = text.charCodeAt(index);
    if (code >= 48 && code <= 57) found++;
  }
  return found >= least || (NOT_ASCII.test(text) && (text.match(ANY_DIGIT)?.length ?? 0) >= least);
}

/** Display forms, remembered as parses are (above): every reply mail names its sender's number. */
const displayed = new LRUCache<string, string>({ max: 10_000 });

/** International display format, `+44 7700 900123`; the input unchanged if it cannot be parsed. */
export function formatNumber(e164: string): string {
  let shown = displayed.get(e164);
  if (shown === undefined) {
    shown = parsePhoneNumberFromString(e164)?.formatInternational() ?? e164;
    displayed.set(e164, shown);
  }
  return shown;
}

/** `447700900123`: the digits without '+', as IntelliSoftware wants them. */
export function toInternationalDigits(e164: string): string {
  return e164.replace(/^\+/, '');
}
