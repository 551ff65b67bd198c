/**
 * An SMS from a phone the relay will not text, whoever writes (no route takes its number, a premium-rate number, a
 * blocked prefix, outside every sender's destinations), is mailed saying that a reply is not sent and why, in the words
 * RCPT then answers, rather than inviting a reply the mailbox's own server bounces. That RCPT refusal writes a number
 * the client wrote itself whole, whoever the client is, and a list's member masked. Over the real webhook, Maildir and SMTP.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { refusedForEveryone } from '../../src/acceptance/number-checks.ts';
import { hashPassword } from '../../src/policy/passwords.ts';
import { SenderPolicy } from '../../src/policy/senders.ts';
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
        sms: { domains: ['sms.example.com'], lists: { 'abroad@sms.example.com': ['+4915123456700'] } },
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
    // Every sender's, not the first one's: the office's GB would read as though an account's IE were not the relay's.
    [
      "outside every sender's destinations",
      '4915123456789',
      'Recipient refused: +49 1512 3456789 is outside the destinations allowed for every sender of this relay)',
    ],
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

  test('a RCPT refusal writes a number the client wrote itself whole, to any sender; a list member stays masked', async () => {
    // STOP: opted out, which RCPT refuses too.
    await footerOf('447700900555');
    const stop = await fetch(`http://127.0.0.1:${relay.relay.httpPort}/simulator/mo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ from: '447700900555', text: 'STOP' }),
    });
    assert.equal(stop.status, 202);
    await waitFor('the STOP mail', () => maildirMessages(relay.maildir).find((mail) => mail.includes('opted out')));
    // The mailbox its SMS went to and a stranger (MAIL FROM is anyone's to write) are answered alike: what mailbox
    // got SMS from a number is never told by how its refusal reads.
    for (const sender of [MAILBOX, 'someone@example.com']) {
      const noRoute = await rcpt(sender, '33612345679');
      assert.equal(noRoute.code, 550, noRoute.text);
      assert.match(noRoute.text, /^5\.1\.1 No route: no SMS provider of this relay takes \+33612345679 \(routes: /);
      const premium = await rcpt(sender, '449098790124');
      assert.match(premium.text, /^5\.7\.1 Recipient refused: \+449098790124 is a premium-rate number/);
      const outside = await rcpt(sender, '4915123456700');
      assert.match(outside.text, /^5\.7\.1 Recipient refused: \+4915123456700 is in DE \(Germany\), outside the destinations allowed for this sender \(GB\)/);
      const optedOut = await rcpt(sender, '447700900555');
      assert.match(optedOut.text, /^5\.7\.1 Recipient refused: \+447700900555 has opted out of SMS from this relay/);
    }
    // A list's members are the relay's to know: its refusal masks them, to whoever writes.
    const list = await rcpt(MAILBOX, 'abroad');
    assert.equal(list.code, 550, list.text);
    assert.match(list.text, /^5\.7\.1 Recipient refused: \+4915\*+00 is in DE \(Germany\), outside the destinations allowed for this sender/);
    const refusals = lines.filter((line) => line.includes('"code":"NO_ROUTE"') || line.includes('"code":"POLICY_DENIED"'));
    assert.equal(refusals.length, 9, lines.join(''));
    assert.doesNotMatch(refusals.join(''), /33612345679|449098790124|4915123456700|447700900555/, 'the log masks the number the reply writes whole');
  });
});

/**
 * Whether some sender may text a number is asked for every SMS received: its cost must not grow with the senders
 * (each account's destinations read in turn parsed the number for each country of each: ~100 ms an SMS with 1000).
 */
describe('whether any sender may text a number costs about the same with 1000 accounts as with one', () => {
  test('1000 accounts, each with destinations of its own: 50 numbers none of them takes, in well under a second', () => {
    const accounts = Array.from({ length: 1000 }, (_, index) => ({
      username: `account${index}`,
      passwordHash: 'unused',
      holdToOwnFrom: false,
      destinations: ['GB', 'IE', 'FR', 'DE', `+1${200 + index}`],
    }));
    const senders = new SenderPolicy({ trustedNetworks: [], networks: [], accounts, defaultRegion: 'GB', premiumBlocklist: true, blockedPrefixes: [] });
    const started = performance.now();
    for (let index = 0; index < 50; index++) {
      // Japanese mobiles, each new: no cache has their answer yet.
      const refusal = refusedForEveryone(`+8190${String(12_340_000 + index)}`, undefined, senders, (whole) => whole);
      assert.match(refusal?.message ?? '', /is outside the destinations allowed for every sender of this relay$/);
    }
    const took = performance.now() - started;
    assert.ok(took < 1000, `50 numbers took ${Math.round(took)} ms`);
  });
});
