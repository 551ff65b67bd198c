/**
 * Twilio's answers to a create-message request, reported by the adapter as `TWILIO:ACCEPTED` or
 * `TWILIO:<error code>` (https://www.twilio.com/docs/api/errors). Each refusal's words are the code's in
 * errors.ts, which a status callback with the same code gives too.
 */
import type { OutcomeRule } from '../contract.ts';
import { REASONS } from '../outcome-reasons.ts';
import { twilioErrorWords, UNSUBSCRIBED_CODE } from './errors.ts';

/**
 * 400 codes about the Messaging Service that sends, the same for every SMS it sends: 21703/21704
 * no number in its sender pool, 21705 the service is invalid. With the configured service a
 * setting to correct (sending pauses); with a service a mail named as its sender, that mail's.
 */
export const MESSAGING_SERVICE_CODES: readonly number[] = [21703, 21704, 21705];
/** Appended by the adapter to a MESSAGING_SERVICE_CODES code when the mail named its own service. */
export const MAIL_SERVICE_SUFFIX = ':MAIL_SERVICE';

/** A rule for each of `codes` (as a 400's `recipient/TWILIO:<code>`), with the code's words and what the relay adds to them. */
function refusals(codes: readonly number[], rule: Omit<OutcomeRule, 'match' | 'reason'>, suffix = '', then = ''): OutcomeRule[] {
  return codes.map((code) => ({ ...rule, match: new RegExp(`^recipient/TWILIO:${code}${suffix}$`), reason: `${twilioErrorWords(code)}${then}` }));
}

/**
 * Only a 400's codes come here (as `recipient/`): the other statuses are classified by the generic
 * rules whatever Twilio's code. Of these, the codes below are known to be about the number or the
 * message and bounce, or about the account's settings and pause sending as a refused login does; a
 * code not listed is retried (the generic rules' unclassified retry), since some 400s are passing
 * states of the account (21611: the sender's queue is full).
 */
export const TWILIO_OUTCOME_RULES: readonly OutcomeRule[] = [
  { match: /^recipient\/TWILIO:ACCEPTED$/, action: 'sent', category: 'sent', reason: REASONS.accepted },
  ...refusals([21211, 21614], { action: 'fail', category: 'invalid-number' }),
  ...refusals([UNSUBSCRIBED_CODE], { action: 'fail', category: 'opted-out', optsOut: true }),
  ...refusals([21612], { action: 'fail', category: 'unreachable' }),
  // One country's permission: the others' SMS still go.
  ...refusals([21408], { action: 'fail', category: 'region' }),
  // A sender a mail names (X-SMS-From): that mail's.
  ...refusals([21212, 21606], { action: 'fail', category: 'sender' }),
  // 21603 no sender (From): the configured service gives none.
  ...refusals(
    [21603, ...MESSAGING_SERVICE_CODES],
    { action: 'pause', category: 'account' },
    '',
    ': check gateway.messagingServiceSid and that its sender pool holds a number',
  ),
  ...refusals(MESSAGING_SERVICE_CODES, { action: 'fail', category: 'sender' }, MAIL_SERVICE_SUFFIX, ' (the Messaging Service the mail names as its sender)'),
  // The StatusCallback URL the relay sends with every SMS.
  ...refusals([21609], { action: 'pause', category: 'account' }, '', ': set gateway.publicUrl to the https address at which Twilio reaches the relay'),
  ...refusals([21602, 21617], { action: 'fail', category: 'refused' }),
];
