import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { queue } from '../../src/admin.ts';
import { loadConfig } from '../../src/config/load.ts';
import { startRelay } from '../../src/relay.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { describeOnPostgres, freshDatabase } from '../helpers/postgres.ts';
import { gatewayYaml, relayEnvironment, removeDir, startSimulator, tempDir, waitFor } from '../helpers/relay.ts';
import { queuedId, sendMail } from '../helpers/smtp.ts';

/**
 * The operator's commands while a provider's gateway refuses the account: they say so (nothing goes
 * there but its probe), and `queue retry` probes at once rather than at the next probe interval. Real
 * relay, a simulated gateway over HTTP, real SMTP, on either store.
 */

/** Far longer than the test waits: an SMS sent within it went by the retry's probe, not the interval's. */
const PROBE_INTERVAL = '5m';

async function pausedThenRetried(env: Record<string, string>): Promise<void> {
  const gateway = await startSimulator();
  const dir = tempDir();
  const { config } = loadConfig(relayEnvironment(dir, { ...gatewayYaml(gateway.url), delivery: { pauseProbeInterval: PROBE_INTERVAL } }, env), dir);
  const log = captureLog('info');
  const relay = await startRelay(config, log.logger);
  try {
    gateway.simulator.setBehaviour({ mode: 'error', code: 'LOGIN_INVALID' });
    const id = queuedId((await sendMail(relay.smtpPort, { to: ['447700900244@sms.localhost'], body: 'paused' })).data);
    await waitFor('the pause', async () => (await relay.store.gatewayState(Date.now())).pauses.length === 1);
    // The line says what to fix and how to resume after.
    const paused = await waitFor('the pause logged', () =>
      log.lines.find((line) => line.includes('dispatch: sending paused, the gateway refuses the account')),
    );
    assert.match(paused, /credentials/);
    assert.match(paused, /`smsrelay queue retry all` probes it at once/);
    // The account is fixed; the probe is minutes away.
    gateway.simulator.setBehaviour({ mode: 'ok' });
    const store = relay.store;
    const pauseLine = /^dispatch: paused for intellisoftware since \d{4}-\d\d-\d\dT[\d:.]+Z \(ERR:LOGIN_INVALID: .+\)/m;

    const resumed = await queue(store, ['resume'], Date.now());
    assert.match(resumed, /^dispatch resumed$/m);
    assert.match(resumed, new RegExp(`${pauseLine.source}; next probe \\d{4}-`, 'm'));
    assert.match(resumed, /`smsrelay queue retry all` \(the console's Retry all now\) probes a paused provider now/);
    // Every SMS held: a retry makes none due, so it promises no probe (nothing to probe with), nor offers one.
    await queue(store, ['hold', 'all'], Date.now());
    const allHeld = await queue(store, ['retry', 'all'], Date.now());
    assert.match(allHeld, /^retry: 0 queued SMS changed; 1 held: release it first$/m);
    assert.match(allHeld, new RegExp(`${pauseLine.source}; next probe `, 'm'));
    assert.doesNotMatch(allHeld, /probing it now|probes a paused provider now/);
    const released = await queue(store, ['release', 'all'], Date.now());
    assert.match(released, pauseLine);

    const retried = await queue(store, ['retry', 'all'], Date.now());
    assert.match(retried, /^retry: 1 queued SMS changed$/m);
    assert.match(retried, new RegExp(`${pauseLine.source}; probing it now$`, 'm'));
    await waitFor('the SMS sent by the probe', async () => (await store.smsOf(id))[0]?.status === 'sent', 10_000);
    // The shared pause ends once the probe's outcome is committed on its lease (a late answer ends none): just after it.
    await waitFor('the probe ended the pause', async () => (await store.gatewayState(Date.now())).pauses.length === 0);
    assert.equal(await queue(store, ['resume'], Date.now()), 'dispatch resumed', 'no pause: nothing more to say');
  } finally {
    await relay.stop();
    await gateway.close();
    removeDir(dir);
  }
}

describe('queue commands during an account pause', () => {
  test('on SQLite: resume and release name the pause and its next probe; retry probes now', () => pausedThenRetried({}));
});

describeOnPostgres('queue commands during an account pause', () => {
  test('on PostgreSQL: resume and release name the pause and its next probe; retry probes now', async () =>
    pausedThenRetried({ SMSRELAY_DATABASE_URL: (await freshDatabase()) ?? '' }));
});
