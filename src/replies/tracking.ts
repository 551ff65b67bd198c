import { randomUint64 } from '../random-ids.ts';
import type { Conversation, NewConversation, ReplyStore } from '../store/types.ts';
import type { ReceivedSms } from '../vocabulary.ts';

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
 *
 * Nothing here is kept in memory: every route is read from the store. Relays sharing a database each
 * take mail and webhooks, and a conversation one relay takes over (another mailbox under the same
 * context) must route the next reply there on every relay at once; one indexed read per SMS from a
 * phone is cheap next to the commit that follows it.
 */
export class ReplyTracking {
  readonly #options: ReplyTrackingOptions;

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

  /** The context a received SMS answers: echoed by the provider, or the one its tracking id stands for. */
  async contextOf(sms: Pick<ReceivedSms, 'userContext' | 'trackingId' | 'number'>): Promise<string | undefined> {
    if (sms.userContext !== undefined) return sms.userContext;
    return sms.trackingId ? this.#options.store.contextOfTracking(sms.trackingId, sms.number) : undefined;
  }

  /** `now` is the relay's clock, which decides the window on SQLite only (see ReplyStore.latestConversation). */
  async route(number: string, context: string | undefined, now: number): Promise<Route | undefined> {
    const { store, windowMs } = this.#options;
    const known = context ? await store.conversation(context, number) : undefined;
    const conversation = known ?? (await store.latestConversation(number, windowMs, now));
    if (conversation) return { mailbox: conversation.mailbox, conversation };
    return this.#options.defaultMailbox ? { mailbox: this.#options.defaultMailbox, conversation: undefined } : undefined;
  }

  /** The context of the conversation a reply mail continues, found by the Message-IDs it answers. */
  async #threadContext(threadIds: readonly string[], numbers: readonly string[]): Promise<string | undefined> {
    if (threadIds.length === 0) return undefined;
    return this.#options.store.contextOfMail(threadIds, numbers);
  }
}

/**
 * A user context for a mail that brings none: the gateway echoes it with the phone's reply, which
 * finds this mail's mailbox among everyone who writes to that phone. 8 characters of base 36 (41 bits):
 * unique enough per number, short enough for any gateway field.
 */
function newUserContext(): string {
  return randomUint64().toString(36).slice(0, 8).padStart(8, '0');
}
