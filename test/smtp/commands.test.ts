import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { hashPassword } from '../../src/policy/passwords.ts';
import { relayWithSimulator, waitFor } from '../helpers/relay.ts';
import { SmtpDialog } from '../helpers/smtp.ts';

const PASSWORD = 'correct horse battery';
const PASSWORD_HASH = await hashPassword(PASSWORD);
const PLAIN = `AUTH PLAIN ${Buffer.from(`\0erp\0${PASSWORD}`).toString('base64')}`;

/** What RFC 5321 and RFC 4954 say of commands out of shape or out of place, over a real socket. */
describe('SMTP commands: arguments, sequence, what is not implemented, dot-unstuffing', () => {
  const suite = relayWithSimulator({ accounts: [{ username: 'erp', passwordHash: PASSWORD_HASH }] });
  const textTo = (digits: string) => waitFor(`the SMS to ${digits}`, () => suite.gateway.simulator.received.find((sms) => sms.to === digits)?.text);

  const inTransaction = async (dialog: SmtpDialog, digits: string, greeting = 'EHLO client.example.com') => {
    assert.equal((await dialog.command(greeting)).code, 250);
    assert.equal((await dialog.command('MAIL FROM:<alice@example.com>')).code, 250);
    assert.equal((await dialog.command(`RCPT TO:<${digits}@sms.localhost>`)).code, 250);
  };

  test('DATA with an argument is 501 5.5.4 and starts no data: what the client sends next is read as commands, never texted', async () => {
    for (const [digits, greeting, argument] of [
      ['447700900550', 'EHLO client.example.com', 'foo'],
      ['447700900551', 'HELO client.example.com', '100'],
    ] as const) {
      const dialog = await SmtpDialog.open(suite.port);
      await inTransaction(dialog, digits, greeting);
      const refused = await dialog.command(`DATA ${argument}`);
      assert.equal(`${refused.code} ${refused.text}`, '501 5.5.4 Syntax: DATA takes no argument');
      // A confused client's next lines, pipelined: each answered as a command.
      dialog.write('RCPT TO:<Postmaster>\r\nNOOP\r\n');
      assert.equal((await dialog.reply()).code, 452, 'RCPT read as a command');
      assert.equal((await dialog.reply()).code, 250, 'NOOP read as a command');
      assert.equal((await dialog.data('Subject: real\r\n\r\nthe text')).code, 250);
      assert.equal(await textTo(digits), 'the text');
      await dialog.close();
    }
  });

  test('RSET and QUIT with an argument are 501 5.5.4 and do nothing; NOOP may have one', async () => {
    const dialog = await SmtpDialog.open(suite.port);
    await inTransaction(dialog, '447700900552');
    const rset = await dialog.command('RSET now');
    assert.equal(`${rset.code} ${rset.text}`, '501 5.5.4 Syntax: RSET takes no argument');
    const quit = await dialog.command('QUIT now');
    assert.equal(`${quit.code} ${quit.text}`, '501 5.5.4 Syntax: QUIT takes no argument');
    assert.equal((await dialog.command('NOOP anything')).code, 250);
    // The transaction is still there: neither reset it, and the connection is open.
    assert.equal((await dialog.data('Subject: kept\r\n\r\nstill here')).code, 250);
    assert.equal(await textTo('447700900552'), 'still here');
    assert.equal((await dialog.command('QUIT')).code, 221);
  });

  test('a trailing TAB (or any trailing blank) after a command is ignored as a trailing space is: DATA, RSET, NOOP, HELP, QUIT', async () => {
    const dialog = await SmtpDialog.open(suite.port);
    assert.equal((await dialog.command('EHLO client.example.com\t')).code, 250);
    assert.equal((await dialog.command('MAIL FROM:<alice@example.com>\t')).code, 250);
    assert.equal((await dialog.command('RCPT TO:<447700900556@sms.localhost>\t')).code, 250);
    assert.equal((await dialog.command('NOOP\t')).code, 250);
    assert.equal((await dialog.command('HELP\t')).code, 214);
    const go = await dialog.command('DATA\t');
    assert.equal(go.code, 354, go.text);
    dialog.write('Subject: tab\r\n\r\nafter DATA<TAB>\r\n.\r\n');
    assert.equal((await dialog.reply()).code, 250);
    assert.equal(await textTo('447700900556'), 'after DATA<TAB>');
    assert.equal((await dialog.command('RSET \t ')).code, 250);
    const quit = await dialog.command('QUIT\t');
    assert.equal(quit.code, 221, quit.text);
  });

  test('blanks or a TAB after the verb are one blank, as Postfix splits words: MAIL  FROM, MAIL<TAB>FROM, RCPT  TO, RCPT<TAB>TO, EHLO<TAB>name', async () => {
    for (const [digits, greeting, mail, rcpt] of [
      ['447700900557', 'EHLO\tclient.example.com', 'MAIL  FROM:<alice@example.com>', 'RCPT  TO:<447700900557@sms.localhost>'],
      ['447700900558', 'HELO \t client.example.com', 'MAIL\tFROM:<alice@example.com>', 'RCPT\tTO:<447700900558@sms.localhost>'],
      ['447700900559', 'EHLO  client.example.com', 'MAIL \t FROM:<alice@example.com> SIZE=100', 'RCPT\t\tTO:<447700900559@sms.localhost>'],
    ] as const) {
      const dialog = await SmtpDialog.open(suite.port);
      for (const command of [greeting, mail, rcpt]) {
        const answer = await dialog.command(command);
        assert.equal(answer.code, 250, `${JSON.stringify(command)}: ${answer.code} ${answer.text}`);
      }
      assert.equal((await dialog.data('Subject: blanks\r\n\r\nspaced verbs')).code, 250);
      assert.equal(await textTo(digits), 'spaced verbs');
      assert.equal((await dialog.command('QUIT')).code, 221);
    }
  });

  test('AUTH during a mail transaction is 503 5.5.1 (RFC 4954 §4), as is a second AUTH; before MAIL or after RSET it signs in', async () => {
    const dialog = await SmtpDialog.open(suite.port);
    await inTransaction(dialog, '447700900553');
    const during = await dialog.command(PLAIN);
    assert.equal(
      `${during.code} ${during.text}`,
      '503 5.5.1 AUTH is not permitted during a mail transaction (RFC 4954 section 4): send it before MAIL, or after RSET',
    );
    assert.equal((await dialog.command('RSET')).code, 250);
    assert.equal((await dialog.command(PLAIN)).code, 235);
    const again = await dialog.command(PLAIN);
    assert.equal(`${again.code} ${again.text}`, '503 5.5.1 Already authenticated: a session signs in once (RFC 4954 section 4)');
    await dialog.close();
  });

  test('a bare AUTH, where AUTH is offered, is 501 5.5.4 with the syntax (RFC 4954 §4), not an unknown mechanism', async () => {
    const dialog = await SmtpDialog.open(suite.port);
    assert.match((await dialog.command('EHLO client.example.com')).lines.join(' | '), /250[- ]AUTH PLAIN LOGIN/);
    const bare = await dialog.command('AUTH');
    assert.equal(`${bare.code} ${bare.text}`, '501 5.5.4 Syntax: AUTH <mechanism> [initial response], the mechanism PLAIN or LOGIN (RFC 4954 section 4)');
    assert.equal((await dialog.command(PLAIN)).code, 235);
    await dialog.close();
  });

  test('EXPN, RFC 821 commands and STARTTLS without smtp.tls are 502 5.5.1, and do not count as unrecognized commands', async () => {
    const dialog = await SmtpDialog.open(suite.port);
    assert.equal((await dialog.command('EHLO client.example.com')).code, 250);
    const expn = await dialog.command('EXPN team');
    assert.equal(`${expn.code} ${expn.text}`, '502 5.5.1 Command not implemented: EXPN');
    const starttls = await dialog.command('STARTTLS');
    assert.equal(`${starttls.code} ${starttls.text}`, '502 5.5.1 Command not implemented: STARTTLS');
    assert.equal((await dialog.command('TURN')).code, 502);
    // smtp-server closes a session at its 10th unrecognized command.
    for (let index = 0; index < 12; index++) assert.equal((await dialog.command('EXPN team')).code, 502);
    assert.equal((await dialog.command('NOOP')).code, 250);
    assert.equal((await dialog.command('XYZZY')).code, 500, 'an unknown command is still 500');
    await dialog.close();
  });

  test('a command is named as its blanks are read: EXPN<TAB><TAB>team and TURN with trailing blanks are 502, MAIL<TAB>FROM before any greeting is taken as after HELO', async () => {
    const dialog = await SmtpDialog.open(suite.port);
    const mail = await dialog.command('MAIL\tFROM:<alice@example.com>');
    assert.equal(mail.code, 250, mail.text);
    assert.equal((await dialog.command('RCPT TO:<447700900554@sms.localhost>')).code, 250);
    const expn = await dialog.command('expn\t\tteam');
    assert.equal(`${expn.code} ${expn.text}`, '502 5.5.1 Command not implemented: EXPN');
    const turn = await dialog.command('TURN \t');
    assert.equal(`${turn.code} ${turn.text}`, '502 5.5.1 Command not implemented: TURN');
    assert.equal((await dialog.data('Subject: tabs\r\n\r\nafter MAIL<TAB>FROM')).code, 250);
    assert.equal(await textTo('447700900554'), 'after MAIL<TAB>FROM');
    await dialog.close();
  });

  test('a line starting with a single dot loses that dot (RFC 5321 §4.5.2); stuffed dots are unstuffed as before', async () => {
    const dialog = await SmtpDialog.open(suite.port);
    await inTransaction(dialog, '447700900590');
    assert.equal((await dialog.command('DATA')).code, 354);
    dialog.write('Subject: d\r\n\r\n.leading dot\r\n..two\r\n...three\r\n.\r\n');
    assert.equal((await dialog.reply()).code, 250);
    assert.equal(await textTo('447700900590'), 'leading dot\n.two\n..three');

    // The dot the last packet ended with, and a first line of the data that starts with one.
    await inTransaction(dialog, '447700900591');
    assert.equal((await dialog.command('DATA')).code, 354);
    for (const packet of ['.Subject: split\r\n\r\nfirst\r\n.', 'hidden\r\n.', '.kept\r\n.', '\r\n']) {
      dialog.write(packet);
      await sleep(50);
    }
    assert.equal((await dialog.reply()).code, 250);
    assert.equal(await textTo('447700900591'), 'first\nhidden\n.kept');
    await dialog.close();
  });

  test('a client ending its lines with a bare LF has its lone leading dot taken out too', async () => {
    const dialog = await SmtpDialog.open(suite.port);
    dialog.write('HELO ups.example.com\n');
    assert.equal((await dialog.reply()).code, 250);
    dialog.write('MAIL FROM:<ups@example.com>\nRCPT TO:<447700900592@sms.localhost>\nDATA\n');
    assert.equal((await dialog.reply()).code, 250);
    assert.equal((await dialog.reply()).code, 250);
    assert.equal((await dialog.reply()).code, 354);
    dialog.write('Subject: lf\n\n.on battery\n.\n');
    assert.equal((await dialog.reply()).code, 250);
    assert.equal(await textTo('447700900592'), 'on battery');
    await dialog.close();
  });
});
