/**
 * Twilio Programmable Messaging, the Messages API
 * (https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource): a form
 * POST to `/2010-04-01/Accounts/{AccountSid}/Messages.json` with HTTP Basic authentication (the
 * Account SID and auth token, or an API key SID and secret), one number per request, answered 201
 * with the Message resource (`sid`: its delivery reports name it) or an error object
 * `{ code, message, more_info, status }` (https://www.twilio.com/docs/api/errors). This module only
 * speaks the wire format: what a code means is decided by its outcome rules (outcomes.ts).
 *
 * Decisions:
 * - The sender is the account's Messaging Service (`MessagingServiceSid`); a mail's own sender id
 *   goes as `From` (a number of the service's pool, a short code or an alphanumeric id), or, when
 *   it is itself a Messaging Service SID, replaces the configured one.
 * - `StatusCallback` is set per message when the relay knows its public URL (`gateway.publicUrl`);
 *   without it Twilio reports to the Messaging Service's own status callback URL, if one is set.
 * - `ValidityPeriod` carries the SMS's remaining lifetime (Twilio honours it for Messaging
 *   Service sends only), clamped to Twilio's 1–36 000 seconds.
 * - Twilio takes the whole text and splits it itself (at most 1 600 characters, about 10 parts).
 */
import { toInternationalDigits } from '../../sms/numbers.ts';
import type { Gateway, GatewayOptions, ProviderCapabilities, SmsSubmission, SubmissionResult } from '../contract.ts';
import { BODY_DETAIL_CHARS, HttpEndpoints, httpGateway, type HttpOutcome, httpRefusal, logRequest, unparseable } from '../http-endpoint.ts';
import { MAIL_SENDER_SUFFIX, MAIL_SERVICE_SUFFIX, MESSAGING_SERVICE_CODES, SENDER_QUEUE_CODES } from './outcomes.ts';
import { MESSAGE_SID, MESSAGING_SERVICE_SID } from './sids.ts';
import { senderQueue } from './sender-id.ts';

export const PROVIDER = 'twilio';

/** The Messages API creates one message per request. */
const MAX_RECIPIENTS_PER_REQUEST = 1;
/** `Body` takes at most 1 600 characters (error 21617): 10 parts of 153 GSM-7 characters fit, 11 do not. */
const MAX_PARTS = 10;
/** Twilio's `ValidityPeriod` range, in seconds. */
const VALIDITY_MIN_SECONDS = 1;
const VALIDITY_MAX_SECONDS = 36_000;

export const TWILIO_CAPABILITIES: ProviderCapabilities = {
  maxRecipientsPerRequest: MAX_RECIPIENTS_PER_REQUEST,
  maxParts: MAX_PARTS,
  // Twilio's inbound message names no message it answers: conversations are found by number.
  replyTracking: 'none',
  scheduling: false,
};

export const CODE_PREFIX = 'TWILIO:';
/** The code of a message Twilio created (queued, accepted or scheduled). */
export const ACCEPTED_CODE = `${CODE_PREFIX}ACCEPTED`;

interface TwilioSettings {
  readonly messagingServiceSid?: string | undefined;
}

export function createTwilioGateway(options: GatewayOptions<TwilioSettings>): Gateway {
  const endpoints = new HttpEndpoints(PROVIDER, options);
  const accountSid = options.accountId ?? options.username;
  const path = `/2010-04-01/Accounts/${encodeURIComponent(accountSid)}/Messages.json`;
  const authorization = `Basic ${Buffer.from(`${options.username}:${options.password}`, 'utf8').toString('base64')}`;

  const capabilities = { maxRecipientsPerRequest: MAX_RECIPIENTS_PER_REQUEST, maxParts: MAX_PARTS };
  return httpGateway(PROVIDER, options, endpoints, capabilities, async (submission, endpointIndex, log) => {
    const [number] = submission.recipients as [string];
    const started = performance.now();
    const form = buildMessageForm(submission, number, options.settings.messagingServiceSid, options.webhookUrls?.dr, Date.now());
    const outcome = await endpoints.postForm(endpointIndex, path, form, { accept: 'application/json', authorization });
    // The form decided what the mail's sender id is: its From, or else (it named one) its own service.
    const named = submission.senderId === undefined ? undefined : form.has('From') ? 'from' : 'service';
    const result = toResult(outcome, number, named);
    logRequest(log, PROVIDER, { endpoint: endpoints.labels[endpointIndex], recipients: 1, started }, outcome, result);
    return result;
  });
}

/** The Message resource's create parameters, names as Twilio writes them. */
export function buildMessageForm(
  submission: SmsSubmission,
  number: string,
  messagingServiceSid: string | undefined,
  statusCallback: string | undefined,
  now: number,
): URLSearchParams {
  const form = new URLSearchParams();
  form.set('To', `+${toInternationalDigits(number)}`);
  form.set('Body', submission.text);
  const sender = submission.senderId;
  // A mail's own service, as Twilio issues its SID (sids.ts); any other sender id is the From.
  const mailService = sender !== undefined && MESSAGING_SERVICE_SID.test(sender);
  const service = mailService ? senderQueue(sender) : messagingServiceSid;
  if (service !== undefined) form.set('MessagingServiceSid', service);
  if (sender !== undefined && !mailService) form.set('From', sender);
  if (statusCallback !== undefined && submission.deliveryReport !== false) form.set('StatusCallback', statusCallback);
  if (submission.expiresAt !== undefined) {
    const seconds = Math.ceil((submission.expiresAt - now) / 1000);
    form.set('ValidityPeriod', String(Math.min(VALIDITY_MAX_SECONDS, Math.max(VALIDITY_MIN_SECONDS, seconds))));
  }
  return form;
}

/**
 * 2xx with a Message resource: taken (a 2xx without one is unreadable: Twilio may have created it).
 * A 400 error object is about this message (its number, its sender, its text) or the account's
 * settings: its code goes to the outcome rules. Any other status says what it is about by itself, whatever code its error object
 * carries (the generic rules: 5xx Twilio's trouble, 429 too many requests, 401/403/404 the account);
 * Twilio's code and message then go along as the detail.
 */
function toResult(outcome: HttpOutcome, number: string, named: 'from' | 'service' | undefined): SubmissionResult {
  if (outcome.kind === 'transport') return outcome;
  if (outcome.status >= 200 && outcome.status < 300) {
    const sid = outcome.truncated ? undefined : readJson(outcome.text)?.['sid'];
    if (typeof sid !== 'string' || !MESSAGE_SID.test(sid)) return unparseable(outcome.text);
    return { kind: 'answered', results: [{ number, code: ACCEPTED_CODE, providerId: sid }] };
  }
  const body = outcome.truncated ? undefined : readJson(outcome.text);
  const code = body?.['code'];
  if (typeof code !== 'number' || !Number.isSafeInteger(code)) return httpRefusal(outcome);
  const message = body?.['message'];
  const detail = typeof message === 'string' ? message.slice(0, BODY_DETAIL_CHARS) : undefined;
  if (outcome.status === 400) {
    // The service or the From a mail named is that mail's sender, not the account's setting or queue (outcomes.ts).
    const suffix =
      named === 'service' && MESSAGING_SERVICE_CODES.includes(code)
        ? MAIL_SERVICE_SUFFIX
        : named !== undefined && SENDER_QUEUE_CODES.includes(code)
          ? MAIL_SENDER_SUFFIX
          : '';
    return { kind: 'answered', results: [{ number, code: `${CODE_PREFIX}${code}${suffix}`, ...(detail ? { detail } : {}) }] };
  }
  return httpRefusal(outcome, `${CODE_PREFIX}${code}${detail ? ` ${detail}` : ''}`);
}

function readJson(text: string): Readonly<Record<string, unknown>> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
