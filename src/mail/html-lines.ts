/**
 * Where a line of HTML text ends, as a browser shows it: html-to-text writes a line break for every
 * `<br>`, also for the one that ends a block's text, which a browser does not show.
 */
import type { DomNode, FormatCallback } from 'html-to-text';

/** html-to-text's nodes are htmlparser2's (domhandler), which link their siblings; its types leave that out. */
type Linked = DomNode & { readonly prev?: Linked | null; readonly next?: Linked | null; readonly parent?: Linked | undefined };

/**
 * What an HTML rule (`<hr>`) is while the text rules read the text: a line they take for a rule, so a
 * list's footer below it and a quoted header under it are found as under a typed rule. It is a run of
 * U+E000, a private-use code point no mail's text writes (a font's own glyph at most, never a line of
 * them), so withoutRelayMarkers and `smsrelay preview` tell it from any line a writer typed, `-=-=…` too.
 */
export const HTML_RULE = '\uE000'.repeat(3);

/** Elements that sit inside a line: a `<br>` at the end of one still ends its block's last line. */
const INLINE_ELEMENTS = new Set([
  'a',
  'abbr',
  'b',
  'big',
  'cite',
  'code',
  'em',
  'font',
  'i',
  'mark',
  'o:p',
  's',
  'small',
  'span',
  'strike',
  'strong',
  'sub',
  'sup',
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
