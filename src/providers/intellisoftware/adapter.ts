/**
 * IntelliSoftware (IntelliSMS) legacy HTTP interface: a form POST to `sendmsg.aspx`, answered with
 * a text/plain body of `ID:`/`ERR:` lines (IntelliSoftware's HTTP interface documentation). This module only speaks the wire
 * format: what a code means (retry, fail over, bounce) is decided by its outcome rules (outcomes.ts).
 */
import type { Logger } from '../../log.ts';
import { maskNumber, toInternationalDigits } from '../../sms/numbers.ts';
import { nationalSenderAmong } from '../../sms/senders.ts';
import { sendEachAlone } from '../each-alone.ts';
import { BODY_DETAIL_CHARS, HttpEndpoints, httpGateway, type HttpOutcome, httpRefusal, logRequest, unparseable } from '../http-endpoint.ts';
import type { Gateway, GatewayCapabilities, GatewayOptions, RecipientResult, SmsSubmission, SubmissionResult } from '../contract.ts';

export const PROVIDER = 'intellisoftware';

/** The vendor documents "a maximum of 100 numbers" in `to`. */
const MAX_RECIPIENTS_PER_REQUEST = 100;

/**
 * The vendor documents no ceiling for `maxconcat`; its Java SDK cuts `text` at 800 characters and
 * `hex` at 400 UTF-16 units, and both need up to 6 concatenated parts (153 septets / 67 units each).
 */
const MAX_PARTS = 6;

const SEND_PATH = '/smsgateway/sendmsg.aspx';
/** The result code of an `ID:` line: the gateway took the SMS. */
const ACCEPTED = 'ID';

export const INTELLISOFTWARE_CAPABILITIES: GatewayCapabilities = {
  maxRecipientsPerRequest: MAX_RECIPIENTS_PER_REQUEST,
  maxParts: MAX_PARTS,
};

/** Base URLs may carry a path prefix (e.g. `https://www.intellisoftware.co.uk/gw`); `accountId` and `sessions` mean nothing here. */
export function createIntelliSoftwareGateway(options: GatewayOptions): Gateway {
  const endpoints = new HttpEndpoints(PROVIDER, options);
  // `post` is made once per gateway, not as a closure per request: tsx names each closure it makes (esbuild's keepNames,
  // an Object.defineProperty), ~1.5 µs each (#15).
  async function post(submission: SmsSubmission, endpointIndex: number, log: Logger, recipients: readonly string[]): Promise<SubmissionResult> {
    const started = performance.now();
    const outcome = await endpoints.postForm(endpointIndex, SEND_PATH, buildSendForm({ ...submission, recipients }, options));
    const result = toResult(outcome, recipients, log);
    logRequest(log, PROVIDER, { endpoint: endpoints.labels[endpointIndex], recipients: recipients.length, started }, outcome, result);
    return result;
  }
  return httpGateway(PROVIDER, options, endpoints, INTELLISOFTWARE_CAPABILITIES, async (submission, endpointIndex, log) => {
    const result = await post(submission, endpointIndex, log, submission.recipients);
    if (!numberRefusedUnnamed(result, submission.recipients)) return result;
    log.info(
      { recipients: submission.recipients.length, code: result.code },
      'intellisoftware: the gateway refused a number of a request with several without naming it; sending each alone to learn which',
    );
    return sendEachAlone(
      submission.recipients,
      async (alone) => ownRefusal(await post(submission, endpointIndex, log, alone), alone),
      (entry) => entry.code === ACCEPTED,
    );
  });
}

/** The whole-request refusal that is about one of its numbers: which one, a single line does not say. */
const INVALID_NUMBER = 'ERR:INVALID_NUMBER';

/**
 * Whether a request of several numbers was refused by a single `ERR:INVALID_NUMBER` line (the whole-submission
 * form): some number in it cannot be routed, not which, and the gateway took none of them. The other
 * whole-request codes are about the account or the request (its text, a missing field) and concern every number
 * alike: they stand for all of them.
 */
function numberRefusedUnnamed(result: SubmissionResult, recipients: readonly string[]): result is Extract<SubmissionResult, { kind: 'refused' }> {
  return recipients.length > 1 && result.kind === 'refused' && result.code === INVALID_NUMBER;
}

/** A request of one number refused as an invalid number is that number's refusal: it bounces alone, the others go on. */
function ownRefusal(result: SubmissionResult, recipients: readonly string[]): SubmissionResult {
  const [number] = recipients;
  if (number === undefined || recipients.length > 1 || result.kind !== 'refused' || result.code !== INVALID_NUMBER) return result;
  return { kind: 'answered', results: [{ number, code: result.code, ...(result.detail ? { detail: result.detail } : {}) }] };
}

function toResult(outcome: HttpOutcome, recipients: readonly string[], logger: Logger): SubmissionResult {
  if (outcome.kind === 'transport') return outcome;
  if (outcome.status < 200 || outcome.status > 299) return httpRefusal(outcome);
  if (outcome.truncated) return unparseable(outcome.text);
  return parseSendReply(outcome.text, recipients, logger);
}

/** The request form (IntelliSoftware's HTTP interface documentation). URLSearchParams percent-encodes UTF-8, as the gateway expects. */
function buildSendForm(submission: SmsSubmission, credentials: { readonly username: string; readonly password: string }): URLSearchParams {
  const form = new URLSearchParams();
  form.set('username', credentials.username);
  form.set('password', credentials.password);
  form.set('to', submission.recipients.map(toInternationalDigits).join(','));
  if (submission.senderId) form.set('from', submission.senderId);
  if (submission.encoding === 'ucs2') {
    form.set('type', '2');
    form.set('hex', utf16BeHex(submission.text));
  } else {
    form.set('text', submission.text);
  }
  // The gateway's default is 1 part: without this, long texts are cut or refused.
  form.set('maxconcat', String(submission.maxParts));
  if (submission.userContext) form.set('usercontext', submission.userContext);
  if (submission.deliveryReport) form.set('delrpt', '1');
  return form;
}

/** UTF-16 code units (emoji are surrogate pairs: two units) as upper-case big-endian hex. */
function utf16BeHex(text: string): string {
  let hex = '';
  for (let index = 0; index < text.length; index++) {
    hex += text.charCodeAt(index).toString(16).toUpperCase().padStart(4, '0');
  }
  return hex;
}

/** The code of a number whose line of a multi-number answer has a result no grammar fits. */
const UNREADABLE_LINE = 'UNPARSEABLE';

const ID_RESULT = /^ID:([^\s,]+)$/;
const ERR_RESULT = /^(ERR:[A-Z0-9_]+)(?:\s+(.*))?$/;
const DELAY_RESULT = /^DELAY:\d+$/;
const RECIPIENT_LINE = /^([^,\s]+)\s*,\s*(.+)$/;

type LineResult = { readonly id: string } | { readonly code: string; readonly detail?: string };

/**
 * The documented reply grammar: one line `ID:`/`ERR:`/`DELAY:` for a single recipient or a
 * whole-request failure, else one `<msisdn>,<result>` line per recipient. A bare `ID:` line
 * answering several numbers is read as the single-recipient form for all of them: the gateway took
 * the request, and sending it again would duplicate every SMS in it (README). Lines are matched to the
 * submitted numbers by digits (replyDigits: a number written nationally too), never by position: the gateway
 * renormalises and deduplicates them.
 * Each line speaks for its own number only: one whose result cannot be read makes that number
 * `UNPARSEABLE` (the gateway may have sent it), while the numbers it confirmed are sent and those it
 * refused are refused. A line with no number, or with a national one that is more than one submitted number
 * (replyDigits), cannot be placed: the numbers left without a line are
 * `MISSING_RESULT`, with the answer's start as its detail. Only a body with no line for any submitted number is unparseable as a whole.
 */
function parseSendReply(body: string, recipients: readonly string[], logger: Logger): SubmissionResult {
  const lines = body
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const [first] = lines;
  if (first === undefined) return unparseable(body);
  if (lines.length === 1 && !first.includes(',')) {
    return parseWholeRequestLine(first, recipients) ?? unparseable(body);
  }

  const byNumber = new Map<string, LineResult>();
  for (const line of lines) {
    const match = RECIPIENT_LINE.exec(line);
    if (match?.[1] === undefined || match[2] === undefined) continue;
    const digits = replyDigits(match[1], recipients);
    if (digits === undefined) {
      logger.warn(
        { number: maskNumber(match[1]) },
        'intellisoftware: a reply line writes its number nationally as more than one submitted number (each in its own country); placed on neither',
      );
      continue;
    }
    if (!byNumber.has(digits)) byNumber.set(digits, parseLineResult(match[2]) ?? { code: UNREADABLE_LINE, detail: match[2] });
  }

  const submitted = new Set(recipients.map(toInternationalDigits));
  if (![...submitted].some((digits) => byNumber.has(digits))) return unparseable(body);
  const unexpected = [...byNumber.keys()].filter((digits) => !submitted.has(digits));
  if (unexpected.length > 0) {
    logger.warn({ numbers: unexpected.map((digits) => maskNumber(`+${digits}`)) }, 'intellisoftware: reply names numbers that were not submitted; ignored');
  }
  return {
    kind: 'answered',
    results: recipients.map((number) => recipientResult(number, byNumber.get(toInternationalDigits(number)), body)),
  };
}

function parseWholeRequestLine(line: string, recipients: readonly string[]): SubmissionResult | undefined {
  if (DELAY_RESULT.test(line)) return { kind: 'refused', code: line };
  const result = parseLineResult(line);
  if (result === undefined) return undefined;
  if ('code' in result) return { kind: 'refused', ...result };
  return {
    kind: 'answered',
    results: recipients.map((number) => ({ number, code: ACCEPTED, providerId: result.id })),
  };
}

function parseLineResult(text: string): LineResult | undefined {
  const id = ID_RESULT.exec(text)?.[1];
  if (id !== undefined) return { id };
  const error = ERR_RESULT.exec(text);
  if (error?.[1] === undefined) return undefined;
  return error[2] ? { code: error[1], detail: error[2] } : { code: error[1] };
}

/** A number's result from its line; one with no line carries the answer's start, what the gateway said instead. */
function recipientResult(number: string, line: LineResult | undefined, answer: string): RecipientResult {
  if (line === undefined) return { number, code: 'MISSING_RESULT', detail: answer.slice(0, BODY_DETAIL_CHARS) };
  if ('id' in line) return { number, code: ACCEPTED, providerId: line.id };
  return { number, ...line };
}

/**
 * A line's number as the submitted number's digits. The gateway may answer `+44…` or `0044…` for a submitted `44…`, or
 * write it nationally (`07700…`), as its reports and replies do. Its answer names only numbers the relay sent
 * (international digits), so a leading `00` is always their prefix: this wire format needs none of writtenNumber's
 * care for ids others write (a short code's own zeros); and a national number is the submitted one it is in that
 * number's own country, as a reply's sender is read (nationalSenderAmong). Undefined when it is more than one of them
 * (`0612345678` for a French and a Dutch number): the line cannot say which number it refused or took, so it places
 * neither, and each is left without a line (MISSING_RESULT; the answer unparseable when no line places any number),
 * never refused or sent on the other's word.
 */
function replyDigits(number: string, recipients: readonly string[]): string | undefined {
  if (number.startsWith('+')) return number.slice(1);
  if (number.startsWith('00')) return number.slice(2);
  const national = nationalSenderAmong(number, recipients);
  if (national.kind === 'ambiguous') return undefined;
  return national.kind === 'one' ? toInternationalDigits(national.number) : number;
}
