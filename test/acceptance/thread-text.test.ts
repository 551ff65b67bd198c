/**
 * Thread-first cutting over real SMTP and the real SQLite store: the relay mailed an SMS to a mailbox
 * (its real reply mail, kept in the store); the mailbox answers it from a client whose quote the
 * general rules cannot read (an Albanian Outlook header block). The relay finds the quoted copy of what it
 * sent and sends only the new text; after retention erased the reply mail it falls back to the
 * general rules. A reply with no new text is refused with NO_NEW_TEXT, not sent as its subject.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { STORE_FILE } from '../../src/relay.ts';
import { Templates } from '../../src/mailer/templates.ts';
import { buildReplyMail, replyMailOptions } from '../../src/replies/reply-mail.ts';
import { relayWithSimulator, waitFor } from '../helpers/relay.ts';
import { sendMail } from '../helpers/smtp.ts';

const PHONE = '+447700900123';

/** The store methods the relay asked its store thread (each call as it travels), by name, while counting. */
const storeCalls: string[] = [];
let countingStoreCalls = false;
const postMessage = Worker.prototype.postMessage;
Worker.prototype.postMessage = function (this: Worker, message: unknown, ...rest: unknown[]) {
  const calls = (message as { calls?: Array<{ method: string }> } | undefined)?.calls;
  if (countingStoreCalls && Array.isArray(calls)) storeCalls.push(...calls.map((call) => call.method));
  return postMessage.call(this, message, ...(rest as []));
};
const PHONE_ADDRESS = '447700900123@sms.example.com';

describe("thread-first text: the quoted copy of the relay's own reply mail is cut", () => {
  const suite = relayWithSimulator({
    smtp: { trustedNetworks: ['127.0.0.1/32'] },
    sms: { domains: ['sms.example.com'], defaultRegion: 'GB' },
  });
  let sentBody = '';
  let replyId = '';

  before(async () => {
    const options = replyMailOptions(suite.relay.config, new Templates());
    const received = {
      number: PHONE,
      text: 'Πού είσαι; Η πύλη είναι κλειστή.',
      sentAt: '2026-03-20T08:47:55Z',
      receivedAt: Date.now(),
      userContext: 'ctx-greek',
    };
    const route = { mailbox: 'alice@example.com', conversation: undefined };
    const built = await buildReplyMail(received, route, options, '01900000-0000-7000-8000-000000000001');
    replyId = built.messageIdHeader;
    sentBody = built.mail.raw.toString('utf8').split('\r\n\r\n').slice(1).join('\r\n\r\n');
    await suite.relay.relay.store.acceptInbound({
      id: 'mo-1',
      provider: 'intellisoftware',
      providerId: 'mo-1',
      number: PHONE,
      text: received.text,
      sentAt: received.sentAt,
      userContext: received.userContext,
      receivedAt: received.receivedAt,
      route: { mailbox: route.mailbox, context: 'ctx-greek', mail: { ...built.mail, messageId: 'mo-1' }, messageIdHeader: built.messageIdHeader },
    });
  });

  /** Albanian Outlook: a header block in a language the general rules do not know, the copy unquoted. */
  function albanianReply(text: string): string {
    const quoted = decodeQuotedPrintable(sentBody);
    return `${text}\r\n\r\nNga: ${PHONE_ADDRESS}\r\nDërguar: e premte, 20 mars 2026 8:48 pd\r\nPër: Alice\r\nSubjekti: SMS from +44 7700 900123\r\n\r\n${quoted}`;
  }

  async function sendReply(body: string, subject = 'PËRGJ: SMS from +44 7700 900123'): Promise<ReturnType<typeof sendMail>> {
    return sendMail(suite.port, { to: [PHONE_ADDRESS], subject, body, headers: { 'In-Reply-To': replyId, References: replyId } });
  }

  test('an Albanian Outlook reply: only the new text reaches the phone', async () => {
    const smtp = await sendReply(albanianReply('Έρχομαι σε δέκα λεπτά.'));
    assert.equal(smtp.data?.code, 250, smtp.data?.text);
    await waitFor('the SMS', () => suite.gateway.simulator.received.some((sms) => sms.to === '447700900123' && sms.text.startsWith('Έρχομαι')));
    const sms = suite.gateway.simulator.received.find((entry) => entry.text.startsWith('Έρχομαι'));
    assert.equal(sms?.text, 'Έρχομαι σε δέκα λεπτά.');
  });

  test("a reply's thread and its conversation are read from the store once on its way to the 250, not by the text stage and again by the tracking", async () => {
    storeCalls.length = 0;
    countingStoreCalls = true;
    try {
      const smtp = await sendReply(albanianReply('Ankommer om fem minuter.'));
      assert.equal(smtp.data?.code, 250, smtp.data?.text);
    } finally {
      countingStoreCalls = false;
    }
    // The thread's context found, the text stage reads the conversation's mails and row, which the tracking reads too.
    assert.deepEqual(
      storeCalls.filter((method) => method === 'contextOfMail' || method === 'conversation'),
      ['contextOfMail', 'conversation'],
    );
    assert.ok(storeCalls.includes('acceptMail'), storeCalls.join(', '));
    const sms = await waitFor('the SMS', () => suite.gateway.simulator.received.find((entry) => entry.text.startsWith('Ankommer')));
    assert.equal(sms.text, 'Ankommer om fem minuter.');
  });

  test('a reply with nothing above the quote is refused with 554 5.6.0, not sent as its subject', async () => {
    const smtp = await sendMail(suite.port, {
      to: [PHONE_ADDRESS],
      subject: 'Re: SMS from +44 7700 900123',
      body: `On Fri, 20 Mar 2026 at 08:48, ${PHONE_ADDRESS} wrote:\r\n> Where are you?\r\n`,
      headers: { 'In-Reply-To': replyId },
    });
    assert.equal(smtp.data?.code, 554);
    assert.equal(smtp.data?.enhanced, '5.6.0');
    assert.match(smtp.data?.text ?? '', /the reply has no new text above the quoted mail/);
  });

  /** Gmail's plain-text reply: the attribution wrapped inside the address, the copy quoted with `>`. */
  function gmailWrappedReply(text: string): string {
    const quoted = decodeQuotedPrintable(sentBody)
      .split(/\r?\n/)
      .map((line) => (line === '' ? '>' : `> ${line}`))
      .join('\r\n');
    return `${text}\r\n\r\nOn Fri, Mar 20, 2026 at 8:48 AM +44 7700 900123 <\r\n${PHONE_ADDRESS}> wrote:\r\n\r\n${quoted}\r\n`;
  }

  test('an attribution Gmail wrapped over two lines goes whole: its first line is not sent, nor sent alone', async () => {
    const smtp = await sendReply(gmailWrappedReply('Θα είμαι εκεί στις εννιά.'), 'Re: SMS from +44 7700 900123');
    assert.equal(smtp.data?.code, 250, smtp.data?.text);
    await waitFor('the SMS', () => suite.gateway.simulator.received.some((sms) => sms.text.startsWith('Θα είμαι')));
    const sms = suite.gateway.simulator.received.find((entry) => entry.text.startsWith('Θα είμαι'));
    assert.equal(sms?.text, 'Θα είμαι εκεί στις εννιά.');
    const empty = await sendReply(gmailWrappedReply(''), 'Re: SMS from +44 7700 900123');
    assert.equal(empty.data?.code, 554, empty.data?.text);
    assert.equal(empty.data?.enhanced, '5.6.0');
    assert.match(empty.data?.text ?? '', /the reply has no new text above the quoted mail/);
  });

  test('a reply of only a thank-you closing or an exclaimed sign-off (a first name under it at most) is sent as "Thanks" is; one of only a bare sign-off or a signature block is refused naming it, ß as ss', async () => {
    for (const [typed, sent] of [
      ['Cheers', 'Cheers'],
      ['Cheers!', 'Cheers!'],
      ['Cheers,\r\nBob', 'Cheers,\nBob'],
      ['Best!', 'Best!'],
    ] as const) {
      const before = suite.gateway.simulator.received.length;
      const smtp = await sendReply(gmailWrappedReply(typed), 'Re: SMS from +44 7700 900123');
      assert.equal(smtp.data?.code, 250, `${typed}: ${smtp.data?.text}`);
      const sms = await waitFor(`the SMS "${typed}"`, () => suite.gateway.simulator.received.slice(before).find((entry) => entry.to === '447700900123'));
      assert.equal(sms.text, sent);
    }
    for (const [typed, named] of [
      ['Kind regards,\r\nBob', 'Kind regards'],
      ['Best', 'Best'],
      ['Mit freundlichen Grüßen', 'Mit freundlichen Grussen'],
      ['Gruß', 'Gruss'],
      // A thank-you in a longer closing, or a whole signature under a thank-you, is the auto-signature alone.
      ['Thanks & Regards,\r\nRavi Kumar\r\nSenior Engineer\r\nACME Water Ltd\r\nMob: +91 98765 43210', 'Thanks & Regards'],
      ['Thanks and regards,\r\nRavi Kumar', 'Thanks and regards'],
      ['Cheers,\r\nBob Smith\r\nOps Lead | ACME Water Ltd\r\nM: +44 7700 900123\r\nwww.acmewater.example', 'Cheers'],
      ['Best!\r\nBob Smith\r\nOps Lead\r\nACME Water Ltd\r\n+44 7700 900123', 'Best!'],
    ] as const) {
      const smtp = await sendReply(gmailWrappedReply(typed), 'Re: SMS from +44 7700 900123');
      assert.equal(smtp.data?.code, 554, `${typed}: ${smtp.data?.text}`);
      assert.equal(smtp.data?.text, `5.6.0 Not sent as SMS: the reply holds only a sign-off ("${named}"); write the message above the quote`);
    }
  });

  test('a reply through a gateway that tags outside mail (RE: [EXTERNAL] Re: …) with nothing typed is refused, not sent as its subject', async () => {
    for (const subject of ['RE: [EXTERNAL] Re: SMS from +44 7700 900123', 'RE: *** SPAM *** Re: SMS from +44 7700 900123', 'Réf. : SMS from +44 7700 900123']) {
      for (const body of ['\r\n\r\nSent from my iPhone\r\n', '']) {
        const smtp = await sendReply(body, subject);
        assert.equal(smtp.data?.code, 554, `${subject}: ${smtp.data?.text}`);
        // Nothing quoted: the refusal speaks of no quote.
        assert.equal(smtp.data?.text, '5.6.0 Not sent as SMS: the reply has no new text; write the message in the mail');
      }
    }
  });

  /** The SMS whose text starts so, once it is there. */
  const smsStarting = (start: string) =>
    waitFor(`the SMS "${start}…"`, () => suite.gateway.simulator.received.find((sms) => sms.to === '447700900123' && sms.text.startsWith(start)));

  test("format=flowed: the writer's space-stuffed '>' line above the quote reaches the phone, joined with the line it flows into", async () => {
    const body = `Still bad:\r\n >50 users affected since 10:00, \r\nplease hurry.\r\n\r\n${gmailWrappedReply('').trimStart()}`;
    const smtp = await sendMail(suite.port, {
      to: [PHONE_ADDRESS],
      subject: 'Re: SMS from +44 7700 900123',
      body,
      headers: { 'In-Reply-To': replyId, 'Content-Type': 'text/plain; charset=utf-8; format=flowed' },
    });
    assert.equal(smtp.data?.code, 250, smtp.data?.text);
    assert.equal((await smsStarting('Still bad')).text, 'Still bad:\n>50 users affected since 10:00, please hurry.');
  });

  test("device lines in more languages go with the copy; with nothing typed above it the reply is refused (the quote's wording)", async () => {
    const copy = decodeQuotedPrintable(sentBody)
      .split(/\r?\n/)
      .map((line) => (line === '' ? '>' : `> ${line}`))
      .join('\r\n');
    const ios = (text: string, device: string) =>
      `${text}${text ? '\r\n\r\n' : ''}${device}\r\n\r\n> On 20 Mar 2026, at 08:48, +44 7700 900123 <${PHONE_ADDRESS}> wrote:\r\n${copy}\r\n`;
    const sent = await sendReply(ios('Jsem na cestě.', 'Odesláno z iPhonu'), 'Re: SMS from +44 7700 900123');
    assert.equal(sent.data?.code, 250, sent.data?.text);
    assert.equal((await smsStarting('Jsem na cestě')).text, 'Jsem na cestě.');
    for (const device of [
      'Odesláno z iPhonu',
      'Dikirim dari iPhone saya',
      'Trimis de pe iPhone-ul meu',
      'Được gửi từ iPhone của tôi',
      'Poslano s mog iPhonea',
    ]) {
      const empty = await sendReply(ios('', device), 'Re: SMS from +44 7700 900123');
      assert.equal(empty.data?.code, 554, `${device}: ${empty.data?.text}`);
      assert.equal(empty.data?.text, '5.6.0 Not sent as SMS: the reply has no new text above the quoted mail; write the message above the quote');
    }
    const outlook = (text: string) =>
      `${text}\r\n\r\n获取 Android 版 Outlook<https://aka.ms/AAb9ysg>\r\n________________________________\r\nFrom: +44 7700 900123 <${PHONE_ADDRESS}>\r\nSent: Friday, March 20, 2026 8:48:00 AM\r\nTo: alice@example.com\r\nSubject: SMS from +44 7700 900123\r\n\r\n${decodeQuotedPrintable(sentBody)}`;
    assert.equal((await sendReply(outlook(''), 'Re: SMS from +44 7700 900123')).data?.code, 554);
  });

  test('the reply markers of T-Online, Zimbra, Seznam and Lotus Notes go with the copy of the reply mail and its header block', async () => {
    const copy = decodeQuotedPrintable(sentBody);
    const replies = [
      [
        'Bin in 10 Minuten da.',
        `-----Original-Nachricht-----\r\nBetreff: Re: SMS from +44 7700 900123\r\nDatum: 2026-03-20T08:48:00+0000\r\nVon: "+44 7700 900123" <${PHONE_ADDRESS}>\r\nAn: "alice@example.com" <alice@example.com>`,
      ],
      [
        'Bin gleich da.',
        `Betreff: Re: SMS from +44 7700 900123\r\nDatum: 2026-03-20T08:48:00+0000\r\nVon: "+44 7700 900123" <${PHONE_ADDRESS}>\r\nAn: alice@example.com`,
      ],
      [
        "J'arrive.",
        `----- Mail original -----\r\nDe: "+44 7700 900123" <${PHONE_ADDRESS}>\r\nÀ: alice@example.com\r\nEnvoyé: Vendredi 20 Mars 2026 08:48:00\r\nObjet: SMS from +44 7700 900123`,
      ],
      [
        'Jedu tam.',
        `---------- Původní e-mail ----------\r\nOd: +44 7700 900123 <${PHONE_ADDRESS}>\r\nKomu: alice@example.com\r\nDatum: 20. 3. 2026 8:48:00\r\nPředmět: SMS from +44 7700 900123`,
      ],
      [
        'Please handle.',
        `----- Forwarded by Alice Meyer/ACME on 03/20/2026 08:50 AM -----\r\n\r\nFrom:\t+44 7700 900123 <${PHONE_ADDRESS}>\r\nTo:\talice@example.com\r\nDate:\t03/20/2026 08:48 AM\r\nSubject:\tSMS from +44 7700 900123`,
      ],
    ] as const;
    for (const [text, header] of replies) {
      const smtp = await sendReply(`${text}\r\n\r\n${header}\r\n\r\n${copy}`, 'Re: SMS from +44 7700 900123');
      assert.equal(smtp.data?.code, 250, smtp.data?.text);
      assert.equal((await smsStarting(text)).text, text);
    }
  });

  test('a Gmail reaction alone (its machine form, no text version) is refused as a reaction, not as a reply above a quote it does not have', async () => {
    const smtp = await sendMail(suite.port, {
      to: [PHONE_ADDRESS],
      subject: 'Re: SMS from +44 7700 900123',
      body: '{"emoji":"=F0=9F=99=83","version":1}',
      headers: {
        'In-Reply-To': replyId,
        'Content-Type': 'text/vnd.google.email-reaction+json; charset=utf-8',
        'Content-Transfer-Encoding': 'quoted-printable',
      },
    });
    assert.equal(smtp.data?.code, 554, smtp.data?.text);
    assert.equal(smtp.data?.text, "5.6.0 Not sent as SMS: the reply is only an emoji reaction (Gmail's), with no text; write the message in the mail");
  });

  test("GMX's quote header, its date line first, goes with the copy of the reply mail", async () => {
    const header = `Gesendet: Freitag, 20. März 2026 um 08:48 Uhr\r\nVon: "+44 7700 900123" <${PHONE_ADDRESS}>\r\nAn: alice@example.com\r\nBetreff: SMS from +44 7700 900123`;
    const smtp = await sendReply(`Bin unterwegs.\r\n \r\n \r\n\r\n${header}\r\n${decodeQuotedPrintable(sentBody)}`, 'Re: SMS from +44 7700 900123');
    assert.equal(smtp.data?.code, 250, smtp.data?.text);
    await waitFor('the SMS', () => suite.gateway.simulator.received.some((sms) => sms.text.startsWith('Bin unterwegs')));
    const sms = suite.gateway.simulator.received.find((entry) => entry.text.startsWith('Bin unterwegs'));
    assert.equal(sms?.text, 'Bin unterwegs.');
  });

  test("an out-of-office answering the relay's reply mail is refused as automatic mail; alerts marked so are still sent", async () => {
    const marks: Array<[Record<string, string>, string | undefined, string]> = [
      // Exchange's out-of-office: all three marks at once; the first named is the reason.
      [
        { 'Auto-Submitted': 'auto-generated', 'X-Auto-Response-Suppress': 'All' },
        'Automatic reply: SMS from +44 7700 900123',
        'Auto-Submitted: auto-generated',
      ],
      [{ 'X-Auto-Response-Suppress': 'All' }, undefined, 'X-Auto-Response-Suppress: all'],
      [{ Precedence: 'junk' }, undefined, 'Precedence: junk'],
      [{ Precedence: 'bulk' }, undefined, 'Precedence: bulk'],
      [{}, 'Automatische Antwort: SMS from +44 7700 900123', 'its subject says so'],
    ];
    for (const [headers, subject, reason] of marks) {
      const smtp = await sendMail(suite.port, {
        to: [PHONE_ADDRESS],
        subject: subject ?? 'Re: SMS from +44 7700 900123',
        body: 'I am out of the office until Monday.',
        headers: { 'In-Reply-To': replyId, References: replyId, ...headers },
      });
      assert.equal(smtp.data?.code, 550, JSON.stringify(headers));
      assert.equal(smtp.data?.text, `5.7.1 Not sent as SMS: it is an automatic answer to the relay's reply mail, not a person's (${reason})`);
    }
    const alert = await sendMail(suite.port, {
      to: [PHONE_ADDRESS],
      subject: 'Disk full on db1',
      body: 'Disk full on db1: 98% used.',
      headers: { 'Auto-Submitted': 'auto-generated', 'X-Auto-Response-Suppress': 'All', Precedence: 'bulk' },
    });
    assert.equal(alert.data?.code, 250, alert.data?.text);
    await waitFor('the alert', () => suite.gateway.simulator.received.some((sms) => sms.text === 'Disk full on db1: 98% used.'));
    assert.ok(!suite.gateway.simulator.received.some((sms) => sms.text.includes('out of the office')));
  });

  /** The copy of the reply mail quoted with `>`, as a client without an attribution line (mutt's `attribution=""`) writes it. */
  const quotedCopy = () =>
    decodeQuotedPrintable(sentBody)
      .split(/\r?\n/)
      .map((line) => (line === '' ? '>' : `> ${line}`))
      .join('\r\n');

  test("the writer's Label: value lines right above a quote with no attribution are sent, not cut as its header block", async () => {
    const labels = 'Host: db2\r\nState: DOWN\r\nSince: 10:05';
    const below = await sendReply(`Please check:\r\n${labels}\r\n\r\n${quotedCopy()}\r\n`, 'Re: SMS from +44 7700 900123');
    assert.equal(below.data?.code, 250, below.data?.text);
    assert.equal((await smsStarting('Please check')).text, 'Please check:\nHost: db2\nState: DOWN\nSince: 10:05');
    const alone = await sendReply(`New address: Hauptstr. 5\r\nGate: 6\r\nTime: 10:30\r\n\r\n${quotedCopy()}\r\n`, 'Re: SMS from +44 7700 900123');
    assert.equal(alone.data?.code, 250, alone.data?.text);
    assert.equal((await smsStarting('New address')).text, 'New address: Hauptstr. 5\nGate: 6\nTime: 10:30');
    // The quoted copy's own header block, quoted as the copy is, still goes with it, in any language.
    const header = `> Nga: ${PHONE_ADDRESS}\r\n> Dërguar: e premte, 20 mars 2026 8:48 pd\r\n> Subjekti: SMS from +44 7700 900123\r\n>\r\n`;
    const quotedHeader = await sendReply(`Po vij.\r\n\r\n${header}${quotedCopy()}\r\n`, 'Re: SMS from +44 7700 900123');
    assert.equal(quotedHeader.data?.code, 250, quotedHeader.data?.text);
    assert.equal((await smsStarting('Po vij')).text, 'Po vij.');
  });

  test('a reply typed on a phone loses its device line even when its text has three Label: value lines', async () => {
    const body = `Please look:\r\nHost: db3\r\nState: DOWN\r\nSince: 11:05\r\n\r\nSent from my iPhone\r\n\r\n> On 20 Mar 2026, at 08:48, +44 7700 900123 <${PHONE_ADDRESS}> wrote:\r\n>\r\n${quotedCopy()}\r\n`;
    const smtp = await sendReply(body, 'Re: SMS from +44 7700 900123');
    assert.equal(smtp.data?.code, 250, smtp.data?.text);
    assert.equal((await smsStarting('Please look')).text, 'Please look:\nHost: db3\nState: DOWN\nSince: 11:05');
  });

  test('after retention erased the reply mail, the general rules decide (the unknown block stays)', async () => {
    // What `store.retention` does to a sent mail's content (this one is still queued: no mail server here).
    const db = new Database(join(suite.relay.config.dataDir, STORE_FILE));
    db.prepare("UPDATE mail_out SET raw = x'' WHERE kind = 'reply'").run();
    db.close();
    const smtp = await sendReply(albanianReply('Ναι, ανοίγω τώρα.'));
    assert.equal(smtp.data?.code, 250, smtp.data?.text);
    await waitFor('the SMS', () => suite.gateway.simulator.received.some((sms) => sms.text.startsWith('Ναι, ανοίγω')));
    const sms = suite.gateway.simulator.received.find((entry) => entry.text.startsWith('Ναι, ανοίγω'));
    assert.match(sms?.text ?? '', /^Ναι, ανοίγω τώρα\.\n\nNga: /);
  });
});

function decodeQuotedPrintable(text: string): string {
  const bytes = text.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}
