import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { webhookPaths } from '../../src/http/webhooks.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { gatewayYaml, removeDir, type Simulator, startSimulator, startTestRelay, tempDir, type TestRelay, waitFor } from '../helpers/relay.ts';
import { type Reply, SmtpDialog, sendMail } from '../helpers/smtp.ts';
import { SmtpSink, type SunkMail } from '../helpers/smtp-sink.ts';
import { sleep } from '../helpers/wait.ts';

const TOKEN = 'test-webhook-token-0123456789';
const WEBHOOK_PATHS = webhookPaths('intellisoftware');
const LIST = 'ops@lists.example';
const LIST_BOUNCES = 'ops-bounces@lists.example';
/** What a Mailman list adds to each copy it sends its members: its id, its post address, its precedence. */
const LIST_FIELDS = `List-Id: Ops team <ops.lists.example>\r\nList-Post: <mailto:${LIST}>\r\nList-Unsubscribe: <mailto:ops-leave@lists.example>\r\nPrecedence: list\r\n`;
/** The trace a list's copy gathers: the smarthost, the list server, its outgoing MTA. */
const HOPS = ['smarthost.example', 'lists.example', 'out.lists.example']
  .map((host) => `Received: from relay by ${host} with ESMTP; Mon, 7 Dec 2026 11:58:02 +0000\r\n`)
  .join('');

/**
 * Answers to the relay's reply mail over real sockets: what its footer promises is what is sent; and a mailing list
 * that sets Reply-To to itself, to which the reply mail goes and which sends it to every member, the phone's address
 * among them, as Mailman does, while a person answers through the list.
 */
describe("answers to the relay's reply mail", () => {
  let gateway: Simulator;
  let sink: SmtpSink;
  let relay: TestRelay;
  const dir = tempDir();
  const log = captureLog('info');

  before(async () => {
    gateway = await startSimulator({ webhookRetryMs: 100, reportDelayMs: 0 });
    sink = await new SmtpSink().start();
    relay = await startTestRelay(
      {
        ...gatewayYaml(gateway.url),
        sms: { domains: ['sms.example.com'], defaultRegion: 'GB' },
        mail: { url: sink.url, retryMinDelay: '100ms', retryMaxDelay: '300ms' },
        inbound: { defaultMailbox: 'ops@example.com', webhookToken: TOKEN },
      },
      {},
      dir,
      {},
      log.logger,
    );
    const base = `http://127.0.0.1:${relay.relay.httpPort}`;
    gateway.simulator.setWebhooks({ moUrl: `${base}${WEBHOOK_PATHS.mo}?token=${TOKEN}`, drUrl: `${base}${WEBHOOK_PATHS.dr}?token=${TOKEN}` });
  });
  after(async () => {
    await relay.stop();
    await gateway.close();
    await sink.stop();
    removeDir(dir);
  });

  const smsTo = (digits: string) => gateway.simulator.received.filter((sms) => sms.to === digits);
  const nthSmsTo = (digits: string, count: number) => waitFor(`SMS ${count} to ${digits}`, () => smsTo(digits)[count - 1]);
  const mailsTo = (address: string) => sink.received.filter((mail) => mail.to.includes(address));
  const nthMailTo = (address: string, count: number): Promise<SunkMail> => waitFor(`mail ${count} to ${address}`, () => mailsTo(address)[count - 1]);

  /** One mail as raw bytes from envelope sender `from` to the phone; the end of DATA's reply. */
  const deliver = async (from: string, phone: string, raw: string): Promise<Reply | undefined> => {
    const dialog = await SmtpDialog.open(relay.relay.smtpPort);
    try {
      await dialog.command('EHLO lists.example');
      await dialog.command(`MAIL FROM:<${from}>`);
      const rcpt = await dialog.command(`RCPT TO:<${phone}@sms.example.com>`);
      return rcpt.code === 250 ? await dialog.data(raw) : rcpt;
    } finally {
      await dialog.close();
    }
  };

  /** The list's copy of a mail it got: its own fields and trace above the mail's, the mail itself unchanged. */
  const listCopy = (mail: SunkMail, extra = '') => `${HOPS}${extra}${LIST_FIELDS}${mail.raw.replace(/^Return-Path:.*\r?\n/im, '')}`;

  /** A list post to the phone, Reply-To the list; the phone answers; the relay's reply mail to the list. */
  const conversation = async (phone: string) => {
    const post = await sendMail(relay.relay.smtpPort, {
      from: LIST_BOUNCES,
      to: [`${phone}@sms.example.com`],
      subject: '[ops] Server down',
      body: 'db1 is not answering, who can look?',
      headers: {
        From: 'Alice <alice@example.com>',
        'Reply-To': LIST,
        'List-Id': 'Ops team <ops.lists.example>',
        'List-Post': `<mailto:${LIST}>`,
        Precedence: 'list',
      },
    });
    assert.equal(post.data?.code, 250, post.data?.text);
    const sms = await nthSmsTo(phone, 1);
    const mailsBefore = mailsTo(LIST).length;
    gateway.simulator.sendMo({ from: phone, text: 'I can, 10 min', usercontext: sms.userContext });
    const reply = await nthMailTo(LIST, mailsBefore + 1);
    return { sms, reply, parsed: await simpleParser(reply.raw) };
  };

  test("the reply mail's footer says what is sent: the writer's text, below the quote too, without the quoted mail and the signature", async () => {
    const phone = '447700900360';
    const alice = 'alice@example.com';
    const first = await sendMail(relay.relay.smtpPort, {
      to: [`${phone}@sms.example.com`],
      subject: 'Server down',
      body: 'db1 is not answering',
      headers: { From: alice },
    });
    assert.equal(first.data?.code, 250, first.data?.text);
    const sms = await nthSmsTo(phone, 1);
    gateway.simulator.sendMo({ from: phone, text: 'On it, rebooting now', usercontext: sms.userContext });
    const reply = await simpleParser((await nthMailTo(alice, 1)).raw);
    const body = reply.text ?? '';
    assert.equal(body.trimEnd().split('\n').at(-1), 'Reply to this mail to answer by SMS: your text is sent, without the quoted mail and your signature.');
    // Alice answers on top and, below the quote, adds a note for a colleague on cc: both are her text, and both are sent.
    const quote = body
      .trimEnd()
      .split('\n')
      .map((line) => `> ${line}`)
      .join('\n');
    const answer = `On my way, 20 min.\n\nOn Mon, 7 Dec 2026 at 11:22, +44 7700 900360 <${phone}@sms.example.com> wrote:\n${quote}\n\nBob (cc): bill this call-out to ACME, not to us.\n\n-- \nAlice Smith\nOps Lead`;
    const { data } = await sendMail(relay.relay.smtpPort, {
      to: [`${phone}@sms.example.com`],
      subject: reply.subject ?? '',
      body: answer,
      headers: { From: alice, 'In-Reply-To': reply.messageId ?? '' },
    });
    assert.equal(data?.code, 250, data?.text);
    assert.equal((await nthSmsTo(phone, 2)).text, 'On my way, 20 min.\n\nBob (cc): bill this call-out to ACME, not to us.');
  });

  const returnedCount = async () => {
    const metrics = await (await fetch(`http://127.0.0.1:${relay.relay.httpPort}/metrics`)).text();
    return Number(/^smsrelay_mails_sent_total\{kind="reply",result="returned"\} (\d+)$/m.exec(metrics)?.[1] ?? 0);
  };

  test("the relay's own reply mail, come back as a list's copy, is taken with 250 and never texted: the list is never bounced, and no loop forms", async () => {
    const phone = '447700900361';
    const other = '447700900364';
    const counted = await returnedCount();
    const { reply, parsed } = await conversation(phone);
    // The list sends its copy to every member, the phone among them, from its own bounce address; and again on each
    // copy it gets (a list that also receives its own posts): each time it is taken, and nothing goes out.
    for (let round = 1; round <= 3; round += 1) {
      const back = await deliver(LIST_BOUNCES, phone, listCopy(reply));
      assert.equal(back?.code, 250, back?.text);
      assert.match(
        back?.text ?? '',
        /^2\.6\.0 Ok: taken as [0-9a-f-]{36}, not sent as SMS \(a phone's answer, the relay's own reply mail \(X-SMSRelay-Loop\), come back through a mailing list: dropped, as a list's member drops its own post\)$/,
      );
    }
    // Another phone on this relay subscribed to the list gets the same copy: dropped too (texted, two phones' auto-replies
    // would answer each other through the list), so phones on one relay never get each other's answers through it.
    assert.equal((await deliver(LIST_BOUNCES, other, listCopy(reply)))?.code, 250);
    // The drop's one trace: its log line names the mail, the list and the (masked) phone; the metric counts it.
    const dropped = log.lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => String(line.msg).startsWith("smtp: the relay's own reply mail came back"));
    const last = dropped.at(-1);
    assert.equal(last?.messageId, parsed.messageId);
    assert.equal(last?.list, 'Ops team <ops.lists.example>');
    assert.match(JSON.stringify(last?.to), /@sms\.example\.com/);
    assert.ok(!JSON.stringify(last).includes(other), 'the number masked');
    // A list that writes List-Post alone, or `Precedence: bulk`, is a list all the same.
    const postOnly = `${HOPS}List-Post: <mailto:${LIST}>\r\nPrecedence: bulk\r\n${reply.raw}`;
    assert.equal((await deliver(LIST_BOUNCES, phone, postOnly))?.code, 250);
    // Relays sharing one PostgreSQL database write their own names: the store, which knows the reply mail, decides.
    const byAnotherRelay = listCopy(reply).replace(/^X-SMSRelay-Loop:.*$/im, 'X-SMSRelay-Loop: relay-b.example.com');
    assert.equal((await deliver(LIST_BOUNCES, phone, byAnotherRelay))?.code, 250, 'a reply mail another relay of the store wrote');
    // A folded Message-ID (its value on the next line) is the same Message-ID.
    const folded = listCopy(reply).replace(/^Message-ID:[ \t]*/im, 'Message-ID:\r\n ');
    assert.notEqual(folded, listCopy(reply));
    assert.equal((await deliver(LIST_BOUNCES, phone, folded))?.code, 250, 'a folded Message-ID');
    await sleep(500);
    assert.equal(smsTo(phone).length, 1, 'the phone got the list post only, never its own answer');
    assert.equal(mailsTo(LIST).length, 1, 'one reply mail to the list, none drawn by its copies');
    assert.equal(mailsTo(LIST_BOUNCES).length, 0, 'the list is sent no bounce');
    assert.equal(smsTo(other).length, 0, "the other phone never got phone 1's answer");
    assert.equal((await returnedCount()) - counted, 7, 'each drop counted');
  });

  test("the relay's own mail come back any other way cannot be told from a loop: refused, so its bounce reaches the reply mail's return path", async () => {
    const phone = '447700900362';
    const { reply } = await conversation(phone);
    const loop = (reason: string) => `5.7.1 Not sent as SMS: it carries X-SMSRelay-Loop: it is the relay's own mail, and ${reason}`;
    const cases: Array<[string, string, string, string]> = [
      ['straight back, from its own return path', reply.from, reply.raw, loop("its envelope sender is the relay's own: it came straight back")],
      ["through a list, but from the relay's return path", reply.from, listCopy(reply), loop("its envelope sender is the relay's own: it came straight back")],
      [
        'through a forwarder (its own envelope sender, no list field)',
        'srs0=abcd=ef=sms.example.com=bounces@forward.example',
        `${HOPS}${reply.raw}`,
        loop('it came back through no mailing list (no List-Id or List-Post): a forward or alias sends it back'),
      ],
      [
        'through a list, with the loop header twice',
        LIST_BOUNCES,
        listCopy(reply, 'X-SMSRelay-Loop: other.example\r\n'),
        loop('it carries it 2 times, so it went round more than once'),
      ],
      ['through a list, over 30 hops', LIST_BOUNCES, listCopy(reply, HOPS.repeat(10)), loop('it has 33 Received: lines, more than 30: it is going round')],
      // A person redirecting (Thunderbird's Redirect, mutt's bounce) the list's copy to a phone: told why, not dropped.
      [
        'a list copy redirected by a person',
        'alice@example.com',
        `Resent-From: alice@example.com\r\nResent-To: 447700900365@sms.example.com\r\nResent-Date: Mon, 7 Dec 2026 12:00:00 +0000\r\n${listCopy(reply)}`,
        loop('someone redirected it (Resent-* fields): a reply mail is answered, not redirected, to be texted'),
      ],
      [
        "another relay's mail through a list",
        LIST_BOUNCES,
        listCopy(reply)
          .replace(/^X-SMSRelay-Loop:.*$/im, 'X-SMSRelay-Loop: relay.other.example')
          .replace(/^Message-ID:.*$/im, 'Message-ID: <reply-1@relay.other.example>'),
        loop("another relay wrote it (X-SMSRelay-Loop: relay.other.example), and its Message-ID is none of this relay's reply mails"),
      ],
      [
        "a mail carrying the header and a list's, that is none of the relay's reply mails",
        LIST_BOUNCES,
        `${HOPS}${LIST_FIELDS}X-SMSRelay-Loop: ${relay.config.smtp.hostname}\r\nMessage-ID: <stored-elsewhere@app.example>\r\nFrom: app@example.com\r\nSubject: Pump 4\r\n\r\nPump 4 is down, call me.\r\n`,
        loop("its Message-ID <stored-elsewhere@app.example> is none of the relay's reply mails"),
      ],
    ];
    for (const [name, from, raw, refusal] of cases) {
      const back = await deliver(from, phone, raw);
      assert.equal(back?.code, 550, `${name}: ${back?.text}`);
      assert.equal(back?.text, refusal, name);
    }
    await sleep(300);
    assert.equal(smsTo(phone).length, 1, 'none of them texted');
    assert.equal(mailsTo(LIST).length, 2, 'no reply mail drawn');
  });

  test("a person's post through the list answering the conversation is texted; an automatic one is not", async () => {
    const phone = '447700900363';
    const { sms, parsed } = await conversation(phone);
    const messageId = parsed.messageId ?? '';
    const answer = (subject: string, headers: Record<string, string>, body: string) =>
      sendMail(relay.relay.smtpPort, {
        from: LIST_BOUNCES,
        to: [`${phone}@sms.example.com`],
        subject,
        body,
        headers: { From: 'Bob Jones <bob@example.com>', 'In-Reply-To': messageId, References: messageId, 'Reply-To': LIST, ...headers },
      });
    const listed = { 'List-Id': 'Ops team <ops.lists.example>', 'List-Post': `<mailto:${LIST}>` };
    const subject = `Re: [ops] Re: Server down [UserContext: ${sms.userContext}]`;
    // A person wrote them: the Precedence is the list's (Mailman's `list`; ezmlm's `bulk`, which replaces the writer's),
    // and so is SmartList's X-Loop; `list` alone marks nothing.
    const ezmlm = { 'Mailing-List': 'contact ops-help@lists.example; run by ezmlm', 'List-Post': `<mailto:${LIST}>` };
    const persons: Array<[Record<string, string>, string]> = [
      [{ ...listed, Precedence: 'list' }, 'Thanks! Check the RAID too.'],
      [{ ...ezmlm, Precedence: 'bulk' }, 'The RAID is fine, it was the switch.'],
      [{ Precedence: 'list' }, 'Switch replaced.'],
      [{ ...listed, Precedence: 'list', 'X-Loop': LIST }, 'Closing the ticket.'],
    ];
    for (const [index, [headers, text]] of persons.entries()) {
      const { data } = await answer(subject, headers, `${text}\n\nOn Mon, 7 Dec 2026, +44 7700 900363 wrote:\n> I can, 10 min`);
      assert.equal(data?.code, 250, `${JSON.stringify(headers)}: ${data?.text}`);
      assert.match(data?.text ?? '', /^2\.6\.0 Ok: queued as /);
      assert.equal((await nthSmsTo(phone, index + 2)).text, text);
    }
    // Automatic answers keep their own marks through the list, and are refused; so is `Precedence: bulk` on a mail no list sent.
    const machines: Array<[string, Record<string, string>, string]> = [
      [subject, { ...listed, Precedence: 'list', 'Auto-Submitted': 'auto-replied' }, 'it is an auto-reply (Auto-Submitted: auto-replied)'],
      [
        subject,
        { ...listed, Precedence: 'list', 'Auto-Submitted': 'auto-generated' },
        "it is an automatic answer to the relay's reply mail, not a person's (Auto-Submitted: auto-generated)",
      ],
      [
        `Automatic reply: ${subject}`,
        { ...listed, Precedence: 'list' },
        "it is an automatic answer to the relay's reply mail, not a person's (its subject says so)",
      ],
      [subject, { Precedence: 'bulk' }, "it is an automatic answer to the relay's reply mail, not a person's (Precedence: bulk)"],
      // An autoresponder through a list (procmail's formail -rt answers the Reply-To, the list; vacation; a ticket
      // system's receipt): Mailman keeps the Precedence its writer wrote, so in its copy `junk` and `bulk` are a machine's.
      [
        subject,
        { ...listed, 'X-Loop': 'carol@example.com', Precedence: 'junk (autoreply)' },
        "it is an automatic answer to the relay's reply mail, not a person's (Precedence: junk (autoreply))",
      ],
      [
        `Request received: ${subject}`,
        { ...listed, Precedence: 'bulk' },
        "it is an automatic answer to the relay's reply mail, not a person's (Precedence: bulk)",
      ],
      [subject, { ...ezmlm, Precedence: 'junk' }, "it is an automatic answer to the relay's reply mail, not a person's (Precedence: junk)"],
      // procmail's own loop mark, in a mail no list sent.
      [subject, { 'X-Loop': 'carol@example.com' }, "it is an automatic answer to the relay's reply mail, not a person's (X-Loop: carol@example.com)"],
    ];
    for (const [title, headers, reason] of machines) {
      const { data } = await answer(title, headers, 'I am out of the office until Monday.');
      assert.equal(data?.code, 550, `${JSON.stringify(headers)}: ${data?.text}`);
      assert.equal(data?.text, `5.7.1 Not sent as SMS: ${reason}`);
    }
    await sleep(300);
    assert.equal(smsTo(phone).length, 1 + persons.length);
  });
});
