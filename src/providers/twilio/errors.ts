/**
 * Twilio's error codes (https://www.twilio.com/docs/api/errors) the relay knows, in words and by what they
 * blame. One table for both ways Twilio reports them: in a `400` answer to the send request (outcomes.ts)
 * and in a `failed`/`undelivered` status callback (inbound.ts). With a Messaging Service, which the relay
 * always sends through, Twilio accepts many sends it cannot make and reports the error only by callback
 * ("A note about error handling with Messaging Services", Twilio support): the same code must mean the
 * same thing either way.
 */

/**
 * What a code blames. `recipient`: the number or phone; `message`: this SMS (its text, the network's
 * filter, a passing congestion); `opted-out`: the recipient unsubscribed from the account's messages (the
 * relay keeps it as a STOP); `account`: the account or its sender, the same for every SMS sent until it is
 * fixed at Twilio (the operator is alerted).
 */
export type TwilioErrorKind = 'recipient' | 'message' | 'opted-out' | 'account';

export interface TwilioError {
  /** Plain words for the sender's bounce and the operator's log. */
  readonly words: string;
  readonly kind: TwilioErrorKind;
}

/** The code of an unsubscribed recipient: the relay's opt-out names it (`TWILIO:21610`). */
export const UNSUBSCRIBED_CODE = 21610;

export const TWILIO_ERRORS: Readonly<Record<number, TwilioError>> = {
  21211: { kind: 'recipient', words: 'the number is not a valid phone number' },
  21212: { kind: 'account', words: 'the sender (From) is not a valid phone number, short code or alphanumeric sender id for the Twilio account' },
  21408: { kind: 'account', words: "the Twilio account may not send SMS to that country (it is not enabled in the account's geographic permissions)" },
  21602: { kind: 'message', words: 'the message has no text' },
  21603: { kind: 'account', words: 'the send named no sender: neither a From nor a Messaging Service' },
  21606: { kind: 'account', words: 'the sender (From) is not a number the Twilio account may send SMS from to this destination' },
  21609: { kind: 'account', words: "Twilio refused the relay's StatusCallback URL" },
  [UNSUBSCRIBED_CODE]: { kind: 'opted-out', words: 'the recipient has opted out of messages from this sender (replied STOP to it)' },
  21611: { kind: 'account', words: "the sender's queue at Twilio is full (more messages waiting than it may hold)" },
  21612: { kind: 'recipient', words: 'Twilio cannot reach that number by SMS from this sender' },
  21614: { kind: 'recipient', words: 'the number is not a mobile number' },
  21617: { kind: 'message', words: "the text is longer than Twilio's 1 600 characters" },
  21703: { kind: 'account', words: 'the Messaging Service has no number available in its sender pool to send from' },
  21704: { kind: 'account', words: "the Messaging Service's sender pool holds no number" },
  21705: { kind: 'account', words: 'the Messaging Service is invalid (deleted, or not of the Twilio account)' },
  30001: {
    kind: 'message',
    words: "Twilio's queue for the account overflowed (too many messages at once), so it was not sent; sending it again later may succeed",
  },
  30002: { kind: 'account', words: 'the Twilio account is suspended' },
  30003: { kind: 'recipient', words: 'the phone is switched off or out of reach' },
  30004: { kind: 'recipient', words: 'the recipient blocks messages from this sender' },
  30005: { kind: 'recipient', words: 'the number is unknown or no longer in service' },
  30006: { kind: 'recipient', words: 'the number is a landline or cannot receive SMS' },
  30007: { kind: 'message', words: 'the mobile network filtered it as spam' },
  30008: { kind: 'message', words: 'the mobile network gave no reason' },
  30010: { kind: 'account', words: "its price is over the maximum price set for the Twilio account's messages" },
  30017: { kind: 'message', words: 'the mobile network was congested; sending it again later may succeed' },
  30032: { kind: 'account', words: 'the sender is a toll-free number whose verification at Twilio is not complete' },
  30033: { kind: 'account', words: "the sender's US A2P 10DLC campaign is suspended" },
  30034: { kind: 'account', words: 'the sender is a US number not registered for A2P 10DLC' },
  30036: { kind: 'message', words: 'its validity period ran out before it could be delivered' },
};

/** The code's words, or, for one the table does not know, its number and Twilio's page for it. */
export function twilioErrorWords(code: number): string {
  return TWILIO_ERRORS[code]?.words ?? `Twilio error ${code} (https://www.twilio.com/docs/api/errors/${code})`;
}
