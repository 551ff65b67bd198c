import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { Store } from '../../src/store/types.ts';
import { replyAnswer } from '../helpers/store.ts';
import { forEachStore } from '../helpers/stores.ts';

/**
 * A mail's outcome is applied only on the lease it was claimed on (Store.recordMailOutcome's `owner`):
 * relay-a, frozen or cut off past its lease, writes its outcome after relay-b took the mail over.
 */

const answer = replyAnswer('in-late');

forEachStore((kind) =>
  describe('store: a mail outcome from a relay whose lease was taken over', () => {
    let store: Store;
    beforeEach(async () => {
      store = await kind.fresh();
    });
    afterEach(async () => {
      await store.close();
    });

    test("changes nothing of the mail nor of its SMS: a late retry frees no lease, a late failure ends no other relay's delivery; each is a history line", async () => {
      await store.acceptInbound(answer);
      const now = Date.now();
      // relay-a's lease has ended when relay-b claims (relay-a froze): no real wait, on either clock.
      const [claimedByA] = await store.claimDueMail({ owner: 'relay-a', now, leaseUntil: now - 1_000, limit: 5 });
      assert.ok(claimedByA);
      const [claimedByB] = await store.claimDueMail({ owner: 'relay-b', now, leaseUntil: now + 60_000, limit: 5 });
      assert.equal(claimedByB?.id, claimedByA.id);

      assert.equal(await store.recordMailOutcome({ id: claimedByA.id, kind: 'retry', nextAttemptAt: 0, error: '451 4.3.0 try later' }, 'relay-a'), 'late');
      assert.deepEqual(await store.claimDueMail({ owner: 'relay-c', now, leaseUntil: now + 60_000, limit: 5 }), [], "relay-b's lease stands");
      assert.equal(await store.recordMailOutcome({ id: claimedByA.id, kind: 'failed', error: '550 5.1.1 no such user' }, 'relay-a'), 'late');
      assert.deepEqual(await store.undeliverableInbound(10), [], 'the SMS keeps its mailbox');

      assert.equal(await store.recordMailOutcome({ id: claimedByA.id, kind: 'sent', response: '250 2.0.0 queued as B' }, 'relay-b'), 'recorded');
      // Past the mail's end, its lease is nobody's: relay-a's answer is still only history.
      assert.equal(await store.recordMailOutcome({ id: claimedByA.id, kind: 'failed', error: '550 5.7.1 rejected' }, 'relay-a'), 'late');
      assert.deepEqual(await store.undeliverableInbound(10), []);
      assert.deepEqual(
        await kind.rows(`SELECT status, last_error, CAST(attempts AS INTEGER) AS attempts, lease_owner FROM mail_out WHERE id = ${claimedByA.id}`),
        [{ status: 'sent', last_error: null, attempts: 2, lease_owner: null }],
        "relay-b's outcome, relay-a's attempt counted by the takeover",
      );
      assert.deepEqual(
        (await store.events('in-late')).map((event) => [event.kind, event.detail]),
        [
          ['reply queued', `mail ${claimedByA.id} to alice@example.com`],
          ['mail taken over', 'lease of relay relay-a expired: sent again by relay-b, possibly a duplicate'],
          ['late answer', 'from relay-a, after its lease was taken over: mail deferred: 451 4.3.0 try later'],
          ['late answer', 'from relay-a, after its lease was taken over: mail failed: 550 5.1.1 no such user'],
          ['mail sent', '250 2.0.0 queued as B'],
          ['late answer', 'from relay-a, after its lease was taken over: mail failed: 550 5.7.1 rejected'],
        ],
      );
    });

    test('the relay holding the lease records its outcome; a retry frees the mail for any relay', async () => {
      await store.acceptInbound(answer);
      const now = Date.now();
      const [claimed] = await store.claimDueMail({ owner: 'relay-a', now, leaseUntil: now + 60_000, limit: 5 });
      assert.ok(claimed);
      assert.equal(await store.recordMailOutcome({ id: claimed.id, kind: 'retry', nextAttemptAt: 0, error: '451 4.3.0 try later' }, 'relay-a'), 'recorded');
      const [again] = await store.claimDueMail({ owner: 'relay-b', now, leaseUntil: now + 60_000, limit: 5 });
      assert.equal(again?.id, claimed.id);
      assert.equal(await store.recordMailOutcome({ id: claimed.id, kind: 'failed', error: '550 5.1.1 no such user' }, 'relay-b'), 'recorded');
      assert.deepEqual(
        (await store.undeliverableInbound(10)).map((row) => row.id),
        ['in-late'],
        "the refused reply's SMS is listed for a reroute",
      );
    });
  }),
);
