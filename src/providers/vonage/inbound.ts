/**
 * What Vonage's SMS API sends the relay: inbound SMS (https://developer.vonage.com/en/messaging/sms/guides/inbound-sms)
 * and delivery receipts (https://developer.vonage.com/en/messaging/sms/guides/delivery-receipts),
 * by GET (fields in the query), POST (a form) or POST-JSON, as the account's dashboard says; each
 * signed (`sig`, with `timestamp` and `nonce`) when the account has signed webhooks.
 */
import { MAX_CONCAT_PARTS } from '../../sms/concat.ts';
import { readReportNumber, readSender } from '../../sms/senders.ts';
import type { DeliveryState, InboundKind, ReceivedSms, WrittenReport } from '../../vocabulary.ts';
import { gatewayTime, type InboundParse, type InboundRequest, type PassingFailure } from '../contract.ts';
import { isSignatureMethod, validVonageSignature } from './signature.ts';
import { readGatewayTime } from '../../timestamps.ts';
import { messageIdOfKey } from '../../random-ids.ts';

/**
 * `message-timestamp`: `yyyy-MM-dd HH:mm:ss` in UTC (Vonage's inbound SMS webhook reference); read as every gateway's
 * time is (readGatewayTime), and one not read leaves the relay's own time.
 */
const VONAGE_TIME_ZONE = 'UTC';

type Fields = ReadonlyMap<string, string>;

const FORM_MEDIA_TYPE = 'application/x-www-form-urlencoded';
const JSON_MEDIA_TYPE = 'application/json';
/** The relay's own webhook token rides in the query; it is none of Vonage's fields. */
const TOKEN_FIELD = 'token';
const MO_TEXT_MAX_CHARS = 10_000;
const ID = /^[0-9A-Za-z-]{1,64}$/;
const CLIENT_REF = /^([0-9a-z]{25})\.(\d{1,3})$/;
const ERR_CODE = /^\d{1,4}$/;
/** "Illegal Number": the user asked not to receive messages from the service, Vonage's counterpart of Twilio's 21610. */
const OPTED_OUT_ERR_CODE = 9;

/** DLR `status` → the relay's state. `accepted` and `buffered` are on the way; `unknown` says nothing final. */
const STATES: Readonly<Record<string, DeliveryState>> = {
  delivered: 'delivered',
  expired: 'expired',
  failed: 'failed',
  rejected: 'failed',
  accepted: 'sent',
  buffered: 'sent',
  unknown: 'sent',
};

/**
 * DLR `err-code`, as Vonage's "SMS Delivery Error Codes" (api.support.vonage.com, article 204014733) and the
 * delivery-receipts guide (https://developer.vonage.com/en/messaging/sms/guides/delivery-receipts) give them.
 */
const ERR_CODES: Readonly<Record<number, string>> = {
  0: 'delivered to the phone',
  1: 'the network gave no reason',
  // A receipt is final: the network has stopped trying, whether the phone may be back later (2) or not (3).
  2: 'the phone was out of reach and the network stopped trying (it may be reachable later)',
  3: 'the number is no longer in service',
  4: 'the recipient has barred SMS at their network (only their operator can lift it)',
  5: 'the number was ported and could not be routed',
  6: 'the network rejected it as spam',
  7: 'the phone was busy',
  8: 'a network error',
  9: 'the recipient has asked not to receive messages from this service (opted out)',
  10: 'the message is invalid',
  11: 'the number cannot be routed',
  12: 'no route to the number was found',
  13: 'the recipient is under an age restriction',
  14: 'the network blocks SMS to the number',
  15: 'the prepaid recipient has no credit',
  16: 'the gateway quota was exceeded',
  50: 'filtered (entity)',
  51: 'filtered (header)',
  52: 'filtered (content)',
  53: 'filtered (consent)',
  54: 'refused by regulation',
  99: 'a general network error',
};

/** The request's fields, wherever the account's method puts them; a field sent twice is refused. */
function readFields(request: InboundRequest): { ok: true; fields: Fields } | { ok: false; reason: string } {
  const fields = new Map<string, string>();
  const add = (name: string, value: string) => {
    if (fields.has(name)) return `field ${name.slice(0, 40)} appears more than once`;
    fields.set(name, value);
    return undefined;
  };
  if (request.method === 'GET') {
    for (const [name, value] of request.query) {
      const problem = name === TOKEN_FIELD ? undefined : add(name, value);
      if (problem) return { ok: false, reason: problem };
    }
  } else if (request.contentType === FORM_MEDIA_TYPE) {
    for (const [name, value] of new URLSearchParams(request.body)) {
      const problem = add(name, value);
      if (problem) return { ok: false, reason: problem };
    }
  } else if (request.contentType === JSON_MEDIA_TYPE) {
    let body: unknown;
    try {
      body = JSON.parse(request.body);
    } catch {
      return { ok: false, reason: 'the JSON body does not parse' };
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, reason: 'the JSON body is not an object' };
    for (const [name, value] of Object.entries(body)) {
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') add(name, String(value));
    }
  } else {
    return { ok: false, reason: `neither a query, a form nor JSON (${request.contentType.slice(0, 60) || 'no content type'})` };
  }
  return { ok: true, fields };
}

/** An inbound SMS, or one part of a long one (the relay reassembles them: src/sms/concat.ts). */
export function parseReceived(request: InboundRequest): InboundParse<ReceivedSms> {
  const read = readFields(request);
  if (!read.ok) return read;
  const { fields } = read;
  const messageId = fields.get('messageId');
  if (messageId === undefined || !ID.test(messageId)) return { ok: false, reason: 'no messageId' };
  const number = readSender(fields.get('msisdn'));
  if (number === undefined) return { ok: false, reason: 'msisdn is not a sender' };
  if (fields.get('type') === 'binary') return { ok: false, reason: 'a binary SMS (no text to mail)' };
  const text = fields.get('text');
  if (text === undefined) return { ok: false, reason: 'no text' };
  if (text.length > MO_TEXT_MAX_CHARS) return { ok: false, reason: `text longer than ${MO_TEXT_MAX_CHARS} characters` };
  const time = gatewayTime('message-timestamp', fields.get('message-timestamp') ?? '', VONAGE_TIME_ZONE);
  const to = readSender(fields.get('to'));
  const sms: ReceivedSms = { providerId: messageId, number, text, ...time, userContext: undefined, trackingId: undefined, ...(to === undefined ? {} : { to }) };
  if (fields.get('concat') !== 'true') return { ok: true, items: [sms] };

  const [reference, total, index] = ['concat-ref', 'concat-total', 'concat-part'].map((name) => Number(fields.get(name) ?? 'x'));
  if (![reference, total, index].every((value) => Number.isInteger(value)) || total! < 2 || total! > MAX_CONCAT_PARTS || index! < 1 || index! > total!) {
    return { ok: false, reason: 'concat fields (concat-ref, concat-total, concat-part) out of range' };
  }
  return { ok: true, items: [{ ...sms, part: { reference: reference!, total: total!, index: index! } }] };
}

/**
 * A delivery receipt for one part. A long SMS's receipts name it by our client-ref and each its
 * part: the relay combines them (src/replies/inbound.ts), whichever relay each reaches. An SMS of
 * one part is kept under Vonage's message-id (adapter.ts), which its receipt names.
 */
export function parseReport(request: InboundRequest): InboundParse<WrittenReport> {
  const read = readFields(request);
  if (!read.ok) return read;
  const { fields } = read;
  const partId = fields.get('messageId');
  if (partId === undefined || !ID.test(partId)) return { ok: false, reason: 'no messageId' };
  const number = readReportNumber(fields.get('msisdn'));
  if (number === undefined) return { ok: false, reason: 'msisdn is not a number' };
  const status = (fields.get('status') ?? '').toLowerCase();
  const state = Object.hasOwn(STATES, status) ? STATES[status] : undefined;
  if (state === undefined) return { ok: false, reason: `unknown status ${status.slice(0, 20)}` };
  const errCode = fields.get('err-code') ?? '0';
  if (!ERR_CODE.test(errCode)) return { ok: false, reason: 'err-code is not a number' };
  const ref = CLIENT_REF.exec(fields.get('client-ref') ?? '');
  const parts = Number(ref?.[2] ?? 1);
  const code = Number(errCode);
  // As the opt-out names it: Vonage's send answers' `status` codes (VONAGE:<status>) are another list.
  const optedOut = state === 'failed' && code === OPTED_OUT_ERR_CODE ? { optedOut: { code: `VONAGE:err-code ${code}`, at: reportedAt(fields) } } : {};
  if (ref && parts > 1) return { ok: true, items: [{ providerId: ref[0], number, code, state, part: { id: partId, of: parts }, ...optedOut }] };
  // The history shows the receipt as Vonage's dashboard does, not the relay's state for it.
  const said = `status ${status}, err-code ${errCode}`;
  // Without our client-ref the id may as well be a part's of a long SMS: the store knows which.
  // With our client-ref, the SMS of one part a relay before Vonage's message-id was kept kept under it; and its key is
  // the relay's reference to its message (adapter.ts, clientRefFor), which finds the SMS while no id names it (an
  // attempt in flight, or one whose answer was lost). A key an older relay hashed names no message.
  const named = ref ? { formerId: ref[0], messageId: messageIdOfKey(ref[1] ?? '') } : { part: { id: partId } };
  return { ok: true, items: [{ providerId: partId, number, code, state, said, ...optedOut, ...named }] };
}

/**
 * When Vonage says it had the receipt (`message-timestamp`: it started pushing it then, in whole seconds); undefined in
 * another form. An SMS sent after a START and refused in the same second is still dated after the START: never before its send.
 */
function reportedAt(fields: Fields): number | undefined {
  const at = readGatewayTime(fields.get('message-timestamp') ?? '', VONAGE_TIME_ZONE);
  return at === undefined ? undefined : Date.parse(at);
}

/**
 * `sig` over the fields, with the account's signature secret and method. For a GET the relay's
 * token is in the query too: whether Vonage counts the configured URL's own query is not
 * documented, so the fields are checked without it, then with it.
 */
export function verify(request: InboundRequest, _kind: InboundKind, secret: string, method: string): boolean {
  if (!isSignatureMethod(method)) return false;
  const read = readFields(request);
  if (!read.ok) return false;
  if (validVonageSignature(secret, method, read.fields)) return true;
  const token = request.method === 'GET' ? request.query.get(TOKEN_FIELD) : null;
  return token !== null && validVonageSignature(secret, method, new Map([...read.fields, [TOKEN_FIELD, token]]));
}

export function describeStatus(code: number): string {
  return ERR_CODES[code] ?? `Vonage delivery error ${code}`;
}

/**
 * A receipt's code as Vonage names it, for the report mail and a long SMS's history: it is the receipt's
 * err-code, and "status 2" would read as Vonage's send status 2 (Missing Parameters), another list.
 */
export function statusCode(code: number): string {
  return `err-code ${code}`;
}

/**
 * The `err-code`s of a passing state of the phone or its subscription (Vonage's "Absent Subscriber - Temporary",
 * "Handset Busy", a prepaid recipient without credit): final for this SMS, yet a resend later may reach the phone,
 * so the report says so (4.x.x). Every other failure is permanent (3, absent for good; 4, barred; 11, unroutable …).
 */
const TEMPORARY = new Set([2, 7, 15]);

export function temporaryStatus(code: number): PassingFailure | undefined {
  return TEMPORARY.has(code) ? 'phone' : undefined;
}
