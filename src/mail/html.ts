import { compile, type DomNode, type FormatCallback, type HtmlToTextOptions } from 'html-to-text';
import { LRUCache } from 'lru-cache';
import { RelayError } from '../errors.ts';
import { withBoundedDepth } from './html-depth.ts';
import { hiddenSelectors } from './style-sheets.ts';
import { HTML_RULE, INLINE_ELEMENTS, type Linked, lineBreak, RELAY_MARKERS, REMOVED_CITE, REMOVED_ELEMENT } from './html-lines.ts';
import { attributionStart, endsInQuoteAttribution, isStrongAttribution, joinLines, MAX_ATTRIBUTION_LINE, MAX_ATTRIBUTION_LINES } from './strip.ts';

/**
 * Where Outlook (desktop and web) starts the copy of the mail replied to. Outlook always writes
 * above it, so the HTML is cut there; the copy is no element of its own that could be skipped.
 */
const OUTLOOK_REPLY_HEADER =
  /<(?:div|hr)\b[^>]*\bid=["']?(?:appendonsend|divRplyFwdMsg|stopSpelling|mail-editor-reference-message-container)\b|<div\b[^>]*\bclass=["']?OutlookMessageHeader\b|<div\b[^>]{0,200}\bstyle=["'][^"'>]{0,100}border-top:\s*solid\s+#[0-9a-f]{6}\s+1\.0pt;\s*padding:\s*3\.0pt/i;

/**
 * Elements in which clients put the writer's auto-signature: Gmail, Thunderbird, Outlook on the web
 * and new Outlook (`id="Signature"`, also inside old OWA's `divtagdefaultwrapper`), Outlook for iOS
 * and Android (`ms-outlook-mobile-signature`, its "Get Outlook for iOS"), older iOS and macOS Mail
 * (`AppleMailSignature`).
 */
const SIGNATURE_ELEMENTS = ['div.gmail_signature', '.moz-signature', '#Signature', '#ms-outlook-mobile-signature', '#AppleMailSignature'];
/**
 * Apple Mail since iOS 16 and macOS 13 marks no element: it writes `<br id="lineBreakAtBeginningOfSignature">`
 * right before the signature's `<div>`. CSS's `+` passes over text between them, so which element is
 * the signature is told by isAppleSignature.
 */
const APPLE_SIGNATURE = 'br#lineBreakAtBeginningOfSignature + div';

/** The nodes after `node` in the document, in order: its later siblings, then its ancestors' later siblings. */
function* nodesAfter(node: DomNode): Generator<DomNode> {
  for (let at = node; at.parent; at = at.parent) {
    const siblings = at.parent.children;
    yield* siblings.slice(siblings.indexOf(at) + 1);
  }
}
/** Elements whose content is no text the mail shows. */
const TEXTLESS_ELEMENTS = new Set(['head', 'script', 'style', 'template', 'title']);
/**
 * The nodes linesAbove visits at most: what stands right above a blockquote is a few elements away,
 * and a mail of thousands of empty elements before each of thousands of blockquotes costs no more
 * than this per blockquote.
 */
const MAX_NODES_ABOVE = 64;
/** html-to-text's builder holds the conversion's selectors (its types leave them out): what it skips (a hidden preheader) shows no line. */
type Picking = { readonly picker: { pick1(node: DomNode): { readonly format?: string } } };
/**
 * The lines of text right above `elem` (at most `count`, blank ones left out, the nearest last), as
 * the conversion shows them (what it skips, hidden or not shown, is none), read backwards from it and
 * only so far (MAX_NODES_ABOVE, and MAX_ATTRIBUTION_LINE characters a line on average): a long text
 * above costs no more than those lines. A line whose start that bound kept it from reading is left
 * out: its tail alone could read as an attribution its whole is not.
 */
function linesAbove(elem: DomNode, count: number, builder: Picking): string[] {
  const lines = [''];
  let visits = 0;
  let cut = false;
  const full = () => {
    if (lines.length > count) return true;
    cut = ++visits > MAX_NODES_ABOVE || lines.join('').length > count * MAX_ATTRIBUTION_LINE;
    return cut;
  };
  // Once cut, the line being read has no start: nothing ends it.
  const endLine = () => {
    if (!cut && (lines[0] ?? '').trim() !== '') lines.unshift('');
  };
  const read = (node: DomNode): void => {
    if (node.type === 'text') lines[0] = `${(node.data ?? '').replace(/\s+/g, ' ')}${lines[0]}`;
    if (node.type !== 'tag' || TEXTLESS_ELEMENTS.has(node.name ?? '') || builder.picker.pick1(node).format === 'skip') return;
    const inline = INLINE_ELEMENTS.has(node.name ?? '');
    if (!inline) endLine();
    for (let child = (node.children ?? []).at(-1) as Linked | undefined; child && !full(); child = child.prev ?? undefined) read(child);
    if (!inline) endLine();
  };
  // Its earlier siblings, nearest first, then its ancestors' (the start of a block ancestor ends a line too).
  for (let at = elem as Linked; at.parent && !full(); at = at.parent) {
    for (let node = at.prev ?? undefined; node && !full(); node = node.prev ?? undefined) read(node);
    if (!INLINE_ELEMENTS.has(at.parent.name ?? '')) endLine();
  }
  if (cut) lines[0] = '';
  return lines
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .slice(-count);
}
/** A style that draws a bar at an element's left, as clients draw a quote (Gmail, K-9, Zimbra, Horde: `border-left:1px solid #ccc`). */
const QUOTE_BAR = /border-left(?:-style)?\s*:\s*(?!none|0(?:px)?\s*(?:;|$))[^;]*\S/i;
/** Whether a blockquote carries a quote's mark of its own: a `cite` (Thunderbird's `cite="mid:…"`), a quote class, a quote's left bar. */
function isMarked(elem: DomNode): boolean {
  const attributes = elem.attribs ?? {};
  return attributes.cite !== undefined || /quot|cite/i.test(attributes.class ?? '') || QUOTE_BAR.test(attributes.style ?? '');
}
/**
 * The conversions (by their builder) in which an unmarked blockquote was quoted history by the
 * attribution above it: the mail's quotes are unmarked blockquotes, as Yandex writes them.
 */
const quotingBare = new WeakSet<object>();
/**
 * Whether a blockquote that no client's quote selector took is quoted history in a reply: something
 * must mark it so (isMarked), or an attribution right above it ("On … Bob wrote:"), or an earlier
 * unmarked blockquote of the mail that one stood above: inline answers under Yandex's attribution
 * leave the later quoted parts, unmarked blockquotes too, under the writer's answers. Else a bare one
 * is an indent (Thunderbird's Indent button writes `<blockquote>`, as Gmail's and Apple's write one
 * with `border:none`; Thunderbird marks its quotes `type=cite`): the writer's text.
 */
function isMarkedQuote(elem: DomNode, builder: Picking): boolean {
  if (isMarked(elem)) return true;
  if (quotingBare.has(builder)) return true;
  const above = linesAbove(elem, MAX_ATTRIBUTION_LINES, builder);
  const quoted = above.length > 0 && endsInQuoteAttribution(above);
  if (quoted) quotingBare.add(builder);
  return quoted;
}
/** A reply's blockquote: quoted with `>` for the text rules when it is marked as a quote (isMarkedQuote), else a block of the writer's text. */
const replyBlockquote: FormatCallback = (elem, walk, builder, options) => {
  const format = isMarkedQuote(elem, builder as unknown as Picking) ? builder.options.formatters.blockquote : builder.options.formatters.block;
  format?.(elem, walk, builder, options);
};
const isBlank = (node: DomNode) => node.type === 'comment' || (node.type === 'text' && (node.data ?? '').trim() === '');
const isCiteQuote = (node: DomNode) => isBlockquote(node) && node.attribs?.type === 'cite';
/** Whether a node holds text before any cite quote in it: `true`, `false`, or `'quote'` when a quote comes first. */
function textBeforeQuote(node: DomNode): boolean | 'quote' {
  if (isCiteQuote(node)) return 'quote';
  if (node.type === 'text') return (node.data ?? '').trim() !== '';
  for (const child of node.children ?? []) {
    const found = textBeforeQuote(child);
    if (found !== false) return found;
  }
  return false;
}
/**
 * Whether `elem`, a `<div>` after Apple Mail's marker (APPLE_SIGNATURE), is the signature as Apple
 * writes it: right after the marker, no text between ("Pump fixed.<br id=…>Jane Doe<br>Valve 3 leaks"
 * is all the writer's), and the end of the writer's text: below it only the quoted mail
 * (`blockquote type=cite`) or nothing. A line the writer typed below the marker, where they deleted
 * the signature, has more of their text or the device's line below it.
 */
function isAppleSignature(elem: DomNode): boolean {
  const siblings = elem.parent?.children ?? [];
  const at = siblings.indexOf(elem);
  const marker = siblings.findLastIndex((node, index) => index < at && !isBlank(node));
  if (marker < 0 || siblings[marker]?.name !== 'br') return false;
  for (const node of nodesAfter(elem)) {
    const found = textBeforeQuote(node);
    if (found !== false) return found === 'quote';
  }
  return true;
}
/** Formats the element after Apple's marker as a block of text when it `is` Apple's signature or is not (isAppleSignature), else skips it. */
const appleSignatureWhen =
  (is: boolean): FormatCallback =>
  (elem, walk, builder) => {
    if (isAppleSignature(elem) !== is) return;
    builder.openBlock({ leadingLineBreaks: 1 });
    walk(elem.children, builder);
    builder.closeBlock({ trailingLineBreaks: 1 });
  };

/**
 * The quote element whose attribution its clients write outside it, right above it: Roundcube,
 * Evolution and Apple Mail's inline answers ("On … wrote:" in a <p> or <div> above
 * `<blockquote type="cite">`).
 */
const CITE_QUOTE = 'blockquote[type=cite]';
/**
 * Quote elements that hold their own attribution (Yahoo's "On …, Bob wrote:", Proton's "On …, Bob
 * wrote:" above its own blockquote): the line above them is the writer's. Listed after CITE_QUOTE,
 * which Proton's blockquote matches too: of equal selectors the later one formats the element.
 */
const SELF_ATTRIBUTED_QUOTES = ['div[class*=yahoo_quoted]', 'div.protonmail_quote', 'blockquote.protonmail_quote'];
/** Thunderbird's attribution, an element of its own right above its quote. */
const CITE_PREFIX = '.moz-cite-prefix';

const removedAs =
  (line: string): FormatCallback =>
  (_elem, _walk, builder) => {
    builder.openBlock({ leadingLineBreaks: 1 });
    builder.addLiteral(line);
    builder.closeBlock({ trailingLineBreaks: 1 });
  };
const removedCite = removedAs(REMOVED_CITE);
const removedElement = removedAs(REMOVED_ELEMENT);
/** How a reading removes the quote and signature elements of common clients. */
const QUOTE_AND_SIGNATURE_SELECTORS: Selectors = [
  { selector: CITE_QUOTE, format: 'removedCite' },
  ...[...SELF_ATTRIBUTED_QUOTES, CITE_PREFIX].map((selector) => ({ selector, format: 'removedElement' })),
  ...SIGNATURE_ELEMENTS.map((selector) => ({ selector, format: 'skip' })),
  { selector: APPLE_SIGNATURE, format: 'unlessAppleSignature' },
];

/** Whether the HTML holds one of the signature elements above: a cheap test before any conversion. */
const SIGNATURE_ELEMENT =
  /\bclass=["']?[^"'>]*\b(?:gmail_signature|moz-signature)\b|\bid=["']?(?:Signature|ms-outlook-mobile-signature|AppleMailSignature|lineBreakAtBeginningOfSignature)["'\s>]/;

/**
 * Outlook desktop (Word HTML) marks its auto-signature by an anchor at its start, not by an element
 * around it: the signature is the paragraphs from the anchor's on, up to the reply header (where the
 * HTML is cut anyway) or the end.
 */
const WORD_SIGNATURE_ANCHOR = /<a\b[^>]*\bname=["']?_MailAutoSig\b/i;

/** Whether the HTML holds one of the quote elements above (the mail is a reply that quotes). */
const QUOTE_ELEMENT = /\bclass=["']?[^"'>]*\b(?:gmail_quote|moz-cite-prefix|yahoo_quoted|protonmail_quote)\b|<blockquote\b[^>]*\btype=["']?cite\b/i;

/**
 * Inline styles and the attribute that hide an element: a newsletter's preheader (the line a mailbox
 * shows beside the subject) is `display:none`, for Outlook also `mso-hide:all`. An attribute selector
 * outranks a type selector, so a hidden `<p>` or `<table>` is skipped, not formatted.
 */
const HIDDEN = [
  ...['display:none', 'display: none', 'visibility:hidden', 'visibility: hidden', 'mso-hide:all', 'mso-hide: all'].map((style) => `[style*="${style}" i]`),
  '[hidden]',
];
/** Elements whose content no mail client shows as text: templates, embedded documents and images. */
const UNSHOWN_ELEMENTS = ['template', 'iframe', 'object', 'embed', 'svg'];

type Selectors = NonNullable<HtmlToTextOptions['selectors']>;

const COMMON_SELECTORS: Selectors = [
  { selector: 'a', options: { ignoreHref: true } },
  // Tracking pixels, logos and their alt texts are nothing a phone should show.
  { selector: 'img', format: 'skip' },
  // A title is the window's, not the mail's text, also outside a <head>.
  { selector: 'title', format: 'skip' },
  ...[...HIDDEN, ...UNSHOWN_ELEMENTS].map((selector) => ({ selector, format: 'skip' })),
  ...['h1', 'h2', 'h3', 'h4', 'h5', 'h6'].map((selector) => ({ selector, options: { uppercase: false } })),
  // Outlook writes each line as a paragraph whose style sheet gives it no margin: a line, not a paragraph.
  { selector: 'p.MsoNormal', format: 'block', options: { leadingLineBreaks: 1, trailingLineBreaks: 1 } },
  // Gmail's and Apple Mail's "indent" is a blockquote without the quote's border: text, not a quote.
  ...['border:none', 'border: none'].map((style) => ({ selector: `blockquote[style*="${style}" i]`, format: 'block' })),
  // Word writes a list item as a paragraph (MsoListParagraph, or …CxSpFirst/Middle/Last in a run), no
  // margin in its style sheet either, and its marker as text in a span Word itself ignores
  // (mso-list:Ignore): "·" in the Symbol font (the rendered "•"), "o", "§" or "1.". The item is a line
  // and its marker the "- " of any other list (the Symbol "·" alone would make the SMS UCS-2), unless
  // it numbers the item ("1.", "a)", "iv."): then it is the item's number, kept as written.
  { selector: 'p[class^="MsoListParagraph" i]', format: 'block', options: { leadingLineBreaks: 1, trailingLineBreaks: 1 } },
  ...['mso-list:Ignore', 'mso-list: Ignore'].map((style) => ({ selector: `span[style*="${style}" i]`, format: 'wordListMarker' })),
  { selector: 'ul', options: { itemPrefix: '- ' } },
  { selector: 'ol', format: 'numberedList' },
  // A form's fields each on their line: inline, a textarea's text and a list's choice ran together ("form textopt A").
  { selector: 'textarea', format: 'block', options: { leadingLineBreaks: 1, trailingLineBreaks: 1 } },
  { selector: 'select', format: 'chosenOption' },
  // A rule is HTML_RULE through the text rules (a footer or a quoted header below it), then a paragraph break (withoutRelayMarkers).
  { selector: 'hr', format: 'htmlRule' },
  { selector: 'table', format: 'boundedTable', options: { uppercaseHeaderCells: false, colSpacing: 1, maxColumnWidth: Number.MAX_SAFE_INTEGER } },
];
/** Gmail's quote container is read by gmailQuote: the writer answers inside it. */
const GMAIL_QUOTE_CONTAINER = { selector: 'div.gmail_quote', format: 'gmailQuote' };
const REPLY_SELECTORS: Selectors = [
  ...COMMON_SELECTORS,
  { selector: 'blockquote', format: 'replyBlockquote' },
  GMAIL_QUOTE_CONTAINER,
  ...QUOTE_AND_SIGNATURE_SELECTORS,
];
/** A forward's quote elements hold what was forwarded: they are kept, without `>` prefixes. */
const FORWARD_SELECTORS: Selectors = [...COMMON_SELECTORS, { selector: 'blockquote', format: 'block' }];
const NEW_SELECTORS: Selectors = [...COMMON_SELECTORS, { selector: 'blockquote', format: 'block' }, GMAIL_QUOTE_CONTAINER, ...QUOTE_AND_SIGNATURE_SELECTORS];
/** How a mail's HTML is read: a reply's quotes go; in a mail that answers nothing a blockquote other than a client's quote element is text (a citation, an indent); a forward's quotes are its content. */
type Reading = 'reply' | 'new' | 'forward';
const SELECTORS: Readonly<Record<Reading, Selectors>> = { reply: REPLY_SELECTORS, new: NEW_SELECTORS, forward: FORWARD_SELECTORS };
/**
 * The rows of a table converted, the cells of a row, and the columns or rows one cell spans:
 * html-to-text lays a table out in a square as wide as its rows or columns, whichever are more, and
 * transposes it, so its time grows with the square of either (10,000 cells in a row: 2.5 s, 20,000
 * rows: 3.6 s; a lone `colspan=100000`: 40 s). A row of a table is a line of the SMS, which carries
 * fewer than a thousand characters, and a layout table of a mail has a few dozen rows and cells; a
 * span of more than a few is alignment, which a text has none of. Within these a table's layout is at
 * most MAX_TABLE_CELLS × MAX_CELL_SPAN columns wide (the spans of the rows above pushing a row's cells
 * right at most that far again).
 */
const MAX_TABLE_ROWS = 1024;
const MAX_TABLE_CELLS = 64;
const MAX_CELL_SPAN = 8;

/** html-to-text's own dataTable, on the table cut to MAX_TABLE_ROWS rows of MAX_TABLE_CELLS cells, each spanning MAX_CELL_SPAN at most. */
const boundedTable: FormatCallback = (elem, walk, builder, options) => {
  let rows = 0;
  /** Whether a child of the table or of a section stays: a row within MAX_TABLE_ROWS (its cells bounded), or a section with its rows. */
  const kept = (node: DomNode): boolean => {
    // The sections html-to-text reads rows from (its walkTable).
    if (node.type === 'tag' && ['thead', 'tbody', 'tfoot', 'center'].includes(node.name ?? '')) node.children = node.children?.filter(kept);
    if (node.type !== 'tag' || node.name !== 'tr') return true;
    if (++rows > MAX_TABLE_ROWS) return false;
    node.children = node.children?.filter((child) => child.type === 'tag').slice(0, MAX_TABLE_CELLS);
    for (const cell of node.children ?? []) {
      for (const span of ['colspan', 'rowspan']) {
        const value = cell.attribs?.[span];
        if (value !== undefined && +value > MAX_CELL_SPAN) cell.attribs = { ...cell.attribs, [span]: String(MAX_CELL_SPAN) };
      }
    }
    return true;
  };
  elem.children = elem.children?.filter(kept);
  builder.options.formatters.dataTable?.(elem, walk, builder, options);
};

/** A Word list item's marker that numbers it: digits, a letter or a Roman numeral, then `.` or `)` ("1.", "a)", "iv."). */
const WORD_NUMBER = /^(?:\d{1,3}|[a-z]|[ivxlcdm]{1,6})[.)]$/i;
const textOf = (node: DomNode): string => (node.type === 'text' ? (node.data ?? '') : (node.children ?? []).map(textOf).join(''));
/** A Word list item's marker: its number as written, or a symbol bullet (`·`, `o`, `§`) as what other lists' items start with. */
const wordListMarker: FormatCallback = (elem, _walk, builder) => {
  const marker = textOf(elem)
    .replace(/&nbsp;/g, ' ')
    .trim();
  builder.addInline(WORD_NUMBER.test(marker) ? `${marker} ` : '- ');
};

/**
 * The numbers letters and Roman numerals write an item in: CSS's lower-roman/upper-roman range, which
 * browsers fall back to digits outside of (a Roman numeral grows by one "m" per thousand, so a
 * `start="10000000000"` would build megabytes). Letters are held to it too: past "eww" they mean nothing.
 */
const MAX_LETTERED_ITEM = 3999;
/**
 * The largest `start` or `value` an item's number is read as, either sign: a list numbered past a
 * million is no list a writer sends, and a number held to it is a short prefix.
 */
const MAX_ITEM_NUMBER = 1_000_000;
/** An `<ol>`'s `start` or `<li>`'s `value`, held to ±MAX_ITEM_NUMBER; undefined when absent or not a number. */
function itemNumberAttribute(value: string | undefined): number | undefined {
  const number = Number.parseInt(value ?? '', 10);
  return Number.isFinite(number) ? Math.max(-MAX_ITEM_NUMBER, Math.min(MAX_ITEM_NUMBER, number)) : undefined;
}

/** An item's number in an `<ol>`'s `type`: letters (a, b … z, aa), Roman numerals (i, ii …), or digits, which also write what letters and numerals cannot (outside 1–MAX_LETTERED_ITEM). */
function itemNumber(value: number, type: string | undefined): string {
  if (value < 1 || value > MAX_LETTERED_ITEM || (type !== 'a' && type !== 'A' && type !== 'i' && type !== 'I')) return String(value);
  const lower = type === 'a' || type === 'i';
  let number = '';
  if (type === 'a' || type === 'A') {
    for (let left = value; left > 0; left = Math.floor((left - 1) / 26)) number = String.fromCharCode(97 + ((left - 1) % 26)) + number;
  } else {
    let left = value;
    for (const [numeral, worth] of ROMAN_NUMERALS) for (; left >= worth; left -= worth) number += numeral;
  }
  return lower ? number : number.toUpperCase();
}
const ROMAN_NUMERALS = [
  ['m', 1000],
  ['cm', 900],
  ['d', 500],
  ['cd', 400],
  ['c', 100],
  ['xc', 90],
  ['l', 50],
  ['xl', 40],
  ['x', 10],
  ['ix', 9],
  ['v', 5],
  ['iv', 4],
  ['i', 1],
] as const;

/**
 * An ordered list as mail clients and browsers show it: each item after its number ("1. ", from the
 * list's `start`, in its `type`'s letters or Roman numerals, counting down when `reversed`, an item's
 * `value` setting it): "Do not skip step 2" and "reply with its letter" need them. html-to-text's own
 * writes a blank before each number.
 */
const numberedList: FormatCallback = (elem, walk, builder, options) => {
  const nested = elem.parent?.name === 'li';
  const children = (elem.children ?? []).filter((child) => child.type !== 'text' || (child.data ?? '').trim() !== '');
  const attribs: Record<string, string | undefined> = elem.attribs ?? {};
  const reversed = attribs.reversed !== undefined;
  let next = itemNumberAttribute(attribs.start) ?? (reversed ? children.filter((child) => child.name === 'li').length : 1);
  const items = children.map((node) => {
    if (node.name !== 'li') return { node, prefix: '' };
    next = itemNumberAttribute(node.attribs?.value) ?? next;
    const prefix = `${itemNumber(next, attribs.type)}. `;
    next += reversed ? -1 : 1;
    return { node, prefix };
  });
  if (items.length === 0) return;
  builder.openList({
    interRowLineBreaks: 1,
    leadingLineBreaks: nested ? 1 : (options.leadingLineBreaks ?? 2),
    maxPrefixLength: Math.max(...items.map(({ prefix }) => prefix.length)),
    prefixAlign: 'left',
  });
  for (const { node, prefix } of items) {
    builder.openListItem({ prefix });
    walk([node], builder);
    builder.closeListItem();
  }
  builder.closeList({ trailingLineBreaks: nested ? 1 : (options.trailingLineBreaks ?? 2) });
};

const RELAY_MARKER = new RegExp(RELAY_MARKERS.join('|'), 'g');
/** A list item's prefix and the indent of its further lines (the `- ` or number of COMMON_SELECTORS' lists), before a block on its own line. */
const LIST_INDENT = /^\s*(?:- |[\da-z]+\.\s+)?/i;
/** The relay's marker a line of the text is, its list item's indent aside, or undefined. */
const markerOf = (line: string) => RELAY_MARKERS.find((marker) => line.replace(LIST_INDENT, '') === marker);

/**
 * The text read from HTML without the relay's markers, its last step: a line that is one (an HTML_RULE the text rules
 * left: 40 characters of rule would cost a quarter of an SMS) is a paragraph break, and one standing
 * beside text on a line (a rule or quote in a table's cell beside another) goes; left, any of them
 * would make the SMS UCS-2.
 */
export const withoutRelayMarkers = (text: string) =>
  RELAY_MARKERS.some((marker) => text.includes(marker))
    ? text
        .split('\n')
        .map((line) => (markerOf(line) === undefined ? line.replace(RELAY_MARKER, '') : ''))
        .join('\n')
    : text;
/** A line of the text as its HTML writes it, for `smsrelay preview`: a rule as `<hr>`, and no stand-in of a removed quote element. */
export const asHtmlWrites = (line: string) => line.replaceAll(HTML_RULE, '<hr>').replace(RELAY_MARKER, '').trim();
const htmlRule: FormatCallback = (_elem, _walk, builder) => {
  builder.openBlock({ leadingLineBreaks: 2 });
  builder.addLiteral(HTML_RULE);
  builder.closeBlock({ trailingLineBreaks: 2 });
};

/** A list's options, in an `<optgroup>` or not. */
const optionsOf = (elem: DomNode): DomNode[] =>
  elem.children.flatMap((child) => (child.name === 'option' ? [child] : child.name === 'optgroup' ? optionsOf(child) : []));
/**
 * A list (`<select>`) shows its chosen option: the one marked `selected`, else the first, as a browser
 * does. Every option would put choices the form never made on the phone.
 */
const chosenOption: FormatCallback = (elem, walk, builder) => {
  const options = optionsOf(elem);
  const chosen = options.find((option) => option.attribs?.selected !== undefined) ?? options[0];
  builder.openBlock({ leadingLineBreaks: 1 });
  walk(chosen?.children ?? [], builder);
  builder.closeBlock({ trailingLineBreaks: 1 });
};
const isBlockquote = (node: DomNode) => node.type === 'tag' && node.name === 'blockquote';
/**
 * Gmail's quote container (`div.gmail_quote`) holds the attribution (`div.gmail_attr`, or older
 * Gmail's bare text), then the quoted blocks (`blockquote.gmail_quote`), and between and after them
 * what the writer answered inline: that is text, the attribution and the quoted blocks are not.
 */
const gmailQuote: FormatCallback = (elem, walk, builder) => {
  const children = elem.children ?? [];
  const first = children.findIndex(isBlockquote);
  const answers = first === -1 ? [] : children.slice(first + 1).filter((child) => !isBlockquote(child));
  if (!answers.some(hasText)) return;
  builder.openBlock({ leadingLineBreaks: 1 });
  walk(answers, builder);
  builder.closeBlock({ trailingLineBreaks: 1 });
};
const hasText = (node: DomNode): boolean => (node.type === 'text' ? (node.data ?? '').trim() !== '' : (node.children ?? []).some(hasText));
const converterOf = (selectors: Selectors, only?: string[]) =>
  compile({
    wordwrap: false,
    formatters: {
      lineBreak,
      wordListMarker,
      numberedList,
      htmlRule,
      chosenOption,
      boundedTable,
      gmailQuote,
      removedCite,
      removedElement,
      replyBlockquote,
      appleSignature: appleSignatureWhen(true),
      unlessAppleSignature: appleSignatureWhen(false),
    },
    selectors,
    ...(only ? { baseElements: { selectors: only, returnDomByDefault: false } } : {}),
  });
// Compiled once: html-to-text's `convert` merges the options and builds the selector decision
// tree anew on every call, which cost more than the conversion itself.
const CONVERTERS: Readonly<Record<Reading, (html: string) => string>> = {
  reply: converterOf(REPLY_SELECTORS),
  new: converterOf(NEW_SELECTORS),
  forward: converterOf(FORWARD_SELECTORS),
};
/** The text of a mail's signature elements alone. */
const signatureElementsText = converterOf(
  [...COMMON_SELECTORS, { selector: APPLE_SIGNATURE, format: 'appleSignature' }],
  [...SIGNATURE_ELEMENTS, APPLE_SIGNATURE],
);

/**
 * Converters that also skip what a mail's style sheet hides, by its hiding selectors. Compiling one
 * costs several conversions, and the systems that mail a relay are few and keep their template's
 * rules from mail to mail (a ticket system, a monitoring tool, a newsletter service), so a few dozen
 * cover them.
 */
const CONVERTERS_KEPT = 32;
const hidingConverters = new LRUCache<string, (html: string) => string>({ max: CONVERTERS_KEPT });

/**
 * The visible text: without what inline styles, attributes and the style sheets hide. The sheets'
 * rules are read in part (not inline styles that override them, later rules or media queries that
 * show an element again), so when they would hide all the text they were misread: the text is then
 * converted without them. An inline style is the element's own and is honoured as it is: when inline
 * styles hide everything, the body is empty and the subject is the text.
 */
function visibleText(written: string, reading: Reading): string {
  const html = withTitleClosed(written);
  const unhidden = () => withoutQuoteAttributions(CONVERTERS[reading](html), reading);
  const hidden = hiddenSelectors(html);
  if (hidden.length === 0) return unhidden();
  const key = `${reading}:${hidden.join(',')}`;
  let hiding = hidingConverters.get(key);
  if (!hiding) {
    hiding = converterOf([...SELECTORS[reading], ...hidden.map((selector) => ({ selector, format: 'skip' }))]);
    hidingConverters.set(key, hiding);
  }
  const text = withoutQuoteAttributions(hiding(html), reading);
  return text.trim() === '' ? unhidden() : text;
}

const isRemoval = (line: string) => {
  const marker = markerOf(line);
  return marker === REMOVED_CITE || marker === REMOVED_ELEMENT;
};

/**
 * The text without the stand-ins of removed quote elements, and without the attribution right above
 * each removed `blockquote type=cite` (not above Thunderbird's attribution element, nor above a quote
 * element holding its own: the line above those is the writer's). In a mail that answers nothing it
 * goes only when it is certain (isStrongAttribution), as the text rules read one above `>` lines there.
 * Between the writer's lines (inline answers) a removed quote leaves a paragraph break, as `>` lines
 * the text rules remove do; elsewhere nothing.
 */
function withoutQuoteAttributions(text: string, reading: Reading): string {
  if (!text.includes(REMOVED_CITE) && !text.includes(REMOVED_ELEMENT)) return text;
  const kept: string[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' && isRemoval(kept.at(-1) ?? '')) continue;
    if (markerOf(line) === REMOVED_CITE) {
      const above = kept.findLastIndex((earlier) => earlier.trim() !== '');
      // A stand-in stays until the end, so that a quote right below Thunderbird's attribution finds no line to take.
      const start = above >= 0 && !isRemoval(kept[above] ?? '') ? attributionStart(kept, above) : undefined;
      if (start !== undefined && (reading !== 'new' || isStrongAttribution(joinLines(kept, start, above)))) kept.splice(start, above + 1 - start);
    }
    kept.push(line);
  }
  const lines: string[] = [];
  let gap = false;
  for (const line of kept) {
    if (isRemoval(line)) {
      gap = true;
      continue;
    }
    if (gap && (lines.at(-1) ?? '').trim() !== '') lines.push('');
    gap = false;
    lines.push(line);
  }
  return lines.join('\n');
}

export interface HtmlText {
  readonly text: string;
  /** The quoted mail (a client's quote element or Outlook's reply header and below) was removed. */
  readonly quoteRemoved: boolean;
}

/**
 * The visible text of an HTML body, without the quoted mail and signature blocks clients mark; in a
 * reply (`reply`: it has a reply subject, In-Reply-To or References) any other blockquote is quoted
 * with `>` for the text rules too. HTML nested deeper than a browser shows is read flattened at that
 * depth (withBoundedDepth): parsing and converting it deeper would cost time growing with the square
 * of its depth, and overflow html-to-text's recursion. Should some shape still overflow it (or any
 * other limit of the engine), the mail can never be read by any retry: it is refused for good (554,
 * UNREADABLE_MAIL), not deferred as a failure of the relay (451), which its client would retry for days.
 */
export function htmlToText(written: string, forward = false, reply = true): HtmlText {
  try {
    const html = readableHtml(written);
    if (forward) return { text: visibleText(html, 'forward'), quoteRemoved: false };
    const { written: above, header } = writtenPart(html);
    return { text: visibleText(above, reply ? 'reply' : 'new'), quoteRemoved: header || QUOTE_ELEMENT.test(above) };
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    throw new RelayError('UNREADABLE_MAIL', 'The mail cannot be read: its HTML is beyond what the relay reads (nested too deeply); send it as plain text', {
      cause: error,
    });
  }
}

/**
 * The characters of an HTML body converted. The text rules read MAX_READ_CHARS (128 Ki, src/mail/mime.ts)
 * of a body's text, and markup is most of a mail's HTML (an Outlook or newsletter mail's text is a tenth
 * of it or less), so twice that holds more text than the rules need to find the writer's among quotes
 * and signatures, and hundreds of times what an SMS carries. Converting costs microseconds a character,
 * more for long runs of sibling elements (`<p>x</p>`×N: html-to-text's blocks), so a 9 MB HTML body held
 * the event loop for seconds; within this, a few hundred milliseconds at most.
 */
export const MAX_HTML_CHARS = 256 * 1024;

/**
 * The HTML as it is converted: its first MAX_HTML_CHARS characters, cut before the tag that crosses
 * the bound (no tag is read half), nested no deeper than MAX_HTML_DEPTH (withBoundedDepth).
 */
function readableHtml(written: string): string {
  if (written.length <= MAX_HTML_CHARS) return withBoundedDepth(written);
  const tag = written.lastIndexOf('<', MAX_HTML_CHARS);
  return withBoundedDepth(written.slice(0, tag > 0 ? tag : MAX_HTML_CHARS));
}

/** A `<title>` start tag, and its end tag. */
const TITLE_START = /<title\b[^>]*>/i;
const TITLE_END = /<\/title\s*>/i;

/**
 * The HTML with a `<title>` its writer left unclosed (`<title>Report</head><body>…`) closed before the
 * next tag. The parser reads a title's content as raw text up to `</title>`, so without one the whole
 * mail after it would be the title's text, sent with its tags; the writer evidently meant it to end
 * with the line's text.
 */
function withTitleClosed(html: string): string {
  const start = html.match(TITLE_START);
  if (!start || start.index === undefined || TITLE_END.test(html)) return html;
  const content = start.index + start[0].length;
  const next = html.indexOf('<', content);
  const end = next < 0 ? html.length : next;
  return `${html.slice(0, end)}</title>${html.slice(end)}`;
}

/**
 * The HTML above Outlook's reply header (`header`: there was one), without Outlook desktop's
 * signature, which runs from its anchor's paragraph to there (`signature`).
 */
function writtenPart(html: string): { written: string; signature: string; header: boolean } {
  const header = html.search(OUTLOOK_REPLY_HEADER);
  const kept = header >= 0 ? html.slice(0, header) : html;
  const anchor = kept.search(WORD_SIGNATURE_ANCHOR);
  if (anchor < 0) return { written: kept, signature: '', header: header >= 0 };
  const paragraphs = [...kept.slice(0, anchor).matchAll(/<p[\s>]/gi)];
  const start = paragraphs.at(-1)?.index ?? anchor;
  return { written: kept.slice(0, start), signature: kept.slice(start), header: header >= 0 };
}

/**
 * The text of the signature the HTML marks as the writer's (Word's anchor or a client's signature
 * element above any quote: a quoted mail's own signature is not the writer's), or undefined.
 */
function markedSignature(html: string): string | undefined {
  const { written, signature } = writtenPart(html);
  let text = '';
  if (signature !== '') text = visibleText(signature, 'new');
  else if (SIGNATURE_ELEMENT.test(written)) {
    const quote = written.search(QUOTE_ELEMENT);
    text = signatureElementsText(quote >= 0 ? written.slice(0, written.lastIndexOf('<', quote)) : written);
  }
  return text.trim() === '' ? undefined : text;
}

/**
 * A line as a plain rendering and the HTML's text both write it: Outlook's plain part writes a link
 * as `text<https://…>` and an inline image as `[cid:…]`, which the HTML's text shows as the link's
 * text and nothing.
 */
const comparable = (line: string) =>
  line
    .replace(/<(?:https?|mailto|tel):[^>]*>|\[cid:[^\]]*\]/gi, '')
    .replace(/\s+/g, ' ')
    .trim();

/**
 * The plain alternative without the signature its HTML marks. A client writes the plain part from
 * the HTML, so the signature is there too, but unmarked: a name, a title and a company are lines no
 * rule can tell from the text. So the signature's lines are cut where they stand in the plain part in
 * the same order (blank lines aside); when they do not all stand there (the client wrote the plain
 * part otherwise), it is left to the general rules rather than cut at a guess.
 */
export function plainWithoutSignature(plain: string, html: string): string {
  if (!SIGNATURE_ELEMENT.test(html) && !WORD_SIGNATURE_ANCHOR.test(html)) return plain;
  let signature: string | undefined;
  try {
    signature = markedSignature(readableHtml(html));
  } catch (error) {
    // HTML the relay cannot read (htmlToText): its signature is unknown, and the plain part is sent as it is.
    if (error instanceof RangeError) return plain;
    throw error;
  }
  if (signature === undefined) return plain;
  const wanted = signature
    .split('\n')
    .map(comparable)
    .filter((line) => line !== '' && line !== HTML_RULE);
  const lines = plain.split(/\r?\n/);
  const seen = lines.map(comparable);
  for (let start = seen.indexOf(wanted[0] ?? ''); start >= 0; start = seen.indexOf(wanted[0] ?? '', start + 1)) {
    let matched = 0;
    let end = start;
    for (let at = start; at < lines.length && matched < wanted.length; at++) {
      if (seen[at] === '') continue;
      if (seen[at] !== wanted[matched]) break;
      matched++;
      end = at;
    }
    // An image under the signature's last line (a logo: `[cid:…]` in the plain part) is the signature's too.
    while (end + 1 < lines.length && seen[end + 1] === '' && lines[end + 1]?.trim() !== '') end++;
    if (matched === wanted.length) return [...lines.slice(0, start), ...lines.slice(end + 1)].join('\n');
  }
  return plain;
}
