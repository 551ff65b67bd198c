/**
 * What Twilio posts to the relay (https://www.twilio.com/docs/messaging/guides/webhook-request):
 * an incoming message (MO) and status callbacks, each a form POST signed with `X-Twilio-Signature`,
 * and the TwiML an incoming-message webhook is answered with.
 */
import { readReportNumber, readSender } from '../../sms/senders.ts';
import type { DeliveryState, InboundKind, ReceivedSms, WrittenReport } from '../../vocabulary.ts';
import { type InboundParse, type InboundRequest, type PassingFailure, webhookPaths } from '../contract.ts';
import { CODE_PREFIX, PROVIDER } from './adapter.ts';
import { TWILIO_ERRORS, TWILIO_KINDS, twilioErrorWords } from './errors.ts';
import { validTwilioSignature } from './signature.ts';
import { MESSAGE_SID } from './sids.ts';

const FORM_MEDIA_TYPE = 'application/x-www-form-urlencoded';
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
 * The relay's own status codes for Twilio's Message statuses of a message the relay sent: each with the
 * relay's delivery state, Twilio's statuses it stands for (the first is its word in the report mail), and
 * plain words. Twilio has no numeric statuses: these codes are the relay's own, to keep and describe a
 * report by; an `ErrorCode` takes their place when Twilio gives one (described by errors.ts). `accepted`,
 * `scheduled`, `queued` and `sending` are still at Twilio: queued, not yet sent; `sent` is "handed to the
 * carrier", not final; `read` comes after delivery; `partially_delivered` is neither delivered nor failed,
 * so it stays progress and a later final status decides. `receiving`/`received` are an incoming message's
 * (INCOMING_STATUSES), never a report's.
 */
const OWN_CODES: Readonly<Record<number, { readonly state: DeliveryState; readonly statuses: readonly [string, ...string[]]; readonly words: string }>> = {
  0: { state: 'delivered', statuses: ['delivered', 'read'], words: 'delivered to the phone' },
  1: { state: 'queued', statuses: ['queued', 'accepted', 'scheduled'], words: 'queued by Twilio' },
  2: { state: 'queued', statuses: ['sending'], words: 'being sent by Twilio' },
  3: { state: 'sent', statuses: ['sent'], words: 'handed to the mobile network' },
  4: { state: 'failed', statuses: ['undelivered'], words: 'the mobile network could not deliver it' },
  5: { state: 'failed', statuses: ['failed'], words: 'Twilio could not send it' },
  6: { state: 'failed', statuses: ['canceled'], words: 'cancelled at Twilio before it was sent' },
  7: { state: 'sent', statuses: ['partially_delivered'], words: 'partly delivered to the phone' },
};

/** Every status of OWN_CODES → its state and code. */
const STATUSES: ReadonlyMap<string, { readonly state: DeliveryState; readonly code: number }> = new Map(
  Object.entries(OWN_CODES).flatMap(([code, { state, statuses }]) => statuses.map((status) => [status, { state, code: Number(code) }] as const)),
);

/** The statuses of an incoming message: a request carrying one is an MO, whichever URL it was posted to. */
const INCOMING_STATUSES: ReadonlySet<string> = new Set(['receiving', 'received']);

const PATHS = webhookPaths(PROVIDER);

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

/** Twilio's address of a WhatsApp user (`whatsapp:+447700900123`). */
const WHATSAPP = /^whatsapp:/i;

/**
 * An incoming message: Twilio joins a long SMS's parts itself, so each request is one whole SMS. An
 * MMS's media (`NumMedia`, `MediaUrl<N>`, `MediaContentType<N>`) stay at Twilio: the text says how
 * many the phone sent and where, as plain text (the relay never fetches them).
 */
export function parseReceived(request: InboundRequest): InboundParse<ReceivedSms> {
  const read = readMessage(request);
  if (!read.ok) return read;
  const { fields, sid: providerId } = read;
  const status = fields.get('MessageStatus');
  if (status !== undefined && !INCOMING_STATUSES.has(status.toLowerCase()) && !fields.has('Body')) {
    return {
      ok: false,
      reason: `a status callback (MessageStatus ${status.slice(0, 20)}) on the incoming-message URL: the status callback URL must end in ${PATHS.dr}, not ${PATHS.mo}`,
    };
  }
  // A Messaging Service may hold a WhatsApp sender too: its messages come here with whatsapp: addresses.
  if (WHATSAPP.test(fields.get('From') ?? '')) {
    return {
      ok: false,
      reason:
        'a WhatsApp message (From is a whatsapp: address): the relay takes SMS only; take the WhatsApp sender out of the Messaging Service, or point its webhook elsewhere',
    };
  }
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
  // The account's number the phone texted (a Messaging Service's pool has several): its mail names it.
  const to = readSender(fields.get('To'));
  return {
    ok: true,
    items: [
      {
        providerId,
        number,
        text,
        sentAt: undefined,
        userContext: undefined,
        trackingId: undefined,
        ...(optOut === undefined ? {} : { optOut }),
        ...(to === undefined ? {} : { to }),
      },
    ],
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
export function parseReport(request: InboundRequest): InboundParse<WrittenReport> {
  const read = readMessage(request);
  if (!read.ok) return read;
  const { fields, sid: providerId } = read;
  const number = readReportNumber(fields.get('To'));
  if (number === undefined) return { ok: false, reason: 'To is not a number' };
  const word = (fields.get('MessageStatus') ?? fields.get('SmsStatus') ?? '').toLowerCase();
  if (INCOMING_STATUSES.has(word)) {
    // An incoming message's own status event without its text (a Messaging Service's status callback may send them): no report, nothing lost.
    if (!fields.has('Body')) return { ok: true, items: [], ignored: `an incoming message's status event (${word}), no report of a sent SMS` };
    // Twilio posts an incoming message (its Body) with SmsStatus received: the "A message comes in" URL is set to this one.
    return {
      ok: false,
      reason: `an incoming message (status ${word}) on the status-callback URL: set the "A message comes in" URL of the Messaging Service or number to the relay's ${PATHS.mo}, not ${PATHS.dr}`,
    };
  }
  const status = STATUSES.get(word);
  if (status === undefined) return { ok: false, reason: `unknown MessageStatus ${(fields.get('MessageStatus') ?? '').slice(0, 20)}` };
  const errorCode = fields.get('ErrorCode');
  if (errorCode !== undefined && errorCode !== '' && !ERROR_CODE.test(errorCode)) return { ok: false, reason: 'ErrorCode is not a number' };
  const failedWith = errorCode && status.state === 'failed' ? Number(errorCode) : undefined;
  // The history shows what Twilio's console shows, not the relay's code for it.
  const said = `MessageStatus ${word}${errorCode ? `, ErrorCode ${errorCode}` : ''}`;
  // As the same code in a send's answer is taken (outcomes.ts): with a Messaging Service most come only this way.
  const known = failedWith === undefined ? undefined : TWILIO_ERRORS[failedWith];
  const effect = known && TWILIO_KINDS[known.kind].callback;
  const blames =
    effect === 'alert'
      ? { accountWide: true as const, fix: known?.remedy }
      : effect === 'opt-out'
        ? { optedOut: { code: `${CODE_PREFIX}${failedWith}`, at: undefined } } // A callback carries no time of its own: its SMS's send dates it.
        : {};
  return { ok: true, items: [{ providerId, number, code: failedWith ?? status.code, state: status.state, said, ...blames }] };
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
  return OWN_CODES[code]?.words ?? twilioErrorWords(code);
}

/** 30003 Unreachable destination handset: the phone switched off or out of reach, which it may not be later. */
const PHONE_OUT_OF_REACH = 30003;

/**
 * A callback's error code of a passing state (a resend later may get through, so the report says so, 4.x.x): the phone
 * out of reach (30003), or a `passing` code, Twilio's or the network's load (21611 sender queue full, 30001 queue
 * overflow, 30017 congestion), which says nothing of the phone. Every other failure is permanent.
 */
export function temporaryStatus(code: number): PassingFailure | undefined {
  if (code === PHONE_OUT_OF_REACH) return 'phone';
  return TWILIO_ERRORS[code]?.kind === 'passing' ? 'network' : undefined;
}

/**
 * A report's code as Twilio names it, for the report mail and a long SMS's history: a status code of the relay's
 * own in Twilio's word (`MessageStatus canceled`), not as a number that reads like Twilio's; any other is the
 * callback's `ErrorCode` (`ErrorCode 30003`), not a "status", which Twilio's API uses for its words.
 */
export function statusCode(code: number): string {
  const own = OWN_CODES[code];
  return own ? `MessageStatus ${own.statuses[0]}` : `ErrorCode ${code}`;
}
