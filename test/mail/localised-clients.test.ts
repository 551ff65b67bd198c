/**
 * What real clients write in other languages than English, and in the shapes the word lists do not
 * hold: Outlook's localised forward prefixes and header blocks, carriers' device lines with a comma,
 * Outlook's app line in other languages, disclaimers in wordings no list holds, Apple Mail's forward
 * markers, Lotus Notes' header in its columns. Real MIME bytes through parseMail and extractRequest
 * where the subject decides, the text rules (stripText) where the body alone does.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { configSchema } from '../../src/config/schema.ts';
import { extractRequest, parseMail } from '../../src/mail/extract.ts';
import { readMail } from '../../src/mail/mime.ts';
import { textPolicyFor } from '../../src/mail/policy.ts';
import { type StripOptions, stripBody, tidy } from '../../src/mail/strip.ts';
import { plainClientMail } from '../helpers/mail-fixtures.ts';

const DEFAULT_POLICY = textPolicyFor(configSchema.shape.text.parse(undefined), 'sender@example.com');
const RULES = { endMarkers: [], startMarkers: [], disclaimers: [] };
const strip = (text: string, options: StripOptions = {}) => stripBody(text, RULES, options);

/** A plain-text UTF-8 mail as a client writes it (plainClientMail). */
const mail = (subject: string, body: string) =>
  plainClientMail(subject, body, { to: '447700900212@sms.localhost', date: 'Sat, 5 Dec 2026 17:05:00 +0100', messageId: 'localised@example.com' });
const extract = async (subject: string, body: string) => extractRequest(await parseMail(mail(subject, body)), DEFAULT_POLICY, false);

const FORWARDED = 'Pallets 1-3 arrive Monday 08:00 at dock B.';
const NOTE = 'Please prepare dock B.';
/** Outlook's forward: its rule, the forwarded header block in Outlook's language, the forwarded body. */
const outlookForward = (labels: readonly [string, string, string, string]) => {
  const [from, sent, to, subject] = labels;
  return `________________________________\n${from}: Supplier <dispatch@supplier.example>\n${sent}: 5.12.2026 17:00\n${to}: alice@example.com\n${subject}: Delivery 4411\n\n${FORWARDED}\n`;
};

describe("Outlook's forwards in every language keep the forwarded mail", () => {
  for (const [language, prefix, labels] of [
    ['Danish', 'VS:', ['Fra', 'Sendt', 'Til', 'Emne']],
    ['Norwegian', 'VS:', ['Fra', 'Sendt', 'Til', 'Emne']],
    ['Arabic', 'إعادة توجيه:', ['من', 'تاريخ الإرسال', 'إلى', 'الموضوع']],
    ['Arabic (no hamza)', 'اعادة توجيه:', ['من', 'تاريخ الإرسال', 'إلى', 'الموضوع']],
    ['Hebrew', 'העבר:', ['מאת', 'נשלח', 'אל', 'נושא']],
    ['Hebrew (older)', 'הועבר:', ['מאת', 'נשלח', 'אל', 'נושא']],
    ['Greek', 'ΠΡΘ:', ['Από', 'Στάλθηκε', 'Προς', 'Θέμα']],
    ['Czech', 'PŘ:', ['Od', 'Odesláno', 'Komu', 'Předmět']],
    ['Slovak', 'PD:', ['Od', 'Odoslané', 'Komu', 'Predmet']],
    ['Hungarian', 'TOV:', ['Feladó', 'Elküldve', 'Címzett', 'Tárgy']],
    ['Finnish', 'VL:', ['Lähettäjä', 'Lähetetty', 'Vastaanottaja', 'Aihe']],
    ['Swedish', 'VB:', ['Från', 'Skickat', 'Till', 'Ämne']],
    ['Polish', 'PD:', ['Od', 'Wysłano', 'Do', 'Temat']],
    ['Turkish', 'İLT:', ['Kimden', 'Gönderildi', 'Kime', 'Konu']],
    ['Icelandic', 'FS:', ['Frá', 'Sent', 'Til', 'Efni']],
    ['Russian', 'Пересл:', ['От', 'Отправлено', 'Кому', 'Тема']],
  ] as const) {
    test(`${language} (${prefix}): the note and the forwarded body; with no note, the forwarded body, not the subject`, async () => {
      const withNote = await extract(`${prefix} Delivery`, `${NOTE}\n\n${outlookForward(labels)}`);
      assert.equal(withNote.text, `${NOTE}\n\n${FORWARDED}`);
      assert.equal(withNote.forward, true);
      const alone = await extract(`${prefix} Delivery`, outlookForward(labels));
      assert.equal(alone.text, FORWARDED);
      assert.equal(alone.subjectForBody, undefined);
    });
  }

  test('a Finnish "VS:" is a reply: below its Finnish header block is the mail answered', async () => {
    const reply = await extract('VS: Delivery', `Selvä.\n\n${outlookForward(['Lähettäjä', 'Lähetetty', 'Vastaanottaja', 'Aihe'])}`);
    assert.equal(reply.text, 'Selvä.');
    assert.equal(reply.forward, false);
  });

  test('a body whose text is all removed sends the subject and says so; an empty body sends it without a word', async () => {
    const removed = await extract('Pump 3 back online', 'Sent from my iPhone\n');
    assert.equal(removed.text, 'Pump 3 back online');
    assert.equal(removed.subjectForBody, 'instead');
    const empty = await extract('Pump 3 back online', '');
    assert.equal(empty.text, 'Pump 3 back online');
    assert.equal(empty.subjectForBody, undefined);
  });
});

describe('device lines by their shape', () => {
  for (const line of [
    'Sent via the Samsung Galaxy S24 Ultra, an AT&T 5G smartphone',
    'Sent from my Verizon, Samsung Galaxy smartphone',
    'Outlook für Android herunterladen<https://aka.ms/ghei36>',
    'Obtenir Outlook pour Android<https://aka.ms/AAb9ysg>',
    'Obtener Outlook para Android<https://aka.ms/AAb9ysg>',
    'Scarica Outlook per iOS<https://aka.ms/o0ukef>',
    'Envoyé à partir de Outlook pour Android',
  ]) {
    test(`"${line}" is the client's`, () => {
      assert.equal(strip(`Meeting moved to 3pm.\n\n${line}\n`), 'Meeting moved to 3pm.');
    });
  }

  test("a clause after a comma, a colon or a sentence about Outlook is the writer's", () => {
    for (const line of ['Sent from the warehouse, call me', 'Sent from my desk, back at 5', 'Sent from: the gate', 'Outlook for Android crashes again.']) {
      const text = `Meeting moved to 3pm.\n\n${line}`;
      assert.equal(strip(text), text);
    }
  });

  test("in a reply, the line above Outlook's rule goes with the quote", () => {
    const body =
      'Ok, bis gleich\n\nOutlook für Android herunterladen<https://aka.ms/ghei36>\n________________________________\nVon: +44 7700 900110 <447700900110@sms.localhost>\nGesendet: Samstag, 5. Dezember 2026 17:00\nAn: alice@example.com\nBetreff: Server down\n\nServer down\n';
    assert.equal(strip(body, { reply: true }), 'Ok, bis gleich');
  });
});

describe('disclaimers in any wording: a last paragraph of legal text that names the mail', () => {
  for (const disclaimer of [
    'Der Inhalt dieser E-Mail ist vertraulich und ausschließlich für den bezeichneten Adressaten bestimmt. Wenn Sie nicht der vorgesehene Adressat dieser E-Mail sind, ist jede Form der Kenntnisnahme, Veröffentlichung oder Weitergabe unzulässig.',
    'Dit bericht kan informatie bevatten die niet voor u is bestemd. Indien u niet de geadresseerde bent of dit bericht abusievelijk aan u is toegezonden, wordt u verzocht dat aan de afzender te melden en het bericht te verwijderen.',
    'Treść tej wiadomości może zawierać informacje prawnie chronione. Jeżeli nie jesteś adresatem tej wiadomości, prosimy o jej usunięcie i poinformowanie nadawcy.',
    'The information contained in this communication is confidential and may be legally privileged. It is intended solely for the use of the individual or entity to whom it is addressed.',
    'Данное сообщение и все приложения к нему являются конфиденциальными и предназначены исключительно для адресата. Если вы получили это сообщение по ошибке, удалите его.',
    "Ce courriel et les documents qui lui sont joints peuvent contenir des informations confidentielles. Si vous n'êtes pas le destinataire, merci de le détruire et d'en avertir l'expéditeur.",
    'Esta mensagem e seus anexos são confidenciais e destinados exclusivamente ao uso do destinatário. Se você a recebeu por engano, por favor apague-a e avise o remetente.',
    'Tämä sähköposti voi sisältää luottamuksellista tietoa. Jos et ole viestin tarkoitettu vastaanottaja, ilmoita lähettäjälle ja poista viesti välittömästi.',
    'NOTICE: This message is intended only for the addressee and may contain confidential information. If you are not the addressee, you must not use, copy or disclose it.',
    "Rispetta l'ambiente: non stampare questa mail se non è necessario.",
    'このメールは機密情報を含む場合があります。宛先以外の方が受信された場合は、お手数ですが送信者にご連絡の上、このメールを削除してください。',
    '本邮件及其附件含有保密信息，仅限于发送给上面地址中列出的个人或群组。禁止任何其他人以任何形式使用本邮件中的信息。如果您错收了本邮件，请您立即通知发件人并删除本邮件！',
    // Wordings no list holds: known by their shape
    'Diese Nachricht ist ausschließlich für den bezeichneten Adressaten bestimmt und kann vertrauliche Informationen enthalten. Sollten Sie diese Nachricht irrtümlich erhalten haben, löschen Sie sie bitte.',
    'Este correo electrónico y cualquier archivo adjunto son confidenciales y están dirigidos exclusivamente a su destinatario. Si lo ha recibido por error, notifíquelo al remitente y elimínelo.',
  ]) {
    test(`"${disclaimer.slice(0, 40)}…" goes, and an environment line below it`, () => {
      assert.equal(
        strip(`Pump 3 is back online.\n\n${disclaimer}\n\nPlease consider the environment before printing this e-mail.\n`),
        'Pump 3 is back online.',
      );
    });
  }

  test("the writer's own paragraph about something confidential stays: it opens the mail, or their text follows it", () => {
    const paragraph =
      'The message from HR is confidential and intended only for you, do not forward it to anyone else in the team, thanks a lot for your understanding and your patience.';
    for (const text of [`${paragraph}\n\nCall me later.`, `Hi\n\n${paragraph}\n\nCall me later.`, `${paragraph}`]) assert.equal(strip(text), tidy(text));
  });
});

describe("Apple Mail's forward markers in every language", () => {
  for (const marker of [
    'Początek przekazywanej wiadomości:',
    'Vidarebefordrat brev:',
    'Början av vidarebefordrat meddelande:',
    '以下为转发的邮件：',
    '开始转发的邮件：',
    // A wording no list holds: a short line ending in a colon above the forwarded header block
    'Začátek přeposílané zprávy:',
  ]) {
    test(`"${marker}": the marker, the forwarded header and one level of ">" go`, async () => {
      const body = `${NOTE}\n\n${marker}\n\n> Od: Dostawca <dispatch@supplier.example>\n> Temat: Dostawa 4411\n> Data: 5 grudnia 2026 17:00:00 CET\n> Do: alice@example.com\n>\n> ${FORWARDED}\n`;
      const forward = await extract('Fwd: Dostawa', body);
      assert.equal(forward.text, `${NOTE}\n\n${FORWARDED}`);
    });
  }
});

describe("Lotus Notes' colon-less header as Notes prints its columns", () => {
  const header = [
    '             "+44 7700 900110"',
    '             <447700900110@sms.localh',
    '             ost>                                                       To',
    '                                       alice@example.com',
    '             06.12.2026 01:15                                           cc',
    '',
    '                                                                   Subject',
    '                                       Re: Server down [UserContext:',
    '                                       2k6k3gcd]',
  ].join('\n');

  test('labels at the right of the sender and date lines: the header and the mail below it go in a reply', () => {
    assert.equal(strip(`Please escalate.\n\n\n\n\n${header}\n\n\n\nOn it, rebooting db1 now.\n`, { reply: true }), 'Please escalate.');
  });

  test('a forward keeps the forwarded text below it, the wrapped subject gone', () => {
    assert.equal(strip(`FYI\n\n${header}\n\nOn it, rebooting db1 now.\n`, { forward: true }), 'FYI\n\nOn it, rebooting db1 now.');
  });
});

/** A raw mail as a client writes it: `headers`, an empty line, `body`, CRLF line ends. */
const raw = (headers: string, body: string) => Buffer.from(`${headers}\n\n${body}`.replace(/\n/g, '\r\n'));
const fromRaw = async (headers: string, body: string) => extractRequest(await parseMail(raw(headers, body)), DEFAULT_POLICY, false);

describe("format=flowed: a space-stuffed line is the writer's, whatever it starts with (RFC 3676 §4.4-4.5)", () => {
  const flowed = 'From: alice@example.com\nSubject: Re: load on db1\nIn-Reply-To: <load1@example.com>\nContent-Type: text/plain; charset=utf-8; format=flowed';

  test('a stuffed ">" line, alone or flowed into the next, is text; a quote below it still goes', async () => {
    const request = await fromRaw(
      flowed,
      'Load is still\n >90% on db1 since 10:00, \nplease restart it.\n >>> not a quote either\n\nOn 05.12.26 17:00, Bob wrote:\n> How is the load?\n',
    );
    assert.equal(request.text, 'Load is still\n>90% on db1 since 10:00, please restart it.\n>>> not a quote either');
    assert.deepEqual(
      request.removed.map(({ reason, first }) => [reason, first]),
      [
        ['reply attribution above the quote', 'On 05.12.26 17:00, Bob wrote:'],
        ['quoted text of the mail answered', '> How is the load?'],
      ],
    );
  });

  test('a stuffed ">" continuing a flowed line is inside it; a quoted line keeps its depth; in Latin-1 too', async () => {
    const latin = `${flowed.replace('utf-8', 'iso-8859-1')}\nContent-Transfer-Encoding: 8bit`;
    const body = Buffer.concat([Buffer.from('Temperatur im Raum \r\n >30 Grad, bitte L\xfcftung pr\xfcfen.\r\n\r\n> Wie warm?\r\n', 'latin1')]);
    const request = extractRequest(await parseMail(Buffer.concat([raw(latin, ''), body])), DEFAULT_POLICY, false);
    assert.equal(request.text, 'Temperatur im Raum >30 Grad, bitte Lüftung prüfen.');
  });

  test("the mail's text is as decoded (the stuffed lines are named beside it): a sender's own U+E001 (SoftBank's emoji) reaches the phone", async () => {
    const mail = await parseMail(raw('From: alice@example.com\nSubject: Mail sync\nContent-Type: text/plain; charset=utf-8', 'Meeting at 8 \uE001 see you\n'));
    assert.equal(extractRequest(mail, DEFAULT_POLICY, false).text, 'Meeting at 8 \uE001 see you');
    const stuffed = await parseMail(raw(flowed, 'Load is still\n >90% on db1, \nplease restart it.\n'));
    assert.equal(stuffed.text, 'Load is still\n>90% on db1, please restart it.');
    assert.deepEqual(stuffed.stuffed, ['>90% on db1, please restart it.']);
  });

  test("a sender's own U+E001 before a quoted line is no stuffing: the quote goes", async () => {
    const request = await fromRaw(flowed, 'Yes.\n\n\uE001> the secret quoted\n> other\n');
    assert.equal(request.text, 'Yes.\n\n\uE001> the secret quoted');
  });

  test('a uuencoded line the client stuffed (it starts with ">") is read as the file\'s: the file is named, not texted', async () => {
    const request = await fromRaw(
      flowed.replace('Re: load on db1', 'file').replace(/\nIn-Reply-To: .*/, ''),
      "Here is the file.\n\nbegin 644 a.txt\nM04)#1$5&1TA)2DM,34Y/4%%24U155E=865I;7%U>7V!A8F-D969G:&EJ:VQM\n >>'AX>'AX>'AX>'AX>'AX>'AX>'AX>'AX>'AX>'AX\n`\nend\n",
    );
    assert.equal(request.text, 'Here is the file.');
    assert.deepEqual(request.attachments, ['a.txt']);
  });

  // A part whose headers never end (a delimiter comes first) is what readMail leaves to mailparser.
  test('in a mail left to mailparser (a part whose headers never end) the stuffed ">" line is the writer\'s too', async () => {
    const headers = 'From: alice@example.com\nSubject: Re: load\nIn-Reply-To: <abc@example.com>\nContent-Type: multipart/alternative; boundary="BB"';
    const body =
      '--BB\nContent-Type: text/plain; charset=utf-8; format=flowed\n\nLoad is still\n >90% on db1 since 10:00, \nplease restart it.\n\nOn 05.12.26 17:00, Bob wrote:\n> How is the load?\n\n--BB\nContent-Type: text/html; charset=utf-8\n\n<p>Load is still &gt;90% on db1 since 10:00, please restart it.</p>\n--BB\nContent-Type: text/plain\n--BB--\n';
    assert.equal(readMail(raw(headers, body)), undefined, 'left to mailparser');
    assert.equal((await fromRaw(headers, body)).text, 'Load is still\n>90% on db1 since 10:00, please restart it.');
  });

  test("a stuffed line counts once: the quote's line with the same text still goes", async () => {
    const request = await fromRaw(flowed, 'Load is still\n >90% on db1\n\nOn 05.12.26 17:00, Bob wrote:\n> Is the load high?\n>90% on db1\n> restart it?\n');
    assert.equal(request.text, 'Load is still\n>90% on db1');
    const twice = await fromRaw(flowed, 'Load is\n >90% on db1\nand again\n >90% on db1\n\nOn 05.12.26 17:00, Bob wrote:\n>90% on db1\n');
    assert.equal(twice.text, 'Load is\n>90% on db1\nand again\n>90% on db1');
  });

  test('a stuffed ">" alone makes no empty quoted line the writer\'s: the quote goes whole', async () => {
    const request = await fromRaw(flowed, 'See the arrow:\n >\nthat is all.\n\nOn Fri, Bob wrote:\n> line one of the quote\n>\n> line two of the quote\n>\n');
    assert.equal(request.text, 'See the arrow:\nthat is all.');
  });

  for (const [encoding, body] of [
    [
      'base64',
      Buffer.from('Load is still\r\n >90% on db1 since 10:00\r\nplease restart it.\r\n\r\nOn Fri, Bob wrote:\r\n> How is the load?\r\n').toString('base64'),
    ],
    ['quoted-printable', 'Load is still\n=20>90% on db1 since 10:00\nplease restart it.\n\nOn Fri, Bob wrote:\n> How is the load?\n'],
  ] as const) {
    test(`in a mail left to mailparser, a ${encoding} part's stuffed ">" line is found once decoded`, async () => {
      const headers = 'From: alice@example.com\nSubject: Re: load\nIn-Reply-To: <abc@example.com>\nContent-Type: multipart/mixed; boundary="BB"';
      const mail = `--BB\nContent-Type: text/plain; charset=utf-8; format=flowed\nContent-Transfer-Encoding: ${encoding}\n\n${body}\n--BB\nContent-Type: text/plain\n--BB--\n`;
      assert.equal(readMail(raw(headers, mail)), undefined, 'left to mailparser (a part whose headers never end)');
      assert.equal((await fromRaw(headers, mail)).text, 'Load is still\n>90% on db1 since 10:00\nplease restart it.');
    });
  }

  test("a stuffed line shaped like GroupWise's header is the writer's", async () => {
    const groupwise = await fromRaw(flowed, 'Call him.\n\n >>> Bob Smith <bob@x.example> 12/5/2026 5:00 PM >>>\nPallets arrive Monday.\n');
    assert.equal(groupwise.text, 'Call him.\n\n>>> Bob Smith <bob@x.example> 12/5/2026 5:00 PM >>>\nPallets arrive Monday.');
  });
});

describe("Gmail's quote container in HTML: the writer's inline answers are kept", () => {
  const quote = (text: string) =>
    `<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex">${text}<br></blockquote>`;
  const html = (container: string) =>
    `<div dir="ltr">See below.</div><br><div class="${container}"><div dir="ltr" class="gmail_attr">On Sun, Dec 6, 2026 at 11:35 AM Bob &lt;<a href="mailto:bob@example.com">bob@example.com</a>&gt; wrote:<br></div>${quote('Is 8:00 fine?')}<div>Yes, 8:00 is fine.</div>${quote('Do you need a forklift?')}<div>No, we have one.</div></div>`;

  for (const [shape, subject, container] of [
    ['a reply', 'Re: Delivery', 'gmail_quote'],
    ["a reply, Gmail's newer container", 'Re: Delivery', 'gmail_quote gmail_quote_container'],
    ['a mail that answers nothing', 'Delivery', 'gmail_quote'],
  ] as const) {
    test(`${shape}: the answers between and after the quoted blocks, not the attribution or the quotes`, async () => {
      const request = await fromRaw(`From: alice@example.com\nSubject: ${subject}\nContent-Type: text/html; charset=utf-8`, html(container));
      assert.equal(request.text, 'See below.\n\nYes, 8:00 is fine.\nNo, we have one.');
    });
  }

  test("older Gmail's attribution, bare text in the container, goes with the quote", async () => {
    const request = await fromRaw(
      'From: alice@example.com\nSubject: Re: Delivery\nContent-Type: text/html; charset=utf-8',
      `<div>Ok</div><div class="gmail_quote">On Mon, Bob &lt;bob@example.com&gt; wrote:<br>${quote('Is 8:00 fine?')}</div>`,
    );
    assert.equal(request.text, 'Ok');
  });
});

describe("iOS Mail's and Outlook mobile's device lines in more languages", () => {
  for (const line of [
    'Odesláno z iPhonu',
    'Odoslané z iPhonu',
    'Trimis de pe iPhone-ul meu',
    'Được gửi từ iPhone của tôi',
    'ส่งจาก iPhone ของฉัน',
    'Dikirim dari iPhone saya',
    'Dihantar dari iPhone saya',
    'Poslano s mog iPhonea',
    'Poslano iz mog iPhonea',
    'Poslano z mojega iPhona',
    'Išsiųsta iš mano iPhone',
    'Nosūtīts no mana iPhone',
    "Saadetud minu iPhone'ist",
    'Изпратено от моя iPhone',
    'Послато са мог iPhone уређаја',
    'Dikirim dari iPad saya',
    'Dikirim dari HP saya',
    'Dihantar dari hp saya',
    'Odesláno z iPadu',
    // Outlook's app line where the language names the platform first
    'Android 版 Outlook を入手<https://aka.ms/AAb9ysg>',
    'iOS 版 Outlook を入手<https://aka.ms/o0ukef>',
    '获取 Android 版 Outlook<https://aka.ms/AAb9ysg>',
    "Android için Outlook'u edinin<https://aka.ms/AAb9ysg>",
    'Android용 Outlook 받기<https://aka.ms/AAb9ysg>',
    'Szerezze be az Android Outlook alkalmazást<https://aka.ms/AAb9ysg>',
  ]) {
    test(`"${line}" is the client's`, () => {
      assert.equal(strip(`Meeting moved to 3pm.\n\n${line}\n`), 'Meeting moved to 3pm.');
    });
  }

  test('the platform-first line is known by its "get" without its link; without either it is a sentence of the writer\'s', () => {
    for (const line of ['Android 版 Outlook を入手', '获取 Android 版 Outlook', "Android için Outlook'u edinin", 'Android용 Outlook 받기']) {
      assert.equal(strip(`Meeting moved to 3pm.\n\n${line}\n`), 'Meeting moved to 3pm.');
    }
    for (const line of ['Please reinstall the Android Outlook app', 'Please use the iOS Outlook app', 'Bitte die Android Outlook App']) {
      const text = `Mail sync on your phone is broken since the update.\n\n${line}`;
      assert.equal(strip(text), text);
    }
  });

  test('a possessive written after the device is one only right after its name: "… hubungi saya" ("call me") is the writer\'s', () => {
    for (const line of ['Dikirim dari kantor tolong hubungi saya', 'Dihantar dari pejabat sila hubungi saya', 'Enviado de Lisboa pelo meu']) {
      const text = `Paket 4411 sudah siap di Bandung.\n\n${line}`;
      assert.equal(strip(text), text);
    }
  });

  test('a machine or place after the same openings stays, and so does a sentence naming the platform and Outlook', () => {
    for (const line of [
      'Dikirim dari sensor 4 di ruang dingin B',
      'Poslano iz stanice 4',
      'Android users must update Outlook today.',
      // "HP" is a phone only with the writer's possessive after it: alone it is HP's printer or server
      'Sent from HP LaserJet M607',
      'Sent by HP iLO 5',
    ]) {
      const text = `Meeting moved to 3pm.\n\n${line}`;
      assert.equal(strip(text), text);
    }
  });
});

describe('bilingual sign-offs: known sign-offs joined by "/" or "|"', () => {
  const signature = '\n\nAlice Meyer\nLogistics\nACME GmbH, Hauptstr. 1, 10115 Berlin\nTel: +49 30 1234567\n';
  for (const signOff of [
    'Mit freundlichen Grüßen / Kind regards',
    'Mit freundlichen Grüßen / Best regards',
    'Best regards / Mit freundlichen Grüßen',
    'Cordialement / Best regards',
    'Saludos / Regards',
    'Met vriendelijke groet / Kind regards',
    'Mit freundlichen Grüßen | Best regards',
    'Mit freundlichen Grüßen / Kind regards / Cordialement',
  ]) {
    test(`"${signOff}" and the block under it go`, () => {
      assert.equal(strip(`Gate 4 is closed, use gate 6.\n\n${signOff}${signature}`), 'Gate 4 is closed, use gate 6.');
    });
  }

  test('a line with a part that is no sign-off is the writer\'s ("Grüße aus Köln / Kind regards", "Kind regards / see you Monday")', () => {
    for (const line of ['Grüße aus Köln / Kind regards', 'Kind regards / see you Monday']) {
      const text = `Gate 4 is closed, use gate 6.\n\n${line}\n\nAlice Meyer`;
      assert.equal(strip(text), tidy(text));
    }
  });
});

describe("GroupWise's reply header: the mail answered below it, copied without '>'", () => {
  for (const header of [
    '>>> Bob Smith <bob@supplier.example> 12/5/2026 5:00 PM >>>',
    '>>> "Bob Smith" <bob@supplier.example> 05.12.2026 17:00 >>>',
    '>>> Bob Smith 12/5/2026 5:00 PM >>>',
    '>>> Bob Smith<bob@supplier.example> 12/5/2026 5:00 PM >>>',
    '>>> "Bob Smith"<bob@supplier.example> 05.12.2026 17:00 >>>',
    '>>> Bob Smith <bob@supplier.example> 05.12.2026 17.00 >>>',
  ]) {
    test(`"${header}" and all below it go in a reply`, () => {
      const body = `Please call the supplier today.\n\n${header}\nPallets 1-3 arrive Monday.\nBitte Rampe B.\n\nBob Smith\nSupplier Logistics\n`;
      assert.equal(strip(body, { reply: true }), 'Please call the supplier today.');
    });
  }

  test("in a mail that answers nothing it is text; in a reply, a line framed by >>> without a sender, a date and a time is the writer's banner", () => {
    const alert = 'Load >>> limit\n\n>>> Pump 3 restarted 12/5/2026 5:00 PM >>>\nAll pumps running.';
    assert.equal(strip(alert, { reply: false }), tidy(alert));
    for (const text of [
      'Please call.\n\n>>> Step two >>>\nOpen valve 4.',
      'Please note the new times:\n\n>>> Deadline moved to 12/5/2026 >>>\nTruck 1 arrives 8:00.\nTruck 2 arrives 9:00.',
      'Plan:\n>>> Phase 1 2026 >>>\nOrder parts.',
      'Note:\n>>> Bob Smith 12/5/2026 >>>\nCall him at 5.',
    ]) {
      assert.equal(strip(text, { reply: true }), text);
    }
  });
});

describe('reply and forward markers of T-Online, Zimbra, Seznam and Lotus Notes', () => {
  for (const [marker, header] of [
    ['-----Original-Nachricht-----', 'Betreff: Termin\nDatum: 2026-12-05T17:00:00+0100\nVon: "Bob" <bob@example.de>\nAn: alice@example.com'],
    ['----- Mail original -----', 'De: "Bob" <bob@example.fr>\nÀ: "Alice" <alice@example.com>\nEnvoyé: Samedi 5 Décembre 2026 17:00:00\nObjet: Rendez-vous'],
    [
      '----- Ursprüngliche Mail -----',
      'Von: "Bob" <bob@example.de>\nAn: "Alice" <alice@example.com>\nGesendet: Samstag, 5. Dezember 2026 17:00:00\nBetreff: Termin',
    ],
    ['---------- Původní e-mail ----------', 'Od: Bob <bob@example.cz>\nKomu: alice@example.com\nDatum: 5. 12. 2026 17:00:00\nPředmět: Schůzka'],
  ] as const) {
    test(`"${marker}" goes with the header block and the mail answered`, async () => {
      const request = await extract('Re: Termin', `Ich rufe an.\n\n${marker}\n${header}\n\nKönnen Sie mich anrufen?\n`);
      assert.equal(request.text, 'Ich rufe an.');
    });
  }

  for (const [subject, marker] of [
    ['Fw: Delivery', '----- Forwarded by Alice Meyer/ACME on 12/05/2026 05:00 PM -----'],
    ['WG: Lieferung', '----- Weitergeleitet von Alice Meyer/ACME am 05.12.2026 17:00 -----'],
    ['TR: Livraison', '----- Mail transféré -----'],
  ] as const) {
    test(`"${marker}" goes with the forwarded header; the note and the forwarded text are sent, with no note the forwarded text`, async () => {
      const body = `\n${marker}\n\nFrom:\tBob Smith <bob@supplier.example>\nTo:\tAlice Meyer/ACME@ACME\nDate:\t12/05/2026 04:55 PM\nSubject:\tDelivery\n\n${FORWARDED}\n`;
      assert.equal((await extract(subject, `${NOTE}\n${body}`)).text, `${NOTE}\n\n${FORWARDED}`);
      assert.equal((await extract(subject, body)).text, FORWARDED);
    });
  }
});

describe("Gmail's forwards in Korean and Turkish: only the From label is localised", () => {
  for (const label of ['보낸사람', 'Gönderen']) {
    test(`"${label}:" with Date:, Subject:, To: is the forwarded header`, async () => {
      const header = `---------- Forwarded message ---------\n${label}: Bob Smith <bob@supplier.example>\nDate: 5 Ara 2026 Per 17:00\nSubject: Teslimat\nTo: <alice@example.com>\n\n${FORWARDED}\n`;
      assert.equal((await extract('Fwd: Teslimat', `${NOTE}\n\n${header}`)).text, `${NOTE}\n\n${FORWARDED}`);
      assert.equal((await extract('Fwd: Teslimat', header)).text, FORWARDED);
    });
  }
});

describe('disclaimers in Romanian, Greek, Hebrew, Korean, Croatian and Arabic', () => {
  for (const disclaimer of [
    'Acest mesaj și eventualele atașamente sunt confidențiale și sunt destinate exclusiv destinatarului. Dacă ați primit acest mesaj din greșeală, vă rugăm să anunțați expeditorul și să îl ștergeți.',
    'Acest mesaj este confidenţial şi destinat numai persoanei căreia îi este adresat. Dacă l-aţi primit din greşeală, vă rugăm să informaţi expeditorul şi să îl ştergeţi imediat.',
    'Αυτό το μήνυμα ηλεκτρονικού ταχυδρομείου και τυχόν συνημμένα αρχεία είναι εμπιστευτικά και προορίζονται αποκλειστικά για τον παραλήπτη. Αν το λάβατε κατά λάθος, ενημερώστε τον αποστολέα και διαγράψτε το.',
    'הודעה זו וכל הקבצים המצורפים אליה הינם חסויים ומיועדים לנמען בלבד. אם קיבלת הודעה זו בטעות, אנא הודע לשולח מיד ומחק אותה מהמערכת שלך. כל שימוש, העתקה או הפצה אסורים.',
    '이 이메일과 첨부 파일은 기밀 정보를 포함하고 있으며 지정된 수신자만을 위한 것입니다. 이 메일을 잘못 받으신 경우 즉시 발신자에게 알리고 메일을 삭제해 주십시오. 무단 사용, 복사 또는 배포는 금지됩니다.',
    'Ovaj e-mail i svi prilozi su povjerljivi i namijenjeni isključivo primatelju. Ako ste ovu poruku primili greškom, molimo obavijestite pošiljatelja i izbrišite je. Svako neovlašteno korištenje je zabranjeno.',
    'هذه الرسالة الإلكترونية وأي مرفقات بها سرية ومخصصة للمستلم المقصود فقط. إذا تلقيت هذه الرسالة عن طريق الخطأ، يرجى إبلاغ المرسل وحذفها فورًا. يحظر أي استخدام أو نسخ أو توزيع غير مصرح به.',
  ]) {
    test(`"${disclaimer.slice(0, 40)}…" goes, right under the text and under a sign-off`, () => {
      assert.equal(strip(`Pump 3 is back online.\n\n${disclaimer}\n`), 'Pump 3 is back online.');
      assert.equal(strip(`Pump 3 is back online.\n\nBest regards\nAlice\n\n${disclaimer}\n`), 'Pump 3 is back online.');
    });
  }

  test("a short Korean line about something secret is the writer's", () => {
    const text = 'Pump 3 is back online.\n\n이 메일의 내용은 비밀입니다.';
    assert.equal(strip(text), text);
  });

  for (const disclaimer of [
    'Bu e-posta mesajı ve ekleri gönderildiği kişi ya da kuruma özel ve gizlidir. Yetkili alıcı değilseniz lütfen göndereni bilgilendirip mesajı sisteminizden siliniz; her türlü kullanım yasaktır.',
    'הודעה זו עשויה להכיל מידע חסוי המוגן על פי דין. אם קיבלת הודעה זו בטעות, אנא הודע לשולח מיד ומחק אותה מהמערכת שלך. כל שימוש, העתקה או הפצה אסורים.',
    'قد تحتوي هذه الرسالة على معلومات سرية. إذا تلقيت هذه الرسالة عن طريق الخطأ، يرجى إبلاغ المرسل وحذفها فورًا. يحظر أي استخدام أو نسخ أو توزيع غير مصرح به.',
  ]) {
    test(`"${disclaimer.slice(0, 40)}…" goes by its legal phrase`, () => {
      assert.equal(strip(`Pump 3 is back online.\n\n${disclaimer}\n`), 'Pump 3 is back online.');
    });
  }

  // Under a signature without "-- ": the contact block stays the writer's, the legal paragraph goes.
  for (const disclaimer of [
    'המידע הכלול בהודעה זו הינו חסוי ומיועד לשימוש הנמען בלבד. אם קיבלת הודעה זו בטעות, אנא הודע לשולח מיד ומחק אותה ממערכתך. כל שימוש, העתקה או הפצה של הודעה זו אסורים.',
    'הודעה זו והמידע החסוי הכלול בה מיועדים לנמען המיועד בלבד. אם קיבלת הודעה זו בטעות, אנא הודע לשולח מיד ומחק אותה ממערכתך. כל שימוש, העתקה או הפצה של הודעה זו אסורים.',
    'هذه الرسالة الإلكترونية ومرفقاتها سرية ومخصصة فقط للشخص أو الجهة المرسلة إليها. إذا تلقيت هذه الرسالة عن طريق الخطأ، يرجى إبلاغ المرسل فوراً وحذفها من نظامك. يمنع أي نسخ أو توزيع لها.',
    '본 메일에는 비밀정보가 포함되어 있을 수 있으며, 수신인 이외의 자가 열람, 복사, 배포하는 것은 엄격히 금지됩니다. 잘못 수신하신 경우 즉시 발신자에게 알려주시고 삭제해 주시기 바랍니다. 감사합니다.',
    'Το παρόν μήνυμα και τα συνημμένα του είναι απόρρητα και προορίζονται αποκλειστικά για τον παραλήπτη. Εάν το λάβατε κατά λάθος, παρακαλούμε ενημερώστε τον αποστολέα και διαγράψτε το αμέσως.',
  ]) {
    test(`"${disclaimer.slice(0, 40)}…" goes below a contact block (Hebrew and Arabic with their attached one-letter words)`, () => {
      const signature = 'Dana Levi\nACME Ltd\nTel. +972 3 555 0101';
      assert.equal(strip(`Pump 3 is back online.\n\n${signature}\n\n${disclaimer}\n`), `Pump 3 is back online.\n\n${signature}`);
    });
  }

  test('only a one-letter word Arabic attaches opens a legal phrase: أ + سرية is أسرية ("of the family"), the writer\'s', () => {
    const text =
      'db1 is down since 10:00.\n\nهذه الرسالة للتذكير فقط: الرحلة أسرية ومخصصة للأعضاء وعائلاتهم، والحافلة تنطلق من أمام المكتب في الساعة الثامنة صباحا يوم السبت القادم.';
    assert.equal(strip(text), text);
  });

  // A long last paragraph that names the mail, with an everyday word that a legal word opens or is inside of.
  for (const paragraph of [
    'أرجو الرد على هذه الرسالة بسرعة، نحتاج إلى حل سريع قبل نهاية اليوم لأن العملاء لا يستطيعون الدخول إلى النظام وسأبقى في المكتب حتى السادسة مساء.',
    'אנא קראו את ההודעה הזו בעיון ובצעו בדיקה יסודית של כל השרתים בחדר 4 לפני סוף היום, כי הלקוחות לא מצליחים להתחבר למערכת ואני אהיה במשרד עד שש בערב.',
    '이 메일을 받으시면 바로 관리자 계정의 비밀번호를 변경하시고 서버실 4번 랙의 전원을 확인해 주세요. 고객들이 시스템에 접속하지 못하고 있으니 오늘 안에 꼭 처리해 주시기 바랍니다.',
    'Vă rog să răspundeți la acest mesaj până la ora 16. Destinatarul coletului trebuie să fie prezent la livrare cu buletinul, altfel coletul se întoarce la depozitul din Cluj.',
    'Molim vas da na ovu poruku odgovorite do 16 sati. Primatelj paketa mora biti prisutan pri dostavi s osobnom iskaznicom, inače se paket vraća u skladište u Zagrebu.',
    'Παρακαλώ διαβάστε αυτό το μήνυμα προσεκτικά: ο κωδικός είναι απόρρητος, μην τον στείλετε σε κανέναν, αλλάξτε τον σήμερα και ελέγξτε το rack 4 πριν το τέλος της ημέρας.',
    'Bu mesajı alır almaz lütfen gizli klasördeki yedek dosyalarını kontrol edin ve raf 4teki sunucunun güç kablosunu değiştirin, müşteriler sisteme giremiyor, akşam altıya kadar ofisteyim.',
  ]) {
    test(`the writer's own last paragraph "${paragraph.slice(0, 40)}…" stays`, () => {
      const text = `db1 is down since 10:00.\n\n${paragraph}`;
      assert.equal(strip(text), text);
    });
  }
});
