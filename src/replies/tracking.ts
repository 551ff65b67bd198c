import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Conversation, NewConversation, ReplyStore } from '../store/types.ts';
import type { ReceivedSms } from '../vocabulary.ts';

/** Conversations looked up by (context, number) kept in memory: each MO needs one, most repeat. */
const CACHED_CONVERSATIONS = 10_000;

/** Where an inbound SMS goes: a conversation's mailbox, or the default mailbox without one. */
export type Route = { readonly mailbox: string; readonly conversation: Conversation | undefined };

export interface ReplyTrackingOptions {
  readonly store: Pick<ReplyStore, 'conversation' | 'latestConversation' | 'contextOfTracking' | 'contextOfMail'>;
  /** How recent the latest conversation with a number must be to take an SMS without a known context. */
  readonly windowMs: number;
  readonly defaultMailbox: string | undefined;
}

/** What an outgoing mail says about the conversation it belongs to. */
export interface ConversationClues {
  /** The context the mail names (parameter, subject, reply tag). */
  readonly userContext?: string | undefined;
  /** That context came from the tag of a reply mail: the mail continues that conversation. */
  readonly contextFromReplyTag: boolean;
  /** The Message-IDs the mail answers (In-Reply-To, References). */
  readonly threadIds: readonly string[];
  /** Where replies go (Reply-To or From); undefined = nowhere. */
  readonly mailbox: string | undefined;
}

/** The user context an outgoing mail carries, and what it writes to its conversations. */
export interface OutgoingTracking {
  readonly userContext: string;
  readonly conversation: NewConversation | undefined;
}

/**
 * Reply tracking, in one place: which user context an outgoing SMS carries (the one its mail names,
 * the one of the thread it answers, or a new one), and which mailbox an SMS from a phone answers. The
 * gateway echoes the user context of the SMS being answered (or a tracking id it stands for), so
 * (context, number) names the conversation even when several mailboxes write to one phone; without a
 * known context, the latest conversation with that number wins, else the default mailbox.
 */
export class ReplyTracking {
  readonly #options: ReplyTrackingOptions;
  readonly #cache = new LRUCache<string, Conversation>({ max: CACHED_CONVERSATIONS });

  constructor(options: ReplyTrackingOptions) {
    this.#options = options;
  }

  /** The context and conversation rows of a mail to `numbers`. */
  async outgoing(clues: ConversationClues, numbers: readonly string[]): Promise<OutgoingTracking> {
    const thread = clues.userContext === undefined ? await this.#threadContext(clues.threadIds, numbers) : undefined;
    return {
      userContext: clues.userContext ?? thread ?? newUserContext(),
      conversation: clues.mailbox ? { mailbox: clues.mailbox, continues: clues.contextFromReplyTag || thread !== undefined } : undefined,
    };
  }

  /** A committed mail changed these conversations: the next lookup reads the store. */
  committed(context: string, numbers: readonly string[]): void {
    for (const number of numbers) this.#cache.delete(key(context, number));
  }

  /** The context a received SMS answers: echoed by the provider, or the one its tracking id stands for. */
  async contextOf(sms: Pick<ReceivedSms, 'userContext' | 'trackingId' | 'number'>): Promise<string | undefined> {
    if (sms.userContext !== undefined) return sms.userContext;
    return sms.trackingId ? this.#options.store.contextOfTracking(sms.trackingId, sms.number) : undefined;
  }

  async route(number: string, context: string | undefined, now: number): Promise<Route | undefined> {
    const known = context ? await this.#byContext(context, number) : undefined;
    const conversation = known ?? (await this.#options.store.latestConversation(number, now - this.#options.windowMs));
    if (conversation) return { mailbox: conversation.mailbox, conversation };
    return this.#options.defaultMailbox ? { mailbox: this.#options.defaultMailbox, conversation: undefined } : undefined;
  }

  /** The context of the conversation a reply mail continues, found by the Message-IDs it answers. */
  async #threadContext(threadIds: readonly string[], numbers: readonly string[]): Promise<string | undefined> {
    if (threadIds.length === 0) return undefined;
    return this.#options.store.contextOfMail(threadIds, numbers);
  }

  async #byContext(context: string, number: string): Promise<Conversation | undefined> {
    const cached = this.#cache.get(key(context, number));
    if (cached) return cached;
    const stored = await this.#options.store.conversation(context, number);
    if (stored) this.#cache.set(key(context, number), stored);
    return stored;
  }
}

/**
 * A user context for a mail that brings none: the gateway echoes it with the phone's reply, which
 * finds this mail's mailbox among everyone who writes to that phone. 8 characters of base 36 (41 bits):
 * unique enough per number, short enough for any gateway field.
 */
function newUserContext(): string {
  return BigInt(`0x${randomBytes(8).toString('hex')}`)
    .toString(36)
    .slice(0, 8)
    .padStart(8, '0');
}

function key(context: string, number: string): string {
  return `${context}\u0000${number}`;
}
