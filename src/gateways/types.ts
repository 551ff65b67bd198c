/**
 * The contract every SMS provider module fulfils. A module speaks its provider's wire format and
 * transport; it never touches the store and never decides what an outcome means: it reports codes,
 * and dispatch/outcomes.ts classifies them (retry, fail over, bounce…) in one table.
 */

import type { SmsEncoding } from '../vocabulary.ts';

export interface SmsSubmission {
  /** The relay's message id, for logs and for providers that take an idempotency key. */
  readonly messageId: string;
  /** E.164 numbers with a leading '+', distinct, at most `capabilities.maxRecipientsPerRequest`. */
  readonly recipients: readonly string[];
  /** The text exactly as the phone should show it (line breaks as LF). */
  readonly text: string;
  readonly encoding: SmsEncoding;
  /** Concatenated parts the provider may use per recipient. */
  readonly maxParts: number;
  /** Originator shown on the phone; the account default when absent. */
  readonly senderId?: string | undefined;
  /** Opaque reply-tracking value the provider echoes with replies. */
  readonly userContext?: string | undefined;
  /**
   * When the relay gives the SMS up (ms since the epoch). Providers with a validity period send the
   * remaining lifetime, so a network does not deliver an alert after its sender was told it failed.
   */
  readonly expiresAt?: number | undefined;
  /** Ask the provider to report delivery to the handset (its reports arrive on the DR webhook). */
  readonly deliveryReport?: boolean | undefined;
  /** Not to be delivered before (ms since the epoch), for providers that schedule (`capabilities.scheduling`). */
  readonly sendAt?: number | undefined;
  /** Start a provider session for replies (Puzzel `newSession`), when the account uses sessions. */
  readonly newSession?: boolean | undefined;
}

/**
 * What the provider said about one recipient: its own result code verbatim (`ID` for an
 * IntelliSoftware id line, `ERR:INVALID_NUMBER`, `PUZZEL:25`, `INTERACT:0` …), which the outcome
 * table alone turns into sent / retry / bounce; the provider's id when it gave one.
 */
export interface RecipientResult {
  readonly number: string;
  readonly code: string;
  /** The provider's id for this SMS: delivery reports name it. */
  readonly providerId?: string;
  /** What the provider's replies to this SMS carry to find it again (a session id, a notify id). */
  readonly trackingId?: string;
  readonly detail?: string;
}

/**
 * The answer to one submission. Codes are strings the outcome table matches:
 * provider codes verbatim (`ERR:GATEWAY_ERROR`, `DELAY:5`), `HTTP_<status>` for an unexpected HTTP
 * status, `UNPARSEABLE` for a body that fits no grammar, `MISSING_RESULT` for a recipient the
 * provider's reply did not mention, and Node/undici error codes for transport failures
 * (`ECONNREFUSED`, `UND_ERR_CONNECT_TIMEOUT`, `UND_ERR_HEADERS_TIMEOUT`, …).
 */
export type SubmissionResult =
  /** The provider answered per recipient: `results` has exactly one entry per submitted number. */
  | { readonly kind: 'answered'; readonly results: readonly RecipientResult[] }
  /** The provider refused the whole request (login, credit, busy, server error…). */
  | { readonly kind: 'refused'; readonly code: string; readonly detail?: string }
  /**
   * No usable answer. `phase: 'connect'` means the request never reached the provider (safe to send
   * elsewhere at once); `phase: 'response'` means it may have been processed (a resend may duplicate).
   */
  | { readonly kind: 'transport'; readonly phase: 'connect' | 'response'; readonly code: string; readonly detail: string };

export interface GatewayCapabilities {
  /** Recipients one HTTP request may carry. */
  readonly maxRecipientsPerRequest: number;
  /** Concatenated parts the provider accepts per message. */
  readonly maxParts: number;
}

export interface Gateway {
  /** Provider name as used in config (`intellisoftware`, …). */
  readonly provider: string;
  readonly capabilities: GatewayCapabilities;
  /** Base URLs in order of preference: the primary first, then any backup. */
  readonly endpoints: readonly string[];
  /** Submits to `endpoints[endpoint]`. Never throws for provider or network trouble: reports it. */
  send(submission: SmsSubmission, endpoint: number): Promise<SubmissionResult>;
  close(): Promise<void>;
}
