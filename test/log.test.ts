import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { createLogger } from '../src/log.ts';

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
