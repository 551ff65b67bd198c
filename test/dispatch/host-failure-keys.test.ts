import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Dispatcher } from '../../src/dispatch/dispatcher.ts';
import { outcomeClassifier } from '../../src/dispatch/outcomes.ts';
import { singleProvider } from '../../src/dispatch/routing.ts';
import { createLogger } from '../../src/log.ts';
import { intellisoftwarePlugin } from '../../src/providers/intellisoftware/index.ts';
import { openThreadedStore } from '../../src/store/threaded.ts';
import { TEST_DISPATCH_POLICY, TEST_GATEWAY_SETTINGS } from '../helpers/gateway.ts';
import { GATEWAY_ACCOUNT, waitFor } from '../helpers/relay.ts';
import { ReplayServer } from '../helpers/replay-server.ts';
import { mail, storeFile } from '../helpers/store.ts';

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** A dispatcher ("relay") named `owner` on `store`, sending through IntelliSoftware's adapter to `urls`, primary first. */
function relayOn(store: Awaited<ReturnType<typeof openThreadedStore>>, owner: string, urls: readonly string[]): Dispatcher {
  const gateway = intellisoftwarePlugin.createGateway({
    ...TEST_GATEWAY_SETTINGS,
    endpoints: urls,
    ...GATEWAY_ACCOUNT,
    accountId: undefined,
    sessions: false,
    connectionsPerEndpoint: 1,
  });
  cleanups.push(() => gateway.close());
  const dispatcher = new Dispatcher({
    store,
    routing: singleProvider({ name: 'intellisoftware', gateway, outcomes: outcomeClassifier(intellisoftwarePlugin.outcomeRules), sessions: false }),
    logger: createLogger('silent'),
    owner,
    maxConcurrentRequests: 1,
    leaseMs: 60_000,
    ...TEST_DISPATCH_POLICY,
  });
  cleanups.push(() => dispatcher.stop());
  return dispatcher;
}

/**
 * The failure of a gateway host is shared by every relay on the database, kept by a key of the URL as configured: two
 * relays whose hosts differ only in a query value (each account's `?key=` at an API gateway in front of the provider),
 * shown alike (`?key=***`), are two hosts. (Keyed by the URL shown, one account's failure made the other skip its
 * host, which worked.)
 */
test("a host failed for one account's ?key= is not skipped by a relay sending with another key", async () => {
  const front = await new ReplayServer({ contentType: 'text/plain' }).start();
  const backup = await new ReplayServer({ contentType: 'text/plain', answer: { status: 200, body: 'ID:backup-1' } }).start();
  cleanups.push(
    () => front.close(),
    () => backup.close(),
  );
  // The API gateway refuses the first account's key for now (a 503: the request did not get through), takes the other's.
  front.respond = (request) => (request.path.includes('key=first') ? { status: 503, body: 'down' } : { status: 200, body: 'ID:front-1' });
  const store = await openThreadedStore({ file: storeFile(), busyTimeoutMs: 1_000 });
  cleanups.push(() => store.close());

  const first = relayOn(store, 'relay-a', [`${front.url}/gw?key=first`, `${backup.url}/gw`]);
  const one = mail(['+447700900001'], { receivedAt: Date.now() });
  await store.acceptMail(one);
  first.start();
  first.kick();
  await waitFor('the first relay sent by its backup', async () => (await store.smsOf(one.id))[0]?.status === 'sent', 10_000);
  assert.equal(backup.requests.length, 1, 'its primary failed, and was failed over from');
  assert.equal((await store.gatewayState(Date.now())).failures.length, 1, 'the failure is kept for every relay');

  const second = relayOn(store, 'relay-b', [`${front.url}/gw?key=second`, `${backup.url}/gw`]);
  const two = mail(['+447700900002'], { receivedAt: Date.now() });
  await store.acceptMail(two);
  second.start();
  second.kick();
  await waitFor('the second relay sent', async () => (await store.smsOf(two.id))[0]?.status === 'sent', 10_000);
  assert.deepEqual(
    front.requests.map((request) => request.path.replace(/^.*\?/, '')),
    ['key=first', 'key=second'],
    'the second key was asked at its own primary',
  );
  assert.equal(backup.requests.length, 1, 'not at the backup');
  assert.equal((await store.gatewayState(Date.now())).failures.length, 1, "the first key's failure stays its own");
});
