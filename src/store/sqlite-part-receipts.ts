/** PartReceiptStore on SQLite (src/store/part-receipts-types.ts): the sent_parts table of migration 14. One writer: nothing races. */
import type { Database } from 'better-sqlite3';
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
} from './part-receipts-types.ts';

export function preparePartReceiptStatements(db: Database) {
  return {
    part: db.prepare('SELECT part_id, provider_id, parts, state, code, reported_at FROM sent_parts WHERE provider = ? AND part_id = ? AND number = ?'),
    partsOfSms: db.prepare(
      'SELECT part_id, provider_id, parts, state, code, reported_at FROM sent_parts WHERE provider = ? AND provider_id = ? AND number = ? ORDER BY part_id',
    ),
    /** A part sent: joins its SMS (SENT_PART_CONFLICT). */
    sent: db.prepare(`
      INSERT INTO sent_parts (provider, part_id, number, provider_id, parts, created_at) VALUES (@provider, @part_id, @number, @provider_id, @parts, @at)
      ${SENT_PART_CONFLICT}`),
    insertReceipt: db.prepare(`
      INSERT INTO sent_parts (provider, part_id, number, provider_id, parts, state, code, created_at, reported_at)
      VALUES (@provider, @part_id, @number, @provider_id, @parts, @state, @code, @at, @at)`),
    updateReceipt: db.prepare(`
      UPDATE sent_parts SET state = @state, code = @code, reported_at = @at,
        provider_id = COALESCE(provider_id, @provider_id), parts = COALESCE(parts, @parts)
      WHERE provider = @provider AND part_id = @part_id AND number = @number`),
    expire: db.prepare('DELETE FROM sent_parts WHERE created_at < ?'),
  };
}

export type PartReceiptStatements = ReturnType<typeof preparePartReceiptStatements>;

function partsOfSms(sql: PartReceiptStatements, provider: string, providerId: string, number: string): PartsOfSms {
  const rows = sql.partsOfSms.all(provider, providerId, number) as SentPartRow[];
  return toPartsOfSms(provider, number, rows) ?? { provider, providerId, number, receiptsAwaited: 0, reported: [] };
}

/** Runs inside a write transaction. */
export function recordSentParts(sql: PartReceiptStatements, sent: SentParts): PartsOfSms {
  const partIds = distinctPartIds(sent);
  for (const partId of partIds) {
    sql.sent.run({
      provider: sent.provider,
      part_id: partId,
      number: sent.number,
      provider_id: sent.providerId,
      parts: partIds.length,
      at: sent.sentAt,
    });
  }
  return partsOfSms(sql, sent.provider, sent.providerId, sent.number);
}

/** Runs inside a write transaction. */
export function applyPartReceipt(sql: PartReceiptStatements, receipt: PartReceipt): PartReceiptResult {
  const rowOf = (partId: string) => sql.part.get(receipt.provider, partId, receipt.number) as SentPartRow | undefined;
  const current = rowOf(receipt.partId);
  const former = current === undefined && receipt.formerPartId !== undefined ? rowOf(receipt.formerPartId) : undefined;
  const row = current ?? former;
  const values = {
    provider: receipt.provider,
    // Kept under the id that found the part; an unknown part under `partId`, as its send will be recorded.
    part_id: former ? receipt.formerPartId : receipt.partId,
    number: receipt.number,
    provider_id: receipt.sms?.providerId ?? null,
    parts: receipt.sms?.parts ?? null,
    state: receipt.state,
    code: receipt.code,
    at: receipt.receivedAt,
  };
  const changed = row === undefined || partMovesForward(row.state, receipt.state);
  if (row === undefined) sql.insertReceipt.run(values);
  else if (changed) sql.updateReceipt.run(values);
  const providerId = row?.provider_id ?? receipt.sms?.providerId;
  if (providerId === undefined) return { kind: 'unknown' };
  return { kind: 'part', changed, sms: partsOfSms(sql, receipt.provider, providerId, receipt.number) };
}

export function expireSentParts(sql: PartReceiptStatements, before: number): number {
  return sql.expire.run(before).changes;
}
