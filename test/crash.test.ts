import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { freshDatabase, POSTGRES_SKIP } from './helpers/postgres.ts';
import {
  freePort,
  GATEWAY_ACCOUNT,
  killSpawnedRelays,
  relayEnvironment,
  removeDir,
  runCommand,
  spawnRelay,
  startSimulator,
  tempDir,
  waitFor,
} from './helpers/relay.ts';
import { sendMail } from './helpers/smtp.ts';

/**
 * "Kill -9 the relay at any moment: nothing that got a 250 is lost." The relay runs as its own
 * process and is killed with SIGKILL; after a restart on the same data directory every mail that
 * was answered 250 must reach the gateway, and duplicates are bounded by the requests in flight.
 */

const dirs: string[] = [];
after(() => {
  killSpawnedRelays();
  dirs.forEach(removeDir);
});

function relayDir(gatewayUrl: string, extra: { gateway?: object; delivery?: object } = {}) {
  const dir = tempDir('smsrelay-crash-');
  dirs.push(dir);
  const env = relayEnvironment(dir, {
    gateway: { provider: 'intellisoftware', url: gatewayUrl, ...GATEWAY_ACCOUNT, connectTimeout: '1s', ...extra.gateway },
    delivery: { retryMinDelay: '200ms', retryMaxDelay: '1s', ...extra.delivery },
  });
  return { dir, env };
}

async function sendNumbered(port: number, texts: readonly string[]): Promise<void> {
  for (const [index, text] of texts.entries()) {
    const result = await sendMail(port, { to: [`447700900${String(100 + index).padStart(3, '0')}@sms.localhost`], body: text });
    assert.equal(result.data?.code, 250, `${text}: ${result.data?.text}`);
  }
}

/** How many times the gateway got each text. */
function tally(texts: Iterable<string>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const text of texts) counts.set(text, (counts.get(text) ?? 0) + 1);
  return counts;
}

describe('kill -9', () => {
  test('while the gateway is down: after restart every accepted mail reaches the gateway, once', async () => {
    const gatewayPort = await freePort();
    const { dir, env } = relayDir(`http://127.0.0.1:${gatewayPort}`);
    const texts = Array.from({ length: 20 }, (_, index) => `while-down ${index}`);

    const first = await spawnRelay(dir, env);
    await sendNumbered(first.smtpPort, texts);
    // The gateway found down: its SMS wait for a probe (the pause outlives the kill), not each for its own retry.
    await waitFor('the gateway found down', () =>
      first.logs.some((line) => String(line.msg).startsWith('dispatch: sending paused, every host of the gateway failed')),
    );
    await first.kill9();

    const gateway = await startSimulator({ port: gatewayPort });
    const second = await spawnRelay(dir, env);
    try {
      await waitFor('every accepted mail at the gateway', () => new Set(gateway.simulator.received.map((sms) => sms.text)).size === texts.length, 20_000);
      const counts = tally(gateway.simulator.received.map((sms) => sms.text));
      assert.deepEqual([...counts.keys()].sort(), [...texts].sort());
      assert.ok(
        [...counts.values()].every((count) => count === 1),
        'nothing was in flight, so nothing is sent twice',
      );
    } finally {
      await second.stop();
      await gateway.close();
    }
  });

  test('while gateway requests are in flight: all reach the gateway; duplicates ≤ the requests in flight', async () => {
    const gateway = await startSimulator();
    gateway.simulator.setBehaviour({ mode: 'hang' });
    const { dir, env } = relayDir(gateway.url, { gateway: { maxConcurrentRequests: 3, responseTimeout: '60s' } });
    const texts = Array.from({ length: 10 }, (_, index) => `in-flight ${index}`);
    try {
      const first = await spawnRelay(dir, env);
      await sendNumbered(first.smtpPort, texts);
      await waitFor('three requests held by the gateway', () => gateway.simulator.pendingRequests === 3);
      const inFlight = gateway.simulator.pendingRequests;
      const inFlightTexts = new Set(gateway.simulator.received.map((sms) => sms.text));
      await first.kill9();
      gateway.simulator.setBehaviour({ mode: 'ok' });

      const second = await spawnRelay(dir, env);
      try {
        await waitFor('every accepted mail at the gateway', () => new Set(gateway.simulator.received.map((sms) => sms.text)).size === texts.length, 20_000);
        const counts = tally(gateway.simulator.received.map((sms) => sms.text));
        const duplicates = [...counts.entries()].filter(([, count]) => count > 1);
        assert.ok(duplicates.length <= inFlight, `${duplicates.length} duplicates, ${inFlight} requests in flight`);
        assert.ok(
          duplicates.every(([text, count]) => inFlightTexts.has(text) && count === 2),
          'only what was in flight at the kill is sent again, and only once more',
        );
        const resumed = second.logs.find((line) => String(line.msg).startsWith('relay: resuming'));
        assert.equal(resumed?.sms, inFlight, 'the restart says how many SMS may reach the gateway twice');
        assert.equal(resumed?.possiblyTwice, inFlight, "and counts them as possibly sent twice, a Maildir's mail not");
      } finally {
        await second.stop();
      }
    } finally {
      await gateway.close();
    }
  });

  test('at a random moment under load: every mail answered 250 reaches the gateway', async () => {
    const gateway = await startSimulator();
    const { dir, env } = relayDir(gateway.url);
    const accepted: string[] = [];
    try {
      const first = await spawnRelay(dir, env);
      let next = 0;
      let killed = false;
      const client = async () => {
        while (!killed) {
          const text = `load ${next++}`;
          try {
            const result = await sendMail(first.smtpPort, { to: ['447700900300@sms.localhost', '447700900301@sms.localhost'], body: text });
            if (result.data?.code === 250) accepted.push(text);
          } catch {
            // the relay died mid-transaction: no 250, so the client still owns the mail
          }
        }
      };
      const clients = Array.from({ length: 4 }, client);
      try {
        await waitFor('some mail accepted', () => accepted.length >= 40, 60_000);
        await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 200)));
      } finally {
        // Also when the wait fails: the clients stop with the relay instead of looping for ever.
        await first.kill9();
        killed = true;
        await Promise.all(clients);
      }

      const second = await spawnRelay(dir, env);
      try {
        const want = new Set(accepted);
        await waitFor(
          'every 250-accepted mail at the gateway, for both numbers',
          () => {
            const got = new Set(gateway.simulator.received.map((sms) => `${sms.text}|${sms.to}`));
            return [...want].every((text) => got.has(`${text}|447700900300`) && got.has(`${text}|447700900301`));
          },
          20_000,
        );
      } finally {
        await second.stop();
      }
    } finally {
      await gateway.close();
    }
  });
});

describe('a request in flight when the relay stops', () => {
  for (const store of ['SQLite', 'PostgreSQL'] as const) {
    test(`${store}: smsrelay log says the attempt is under way, then (stopped past shutdownTimeout, or killed) that its answer is unknown and the gateway may have it, not "0 attempts"`, async (t) => {
      const url = store === 'PostgreSQL' ? await freshDatabase() : undefined;
      if (store === 'PostgreSQL' && url === undefined) return t.skip(POSTGRES_SKIP);
      const gateway = await startSimulator();
      gateway.simulator.setBehaviour({ mode: 'hang' });
      const { dir, env: own } = relayDir(gateway.url, { gateway: { responseTimeout: '60s' } });
      const env = { ...own, SMSRELAY_SHUTDOWN_TIMEOUT: '500ms', ...(url ? { SMSRELAY_DATABASE_URL: url } : {}) };
      const log = () => {
        const result = runCommand(dir, env, 'log', '+447700900150');
        assert.equal(result.status, 0, result.stderr);
        return result.stdout.split('\n')[1] ?? '';
      };
      /** The SMS's line, its attempts counted: the one under way, or cut off, among them. */
      const smsLine = (attempts: number, last: string) => new RegExp(`^ {2}\\+447700900150: queued, ${attempts} attempts?, the last ${last}`);
      const cutOff =
        "one's answer unknown \\(the relay sending it stopped, or was not heard from for 15 s, first; the gateway may have it, and it is sent again when that relay starts, or by another once the lease ends\\)";
      try {
        // Stopped past shutdownTimeout: the stop records itself at once.
        const stopped = await spawnRelay(dir, env);
        const sent = await sendMail(stopped.smtpPort, { to: ['447700900150@sms.localhost'], body: 'in flight at the stop' });
        assert.equal(sent.data?.code, 250, sent.data?.text);
        await waitFor('the request held by the gateway', () => gateway.simulator.received.length === 1);
        assert.match(log(), smsLine(1, 'being sent now \\(its answer due by \\d{4}-'), 'while the relay runs');
        await stopped.stop();
        assert.match(log(), smsLine(1, cutOff), 'once it stopped');
        // Killed: known gone once its heartbeat is stale (RELAY_STALE_MS). The restart sends it again, counted.
        const killed = await spawnRelay(dir, env);
        await waitFor('the request sent again, held by the gateway', () => gateway.simulator.received.length === 2);
        assert.match(log(), smsLine(2, 'being sent now'), 'while the restarted relay runs');
        await killed.kill9();
        await waitFor('the log saying the answer is unknown', () => smsLine(2, cutOff).test(log()), 30_000);
      } finally {
        await gateway.close();
        removeDir(dir);
      }
    });
  }
});
