/**
 * The SMS API's per-part `status` (https://developer.vonage.com/en/messaging/sms/guides/troubleshooting-sms),
 * reported by the adapter as `VONAGE:<status>`.
 */
import type { OutcomeRule } from '../contract.ts';
import { REASONS } from '../outcome-reasons.ts';

export const VONAGE_OUTCOME_RULES: readonly OutcomeRule[] = [
  { match: /^recipient\/VONAGE:0$/, action: 'sent', category: 'sent', reason: REASONS.accepted },
  // 1 Throttled: more than the account's requests per second.
  { match: /^recipient\/VONAGE:1$/, action: 'retry', category: 'busy', reason: 'the SMS gateway is busy (throttled)' },
  // 5 Internal Error.
  { match: /^recipient\/VONAGE:5$/, action: 'retry', category: 'gateway-error', reason: REASONS.temporary },
  // 4 Invalid Credentials, 8 Partner Account Barred, 9 Partner Quota Violation (no credit),
  // 11 Facility Not Allowed (no HTTP), 14 Invalid Signature, 32 signature and secret both sent.
  {
    match: /^recipient\/VONAGE:(4|8|9|11|14|32)$/,
    action: 'pause',
    category: 'account',
    reason: "the SMS gateway refused the relay's account (API key, secret or credit)",
  },
  // 23 Invalid Callback Url: the delivery-report URL the relay sends with every SMS is refused, so
  // every SMS would be; a setting to correct, not an SMS to retry.
  {
    match: /^recipient\/VONAGE:23$/,
    action: 'pause',
    category: 'account',
    reason: "the SMS gateway refused the relay's callback URL: set gateway.publicUrl to the https address at which Vonage reaches the relay",
  },
  { match: /^recipient\/VONAGE:(7|33)$/, action: 'fail', category: 'barred', reason: 'the number is barred or deactivated' },
  { match: /^recipient\/VONAGE:29$/, action: 'fail', category: 'whitelist', reason: 'a trial Vonage account may only text its registered test numbers' },
  { match: /^recipient\/VONAGE:15$/, action: 'fail', category: 'sender', reason: 'the sender id is not one the Vonage account may send from' },
  // 2 Missing Parameters, 3 Invalid Parameters (the number, the text), 6 Invalid Message (unroutable),
  // 12 Message Too Long, 22 Invalid Network Code. Any other status falls to the generic rules and is
  // retried: an unknown answer never bounces.
  { match: /^recipient\/VONAGE:(2|3|6|12|22)$/, action: 'fail', category: 'refused', reason: REASONS.refused },
];
