import type { Logger } from '../log.ts';
import { parseMail } from '../mail/extract.ts';
import { randomUint64 } from '../random-ids.ts';
import type { Conversation, NewConversation, ReplyStore } from '../store/types.ts';
import type { ReceivedSms } from '../vocabulary.ts';

/** `latestContext` of a phone with no conversation in the window: no user context is empty (a context is 1–64 characters). */
export const NO_CONVERSATION_THEN = '';

/**
 * Where an inbound SMS goes: a conversation's mailbox, or the default mailbox without one. `earlierReply`:
 * the relay's latest reply mail in a conversation none of whose writer's mails has a Message-ID, which
 * the reply mail is threaded under instead (its Message-ID, and the first of its References as the root).
 */
export type Route = {
  readonly mailbox: string;
  readonly conversation: Conversation | undefined;
  readonly earlierReply?: { readonly messageIdHeader: string; readonly root: string } | undefined;
};

export interface ReplyTrackingOptions {
  readonly store: Pick<ReplyStore, 'conversation' | 'latestConversation' | 'contextOfTracking' | 'contextOfMail' | 'answeredNumbers' | 'sentReplies'>;
  /** How recent the latest conversation with a number must be to take an SMS without a known context. */
  readonly windowMs: number;
  readonly defaultMailbox: string | undefined;
  /** Where a reply mail that goes unthreaded for a failure (`earlierReply`) is said. */
  readonly logger: Logger;
}

/**
 * The relay's latest reply mail in a conversation whose writer's mails have no Message-ID (a device or
 * script talking SMTP sends none): each reply mail answers the one before it, so a client that threads
 * by In-Reply-To/References chains the phone's turns as under a writer's Message-ID. Read only for such
 * a conversation; none once store.retention erased what was sent (the mail goes unthreaded, as before).
 * A route's, and a reroute's (`smsrelay undeliverable reroute`), so every reply mail of it is chained.
 */
export async function earlierReply(
  conversation: Conversation,
  store: Pick<ReplyStore, 'sentReplies'>,
  unthreaded: (why: string) => void,
): Promise<Route['earlierReply']> {
  if (conversation.messageIdHeader !== undefined || conversation.latestMessageIdHeader !== undefined) return undefined;
  // Threading is cosmetic: a read that failed or a stored copy parseMail refuses (damaged) leaves this reply mail
  // unthreaded, as retention's erasing does, and never fails the SMS's route (nor a reroute); but it is said, since a
  // read failing each time (a permission, a statement) would end threading for good with nothing else to show it.
  let raw: Buffer | undefined;
  try {
    [raw] = await store.sentReplies(conversation.context, [conversation.number], 1);
  } catch (error) {
    unthreaded(`its earlier reply mail could not be read (${kindOf(error)})`);
    return undefined;
  }
  try {
    const earlier = raw && (await parseMail(raw));
    if (!earlier?.messageId) return undefined;
    const references = [earlier.references ?? []].flat();
    return { messageIdHeader: earlier.messageId, root: references[0] ?? earlier.messageId };
  } catch (error) {
    unthreaded(`its earlier reply mail's stored copy is damaged (${kindOf(error)})`);
    return undefined;
  }
}

/** A failure's kind, its code or else its name: never its words, which may quote the mail or a number. */
function kindOf(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' || typeof code === 'number') return String(code);
  return error instanceof Error ? error.name : typeof error;
}

/** What an outgoing mail says about the conversation it belongs to. */
export interface ConversationClues {
  /** The context the mail names (parameter, subject, reply tag). */
  readonly userContext?: string | undefined;
  /** The Message-IDs the mail answers (In-Reply-To, References). */
  readonly threadIds: readonly string[];
  /** Where replies go (Reply-To or the author, src/mail/addresses.ts mailboxChoice); undefined = nowhere. */
  readonly mailbox: string | undefined;
  /** The mail's author (From's one address, or the one its Sender names): with `mailbox`, the mailboxes this mail is from. */
  readonly author: string | undefined;
  /**
   * Whether the mail's sender (its account or network) may write as an address: `mailbox` and `author`
   * are headers anyone writes, so they make the mail a conversation's mailbox's only where this vouches
   * for them (SenderPolicy.mayWriteAs). Unset: any address (the tests of tracking alone).
   */
  readonly mayWriteAs?: ((address: string) => boolean) | undefined;
}

/** The user context an outgoing mail carries, and what it writes to its conversations. */
export interface OutgoingTracking {
  readonly userContext: string;
  readonly conversation: NewConversation | undefined;
  /**
   * The context the mail named and did not get: another mailbox's conversation with these of its
   * numbers (`userContext` is a new one instead); undefined when it got what it named or named none.
   */
  readonly notTaken: { readonly context: string; readonly numbers: readonly string[] } | undefined;
  /** The phone's answers go to the mail's own mailbox (Reply-To, else From), not a conversation's earlier one. */
  readonly mailboxTaken: boolean;
  /**
   * The mail was not taken into a conversation whose mailbox its From or Reply-To names, because its
   * sender may not write as that address (an account forging another's From): the mailbox it posed as.
   */
  readonly posedAs: string | undefined;
}

/**
 * Reply tracking, in one place: which user context an outgoing SMS carries (the one its mail names,
 * the one of the thread it answers, or a new one), and which mailbox an SMS from a phone answers. The
 * gateway echoes the user context of the SMS being answered (or a tracking id it stands for), so
 * (context, number) names the conversation even when several mailboxes write to one phone; without a
 * known context, the latest conversation with that number wins, else the default mailbox.
 *
 * Nothing here is kept in memory: every route is read from the store. Relays sharing a database each
 * take mail and webhooks, and a conversation whose mailbox one relay moves (its mailbox's own mail with
 * another Reply-To) must route the next reply there on every relay at once; one indexed read per SMS from a
 * phone is cheap next to the commit that follows it.
 */
export class ReplyTracking {
  readonly #options: ReplyTrackingOptions;
  /** Why reply mails went unthreaded so far: a warning for each the first time, debug after (one per SMS would flood). */
  readonly #unthreadedSeen = new Set<string>();

  constructor(options: ReplyTrackingOptions) {
    this.#options = options;
  }

  /**
   * The context and conversation rows of a mail to `numbers`. A context it names, or its thread's, that
   * is another mailbox's conversation with one of them is not taken (the phone's answers would follow
   * the mail to its sender: anyone knowing a context could read a conversation), unless the mail answers
   * a mail of that conversation, with that number (In-Reply-To/References, as a reply without a context
   * is found): then it continues the conversation, whose mailbox stays; otherwise the mail gets a new
   * context, as one naming none does (one context per mail: a number not taken takes the others along). A conversation's own writer moves it to another mailbox by naming it (in any
   * form, the reply tag or the thread too) with a new Reply-To; their mail that moves nothing continues
   * it, in any form too (an ERP naming its ticket's context in each new mail): its first mail and subject
   * stay the conversation's, so its reply mails keep the first mail in References (threadHeaders).
   * `reads`: what the conversation is read through, the store by default; a mail's text stage read the same
   * already, and buildNewMail passes reads that answer each question once per mail.
   */
  async outgoing(clues: ConversationClues, numbers: readonly string[], reads: OutgoingReads = this.#options.store): Promise<OutgoingTracking> {
    const named = clues.userContext;
    // Most mails name no context and answer no thread: a new conversation, with no read to await.
    if (named === undefined && clues.threadIds.length === 0) return this.#result(clues, newUserContext(), false, []);
    const context = named ?? (await threadContext(clues.threadIds, numbers, reads));
    if (context === undefined) return this.#result(clues, newUserContext(), false, []);
    const conversations = await conversationsOf(context, numbers, reads);
    const claimed = ownMailboxes(clues);
    const own = new Set([...claimed].filter((address) => clues.mayWriteAs?.(address) ?? true));
    const held = conversations.filter((found) => !own.has(found.mailbox.toLowerCase()));
    const unanswered = await unansweredOf(context, held, clues.threadIds, reads);
    if (unanswered.length > 0) {
      const posedAs = unanswered.find((found) => claimed.has(found.mailbox.toLowerCase()))?.mailbox;
      const fresh = { ...this.#result(clues, newUserContext(), false, []), posedAs };
      return named === undefined ? fresh : { ...fresh, notTaken: { context: named, numbers: unanswered.map((found) => found.number) } };
    }
    if (held.length > 0) return this.#result(clues, context, true, conversations);
    const moves = conversations.some((found) => found.mailbox.toLowerCase() !== clues.mailbox?.toLowerCase());
    return this.#result(clues, context, !moves, conversations);
  }

  #result(clues: ConversationClues, userContext: string, continues: boolean, conversations: readonly Conversation[]): OutgoingTracking {
    const mailbox = clues.mailbox;
    return {
      userContext,
      conversation: mailbox ? { mailbox, continues } : undefined,
      notTaken: undefined,
      // A continued conversation keeps its mailbox: the mail's own is taken only where it is that one already.
      mailboxTaken: mailbox !== undefined && (!continues || conversations.every((found) => found.mailbox.toLowerCase() === mailbox.toLowerCase())),
      posedAs: undefined,
    };
  }

  /** The context a received SMS answers: echoed by the provider, or the one its tracking id stands for. */
  async contextOf(sms: Pick<ReceivedSms, 'userContext' | 'trackingId' | 'number'>): Promise<string | undefined> {
    if (sms.userContext !== undefined) return sms.userContext;
    return sms.trackingId ? this.#options.store.contextOfTracking(sms.trackingId, sms.number) : undefined;
  }

  /**
   * `now` is the relay's clock, which decides the window on SQLite only (see ReplyStore.latestConversation).
   * `latestContext`, for an SMS the phone began earlier (a long SMS's first part), is the phone's latest
   * conversation then (`latestContext()`): it stands for the latest, so that what was written to the
   * phone since does not take the SMS.
   */
  async route(number: string, context: string | undefined, now: number, latestContext?: string): Promise<Route | undefined> {
    const { store } = this.#options;
    const known = context ? await store.conversation(context, number) : undefined;
    const then = !known && latestContext ? await store.conversation(latestContext, number) : undefined;
    // The phone had no conversation when it began the SMS: none written to it since takes the SMS.
    const latest = known || then || latestContext === NO_CONVERSATION_THEN ? undefined : await this.#latest(number, now);
    const conversation = known ?? then ?? latest;
    if (conversation) return { mailbox: conversation.mailbox, conversation, earlierReply: await earlierReply(conversation, store, this.#unthreaded) };
    return this.#options.defaultMailbox ? { mailbox: this.#options.defaultMailbox, conversation: undefined } : undefined;
  }

  /**
   * The context of the phone's latest conversation within the window, now: what an SMS naming none
   * answers; NO_CONVERSATION_THEN when it has none (kept with a long SMS's first part, unlike the
   * absent value of a set a relay before schema 23 opened, which routes by the latest when mailed).
   */
  async latestContext(number: string, now: number): Promise<string> {
    return (await this.#latest(number, now))?.context ?? NO_CONVERSATION_THEN;
  }

  readonly #unthreaded = (why: string): void => {
    const first = !this.#unthreadedSeen.has(why);
    this.#unthreadedSeen.add(why);
    this.#options.logger[first ? 'warn' : 'debug']({ why }, `replies: a reply mail goes unthreaded: ${why}`);
  };

  #latest(number: string, now: number): Promise<Conversation | undefined> {
    return this.#options.store.latestConversation(number, this.#options.windowMs, now);
  }
}

/**
 * The mailboxes a mail is from: its mailbox and its author (mail addresses' case carries no meaning in
 * practice: Bob@ and bob@ are one writer). Not every address of a From naming several: listing Alice's
 * after one's own makes no mail Alice's.
 */
function ownMailboxes(clues: ConversationClues): Set<string> {
  return new Set([clues.mailbox, clues.author].flatMap((address) => (address ? [address.toLowerCase()] : [])));
}

/**
 * A user context for a mail that brings none: the gateway echoes it with the phone's reply, which
 * finds this mail's mailbox among everyone who writes to that phone. 8 characters of base 36 (41 bits):
 * unique enough per number, short enough for any gateway field.
 */
function newUserContext(): string {
  return randomUint64().toString(36).slice(0, 8).padStart(8, '0');
}

/** The store's reads an outgoing mail's tracking makes (ReplyTracking.outgoing). */
export type OutgoingReads = Pick<ReplyStore, 'contextOfMail' | 'conversation' | 'answeredNumbers'>;

/** The context of the conversation a reply mail continues, found by the Message-IDs it answers. */
async function threadContext(threadIds: readonly string[], numbers: readonly string[], reads: OutgoingReads): Promise<string | undefined> {
  if (threadIds.length === 0) return undefined;
  return reads.contextOfMail(threadIds, numbers);
}

/**
 * Of another mailbox's conversations under `context`, those this mail answers no mail of, each with
 * its own number (any of the Message-IDs it answers, not only the first the store knows): a thread
 * found through one number (the writer's own conversation with it, under the same context) proves
 * nothing about another number's, and a mail to both would otherwise be taken into that one.
 */
async function unansweredOf(context: string, held: readonly Conversation[], threadIds: readonly string[], reads: OutgoingReads): Promise<Conversation[]> {
  if (held.length === 0) return [];
  const answered = new Set(
    await reads.answeredNumbers(
      context,
      threadIds,
      held.map((found) => found.number),
    ),
  );
  return held.filter((found) => !answered.has(found.number));
}

/** The conversations under `context` with these numbers that exist. */
async function conversationsOf(context: string, numbers: readonly string[], reads: OutgoingReads): Promise<Conversation[]> {
  const found = await Promise.all(numbers.map((number) => reads.conversation(context, number)));
  return found.filter((conversation) => conversation !== undefined);
}
