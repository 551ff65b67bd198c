/**
 * PartReceiptStore on PostgreSQL (src/store/part-receipts-types.ts): the same table and decisions as
 * sqlite-part-receipts.ts, for relays that write at once. A part's row is locked by its key (the
 * insert's or the update's), so a receipt and the send result of one part are applied one after the
 * other whatever the relays; reading an SMS's parts waits for a transaction-level lock of its own, so
 * that of two parts' receipts committing at once the later one sees both (the last one in decides).
 */
import type pg from 'pg';
import {
  type PartReceipt,
  type PartReceiptResult,
  type PartsOfSms,
  partMovesForward,
  SENT_PART_CONFLICT,
  type SentPartRow,
  type SentParts,
  distinctPartIds,
  toPartsOfSms,
} from '../part-receipts-types.ts';
import { lockKey } from './key-lock.ts';

type Client = pg.ClientBase;

const COLUMNS = 'part_id, provider_id, parts::int, state, code::int, reported_at::float8 AS reported_at';

/** Waits for the other transactions reading this SMS's parts after a change, then reads them. */
async function partsOfSms(client: Client, provider: string, providerId: string, number: string): Promise<PartsOfSms> {
  await lockKey(client, 'sent_parts', provider, providerId, number);
  const { rows } = await client.query<SentPartRow>(
    `SELECT ${COLUMNS} FROM sent_parts WHERE provider = $1 AND provider_id = $2 AND number = $3 ORDER BY part_id`,
    [provider, providerId, number],
  );
  return toPartsOfSms(provider, number, rows) ?? { provider, providerId, number, receiptsAwaited: 0, reported: [] };
}

/** Runs inside a write transaction; the parts' rows are taken in order (no deadlock between two relays). */
export async function recordSentParts(client: Client, sent: SentParts): Promise<PartsOfSms> {
  // One row per id: an INSERT … ON CONFLICT DO UPDATE may not touch a row twice.
  const partIds = distinctPartIds(sent);
  await client.query(
    `INSERT INTO sent_parts (provider, part_id, number, provider_id, parts, created_at)
     SELECT $1::text, part_id, $3::text, $4::text, $5::bigint, $6::bigint FROM unnest($2::text[]) AS part_id ORDER BY part_id
     ${SENT_PART_CONFLICT}`,
    [sent.provider, [...partIds].sort(), sent.number, sent.providerId, partIds.length, sent.sentAt],
  );
  return partsOfSms(client, sent.provider, sent.providerId, sent.number);
}

/** Runs inside a write transaction. */
export async function applyPartReceipt(client: Client, receipt: PartReceipt): Promise<PartReceiptResult> {
  const lockedRowOf = async (partId: string) =>
    (
      await client.query<SentPartRow>(`SELECT ${COLUMNS} FROM sent_parts WHERE provider = $1 AND part_id = $2 AND number = $3 FOR UPDATE`, [
        receipt.provider,
        partId,
        receipt.number,
      ])
    ).rows[0];
  // The part under its former id (StatusReport.formerId) when none is under `partId`: then kept under that one.
  const current = await lockedRowOf(receipt.partId);
  const former = current === undefined && receipt.formerPartId !== undefined ? await lockedRowOf(receipt.formerPartId) : undefined;
  const partId = former === undefined ? receipt.partId : (receipt.formerPartId as string);
  const key = [receipt.provider, partId, receipt.number];
  const lockedRow = () => lockedRowOf(partId);
  let row = current ?? former;
  let changed = false;
  if (row === undefined) {
    const inserted = await client.query(
      `INSERT INTO sent_parts (provider, part_id, number, provider_id, parts, state, code, created_at, reported_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT DO NOTHING`,
      [...key, receipt.sms?.providerId ?? null, receipt.sms?.parts ?? null, receipt.state, receipt.code, receipt.receivedAt],
    );
    changed = inserted.rowCount === 1;
    // Another relay recorded the part at the same moment: it is there now, and locked here.
    if (!changed) row = await lockedRow();
  }
  if (row !== undefined && partMovesForward(row.state, receipt.state)) {
    changed = true;
    await client.query(
      `UPDATE sent_parts SET state = $4, code = $5, reported_at = $6, provider_id = COALESCE(provider_id, $7), parts = COALESCE(parts, $8)
       WHERE provider = $1 AND part_id = $2 AND number = $3`,
      [...key, receipt.state, receipt.code, receipt.receivedAt, receipt.sms?.providerId ?? null, receipt.sms?.parts ?? null],
    );
  }
  const providerId = row?.provider_id ?? receipt.sms?.providerId;
  if (providerId === undefined || providerId === null) return { kind: 'unknown' };
  return { kind: 'part', changed, sms: await partsOfSms(client, receipt.provider, providerId, receipt.number) };
}

export async function expireSentParts(client: Client, before: number): Promise<number> {
  return (await client.query('DELETE FROM sent_parts WHERE created_at < $1', [before])).rowCount ?? 0;
}
