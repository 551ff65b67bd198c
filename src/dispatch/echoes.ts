/**
 * Finding a value (a secret, the SMS's text) in what a gateway echoes of its request, in whatever
 * escaping the gateway's language wrote it: JSON as PHP, Python, Jackson or .NET write it (`\/`,
 * `\u00e9` in either case, surrogate pairs), RFC 3986 or form percent-encoding (`%20` or `+`, either
 * hex case, UTF-8 or Latin-1 bytes, JavaScript's `%u00e9`), XML/HTML character references (`&#39;`,
 * `&#x27;`, `&amp;`, `&apos;`), and these nested (`%2520`, `&amp;#39;`, percent-encoding inside JSON).
 * Rather than listing the forms a value may take, the echo is decoded, layer by layer, into one
 * canonical text that remembers where each character came from, and the value is looked for in each
 * layer (as written too: a secret may itself hold `%41`); what matches is cut where it stands in the
 * gateway's words. Each layer is one linear pass.
 */

/** Shorter values are left in a gateway's words: cutting every "ab" out of them would garble the text and hide nothing a guess would not find. */
export const MIN_REDACTED_CHARS = 4;

/**
 * Layers of escaping undone: a form value inside a URL inside JSON inside an XML page is three. More is
 * no gateway's answer, and each layer costs a pass over it.
 */
const MAX_ESCAPE_LAYERS = 3;

/** A text and, for each of its UTF-16 units, the span `[start, end)` of the gateway's words it came from. */
interface Layer {
  readonly text: string;
  readonly start: readonly number[];
  readonly end: readonly number[];
}

/** XML's predefined entities (what PHP's htmlspecialchars, .NET's and Java's XML writers use by name). */
const NAMED_ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
/** JSON's one-character escapes, and `\'` (Python's and JavaScript's string literals). */
const BACKSLASH_ESCAPES: Readonly<Record<string, string>> = { '/': '/', '"': '"', "'": "'", '\\': '\\', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/** One escape at a position: `\uXXXX`, `\/`…, `%uXXXX`, `&#39;`, `&#x27;`, `&amp;`… (a `%XX` run is read by `percentRun`). */
const ESCAPE = /\\u([0-9a-f]{4})|\\([/"'\\bfnrt])|%u([0-9a-f]{4})|&#(?:([0-9]{1,7})|x([0-9a-f]{1,6}));|&(amp|lt|gt|quot|apos);/iy;
const PERCENT_BYTE = /%([0-9a-f]{2})/iy;

/** One layer of escaping undone, each unit keeping where in `layer` (and so in the words) it came from. */
function decoded(layer: Layer): Layer {
  const { text } = layer;
  const out: string[] = [];
  const start: number[] = [];
  const end: number[] = [];
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
    const run = text[at] === '%' ? percentRun(text, at) : undefined;
    if (run) {
      for (const [units, from, to] of run.characters) push(units, from, to);
      at = run.end;
      continue;
    }
    ESCAPE.lastIndex = at;
    const escaped = text[at] === '\\' || text[at] === '%' || text[at] === '&' ? ESCAPE.exec(text) : null;
    if (escaped) {
      const [whole, unit, single, percentUnit, decimal, hex, named] = escaped;
      const codePoint = decimal !== undefined ? Number(decimal) : hex !== undefined ? Number.parseInt(hex, 16) : undefined;
      const units =
        unit !== undefined || percentUnit !== undefined
          ? String.fromCharCode(Number.parseInt((unit ?? percentUnit) as string, 16))
          : single !== undefined
            ? (BACKSLASH_ESCAPES[single] as string)
            : named !== undefined
              ? (NAMED_ENTITIES[named.toLowerCase()] as string)
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
  return { text: out.join(''), start, end };
}

/**
 * A run of `%XX` bytes from `at`, read as UTF-8 characters (what RFC 3986 and form encoding write),
 * a byte that starts none as Latin-1 (an older gateway's encoding); each character with its escapes' span.
 */
function percentRun(text: string, at: number): { characters: Array<[string, number, number]>; end: number } | undefined {
  const bytes: number[] = [];
  for (let next = at; ; next += 3) {
    PERCENT_BYTE.lastIndex = next;
    const byte = PERCENT_BYTE.exec(text);
    if (!byte) break;
    bytes.push(Number.parseInt(byte[1] as string, 16));
  }
  if (bytes.length === 0) return undefined;
  const characters: Array<[string, number, number]> = [];
  for (let index = 0; index < bytes.length; ) {
    const length = utf8Length(bytes, index);
    const units = length > 1 ? Buffer.from(bytes.slice(index, index + length)).toString('utf8') : String.fromCharCode(bytes[index] as number);
    characters.push([units, at + index * 3, at + (index + length) * 3]);
    index += length;
  }
  return { characters, end: at + bytes.length * 3 };
}

/** How many bytes the well-formed UTF-8 character at `index` has; 1 where none starts (the byte read alone). */
function utf8Length(bytes: readonly number[], index: number): number {
  const lead = bytes[index] as number;
  const length = lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 1;
  if (length === 1) return 1;
  const sequence = Buffer.from(bytes.slice(index, index + length));
  // Well-formed only if it decodes to one character and back to the same bytes (no overlong form, no surrogate).
  const character = sequence.toString('utf8');
  return sequence.length === length && !character.includes('\ufffd') && Buffer.from(character, 'utf8').equals(sequence) ? length : 1;
}

/**
 * The layer as compared: case folded (an echo may be uppercased), `+` read as the space form encoding
 * writes it, and a run of blanks or line ends as one space (an echo may turn a line end into a space).
 */
function canonical(layer: Layer): Layer {
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
      const lower = unit.toLowerCase();
      out.push(lower.length === 1 ? lower : unit);
    }
    start.push(layer.start[i] as number);
    end.push(layer.end[i] as number);
  }
  return { text: out.join(''), start, end };
}

function written(text: string): Layer {
  const positions = Array.from({ length: text.length }, (_, i) => i);
  return { text, start: positions, end: positions.map((i) => i + 1) };
}

/** The gateway's words as written and each layer of escaping undone, compared canonically. */
function layersOf(said: string): Layer[] {
  const layers = [written(said)];
  for (let depth = 0; depth < MAX_ESCAPE_LAYERS; depth++) {
    const next = decoded(layers.at(-1) as Layer);
    if (next.text === (layers.at(-1) as Layer).text) break;
    layers.push(next);
  }
  return layers.map(canonical);
}

/** The values looked for, compared canonically, none shorter than MIN_REDACTED_CHARS. */
export function echoNeedles(values: readonly string[]): string[] {
  return [...new Set(values.map((value) => canonical(written(value)).text).filter((needle) => needle.trim().length >= MIN_REDACTED_CHARS))];
}

/** An escape the adapter's cut of a long answer went through (`%C`, `\u00`, `&#3`), at the words' end. */
const CUT_ESCAPE = /(?:\\(?:u[0-9a-f]{0,3})?|%(?:u[0-9a-f]{0,3}|[0-9a-f])?|&#?x?[0-9a-z]{0,7})$/i;

/**
 * `said` with every occurrence of `needles` (from `echoNeedles`), in any escaping, replaced by `mark`;
 * also the start of one at the end of the words, where an adapter kept only the start of a long answer.
 */
export function cutEchoes(said: string, needles: readonly string[], mark: string): string {
  if (needles.length === 0 || said.length === 0) return said;
  const spans: Array<[number, number]> = [];
  const cutEscape = CUT_ESCAPE.exec(said)?.[0] ?? '';
  for (const layer of layersOf(said)) {
    for (const needle of needles) {
      for (let at = layer.text.indexOf(needle); at !== -1; at = layer.text.indexOf(needle, at + 1)) {
        spans.push([layer.start[at] as number, layer.end[at + needle.length - 1] as number]);
      }
      const tail = cutTail(layer, needle, said.length - cutEscape.length);
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
 * Where the start of `needle` (at least MIN_REDACTED_CHARS of it) ends the layer's units that come
 * before `before` (the words without an escape cut in half), if it does.
 */
function cutTail(layer: Layer, needle: string, before: number): number | undefined {
  let length = layer.text.length;
  while (length > 0 && (layer.end[length - 1] as number) > before) length -= 1;
  // Only where the needle's first character stands in the last needle-length units: most answers hold no such start.
  const first = needle.charAt(0);
  for (
    let at = layer.text.indexOf(first, Math.max(0, length - needle.length + 1));
    at !== -1 && length - at >= MIN_REDACTED_CHARS;
    at = layer.text.indexOf(first, at + 1)
  ) {
    if (needle.startsWith(layer.text.slice(at, length))) return layer.start[at] as number;
  }
  return undefined;
}
