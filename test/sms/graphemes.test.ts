/**
 * The text stage finds grapheme clusters without Intl.Segmenter wherever a boundary is certain; this
 * holds it to the segmenter itself on random texts drawn from everything that clusters (marks, ZWJ
 * sequences, flags, modifiers, keycaps, tags, Hangul jamo, Indic conjuncts, prepend signs, Thai and Lao
 * AM, halfwidth sound marks, CR LF, lone surrogates) mixed with what does not.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { analyseText, graphemesOf, splitIntoParts } from '../../src/sms/encoding.ts';

const POOL = [
  ...'abc XYZ 019.,;!?-\n\r',
  ...'éüßøÅ@£€[]{}^~|\\',
  'e\u0301',
  '\u0301',
  '\u0308',
  '\u20e3',
  '\ufe0f',
  '\u200d',
  '\u200c',
  '\u00ad',
  ...'Привет',
  ...'日本語',
  ...'한국',
  '\u1100',
  '\u1161',
  '\u11a8',
  '\ua960',
  '\ud7b0',
  '\u0e01',
  '\u0e33',
  '\u0e31',
  '\u0e81',
  '\u0eb3',
  '\u0915',
  '\u094d',
  '\u0937',
  '\u093f',
  '\u0600',
  '\u06dd',
  '\u0661',
  '\u0d4e',
  '\u0d15',
  '\uff76',
  '\uff9e',
  '\uff9f',
  '🔥',
  '❤',
  '👍',
  '🏽',
  '🇬',
  '🇧',
  '👨',
  '👩',
  '#',
  '1',
  '🏴',
  '\u{e0067}',
  '\u{e0062}',
  '\u{e007f}',
  '\ud83d',
  '\udd25',
];

/** A small deterministic generator (mulberry32), so a failure names a case that can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const segmenter = new Intl.Segmenter('und', { granularity: 'grapheme' });

test('grapheme clusters are exactly what Intl.Segmenter finds, on 5,000 random texts', () => {
  const next = random(20261202);
  for (let round = 0; round < 5000; round++) {
    const length = 1 + Math.floor(next() * 40);
    const text = Array.from({ length }, () => POOL[Math.floor(next() * POOL.length)] ?? '').join('');
    const expected = [...segmenter.segment(text)].map(({ segment }) => segment);
    assert.deepEqual([...graphemesOf(text)], expected, `round ${round}: ${JSON.stringify(text)}`);
  }
});

test('packing never splits a cluster and fills parts greedily, with and without clustering characters', () => {
  const gsm = `${'x'.repeat(152)}€${'y'.repeat(10)}`;
  assert.deepEqual(
    splitIntoParts(analyseText(gsm)).map((part) => part.length),
    [152, 11],
    'the extension pair moves to the next part whole',
  );
  const cyrillic = 'ж'.repeat(140);
  assert.deepEqual(
    splitIntoParts(analyseText(cyrillic)).map((part) => part.length),
    [67, 67, 6],
  );
  const flags = `${'a'.repeat(66)}🇬🇧b`;
  assert.deepEqual(splitIntoParts(analyseText(flags)), ['a'.repeat(66), '🇬🇧b'], 'a flag is never cut in half');
});

test('a long run of clustering characters is segmented in slices without cutting a cluster', () => {
  const toned = '👍🏽'.repeat(3000);
  const clusters = [...graphemesOf(`a${toned}b`)];
  assert.equal(clusters.length, 3002);
  assert.ok(clusters.slice(1, -1).every((cluster) => cluster === '👍🏽'));
  const flags = '🇬🇧🇳🇴'.repeat(700);
  assert.deepEqual(
    [...graphemesOf(flags)],
    [...segmenter.segment(flags)].map(({ segment }) => segment),
  );
});
