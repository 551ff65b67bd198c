/**
 * The store's part of reassembling long SMS from phones (#20): each part is kept durably as it
 * arrives, so that it can be acknowledged at once and nothing waits in memory. A set of parts is
 * one long SMS from one sender under one reference; it is open until its text is mailed (complete,
 * or after `inbound.reassemblyTimeout` with what arrived), then closed and kept a day, so that a
 * repeat of one of its parts is recognised and a part that comes after the timeout is known as late.
 * Kept plain (integer ms, no SQLite-only functions) for a PostgreSQL implementation.
 */
import { type CarriedText, LATE_PART_WINDOW_MS } from '../vocabulary.ts';

export interface NewSmsPart {
  readonly provider: string;
  /** E.164 or the sender as the provider named it: references are per sender. */
  readonly sender: string;
  /** The number (or name) the phone texted, where the provider says (ReceivedSms.to): parts of one SMS went to one. */
  readonly recipient: string | undefined;
  readonly reference: number;
  readonly total: number;
  readonly index: number;
  readonly providerId: string;
  readonly text: string;
  /** When the phone sent it, as the gateway said (ISO 8601 with its offset); undefined without a time. */
  readonly sentAt: string | undefined;
  /** The conversation it answers, as the gateway echoed it with this part (`ReceivedSms`); undefined without one. */
  readonly userContext: string | undefined;
  readonly trackingId: string | undefined;
  /** The text as the SMS carried it (`SmsPart.carried`); absent where the provider has only the text. */
  readonly carried?: CarriedText | undefined;
  /** As SmsPart's: a repeat has the kept part's provider id, so a part's text alone never makes it one. */
  readonly repeatsById?: true | undefined;
  readonly receivedAt: number;
  /**
   * The context of the sender's latest conversation as this part arrived (undefined without one): kept
   * with the set the part opens (`PartSet.latestContext`), ignored for the others.
   */
  readonly latestContext?: string | undefined;
}

export interface StoredPart {
  readonly index: number;
  readonly providerId: string;
  readonly text: string;
  /** As `NewSmsPart.sentAt` (undefined too for a part kept before schema 16). */
  readonly sentAt: string | undefined;
  /** As `NewSmsPart`'s (undefined too for a part kept before schema 17). */
  readonly userContext: string | undefined;
  readonly trackingId: string | undefined;
  /** As `NewSmsPart`'s (undefined too for a part kept before schema 22). */
  readonly carried: CarriedText | undefined;
}

/** An sms_parts row as both stores read it. */
export interface StoredPartRow {
  part_index: number;
  provider_id: string;
  text: string;
  sent_at: string | null;
  user_context: string | null;
  tracking_id: string | null;
  coding: string | null;
  octets: Uint8Array | null;
}

/** The columns both stores read a part from, in StoredPartRow's order. */
export const STORED_PART_COLUMNS = 'part_index, provider_id, text, sent_at, user_context, tracking_id, coding, octets';

/** The columns both stores insert a part with, in partValues' order. */
export const STORED_PART_VALUES = 'set_id, part_index, provider_id, text, sent_at, user_context, tracking_id, coding, octets, received_at';

/** Half a character: a UTF-16 surrogate without its other half (a paired one is read as one code point here). */
const LONE_SURROGATE = /\p{Cs}/gu;

/**
 * The text as a text column keeps it: SQLite and PostgreSQL hold only whole characters, so half of a
 * pair is stored as one U+FFFD (not as the bytes of its WTF-8 form, read back as three).
 */
export const storableText = (text: string) => text.replace(LONE_SURROGATE, '\ufffd');

/**
 * What the part carried, as the octets column keeps it. A provider that hands over only the text (an
 * HTTP gateway's JSON, as Vonage posts a part whose emoji the phone cut in two) gives no octets; a
 * text holding half a character was carried in UCS-2 all the same (no other coding can cut one), so
 * its code units are kept as those octets, and the reassembly joins them with its neighbour's as it
 * joins an SMSC's (src/sms/concat.ts): the character is whole again, which the text column cannot keep.
 */
function carriedOf(part: NewSmsPart): CarriedText | undefined {
  if (part.carried || part.text.search(LONE_SURROGATE) < 0) return part.carried;
  return { coding: 'ucs2', octets: Buffer.from(part.text, 'utf16le').swap16() };
}

/** A part's values for STORED_PART_VALUES. */
export function partValues(setId: number, part: NewSmsPart): unknown[] {
  const carried = carriedOf(part);
  const [coding, octets] = carried ? [carried.coding, carried.octets] : [null, null];
  return [
    setId,
    part.index,
    part.providerId,
    storableText(part.text),
    part.sentAt ?? null,
    part.userContext ?? null,
    part.trackingId ?? null,
    coding,
    octets,
    part.receivedAt,
  ];
}

export function toStoredPart(row: StoredPartRow): StoredPart {
  return {
    index: row.part_index,
    providerId: row.provider_id,
    text: row.text,
    sentAt: row.sent_at ?? undefined,
    userContext: row.user_context ?? undefined,
    trackingId: row.tracking_id ?? undefined,
    carried: (row.coding === 'gsm7' || row.coding === 'ucs2') && row.octets ? { coding: row.coding, octets: row.octets } : undefined,
  };
}

export interface PartSet {
  readonly id: number;
  readonly provider: string;
  readonly sender: string;
  /** As NewSmsPart's (undefined too for a set opened before schema 31). */
  readonly recipient: string | undefined;
  readonly reference: number;
  readonly total: number;
  readonly firstSeen: number;
  /**
   * The context of the sender's latest conversation when the set's first part arrived; undefined when
   * it had none then, or when a relay older than schema 23 opened the set.
   */
  readonly latestContext: string | undefined;
  /** The parts present, by index. */
  readonly parts: readonly StoredPart[];
}

export type PartAdded =
  /**
   * In an open set: `set` as it stands now (complete when it has `total` parts); `repeat` when the
   * part was already there (a complete set still open was not mailed yet: its mail failed).
   */
  | { readonly kind: 'stored'; readonly set: PartSet; readonly repeat: boolean }
  /** Already kept in a set that was mailed (the provider sent it again). */
  | { readonly kind: 'repeat' }
  /** A part its set was mailed without (after the timeout): kept, to be mailed on its own; `latestContext` is its set's. */
  | { readonly kind: 'late'; readonly closedAt: number; readonly latestContext: string | undefined };

export interface ReassemblyStore {
  /** Keeps a part (durably, once); says whether it is new, a repeat or late. */
  addPart(part: NewSmsPart): Promise<PartAdded>;
  /** Open sets first seen at or before `before`, oldest first: due to be mailed with what arrived. */
  overduePartSets(before: number, limit: number): Promise<PartSet[]>;
  /** The set's text was mailed: closed (a later part of it is late). */
  closePartSet(id: number, closedAt: number): Promise<void>;
  /** Forgets sets closed before `before`; returns how many. */
  expirePartSets(before: number): Promise<number>;
}

/** A set a part may go to, with the parts it holds. */
export interface CandidateSet {
  readonly row: PartSetRow;
  readonly parts: readonly Pick<StoredPart, 'index' | 'providerId' | 'text' | 'sentAt'>[];
}

/**
 * Where a part goes (both stores decide alike): into an open set (`repeat` when it holds the part), a closed one's repeat,
 * late into a closed one, or a new set. Into an open set, `set` is its row once the part is in: `numbered` when it had
 * no number texted (a relay before schema 31 opened it) and the part names one, which the store writes into the row.
 */
export type Placement =
  | { readonly kind: 'into-open'; readonly set: PartSetRow; readonly repeat: boolean; readonly numbered: boolean }
  | { readonly kind: 'repeat-of-closed' }
  | { readonly kind: 'late'; readonly set: PartSetRow }
  | { readonly kind: 'new-set' };

/** A gateway's time in ms; NaN without one (or an unreadable one). */
const timeOf = (sentAt: string | undefined) => (sentAt === undefined ? Number.NaN : Date.parse(sentAt));

/**
 * The earliest closed_at of a mailed set that may still take `part` (late, or a repeat by its text
 * without times): mailed within the window before it was received or, where the gateway gives when it
 * was sent, before that (a set is mailed after its parts were sent). The stores read only the sets
 * open or mailed since then, besides those holding a part with its provider id or its text and time.
 */
export function mailedSince(part: Pick<NewSmsPart, 'sentAt' | 'receivedAt'>): number {
  const sent = timeOf(part.sentAt);
  return Math.min(part.receivedAt, Number.isNaN(sent) ? part.receivedAt : sent) - LATE_PART_WINDOW_MS;
}

/**
 * `candidates`: the sets of the part's sender, reference and total still kept (open, or closed within
 * the day they are remembered) to its number texted or to none (opened by a relay before schema 31,
 * which told no numbers apart: its parts went to any) that may take it: at least those open or mailed since
 * `mailedSince(part)`, and those holding a part at its index with its provider id or its text; oldest
 * first. A set holds the part when the part at its index has its provider id (the provider retrying,
 * whichever kept set it is, so a retried part of a mailed SMS is never taken into a newer one), or its
 * text with the same time from the gateway; without a time on both, the same text is a repeat only in
 * a set open or mailed within LATE_PART_WINDOW_MS of the part ("OK" is as likely the part of a newer
 * SMS reusing the reference). A provider that names repeats by id (`repeatsById`) has them by id alone. Otherwise it goes to a set lacking its index: two long SMS under one
 * reference arrive interleaved (A1, B1, B2, A2), and A2 belongs with A1. Where the gateway gives when
 * the phone sent it, the set whose parts were sent nearest that time within the window takes it (the
 * parts of one SMS leave the phone together and carry nearly one SMSC time), an open one before a
 * closed one at the same distance; a set whose parts were all sent further off takes it in no case.
 * Without times, the oldest open set, else the newest one mailed within the window before the part
 * came (the part is late). A set of no number may take it only where the parts were sent within
 * UNNUMBERED_SET_SENT_WITHIN_MS of it, and then as a set of its number would: the nearest in time, an
 * open set before a closed one and its number's own before one of none at the same distance; it becomes its
 * number's. So a long SMS whose first parts an older relay kept (before an upgrade, or beside it) is joined with the
 * rest, and the SMS of another number under that reference is not. A part no set can take is another SMS
 * reusing the reference, and opens a set of its own.
 */
export function placePart(
  candidates: readonly CandidateSet[],
  part: Pick<NewSmsPart, 'recipient' | 'index' | 'providerId' | 'text' | 'sentAt' | 'receivedAt' | 'repeatsById'>,
): Placement {
  const at = (candidate: CandidateSet) => candidate.parts.find((stored) => stored.index === part.index);
  const text = storableText(part.text);
  const sent = timeOf(part.sentAt);
  const since = mailedSince(part);
  // Open, or mailed recently enough to take the part (late, or as a repeat by its text alone).
  const recent = ({ row }: CandidateSet) => row.closed_at === null || part.receivedAt - row.closed_at <= LATE_PART_WINDOW_MS;
  const sameText = (candidate: CandidateSet) => {
    const stored = at(candidate);
    if (stored?.text !== text) return false;
    const storedSent = timeOf(stored.sentAt);
    return Number.isNaN(sent) || Number.isNaN(storedSent) ? recent(candidate) : storedSent === sent;
  };
  const holder = candidates.find((candidate) => at(candidate)?.providerId === part.providerId) ?? (part.repeatsById ? undefined : candidates.find(sameText));
  const intoOpen = (row: PartSetRow, repeat: boolean): Placement => {
    const numbered = row.recipient === null && part.recipient !== undefined;
    return { kind: 'into-open', set: numbered ? { ...row, recipient: part.recipient ?? null } : row, repeat, numbered };
  };
  if (holder) return holder.row.closed_at === null ? intoOpen(holder.row, true) : { kind: 'repeat-of-closed' };
  const own = candidates.filter(({ row }) => row.recipient === (part.recipient ?? null));
  // The others are sets of no number (the stores read no other number's): another number's SMS may be among them.
  const unnumbered = candidates.filter((candidate) => !own.includes(candidate) && distance(candidate, sent) <= UNNUMBERED_SET_SENT_WITHIN_MS);
  const chosen = setLacking([own, unnumbered]);
  if (chosen === undefined) return { kind: 'new-set' };
  return chosen.row.closed_at === null ? intoOpen(chosen.row, false) : { kind: 'late', set: chosen.row };

  /** Of `groups` (the first preferred at one distance), the set lacking the part's place that takes it, as above; undefined when none can. */
  function setLacking(groups: readonly (readonly CandidateSet[])[]): CandidateSet | undefined {
    // A set whose parts were sent further off than the window is another SMS; one without times is judged by when it was mailed.
    const near = groups.map((sets) =>
      sets
        .filter((candidate) => at(candidate) === undefined)
        .map((candidate) => ({ candidate, apart: distance(candidate, sent) }))
        .filter(({ candidate, apart }) =>
          Number.isNaN(apart) ? recent(candidate) : apart <= LATE_PART_WINDOW_MS && (candidate.row.closed_at ?? since) >= since,
        ),
    );
    // At one distance: open before closed (the oldest open, the newest closed), then by group.
    const open = near.flatMap((sets) => sets.filter(({ candidate }) => candidate.row.closed_at === null));
    const closed = near.flatMap((sets) => sets.filter(({ candidate }) => candidate.row.closed_at !== null).reverse());
    const timed = [...open, ...closed].filter(({ apart }) => !Number.isNaN(apart));
    const nearest = timed.reduce<(typeof timed)[number] | undefined>((best, next) => (best === undefined || next.apart < best.apart ? next : best), undefined);
    return (nearest ?? open[0] ?? closed[0])?.candidate;
  }
}

/**
 * How near in sending a part must be to the parts of a set of no number (an older relay's, before schema 31) to join it.
 * A phone submits a long SMS's parts back to back, each in a second or a few over the air, and the SMSC stamps each
 * as it takes it (to the second): one SMS's parts are seconds apart, ten covering a slow network's. Further off, the set
 * is as likely another number's SMS under that reference (a set of no number may be any number's), whose text must not
 * be mailed as this one's; without times on both sides it is never known, and the part goes to a set of its own.
 */
const UNNUMBERED_SET_SENT_WITHIN_MS = 10_000;

/** How far apart in ms `sent` is from the nearest time of `set`'s parts; NaN without a time on both sides. */
function distance(set: CandidateSet, sent: number): number {
  const aparts = set.parts.map((stored) => Math.abs(timeOf(stored.sentAt) - sent)).filter((apart) => !Number.isNaN(apart));
  return aparts.length === 0 ? Number.NaN : Math.min(...aparts);
}

/** placePart's candidates from the sets' rows and all their parts' rows (read at once, ordered by set and index). */
export function withParts(rows: readonly PartSetRow[], parts: readonly (StoredPartRow & { readonly set_id: number })[]): CandidateSet[] {
  return rows.map((row) => ({ row, parts: parts.filter((stored) => stored.set_id === row.id).map(toStoredPart) }));
}

/** A part_sets row, as both stores read it. */
export interface PartSetRow {
  id: number;
  provider: string;
  sender: string;
  recipient: string | null;
  reference: number;
  total: number;
  first_seen: number;
  closed_at: number | null;
  latest_context: string | null;
}

/** A set as the stores return it: its row, with the parts present. */
export function toPartSet(row: PartSetRow, parts: readonly StoredPart[]): PartSet {
  return {
    id: row.id,
    provider: row.provider,
    sender: row.sender,
    recipient: row.recipient ?? undefined,
    reference: row.reference,
    total: row.total,
    firstSeen: row.first_seen,
    latestContext: row.latest_context ?? undefined,
    parts,
  };
}

/** The row of the open set `part` starts, inserted as `id`: first seen when the part arrived. */
export function newSetRow(id: number, part: NewSmsPart): PartSetRow {
  return {
    id,
    provider: part.provider,
    sender: part.sender,
    recipient: part.recipient ?? null,
    reference: part.reference,
    total: part.total,
    first_seen: part.receivedAt,
    closed_at: null,
    latest_context: part.latestContext ?? null,
  };
}
