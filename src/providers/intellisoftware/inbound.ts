/**
 * What IntelliSoftware's forwarding POSTs to the relay (IntelliSoftware's HTTP interface documentation): received SMS (MO) and
 * message status reports (DR), in the form the account's Preferences → Forwarding "Message Type" chooses: the legacy
 * form fields (one SMS or report a request) or JSON (`{"messages":[…]}`, `{"notifications":[…]}`, several a request).
 * Both are taken, told apart by the content type. Parsed strictly: a form whose field is missing or malformed is a
 * `malformed` value, which the webhook quarantines; in a JSON list, such an item is named unreadable and the others
 * are taken (batchParse).
 */
import { readReportNumber, readSender } from '../../sms/senders.ts';
import type { DeliveryState, ReceivedSms, WrittenReport } from '../../vocabulary.ts';
import { batchParse, gatewayTime, type InboundParse, type InboundRequest } from '../contract.ts';

const FORM = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';
/**
 * A JSON MO's `content.msgtype` with text to mail (the receive-SMS page's "Message Type" text and unicode: the JSON
 * string holds the characters either way). A binary one carries `ud` (hex user data) and no text: nothing to mail.
 */
const TEXT_MSGTYPES: ReadonlySet<string> = new Set(['text', 'unicode']);
/** The JSON status notification's `notificationtype`; any other is no delivery report the relay knows. */
const STATUS_NOTIFICATION = 'status';

/** The platform's ids are long digit strings; anything printable up to this length is taken. */
const PROVIDER_ID = /^[A-Za-z0-9._-]{1,64}$/;
/**
 * `sent` is W3CDTF with its offset (`2010-02-03T13:50:05-00:00`); a time without one is read as UK time (GMT, or BST
 * in summer): IntelliSoftware is a UK platform.
 */
const TIME_ZONE = 'Europe/London';
/** An SMS text is at most a few concatenated parts; a longer field is no SMS. */
const MAX_TEXT_CHARS = 10_000;

/**
 * The documented status codes. 0–2 are interim (queued), 3 left for the network; 4, 11 and 14 are success;
 * 8 is the network giving up (expired); every other known code is a failure or a rejection.
 */
const STATES: Readonly<Record<number, DeliveryState>> = {
  0: 'queued',
  1: 'queued',
  2: 'queued',
  3: 'sent',
  4: 'delivered',
  5: 'failed',
  6: 'failed',
  7: 'failed',
  8: 'expired',
  11: 'delivered',
  12: 'failed',
  13: 'failed',
  14: 'delivered',
  15: 'failed',
  16: 'failed',
  17: 'failed',
};

/** Plain words for the codes a sender may read in a failure report. */
const STATUS_WORDS: Readonly<Record<number, string>> = {
  4: 'delivered to the phone',
  5: 'the gateway reported an error with the request',
  6: 'the network could not deliver it to the phone',
  7: 'the network could not route it to the phone',
  8: 'the network gave up: the phone was unreachable until the message expired',
  11: 'acknowledged by the recipient',
  12: 'rejected by the recipient',
  13: "rejected by the network's spam filter",
  14: 'read by the recipient',
};

export function parseReceived(request: InboundRequest): InboundParse<ReceivedSms> {
  if (request.contentType === JSON_TYPE) return parseJsonList(request, 'messages', readJsonReceived);
  const fields = formOf(request);
  if (!fields) return notAForm(request);
  const providerId = fields.get('msgid') ?? '';
  if (!PROVIDER_ID.test(providerId)) return malformed('msgid is missing or not an id');
  const number = readSender(fields.get('from'));
  if (!number) return malformed('from is missing or not a sender (a number, a short code or a name of up to 11 characters)');
  const text = fields.get('text');
  if (text === null) return malformed('text is missing');
  if (text.length > MAX_TEXT_CHARS) return malformed(`text is longer than ${MAX_TEXT_CHARS} characters`);
  const userContext = fields.get('usercontext') ?? '';
  return {
    ok: true,
    items: [
      {
        providerId,
        number,
        text,
        ...gatewayTime('sent', fields.get('sent') ?? '', TIME_ZONE),
        userContext: userContext.trim() || undefined,
        trackingId: undefined,
      },
    ],
  };
}

export function parseReport(request: InboundRequest): InboundParse<WrittenReport> {
  if (request.contentType === JSON_TYPE) return parseJsonList(request, 'notifications', readJsonReport);
  const fields = formOf(request);
  if (!fields) return notAForm(request);
  const providerId = fields.get('msgid') ?? '';
  if (!PROVIDER_ID.test(providerId)) return malformed('msgid is missing or not an id');
  const number = readReportNumber(fields.get('toaddr'));
  if (!number) return malformed('toaddr is missing or not a phone number');
  const status = fields.get('status') ?? '';
  const state = /^\d{1,3}$/.test(status) ? STATES[Number(status)] : undefined;
  // Without its value, as every reason (contract.ts: reasons are logged); the kept request shows it.
  if (!state) return malformed('status is missing or not a known status code');
  return { ok: true, items: [{ providerId, number, code: Number(status), state }] };
}

/** Plain words for a status code (the sender's report mail). */
export function describeStatus(code: number): string {
  return STATUS_WORDS[code] ?? `the network reported status ${code}`;
}

type Item<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };
type JsonObject = Readonly<Record<string, unknown>>;

/** `{"<list>":[…]}`: each entry read alone, an unreadable one named by its place (`messages[1]: …`), the others taken. */
function parseJsonList<T>(request: InboundRequest, list: string, read: (entry: JsonObject) => Item<T>): InboundParse<T> {
  let body: unknown;
  try {
    body = JSON.parse(request.body);
  } catch {
    return malformed('the JSON body does not parse');
  }
  const entries = isObject(body) ? body[list] : undefined;
  if (!Array.isArray(entries)) return malformed(`the JSON body has no "${list}" list`);
  const items: T[] = [];
  const unreadable: string[] = [];
  for (const [index, entry] of entries.entries()) {
    const item: Item<T> = isObject(entry) ? read(entry) : { ok: false, reason: 'not an object' };
    if (item.ok) items.push(item.value);
    else unreadable.push(`${list}[${index}]: ${item.reason}`);
  }
  if (items.length === 0 && unreadable.length === 0) return malformed(`the "${list}" list is empty`);
  return batchParse(items, unreadable);
}

/** One of `messages`: the legacy form's fields under their JSON names (`messageid` for `msgid`, `content.text` for `text`). */
function readJsonReceived(message: JsonObject): Item<ReceivedSms> {
  const providerId = message['messageid'];
  if (typeof providerId !== 'string' || !PROVIDER_ID.test(providerId)) return unread('messageid is missing or not an id');
  const number = readSender(message['from']);
  if (!number) return unread('from is missing or not a sender (a number, a short code or a name of up to 11 characters)');
  const content = message['content'];
  if (!isObject(content)) return unread('content is missing or not an object');
  const text = content['text'];
  if (typeof text !== 'string') {
    return unread(content['ud'] === undefined ? 'content.text is missing' : 'a binary SMS (content.ud): no text to mail');
  }
  const type = content['msgtype'];
  if (typeof type !== 'string' || !TEXT_MSGTYPES.has(type)) return unread('content.msgtype is neither text nor unicode');
  if (text.length > MAX_TEXT_CHARS) return unread(`content.text is longer than ${MAX_TEXT_CHARS} characters`);
  // W3CDTF as in the form; a JSON number (an epoch) is read as the form's digits would be.
  const sent = message['sent'];
  const written = typeof sent === 'string' ? sent : typeof sent === 'number' ? String(sent) : '';
  // The JSON form documents no usercontext: the reply goes to the latest conversation with the number.
  return { ok: true, value: { providerId, number, text, ...gatewayTime('sent', written, TIME_ZONE), userContext: undefined, trackingId: undefined } };
}

/** One of `notifications`: `messageid`, `to` and the numeric `status_code` (the legacy form's `msgid`, `toaddr`, `status`). */
function readJsonReport(notification: JsonObject): Item<WrittenReport> {
  const type = notification['notificationtype'];
  if (type !== STATUS_NOTIFICATION) return unread('notificationtype is not status: no status report');
  const providerId = notification['messageid'];
  if (typeof providerId !== 'string' || !PROVIDER_ID.test(providerId)) return unread('messageid is missing or not an id');
  const number = readReportNumber(notification['to']);
  if (!number) return unread('to is missing or not a phone number');
  // A number in the page's example; its digits as a string are the same code.
  const written = notification['status_code'];
  const code = typeof written === 'number' ? written : typeof written === 'string' && /^\d{1,3}$/.test(written) ? Number(written) : Number.NaN;
  const state = Number.isInteger(code) ? STATES[code] : undefined;
  if (state === undefined) return unread('status_code is missing or not a known status code');
  return { ok: true, value: { providerId, number, code, state } };
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function unread<T>(reason: string): Item<T> {
  return { ok: false, reason };
}

function formOf(request: InboundRequest): URLSearchParams | undefined {
  return request.contentType === FORM ? new URLSearchParams(request.body) : undefined;
}

function notAForm<T>(request: InboundRequest): InboundParse<T> {
  return malformed(`the body is ${request.contentType || 'untyped'}, neither a form nor JSON`);
}

function malformed<T>(reason: string): InboundParse<T> {
  return { ok: false, reason };
}
