import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { maildirMessages, waitFor, relayWithSimulator } from '../helpers/relay.ts';
import { type Reply, SmtpDialog } from '../helpers/smtp.ts';

/** The replies to one transaction written as raw lines, exactly as an old device writes them (a client library would normalise them). */
async function transaction(
  port: number,
  mail: string,
  rcpt: string,
  body?: string,
  localAddress?: string,
): Promise<{ mail: Reply; rcpt?: Reply; data?: Reply }> {
  const dialog = await SmtpDialog.open(port, localAddress ? { localAddress } : {});
  try {
    await dialog.command('EHLO 192.168.1.50');
    const mailReply = await dialog.command(mail);
    if (mailReply.code !== 250) return { mail: mailReply };
    const rcptReply = await dialog.command(rcpt);
    if (rcptReply.code !== 250 || body === undefined) return { mail: mailReply, rcpt: rcptReply };
    return { mail: mailReply, rcpt: rcptReply, data: await dialog.data(`Subject: UPS\r\n\r\n${body}\r\n`) };
  } finally {
    await dialog.close();
  }
}

const said = (reply: Reply | undefined) => `${reply?.code} ${reply?.text}`;

/**
 * Envelope addresses as UPS cards, BMCs and printers write them, which Postfix takes by default
 * (strict_rfc821_envelopes = no): read as written, and held to every rule any other address is.
 */
describe('envelope addresses as old devices write them', () => {
  const suite = relayWithSimulator({
    smtp: { trustedNetworks: ['127.0.0.1/32'] },
    // An IDN SMS domain is configured as its A-label (config takes ASCII domains only).
    sms: { domains: ['sms.localhost', 'xn--mnchen-3ya.example'], defaultRegion: 'GB' },
    networks: [{ name: 'ups', cidr: ['127.0.0.3/32'], senders: ['@example.com'] }],
  });

  test('an A-label (xn--) domain is kept as written: a refusal echoes it in ASCII, never a decoded look-alike; an SMS domain configured so takes it', async () => {
    for (const domain of ['xn--e1a.localhost', 'xn--sms-localhost']) {
      const refused = await transaction(suite.port, 'MAIL FROM:<o@example.com>', `RCPT TO:<447700900123@${domain}>`);
      assert.equal(said(refused.rcpt), `550 5.7.1 Relaying denied: ${domain} is not an SMS domain of this relay`);
    }
    const trailingDot = await transaction(suite.port, 'MAIL FROM:<o@example.com>', 'RCPT TO:<447700900123@xn--e1a.localhost.>');
    assert.equal(said(trailingDot.rcpt), '550 5.7.1 Relaying denied: xn--e1a.localhost is not an SMS domain of this relay');
    assert.equal((await transaction(suite.port, 'MAIL FROM:<o@example.com>', 'RCPT TO:<447700900123@xn--mnchen-3ya.example>')).rcpt?.code, 250);
  });

  test('without brackets, a quoted local part, a sender without domain, a trailing dot: 250, and the SMS is sent', async () => {
    const cases = [
      ['MAIL FROM: ups@example.com', 'RCPT TO: 447700900501@sms.localhost'],
      ['MAIL FROM:ups@example.com', 'RCPT TO:447700900502@sms.localhost'],
      ['MAIL FROM:<ups>', 'RCPT TO:<447700900503@SMS.LOCALHOST.>'],
      ['MAIL FROM:<"UPS Rack 1"@example.com>', 'RCPT TO:<447700900504@sms.localhost> NOTIFY=FAILURE'],
      ['MAIL FROM: "UPS Rack 2"@example.com. SIZE=100', 'RCPT TO: <447700900505@sms.localhost>'],
    ] as const;
    for (const [index, [mail, rcpt]] of cases.entries()) {
      const result = await transaction(suite.port, mail, rcpt, `on battery ${index}`);
      assert.equal(said(result.mail), '250 2.1.0 Accepted', mail);
      assert.equal(said(result.rcpt), '250 2.1.5 Accepted', rcpt);
      assert.match(said(result.data), /^250 2\.6\.0 Ok: queued as /, `${mail} / ${rcpt}`);
    }
    for (const [index] of cases.entries()) {
      const to = `44770090050${index + 1}`;
      await waitFor(`the SMS to ${to}`, () => suite.gateway.simulator.received.some((sms) => sms.to === to && sms.text.includes(`on battery ${index}`)));
    }
  });

  test('the address is kept as written, brackets added and the trailing dot dropped (the postmaster mail shows its envelope)', async () => {
    for (const [mail, from] of [
      ['MAIL FROM:<"UPS Rack 1"@example.com.>', '"UPS Rack 1"@example.com'],
      ['MAIL FROM: ups', 'ups'],
    ] as const) {
      const result = await transaction(suite.port, mail, 'RCPT TO: postmaster@sms.localhost.', `envelope of ${from}`);
      assert.match(said(result.data), /^250 2\.6\.0 /, mail);
      const file = await waitFor(`the Maildir file from ${from}`, () =>
        maildirMessages(suite.relay.maildir).find((text) => text.includes(`envelope of ${from}`)),
      );
      assert.ok(file.startsWith(`Return-Path: <${from}>\nDelivered-To: postmaster@sms.localhost\n`), file.slice(0, 200));
    }
  });

  test('every rule still holds: relaying, routing characters, sender policy, parameters', async () => {
    const relayed = await transaction(suite.port, 'MAIL FROM: ups@example.com', 'RCPT TO: 447700900123@example.net.');
    assert.equal(said(relayed.rcpt), '550 5.7.1 Relaying denied: example.net is not an SMS domain of this relay');
    const routed = await transaction(suite.port, 'MAIL FROM: ups@example.com', 'RCPT TO:<"447700900123@example.net"@sms.localhost>');
    assert.equal(said(routed.rcpt), '550 5.7.1 Relaying denied: routed or quoted addresses are not accepted, only <phone number>@domain');
    const percent = await transaction(suite.port, 'MAIL FROM: ups@example.com', 'RCPT TO: 447700900123%example.net@sms.localhost');
    assert.equal(percent.rcpt?.code, 550);
    // A sender without a domain is no sender of a network that lists domains.
    const domainless = await transaction(suite.port, 'MAIL FROM:<ups>', 'RCPT TO: 447700900123@sms.localhost', undefined, '127.0.0.3');
    assert.match(said(domainless.mail), /^550 5\.7\.1 Sender refused: ups may not send through ups/);
    const quoted = await transaction(
      suite.port,
      'MAIL FROM:<"UPS Rack 1"@example.com>',
      'RCPT TO: 447700900506@sms.localhost',
      'from the listed network',
      '127.0.0.3',
    );
    assert.match(said(quoted.data), /^250 2\.6\.0 /);
    const unknown = await transaction(suite.port, 'MAIL FROM: ups@example.com FOO=BAR', 'RCPT TO: 447700900123@sms.localhost');
    assert.equal(said(unknown.mail), '555 5.5.4 Unsupported MAIL FROM parameter FOO');
    // A CR LF smuggled into a parameter through xtext stays refused.
    const injected = await transaction(suite.port, 'MAIL FROM: ups@example.com ENVID=a+0D+0AX-Injected:+20yes', 'RCPT TO: 447700900123@sms.localhost');
    assert.equal(injected.mail.code, 501);
    // A control character in a quoted local part is no quoted string.
    const control = await transaction(suite.port, 'MAIL FROM:<"UPS\u0001Rack"@example.com>', 'RCPT TO: 447700900123@sms.localhost');
    assert.equal(control.mail.code, 501);
  });

  test('what is still refused says what to write instead', async () => {
    for (const mail of ['MAIL FROM:<ups rack@example.com>', 'MAIL FROM:<"UPS Rack 1@example.com>', 'MAIL FROM: <ups@example.com', 'MAIL FROM:']) {
      const result = await transaction(suite.port, mail, 'RCPT TO: 447700900123@sms.localhost');
      assert.equal(said(result.mail), '501 5.1.7 Bad sender address syntax: write MAIL FROM:<name@example.com>, then any parameters', mail);
    }
    for (const rcpt of ['RCPT TO:<447700900123>', 'RCPT TO:<>', 'RCPT TO: 447700900123@', 'RCPT TO:<447700900123@sms..localhost>']) {
      const result = await transaction(suite.port, 'MAIL FROM: ups@example.com', rcpt);
      assert.equal(said(result.rcpt), '501 5.1.3 Bad recipient address syntax: write RCPT TO:<phone number@SMS domain>, then any parameters', rcpt);
    }
    // A number written with spaces keeps its own answer.
    const spaced = await transaction(suite.port, 'MAIL FROM: ups@example.com', 'RCPT TO:<447 700 900123@sms.localhost>');
    assert.equal(said(spaced.rcpt), '501 5.1.3 Write the number without spaces: <447700900123@sms.localhost>');
  });

  test('a name written before the address, as in a From: header, gets the address syntax to write, not "unsupported parameter"', async () => {
    const named = await transaction(suite.port, 'MAIL FROM:John Smith <a@example.com>', 'RCPT TO: 447700900123@sms.localhost');
    assert.equal(said(named.mail), '501 5.1.7 Bad sender address syntax: write MAIL FROM:<name@example.com>, then any parameters');
    const pager = await transaction(suite.port, 'MAIL FROM: ups@example.com', 'RCPT TO:Pager <447700900123@sms.localhost>');
    assert.equal(said(pager.rcpt), '501 5.1.3 Bad recipient address syntax: write RCPT TO:<phone number@SMS domain>, then any parameters');
  });

  test('a refusal names what is wrong: a parameter, an overlong ENVID, ORCPT or address, UTF-8 without SMTPUTF8', async () => {
    const rcpt = 'RCPT TO:<447700900123@sms.localhost>';
    const envid = await transaction(suite.port, 'MAIL FROM:<o@example.com> ENVID=<>\u0001', rcpt);
    assert.equal(said(envid.mail), '501 5.5.4 Bad ENVID parameter: its value holds a control character');
    const injected = await transaction(suite.port, 'MAIL FROM:<o@example.com> RET=HDRS ENVID=a+0D+0AX-Injected:+20yes', rcpt);
    assert.equal(said(injected.mail), '501 5.5.4 Bad ENVID parameter: its value holds a control character');
    const overlongEnvid = await transaction(suite.port, `MAIL FROM:<o@example.com> ENVID=${'e'.repeat(101)}`, rcpt);
    assert.equal(said(overlongEnvid.mail), '501 5.5.4 ENVID too long: 101 characters, at most 100 (RFC 3461 section 4.4)');
    assert.equal((await transaction(suite.port, `MAIL FROM:<o@example.com> ENVID=${'e'.repeat(100)}`, rcpt)).mail.code, 250);
    const overlongOrcpt = await transaction(suite.port, 'MAIL FROM:<o@example.com>', `${rcpt} ORCPT=rfc822;${'o'.repeat(1_188)}@example.com`);
    assert.equal(said(overlongOrcpt.rcpt), '501 5.5.4 ORCPT too long: 1200 characters, at most 500 (RFC 3461 section 4.2)');
    const longestOrcpt = await transaction(suite.port, 'MAIL FROM:<o@example.com>', `${rcpt} ORCPT=rfc822;${'o'.repeat(488)}@example.com`);
    assert.equal(longestOrcpt.rcpt?.code, 250);
    // A local part over RFC 5321's 64 octets is taken, as Postfix takes it; past the mailbox's limit it is refused as too long.
    assert.equal((await transaction(suite.port, `MAIL FROM:<${'o'.repeat(100)}@example.com>`, rcpt)).mail.code, 250);
    const overlong = await transaction(suite.port, `MAIL FROM:<${'o'.repeat(498)}@example.com>`, rcpt);
    assert.equal(said(overlong.mail), '501 5.1.7 Sender address too long: 510 characters, at most 253 (RFC 5321 section 4.5.3.1.3)');
    const overlongRcpt = await transaction(suite.port, 'MAIL FROM:<o@example.com>', `RCPT TO:<${'4'.repeat(250)}@sms.localhost>`);
    assert.equal(said(overlongRcpt.rcpt), '501 5.1.3 Recipient address too long: 264 characters, at most 253 (RFC 5321 section 4.5.3.1.3)');
    const undeclared = await transaction(suite.port, 'MAIL FROM:<jörg@example.com>', rcpt);
    assert.equal(said(undeclared.mail), '553 5.6.7 Must declare SMTPUTF8 to send a UTF-8 address: add SMTPUTF8 to MAIL FROM');
    assert.equal((await transaction(suite.port, 'MAIL FROM:<jörg@example.com> SMTPUTF8', rcpt)).mail.code, 250);
    // An A-label domain is ASCII: no SMTPUTF8 needed.
    assert.equal((await transaction(suite.port, 'MAIL FROM:<ups@xn--mnchen-3ya.example>', rcpt)).mail.code, 250);
  });

  test('a MAIL or RCPT holding a byte that is not UTF-8 (Latin-1) is refused 553 5.6.7 naming the byte, with SMTPUTF8 or not; never taken mangled', async () => {
    const refusal = (before: string) =>
      `553 5.6.7 Address not in UTF-8: byte 0xFC after "${before}" is not UTF-8 (Latin-1?); write the address in UTF-8, with SMTPUTF8 on MAIL FROM (RFC 6531)`;
    // Latin-1: ü is the one byte 0xFC.
    const line = (text: string) => Buffer.from(`${text}\r\n`, 'latin1');
    for (const mail of ['MAIL FROM:<müller@example.de>', 'MAIL FROM:<müller@example.de> SMTPUTF8']) {
      const dialog = await SmtpDialog.open(suite.port);
      try {
        await dialog.command('EHLO nas01');
        dialog.write(line(mail));
        assert.equal(said(await dialog.reply()), refusal('MAIL FROM:<m'), mail);
        // The session goes on: the same sender in UTF-8 is taken; a recipient with such a byte is refused alike.
        assert.equal((await dialog.command('MAIL FROM:<müller@example.de> SMTPUTF8')).code, 250);
        dialog.write(line('RCPT TO:<44770090ü123@sms.localhost> NOTIFY=NEVER'));
        assert.match(said(await dialog.reply()), /^553 5\.6\.7 Address not in UTF-8: byte 0xFC after "RCPT TO:<44770090"/);
      } finally {
        await dialog.close();
      }
    }
  });

  test('a byte that is not UTF-8 in a MAIL or RCPT parameter is refused as a parameter; a command out of sequence is told so first, whatever its bytes', async () => {
    const line = (text: string) => Buffer.from(`${text}\r\n`, 'latin1');
    const dialog = await SmtpDialog.open(suite.port);
    try {
      await dialog.command('EHLO nas01');
      dialog.write(line('RCPT TO:<müller@sms.localhost>'));
      assert.match(said(await dialog.reply()), /^503 5\.5\.1 /, 'a RCPT before MAIL');
      dialog.write(line('MAIL FROM:<a@example.com> ENVID=ü1'));
      assert.equal(
        said(await dialog.reply()),
        `501 5.5.4 Parameter not in ASCII: byte 0xFC after "M:<a@example.com> ENVID=" is not ASCII; write MAIL's parameters in ASCII (xtext, RFC 3461)`,
      );
      assert.equal((await dialog.command('MAIL FROM:<a@example.com>')).code, 250);
      dialog.write(line('MAIL FROM:<müller@example.de>'));
      assert.match(said(await dialog.reply()), /^503 5\.5\.1 /, 'a second MAIL');
      dialog.write(line('RCPT TO:<447700900123@sms.localhost> NOTIFY=NEVER ORCPT=rfc822;ü@x'));
      assert.match(said(await dialog.reply()), /^501 5\.5\.4 Parameter not in ASCII: byte 0xFC after "/);
    } finally {
      await dialog.close();
    }
  });

  test('every reply is US-ASCII (RFC 5321 section 4.2): a section sign as the word, a country without its accent', async () => {
    const guessed = await transaction(suite.port, 'MAIL FROM:<o@example.com>', 'RCPT TO:<9001234@sms.localhost>');
    assert.match(said(guessed.rcpt), /^550 5\.1\.3 .* in Turkiye \(\+90\)/);
    const overlong = await transaction(suite.port, `MAIL FROM:<o@example.com> ENVID=${'e'.repeat(101)}`, 'RCPT TO:<447700900123@sms.localhost>');
    for (const reply of [guessed.rcpt, overlong.mail]) assert.match(said(reply), /^[\t\x20-\x7e\n]*$/, said(reply));
  });

  test('SIZE=+100 is refused for its syntax, not for a control character: SIZE is no xtext, +10 is no escape there', async () => {
    const signed = await transaction(suite.port, 'MAIL FROM:<o@example.com> SIZE=+100', 'RCPT TO:<447700900123@sms.localhost>');
    assert.equal(said(signed.mail), '501 5.5.4 Bad SIZE parameter: the size is written in digits only (RFC 1870)');
  });

  test('ENVID and ORCPT must be xtext of US-ASCII: 8-bit escapes, raw UTF-8 and bad escapes are refused, plain and escaped ASCII taken', async () => {
    const rcpt = 'RCPT TO:<447700900123@sms.localhost>';
    const ascii = 'it must be US-ASCII (RFC 3461 section 4.4)';
    const notXtext = 'it is not xtext (RFC 3461 section 4: "+" starts two upper-case hex digits; "+", "=" and spaces are written so)';
    assert.equal(said((await transaction(suite.port, 'MAIL FROM:<o@example.com> ENVID=caf+C3+A9', rcpt)).mail), `501 5.5.4 Bad ENVID parameter: ${ascii}`);
    const utf8 = await transaction(suite.port, 'MAIL FROM:<o@example.com> SMTPUTF8 ENVID=café', rcpt);
    assert.equal(said(utf8.mail), `501 5.5.4 Bad ENVID parameter: ${ascii}`);
    assert.equal(said((await transaction(suite.port, 'MAIL FROM:<o@example.com> ENVID=a+ZZb', rcpt)).mail), `501 5.5.4 Bad ENVID parameter: ${notXtext}`);
    assert.equal(said((await transaction(suite.port, 'MAIL FROM:<o@example.com> ENVID=a+2bb', rcpt)).mail), `501 5.5.4 Bad ENVID parameter: ${notXtext}`);
    assert.equal((await transaction(suite.port, 'MAIL FROM:<o@example.com> ENVID=a+2Bb+3Dc', rcpt)).mail.code, 250);
    const orcpt = await transaction(suite.port, 'MAIL FROM:<o@example.com>', `${rcpt} ORCPT=rfc822;x+C3+A9y@example.com`);
    assert.equal(said(orcpt.rcpt), '501 5.5.4 Bad ORCPT parameter: it must be US-ASCII (RFC 3461 section 4.2; utf-8-addr of RFC 6533 is not offered)');
    const badOrcpt = await transaction(suite.port, 'MAIL FROM:<o@example.com>', `${rcpt} ORCPT=rfc822;x+1y@example.com`);
    assert.equal(said(badOrcpt.rcpt), `501 5.5.4 Bad ORCPT parameter: ${notXtext}`);
    assert.equal((await transaction(suite.port, 'MAIL FROM:<o@example.com>', `${rcpt} ORCPT=rfc822;x+2By@example.com`)).rcpt?.code, 250);
  });
});
