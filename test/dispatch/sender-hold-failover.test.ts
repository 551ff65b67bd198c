import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Dispatcher } from '../../src/dispatch/dispatcher.ts';
import { outcomeClassifier } from '../../src/dispatch/outcomes.ts';
import type { Gateway, SmsSubmission } from '../../src/providers/contract.ts';
import { openThreadedStore } from '../../src/store/threaded.ts';
import { TEST_DISPATCH_POLICY } from '../helpers/gateway.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { mail, storeFile } from '../helpers/store.ts';
import { waitFor } from '../helpers/relay.ts';

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/**
 * A batch of several numbers to a provider of two hosts, where the first host answers one number "the sender's queue
 * is full" (a holdsSender rule) and the other "could not connect": the second goes to the provider's next host at
 * once. (The full queue left the whole provider for the round, so the number moved on to its next host was never
 * asked there and waited without an outcome for its lease to end.)
 */

test("one provider, two hosts: a number failed over from a host in the answer that said the sender's queue is full is sent by the next host", async () => {
  const calls: string[] = [];
  const gateway: Gateway = {
    provider: 'multi',
    capabilities: { maxRecipientsPerRequest: 10, maxParts: 6 },
    endpoints: ['h1', 'h2'],
    start: async () => undefined,
    health: () => ({ ok: true }) as never,
    close: async () => undefined,
    async send(submission: SmsSubmission, endpoint: number) {
      calls.push(`${endpoint}:${submission.recipients.join(',')}`);
      if (endpoint === 0) {
        const [n1, n2] = submission.recipients as [string, string];
        return {
          kind: 'answered',
          results: [
            { number: n1, code: 'FULL' },
            { number: n2, code: 'ECONNREFUSED', failure: 'connect' as const },
          ],
        };
      }
      return { kind: 'answered', results: submission.recipients.map((number) => ({ number, code: 'OK', providerId: `id-${number}` })) };
    },
  };
  const rules = [
    { match: /^recipient\/FULL$/, action: 'retry' as const, category: 'sender-busy', reason: 'sender queue full', holdsSender: true as const },
    { match: /^recipient\/OK$/, action: 'sent' as const, category: 'sent', reason: 'ok' },
  ];
  const provider = { name: 'multi', gateway, outcomes: outcomeClassifier(rules), sessions: false };
  const route = [provider];
  const store = await openThreadedStore({ file: storeFile(), busyTimeoutMs: 1_000 });
  cleanups.push(() => store.close());
  const { logger, lines } = captureLog('debug');
  const clock = { now: Date.parse('2026-12-05T10:00:00Z'), monotonic: 0 };
  const dispatcher = new Dispatcher({
    store,
    routing: { providers: [provider], providersOf: () => route },
    logger,
    owner: 'o',
    maxConcurrentRequests: 2,
    leaseMs: 60_000,
    ...TEST_DISPATCH_POLICY,
    clock: () => clock.now,
    monotonic: () => clock.monotonic,
  });
  cleanups.push(() => dispatcher.stop());
  const queued = mail(['+447700900001', '+447700900002'], { receivedAt: clock.now });
  await store.acceptMail({ ...queued, sms: { ...queued.sms, senderId: 'BULK' } });
  dispatcher.start();
  dispatcher.kick();
  await waitFor('the next host asked', () => calls.length === 2, 5_000);
  assert.deepEqual(calls, ['0:+447700900001,+447700900002', '1:+447700900002']);
  await waitFor('its outcome recorded', async () => (await store.smsOf(queued.id)).find((sms) => sms.number === '+447700900002')?.status === 'sent', 5_000);
  const first = (await store.smsOf(queued.id)).find((sms) => sms.number === '+447700900001');
  assert.equal(first?.status, 'queued', "the full sender's number waits for the hold's probe");
  assert.ok(!lines.some((line) => /lease/.test(line)), 'nothing waits for its lease');
});
