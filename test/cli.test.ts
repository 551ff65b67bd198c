import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { request } from 'undici';
import { killSpawnedRelays, relayEnvironment, removeDir, spawnRelay, tempDir, waitFor } from './helpers/relay.ts';
import { queuedId, sendMail } from './helpers/smtp.ts';

const BIN = fileURLToPath(new URL('../bin/smsrelay.js', import.meta.url));
const dirs: string[] = [];
after(() => {
  killSpawnedRelays();
  dirs.forEach(removeDir);
});

function dir(): string {
  const created = tempDir('smsrelay-cli-');
  dirs.push(created);
  return created;
}

describe('smsrelay command', () => {
  test('a wrong configuration stops start-up with exit 78 and one clear line per problem', () => {
    const cwd = dir();
    const result = spawnSync(process.execPath, [BIN, 'start'], {
      cwd,
      env: { PATH: process.env.PATH ?? '', SMSRELAY_SMTP_PORT: 'abc', SMSRELAY_SMS_DOMAINS: 'not a domain', SMSRELAY_DATA_DIR: `${cwd}/data` },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(result.status, 78);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 2, result.stderr);
    assert.match(lines[0] ?? '', /^smsrelay: config: SMSRELAY_SMTP_PORT="abc": /);
    assert.match(lines[1] ?? '', /^smsrelay: config: SMSRELAY_SMS_DOMAINS="not a domain": expected a domain name/);
  });

  test('on the embedded default the built-in simulator takes the SMS and logs it; unknown variables are warned', async () => {
    const cwd = dir();
    const relay = await spawnRelay(cwd, { ...relayEnvironment(cwd, {}), SMSRELAY_BOGUS: '1' });
    try {
      const warning = relay.logs.find((line) => line.level === 'warn' && String(line.msg).includes('SMSRELAY_BOGUS'));
      assert.equal(warning?.msg, 'config: SMSRELAY_BOGUS: unknown or not yet used setting, ignored');

      const result = await sendMail(relay.smtpPort, { to: ['447700900123@sms.localhost'], body: 'hi' });
      const id = queuedId(result.data);
      const logged = await waitFor('the simulator log line', () => relay.logs.find((line) => line.msg === 'simulator: SMS received'));
      assert.equal(logged.text, 'hi');
      assert.equal(logged.to, '+4477******23', 'numbers are masked in info logs');
      const accepted = relay.logs.find((line) => line.msg === 'smtp: mail accepted');
      assert.equal(accepted?.msgId, id, 'the message id follows the mail through the log');
      await waitFor('the dispatch line', () => relay.logs.find((line) => line.msg === 'dispatch: gateway answered' && line.msgId === id));

      const health = await request(`http://127.0.0.1:${relay.httpPort}/healthz`);
      assert.equal(health.statusCode, 200);
      assert.deepEqual(await health.body.json(), { status: 'ok', checks: { smtp: true, store: true } });
    } finally {
      assert.equal(await relay.stop(), 0, 'SIGTERM stops the relay cleanly');
    }
  });

  test('help and version', () => {
    const help = spawnSync(process.execPath, [BIN, 'help'], { encoding: 'utf8' });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /Usage: smsrelay/);
    const version = spawnSync(process.execPath, [BIN, '--version'], { encoding: 'utf8' });
    assert.match(version.stdout.trim(), /^\d+\.\d+\.\d+$/);
    const unknown = spawnSync(process.execPath, [BIN, 'frobnicate'], { encoding: 'utf8' });
    assert.equal(unknown.status, 64);
  });
});
