import type { Store } from './types.ts';

/**
 * The relay's own tables as the console's pages read them (the queue, its figures, pauses, a message's SMS and history,
 * the quarantine): the same reads as the relay's store makes for the CLI, run where the console reads (ConsoleStore.relayReads).
 */
export type RelayReads = Pick<
  Store,
  | 'queueStats'
  | 'listQueued'
  | 'listQuarantine'
  | 'quarantined'
  | 'quarantineSpan'
  | 'dispatchPausedSince'
  | 'undeliverableInbound'
  | 'events'
  | 'smsOf'
  | 'gatewayState'
  | 'nextSmsDueAt'
>;

/**
 * What the web console (issue #19) keeps and reads beside the relay's own store: its sessions, its
 * sign-in throttle and its audit of actions (all shared by every relay on the store), and the bounded,
 * indexed reads behind its pages. Separate from `Store` so that the console's reads run on their own
 * connection and never queue behind the relay's commits. Timestamps are integer milliseconds.
 */
export interface ConsoleStore {
  createSession(session: ConsoleSession): Promise<void>;
  /** The session whose id (the hash of its cookie's token) this is, or undefined. */
  session(id: string): Promise<ConsoleSession | undefined>;
  touchSession(id: string, at: number): Promise<void>;
  deleteSession(id: string): Promise<void>;
  /** Drops sessions unused since `idleBefore` or created before `createdBefore`; how many went. */
  expireSessions(idleBefore: number, createdBefore: number): Promise<number>;

  /** A sign-in from `client` naming the user `account`, before its password is checked: pending, counted nowhere; its id. */
  recordLoginAttempt(client: string, account: string, at: number): Promise<number>;
  /** The pending attempt `id` had a wrong password: it is a failed sign-in from then on. */
  loginAttemptFailed(id: number): Promise<void>;
  /** The pending attempt `id` had the right password: it is forgotten. */
  forgetLoginAttempt(id: number): Promise<void>;
  /** The failed sign-ins from `client` since `since`, whatever user they named, oldest first (their times); none pending. */
  loginFailures(client: string, since: number): Promise<number[]>;
  /** A successful sign-in as `account` forgets the client's failures naming it (only those: no attempt pending). */
  clearLoginFailures(client: string, account: string): Promise<void>;

  /** An action as the audit keeps it; with `messageId`, it joins that message's history too. */
  recordAction(action: ConsoleAction): Promise<void>;
  recentActions(limit: number): Promise<ConsoleAction[]>;

  /** Mails matching `search`, newest first (ids are time-ordered), at most `limit`. */
  searchMessages(search: MessageSearch, limit: number): Promise<MessageSummary[]>;
  message(id: string): Promise<MessageDetail | undefined>;
  /**
   * SMS sent, delivered and failed per bucket of `bucketMs` from `since` to `until` (now's bucket's end): what is
   * stamped after `until` (on a wall clock that stepped back since) counts in the last bucket.
   */
  activity(since: number, until: number, bucketMs: number): Promise<ActivityBucket[]>;
  /** The latest gateway problem (a deferred or failed SMS) and the latest send, for the overview. */
  gatewayActivity(): Promise<{ readonly lastError: TimedDetail | undefined; readonly lastSent: number | undefined }>;
  /** The same for the relay's own mail (bounces, replies) through the smarthost or the Maildir. */
  mailActivity(): Promise<{ readonly lastError: TimedDetail | undefined; readonly lastSent: number | undefined }>;
  /**
   * The numbers in the latest `RECENT_TRAFFIC_ROWS` SMS sent and as many received, each with its latest
   * traffic, newest first (ties by reference): a bounded list the console pages through.
   */
  conversations(): Promise<ConversationSummary[]>;
  /** The number an outbound SMS (`o<id>`) or an inbound one (`i<id>`) is with. */
  numberOfRef(ref: string): Promise<string | undefined>;
  /**
   * A page of at most `limit` of a number's mails and replies after `after` (where the page before ended), newest first,
   * each read on its own index whatever the thread's length (console-rows.ts, threadPage), and where the next starts.
   */
  thread(number: string, limit: number, after?: ThreadCursor): Promise<ThreadPage>;
  /**
   * Where the console reads the relay's own tables (`store`'s): on PostgreSQL on its own read pool, bounded as its other reads
   * (a lock waited for 3 s at most: STORE_BUSY), never on a connection the relay commits mail on; on SQLite `store` itself,
   * whose reads are WAL reads that wait for no lock.
   */
  relayReads(store: RelayReads): RelayReads;
  close(): Promise<void>;
}

export interface ConsoleSession {
  readonly id: string;
  readonly username: string;
  readonly csrf: string;
  readonly client: string;
  readonly createdAt: number;
  readonly lastSeenAt: number;
}

export interface ConsoleAction {
  readonly at: number;
  readonly username: string;
  readonly client: string;
  readonly action: string;
  readonly target: string | undefined;
  readonly detail: string | undefined;
  readonly messageId?: string | undefined;
}

export interface MessageSearch {
  readonly number?: string | undefined;
  /** Envelope sender, exactly or `@domain`. */
  readonly sender?: string | undefined;
  readonly messageId?: string | undefined;
  /** The mail's own Message-ID header, as kept (`<abc@host>`). */
  readonly messageIdHeader?: string | undefined;
  /** An SMS state of the mail's, or `resubmission`: the mail is one (sent once, as its original). */
  readonly status?: 'queued' | 'sent' | 'delivered' | 'failed' | 'deleted' | 'resubmission' | undefined;
  readonly since?: number | undefined;
  readonly until?: number | undefined;
  /** Only mails older than this message id (the next page). */
  readonly before?: string | undefined;
}

export interface MessageSummary {
  readonly id: string;
  readonly receivedAt: number;
  readonly envelopeFrom: string;
  readonly text: string;
  /** Its SMS's numbers; a resubmission's are its original's. */
  readonly numbers: readonly string[];
  /** Its SMS's states; none for a resubmission, which sent nothing itself. */
  readonly statuses: readonly string[];
  /** The message this one repeats (the same mail sent again within delivery.resubmissionWindow), sent once as that one. */
  readonly duplicateOf: string | undefined;
}

export interface MessageDetail extends MessageSummary {
  readonly client: { readonly address: string; readonly helo: string };
  readonly subject: string | undefined;
  readonly encoding: string;
  readonly parts: number;
  readonly senderId: string | undefined;
  readonly userContext: string | undefined;
  readonly gatewayAccount: string | undefined;
  /** The account it was accepted under (SMTP AUTH's, a console test send's); undefined from a network. */
  readonly account: string | undefined;
  /** The mail's own Message-ID header (`<abc@host>`), kept after retention erases its text: what its sender knows it by. */
  readonly messageIdHeader: string | undefined;
  /** Retention erased its text and headers. */
  readonly erased: boolean;
}

export interface ActivityBucket {
  readonly at: number;
  readonly sent: number;
  readonly delivered: number;
  readonly failed: number;
}

export interface TimedDetail {
  readonly at: number;
  readonly detail: string;
  /** The history line's kind: a gateway problem is `deferred` or `expired`; `failed` may be one number refused. */
  readonly kind: string;
}

export interface ConversationSummary {
  readonly ref: string;
  readonly number: string;
  readonly lastAt: number;
}

/**
 * Where a thread's page starts: after the last mail (its SMS id) and the last reply (its time and id) the pages before
 * showed; a kind none of them showed starts at its newest.
 */
export interface ThreadCursor {
  readonly mail: number | undefined;
  readonly reply: { readonly at: number; readonly id: string } | undefined;
}

export interface ThreadPage {
  readonly items: readonly ThreadItem[];
  /** Where the next page starts; undefined when this one ends the thread. */
  readonly next: ThreadCursor | undefined;
}

export type ThreadItem =
  | { readonly kind: 'mail'; readonly at: number; readonly id: string; readonly from: string; readonly text: string; readonly status: string }
  | {
      readonly kind: 'reply';
      readonly at: number;
      readonly id: string;
      readonly text: string;
      /** Where it was mailed; undefined while it is undeliverable. */
      readonly mailbox: string | undefined;
      /** An undeliverable reply's last mail, refused for good (or bounced): whom it went to and the server's answer. */
      readonly refused?: { readonly mailbox: string; readonly error: string };
    };
