import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canTextBack, readReportNumber, readSender, reportNumber, senderKind } from '../../src/sms/senders.ts';

test('any sender a gateway gives is read: numbers to E.164 where they can be, else kept', () => {
  const cases: ReadonlyArray<readonly [unknown, string | undefined]> = [
    ['447700900123', '+447700900123'],
    ['+447700900123', '+447700900123'],
    [' 4799999999 ', '+4799999999'],
    ['447700955555', '+447700955555'], // a range libphonenumber does not list: international by shape
    ['+99912345', '+99912345'], // a `+` always means international
    ['12345', '12345'], // a short code
    // The international prefix 00, as after a `+`: Puzzel's and SMSCs' way of writing an international sender.
    ['004791234201', '+4791234201'],
    ['00447700955555', '+447700955555'], // a range libphonenumber does not list
    ['+00447700900123', '+447700900123'], // an SMSC's TON 1 with the prefix left in
    ['0012345', '0012345'], // too short for a number with its country code: a short code with leading zeros
    ['0047123', '0047123'],
    ['0123456', '0123456'], // national digits: kept as given
    ['ACME', 'ACME'],
    ['Bank 24', 'Bank 24'],
    ['Café-Bar', 'Café-Bar'],
    ['ABCDEFGHIJK', 'ABCDEFGHIJK'],
    ['ABCDEFGHIJKL', undefined], // over 11 characters
    ['12', undefined],
    ['', undefined],
    ['<b>x</b>', undefined],
    ['+44 7700', undefined],
    [undefined, undefined],
    [4711, undefined],
  ];
  for (const [given, expected] of cases) assert.equal(readSender(given), expected, `readSender(${JSON.stringify(given)})`);
});

test('who can be texted back, and what a report may name', () => {
  assert.equal(senderKind('+447700900123'), 'number');
  assert.equal(senderKind('12345'), 'short-code');
  assert.equal(senderKind('ACME'), 'alphanumeric');
  // National means a trunk 0 (NATIONAL_NUMBER), whatever its length; a longer run of digits without one is none.
  assert.equal(senderKind('07700900706'), 'national');
  assert.equal(senderKind('0861234'), 'national');
  assert.equal(senderKind('000123456789'), 'digits');
  assert.equal(canTextBack('+447700955555'), true);
  assert.equal(canTextBack('12345'), false);
  assert.equal(canTextBack('ACME'), false);
  assert.equal(readReportNumber('447700900123'), '+447700900123');
  assert.equal(readReportNumber('ACME'), undefined, 'the relay never texts a name, so no report can be about one');
  assert.equal(readReportNumber('12345'), undefined);
  assert.equal(readReportNumber('07700900123'), '07700900123', 'written nationally: kept for the inbound service to place');
});

test("a report's number: a national one is the one of its id's numbers it is in that number's own country, else read in the region", () => {
  const sent = ['+353871234281', '+447700900281'];
  assert.equal(reportNumber('07700900281', sent, 'IE'), '+447700900281', "the UK number of the id's, whatever the region");
  assert.equal(reportNumber('0871234281', sent, undefined), '+353871234281');
  assert.equal(reportNumber('07700900999', sent, 'GB'), '+447700900999', 'none of them: read in the region (a check that fails)');
  assert.equal(reportNumber('07700900999', sent, undefined), undefined, 'none of them, and no region');
  assert.equal(reportNumber('+447700900555', sent, undefined), '+447700900555', 'an international number is as written');
  assert.equal(reportNumber(undefined, ['+4791234501'], undefined), '+4791234501', 'none written: the id names one number');
  assert.equal(reportNumber(undefined, sent, undefined), undefined, 'none written, and the id was sent to two');
  assert.equal(reportNumber(undefined, [], 'GB'), undefined);
});
