import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { simpleParser } from 'mailparser';
import nodemailer from 'nodemailer';
import { history, rerouteUndeliverable, status } from '../../src/admin.ts';
import { webhookPaths } from '../../src/http/webhooks.ts';
import { EMPTY_SMS_NOTE, ERASED_SMS_NOTE } from '../../src/replies/reply-mail.ts';
import { ReplyNotes } from '../../src/replies/reply-notes.ts';
import { REPLY_BOUNCE_WINDOW_MS } from '../../src/store/rows.ts';
import { RELAY_KEYWORDS } from '../../src/vocabulary.ts';
import { STORE_FILE } from '../../src/relay.ts';
import { assertNeverLogged, captureLog } from '../helpers/log-lines.ts';
import { gatewayYaml, removeDir, type Simulator, startSimulator, startTestRelay, tempDir, type TestRelay, waitFor } from '../helpers/relay.ts';
import { queuedId, SmtpDialog, sendMail } from '../helpers/smtp.ts';
import { SmtpSink, type SunkMail } from '../helpers/smtp-sink.ts';
import { sleep } from '../helpers/wait.ts';

const TOKEN = 'test-webhook-token-0123456789';
const WEBHOOK_PATHS = webhookPaths('intellisoftware');
const UNDELIVERABLE = '447700900666';

/**
 * SMS → email over real sockets: mail in over SMTP, the simulated gateway posting replies and
 * delivery reports to the relay's webhooks, the relay's mail out to a real SMTP server.
 */
describe('replies and delivery reports', () => {
  let gateway: Simulator;
  let sink: SmtpSink;
  let relay: TestRelay;
  const dir = tempDir();

  const yaml = () => ({
    ...gatewayYaml(gateway.url),
    sms: { domains: ['sms.example.com'], defaultRegion: 'GB' },
    mail: { url: sink.url, retryMinDelay: '100ms', retryMaxDelay: '300ms' },
    inbound: { defaultMailbox: 'ops@example.com', webhookToken: TOKEN },
  });
  /** The running relay's warnings and errors. */
  let warned: string[] = [];
  const start = async () => {
    const { logger, lines } = captureLog('warn');
    relay = await startTestRelay(yaml(), {}, dir, {}, logger);
    warned = lines;
    const base = `http://127.0.0.1:${relay.relay.httpPort}`;
    gateway.simulator.setWebhooks({ moUrl: `${base}${WEBHOOK_PATHS.mo}?token=${TOKEN}`, drUrl: `${base}${WEBHOOK_PATHS.dr}?token=${TOKEN}` });
  };

  before(async () => {
    gateway = await startSimulator({ undeliverableNumbers: [UNDELIVERABLE], webhookRetryMs: 100, reportDelayMs: 0 });
    sink = await new SmtpSink().start();
    await start();
  });
  after(async () => {
    await relay.stop();
    await gateway.close();
    await sink.stop();
    removeDir(dir);
  });

  const smtpPort = () => relay.relay.smtpPort;
  const smsTo = (digits: string, count = 1) =>
    waitFor(`SMS ${count} to ${digits}`, () => {
      const found = gateway.simulator.received.filter((sms) => sms.to === digits);
      return found.length >= count && found[count - 1];
    });
  const mailsTo = (address: string) => sink.received.filter((mail) => mail.to.includes(address));
  const mailTo = async (address: string, count = 1): Promise<SunkMail> =>
    waitFor(`mail ${count} to ${address}`, () => mailsTo(address).length >= count && mailsTo(address)[count - 1]);
  const postForm = (path: string, form: Record<string, string>, auth = `?token=${TOKEN}`, headers: Record<string, string> = {}) =>
    fetch(`http://127.0.0.1:${relay.relay.httpPort}${path}${auth}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(form).toString(),
    });
  /** A UPS talking SMTP itself to `phone` as `ups`: no Message-ID (the helper's message() always writes one). */
  const writeWithoutMessageId = async (phone: string, ups = 'ups@example.com') => {
    const dialog = await SmtpDialog.open(smtpPort());
    try {
      await dialog.command('EHLO ups.example.com');
      await dialog.command(`MAIL FROM:<${ups}>`);
      await dialog.command(`RCPT TO:<${phone}@sms.example.com>`);
      const data = await dialog.data(`From: ${ups}\r\nTo: ${phone}@sms.example.com\r\nSubject: UPS on battery\r\n\r\nUPS 2 on battery, 40 min left\r\n`);
      assert.equal(data.code, 250, data.text);
    } finally {
      await dialog.close();
    }
  };
  const write = async (from: string, to: string, subject: string, body: string, headers: Record<string, string> = {}) => {
    const { data } = await sendMail(smtpPort(), { from, to: [`${to}@sms.example.com`], subject, body, headers: { From: from, ...headers } });
    assert.equal(data?.code, 250, data?.text);
    return queuedId(data);
  };

  test("the Alice loop: her mail, the phone's reply in her mailbox, threaded, and her answer back on the phone", async () => {
    await write('alice@example.com', '447700900123', 'Server down', 'db1 is not answering', { 'Message-ID': '<alice-1@example.com>' });
    const sms = await smsTo('447700900123');
    assert.ok(sms.userContext, 'every SMS carries a user context');

    gateway.simulator.sendMo({ from: '447700900123', text: 'On it', usercontext: sms.userContext });
    const reply = await simpleParser((await mailTo('alice@example.com')).raw);
    assert.equal(reply.from?.value[0]?.address, '447700900123@sms.example.com');
    assert.equal(reply.from?.value[0]?.name, '+44 7700 900123');
    assert.equal(reply.subject, `Re: Server down [UserContext: ${sms.userContext}]`);
    assert.equal(reply.inReplyTo, '<alice-1@example.com>');
    assert.match(reply.text ?? '', /^On it\n/);
    assert.equal(reply.headers.get('auto-submitted'), undefined, "a person's message, not an automatic one");

    // Alice hits Reply: her client quotes the SMS and adds her signature.
    const answer = `Thanks, restarting now\r\n\r\nOn Mon, 23 Nov 2026 at 09:20, +44 7700 900123 <447700900123@sms.example.com> wrote:\r\n> On it\r\n>\r\n\r\n-- \r\nAlice\r\nOps team\r\n`;
    await write('alice@example.com', '447700900123', reply.subject ?? '', answer, { 'In-Reply-To': reply.messageId ?? '' });
    const second = await smsTo('447700900123', 2);
    assert.equal(second.text, 'Thanks, restarting now');
    assert.equal(second.userContext, sms.userContext);
  });

  test("each reply mail answers the writer's latest mail of the conversation, so the thread chains over many turns", async () => {
    await write('ivan@example.com', '447700900161', 'Chiller alarm', 'Chiller 2 high temperature', { 'Message-ID': '<ivan-0@example.com>' });
    const sms = await smsTo('447700900161');
    let latest = '<ivan-0@example.com>';
    for (let turn = 1; turn <= 4; turn += 1) {
      gateway.simulator.sendMo({ from: '447700900161', text: `answer ${turn}`, usercontext: sms.userContext });
      const reply = await simpleParser((await mailTo('ivan@example.com', turn)).raw);
      assert.match(reply.text ?? '', new RegExp(`^answer ${turn}\\n`));
      // In-Reply-To: the mail the phone answers; References: the conversation's first mail, then that one.
      assert.equal(reply.inReplyTo, latest, `turn ${turn}`);
      assert.deepEqual([reply.references].flat(), turn === 1 ? [latest] : ['<ivan-0@example.com>', latest], `turn ${turn}`);
      latest = `<ivan-${turn}@example.com>`;
      await write('ivan@example.com', '447700900161', reply.subject ?? '', `go on ${turn}`, {
        'Message-ID': latest,
        'In-Reply-To': reply.messageId ?? '',
        References: `${[reply.references].flat().join(' ')} ${reply.messageId}`,
      });
      assert.equal((await smsTo('447700900161', turn + 1)).text, `go on ${turn}`);
    }
  });

  test("a conversation whose mail had no Message-ID chains the phone's turns under the relay's own first reply mail", async () => {
    const phone = '447700900742';
    await writeWithoutMessageId(phone);
    const sms = await smsTo(phone);
    const ids: string[] = [];
    for (let turn = 1; turn <= 3; turn += 1) {
      gateway.simulator.sendMo({ from: phone, text: `answer ${turn}`, usercontext: sms.userContext });
      const reply = await simpleParser((await mailTo('ups@example.com', turn)).raw);
      assert.match(reply.text ?? '', new RegExp(`^answer ${turn}\\n`));
      // The first has nothing to answer; each later one answers the one before it, References rooted at the first.
      assert.equal(reply.inReplyTo, ids.at(-1), `turn ${turn}`);
      assert.deepEqual(
        reply.references === undefined ? [] : [reply.references].flat(),
        ids.length === 0 ? [] : [...new Set([ids[0], ids.at(-1)])],
        `turn ${turn}`,
      );
      ids.push(reply.messageId ?? '');
    }
  });

  test("a conversation without a writer's Message-ID whose earlier reply mail's stored raw is damaged: the phone's next turn is mailed unthreaded, its route never failing", async () => {
    const phone = '447700900743';
    await writeWithoutMessageId(phone, 'ups2@example.com');
    const sms = await smsTo(phone);
    gateway.simulator.sendMo({ from: phone, text: 'first turn', usercontext: sms.userContext });
    await mailTo('ups2@example.com', 1);
    // The stored copy of that reply mail damaged: a header section past what the relay reads (parseMail refuses it).
    const db = new BetterSqlite3(join(relay.config.dataDir, STORE_FILE));
    try {
      db.pragma('busy_timeout = 5000');
      const damaged = db
        .prepare("UPDATE mail_out SET raw = ? WHERE kind = 'reply' AND message_id IN (SELECT id FROM inbound WHERE number IN (?, ?))")
        .run(Buffer.from(`X-Damaged: ${'x'.repeat(2 * 1024 * 1024)}\r\n\r\nbody\r\n`), phone, `+${phone}`).changes;
      assert.equal(damaged, 1, 'the first reply mail is stored');
    } finally {
      db.close();
    }
    gateway.simulator.sendMo({ from: phone, text: 'second turn', usercontext: sms.userContext });
    const reply = await simpleParser((await mailTo('ups2@example.com', 2)).raw);
    assert.match(reply.text ?? '', /^second turn\n/);
    assert.equal(reply.inReplyTo, undefined, 'nothing to thread it under');
    const said = warned.map((line) => JSON.parse(line) as { level: string; msg: string }).find((line) => /unthreaded/.test(line.msg));
    assert.deepEqual(
      [said?.level, said?.msg],
      ['warn', "replies: a reply mail goes unthreaded: its earlier reply mail's stored copy is damaged (MESSAGE_TOO_BIG)"],
    );
    assertNeverLogged(warned, { 'the number': phone, 'the damaged copy': 'X-Damaged' });
  });

  test('the context alone finds the conversation: a reply mail that only names the thread continues it', async () => {
    await write('carol@example.com', '447700900124', 'Pump', 'Pump 3 stopped', { 'Message-ID': '<carol-1@example.com>' });
    const first = await smsTo('447700900124');
    gateway.simulator.sendMo({ from: '447700900124', text: 'Seen', usercontext: first.userContext });
    const reply = await simpleParser((await mailTo('carol@example.com')).raw);
    await write('carol@example.com', '447700900124', 'Re: Pump', 'Thanks', { 'In-Reply-To': reply.messageId ?? '' });
    assert.equal((await smsTo('447700900124', 2)).userContext, first.userContext);
  });

  test('two mailboxes texting one phone each get their own replies, also when the older context answers last', async () => {
    await write('alice@example.com', '447700900125', 'Backup failed', 'Backup failed on db2');
    const alice = await smsTo('447700900125');
    await write('bob@example.com', '447700900125', 'Disk full', 'Disk full on web1');
    const bob = await smsTo('447700900125', 2);
    assert.notEqual(alice.userContext, bob.userContext);

    gateway.simulator.sendMo({ from: '447700900125', text: 'Bob: cleaning up', usercontext: bob.userContext });
    const toBob = await simpleParser((await mailTo('bob@example.com')).raw);
    assert.match(toBob.text ?? '', /^Bob: cleaning up/);
    // Alice's older context answers after Bob's newer one.
    gateway.simulator.sendMo({ from: '447700900125', text: 'Alice: rerunning backup', usercontext: alice.userContext });
    await waitFor("Alice's reply", () => mailsTo('alice@example.com').some((mail) => mail.raw.includes('rerunning backup')));
    assert.ok(!mailsTo('bob@example.com').some((mail) => mail.raw.includes('rerunning backup')));

    // No context, or one the relay never gave out: the conversation with the number active most
    // recently, Alice's (the phone answered her last).
    gateway.simulator.sendMo({ from: '447700900125', text: 'no context here' });
    gateway.simulator.sendMo({ from: '447700900125', text: 'unknown context here', usercontext: 'nosuchctx' });
    await waitFor('both to Alice', () => mailsTo('alice@example.com').filter((mail) => /(no|unknown) context here/.test(mail.raw)).length === 2);
    assert.ok(!mailsTo('bob@example.com').some((mail) => /(no|unknown) context here/.test(mail.raw)));
  });

  test("a mail from another mailbox naming a conversation's context, in any form, is sent under a new context: the conversation stays", async () => {
    const forms: Record<string, (context: string) => { subject: string; body: string; headers?: Record<string, string> }> = {
      'X-UserContext header': (context) => ({ subject: 'hi', body: 'Hello from mallory', headers: { 'X-UserContext': context } }),
      'UserContext header': (context) => ({ subject: 'hi', body: 'Hello from mallory', headers: { UserContext: context } }),
      'subject parameter': (context) => ({ subject: `UserContext:${context}`, body: 'Hello from mallory' }),
      'reply tag': (context) => ({ subject: `Re: Bob topic [UserContext: ${context}]`, body: 'Hello from mallory' }),
      'first body line': (context) => ({ subject: 'hi', body: `UserContext: ${context}\r\nHello from mallory` }),
    };
    let phone = 447700900150;
    for (const [form, mallory] of Object.entries(forms)) {
      const digits = String(phone++);
      await write('bob@example.com', digits, 'Bob topic', 'reply to bob');
      const bob = await smsTo(digits);
      const { subject, body, headers } = mallory(bob.userContext ?? '');
      const { data } = await sendMail(smtpPort(), {
        from: 'mallory@example.com',
        to: [`${digits}@sms.example.com`],
        subject,
        body,
        headers: { From: 'mallory@example.com', ...headers },
      });
      assert.equal(data?.code, 250, data?.text);
      const sent = await smsTo(digits, 2);
      assert.equal(sent.text, 'Hello from mallory', form);
      assert.notEqual(sent.userContext, bob.userContext, form);
      assert.match(
        data?.text ?? '',
        new RegExp(`UserContext ${bob.userContext} is another mailbox's conversation with this number: sent under its own context ${sent.userContext}`),
        form,
      );
      gateway.simulator.sendMo({ from: digits, text: `phone answers Bob (${form})`, usercontext: bob.userContext });
      gateway.simulator.sendMo({ from: digits, text: `phone answers Mallory (${form})`, usercontext: sent.userContext });
      await waitFor(`both answers (${form})`, () => sink.received.filter((mail) => mail.raw.includes(`(${form})`)).length === 2);
      assert.ok(
        mailsTo('bob@example.com').some((mail) => mail.raw.includes(`phone answers Bob (${form})`)),
        form,
      );
      assert.ok(
        mailsTo('mallory@example.com').some((mail) => mail.raw.includes(`phone answers Mallory (${form})`)),
        form,
      );
    }
  });

  test("a mail to several numbers answering its writer's thread takes another mailbox's conversation under that context for none of them: it gets a new context", async () => {
    const [bobs, mallorys] = ['447700900720', '447700900721'];
    await write('bob@example.com', bobs, 'Pump alarm', 'Pump 1 tripped', { 'Message-ID': '<bob-720@example.com>' });
    const bob = (await smsTo(bobs)).userContext ?? '';
    // Mallory's own conversation under Bob's context, with a number no one wrote to: hers to take.
    await write('mallory@evil.example', mallorys, 'hi', 'hello', { 'X-UserContext': bob, 'Message-ID': '<m1@evil.example>' });
    assert.equal((await smsTo(mallorys)).userContext, bob);
    const thread = { 'In-Reply-To': '<m1@evil.example>', References: '<m1@evil.example>' };
    // Her answer to her own thread, with the tag or by the thread alone, lists Bob's number too.
    for (const [turn, subject] of [
      [2, `Re: hi [UserContext: ${bob}]`],
      [3, 'Re: hi'],
    ] as const) {
      const messageId = `<m${turn}@evil.example>`;
      const { data } = await sendMail(smtpPort(), {
        from: 'mallory@evil.example',
        to: [`${mallorys}@sms.example.com`, `${bobs}@sms.example.com`],
        subject,
        body: `This is Bob: leave the gate open (${turn})`,
        headers: { From: 'mallory@evil.example', 'Message-ID': messageId, ...thread },
      });
      assert.equal(data?.code, 250, data?.text);
      const [toBob, toMallory] = [await smsTo(bobs, turn), await smsTo(mallorys, turn)];
      assert.notEqual(toBob.userContext, bob, subject);
      assert.equal(toMallory.userContext, toBob.userContext, subject);
      // The note names the context only where the mail named it, as a mail to Bob's number alone.
      const note = `UserContext ${bob} is another mailbox's conversation with 1 of its numbers: sent under its own context ${toBob.userContext}`;
      assert.equal(data?.text.includes(note), turn === 2, data?.text);
      gateway.simulator.sendMo({ from: bobs, text: `answer to Bob (${turn})`, usercontext: bob });
      gateway.simulator.sendMo({ from: bobs, text: `answer to Mallory (${turn})`, usercontext: toBob.userContext });
      const toBobs = await simpleParser(
        (await waitFor("Bob's answer", () => mailsTo('bob@example.com').find((mail) => mail.raw.includes(`answer to Bob (${turn})`)))).raw,
      );
      assert.equal(toBobs.inReplyTo, '<bob-720@example.com>', "Bob's reply mail is threaded under his mail, not Mallory's");
      assert.deepEqual([toBobs.references].flat(), ['<bob-720@example.com>']);
      const toMallorys = await simpleParser(
        (await waitFor("Mallory's answer", () => mailsTo('mallory@evil.example').find((mail) => mail.raw.includes(`answer to Mallory (${turn})`)))).raw,
      );
      assert.equal(toMallorys.inReplyTo, messageId);
    }
    assert.ok(!mailsTo('mallory@evil.example').some((mail) => mail.raw.includes('answer to Bob')));
  });

  test("a colleague's reply naming a conversation of its thread continues it, though the mail it answers is of another", async () => {
    const bobs = '447700900724';
    await write('bob@example.com', bobs, 'Pump 7', 'Pump 7 is down', { 'X-UserContext': 'pump7-job', 'Message-ID': '<bob-724a@example.com>' });
    assert.equal((await smsTo(bobs)).userContext, 'pump7-job');
    // Bob's follow-up in the same thread opens the parts order's own conversation with the phone.
    await write('bob@example.com', bobs, 'Re: Pump 7', 'Order the seal kit', {
      'X-UserContext': 'pump7-parts',
      'Message-ID': '<bob-724b@example.com>',
      'In-Reply-To': '<bob-724a@example.com>',
      References: '<bob-724a@example.com>',
    });
    assert.equal((await smsTo(bobs, 2)).userContext, 'pump7-parts');
    // Carol answers the follow-up about the job: her thread holds the job's mail to that phone, further back.
    const { data } = await sendMail(smtpPort(), {
      from: 'carol@example.com',
      to: [`${bobs}@sms.example.com`],
      subject: 'Re: Pump 7 [UserContext: pump7-job]',
      body: 'Take the spare pump from store 2',
      headers: {
        From: 'carol@example.com',
        'Message-ID': '<carol-724@example.com>',
        'In-Reply-To': '<bob-724b@example.com>',
        References: '<bob-724a@example.com> <bob-724b@example.com>',
      },
    });
    assert.equal(data?.code, 250, data?.text);
    assert.equal((await smsTo(bobs, 3)).userContext, 'pump7-job', data?.text);
    assert.doesNotMatch(data?.text ?? '', /another mailbox's conversation/);
  });

  test("a reply-all adding a number that another mailbox texts under the same context gets a new context: the phone's answers stay that mailbox's", async () => {
    const [alices, bobs] = ['447700900722', '447700900723'];
    await write('alice@example.com', alices, 'Job 99', 'Crew on site?', { 'X-UserContext': 'job99-722', 'Message-ID': '<alice-722@example.com>' });
    await write('bob@example.com', bobs, 'Job 99', 'Parts ordered?', { 'X-UserContext': 'job99-722', 'Message-ID': '<bob-723@example.com>' });
    await smsTo(bobs);
    gateway.simulator.sendMo({ from: alices, text: 'Crew arrived', usercontext: 'job99-722' });
    const reply = await simpleParser(
      (await waitFor("Alice's reply mail", () => mailsTo('alice@example.com').find((mail) => mail.raw.includes('Crew arrived')))).raw,
    );
    const { data } = await sendMail(smtpPort(), {
      from: 'alice@example.com',
      to: [`${alices}@sms.example.com`, `${bobs}@sms.example.com`],
      subject: reply.subject ?? '',
      body: 'Both of you: start at gate 4',
      headers: {
        From: 'alice@example.com',
        'Message-ID': '<alice-722b@example.com>',
        'In-Reply-To': reply.messageId ?? '',
        References: `<alice-722@example.com> ${reply.messageId}`,
      },
    });
    assert.equal(data?.code, 250, data?.text);
    const toBob = await smsTo(bobs, 2);
    assert.notEqual(toBob.userContext, 'job99-722');
    assert.match(
      data?.text ?? '',
      new RegExp(`UserContext job99-722 is another mailbox's conversation with 1 of its numbers: sent under its own context ${toBob.userContext}`),
    );
    gateway.simulator.sendMo({ from: bobs, text: 'Parts arrive Monday', usercontext: 'job99-722' });
    const toBobs = await simpleParser(
      (await waitFor("Bob's answer", () => mailsTo('bob@example.com').find((mail) => mail.raw.includes('Parts arrive Monday')))).raw,
    );
    assert.equal(toBobs.inReplyTo, '<bob-723@example.com>');
    gateway.simulator.sendMo({ from: bobs, text: 'Gate 4 it is', usercontext: toBob.userContext });
    const toAlices = await simpleParser(
      (await waitFor("Alice's answer", () => mailsTo('alice@example.com').find((mail) => mail.raw.includes('Gate 4 it is')))).raw,
    );
    assert.equal(toAlices.inReplyTo, '<alice-722b@example.com>');
    assert.ok(!mailsTo('alice@example.com').some((mail) => mail.raw.includes('Parts arrive Monday')));
  });

  test('a Reply-To naming several addresses: the phone answers the first, and the 250 says so', async () => {
    const { data } = await sendMail(smtpPort(), {
      from: 'erin@example.com',
      to: ['447700900160@sms.example.com'],
      subject: 'Two teams',
      body: 'Who is on call?',
      headers: { From: 'erin@example.com', 'Reply-To': 'team-a@example.com, team-b@example.com' },
    });
    assert.equal(data?.code, 250, data?.text);
    assert.match(data?.text ?? '', /the Reply-To names 2 addresses: replies from the phone go to the first, team-a@example\.com, only/);
    const sms = await smsTo('447700900160');
    gateway.simulator.sendMo({ from: '447700900160', text: 'Team A has it', usercontext: sms.userContext });
    assert.deepEqual((await mailTo('team-a@example.com')).to, ['team-a@example.com']);
  });

  test("a subject's relay parameters: the reply mail's subject is the writer's words, and a reply to it applies none again", async () => {
    await write('paula@example.com', '447700900164', 'Pump alarm 2 UserContext:T98 MaxParts:2', 'Pump 2 tripped');
    assert.equal((await smsTo('447700900164')).maxconcat, 2);
    gateway.simulator.sendMo({ from: '447700900164', text: 'Resetting it', usercontext: 'T98' });
    const reply = await simpleParser((await mailTo('paula@example.com')).raw);
    assert.equal(reply.subject, 'Re: Pump alarm 2 [UserContext: T98]');
    await write('paula@example.com', '447700900164', reply.subject ?? '', 'Thanks', { 'In-Reply-To': reply.messageId ?? '' });
    const answer = await smsTo('447700900164', 2);
    assert.deepEqual([answer.text, answer.userContext, answer.maxconcat > 2], ['Thanks', 'T98', true]);
  });

  test('a Reply-To written as a group: its members are its addresses, the phone answers the first readable one', async () => {
    const groups = [
      { digits: '447700900162', replyTo: 'Team: "not read" <dave at example.com>, team-c@example.com, team-d@example.com;', note: true },
      { digits: '447700900163', replyTo: 'On call: oncall@example.com;', note: false },
    ];
    for (const { digits, replyTo, note } of groups) {
      const { data } = await sendMail(smtpPort(), {
        from: 'erin@example.com',
        to: [`${digits}@sms.example.com`],
        subject: 'Group reply',
        body: 'Who is on call?',
        headers: { From: 'erin@example.com', 'Reply-To': replyTo },
      });
      assert.equal(data?.code, 250, data?.text);
      const first = note ? 'team-c@example.com' : 'oncall@example.com';
      if (note) assert.match(data?.text ?? '', /the Reply-To names 2 addresses: replies from the phone go to the first, team-c@example\.com, only/);
      else assert.doesNotMatch(data?.text ?? '', /Reply-To/);
      const sms = await smsTo(digits);
      gateway.simulator.sendMo({ from: digits, text: 'Got it', usercontext: sms.userContext });
      assert.deepEqual((await mailTo(first)).to, [first], replyTo);
    }
  });

  /** A conversation with `digits` the phone has answered: the reply mail its writer would answer. */
  const answeredConversation = async (writer: string, digits: string, subject: string) => {
    await write(writer, digits, subject, 'Open the gate', { 'Message-ID': `<${digits}-1@example.com>` });
    const sms = await smsTo(digits);
    gateway.simulator.sendMo({ from: digits, text: 'Which gate?', usercontext: sms.userContext });
    const mail = await waitFor(`the reply mail from ${digits}`, () => mailsTo(writer).find((sunk) => sunk.raw.includes(`${digits}@sms.example.com`)));
    return { sms, reply: await simpleParser(mail.raw) };
  };

  test("a reply with nothing typed is refused as having no new text, quote or not: the conversation's subject is not sent", async () => {
    const digits = '447700900170';
    const { reply } = await answeredConversation('henry@example.com', digits, 'Gate 4583');
    const photo =
      '--b1\r\nContent-Type: image/jpeg; name="IMG_0001.jpg"\r\nContent-Disposition: inline; filename="IMG_0001.jpg"\r\nContent-Transfer-Encoding: base64\r\n\r\n/9j/4AAQSkZJRgABAQAAAQABAAD/2wBD\r\n';
    const replies: Record<string, { subject: string; body: string; headers?: Record<string, string> }> = {
      'empty body': { subject: reply.subject ?? '', body: '' },
      'iPhone photo only': {
        subject: reply.subject ?? '',
        body: `${photo}--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\r\nSent from my iPhone\r\n--b1--`,
        headers: { 'Content-Type': 'multipart/mixed; boundary="b1"' },
      },
      'another reply prefix, no tag': { subject: 'AW: Gate 4583', body: '' },
      'quote only': { subject: reply.subject ?? '', body: `On Sat, Phone wrote:\r\n> Which gate?\r\n` },
    };
    for (const [form, { subject, body, headers }] of Object.entries(replies)) {
      const { data } = await sendMail(smtpPort(), {
        from: 'henry@example.com',
        to: [`${digits}@sms.example.com`],
        subject,
        body,
        headers: { From: 'henry@example.com', 'In-Reply-To': reply.messageId ?? '', ...headers },
      });
      assert.equal(data?.code, 554, `${form}: ${data?.text}`);
      assert.equal(data?.enhanced, '5.6.0', form);
      assert.match(data?.text ?? '', /the reply has no new text/, form);
    }
    assert.equal(gateway.simulator.received.filter((sms) => sms.to === digits).length, 1, 'only the first mail reached the phone');
  });

  test('an edited subject on a reply with nothing typed is sent without its reply prefixes and tag, whether words were appended, inserted or replaced', async () => {
    const digits = '447700900171';
    const { sms, reply } = await answeredConversation('henry@example.com', digits, 'Charset test');
    const tag = `[UserContext: ${sms.userContext}]`;
    const edits: Array<[string, string]> = [
      [`Re: Charset test ${tag} CALL ME`, 'Charset test CALL ME'],
      [`Re: Charset test - call me ${tag}`, 'Charset test - call me'],
      [`CALL ME NOW ${tag}`, 'CALL ME NOW'],
    ];
    for (const [index, [subject, text]] of edits.entries()) {
      const { data } = await sendMail(smtpPort(), {
        from: 'henry@example.com',
        to: [`${digits}@sms.example.com`],
        subject,
        body: `On Sat, Phone wrote:\r\n> Which gate?\r\n`,
        headers: { From: 'henry@example.com', 'In-Reply-To': reply.messageId ?? '' },
      });
      assert.equal(data?.code, 250, `${subject}: ${data?.text}`);
      const sent = await smsTo(digits, index + 2);
      assert.equal(sent.text, text, subject);
      assert.equal(sent.userContext, sms.userContext, subject);
    }
  });

  test('a reply of "." in a conversation is sent as ".", with or without a quote: the punctuation-body rule is not for replies, whose old subject is no text', async () => {
    const digits = '447700900179';
    const { reply } = await answeredConversation('ivy@example.com', digits, 'Gate 4584');
    const bodies = ['.\r\n', '.\r\n\r\nOn Sat, Phone wrote:\r\n> Which gate?\r\n'];
    for (const [index, body] of bodies.entries()) {
      const { data } = await sendMail(smtpPort(), {
        from: 'ivy@example.com',
        to: [`${digits}@sms.example.com`],
        subject: reply.subject ?? '',
        body,
        headers: { From: 'ivy@example.com', 'In-Reply-To': reply.messageId ?? '' },
      });
      assert.equal(data?.code, 250, `${index}: ${data?.text}`);
      assert.equal((await smsTo(digits, index + 2)).text, '.', `${index}`);
    }
  });

  test("the conversation's own writer moves it to a new Reply-To by naming it in any form; the 250 promises only what is done", async () => {
    const forms: Record<string, (context: string, replyId: string) => { subject: string; headers: Record<string, string> }> = {
      'reply tag and In-Reply-To': (context, replyId) => ({ subject: `Re: Gate [UserContext: ${context}]`, headers: { 'In-Reply-To': replyId } }),
      'reply tag in a fresh mail': (context) => ({ subject: `Gate [UserContext: ${context}]`, headers: {} }),
      'In-Reply-To alone': (_context, replyId) => ({ subject: 'Re: Gate', headers: { 'In-Reply-To': replyId } }),
      'X-UserContext header': (context) => ({ subject: 'Gate', headers: { 'X-UserContext': context } }),
    };
    let phone = 447700900180;
    for (const [form, named] of Object.entries(forms)) {
      const digits = String(phone++);
      const { sms, reply } = await answeredConversation('ivan@example.com', digits, 'Gate');
      const { subject, headers } = named(sms.userContext ?? '', reply.messageId ?? '');
      const { data } = await sendMail(smtpPort(), {
        from: 'ivan@example.com',
        to: [`${digits}@sms.example.com`],
        subject,
        body: `Moving this to the team (${form})`,
        headers: { From: 'ivan@example.com', 'Reply-To': 'night-a@example.com, night-b@example.com', ...headers },
      });
      assert.equal(data?.code, 250, data?.text);
      assert.match(data?.text ?? '', /replies from the phone go to the first, night-a@example\.com, only/, form);
      assert.equal((await smsTo(digits, 2)).userContext, sms.userContext, form);
      gateway.simulator.sendMo({ from: digits, text: `night team answer (${form})`, usercontext: sms.userContext });
      await waitFor(`the answer (${form})`, () => sink.received.some((mail) => mail.raw.includes(`night team answer (${form})`)));
      assert.ok(
        mailsTo('night-a@example.com').some((mail) => mail.raw.includes(`night team answer (${form})`)),
        form,
      );
    }

    // A colleague answering the relay's reply mail continues the conversation but does not take it: no promise.
    const digits = String(phone);
    const { sms, reply } = await answeredConversation('ivan@example.com', digits, 'Gate');
    const { data } = await sendMail(smtpPort(), {
      from: 'grace@example.com',
      to: [`${digits}@sms.example.com`],
      subject: `Re: Gate [UserContext: ${sms.userContext}]`,
      body: 'I can help',
      headers: { From: 'grace@example.com', 'Reply-To': 'grace@example.com, team@example.com', 'In-Reply-To': reply.messageId ?? '' },
    });
    assert.equal(data?.code, 250, data?.text);
    assert.doesNotMatch(data?.text ?? '', /replies from the phone go to/);
    gateway.simulator.sendMo({ from: digits, text: 'answer after the colleague', usercontext: sms.userContext });
    await waitFor('the answer to Ivan', () => mailsTo('ivan@example.com').some((mail) => mail.raw.includes('answer after the colleague')));
  });

  test("a Message-ID that is not one well-formed msg-id is not copied into the reply mail's headers: it is threaded without it", async () => {
    const ids: Record<string, string> = {
      'a space': '<p7@exa mple.com>',
      'a folded Bcc': '<m1@example.com>\r\n Bcc: evil@example.com>',
      '1,200 characters': `<${'x'.repeat(1_200)}@example.com>`,
      'two ids': '<a1@example.com> <a2@example.com>',
    };
    let phone = 447700900190;
    for (const [form, id] of Object.entries(ids)) {
      const digits = String(phone++);
      await write('judy@example.com', digits, `Odd id (${form})`, 'Open the gate', { 'Message-ID': id });
      const sms = await smsTo(digits);
      gateway.simulator.sendMo({ from: digits, text: `answer (${form})`, usercontext: sms.userContext });
      const mail = await waitFor(`the reply mail (${form})`, () => mailsTo('judy@example.com').find((sunk) => sunk.raw.includes(`answer (${form})`)));
      const header = mail.raw.slice(0, mail.raw.indexOf('\r\n\r\n'));
      assert.doesNotMatch(header, /^(?:In-Reply-To|References|Bcc):/im, form);
      assert.ok(
        header.split('\r\n').every((line) => line.length <= 998),
        form,
      );
    }
    // A well-formed one threads as before.
    await write('judy@example.com', '447700900195', 'Good id', 'Open the gate', { 'Message-ID': '<good-1@example.com>' });
    const sms = await smsTo('447700900195');
    gateway.simulator.sendMo({ from: '447700900195', text: 'answer (good id)', usercontext: sms.userContext });
    const mail = await waitFor('the reply mail (good id)', () => mailsTo('judy@example.com').find((sunk) => sunk.raw.includes('answer (good id)')));
    assert.match(mail.raw, /^In-Reply-To: <good-1@example\.com>\r$/m);
  });

  test('a phone the relay never wrote to reaches the default mailbox', async () => {
    gateway.simulator.sendMo({ from: '447700900199', text: 'Who is this?' });
    const mail = await simpleParser((await mailTo('ops@example.com')).raw);
    assert.equal(mail.subject, 'SMS from +44 7700 900199');
    assert.match(mail.text ?? '', /^Who is this\?/);
  });

  test('a From: or Reply-To: whose address cannot be read names no mailbox: the reply goes to the default mailbox', async () => {
    // A stray quote: mailparser reads the address as "img src=x onerror=alert".
    await write('mallory@evil.example', '447700900140', 'Hi', 'hello', { From: '""><img src=x onerror=alert(1)>" <mallory@evil.example>' });
    const first = await smsTo('447700900140');
    gateway.simulator.sendMo({ from: '447700900140', text: 'who wrote?', usercontext: first.userContext });
    const toOps = await waitFor('the reply', () => mailsTo('ops@example.com').find((mail) => mail.raw.includes('who wrote?')));
    assert.deepEqual(toOps.to, ['ops@example.com']);
    assert.match(toOps.raw, /^To: ops@example\.com\r?$/m);

    // An unreadable Reply-To leaves the From: mailbox.
    await write('judy@example.com', '447700900141', 'Hi', 'hello', { 'Reply-To': 'Judy <judy at example.com>' });
    const second = await smsTo('447700900141');
    gateway.simulator.sendMo({ from: '447700900141', text: 'to judy', usercontext: second.userContext });
    await waitFor('the reply to Judy', () => mailsTo('judy@example.com').some((mail) => mail.raw.includes('to judy')));
    assert.ok(!sink.received.some((mail) => mail.to.some((address) => !/^[^\s<>"]+@[^\s<>"]+$/.test(address))));
  });

  test("a Reply-To or From at the relay's own SMS domain is no mailbox (a loop): the next one is taken, else none, and the 250 says so", async () => {
    // A Reply-To at the SMS domain, in any case, leaves the From.
    for (const [digits, replyTo] of [
      ['447700900704', '447700900999@sms.example.com'],
      ['447700900705', 'MAILER-DAEMON@SMS.EXAMPLE.COM'],
    ] as const) {
      const { data } = await sendMail(smtpPort(), {
        from: 'alice@example.com',
        to: [`${digits}@sms.example.com`],
        subject: 'Loop test',
        body: 'hello',
        headers: { From: 'alice@example.com', 'Reply-To': replyTo },
      });
      assert.equal(data?.code, 250, data?.text);
      assert.ok(
        data?.text.endsWith(`(the Reply-To ${replyTo} is at this relay's SMS domain (a loop): not taken; the phone's replies go to alice@example.com)`),
        data?.text,
      );
      const sms = await smsTo(digits);
      gateway.simulator.sendMo({ from: digits, text: `answer ${digits}`, usercontext: sms.userContext });
      await waitFor(`the answer to alice (${digits})`, () => mailsTo('alice@example.com').some((mail) => mail.raw.includes(`answer ${digits}`)));
    }
    // A Reply-To whose first address is at the SMS domain: its second is taken, and no note calls it the first.
    const second = await sendMail(smtpPort(), {
      from: 'alice@example.com',
      to: ['447700900706@sms.example.com'],
      subject: 'Loop test',
      body: 'hello',
      headers: { From: 'alice@example.com', 'Reply-To': '447700900999@sms.example.com, team-l@example.com' },
    });
    assert.ok(
      second.data?.text.endsWith(
        "(the Reply-To 447700900999@sms.example.com is at this relay's SMS domain (a loop): not taken; the phone's replies go to team-l@example.com)",
      ),
      second.data?.text,
    );
    assert.doesNotMatch(second.data?.text ?? '', /go to the first/);
    // Bob answering Alice's reply mail continues her conversation (its thread): the phone's replies stay hers, and no note says they go to Bob.
    await write('alice@example.com', '447700900707', 'Loop thread', 'hello');
    const started = await smsTo('447700900707');
    gateway.simulator.sendMo({ from: '447700900707', text: 'answer one', usercontext: started.userContext });
    const answered = await simpleParser(
      (await waitFor('the answer to alice', () => mailsTo('alice@example.com').find((mail) => mail.raw.includes('answer one')))).raw,
    );
    const bob = await sendMail(smtpPort(), {
      from: 'bob@example.com',
      to: ['447700900707@sms.example.com'],
      subject: answered.subject ?? '',
      body: 'Bob here',
      headers: { From: 'bob@example.com', 'Reply-To': '447700900999@sms.example.com', 'In-Reply-To': answered.messageId ?? '' },
    });
    assert.equal(bob.data?.code, 250, bob.data?.text);
    assert.doesNotMatch(bob.data?.text ?? '', /replies go to/, bob.data?.text);
    assert.equal((await smsTo('447700900707', 2)).userContext, started.userContext);
    gateway.simulator.sendMo({ from: '447700900707', text: 'answer two', usercontext: started.userContext });
    await waitFor('the second answer to alice', () => mailsTo('alice@example.com').some((mail) => mail.raw.includes('answer two')));
    // A device whose own From is at the SMS domain: no mailbox, so the default one.
    const { data } = await sendMail(smtpPort(), {
      from: 'ups@example.com',
      to: ['447700900791@sms.example.com'],
      subject: 'UPS on battery',
      body: 'Rack 1',
      headers: { From: 'ups-alerts@sms.example.com' },
    });
    assert.match(
      data?.text ?? '',
      /\(the From ups-alerts@sms\.example\.com is at this relay's SMS domain \(a loop\): not taken; the phone's replies go as for a mail without one: to the number's latest conversation, else the default mailbox\)$/,
    );
    const sms = await smsTo('447700900791');
    gateway.simulator.sendMo({ from: '447700900791', text: 'ack ups', usercontext: sms.userContext });
    await waitFor('the answer in the default mailbox', () => mailsTo('ops@example.com').some((mail) => mail.raw.includes('ack ups')));
    assert.ok(!sink.received.some((mail) => mail.to.some((address) => address.toLowerCase().endsWith('@sms.example.com'))), 'nothing mailed to the SMS domain');
  });

  test("a From naming several addresses moves nobody's conversation: its Sender among them is the author, else none is; the 250 says which", async () => {
    let phone = 447700900786;
    for (const [sender, decided] of [
      ['mallory@evil.example', "the From names 2 addresses: its Sender, mallory@evil.example, wrote it; the phone's replies go to mallory@evil.example"],
      [undefined, "the From names 2 addresses and its Sender none of them: none is taken; the phone's replies go as for a mail without one"],
    ] as const) {
      const digits = String(phone++);
      await write('alice@example.com', digits, 'Pump', 'pump 4 tripped');
      const alice = await smsTo(digits);
      const { data } = await sendMail(smtpPort(), {
        from: 'mallory@evil.example',
        to: [`${digits}@sms.example.com`],
        subject: `Update [UserContext: ${alice.userContext}]`,
        body: 'reply with code',
        headers: { From: '"Mallory" <mallory@evil.example>, "Alice" <ALICE@example.com>', ...(sender ? { Sender: sender } : {}) },
      });
      assert.equal(data?.code, 250, data?.text);
      const sent = await smsTo(digits, 2);
      assert.notEqual(sent.userContext, alice.userContext, "not under Alice's context");
      assert.ok(data?.text.includes(`UserContext ${alice.userContext} is another mailbox's conversation with this number`), data?.text);
      assert.ok(data?.text.includes(decided), data?.text);
      gateway.simulator.sendMo({ from: digits, text: `code 4711 (${digits})`, usercontext: alice.userContext });
      await waitFor("the answer under Alice's context, to Alice", () =>
        mailsTo('alice@example.com').some((mail) => mail.raw.includes(`code 4711 (${digits})`)),
      );
      assert.ok(!mailsTo('mallory@evil.example').some((mail) => mail.raw.includes(`code 4711 (${digits})`)));
    }
  });

  test("a writer's new mail naming its own conversation's context (an ERP's ticket) continues it: References keeps the first mail, the subject stays", async () => {
    const digits = '447700900710';
    for (const [turn, messageId] of [
      [1, '<ticket-4412-a@example.com>'],
      [2, '<ticket-4412-b@example.com>'],
    ] as const) {
      await write('erp@example.com', digits, turn === 1 ? 'Ticket 4412' : 'Ticket 4412 escalated', `update ${turn}`, {
        'X-UserContext': 'T4412',
        'Message-ID': messageId,
      });
      const sms = await smsTo(digits, turn);
      assert.equal(sms.userContext, 'T4412');
      gateway.simulator.sendMo({ from: digits, text: `seen ${turn}`, usercontext: 'T4412' });
      const reply = await simpleParser(
        (await waitFor(`answer ${turn}`, () => mailsTo('erp@example.com').find((mail) => mail.raw.includes(`seen ${turn}`)))).raw,
      );
      assert.equal(reply.inReplyTo, messageId);
      assert.deepEqual([reply.references].flat(), turn === 1 ? [messageId] : ['<ticket-4412-a@example.com>', messageId]);
      assert.equal(reply.subject, 'Re: Ticket 4412 [UserContext: T4412]');
    }
  });

  test('a repeated MO (the gateway retrying) makes one mail, also after a restart', async () => {
    const form = { from: '447700900126', text: 'dup test', msgid: '90000000000000000001', sent: '2026-11-23T09:00:00+00:00' };
    const first = await postForm(WEBHOOK_PATHS.mo, form);
    assert.equal(first.status, 200);
    assert.equal(((await first.json()) as { status: string }).status, 'accepted');
    assert.equal(((await (await postForm(WEBHOOK_PATHS.mo, form)).json()) as { status: string }).status, 'duplicate');
    await relay.stop();
    await start();
    const again = await postForm(WEBHOOK_PATHS.mo, form);
    assert.equal(((await again.json()) as { status: string }).status, 'duplicate');
    await mailTo('ops@example.com', 2);
    await sleep(300);
    assert.equal(mailsTo('ops@example.com').filter((mail) => mail.raw.includes('dup test')).length, 1);
  });

  test('without the right token: 401 and no mail; a Bearer header works too', async () => {
    const form = { from: '447700900127', text: 'token test', msgid: '90000000000000000002' };
    for (const auth of ['', '?token=wrong-token-0123456789']) {
      const response = await postForm(WEBHOOK_PATHS.mo, form, auth);
      assert.equal(response.status, 401);
      assert.deepEqual(Object.keys((await response.json()) as object).sort(), ['error', 'message']);
    }
    const bearer = await postForm(WEBHOOK_PATHS.mo, { ...form, msgid: '90000000000000000003' }, '', { authorization: `Bearer ${TOKEN}` });
    assert.equal(bearer.status, 200);
    await waitFor('the Bearer mail', () => mailsTo('ops@example.com').some((mail) => mail.raw.includes('token test')));
    assert.equal(mailsTo('ops@example.com').filter((mail) => mail.raw.includes('token test')).length, 1);
  });

  test('an authenticated but malformed request is answered 200 and quarantined with its body', async () => {
    const response = await postForm(WEBHOOK_PATHS.mo, { from: 'not-a-number', text: 'x', msgid: '90000000000000000004' });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), {
      status: 'quarantined',
      reason: 'from is missing or not a sender (a number, a short code or a name of up to 11 characters)',
    });
    const json = await fetch(`http://127.0.0.1:${relay.relay.httpPort}${WEBHOOK_PATHS.dr}?token=${TOKEN}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"notifications":[]}',
    });
    assert.equal(json.status, 200);
    const db = new BetterSqlite3(join(relay.config.dataDir, STORE_FILE), { readonly: true });
    const rows = db.prepare('SELECT kind, reason, body FROM quarantine ORDER BY id').all() as Array<{ kind: string; reason: string; body: string }>;
    db.close();
    assert.deepEqual(
      rows.map((row) => row.kind),
      ['mo', 'dr'],
    );
    assert.match(rows[0]?.body ?? '', /from=not-a-number/);
    assert.match(rows[1]?.reason ?? '', /the "notifications" list is empty/);
  });

  test('a store that cannot commit answers 503, so the gateway retries; then the SMS is taken', async () => {
    const form = { from: '447700900135', text: 'while locked', msgid: '90000000000000000005' };
    const lock = new BetterSqlite3(join(relay.config.dataDir, STORE_FILE));
    lock.exec('BEGIN EXCLUSIVE');
    try {
      const refused = await postForm(WEBHOOK_PATHS.mo, form);
      assert.equal(refused.status, 503);
      assert.equal(((await refused.json()) as { error: string }).error, 'STORE_BUSY');
    } finally {
      lock.exec('ROLLBACK');
      lock.close();
    }
    assert.equal(((await (await postForm(WEBHOOK_PATHS.mo, form)).json()) as { status: string }).status, 'accepted');
  });

  test('delivery reports move the SMS forward only, and a final failure is mailed to the sender', async () => {
    const id = await write('dave@example.com', UNDELIVERABLE, 'Alarm', 'Tank 2 overflow');
    await waitFor('the failure state', async () => (await relay.relay.store.smsOf(id))[0]?.delivery === 'failed');
    const bounce = await simpleParser((await mailTo('dave@example.com')).raw);
    assert.equal(bounce.subject, 'Undelivered SMS: Alarm');
    assert.match(bounce.text ?? '', /the network could not deliver it to the phone/);

    const delivered = await write('erin@example.com', '447700900128', 'Info', 'All good');
    const [state] = await waitFor('delivered', async () => {
      const states = await relay.relay.store.smsOf(delivered);
      return states[0]?.delivery === 'delivered' && states;
    });
    // A late "sent" (status 3) after "delivered": the state stays.
    const late = await postForm(WEBHOOK_PATHS.dr, { msgid: state?.providerId ?? '', status: '3', toaddr: '447700900128' });
    assert.equal(((await late.json()) as { status: string }).status, 'duplicate');
    const stale = await postForm(WEBHOOK_PATHS.dr, { msgid: state?.providerId ?? '', status: '2', toaddr: '447700900128' });
    assert.equal(((await stale.json()) as { status: string }).status, 'stale');
    assert.equal((await relay.relay.store.smsOf(delivered))[0]?.delivery, 'delivered');
    assert.equal(mailsTo('erin@example.com').length, 0, 'success is reported only when asked');
  });

  test('a report that arrives before the relay has recorded the send is kept and applied when it has', async () => {
    gateway.simulator.setBehaviour({ mode: 'hang', times: 1 });
    const id = await write('gina@example.com', '447700900134', 'Early', 'early report');
    const sms = await smsTo('447700900134');
    const early = await postForm(WEBHOOK_PATHS.dr, { msgid: sms.id, status: '6', toaddr: '447700900134' });
    assert.deepEqual(await early.json(), { status: 'orphan' });
    assert.equal((await relay.relay.store.smsOf(id))[0]?.status, 'queued', 'the send result is not recorded yet');
    gateway.simulator.releaseHanging();
    await waitFor('the early report applied', async () => (await relay.relay.store.smsOf(id))[0]?.delivery === 'failed');
    assert.match((await mailTo('gina@example.com')).raw, /Subject: Undelivered SMS: Early/);
  });

  test('X-SMS-Delivery-Report: all mails the delivery too', async () => {
    await write('frank@example.com', '447700900129', 'Ping', 'ping', { 'X-SMS-Delivery-Report': 'all' });
    const report = await simpleParser((await mailTo('frank@example.com')).raw);
    assert.equal(report.subject, 'SMS delivered: Ping');
  });

  test('a report for an id the relay does not know is answered 200 and kept', async () => {
    const response = await postForm(WEBHOOK_PATHS.dr, { msgid: '99999999999999999999', status: '4', toaddr: '447700900130' });
    assert.deepEqual(await response.json(), { status: 'orphan' });
  });

  test('smarthost down while an SMS arrives, then up: exactly one mail', async () => {
    await sink.stop();
    gateway.simulator.sendMo({ from: '447700900131', text: 'while the smarthost was down' });
    await waitFor('a deferred mail', () => {
      const db = new BetterSqlite3(join(relay.config.dataDir, STORE_FILE), { readonly: true });
      const row = db.prepare("SELECT attempts FROM mail_out WHERE kind = 'reply' AND status = 'queued' AND attempts > 0").get();
      db.close();
      return row !== undefined;
    });
    await sink.start();
    await waitFor('the mail', () => mailsTo('ops@example.com').some((mail) => mail.raw.includes('while the smarthost was down')));
    await sleep(500);
    assert.equal(mailsTo('ops@example.com').filter((mail) => mail.raw.includes('while the smarthost was down')).length, 1);
  });

  test('CR/LF and encoded words in an SMS stay text: no header injection', async () => {
    gateway.simulator.sendMo({ from: '447700900132', text: 'hi\r\nBcc: evil@example.com\r\nSubject: =?UTF-8?B?aGFja2Vk?=\r\n\r\nbody' });
    const raw = (await mailTo('ops@example.com', mailsTo('ops@example.com').length + 1)).raw;
    const mail = await simpleParser(raw);
    assert.equal(mail.bcc, undefined);
    assert.equal(mail.subject, 'SMS from +44 7700 900132');
    assert.match(mail.text ?? '', /Bcc: evil@example\.com/);
    assert.equal(sink.received.at(-1)?.to.join(), 'ops@example.com');
  });

  test('a reply mail the smarthost took and a mailbox server bounced later: the bounce to its return path fails it and lists the SMS as undeliverable; a forged, foreign or non-bounce mail there is refused', async () => {
    const sendBounce = (returnPath: string, from: string, subject: string, headers: Record<string, string>, body: string) =>
      sendMail(smtpPort(), {
        from,
        to: [returnPath],
        subject,
        body,
        headers: { From: `Mail Delivery System <${from || 'MAILER-DAEMON@mx.example.com'}>`, ...headers },
      });
    const answered = async (mailbox: string, number: string, text: string) => {
      await write(mailbox, number, 'Pump', 'pump 4 tripped');
      const sms = await smsTo(number);
      gateway.simulator.sendMo({ from: number, text, usercontext: sms.userContext });
      return mailTo(mailbox);
    };

    // Postfix's RFC 3464 report, from the null sender.
    const reply = await answered('gone-later@example.com', '447700900870', 'Call me on 555-0100, urgent');
    const returnPath = reply.from;
    assert.match(returnPath, /^bounces\+[0-9a-f]{32}\.[0-9a-z]{13}@sms\.example\.com$/, 'the return path names the reply (VERP)');
    assert.equal((await simpleParser(reply.raw)).from?.value[0]?.address, '447700900870@sms.example.com', 'Reply still answers the phone');
    const report = [
      '--B',
      'Content-Type: text/plain',
      '',
      '<gone-later@example.com>: host mbox.example.com said: 550 5.1.1 User unknown',
      '',
      '--B',
      'Content-Type: message/delivery-status',
      '',
      'Reporting-MTA: dns; mx.example.com',
      '',
      'Final-Recipient: rfc822; gone-later@example.com',
      'Action: failed',
      'Status: 5.1.1',
      'Diagnostic-Code: smtp; 550 5.1.1 <gone-later@example.com>: Recipient address',
      '    rejected: User unknown',
      '',
      '--B',
      'Content-Type: text/rfc822-headers',
      '',
      `From: ${returnPath}`,
      '',
      '--B--',
    ].join('\r\n');
    const dsn = { 'Content-Type': 'multipart/report; report-type=delivery-status; boundary="B"' };
    const bounced = await sendBounce(returnPath, '', 'Undelivered Mail Returned to Sender', dsn, report);
    assert.equal(bounced.rcpt[0]?.code, 250, bounced.rcpt[0]?.text);
    assert.equal(bounced.data?.code, 250, bounced.data?.text);
    assert.match(
      bounced.data?.text ?? '',
      /^2\.6\.0 Ok: bounce taken as \S+ \(the reply mail to gone-later@example\.com is failed; its SMS is listed as undeliverable\)$/,
    );
    const listed = (await relay.relay.store.undeliverableInbound(100)).find((sms) => sms.number === '+447700900870');
    assert.equal(listed?.text, 'Call me on 555-0100, urgent');
    assert.equal(listed?.refused?.mailbox, 'gone-later@example.com');
    assert.equal(
      listed?.refused?.error,
      'bounced after the smarthost took it: 5.1.1 smtp; 550 5.1.1 <gone-later@example.com>: Recipient address rejected: User unknown',
    );
    const history = await relay.relay.store.events(listed?.id ?? '');
    assert.ok(
      history.some((event) => event.kind === 'mail failed' && /bounced after the smarthost took it: 5\.1\.1/.test(event.detail ?? '')),
      JSON.stringify(history),
    );
    const again = await sendBounce(returnPath, '', 'Undelivered Mail Returned to Sender', dsn, report);
    assert.match(again.data?.text ?? '', /\(the reply mail to gone-later@example\.com was failed already: nothing changed\)$/);

    // Exchange's NDR, from an address and not a report.
    const ndr = await answered('full@example.com', '447700900871', 'Gate 4 at noon');
    const exchange = await sendBounce(
      ndr.from,
      'postmaster@example.com',
      'Undeliverable: Re: Pump',
      {},
      "Delivery has failed to these recipients or groups:\r\n\r\nfull@example.com\r\nThe mailbox is full.\r\n\r\nRemote Server returned '554 5.2.2 mailbox full'\r\n",
    );
    assert.match(exchange.data?.text ?? '', /is failed; its SMS is listed as undeliverable\)$/, exchange.data?.text);
    const full = (await relay.relay.store.undeliverableInbound(100)).find((sms) => sms.number === '+447700900871');
    assert.equal(full?.refused?.error, "bounced after the smarthost took it: Remote Server returned '554 5.2.2 mailbox full'");

    // A delay warning changes nothing; nor does a mail that is no bounce, which is refused.
    const fine = await answered('slow@example.com', '447700900872', 'On my way');
    const delayed = await sendBounce(
      fine.from,
      '',
      'Delayed Mail (still being retried)',
      dsn,
      report.replace('Action: failed', 'Action: delayed').replace('Status: 5.1.1', 'Status: 4.4.1'),
    );
    assert.match(delayed.data?.text ?? '', /\(a delay or success report: nothing changed\)$/);
    const person = await sendMail(smtpPort(), { from: 'slow@example.com', to: [fine.from], subject: 'Re: Pump', body: 'thanks' });
    assert.equal(person.data?.code, 550);
    assert.match(person.data?.text ?? '', /^5\.7\.1 This address takes bounces only/);
    // Sieve's vacation answers the return path from <> (RFC 3834): no bounce, the mail was delivered.
    const vacation = await sendBounce(fine.from, '', 'Auto: Re: Pump', { 'Auto-Submitted': 'auto-replied (vacation)' }, 'Away until Monday.');
    assert.equal(vacation.data?.code, 550, vacation.data?.text);
    assert.match(vacation.data?.text ?? '', /^5\.7\.1 This address takes bounces only/);
    // A list's member refused behind the mailbox: the mail reached its mailbox.
    const member = await sendBounce(
      fine.from,
      '',
      'Undelivered Mail Returned to Sender',
      dsn,
      report.replaceAll('gone-later@example.com', 'member@example.net'),
    );
    assert.match(member.data?.text ?? '', /\(a bounce for an address behind slow@example\.com, not the mailbox itself: nothing changed\)$/, member.data?.text);
    assert.equal(
      (await relay.relay.store.undeliverableInbound(100)).find((sms) => sms.number === '+447700900872'),
      undefined,
    );

    // A return path the relay never gave (another token of the same SMS, or another SMS) is refused at RCPT.
    for (const forged of [fine.from.replace(/\.[0-9a-z]{13}@/, '.0000000000000@'), 'bounces+0190aaaa0000700080000000000000ff.abcdefghijklm@sms.example.com']) {
      const refused = await sendBounce(forged, '', 'Undelivered Mail Returned to Sender', dsn, report);
      assert.equal(refused.rcpt[0]?.code, 550, forged);
      assert.match(refused.rcpt[0]?.text ?? '', /^5\.1\.1 No such return path/);
    }
    const mixed = await sendMail(smtpPort(), { from: '', to: [fine.from, '447700900872@sms.example.com'], body: 'x' });
    // A bounce (MAIL FROM:<>) to a number is refused for good, whatever else the transaction holds.
    assert.equal(mixed.rcpt[1]?.code, 550, mixed.rcpt[1]?.text);
  });

  test('store.retention keeps the text of an SMS while its reply mail may still bounce; a text erased anyway is listed, logged and rerouted as erased, never as empty', async () => {
    const answered = async (mailbox: string, number: string, text: string) => {
      await write(mailbox, number, 'Retention', 'is the gas off?');
      const sms = await smsTo(number);
      gateway.simulator.sendMo({ from: number, text, usercontext: sms.userContext });
      const reply = await mailTo(mailbox);
      await waitFor('the reply mail recorded as sent', async () =>
        (await relay.relay.store.repliesOfNumber(`+${number}`, 1))[0]?.mail?.status === 'sent' ? true : undefined,
      );
      return reply.from;
    };
    // Postfix's expiry bounce, days after the smarthost took the mail.
    const bounce = (returnPath: string, mailbox: string) =>
      sendMail(smtpPort(), {
        from: '',
        to: [returnPath],
        subject: 'Undelivered Mail Returned to Sender',
        headers: { 'Content-Type': 'multipart/report; report-type=delivery-status; boundary="B"' },
        body: [
          '--B',
          'Content-Type: message/delivery-status',
          '',
          'Reporting-MTA: dns; mx.example.com',
          '',
          `Final-Recipient: rfc822; ${mailbox}`,
          'Action: failed',
          'Status: 4.4.1',
          'Diagnostic-Code: X-Postfix; connect to mbox.example.com[192.0.2.1]:25: Connection timed out',
          '',
          '--B--',
        ].join('\r\n'),
      });
    const store = relay.relay.store;
    // A sweep with retention just past (as `store.retention: 1s` would run it): the mail was sent a moment ago.
    const kept = await answered('late@example.com', '447700900873', 'Gas leak at gate 7');
    await store.purgeContent(Date.now() + 1_000, Date.now());
    assert.match((await bounce(kept, 'late@example.com')).data?.text ?? '', /is failed; its SMS is listed as undeliverable\)$/);
    const listed = (await store.undeliverableInbound(100)).find((sms) => sms.number === '+447700900873');
    assert.equal(listed?.text, 'Gas leak at gate 7', 'a bounce may come for days: the text is kept for it');
    assert.equal(listed?.textErased, undefined);

    // The same sweep once no MTA keeps a mail queued any longer: the text goes; a bounce that comes even later lists it as erased.
    const late = await answered('later@example.com', '447700900874', 'Gas leak at gate 8');
    await store.purgeContent(Date.now() + 1_000, Date.now() + REPLY_BOUNCE_WINDOW_MS + 60_000);
    await bounce(late, 'later@example.com');
    const erased = (await store.undeliverableInbound(100)).find((sms) => sms.number === '+447700900874');
    assert.equal(erased?.text, '');
    assert.equal(erased?.textErased, true, 'listed as erased, not as an empty SMS');
    assert.match(
      await history(store, '+447700900874', Date.now()),
      /^reply \S+ \S+ \[UserContext: \w+\]: to later@example\.com, mail failed \(bounced after the smarthost took it: 4\.4\.1 X-Postfix; connect to mbox\.example\.com\[192\.0\.2\.1\]:25: Connection timed out\): kept as undeliverable; its text was erased by store\.retention$/m,
    );
    assert.match(
      await status(store, Date.now(), { pid: undefined, name: 'test', database: false }),
      /^inbound SMS undeliverable \(no mailbox, or their mail refused or bounced\): \d+ \(smsrelay undeliverable\)$/m,
    );
    assert.match(
      await rerouteUndeliverable(store, relay.config, new ReplyNotes({ keywords: RELAY_KEYWORDS }), erased?.id ?? '', 'rerouted-erased@example.com'),
      /^SMS \S+ queued for rerouted-erased@example\.com, without its text: store\.retention erased it/,
    );
    const rerouted = await simpleParser((await mailTo('rerouted-erased@example.com')).raw);
    assert.ok(rerouted.text?.includes(ERASED_SMS_NOTE), rerouted.text);
    assert.ok(!rerouted.text?.includes(EMPTY_SMS_NOTE), 'never "the phone sent it empty"');
  });

  test("a DSN naming the mailbox in Unicode (RFC 6533), with the root's dot or only the base of its subaddress fails its reply mail, counted as bounced", async () => {
    const bouncedCount = async () => {
      const metrics = await (await fetch(`http://127.0.0.1:${relay.relay.httpPort}/metrics`)).text();
      return Number(/^smsrelay_mails_sent_total\{kind="reply",result="bounced"\} (\d+)$/m.exec(metrics)?.[1] ?? 0);
    };
    const counted = await bouncedCount();
    for (const [mailbox, number, named] of [
      ['bob@xn--mller-kva.example', '447700900875', 'utf-8; bob@müller.example'],
      ['ops@Example.COM', '447700900876', 'rfc822; ops@example.com.'],
      ['alice+sms@example.com', '447700900877', 'rfc822; alice@example.com'],
    ] as const) {
      await write(mailbox, number, 'Pump', 'pump 4 tripped');
      const sms = await smsTo(number);
      gateway.simulator.sendMo({ from: number, text: 'Pump 4 restarted', usercontext: sms.userContext });
      const reply = await mailTo(mailbox);
      const bounced = await sendMail(smtpPort(), {
        from: '',
        to: [reply.from],
        subject: 'Undelivered Mail Returned to Sender',
        headers: { 'MIME-Version': '1.0', 'Content-Type': 'multipart/report; report-type=global-delivery-status; boundary="B"' },
        body: [
          '--B',
          'Content-Type: message/global-delivery-status',
          '',
          'Reporting-MTA: dns; mx.example.com',
          '',
          `Final-Recipient: ${named}`,
          'Action: failed',
          'Status: 5.1.1',
          '',
          '--B--',
        ].join('\r\n'),
      });
      assert.match(bounced.data?.text ?? '', /is failed; its SMS is listed as undeliverable\)$/, `${mailbox} as ${named}: ${bounced.data?.text}`);
      const listed = (await relay.relay.store.undeliverableInbound(100)).find((each) => each.number === `+${number}`);
      assert.equal(listed?.refused?.mailbox, mailbox);
    }
    assert.equal(await bouncedCount(), counted + 3, 'each reply mail lost after the smarthost took it, besides its delivered attempt');
  });

  test("a plain bounce that gives no status on its code's line (Yahoo's 554:, Exim's retry timeout) records the line under the mailbox as the reason, not the subject", async () => {
    for (const [mailbox, number, subject, said] of [
      [
        'yahoo-gone@example.com',
        '447700900878',
        'Failure Notice',
        "<yahoo-gone@example.com>:\r\n554: delivery error: dd This user doesn't have a yahoo.com account",
      ],
      ['exim-gone@example.com', '447700900879', 'Mail delivery failed: returning message to sender', '  exim-gone@example.com\r\n    retry timeout exceeded'],
    ] as const) {
      await write(mailbox, number, 'Pump', 'pump 4 tripped');
      const sms = await smsTo(number);
      gateway.simulator.sendMo({ from: number, text: 'Pump 4 restarted', usercontext: sms.userContext });
      const reply = await mailTo(mailbox);
      const body = `Sorry, we were unable to deliver your message.\r\n\r\n${said}\r\n\r\n--- Below this line is a copy of the message.\r\n\r\nReturn-Path: <${reply.from}>\r\n`;
      const bounced = await sendMail(smtpPort(), { from: '', to: [reply.from], subject, body });
      assert.match(bounced.data?.text ?? '', /is failed; its SMS is listed as undeliverable\)$/, bounced.data?.text);
      const listed = (await relay.relay.store.undeliverableInbound(100)).find((each) => each.number === `+${number}`);
      assert.equal(listed?.refused?.error, `bounced after the smarthost took it: ${said.split('\r\n')[1]?.trim()}`);
    }
  });

  test("the relay's own mail, auto-replies and bounces never become SMS", async () => {
    const before = gateway.simulator.received.length;
    const automatic: Array<Record<string, string>> = [
      { 'X-SMSRelay-Loop': 'relay.example.com' },
      { 'Auto-Submitted': 'auto-replied' },
      // What vacation responders set instead of Auto-Submitted.
      { 'X-Autoreply': 'yes' },
      { 'X-Autorespond': 'Out of office' },
      { Precedence: 'auto_reply' },
    ];
    for (const headers of automatic) {
      const { data } = await sendMail(smtpPort(), { to: ['447700900133@sms.example.com'], body: 'loop?', headers });
      assert.equal(data?.code, 550);
      assert.match(data?.text ?? '', /^5\.7\.1 Not sent as SMS: it (carries X-SMSRelay-Loop|is an auto-reply)/);
    }
    const bounce = await sendMail(smtpPort(), { from: '', to: ['447700900133@sms.example.com'], body: 'bounce' });
    assert.equal(bounce.rcpt[0]?.code, 550);
    assert.match(bounce.rcpt[0]?.text ?? '', /^5\.7\.1 Mail from the null sender/);
    const alert = await sendMail(smtpPort(), {
      to: ['447700900133@sms.example.com'],
      body: 'CPU high',
      headers: { 'Auto-Submitted': 'auto-generated', Precedence: 'bulk' },
    });
    assert.equal(alert.data?.code, 250, 'alerts are what the relay is for');
    await waitFor('the alert', () => gateway.simulator.received.length === before + 1);
  });

  test('an alert naming a context no reply mail was sent under is sent in any form whatever automatic marks it carries; automatic mail that names a reply mail or an answered context is refused, so no auto-reply loop', async () => {
    const phone = '447700900741';
    const erp = 'plant-erp@example.com';
    const alert = (subject: string, headers: Record<string, string>, body = 'Pump 4 tripped') =>
      sendMail(smtpPort(), { from: erp, to: [`${phone}@sms.example.com`], subject, body, headers: { From: erp, ...headers } });
    const auto = { 'Auto-Submitted': 'auto-generated' };
    const forms = (context: string, topic: string): Array<[string, Record<string, string>]> => [
      [`[UserContext: ${context}] ${topic}`, { ...auto, 'Message-ID': `<${context}-1@erp.example.com>` }],
      [`[UserContext: ${context}] ${topic}`, { Precedence: 'bulk' }],
      [`${topic} [UserContext: ${context}]`, auto],
      [`UserContext:${context} ${topic}`, auto],
      [topic, { ...auto, 'X-UserContext': context }],
    ];
    // A fresh store for this number: no conversation, no reply mail, no In-Reply-To/References.
    const fresh = forms('T-88', 'PROBLEM: pump 4');
    for (const [subject, headers] of fresh) {
      const { data } = await alert(subject, headers);
      assert.equal(data?.code, 250, `${subject} ${JSON.stringify(headers)}: ${data?.text}`);
    }
    const sent = await smsTo(phone, fresh.length);
    assert.equal(sent.userContext, 'T-88');

    // The phone answers under the ticket's context: the reply mail goes to the ERP.
    gateway.simulator.sendMo({ from: phone, text: 'On my way to pump 4', usercontext: 'T-88' });
    const reply = await simpleParser((await mailTo(erp)).raw);
    assert.match(reply.subject ?? '', /\[UserContext: T-88\]$/);
    const replyId = reply.messageId ?? '';

    // A new ticket's first alerts name a context no reply mail was sent under: sent, in every form.
    const next = forms('T-100', 'PROBLEM: pump 6');
    for (const [subject, headers] of next) {
      const { data } = await alert(subject, headers);
      assert.equal(data?.code, 250, `${subject} ${JSON.stringify(headers)}: ${data?.text}`);
    }
    await smsTo(phone, fresh.length + next.length);

    // Automatic mail that names the reply mail (ids, quote) or the answered context in any form: a machine's answer
    // to the reply mail can bear any subject and no ids, and cannot be told from a later alert of T-88: refused.
    const answers: Array<[string, Record<string, string>, string]> = [
      [`Automatic reply: ${reply.subject}`, { ...auto, 'In-Reply-To': replyId, References: replyId }, 'Auto-Submitted: auto-generated'],
      ['Ticket received', { Precedence: 'bulk', 'In-Reply-To': replyId }, 'Precedence: bulk'],
      ['Ticket received', { ...auto, References: `<unknown@example.com> ${replyId}` }, 'Auto-Submitted: auto-generated'],
      [`Automatic reply: ${reply.subject}`, { 'X-Auto-Response-Suppress': 'All' }, 'X-Auto-Response-Suppress: all'],
      [`${reply.subject}`, auto, 'Auto-Submitted: auto-generated'],
      ['Automatic reply: Re: PROBLEM: pump 4', { ...auto, 'X-UserContext': 'T-88' }, 'Auto-Submitted: auto-generated'],
      ['Re: PROBLEM: pump 4 UserContext:T-88', auto, 'Auto-Submitted: auto-generated'],
      [`Automatische Antwort: ${reply.subject}`, {}, 'its subject says so'],
      // Ticket systems' and mailers' receipts, their own label before or after the reply's subject.
      [`[Acme Support] ${reply.subject}`, auto, 'Auto-Submitted: auto-generated'],
      [`[Ticket #123] ${reply.subject}`, auto, 'Auto-Submitted: auto-generated'],
      [`Request received: ${reply.subject}`, auto, 'Auto-Submitted: auto-generated'],
      [`${reply.subject} - Out of office`, { Precedence: 'bulk' }, 'Precedence: bulk'],
      [`Odpověď: ${reply.subject}`, auto, 'Auto-Submitted: auto-generated'],
      [`Fwd: ${reply.subject}`, { Precedence: 'junk' }, 'Precedence: junk'],
      // Later alerts under the answered context, in every form, and one threaded by ids to the ERP's own first alert.
      ...forms('T-88', 'PROBLEM: pump 4 again').map(([subject, headers]): [string, Record<string, string>, string] => [
        subject,
        { ...headers, 'Message-ID': `<${subject.length}-${Object.keys(headers).length}@later.example.com>` },
        headers['Precedence'] ? 'Precedence: bulk' : 'Auto-Submitted: auto-generated',
      ]),
      [
        'PROBLEM: pump 4 cleared',
        { ...auto, 'In-Reply-To': '<T-88-1@erp.example.com>', References: '<T-88-1@erp.example.com>' },
        'Auto-Submitted: auto-generated',
      ],
    ];
    for (const [subject, headers, reason] of answers) {
      const { data } = await alert(subject, headers, 'I am out of the office until Monday.');
      assert.equal(data?.code, 550, `${subject} ${JSON.stringify(headers)}: ${data?.text}`);
      assert.equal(data?.text, `5.7.1 Not sent as SMS: it is an automatic answer to the relay's reply mail, not a person's (${reason})`, subject);
    }
    // No SMS went back to the phone, so it has nothing to answer and no second reply mail is drawn: the loop ends here.
    await sleep(300);
    assert.equal(gateway.simulator.received.filter((sms) => sms.to === phone).length, fresh.length + next.length);
    assert.equal(mailsTo(erp).length, 1);
  });

  test("a ticket system's receipt to a reply mail, under its own label or naming an old reply mail by id after retention erased it, never reaches the phone: no loop with its autoresponder", async () => {
    const phone = '447700900793';
    const desk = 'support@acme.example.com';
    const receipt = (subject: string, headers: Record<string, string>) =>
      sendMail(smtpPort(), {
        from: desk,
        to: [`${phone}@sms.example.com`],
        subject,
        body: 'Your request has been received and is being reviewed by our support staff.',
        headers: { From: desk, ...headers },
      });
    await write(desk, phone, 'Your ticket 4711', 'Can you confirm the site visit?', { 'Message-ID': '<desk-1@acme.example.com>' });
    const first = await smsTo(phone);
    // The phone's autoresponder answers six times in a burst: six reply mails to the desk.
    const ids: string[] = [];
    let subject = '';
    for (let turn = 1; turn <= 6; turn += 1) {
      gateway.simulator.sendMo({ from: phone, text: `I am driving (auto-reply ${turn})`, usercontext: first.userContext });
      const reply = await simpleParser((await mailTo(desk, turn)).raw);
      ids.push(reply.messageId ?? '');
      subject = reply.subject ?? '';
    }
    const auto = { 'Auto-Submitted': 'auto-generated' };
    // Zendesk's "[account] Re: title", no ids.
    assert.equal((await receipt(`[Acme Support] ${subject}`, { ...auto, 'Message-ID': '<receipt-1@acme.example.com>' })).data?.code, 550);
    // Every reply mail named by id alone, the oldest far past the newest five; then again once retention erased their content.
    const byId = async (round: string) => {
      for (const [k, id] of ids.entries()) {
        const { data } = await receipt('INC0010023 - comments added', {
          ...auto,
          Precedence: 'bulk',
          'In-Reply-To': id,
          References: `<desk-1@acme.example.com> ${id}`,
        });
        assert.equal(data?.code, 550, `${round}: receipt to reply mail ${k + 1}: ${data?.text}`);
      }
    };
    await byId('kept');
    await relay.relay.store.purgeContent(Date.now() + 1_000, Date.now() + REPLY_BOUNCE_WINDOW_MS + 60_000);
    await byId('erased');
    await sleep(300);
    assert.equal(gateway.simulator.received.filter((sms) => sms.to === phone).length, 1, 'no receipt reached the phone');
    assert.equal(mailsTo(desk).length, 6, 'no reply mail was drawn by a receipt');
  });

  test('a bounce or read receipt sent from an address without Auto-Submitted (Exchange, forwarders), a plain-text read receipt and an Outlook recall are refused as automatic mail too', async () => {
    const reports: Array<[string, string]> = [
      ['postfix-bounce-from-address', 'it is a bounce or delivery report (multipart/report; report-type=delivery-status)'],
      ['exchange-ndr', 'it is a bounce or delivery report (multipart/report; report-type=delivery-status)'],
      ['outlook-read-receipt-from-address', 'it is a read receipt (multipart/report; report-type=disposition-notification)'],
      ['plain-text-read-receipt', 'it is a read receipt (plain text: "Read:", "was read on")'],
      ['outlook-recall-external', 'it is a recall of an earlier mail (Outlook\'s "Recall:"; an SMS sent cannot be taken back)'],
    ];
    const client = nodemailer.createTransport({ host: '127.0.0.1', port: smtpPort(), secure: false, ignoreTLS: true });
    try {
      for (const [name, reason] of reports) {
        const raw = readFileSync(fileURLToPath(new URL(`../mail/refused/${name}.eml`, import.meta.url)));
        const refused = await client.sendMail({ envelope: { from: 'postmaster@example.com', to: '447700900136@sms.example.com' }, raw }).then(
          () => assert.fail(`${name} must be refused`),
          (error: { response?: string }) => error.response,
        );
        assert.equal(refused, `550 5.7.1 Not sent as SMS: ${reason}`, name);
      }
    } finally {
      client.close();
    }
  });
});
