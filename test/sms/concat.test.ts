/**
 * The one reassembly of long SMS from phones (src/sms/concat.ts) over each real store (a SQLite file,
 * a PostgreSQL database), with
 * an injected clock: parts kept as they come and mailed once, in order; a repeated part changes
 * nothing; a set whose part never comes is mailed after the timeout by the sweep (its timer, not the
 * next part), the gap named, to the conversation its parts name; a late part is mailed on its own; a
 * restart loses no kept part.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { createLogger } from '../../src/log.ts';
import { PartReassembly } from '../../src/sms/concat.ts';
import { decodeGsm7, decodeUcs2 } from '../../src/sms/encoding.ts';
import { isoInZone } from '../../src/timestamps.ts';
import type { Store } from '../../src/store/types.ts';
import type { CarriedText, ReceivedOutcome, ReceivedSms } from '../../src/vocabulary.ts';
import { forEachStore } from '../helpers/stores.ts';
import { waitFor } from '../helpers/wait.ts';

const TIMEOUT_MS = 10 * 60_000;

function harness(store: Store) {
  const clock = { now: 1_000_000 };
  const mailed: ReceivedSms[] = [];
  const reassembly = new PartReassembly({
    store,
    timeoutMs: TIMEOUT_MS,
    clock: () => clock.now,
    logger: createLogger('silent'),
    deliver: async (_provider, sms): Promise<ReceivedOutcome> => {
      if (mailed.some((seen) => seen.providerId === sms.providerId)) return { status: 'duplicate' };
      mailed.push(sms);
      return { status: 'accepted', id: sms.providerId };
    },
  });
  const part = (
    index: number,
    text: string,
    reference = 7,
    total = 3,
    sentAt: string | undefined = undefined,
    echoed: Pick<ReceivedSms, 'userContext' | 'trackingId'> = { userContext: undefined, trackingId: undefined },
    carried: CarriedText | undefined = undefined,
  ) =>
    reassembly.add('smpp', {
      providerId: `p${reference}-${index}-${text.length}`,
      number: '+447700900501',
      text,
      sentAt,
      ...echoed,
      part: { reference, total, index, carried },
    });
  /** A part as an SMSC carries it (its text decoded on its own, as the provider does): UCS-2 from code units, GSM-7 from septets. */
  const carriedPart = (index: number, total: number, reference: number, carried: CarriedText) =>
    part(index, carried.coding === 'ucs2' ? decodeUcs2(carried.octets) : decodeGsm7(carried.octets), reference, total, undefined, undefined, carried);
  return { store, clock, mailed, reassembly, part, carriedPart };
}

describe('long SMS reassembly (src/sms/concat.ts)', () =>
  forEachStore((kind) => {
    const stores: Store[] = [];
    after(async () => {
      for (const store of stores) await store.close();
    });

    test('out of order and repeated: kept, acknowledged, mailed once in order when the last arrives', async () => {
      const { store, mailed, part } = harness(await kind.fresh());
      stores.push(store);
      assert.deepEqual(await part(3, 'three'), { status: 'part', have: 1, total: 3 });
      assert.deepEqual(await part(3, 'three'), { status: 'duplicate' }, 'a repeated part');
      assert.deepEqual(await part(1, 'one '), { status: 'part', have: 2, total: 3 });
      assert.equal(mailed.length, 0);
      assert.equal((await part(2, 'two ')).status, 'accepted');
      assert.deepEqual(
        mailed.map((sms) => [sms.number, sms.text]),
        [['+447700900501', 'one two three']],
      );
      assert.deepEqual(await part(2, 'two '), { status: 'duplicate' }, 'a repeat after it was mailed');
      assert.equal(mailed.length, 1);
    });

    test('the store fails while the completed set is mailed: the part is not acknowledged, and its redelivery mails the set', async () => {
      const { store, mailed, part } = harness(await kind.fresh());
      stores.push(store);
      const failing = new PartReassembly({
        store,
        timeoutMs: TIMEOUT_MS,
        clock: () => 1_000_000,
        logger: createLogger('silent'),
        deliver: () => Promise.reject(new Error('the store cannot commit')),
      });
      await part(1, 'one ', 15, 2);
      await assert.rejects(
        failing.add('smpp', {
          providerId: 'x',
          number: '+447700900501',
          text: 'two',
          sentAt: undefined,
          userContext: undefined,
          trackingId: undefined,
          part: { reference: 15, total: 2, index: 2 },
        }),
        /cannot commit/,
      );
      assert.equal(mailed.length, 0);
      assert.equal((await part(2, 'two', 15, 2)).status, 'accepted', 'the redelivered part completes the set again');
      assert.equal(mailed[0]?.text, 'one two');
    });

    test('a missing part: mailed by the sweep once the timeout passes (not before), the gap named; the late part on its own', async () => {
      const { store, clock, mailed, reassembly, part } = harness(await kind.fresh());
      stores.push(store);
      await part(1, 'first ', 9);
      await part(3, ' third', 9);
      clock.now += TIMEOUT_MS - 1;
      await reassembly.sweep();
      assert.equal(mailed.length, 0, 'not before the timeout');
      clock.now += 1;
      await reassembly.sweep();
      assert.deepEqual(
        mailed.map((sms) => sms.text),
        ['first \n[part 2 of 3 did not arrive]\n third'],
      );
      clock.now += 60_000;
      assert.equal((await part(2, 'second', 9)).status, 'accepted');
      assert.equal(mailed[1]?.text, '[part 2 of 3 of an earlier long SMS, which was mailed without it]\nsecond');
      assert.deepEqual(await part(2, 'second', 9), { status: 'duplicate' }, 'the late part repeated');
      assert.deepEqual(await part(1, 'a new SMS', 9), { status: 'part', have: 1, total: 3 }, 'the reference used again by a new SMS');
    });

    test('a missing part is named on a line of its own, between parts split mid-word', async () => {
      const { store, clock, mailed, reassembly, part } = harness(await kind.fresh());
      stores.push(store);
      await part(1, 'gap-one', 17, 5);
      await part(3, 'gap-three', 17, 5);
      await part(5, 'gap-five', 17, 5);
      clock.now += TIMEOUT_MS;
      await reassembly.sweep();
      assert.equal(mailed[0]?.text, 'gap-one\n[part 2 of 5 did not arrive]\ngap-three\n[part 4 of 5 did not arrive]\ngap-five');
      await part(2, 'x', 19, 3);
      clock.now += TIMEOUT_MS;
      await reassembly.sweep();
      assert.equal(mailed[1]?.text, '[part 1 of 3 did not arrive]\nx\n[part 3 of 3 did not arrive]');
    });

    test("the SMS's time is its parts' (the earliest), else its first part's arrival: never the sweep's", async () => {
      const { store, clock, mailed, reassembly, part } = harness(await kind.fresh());
      stores.push(store);
      const firstArrival = clock.now;
      await part(3, 'three', 21, 3, '2026-03-14T10:00:09+01:00');
      clock.now += 5_000;
      await part(1, 'one', 21, 3, '2026-03-14T09:00:05+00:00');
      await part(1, 'alone', 23, 2);
      clock.now += TIMEOUT_MS;
      await reassembly.sweep();
      assert.deepEqual(
        mailed.map((sms) => [sms.text.split('\n')[0], sms.sentAt]),
        [
          ['one', '2026-03-14T09:00:05+00:00'],
          ['alone', isoInZone(firstArrival + 5_000)],
        ],
      );
      await part(1, 'uno ', 25, 2, '2026-03-14T11:00:00+01:00');
      assert.equal((await part(2, 'dos', 25, 2, '2026-03-14T11:00:02+01:00')).status, 'accepted');
      assert.equal(mailed[2]?.sentAt, '2026-03-14T11:00:00+01:00', 'a complete set too: its first part sent, not its last');
    });

    test('the conversation a set answers is what its parts carry: the first by index with a user context, and with a tracking id', async () => {
      const { store, clock, mailed, reassembly, part } = harness(await kind.fresh());
      stores.push(store);
      const none = { userContext: undefined, trackingId: undefined };
      await part(4, 'four', 27, 4, undefined, { userContext: 'ctx-four', trackingId: 'trk-four' });
      await part(1, 'one', 27, 4, undefined, none);
      await part(2, 'two', 27, 4, undefined, { userContext: 'ctx-two', trackingId: undefined });
      await part(1, 'alone', 29, 2, undefined, none);
      clock.now += TIMEOUT_MS;
      await reassembly.sweep();
      assert.deepEqual(
        mailed.map((sms) => [sms.text.split('\n')[0], sms.userContext, sms.trackingId]),
        [
          ['onetwo', 'ctx-two', 'trk-four'],
          ['alone', undefined, undefined],
        ],
      );
      await part(1, 'uno', 31, 2, undefined, { userContext: 'ctx-uno', trackingId: undefined });
      assert.equal((await part(2, 'dos', 31, 2, undefined, none)).status, 'accepted');
      assert.equal(mailed[2]?.userContext, 'ctx-uno', 'a complete set too, though its last part carried none');
    });

    test("the timer sweeps by itself: a started reassembly mails an overdue set without another part's help", async () => {
      const { store, clock, mailed, part } = harness(await kind.fresh());
      stores.push(store);
      const timed = new PartReassembly({
        store,
        timeoutMs: 20,
        clock: () => clock.now,
        logger: createLogger('silent'),
        deliver: async (_provider, sms) => {
          mailed.push(sms);
          return { status: 'accepted', id: sms.providerId };
        },
      });
      await part(1, 'alone', 11, 2);
      clock.now += 21;
      timed.start();
      try {
        const sms = await waitFor('the overdue set mailed by the timer', () => mailed[0], 2_000);
        assert.equal(sms.text, 'alone\n[part 2 of 2 did not arrive]', 'the mark on a line of its own, not glued to the text');
      } finally {
        await timed.stop();
      }
    });

    test('parts are durable: after a restart the set completes with the part kept before it', async () => {
      const first = harness(await kind.fresh());
      await first.part(1, 'before ', 13, 2);
      await first.store.close();
      const second = harness(await kind.reopen());
      stores.push(second.store);
      assert.equal((await second.part(2, 'after', 13, 2)).status, 'accepted');
      assert.equal(second.mailed[0]?.text, 'before after');
    });

    test('a character the phone cut between two parts (a surrogate pair, a GSM-7 escape) is whole once joined; half of one at a missing part is one U+FFFD', async () => {
      const { store, clock, mailed, reassembly, carriedPart } = harness(await kind.fresh());
      stores.push(store);
      /** UTF-16BE code units, lone halves of a pair included. */
      const ucs2 = (text: string): CarriedText => ({ coding: 'ucs2', octets: Buffer.from(text, 'utf16le').swap16() });
      const gsm7 = (...septets: number[]): CarriedText => ({ coding: 'gsm7', octets: Buffer.from(septets) });
      const head = 'x'.repeat(66);
      // As a phone cuts a UCS-2 SMS at 67 units: the emoji's high surrogate ends part 1, its low one opens part 2.
      await carriedPart(3, 3, 21, ucs2('tail'));
      await carriedPart(1, 3, 21, ucs2(`${head}\ud83d`));
      assert.equal((await carriedPart(2, 3, 21, ucs2('\ude00 and '))).status, 'accepted');
      assert.equal(mailed[0]?.text, `${head}😀 and tail`);
      // GSM-7: the escape ends part 1, the euro's code opens part 2.
      await carriedPart(1, 2, 22, gsm7(0x31, 0x1b));
      await carriedPart(2, 2, 22, gsm7(0x65, 0x32));
      assert.equal(mailed[1]?.text, '1€2');
      // Part 2 never comes: the half pair before it is one replacement character, not three.
      await carriedPart(1, 3, 23, ucs2(`${head}\ud83d`));
      await carriedPart(3, 3, 23, ucs2('end'));
      clock.now += TIMEOUT_MS;
      await reassembly.sweep();
      assert.equal(mailed[2]?.text, `${head}\ufffd\n[part 2 of 3 did not arrive]\nend`);
    });

    test("a provider that gives only the text (Vonage's JSON) with a character cut between two parts: whole once joined, kept so in the store; one U+FFFD for a missing half", async () => {
      const { store, clock, mailed, reassembly, part } = harness(await kind.fresh());
      stores.push(store);
      // Part 2 first, as the gateway may post them: its text opens with the emoji's low half.
      assert.deepEqual(await part(2, '\ude00 done \u0627\u0644\u0633\u0644\u0627\u0645', 42, 2), { status: 'part', have: 1, total: 2 });
      assert.equal((await part(1, 'Fixed it \ud83d', 42, 2)).status, 'accepted');
      assert.equal(mailed[0]?.text, 'Fixed it 😀 done السلام');
      // The same part posted again after the set was mailed is a repeat, not a new SMS.
      assert.deepEqual(await part(1, 'Fixed it \ud83d', 42, 2), { status: 'duplicate' });
      assert.equal(mailed.length, 1);
      // Part 2 never comes: the half before it is one replacement character.
      await part(1, 'Pump \ud83d', 43, 2);
      clock.now += TIMEOUT_MS;
      await reassembly.sweep();
      assert.equal(mailed[1]?.text, 'Pump \ufffd\n[part 2 of 2 did not arrive]');
    });
  }));
