/**
 * An SMS from a phone the relay will not text, whoever writes (no route takes its number, a premium-rate number, a
 * blocked prefix, outside every sender's destinations), is mailed saying that a reply is not sent and why, in the words
 * RCPT then answers, rather than inviting a reply the mailbox's own server bounces. That RCPT refusal writes the number
 * whole to the mailbox the relay mailed its SMS to, and masked to anyone else. Over the real webhook, Maildir and SMTP.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { hashPassword } from '../../src/policy/passwords.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { maildirMessages, removeDir, startTestRelay, type TestRelay, waitFor } from '../helpers/relay.ts';
import { SmtpDialog } from '../helpers/smtp.ts';

const MAILBOX = 'ops@example.com';
const INVITATION = 'Reply to this mail to answer by SMS';

describe('a reply mail from a phone the relay will not text says so, and why', () => {
  const { logger, lines } = captureLog('info');
  let relay: TestRelay;

  before(async () => {
    relay = await startTestRelay(
      {
        sms: { domains: ['sms.example.com'] },
        inbound: { defaultMailbox: MAILBOX },
        // This host's mail is the office's, which texts the UK only; an account may text Ireland too.
        smtp: { trustedNetworks: [] },
        networks: [{ name: 'office', cidr: ['127.0.0.0/8', '::1/128'], destinations: ['GB'] }],
        accounts: [{ username: 'dublin', passwordHash: await hashPassword('dublin-secret'), destinations: ['GB', 'IE'] }],
        policy: { blockedPrefixes: ['+44161'] },
        gateway: {
          provider: 'simulator',
          routes: [
            { name: 'uk', match: ['+44'], providers: ['simulator'] },
            { name: 'ie', match: ['+353'], providers: ['simulator'] },
            { name: 'de', match: ['+49'], providers: ['simulator'] },
          ],
        },
      },
      {},
      undefined,
      {},
      logger,
    );
  });
  after(async () => {
    await relay.stop();
    removeDir(relay.dir);
  });

  /** The footer of the mail of an SMS from `from`: what follows the signature separator. */
  const footerOf = async (from: string) => {
    const text = `SMS from ${from}`;
    const posted = await fetch(`http://127.0.0.1:${relay.relay.httpPort}/simulator/mo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ from, text }),
    });
    assert.equal(posted.status, 202, await posted.clone().text());
    const raw = await waitFor(`the mail of ${from}`, () => maildirMessages(relay.maildir).find((mail) => mail.includes(text)));
    return ((await simpleParser(raw)).text ?? '').split('\n-- \n')[1] ?? '';
  };
  /** The RCPT reply to `<number>@` the SMS domain in a transaction from `envelopeFrom`. */
  const rcpt = async (envelopeFrom: string, number: string) => {
    const dialog = await SmtpDialog.open(relay.relay.smtpPort);
    await dialog.command('EHLO mail.example.com');
    assert.equal((await dialog.command(`MAIL FROM:<${envelopeFrom}>`)).code, 250);
    const reply = await dialog.command(`RCPT TO:<${number}@sms.example.com>`);
    await dialog.close();
    return reply;
  };

  for (const [what, from, words] of [
    ['no route takes the number', '33612345678', 'No route: no SMS provider of this relay takes +33 6 12 34 56 78 (routes: '],
    ['a premium-rate number', '449098790123', 'Recipient refused: +44 909 879 0123 is a premium-rate number; this relay does not text those'],
    ['a blocked prefix', '441612345678', 'Recipient refused: numbers starting +44161 are blocked on this relay'],
    ["outside every sender's destinations", '4915123456789', 'Recipient refused: +49 1512 3456789 is outside the destinations allowed for this sender (GB)'],
  ] as const) {
    test(`${what}: the mail says replies are not sent, and why, instead of inviting one`, async () => {
      const footer = await footerOf(from);
      assert.ok(footer.includes(`Replies to this mail are not sent: this relay refuses them (${words}`), footer);
      assert.ok(!footer.includes(INVITATION), footer);
    });
  }

  test('a number some sender may text (an account, not this office) and one every sender may are invited to reply', async () => {
    assert.ok((await footerOf('353861234567')).includes(INVITATION));
    assert.ok((await footerOf('447700900123')).includes(INVITATION));
  });

  test('the RCPT refusal writes the number whole to the mailbox its SMS was mailed to, masked to another sender', async () => {
    await footerOf('33612345679');
    await footerOf('449098790124');
    const noRoute = await rcpt(MAILBOX, '33612345679');
    assert.equal(noRoute.code, 550, noRoute.text);
    assert.match(noRoute.text, /^5\.1\.1 No route: no SMS provider of this relay takes \+33612345679 \(routes: /);
    const premium = await rcpt(MAILBOX.toUpperCase(), '449098790124');
    assert.match(premium.text, /^5\.7\.1 Recipient refused: \+449098790124 is a premium-rate number/);
    const stranger = await rcpt('someone@example.com', '33612345679');
    assert.match(stranger.text, /^5\.1\.1 No route: no SMS provider of this relay takes \+3361\*+79 /);
    const strangerPremium = await rcpt('someone@example.com', '449098790124');
    assert.match(strangerPremium.text, /^5\.7\.1 Recipient refused: \+4490\*+24 is a premium-rate number/);
    const refusals = lines.filter((line) => line.includes('"code":"NO_ROUTE"') || line.includes('"code":"POLICY_DENIED"'));
    assert.equal(refusals.length, 4, lines.join(''));
    assert.doesNotMatch(refusals.join(''), /33612345679|449098790124/, 'the log masks the number whole in the reply');
  });
});
