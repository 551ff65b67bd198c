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

/**
 * 400 codes about the queue of the sender a send named: 21611, that sender's queue full (Twilio's page: each
 * From, and each Messaging Service, has its own queue). When the mail named its sender (a From, or its own
 * Messaging Service) that sender's SMS are held (`sender-busy`, the dispatcher's sender hold) and nobody else's
 * wait: holding the provider (`busy`) would let one bulk sender's X-SMS-From stop every other sender's SMS for as
 * long as its queue stays full. Without one the queue is the configured Messaging Service's, every SMS's: the
 * table's rule holds the provider.
 */
export const SENDER_QUEUE_CODES: readonly number[] = [21611];
/** Appended by the adapter to a SENDER_QUEUE_CODES code when the mail named its sender (a From or its own service). */
export const MAIL_SENDER_SUFFIX = ':MAIL_SENDER';

/**
 * The codes Twilio answers a create request with: the 21xxx, its Messages API's refusals of the request
 * (https://www.twilio.com/docs/api/errors). The 30xxx codes are the delivery's, which Twilio reports by status
 * callback only (inbound.ts, with their meaning from the same table): in a 400 one is no answer Twilio
 * documents, retried as any code the table does not know.
 */
const CREATE_CODES = { first: 21_000, last: 21_999 } as const;

/** The rule of a 400's `recipient/TWILIO:<code>` for each create-time code of the table, as its kind decides, with the code's words (and its remedy). */
const TABLE_RULES: readonly OutcomeRule[] = Object.entries(TWILIO_ERRORS)
  .filter(([code]) => Number(code) >= CREATE_CODES.first && Number(code) <= CREATE_CODES.last)
  .map(([code, { kind, words, remedy }]) => ({
    ...TWILIO_KINDS[kind].send,
    match: new RegExp(`^recipient/TWILIO:${code}$`),
    reason: remedy === undefined ? words : `${words}: ${remedy}`,
    ...(remedy === undefined ? {} : { fix: remedy }),
  }));

/**
 * Only a 400's codes come here (as `recipient/`): the other statuses are classified by the generic
 * rules whatever Twilio's code. A create-time code of the table does what its kind says (errors.ts), as in a
 * callback; any other is retried (the generic rules' unclassified retry).
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
  // The sender a mail names: its own queue, that sender's SMS held without holding the others'.
  ...SENDER_QUEUE_CODES.map((code) => ({
    action: 'retry' as const,
    category: 'sender-busy',
    holdsSender: true as const,
    match: new RegExp(`^recipient/TWILIO:${code}${MAIL_SENDER_SUFFIX}$`),
    reason: `${twilioErrorWords(code)} (the sender the mail names: its SMS wait, the others' go on)`,
  })),
  ...TABLE_RULES,
];
