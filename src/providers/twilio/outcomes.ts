/**
 * Twilio's answers to a create-message request, reported by the adapter as `TWILIO:ACCEPTED` or
 * `TWILIO:<error code>` (https://www.twilio.com/docs/api/errors).
 */
import type { OutcomeRule } from '../contract.ts';
import { REASONS } from '../outcome-reasons.ts';

/**
 * 400 codes about the Messaging Service that sends, the same for every SMS it sends: 21703/21704
 * no number in its sender pool, 21705 the service is invalid. With the configured service a
 * setting to correct (sending pauses); with a service a mail named as its sender, that mail's.
 */
export const MESSAGING_SERVICE_CODES: readonly number[] = [21703, 21704, 21705];
/** Appended by the adapter to a MESSAGING_SERVICE_CODES code when the mail named its own service. */
export const MAIL_SERVICE_SUFFIX = ':MAIL_SERVICE';

/**
 * Only a 400's codes come here (as `recipient/`): the other statuses are classified by the generic
 * rules whatever Twilio's code. Of these, the codes below are known to be about the number or the
 * message and bounce, or about the account's settings and pause sending as a refused login does; a
 * code not listed is retried (the generic rules' unclassified retry), since some 400s are passing
 * states of the account (21611: the sender's queue is full).
 */
export const TWILIO_OUTCOME_RULES: readonly OutcomeRule[] = [
  { match: /^recipient\/TWILIO:ACCEPTED$/, action: 'sent', category: 'sent', reason: REASONS.accepted },
  {
    match: /^recipient\/TWILIO:(21211|21614)$/,
    action: 'fail',
    category: 'invalid-number',
    reason: 'the SMS gateway says the number is not a valid mobile number',
  },
  {
    match: /^recipient\/TWILIO:21610$/,
    action: 'fail',
    category: 'opted-out',
    reason: "the recipient has opted out (replied STOP to the account's number)",
    optsOut: true,
  },
  { match: /^recipient\/TWILIO:21612$/, action: 'fail', category: 'unreachable', reason: 'the SMS gateway cannot reach that number by SMS' },
  { match: /^recipient\/TWILIO:21408$/, action: 'fail', category: 'region', reason: 'the Twilio account may not send SMS to that country' },
  {
    match: /^recipient\/TWILIO:(21212|21606)$/,
    action: 'fail',
    category: 'sender',
    reason: 'the sender id is not one the Twilio account may send from',
  },
  // 21603 no sender (From): the configured service gives none.
  {
    match: new RegExp(`^recipient/TWILIO:(21603|${MESSAGING_SERVICE_CODES.join('|')})$`),
    action: 'pause',
    category: 'account',
    reason: 'the Twilio Messaging Service cannot send: check gateway.messagingServiceSid and that its sender pool holds a number',
  },
  {
    match: new RegExp(`^recipient/TWILIO:(${MESSAGING_SERVICE_CODES.join('|')})${MAIL_SERVICE_SUFFIX}$`),
    action: 'fail',
    category: 'sender',
    reason: 'the Messaging Service the mail names as its sender cannot send from the Twilio account',
  },
  // 21609: the StatusCallback URL the relay sends with every SMS is refused.
  {
    match: /^recipient\/TWILIO:21609$/,
    action: 'pause',
    category: 'account',
    reason: "Twilio refused the relay's StatusCallback URL: set gateway.publicUrl to the https address at which Twilio reaches the relay",
  },
  // 21602 no message body, 21617 a body over 1 600 characters.
  { match: /^recipient\/TWILIO:(21602|21617)$/, action: 'fail', category: 'refused', reason: REASONS.refused },
];
