/**
 * Twilio's answers to a create-message request, reported by the adapter as `TWILIO:ACCEPTED` or
 * `TWILIO:<error code>` (https://www.twilio.com/docs/api/errors).
 */
import type { OutcomeRule } from '../contract.ts';
import { REASONS } from '../outcome-reasons.ts';

/**
 * Only a 400's codes come here (as `recipient/`): the other statuses are classified by the generic
 * rules whatever Twilio's code. Of these, the codes below are known to be about the number or the
 * message and bounce; a code not listed is retried (the generic rules' unclassified retry), since
 * some 400s are passing states of the account (21611: the sender's queue is full).
 */
export const TWILIO_OUTCOME_RULES: readonly OutcomeRule[] = [
  { match: /^recipient\/TWILIO:ACCEPTED$/, action: 'sent', category: 'sent', reason: REASONS.accepted },
  {
    match: /^recipient\/TWILIO:(21211|21614)$/,
    action: 'fail',
    category: 'invalid-number',
    reason: 'the SMS gateway says the number is not a valid mobile number',
  },
  { match: /^recipient\/TWILIO:21610$/, action: 'fail', category: 'opted-out', reason: "the recipient has opted out (replied STOP to the account's number)" },
  { match: /^recipient\/TWILIO:21612$/, action: 'fail', category: 'unreachable', reason: 'the SMS gateway cannot reach that number by SMS' },
  { match: /^recipient\/TWILIO:21408$/, action: 'fail', category: 'region', reason: 'the Twilio account may not send SMS to that country' },
  {
    match: /^recipient\/TWILIO:(21212|21606)$/,
    action: 'fail',
    category: 'sender',
    reason: 'the sender id is not one the Twilio account may send from',
  },
  // 21602 no message body, 21617 a body over 1 600 characters.
  { match: /^recipient\/TWILIO:(21602|21617)$/, action: 'fail', category: 'refused', reason: REASONS.refused },
];
