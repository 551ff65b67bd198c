/**
 * What Puzzel sends the relay: received SMS (MO) and delivery reports (DR), posted in batches as JSON
 * or XML (the format its service configuration selects), or one per GET request as query parameters.
 * Field names are read in any case: Puzzel's GET template writes `customerMessageReference` where its
 * POST bodies write `customermessagereference`, and its pages mix `messageId` and `messageid`.
 */
import { readReportNumber, readSender } from '../../sms/senders.ts';
import type { DeliveryState, ReceivedSms, WrittenReport } from '../../vocabulary.ts';
import { batchParse, gatewayTime, type InboundParse, type InboundRequest, type PassingFailure } from '../contract.ts';
import { CLIENT_REFERENCE } from './adapter.ts';
import { isRecord, parseJson, readInteger, readText } from './values.ts';
import { parseXml, type XmlElement } from './xml.ts';

/**
 * Ids Puzzel gives (`7a02c0000f00`): anything short without spaces or separators is taken, `+` too,
 * as the send answer's `messageId` is (any text): an id recorded at the send is never refused on the way back.
 */
const PROVIDER_ID = /^[A-Za-z0-9._+-]{1,64}$/;
/** Puzzel's words for a status, kept for the history: bounded, as they only explain the code. */
const MAX_DESCRIPTION_CHARS = 200;
/**
 * `timestamp` is `yyyyMMdd HH:mm:ss` and carries no zone. Puzzel is a Norwegian platform and its documentation gives times
 * without one: they are read as Norwegian local time (CET, or CEST in summer).
 */
const TIMESTAMP_ZONE = 'Europe/Oslo';
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
 * `{"dr":[…]}` or `<dr><message>…</message>…</dr>`. A DR names no recipient: the number comes
 * from `customermessagereference`, the clientReference the adapter wrote (`<message id>:<digits>`),
 * and so does the relay's message id: the SMS is found by it when Puzzel's `messageid` finds none
 * (a send answer without one, statusCode 25 for a resend, or another id). Without that reference the
 * number is left for the sink to take from the one SMS `messageid` names (WrittenReport).
 */
export function parseReport(request: InboundRequest): InboundParse<WrittenReport> {
  return parseCallback(request, 'dr', readReport);
}

/** Each message of the batch on its own: one that cannot be read is named in `unreadable`, the others are taken. */
function parseCallback<T>(request: InboundRequest, kind: 'mo' | 'dr', read: (fields: Fields) => Item<T>): InboundParse<T> {
  const records = readCallbackRecords(request, kind);
  if (typeof records === 'string') return { ok: false, reason: records };
  const items: T[] = [];
  const unreadable: string[] = [];
  for (const [index, fields] of records.entries()) {
    const item = typeof fields === 'string' ? malformed<T>(fields) : read(fields);
    if (item.ok) items.push(item.value);
    else unreadable.push(`${kind}[${index}]: ${item.reason}`);
  }
  return batchParse(items, unreadable);
}

/**
 * The callback's messages as field records (or why one message is not one), or why the body is not a
 * Puzzel callback of `kind` at all.
 */
function readCallbackRecords(request: InboundRequest, kind: 'mo' | 'dr'): (Fields | string)[] | string {
  // Puzzel's GET callback: one message, its fields named as its GET template names them (the POST's, camel-cased or not).
  if (request.method === 'GET') return [caseless(request.query.entries())];
  const format = callbackFormat(request);
  if (format === undefined) return `content type "${request.contentType}" is neither JSON nor XML`;
  if (format === 'json') {
    const parsed = parseJson(request.body);
    if (parsed === undefined) return 'the body is not JSON';
    const list = isRecord(parsed) ? parsed[kind] : undefined;
    if (!Array.isArray(list)) return `the body has no "${kind}" list`;
    return list.map((entry: unknown) => (isRecord(entry) ? caseless(Object.entries(entry)) : 'not an object'));
  }
  const root = parseXml(request.body);
  if (typeof root === 'string') return root;
  if (root.name !== kind) return `the XML root is <${root.name}>, not <${kind}>`;
  if (root.text.trim() !== '') return `<${kind}> holds text, not <message> elements`;
  const records: (Fields | string)[] = [];
  for (const message of root.children) {
    if (message.name !== 'message') return `<${kind}> holds a <${message.name}>, not <message>`;
    records.push(messageFields(message));
  }
  return records;
}

/** One `<message>`'s fields, or why they are not plain fields. */
function messageFields(message: XmlElement): Fields | string {
  const nested = message.children.find((field) => field.children.length > 0);
  if (nested) return `<${nested.name}> has child elements`;
  return caseless(
    message.children.map((field) => [field.name, field.text]),
    (name) => `<${name}> appears twice with two values`,
  );
}

/**
 * Fields by their names in lower case, as the readers look them up, or why a message names one twice (in any case)
 * with two values: which is meant is not known. A name repeated with its one value is that value.
 */
function caseless(entries: Iterable<readonly [string, unknown]>, twice = (name: string) => `${name} is given twice with different values`): Fields | string {
  const fields: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [name, value] of entries) {
    const key = name.toLowerCase();
    if (Object.hasOwn(fields, key) && fields[key] !== value) return twice(name);
    fields[key] = value;
  }
  return fields;
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
  const number = readSender(fields['originator']);
  if (number === undefined) return malformed('originator is missing or not a sender (a number, a short code or a name of up to 11 characters)');
  const text = fields['content'];
  if (typeof text !== 'string') return malformed('content is missing');
  if (text.length > MAX_TEXT_CHARS) return malformed(`content is longer than ${MAX_TEXT_CHARS} characters`);
  // A JSON number is an epoch; any other value (an object, a list) is no time: its JSON is named as not read.
  const timestamp = fields['timestamp'] ?? '';
  const time = gatewayTime('timestamp', readText(timestamp) ?? (timestamp === '' ? '' : JSON.stringify(timestamp)), TIMESTAMP_ZONE);
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
      ...time,
      userContext: undefined,
      trackingId: trackingId || undefined,
    },
  };
}

function readReport(fields: Fields): Item<WrittenReport> {
  const providerId = fields['messageid'];
  if (typeof providerId !== 'string' || !PROVIDER_ID.test(providerId)) return malformed('messageid is missing or not an id');
  const code = readInteger(fields['statuscode']);
  if (code === undefined || code > 999) return malformed('statuscode is missing or not a status code');
  const state = deliveryState(code);
  // As IntelliSoftware's unknown status: kept for the operator rather than guessed a success or a failure.
  if (state === undefined) return malformed(`statuscode ${code} is not a status code Puzzel documents`);
  const reported = { providerId, code, state, said: said(code, fields) };
  const reference = fields['customermessagereference'];
  const digits = typeof reference === 'string' ? CLIENT_REFERENCE.exec(reference)?.[1] : undefined;
  // None, or one the relay did not write: `messageid` alone names the SMS, and the sink takes its number from it.
  if (digits === undefined) return { ok: true, value: { ...reported, number: undefined } };
  const number = readReportNumber(`+${digits}`);
  if (number === undefined) return malformed('customermessagereference does not name a phone number');
  // The reference's message part is the relay's message id (or a hash of one too long, which finds no message).
  const messageId = String(reference).slice(0, -digits.length - 1);
  return { ok: true, value: { ...reported, number, messageId } };
}

/**
 * The history's words: the code, and Puzzel's own `statusdescription` and `extstatusdescription` (the
 * network's) when it sent them, as the gateway's console shows a report.
 */
function said(code: number, fields: Fields): string {
  const words = ['statusdescription', 'extstatusdescription'].flatMap((name) => {
    const value = readText(fields[name])?.replace(/\s+/g, ' ').trim().slice(0, MAX_DESCRIPTION_CHARS);
    return value ? [`${name}=${value}`] : [];
  });
  return [`statuscode=${code}`, ...words].join(', ');
}

function malformed<T>(reason: string): Item<T> {
  return { ok: false, reason };
}

/**
 * What a DR status code means for the SMS (Puzzel's "Parameters for delivery reports"): 0 delivered
 * and 390 sent but not billed are successes; 361 and 362 are the message's time running out (its
 * validity, in the SMSC); every other code of the table (STATUS_WORDS) did not arrive; any other is
 * not Puzzel's (undefined).
 */
function deliveryState(code: number): DeliveryState | undefined {
  if (code === 0 || code === 390) return 'delivered';
  if (code === 361 || code === 362) return 'expired';
  return Object.hasOwn(STATUS_WORDS, code) ? 'failed' : undefined;
}

/**
 * Failures of a passing state of the phone or its subscription (temporarily unreachable, temporarily
 * barred): final for this SMS, yet the number may take the next one, so the report says so (4.x.x).
 */
const TEMPORARY = new Set([356, 364]);

export function temporaryStatus(code: number): PassingFailure | undefined {
  return TEMPORARY.has(code) ? 'phone' : undefined;
}

/** The documented DR status codes in plain words, for the sender's report mail. */
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
  363: "the network's message centre failed",
  364: 'the phone is temporarily unreachable',
  368: 'the gateway was not connected to the mobile network',
  369: "the network's message centre reported an error",
  370: 'an unspecified error',
  371: 'the message could not be passed to the mobile network',
  380: "the gateway's login at the mobile network was refused",
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
