/**
 * A provider with two hosts as the console shows it over real HTTP: which host gave each attempt's answer (every timeline
 * line of an attempt names it), and until when the failover breaker skips a failed host: while the other works, not
 * once both failed (the provider's pause then says when they are tried).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { decodeHTML } from 'entities';
import { hashPassword } from '../../src/policy/passwords.ts';
import { signInAt } from '../helpers/console.ts';
import { gatewayYaml, removeDir, type Simulator, startSimulator, startTestRelay, type TestRelay, waitFor } from '../helpers/relay.ts';
import { queuedId, textTo } from '../helpers/smtp.ts';

const PASSWORD = 'correct horse battery';
/** The breaker's skip, long enough that no host is tried again during the test. */
const RECOVERY_S = 120;

/** A host answering every request with `status` (a proxy's 502, a gateway's 503). */
async function answering(status: number): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => response.writeHead(status, { 'content-type': 'text/html' }).end(`<html><body><h1>HTTP ${status}</h1></body></html>`));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** A console time (UTC), as a pattern. */
const TIME = '\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d';

/** A host's URL as the overview names it, as a pattern. */
const hostOf = (url: string) => url.replace('http://', '').replaceAll('.', '\\.');

/** A page's text as the browser shows it: tags out, entities decoded, blanks folded. */
const text = (page: string) => decodeHTML(page.replace(/<[^>]*>/g, '')).replace(/\s+/g, ' ');

describe("the console with a provider's two hosts, both failing", () => {
  let primary: Awaited<ReturnType<typeof answering>>;
  let backup: Awaited<ReturnType<typeof answering>>;
  let relay: TestRelay;
  let base: string;
  let operator: string;
  const html = async (path: string) => {
    const response = await fetch(`${base}${path}`, { headers: { cookie: operator } });
    assert.equal(response.status, 200, path);
    return response.text();
  };

  before(async () => {
    primary = await answering(502);
    backup = await answering(503);
    relay = await startTestRelay({
      ...gatewayYaml(primary.url, { backupUrl: backup.url, failoverRecovery: `${RECOVERY_S}s` }),
      // One round only: its retry comes after the test.
      delivery: { retryMinDelay: '10m', retryMaxDelay: '20m' },
      console: { users: [{ name: 'olivia', passwordHash: await hashPassword(PASSWORD), role: 'operator' }] },
    });
    base = `http://127.0.0.1:${relay.relay.httpPort}`;
    operator = await signInAt(base, 'olivia', PASSWORD);
  });
  after(async () => {
    await relay.stop();
    removeDir(relay.dir);
    for (const { server } of [primary, backup]) await new Promise((resolve) => server.close(resolve));
  });

  test('each attempt line names the host that answered (deferred as failed over and sent do); each failed host says when it failed, the pause when it is tried', async () => {
    const id = queuedId(await textTo(relay.relay.smtpPort, '447700900555', 'Both hosts down'));
    await waitFor('the deferred attempt', async () => (await relay.relay.store.smsOf(id))[0]?.lastError);
    const timeline = [...(await html(`/console/messages/${id}`)).matchAll(/<li><time>[^<]*<\/time> <strong>([^<]*)<\/strong>([^<]*)<\/li>/g)].map(
      ([, kind, detail]) => `${kind}${decodeHTML(detail ?? '')}`,
    );
    const attempts = timeline.filter((line) => /^(failed over|deferred)/.test(line));
    assert.equal(attempts.length, 2, timeline.join('\n'));
    assert.match(attempts[0] ?? '', new RegExp(`^failed over: HTTP_502: .*; via ${primary.url}$`));
    assert.match(attempts[1] ?? '', new RegExp(`^deferred: HTTP_503: .*; via ${backup.url}$`));
    // The SMS's last error, which notices and bounces to the mail's sender quote, names no host.
    assert.doesNotMatch((await relay.relay.store.smsOf(id))[0]?.lastError ?? '', /via/);

    // Both failed: the breaker skips neither (it tries them all), so no time of its own; the pause's next probe says when.
    const overview = text(await html('/console'));
    assert.match(
      overview,
      new RegExp(`hosts: ${hostOf(primary.url)} failed at ${TIME} UTC, ${hostOf(backup.url)} failed at ${TIME} UTC; sending: paused since .*; next probe`),
    );
    assert.doesNotMatch(overview, /skipped by the breaker/);
  });
});

describe("the console with a provider's two hosts, the primary failing", () => {
  let primary: Awaited<ReturnType<typeof answering>>;
  let backup: Simulator;
  let relay: TestRelay;

  before(async () => {
    primary = await answering(502);
    backup = await startSimulator();
    relay = await startTestRelay({
      ...gatewayYaml(primary.url, { backupUrl: backup.url, failoverRecovery: `${RECOVERY_S}s` }),
      console: { users: [{ name: 'olivia', passwordHash: await hashPassword(PASSWORD), role: 'operator' }] },
    });
  });
  after(async () => {
    await relay.stop();
    removeDir(relay.dir);
    await backup.close();
    await new Promise((resolve) => primary.server.close(resolve));
  });

  test('the failed primary says when it failed and until when the breaker skips it (gateway.failoverRecovery after); the backup is healthy', async () => {
    const id = queuedId(await textTo(relay.relay.smtpPort, '447700900556', 'Primary down'));
    await waitFor('the SMS sent by the backup', async () => (await relay.relay.store.smsOf(id))[0]?.status === 'sent');
    const base = `http://127.0.0.1:${relay.relay.httpPort}`;
    const response = await fetch(`${base}/console`, { headers: { cookie: await signInAt(base, 'olivia', PASSWORD) } });
    const overview = text(await response.text());
    const [, at, until] =
      new RegExp(
        `hosts: ${hostOf(primary.url)} failed at (${TIME}) UTC, skipped by the breaker until (${TIME}) UTC, ${hostOf(backup.url)} healthy; sending: running`,
      ).exec(overview) ?? assert.fail(`no failure times for the primary: ${overview}`);
    const seconds = (Date.parse(`${until}Z`) - Date.parse(`${at}Z`)) / 1000;
    assert.ok(Math.abs(seconds - RECOVERY_S) <= 1, `skipped ${seconds} s after it failed, gateway.failoverRecovery is ${RECOVERY_S} s`);
  });
});
