/**
 * The bench's text stages (bench/stages.ts): each stage's µs per mail is the code at its steady speed,
 * not its first, unoptimised calls, and every figure of every shape is measured.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fastestMicrosPerItem, stageMicros, stageShapes } from '../bench/stages.ts';

/** Busy for `micros` of the clock: CPU time, as a stage's work is. */
function spin(micros: number): void {
  const until = performance.now() + micros / 1000;
  while (performance.now() < until);
}

describe('bench text stages', () => {
  test("a stage's figure is its steady cost: the slow first calls (as before V8 optimised them) are not in it", async () => {
    const started = performance.now();
    // The first 250 ms cost 2 ms a call, then 20 µs: timed from the start over 400 ms, as the bench once did, ~50 µs a call.
    const work = () => spin(performance.now() - started < 250 ? 2_000 : 20);
    const micros = await fastestMicrosPerItem(3, work);
    assert.ok(micros < 30, `${micros} µs per call`);
    assert.ok(micros > 10, `${micros} µs per call: a spin of 20 µs measured as less`);
  });

  test('every shape gets every stage timed; HTML→text only for the mails whose text is their HTML', async () => {
    const [shape, messages] = stageShapes('447700900123@sms.localhost')[0] ?? ['', []];
    assert.equal(shape, 'source-800');
    const stage = await stageMicros(messages);
    for (const key of ['parse', 'strip', 'extract', 'encoding'] as const) assert.ok(Number.isFinite(stage[key]) && stage[key] > 0, `${key}: ${stage[key]}`);
    assert.deepEqual([stage.htmlToText, stage.htmlMails, stage.mails], [0, 0, 1]);
  });
});
