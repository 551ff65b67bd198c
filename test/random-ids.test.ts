import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validate, version } from 'uuid';
import { newMessageId } from '../src/random-ids.ts';

test('message ids are UUIDv7 in the order they were made, also within one millisecond, and unique across refills of the random pool', () => {
  const ids = Array.from({ length: 2_000 }, () => newMessageId());
  assert.equal(new Set(ids).size, ids.length);
  for (const id of ids) {
    assert.ok(validate(id), id);
    assert.equal(version(id), 7);
  }
  // 2,000 ids take far less than 2,000 ms: most share their millisecond with others.
  assert.deepEqual([...ids].sort(), ids);
  const started = Date.now();
  const first = newMessageId();
  assert.ok(Math.abs(Number.parseInt(first.replaceAll('-', '').slice(0, 12), 16) - started) <= 1, 'the time is the clock');
});
