import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import BetterSqlite3 from 'better-sqlite3';
import { type Config, loadConfig } from '../../src/config/load.ts';
import { type Relay, STORE_FILE, startRelay } from '../../src/relay.ts';
import { maskNumber } from '../../src/sms/numbers.ts';
import { assertNeverLogged, captureLog } from '../helpers/log-lines.ts';
import { relayEnvironment, removeDir, tempDir, waitFor } from '../helpers/relay.ts';
import { SmtpDialog, sendMail } from '../helpers/smtp.ts';

/** Premium-rate numbers written nationally and internationally, and a number where a parameter was expected. */
const PREMIUM_NATIONAL = '09001234567';
const PREMIUM_INTERNATIONAL = '00449001234567';
const NUMBER_AS_PARAMETER = '447700900965';
/** The sender ids the relay lets mails choose: the operator's own words, which the log keeps readable. */
const ALLOWED_SENDER_IDS = '+4477009001*';
/** A number written as a sender id with letters attached or a digit too many. */
const SENDER_ID_NUMBER = '447700900123';
/** One number in full-width and in Arabic-Indic digits, as input methods type them. */
const FULL_WIDTH = '４４７７００９００１２３';
const ARABIC_INDIC = '٤٤٧٧٠٠٩٠٠١٢٣';
/** A number too long to be one, its groups joined by full-width hyphens: refused, and its reason quotes them by code point. */
const FULL_WIDTH_SEPARATED = '+44－7700－9001239';

/** smtp.maxMessageBytes: as many digits as a national number has, which the log's masker would take for one. */
const MAX_MESSAGE_BYTES = 4_194_304;
/** A client outside the trusted networks. */
const OUTSIDER = '127.0.0.2';

/**
 * What the relay's info log and its replies say about refusals (over real SMTP, the log captured):
 * no whole number and no stack for a client's refusal, the relay's own failures at error with their
 * detail and message id, and that detail never in the reply.
 */
describe('refusals in the log and in the reply', () => {
  let relay: Relay;
  let config: Config;
  let dir: string;
  const log = captureLog('info');
  const lines = () => log.lines.map((line) => JSON.parse(line) as Record<string, unknown>);

  before(async () => {
    dir = tempDir();
    ({ config } = loadConfig(
      relayEnvironment(dir, {
        smtp: { trustedNetworks: ['127.0.0.1/32'], maxMessageBytes: MAX_MESSAGE_BYTES },
        sms: { defaultRegion: 'GB', allowedSenderIds: [ALLOWED_SENDER_IDS] },
        store: { busyTimeout: '100ms' },
      }),
      dir,
    ));
    relay = await startRelay(config, log.logger);
  });
  after(async () => {
    await relay.stop();
    removeDir(dir);
  });

  test("a premium-rate number written nationally is named whole in the reply (the client wrote it), masked in the log's reason, without a stack", async () => {
    const sent = await sendMail(relay.smtpPort, { to: [`${PREMIUM_NATIONAL}@sms.localhost`, `${PREMIUM_INTERNATIONAL}@sms.localhost`] });
    for (const reply of sent.rcpt) {
      assert.equal(reply.code, 550);
      assert.match(reply.text, /^5\.7\.1 Recipient refused: \+449001234567 is a premium-rate number; this relay does not text those$/);
    }
    const refused = lines().filter((line) => line.msg === 'smtp: recipient refused');
    assert.equal(refused.length, 2);
    for (const line of refused) {
      assert.equal(line.level, 'info');
      assert.equal(line.code, 'POLICY_DENIED');
      assert.equal(line.err, undefined, 'no stack for a refusal');
      assert.match(String(line.reason), /^Recipient refused: \+4490\*{6}67 is a premium-rate number/);
    }
  });

  test('a recipient refused in a mail that is then accepted is logged under the session id its accepted line carries too', async () => {
    const sent = await sendMail(relay.smtpPort, { to: [`${PREMIUM_NATIONAL}@sms.localhost`, '447700900779@sms.localhost'], body: 'one of two' });
    assert.deepEqual([sent.rcpt.map((reply) => reply.code), sent.data?.code], [[550, 250], 250]);
    const accepted = lines().find((line) => line.msg === 'smtp: mail accepted' && sent.data?.text.includes(String(line.msgId)));
    assert.equal(typeof accepted?.session, 'string');
    const refused = lines().filter((line) => line.msg === 'smtp: recipient refused' && line.session === accepted?.session);
    assert.equal(refused.length, 1, 'one grep for the session finds the refusal and the mail');
  });

  test('an envelope sender that is an SMS address is masked in the info log of its mail', async () => {
    const sent = await sendMail(relay.smtpPort, { from: '447700900777@sms.localhost', to: ['447700900778@sms.localhost'], body: 'from a phone' });
    assert.equal(sent.data?.code, 250);
    const accepted = lines().find((line) => line.msg === 'smtp: mail accepted' && String(line.from).endsWith('@sms.localhost'));
    assert.equal(accepted?.from, '4477******77@sms.localhost');
    assertNeverLogged(log.lines, { 'the sender number': '447700900777' });
  });

  test('a Reply-To at the SMS domain is masked in the info line of the mailbox note, as the 250 names it to the writer only', async () => {
    const sent = await sendMail(relay.smtpPort, {
      to: ['447700900781@sms.localhost'],
      body: 'reply to a phone',
      headers: { 'Reply-To': '447700900782@sms.localhost' },
    });
    assert.equal(sent.data?.code, 250);
    assert.match(sent.data?.text ?? '', /the Reply-To 447700900782@sms\.localhost is at this relay's SMS domain/);
    const noted = lines().findLast((line) => String(line.msg).startsWith("acceptance: the mail's headers name no mailbox"));
    assert.match(String(noted?.note), /^the Reply-To 4477\*{6}82@sms\.localhost is at this relay's SMS domain/);
    assertNeverLogged(log.lines, { 'the Reply-To number': '447700900782' });
  });

  test('a UK 070 personal number is refused by its own name, not as premium-rate; a short code of the default region as one', async () => {
    const personal = await sendMail(relay.smtpPort, { to: ['+447000123456@sms.localhost'] });
    assert.equal(personal.rcpt[0]?.code, 550);
    assert.match(
      personal.rcpt[0]?.text ?? '',
      /^5\.7\.1 Recipient refused: \+447000123456 is a personal \(follow-me\) number, charged to the sender at up to premium rates; this relay does not text those$/,
    );
    const short = await sendMail(relay.smtpPort, { to: ['81025@sms.localhost', '112@sms.localhost'] });
    assert.deepEqual(
      short.rcpt.map((reply) => [reply.code, reply.text]),
      [
        [550, '5.1.3 Bad recipient: "81025" is a short code or emergency number in United Kingdom, not a phone number: it cannot be texted'],
        [550, '5.1.3 Bad recipient: "112" is a short code or emergency number in United Kingdom, not a phone number: it cannot be texted'],
      ],
    );
  });

  test('a sendsms refusal is logged at info with its reason masked and no stack', async () => {
    const unknown = await sendMail(relay.smtpPort, { to: ['sendsms@sms.localhost'], subject: `To:447700900964 Ref:${NUMBER_AS_PARAMETER}`, body: 'x' });
    assert.match(unknown.data?.text ?? '', /^5\.6\.0 Unknown parameter/);
    const premium = await sendMail(relay.smtpPort, {
      from: 'ups-447700900777@example.com',
      to: ['sendsms@sms.localhost'],
      subject: `To:${PREMIUM_NATIONAL}`,
      body: 'x',
    });
    assert.equal(premium.data?.code, 550, premium.data?.text);
    const refused = lines().filter((line) => line.msg === 'smtp: mail refused');
    // Who sent it, the sender's number masked as at info: made only for a refusal's line (intake's onData).
    assert.deepEqual(
      refused.map((line) => [typeof line.session, line.client, line.from]),
      [
        ['string', '127.0.0.1', 'alice@example.com'],
        ['string', '127.0.0.1', 'ups-4477******77@example.com'],
      ],
    );
    assert.deepEqual(
      refused.map((line) => [line.level, line.code, line.err]),
      [
        ['info', 'BAD_PARAMETER', undefined],
        ['info', 'POLICY_DENIED', undefined],
      ],
    );
    assert.match(String(refused[0]?.reason), /^Unknown parameter "Ref:4477\*{6}65" in the subject/);
    assert.match(String(refused[0]?.msgId), /^[0-9a-f-]{36}$/);
  });

  test('a mail whose header section is over 1 MiB is refused for good (552 5.3.4), logged as a refusal without a stack', async () => {
    const long = Array.from({ length: 1_100_000 / 73 }, () => 'z'.repeat(70)).join('\r\n\t');
    const sent = await sendMail(relay.smtpPort, { to: ['447700900123@sms.localhost'], headers: { 'X-Long': long }, body: 'body text' });
    assert.equal(sent.data?.code, 552);
    assert.equal(
      sent.data?.text,
      '5.3.4 Message too big: a header section is over 1 MiB or 16384 lines, more than the relay reads; send the mail with fewer or shorter header fields',
    );
    const refused = lines().filter((line) => line.msg === 'smtp: mail refused' && line.code === 'MESSAGE_TOO_BIG');
    assert.deepEqual(
      refused.map((line) => [line.level, line.err]),
      [['info', undefined]],
    );
  });

  test("a refused recipient without digits (the postmaster) reads as written in the log, and so does the relay's own wording of the reason", async () => {
    const dialog = await SmtpDialog.open(relay.smtpPort);
    await dialog.command('EHLO client.example.com');
    await dialog.command('MAIL FROM:<alerts@example.com>');
    assert.equal((await dialog.command('RCPT TO:<447700900124@sms.localhost>')).code, 250);
    const postmaster = await dialog.command('RCPT TO:<postmaster@sms.localhost>');
    await dialog.close();
    assert.equal(postmaster.code, 452);
    const refused = lines().find((line) => line.msg === 'smtp: recipient refused' && line.code === 'TOO_MANY_NUMBERS');
    assert.equal(refused?.rcpt, 'postmaster@sms.localhost');
    assert.equal(refused?.reason, "Too many recipients: this mail goes to phone numbers; send the postmaster's copy in a mail of its own");
    const numberAsWord = await sendMail(relay.smtpPort, { to: ['4477oo900125@sms.localhost'] });
    assert.equal(numberAsWord.rcpt[0]?.code, 550);
    const masked = lines().find((line) => line.msg === 'smtp: recipient refused' && String(line.rcpt).endsWith('@sms.localhost') && line.code === 'BAD_NUMBER');
    assert.doesNotMatch(String(masked?.rcpt), /900125/, 'a local part with digits is masked still');
  });

  test('a number refused for an invisible character in it (a zero-width space, a soft hyphen, a word joiner, a ZWJ) is masked in the log as one number, those characters and their code points counted as part of it', async () => {
    const written = ['07700\u200b900123', '447700900\u00ad123', '4477009001\u206023', '4477\u200d00900123', '\u200e4477\u200b00\u200b900123'];
    // Before the number, around it, between two: no part of a number, and every number masked as without them.
    written.push('\u200b07700900123', '\u{E0031}07700900123', '\u202a+447700900123\u202c');
    const dialog = await SmtpDialog.open(relay.smtpPort);
    await dialog.command('EHLO client.example.com');
    await dialog.command('MAIL FROM:<alerts@example.com> SMTPUTF8');
    for (const number of written) assert.equal((await dialog.command(`RCPT TO:<${number}@sms.localhost>`)).code, 550);
    // Two numbers a ZWSP apart: each masked, not one run of 22 digits left whole as an id.
    assert.equal((await dialog.command('RCPT TO:<07700900123\u200b07700900124@sms.localhost>')).code, 550);
    await dialog.close();
    const refused = lines().filter((line) => line.msg === 'smtp: recipient refused' && /\p{Cf}|U\+/u.test(String(line.rcpt)));
    const two = refused.pop();
    assert.deepEqual(
      [two?.rcpt, two?.reason],
      [
        '0770*****23\u200b0770*****24@sms.localhost',
        'Bad recipient: "0770*****23U+200B0770*****24" holds the invisible character U+200B, and "0770****************24" is too long to be a phone number',
      ],
    );
    assert.equal(refused.length, written.length);
    for (const line of refused) {
      // What a reader sees of the recipient and the reason: without the invisible characters and the code points naming them.
      const seen = JSON.stringify([line.rcpt, line.reason]).replace(/\p{Cf}|\\u[0-9a-f]{4}|U\+[0-9A-F]{4,5}/gu, '');
      assert.doesNotMatch(seen, /\d{5}/, seen);
      assert.match(String(line.rcpt).replace(/\p{Cf}|U\+[0-9A-F]{4}/gu, ''), /^(?:\+?[0-9]{3,4}\*{5,7}[0-9]{1,2})+@sms\.localhost$/);
    }
  });

  test('a client leaving in the middle of DATA is logged at info without a stack, not as an error of the relay', async () => {
    const dialog = await SmtpDialog.open(relay.smtpPort);
    await dialog.command('EHLO client.example.com');
    await dialog.command('MAIL FROM:<alerts@example.com>');
    await dialog.command('RCPT TO:<447700900123@sms.localhost>');
    assert.equal((await dialog.command('DATA')).code, 354);
    dialog.write('Subject: half\r\n\r\nonly the first line');
    await dialog.close();
    const left = await waitFor('the line about the client leaving', () =>
      lines().find((line) => line.msg === 'smtp: client left during DATA; nothing accepted'),
    );
    assert.equal(left.level, 'info');
    assert.equal(left.err, undefined);
    assert.equal(
      lines().find((line) => line.level === 'error'),
      undefined,
    );
  });

  test("a store outage is answered with the catalogue's reason only; its detail is logged with the message id, at info without a stack (the outage's error line is the store's)", async () => {
    // Another process holds the store's write lock: the commit fails with the database's own words.
    const other = new BetterSqlite3(join(config.dataDir, STORE_FILE));
    other.exec('BEGIN IMMEDIATE');
    try {
      const refused = await sendMail(relay.smtpPort, { to: ['447700900124@sms.localhost'], body: 'locked out' });
      assert.equal(refused.data?.code, 451);
      assert.equal(refused.data?.text, '4.3.0 Temporary local problem: the message store is busy, try again in a moment');
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    const failed = lines().find((line) => line.msg === 'smtp: mail refused' && line.code === 'STORE_BUSY');
    assert.equal(failed?.level, 'info');
    assert.match(String(failed?.msgId), /^[0-9a-f-]{36}$/);
    assert.match(String(failed?.reason), /message store is busy \(.*locked/);
    assert.equal(failed?.err, undefined, 'no stack for an expected outcome');
  });

  test('clients that reset their connection during DATA are logged at info without a stack, once a minute with how many since, beside their "client left during DATA" lines', async () => {
    const RESETS = 5;
    // This test's lines only: the suite's other tests log the relay's own failures at error.
    const from = log.lines.length;
    const lines = () => log.lines.slice(from).map((line) => JSON.parse(line) as Record<string, unknown>);
    for (let index = 0; index < RESETS; index++) {
      const dialog = await SmtpDialog.open(relay.smtpPort);
      assert.equal((await dialog.command('EHLO client.example.com')).code, 250);
      assert.equal((await dialog.command('MAIL FROM:<alice@example.com>')).code, 250);
      assert.equal((await dialog.command(`RCPT TO:<44770090060${index}@sms.localhost>`)).code, 250);
      assert.equal((await dialog.command('DATA')).code, 354);
      dialog.write('Subject: x\r\n\r\npart');
      await sleep(50);
      dialog.reset();
    }
    await waitFor(
      'every reset logged as a client that left',
      () => lines().filter((line) => line.msg === 'smtp: client left during DATA; nothing accepted').length === RESETS,
    );
    await sleep(100);
    assert.deepEqual(
      lines().filter((line) => line.level === 'warn' || line.level === 'error'),
      [],
    );
    assert.ok(!log.lines.slice(from).some((line) => line.includes('"stack"')), 'no stack');
    const ended = lines().filter((line) => line.msg === 'smtp: connection ended by the client');
    assert.equal(ended.length, 1, 'one line for all of them within the minute');
    assert.equal(ended[0]?.level, 'info');
    assert.equal(ended[0]?.code, 'ECONNRESET');
    assert.equal(ended[0]?.client, '127.0.0.1');
  });

  test('a sender id refused as invalid that is a number with letters attached or a digit too many is masked in the log, not in the reply', async () => {
    const cutShortByTheProvider = `${SENDER_ID_NUMBER}${'X'.repeat(12)}`;
    const tooLongForAnyProvider = `Tel${SENDER_ID_NUMBER}${'x'.repeat(60)}`;
    for (const senderId of [`${SENDER_ID_NUMBER}X`, `Tel${SENDER_ID_NUMBER}`, `${SENDER_ID_NUMBER}5678`, cutShortByTheProvider, tooLongForAnyProvider]) {
      const sent = await sendMail(relay.smtpPort, { to: ['447700900783@sms.localhost'], body: 'x', headers: { 'X-SMS-From': senderId } });
      assert.equal(sent.data?.code, 554, sent.data?.text);
      assert.ok(sent.data?.text.includes(SENDER_ID_NUMBER), 'the writer is shown the value they gave');
      const refused = lines().findLast((line) => line.msg === 'smtp: mail refused');
      assert.equal(refused?.code, 'BAD_PARAMETER');
      assert.match(String(refused?.reason), /^Invalid sender id[: ].*"[^"]*\*{6,}[^"]*"/);
    }
  });

  test('two X-SMS-From headers that differ are masked in the log; a short sender id not allowed leaves the allowed ids readable', async () => {
    const differing = await sendMail(relay.smtpPort, {
      to: ['447700900784@sms.localhost'],
      body: 'x',
      headers: { 'X-SMS-From': `${SENDER_ID_NUMBER}X\r\nX-SMS-From: Acme` },
    });
    assert.equal(differing.data?.code, 554, differing.data?.text);
    const refusedDiffering = lines().findLast((line) => line.msg === 'smtp: mail refused');
    assert.match(String(refusedDiffering?.reason), /^The mail's headers give different sender id values \(X-SMS-From: 4477\*+\d*X?, X-SMS-From: Acme\)/);
    const short = await sendMail(relay.smtpPort, { to: ['447700900785@sms.localhost'], body: 'x', headers: { 'X-SMS-From': '77' } });
    assert.equal(short.data?.code, 554, short.data?.text);
    const refusedShort = lines().findLast((line) => line.msg === 'smtp: mail refused');
    assert.equal(refusedShort?.code, 'SENDER_ID_REFUSED');
    // The allowed prefix is a number: masked as free text is, but not a second time where the refused `77` occurs in it.
    assert.match(String(refusedShort?.reason), /^Sender id refused: "\*\*" is not a sender id .* \(\+4477\*{4}01\*\);/);
  });

  test("a number written in another script's digits is masked in the log however it is quoted: as written, by code point, mixed with ASCII digits", async () => {
    const written = [`+${FULL_WIDTH}`, `+${ARABIC_INDIC}`, `+44${FULL_WIDTH.slice(2, 6)}900123`];
    const dialog = await SmtpDialog.open(relay.smtpPort);
    await dialog.command('EHLO client.example');
    await dialog.command('MAIL FROM:<a@example.com> SMTPUTF8');
    for (const local of written) assert.equal((await dialog.command(`RCPT TO:<${local}@sms.localhost>`)).code, 550);
    await dialog.command('RSET');
    await dialog.command('MAIL FROM:<a@example.com> SMTPUTF8');
    assert.equal((await dialog.command('RCPT TO:<sendsms@sms.localhost>')).code, 250);
    assert.equal((await dialog.data(`Subject: To:+${FULL_WIDTH}\n\nx`)).code, 550);
    await dialog.close();
    const refused = lines()
      .filter((line) => line.msg === 'smtp: recipient refused' && String(line.rcpt).endsWith('@sms.localhost'))
      .slice(-3);
    assert.deepEqual(
      refused.map((line) => line.rcpt),
      ['+４４７７******２３@sms.localhost', '+٤٤٧٧******٢٣@sms.localhost', '+44７７******23@sms.localhost'],
    );
    assert.match(String(refused[2]?.reason), /"\+44U\+FF17U\+FF17\*{6}23"/);
  });

  test('a RCPT number written with blanks is logged as written, masked, not as the joined number nobody wrote', async () => {
    const dialog = await SmtpDialog.open(relay.smtpPort);
    await dialog.command('EHLO client.example');
    await dialog.command('MAIL FROM:<a@example.com>');
    assert.equal((await dialog.command('RCPT TO:<7700 900 123@sms.localhost>')).code, 501);
    await dialog.close();
    const refused = lines().findLast((line) => line.msg === 'smtp: recipient refused' && String(line.rcpt).endsWith('@sms.localhost'));
    assert.match(String(refused?.rcpt), / /, 'the blanks as written');
    assert.doesNotMatch(String(refused?.rcpt), /900 ?123/, 'masked');
  });

  test('a number whose separators are full-width (or quoted by code point) is masked in the log, at RCPT and in a subject', async () => {
    const dialog = await SmtpDialog.open(relay.smtpPort);
    await dialog.command('EHLO client.example');
    await dialog.command('MAIL FROM:<a@example.com> SMTPUTF8');
    assert.equal((await dialog.command(`RCPT TO:<${FULL_WIDTH_SEPARATED}@sms.localhost>`)).code, 550);
    await dialog.command('RSET');
    await dialog.command('MAIL FROM:<a@example.com> SMTPUTF8');
    assert.equal((await dialog.command('RCPT TO:<sendsms@sms.localhost>')).code, 250);
    assert.equal((await dialog.data(`Subject: To:${FULL_WIDTH_SEPARATED}\n\nx`)).code, 550);
    await dialog.close();
    const refused = lines().filter((line) => /refused/.test(String(line.msg)) && JSON.stringify(line).includes('FF0D'));
    assert.ok(refused.length >= 2, 'both refusals logged');
  });

  test('a user context that is a number is masked in the info lines of its mail and of the reply to it: context, via', async () => {
    for (const [context, to] of [
      ['447700900558', '447700900559'],
      ['07700900556', '447700900557'],
    ] as const) {
      const sent = await sendMail(relay.smtpPort, { to: [`${to}@sms.localhost`], body: 'your ticket', headers: { 'X-UserContext': context } });
      assert.equal(sent.data?.code, 250, sent.data?.text);
      const accepted = lines().find((line) => line.msg === 'smtp: mail accepted' && sent.data?.text.includes(String(line.msgId)));
      assert.equal(accepted?.context, maskNumber(context));
      relay.simulator?.reply(to, 'yes please');
      const received = await waitFor('the reply logged', () =>
        lines().find((line) => line.msg === 'inbound: SMS received and mailed' && line.from === maskNumber(`+${to}`)),
      );
      assert.deepEqual([received.context, received.via], [maskNumber(context), `conversation ${maskNumber(context)}`]);
      assertNeverLogged(log.lines, { 'the context': context.slice(-7) });
    }
  });

  test('ids operators grep for stay whole in the info lines of a mail and of the reply to it: sender, context (after a word and - or _), via; a number after a word and a dash is masked', async () => {
    for (const [from, context, to] of [
      ['noreply-12345678@erp.example.com', 'INC-0012345', '447700900561'],
      ['bounce-1234567-42@lists.example.com', 'ticket-2026120601', '447700900562'],
      ['ip-172-31-22-145@ec2.example.com', 'CRM-0042424242', '447700900563'],
      ['crm@example.com', 'order_1234567', '447700900581'],
      ['crm@example.com', 'po_4500012345', '447700900582'],
    ] as const) {
      const sent = await sendMail(relay.smtpPort, { from, to: [`${to}@sms.localhost`], body: 'your ticket', headers: { 'X-UserContext': context } });
      assert.equal(sent.data?.code, 250, sent.data?.text);
      const accepted = lines().find((line) => line.msg === 'smtp: mail accepted' && sent.data?.text.includes(String(line.msgId)));
      assert.deepEqual([accepted?.from, accepted?.context], [from, context]);
      relay.simulator?.reply(to, 'yes please');
      const received = await waitFor('the reply logged', () =>
        lines().find((line) => line.msg === 'inbound: SMS received and mailed' && line.from === maskNumber(`+${to}`)),
      );
      assert.deepEqual([received.context, received.via], [context, `conversation ${context}`]);
    }
    const sent = await sendMail(relay.smtpPort, { from: 'tel-447700900564@example.com', to: ['447700900565@sms.localhost'], body: 'x' });
    const accepted = lines().find((line) => line.msg === 'smtp: mail accepted' && sent.data?.text.includes(String(line.msgId)));
    assert.equal(accepted?.from, 'tel-4477******64@example.com');
  });

  test('a user context that holds a number behind a word (tel-, phone-, cust_) is masked in the info lines of a mail and of the reply to it, as the console shows it to a viewer', async () => {
    for (const [context, masked, to] of [
      ['tel-447700900558', 'tel-4477******58', '447700900566'],
      ['phone-447700900562', 'phone-4477******62', '447700900567'],
      ['cust_447700900559', 'cust_4477******59', '447700900568'],
    ] as const) {
      const sent = await sendMail(relay.smtpPort, { to: [`${to}@sms.localhost`], body: 'your order', headers: { 'X-UserContext': context } });
      assert.equal(sent.data?.code, 250, sent.data?.text);
      const accepted = lines().find((line) => line.msg === 'smtp: mail accepted' && sent.data?.text.includes(String(line.msgId)));
      assert.equal(accepted?.context, masked);
      relay.simulator?.reply(to, 'yes please');
      const received = await waitFor('the reply logged', () =>
        lines().find((line) => line.msg === 'inbound: SMS received and mailed' && line.from === maskNumber(`+${to}`)),
      );
      assert.deepEqual([received.context, received.via], [masked, `conversation ${masked}`]);
    }
    assert.ok(!lines().some((line) => /0900558|0900562|0900559/.test(JSON.stringify(line))), 'no line names them whole');
  });

  test("numbers run together in a subject's To: are masked in the log's reason whatever their length, as RCPT masks them; the reply quotes them as written", async () => {
    for (const written of ['447700900557447700900558', '4477009005577777777']) {
      const sent = await sendMail(relay.smtpPort, { to: ['sendsms@sms.localhost'], subject: `To:${written}`, body: 'x' });
      assert.equal(sent.data?.code, 550, sent.data?.text);
      assert.match(sent.data?.text ?? '', new RegExp(`^5\\.1\\.3 Bad recipient: "${written}" is too long`));
      const refused = lines().findLast((line) => line.msg === 'smtp: mail refused' && line.code === 'BAD_NUMBER');
      assert.match(String(refused?.reason), new RegExp(`^Bad recipient: "${maskNumber(written).replaceAll('*', '\\*')}" is too long`));
    }
    // Written in full-width digits, the reason quotes them by code point: masked at RCPT and in the subject alike.
    const fullWidth = '４４７７００９００５６７４４７７００９００５６８';
    const dialog = await SmtpDialog.open(relay.smtpPort);
    await dialog.command('EHLO client.example');
    await dialog.command('MAIL FROM:<a@example.com> SMTPUTF8');
    assert.equal((await dialog.command(`RCPT TO:<${fullWidth}@sms.localhost>`)).code, 550);
    await dialog.command('RSET');
    await dialog.command('MAIL FROM:<a@example.com> SMTPUTF8');
    assert.equal((await dialog.command('RCPT TO:<sendsms@sms.localhost>')).code, 250);
    assert.equal((await dialog.data(`Subject: To:${fullWidth}\n\nx`)).code, 550);
    await dialog.close();
    assertNeverLogged(log.lines, { 'the first number': '0900557', 'the second number': '0900558', 'the full-width numbers': 'U+FF10U+FF10U+FF15U+FF16' });
  });

  test('bidi and other unseen characters of a sender are named by code point in the log line, as the reply quotes them', async () => {
    const from = 'ops\u202elanretxe@example.com';
    const sent = await sendMail(relay.smtpPort, { from, mailParams: 'SMTPUTF8', to: ['447700900786@sms.localhost'], body: 'reversed' });
    assert.equal(sent.data?.code, 250, sent.data?.text);
    const line = log.lines.find((text) => text.includes('lanretxe'));
    assert.ok(line?.includes('"from":"opsU+202Elanretxe@example.com"'), line);
    assert.ok(!log.lines.some((text) => /[\u202a-\u202e\u2066-\u2069]/u.test(text)), 'no raw bidi control in the log');
  });

  test("a mail over smtp.maxMessageBytes: the log names the limit whole, as the reply does (the relay's own value is no phone number)", async () => {
    const sent = await sendMail(relay.smtpPort, { to: ['447700900787@sms.localhost'], body: `${'x'.repeat(76)}\n`.repeat(MAX_MESSAGE_BYTES / 70) });
    assert.equal(`${sent.data?.code} ${sent.data?.text}`, `552 5.3.4 Message too big: the limit is ${MAX_MESSAGE_BYTES} bytes`);
    const refused = lines().findLast((line) => line.msg === 'smtp: mail refused' && line.code === 'MESSAGE_TOO_BIG');
    assert.equal(refused?.reason, `Message too big: the limit is ${MAX_MESSAGE_BYTES} bytes`);
  });

  test("a client that writes before the greeting is turned away with the catalogue's 421, logged at info with its address", async () => {
    const eager = await SmtpDialog.open(relay.smtpPort, { localAddress: OUTSIDER, waitForGreeting: false });
    eager.write('HELO bot\r\nMAIL FROM:<a@example.com>\r\n');
    const reply = await eager.reply();
    await eager.close().catch(() => {});
    assert.equal(`${reply.code} ${reply.text}`, '421 4.4.2 The client does not speak SMTP: it wrote before the greeting, or sent HTTP');
    const line = await waitFor('the log line', () => lines().find((each) => each.code === 'NOT_AN_SMTP_CLIENT'));
    assert.deepEqual([line.level, line.msg, line.client], ['info', 'smtp: connection turned away', OUTSIDER]);
  });

  test('no whole number reached the log', () => {
    assertNeverLogged(log.lines, {
      'the national premium number': PREMIUM_NATIONAL.slice(1),
      'the number given as a parameter': NUMBER_AS_PARAMETER,
      'the number in a sender id': SENDER_ID_NUMBER.slice(4),
      'the full-width number': FULL_WIDTH.slice(4),
      'the Arabic-Indic number': ARABIC_INDIC.slice(4),
      'the full-width number by code point': 'U+FF10U+FF10U+FF19',
      'the mixed number by code point': 'U+FF10U+FF10900',
      'the number with full-width separators': '9001239',
    });
  });
});
