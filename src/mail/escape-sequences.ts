/**
 * The terminal escape sequences of ECMA-48 a terminal draws nothing for, in their 7-bit forms (ESC and what follows),
 * each matched whole: CSI colours and cursor moves, a charset designation (`tput sgr0` on xterm writes `ESC ( B`), OSC
 * window titles and hyperlinks up to BEL or ST, DCS/SOS/PM/APC strings up to ST, the Linux console's palette,
 * `ESC 7`/`ESC 8`, `ESC =`/`ESC >`. The forms are ansi-regex's (chalk's, strip-ansi's), less its 8-bit C1 ones
 * (U+009B CSI, U+009D OSC, U+0090/U+0098/U+009E/U+009F strings, U+009C ST): in decoded mail a C1 code point is a
 * mislabelled charset's letter far more often than a terminal's (cp1250 under `iso-8859-2`: `ś` is 0x9C, `ź` 0x9F;
 * cp1252 read as Latin-1 under `utf-8`: `›` is U+009B), and would take the words after it; it is removed alone, as any
 * control is. A terminal's output reaches mail in the 7-bit forms.
 *
 * A two-character escape whose second is a letter (`ESC M`, `ESC c`) is one only where no letter follows it, and one
 * whose second is a digit (`ESC 7`) only where no digit follows: a stray ESC before a word or a number (`ESC Hello`) keeps
 * the word's first letter. `ESC E` (NEL) is one always: a terminal writes the next line's text right after it, and it
 * is read as that line break. Written with the `u` flag (`\p{L}`).
 */
const ST = String.raw`\x1b\\`;
/** What ends a string's payload unterminated (CAN, SUB, ESC, any C1): an unterminated string takes nothing after it. */
const STRING_STOPS = String.raw`\x18\x1a\x1b\x80-\x9f`;
const OSC = String.raw`\x1b\][^\x07${STRING_STOPS}]*(?:\x07|${ST})`;
const CONTROL_STRING = String.raw`\x1b[PX^_k][^${STRING_STOPS}]*${ST}`;
/** Fixed length, no terminator: before OSC, so that a later BEL does not take visible text. */
const LINUX_PALETTE = String.raw`\x1b\](?:P[0-9A-Fa-f]{7}|R)(?:\x07|${ST})?`;
const CSI = String.raw`\x1b\[[0-?]*[ -/]*[@-~]`;
const ESCAPE = String.raw`\x1b(?:[ -/]+[0-~]|E|[A-DF-PR-TZcf-oq-uy](?!\p{L})|[0-9](?!\p{Nd})|[=><~|}])`;

/** The source, for a pattern with the `u` flag. */
export const ESCAPE_SEQUENCE_SOURCE = [LINUX_PALETTE, OSC, CONTROL_STRING, CSI, ESCAPE].join('|');
