import type { SmsEncoding } from '../gateways/types.ts';

/**
 * The store as the rest of the relay sees it. Every method is asynchronous and every write is one
 * transaction, so that a networked backend (PostgreSQL, for several relay instances) can implement
 * the same interface. Writes resolve only after their transaction is durable.
 */
export interface Store {
  /**
   * Commits a mail and one SMS job per distinct number atomically; resolve = safe to answer 250.
   * A resubmission (same fingerprint since `mail.resubmission.since`) is recorded without SMS jobs,
   * and the original's id is returned: the client gets its 250, the phone gets one SMS.
   */
  acceptMail(mail: NewMail): Promise<{ readonly duplicateOf: string | undefined }>;

  /**
   * Leases due SMS jobs to `owner` until `leaseUntil`: at most `maxBatches` batches, each the numbers
   * of one mail, at most `batchSize` of them (one gateway request each).
   */
  claimDueSms(request: SmsClaimRequest): Promise<SmsBatch[]>;
  /** The earliest `next_attempt_at` of a queued SMS job, or undefined when none is queued. */
  nextSmsDueAt(): Promise<number | undefined>;
  /** Records what happened to leased jobs, and enqueues mail (bounces) in the same transaction. */
  recordSmsOutcomes(outcomes: readonly SmsOutcome[], mail?: readonly NewOutgoingMail[]): Promise<void>;

  enqueueMail(mail: readonly NewOutgoingMail[]): Promise<void>;
  claimDueMail(request: ClaimRequest): Promise<ClaimedMail[]>;
  nextMailDueAt(): Promise<number | undefined>;
  recordMailOutcome(outcome: MailOutcome): Promise<void>;

  /**
   * Frees every lease that a previous (dead) process holds and makes those jobs due now. Returns how
   * many SMS jobs were in flight: each may reach the gateway twice.
   */
  releaseStaleLeases(now: number): Promise<{ sms: number; mail: number }>;

  /** How durable a commit is, for operators (`config check`) and tests. */
  durability(): Promise<{ readonly journalMode: string; readonly synchronous: string }>;
  /** Throws when the store cannot serve (for /healthz). */
  ping(): Promise<void>;
  /** History of a message, oldest first. */
  events(messageId: string): Promise<StoredEvent[]>;
  /** Where each number of a message stands. */
  smsOf(messageId: string): Promise<SmsState[]>;
  close(): Promise<void>;
}

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
  readonly resubmission: { readonly fingerprint: string; readonly since: number } | undefined;
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
}

export interface SmsClaimRequest extends Omit<ClaimRequest, 'limit'> {
  readonly maxBatches: number;
  readonly batchSize: number;
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
}

export interface ClaimedSms extends NewRecipient {
  readonly id: number;
  /** Attempts made before this one. */
  readonly attempts: number;
}

export interface SmsBatch {
  readonly message: StoredMessage;
  readonly sms: readonly ClaimedSms[];
}

export type SmsOutcome =
  | { readonly smsId: number; readonly kind: 'sent'; readonly providerId: string; readonly note?: string }
  /**
   * Back to the queue. `attempted`: the gateway was really tried (counts towards backoff);
   * `possibleDuplicate`: the request may have been processed although no answer came.
   */
  | {
      readonly smsId: number;
      readonly kind: 'retry';
      readonly nextAttemptAt: number;
      readonly error: string;
      readonly attempted: boolean;
      readonly possibleDuplicate?: boolean;
    }
  | { readonly smsId: number; readonly kind: 'failed' | 'expired'; readonly error: string };

export interface NewOutgoingMail {
  readonly kind: 'bounce' | 'notice' | 'reply';
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
  readonly attempts: number;
  readonly createdAt: number;
}

export type MailOutcome =
  | { readonly id: number; readonly kind: 'sent'; readonly response: string }
  | { readonly id: number; readonly kind: 'retry'; readonly nextAttemptAt: number; readonly error: string }
  | { readonly id: number; readonly kind: 'failed'; readonly error: string };

export interface SmsState {
  readonly number: string;
  readonly status: 'queued' | 'sent' | 'failed' | 'expired';
  readonly attempts: number;
  /** Requests for this SMS that may have been processed without an answer (timeouts, crashes). */
  readonly possibleDuplicates: number;
  readonly providerId: string | undefined;
  readonly lastError: string | undefined;
}

export interface StoredEvent {
  readonly at: number;
  readonly kind: string;
  readonly smsId: number | undefined;
  readonly detail: string | undefined;
}
