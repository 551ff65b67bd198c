/**
 * What mail systems and clients add around a reply to the relay's reply mail, and around a mail's
 * text: a gateway's `[EXTERNAL]` subject tag, reply prefixes with a period or in other scripts, GMX's
 * quote header with its date line first, Outlook's "Original Message" markers in more languages and
 * Finnish "VS:", image placeholders in a plain part, Google Calendar's date line and footers, app
 * lines. Real reply mails built by the relay's template, real MIME bytes through parseMail and
 * extractRequest, and the SMS encoder.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { configSchema } from '../../src/config/schema.ts';
import { extractRequest, parseMail } from '../../src/mail/extract.ts';
import { textPolicyFor } from '../../src/mail/policy.ts';
import { Templates } from '../../src/mailer/templates.ts';
import { buildReplyMail, replyMailOptions } from '../../src/replies/reply-mail.ts';
import { analyseText } from '../../src/sms/encoding.ts';
import { plainClientMail } from '../helpers/mail-fixtures.ts';

const POLICY = textPolicyFor(configSchema.shape.text.parse(undefined), 'alice@example.com');
const PHONE_ADDRESS = '447700900310@sms.localhost';

/** A plain-text UTF-8 mail as a client writes it (plainClientMail), to the phone. */
const raw = (subject: string, body: string, headers: readonly string[] = []) =>
  plainClientMail(subject, body, { to: PHONE_ADDRESS, date: 'Sun, 6 Dec 2026 06:40:00 +0100', messageId: 'mail-systems@example.com', headers });

describe("answers to the relay's reply mail through mail systems and clients", () => {
  let sent = '';
  let subject = '';
  let messageId = '';

  before(async () => {
    const options = replyMailOptions({ sms: { domains: ['sms.localhost'] }, smtp: { hostname: 'relay.test' }, mail: {} }, new Templates());
    const received = {
      number: '+447700900310',
      text: 'On it, rebooting db1 now. Will call you in 10 min',
      sentAt: '2026-12-06T05:35:58Z',
      receivedAt: Date.now(),
      userContext: undefined,
    };
    const conversation = {
      context: '2c286j3z',
      number: '+447700900310',
      mailbox: 'alice@example.com',
      subject: 'Server down',
      messageIdHeader: '<server-down@example.com>',
      latestMessageIdHeader: '<server-down@example.com>',
      lastUsedAt: Date.now(),
    };
    const built = await buildReplyMail(received, { mailbox: 'alice@example.com', conversation }, options, '01900000-0000-7000-8000-000000000001');
    const parsed = await parseMail(built.mail.raw);
    sent = parsed.text ?? '';
    subject = parsed.subject ?? '';
    messageId = built.messageIdHeader;
  });

  /** The answer as the acceptance service reads it: the sent mail's body and the conversation's subjects to compare with. */
  async function answer(prefixed: (subject: string) => string, body: string) {
    const mail = await parseMail(raw(prefixed(subject), body, [`In-Reply-To: ${messageId}`, `References: ${messageId}`]));
    return extractRequest(mail, POLICY, false, [sent], ['Server down', subject]);
  }

  const iphoneQuote = () =>
    `\n\nSent from my iPhone\n\n> On 6 Dec 2026, at 05:35, +44 7700 900310 <${PHONE_ADDRESS}> wrote:\n> \n${sent
      .split('\n')
      .map((line) => `> ${line}`)
      .join('\n')}\n`;
  const withoutRe = (original: string) => original.replace(/^Re:\s*/, '');

  for (const prefix of [
    'RE: [EXTERNAL] Re: ',
    'RE: [EXT] Re: ',
    'AW: [EXTERN] Re: ',
    'RE: EXTERNAL: Re: ',
    'RE: [CAUTION: External] Re: ',
    '[SPAM] Re: ',
    'RE: *** SPAM *** Re: ',
    'RE: [Suspected Phishing] Re: ',
  ]) {
    test(`"${prefix}…" with nothing typed is refused as a reply with no new text, not sent as its subject`, async () => {
      for (const body of [iphoneQuote(), '']) {
        const request = await answer((original) => `${prefix}${withoutRe(original)}`, body);
        assert.equal(request.noNewText, true, `${prefix} ${JSON.stringify(body.slice(0, 20))}: ${request.text}`);
        assert.equal(request.text, '');
      }
    });
  }

  test('"Re: [External] " before the subject itself, and the reply prefixes real clients write with a period or in other scripts', async () => {
    for (const prefix of ['Re: [External] ', 'Réf. : ', 'Rép. : ', 'Odp.: ', 'Atb.: ', 'Trả lời: ', '返信: ', 'RE: Réf. : ']) {
      const request = await answer((original) => `${prefix}${withoutRe(original)}`, '');
      assert.equal(request.noNewText, true, `${prefix}: ${request.text}`);
    }
  });

  test('an edited subject is sent without the tags and the reply prefixes around them', async () => {
    const request = await answer((original) => `RE: [EXTERNAL] Re: ${withoutRe(original).replace('Server down', 'Server down - call me')}`, '');
    assert.equal(request.noNewText, false);
    assert.equal(request.text, 'Server down - call me');
  });

  test("a subject's own words that look like a tag stay: digits in brackets, capitals with a colon and no prefix after them", async () => {
    const ticket = await answer((original) => `RE: [Ticket 4411] ${withoutRe(original)}`, '');
    assert.equal(ticket.text, '[Ticket 4411] Server down');
    const critical = await answer((original) => `RE: CRITICAL: ${withoutRe(original)}`, '');
    assert.equal(critical.text, 'CRITICAL: Server down');
  });

  test("tags are only what mail systems write: the writer's brackets and stars after the last prefix stay, a tag before or between prefixes goes", async () => {
    for (const [prefixed, text] of [
      [(original: string) => `Re: *not* ${withoutRe(original).replace('Server down', 'the server')}`, '*not* the server'],
      [(original: string) => `Re: [Urgent] ${withoutRe(original).replace('Server down', 'call me now')}`, '[Urgent] call me now'],
      [(original: string) => `Re: [URGENT] ${withoutRe(original)}`, '[URGENT] Server down'],
      [(original: string) => `Re: *SPAM* ${withoutRe(original)}`, '*SPAM* Server down'],
      [(original: string) => `[Suspected SPAM] RE: ***SPAM*** Re: ${withoutRe(original)} - call me`, 'Server down - call me'],
      [(original: string) => `RE: ZEWNĘTRZNY: Re: ${withoutRe(original)} - call me`, 'Server down - call me'],
      [(original: string) => `Re: [EXTERNAL] ${withoutRe(original)} - call me`, '[EXTERNAL] Server down - call me'],
    ] as const) {
      const request = await answer(prefixed, '');
      assert.equal(request.noNewText, false, text);
      assert.equal(request.text, text);
    }
  });

  const gmxHeader = (labels: readonly [string, string, string, string], date: string) =>
    `${labels[0]}: ${date}\n${labels[1]}: "+44 7700 900310" <${PHONE_ADDRESS}>\n${labels[2]}: alice@example.com\n${labels[3]}: ${subject}`;

  test("GMX's, WEB.DE's and mail.com's quote header, date line first, goes whole with the copy (plain)", async () => {
    for (const [labels, date] of [
      [['Gesendet', 'Von', 'An', 'Betreff'], 'Sonntag, 06. Dezember 2026 um 06:35 Uhr'],
      [['Sent', 'From', 'To', 'Subject'], 'Sunday, December 06, 2026 at 6:35 AM'],
    ] as const) {
      for (const gap of ['\n', '\n\n']) {
        const request = await answer((original) => `Re: ${original}`, `OK, bin unterwegs.\n \n \n\n${gmxHeader(labels, date)}${gap}${sent}\n`);
        assert.equal(request.text, 'OK, bin unterwegs.', `${labels[0]} ${JSON.stringify(gap)}`);
        assert.equal(request.thread, 'cut');
      }
    }
  });

  test("a line of the writer's with a date label but no date above the quote header stays", async () => {
    const request = await answer(
      (original) => `Re: ${original}`,
      `Date: Monday works for me\n${gmxHeader(['Gesendet', 'Von', 'An', 'Betreff'], 'x').split('\n').slice(1).join('\n')}\n${sent}\n`,
    );
    assert.equal(request.text, 'Date: Monday works for me');
  });

  test("GMX's HTML quote header, date line first, goes whole with the copy", async () => {
    const sentHtml = sent
      .split('\n')
      .map((line) => `${line}<br/>`)
      .join('');
    const html = `<html><head></head><body><div style="font-family: Verdana;font-size: 12.0px;"><div>OK, bin unterwegs.</div>
<div>&nbsp;</div>
<div>&nbsp;
<div style="margin: 10.0px 5.0px 5.0px 10.0px;padding: 10.0px 0 10.0px 10.0px;border-left: 2.0px solid #C3D9E5;">
<div style="margin: 0 0 10.0px 0;"><b>Gesendet:</b>&nbsp;Sonntag, 06. Dezember 2026 um 06:35 Uhr<br/>
<b>Von:</b>&nbsp;&quot;+44 7700 900310&quot; &lt;${PHONE_ADDRESS}&gt;<br/>
<b>An:</b>&nbsp;alice@example.com<br/>
<b>Betreff:</b>&nbsp;${subject}</div>
<div name="quoted-content">${sentHtml}</div>
</div>
</div></div></body></html>`;
    const mime = Buffer.from(
      [
        'From: alice@example.com',
        `To: ${PHONE_ADDRESS}`,
        `Subject: Re: ${subject}`,
        `In-Reply-To: ${messageId}`,
        'MIME-Version: 1.0',
        'Content-Type: text/html; charset=UTF-8',
        '',
        html,
      ].join('\r\n'),
    );
    const request = extractRequest(await parseMail(mime), POLICY, false, [sent], ['Server down', subject]);
    assert.equal(request.text, 'OK, bin unterwegs.');
  });
});

describe('a reply or forward prefix is never a tag', () => {
  const OUTLOOK_QUOTED = (subject: string) =>
    `Please check the pallets.\n\n________________________________\nFrom: Bob Smith <bob@supplier.example>\nSent: Thursday, December 5, 2026 5:00 PM\nTo: Alice <alice@example.com>\nSubject: ${subject}\n\nPallets 1-3 arrive Monday.\n`;

  test('"FW: RE:", "WG: AW:", "TR: RE:", "RV: RE:" forward: the forwarded text is sent', async () => {
    for (const prefix of ['FW: RE: ', 'WG: AW: ', 'TR: RE: ', 'RV: RE: ', 'Fwd: [EXTERNAL] Re: ']) {
      const request = extractRequest(await parseMail(raw(`${prefix}Delivery 4411`, OUTLOOK_QUOTED('RE: Delivery 4411'))), POLICY, false);
      assert.equal(request.forward, true, prefix);
      assert.equal(request.text, 'Please check the pallets.\n\nPallets 1-3 arrive Monday.', prefix);
    }
  });

  test('"RE: FW:", "AW: WG:" answer: the mail answered is not sent', async () => {
    for (const prefix of ['RE: FW: ', 'AW: WG: ', 'RE: [EXTERNAL] FW: ']) {
      const request = extractRequest(
        await parseMail(raw(`${prefix}Delivery 4411`, OUTLOOK_QUOTED('FW: Delivery 4411'), ['In-Reply-To: <d4411@supplier.example>'])),
        POLICY,
        false,
      );
      assert.equal(request.forward, false, prefix);
      assert.equal(request.text, 'Please check the pallets.', prefix);
    }
  });
});

describe("Outlook's plain-text reply markers", () => {
  const QUOTED = (marker: string, labels: readonly [string, string, string, string]) =>
    `Please call the supplier.\n\n-----${marker}-----\n${labels[0]}: Bob Smith <bob@supplier.example>\n${labels[1]}: Thursday, December 5, 2026 5:00 PM\n${labels[2]}: Alice <alice@example.com>\n${labels[3]}: Delivery 4411\n\nPallets 1-3 arrive Monday.\n`;
  const ENGLISH = ['From', 'Sent', 'To', 'Subject'] as const;

  for (const [language, marker, labels] of [
    ['Chinese (Simplified)', '邮件原件', ['发件人', '发送时间', '收件人', '主题']],
    ['Turkish', 'Özgün İleti', ['Kimden', 'Gönderildi', 'Kime', 'Konu']],
    ['Turkish, in capitals', 'ÖZGÜN İLETİ', ['Kimden', 'Gönderildi', 'Kime', 'Konu']],
    ['Arabic', 'رسالة أصلية', ['من', 'تاريخ الإرسال', 'إلى', 'الموضوع']],
    ['Slovak', 'Pôvodná správa', ['Od', 'Odoslané', 'Komu', 'Predmet']],
    ['Croatian', 'Izvorna poruka', ['Šalje', 'Poslano', 'Prima', 'Predmet']],
    ['Slovenian', 'Izvirno sporočilo', ['Od', 'Poslano', 'Za', 'Zadeva']],
    ['Icelandic', 'Upprunaleg skilaboð', ['Frá', 'Sent', 'Til', 'Efni']],
    ['Basque', 'Jatorrizko mezua', ['Nork', 'Noiz', 'Nori', 'Gaia']],
  ] as const) {
    test(`${language} "-----${marker}-----": the marker and the mail answered go, in its labels and in English`, async () => {
      for (const header of [labels, ENGLISH]) {
        const request = extractRequest(
          await parseMail(raw('RE: Delivery 4411', QUOTED(marker, header), ['In-Reply-To: <d4411@supplier.example>'])),
          POLICY,
          false,
        );
        assert.equal(request.text, 'Please call the supplier.', `${header[0]}: ${request.text}`);
      }
    });
  }

  test('Finnish "VS:" with "Alkuperäinen viesti" is a reply; Danish and Norwegian "VS:" with their marker forward', async () => {
    const finnish = extractRequest(
      await parseMail(
        raw(
          'VS: Toimitus 4411',
          'Soita toimittajalle, kiitos.\n\n-----Alkuperäinen viesti-----\nLähettäjä: Bob Smith <bob@supplier.example>\nLähetetty: torstai 5. joulukuuta 2026 17.00\nVastaanottaja: Alice <alice@example.com>\nAihe: Toimitus 4411\n\nLavat 1-3 saapuvat maanantaina klo 8.00 laiturille B.\n',
          ['In-Reply-To: <d4411@supplier.example>'],
        ),
      ),
      POLICY,
      false,
    );
    assert.equal(finnish.forward, false);
    assert.equal(finnish.text, 'Soita toimittajalle, kiitos.');
    for (const [marker, labels] of [
      ['Oprindelig meddelelse', ['Fra', 'Sendt', 'Til', 'Emne']],
      ['Opprinnelig melding', ['Fra', 'Sendt', 'Til', 'Emne']],
    ] as const) {
      const forward = extractRequest(await parseMail(raw('VS: Levering 4411', QUOTED(marker, labels))), POLICY, false);
      assert.equal(forward.forward, true, marker);
      assert.equal(forward.text, 'Please call the supplier.\n\nPallets 1-3 arrive Monday.');
    }
  });
});

describe("Thunderbird's inline forwards in its languages", () => {
  /** Thunderbird's forward: its marker, then a table of Subject, Date, From, To, each label's value after a tab. */
  const forward = (note: string, marker: string, labels: readonly [string, string, string, string]) =>
    `${note}\n\n-------- ${marker} --------\n${labels[0]} \tDelivery 4411\n${labels[1]} \tThu, 5 Dec 2026 17:00:00 +0100\n${labels[2]} \tDispatch <dispatch@supplier.example>\n${labels[3]} \talice@example.com\n\n\n\nPallets 1-3 Monday 08:00 dock B.\n`;

  for (const [language, marker, labels] of [
    ['French', 'Message transféré', ['Sujet :', 'Date :', 'De :', 'Pour :']],
    ['French (no space)', 'Message transféré', ['Sujet:', 'Date:', 'De:', 'Pour:']],
    ['Japanese', '転送メッセージ', ['件名:', '日付:', '差出人:', '宛先:']],
    ['Chinese (Simplified)', '转发的消息', ['主题：', '日期：', '发件人：', '收件人：']],
    ['Turkish', 'İletilen Mesaj', ['Konu:', 'Tarih:', 'Kimden:', 'Kime:']],
    ['Danish', 'Videresendt meddelelse', ['Emne:', 'Dato:', 'Fra:', 'Til:']],
    ['Arabic', 'رسالة مُعاد توجيهها', ['الموضوع:', 'التاريخ:', 'من:', 'إلى:']],
  ] as const) {
    test(`${language}: the marker and the forwarded header go, the note and the forwarded text stay`, async () => {
      for (const note of ['Please prepare dock B.', '']) {
        const request = extractRequest(await parseMail(raw('Fwd: Delivery 4411', forward(note, marker, labels))), POLICY, false);
        assert.equal(request.forward, true);
        assert.equal(request.text, `${note === '' ? '' : `${note}\n\n`}Pallets 1-3 Monday 08:00 dock B.`, JSON.stringify(note));
      }
    });
  }
});

describe('images in a plain part are no text', () => {
  /** The HTML version of a plain part: its lines as paragraphs, an image where a placeholder stands. */
  const htmlOf = (plain: string) =>
    plain
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => (/^\[(?:cid:|image: )/.test(line) ? '<img src="cid:image001.jpg@01DB4A2C.7F3E1A20" alt="IMG_20261205_101500.jpg">' : `<p>${line}</p>`))
      .join('');
  /** A mail with a plain part that shows images by an image part (`related`, as Outlook's, shortened) or an HTML version (`html`), or neither. */
  const withImage = (plain: string, image: 'related' | 'html' | 'none') =>
    Buffer.from(
      [
        'From: alice@example.com',
        `To: ${PHONE_ADDRESS}`,
        'Subject: Rack 4',
        'MIME-Version: 1.0',
        ...(image === 'none'
          ? ['Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '', ...plain.split('\n')]
          : [
              `Content-Type: multipart/${image === 'related' ? 'related' : 'alternative'}; boundary="r1"`,
              '',
              '--r1',
              'Content-Type: text/plain; charset=utf-8',
              'Content-Transfer-Encoding: 8bit',
              '',
              ...plain.split('\n'),
              '--r1',
              ...(image === 'related'
                ? ['Content-Type: image/jpeg', 'Content-ID: <image001.jpg@01DB4A2C.7F3E1A20>', 'Content-Transfer-Encoding: base64', '', '/9j/4AAQSkZJRg==']
                : ['Content-Type: text/html; charset=utf-8', '', htmlOf(plain)]),
              '--r1--',
            ]),
        '',
      ].join('\r\n'),
    );

  test("Outlook's [cid:…] placeholders and Gmail's [image: …] go where the mail shows images; the preview names each", async () => {
    for (const image of ['related', 'html'] as const) {
      const request = extractRequest(
        await parseMail(
          withImage(
            'The cable in rack 4 is burnt, see photo:\n\n[cid:image001.jpg@01DB4A2C.7F3E1A20]\n\n[image: IMG_20261205_101500.jpg]\n\nPlease replace it today.\n',
            image,
          ),
        ),
        POLICY,
        false,
      );
      assert.equal(request.text, 'The cable in rack 4 is burnt, see photo:\n\nPlease replace it today.', image);
      assert.deepEqual(
        request.removed.filter(({ reason }) => reason === 'inline image placeholder'),
        [
          { reason: 'inline image placeholder', first: '[cid:image001.jpg@01DB4A2C.7F3E1A20]', lines: 1 },
          { reason: 'inline image placeholder', first: '[image: IMG_20261205_101500.jpg]', lines: 1 },
        ],
      );
    }
  });

  test('what only looks like one stays: a caller id, a number, a typed [Image: …], a placeholder in a mail with no image', async () => {
    for (const [text, image] of [
      ['Missed call [CID:+4930123456]', 'html'],
      ['Call back [cid:0301234567]', 'html'],
      ['[Image: the diagram of rack 4] shows the cable', 'html'],
      ['See [cid:image001.jpg@01DB4A2C.7F3E1A20] above', 'none'],
    ] as const) {
      const request = extractRequest(await parseMail(withImage(`${text}\n`, image)), POLICY, false);
      assert.equal(request.text, text);
    }
  });
});

describe('app lines', () => {
  for (const line of ['Get BlueMail for Android', 'Sent with Tutanota, the secure & ad-free mailbox.', 'Sent from Tutanota, the secure email.']) {
    test(`"${line}" goes`, async () => {
      const request = extractRequest(await parseMail(raw('Meeting', `Meeting moved to 3pm.\n\n${line}\n`)), POLICY, false);
      assert.equal(request.text, 'Meeting moved to 3pm.');
    });
  }

  test("a clause of the writer's after a name stays, a mail word in it or not", async () => {
    for (const last of ['Sent from Berlin, the train is late.', 'Sent from Dublin, your mail arrives Monday.', 'Sent with Love, the whole mail team!']) {
      const text = `Meeting moved to 3pm.\n\n${last}`;
      assert.equal(extractRequest(await parseMail(raw('Meeting', text)), POLICY, false).text, text);
    }
  });
});

describe('Google Calendar invitations', () => {
  const invitation = (plain: string) =>
    Buffer.from(
      [
        'From: Google Calendar <calendar-notification@google.com>',
        `To: ${PHONE_ADDRESS}`,
        'Subject: Invitation: Rack 4 review',
        'MIME-Version: 1.0',
        'Content-Type: multipart/alternative; boundary="b1"',
        '',
        '--b1',
        'Content-Type: text/plain; charset=UTF-8',
        'Content-Transfer-Encoding: 8bit',
        '',
        ...plain.split('\n'),
        '--b1',
        'Content-Type: text/calendar; charset=UTF-8; method=REQUEST',
        '',
        'BEGIN:VCALENDAR',
        'END:VCALENDAR',
        '--b1--',
        '',
      ].join('\r\n'),
    );

  test('the dot in its date line is sent as "-", keeping the SMS GSM-7; a dot that is no separator stays', () => {
    const date = analyseText('Thursday Dec 10, 2026 ⋅ 2pm – 3pm (Central European Time)');
    assert.equal(date.encoding, 'gsm7');
    assert.equal(date.text, 'Thursday Dec 10, 2026 - 2pm - 3pm (Central European Time)');
    assert.equal(analyseText('a · b ∙ c').text, 'a - b - c');
    assert.equal(analyseText('El col·legi obre a les 8').text, 'El col.legi obre a les 8');
    assert.equal(analyseText('2⋅3').encoding, 'ucs2');
    // A line's start or end is a space: a list written with middle dots.
    assert.equal(analyseText('· Milk\n· Eggs ·').text, '- Milk\n- Eggs -');
    // Between other letters it is no Catalan l·l: German's gender dot stays, and the SMS is UCS-2.
    const german = analyseText('Liebe Mitarbeiter·innen');
    assert.deepEqual([german.text, german.encoding], ['Liebe Mitarbeiter·innen', 'ucs2']);
  });

  for (const [language, footer] of [
    ['French', 'Invitation de Google Agenda : https://calendar.google.com/calendar/\n\nVous recevez cet e-mail, car vous êtes invité à cet événement.'],
    [
      'Spanish',
      'Invitación de Google Calendar: https://calendar.google.com/calendar/\n\nHas recibido este correo electrónico porque eres un invitado al evento.',
    ],
    ['Dutch', 'Uitnodiging van Google Agenda: https://calendar.google.com/calendar/\n\nU ontvangt deze e-mail omdat u een gast bent bij dit evenement.'],
    ['Italian', "Invito da Google Calendar: https://calendar.google.com/calendar/\n\nHai ricevuto questa email perché sei un invitato all'evento."],
  ] as const) {
    test(`its ${language} footer goes`, async () => {
      const request = extractRequest(await parseMail(invitation(`Rack 4 review\n\nThursday Dec 10, 2026 ⋅ 2pm – 3pm\n\n${footer}\n`)), POLICY, false);
      assert.equal(request.text, 'Rack 4 review\n\nThursday Dec 10, 2026 ⋅ 2pm – 3pm');
    });
  }
});
