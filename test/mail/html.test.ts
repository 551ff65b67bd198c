import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_HTML_DEPTH, withBoundedDepth } from '../../src/mail/html-depth.ts';
import { htmlWithoutNoncharacters } from '../../src/mail/html-lines.ts';
import { htmlToText, plainWithoutSignature } from '../../src/mail/html.ts';
import { MAX_HIDING_SELECTORS, MAX_STYLE_CHARS } from '../../src/mail/style-sheets.ts';
import { configSchema } from '../../src/config/schema.ts';
import { extractRequest, parseMail } from '../../src/mail/extract.ts';
import { textPolicyFor } from '../../src/mail/policy.ts';
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

  it('skips what a style sheet hides by class, id or a type with a class: preheaders and tracking text', () => {
    const html = `<html><head><style type="text/css"><!--
      /* .note { display: none } is a comment */
      @charset "utf-8";
      p { margin: 0 }
      .preheader { display: none !important; font-size: 1px }
      #tracking, .mobile-only { max-height: 0px; overflow: hidden; mso-hide: all }
      span.faded { opacity: 0 }
      .outlook-only { mso-hide: all } .spacer { visibility: hidden }
      .shown { display: none; display: block } .note { content: "}"; color: #999 }
    --></style></head><body><span class="preheader">Preview: 2 new tickets</span><div id="tracking">[7K2QRW]</div>
      <table class="mobile-only"><tr><td>Open the app</td></tr></table><p>Ticket <span class="faded">x</span>#4711 updated</p>
      <p class="outlook-only">Outlook</p><p class="spacer">&nbsp;</p><p class="shown">Shown</p><p class="note">Note</p><a class="preheader" href="https://x.example">link</a></body></html>`;
    assert.equal(toText(html), 'Ticket #4711 updated\n\nShown\n\nNote');
    assert.equal(htmlToText(`<style>.pre{display:none}</style><div class="pre">preheader</div><blockquote>forwarded</blockquote>`, true).text, 'forwarded');
  });

  it('honours only the style rules that hide from every reader', () => {
    const html = `<style>
      @media all { .everywhere { display: none } }
      @media only screen and (max-width: 600px) { .desktop { display: none !important } }
      @media (prefers-color-scheme: dark) { .light { display: none } }
      u + .body .gmail-hide, [owa] .owa-hide, a:hover, .tab:checked + .panel, div { display: none }
      .columns { font-size: 0 } .capped { max-height: 0 }
    </style><style media="print">.screen-only { display: none }</style>
    <!--[if mso]><style>.not-outlook { display: none }</style><![endif]-->
    <div class="everywhere">Everywhere</div><div class="desktop">Desktop</div><div class="light">Light</div>
    <div class="gmail-hide">Gmail</div><div class="columns"><p>Column</p></div><div class="capped">Capped</div>
    <div class="screen-only">Screen</div><div class="not-outlook">Not Outlook</div>`;
    assert.equal(toText(html), 'Desktop\nLight\nGmail\n\nColumn\n\nCapped\nScreen\nNot Outlook');
  });

  it('sends the text when the style sheet would hide all of it, and nothing when inline styles do', () => {
    assert.equal(toText('<style>.wrapper { display: none }</style><div class="wrapper"><p>Pump 3 stopped</p></div>'), 'Pump 3 stopped');
    assert.equal(toText('<style>.pre { display: none }</style><div class="pre">preheader</div><div style="display:none">Pump 3 stopped</div>'), 'preheader');
    assert.equal(toText('<div style="display:none">Pump 3 stopped</div>'), '');
  });

  it('honours a bounded number of hiding selectors and reads a bounded length of style text', () => {
    const classes = Array.from({ length: MAX_HIDING_SELECTORS + 2 }, (_, index) => `h${index}`);
    const rules = classes.map((name) => `.${name} { display: none }`).join('\n');
    const divs = classes.map((name) => `<div class="${name}">${name}</div>`).join('');
    assert.equal(toText(`<style>${rules}</style>${divs}<p>End</p>`), `${classes.slice(-2).join('\n')}\n\nEnd`);
    const padding = `/* ${'x'.repeat(MAX_STYLE_CHARS)} */`;
    assert.equal(toText(`<style>${padding}</style><style>.late { display: none }</style><div class="late">Late</div><div>End</div>`), 'Late\nEnd');
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

  it("keeps a blockquote that is no client's quote: an indent always, one nothing marks as a quote in a reply too, any other in a mail that answers nothing", () => {
    const indent = '<div>Tonight:<blockquote style="margin:0 0 0 40px;border:none;padding:0px"><div>Stop pump 3</div></blockquote></div>';
    assert.equal(toText(indent), 'Tonight:\nStop pump 3');
    assert.equal(
      htmlToText('<p>As the manual says:</p><blockquote>Close V12 first.</blockquote>', false, false).text,
      'As the manual says:\n\nClose V12 first.',
    );
    // Thunderbird's Indent button writes a bare blockquote: in a reply it is the writer's text unless something marks it a quote.
    assert.equal(toText('<p>Steps:</p><blockquote><p>1. Code 4711<br>2. Push</p></blockquote><p>Thanks!</p>'), 'Steps:\n\n1. Code 4711\n2. Push\n\nThanks!');
    for (const quote of [
      '<p>On 6 Dec 2026, Bob wrote:</p><blockquote>Close V12 first?</blockquote>',
      '<div>Bob &lt;bob@example.com&gt; 6 Dec 2026 15:01:<br><blockquote>Close V12 first?</blockquote></div>',
      '<blockquote cite="mid:x@example.com">Close V12 first?</blockquote>',
      '<blockquote class="gmail_quote">Close V12 first?</blockquote>',
      '<blockquote style="margin:0 0 0 .8ex;border-left:1px #ccc solid;padding-left:1ex">Close V12 first?</blockquote>',
    ])
      assert.match(toText(`<p>Yes</p>${quote}`), /^> Close V12 first\?$/m, quote);
    // A date alone above it is as often the writer's heading.
    assert.equal(toText('<p>Moved to 7 Dec 2026 at 10:00:</p><blockquote>Room B12</blockquote>'), 'Moved to 7 Dec 2026 at 10:00:\n\nRoom B12');
    assert.equal(htmlToText('<div>Ok</div><blockquote type="cite">old</blockquote>', false, false).text, 'Ok');
  });

  it('reads the line above a bare blockquote as the mail shows it: what inline styles, attributes or its style sheet hide is no attribution', () => {
    const attribution = 'On 6 Dec 2026, Bob &lt;bob@example.com&gt; wrote:';
    for (const hidden of [
      `<span style="display:none">${attribution}</span>`,
      `<div hidden>${attribution}</div>`,
      `<style>.preheader { display: none }</style><div class="preheader">${attribution}</div>`,
    ])
      assert.equal(toText(`<p>Steps:</p>${hidden}<blockquote><p>1. Code 4711</p></blockquote>`), 'Steps:\n\n1. Code 4711', hidden);
  });

  it('drops Gmail and Apple quotes but keeps a bottom-posted reply', () => {
    assert.equal(toText('<div>Ok</div><div class="gmail_quote">On Mon wrote:<blockquote>old</blockquote></div>'), 'Ok');
    assert.equal(toText('<blockquote type="cite">old</blockquote><div>New text</div>'), 'New text');
  });

  it("drops an attribution written outside a blockquote type=cite right above it, wrapped too; a line above Thunderbird's own attribution element stays", () => {
    assert.equal(tidy(toText('<p>Yes</p><p>On 6 Dec 2026, at 15:01, Bob wrote:</p><blockquote type="cite">old</blockquote><p>Below</p>')), 'Yes\n\nBelow');
    assert.equal(
      tidy(toText('<div>Am 06.12.2026 um 15:01 schrieb Bob<br>&lt;bob@example.com&gt;:</div><blockquote type="cite">old</blockquote><div>Below</div>')),
      'Below',
    );
    // The line above the quote is not an attribution: the writer's, kept.
    assert.equal(tidy(toText('<p>Yes, see below.</p><blockquote type="cite">old</blockquote><p>Below</p>')), 'Yes, see below.\n\nBelow');
    const thunderbird =
      '<div>Done at 15:00:</div><div class="moz-cite-prefix">On 06/12/2026 15:01, Bob wrote:<br></div><blockquote type="cite">old</blockquote><div>Below</div>';
    assert.equal(tidy(toText(thunderbird)), 'Done at 15:00:\n\nBelow');
  });

  it("keeps the writer's line above Yahoo's and Proton's quote elements, which hold their own attribution", () => {
    const yahoo = '<div class="yahoo_quoted"><div>On Sunday, 6 December 2026, 15:01:22 GMT, Bob &lt;bob@example.com&gt; wrote:</div><div>old</div></div>';
    const proton =
      '<div class="protonmail_quote">------- Original Message -------<br>On Sunday, 6 December 2026 at 15:01, Bob &lt;bob@example.com&gt; wrote:<br><blockquote class="protonmail_quote" type="cite">old</blockquote></div>';
    const protonBlockquote = '<blockquote class="protonmail_quote" type="cite">old</blockquote>';
    for (const quote of [yahoo, proton, protonBlockquote]) {
      assert.equal(
        tidy(toText(`<p>Yes</p><p>Gate 4 closed on 6 Dec 2026 at 15:00:</p>${quote}<p>Below</p>`)),
        'Yes\n\nGate 4 closed on 6 Dec 2026 at 15:00:\n\nBelow',
        quote,
      );
    }
  });

  it('in a mail that answers nothing, takes the line above a quote along only when it is certainly an attribution, as the text rules do', () => {
    const newMail = (line: string) => tidy(htmlToText(`<p>Top line.</p><p>${line}</p><blockquote type="cite">old</blockquote><p>Below</p>`, false, false).text);
    for (const line of ['Meeting moved to Monday 7 Dec 2026 at 10:00:', 'Please write to ops@example.com:', 'Here is what Bob wrote:']) {
      assert.equal(newMail(line), `Top line.\n\n${line}\n\nBelow`, line);
    }
    assert.equal(newMail('On 6 Dec 2026, at 15:01, Bob wrote:'), 'Top line.\n\nBelow');
  });

  it("drops Outlook desktop's signature from its _MailAutoSig anchor's paragraph on, and the signature elements of Outlook's other apps and iOS Mail", () => {
    const word =
      '<p class=MsoNormal>Thanks, call me.</p><p class=MsoNormal><o:p>&nbsp;</o:p></p><p class=MsoNormal><a name="_MailAutoSig"><b>Alice Smith</b><br>Ops Lead</a></p><p class=MsoNormal>Example Ltd</p>';
    assert.equal(tidy(toText(word)), 'Thanks, call me.');
    assert.equal(toText('<div>Yes</div><div id="ms-outlook-mobile-signature">Get Outlook for iOS</div>'), 'Yes');
    assert.equal(toText('<div id="divtagdefaultwrapper"><p>Yes</p><div id="Signature"><p>Alice</p></div></div>'), 'Yes');
  });

  it('cuts the signature the HTML marks from the plain alternative where its lines stand, and nothing when they do not all stand there', () => {
    const html = '<div>Ok</div><div id="Signature">Alice Smith<br>Ops Lead</div>';
    assert.equal(plainWithoutSignature('Ok\n\nAlice Smith\nOps Lead\n\nFrom: x', html), 'Ok\n\n\nFrom: x');
    assert.equal(plainWithoutSignature('Ok\n\nAlice Smith\nOperations', html), 'Ok\n\nAlice Smith\nOperations');
    // A quoted mail's own signature is not the writer's.
    assert.equal(
      plainWithoutSignature(
        'Ok\n\nAlice Smith\nOps Lead',
        '<div>Ok</div><blockquote type="cite"><div id="Signature">Alice Smith<br>Ops Lead</div></blockquote>',
      ),
      'Ok\n\nAlice Smith\nOps Lead',
    );
  });

  it("cuts at Outlook's reply header and everything after it", () => {
    assert.equal(toText('<p>Will do</p><div id="appendonsend"></div><hr><div id="divRplyFwdMsg"><b>From:</b> Alice</div><div>old</div>'), 'Will do');
  });
});

describe('form fields and rules, as the phone gets them', () => {
  const POLICY = textPolicyFor(configSchema.shape.text.parse(undefined), 'sender@example.com');
  /** The SMS text of an HTML-only mail, read and stripped as the relay does. */
  const sent = async (html: string, headers = 'Subject: Disk\r\n') =>
    extractRequest(
      await parseMail(Buffer.from(`From: a@example.com\r\n${headers}MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n${html}\r\n`)),
      POLICY,
      false,
    ).text;

  it('a list (<select>) shows its chosen option, or its first when none is marked, never every choice', () => {
    const form =
      '<p>Severity:</p><select><option>low</option><optgroup label="urgent"><option selected>high</option></optgroup></select><select><option>db1</option><option>db2</option></select>';
    assert.equal(toText(form), 'Severity:\n\nhigh\ndb1');
  });

  it('a quote or rule in a table cell or a list item leaves no marker in the SMS, and takes nothing of the cell or item beside it', async () => {
    const reply = 'Subject: Re: Disk\r\nIn-Reply-To: <disk@example.com>\r\n';
    const cases: Array<[string, string]> = [
      [
        '<p>Yes, gate 4.</p><table><tr><td>Status ok</td><td><blockquote type="cite">old</blockquote></td></tr></table><p>Below</p>',
        'Yes, gate 4.\n\nStatus ok\n\nBelow',
      ],
      ['<table><tr><td>Gate 4 ok</td><td><div class="moz-cite-prefix">On 6 Dec 2026, Bob wrote:</div></td></tr></table>', 'Gate 4 ok'],
      ['<table><tr><td>Gate 4</td><td><hr></td></tr></table><p>Open at 8.</p>', 'Gate 4\n\nOpen at 8.'],
      ['<ul><li>Valve 2 closed</li><li><blockquote type="cite">old</blockquote></li></ul><p>Below</p>', '- Valve 2 closed\n\nBelow'],
      [
        '<p>Answers below</p><ol><li>Valve 2?<blockquote type="cite">Is valve 2 closed?</blockquote>Yes, closed.</li></ol>',
        'Answers below\n\n1. Valve 2?\n\nYes, closed.',
      ],
      ['<ul><li>see: <blockquote type="cite">old</blockquote> ok</li></ul>', '- see:\n\nok'],
    ];
    for (const [html, text] of cases) assert.equal(await sent(html, reply), text, html);
  });

  it('a sign-off below an image under a line announcing it is a sign-off: the signature goes', async () => {
    const html = '<p>See the graph below:</p><p><img src="cid:graph"></p><p>Best,<br>Alice Smith<br>IT Operations<br>+44 20 7946 0000</p>';
    assert.equal(await sent(html), 'See the graph below:');
  });

  it("a writer's own private-use characters (SoftBank's emoji U+E001…) are sent, in a run, alone on a line or as a list item, in plain text and HTML", async () => {
    const emoji = '\uE001\uE001\uE001';
    const lines = [`Party at 8 ${emoji}`, emoji, `- ${emoji}`, `- ${'\uE000'.repeat(3)}`, '\uE002'.repeat(3)];
    const plain = await parseMail(
      Buffer.from(`From: a@example.com\r\nSubject: Party\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${lines.join('\r\n')}\r\n`),
    );
    assert.equal(extractRequest(plain, POLICY, false).text, lines.join('\n'));
    assert.equal(await sent(lines.map((line) => `<p>${line}</p>`).join('')), lines.join('\n\n'));
    assert.equal(await sent(`<p>${lines[0]}</p><ul><li>${emoji}</li></ul><hr><p>${emoji}</p>`), `${lines[0]}\n\n- ${emoji}\n\n${emoji}`);
  });

  it('a noncharacter in the mail (U+FDD0…U+FDEF, U+FFFE, U+FFFF…) is dropped: it is no text, and no line of them is read as a rule or a removed quote', async () => {
    const noncharacters = '\uFDD0\uFDD1\uFDEF\uFFFE\uFFFF\u{10FFFF}';
    const plain = await parseMail(
      Buffer.from(
        `From: a@example.com\r\nSubject: Gate\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGate 4${noncharacters} open\r\n\uFDD0\uFDD0\uFDD0\r\nBob\r\n`,
      ),
    );
    assert.equal(extractRequest(plain, POLICY, false).text, 'Gate 4 open\n\nBob');
    // A line of them is no rule: the footer below it is the mail's, as below any line of text.
    const footer = '<p>ACME Monitoring, 1 Main St, Springfield<br>Unsubscribe</p>';
    for (const noncharacter of ['\uFDD0', '\uFDD1', '\uFDD2']) {
      const text = await sent(`<p>Disk full on db1${noncharacters}</p><p>${noncharacter.repeat(3)}</p>${footer}`);
      assert.equal(text, 'Disk full on db1\n\nACME Monitoring, 1 Main St, Springfield\nUnsubscribe', noncharacter);
    }
    // Written as a character reference, which the HTML parser would make one, hexadecimal or decimal, with its `;` or without.
    for (const reference of ['&#xFDD0;', '&#xfdd1', '&#64976;', '&#x10FFFF;']) {
      const text = await sent(`<p>Disk full on db1 &amp;#xFDD0;</p><p>${reference.repeat(3)}</p>${footer}`);
      assert.equal(text, 'Disk full on db1 &#xFDD0;\n\nACME Monitoring, 1 Main St, Springfield\nUnsubscribe', reference);
    }
    // Any other reference is the parser's: one past the last code point is a replacement character, as in a browser.
    assert.equal(await sent('<p>It&#39;s &#x1F600; &#99999999999;</p>'), "It's \u{1F600} \uFFFD");
    assert.equal(await sent(`<p>Disk full on db1</p><hr>${footer}`), 'Disk full on db1');
  });

  it('every noncharacter goes from an HTML part, as it is or as a reference in any notation; a reference to any other code point stays', () => {
    // What a reference is read as, by its number: the parser's rule, checked for each code point the scrub's patterns name or just miss.
    const isNoncharacter = (code: number) => code <= 0x10ffff && /^\p{Noncharacter_Code_Point}$/u.test(String.fromCodePoint(code));
    const codes = [0xfdcf, 0xfdd0, 0xfde5, 0xfdef, 0xfdf0, 0xfffd, 0xfffe, 0xffff, 0x1fffe, 0x1fffd, 0x10fffe, 0x10ffff, 0x110000, 0xffffe, 0xfffff];
    for (const code of [...codes, ...codes.map((code) => code * 16), ...codes.map((code) => code * 10)]) {
      const hex = code.toString(16);
      for (const reference of [`&#x${hex};`, `&#X00${hex.toUpperCase()};`, `&#x${hex} `, `&#${code};`, `&#000${code}`, `&#${code}<`]) {
        const gone = isNoncharacter(code) ? reference.replace(/^&#[^;<\s]+;?/, '') : reference;
        assert.equal(htmlWithoutNoncharacters(`a${reference}b`), `a${gone}b`, reference);
      }
      if (code <= 0x10ffff)
        assert.equal(htmlWithoutNoncharacters(`a${String.fromCodePoint(code)}b`), isNoncharacter(code) ? 'ab' : `a${String.fromCodePoint(code)}b`);
    }
    // A reference the scrub takes out cannot join the text around it into one: the scrub reads the part once.
    assert.equal(htmlWithoutNoncharacters('&&#xFDD0;#xFDD0;'), '&#xFDD0;');
  });

  it('an HTML rule (<hr>) is a paragraph break, yet a footer or a quoted header under it goes as under a typed rule', async () => {
    assert.equal(await sent('<p>Disk full on db1</p><hr><p>Free space on /var is 0 bytes.</p>'), 'Disk full on db1\n\nFree space on /var is 0 bytes.');
    assert.equal(await sent('<p>Disk full on db1</p><hr><p>ACME Monitoring, 1 Main St, Springfield<br>Unsubscribe</p>'), 'Disk full on db1');
    const header = '<p>From: Ana &lt;ana@example.com&gt;<br>Sent: Tuesday, 20 March 2026 08:48<br>To: ops@example.com<br>Subject: db1</p><p>old text</p>';
    const reply = 'Subject: Re: Disk\r\nIn-Reply-To: <disk@example.com>\r\n';
    assert.equal(await sent(`<p>Disk full on db1</p><hr>${header}`, reply), 'Disk full on db1');
    // smsrelay preview names the removed block's first line as the HTML has it.
    const footer = await parseMail(
      Buffer.from('From: a@example.com\r\nContent-Type: text/html\r\n\r\n<p>Disk full on db1</p><hr><p>ACME Monitoring, 1 Main St<br>Unsubscribe</p>\r\n'),
    );
    assert.deepEqual(
      extractRequest(footer, POLICY, false).removed.map(({ first }) => first),
      ['<hr>'],
    );
    // Also where a rule stands beside text (a table's cells), and a removed quote element is no character of the line.
    const cells = await parseMail(
      Buffer.from(
        `From: a@example.com\r\n${reply}Content-Type: text/html\r\n\r\n<p>Yes</p><table><tr><td>&gt; old</td><td><hr></td><td><blockquote type="cite">x</blockquote></td></tr></table>\r\n`,
      ),
    );
    assert.deepEqual(
      extractRequest(cells, POLICY, false).removed.map(({ first }) => first),
      ['> old <hr>'],
    );
    // Under an HTML rule the footer starts at its first line that is one for sure: a contact above it is the alert's.
    assert.equal(
      await sent('<p>Disk full on db1</p><hr><p>Contact the on-call: +49 30 1234567<br>Manage notifications at https://mon.example.com/settings</p>'),
      'Disk full on db1\n\nContact the on-call: +49 30 1234567',
    );
    // In a mail that answers none, a form's or notification's own fields below its rule are its content.
    const form =
      '<p>New message from your website</p><hr><p>From: John Doe &lt;john@example.com&gt;<br>Date: 20 March 2026<br>Subject: Pump in hall 3</p><p>The pump in hall 3 leaks, please call 555 0100.</p>';
    assert.equal(
      await sent(form),
      'New message from your website\n\nFrom: John Doe <john@example.com>\nDate: 20 March 2026\nSubject: Pump in hall 3\n\nThe pump in hall 3 leaks, please call 555 0100.',
    );
    assert.equal(
      await sent(`<p>Disk full on db1</p><hr>${header}`),
      'Disk full on db1\n\nFrom: Ana <ana@example.com>\nSent: Tuesday, 20 March 2026 08:48\nTo: ops@example.com\nSubject: db1\n\nold text',
    );
    // A line a writer typed is sent as typed, whatever it is made of: in text/plain as in HTML.
    const menu = 'Menu\n-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=\nSoup 3 EUR';
    const plain = await parseMail(Buffer.from(`From: a@example.com\r\nSubject: Art\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${menu}\r\n`));
    assert.equal(extractRequest(plain, POLICY, false).text, menu);
    assert.equal(await sent(`<p>${menu.replaceAll('\n', '<br>')}</p>`), menu);
    // A writer's own line of hyphens stays as written.
    assert.equal(await sent('<p>Disk full</p><p>--------</p><p>on db1</p>'), 'Disk full\n\n--------\n\non db1');
  });
});

describe('nesting bounded at MAX_HTML_DEPTH', () => {
  const nested = (tag: string, levels: number, inner: string) => `${`<${tag} class="x>y">`.repeat(levels)}${inner}${`</${tag} >`.repeat(levels)}`;

  it('reads HTML nested deeper as it reads the same HTML at the bound: the tags below it go, their text stays', () => {
    for (const tag of ['div', 'blockquote', 'b', 'span', 'DIV']) {
      const text = (levels: number) => toText(`<p>before</p>${nested(tag, levels, 'deep &amp; kept<br>line two')}<p>after</p>`);
      assert.equal(text(MAX_HTML_DEPTH * 10), text(MAX_HTML_DEPTH), tag);
      assert.match(text(MAX_HTML_DEPTH * 10), /deep & kept/, tag);
    }
  });

  it('leaves HTML within the bound as written, also long runs of elements the parser closes itself (rows, cells, items, paragraphs)', () => {
    const within = [
      nested('div', MAX_HTML_DEPTH, 'x'),
      `<table>${'<tr><td>a<td>b'.repeat(3 * MAX_HTML_DEPTH)}</table>`,
      `<ul>${'<li>item'.repeat(3 * MAX_HTML_DEPTH)}</ul><dl>${'<dt>t<dd>d'.repeat(3 * MAX_HTML_DEPTH)}</dl>`,
      `${'<p>para'.repeat(3 * MAX_HTML_DEPTH)}${'<br><img src=x><hr>'.repeat(3 * MAX_HTML_DEPTH)}`,
      `<select>${'<option>o'.repeat(3 * MAX_HTML_DEPTH)}</select>`,
    ];
    for (const html of within) assert.equal(withBoundedDepth(html), html);
  });

  it('keeps a style sheet or script below the bound an element, so its content stays no text', () => {
    const html = nested('div', MAX_HTML_DEPTH + 5, '<style>.a{color:red}</style><script>var a = "<div>";</script>shown');
    assert.equal(toText(html), 'shown');
  });
});
