import { LRUCache } from 'lru-cache';
import type { Conversation, Store } from '../store/types.ts';

/** Conversations looked up by (context, number) kept in memory: each MO needs one, most repeat. */
const CACHED_CONVERSATIONS = 10_000;

/** Where an inbound SMS goes: a conversation's mailbox, or the default mailbox without one. */
export type Route = { readonly mailbox: string; readonly conversation: Conversation | undefined };

export interface ConversationOptions {
  readonly store: Store;
  /** How recent the latest conversation with a number must be to take an SMS without a known context. */
  readonly windowMs: number;
  readonly defaultMailbox: string | undefined;
}

/**
 * Reply tracking: finds the mailbox an SMS from a phone answers. The gateway echoes the user context
 * of the SMS being answered, so (context, number) names the conversation even when several mailboxes
 * write to one phone; without a known context, the latest conversation with that number wins.
 */
export class Conversations {
  readonly #options: ConversationOptions;
  readonly #cache = new LRUCache<string, Conversation>({ max: CACHED_CONVERSATIONS });

  constructor(options: ConversationOptions) {
    this.#options = options;
  }

  async route(number: string, context: string | undefined, now: number): Promise<Route | undefined> {
    const known = context ? await this.#byContext(context, number) : undefined;
    const conversation = known ?? (await this.#options.store.latestConversation(number, now - this.#options.windowMs));
    if (conversation) return { mailbox: conversation.mailbox, conversation };
    return this.#options.defaultMailbox ? { mailbox: this.#options.defaultMailbox, conversation: undefined } : undefined;
  }

  /** A mail changed these conversations: the next lookup reads the store. */
  forget(context: string, numbers: readonly string[]): void {
    for (const number of numbers) this.#cache.delete(key(context, number));
  }

  async #byContext(context: string, number: string): Promise<Conversation | undefined> {
    const cached = this.#cache.get(key(context, number));
    if (cached) return cached;
    const stored = await this.#options.store.conversation(context, number);
    if (stored) this.#cache.set(key(context, number), stored);
    return stored;
  }
}

function key(context: string, number: string): string {
  return `${context}\u0000${number}`;
}
