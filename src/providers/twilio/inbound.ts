/**
 * What Twilio posts to the relay (https://www.twilio.com/docs/messaging/guides/webhook-request):
 * an incoming message (MO) and status callbacks, each a form POST signed with `X-Twilio-Signature`,
 * and the TwiML an incoming-message webhook is answered with.
 */
import { readReportNumber, readSender } from '../../sms/senders.ts';
import type { DeliveryState, InboundKind, ReceivedSms, StatusReport } from '../../vocabulary.ts';
import type { InboundParse, InboundRequest } from '../contract.ts';
import { validTwilioSignature } from './signature.ts';

const FORM_MEDIA_TYPE = 'application/x-www-form-urlencoded';
const MESSAGE_SID = /^(?:SM|MM)[0-9a-fA-F]{32}$/;
/** A received SMS is at most 1 600 characters; a longer field is no SMS. */
const MO_TEXT_MAX_CHARS = 10_000;
const ERROR_CODE = /^\d{1,9}$/;
/** Twilio takes at most 10 media items per MMS; `NumMedia` above it is no count of Twilio's. */
const MAX_MEDIA = 10;
/** A media URL is Twilio's own (`https://api.twilio.com/…/Media/ME…`); a longer one is not taken. */
const MAX_MEDIA_URL_CHARS = 2_000;
/** `type/subtype` (RFC 6838 names), as `MediaContentType<N>` gives it. */
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

/**
 * An empty TwiML document: "received, nothing to answer". Twilio reads the answer to an
 * incoming-message webhook as instructions; JSON there is an error (12300) in the console.
 */
export const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>';

/**
 * Every value of Twilio's Message status → the relay's delivery state and the status code it stores
 * (an `ErrorCode` takes its place when Twilio gives one). Twilio has no numeric statuses: these codes
 * are the relay's own, to keep and describe a report by; the SMS's history shows Twilio's words.
 * `accepted`, `scheduled`, `queued` and `sending` are still at Twilio: queued, not yet sent; `sent` is
 * "handed to the carrier", not final; `read` comes after delivery; `partially_delivered` is neither
 * delivered nor failed, so it stays progress and a later final status decides. `receiving`/`received`
 * are the statuses of an incoming message: a report carrying them says nothing about delivery.
 */
const STATUSES: Readonly<Record<string, { readonly state: DeliveryState; readonly code: number }>> = {
  delivered: { state: 'delivered', code: 0 },
  read: { state: 'delivered', code: 0 },
  accepted: { state: 'queued', code: 1 },
  scheduled: { state: 'queued', code: 1 },
  queued: { state: 'queued', code: 1 },
  sending: { state: 'queued', code: 2 },
  sent: { state: 'sent', code: 3 },
  partially_delivered: { state: 'sent', code: 7 },
  receiving: { state: 'sent', code: 8 },
  received: { state: 'sent', code: 8 },
  undelivered: { state: 'failed', code: 4 },
  failed: { state: 'failed', code: 5 },
  canceled: { state: 'failed', code: 6 },
};

/** Plain words for the codes of `STATUSES` and the delivery errors Twilio reports most. */
const DESCRIPTIONS: Readonly<Record<number, string>> = {
  0: 'delivered to the phone',
  1: 'queued by Twilio',
  2: 'being sent by Twilio',
  3: 'handed to the mobile network',
  4: 'the mobile network could not deliver it',
  5: 'Twilio could not send it',
  6: 'cancelled before it was sent',
  7: 'partly delivered to the phone',
  8: 'reported by Twilio as received',
  21610: 'the recipient has opted out of messages from this sender',
  30001: "Twilio's queue for the account overflowed (too many messages at once), so it was not sent; sending it again later may succeed",
  30002: 'the Twilio account is suspended',
  30003: 'the phone is switched off or out of reach',
  30004: 'the recipient blocks messages from this sender',
  30005: 'the number is unknown or no longer in service',
  30006: 'the number is a landline or cannot receive SMS',
  30007: 'the mobile network filtered it as spam',
  30008: 'the mobile network gave no reason',
  30010: "its price is over the maximum price set for the Twilio account's messages",
  30017: 'the mobile network was congested; sending it again later may succeed',
  30032: 'the sender is a toll-free number whose verification at Twilio is not complete',
  30033: "the sender's US A2P 10DLC campaign is suspended",
  30034: 'the sender is a US number not registered for A2P 10DLC',
  30036: 'its validity period ran out before it could be delivered',
};

/**
 * ErrorCodes of a failed message that are the account's or its sender's state, not the recipient's: every SMS
 * sent meets them until the account is fixed at Twilio, so the operator is alerted (StatusReport.accountWide).
 */
const ACCOUNT_WIDE_ERRORS: ReadonlySet<number> = new Set([30002, 30010, 30032, 30033, 30034]);

type Fields = ReadonlyMap<string, string>;

/** The form's fields; a field sent twice is refused: the signature and the parse must read the same value. */
function readFields(request: InboundRequest): { ok: true; fields: Fields } | { ok: false; reason: string } {
  if (request.contentType !== FORM_MEDIA_TYPE) return { ok: false, reason: `not a form post (${request.contentType.slice(0, 60) || 'no content type'})` };
  const fields = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(request.body)) {
    if (fields.has(name)) return { ok: false, reason: `field ${name.slice(0, 40)} appears more than once` };
    fields.set(name, value);
  }
  return { ok: true, fields };
}

/** The form of a post about one message, and that message's SID. */
function readMessage(request: InboundRequest): { ok: true; fields: Fields; sid: string } | { ok: false; reason: string } {
  const read = readFields(request);
  if (!read.ok) return read;
  const sid = read.fields.get('MessageSid') ?? read.fields.get('SmsSid');
  if (sid === undefined) return { ok: false, reason: 'no MessageSid' };
  return MESSAGE_SID.test(sid)
    ? { ok: true, fields: read.fields, sid }
    : { ok: false, reason: 'MessageSid is not a Twilio message SID (SM or MM and 32 hex digits)' };
}

/**
 * An incoming message: Twilio joins a long SMS's parts itself, so each request is one whole SMS. An
 * MMS's media (`NumMedia`, `MediaUrl<N>`, `MediaContentType<N>`) stay at Twilio: the text says how
 * many the phone sent and where, as plain text (the relay never fetches them).
 */
export function parseReceived(request: InboundRequest): InboundParse<ReceivedSms> {
  const read = readMessage(request);
  if (!read.ok) return read;
  const { fields, sid: providerId } = read;
  const number = readSender(fields.get('From'));
  if (number === undefined) return { ok: false, reason: 'From is not a sender' };
  const body = fields.get('Body');
  if (body === undefined) return { ok: false, reason: 'no Body' };
  if (body.length > MO_TEXT_MAX_CHARS) return { ok: false, reason: `Body longer than ${MO_TEXT_MAX_CHARS} characters` };
  const count = fields.get('NumMedia') ?? '0';
  if (!/^\d{1,2}$/.test(count) || Number(count) > MAX_MEDIA) return { ok: false, reason: `NumMedia is not a count of up to ${MAX_MEDIA}` };
  const media = Array.from({ length: Number(count) }, (_, index) => mediaLine(fields, index));
  const text = media.length === 0 ? body : [...(body === '' ? [] : [body, '']), mediaNote(media.length), ...media].join('\n');
  const optOut = OPT_OUT_TYPES[(fields.get('OptOutType') ?? '').toUpperCase()];
  return {
    ok: true,
    items: [{ providerId, number, text, sentAt: undefined, userContext: undefined, trackingId: undefined, ...(optOut === undefined ? {} : { optOut }) }],
  };
}

/**
 * Advanced Opt-Out's `OptOutType` on an MO: Twilio took the SMS as an opt-out or opt-in keyword of the
 * Messaging Service's (localised, custom, or one Twilio adds) and already refuses or allows sending to the
 * phone, whatever the relay's own keywords say. `HELP` changes nothing.
 */
const OPT_OUT_TYPES: Readonly<Record<string, 'stop' | 'start'>> = { STOP: 'stop', START: 'start' };

/** What the mail says of an MMS's media, above one line per item. */
function mediaNote(count: number): string {
  return `[the phone sent ${count} media item${count === 1 ? '' : 's'}, kept at Twilio (not fetched by the relay):]`;
}

/** One media item as a line: its URL (an http(s) URL, written as the URL parser reads it) and its type. */
function mediaLine(fields: Fields, index: number): string {
  const given = fields.get(`MediaUrl${index}`) ?? '';
  const url = given.length <= MAX_MEDIA_URL_CHARS && URL.canParse(given) ? new URL(given) : undefined;
  const type = fields.get(`MediaContentType${index}`) ?? '';
  const where = url && (url.protocol === 'https:' || url.protocol === 'http:') ? url.href : '(no readable URL)';
  return MEDIA_TYPE.test(type) ? `${where} (${type})` : where;
}

/** A status callback: one message's `MessageStatus`, with an `ErrorCode` when it failed. */
export function parseReport(request: InboundRequest): InboundParse<StatusReport> {
  const read = readMessage(request);
  if (!read.ok) return read;
  const { fields, sid: providerId } = read;
  const number = readReportNumber(fields.get('To'));
  if (number === undefined) return { ok: false, reason: 'To is not a number' };
  const word = (fields.get('MessageStatus') ?? fields.get('SmsStatus') ?? '').toLowerCase();
  const status = STATUSES[word];
  if (status === undefined) return { ok: false, reason: `unknown MessageStatus ${(fields.get('MessageStatus') ?? '').slice(0, 20)}` };
  const errorCode = fields.get('ErrorCode');
  if (errorCode !== undefined && errorCode !== '' && !ERROR_CODE.test(errorCode)) return { ok: false, reason: 'ErrorCode is not a number' };
  const failedWith = errorCode && status.state === 'failed' ? Number(errorCode) : undefined;
  // The history shows what Twilio's console shows, not the relay's code for it.
  const said = `MessageStatus ${word}${errorCode ? `, ErrorCode ${errorCode}` : ''}`;
  const accountWide = failedWith !== undefined && ACCOUNT_WIDE_ERRORS.has(failedWith) ? { accountWide: true as const } : {};
  return { ok: true, items: [{ providerId, number, code: failedWith ?? status.code, state: status.state, said, ...accountWide }] };
}

/** `X-Twilio-Signature` over the URL Twilio called and the form, with the account's primary auth token. */
export function verify(request: InboundRequest, _kind: InboundKind, authToken: string): boolean {
  const given = request.headers['x-twilio-signature'];
  if (!given || request.url === undefined) return false;
  return validTwilioSignature(authToken, given, request.url, request.method === 'GET' ? '' : request.body);
}

/** Twilio reads the answer to an incoming message as TwiML; a status callback's answer is ignored. */
export function acknowledge(kind: InboundKind): { readonly contentType: string; readonly body: string } | undefined {
  return kind === 'mo' ? { contentType: 'text/xml; charset=utf-8', body: EMPTY_TWIML } : undefined;
}

export function describeStatus(code: number): string {
  return DESCRIPTIONS[code] ?? `Twilio error ${code} (https://www.twilio.com/docs/api/errors/${code})`;
}
