import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { wireData } from '../helpers/fuzz-cases.ts';
import { waitFor, relayWithSimulator } from '../helpers/relay.ts';
import { sleep } from '../helpers/wait.ts';
import { sendMail, SmtpDialog } from '../helpers/smtp.ts';

/**
 * The smuggled ends of data (SEC Consult 2023): a lone dot with a bare LF or CR on either side. Each
 * is sent on the wire exactly like this (no dot-stuffing: smtp-server only ends DATA at
 * <CR><LF>.<CR><LF>), followed by the commands of a second, forged mail.
 */
const SEQUENCES: ReadonlyArray<readonly [name: string, bytes: string]> = [
  ['<LF>.<CR><LF>', '\n.\r\n'],
  ['<CR><LF>.<LF>', '\r\n.\n'],
  ['<LF>.<LF>', '\n.\n'],
  ['<CR>.<CR><LF>', '\r.\r\n'],
  ['<CR><LF>.<CR>', '\r\n.\r'],
  ['<CR>.<CR>', '\r.\r'],
  ['<LF>.<CR>', '\n.\r'],
  ['<CR>.<LF>', '\r.\n'],
];

describe('SMTP smuggling end to end', () => {
  const suite = relayWithSimulator({
    smtp: { trustedNetworks: ['127.0.0.1/32'] },
    sms: { domains: ['sms.localhost'] },
  });

  const receivedBy = (number: string) => suite.gateway.simulator.received.filter((sms) => sms.to === number);

  /** No SMS for `numbers`, checked after a control mail's SMS came through (dispatch has run since). */
  async function assertNothingSentTo(numbers: readonly string[], control: string): Promise<void> {
    const result = await sendMail(suite.port, { to: [`${control}@sms.localhost`], body: `control ${control}` });
    assert.equal(result.data?.code, 250, result.data?.text);
    await waitFor('the control SMS', () => receivedBy(control).length > 0);
    await sleep(100);
    for (const number of numbers) assert.deepEqual(receivedBy(number), [], `an SMS reached ${number}`);
  }

  for (const [index, [name, bytes]] of SEQUENCES.entries()) {
    const victim = `447700900${700 + index}`;
    const forged = `447700900${720 + index}`;
    const control = `447700900${740 + index}`;
    test(`${name} in DATA (a smuggled second mail after it) is refused with 550 5.5.2 and no SMS is sent`, async () => {
      const dialog = await SmtpDialog.open(suite.port);
      try {
        assert.equal((await dialog.command('EHLO attacker.example.com')).code, 250);
        assert.equal((await dialog.command('MAIL FROM:<alice@example.com>')).code, 250);
        assert.equal((await dialog.command(`RCPT TO:<${victim}@sms.localhost>`)).code, 250);
        assert.equal((await dialog.command('DATA')).code, 354);
        const body =
          `From: alice@example.com\r\nTo: ${victim}@sms.localhost\r\nSubject: first\r\n\r\nthe first mail${bytes}` +
          `MAIL FROM:<ceo@example.com>\r\nRCPT TO:<${forged}@sms.localhost>\r\nDATA\r\n` +
          `From: ceo@example.com\r\nSubject: forged\r\n\r\nthe smuggled mail\r\n`;
        const wire = wireData({ body: Buffer.from(body), stuffing: 'minimal' });
        assert.ok(wire.includes(Buffer.from(bytes)), 'the sequence goes over the wire unstuffed');
        dialog.write(wire);
        const reply = await dialog.reply(5000);
        assert.equal(reply.code, 550, reply.text);
        assert.equal(reply.enhanced, '5.5.2', reply.text);
      } finally {
        await dialog.close();
      }
      await assertNothingSentTo([victim, forged], control);
    });
  }

  test('a lone dot at the very start of the data with a bare LF after it is refused too', async () => {
    const dialog = await SmtpDialog.open(suite.port);
    try {
      await dialog.command('EHLO attacker.example.com');
      await dialog.command('MAIL FROM:<alice@example.com>');
      assert.equal((await dialog.command('RCPT TO:<447700900760@sms.localhost>')).code, 250);
      assert.equal((await dialog.command('DATA')).code, 354);
      dialog.write(wireData({ body: Buffer.from('.\nSubject: forged\r\n\r\nsmuggled\r\n'), stuffing: 'minimal' }));
      const reply = await dialog.reply(5000);
      assert.equal(`${reply.code} ${reply.enhanced}`, '550 5.5.2', reply.text);
    } finally {
      await dialog.close();
    }
    await assertNothingSentTo(['447700900760'], '447700900761');
  });

  // Passes today and must keep passing once the check is wired in: no false positive.
  test('a line holding only a dot, properly stuffed between CR LF, is content: 250 and the SMS is sent', async () => {
    const dialog = await SmtpDialog.open(suite.port);
    try {
      await dialog.command('EHLO client.example.com');
      await dialog.command('MAIL FROM:<alice@example.com>');
      assert.equal((await dialog.command('RCPT TO:<447700900770@sms.localhost>')).code, 250);
      assert.equal((await dialog.command('DATA')).code, 354);
      const wire = wireData({ body: Buffer.from('From: alice@example.com\r\nSubject: dots\r\n\r\nabove\r\n.\r\nbelow\r\n'), stuffing: 'full' });
      assert.ok(wire.includes(Buffer.from('\r\n..\r\n')), 'stuffed on the wire');
      dialog.write(wire);
      const reply = await dialog.reply(5000);
      assert.equal(reply.code, 250, reply.text);
    } finally {
      await dialog.close();
    }
    const [sms] = await waitFor('the SMS', () => receivedBy('447700900770').length > 0 && receivedBy('447700900770'));
    assert.match(sms?.text ?? '', /above[\s\S]*below/);
  });
});
