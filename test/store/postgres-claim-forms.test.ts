import assert from 'node:assert/strict';
import { test } from 'node:test';
import type pg from 'pg';
import { DB_NOW_MS } from '../../src/store/postgres/clock.ts';
import { statementName } from '../../src/store/postgres/prepared.ts';
import { PostgresStore, SMS_CLAIM, SMS_CLAIM_ONE_PER_BATCH } from '../../src/store/postgres/store.ts';
import { describeOnPostgres, freshDatabase, withClient } from '../helpers/postgres.ts';
import { mail } from '../helpers/store.ts';

/** What a claim leased: its rows without `decided`, by id. */
type Leased = Array<Record<string, unknown>>;
interface Claimed {
  readonly decided: boolean;
  readonly leased: Leased;
}

const NOW = 2_000;
const LEASE_MS = 60_000;

/** `text` with a claim's values, in a transaction rolled back: the queue stays as it was for the next claim. */
async function claimOnce(client: pg.Client, text: string, candidates: number, maxBatches: number, batchSize: number): Promise<Claimed> {
  await client.query('BEGIN');
  try {
    const { rows } = await client.query<{ decided: boolean; id: string | null }>(text, [NOW, candidates, maxBatches, batchSize, 'test', LEASE_MS, []]);
    const leased = rows
      .filter((row) => row.id !== null)
      .map(({ decided: _decided, ...row }) => row)
      .sort((a, b) => Number(a.id) - Number(b.id));
    return { decided: rows[0]?.decided ?? true, leased };
  } finally {
    await client.query('ROLLBACK');
  }
}

/** The claim before SMS_CLAIM_ONE_PER_BATCH: SMS_CLAIM for a batch's worth of candidates more than the batches, then for all they could hold. */
async function claimBefore(client: pg.Client, maxBatches: number, batchSize: number): Promise<Leased> {
  const first = await claimOnce(client, SMS_CLAIM, maxBatches + 1, maxBatches, batchSize);
  return first.decided ? first.leased : (await claimOnce(client, SMS_CLAIM, maxBatches * batchSize + 1, maxBatches, batchSize)).leased;
}

/** The claim as claimDueSms makes it now, and whether SMS_CLAIM_ONE_PER_BATCH decided it. */
async function claimNow(client: pg.Client, maxBatches: number, batchSize: number): Promise<Claimed> {
  const first = await claimOnce(client, SMS_CLAIM_ONE_PER_BATCH, maxBatches + 1, maxBatches, batchSize);
  if (first.decided) return first;
  return { decided: false, leased: (await claimOnce(client, SMS_CLAIM, maxBatches * batchSize + 1, maxBatches, batchSize)).leased };
}

/** A small deterministic generator (mulberry32): each seed, one queue. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed;
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4_294_967_296;
  };
}

let numbers = 0;
const nextNumber = () => `+4477009${String(numbers++).padStart(5, '0')}`;

/**
 * A queue of `mails` mails, each of one number or (when `severalNumbers`) up to three, due in a shuffled
 * order, some SMS held, some leased by another relay (live, or ended: a possible duplicate).
 */
async function queue(url: string, seed: number, mails: number, severalNumbers: boolean): Promise<void> {
  const next = random(seed);
  const store = await PostgresStore.open({ url });
  for (let index = 0; index < mails; index++) {
    const count = severalNumbers ? 1 + Math.floor(next() * 3) : 1;
    await store.acceptMail(mail(Array.from({ length: count }, nextNumber)));
  }
  await store.close();
  await withClient(url, async (client) => {
    const ids = (await client.query<{ id: string }>("SELECT id FROM outbound WHERE status = 'queued' ORDER BY id")).rows.map((row) => row.id);
    for (const id of ids) {
      const roll = next();
      const due = 1_000 + Math.floor(next() * 900);
      if (roll < 0.1) await client.query('UPDATE outbound SET held = 1 WHERE id = $1', [id]);
      else if (roll < 0.2) await client.query(`UPDATE outbound SET lease_owner = 'other', next_attempt_at = ${DB_NOW_MS} + 60000 WHERE id = $1`, [id]);
      else if (roll < 0.3) await client.query(`UPDATE outbound SET lease_owner = 'other', next_attempt_at = ${DB_NOW_MS} - 1000 WHERE id = $1`, [id]);
      else await client.query('UPDATE outbound SET next_attempt_at = $2 WHERE id = $1', [id, due]);
    }
  });
}

const SHAPES = [
  { maxBatches: 1, batchSize: 1 },
  { maxBatches: 1, batchSize: 10 },
  { maxBatches: 3, batchSize: 2 },
  { maxBatches: 4, batchSize: 10 },
  { maxBatches: 8, batchSize: 100 },
] as const;

describeOnPostgres('PostgreSQL: the claim of SMS each a batch of its own (SMS_CLAIM_ONE_PER_BATCH)', async () => {
  test('it leases what the claim before it leased, for every queue and claim: one-number mails decided by it alone, mails of several numbers by SMS_CLAIM after it', async () => {
    let decided = 0;
    let undecided = 0;
    for (const [seed, severalNumbers] of [
      [1, false],
      [2, false],
      [3, true],
      [4, true],
      [5, true],
    ] as const) {
      const url = (await freshDatabase()) ?? '';
      await queue(url, seed, 14, severalNumbers);
      await withClient(url, async (client) => {
        const kinds = await client.query<{ held: number; other: number }>(
          "SELECT count(*) FILTER (WHERE held = 1)::int AS held, count(*) FILTER (WHERE lease_owner = 'other')::int AS other FROM outbound",
        );
        assert.ok((kinds.rows[0]?.held ?? 0) > 0 && (kinds.rows[0]?.other ?? 0) > 0, `seed ${seed}: ${JSON.stringify(kinds.rows)}`);
        for (const { maxBatches, batchSize } of SHAPES) {
          const before = await claimBefore(client, maxBatches, batchSize);
          const now = await claimNow(client, maxBatches, batchSize);
          const shape = `seed ${seed}, ${maxBatches} batches of ${batchSize}`;
          assert.deepEqual(now.leased, before, shape);
          assert.ok(before.length > 0, `${shape}: nothing due`);
          // Neither takes a held SMS or another relay's live lease.
          const untouchable = await client.query<{ id: string }>(`SELECT id FROM outbound WHERE held = 1 OR next_attempt_at > ${DB_NOW_MS}`);
          for (const { id } of untouchable.rows) assert.ok(!now.leased.some((row) => String(row.id) === id), `${shape}: ${id} taken`);
          if (now.decided) decided++;
          else undecided++;
          // One-number mails (or one number per batch) are decided without SMS_CLAIM.
          if (!severalNumbers || batchSize === 1) assert.ok(now.decided, `${shape}: undecided`);
        }
      });
    }
    assert.ok(decided > 0 && undecided > 0, `decided ${decided}, undecided ${undecided}`);
  });

  test('an SMS leased by a claim whose lease ended counts a possible duplicate; a paused dispatch leases nothing and needs no second claim', async () => {
    const url = (await freshDatabase()) ?? '';
    const store = await PostgresStore.open({ url });
    await store.acceptMail(mail([nextNumber()]));
    await store.acceptMail(mail([nextNumber()]));
    await store.close();
    await withClient(url, async (client) => {
      const [first] = (await client.query<{ id: string }>('SELECT id FROM outbound ORDER BY id')).rows;
      await client.query(`UPDATE outbound SET lease_owner = 'other', next_attempt_at = ${DB_NOW_MS} - 1 WHERE id = $1`, [first?.id]);
      await client.query('BEGIN');
      const leased = await client.query<{ id: string }>(SMS_CLAIM_ONE_PER_BATCH, [NOW, 3, 2, 10, 'test', LEASE_MS, []]);
      const rows = await client.query<{ id: string; possible_duplicates: string; lease_owner: string }>(
        'SELECT id, possible_duplicates, lease_owner FROM outbound ORDER BY id',
      );
      await client.query('ROLLBACK');
      assert.equal(leased.rowCount, 2);
      assert.deepEqual(
        rows.rows.map((row) => [Number(row.possible_duplicates), row.lease_owner]),
        [
          [1, 'test'],
          [0, 'test'],
        ],
      );
      await client.query("INSERT INTO control (key, value) VALUES ('dispatch_paused', 'test')");
      assert.deepEqual(await claimOnce(client, SMS_CLAIM_ONE_PER_BATCH, 3, 2, 10), { decided: true, leased: [] });
    });
  });

  test("it skips the SMS another relay's claim has locked, without waiting for it, and takes the next due", async () => {
    const url = (await freshDatabase()) ?? '';
    const store = await PostgresStore.open({ url });
    for (let index = 0; index < 3; index++) await store.acceptMail(mail([nextNumber()]));
    await store.close();
    await withClient(url, (other) =>
      withClient(url, async (client) => {
        const ids = (await client.query<{ id: string }>('SELECT id FROM outbound ORDER BY id')).rows.map((row) => Number(row.id));
        await other.query('BEGIN');
        await other.query('SELECT id FROM outbound WHERE id = $1 FOR UPDATE', [ids[0]]);
        await client.query("SET statement_timeout = '5s'");
        const claimed = await claimOnce(client, SMS_CLAIM_ONE_PER_BATCH, 3, 2, 10);
        await other.query('ROLLBACK');
        assert.deepEqual(
          claimed.leased.map((row) => Number(row.id)),
          ids.slice(1),
        );
      }),
    );
  });

  test('it runs named, planned once per connection', () => {
    assert.notEqual(statementName(SMS_CLAIM_ONE_PER_BATCH), undefined);
  });
});
