/**
 * The bench's nginx gateway (bench/gateway-nginx.ts): Debian's nginx answering the relay's real
 * IntelliSoftware adapter `ID:…`, and what it tells the bench — every SMS counted (one per recipient),
 * each SMS's text and arrival time — asked alike of the simulator's gateway process; then a relay
 * started as the bench starts it, loaded by the bench's own client, end to end to it. Nothing is left
 * behind. Without nginx and its echo module (apt-get install nginx libnginx-mod-http-echo; .ci/run
 * does) the nginx parts skip loudly; under CI=true that is a failure.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { load, textOf } from '../bench/client.ts';
import { nginxInstalled } from '../bench/gateway-nginx-install.ts';
import { type BenchGateway, type GatewayKind, startGateway } from '../bench/gateways.ts';
import { awaitArrivals, GATEWAY_ACCOUNT, gatewayCount, jsonLine } from '../bench/harness.ts';
import { relayCounters, startRelay } from '../bench/processes.ts';
import { waitFor } from './helpers/wait.ts';
import { createLogger } from '../src/log.ts';
import type { Gateway } from '../src/providers/contract.ts';
import { createIntelliSoftwareGateway } from '../src/providers/intellisoftware/adapter.ts';

const installed = nginxInstalled();
if (!installed) {
  // The simulator's half still runs.
  process.stderr.write('\n*** NO NGINX: THE BENCH NGINX GATEWAY TESTS ARE SKIPPED *** apt-get install nginx libnginx-mod-http-echo\n\n');
  if (process.env.CI === 'true') throw new Error('CI=true and no nginx for the bench gateway tests (apt-get install -y nginx libnginx-mod-http-echo)');
}

type Times = Array<[string, number]>;
const NO_NGINX = installed ? false : 'no nginx (apt-get install nginx libnginx-mod-http-echo)';
/** nginx's `$request_id`; the simulator's vendor-like 20-digit ids. */
const ID_FORMS: Record<GatewayKind, RegExp> = { nginx: /^[0-9a-f]{32}$/, simulator: /^\d{20}$/ };

/** The relay's real IntelliSoftware adapter, sending to `url` with the bench's account. */
function benchAdapter(url: string): Gateway {
  return createIntelliSoftwareGateway({
    endpoints: [url],
    username: 'bench',
    password: 'bench-password',
    accountId: undefined,
    sessions: false,
    connectTimeoutMs: 1_000,
    responseTimeoutMs: 2_000,
    connectionsPerEndpoint: 2,
    logger: createLogger('silent'),
    settings: {},
  });
}

// The same questions to both gateway processes: the bench reads them alike.
for (const kind of ['nginx', 'simulator'] as const) {
  describe(`bench gateway (${kind}): what it tells the bench`, { skip: kind === 'nginx' && NO_NGINX }, () => {
    let gateway: BenchGateway;
    let adapter: Gateway;

    before(async () => {
      gateway = await startGateway(kind);
      adapter = benchAdapter(gateway.url);
    });

    after(async () => {
      await adapter?.close();
      await gateway?.child.stop();
    });

    test('answers each send an id of its own, and counts and times every SMS by its text', async () => {
      const sentFrom = Date.now();
      const plain = await adapter.send({ messageId: 'm-1', recipients: ['+447700900123'], text: 'Disk 91% on db-1 & more', encoding: 'gsm7', maxParts: 1 }, 0);
      const unicode = await adapter.send({ messageId: 'm-2', recipients: ['+447700900124'], text: 'Ünïcode 👋 alert', encoding: 'ucs2', maxParts: 1 }, 0);
      const two = await adapter.send(
        { messageId: 'm-3', recipients: ['+447700900125', '+447700900126'], text: 'two numbers', encoding: 'gsm7', maxParts: 1 },
        0,
      );
      const sentUntil = Date.now();
      const ids = [plain, unicode, two].map((result) => {
        assert.equal(result.kind, 'answered', JSON.stringify(result));
        return result.kind === 'answered' ? result.results.map((recipient) => [recipient.code, recipient.providerId]) : [];
      });
      for (const [code, id] of ids.flat()) {
        assert.equal(code, 'ID');
        assert.match(id ?? '', ID_FORMS[kind]);
      }
      assert.equal(new Set(ids.map((request) => request[0]?.[1])).size, 3, 'one id per request');

      assert.equal(await gatewayCount(gateway.child), 4, 'one SMS per recipient');
      const times = await jsonLine<Times>(gateway.child, 'times');
      assert.deepEqual(
        times.map(([text]) => text),
        ['Disk 91% on db-1 & more', 'Ünïcode 👋 alert', 'two numbers', 'two numbers'],
      );
      for (const [, at] of times) assert.ok(at >= sentFrom - 1 && at <= sentUntil + 1, `arrival ${at} within ${sentFrom}..${sentUntil}`);
      // "times" handed them over: the count stays, the next "times" has only what came since.
      assert.equal(await gatewayCount(gateway.child), 4);
      assert.deepEqual(await jsonLine<Times>(gateway.child, 'times'), []);
    });
  });
}

describe('bench gateway: nginx answering ID:…', { skip: NO_NGINX }, () => {
  let gateway: BenchGateway;

  before(async () => {
    gateway = await startGateway('nginx');
  });

  after(async () => {
    await gateway?.child.stop();
  });

  test('takes a relay started as the bench starts it end to end, every mail an SMS with its text', async () => {
    const before = await gatewayCount(gateway.child);
    gateway.child.process.stdin?.write('forget\n');
    const relay = await startRelay({ SMSRELAY_GATEWAY: 'intellisoftware', SMSRELAY_GATEWAY_URL: gateway.url, ...GATEWAY_ACCOUNT });
    try {
      const mails = 40;
      const run = await load({ port: relay.smtpPort, sessions: 4, mails, persistent: true, pipelining: true, label: 'nginx-e2e' });
      assert.equal(run.refusals.size, 0, JSON.stringify([...run.refusals]));
      assert.equal((await awaitArrivals(gateway.child, before + mails)) - before, mails);
      const texts = (await jsonLine<Times>(gateway.child, 'times')).map(([text]) => text).sort();
      assert.deepEqual(texts, Array.from({ length: mails }, (_, index) => textOf('nginx-e2e', index)).sort());
      // The relay took each `ID:` answer as sent (not as a refusal to retry), and nothing else.
      const outcomes = await waitFor('the relay counting its SMS sent', async () => {
        const counters = await relayCounters(relay);
        return (counters.get('smsrelay_sms_outcomes_total{outcome="sent"}') ?? 0) >= mails && counters;
      });
      assert.deepEqual(
        [...outcomes].filter(([name]) => name.startsWith('smsrelay_sms_outcomes_total')),
        [['smsrelay_sms_outcomes_total{outcome="sent"}', mails]],
      );
    } finally {
      await relay.stop();
    }
  });

  test('leaves no nginx process and no directory behind when stopped', async () => {
    const own = await startGateway('nginx');
    assert.ok(own.nginx, 'the nginx gateway names its master and directory');
    const { pid, dir } = own.nginx;
    // The master forks its worker after it answers: on a loaded machine, a moment after.
    const workers = await waitFor('nginx running a worker', () => {
      const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean);
      return children.length > 0 && children;
    });
    assert.ok(existsSync(dir));
    await own.child.stop();
    for (const process of [String(pid), ...workers]) assert.equal(existsSync(`/proc/${process}`), false, `nginx process ${process} still runs`);
    assert.equal(existsSync(dir), false, `${dir} left behind`);
  });

  test('leaves no nginx process behind when its gateway process is killed outright (an interrupted bench)', async () => {
    const own = await startGateway('nginx');
    assert.ok(own.nginx);
    const { pid, dir } = own.nginx;
    const workers = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean);
    try {
      own.child.process.kill('SIGKILL');
      for (const process of [String(pid), ...workers]) await waitFor(`nginx process ${process} gone`, () => !existsSync(`/proc/${process}`), 5_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
