/**
 * Twilio's error codes (https://www.twilio.com/docs/api/errors) the relay knows, in words and by what they
 * blame. One table for both ways Twilio reports them: in a `400` answer to the send request (outcomes.ts:
 * the 21xxx codes, those Twilio answers a send with) and in a `failed`/`undelivered` status callback (inbound.ts). With a Messaging Service, which the relay
 * always sends through, Twilio accepts many sends it cannot make and reports the error only by callback
 * ("A note about error handling with Messaging Services", Twilio support): the same code must mean the
 * same thing either way.
 */
import type { OutcomeRule } from '../contract.ts';

/**
 * What a code blames, which decides what it does on both paths (outcomes.ts for a send's `400`, inbound.ts for
 * a callback: TWILIO_KINDS). `number`: not a mobile number; `recipient`: the phone or its owner's choice;
 * `message`: this SMS (its text, the network's filter); `passing`: a passing state (a queue full, a
 * congestion), which a send's answer retries and a callback, after the send, can only bounce; `sender`: the
 * sender a mail names (X-SMS-From), that mail's; `destination`: one country's permission, the others' SMS still
 * go; `opted-out`: the recipient unsubscribed from the account's messages (the relay keeps it as a STOP);
 * `account`: the account or its settings, the same for every SMS sent until it is fixed at Twilio (sending
 * pauses at a send's answer; a callback alerts the operator).
 */
export type TwilioErrorKind = 'number' | 'recipient' | 'message' | 'passing' | 'sender' | 'destination' | 'opted-out' | 'account';

/**
 * `words`: plain words for the sender's bounce and the operator's log. An `account` code's `remedy`: what the operator
 * does about it, which the pause's reason adds to the words and its alert (a send's or a callback's) names. Every
 * account code has its own: the general "fix the account" would send the operator to the credentials, which a
 * callback's SMS (sent, so authenticated) rules out.
 */
export type TwilioError =
  | { readonly kind: Exclude<TwilioErrorKind, 'account'>; readonly words: string; readonly remedy?: undefined }
  | { readonly kind: 'account'; readonly words: string; readonly remedy: string };

/** A kind's effect at a send's `400` (an outcome rule's action and category) and in a callback, which can only bounce its SMS and may also alert or keep the opt-out. */
export interface TwilioKindEffect {
  readonly send: Pick<OutcomeRule, 'action' | 'category' | 'optsOut'>;
  readonly callback: 'alert' | 'opt-out' | undefined;
}

/** What each kind does, on both paths: the one place a code's effect is decided. */
export const TWILIO_KINDS: Readonly<Record<TwilioErrorKind, TwilioKindEffect>> = {
  number: { send: { action: 'fail', category: 'invalid-number' }, callback: undefined },
  recipient: { send: { action: 'fail', category: 'unreachable' }, callback: undefined },
  message: { send: { action: 'fail', category: 'refused' }, callback: undefined },
  // A queue full or congested is the account's for a while: held and probed, as a throttling answer is (a From's own queue
  // full, or a mail's own Messaging Service's, is that sender's alone: outcomes.ts, SENDER_QUEUE_CODES).
  passing: { send: { action: 'retry', category: 'busy' }, callback: undefined },
  sender: { send: { action: 'fail', category: 'sender' }, callback: undefined },
  destination: { send: { action: 'fail', category: 'region' }, callback: undefined },
  'opted-out': { send: { action: 'fail', category: 'opted-out', optsOut: true }, callback: 'opt-out' },
  account: { send: { action: 'pause', category: 'account' }, callback: 'alert' },
};

/** What the configured Messaging Service's codes (no sender, none in its pool, none such) ask the operator to check. */
const SERVICE_REMEDY = 'check gateway.messagingServiceSid and that its sender pool holds a number';

export const TWILIO_ERRORS: Readonly<Record<number, TwilioError>> = {
  21211: { kind: 'number', words: 'the number is not a valid phone number' },
  21212: { kind: 'sender', words: 'the sender (From) is not a valid phone number, short code or alphanumeric sender id for the Twilio account' },
  21408: { kind: 'destination', words: "the Twilio account may not send SMS to that country (it is not enabled in the account's geographic permissions)" },
  21602: { kind: 'message', words: 'the message has no text' },
  21603: { kind: 'account', words: 'the send named no sender: neither a From nor a Messaging Service', remedy: SERVICE_REMEDY },
  21606: { kind: 'sender', words: 'the sender (From) is not a number the Twilio account may send SMS from to this destination' },
  // The StatusCallback URL the relay sends with every SMS.
  21609: {
    kind: 'account',
    words: "Twilio refused the relay's StatusCallback URL",
    remedy: 'set gateway.publicUrl to the https address at which Twilio reaches the relay',
  },
  21610: { kind: 'opted-out', words: 'the recipient has opted out of messages from this sender (replied STOP to it)' },
  21611: { kind: 'passing', words: "the sender's queue at Twilio is full (more messages waiting than it may hold)" },
  21612: { kind: 'recipient', words: 'Twilio cannot reach that number by SMS from this sender' },
  21614: { kind: 'number', words: 'the number is not a mobile number' },
  21617: { kind: 'message', words: "the text is longer than Twilio's 1 600 characters" },
  21703: { kind: 'account', words: 'the Messaging Service has no number available in its sender pool to send from', remedy: SERVICE_REMEDY },
  21704: { kind: 'account', words: "the Messaging Service's sender pool holds no number", remedy: SERVICE_REMEDY },
  21705: { kind: 'account', words: 'the Messaging Service is invalid (deleted, or not of the Twilio account)', remedy: SERVICE_REMEDY },
  30001: {
    kind: 'passing',
    words: "Twilio's queue for the account overflowed (too many messages at once), so it was not sent; sending it again later may succeed",
  },
  30002: {
    kind: 'account',
    words: 'the Twilio account is suspended',
    remedy: "ask Twilio support why the account was suspended (the account's page in the Twilio console says so too) and have it reinstated",
  },
  30003: { kind: 'recipient', words: 'the phone is switched off or out of reach' },
  30004: { kind: 'recipient', words: 'the recipient blocks messages from this sender' },
  30005: { kind: 'number', words: 'the number is unknown or no longer in service' },
  30006: { kind: 'number', words: 'the number is a landline or cannot receive SMS' },
  30007: { kind: 'message', words: 'the mobile network filtered it as spam' },
  30008: { kind: 'message', words: 'the mobile network gave no reason' },
  30010: {
    kind: 'account',
    words: "its price is over the maximum price set for the Twilio account's messages",
    remedy: "raise the maximum price set at Twilio for the account's messages (the relay sets none per SMS), or ask Twilio support which one applies",
  },
  30017: { kind: 'passing', words: 'the mobile network was congested; sending it again later may succeed' },
  // US A2P 10DLC throughput and caps: the campaign's or the brand's, met by every SMS sent over it until the window
  // renews (a callback cannot put the SMS back: it bounces, and the operator is alerted, as for an allowance used up).
  30022: {
    kind: 'account',
    words: "the carriers refused it: the account sends faster than its US A2P 10DLC campaign's throughput allows",
    remedy: "send less at once (gateway.maxConcurrentRequests) or have the campaign's throughput raised at Twilio",
  },
  30023: {
    kind: 'account',
    words: "the US A2P 10DLC brand's daily message cap is reached: no more SMS until the day's cap renews",
    remedy: "wait for the cap to renew the next day, or have the brand's cap raised at Twilio (its vetting score)",
  },
  30024: {
    kind: 'account',
    words: "the sender number is not provisioned with the recipient's carrier (registered, but not yet active there)",
    remedy: "have the sender's registration (10DLC campaign, toll-free or short code) completed with the carriers through Twilio support",
  },
  30027: {
    kind: 'account',
    words: "T-Mobile's daily message limit for the US A2P 10DLC brand is reached: no more SMS to T-Mobile until it renews",
    remedy: "wait for the limit to renew the next day, or have the brand's T-Mobile limit raised at Twilio (its vetting score)",
  },
  30032: {
    kind: 'account',
    words: 'the sender is a toll-free number whose verification at Twilio is not complete',
    remedy: "complete the toll-free number's verification in the Twilio console (Regulatory Compliance, Toll-Free Verifications)",
  },
  30033: {
    kind: 'account',
    words: "the sender's US A2P 10DLC campaign is suspended",
    remedy: "see why on the campaign's page in the Twilio console (A2P 10DLC) and have it resolved with Twilio support",
  },
  30034: {
    kind: 'account',
    words: 'the sender is a US number not registered for A2P 10DLC',
    remedy: 'add the sender number to the Messaging Service linked to an approved US A2P 10DLC campaign (Twilio console, A2P 10DLC)',
  },
  30036: { kind: 'message', words: 'its validity period ran out before it could be delivered' },
  30042: { kind: 'sender', words: "the sender id was blocked by Twilio's carrier as generic, non-compliant or fraudulent" },
};

/** The code's words, or, for one the table does not know, its number and Twilio's page for it. */
export function twilioErrorWords(code: number): string {
  return TWILIO_ERRORS[code]?.words ?? `Twilio error ${code} (https://www.twilio.com/docs/api/errors/${code})`;
}
