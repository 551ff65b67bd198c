import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bytesAsText } from '../../src/bytes-text.ts';
import { finishes } from '../helpers/finishes.ts';
import { mulberry32 } from '../helpers/fuzz-cases.ts';
import { linearly, workOf } from '../helpers/work-count.ts';
import { type CountryCode, parsePhoneNumberFromString, validatePhoneNumberLength } from 'libphonenumber-js/max';
import mobileExamples from 'libphonenumber-js/examples.mobile.json';
import metadata from 'libphonenumber-js/metadata.max.json';
import {
  formatNumber,
  isCountryCode,
  maskContext,
  maskKeptBytes,
  maskNumber,
  maskNumbersIn,
  maskNumbersInHex,
  normaliseNumber,
  severalNumbers,
  regionName,
  toInternationalDigits,
  type NumberResult,
} from '../../src/sms/numbers.ts';

/** Every region libphonenumber's metadata knows. */
const REGIONS = Object.keys(metadata.countries) as CountryCode[];
/** The regions where libphonenumber takes 5 or 6 digits for a possible number (DE, AT, AU, NZ, NO, IT, SE…): some numbers there are that short. */
const SHORT_LENGTH_REGIONS = REGIONS.filter((region) => ['23456', '234567'].some((digits) => validatePhoneNumberLength(digits, region) !== 'TOO_SHORT'));

const accepted = (e164: string): NumberResult => ({ ok: true, e164 });
/** The seed and size of the fuzz of invisible characters in numbers: a few seconds, every kind of case many times. */
const INVISIBLE_FUZZ_SEED = 0x200b;
const INVISIBLE_FUZZ_CASES = 2000;

function reasonFor(result: NumberResult): string {
  assert.equal(result.ok, false, `expected a refusal, got ${JSON.stringify(result)}`);
  return result.ok ? '' : result.reason;
}

describe('normaliseNumber', () => {
  it('reads + and 00 as international', () => {
    assert.deepEqual(normaliseNumber('+447700900123'), accepted('+447700900123'));
    assert.deepEqual(normaliseNumber('00447700900123'), accepted('+447700900123'));
    assert.deepEqual(normaliseNumber('+12025550123', 'GB'), accepted('+12025550123'));
  });

  it('reads digits without a prefix as international when no default region is set', () => {
    assert.deepEqual(normaliseNumber('447700900123'), accepted('+447700900123'));
    assert.deepEqual(normaliseNumber('12025550123'), accepted('+12025550123'));
    assert.deepEqual(normaliseNumber('4793793952'), accepted('+4793793952'));
  });

  it('reads digits without + or 00 (nor a trunk 0) by the one reading plainly meant, whatever the default region', () => {
    // [as written, sms.defaultRegion, E.164]: a number of the region read at home (also with its trunk
    // prefix or country code); a foreign mobile copied without its + read abroad (IT, LU, CN, RU, KZ, IN,
    // CZ, TD once texted these to the region instead); a NANP region's 10 digits (or 1 and 10) at home.
    const table: ReadonlyArray<readonly [string, CountryCode, string]> = [
      ['4793793952', 'US', '+14793793952'],
      ['(479)3793952', 'US', '+14793793952'],
      ['479-379-3952', 'US', '+14793793952'],
      ['3214784643', 'US', '+13214784643'],
      ['5016761432', 'US', '+15016761432'],
      ['14793793952', 'US', '+14793793952'],
      ['447700900123', 'US', '+447700900123'],
      ['33612345678', 'US', '+33612345678'],
      ['4793793952', 'CA', '+14793793952'],
      ['15063883989', 'CA', '+15063883989'],
      ['13812345678', 'CN', '+8613812345678'],
      // The region's own mobile against a number only possibly a mobile abroad (NANP's): the region's.
      ['15063883989', 'CN', '+8615063883989'],
      ['15123456789', 'DE', '+4915123456789'],
      ['14155552671', 'CN', '+14155552671'],
      ['79125353244', 'CN', '+79125353244'],
      ['51913392377', 'CN', '+51913392377'],
      ['3471234567', 'IT', '+393471234567'],
      ['393471234567', 'IT', '+393471234567'],
      ['33615045697', 'IT', '+33615045697'],
      ['32457366863', 'IT', '+32457366863'],
      ['34617855531', 'IT', '+34617855531'],
      ['621123456', 'LU', '+352621123456'],
      ['43664069530', 'LU', '+43664069530'],
      ['41791234567', 'LU', '+41791234567'],
      ['79125353244', 'LU', '+79125353244'],
      ['9123456789', 'RU', '+79123456789'],
      ['89123456789', 'RU', '+79123456789'],
      ['4741234567', 'RU', '+4741234567'],
      ['84917229875', 'KZ', '+84917229875'],
      ['9876543210', 'IN', '+919876543210'],
      ['6591234567', 'IN', '+6591234567'],
      ['6581382593', 'IN', '+6581382593'],
      ['5512345678', 'MX', '+525512345678'],
      ['601123456', 'CZ', '+420601123456'],
      ['966513794998', 'CZ', '+966513794998'],
      ['16468199370', 'TD', '+16468199370'],
      ['447700900123', 'GB', '+447700900123'],
      ['7700900123', 'GB', '+447700900123'],
      ['7911123456', 'GB', '+447911123456'],
      ['2079460000', 'GB', '+442079460000'],
      ['33612345678', 'GB', '+33612345678'],
      ['4793793952', 'GB', '+4793793952'],
      ['447700900123', 'DE', '+447700900123'],
      ['33612345678', 'DE', '+33612345678'],
      ['4915123456789', 'DE', '+4915123456789'],
      ['447700900123', 'FR', '+447700900123'],
      ['33612345678', 'FR', '+33612345678'],
      ['612345678', 'FR', '+33612345678'],
    ];
    for (const [written, region, e164] of table) assert.deepEqual(normaliseNumber(written, region), accepted(e164), `${written} in ${region}`);
  });

  it('refuses digits that are two numbers able to take SMS, one abroad and one at home, naming both', () => {
    const table: ReadonlyArray<readonly [string, CountryCode, string]> = [
      ['4366466580', 'MX', '"4366466580" could be +43 664 66580 (Austria) or +52 436 646 6580 (Mexico): write + and the country code'],
    ];
    for (const [written, region, reason] of table) assert.equal(reasonFor(normaliseNumber(written, region)), reason, `${written} in ${region}`);
  });

  it('reads digits a gateway calls national (SMPP TON 2) in the default region alone', () => {
    assert.deepEqual(normaliseNumber('15123456789', 'DE', 'national'), accepted('+4915123456789'));
    assert.deepEqual(normaliseNumber('015123456789', 'DE', 'national'), accepted('+4915123456789'));
    assert.deepEqual(normaliseNumber('4793793952', 'US', 'national'), accepted('+14793793952'));
    assert.deepEqual(normaliseNumber('447700900123', 'DE', 'national'), accepted('+49447700900123'), 'never read abroad: a landline in Lastrup');
    assert.match(reasonFor(normaliseNumber('15123456789', undefined, 'national')), /is a national number; the relay has no default region/);
  });

  it('falls back to the default region when the international reading is not valid', () => {
    assert.deepEqual(normaliseNumber('2025550123', 'US'), accepted('+12025550123'));
    assert.deepEqual(normaliseNumber('89123456789', 'RU'), accepted('+79123456789'));
  });

  it('reads a leading trunk prefix as national in the default region', () => {
    assert.deepEqual(normaliseNumber('07700900123', 'GB'), accepted('+447700900123'));
    assert.deepEqual(normaliseNumber('0612345678', 'IT'), accepted('+390612345678'));
  });

  it('refuses a national number when no default region is set, naming the setting', () => {
    const reason = reasonFor(normaliseNumber('07700900123'));
    assert.match(reason, /^"07700900123" is a national number/);
    assert.match(reason, /SMSRELAY_DEFAULT_REGION/);
    assert.match(reason, /international form: \+, the country code, then the number without its trunk 0$/);
    assert.doesNotMatch(reasonFor(normaliseNumber('0612345678')), /\+44/, 'no country is suggested for a number of an unknown one');
  });

  it('ignores spaces, dots, dashes and parentheses', () => {
    assert.deepEqual(normaliseNumber('+44 7700 900123'), accepted('+447700900123'));
    assert.deepEqual(normaliseNumber('+44.7700.900.123'), accepted('+447700900123'));
    assert.deepEqual(normaliseNumber('(07700) 900-123', 'GB'), accepted('+447700900123'));
    assert.deepEqual(normaliseNumber('+44 (0)7700 900123'), accepted('+447700900123'));
  });

  it('accepts fixed-line numbers (text-to-landline)', () => {
    assert.deepEqual(normaliseNumber('+44 20 7946 0000'), accepted('+442079460000'));
    assert.deepEqual(normaliseNumber('020 7946 0000', 'GB'), accepted('+442079460000'));
  });

  it("accepts Ofcom's drama mobile range, which the metadata calls invalid, and nothing next to it", () => {
    assert.deepEqual(normaliseNumber('+447700900000'), accepted('+447700900000'));
    assert.deepEqual(normaliseNumber('+447700900999'), accepted('+447700900999'));
    assert.equal(normaliseNumber('+447700901000').ok, false);
  });

  it('refuses numbers that are too short or too long', () => {
    assert.equal(reasonFor(normaliseNumber('12')), '"12" is too short to be a phone number');
    assert.equal(reasonFor(normaliseNumber('12', 'GB')), '"12" is too short to be a phone number');
    assert.equal(reasonFor(normaliseNumber('+441234')), '"+441234" is too short to be a phone number in United Kingdom (+44)');
    assert.equal(
      reasonFor(normaliseNumber('4477009001234567890')),
      '"4477009001234567890" is too long to be a phone number when read as +4477009001234567890 in United Kingdom (+44)',
    );
  });

  it('names a country it guessed from digits written without + or 00 with the reading that gave it', () => {
    assert.equal(reasonFor(normaliseNumber('9001234', 'GB')), '"9001234" is too short to be a phone number when read as +9001234 in Türkiye (+90)');
    assert.equal(reasonFor(normaliseNumber('+900123', 'GB')), '"+900123" is too short to be a phone number in Türkiye (+90)', 'written so: no guess');
  });

  it('refuses a short code or emergency number of the default region as that, not as a foreign number', () => {
    for (const digits of ['81025', '112', '999', '116123']) {
      assert.equal(
        reasonFor(normaliseNumber(digits, 'GB')),
        `"${digits}" is a short code or emergency number in United Kingdom, not a phone number: it cannot be texted`,
      );
    }
    assert.match(reasonFor(normaliseNumber('911', 'US')), /^"911" is a short code or emergency number in United States/);
    assert.equal(reasonFor(normaliseNumber('12', 'GB')), '"12" is too short to be a phone number', 'two digits are no short code');
    assert.match(reasonFor(normaliseNumber('81025')), /when read as \+81025 in Japan/, 'without a default region there is no home to read it in');
  });

  it('refuses 3 to 6 digits that are no number in any region as its short code, also where libphonenumber allows numbers that short (DE 116117, AU 19222, NZ 22222)', () => {
    assert.ok(SHORT_LENGTH_REGIONS.includes('DE') && SHORT_LENGTH_REGIONS.includes('NZ'), SHORT_LENGTH_REGIONS.join(' '));
    for (const region of REGIONS) {
      for (const digits of ['116117', '11833', '22222', '19222', '180000', '1234', '112']) {
        const read = normaliseNumber(digits, region);
        // A number of the region that short (Austria's 19222, Vienna's 01 9222) is one.
        if (read.ok) continue;
        assert.equal(read.reason, `"${digits}" is a short code or emergency number in ${regionName(region)}, not a phone number: it cannot be texted`, region);
      }
    }
  });

  it('refuses anything that is not digits', () => {
    assert.equal(reasonFor(normaliseNumber('abc')), '"abc" is not a phone number');
    assert.equal(reasonFor(normaliseNumber('')), '"" is not a phone number');
    assert.equal(reasonFor(normaliseNumber('+44 7700 9OO123')), '"+44 7700 9OO123" is not a phone number');
    assert.equal(reasonFor(normaliseNumber('44+7700900123')), '"44+7700900123" is not a phone number');
  });

  it('quotes digits other than ASCII 0-9 by code point and says so, never as the ASCII number they look like', () => {
    assert.equal(
      reasonFor(normaliseNumber('+４４７９１１１２３４５６', 'GB')),
      '"+U+FF14U+FF14U+FF17U+FF19U+FF11U+FF11U+FF11U+FF12U+FF13U+FF14U+FF15U+FF16" is not a phone number: write its digits as ASCII digits 0-9',
    );
    assert.match(reasonFor(normaliseNumber('٤٤٧٩١١١٢٣٤٥٦')), /^"U\+0664U\+0664U\+0667.*" is not a phone number: write its digits as ASCII digits 0-9$/);
  });

  it('refuses an unknown country code', () => {
    assert.equal(reasonFor(normaliseNumber('+999123456')), '"+999123456" has an unknown country code');
    assert.equal(reasonFor(normaliseNumber('999123456')), '"999123456" has an unknown country code');
  });

  it("gives the national reading's reason when the digits have no known country code", () => {
    assert.equal(reasonFor(normaliseNumber('999123456', 'GB')), '"999123456" is not a valid number for United Kingdom (+44)');
  });

  it('refuses a number of the right length that the country does not use', () => {
    assert.equal(reasonFor(normaliseNumber('+441111111111')), '"+441111111111" is not a valid number for United Kingdom (+44)');
    assert.equal(reasonFor(normaliseNumber('+1 555 555 0123')), '"+1 555 555 0123" is not a valid number for United States (+1)');
  });
});

/**
 * A sample of /tmp/review-recipients5/enum2.ts's enumeration (every `00…` international prefix of the 19 regions that have
 * one, over valid numbers of every type): `[region, as written, the number meant]`. Each was once texted to another number
 * (+1 for a landline after `0011`, Mexico for Cameroon's toll-free after `005`), in both directions: the region's prefix,
 * and `00` alone as most of the world (and, in HK and BO, the region too) writes it.
 */
const WRITTEN_AFTER_00: readonly (readonly [CountryCode, string, string])[] = [
  ['AU', '0011 64 9 309 1234', '+6493091234'], // an Auckland landline, or +1 649 (Turks and Caicos)
  ['AU', '0011 267 390 1234', '+2673901234'], // a Botswana landline, or Philadelphia
  ['AU', '0011 32 19 21 24 43', '+3219212443'], // a Belgian landline
  ['KR', '001 65 6738 1234', '+6567381234'], // a Singapore landline
  ['AU', '0011 354 800 3018', '+3548003018'], // Iceland's toll-free
  ['AU', '0011 32 78 14 46 48', '+3278144648'], // a Belgian UAN
  ['GY', '001 354 900 7891', '+3549007891'], // Iceland's premium rate, which the blocklist must see as such
  ['UG', '007 965 1830923', '+9651830923'], // Kuwait's toll-free, or a Russian mobile after 00
  ['BR', '0022 376 166324', '+376166324'], // Andorra's premium rate, or a Mali mobile
  ['KH', '005 264 88635541', '+26488635541'], // Namibia's VoIP, or Mexico
  ['CO', '005 237 88658840', '+23788658840'], // Cameroon's toll-free, or Mexico
  ['BR', '0055 389 84310812', '+38984310812'], // North Macedonia's shared cost, or a Brazilian mobile
  ['KR', '00 52 222 123 4567', '+522221234567'], // Mexico written with 00 as most of the world does, or Mauritania by Korea's 005
  ['CO', '00 52 781 786 1327', '+527817861327'], // Mexico, or a South African mobile
  ['BO', '00 1 227 812 7532', '+12278127532'], // the US with 00, a prefix of Bolivia's too
  ['HK', '00 256 32 886 7995', '+256328867995'], // a Uganda landline with 00, a prefix of Hong Kong's too
  ['HK', '00 91 361 647 7295', '+913616477295'], // an Indian landline, or the US
  ['CO', '00 596 899 288715', '+596899288715'], // Martinique's premium rate, or an Omani mobile
  ['ID', '00 86 285 447 7391', '+862854477391'], // a Chinese landline, or Indonesia's own number after its 008
  ['AU', '0011 32 450 00123', '+3245000123'], // a Belgian mobile a digit short: no +1 324 500 0123
  ['AU', '0011 44 7700 9001', '+4477009001'], // a UK number a digit short: no +1 447 700 9001
];

describe("normaliseNumber after a region's own 00… international prefix (rule 2')", () => {
  it('texts no number but the one meant, whatever its type, in either direction: the meant one or a refusal', () => {
    for (const [region, written, meant] of WRITTEN_AFTER_00) {
      const read = normaliseNumber(written, region);
      assert.ok(!read.ok || read.e164 === meant, `${region} ${written} meant ${meant}, read ${JSON.stringify(read)}`);
    }
  });

  it('refuses two valid different readings naming both, a landline as a mobile', () => {
    assert.equal(
      reasonFor(normaliseNumber('0011 64 9 309 1234', 'AU')),
      '"0011 64 9 309 1234" could be +64 9 309 1234 (New Zealand) or +1 649 309 1234 (Turks & Caicos Islands): write + and the country code',
    );
    assert.match(reasonFor(normaliseNumber('00 52 222 123 4567', 'KR')), /could be \+222 .* \(Mauritania\) or \+52 222 123 4567 \(Mexico\)/);
  });

  it("refuses the region's reading of a known country that is no number, with its reason, rather than read 00 alone", () => {
    assert.equal(
      reasonFor(normaliseNumber('0011 44 7700 9001', 'AU')),
      '"0011 44 7700 9001" has the wrong number of digits for a phone number when read as +4477009001 in United Kingdom (+44)',
    );
    assert.equal(reasonFor(normaliseNumber('0011 999 1234', 'AU')), '"0011 999 1234" has an unknown country code');
  });

  it("takes 00 alone where the region's prefix reads no country or the region itself, and the one reading after either prefix", () => {
    assert.deepEqual(normaliseNumber('0011 44 20 7946 0000', 'AU'), accepted('+442079460000'));
    assert.deepEqual(normaliseNumber('0011 1 416 555 0123', 'AU'), accepted('+14165550123'));
    assert.deepEqual(normaliseNumber('0044 7700 900123', 'AU'), accepted('+447700900123'));
    assert.deepEqual(normaliseNumber('001 852 2123 4567', 'KR'), accepted('+85221234567'));
    assert.match(reasonFor(normaliseNumber('0011 61 2 9374 4000', 'AU')), /only through Australia's international prefix/);
  });
});

describe('severalNumbers', () => {
  it('reads words grouped as one number of the region is written, nationally or internationally, as that number, though each group could be a short code', () => {
    for (const [written, region] of [
      ['202 555 1234', 'US'],
      ['+1 202 555 1234', 'US'],
      ['07700 900123', 'GB'],
      ['020 7946 0958', 'GB'],
      ['+44 7700 900123', 'GB'],
      ['98765 43210', 'IN'],
      ['987 654 3210', 'IN'],
      ['612 345 678', 'ES'],
      ['412 345 678', 'AU'],
      ['910 123 456', 'PL'],
      ['551 234 5678', 'MX'],
      ['2012 3456', 'DK'],
    ] as const)
      assert.equal(severalNumbers(written, region), undefined, written);
  });

  it("refuses words that could each be a number when their grouping is not one number's: two short codes, two whole numbers", () => {
    for (const [written, region] of [
      ['81234 85678', 'US'],
      ['81234 85678', 'GB'],
      ['447700900187 447700900188', 'GB'],
    ] as const)
      assert.match(severalNumbers(written, region) ?? '', /could be 2 numbers or one/, written);
  });

  it('never joins two words of 5 or 6 digits into a number its country does not write so, in every region that has numbers that short', () => {
    const groups = (formatted: string | undefined) =>
      formatted
        ?.match(/\d+/gu)
        ?.map((group) => group.length)
        .join(' ');
    const words = ['22222', '44844', '81234', '85678', '33333', '116117', '80800', '98765'];
    // Each region's own mobile cut into two words of 5 or 6 digits, and short codes side by side.
    const pairs = (region: CountryCode) => {
      const example = (mobileExamples as Readonly<Record<string, string>>)[region] ?? '';
      const cut = [5, 6].map((at) => [example.slice(0, at), example.slice(at)]).filter((two) => two.every((word) => /^[1-9]\d{4,5}$/.test(word)));
      return [...cut, ...words.flatMap((one) => words.map((other) => [one, other]))];
    };
    let refused = 0;
    for (const region of SHORT_LENGTH_REGIONS) {
      for (const [one = '', other = ''] of pairs(region)) {
        const written = `${one} ${other}`;
        if (severalNumbers(written, region) !== undefined) {
          refused++;
          continue;
        }
        // Taken only as one number written in its country's groups: nationally, internationally, or after the country code.
        const parsed = parsePhoneNumberFromString(`${one}${other}`, region);
        const asWritten = `${one.length} ${other.length}`;
        const international = groups(parsed?.formatInternational());
        assert.ok(
          parsed?.isValid() && [groups(parsed.formatNational()), international, international?.replace(/^\d+ /u, '')].includes(asWritten),
          `${region}: "${written}" joined into ${parsed?.number}`,
        );
      }
    }
    assert.ok(refused > SHORT_LENGTH_REGIONS.length * words.length, `${refused} refused`);
  });
});

describe('isCountryCode', () => {
  it('accepts upper-case ISO codes libphonenumber knows', () => {
    assert.equal(isCountryCode('GB'), true);
    assert.equal(isCountryCode('US'), true);
  });

  it('refuses lower case, unknown codes and other shapes', () => {
    for (const value of ['gb', 'XX', 'UK', 'GBR', '', '44']) assert.equal(isCountryCode(value), false, value);
  });
});

describe('maskNumber', () => {
  it("keeps the '+', the first 4 and the last 2 digits", () => {
    assert.equal(maskNumber('+447700900123'), '+4477******23');
    assert.equal(maskNumber('+12025550123'), '+1202*****23');
  });

  it('still hides at least 4 digits of short numbers', () => {
    assert.equal(maskNumber('+2901234'), '+29****4');
    assert.equal(maskNumber('+29012'), '+2****');
    assert.equal(maskNumber('+123'), '+***');
  });
});

describe('maskNumbersIn', () => {
  it("with byteEscapes, masks a number beside or across bytesAsText's escapes, keeping each escape and backslash as written", () => {
    const shown = (text: string, encoding: BufferEncoding) => maskNumbersIn(bytesAsText(Buffer.from(text, encoding)).text, { byteEscapes: true });
    assert.equal(shown('Tel\u00b0447700900124', 'latin1'), 'Tel\\xB04477******24');
    assert.equal(shown('\u001b447700900125\u001b', 'latin1'), '\\x1B4477******25\\x1B');
    assert.equal(shown('4477\u0000900126 \\x41', 'latin1'), '4477\\x00****26 \\\\x41');
    assert.equal(shown('"+447700900127"', 'utf16le'), '"\\x00+\\x004\\x004\\x007\\x007\\x00*\\x00*\\x00*\\x00*\\x00*\\x00*\\x002\\x007\\x00"\\x00');
    // Without the option an escape is the character it writes, as a gateway's C or Python text writes it: ESC is no letter.
    assert.equal(maskNumbersIn('\\x1B447700900125'), '\\x1B4477******25');
  });

  it('masks a number with invisible characters inside (Cf: a zero-width space, a soft hyphen, a word joiner, a ZWJ, bidi marks) as one number, keeping them where they were, also where named by code point', () => {
    assert.equal(maskNumbersIn('07700\u200b900123@sms.localhost'), '0770*\u200b****23@sms.localhost');
    // The digits a reading with them as marks hides (`447700900`, `0900123`: numbers of their own) are hidden too.
    assert.equal(maskNumbersIn('447700900\u00ad123'), '447******\u00ad*23');
    assert.equal(maskNumbersIn('4477009001\u206023'), '4477******\u206023');
    assert.equal(maskNumbersIn('4477\u200d0\u200d0900123'), '4477\u200d*\u200d******3');
    assert.equal(maskNumbersIn('\u2066+44 7700\u200e 900123\u2069'), '\u2066+44 77**\u200e ****23\u2069');
    assert.equal(maskNumbersIn('"07700U+200B900123" holds U+200B'), '"0770*U+200B****23" holds U+200B');
    assert.equal(maskNumbersIn('{"rcpt":"07700\\u200b900123"}'), '{"rcpt":"0770*\\u200b****23"}');
    // Beside a letter it stays the boundary it is: the word and the number are read apart.
    assert.equal(maskNumbersIn('abc\u200b07700900123'), 'abc\u200b0770*****23');
  });

  it('reads invisible characters as part of a number only with digits on both sides, and never into a run longer than a number: a number after one, or two numbers one joins, are masked as before', () => {
    // Before a number's first digit (a ZWSP, a tag character): no part of it, the number is no labelled id's value.
    assert.equal(maskNumbersIn('id \u200b07700900123'), 'id \u200b0770*****23');
    assert.equal(maskNumbersIn('id \u{E0031}07700900123'), 'id \u{E0031}0770*****23');
    // Two numbers a ZWSP apart are two, not one run of 22 digits left as an id.
    assert.equal(maskNumbersIn('07700900123\u200b07700900124'), '0770*****23\u200b0770*****24');
    assert.equal(maskNumbersIn('07700900\u200b123\u200b07700900124'), '07******\u200b*23\u200b0770*****24');
    assert.equal(maskNumbersIn('x 077\u200b00 900 123 y'), 'x 077\u200b0* *** *23 y');
    // Past a number's separators, blanks too: the groups a reader sees joined.
    assert.equal(maskNumbersIn('+44 7700 \u200b 900123'), '+44 77** \u200b ****23');
    // Read without it, `id 07700900123` would be a labelled id left whole: what the reading with it hides stays hidden.
    assert.equal(maskNumbersIn('id 0770\u200b0900123'), 'id 0770\u200b09****3');
  });

  it('never leaves more digits in clear for invisible characters in a text than for the same text with each a visible mark, as they were read before (fuzzed)', () => {
    const random = mulberry32(INVISIBLE_FUZZ_SEED);
    const pick = (choices: readonly string[]) => choices[Math.floor(random() * choices.length)] ?? '';
    // Zero-width space and non-joiner, ZWJ, soft hyphen, word joiner, LRM, RLM, ALM, the bidi embeddings, overrides and
    // isolates, a BOM, a tag character; and a code point as a refusal names one.
    const invisible = ['\u200b', '\u200c', '\u200d', '\u00ad', '\u2060', '\u200e', '\u200f', '\u061c', '\u202a', '\u202c', '\u202d', '\u202e'];
    invisible.push('\u2066', '\u2069', '\ufeff', '\u{E0031}', 'U+200B', 'U+202E');
    const blanks = [' ', ' ', '\u00a0', '\n', '\t', '  '];
    const separators = ['-', '.', '+', '(', ')', '+44 ', '00'];
    const words = ['id ', 'msgid=', '"id":"', 'caller id ', 'tel-', 'ops-', 'order_', 'x '];
    const text = () => {
      let written = random() < 0.3 ? pick(words) : '';
      for (let length = 1 + Math.floor(random() * 40); length > 0; length--) {
        const kind = random();
        written += kind < 0.6 ? String(Math.floor(random() * 10)) : pick(kind < 0.72 ? blanks : kind < 0.82 ? separators : kind < 0.97 ? invisible : words);
      }
      return written;
    };
    // As the masker read them before it read them within numbers: marks that part words, a BOM the blank JavaScript's \s takes it for.
    const asMarks = (written: string) => written.replace(/\ufeff/gu, '\u00a0').replace(/\p{Cf}|U\+200B|U\+202E/gu, (found) => '~'.repeat(found.length));
    // What a reader sees in clear: runs of 5 digits or more, the invisible characters and their code points out.
    const clear = (masked: string) => [...masked.replace(/\p{Cf}|U\+200B|U\+202E/gu, '').matchAll(/\p{Nd}{5,}/gu)].reduce((sum, [run]) => sum + run.length, 0);
    for (let index = 0; index < INVISIBLE_FUZZ_CASES; index++) {
      const written = text();
      const marked = asMarks(written);
      for (const mask of [maskNumbersIn, maskContext]) {
        // Masking keeps every character but a digit where it was (these digits are ASCII): the marks are put back.
        const before = [...mask(marked)].map((character, at) => (marked.charAt(at) === written.charAt(at) ? character : written.charAt(at))).join('');
        const now = mask(written);
        assert.ok(clear(now) <= clear(before), `${JSON.stringify(written)}: ${JSON.stringify(now)}, before ${JSON.stringify(before)}`);
      }
    }
  });

  it("masks a number written with a JSON string's \\u escapes or a form body's %20 between its groups, keeping each as written", () => {
    // .NET's System.Text.Json writes `+` as \u002B by default; a no-break space between groups; a digit escaped; an astral digit's pair.
    assert.equal(maskNumbersIn('{"recipient":"\\u002B447700900999"}'), '{"recipient":"\\u002B4477******99"}');
    assert.equal(maskNumbersIn('{"to":"+44\\u00a07700\\u00A0900999"}'), '{"to":"+44\\u00a077**\\u00A0****99"}');
    assert.equal(maskNumbersIn('{"to":"\\u0034\\u00347700900999"}'), '{"to":"\\u0034\\u003477******99"}');
    assert.equal(maskNumbersIn('\\uD835\\uDFCE4477009009'), '\\uD835\\uDFCE447*****09');
    assert.equal(maskNumbersIn('to=%2B44%207700%20900999&x=1'), 'to=%2B44%2077**%20****99&x=1');
    assert.equal(maskNumbersIn('to=07700%20900999'), 'to=0770*%20****99');
    assert.equal(maskNumbersIn('100%20 items \\u00e9'), '100%20 items \\u00e9', "a %20's digits are no number's");
    // On the quarantine page: bytesAsText doubles a backslash only where it escaped a byte.
    const shown = (text: string) => maskNumbersIn(bytesAsText(Buffer.from(text, 'latin1')).text, { byteEscapes: true });
    assert.equal(shown('{"to":"\\u002B447700900128"}'), '{"to":"\\u002B4477******28"}');
    assert.equal(shown('\u001b{"to":"\\u002B447700900128"}'), '\\x1B{"to":"\\\\u002B4477******28"}');
  });

  it('reads an escape or reference that stands for a blank as the separator or boundary it is: JSON, C and HTML, percent-encoded', () => {
    for (const [text, masked] of [
      ['{"m":"Invalid destination:\\n447700900591"}', '{"m":"Invalid destination:\\n4477******91"}'],
      ['{"m":"+44\\r\\n7700\\t900579"}', '{"m":"+44\\r\\n77**\\t****79"}'],
      ['{"m":"+44\\u000a7700\\u000A900580"}', '{"m":"+44\\u000a77**\\u000A****80"}'],
      ['{"m":"x\\\\n447700900591"}', '{"m":"x\\\\n4477******91"}'],
      ['Invalid:\\x0a447700900666', 'Invalid:\\x0a4477******66'],
      ['+44&nbsp;7700&nbsp;900662', '+44&nbsp;77**&nbsp;****62'],
      ['07700&#160;900675 +44&#xA0;7700&#xa0;900673', '0770*&#160;****75 +44&#xA0;77**&#xa0;****73'],
      ['Tel:&nbsp;+44&nbsp;(0)&nbsp;7700&nbsp;900676', 'Tel:&nbsp;+44&nbsp;(0)&nbsp;7***&nbsp;****76'],
      ['&#52;&#52;7700900561', '&#52;&#52;77******61'],
      ['07700%C2%A0900123 | (07700)%20900124', '0770*%C2%A0****23 | (0770*)%20****24'],
      ['raw +44\n7700\n900579', 'raw +44\n77**\n****79'],
    ] as const)
      assert.equal(maskNumbersIn(text), masked, text);
    for (const text of ['AT&T 1234', '&times7 x', '&Secret;1234567x', 'a\\nb 12345']) assert.equal(maskNumbersIn(text), text, text);
  });

  it('joins no date, date-time, time or IPv4 address after a blank to a number: a status, a port, a time before it stays whole', () => {
    for (const text of [
      'Error 503\n2026-12-07 06:50:41',
      '{"m":"Error 503\\n2026-12-07 06:50:41"}',
      'Error code 522\n\n      2026-12-07 06:50:41 UTC',
      '502\n2026-12-07T06:50:41Z',
      'status 400\n2026-12-07',
      'at 06:50:41\n2026-12-07',
      'at 06:50:41  2026-12-07',
      'port 2525\n203.0.113.5',
      '{"m":"code 4001\\n2026-12-07"}',
      '12.50 2026-12-07',
      '127.0.0.1:2525 192.168.1.20:8080',
      '+44 7700 05.12.2026',
    ])
      assert.equal(maskNumbersIn(text), text, text);
    // A dotted number's groups are no address: French `01.23.45.67.89`.
    assert.equal(maskNumbersIn('Tel 01.23.45.67.89'), 'Tel 01.23.**.**.89');
  });

  it('reads groups on lines or tabs of their own as one number only where it is written as one (+, 00, trunk 0); a list of codes stays whole', () => {
    for (const text of [
      'ERR\n400\n1001',
      '{"status":400,"codes":"1001\\n1002\\n1003"}',
      '1001\n1002\n1003',
      '400\t1001\t17',
      '1001\\t2002',
      'counts: 12  345  67',
      'Apr 12 2026\n123',
    ])
      assert.equal(maskNumbersIn(text), text, text);
    for (const [text, masked] of [
      ['+44\n7700\n900123', '+44\n77**\n****23'],
      ['0044\t7700\t900123', '0044\t****\t****23'],
      ['07700\n\n900123', '0770*\n\n****23'],
      ['{"m":"x:\\n+44\\r\\n7700\\t900123"}', '{"m":"x:\\n+44\\r\\n77**\\t****23"}'],
      ['call 7700  900123', 'call 7700  900123'],
      ['call 7700 900123', 'call 7700 ****23'],
    ] as const)
      assert.equal(maskNumbersIn(text), masked, text);
  });

  it('reads what a reader still reads as a blank: &nbsp and numeric references without ;, \\u{a}, any percent-encoded character, &amp;nbsp;, a dash between blanks', () => {
    for (const [text, masked] of [
      ['+44&nbsp7700&nbsp900123', '+44&nbsp77**&nbsp****23'],
      ['x&#x0A447700900123', 'x&#x0A4477******23'],
      ['x&#10447700900123', 'x&#104477******23'],
      ['{"m":"x\\u{000a}+44\\u{a}7700\\u{a}900123"}', '{"m":"x\\u{000a}+44\\u{a}77**\\u{a}****23"}'],
      ['+44%E2%80%AF7700%E2%80%AF900123', '+44%E2%80%AF77**%E2%80%AF****23'],
      ['+44%E2%80%897700%E2%80%89900123', '+44%E2%80%8977**%E2%80%89****23'],
      ['+44%E3%80%807700%E3%80%80900123', '+44%E3%80%8077**%E3%80%80****23'],
      ['+44&amp;nbsp;7700&amp;nbsp;900123', '+44&amp;nbsp;77**&amp;nbsp;****23'],
      ['+44 - 7700 - 900123', '+44 - 77** - ****23'],
    ] as const)
      assert.equal(maskNumbersIn(text), masked, text);
    for (const text of ['&times7 x', 'to=1&times1234567', '50%C0%80 1234', '\\u{110000}1234']) assert.equal(maskNumbersIn(text), text, text);
  });

  it('shows a body kept as hex masked in the hex alone: what it masks is still hex', () => {
    const hex = '3420'.repeat(20);
    const masked = maskKeptBytes(hex);
    assert.match(masked, /^(?:[0-9a-f]{2})+$/);
    assert.equal(masked, maskNumbersInHex(hex));
    assert.equal(maskKeptBytes('\\x1B+447700900123'), '\\x1B+4477******23');
  });

  it('masks the numbers bytes written as hex hold (an SMPP PDU), in the hex: one byte a character and UCS-2', () => {
    const pdu = '00010034343737303039303031353000000034343737303039303030303000000000000000000400050102030405';
    const masked = maskNumbersInHex(pdu);
    assert.equal(
      Buffer.from(masked, 'hex').toString('latin1').replace(/\0/g, ' '),
      Buffer.from(pdu, 'hex').toString('latin1').replace(/\0/g, ' ').replace('447700900150', '4477******50').replace('447700900000', '4477******00'),
    );
    const ucs2 = Buffer.from('+447700900151', 'utf16le').swap16();
    assert.equal(
      Buffer.from(maskNumbersInHex(`01${ucs2.toString('hex')}`), 'hex')
        .subarray(1)
        .swap16()
        .toString('utf16le'),
      '+4477******51',
    );
    for (const text of ['not hex 447700900123', 'abc', '0a0b0c']) assert.equal(maskNumbersInHex(text), text, text);
  });

  it('masks a number however it is written: spaces, dashes, dots, parentheses, national form, a form body', () => {
    const text =
      'spaced +44 7700 900123 | national 07700900123 | national spaced 07700 900123 | dashed 44-7700-900-123 | dotted 07700.900.123 | ' +
      '+44 (0)7700 900123 | from=%2B44+7700+900123 | "from":"447700900123" | 447700900123@sms.example.com';
    const masked = maskNumbersIn(text);
    assert.equal(
      masked,
      'spaced +44 77** ****23 | national 0770*****23 | national spaced 0770* ****23 | dashed 44-77**-***-*23 | dotted 0770*.***.*23 | ' +
        '+44 (0)7*** ****23 | from=%2B44+77**+****23 | "from":"4477******23" | 4477******23@sms.example.com',
    );
    assert.doesNotMatch(masked.replace(/\D/g, ' '), /\d{5}/, 'no five digits of a number left together');
  });

  it('leaves alone what is no number: message ids, times, addresses, short counts and codes', () => {
    const text =
      'msg 01900000-0000-7000-8000-000000000000 at 2026-12-05T04:21:05.123Z (2026-12-05 04:21) from 192.168.100.200: 550 5.7.1 after 3 attempts, 1500 ms';
    assert.equal(maskNumbersIn(text), text);
  });

  it("leaves alone a gateway's message ids and Maildir file names, and masks a number beside them", () => {
    const text =
      'msgid=910000000000000001&from=447700900123 | sent: id 91000001234 | {"id":"12345678","to":"+447700900123"} | gateway id 7012345678 | ' +
      'stored as 1764925974123.P4242Q1R0a1b2c3d.relay-1 | new/1764925974.M417233P12345.host | 20-digit 91000000000000000001 | ' +
      'stored as 1796469890.S1He1f661392e78c614.vm | already stored as 1796470017.S2345H2d9d1a3b0a8f6c59.relay-1';
    assert.equal(maskNumbersIn('07700900123 07700900124'), '0770******* *********24', 'two numbers side by side are no id');
    // Numbers joined by a dot are still numbers, however many digits the run holds (the console shows a Message-ID by its field, unmasked).
    assert.equal(maskNumbersIn('07700900123.07700900124'), '0770*******.*********24');
    assert.equal(maskNumbersIn('0049.1512.3456.7890'), '0049.****.****.**90');
    assert.equal(maskNumbersIn('dotted 07700.900.123'), 'dotted 0770*.***.*23', 'a dotted number is still one');
    assert.equal(
      maskNumbersIn(text),
      'msgid=910000000000000001&from=4477******23 | sent: id 91000001234 | {"id":"12345678","to":"+4477******23"} | gateway id 7012345678 | ' +
        'stored as 1764925974123.P4242Q1R0a1b2c3d.relay-1 | new/1764925974.M417233P12345.host | 20-digit 91000000000000000001 | ' +
        'stored as 1796469890.S1He1f661392e78c614.vm | already stored as 1796470017.S2345H2d9d1a3b0a8f6c59.relay-1',
    );
  });

  it('leaves alone an SMTP reply code with its enhanced status code (RFC 3463), still masking a number beside it', () => {
    const text =
      '5.1.10 smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound | 5.7.708 smtp;550 5.7.708 Access denied | 550-5.4.316 Message expired | ' +
      '452 4.2.2 Mailbox full | 554 5.2.121 sender limit | call 550 555 0100 now | 550 5.1.1 <447700900123@sms.example.com>';
    assert.equal(
      maskNumbersIn(text),
      '5.1.10 smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound | 5.7.708 smtp;550 5.7.708 Access denied | 550-5.4.316 Message expired | ' +
        '452 4.2.2 Mailbox full | 554 5.2.121 sender limit | call 550 5** **00 now | 550 5.1.1 <4477******23@sms.example.com>',
    );
    // Digits joined to a code, or a code's shape inside a number, are a number: masked whole, as before codes were read.
    for (const written of ['550 5.1.1-07700900123', '554 5.5.0-0770-090-0123', '447 4.7.0-07700 900123', 'tel: 447 5.00.900 123', '447 4.7.09 00123']) {
      assert.doesNotMatch(maskNumbersIn(written), /0900123|900 123|09 00123|00900123/, written);
    }
  });

  it('leaves alone words of letters and digits (hex codes, gateway ids) and dotted dates, still masking a number beside them', () => {
    const text =
      'code SMPP:0x00000401 (0X0000000B) sid SM0123456789abcdef0123456789abcdef id 0A00000012345678 on 05.12.2026 09:15 to +447700900123 CODE1_447700900123';
    assert.equal(
      maskNumbersIn(text),
      'code SMPP:0x00000401 (0X0000000B) sid SM0123456789abcdef0123456789abcdef id 0A00000012345678 on 05.12.2026 09:15 to +4477******23 CODE1_4477******23',
    );
  });
});

describe('maskNumbersIn, whatever precedes a number', () => {
  /** Words a number follows in an address or a form (a label, a role, a word with a digit), and what joins them. */
  const WORDS = ['tel', 'fax', 'mobile', 'ops', 'ref', 'caller id', 'sender id', 'callerid', 'senderid', 'user id', 'phone', 'CODE1', 'x', 'Ärzte'];
  const JOINS = [
    '-',
    '_',
    ':',
    ': ',
    ' ',
    '=',
    '.',
    '+',
    '/',
    '#',
    ',',
    ';',
    '(',
    '[',
    '<',
    "'",
    '"',
    '|',
    '&',
    '~',
    '!',
    '\t',
    '\u00a0',
    '\u2010',
    '\u2013',
    '\uFF0D',
    '\u2212',
  ];
  /** One number as people write it: international, national, in groups joined by blanks or dashes, in parentheses. */
  const WRITTEN = ['447700900123', '+447700900123', '07700900123', '07700-900123', '07700 900123', '+44 7700 900123', '44-7700-900-123', '(07700) 900123'];
  const AFTER = ['', '@example.com', ' ', ',', ')', '.', '-x', '&y=1', '"'];

  it('masks a number after any word and any separator, the label `caller id`/`sender-id` too: no five of its digits left together, at least four hidden', () => {
    for (const word of WORDS)
      for (const join of JOINS)
        for (const number of WRITTEN)
          for (const after of AFTER) {
            const text = `${word}${join}${number}${after}`;
            const masked = maskNumbersIn(text);
            // Masked digit for digit: the number's own place in the text is where its digits were.
            const shown = masked.slice(word.length + join.length, masked.length - after.length);
            assert.doesNotMatch(shown, /\d{5}/, text);
            assert.ok((shown.match(/\*/g)?.length ?? 0) >= 4, `${text} → ${masked}`);
          }
  });

  it('leaves alone what the docs say is no number, after the same words and separators: labelled message ids, long runs, hex words, UUIDs, dates', () => {
    const ids = [
      'msgid=910000000000000001',
      'message id 9100000123',
      'message-id: 0123-4567890123',
      'gateway id 7012345678',
      'provider_id=91000001234',
      '{"id":"12345678"}',
      'sent: id 91000001234',
      '91000000000000000001',
      '0x00000401',
      'SM0123456789abcdef',
      '01900000-0000-7000-8000-000000000000',
      '2026-12-05T04:21:05.123Z',
      '550 5.1.10',
    ];
    // A `+` before digits is a number's own start (`+` and more than 15 digits is a number with digits too many, masked).
    for (const join of JOINS.filter((join) => join !== '+'))
      for (const id of ids) assert.equal(maskNumbersIn(`ops${join}${id}`), `ops${join}${id}`, `ops${join}${id}`);
  });
});

describe('maskNumbersIn, ids operators search for', () => {
  it('leaves digits after a word and a dash whole unless they read as a phone number, as RCPT reads one', () => {
    const ids = [
      'noreply-12345678@erp.example.com',
      'INC-0012345',
      'ticket-2026120001@helpdesk.example.com',
      'bounce-1234567-42@lists.example.com',
      'ip-172-31-22-145.eu-west-1.compute.internal',
      'session-12345678',
      'req-1234567890',
      'ref-1234567890',
      'invoice-2026-001234',
      'epoch-1765000000',
      'uid-1234567',
      'user+tag-1234567@example.com',
      'job-20261206-011500@cron.example.com',
      'msgid-1234567',
    ];
    for (const id of ids) assert.equal(maskNumbersIn(id), id, id);
    const numbers: [string, string][] = [
      ['tel-447700900123@example.com', 'tel-4477******23@example.com'],
      ['ops-07700-900123@example.com', 'ops-0770*-****23@example.com'],
      ['fax-+1 212 555 0123', 'fax-+1 212 *** **23'],
      ['caller-id-4915123456789', 'caller-id-4915*******89'],
    ];
    for (const [text, masked] of numbers) assert.equal(maskNumbersIn(text), masked, text);
    // A national number without its trunk prefix reads as no number there (no region is at hand): left as written.
    assert.equal(maskNumbersIn('ref-4155552671'), 'ref-4155552671');
  });

  it("leaves any word's id whole, but a phone word's", () => {
    for (const text of [
      'order-id 1234567890',
      'correlation id 1234567890',
      'trace-id 1234567890',
      'queue id 1234567890',
      'message with id 1234567890',
      'a delivery receipt for id "1234567890", which no SMS was (yet) sent under',
      'whose id "1234567890"',
    ])
      assert.equal(maskNumbersIn(text), text, text);
    for (const word of ['caller', 'sender', 'user', 'phone', 'mobile', 'msisdn', 'tel', 'fax', 'customer'])
      for (const join of [' ', '-', '_']) assert.equal(maskNumbersIn(`${word}${join}id 447700900123`), `${word}${join}id 4477******23`, `${word}${join}id`);
  });
});

describe('maskNumbersIn, on a user context', () => {
  it('masks a number in a context as the console does for a viewer, and leaves an id as written', () => {
    for (const [context, masked] of [
      ['447700900558', '4477******58'],
      ['+44 7700 900558', '+44 77** ****58'],
      ['(07700) 900-558', '(0770*) ***-*58'],
      ['tel-447700900558', 'tel-4477******58'],
      ['phone-447700900562', 'phone-4477******62'],
      ['cust_447700900559', 'cust_4477******59'],
      ['customer 447700900558', 'customer 4477******58'],
    ] as const)
      assert.equal(maskNumbersIn(context), masked, context);
    for (const context of ['INC-0012345', 'ticket-2026120001', 'order-2026120600']) assert.equal(maskNumbersIn(context), context, context);
    for (const [context, masked] of [
      ['447700900558', '4477******58'],
      ['tel-447700900558', 'tel-4477******58'],
      ['customer 07700900558', 'customer 0770*****58'],
      ['cust_447700900559', 'cust_4477******59'],
      ['tel:00447700900558', 'tel:0044********58'],
      ['cust_00447700900558', 'cust_0044********58'],
      ['tel-00447700900558', 'tel-0044********58'],
    ] as const)
      assert.equal(maskContext(context), masked, context);
    for (const context of ['order_1234567', 'ticket#1234567', 'SO#12345678', 'case/2026/1234567', 'order 20261206-0042', 'order:20261207', 'INC-0012345'])
      assert.equal(maskContext(context), context, context);
  });
});

describe('maskNumbersIn, on hostile text', () => {
  // A webhook body up to MAX_BODY_BYTES is shown masked on the quarantine page: reading it must take time linear in its
  // length. A quadratic read of these shapes took seconds of CPU (8 s for `--id`). Counted, not timed (a bound on CPU
  // time flaked on a loaded machine, GC threads counted): four times the text, four times the work (linearly). The count
  // cannot see a regular expression backtrack: the whole HOSTILE_BYTES of each shape is also read in a child process
  // killed long before a backtracking one would end (finishes).
  const HOSTILE_BYTES = 256 * 1024;
  /** The text whose work is counted, and four times it: large enough that what does not grow with it is small beside it. */
  const COUNTED_BYTES = 8 * 1024;
  const shapes = [
    'a-1234567 ',
    'a-447700900123 ',
    '--id',
    'msgid-',
    'id-',
    'id=',
    'caller-id-',
    'x-id ',
    '-1',
    '1-',
    'a1-',
    'id 1-',
    '1 ',
    '+1(',
    '550 5.1.1 ',
    // Invisible characters within digits and beside blanks (each run looked at once, read both with and without them).
    '12\u200b',
    '1\u200b ',
    '\u200b ',
  ];
  it(`reads ${HOSTILE_BYTES} bytes of a JSON body with one \\u escape near its end (a quarantined batch of reports) without overflowing the stack`, () => {
    const text = `${'{"status":"delivered","to":"+447700900123"},'.repeat(HOSTILE_BYTES / 44)}{"text":"Caf\\u00e9"}`;
    const masked = maskNumbersIn(text, { byteEscapes: true });
    assert.match(masked, /Caf\\u00e9/);
    assert.doesNotMatch(masked, /447700900123/);
  });
  it(`reads ${HOSTILE_BYTES} bytes of distinct digit runs after a word and a dash (a-1000000 a-1000001 …) with work linear in their length`, () => {
    const runs = (bytes: number) => {
      let text = '';
      for (let run = 1_000_000; text.length < bytes; run++) text += `a-${run} `;
      return text;
    };
    linearly((bytes) => workOf(() => maskNumbersIn(runs(bytes))).work, COUNTED_BYTES);
    finishes(
      `import { maskNumbersIn } from './src/sms/numbers.ts'; let text = ''; for (let run = 1_000_000; text.length < ${HOSTILE_BYTES}; run++) text += 'a-' + run + ' '; maskNumbersIn(text);`,
    );
  });
  const repeated = (shape: string, bytes: number) => `${shape.repeat(Math.ceil(bytes / shape.length)).slice(0, bytes - 7)}1234567`;
  for (const shape of shapes)
    it(`reads ${JSON.stringify(shape)} repeated with work linear in its length`, () => {
      linearly((bytes) => workOf(() => maskNumbersIn(repeated(shape, bytes))).work, COUNTED_BYTES);
    });
  it(`reads ${HOSTILE_BYTES} bytes of each shape repeated before a child process is killed for a regular expression backtracking`, () => {
    finishes(`
      import { maskNumbersIn } from './src/sms/numbers.ts';
      for (const shape of ${JSON.stringify(shapes)}) maskNumbersIn(shape.repeat(Math.ceil(${HOSTILE_BYTES} / shape.length)).slice(0, ${HOSTILE_BYTES - 7}) + '1234567');
    `);
  });
});

describe('maskNumbersIn, in any script', () => {
  it("masks a number whose separators are another script's (full-width, non-breaking, ideographic), also quoted by code point", () => {
    const cases: readonly (readonly [string, string])[] = [
      ['number ＋４４－７７００－９００１２３ refused', 'number ＋４４－７７**－****２３ refused'],
      ['number +４４\u3000７７００\u3000９００１２３', 'number +４４\u3000７７**\u3000****２３'],
      ['number +44\u20117700\u2011900123 and +44\u22127700\u2212900124', 'number +44\u201177**\u2011****23 and +44\u221277**\u2212****24'],
      ['"+44U+FF0D7700U+FF0D9001239" is not', '"+44U+FF0D77**U+FF0D*****39" is not'],
      ['U+FF0B44U+20117700U+2011900123', 'U+FF0B44U+201177**U+2011****23'],
    ];
    for (const [text, masked] of cases) assert.equal(maskNumbersIn(text), masked, text);
  });

  it("leaves alone a date, time or IPv4 address in another script's digits after a blank, as in ASCII ones", () => {
    for (const text of ['at ٢٠٢٦-١٢-٠٦ ١٠:٠٠', 'date ２０２６-１２-０６ 10:00:00', 'ip ١٩٢.١٦٨.١٠٠.٢٠٠', 'on ０５.１２.２０２６ x'])
      assert.equal(maskNumbersIn(text), text);
  });
});

describe('formatNumber', () => {
  it('formats internationally', () => {
    assert.equal(formatNumber('+447700900123'), '+44 7700 900123');
    assert.equal(formatNumber('+12025550123'), '+1 202 555 0123');
  });
});

describe('toInternationalDigits', () => {
  it("drops the '+'", () => {
    assert.equal(toInternationalDigits('+447700900123'), '447700900123');
  });
});
