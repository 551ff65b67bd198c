/**
 * What InteractSMS posts to the relay: received SMS (MO) and delivery receipts (DLR) as form posts,
 * signed with an MD5 `SMS-Verify` when the account has a secret.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import iconv from 'iconv-lite';
import { readReportNumber, readSender } from '../../sms/senders.ts';
import type { ReceivedSms, WrittenReport } from '../../vocabulary.ts';
import { batchParse, gatewayTime, type InboundParse, type InboundRequest } from '../contract.ts';
import { messageIdOfKey } from '../../random-ids.ts';

type Fields = ReadonlyMap<string, string>;
type FieldsOrReason =
  | { readonly ok: true; readonly fields: Fields; readonly sent: ReadonlyMap<string, Buffer> | undefined }
  | { readonly ok: false; readonly reason: string };

const FORM_MEDIA_TYPE = 'application/x-www-form-urlencoded';
/** A received SMS is at most a few concatenated parts; a longer field is no SMS. */
const MO_TEXT_MAX_CHARS = 10_000;
/** Other systems (the vendor's web interface) may set notify ids; ours are 25 characters. */
const NOTIFY_ID_MAX_ACCEPTED_CHARS = 100;
/**
 * `SMS-TimeStamp` is `yyyy-MM-dd HH:mm:ss` and carries no zone. InteractSMS is Phonovation's gateway in Ireland and its
 * documentation gives times without one: they are read as Irish local time (GMT, or IST in summer: the UK's offsets).
 */
const TIMESTAMP_ZONE = 'Europe/Dublin';
/** The relay's own number or short code (`50123` for opt-outs). */
const OUR_NUMBER = /^\+?\d{3,15}$/;
const COUNT = /^\d{1,9}$/;
const MD5_HEX = /^[0-9a-f]{32}$/i;
/** The received SMS's id: that many hex digits of a SHA-256 (160 bits: no collision in practice). */
const MO_ID_HEX_CHARS = 40;

/** Delivery report codes stored for InteractSMS (its DLR says only True or False). */
export const DLR_DELIVERED = 1;
export const DLR_FAILED = 0;
/** False for several numbers of which some were sent (`SMS-TotalSent` > 0): which ones, the receipt does not say. */
const DLR_SOME_SENT = 2;

/**
 * The charsets in which a signature over the bytes the gateway sent counts: those it writes (UTF-8, and
 * Latin-1 as windows-1252 reads it). Any other charset the sender names would read the same signed bytes
 * as other text (a captured UTF-8 request posted again as koi8-r), so there only the text's own
 * signature counts.
 */
const BYTE_SIGNED_CHARSETS = /^(?:utf-?8|us-ascii|ascii|iso-?8859-1|iso_8859-1|latin-?1|l1|windows-1252|cp1252|cp819|ibm819)$/i;

/**
 * The form fields of a webhook post, names in lower case: the gateway is an ASP.NET platform and its
 * two documents spell the same field differently (`SMS-NotifyId` / `SMS-NotifyID`). A field sent
 * twice is refused: the signature and the parse must read the same value. One split of the body gives
 * both each field's text (its bytes in the body's charset) and, for `verify`, the bytes it was sent
 * as: the fields an SMS is built from are the fields signed.
 */
function readFields(request: InboundRequest): FieldsOrReason {
  if (request.contentType !== FORM_MEDIA_TYPE && request.contentType !== '') {
    return { ok: false, reason: `not a form post (${request.contentType.slice(0, 60)})` };
  }
  const form = formFields(request);
  const fields = new Map<string, string>();
  const sent = new Map<string, Buffer>();
  for (const { name, value, bytes } of form.fields) {
    const key = name.toLowerCase();
    if (fields.has(key)) return { ok: false, reason: `field ${name.slice(0, 40)} appears more than once` };
    fields.set(key, value);
    if (bytes) sent.set(key, bytes);
  }
  return { ok: true, fields, sent: form.signsBytes ? sent : undefined };
}

/**
 * A form's fields: from its bytes when the webhook kept them (`+` and %-escapes undone, then read in
 * the body's charset), else from its text. `signsBytes` when a signature over the bytes means the
 * same text: in a charset the gateway writes (BYTE_SIGNED_CHARSETS), not in one (UTF-16) whose bytes
 * read as Latin-1 could spell other fields than its text does, nor in another single-byte one.
 */
function formFields(request: InboundRequest): {
  readonly fields: ReadonlyArray<{ readonly name: string; readonly value: string; readonly bytes?: Buffer }>;
  readonly signsBytes: boolean;
} {
  if (!request.rawBody) return { fields: [...new URLSearchParams(request.body)].map(([name, value]) => ({ name, value })), signsBytes: false };
  const charset = request.charset ?? 'utf-8';
  const fields = request.rawBody
    .toString('latin1')
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => {
      const at = pair.indexOf('=');
      const bytes = formBytes(at < 0 ? '' : pair.slice(at + 1));
      return { name: iconv.decode(formBytes(at < 0 ? pair : pair.slice(0, at)), charset), value: iconv.decode(bytes, charset), bytes };
    });
  return { fields, signsBytes: BYTE_SIGNED_CHARSETS.test(charset) };
}

function field(fields: Fields, name: string): string | undefined {
  return fields.get(name.toLowerCase());
}

/**
 * A received SMS. One per request. The MO carries no id of its own, yet a retry of the same
 * MO must be recognised as such: its id is derived from the fields a retry repeats unchanged —
 * SHA-256 over the wire values of `SMS-From`, `SMS-To`, `SMS-TimeStamp` (the gateway's receipt
 * time, as written: one the relay cannot read as a time still tells two SMS apart) and `SMS-Content`, joined by LF
 * (content last, the others hold no LF), lower-case hex, the first 40 digits. Two SMS with the same text from the same
 * phone in the same second count as one.
 */
export function parseReceived(request: InboundRequest): InboundParse<ReceivedSms> {
  const read = readFields(request);
  if (!read.ok) return read;
  const { fields } = read;
  const type = field(fields, 'SMS-Type');
  if (!type) return malformed('SMS-Type is missing');
  if (type.toLowerCase() === 'notification') return malformed('a delivery receipt (SMS-Type=Notification), not a received SMS');
  const from = field(fields, 'SMS-From') ?? '';
  const number = readSender(from);
  if (!number) return malformed('SMS-From is missing or not a sender (a number, a short code or a name of up to 11 characters)');
  const to = field(fields, 'SMS-To') ?? '';
  if (!OUR_NUMBER.test(to)) return malformed('SMS-To is missing or not a number');
  const text = field(fields, 'SMS-Content');
  if (text === undefined) return malformed('SMS-Content is missing');
  if (text.length > MO_TEXT_MAX_CHARS) return malformed(`SMS-Content is longer than ${MO_TEXT_MAX_CHARS} characters`);
  // The id is made of it (below): without one, two SMS of the same text from a phone would be one, the second dropped.
  const timestamp = field(fields, 'SMS-TimeStamp') ?? '';
  if (timestamp.trim() === '') return malformed('SMS-TimeStamp is missing: the SMS cannot be told from another of the same text');
  const notifyId = (field(fields, 'SMS-NotifyId') ?? '').trim();
  if (notifyId.length > NOTIFY_ID_MAX_ACCEPTED_CHARS) return malformed(`SMS-NotifyId is longer than ${NOTIFY_ID_MAX_ACCEPTED_CHARS} characters`);
  const providerId = createHash('sha256').update([from, to, timestamp, text].join('\n'), 'utf8').digest('hex').slice(0, MO_ID_HEX_CHARS);
  return {
    ok: true,
    items: [
      {
        providerId,
        number,
        text,
        ...gatewayTime('SMS-TimeStamp', timestamp, TIMESTAMP_ZONE),
        userContext: undefined,
        trackingId: notifyId || undefined,
        // The account's number or short code the phone texted: its mail names it.
        to: readSender(to),
      },
    ],
  };
}

/**
 * A delivery receipt. `SMS-Success` is True only when every part was delivered, so the
 * stored code is 1 (delivered) or 0 (not every part delivered), and the state follows it; the history
 * shows what the gateway said (`SMS-Success=False`, with its counts when it sent them).
 * `SMS-To` names one number; a comma-separated list is read as one report per number. A False for
 * several numbers whose `SMS-TotalSent` is above 0 says some got it without saying which: each is failed
 * with code 2 (DLR_SOME_SENT), whose words tell the sender this number may have got it, rather than a
 * bounce that says for certain it did not (or no word at all of those that did not).
 */
export function parseReport(request: InboundRequest): InboundParse<WrittenReport> {
  const read = readFields(request);
  if (!read.ok) return read;
  const { fields } = read;
  const type = field(fields, 'SMS-Type') ?? '';
  if (type.toLowerCase() !== 'notification') return malformed('SMS-Type is not Notification');
  const providerId = (field(fields, 'SMS-NotifyId') ?? '').trim();
  if (!providerId) return malformed('SMS-NotifyId is missing');
  if (providerId.length > NOTIFY_ID_MAX_ACCEPTED_CHARS) return malformed(`SMS-NotifyId is longer than ${NOTIFY_ID_MAX_ACCEPTED_CHARS} characters`);
  const success = (field(fields, 'SMS-Success') ?? '').toLowerCase();
  if (success !== 'true' && success !== 'false') return malformed('SMS-Success is neither True nor False');
  for (const name of ['SMS-TotalToSend', 'SMS-TotalSent', 'SMS-TotalFailed']) {
    const count = field(fields, name);
    if (count !== undefined && count !== '' && !COUNT.test(count)) return malformed(`${name} is not a count`);
  }
  const numbers: string[] = [];
  const unreadable: string[] = [];
  // One report per number: a number that cannot be read costs only its own report (named by position: reasons are logged).
  for (const [index, digits] of (field(fields, 'SMS-To') ?? '').split(',').entries()) {
    const number = readReportNumber(digits.trim());
    if (number) numbers.push(number);
    else unreadable.push(`SMS-To number ${index + 1} is missing or not a phone number`);
  }
  const delivered = success === 'true';
  const someSent = new Set(numbers).size > 1 && Number(field(fields, 'SMS-TotalSent') || 0) > 0;
  const code = delivered ? DLR_DELIVERED : someSent ? DLR_SOME_SENT : DLR_FAILED;
  const state = delivered ? 'delivered' : 'failed';
  const counts = ['SMS-TotalToSend', 'SMS-TotalSent', 'SMS-TotalFailed'].flatMap((name) => {
    const count = field(fields, name);
    return count ? [`${name}=${count}`] : [];
  });
  const said = [statusCode(code), ...counts].join(', ');
  return batchParse(
    [...new Set(numbers)].map((number) => ({ providerId, number, code, state, said, messageId: messageIdOfKey(providerId), trackingId: providerId })),
    unreadable,
  );
}

/** The formulas `verify` knows (InteractSMS's developer documentation). */
export const VERIFY_FORMULAS = ['portal', 'kb'] as const;
export type VerifyFormula = (typeof VERIFY_FORMULAS)[number];

/**
 * `SMS-Verify`: lower-case hex MD5 over a plain concatenation of wire values and a secret (UTF-8). The
 * values are taken both as text in UTF-8 and as the bytes the gateway sent (`rawBody`, its %-escapes
 * undone), the same fields the SMS or report is read from: a gateway writing Latin-1 signs its own
 * bytes, and the charset the body names (or not) is checked after the signature, so that Latin-1
 * under `charset=utf-8` is quarantined as such, not forged. The bytes count only in UTF-8 or a
 * single-byte charset that writes ASCII as ASCII (formFields): a captured signature over some bytes
 * must not sign other text by a charset (UTF-16) that reads them otherwise.
 * - `portal` (developer portal, current): DLR = NotifyId + Success + secret; MO = From + Content + secret.
 * - `kb` (older knowledge base): NotifyID + Success + Password for both (an MO has no SMS-Success:
 *   it counts as empty, and its NotifyId is empty unless it answers an SMS).
 * A missing or malformed `SMS-Verify` is false; an unknown formula is a configuration bug (throws).
 */
export function verify(request: InboundRequest, kind: 'mo' | 'dr', secret: string, formula: string): boolean {
  if (!isVerifyFormula(formula)) {
    throw new RangeError(`interactsms: unknown SMS-Verify formula "${formula}" (expected ${VERIFY_FORMULAS.join(' or ')})`);
  }
  const read = readFields(request);
  if (!read.ok) return false;
  const { fields, sent } = read;
  const given = field(fields, 'SMS-Verify') ?? '';
  if (!MD5_HEX.test(given)) return false;
  const names = formula === 'portal' && kind === 'mo' ? ['SMS-From', 'SMS-Content'] : ['SMS-NotifyId', 'SMS-Success'];
  const asText = Buffer.from(names.map((name) => field(fields, name) ?? '').join(''), 'utf8');
  const asSent = sent && Buffer.concat(names.map((name) => sent.get(name.toLowerCase()) ?? Buffer.alloc(0)));
  const signs = (value: Buffer) => {
    const expected = createHash('md5').update(value).update(secret, 'utf8').digest('hex');
    return timingSafeEqual(Buffer.from(expected, 'utf8'), Buffer.from(given.toLowerCase(), 'utf8'));
  };
  // Both compared, so the time taken does not tell which form a forger got right.
  const [text, bytes] = [signs(asText), asSent !== undefined && signs(asSent)];
  return text || bytes;
}

/** One form part's bytes: `+` a space, `%XX` the byte it stands for (the part read as latin1, a character per byte). */
function formBytes(part: string): Buffer {
  return Buffer.from(
    part.replace(/\+/g, ' ').replace(/%([0-9A-Fa-f]{2})/g, (_escape, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))),
    'latin1',
  );
}

function isVerifyFormula(formula: string): formula is VerifyFormula {
  return (VERIFY_FORMULAS as readonly string[]).includes(formula);
}

export function describeStatus(code: number): string {
  if (code === DLR_DELIVERED) return 'delivered to the phone';
  if (code === DLR_FAILED) return 'InteractSMS reports it not delivered to the phone (not every part of it arrived)';
  if (code === DLR_SOME_SENT) return 'InteractSMS reports only some of the numbers it was sent to got it, not which: this one may have got it';
  return `InteractSMS delivery status ${code}`;
}

/** The receipt's code as InteractSMS said it: it has none of its own, only `SMS-Success`. */
export function statusCode(code: number): string | undefined {
  if (code === DLR_DELIVERED) return 'SMS-Success=True';
  if (code === DLR_FAILED || code === DLR_SOME_SENT) return 'SMS-Success=False';
  return undefined;
}

function malformed<T>(reason: string): InboundParse<T> {
  return { ok: false, reason };
}
