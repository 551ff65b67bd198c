import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import nodemailer from 'nodemailer';
import { loadConfig } from '../../src/config/load.ts';
import { STORE_FILE, startRelay } from '../../src/relay.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { maildirMessages, relayEnvironment, relayWithSimulator, removeDir, tempDir, waitFor } from '../helpers/relay.ts';
import { queuedId, sendMail, SmtpDialog } from '../helpers/smtp.ts';

const LIST_OF_250 = Array.from({ length: 250 }, (_, index) => `+447700900${500 + index}`);
const INVALID = '447700900999';
/** A device listed under `networks`: known by its address, as the trusted networks are. */
const LISTED_DEVICE = '127.0.0.3';

describe('SMTP intake → gateway', () => {
  const suite = relayWithSimulator(
    {
      smtp: { maxRecipients: 5, maxMessageBytes: 20_000, trustedNetworks: ['127.0.0.1/32'] },
      networks: [{ name: 'ups', cidr: [LISTED_DEVICE], senders: ['@example.com'] }],
      sms: {
        domains: ['sms.localhost', 'sms.example.com'],
        defaultRegion: 'GB',
        lists: {
          'oncall@sms.example.com': ['07700 900201', '+447700900202'],
          'everyone@sms.example.com': LIST_OF_250,
        },
      },
      delivery: { retryMinDelay: '100ms', retryMaxDelay: '500ms' },
    },
    { simulator: { invalidNumbers: [INVALID] } },
  );

  const received = (to: string) => suite.gateway.simulator.received.filter((sms) => sms.to === to);

  test('a mail from a real SMTP client gets 250 with its message id, and the gateway gets the SMS', async () => {
    const client = nodemailer.createTransport({ host: '127.0.0.1', port: suite.port, secure: false, ignoreTLS: true });
    const info = await client.sendMail({
      from: 'alice@example.com',
      to: '447700900123@sms.localhost',
      subject: 'Server down',
      text: 'Disk full on db1',
    });
    client.close();
    assert.match(info.response, /^250 2\.6\.0 Ok: queued as [0-9a-f-]{36}$/);
    const [sms] = await waitFor('the SMS', () => received('447700900123').length === 1 && received('447700900123'));
    assert.equal(sms?.text, 'Disk full on db1');
    assert.equal(sms?.maxconcat, 6);
  });

  test('a body whose text was all removed: its subject is sent and the 250 says so', async () => {
    const client = nodemailer.createTransport({ host: '127.0.0.1', port: suite.port, secure: false, ignoreTLS: true });
    try {
      const info = await client.sendMail({
        from: 'alice@example.com',
        to: '447700900125@sms.localhost',
        subject: 'Pump 3 back online',
        text: 'Sent from my iPhone\n',
      });
      assert.match(info.response, /^250 2\.6\.0 Ok: queued as [0-9a-f-]{36} \(the body held only a device line: the subject was sent in its place\)$/);
      const [sms] = await waitFor('the SMS', () => received('447700900125').length === 1 && received('447700900125'));
      assert.equal(sms?.text, 'Pump 3 back online');
    } finally {
      client.close();
    }
  });

  test('an attachment is named as not sent, in the 250 and in the "no text" 554; a signature image inside the HTML is not', async () => {
    const client = nodemailer.createTransport({ host: '127.0.0.1', port: suite.port, secure: false, ignoreTLS: true });
    try {
      const info = await client.sendMail({
        from: 'alice@example.com',
        to: '447700900124@sms.localhost',
        text: 'Report attached',
        html: '<p>Report attached</p><img src="cid:logo@example.com">',
        attachments: [
          { filename: 'report.pdf', content: Buffer.from('%PDF-1.4 not really') },
          { filename: 'logo.png', content: Buffer.from('png'), cid: 'logo@example.com' },
        ],
      });
      assert.match(info.response, /^250 2\.6\.0 Ok: queued as [0-9a-f-]{36} \(the attachment "report\.pdf" is not sent: an SMS carries text only\)$/);
      // Its text alone is sent (and before the next test counts the gateway's requests).
      const [sms] = await waitFor('the SMS', () => received('447700900124').length === 1 && received('447700900124'));
      assert.equal(sms?.text, 'Report attached');
      const refused = await client
        .sendMail({
          from: 'alice@example.com',
          to: '447700900124@sms.localhost',
          text: '',
          attachments: [
            { filename: 'scan1.jpg', content: Buffer.from('a') },
            { filename: 'Prüfbericht Größe.jpg', content: Buffer.from('b') },
          ],
        })
        .then(
          () => assert.fail('a mail with nothing but attachments must be refused'),
          (error: { responseCode?: number; response?: string }) => error,
        );
      assert.equal(refused.responseCode, 554);
      assert.match(
        refused.response ?? '',
        // A name is kept to printable ASCII by its letters' base letters, not a `?` for each accented one.
        /^554 5\.6\.0 The mail has no text to send as SMS: .*; 2 attachments "scan1\.jpg" and "Prufbericht Gro\?e\.jpg" are not sent: an SMS carries text only$/,
      );
    } finally {
      client.close();
    }
  });

  test('a long attachment name is shortened in the 250 with its extension kept and the cut marked, never shown as a name no file has', async () => {
    const client = nodemailer.createTransport({ host: '127.0.0.1', port: suite.port, secure: false, ignoreTLS: true });
    const names = [
      // Outlook's "attach original message": the reply mail as an .eml named after its subject.
      ['Re: Server down [UserContext: o7ykketl].eml', 'Re: Server down [UserContext: o7y....eml'],
      ['Pump station 4 - maintenance report December 2026.pdf', 'Pump station 4 - maintenance repo....pdf'],
      // No extension to keep: the cut is marked at the end; at 40 characters, whole.
      ['A scan of the pump room log book pages 1 to 12', 'A scan of the pump room log book page...'],
      ['Exactly forty characters in the name.pdf', 'Exactly forty characters in the name.pdf'],
    ];
    try {
      for (const [filename, shown] of names) {
        const info = await client.sendMail({
          from: 'alice@example.com',
          to: '447700900126@sms.localhost',
          text: 'see attached',
          // Each labelled a plain file: nodemailer would label the .eml message/rfc822, whose content here is no mail.
          attachments: [{ filename, content: Buffer.from('%PDF-1.4 not really'), contentType: 'application/pdf' }],
        });
        assert.equal(shown?.length, 40);
        assert.ok(info.response.endsWith(` (the attachment "${shown}" is not sent: an SMS carries text only)`), `${filename}: ${info.response}`);
      }
      // Each text sent before the next test counts the gateway's requests.
      await waitFor('the SMS', () => received('447700900126').length === names.length);
    } finally {
      client.close();
    }
  });

  test('several recipients of one mail go in one gateway request', async () => {
    const before = suite.gateway.simulator.requests;
    const result = await sendMail(suite.port, {
      to: ['447700900131@sms.localhost', '+447700900132@sms.localhost', '00447700900133@sms.localhost'],
      body: 'three at once',
    });
    assert.deepEqual(
      result.rcpt.map((reply) => reply.code),
      [250, 250, 250],
    );
    assert.equal(result.data?.code, 250);
    await waitFor('three SMS', () => ['447700900131', '447700900132', '447700900133'].every((to) => received(to).length === 1));
    assert.equal(suite.gateway.simulator.requests - before, 1);
  });

  test('a distribution list expands to its members; a number named twice gets one SMS', async () => {
    const result = await sendMail(suite.port, {
      to: ['oncall@sms.example.com', '447700900202@sms.example.com'],
      body: 'page the on-call team',
    });
    assert.equal(result.data?.code, 250);
    await waitFor('both members', () => received('447700900201').length === 1 && received('447700900202').length === 1);
  });

  test('national numbers use the default region', async () => {
    const result = await sendMail(suite.port, { to: ['07700900141@sms.localhost'], body: 'national' });
    assert.equal(result.rcpt[0]?.code, 250);
    await waitFor('the SMS', () => received('447700900141').length === 1);
  });

  test('foreign domains and relay tricks are refused with 550 5.7.1', async () => {
    const dialog = await SmtpDialog.open(suite.port);
    await dialog.command('EHLO client.example.com');
    await dialog.command('MAIL FROM:<alice@example.com>');
    for (const address of [
      '447700900123@example.com',
      '447700900123%example.com@sms.localhost',
      'example.com!447700900123@sms.localhost',
      '"447700900123"@sms.localhost',
      '@sms.localhost:bob@example.com',
      '447700900123@sms.localhost.example.com',
    ]) {
      const reply = await dialog.command(`RCPT TO:<${address}>`);
      assert.equal(reply.code, 550, address);
      assert.equal(reply.enhanced, '5.7.1', `${address}: ${reply.text}`);
      assert.match(reply.text, /Relaying denied/);
    }
    await dialog.close();
  });

  test('a bad number is refused at RCPT with 550 5.1.3 and the reason', async () => {
    const result = await sendMail(suite.port, { to: ['12@sms.localhost', 'hello@sms.localhost', '+999123456@sms.localhost'] });
    assert.deepEqual(
      result.rcpt.map((reply) => `${reply.code} ${reply.enhanced}`),
      ['550 5.1.3', '550 5.1.3', '550 5.1.3'],
    );
    assert.match(result.rcpt[0]?.text ?? '', /"12" is too short/);
    assert.match(result.rcpt[1]?.text ?? '', /not a phone number/);
    assert.match(result.rcpt[2]?.text ?? '', /country code/);
    assert.equal(result.data, undefined);
  });

  test("a number written with spaces gets 501 5.1.3 saying how to write it, not smtp-server's syntax error", async () => {
    const dialog = await SmtpDialog.open(suite.port);
    await dialog.command('EHLO client.example.com');
    await dialog.command('MAIL FROM:<alice@example.com>');
    for (const [address, written] of [
      ['447 700 900123@sms.localhost', '447700900123@sms.localhost'],
      ['"+44 7700 900123"@sms.example.com', '+447700900123@sms.example.com'],
      ['07700 900-123@sms.localhost', '07700900-123@sms.localhost'],
    ] as const) {
      const reply = await dialog.command(`RCPT TO:<${address}>`);
      assert.equal(`${reply.code} ${reply.enhanced}`, '501 5.1.3', `${address}: ${reply.text}`);
      assert.equal(reply.text, `5.1.3 Write the number without spaces: <${written}>`);
    }
    assert.equal((await dialog.command('RCPT TO:<447700900123@sms.localhost>')).code, 250, 'written as the reply says, it is taken');
    const other = await dialog.command('RCPT TO:<alice smith@sms.localhost>');
    assert.equal(other.code, 501, "a name with a space is no number: smtp-server's own answer");
    assert.match(other.text, /Bad recipient address syntax/);
    await dialog.close();
  });

  test('a HELO or EHLO without an argument, or with a name smtp-server cannot take, gets 501 5.5.4 saying what to write', async () => {
    const dialog = await SmtpDialog.open(suite.port);
    const answers = [];
    for (const command of ['EHLO', 'HELO', `EHLO ${'a'.repeat(301)}`, `HELO ${'a '.repeat(150)}b`, 'HELO a\x01b', 'EHLO two a\x01b']) {
      const reply = await dialog.command(command);
      answers.push(`${reply.code} ${reply.text}`);
    }
    assert.deepEqual(answers, [
      "501 5.5.4 Syntax: EHLO <host name>: the client's host name or its address in brackets",
      "501 5.5.4 Syntax: HELO <host name>: the client's host name or its address in brackets",
      ...Array(4).fill('501 5.5.4 Bad HELO/EHLO host name: at most 300 characters, without control characters'),
    ]);
    assert.equal((await dialog.command('EHLO client.example.com')).code, 250);
    await dialog.close();
  });

  test("a HELO or EHLO name of several words (a printer's friendly name) is taken as Postfix takes it: the words joined, recorded as written", async () => {
    const greetings = [
      ['HELO Brother MFC-L2750DW', '447700900211', 'Brother MFC-L2750DW'],
      ['EHLO  Konica\tMinolta  bizhub ', '447700900212', 'Konica Minolta bizhub'],
    ] as const;
    const ids = [];
    for (const [greeting, number] of greetings) {
      const dialog = await SmtpDialog.open(suite.port);
      try {
        assert.equal((await dialog.command(greeting)).code, 250, greeting);
        await dialog.command('MAIL FROM:<mfp@example.com>');
        await dialog.command(`RCPT TO:<${number}@sms.localhost>`);
        ids.push(queuedId(await dialog.data('Subject: Toner low\r\n\r\nToner low on the 2nd floor MFP')));
      } finally {
        await dialog.close();
      }
    }
    const db = new BetterSqlite3(join(suite.relay.config.dataDir, STORE_FILE), { readonly: true });
    try {
      for (const [index, [greeting, , name]] of greetings.entries()) {
        assert.deepEqual(db.prepare('SELECT client_helo FROM messages WHERE id = ?').get(ids[index]), { client_helo: name }, greeting);
      }
    } finally {
      db.close();
    }
  });

  test('a MAIL or RCPT parameter of an extension the relay does not offer gets 555 5.5.4 (RFC 5321 §4.1.1.11); the offered ones pass', async () => {
    const dialog = await SmtpDialog.open(suite.port);
    await dialog.command('EHLO client.example.com');
    const unknownMail = await dialog.command('MAIL FROM:<alice@example.com> FOO=BAR');
    assert.equal(`${unknownMail.code} ${unknownMail.text}`, '555 5.5.4 Unsupported MAIL FROM parameter FOO');
    // A relay without accounts offers no AUTH: its AUTH= parameter is one of an extension not offered.
    const auth = await dialog.command('MAIL FROM:<alice@example.com> AUTH=<>');
    assert.equal(`${auth.code} ${auth.text}`, '555 5.5.4 Unsupported MAIL FROM parameter AUTH');
    const offered = await dialog.command('MAIL FROM:<alice@example.com> SIZE=100 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=e1');
    assert.equal(offered.code, 250, offered.text);
    const unknownRcpt = await dialog.command('RCPT TO:<447700900151@sms.localhost> XPRIORITY=1');
    assert.equal(`${unknownRcpt.code} ${unknownRcpt.text}`, '555 5.5.4 Unsupported RCPT TO parameter XPRIORITY');
    const dsn = await dialog.command('RCPT TO:<447700900151@sms.localhost> NOTIFY=FAILURE ORCPT=rfc822;447700900151@sms.localhost');
    assert.equal(dsn.code, 250, dsn.text);
    await dialog.close();
  });

  test('SIZE: a declared size over the limit is refused at MAIL, a bigger body at end of DATA (552 5.3.4)', async () => {
    const declared = await sendMail(suite.port, { to: ['447700900150@sms.localhost'], mailParams: 'SIZE=50000' });
    assert.equal(declared.mail.code, 552);
    const big = await sendMail(suite.port, { to: ['447700900150@sms.localhost'], body: 'x'.repeat(30_000) });
    assert.equal(big.data?.code, 552);
    assert.equal(big.data?.enhanced, '5.3.4');
    assert.match(big.data?.text ?? '', /limit is 20000 bytes/);
    assert.equal(received('447700900150').length, 0);
  });

  test('the recipient limit answers 452 4.5.3 and the accepted ones are still sent', async () => {
    const to = Array.from({ length: 6 }, (_, index) => `4477009001${60 + index}@sms.localhost`);
    const result = await sendMail(suite.port, { to, body: 'limit' });
    assert.deepEqual(
      result.rcpt.map((reply) => reply.code),
      [250, 250, 250, 250, 250, 452],
    );
    assert.equal(result.rcpt[5]?.enhanced, '4.5.3');
    assert.equal(result.data?.code, 250);
    await waitFor('five SMS', () => to.slice(0, 5).every((address) => received(address.split('@')[0] ?? '').length === 1));
  });

  test('more than 100 numbers are sent in batches of at most 100 per gateway request', async () => {
    const before = suite.gateway.simulator.requests;
    const result = await sendMail(suite.port, { to: ['everyone@sms.example.com'], body: 'all hands' });
    assert.equal(result.data?.code, 250);
    const all = await waitFor('250 SMS', () => {
      const texts = suite.gateway.simulator.received.filter((sms) => sms.text === 'all hands');
      return texts.length === 250 && texts;
    });
    assert.equal(new Set(all.map((sms) => sms.to)).size, 250);
    assert.equal(suite.gateway.simulator.requests - before, 3);
  });

  test('a multi-line gateway reply with one failed number: the others are sent, the sender gets one DSN naming it', async () => {
    const result = await sendMail(suite.port, {
      from: 'carol@example.com',
      to: ['447700900171@sms.localhost', `${INVALID}@sms.localhost`, '447700900172@sms.localhost'],
      subject: 'Deploy done',
      body: 'deployed',
    });
    const id = queuedId(result.data);
    await waitFor('two SMS', () => received('447700900171').length === 1 && received('447700900172').length === 1);
    const bounce = await waitFor('the bounce', () => maildirMessages(suite.relay.maildir).find((mail) => mail.includes(id)));
    assert.match(bounce, /^Return-Path: <>\n/);
    assert.match(bounce, /^Delivered-To: carol@example\.com$/m);
    assert.match(bounce, /^Subject: Undelivered SMS: Deploy done$/m);
    assert.match(bounce, /Content-Type: multipart\/report; report-type=delivery-status/);
    assert.match(bounce, /\+44 7700 900999/);
    assert.match(bounce, /Final-Recipient: rfc822; 447700900999@sms\.localhost/);
    assert.match(bounce, /Action: failed/);
    assert.match(bounce, /Status: 5\.1\.1/);
    assert.match(bounce, /Diagnostic-Code: X-SMS; ERR:INVALID_NUMBER/);
    assert.equal(bounce.match(/^Final-Recipient:/gm)?.length, 1, 'only the failed number is reported');
  });

  test('a client outside the trusted networks cannot send without AUTH (530 5.7.0)', async () => {
    const result = await sendMail(suite.port, { to: ['447700900123@sms.localhost'] }, { localAddress: '127.0.0.2' });
    assert.equal(result.mail.code, 530);
    assert.equal(result.mail.enhanced, '5.7.0');
  });

  test('AUTH on a relay without accounts says to send from a trusted network instead (502 5.5.1), and EHLO offers no AUTH', async () => {
    const refusedAuth = async () => {
      const metrics = await (await fetch(`http://127.0.0.1:${suite.relay.relay.httpPort}/metrics`)).text();
      return Number(/^smsrelay_smtp_refused_total\{code="AUTH_UNAVAILABLE"\} (\d+)$/m.exec(metrics)?.[1] ?? 0);
    };
    const before = await refusedAuth();
    const dialog = await SmtpDialog.open(suite.port, { localAddress: '127.0.0.2' });
    try {
      const ehlo = await dialog.command('EHLO ups.example.com');
      assert.ok(!ehlo.lines.some((line) => /^250[- ]AUTH/.test(line)), ehlo.lines.join(' | '));
      // Not offering AUTH at EHLO refuses nothing: only an AUTH command's answer counts.
      assert.equal(await refusedAuth(), before);
      // A bare AUTH too: its syntax (naming mechanisms) would point the client at a command it cannot use here.
      for (const command of [`AUTH PLAIN ${Buffer.from('\0ups\0secret').toString('base64')}`, 'AUTH LOGIN', 'AUTH']) {
        const auth = await dialog.command(command);
        assert.equal(
          `${auth.code} ${auth.text}`,
          '502 5.5.1 This relay has no accounts: send without AUTH from a network it trusts (smtp.trustedNetworks or networks)',
        );
      }
      assert.equal(await refusedAuth(), before + 3);
    } finally {
      await dialog.close();
    }
  });

  test('trusted clients get the greeting at once; others keep smtp-server early-talker detection', async () => {
    const trusted = await SmtpDialog.open(suite.port, { waitForGreeting: false });
    trusted.write('EHLO eager.example.com\r\n');
    assert.equal((await trusted.reply()).code, 220);
    assert.equal((await trusted.reply()).code, 250);
    await trusted.close();
    // A HELO first too: smtp-server's own 421 after a HELO had no enhanced code, and its words were not the catalogue's.
    for (const greeting of ['EHLO', 'HELO']) {
      const untrusted = await SmtpDialog.open(suite.port, { localAddress: '127.0.0.2', waitForGreeting: false });
      untrusted.write(`${greeting} eager.example.com\r\n`);
      const first = await untrusted.reply();
      assert.equal(`${first.code} ${first.text}`, '421 4.4.2 The client does not speak SMTP: it wrote before the greeting, or sent HTTP');
      await untrusted.close().catch(() => {});
    }
  });

  test('a device listed under networks may write its whole session before the greeting (printf … | nc -N): every command answered, the SMS sent', async () => {
    const device = await SmtpDialog.open(suite.port, { localAddress: LISTED_DEVICE, waitForGreeting: false });
    device.endSending(
      'HELO ups\r\nMAIL FROM:<ups@example.com>\r\nRCPT TO:<447700900128@sms.localhost>\r\nDATA\r\nSubject: UPS on battery\r\n\r\nUPS on battery\r\n.\r\nQUIT\r\n',
    );
    const codes: number[] = [];
    for (let reply = await device.reply(); ; reply = await device.reply()) {
      codes.push(reply.code);
      if (reply.code === 221 || reply.code >= 400) break;
    }
    await device.close().catch(() => {});
    assert.deepEqual(codes, [220, 250, 250, 250, 354, 250, 221]);
    await waitFor('the SMS', () => received('447700900128').length === 1);
  });

  test('a mail with no text at all is refused at end of DATA (554 5.6.0)', async () => {
    const result = await sendMail(suite.port, { to: ['447700900180@sms.localhost'], subject: '', body: '   ' });
    assert.equal(result.data?.code, 554);
    assert.equal(result.data?.enhanced, '5.6.0');
  });

  test('when the store cannot commit, the client gets 451 4.3.0, never 250, and nothing is sent', async () => {
    const intruder = new BetterSqlite3(join(suite.relay.config.dataDir, STORE_FILE));
    intruder.exec('BEGIN IMMEDIATE');
    try {
      const result = await sendMail(suite.port, { to: ['447700900190@sms.localhost'], body: 'store down' });
      assert.equal(result.data?.code, 451);
      assert.equal(result.data?.enhanced, '4.3.0');
    } finally {
      intruder.exec('ROLLBACK');
      intruder.close();
    }
    const retried = await sendMail(suite.port, { to: ['447700900190@sms.localhost'], body: 'store back' });
    assert.equal(retried.data?.code, 250);
    await waitFor('the SMS', () => received('447700900190').length === 1);
    assert.equal(received('447700900190')[0]?.text, 'store back');
  });
});

describe('SIGHUP without smtp.tls', () => {
  test('says there is nothing to reload, not that a key and certificate were reloaded', async () => {
    const dir = tempDir();
    const log = captureLog('info');
    const { config } = loadConfig(relayEnvironment(dir, {}), dir);
    const relay = await startRelay(config, log.logger);
    try {
      relay.reloadTls();
      const messages = log.lines.map((line) => (JSON.parse(line) as { msg: string }).msg).filter((msg) => msg.includes('TLS') || msg.includes('SIGHUP'));
      assert.deepEqual(messages, ['smtp: SIGHUP: no smtp.tls configured, nothing to reload']);
    } finally {
      await relay.stop();
      removeDir(dir);
    }
  });
});
