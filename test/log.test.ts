import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { createLogger, isoTimeOf } from '../src/log.ts';

test("a password is censored in a line wherever a field holds one: the field, a field one level down (an Error too), the config (frozen, as loaded), a child logger's top-level binding", (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'smsrelay-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'relay.log');
  const logger = createLogger('info', pino.destination({ dest: file, sync: true }));
  const account = { user: 'relay', password: 'hunter2-account' };
  const failure = Object.assign(new Error('login refused'), { password: 'hunter2-error' });
  logger.info({ password: 'hunter2-top', msgId: 'm1' }, 'top');
  logger.info({ account, count: 3 }, 'nested');
  logger.info({ config: { gateway: { password: 'hunter2-config', url: 'https://gw.example' } } }, 'config');
  logger.warn({ gateway: Object.freeze({ username: 'relay', password: 'hunter2-frozen' }) }, 'frozen');
  logger.error({ err: failure }, 'error');
  logger.child({ password: 'hunter2-child' }).info({ msgId: 'm2', account }, 'child');
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  assert.ok(!lines.join('\n').includes('hunter2'), lines.join('\n'));
  const [top, nested, config, frozen, error, child] = lines.map((line) => JSON.parse(line));
  assert.equal(top.password, '***');
  assert.equal(top.msgId, 'm1');
  assert.deepEqual(nested.account, { user: 'relay', password: '***' });
  assert.equal(nested.count, 3);
  assert.deepEqual(config.config.gateway, { password: '***', url: 'https://gw.example' });
  assert.deepEqual(frozen.gateway, { username: 'relay', password: '***' });
  // The Error censored is still one to pino's serializer: its type, message and stack as logged.
  assert.equal(error.err.type, 'Error');
  assert.equal(error.err.message, 'login refused');
  assert.match(error.err.stack, /^Error: login refused\n/);
  assert.equal(error.err.password, '***');
  assert.equal(child.password, '***');
  assert.deepEqual(child.account, { user: 'relay', password: '***' });
  assert.equal(child.msgId, 'm2');
  // What was logged is left as it was.
  assert.equal(account.password, 'hunter2-account');
  assert.equal(failure.password, 'hunter2-error');
});

test('characters a terminal acts on instead of showing (bidi controls, C1 controls, line separators) are named by code point in a line, in any field and the message; other text is left, joiners in emoji and words too', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'smsrelay-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'relay.log');
  const logger = createLogger('info', pino.destination({ dest: file, sync: true }));
  const unseen = '\u202e\u2066\u200f\u061c\u0085\u007f\u2028\u2029';
  logger.info({ from: `admin${unseen}moc.elpmaxe@evil.example`, nested: { gatewayText: 'a \u202e gnp.exe' } }, `dispatch: said \u202eit`);
  const text = 'Résumé 日本 😀 👨\u200d👩\u200d👧 می\u200cخواهم क्\u200dष ops@example.com';
  logger.info({ from: text }, 'plain');
  const [named, plain] = readFileSync(file, 'utf8').trim().split('\n');
  assert.doesNotMatch(named ?? '', /[\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/u);
  const line = JSON.parse(named ?? '');
  assert.equal(line.from, 'adminU+202EU+2066U+200FU+061CU+0085U+007FU+2028U+2029moc.elpmaxe@evil.example');
  assert.equal(line.nested.gatewayText, 'a U+202E gnp.exe');
  assert.equal(line.msg, 'dispatch: said U+202Eit');
  assert.equal(JSON.parse(plain ?? '').from, text);
});

test('each line\'s time is pino\'s isoTime text (`,"time":"<ISO 8601 UTC>"`) whatever the clock does: within a second, across seconds, minutes and years, stepped back, before 1970, past 9999', () => {
  let now = 0;
  const time = isoTimeOf(() => now);
  const instants = [Date.UTC(2026, 11, 31, 23, 59, 59, 998), 1_700_000_000_000, 0, -1, -1_001, Date.UTC(9999, 11, 31, 23, 59, 59, 999)];
  for (const start of instants) {
    // Each step from the one before: the same second, the next, a step back into the second before, back again.
    for (const step of [0, 1, 8, 1, 90, 900, 1, -1, -999, 1_000, 60_000, -61_000, 12_345]) {
      now = start + step;
      assert.equal(time(), `,"time":"${new Date(now).toISOString()}"`, `at ${now}`);
    }
  }
});

test("a line's time is the wall clock's as the line is written, in ISO 8601 UTC", (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'smsrelay-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'relay.log');
  const logger = createLogger('info', pino.destination({ dest: file, sync: true }));
  const before = Date.now();
  logger.info('one');
  const after = Date.now();
  // Date.now as it is when the line is written (a clock faked after the logger was made shows).
  const real = Date.now;
  t.after(() => {
    Date.now = real;
  });
  Date.now = () => Date.parse('2030-01-01T00:00:00.000Z');
  logger.info('two');
  Date.now = real;
  const [one, two] = readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { time: string });
  const time = one?.time ?? '';
  assert.match(time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  assert.ok(Date.parse(time) >= before && Date.parse(time) <= after, `${time} not within ${before}–${after}`);
  assert.equal(two?.time, '2030-01-01T00:00:00.000Z');
});
