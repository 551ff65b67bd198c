import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { htmlToText } from '../../src/mail/html.ts';
import { tidy } from '../../src/mail/strip.ts';

/** The text only; whether a quote went is tested where the reply rules use it. */
const toText = (html: string) => htmlToText(html).text;

describe('htmlToText', () => {
  it('keeps visible text and link text, drops head, styles, images and URLs', () => {
    const html = `<html><head><title>Alert</title><style>p{color:red}</style></head><body>
      <h1>Disk full</h1><p>Host <b>db1</b> at 97%. <a href="https://example.com/t/1">Open ticket</a></p>
      <img src="https://t.example.com/p.gif" width="1" height="1" alt="pixel"></body></html>`;
    assert.equal(toText(html), 'Disk full\n\nHost db1 at 97%. Open ticket');
  });

  it('writes list items with "- " and table rows as lines', () => {
    const html = '<ul><li>one</li><li>two</li></ul><table><tr><th>Host</th><th>State</th></tr><tr><td>db1</td><td>DOWN</td></tr></table>';
    assert.equal(toText(html).replace(/ +/g, ' '), '- one\n- two\n\nHost State\ndb1 DOWN');
  });

  it('sends only the visible text: no hidden preheader, no template, frame, object or SVG text', () => {
    const html = `<body><div style="display: none; max-height: 0; overflow: hidden; mso-hide: all">Preheader: 50% off</div>
      <span style="DISPLAY:NONE !important">hidden</span><table style="mso-hide:all"><tr><td>Outlook only</td></tr></table>
      <p hidden>not yet</p><p style="visibility:hidden">spacer</p><h1>Disk full</h1><p>Host db1</p>
      <template><p>row</p></template><iframe>frame</iframe><object>object</object><svg><text>chart</text></svg><p>End</p></body>`;
    assert.equal(toText(html), 'Disk full\n\nHost db1\n\nEnd');
    assert.equal(htmlToText('<div style="display:none">preheader</div><blockquote>forwarded</blockquote>', true).text, 'forwarded');
  });

  it("adds no empty line for a <br> that ends a block's line; a <br> alone on its line is the empty line it shows", () => {
    assert.equal(toText('<div>Pump 3<br></div><div><span>Valve 12<br></span></div><div>Tank 2</div>'), 'Pump 3\nValve 12\nTank 2');
    assert.equal(tidy(toText('<div>Pump 3</div><div><br></div><div>Tank 2<br><br></div><div>Valve 12</div>')), 'Pump 3\n\nTank 2\n\nValve 12');
    assert.equal(toText('<p>one<br>two<br></p><p>three</p>'), 'one\ntwo\n\nthree');
  });

  it("writes Outlook's MsoNormal paragraphs (no margin) as lines; other paragraphs keep their blank line", () => {
    const outlook =
      '<p class=MsoNormal>Done.<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p><p class=MsoNormal>Regards<o:p></o:p></p><p class=MsoNormal>Ana</p>';
    assert.equal(tidy(toText(outlook)), 'Done.\n\nRegards\nAna');
    assert.equal(toText('<p>Done.</p><p>Ana</p>'), 'Done.\n\nAna');
  });

  it("keeps a blockquote that is no client's quote: an indent always, any other in a mail that answers nothing", () => {
    const indent = '<div>Tonight:<blockquote style="margin:0 0 0 40px;border:none;padding:0px"><div>Stop pump 3</div></blockquote></div>';
    assert.equal(toText(indent), 'Tonight:\nStop pump 3');
    assert.equal(
      htmlToText('<p>As the manual says:</p><blockquote>Close V12 first.</blockquote>', false, false).text,
      'As the manual says:\n\nClose V12 first.',
    );
    assert.equal(toText('<p>Yes</p><blockquote>Close V12 first?</blockquote>'), 'Yes\n\n> Close V12 first?');
    assert.equal(htmlToText('<div>Ok</div><blockquote type="cite">old</blockquote>', false, false).text, 'Ok');
  });

  it('drops Gmail and Apple quotes but keeps a bottom-posted reply', () => {
    assert.equal(toText('<div>Ok</div><div class="gmail_quote">On Mon wrote:<blockquote>old</blockquote></div>'), 'Ok');
    assert.equal(toText('<blockquote type="cite">old</blockquote><div>New text</div>'), 'New text');
  });

  it("cuts at Outlook's reply header and everything after it", () => {
    assert.equal(toText('<p>Will do</p><div id="appendonsend"></div><hr><div id="divRplyFwdMsg"><b>From:</b> Alice</div><div>old</div>'), 'Will do');
  });
});
