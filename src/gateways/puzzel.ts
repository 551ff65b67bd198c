/**
 * Puzzel SMS Gateway (SMSGW, formerly Intelecom "chimera"), REST interface (PROTOCOLS.md §2): a JSON
 * POST to `/gw/rs/sendMessages` with one `message` per recipient, answered with one `messageStatus`
 * per message; received SMS (MO) and delivery reports (DR) arrive as batched JSON or XML posts.
 * This module only speaks the wire format: what a status code means (retry, pause, bounce) is
 * decided by the outcome table (`PUZZEL:<statusCode>`).
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../log.ts';
import { maskNumber, normaliseNumber } from '../sms/numbers.ts';
import type { DeliveryState, ReceivedSms, StatusReport } from '../vocabulary.ts';
import { assertRecipients, type HttpOutcome, HttpEndpoints, httpRefusal, logRequest, unparseable } from './http-endpoint.ts';
import type {
  GatewayOptions,
  InboundParse,
  InboundRequest,
  ProviderCapabilities,
  ProviderModule,
} from './provider.ts';
import { PuzzelSimulator } from './puzzel-simulator.ts';
import type { Gateway, GatewayCapabilities, RecipientResult, SmsSubmission, SubmissionResult } from './types.ts';

const PROVIDER = 'puzzel';
const SEND_PATH = '/gw/rs/sendMessages';

/**
 * Puzzel documents no ceiling on `message` per request. 100 keeps the answer (one ~250-byte
 * `messageStatus` each, ~25 KB) well inside the 64 KB the HTTP layer reads before calling a body
 * truncated (which would make a processed request look unparseable), and the request (up to 918
 * characters of content per message) around 100 KB.
 */
const MAX_RECIPIENTS_PER_REQUEST = 100;
/** "The platform allows a maximum of six concatenated messages" (§2.2, §4.3). */
const MAX_PARTS = 6;

export const PUZZEL_CAPABILITIES: ProviderCapabilities = {
  maxRecipientsPerRequest: MAX_RECIPIENTS_PER_REQUEST,
  maxParts: MAX_PARTS,
  // A reply carries the `sessionid` of the SMS it answers when that SMS started a session.
  replyTracking: 'tracking-id',
  // `sendWindow` holds an SMS at Puzzel until its start.
  scheduling: true,
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
const CLIENT_REFERENCE = /^[A-Za-z0-9._-]{1,48}:(\d{6,15})$/;

// ---------------------------------------------------------------------------------------------------
// Sending

export function createPuzzelGateway(options: GatewayOptions): Gateway {
  const serviceId = readServiceId(options.accountId);
  const endpoints = new HttpEndpoints(PROVIDER, options);
  const logger = options.logger.child({ provider: PROVIDER });
  const account: Account = { serviceId, username: options.username, password: options.password };

  return {
    provider: PROVIDER,
    capabilities: GATEWAY_CAPABILITIES,
    endpoints: [...options.endpoints],
    async send(submission, endpointIndex) {
      assertRecipients(PROVIDER, submission.recipients, MAX_RECIPIENTS_PER_REQUEST);
      const log = logger.child({ msgId: submission.messageId });
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
    },
    close: () => endpoints.close(),
  };
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
 * reference and a service with identifier validation answers 25 instead of sending twice (§2.4).
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
  const numbers = createHash('sha256').update([...recipients].sort().join(',')).digest('hex').slice(0, 8);
  return `${referenceId(messageId)}.${numbers}`;
}

function referenceId(messageId: string): string {
  if (REFERENCE_ID.test(messageId)) return messageId;
  return createHash('sha256').update(messageId).digest('hex').slice(0, HASHED_ID_CHARS);
}

interface OriginatorSettings {
  readonly originatorType: 'ALPHANUMERIC' | 'INTERNATIONAL' | 'NETWORK';
  readonly originator: string;
}

interface SendWindow {
  readonly startDate: string;
  readonly startTime: string;
}

/** Field order follows the XSD sequence (§2.3), which the JSON binding shares. */
interface MessageSettings {
  originatorSettings?: OriginatorSettings;
  validity?: number;
  newSession?: true;
  sendWindow?: SendWindow;
  autoDetectEncoding?: true;
}

/** The JSON request (§2.2). `price` is never sent: the relay only sends free messages. */
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
 * The GSM TP-VP relative value (3GPP TS 23.040 §9.2.3.12.1, PROTOCOLS §2.2) of the longest period
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

/** Short numbers ("network specific", e.g. 1960). */
const NETWORK_ORIGINATOR = /^\d{3,8}$/;
/** E.164, with or without its `+`; sent with it. */
const INTERNATIONAL_ORIGINATOR = /^(?:\+(\d{7,15})|(\d{9,15}))$/;
const ALPHANUMERIC_ORIGINATOR = /^[a-zA-Z0-9 %&\-+.,]{1,11}$/;
const ALPHANUMERIC_CHAR = /[a-zA-Z0-9 %&\-+.,]/;

/**
 * The `originatorSettings` for a sender id. One Puzzel cannot show (see `senderIdProblem`, which the
 * relay checks first) is sent as ALPHANUMERIC all the same, so that Puzzel's own refusal (statusCode
 * 5) bounces it rather than another originator being substituted silently.
 */
export function originatorFor(senderId: string): OriginatorSettings {
  if (NETWORK_ORIGINATOR.test(senderId)) return { originatorType: 'NETWORK', originator: senderId };
  const international = INTERNATIONAL_ORIGINATOR.exec(senderId);
  const digits = international?.[1] ?? international?.[2];
  if (digits !== undefined) return { originatorType: 'INTERNATIONAL', originator: `+${digits}` };
  return { originatorType: 'ALPHANUMERIC', originator: senderId };
}

const SENDER_ID_RULE =
  'Puzzel takes a sender id of at most 11 letters, digits, spaces and % & - + . , or an international number (+ and up to 15 digits), or a short number (3 to 8 digits)';

export function senderIdProblem(senderId: string): string | undefined {
  if (
    NETWORK_ORIGINATOR.test(senderId) ||
    INTERNATIONAL_ORIGINATOR.test(senderId) ||
    ALPHANUMERIC_ORIGINATOR.test(senderId)
  ) {
    return undefined;
  }
  const chars = [...senderId];
  const shown = chars.length > 20 ? `${chars.slice(0, 20).join('')}…` : senderId;
  if (chars.length === 0) return `${SENDER_ID_RULE}; the sender id is empty`;
  const bad = [...new Set(chars.filter((char) => !ALPHANUMERIC_CHAR.test(char)))];
  if (bad.length > 0) return `${SENDER_ID_RULE}; "${shown}" has ${bad.map((char) => `"${char}"`).join(', ')}`;
  const digits = /^\+?(\d+)$/.exec(senderId)?.[1];
  if (digits !== undefined && digits.length > 15) return `${SENDER_ID_RULE}; "${shown}" has ${digits.length} digits`;
  return `${SENDER_ID_RULE}; "${shown}" has ${chars.length} characters`;
}

// ---------------------------------------------------------------------------------------------------
// The send answer

function toResult(outcome: HttpOutcome, messages: readonly OutgoingMessage[], logger: Logger): SubmissionResult {
  if (outcome.kind === 'transport') return outcome;
  if (outcome.status === 401) {
    // The OpenAPI-era gateway answers a refused login with RFC 7807 ProblemDetails (§2.1).
    const problem = problemDetail(outcome.text);
    return problem === undefined ? httpRefusal(401, outcome.text) : { kind: 'refused', code: 'HTTP_401', detail: problem };
  }
  if (outcome.status < 200 || outcome.status > 299) return httpRefusal(outcome.status, outcome.text);
  if (outcome.truncated) return unparseable(outcome.text);
  const statuses = readSendResponse(outcome.text);
  if (statuses === undefined) return unparseable(outcome.text);
  return correlate(statuses, messages, logger);
}

/** `detail` (else `title`) of a ProblemDetails body; undefined when the body is not one. */
function problemDetail(body: string): string | undefined {
  const problem = parseJson(body);
  if (!isRecord(problem)) return undefined;
  for (const field of ['detail', 'title'] as const) {
    const value = problem[field];
    if (typeof value === 'string' && value.trim() !== '') return value.trim().slice(0, 200);
  }
  return undefined;
}

/** One `messageStatus`, whichever format it came in. */
interface MessageStatus {
  readonly statusCode: number;
  readonly statusMessage: string | undefined;
  readonly clientReference: string | undefined;
  readonly messageId: string | undefined;
  readonly sessionId: string | undefined;
  readonly sequenceIndex: number | undefined;
}

/**
 * The answer's `messageStatus` entries, from JSON (what the adapter asks for) or, leniently, XML
 * (the gateway's default). Undefined when the body is neither, or has no `messageStatus` list. An
 * entry that is not readable is left out: its message then has no result (`MISSING_RESULT`, which
 * retries on the same host) rather than the whole answer being unreadable (which would send every
 * message of a possibly processed request again elsewhere).
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
    messageId: readText(entry['messageId']),
    sessionId: readText(entry['sessionId']),
    sequenceIndex: readInteger(entry['sequenceIndex']),
  };
}

/**
 * One result per submitted number. An entry is found by our `clientReference`; one without a
 * clientReference (the doc's XML example has none) by its 1-based `sequenceIndex`. Never by
 * `recipient`: Puzzel renormalises numbers.
 */
function correlate(statuses: readonly MessageStatus[], messages: readonly OutgoingMessage[], logger: Logger): SubmissionResult {
  const byReference = new Map<string, MessageStatus>();
  const bySequence = new Map<number, MessageStatus>();
  for (const status of statuses) {
    if (status.clientReference !== undefined) {
      if (!byReference.has(status.clientReference)) byReference.set(status.clientReference, status);
    } else if (status.sequenceIndex !== undefined && !bySequence.has(status.sequenceIndex)) {
      bySequence.set(status.sequenceIndex, status);
    }
  }
  const used = new Set<MessageStatus>();
  const results = messages.map((message, index): RecipientResult => {
    const status = byReference.get(message.clientReference) ?? bySequence.get(index + 1);
    if (status === undefined) return { number: message.number, code: 'MISSING_RESULT' };
    used.add(status);
    return {
      number: message.number,
      code: `PUZZEL:${status.statusCode}`,
      ...(status.messageId === undefined ? {} : { providerId: status.messageId }),
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

// ---------------------------------------------------------------------------------------------------
// Received SMS and delivery reports (§2.5, §2.6)

/** Ids Puzzel gives (`7a02c0000f00`): anything printable and short is taken. */
const PROVIDER_ID = /^[A-Za-z0-9._-]{1,64}$/;
/** `yyyyMMdd HH:mm:ss` (zone not stated). */
const PUZZEL_TIMESTAMP = /^\d{8} \d{2}:\d{2}:\d{2}$/;
/** An SMS text is at most a few concatenated parts; a longer field is no SMS. */
const MAX_TEXT_CHARS = 10_000;
const MAX_SESSION_ID_CHARS = 128;

type Fields = Readonly<Record<string, unknown>>;
type Item<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

/**
 * `{"mo":[…]}` or `<mo><message>…</message>…</mo>`, several messages per request. Binary MO (whose
 * content Puzzel sends as hex) cannot be told from text by any documented field, so content is
 * always taken as the text.
 */
export function parseReceived(request: InboundRequest): InboundParse<ReceivedSms> {
  return parseCallback(request, 'mo', readReceived);
}

/**
 * `{"dr":[…]}` or `<dr><message>…</message>…</dr>`. A DR names no recipient, so the number comes
 * from `customermessagereference`, the clientReference the adapter wrote (`<message id>:<digits>`).
 */
export function parseReport(request: InboundRequest): InboundParse<StatusReport> {
  return parseCallback(request, 'dr', readReport);
}

function parseCallback<T>(request: InboundRequest, kind: 'mo' | 'dr', read: (fields: Fields) => Item<T>): InboundParse<T> {
  const records = readCallbackRecords(request, kind);
  if (typeof records === 'string') return { ok: false, reason: records };
  const items: T[] = [];
  for (const [index, fields] of records.entries()) {
    const item = read(fields);
    if (!item.ok) return { ok: false, reason: `${kind}[${index}]: ${item.reason}` };
    items.push(item.value);
  }
  return { ok: true, items };
}

/** The callback's messages as field records, or why the body is not a Puzzel callback of `kind`. */
function readCallbackRecords(request: InboundRequest, kind: 'mo' | 'dr'): Fields[] | string {
  const format = callbackFormat(request);
  if (format === undefined) return `content type "${request.contentType}" is neither JSON nor XML`;
  if (format === 'json') {
    const parsed = parseJson(request.body);
    if (parsed === undefined) return 'the body is not JSON';
    const list = isRecord(parsed) ? parsed[kind] : undefined;
    if (!Array.isArray(list)) return `the body has no "${kind}" list`;
    if (!list.every(isRecord)) return `an entry of "${kind}" is not an object`;
    return list;
  }
  const root = parseXml(request.body);
  if (typeof root === 'string') return root;
  if (root.name !== kind) return `the XML root is <${root.name}>, not <${kind}>`;
  if (root.text.trim() !== '') return `<${kind}> holds text, not <message> elements`;
  const records: Fields[] = [];
  for (const message of root.children) {
    if (message.name !== 'message') return `<${kind}> holds a <${message.name}>, not <message>`;
    const fields: Record<string, string> = {};
    for (const field of message.children) {
      if (field.children.length > 0) return `<${field.name}> of a <message> has child elements`;
      if (Object.hasOwn(fields, field.name)) return `a <message> has <${field.name}> twice`;
      fields[field.name] = field.text;
    }
    records.push(fields);
  }
  return records;
}

function callbackFormat(request: InboundRequest): 'json' | 'xml' | undefined {
  const type = request.contentType;
  if (type === 'application/json' || type.endsWith('+json')) return 'json';
  if (type === 'application/xml' || type === 'text/xml' || type.endsWith('+xml')) return 'xml';
  if (type !== '') return undefined;
  const first = request.body.trimStart()[0];
  return first === '{' ? 'json' : first === '<' ? 'xml' : undefined;
}

function readReceived(fields: Fields): Item<ReceivedSms> {
  const providerId = fields['messageid'];
  if (typeof providerId !== 'string' || !PROVIDER_ID.test(providerId)) return malformed('messageid is missing or not an id');
  const number = phone(fields['originator']);
  if (number === undefined) return malformed('originator is missing or not a phone number');
  const text = fields['content'];
  if (typeof text !== 'string') return malformed('content is missing');
  if (text.length > MAX_TEXT_CHARS) return malformed(`content is longer than ${MAX_TEXT_CHARS} characters`);
  const timestamp = fields['timestamp'] ?? '';
  if (typeof timestamp !== 'string' || (timestamp !== '' && !PUZZEL_TIMESTAMP.test(timestamp))) {
    return malformed('timestamp is not yyyyMMdd HH:mm:ss');
  }
  const session = fields['sessionid'] ?? '';
  if (!(typeof session === 'string' || typeof session === 'number') || String(session).length > MAX_SESSION_ID_CHARS) {
    return malformed('sessionid is not a session id');
  }
  const trackingId = String(session).trim();
  return {
    ok: true,
    value: {
      providerId,
      number,
      text,
      sentAt: timestamp || undefined,
      userContext: undefined,
      trackingId: trackingId || undefined,
    },
  };
}

function readReport(fields: Fields): Item<StatusReport> {
  const providerId = fields['messageid'];
  if (typeof providerId !== 'string' || !PROVIDER_ID.test(providerId)) return malformed('messageid is missing or not an id');
  const code = readInteger(fields['statuscode']);
  if (code === undefined || code > 999) return malformed('statuscode is missing or not a status code');
  const reference = fields['customermessagereference'];
  const digits = typeof reference === 'string' ? CLIENT_REFERENCE.exec(reference)?.[1] : undefined;
  if (digits === undefined) return malformed('customermessagereference is missing or not a reference the relay gave');
  const number = phone(`+${digits}`);
  if (number === undefined) return malformed('customermessagereference does not name a phone number');
  return { ok: true, value: { providerId, number, code, state: deliveryState(code) } };
}

/** 0 is the only success; 361 is the validity period running out; everything else did not arrive. */
function deliveryState(code: number): DeliveryState {
  if (code === 0) return 'delivered';
  if (code === 361) return 'expired';
  return 'failed';
}

/** E.164 with `+` as Puzzel sends numbers (also taken without it). */
function phone(value: unknown): string | undefined {
  if (typeof value !== 'string' || !/^\+?\d{6,15}$/.test(value)) return undefined;
  const result = normaliseNumber(value.startsWith('+') ? value : `+${value}`);
  return result.ok ? result.e164 : undefined;
}

function malformed<T>(reason: string): Item<T> {
  return { ok: false, reason };
}

/** §2.6 DR status codes in plain words, for the sender's report mail. */
const STATUS_WORDS: Readonly<Record<number, string>> = {
  0: 'delivered to the phone',
  350: 'the mobile network is unknown or not valid',
  351: 'unknown or illegal recipient',
  354: 'the account may not send bulk messages',
  355: 'the tariff is missing or not allowed',
  356: 'the subscriber is temporarily barred',
  357: 'the subscriber is permanently barred',
  358: 'the subscriber is barred from premium messages',
  359: 'the recipient is below the age limit',
  360: 'the mobile network reported a syntax error',
  361: 'the phone was unreachable until the message expired',
  362: 'the message timed out at the network',
  363: 'the network\'s message centre failed',
  364: 'the phone is temporarily unreachable',
  368: 'the gateway was not connected to the mobile network',
  369: 'the network\'s message centre reported an error',
  370: 'an unspecified error',
  371: 'the message could not be passed to the mobile network',
  380: 'the gateway\'s login at the mobile network was refused',
  385: 'the function needs a special agreement with the mobile network',
  386: 'billed but not delivered',
  390: 'sent, but not billed',
  650: 'the gateway had a database problem',
  651: 'there is no route to the recipient',
  652: 'the gateway is missing system data',
  653: 'the gateway met unexpected data',
  654: 'the phone number is not valid',
  655: 'the service is inactive; the message was discarded',
};

export function describeStatus(code: number): string {
  return STATUS_WORDS[code] ?? `the network reported status ${code}`;
}

// ---------------------------------------------------------------------------------------------------
// Values and formats

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** A non-empty string or number as text; null, absent and empty are "none". */
function readText(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** A non-negative integer, as a JSON number or as digits (XML). */
function readInteger(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (typeof value === 'string' && /^\s*\d{1,9}\s*$/.test(value)) return Number(value);
  return undefined;
}

/**
 * An XML element: local name (prefix dropped), child elements, and its decoded text. No XML library
 * is installed; this reads the small flat documents Puzzel exchanges, strictly: well-formed tags,
 * the five predefined entities and character references, comments, CDATA and processing
 * instructions. A DOCTYPE (and so any custom entity) is refused; attributes are checked for syntax
 * and ignored; text mixed with child elements is refused.
 */
export interface XmlElement {
  readonly name: string;
  readonly children: XmlElement[];
  readonly text: string;
}

type OpenElement = { readonly name: string; readonly qualified: string; readonly children: XmlElement[]; text: string };

const XML_NAME = '[A-Za-z_][-A-Za-z0-9_.]*(?::[A-Za-z_][-A-Za-z0-9_.]*)?';
const OPEN_TAG = new RegExp(`<(${XML_NAME})((?:\\s+${XML_NAME}\\s*=\\s*(?:"[^"<]*"|'[^'<]*'))*)\\s*(/?)>`, 'y');
const CLOSE_TAG = new RegExp(`</(${XML_NAME})\\s*>`, 'y');
const ENTITY = /&(?:(amp|lt|gt|quot|apos)|#([0-9]{1,7})|#x([0-9A-Fa-f]{1,6}));/y;
const PREDEFINED: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const MAX_XML_DEPTH = 8;

/** The document's root element, or why the text is not (acceptable) XML. */
export function parseXml(source: string): XmlElement | string {
  const stack: OpenElement[] = [];
  let root: XmlElement | undefined;
  let pos = source.charCodeAt(0) === 0xfeff ? 1 : 0;
  const fail = (what: string) => `not well-formed XML at offset ${pos}: ${what}`;
  while (pos < source.length) {
    const open = stack.at(-1);
    if (source[pos] !== '<') {
      const end = source.indexOf('<', pos);
      const raw = source.slice(pos, end === -1 ? source.length : end);
      if (open === undefined) {
        if (raw.trim() !== '') return fail('text outside the root element');
      } else {
        const text = decodeXmlText(raw);
        if (text === undefined) return fail('a bare & or an unknown entity');
        open.text += text;
      }
      pos += raw.length;
      continue;
    }
    if (source.startsWith('<!--', pos)) {
      const end = source.indexOf('-->', pos + 4);
      if (end === -1) return fail('unterminated comment');
      pos = end + 3;
    } else if (source.startsWith('<![CDATA[', pos)) {
      const end = source.indexOf(']]>', pos + 9);
      if (open === undefined || end === -1) return fail('CDATA outside an element or unterminated');
      open.text += source.slice(pos + 9, end).replace(/\r\n?/g, '\n');
      pos = end + 3;
    } else if (source.startsWith('<?', pos)) {
      const end = source.indexOf('?>', pos + 2);
      if (end === -1) return fail('unterminated processing instruction');
      pos = end + 2;
    } else if (source.startsWith('<!', pos)) {
      return fail('DOCTYPE and declarations are not accepted');
    } else if (source.startsWith('</', pos)) {
      CLOSE_TAG.lastIndex = pos;
      const match = CLOSE_TAG.exec(source);
      if (match === null || open === undefined || match[1] !== open.qualified) return fail('end tag does not match');
      stack.pop();
      if (open.children.length > 0 && open.text.trim() !== '') return fail(`<${open.qualified}> mixes text and elements`);
      const element: XmlElement = { name: open.name, children: open.children, text: open.children.length > 0 ? '' : open.text };
      const parent = stack.at(-1);
      if (parent === undefined) root = element;
      else parent.children.push(element);
      pos = CLOSE_TAG.lastIndex;
    } else {
      OPEN_TAG.lastIndex = pos;
      const match = OPEN_TAG.exec(source);
      const qualified = match?.[1];
      if (match === null || qualified === undefined) return fail('malformed start tag');
      if (root !== undefined) return fail('a second root element');
      if (stack.length >= MAX_XML_DEPTH) return fail('nested too deeply');
      const name = qualified.slice(qualified.indexOf(':') + 1);
      if (match[3] === '/') {
        const element: XmlElement = { name, children: [], text: '' };
        if (open === undefined) root = element;
        else open.children.push(element);
      } else {
        stack.push({ name, qualified, children: [], text: '' });
      }
      pos = OPEN_TAG.lastIndex;
    }
  }
  if (stack.length > 0) return `not well-formed XML: <${stack.at(-1)?.qualified}> is not closed`;
  return root ?? 'not XML: no root element';
}

/** Line ends normalised as XML requires, then entity and character references decoded. */
function decodeXmlText(raw: string): string | undefined {
  const text = raw.replace(/\r\n?/g, '\n');
  let decoded = '';
  let pos = 0;
  for (let amp = text.indexOf('&'); amp !== -1; amp = text.indexOf('&', pos)) {
    ENTITY.lastIndex = amp;
    const match = ENTITY.exec(text);
    if (match === null) return undefined;
    const [, named, decimal, hex] = match;
    let char: string | undefined;
    if (named !== undefined) char = PREDEFINED[named];
    else {
      const codePoint = decimal !== undefined ? Number(decimal) : Number.parseInt(hex ?? '', 16);
      if (!isXmlChar(codePoint)) return undefined;
      char = String.fromCodePoint(codePoint);
    }
    decoded += text.slice(pos, amp) + char;
    pos = ENTITY.lastIndex;
  }
  return decoded + text.slice(pos);
}

function isXmlChar(codePoint: number): boolean {
  return (
    codePoint === 0x9 ||
    codePoint === 0xa ||
    codePoint === 0xd ||
    (codePoint >= 0x20 && codePoint <= 0xd7ff) ||
    (codePoint >= 0xe000 && codePoint <= 0xfffd) ||
    (codePoint >= 0x10000 && codePoint <= 0x10ffff)
  );
}

/** A container's leaf children as a field record (the first of a repeated name wins). */
function xmlFields(element: XmlElement): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const child of element.children) {
    if (!Object.hasOwn(fields, child.name)) fields[child.name] = child.text;
  }
  return fields;
}

// ---------------------------------------------------------------------------------------------------

export const puzzelModule: ProviderModule = {
  name: PROVIDER,
  capabilities: PUZZEL_CAPABILITIES,
  createGateway: createPuzzelGateway,
  parseReceived,
  parseReport,
  describeStatus,
  senderIdProblem,
  createSimulator: (options) => new PuzzelSimulator(options),
};
