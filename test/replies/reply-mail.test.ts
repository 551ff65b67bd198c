import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import DKIM from 'nodemailer/lib/dkim';
import { createLogger } from '../../src/log.ts';
import { smarthostTransport } from '../../src/mailer/smarthost.ts';
import { Templates } from '../../src/mailer/templates.ts';
import { maildirTransport } from '../../src/mailer/transports.ts';
import type { Route } from '../../src/replies/tracking.ts';
import { buildReplyMail, type InboundSms } from '../../src/replies/reply-mail.ts';
import { removeDir, tempDir } from '../helpers/relay.ts';
import { SmtpSink } from '../helpers/smtp-sink.ts';

/** The relay's settings the smarthost client takes. */
const RELAY = { hostname: 'relay.example.com', from: 'MAILER-DAEMON@sms.example.com', logger: createLogger('silent') };

const options = { smsDomain: 'sms.example.com', hostname: 'relay.example.com', templates: new Templates() };
const sms: InboundSms = { number: '+447700900123', text: 'On it', sentAt: undefined, receivedAt: Date.UTC(2026, 10, 23, 9, 20), userContext: undefined };
const conversation = (subject: string): Route => ({
  mailbox: 'alice@example.com',
  conversation: {
    context: 'ab12cd34',
    number: sms.number,
    mailbox: 'alice@example.com',
    subject,
    messageIdHeader: '<alice-1@example.com>',
    latestMessageIdHeader: undefined,
    lastUsedAt: 0,
  },
});

describe('the reply mail', () => {
  test('one "Re:", one context tag, however often the subject went back and forth', async () => {
    const { mail } = await buildReplyMail(
      sms,
      conversation('RE: AW: Re: Server down [UserContext: ab12cd34]'),
      options,
      '01900000-0000-7000-8000-000000000001',
    );
    const parsed = await simpleParser(mail.raw);
    assert.equal(parsed.subject, 'Re: Server down [UserContext: ab12cd34]');
    assert.equal(parsed.from?.value[0]?.address, '447700900123@sms.example.com');
    // The return path names the SMS and this one mail (VERP): a later bounce finds them (docs/replies.md).
    assert.match(mail.envelopeFrom, /^bounces\+01900000000070008000000000000001\.[0-9a-z]{13}@sms\.example\.com$/);
    assert.deepEqual(mail.recipients, ['alice@example.com']);
  });

  test('reply and forward prefixes of every language the inbound side knows leave the subject and Thread-Topic, as do bidi controls', async () => {
    const subjects = [
      '回复: Pump',
      '答复: Pump',
      '返信: Pump',
      'TR: Pump',
      'RV: Pump',
      'YNT: Pump',
      'Doorst: Pump',
      'ΑΠ: Pump',
      'Odp.: Pump',
      'Réf. : Pump',
      'SV: VS: Pump',
      'Re[2]: Pump',
      '[EXTERNAL] RE: Pump',
    ];
    for (const subject of subjects) {
      const { mail } = await buildReplyMail(sms, conversation(subject), options, '01900000-0000-7000-8000-000000000001');
      const parsed = await simpleParser(mail.raw);
      assert.equal(parsed.subject, 'Re: Pump [UserContext: ab12cd34]', subject);
      assert.equal(parsed.headers.get('thread-topic'), 'Pump', subject);
    }
    // U+202E would show "Pump gnp.exe alarm" reversed: dropped, as from the body.
    const { mail } = await buildReplyMail(sms, conversation('Pump \u202e\u200bgnp.exe alarm'), options, '01900000-0000-7000-8000-000000000001');
    const parsed = await simpleParser(mail.raw);
    assert.equal(parsed.subject, 'Re: Pump \u200bgnp.exe alarm [UserContext: ab12cd34]');
    // An unstructured header mailparser leaves encoded: its UTF-8 holds the zero-width space, not the override.
    assert.equal(parsed.headers.get('thread-topic'), '=?UTF-8?Q?Pump_=E2=80=8Bgnp=2Eexe_alarm?=');
  });

  test("the subject's relay parameters are not the conversation's subject: the reply mail has the writer's words", async () => {
    const subjects = {
      'UserContext:T98 From:Acme Pump alarm 2': 'Re: Pump alarm 2 [UserContext: ab12cd34]',
      'Pump alarm MaxParts:2': 'Re: Pump alarm [UserContext: ab12cd34]',
      'Re: Pump alarm [UserContext: ab12cd34] MaxConcat:3': 'Re: Pump alarm [UserContext: ab12cd34]',
      // Words of the text that look like tokens stay: only those at the start or end with a token's value are parameters.
      'Shift moved From:Mon-Tue to Wed': 'Re: Shift moved From:Mon-Tue to Wed [UserContext: ab12cd34]',
      'UserContext:T98': 'SMS from +44 7700 900123 [UserContext: ab12cd34]',
    };
    for (const [subject, expected] of Object.entries(subjects)) {
      const { mail } = await buildReplyMail(sms, conversation(subject), options, '01900000-0000-7000-8000-000000000001');
      assert.equal((await simpleParser(mail.raw)).subject, expected, subject);
    }
  });

  test("Outlook's conversation headers: the topic without prefixes and tag, and the index of the mail answered with one turn more", async () => {
    const headerTime = (BigInt(Date.UTC(2026, 10, 23, 9, 14)) + 11_644_473_600_000n) * 10_000n;
    const parent = Buffer.concat([Buffer.from([1]), Buffer.from((headerTime >> 24n).toString(16).padStart(10, '0'), 'hex'), Buffer.alloc(16, 0xab)]);
    const route = conversation('RE: Server down [UserContext: ab12cd34]');
    const answering = { ...route, conversation: route.conversation && { ...route.conversation, latestThreadIndex: parent.toString('base64') } };
    const parsed = await simpleParser((await buildReplyMail(sms, answering, options, '01900000-0000-7000-8000-000000000001')).mail.raw);
    assert.equal(parsed.headers.get('thread-topic'), 'Server down');
    const index = Buffer.from(String(parsed.headers.get('thread-index')), 'base64');
    assert.equal(index.length, 27);
    assert.deepEqual(index.subarray(0, 22), parent, "the parent's index first");
    // The child block: delta code 0, then bits 18-48 of the 6 minutes since the header's time in FILETIME units.
    const block = index.readUInt32BE(22);
    assert.equal(block >>> 31, 0);
    assert.equal(block & 0x7fffffff, Number((6n * 60n * 10_000_000n + (headerTime & 0xffffffn)) >> 18n));
    // A mail without a Thread-Index is answered without one (the topic still goes).
    const plain = await simpleParser((await buildReplyMail(sms, route, options, '01900000-0000-7000-8000-000000000001')).mail.raw);
    assert.deepEqual([plain.headers.get('thread-topic'), plain.headers.has('thread-index')], ['Server down', false]);
  });

  test('text that looks like headers stays body text', async () => {
    const hostile = { ...sms, text: 'x\r\nBcc: evil@example.com\r\n\r\n=?UTF-8?B?aGk=?=' };
    const parsed = await simpleParser((await buildReplyMail(hostile, conversation('Server down'), options, '01900000-0000-7000-8000-000000000001')).mail.raw);
    assert.equal(parsed.bcc, undefined);
    assert.match(parsed.text ?? '', /Bcc: evil@example\.com/);
  });

  test('an SMS with a lone CR and control characters is one well-formed mail, byte for byte the same through the Maildir and the smarthost', async () => {
    const odd = { ...sms, text: 'a\rb\r\nc\nd\u0000e\u001bf\u007fg\th\r' };
    const { mail } = await buildReplyMail(odd, conversation('Server down'), options, '01900000-0000-7000-8000-000000000001');
    const raw = mail.raw.toString('latin1');
    assert.doesNotMatch(raw, /\r(?!\n)|(?<!\r)\n/, 'CR and LF only together (RFC 5322 §2.3)');
    assert.deepEqual(
      ['\u0000', '\u001b', '\u007f'].filter((control) => raw.includes(control)),
      [],
      'NUL, ESC and DEL dropped',
    );
    // The final lone CR is a line break as well.
    assert.match((await simpleParser(mail.raw)).text ?? '', /^a\nb\nc\ndefg\th\n\n\n-- /);

    const dir = tempDir('smsrelay-reply-paths-');
    const sink = await new SmtpSink().start();
    const smarthost = smarthostTransport(sink.url, RELAY);
    try {
      const claimed = { ...mail, id: 1, attempts: 0, createdAt: Date.now() };
      assert.equal((await maildirTransport(dir).deliver(claimed)).ok, true);
      assert.equal((await smarthost.deliver(claimed)).ok, true);
      const [name] = readdirSync(join(dir, 'new'));
      const stored = readFileSync(join(dir, 'new', name ?? '')).toString('latin1');
      // The Maildir's own two envelope lines first, then the mail with LF line ends.
      const fromMaildir = stored.split('\n').slice(2).join('\n').replaceAll('\n', '\r\n');
      assert.equal(fromMaildir, raw);
      assert.equal(sink.received[0]?.raw, raw);
    } finally {
      await smarthost.close();
      await sink.stop();
      removeDir(dir);
    }
  });

  test('bidi embeddings, overrides and isolates from the phone are dropped, its marks kept; U+2028/U+2029 are line breaks', async () => {
    const bidi = { ...sms, text: 'see \u202etxt.exe\u202c and \u2066x\u2069\u202a\u202b\u202d\u2067\u2068\u2028next\u2029last \u05e9\u200f\u200e.' };
    const text =
      (await simpleParser((await buildReplyMail(bidi, conversation('Server down'), options, '01900000-0000-7000-8000-000000000001')).mail.raw)).text ?? '';
    assert.match(text, /^see txt\.exe and x\nnext\nlast \u05e9\u200f\u200e\.\n/);
    assert.doesNotMatch(text, /[\u202a-\u202e\u2066-\u2069\u2028\u2029]/);
  });

  test('a subject with line breaks stays one header line', async () => {
    const { mail } = await buildReplyMail(sms, conversation('Server\r\nBcc: evil@example.com'), options, '01900000-0000-7000-8000-000000000001');
    const parsed = await simpleParser(mail.raw);
    assert.equal(parsed.bcc, undefined);
    assert.equal(parsed.subject, 'Re: Server Bcc: evil@example.com [UserContext: ab12cd34]');
  });

  test('signed with DKIM for the SMS domain when a key is configured', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const dkim = new DKIM({
      domainName: 'sms.example.com',
      keySelector: 'sms2026',
      privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    });
    const { mail } = await buildReplyMail(sms, conversation('Server down'), { ...options, dkim }, '01900000-0000-7000-8000-000000000001');
    const signature = /^DKIM-Signature: (.+(?:\r\n[ \t].+)*)/m.exec(mail.raw.toString())?.[1] ?? '';
    assert.match(signature, /d=sms\.example\.com/);
    assert.match(signature, /s=sms2026/);
  });
});
