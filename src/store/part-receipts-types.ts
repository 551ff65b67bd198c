/**
 * The parts of long SMS the relay sent, for their delivery receipts (#18): a provider that takes a
 * long SMS in parts gives each part an id and a receipt of its own (SMPP, Vonage). The store keeps
 * each part's id with its SMS and the state its receipt reported, so that any relay sharing the
 * database resolves a part's receipt to its SMS, and the inbound service decides from the stored
 * states alone when the SMS is delivered or failed (src/replies/inbound.ts). A receipt that comes
 * before its part is recorded is kept as a part of no known SMS yet, and joins its SMS when the parts
 * are recorded. Rows expire with the orphan delivery reports (`inbound.orphanReportTtl`).
 */
import type { DeliveryState } from '../vocabulary.ts';

/** The parts of one SMS to one number, as the provider's send answer listed them. */
export interface SentParts {
  readonly provider: string;
  /** The SMS's id (`RecipientResult.providerId`): its delivery state is kept under it. */
  readonly providerId: string;
  /** E.164. */
  readonly number: string;
  /** The parts' ids, as their receipts name them (parts may share one: distinctPartIds). */
  readonly partIds: readonly string[];
  readonly sentAt: number;
}

/** One part's receipt. */
export interface PartReceipt {
  readonly provider: string;
  readonly partId: string;
  /** Another id the part may be recorded under (StatusReport.formerId): its row when `partId` has none. */
  readonly formerPartId?: string | undefined;
  /** E.164. */
  readonly number: string;
  readonly state: DeliveryState;
  readonly code: number;
  readonly receivedAt: number;
  /** The SMS and its number of parts, when the receipt names them (Vonage's client-ref). */
  readonly sms?: { readonly providerId: string; readonly parts: number } | undefined;
}

/** What the receipts of one SMS's parts have said so far, in the order they came. */
export interface PartsOfSms {
  readonly provider: string;
  readonly providerId: string;
  readonly number: string;
  /**
   * How many receipts, one per distinct part id, decide the SMS: its parts' distinct ids once recorded (parts
   * the gateway gave one id share the first final receipt for it), else the receipt's count of parts.
   */
  readonly receiptsAwaited: number;
  /** The parts whose receipts came, oldest first (a part's state only moves forward). */
  readonly reported: readonly { readonly partId: string; readonly state: DeliveryState; readonly code: number }[];
}

export type PartReceiptResult =
  /** No SMS is known for this part (yet): kept, and taken into account when its SMS's parts are recorded. */
  | { readonly kind: 'unknown' }
  /** A part of `sms`; `changed`: this receipt moved the part's state (false for a repeat or an older state). */
  | { readonly kind: 'part'; readonly changed: boolean; readonly sms: PartsOfSms };

export interface PartReceiptStore {
  /** Keeps the parts of an SMS just sent; returns what receipts that came before said of them. */
  recordSentParts(sent: SentParts): Promise<PartsOfSms>;
  /** Records a part's receipt (its state only moves forward) and returns its SMS's parts as they stand. */
  applyPartReceipt(receipt: PartReceipt): Promise<PartReceiptResult>;
  /** Forgets parts recorded before `before`; returns how many. */
  expireSentParts(before: number): Promise<number>;
}

/**
 * The ON CONFLICT of a part recorded as sent, on both stores: it joins its SMS, keeping what a receipt
 * that came before said of it (its row then names no SMS, or this one: the same SMS's parts recorded
 * again). A row that names another SMS is a part id the gateway gave again (an SMSC's sequential ids
 * restart after its restart, or wrap): the new part starts with no state and its own expiry, as the
 * older part's final state says nothing of it.
 */
export const SENT_PART_CONFLICT = `ON CONFLICT (provider, part_id, number) DO UPDATE SET provider_id = excluded.provider_id, parts = excluded.parts,
  state = CASE WHEN sent_parts.provider_id <> excluded.provider_id THEN NULL ELSE sent_parts.state END,
  code = CASE WHEN sent_parts.provider_id <> excluded.provider_id THEN NULL ELSE sent_parts.code END,
  reported_at = CASE WHEN sent_parts.provider_id <> excluded.provider_id THEN NULL ELSE sent_parts.reported_at END,
  created_at = CASE WHEN sent_parts.provider_id <> excluded.provider_id THEN excluded.created_at ELSE sent_parts.created_at END`;

/**
 * The SMS's part ids, each once: an SMSC may give every part of a long SMS one id (a concatenated
 * message's), and then sends one receipt for it (or one per part, all alike), which counts for each part
 * under it; the store keeps one state per id.
 */
export function distinctPartIds(sent: SentParts): readonly string[] {
  return [...new Set(sent.partIds)];
}

/** A part's state moves forward only: none → on its way → a final state (the first final state stays). */
export function partMovesForward(from: DeliveryState | null, to: DeliveryState): boolean {
  if (from === null) return true;
  return from === 'sent' || from === 'queued' ? to !== 'sent' && to !== 'queued' : false;
}

/** A sent_parts row as both stores read it. */
export interface SentPartRow {
  part_id: string;
  provider_id: string | null;
  parts: number | null;
  state: DeliveryState | null;
  code: number | null;
  reported_at: number | null;
}

/** The SMS's parts from its rows (both stores read alike); undefined when they name no SMS. */
export function toPartsOfSms(provider: string, number: string, rows: readonly SentPartRow[]): PartsOfSms | undefined {
  const providerId = rows.find((row) => row.provider_id !== null)?.provider_id;
  if (providerId === undefined || providerId === null) return undefined;
  const reported = rows
    .filter((row) => row.state !== null && row.reported_at !== null)
    .sort((a, b) => (a.reported_at ?? 0) - (b.reported_at ?? 0) || a.part_id.localeCompare(b.part_id))
    .map((row) => ({ partId: row.part_id, state: row.state as DeliveryState, code: Number(row.code ?? 0) }));
  return { provider, providerId, number, receiptsAwaited: Math.max(rows.length, ...rows.map((row) => Number(row.parts ?? 0))), reported };
}
