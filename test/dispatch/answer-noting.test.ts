/**
 * A batch's answer noted without the pause/probe bookkeeping (no pause or probe known to this relay): the answer
 * still ends a pause another relay began before the request, and a probe taken for a provider the batch did not ask
 * is given back.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Dispatcher } from '../../src/dispatch/dispatcher.ts';
import type { DispatchRouting } from '../../src/dispatch/routing.ts';
import { openThreadedStore } from '../../src/store/threaded.ts';
import type { Store } from '../../src/store/types.ts';
import type { Logger } from 'pino';
import { simulatorRoute, TEST_DISPATCH_POLICY } from '../helpers/gateway.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { startSimulator } from '../helpers/relay.ts';
import { mail, storeFile } from '../helpers/store.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** A dispatcher on `store` and `routing` whose clocks read `clock.now`, started, stopped after the file. */
function startDispatcher(store: Store, routing: DispatchRouting, logger: Logger, clock: { now: number }): Dispatcher {
  const dispatcher = new Dispatcher({
    store,
    routing,
    logger,
    owner: 'test-owner',
    maxConcurrentRequests: 4,
    leaseMs: 11_000,
    ...TEST_DISPATCH_POLICY,
    clock: () => clock.now,
    monotonic: () => clock.now,
  });
  cleanups.push(() => dispatcher.stop());
  dispatcher.start();
  return dispatcher;
}

test('a plain answer noted by #sendBatch (no pause known) ends a pause another relay began before the request', async () => {
  const store = await openThreadedStore({ file: storeFile(), busyTimeoutMs: 100 });
  cleanups.push(() => store.close());
  const server = await startSimulator();
  cleanups.push(() => server.close());
  const { gateway, routing } = simulatorRoute(server.url, { connections: 4, responseTimeoutMs: 10_000 });
  cleanups.push(() => gateway.close());
  const { logger, lines } = captureLog('debug');
  const clock = { now: Date.parse('2026-12-02T10:00:00Z') };
  const dispatcher = startDispatcher(store, routing, logger, clock);
  await sleep(1_200);
  const sentAt = clock.now;
  const queued = mail(['+447700900341'], { receivedAt: clock.now });
  await store.acceptMail(queued);
  dispatcher.kick();
  await waitFor('sent', async () => (await store.smsOf(queued.id))[0]?.status === 'sent', 10_000);
  // Another relay paused the provider just before this relay's request went (this relay had not read it yet).
  await store.pauseAccount('intellisoftware', 'ERR:GATEWAY_DOWN: every host down', 60_000, sentAt - 1);
  clock.now += 1_000;
  // Its next read of the shared state finds the pause outlived and ends it for every relay.
  await waitFor(
    'pause ended',
    async () => {
      dispatcher.kick();
      return (await store.gatewayState(clock.now)).pauses.length === 0;
    },
    8_000,
  );
  assert.ok(lines.some((line) => line.includes('sending resumed')));
});

test("a due probe of the route's second provider, taken but not needed (the first answered), is given back", async () => {
  const store = await openThreadedStore({ file: storeFile(), busyTimeoutMs: 100 });
  cleanups.push(() => store.close());
  const providers: DispatchRouting['providers'][number][] = [];
  for (const name of ['one', 'two']) {
    const server = await startSimulator();
    cleanups.push(() => server.close());
    const { gateway, routing } = simulatorRoute(server.url, { connections: 4, responseTimeoutMs: 10_000 });
    cleanups.push(() => gateway.close());
    providers.push({ ...routing.providers[0]!, name });
  }
  const routing: DispatchRouting = { providers, providersOf: () => providers };
  const { logger } = captureLog('debug');
  const clock = { now: Date.parse('2026-12-02T10:00:00Z') };
  // Paused by another relay 70 s ago, probe every 60 s: due.
  await store.pauseAccount('two', 'ERR:GATEWAY_DOWN: every host down', 60_000, clock.now - 70_000);
  const dispatcher = startDispatcher(store, routing, logger, clock);
  await sleep(300);
  const queued = mail(['+447700900351'], { receivedAt: clock.now });
  await store.acceptMail(queued);
  dispatcher.kick();
  await waitFor('sent', async () => (await store.smsOf(queued.id))[0]?.status === 'sent', 10_000);
  await waitFor('batch done', () => dispatcher.held().length === 0, 5_000);
  await sleep(300);
  // Another relay may take the probe now: this relay gave back the one it did not use.
  assert.equal(await store.claimProbe('two', 60_000, clock.now), 'probe');
});
