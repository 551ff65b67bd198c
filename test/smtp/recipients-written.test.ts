import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { history } from '../../src/admin.ts';
import type { PuzzelSimulator } from '../../src/simulators/puzzel.ts';
import { webhookPaths } from '../../src/http/webhooks.ts';
import { relayWithSimulator, waitFor } from '../helpers/relay.ts';
import { queuedId, type Reply, SmtpDialog } from '../helpers/smtp.ts';

const said = (reply: Reply | undefined) => `${reply?.code} ${reply?.text}`;

/** One transaction from a trusted client: MAIL, then each RCPT as written (raw UTF-8); DATA with `subject` when given and a RCPT was taken. */
async function transaction(port: number, rcpts: readonly string[], subject?: string): Promise<{ rcpt: Reply[]; data?: Reply }> {
  const dialog = await SmtpDialog.open(port);
  try {
    await dialog.command('EHLO client.example.com');
    assert.equal((await dialog.command('MAIL FROM:<tester@example.org> SMTPUTF8')).code, 250);
    const rcpt: Reply[] = [];
    for (const to of rcpts) rcpt.push(await dialog.command(`RCPT TO:<${to}>`));
    if (subject === undefined || !rcpt.some((reply) => reply.code === 250)) return { rcpt };
    return { rcpt, data: await dialog.data(`From: tester@example.org\r\nSubject: ${subject}\r\n\r\n${subject}\r\n`) };
  } finally {
    await dialog.close();
  }
}

describe('a region whose international prefix is 00 and more digits reads numbers by that prefix (AU 0011, KR 002)', () => {
  const australia = relayWithSimulator({
    smtp: { trustedNetworks: ['127.0.0.1/32'] },
    sms: { domains: ['sms.localhost'], defaultRegion: 'AU', lists: { 'oncall@sms.localhost': ['0412 345 678', '0011 44 7700 900141'] } },
  });

  test('RCPT, a sendsms@ subject and a list member written with 0011 reach the number after it, never +1 and the rest', async () => {
    const sent = await transaction(australia.port, ['0011447700900142@sms.localhost', '0011-44-7700-900143@sms.localhost', 'oncall@sms.localhost'], 'idd au');
    assert.deepEqual(sent.rcpt.map(said), ['250 2.1.5 Accepted', '250 2.1.5 Accepted', '250 2.1.5 Accepted']);
    const subject = await transaction(australia.port, ['sendsms@sms.localhost'], 'To:0011 44 7700 900144');
    assert.match(said(subject.data), /^250 /);
    const expected = ['447700900141', '447700900142', '447700900143', '447700900144', '61412345678'];
    await waitFor('the SMS', () => expected.every((to) => australia.gateway.simulator.received.some((sms) => sms.to === to)));
    assert.ok(!australia.gateway.simulator.received.some((sms) => sms.to.startsWith('1')), 'nothing read as +1');
    const log = await history(australia.relay.relay.store, queuedId(sent.data), Date.now());
    assert.match(log, /accepted: 0011447700900142@sms\.localhost -> \+447700900142/);
  });

  test('AU 000 is a short code, not 00 and a country code', async () => {
    const refused = await transaction(australia.port, ['000@sms.localhost']);
    assert.deepEqual(refused.rcpt.map(said), [
      '550 5.1.3 Bad recipient: "000" is a short code or emergency number in Australia, not a phone number: it cannot be texted',
    ]);
  });

  test('AU: a landline after 0011 that 00 alone reads as +1 is refused naming both, a number a digit short with its own reason; neither is texted', async () => {
    const refused = await transaction(australia.port, ['0011-64-9-309-1234@sms.localhost', '0011-44-7700-9001@sms.localhost']);
    assert.deepEqual(refused.rcpt.map(said), [
      '550 5.1.3 Bad recipient: "0011-64-9-309-1234" could be +64 9 309 1234 (New Zealand) or +1 649 309 1234 (Turks & Caicos Islands): write + and the country code',
      '550 5.1.3 Bad recipient: "0011-44-7700-9001" has the wrong number of digits for a phone number when read as +4477009001 in United Kingdom (+44)',
    ]);
    assert.ok(!australia.gateway.simulator.received.some((sms) => ['16493091234', '14477009001', '6493091234'].includes(sms.to)));
  });

  const korea = relayWithSimulator({ smtp: { trustedNetworks: ['127.0.0.1/32'] }, sms: { domains: ['sms.localhost'], defaultRegion: 'KR' } });

  test("KR: 00700 and 001 are Korea's prefixes; 002 51… (Peru by 002, Ethiopia by 00) and 00 52… (Mauritania by 005, Mexico by 00) are refused naming both, never sent", async () => {
    const replies = await transaction(
      korea.port,
      ['00700447700900145@sms.localhost', '001447700900146@sms.localhost', '00251912345678@sms.localhost', '0052-222-123-4567@sms.localhost'],
      'idd kr',
    );
    assert.deepEqual(replies.rcpt.map(said), [
      '250 2.1.5 Accepted',
      '250 2.1.5 Accepted',
      '550 5.1.3 Bad recipient: "00251912345678" could be +51 912 345 678 (Peru) or +251 91 234 5678 (Ethiopia): write + and the country code',
      '550 5.1.3 Bad recipient: "0052-222-123-4567" could be +222 21 23 45 67 (Mauritania) or +52 222 123 4567 (Mexico): write + and the country code',
    ]);
    await waitFor('the SMS', () => ['447700900145', '447700900146'].every((to) => korea.gateway.simulator.received.some((sms) => sms.to === to)));
    assert.ok(!korea.gateway.simulator.received.some((sms) => ['251912345678', '51912345678', '22221234567', '522221234567'].includes(sms.to)));
  });
});

describe('<number>-<digits>@ is Puzzel-only, and never two numbers', () => {
  const intelli = relayWithSimulator({ smtp: { trustedNetworks: ['127.0.0.1/32'] }, sms: { domains: ['sms.localhost'], defaultRegion: 'US' } });

  test('without a Puzzel account, two dash-joined numbers and a service id form are refused; nothing is texted to the first', async () => {
    const replies = await transaction(
      intelli.port,
      ['2025550123-2025550124@sms.localhost', '2025550125-1000@sms.localhost', '2025550126@sms.localhost', '+12025550123-2025550124-x@sms.localhost'],
      'dash',
    );
    assert.deepEqual(replies.rcpt.map(said), [
      '550 5.1.3 Bad recipient: "2025550123-2025550124" could be 2 numbers: write one number per address',
      '550 5.1.3 Bad recipient: "2025550125-1000" is not a phone number: write the number alone, without "-1000"',
      '250 2.1.5 Accepted',
      // A word after the dash that holds the second number: not told to write the first alone, dropping the second.
      '550 5.1.3 Bad recipient: "+12025550123-2025550124-x" could be 2 numbers: write one number per address',
    ]);
    await waitFor('the SMS', () => intelli.gateway.simulator.received.some((sms) => sms.to === '12025550126'));
    assert.ok(!intelli.gateway.simulator.received.some((sms) => ['12025550123', '12025550125'].includes(sms.to)));
  });

  const puzzel = relayWithSimulator({
    smtp: { trustedNetworks: ['127.0.0.1/32'] },
    gateway: { provider: 'puzzel-simulator' },
    sms: { domains: ['sms.localhost'], defaultRegion: 'FR' },
  });

  test("through Puzzel, <number>-<serviceId>@ is the number, a sendsms@ subject's too; a second number after the dash is refused", async () => {
    const replies = await transaction(
      puzzel.port,
      ['0612345678-1000@sms.localhost', '0612345670-0612345679@sms.localhost', '+33612345671-0612345679@sms.localhost'],
      'puzzel dash',
    );
    assert.deepEqual(replies.rcpt.map(said), [
      '250 2.1.5 Accepted',
      '550 5.1.3 Bad recipient: "0612345670-0612345679" could be 2 numbers: write one number per address',
      '550 5.1.3 Bad recipient: "+33612345671-0612345679" could be 2 numbers: write one number per address',
    ]);
    const simulator = puzzel.relay.relay.simulator as PuzzelSimulator;
    await waitFor('the SMS at Puzzel', () => simulator.records.some((record) => record.to === '33612345678'));
    const subject = await transaction(puzzel.port, ['sendsms@sms.localhost'], 'To:0612345672-0612345673');
    assert.match(said(subject.data), /^550 5\.1\.3 .*could be 2 numbers: write one number per address/);
  });

  test("through Puzzel, digits after the dash that are a number of the first number's country are a second number, not a service id", async () => {
    const replies = await transaction(puzzel.port, ['+4741234567-41234568@sms.localhost', '+12025550123-5550124@sms.localhost']);
    assert.deepEqual(replies.rcpt.map(said), [
      '550 5.1.3 Bad recipient: "+4741234567-41234568" could be 2 numbers: write one number per address',
      '550 5.1.3 Bad recipient: "+12025550123-5550124" could be 2 numbers: write one number per address',
    ]);
  });

  const puzzelService = relayWithSimulator({
    smtp: { trustedNetworks: ['127.0.0.1/32'] },
    gateway: { provider: 'puzzel-simulator', serviceId: 4242 },
    sms: { domains: ['sms.localhost'], defaultRegion: 'FR' },
  });

  test('through a Puzzel account whose service id is configured, only that id is read after the dash', async () => {
    const replies = await transaction(puzzelService.port, ['0612345674-4242@sms.localhost', '0612345675-1000@sms.localhost'], 'service id');
    assert.deepEqual(replies.rcpt.map(said), [
      '250 2.1.5 Accepted',
      '550 5.1.3 Bad recipient: "0612345675-1000" is not a phone number: write the number alone, without "-1000"',
    ]);
    const simulator = puzzelService.relay.relay.simulator as PuzzelSimulator;
    await waitFor('the SMS at Puzzel', () => simulator.records.some((record) => record.to === '33612345674'));
  });
});

describe('tel:/sms: links and a percent-encoded + are told the address to write, which is then taken', () => {
  const suite = relayWithSimulator({ smtp: { trustedNetworks: ['127.0.0.1/32'] }, sms: { domains: ['sms.localhost'], defaultRegion: 'GB' } });

  test("a link's parameters are cut, %2B is a +, two numbers get one address each; each hint followed is accepted", async () => {
    const links = [
      'tel:+447700900151;ext=12@sms.localhost',
      'tel:07700900152;phone-context=+44@sms.localhost',
      'sms:+447700900153?body=Server%20down@sms.localhost',
      'sms:%2B447700900154@sms.localhost',
      '%2B447700900155@sms.localhost',
      'sms:+447700900156,+447700900157@sms.localhost',
      'tel:+4477009;ext=1@sms.localhost',
    ];
    const replies = await transaction(suite.port, links);
    assert.deepEqual(replies.rcpt.map(said), [
      '550 5.1.3 Bad recipient: "tel:+447700900151;ext=12" is a tel: link, not a phone number: write the number alone, <+447700900151@sms.localhost>',
      '550 5.1.3 Bad recipient: "tel:07700900152;phone-context=+44" is a tel: link, not a phone number: write the number alone, <+447700900152@sms.localhost>',
      '550 5.1.3 Bad recipient: "sms:+447700900153?body=Server%20down" is a sms: link, not a phone number: write the number alone, <+447700900153@sms.localhost>',
      '550 5.1.3 Bad recipient: "sms:%2B447700900154" is a sms: link, not a phone number: write the number alone, <+447700900154@sms.localhost>',
      '550 5.1.3 Bad recipient: "%2B447700900155" is a percent-encoded +, not a phone number: write the number alone, <+447700900155@sms.localhost>',
      '550 5.1.3 Bad recipient: "sms:+447700900156,+447700900157" is a sms: link, not a phone number: write one number per address, <+447700900156@sms.localhost>, <+447700900157@sms.localhost>',
      '550 5.1.3 Bad recipient: "tel:+4477009;ext=1" is a tel: link, not a phone number: "+4477009" is too short to be a phone number in United Kingdom (+44)',
    ]);
    const hinted = replies.rcpt.flatMap((reply) => [...reply.text.matchAll(/<([^<>]+)>/g)].map((found) => found[1] ?? ''));
    assert.equal(hinted.length, 7);
    const followed = await transaction(suite.port, hinted);
    assert.deepEqual(
      followed.rcpt.map(said),
      hinted.map(() => '250 2.1.5 Accepted'),
    );
  });
});

describe('RFC 3191 SMS addresses and +tag sub-addresses are the number; an extension or another service is refused saying what to leave out', () => {
  const suite = relayWithSimulator({ smtp: { trustedNetworks: ['127.0.0.1/32'] }, sms: { domains: ['sms.localhost'], defaultRegion: 'GB' } });
  const sentTo = (number: string) => suite.gateway.simulator.received.filter((sms) => sms.to === number);

  test('/TYPE=PLMN (old Exchange and Notes connectors) is taken as the number, as is; a +tag is left out, and the 250 says which number is texted', async () => {
    const sent = await transaction(
      suite.port,
      [
        '+447700900171/TYPE=PLMN@sms.localhost',
        '447700900172/type=plmn@sms.localhost',
        '447700900173+nagios@sms.localhost',
        '+447700900174+ups@sms.localhost',
        '07700900175+db1.web@sms.localhost',
        '+447700900170/TYPE=PLMN+ups@sms.localhost',
      ],
      'rfc 3191 and tags',
    );
    assert.deepEqual(sent.rcpt.map(said), [
      '250 2.1.5 Accepted',
      '250 2.1.5 Accepted',
      '250 2.1.5 Accepted as +447700900173: "+nagios" is a tag, not part of the number',
      '250 2.1.5 Accepted as +447700900174: "+ups" is a tag, not part of the number',
      '250 2.1.5 Accepted as +447700900175: "+db1.web" is a tag, not part of the number',
      // A connector's RFC 3191 address tagged: the number, its tag left out (not "a service other than SMS").
      '250 2.1.5 Accepted as +447700900170: "+ups" is a tag, not part of the number',
    ]);
    assert.match(said(sent.data), /^250 /);
    const numbers = ['447700900171', '447700900172', '447700900173', '447700900174', '447700900175', '447700900170'];
    await waitFor('the SMS', () => numbers.every((to) => sentTo(to).length === 1));
    const log = await history(suite.relay.relay.store, queuedId(sent.data), Date.now());
    assert.match(log, /accepted: 447700900173\+nagios@sms\.localhost -> \+447700900173/);
    // The same number under two tags in one mail is one recipient: texted once.
    const twice = await transaction(suite.port, ['447700900176+nagios@sms.localhost', '447700900176+ups@sms.localhost'], 'two tags');
    assert.match(said(twice.data), /^250 /);
    await waitFor('the SMS', () => sentTo('447700900176').length === 1);
  });

  test('a tag of digits alone (the rest of a number, or another), an extension and another RFC 3191 type are refused with what to leave out; nothing is texted', async () => {
    const refused = await transaction(suite.port, [
      '447700900177+447700900178@sms.localhost',
      '447700900177+12@sms.localhost',
      '447700900177;ext=1@sms.localhost',
      '+447700900177/TYPE=PSTN@sms.localhost',
      // A second number in a tag, a letter stuck to it: never taken as a tag and silently not texted.
      '07700900177+447700900178x@sms.localhost',
      // ... also written with separators, or after a number in international form.
      '07700900177+44-7700-900178x@sms.localhost',
      '+447700900177+447700900178x@sms.localhost',
      // qmail's and Exim's `-` delimiter, and `_`: what to leave out, as for `-<digits>`.
      '447700900177-nagios@sms.localhost',
      '+447700-900177_ups@sms.localhost',
      // A word after a `-` that holds a second number: no hint to drop it.
      '07700900177-07700900178-x@sms.localhost',
    ]);
    assert.deepEqual(refused.rcpt.map(said), [
      '550 5.1.3 Bad recipient: "447700900177+447700900178" is not a phone number: write the number alone, without "+447700900178"',
      '550 5.1.3 Bad recipient: "447700900177+12" is not a phone number: write the number alone, without "+12"',
      '550 5.1.3 Bad recipient: "447700900177;ext=1" names an extension, which no SMS reaches: write the number alone, without ";ext=1"',
      '550 5.1.3 Bad recipient: "+447700900177/TYPE=PSTN" names a service other than SMS (RFC 3191 writes an SMS number with /TYPE=PLMN): write the number alone, without "/TYPE=PSTN"',
      '550 5.1.3 Bad recipient: "07700900177+447700900178x" could be 2 numbers: write one number per address',
      '550 5.1.3 Bad recipient: "07700900177+44-7700-900178x" could be 2 numbers: write one number per address',
      '550 5.1.3 Bad recipient: "+447700900177+447700900178x" could be 2 numbers: write one number per address',
      '550 5.1.3 Bad recipient: "447700900177-nagios" is not a phone number: write the number alone, without "-nagios"',
      '550 5.1.3 Bad recipient: "+447700-900177_ups" is not a phone number: write the number alone, without "_ups"',
      '550 5.1.3 Bad recipient: "07700900177-07700900178-x" could be 2 numbers: write one number per address',
    ]);
    assert.equal(suite.gateway.simulator.received.filter((sms) => ['447700900177', '447700900178'].includes(sms.to)).length, 0);
  });

  test('a tag whose digits read as no number is a tag however many there are (a ServiceNow incident, a date, a build); nothing refused', async () => {
    const sent = await transaction(
      suite.port,
      ['+447700900165+INC0012345@sms.localhost', '447700900166+nagios-20261207@sms.localhost', '447700900167+build1234567@sms.localhost'],
      'ticket tags',
    );
    assert.deepEqual(sent.rcpt.map(said), [
      '250 2.1.5 Accepted as +447700900165: "+INC0012345" is a tag, not part of the number',
      '250 2.1.5 Accepted as +447700900166: "+nagios-20261207" is a tag, not part of the number',
      '250 2.1.5 Accepted as +447700900167: "+build1234567" is a tag, not part of the number',
    ]);
    assert.match(said(sent.data), /^250 /);
    await waitFor('the SMS', () => ['447700900165', '447700900166', '447700900167'].every((to) => sentTo(to).length === 1));
  });

  test("a sendsms@ subject's To: reads a number as RCPT does: its +tag is left out", async () => {
    const sent = await transaction(suite.port, ['sendsms@sms.localhost'], 'To:447700900179+nagios');
    assert.match(said(sent.data), /^250 /);
    await waitFor('the SMS', () => sentTo('447700900179').length === 1);
  });
});

describe("a tel: link's local number is read in its phone-context's country, not the relay's", () => {
  const suite = relayWithSimulator({ smtp: { trustedNetworks: ['127.0.0.1/32'] }, sms: { domains: ['sms.localhost'], defaultRegion: 'US' } });

  test('on a US relay, tel:07700900158;phone-context=+44 is hinted as +44 7700 900158, which is then taken', async () => {
    const replies = await transaction(suite.port, ['tel:07700900158;phone-context=+44@sms.localhost', 'tel:2025550123;phone-context=+1@sms.localhost']);
    assert.deepEqual(replies.rcpt.map(said), [
      '550 5.1.3 Bad recipient: "tel:07700900158;phone-context=+44" is a tel: link, not a phone number: write the number alone, <+447700900158@sms.localhost>',
      '550 5.1.3 Bad recipient: "tel:2025550123;phone-context=+1" is a tel: link, not a phone number: write the number alone, <+12025550123@sms.localhost>',
    ]);
    const followed = await transaction(suite.port, ['+447700900158@sms.localhost'], 'context');
    assert.deepEqual(followed.rcpt.map(said), ['250 2.1.5 Accepted']);
    await waitFor('the SMS', () => suite.gateway.simulator.received.some((sms) => sms.to === '447700900158'));
  });
});

describe('list names are compared in Unicode NFC', () => {
  const suite = relayWithSimulator({
    smtp: { trustedNetworks: ['127.0.0.1/32'] },
    sms: {
      domains: ['sms.localhost'],
      lists: {
        'ärzte@sms.localhost': ['+447700900161'],
        'e\u0301quipe@sms.localhost': ['+447700900162'],
        // T and U+0308: no composed capital, but lower-cased a pair NFC composes (U+1E97).
        'T\u0308eam@sms.localhost': ['+447700900163'],
      },
    },
  });

  test('a list written decomposed in the config and one written composed are reached by either spelling', async () => {
    const replies = await transaction(suite.port, ['a\u0308rzte@sms.localhost', '\u00e9quipe@sms.localhost', '\u00c9QUIPE@sms.localhost'], 'nfc lists');
    assert.deepEqual(replies.rcpt.map(said), ['250 2.1.5 Accepted', '250 2.1.5 Accepted', '250 2.1.5 Accepted']);
    await waitFor('both lists', () => ['447700900161', '447700900162'].every((to) => suite.gateway.simulator.received.some((sms) => sms.to === to)));
  });

  test('a name whose lower case NFC composes further is reached as the config writes it, in either case', async () => {
    const replies = await transaction(suite.port, ['T\u0308eam@sms.localhost', 't\u0308eam@sms.localhost', '\u1e97EAM@sms.localhost'], 'nfc after case');
    assert.deepEqual(replies.rcpt.map(said), ['250 2.1.5 Accepted', '250 2.1.5 Accepted', '250 2.1.5 Accepted']);
    await waitFor('the list', () => suite.gateway.simulator.received.some((sms) => sms.to === '447700900163'));
  });
});

describe('a number written with blanks in RCPT is answered after the checks that come first, and only as one number', () => {
  const suite = relayWithSimulator({
    smtp: { trustedNetworks: ['127.0.0.1/32'] },
    sms: { domains: ['sms.localhost', 'xn--smslocal-d1a.example'], defaultRegion: 'US' },
  });

  test('503 before MAIL, 501 5.5.4 for a bad NOTIFY, relaying denied for a foreign domain (as written), then the hint', async () => {
    const dialog = await SmtpDialog.open(suite.port);
    try {
      await dialog.command('EHLO client.example.com');
      assert.equal((await dialog.command('RCPT TO:<202 555 0123@sms.localhost>')).code, 503);
      assert.equal((await dialog.command('MAIL FROM:<tester@example.org> SMTPUTF8')).code, 250);
      const replies = [
        await dialog.command('RCPT TO:<202 555 0123@sms.localhost> NOTIFY=BOGUS'),
        await dialog.command('RCPT TO:<202 555 0123@example.com>'),
        await dialog.command('RCPT TO:<447 700 900123@smsé.example>'),
        await dialog.command('RCPT TO:<202 555 0123@sms.localhost>'),
        await dialog.command('RCPT TO:<447 700 900123@smsélocal.example>'),
      ];
      assert.match(said(replies[0]), /^501 5\.5\.4 /);
      assert.deepEqual(replies.slice(1).map(said), [
        '550 5.7.1 Relaying denied: example.com is not an SMS domain of this relay',
        '550 5.7.1 Relaying denied: smsU+00E9.example is not an SMS domain of this relay',
        '501 5.1.3 Write the number without spaces: <2025550123@sms.localhost>',
        '501 5.1.3 Write the number without spaces: <447700900123@xn--smslocal-d1a.example>',
      ]);
    } finally {
      await dialog.close();
    }
  });

  test('words that could each be a number, or no number joined, get the reason a subject gets, never a join', async () => {
    const replies = await transaction(suite.port, [
      '81234 85678@sms.localhost',
      '"81234 85678"@sms.localhost',
      '202 555 0123 202 555 0124@sms.localhost',
      '+44 7700 90012@sms.localhost',
    ]);
    assert.deepEqual(replies.rcpt.map(said), [
      '550 5.1.3 Bad recipient: "81234 85678" could be 2 numbers or one: write each number without blanks, and "," between numbers',
      '550 5.1.3 Bad recipient: "81234 85678" could be 2 numbers or one: write each number without blanks, and "," between numbers',
      '550 5.1.3 Bad recipient: "202 555 0123 202 555 0124" is too long to be a phone number',
      '550 5.1.3 Bad recipient: "+44 7700 90012" is not a valid number for United Kingdom (+44)',
    ]);
  });

  test('a number holding an invisible character (a zero-width space, bidi embeddings, a byte order mark) is refused naming each by code point, with the number to write', async () => {
    const replies = await transaction(suite.port, [
      '20255501\u200b23@sms.localhost',
      '\u202a+44 7700 900123\u202c@sms.localhost',
      '\u202d+447700900123\u202c@sms.localhost',
      '\ufeff2025550123@sms.localhost',
      '\u200b202 555 0123\u200b@sms.localhost',
      // No number once they are out: what they are all the same, then the reason it is none, as for blanks.
      '\u200b12@sms.localhost',
      '\u200b81234 85678@sms.localhost',
      // Format characters that show (number signs: Arabic, Kaithi) are named as characters, not called invisible.
      '\u06002025550123@sms.localhost',
      '\u{110BD}2025550123@sms.localhost',
      '\u0600\u200b2025550123@sms.localhost',
    ]);
    assert.deepEqual(replies.rcpt.map(said), [
      '550 5.1.3 Bad recipient: "20255501U+200B23" holds the invisible character U+200B: write <2025550123@sms.localhost>',
      '550 5.1.3 Bad recipient: "U+202A+44 7700 900123U+202C" holds the invisible characters U+202A, U+202C: write <+447700900123@sms.localhost>',
      '550 5.1.3 Bad recipient: "U+202D+447700900123U+202C" holds the invisible characters U+202D, U+202C: write <+447700900123@sms.localhost>',
      '550 5.1.3 Bad recipient: "U+FEFF2025550123" holds the invisible character U+FEFF: write <2025550123@sms.localhost>',
      '550 5.1.3 Bad recipient: "U+200B202 555 0123U+200B" holds the invisible character U+200B: write <2025550123@sms.localhost>',
      '550 5.1.3 Bad recipient: "U+200B12" holds the invisible character U+200B, and "12" is too short to be a phone number',
      '550 5.1.3 Bad recipient: "U+200B81234 85678" holds the invisible character U+200B, and "81234 85678" could be 2 numbers or one: write each number without blanks, and "," between numbers',
      '550 5.1.3 Bad recipient: "U+06002025550123" holds the character U+0600: write <2025550123@sms.localhost>',
      '550 5.1.3 Bad recipient: "U+110BD2025550123" holds the character U+110BD: write <2025550123@sms.localhost>',
      '550 5.1.3 Bad recipient: "U+0600U+200B2025550123" holds the characters U+0600, U+200B: write <2025550123@sms.localhost>',
    ]);
    // Without SMTPUTF8 the same answer: the number is what the client must be told about.
    const dialog = await SmtpDialog.open(suite.port);
    try {
      await dialog.command('HELO client.example.com');
      await dialog.command('MAIL FROM:<tester@example.org>');
      assert.equal(said(await dialog.command('RCPT TO:<20255501\u200b23@sms.localhost>')), said(replies.rcpt[0]));
    } finally {
      await dialog.close();
    }
  });

  test("a sendsms@ subject's To: holding an invisible character is refused in RCPT's words, with the To: to write", async () => {
    const replies: string[] = [];
    for (const written of ['20255501\u200b23', '\u202d+447700900123\u202c', '+44\u20607700900123', '\u200b12']) {
      replies.push(said((await transaction(suite.port, ['sendsms@sms.localhost'], `To:${written}`)).data));
    }
    assert.deepEqual(replies, [
      '550 5.1.3 Bad recipient: "20255501U+200B23" holds the invisible character U+200B: write To:2025550123',
      '550 5.1.3 Bad recipient: "U+202D+447700900123U+202C" holds the invisible characters U+202D, U+202C: write To:+447700900123',
      '550 5.1.3 Bad recipient: "+44U+20607700900123" holds the invisible character U+2060: write To:+447700900123',
      '550 5.1.3 Bad recipient: "U+200B12" holds the invisible character U+200B, and "12" is too short to be a phone number',
    ]);
  });

  test("a service number or a list of numbers holding an invisible character, or a name holding one (the postmaster's too), is refused naming it, then as the address without it is", async () => {
    const replies = await transaction(suite.port, [
      '20255501\u200b23-1000@sms.localhost',
      '20255501\u200b23,2025550124@sms.localhost',
      'postmaster\u200b@sms.localhost',
      'ops\u2060@sms.localhost',
    ]);
    assert.deepEqual(replies.rcpt.map(said), [
      '550 5.1.3 Bad recipient: "20255501U+200B23-1000" holds the invisible character U+200B, and "2025550123-1000" is not a phone number: write the number alone, without "-1000"',
      '550 5.1.3 Bad recipient: "20255501U+200B23,2025550124" holds the invisible character U+200B, and "2025550123,2025550124" is not a phone number',
      '550 5.1.3 Bad recipient: "postmasterU+200B" holds the invisible character U+200B: write <postmaster@sms.localhost>',
      '550 5.1.3 Bad recipient: "opsU+2060" holds the invisible character U+2060, and "ops" is not a phone number',
    ]);
  });

  test('a valid number wrapped only in bidi controls (embeddings, overrides, isolates, marks), opened or closed or not, is refused naming each by code point in a reply of printable ASCII, so no client shows it reordered', async () => {
    const controls = ['\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069', '\u200e', '\u200f', '\u061c'];
    const written = [...controls.map((control) => `${control}2025550123\u202c`), '\u202e2025550123', '"\u2068+12025550123\u2069"'];
    const dialog = await SmtpDialog.open(suite.port);
    try {
      await dialog.command('EHLO client.example.com');
      await dialog.command('MAIL FROM:<tester@example.org>');
      const replies: Reply[] = [];
      for (const local of written) replies.push(await dialog.command(`RCPT TO:<${local}@sms.localhost> NOTIFY=FAILURE`));
      for (const reply of replies)
        assert.match(reply.lines.join('\r\n'), /^[\x20-\x7e]+$/, 'only printable ASCII: no control a terminal or a log viewer acts on');
      assert.deepEqual(replies.map(said), [
        ...controls.map((control) => {
          const named = `U+${control.codePointAt(0)?.toString(16).toUpperCase().padStart(4, '0')}`;
          const all = control === '\u202c' ? named : `${named}, U+202C`;
          return `550 5.1.3 Bad recipient: "${named}2025550123U+202C" holds the invisible character${all === named ? '' : 's'} ${all}: write <2025550123@sms.localhost>`;
        }),
        '550 5.1.3 Bad recipient: "U+202E2025550123" holds the invisible character U+202E: write <2025550123@sms.localhost>',
        '550 5.1.3 Bad recipient: "U+2068+12025550123U+2069" holds the invisible characters U+2068, U+2069: write <+12025550123@sms.localhost>',
      ]);
    } finally {
      await dialog.close();
    }
  });

  test('a RCPT line of 4 KB of blanks or invisible characters (digits, quotes, an @ among them) is refused at once, its path read once, never backtracked over', async () => {
    // A line as long as a command line may be: the old expression of lazy parts around a blank took minutes over it.
    const shapes = [' ', '\t', '\u00a0', '\u200b', '\u200b ', '1 ', '1\u200b', '" ', ' "', ' @', '\ufeff'];
    const dialog = await SmtpDialog.open(suite.port);
    try {
      await dialog.command('EHLO client.example.com');
      await dialog.command('MAIL FROM:<tester@example.org> SMTPUTF8');
      for (const shape of shapes) {
        const run = shape.repeat(Math.floor(4000 / Buffer.byteLength(shape)));
        const path = await dialog.command(`RCPT TO:<${run}x>`);
        const domain = await dialog.command(`RCPT TO:<${run}@sms.localhost>`);
        const open = await dialog.command(`RCPT TO:<${run}`);
        assert.match(said(path), /^501 5\.1\.3 Recipient address too long: \d+ characters, at most 253 /, JSON.stringify(shape));
        assert.match(said(domain), /^501 5\.1\.3 Recipient address too long: \d+ characters, at most 253 /, JSON.stringify(shape));
        assert.match(said(open), /^501 5\.1\.3 Bad recipient address syntax: /, JSON.stringify(shape));
      }
      // A number written with them, within a mailbox's length, is still read as one.
      assert.equal(
        said(await dialog.command(`RCPT TO:< ${' '.repeat(200)}202 555 0123@sms.localhost>`)),
        '501 5.1.3 Write the number without spaces: <2025550123@sms.localhost>',
      );
    } finally {
      await dialog.close();
    }
  });
});

describe('where libphonenumber allows numbers of 5 or 6 digits (DE, NZ), short codes are short codes there, and two are never joined', () => {
  const germany = relayWithSimulator({ smtp: { trustedNetworks: ['127.0.0.1/32'] }, sms: { domains: ['sms.localhost'], defaultRegion: 'DE' } });
  const newZealand = relayWithSimulator({ smtp: { trustedNetworks: ['127.0.0.1/32'] }, sms: { domains: ['sms.localhost'], defaultRegion: 'NZ' } });
  const twoOrOne = (written: string) =>
    `550 5.1.3 Bad recipient: "${written}" could be 2 numbers or one: write each number without blanks, and "," between numbers`;
  const shortCode = (digits: string, region: string) =>
    `550 5.1.3 Bad recipient: "${digits}" is a short code or emergency number in ${region}, not a phone number: it cannot be texted`;

  test('DE: two short codes in RCPT or a sendsms@ subject are refused as 2 numbers or one, never texted to the landline they join into', async () => {
    for (const written of ['81234 85678', '22222 44844']) {
      const rcpt = await transaction(germany.port, [`${written}@sms.localhost`]);
      assert.deepEqual(rcpt.rcpt.map(said), [twoOrOne(written)]);
      const subject = await transaction(germany.port, ['sendsms@sms.localhost'], `To:${written}`);
      assert.equal(said(subject.data), twoOrOne(written));
    }
    // Germany's own grouping of one number, without its trunk 0, is that number.
    const grouped = await transaction(germany.port, ['sendsms@sms.localhost'], 'To:1512 3456789');
    assert.match(said(grouped.data), /^250 /);
    await waitFor('the grouped number', () => germany.gateway.simulator.received.some((sms) => sms.to === '4915123456789'));
    assert.ok(!germany.gateway.simulator.received.some((sms) => ['498123485678', '492222244844'].includes(sms.to)), 'no join texted');
  });

  test("DE: a 4 to 6 digit service number or short code is refused as Germany's, not read abroad", async () => {
    const refused = await transaction(germany.port, ['116117@sms.localhost', '11833@sms.localhost', '22222@sms.localhost', '1234@sms.localhost']);
    assert.deepEqual(
      refused.rcpt.map(said),
      ['116117', '11833', '22222', '1234'].map((digits) => shortCode(digits, 'Germany')),
    );
    const subject = await transaction(germany.port, ['sendsms@sms.localhost'], 'To:116117');
    assert.equal(said(subject.data), shortCode('116117', 'Germany'));
  });

  test('NZ: two 5-digit words are not joined into a New Zealand mobile; each alone is a short code of New Zealand', async () => {
    const subject = await transaction(newZealand.port, ['sendsms@sms.localhost'], 'To:22222 44844');
    assert.equal(said(subject.data), twoOrOne('22222 44844'));
    const rcpt = await transaction(newZealand.port, ['22222 44844@sms.localhost', '22222@sms.localhost']);
    assert.deepEqual(rcpt.rcpt.map(said), [twoOrOne('22222 44844'), shortCode('22222', 'New Zealand')]);
    assert.ok(!newZealand.gateway.simulator.received.some((sms) => sms.to === '642222244844'));
  });
});

describe('a number written with a format character is refused even once it texted the relay', () => {
  const TOKEN = 'test-webhook-token-0123456789';
  const suite = relayWithSimulator({
    smtp: { trustedNetworks: ['127.0.0.1/32'] },
    sms: { domains: ['sms.localhost'], defaultRegion: 'GB' },
    inbound: { defaultMailbox: 'ops@example.com', webhookToken: TOKEN },
  });

  test('a bidi override or a zero-width space around a known sender is 550 naming it, never read past to the number (nothing texted)', async () => {
    // A number libphonenumber lists and one it does not: the known-sender reading takes the second only once it texted.
    for (const [msgid, from] of [
      ['known-1', '447700900123'],
      ['known-2', '447700955555'],
    ]) {
      const answer = await fetch(`http://127.0.0.1:${suite.relay.relay.httpPort}${webhookPaths('intellisoftware').mo}?token=${TOKEN}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ msgid: msgid ?? '', from: from ?? '', text: 'hello' }).toString(),
      });
      assert.equal(answer.status, 200);
    }
    const written = [
      '\u202e447700900123@sms.localhost',
      '4477\u200b00900123@sms.localhost',
      '4477009\u200b55555@sms.localhost',
      '\ufeff447700955555@sms.localhost',
    ];
    const sent = await transaction(suite.port, written, 'reversed');
    for (const [index, reply] of sent.rcpt.entries()) assert.match(said(reply), /^550 5\.1\.3 .*U\+(202E|200B|FEFF)/, written[index]);
    assert.equal(sent.data, undefined);
    assert.ok(!suite.gateway.simulator.received.some((sms) => sms.text.includes('reversed')));
  });
});
