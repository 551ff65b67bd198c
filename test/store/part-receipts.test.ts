/**
 * The parts of long SMS sent and their receipts, in the store (src/store/part-receipts-types.ts), on
 * SQLite and PostgreSQL: a part's receipt finds its SMS whichever store instance (relay) recorded the
 * parts, a receipt before its part is kept and joins the SMS when the parts are recorded, a part's
 * state moves forward only, all of it survives a restart, and two relays taking the last two parts'
 * receipts at once: the later one sees both.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { PartReceipt, PartsOfSms } from '../../src/store/part-receipts-types.ts';
import type { Store } from '../../src/store/types.ts';
import { forEachStore } from '../helpers/stores.ts';

const PHONE = '+447700900123';
const SMPP = 'smpp';

const sent = (providerId: string, partIds: readonly string[], sentAt = 1_000) => ({ provider: SMPP, providerId, number: PHONE, partIds, sentAt });
const receipt = (partId: string, state: PartReceipt['state'], receivedAt: number, extra: Partial<PartReceipt> = {}): PartReceipt => ({
  provider: SMPP,
  partId,
  number: PHONE,
  state,
  code: state === 'failed' ? 1 : 0,
  receivedAt,
  ...extra,
});
const states = (sms: PartsOfSms) => sms.reported.map((part) => `${part.partId}:${part.state}`);

forEachStore((kind) =>
  describe('store: the parts of long SMS sent, and their receipts', () => {
    let store: Store;
    beforeEach(async () => {
      store = await kind.fresh();
    });
    afterEach(() => store.close());

    test('recorded parts: each receipt finds its SMS and the states so far, oldest first; a repeat changes nothing', async () => {
      const recorded = await store.recordSentParts(sent('parts:a/3', ['A1', 'A2', 'A3']));
      assert.deepEqual(recorded, { provider: SMPP, providerId: 'parts:a/3', number: PHONE, receiptsAwaited: 3, reported: [] });
      const second = await store.applyPartReceipt(receipt('A2', 'delivered', 2_000));
      assert.ok(second.kind === 'part');
      assert.deepEqual([second.changed, second.sms.providerId, second.sms.receiptsAwaited, states(second.sms)], [true, 'parts:a/3', 3, ['A2:delivered']]);
      const first = await store.applyPartReceipt(receipt('A1', 'delivered', 3_000));
      assert.ok(first.kind === 'part');
      assert.deepEqual(states(first.sms), ['A2:delivered', 'A1:delivered']);
      const again = await store.applyPartReceipt(receipt('A1', 'delivered', 4_000));
      assert.ok(again.kind === 'part');
      assert.equal(again.changed, false);
      assert.deepEqual(states(again.sms), ['A2:delivered', 'A1:delivered']);
      // Another number's part of the same id is another part.
      assert.deepEqual(await store.applyPartReceipt(receipt('A3', 'delivered', 5_000, { number: '+447700900999' })), { kind: 'unknown' });
    });

    test('parts the SMSC gave one id: one receipt for that id counts for each part under it, and the SMS is decided by it', async () => {
      const recorded = await store.recordSentParts(sent('parts:same/3', ['SAME1', 'SAME1', 'SAME1']));
      assert.deepEqual(recorded, { provider: SMPP, providerId: 'parts:same/3', number: PHONE, receiptsAwaited: 1, reported: [] });
      const delivered = await store.applyPartReceipt(receipt('SAME1', 'delivered', 2_000));
      assert.ok(delivered.kind === 'part');
      assert.deepEqual([delivered.changed, delivered.sms.receiptsAwaited, states(delivered.sms)], [true, 1, ['SAME1:delivered']]);
      // Some parts share an id, another has its own: two receipts decide it.
      const mixed = await store.recordSentParts(sent('parts:mixed/3', ['M1', 'M1', 'M2']));
      assert.equal(mixed.receiptsAwaited, 2);
      // A receipt before its parts are recorded: the SMS is decided as they are.
      await store.applyPartReceipt(receipt('EARLY', 'delivered', 3_000));
      const early = await store.recordSentParts(sent('parts:early/2', ['EARLY', 'EARLY'], 3_500));
      assert.deepEqual([early.receiptsAwaited, states(early)], [1, ['EARLY:delivered']]);
    });

    test("part ids the SMSC gives again for a newer long SMS: its parts start with no state, not the older SMS's final ones", async () => {
      await store.recordSentParts(sent('parts:old/2', ['P1', 'P2']));
      await store.applyPartReceipt(receipt('P1', 'failed', 2_000));
      await store.applyPartReceipt(receipt('P2', 'delivered', 2_000));
      const recycled = await store.recordSentParts(sent('parts:new/2', ['P1', 'P2'], 3_000));
      assert.deepEqual(
        recycled,
        { provider: SMPP, providerId: 'parts:new/2', number: PHONE, receiptsAwaited: 2, reported: [] },
        'the older SMS said nothing of these parts',
      );
      const first = await store.applyPartReceipt(receipt('P1', 'delivered', 4_000));
      assert.ok(first.kind === 'part');
      assert.deepEqual([first.changed, first.sms.providerId, states(first.sms)], [true, 'parts:new/2', ['P1:delivered']]);
      // The same SMS's parts recorded again (a retry that sent only the parts not taken) keep what their receipts said.
      const again = await store.recordSentParts(sent('parts:new/2', ['P1', 'P2'], 5_000));
      assert.deepEqual(states(again), ['P1:delivered']);
    });

    test("a part's state moves forward only: on its way, then final; the first final state stays", async () => {
      await store.recordSentParts(sent('parts:b/2', ['B1', 'B2']));
      await store.applyPartReceipt(receipt('B1', 'sent', 2_000));
      const failed = await store.applyPartReceipt(receipt('B1', 'failed', 3_000));
      assert.ok(failed.kind === 'part' && failed.changed);
      const late = await store.applyPartReceipt(receipt('B1', 'delivered', 4_000));
      const backwards = await store.applyPartReceipt(receipt('B1', 'sent', 5_000));
      assert.ok(late.kind === 'part' && backwards.kind === 'part');
      assert.deepEqual([late.changed, backwards.changed], [false, false]);
      assert.deepEqual(backwards.sms.reported, [{ partId: 'B1', state: 'failed', code: 1 }]);
    });

    test('a receipt before its part is recorded is kept; recording the parts brings it to its SMS', async () => {
      assert.deepEqual(await store.applyPartReceipt(receipt('C2', 'delivered', 900)), { kind: 'unknown' });
      const recorded = await store.recordSentParts(sent('parts:c/2', ['C1', 'C2']));
      assert.deepEqual(states(recorded), ['C2:delivered']);
      const last = await store.applyPartReceipt(receipt('C1', 'delivered', 2_000));
      assert.ok(last.kind === 'part');
      assert.deepEqual([last.sms.receiptsAwaited, states(last.sms)], [2, ['C2:delivered', 'C1:delivered']]);
    });

    test('a receipt that names its SMS (Vonage) needs no recorded parts; the send answer’s count wins once recorded', async () => {
      const first = await store.applyPartReceipt(receipt('D1', 'delivered', 2_000, { provider: 'vonage', sms: { providerId: 'ref.2', parts: 2 } }));
      assert.ok(first.kind === 'part');
      assert.deepEqual([first.sms.providerId, first.sms.receiptsAwaited, states(first.sms)], ['ref.2', 2, ['D1:delivered']]);
      // The gateway split it into three after all.
      const recorded = await store.recordSentParts({ ...sent('ref.2', ['D1', 'D2', 'D3']), provider: 'vonage' });
      assert.deepEqual([recorded.receiptsAwaited, states(recorded)], [3, ['D1:delivered']]);
    });

    test('the parts and their states survive a restart', async () => {
      await store.recordSentParts(sent('parts:e/2', ['E1', 'E2']));
      await store.applyPartReceipt(receipt('E1', 'delivered', 2_000));
      await store.close();
      store = await kind.reopen();
      const last = await store.applyPartReceipt(receipt('E2', 'delivered', 3_000));
      assert.ok(last.kind === 'part');
      assert.deepEqual(states(last.sms), ['E1:delivered', 'E2:delivered']);
    });

    test('parts recorded before the cut-off are forgotten (housekeeping, inbound.orphanReportTtl)', async () => {
      await store.recordSentParts(sent('parts:f/2', ['F1', 'F2'], 1_000));
      await store.recordSentParts(sent('parts:g/2', ['G1', 'G2'], 5_000));
      assert.equal(await store.expireSentParts(2_000), 2);
      assert.deepEqual(await store.applyPartReceipt(receipt('F1', 'delivered', 6_000)), { kind: 'unknown' });
      assert.equal((await store.applyPartReceipt(receipt('G1', 'delivered', 6_000))).kind, 'part');
    });

    test('two relays take the last two parts’ receipts at the same moment: the later one sees every part delivered', async () => {
      const other = await kind.reopen();
      try {
        for (let round = 0; round < 20; round++) {
          const ids = [`H${round}a`, `H${round}b`, `H${round}c`];
          await store.recordSentParts(sent(`parts:h${round}/3`, ids));
          await store.applyPartReceipt(receipt(ids[0] as string, 'delivered', 2_000));
          const both = await Promise.all([
            store.applyPartReceipt(receipt(ids[1] as string, 'delivered', 3_000)),
            other.applyPartReceipt(receipt(ids[2] as string, 'delivered', 3_000)),
          ]);
          const complete = both.filter((result) => result.kind === 'part' && result.sms.reported.length === 3);
          assert.ok(complete.length >= 1, `round ${round}: one of the two saw all three parts`);
        }
      } finally {
        await other.close();
      }
    });
  }),
);
