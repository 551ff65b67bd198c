/**
 * Twilio's answers to a create-message request, reported by the adapter as `TWILIO:ACCEPTED` or
 * `TWILIO:<error code>` (https://www.twilio.com/docs/api/errors): request-level codes (not a 400)
 * concern the account, recipient-level ones (a 400) this message.
 */
import type { OutcomeRule } from '../contract.ts';
import { REASONS } from '../outcome-reasons.ts';

export const TWILIO_OUTCOME_RULES: readonly OutcomeRule[] = [
  { match: /^recipient\/TWILIO:ACCEPTED$/, action: 'sent', category: 'sent', reason: REASONS.accepted },
  // 20429 Too Many Requests: the account's concurrency or rate limit.
  { match: /^(request|recipient)\/TWILIO:20429$/, action: 'retry', category: 'busy', reason: 'the SMS gateway is busy (too many requests)' },
  // 20500 Internal Server Error, 20503 Service Unavailable.
  { match: /^(request|recipient)\/TWILIO:2050[03]$/, action: 'retry', category: 'gateway-error', reason: REASONS.temporary },
  // 20003 authentication, 20404 a wrong Account SID, 20005 account not active: every message would fail alike.
  {
    match: /^request\/TWILIO:\d+$/,
    action: 'pause',
    category: 'account',
    reason: "the SMS gateway refused the relay's account (credentials, Account SID or permissions)",
  },
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
  { match: /^recipient\/TWILIO:\d+$/, action: 'fail', category: 'refused', reason: REASONS.refused },
];
