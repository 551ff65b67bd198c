import assert from 'node:assert/strict';
import { test } from 'node:test';
import { linearly, workOf } from './helpers/work-count.ts';

/** A reading that starts again from each position of its input, through `read` (one built-in call per position). */
const quadratic = (read: (text: string, at: number) => unknown) => (size: number) =>
  workOf(() => {
    const text = 'a'.repeat(size);
    for (let at = 0; at < text.length; at++) read(text, at);
  }).work;

test('the work count sees a reading repeated from each position through the string searches and copies a scan may use', () => {
  const reads: Array<[string, (text: string, at: number) => unknown]> = [
    ['indexOf', (text, at) => text.indexOf('b', at)],
    ['includes', (text, at) => text.includes('b', at)],
    ['startsWith', (text) => text.startsWith(text)],
    ['endsWith', (text) => text.endsWith(text)],
    ['substring', (text, at) => text.substring(at)],
    ['split', (text, at) => text.split('b', at)],
  ];
  for (const [name, read] of reads) {
    assert.throws(() => linearly(quadratic(read), 500), /more than linear/, `a reading again from each position through ${name}`);
  }
  // A read of one character per position is linear, through `at` too.
  linearly(
    quadratic((text, at) => text.at(at)),
    500,
  );
});
