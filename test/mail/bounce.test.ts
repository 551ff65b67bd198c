/**
 * What a mail to a reply mail's return path says of that mail (src/mail/bounce.ts), read from the raw
 * mails the MTAs send: an auto-reply from <> is no bounce, a plain delay warning changes nothing, the
 * returned reply mail (the phone's text) never chooses the status or the reason, and a report failed
 * for a list's member does not fail the mail to the list.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Bounce, type NotABounce, readBounce } from '../../src/mail/bounce.ts';
import { parseMail } from '../../src/mail/extract.ts';

const MAILBOX = 'team@example.com';
const RETURN_PATH = 'bounces+0190aaaa0000700080000000000000ff.abcdefghijklm@sms.example.com';

/** The reply mail as a bounce quotes it: the phone's SMS holds a status-like code and an SMTP-like number. */
const RETURNED = [
  `Return-Path: <${RETURN_PATH}>`,
  'From: +44 7700 900123 <447700900123@sms.example.com>',
  `To: ${MAILBOX}`,
  'Subject: SMS from +44 7700 900123',
  '',
  'Code 2.1.5 cleared, meet at 450 Main St',
].join('\r\n');

const read = async (headers: readonly string[], body: string, envelopeFrom = '') => {
  const raw = Buffer.from([...headers, '', body].join('\r\n'));
  return readBounce({ mail: await parseMail(raw), raw, envelopeFrom, recipient: MAILBOX, returnPath: RETURN_PATH });
};
const failed = (read: Bounce | NotABounce) => ('failed' in read ? read.failed : read.notABounce);

describe('reading a bounce of a reply mail', () => {
  test("a flowed bounce whose remote answer starts with '>' (space-stuffed) gives that answer as written, nothing more", async () => {
    const flowed = await read(
      ['From: MAILER-DAEMON@mx.example.org', 'Subject: Undeliverable: SMS from +44 7700 900281', 'Content-Type: text/plain; charset=utf-8; format=flowed'],
      'Your mail could not be delivered. The remote server said:\r\n >550 5.1.1 <team@example.com>: mailbox unknown\r\n',
    );
    assert.deepEqual(flowed, { failed: true, reason: '>550 5.1.1 <team@example.com>: mailbox unknown' });
  });

  test('a Sieve vacation answer from <> (RFC 3834) is no bounce: the reply mail was delivered', async () => {
    const vacation = await read(
      ['From: Team <team@example.com>', `To: <${RETURN_PATH}>`, 'Subject: Auto: SMS from +44 7700 900123', 'Auto-Submitted: auto-replied (vacation)'],
      'I am out of the office until Monday 5.1. and read no mail.\r\n',
    );
    assert.deepEqual(vacation, { notABounce: 'auto-reply' });
  });

  test('an old Exim delay warning without a report changes nothing, though its diagnostic is a 4xx with no enhanced code', async () => {
    const delay = await read(
      [
        'From: Mail Delivery System <Mailer-Daemon@mx.example.com>',
        'Subject: Warning: message 1kXYZa-0001Ab-Cd delayed 24 hours',
        'Auto-Submitted: auto-replied',
      ],
      [
        'This message was created automatically by mail delivery software.',
        'A message that you sent has not yet been delivered to one or more of its',
        'recipients after more than 24 hours on the queue on mx.example.com.',
        '',
        '  team@example.com',
        '    Delay reason: SMTP error from remote mail server after RCPT TO:<team@example.com>:',
        '    host mbox.example.com [192.0.2.1]: 451 Temporary local problem - please try later',
        '',
        'No action is required on your part. Delivery attempts will continue for',
        'some time, and this warning may be repeated at intervals if the message',
        'remains undelivered. Eventually the mail delivery software will give up,',
        'and when that happens, the message will be returned to you.',
        '',
      ].join('\r\n'),
    );
    assert.deepEqual(delay, {
      failed: false,
      reason: 'host mbox.example.com [192.0.2.1]: 451 Temporary local problem - please try later',
    });
  });

  test("qmail's failure notice fails the mail with the remote server's reply, not the returned SMS's words", async () => {
    const qmail = await read(
      ['From: MAILER-DAEMON@mx.example.com', 'Subject: failure notice'],
      [
        'Hi. This is the qmail-send program at mx.example.com.',
        "I'm afraid I wasn't able to deliver your message to the following addresses.",
        "This is a permanent error; I've given up. Sorry it didn't work out.",
        '',
        '<team@example.com>:',
        '192.0.2.1 does not like recipient.',
        'Remote host said: 550 No such user here',
        'Giving up on 192.0.2.1.',
        '',
        '--- Below this line is a copy of the message.',
        '',
        RETURNED,
      ].join('\r\n'),
    );
    assert.deepEqual(qmail, { failed: true, reason: 'Remote host said: 550 No such user here' });
  });

  test("Exim's bounce quoting the mail after its marker: the reason is the remote reply, or the line under the address where it names no code", async () => {
    const exim = (diagnostic: string) =>
      read(
        ['From: Mail Delivery System <Mailer-Daemon@mx.example.com>', 'Subject: Mail delivery failed: returning message to sender'],
        [
          'This message was created automatically by mail delivery software.',
          '',
          'A message that you sent could not be delivered to one or more of its',
          'recipients. This is a permanent error. The following address(es) failed:',
          '',
          '  team@example.com',
          diagnostic,
          '',
          '------ This is a copy of the message, including all the headers. ------',
          '',
          RETURNED,
        ].join('\r\n'),
      );
    assert.deepEqual(await exim('    550 mailbox unavailable'), { failed: true, reason: '550 mailbox unavailable' });
    assert.deepEqual(await exim('    retry timeout exceeded'), { failed: true, reason: 'retry timeout exceeded' });
    assert.deepEqual(await exim('    Unrouteable address'), { failed: true, reason: 'Unrouteable address' });
  });

  test("plain bounces give the SMTP error they quote as the reason: Gmail's marked auto-replied, Yahoo's 554:, qmail's without a status, sendmail's without its label", async () => {
    const gmail = await read(
      ['From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>', 'Subject: Delivery Status Notification (Failure)', 'Auto-Submitted: auto-replied'],
      [
        'Delivery to the following recipient failed permanently:',
        '',
        '     team@example.com',
        '',
        'Technical details of permanent failure:',
        'Google tried to deliver your message, but it was rejected by the server for the recipient domain example.com by mx.example.com. [192.0.2.1].',
        '',
        'The error that the other server returned was:',
        '550 5.1.1 <team@example.com>... User unknown',
        '',
        '----- Original message -----',
        '',
        RETURNED,
      ].join('\r\n'),
    );
    assert.deepEqual(gmail, { failed: true, reason: '550 5.1.1 <team@example.com>... User unknown' });
    const yahoo = await read(
      ['From: MAILER-DAEMON@yahoo.com', 'Subject: Failure Notice'],
      [
        'Sorry, we were unable to deliver your message to the following address.',
        '',
        '<team@example.com>:',
        "554: delivery error: dd This user doesn't have a yahoo.com account (team@example.com) [0] - mta1.mail.example.yahoo.com",
        '',
        '--- Below this line is a copy of the message.',
        '',
        RETURNED,
      ].join('\r\n'),
    );
    assert.deepEqual(yahoo, {
      failed: true,
      reason: "554: delivery error: dd This user doesn't have a yahoo.com account (team@example.com) [0] - mta1.mail.example.yahoo.com",
    });
    const qmail = await read(
      ['From: MAILER-DAEMON@mx.example.com', 'Subject: failure notice'],
      [
        'Hi. This is the qmail-send program at mx.example.com.',
        "I'm afraid I wasn't able to deliver your message to the following addresses.",
        '',
        '<team@example.com>:',
        "Sorry, I couldn't find any host named example.com.",
        '',
        '--- Below this line is a copy of the message.',
        '',
        RETURNED,
      ].join('\r\n'),
    );
    assert.deepEqual(qmail, { failed: true, reason: "Sorry, I couldn't find any host named example.com." });
    const sendmail = await read(
      [
        'From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.com>',
        'Subject: Returned mail: see transcript for details',
        'Auto-Submitted: auto-generated (failure)',
      ],
      [
        'The original message was received at Sat, 5 Dec 2026 10:00:00 +0100',
        '',
        '   ----- The following addresses had permanent fatal errors -----',
        '<team@example.com>',
        '    (reason: 550 5.1.1 <team@example.com>... User unknown)',
        '',
        '   ----- Transcript of session follows -----',
        '... while talking to mbox.example.com.:',
        '>>> DATA',
        '<<< 550 5.1.1 <team@example.com>... User unknown',
      ].join('\r\n'),
    );
    assert.deepEqual(sendmail, { failed: true, reason: '550 5.1.1 <team@example.com>... User unknown' });
  });

  test("Gmail's 'Delivery Status Notification (Failure)' from an address is a bounce, its '(Delay)' a delay", async () => {
    const gmail = (outcome: string, said: string) =>
      read(['From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>', `Subject: Delivery Status Notification (${outcome})`], `${said}\r\n`);
    assert.equal(failed(await gmail('Failure', 'The response was: 550 5.1.1 The email account that you tried to reach does not exist.')), true);
    assert.deepEqual(await gmail('Delay', 'The response was: 421 4.7.0 Try again later'), {
      failed: false,
      reason: 'The response was: 421 4.7.0 Try again later',
    });
  });

  const report = (blocks: readonly string[]) =>
    read(
      [
        'From: MAILER-DAEMON@mx.example.com',
        'Subject: Undelivered Mail Returned to Sender',
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"',
      ],
      [
        '--B',
        'Content-Type: text/plain',
        '',
        'I could not deliver your message.',
        '',
        '--B',
        'Content-Type: message/delivery-status',
        '',
        'Reporting-MTA: dns; mx.example.com',
        '',
        ...blocks.flatMap((block) => [block, '']),
        '--B',
        'Content-Type: message/rfc822',
        '',
        RETURNED,
        '',
        '--B--',
      ].join('\r\n'),
    );
  const failedFor = (address: string, original?: string) =>
    [
      ...(original ? [`Original-Recipient: rfc822; ${original}`] : []),
      `Final-Recipient: rfc822; ${address}`,
      'Action: failed',
      'Status: 5.1.1',
      `Diagnostic-Code: smtp; 550 5.1.1 <${address}>: User unknown`,
    ].join('\r\n');

  test("a report failed for a list's member, not the mail's mailbox, changes nothing and names the member", async () => {
    assert.deepEqual(await report([failedFor('bob@example.net')]), {
      failed: false,
      reason: '5.1.1 smtp; 550 5.1.1 <bob@example.net>: User unknown',
      behind: 'bob@example.net',
    });
  });

  test('a report fails the mail by the block naming its mailbox, as Final- or Original-Recipient, in any case and any place', async () => {
    const delayed = 'Final-Recipient: rfc822; carol@example.net\r\nAction: delayed\r\nStatus: 4.4.1';
    assert.deepEqual(await report([delayed, failedFor('bob@example.net'), failedFor('Team@Example.com')]), {
      failed: true,
      reason: '5.1.1 smtp; 550 5.1.1 <Team@Example.com>: User unknown',
    });
    assert.equal(failed(await report([failedFor('team@mbox.example.com', 'team@example.com')])), true, 'an alias of the mailbox');
    assert.deepEqual(await report([delayed]), { failed: false, reason: '4.4.1' });
  });

  test('a report names the mailbox in any equivalent form: a Unicode domain, the root dot, letter case, a quoted local part; the base of a subaddress only without Original-Recipient', async () => {
    const globalReport = (mailbox: string, block: string) => {
      const raw = Buffer.from(
        [
          'From: MAILER-DAEMON@mx.example.com',
          'Subject: Undelivered Mail Returned to Sender',
          'MIME-Version: 1.0',
          'Content-Type: multipart/report; report-type=global-delivery-status; boundary="B"',
          '',
          '--B',
          'Content-Type: message/global-delivery-status',
          '',
          'Reporting-MTA: dns; mx.example.com',
          '',
          block,
          'Action: failed',
          'Status: 5.1.1',
          '--B--',
          '',
        ].join('\r\n'),
      );
      return parseMail(raw).then((mail) => readBounce({ mail, raw, envelopeFrom: '', recipient: mailbox, returnPath: RETURN_PATH }));
    };
    for (const [mailbox, block] of [
      ['alice@xn--bcher-kva.example', 'Final-Recipient: utf-8; alice@bücher.example'],
      ['alice@xn--bcher-kva.example', 'Final-Recipient: utf-8; alice@BÜCHER.example.'],
      ['alice@example.com', 'Final-Recipient: rfc822; alice@example.com.'],
      ['ops@Example.COM', 'Final-Recipient: rfc822; <OPS@example.com.>'],
      ['alice@example.com', 'Final-Recipient: rfc822; "alice"@example.com'],
      ['alice+sms@example.com', 'Final-Recipient: rfc822; alice@example.com'],
      ['alice+sms@example.com', 'Original-Recipient: rfc822;alice+sms@example.com\r\nFinal-Recipient: rfc822; alice@mbox.example.com'],
      // sendmail and Exim print the ORCPT as it came, xtext-encoded (RFC 3461 §4), or RFC 6533's \x{…} in a utf-8 one.
      ['alice+sms@example.com', 'Original-Recipient: rfc822;alice+2Bsms@example.com\r\nFinal-Recipient: rfc822; alice@example.com'],
      ['alice=x@example.com', 'Original-Recipient: rfc822;alice+3Dx@example.com\r\nFinal-Recipient: rfc822; box7@mbox.example.com'],
      ['alice@xn--bcher-kva.example', 'Original-Recipient: utf-8;alice@b\\x{FC}cher.example\r\nFinal-Recipient: rfc822; box7@mbox.example.com'],
      // An Original-Recipient in a form the relay cannot read does not hide a Final-Recipient that names the mailbox.
      ['alice@example.com', 'Original-Recipient: x-unknown;AL1CE\r\nFinal-Recipient: rfc822; alice@example.com'],
      // A Final-Recipient is a plain address: a + and two hex digits in it are the mailbox's own, not xtext.
      ['ops+DB@example.com', 'Final-Recipient: rfc822; ops+DB@example.com'],
    ] as const) {
      assert.deepEqual(await globalReport(mailbox, block), { failed: true, reason: '5.1.1' }, `${mailbox}: ${block}`);
    }
    // Original-Recipient says which address the relay sent to: another one is behind the mailbox, whatever Final-Recipient says.
    assert.deepEqual(
      await globalReport('alice+sms@example.com', 'Original-Recipient: rfc822; list@example.com\r\nFinal-Recipient: rfc822; alice@example.com'),
      { failed: false, reason: '5.1.1', behind: 'list@example.com' },
    );
    for (const other of ['alicia@example.com', 'alice@example.com.evil', 'alice@bucher.example', 'alice+other@example.com']) {
      const read = await globalReport(
        other === 'alice+other@example.com' ? 'alice@example.com' : 'alice@xn--bcher-kva.example',
        `Final-Recipient: rfc822; ${other}`,
      );
      assert.equal(failed(read), false, other);
    }
  });

  test('a bounce without a report in words no list knows is read by its content: a permanent status above the returned mail, or the returned mail itself', async () => {
    const plain = (subject: string, body: string) =>
      read(['From: <MAILER-DAEMON@mx.example.jp>', `Subject: ${subject}`, 'Content-Type: text/plain; charset=utf-8'], body);
    for (const [subject, said] of [
      ['Zustellungsfehler: SMS from +44 7700 900123', 'Ihre Nachricht konnte nicht zugestellt werden.\r\n550 5.1.1 Benutzer unbekannt'],
      ['Недоставленное сообщение', 'Сообщение не доставлено: 550 5.1.1 User unknown'],
      ['Mail System Error - Returned Mail', '550 5.1.1 unknown'],
      ['Nondeliverable mail', 'Remote host said: 550 no such mailbox'],
    ]) {
      assert.deepEqual(await plain(subject ?? '', `${said}\r\n`), { failed: true, reason: said?.split('\r\n').at(-1) }, subject);
    }
    // No code at all, but the reply mail comes back below the marker: failed, the subject the reason.
    assert.deepEqual(
      await plain('Nicht zustellbar', `Die Nachricht wurde nicht zugestellt.\r\n\r\n--- Below this line is a copy of the message.\r\n\r\n${RETURNED}`),
      {
        failed: true,
        reason: 'Nicht zustellbar',
      },
    );
    // An IP address is no status: Exim's host line does not hide the 550 below it.
    assert.deepEqual(
      await plain(
        'Mail delivery failed: returning message to sender',
        '  team@example.com\r\n    host mx.example.com [5.9.10.11]\r\n    550 5.1.1 User unknown\r\n',
      ),
      { failed: true, reason: '550 5.1.1 User unknown' },
    );
  });

  test("a plain bounce's report-like lines below the returned mail's marker are the SMS's words, not a report", async () => {
    const qmail = await read(
      ['From: MAILER-DAEMON@mx.example.com', 'Subject: failure notice'],
      [
        '<team@example.com>:',
        'Remote host said: 550 5.1.1 No such user',
        '',
        '--- Below this line is a copy of the message.',
        '',
        'Subject: SMS',
        '',
        'Final-Recipient: rfc822; x@y.example',
        'Action: delayed',
        'Status: 4.4.7',
      ].join('\r\n'),
    );
    assert.deepEqual(qmail, { failed: true, reason: 'Remote host said: 550 5.1.1 No such user' });
  });

  test("RFC 6533's message/global-delivery-status is read as a report, for the mailbox and for a member behind it", async () => {
    const global = (rcpt: string) => {
      const raw = [
        'From: MAILER-DAEMON@mx.example.com',
        'Subject: Undelivered Mail Returned to Sender',
        'MIME-Version: 1.0',
        'Content-Type: multipart/report; report-type=global-delivery-status; boundary="B"',
        '',
        '--B',
        'Content-Type: text/plain; charset=utf-8',
        '',
        'I could not deliver your message.',
        '--B',
        'Content-Type: message/global-delivery-status',
        '',
        'Reporting-MTA: dns; mx.example.com',
        '',
        `Final-Recipient: utf-8; ${rcpt}`,
        'Action: failed',
        'Status: 5.1.1',
        '--B--',
        '',
      ].join('\r\n');
      return parseMail(Buffer.from(raw)).then((mail) =>
        readBounce({ mail, raw: Buffer.from(raw), envelopeFrom: '', recipient: MAILBOX, returnPath: RETURN_PATH }),
      );
    };
    assert.deepEqual(await global(MAILBOX), { failed: true, reason: '5.1.1' });
    assert.deepEqual(await global('mitglied@beispiel.de'), { failed: false, reason: '5.1.1', behind: 'mitglied@beispiel.de' });
  });

  test("a person's 'Warning:' mail is no delay, and an unknown mail from <> is unclassified; an out-of-office from <> is an auto-reply", async () => {
    assert.deepEqual(await read(['From: Bob <bob@example.com>', 'Subject: Warning: the meeting moved'], 'See you at 3.\r\n', 'bob@example.com'), {
      notABounce: 'unclassified',
    });
    assert.deepEqual(await read(['From: <MAILER-DAEMON@mx.example.com>', 'Subject: Notice'], 'Something happened.\r\n'), { notABounce: 'unclassified' });
    assert.deepEqual(await read(['From: Team <team@example.com>', 'Subject: Automatic reply: SMS from +44 7700 900123'], 'Away until 5.12.24.\r\n'), {
      notABounce: 'auto-reply',
    });
  });

  describe("an automatic answer that looks like a bounce in part: only a bounce's own words around a status fail the mail", () => {
    const vacation = (subject: string, mark: string) => ['From: Team <team@example.com>', `To: <${RETURN_PATH}>`, `Subject: ${subject}`, mark];

    test('a German Sieve vacation answer giving a phone number (555 0100) is an auto-reply, not a 5xx', async () => {
      const answer = await read(
        vacation('Im Urlaub', 'Auto-Submitted: auto-replied (vacation)'),
        'Ich bin bis Montag nicht im Büro.\r\nIn dringenden Fällen: 555 0100 (Frau Meier)\r\n',
      );
      assert.deepEqual(answer, { notABounce: 'auto-reply' });
    });

    test('a vacation answer giving a date (5.1.25) is an auto-reply, not a 5.x.x status', async () => {
      const answer = await read(vacation('Abwesend', 'Auto-Submitted: auto-replied (vacation)'), 'Ich bin ab 5.1.25 wieder da.\r\n');
      assert.deepEqual(answer, { notABounce: 'auto-reply' });
    });

    test("an X-Autoreply vacation answer quoting the reply mail's headers (its return path) is an auto-reply: the quote is no returned copy", async () => {
      const answer = await read(
        vacation('Re: SMS from +44 7700 900123', 'X-Autoreply: yes'),
        `I am away.\r\n\r\n> Return-Path: <${RETURN_PATH}>\r\n> X-SMSRelay-Loop: 1\r\n> hello\r\n`,
      );
      assert.deepEqual(answer, { notABounce: 'auto-reply' });
    });

    test("a vacation answer quoting the reply mail under Outlook's '-----Original Message-----' is an auto-reply: that line is a person's quote, no bounce's marker", async () => {
      const answer = await read(
        vacation('Automatische Antwort: SMS from +44 7700 900123', 'Auto-Submitted: auto-replied'),
        `Ich bin bis Montag nicht im Büro.\r\nIn dringenden Fällen: 555 0100\r\n\r\n-----Original Message-----\r\n${RETURNED}\r\n`,
      );
      assert.deepEqual(answer, { notABounce: 'auto-reply' });
      const unlisted = await read(
        vacation('Im Urlaub', 'Auto-Submitted: auto-replied'),
        `Bis Montag weg. Notfall: 555 0100\r\n\r\n-----Original Message-----\r\n${RETURNED}\r\n`,
      );
      assert.deepEqual(unlisted, { notABounce: 'auto-reply' }, 'a subject no list knows: the mark decides');
    });

    test("a read receipt (report-type=disposition-notification) returning the reply mail's headers is no failure", async () => {
      const receipt = await read(
        [
          'From: Team <team@example.com>',
          `To: <${RETURN_PATH}>`,
          'Subject: Read: SMS from +44 7700 900123',
          'MIME-Version: 1.0',
          'Content-Type: multipart/report; report-type=disposition-notification; boundary="b"',
        ],
        [
          '--b',
          'Content-Type: text/plain',
          '',
          'Your message was read. 550 people saw it.',
          '--b',
          'Content-Type: message/disposition-notification',
          '',
          'Reporting-UA: mail.example.com',
          'Final-Recipient: rfc822;team@example.com',
          'Disposition: manual-action/MDN-sent-manually; displayed',
          '',
          '--b',
          'Content-Type: text/rfc822-headers',
          '',
          `Return-Path: <${RETURN_PATH}>`,
          'X-SMSRelay-Loop: 1',
          'Subject: SMS from +44 7700 900123',
          '',
          '--b--',
          '',
        ].join('\r\n'),
      );
      assert.deepEqual(receipt, { notABounce: 'auto-reply' });
    });

    test("a German delay warning returning the reply mail's headers changes nothing", async () => {
      const delay = await read(
        ['From: Mail Delivery System <Mailer-Daemon@mx.example.com>', 'Subject: Warnung: Nachricht verzögert', 'Auto-Submitted: auto-replied'],
        [
          'Diese Nachricht konnte seit 24 Stunden noch nicht zugestellt werden.',
          'Es wird weiter versucht.',
          '',
          '------ Dies ist eine Kopie der Kopfzeilen. ------',
          `Return-path: <${RETURN_PATH}>`,
          'X-SMSRelay-Loop: 1',
          '',
        ].join('\r\n'),
      );
      assert.equal(failed(delay), false);
    });

    test("a bounce marked as an auto-reply still fails the mail when a bounce's words stand around its status", async () => {
      const exim = await read(
        ['From: Mail Delivery System <Mailer-Daemon@mx.example.com>', 'Subject: Zustellung fehlgeschlagen', 'Auto-Submitted: auto-replied'],
        ['  team@example.com', '    SMTP error from remote mail server after RCPT TO:<team@example.com>:', '    550 5.1.1 User unknown', ''].join('\r\n'),
      );
      assert.deepEqual(exim, { failed: true, reason: '550 5.1.1 User unknown' });
    });

    test('from <>, a returned copy of the reply mail without a marker or a status above it is read as neither: unclassified, not failed', async () => {
      const quoted = await read(['From: someone@example.com', 'Subject: Fwd: SMS from +44 7700 900123'], `See below.\r\n\r\n${RETURNED}\r\n`);
      assert.deepEqual(quoted, { notABounce: 'unclassified' });
    });
  });
});
