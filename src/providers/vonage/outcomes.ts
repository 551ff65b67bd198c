/**
 * The SMS API's per-part `status` (https://developer.vonage.com/en/messaging/sms/guides/troubleshooting-sms),
 * reported by the adapter as `VONAGE:<status>`.
 */
import type { OutcomeRule } from '../contract.ts';
import { REASONS } from '../outcome-reasons.ts';

/** The fix for statuses 14 and 32, one requirement of the account's behind both (ACCOUNT_CODES). */
const SIGNED_REQUESTS_FIX = 'ask Vonage support to stop requiring signed requests for the API key: the relay sends the API secret and signs no request';

/**
 * The statuses that refuse every SMS the account sends, a setting or the account to correct, not an SMS to
 * retry (sending pauses): each with Vonage's meaning (its "API Errors" page) and its own fix, which the pause's
 * alert names. None but 4 is about the credentials, so none other sends the operator to them.
 */
const ACCOUNT_CODES: readonly { readonly code: number; readonly words: string; readonly fix: string }[] = [
  {
    code: 4,
    words: "the SMS gateway refused the relay's credentials (Invalid Credentials)",
    fix: 'check gateway.username (the API key) and gateway.password (the API secret) against the Vonage dashboard',
  },
  { code: 8, words: 'the Vonage account is suspended (Partner Account Barred)', fix: 'ask Vonage support why the account was suspended' },
  { code: 9, words: 'the Vonage account has no credit left (Partner Quota Violation)', fix: "top up the account's credit at Vonage" },
  {
    code: 11,
    words: 'the Vonage account is not enabled for the SMS API over HTTP (Account Not Enabled For HTTP)',
    fix: 'ask Vonage to enable the SMS API for the account, or send through its SMPP binds (gateway.provider: smpp)',
  },
  // Vonage's meaning (its "API Errors" page), then the relay's reading of it: the relay sends its API secret and signs no
  // request, so either status says Vonage requires signed requests of the API key, which only Vonage support sets
  // (its "Signing messages" guide: signing sent messages is optional unless support is asked to require it).
  {
    code: 14,
    words:
      "the SMS gateway could not verify the request's signature (Invalid Signature); the relay signs no request, so Vonage requires signed requests of the API key",
    fix: SIGNED_REQUESTS_FIX,
  },
  {
    code: 32,
    words:
      'a signed request may not also present an api_secret (Signature And API Secret Disallowed); the relay signs no request and sends the API secret, so Vonage requires signed requests of the API key',
    fix: SIGNED_REQUESTS_FIX,
  },
  // The delivery-report URL the relay sends with every SMS: every SMS would be refused.
  {
    code: 23,
    words: "the SMS gateway refused the relay's callback URL as too long or holding characters it does not take (Invalid Callback Url)",
    fix: 'set gateway.publicUrl to the https address at which Vonage reaches the relay',
  },
];

export const VONAGE_OUTCOME_RULES: readonly OutcomeRule[] = [
  { match: /^recipient\/VONAGE:0$/, action: 'sent', category: 'sent', reason: REASONS.accepted },
  // 1 Throttled: more than the account's requests per second.
  { match: /^recipient\/VONAGE:1$/, action: 'retry', category: 'busy', reason: 'the SMS gateway is busy (throttled)' },
  // 5 Internal Error.
  { match: /^recipient\/VONAGE:5$/, action: 'retry', category: 'gateway-error', reason: REASONS.temporary },
  ...ACCOUNT_CODES.map(({ code, words, fix }) => ({
    match: new RegExp(`^recipient/VONAGE:${code}$`),
    action: 'pause' as const,
    category: 'account',
    reason: `${words}: ${fix}`,
    fix,
  })),
  { match: /^recipient\/VONAGE:(7|33)$/, action: 'fail', category: 'barred', reason: 'the number is barred or deactivated' },
  { match: /^recipient\/VONAGE:29$/, action: 'fail', category: 'whitelist', reason: 'a trial Vonage account may only text its registered test numbers' },
  { match: /^recipient\/VONAGE:15$/, action: 'fail', category: 'sender', reason: 'the sender id is not one the Vonage account may send from' },
  // 2 Missing Parameters, 3 Invalid Parameters (the number, the text), 6 Invalid Message (unroutable),
  // 12 Message Too Long, 22 Invalid Network Code. Any other status falls to the generic rules and is
  // retried: an unknown answer never bounces.
  { match: /^recipient\/VONAGE:(2|3|6|12|22)$/, action: 'fail', category: 'refused', reason: REASONS.refused },
];
