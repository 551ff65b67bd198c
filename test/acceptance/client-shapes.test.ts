/**
 * What more mail clients write around a person's text, over real SMTP to a relay with the simulator:
 * QQ Mail's plain-text reply header with HTML's entities in it, Outlook's "Original Message" marker in
 * any language above a header block, Gmail's attribution wrapped inside its parentheses or dated in
 * Persian digits, sign-offs of more languages, Apple Mail's signature marker. Replies answer the relay's
 * real reply mail (kept in the store, so the thread cut runs) or a colleague's mail (the general rules).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { waitFor } from '../helpers/relay.ts';
import { relayWithStoredReply } from '../helpers/reply-thread.ts';
import { sendMail } from '../helpers/smtp.ts';

const PHONE = '+447700900131';
const PHONE_ADDRESS = '447700900131@sms.example.com';
const SHOWN = '+44 7700 900131';
const SUBJECT = `Re: SMS from ${SHOWN}`;

describe('more clients: what they write around the text goes, what the person wrote stays', () => {
  const { suite, reply } = relayWithStoredReply(PHONE, 'On it, rebooting now', 'ctx-mua', '2026-12-06T17:17:00Z', '01900000-0000-7000-8000-000000000131');

  /** The copy of the reply mail quoted with `>`, as Gmail's plain part writes it. */
  const quoted = () =>
    reply.copy
      .split(/\r?\n/)
      .map((line) => (line === '' ? '>' : `> ${line}`))
      .join('\n');

  /** Sends `body` (LF line ends) as an answer to the relay's reply mail, or, with `subject`, as a mail of its own to the phone. */
  async function send(body: string, subject = SUBJECT, headers: Record<string, string> = {}) {
    const thread: Record<string, string> = subject === SUBJECT ? { 'In-Reply-To': reply.replyId, References: reply.replyId } : {};
    const smtp = await sendMail(suite.port, { to: [PHONE_ADDRESS], subject, body: body.replace(/\r?\n/g, '\r\n'), headers: { ...thread, ...headers } });
    assert.equal(smtp.data?.code, 250, smtp.data?.text);
  }

  /** The text of the SMS that starts with `start`, once it is there. */
  const sms = async (start: string) =>
    (await waitFor(`the SMS "${start}…"`, () => suite.gateway.simulator.received.find((entry) => entry.text.startsWith(start)))).text;

  /** QQ Mail's plain-text reply header: its blanks and `>` written as HTML entities. */
  const qqHeader = (sender: string, subject: string) =>
    `------------------&nbsp;原始邮件&nbsp;------------------\n发件人:&nbsp;${sender};\n发送时间:&nbsp;2026年12月6日(星期天) 下午5:17\n收件人:&nbsp;"Alice"<alice@example.com&gt;;\n主题:&nbsp;${subject}`;

  test("QQ Mail's plain reply (its header written with &nbsp; and &gt;) sends only the new text, to the relay's reply mail and to a colleague's", async () => {
    await send(`好的\n\n\n\n${qqHeader(`"${SHOWN}"<${PHONE_ADDRESS}&gt;`, SUBJECT)}\n\n${reply.copy}`);
    assert.equal(await sms('好的'), '好的');
    await send(
      `好的，我马上处理\n\n\n\n${qqHeader('"王伟"<wang.wei@example.cn&gt;', '服务器宕机')}\n\n\n\ndb1 服务器宕机了，请尽快检查。\n王伟`,
      'Re: 服务器宕机',
    );
    assert.equal(await sms('好的，我马上处理'), '好的，我马上处理');
  });

  test('entities a person typed are sent as written: only the rules read them (a literal &nbsp; or &lt;b&gt; stays)', async () => {
    await send(`Write &lt;b&gt; for bold, 5&nbsp;kg with AT&T &amp; co.\n\n${qqHeader(`"${SHOWN}"<${PHONE_ADDRESS}&gt;`, SUBJECT)}\n\n${reply.copy}`);
    assert.equal(await sms('Write &lt;b&gt;'), 'Write &lt;b&gt; for bold, 5&nbsp;kg with AT&T &amp; co.');
    await send('In the template write 5&nbsp;kg, not 5 kg.\nFrom:&nbsp;the style guide', 'Template');
    assert.equal(await sms('In the template'), 'In the template write 5&nbsp;kg, not 5 kg.\nFrom:&nbsp;the style guide');
  });

  /** Outlook's plain reply in a language: its marker, its From/Sent/To/Subject labels. */
  const outlookLanguages = [
    ['Arabic', '-----الرسالة الأصلية-----', 'من:', 'تاريخ الإرسال:', 'إلى:', 'الموضوع:'],
    ['Thai', '-----ข้อความต้นฉบับ-----', 'จาก:', 'ส่ง:', 'ถึง:', 'เรื่อง:'],
    ['Vietnamese', '-----Thư gốc-----', 'Từ:', 'Đã gửi:', 'Đến:', 'Chủ đề:'],
    ['Lithuanian', '-----Originalus pranešimas-----', 'Nuo:', 'Išsiųsta:', 'Kam:', 'Tema:'],
    ['Latvian', '-----Sākotnējais ziņojums-----', 'No:', 'Nosūtīts:', 'Kam:', 'Tēma:'],
    ['Estonian', '-----Algsõnum-----', 'Saatja:', 'Saadetud:', 'Adressaat:', 'Teema:'],
    ['Bulgarian', '-----Оригинално съобщение-----', 'От:', 'Изпратено:', 'До:', 'Тема:'],
    ['Serbian', '-----Originalna poruka-----', 'Od:', 'Poslato:', 'Za:', 'Tema:'],
    ['Persian', '-----پیام اصلی-----', 'از:', 'ارسال شده:', 'به:', 'موضوع:'],
    // A wording no list holds: the marker goes by where it stands.
    ['Welsh', '-----Neges Wreiddiol-----', 'Oddi wrth:', 'Anfonwyd:', 'At:', 'Pwnc:'],
  ] as const;

  test("Outlook's Original Message marker in any language goes with the header block below it", async () => {
    for (const [language, marker, from, sent, to, subject] of outlookLanguages) {
      const header = `${marker}\n${from} ${SHOWN} <${PHONE_ADDRESS}>\n${sent} 6.12.2026 17:17\n${to} Alice Smith <alice@example.com>\n${subject} ${SUBJECT}`;
      await send(`OK ${language}\n\n${header}\n\n${reply.copy}`);
      assert.equal(await sms(`OK ${language}`), `OK ${language}`);
    }
    const colleague = `-----Neges Wreiddiol-----\nTừ: Nam <nam@example.vn>\nĐã gửi: 6.12.2026 17:17\nĐến: Alice Smith <alice@example.com>\nChủ đề: Máy chủ\n\nMáy chủ db1 không phản hồi.`;
    await send(`OK colleague\n\n${colleague}`, 'Re: Máy chủ');
    assert.equal(await sms('OK colleague'), 'OK colleague');
  });

  test("a line of words between dashes that heads no header block is the writer's and is sent", async () => {
    await send(`--- Schichtwechsel ---\nPump 4 läuft wieder.\n\nOn Sun, 6 Dec 2026 at 17:17, ${SHOWN} <${PHONE_ADDRESS}> wrote:\n${quoted()}`);
    assert.equal(await sms('--- Schichtwechsel'), '--- Schichtwechsel ---\nPump 4 läuft wieder.');
    await send('Pump 5 done.\n\n-----Notes-----\nValve 3 leaks a little.', 'Shift notes');
    assert.equal(await sms('Pump 5 done.'), 'Pump 5 done.\n\n-----Notes-----\nValve 3 leaks a little.');
  });

  test("Gmail's Hungarian attribution wrapped inside its parentheses, and its Persian one dated in Persian digits, go whole", async () => {
    const hungarian = `${SHOWN} <${PHONE_ADDRESS}> ezt írta (időpont: 2026. dec. 6., V, 17:17):`;
    await send(`Rendben egy\n\n${hungarian.replace(' 6., V', '\n6., V')}\n\n${quoted()}`);
    assert.equal(await sms('Rendben egy'), 'Rendben egy');
    await send(`Rendben kettő\n\n${hungarian.replace(' V, 17', '\nV, 17')}\n\n${quoted()}`);
    assert.equal(await sms('Rendben kettő'), 'Rendben kettő');
    await send(
      'Rendben, intézem\n\nKovács Péter <peter.kovacs@example.hu> ezt írta (időpont: 2026. dec.\n6., V, 17:17):\n\n> Leállt a db1 szerver.',
      'Re: Szerver leállás',
    );
    assert.equal(await sms('Rendben, intézem'), 'Rendben, intézem');
    const persian = `\u202bدر تاریخ یکشنبه ۱۶ آذر ۱۴۰۵ ساعت ۱۷:۱۷ \u202a${SHOWN}\u202c\u200f <\u202a${PHONE_ADDRESS}\u202c\u200f> نوشت:\u202c`;
    for (const [typed, attribution] of [
      ['باشه یک', persian],
      ['باشه دو', persian.replace('+44 7700 ', '+44 7700\n')],
      ['باشه سه', persian.replace('\u202b', '').replace('+44 7700 ', '+44 7700\n')],
    ] as const) {
      await send(`${typed}\n\n${attribution}\n\n${quoted()}`);
      assert.equal(await sms(typed), typed);
    }
  });

  test('a parenthesis the writer closed, and a sentence of theirs above an attribution, are sent', async () => {
    await send(`Moved to room 4 (see the 2026 plan).\n\nOn Sun, 6 Dec 2026 at 17:17, ${SHOWN} <${PHONE_ADDRESS}> wrote:\n${quoted()}`);
    assert.equal(await sms('Moved to room 4'), 'Moved to room 4 (see the 2026 plan).');
  });

  test('sign-offs in Hebrew, Arabic, Persian, Chinese, Japanese, Vietnamese, Thai, Hindi, Indonesian and Hungarian (with its colon) go with the name', async () => {
    const signOffs = [
      ['he', 'בברכה,\nדוד'],
      ['ar', 'مع أطيب التحيات،\nأحمد'],
      ['ar2', 'تحياتي،\nأحمد'],
      ['fa', 'با احترام،\nعلی'],
      ['zh', '此致\n敬礼\n张伟'],
      ['ja', '敬具\n山田'],
      ['vi', 'Trân trọng,\nNam'],
      ['th', 'ขอแสดงความนับถือ\nสมชาย'],
      ['hi', 'सादर,\nराहुल'],
      ['id', 'Hormat saya,\nBudi'],
      ['hu', 'Üdvözlettel:\nPéter'],
    ] as const;
    for (const [language, signOff] of signOffs) {
      await send(`Pump ${language} fixed.\n\n${signOff}`, `Pump ${language}`);
      assert.equal(await sms(`Pump ${language} fixed.`), `Pump ${language} fixed.`);
    }
    // An English text keeps its one GSM-7 part: the Hebrew sign-off no longer makes it three UCS-2 parts.
    const long = 'Pump 4 fixed at 10:05. Pressure back to 3.1 bar, flow normal. Left the bypass valve open until the morning shift checks it.';
    await send(`${long}\n\nבברכה,\nדוד`, 'Pump 4');
    assert.equal(await sms('Pump 4 fixed at 10:05.'), long);
  });

  test('what merely resembles a sign-off stays: a colon after another closing announces a list, a closing word opening a sentence is text', async () => {
    await send('Options for lunch.\n\nBest:\nPizza Hut\nDominos', 'Lunch');
    assert.equal(await sms('Options for lunch.'), 'Options for lunch.\n\nBest:\nPizza Hut\nDominos');
    await send('Pump 7 fixed.\n\nבברכה, נתראה מחר בבוקר.', 'Pump 7');
    assert.equal(await sms('Pump 7 fixed.'), 'Pump 7 fixed.\n\nבברכה, נתראה מחר בבוקר.');
    await send('Pump 8 fixed.\n\nSalam,\nPompa 8 sudah diperbaiki, silakan cek lagi.', 'Pump 8');
    assert.equal(await sms('Pump 8 fixed.'), 'Pump 8 fixed.\n\nSalam,\nPompa 8 sudah diperbaiki, silakan cek lagi.');
  });

  test("a sentence in a script without case under a sign-off stays with it, and one below the signature is the writer's afterthought, as English ones are", async () => {
    for (const [typed, signed] of [
      ['Pump 13 fixed.', 'בברכה,\nנתראה מחר בבוקר בשער.'],
      ['Pump 14 fixed.', 'تحياتي،\nهل يمكنك فحص المضخة صباح الغد؟'],
      ['Pump 15 fixed.', 'सादर,\nकल सुबह गेट पर मिलते हैं।'],
      ['Pump 16 fixed.', '祝好\n明天早上10点请到大门来。'],
    ] as const) {
      await send(`${typed}\n\n${signed}`, typed);
      assert.equal(await sms(typed), `${typed}\n\n${signed}`);
    }
    await send('המשאבה תוקנה.\n\nבברכה,\nדוד\n\nאל תשכחו לבדוק את המשאבה מחר בבוקר.', 'Pump 17');
    assert.equal(await sms('המשאבה תוקנה.'), 'המשאבה תוקנה.\n\nאל תשכחו לבדוק את המשאבה מחר בבוקר.');
    await send('تم إصلاح المضخة 18.\n\nمع تحياتي،\nأحمد\n\nهل يمكنك فحص المضخة صباح الغد؟', 'Pump 18');
    assert.equal(await sms('تم إصلاح المضخة 18.'), 'تم إصلاح المضخة 18.\n\nهل يمكنك فحص المضخة صباح الغد؟');
    await send('泵19已修好。\n\n此致\n敬礼\n张伟\n\n明天早上请再检查一下泵。', 'Pump 19');
    assert.equal(await sms('泵19已修好。'), '泵19已修好。\n\n明天早上请再检查一下泵。');
    // A name and title in those scripts are no sentence: they go with the sign-off.
    await send('Pump 20 fixed.\n\nבברכה,\nדוד כהן\nמנהל משמרת', 'Pump 20');
    assert.equal(await sms('Pump 20 fixed.'), 'Pump 20 fixed.');
  });

  test('a reply of only thanks in Persian, Vietnamese or Japanese is sent as "Thanks" is; one of only a sign-off is refused naming it, as "Regards" is', async () => {
    for (const thanks of ['با تشکر', 'با سپاس', 'Trân trọng cảm ơn', 'よろしくお願いします。']) {
      await send(`${thanks}\n\nOn Sun, 6 Dec 2026 at 17:17, ${SHOWN} <${PHONE_ADDRESS}> wrote:\n${quoted()}`);
      assert.equal(await sms(thanks), thanks);
    }
    for (const [signOff, named] of [
      ['Regards', ' ("Regards")'],
      ['祝好', ''],
      ['Salam', ' ("Salam")'],
      ['Trân trọng', ' ("Tran trong")'],
    ] as const) {
      const body = `${signOff}\n\nOn Sun, 6 Dec 2026 at 17:17, ${SHOWN} <${PHONE_ADDRESS}> wrote:\n${quoted()}`;
      const smtp = await sendMail(suite.port, {
        to: [PHONE_ADDRESS],
        subject: SUBJECT,
        body: body.replace(/\n/g, '\r\n'),
        headers: { 'In-Reply-To': reply.replyId },
      });
      assert.equal(smtp.data?.code, 554, `${signOff}: ${smtp.data?.text}`);
      // Named as typed, in ASCII; one ASCII cannot show is not named.
      assert.equal(smtp.data?.text, `5.6.0 Not sent as SMS: the reply holds only a sign-off${named}; write the message above the quote`);
    }
  });

  test('a line the writer typed starting with &gt; is sent, not read as a quote; the entities of a header still are read', async () => {
    await send(`Threshold is now\n&gt; 90% for 10 minutes\nplease confirm.\n\nOn Sun, 6 Dec 2026 at 17:17, ${SHOWN} <${PHONE_ADDRESS}> wrote:\n${quoted()}`);
    assert.equal(await sms('Threshold is now'), 'Threshold is now\n&gt; 90% for 10 minutes\nplease confirm.');
    await send('Limits:\n&nbsp;&gt; 95% page\n&gt;&gt; 99% call', 'Re: Limits');
    assert.equal(await sms('Limits:'), 'Limits:\n&nbsp;&gt; 95% page\n&gt;&gt; 99% call');
  });

  test("an attribution dated in Persian digits is read as one: by its date alone above a reply's quote, as certain with an address in a mail that answers none", async () => {
    await send('باشه چهار\n\nدر تاریخ یکشنبه ۱۶ آذر ۱۴۰۵ ساعت ۱۷:۱۷ علی رضایی نوشت:\n\n> پمپ ۴ نشت دارد.', 'Re: پمپ');
    assert.equal(await sms('باشه چهار'), 'باشه چهار');
    await send('Pump 21 again, see below.\n\nدر تاریخ یکشنبه ۱۶ آذر ۱۴۰۵ ساعت ۱۷:۱۷ علی <ali@example.ir> نوشت:\n\n> پمپ ۴ نشت دارد.', 'Pump 21');
    assert.equal(await sms('Pump 21 again'), 'Pump 21 again, see below.');
  });

  test("QQ Mail's plain forward (its marker written with &nbsp;) under a subject with no prefix is a forward: the forwarded text is sent", async () => {
    await send(`请看下面的报告\n\n${qqHeader('"王伟"<wang.wei@example.cn&gt;', '泵房')}\n\n4号泵漏水。`, '泵房报告');
    assert.equal(await sms('请看下面的报告'), '请看下面的报告\n\n4号泵漏水。');
  });

  /** A multipart/alternative mail as Apple Mail composes it: the plain part, and the HTML with its signature marker. */
  const alternative = (plain: string, html: string) =>
    `--BB\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n${plain}\n--BB\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n${html}\n--BB--`;
  const appleHtml = (text: string, signature: string) =>
    `<html><body dir="auto"><div dir="ltr">${text}</div><div dir="ltr"><br id="lineBreakAtBeginningOfSignature"><div dir="ltr">${signature}</div></div></body></html>`;

  test("Apple Mail's signature (after its br#lineBreakAtBeginningOfSignature) goes from the plain part and from HTML alone", async () => {
    const headers = { 'Content-Type': 'multipart/alternative; boundary="BB"' };
    await send(
      alternative('Pump 9 fixed.\n\nJane Doe\nShift Supervisor', appleHtml('Pump 9 fixed.', 'Jane Doe<div>Shift Supervisor</div>')),
      'Pump 9',
      headers,
    );
    assert.equal(await sms('Pump 9 fixed.'), 'Pump 9 fixed.');
    await send(alternative('Pump 10 fixed.\n\nדוד כהן\nמנהל משמרת', appleHtml('Pump 10 fixed.', 'דוד כהן<div>מנהל משמרת</div>')), 'Pump 10', headers);
    assert.equal(await sms('Pump 10 fixed.'), 'Pump 10 fixed.');
    await send(appleHtml('Pump 11 fixed.', 'Jane Doe<div>Shift Supervisor</div>'), 'Pump 11', { 'Content-Type': 'text/html; charset=utf-8' });
    assert.equal(await sms('Pump 11 fixed.'), 'Pump 11 fixed.');
    // The writer's lines above the marker stay, however name-like.
    await send(appleHtml('Pump 12 fixed.<div>Call Security Team</div>', 'Jane Doe'), 'Pump 12', { 'Content-Type': 'text/html; charset=utf-8' });
    assert.equal(await sms('Pump 12 fixed.'), 'Pump 12 fixed.\nCall Security Team');
  });

  test("Apple Mail's marker takes only the element right after it that ends the writer's text: text after the br, or a line typed below it with more below, is sent", async () => {
    const html = { 'Content-Type': 'text/html; charset=utf-8' };
    const marker = '<br id="lineBreakAtBeginningOfSignature">';
    await send(
      `<html><body dir="auto"><div dir="ltr">Pump 22 fixed.${marker}Jane Doe<br>Valve 3 still leaks, replace it tomorrow.</div></body></html>`,
      'Pump 22',
      html,
    );
    assert.equal(await sms('Pump 22 fixed.'), 'Pump 22 fixed.\nJane Doe\nValve 3 still leaks, replace it tomorrow.');
    await send(
      `<html><body dir="auto"><div dir="ltr">Pump 23 fixed.</div>${marker}<div dir="ltr">Valve 3 still leaks, replace it tomorrow.</div><div>Sent from my iPhone</div></body></html>`,
      'Pump 23',
      html,
    );
    assert.equal(await sms('Pump 23 fixed.'), 'Pump 23 fixed.\n\nValve 3 still leaks, replace it tomorrow.');
    await send(
      `<html><body dir="auto"><div dir="ltr">Pump 25 fixed.${marker}Valve 3 still leaks.<div dir="ltr">Call me at 10.</div></div></body></html>`,
      'Pump 25',
      html,
    );
    assert.equal(await sms('Pump 25 fixed.'), 'Pump 25 fixed.\nValve 3 still leaks.\nCall me at 10.');
    // As Apple writes a reply: the signature's div, then its quote.
    const cite = `<div dir="ltr"><br><blockquote type="cite">On 6 Dec 2026, at 17:17, Bob &lt;bob@example.com&gt; wrote:<br><br></blockquote></div><blockquote type="cite"><div dir="ltr">Pump 24 leaks</div></blockquote>`;
    await send(`<html><body dir="auto">Pump 24 fixed.${marker}<div dir="ltr">Jane Doe</div>${cite}</body></html>`, 'Re: Pump 24', html);
    assert.equal(await sms('Pump 24 fixed.'), 'Pump 24 fixed.');
  });
});
