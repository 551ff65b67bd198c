import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isoAtOffset, isoInZone, normaliseOffsetTime, readWallTime } from '../src/timestamps.ts';

const COMPACT = /^(\d{4})(\d{2})(\d{2}) (\d{2}):(\d{2}):(\d{2})$/;

describe('times in one form: ISO 8601 with offset', () => {
  test('a time with its own offset (W3CDTF) keeps that offset, to the second', () => {
    assert.equal(normaliseOffsetTime('2010-02-03T13:50:05-00:00'), '2010-02-03T13:50:05+00:00');
    assert.equal(normaliseOffsetTime('2010-02-03T13:50:05.123Z'), '2010-02-03T13:50:05+00:00');
    assert.equal(normaliseOffsetTime('2010-02-03T13:50+05:30'), '2010-02-03T13:50:00+05:30');
    assert.equal(normaliseOffsetTime('2010-13-03T13:50:05Z'), undefined, 'month 13');
    assert.equal(normaliseOffsetTime('2010-02-03T13:50:05'), undefined, 'no offset');
  });

  test("a wall time without a zone is read in the gateway's zone, summer time included", () => {
    assert.equal(readWallTime('20250314 09:26:53', COMPACT, 'Europe/Oslo'), '2025-03-14T09:26:53+01:00');
    assert.equal(readWallTime('20250714 09:26:53', COMPACT, 'Europe/Oslo'), '2025-07-14T09:26:53+02:00');
    assert.equal(readWallTime('20260714 23:59:59', COMPACT, 'Europe/London'), '2026-07-14T23:59:59+01:00');
    assert.equal(readWallTime('20250330 02:30:00', COMPACT, 'Europe/Oslo'), '2025-03-30T03:30:00+02:00', 'a time the spring change skips');
    for (const bad of ['20250230 10:00:00', '20251301 10:00:00', '20250101 24:00:00', '2025-01-01 10:00:00']) {
      assert.equal(readWallTime(bad, COMPACT, 'Europe/Oslo'), undefined, bad);
    }
  });

  test('an instant in a zone or at an offset', () => {
    assert.equal(isoInZone(Date.UTC(2026, 5, 23, 9, 20), 'America/New_York'), '2026-06-23T05:20:00-04:00');
    assert.equal(isoInZone(Date.UTC(2026, 10, 23, 9, 20), 'UTC'), '2026-11-23T09:20:00+00:00');
    assert.equal(isoAtOffset(Date.UTC(2026, 0, 1, 0, 0), -150), '2025-12-31T21:30:00-02:30');
  });
});
