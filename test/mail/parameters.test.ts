import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RelayError } from '../../src/errors.ts';
import { headerParameters, parseSubjectCommand, redactSecrets, takeContextTag, takeLeadingContextLine, takeSubjectTokens } from '../../src/mail/parameters.ts';

const badParameter = (pattern: RegExp) => (error: unknown) => error instanceof RelayError && error.code === 'BAD_PARAMETER' && pattern.test(error.message);

describe('relay parameters', () => {
  it('reads headers; UserContext and X-UserContext, or a repeated header, must agree', () => {
    const headers: Record<string, string | string[]> = { 'x-usercontext': ['a', 'a'], usercontext: 'a', 'x-sms-from': 'Acme', 'x-sms-max-parts': '2' };
    assert.deepEqual(
      headerParameters((name) => headers[name]),
      { userContext: 'a', senderId: 'Acme', maxParts: 2 },
    );
    const differing: Record<string, string> = { usercontext: 'a', 'x-usercontext': '=?utf-8?q?b?=' };
    assert.throws(
      () => headerParameters((name) => differing[name]),
      badParameter(/^The mail's headers give different UserContext values \(UserContext: a, X-UserContext: b\): give one$/),
    );
    assert.throws(
      () => headerParameters((name) => (name === 'x-sms-max-parts' ? ['2', '3'] : undefined)),
      badParameter(/^The mail's headers give different maximum parts values \(X-SMS-Max-Parts: 2, X-SMS-Max-Parts: 3\): give one$/),
    );
  });

  it('a subject word named like a property every object has is text, or an unknown parameter in a subject command, never a crash', () => {
    assert.deepEqual(takeSubjectTokens('constructor:1 Pump alarm'), { rest: 'constructor:1 Pump alarm', parameters: {} });
    assert.throws(() => parseSubjectCommand('To:447700900123 constructor:1'), badParameter(/^Unknown parameter "constructor:1" in the subject/));
  });

  it('refuses a value outside the safe syntax, naming where it was', () => {
    assert.throws(() => headerParameters((name) => (name === 'x-usercontext' ? 'has space' : undefined)), badParameter(/X-UserContext header/i));
    assert.throws(() => headerParameters((name) => (name === 'x-sms-from' ? 'Acme\u00a0Corp' : undefined)), badParameter(/sender id/));
    assert.throws(() => headerParameters((name) => (name === 'x-sms-max-parts' ? '0' : undefined)), badParameter(/maximum parts/));
  });

  it('decodes encoded words in a parameter header, as the subject is decoded', () => {
    const headers: Record<string, string> = { 'x-sms-from': '=?utf-8?q?Acme_Corp?=', 'x-usercontext': '=?UTF-8?B?Y2FzZS00Mg==?=' };
    assert.deepEqual(
      headerParameters((name) => headers[name]),
      { userContext: 'case-42', senderId: 'Acme Corp' },
    );
  });

  it('refuses a sender id no provider takes with the one rule the docs give', () => {
    assert.throws(
      () => headerParameters((name) => (name === 'x-sms-from' ? 'A'.repeat(65) : undefined)),
      badParameter(/expected printable ASCII, at most 64 characters \(which ones and how many: the SMS provider's rule\)$/),
    );
    assert.deepEqual(
      headerParameters((name) => (name === 'x-sms-from' ? '+447700900123' : undefined)),
      { senderId: '+447700900123' },
    );
  });

  it("leaves a longer sender id to the provider's rule: a Twilio Messaging Service SID passes", () => {
    const sid = `MG${'0123456789abcdef'.repeat(2)}`;
    assert.deepEqual(
      headerParameters((name) => (name === 'x-sms-from' ? sid : undefined)),
      { senderId: sid },
    );
  });

  it('takes the tokens standing at the start or end of a subject; other Word:value text, and tokens in the middle, stay text', () => {
    assert.deepEqual(takeSubjectTokens('Pump alarm UserContext:PLANT-7 From:Acme'), {
      rest: 'Pump alarm',
      parameters: { userContext: 'PLANT-7', senderId: 'Acme' },
    });
    assert.deepEqual(takeSubjectTokens('MaxConcat:2 Pump alarm'), { rest: 'Pump alarm', parameters: { maxParts: 2 } });
    assert.deepEqual(takeSubjectTokens('Pump alarm UserContext:PLANT-7 From:Acme Time:10:00'), {
      rest: 'Pump alarm UserContext:PLANT-7 From:Acme Time:10:00',
      parameters: {},
    });
    assert.deepEqual(takeSubjectTokens('Job From:nightly-backup failed'), { rest: 'Job From:nightly-backup failed', parameters: {} });
    assert.deepEqual(takeSubjectTokens('Shift moved From:Mon To:Tue'), { rest: 'Shift moved From:Mon To:Tue', parameters: {} });
  });

  it('leaves a token whose value is not of its form as text, never refusing the mail for it', () => {
    assert.deepEqual(takeSubjectTokens('Backup failed From:nightly-backup'), { rest: 'Backup failed From:nightly-backup', parameters: {} });
    assert.deepEqual(takeSubjectTokens('Disk full MaxConcat:0'), { rest: 'Disk full MaxConcat:0', parameters: {} });
  });

  it('takes the reply tag out wherever it stands', () => {
    assert.deepEqual(takeContextTag('Re: Server down [UserContext: ab12]', 'the subject'), { rest: 'Re: Server down ', userContext: 'ab12' });
    assert.deepEqual(takeContextTag('no tag', 'the subject'), { rest: 'no tag' });
  });

  it('takes a leading UserContext line out of the body, only the first line', () => {
    assert.deepEqual(takeLeadingContextLine('\nUserContext: 42\nPump 3 stopped'), { rest: 'Pump 3 stopped', userContext: '42' });
    assert.deepEqual(takeLeadingContextLine('Pump 3\nUserContext: 42'), { rest: 'Pump 3\nUserContext: 42' });
  });

  it('parses the IntelliSoftware subject format, ignoring the account tokens', () => {
    assert.deepEqual(parseSubjectCommand('Username:u Password:p To:447700900123,447700900124 From:Acme UserContext:42 MaxConcat:3'), {
      to: ['447700900123', '447700900124'],
      senderId: 'Acme',
      userContext: '42',
      maxParts: 3,
    });
  });

  it('refuses an unknown token and a subject without a number', () => {
    assert.throws(() => parseSubjectCommand('To:447700900123 Hello'), badParameter(/Unknown parameter "Hello"/));
    assert.throws(() => parseSubjectCommand('From:Acme'), badParameter(/No number/));
  });

  it('hides a password token', () => {
    assert.equal(redactSecrets('Subject: Username:u Password:hunter2 To:1'), 'Subject: Username:u Password:[redacted] To:1');
  });

  it('hides a password written with blanks after its colon, folded too, and leaves a token after an empty one alone', () => {
    assert.equal(redactSecrets('Subject: Username: u Password: hunter2 To:1'), 'Subject: Username: u Password: [redacted] To:1');
    assert.equal(redactSecrets('Subject: password:\thunter2:x'), 'Subject: password:\t[redacted]');
    assert.equal(redactSecrets('Subject: Password:\r\n hunter2 To:1\r\nX: y'), 'Subject: Password:\r\n [redacted] To:1\r\nX: y');
    assert.equal(redactSecrets('Subject: Password: To:1'), 'Subject: Password: To:1');
    assert.equal(redactSecrets('Subject: Password:\r\nX-Other: y'), 'Subject: Password:\r\nX-Other: y');
  });
});
