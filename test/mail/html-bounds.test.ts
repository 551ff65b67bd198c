import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { htmlToText, MAX_HTML_CHARS } from '../../src/mail/html.ts';
import { linearly, workOf } from '../helpers/work-count.ts';

const text = (html: string) => htmlToText(html, false, false).text;

describe('the HTML converted is bounded', () => {
  it('reads a huge HTML body as its first MAX_HTML_CHARS characters, cut before the tag crossing the bound', () => {
    const shapes = [
      (index: number) => `<p>line ${index}</p>`,
      (index: number) => `<table><tr><td>cell ${index}</td></tr></table>`,
      (index: number) => `<ul><li>item ${index}<li>more</ul><div class="a&quot;<b>">x</div>`,
    ];
    for (const shape of shapes) {
      let html = '';
      for (let index = 0; html.length < 4 * MAX_HTML_CHARS; index++) html += shape(index);
      const prefix = html.slice(0, html.lastIndexOf('<', MAX_HTML_CHARS));
      assert.equal(text(html), text(prefix));
      assert.ok(text(html).length > 0);
    }
  });

  it('converts a table of its first rows and cells, each spanning a few columns at most, whatever it declares', () => {
    const cells = (count: number, span = '') => Array.from({ length: count }, (_, index) => `<td${span}>c${index}</td>`).join('');
    const wide = text(`<table><tr>${cells(5000)}</tr></table>`);
    assert.match(wide, /^c0 c1 c2 /);
    assert.ok(wide.split(' ').length < 5000, 'the cells beyond the bound are not read');
    const long = text(`<table><tbody>${'<tr><td>row</td></tr>'.repeat(30_000)}</tbody></table>`);
    assert.ok(long.split('\n').length < 30_000, 'the rows beyond the bound are not read');
    // A span the converter would lay out cell by cell (a lone colspan=100000 took 40 s) reads as a short one.
    for (const span of ['colspan', 'rowspan'])
      assert.equal(
        text(`<table><tr>${cells(3, ` ${span}="100000"`)}</tr><tr>${cells(3)}</tr></table>`),
        text(`<table><tr>${cells(3, ` ${span}="8"`)}</tr><tr>${cells(3)}</tr></table>`),
      );
  });

  it("reads what stands above a reply's blockquote only so far: blockquotes among empty elements cost linear work", () => {
    // Whether a bare blockquote is quoted is read from the lines right above it; read back to the top, every empty
    // element before it was read again for each blockquote.
    const reply = (count: number) => `<p>Steps:</p>${'<div></div><blockquote></blockquote>'.repeat(count)}<p>End</p>`;
    linearly((count) => workOf(() => htmlToText(reply(count))).work, 500);
  });
});
