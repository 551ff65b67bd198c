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
      assert.equal(alone.subjectForBody, false);
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
    assert.equal(removed.subjectForBody, true);
    const empty = await extract('Pump 3 back online', '');
    assert.equal(empty.text, 'Pump 3 back online');
    assert.equal(empty.subjectForBody, false);
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
