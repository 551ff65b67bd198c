/**
 * Mail as scripts, devices and old mailers write it (docs/text.md), read byte for byte: terminal
 * output, status lines under a bare "--", raw subjects, device blocks, fax notices, unknown transfer
 * encodings and UTF-16 with a BOM. Real MIME bytes through parseMail and extractRequest.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import iconv from 'iconv-lite';
import { configSchema } from '../../src/config/schema.ts';
import { extractRequest, parseMail } from '../../src/mail/extract.ts';
import { textPolicyFor } from '../../src/mail/policy.ts';

const POLICY = textPolicyFor(configSchema.shape.text.parse(undefined), 'alerts@example.com');

/** The SMS text of a mail given as bytes (a string is read as Latin-1, each character one byte; LF becomes CRLF). */
async function textOf(raw: string | Buffer): Promise<string> {
  const bytes = typeof raw === 'string' ? Buffer.from(raw.replace(/\r?\n/g, '\r\n'), 'latin1') : raw;
  return extractRequest(await parseMail(bytes), POLICY, false).text;
}

describe('terminal output in cron mail', () => {
  const cron = (body: string) => `From: root@db1.example.com (Cron Daemon)\nSubject: Cron <root@db1> /usr/local/bin/fetch-backup\n\n${body}`;

  test('a progress meter redrawn after a bare CR (wget, curl, rsync) is its last state, not a line per redraw', async () => {
    const progress = Array.from({ length: 101 }, (_, i) => `\r${String(i).padStart(3)}% [${'='.repeat(Math.floor(i / 5)).padEnd(20)}] ${i * 120} KB`).join('');
    assert.equal(
      await textOf(cron(`Downloading backup.tar.gz\n${progress}\nDownload FAILED: checksum mismatch\n`)),
      'Downloading backup.tar.gz\n100% [====================] 12000 KB\nDownload FAILED: checksum mismatch',
    );
    // A shorter text after a CR is no redraw but a line of its own, unless it erases the rest (ESC[K).
    assert.equal(await textOf(cron('copy: 10 files\rdone\nnext\n')), 'copy: 10 files\ndone\nnext');
    assert.equal(await textOf(cron('copy: 10 files\rdone\u001b[K\nnext\n')), 'done\nnext');
  });

  test('backspace overstrike (man, nroff) is the letter printed once', async () => {
    assert.equal(await textOf(cron('N\bNA\bAM\bME\bE\n     ls - list _\bf_\bi_\bl_\be_\bs\n')), 'NAME\nls - list files');
  });

  test('text whose every line ends in a bare CR (classic Mac OS) keeps its lines', async () => {
    assert.equal(await textOf(cron('Pump 2 failed\rPump 3 running\r')), 'Pump 2 failed\nPump 3 running');
  });

  test('Mac text keeps its lines beside a footer part, a line-feed line in its part, or inside HTML', async () => {
    const mac = 'Hello Bob,\rThe pump in station 4 failed.\rPlease call me.\rAlice\r';
    const sent = 'Hello Bob,\nThe pump in station 4 failed.\nPlease call me.\nAlice';
    const base64 = (text: string) => Buffer.from(text, 'latin1').toString('base64');
    const head = 'From: alice@example.com\nSubject: pump\nMIME-Version: 1.0\n';
    // A list server's footer part ends in a line feed: the Mac part's line ends are its own.
    const footed = `${head}Content-Type: multipart/mixed; boundary="B"\n\n--B\nContent-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: base64\n\n${base64(mac)}\n--B\nContent-Type: text/plain\n\nList footer line\n--B--\n`;
    assert.equal(await textOf(footed), `${sent}\n\nList footer line`);
    // A gateway's line added with CR LF to the Mac text, in the same part.
    const added = `${head}Content-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: base64\n\n${base64(`${mac}\r\nSent via the gateway\r\n`)}\n`;
    assert.equal(await textOf(added), `${sent}\nSent via the gateway`);
    const report = `${head}Content-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: quoted-printable\n\nReport follows:\nLine one of report=0DLine two of report=0DLine three=0D\nEnd\n`;
    assert.equal(await textOf(report), 'Report follows:\nLine one of report\nLine two of report\nLine three\nEnd');
    // In HTML a bare CR is white space of the markup, never a redraw.
    const html = '<html><body><pre>Pump 4 failed\rCall Alice\rNow</pre><p>Line A</p></body></html>';
    assert.equal(
      await textOf(`${head}Content-Type: text/html; charset=us-ascii\nContent-Transfer-Encoding: base64\n\n${base64(html)}\n`),
      'Pump 4 failed\nCall Alice\nNow\n\nLine A',
    );
  });
});

describe('a bare "--" above a script\'s status lines', () => {
  const mail = (body: string) => `From: root@db1.example.com (Cron Daemon)\nSubject: Cron <root@db1> /usr/local/bin/status\n\n${body}\n`;

  test('states in capitals without digits or colons ("Database DOWN", "Backup FAILED") are output, not a signature', async () => {
    for (const body of [
      'Status of db1\n--\nDatabase DOWN\nWeb server UP\nMail queue OK',
      'Nightly jobs finished.\n--\nBackup FAILED\nReplication OK',
      'Check results\n--\nDisk FULL on backup volume',
      'Dump of shop\n--\n-- Table structure for table users\n--\n\nDROP TABLE IF EXISTS users;\nCREATE TABLE users (id int);',
    ]) {
      assert.equal(await textOf(mail(body)), body);
    }
  });

  test('above a name and a company it is still a signature', async () => {
    assert.equal(await textOf(mail('Call me\n--\nJohn Smith\nACME Ltd')), 'Call me');
    assert.equal(await textOf(mail('Meeting moved.\n--\nMax Mustermann\nHead of IT\nAcme GmbH')), 'Meeting moved.');
  });
});

describe('a raw subject in the charset the mail declares', () => {
  /** An empty body under `charset`, the subject's bytes raw: the subject is the text. */
  const raw = (subject: Buffer, charset: string) =>
    Buffer.concat([
      Buffer.from('From: ups@example.com\r\nSubject: '),
      subject,
      Buffer.from(`\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=${charset}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\r\n`),
    ]);

  test("8-bit subject bytes are read in the body's charset (KOI8-R, ISO-8859-2, windows-1251, Shift_JIS), ISO-2022-JP by its escapes", async () => {
    for (const [text, charset] of [
      ['Авария питания ИБП-1', 'koi8-r'],
      ['Błąd dysku na serwerze', 'iso-8859-2'],
      ['Ошибка диска', 'windows-1251'],
      ['サーバ停止', 'shift_jis'],
    ] as const) {
      assert.equal(await textOf(raw(iconv.encode(text, charset), charset)), text, charset);
    }
    // サーバ停止 in ISO-2022-JP (iconv-lite writes no ISO-2022-JP): read by its escapes under its label, or under none.
    const jis = Buffer.from('\u001b$B%5!<%PDd;_\u001b(B', 'latin1');
    assert.equal(await textOf(raw(jis, 'ISO-2022-JP')), 'サーバ停止');
    assert.equal(await textOf(raw(jis, 'us-ascii')), 'サーバ停止');
  });

  test('bytes not valid in the declared charset, or a UTF-8 one, stay windows-1252; valid UTF-8 stays UTF-8', async () => {
    assert.equal(await textOf(raw(Buffer.from('Caf\xe9 ferm\xe9', 'latin1'), 'utf-8')), 'Café fermé');
    assert.equal(await textOf(raw(Buffer.from('Störung'), 'koi8-r')), 'Störung');
    // Every byte is something in a single-byte charset: a script's windows-1252 subject under such a body is still read so.
    assert.equal(await textOf(raw(Buffer.from('Caf\xe9 M\xfcller', 'latin1'), 'koi8-r')), 'Café Müller');
    assert.equal(await textOf(raw(Buffer.from('\x93ok\x94 from db1', 'latin1'), 'iso-8859-15')), '“ok” from db1');
  });
});

describe("a device's identity block at the end", () => {
  const mail = (body: string) => `From: prn04@example.com\nSubject: Supplies\n\n${body}\n`;

  test("a device's model and place with its own web page, a camera's place and live link, labelled links and numbers are the alert's", async () => {
    for (const body of [
      'Toner low. Order a new cartridge.\n\nHP LaserJet 4250 (PRN-04, 2nd floor)\nhttp://192.168.1.50\nprn04@example.com',
      'Motion detected on camera 3.\n\nCamera 3 Loading Dock\nhttp://10.0.0.63/live\n+44 20 7946 0000',
      'Disk full on db1.\n\nDashboard\nhttps://grafana.example.com/d/db1\nOn-call\n+44 7700 900123',
      'Backup failed.\n\nNAS\nhttp://nas01/\nadmin@example.com',
    ]) {
      assert.equal(await textOf(mail(body)), body);
    }
  });

  test("a reply's signatures without device evidence are cut: a link to an intranet host, a team line, a state word in a title", async () => {
    const reply = (signature: string) => `From: jane@acme.com\nSubject: Re: rack\nIn-Reply-To: <x@y>\n\nThe rack is fixed, please check.\n\n${signature}\n`;
    for (const signature of [
      'Jane Doe\njane@acme.com\nhttp://intranet/people/jane',
      'Jane Doe\nService Desk\n+44 20 7946 0000\nhttp://servicedesk/',
      'Jane Doe\n+44 20 7946 0000\nOffice hours\njane@acme.com',
      'IT Service Desk\n+44 20 7946 0000\njane@acme.com',
      'Jane Doe\nHead of IT, UP Campus\n+44 20 7946 0000\njane@acme.com',
    ]) {
      assert.equal(await textOf(reply(signature)), 'The rack is fixed, please check.', signature);
    }
  });

  test("a person's name with their number, address and site below a sentence is still a signature", async () => {
    assert.equal(
      await textOf(mail('Database db1 is down since 05:40.\n\nJohn Smith\n+44 7700 900123\njohn.smith@example.com')),
      'Database db1 is down since 05:40.',
    );
    assert.equal(await textOf(mail('Call me back.\n\nJohn Smith\nHead of Operations\n+44 7700 900123\nhttps://www.example.com')), 'Call me back.');
  });
});

describe("a notice's own header block below a rule, in a mail that answers nothing", () => {
  test("a fax notice's From:/To:/Date:/Pages: and a voicemail notice's From:/Sent:/To:/Subject: with its transcript are sent", async () => {
    const fax = 'You have received a new fax.\n----------------------------------------\nFrom: +44 20 7946 0000\nTo: 2001\nDate: 06.12.2026 05:10\nPages: 3';
    assert.equal(await textOf(`From: fax@pbx.example.com\nSubject: New fax\n\n${fax}\n`), fax);
    const voicemail = `You have a new voicemail.\n${'_'.repeat(32)}\nFrom: John Smith <+442079460000>\nSent: Sunday, 6 December 2026 05:10\nTo: 2001\nSubject: Voicemail (32 seconds)\n\nHi, this is John, please call me back about the order.`;
    assert.equal(await textOf(`From: voicemail@pbx.example.com\nSubject: Voicemail\n\n${voicemail}\n`), voicemail);
  });

  test("below a rule a mail's header block with its address is still the mail answered, and in a reply any", async () => {
    const history = `${'_'.repeat(32)}\nFrom: Bob Jones <bob@example.com>\nSent: Monday, 23 November 2026 09:14\nTo: Ops <ops@example.com>\nSubject: Room\n\nCan you book a room?`;
    assert.equal(await textOf(`From: ops@example.com\nSubject: Room booked\n\nRoom 2.14 is booked.\n\n${history}\n`), 'Room 2.14 is booked.');
    const fax = '----------------------------------------\nFrom: +44 20 7946 0000\nTo: 2001\nDate: 06.12.2026 05:10\nPages: 3';
    assert.equal(await textOf(`From: ops@example.com\nSubject: Re: New fax\nIn-Reply-To: <fax-1@pbx.example.com>\n\nGot it.\n\n${fax}\n`), 'Got it.');
  });
});

describe('a transfer encoding the relay does not know', () => {
  test('makes the part application/octet-stream (RFC 2045 §6.4), its name kept: never text', async () => {
    const part = (encoding: string, name = '') =>
      `From: x@example.com\nSubject: Pump alarm\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8${name}\nContent-Transfer-Encoding: ${encoding}\n\nUHVtcCAyIGZhaWxlZCBhdCBzdGF0aW9uIE5vcnRoLg==\n`;
    for (const encoding of ['base-64', 'x-gzip64', 'quoted printable', 'qp']) {
      const mail = await parseMail(Buffer.from(part(encoding)));
      assert.equal(extractRequest(mail, POLICY, false).text, 'Pump alarm', encoding);
      assert.deepEqual(
        mail.attachments.map(({ contentType }) => contentType),
        ['application/octet-stream'],
        encoding,
      );
    }
    assert.equal((await parseMail(Buffer.from(part('x-gzip64', '; name="log.gz"')))).attachments[0]?.filename, 'log.gz');
    assert.equal(await textOf(part(' BASE64 ')), 'Pump 2 failed at station North.');
  });

  test('an identity encoding misspelt (8bits, 7 bit, 8bit;, none, a charset written in its place) is the text as it is, not an attachment', async () => {
    for (const encoding of ['utf-8', '8bits', '7 bit', 'none', '8bit;', 'US-ASCII']) {
      const mail = `From: x@example.com\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: ${encoding}\n\nPump 2 failed at station North.\n`;
      assert.equal(await textOf(mail), 'Pump 2 failed at station North.', encoding);
    }
  });
});

describe('text with a byte order mark', () => {
  const text = 'Pump 2 failed at station North.\r\nCall the on-call engineer.\r\n';
  const mail = (contentType: string, encoding: string, body: Buffer) =>
    Buffer.concat([
      Buffer.from(
        `From: ps@example.com\r\nSubject: log\r\nMIME-Version: 1.0\r\nContent-Type: ${contentType}\r\nContent-Transfer-Encoding: ${encoding}\r\n\r\n`,
      ),
      encoding === 'base64' ? Buffer.from(`${body.toString('base64')}\r\n`) : Buffer.concat([body, Buffer.from('\r\n')]),
    ]);
  const utf16le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
  const utf16be = Buffer.from(utf16le.subarray(2)).swap16();

  test('UTF-16 (PowerShell 5 Out-File) under a wrong or missing charset is read by its BOM, in base64 and as 8-bit bytes', async () => {
    const want = 'Pump 2 failed at station North.\nCall the on-call engineer.';
    for (const contentType of ['text/plain; charset=utf-8', 'text/plain', 'text/plain; charset=windows-1252', 'text/plain; charset=utf-16']) {
      assert.equal(await textOf(mail(contentType, 'base64', utf16le)), want, `${contentType}, LE`);
      assert.equal(await textOf(mail(contentType, 'base64', Buffer.concat([Buffer.from([0xfe, 0xff]), utf16be]))), want, `${contentType}, BE`);
      assert.equal(await textOf(mail(contentType, '8bit', utf16le)), want, `${contentType}, 8-bit`);
    }
  });

  test('a UTF-8 BOM under a Latin label is UTF-8', async () => {
    const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('Température élevée')]);
    assert.equal(await textOf(mail('text/plain; charset=iso-8859-1', '8bit', body)), 'Température élevée');
  });
});

describe('UTF-8 text under a fixed label of a legacy charset', () => {
  const mail = (headers: string, body: Buffer) => Buffer.concat([Buffer.from(`From: erp@example.com\r\n${headers}\r\n\r\n`), body, Buffer.from('\r\n')]);
  const labelled = (label: string, body: Buffer, type = 'text/plain') =>
    mail(`Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: ${type}; charset=${label}\r\nContent-Transfer-Encoding: 8bit`, body);
  // Each text in its own charset, under labels of that charset and of others of its script.
  const texts: ReadonlyArray<readonly [string, readonly string[]]> = [
    ['ポンプ3が停止しました', ['Shift_JIS', 'EUC-JP', 'windows-31j']],
    ['펌프 3 고장, 즉시 확인', ['EUC-KR', 'ks_c_5601-1987']],
    ['泵3故障，请立即检查', ['GB2312', 'GBK', 'GB18030']],
    ['幫浦3故障，請立即檢查', ['Big5']],
    ['Сервер упал', ['windows-1251', 'KOI8-R', 'KOI8-U', 'iso-8859-5', 'cp866']],
    ['Σφάλμα αντλίας 3', ['iso-8859-7', 'windows-1253']],
    ['משאבה 3 נכשלה', ['windows-1255', 'iso-8859-8']],
    ['فشل المضخة 3', ['windows-1256']],
    ['ปั๊ม 3 ล้มเหลว', ['tis-620', 'windows-874']],
  ];

  test('is read as UTF-8 under CJK, Cyrillic, Greek, Hebrew, Arabic and Thai labels, in a body, an encoded-word subject and HTML', async () => {
    for (const [text, labels] of texts) {
      for (const label of labels) {
        assert.equal(await textOf(labelled(label, Buffer.from(text))), text, `${label} body`);
        const word = `=?${label}?B?${Buffer.from(text).toString('base64')}?=`;
        assert.equal(await textOf(mail(`Subject: ${word}`, Buffer.alloc(0))), text, `${label} encoded word`);
        const html = Buffer.from(`<html><head><meta charset="utf-8"></head><body><p>${text}</p></body></html>`);
        assert.equal(await textOf(labelled(label, html, 'text/html')), text, `${label} HTML`);
      }
    }
    // Latin text of old Macs and DOS code pages: a Czech or French UTF-8 text under their labels.
    for (const label of ['macintosh', 'cp850', 'ibm437']) {
      assert.equal(await textOf(labelled(label, Buffer.from('Čerpadlo 3: příliš horké'))), 'Čerpadlo 3: příliš horké', label);
      assert.equal(await textOf(labelled(label, Buffer.from('Température élevée'))), 'Température élevée', label);
    }
  });

  test('text written in the labelled charset keeps it, also where its bytes happen to be valid UTF-8, in a body and an encoded word', async () => {
    for (const [text, labels] of texts) {
      for (const label of labels) assert.equal(await textOf(labelled(label, iconv.encode(text, label))), text, label);
    }
    // Short alerts whose bytes are wholly valid UTF-8 (GB2312, Big5, EUC-KR and EUC-JP characters with a lead byte
    // C2–DF and a trail A1–BF, Thai consonants, half-width katakana): read as UTF-8 they are characters of other
    // scripts (`ϵͳֹͣ`, `½Ķ`, `üũ`, `ö`) or unassigned ones (`ﾗｼﾞｵ`), never the label's language.
    for (const [text, label] of [
      ['系统停止', 'GB2312'],
      ['状态: 停止', 'GB2312'],
      ['DB1 状态: 停止', 'GB2312'],
      ['水位 95%', 'GB2312'],
      ['水压 5 bar', 'GB2312'],
      ['实时', 'GB2312'],
      ['医院', 'GB2312'],
      ['Pump 3 停止', 'GBK'],
      ['实时', 'GB18030'],
      ['翻譯', 'Big5'],
      ['警覺', 'Big5'],
      ['체크', 'EUC-KR'],
      ['치킨', 'EUC-KR'],
      ['物流', 'EUC-JP'],
      ['ﾏｲﾅｽ', 'Shift_JIS'],
      ['ﾗｼﾞｵ', 'Shift_JIS'],
      ['ﾏｲﾅｽ', 'windows-31j'],
      ['ﾊｲ ﾏｲﾅｽ 5', 'Shift_JIS'],
      ['ไฟดับ', 'tis-620'],
      ['รถ', 'tis-620'],
      ['ลบ', 'tis-620'],
      ['ЕЁ', 'windows-1251'],
      ['ГІ', 'windows-1251'],
      ['Пі', 'windows-1251'],
      ['ﾃｲ', 'Shift_JIS'],
      ['ﾎﾟﾝﾌﾟ3 ﾃｲｼ', 'Shift_JIS'],
    ] as const) {
      const bytes = iconv.encode(text, label);
      assert.equal(await textOf(labelled(label, bytes)), text, `${label} ${text}`);
      const word = `=?${label}?B?${bytes.toString('base64')}?=`;
      assert.equal(await textOf(mail(`Subject: ${word}`, Buffer.alloc(0))), text, `${label} encoded word ${text}`);
    }
  });

  test("an HTML part whose <meta> names the charset of its bytes is read in it when the MIME label's charset does not fit", async () => {
    const html = (charset: string) =>
      `<html><head><meta http-equiv="Content-Type" content="text/html; charset=${charset}"></head><body>ポンプ停止</body></html>`;
    assert.equal(await textOf(labelled('utf-8', iconv.encode(html('shift_jis'), 'shift_jis'), 'text/html')), 'ポンプ停止');
    assert.equal(await textOf(labelled('us-ascii', iconv.encode(html('euc-jp'), 'euc-jp'), 'text/html')), 'ポンプ停止');
  });
});

describe('UTF-8 encoded twice (a latin1 database connection)', () => {
  /** UTF-8 bytes read as windows-1252 (Latin-1 for the bytes it leaves undefined, as MySQL's latin1 does): the text a script then writes out as UTF-8 again. */
  const doubled = (text: string) =>
    [...Buffer.from(text)]
      .map((byte) =>
        byte >= 0x80 && byte < 0xa0 && [0x81, 0x8d, 0x8f, 0x90, 0x9d].includes(byte)
          ? String.fromCharCode(byte)
          : iconv.decode(Buffer.from([byte]), 'windows-1252'),
      )
      .join('');
  const labelled = (label: string, text: string) =>
    Buffer.from(
      `From: erp@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=${label}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${text}\r\n`,
    );

  test('is repaired under a utf-8 or Latin label, and in an encoded word, when the whole text reads back to UTF-8', async () => {
    for (const text of [
      'Bestellung für Müller, Größe L, 12 € bezahlt',
      'Température élevée – “ok”',
      'Сервер упал — “ok”',
      'ポンプ停止',
      'Čerpadlo 3: příliš horké 😀',
    ]) {
      for (const label of ['utf-8', 'iso-8859-1', 'windows-1252']) assert.equal(await textOf(labelled(label, doubled(text))), text, `${label}: ${text}`);
      const word = `=?utf-8?B?${Buffer.from(doubled(text)).toString('base64')}?=`;
      assert.equal(await textOf(Buffer.from(`From: erp@example.com\r\nSubject: ${word}\r\n\r\n`)), text, `encoded word: ${text}`);
    }
  });

  test('text that only looks so, or that a repair would leave with mojibake, is sent as written', async () => {
    for (const text of ['Ã la carte: SÃO PAULO, 20°C', 'SÃO PAULO Â©', 'Preis: 12 €, Größe L', doubled(doubled('für'))]) {
      assert.equal(await textOf(labelled('utf-8', text)), text, text);
    }
    // Latin text whose accented capital or ß stands before a symbol: its bytes read back as UTF-8 of Arabic,
    // Hebrew or NKo (`Ø½` is `ؽ`), no text. A no-break space is sent as a space.
    for (const text of [
      'Rohr Ø½" verstopft',
      'Toleranz Ø±0,1 mm',
      'Bohrung Ø¾"',
      'Ø° Winkel',
      '3×½ Zoll',
      'Gruß…',
      'Maß²',
      'Spaß“',
      'Viele Grüße, Gruß\u00a0Peter',
      'TRAITEMENT TERMINÉ\u00a0!',
      'PRIX BAISSÉ\u00a0!',
    ]) {
      const sent = text.replaceAll('\u00a0', ' ');
      assert.equal(await textOf(labelled('utf-8', text)), sent, text);
      const word = `=?utf-8?B?${Buffer.from(text).toString('base64')}?=`;
      assert.equal(await textOf(Buffer.from(`From: erp@example.com\r\nSubject: ${word}\r\n\r\n`)), sent, `encoded word: ${text}`);
    }
  });
});

describe('an HTML title left unclosed', () => {
  test('ends before the next tag: the body is sent without tags, and a title is never sent', async () => {
    const html = (body: string) => `From: x@example.com\nSubject: s\nContent-Type: text/html\n\n${body}\n`;
    assert.equal(await textOf(html('<html><head><title>Report</head><body>Pump 2 failed.</body></html>')), 'Pump 2 failed.');
    assert.equal(await textOf(html('<title>Report</title><p>Pump 2 failed.</p>')), 'Pump 2 failed.');
  });
});

describe('a multipart mail whose boundary never occurs, with a preamble', () => {
  test("is split by the first delimiter-like line below the preamble (PHP mail()'s template): never MIME headers or base64 as the SMS", async () => {
    const body =
      'This is a multi-part message in MIME format.\n\n--==Multipart_Boundary_x1\nContent-Type: text/plain; charset="iso-8859-1"\nContent-Transfer-Encoding: 7bit\n\nInvoice 1042 attached.\n\n--==Multipart_Boundary_x1\nContent-Type: application/pdf; name="inv.pdf"\nContent-Disposition: attachment; filename="inv.pdf"\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFIvRmlsdGVyIC9GbGF0ZURlY29kZT4+\n\n--==Multipart_Boundary_x1--\n';
    for (const contentType of ['multipart/mixed; boundary="nomatch"', 'multipart/mixed']) {
      const raw = Buffer.from(
        `From: shop@example.com\r\nSubject: Invoice\r\nMIME-Version: 1.0\r\nContent-Type: ${contentType}\r\n\r\n${body}`.replace(/\r?\n/g, '\r\n'),
      );
      const request = extractRequest(await parseMail(raw), POLICY, false);
      assert.equal(request.text, 'Invoice 1042 attached.', contentType);
      assert.deepEqual(request.attachments, ['inv.pdf'], contentType);
    }
  });
});

describe('an encoded file cut short', () => {
  test('ends at its first blank line: the text written after it is sent', async () => {
    const mail = (body: string) => `From: cron@db1.example.com\nSubject: nightly\n\n${body}\n`;
    const line = 'M'.repeat(61);
    assert.equal(
      await textOf(mail(`Dump follows\nbegin 644 dump.sql\n${line}\n${line}\n\nDUMP TRUNCATED: DISK FULL ON /VAR\nEXIT CODE 28`)),
      'Dump follows\n\nDUMP TRUNCATED: DISK FULL ON /VAR\nEXIT CODE 28',
    );
    const base64 = 'SGVsbG8gd29ybGQgdGhpcyBpcyBhIGxvbmcgbGluZSBvZiBiYXNlNjQgZGF0YSBmb3IgdGVzdGluZyBh';
    assert.equal(await textOf(mail(`Log attached\n\nbegin-base64 644 log.txt\n${base64}\n\nCall me about it`)), 'Log attached\n\nCall me about it');
  });
});

describe('pasted Outlook history in a mail that answers nothing', () => {
  const mail = (body: string) => `From: ops@example.com\nSubject: Server status\n\n${body}\n`;

  test("Outlook's header block below its rule, its sender a name alone, is the mail answered, in its languages and with Importance:", async () => {
    const rule = '_'.repeat(32);
    for (const header of [
      'From: Smith, John\nSent: Friday, 5 December 2026 17:00\nTo: Ops\nSubject: db1',
      'Von: Smith, John\nGesendet: Freitag, 5. Dezember 2026 17:00\nAn: Ops\nBetreff: db1',
      'De : Smith, John\nEnvoyé : vendredi 5 décembre 2026 17:00\nÀ : Ops\nObjet : db1',
      'De: Smith, John\nEnviado el: viernes, 5 de diciembre de 2026 17:00\nPara: Ops\nAsunto: db1',
      'From: Smith, John\nSent: Friday, 5 December 2026 17:00\nTo: Ops\nSubject: db1\nImportance: High',
    ]) {
      const text = await textOf(mail(`Please restart db1 tonight.\n\n${rule}\n${header}\n\nThe old text: db1 is slow since Monday.`));
      assert.equal(text, 'Please restart db1 tonight.', header);
    }
  });

  test("a notice's caller by number and a web form's own From:/Date:/Subject: with a name alone stay below a rule", async () => {
    for (const body of [
      `You have a new voicemail.\n${'_'.repeat(32)}\nFrom: 2001\nSent: Sunday, 6 December 2026 05:10\nTo: 2002\nSubject: Voicemail (12 seconds)\n\nPlease call me back.`,
      `New enquiry from the website.\n${'_'.repeat(32)}\nFrom: Jane Doe\nDate: 06.12.2026 05:10\nSubject: Quote for 40 pumps\n\nPlease send a quote.`,
    ]) {
      assert.equal(await textOf(mail(body)), body);
    }
  });

  test('"-----Original Message-----" in a mail whose subject answers nothing forwards the text below it: its header goes, an address or not', async () => {
    const alarm =
      'See the alarm below.\n\n-----Original Message-----\nFrom: SCADA Alarm\nSent: Monday, 3 March 2025 10:00\nTo: Ops\nSubject: Pump 4\n\nPump 4 tripped.';
    assert.equal(await textOf(`From: jane@acme.com\nSubject: Pump\n\n${alarm}\n`), 'See the alarm below.\n\nPump 4 tripped.');
  });
});
