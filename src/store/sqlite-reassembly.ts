/** ReassemblyStore on SQLite (src/store/reassembly.ts): the part_sets and sms_parts tables of migration 10 (#20). */
import type { Database } from 'better-sqlite3';
import { sqliteLimit } from './sqlite-admin.ts';
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
} from './reassembly.ts';

export function prepareReassemblyStatements(db: Database) {
  return {
    /**
     * placePart's candidates, oldest first: the key's open sets, those mailed since `mailedSince(part)`,
     * and those holding a part at its index with its provider id, or its text with a time (a repeat);
     * the key's number texted, or none (a set opened before schema 31, which a part to any number may join).
     */
    candidateSets: db.prepare(
      `SELECT * FROM part_sets s WHERE provider = @provider AND sender = @sender AND (recipient IS @recipient OR recipient IS NULL) AND reference = @reference AND total = @total
       AND (closed_at IS NULL OR closed_at >= @since OR EXISTS (SELECT 1 FROM sms_parts p WHERE p.set_id = s.id AND p.part_index = @index
         AND (p.provider_id = @providerId OR (@timed AND p.text = @text AND p.sent_at IS NOT NULL))))
       ORDER BY id`,
    ),
    /** The parts of the sets whose ids are in the JSON array, in one read. */
    partsOfSets: db.prepare(
      `SELECT set_id, ${STORED_PART_COLUMNS} FROM sms_parts WHERE set_id IN (SELECT value FROM json_each(?)) ORDER BY set_id, part_index`,
    ),
    /** An open set of no number (a relay before schema 31 opened it) becomes the number of the part placed in it. */
    numberSet: db.prepare('UPDATE part_sets SET recipient = ? WHERE id = ? AND recipient IS NULL'),
    insertSet: db.prepare(
      'INSERT INTO part_sets (provider, sender, recipient, reference, total, first_seen, latest_context) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id',
    ),
    partsOf: db.prepare(`SELECT ${STORED_PART_COLUMNS} FROM sms_parts WHERE set_id = ? ORDER BY part_index`),
    insertPart: db.prepare(`INSERT INTO sms_parts (${STORED_PART_VALUES}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    overdue: db.prepare(`SELECT * FROM part_sets WHERE closed_at IS NULL AND first_seen <= ? ORDER BY first_seen, id ${sqliteLimit('?')}`),
    close: db.prepare('UPDATE part_sets SET closed_at = ? WHERE id = ? AND closed_at IS NULL'),
    expireParts: db.prepare('DELETE FROM sms_parts WHERE set_id IN (SELECT id FROM part_sets WHERE closed_at IS NOT NULL AND closed_at < ?)'),
    expireSets: db.prepare('DELETE FROM part_sets WHERE closed_at IS NOT NULL AND closed_at < ?'),
  };
}

export type ReassemblyStatements = ReturnType<typeof prepareReassemblyStatements>;

function partsOf(sql: ReassemblyStatements, id: number): StoredPart[] {
  return (sql.partsOf.all(id) as StoredPartRow[]).map(toStoredPart);
}

function toSet(sql: ReassemblyStatements, row: SetRow): PartSet {
  return toPartSet(row, partsOf(sql, row.id));
}

function insertPart(sql: ReassemblyStatements, setId: number, part: NewSmsPart): void {
  sql.insertPart.run(...partValues(setId, part));
}

/** Runs inside a write transaction. */
export function addPart(sql: ReassemblyStatements, part: NewSmsPart): PartAdded {
  const rows = sql.candidateSets.all({
    provider: part.provider,
    sender: part.sender,
    recipient: part.recipient ?? null,
    reference: part.reference,
    total: part.total,
    since: mailedSince(part),
    index: part.index,
    providerId: part.providerId,
    timed: part.sentAt === undefined ? 0 : 1,
    text: storableText(part.text),
  }) as SetRow[];
  const parts = sql.partsOfSets.all(JSON.stringify(rows.map((row) => row.id))) as (StoredPartRow & { set_id: number })[];
  const candidates = withParts(rows, parts);
  const placement = placePart(candidates, part);
  if (placement.kind === 'into-open') {
    if (placement.numbered) sql.numberSet.run(placement.set.recipient, placement.set.id);
    if (!placement.repeat) insertPart(sql, placement.set.id, part);
    return { kind: 'stored', set: toSet(sql, placement.set), repeat: placement.repeat };
  }
  if (placement.kind === 'repeat-of-closed') return { kind: 'repeat' };
  if (placement.kind === 'late') {
    insertPart(sql, placement.set.id, part);
    return { kind: 'late', closedAt: placement.set.closed_at ?? part.receivedAt, latestContext: placement.set.latest_context ?? undefined };
  }
  const { id } = sql.insertSet.get(
    part.provider,
    part.sender,
    part.recipient ?? null,
    part.reference,
    part.total,
    part.receivedAt,
    part.latestContext ?? null,
  ) as {
    id: number;
  };
  insertPart(sql, id, part);
  return { kind: 'stored', repeat: false, set: toSet(sql, newSetRow(id, part)) };
}

export function overduePartSets(sql: ReassemblyStatements, before: number, limit: number): PartSet[] {
  return (sql.overdue.all(before, limit) as SetRow[]).map((row) => toSet(sql, row));
}

export function expirePartSets(sql: ReassemblyStatements, before: number): number {
  sql.expireParts.run(before);
  return sql.expireSets.run(before).changes;
}
