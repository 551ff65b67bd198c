/**
 * The 7-bit mail charsets that shift between ASCII and a double-byte set, which iconv-lite and libmime
 * do not decode: ISO-2022-KR (RFC 1557, the classic Korean mail charset) and HZ-GB-2312 (RFC 1843,
 * Chinese). In the shifted state each pair of bytes 0x21–0x7E is a KS X 1001 or GB 2312 character,
 * the same one EUC-KR or GB2312 writes with the high bit set: setting it gives text iconv-lite reads.
 * Undecoded, the phone got the escapes' garbage (`$)C<-9v A_Av`).
 */

/** A double-byte set's bytes in the shifted state: 0x21–0x7E; EUC writes them with the high bit set. */
const isGraphic = (byte: number) => byte >= 0x21 && byte <= 0x7e;
const HIGH_BIT = 0x80;
const ESC = 0x1b;
const SO = 0x0e;
const SI = 0x0f;
const LF = 0x0a;
const CR = 0x0d;
const TILDE = 0x7e;
/** ISO-2022-KR's designation, once at the head of the text: `ESC $ ) C` (KS C 5601 into G1). */
const KR_DESIGNATION = [ESC, 0x24, 0x29, 0x43];

/**
 * A byte EUC-KR never writes (no lead byte, no trail byte): its decoder reads it as U+FFFD on its own.
 * It stands for a shifted byte left without its pair, which set as a lead byte would join the next
 * ASCII letter into a Hangul syllable the writer never wrote (CP949's trail bytes include A–Z, a–z).
 */
const ORPHAN = 0xff;

/**
 * The output of a shifted run: its bytes stand for characters in pairs, each written as EUC writes it
 * (high bit set); one left alone where the run ends (a shift back, a line's end, a control, the text's
 * end) is ORPHAN.
 */
function pairedOutput(out: number[]): { readonly add: (byte: number) => void; readonly end: () => void } {
  let lead: number | undefined;
  return {
    add(byte) {
      if (lead === undefined) lead = byte;
      else {
        out.push(lead | HIGH_BIT, byte | HIGH_BIT);
        lead = undefined;
      }
    },
    end() {
      if (lead !== undefined) out.push(ORPHAN);
      lead = undefined;
    },
  };
}

/**
 * ISO-2022-KR as EUC-KR: SO shifts to KS C 5601 up to SI (or the line's end, RFC 1557 §2), the
 * designation goes. Shifted bytes stand for characters in pairs; one left alone at SI, a line's end, a
 * control or the text's end is ORPHAN.
 */
function iso2022KrAsEucKr(bytes: Buffer): Buffer {
  const out: number[] = [];
  const pairs = pairedOutput(out);
  let shifted = false;
  for (let index = 0; index < bytes.length; index++) {
    const byte = bytes[index] ?? 0;
    if (shifted && isGraphic(byte)) {
      pairs.add(byte);
      continue;
    }
    pairs.end();
    if (byte === ESC && KR_DESIGNATION.every((expected, offset) => bytes[index + offset] === expected)) index += KR_DESIGNATION.length - 1;
    else if (byte === SO) shifted = true;
    else if (byte === SI) shifted = false;
    else {
      if (byte === LF) shifted = false;
      out.push(byte);
    }
  }
  pairs.end();
  return Buffer.from(out);
}

/**
 * HZ as GB2312: `~{` shifts to GB 2312 up to `~}`; `~~` is a tilde and `~` at a line's end (LF or CRLF)
 * joins the lines (RFC 1843). Shifted bytes stand for characters in pairs, as in ISO-2022-KR: one left
 * alone at `~}`, a line's end, a control or the text's end is ORPHAN (GB18030's trail bytes include
 * ASCII letters too).
 */
function hzAsGb2312(bytes: Buffer): Buffer {
  const out: number[] = [];
  const pairs = pairedOutput(out);
  let shifted = false;
  for (let index = 0; index < bytes.length; index++) {
    const byte = bytes[index] ?? 0;
    const next = bytes[index + 1];
    if (byte === TILDE && next === (shifted ? 0x7d : 0x7b)) {
      pairs.end();
      shifted = !shifted;
      index++;
    } else if (shifted && isGraphic(byte)) {
      pairs.add(byte);
    } else if (!shifted && byte === TILDE && (next === TILDE || next === LF)) {
      if (next === TILDE) out.push(TILDE);
      index++;
    } else if (!shifted && byte === TILDE && next === CR && bytes[index + 2] === LF) {
      index += 2;
    } else {
      pairs.end();
      // A line's end that `~}` did not close ends GB mode, as it ends ISO-2022-KR's SO: a missing `~}` spoils one line, not the rest of the mail.
      if (byte === LF) shifted = false;
      out.push(byte);
    }
  }
  pairs.end();
  return Buffer.from(out);
}

/** Labels (lower case, as IANA registers them; their aliases are mime.ts's LABEL_ALIASES) of the shifting charsets, each as the EUC bytes and the charset to read them in. */
const SHIFTED = new Map<string, (bytes: Buffer) => { bytes: Buffer; charset: string }>([
  ['iso-2022-kr', (bytes) => ({ bytes: iso2022KrAsEucKr(bytes), charset: 'euc-kr' })],
  // GB18030, GB 2312's superset, as the relay reads `gb2312` (mime.ts).
  ['hz-gb-2312', (bytes) => ({ bytes: hzAsGb2312(bytes), charset: 'gb18030' })],
]);

/** The bytes of text in a shifting charset (its label trimmed and in lower case) as bytes of its EUC charset, or undefined for another label. */
export function unshifted(bytes: Buffer, label: string): { bytes: Buffer; charset: string } | undefined {
  return SHIFTED.get(label)?.(bytes);
}

/** ISO-2022-JP's designations of its double-byte sets (JIS X 0208: `ESC $ @`, `ESC $ B`; JIS X 0212: `ESC $ ( D`) and of half-width katakana (`ESC ( I`). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: ESC starts the sequence.
const JP_DESIGNATION = /\x1b\$(?:[@B]|\(D)|\x1b\(I/;
/** ISO-2022-KR's designation (KR_DESIGNATION). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: ESC starts the sequence.
const KR_DESIGNATION_TEXT = /\x1b\$\)C/;
/**
 * Every escape sequence of ISO-2022-JP (RFC 1468, and JIS X 0212 and katakana as mailers write them: the
 * designations above and back to ASCII or JIS-Roman, `ESC ( B`, `ESC ( J`) and of ISO-2022-KR (its
 * designation alone: it shifts by SO and SI). Text with another ESC (a terminal's colour code `ESC [ 31m`,
 * `ESC [ K`) is not in that charset alone: its decoder would eat the ESC and what follows it, so it is left
 * to the rules for ASCII text, which remove such codes whole.
 */
const OWN_ESCAPES = new Map<string, RegExp>([
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ESC starts the sequence.
  ['iso-2022-jp', /\x1b(?:\([BJI]|\$(?:[@B]|\(D))/g],
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ESC starts the sequence.
  ['iso-2022-kr', /\x1b\$\)C/g],
]);
/** Whether every ESC in the text starts one of the charset's own escape sequences (HZ has none: no ESC at all). */
const onlyOwnEscapes = (text: string, charset: string) => !text.replace(OWN_ESCAPES.get(charset) ?? /(?!)/, '').includes('\x1b');

/** HZ's shift into GB 2312 before a character (its first byte a row of GB 2312, 0x21–0x77), to be shifted back by `~}`. */
const HZ_SHIFT = /~\{[\x21-\x77][\x21-\x7e]/;

/**
 * The shifting charset 7-bit text is written in, by its escapes, as mail clients recognise it where no
 * label says so (or `us-ascii`, `utf-8`: unlabelled JIS is how Japanese mail was written before MIME, RFC
 * 1468, and `nkf -j | mail` still sends it): ISO-2022-JP by a designation of a double-byte set or of
 * katakana, ISO-2022-KR by its designation, HZ-GB-2312 by a shift into GB 2312 with a shift back. Its
 * reader takes it only where it decodes cleanly (no `�`). Undefined for other text, 8-bit text among it, or
 * an ESC that starts none of the charset's own sequences (OWN_ESCAPES).
 */
export function escapedCharset(bytes: Buffer): string | undefined {
  if ((!bytes.includes(ESC) && !bytes.includes('~{')) || bytes.some((byte) => byte >= HIGH_BIT)) return undefined;
  const text = bytes.toString('latin1');
  const charset = JP_DESIGNATION.test(text)
    ? 'iso-2022-jp'
    : KR_DESIGNATION_TEXT.test(text)
      ? 'iso-2022-kr'
      : HZ_SHIFT.test(text) && text.includes('~}')
        ? 'hz-gb-2312'
        : undefined;
  return charset && onlyOwnEscapes(text, charset) ? charset : undefined;
}
