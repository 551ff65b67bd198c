import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, test } from 'node:test';
import { randomBytes, scryptSync } from 'node:crypto';
import { freshDatabase, describeOnPostgres } from '../helpers/postgres.ts';
import { freePort, gatewayYaml, removeDir, type Simulator, startSimulator, startTestRelay, type TestRelay, waitFor } from '../helpers/relay.ts';
import { queuedId, SmtpDialog, sendMail } from '../helpers/smtp.ts';
import { SmtpSink } from '../helpers/smtp-sink.ts';

/** The network whose mails count against the shared daily limit (its own loopback address). */
const MONITORING = '127.0.0.9';
const DAILY_LIMIT = 5;
/** The dispatcher's view of the shared pause is at most this old (SHARED_STATE_REFRESH_MS, and a margin). */
const SNAPSHOT_AGE_MS = 1_200;
const PASSWORD = 'correct horse battery staple';

/** A hash in `smsrelay hash-password`'s format at a low scrypt cost: ten wrong guesses cost milliseconds, not seconds. */
function cheapHash(password: string): string {
  const cost = { N: 1024, r: 8, p: 1 };
  const salt = randomBytes(16);
  return ['scrypt', cost.N, cost.r, cost.p, salt.toString('base64'), scryptSync(password, salt, 32, cost).toString('base64')].join('$');
}

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describeOnPostgres('two relays on one PostgreSQL share their limits and the gateway state', async () => {
  // The primary host refuses connections at first (the breaker opens on it); the backup is the gateway.
  const primaryPort = await freePort();
  const gateway = await startSimulator({ reportDelayMs: 0 });
  cleanups.push(() => gateway.close());
  const passwordHash = cheapHash(PASSWORD);
  // Relays sharing a database send their own mail through a smarthost (a Maildir each is refused).
  const smarthost = await new SmtpSink().start();
  cleanups.push(() => smarthost.stop());
  const url = (await freshDatabase()) ?? '';
  /** Both dispatchers' clock: the test moves it past the probe interval instead of waiting a minute. */
  let offset = 0;
  const relays: TestRelay[] = [];
  for (const name of ['relay-a', 'relay-b']) {
    const relay = await startTestRelay(
      {
        ...gatewayYaml(`http://127.0.0.1:${primaryPort}`, { backupUrl: gateway.url, connectTimeout: '1s' }),
        smtp: { trustedNetworks: ['127.0.0.1/32'] },
        accounts: [{ username: 'ops', passwordHash }],
        networks: [{ name: 'monitoring', cidr: [`${MONITORING}/32`], perDay: DAILY_LIMIT }],
        policy: { alertStormWindow: '10m' },
        delivery: { pauseProbeInterval: '1m', retryMinDelay: '100ms', retryMaxDelay: '400ms' },
      },
      { SMSRELAY_DATABASE_URL: url, SMSRELAY_RELAY_NAME: name, SMSRELAY_MAIL_URL: smarthost.url },
      undefined,
      // Failed sign-ins are answered without their delay (recorded by the relay, not waited here).
      { dispatchClock: () => Date.now() + offset, loginPause: async () => undefined },
    );
    cleanups.push(() => removeDir(relay.dir));
    cleanups.push(() => relay.stop());
    relays.push(relay);
  }
  const [a, b] = relays as [TestRelay, TestRelay];
  /** How often the gateway got an SMS for `to`, at either host. */
  let primary: Simulator | undefined;
  const sentTo = (to: string) => [gateway, primary].flatMap((host) => host?.simulator.received ?? []).filter((sms) => sms.to === to).length;

  test('a gateway host one relay found failing is skipped by the other too (the failover breaker is shared)', async () => {
    queuedId((await sendMail(a.relay.smtpPort, { to: ['447700900300@sms.localhost'], body: 'via the backup' })).data);
    await waitFor('relay A failed over to the backup', () => gateway.simulator.received.some((sms) => sms.to === '447700900300'));
    // The primary comes back: whoever tries it now is seen; within the recovery time nobody should.
    const restarted = await startSimulator({ port: primaryPort, reportDelayMs: 0 });
    primary = restarted;
    cleanups.push(() => restarted.close());
    await sleep(SNAPSHOT_AGE_MS);
    queuedId((await sendMail(b.relay.smtpPort, { to: ['447700900301@sms.localhost'], body: 'also via the backup' })).data);
    await waitFor('relay B sent it', () => sentTo('447700900301') === 1);
    assert.equal(restarted.simulator.requests, 0, 'relay B skipped the host relay A found failing');
  });

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
    const first = queuedId((await sendMail(a.relay.smtpPort, { to: ['447700900380@sms.localhost'], body: 'CPU high on web1' })).data);
    // Folded only onto an SMS the gateway took (alert-storm.ts).
    await waitFor('the first SMS taken', async () => (await b.relay.store.smsOf(first))[0]?.status === 'sent');
    const repeat = await sendMail(b.relay.smtpPort, { to: ['447700900380@sms.localhost'], body: 'CPU high on web1' });
    assert.match(repeat.data?.text ?? '', new RegExp(`1 of its numbers got this same alert from you as ${first}, taken by the SMS network`));

    const headers = { 'Message-ID': '<resubmitted-once@example.com>' };
    const original = queuedId((await sendMail(b.relay.smtpPort, { to: ['447700900381@sms.localhost'], body: 'Backup failed', headers })).data);
    const again = await sendMail(a.relay.smtpPort, { to: ['447700900381@sms.localhost'], body: 'Backup failed', headers });
    assert.match(again.data?.text ?? '', new RegExp(`the same mail as ${original}: sent once`));
    await waitFor('the SMS sent', () => sentTo('447700900381') > 0);
    await sleep(300);
    assert.equal(sentTo('447700900381'), 1);
    assert.equal(sentTo('447700900380'), 1);
  });

  test('an account pause started by one relay stops the other too, until one probe succeeds; then both send', async () => {
    gateway.simulator.setBehaviour({ mode: 'error', code: 'LOGIN_INVALID' });
    // Counted before the mail: relay A may send it (and be refused) before its 250 has reached the client.
    const before = gateway.simulator.requests;
    const first = queuedId((await sendMail(a.relay.smtpPort, { to: ['447700900390@sms.localhost'], body: 'paused on a' })).data);
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
      assert.equal(sentTo(to), 1, `${to} sent once`);
    }
  });

  test('failed logins from one address add up across the relays: the eleventh attempt is blocked on either', async () => {
    const auth = async (relay: TestRelay, password: string) => {
      const dialog = await SmtpDialog.open(relay.relay.smtpPort);
      try {
        await dialog.command('EHLO client.example.com');
        return await dialog.command(`AUTH PLAIN ${Buffer.from(`\0ops\0${password}`).toString('base64')}`);
      } finally {
        await dialog.close();
      }
    };
    for (let attempt = 0; attempt < 10; attempt++) {
      const reply = await auth(attempt % 2 === 0 ? a : b, 'wrong password');
      assert.equal(reply.code, 535, `attempt ${attempt + 1}: ${reply.code} ${reply.text}`);
    }
    // docs/smtp-replies.md: LOGIN_BLOCKED is 454 4.7.0, even with the right password now.
    for (const relay of [a, b]) {
      const blocked = await auth(relay, PASSWORD);
      assert.equal(blocked.code, 454);
      assert.match(blocked.text, /^4\.7\.0 Too many failed logins from your address/);
    }
  });
});
