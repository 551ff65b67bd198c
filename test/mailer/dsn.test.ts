/** The delivery status notifications as the relay builds them, read back as a receiver parses them. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildReport, type ReportedRecipient } from '../../src/mailer/dsn.ts';
import { Templates } from '../../src/mailer/templates.ts';
import type { StoredMessage } from '../../src/store/types.ts';

const message: StoredMessage = {
  id: 'm-1',
  receivedAt: Date.parse('2026-03-14T09:26:53Z'),
  envelopeFrom: 'alice@example.com',
  messageIdHeader: '<m-1@example.com>',
  subject: 'Server down',
  headers: 'From: alice@example.com\r\nSubject: Server down\r\n',
  dsn: { ret: undefined, envid: undefined },
  client: { address: '127.0.0.1', helo: 'client' },
  reportAll: false,
  sendAt: undefined,
  gatewayAccount: undefined,
  text: 'db1 is not answering',
  encoding: 'gsm7',
  parts: 1,
  maxParts: 6,
  senderId: undefined,
  userContext: undefined,
};
const recipient: ReportedRecipient = {
  number: '+447700900123',
  rcpt: '447700900123@sms.example.com',
  notify: ['SUCCESS'],
  orcpt: undefined,
  category: 'sent',
  reason: 'accepted by the SMS gateway',
  code: 'ID',
};
const options = { from: 'MAILER-DAEMON@sms.example.com', reportingHost: 'relay.example.com', templates: new Templates() };

const diagnosticOf = async (reported: ReportedRecipient) => {
  const report = await buildReport('relayed', message, [reported], options);
  return /^Diagnostic-Code: (.*)\r$/m.exec(report?.raw.toString() ?? '')?.[1];
};

describe('the report that the gateway took an SMS (NOTIFY=SUCCESS)', () => {
  test("names the gateway's id of the SMS, not the code that only means it was taken", async () => {
    assert.equal(await diagnosticOf({ ...recipient, gatewayId: '4711' }), 'X-SMS; gateway id 4711 (accepted by the SMS gateway)');
  });

  test('without an id from the gateway, says only what happened', async () => {
    assert.equal(await diagnosticOf(recipient), 'X-SMS; accepted by the SMS gateway');
  });

  test("a bounce's plain words tell to check the number only when the number was the reason", async () => {
    const words = async (category: string, reason: string) => {
      const report = await buildReport('failed', message, [{ ...recipient, notify: undefined, category, reason, code: 'status 2' }], options);
      return (report?.raw.toString() ?? '').replace(/=\r\n/g, '');
    };
    const outOfReach = await words('undeliverable', 'the phone was out of reach and the network stopped trying (it may be reachable later)');
    assert.doesNotMatch(outOfReach, /Check the number/);
    assert.match(outOfReach, /You may send the mail again once the reason above/);
    assert.match(await words('invalid-number', 'not a valid number'), /Check the number and send the mail again/);
  });

  test('Original-Recipient comes only from an ORCPT, written as Final-Recipient is', async () => {
    const originalOf = async (reported: ReportedRecipient) =>
      /^Original-Recipient: (.*)\r$/m.exec((await buildReport('relayed', message, [reported], options))?.raw.toString() ?? '')?.[1];
    assert.equal(await originalOf({ ...recipient, orcpt: 'rfc822;oncall@example.com' }), 'rfc822; oncall@example.com');
    assert.equal(await originalOf({ ...recipient, rcpt: 'oncall@sms.example.com' }), undefined, 'a list address without ORCPT');
  });

  test('a failure keeps the provider code, which says why', async () => {
    const report = await buildReport(
      'failed',
      message,
      [{ ...recipient, notify: undefined, category: 'invalid-number', reason: 'not a valid number', code: 'ERR:INVALID_NUMBER' }],
      options,
    );
    assert.match(report?.raw.toString() ?? '', /^Diagnostic-Code: X-SMS; ERR:INVALID_NUMBER \(not a valid number\)\r$/m);
  });
});

describe('every report (bounce, delay, relayed, delivered)', () => {
  test('carries X-SMSRelay-Loop, as every mail the relay writes, naming the relay', async () => {
    for (const kind of ['failed', 'delayed', 'relayed', 'delivered'] as const) {
      const report = await buildReport(kind, message, [{ ...recipient, notify: ['SUCCESS', 'FAILURE', 'DELAY'] }], options);
      const headers = report?.raw.toString().split('\r\n\r\n')[0] ?? '';
      // Header names are case-insensitive (RFC 5322 §1.2.2); nodemailer writes this one X-Smsrelay-Loop.
      assert.match(headers, /^X-SMSRelay-Loop: relay\.example\.com$/im, kind);
    }
  });
});
