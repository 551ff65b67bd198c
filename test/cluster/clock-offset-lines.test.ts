/**
 * When a relay's clock offset from the database's is written to the log: a heartbeat's reading is a lower bound that a
 * loaded round trip makes jitter, so an offset near the warning's bound must not flip between a warning and an
 * "agrees again" line at every heartbeat (a reviewer's case: 1.02 s read as 1.01 and 0.96 s in turn).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLOCK_OFFSET_AGREES_MS, CLOCK_OFFSET_REPEAT_MS, CLOCK_OFFSET_WARN_MS, clockOffsetLine } from '../../src/cluster/membership.ts';

/** The lines of a run of heartbeats `readings` (ms), one every `everyMs`. */
function linesOf(readings: readonly number[], everyMs: number): Array<'warn' | 'agrees'> {
  const lines: Array<'warn' | 'agrees'> = [];
  let warnedAt: number | undefined;
  readings.forEach((reading, index) => {
    const at = index * everyMs;
    const line = clockOffsetLine(reading, warnedAt, at);
    if (line === 'warn') warnedAt = at;
    if (line === 'agrees') warnedAt = undefined;
    if (line) lines.push(line);
  });
  return lines;
}

test('an offset hovering at the bound is warned of once, not once a heartbeat', () => {
  const readings = Array.from({ length: 61 }, (_, index) => -(1020 - (index % 2 === 0 ? 10 : 60)));
  assert.deepEqual(linesOf(readings, 5_000), ['warn']);
});

test('a lasting offset is warned of again every CLOCK_OFFSET_REPEAT_MS, and its end said once, below CLOCK_OFFSET_AGREES_MS', () => {
  const beat = 10_000;
  const lasting = Array.from({ length: CLOCK_OFFSET_REPEAT_MS / beat + 1 }, () => 300_000);
  const ending = [CLOCK_OFFSET_WARN_MS - 1, CLOCK_OFFSET_AGREES_MS + 1, CLOCK_OFFSET_AGREES_MS, 0, 2 * CLOCK_OFFSET_WARN_MS];
  assert.deepEqual(linesOf([...lasting, ...ending], beat), ['warn', 'warn', 'agrees', 'warn']);
});

test('an offset within the bound from the start says nothing', () => {
  assert.deepEqual(linesOf([0, 900, -CLOCK_OFFSET_WARN_MS, 20], 5_000), []);
});
