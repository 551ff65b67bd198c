import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canTextBack, nationalSenderAmong, readReportNumber, readSender, reportNumber, senderKind } from '../../src/sms/senders.ts';

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
  const one = (number: string) => ({ kind: 'one', number });
  assert.deepEqual(reportNumber('07700900281', sent, 'IE'), one('+447700900281'), "the UK number of the id's, whatever the region");
  assert.deepEqual(reportNumber('0871234281', sent, undefined), one('+353871234281'));
  assert.deepEqual(reportNumber('07700900999', sent, 'GB'), one('+447700900999'), 'none of them: read in the region (a check that fails)');
  assert.deepEqual(reportNumber('07700900999', sent, undefined), { kind: 'none' }, 'none of them, and no region');
  assert.deepEqual(reportNumber('+447700900555', sent, undefined), one('+447700900555'), 'an international number is as written');
  assert.deepEqual(reportNumber(undefined, ['+4791234501'], undefined), one('+4791234501'), 'none written: the id names one number');
  assert.deepEqual(reportNumber(undefined, sent, undefined), { kind: 'ambiguous' }, 'none written, and the id was sent to two');
  assert.deepEqual(reportNumber(undefined, [], 'GB'), { kind: 'none' });
});

test('a national number that is more than one of the numbers it is looked for among is ambiguous, never the first that fits', () => {
  // Countries' plans overlap: 0612345678 is a French and a Dutch mobile alike, 0212466954 an Australian and a NZ number.
  const collisions: ReadonlyArray<readonly [string, readonly string[]]> = [
    ['0612345678', ['+31612345678', '+33612345678']],
    ['0612345678', ['+33612345678', '+31612345678']],
    ['0212466954', ['+61212466954', '+64212466954']],
  ];
  for (const [written, numbers] of collisions) {
    assert.deepEqual(nationalSenderAmong(written, numbers), { kind: 'ambiguous' }, `${written} among ${numbers.join(', ')}`);
    // The region does not settle it either: it would guess one of the two all the same.
    assert.deepEqual(reportNumber(written, numbers, 'FR'), { kind: 'ambiguous' }, `${written}'s report among ${numbers.join(', ')}`);
  }
  // One of the pair alone is that one, whichever country it is of.
  assert.deepEqual(nationalSenderAmong('0612345678', ['+31612345678', '+447700900123']), { kind: 'one', number: '+31612345678' });
  assert.deepEqual(nationalSenderAmong('0612345678', ['+33612345678']), { kind: 'one', number: '+33612345678' });
  assert.deepEqual(nationalSenderAmong('0612345678', ['+447700900123']), { kind: 'none' });
  assert.deepEqual(nationalSenderAmong('+33612345678', ['+33612345678']), { kind: 'none' }, 'not national');
});
