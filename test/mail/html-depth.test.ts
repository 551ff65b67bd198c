import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDocument } from 'htmlparser2';
import { MAX_HTML_DEPTH, withBoundedDepth } from '../../src/mail/html-depth.ts';
import { htmlToText } from '../../src/mail/html.ts';
import { mulberry32 } from '../helpers/fuzz-cases.ts';

/** The deepest element of htmlparser2's tree of the HTML, as html-to-text walks it (elements counted, not text). */
function treeDepth(html: string): number {
  let deepest = 0;
  const stack: Array<[{ type?: string; children?: unknown[] }, number]> = [[parseDocument(html), 0]];
  for (let entry = stack.pop(); entry; entry = stack.pop()) {
    const [node, depth] = entry;
    deepest = Math.max(deepest, depth);
    for (const child of node.children ?? []) {
      const element = child as { type?: string; children?: unknown[] };
      if (element.type === 'tag' || element.type === 'script' || element.type === 'style') stack.push([element, depth + 1]);
    }
  }
  return deepest;
}

/** A raw-text element or the implied `<p>` of a stray `</p>` may stand one level below the bound, holding no element. */
const BOUND = MAX_HTML_DEPTH + 1;

/** Tags whose reading the parser makes special: implied closes, void, raw text, foreign content and its integration points. */
const TAGS = [
  'p',
  'div',
  'span',
  'b',
  'table',
  'tbody',
  'tfoot',
  'thead',
  'tr',
  'td',
  'th',
  'li',
  'ul',
  'option',
  'optgroup',
  'select',
  'input',
  'button',
  'textarea',
  'form',
  'svg',
  'math',
  'title',
  'desc',
  'foreignObject',
  'mi',
  'style',
  'script',
  'xmp',
  'noframes',
  'h1',
  'dd',
  'dt',
  'rt',
  'rp',
  'body',
  'head',
  'link',
  'br',
  'hr',
  'img',
  'blockquote',
  'pre',
];

function tagSoup(seed: number, length: number): string {
  const next = mulberry32(seed);
  const pick = () => TAGS[Math.floor(next() * TAGS.length)] ?? 'div';
  const parts: string[] = [];
  for (let at = 0; at < length; at++) {
    const roll = next();
    // More opening than closing tags, so that most soups go past the bound.
    if (roll < 0.55) parts.push(`<${pick()}>`);
    else if (roll < 0.75) parts.push(`</${pick()}>`);
    else if (roll < 0.87) parts.push(`<${pick()}/>`);
    else parts.push('x');
  }
  return parts.join('');
}

describe('withBoundedDepth reads tags as htmlparser2 does', () => {
  it('leaves no element of generated tag soup deeper than the bound in the parser’s own tree, and changes nothing within it', () => {
    // Small bounds, so that a few hundred tags go past them in every way the parser nests or closes.
    for (const bound of [3, 8, 24]) {
      for (let seed = 1; seed <= 400; seed++) {
        const html = tagSoup(seed, 300);
        const bounded = withBoundedDepth(html, bound);
        const depth = treeDepth(bounded);
        assert.ok(depth <= bound + 1, `bound ${bound}, seed ${seed}: depth ${depth} of ${JSON.stringify(html)}`);
        if (treeDepth(html) <= bound) assert.equal(bounded, html, `bound ${bound}, seed ${seed}`);
      }
    }
  });

  const levels = 5000;
  const shapes: Record<string, string> = {
    'a block closing an open <p> before its </p>': '<p><div></p>',
    'a heading likewise': '<h1><div></h1>',
    'a form field closing another': '<select><b><input></select><span>',
    '<noframes>, an ordinary element to the tokenizer': '<noframes>',
    'a self-closed raw-text tag, an open element': '<title/><style/>',
    'self-closed tags in SVG, an integration point reopening HTML': '<svg><div/><desc><div/>',
    'rows and table sections': '<table><tbody><tr><td><tfoot><div>',
  };
  for (const [shape, unit] of Object.entries(shapes))
    it(`bounds ${shape}`, () => {
      const bounded = withBoundedDepth(`${unit.repeat(levels)}x`);
      assert.ok(treeDepth(bounded) <= BOUND, `depth ${treeDepth(bounded)}`);
    });

  it('converts 20,000 levels of <p><div></p> to their text', () => {
    assert.equal(htmlToText(`${'<p><div></p>'.repeat(20_000)}x`).text.trim(), 'x');
  });
});
