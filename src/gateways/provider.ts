/**
 * What one SMS provider is to the relay: a module with its wire formats in both directions (send,
 * received SMS, delivery reports), its limits, and a simulator that speaks the same wire format
 * without sharing any of the module's parsing code. Adding a provider = one module + its simulator
 * + passing test/gateways/contract.test.ts.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../log.ts';
import type { ReceivedSms, StatusReport } from '../vocabulary.ts';
import type { Gateway, GatewayCapabilities } from './types.ts';

export type ProviderName = 'intellisoftware' | 'puzzel' | 'interactsms';

export interface ProviderCapabilities extends GatewayCapabilities {
  /**
   * How the provider finds the SMS a reply answers: it echoes our user context (`usercontext`), or
   * an id it or we gave the SMS (`tracking-id`: a session id, a notify id), or not at all (`none`:
   * the conversation with the number is found by recency).
   */
  readonly replyTracking: 'usercontext' | 'tracking-id' | 'none';
  /** The provider holds an SMS until a time we give (Puzzel's sendWindow); else the relay holds it. */
  readonly scheduling: boolean;
}

export interface GatewayOptions {
  /** Base URLs, primary first. */
  readonly endpoints: readonly string[];
  readonly username: string;
  readonly password: string;
  /** Puzzel's service id; InteractSMS's api_id. */
  readonly accountId: string | undefined;
  /** Ask the provider for a session per new conversation (Puzzel `newSession`) where it supports them. */
  readonly sessions: boolean;
  readonly connectTimeoutMs: number;
  readonly responseTimeoutMs: number;
  readonly connectionsPerEndpoint: number;
  readonly logger: Logger;
}

/** A request to one of the relay's webhooks, as it arrived. */
export interface InboundRequest {
  /** Media type, lower case, without parameters ('' when none). */
  readonly contentType: string;
  readonly body: string;
  readonly query: URLSearchParams;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string | undefined>>;
}

/** Several items per request are normal (Puzzel batches); a request that fails to parse is quarantined whole. */
export type InboundParse<T> = { readonly ok: true; readonly items: readonly T[] } | { readonly ok: false; readonly reason: string };

export interface ProviderModule {
  readonly name: ProviderName;
  readonly capabilities: ProviderCapabilities;
  createGateway(options: GatewayOptions): Gateway;
  parseReceived(request: InboundRequest): InboundParse<ReceivedSms>;
  parseReport(request: InboundRequest): InboundParse<StatusReport>;
  /**
   * The provider's own webhook signature (InteractSMS `SMS-Verify`), checked when the operator
   * configured its secret; false = forged (403). Absent for providers without one.
   */
  verify?(request: InboundRequest, kind: 'mo' | 'dr', secret: string, formula: string): boolean;
  /** Plain words for a delivery status code, for the sender's report mail. */
  describeStatus(code: number): string;
  /** Why this sender id cannot go to the provider (shown in the 554), or undefined when it can. */
  senderIdProblem(senderId: string): string | undefined;
  createSimulator(options: SimulatorOptions): ProviderSimulator;
}

export interface SimulatorOptions {
  /** The account the simulator accepts (as the relay's built-in default uses). */
  readonly username: string;
  readonly password: string;
  readonly accountId: string | undefined;
  readonly logger: Logger;
  /** International digits the simulated network refuses at send time (the provider's invalid-number answer). */
  readonly invalidNumbers?: readonly string[] | undefined;
  /** International digits accepted at send time whose delivery report is a failure. */
  readonly undeliverableNumbers?: readonly string[] | undefined;
  /** Wait between attempts of a webhook post not answered 200. */
  readonly webhookRetryMs?: number | undefined;
  /** Delay before the first delivery report of an accepted SMS. */
  readonly reportDelayMs?: number | undefined;
  /** For providers that sign their posts (InteractSMS): the secret and formula it signs with. */
  readonly webhookSecret?: string | undefined;
}

/** One SMS a simulator accepted, the same shape for every provider (tests compare them). */
export interface SimulatedSmsRecord {
  /** The id the simulator answered (its delivery reports name it). */
  readonly id: string;
  /** International digits, no '+'. */
  readonly to: string;
  /** Decoded text as the phone shows it. */
  readonly text: string;
  readonly from?: string | undefined;
  /** The reply-tracking value it carried or was given (usercontext, notify id, session id). */
  readonly tracking?: string | undefined;
  /** When it must not be delivered before (Puzzel sendWindow), ms since the epoch. */
  readonly sendAt?: number | undefined;
}

export interface ProviderSimulator {
  /** Adds the simulator's routes (its send API, `/simulator/*`) to a fastify app. */
  register(app: FastifyInstance): void;
  /** Every SMS accepted, oldest first. */
  readonly records: readonly SimulatedSmsRecord[];
  setWebhooks(webhooks: { readonly moUrl?: string | undefined; readonly drUrl?: string | undefined }): void;
  /**
   * Has the phone `from` (international digits) send `text`; `answering` = the SMS it replies to, whose
   * reply-tracking value the provider's MO then carries. Returns the MO's id.
   */
  reply(from: string, text: string, answering?: SimulatedSmsRecord): string;
  /** Resolves when a webhook post of `kind` was answered 200 `count` times in all. */
  waitForWebhookPosts(kind: 'mo' | 'dr', count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}
