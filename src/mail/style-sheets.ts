/**
 * What a mail's `<style>` sheets hide, as selectors for html-to-text to skip: the preheader and
 * tracking text that ESPs, ticket systems and alert templates hide by class or id
 * (`.preheader{display:none!important}`). html-to-text's own selector engine matches them, so only the
 * sheets are read here, by hand: what is needed is each top-level rule's selectors and declarations,
 * while a CSS parser from npm (postcss, css-tree) would build the whole tree of a newsletter's
 * 10–40 KB of CSS for every mail, and postcss throws on the unclosed blocks mail CSS often has (it
 * needs postcss-safe-parser, a second package, for that).
 */

/**
 * The style text read per mail: newsletters' sheets are 5–40 KB, so a mail's rules are read whole,
 * while a mail made of style text cannot make the reading cost more than its conversion.
 */
export const MAX_STYLE_CHARS = 64 * 1024;

/**
 * Hiding selectors honoured per mail: a template hides a handful of things (the preheader, mobile-
 * or Outlook-only blocks). Each one is compiled into the mail's converter, whose cost grows with them.
 */
export const MAX_HIDING_SELECTORS = 16;

/**
 * A selector honoured: a type, class and id compound with at least one class or id (`.preheader`,
 * `span.preheader`, `#preview`). A bare type (`div{display:none}`) would hide every such element, a
 * reset or a mistake rather than a hidden line; combinators, attributes and pseudo-classes mostly aim
 * at one client or a state (Gmail's `u + .body .x`, Outlook.com's `[owa] .x`, `:hover`, `:checked`),
 * so such a rule does not say that a reader never sees the element.
 */
const COMPOUND = /^(?:[a-z][a-z0-9]*)?(?:[.#]-?[_a-z][\w-]*)+$/i;

/**
 * Media queries whose rules apply to every reader. The rules of `@media screen and (max-width: 600px)`
 * hide on small screens only, and `(prefers-color-scheme: dark)` or Apple Mail's device queries aim at
 * some readers too: most often they hide the desktop version of a block whose mobile version shows
 * (the mobile version is hidden by a top-level rule, which is honoured), so the text is there once.
 */
const ALL_MEDIA = /^(?:only\s+)?(?:all|screen)$/i;

/**
 * CSS comments (an unclosed one runs to the end), strings (whose braces are no block; no selector
 * honoured has one, and no hiding value is one) and the `<!--`/`-->` that hide a sheet from old clients.
 */
const COMMENT_OR_STRING = /\/\*[\s\S]*?(?:\*\/|$)|"(?:[^"\\\n]|\\[\s\S])*"?|'(?:[^'\\\n]|\\[\s\S])*'?|<!--|-->/g;

/** What no hiding rule is without: most rules (`img { border: none; display: block }`) are read no further. */
const HIDING_WORD = /display\s*:\s*none|visibility|mso-hide|opacity|max-height/i;

/** Values of a length or opacity that are zero: `0`, `0px`, `0.0`, `0%`. */
const ZERO = /^(?:0+(?:\.0*)?|\.0+)(?:[a-z]+|%)?$/;

/**
 * The selectors (at most MAX_HIDING_SELECTORS, in sheet order) of the rules in the HTML's `<style>`
 * elements that hide an element from every reader: `display:none`, `visibility:hidden`,
 * `mso-hide:all`, `opacity:0`, `max-height:0` with `overflow:hidden`. `font-size:0` is not hiding:
 * hybrid layouts set it on the wrapper of their columns to close the gaps between them, and the
 * columns set their own size. Sheets inside HTML comments (Outlook's `<!--[if mso]>`) apply to one
 * client and are not read.
 */
export function hiddenSelectors(html: string): string[] {
  const css = styleText(html);
  return css ? hidingRules(css.replace(COMMENT_OR_STRING, ' ')) : [];
}

const STYLE_OR_COMMENT = /<!--|<style\b/gi;
const STYLE_END = /<\/style\s*>/gi;
const MEDIA_ATTRIBUTE = /\bmedia\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]*))/i;

/** The text of the `<style>` elements outside HTML comments whose media are all readers', up to MAX_STYLE_CHARS. */
function styleText(html: string): string {
  let css = '';
  for (let at = 0; css.length < MAX_STYLE_CHARS; ) {
    STYLE_OR_COMMENT.lastIndex = at;
    const found = STYLE_OR_COMMENT.exec(html);
    if (!found) break;
    if (found[0] === '<!--') {
      at = html.indexOf('-->', found.index + 4);
      if (at < 0) break;
      continue;
    }
    const open = html.indexOf('>', found.index);
    if (open < 0) break;
    STYLE_END.lastIndex = open;
    const end = STYLE_END.exec(html);
    const media = MEDIA_ATTRIBUTE.exec(html.slice(found.index, open));
    const mediaQuery = media ? (media[1] ?? media[2] ?? media[3] ?? '').trim() : 'all';
    if (ALL_MEDIA.test(mediaQuery)) css += `${html.slice(open + 1, Math.min(end ? end.index : html.length, open + 1 + MAX_STYLE_CHARS - css.length))}\n`;
    if (!end) break;
    at = end.index + end[0].length;
  }
  return css;
}

/** An open block: where a rule's selectors and its declarations start, a block of rules that apply to all, or one not read. */
type Block = { readonly selectors: number; readonly from: number } | 'rules' | 'unread';

/** The hiding rules' compound selectors of a sheet without comments and strings. */
function hidingRules(css: string): string[] {
  const found = new Set<string>();
  const open: Block[] = [];
  let from = 0;
  let nextOpen = css.indexOf('{');
  let nextClose = css.indexOf('}');
  let nextAt = css.indexOf('@');
  while ((nextOpen >= 0 || nextClose >= 0) && found.size < MAX_HIDING_SELECTORS) {
    const opens = nextOpen >= 0 && (nextClose < 0 || nextOpen < nextClose);
    const at = opens ? nextOpen : nextClose;
    if (opens) {
      nextOpen = css.indexOf('{', at + 1);
      if (nextAt >= 0 && nextAt < from) nextAt = css.indexOf('@', from);
      if ((open.at(-1) ?? 'rules') !== 'rules') open.push('unread');
      else if (nextAt < 0 || nextAt > at) open.push({ selectors: from, from: at + 1 });
      else {
        // An at-rule, or a rule after `@import …;` or `@charset …;`, which are no part of its selectors.
        const start = from + css.slice(from, at).lastIndexOf(';') + 1;
        const head = css.slice(start, at).trim();
        if (!head.startsWith('@')) open.push({ selectors: start, from: at + 1 });
        else open.push(/^@media\s/i.test(head) && ALL_MEDIA.test(head.slice(6).trim()) ? 'rules' : 'unread');
      }
    } else {
      nextClose = css.indexOf('}', at + 1);
      const closed = open.pop();
      if (typeof closed === 'object' && hides(css.slice(closed.from, at))) {
        for (const selector of css.slice(closed.selectors, closed.from - 1).split(',')) {
          const compound = selector.trim();
          if (COMPOUND.test(compound)) found.add(compound.replace(/^[a-z0-9]+/i, (type) => type.toLowerCase()));
        }
      }
    }
    from = at + 1;
  }
  return [...found].slice(0, MAX_HIDING_SELECTORS);
}

/** The declarations that may hide, each with its value (`!important` aside). */
const HIDING_DECLARATION = /(?:^|;)\s*(display|visibility|mso-hide|opacity|max-height|overflow)\s*:\s*([^;!]*)/gi;

/** Whether a rule's declarations hide its element and all it holds (the last of a property counts, as in CSS). */
function hides(declarations: string): boolean {
  if (!HIDING_WORD.test(declarations) || declarations.includes('{')) return false;
  const value: Record<string, string> = {};
  for (const [, property, given] of declarations.matchAll(HIDING_DECLARATION)) value[(property ?? '').toLowerCase()] = (given ?? '').trim().toLowerCase();
  return (
    value.display === 'none' ||
    value.visibility === 'hidden' ||
    value['mso-hide'] === 'all' ||
    ZERO.test(value.opacity ?? '') ||
    (ZERO.test(value['max-height'] ?? '') && value.overflow === 'hidden')
  );
}
