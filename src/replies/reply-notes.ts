import { canTextBack } from '../sms/senders.ts';
import type { ReplyStore } from '../store/types.ts';
import { keywordForm, type OptOutKeywords, type ReceivedSms } from '../vocabulary.ts';
import type { InboundSms } from './reply-mail.ts';

/** An SMS's STOP or START, when it is one. */
export type OptOutAction = NonNullable<InboundSms['optOut']>;

/** What a reply mail says under an SMS about answering it: its STOP/START, the number's opt-out, a refusal of every reply. */
export interface ReplyNoteFields {
  readonly optOut: OptOutAction | undefined;
  readonly wasOptedOut: boolean | undefined;
  readonly optedInSince?: boolean | undefined;
  readonly stillOptedOut: string | undefined;
  readonly replyRefused: string | undefined;
}

export interface ReplyNotesOptions {
  /** Keywords that, sent as the whole SMS, opt a number out of SMS (STOP) and back in (START). */
  readonly keywords: OptOutKeywords;
  /** A provider's own, where its gateway acts on keywords itself (ProviderPlugin.keywords): its SMS are read by them instead. */
  readonly providerKeywords?: ReadonlyMap<string, OptOutKeywords> | undefined;
  /**
   * Why the relay would refuse a reply to a mail from `number` whoever writes it (acceptance's own checks: a route, the
   * destination rules), the number written as the mail writes it; undefined when a reply may go. Unset: not asked.
   */
  readonly replyRefusal?: ((number: string) => string | undefined) | undefined;
}

/**
 * The one place that decides what an SMS's mail says about replying to it, whichever mails it: the inbound side when
 * the SMS comes, and `undeliverable reroute` (the CLI's and the console's) when an operator mails one that found no
 * mailbox, read again then (the number may have opted in or out since). A STOP says the number opted out, a START
 * what it changed, any other SMS of a number still opted out that replies are not sent until it opts in; a number
 * the relay texts for no sender says so; the rest invite the reply.
 */
export class ReplyNotes {
  readonly #options: ReplyNotesOptions;
  readonly #keywords: KeywordForms;
  readonly #providerKeywords: ReadonlyMap<string, KeywordForms>;

  constructor(options: ReplyNotesOptions) {
    this.#options = options;
    this.#keywords = keywordForms(options.keywords);
    this.#providerKeywords = new Map([...(options.providerKeywords ?? [])].map(([provider, keywords]) => [provider, keywordForms(keywords)]));
  }

  /** The SMS's STOP or START: the gateway's word for it where it gives one (Twilio's OptOutType), else its text read by the provider's keywords. */
  optOutOf(provider: string, sms: Pick<ReceivedSms, 'text' | 'optOut'>): OptOutAction | undefined {
    if (sms.optOut !== undefined) return { action: sms.optOut, keyword: keywordForm(sms.text) };
    return optOutOf(sms.text, this.#providerKeywords.get(provider) ?? this.#keywords);
  }

  /**
   * The notes of an SMS from `number` whose STOP/START is `optOut`, the number opted out before it (`optedOut`, read
   * together with the SMS's other reads; not asked of a STOP). `routed`: the SMS has a mailbox to mail (no mail, no
   * refusal to tell).
   */
  async notes(
    number: string,
    optOut: OptOutAction | undefined,
    optedOut: boolean | undefined,
    routed: boolean,
    store: Pick<ReplyStore, 'optOutKeyword'>,
  ): Promise<ReplyNoteFields> {
    const wasOptedOut = optOut?.action === 'start' ? optedOut : undefined;
    const stillOptedOut = optOut === undefined && optedOut ? await store.optOutKeyword(number) : undefined;
    // A sender name or short code is told as such, and a STOP or an opt-out says why replies are not sent already.
    const saysWhy = !canTextBack(number) || optOut?.action === 'stop' || stillOptedOut !== undefined;
    const replyRefused = saysWhy || !routed ? undefined : this.#options.replyRefusal?.(number);
    return { optOut, wasOptedOut, stillOptedOut, replyRefused };
  }

  /**
   * The notes of a kept SMS mailed now (a reroute): its STOP/START read again, the number's opt-out as it stands. Whether
   * a START changed anything when it came is not known then (it ended the opt-out it found): one that still stands says
   * the phone is reached again; one a STOP overrode since is mailed as any SMS of an opted-out number. A STOP whose
   * opt-out a START ended since says so, and is mailed as any SMS (replies reach the phone again).
   */
  async reread(provider: string, sms: Pick<ReceivedSms, 'number' | 'text'>, store: Pick<ReplyStore, 'isOptedOut' | 'optOutKeyword'>): Promise<ReplyNoteFields> {
    const optOut = this.optOutOf(provider, sms);
    const optedOut = await store.isOptedOut(sms.number);
    if (optOut?.action === 'stop' && !optedOut) return { ...(await this.notes(sms.number, undefined, false, true, store)), optOut, optedInSince: true };
    if (optOut?.action === 'stop') return this.notes(sms.number, optOut, undefined, true, store);
    if (optOut?.action === 'start')
      return optedOut ? this.notes(sms.number, undefined, true, true, store) : this.notes(sms.number, optOut, undefined, true, store);
    return this.notes(sms.number, optOut, optedOut, true, store);
  }
}

/**
 * STOP/START when the keyword is the whole SMS (case and what surrounds it aside), as Twilio and
 * CTIA-style platforms take it: a sentence that merely starts with one ("Cancel that, false alarm",
 * "End of shift") is an answer, and must not opt a phone out of its alerts. Compatibility forms
 * (full-width letters) read as the plain ones. The reply mail still tells the mailbox.
 */
interface KeywordForms {
  readonly stop: ReadonlySet<string>;
  readonly start: ReadonlySet<string>;
}

function keywordForms(keywords: OptOutKeywords): KeywordForms {
  return { stop: new Set(keywords.stop.map(keywordForm)), start: new Set(keywords.start.map(keywordForm)) };
}

function optOutOf(text: string, keywords: KeywordForms): OptOutAction | undefined {
  const alone = keywordForm(text);
  // Only punctuation or emoji ("👍", "?") is no keyword, whatever a keyword of only such characters would match.
  if (alone === '') return undefined;
  if (keywords.stop.has(alone)) return { action: 'stop', keyword: alone };
  if (keywords.start.has(alone)) return { action: 'start', keyword: alone };
  return undefined;
}
