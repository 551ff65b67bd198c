/**
 * Issue #14's outcomes at the text stage: a reply that adds nothing is refused with its own code
 * (not sent as its subject), a subject-only alert still goes out, a forward's body is its text and an
 * over-long forward follows text.overLength like any text.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fitText } from '../../src/acceptance/new-mail.ts';
import { configSchema } from '../../src/config/schema.ts';
import { RelayError, toSmtpError } from '../../src/errors.ts';
import { extractRequest, parseMail } from '../../src/mail/extract.ts';
import { textPolicyFor } from '../../src/mail/policy.ts';

const POLICY = textPolicyFor(configSchema.shape.text.parse(undefined), 'sender@example.com');
const mail = (subject: string, body: string) =>
  parseMail(
    Buffer.from(`From: bob@example.org\r\nTo: 447700900123@sms.example.com\r\nSubject: ${subject}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${body}`),
  );

describe("the text stage's outcome for replies, alerts and forwards", () => {
  test('a reply with nothing above its quote: NO_NEW_TEXT, 554 5.6.0, the subject is not sent', async () => {
    const request = extractRequest(
      await mail('Re: Gate', 'On Tue, 20 Mar 2026 at 08:48, Ana <ana@example.com> wrote:\r\n> Is the gate open?\r\n'),
      POLICY,
      false,
    );
    assert.equal(request.noNewText, true);
    assert.throws(
      () => fitText(request, 1, POLICY),
      (error: unknown) => {
        const smtp = toSmtpError(error);
        return error instanceof RelayError && error.code === 'NO_NEW_TEXT' && smtp.responseCode === 554 && smtp.message.startsWith('5.6.0 ');
      },
    );
  });

  test('a reply that quotes nothing is refused without speaking of a quote: only a device line, an empty body, only a reaction', async () => {
    const refusal = (request: Parameters<typeof fitText>[0]) => {
      try {
        fitText(request, 1, POLICY);
      } catch (error) {
        assert.ok(error instanceof RelayError && error.code === 'NO_NEW_TEXT', String(error));
        return toSmtpError(error).message;
      }
      assert.fail('not refused');
    };
    const answered = (subject: string, body: string) =>
      mail(subject, body).then((parsed) => extractRequest(parsed, POLICY, false, ['On it, rebooting db1 now.']));
    for (const body of ['Odesláno z iPhonu\r\n', '']) {
      assert.equal(refusal(await answered('Re: Server down', body)), '5.6.0 Not sent as SMS: the reply has no new text; write the message in the mail');
    }
    // Gmail's reaction as its spec allows it: a single part in its machine form, no text version.
    const reaction = await parseMail(
      Buffer.from(
        'From: bob@example.org\r\nTo: 447700900123@sms.example.com\r\nSubject: Re: Server down\r\nContent-Type: text/vnd.google.email-reaction+json; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{"emoji":"=F0=9F=99=83","version":1}\r\n',
      ),
    );
    assert.equal(
      refusal(extractRequest(reaction, POLICY, false, ['On it, rebooting db1 now.'])),
      "5.6.0 Not sent as SMS: the reply is only an emoji reaction (Gmail's), with no text; write the message in the mail",
    );
    const quoted = await answered('Re: Server down', 'On Tue, 20 Mar 2026 at 08:48, Ana <ana@example.com> wrote:\r\n> On it, rebooting db1 now.\r\n');
    assert.equal(refusal(quoted), '5.6.0 Not sent as SMS: the reply has no new text above the quoted mail; write the message above the quote');
  });

  test('Gmail\'s reaction with a text version: the emoji of its plain part is the text, not the HTML\'s "reacted via Gmail"', async () => {
    const reaction = await parseMail(
      Buffer.from(
        [
          'From: bob@example.org',
          'To: 447700900123@sms.example.com',
          'Subject: Re: Server down',
          'Content-Type: multipart/alternative; boundary=r',
          '',
          '--r',
          'Content-Type: text/plain; charset=utf-8',
          '',
          '\u{1F44D}',
          '--r',
          'Content-Type: text/vnd.google.email-reaction+json; charset=utf-8',
          '',
          '{"emoji":"\u{1F44D}","version":1}',
          '--r',
          'Content-Type: text/html; charset=utf-8',
          '',
          '<p>\u{1F44D}</p><p>Alice Meyer reacted via <a href="https://support.google.com/mail/?p=email_reactions">Gmail</a></p>',
          '--r--',
          '',
        ].join('\r\n'),
      ),
    );
    assert.equal(extractRequest(reaction, POLICY, false).text, '\u{1F44D}');
  });

  test('K-9 Mail\'s device line, written as a signature under a "--" that lost its space: the line and the "--" go', async () => {
    const request = extractRequest(
      await mail('Meeting', 'Meeting moved to 3pm.\r\n\r\n--\r\nSent from my Android phone with K-9 Mail. Please excuse my brevity.\r\n'),
      POLICY,
      false,
    );
    assert.equal(request.text, 'Meeting moved to 3pm.');
  });

  test("the writer's one line above a quoted attribution is the text, not the subject", async () => {
    const request = extractRequest(
      await mail('Re: Gate', 'Hello\r\n> On Tue, 20 Mar 2026 at 08:48, Ana <ana@example.com> wrote:\r\n> > Is the gate open?\r\n'),
      POLICY,
      false,
    );
    assert.equal(request.text, 'Hello');
  });

  test("a mail that answers nothing keeps its '>' lines; in a reply, or below an attribution, they are the quote", async () => {
    const alert = 'CPU load high on web01\r\n>90% for 10 minutes\r\n> 5 users affected\r\n';
    assert.equal(extractRequest(await mail('web01 CPU', alert), POLICY, false).text, 'CPU load high on web01\n>90% for 10 minutes\n> 5 users affected');
    assert.equal(extractRequest(await mail('Re: web01 CPU', alert), POLICY, false).text, 'CPU load high on web01');
    const quoted = 'See below.\r\n\r\nOn Tue, 20 Mar 2026 at 08:48, Ana <ana@example.com> wrote:\r\n> Is the gate open?\r\n';
    assert.equal(extractRequest(await mail('Gate', quoted), POLICY, false).text, 'See below.');
  });

  test('a header-like block under a heading in a mail that answers nothing is its content (a voicemail notice); a quote below it or a reply makes it a header', async () => {
    const notice =
      'You received a new voicemail.\r\n\r\nFrom: +44 7700 900555 (Mobile)\r\nTo: 201 Helpdesk\r\nDate: Saturday, December 5, 2026 at 06:58\r\nDuration: 0:23\r\n\r\nTranscription: "Please call me back."\r\n';
    const kept =
      'You received a new voicemail.\n\nFrom: +44 7700 900555 (Mobile)\nTo: 201 Helpdesk\nDate: Saturday, December 5, 2026 at 06:58\nDuration: 0:23\n\nTranscription: "Please call me back."';
    assert.equal(extractRequest(await mail('New voicemail from +44 7700 900555', notice), POLICY, false).text, kept);
    assert.equal(extractRequest(await mail('Re: New voicemail', notice), POLICY, false).text, 'You received a new voicemail.');
    const quotedBelow = 'Will do.\r\n\r\nFrom: Ana <ana@example.com>\r\nSent: Tuesday, 20 March 2026 08:48\r\nSubject: Gate\r\n\r\n> Is the gate open?\r\n';
    assert.equal(extractRequest(await mail('Gate', quotedBelow), POLICY, false).text, 'Will do.');
  });

  test('a subject-only alert still goes out: empty body, or only a device line', async () => {
    assert.equal(extractRequest(await mail('Disk full on db1', ''), POLICY, false).text, 'Disk full on db1');
    const device = extractRequest(await mail('Door 3 forced open', 'Sent from my iPhone\r\n'), POLICY, false);
    assert.equal(device.noNewText, false);
    assert.equal(device.text, 'Door 3 forced open');
  });

  test('a forward (WG:) keeps the forwarded body; an over-long one follows text.overLength', async () => {
    const body = `-----Ursprüngliche Nachricht-----\r\nVon: Ana <ana@example.com>\r\nGesendet: Dienstag, 20. März 2026 08:48\r\nAn: Bob\r\nBetreff: Tor\r\n\r\n${'Das Tor klemmt. '.repeat(30)}\r\n`;
    const request = extractRequest(await mail('WG: Tor', body), POLICY, false);
    assert.equal(request.forward, true);
    assert.ok(request.text.startsWith('Das Tor klemmt.'), request.text);
    assert.throws(
      () => fitText(request, 2, POLICY),
      (error: unknown) => error instanceof RelayError && error.code === 'TEXT_TOO_LONG',
    );
    const cut = fitText(request, 2, { ...POLICY, overLength: 'truncate' });
    assert.equal(cut.parts, 2);
    assert.equal(cut.cutFrom, 4);
  });
});
