import assert from 'node:assert/strict';
import { isAscii } from 'node:buffer';
import { buffer } from 'node:stream/consumers';
import { after, before, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import {
  freePort,
  gatewayYaml,
  maildirMessages,
  relayWithSimulator,
  removeDir,
  type Simulator,
  startSimulator,
  startTestRelay,
  tempDir,
  type TestRelay,
  waitFor,
} from '../helpers/relay.ts';
import { type MailSpec, message, queuedId, sendMail } from '../helpers/smtp.ts';
import { SmtpSink, testSmarthost } from '../helpers/smtp-sink.ts';

const HOSTNAME = 'relay.example.net';
const NUMBER = '447700900401';

/** A mail whose bytes are known in advance (fixed Message-ID and Date), to compare with what is delivered. */
function spec(to: readonly string[], body: string, from = 'alice@example.com'): MailSpec {
  return {
    from,
    to,
    body,
    headers: { From: 'Alice <alice@example.com>', 'Message-ID': `<${body.replaceAll(' ', '-')}@example.com>`, Date: 'Mon, 2 Mar 2026 10:00:00 +0000' },
  };
}

/** The trace the relay puts on a mail it takes for the postmaster: the client's greeting and address, the relay's name, the message id. */
function traceOf(id: string): RegExp {
  return new RegExp(
    `^Received: from client\\.example\\.com \\(\\[127\\.0\\.0\\.1\\]\\)\\r?\\n\\tby ${HOSTNAME.replaceAll('.', '\\.')} with ESMTP id ${id};\\r?\\n\\t\\w{3}, \\d{2} \\w{3} \\d{4} [\\d:]{8} \\+0000\\r?\\n`,
  );
}

/**
 * RFC 5321 §4.5.1: a server that delivers mail takes `postmaster` at each of its domains and the
 * bare `<Postmaster>`, in any case. The relay queues such a mail as its own and delivers it as it
 * came, never as SMS: into the Maildir without a smarthost, to `mail.postmaster` through one.
 */
describe('postmaster without a smarthost: the Maildir', () => {
  const suite = relayWithSimulator({
    smtp: { hostname: HOSTNAME, trustedNetworks: ['127.0.0.1/32'] },
    sms: { domains: ['sms.localhost', 'sms.example.com'], defaultRegion: 'GB' },
  });

  /** The Maildir file holding `body`, once the mailer wrote it. */
  const delivered = (body: string) =>
    waitFor(`the Maildir file with "${body}"`, () => maildirMessages(suite.relay.maildir).find((file) => file.includes(body)));

  test('bare <postmaster> and postmaster@ each SMS domain, in any case: 250, and the mail lands in the Maildir as it came, not as SMS', async () => {
    for (const address of ['postmaster', 'PostMaster', 'POSTMASTER@sms.example.com', 'postmaster@SMS.Localhost']) {
      const mail = spec([address], `to ${address}`);
      const sent = await sendMail(suite.port, mail);
      assert.equal(sent.rcpt[0]?.code, 250, `${address}: ${sent.rcpt[0]?.text}`);
      assert.equal(sent.data?.code, 250, `${address}: ${sent.data?.text}`);
      const id = queuedId(sent.data);
      const file = await delivered(`to ${address}`);
      const [envelope, rest] = [file.slice(0, file.indexOf('Received:')), file.slice(file.indexOf('Received:'))];
      assert.equal(envelope, 'Return-Path: <alice@example.com>\nDelivered-To: postmaster@sms.localhost\n');
      const trace = traceOf(id).exec(rest);
      assert.ok(trace, rest);
      assert.equal(rest.slice(trace[0].length), message(mail).replaceAll('\r\n', '\n'), 'the original bytes follow the trace');
    }
    assert.deepEqual(suite.gateway.simulator.received, [], 'no SMS');
  });

  test('postmaster at another domain is still relaying, refused with 550 5.7.1', async () => {
    const sent = await sendMail(suite.port, spec(['postmaster@example.com'], 'not ours'));
    assert.equal(sent.rcpt[0]?.code, 550);
    assert.equal(sent.rcpt[0]?.enhanced, '5.7.1');
  });

  test('the null sender reaches the postmaster (its mail keeps the null sender), and is still refused for a number', async () => {
    const sent = await sendMail(suite.port, spec(['postmaster', `${NUMBER}@sms.localhost`], 'a bounce for the postmaster', ''));
    assert.equal(sent.rcpt[0]?.code, 250, sent.rcpt[0]?.text);
    assert.equal(`${sent.rcpt[1]?.code} ${sent.rcpt[1]?.enhanced}`, '550 5.7.1', sent.rcpt[1]?.text);
    assert.match(sent.rcpt[1]?.text ?? '', /null sender/);
    assert.equal(sent.data?.code, 250, sent.data?.text);
    const file = await delivered('a bounce for the postmaster');
    assert.match(file, /^Return-Path: <>\n/);
  });

  test('postmaster and a number in one transaction: the later gets 452 4.5.3, and each is delivered when sent on its own', async () => {
    const numberFirst = await sendMail(suite.port, spec([`${NUMBER}@sms.localhost`, 'postmaster'], 'number first'));
    assert.equal(numberFirst.rcpt[0]?.code, 250);
    assert.equal(`${numberFirst.rcpt[1]?.code} ${numberFirst.rcpt[1]?.enhanced}`, '452 4.5.3');
    assert.match(numberFirst.rcpt[1]?.text ?? '', /send the postmaster's copy in a mail of its own/);
    assert.equal(numberFirst.data?.code, 250, numberFirst.data?.text);

    const postmasterFirst = await sendMail(suite.port, spec(['postmaster@sms.localhost', `${NUMBER}@sms.localhost`], 'postmaster first'));
    assert.equal(postmasterFirst.rcpt[0]?.code, 250);
    assert.equal(`${postmasterFirst.rcpt[1]?.code} ${postmasterFirst.rcpt[1]?.enhanced}`, '452 4.5.3');
    assert.match(postmasterFirst.rcpt[1]?.text ?? '', /send the SMS in a mail of its own/);
    assert.equal(postmasterFirst.data?.code, 250, postmasterFirst.data?.text);

    // What a client does with a 452: the deferred recipient in a transaction of its own.
    assert.equal((await sendMail(suite.port, spec(['postmaster'], 'number first'))).data?.code, 250);
    assert.equal((await sendMail(suite.port, spec([`${NUMBER}@sms.localhost`], 'postmaster first'))).data?.code, 250);

    await waitFor('both SMS', () =>
      ['number first', 'postmaster first'].every((text) => suite.gateway.simulator.received.some((sms) => sms.to === NUMBER && sms.text === text)),
    );
    await delivered('number first');
    await delivered('postmaster first');
    assert.equal(suite.gateway.simulator.received.length, 2, 'one SMS each, none of the postmaster mails');
  });

  test('a mail for the postmaster over the size limit is refused as any other (552 5.3.4)', async () => {
    const sent = await sendMail(suite.port, spec(['postmaster'], 'x'.repeat(suite.relay.config.smtp.maxMessageBytes + 1)));
    assert.equal(`${sent.data?.code} ${sent.data?.enhanced}`, '552 5.3.4');
  });
});

describe('the trace of a mail taken on every address', () => {
  const suite = relayWithSimulator({ smtp: { host: '::', hostname: HOSTNAME, trustedNetworks: ['127.0.0.1/32', '::1/128'] } });
  const traced = async (host: string, body: string) => {
    const sent = await sendMail(suite.port, spec(['postmaster'], body), { host, helo: 'Client.Example.COM' });
    assert.equal(sent.data?.code, 250, sent.data?.text);
    const file = await waitFor(`the Maildir file with "${body}"`, () => maildirMessages(suite.relay.maildir).find((item) => item.includes(body)));
    return /^Received: from (\S+) \((\S+)\)/m.exec(file)?.slice(1);
  };

  test('an IPv6 client is written as the RFC 5321 address literal, and the EHLO name as the client wrote it', async () => {
    assert.deepEqual(await traced('::1', 'over IPv6'), ['Client.Example.COM', '[IPv6:::1]']);
  });
});

describe('postmaster with a smarthost', () => {
  let gateway: Simulator;
  let sink: SmtpSink;
  const relays: TestRelay[] = [];

  before(async () => {
    gateway = await startSimulator();
    sink = await new SmtpSink().start();
  });
  after(async () => {
    for (const relay of relays) {
      await relay.stop();
      removeDir(relay.dir);
    }
    await sink.stop();
    await gateway.close();
  });

  const yaml = (url: string) => ({
    ...gatewayYaml(gateway.url),
    smtp: { hostname: HOSTNAME, trustedNetworks: ['127.0.0.1/32'] },
    sms: { domains: ['sms.example.com'], defaultRegion: 'GB' },
    mail: { url, retryMinDelay: '100ms', retryMaxDelay: '300ms' },
  });
  const start = async (...args: Parameters<typeof startTestRelay>) => {
    const relay = await startTestRelay(...args);
    relays.push(relay);
    return relay;
  };
  const sunk = (body: string) => waitFor(`the smarthost's copy of "${body}"`, () => sink.received.find((mail) => mail.raw.includes(body)));

  test('with mail.postmaster (SMSRELAY_MAIL_POSTMASTER): forwarded there with its envelope sender, the trace and the original bytes', async () => {
    const relay = await start(yaml(sink.url), { SMSRELAY_MAIL_POSTMASTER: 'ops@example.com' });
    const mail = spec(['Postmaster@sms.example.com'], 'through the smarthost');
    const sent = await sendMail(relay.relay.smtpPort, mail);
    assert.equal(sent.data?.code, 250, sent.data?.text);
    const copy = await sunk('through the smarthost');
    assert.equal(copy.from, 'alice@example.com');
    assert.deepEqual(copy.to, ['ops@example.com']);
    const trace = traceOf(queuedId(sent.data)).exec(copy.raw);
    assert.ok(trace, copy.raw);
    assert.equal(copy.raw.slice(trace[0].length), message(mail));

    const bounce = await sendMail(relay.relay.smtpPort, spec(['postmaster'], 'a bounce through the smarthost', ''));
    assert.equal(bounce.data?.code, 250, bounce.data?.text);
    assert.equal((await sunk('a bounce through the smarthost')).from, '', 'the null sender stays null: no bounce of a bounce');
  });

  for (const plain of [true, false])
    test(`a UTF-8 sender and an 8-bit body forwarded to a smarthost ${plain ? 'without' : 'with'} SMTPUTF8 and 8BITMIME: ${plain ? 'delivered from mail.from, the body made quoted-printable' : 'as they came, declared'}`, async () => {
      const received: Array<{ from: string; raw: Buffer; body: string; utf8: boolean }> = [];
      const smarthost = await testSmarthost({
        hide8BITMIME: plain,
        hideSMTPUTF8: plain,
        // As Exim without SMTPUTF8: a UTF-8 address is a syntax error.
        onMailFrom: (address, _session, callback) =>
          plain && !isAscii(Buffer.from(address.address)) ? callback(Object.assign(new Error('5.5.4 bad address syntax'), { responseCode: 501 })) : callback(),
        onData: (stream, session, callback) => {
          void buffer(stream).then((raw) => {
            const { mailFrom, bodyType, smtpUtf8 } = session.envelope;
            received.push({ from: mailFrom ? mailFrom.address : '', raw, body: bodyType ?? '7bit', utf8: smtpUtf8 === true });
            callback();
          });
        },
      });
      const { port } = smarthost;
      try {
        const relay = await start({
          ...yaml(`smtp://127.0.0.1:${port}`),
          mail: { ...yaml('').mail, url: `smtp://127.0.0.1:${port}`, postmaster: 'ops@example.com' },
        });
        const text = `Grüße from the plant ${plain}: 25 °C`;
        const mail = spec(['postmaster'], text, 'jürgen@example.com');
        // 8-bit octets in the body only: UTF-8 headers (RFC 6532) are no body to encode.
        const sent = await sendMail(relay.relay.smtpPort, {
          ...mail,
          headers: { ...mail.headers, 'Message-ID': `<utf8-${plain}@example.com>` },
          mailParams: 'SMTPUTF8',
        });
        assert.equal(sent.data?.code, 250, sent.data?.text);
        const [copy] = await waitFor('the forward at the smarthost', () => received.length > 0 && received);
        const parsed = await simpleParser(copy?.raw ?? Buffer.alloc(0));
        assert.equal(parsed.text?.trim(), text, 'the same text, read back');
        if (plain) {
          assert.equal(copy?.from, 'MAILER-DAEMON@sms.example.com', 'mail.from, as no UTF-8 address may go to this smarthost');
          assert.ok(isAscii(copy?.raw ?? Buffer.alloc(0)), `no 8-bit octet to a smarthost without 8BITMIME: ${copy?.raw.toString()}`);
          assert.match(copy?.raw.toString() ?? '', /^Content-Transfer-Encoding: quoted-printable\r$/m);
        } else {
          assert.deepEqual({ from: copy?.from, body: copy?.body, utf8: copy?.utf8 }, { from: 'jürgen@example.com', body: '8bitmime', utf8: true });
          assert.ok(copy?.raw.includes(Buffer.from(text)), 'the body as it came');
        }
      } finally {
        await smarthost.close();
      }
    });

  test('without mail.postmaster: RCPT postmaster gets 550 5.1.1 naming the setting', async () => {
    const relay = await start(yaml(sink.url));
    const sent = await sendMail(relay.relay.smtpPort, spec(['postmaster'], 'nowhere to go'));
    assert.equal(`${sent.rcpt[0]?.code} ${sent.rcpt[0]?.enhanced}`, '550 5.1.1');
    assert.match(sent.rcpt[0]?.text ?? '', /mail\.postmaster \(SMSRELAY_MAIL_POSTMASTER\) is not set/);
    assert.equal(sent.data, undefined);
  });

  test('a relay restarted between the 250 and the delivery still delivers it: it was in the store', async () => {
    const down = await freePort();
    const dir = tempDir();
    const settings = { ...yaml(`smtp://127.0.0.1:${down}`), mail: { ...yaml('').mail, url: `smtp://127.0.0.1:${down}`, postmaster: 'ops@example.com' } };
    const first = await startTestRelay(settings, {}, dir);
    const sent = await sendMail(first.relay.smtpPort, spec(['postmaster'], 'across a restart'));
    assert.equal(sent.data?.code, 250, sent.data?.text);
    await first.stop();
    const smarthost = await new SmtpSink().start(down);
    try {
      await start(settings, {}, dir);
      const copy = await waitFor('the mail after the restart', () => smarthost.received.find((mail) => mail.raw.includes('across a restart')));
      assert.deepEqual(copy.to, ['ops@example.com']);
    } finally {
      await smarthost.stop();
    }
  });
});
