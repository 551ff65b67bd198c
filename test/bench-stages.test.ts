/**
 * The bench's text stages (bench/stages.ts): each stage's µs per mail is the code at its steady speed,
 * not its first, unoptimised calls, and every figure of every shape is measured.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fastestMicrosPerItem, stageMicros, stageShapes } from '../bench/stages.ts';

describe('bench text stages', () => {
  test("a stage's figure is its steady cost: the slow first calls (as before V8 optimised them) are not in it", async () => {
    // A clock of the test's own: the first 250 ms of it cost 2 ms a call, then 20 µs. Timed from the start over 400 ms,
    // as the bench once did, that is ~50 µs a call; the steady cost is 20.
    let nowMs = 0;
    let cpuMicros = 0;
    const work = () => {
      const micros = nowMs < 250 ? 2_000 : 20;
      nowMs += micros / 1000;
      cpuMicros += micros;
    };
    const micros = await fastestMicrosPerItem(3, work, { nowMs: () => nowMs, cpuMicros: () => cpuMicros });
    assert.equal(Math.round(micros), 20);
  });

  test('every shape gets every stage timed; HTML→text only for the mails whose text is their HTML', async () => {
    const [shape, messages] = stageShapes('447700900123@sms.localhost')[0] ?? ['', []];
    assert.equal(shape, 'source-800');
    const stage = await stageMicros(messages);
    for (const key of ['parse', 'strip', 'encoding'] as const) assert.ok(Number.isFinite(stage[key]) && stage[key] > 0, `${key}: ${stage[key]}`);
    // Extraction is a difference of two timings (parse and extract, less parse): never negative, 0 at worst.
    assert.ok(Number.isFinite(stage.extract) && stage.extract >= 0, `extract: ${stage.extract}`);
    assert.deepEqual([stage.htmlToText, stage.htmlMails, stage.mails], [0, 0, 1]);
  });
});
