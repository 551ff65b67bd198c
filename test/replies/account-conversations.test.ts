import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { webhookPaths } from '../../src/http/webhooks.ts';
import { hashPassword } from '../../src/policy/passwords.ts';
import { assertNeverLogged, captureLog } from '../helpers/log-lines.ts';
import { maildirMessages, relayWithSimulator, waitFor } from '../helpers/relay.ts';
import { type MailSpec, message, queuedId, SmtpDialog, sendMail } from '../helpers/smtp.ts';

const PASSWORD = 'correct horse battery';
const PASSWORD_HASH = await hashPassword(PASSWORD);

/**
 * A conversation is its mailbox's: an account may name it and write its mailbox's From or Reply-To, but
 * those headers are the account's own words; only an address among its `senders` makes the mail that
 * mailbox's (docs/replies.md, "Whose conversation a context is").
 */
describe("an account's mail and other mailboxes' conversations", () => {
  const log = captureLog('info');
  const suite = relayWithSimulator(
    {
      sms: { domains: ['sms.example.com'], defaultRegion: 'GB' },
      accounts: [{ username: 'erp', passwordHash: PASSWORD_HASH, senders: ['@erp.example.com'] }],
    },
    { simulator: { webhookRetryMs: 100, reportDelayMs: 0 }, logger: log.logger },
  );
  before(() => {
    const base = `http://127.0.0.1:${suite.relay.relay.httpPort}`;
    suite.gateway.simulator.setWebhooks({ moUrl: `${base}${webhookPaths('intellisoftware').mo}`, drUrl: `${base}${webhookPaths('intellisoftware').dr}` });
  });
  const smsTo = (digits: string, count: number) =>
    waitFor(`SMS ${count} to ${digits}`, () => suite.gateway.simulator.received.filter((sms) => sms.to === digits)[count - 1]);
  /** A mail through the account erp (AUTH PLAIN from loopback): its end-of-data reply. */
  const asErp = async (envelopeFrom: string, spec: MailSpec) => {
    const dialog = await SmtpDialog.open(suite.port);
    try {
      await dialog.command('EHLO erp.example.com');
      assert.equal((await dialog.command(`AUTH PLAIN ${Buffer.from(`\0erp\0${PASSWORD}`).toString('base64')}`)).code, 235);
      assert.equal((await dialog.command(`MAIL FROM:<${envelopeFrom}>`)).code, 250);
      for (const to of spec.to) assert.equal((await dialog.command(`RCPT TO:<${to}>`)).code, 250);
      return await dialog.data(message(spec));
    } finally {
      await dialog.close();
    }
  };
  const repliesTo = (address: string, text: string) =>
    maildirMessages(suite.relay.maildir).filter((mail) => mail.includes(`To: ${address}`) && mail.includes(text));

  test("an account forging a mailbox's From and Reply-To with its context, in any form, gets a conversation of its own: the phone's answers stay with that mailbox", async () => {
    const forms: Record<string, (context: string) => Pick<MailSpec, 'subject' | 'headers'>> = {
      'X-UserContext header': (context) => ({ subject: 'hi', headers: { 'X-UserContext': context } }),
      'reply tag': (context) => ({ subject: `Re: Server down [UserContext: ${context}]` }),
      'subject parameter': (context) => ({ subject: `UserContext:${context}` }),
    };
    let phone = 447700900870;
    for (const [form, forged] of Object.entries(forms)) {
      const digits = String(phone++);
      const alice = await sendMail(suite.port, {
        from: 'alice@example.com',
        to: [`${digits}@sms.example.com`],
        subject: 'Server down',
        body: 'db1 is down',
        headers: { From: 'Alice <alice@example.com>' },
      });
      queuedId(alice.data);
      const context = (await smsTo(digits, 1)).userContext ?? '';
      const { subject, headers } = forged(context);
      const reply = await asErp('mallory@erp.example.com', {
        to: [`${digits}@sms.example.com`],
        subject,
        body: 'please reply',
        headers: { From: 'Alice <alice@example.com>', 'Reply-To': 'mallory@evil.example', ...headers },
      });
      assert.equal(reply.code, 250, reply.text);
      const sent = await smsTo(digits, 2);
      assert.equal(sent.text, 'please reply', form);
      assert.notEqual(sent.userContext, context, `${form}: the forged mail does not go out under Alice's context`);
      assert.match(reply.text, new RegExp(`UserContext ${context} is another mailbox's conversation`), form);
      // The operator is told at warn who posed as whom: the account, the mailbox it wrote as, the context it got instead.
      const posed = log.lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msgId === queuedId(reply));
      assert.deepEqual(
        posed
          .filter((line) => String(line.msg).startsWith("acceptance: the mail's From or Reply-To is a conversation's mailbox its sender may not write as"))
          .map(({ level, by, posedAs, context: given }) => ({ level, by, posedAs, context: given })),
        [{ level: 'warn', by: 'erp', posedAs: 'alice@example.com', context: sent.userContext }],
        form,
      );

      suite.gateway.simulator.sendMo({ from: digits, text: `answer to Alice (${form})`, usercontext: context });
      await waitFor(`the answer to Alice (${form})`, () => repliesTo('alice@example.com', `answer to Alice (${form})`).length === 1);
      assert.deepEqual(repliesTo('mallory@evil.example', `answer to Alice (${form})`), [], form);
    }
  });

  test("a conversation's context and mailbox that are numbers are masked in the lines that name them: named, given, posedAs", async () => {
    const digits = '447700900895';
    const mailbox = '447700900896@example.com';
    const context = '447700900897';
    const first = await sendMail(suite.port, { from: mailbox, to: [`${digits}@sms.example.com`], body: 'hi', headers: { 'X-UserContext': context } });
    queuedId(first.data);
    assert.equal((await smsTo(digits, 1)).userContext, context);
    const lines = () => log.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    // Another sender naming that context is given a new one; the note names both, the number masked.
    const other = await sendMail(suite.port, {
      from: 'bob@example.com',
      to: [`${digits}@sms.example.com`],
      body: 'me too',
      headers: { 'X-UserContext': context },
    });
    const note = lines().find((line) => line.msgId === queuedId(other.data) && String(line.msg).includes('names the user context of another'));
    assert.equal(note?.named, '4477******97');
    assert.equal(note?.given, (await smsTo(digits, 2)).userContext);
    // An account writing as that mailbox: the warning names the mailbox masked.
    const posing = await asErp('mallory@erp.example.com', {
      to: [`${digits}@sms.example.com`],
      subject: 'hi',
      body: 'x',
      headers: { From: mailbox, 'X-UserContext': context },
    });
    const warned = lines().find((line) => line.msgId === queuedId(posing) && line.level === 'warn');
    assert.equal(warned?.posedAs, '4477******96@example.com');
    assertNeverLogged(log.lines, { 'the context': '900897', 'the mailbox': '900896' });
  });

  test("an account's own address continues and moves its own conversation as before", async () => {
    const digits = '447700900880';
    const first = await asErp('ops@erp.example.com', {
      to: [`${digits}@sms.example.com`],
      subject: 'Ticket 7',
      body: 'ticket opened',
      headers: { From: 'ops@erp.example.com' },
    });
    assert.equal(first.code, 250, first.text);
    const context = (await smsTo(digits, 1)).userContext ?? '';
    const moved = await asErp('ops@erp.example.com', {
      to: [`${digits}@sms.example.com`],
      subject: 'Ticket 7',
      body: 'ticket moved',
      headers: { From: 'ops@erp.example.com', 'Reply-To': 'desk@erp.example.com', 'X-UserContext': context },
    });
    assert.equal(moved.code, 250, moved.text);
    assert.equal((await smsTo(digits, 2)).userContext, context);
    suite.gateway.simulator.sendMo({ from: digits, text: 'answer to the desk', usercontext: context });
    await waitFor('the answer to the desk', () => repliesTo('desk@erp.example.com', 'answer to the desk').length === 1);
  });
});
