/**
 * Finding a value (a secret, the SMS's text) in what a gateway echoes of its request, in whatever
 * escaping the gateway's language wrote it: JSON as PHP, Python, Jackson or .NET write it (`\/`,
 * `\u00e9` in either case, surrogate pairs), Python's and C's `\xe9` and `\U0001f600`, RFC 3986 or form
 * percent-encoding (`%20` or `+`, either hex case, UTF-8 or Latin-1 bytes, JavaScript's `%u00e9`; `\x`
 * bytes are read the same way), HTML character references as a browser reads them (`&#39;`, `&#x27;`,
 * `&#39` without its `;`, every named one: `&amp;`, `&nbsp;`, `&eacute;`), and these nested (`%2520`,
 * `&amp;#39;`, percent-encoding inside JSON). Rather than listing the forms a value may take, the echo
 * is decoded, layer by layer, into one canonical text that remembers where each character came from,
 * and the value is looked for in each layer (as written too: a secret may itself hold `%41`); what
 * matches is cut where it stands in the gateway's words. Each layer is one linear pass, and so is the
 * search of each value in it. A value a peer quotes as it was sent (the smarthost's login) is looked for the same way,
 * in its own case and only where it stands as itself in the layer (`standingNeedles`).
 */
import { DecodingMode, EntityDecoder, htmlDecodeTree } from 'entities/lib/decode.js';
import type { Logger } from '../log.ts';
import { REDACTED } from '../masked-url.ts';

/** Shorter values are left in a gateway's words: cutting every "ab" out of them would garble the text and hide nothing a guess would not find. */
export const MIN_REDACTED_CHARS = 4;

/**
 * Layers of escaping undone: a form value inside a URL inside JSON inside an XML page is three. More is
 * no gateway's answer, and each layer costs a pass over it.
 */
const MAX_ESCAPE_LAYERS = 3;

/**
 * A text and, for each of its UTF-16 units, the span `[start, end)` of the gateway's words it came from;
 * `cut`, where in the words the escape an adapter's cut of a long answer went through begins (`%C`,
 * `\u00`, the `%C3` of a character whose other bytes were cut off; the words' length when none): a
 * unit ending after it stands for what was cut off, not for what the gateway wrote. `shown`, where what
 * the layer shows as its own text ends: `cut`, or past it where the layer's own escape cut in half at
 * its end (`x&Sc`, `ab%`) is what only the next layer would read, and this one shows as written (`&Sc`
 * may be the start of `&Scaron;` and is the start of the secret `x&Scary`).
 */
interface Layer {
  readonly text: string;
  readonly start: readonly number[];
  readonly end: readonly number[];
  readonly cut: number;
  readonly shown: number;
}

/** JSON's one-character escapes, and `\'` (Python's and JavaScript's string literals). */
const BACKSLASH_ESCAPES: Readonly<Record<string, string>> = { '/': '/', '"': '"', "'": "'", '\\': '\\', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/**
 * One escape at a position: `\uXXXX`, Python's `\UXXXXXXXX` (the case tells them apart: `\u00e41234`
 * is `ä1234`), `\/`…, `%uXXXX` (a `%XX` or `\xXX` run is read by `byteRun`, a `&` by `characterReference`).
 */
const ESCAPE = /\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})|\\([/"'\\bfnrt])|%[uU]([0-9a-fA-F]{4})/y;
/** One byte as an escape writes it: `%C3` (RFC 3986, forms), `\xc3` (Python's bytes, C's strings). */
const PERCENT_BYTE = /%([0-9a-f]{2})/iy;
const BACKSLASH_BYTE = /\\x([0-9a-fA-F]{2})/y;

/** The code points of the one reference `characterReference` reads. */
const referenced: number[] = [];
/**
 * The HTML standard's reader of character references, entities 4.x's own `lib/decode.js` (the relay
 * depends on it itself). It gives NaN or a number past Unicode for a reference of hundreds of digits
 * (`&#99…9`), which no character is: read as U+FFFD, as a browser reads one past U+10FFFF.
 */
const references = new EntityDecoder(htmlDecodeTree, (codePoint) =>
  referenced.push(Number.isInteger(codePoint) && codePoint >= 0 && codePoint <= 0x10ffff ? codePoint : 0xfffd),
);

/**
 * The character reference at `at` (a `&`) and its length, as a browser reads it in an attribute's
 * value: numeric with or without its `;` (`&#39`), and every named one of HTML (`&amp;`, `&nbsp;`,
 * `&eacute;`, `&apos;`), but a named one without its `;` only where no letter, digit or `=` follows:
 * a query string is full of `&region=`, `&notify`, `&times7`, which are no references (read as a
 * page's text they became `®ion=`, `¬ify`, `×7`, and no layer held the value around them).
 */
function characterReference(text: string, at: number): { units: string; length: number } | undefined {
  referenced.length = 0;
  references.startEntity(DecodingMode.Attribute);
  const written = references.write(text, at + 1);
  // -1: the words end inside the reference; what it makes of them so far.
  const length = written === -1 ? references.end() : written;
  return length > 0 ? { units: String.fromCodePoint(...referenced), length } : undefined;
}

/**
 * Where the reference the words end inside of begins (`&`, `&#3`, `&#x2`, `&eacu`, and `&#39` or
 * `&amp` too, which may be the start of `&#391;` or `&amp;`), if they end inside one: the reader, not
 * a pattern, says so, for `&Secret202` is no start of any reference and is text the gateway wrote.
 */
function unendedReference(text: string): number | undefined {
  const at = text.lastIndexOf('&');
  if (at === -1) return undefined;
  references.startEntity(DecodingMode.Attribute);
  return references.write(text, at + 1) === -1 ? at : undefined;
}

/** One layer of escaping undone, each unit keeping where in `layer` (and so in the words) it came from. */
function decoded(layer: Layer): Layer {
  const { text } = layer;
  const out: string[] = [];
  const start: number[] = [];
  const end: number[] = [];
  let cut = layer.cut;
  const push = (units: string, from: number, to: number) => {
    // A character of two units (outside the BMP, or `%F0%9F%98%80`) is one span, kept by both.
    for (let i = 0; i < units.length; i++) {
      out.push(units[i] as string);
      start.push(layer.start[from] as number);
      end.push(layer.end[to - 1] as number);
    }
  };
  let at = 0;
  while (at < text.length) {
    const run = text[at] === '%' || text[at] === '\\' ? byteRun(text, at) : undefined;
    if (run) {
      for (const [units, from, to] of run.characters) push(units, from, to);
      // A character whose last bytes the cut took: its first bytes, read alone as Latin-1, are no text the gateway wrote.
      if (run.unended !== undefined && (run.end === text.length || (layer.start[run.end] as number) >= layer.cut)) {
        cut = Math.min(cut, layer.start[run.unended] as number);
      }
      at = run.end;
      continue;
    }
    const reference = text[at] === '&' ? characterReference(text, at) : undefined;
    if (reference) {
      push(reference.units, at, at + reference.length);
      at += reference.length;
      continue;
    }
    ESCAPE.lastIndex = at;
    const escaped = text[at] === '\\' || text[at] === '%' ? ESCAPE.exec(text) : null;
    if (escaped) {
      const [whole, unit, wide, single, percentUnit] = escaped;
      const codePoint = wide === undefined ? undefined : Number.parseInt(wide, 16);
      const units =
        unit !== undefined || percentUnit !== undefined
          ? String.fromCharCode(Number.parseInt((unit ?? percentUnit) as string, 16))
          : single !== undefined
            ? (BACKSLASH_ESCAPES[single] as string)
            : codePoint !== undefined && codePoint <= 0x10ffff
              ? String.fromCodePoint(codePoint)
              : whole;
      push(units, at, at + whole.length);
      at += whole.length;
      continue;
    }
    push(text[at] as string, at, at + 1);
    at += 1;
  }
  return withCutEscape({ text: out.join(''), start, end, cut });
}

/**
 * A run of `%XX` (or `\xXX`) bytes from `at`, read as UTF-8 characters (what RFC 3986, form encoding
 * and Python's bytes write), a byte that starts none as Latin-1 (an older gateway's encoding); each
 * character with its escapes' span. `unended`: where a character whose last bytes the run lacks
 * begins, if the run ends so.
 */
function byteRun(text: string, at: number): { characters: Array<[string, number, number]>; end: number; unended: number | undefined } | undefined {
  const pattern = text[at] === '%' ? PERCENT_BYTE : BACKSLASH_BYTE;
  const bytes: number[] = [];
  let next = at;
  for (;;) {
    pattern.lastIndex = next;
    const byte = pattern.exec(text);
    if (!byte) break;
    bytes.push(Number.parseInt(byte[1] as string, 16));
    next = pattern.lastIndex;
  }
  if (bytes.length === 0) return undefined;
  const width = (next - at) / bytes.length;
  const characters: Array<[string, number, number]> = [];
  for (let index = 0; index < bytes.length; ) {
    const length = utf8Length(bytes, index);
    const units = length > 1 ? Buffer.from(bytes.slice(index, index + length)).toString('utf8') : String.fromCharCode(bytes[index] as number);
    characters.push([units, at + index * width, at + (index + length) * width]);
    index += length;
  }
  const unended = unendedFrom(bytes);
  return { characters, end: next, unended: unended === undefined ? undefined : at + unended * width };
}

/** The bytes a UTF-8 character starting with `lead` has; 1 where it starts none. */
function utf8LeadLength(lead: number): number {
  return lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 1;
}

/** How many bytes the well-formed UTF-8 character at `index` has; 1 where none starts (the byte read alone). */
function utf8Length(bytes: readonly number[], index: number): number {
  const length = utf8LeadLength(bytes[index] as number);
  if (length === 1) return 1;
  const sequence = Buffer.from(bytes.slice(index, index + length));
  // Well-formed only if it decodes to one character and back to the same bytes (no overlong form, no surrogate).
  const character = sequence.toString('utf8');
  return sequence.length === length && !character.includes('\ufffd') && Buffer.from(character, 'utf8').equals(sequence) ? length : 1;
}

/** Where the bytes end with the start of a UTF-8 character (its lead and fewer continuation bytes than it needs), if they do. */
function unendedFrom(bytes: readonly number[]): number | undefined {
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const byte = bytes[bytes.length - back] as number;
    if (byte >= 0x80 && byte <= 0xbf) continue;
    return utf8LeadLength(byte) > back ? bytes.length - back : undefined;
  }
  return undefined;
}

/**
 * The layer as compared: case folded where `fold` (an echo may be uppercased), `+` read as the space form encoding
 * writes it, and a run of blanks or line ends as one space (an echo may turn a line end into a space).
 */
function canonical(layer: Layer, fold: boolean): Layer {
  const out: string[] = [];
  const start: number[] = [];
  const end: number[] = [];
  for (let i = 0; i < layer.text.length; i++) {
    const unit = layer.text[i] as string;
    if (unit === '+' || /\s/.test(unit)) {
      if (out.at(-1) === ' ') {
        end[end.length - 1] = layer.end[i] as number;
        continue;
      }
      out.push(' ');
    } else {
      const lower = fold ? unit.toLowerCase() : unit;
      out.push(lower.length === 1 ? lower : unit);
    }
    start.push(layer.start[i] as number);
    end.push(layer.end[i] as number);
  }
  return { text: out.join(''), start, end, cut: layer.cut, shown: layer.shown };
}

function written(text: string): Layer {
  const positions = Array.from({ length: text.length }, (_, i) => i);
  return withCutEscape({ text, start: positions, end: positions.map((i) => i + 1), cut: text.length });
}

/**
 * What starts every escape `decoded` reads (`%XX`, `\x`, `\u`, `&…;`): a layer without one is the
 * last, and reading it again would only copy it (most answers, such as `ID:…`, have none).
 */
const ESCAPE_START = /[%\\&]/;

/** The gateway's words as written and each layer of escaping undone (`canonical` makes them compared). */
function layersOf(said: string): Layer[] {
  const layers = [written(said)];
  for (let depth = 0; depth < MAX_ESCAPE_LAYERS && ESCAPE_START.test((layers.at(-1) as Layer).text); depth++) {
    const next = decoded(layers.at(-1) as Layer);
    if (next.text === (layers.at(-1) as Layer).text) break;
    layers.push(next);
  }
  return layers;
}

/** A value looked for, compared canonically, with what makes its search linear. */
export interface EchoNeedle {
  readonly text: string;
  /** KMP's table: for each start of the needle, the length of its longest proper end that also starts the needle. */
  readonly border: Int32Array;
  /**
   * Looked for as itself (`standingNeedles`): in its own case, and only where it stands (`glued` at neither end, in the
   * layer where it is found); else in any case and inside words (`echoNeedles`).
   */
  readonly standing: boolean;
}

/**
 * The values looked for, compared canonically, none shorter than MIN_REDACTED_CHARS: each as written
 * and as each layer of its own escapes undone, for a layer of the words undoes the gateway's escaping
 * and the value's own in one pass (`p&ss%41` echoed as `p&amp;ss%41` is `p&ssA` there, never `p&ss%41`).
 */
export function echoNeedles(values: readonly string[]): EchoNeedle[] {
  return needles(values, false);
}

/**
 * `values` as `echoNeedles` has them, but looked for as themselves: their exact characters, case and all, where they
 * stand in a layer of the words (a peer's words quoting a value as it was sent, escaped or not: a smarthost's reply
 * holding the credentials as `b'\x00user\x00pass'`, the relay's own JSON of a line that was no reply), not where they
 * are part of a longer word in every layer (`mail` in `mailbox` or `Gmail`) or in another case (`Mail`). The boundary is
 * read in the layer, so an escape that ends in a letter or digit (`\x00`, `\n`, `%00`) is the character it stands for.
 */
export function standingNeedles(values: readonly string[]): EchoNeedle[] {
  return needles(values, true);
}

function needles(values: readonly string[], standing: boolean): EchoNeedle[] {
  const forms = values.flatMap((value) => layersOf(value).map((layer) => canonical(layer, !standing).text));
  const texts = new Set(forms.filter((needle) => needle.trim().length >= MIN_REDACTED_CHARS));
  return [...texts].map((text) => {
    const border = new Int32Array(text.length);
    for (let i = 1, matched = 0; i < text.length; i++) {
      while (matched > 0 && text[i] !== text[matched]) matched = border[matched - 1] as number;
      if (text[i] === text[matched]) matched++;
      border[i] = matched;
    }
    return { text, border, standing };
  });
}

/**
 * An escape the adapter's cut of a long answer went through, at the words' end: `\`, `\u00`, `\x4`,
 * `%`, `%C`, `%u00` (a character reference cut in half is found by `unendedReference`).
 */
const CUT_ESCAPE = /(?:\\(?:u[0-9a-fA-F]{0,3}|U[0-9a-fA-F]{0,7}|x[0-9a-fA-F]?)?|%(?:[uU][0-9a-fA-F]{0,3}|[0-9a-fA-F])?)$/;

/**
 * The layer with its own escape cut in half at the end of what is whole of it counted as cut too: one
 * a layer before left as it was (`%C`), or one that layer's decoding made (the `%` of `%25`, the `&#4`
 * of `&amp;#4`).
 */
function withCutEscape(layer: Omit<Layer, 'shown'>): Layer {
  const whole = wholeUnits(layer, layer.cut);
  const text = layer.text.slice(0, whole);
  const halfEscape = CUT_ESCAPE.exec(text);
  const from = Math.min(halfEscape ? whole - halfEscape[0].length : whole, unendedReference(text) ?? whole);
  return { ...layer, cut: from < whole ? Math.min(layer.cut, layer.start[from] as number) : layer.cut, shown: layer.cut };
}

/** How many of the layer's units stand for words before `cut` (its `cut` or `shown`). */
function wholeUnits(layer: Omit<Layer, 'shown'>, cut: number): number {
  let length = layer.text.length;
  while (length > 0 && (layer.end[length - 1] as number) > cut) length -= 1;
  return length;
}

/**
 * `said` with every occurrence of `needles` (from `echoNeedles`), in any escaping, replaced by `mark`;
 * also the start of one at the end of the words, where an adapter kept only the start of a long answer.
 */
export function cutEchoes(said: string, needles: readonly EchoNeedle[], mark: string): string {
  // No layer is longer than the words (each escape undone is at least as long as what it stands for), and a match or a
  // kept start is MIN_REDACTED_CHARS units at least: words shorter hold none, such as a gateway's code (`ID`, `OK`).
  if (needles.length === 0 || said.length < MIN_REDACTED_CHARS) return said;
  const spans: Array<[number, number]> = [];
  const layers = layersOf(said);
  // Each reading made once, and only if a needle compares in it.
  const readings = [false, true].map((standing) =>
    needles.some((needle) => needle.standing === standing) ? layers.map((layer) => canonical(layer, !standing)) : [],
  );
  for (const needle of needles) {
    for (const layer of readings[Number(needle.standing)] as Layer[]) {
      const tail = findAll(layer, needle, spans);
      if (tail !== undefined) spans.push([tail, said.length]);
    }
  }
  if (spans.length === 0) return said;
  spans.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  let cut = '';
  let kept = 0;
  for (const [from, to] of spans) {
    if (to <= kept) continue;
    cut += from >= kept ? `${said.slice(kept, from)}${mark}` : '';
    kept = Math.max(kept, to);
  }
  return `${cut}${said.slice(kept)}`;
}

/**
 * Adds to `spans` where in the words `needle` stands in the layer (overlapping matches as one span),
 * and returns where the start of one (at least MIN_REDACTED_CHARS of it) ends what is whole of the
 * layer or what it shows (the longer start), if one does. One pass of KMP's automaton over the layer:
 * a value that repeats itself (`abab` in a long run of `ab`, `aaaa…b` in one of `a`) costs no more than
 * another, where searching again after each match, or a string search's own worst case, compares
 * much of the value at every unit.
 */
function findAll(layer: Layer, needle: EchoNeedle, spans: Array<[number, number]>): number | undefined {
  const { text, border } = needle;
  // Where the needle must stand: a match glued to the layer's character before or after it is part of a longer word; a
  // kept start is bounded after by the cut (`to` the layer's end).
  const stands = (from: number, to: number) =>
    !needle.standing ||
    ((!glued(characterAt(text, 0), characterBefore(layer.text, from)) || afterEscape(layer.text, from)) &&
      !glued(characterBefore(text, text.length), characterAt(layer.text, to)));
  const whole = wholeUnits(layer, layer.cut);
  const shown = wholeUnits(layer, layer.shown);
  let wholeTail = 0;
  let shownTail = 0;
  let matched = 0;
  let from = -1;
  let to = -1;
  for (let i = 0; i <= layer.text.length; i++) {
    if (i === whole) wholeTail = matched;
    if (i === shown) shownTail = matched;
    if (i === layer.text.length) break;
    const unit = layer.text.charCodeAt(i);
    while (matched > 0 && (matched === text.length || text.charCodeAt(matched) !== unit)) matched = border[matched - 1] as number;
    if (text.charCodeAt(matched) === unit) matched++;
    if (matched < text.length || !stands(i - text.length + 1, i + 1)) continue;
    if (from !== -1 && i - text.length < to) {
      to = i;
      continue;
    }
    if (from !== -1) spans.push([layer.start[from] as number, layer.end[to] as number]);
    from = i - text.length + 1;
    to = i;
  }
  if (from !== -1) spans.push([layer.start[from] as number, layer.end[to] as number]);
  const [tail, end] = shownTail > wholeTail ? [shownTail, shown] : [wholeTail, whole];
  return tail >= MIN_REDACTED_CHARS && stands(end - tail, layer.text.length) ? (layer.start[end - tail] as number) : undefined;
}

/** The most letters and digits an escape has after its `\` or `%` (`\U0001F600`). */
const ESCAPE_WORD_UNITS = 9;

/**
 * Whether the letters and digits right before `at` are an escape's (`\x00`, `\u0000`, `\0`, `\012`, `\n`, `%00`,
 * `%u0000`): what stands after one is not glued to it, whether or not a layer reads that escape (C's octal `\0`, which
 * none does, ends in a digit as the password `1234` after it begins with one). A word after a backslash (`\nGmail`) is
 * read so too: cutting `mail` there hides no word of the peer's that matters.
 */
function afterEscape(text: string, at: number): boolean {
  const alphanumeric = (unit: number) => (unit >= 0x30 && unit <= 0x39) || (unit >= 0x41 && unit <= 0x5a) || (unit >= 0x61 && unit <= 0x7a);
  for (let back = at - 1; back >= Math.max(0, at - 1 - ESCAPE_WORD_UNITS); back--) {
    const unit = text.charCodeAt(back);
    if (unit === 0x5c || unit === 0x25) return back < at - 1;
    if (!alphanumeric(unit)) return false;
  }
  return false;
}

/** The character (one or two units) at `at` in `text`; none past its ends. */
function characterAt(text: string, at: number): string | undefined {
  const codePoint = at < 0 || at >= text.length ? undefined : text.codePointAt(at);
  return codePoint === undefined ? undefined : String.fromCodePoint(codePoint);
}

/** The character (one or two units) that ends before `at` in `text`; none at its start. */
function characterBefore(text: string, at: number): string | undefined {
  if (at <= 0) return undefined;
  const low = text.charCodeAt(at - 1);
  const pair = at >= 2 && low >= 0xdc00 && low <= 0xdfff && text.charCodeAt(at - 2) >= 0xd800 && text.charCodeAt(at - 2) <= 0xdbff;
  return characterAt(text, pair ? at - 2 : at - 1);
}

/**
 * `said` with the values cut out; all of it (`mark`) where reading the words fails (an answer no test
 * foresaw), told to `failed`: a throw here lost what the caller was recording (a batch's outcomes, a
 * mail's), while passing the words on uncut could show the secret.
 */
export function cutOrMark(said: string, needles: () => readonly EchoNeedle[], mark: string, failed: (error: unknown) => void): string {
  try {
    return cutEchoes(said, needles(), mark);
  } catch (error) {
    failed(error);
    return mark;
  }
}

/**
 * A `failed` for `cutOrMark` and `secretCutter` that logs the first failure only, at debug: a reading that fails is a
 * fault of the relay's, whatever the answer, and would fail again on every answer like it; the peer's words are lost to
 * the mark, not the mail or SMS. Its kind is told, never its words, which may hold what was to be cut. `line` names
 * the peer's words (` (said once)` is added).
 */
export function failureSaidOnce(logger: Logger | undefined, line: string): (error: unknown) => void {
  let said = false;
  return (error) => {
    if (said) return;
    said = true;
    logger?.debug({ errorType: error instanceof Error ? error.name : typeof error }, `${line} (said once)`);
  };
}

/**
 * What every peer's answer goes through as it enters the relay, a gateway's (src/dispatch/outcomes.ts) and
 * the smarthost's (src/mailer/mailer.ts): `secrets` (`configuredSecrets`; the smarthost's login in base64) cut out in
 * any escaping and case, and `standing` (the smarthost's password in clear) in any escaping where it stands as itself
 * (`standingNeedles`), `***` in their place, before any log line, history, `smsrelay status` or bounce gets the words.
 */
export function secretCutter(secrets: readonly string[], failed: (error: unknown) => void, standing: readonly string[] = []): (said: string) => string {
  const needles = [...echoNeedles(secrets), ...standingNeedles(standing)];
  return (said) => cutOrMark(said, () => needles, REDACTED, failed);
}

/** What a word is made of: a value glued to one of these is part of a longer word, not the value standing alone. */
const WORD_CHARACTER = /[\p{L}\p{N}\p{M}_]/u;
/**
 * The letters of the scripts written without spaces between words (Chinese, Japanese, Thai, Lao, Khmer, Burmese and the
 * other Tai scripts, Yi): one stands beside another without being part of the same word (`密码你好世界错误` holds the
 * password `你好世界` standing), as Unicode's default word boundaries (UAX #29) break between them, and between them
 * and a letter of another script (`密码Secret1234错误`).
 */
const SPACELESS_LETTER =
  /[\p{Ideographic}\p{Script_Extensions=Han}\p{Script_Extensions=Hiragana}\p{Script_Extensions=Katakana}\p{Script_Extensions=Bopomofo}\p{Script_Extensions=Yi}\p{Script_Extensions=Thai}\p{Script_Extensions=Lao}\p{Script_Extensions=Khmer}\p{Script_Extensions=Myanmar}\p{Script_Extensions=Tai_Le}\p{Script_Extensions=New_Tai_Lue}\p{Script_Extensions=Tai_Tham}\p{Script_Extensions=Tai_Viet}]/u;

/** Whether a value ending in `end` (its first or last character) is glued to `beside`: both are of one word (a letter, digit or mark of a script written with spaces). */
function glued(end: string | undefined, beside: string | undefined): boolean {
  const joins = (character: string | undefined) => character !== undefined && WORD_CHARACTER.test(character) && !SPACELESS_LETTER.test(character);
  return joins(end) && joins(beside);
}
