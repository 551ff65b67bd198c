/**
 * The contract every SMS provider plug-in fulfils. A plug-in is one folder under src/providers/: it
 * speaks its provider's wire format and transport, says which settings it takes, and maps its own
 * result codes to the relay's outcome actions. It never touches the store, the config or the
 * dispatcher: it reports codes (its outcome rules classify them), and it hands what it receives to
 * the `InboundSink` it is started with, or, for HTTP providers, parses the relay's webhook requests.
 */
import type { CountryCode } from 'libphonenumber-js';
import type { z } from 'zod';
import type { Logger } from '../log.ts';
import type { SegmentLimits } from '../sms/encoding.ts';
import { readGatewayTime } from '../timestamps.ts';
import type { InboundKind, InboundSink, OptOutKeywords, OutcomeAction, ReceivedSms, SmsEncoding, WrittenReport } from '../vocabulary.ts';

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
 * rules alone turn into sent / retry / bounce; the provider's id when it gave one.
 */
export interface RecipientResult {
  readonly number: string;
  readonly code: string;
  /** The provider's id for this SMS: delivery reports name it. */
  readonly providerId?: string;
  /** What the provider's replies to this SMS carry to find it again (a session id, a notify id). */
  readonly trackingId?: string;
  readonly detail?: string;
  /**
   * Set when the provider gave no answer for this number because a request of its own failed (an
   * adapter that sends some numbers alone): `code` is then classified as that request's failure
   * would be, by its phase (`connect`, `response`) or as a refusal of the request (`request`), so
   * that a timeout of it counts as a possible duplicate as for a single-number request.
   */
  readonly failure?: 'connect' | 'response' | 'request';
  /**
   * How many parts of a long SMS the provider took when it refused another (`code` is the refused
   * part's): the phone may already have those, and a resend sends the whole text again.
   */
  readonly partsTaken?: number;
  /** The parts of that SMS, where the provider knows them (the history names "1 of 3 parts"). */
  readonly partsTotal?: number;
  /**
   * The provider keeps the parts it took and its retry sends only the others, under the same reference,
   * so the phone gets none twice (SMPP, while the relay runs and shares its queue with no other relay):
   * a plain retry, no possible duplicate.
   */
  readonly partsKept?: true;
  /**
   * The provider's id of each part, when it took the SMS in several parts that each have their own
   * delivery receipt (SMPP, Vonage): the relay keeps them in the store, so that whichever relay gets a
   * part's receipt finds its SMS and knows when every part is delivered.
   */
  readonly parts?: readonly string[];
  /**
   * What the SMS's history says of it besides its id once it is sent, when the provider knows more of how it went
   * than its code says (SMPP: an earlier attempt's copy the SMSC took after its timeout, so nothing was written again).
   */
  readonly note?: string;
}

/**
 * The answer to one submission. Codes are strings the outcome rules match:
 * provider codes verbatim (`ERR:GATEWAY_ERROR`, `DELAY:5`), `HTTP_<status>` for an unexpected HTTP
 * status, `UNPARSEABLE` for a 2xx answer whose body (or a recipient's part of it) fits no grammar (the gateway took the request: it may have sent the SMS), `MISSING_RESULT` for a recipient the
 * provider's reply did not mention, and Node/undici error codes for transport failures
 * (`ECONNREFUSED`, `UND_ERR_CONNECT_TIMEOUT`, …), but `RESPONSE_TIMEOUT` for an answer not complete within
 * `gateway.responseTimeout` (http-endpoint.ts).
 */
export type SubmissionResult =
  /** The provider answered per recipient: `results` has exactly one entry per submitted number. */
  | { readonly kind: 'answered'; readonly results: readonly RecipientResult[] }
  /**
   * The provider refused the whole request (login, credit, busy, server error…). `retryAfter`: its
   * HTTP `Retry-After` as it came (seconds or an HTTP date), which the relay honours when it retries.
   */
  | { readonly kind: 'refused'; readonly code: string; readonly detail?: string; readonly retryAfter?: string }
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

/** What a started gateway gets from the relay. */
export interface GatewayContext {
  /** Where a provider that receives over its own connection (SMPP) hands received SMS and reports. */
  readonly inbound: InboundSink;
  /** The gateway's health changed with no request (a connection-based provider's bind made, or refused): the relay reads `health()` again. */
  readonly healthChanged?: (() => void) | undefined;
}

/** Whether the gateway can send now, for the relay's health check. */
export interface GatewayHealth {
  readonly ok: boolean;
  readonly detail?: string;
  /** While the gateway refuses the relay's account with no request made (an SMPP bind refused): the code a send gets (`request/<code>`). */
  readonly refusal?: string;
  /** A connection-based provider's connections by kind (SMPP binds: transceiver, transmitter, receiver): how many are up of those it keeps. */
  readonly connections?: readonly { readonly kind: string; readonly up: number; readonly kept: number }[];
}

/**
 * One provider account, from `createGateway` to `close`: `start` before the first `send` (a
 * connection-based provider binds there and pushes what it receives into `context.inbound`),
 * `close` once the relay stops (the gateway's stop: nothing is sent after it resolves).
 */
export interface Gateway {
  /** Provider name as used in config (`intellisoftware`, …). */
  readonly provider: string;
  readonly capabilities: GatewayCapabilities;
  /**
   * Base URLs (or hosts) in order of preference, the primary first, then any backup: as shown to people (an SMS's
   * history, log lines, status, the console), so with any secret a URL carries masked (src/masked-url.ts).
   */
  readonly endpoints: readonly string[];
  /**
   * Each of `endpoints` told apart exactly, in the same order, with no secret in it (hostKey of the URL as configured):
   * what relays sharing a database key a failed host by. Unset for a gateway whose `endpoints` mask nothing: their own keys.
   */
  readonly hostKeys?: readonly string[];
  start(context: GatewayContext): Promise<void>;
  health(): GatewayHealth;
  /** Submits to `endpoints[endpoint]`. Never throws for provider or network trouble: reports it. */
  send(submission: SmsSubmission, endpoint: number): Promise<SubmissionResult>;
  close(): Promise<void>;
}

export interface ProviderCapabilities extends GatewayCapabilities {
  /**
   * How the provider finds the SMS a reply answers: it echoes our user context (`usercontext`), or
   * an id it or we gave the SMS (`tracking-id`: a session id, a notify id), or not at all (`none`:
   * the conversation with the number is found by recency).
   */
  readonly replyTracking: 'usercontext' | 'tracking-id' | 'none';
  /** The provider holds an SMS until a time we give (Puzzel's sendWindow); else the relay holds it. */
  readonly scheduling: boolean;
  /**
   * Its own email interface addresses `<number>-<account id>@` (Puzzel's `<number>-<serviceId>@`): an address book
   * made for it still reaches the number through the relay. Without it, a `-<digits>` after a number is refused.
   */
  readonly accountIdAddresses?: boolean;
  /**
   * Characters its wire format cannot carry, each with what the relay sends in its place (InteractSMS
   * reads `¬` as a line break): replaced when a mail is accepted, and the 250 says so.
   */
  readonly standIns?: Readonly<Record<string, string>> | undefined;
}

/** What every gateway is created with: the account, the hosts, the transport's limits and its own settings. */
export interface GatewayOptions<Settings extends object = Readonly<Record<string, unknown>>> {
  /** Base URLs, primary first. */
  readonly endpoints: readonly string[];
  readonly username: string;
  readonly password: string;
  /** The account id the provider's settings name (Puzzel's service id, InteractSMS's api_id). */
  readonly accountId: string | undefined;
  /** Ask the provider for a session per new conversation (Puzzel `newSession`) where it supports them. */
  readonly sessions: boolean;
  readonly connectTimeoutMs: number;
  readonly responseTimeoutMs: number;
  readonly connectionsPerEndpoint: number;
  readonly logger: Logger;
  /** The plug-in's own `gateway.*` keys, parsed by its `settings.schema` (never the whole config). */
  readonly settings: Settings;
  /**
   * Relays share the queue (a PostgreSQL store, docs/several-relays.md): an SMS's retry may be made by
   * another relay, so what this gateway remembers of an attempt (`RecipientResult.partsKept`) cannot be
   * promised to the retry.
   */
  readonly sharedQueue?: boolean | undefined;
  /**
   * The relay's webhook URLs as the provider must call them (from `gateway.publicUrl`, the relay's
   * webhook token included), for providers told per message where to report (Twilio's
   * `StatusCallback`); undefined when no public URL is configured.
   */
  readonly webhookUrls?: { readonly mo: string; readonly dr: string } | undefined;
  /** `sms.defaultRegion`: the country a national number the gateway gives (SMPP TON 2, a leading 0) is read in. */
  readonly defaultRegion?: CountryCode | undefined;
}

/** A request to one of the relay's webhooks, as it arrived. */
export interface InboundRequest {
  /** Media type, lower case, without parameters ('' when none). */
  readonly contentType: string;
  /** The body as text: in its charset, a form's %-escapes written again as UTF-8 (what the parsers read). */
  readonly body: string;
  /**
   * The body's bytes as they arrived, for a signature over what the gateway sent (a form's Latin-1
   * %-escapes, say, which `body` holds as UTF-8). Unknown when absent.
   */
  readonly rawBody?: Buffer | undefined;
  /**
   * The charset `body` was read in, as iconv-lite names it: the one the request declares (UTF-8 when
   * the relay knows no such charset), else UTF-8 or, for a body that is not, windows-1252. With
   * `rawBody`: what its bytes (a form's %-escapes) are written in. Unknown when absent.
   */
  readonly charset?: string | undefined;
  readonly query: URLSearchParams;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /**
   * The URL the provider called, query included: `gateway.publicUrl` followed by the path and query
   * as they arrived, or, without it, the scheme, Host and path the relay saw (signatures over the
   * URL, Twilio's, depend on it; a proxy changes what the relay sees). Unknown when absent.
   */
  readonly url?: string | undefined;
  /** GET (the fields are in `query`) or POST (also when absent). */
  readonly method?: 'GET' | 'POST' | undefined;
}

/**
 * Several items per request are normal (Puzzel batches, InteractSMS's reports for several numbers).
 * A request that is not the provider's at all (not its format, no list of items) is `ok: false` and
 * quarantined whole. In a batch, an item that cannot be read does not cost the others: the readable
 * ones are `items`, taken as usual, and `unreadable` says why each other one could not be read
 * (`mo[1]: originator is missing…`, without the item's values: reasons are logged); the request is
 * then quarantined too, for those. A request none of whose items can be read is quarantined whole.
 * A part of a long SMS is an item like any other, with its `part` set: the relay keeps it until its
 * SMS is whole (src/sms/concat.ts).
 */
export type InboundParse<T> =
  | {
      readonly ok: true;
      readonly items: readonly T[];
      readonly unreadable?: readonly string[] | undefined;
      /** Why a request of no items carries nothing for the relay (an event of the provider's it has no use for): acknowledged, a debug line. */
      readonly ignored?: string | undefined;
    }
  | { readonly ok: false; readonly reason: string };

/** A batch's parse from its readable items and why each other one is not: none readable, the request is unreadable whole. */
export function batchParse<T>(items: readonly T[], unreadable: readonly string[]): InboundParse<T> {
  if (items.length === 0 && unreadable.length > 0) return { ok: false, reason: unreadable.join('; ') };
  return unreadable.length === 0 ? { ok: true, items } : { ok: true, items, unreadable };
}

/**
 * A received SMS's time from the gateway's `field` as written (readGatewayTime, in the gateway's `timeZone` when it
 * names none). None written is none; one not read is none too, named (ReceivedSms.unreadTime): an SMS whose sender
 * and text are readable is mailed whatever its time's form, never quarantined for it.
 */
export function gatewayTime(field: string, written: string, timeZone: string): Pick<ReceivedSms, 'sentAt' | 'unreadTime'> {
  if (written.trim() === '') return { sentAt: undefined };
  const sentAt = readGatewayTime(written, timeZone);
  return sentAt === undefined ? { sentAt, unreadTime: { field, value: written } } : { sentAt };
}

/** A webhook signature's secret and the formula the account signs with (InteractSMS `SMS-Verify`). */
export interface WebhookSignature {
  readonly secret: string;
  readonly formula: string;
}

/** The optional part of an HTTP provider: it posts what it receives to `/webhooks/<name>/mo|dr`. */
export interface WebhookParsing {
  parseReceived(request: InboundRequest): InboundParse<ReceivedSms>;
  /** Reports as written: a number written nationally or missing is placed by the sink (InboundSink.placeReports). */
  parseReport(request: InboundRequest): InboundParse<WrittenReport>;
  /**
   * The provider's own webhook signature, checked when the operator configured its secret;
   * false = forged (403). Absent for providers without one.
   */
  verify?(request: InboundRequest, kind: InboundKind, secret: string, formula: string): boolean;
  /**
   * What the provider's signature leaves out, in words, when a request replayed with an unsigned field
   * changed still passes it and reads as a new SMS (InteractSMS signs From and Content only): on a port
   * others can reach, the relay then warns unless the webhook token is required too. Absent = the
   * signature covers what tells one request from another.
   */
  readonly signatureGap?: string;
  /**
   * The body of the 200 that acknowledges a request of `kind` the relay took (committed, seen before
   * or quarantined), for providers that read it (Twilio wants TwiML on MO); undefined, or absent,
   * = the relay's JSON outcome.
   */
  acknowledge?(kind: InboundKind): { readonly contentType: string; readonly body: string } | undefined;
  /** The HTTP methods the provider calls the webhooks with; absent = POST only. */
  readonly webhookMethods?: readonly ('GET' | 'POST')[];
  /**
   * The provider can send the relay's token in a header (Puzzel's "fixed header") rather than in the webhook URL's
   * query: with `inbound.webhookTokenHeader` set, its token travels in no URL. Absent = in the URL (`?token=`).
   */
  readonly tokenInHeader?: true;
}

/**
 * One rule of a provider's outcome table: matched against `<where>/<code>`, where = connect |
 * response | request | recipient. The first match among the provider's rules, then the relay's
 * generic ones (transport, HTTP status, unreadable answers), wins.
 */
export interface OutcomeRule {
  readonly match: RegExp;
  readonly action: OutcomeAction;
  /** Short stable name for logs and metrics. */
  readonly category: string;
  /** Plain words for the sender (bounces) and the operator (logs). */
  readonly reason: string;
  /** Seconds the code asks the relay to wait (`delay` rules). */
  readonly waitSeconds?: (code: string) => number | undefined;
  /**
   * What the operator does to end the pause (`pause` rules), where the code says (Twilio's 21609: set
   * gateway.publicUrl): the pause's alert names it in place of the general "fix the account".
   */
  readonly fix?: string;
  /**
   * The code says the recipient opted out of the account's messages (`fail` rules): the relay records the
   * opt-out as it does a STOP, so that RCPT refuses the number's next mail.
   */
  readonly optsOut?: true;
  /**
   * The code says the queue of the sender the mail named is full (`retry` rules; Twilio's 21611 for a mail's
   * own From): that sender's SMS to this provider are held without requests until one probe passes, its other
   * senders' SMS go on, and the answer says nothing of the provider (its pause neither starts nor ends). On a
   * rule of another action the registry refuses the plug-in (src/providers/registry.ts).
   */
  readonly holdsSender?: true;
  /**
   * The code says the gateway recognised the request as a resend of an SMS it already took and sent nothing this
   * time (an idempotent duplicate: Puzzel's 25 for a clientReference it has; `sent` rules): the phone got the SMS
   * once, so the possible duplicates its earlier attempts with no answer counted are taken back. On a rule of
   * another action the registry refuses the plug-in (src/providers/registry.ts).
   */
  readonly recognisedResend?: true;
  /**
   * What the SMS's history says in place of the gateway's id when this code comes without one (`sent` rules),
   * for a provider whose delivery reports find the SMS without it (Puzzel's, by the SMS's reference). Without
   * it the history says the gateway gave no id, so its delivery reports cannot be matched.
   */
  readonly withoutId?: string;
  /**
   * The gateway took the SMS but holds it until someone acts there (`sent` rules; Puzzel's 24, held for manual
   * approval): what the operator does there. The SMS is sent as far as the relay goes and awaits its delivery
   * report, which decides it; its history says it is held, in the rule's reason and the gateway's words, and a
   * warn line tells the operator that and this.
   */
  readonly heldAtGateway?: string;
}

/** What the relay takes from a plug-in's parsed settings. */
export interface ProviderAccount {
  readonly accountId: string | undefined;
  readonly sessions: boolean;
  /** Set when the operator configured the provider's webhook signature. */
  readonly signature: WebhookSignature | undefined;
  /**
   * Units per part as the account concatenates, when its settings choose (SMPP's 16-bit UDH
   * reference: 152/66): the relay counts parts, and refuses too long a text at DATA, by them.
   * Undefined = 153/67 (8-bit reference).
   */
  readonly segmentLimits?: SegmentLimits | undefined;
  /** The sender id the account sends as when a mail names none (`from`), where its settings name one. */
  readonly defaultSenderId?: string | undefined;
}

/**
 * A plug-in's own keys under `gateway:` in the config file. `schema` validates them (each key
 * optional or defaulted: `required` names those a real account must set, which its simulator does
 * not need); `environment` maps `SMSRELAY_*` names to its keys (documented interface: never rename).
 */
export interface ProviderSettings<Settings extends object = Readonly<Record<string, unknown>>> {
  readonly schema: z.ZodType<Settings> & { readonly shape: Readonly<Record<string, z.ZodType>> };
  readonly environment: Readonly<Record<string, Extract<keyof Settings, string>>>;
  readonly required: readonly Extract<keyof Settings, string>[];
  /** The provider's public hosts: the default primary and backup base URLs. */
  readonly defaultUrls: { readonly url: string; readonly backupUrl?: string };
  /** Its keys that hold durations (milliseconds once parsed): `config check` writes them back as a file does (`30s`). */
  readonly durations?: readonly Extract<keyof Settings, string>[];
  account(settings: Settings): ProviderAccount;
  /**
   * The keys of a gateway reached at a host of its own settings rather than at `url` (SMPP): its
   * password may go to that host in clear only on loopback, or when the operator declared the link
   * protected (a VPN, a private line); otherwise the configuration is refused, naming these keys.
   */
  readonly link?: {
    readonly host: Extract<keyof Settings, string>;
    readonly tls: Extract<keyof Settings, string>;
    readonly protectedLink: Extract<keyof Settings, string>;
  };
  /**
   * The longest `username` and `password` the provider's protocol carries, in UTF-8 octets, and what
   * it calls them: a longer one is a config problem at start, not a failure of the first request.
   */
  readonly credentialLimits?: Readonly<Partial<Record<'username' | 'password', { readonly octets: number; readonly name: string }>>>;
}

/** Whose passing state a temporary failure was (ProviderPlugin.temporaryStatus): the phone's, or the provider's or network's load. */
export type PassingFailure = 'phone' | 'network';

/** A provider plug-in, registered by name (`src/providers/registry.ts`). */
export interface ProviderPlugin<Settings extends object = Readonly<Record<string, unknown>>> extends Partial<WebhookParsing> {
  /** Names it in config (`gateway.provider`), in logs and in its webhook paths (`/webhooks/<name>/…`). */
  readonly name: string;
  readonly capabilities: ProviderCapabilities;
  readonly settings: ProviderSettings<Settings>;
  /** Its codes → the relay's outcome actions; anything it leaves out falls to the generic rules. */
  readonly outcomeRules: readonly OutcomeRule[];
  createGateway(options: GatewayOptions<Settings>): Gateway;
  /** Plain words for a delivery status code, for the sender's report mail. */
  describeStatus(code: number): string;
  /**
   * The status as the provider says it, for the report mail's Diagnostic-Code, where the stored code is
   * the relay's own (InteractSMS's `SMS-Success=False`); without it (or its answer), `status <code>`.
   */
  statusCode?(code: number): string | undefined;
  /**
   * The failure the code reports was passing, a resend later may get through: `phone` for a state of the phone or its
   * subscription (Puzzel's 364 temporarily unreachable), `network` for the provider or the network too busy to take it
   * (Twilio's 30017 congestion), which says nothing of the phone. The report mail says which with a 4.x.x status;
   * undefined (or no method): a permanent failure.
   */
  temporaryStatus?(code: number): PassingFailure | undefined;
  /** Why this sender id cannot go to the provider (shown in the 554), or undefined when it can. */
  senderIdProblem(senderId: string): string | undefined;
  /**
   * The country a sender its gateway writes nationally (`07700900706`) is read in when `sms.defaultRegion` names none
   * and its SMS echoes no tracking that places it (src/sms/senders.ts nationalSender): its platform's (InteractSMS: Ireland).
   */
  readonly region?: CountryCode;
  /**
   * The keywords the provider's gateway itself acts on (Twilio's default opt-out handling blocks a number that
   * texts one of its opt-out words, and sends to it again after an opt-in word): the relay's for the SMS of this
   * provider where the settings give none, so that the relay and the gateway agree on who is opted out. Without
   * it, the relay's (RELAY_KEYWORDS).
   */
  readonly keywords?: OptOutKeywords;
  /**
   * The sender id as the provider names the sender's queue, where it takes several spellings of one (Twilio: a
   * Messaging Service SID's hex digits in either case): one sender is held once (OutcomeRule.holdsSender).
   * Without it, the sender id as written.
   */
  senderQueue?(senderId: string): string;
}

/** A plug-in that takes the relay's webhooks. */
export type WebhookProvider = Pick<ProviderPlugin, 'name' | 'capabilities'> & WebhookParsing;

/** Where a provider's forwarding posts received SMS (mo) and delivery reports (dr): derived from its name. */
export function webhookPaths(name: string): { readonly mo: string; readonly dr: string } {
  return { mo: `/webhooks/${name}/mo`, dr: `/webhooks/${name}/dr` };
}

/** True when the plug-in receives over the relay's webhooks (both parsers present). */
export function receivesWebhooks<P extends ProviderPlugin>(plugin: P): plugin is P & WebhookParsing {
  return typeof plugin.parseReceived === 'function' && typeof plugin.parseReport === 'function';
}
