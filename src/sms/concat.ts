/**
 * Reassembling a long SMS a phone sent, which reaches the relay as separate parts (concatenated SMS,
 * 3GPP TS 23.040 §9.2.3.24.1: a reference, the number of parts, this part's index). Vonage's SMS API
 * posts each part on its own; an SMPP provider's deliver_sm carries the same three numbers.
 *
 * Nothing may be lost, so a part is never acknowledged on its own: until every part of its SMS has
 * arrived, `add` answers `waiting` and the provider must not acknowledge the part (a non-200, a
 * temporary deliver_sm_resp error), so that it sends it again. The parts seen are kept here, in
 * memory: the part that completes the set yields the whole SMS, which is committed like any other,
 * and every later repeat of any of its parts yields the same SMS again (the store then recognises a
 * repeat). A restart forgets the parts, which costs nothing, since none was acknowledged.
 *
 * A part that never comes would hold the others for ever (the provider gives up in the end: Vonage
 * after 24 hours): once a set is older than `giveUpMs`, the next part of it yields what arrived,
 * each missing part marked, rather than nothing.
 *
 * Lives in sms/ because it is about SMS parts alone: providers may import it, and it imports nothing.
 */

/** One part as the provider delivered it. */
export interface ConcatPart {
  /** Who sent it (E.164): references are per sender. */
  readonly sender: string;
  /** The concatenation reference (0–255 or 0–65535). */
  readonly reference: number;
  /** Parts in the SMS, 2–255. */
  readonly total: number;
  /** This part's index, 1-based. */
  readonly index: number;
  /** The provider's id for this part (a repeat has the same). */
  readonly partId: string;
  readonly text: string;
}

export type Assembly =
  /** Every part is here (or the rest was given up): the SMS, with the id of its first part present. */
  | { readonly complete: true; readonly providerId: string; readonly text: string; readonly missing: number }
  /** Parts are still missing: do not acknowledge this one. */
  | { readonly complete: false; readonly have: number; readonly total: number };

/** Where a part that never arrived stands in the text. */
export const MISSING_PART_MARK = '[…]';
/** Parts a concatenated SMS may have (one octet in the UDH). */
export const MAX_CONCAT_PARTS = 255;

interface PartSet {
  readonly firstSeen: number;
  readonly total: number;
  readonly parts: Map<number, { readonly partId: string; readonly text: string }>;
}

export interface PartAssemblerOptions {
  readonly clock: () => number;
  /** How long a set waits for its missing parts before it is delivered with them marked. */
  readonly giveUpMs: number;
  /** How long a set is kept at all (so repeats of its parts are recognised); above `giveUpMs`. */
  readonly keepMs: number;
  /** Sets kept at most; the oldest goes first (its parts were not acknowledged, so they come again). */
  readonly maxSets: number;
}

export class PartAssembler {
  readonly #options: PartAssemblerOptions;
  /** Insertion order = age order, which eviction relies on. */
  readonly #sets = new Map<string, PartSet>();

  constructor(options: PartAssemblerOptions) {
    if (!(options.keepMs > options.giveUpMs)) throw new RangeError('PartAssembler: keepMs must be above giveUpMs');
    this.#options = options;
  }

  /** Sets held now. */
  get size(): number {
    return this.#sets.size;
  }

  /** Records `part` and says whether its SMS is whole. Throws a RangeError for an impossible part. */
  add(part: ConcatPart): Assembly {
    if (!Number.isInteger(part.total) || part.total < 2 || part.total > MAX_CONCAT_PARTS) throw new RangeError(`concat: ${part.total} parts`);
    if (!Number.isInteger(part.index) || part.index < 1 || part.index > part.total) throw new RangeError(`concat: part ${part.index} of ${part.total}`);
    const now = this.#options.clock();
    this.#expire(now);
    const key = `${part.sender}\u0000${part.reference}\u0000${part.total}`;
    let set = this.#sets.get(key);
    if (!set) {
      set = { firstSeen: now, total: part.total, parts: new Map() };
      this.#sets.set(key, set);
      this.#evict();
    }
    if (!set.parts.has(part.index)) set.parts.set(part.index, { partId: part.partId, text: part.text });
    const overdue = now - set.firstSeen >= this.#options.giveUpMs;
    if (set.parts.size < set.total && !overdue) return { complete: false, have: set.parts.size, total: set.total };
    const indexes = Array.from({ length: set.total }, (_, offset) => offset + 1);
    const first = indexes.map((index) => set.parts.get(index)).find((present) => present !== undefined);
    return {
      complete: true,
      providerId: first?.partId ?? part.partId,
      text: indexes.map((index) => set.parts.get(index)?.text ?? MISSING_PART_MARK).join(''),
      missing: set.total - set.parts.size,
    };
  }

  #expire(now: number): void {
    for (const [key, set] of this.#sets) {
      if (now - set.firstSeen < this.#options.keepMs) break;
      this.#sets.delete(key);
    }
  }

  #evict(): void {
    for (const key of this.#sets.keys()) {
      if (this.#sets.size <= this.#options.maxSets) break;
      this.#sets.delete(key);
    }
  }
}
