import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Dispatcher } from '../../src/dispatch/dispatcher.ts';
import { createLogger } from '../../src/log.ts';
import { openThreadedStore } from '../../src/store/threaded.ts';
import type { Store } from '../../src/store/types.ts';
import { simulatorRoute, TEST_DISPATCH_POLICY } from '../helpers/gateway.ts';
import { startSimulator } from '../helpers/relay.ts';
import { mail, storeFile } from '../helpers/store.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

const SLOTS = 4;
/** Long enough that no idle wait ends within a test: every claim it sees comes from the loop's own cadence. */
const IDLE_WAIT_MS = 60_000;
/** After the last outcome: time for any claim the loop would still make. */
const SETTLE_MS = 300;

/** What the dispatcher asked of the store (a real SQLite file): each claim and what it took, and the outcomes recorded. */
interface Counted {
  readonly claims: number[];
  outcomes: number;
}

/** A dispatcher on a real store file and IntelliSoftware's simulator over HTTP, its claims counted. */
async function harness(): Promise<{ dispatcher: Dispatcher; store: Store; counted: Counted }> {
  const store = await openThreadedStore({ file: storeFile(), busyTimeoutMs: 1_000 });
  cleanups.push(() => store.close());
  const counted: Counted = { claims: [], outcomes: 0 };
  const claimDueSms: Store['claimDueSms'] = async (request) => {
    const batches = await store.claimDueSms(request);
    counted.claims.push(batches.length);
    return batches;
  };
  const recordSmsOutcomes: Store['recordSmsOutcomes'] = async (outcomes, queued) => {
    const late = await store.recordSmsOutcomes(outcomes, queued);
    counted.outcomes += outcomes.length;
    return late;
  };
  const counting = new Proxy(store, {
    get: (target, property) => {
      if (property === 'claimDueSms') return claimDueSms;
      if (property === 'recordSmsOutcomes') return recordSmsOutcomes;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const gatewayServer = await startSimulator();
  cleanups.push(() => gatewayServer.close());
  const { gateway, routing } = simulatorRoute(gatewayServer.url, { connections: SLOTS, responseTimeoutMs: 5_000 });
  cleanups.push(() => gateway.close());
  const dispatcher = new Dispatcher({
    store: counting,
    routing,
    logger: createLogger('silent'),
    owner: 'cadence',
    maxConcurrentRequests: SLOTS,
    leaseMs: 60_000,
    idleWaitMs: IDLE_WAIT_MS,
    ...TEST_DISPATCH_POLICY,
  });
  cleanups.push(() => dispatcher.stop());
  return { dispatcher, store, counted };
}

test('between the mails of a light load the dispatcher claims once per mail: not again after a claim that took less than it could, nor when the slot frees or the outcome commits', async () => {
  const { dispatcher, store, counted } = await harness();
  dispatcher.start();
  await waitFor('the first claim', () => counted.claims.length === 1 || undefined);
  for (let sent = 1; sent <= 3; sent++) {
    await store.acceptMail(mail([`+44770090070${sent}`], { receivedAt: Date.now() }));
    dispatcher.kick();
    await waitFor(`SMS ${sent} recorded`, () => counted.outcomes === sent || undefined);
    await sleep(SETTLE_MS);
  }
  // The start's claim found nothing; each mail's kick one claim, which took its SMS.
  assert.deepEqual(counted.claims, [0, 1, 1, 1]);
});

test('a claim that fills the free slots is followed by another as the slots free, until one takes less than it could: a backlog is sent whole', async () => {
  const { dispatcher, store, counted } = await harness();
  const backlog = 3 * SLOTS + 1;
  for (let index = 0; index < backlog; index++) await store.acceptMail(mail([`+4477009008${String(index).padStart(2, '0')}`], { receivedAt: Date.now() }));
  dispatcher.start();
  await waitFor('the backlog recorded', () => counted.outcomes === backlog || undefined);
  await sleep(SETTLE_MS);
  assert.equal(
    counted.claims.reduce((sum, taken) => sum + taken, 0),
    backlog,
  );
  assert.ok((counted.claims.at(-1) ?? 0) < SLOTS, JSON.stringify(counted.claims));
});
