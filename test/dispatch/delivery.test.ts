import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { history, status } from '../../src/admin.ts';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { loadConfig } from '../../src/config/load.ts';
import { GATEWAY_TEXT_MAX_CHARS } from '../../src/dispatch/outcomes.ts';
import { startRelay } from '../../src/relay.ts';
import { captureLog } from '../helpers/log-lines.ts';
import {
  freePort,
  gatewayYaml,
  maildirMessages,
  relayEnvironment,
  removeDir,
  startSimulator,
  startTestRelay,
  type TestRelay,
  tempDir,
  waitFor,
} from '../helpers/relay.ts';
import { message, queuedId, sendMail, SmtpDialog } from '../helpers/smtp.ts';
import { mail } from '../helpers/store.ts';
import { sleep } from '../helpers/wait.ts';
import { ReplayServer } from '../helpers/replay-server.ts';
import { startSilentTcpServer } from '../helpers/tcp.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

/**
 * Issue #3: what happens after the 250 when the gateway misbehaves. Real relay, real simulated
 * gateways over HTTP, real SMTP; timings are kept short through the configuration.
 */

const dirs: string[] = [];
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  dirs.forEach(removeDir);
});

async function simulator(options: Parameters<typeof startSimulator>[0] = {}) {
  const started = await startSimulator(options);
  cleanups.push(() => started.close());
  return started;
}

async function relayWith(yaml: object, options: Parameters<typeof startTestRelay>[3] = {}): Promise<TestRelay> {
  const relay = await startTestRelay(yaml, {}, undefined, options);
  dirs.push(relay.dir);
  cleanups.push(() => relay.stop());
  return relay;
}

const fast = { retryMinDelay: '100ms', retryMaxDelay: '400ms' };

/** A relay (its log captured at `level`) on a replayed gateway answering its `count`th request as `respond` says. */
async function relayOnReplay(level: 'debug' | 'info', respond: (count: number) => { status: number; body: string }) {
  const gateway = await new ReplayServer({ contentType: 'text/plain' }).start();
  cleanups.push(() => gateway.close());
  gateway.respond = () => respond(gateway.requests.length);
  const dir = tempDir();
  dirs.push(dir);
  const { config } = loadConfig(relayEnvironment(dir, { ...gatewayYaml(gateway.url), delivery: fast }), dir);
  const { logger, lines } = captureLog(level);
  const relay = await startRelay(config, logger);
  cleanups.push(() => relay.stop());
  return { gateway, relay, lines };
}

/** The dispatcher's line for each answered request, in the captured log. */
function answeredLines(lines: readonly string[]) {
  return lines
    .flatMap((chunk) => chunk.split('\n').filter(Boolean))
    .map((line) => JSON.parse(line) as { msg?: string; result?: string; summary?: string; numbers?: number })
    .filter((line) => line.msg === 'dispatch: gateway answered');
}

function reportsFor(relay: TestRelay, id: string): string[] {
  return maildirMessages(relay.maildir).filter((mail) => mail.includes(`X-SMSRelay-Message-Id: ${id}`));
}

/** A store of its own whose twilio account was paused (probe in 5 s) at a fixed time. */
async function pausedTwilio() {
  const dir = tempDir();
  dirs.push(dir);
  const store = SqliteStore.open({ file: join(dir, 'store.db'), busyTimeoutMs: 100 });
  cleanups.push(() => store.close());
  const pausedAt = Date.UTC(2026, 11, 5, 9, 10, 0);
  await store.pauseAccount('twilio', 'HTTP_401: the SMS gateway refused the relay', 5_000, pausedAt);
  return { store, pausedAt };
}

describe('delivery semantics', () => {
  test('primary answers ERR:GATEWAY_ERROR → the backup gets the SMS at once', async () => {
    const primary = await simulator();
    const backup = await simulator();
    primary.simulator.setBehaviour({ mode: 'error', code: 'GATEWAY_ERROR' });
    const relay = await relayWith({ ...gatewayYaml(primary.url, { backupUrl: backup.url }), delivery: { retryMinDelay: '30s' } });
    const started = Date.now();
    queuedId((await sendMail(relay.relay.smtpPort, { to: ['447700900201@sms.localhost'], body: 'failover' })).data);
    // Half the 30 s retry delay tells "within seconds" from "after the delay" on a loaded machine as well.
    await backup.simulator.waitForMessages(1, 15_000);
    assert.ok(Date.now() - started < 15_000, 'within seconds, not after a retry delay');
    assert.equal(primary.simulator.requests, 1);
    assert.equal(primary.simulator.received.length, 0);
  });

  test('primary refusing connections → backup; the primary is skipped for the recovery time, then preferred again', async () => {
    const primaryPort = await freePort();
    const backup = await simulator();
    let skipped = 0;
    const relay = await relayWith(
      {
        ...gatewayYaml(`http://127.0.0.1:${primaryPort}`, { backupUrl: backup.url, failoverRecovery: '3s', connectTimeout: '1s' }),
        delivery: { retryMinDelay: '30s' },
      },
      { dispatchClock: () => Date.now() + skipped },
    );
    const port = relay.relay.smtpPort;
    queuedId((await sendMail(port, { to: ['447700900211@sms.localhost'], body: 'one' })).data);
    await backup.simulator.waitForMessages(1, 5_000);
    const primary = await simulator({ port: primaryPort });
    queuedId((await sendMail(port, { to: ['447700900212@sms.localhost'], body: 'two' })).data);
    await backup.simulator.waitForMessages(2, 5_000);
    assert.equal(primary.simulator.requests, 0, 'while the breaker is open the primary is not tried');
    skipped += 3_100; // the recovery time passes for the dispatcher, without the test waiting it
    queuedId((await sendMail(port, { to: ['447700900213@sms.localhost'], body: 'three' })).data);
    await primary.simulator.waitForMessages(1, 5_000);
    assert.equal(primary.simulator.received[0]?.text, 'three');
    assert.equal(backup.simulator.received.length, 2);
  });

  test('DELAY:2 is honoured: the same host is asked again after 2 s, not the backup, not the backoff', async () => {
    const primary = await simulator();
    const backup = await simulator();
    primary.simulator.setBehaviour({ mode: 'delay', seconds: 2, times: 1 });
    // The first backoff step (0.5 to 1 s) is shorter than the wait asked for, which is not below retryMinDelay.
    const relay = await relayWith({ ...gatewayYaml(primary.url, { backupUrl: backup.url }), delivery: { retryMinDelay: '500ms', retryMaxDelay: '60s' } });
    const started = Date.now();
    queuedId((await sendMail(relay.relay.smtpPort, { to: ['447700900221@sms.localhost'], body: 'busy' })).data);
    await primary.simulator.waitForMessages(1, 6_000);
    const waited = Date.now() - started;
    assert.ok(waited >= 1_900 && waited < 5_000, `waited ${waited} ms`);
    assert.equal(primary.simulator.requests, 2);
    assert.equal(backup.simulator.requests, 0);
  });

  test('a gateway answering DELAY:0 again and again is asked at most once per retryMinDelay, not once per round trip', async () => {
    const gateway = await new ReplayServer({ contentType: 'text/plain', answer: { status: 200, body: 'DELAY:0' } }).start();
    cleanups.push(() => gateway.close());
    const relay = await relayWith({ ...gatewayYaml(gateway.url), delivery: { retryMinDelay: '500ms', retryMaxDelay: '2s' } });
    queuedId((await sendMail(relay.relay.smtpPort, { to: ['447700900222@sms.localhost'], body: 'busy at once' })).data);
    await waitFor('the first request', () => gateway.requests.length >= 1);
    const first = gateway.requests.length;
    await sleep(2_000);
    // 2 s at one request per 500 ms at most: 4, and one more for a timer's edge; unclamped it was one per round trip, hundreds.
    const asked = gateway.requests.length - first;
    assert.ok(asked <= 5, `${asked} requests in 2 s`);
    assert.ok(asked >= 2, `${asked} requests in 2 s: still asked again, at retryMinDelay`);
  });

  test('a response timeout is no reason to fail over: retried later on the same host, counted as a possible duplicate', async () => {
    const primary = await simulator();
    const backup = await simulator();
    primary.simulator.setBehaviour({ mode: 'hang', times: 1 });
    const relay = await relayWith({
      ...gatewayYaml(primary.url, { backupUrl: backup.url, responseTimeout: '1s' }),
      delivery: { retryMinDelay: '200ms', retryMaxDelay: '200ms' },
    });
    const id = queuedId((await sendMail(relay.relay.smtpPort, { to: ['447700900231@sms.localhost'], body: 'slow' })).data);
    const [state] = await waitFor('the SMS sent', async () => {
      const sms = await relay.relay.store.smsOf(id);
      return sms[0]?.status === 'sent' && sms;
    });
    assert.equal(backup.simulator.requests, 0, 'never failed over');
    assert.equal(primary.simulator.requests, 2);
    assert.equal(primary.simulator.received.length, 2, 'the gateway did get it twice: the duplicate the legacy API cannot prevent');
    assert.equal(state?.possibleDuplicates, 1);
    assert.equal(state?.attempts, 2);
    assert.match(await history(relay.relay.store, id, Date.now()), /: sent, 2 attempts \(1 possible duplicate\), gateway id /, 'smsrelay log shows the count');
  });

  test('an SMS given up at the maximum age on a request with no answer counts it a possible duplicate: the same mail sent again is folded, not texted twice', async () => {
    const gateway = await simulator();
    gateway.simulator.setBehaviour({ mode: 'hang', times: 10 });
    // The first request's answer is due after the SMS's maximum age: it is given up on that request, which may have sent it.
    const relay = await relayWith({ ...gatewayYaml(gateway.url, { responseTimeout: '1s' }), delivery: { ...fast, maxAge: '1s' } });
    const spec = { to: ['447700900237@sms.localhost'], body: 'in doubt', headers: { 'Message-ID': '<doubt@ups.example>', Date: new Date().toUTCString() } };
    const id = queuedId((await sendMail(relay.relay.smtpPort, spec)).data);
    const [state] = await waitFor('the SMS expired', async () => {
      const sms = await relay.relay.store.smsOf(id);
      return sms[0]?.status === 'expired' && sms;
    });
    assert.deepEqual([state?.attempts, state?.possibleDuplicates, gateway.simulator.received.length], [1, 1, 1], 'the gateway took it');
    assert.match((await sendMail(relay.relay.smtpPort, spec)).data?.text ?? '', new RegExp(`the same mail as ${id}: sent once`));
  });

  for (const status of [502, 504]) {
    test(`a proxy's ${status} (its gateway down behind it) fails over to the backup, counted as a possible duplicate, and says the host is not answering`, async () => {
      // Every answer the proxy's: the gateway behind it is down, the case the backup host is there for.
      const proxyPage = { status, body: `<html><head><title>${status}</title></head><body>nginx</body></html>` };
      const primary = await new ReplayServer({ contentType: 'text/html', answer: proxyPage }).start();
      const backup = await new ReplayServer({ contentType: 'text/plain', answer: { status: 200, body: 'ID:B-1' } }).start();
      cleanups.push(
        () => primary.close(),
        () => backup.close(),
      );
      const { logger, lines } = captureLog('info');
      const relay = await startTestRelay({ ...gatewayYaml(primary.url, { backupUrl: backup.url }), delivery: fast }, {}, undefined, {}, logger);
      dirs.push(relay.dir);
      cleanups.push(() => relay.stop());
      const id = queuedId((await sendMail(relay.relay.smtpPort, { to: ['447700900234@sms.localhost'], body: `proxy ${status}` })).data);
      const [state] = await waitFor('the SMS sent', async () => {
        const sms = await relay.relay.store.smsOf(id);
        return sms[0]?.status === 'sent' && sms;
      });
      assert.deepEqual([primary.requests.length, backup.requests.length], [1, 1], 'the backup at once, in the same round');
      assert.deepEqual([state?.attempts, state?.possibleDuplicates, state?.providerId], [2, 1, 'B-1']);
      const log = await history(relay.relay.store, id, Date.now());
      assert.match(
        log,
        new RegExp(`failed over: HTTP_${status}: a proxy in front of the SMS gateway got no valid answer from it in time; the message may have been sent`),
      );
      assert.match(log, /: sent, 2 attempts \(1 possible duplicate\), gateway id B-1/);
      assert.ok(
        lines.some((line) => line.includes(`the SMS gateway at ${primary.url} is not answering`)),
        'the operator is told the host behind the proxy does not answer',
      );
      // The primary is marked failed as after a 503: the next SMS goes to the backup without asking it.
      const next = queuedId((await sendMail(relay.relay.smtpPort, { to: ['447700900235@sms.localhost'], body: 'next' })).data);
      await waitFor('the next SMS sent', async () => (await relay.relay.store.smsOf(next))[0]?.status === 'sent');
      assert.deepEqual([primary.requests.length, backup.requests.length], [1, 2]);
    });
  }

  test("a proxy's 504 from every host: each probe of the paused provider asks one host, not the next failed one too (one possible duplicate per probe)", async () => {
    const proxyPage = { status: 504, body: '<html><head><title>504</title></head><body>nginx</body></html>' };
    const primary = await new ReplayServer({ contentType: 'text/html', answer: proxyPage }).start();
    const backup = await new ReplayServer({ contentType: 'text/html', answer: proxyPage }).start();
    cleanups.push(
      () => primary.close(),
      () => backup.close(),
    );
    const relay = await relayWith({
      ...gatewayYaml(primary.url, { backupUrl: backup.url }),
      delivery: { retryMinDelay: '100ms', retryMaxDelay: '300ms', pauseProbeInterval: '1s' },
    });
    const id = queuedId((await sendMail(relay.relay.smtpPort, { to: ['447700900236@sms.localhost'], body: 'both down' })).data);
    await waitFor('4 probes after the first round', async () => primary.requests.length >= 5, 15_000);
    // The first round asked both hosts (both were working); each probe since, the primary alone: the backup is failed too.
    assert.equal(backup.requests.length, 1, 'no probe failed over to the failed backup');
    const [state] = await waitFor('every request recorded', async () => {
      const sms = await relay.relay.store.smsOf(id);
      return (sms[0]?.attempts ?? 0) >= primary.requests.length + backup.requests.length && sms;
    });
    assert.equal(state?.possibleDuplicates, state?.attempts, 'each request one possible duplicate');
    assert.equal(state?.status, 'queued');
  });

  test('an HTTP 200 the adapter cannot read is no reason to fail over: retried later on the same host, counted as a possible duplicate', async () => {
    const primary = await simulator();
    const backup = await simulator();
    primary.simulator.setBehaviour({ mode: 'garbage', times: 1 });
    const relay = await relayWith({
      ...gatewayYaml(primary.url, { backupUrl: backup.url }),
      delivery: { retryMinDelay: '200ms', retryMaxDelay: '200ms' },
    });
    const id = queuedId((await sendMail(relay.relay.smtpPort, { to: ['447700900232@sms.localhost'], body: 'unreadable' })).data);
    const [state] = await waitFor('the SMS sent', async () => {
      const sms = await relay.relay.store.smsOf(id);
      return sms[0]?.status === 'sent' && sms;
    });
    assert.equal(backup.simulator.requests, 0, 'never failed over: the gateway may have taken it');
    assert.equal(primary.simulator.requests, 2);
    assert.equal(state?.possibleDuplicates, 1);
  });

  test("HTTP 429's Retry-After, in seconds or as an HTTP date, is when the SMS is tried again (dispatcher clock)", async () => {
    const gateway = await new ReplayServer({ contentType: 'text/plain', answer: { status: 200, body: 'ID:1' } }).start();
    cleanups.push(() => gateway.close());
    // The dispatcher's clock stands still a minute ahead: every wait it decides is read off the queue exactly.
    const now = Math.ceil(Date.now() / 1000) * 1000 + 60_000;
    const relay = await relayWith({ ...gatewayYaml(gateway.url), delivery: { retryMinDelay: '2s' } }, { dispatchClock: () => now });
    const cases: Array<[string, number]> = [
      ['7', 7_000],
      [new Date(now + 42_000).toUTCString(), 42_000],
      ['0', 2_000],
    ];
    for (const [retryAfter, wait] of cases) {
      // The wait holds the provider too (the clock stands still): making its probe due (as `queue retry` does) lets the next SMS take it.
      await relay.relay.store.releaseProbe('intellisoftware', now);
      await sleep(1_100);
      gateway.next = [{ status: 429, body: 'Too Many Requests', headers: { 'retry-after': retryAfter } }];
      const id = queuedId((await sendMail(relay.relay.smtpPort, { to: ['447700900233@sms.localhost'], body: `busy ${retryAfter}` })).data);
      const queued = await waitFor('the retry scheduled', async () =>
        (await relay.relay.store.listQueued(10)).find((sms) => sms.messageId === id && sms.attempts === 1),
      );
      assert.equal(queued.nextAttemptAt - now, wait, `Retry-After: ${retryAfter}`);
    }
  });

  test('ERR:LOGIN_INVALID pauses sending (probing only; status says paused, why and since when) and resumes when the gateway accepts again, with no bounce', async () => {
    const gateway = await simulator();
    gateway.simulator.setBehaviour({ mode: 'error', code: 'LOGIN_INVALID' });
    const relay = await relayWith({ ...gatewayYaml(gateway.url), delivery: { ...fast, pauseProbeInterval: '500ms' } });
    const ids: string[] = [];
    for (const [index, to] of ['447700900241', '447700900242', '447700900243'].entries()) {
      ids.push(queuedId((await sendMail(relay.relay.smtpPort, { to: [`${to}@sms.localhost`], body: `paused ${index}` })).data));
    }
    await waitFor('the pause', () => gateway.simulator.requests >= 1);
    await sleep(300);
    const atPause = gateway.simulator.requests;
    await sleep(1_500);
    const probes = gateway.simulator.requests - atPause;
    assert.ok(probes >= 1 && probes <= 4, `one probe per 500 ms while paused, saw ${probes} requests in 1.5 s`);
    // `smsrelay status` says so: paused, why and since when (not "running").
    const here = { pid: process.pid, name: relay.config.store.relayName, database: false };
    assert.match(
      await status(relay.relay.store, Date.now(), here),
      /^dispatch: paused for intellisoftware since \d{4}-\d\d-\d\dT[\d:.]+Z \(ERR:LOGIN_INVALID: .+\); next probe \d{4}-/m,
    );
    assert.doesNotMatch(await status(relay.relay.store, Date.now(), here), /^dispatch: running$/m);

    gateway.simulator.setBehaviour({ mode: 'ok' });
    await waitFor('all three sent', async () => {
      const states = await Promise.all(ids.map((id) => relay.relay.store.smsOf(id)));
      return states.every((sms) => sms[0]?.status === 'sent');
    });
    assert.equal(gateway.simulator.received.length, 3);
    assert.match(await status(relay.relay.store, Date.now(), here), /^dispatch: running$/m);
    assert.deepEqual(maildirMessages(relay.maildir), [], 'an account problem bounces nothing');
  });

  test('ERR:NO_PASSWORD (the gateway got no credentials: nothing about the number or the text) pauses sending and bounces nothing', async () => {
    const gateway = await simulator();
    gateway.simulator.setBehaviour({ mode: 'error', code: 'NO_PASSWORD' });
    const relay = await relayWith({ ...gatewayYaml(gateway.url), delivery: { ...fast, pauseProbeInterval: '500ms' } });
    const id = queuedId((await sendMail(relay.relay.smtpPort, { to: ['447700900244@sms.localhost', '447700900245@sms.localhost'], body: 'no password' })).data);
    await waitFor('the pause', () => gateway.simulator.requests >= 1);
    const here = { pid: process.pid, name: relay.config.store.relayName, database: false };
    await waitFor('status says paused', async () =>
      /^dispatch: paused for intellisoftware since .+ \(ERR:NO_PASSWORD: /m.test(await status(relay.relay.store, Date.now(), here)),
    );
    gateway.simulator.setBehaviour({ mode: 'ok' });
    await waitFor('both sent', async () => (await relay.relay.store.smsOf(id)).every((sms) => sms.status === 'sent'));
    assert.deepEqual(maildirMessages(relay.maildir), [], 'a request the gateway read without credentials bounces nothing');
  });

  test('a redirect (gateway.url is not the gateway) pauses sending and says where it leads, bouncing nothing', async () => {
    const gateway = await new ReplayServer({
      contentType: 'text/html',
      answer: { status: 301, body: '<html>Moved</html>', headers: { location: 'https://gateway.example.net/sendmsg.aspx' } },
    }).start();
    cleanups.push(() => gateway.close());
    const relay = await relayWith({ ...gatewayYaml(gateway.url), delivery: { ...fast, pauseProbeInterval: '500ms' } });
    const id = queuedId((await sendMail(relay.relay.smtpPort, { to: ['447700900246@sms.localhost'], body: 'moved on' })).data);
    const here = { pid: process.pid, name: relay.config.store.relayName, database: false };
    await waitFor('status says paused', async () =>
      /^dispatch: paused for intellisoftware since .+ \(HTTP_301: the SMS gateway redirected the relay's request elsewhere/m.test(
        await status(relay.relay.store, Date.now(), here),
      ),
    );
    assert.match(await history(relay.relay.store, id, Date.now()), /the gateway said: "redirected to https:\/\/gateway\.example\.net\/sendmsg\.aspx"/);
    assert.deepEqual(maildirMessages(relay.maildir), [], 'a wrong URL bounces nothing');
  });

  test('status shows a probe that is due as waiting for the next SMS for the provider, never a time already past', async () => {
    const { store, pausedAt } = await pausedTwilio();
    const soon = await status(store, pausedAt + 1_000, { pid: undefined, name: 'here', database: false });
    assert.match(soon, /^dispatch: paused for twilio since .+; next probe 2026-12-05T09:10:05\.000Z$/m);
    const later = await status(store, pausedAt + 60_000, { pid: undefined, name: 'here', database: false });
    assert.match(later, /^dispatch: paused for twilio since .+; next probe with the next SMS for it$/m);
  });

  test('status names a probe due while an SMS is queued for later (released, retried) at the due time of that SMS, and "now" once it is due', async () => {
    const { store, pausedAt } = await pausedTwilio();
    await store.acceptMail(mail(['+447700900250'], { receivedAt: pausedAt + 20_000 }));
    const waiting = await status(store, pausedAt + 10_000, { pid: undefined, name: 'here', database: false });
    assert.match(waiting, /^dispatch: paused for twilio since .+; next probe 2026-12-05T09:10:20\.000Z$/m);
    const due = await status(store, pausedAt + 30_000, { pid: undefined, name: 'here', database: false });
    assert.match(due, /^dispatch: paused for twilio since .+; next probe now$/m);
  });

  test('an SMS still unsent at its maximum age is bounced (Status 4.4.7), not before', async () => {
    const closed = await freePort();
    const relay = await relayWith({ ...gatewayYaml(`http://127.0.0.1:${closed}`), delivery: { ...fast, maxAge: '1500ms' } });
    const accepted = Date.now();
    const id = queuedId((await sendMail(relay.relay.smtpPort, { to: ['447700900251@sms.localhost'], subject: 'Too late', body: 'expire' })).data);
    const [bounce] = await waitFor('the bounce', () => {
      const reports = reportsFor(relay, id);
      return reports.length > 0 && reports;
    });
    assert.ok(Date.now() - accepted >= 1_400);
    assert.match(bounce ?? '', /^Subject: Undelivered SMS: Too late$/m);
    assert.match(bounce ?? '', /Action: failed/);
    assert.match(bounce ?? '', /Status: 4\.4\.7/);
    assert.match(bounce ?? '', /too old to be useful/);
    assert.deepEqual(
      (await relay.relay.store.smsOf(id)).map((sms) => sms.status),
      ['expired'],
    );
  });

  test('one delay notice (Action: delayed) after the configured time, none when NOTIFY excludes DELAY', async () => {
    const closed = await freePort();
    const relay = await relayWith({ ...gatewayYaml(`http://127.0.0.1:${closed}`), delivery: { ...fast, delayNotice: '300ms', maxAge: '1h' } });
    const port = relay.relay.smtpPort;
    const noticed = queuedId((await sendMail(port, { to: ['447700900261@sms.localhost', '447700900262@sms.localhost'], body: 'late' })).data);
    const silent = queuedId((await sendMail(port, { to: ['447700900263@sms.localhost'], rcptParams: 'NOTIFY=FAILURE', body: 'quiet' })).data);
    const [notice] = await waitFor('the delay notice', () => {
      const reports = reportsFor(relay, noticed);
      return reports.length > 0 && reports;
    });
    assert.match(notice ?? '', /Action: delayed/);
    assert.match(notice ?? '', /Will-Retry-Until: /);
    assert.match(notice ?? '', /^Subject: Delayed SMS: test$/m);
    await sleep(1_000);
    assert.equal(reportsFor(relay, noticed).length, 1, 'once per mail');
    assert.equal(reportsFor(relay, silent).length, 0);
  });

  test('the delay notice lists every number still waiting, though their retries drifted apart; one notice per mail', async () => {
    const gateway = await simulator();
    gateway.simulator.setBehaviour({ mode: 'error', code: 'GATEWAY_ERROR' });
    const relay = await relayWith({ ...gatewayYaml(gateway.url), delivery: { ...fast, delayNotice: '1s', maxAge: '1h' } });
    const numbers = ['447700900264', '447700900265', '447700900266'];
    const id = queuedId(
      (await sendMail(relay.relay.smtpPort, { to: numbers.map((number) => `${number}@sms.localhost`), rcptParams: 'NOTIFY=DELAY', body: 'drift' })).data,
    );
    const [notice = ''] = await waitFor('the delay notice', () => {
      const reports = reportsFor(relay, id);
      return reports.length > 0 && reports;
    });
    const listed = [...notice.matchAll(/^Final-Recipient: rfc822; \+?(\d+)@/gm)].map((match) => match[1]).sort();
    assert.deepEqual(listed, numbers);
    assert.match(notice, /^Diagnostic-Code: X-SMS; ERR:GATEWAY_ERROR \(/m);
    await sleep(1_500);
    assert.equal(reportsFor(relay, id).length, 1, 'once per mail');
  });

  test('NOTIFY=NEVER: no bounce; NOTIFY=SUCCESS: a "relayed" report when the gateway takes it', async () => {
    const gateway = await simulator({ invalidNumbers: ['447700900999'] });
    const relay = await relayWith(gatewayYaml(gateway.url));
    const port = relay.relay.smtpPort;
    const never = queuedId((await sendMail(port, { to: ['447700900999@sms.localhost'], rcptParams: 'NOTIFY=NEVER', body: 'never' })).data);
    const told = queuedId((await sendMail(port, { to: ['447700900999@sms.localhost'], body: 'bounce me' })).data);
    const success = queuedId((await sendMail(port, { to: ['447700900271@sms.localhost'], rcptParams: 'NOTIFY=SUCCESS,FAILURE', body: 'ok' })).data);
    await waitFor('the bounce and the success report', () => reportsFor(relay, told).length === 1 && reportsFor(relay, success).length === 1);
    assert.deepEqual(reportsFor(relay, never), []);
    assert.equal((await relay.relay.store.smsOf(never))[0]?.status, 'failed');
    const relayed = reportsFor(relay, success)[0] ?? '';
    assert.match(relayed, /Action: relayed/);
    assert.match(relayed, /Status: 2\.0\.0/);
    assert.match(relayed, /^Subject: SMS sent: test$/m);
    const gatewayId = (await relay.relay.store.smsOf(success))[0]?.providerId ?? assert.fail('no gateway id');
    assert.match(
      relayed,
      new RegExp(`^Diagnostic-Code: X-SMS; gateway id ${gatewayId} \\(accepted by the SMS gateway\\)\r?$`, 'm'),
      'the id, not the code that only means "taken"',
    );
  });

  test('one number named twice with different NOTIFY: either RCPT asking for a bounce gets it, NEVER only when both say NEVER', async () => {
    const gateway = await simulator({ invalidNumbers: ['447700900998'] });
    const relay = await relayWith(gatewayYaml(gateway.url));
    const send = (first: string, second: string) =>
      mailTwice(relay, `<447700900998@sms.localhost> NOTIFY=${first}`, `<+447700900998@sms.localhost> NOTIFY=${second}`, `${first} then ${second}`);
    const neverFirst = await send('NEVER', 'FAILURE');
    const failureFirst = await send('FAILURE', 'NEVER');
    const neverTwice = await send('NEVER', 'NEVER');
    await waitFor('both bounces', () => reportsFor(relay, neverFirst).length === 1 && reportsFor(relay, failureFirst).length === 1);
    await waitFor('the third given up', async () => (await relay.relay.store.smsOf(neverTwice))[0]?.status === 'failed');
    await sleep(300);
    assert.deepEqual(reportsFor(relay, neverTwice), []);
    assert.equal(gateway.simulator.requests, 3, 'one SMS per mail');
  });

  test('the same address named twice (as written, or in another case) merges alike: the reports either asked for, the first ORCPT', async () => {
    const gateway = await simulator({ invalidNumbers: ['447700900995', '447700900996'] });
    const relay = await relayWith(gatewayYaml(gateway.url));
    const send = (first: string, second: string) => mailTwice(relay, first, second, `${first} then ${second}`);
    // No NOTIFY asks for failures: a later NOTIFY=NEVER to the very same address does not take it back.
    const exact = await send('<447700900995@sms.localhost>', '<447700900995@sms.localhost> NOTIFY=NEVER');
    const cased = await send(
      '<447700900996@sms.localhost> NOTIFY=FAILURE ORCPT=rfc822;first@example.com',
      '<447700900996@SMS.LOCALHOST> NOTIFY=NEVER ORCPT=rfc822;second@example.com',
    );
    const [exactBounce = '', casedBounce = ''] = await waitFor('both bounces', () => {
      const bounces = [reportsFor(relay, exact), reportsFor(relay, cased)];
      return bounces.every((reports) => reports.length === 1) && bounces.map(([report]) => report);
    });
    assert.match(exactBounce, /Action: failed/);
    assert.match(casedBounce, /Action: failed/);
    assert.match(casedBounce, /^Original-Recipient: rfc822; ?first@example\.com\r?$/m, 'the first ORCPT given');
    assert.equal(gateway.simulator.requests, 2, 'one SMS per mail');
  });

  test("mail from one of the relay's own addresses (an SMS address, its MAILER-DAEMON) gets no bounce, which it would refuse; the log says why", async () => {
    const gateway = await simulator({ invalidNumbers: ['447700900997'] });
    const dir = tempDir();
    dirs.push(dir);
    const { config } = loadConfig(relayEnvironment(dir, gatewayYaml(gateway.url)), dir);
    const { logger, lines } = captureLog('info');
    const relay = await startRelay(config, logger);
    cleanups.push(() => relay.stop());
    const send = async (from: string) => queuedId((await sendMail(relay.smtpPort, { from, to: ['447700900997@sms.localhost'], body: `from ${from}` })).data);
    const own = [await send('447700900777@sms.localhost'), await send('MAILER-DAEMON@sms.localhost')];
    const other = await send('alice@example.com');
    const reports = (id: string) => maildirMessages(join(config.dataDir, 'maildir')).filter((mail) => mail.includes(`X-SMSRelay-Message-Id: ${id}`));
    await waitFor('the bounce to alice', () => reports(other).length === 1);
    for (const id of own) {
      await waitFor(`the failure of ${id}`, async () => (await relay.store.smsOf(id))[0]?.status === 'failed');
      assert.deepEqual(reports(id), []);
    }
    const said = lines.map((text) => JSON.parse(text) as Record<string, unknown>).filter((entry) => String(entry.msg).startsWith('mailer: no report sent'));
    assert.deepEqual(
      said.map((entry) => [entry.msgId, entry.from, entry.level]),
      [
        [own[0], '4477******77@sms.localhost', 'info'],
        [own[1], 'MAILER-DAEMON@sms.localhost', 'info'],
      ],
    );
  });

  test('a mail its client sends again after a lost 250 is accepted again but sent once', async () => {
    const gateway = await simulator();
    const relay = await relayWith(gatewayYaml(gateway.url));
    const raw = message({ to: ['447700900281@sms.localhost'], body: 'only once', headers: { 'Message-ID': '<resend-1@example.com>' } });
    const replies: string[] = [];
    for (let round = 0; round < 2; round += 1) {
      const dialog = await SmtpDialog.open(relay.relay.smtpPort);
      await dialog.command('EHLO client.example.com');
      await dialog.command('MAIL FROM:<alice@example.com>');
      await dialog.command('RCPT TO:<447700900281@sms.localhost>');
      const reply = await dialog.data(raw);
      assert.equal(reply.code, 250);
      replies.push(reply.text);
      await dialog.close();
    }
    const first = queuedId({ code: 250, enhanced: undefined, text: replies[0] ?? '', lines: [] });
    assert.match(replies[1] ?? '', new RegExp(`the same mail as ${first}: sent once`));
    await gateway.simulator.waitForMessages(1);
    // A different text under the same Message-ID is a different mail.
    const changed = message({ to: ['447700900281@sms.localhost'], body: 'changed', headers: { 'Message-ID': '<resend-1@example.com>' } });
    const dialog = await SmtpDialog.open(relay.relay.smtpPort);
    await dialog.command('EHLO client.example.com');
    await dialog.command('MAIL FROM:<alice@example.com>');
    await dialog.command('RCPT TO:<447700900281@sms.localhost>');
    assert.equal((await dialog.data(changed)).code, 250);
    await dialog.close();
    await gateway.simulator.waitForMessages(2);
    await sleep(300);
    assert.deepEqual(
      gateway.simulator.received.map((sms) => sms.text),
      ['only once', 'changed'],
    );
  });
});

describe("the gateway's own words", () => {
  test('reach the bounce (Diagnostic-Code and plain words), the history and the log line: on one line, bounded, the number masked in the log', async () => {
    const gateway = await new ReplayServer({ contentType: 'application/json' }).start();
    cleanups.push(() => gateway.close());
    const said = `Syntax error: invalid parameter recipient +447700900235\r\nX-Injected: yes ${'x'.repeat(400)}`;
    gateway.respond = (request) => {
      const [message] = (JSON.parse(request.body) as { message: Array<{ clientReference: string }> }).message;
      return { status: 200, body: JSON.stringify({ messageStatus: [{ statusCode: 5, statusMessage: said, clientReference: message?.clientReference }] }) };
    };
    const dir = tempDir();
    dirs.push(dir);
    const { config } = loadConfig(
      relayEnvironment(dir, { gateway: { provider: 'puzzel', url: gateway.url, username: 'acme', password: 'secret', serviceId: 1000 } }),
      dir,
    );
    const { logger, lines } = captureLog('info');
    const relay = await startRelay(config, logger);
    cleanups.push(() => relay.stop());
    const id = queuedId((await sendMail(relay.smtpPort, { to: ['447700900235@sms.localhost'], subject: 'Words', body: 'bounce me' })).data);
    const maildir = join(config.dataDir, 'maildir');
    const [bounce = ''] = await waitFor('the bounce', () => {
      const found = maildirMessages(maildir).filter((mail) => mail.includes(`X-SMSRelay-Message-Id: ${id}`));
      return found.length > 0 && found;
    });
    const diagnostic = /^Diagnostic-Code: X-SMS; PUZZEL:5 \(.*; the gateway said: "(.*)"\)\r?$/m.exec(bounce);
    assert.ok(diagnostic, bounce);
    const words = diagnostic[1] ?? '';
    assert.match(words, /^Syntax error: invalid parameter recipient \+447700900235 X-Injected: yes x+\.\.\.$/);
    assert.equal(words.length, GATEWAY_TEXT_MAX_CHARS);
    assert.doesNotMatch(bounce, /^X-Injected/m, 'no header injected');
    assert.ok(bounce.includes('(the gateway said: "Syntax error: invalid parameter recipient'), 'in the plain words too');
    const failed = (await relay.store.events(id)).find((event) => event.kind === 'failed');
    assert.ok(failed?.detail?.includes(`the gateway said: "${words}"`), failed?.detail);
    const line = lines.map((text) => JSON.parse(text) as Record<string, unknown>).find((entry) => entry.msg?.toString().startsWith('dispatch: SMS failed'));
    assert.match(String(line?.gatewayText), /^Syntax error: invalid parameter recipient \+4477\*+35 X-Injected/);
  });

  test('a gateway echoing its request: the password, in any form the request carried it, reaches no log line, history, status or bounce', async () => {
    const password = 'Sup3r&Secret Pass/99';
    const gateway = await new ReplayServer({ contentType: 'text/plain' }).start();
    cleanups.push(() => gateway.close());
    // An unknown code keeps its SMS queued with its last error (status); ERR:INVALID_NUMBER bounces it.
    gateway.respond = (request) => ({
      status: 200,
      body: `${request.body.includes('447700900237') ? 'ERR:INVALID_NUMBER bad number in' : 'ERR:NEVER_SEEN echo of'} ${request.body} ${request.path}`,
    });
    const dir = tempDir();
    dirs.push(dir);
    const { config } = loadConfig(relayEnvironment(dir, { ...gatewayYaml(gateway.url, { password }), delivery: { retryMinDelay: '30s' } }), dir);
    const { logger, lines } = captureLog('debug');
    const relay = await startRelay(config, logger);
    cleanups.push(() => relay.stop());
    const bounced = queuedId((await sendMail(relay.smtpPort, { to: ['447700900237@sms.localhost'], body: 'bounce me' })).data);
    const kept = queuedId((await sendMail(relay.smtpPort, { to: ['447700900238@sms.localhost'], body: 'keep me' })).data);
    const [bounce = ''] = await waitFor('the bounce', () => {
      const found = maildirMessages(join(config.dataDir, 'maildir')).filter((mail) => mail.includes(`X-SMSRelay-Message-Id: ${bounced}`));
      return found.length > 0 && found;
    });
    await waitFor('the other SMS deferred', async () => (await relay.store.smsOf(kept)).some((sms) => sms.lastError !== undefined));
    const carried = new URLSearchParams([['password', password]]).toString();
    // Each SMS's send carried the password, which the gateway echoed (a loaded machine may add a request of another kind).
    assert.ok(
      ['447700900237', '447700900238'].every((number) => gateway.requests.some((request) => request.body.includes(number) && request.body.includes(carried))),
      'the gateway got the password form-encoded, and echoed it',
    );
    assert.match(bounce, /^Diagnostic-Code: X-SMS; ERR:INVALID_NUMBER \(.*the gateway said: "bad number in .*password=\*\*\*.*"\)\r?$/m);
    const everything = [
      bounce,
      await history(relay.store, bounced, Date.now()),
      await history(relay.store, kept, Date.now()),
      await status(relay.store, Date.now(), { pid: process.pid, name: 'test', database: false }),
      lines.join(''),
    ].join('\n');
    assert.match(everything, /last error .*ERR:NEVER_SEEN.*password=\*\*\*/, 'status shows the last error, without the password');
    for (const form of [password, encodeURIComponent(password), carried.slice('password='.length)]) assert.ok(!everything.includes(form), `${form} shown`);
  });

  test("a gateway echoing its request: the SMS's own text, in any form the request carried it, reaches no info line, history or status ([text])", async () => {
    const text = 'Patient Jones: HIV test "positive" & more/ü';
    const gateway = await new ReplayServer({ contentType: 'text/plain' }).start();
    cleanups.push(() => gateway.close());
    // A 400 is retried later: the SMS stays queued with its last error, which `smsrelay status` shows.
    gateway.respond = (request) => ({ status: 400, body: `Invalid request (${JSON.stringify(text)}): you sent ${request.body}` });
    const dir = tempDir();
    dirs.push(dir);
    const { config } = loadConfig(relayEnvironment(dir, { ...gatewayYaml(gateway.url), delivery: { retryMinDelay: '30s' } }), dir);
    const { logger, lines } = captureLog('info');
    const relay = await startRelay(config, logger);
    cleanups.push(() => relay.stop());
    const id = queuedId((await sendMail(relay.smtpPort, { to: ['447700900322@sms.localhost'], body: text })).data);
    await waitFor('the SMS deferred', async () => (await relay.store.smsOf(id)).some((sms) => sms.lastError !== undefined));
    const sent = new URLSearchParams([['text', text]]).toString().slice('text='.length);
    assert.ok(
      gateway.requests.some((request) => request.body.includes(sent)),
      'the gateway got the text form-encoded, and echoed it',
    );
    const shown = await status(relay.store, Date.now(), { pid: process.pid, name: 'test', database: false });
    assert.match(shown, /the gateway said: "Invalid request \("\[text\]"\): you sent .*=\[text\]/, 'status shows the words, the text cut out');
    const everything = [shown, await history(relay.store, id, Date.now()), lines.join('')].join('\n');
    assert.match(lines.join(''), /"gatewayText":"Invalid request \(\\"\[text\]\\"\): you sent .*=\[text\]/);
    for (const form of [text, sent, encodeURIComponent(text), JSON.stringify(text).slice(1, -1), 'Patient Jones', 'Patient+Jones', 'Patient%20Jones']) {
      assert.ok(!everything.includes(form), `${form} shown`);
    }
  });

  test("a gateway echoing the password and the SMS's text escaped as PHP, Python, Java or .NET write them: neither reaches the log, the history, status or a bounce", async () => {
    const password = "Pä/ss+wörd'99 <x>&😀";
    const text = "Müller's test/1 & <b>\nline 2";
    // Each number's echo in one gateway language's escaping; …0 is refused for good (a bounce), …1 kept queued (status).
    const escapings: Array<[string, (value: string) => string]> = [
      ['PHP json_encode', (value) => jsonAscii(value, 'lower').replaceAll('/', '\\/')],
      ['Python json.dumps', (value) => jsonAscii(value, 'lower')],
      ['Jackson ESCAPE_NON_ASCII', (value) => jsonAscii(value, 'upper')],
      ['RFC 3986 rawurlencode', rfc3986],
      [
        '.NET UrlEncode',
        (value) =>
          rfc3986(value)
            .replace(/%[0-9A-F]{2}/g, (byte) => byte.toLowerCase())
            .replaceAll('%20', '+'),
      ],
      ['XML htmlspecialchars', (value) => xmlEscaped(value)],
      ['JSON in an XML page', (value) => xmlEscaped(jsonAscii(value, 'lower'))],
      ['form-encoded PHP JSON', (value) => new URLSearchParams([['', jsonAscii(value, 'lower').replaceAll('/', '\\/')]]).toString().slice(1)],
    ];
    const gateway = await new ReplayServer({ contentType: 'text/plain' }).start();
    cleanups.push(() => gateway.close());
    gateway.respond = (request) => {
      const sent = new URLSearchParams(request.body);
      const to = sent.get('to') ?? '';
      const [name, escaped] = escapings[Number(to.at(-2))] ?? ['', String];
      const code = to.endsWith('0') ? 'ERR:INVALID_NUMBER' : 'ERR:NEVER_SEEN';
      return { status: 200, body: `${code} ${name}: pw ${escaped(sent.get('password') ?? '')} text ${escaped(sent.get('text') ?? '')}` };
    };
    const dir = tempDir();
    dirs.push(dir);
    const { config } = loadConfig(relayEnvironment(dir, { ...gatewayYaml(gateway.url, { password }), delivery: { retryMinDelay: '30s' } }), dir);
    const { logger, lines } = captureLog('info');
    const relay = await startRelay(config, logger);
    cleanups.push(() => relay.stop());
    const numbers = escapings.flatMap((_, index) => [`4477009003${index}0`, `4477009003${index}1`]);
    const ids: string[] = [];
    for (const number of numbers) ids.push(queuedId((await sendMail(relay.smtpPort, { to: [`${number}@sms.localhost`], body: text })).data));
    await waitFor('every SMS bounced or deferred', async () => {
      const states = await Promise.all(ids.map((id) => relay.store.smsOf(id)));
      return states.every((sms) => sms.some((entry) => entry.lastError !== undefined || entry.status === 'failed'));
    });
    const bounces = await waitFor('the bounces', () => {
      const found = maildirMessages(join(config.dataDir, 'maildir')).filter((mail) => mail.includes('Diagnostic-Code'));
      return found.length === escapings.length && found;
    });
    const histories = await Promise.all(ids.map((id) => history(relay.store, id, Date.now())));
    const shown = await status(relay.store, Date.now(), { pid: process.pid, name: 'test', database: false });
    const logged = lines.join('');
    // status lists the latest errors, not every one: each it shows is cut, and none shows a form (below).
    assert.match(shown, /last error .*: pw \*\*\* text \[text\]"\)/);
    const sentText = new URLSearchParams(gateway.requests[0]?.body).get('text') ?? '';
    for (const [name, escaped] of escapings) {
      const bounce = bounces.find((mail) => mail.includes(`${name}:`)) ?? '';
      assert.match(bounce, new RegExp(`the gateway said: "${escapeRegExp(name)}: pw \\*\\*\\* text \\[text\\]"`), `${name}: the bounce, both cut`);
      assert.ok(
        histories.some((lines) => lines.includes(`${name}: pw *** text [text]`)),
        `${name}: smsrelay log`,
      );
      assert.ok(logged.includes(`${name}: pw *** text [text]`), `${name}: the log`);
      for (const [what, form] of [
        ['password', escaped(password)],
        ['text', escaped(sentText)],
      ]) {
        for (const [where, words] of [
          ['bounce', bounces.join('\n')],
          ['status', shown],
          ['smsrelay log', histories.join('\n')],
          ['log', logged],
        ]) {
          assert.ok(!(words ?? '').includes(form ?? ''), `${name}: the ${what} in the ${where}: ${form}`);
        }
      }
    }
  });

  test('a gateway echoing its Basic authentication and the webhook token of its callback URL: neither reaches the log or the bounce', async () => {
    const account = { username: `AC${'a'.repeat(32)}`, password: 'twilio/auth token' };
    const webhookToken = 'hook token & more/16';
    const gateway = await new ReplayServer({ contentType: 'application/json' }).start();
    cleanups.push(() => gateway.close());
    gateway.respond = (request) => ({
      status: 400,
      body: JSON.stringify({
        code: 21211,
        message: `Invalid 'To' in ${request.headers.authorization} ${request.body.slice(request.body.indexOf('StatusCallback'))}`,
      }),
    });
    const dir = tempDir();
    dirs.push(dir);
    const yaml = {
      gateway: {
        provider: 'twilio',
        url: gateway.url,
        ...account,
        accountSid: account.username,
        authToken: account.password,
        messagingServiceSid: `MG${'1'.repeat(32)}`,
        publicUrl: 'https://sms.example.com/relay',
      },
      inbound: { webhookToken },
    };
    const { config } = loadConfig(relayEnvironment(dir, yaml), dir);
    const { logger, lines } = captureLog('debug');
    const relay = await startRelay(config, logger);
    cleanups.push(() => relay.stop());
    const id = queuedId((await sendMail(relay.smtpPort, { to: ['447700900239@sms.localhost'], body: 'bounce me' })).data);
    const [bounce = ''] = await waitFor('the bounce', () => {
      const found = maildirMessages(join(config.dataDir, 'maildir')).filter((mail) => mail.includes(`X-SMSRelay-Message-Id: ${id}`));
      return found.length > 0 && found;
    });
    const basic = Buffer.from(`${account.username}:${account.password}`).toString('base64');
    const [request] = gateway.requests;
    assert.equal(request?.headers.authorization, `Basic ${basic}`);
    const callbackToken = new URLSearchParams([['', encodeURIComponent(webhookToken)]]).toString().slice(1);
    assert.ok(request?.body.includes(callbackToken), 'the callback URL carried the token, form-encoded in the body');
    assert.match(bounce, /the gateway said: "Invalid 'To' in Basic \*\*\* StatusCallback=/);
    const everything = [bounce, await history(relay.store, id, Date.now()), lines.join('')].join('\n');
    for (const form of [basic, callbackToken, encodeURIComponent(webhookToken)]) assert.ok(!everything.includes(form), `${form} shown`);
  });

  test('a password the cut of a long answer went through: its start is cut out too', async () => {
    const password = 'Cut7hrough-the-Secret-Value';
    const gateway = await new ReplayServer({ contentType: 'text/plain' }).start();
    cleanups.push(() => gateway.close());
    // The password starts 10 characters before the 200 an error page's text is cut at.
    gateway.respond = (request) => ({ status: 500, body: `${'x'.repeat(190 - request.body.indexOf(password))}${request.body}` });
    const relay = await relayWith({ ...gatewayYaml(gateway.url, { password }), delivery: { retryMinDelay: '30s' } });
    const id = queuedId((await sendMail(relay.relay.smtpPort, { to: ['447700900243@sms.localhost'], body: 'cut' })).data);
    const [sms] = await waitFor('the SMS deferred', async () => {
      const found = await relay.relay.store.smsOf(id);
      return found.some((entry) => entry.lastError !== undefined) && found;
    });
    assert.match(sms?.lastError ?? '', /the gateway said: "x+username=relay-test&password=\*\*\*"\)$/);
  });

  test("codes naming a number: one metric series for their category, the log line's result the same word, the number masked in every log line", async () => {
    const { gateway, relay, lines } = await relayOnReplay('debug', (count) => ({ status: 200, body: `ERR:CODE${count}_447700900123` }));
    queuedId((await sendMail(relay.smtpPort, { to: ['447700900241@sms.localhost'], body: 'unknown codes' })).data);
    await waitFor('three attempts', () => gateway.requests.length >= 3, 5_000);
    const metrics = await waitFor('the requests timed', async () => {
      const text = await (await fetch(`http://127.0.0.1:${relay.httpPort}/metrics`)).text();
      return /smsrelay_gateway_request_seconds_count\{result="unclassified"\} [3-9]/.test(text) && text;
    });
    assert.doesNotMatch(metrics, /ERR:CODE/, 'no series per code');
    // The log line's result is the metric's label: a request in the log is found in the metric by it.
    const answered = answeredLines(lines);
    assert.ok(answered.length >= 3, `${answered.length} answered lines`);
    assert.deepEqual([...new Set(answered.map((line) => line.result))], ['unclassified']);
    const logged = lines.join('');
    assert.match(logged, /"code":"ERR:CODE1_4477\*{6}23"/);
    assert.ok(!logged.includes('447700900123'), 'the number in the code is masked everywhere');
  });

  test('a request of several numbers: the answered line counts the numbers the gateway took, and names the one reason all were refused for', async () => {
    // The first mail's numbers: one taken, one refused; the second's: both refused as invalid, one line each.
    const { gateway, relay, lines } = await relayOnReplay('info', (count) =>
      count === 1
        ? { status: 200, body: '447700900251,ID:first\n447700900252,ERR:INVALID_NUMBER\n' }
        : { status: 200, body: '447700900253,ERR:INVALID_NUMBER\n447700900254,ERR:INVALID_NUMBER\n' },
    );
    const answered = () => answeredLines(lines).map(({ result, summary, numbers }) => ({ result, summary, numbers }));
    queuedId((await sendMail(relay.smtpPort, { to: ['447700900251@sms.localhost', '447700900252@sms.localhost'], body: 'one of two' })).data);
    await waitFor('the first answer logged', () => answered().length === 1, 5_000);
    queuedId((await sendMail(relay.smtpPort, { to: ['447700900253@sms.localhost', '447700900254@sms.localhost'], body: 'none of two' })).data);
    await waitFor('the second answer logged', () => answered().length === 2, 5_000);
    assert.deepEqual(answered(), [
      { result: 'answered', summary: '1/2 accepted', numbers: 2 },
      { result: 'refused-number:invalid-number', summary: '0/2 accepted', numbers: 2 },
    ]);
    assert.equal(gateway.requests.length, 2, 'each mail one request');
  });

  test('a refused connection is logged as could not be reached, not as no answer', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const { config } = loadConfig(relayEnvironment(dir, { ...gatewayYaml(`http://127.0.0.1:${await freePort()}`), delivery: { retryMinDelay: '30s' } }), dir);
    const { logger, lines } = captureLog('info');
    const relay = await startRelay(config, logger);
    cleanups.push(() => relay.stop());
    const id = queuedId((await sendMail(relay.smtpPort, { to: ['447700900242@sms.localhost'], body: 'nobody there' })).data);
    const line = await waitFor('the request line', () =>
      lines.map((text) => JSON.parse(text) as Record<string, unknown>).find((entry) => entry.msgId === id && entry.result === 'unreachable'),
    );
    assert.equal(line.msg, 'dispatch: the SMS gateway could not be reached');
    assert.equal(line.summary, 'ECONNREFUSED');
  });

  test('a gateway certificate the relay does not trust is an error saying so, with the TLS reason; a reset says it was reset', async () => {
    const tlsGateway = createHttpsServer(
      { key: readFileSync(new URL('../fixtures/tls/key.pem', import.meta.url)), cert: readFileSync(new URL('../fixtures/tls/cert.pem', import.meta.url)) },
      (_request, response) => response.end('ID:1'),
    );
    await new Promise<void>((resolve) => tlsGateway.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => tlsGateway.close(() => resolve())));
    const resetting = await startSilentTcpServer((socket) => socket.once('data', () => socket.resetAndDestroy()));
    cleanups.push(() => resetting.close());
    const logged: Record<string, unknown>[] = [];
    const shown: string[] = [];
    for (const url of [`https://127.0.0.1:${(tlsGateway.address() as AddressInfo).port}`, `http://127.0.0.1:${resetting.port}`]) {
      const dir = tempDir();
      dirs.push(dir);
      const { config } = loadConfig(relayEnvironment(dir, { ...gatewayYaml(url), delivery: { retryMinDelay: '30s' } }), dir);
      const { logger, lines } = captureLog('info');
      const relay = await startRelay(config, logger);
      cleanups.push(() => relay.stop());
      const id = queuedId((await sendMail(relay.smtpPort, { to: ['447700900243@sms.localhost'], body: 'who are you' })).data);
      logged.push(
        await waitFor('the deferral', () => {
          const entries = lines.map((text) => JSON.parse(text) as Record<string, unknown>).filter((entry) => entry.msgId === id);
          const deferral = entries.find((entry) => String(entry.msg).startsWith('dispatch: SMS deferred'));
          // The request's line that had no answer, its result the metric's label for it.
          return deferral && { request: entries.find((entry) => entry.endpoint !== undefined && entry.msg !== 'dispatch: gateway answered'), deferral };
        }),
      );
      shown.push(await status(relay.store, Date.now(), { pid: undefined, name: 'here', database: false }));
    }
    const [tls, reset] = logged as Array<{ request?: Record<string, unknown>; deferral?: Record<string, unknown> }>;
    assert.equal(tls?.request?.level, 'error');
    assert.equal(tls?.request?.alert, 'gateway-tls');
    assert.equal(tls?.request?.result, 'tls-certificate');
    assert.match(String(tls?.request?.msg), /TLS certificate is not trusted .*intercepts the connection \(.*(self.signed|certificate)/i);
    assert.match(String(tls?.deferral?.msg), /TLS certificate is not trusted/);
    assert.match(shown[0] ?? '', /^last error .*DEPTH_ZERO_SELF_SIGNED_CERT: the SMS gateway's TLS certificate is not trusted/m, 'status shows it');
    assert.equal(reset?.request?.msg, 'dispatch: no answer from the gateway');
    assert.match(String(reset?.deferral?.msg), /reset or dropped before its answer/);
    assert.doesNotMatch(String(reset?.deferral?.msg), /in time/);
  });

  test("a gateway certificate too weak for OpenSSL (Node's UNSPECIFIED: a 768-bit key) is an untrusted certificate: nothing sent, the backup at once, the certificate's advice", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const keyFile = join(dir, 'weak-key.pem');
    writeFileSync(keyFile, generateKeyPairSync('rsa', { modulusLength: 768 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const cert = execFileSync('openssl', ['req', '-x509', '-key', keyFile, '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1']);
    let reached = 0;
    // The gateway's own side must lower its security level to serve such a key at all; the relay's stays at Node's default.
    const weakGateway = createHttpsServer({ key: readFileSync(keyFile), cert, ciphers: 'DEFAULT:@SECLEVEL=0' }, (_request, response) => {
      reached += 1;
      response.end('ID:1');
    });
    await new Promise<void>((resolve) => weakGateway.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => weakGateway.close(() => resolve())));
    const backup = await simulator();
    const { logger, lines } = captureLog('info');
    const relay = await startTestRelay(
      { ...gatewayYaml(`https://127.0.0.1:${(weakGateway.address() as AddressInfo).port}`, { backupUrl: backup.url }), delivery: { retryMinDelay: '30s' } },
      {},
      undefined,
      {},
      logger,
    );
    dirs.push(relay.dir);
    cleanups.push(() => relay.stop());
    const id = queuedId((await sendMail(relay.relay.smtpPort, { to: ['447700900244@sms.localhost'], body: 'weak key' })).data);
    const [state] = await waitFor('the SMS sent by the backup', async () => {
      const sms = await relay.relay.store.smsOf(id);
      return sms[0]?.status === 'sent' && sms;
    });
    assert.equal(reached, 0, 'the handshake failed before any request');
    assert.deepEqual([state?.attempts, state?.possibleDuplicates], [2, 0], 'the backup in the same round, no possible duplicate');
    const log = await history(relay.relay.store, id, Date.now());
    assert.match(log, /failed over: UNSPECIFIED: the SMS gateway's TLS certificate is not trusted \(.*too weak\): check the gateway URL/);
    assert.doesNotMatch(log, /may have been sent/);
    const request = lines.map((text) => JSON.parse(text) as Record<string, unknown>).find((entry) => entry.msgId === id && entry.alert === 'gateway-tls');
    assert.equal(request?.level, 'error');
    assert.equal(request?.result, 'tls-certificate');
    assert.match(String(request?.msg), /TLS certificate is not trusted .*too weak.*\(.*key too weak/);
  });

  test("the last attempt's error and words reach the bounce at the maximum age, as they reached the delay notice", async () => {
    const gateway = await new ReplayServer({ contentType: 'text/plain', answer: { status: 500, body: 'oops' } }).start();
    cleanups.push(() => gateway.close());
    const relay = await relayWith({ ...gatewayYaml(gateway.url), delivery: { ...fast, maxAge: '1500ms' } });
    const id = queuedId((await sendMail(relay.relay.smtpPort, { to: ['447700900236@sms.localhost'], subject: 'Expired', body: 'expire' })).data);
    const [bounce = ''] = await waitFor('the bounce', () => {
      const reports = reportsFor(relay, id);
      return reports.length > 0 && reports;
    });
    assert.match(
      bounce,
      /^Diagnostic-Code: X-SMS; EXPIRED \(the relay could not send it before it was too old to be useful \(\d+ attempts, the last: HTTP_500: [^;]+\); the gateway said: "oops"\)\r?$/m,
    );
    const { text } = await simpleParser(bounce);
    assert.match(text ?? '', /too old to be useful \(\d+ attempts, the last: HTTP_500: [^\n]+\) \(the gateway said: "oops"\)\./, 'in the plain words too');
  });

  test('an SMS an account pause held until its maximum age: the bounce, the history and the store count the probes that reached the gateway, with the last error', async () => {
    const gateway = await simulator();
    gateway.simulator.setBehaviour({ mode: 'error', code: 'LOGIN_INVALID' });
    const relay = await relayWith({ ...gatewayYaml(gateway.url), delivery: { ...fast, pauseProbeInterval: '300ms', maxAge: '2s' } });
    const id = queuedId((await sendMail(relay.relay.smtpPort, { to: ['447700900239@sms.localhost'], subject: 'Paused', body: 'expire' })).data);
    const [bounce = ''] = await waitFor('the bounce', () => {
      const reports = reportsFor(relay, id);
      return reports.length > 0 && reports;
    });
    const requests = gateway.simulator.requests;
    assert.ok(requests >= 2, `probes reached the gateway: ${requests}`);
    const [sms] = await relay.relay.store.smsOf(id);
    assert.equal(sms?.attempts, requests, 'one attempt per request, none for the expiry itself');
    assert.match(bounce, new RegExp(`^Diagnostic-Code: X-SMS; EXPIRED \\(.*too old to be useful \\(${requests} attempts, the last: ERR:LOGIN_INVALID: `, 'm'));
    assert.match(await history(relay.relay.store, id, Date.now()), new RegExp(`: expired, ${requests} attempts`));
  });

  test('a Retry-After longer than retryMaxDelay is asked again after retryMaxDelay', async () => {
    const gateway = await new ReplayServer({
      contentType: 'text/plain',
      answer: { status: 429, body: 'slow down', headers: { 'retry-after': '3600' } },
    }).start();
    cleanups.push(() => gateway.close());
    const dir = tempDir();
    dirs.push(dir);
    const { config } = loadConfig(relayEnvironment(dir, { ...gatewayYaml(gateway.url), delivery: fast }), dir);
    const { logger, lines } = captureLog('info');
    const relay = await startRelay(config, logger);
    cleanups.push(() => relay.stop());
    const id = queuedId((await sendMail(relay.smtpPort, { to: ['447700900237@sms.localhost'], body: 'later' })).data);
    const deferred = await waitFor('the deferral', () =>
      lines.map((text) => JSON.parse(text) as Record<string, unknown>).find((entry) => entry.msgId === id && entry.action === 'retry'),
    );
    assert.ok(Number(deferred.retryInMs) <= 400, `waits ${String(deferred.retryInMs)} ms, beyond retryMaxDelay`);
    await waitFor('asked again', () => gateway.requests.length >= 2, 5_000);
  });

  test('an SMS given up after one attempt says "1 attempt" in its bounce', async () => {
    const gateway = await new ReplayServer({ contentType: 'text/plain', answer: { status: 500, body: 'oops' } }).start();
    cleanups.push(() => gateway.close());
    // The first retry falls after the maximum age: the SMS is given up when it comes due, after one request.
    const relay = await relayWith({ ...gatewayYaml(gateway.url), delivery: { retryMinDelay: '5s', maxAge: '1500ms' } });
    const id = queuedId((await sendMail(relay.relay.smtpPort, { to: ['447700900238@sms.localhost'], subject: 'Expired', body: 'expire' })).data);
    const [bounce = ''] = await waitFor('the bounce', () => {
      const reports = reportsFor(relay, id);
      return reports.length > 0 && reports;
    });
    assert.equal(gateway.requests.length, 1);
    assert.match(bounce, /too old to be useful \(1 attempt, the last: HTTP_500/);
  });
});

/** JSON as writers that escape every non-ASCII character write it (`\u00e4`, surrogate pairs), in either hex case. */
function jsonAscii(value: string, hexCase: 'lower' | 'upper'): string {
  return JSON.stringify(value)
    .slice(1, -1)
    .replace(/[^\x20-\x7e]/g, (unit) => {
      const hex = unit.charCodeAt(0).toString(16).padStart(4, '0');
      return `\\u${hexCase === 'upper' ? hex.toUpperCase() : hex}`;
    });
}

/** RFC 3986 percent-encoding: every character but the unreserved ones, a space as `%20` (PHP's rawurlencode, Python's quote). */
function rfc3986(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** XML/HTML escaping as PHP's htmlspecialchars (ENT_QUOTES) and .NET's HtmlEncode write it: non-ASCII as numeric references, a line end as a space. */
function xmlEscaped(value: string): string {
  const named: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#039;' };
  return [...value]
    .map((character) => named[character] ?? (character === '\n' ? ' ' : character > '\x7e' ? `&#${character.codePointAt(0)};` : character))
    .join('');
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A mail (Subject `twice`, its text `text`) to the RCPT arguments `first` and `second`, each taken (250): its queue id. */
async function mailTwice(relay: TestRelay, first: string, second: string, text: string): Promise<string> {
  const dialog = await SmtpDialog.open(relay.relay.smtpPort);
  try {
    await dialog.command('EHLO client.example.com');
    await dialog.command('MAIL FROM:<alice@example.com>');
    assert.equal((await dialog.command(`RCPT TO:${first}`)).code, 250);
    assert.equal((await dialog.command(`RCPT TO:${second}`)).code, 250);
    return queuedId(await dialog.data(`Subject: twice\r\n\r\n${text}\r\n`));
  } finally {
    await dialog.close();
  }
}
