import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  analyseText,
  GSM7_BASIC_TABLE,
  GSM7_EXTENSION_CHARS,
  SEGMENT_LIMITS,
  splitIntoParts,
  type SmsText,
  truncateToParts,
  CUT_MARK,
  notGsm7,
} from '../../src/sms/encoding.ts';

/** The counting fields, for one exact comparison per case. */
function counts({ encoding, units, parts, perPart, mapped }: SmsText) {
  return { encoding, units, parts, perPart, mapped };
}

function gsm7(units: number, parts: number, perPart: number, mapped = false) {
  return { encoding: 'gsm7', units, parts, perPart, mapped };
}

function ucs2(units: number, parts: number, perPart: number) {
  return { encoding: 'ucs2', units, parts, perPart, mapped: false };
}

const FAMILY = '👨‍👩‍👧‍👦'; // man ZWJ woman ZWJ girl ZWJ boy: 11 UTF-16 units
const THUMB_MEDIUM = '👍🏽'; // thumbs up + skin-tone modifier: 4 units
const FLAG_GB = '🇬🇧'; // two regional indicators: 4 units

describe('GSM 03.38 tables', () => {
  it('has the basic table in septet order', () => {
    assert.equal(GSM7_BASIC_TABLE.length, 128);
    const septets: Record<string, number> = {
      '@': 0x00,
      $: 0x02,
      '\n': 0x0a,
      '\r': 0x0d,
      Δ: 0x10,
      _: 0x11,
      '\u001b': 0x1b,
      ' ': 0x20,
      '¤': 0x24,
      '¡': 0x40,
      '§': 0x5f,
      '¿': 0x60,
      à: 0x7f,
    };
    for (const [char, septet] of Object.entries(septets)) {
      assert.equal(GSM7_BASIC_TABLE.indexOf(char), septet, char);
    }
  });

  it('has the ten extension characters', () => {
    assert.deepEqual([...GSM7_EXTENSION_CHARS], ['\f', '^', '{', '}', '\\', '[', '~', ']', '|', '€']);
  });

  it('states the segment limits', () => {
    assert.deepEqual(SEGMENT_LIMITS, {
      gsm7: { singlePart: 160, concatenatedPart: 153 },
      ucs2: { singlePart: 70, concatenatedPart: 67 },
    });
  });
});

describe('analyseText: GSM-7', () => {
  it('fits 160 characters in one part and splits 161 into two', () => {
    assert.deepEqual(counts(analyseText('a'.repeat(160))), gsm7(160, 1, 160));
    assert.deepEqual(counts(analyseText('a'.repeat(161))), gsm7(161, 2, 153));
  });

  it('fits 306 characters in two parts and needs three for 307', () => {
    assert.equal(analyseText('a'.repeat(306)).parts, 2);
    assert.equal(analyseText('a'.repeat(307)).parts, 3);
  });

  it('counts each extension character as 2 septets', () => {
    for (const char of ['€', '[', ']', '{', '}', '\\', '~', '^', '|', '\f']) {
      assert.deepEqual(counts(analyseText(`a${char}b`)), gsm7(4, 1, 160), char);
    }
  });

  it('moves an extension character that would straddle a part boundary to the next part', () => {
    const text = `${'a'.repeat(152)}€${'a'.repeat(152)}`;
    const analysed = analyseText(text);
    assert.deepEqual(counts(analysed), gsm7(306, 3, 153));
    assert.deepEqual(splitIntoParts(analysed), ['a'.repeat(152), `€${'a'.repeat(151)}`, 'a']);
  });

  it('knows the Greek capitals of the basic table', () => {
    assert.deepEqual(counts(analyseText('ΔΦΓΛΩΠΨΣΘΞ')), gsm7(10, 1, 160));
  });

  it('sends ç as UCS-2: it is not in GSM-7 and letters are not mapped', () => {
    assert.deepEqual(counts(analyseText('Ça va, garçon ?')), ucs2(15, 1, 70));
    assert.equal(analyseText('Ça va, garçon ?').text, 'Ça va, garçon ?');
  });

  it('composes decomposed accents (NFD, as macOS and iOS write them): GSM-7 where the alphabet has them', () => {
    const analysed = analyseText('cafe\u0301 A\u0308rger n\u0303');
    assert.equal(analysed.text, 'café Ärger ñ');
    assert.deepEqual(counts(analysed), gsm7(12, 1, 160));
  });

  it('composes decomposed accents in a UCS-2 text too: one unit each', () => {
    const analysed = analyseText('C\u0327a va, garc\u0327on ?');
    assert.equal(analysed.text, 'Ça va, garçon ?');
    assert.deepEqual(counts(analysed), ucs2(15, 1, 70));
  });

  it('treats a literal ESC as outside the alphabet: it would start an extension pair', () => {
    assert.equal(analyseText('a\u001bb').encoding, 'ucs2');
  });

  it('counts CRLF and a lone CR as one LF', () => {
    const analysed = analyseText('one\r\ntwo\rthree\nfour');
    assert.equal(analysed.text, 'one\ntwo\nthree\nfour');
    assert.equal(analysed.units, 18);
    assert.equal(analysed.encoding, 'gsm7');
  });

  it('gives empty text zero parts', () => {
    assert.deepEqual(counts(analyseText('')), gsm7(0, 0, 160));
    assert.deepEqual(splitIntoParts(analyseText('')), []);
  });
});

describe('analyseText: typographic mapping', () => {
  it('maps curly quotes when the rest is GSM-7', () => {
    const analysed = analyseText('“Hello” ‘world’, it’s me');
    assert.equal(analysed.text, "\"Hello\" 'world', it's me");
    assert.deepEqual(counts(analysed), gsm7(24, 1, 160, true));
  });

  it('keeps curly quotes when the message needs UCS-2 anyway', () => {
    const text = '“Hello” 😀';
    const analysed = analyseText(text);
    assert.equal(analysed.text, text);
    assert.deepEqual(counts(analysed), ucs2(10, 1, 70));
  });

  it('maps spaces, dashes, the ellipsis and the bullet; drops invisible characters', () => {
    const analysed = analyseText('10\u00a0000\u202f€ – 5—6 − 1…\t• soft\u00adhyphen\u200b\ufeff');
    assert.equal(analysed.text, '10 000 € - 5-6 - 1... - softhyphen');
    assert.equal(analysed.encoding, 'gsm7');
    assert.equal(analysed.mapped, true);
    assert.equal(analysed.units, analysed.text.length + 1); // € costs 2
  });

  it('maps the backtick, single guillemets, ×, ©, ®, ™ and the fractions; a fraction after a digit keeps its space', () => {
    const analysed = analyseText('run `ls` ‹ok› 3×4 © ACME® Box™ 2½ h, ¼ or ¾');
    assert.equal(analysed.text, "run 'ls' 'ok' 3x4 (c) ACME(R) Box(TM) 2 1/2 h, 1/4 or 3/4");
    assert.deepEqual(counts(analysed), gsm7(analysed.text.length, 1, 160, true));
  });

  it('keeps ° and µ, which no GSM-7 character reads as: the text goes UCS-2 with its typography', () => {
    for (const text of ['20°C • item', '5µm × 2']) {
      assert.deepEqual(counts(analyseText(text)), ucs2(text.length, 1, 70));
      assert.equal(analyseText(text).text, text);
    }
  });

  it('writes Greek capitals with tonos or dialytika, as programs uppercase, without them in an all-capital text; with small letters all stay', () => {
    const analysed = analyseText('ΣΦΆΛΜΑ ΑΝΤΛΊΑΣ: ΥΨΗΛΉ ΘΕΡΜΟΚΡΑΣΊΑ, ΕΛΈΓΞΤΕ ΤΟ ΨΥΚΤΙΚΌ ΚΎΚΛΩΜΑ, ΏΡΑ 3, ΠΡΩΪΝΌ ΑΫΠΝΟΣ');
    assert.equal(analysed.text, 'ΣΦAΛMA ANTΛIAΣ: YΨHΛH ΘEPMOKPAΣIA, EΛEΓΞTE TO ΨYKTIKO KYKΛΩMA, ΩPA 3, ΠPΩINO AYΠNOΣ');
    assert.equal(analysed.encoding, 'gsm7');
    // Decomposed (NFD), as macOS writes it, the same.
    assert.equal(analyseText('ΣΦΆΛΜΑ'.normalize('NFD')).text, 'ΣΦAΛMA');
    const lower = 'Σφάλμα: Ώρα 3, Έλεγχος';
    assert.deepEqual({ text: analyseText(lower).text, encoding: analyseText(lower).encoding }, { text: lower, encoding: 'ucs2' });
  });

  it('keeps the original text when mapping is not enough', () => {
    const text = 'It’s ç';
    const analysed = analyseText(text);
    assert.equal(analysed.text, text);
    assert.deepEqual(counts(analysed), ucs2(6, 1, 70));
  });
});

describe('analyseText: invisible format characters and line separators', () => {
  const FORMAT_CHARACTERS = [
    ['LRM', '\u200e'],
    ['RLM', '\u200f'],
    ['ALM', '\u061c'],
    ...['\u202a', '\u202b', '\u202c', '\u202d', '\u202e'].map((char) => ['a bidi embedding or override', char]),
    ...['\u2066', '\u2067', '\u2068', '\u2069'].map((char) => ['a bidi isolate', char]),
    ['ZWJ', '\u200d'],
    ['ZWNJ', '\u200c'],
    ['ZWSP', '\u200b'],
    ['word joiner', '\u2060'],
    ['soft hyphen', '\u00ad'],
    ['BOM in the middle', '\ufeff'],
    ['a tag character', '\u{e0041}'],
  ] as const;
  for (const [name, char] of FORMAT_CHARACTERS) {
    it(`drops ${name} (U+${char.codePointAt(0)?.toString(16).toUpperCase()}) when the text is GSM-7 without it`, () => {
      const analysed = analyseText(`price${char} 10 €${char}`);
      assert.equal(analysed.text, 'price 10 €');
      assert.deepEqual(counts(analysed), gsm7(11, 1, 160, true));
    });
  }

  it('keeps them where the text is UCS-2 anyway and they carry meaning', () => {
    for (const text of [
      `Family ${FAMILY}`, // ZWJ joins the emoji sequence
      'می\u200cخواهم', // ZWNJ in a Persian word
      'שלום\u200f 10', // RLM in right-to-left text
      '\u2067شكرا\u2069 ok', // an isolate around Arabic
    ]) {
      const analysed = analyseText(text);
      assert.equal(analysed.text, text);
      assert.equal(analysed.encoding, 'ucs2');
    }
  });

  it('leaves the drawn Arabic number sign (Cf, but visible) alone', () => {
    assert.equal(analyseText('\u0600123').text, '\u0600123');
  });

  it('makes U+2028 and U+2029 (line and paragraph separator) a line break', () => {
    for (const text of [analyseText('one\u2028two\u2029three'), analyseText('eins\u2028zwei ж')]) {
      assert.ok(!/[\u2028\u2029]/.test(text.text));
    }
    assert.deepEqual(counts(analyseText('one\u2028two\u2029three')), gsm7(13, 1, 160));
    assert.equal(analyseText('one\u2028two\u2029three').text, 'one\ntwo\nthree');
  });

  it('cuts a long text with many invisible characters as long as one without them', () => {
    const cut = truncateToParts(`${'ab\u200b'.repeat(200)}`, 2);
    assert.equal(cut.text, `${'ab'.repeat(151)}a...`);
    assert.deepEqual(counts(cut), gsm7(306, 2, 153, true));
  });
});

describe('notGsm7', () => {
  it('names the first few characters that keep a text from GSM-7, once each, by code point', () => {
    assert.deepEqual(notGsm7('Çava “ok” ç 20°C x\u0336 \u2060'), ['U+00E7 ç', 'U+00B0 °', 'U+0336 \u25cc\u0336']);
    assert.deepEqual(notGsm7('a\u1680b 😀😀 ж'), ['U+1680', 'U+1F600 😀', 'U+0436 ж']);
    assert.deepEqual(notGsm7('plain “GSM-7” text'), []);
  });
});

describe('analyseText: UCS-2', () => {
  it('fits 70 units in one part and splits 71 into two', () => {
    assert.deepEqual(counts(analyseText('ж'.repeat(70))), ucs2(70, 1, 70));
    assert.deepEqual(counts(analyseText('ж'.repeat(71))), ucs2(71, 2, 67));
  });

  it('fits 134 units in two parts and needs three for 135', () => {
    assert.equal(analyseText('ж'.repeat(134)).parts, 2);
    assert.equal(analyseText('ж'.repeat(135)).parts, 3);
  });

  it('counts CJK as one unit per character', () => {
    assert.deepEqual(counts(analyseText('你好世界')), ucs2(4, 1, 70));
  });

  it('counts an emoji as a surrogate pair and does not split it at a part boundary', () => {
    const analysed = analyseText(`${'a'.repeat(66)}😀${'a'.repeat(66)}`);
    assert.deepEqual(counts(analysed), ucs2(134, 3, 67));
    assert.deepEqual(splitIntoParts(analysed), ['a'.repeat(66), `😀${'a'.repeat(65)}`, 'a']);
  });

  it('counts skin-tone, ZWJ and flag sequences in UTF-16 units', () => {
    assert.equal(analyseText(THUMB_MEDIUM).units, 4);
    assert.equal(analyseText(FAMILY).units, 11);
    assert.equal(analyseText(FLAG_GB).units, 4);
  });

  const sequences = [
    ['skin tone', THUMB_MEDIUM],
    ['ZWJ family', FAMILY],
    ['flag', FLAG_GB],
  ] as const;
  for (const [name, grapheme] of sequences) {
    it(`keeps a ${name} sequence whole across a part boundary`, () => {
      const text = `${'a'.repeat(65)}${grapheme}${'b'.repeat(70)}`;
      const parts = splitIntoParts(analyseText(text));
      assert.equal(parts[0], 'a'.repeat(65));
      assert.ok(parts[1]?.startsWith(grapheme), `part 2 starts with the whole ${name}`);
      assert.equal(parts.join(''), text);
      assert.equal(analyseText(text).parts, parts.length);
      for (const part of parts) assert.ok(part.length <= 67);
    });
  }

  it('cuts a grapheme longer than a part between code points', () => {
    const text = `x${'\u0301'.repeat(100)}`; // one grapheme: x (no precomposed x́) + 100 combining acute accents
    const parts = splitIntoParts(analyseText(text));
    assert.deepEqual(
      parts.map((part) => part.length),
      [67, 34],
    );
    assert.equal(parts.join(''), text);
  });
});

describe('truncateToParts', () => {
  it('leaves a text that fits alone', () => {
    assert.equal(truncateToParts('short', 1).text, 'short');
  });

  it('cuts a GSM-7 text to exactly the limit, ending with "..." (the ellipsis mapped to GSM-7)', () => {
    const cut = truncateToParts(`${'word '.repeat(100)}end`, 1);
    assert.deepEqual(counts(cut), gsm7(160, 1, 160, true));
    assert.ok(cut.text.endsWith('...'));
    assert.ok(!cut.text.includes(' ...'), 'no space before the mark');
  });

  it('cuts a UCS-2 text with "…" and never inside an emoji sequence', () => {
    const cut = truncateToParts(`Привет ${FAMILY.repeat(20)}`, 2);
    assert.equal(cut.encoding, 'ucs2');
    assert.equal(cut.parts, 2);
    assert.ok(cut.text.endsWith(`${FAMILY}${CUT_MARK}`));
    assert.ok(cut.units <= 2 * SEGMENT_LIMITS.ucs2.concatenatedPart);
  });

  it('may end cheaper than the whole: the emoji that forced UCS-2 is past the cut', () => {
    const cut = truncateToParts(`${'a'.repeat(200)} 😀`, 1);
    assert.equal(cut.encoding, 'gsm7');
    assert.equal(cut.text, `${'a'.repeat(157)}...`);
  });
});
