import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import iconv from 'iconv-lite';
import nodemailer from 'nodemailer';
import { hashPassword } from '../../src/policy/passwords.ts';
import { STORE_FILE } from '../../src/relay.ts';
import { loadMailFixtures } from '../helpers/mail-fixtures.ts';
import { waitFor, relayWithSimulator } from '../helpers/relay.ts';
import { queuedId, SmtpDialog, sendMail } from '../helpers/smtp.ts';
import { signInAt } from '../helpers/console.ts';

/** Real-client mails the relay refuses (test/mail/refused), and the fixtures that are sent. */
const REFUSED = fileURLToPath(new URL('../mail/refused/', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../mail/fixtures/', import.meta.url));

/** What the phone receives from mails that carry relay parameters, drop-in formats and long texts. */
const CONSOLE_PASSWORD = 'correct horse battery';
const CONSOLE_PASSWORD_HASH = await hashPassword(CONSOLE_PASSWORD);

describe('SMTP → SMS text', () => {
  const suite = relayWithSimulator({
    smtp: { maxNumbersPerMail: 3 },
    sms: { domains: ['sms.example.com'], defaultRegion: 'GB' },
    // Where a stored subject is read back: the message's page.
    console: { users: [{ name: 'olivia', passwordHash: CONSOLE_PASSWORD_HASH, role: 'operator' }] },
    text: {
      senders: [
        { match: ['@erp.example.com'], overLength: 'truncate' },
        { match: ['@prepend.example.com'], subject: 'prepend' },
      ],
    },
  });

  const smsTo = (digits: string) => waitFor(`the SMS to ${digits}`, () => suite.gateway.simulator.received.find((sms) => sms.to === digits));
  const pick = (sms: { type: number; text: string }) => [sms.type, sms.text];
  const accepted = async (spec: Parameters<typeof sendMail>[1]) => {
    const { data } = await sendMail(suite.port, spec);
    assert.equal(data?.code, 250, data?.text);
    return data;
  };

  test('UserContext from a header, a subject token, a leading body line and the reply tag; none left in the text', async () => {
    const forms = [
      { to: '447700900101', headers: { 'X-UserContext': 'case-4711' }, body: 'Pump 3 stopped', context: 'case-4711' },
      { to: '447700900102', subject: 'Pump alarm UserContext:PLANT-7', body: '', context: 'PLANT-7', text: 'Pump alarm' },
      { to: '447700900103', body: 'UserContext: 42\r\nPump 3 stopped', context: '42' },
      { to: '447700900104', subject: 'Re: Pump alarm [UserContext: ab12]', body: 'On my way', context: 'ab12' },
    ];
    for (const form of forms)
      await accepted({ to: [`${form.to}@sms.example.com`], subject: form.subject ?? 'alarm', body: form.body, headers: form.headers ?? {} });
    for (const form of forms) {
      const sms = await smsTo(form.to);
      assert.equal(sms.userContext, form.context);
      assert.equal(sms.text, form.text ?? form.body.split('\r\n').at(-1) ?? '');
    }
  });

  test('From:/MaxConcat: inside an ordinary subject are its words, not parameters: the mail is sent, not refused', async () => {
    await accepted({ to: ['447700900113@sms.example.com'], subject: 'Job From:nightly-backup failed', body: 'Backup failed on db1' });
    const alert = await smsTo('447700900113');
    assert.deepEqual([alert.text, alert.from], ['Backup failed on db1', undefined]);
    await accepted({ to: ['447700900114@sms.example.com'], subject: 'Shift moved From:Mon To:Tue', body: '' });
    const shift = await smsTo('447700900114');
    assert.deepEqual([shift.text, shift.from], ['Shift moved From:Mon To:Tue', undefined]);
    await accepted({ to: ['447700900115@sms.example.com'], subject: 'Backup failed From:nightly-backup', body: 'x' });
    assert.equal((await smsTo('447700900115')).from, undefined);
  });

  test('X-SMS-From sets the sender id', async () => {
    await accepted({ to: ['447700900111@sms.example.com'], headers: { 'X-SMS-From': 'Acme' }, body: 'Gate open' });
    assert.equal((await smsTo('447700900111')).from, 'Acme');
  });

  test("X-SMS-From as an RFC 2047 encoded word is decoded; a name with a space is the provider's to take (IntelliSoftware does)", async () => {
    await accepted({ to: ['447700900116@sms.example.com'], headers: { 'X-SMS-From': '=?utf-8?q?Acme_Corp?=' }, body: 'Gate open' });
    assert.equal((await smsTo('447700900116')).from, 'Acme Corp');
  });

  test('an invalid parameter is refused with 554 5.6.0 naming it', async () => {
    const { data } = await sendMail(suite.port, { to: ['447700900112@sms.example.com'], headers: { 'X-UserContext': 'two words' }, body: 'x' });
    assert.equal(data?.code, 554);
    assert.match(data?.text ?? '', /^5\.6\.0 Invalid UserContext "two words" in the x-usercontext header/);
  });

  test('a refused parameter is quoted as written, beyond ASCII by code point: never folded into a value its rule would take', async () => {
    const refusals = [
      [{ 'X-UserContext': 'café-42' }, 'Invalid UserContext "cafU+00E9-42" in the x-usercontext header: expected ASCII letters'],
      [{ 'X-UserContext': 'tïcket42' }, 'Invalid UserContext "tU+00EFcket42" in the x-usercontext header'],
      [{ 'X-SMS-From': 'Café' }, 'Invalid sender id "CafU+00E9" in the x-sms-from header: expected printable ASCII'],
      // Fullwidth digits: Date.parse does not read them, and the reply must not show them folded into a date it would.
      [
        { 'X-SMS-Send-At': '\uff12\uff10\uff12\uff16-11-24T08:00:00+01:00' },
        'Invalid X-SMS-Send-At "U+FF12U+FF10U+FF12U+FF16-11-24T08:00:00+01:00": expected a date',
      ],
    ] as const;
    for (const [headers, words] of refusals) {
      const { data } = await sendMail(suite.port, { to: ['447700900119@sms.example.com'], headers, body: 'x' });
      assert.equal(data?.code, 554, data?.text);
      assert.equal(data?.text.startsWith(`5.6.0 ${words}`), true, data?.text);
    }
    // A subject token the drop-in does not know: `Tö:` is not `To:`.
    const { data } = await sendMail(suite.port, { to: ['sendsms@sms.example.com'], subject: 'To:447700900119 Tö:447700900118', body: 'x' });
    assert.equal(data?.code, 554, data?.text);
    assert.equal(data?.text.startsWith('5.6.0 Unknown parameter "TU+00F6:447700900118" in the subject'), true, data?.text);
  });

  test('parameter headers that differ are refused naming them, not joined; the same value repeated is taken', async () => {
    // A header written twice: one header's value with a second header line after it, as on the wire.
    const twice = (name: string, first: string, second: string) => ({ [name]: `${first}\r\n${name}: ${second}` });
    const refusals = [
      [twice('X-UserContext', 'abc', 'def'), 'UserContext values (X-UserContext: abc, X-UserContext: def)'],
      [{ 'X-UserContext': 'abc', UserContext: 'def' }, 'UserContext values (UserContext: def, X-UserContext: abc)'],
      [twice('X-SMS-From', 'Acme', 'Other'), 'sender id values (X-SMS-From: Acme, X-SMS-From: Other)'],
    ] as const;
    for (const [headers, named] of refusals) {
      const { data } = await sendMail(suite.port, { to: ['447700900117@sms.example.com'], headers, body: 'x' });
      assert.equal(data?.code, 554, data?.text);
      assert.equal(data?.text, `5.6.0 The mail's headers give different ${named}: give one`);
    }
    await accepted({ to: ['447700900117@sms.example.com'], headers: { ...twice('X-UserContext', 'abc', 'abc'), UserContext: 'abc' }, body: 'Gate open' });
    assert.equal((await smsTo('447700900117')).userContext, 'abc');
  });

  test('IntelliSoftware drop-in: sendsms@ with the numbers and parameters in the subject; the password is not kept', async () => {
    const data = await accepted({
      to: ['sendsms@sms.example.com'],
      subject: 'Username:acme Password:hunter2 To:447700900121,07700900122 From:Acme UserContext:42',
      body: 'Pump 3 stopped',
    });
    for (const digits of ['447700900121', '447700900122']) {
      const sms = await smsTo(digits);
      assert.deepEqual([sms.text, sms.from, sms.userContext], ['Pump 3 stopped', 'Acme', '42']);
    }
    const db = new BetterSqlite3(join(suite.relay.config.dataDir, STORE_FILE), { readonly: true });
    const row = db.prepare('SELECT subject, headers FROM messages WHERE id = ?').get(queuedId(data)) as { subject: string; headers: string };
    db.close();
    assert.doesNotMatch(`${row.subject}\n${row.headers}`, /hunter2/);
    assert.match(row.subject, /Password:\[redacted\]/);
  });

  test('IntelliSoftware drop-in: a password written with blanks after its colon is kept neither in the stored subject and headers nor on the console page', async () => {
    for (const [subject, digits] of [
      ['Username: acme Password: hunter2 To:447700900941', '447700900941'],
      ['Username: acme Password:\t hunter2 To: 447700900942', '447700900942'],
      ['Username: acme To:447700900943 Password: hunter2', '447700900943'],
    ] as const) {
      const data = await accepted({ to: ['sendsms@sms.example.com'], subject, body: 'Pump 4 stopped' });
      assert.equal((await smsTo(digits)).text, 'Pump 4 stopped');
      const db = new BetterSqlite3(join(suite.relay.config.dataDir, STORE_FILE), { readonly: true });
      const row = db.prepare('SELECT subject, headers FROM messages WHERE id = ?').get(queuedId(data)) as { subject: string; headers: string };
      db.close();
      assert.doesNotMatch(`${row.subject}\n${row.headers}`, /hunter2/, subject);
      assert.match(row.subject, /Password:\s+\[redacted\]/, subject);
      assert.match(row.subject, new RegExp(`To: ?${digits}`), 'the token after the password is kept');
      const base = `http://127.0.0.1:${suite.relay.relay.httpPort}`;
      const page = await (
        await fetch(`${base}/console/messages/${queuedId(data)}`, { headers: { cookie: await signInAt(base, 'olivia', CONSOLE_PASSWORD) } })
      ).text();
      assert.match(page, /Password:\s+\[redacted\]/, subject);
      assert.doesNotMatch(page, /hunter2/, subject);
    }
  });

  test('IntelliSoftware drop-in: an unknown token or a bad number gets a specific refusal', async () => {
    const unknown = await sendMail(suite.port, { to: ['sendsms@sms.example.com'], subject: 'To:447700900123 Hello', body: 'x' });
    assert.equal(unknown.data?.code, 554);
    assert.match(unknown.data?.text ?? '', /^5\.6\.0 Unknown parameter "Hello"/);
    const badNumber = await sendMail(suite.port, { to: ['sendsms@sms.example.com'], subject: 'To:12', body: 'x' });
    assert.equal(badNumber.data?.code, 550);
    assert.match(badNumber.data?.text ?? '', /^5\.1\.3 Bad recipient/);
  });

  test('IntelliSoftware drop-in: numbers written with a space after the comma or inside them are read as numbers, as a RCPT reads them', async () => {
    await accepted({ to: ['sendsms@sms.example.com'], subject: 'To:447700900181, 447700900182 From:Acme', body: 'Comma and space' });
    await accepted({ to: ['sendsms@sms.example.com'], subject: 'To:+44 7700 900183 ; (07700) 900-184', body: 'Spaces inside' });
    for (const digits of ['447700900181', '447700900182', '447700900183', '447700900184']) assert.ok(await smsTo(digits));
    assert.equal((await smsTo('447700900181')).from, 'Acme');
    // A number that is no number is refused as one, never as an unknown parameter.
    const bad = await sendMail(suite.port, { to: ['sendsms@sms.example.com'], subject: 'To:447700900185, 12', body: 'x' });
    assert.equal(bad.data?.code, 550);
    assert.match(bad.data?.text ?? '', /^5\.1\.3 Bad recipient: "12"/);
  });

  test('IntelliSoftware drop-in: To: with a blank before its number is that number; words that could each be a number are refused, never joined into another', async () => {
    await accepted({ to: ['sendsms@sms.example.com'], subject: 'To: 447700900186 From:Acme', body: 'Blank after the colon' });
    assert.equal((await smsTo('447700900186')).text, 'Blank after the colon');
    // Two short codes (joined, a valid number of another country) and two whole numbers: the writer meant several, or mistyped.
    for (const written of ['81234 85678', '447700900187 447700900188']) {
      const refused = await sendMail(suite.port, { to: ['sendsms@sms.example.com'], subject: `To:${written}`, body: 'x' });
      assert.equal(refused.data?.code, 550, written);
      assert.equal(
        refused.data?.text,
        `5.1.3 Bad recipient: "${written}" could be 2 numbers or one: write each number without blanks, and "," between numbers`,
      );
    }
  });

  test('IntelliSoftware drop-in: From:, UserContext:, MaxConcat: with a blank after the colon take the next word, as To: does; one with no value is named', async () => {
    await accepted({ to: ['sendsms@sms.example.com'], subject: 'To:447700900290 From: Acme UserContext: 42 MaxConcat: 2', body: 'Blank after the colons' });
    const sms = await smsTo('447700900290');
    assert.deepEqual([sms.text, sms.from, sms.userContext], ['Blank after the colons', 'Acme', '42']);
    await accepted({ to: ['sendsms@sms.example.com'], subject: 'Username: acme Password: hunter2 To:447700900291', body: 'Ignored ones too' });
    assert.equal((await smsTo('447700900291')).text, 'Ignored ones too');
    for (const [subject, token] of [
      ['To:447700900292 From:', 'From:'],
      ['To:447700900292 UserContext: To:447700900293', 'UserContext:'],
      ['From: To:447700900292', 'From:'],
    ] as const) {
      const refused = await sendMail(suite.port, { to: ['sendsms@sms.example.com'], subject, body: 'x' });
      assert.equal(refused.data?.code, 554, subject);
      assert.equal(refused.data?.text, `5.6.0 "${token}" in the subject has no value: write its value after the colon (${token}<value>)`);
    }
  });

  test('IntelliSoftware drop-in: an empty body is refused as empty, not as a mail without a subject (its subject holds the parameters)', async () => {
    for (const body of ['', '   \r\n']) {
      const refused = await sendMail(suite.port, { to: ['sendsms@sms.example.com'], subject: 'To:447700900294 From:Acme', body });
      assert.equal(refused.data?.code, 554);
      assert.match(refused.data?.text ?? '', /^5\.6\.0 The mail has no text to send as SMS: the body is empty \(a mail to the subject address/);
      assert.doesNotMatch(refused.data?.text ?? '', /no subject/);
    }
  });

  test('IntelliSoftware drop-in: more numbers in the subject than a mail may take are refused for good at end of DATA (the client cannot split them)', async () => {
    const { data } = await sendMail(suite.port, {
      to: ['sendsms@sms.example.com'],
      subject: 'To:447700900191,447700900192,447700900193,447700900194',
      body: 'x',
    });
    assert.equal(data?.code, 554);
    assert.match(
      data?.text ?? '',
      /^5\.6\.0 Too many phone numbers: this mail would go to more than 3 \(smtp\.maxNumbersPerMail\): split the numbers over several mails$/,
    );
  });

  test("Puzzel's <number>-<serviceId>@domain, with no Puzzel account to send through, is told to write the number alone (recipients-written: through Puzzel)", async () => {
    const { rcpt } = await sendMail(suite.port, { to: ['447700900131-1000@sms.example.com'], body: 'Via Puzzel address' });
    assert.equal(
      `${rcpt[0]?.code} ${rcpt[0]?.text}`,
      '550 5.1.3 Bad recipient: "447700900131-1000" is not a phone number: write the number alone, without "-1000"',
    );
  });

  test('an over-long mail is refused at end of DATA with its length and the limit', async () => {
    const { data } = await sendMail(suite.port, { to: ['447700900141@sms.example.com'], body: 'x'.repeat(1000) });
    assert.equal(data?.code, 554);
    assert.equal(data?.text, '5.3.4 Text too long: 1000 GSM-7 septets need 7 SMS parts; the limit is 6 parts, which hold the first 918 characters');
    const euros = await sendMail(suite.port, { to: ['447700900145@sms.example.com'], body: '€'.repeat(459) });
    // A part holds 76 €: 152 septets, since it never splits one's two.
    assert.equal(euros.data?.text, '5.3.4 Text too long: 918 GSM-7 septets need 7 SMS parts; the limit is 6 parts, which hold the first 456 characters');
    // A body past what the text rules read (MAX_READ_CHARS) is refused for what they read, and says the rest was not.
    const huge = await sendMail(suite.port, { to: ['447700900969@sms.example.com'], body: `${'hello world '.repeat(6)}\r\n`.repeat(20_000) });
    assert.match(
      huge.data?.text ?? '',
      /^5\.3\.4 Text too long: its first 131072 characters alone \(the rest was not read\) give 1\d{5} GSM-7 septets need \d+ SMS parts; the limit is 6 parts/,
    );
    // An alert's first line above one line that crosses the bound (a log or JSON): cut within that line, not sent as the first line alone.
    const alert = await sendMail(suite.port, {
      to: ['447700900968@sms.example.com'],
      body: `CRITICAL: db1 disk full\r\n${JSON.stringify({ host: 'db1', detail: 'x'.repeat(140_000) })}\r\n`,
    });
    assert.equal(alert.data?.code, 554, alert.data?.text);
    assert.match(alert.data?.text ?? '', /^5\.3\.4 Text too long: its first 131072 characters alone \(the rest was not read\) give 1310\d\d GSM-7 septets/);
  });

  test('a mail whose text is sent though the body ran past what the text rules read: the 250 says the rest was not read', async () => {
    const quote = Array.from({ length: 3_000 }, (_, at) => `> line ${at} of the quoted report: disk usage at ${at % 100}%`).join('\r\n');
    const reply = await accepted({
      to: ['447700900967@sms.example.com'],
      subject: 'Re: Disk',
      headers: { 'In-Reply-To': '<a@example.com>' },
      body: `Restarted db1, all fine.\r\n\r\nOn Mon, 7 Dec 2026, Bob <bob@example.com> wrote:\r\n${quote}\r\n`,
    });
    assert.match(reply?.text ?? '', /\(only the body's first 131072 characters were read: the rest was not sent\)$/);
    assert.equal((await smsTo('447700900967')).text, 'Restarted db1, all fine.');
  });

  test("X-SMS-Max-Parts lowers the limit and is sent as maxconcat; above the relay limit the relay's limit applies and the 250 says so", async () => {
    const tooLong = await sendMail(suite.port, { to: ['447700900142@sms.example.com'], headers: { 'X-SMS-Max-Parts': '1' }, body: 'y'.repeat(161) });
    assert.equal(tooLong.data?.text, '5.3.4 Text too long: 161 GSM-7 septets need 2 SMS parts; the limit is 1 part, which holds the first 160 characters');
    await accepted({ to: ['447700900143@sms.example.com'], headers: { 'X-SMS-Max-Parts': '2' }, body: 'z'.repeat(200) });
    assert.equal((await smsTo('447700900143')).maxconcat, 2);
    const above = await accepted({ to: ['447700900144@sms.example.com'], headers: { 'X-SMS-Max-Parts': '9' }, body: 'z' });
    assert.match(above?.text ?? '', /\(the mail asked for at most 9 parts; this relay sends at most 6, so that limit applies\)$/);
    assert.equal((await smsTo('447700900144')).maxconcat, 6);
    const subject = await accepted({ to: ['447700900145@sms.example.com'], subject: 'Disk full MaxConcat:255', body: 'z' });
    assert.match(subject?.text ?? '', /asked for at most 255 parts; this relay sends at most 6/);
    assert.equal((await smsTo('447700900145')).maxconcat, 6);
    const zero = await sendMail(suite.port, { to: ['447700900146@sms.example.com'], headers: { 'X-SMS-Max-Parts': '0' }, body: 'z' });
    assert.equal(zero.data?.code, 554);
    assert.match(zero.data?.text ?? '', /^5\.6\.0 Invalid maximum parts "0" in the x-sms-max-parts header: expected a whole number from 1 to 999/);
  });

  test('a sender whose policy says truncate gets its text cut with "..." and told so in the 250', async () => {
    const data = await accepted({ from: 'reports@erp.example.com', to: ['447700900151@sms.example.com'], body: 'w'.repeat(1000) });
    assert.match(data?.text ?? '', /\(text cut from 7 to 6 parts by policy\)$/);
    const sms = await smsTo('447700900151');
    assert.equal(sms.text, `${'w'.repeat(915)}...`);
    const one = await accepted({
      from: 'reports@erp.example.com',
      to: ['447700900152@sms.example.com'],
      headers: { 'X-SMS-Max-Parts': '1' },
      body: 'v'.repeat(1000),
    });
    assert.match(one?.text ?? '', /\(text cut from 7 to 1 part by policy\)$/);
  });

  test("a sender whose policy prepends the subject, its body all removed (punctuation, a device line), is told only the subject was sent, not that it went in the body's place", async () => {
    const subject = 'ALERT db1 disk 95% full';
    const bodies: Array<[string, string, string]> = [
      ['447700900276', '.', 'punctuation'],
      ['447700900277', 'Sent from my iPhone', 'a device line'],
    ];
    for (const [digits, body, held] of bodies) {
      const data = await accepted({ from: 'ops@prepend.example.com', to: [`${digits}@sms.example.com`], subject, body });
      assert.match(data?.text ?? '', new RegExp(`\\(the body held only ${held}: only the subject was sent\\)$`), body);
      assert.equal((await smsTo(digits)).text, subject, body);
    }
    const data = await accepted({ from: 'ops@prepend.example.com', to: ['447700900278@sms.example.com'], subject, body: 'Free 2 GB on /var' });
    assert.doesNotMatch(data?.text ?? '', /the body held only/);
    assert.equal((await smsTo('447700900278')).text, `${subject}\nFree 2 GB on /var`);
  });

  test('X-SMS-Send-At holds the SMS until then (IntelliSoftware cannot schedule, so the relay does)', async () => {
    const sendAt = new Date(Date.now() + 1_500);
    const before = Date.now();
    await accepted({ to: ['447700900171@sms.example.com'], headers: { 'X-SMS-Send-At': sendAt.toISOString() }, body: 'Good morning' });
    await smsTo('447700900171');
    assert.ok(Date.now() - before >= 1_400, 'not sent before its time');
    const bad = await sendMail(suite.port, { to: ['447700900172@sms.example.com'], headers: { 'X-SMS-Send-At': 'tomorrow' }, body: 'x' });
    assert.match(bad.data?.text ?? '', /^5\.6\.0 Invalid X-SMS-Send-At "tomorrow": expected a date with a time zone/);
  });

  test('a sender id the gateway cannot show is refused at the SMTP stage, saying why', async () => {
    const { data } = await sendMail(suite.port, { to: ['447700900173@sms.example.com'], headers: { 'X-SMS-From': 'Acme&Co' }, body: 'x' });
    assert.equal(data?.code, 554);
    assert.match(data?.text ?? '', /^5\.6\.0 Invalid sender id: IntelliSoftware takes a sender id of up to 11 letters, digits and spaces/);
  });

  test("a Messaging Service SID as sender id is refused with the provider's words where the provider does not take one", async () => {
    const { data } = await sendMail(suite.port, { to: ['447700900174@sms.example.com'], headers: { 'X-SMS-From': `MG${'ab'.repeat(16)}` }, body: 'x' });
    assert.equal(data?.code, 554);
    assert.match(data?.text ?? '', /^5\.6\.0 Invalid sender id: IntelliSoftware takes a sender id of up to 11 letters, digits and spaces/);
  });

  test('UCS-2 text reaches the gateway as type 2 and arrives intact', async () => {
    await accepted({ to: ['447700900161@sms.example.com'], body: 'Thumbs 👍🏽 family 👨‍👩‍👧‍👦 会议改到三点' });
    const sms = await smsTo('447700900161');
    assert.deepEqual([sms.type, sms.text], [2, 'Thumbs 👍🏽 family 👨‍👩‍👧‍👦 会议改到三点']);
  });

  test('a body that shows nothing (zero-width space, soft hyphen, BOM and word joiner, bidi marks; in HTML too) is empty: the subject is sent', async () => {
    const html = { 'Content-Type': 'text/html; charset=utf-8' };
    const bodies: Array<[string, string, Record<string, string>?]> = [
      ['447700900241', '\u200b'],
      ['447700900242', '\u00ad'],
      ['447700900243', '\ufeff\u2060'],
      ['447700900244', '\u200e\r\n\u200f'],
      ['447700900245', '<html><body><div style="display:none">preheader</div>&zwnj;&shy;&#8203;</body></html>', html],
    ];
    for (const [digits, body, headers] of bodies) await accepted({ to: [`${digits}@sms.example.com`], subject: 'Real subject', body, headers });
    for (const [digits] of bodies) assert.deepEqual(pick(await smsTo(digits)), [1, 'Real subject'], digits);
    const blank = await sendMail(suite.port, { to: ['447700900246@sms.example.com'], subject: '\u200f', body: '\u200e' });
    assert.match(blank.data?.text ?? '', /^5\.6\.0 The mail has no text to send as SMS: the body is empty and the mail has no subject$/);
  });

  test('decomposed accents, invisible format characters and line separators do not make a text UCS-2', async () => {
    await accepted({ to: ['447700900247@sms.example.com'], body: 'Cafe\u0301 \u200eprice\u200f 10 \u20ac\u2028next\u2060line' });
    assert.deepEqual(pick(await smsTo('447700900247')), [1, 'Café price 10 €\nnextline']);
  });

  /** A mail exactly as a legacy system writes it (bare LF, 8-bit bytes), CRLF on the wire: the final reply. */
  const sendRaw = async (digits: string, raw: Buffer) => {
    const dialog = await SmtpDialog.open(suite.port);
    try {
      await dialog.command('EHLO legacy.example.com');
      await dialog.command('MAIL FROM:<alice@example.com>');
      await dialog.command(`RCPT TO:<${digits}@sms.example.com>`);
      assert.equal((await dialog.command('DATA')).code, 354);
      dialog.write(Buffer.concat([Buffer.from(raw.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1'), Buffer.from('.\r\n')]));
      return await dialog.reply();
    } finally {
      await dialog.close();
    }
  };

  test('8-bit text without a (valid) charset reaches the phone as windows-1252, never as U+FFFD', async () => {
    const mails: Array<[string, string, string]> = [
      ['447700900201', 'Subject: s\n\nCaf\xe9 cr\xe8me\n', 'Café crème'],
      ['447700900202', 'Subject: St\xf6rung\n\n', 'Störung'],
      ['447700900203', 'Content-Type: text/plain; charset=utf-8\n\nPreis: 5 \x80\n', 'Preis: 5 €'],
    ];
    for (const [digits, raw] of mails) assert.equal((await sendRaw(digits, Buffer.from(raw, 'latin1'))).code, 250);
    for (const [digits, , text] of mails) assert.equal((await smsTo(digits)).text, text);
  });

  test('a UTF-8 template filled with Latin-1 data (PHP, ERP) keeps its UTF-8 characters: only the bytes that are not UTF-8 are windows-1252', async () => {
    const mixed = (utf8: string, latin1: string) => Buffer.concat([Buffer.from(utf8), Buffer.from(latin1, 'latin1')]);
    const body = mixed('Bestellung für Kunde: ', 'Jürgen Müller, Größe L \x93A\x94 5 \x80\n');
    const mails: Array<[string, Buffer, string]> = [
      [
        '447700900261',
        Buffer.concat([Buffer.from('Subject: x\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n'), body]),
        'labelled utf-8',
      ],
      ['447700900262', Buffer.concat([Buffer.from('Subject: x\n\n'), body]), 'no MIME headers'],
      ['447700900263', Buffer.concat([Buffer.from('Subject: '), mixed('Bestellung für ', 'Müller, Größe L'), Buffer.from('\n\n')]), 'raw subject'],
    ];
    for (const [digits, raw, name] of mails) assert.equal((await sendRaw(digits, raw)).code, 250, name);
    for (const [digits, , name] of mails.slice(0, 2)) {
      assert.deepEqual(pick(await smsTo(digits)), [1, 'Bestellung für Kunde: Jürgen Müller, Größe L "A" 5 €'], name);
    }
    assert.deepEqual(pick(await smsTo('447700900263')), [1, 'Bestellung für Müller, Größe L']);
  });

  test('a UTF-8 text of another script, or with an emoji, keeps its characters beside a Latin-1 byte or two: UTF-8 sequences back to back are no Latin-1', async () => {
    const mixed = (utf8: string, latin1: string) => Buffer.concat([Buffer.from(utf8), Buffer.from(latin1, 'latin1')]);
    const mails: Array<[string, Buffer, string]> = [
      ['447700900264', mixed('Сервер упал: ', 'Müller\n'), 'Сервер упал: Müller'],
      ['447700900265', mixed('🔥 Kühlung: ', 'Jürgen\n'), '🔥 Kühlung: Jürgen'],
    ];
    for (const [digits, body, text] of mails) {
      assert.equal((await sendRaw(digits, Buffer.concat([Buffer.from('Subject: x\n\n'), body]))).code, 250, text);
      assert.equal((await smsTo(digits)).text, text);
    }
  });

  test('windows-1252 text whose letters and symbols happen to form UTF-8 sequences (ß“, é and a no-break space before », Ö²) is windows-1252 throughout, not NKo, CJK or Hebrew', async () => {
    const mails: Array<[string, string, string]> = [
      ['447700900266', 'Résumé: „Viel Spaß“ beim Ausflug. Grüße', 'Résumé: "Viel Spaß" beim Ausflug. Grüße'],
      ['447700900267', 'Maß… Grüße', 'Maß... Grüße'],
      ['447700900268', 'Café\u00a0» à bientôt', 'Café » à bientôt'],
      ['447700900269', 'ß° Ö² Ü³ für', 'ß° Ö² Ü³ für'],
    ];
    const cp1252 = (text: string) => iconv.encode(text, 'windows-1252');
    for (const [digits, written, text] of mails) {
      const body = Buffer.concat([Buffer.from('Subject: x\nContent-Type: text/plain; charset=utf-8\n\n'), cp1252(written), Buffer.from('\n')]);
      assert.equal((await sendRaw(digits, body)).code, 250, written);
      assert.equal((await smsTo(digits)).text, text);
    }
    const subject = Buffer.concat([Buffer.from('Subject: '), cp1252('„Spaß“ für Müller'), Buffer.from('\n\n')]);
    assert.equal((await sendRaw('447700900270', subject)).code, 250);
    assert.equal((await smsTo('447700900270')).text, '"Spaß" für Müller');
  });

  test('UTF-16 sent as 8-bit lines, each LF byte made CR LF on the way (PowerShell Out-File through an MTA), is read as written: LE and BE, by BOM or label', async () => {
    // sendRaw puts a CR before every LF byte, as Postfix's sendmail does: in a line break's 0A 00 and in a character's own 0A byte (ਪ, Ċ).
    const lines = 'Backup report SRV-BACKUP01\r\nJob: Daily\r\nResult: Failed ਪੰਜਾਬ Ċ\r\n';
    const be = (text: string) => Buffer.from(text, 'utf16le').swap16();
    const mails: Array<[string, string, Buffer, string]> = [
      ['447700900251', '', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(lines, 'utf16le')]), 'BOM, LE'],
      ['447700900252', '', Buffer.concat([Buffer.from([0xfe, 0xff]), be(lines)]), 'BOM, BE'],
      ['447700900253', 'Content-Type: text/plain; charset=utf-16le\n', Buffer.from(lines, 'utf16le'), 'utf-16le label'],
      ['447700900254', 'Content-Type: text/plain; charset=UTF-16BE\n', be(lines), 'utf-16be label'],
      [
        '447700900255',
        'Content-Type: text/plain; charset=utf-8\n',
        Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('Backup failed', 'utf16le')]),
        'one line',
      ],
    ];
    for (const [digits, header, text, name] of mails) {
      const reply = await sendRaw(digits, Buffer.concat([Buffer.from(`Subject: Backup report\n${header}\n`), text, Buffer.from('\n')]));
      assert.equal(reply.code, 250, `${name}: ${reply.text}`);
    }
    for (const [digits, , , name] of mails.slice(0, 4)) {
      assert.deepEqual(pick(await smsTo(digits)), [2, 'Backup report SRV-BACKUP01\nJob: Daily\nResult: Failed ਪੰਜਾਬ Ċ'], name);
    }
    assert.deepEqual(pick(await smsTo('447700900255')), [1, 'Backup failed']);
  });

  test('UTF-16 in base64 or quoted-printable is read as written: Malayalam and Sinhala, whose code units hold the bytes 0D 0A, keep every character', async () => {
    // A Malayalam or Sinhala letter (U+0D00–U+0DFF) before a line feed is 0D 0A in UTF-16LE, and Malayalam's ഊ (U+0D0A) is in UTF-16BE.
    const malayalam = 'സെർവർ പ്രവർത്തനരഹിതം\nബാക്കപ്പ് പരാജയപ്പെട്ടു\n';
    const sinhala = 'සේවාදායකය අක්‍රියයි\nඋපස්ථය අසාර්ථකයි\n';
    const le = (text: string) => Buffer.from(text, 'utf16le');
    const be = (text: string) => Buffer.from(text, 'utf16le').swap16();
    const withBom = (mark: number[], text: Buffer) => Buffer.concat([Buffer.from(mark), text]);
    const base64 = (text: Buffer) => `Content-Transfer-Encoding: base64\n\n${text.toString('base64').replace(/.{76}/g, '$&\n')}\n`;
    const quotedPrintable = (text: Buffer) =>
      `Content-Transfer-Encoding: quoted-printable\n\n${[...text]
        .map((byte) => `=${byte.toString(16).toUpperCase().padStart(2, '0')}`)
        .join('')
        .replace(/.{72}/g, '$&=\n')}\n`;
    const mails: Array<[string, string, string, string]> = [
      ['447700900271', 'utf-16', base64(withBom([0xff, 0xfe], le(malayalam))), malayalam],
      ['447700900272', 'utf-16', base64(withBom([0xff, 0xfe], le(sinhala))), sinhala],
      ['447700900273', 'utf-16le', base64(le(sinhala)), sinhala],
      ['447700900274', 'utf-16', base64(withBom([0xfe, 0xff], be('ഊർജം'))), 'ഊർജം'],
      ['447700900275', 'utf-16le', quotedPrintable(le(malayalam)), malayalam],
    ];
    for (const [digits, charset, body] of mails) {
      const reply = await sendRaw(digits, Buffer.from(`Subject: Report\nMIME-Version: 1.0\nContent-Type: text/plain; charset=${charset}\n${body}`));
      assert.equal(reply.code, 250, `${digits}: ${reply.text}`);
    }
    for (const [digits, , , text] of mails) assert.deepEqual(pick(await smsTo(digits)), [2, text.trim()], digits);
  });

  test('a base64 text part with lines that are not base64 is refused as unreadable, not sent as garbage', async () => {
    const raw = 'Subject: s\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\nSGVsbG8g\n*** garbage ***\nd29ybGQ=\n';
    const reply = await sendRaw('447700900204', Buffer.from(raw));
    assert.equal(reply.code, 554);
    assert.equal(reply.text, '5.6.0 The mail cannot be read: line 2 of its base64 text part is not base64 (the part is corrupt)');
  });

  test('encrypted mail and TNEF-only mail are refused at end of DATA as unreadable, saying why, not sent as their subject', async () => {
    const mails: Array<[string, string]> = [
      ['thunderbird-pgpmime-encrypted', 'it is encrypted (PGP/MIME); send it unencrypted to this address'],
      ['smime-encrypted', 'it is encrypted (S/MIME, smime.p7m); send it unencrypted to this address'],
      [
        'smime-opaque-signed',
        'it is signed with no readable copy (S/MIME opaque signing, smime.p7m); send it clear-signed to this address (a detached signature, multipart/signed)',
      ],
      [
        'smime-without-type',
        'it is encrypted, or signed with no readable copy (S/MIME, smime.p7m); send it unencrypted, or clear-signed (multipart/signed), to this address',
      ],
      ['pgp-inline-encrypted', 'it is encrypted (inline PGP); send it unencrypted to this address'],
      ['exchange-tnef-only', "it is only in Outlook's rich text format (winmail.dat, TNEF); send it as HTML or plain text"],
    ];
    for (const [index, [name, reason]] of mails.entries()) {
      const reply = await sendRaw(`44770090021${index}`, readFileSync(`${REFUSED}${name}.eml`));
      assert.deepEqual([reply.code, reply.text], [554, `5.6.0 The mail cannot be read: ${reason}`], name);
    }
  });

  test('a signed mail (S/MIME, PGP/MIME) is sent with a 250 that names no attachment: its signature is none', async () => {
    for (const [index, name] of ['outlook-smime-signed', 'thunderbird-pgpmime-signed'].entries()) {
      const reply = await sendRaw(`44770090022${index}`, readFileSync(`${FIXTURES}${name}.eml`));
      assert.equal(reply.code, 250, name);
      assert.match(reply.text, /^2\.6\.0 Ok: queued as [0-9a-f-]{36}$/, name);
    }
  });

  test('HTML nested deeper than a browser reads (MAX_HTML_DEPTH) is sent flattened there, its text whole: no refusal, no recursion overflow', async () => {
    // 20,000 levels overflowed html-to-text's recursion (a 554 after seconds of parsing); 512 is where Blink and WebKit stop.
    for (const [index, tag] of ['div', 'blockquote', 'b'].entries()) {
      const deep = (levels: number) => `${`<${tag}>`.repeat(levels)}Generator ${index} down${`</${tag}>`.repeat(levels)}<p>call Bob</p>`;
      // Twice, within MAX_HTML_CHARS: the text after the first deep part is read at its own depth again.
      const raw = `Subject: s\nContent-Type: text/html\n\n${`<div>${deep(5_000)}</div>`.repeat(2)}\n`;
      const reply = await sendRaw(`44770090096${index}`, Buffer.from(raw));
      assert.equal(reply.code, 250, reply.text);
      const sms = await smsTo(`44770090096${index}`);
      assert.equal(sms.text, Array(2).fill(`Generator ${index} down\n\ncall Bob`).join('\n\n'), tag);
    }
  });

  test('every real-world fixture mail, sent by a real SMTP client, reaches the phone as its expected text', async () => {
    const fixtures = loadMailFixtures();
    const client = nodemailer.createTransport({ host: '127.0.0.1', port: suite.port, secure: false, ignoreTLS: true, pool: true });
    // From 447700900400 on, one number each: the corpus has outgrown two digits (a 13-digit number is no phone number).
    const numbers = fixtures.map((_, index) => `447700${900_400 + index}`);
    // nodemailer makes a bare CR a line break; a cron daemon's MTA (Postfix, sendmail) sends it as it is, as sendRaw does.
    const bareCr = (raw: Buffer) => /\r(?!\n)/.test(raw.toString('latin1'));
    try {
      await Promise.all(
        fixtures.map(({ raw }, index) =>
          bareCr(raw)
            ? sendRaw(numbers[index] ?? '', raw).then((reply) => assert.equal(reply.code, 250, reply.text))
            : client.sendMail({ envelope: { from: 'alice@example.com', to: `${numbers[index]}@sms.example.com` }, raw }),
        ),
      );
    } finally {
      client.close();
    }
    for (const [index, { name, expected }] of fixtures.entries()) {
      const sms = await smsTo(numbers[index] ?? '');
      assert.equal(sms.text, expected.text, name);
      assert.equal(sms.type, expected.encoding === 'gsm7' ? 1 : 2, name);
    }
  });
});
