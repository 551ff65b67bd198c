import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isoAtOffset, isoInZone, readGatewayTime } from '../src/timestamps.ts';

describe('times in one form: ISO 8601 with offset', () => {
  test('a time with its own zone (W3CDTF, RFC 3339, basic ISO 8601) keeps that offset, to the second', () => {
    const cases = [
      ['2010-02-03T13:50:05-00:00', '2010-02-03T13:50:05+00:00'],
      ['2010-02-03T13:50:05.123Z', '2010-02-03T13:50:05+00:00'],
      ['2010-02-03t13:50:05,5z', '2010-02-03T13:50:05+00:00'],
      ['2010-02-03T13:50+05:30', '2010-02-03T13:50:00+05:30'],
      ['2026-12-06T20:36:13+0100', '2026-12-06T20:36:13+01:00'],
      ['2026-12-06 20:36:13 +01', '2026-12-06T20:36:13+01:00'],
      ['2026-12-06 20:36:13 UTC', '2026-12-06T20:36:13+00:00'],
      ['20261206 20:36:13+0100', '2026-12-06T20:36:13+01:00'],
      ['20261206T203613-0330', '2026-12-06T20:36:13-03:30'],
    ] as const;
    for (const [written, read] of cases) assert.equal(readGatewayTime(written, 'Europe/Oslo'), read, written);
  });

  test("a wall time without a zone is read in the gateway's zone, summer time included, in any of the forms", () => {
    const cases = [
      ['20250314 09:26:53', 'Europe/Oslo', '2025-03-14T09:26:53+01:00'],
      ['20250714 09:26:53', 'Europe/Oslo', '2025-07-14T09:26:53+02:00'],
      ['20250714 09:26:53.250', 'Europe/Oslo', '2025-07-14T09:26:53+02:00'],
      ['2025-07-14T09:26:53', 'Europe/Oslo', '2025-07-14T09:26:53+02:00'],
      ['2026-07-14 23:59:59', 'Europe/London', '2026-07-14T23:59:59+01:00'],
      [' 2026-07-14 23:59:59.1234567 ', 'Europe/London', '2026-07-14T23:59:59+01:00'],
      ['2026-07-14 23:59', 'UTC', '2026-07-14T23:59:00+00:00'],
      ['20250330 02:30:00', 'Europe/Oslo', '2025-03-30T03:30:00+02:00'],
      // A leap second is the second before it (JavaScript's time has none), not refused as no time.
      ['2016-12-31 23:59:60', 'UTC', '2016-12-31T23:59:59+00:00'],
      // A year as written, not shifted by a century (Date.UTC reads 0 to 99 as 1900 to 1999).
      ['0099-06-01 12:00:00', 'UTC', '0099-06-01T12:00:00+00:00'],
    ] as const;
    for (const [written, zone, read] of cases) assert.equal(readGatewayTime(written, zone), read, written);
  });

  test("seconds or milliseconds since 1970 are that instant, shown in the gateway's zone", () => {
    assert.equal(readGatewayTime('1764700000', 'UTC'), '2025-12-02T18:26:40+00:00');
    assert.equal(readGatewayTime('1764700000.999', 'UTC'), '2025-12-02T18:26:40+00:00');
    assert.equal(readGatewayTime('1764700000123', 'Europe/Oslo'), '2025-12-02T19:26:40+01:00');
  });

  test('what is no valid date and time, or no time at all, is not read', () => {
    for (const bad of [
      '',
      '20250230 10:00:00',
      '20251301 10:00:00',
      '20250101 24:00:00',
      '2025-01-01 10:60:00',
      '2025-01-01 10:00:61',
      '2025-0101 10:00:00',
      '2025-01-01',
      '2025-01-01T10:00:00+19:00',
      '2025-01-01T10:00:00+01:60',
      '06/12/2026 20:36:13',
      'yesterday',
      '17647000',
      '176470000012345',
      '2025-01-01T10:00:00 CET',
    ]) {
      assert.equal(readGatewayTime(bad, 'Europe/Oslo'), undefined, bad);
    }
  });

  test('an instant in a zone or at an offset', () => {
    assert.equal(isoInZone(Date.UTC(2026, 5, 23, 9, 20), 'America/New_York'), '2026-06-23T05:20:00-04:00');
    assert.equal(isoInZone(Date.UTC(2026, 10, 23, 9, 20), 'UTC'), '2026-11-23T09:20:00+00:00');
    assert.equal(isoAtOffset(Date.UTC(2026, 0, 1, 0, 0), -150), '2025-12-31T21:30:00-02:30');
  });
});
