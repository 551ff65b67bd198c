import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, test } from 'node:test';
import { freshDatabase, POSTGRES_SKIP } from '../helpers/postgres.ts';
import { gatewayYaml, removeDir, startSimulator, startTestRelay, type TestRelay, waitFor } from '../helpers/relay.ts';
import { queuedId, sendMail } from '../helpers/smtp.ts';

/** The network whose mails count against the shared daily limit (its own loopback address). */
const MONITORING = '127.0.0.9';
const DAILY_LIMIT = 5;
/** The dispatcher's view of the shared pause is at most this old (SHARED_STATE_REFRESH_MS, and a margin). */
const SNAPSHOT_AGE_MS = 1_200;

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('two relays on one PostgreSQL share their limits and the gateway state', async () => {
  if ((await freshDatabase()) === undefined) {
    test('two relays sharing state', { skip: POSTGRES_SKIP }, () => undefined);
    return;
  }

  const gateway = await startSimulator({ reportDelayMs: 0 });
  cleanups.push(() => gateway.close());
  const url = (await freshDatabase()) ?? '';
  /** Both dispatchers' clock: the test moves it past the probe interval instead of waiting a minute. */
  let offset = 0;
  const relays: TestRelay[] = [];
  for (const name of ['relay-a', 'relay-b']) {
    const relay = await startTestRelay(
      {
        ...gatewayYaml(gateway.url),
        smtp: { trustedNetworks: ['127.0.0.1/32'] },
        networks: [{ name: 'monitoring', cidr: [`${MONITORING}/32`], perDay: DAILY_LIMIT }],
        policy: { alertStormWindow: '10m' },
        delivery: { pauseProbeInterval: '1m', retryMinDelay: '100ms', retryMaxDelay: '400ms' },
      },
      { SMSRELAY_DATABASE_URL: url, SMSRELAY_RELAY_NAME: name },
      undefined,
      { dispatchClock: () => Date.now() + offset },
    );
    cleanups.push(() => removeDir(relay.dir));
    cleanups.push(() => relay.stop());
    relays.push(relay);
  }
  const [a, b] = relays as [TestRelay, TestRelay];

  test(`a daily limit of ${DAILY_LIMIT} is ${DAILY_LIMIT} across both relays: mails alternated, the next refused as on one relay`, async () => {
    const replies = [];
    for (let index = 0; index <= DAILY_LIMIT; index++) {
      const relay = index % 2 === 0 ? a : b;
      const sent = await sendMail(
        relay.relay.smtpPort,
        { to: [`4477009003${10 + index}@sms.localhost`], body: `check ${index}` },
        { localAddress: MONITORING },
      );
      replies.push(sent.data);
    }
    assert.deepEqual(
      replies.slice(0, DAILY_LIMIT).map((reply) => reply?.code),
      Array.from({ length: DAILY_LIMIT }, () => 250),
    );
    // docs/smtp-replies.md: RATE_LIMITED is 451 4.7.1, with the limit that was reached.
    assert.match(replies[DAILY_LIMIT]?.text ?? '', /^4\.7\.1 Sending limit reached: monitoring may send 5 mails a day; try again later/);
    assert.equal(replies[DAILY_LIMIT]?.code, 451);
    const other = await sendMail(a.relay.smtpPort, { to: ['447700900399@sms.localhost'], body: 'one more' }, { localAddress: MONITORING });
    assert.equal(other.data?.code, 451, 'the other relay refuses it too');
  });

  test('the alert-storm window and resubmission dedupe hold across relays (answered from the shared store)', async () => {
    const first = await sendMail(a.relay.smtpPort, { to: ['447700900380@sms.localhost'], body: 'CPU high on web1' });
    assert.equal(first.data?.code, 250);
    const repeat = await sendMail(b.relay.smtpPort, { to: ['447700900380@sms.localhost'], body: 'CPU high on web1' });
    assert.match(repeat.data?.text ?? '', /1 of its numbers got this text within the alert-storm window: not sent again/);

    const headers = { 'Message-ID': '<resubmitted-once@example.com>' };
    const original = queuedId((await sendMail(b.relay.smtpPort, { to: ['447700900381@sms.localhost'], body: 'Backup failed', headers })).data);
    const again = await sendMail(a.relay.smtpPort, { to: ['447700900381@sms.localhost'], body: 'Backup failed', headers });
    assert.match(again.data?.text ?? '', new RegExp(`the same mail as ${original}: sent once`));
    await waitFor('the SMS sent', () => gateway.simulator.received.some((sms) => sms.to === '447700900381'));
    await sleep(300);
    assert.equal(gateway.simulator.received.filter((sms) => sms.to === '447700900381').length, 1);
    assert.equal(gateway.simulator.received.filter((sms) => sms.to === '447700900380').length, 1);
  });

  test('an account pause started by one relay stops the other too, until one probe succeeds; then both send', async () => {
    gateway.simulator.setBehaviour({ mode: 'error', code: 'LOGIN_INVALID' });
    const first = queuedId((await sendMail(a.relay.smtpPort, { to: ['447700900390@sms.localhost'], body: 'paused on a' })).data);
    const before = gateway.simulator.requests;
    await waitFor('relay A refused by the gateway', () => gateway.simulator.requests > before);
    // Relay B's view of the pause is refreshed by its next claim.
    await sleep(SNAPSHOT_AGE_MS);
    const atPause = gateway.simulator.requests;
    const second = queuedId((await sendMail(b.relay.smtpPort, { to: ['447700900391@sms.localhost'], body: 'paused on b' })).data);
    await sleep(500);
    assert.equal(gateway.simulator.requests, atPause, 'relay B sends nothing while the account is paused');
    assert.equal((await b.relay.store.smsOf(second))[0]?.status, 'queued');

    // The account works again; a minute later (by the dispatchers' clock) one relay's probe finds out.
    gateway.simulator.setBehaviour({ mode: 'ok' });
    offset += 61_000;
    const third = queuedId((await sendMail(b.relay.smtpPort, { to: ['447700900392@sms.localhost'], body: 'after the pause' })).data);
    await waitFor('every SMS sent', async () => {
      const states = await Promise.all([first, second, third].map((id) => a.relay.store.smsOf(id)));
      return states.every((sms) => sms[0]?.status === 'sent');
    });
    for (const to of ['447700900390', '447700900391', '447700900392']) {
      assert.equal(gateway.simulator.received.filter((sms) => sms.to === to).length, 1, `${to} sent once`);
    }
  });
});
