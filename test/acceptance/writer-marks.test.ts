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
    await accepted('了解です、FW2。\n\n＞ポンプ4が止まっています。\n＞確認できますか？', 'Re: ポンプ4');
    assert.equal(await sms('了解です、FW2'), '了解です、FW2。');
  });

  test("a prompt or a ＞ a writer types is no quote: pasted SQL*Plus and router sessions, a new mail's ＞ lines, are sent", async () => {
    const sql = 'PR1 ran it:\n\nSQL> select count(*) from pumps;\nSQL> commit;\n\nBoth fine.';
    await accepted(sql, 'Re: db1');
    assert.equal(await sms('PR1'), sql);
    const router = 'PR2 router says:\nR1> show ip route\nR1> ping 10.0.0.1\nOK now.';
    await accepted(router, 'Re: db1');
    assert.equal(await sms('PR2'), router);
    const note = 'PR3 ポンプ\n＞100件のアラーム\n＞確認済み';
    await accepted(note, 'ポンプ4', {});
    assert.equal(await sms('PR3'), note);
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

  test("a writer's note with full-width colons is sent: no From line, no header block", async () => {
    const note = 'CN4 会议记录\n主题：明天的会议\n时间：10点\n地点：三楼';
    await accepted(note, 'Re: 会议');
    assert.equal(await sms('CN4'), note);
  });

  test("the stock lines of Workspace ONE Boxer, Nine, AquaMail and IBM Verse go, and a reply of only one is refused as one of only 'Sent from my iPhone' is", async () => {
    for (const line of [
      'Sent from Workspace ONE Boxer',
      'Sent from VMware Boxer',
      'Sent from Boxer',
      'Sent from Nine',
      'Sent with AquaMail for Android\nhttps://www.mobisystems.com/aqua-mail',
      'Sent from IBM Verse',
    ]) {
      const tag = line.slice(10, 16);
      await accepted(`DV ${tag} pump 4 is fine.\n\n${line}`, 'Pump 4', {});
      assert.equal(await sms(`DV ${tag}`), `DV ${tag} pump 4 is fine.`);
    }
    for (const line of ['Sent from Nine', 'Sent from Workspace ONE Boxer']) {
      const reply = await send(`${line}\n\nOn Mon, 7 Dec 2026 at 05:32, ${SHOWN} <${PHONE_ADDRESS}> wrote:\n${quoted('> ')}`);
      assert.equal(reply?.code, 554, `${line}: ${reply?.text}`);
    }
  });

  test("a line that only starts like an app's is the writer's: a place named Nine, a link under a phone's line", async () => {
    for (const text of ['DV2 pump 4 is fine.\n\nSent from Nine Elms depot', 'DV3 pump 4 is fine.\n\nSent from my iPhone\nhttps://status.example.com/pump4']) {
      await accepted(text, 'Pump 4', {});
      assert.equal(await sms(text.slice(0, 3)), text);
    }
  });

  const contactBlock = 'Alice Smith | Operations Lead\nACME Water Ltd\nT: +44 20 7946 0000 | M: +44 7700 900555\nwww.acmewater.example';
  const ukRegister = 'ACME Water Ltd is registered in England and Wales, company number 01234567. Registered office: 1 Pump Street, London EC1A 1AA.';

  test('a company-register statement at the bottom goes as a disclaimer, and the contact block above it as it would alone (UK, German, Dutch)', async () => {
    for (const [tag, below] of [
      ['RG1', `${contactBlock}\n\n${ukRegister}`],
      ['RG2', ukRegister],
      ['RG3', 'Registered in England and Wales No. 01234567. Registered Office: 1 Pump Street, London EC1A 1AA.'],
      ['RG4', 'ACME Wasser GmbH, Sitz: Berlin, Registergericht: Amtsgericht Charlottenburg, HRB 12345, Geschäftsführer: Max Muster'],
      ['RG5', 'ACME Water B.V., KvK 12345678, statutair gevestigd te Amsterdam.'],
    ] as const) {
      await accepted(`${tag} pump 4 is fine now.\n\n${below}`, 'Pump 4', {});
      assert.equal(await sms(tag), `${tag} pump 4 is fine now.`);
    }
  });

  test("the writer's words about a register stay: a sentence naming one, a statement with text below it, their own", async () => {
    for (const text of [
      'RG6 pump 4 is fine now.\n\nOur supplier is registered in England and Wales, company number 01234567, so invoice them in GBP.',
      'RG7 pump 4 is fine now.\n\nThe registered office moved; the company number 01234567 stays. Tell finance.',
      'RG8 pump 4 is fine now.\n\nHRB 12345 is the Registergericht entry we need.',
      `RG9 pump 4 is fine now.\n\n${ukRegister}\n\nCall me after 5.`,
    ]) {
      await accepted(text, 'Pump 4', {});
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

  test('a two-line signature framed by identical rules (━━━━, ====, ----) goes, in English and Japanese', async () => {
    for (const [tag, rule, block] of [
      ['FR1', '━'.repeat(20), 'Alice Smith | ACME Water\nT: +44 20 7946 0000'],
      ['FR2', '='.repeat(30), 'Alice Smith | ACME Water\nT: +44 20 7946 0000'],
      ['FR3', '-'.repeat(30), 'Alice Smith | ACME Water\nT: +44 20 7946 0000'],
      ['FR4', '━'.repeat(20), '株式会社ACME 運用部 山田 太郎\nTEL: 03-1234-5678'],
    ] as const) {
      await accepted(`${tag} pump 4 is fine now.\n\n${rule}\n${block}\n${rule}`, 'Pump 4', {});
      assert.equal(await sms(tag), `${tag} pump 4 is fine now.`);
    }
  });

  test("the writer's framed lines stay: no contact in them, a sentence, a line announcing them, text below the frame", async () => {
    const rule = '='.repeat(30);
    for (const text of [
      `FR5 pump 4 is fine now.\n\n${rule}\nRestart pump 5 after 10 pm.\nCall +44 20 7946 0000\n${rule}\nThanks`,
      `FR6 pump 4 is fine now.\n\nOn-call tonight:\n${rule}\nBob Smith\n+44 20 7946 0000\n${rule}\nThanks`,
      `FR7 pump 4 is fine now.\n\n${rule}\nBob Smith\n+44 20 7946 0000\n${rule}\n\nCall him after 10 pm.`,
    ]) {
      await accepted(text, 'Pump 4', {});
      assert.equal(await sms(text.slice(0, 3)), text);
    }
  });

  const signature = 'Alice Smith\nOps Lead, ACME Water\n+44 20 7946 0000';

  test('an em or en dash alone under a blank line, a signature and only a device line below it, delimits the signature as "-- " does', async () => {
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

  test("a dash alone in the writer's text stays: between parts, above a list or a sentence, with text below the name", async () => {
    for (const text of [
      'ED5 options:\n\n—\nRestart now\nWait for the morning shift',
      'ED6 pump 4 is fine now.\n\n—\nAnd one more thing',
      'ED7 pump 4 is fine now.\n\n—\nAlice Smith\n+44 20 7946 0000\n\nCall me when pump 5 is back.',
      'ED8 pump 4 is fine now.\n—\nAlice Smith',
    ]) {
      await accepted(text, 'Pump 4', {});
      // GSM-7 has no dash but "-": the SMS writes it so.
      assert.equal(await sms(text.slice(0, 3)), text.replace('—', '-'));
    }
  });
});
