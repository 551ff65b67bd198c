/**
 * Puzzel SMS Gateway (SMSGW, formerly Intelecom "chimera"), REST interface: a JSON POST to
 * `/gw/rs/sendMessages` with one `message` per recipient, answered with one `messageStatus` per
 * message (received SMS and delivery reports: inbound.ts). This module only speaks the wire format:
 * what a status code means (retry, pause, bounce) is decided by its outcome rules (outcomes.ts,
 * `PUZZEL:<statusCode>`).
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../../log.ts';
import { maskNumber } from '../../sms/numbers.ts';
import { writtenNumber } from '../../sms/senders.ts';
import type { Gateway, GatewayCapabilities, GatewayOptions, ProviderCapabilities, RecipientResult, SmsSubmission, SubmissionResult } from '../contract.ts';
import { BODY_DETAIL_CHARS, HttpEndpoints, httpGateway, type HttpOutcome, httpRefusal, logRequest, unparseable } from '../http-endpoint.ts';
import { isRecord, parseJson, readInteger, readText } from './values.ts';
import { originatorFor, type OriginatorSettings } from './sender-id.ts';
import { parseXml, xmlFields } from './xml.ts';

export const PROVIDER = 'puzzel';
const SEND_PATH = '/gw/rs/sendMessages';
/** Puzzel's "Duplicate message": it already had this clientReference (a resend after a lost answer). */
const DUPLICATE_STATUS = 25;
/** The statusCodes by which Puzzel says it took a message (1 OK, 24 held for approval; 25 it had it already). */
const TAKEN_STATUSES: ReadonlySet<number> = new Set([1, 24, DUPLICATE_STATUS]);

/**
 * Puzzel documents no ceiling on `message` per request. 100 keeps the answer (one ~250-byte
 * `messageStatus` each, ~25 KB) well inside the 64 KB the HTTP layer reads before calling a body
 * truncated (which would make a processed request look unparseable), and the request (up to 918
 * characters of content per message) around 100 KB.
 */
const MAX_RECIPIENTS_PER_REQUEST = 100;
/** "The platform allows a maximum of six concatenated messages". */
const MAX_PARTS = 6;

export const PUZZEL_CAPABILITIES: ProviderCapabilities = {
  maxRecipientsPerRequest: MAX_RECIPIENTS_PER_REQUEST,
  maxParts: MAX_PARTS,
  // A reply carries the `sessionid` of the SMS it answers when that SMS started a session.
  replyTracking: 'tracking-id',
  // `sendWindow` holds an SMS at Puzzel until its start.
  scheduling: true,
  // Puzzel's email-to-SMS interface takes `<number>-<serviceId>@`.
  accountIdAddresses: true,
};

const GATEWAY_CAPABILITIES: GatewayCapabilities = {
  maxRecipientsPerRequest: MAX_RECIPIENTS_PER_REQUEST,
  maxParts: MAX_PARTS,
};

/**
 * Puzzel documents no limit for its references; these stay printable and at most 64 characters. A
 * relay message id (UUIDv7, 36 chars) is used as is when it fits this; anything else is hashed.
 */
const REFERENCE_ID = /^[A-Za-z0-9._-]{1,48}$/;
const HASHED_ID_CHARS = 32;
/** `<id>:<international digits>`: the digits give a delivery report its number back (DRs carry no recipient). */
export const CLIENT_REFERENCE = /^[A-Za-z0-9._-]{1,48}:(\d{6,15})$/;
/** Fewer national digits than this ending the number sent would match other numbers by chance. */
const MIN_NATIONAL_DIGITS = 6;

// ---------------------------------------------------------------------------------------------------
// Sending

export function createPuzzelGateway(options: GatewayOptions): Gateway {
  const serviceId = readServiceId(options.accountId);
  const endpoints = new HttpEndpoints(PROVIDER, options);
  const account: Account = { serviceId, username: options.username, password: options.password };
  return httpGateway(PROVIDER, options, endpoints, GATEWAY_CAPABILITIES, async (submission, endpointIndex, log) => {
    const started = performance.now();
    const messages = submission.recipients.map((number) => ({
      number,
      clientReference: clientReferenceFor(submission.messageId, number),
    }));
    const outcome = await endpoints.request(endpointIndex, {
      method: 'POST',
      path: SEND_PATH,
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(buildSendRequest(submission, messages, account, Date.now())),
    });
    const result = toResult(outcome, messages, log);
    logRequest(log, PROVIDER, { endpoint: endpoints.labels[endpointIndex], recipients: messages.length, started }, outcome, result);
    return result;
  });
}

interface Account {
  readonly serviceId: number;
  readonly username: string;
  readonly password: string;
}

/** One submitted recipient and the reference its `messageStatus` (and its DR) is found by. */
interface OutgoingMessage {
  readonly number: string;
  readonly clientReference: string;
}

/** The service id is the account: a missing or non-numeric one is a configuration error, found at start. */
function readServiceId(accountId: string | undefined): number {
  const text = accountId?.trim() ?? '';
  if (!/^\d{1,9}$/.test(text)) {
    throw new RangeError(`puzzel: the account id must be the numeric Puzzel service id, got ${accountId === undefined ? 'none' : `"${accountId}"`}`);
  }
  return Number(text);
}

/**
 * Deterministic per (message, recipient), so a resend after a lost answer carries the same
 * reference and a service with identifier validation answers 25 instead of sending twice.
 * `<message id>:<international digits>`, at most 64 characters.
 */
export function clientReferenceFor(messageId: string, number: string): string {
  const digits = number.replace(/^\+/, '');
  return `${referenceId(messageId)}:${digits}`;
}

/**
 * The request's `batchReference`: the message id, plus a hash of the numbers the request carries.
 * Puzzel's identifier validation also refuses a batchReference it saw in the last hour (statusCode
 * 25, "already sent"), and the relay sends one message in several requests (more than 100 numbers,
 * or a later retry of the numbers that got a temporary error): with the bare message id, those later
 * requests would be answered 25 and counted as sent. A resend of the very same numbers keeps its
 * reference, as an idempotent retry should.
 */
export function batchReferenceFor(messageId: string, recipients: readonly string[]): string {
  const numbers = createHash('sha256')
    .update([...recipients].sort().join(','))
    .digest('hex')
    .slice(0, 8);
  return `${referenceId(messageId)}.${numbers}`;
}

function referenceId(messageId: string): string {
  if (REFERENCE_ID.test(messageId)) return messageId;
  return createHash('sha256').update(messageId).digest('hex').slice(0, HASHED_ID_CHARS);
}

interface SendWindow {
  readonly startDate: string;
  readonly startTime: string;
}

/** Field order follows the XSD sequence, which the JSON binding shares. */
interface MessageSettings {
  originatorSettings?: OriginatorSettings;
  validity?: number;
  newSession?: true;
  sendWindow?: SendWindow;
  autoDetectEncoding?: true;
}

/** The JSON request. `price` is never sent: the relay only sends free messages. */
function buildSendRequest(submission: SmsSubmission, messages: readonly OutgoingMessage[], account: Account, now: number) {
  const settings = messageSettings(submission, now);
  return {
    serviceId: account.serviceId,
    username: account.username,
    password: account.password,
    batchReference: batchReferenceFor(submission.messageId, submission.recipients),
    message: messages.map((message) => ({
      recipient: message.number,
      content: submission.text,
      clientReference: message.clientReference,
      ...(settings === undefined ? {} : { settings }),
    })),
  };
}

function messageSettings(submission: SmsSubmission, now: number): MessageSettings | undefined {
  const settings: MessageSettings = {};
  if (submission.senderId) settings.originatorSettings = originatorFor(submission.senderId);
  const sendAt = submission.sendAt !== undefined && submission.sendAt > now ? submission.sendAt : undefined;
  if (submission.expiresAt !== undefined) {
    // The validity period runs from when the SMS goes to the network: the window's start if scheduled.
    settings.validity = validityFor(submission.expiresAt - (sendAt ?? now));
  }
  if (submission.newSession) settings.newSession = true;
  if (sendAt !== undefined) settings.sendWindow = sendWindowFor(sendAt);
  // Default false: content must then be GSM-7 or Puzzel refuses it; true lets it use UCS-2.
  if (submission.encoding === 'ucs2') settings.autoDetectEncoding = true;
  return Object.keys(settings).length === 0 ? undefined : settings;
}

const MINUTE_MS = 60_000;
const DAY_MINUTES = 24 * 60;
/** 173 = 7 days, the longest period Puzzel takes. */
const MAX_VALIDITY = 173;

/**
 * The GSM TP-VP relative value (3GPP TS 23.040 §9.2.3.12.1) of the longest period
 * not beyond `remainingMs`: 0–143 → (v+1)×5 min; 144–167 → 12 h + (v−143)×30 min; 168–173 →
 * (v−166) days. Under 5 minutes left gives 0 (5 minutes), the shortest there is.
 */
export function validityFor(remainingMs: number): number {
  const minutes = Math.floor(Math.max(0, remainingMs) / MINUTE_MS);
  if (minutes >= 2 * DAY_MINUTES) return Math.min(MAX_VALIDITY, 166 + Math.floor(minutes / DAY_MINUTES));
  if (minutes >= 12 * 60 + 30) return Math.min(167, 143 + Math.floor((minutes - 12 * 60) / 30));
  if (minutes >= 5) return Math.min(143, Math.floor(minutes / 5) - 1);
  return 0;
}

/**
 * XSD date and time, both in UTC with the `Z` zone the doc allows (`YYYY-MM-DD[Z|±hh:mm]`,
 * `hh:mm:ss[Z|±hh:mm]`): without a zone Puzzel reads them as CET, and a zone on only one of them
 * would leave the date ambiguous around midnight.
 */
export function sendWindowFor(sendAt: number): SendWindow {
  const iso = new Date(sendAt).toISOString();
  return { startDate: `${iso.slice(0, 10)}Z`, startTime: `${iso.slice(11, 19)}Z` };
}

// ---------------------------------------------------------------------------------------------------
// The send answer

function toResult(outcome: HttpOutcome, messages: readonly OutgoingMessage[], logger: Logger): SubmissionResult {
  if (outcome.kind === 'transport') return outcome;
  if (outcome.status < 200 || outcome.status > 299) return httpRefusal(outcome);
  if (outcome.truncated) return unparseable(outcome.text);
  const statuses = readSendResponse(outcome.text);
  if (statuses === undefined) return unparseable(outcome.text);
  return correlate(statuses, messages, outcome.text, logger);
}

/** One `messageStatus`, whichever format it came in. */
interface MessageStatus {
  readonly statusCode: number;
  readonly statusMessage: string | undefined;
  readonly clientReference: string | undefined;
  readonly recipient: string | undefined;
  readonly messageId: string | undefined;
  readonly sessionId: string | undefined;
  readonly sequenceIndex: number | undefined;
}

/**
 * The answer's `messageStatus` entries, from JSON (what the adapter asks for) or, leniently, XML
 * (the gateway's default). Undefined when the body is neither, or has no `messageStatus` list. An
 * entry that is not readable is left out: its message then has no result (`MISSING_RESULT`, which
 * retries on the same host) rather than the whole answer being unreadable (which would leave every
 * message of the request in doubt, those with a readable entry too).
 */
function readSendResponse(body: string): MessageStatus[] | undefined {
  const trimmed = body.trim();
  let entries: unknown[] | undefined;
  if (trimmed.startsWith('{')) {
    const parsed = parseJson(trimmed);
    const list = isRecord(parsed) ? parsed['messageStatus'] : undefined;
    entries = Array.isArray(list) ? list : isRecord(list) ? [list] : undefined;
  } else if (trimmed.startsWith('<')) {
    const root = parseXml(trimmed);
    if (typeof root === 'string' || root.name !== 'response') return undefined;
    entries = root.children.filter((child) => child.name === 'messageStatus').map(xmlFields);
    if (entries.length === 0) return undefined;
  }
  return entries?.map(readMessageStatus).filter((entry): entry is MessageStatus => entry !== undefined);
}

function readMessageStatus(entry: unknown): MessageStatus | undefined {
  if (!isRecord(entry)) return undefined;
  const statusCode = readInteger(entry['statusCode']);
  if (statusCode === undefined) return undefined;
  return {
    statusCode,
    statusMessage: readText(entry['statusMessage']),
    clientReference: readText(entry['clientReference']),
    recipient: readText(entry['recipient']),
    messageId: readText(entry['messageId']),
    sessionId: readText(entry['sessionId']),
    sequenceIndex: readInteger(entry['sequenceIndex']),
  };
}

/**
 * One result per submitted number. An entry is found by our `clientReference`; one without a
 * clientReference (the doc's XML example has none) by its 1-based `sequenceIndex`, unless its `recipient`
 * is another message's of the same request and not this one's (anothers): then this message has no
 * result (`MISSING_RESULT`, retried on the same host). Never found by `recipient` alone, nor refused for a
 * `recipient` that matches no message: Puzzel renormalises numbers in ways no reading foresees (a
 * trunk 8, a mobile 9 dropped), so only another message's number is evidence of a mix-up.
 * Of several entries for one message, the first saying Puzzel took it wins (TAKEN_STATUSES, with or without an
 * id, as the outcome rules read them): the gateway has the SMS, so bouncing it on the other entry would report
 * a refusal of an SMS on its way. Between two taken entries, the first with a messageId (its reports' key).
 * A message with no result carries the answer's start (`answer`): what the gateway said instead is what the
 * operator checks (an empty list, references rewritten, a proxy's cached answer).
 */
function correlate(statuses: readonly MessageStatus[], messages: readonly OutgoingMessage[], answer: string, logger: Logger): SubmissionResult {
  const byReference = new Map<string, MessageStatus>();
  const bySequence = new Map<number, MessageStatus>();
  const keep = <K>(map: Map<K, MessageStatus>, key: K, status: MessageStatus) => {
    const kept = map.get(key);
    if (kept === undefined || rank(status) > rank(kept)) map.set(key, status);
  };
  for (const status of statuses) {
    if (status.clientReference !== undefined) keep(byReference, status.clientReference, status);
    else if (status.sequenceIndex !== undefined) keep(bySequence, status.sequenceIndex, status);
  }
  const used = new Set<MessageStatus>();
  const results = messages.map((message, index): RecipientResult => {
    const byPosition = bySequence.get(index + 1);
    const status = byReference.get(message.clientReference) ?? (byPosition === undefined || anothers(byPosition, message, messages) ? undefined : byPosition);
    if (status === undefined) return { number: message.number, code: 'MISSING_RESULT', detail: answer.slice(0, BODY_DETAIL_CHARS) };
    used.add(status);
    // A duplicate's id (statusCode 25) is not the id the gateway's delivery reports name: they are the first
    // attempt's, whose answer was lost. With no id kept, they find the SMS by its clientReference.
    const providerId = status.statusCode === DUPLICATE_STATUS ? undefined : status.messageId;
    return {
      number: message.number,
      code: `PUZZEL:${status.statusCode}`,
      ...(providerId === undefined ? {} : { providerId }),
      ...(status.sessionId === undefined ? {} : { trackingId: status.sessionId }),
      ...(status.statusMessage === undefined ? {} : { detail: status.statusMessage }),
    };
  });
  const missing = results.filter((result) => result.code === 'MISSING_RESULT');
  if (used.size < statuses.length || missing.length > 0) {
    logger.warn(
      { unmatched: statuses.length - used.size, missing: missing.map((result) => maskNumber(result.number)) },
      'puzzel: answer does not match the messages sent one to one',
    );
  }
  return { kind: 'answered', results };
}

/** How much an entry says of its message (correlate): taken outranks anything else, an id only breaks a tie between taken ones. */
function rank(status: MessageStatus): number {
  if (!TAKEN_STATUSES.has(status.statusCode)) return 0;
  return status.messageId === undefined ? 1 : 2;
}

/** Whether an entry found by position names a different message of the request, and not this one (correlate). */
function anothers(status: MessageStatus, message: OutgoingMessage, messages: readonly OutgoingMessage[]): boolean {
  const { recipient } = status;
  if (recipient === undefined || sameNumber(recipient, message.number)) return false;
  return messages.some((other) => other.number !== message.number && sameNumber(recipient, other.number));
}

/**
 * Whether Puzzel's `recipient` is the number sent, as it may write it back: with `+`, `00` (writtenNumber, the
 * relay's reading of them) or neither, or national (its trunk 0s dropped, the rest ending the number); a
 * `tel:`, a `(0)` trunk mark and punctuation between the digits are not part of it.
 */
function sameNumber(recipient: string, number: string): boolean {
  const sent = number.replace(/^\+/, '');
  const { international, digits } = writtenNumber(
    recipient
      .replace(/^tel:/i, '')
      .replace(/\(0\)/g, '')
      .replace(/[^\d+]/g, ''),
  );
  if (digits === sent) return true;
  const national = digits.replace(/^0+/, '');
  return !international && national.length >= MIN_NATIONAL_DIGITS && sent.endsWith(national);
}
