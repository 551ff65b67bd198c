/**
 * Lines of HTML text: the relay's marker lines, and where a line ends, as a browser shows it:
 * html-to-text writes a line break for every `<br>`, also for the one that ends a block's text, which
 * a browser does not show.
 */
import type { DomNode, FormatCallback } from 'html-to-text';

/** html-to-text's nodes are htmlparser2's (domhandler), which link their siblings; its types leave that out. */
export type Linked = DomNode & { readonly prev?: Linked | null; readonly next?: Linked | null; readonly parent?: Linked | undefined };

/** An HTML rule (`<hr>`): a line the text rules take for a rule, so a list's footer below it and a quoted header under it are found as under a typed rule. */
export const HTML_RULE = '\uFDD0';
/**
 * Where a quote element, or Thunderbird's attribution element, was removed. Below REMOVED_CITE, a
 * removed `blockquote type=cite`, the attribution its client wrote above it goes too: left there, the
 * text rules would read the writer's lines below it as the quoted mail. Below REMOVED_ELEMENT, an
 * element that held its own attribution or was Thunderbird's, nothing more goes.
 */
export const REMOVED_CITE = '\uFDD1';
export const REMOVED_ELEMENT = '\uFDD2';
/**
 * The relay's markers: lines it writes into a mail's text while reading its HTML, for the text rules
 * to read, taken out at the end (withoutRelayMarkers). Each is a Unicode noncharacter, which is not
 * for interchange, and withoutNoncharacters drops any a mail carries before it is read: so a marker
 * is told from every line a writer typed (`-=-=…`, a line of SoftBank's emoji U+E001 …), also by
 * `smsrelay preview`, which names a removed block starting at a rule as the HTML has it.
 */
export const RELAY_MARKERS = [HTML_RULE, REMOVED_CITE, REMOVED_ELEMENT];

/** The 66 noncharacters: U+FDD0–U+FDEF, and the last two code points of every plane. */
const NONCHARACTERS = /\p{Noncharacter_Code_Point}/gu;
const PLANES = 17;
const NONCHARACTER_CODES = [
  ...Array.from({ length: 0xfdef - 0xfdd0 + 1 }, (_, at) => 0xfdd0 + at),
  ...Array.from({ length: PLANES }, (_, plane) => [plane * 0x10000 + 0xfffe, plane * 0x10000 + 0xffff]).flat(),
];
/**
 * A code unit every noncharacter has: U+FDD0–U+FDEF and U+FFFE/U+FFFF as they are, those of the
 * other planes as a trailing surrogate DFFE or DFFF. Most mail has none, and testing for one is a
 * fraction of what the Unicode property's scan costs (about a quarter on 50 kB of HTML).
 */
const NONCHARACTER_UNIT = /[\uFDD0-\uFDEF\uFFFE\uFFFF\uDFFE\uDFFF]/;
/** A mail's text as it is read: without noncharacters, which show nothing a writer meant and would pass for the relay's markers. */
export const withoutNoncharacters = (text: string) => (NONCHARACTER_UNIT.test(text) ? text.replace(NONCHARACTERS, '') : text);
/**
 * A numeric character reference to a noncharacter, hexadecimal or decimal, with any leading zeros
 * and without its `;` too (as HTML reads one), and not followed by a further digit (a larger number,
 * another character). Only these are matched: a callback per reference (`&#8217;` …) cost more
 * than the rest of the scrub.
 */
const NONCHARACTER_REFERENCE = new RegExp(
  `&#(?:x0*(?:${NONCHARACTER_CODES.map((code) => code.toString(16)).join('|')})(?![0-9a-f])|0*(?:${NONCHARACTER_CODES.join('|')})(?![0-9]));?`,
  'gi',
);
/** An HTML part as it is read: without noncharacters, written as they are or as a character reference (`&#xFDD0;`), which the parser would make one. */
export const htmlWithoutNoncharacters = (html: string) => {
  const written = withoutNoncharacters(html);
  return written.includes('&#') ? written.replace(NONCHARACTER_REFERENCE, '') : written;
};

/**
 * Elements that sit inside a line: a `<br>` at the end of one still ends its block's last line, and
 * text on either side of one is one line (html.ts reads the line above a blockquote by them). Any other
 * element (a block, a `<br>`) ends a line; Word's `<o:p>`, its paragraph mark, stands inside its paragraph's line.
 */
export const INLINE_ELEMENTS: ReadonlySet<string> = new Set([
  'a',
  'abbr',
  'b',
  'bdi',
  'bdo',
  'big',
  'cite',
  'code',
  'em',
  'font',
  'i',
  'kbd',
  'mark',
  'o:p',
  'q',
  's',
  'small',
  'span',
  'strike',
  'strong',
  'sub',
  'sup',
  'time',
  'u',
]);

const isBlank = (node: Linked) => node.type === 'comment' || (node.type === 'text' && (node.data ?? '').trim() === '');
const isInline = (node: Linked | undefined): node is Linked => node?.type === 'tag' && INLINE_ELEMENTS.has(node.name ?? '');
const textIn = (node: DomNode): string => (node.type === 'text' ? (node.data ?? '') : node.children.map(textIn).join(''));

/** Whether the line a node is on has text before it: a `<br>` or a block before it starts a new line. */
function textBefore(node: Linked): boolean {
  for (let before = node.prev; before; before = before.prev) {
    if (before.type === 'text' && !isBlank(before)) return true;
    if (before.type !== 'tag') continue;
    if (!isInline(before)) return false;
    if (textIn(before).trim() !== '') return true;
  }
  return isInline(node.parent) && textBefore(node.parent);
}

/** Whether nothing follows a node up to the end of its block. */
function endsBlock(node: Linked): boolean {
  for (let after = node.next; after; after = after.next) if (!isBlank(after)) return false;
  return !isInline(node.parent) || endsBlock(node.parent);
}

/**
 * html-to-text's `lineBreak` formatter, for `<br>`: one that ends a block's line of text shows as
 * nothing, the block ends the line anyway (Gmail and Apple Mail end their `<div>` lines so, which
 * would give a blank line after each); one alone on its line is the empty line it shows.
 */
export const lineBreak: FormatCallback = (elem, _walk, builder) => {
  if (!(endsBlock(elem) && textBefore(elem))) builder.addLineBreak();
};
