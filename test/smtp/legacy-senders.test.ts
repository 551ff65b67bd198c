/**
 * Mail as scripts, devices and old mailers write it (docs/text.md), sent byte for byte over SMTP:
 * what the phone gets and what the relay answers.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { relayWithSimulator, waitFor } from '../helpers/relay.ts';
import { queuedId, type Reply, SmtpDialog } from '../helpers/smtp.ts';

describe('legacy senders: the text of mail written slightly wrong', () => {
  const suite = relayWithSimulator({ sms: { domains: ['sms.localhost'], defaultRegion: 'GB' } });
  let nextNumber = 100;

  /**
   * `raw` (header and body, LF or CRLF; as bytes: CRLF, no line starting with a dot) sent to a new
   * number: the end-of-data reply and the SMS text the gateway got, if any.
   */
  async function send(raw: string | Buffer): Promise<{ reply: Reply; text: string | undefined }> {
    const number = `447700900${nextNumber++}`;
    const dialog = await SmtpDialog.open(suite.port);
    let reply: Reply;
    try {
      await dialog.command('EHLO legacy.example.com');
      await dialog.command('MAIL FROM:<alerts@example.com>');
      await dialog.command(`RCPT TO:<${number}@sms.localhost>`);
      if (typeof raw === 'string') reply = await dialog.data(raw);
      else {
        await dialog.command('DATA');
        dialog.write(Buffer.concat([raw, Buffer.from('.\r\n')]));
        reply = await dialog.reply();
      }
    } finally {
      await dialog.close();
    }
    if (reply.code !== 250) return { reply, text: undefined };
    const received = () => suite.gateway.simulator.received.filter((sms) => sms.to === number);
    const [sms] = await waitFor(`the SMS to ${number}`, () => received().length === 1 && received());
    return { reply, text: sms?.text };
  }

  const mail = (contentType: string, body: string) => `From: x@example.com\nSubject: the subject\nMIME-Version: 1.0\nContent-Type: ${contentType}\n\n${body}\n`;

  test('a Content-Type with its parameters not separated by ";" or with no subtype is read as text (RFC 2045 §5.2), never an attachment', async () => {
    for (const contentType of [
      'text/plain charset="UTF-8"',
      'text/plain, charset=utf-8',
      'text',
      'text/',
      'TEXT/PLAIN CHARSET=UTF-8',
      'plain/text; charset=utf-8',
    ]) {
      const { reply, text } = await send(mail(contentType, 'Pump 2 failed at café'));
      assert.equal(reply.code, 250, contentType);
      assert.doesNotMatch(reply.text, /attachment/, contentType);
      assert.equal(text, 'Pump 2 failed at café', contentType);
    }
    // An HTML part so written is read as HTML: its text, not its tags.
    assert.equal((await send(mail('text/html charset=utf-8', '<p>Pump 2 <b>failed</b></p>'))).text, 'Pump 2 failed');
    // Without a subject the mail is sent, not refused as having only an attachment.
    const unsubjected = await send('From: x@example.com\nContent-Type: text/plain charset="UTF-8"\n\nPump 3 failed\n');
    assert.equal(unsubjected.text, 'Pump 3 failed');
    // A broken type that still names a file, or a type other than text, stays an attachment: its bytes are never texted.
    for (const contentType of ['application; name="report.pdf"', 'image', 'text; name="dump.bin"']) {
      const { reply, text } = await send(
        `From: x@example.com\nSubject: the subject\nMIME-Version: 1.0\nContent-Type: ${contentType}\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQKJcfsj6IK\n`,
      );
      assert.match(reply.text, /attachment/, contentType);
      assert.equal(text, 'the subject', contentType);
    }
  });

  test('the parameters of a broken Content-Type are kept: its charset and format=flowed are read', async () => {
    assert.equal((await send(mail('text/plain charset=utf-8 format=flowed', 'Pump 2 \nfailed'))).text, 'Pump 2 failed');
    assert.equal((await send(mail('text charset=utf-7', 'Pumpe 2 gest+APY-rt'))).text, 'Pumpe 2 gestört');
  });

  test('a bare "--" a script echoes above its output keeps the lines below it; above a name it is a signature', async () => {
    const cron = 'From: root (Cron Daemon)\nSubject: Cron <root@db1> /usr/local/bin/check-raid\n\nmd0: clean\n--\nmd1: DEGRADED, sdb2 failed\n';
    assert.equal((await send(cron)).text, 'md0: clean\n--\nmd1: DEGRADED, sdb2 failed');
    const backup = 'From: backup@db1.example.com\nSubject: backup\n\nDB backup FAILED on db1\n--\nexit code 2\nsee /var/log/backup.log\n';
    assert.equal((await send(backup)).text, 'DB backup FAILED on db1\n--\nexit code 2\nsee /var/log/backup.log');
    assert.equal((await send('From: john@example.com\nSubject: s\n\nCall me\n--\nJohn Smith\nACME Ltd\n')).text, 'Call me');
  });

  test('a uuencoded file in the text (Outlook Express, `uuencode | mail`) is an attachment: not sent, and named in the 250', async () => {
    const encoded = ['begin 644 report.txt', String.raw`M4F5P;W)T.B!A;&P@8F%C:W5P<R!O:RP@,3(@1T(@=W)I='1E;BP@;F\@97)R`, '#;W)S', '`', 'end', ''].join('\n');
    const { reply, text } = await send(`From: root@db1.example.com\nSubject: nightly report\n\nReport attached.\n\n${encoded}`);
    assert.equal(text, 'Report attached.');
    assert.match(reply.text, /\(the attachment "report\.txt" is not sent: an SMS carries text only\)$/);
    // A "begin" line with no uuencoding under it is text.
    const plain = 'begin 644 was the mode we set\nthen the job ended\nend';
    assert.equal((await send(`From: x@example.com\nSubject: s\n\n${plain}\n`)).text, plain);
  });

  test('a mail whose only line was read as a header field is refused saying so, and how to send it', async () => {
    for (const line of ['CRITICAL: disk full on db1', 'Error: backup failed']) {
      const { reply } = await send(`${line}\n`);
      assert.equal(reply.code, 554, line);
      assert.equal(
        reply.text,
        `5.6.0 The mail has no text to send as SMS: it has no body: with no empty line after the header, each line was read as a header field (the last "${line}"); start the text after an empty line, or put it in the subject`,
      );
    }
    // Started after an empty line, the same line is the text.
    assert.equal((await send('\nCRITICAL: disk full on db1\n')).text, 'CRITICAL: disk full on db1');
  });

  test('a multipart whose boundary never occurs: its parts are read by the boundary its body uses, or its body as text', async () => {
    const header = 'From: x@example.com\nSubject: Alarm\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="AAA"\n\n';
    const other = await send(`${header}--BBB\nContent-Type: text/plain; charset=utf-8\n\nPump 2 failed\n--BBB--\n`);
    assert.equal(other.text, 'Pump 2 failed');
    const none = await send(`${header}Pump 2 failed\nPump 3 running\n`);
    assert.equal(none.text, 'Pump 2 failed\nPump 3 running');
  });

  test('a multipart with no boundary, an empty one or one written with a colon: its body is read, not the subject sent in its place', async () => {
    const parts =
      '--PHP-alt-abc\nContent-Type: text/plain; charset=utf-8\n\nNew order 1042 from website, 3 items.\n--PHP-alt-abc\nContent-Type: text/html; charset=utf-8\n\n<p>New order 1042 from website, 3 items.</p>\n--PHP-alt-abc--\n';
    const header = (contentType: string, subject = 'Subject: New order\n') =>
      `From: web@shop.example.com\n${subject}MIME-Version: 1.0\nContent-Type: ${contentType}\n\n`;
    for (const contentType of [
      'multipart/alternative',
      'multipart/alternative; boundary=""',
      'multipart/alternative; boundary=',
      'multipart/alternative; boundary:"PHP-alt-abc"',
    ]) {
      const { reply, text } = await send(`${header(contentType)}${parts}`);
      assert.equal(reply.code, 250, contentType);
      assert.equal(text, 'New order 1042 from website, 3 items.', contentType);
    }
    const plain = await send(`${header('multipart/mixed', '')}Pump 2 failed at station North.\n`);
    assert.equal(plain.reply.code, 250, plain.reply.text);
    assert.equal(plain.text, 'Pump 2 failed at station North.');
  });

  test("a cron job's progress meter (bare CR redraws) is sent as its last state, not refused as too long; overstrike as printed", async () => {
    const progress = Array.from({ length: 101 }, (_, i) => `\r${String(i).padStart(3)}% [${'='.repeat(Math.floor(i / 5)).padEnd(20)}] ${i * 120} KB`).join('');
    const cron = 'From: root@db1.example.com (Cron Daemon)\nSubject: Cron <root@db1> /usr/local/bin/fetch-backup\n\n';
    const { reply, text } = await send(`${cron}Downloading backup.tar.gz\n${progress}\nDownload FAILED: checksum mismatch\n`);
    assert.equal(reply.code, 250, reply.text);
    assert.equal(text, 'Downloading backup.tar.gz\n100% [====================] 12000 KB\nDownload FAILED: checksum mismatch');
    assert.equal((await send(`${cron}N\bNA\bAM\bME\bE\n     fetch-backup - fetch the backup\n`)).text, 'NAME\nfetch-backup - fetch the backup');
  });

  test('a part in a transfer encoding the relay does not know (base-64, x-gzip64) is an attachment (RFC 2045 §6.4), named in the 250, never texted', async () => {
    for (const encoding of ['base-64', 'x-gzip64', 'quoted printable']) {
      const { reply, text } = await send(
        `From: x@example.com\nSubject: Pump alarm\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: ${encoding}\n\nUHVtcCAyIGZhaWxlZCBhdCBzdGF0aW9uIE5vcnRoLg==\n`,
      );
      assert.equal(text, 'Pump alarm', encoding);
      assert.match(reply.text, /\(the attachment "application\/octet-stream" is not sent: an SMS carries text only\)$/, encoding);
    }
    // The identity encodings, also misspelt, are text.
    assert.equal((await send(mail('text/plain; charset=utf-8\nContent-Transfer-Encoding: 8-bit', 'Pump 2 failed'))).text, 'Pump 2 failed');
  });

  test('a Mac file sent as AppleDouble (Eudora, Mail for Mac OS 9: resource fork and data) is one attachment in the 250', async () => {
    const appleDouble =
      'From: mac@example.com\nSubject: Invoice\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="M"\n\n--M\nContent-Type: text/plain\n\nInvoice attached.\n--M\nContent-Type: multipart/appledouble; boundary="D"\n\n--D\nContent-Type: application/applefile; name="Invoice.pdf"\nContent-Transfer-Encoding: base64\n\nAAUWBwACAAA=\n--D\nContent-Type: application/pdf; name="Invoice.pdf"\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--D--\n--M--\n';
    const { reply, text } = await send(appleDouble);
    assert.equal(text, 'Invoice attached.');
    assert.match(reply.text, /\(the attachment "Invoice\.pdf" is not sent: an SMS carries text only\)$/);
  });

  test("an image the HTML reaches by Content-Location (Outlook Express's multipart/related) is inside the HTML: not named as an attachment", async () => {
    const related =
      'From: oe@example.com\nSubject: Report\nMIME-Version: 1.0\nContent-Type: multipart/related; boundary="R"; type="text/html"\n\n--R\nContent-Type: text/html; charset=us-ascii\n\n<HTML><BODY><IMG src="logo.gif"><P>Pump 2 failed.</P></BODY></HTML>\n--R\nContent-Type: image/gif\nContent-Transfer-Encoding: base64\nContent-Location: logo.gif\n\nR0lGODlhAQABAAAAACw=\n--R--\n';
    const { reply, text } = await send(related);
    assert.equal(text, 'Pump 2 failed.');
    assert.doesNotMatch(reply.text, /attachment/);
  });

  test('a rule of underscores in a mail that answers none is a separator: the alert below it is sent', async () => {
    const rule = '_'.repeat(40);
    const nagios = `***** Nagios *****\nNotification Type: PROBLEM\n${rule}\nHost: db1\nState: DOWN\nAddress: 10.0.0.5\n`;
    const { reply, text } = await send(`From: nagios@mon.example.com\nSubject: ** PROBLEM Host Alert: db1 is DOWN **\n\n${nagios}`);
    assert.equal(text, nagios.trimEnd());
    assert.doesNotMatch(reply.text, /\(/);
    const cron = `Backup report for db1\n${'_'.repeat(20)}\ndb1: FAILED (exit 2)\ndb2: ok`;
    assert.equal((await send(`From: root@db1.example.com\nSubject: backup\n\n${cron}\n`)).text, cron);
    // An alert threaded under the one it follows (In-Reply-To: a reply) keeps its lines below the rule too.
    const recovery = `***** Icinga *****\nNotification Type: RECOVERY\n${rule}\nHost: db1\nState: UP\n`;
    assert.equal(
      (await send(`From: icinga@mon.example.com\nSubject: RECOVERY db1\nIn-Reply-To: <problem-db1@mon.example.com>\n\n${recovery}`)).text,
      recovery.trimEnd(),
    );
    // Above an Outlook reply's header block the rule still opens the mail answered.
    const header = 'From: Ops <ops@example.com>\nSent: Tuesday, 20 March 2026 08:48\nTo: Ana <ana@example.com>\nSubject: backup';
    const answer = `From: ops@example.com\nSubject: Re: backup\nIn-Reply-To: <a@example.com>\n\nOn it.\n\n${rule}\n${header}\n\nBackup report for db1\n`;
    assert.equal((await send(answer)).text, 'On it.');
  });

  test('a contact block that a line ending in ":" announces is the text, not a signature', async () => {
    const body = 'Database db1 is down since 05:40. Call the on-call engineer:\n\nJohn Smith\n+44 7700 900123\njohn.smith@example.com';
    assert.equal((await send(`From: monitor@example.com\nSubject: DB down\n\n${body}\n`)).text, body);
    // Under a sentence it is the writer's signature.
    const signed = 'Database db1 is down since 05:40.\n\nJohn Smith\n+44 7700 900123\njohn.smith@example.com';
    assert.equal((await send(`From: monitor@example.com\nSubject: DB down\n\n${signed}\n`)).text, 'Database db1 is down since 05:40.');
  });

  test('a last line "Sent from/via <place>" is where the alarm is; "Sent from my …" and a known app or device are device lines', async () => {
    for (const body of [
      'Temperature 9 C, limit 5 C.\nSent from sensor 4 in cold room B',
      'Pump 2 pressure low (0.4 bar).\nSent via gateway GW-12 at pump station North',
      'Door 3 open.\nSent from the warehouse gateway',
    ]) {
      assert.equal((await send(`From: iot@example.com\nSubject: alarm\n\n${body}\n`)).text, body);
    }
    for (const device of ['Sent from my iPhone', 'Sent from Yahoo Mail on Android', 'Sent with Proton Mail secure email.', 'Enviado desde mi teléfono']) {
      assert.equal((await send(`From: bob@example.com\nSubject: s\n\nCall me.\n${device}\n`)).text, 'Call me.', device);
    }
  });

  test('the formal closings ("Yours faithfully,", "Sincerely,") end the text like "Kind regards,"', async () => {
    const text = 'Dear customer,\n\nInvoice 4711 of 1,250.00 GBP is 14 days overdue. Please pay by 12 December.';
    for (const closing of ['Yours faithfully,', 'Yours sincerely,', 'Sincerely,', 'Yours truly,', 'Respectfully,', 'Hochachtungsvoll']) {
      const mail = `From: accounts@erp.example.com\nSubject: Payment reminder\n\n${text}\n\n${closing}\n\nAccounts Department\nACME Ltd\n`;
      assert.equal((await send(mail)).text, text, closing);
    }
  });

  test('a file uuencoded in base64 (`uuencode -m`) or BinHex 4.0 (old Mac mailers) is an attachment: not sent, and named in the 250', async () => {
    const data = Buffer.from('backup log: 12 GB written, 0 errors, duration 02:13:45\n'.repeat(8)).toString('base64');
    const base64 = ['begin-base64 644 report.log', ...(data.match(/.{1,76}/g) ?? []), '===='].join('\n');
    const uuencoded = await send(`From: root@db1.example.com\nSubject: nightly report\n\nReport attached.\n\n${base64}\n`);
    assert.equal(uuencoded.text, 'Report attached.');
    assert.match(uuencoded.reply.text, /\(the attachment "report\.log" is not sent: an SMS carries text only\)$/);
    // The file name is in BinHex's own header: this block holds "invoice-4711.txt".
    const binHex = [
      '(This file must be converted with BinHex 4.0)',
      ":%'PZGQpTBf8Y0$Fa-5jdH(3!9%9B9(4dH(3!N!9F!*!%2lp*ERC[D@0P)$3h-6%",
      '+3@e[G@jd1L!a,$)e-#i`-#"(3P!+4(9P1L"\'FQPNBAN+5@jfEfPMC5!d0c%a#N&',
      "YEh9ZG$SJ-5`b06!Z-$!J4d*3#N4eC6SJ4R*TC'&j#Rqk!!!:",
    ].join('\n');
    const mac = await send(`From: mac@example.com\nSubject: Invoice\n\nInvoice 4711 attached, please pay by Friday.\n\n${binHex}\n`);
    assert.equal(mac.text, 'Invoice 4711 attached, please pay by Friday.');
    assert.match(mac.reply.text, /\(the attachment "invoice-4711\.txt" is not sent: an SMS carries text only\)$/);
  });

  test('an encoded file cut short before its end line (a truncated `uuencode` output) is still an attachment, never texted', async () => {
    const data = Buffer.from('backup log: 12 GB written, 0 errors, duration 02:13:45\n'.repeat(8)).toString('base64');
    const cut = ['begin-base64 644 report.log', ...(data.match(/.{1,76}/g) ?? []).slice(0, 3)].join('\n');
    const base64 = await send(`From: root@db1.example.com\nSubject: nightly report\n\nReport attached.\n\n${cut}\n`);
    assert.equal(base64.text, 'Report attached.');
    assert.match(base64.reply.text, /\(the attachment "report\.log" is not sent: an SMS carries text only\)$/);
    const line = `M${'4F5P;W)T.B!A;&P@8F%C:W5P<R!O:RP@,3(@1T(@=W)I=1E;BP@;F'.padEnd(60, '!')}`;
    const uuencoded = await send(`From: root@db1.example.com\nSubject: nightly report\n\nReport attached.\n\nbegin 644 report.txt\n${line}\n${line}\n`);
    assert.equal(uuencoded.text, 'Report attached.');
    assert.match(uuencoded.reply.text, /\(the attachment "report\.txt" is not sent: an SMS carries text only\)$/);
    // Short lines under a begin line, with no end line, are text.
    const plain = 'begin 644 was the mode we set\nOK';
    assert.equal((await send(`From: x@example.com\nSubject: s\n\n${plain}\n`)).text, plain);
  });

  test("ISO-2022-KR, HZ-GB-2312 and ISO-2022-JP's other labels (csISO2022JP, Windows' CP5022x, x-windows-iso2022jp) are decoded", async () => {
    for (const [charset, body, expected] of [
      ['ISO-2022-KR', '\u001b$)C\u000e<-9v\u000f \u000eA_Av\u000f', '서버 중지'],
      ['HZ-GB-2312', '~{7~NqFwM#V9~} ~~1', '服务器停止 ~1'],
      ['csISO2022JP', '\u001b$BDd;_\u001b(B 08', '停止 08'],
      ['CP50221', '\u001b$BDd;_\u001b(B 08', '停止 08'],
      ['x-windows-iso2022jp', '\u001b$BDd;_\u001b(B 08', '停止 08'],
      ['CP50220', '\u001b$BDd;_\u001b(B \u001b(I6E\u001b(B', '停止 ｶﾅ'],
    ]) {
      assert.equal((await send(mail(`text/plain; charset=${charset}`, body ?? ''))).text, expected, charset);
    }
  });

  test('ISO-2022-JP, ISO-2022-KR and HZ text with no charset, or labelled us-ascii or utf-8, is read by its escapes, as its raw subject is', async () => {
    // ポンプ３が停止しました。 as `nkf -j` writes it.
    const jis = '\u001b$B%]%s%W#3$,Dd;_$7$^$7$?!#\u001b(B';
    const texts: ReadonlyArray<readonly [string, string, string]> = [
      [jis, 'ポンプ３が停止しました。', 'ISO-2022-JP'],
      ['\u001b$)C\u000e<-9v\u000f \u000eA_Av\u000f', '서버 중지', 'ISO-2022-KR'],
      ['~{7~NqFwM#V9~} ~~1', '服务器停止 ~1', 'HZ'],
    ];
    for (const [body, expected, charset] of texts) {
      // No MIME headers at all (old Japanese mailers and devices), text/plain with no charset, and the labels read as UTF-8.
      assert.equal((await send(`From: x@example.com\nSubject: alarm\n\n${body}\n`)).text, expected, `${charset}, no MIME headers`);
      for (const contentType of ['text/plain', 'text/plain; charset=us-ascii', 'text/plain; charset=utf-8'])
        assert.equal((await send(mail(contentType, body))).text, expected, `${charset} as ${contentType}`);
    }
    // An HTML part too, and the text still decodes only where it decodes cleanly: an escape alone is no JIS text (removed
    // whole, as the terminal escape sequence it is), and a stray `~{` is text as written.
    assert.equal((await send(mail('text/html', `<p>${jis}</p>`))).text, 'ポンプ３が停止しました。');
    assert.equal((await send(mail('text/plain', 'a \u001b$B b'))).text, 'a b');
    assert.equal((await send(mail('text/plain', 'ls ~{a,b} done'))).text, 'ls ~{a,b} done');
  });

  test("PHP's hand-built MIME (a base64 attachment on one line, the closing delimiter forgotten) keeps the legacy charset rules: Latin-1 text, raw subject", async () => {
    const pdf = Buffer.alloc(70_000, 0xa5).toString('base64');
    const invoice = (subject: string, textHeader: string, text: string, attachment: string, closed: boolean) =>
      Buffer.from(
        `From: shop@example.com\r\nSubject: ${subject}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="PHP-mixed-1"\r\n\r\n` +
          `--PHP-mixed-1\r\n${textHeader}\r\n\r\n${text}\r\n--PHP-mixed-1\r\nContent-Type: application/pdf; name="rechnung.pdf"\r\n` +
          `Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="rechnung.pdf"\r\n\r\n${attachment}\r\n${closed ? '--PHP-mixed-1--\r\n' : ''}`,
        'latin1',
      );
    const latin1 = 'Rechnung f\xfcr J\xfcrgen M\xfcller anbei';
    const mixed = 'Rechnung f\xc3\xbcr J\xfcrgen M\xfcller anbei';
    const expected = 'Rechnung für Jürgen Müller anbei';
    for (const [attachment, closed, shape] of [
      [pdf, true, 'one-line attachment'],
      ['JVBERi0xLjQK', false, 'no closing delimiter'],
      [pdf, false, 'both'],
    ] as const) {
      for (const [textHeader, text, label] of [
        ['Content-Type: text/plain', latin1, 'unlabelled Latin-1'],
        ['Content-Type: text/plain; charset=utf-8', latin1, 'Latin-1 labelled utf-8'],
        ['Content-Type: text/plain; charset=utf-8', mixed, 'a UTF-8 template with Latin-1 data'],
      ] as const) {
        const { reply, text: sms } = await send(invoice('Rechnung', textHeader, text, attachment, closed));
        assert.match(reply.text, /rechnung\.pdf/, `${shape}, ${label}`);
        assert.equal(sms, expected, `${shape}, ${label}`);
      }
      const subjectOnly = await send(invoice('Rechnung f\xfcr M\xfcller', 'Content-Type: text/plain', '', attachment, closed));
      assert.equal(subjectOnly.text, 'Rechnung für Müller', `${shape}, raw Latin-1 subject`);
    }
  });

  test("a mail without a Content-Type whose body is an HTML document (PHP's mail() with the header forgotten) is read as HTML; base64 and text mentioning <html> stay text", async () => {
    const page =
      '<html><head><title>Bestellung</title><style>td{padding:2px}</style></head><body><h2>Neue Bestellung #4711</h2><table><tr><td>Kunde:</td><td>J&uuml;rgen M&uuml;ller</td></tr></table></body></html>';
    const expected = 'Neue Bestellung #4711\n\nKunde: Jürgen Müller';
    assert.equal((await send(`From: x@example.com\nSubject: s\n\n${page}\n`)).text, expected);
    assert.equal((await send(`From: x@example.com\nSubject: s\n\n\n  <!DOCTYPE html>\n${page}\n`)).text, expected);
    // Text that only mentions a tag, and a body labelled text/plain, are read as written.
    assert.equal((await send('From: x@example.com\nSubject: s\n\nThe <html> tag is missing in index.php\n')).text, 'The <html> tag is missing in index.php');
    // First in the text too, and with an attribute, so long as no head, body or end of a document follows.
    assert.equal((await send('From: x@example.com\nSubject: s\n\n<html> is not closed in index.php\n')).text, '<html> is not closed in index.php');
    assert.equal(
      (await send('From: x@example.com\nSubject: s\n\n<!DOCTYPE html> is missing, and <html lang=de> too\n')).text,
      '<!DOCTYPE html> is missing, and <html lang=de> too',
    );
    assert.equal((await send(`From: x@example.com\nSubject: s\n\n<HTML lang="de">\n<BODY>Pumpe&nbsp;3</BODY>\n`)).text, 'Pumpe 3');
    assert.equal((await send(mail('text/plain; charset=utf-8', '<html><body>Pump 3</body></html>'))).text, '<html><body>Pump 3</body></html>');
    // A base64 body with no Content-Transfer-Encoding is sent as written: its letters may be the token or key meant.
    const encoded = Buffer.from('Pumpe 3 ist ausgefallen.').toString('base64');
    assert.equal((await send(`From: x@example.com\nSubject: s\n\n${encoded}\n`)).text, encoded);
  });

  test('a multipart/digest part without a Content-Type is a mail (RFC 2046 §5.1.5), as one with message/rfc822 written', async () => {
    const digest = (type: string) =>
      `From: dev@example.com\nSubject: Alert digest\nMIME-Version: 1.0\nContent-Type: multipart/digest; boundary="D"\n\n--D\n${type}\nFrom: a@x\nSubject: one\n\nAlert one body\n--D\n${type}\nFrom: a@x\nSubject: two\n\nAlert two body\n--D--\n`;
    const implicit = await send(digest(''));
    const explicit = await send(digest('Content-Type: message/rfc822\n'));
    assert.equal(implicit.text, 'Alert digest');
    assert.equal(implicit.text, explicit.text);
    assert.equal(implicit.reply.text.replace(/queued as \S+/, ''), explicit.reply.text.replace(/queued as \S+/, ''));
  });

  test('a fragment of a split mail (message/partial) is refused saying so, never sent as its subject', async () => {
    const fragment =
      'From: dev@example.com\nSubject: Big report (1/2)\nMIME-Version: 1.0\nContent-Type: message/partial;\n\tnumber=1; total=2;\n\tid="oe-123@host"\n\nMIME-Version: 1.0\nSubject: Big report\nContent-Type: text/plain; charset=us-ascii\n\nFirst half of the report text\n';
    const { reply } = await send(fragment);
    assert.equal(reply.code, 554);
    assert.match(reply.text, /^5\.6\.0 The mail cannot be read: it is one fragment of a mail split into several \(message\/partial\); send it unsplit/);
  });

  test('a Greek text in capitals is sent as GSM-7, its capitals that look Latin written with the Latin ones', async () => {
    const { text } = await send(mail('text/plain; charset=utf-8', 'ΣΦΑΛΜΑ: Ο ΔΙΣΚΟΣ ΕΙΝΑΙ ΠΛΗΡΗΣ'));
    assert.equal(text, 'ΣΦAΛMA: O ΔIΣKOΣ EINAI ΠΛHPHΣ');
    // IntelliSoftware's type 1 is GSM-7 text, 2 would be UCS-2 (hex).
    assert.equal(suite.gateway.simulator.received.find((received) => received.text === text)?.type, 1);
    // Uppercased by a program, which keeps the tonos (Python's upper(), JavaScript's toUpperCase()): GSM-7 too.
    const uppercased = await send(mail('text/plain; charset=utf-8', 'ΣΦΆΛΜΑ ΑΝΤΛΊΑΣ 3: ΥΨΗΛΉ ΘΕΡΜΟΚΡΑΣΊΑ'));
    assert.equal(uppercased.text, 'ΣΦAΛMA ANTΛIAΣ 3: YΨHΛH ΘEPMOKPAΣIA');
    assert.equal(suite.gateway.simulator.received.find((received) => received.text === uppercased.text)?.type, 1);
  });

  test('UTF-8 text under a fixed Shift_JIS, windows-1251 or KOI8-R label (body, encoded-word subject) reaches the phone as written', async () => {
    for (const [text, label] of [
      ['ポンプ3が停止しました', 'Shift_JIS'],
      ['펌프 3 고장', 'EUC-KR'],
      ['Сервер упал', 'windows-1251'],
      ['Сервер упал', 'KOI8-R'],
    ] as const) {
      assert.equal((await send(mail(`text/plain; charset=${label}`, text))).text, text, `${label} body`);
      const word = `=?${label}?B?${Buffer.from(text).toString('base64')}?=`;
      assert.equal((await send(`From: x@example.com\nSubject: ${word}\n\n`)).text, text, `${label} subject`);
    }
  });

  test('a mail file with a UTF-8 byte order mark before its headers is read by its headers, as one without', async () => {
    const file =
      'From: erp@example.com\r\nSubject: Lieferung =?iso-8859-1?Q?f=FCr?= Kunde\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nDie Lieferung f=FCr M=FCller ist versandbereit.\r\n';
    const marked = await send(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(file)]));
    assert.equal(marked.text, 'Die Lieferung für Müller ist versandbereit.');
    // With an empty body the subject is the text: the header fields are read as such.
    const subjectOnly = await send(Buffer.from('\uFEFFFrom: erp@example.com\r\nSubject: Lieferung bereit\r\n\r\n'));
    assert.equal(subjectOnly.text, 'Lieferung bereit');
    // Saved so twice, or saved so and then appended to an mbox after its `From ` line.
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    const mbox = Buffer.from('From root@db1 Mon Dec  7 06:00:00 2026\r\n');
    for (const written of [Buffer.concat([bom, bom, Buffer.from(file)]), Buffer.concat([mbox, bom, Buffer.from(file)])]) {
      assert.equal((await send(written)).text, 'Die Lieferung für Müller ist versandbereit.');
    }
  });

  test('UTF-8 encoded twice by a latin1 database connection (fÃ¼r MÃ¼ller) is sent as meant, in GSM-7', async () => {
    const meant = 'Bestellung für Müller, Größe L, 12 € bezahlt';
    // Its bytes read as Latin-1 (`â\u0082¬` for `€`), and as windows-1252 (`â‚¬`).
    const latin1 = Buffer.from(meant).toString('latin1');
    for (const [label, body] of [
      ['utf-8', latin1],
      ['iso-8859-1', latin1.replace('\u0082', '\u201a')],
    ] as const) {
      const { text } = await send(mail(`text/plain; charset=${label}`, body));
      assert.equal(text, meant, label);
      assert.equal(suite.gateway.simulator.received.findLast((received) => received.text === text)?.type, 1, label);
    }
  });

  test('ISO-2022-JP text under a Shift_JIS or EUC-JP label (jcode.pl, nkf), ISO-2022-KR under EUC-KR, is read by its escapes', async () => {
    const jis = '\u001b$B%]%s%W\u001b(B3\u001b$B$,Dd;_$7$^$7$?\u001b(B';
    for (const label of ['Shift_JIS', 'EUC-JP', 'windows-31j'])
      assert.equal((await send(mail(`text/plain; charset=${label}`, jis))).text, 'ポンプ3が停止しました', label);
    assert.equal((await send(mail('text/plain; charset=EUC-KR', '\u001b$)C\u000eF_GA\u000f \u000e0m@e\u000f'))).text, '펌프 고장');
  });

  test('the "no text" answers name what the body held: an encoded file, or nothing', async () => {
    const scan = ['begin 644 scan0001.pdf', 'M4F5P;W)T', '`', 'end'].join('\n');
    const { reply } = await send(`From: scanner@example.com\nSubject: Scanned document\n\n${scan}\n`);
    assert.match(reply.text, /\(the body held only an encoded file: the subject was sent in its place; the attachment "scan0001\.pdf" is not sent/);
    const unsubjected = await send(`From: scanner@example.com\n\n${scan}\n`);
    assert.match(
      unsubjected.reply.text,
      /^5\.6\.0 The mail has no text to send as SMS: the body held only an encoded file and the mail has no subject; the attachment "scan0001\.pdf"/,
    );
    const image = await send(
      'From: bob@example.com\nSubject: Photo of rack 4\nMIME-Version: 1.0\nContent-Type: multipart/related; boundary="R"\n\n--R\nContent-Type: text/plain\n\n[cid:image001.jpg@01DB4A2C.7F3E1A20]\n--R\nContent-Type: image/jpeg\nContent-ID: <image001.jpg@01DB4A2C.7F3E1A20>\nContent-Transfer-Encoding: base64\n\n/9j/4AAQ\n--R--\n',
    );
    assert.match(image.reply.text, /\(the body held only an image placeholder: the subject was sent in its place\)$/);
    const empty = await send('\n');
    assert.equal(empty.reply.text, '5.6.0 The mail has no text to send as SMS: the body is empty and the mail has no subject');
  });

  test('an HTML rule (<hr>) is a paragraph break, not 40 hyphens', async () => {
    const html = '<p>Disk full on db1</p><hr><p>Free space on /var is 0 bytes, the database stopped.</p>';
    assert.equal((await send(mail('text/html; charset=utf-8', html))).text, 'Disk full on db1\n\nFree space on /var is 0 bytes, the database stopped.');
  });

  test('a charset written with a colon or a blank for its "=" is read as meant', async () => {
    const koi8r = String.fromCharCode(0xf4, 0xc5, 0xd3, 0xd4); // "Тест" in KOI8-R
    for (const contentType of ['text/plain; charset:koi8-r', 'text/plain; charset koi8-r', 'text/plain; charset: "koi8-r"']) {
      const raw = Buffer.from(
        `From: x@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: ${contentType}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${koi8r}\r\n`,
        'latin1',
      );
      assert.equal((await send(raw)).text, 'Тест', contentType);
    }
  });

  test('a plain alternative of punctuation alone (".") is a placeholder: the HTML is sent', async () => {
    const alternative = `From: x@example.com\nSubject: s\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary="A"\n\n--A\nContent-Type: text/plain\n\n.\n--A\nContent-Type: text/html\n\n<p>Pump 2 failed</p>\n--A--\n`;
    assert.equal((await send(alternative)).text, 'Pump 2 failed');
    // A number alone is text.
    assert.equal((await send(alternative.replace('\n.\n', '\n42\n'))).text, '42');
  });

  test('a body of punctuation alone (`echo . | mail -s`, a template\'s "-") beside a subject is empty: the subject is sent and the 250 says so', async () => {
    const alert = 'ALERT db1 disk 95% full';
    const bodies = [
      ['text/plain', '.'],
      ['text/plain', '-'],
      ['text/plain', '...\n\n*'],
      ['text/plain', '_'],
      ['text/html', '<p>.</p>'],
      ['multipart/alternative; boundary="A"', '--A\nContent-Type: text/plain\n\n.\n--A\nContent-Type: text/html\n\n<p>.</p>\n--A--'],
    ];
    for (const [contentType, body] of bodies) {
      const { reply, text } = await send(`From: root@db1.example.com\nSubject: ${alert}\nMIME-Version: 1.0\nContent-Type: ${contentType}\n\n${body}\n`);
      assert.equal(text, alert, body);
      assert.match(reply.text, /\(the body held only punctuation: the subject was sent in its place\)$/, body);
    }
    // A mark that says something, a word, a number or an emoji is the text; with no subject, punctuation alone is sent.
    for (const body of ['?', '!', ':-)', 'OK', '1', '👍']) {
      assert.equal((await send(`From: root@db1.example.com\nSubject: ${alert}\nContent-Type: text/plain; charset=utf-8\n\n${body}\n`)).text, body);
    }
    assert.equal((await send('From: root@db1.example.com\n\n.\n')).text, '.');
  });

  test("an HTML form's fields are each on their line, a list with its chosen option", async () => {
    const form = '<p>Fill in:</p><textarea>form text</textarea><select><option>opt A</option><option selected>opt B</option></select>';
    assert.equal((await send(mail('text/html; charset=utf-8', form))).text, 'Fill in:\n\nform text\nopt B');
  });

  test('terminal escape sequences of every ECMA-48 form (charset designations, OSC titles and links, ESC 7/8, DEC line drawing) leave nothing in the SMS', async () => {
    const cron = (body: string) => `From: root@db1.example\nSubject: Cron <root@db1> check\n\n${body}\n`;
    const cases: ReadonlyArray<readonly [string, string]> = [
      // `tput setaf 1` … `tput sgr0` on TERM=xterm: sgr0 is ESC ( B ESC [ m.
      ['\x1b[31mERROR\x1b(B\x1b[m backup failed', 'ERROR backup failed'],
      // NEL (`ESC E`) is a line break as the terminal shows it, the next line's text right after it.
      ['line one\x1bEline two', 'line one\nline two'],
      // A prompt's window title in a captured session (BEL), another ended by ST.
      ['\x1b]0;root@db1: ~\x07backup done', 'backup done'],
      ['\x1b]2;title\x1b\\backup done', 'backup done'],
      // OSC 8 hyperlinks (ls --hyperlink, systemd, gcc): the link's text stays.
      ['see \x1b]8;;https://x.example/r\x1b\\report\x1b]8;;\x1b\\ now', 'see report now'],
      // Cursor save and restore, keypad modes, a DCS string, a G1 designation.
      ['\x1b=\x1b7backup done\x1b8\x1b>\x1bP1$r0m\x1b\\\x1b)0', 'backup done'],
      // dialog/whiptail's box: its drawing dropped, its symbols (° ±) written; a run never reset is text as written.
      ['\x1b(0lqqqk\x1b(B backup done \x1b(0f\x1b(B21', 'backup done °21'],
      ['\x1b(0lqqqk x done', 'lqqqk x done'],
      // A progress meter's redraw with a designation in it still draws the last state.
      ['Copying\ncopy 50%\r\x1b(Bcopy 100%', 'Copying\ncopy 100%'],
    ];
    for (const [body, sent] of cases) assert.equal((await send(cron(body))).text, sent, JSON.stringify(body));
    // A C1 code point is a mislabelled charset's letter, removed alone with no word after it: cp1250 under iso-8859-2
    // (`ź` 0x9F an APC, `ś` 0x9C an ST), cp1252 read as Latin-1 under utf-8 (`›` U+009B a CSI, `ž` U+009E, `œ` U+009C).
    const latin2 = Buffer.concat([
      Buffer.from('From: ups@example.com\r\nSubject: A\r\nContent-Type: text/plain; charset=iso-8859-2\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'),
      Buffer.from('55776167613a209f72f364b36f207a6173696c616e6961206f64b3b9637a6f6e652c207779b3b9637a6f6e6f209c636965bf6bea20646f20736572776572610d0a', 'hex'),
    ]);
    assert.equal((await send(latin2)).text, 'Uwaga: ródło zasilania odłšczone, wyłšczono cieżkę do serwera');
    const latin1AsUtf8 = (body: string) => `From: x@example.com\nSubject: A\nContent-Type: text/plain; charset=utf-8\n\n${body}\n`;
    assert.equal((await send(latin1AsUtf8('Menu \u009b Settings; Caf\u00e9 \u009cuvre'))).text, 'Menu Settings; Café uvre');
    assert.equal((await send(latin1AsUtf8('Preis 5 \u0080 f\u00fcr \u009eabc\u009c ok'))).text, 'Preis 5 für abc ok');
    // A stray ESC before a word keeps the word's first letter; ESC 7 (save the cursor) before a count is what it is.
    assert.equal((await send(latin1AsUtf8('stray \x1bHello and \x1bM status'))).text, 'stray Hello and status');
    // A first-line UserContext a script wrapped in colours (`$(tput bold)UserContext:$(tput sgr0) T-4719`) is read.
    const { reply, text } = await send(cron('\x1b[1mUserContext:\x1b(B\x1b[m T-4719\x1b(B\x1b[m\nPump 37 tripped in colour'));
    assert.equal(reply.code, 250, reply.text);
    assert.equal(text, 'Pump 37 tripped in colour');
    const [sms] = suite.gateway.simulator.received.filter((received) => received.text === 'Pump 37 tripped in colour');
    assert.equal(sms?.userContext, 'T-4719');
  });

  test("CESU-8 under a UTF-8 label (Oracle's UTF8, Java's modified UTF-8) is read as the characters meant: a surrogate pair's two sequences one character, C0 80 a NUL", async () => {
    const oracle = (body: string) =>
      Buffer.from(`From: erp@example.com\r\nSubject: Alarm\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n${body}\r\n`, 'latin1');
    assert.equal((await send(oracle('St\xc3\xb6rung Pumpe 3 \xed\xa0\xbd\xed\xb4\xa5 bitte pr\xc3\xbcfen'))).text, 'Störung Pumpe 3 🔥 bitte prüfen');
    assert.equal((await send(oracle('St\xc3\xb6rung\xc0\x80 Pumpe 4'))).text, 'Störung Pumpe 4');
    // Beside Latin-1 bytes the pair is still the one character; a lone half means nothing and is read as before (windows-1252).
    assert.equal((await send(oracle('Pumpe 5 \xed\xa0\xbd\xed\xb4\xa5 M\xfcller'))).text, 'Pumpe 5 🔥 Müller');
    assert.equal((await send(oracle('Pumpe 6 \xed\xa0\xbd M\xfcller'))).text, 'Pumpe 6 í ½ Müller');
  });

  /** The texts the gateway got for `number`. */
  const texts = (number: string) => suite.gateway.simulator.received.filter((sms) => sms.to === number).map((sms) => sms.text);
  /** A UPS's mail under `messageId` to `numbers`, its Date `date`, over SMTP; its answer. */
  const deliver = async (numbers: readonly string[], messageId: string, date: string, body: string): Promise<Reply> => {
    const dialog = await SmtpDialog.open(suite.port);
    try {
      await dialog.command('EHLO ups1.example.com');
      await dialog.command('MAIL FROM:<ups1@example.com>');
      for (const number of numbers) await dialog.command(`RCPT TO:<${number}@sms.localhost>`);
      const raw = `From: ups1@example.com\nTo: oncall@sms.localhost\nSubject: UPS1\nDate: Mon, 7 Dec 2026 ${date} +0000\nMessage-ID: ${messageId}\n\n${body}\n`;
      return await dialog.data(raw);
    } finally {
      await dialog.close();
    }
  };

  test("a device reusing its Message-ID gets each alert texted; a client's resend of the latest, its Date rebuilt, is sent once; one Message-ID in a transaction per number folds each one's resend alone", async () => {
    const ups = `447700900${nextNumber++}`;
    // The UPS's power flaps: on battery, restored, on battery again, each mail under its one Message-ID.
    for (const [date, body] of [
      ['10:00:01', 'On battery power'],
      ['10:03:40', 'Power restored'],
    ] as const)
      assert.doesNotMatch((await deliver([ups], '<1@ups1.local>', date, body)).text, /sent once/);
    const again = await deliver([ups], '<1@ups1.local>', '10:05:12', 'On battery power');
    assert.doesNotMatch(again.text, /sent once/);
    await waitFor('three SMS', () => texts(ups).length === 3);
    // A client (Django, nodemailer, a job queue) that lost the 250 rebuilds the mail with a new Date, its Message-ID kept.
    assert.match((await deliver([ups], '<1@ups1.local>', '10:06:13', 'On battery power')).text, new RegExp(`the same mail as ${queuedId(again)}: sent once`));
    // A list's per-member copies (or a split at a recipient limit) under one Message-ID: A, B, then A's resend after a lost 250.
    const [a, b] = [`447700900${nextNumber++}`, `447700900${nextNumber++}`];
    const toA = await deliver([a], '<digest-7@lists.example.com>', '10:07:00', 'Nightly backup failed');
    assert.doesNotMatch((await deliver([b], '<digest-7@lists.example.com>', '10:07:00', 'Nightly backup failed')).text, /sent once/);
    assert.match(
      (await deliver([a], '<digest-7@lists.example.com>', '10:07:00', 'Nightly backup failed')).text,
      new RegExp(`the same mail as ${queuedId(toA)}: sent once`),
    );
    await waitFor('one SMS each', () => texts(a).length === 1 && texts(b).length === 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(
      [texts(ups), texts(a), texts(b)],
      [['On battery power', 'Power restored', 'On battery power'], ['Nightly backup failed'], ['Nightly backup failed']],
    );
  });

  test('a flap whose middle mail went to other or overlapping numbers is texted each alert: another text under the Message-ID to any numbers breaks the chain', async () => {
    const [a, b, c] = [`447700900${nextNumber++}`, `447700900${nextNumber++}`, `447700900${nextNumber++}`];
    // On battery to both; restored reached the relay in two transactions (the smarthost deferred one RCPT, retried it alone).
    assert.doesNotMatch((await deliver([a, b], '<2@ups2.local>', '11:00:01', 'On battery power')).text, /sent once/);
    for (const number of [a, b]) assert.doesNotMatch((await deliver([number], '<2@ups2.local>', '11:03:40', 'Power restored')).text, /sent once/);
    assert.doesNotMatch((await deliver([a, b], '<2@ups2.local>', '11:05:12', 'On battery power')).text, /sent once/, 'on battery again');
    // Restored to a superset (the on-call list grew), then on battery again to the first.
    assert.doesNotMatch((await deliver([c], '<3@ups2.local>', '11:06:00', 'On battery power')).text, /sent once/);
    assert.doesNotMatch((await deliver([a, c], '<3@ups2.local>', '11:07:00', 'Power restored')).text, /sent once/);
    assert.doesNotMatch((await deliver([c], '<3@ups2.local>', '11:08:00', 'On battery power')).text, /sent once/, 'on battery again');
    await waitFor('each alert texted', () => texts(a).length === 4 && texts(b).length === 3 && texts(c).length === 3);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(
      [texts(a), texts(b), texts(c)],
      [
        ['On battery power', 'Power restored', 'On battery power', 'Power restored'],
        ['On battery power', 'Power restored', 'On battery power'],
        ['On battery power', 'Power restored', 'On battery power'],
      ],
    );
  });

  test("a server's queued retry of a mail whose 250 was lost, arriving after the device's next alert, is sent once; the flap's alerts, each with its Date, are texted", async () => {
    const ups = `447700900${nextNumber++}`;
    // On battery (committed, its 250 lost: the UPS's smarthost queues it), restored, then the smarthost's retry, its Date kept.
    const battery = await deliver([ups], '<4@ups4.local>', '12:00:00', 'On battery power');
    assert.doesNotMatch((await deliver([ups], '<4@ups4.local>', '12:03:00', 'Power restored')).text, /sent once/);
    assert.match((await deliver([ups], '<4@ups4.local>', '12:00:00', 'On battery power')).text, new RegExp(`the same mail as ${queuedId(battery)}: sent once`));
    // The power flaps on: each alert with its own Date is texted, the late retry between them breaking nothing.
    assert.doesNotMatch((await deliver([ups], '<4@ups4.local>', '12:06:00', 'On battery power')).text, /sent once/, 'on battery again');
    assert.doesNotMatch((await deliver([ups], '<4@ups4.local>', '12:08:00', 'Power restored')).text, /sent once/, 'restored again');
    await waitFor('four SMS', () => texts(ups).length === 4);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(texts(ups), ['On battery power', 'Power restored', 'On battery power', 'Power restored']);
  });
});
