import type { StoreFailureCode } from '../errors.ts';
import type { DeliveryState, SmsEncoding } from '../vocabulary.ts';
import type { ReassemblyStore } from './reassembly.ts';
import type { ClusterStore } from './cluster-types.ts';
import type { SharedStateStore } from './shared-state-types.ts';
import type { PartReceiptStore } from './part-receipts-types.ts';
import type { ClockStepStore } from './clock-step-types.ts';

/** How Store#acceptMail stores a mail beyond its rows (see there). */
export interface AcceptOptions {
  readonly onlyAsResubmission?: boolean;
  readonly rateTicket?: number;
}

/**
 * The store as the rest of the relay sees it. Every method is asynchronous and every write is one
 * transaction, so that a networked backend (PostgreSQL, for several relay instances) can implement
 * the same interface. Writes resolve only after their transaction is durable.
 */
export interface Store extends ReplyStore, ReassemblyStore, SharedStateStore, ClusterStore, PartReceiptStore, ClockStepStore {
  /**
   * Commits a mail and one SMS job per distinct number atomically; resolve = safe to answer 250.
   * A resubmission is recorded without SMS jobs, and the original's id is returned: the client gets its 250, the phone
   * gets one SMS. A mail is one of the latest mail under its Message-ID since `mail.resubmission.since` with its
   * fingerprint (the same numbers and text) and its Subject, and either its Date as written (a server's queued retry of
   * it, whatever came between) or no mail under that Message-ID since then, to ANY numbers, with another text or Subject
   * (a stored resubmission, its original again, breaks no chain); at most `rows` mails are read, newest first, past
   * them none folds (a possible duplicate, never a loss). Not one none of whose SMS was sent or is still to be sent
   * (rows.ts, SENT_OR_TO_BE_SENT: every one failed, expired or deleted): its resend is texted, as nothing else would be. So a client rebuilding its resend with a new Date after a lost
   * 250 is texted once unless another alert came between. A UPS reusing one Message-ID (on battery, restored, on
   * battery again, each with its Date) is texted each alert, whoever
   * the restored went to (all, some, or each number in a transaction of its own); per-recipient transactions of one mail
   * (a split at a recipient limit, a 452 on some RCPTs, the same text to each) still fold each one's resend. A list that
   * personalises each member's copy (another text per member) is a mail of another text between: a resend after another
   * member's copy is texted again, a duplicate, never a loss. "Since" is by received_at, then insertion order (SQLite's
   * rowid; PostgreSQL's id, time-ordered per relay): relays on one PostgreSQL stamp by their own clocks, so of two mails
   * under one Message-ID accepted by two relays within their clocks' offset either may be taken as the later.
   * `reports`: the bounce of `mail.refused`, queued in the same transaction (as recordSmsOutcomes queues its
   * mail), so that no crash between two writes loses it; neither is stored for a resubmission (it had them).
   * `onlyAsResubmission`: store `mail` only if it is a resubmission (then as above); any other mail is not stored at all
   * and `duplicateOf` is undefined. For a resend its sender's limits refused: it sends nothing, so no limit holds it back.
   * `rateTicket`: the count `takeRate` took for `mail`, given back (as releaseRate) in the same transaction when `mail` is
   * stored as a resubmission, which sends nothing: no crash between two writes keeps it in the sender's budget.
   */
  acceptMail(mail: NewMail, reports?: readonly NewOutgoingMail[], options?: AcceptOptions): Promise<{ readonly duplicateOf: string | undefined }>;

  /**
   * Leases due SMS jobs to `owner` until `leaseUntil`: at most `maxBatches` batches, each the numbers
   * of one mail, at most `batchSize` of them (one gateway request each). One whose ended lease (another relay's,
   * ClaimedSms.takenOverFrom, or `owner`'s own after a claim whose answer was lost) a delivery report named while that
   * lease's attempt was in flight is recorded sent by the report instead (as at releaseStaleLeases), and not returned.
   */
  claimDueSms(request: SmsClaimRequest): Promise<SmsBatch[]>;
  /** The earliest `next_attempt_at` of a queued SMS job, or undefined when none is queued. */
  nextSmsDueAt(): Promise<number | undefined>;
  /**
   * When the first queued SMS job is both due and past its maximum age `maxAgeMs` (counted from its
   * mail's arrival, or its `X-SMS-Send-At`), or undefined when none is queued: while every provider is
   * paused, nothing else is claimed before the next probe, but such an SMS is given up at its age.
   */
  nextSmsExpiryAt(maxAgeMs: number): Promise<number | undefined>;
  /** Records what happened to leased jobs, and enqueues mail (bounces) in the same transaction. */
  /**
   * `owner`: the relay recording them. An outcome of an SMS whose lease it no longer holds (another relay
   * took it over while this one was frozen or cut off) does not change the SMS: it is kept as a history
   * line (`late answer: from <owner>, after its lease was taken over: …`), and the reports queued with it about its message are dropped.
   * Without `owner`, every outcome is the SMS's. Resolves with the ids of the outcomes kept as late answers
   * (none without `owner`): the dispatcher lets such an answer change nothing of the provider's shared state either.
   * A retry of an SMS a delivery report named while its attempt was in flight (NewDeliveryReport.messageId) records it
   * sent with that report instead, which proves the gateway took it: it is not queued again.
   */
  recordSmsOutcomes(outcomes: readonly SmsOutcome[], mail?: readonly NewOutgoingMail[], owner?: string): Promise<readonly number[]>;

  enqueueMail(mail: readonly NewOutgoingMail[]): Promise<void>;
  claimDueMail(request: ClaimRequest): Promise<ClaimedMail[]>;
  nextMailDueAt(): Promise<number | undefined>;
  /**
   * A reply mail that failed puts its SMS back among the undeliverable ones (no mailbox), in the same
   * transaction: the phone's text is then listed and can be rerouted, not only found in the log.
   * `owner`: the relay recording it, as in recordSmsOutcomes. An outcome of a mail no longer queued under
   * its lease (another relay took it over while this one was frozen or cut off, and may have sent it)
   * changes nothing of the mail nor of its SMS: it is kept as a history line (`late answer: from <owner>,
   * after its lease was taken over: mail sent: 250 …`), and resolves `late`. Without `owner`, the outcome
   * is the mail's.
   */
  recordMailOutcome(outcome: MailOutcome, owner?: string): Promise<MailOutcomeRecorded>;
  /**
   * Makes the queued mail waiting on its backoff (not leased) due at `now`: the transport that deferred
   * it works again. Returns how many.
   */
  mailDueNow(now: number): Promise<number>;

  /**
   * At start: frees the leases that `owner` (this relay's stable name: its previous process died or
   * stopped with work in flight) holds and those that expired, and makes those jobs due at `now`. A live
   * lease of another owner stays: that relay is sending it (several relays on one database). A lease
   * expires at its `next_attempt_at` (the lease's end while `lease_owner` is set), compared with the
   * database's own clock on PostgreSQL. Returns how many jobs were in flight: an SMS among them may
   * reach the gateway twice, and gets a `resumed` history line and a possible duplicate; a mail may reach
   * its smarthost twice, and gets the same (`mail resumed`) when `outgoing.possiblyTwice` says so. An SMS that a
   * delivery report named while its attempt was in flight (applyDeliveryReport) is no such job: the gateway took it,
   * and it is recorded sent by the report, as that attempt's outcome would have (recordSmsOutcomes), and not counted.
   */
  releaseStaleLeases(owner: string, now: number, outgoing: StaleMail): Promise<{ sms: number; mail: number }>;

  /**
   * How durable a commit is, for operators (`config check`) and tests. SQLite: its journal mode and
   * `synchronous`; PostgreSQL: `server` (its version) and `synchronous_commit`.
   */
  durability(): Promise<{ readonly journalMode: string; readonly synchronous: string; readonly server?: string }>;
  /**
   * Erases what people wrote (texts, headers, subjects, mail bodies) of everything older than
   * `before` that is finished (no SMS or mail of it still queued; an inbound SMS's reply mail sent before
   * `now` less REPLY_BOUNCE_WINDOW_MS, so that no bounce of it can come). Returns how many rows lost content.
   */
  purgeContent(before: number, now: number): Promise<number>;
  /** Queue depths and ages, for metrics and `smsrelay status`. */
  queueStats(now: number): Promise<QueueStats>;
  /** Commits, the writes they carried and their time since the store opened, for metrics. */
  commitStats(): Promise<CommitStats>;
  /** The relay's own queued mail whose last attempt failed, oldest first: `smsrelay status` lists their errors. */
  queuedMailErrors(limit: number): Promise<QueuedMailError[]>;
  /** Queued SMS, oldest first; with `afterSmsId`, only those queued after that SMS (the next page). */
  listQueued(limit: number, afterSmsId?: number): Promise<QueuedSms[]>;
  /**
   * An operator's hold / release / retry / send now / delete on one message's queued SMS, on one of them, or on all (QueueTarget);
   * how many changed (a retry changes none held, nor scheduled, nor leased, nor due already; a delete none being sent: the gateway may have
   * it, and its answer decides), and the SMS it left for a relay's lease on them (QueueActionDone). `by`: who, as each
   * changed SMS's history line says it (default "by the operator").
   */
  applyQueueAction(action: QueueAction, target: QueueTarget, now: number, by?: string): Promise<QueueActionDone>;
  /**
   * Webhook requests kept because they could not be read, oldest first (without their bodies); with
   * `afterId`, only those kept after that one (the next page).
   */
  listQuarantine(limit: number, afterId?: number): Promise<QuarantineEntry[]>;
  /** One kept request, with its body as received. */
  quarantined(id: number): Promise<QuarantinedBody | undefined>;
  /** How many requests are kept, and the newest one's id: what a deletion of all of them the operator confirms names. */
  quarantineSpan(): Promise<QuarantineSpan>;
  /**
   * Deletes one kept request, or all of them up to `through` (every one when undefined): with `count`, in one transaction and
   * only when exactly `count` are kept up to `through` (else none: 0); how many went.
   */
  deleteQuarantined(which: QuarantineDeletion): Promise<number>;
  /** Pauses or resumes all dispatch (queued SMS stay queued). */
  setDispatchPaused(paused: boolean, now: number): Promise<void>;
  dispatchPausedSince(): Promise<number | undefined>;
  /** The relay message ids that went to a number, newest first. */
  messagesOfNumber(number: string, limit: number): Promise<string[]>;
  /** The SMS received from a number, newest first, with where each was mailed. */
  repliesOfNumber(number: string, limit: number): Promise<ReceivedReply[]>;
  /** A received SMS by its relay id, with its newest reply mail (as repliesOfNumber gives them); undefined when none has that id. */
  receivedReply(id: string): Promise<ReceivedReply | undefined>;
  /** Throws when the store cannot serve (for /healthz). */
  ping(): Promise<void>;
  /** Whether commits succeed, with a rate-limited write probe while they fail (for /readyz). */
  probeWrites(): Promise<StoreHealth>;
  /** History of a message, oldest first. */
  events(messageId: string): Promise<StoredEvent[]>;
  /** Where each number of a message stands. */
  smsOf(messageId: string): Promise<SmsState[]>;
  /** The SMS of a message not yet sent nor given up (queued, held or leased), as a claim gives them: what its delay notice lists. */
  waitingSms(messageId: string): Promise<ClaimedSms[]>;
  close(): Promise<void>;
}

/**
 * Whether the store can commit (docs/operations.md, "Health"): `failing` from a commit that meets a store fault
 * (read-only, full, locked) until one succeeds; `lost` for good once its file (or its WAL) was deleted or replaced
 * under the running relay. `recovery`: where what it held was copied (undefined while being copied). `damaged` for good
 * once a statement met SQLite's "malformed" or "not a database" (a file copied over the live one): nothing it says is to be trusted.
 */
export type StoreHealth =
  | { readonly state: 'ok' }
  /** `code`: what a refused mail or webhook is answered with meanwhile (the catalogue's code of the commit's failure). */
  | { readonly state: 'failing'; readonly reason: string; readonly code: StoreFailureCode }
  | { readonly state: 'lost'; readonly reason: string; readonly recovery: { readonly file: string } | { readonly error: string } | undefined }
  | { readonly state: 'damaged'; readonly reason: string };

/**
 * What recognises a mail sent again (Store#acceptMail): the fingerprint of its Message-ID, numbers and text
 * (resubmission-fingerprint.ts) its original must have, and the start of the window it is looked for in.
 */
export interface Resubmission {
  readonly fingerprint: string;
  readonly since: number;
  /** Its Date as written (stored as `date_header`): an earlier mail with its fingerprint, Subject and Date is it queued again. */
  readonly date?: string | undefined;
  /** The most mails under its Message-ID the look-up reads, newest first; RESUBMISSION_WALK_ROWS unless a test says fewer. */
  readonly rows?: number | undefined;
}

/**
 * The most mails under one Message-ID in the window the look-up reads, newest first (Store#acceptMail). Each is read
 * for its text, so without a bound a list sent as one transaction per member under one Message-ID (or a sender reusing
 * one Message-ID and text to new numbers) makes every accept read every earlier copy inside the single writer: 10,000
 * copies cost ≈ 16 ms an accept on SQLite. 500 reads ≈ 0.3 ms and covers any device's flaps within a window; past it
 * the mail is not folded: at worst a duplicate SMS, never a lost one.
 */
export const RESUBMISSION_WALK_ROWS = 500;

export interface NewMail {
  readonly id: string;
  readonly receivedAt: number;
  /** Envelope sender; '' for the null sender `<>` (never bounced to). */
  readonly envelopeFrom: string;
  readonly client: { readonly address: string; readonly helo: string };
  readonly messageIdHeader: string | undefined;
  readonly subject: string | undefined;
  /** The mail's header block as received, for the text/rfc822-headers part of a bounce. */
  readonly headers: string;
  readonly sms: OutboundSms;
  readonly dsn: { readonly ret: 'FULL' | 'HDRS' | undefined; readonly envid: string | undefined };
  readonly recipients: readonly NewRecipient[];
  /** Set when the mail can be recognised if its client sends it again (it has a Message-ID). */
  readonly resubmission: Resubmission | undefined;
  /** Set when the mail has a mailbox for replies (From or Reply-To) and a user context. */
  readonly conversation: NewConversation | undefined;
  /** The sender asked to hear of every final delivery state (`X-SMS-Delivery-Report: all`). */
  readonly reportAll: boolean;
  /** Not to be delivered before this (ms since the epoch; `X-SMS-Send-At`); undefined = now. */
  readonly sendAt: number | undefined;
  /** The relay holds the SMS until `sendAt` itself (the provider cannot schedule). */
  readonly holdUntilSendAt: boolean;
  /** The account whose own gateway credentials send it; undefined = the relay's. */
  readonly gatewayAccount: string | undefined;
  /** The account it was accepted under (SMTP AUTH's, a console test send's); undefined from a trusted or named network. */
  readonly account: string | undefined;
  /**
   * Numbers of it refused when it was accepted while its others were taken (a list's member that opted out):
   * stored as failed SMS with their reason, never sent, so its history and the console name them; none = [].
   */
  readonly refused?: readonly RefusedRecipient[] | undefined;
  /**
   * Its numbers left out of `recipients` by `policy.alertStormWindow` (src/acceptance/alert-storm.ts), each with the
   * earlier SMS that stands for it: stored as history lines only (a `folded` line on this mail, a `repeated` line on
   * that SMS unless it has one), in the mail's transaction and not for a resubmission; none = [].
   */
  readonly folded?: readonly FoldedRecipient[] | undefined;
}

/** A number of a mail not sent again (NewMail.folded): the earlier mail and its SMS to that number, which stand for it. */
export interface FoldedRecipient extends NewRecipient {
  readonly earlier: string;
  readonly earlierSms: number;
}

/**
 * A number's latest SMS (ReplyStore#latestSmsTo) and what decides whether a mail repeats it (src/acceptance/alert-storm.ts):
 * its mail's text and sender, where the phone's replies to it go (`mailbox`, its conversation's; undefined: none), and
 * whether the gateway took it with no failure reported since (`accepted`).
 */
export interface LatestSms {
  readonly number: string;
  readonly smsId: number;
  readonly messageId: string;
  readonly receivedAt: number;
  readonly text: string;
  readonly envelopeFrom: string;
  readonly senderId: string | undefined;
  readonly account: string | undefined;
  readonly gatewayAccount: string | undefined;
  readonly userContext: string | undefined;
  readonly mailbox: string | undefined;
  readonly accepted: boolean;
}

/** A number of a mail refused at acceptance (NewMail.refused): why, in words, as its bounce says. */
export interface RefusedRecipient extends NewRecipient {
  readonly reason: string;
}

export interface OutboundSms {
  readonly text: string;
  readonly encoding: SmsEncoding;
  readonly parts: number;
  readonly maxParts: number;
  readonly senderId: string | undefined;
  readonly userContext: string | undefined;
}

export interface NewRecipient {
  /** E.164 with '+'. */
  readonly number: string;
  /** The RCPT TO address this number came from (a list address for list members). */
  readonly rcpt: string;
  /** RFC 3461 NOTIFY values of that RCPT, e.g. ['FAILURE']; undefined when the client gave none. */
  readonly notify: readonly string[] | undefined;
  readonly orcpt: string | undefined;
}

export interface ClaimRequest {
  readonly owner: string;
  readonly now: number;
  /** The lease's end; a job whose holder dies becomes due again then (or at the next start-up). */
  readonly leaseUntil: number;
  readonly limit: number;
  /**
   * The jobs (SMS, or mails) the claiming relay still has in flight (a request open, or its outcome not yet written):
   * never claimed by it again, whatever their lease says. After a store outage or a stall longer than
   * `delivery.leaseTtl` their lease under its own name has ended with the request still open, and a claim would send
   * them a second time.
   */
  readonly inFlight?: readonly number[] | undefined;
}

export interface SmsClaimRequest extends Omit<ClaimRequest, 'limit'> {
  readonly maxBatches: number;
  readonly batchSize: number;
  /**
   * Only SMS whose mail started (arrived, or its `X-SMS-Send-At`) at or before this time: those past
   * their maximum age, claimed to be given up while every provider is paused, in due order.
   */
  readonly startedBy?: number | undefined;
}

export interface StoredMessage extends OutboundSms {
  readonly id: string;
  readonly receivedAt: number;
  readonly envelopeFrom: string;
  readonly messageIdHeader: string | undefined;
  readonly subject: string | undefined;
  readonly headers: string;
  readonly dsn: NewMail['dsn'];
  readonly client: NewMail['client'];
  readonly reportAll: boolean;
  readonly sendAt: number | undefined;
  readonly gatewayAccount: string | undefined;
}

export interface ClaimedSms extends NewRecipient {
  readonly id: number;
  /** Attempts made before this one. */
  readonly attempts: number;
  /** The last attempt's error as the dispatcher recorded it (`SmsOutcome` `retry`): what its expiry bounce repeats. */
  readonly lastError: string | undefined;
  /** The relay whose lease of it ended with no outcome (died, frozen, cut off): this attempt may duplicate its. */
  readonly takenOverFrom?: string | undefined;
}

export interface SmsBatch {
  readonly message: StoredMessage;
  readonly sms: readonly ClaimedSms[];
}

/**
 * The requests of this round that failed over to another host or provider before the one the outcome
 * is of (each `<code>: <reason>…; via <provider>`, in order): each is an attempt, and a line of the SMS's
 * history (`failed over`) before the outcome's.
 */
export interface FailedOver {
  readonly failedOver?: readonly string[] | undefined;
  /** How many of those may have been processed all the same (a proxy's 502 or 504): each a possible duplicate. */
  readonly failedOverDuplicates?: number | undefined;
}

export type SmsOutcome = FailedOver &
  /**
   * `withoutId`: the history's words in place of an id the gateway did not give (OutcomeRule.withoutId);
   * `recognisedResend`: the gateway recognised a resend and sent nothing this time, so the SMS's possible
   * duplicates are taken back (OutcomeRule.recognisedResend).
   */
  (
    | {
        readonly smsId: number;
        readonly kind: 'sent';
        readonly providerId: string;
        readonly trackingId?: string;
        readonly note?: string;
        readonly withoutId?: string;
        readonly recognisedResend?: true;
      }
    /**
     * Back to the queue. `attempted`: the gateway was really tried (counts towards backoff);
     * `possibleDuplicate`: the request may have been processed although no answer came; `via`: attemptDetail's.
     */
    | {
        readonly smsId: number;
        readonly kind: 'retry';
        readonly nextAttemptAt: number;
        readonly error: string;
        readonly attempted: boolean;
        readonly possibleDuplicate?: boolean;
        readonly via?: string;
      }
    /**
     * `attempted: false`: given up without a request (an expiry or an opt-out found before sending), so no attempt is counted;
     * `via`: attemptDetail's. An attempt whose answer was lost is never final: at the maximum age it is a retry due at once,
     * which a report that came while it was in flight turns into sent.
     */
    | {
        readonly smsId: number;
        readonly kind: 'failed' | 'expired';
        readonly error: string;
        readonly attempted?: boolean;
        readonly via?: string;
      }
  );

/** The history line of a request that failed over (FailedOver). */
export const FAILED_OVER = 'failed over';

export interface NewOutgoingMail {
  /** `postmaster`: a mail sent to the relay's postmaster, forwarded as it came. */
  readonly kind: 'bounce' | 'notice' | 'reply' | 'postmaster';
  /** The relay message this mail is about, for the message's history. */
  readonly messageId: string | undefined;
  /** '' for the null sender (bounces). */
  readonly envelopeFrom: string;
  readonly recipients: readonly string[];
  readonly raw: Buffer;
  /** At most one mail per key is ever queued (e.g. one delay notice per message). */
  readonly onceKey?: string;
}

export interface ClaimedMail extends NewOutgoingMail {
  readonly id: number;
  /** Attempts made: those with an outcome, and one for each lease that ended or was resumed at start without one (it may have delivered). */
  readonly attempts: number;
  readonly createdAt: number;
  /** The relay whose lease on the mail ended with no outcome (it may have delivered it): the mail is taken over, possibly a duplicate. */
  readonly takenOverFrom?: string | undefined;
}

export type MailOutcome =
  | { readonly id: number; readonly kind: 'sent'; readonly response: string }
  | { readonly id: number; readonly kind: 'retry'; readonly nextAttemptAt: number; readonly error: string }
  | { readonly id: number; readonly kind: 'failed'; readonly error: string };

/** A reply mail a bounce came back for: where it went, the SMS's sender, and whether it was failed already (a repeated bounce). */
export interface BouncedReply {
  readonly mailbox: string;
  readonly number: string;
  readonly alreadyFailed: boolean;
}

/**
 * How the relay delivers its own mail, which the store cannot know: whether one cut off in flight may reach its
 * destination twice (a smarthost: SMTP has no idempotency), or not (a Maildir: the write is found again by its file name).
 */
export interface StaleMail {
  readonly possiblyTwice: boolean;
}

/** Whether a mail's outcome was the mail's (`recorded`), or came after its lease was taken over (`late`). */
export type MailOutcomeRecorded = 'recorded' | 'late';

export interface SmsState {
  /** The SMS's own id: its history lines (StoredEvent.smsId) name it. */
  readonly smsId: number;
  readonly number: string;
  /** `deleted`: an operator deleted it from the queue (stored as `failed` with DELETED_BY_OPERATOR; SMS_STATUS reads it so). */
  readonly status: 'queued' | 'sent' | 'failed' | 'expired' | 'deleted';
  /** Queued but held by an operator: not sent until released. */
  readonly held: boolean;
  /** Queued, held by the relay until this time (X-SMS-Send-At, a provider that cannot schedule), not tried yet. */
  readonly scheduledFor: number | undefined;
  readonly attempts: number;
  /** When it is next tried (while leased: when its lease ends); one not ahead is due, and a retry leaves it as it is. */
  readonly nextAttemptAt: number;
  /** Requests for this SMS that may have been processed without an answer (timeouts, crashes). */
  readonly possibleDuplicates: number;
  readonly providerId: string | undefined;
  readonly lastError: string | undefined;
  /** Where the gateway's delivery reports have taken it (undefined before the first). */
  readonly delivery: DeliveryState | undefined;
  /** While a relay attempts it (its lease): when that lease ends (QueuedSms.leasedUntil). */
  readonly leasedUntil: number | undefined;
  /** A relay attempts it now (QueuedSms.beingSent). */
  readonly beingSent: boolean;
  /** Its lease's relay is gone with the attempt in flight (QueuedSms.attemptCutOff). */
  readonly attemptCutOff: boolean;
}

export interface StoredEvent {
  readonly at: number;
  readonly kind: string;
  readonly smsId: number | undefined;
  readonly detail: string | undefined;
}

/** Who wrote to a number under a user context: where the phone's replies go. */
export interface Conversation {
  readonly context: string;
  readonly number: string;
  readonly mailbox: string;
  readonly subject: string | undefined;
  readonly messageIdHeader: string | undefined;
  /**
   * The Message-ID of the latest mail that named it (the writer's last reply, or the first mail): the
   * relay's reply mail answers that one, so a mail client chains the thread instead of hanging every
   * answer from the phone under the first mail.
   */
  readonly latestMessageIdHeader: string | undefined;
  /**
   * That mail's Outlook `Thread-Index` (base64 of a 22-byte header and 5-byte child blocks, [MS-OXOMSG]
   * PidTagConversationIndex), read from its stored header block; undefined without one (or once retention erased it).
   */
  readonly latestThreadIndex?: string | undefined;
  readonly lastUsedAt: number;
}

/** What a mail adds to its conversation: every number it goes to shares its user context. */
export interface NewConversation {
  readonly mailbox: string;
  /**
   * The mail continues a conversation (its context came from the reply tag or In-Reply-To): the
   * conversation keeps its mailbox, subject and thread; only its last use moves.
   */
  readonly continues: boolean;
}

/** An SMS the gateway received for us, and the mail that carries it to its mailbox (if any). */
export interface NewInbound {
  readonly id: string;
  readonly provider: string;
  /** The gateway's id: a repeat of it is the gateway retrying, never a second SMS. */
  readonly providerId: string;
  /** E.164 of the phone that wrote. */
  readonly number: string;
  readonly text: string;
  readonly sentAt: string | undefined;
  readonly userContext: string | undefined;
  readonly receivedAt: number;
  /** The SMS was a STOP (the number opts out) or START (it opts in again) keyword. */
  readonly optOut?: { readonly action: 'stop' | 'start'; readonly keyword: string } | undefined;
  /** Where it goes; undefined = no mailbox found: kept and listed as undeliverable. */
  readonly route:
    | { readonly mailbox: string; readonly context: string | undefined; readonly mail: NewOutgoingMail; readonly messageIdHeader: string }
    | undefined;
}

export interface QuarantinedRequest {
  readonly receivedAt: number;
  readonly provider: string;
  readonly kind: string;
  readonly reason: string;
  /** The body exactly as received, its bytes (not text in any charset): what an operator reads and replays. */
  readonly body: Buffer;
}

/** An SMS from a phone as `smsrelay log <number>` shows it: its mailbox (none = undeliverable) and its mail. */
export interface ReceivedReply {
  readonly id: string;
  readonly receivedAt: number;
  readonly mailbox: string | undefined;
  readonly context: string | undefined;
  /** store.retention erased its text (UndeliverableInbound.textErased). */
  readonly textErased: boolean;
  readonly mail:
    | {
        readonly status: 'queued' | 'sent' | 'failed';
        /** Its recipients (the mailbox it went to), joined with ", ". */
        readonly to: string;
        /** When it was queued: for a rerouted SMS, when it was rerouted. */
        readonly queuedAt: number;
        readonly error: string | undefined;
        /**
         * Deliveries of this mail that may have reached the smarthost twice (mail_out.possible_duplicates): sent again
         * after the lease of the relay sending it ended (taken over), or after a stop or crash cut its delivery off (resumed).
         */
        readonly possibleDuplicates: number;
      }
    | undefined;
}

/**
 * A kept request as operators list it: `bytes` is its body's size, always a number (scripts sum and compare it).
 * `bodyErased` once store.retention erased the body: `bytes` is then 0, as the size it came with is not kept (its body
 * was its only record), and the flag tells that 0 from a request that came empty (as UndeliverableInbound.textErased).
 */
export interface QuarantineEntry extends Omit<QuarantinedRequest, 'body'> {
  readonly id: number;
  readonly bytes: number;
  readonly bodyErased?: true;
}

/** The kept requests as a page asking to delete them all names them: how many, and the newest's id (undefined: none). */
export interface QuarantineSpan {
  readonly count: number;
  readonly newestId: number | undefined;
}

/**
 * Which kept requests to delete: one by its id, or all those up to `through`, the newest one the operator saw (ids only
 * grow, schema 26), so that requests kept after that are not deleted unseen; every one when `through` is undefined (the CLI's
 * `quarantine delete all`, acting now). `count`, how many the operator saw: PostgreSQL gives an id before its request commits,
 * so one committed after the confirmation was shown may sit below `through`; the deletion takes them only while exactly
 * `count` are kept up to it.
 */
export type QuarantineDeletion = { readonly id: number } | { readonly through: undefined } | { readonly through: number; readonly count: number };

/** One kept request with its body as received: empty when the request's body was, or when `store.retention` erased it (`bodyErased`). */
export interface QuarantinedBody extends QuarantineEntry {
  readonly body: Buffer;
}

export interface NewDeliveryReport {
  readonly provider: string;
  readonly providerId: string;
  /** E.164. */
  readonly number: string;
  /** The provider's status code. */
  readonly code: number;
  readonly state: DeliveryState;
  readonly receivedAt: number;
  /** The status in the provider's words, for the history line (StatusReport.said), also of a report kept before its SMS's result. */
  readonly said?: string | undefined;
  /** Another id its SMS may be kept under (StatusReport.formerId): matched when `providerId` finds none, the report then kept under it. */
  readonly formerId?: string | undefined;
  /**
   * The relay message the report names by the relay's own reference (StatusReport.messageId): its SMS to
   * `number` is matched when the ids find none and no id names it, if sent, or if queued: waiting to be sent again (not
   * leased), then recorded as sent with this report, as the gateway took an earlier attempt; or in flight (leased),
   * then the report is kept as an orphan and the attempt's outcome decides (recordSmsOutcomes: an outcome other than
   * sent or a final failure records the SMS sent with it).
   */
  readonly messageId?: string | undefined;
  /** The tracking id an SMS recorded sent by this report gets unless it has one (StatusReport.trackingId). */
  readonly trackingId?: string | undefined;
}

/** What a delivery report did: nothing new (a repeat), wait for its SMS (orphan), or moved or not. */
export type DeliveryReportResult =
  | { readonly kind: 'orphan' }
  /**
   * `sms`: the SMS it is about, when the store knows it (a repeat of an orphan's has none): whose gateway
   * account sent it (as for `advanced`), which an account failure it reports names.
   */
  | { readonly kind: 'duplicate' | 'stale'; readonly sms?: { readonly gatewayAccount: string | undefined } | undefined }
  /**
   * `messageId`: the message the SMS belongs to, which every log line about it names. `gatewayAccount`: the
   * account whose own gateway credentials sent it (NewMail.gatewayAccount; undefined: the relay's), whose
   * opt-outs and account failures a report speaks of, not the relay's. `sentAt`: when it was last sent (undefined
   * when its history has no send: one found sent by this report), which dates an opt-out the report gives no time for.
   */
  | {
      readonly kind: 'advanced';
      readonly smsId: number;
      readonly messageId: string;
      readonly gatewayAccount: string | undefined;
      readonly sentAt: number | undefined;
    };

/** A final delivery state its sender wants to hear of. */
export interface DueNotice {
  readonly smsId: number;
  readonly message: StoredMessage;
  readonly recipient: NewRecipient;
  readonly state: DeliveryState;
  readonly code: number;
}

/** The notices of one mail and kind told together: their SMS, and the mail telling them (none for a sender that takes no report). */
export interface NoticeGroup {
  readonly smsIds: readonly number[];
  readonly mail?: NewOutgoingMail | undefined;
}

/** The SMS → email half of the store: conversations, inbound SMS, delivery reports. */
export interface ReplyStore {
  conversation(context: string, number: string): Promise<Conversation | undefined>;
  /**
   * The conversation with `number` used most recently, within `windowMs` of now. "Now" and "used" are
   * the store's one clock: the relay's (`now`) on SQLite, one process; the database's on PostgreSQL,
   * where relays' clocks may disagree (`now` is not used there).
   */
  latestConversation(number: string, windowMs: number, now: number): Promise<Conversation | undefined>;
  /** The context of the SMS to `number` the provider knows by this tracking id (session, notify id). */
  contextOfTracking(trackingId: string, number: string): Promise<string | undefined>;
  /**
   * The numbers an answer echoing `tracking` may come from: those of the SMS sent under that tracking id, or of that
   * conversation's context. A sender the gateway wrote nationally is matched against them (whichever country each is of).
   */
  numbersOfTracking(tracking: string): Promise<string[]>;
  /** The context of the conversation with `number` that one of these Message-IDs belongs to. */
  contextOfMail(messageIdHeaders: readonly string[], numbers: readonly string[]): Promise<string | undefined>;
  /**
   * Whether this Message-ID is one of the relay's reply mails, to any number: a mail of a conversation that no writer
   * sent (a writer's mail is a message's), for telling the relay's own reply mail come back through a mailing list.
   */
  isReplyMail(messageIdHeader: string): Promise<boolean>;
  /**
   * Of `numbers`, those whose conversation `context` one of these Message-IDs is a mail of, sent to
   * that number: the conversations a mail answering them continues. One read for all the numbers.
   */
  answeredNumbers(context: string, messageIdHeaders: readonly string[], numbers: readonly string[]): Promise<string[]>;
  /**
   * The reply mails (raw) the relay sent to the mailbox of conversation `context` for SMS from
   * `numbers`, newest first; those whose content retention erased, and those that failed (never in a
   * mailbox: no one quotes or threads under them; a rerouted SMS's refused one), are not among them.
   */
  sentReplies(context: string, numbers: readonly string[], limit: number): Promise<Buffer[]>;
  /**
   * Whether the relay ever queued a reply mail for an SMS from one of `numbers` in a conversation that one of
   * `contexts` names or that one of these Message-IDs is a mail of (a writer's or a reply mail's). Rows, not
   * content: retention erasing what was sent changes nothing, and every reply mail counts, however old, but one refused
   * for good (it reached no mailbox, so nothing can answer it: an ERP writing from a `noreply@` address would otherwise lose
   * every later alert of the ticket).
   */
  repliedIn(contexts: readonly string[], messageIdHeaders: readonly string[], numbers: readonly string[]): Promise<boolean>;
  /** Whether an SMS with this provider id is stored: a repeat is the provider retrying (a cheap check before any work). */
  knowsInbound(provider: string, providerId: string): Promise<boolean>;
  /** Whether an SMS from this sender (exactly as stored) was ever received. */
  knowsSender(sender: string): Promise<boolean>;
  /**
   * The mailbox of the reply mail the relay queued about inbound SMS `inboundId` with this return path
   * (its envelope sender, any case); undefined when it queued none.
   */
  returnPathMailbox(inboundId: string, returnPath: string): Promise<string | undefined>;
  /**
   * A bounce came back to a reply mail's return path after the smarthost took the mail: the mail is failed
   * with `error` (a history line `mail failed`), and its SMS goes back among the undeliverable ones, in one
   * transaction, as when the smarthost refuses it (recordMailOutcome). A mail failed already changes nothing
   * (only its latest mail can be anything else: an SMS is rerouted once its mail failed). Undefined when no such mail is kept.
   */
  bounceReplyMail(inboundId: string, returnPath: string, error: string): Promise<BouncedReply | undefined>;
  /** Commits an inbound SMS with its mail; `duplicate` when the gateway id was seen (nothing written). */
  acceptInbound(inbound: NewInbound): Promise<{ readonly duplicate: boolean }>;
  /** Keeps a request no parser understood, its body as received; its id is what `smsrelay quarantine show` takes. */
  quarantine(request: QuarantinedRequest): Promise<number>;
  /** The latest SMS (the highest id) to each of `numbers` that has one, if its mail was accepted since `since` (alert storms). */
  latestSmsTo(numbers: readonly string[], since: number): Promise<readonly LatestSms[]>;
  /** The number texted STOP (and not START since). */
  isOptedOut(number: string): Promise<boolean>;
  /** The keyword the number texted to opt out, as kept (`UNSUBSCRIBE`, `STOP`); undefined when it is not opted out. */
  optOutKeyword(number: string): Promise<string | undefined>;
  /**
   * A provider refused a send because the number opted out of the account's messages (Twilio's 21610):
   * kept as a STOP is (`keyword`: what the history and the reply name), so that RCPT refuses the number.
   * A number already opted out keeps its first opt-out. One dated (`at`) at or before the number's last START
   * does not count (a report the provider posted again for hours, a send answered before the START): false.
   */
  recordOptOut(number: string, at: number, keyword: string): Promise<boolean>;
  /** An undeliverable inbound SMS, by its relay id. */
  undeliverableInboundById(id: string): Promise<UndeliverableInbound | undefined>;
  /**
   * Gives an undeliverable inbound SMS its mailbox and queues its mail, in one transaction. With
   * `conversation` (the one the SMS answered, its mail refused): the mail is linked to it, as a reply
   * mail is, so a reply to it continues it; and the conversation moves to `mailbox` where its mailbox is
   * still `from` (the refused one), so the phone's next answers follow.
   */
  rerouteInbound(id: string, mailbox: string, mail: NewOutgoingMail, conversation?: ReroutedConversation): Promise<boolean>;
  /**
   * Inbound SMS no mailbox was found for, or whose mail its mailbox refused for good, newest first (ties
   * by id, descending); with `before`, only those listed after that one (the next page).
   */
  undeliverableInbound(limit: number, before?: InboundPosition): Promise<UndeliverableInbound[]>;
  applyDeliveryReport(report: NewDeliveryReport): Promise<DeliveryReportResult>;
  /**
   * The numbers of the SMS sent under `providerId` (its send result's id, or the id of one of a long
   * SMS's parts): for a gateway whose receipts name their message by id but not reliably by number.
   */
  numbersSentUnder(provider: string, providerId: string): Promise<string[]>;
  /** Drops delivery reports received before `before` that never matched an SMS; returns how many, by provider. */
  expireOrphanReports(before: number): Promise<Readonly<Record<string, number>>>;
  dueNotices(limit: number): Promise<DueNotice[]>;
  /**
   * Clears each group's due marks and queues its mail, in one transaction, for the groups whose SMS are
   * all still due (and, on PostgreSQL, not being recorded by another relay at that moment); says, per
   * group, whether it was recorded. A group read before another relay recorded some of its SMS would
   * name them in a second mail: it is left, and the next pass builds its mail from those still due.
   */
  recordNotices(groups: readonly NoticeGroup[]): Promise<boolean[]>;
}

/**
 * What group commit has done since the store opened, for `GET /metrics`: commits, the writes they
 * carried (writes / commits = the group size), the time spent in them, and how many of them waited
 * for the disk (a WAL fsync or flush: all but those holding only writes nobody was promised anything on).
 */
export interface CommitStats {
  readonly commits: number;
  readonly writes: number;
  readonly seconds: number;
  readonly synced: number;
  /** Commits that failed for the store's own reason (the disk, the file, the database or the way to it), not a write's. */
  readonly failed: number;
}

/**
 * An inbound SMS kept for the operator to reroute: no mailbox was found for it, or its mail was refused
 * for good (`refused`: to whom and the server's answer; the SMS then has no mailbox again).
 */
export interface UndeliverableInbound extends Omit<NewInbound, 'route'> {
  readonly refused?: { readonly mailbox: string; readonly error: string };
  /**
   * Its text was erased by store.retention (its reply mail was sent past the bounce window, then bounced
   * all the same): `text` is empty although the phone wrote one, and nothing is left to reroute.
   */
  readonly textErased?: true;
  /** The context of the conversation it was mailed under before its mail was refused; undefined when it had none. */
  readonly context?: string;
}

/** The conversation a rerouted SMS answered (`rerouteInbound`). */
export interface ReroutedConversation {
  readonly context: string;
  readonly number: string;
  /** Its mailbox when the SMS was rerouted: it moves only from this one. */
  readonly from: string;
  /** The rerouted mail's Message-ID. */
  readonly messageIdHeader: string;
}

/** Where an inbound SMS stands in the undeliverable list: a page starts after it. */
export type InboundPosition = Pick<NewInbound, 'receivedAt' | 'id'>;

export interface QueueStats {
  /**
   * `queued`: not held, `scheduled` among them (waiting for their X-SMS-Send-At, the next at
   * `nextScheduledAt`). The oldest's age counts from its send time, if it has one: the dispatcher's age (expiry) too.
   */
  readonly sms: {
    readonly queued: number;
    readonly held: number;
    readonly scheduled: number;
    readonly nextScheduledAt: number | undefined;
    readonly oldestAgeSeconds: number;
  };
  readonly mail: { readonly queued: number; readonly oldestAgeSeconds: number };
  readonly undeliverableInbound: number;
  readonly quarantined: number;
}

/**
 * The SMS queued, held ones included: the one depth `smsrelay status`, the console's overview and
 * `/metrics` show, beside an oldest age that counts held SMS too.
 */
export function smsQueueDepth(sms: Pick<QueueStats['sms'], 'queued' | 'held'>): number {
  return sms.queued + sms.held;
}

export interface QueuedMailError {
  readonly mailId: number;
  readonly kind: NewOutgoingMail['kind'];
  /** The relay message it is about, if any. */
  readonly messageId: string | undefined;
  readonly lastError: string;
}

/** Who an operator's queue action was by, when the CLI (which knows no user) took it. */
export const OPERATOR = 'by the operator';

/** The last error of an SMS an operator deleted from the queue (its status `failed`): how `queue` tells it from one that failed. */
export const DELETED_BY_OPERATOR = 'deleted from the queue by the operator';

/** `retry` leaves a scheduled SMS (X-SMS-Send-At still ahead) alone; `send now`, of one message only, makes it due too. */
export type QueueAction = 'hold' | 'release' | 'retry' | 'send now' | 'delete';

/**
 * What a queue action acts on: a message's SMS (its id), one SMS of a message (a row of the queue: both ids, so that a form
 * naming an SMS of another message changes nothing), or all (undefined).
 */
export type QueueTarget = string | { readonly messageId: string; readonly smsId: number } | undefined;

export interface QueuedSms {
  readonly smsId: number;
  readonly messageId: string;
  readonly number: string;
  readonly from: string;
  readonly receivedAt: number;
  readonly attempts: number;
  readonly nextAttemptAt: number;
  readonly lastError: string | undefined;
  readonly held: boolean;
  /** While a relay attempts it (its lease): when that lease ends. A time past is an attempt cut off (its relay stopped), not one going on. */
  readonly leasedUntil: number | undefined;
  /**
   * Its lease has not ended, by the clock that judges leases (the database's on PostgreSQL, where relays' clocks may
   * differ; the host's on SQLite, whose file one host's relay and CLI share): a relay attempts it now.
   */
  readonly beingSent: boolean;
  /**
   * Leased by a relay that stopped (or was killed: its heartbeat stale) with a request for it in flight: that attempt's
   * answer was never recorded and the gateway may have the SMS; its relay's next start (or, once the lease ends,
   * another relay) sends it again, counted as a possible duplicate.
   */
  readonly attemptCutOff: boolean;
}

/** What a queue action did (Store.applyQueueAction). */
export interface QueueActionDone {
  /** How many SMS it changed. */
  readonly changed: number;
  /**
   * Of a retry or send now: how many SMS of its target it found due already (not held nor leased, their next attempt not
   * ahead), which it leaves as they are: the next claim takes them. 0 for the other actions.
   */
  readonly due: number;
  /**
   * The SMS of its target it left for a relay's lease on them, judged as the store judges leases (the database's clock on
   * PostgreSQL): a delete leaves each being sent (`ended` false), whose gateway may have it and whose answer decides; a retry
   * or send now leaves every leased one not held, one whose lease `ended` (its attempt cut off) being due already. None for a
   * hold or release, which take leased SMS as any other.
   */
  readonly leased: readonly LeasedSms[];
}

export interface LeasedSms {
  readonly smsId: number;
  /** When its lease ends (or ended). */
  readonly until: number;
  readonly ended: boolean;
}
