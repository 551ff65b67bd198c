/**
 * Marks mail clients put around a person's text that read differently from the common ones, over
 * real SMTP to a relay with the simulator: quotes marked with initials (The Bat!, Supercite) or the
 * full-width `＞`, Chinese header blocks with full-width colons and padded labels, enterprise and
 * Android mail apps' stock lines, a signature delimiter Smart Punctuation turned into a dash. Each
 * with the look-alike lines people write, which are sent. Replies answer the relay's real reply mail
 * (kept in the store, so the thread cut runs) or a colleague's mail (the general rules).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { waitFor } from '../helpers/relay.ts';
import { relayWithStoredReply } from '../helpers/reply-thread.ts';
import { sendMail } from '../helpers/smtp.ts';

const PHONE = '+447700900141';
const PHONE_ADDRESS = '447700900141@sms.example.com';
const SHOWN = '+44 7700 900141';
const SUBJECT = `Re: SMS from ${SHOWN}`;
const COLLEAGUE = { 'In-Reply-To': '<db1@example.com>', References: '<db1@example.com>' };

describe("clients' own marks go, what the person wrote stays", () => {
  const { suite, reply } = relayWithStoredReply(PHONE, 'On it, rebooting now', 'ctx-marks', '2026-12-07T05:32:33Z', '01900000-0000-7000-8000-000000000141');

  /** The copy of the reply mail with each line after `mark` (blank lines as the mark alone, as The Bat! writes them). */
  const quoted = (mark: string) =>
    reply.copy
      .split(/\r?\n/)
      .map((line) => `${mark}${line}`.trimEnd())
      .join('\n');

  /** Sends `body` as an answer to the relay's reply mail, or, with `subject`, to a colleague's mail; the end-of-data reply. */
  async function send(body: string, subject = SUBJECT, headers: Record<string, string> = subject === SUBJECT ? {} : COLLEAGUE) {
    const thread: Record<string, string> = subject === SUBJECT ? { 'In-Reply-To': reply.replyId, References: reply.replyId } : {};
    const smtp = await sendMail(suite.port, { to: [PHONE_ADDRESS], subject, body: body.replace(/\r?\n/g, '\r\n'), headers: { ...thread, ...headers } });
    return smtp.data;
  }
  /** Sends `body` and expects it taken. */
  async function accepted(body: string, subject?: string, headers?: Record<string, string>) {
    const reply = await send(body, subject, headers);
    assert.equal(reply?.code, 250, reply?.text);
  }

  /** The text of the SMS that starts with `start`, once it is there. */
  const sms = async (start: string) =>
    (await waitFor(`the SMS "${start}…"`, () => suite.gateway.simulator.received.find((entry) => entry.text.startsWith(start)))).text;

  const theBat = 'Monday, December 7, 2026, 5:32:33 AM, you wrote:';
  const theBatSignature = '-- \nBest regards,\n Alice                            mailto:alice@example.com';

  test("quotes marked with the writer's initials (The Bat!, Supercite, FidoNet) are quotes: the answer below or between them is sent, the relay's copy in them is not", async () => {
    await accepted(`Hello,\n\n${theBat}\n\n${quoted('AS> ')}\n\nAS1 below: ping me when it is back.\n\n${theBatSignature}`);
    assert.equal(await sms('Hello,\n\nAS1'), 'Hello,\n\nAS1 below: ping me when it is back.');
    const [first, ...rest] = quoted('AS> ').split('\n');
    await accepted(`Hello,\n\n${theBat}\n\n${first}\n\nAS2 between: ping me.\n\n${rest.join('\n')}\n\n${theBatSignature}`);
    assert.equal(await sms('Hello,\n\nAS2'), 'Hello,\n\nAS2 between: ping me.');
    await accepted(`>>>>> "+4" == ${SHOWN} <${PHONE_ADDRESS}> writes:\n\n${quoted('+4> ')}\n\nAS3 Supercite: ping me.`);
    assert.equal(await sms('AS3'), 'AS3 Supercite: ping me.');
    await accepted(`AS4 top: ping me.\n\n${quoted('AS> ')}`);
    assert.equal(await sms('AS4'), 'AS4 top: ping me.');
    const colleague = `Hello Bob,\n\n${theBat}\n\nBM> db1 is not answering, can you check?\n\nAS5 rebooting it now.\n\nBM> And the backup job?\n\nIt ran at 02:00, fine.\n\n${theBatSignature}`;
    await accepted(colleague, 'Re: db1');
    assert.equal(await sms('Hello Bob,\n\nAS5'), 'Hello Bob,\n\nAS5 rebooting it now.\n\nIt ran at 02:00, fine.');
    const russian = `AS6 Bob,\n\nВы писали 7 декабря 2026 г., 5:32:33:\n\nBM> db1 не отвечает, проверишь?\n\nПерезагружаю.\n\n-- \nС уважением,\n Alice`;
    await accepted(russian, 'Re: db1');
    assert.equal(await sms('AS6'), 'AS6 Bob,\n\nПерезагружаю.');
  });

  test("the full-width ＞ quotes as > does: a bottom-posted answer is sent, a colleague's quoted lines are not", async () => {
    await accepted(`2026/12/07 5:32、${SHOWN} <${PHONE_ADDRESS}>のメール:\n${quoted('＞ ')}\n\n了解です、FW1。`);
    assert.equal(await sms('了解です、FW1'), '了解です、FW1。');
  });

  test('a prompt or a ＞ a writer types is no quote, in a reply too: pasted SQL*Plus, router and ftp sessions with their bare prompts, a chat log, ＞ lines with no attribution above them, stay', async () => {
    const sqlplus = 'SQL> select status from v$instance;\n\nSTATUS\n------------\nOPEN\n\nSQL>';
    for (const text of [
      'PR1 ran it:\n\nSQL> select count(*) from pumps;\nSQL> commit;\n\nBoth fine.',
      'PR2 router says:\nR1> show ip route\nR1> ping 10.0.0.1\nOK now.',
      `PR3 Hi Bob,\n\nIt is open again:\n\n${sqlplus}\n\nAlice`,
      'PR4 Done:\n\nSQL> alter system switch logfile;\n\nSystem altered.\n\nSQL> commit;\n\nCommit complete.\n\nSQL>\n\nAll fine now.',
      'PR5 Link is back:\n\nR1>show ip int brief\nInterface IP-Address OK? Method Status Protocol\nGi0/0 10.0.0.1 YES manual up up\nR1>\n\nClosing the ticket.',
      'PR6 Upload worked:\n\nftp> put report.csv\n226 Transfer complete.\nftp>\nftp> bye\n\nCheck it please.',
      'PR7 Here is what he said on IRC:\n\nBM> is db1 back?\nAS> yes, since 10:05\nBM> great\nBM>\n\nSo we are fine.',
      'PR8 設定を変えました：\n＞90% が10分続いたら停止。\n＞95% で即停止。\n\n以上です。',
      'PR9 了解です。\n\n＞ポンプ4が止まっています。\n＞確認できますか？',
    ]) {
      await accepted(text, 'Re: db1');
      // GSM-7 writes the SMS's whole text: the sessions' lines are compared as written, blanks and all.
      assert.equal(await sms(text.slice(0, 3)), text);
    }
    const note = 'PRA ポンプ\n＞100件のアラーム\n＞確認済み';
    await accepted(note, 'ポンプ4', {});
    assert.equal(await sms('PRA'), note);
    // In the relay's own thread the copy below goes, the session above it stays.
    const session = 'PRB Restarted, it is open:\n\nSQL> startup\nORACLE instance started.\nDatabase opened.\nSQL>';
    await accepted(`${session}\n\nOn Mon, 7 Dec 2026 at 05:32, ${SHOWN} <${PHONE_ADDRESS}> wrote:\n${quoted('> ')}`);
    assert.equal(await sms('PRB'), session);
  });

  /** Alibaba Mail's and DingTalk's reply header: full-width colons, two-character labels padded with an ideographic space. */
  const alibabaHeader = (sender: string, subject: string, colon = '：') =>
    `发件人${colon}${sender}\n发送时间${colon}2026年12月7日(星期一) 05:32\n收件人${colon}Alice Smith <alice@example.com>\n抄　送${colon}Bob <bob@example.com>\n主　题${colon}${subject}`;
  const dashRule = '-'.repeat(66);

  test('Chinese header blocks with full-width colons and padded labels go, under a rule of dashes or none, in replies and forwards', async () => {
    await accepted(`好的，恢复后告诉我。CN1\n\n${dashRule}\n${alibabaHeader(`${SHOWN} <${PHONE_ADDRESS}>`, SUBJECT)}\n\n${reply.copy}`);
    assert.equal(await sms('好的，恢复后告诉我。CN1'), '好的，恢复后告诉我。CN1');
    await accepted(`CN2 tell me when it is back.\n\n${alibabaHeader(`${SHOWN} <${PHONE_ADDRESS}>`, SUBJECT)}\n\n${reply.copy}`);
    assert.equal(await sms('CN2'), 'CN2 tell me when it is back.');
    for (const colon of ['：', ': ']) {
      await accepted(
        `CN3${colon.trim()} please handle.\n\n${dashRule}\n${alibabaHeader('SCADA <scada@acme.example>', 'Pump 4 alarm', colon)}\n\nPump 4 pressure low, stopped.`,
        '转发：Pump 4 alarm',
        {},
      );
      assert.equal(await sms(`CN3${colon.trim()}`), `CN3${colon.trim()} please handle.\n\nPump 4 pressure low, stopped.`);
    }
  });

  test("a writer's note with full-width colons is sent: no From line, or one without an address, is no header block", async () => {
    for (const note of [
      'CN4 会议记录\n主题：明天的会议\n时间：10点\n地点：三楼',
      'CN5 快递信息如下：\n\n发件人：李四\n收件人：张三\n日期：2026年12月8日\n\n请查收。',
      'CN6 好的，快递信息如下\n\n发件人：李四\n收件人：张三 13800138000\n日期：2026年12月8日',
    ]) {
      await accepted(note, 'Re: 备件');
      assert.equal(await sms(note.slice(0, 3)), note);
    }
  });

  test("the stock lines of Workspace ONE Boxer, AquaMail and IBM Verse go, and a reply of only one is refused as one of only 'Sent from my iPhone' is", async () => {
    for (const line of [
      'Sent from Workspace ONE Boxer',
      'Sent from VMware Boxer',
      'Sent with AquaMail for Android\nhttps://www.mobisystems.com/aqua-mail',
      'Sent from IBM Verse',
    ]) {
      const tag = line.slice(10, 16);
      await accepted(`DV ${tag} pump 4 is fine.\n\n${line}`, 'Pump 4', {});
      assert.equal(await sms(`DV ${tag}`), `DV ${tag} pump 4 is fine.`);
    }
    for (const line of ['Sent from IBM Verse', 'Sent from Workspace ONE Boxer']) {
      const reply = await send(`${line}\n\nOn Mon, 7 Dec 2026 at 05:32, ${SHOWN} <${PHONE_ADDRESS}> wrote:\n${quoted('> ')}`);
      assert.equal(reply?.code, 554, `${line}: ${reply?.text}`);
    }
  });

  test("a line that only starts like an app's is the writer's: a place or van named Nine, a dog, a link under a phone's line or the writer's own under AquaMail's", async () => {
    for (const text of [
      'DV2 pump 4 is fine.\n\nSent from Nine Elms depot',
      'DV3 pump 4 is fine.\n\nSent from my iPhone\nhttps://status.example.com/pump4',
      'DV4 which van brought the parts?\n\nSent from Nine.',
      'DV5 the rota for tonight:\nSent from Nine',
      'DV6 who sent the dog?\n\nSent from Boxer',
    ]) {
      await accepted(text, 'Pump 4', {});
      assert.equal(await sms(text.slice(0, 3)), text);
    }
    await accepted('DV7 pump 4 is fine now. Graph:\nSent with AquaMail for Android\nhttps://grafana.example.com/d/pump4', 'Pump 4', {});
    assert.equal(await sms('DV7'), 'DV7 pump 4 is fine now. Graph:\nSent with AquaMail for Android\nhttps://grafana.example.com/d/pump4');
  });

  const contactBlock = 'Alice Smith | Operations Lead\nACME Water Ltd\nT: +44 20 7946 0000 | M: +44 7700 900555\nwww.acmewater.example';
  const ukRegister = 'ACME Water Ltd is registered in England and Wales, company number 01234567. Registered office: 1 Pump Street, London EC1A 1AA.';

  test("a company-register paragraph is the writer's and stays: its details sent on request, below a note, under a colon or a greeting (the rule that took it for a disclaimer is out)", async () => {
    for (const [text, subject] of [
      [`RG1 pump 4 is fine now.\n\n${ukRegister}`, 'Pump 4'],
      [
        'RG2 pump 4 is fine now.\n\nACME Wasser GmbH, Sitz: Berlin, Registergericht: Amtsgericht Charlottenburg, HRB 12345, Geschäftsführer: Max Muster',
        'Pump 4',
      ],
      ['RG3 pump 4 is fine now.\n\nACME Water B.V., KvK 12345678, statutair gevestigd te Amsterdam.', 'Pump 4'],
      [
        `RG4 Hi Bob,\n\nACME Water Ltd, registered in England and Wales, company number 01234567. Registered office: 1 Pump Street, London EC1A 1AA.`,
        'Re: company number?',
      ],
      ['RG5 details for the supplier form:\n\nACME Water Ltd is registered in England and Wales, company number 01234567.', 'Supplier'],
      ['RG6 Hallo Bob,\n\nfür die Rechnung:\n\nACME Wasser GmbH, Amtsgericht Charlottenburg, HRB 12345', 'AW: Rechnung'],
      ['RG7 pump 4 is fine now.\n\nNew supplier: Pompen BV, KvK 12345678, statutair gevestigd te Utrecht.', 'Pump 4'],
      ['RG8 pump 4 is fine now.\n\nSiren test at the registered office, 1 Pump Street, on 12.12.2026 at 10:00.', 'Pump 4'],
      [`RGA pump 4 is fine now.\n\n${contactBlock}\n\n${ukRegister}`, 'Pump 4'],
      ['RG9 pump 4 is fine now.\n\nOur supplier is registered in England and Wales, company number 01234567, so invoice them in GBP.', 'Pump 4'],
    ] as const) {
      await accepted(text, subject, subject.startsWith('Re:') || subject.startsWith('AW:') ? COLLEAGUE : {});
      assert.equal(await sms(text.slice(0, 3)), text);
    }
  });

  /** Word's (Outlook desktop's) list item with its marker in a span Word ignores. */
  const wordItem = (marker: string, text: string) =>
    `<p class=MsoListParagraph style='text-indent:-18.0pt;mso-list:l0 level1 lfo1'><![if !supportLists]><span style='mso-list:Ignore'>${marker}<span style='font:7.0pt "Times New Roman"'>&nbsp;&nbsp;&nbsp; </span></span><![endif]>${text}<o:p></o:p></p>`;

  test('an HTML ordered list keeps its numbers (start, type, reversed, value), and so does Word\'s numbered list; bullets are "- "', async () => {
    const html = { 'Content-Type': 'text/html; charset=utf-8' };
    for (const [body, text] of [
      [
        '<div>OL1 if pump 4 trips again:<ol><li>Isolate it at MCC-2</li><li>Close valve V-12</li><li>Call me</li></ol><div>Do not skip step 2.</div></div>',
        'OL1 if pump 4 trips again:\n1. Isolate it at MCC-2\n2. Close valve V-12\n3. Call me\n\nDo not skip step 2.',
      ],
      [
        '<div>OL2 from step 4:<ol start="4"><li>Open V-12</li><li>Restart pump</li></ol>Then report step 5.</div>',
        'OL2 from step 4:\n4. Open V-12\n5. Restart pump\n\nThen report step 5.',
      ],
      ['<div>OL3 reply with its letter:<ol type="A"><li>Restart now</li><li>Wait</li></ol></div>', 'OL3 reply with its letter:\nA. Restart now\nB. Wait'],
      [
        '<div>OL4 countdown:<ol reversed type="i"><li>three</li><li>two</li><li value="9">nine</li></ol></div>',
        'OL4 countdown:\niii. three\nii. two\nix. nine',
      ],
      ['<div>OL5 mixed:<ul><li>bullet</li></ul></div>', 'OL5 mixed:\n- bullet'],
      [
        `<p class=MsoNormal>OL6 if pump 4 trips again:<o:p></o:p></p>${wordItem('1.', 'Isolate it')}${wordItem('b)', 'Close V-12')}${wordItem('·', 'Call me')}<p class=MsoNormal>Do not skip step 2.<o:p></o:p></p>`,
        'OL6 if pump 4 trips again:\n1. Isolate it\nb) Close V-12\n- Call me\nDo not skip step 2.',
      ],
    ] as const) {
      await accepted(body, 'Pump 4', html);
      assert.equal(await sms(text.slice(0, 3)), text);
    }
  });

  test('an ordered list numbered past what Roman numerals and letters write is numbered in digits, and a huge start or value is held to a million: a small mail builds no megabytes', async () => {
    const html = { 'Content-Type': 'text/html; charset=utf-8' };
    await accepted('<div>OL7 steps:<ol type="i" start="5000"><li>x</li><li>y</li></ol></div>', 'Pump 4', html);
    assert.equal(await sms('OL7'), 'OL7 steps:\n5000. x\n5001. y');
    const items = '<li value="10000000000">x</li>'.repeat(20);
    // Without the cap each item was an 'm' per thousand (20 MB an item): the text itself shows the cap held.
    await accepted(`<div>OL8 steps:<ol type="I">${items}</ol><ol type="a" start="-10000000000"><li>y</li></ol></div>`, 'Pump 4', html);
    assert.equal(await sms('OL8'), `OL8 steps:\n${'1000000. x\n'.repeat(20)}\n-1000000. y`);
  });

  test("lines framed by rules are the writer's and stay, the name and number in them too: an on-call contact, a section of notes (the framed-signature rule is out)", async () => {
    const rule = '='.repeat(30);
    for (const text of [
      `FR1 pump 4 is back. If it trips again call the contractor.\n\n${rule}\nEmergency contact\nBob Smith\n+44 7700 900123\n${rule}`,
      'FR2 shift notes\n----------\nPump 4 restarted at 10:05.\n----------\nBob Smith\n+44 7700 900123\n----------',
      'FR3 shift notes\n----------\nPump 4 restarted at 10:05.\n----------\nTonight on call\n----------\nBob Smith\n+44 7700 900123\n----------',
      `FR4 call this number tonight\n\n${'*'.repeat(10)}\nBob Smith\n+44 7700 900123\n${'*'.repeat(10)}`,
      `FR5 pump 4 is fine now.\n\n${rule}\nRestart pump 5 after 10 pm.\nCall +44 20 7946 0000\n${rule}\nThanks`,
      `FR6 pump 4 is fine now.\n\nOn-call tonight:\n${rule}\nBob Smith\n+44 20 7946 0000\n${rule}\nThanks`,
    ]) {
      await accepted(text, 'Pump 4', {});
      const got = await sms(text.slice(0, 3));
      // A rule closing the text is no word of theirs and may go (it did before this rule); every other line is sent.
      assert.ok(got === text || `${got}\n${text.split('\n').at(-1)}` === text, got);
    }
  });

  const signature = 'Alice Smith\nOps Lead, ACME Water\n+44 20 7946 0000';

  test('an em or en dash alone under a blank line, a signature with a contact line and only a device line below it, delimits the signature as "-- " does', async () => {
    for (const [tag, dash, below] of [
      ['ED1', '—', ''],
      ['ED2', '— ', ''],
      ['ED3', '–', ''],
      ['ED4', '— ', '\n\nSent from my iPhone'],
    ] as const) {
      await accepted(`${tag} pump 4 is fine now.\n\n${dash}\n${signature}${below}`, 'Pump 4', {});
      assert.equal(await sms(tag), `${tag} pump 4 is fine now.`);
    }
  });

  test("a dash alone in the writer's text stays: between parts, above a list, a sentence or a roster of names, a name with no contact line, with text below the name", async () => {
    for (const text of [
      'ED5 options:\n\n—\nRestart now\nWait for the morning shift',
      'ED6 pump 4 is fine now.\n\n—\nAnd one more thing',
      'ED7 pump 4 is fine now.\n\n—\nAlice Smith\n+44 20 7946 0000\n\nCall me when pump 5 is back.',
      'ED8 pump 4 is fine now.\n—\nAlice Smith',
      'ED9 crew for tonight\n\n—\nAlice Smith\nBob Jones',
      'EDA the pumps are quiet,\nthe night is long.\n\n—\nAlice Smith',
    ]) {
      await accepted(text, 'Pump 4', {});
      // GSM-7 has no dash but "-": the SMS writes it so.
      assert.equal(await sms(text.slice(0, 3)), text.replace('—', '-'));
    }
  });

  test('a contact the writer announces with a colon stays below an em or en dash or a bare "--"; under a sign-off with its colon the signature goes', async () => {
    for (const text of [
      'EDB pump 4 is back. If it trips again, call:\n\n—\nBob Smith\n+44 7700 900123',
      'EDC pump 4 is back. If it trips again, call:\n\n–\nBob Smith\n+44 7700 900123',
      'EDD new contractor for the pumps from Monday:\n\n—\nBob Smith\nbob@pumpfix.example\n+44 7700 900123',
      'EDE pump 4 is back. If it trips again, call:\n\n--\nBob Smith\n+44 7700 900123',
    ]) {
      await accepted(text, 'Pump 4', {});
      assert.equal(await sms(text.slice(0, 3)), text.replace(/[—–]/, '-'));
    }
    await accepted(`EDF rendben.\n\nÜdvözlettel:\n--\n${signature}`, 'Pump 4', {});
    assert.equal(await sms('EDF'), 'EDF rendben.');
  });
});
