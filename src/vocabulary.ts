/**
 * The words every layer shares, at the bottom of the import graph: this file imports nothing. The
 * store, the providers, dispatch, the inbound service and the protocol layers all speak these types,
 * so none of them needs to import another for a name.
 */

/** The providers the relay ships with (plug-ins are registered by name: any other name may join them). */
export type BuiltInProviderName = 'intellisoftware' | 'puzzel' | 'interactsms' | 'twilio' | 'vonage' | 'smpp';

/** GSM 03.38 default alphabet (7-bit) or UCS-2 (UTF-16 code units). */
export type SmsEncoding = 'gsm7' | 'ucs2';

/** Where an SMS to one number stands, as its delivery reports move it (forward only). */
export type DeliveryState = 'queued' | 'sent' | 'delivered' | 'failed' | 'expired';

/** The relay's two webhooks per provider: SMS a phone sent (mobile originated) and delivery reports. */
export type InboundKind = 'mo' | 'dr';

/**
 * What the dispatcher does with a gateway outcome (a provider's outcome rules map its codes to these):
 * - `sent`: the provider took it;
 * - `failover`: temporary, and the request provably did not reach a working provider host: send to
 *   the next endpoint at once, else retry later;
 * - `delay`: the provider is busy and said how long to wait: retry the same host after that;
 * - `ambiguous`: the request may have been processed (answer lost): retry later on the same host,
 *   never at once elsewhere, and count a possible duplicate;
 * - `retry`: temporary, retry later with backoff;
 * - `pause`: the account or endpoint is unusable (login, credit, wrong URL): every message would fail
 *   alike, so keep the queue and retry; never bounce for it before the message's maximum age;
 * - `fail`: permanent for this recipient: bounce now.
 */
export type OutcomeAction = 'sent' | 'failover' | 'delay' | 'ambiguous' | 'retry' | 'pause' | 'fail';

/** An SMS a phone sent us, as a provider parsed it. */
export interface ReceivedSms {
  /** The provider's id for it: a repeat is the provider retrying, never a second SMS. */
  readonly providerId: string;
  /** E.164 of the phone. */
  readonly number: string;
  readonly text: string;
  /**
   * When the phone sent it (or the provider got it): ISO 8601 with its offset, `2026-03-14T09:26:53+00:00`,
   * whatever form the provider wrote (its inbound parser converts; src/timestamps.ts).
   */
  readonly sentAt: string | undefined;
  /**
   * The gateway's time field it wrote but the relay could not read (sentAt is undefined then): the SMS is mailed with
   * the relay's own time, and a warning names the field and what it held, for the operator to see a gateway's new form.
   */
  readonly unreadTime?: { readonly field: string; readonly value: string } | undefined;
  /** The user context the provider echoed (`replyTracking: 'usercontext'`). */
  readonly userContext: string | undefined;
  /** The id of the SMS it answers (`replyTracking: 'tracking-id'`). */
  readonly trackingId: string | undefined;
  /** Set when it is one part of a long SMS (the relay reassembles the parts: src/sms/concat.ts). */
  readonly part?: SmsPart | undefined;
  /**
   * The provider's own opt-out handling took the SMS as an opt-out or an opt-in (Twilio's Advanced Opt-Out,
   * `OptOutType`), whatever its word: the relay records it as it does its own keywords.
   */
  readonly optOut?: 'stop' | 'start' | undefined;
  /**
   * The number (or name) the phone texted, where the provider says and an account may have several (Vonage's
   * `to`): the reply mail names it, as an answer is sent from the account's sender, which may be another.
   */
  readonly to?: string | undefined;
}

/** Where a part sits in a long SMS (concatenated SMS, 3GPP TS 23.040 §9.2.3.24.1): references are per sender. */
export interface SmsPart {
  /** The concatenation reference (0–255, or 0–65535 with a 16-bit reference). */
  readonly reference: number;
  /** Parts in the SMS, 2–255. */
  readonly total: number;
  /** This part's index, 1-based. */
  readonly index: number;
  /**
   * The part's text as the SMS carried it, where the provider has it: a phone cuts where a part's octets
   * run out, sometimes inside a character (a UTF-16 surrogate pair, a GSM-7 escape), so neighbouring
   * parts are joined as octets before they are decoded.
   */
  readonly carried?: CarriedText | undefined;
  /**
   * The provider knows this part is no repeat of a part with its text it handed over before (SMPP: that
   * one's ESME_ROK reached the SMSC, which then never delivers it again), and a repeat would have that
   * part's providerId: a part under another id is a new SMS's even with a kept part's text, as a phone's
   * fixed or wrapped reference and a text begun alike make it. Without it (the provider cannot tell: it
   * remembers no such part), the same text within LATE_PART_WINDOW_MS is taken for a repeat.
   */
  readonly repeatsById?: true | undefined;
}

/**
 * How far apart a part may be from a set and still belong to it: sent within this of the set's parts
 * where the gateway gives times, else received within this of the set being mailed. The parts of one
 * SMS leave the phone together and an SMSC that holds one back retries it within minutes, so an hour
 * (six times the default `inbound.reassemblyTimeout`) keeps a part the SMSC delayed with its SMS; a
 * phone numbers its references from 0 to 255 again and again, so a part further off is another SMS
 * reusing the reference (its own set), never a part of one mailed hours ago to an older conversation.
 * Without times, a part with the text of a set's part is a repeat of it only within this window too
 * (src/store/reassembly.ts), unless its provider names repeats by id (SmsPart.repeatsById), which it can
 * tell only while it remembers the earlier part (SMPP: for this window).
 */
export const LATE_PART_WINDOW_MS = 60 * 60_000;

/** Text as octets, in a coding a cut can split a character of. */
export interface CarriedText {
  /** GSM 03.38 septets one per octet (an extension character is ESC and its code), or UCS-2/UTF-16 big-endian. */
  readonly coding: 'gsm7' | 'ucs2';
  readonly octets: Uint8Array;
}

/** A delivery report for one SMS to one number, as a provider parsed it. */
export interface StatusReport {
  /** The id the send result gave (`RecipientResult.providerId`). */
  readonly providerId: string;
  /** E.164. */
  readonly number: string;
  /** The provider's status code as a number (stored, and shown through the provider's `describeStatus`). */
  readonly code: number;
  readonly state: DeliveryState;
  /**
   * The status in the provider's own words, as its console shows it, for the SMS's history, where the
   * provider has no numeric status of its own and `code` is the relay's (Twilio's `MessageStatus` and
   * `ErrorCode`); without it the history names `code`.
   */
  readonly said?: string | undefined;
  /**
   * Set when the receipt may be about one part of an SMS sent in parts (`RecipientResult.parts`):
   * the part's id. With `of`, the receipt names its SMS (Vonage's client-ref): it is one of `of` parts
   * of the SMS `providerId`. Without it, `providerId` is the part's id too, which may as well be an
   * SMS of one part (an SMPP receipt names only a message id): the store knows which.
   */
  readonly part?: { readonly id: string; readonly of?: number } | undefined;
  /**
   * Another id the SMS may be kept under, tried when `providerId` finds none: the one a relay of an
   * earlier version kept it under (Vonage's client-ref for an SMS of one part, now kept under Vonage's
   * message-id), so that a receipt after an upgrade, or from an older relay's send on a shared
   * database, still reaches its SMS.
   */
  readonly formerId?: string | undefined;
  /**
   * The relay's own message id, where the report names its SMS by a reference the relay wrote into the
   * send (InteractSMS's notify_id, Puzzel's clientReference, Vonage's client-ref), not only by an id the gateway
   * made up: the SMS is found by it (with `number`) when the ids find none and no id names the SMS (a send answer
   * that gave no id; one sent again under another id is that id's), and a report for an SMS not yet recorded sent
   * (waiting to be sent again after an attempt with no answer, or in flight) proves an attempt reached the gateway:
   * it is not sent again.
   */
  readonly messageId?: string | undefined;
  /**
   * The tracking id the send result would have given (`RecipientResult.trackingId`), where the report
   * carries it (InteractSMS's notify_id): an SMS recorded sent by this report gets it, so that replies
   * naming it find their conversation.
   */
  readonly trackingId?: string | undefined;
  /**
   * The failure is the provider account's or its sender's, not the recipient's (Twilio's 30002 suspended
   * account, 30034 unregistered sender number): every SMS sent meets it, so the operator is alerted, as a
   * send refused for the account is.
   */
  readonly accountWide?: true | undefined;
  /** For an `accountWide` failure, what the operator does about it where the provider's code says (REPORTED_ACCOUNT_FIX otherwise). */
  readonly fix?: string | undefined;
  /**
   * The failure says the recipient opted out of the account's messages (Twilio's 21610 in a callback, Vonage's
   * err-code 9): `code`, the provider's code as the opt-out names it (`TWILIO:21610`), and `at`, when the report says
   * the failure happened (ms since the epoch; undefined when it does not say: its SMS's send dates it), never before
   * its SMS was sent. The
   * relay records the opt-out as it does when a send is refused so, when the SMS was sent on the relay's own
   * gateway account and the opt-out is dated after the number's last START, and RCPT refuses the number's next mail.
   */
  readonly optedOut?: { readonly code: string; readonly at: number | undefined } | undefined;
}

/**
 * A delivery report as a gateway's webhook writes it, before the inbound service places its number
 * (InboundSink.placeReports, reportNumber): `number` may be written nationally (`07700900291`, as InteractSMS
 * and IntelliSoftware write numbers) or be missing (a Puzzel report without the relay's reference), and is then
 * found among the numbers its id was sent under.
 */
export type WrittenReport = Omit<StatusReport, 'number'> & { readonly number: string | undefined };

/** What placing a webhook's reports gave: those with their E.164 number, and why each other one has none. */
export interface PlacedReports {
  readonly reports: readonly StatusReport[];
  readonly unplaced: readonly string[];
}

/**
 * What became of one received SMS: stored and mailed, stored as undeliverable, or seen before; or,
 * for one part of a long SMS, kept until the others arrive (`have` of `total` here).
 */
export type ReceivedOutcome =
  | { readonly status: 'accepted' | 'undeliverable'; readonly id: string }
  | { readonly status: 'duplicate' }
  | { readonly status: 'part'; readonly have: number; readonly total: number };

/** What one delivery report did: moved the SMS forward, waits for its SMS (orphan), or changed nothing. */
export type ReportOutcome = 'advanced' | 'orphan' | 'duplicate' | 'stale';

/**
 * Where a provider hands what it received, however it received it (a webhook request, a pushed PDU):
 * the inbound service, bound to that provider. Each call resolves once its items are durably
 * committed (or recognised as repeats); it rejects when the store cannot commit, and the provider
 * must then not acknowledge them (a 503, no deliver_sm_resp), so that the provider retries.
 */
export interface InboundSink {
  received(items: readonly ReceivedSms[]): Promise<readonly ReceivedOutcome[]>;
  reported(items: readonly StatusReport[]): Promise<readonly ReportOutcome[]>;
  /** Reports whose number is written nationally or missing given their E.164 number by their id (WrittenReport); the others as they are. */
  placeReports(items: readonly WrittenReport[]): Promise<PlacedReports>;
  /** The numbers the relay sent an SMS (or a long SMS's part) to under this provider id: for receipts that name the id but not reliably the number. */
  numbersSentUnder(providerId: string): Promise<readonly string[]>;
  /** Keeps what could not be understood, for the operator (`smsrelay status`), instead of dropping it: its body's bytes as received. */
  quarantine(kind: InboundKind, reason: string, body: Buffer): Promise<void>;
  /**
   * Whether the relay has begun to stop: from then a connection-based provider takes nothing new (SMPP answers a
   * deliver_sm ESME_RX_T_APPN, and the SMSC delivers it again to a running bind), as webhooks get 503 at once; what
   * arrived before is still committed and answered.
   */
  stopping(): boolean;
}

/**
 * The start of an opt-out's kept keyword where no phone texted one to the relay: a gateway refused a send
 * as to a number opted out at the provider (Twilio's 21610), and its code follows. RCPT words it apart
 * (src/acceptance/number-checks.ts): the phone never texted "TWILIO:21610".
 */
export const GATEWAY_OPT_OUT = 'gateway:';

/** How a number opted out, from its kept keyword, as RCPT's refusal and a reply mail say it: `they texted STOP`. */
export function optOutCause(keyword: string): string {
  return keyword.startsWith(GATEWAY_OPT_OUT)
    ? `the gateway refused an SMS to it as opted out, ${keyword.slice(GATEWAY_OPT_OUT.length)}`
    : `they texted ${keyword}`;
}

/**
 * What the operator does about a gateway refusing the relay's account, in the alert's words, where the provider's
 * code names no fix of its own (OutcomeRule.fix, StatusReport.fix): a send's pause and a report's alert say the same.
 */
export const ACCOUNT_FIX = "fix the account (the gateway's credentials in the settings, or its credit or allowance at the provider)";
/**
 * The same for a delivery report's failure: its SMS was sent, so the gateway took the credentials, and the fix is at the
 * provider alone.
 */
export const REPORTED_ACCOUNT_FIX = "fix the account at the provider (its credit, allowance or the sender's registration: the credentials sent the SMS)";

/** Keywords that, sent as the whole SMS, opt a number out of SMS (STOP) and back in (START). */
export interface OptOutKeywords {
  readonly stop: readonly string[];
  readonly start: readonly string[];
}

/**
 * What surrounds a keyword sent alone and is not part of it: blanks, punctuation, symbols and emoji
 * (with their joiners and variation selectors), as in "Stop.", "STOP!" or "stop 🛑".
 */
const AROUND_KEYWORD = /^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu;

/** A keyword, or an SMS, as they are compared: compatibility forms (full-width letters) as the plain ones, what surrounds it and case aside. */
export function keywordForm(text: string): string {
  return text.normalize('NFKC').replace(AROUND_KEYWORD, '').toUpperCase();
}

/** The relay's keywords where neither the settings (policy.stopKeywords, policy.startKeywords) nor the provider give any. */
export const RELAY_KEYWORDS: OptOutKeywords = {
  stop: ['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT'],
  start: ['START', 'UNSTOP'],
};
