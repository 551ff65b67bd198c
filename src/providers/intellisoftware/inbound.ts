/**
 * What IntelliSoftware's forwarding POSTs to the relay (IntelliSoftware's HTTP interface documentation): received SMS (MO) and
 * message status reports (DR), as legacy form fields. Parsed strictly: a field that is missing or
 * malformed makes the whole request a `malformed` value, which the webhook quarantines.
 */
import { readReportNumber, readSender } from '../../sms/senders.ts';
import type { DeliveryState, ReceivedSms, WrittenReport } from '../../vocabulary.ts';
import { gatewayTime, type InboundParse, type InboundRequest } from '../contract.ts';

const FORM = 'application/x-www-form-urlencoded';

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
  const fields = formOf(request);
  if (!fields) return notAForm(request);
  const providerId = fields.get('msgid') ?? '';
  if (!PROVIDER_ID.test(providerId)) return malformed('msgid is missing or not an id');
  const number = readReportNumber(fields.get('toaddr'));
  if (!number) return malformed('toaddr is missing or not a phone number');
  const status = fields.get('status') ?? '';
  const state = /^\d{1,3}$/.test(status) ? STATES[Number(status)] : undefined;
  if (!state) return malformed(`status "${status.slice(0, 20)}" is not a known status code`);
  return { ok: true, items: [{ providerId, number, code: Number(status), state }] };
}

/** Plain words for a status code (the sender's report mail). */
export function describeStatus(code: number): string {
  return STATUS_WORDS[code] ?? `the network reported status ${code}`;
}

function formOf(request: InboundRequest): URLSearchParams | undefined {
  return request.contentType === FORM ? new URLSearchParams(request.body) : undefined;
}

function notAForm<T>(request: InboundRequest): InboundParse<T> {
  return malformed(`the body is ${request.contentType || 'untyped'}, not a form`);
}

function malformed<T>(reason: string): InboundParse<T> {
  return { ok: false, reason };
}
