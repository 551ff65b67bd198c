import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { history } from '../../src/admin.ts';
import { maildirMessages, relayWithSimulator, waitFor } from '../helpers/relay.ts';
import { queuedId, type Reply, SmtpDialog } from '../helpers/smtp.ts';

const said = (reply: Reply | undefined) => `${reply?.code} ${reply?.text}`;

/** One transaction from a trusted client: MAIL, then each RCPT as written (raw UTF-8), with every reply; DATA when `body` is given and a RCPT was taken. */
async function transaction(port: number, mail: string, rcpts: readonly string[], body?: string): Promise<{ rcpt: Reply[]; data?: Reply }> {
  const dialog = await SmtpDialog.open(port);
  try {
    await dialog.command('EHLO client.example.com');
    assert.equal((await dialog.command(mail)).code, 250, mail);
    const rcpt: Reply[] = [];
    for (const to of rcpts) rcpt.push(await dialog.command(`RCPT TO:<${to}>`));
    if (body === undefined || !rcpt.some((reply) => reply.code === 250)) return { rcpt };
    return { rcpt, data: await dialog.data(`From: tester@example.org\r\nSubject: ${body}\r\n\r\n${body}\r\n`) };
  } finally {
    await dialog.close();
  }
}

describe('a US relay reads national numbers as US numbers, never abroad', () => {
  const suite = relayWithSimulator({ smtp: { trustedNetworks: ['127.0.0.1/32'] }, sms: { domains: ['sms.localhost'], defaultRegion: 'US' } });

  test('10-digit NANP numbers that are also valid international ones (+47, +32, +501) are texted in the US; the log shows the reading', async () => {
    const written = ['(479)3793952', '3214784643', '5016761432'];
    const sent = await transaction(
      suite.port,
      'MAIL FROM:<tester@example.org>',
      written.map((local) => `${local}@sms.localhost`),
      'us national',
    );
    assert.deepEqual(sent.rcpt.map(said), ['250 2.1.5 Accepted', '250 2.1.5 Accepted', '250 2.1.5 Accepted']);
    const id = queuedId(sent.data);
    const expected = ['14793793952', '13214784643', '15016761432'];
    await waitFor('the three SMS', () =>
      expected.every((to) => suite.gateway.simulator.received.some((sms) => sms.to === to && sms.text.includes('us national'))),
    );
    assert.ok(!suite.gateway.simulator.received.some((sms) => ['4793793952', '3214784643', '5016761432'].includes(sms.to)), 'nothing went abroad');
    const log = await history(suite.relay.relay.store, id, Date.now());
    for (const [index, local] of written.entries())
      assert.match(log, new RegExp(`accepted: ${local.replace(/[()]/g, '\\$&')}@sms\\.localhost -> \\+${expected[index]}`));
  });
});

describe('recipients: IDN domains, permanent refusals before deferrals, quoting as written', () => {
  const suite = relayWithSimulator({
    smtp: { trustedNetworks: ['127.0.0.1/32'], maxRecipients: 3 },
    sms: { domains: ['sms.localhost', 'xn--smslocal-d1a.example'], lists: { 'oncall@smsélocal.example.': ['+447700900131'] } },
  });

  test('a list written at the IDN domain in UTF-8 with a final dot is reached by RCPT in either form', async () => {
    const taken = await transaction(suite.port, 'MAIL FROM:<tester@example.org> SMTPUTF8', ['oncall@smsélocal.example', 'OnCall@xn--smslocal-d1a.example.']);
    assert.deepEqual(taken.rcpt.map(said), ['250 2.1.5 Accepted', '250 2.1.5 Accepted']);
  });

  test('an IDN SMS domain written in UTF-8 (any case, full-width) is its A-labels; another is refused by code points, never folded', async () => {
    const taken = await transaction(suite.port, 'MAIL FROM:<tester@example.org> SMTPUTF8', [
      '12025550199@smsélocal.example',
      '447700900127@SMSÉLOCAL.example',
      '447911123458@ｓｍｓ.localhost',
    ]);
    assert.deepEqual(taken.rcpt.map(said), ['250 2.1.5 Accepted', '250 2.1.5 Accepted', '250 2.1.5 Accepted']);
    const refused = await transaction(suite.port, 'MAIL FROM:<tester@example.org> SMTPUTF8', ['12025550199@smsélocal.other', '447911123458@ｓｍｓ.example']);
    assert.deepEqual(refused.rcpt.map(said), [
      '550 5.7.1 Relaying denied: smsU+00E9local.other is not an SMS domain of this relay',
      '550 5.7.1 Relaying denied: U+FF53U+FF4DU+FF53.example is not an SMS domain of this relay',
    ]);
  });

  test('after RCPT postmaster, a recipient refused for good anyway gets its 550; only a number that would be taken is deferred (452)', async () => {
    const replies = await transaction(suite.port, 'MAIL FROM:<tester@example.org>', [
      'postmaster',
      'someone@example.com',
      'user%example.com@sms.localhost',
      '12@sms.localhost',
      '+449012345678@sms.localhost',
      'no-reply@sms.localhost',
      '447700900123@sms.localhost',
    ]);
    assert.deepEqual(
      replies.rcpt.map((reply) => `${reply.code} ${reply.text.split(':')[0]}`),
      [
        '250 2.1.5 Accepted',
        '550 5.7.1 Relaying denied',
        '550 5.7.1 Relaying denied',
        '550 5.1.3 Bad recipient',
        '550 5.7.1 Recipient refused',
        '550 5.1.1 This address takes no mail',
        '452 4.5.3 Too many recipients',
      ],
    );
  });

  test('once smtp.maxRecipients is reached, a premium-rate number still gets its 550, a good one the 452', async () => {
    const replies = await transaction(suite.port, 'MAIL FROM:<tester@example.org>', [
      '447700900123@sms.localhost',
      '447700900124@sms.localhost',
      '447700900125@sms.localhost',
      '+449012345678@sms.localhost',
      '447700900126@sms.localhost',
    ]);
    assert.deepEqual(
      replies.rcpt.map((reply) => `${reply.code} ${reply.text.split(':')[0]}`),
      ['250 2.1.5 Accepted', '250 2.1.5 Accepted', '250 2.1.5 Accepted', '550 5.7.1 Recipient refused', '452 4.5.3 Too many recipients'],
    );
  });

  test('full-width digits are quoted by code point; a national number gets no one country; a tel: link is told to drop the scheme', async () => {
    const replies = await transaction(suite.port, 'MAIL FROM:<tester@example.org> SMTPUTF8', [
      '+４４７９１１１２３４５６@sms.localhost',
      '0612345678@sms.localhost',
      'tel:+447911123456@sms.localhost',
    ]);
    assert.deepEqual(replies.rcpt.map(said), [
      '550 5.1.3 Bad recipient: "+U+FF14U+FF14U+FF17U+FF19U+FF11U+FF11U+FF11U+FF12U+FF13U+FF14U+FF15U+FF16" is not a phone number: write its digits as ASCII digits 0-9',
      '550 5.1.3 Bad recipient: "0612345678" is a national number; the relay has no default region (set SMSRELAY_DEFAULT_REGION) - write it in international form: +, the country code, then the number without its trunk 0',
      '550 5.1.3 Bad recipient: "tel:+447911123456" is a tel: link, not a phone number: write the number alone, <+447911123456@sms.localhost>',
    ]);
  });

  test("a number written with a dash or plus other than ASCII's (Word's en dash, a full-width plus) is named, with the number to write", async () => {
    const replies = await transaction(suite.port, 'MAIL FROM:<tester@example.org> SMTPUTF8', [
      '+1\u2013202\u2013555\u20130162@sms.localhost',
      '\uFF0B12025550163@sms.localhost',
      '+1\u2212202\u2010555\u20100164@sms.localhost',
    ]);
    assert.deepEqual(replies.rcpt.map(said), [
      '550 5.1.3 Bad recipient: "+1U+2013202U+2013555U+20130162" holds U+2013 where ASCII\'s - or + goes: write +12025550162',
      '550 5.1.3 Bad recipient: "U+FF0B12025550163" holds U+FF0B where ASCII\'s - or + goes: write +12025550163',
      '550 5.1.3 Bad recipient: "+1U+2212202U+2010555U+20100164" holds U+2212, U+2010 where ASCII\'s - or + goes: write +12025550164',
    ]);
  });
});

describe('recipients: one reading of a UTF-8 SMS domain everywhere', () => {
  const suite = relayWithSimulator(
    { smtp: { trustedNetworks: ['127.0.0.1/32'] }, sms: { domains: ['sms.localhost', 'xn--smslocal-d1a.example'] } },
    { simulator: { invalidNumbers: ['447700900999'] } },
  );

  test("the relay's own sender and a domain ending in an ideographic full stop are read as in ASCII", async () => {
    const replies = await transaction(suite.port, 'MAIL FROM:<tester@example.org> SMTPUTF8', [
      'MAILER-DAEMON@ｓｍｓ.localhost',
      '447911123408@ｓｍｓ.localhost。',
    ]);
    assert.deepEqual(replies.rcpt.map(said), [
      "550 5.1.1 This address takes no mail: it is the relay's own, the sender of its bounces and delivery reports",
      '250 2.1.5 Accepted',
    ]);
  });

  test("a bounce names a recipient at a UTF-8 SMS domain by its A-labels in the delivery status (RFC 3464's ASCII)", async () => {
    const { data } = await transaction(suite.port, 'MAIL FROM:<carol@example.com> SMTPUTF8', ['447700900999@smsélocal.example'], 'probe');
    const id = queuedId(data);
    const bounce = await waitFor('the bounce', () => maildirMessages(suite.relay.maildir).find((mail) => mail.includes(id)));
    assert.match(bounce, /^Final-Recipient: rfc822; 447700900999@xn--smslocal-d1a\.example\r?$/m);
  });
});
