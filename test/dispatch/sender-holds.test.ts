import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { Dispatcher } from '../../src/dispatch/dispatcher.ts';
import { outcomeClassifier } from '../../src/dispatch/outcomes.ts';
import type { DispatchProvider } from '../../src/dispatch/routing.ts';
import { createTwilioGateway } from '../../src/providers/twilio/adapter.ts';
import { twilioPlugin } from '../../src/providers/twilio/index.ts';
import { openThreadedStore } from '../../src/store/threaded.ts';
import { TEST_DISPATCH_POLICY, TEST_GATEWAY_SETTINGS } from '../helpers/gateway.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { mail, storeFile } from '../helpers/store.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

/**
 * Twilio's 21611 for a mail's own sender (its From's queue full) over real HTTP, the dispatcher on a real
 * SQLite store with an injected clock: that sender's SMS wait without requests for one probe at a time,
 * the other senders' SMS go on, and such an answer neither starts nor ends the provider's busy hold.
 */

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

const BULK = '+447700900999';
const OTHER = '+447700900888';
const SLOTS = 4;

type Answer = 'full' | 'busy' | 'invalid' | 'gone' | 'created';

/**
 * A Twilio Messages API answering each send as `answer` says for its From and To: its queue full (21611), busy (429),
 * the number invalid (21211), the Messaging Service sent from deleted (21705), or created.
 */
async function twilioGateway(answer: (from: string, to: string) => Answer) {
  const state = { answer, requests: new Map<string, number>(), taken: [] as string[] };
  let id = 0;
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const form = new URLSearchParams(body);
      // A mail naming its own Messaging Service has no From: the service is its sender.
      const from = form.get('From') ?? form.get('MessagingServiceSid') ?? '';
      const to = form.get('To') ?? '';
      state.requests.set(from, (state.requests.get(from) ?? 0) + 1);
      const reply = (status: number, json: object) => response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
      const answered = state.answer(from, to);
      if (answered === 'invalid') return reply(400, { code: 21211, message: "The 'To' number is not a valid phone number.", status: 400 });
      if (answered === 'busy') return reply(429, { code: 20429, message: 'Too Many Requests', status: 429 });
      if (answered === 'gone') return reply(400, { code: 21705, message: 'The Messaging Service Sid is invalid.', status: 400 });
      if (answered === 'full') return reply(400, { code: 21611, message: 'This From number has exceeded the maximum number of queued messages', status: 400 });
      state.taken.push(to);
      reply(201, { sid: `SM${String(++id).padStart(32, '0')}`, status: 'queued' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, state };
}

/** A Twilio gateway at `urls` (its hosts, in order). */
function twilioAt(urls: readonly string[]) {
  const gateway = createTwilioGateway({
    ...TEST_GATEWAY_SETTINGS,
    endpoints: [...urls],
    username: `AC${'0'.repeat(32)}`,
    password: 'token',
    accountId: undefined,
    sessions: false,
    connectionsPerEndpoint: SLOTS,
    settings: { messagingServiceSid: `MG${'1'.repeat(32)}` },
  });
  cleanups.push(() => gateway.close());
  return { name: 'twilio', gateway, outcomes: outcomeClassifier(twilioPlugin.outcomeRules), sessions: false, senderQueue: twilioPlugin.senderQueue };
}

/** The dispatcher sending through `providers` (a route's, in order; one Twilio at `url` when a string). */
async function relayOn(url: string | readonly DispatchProvider[], retry = TEST_DISPATCH_POLICY.retry) {
  const providers = typeof url === 'string' ? [twilioAt([url])] : url;
  const store = await openThreadedStore({ file: storeFile(), busyTimeoutMs: 1_000 });
  cleanups.push(() => store.close());
  const { logger, lines } = captureLog('info');
  // The wall clock and the monotonic one, moved together unless a test steps the wall clock as NTP would.
  const clock = { now: Date.parse('2026-12-05T10:00:00Z'), monotonic: 0 };
  const dispatcher = new Dispatcher({
    store,
    routing: { providers, providersOf: () => providers },
    logger,
    owner: 'test-owner',
    maxConcurrentRequests: SLOTS,
    leaseMs: 60_000,
    ...TEST_DISPATCH_POLICY,
    retry,
    clock: () => clock.now,
    monotonic: () => clock.monotonic,
  });
  cleanups.push(() => dispatcher.stop());
  let sequence = 0;
  /** Queues a mail to one number (`number`, else the next of a series) from `senderId`, received now by the dispatcher's clock. */
  const accept = async (senderId: string, number = `+4477009${String(++sequence).padStart(5, '0')}`) => {
    const queued = mail([number], { receivedAt: clock.now });
    await store.acceptMail({ ...queued, sms: { ...queued.sms, senderId } });
    dispatcher.kick();
    return queued.id;
  };
  /** Moves the injected clock through `windowMs` a step at a time, letting the dispatcher act at each. */
  const pass = async (windowMs: number, stepMs = 1_000) => {
    for (let passed = 0; passed < windowMs; passed += stepMs) {
      clock.now += stepMs;
      clock.monotonic += stepMs;
      dispatcher.kick();
      await sleep(5);
    }
    await sleep(100);
  };
  return { store, dispatcher, lines, pass, accept, clock };
}

const messages = (lines: readonly string[]) => lines.map((line) => JSON.parse(line) as { msg: string });

describe("a sender's own queue full (Twilio 21611 for its From)", () => {
  test("holds that sender's SMS for one probe at a time, at growing intervals; the others' go at once, and its SMS all go once it drains", async () => {
    const gateway = await twilioGateway((from) => (from === BULK ? 'full' : 'created'));
    const relay = await relayOn(gateway.url);
    const bulk = [];
    for (let index = 0; index < 20; index++) bulk.push(await relay.accept(BULK));
    relay.dispatcher.start();
    await relay.pass(2_000);
    for (let index = 0; index < 3; index++) await relay.accept(OTHER);
    await waitFor("the other sender's SMS sent", async () => {
      await relay.pass(1_000);
      return gateway.state.taken.length === 3;
    });
    await relay.pass(10 * 60_000);
    // Each SMS retrying on its own backoff made ~20 × 14 requests in 10 minutes; one probe at 5 s, 5 s, 10 s … 60 s makes ~14.
    const full = gateway.state.requests.get(BULK) ?? 0;
    assert.ok(full <= SLOTS + 16, `${full} requests for the full sender in 10 minutes with 20 SMS queued`);
    const sms = (await Promise.all(bulk.map((id) => relay.store.smsOf(id)))).flat();
    assert.equal(
      sms.reduce((sum, entry) => sum + entry.attempts, 0),
      full,
      'an SMS is charged the requests that reached the gateway, not the time it was held',
    );
    for (const entry of sms) if (entry.lastError !== undefined) assert.match(entry.lastError, /^TWILIO:21611:MAIL_SENDER: /);
    gateway.state.answer = () => 'created';
    await waitFor('every SMS sent', async () => {
      await relay.pass(5_000);
      return (await relay.store.nextSmsDueAt()) === undefined;
    });
    assert.equal(gateway.state.taken.length, 23);
    assert.equal(new Set(gateway.state.taken).size, 23, 'each number once');
  });

  test('a refusal of one number (21211) leaves the hold: a bulk list with a few bad numbers is held as one without', async () => {
    const bad = new Set(['+447700800001', '+447700800002', '+447700800003', '+447700800004']);
    const gateway = await twilioGateway((from, to) => (bad.has(to) ? 'invalid' : from === BULK ? 'full' : 'created'));
    const relay = await relayOn(gateway.url);
    const numbers = [...bad];
    // The bad numbers among the others, as in a real list.
    for (let index = 0; index < 20; index++) await relay.accept(BULK, index % 5 === 4 ? numbers.pop() : undefined);
    relay.dispatcher.start();
    await relay.pass(10 * 60_000);
    // As without bad numbers (~20); when each bad number that went as the probe ended the hold, ~25.
    const full = gateway.state.requests.get(BULK) ?? 0;
    assert.ok(full <= SLOTS + 16, `${full} requests for the full sender in 10 minutes with 20 SMS queued, 4 to bad numbers`);
  });

  test('a step of the wall clock back (NTP) does not hold the sender for its length: the probe is due by the monotonic clock', async () => {
    const gateway = await twilioGateway((from) => (from === BULK ? 'full' : 'created'));
    const relay = await relayOn(gateway.url);
    for (let index = 0; index < SLOTS; index++) await relay.accept(BULK);
    relay.dispatcher.start();
    await relay.pass(2_000);
    const before = gateway.state.requests.get(BULK) ?? 0;
    assert.ok(before > 0, 'the sender is held');
    relay.clock.now -= 3_600_000;
    await relay.accept(BULK);
    await relay.pass(2 * 60_000);
    assert.ok((gateway.state.requests.get(BULK) ?? 0) > before, 'a probe went within 2 minutes, not an hour later');
  });

  test("a held SMS waits for the hold's probe, however far: not claimed and logged again at each pause probe interval", async () => {
    const gateway = await twilioGateway((from) => (from === BULK ? 'full' : 'created'));
    // Probes grow to gateway.failoverRecovery (5 minutes), five pause probe intervals.
    const relay = await relayOn(gateway.url, { ...TEST_DISPATCH_POLICY.retry, maxDelayMs: 600_000 });
    for (let index = 0; index < 20; index++) await relay.accept(BULK);
    relay.dispatcher.start();
    await relay.pass(15 * 60_000, 2_000);
    const deferred = () => messages(relay.lines).filter((line) => line.msg.startsWith('dispatch: SMS deferred')).length;
    const before = deferred();
    await relay.pass(10 * 60_000, 2_000);
    // Two probes, each with 19 SMS held again; claimed every minute, they were some 200.
    assert.ok(deferred() - before <= 2 * 20 + 5, `${deferred() - before} SMS deferred in 10 minutes with 20 SMS held, probed every 5 minutes`);
  });

  test("the SMS answered so fails over at once to the route's next provider, through none of the full one's other hosts", async () => {
    const full = await twilioGateway(() => 'full');
    const backup = await twilioGateway(() => 'full');
    const other = await twilioGateway(() => 'created');
    const relay = await relayOn([twilioAt([full.url, backup.url]), { ...twilioAt([other.url]), name: 'twilio-b' }]);
    await relay.accept(BULK);
    relay.dispatcher.start();
    // Less than delivery.retryMinDelay: not a retry's backoff.
    await relay.pass(2_000);
    assert.equal(other.state.taken.length, 1, 'sent by the next provider at once');
    assert.equal(full.state.requests.get(BULK), 1);
    assert.equal(backup.state.requests.get(BULK), undefined, "the queue is the sender's at the provider, whichever host");
  });

  test('a Messaging Service SID is one sender whatever the case of its hex digits, as Twilio and the adapter take it', async () => {
    const service = `MG${'abcdef01'.repeat(4)}`;
    const gateway = await twilioGateway((from) => (from === service ? 'full' : 'created'));
    const relay = await relayOn(gateway.url);
    await relay.accept(`MG${'ABCDEF01'.repeat(4)}`);
    relay.dispatcher.start();
    await relay.pass(2_000);
    assert.equal(gateway.state.requests.get(service), 1);
    await relay.accept(`MG${'ABCDEF01'.repeat(2)}${'abcdef01'.repeat(2)}`);
    // Less than delivery.retryMinDelay: no probe due yet.
    await relay.pass(2_000);
    assert.equal(gateway.state.requests.get(service), 1, 'the other spelling is held with the first');
  });

  test('a failure of the held sender itself (its Messaging Service deleted while full) ends the hold: its SMS all fail at once, not one at each probe', async () => {
    const service = `MG${'abcdef02'.repeat(4)}`;
    const gateway = await twilioGateway((from) => (from === service ? 'full' : 'created'));
    const relay = await relayOn(gateway.url);
    const held = [];
    for (let index = 0; index < 10; index++) held.push(await relay.accept(service));
    relay.dispatcher.start();
    await relay.pass(2 * 60_000);
    gateway.state.answer = (from) => (from === service ? 'gone' : 'created');
    // One probe (at most a minute away now), then the others at once: well inside three minutes.
    await relay.pass(3 * 60_000);
    const states = (await Promise.all(held.map((id) => relay.store.smsOf(id)))).flat().map((sms) => sms.status);
    assert.deepEqual(states, Array(10).fill('failed'), `${states.filter((state) => state === 'failed').length} of 10 failed`);
  });

  test("neither ends nor starts the provider's busy hold: a probe answered so leaves it held", async () => {
    const gateway = await twilioGateway(() => 'busy');
    const relay = await relayOn(gateway.url);
    for (let index = 0; index < 8; index++) await relay.accept(BULK);
    await relay.accept(OTHER);
    relay.dispatcher.start();
    await relay.pass(2_000);
    assert.equal(messages(relay.lines).filter((line) => line.msg.startsWith('dispatch: sending paused, the gateway asked the relay to wait')).length, 1);
    // Twilio now answers the full sender's SMS with its queue full, and is still busy for everyone else.
    gateway.state.answer = (from) => (from === BULK ? 'full' : 'busy');
    await relay.pass(5 * 60_000);
    assert.ok((gateway.state.requests.get(BULK) ?? 0) >= 1, 'a probe went with the full sender');
    assert.deepEqual(
      messages(relay.lines)
        .filter((line) => /sending (paused|resumed)/.test(line.msg))
        .map((line) => line.msg.replace(/ \(.*$/, '')),
      ['dispatch: sending paused, the gateway asked the relay to wait'],
      "the provider's hold is neither ended nor started again by a sender's queue",
    );
    assert.equal(gateway.state.taken.length, 0);
  });
});
