/**
 * Twilio's answers to a create-message request, reported by the adapter as `TWILIO:ACCEPTED` or
 * `TWILIO:<error code>` (https://www.twilio.com/docs/api/errors). Each refusal's words are the code's in
 * errors.ts, which a status callback with the same code gives too.
 */
import type { OutcomeRule } from '../contract.ts';
import { REASONS } from '../outcome-reasons.ts';
import { TWILIO_ERRORS, TWILIO_KINDS, twilioErrorWords } from './errors.ts';

/**
 * 400 codes about the Messaging Service that sends, the same for every SMS it sends: 21703/21704
 * no number in its sender pool, 21705 the service is invalid. With the configured service a
 * setting to correct (sending pauses); with a service a mail named as its sender, that mail's.
 */
export const MESSAGING_SERVICE_CODES: readonly number[] = [21703, 21704, 21705];
/** Appended by the adapter to a MESSAGING_SERVICE_CODES code when the mail named its own service. */
export const MAIL_SERVICE_SUFFIX = ':MAIL_SERVICE';

/** The rule of a 400's `recipient/TWILIO:<code>` for each code of the table, as its kind decides, with the code's words (and its remedy). */
const TABLE_RULES: readonly OutcomeRule[] = Object.entries(TWILIO_ERRORS).map(([code, { kind, words, remedy }]) => ({
  ...TWILIO_KINDS[kind].send,
  match: new RegExp(`^recipient/TWILIO:${code}$`),
  reason: remedy === undefined ? words : `${words}: ${remedy}`,
}));

/**
 * Only a 400's codes come here (as `recipient/`): the other statuses are classified by the generic
 * rules whatever Twilio's code. A code of the table does what its kind says (errors.ts), as in a callback;
 * one not listed is retried (the generic rules' unclassified retry).
 */
export const TWILIO_OUTCOME_RULES: readonly OutcomeRule[] = [
  { match: /^recipient\/TWILIO:ACCEPTED$/, action: 'sent', category: 'sent', reason: REASONS.accepted },
  // The service a mail names as its sender: that mail's, not the configured one's to pause for.
  ...MESSAGING_SERVICE_CODES.map((code) => ({
    action: 'fail' as const,
    category: 'sender',
    match: new RegExp(`^recipient/TWILIO:${code}${MAIL_SERVICE_SUFFIX}$`),
    reason: `${twilioErrorWords(code)} (the Messaging Service the mail names as its sender)`,
  })),
  ...TABLE_RULES,
];
