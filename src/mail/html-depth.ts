/**
 * HTML's nesting bounded before it is parsed into a tree: htmlparser2 keeps its open elements in an
 * array it shifts at every tag, and html-to-text walks the tree by recursion, so a mail of `<div>`×N
 * `</div>`×N cost time growing with N² and overflowed the stack at about 10,000 levels (300,000
 * levels, 3.3 MB, held the relay's event loop for minutes).
 */
import { Tokenizer } from 'htmlparser2';

/**
 * The deepest nesting of elements kept: Blink's and WebKit's HTML parsers stop at 512 levels too and
 * attach anything deeper at that depth, so no page or mail a browser shows as written is deeper; real
 * mail (Outlook's nested tables included) stays under 100. Tags deeper than this are taken out, their
 * content kept: its text is read as it stands, one level up.
 */
export const MAX_HTML_DEPTH = 512;

/**
 * Elements htmlparser2 opens and closes in one tag (its voidElements): they never hold content, so
 * they are no level.
 */
const VOID_ELEMENTS = new Set([
  'area',
  'base',
  'basefont',
  'br',
  'col',
  'command',
  'embed',
  'frame',
  'hr',
  'img',
  'input',
  'isindex',
  'keygen',
  'link',
  'meta',
  'param',
  'source',
  'track',
  'wbr',
]);

/**
 * Elements whose start tag closes an open one the writer left unclosed, as htmlparser2 reads them (its
 * openImpliesClose, which it does not export; the block elements that close a `<p>` aside, since a `<p>`
 * above one is closed where its parent is): without these a table of unclosed `<tr><td>` rows or a list
 * of unclosed `<li>` would count a level per row or item.
 */
const CLOSED_BY = new Map<string, ReadonlySet<string>>([
  ['tr', new Set(['tr', 'th', 'td'])],
  ['th', new Set(['th'])],
  ['td', new Set(['thead', 'th', 'td'])],
  ['li', new Set(['li'])],
  ['p', new Set(['p'])],
  ['option', new Set(['option'])],
  ['optgroup', new Set(['optgroup', 'option'])],
  ['dd', new Set(['dt', 'dd'])],
  ['dt', new Set(['dt', 'dd'])],
]);

/**
 * Elements whose content the tokenizer reads as raw text: one never holds another, so it is always kept
 * (taken out, a style sheet or script would become text).
 */
const RAW_TEXT_ELEMENTS = new Set(['script', 'style', 'title', 'textarea', 'xmp', 'noembed', 'noframes', 'plaintext']);

/**
 * The HTML with every tag deeper than MAX_HTML_DEPTH taken out (its content stays), in one pass of
 * htmlparser2's own tokenizer, so tags are found exactly where the parser finds them (in attribute
 * values, comments and style sheets none is). The open elements are tracked as the parser tracks them,
 * but never more than MAX_HTML_DEPTH of them, so each tag costs at most that: linear in the HTML.
 */
export function withBoundedDepth(html: string): string {
  if (tooFewTagsToBeDeep(html)) return html;
  const open: string[] = [];
  /** The tags taken out, still open, by name: a closing tag of that name closes the deepest of them. */
  const dropped = new Map<string, number>();
  /** [start, end) of each tag taken out, in order. */
  const cuts: number[] = [];
  let tagStart = 0;
  let name = '';
  let deep = false;
  const openTagEnd = (endIndex: number) => {
    if (VOID_ELEMENTS.has(name)) return;
    const closed = CLOSED_BY.get(name);
    while (closed && open.length > 0 && closed.has(open.at(-1) ?? '')) open.pop();
    if (open.length < MAX_HTML_DEPTH || RAW_TEXT_ELEMENTS.has(name)) {
      if (open.length < MAX_HTML_DEPTH) open.push(name);
      return;
    }
    deep = true;
    dropped.set(name, (dropped.get(name) ?? 0) + 1);
    cuts.push(tagStart, endIndex + 1);
  };
  const tokenizer = new Tokenizer(
    { decodeEntities: false },
    {
      onopentagname(start, endIndex) {
        tagStart = start - 1;
        name = html.slice(start, endIndex).toLowerCase();
      },
      onopentagend: openTagEnd,
      // HTML has no self-closing tags: `<div/>` opens a div, as the parser reads it.
      onselfclosingtag: openTagEnd,
      onclosetag(start, endIndex) {
        const closing = html.slice(start, endIndex).toLowerCase();
        const deeper = dropped.get(closing) ?? 0;
        if (deeper > 0) {
          dropped.set(closing, deeper - 1);
          // The name ends the range the tokenizer gives; the tag runs on to its `>` (`</div foo>`), which it skips to as well.
          const end = html.indexOf('>', endIndex);
          cuts.push(html.lastIndexOf('<', start), end < 0 ? html.length : end + 1);
          return;
        }
        const at = open.lastIndexOf(closing);
        if (at >= 0) open.length = at;
      },
      onattribdata() {},
      onattribentity() {},
      onattribend() {},
      onattribname() {},
      oncdata() {},
      oncomment() {},
      ondeclaration() {},
      onend() {},
      onprocessinginstruction() {},
      ontext() {},
      ontextentity() {},
    },
  );
  tokenizer.write(html);
  tokenizer.end();
  if (!deep) return html;
  const kept: string[] = [];
  let from = 0;
  for (let at = 0; at < cuts.length; at += 2) {
    kept.push(html.slice(from, cuts[at]));
    from = cuts[at + 1] ?? html.length;
  }
  kept.push(html.slice(from));
  return kept.join('');
}

/**
 * Whether the HTML holds MAX_HTML_DEPTH `<` or fewer: each level opens with a tag, so no element can be
 * deeper and the tokenizer's pass is spared. Most mail's HTML is so (the corpus' parts average 600
 * characters); the search for `<` is the engine's own, far cheaper per character than the tokenizer (#15).
 */
function tooFewTagsToBeDeep(html: string): boolean {
  let at = -1;
  for (let count = 0; count <= MAX_HTML_DEPTH; count++) {
    at = html.indexOf('<', at + 1);
    if (at < 0) return true;
  }
  return false;
}
