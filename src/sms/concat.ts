/**
 * Reassembling a long SMS a phone sent, which reaches the relay as separate parts (concatenated SMS,
 * 3GPP TS 23.040 §9.2.3.24.1: a reference, the number of parts, this part's index), whatever brought
 * them: Vonage posts each part on its own, an SMPP deliver_sm carries a UDH or SAR parameters. The
 * one place that does it, for every provider (they only say where a part belongs: `ReceivedSms.part`).
 *
 * Each part is kept durably as it arrives (src/store/reassembly.ts) and then acknowledged like any
 * SMS, so nothing waits in memory and a restart loses nothing. The part that completes its set has
 * the whole text mailed once, in order; a repeated part changes nothing. A set still missing parts
 * `timeoutMs` after its first part is mailed with what arrived, each missing part named, to the
 * conversation its parts answer (kept with each part, as the gateway echoed it), by `sweep`
 * (run on a timer, not only when the next part comes); a part arriving after that is mailed on its
 * own, saying which earlier message it belongs to. Where its parts name no conversation, a set goes to
 * the phone's latest conversation as of its first part (kept with the set), as a whole SMS sent then
 * would have: not to whoever wrote to the phone while the rest was on its way or overdue.
 */
import { failureLogFields } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { PartSet, ReassemblyStore, StoredPart } from '../store/reassembly.ts';
import { decodeGsm7, decodeUcs2 } from './encoding.ts';
import { isoInZone } from '../timestamps.ts';
import type { ReceivedOutcome, ReceivedSms } from '../vocabulary.ts';

/** Parts a concatenated SMS may have (one octet in the UDH). */
export const MAX_CONCAT_PARTS = 255;
/** Mailed sets are kept this long, so that repeats of their parts (and late parts) are recognised. */
const KEEP_CLOSED_MS = 24 * 60 * 60_000;
/** Overdue sets mailed per sweep; the rest go at the next. */
const SWEEP_BATCH = 100;
/** The sweep runs this often at most, and at least ten times per timeout. */
const MAX_SWEEP_INTERVAL_MS = 30_000;

/** Where a part that never arrived stands in the text. */
export function missingPartMark(index: number, total: number): string {
  return `[part ${index} of ${total} did not arrive]`;
}

/** What a late part's text is mailed with. */
export function latePartNote(index: number, total: number): string {
  return `[part ${index} of ${total} of an earlier long SMS, which was mailed without it]`;
}

export interface ReassemblyOptions {
  readonly store: ReassemblyStore;
  /** `inbound.reassemblyTimeout`. */
  readonly timeoutMs: number;
  readonly clock: () => number;
  /**
   * Commits and mails one whole SMS (the inbound service's own path for any SMS); `latestContext`, for
   * a set, is the context of the phone's latest conversation when its first part arrived.
   */
  readonly deliver: (provider: string, sms: ReceivedSms, latestContext?: string) => Promise<ReceivedOutcome>;
  readonly logger: Logger;
}

export class PartReassembly {
  readonly #options: ReassemblyOptions;
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> | undefined;
  /** Whether the last sweep failed: the failure was warned, and is not again until a sweep works. */
  #failing = false;

  constructor(options: ReassemblyOptions) {
    this.#options = options;
  }

  /**
   * Keeps one part; mails its SMS when it completes the set, or on its own when it is late. `latestContext`:
   * the context of the phone's latest conversation now, kept if this part opens a set. Throws what the store throws.
   */
  async add(provider: string, sms: ReceivedSms & { readonly part: NonNullable<ReceivedSms['part']> }, latestContext?: string): Promise<ReceivedOutcome> {
    const { store, logger } = this.#options;
    const { reference, total, index } = sms.part;
    const added = await store.addPart({
      provider,
      sender: sms.number,
      recipient: sms.to,
      reference,
      total,
      index,
      providerId: sms.providerId,
      text: sms.text,
      sentAt: sms.sentAt,
      userContext: sms.userContext,
      trackingId: sms.trackingId,
      carried: sms.part.carried,
      repeatsById: sms.part.repeatsById,
      receivedAt: this.#options.clock(),
      latestContext,
    });
    const fields = { provider, providerId: sms.providerId, reference, part: `${index}/${total}` };
    if (added.kind === 'repeat') {
      logger.info(fields, 'inbound: part of a long SMS received again: already kept');
      return { status: 'duplicate' };
    }
    if (added.kind === 'late') {
      logger.warn(fields, 'inbound: part of a long SMS that was mailed without it (after inbound.reassemblyTimeout): mailed on its own');
      const { part: _part, ...whole } = sms;
      // It goes where its set went: its set's latest conversation stands for the phone's.
      return this.#options.deliver(provider, { ...whole, text: `${latePartNote(index, total)}\n${sms.text}` }, added.latestContext);
    }
    if (added.set.parts.length < total) {
      if (added.repeat) {
        logger.info(fields, 'inbound: part of a long SMS received again: already kept');
        return { status: 'duplicate' };
      }
      logger.info({ ...fields, have: added.set.parts.length }, 'inbound: part of a long SMS kept until the others arrive');
      return { status: 'part', have: added.set.parts.length, total };
    }
    // Complete: mailed now; a repeat here means the mail failed before (the store recognises a second mail).
    return this.#mail(added.set);
  }

  /** Mails every set overdue by now with what arrived, and forgets old mailed sets. */
  sweep(): Promise<void> {
    this.#sweeping ??= this.#sweep().finally(() => {
      this.#sweeping = undefined;
    });
    return this.#sweeping;
  }

  start(): void {
    const every = Math.min(MAX_SWEEP_INTERVAL_MS, Math.max(1, Math.floor(this.#options.timeoutMs / 10)));
    this.#timer = setInterval(() => void this.sweep(), every);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#sweeping;
  }

  async #sweep(): Promise<void> {
    const { store, logger, timeoutMs, clock } = this.#options;
    const now = clock();
    try {
      for (const set of await store.overduePartSets(now - timeoutMs, SWEEP_BATCH)) {
        logger.warn(
          { provider: set.provider, reference: set.reference, have: set.parts.length, total: set.total },
          'inbound: long SMS still missing parts after inbound.reassemblyTimeout: mailed with what arrived',
        );
        await this.#mail(set);
      }
      await store.expirePartSets(now - KEEP_CLOSED_MS);
      if (this.#failing) logger.info('inbound: reassembling long SMS works again');
      this.#failing = false;
    } catch (error) {
      // Once per episode, as the store's own failures are (a store deleted under the relay fails every sweep until a restart).
      if (!this.#failing)
        logger.warn(
          failureLogFields(error),
          'inbound: reassembling long SMS failed (the store cannot commit); tried again at each sweep, said again once it works',
        );
      this.#failing = true;
    }
  }

  /**
   * Mails the set's text (its missing parts named), the time its phone sent it and the conversation it
   * answers under an id of the set, then closes the set. A
   * crash in between leaves it open: the next sweep mails it again under the same id, which the
   * store recognises as a repeat.
   */
  async #mail(set: PartSet): Promise<ReceivedOutcome> {
    const outcome = await this.#options.deliver(
      set.provider,
      {
        providerId: `part-set:${set.id}`,
        number: set.sender,
        // The number texted, where the provider said it: the mail names it as a single SMS's does.
        ...(set.recipient === undefined ? {} : { to: set.recipient }),
        text: textOfParts(set),
        sentAt: sentAtOfParts(set),
        ...conversationOfParts(set),
      },
      set.latestContext,
    );
    await this.#options.store.closePartSet(set.id, this.#options.clock());
    return outcome;
  }
}

/**
 * The parts' texts in order, as the phone split them (mid-word: joined with nothing between); a
 * missing part's mark stands on a line of its own, so that it is never read as part of a word.
 * Neighbouring parts carried in one coding are joined as octets and decoded together: a phone cuts
 * where a part is full, inside a surrogate pair or a GSM-7 escape too; half a pair left at a missing
 * part is one U+FFFD.
 */
function textOfParts(set: Pick<PartSet, 'total' | 'parts'>): string {
  const byIndex = new Map(set.parts.map((part) => [part.index, part] as const));
  let text = '';
  let afterMark = false;
  for (let index = 1; index <= set.total; ) {
    const first = byIndex.get(index);
    if (first === undefined) {
      text += `${text === '' || text.endsWith('\n') ? '' : '\n'}${missingPartMark(index, set.total)}`;
      afterMark = true;
      index++;
      continue;
    }
    const run = [first];
    for (let next = byIndex.get(++index); next && joinsAsOctets(run.at(-1) as StoredPart, next); next = byIndex.get(++index)) run.push(next);
    const part = run.length === 1 ? first.text : decodeCarried(run);
    text += `${afterMark && !part.startsWith('\n') ? '\n' : ''}${part}`;
    afterMark = false;
  }
  return text;
}

function joinsAsOctets(previous: StoredPart, next: StoredPart): boolean {
  return previous.carried !== undefined && previous.carried.coding === next.carried?.coding;
}

/** Parts carried in one coding, decoded as one text. */
function decodeCarried(run: readonly StoredPart[]): string {
  const octets = Buffer.concat(run.map((part) => part.carried?.octets ?? new Uint8Array()));
  return run[0]?.carried?.coding === 'gsm7' ? decodeGsm7(octets) : decodeUcs2(octets);
}

/**
 * When the phone sent the SMS: the earliest time its parts carry (each part has the gateway's time of
 * that part), else when the relay got its first part, not when the set was mailed (a set mailed at
 * the timeout would otherwise carry the timeout's time).
 */
function sentAtOfParts(set: PartSet): string {
  const times = set.parts.flatMap((part) => (part.sentAt === undefined || Number.isNaN(Date.parse(part.sentAt)) ? [] : [part.sentAt]));
  const earliest = times.reduce<string | undefined>((first, time) => (first === undefined || Date.parse(time) < Date.parse(first) ? time : first), undefined);
  return earliest ?? isoInZone(set.firstSeen);
}

/**
 * The conversation the SMS answers, as the gateway echoed it with its parts: the first part (by index)
 * that carries a user context, and the first that carries a tracking id (routed as any SMS's: the
 * context first). The parts of one SMS answer one conversation, so they differ only where the gateway
 * left it off some; by index, not by arrival, so that a set goes to the same mailbox whichever of
 * its parts came last, at the timeout too (where no part is the last).
 */
function conversationOfParts(set: PartSet): Pick<ReceivedSms, 'userContext' | 'trackingId'> {
  return {
    userContext: set.parts.find((part) => part.userContext !== undefined)?.userContext,
    trackingId: set.parts.find((part) => part.trackingId !== undefined)?.trackingId,
  };
}
