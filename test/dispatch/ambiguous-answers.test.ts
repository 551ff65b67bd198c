import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { history, status } from '../../src/admin.ts';
import { MAYBE_TAKEN_REQUESTS_MAX } from '../../src/dispatch/outcomes.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { gatewayYaml, maildirMessages, removeDir, startTestRelay, type TestRelay, waitFor } from '../helpers/relay.ts';
import { ReplayServer } from '../helpers/replay-server.ts';
import { queuedId, sendMail } from '../helpers/smtp.ts';
import { sleep } from '../helpers/wait.ts';

/**
 * Answers that leave it unknown whether the gateway took the SMS (an unreadable 2xx, no answer, a proxy's 504),
 * and passing ones that do not (a 408): a real relay, a test gateway over HTTP answering each case, real SMTP.
 */

const dirs: string[] = [];
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  dirs.forEach(removeDir);
});

const fast = { retryMinDelay: '100ms', retryMaxDelay: '200ms' };

async function gateway(answer: { status: number; body: string }, contentType = 'text/html'): Promise<ReplayServer> {
  const server = await new ReplayServer({ contentType, answer }).start();
  cleanups.push(() => server.close());
  return server;
}

async function relayWith(yaml: object): Promise<TestRelay & { readonly lines: string[] }> {
  const { logger, lines } = captureLog('info');
  const relay = await startTestRelay(yaml, {}, undefined, {}, logger);
  dirs.push(relay.dir);
  cleanups.push(() => relay.stop());
  return { ...relay, lines };
}

const logged = (lines: readonly string[]) => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
const sendOne = async (relay: TestRelay, to: string, body: string) =>
  queuedId((await sendMail(relay.relay.smtpPort, { to: [`${to}@sms.localhost`], body })).data);

const UNREADABLE_PAGE = '<html><body>Message submitted to 447700900180</body></html>';

describe('an answer that leaves it unknown whether the gateway took the SMS', () => {
  test('an unreadable 200 to every request: the SMS is sent at most MAYBE_TAKEN_REQUESTS_MAX times, then bounced as possibly delivered, with a warning per answer', async () => {
    const server = await gateway({ status: 200, body: UNREADABLE_PAGE });
    const relay = await relayWith({ ...gatewayYaml(server.url), delivery: fast });
    const id = await sendOne(relay, '447700900180', 'db1 down');
    const [state] = await waitFor('the SMS given up', async () => {
      const sms = await relay.relay.store.smsOf(id);
      return sms[0]?.status === 'failed' && sms;
    });
    await sleep(600);
    assert.equal(server.requests.length, MAYBE_TAKEN_REQUESTS_MAX, 'no resend after the last');
    assert.equal(state?.possibleDuplicates, MAYBE_TAKEN_REQUESTS_MAX);
    assert.match(await history(relay.relay.store, id, Date.now()), /: failed, 3 attempts \(3 possible duplicates\)/);
    const [bounce] = maildirMessages(relay.maildir).filter((mail) => mail.includes(`X-SMSRelay-Message-Id: ${id}`));
    assert.ok(bounce, 'a bounce');
    assert.match(bounce, /may or may not have been sent as a text message/);
    assert.match(bounce, /Status: 4\.4\.2/);
    assert.match(bounce.replace(/\s+/g, ' '), /the phone may have got it, up to 3 times \(3 possible duplicates\)/);
    const warnings = logged(relay.lines).filter((line) => line.level === 'warn' && String(line.msg).startsWith('dispatch: the SMS gateway took the request'));
    assert.equal(warnings.length, MAYBE_TAKEN_REQUESTS_MAX, 'each unreadable answer is a warning');
    assert.match(String(warnings[0]?.gatewayText), /^<html><body>Message submitted to 4477\*+80<\/body><\/html>$/, 'the body, masked');
  });

  test('unreadable 200s to several SMS pause the provider with an error naming the likely cause; a readable answer resumes it', async () => {
    const server = await gateway({ status: 200, body: UNREADABLE_PAGE });
    // Retries and probes far enough apart that no SMS meets its third unreadable answer before the test reads the pause.
    const relay = await relayWith({ ...gatewayYaml(server.url), delivery: { retryMinDelay: '3s', retryMaxDelay: '3s', pauseProbeInterval: '3s' } });
    const ids = await Promise.all(['447700900181', '447700900182', '447700900183'].map((to) => sendOne(relay, to, `alert for ${to}`)));
    const here = { pid: process.pid, name: relay.config.store.relayName, database: false };
    await waitFor('status says paused', async () =>
      /^dispatch: paused for intellisoftware since .+ \(UNPARSEABLE: the SMS gateway's answers to 3 SMS in a row could not be read/m.test(
        await status(relay.relay.store, Date.now(), here),
      ),
    );
    const alerts = logged(relay.lines).filter((line) => line.alert === 'gateway-protocol');
    assert.equal(alerts.length, 1, 'one alert');
    assert.equal(alerts[0]?.level, 'error');
    assert.match(String(alerts[0]?.msg), /check gateway\.url and gateway\.provider/);
    assert.match(String(alerts[0]?.gatewayText), /Message submitted to 4477\*+80/);
    server.answer = { status: 200, body: 'ID:77' };
    await waitFor('all sent', async () => (await Promise.all(ids.map((id) => relay.relay.store.smsOf(id)))).every((sms) => sms[0]?.status === 'sent'), 20_000);
    assert.match(await status(relay.relay.store, Date.now(), here), /^dispatch: running$/m);
  });

  test('a gateway that takes requests and never answers: the SMS is given up after MAYBE_TAKEN_REQUESTS_MAX requests, not resent at every probe', async () => {
    const server = await gateway({ status: 200, body: 'ID:1' });
    server.respond = () => new Promise(() => undefined);
    const relay = await relayWith({ ...gatewayYaml(server.url, { responseTimeout: '1s' }), delivery: fast });
    const id = await sendOne(relay, '447700900184', 'hung');
    await waitFor('the SMS given up', async () => (await relay.relay.store.smsOf(id))[0]?.status === 'failed', 15_000);
    await sleep(800);
    assert.equal(server.requests.length, MAYBE_TAKEN_REQUESTS_MAX);
    assert.match(await history(relay.relay.store, id, Date.now()), /: failed, 3 attempts \(3 possible duplicates\)/);
  });

  for (const code of [504, 502]) {
    test(`a proxy's ${code} is not failed over to the backup at once: the same host later, counted as a possible duplicate`, async () => {
      const primary = await gateway({ status: code, body: `<html><head><title>${code}</title></head><body>nginx</body></html>` });
      primary.next = [{ status: code, body: 'nginx' }];
      primary.answer = { status: 200, body: 'ID:P-1' };
      const backup = await gateway({ status: 200, body: 'ID:B-778' }, 'text/plain');
      const relay = await relayWith({ ...gatewayYaml(primary.url, { backupUrl: backup.url }), delivery: fast });
      const id = await sendOne(relay, '447700900185', 'disk full on db1');
      const [state] = await waitFor('the SMS sent', async () => {
        const sms = await relay.relay.store.smsOf(id);
        return sms[0]?.status === 'sent' && sms;
      });
      assert.equal(backup.requests.length, 0, 'never failed over: the gateway behind the proxy may have it');
      assert.equal(primary.requests.length, 2);
      assert.equal(state?.possibleDuplicates, 1);
      assert.match(await history(relay.relay.store, id, Date.now()), /: sent, 2 attempts \(1 possible duplicate\), gateway id P-1/);
    });
  }
});

describe('a passing answer about the request', () => {
  test('a 408 is retried and pauses nothing for the account: no error, no credentials alert', async () => {
    const server = await gateway({ status: 200, body: 'ID:8008' }, 'text/plain');
    server.next = [{ status: 408, body: '<html><body><h1>408 Request Time-out</h1></body></html>' }];
    const relay = await relayWith({ ...gatewayYaml(server.url), delivery: { ...fast, pauseProbeInterval: '60s' } });
    const id = await sendOne(relay, '447700900186', 'timed out');
    await waitFor('the SMS sent', async () => (await relay.relay.store.smsOf(id))[0]?.status === 'sent', 5_000);
    assert.equal(server.requests.length, 2);
    assert.deepEqual(
      logged(relay.lines).filter((line) => line.level === 'error' || line.alert !== undefined),
      [],
      'no account alert',
    );
  });
});
