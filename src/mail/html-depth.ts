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

const FORM_TAGS = new Set(['input', 'option', 'optgroup', 'select', 'button', 'datalist', 'textarea']);
const P_TAG = new Set(['p']);
const TABLE_SECTION_TAGS = new Set(['thead', 'tbody']);
const DD_DT_TAGS = new Set(['dd', 'dt']);
const RT_RP_TAGS = new Set(['rt', 'rp']);

/**
 * Elements whose start tag closes open ones the writer left unclosed (while the innermost is one of
 * the set): htmlparser2's openImpliesClose, copied whole from its Parser.ts since it is not exported.
 * Any element the pass counts otherwise than the parser lets tags through that the parser nests deeper
 * (`<p><div></p>`: the div closes the p, so `</p>` closes nothing), so it must be the parser's own.
 */
const OPEN_IMPLIES_CLOSE = new Map<string, ReadonlySet<string>>([
  ['tr', new Set(['tr', 'th', 'td'])],
  ['th', new Set(['th'])],
  ['td', new Set(['thead', 'th', 'td'])],
  ['body', new Set(['head', 'link', 'script'])],
  ['li', new Set(['li'])],
  ['p', P_TAG],
  ['h1', P_TAG],
  ['h2', P_TAG],
  ['h3', P_TAG],
  ['h4', P_TAG],
  ['h5', P_TAG],
  ['h6', P_TAG],
  ['select', FORM_TAGS],
  ['input', FORM_TAGS],
  ['output', FORM_TAGS],
  ['button', FORM_TAGS],
  ['datalist', FORM_TAGS],
  ['textarea', FORM_TAGS],
  ['option', new Set(['option'])],
  ['optgroup', new Set(['optgroup', 'option'])],
  ['dd', DD_DT_TAGS],
  ['dt', DD_DT_TAGS],
  ['address', P_TAG],
  ['article', P_TAG],
  ['aside', P_TAG],
  ['blockquote', P_TAG],
  ['details', P_TAG],
  ['div', P_TAG],
  ['dl', P_TAG],
  ['fieldset', P_TAG],
  ['figcaption', P_TAG],
  ['figure', P_TAG],
  ['footer', P_TAG],
  ['form', P_TAG],
  ['header', P_TAG],
  ['hr', P_TAG],
  ['main', P_TAG],
  ['nav', P_TAG],
  ['ol', P_TAG],
  ['pre', P_TAG],
  ['section', P_TAG],
  ['table', P_TAG],
  ['ul', P_TAG],
  ['rt', RT_RP_TAGS],
  ['rp', RT_RP_TAGS],
  ['tbody', TABLE_SECTION_TAGS],
  ['tfoot', TABLE_SECTION_TAGS],
]);

/**
 * htmlparser2's foreignContextElements and htmlIntegrationElements: inside `<svg>` or `<math>` a
 * self-closed tag (`<div/>`) opens nothing, inside one of the integration elements it opens one again.
 */
const FOREIGN_CONTEXT_ELEMENTS = new Set(['math', 'svg']);
const HTML_INTEGRATION_ELEMENTS = new Set(['mi', 'mo', 'mn', 'ms', 'mtext', 'annotation-xml', 'foreignobject', 'desc', 'title']);

/**
 * Elements whose content htmlparser2's tokenizer reads as raw text up to their end tag (its special
 * sequences: exactly these five; `<noframes>` and the like are ordinary elements to it), unless the
 * start tag is self-closed (`<style/>` opens an ordinary style element). Such an element holds no other,
 * so it is kept even below the bound, one level deeper (taken out, a style sheet would become text).
 */
const RAW_TEXT_ELEMENTS = new Set(['script', 'style', 'title', 'textarea', 'xmp']);

/**
 * The HTML with every tag deeper than MAX_HTML_DEPTH taken out (its content stays), in one pass of
 * htmlparser2's own tokenizer, so tags are found exactly where the parser finds them (in attribute
 * values, comments and style sheets none is). The tags kept are read exactly as the parser reads them
 * (its Parser.ts: implied closes, void elements, self-closed tags in SVG and MathML), so that its tree
 * of the result is no deeper than the bound (one more for a raw-text element or an implied `<p>` of a
 * stray `</p>`); the pass holds at most that many open elements, so each tag costs at most that:
 * linear in the HTML. `maxDepth`: a smaller bound, for a test to reach it with little HTML.
 */
export function withBoundedDepth(html: string, maxDepth = MAX_HTML_DEPTH): string {
  if (tooFewTagsToBeDeep(html, maxDepth)) return html;
  /** The parser's stack of open elements, innermost last. */
  const open: string[] = [];
  /** The parser's foreignContext, innermost last: whether a self-closed tag closes itself there. */
  const foreign: boolean[] = [false];
  /** The tags taken out, still open, by name: a closing tag of that name closes the deepest of them. */
  const dropped = new Map<string, number>();
  /** [start, end) of each tag taken out, in order. */
  const cuts: number[] = [];
  let tagStart = 0;
  let name = '';
  let deep = false;
  /** A raw-text element was just opened: the next end tag is its own, which the tokenizer alone ends it with, so it is kept. */
  let inRaw = false;
  const openTagEnd = (endIndex: number, selfClosed: boolean) => {
    const closes = OPEN_IMPLIES_CLOSE.get(name);
    let implied = 0;
    while (closes && implied < open.length && closes.has(open[open.length - 1 - implied] ?? '')) implied++;
    const isVoid = VOID_ELEMENTS.has(name);
    const raw = RAW_TEXT_ELEMENTS.has(name) && !selfClosed;
    if (!isVoid && implied === 0 && open.length >= maxDepth && !raw) {
      deep = true;
      dropped.set(name, (dropped.get(name) ?? 0) + 1);
      cuts.push(tagStart, endIndex + 1);
      return;
    }
    open.length -= implied;
    if (isVoid) return;
    inRaw = raw;
    open.push(name);
    if (FOREIGN_CONTEXT_ELEMENTS.has(name)) foreign.push(true);
    else if (HTML_INTEGRATION_ELEMENTS.has(name)) foreign.push(false);
    // A self-closed tag closes itself only in SVG or MathML (foreign.at(-1)); elsewhere it stays open, as HTML has it.
    if (selfClosed && foreign.at(-1) === true) open.pop();
  };
  const tokenizer = new Tokenizer(
    { decodeEntities: false },
    {
      onopentagname(start, endIndex) {
        tagStart = start - 1;
        name = html.slice(start, endIndex).toLowerCase();
      },
      onopentagend: (endIndex) => openTagEnd(endIndex, false),
      onselfclosingtag: (endIndex) => openTagEnd(endIndex, true),
      onclosetag(start, endIndex) {
        const closing = html.slice(start, endIndex).toLowerCase();
        const deeper = inRaw ? 0 : (dropped.get(closing) ?? 0);
        inRaw = false;
        if (deeper > 0) {
          dropped.set(closing, deeper - 1);
          // The name ends the range the tokenizer gives; the tag runs on to its `>` (`</div foo>`), which it skips to as well.
          const end = html.indexOf('>', endIndex);
          cuts.push(html.lastIndexOf('<', start), end < 0 ? html.length : end + 1);
          return;
        }
        // The parser leaves a foreign context at any such end tag, open or not.
        if (FOREIGN_CONTEXT_ELEMENTS.has(closing) || HTML_INTEGRATION_ELEMENTS.has(closing)) foreign.pop();
        if (VOID_ELEMENTS.has(closing)) return;
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
function tooFewTagsToBeDeep(html: string, maxDepth: number): boolean {
  let at = -1;
  for (let count = 0; count <= maxDepth; count++) {
    at = html.indexOf('<', at + 1);
    if (at < 0) return true;
  }
  return false;
}
