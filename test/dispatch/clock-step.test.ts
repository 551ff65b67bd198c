import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { captureLog } from '../helpers/log-lines.ts';
import { freePort, gatewayYaml, removeDir, startSimulator, startTestRelay, tempDir } from '../helpers/relay.ts';
import { queuedId, sendMail } from '../helpers/smtp.ts';

/**
 * The finding (crash round 4, #1): the gateway down, the provider paused with a probe due in seconds, then the
 * wall clock steps back an hour (an NTP step on a host whose clock ran fast, a VM restored): the probe and every
 * retry lay an hour ahead, and the relay sent nothing, new mail included, for that hour without a word. Real
 * relay on a real SQLite file, real SMTP and a simulated gateway over HTTP; the dispatcher's injected wall clock
 * steps, the monotonic clock does not, and the test waits seconds, not the hour.
 */

const HOUR = 3_600_000;
const dirs: string[] = [];
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  dirs.forEach(removeDir);
});

describe('dispatch: a backward step of the wall clock', () => {
  test('while the gateway is paused holds nothing: the relay says so once, and what was queued and what comes after is sent once the gateway is back', async () => {
    const port = await freePort();
    let shift = 0;
    const log = captureLog('info');
    const relay = await startTestRelay(
      { ...gatewayYaml(`http://127.0.0.1:${port}`, { connectTimeout: '1s' }), delivery: { retryMinDelay: '5s', retryMaxDelay: '2m' } },
      {},
      tempDir(),
      // The whole relay's wall clock, as a step moves it: the intake's (a mail's received time) and the dispatcher's.
      { dispatchClock: () => Date.now() + shift, smtpClock: () => Date.now() + shift, wallClock: () => Date.now() + shift },
      log.logger,
    );
    dirs.push(relay.dir);
    cleanups.push(() => relay.stop());
    const smtp = relay.relay.smtpPort;
    const first = queuedId((await sendMail(smtp, { to: ['447700900301@sms.localhost'], body: 'before the step' })).data);
    // The gateway refuses the connection: the provider is paused, the SMS waits for the probe.
    const paused = Date.now();
    while (!log.lines.some((line) => line.includes('dispatch: sending paused')) && Date.now() - paused < 10_000) await new Promise((r) => setTimeout(r, 50));
    assert.ok((await relay.relay.store.smsOf(first))[0]?.status === 'queued');

    shift = -HOUR;
    const gateway = await startSimulator({ port });
    cleanups.push(() => gateway.close());
    const second = queuedId((await sendMail(smtp, { to: ['447700900302@sms.localhost'], body: 'after the step' })).data);
    // The probe was due 5 s from the pause and the retry within 10 s of it: the step's size sooner, each is due
    // when it was meant, not an hour later.
    await gateway.simulator.waitForMessages(2, 30_000);
    assert.deepEqual(gateway.simulator.received.map((sms) => sms.text).sort(), ['after the step', 'before the step']);
    assert.equal((await relay.relay.store.smsOf(second))[0]?.status, 'sent');
    const steps = log.lines.filter((line) => line.includes('relay: the clock stepped back'));
    assert.equal(steps.length, 1, 'said once');
    assert.match(steps[0] ?? '', /"level":"warn".*stepped back 3600\.\d s/);
  });
});
