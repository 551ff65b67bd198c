/**
 * The submit_sm this process wrote, awaiting their answer, and those the SMSC took, by the id it gave: the only
 * evidence that a receipt is about a newer SMS than the one its id finds in the store. An SMSC gives an id again after
 * its restart or a wrap, and until the newer SMS's send is recorded the store knows only the older SMS under it. A
 * receipt's addresses alone cannot tell that SMS's phone from the older one's written in another form (without its
 * trunk 0 or country code, Argentina's mobiles without their 9, the SMS's sender in source_addr), so they decide
 * nothing unless a submit made here went to the phone they name.
 */
import { LRUCache } from 'lru-cache';

/**
 * Ids remembered at most: a receipt for an id given again comes seconds after its submit_sm_resp (or before it),
 * while the send is being recorded; once it is, the store knows both SMS. Some minutes of sending at the highest
 * rates an SMSC allows, as adapter.ts's ATTEMPTS_REMEMBERED.
 */
const IDS_REMEMBERED = 100_000;
/** How long an id is remembered: far past a send's commit, which is all it must outlast. */
const ID_REMEMBERED_MS = 10 * 60_000;
/**
 * Digits an address must share with a number, at its end, to name that phone: national significant numbers have 7 or
 * more in most plans, so a short code or a few digits never name one.
 */
const SAME_PHONE_DIGITS = 7;

/** One part's submit_sm: the phone it went to and the source_addr it went from (a name, a number, none). */
export interface Submit {
  readonly number: string;
  readonly sender: string | undefined;
}

export class RecentSubmits {
  readonly #byId = new LRUCache<string, Submit[]>({ max: IDS_REMEMBERED, ttl: ID_REMEMBERED_MS });
  /** Written, not yet answered: the SMSC may already deliver a receipt naming the id it is giving it. */
  readonly #awaiting = new Set<Submit>();

  /** A part is being written: awaiting its answer until `answered`. */
  writing(number: string, sender: string | undefined): Submit {
    const submit = { number, sender };
    this.#awaiting.add(submit);
    return submit;
  }

  /** Its answer came (or its timeout, or its bind's end): `id`, the id it was taken under as receipts name it, if taken. */
  answered(submit: Submit, id: string | undefined): void {
    this.#awaiting.delete(submit);
    if (id !== undefined) this.taken(id, submit);
  }

  /** The SMSC took a submit under `id` (also one answered after its timeout). */
  taken(id: string, submit: Submit): void {
    this.#byId.set(id, [...(this.#byId.get(id) ?? []), submit]);
  }

  /**
   * The phone of a newer SMS that a receipt for `id` is about, the store holding `stored` under that id: the newest
   * submit taken under the id, or awaiting its answer, that went to a phone one of the receipt's `addresses` names
   * (never as the submit's own sender), none of the stored numbers being named by that address. Undefined otherwise:
   * the stored SMS keeps the receipt.
   */
  newerPhone(id: string, addresses: readonly string[], stored: readonly string[]): string | undefined {
    const newestFirst = [...(this.#byId.get(id) ?? [])].reverse().concat([...this.#awaiting].reverse());
    const names = (address: string, submit: Submit) =>
      samePhone(address, submit.number) &&
      !(submit.sender !== undefined && samePhone(address, submit.sender)) &&
      !stored.some((number) => samePhone(address, number));
    return newestFirst.find((submit) => !stored.includes(submit.number) && addresses.some((address) => names(address, submit)))?.number;
  }
}

/**
 * Whether an address, as an SMSC writes one (`+`, `00`, a trunk 0, or none), names `number` (E.164): the digits of one,
 * past their leading zeros, end the other's, SAME_PHONE_DIGITS of them at least. A name never does.
 */
function samePhone(address: string, number: string): boolean {
  const [written, digits] = [address, number].map((value) => (/^\+?\d+$/.test(value) ? value.replace(/^\+?0*/, '') : ''));
  if (written === undefined || digits === undefined || Math.min(written.length, digits.length) < SAME_PHONE_DIGITS) return false;
  return digits.endsWith(written) || written.endsWith(digits);
}
