import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { Dispatcher } from '../../src/dispatch/dispatcher.ts';
import { outcomeClassifier } from '../../src/dispatch/outcomes.ts';
import { type DispatchRouting, singleProvider } from '../../src/dispatch/routing.ts';
import { RELAY_STALL_MS } from '../../src/dispatch/silence.ts';
import { Metrics } from '../../src/metrics.ts';
import { lateAnswerLine } from '../../src/owed-outcomes.ts';
import { puzzelPlugin } from '../../src/providers/puzzel/index.ts';
import { openThreadedStore } from '../../src/store/threaded.ts';
import type { Store } from '../../src/store/types.ts';
import { simulatorRoute, TEST_DISPATCH_POLICY, TEST_GATEWAY_SETTINGS } from '../helpers/gateway.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { ReplayServer } from '../helpers/replay-server.ts';
import { gatewayYaml, killSpawnedRelays, relayEnvironment, removeDir, spawnRelay, startSimulator, startTestRelay, tempDir, waitFor } from '../helpers/relay.ts';
import { queuedId, sendMail } from '../helpers/smtp.ts';
import { mail, storeFile } from '../helpers/store.ts';
import { sleep } from '../helpers/wait.ts';

/**
 * Issue #13 items 3 and 7: the dispatcher against a real store file and a real gateway over HTTP
 * (IntelliSoftware's simulator), with an injected clock so that leases and hangs of minutes take
 * milliseconds. The store fault is real: another connection holds SQLite's write lock (as an
 * operator's sqlite3 shell would), so every write of the relay fails after its busy timeout.
 */

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  killSpawnedRelays();
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** A write that finds the lock taken fails after this long (the relay's default is 1 s). */
const BUSY_TIMEOUT_MS = 100;

interface Harness {
  readonly store: Store;
  readonly file: string;
  readonly simulator: Awaited<ReturnType<typeof startSimulator>>['simulator'];
  readonly dispatcher: Dispatcher;
  readonly lines: string[];
  readonly metrics: Metrics;
  /**
   * The dispatcher's clocks, moved by the test only: `now` is the wall clock; the monotonic one moves with it
   * but for `stepped`, the steps of the wall clock alone a test made (an NTP step, a VM restore).
   */
  readonly clock: { now: number; stepped: number };
  /** Queues a mail to one number, received now by the dispatcher's clock. */
  accept(number: string): Promise<string>;
}

/** A dispatcher on a real store file, sending through `route` (by default IntelliSoftware's simulator's). */
async function harness(responseTimeoutMs = 60_000, route?: DispatchRouting): Promise<Harness> {
  const file = storeFile();
  const store = await openThreadedStore({ file, busyTimeoutMs: BUSY_TIMEOUT_MS });
  cleanups.push(() => store.close());
  const gatewayServer = await startSimulator();
  cleanups.push(() => gatewayServer.close());
  const { gateway, routing } = simulatorRoute(gatewayServer.url, { connections: 4, responseTimeoutMs });
  cleanups.push(() => gateway.close());
  // Debug: each outcome the store could not take is a debug line (docs/operations.md, the store outage).
  const { logger, lines } = captureLog('debug');
  const clock = { now: Date.parse('2026-12-02T10:00:00Z'), stepped: 0 };
  const metrics = new Metrics(store);
  const dispatcher = new Dispatcher({
    store,
    routing: route ?? routing,
    logger,
    owner: 'test-owner',
    maxConcurrentRequests: 4,
    leaseMs: 1_000 + responseTimeoutMs,
    ...TEST_DISPATCH_POLICY,
    clock: () => clock.now,
    monotonic: () => clock.now - clock.stepped,
    metrics,
  });
  cleanups.push(() => dispatcher.stop());
  return {
    store,
    file,
    simulator: gatewayServer.simulator,
    dispatcher,
    lines,
    metrics,
    clock,
    async accept(number) {
      const queued = mail([number], { receivedAt: clock.now });
      await store.acceptMail(queued);
      dispatcher.kick();
      return queued.id;
    },
  };
}

/** The log lines (parsed) whose message matches. */
function logged(lines: readonly string[], pattern: RegExp): Array<{ level: string; msg: string } & Record<string, unknown>> {
  return lines.map((line) => JSON.parse(line) as { level: string; msg: string }).filter((entry) => pattern.test(entry.msg));
}

/** Another connection takes SQLite's write lock and holds it until released. */
function lockWrites(file: string): { release(): void } {
  const db = new BetterSqlite3(file);
  db.exec('BEGIN IMMEDIATE');
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    db.exec('ROLLBACK');
    db.close();
  };
  cleanups.push(release);
  return { release };
}

describe('an outcome the store cannot take (issue #13 item 3)', () => {
  test('is kept in memory and recorded as soon as the store takes writes again: the SMS is not sent twice', async () => {
    const h = await harness();
    h.simulator.setBehaviour({ mode: 'hang', times: 1 });
    h.dispatcher.start();
    const id = await h.accept('+447700900301');
    await waitFor('the request in flight', () => h.simulator.pendingRequests === 1, 3_000);
    const lock = lockWrites(h.file);
    h.simulator.releaseHanging();
    const [failure] = await waitFor(
      'the failed record',
      () => {
        const found = logged(h.lines, /could not record/);
        return found.length > 0 && found;
      },
      3_000,
    );
    // The store's outage, not a bug: a debug line with the store's code and reason, no stack.
    assert.equal(failure?.level, 'debug');
    assert.match(failure?.msg ?? '', /not sent again/);
    assert.deepEqual([failure?.code, 'err' in (failure ?? {})], ['STORE_BUSY', false]);
    assert.match(String(failure?.reason), /database is locked/);
    assert.equal(h.dispatcher.held().length, 1, 'the owed SMS stays among the leases the heartbeat renews');
    // Long past the lease: a claim now would take the SMS again if the relay had let it go.
    h.clock.now += 10 * 60_000;
    await sleep(300);
    lock.release();
    const [state] = await waitFor(
      'the outcome recorded',
      async () => {
        const sms = await h.store.smsOf(id);
        return sms[0]?.status === 'sent' && sms;
      },
      3_000,
    );
    await sleep(300);
    assert.equal(h.simulator.received.length, 1, 'the gateway got the SMS once');
    assert.equal(state?.attempts, 1);
    assert.equal(state?.possibleDuplicates, 0);
    assert.equal(logged(h.lines, /recorded now that the store takes writes again/).length, 1);
    assert.deepEqual(
      (await h.store.events(id)).map((event) => event.kind),
      ['accepted', 'sent'],
    );
  });

  test('while an outcome waits for the store, nothing new is claimed', async () => {
    const h = await harness();
    h.dispatcher.start();
    h.simulator.setBehaviour({ mode: 'hang', times: 1 });
    const first = await h.accept('+447700900302');
    await waitFor('the request in flight', () => h.simulator.pendingRequests === 1, 3_000);
    const lock = lockWrites(h.file);
    h.simulator.releaseHanging();
    await waitFor('the failed record', () => logged(h.lines, /could not record/).length > 0, 3_000);
    // Released for a moment only: the claim must not take the new SMS before the outcome it owes.
    lock.release();
    const second = await h.accept('+447700900303');
    await waitFor('both sent', async () => (await h.store.smsOf(second))[0]?.status === 'sent', 3_000);
    const firstEvents = await h.store.events(first);
    const secondEvents = await h.store.events(second);
    const sentAt = (events: typeof firstEvents) => events.find((event) => event.kind === 'sent')?.at ?? Infinity;
    assert.ok(sentAt(firstEvents) <= sentAt(secondEvents), 'the owed outcome is written first');
    assert.equal(h.simulator.received.length, 2);
  });

  test("an SMS's line is told when its owed outcome is written, with how long it was owed and its retry counted from then", async () => {
    const h = await harness(300);
    h.simulator.setBehaviour({ mode: 'hang', times: 1 });
    h.dispatcher.start();
    await h.accept('+447700900305');
    await waitFor('the request in flight', () => h.simulator.pendingRequests === 1, 3_000);
    const lock = lockWrites(h.file);
    await waitFor('the outcome owed', () => logged(h.lines, /could not record/).length > 0, 3_000);
    assert.deepEqual(logged(h.lines, /^dispatch: SMS deferred/), [], 'not told before the store has it');
    // Owed past its retry time: the line must not say the retry is still ahead.
    h.clock.now += 10 * 60_000;
    lock.release();
    const [deferred] = await waitFor(
      'the line told',
      () => {
        const found = logged(h.lines, /^dispatch: SMS deferred/);
        return found.length > 0 && found;
      },
      3_000,
    );
    assert.equal(deferred?.owedMs, 10 * 60_000);
    assert.equal(deferred?.retryInMs, 0, 'due at once');
    assert.equal(deferred?.recorded, undefined);
  });

  test("a stop that cannot record an owed outcome still tells the SMS's line, as not recorded", async () => {
    const h = await harness(300);
    h.simulator.setBehaviour({ mode: 'hang', times: 1 });
    h.dispatcher.start();
    await h.accept('+447700900306');
    await waitFor('the request in flight', () => h.simulator.pendingRequests === 1, 3_000);
    lockWrites(h.file);
    await waitFor('the outcome owed', () => logged(h.lines, /could not record/).length > 0, 3_000);
    h.clock.now += 2_000;
    await h.dispatcher.stop();
    assert.equal(logged(h.lines, /could not be recorded before the stop/).length, 1);
    const told = logged(h.lines, /^dispatch: SMS deferred/);
    assert.deepEqual(
      told.map((line) => [line.recorded, line.owedMs, 'retryInMs' in line]),
      [[false, 2_000, false]],
    );
  });

  test('the line of an SMS the gateway took but holds is told like the others: when its owed outcome is written, with how long it was owed', async () => {
    // Puzzel's statusCode 24 (held until approved there), from a stand-in that answers once the store is locked.
    const puzzel = new ReplayServer({ contentType: 'application/json' });
    await puzzel.start();
    cleanups.push(() => puzzel.close());
    let answer = () => {};
    const answered = new Promise<void>((resolve) => {
      answer = resolve;
    });
    puzzel.respond = async (request) => {
      await answered;
      const [message] = (JSON.parse(request.body) as { message: Array<{ clientReference: string }> }).message;
      const held = { statusCode: 24, statusMessage: 'QUOTA_EXCEEDED', clientReference: message?.clientReference, messageId: 'm1', sequenceIndex: 1 };
      return { status: 200, body: JSON.stringify({ messageStatus: [held] }) };
    };
    const gateway = puzzelPlugin.createGateway({
      ...TEST_GATEWAY_SETTINGS,
      endpoints: [puzzel.url],
      username: 'acme',
      password: 'secret',
      accountId: '1000',
      sessions: false,
    });
    cleanups.push(() => gateway.close());
    const h = await harness(60_000, singleProvider({ name: 'puzzel', gateway, outcomes: outcomeClassifier(puzzelPlugin.outcomeRules), sessions: false }));
    h.dispatcher.start();
    await h.accept('+447700900307');
    await waitFor('the request in flight', () => puzzel.requests.length === 1, 3_000);
    const lock = lockWrites(h.file);
    answer();
    await waitFor('the outcome owed', () => logged(h.lines, /could not record/).length > 0, 3_000);
    assert.deepEqual(logged(h.lines, /^dispatch: SMS taken but held/), [], 'not told before the store has it');
    h.clock.now += 2_000;
    lock.release();
    const [held] = await waitFor(
      'the line told',
      () => {
        const found = logged(h.lines, /^dispatch: SMS taken but held/);
        return found.length > 0 && found;
      },
      3_000,
    );
    assert.deepEqual([held?.level, held?.owedMs, held?.recorded], ['warn', 2_000, undefined]);
  });

  test('if the relay dies while it owes the outcome, the next start sends the SMS again and counts it', async () => {
    const gateway = await startSimulator();
    cleanups.push(() => gateway.close());
    gateway.simulator.setBehaviour({ mode: 'hang', times: 1 });
    const dir = tempDir('smsrelay-owed-');
    cleanups.push(() => removeDir(dir));
    const yaml = { ...gatewayYaml(gateway.url), store: { busyTimeout: '100ms' } };
    const relay = await spawnRelay(dir, relayEnvironment(dir, yaml));
    const id = queuedId((await sendMail(relay.smtpPort, { to: ['447700900304@sms.localhost'], body: 'owed' })).data);
    await waitFor('the request in flight', () => gateway.simulator.pendingRequests === 1, 3_000);
    const lock = lockWrites(join(dir, 'data', 'smsrelay.db'));
    gateway.simulator.releaseHanging();
    // Logged at info, the outcome's debug line is not there: the store's outage line says its commit failed.
    await waitFor('the failed record', () => relay.logs.some((line) => String(line.msg).startsWith('store: commits fail')), 3_000);
    await relay.kill9();
    lock.release();
    const restarted = await startTestRelay(yaml, {}, dir);
    cleanups.push(() => restarted.stop());
    const [state] = await waitFor(
      'sent again',
      async () => {
        const sms = await restarted.relay.store.smsOf(id);
        return sms[0]?.status === 'sent' && sms;
      },
      3_000,
    );
    assert.equal(gateway.simulator.received.length, 2, 'the gateway got it twice');
    assert.equal(state?.possibleDuplicates, 1, 'and the relay says so');
  });
});

describe('a gateway that stops answering (issue #13 item 7)', () => {
  test('one warning per episode, however many requests hang, and one when it answers again', async () => {
    const h = await harness();
    h.simulator.setBehaviour({ mode: 'hang' });
    h.dispatcher.start();
    const ids: string[] = [];
    for (const number of ['+447700900311', '+447700900312', '+447700900313']) ids.push(await h.accept(number));
    await waitFor('three requests in flight', () => h.simulator.pendingRequests === 3, 3_000);
    assert.equal(logged(h.lines, /is not answering/).length, 0, 'nothing yet: the requests are young');
    h.clock.now += 11_000;
    const [warning] = await waitFor(
      'the warning',
      () => {
        const found = logged(h.lines, /is not answering/);
        return found.length > 0 && found;
      },
      2_000,
    );
    assert.equal(warning?.level, 'warn');
    assert.equal(warning?.inFlight, 3);
    h.clock.now += 30_000;
    await sleep(1_100);
    assert.equal(logged(h.lines, /is not answering/).length, 1, 'once per episode, not per request nor per check');
    h.simulator.setBehaviour({ mode: 'ok' });
    h.simulator.releaseHanging();
    const [recovered] = await waitFor(
      'the all-clear',
      () => {
        const found = logged(h.lines, /answers again/);
        return found.length > 0 && found;
      },
      2_000,
    );
    assert.equal(recovered?.level, 'warn');
    assert.equal(recovered?.silentMs, 41_000);
    for (const id of ids) await waitFor('each recorded', async () => (await h.store.smsOf(id))[0]?.status === 'sent', 2_000);
    assert.equal(logged(h.lines, /answers again/).length, 1);
    assert.equal(logged(h.lines, /is not answering/).length, 1);
  });
  // Frozen as SIGSTOP freezes it (the thread sleeps: no CPU), or busy with its own work (a loop on one mail's text).
  const freezes = {
    'stopped (its timers ran late, no CPU used)': [
      (until: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, until - performance.now()),
      (cpuMs: number) => cpuMs < (RELAY_STALL_MS + 1_500) / 2,
    ],
    'busy with its own work (its timers ran late while it used the CPU)': [
      (until: number) => {
        while (performance.now() < until);
      },
      (cpuMs: number) => cpuMs > 0,
    ],
  } as const;
  for (const [how, [freeze, used]] of Object.entries(freezes))
    test(`a relay that was itself ${how} names the stall and the CPU it used, and the gateway is not blamed for the wait`, async () => {
      const h = await harness();
      h.simulator.setBehaviour({ mode: 'hang' });
      h.dispatcher.start();
      const id = await h.accept('+447700900314');
      await waitFor('the request in flight', () => h.simulator.pendingRequests === 1, 3_000);
      h.clock.now += 8_000;
      await sleep(1_100);
      // Neither timers nor sockets run while the clock moves on past the gateway's allowance.
      // The check's timer, due up to a check's interval after the freeze began, runs late by the rest of it.
      const frozenMs = RELAY_STALL_MS + 1_500;
      h.clock.now += frozenMs;
      freeze(performance.now() + frozenMs);
      const [stalled] = await waitFor(
        'the stall',
        () => {
          const found = logged(h.lines, /dispatch: this relay/);
          return found.length > 0 && found;
        },
        2_000,
      );
      assert.equal(stalled?.level, 'warn');
      assert.match(
        String(stalled?.msg),
        /^dispatch: this relay's event loop did not run for \d+ s \(its timers ran that late\) while the relay used [\d.]+ s of CPU/,
      );
      assert.ok(used(Number(stalled?.cpuMs)), `the CPU it used meanwhile: ${stalled?.cpuMs} ms`);
      assert.ok(Number(stalled?.stalledMs) >= RELAY_STALL_MS, 'how long the relay itself did not run');
      h.simulator.setBehaviour({ mode: 'ok' });
      h.simulator.releaseHanging();
      await waitFor('recorded', async () => (await h.store.smsOf(id))[0]?.status === 'sent', 2_000);
      assert.deepEqual([logged(h.lines, /is not answering/).length, logged(h.lines, /answers again/).length], [0, 0]);
    });
});

describe('a step of the wall clock while requests wait (findings/crash.md, round 22, 3)', () => {
  test('is no wait of the gateway: no silence warning, and the request took as long in the log and in smsrelay_gateway_request_seconds as it did', async () => {
    const h = await harness();
    h.simulator.setBehaviour({ mode: 'hang' });
    h.dispatcher.start();
    const id = await h.accept('+447700900316');
    await waitFor('the request in flight', () => h.simulator.pendingRequests === 1, 3_000);
    const stepMs = 5 * 60_000;
    h.clock.now += stepMs;
    h.clock.stepped += stepMs;
    // Past a check of the requests in flight (every second).
    await sleep(1_100);
    h.simulator.setBehaviour({ mode: 'ok' });
    h.simulator.releaseHanging();
    await waitFor('recorded', async () => (await h.store.smsOf(id))[0]?.status === 'sent', 2_000);
    assert.deepEqual([logged(h.lines, /is not answering/).length, logged(h.lines, /answers again/).length], [0, 0]);
    const [answered] = logged(h.lines, /gateway answered/);
    assert.ok(Number(answered?.ms) < 1_000, `the request took ${answered?.ms} ms by the log`);
    const seconds = (await h.metrics.gatewaySeconds.get()).values.find((value) => value.metricName === 'smsrelay_gateway_request_seconds_sum');
    assert.ok(seconds && seconds.value < 1, `the request took ${seconds?.value} s by the metric`);
  });
});

describe('a store outage while the gateway is paused (findings/cluster.md 1)', () => {
  test('a probe taken when the claim of its SMS failed is given back: once the store works, the probe goes and the pause ends', async () => {
    const h = await harness();
    h.simulator.setBehaviour({ mode: 'error', code: 'LOGIN_INVALID' });
    h.dispatcher.start();
    const id = await h.accept('+447700900321');
    await waitFor('the pause', () => logged(h.lines, /sending paused/).length > 0, 3_000);
    h.simulator.setBehaviour({ mode: 'ok' });
    // The store fails as the probe comes due: the probe is taken (this relay decides alone), the claim of its SMS fails.
    const lock = lockWrites(h.file);
    h.clock.now += TEST_DISPATCH_POLICY.pauseProbeIntervalMs;
    h.dispatcher.kick();
    await waitFor('the failed claim', () => logged(h.lines, /the store fails; nothing is claimed/).length > 0, 3_000);
    lock.release();
    await waitFor('the probe sent and recorded', async () => (await h.store.smsOf(id))[0]?.status === 'sent', 5_000);
    // The pause ends once the probe's outcome is committed, a moment after the SMS reads as sent (the shared pause is written after it).
    await waitFor('the pause ended', () => logged(h.lines, /accepts the account again; sending resumed/).length > 0 || undefined, 2_000);
    h.dispatcher.kick();
    await sleep(50);
    assert.equal(logged(h.lines, /accepts the account again; sending resumed/).length, 1, 'said once');
  });
});

/**
 * relay-b beside the harness's relay-a, on the same store, with a gateway (simulator) of its own, started
 * once relay-a's lease is past (the clock moved a minute): it takes relay-a's SMS over.
 */
async function startRelayB(h: Harness, responseTimeoutMs: number) {
  const other = await startSimulator();
  cleanups.push(() => other.close());
  const { gateway, routing } = simulatorRoute(other.url, { connections: 4, responseTimeoutMs });
  cleanups.push(() => gateway.close());
  const { logger, lines } = captureLog('debug');
  const relayB = new Dispatcher({
    store: h.store,
    routing,
    logger,
    owner: 'relay-b',
    maxConcurrentRequests: 4,
    leaseMs: 1_000 + responseTimeoutMs,
    ...TEST_DISPATCH_POLICY,
    clock: () => h.clock.now,
  });
  cleanups.push(() => relayB.stop());
  h.clock.now += 60_000;
  relayB.start();
  return { other, lines };
}

describe('a late answer of a relay whose SMS another relay took over (findings/cluster.md 2)', () => {
  test("changes nothing of the provider's shared state: no pause for every relay from a failure of its own stall", async () => {
    // relay-a's request outlives its lease (as a relay frozen past delivery.leaseTtl), then fails with no answer.
    const responseTimeoutMs = 1_500;
    const h = await harness(responseTimeoutMs);
    h.simulator.setBehaviour({ mode: 'hang' });
    h.dispatcher.start();
    const id = await h.accept('+447700900331');
    await waitFor('relay-a’s request in flight', () => h.simulator.pendingRequests === 1, 3_000);
    // Past relay-a's lease: relay-b takes the SMS over and sends it.
    const { other } = await startRelayB(h, responseTimeoutMs);
    // Generous: under the whole suite on 2 cores relay-b's first claim, request and commit took over 3 s twice.
    await waitFor('sent by relay-b', async () => (await h.store.smsOf(id))[0]?.status === 'sent', 10_000);
    await waitFor('relay-a’s late answer kept', async () => (await h.store.events(id)).some((event) => event.kind === 'late answer'), 5_000);
    // Its batch ends only once its view of the provider is noted (and, on its lease, shared): then nothing more comes.
    await waitFor('relay-a’s batch done', () => h.dispatcher.held().length === 0, 5_000);
    assert.deepEqual((await h.store.gatewayState(h.clock.now)).pauses, [], 'no pause shared with every relay');
    assert.equal(logged(h.lines, /sending paused/).length, 0);
    assert.equal(other.simulator.received.length, 1);
    // Its timeout is told as the late answer it is, as the mailer tells one, not as a retry it will never make.
    assert.deepEqual(logged(h.lines, /^dispatch: SMS (deferred|failed|expired)/), []);
    assert.deepEqual(
      logged(h.lines, /^dispatch: late answer/).map((line) => [line.level, line.msg]),
      [['warn', lateAnswerLine({ loop: 'dispatch', item: 'SMS' })]],
    );
  });

  test('owed while the store failed, then written: told as a late answer, not counted among the outcomes recorded', async () => {
    const responseTimeoutMs = 10_000;
    const h = await harness(responseTimeoutMs);
    h.simulator.setBehaviour({ mode: 'hang', times: 1 });
    h.dispatcher.start();
    const id = await h.accept('+447700900332');
    await waitFor('relay-a’s request in flight', () => h.simulator.pendingRequests === 1, 3_000);
    await startRelayB(h, responseTimeoutMs);
    await waitFor('sent by relay-b', async () => (await h.store.smsOf(id))[0]?.status === 'sent', 10_000);
    // relay-a's gateway answers while it cannot write: the outcome is owed, then written once the store takes writes.
    const lock = lockWrites(h.file);
    h.simulator.releaseHanging();
    await waitFor('the outcome owed', () => logged(h.lines, /could not record/).length > 0, 3_000);
    lock.release();
    const [recorded] = await waitFor(
      'the owed outcome written',
      () => {
        const found = logged(h.lines, /recorded now that the store takes writes again/);
        return found.length > 0 && found;
      },
      5_000,
    );
    assert.deepEqual([recorded?.sms, recorded?.late], [0, 1]);
    assert.deepEqual(
      logged(h.lines, /^dispatch: late answer/).map((line) => line.level),
      ['warn'],
    );
    assert.ok((await h.store.events(id)).some((event) => event.kind === 'late answer'));
  });
});

describe('several SMS taken over at once (findings/cluster.md 4, round 2)', () => {
  test("one takeover line with how many; the cut-off relay's late answers count no outcome", async () => {
    const responseTimeoutMs = 1_500;
    const h = await harness(responseTimeoutMs);
    h.simulator.setBehaviour({ mode: 'hang' });
    h.dispatcher.start();
    const ids = [await h.accept('+447700900341'), await h.accept('+447700900342'), await h.accept('+447700900343')];
    await waitFor('relay-a’s requests in flight', () => h.simulator.pendingRequests === 3, 3_000);
    const { lines: relayBLines } = await startRelayB(h, responseTimeoutMs);
    for (const id of ids) {
      await waitFor('sent by relay-b', async () => (await h.store.smsOf(id))[0]?.status === 'sent', 10_000);
      await waitFor('relay-a’s late answer kept', async () => (await h.store.events(id)).some((event) => event.kind === 'late answer'), 5_000);
    }
    await waitFor('relay-a’s batches done', () => h.dispatcher.held().length === 0, 5_000);
    const takeovers = logged(relayBLines, /taking over SMS/);
    assert.deepEqual(
      takeovers.map((line) => [line.numbers, line.from]),
      [[3, ['test-owner']]],
    );
    // relay-a's requests timed out after relay-b took their SMS: late answers, not retries (docs/operations.md).
    assert.deepEqual((await h.metrics.smsOutcomes.get()).values, []);
  });
});

describe('shared state writes failing while cut off from the store (findings/cluster.md 4, round 2)', () => {
  test('one warning for the outage, not one per failed write', async () => {
    const h = await harness(1_000);
    h.simulator.setBehaviour({ mode: 'hang' });
    h.dispatcher.start();
    for (const number of ['+447700900351', '+447700900352', '+447700900353']) await h.accept(number);
    await waitFor('the requests in flight', () => h.simulator.pendingRequests === 3, 3_000);
    const lock = lockWrites(h.file);
    // Every request times out with the store locked: each batch's failure writes the shared host and pause state.
    await waitFor('the failed writes', () => logged(h.lines, /shared pause or failover state could not be written/).length >= 3, 5_000);
    lock.release();
    const lines = logged(h.lines, /shared pause or failover state could not be written/);
    assert.deepEqual(
      lines.map((line) => line.level).filter((level) => level !== 'debug'),
      ['warn'],
    );
  });
});
