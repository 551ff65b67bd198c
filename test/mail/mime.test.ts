/**
 * readMail (the synchronous MIME reader) against mailparser's simpleParser, field by field, on every
 * mail of the text corpus and the fixtures and on structures made to find where the two could part:
 * what readMail reads must be what simpleParser gives, and what it cannot read the same it must
 * leave to simpleParser (undefined). The text is the same to the character: the space-stuffed `>` lines
 * of a flowed text readMail names beside it (ParsedMail.stuffed), never with a mark inside it.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { simpleParser } from 'mailparser';
import { RelayError } from '../../src/errors.ts';
import { MAILPARSER_OPTIONS, parseMail } from '../../src/mail/extract.ts';
import { MAILSPLIT_MAX_HEADER_BYTES, MAX_MIME_PARTS, type ParsedMail, readMail } from '../../src/mail/mime.ts';
import { finishes } from '../helpers/finishes.ts';

const MAIL = fileURLToPath(new URL('./', import.meta.url));
/** Every header the relay reads (extract.ts, parameters.ts). */
const READ_HEADERS = [
  'usercontext',
  'x-usercontext',
  'x-sms-from',
  'x-sms-max-parts',
  'x-sms-delivery-report',
  'auto-submitted',
  'x-sms-send-at',
  'x-smsrelay-loop',
  'content-type',
];

function view(mail: ParsedMail) {
  return {
    subject: mail.subject,
    messageId: mail.messageId,
    inReplyTo: mail.inReplyTo,
    references: mail.references,
    from: mail.from?.value.map(({ address, name }) => ({ address, name })),
    replyTo: mail.replyTo?.value.map(({ address, name }) => ({ address, name })),
    text: mail.text,
    html: mail.html,
    attachments: mail.attachments.map(({ contentType, filename, related }) => ({ contentType, filename, related: related === true })),
    headers: Object.fromEntries(READ_HEADERS.map((name) => [name, [mail.headers.has(name), mail.headers.get(name)]])),
  };
}

async function assertSameAsMailparser(raw: Buffer, label: string): Promise<void> {
  const read = readMail(raw);
  assert.ok(read, `${label}: readMail left it to simpleParser`);
  assert.deepEqual(view(read), view(await simpleParser(raw, MAILPARSER_OPTIONS)), label);
}

const mime = (headers: string, body: string) => Buffer.from(`${headers.trim().split('\n').join('\r\n')}\r\n\r\n${body.split('\n').join('\r\n')}`, 'latin1');

/** Fixtures readMail reads otherwise than simpleParser on purpose (see the describe block below), each with why; fixtures.test.ts holds them to their text. */
const READ_BETTER = new Map([
  ['fixtures/legacy-php-multipart-no-boundary.eml', 'a multipart with no boundary: simpleParser reads no text'],
  ['fixtures/legacy-multipart-no-boundary-no-subject.eml', 'a multipart with no boundary: simpleParser reads no text'],
  [
    'fixtures/legacy-unknown-transfer-encoding.eml',
    'an unknown transfer encoding: simpleParser texts the encoded bytes, readMail makes the part an attachment',
  ],
  ['fixtures/powershell-utf16-bom-labelled-utf8.eml', 'UTF-16 with a BOM under a UTF-8 label: simpleParser reads it as UTF-8, readMail by its BOM'],
  ['fixtures/legacy-raw-koi8r-subject-empty-body.eml', "a raw 8-bit subject: simpleParser gives a U+FFFD per byte, readMail reads it in the text's charset"],
  [
    'fixtures/mutt-pgp-inline-signed-flowed.eml',
    'a clear-signed flowed text: simpleParser joins the dash-escaped "- -- " with the name under it, readMail undoes the escape first',
  ],
]);

describe('readMail reads what simpleParser reads', () => {
  const files = ['corpus/tuning', 'corpus/held-back', 'fixtures'].flatMap((directory) =>
    readdirSync(`${MAIL}${directory}`)
      .filter((file) => file.endsWith('.eml'))
      .map((file) => `${directory}/${file}`)
      .filter((file) => !READ_BETTER.has(file)),
  );

  test('every corpus and fixture mail, field by field', async () => {
    assert.ok(files.length > 350, `only ${files.length} mails`);
    for (const file of files) await assertSameAsMailparser(readFileSync(`${MAIL}${file}`), file);
  });

  const made: Array<[string, Buffer]> = [
    // PHP scripts' hand-built MIME: the closing delimiter forgotten, a base64 attachment on one line (base64_encode() without chunk_split()).
    ['a multipart without its closing delimiter', mime('Content-Type: multipart/mixed; boundary=b', '--b\nContent-Type: text/plain\n\nno end\n')],
    [
      'a multipart whose last part ends the data without a closing delimiter or a line break',
      mime(
        'Content-Type: multipart/mixed; boundary=b',
        '--b\nContent-Type: text/plain\n\ntext\n--b\nContent-Type: application/pdf; name=r.pdf\n\nJVBERi0xLjQK',
      ),
    ],
    [
      'a multipart whose last line opens a part (the closing -- left out)',
      mime('Content-Type: multipart/mixed; boundary=b', '--b\nContent-Type: text/plain\n\ninvoice\n--b\nContent-Type: application/pdf\n\nJVBERi0xLjQK\n--b\n'),
    ],
    [
      'a multipart whose last line opens a part, no line break after it',
      mime('Content-Type: multipart/mixed; boundary=b', '--b\nContent-Type: text/plain\n\ntext\n--b'),
    ],
    [
      'a multipart whose last delimiter opens a part of blank lines',
      mime('Content-Type: multipart/mixed; boundary=b', '--b\nContent-Type: text/plain\n\ntext\n--b\n\n\n'),
    ],
    [
      'a base64 attachment on one line over 64 KiB',
      mime(
        'Content-Type: multipart/mixed; boundary=b',
        `--b\nContent-Type: text/plain\n\nsee the invoice\n--b\nContent-Type: application/pdf; name=r.pdf\nContent-Transfer-Encoding: base64\n\n${Buffer.alloc(70_000, 7).toString('base64')}\n--b--\n`,
      ),
    ],
    [
      'text and HTML side by side in multipart/mixed',
      mime('Content-Type: multipart/mixed; boundary=b', '--b\nContent-Type: text/plain\n\nHello\n--b\nContent-Type: text/html\n\n<p>Hi</p>\n--b--\n'),
    ],
    ['an HTML-only mail', mime('Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\nContent-Type: text/html; charset=utf-8', '<p>Hallo</p>\n')],
    [
      'alternative inside mixed, an inline image in related, attachments by name and by octet-stream',
      mime(
        'Content-Type: multipart/mixed; boundary="outer"',
        [
          'preamble',
          '--outer',
          'Content-Type: multipart/alternative; boundary=alt',
          '',
          '--alt',
          'Content-Type: text/plain; charset=iso-8859-1',
          'Content-Transfer-Encoding: quoted-printable',
          '',
          'Gr=FC=DFe aus K=F6ln =',
          'und mehr',
          '--alt',
          'Content-Type: multipart/related; boundary=rel',
          '',
          '--rel',
          'Content-Type: text/html',
          '',
          '<p>Gr&uuml;&szlig;e <img src="cid:logo@x"></p>',
          '--rel',
          'Content-Type: image/png',
          'Content-ID: <logo@x>',
          'Content-Transfer-Encoding: base64',
          '',
          'iVBORw0KGgo=',
          '--rel--',
          '--alt--',
          '--outer',
          'Content-Type: application/octet-stream',
          'Content-Disposition: attachment; filename="report.pdf"',
          'Content-Transfer-Encoding: base64',
          '',
          'JVBERi0xLjQK',
          '--outer',
          'Content-Type: text/plain; name="notes.txt"',
          "Content-Disposition: attachment; filename*=utf-8''n%C3%B6tes.txt",
          '',
          'attached text',
          '--outer  ',
          'Content-Type: text/plain',
          'Content-Disposition: something-else',
          '',
          'odd disposition',
          '--outer--',
          'epilogue',
        ].join('\n'),
      ),
    ],
    ['base64 UTF-8 with padding inside', mime('Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64', 'SGVsbG8=\nIPCfmoA=\nd29ybGQ\n')],
    ['format=flowed with delsp', mime('Content-Type: text/plain; charset=utf-8; format=flowed; delsp=yes', 'A line that wa \nps and one that \n\ndoes not\n')],
    [
      'windows-1252 and an unknown charset',
      mime(
        'Content-Type: multipart/mixed; boundary=b',
        '--b\nContent-Type: text/plain; charset=windows-1252\n\n\x80 5 \x93quoted\x94\n--b\nContent-Type: text/plain; charset=x-unknown\n\nplain\n--b--\n',
      ),
    ],
    ['ISO-2022-JP', mime('Content-Type: text/plain; charset=ISO-2022-JP\nContent-Transfer-Encoding: 7bit', '\x1b$B$3$s$K$A$O\x1b(B\n')],
    ['headers only', Buffer.from('Subject: nothing else\r\nFrom: a@example.com\r\n')],
    ['no line break at the end, LF only', Buffer.from('Subject: lf\nContent-Type: text/plain\n\nline one\nline two')],
    [
      'the headers the relay reads: repeated, empty, encoded, grouped',
      mime(
        [
          'From: =?UTF-8?B?Sm9zw6k=?= <jose@example.com>, "Team" <team@example.com>',
          'Reply-To: Friends: ann@example.com, bob@example.com;',
          'X-UserContext: first',
          'X-UserContext: second',
          'UserContext:',
          'References:',
          'References: <a@x> b@y',
          'In-Reply-To: c@z',
          'Message-ID: <m@x>',
          'Message-ID: <second@x>',
          'X-SMS-Send-At: Tue, 24 Nov 2026 08:00:00 +0100',
          'X-SMSRelay-Loop:',
          'Auto-Submitted: auto-generated',
          'Subject: =?ISO-8859-1?Q?caf=E9?= ok',
        ].join('\n'),
        'body\n',
      ),
    ],
    [
      'a Content-Type with a comment, an encoded word and an RFC 2231 parameter',
      mime(
        'Content-Type: Multipart/Report (a bounce); report-type="=?utf-8?Q?delivery-status?="; title*=utf-8\'\'%3D%3Futf-8%3FQ%3Fx%3F%3D; boundary=b',
        '--b\nContent-Type: text/plain\n\nreport\n--b--\n',
      ),
    ],
    [
      'parts whose whole body is a line break',
      mime('Content-Type: multipart/mixed; boundary=b', '--b\nContent-Type: text/plain\n\none\n--b\n\n\n--b\n\n\n--b--\n'),
    ],
    [
      'attached messages (kept as attachments by both): by disposition, without one, base64, beside a text/markdown and a text/enriched part',
      mime(
        'Content-Type: multipart/mixed; boundary=b',
        [
          '--b',
          'Content-Type: text/markdown',
          '',
          '# note',
          '--b',
          'Content-Type: text/enriched',
          'Content-Disposition: inline',
          '',
          '<bold>note</bold>',
          '--b',
          'Content-Type: message/rfc822',
          'Content-Disposition: attachment; filename="fwd.eml"',
          '',
          'Subject: inner',
          'Content-Type: multipart/mixed; boundary=c',
          '',
          '--c',
          'Content-Type: text/plain',
          '',
          'inner text',
          '--c--',
          '--b',
          'Content-Type: message/rfc822',
          '',
          'Subject: second',
          '',
          'second text',
          '--b',
          'Content-Type: message/rfc822',
          'Content-Disposition: inline',
          'Content-Transfer-Encoding: base64',
          '',
          'U3ViamVjdDogdGhpcmQNCg0KdGhpcmQgdGV4dA0K',
          '--b--',
        ].join('\n'),
      ),
    ],
    [
      'a multipart that closes before any part',
      mime('Content-Type: multipart/mixed; boundary=b', 'pre\n--b--\n--b\nContent-Type: text/plain\n\nafter the end\n--b--\n'),
    ],
  ];
  for (const [label, raw] of made) test(label, () => assertSameAsMailparser(raw, label));

  test('header values with no encoded word (read as written, without libmime) and near misses: the same subject, ids and names', async () => {
    // decodeWords hands back a value without `=?` or NUL as it is: these hold what libmime's patterns look at.
    const values = [
      'Price = ? EUR',
      'a ?= b',
      'x= ?q?y?=',
      'Re: 50% =? maybe',
      'tail =?',
      'a__JOIN__b',
      'a__\u0000JOIN\u0000__b',
      'Caf=E9',
      '=?utf-8?q?caf=C3=A9?= ok',
      '?=?=',
    ];
    for (const value of values) {
      const raw = mime(
        `From: "${value.replaceAll('"', '')}" <a@example.com>\nSubject: ${value}\nMessage-ID: <${value.replace(/[\s<>@]/g, '')}@example.com>\nContent-Type: text/plain; name="${value}"`,
        'text\n',
      );
      await assertSameAsMailparser(raw, value);
    }
  });

  test('an address header of one address alone or with a plain name (read without addressparser) and their near misses: the same From and Reply-To', async () => {
    const local = "aZ09.!#$%&'*+/=?^_`{|}~-";
    const domain = 'aZ09.-';
    let seed = 29;
    const random = (below: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % below;
    };
    const written = (chars: string) => Array.from({ length: 1 + random(6) }, () => chars[random(chars.length)]).join('');
    const forms = [
      (address: string) => address,
      (address: string) => `<${address}>`,
      (address: string) => ` <${address}>\t`,
      (address: string) => `<${address}`,
      (address: string) => `${address}>`,
      (address: string) => `Ops <${address}>`,
      (address: string) => ` J. O'Neil-Smith 2nd\t<${address}> `,
      (address: string) => `Ops  Team <${address}>`,
      (address: string) => `Ops, Team <${address}>`,
      (address: string) => `"Ops Team" <${address}>`,
      (address: string) => `Ops Team <${address}> x`,
      (address: string) => `Ops_Team <${address}>`,
      (address: string) => `Ops.Team<${address}>`,
      (address: string) => `${address} (ops)`,
      (address: string) => `=?utf-8?q?x?=${address}`,
    ];
    for (let round = 0; round < 60 * forms.length; round++) {
      const address = `${written(local)}@${written(domain)}`;
      const form = forms[round % forms.length] ?? forms[0];
      const header = form?.(address) ?? address;
      await assertSameAsMailparser(mime(`From: ${header}\nReply-To: ${header}\nSubject: a`, 'text\n'), `From: ${header}`);
    }
  });

  test('mutants of the corpus (lines dropped, repeated, cut, blank lines added): readMail agrees or leaves them', async () => {
    let seed = 15;
    const random = (below: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return Math.floor((seed / 2 ** 31) * below);
    };
    let read = 0;
    for (let round = 0; round < 400; round++) {
      const file = files[random(files.length)] as string;
      const lines = readFileSync(`${MAIL}${file}`, 'latin1').split(/(?<=\n)/);
      for (let change = 0; change <= random(3); change++) {
        const at = random(lines.length);
        const kind = random(5);
        if (kind === 0) lines.splice(at, 1);
        else if (kind === 1) lines.splice(at, 0, lines[random(lines.length)] ?? '');
        else if (kind === 2) lines.splice(at);
        else if (kind === 3) lines.splice(at, 0, '\r\n');
        else lines[at] = (lines[at] ?? '').replace(/\r\n$/, '\n');
      }
      const raw = Buffer.from(lines.join(''), 'latin1');
      const mail = readOrCorrupt(raw);
      if (!mail) continue;
      read++;
      const parsed = view(await simpleParser(raw, MAILPARSER_OPTIONS));
      // A charset line dropped leaves 8-bit text that is not UTF-8: U+FFFD from simpleParser, windows-1252 from readMail.
      if (JSON.stringify(parsed).includes('\uFFFD')) assert.ok(!JSON.stringify(view(mail)).includes('\uFFFD'), `mutant ${round} of ${file}`);
      // A multipart left without a delimiter of its boundary (a blank line cut its folded boundary off): simpleParser reads no text, readMail its body.
      // A Content-Type line dropped from an HTML mail: readMail reads its document as HTML (docs/text.md), simpleParser as text.
      else if (parsed.html === false && typeof mail.html === 'string' && !mail.headers.has('content-type'))
        assert.equal(mail.html, parsed.text, `mutant ${round} of ${file}`);
      // A line folded into a part's Content-Transfer-Encoding makes an encoding the relay does not know: readMail makes the
      // part an attachment (RFC 2045 §6.4, docs/text.md), simpleParser texts its encoded bytes (as READ_BETTER's fixture).
      else if (mail.attachments.length > parsed.attachments.length && unknownTransferEncoding(raw))
        assert.deepEqual({ ...view(mail), text: parsed.text, html: parsed.html, attachments: parsed.attachments }, parsed, `mutant ${round} of ${file}`);
      else if (parsed.text === undefined && parsed.html === false)
        assert.deepEqual({ ...view(mail), text: undefined, html: false }, parsed, `mutant ${round} of ${file}`);
      else assert.deepEqual(view(mail), parsed, `mutant ${round} of ${file}`);
    }
    assert.ok(read > 300, `readMail read only ${read} of 400 mutants`);
  });

  /** Whether a part's Content-Transfer-Encoding (its folded lines unfolded) names none of RFC 2045's encodings. */
  function unknownTransferEncoding(raw: Buffer): boolean {
    const encodings = raw.toString('latin1').matchAll(/^content-transfer-encoding:([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)/gim);
    return [...encodings].some(([, value]) => !/^\s*(7bit|8bit|binary|base64|quoted-printable)\s*$/i.test((value ?? '').replace(/\r?\n/g, '')));
  }

  /** A line moved into a base64 text part corrupts it: readMail refuses it where simpleParser decodes garbage. */
  function readOrCorrupt(raw: Buffer): ParsedMail | undefined {
    try {
      return readMail(raw);
    } catch (error) {
      if (error instanceof RelayError && error.code === 'UNREADABLE_MAIL' && /base64/.test(error.message)) return undefined;
      throw error;
    }
  }

  const left: Array<[string, Buffer]> = [
    [
      'an embedded message',
      mime(
        'Content-Type: multipart/mixed; boundary=b',
        '--b\nContent-Type: text/plain\n\nsee below\n--b\nContent-Type: message/rfc822\nContent-Disposition: inline\n\nSubject: inner\n\ninner text\n--b--\n',
      ),
    ],
    [
      'a delivery status',
      mime(
        'Content-Type: multipart/report; boundary=b',
        '--b\nContent-Type: text/plain\n\nfailed\n--b\nContent-Type: message/delivery-status\n\nStatus: 5.0.0\n--b--\n',
      ),
    ],
    ['a part whose headers never end', mime('Content-Type: multipart/mixed; boundary=b', '--b\nContent-Type: text/plain\n--b--\n')],
    ['a delimiter after a bare CR', Buffer.from('Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\ntext\n\r--b--\r\n')],
  ];
  for (const [label, raw] of left) {
    test(`left to simpleParser: ${label}`, () => assert.equal(readMail(raw), undefined));
  }
});

describe('where readMail reads better than simpleParser, on purpose', () => {
  const latin1 = (text: string) => Buffer.from(text.split('\n').join('\r\n'), 'latin1');

  test('8-bit text that is not UTF-8, with no charset, a UTF-8 one or an unknown one, is windows-1252, never U+FFFD', () => {
    const bodies: Array<[string, string, string?]> = [
      ['no charset', 'Subject: s\n\nCaf\xe9 cr\xe8me \x80 5\n'],
      ['a byte windows-1252 leaves undefined', 'Subject: s\n\nCaf\xe9 cr\xe8me \x80 5\x81\n', 'Café crème € 5\x81\n'],
      ['declared utf-8', 'Content-Type: text/plain; charset=utf-8\n\nCaf\xe9 cr\xe8me \x80 5\n'],
      ['declared us-ascii', 'Content-Type: text/plain; charset=us-ascii\n\nCaf\xe9 cr\xe8me \x80 5\n'],
      ['unknown-8bit', 'Content-Type: text/plain; charset=unknown-8bit\n\nCaf\xe9 cr\xe8me \x80 5\n'],
      ['quoted-printable utf-8', 'Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nCaf=E9 cr=E8me =80 5\n'],
    ];
    for (const [label, raw, text] of bodies) assert.equal(readMail(latin1(raw))?.text, text ?? 'Café crème € 5\n', label);
    assert.equal(readMail(latin1('Subject: St\xf6rung\n\n'))?.subject, 'Störung');
  });

  test('a clear-signed flowed text: the escapes that joining would misread are undone first, inside the signed block only', async () => {
    const body =
      'Outside reads \n- -5 C\n-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nInside reads \n- -5 C\n- - a list item\n- -- \nAlice\n-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n';
    const raw = latin1(`Content-Type: text/plain; charset=utf-8; format=flowed\n\n${body}`);
    const text = readMail(raw)?.text ?? '';
    assert.match(text, /^Outside reads - -5 C\n/);
    assert.match(text, /\nInside reads -5 C\n- - a list item\n-- \nAlice\n/);
    // simpleParser reads the signed block as flowed lines alone.
    assert.match((await simpleParser(raw, MAILPARSER_OPTIONS)).text ?? '', /\nInside reads - -5 C\n- - a list item\n- -- Alice\n/);
  });

  test('a flowed text: only armor lines as sealed.ts reads them (alone, unescaped, unquoted) bound a signed block', () => {
    const flowed = (body: string) => readMail(latin1(`Content-Type: text/plain; charset=utf-8; format=flowed\n\n${body}`))?.text ?? '';
    // A quoted signed mail: the writer's own "- " line below stays.
    const quoted =
      '> -----BEGIN PGP SIGNED MESSAGE-----\n> Hash: SHA256\n>\n> Is the cold room ok?\n\nMoved this morning \n- the one by the door is broken.\n\n> - -- \n> Alice\n> -----BEGIN PGP SIGNATURE-----\n> abc\n> -----END PGP SIGNATURE-----\n';
    assert.match(flowed(quoted), /\nMoved this morning - the one by the door is broken\.\n/);
    // Prose naming the markers.
    const prose =
      'It prints -----BEGIN PGP SIGNED MESSAGE----- first and the key \n- the one we rotate - sits in the vault.\n\nThen -----BEGIN PGP SIGNATURE----- as usual.\n';
    assert.match(flowed(prose), /the key - the one we rotate - sits/);
    // An escaped armor nested in the signed text ends no block: the escapes below it are undone before joining too.
    const nested =
      '-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nForwarding:\n\n- -----BEGIN PGP SIGNED MESSAGE-----\nGate 4 closed.\n- -----BEGIN PGP SIGNATURE-----\nxyz\n- -----END PGP SIGNATURE-----\n\nThe cold room reads \n- -18 C now.\n\n- -- \nBob\n-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\n';
    const text = flowed(nested);
    assert.match(text, /\nThe cold room reads -18 C now\.\n\n-- \nBob\n/);
    assert.match(text, /\n- -----BEGIN PGP SIGNATURE-----\n/);
    // Whitespace after an armor line that sealed.ts trims (a form feed, a vertical tab) leaves it an armor line here too.
    for (const blank of ['\f', '\v', ' \t']) {
      const signed = `-----BEGIN PGP SIGNED MESSAGE-----${blank}\nHash: SHA256\n\nThe cold room reads \n- -18 C now.\n-----BEGIN PGP SIGNATURE-----${blank}\nabc\n-----END PGP SIGNATURE-----\n`;
      assert.match(flowed(signed), /\nThe cold room reads -18 C now\.\n/, JSON.stringify(blank));
    }
  });

  test("a raw header value in a shifting charset (ISO-2022-JP's escapes, HZ's ~{) is read in it; other 7-bit values as written", () => {
    // headerValue reads 7-bit ASCII as written, without its bytes: only ESC and `~{` send it to escapedCharset.
    assert.equal(readMail(latin1('Subject: \x1b$BF|K\\8l\x1b(B\n\n'))?.subject, '日本語');
    assert.equal(readMail(latin1('Subject: ~{VPND~}\n\n'))?.subject, '中文');
    assert.equal(readMail(latin1('Subject: a ~ {b} ~} \x7f\x01 c\n\n'))?.subject, 'a ~ {b} ~} \x7f\x01 c');
  });

  test('valid UTF-8 and declared charsets are read as before', () => {
    assert.equal(readMail(Buffer.from('Subject: Störung\r\n\r\nCafé crème\r\n'))?.text, 'Café crème\n');
    assert.equal(readMail(Buffer.from('Subject: Störung\r\n\r\n'))?.subject, 'Störung');
    assert.equal(readMail(latin1('Content-Type: text/plain; charset=iso-8859-2\n\nZa\xbf\xf3\xb3\xe6\n'))?.text, 'Zażółć\n');
  });

  test('UTF-7 is decoded, by any of its labels, in the body and in encoded words', () => {
    const body = 'Caf+AOk ist geschlossen +IBM morgen wieder offen. +bilepg-\n';
    for (const label of ['UTF-7', 'utf-7', 'unicode-1-1-utf-7']) {
      const raw = latin1(`Content-Type: text/plain; charset=${label}\nContent-Transfer-Encoding: 7bit\n\n${body}`);
      assert.equal(readMail(raw)?.text, 'Café ist geschlossen – morgen wieder offen. 温度\n', label);
    }
    assert.equal(readMail(latin1('Subject: =?UTF-7?Q?Caf+AOk-_geschlossen?=\n\n'))?.subject, 'Café geschlossen');
    assert.equal(readMail(latin1('From: =?utf-7?B?Sm9zK0FPay0=?= <jose@example.com>\n\nx\n'))?.from?.value[0]?.name, 'José');
  });

  test('an HTML part with no MIME charset whose bytes are not UTF-8 is read in the charset its <meta> declares', () => {
    const html = (head: string, body: string, charset = '') =>
      readMail(latin1(`Content-Type: text/html${charset}\nContent-Transfer-Encoding: 8bit\n\n<html><head>${head}</head><body><p>${body}</p></body></html>\n`))
        ?.html;
    const russian = '\xd2\xe5\xec\xef\xe5\xf0\xe0\xf2\xf3\xf0\xe0'; // Температура in windows-1251
    assert.match(String(html('<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">', russian)), /<p>Температура<\/p>/);
    assert.match(String(html("<META HTTP-EQUIV='content-type' CONTENT='text/html;charset=koi8-r'>", '\xf4\xc5\xcd\xd0')), /<p>Темп<\/p>/);
    assert.match(String(html('<meta charset="shift_jis">', '\x83T\x81[\x83o\x81[\x92\xe2\x8e~')), /<p>サーバー停止<\/p>/);
    // Not read: a declaration in a comment, one past the prescan's first 1024 bytes, UTF-16 (read as UTF-8 by the standard).
    assert.match(String(html('<!-- <meta charset="windows-1251"> -->', russian)), /<p>Òåìïåðàòóðà<\/p>/);
    assert.match(String(html(`<title>${'x'.repeat(1024)}</title><meta charset="windows-1251">`, russian)), /<p>Òåìïåðàòóðà<\/p>/);
    assert.match(String(html('<meta charset="utf-16">', 'Caf\xe9')), /<p>Café<\/p>/);
    // A MIME charset, or bytes that are UTF-8, are not overruled by the <meta>.
    assert.match(String(html('<meta charset="windows-1251">', 'Caf\xe9', '; charset=iso-8859-1')), /<p>Café<\/p>/);
    assert.match(String(html('<meta charset="windows-1251">', 'Caf\xc3\xa9')), /<p>Café<\/p>/);
  });

  test('an encoded word labelled UTF-8 holding 8-bit bytes that are not UTF-8 is windows-1252, never U+FFFD', () => {
    assert.equal(readMail(latin1('Subject: =?UTF-8?Q?Caf=E9_geschlossen?=\n\n'))?.subject, 'Café geschlossen');
    assert.equal(readMail(latin1('Subject: =?utf-8?B?Q2Fm6SA=?= =?utf-8?Q?=80_5?=\n\n'))?.subject, 'Café € 5');
  });

  test('GB2312 and GBK labels are read as GB18030, their superset: its four-byte characters are no U+FFFD', () => {
    for (const label of ['gb2312', 'GBK', 'x-gbk']) {
      const raw = latin1(`Content-Type: text/plain; charset=${label}\nContent-Transfer-Encoding: 8bit\n\n\xbb\xfa\xb7\xbf \x819\xee9 \xce\xc2\xb6\xc8\n`);
      assert.equal(readMail(raw)?.text, '机房 㐀 温度\n', label);
    }
    assert.equal(readMail(latin1('Subject: =?gb2312?B?u/q3vyCBOe45?=\n\n'))?.subject, '机房 㐀');
  });

  test('text labelled with a single-byte Latin charset that is valid UTF-8 is read as UTF-8', () => {
    const utf8 = (text: string) => Buffer.from(text).toString('latin1');
    const bodies: Array<[string, string]> = [
      ['iso-8859-1, 8bit', `Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\n${utf8('Température élevée, Grüße')}\n`],
      [
        'windows-1252, quoted-printable',
        'Content-Type: text/plain; charset=windows-1252\nContent-Transfer-Encoding: quoted-printable\n\nTemp=C3=A9rature =C3=A9lev=C3=A9e, Gr=C3=BC=C3=9Fe\n',
      ],
      [
        'latin1, base64',
        `Content-Type: text/plain; charset=latin1\nContent-Transfer-Encoding: base64\n\n${Buffer.from('Température élevée, Grüße\n').toString('base64')}\n`,
      ],
      ['iso-8859-15', `Content-Type: text/plain; charset=ISO-8859-15\n\n${utf8('Température élevée, Grüße')}\n`],
    ];
    for (const [label, raw] of bodies) assert.equal(readMail(latin1(raw))?.text, 'Température élevée, Grüße\n', label);
    assert.equal(readMail(latin1('Subject: =?ISO-8859-1?Q?Caf=C3=A9_geschlossen?=\n\n'))?.subject, 'Café geschlossen');
    assert.equal(readMail(latin1('Subject: =?us-ascii?Q?Caf=C3=A9?=\n\n'))?.subject, 'Café');
    // Latin text is read in its label: here no byte sequence is UTF-8.
    assert.equal(readMail(latin1('Content-Type: text/plain; charset=windows-1252\n\n\x93Gr\xfc\xdfe\x94 \xc3 la gare\n'))?.text, '“Grüße” Ã la gare\n');
    assert.equal(readMail(latin1('Subject: =?ISO-8859-1?Q?Caf=E9?=\n\n'))?.subject, 'Café');
  });

  test('a mail left to simpleParser (a line over 60 KiB) reads a labelled charset as readMail does', async () => {
    const leftToSimpleParser = (charset: string, text: string) =>
      `Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain; charset=${charset}\n\n${text}\n${'x'.repeat(61 * 1024)}\n--b--\n`;
    const utf8 = Buffer.from('Température élevée').toString('latin1');
    const mails: Array<[string, string, string]> = [
      ['a Latin label on UTF-8 text', leftToSimpleParser('iso-8859-1', utf8), 'Température élevée'],
      ['GBK with a four-byte GB18030 character', leftToSimpleParser('gbk', '\xbb\xfa\xb7\xbf \x819\xee9'), '机房 㐀'],
      ['8-bit text under a label read as UTF-8', leftToSimpleParser('unknown-8bit', 'Caf\xe9 \x80 5'), 'Café € 5'],
    ];
    for (const [label, raw, text] of mails) {
      assert.equal(readMail(latin1(raw)), undefined, label);
      assert.equal(String((await parseMail(latin1(raw))).text).split('\n')[0], text, label);
    }
  });

  test('a base64 text part with lines that are not base64 is refused as unreadable, naming the line', () => {
    const raw = latin1('Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\nSGVsbG8g\n*** garbage ***\nd29ybGQ=\n');
    assert.throws(
      () => readMail(raw),
      (error: unknown) => error instanceof RelayError && error.code === 'UNREADABLE_MAIL' && /line 2 of its base64 text part is not base64/.test(error.message),
    );
    assert.equal(readMail(latin1('Content-Transfer-Encoding: base64\n\nSGVsbG8g\nd29y bGQ=\t\n'))?.text, 'Hello world');
  });

  test('a mail of more MIME parts than mailsplit reads, side by side or nested, is refused as unreadable, naming the limit', async () => {
    const text = 'Content-Type: text/plain\r\n\r\nhello\r\n';
    const attachment = (index: number) =>
      `--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="f${index}.bin"\r\n\r\nAAAA\r\n`;
    const sideBySide = (parts: number) =>
      Buffer.from(
        `Subject: s\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n${text}${Array.from({ length: parts - 2 }, (_, index) => attachment(index)).join('')}--b--\r\n`,
      );
    let nested = `--b0\r\n${text}--b0--\r\n`;
    for (let level = 1; level <= 5000; level++)
      nested = `--b${level}\r\nContent-Type: multipart/mixed; boundary=b${level - 1}\r\n\r\n${nested}--b${level}--\r\n`;
    const tooMany = (error: unknown) =>
      error instanceof RelayError && error.code === 'UNREADABLE_MAIL' && error.message.includes(`more than ${MAX_MIME_PARTS} MIME parts`);
    await assert.rejects(parseMail(sideBySide(MAX_MIME_PARTS + 1)), tooMany);
    await assert.rejects(parseMail(sideBySide(50_000)), tooMany);
    await assert.rejects(parseMail(Buffer.from(`Subject: s\r\nContent-Type: multipart/mixed; boundary=b5000\r\n\r\n${nested}`)), tooMany);
    assert.equal((await parseMail(sideBySide(MAX_MIME_PARTS))).text, 'hello');
    // A long line early on leaves the mail to mailsplit before this reader has counted its parts: mailsplit's own refusal is the same one.
    const longLine = Buffer.from(
      `Subject: s\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n${text}${'x'.repeat(70 * 1024)}\r\n${Array.from({ length: MAX_MIME_PARTS + 1 }, (_, index) => attachment(index)).join('')}--b--\r\n`,
    );
    assert.equal(readMail(longLine), undefined, 'left to mailsplit');
    await assert.rejects(parseMail(longLine), tooMany);
  });

  test("a header section over mailsplit's 1 MiB, the mail's or a part's, is refused as too big for good, naming it", async () => {
    const folded = (bytes: number) => `X-Long: ${Array.from({ length: Math.ceil(bytes / 73) }, () => 'z'.repeat(70)).join('\r\n\t')}\r\n`;
    const many = Array.from({ length: 100_000 }, (_, index) => `X-H${index}: v\r\n`).join('');
    const tooBig = (error: unknown) =>
      error instanceof RelayError &&
      error.code === 'MESSAGE_TOO_BIG' &&
      error.message ===
        'Message too big: a header section is over 1 MiB or 16384 lines, more than the relay reads; send the mail with fewer or shorter header fields';
    // Short fields count 64 bytes each: 17,500 of them (216 kB) are past the limit, and the answer names it.
    const short = Array.from({ length: 17_500 }, (_, index) => `X-H${index}: v\r\n`).join('');
    for (const header of [folded(MAILSPLIT_MAX_HEADER_BYTES + 50_000), folded(2 * MAILSPLIT_MAX_HEADER_BYTES), many, short]) {
      await assert.rejects(parseMail(Buffer.from(`From: a@example.com\r\n${header}\r\nbody text\r\n`)), tooBig);
    }
    const part = `Subject: s\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n${folded(MAILSPLIT_MAX_HEADER_BYTES + 50_000)}\r\nhello\r\n--b--\r\n`;
    await assert.rejects(parseMail(Buffer.from(part)), tooBig);
    assert.equal((await parseMail(Buffer.from(`Subject: s\r\n${folded(500_000)}\r\nbody text\r\n`))).text, 'body text\n', 'a 500 kB header is read');
  });
});

describe('the header section ends where Postfix ends it', () => {
  const cases: Array<[string, string, { subject?: string; text: string }]> = [
    ['no header at all', 'Hello there, the server is down\nplease check\n', { text: 'Hello there, the server is down\nplease check\n' }],
    ['a header, then the body with no empty line', 'Subject: alert\nDisk full on db1\n', { subject: 'alert', text: 'Disk full on db1\n' }],
    ['a first line with a space in its "field name"', 'Server down: db1\n\nplease check\n', { text: 'Server down: db1\n\nplease check\n' }],
    ['From/To, then the body', 'From: a@example.com\nTo: b@example.com\nPump 3 failure\n', { text: 'Pump 3 failure\n' }],
    ['folded headers and the obsolete space before the colon stay headers', 'Subject : a\n b\nX-Y:z\n\nbody\n', { subject: 'a b', text: 'body\n' }],
    ['an mbox From_ line stays the header preamble', 'From a@example.com Mon Jan  1 00:00:00 2026\nSubject: s\n\nbody\n', { subject: 's', text: 'body\n' }],
  ];
  for (const [label, raw, want] of cases) {
    test(label, async () => {
      const mail = await parseMail(Buffer.from(raw.split('\n').join('\r\n')));
      assert.deepEqual({ ...(mail.subject === undefined ? {} : { subject: mail.subject }), text: mail.text }, want);
    });
  }
});

describe('the shifting charsets (shifted-charsets.ts)', () => {
  const mail = (charset: string, body: string) =>
    Buffer.from(`From: x@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=${charset}\r\n\r\n${body}\r\n`, 'latin1');

  test("ISO-2022-KR: a shifted byte without its pair is U+FFFD, never a syllable made with the next line's or ASCII letter", async () => {
    // `<-9v` is 서버; `<-9` leaves `9` alone before SI, before a line's end, and at the text's end.
    const body = '\u001b$)C\u000e<-9v\u000fA \u000e<-9\u000fAB\r\n\u000e<-9\r\nok \u000e<-9';
    assert.equal((await parseMail(mail('ISO-2022-KR', body))).text, '서버A 서\ufffdAB\n서\ufffd\nok 서\ufffd\n');
  });

  test('HZ: a shifted byte without its pair is U+FFFD, never a character made with the next ASCII letter', async () => {
    // `7~NqFw` is 服务器; `7~Nq` + `F` leaves `F` alone before `~}`, and before a line's end.
    assert.equal((await parseMail(mail('HZ-GB-2312', '~{7~NqF~}ab ~{7~NqF\r\nok'))).text, '服务\ufffdab 服务\ufffd\nok\n');
  });

  test('HZ: "~" at the end of a CRLF line joins it to the next, as at an LF one (RFC 1843)', async () => {
    assert.equal((await parseMail(mail('HZ-GB-2312', 'Server ~\r\ndown: ~{7~NqFw~}'))).text, 'Server down: 服务器\n');
  });
});

describe('a long run of blanks in a line is read in one pass', () => {
  /** Far past any real line; the regular expressions that tried each split of such a run took minutes on it. */
  const RUN_LENGTH = 500_000;

  test('a charset written with a blank for its "=", padded with blanks up to the header block readMail reads', () => {
    // readMail reads header blocks up to 64 KiB, which bounds this one's cost (seconds before the fix);
    // the fuzzer's long Content-Type headers (fuzz-cases.ts) carry the same shape.
    const raw = `From: x@example.com\r\nSubject: s\r\nContent-Type: text/plain; charset${' '.repeat(60_000)}koi8-r\r\n\r\n\xf3\xc5\xd2\xd7\xc5\xd2\r\n`;
    assert.equal(readMail(Buffer.from(raw, 'latin1'))?.text, 'Сервер\n');
  });

  test('a uuencode or `uuencode -m` header line padded with blanks', () => {
    const uuencoded = new URL('../../src/mail/uuencoded.ts', import.meta.url).href;
    const read = finishes(`
      import { withoutUuencoded } from ${JSON.stringify(uuencoded)};
      const run = ' '.repeat(${RUN_LENGTH});
      const blocks = [['begin 644', '#8V%T\\n\`\\nend'], ['begin-base64 644', 'Y2F0\\n====']];
      const read = blocks.map(([begin, encoded]) => [withoutUuencoded('Report.\\n' + begin + ' a' + run + 'x\\n' + encoded + '\\n'), withoutUuencoded(begin + ' my report.txt' + run + '\\n' + encoded + '\\n')]);
      console.log(JSON.stringify(read.map(([padded, named]) => [padded.text, padded.files.map((name) => name.length), named.files])));
    `);
    // The padded name keeps its blanks inside (its length: 1 + the run + 1); a name's trailing blanks go.
    const file = [['Report.\n', [RUN_LENGTH + 2], ['my report.txt']]];
    assert.deepEqual(JSON.parse(read), [...file, ...file]);
  });
});
