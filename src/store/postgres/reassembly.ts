/** ReassemblyStore on PostgreSQL (src/store/reassembly.ts): the same tables and decisions as sqlite-reassembly.ts. */
import type pg from 'pg';
import {
  type NewSmsPart,
  newSetRow,
  type PartAdded,
  type PartSet,
  type PartSetRow as SetRow,
  mailedSince,
  placePart,
  partValues,
  STORED_PART_VALUES,
  STORED_PART_COLUMNS,
  type StoredPart,
  type StoredPartRow,
  storableText,
  toPartSet,
  toStoredPart,
  withParts,
} from '../reassembly.ts';
import { lockKey } from './key-lock.ts';

type Client = pg.ClientBase;

async function partsOf(client: Client, id: number): Promise<StoredPart[]> {
  const { rows } = await client.query<StoredPartRow>(`SELECT ${STORED_PART_COLUMNS} FROM sms_parts WHERE set_id = $1 ORDER BY part_index`, [id]);
  return rows.map(toStoredPart);
}

async function toSet(client: Client, row: SetRow): Promise<PartSet> {
  return toPartSet(row, await partsOf(client, row.id));
}

async function insertPart(client: Client, setId: number, part: NewSmsPart): Promise<void> {
  await client.query(`INSERT INTO sms_parts (${STORED_PART_VALUES}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, partValues(setId, part));
}

/**
 * Runs inside a write transaction. The key's lock first: two relays placing parts of one key at once
 * (the first parts of one SMS, before any set exists to lock) place them one after the other, so they
 * meet in one set; the open sets' rows are locked too, so that none is closed (mailed) while a part goes
 * in. An open set of no number (opened before schema 31) is one row lock for parts to any number: a part
 * to another number waiting on it reads it again once the first has numbered it, and leaves it.
 * A mailed set is written only by a late part's insert, whose reference to it keeps it from expiring.
 * Two reads: placePart's candidates (the open sets, those mailed since `mailedSince(part)`, and those
 * holding a part at its index with its provider id, or its text with a time), then all their parts.
 */
export async function addPart(client: Client, part: NewSmsPart): Promise<PartAdded> {
  const key = [part.provider, part.sender, part.recipient ?? null, part.reference, part.total] as const;
  await lockKey(client, 'part_sets', ...key);
  const keyMatches = 'provider = $1 AND sender = $2 AND (recipient IS NOT DISTINCT FROM $3 OR recipient IS NULL) AND reference = $4 AND total = $5';
  const { rows } = await client.query<SetRow>(
    `WITH open AS (SELECT * FROM part_sets WHERE ${keyMatches} AND closed_at IS NULL FOR UPDATE)
     SELECT * FROM open
     UNION ALL
     SELECT * FROM part_sets s WHERE ${keyMatches} AND closed_at IS NOT NULL
       AND (closed_at >= $6 OR EXISTS (SELECT 1 FROM sms_parts p WHERE p.set_id = s.id AND p.part_index = $7
         AND (p.provider_id = $8 OR ($9::boolean AND p.text = $10 AND p.sent_at IS NOT NULL))))
     ORDER BY id`,
    [...key, mailedSince(part), part.index, part.providerId, part.sentAt !== undefined, storableText(part.text)],
  );
  const parts = await client.query<StoredPartRow & { set_id: number }>(
    `SELECT set_id, ${STORED_PART_COLUMNS} FROM sms_parts WHERE set_id = ANY($1) ORDER BY set_id, part_index`,
    [rows.map((row) => row.id)],
  );
  const candidates = withParts(rows, parts.rows);
  const placement = placePart(candidates, part);
  if (placement.kind === 'into-open') {
    if (placement.numbered)
      await client.query('UPDATE part_sets SET recipient = $1 WHERE id = $2 AND recipient IS NULL', [placement.set.recipient, placement.set.id]);
    if (!placement.repeat) await insertPart(client, placement.set.id, part);
    return { kind: 'stored', set: await toSet(client, placement.set), repeat: placement.repeat };
  }
  if (placement.kind === 'repeat-of-closed') return { kind: 'repeat' };
  if (placement.kind === 'late') {
    await insertPart(client, placement.set.id, part);
    return { kind: 'late', closedAt: placement.set.closed_at ?? part.receivedAt, latestContext: placement.set.latest_context ?? undefined };
  }
  const inserted = await client.query<{ id: number }>(
    'INSERT INTO part_sets (provider, sender, recipient, reference, total, first_seen, latest_context) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id',
    [part.provider, part.sender, part.recipient ?? null, part.reference, part.total, part.receivedAt, part.latestContext ?? null],
  );
  const id = inserted.rows[0]?.id ?? 0;
  await insertPart(client, id, part);
  return { kind: 'stored', repeat: false, set: await toSet(client, newSetRow(id, part)) };
}

export async function overduePartSets(client: Client, before: number, limit: number): Promise<PartSet[]> {
  const { rows } = await client.query<SetRow>('SELECT * FROM part_sets WHERE closed_at IS NULL AND first_seen <= $1 ORDER BY first_seen, id LIMIT $2', [
    before,
    limit,
  ]);
  return Promise.all(rows.map((row) => toSet(client, row)));
}

export async function expirePartSets(client: Client, before: number): Promise<number> {
  await client.query('DELETE FROM sms_parts WHERE set_id IN (SELECT id FROM part_sets WHERE closed_at IS NOT NULL AND closed_at < $1)', [before]);
  return (await client.query('DELETE FROM part_sets WHERE closed_at IS NOT NULL AND closed_at < $1', [before])).rowCount ?? 0;
}
