import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hashPassword } from '../../src/policy/passwords.ts';
import { RCPT_ADDRESSES_PER_RECIPIENT } from '../../src/smtp/intake.ts';
import { maildirMessages, relayWithSimulator, waitFor } from '../helpers/relay.ts';
import { queuedId, SmtpDialog, sendMail } from '../helpers/smtp.ts';

const PASSWORD = 'correct horse battery';
const PASSWORD_HASH = await hashPassword(PASSWORD);

/** 85 × "long text " is 850 GSM-7 characters: 6 SMS parts of 153. */
const SIX_PARTS = 'long text '.repeat(85);

/**
 * What a mail can never pass is refused for good (5xx), naming the limit and what to change; what a
 * later mail or a later day can take is deferred (4xx), so that the client sends it again.
 */
describe('acceptance limits: permanent when no retry can pass', () => {
  const suite = relayWithSimulator({
    smtp: { trustedNetworks: [] },
    networks: [{ name: 'lab', cidr: ['127.0.0.1/32'], maxRecipients: 3, dailyParts: 14 }],
    sms: {
      domains: ['sms.example.com'],
      lists: {
        'trio@sms.example.com': ['+447700900401', '+447700900402', '+447700900403'],
        'quad@sms.example.com': ['+447700900411', '+447700900412', '+447700900413', '+447700900414'],
      },
    },
  });

  test("a list larger than the sender's limit on its own: 550 5.5.3 naming the list, its size and the limit; one that fits the rest of a mail only: 452", async () => {
    const alone = await sendMail(suite.port, { to: ['quad@sms.example.com'], body: 'hello' });
    assert.equal(
      `${alone.rcpt[0]?.code} ${alone.rcpt[0]?.text}`,
      '550 5.5.3 Too many phone numbers: the list quad@sms.example.com has 4, more than the 3 one mail may go to (maxRecipients of network lab); split the list or raise the limit',
    );
    const withOthers = await sendMail(suite.port, { to: ['447700900421@sms.example.com', 'trio@sms.example.com'], body: 'hello' });
    assert.deepEqual(
      withOthers.rcpt.map((reply) => reply.code),
      [250, 452],
    );
    // Which limit: the sender's, not smtp.maxNumbersPerMail.
    assert.equal(
      withOthers.rcpt[1]?.text,
      '4.5.3 Too many phone numbers: this mail would go to more than 3 (maxRecipients of network lab); send the rest in another mail',
    );
  });

  test('a mail needing more SMS parts than the whole daily budget: 552 5.3.4 with the figures; within the budget but over what is left today: 451', async () => {
    const three = ['447700900431', '447700900432', '447700900433'].map((number) => `${number}@sms.example.com`);
    const never = await sendMail(suite.port, { to: three, body: SIX_PARTS });
    assert.equal(
      `${never.data?.code} ${never.data?.text}`,
      "552 5.3.4 Over the daily budget: this mail needs 18 SMS parts, more than lab's whole budget of 14 a day; send a shorter text or to fewer numbers",
    );
    // 12 parts fit the budget of 14, but not what is left today after these 3 (and any earlier test's).
    const first = await sendMail(suite.port, { to: three, body: 'short' });
    assert.equal(first.data?.code, 250, first.data?.text);
    const later = await sendMail(suite.port, { to: three.slice(0, 2), body: SIX_PARTS });
    assert.equal(later.data?.code, 451, later.data?.text);
    assert.match(later.data?.text ?? '', /^4\.7\.1 Sending limit reached: lab has a budget of 14 SMS parts a day \(\d+ used\); try again later$/);
  });
});

/**
 * `smtp.maxRecipients` counts recipients as the relay means them: a number once however it is
 * written (a repeat is one SMS), a list as one, the postmaster as one. The client defers what is over
 * the limit to a mail of its own, so counting a repeat would text its number twice.
 */
describe('acceptance limits: smtp.maxRecipients counts distinct recipients', () => {
  const MAX_RECIPIENTS = 2;
  const suite = relayWithSimulator({
    smtp: { maxRecipients: MAX_RECIPIENTS },
    sms: {
      domains: ['sms.localhost', 'sms.example.com'],
      lists: { 'pair@sms.example.com': ['+447700900511', '+447700900512'] },
    },
  });

  const received = (number: string, text: string) => suite.gateway.simulator.received.filter((sms) => sms.to === number && sms.text === text);

  test('a number written another way is a repeat: 250 and one SMS; one more number: 452 4.5.3', async () => {
    const to = [
      '447700900501@sms.localhost',
      '447700900502@sms.localhost',
      '+447700900501@sms.localhost',
      '00447700900502@sms.example.com',
      '447700900503@sms.localhost',
    ];
    const result = await sendMail(suite.port, { to, body: 'written twice' });
    assert.deepEqual(
      result.rcpt.map((reply) => reply.code),
      [250, 250, 250, 250, 452],
    );
    assert.match(
      result.rcpt[4]?.text ?? '',
      /^4\.5\.3 Too many recipients: this mail goes to 2, the most one mail may \(smtp\.maxRecipients\); send the rest in another mail$/,
    );
    assert.equal(result.data?.code, 250, result.data?.text);
    await waitFor('both SMS', () => received('447700900501', 'written twice').length > 0 && received('447700900502', 'written twice').length > 0);
    assert.equal(received('447700900501', 'written twice').length, 1);
    assert.equal(received('447700900502', 'written twice').length, 1);
    assert.equal(received('447700900503', 'written twice').length, 0);
  });

  test('a list counts as one recipient, whatever its size', async () => {
    const result = await sendMail(suite.port, { to: ['pair@sms.example.com', '447700900513@sms.localhost', '447700900514@sms.localhost'], body: 'list' });
    assert.deepEqual(
      result.rcpt.map((reply) => reply.code),
      [250, 250, 452],
    );
    assert.equal(result.data?.code, 250, result.data?.text);
    await waitFor('three SMS', () => ['447700900511', '447700900512', '447700900513'].every((number) => received(number, 'list').length === 1));
  });

  test('the postmaster by any of its names is one recipient', async () => {
    const result = await sendMail(suite.port, { to: ['postmaster', 'Postmaster@sms.localhost', 'postmaster@sms.example.com'], body: 'one postmaster' });
    assert.deepEqual(
      result.rcpt.map((reply) => reply.code),
      [250, 250, 250],
    );
    assert.equal(result.data?.code, 250, result.data?.text);
    await waitFor('the Maildir file', () => maildirMessages(suite.relay.maildir).some((mail) => mail.includes('one postmaster')));
  });

  test('one number written in endless ways meets the SMTP layer cap on addresses: 452 4.5.3, and one SMS', async () => {
    const cap = MAX_RECIPIENTS * RCPT_ADDRESSES_PER_RECIPIENT;
    // Dots between its digits, each spelling another (2^11 of them).
    const spelled = (index: number) => [...'447700900521'].map((digit, at) => (at > 0 && (index >> (at - 1)) & 1 ? `.${digit}` : digit)).join('');
    const to = Array.from({ length: cap + 1 }, (_, index) => `${spelled(index)}@sms.localhost`);
    const result = await sendMail(suite.port, { to, body: 'endless' });
    assert.deepEqual(
      result.rcpt.map((reply) => reply.code),
      [...Array.from({ length: cap }, () => 250), 452],
    );
    assert.equal(result.rcpt[cap]?.enhanced, '4.5.3');
    assert.equal(result.data?.code, 250, result.data?.text);
    await waitFor('the SMS', () => received('447700900521', 'endless').length > 0);
    assert.equal(received('447700900521', 'endless').length, 1);
  });
});

/**
 * A `sendsms@` subject whose numbers would take a mail past its sender's number limit, in a mail whose RCPTs already
 * hold numbers: those numbers got their 250 at RCPT and keep it; the subject's that do not fit are bounced (5.5.3), as a
 * subject's number policy refuses is, never the whole mail at the end of DATA. For a listed network, an account and
 * the trusted networks alike.
 */
describe("acceptance limits: a subject's numbers past the limit are bounced, never the numbers accepted at RCPT", () => {
  const suite = relayWithSimulator({
    smtp: { trustedNetworks: ['127.0.0.1/32'], maxNumbersPerMail: 2 },
    networks: [{ name: 'lab', cidr: ['127.0.0.2/32'], maxRecipients: 2 }],
    accounts: [{ username: 'erp', passwordHash: PASSWORD_HASH, maxRecipients: 2 }],
    sms: { domains: ['sms.localhost'], defaultRegion: 'GB', lists: { 'small@sms.localhost': ['07700900631', '07700900632'] } },
  });

  const sentTo = (number: string) => suite.gateway.simulator.received.filter((sms) => sms.to === number);
  const bounceOf = (id: string) =>
    waitFor(`the bounce of ${id}`, () => maildirMessages(suite.relay.maildir).find((mail) => mail.includes(`X-SMSRelay-Message-Id: ${id}`)));

  /** One transaction: each RCPT, then DATA with `subject`; from `localAddress`, signed in as erp where `account`. */
  async function send(rcpts: readonly string[], subject: string, { localAddress = '127.0.0.1', account = false } = {}) {
    const dialog = await SmtpDialog.open(suite.port, { localAddress });
    try {
      await dialog.command('EHLO client.example.com');
      if (account) assert.equal((await dialog.command(`AUTH PLAIN ${Buffer.from(`\0erp\0${PASSWORD}`).toString('base64')}`)).code, 235);
      assert.equal((await dialog.command('MAIL FROM:<alerts@example.com>')).code, 250);
      const rcpt: string[] = [];
      for (const to of rcpts) rcpt.push(String((await dialog.command(`RCPT TO:<${to}@sms.localhost>`)).code));
      const data = await dialog.data(`From: alerts@example.com\r\nSubject: ${subject}\r\n\r\nDisk full\r\n`);
      return { rcpt, data };
    } finally {
      await dialog.close();
    }
  }

  for (const [sender, options, numbers] of [
    ['the listed network lab (maxRecipients 2)', { localAddress: '127.0.0.2' }, ['07700900611', '07700900612', '07700900613', '07700900614']],
    ['the account erp (maxRecipients 2)', { account: true }, ['07700900615', '07700900616', '07700900617', '07700900618']],
    ['the trusted networks (smtp.maxNumbersPerMail 2)', {}, ['07700900621', '07700900622', '07700900623', '07700900624']],
  ] as const) {
    test(`${sender}: two numbers at RCPT and sendsms@, its subject's new number past the limit: the mail is taken, that number bounced`, async () => {
      const [one = '', two = '', third = '', subjectOnly = ''] = numbers;
      const sent = await send([one, two, 'sendsms', third], `To:${subjectOnly},${one}`, options);
      assert.deepEqual(sent.rcpt, ['250', '250', '250', '452']);
      assert.equal(sent.data.code, 250, sent.data.text);
      for (const number of [one, two]) await waitFor(`the SMS to ${number}`, () => sentTo(`44${number.slice(1)}`).length > 0);
      const bounce = (await bounceOf(queuedId(sent.data))).replace(/=\r?\n/g, '');
      assert.match(
        bounce,
        new RegExp(`\\+44 7700 ${subjectOnly.slice(5)} \\(via sendsms@sms\\.localhost\\)`),
        'the subject names it whole: the sender wrote it',
      );
      assert.match(bounce, /Status: 5\.5\.3/);
      assert.match(bounce, /Diagnostic-Code: X-SMS; TOO_MANY_NUMBERS \(not sent: Too many phone numbers: this mail goes to 2, the most one mail may \(/);
      assert.equal(sentTo(`44${subjectOnly.slice(1)}`).length, 0);
      assert.equal(sentTo(`44${third.slice(1)}`).length, 0, 'the 452 RCPT is the client’s to send again');
    });
  }

  test('a list that fills the mail, then sendsms@: the list is sent, the subject number bounced', async () => {
    const sent = await send(['small', 'sendsms'], 'To:07700900633', { localAddress: '127.0.0.2' });
    assert.deepEqual(sent.rcpt, ['250', '250']);
    assert.equal(sent.data.code, 250, sent.data.text);
    for (const number of ['447700900631', '447700900632']) await waitFor(`the SMS to ${number}`, () => sentTo(number).length > 0);
    assert.match((await bounceOf(queuedId(sent.data))).replace(/=\r?\n/g, ''), /\+44 7700 900633 \(via sendsms@sms\.localhost\)/);
  });

  test("a subject whose every number policy refuses, beside a number accepted at RCPT: that number is sent, the subject's bounced 5.7.1", async () => {
    const sent = await send(['07700900651', 'sendsms'], 'To:09098790000');
    assert.deepEqual(sent.rcpt, ['250', '250']);
    assert.equal(sent.data.code, 250, sent.data.text);
    await waitFor('the SMS to 447700900651', () => sentTo('447700900651').length > 0);
    const bounce = (await bounceOf(queuedId(sent.data))).replace(/=\r?\n/g, '');
    assert.match(bounce, /Status: 5\.7\.1/);
    assert.match(bounce, /is a premium-rate number/);
  });

  test('a subject alone over the limit is still refused whole at end of DATA (nothing of the mail was accepted)', async () => {
    const sent = await send(['sendsms'], 'To:07700900641,07700900642,07700900643');
    assert.equal(
      `${sent.data.code} ${sent.data.text}`,
      '554 5.6.0 Too many phone numbers: this mail would go to more than 2 (smtp.maxNumbersPerMail): split the numbers over several mails',
    );
  });
});
