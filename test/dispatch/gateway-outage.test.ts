import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { status } from '../../src/admin.ts';
import { Dispatcher } from '../../src/dispatch/dispatcher.ts';
import { Metrics } from '../../src/metrics.ts';
import { type DispatchProvider, type DispatchRouting, singleProvider } from '../../src/dispatch/routing.ts';
import { openThreadedStore } from '../../src/store/threaded.ts';
import { simulatorRoute, TEST_DISPATCH_POLICY } from '../helpers/gateway.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { mail, storeFile } from '../helpers/store.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

/**
 * A gateway that is down (503, or refusing connections) or busy (429 with Retry-After), with a queue
 * behind it: the relay holds the provider and probes it with one SMS at a time, rather than each
 * SMS retrying on its own schedule (which hammered the gateway with thousands of requests a second
 * at a large queue). The clock is injected: a window of minutes passes in a few real seconds.
 */

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

type Mode = 'down503' | 'proxy504' | 'busy' | 'refused400' | 'account401' | 'ok';

/** The busy gateway's Retry-After. */
const RETRY_AFTER_SECONDS = '30';

/** An IntelliSoftware-format gateway that counts the requests it gets, and the numbers it took. */
async function countingGateway(
  mode: Mode,
  port = 0,
): Promise<{ server: Server; url: string; state: { mode: Mode; retryAfter: boolean; requests: number; taken: string[] } }> {
  const state = { mode, retryAfter: true, requests: 0, taken: [] as string[] };
  let id = 1000;
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on('end', () => {
      state.requests++;
      if (state.mode === 'down503') {
        response.writeHead(503).end('Service Unavailable');
        return;
      }
      if (state.mode === 'proxy504') {
        response.writeHead(504, { 'content-type': 'text/html' }).end('<html><head><title>504 Gateway Time-out</title></head><body>nginx</body></html>');
        return;
      }
      if (state.mode === 'account401') {
        response.writeHead(401).end('Unauthorized');
        return;
      }
      if (state.mode === 'refused400') {
        response.writeHead(400).end('Bad Request');
        return;
      }
      if (state.mode === 'busy') {
        response.writeHead(429, state.retryAfter ? { 'retry-after': RETRY_AFTER_SECONDS } : {}).end('Too Many Requests');
        return;
      }
      const to = (new URLSearchParams(body).get('to') ?? '').split(',').filter(Boolean);
      state.taken.push(...to);
      response.writeHead(200, { 'content-type': 'text/plain' }).end(to.map((number) => `${number},ID:${++id}`).join('\n'));
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, state };
}

/** A port nothing listens on: a connection to it is refused. */
async function refusingPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const QUEUED = 20;
const SLOTS = 4;

/** An IntelliSoftware provider named `name` on the gateway at `url`. */
function providerAt(url: string, name = 'intellisoftware'): DispatchProvider {
  const { gateway, routing } = simulatorRoute(url, { connections: SLOTS, responseTimeoutMs: 5_000 });
  cleanups.push(() => gateway.close());
  return { ...(routing.providers[0] as DispatchProvider), name };
}

/** A dispatcher on a store of its own, `queued` SMS (one a mail) already queued for it; `random` decides the backoff's jitter. */
async function relayOn(url: string, options: { routing?: DispatchRouting; queued?: number; random?: () => number; maxAgeMs?: number } = {}) {
  const { routing = singleProvider(providerAt(url)), queued = QUEUED, random, maxAgeMs } = options;
  const store = await openThreadedStore({ file: storeFile(), busyTimeoutMs: 1_000 });
  cleanups.push(() => store.close());
  const { logger, lines } = captureLog('info');
  const clock = { now: Date.parse('2026-12-05T10:00:00Z') };
  const dispatcher = new Dispatcher({
    store,
    routing,
    logger,
    owner: 'test-owner',
    maxConcurrentRequests: SLOTS,
    leaseMs: 60_000,
    ...TEST_DISPATCH_POLICY,
    ...(maxAgeMs === undefined ? {} : { retry: { ...TEST_DISPATCH_POLICY.retry, maxAgeMs } }),
    clock: () => clock.now,
    ...(random ? { random } : {}),
  });
  cleanups.push(() => dispatcher.stop());
  const ids: string[] = [];
  /** Queues a mail to one number, received now by the dispatcher's clock. */
  const accept = async (number: string) => {
    const queuedMail = mail([number], { receivedAt: clock.now });
    await store.acceptMail(queuedMail);
    ids.push(queuedMail.id);
    dispatcher.kick();
    return queuedMail.id;
  };
  const numbers = Array.from({ length: queued }, (_, index) => `4477009${String(index).padStart(5, '0')}`);
  for (const number of numbers) await accept(number);
  dispatcher.start();
  /** Moves the injected clock through `windowMs` a step at a time, letting the dispatcher act at each. */
  const pass = async (windowMs: number, stepMs = 1_000) => {
    for (let passed = 0; passed < windowMs; passed += stepMs) {
      clock.now += stepMs;
      dispatcher.kick();
      await sleep(5);
    }
    await sleep(100);
  };
  return { store, dispatcher, lines, clock, numbers, ids, pass, accept };
}

/** Everything queued goes once the gateway is back: each number exactly once. */
async function allSentOnce(relay: Awaited<ReturnType<typeof relayOn>>, taken: () => readonly string[], queued = QUEUED): Promise<void> {
  await waitFor('every SMS sent', async () => {
    await relay.pass(5_000);
    return (await relay.store.nextSmsDueAt()) === undefined && taken().length >= queued;
  });
  assert.deepEqual([...taken()].sort(), relay.numbers);
}

function messages(lines: readonly string[]): Array<{ level: string; msg: string; result?: string; alert?: string; code?: string }> {
  return lines.map((line) => JSON.parse(line) as { level: string; msg: string; result?: string; alert?: string; code?: string });
}

/**
 * A queue of QUEUED SMS for the only host, answering `mode` for 10 minutes of the dispatcher's clock: the first claim's
 * slots, then one probe at 5 s, 5 s, 10 s, 20 s, 40 s, then every 60 s (retryMaxDelay), and the provider's status line.
 */
async function heldForTenMinutes(mode: Mode) {
  const gateway = await countingGateway(mode);
  const relay = await relayOn(gateway.url);
  await relay.pass(10 * 60_000);
  assert.ok(gateway.state.requests <= SLOTS + 14, `${gateway.state.requests} requests in 10 minutes with ${QUEUED} SMS queued`);
  const sms = (await Promise.all(relay.ids.map((id) => relay.store.smsOf(id)))).flat();
  const statusLine = await status(relay.store, relay.clock.now, { pid: undefined, name: 'here', database: false });
  const total = (field: 'attempts' | 'possibleDuplicates') => sms.reduce((sum, entry) => sum + entry[field], 0);
  return { gateway, relay, sms, statusLine, total };
}

describe('a gateway that is down is held and probed, not hammered', () => {
  test('503 from the only host: at most one probe at a time, at growing intervals; everything goes once after', async () => {
    const { gateway, relay, sms, statusLine, total } = await heldForTenMinutes('down503');
    assert.equal(total('attempts'), gateway.state.requests, 'an SMS is charged the attempts that reached the gateway, not the time it was held');
    for (const entry of sms) if (entry.lastError !== undefined) assert.match(entry.lastError, /^HTTP_503: /, 'the last error is the last real one');
    // Status and metrics show the provider paused, and why.
    assert.match(
      statusLine,
      /^dispatch: paused for intellisoftware since 2026-12-05T10:00:00\.\d{3}Z \(HTTP_503: the SMS gateway had a temporary problem\); next probe /m,
    );
    const metrics = new Metrics(relay.store);
    assert.match(await metrics.registry.metrics(), /^smsrelay_gateway_paused_seconds\{provider="intellisoftware"\} \d/m);
    gateway.state.mode = 'ok';
    gateway.state.requests = 0;
    await allSentOnce(relay, () => gateway.state.taken);
    const logged = messages(relay.lines);
    assert.equal(logged.filter((line) => line.msg.startsWith('dispatch: sending paused, every host of the gateway failed')).length, 1);
    assert.equal(logged.filter((line) => line.msg === 'dispatch: the gateway answers again; sending resumed').length, 1);
    assert.doesNotMatch(await metrics.registry.metrics(), /^smsrelay_gateway_paused_seconds\{/m, 'sending again');
  });

  test("a proxy's 504 from the only host: held and probed alike, each probe a possible duplicate; everything goes once after", async () => {
    const { gateway, relay, statusLine } = await heldForTenMinutes('proxy504');
    // The last probe's outcome may still be on its way to the store (after the host's failure is): waited for, not raced.
    await waitFor('the gateway behind the proxy may have taken each request: a possible duplicate each', async () => {
      const sms = (await Promise.all(relay.ids.map((id) => relay.store.smsOf(id)))).flat();
      return sms.reduce((sum, entry) => sum + entry.possibleDuplicates, 0) === gateway.state.requests;
    });
    assert.match(
      statusLine,
      /^dispatch: paused for intellisoftware since .+ \(HTTP_504: a proxy in front of the SMS gateway got no valid answer from it in time; the message may have been sent\); next probe /m,
    );
    gateway.state.mode = 'ok';
    await allSentOnce(relay, () => gateway.state.taken);
  });

  test('a refused connection: held alike, logged as could not be reached; everything goes once when it listens again', async () => {
    const port = await refusingPort();
    const relay = await relayOn(`http://127.0.0.1:${port}`);
    // The dispatcher's line per request that ended without an answer.
    const connects = () => messages(relay.lines).filter((line) => line.result === 'unreachable');
    await relay.pass(10 * 60_000);
    assert.ok(connects().length >= 1 && connects().length <= SLOTS + 14, `${connects().length} connects in 10 minutes with ${QUEUED} SMS queued`);
    for (const line of connects()) assert.equal(line.msg, 'dispatch: the SMS gateway could not be reached');
    const gateway = await countingGateway('ok', port);
    await allSentOnce(relay, () => gateway.state.taken);
  });

  test('429 with Retry-After: 30 holds every SMS of the provider for 30 s, not only the one answered', async () => {
    const gateway = await countingGateway('busy');
    const relay = await relayOn(gateway.url);
    await relay.pass(1_000);
    const first = gateway.state.requests;
    assert.ok(first >= 1 && first <= SLOTS);
    await relay.pass(28_000);
    assert.equal(gateway.state.requests, first, 'nothing is sent during the wait the gateway asked for');
    // Room for the 429 itself to have been committed a few steps late on a loaded machine; the probe after
    // this one, still answered 429 with Retry-After: 30, would come 30 s later.
    await relay.pass(10_000);
    await waitFor('then one probe', () => gateway.state.requests > first);
    await sleep(200);
    assert.equal(gateway.state.requests, first + 1, 'then one probe');
    gateway.state.mode = 'ok';
    await allSentOnce(relay, () => gateway.state.taken);
  });

  test('429 without Retry-After holds the provider as well, probed from retryMinDelay at growing intervals', async () => {
    const gateway = await countingGateway('busy');
    gateway.state.retryAfter = false;
    const relay = await relayOn(gateway.url);
    await relay.pass(10 * 60_000);
    assert.ok(gateway.state.requests <= SLOTS + 14, `${gateway.state.requests} requests in 10 minutes with ${QUEUED} SMS queued`);
    assert.equal(messages(relay.lines).filter((line) => line.msg.startsWith('dispatch: sending paused, the gateway asked the relay to wait')).length, 1);
    gateway.state.mode = 'ok';
    await allSentOnce(relay, () => gateway.state.taken);
  });

  test('a busy gateway that comes back refusing the account raises the account alert once, not at each probe', async () => {
    const gateway = await countingGateway('busy');
    const relay = await relayOn(gateway.url);
    const alerts = () => messages(relay.lines).filter((line) => line.alert === 'gateway-account');
    await relay.pass(1_000);
    gateway.state.mode = 'account401';
    // The probe after the 30 s asked for is refused; the next ones (a minute apart) alike.
    await relay.pass(3 * 60_000);
    assert.ok(gateway.state.requests >= SLOTS + 2, `${gateway.state.requests} requests: several probes refused`);
    assert.deepEqual(
      alerts().map((line) => [line.level, line.code]),
      [['error', 'HTTP_401']],
      'one error line as the reason becomes the account',
    );
    gateway.state.mode = 'ok';
    await allSentOnce(relay, () => gateway.state.taken);
  });

  test("an SMS held without a request (another route's provider sends) keeps its attempts and its last real error, and comes due with the probe", async () => {
    const down = await countingGateway('refused400');
    const up = await countingGateway('ok');
    const [held, other] = [providerAt(down.url, 'down'), providerAt(up.url, 'up')] as [DispatchProvider, DispatchProvider];
    const routing: DispatchRouting = { providers: [held, other], providersOf: (number) => (number.startsWith('44') ? [held] : [other]) };
    // No jitter: the first retry is retryMinDelay (5 s) after the attempt.
    const relay = await relayOn(down.url, { routing, queued: 0, random: () => 0 });
    const first = await relay.accept('447700900001');
    await relay.pass(1_000);
    assert.equal(down.state.requests, 1, 'a 400 (this request refused): that SMS is retried with backoff, the provider not paused');
    down.state.mode = 'down503';
    await relay.accept('447700900002');
    await relay.pass(1_000);
    assert.equal(down.state.requests, 2, 'the 503 pauses the provider: its probe is 5 s away');
    // The first SMS comes due at 5 s, before the probe at 6 s: claimed (the other provider sends), held without a request.
    await relay.pass(4_000, 500);
    assert.equal(down.state.requests, 2);
    const [state] = await relay.store.smsOf(first);
    assert.equal(state?.attempts, 1);
    assert.match(state?.lastError ?? '', /^HTTP_400: /, 'the last error is the last real one');
    down.state.mode = 'ok';
    await allSentOnce({ ...relay, numbers: ['447700900001', '447700900002'] }, () => down.state.taken, 2);
  });

  test('an SMS reaching its maximum age while the provider is paused bounces at that age, not at the next probe', async () => {
    const gateway = await countingGateway('account401');
    // The account pause's probe is a minute away (pauseProbeInterval); the SMS live 30 s.
    const relay = await relayOn(gateway.url, { queued: 0, maxAgeMs: 30_000 });
    const tried = await relay.accept('447700900001');
    await relay.pass(1_000);
    assert.equal(gateway.state.requests, 1, 'refused: the provider is paused');
    await relay.pass(4_000);
    const untried = await relay.accept('447700900002');
    await relay.pass(27_000);
    const [first] = await relay.store.smsOf(tried);
    assert.equal(first?.status, 'expired', 'given up at 30 s, with the probe still 30 s away');
    assert.match(first?.lastError ?? '', /^the relay could not send it before it was too old to be useful \(1 attempt, the last: HTTP_401: /);
    assert.equal((await relay.store.smsOf(untried))[0]?.status, 'queued', 'not yet at its age');
    await relay.pass(6_000);
    assert.equal((await relay.store.smsOf(untried))[0]?.status, 'expired', 'one queued during the pause, never tried, too');
    assert.equal(gateway.state.requests, 1, 'no request: the probe is not due yet');
  });
});
