/**
 * IntelliSoftware (IntelliSMS) legacy HTTP interface: a form POST to `sendmsg.aspx`, answered with
 * a text/plain body of `ID:`/`ERR:` lines (PROTOCOLS.md §1.2). This module only speaks the wire
 * format: what a code means (retry, fail over, bounce) is decided by the outcome table.
 */
import { Pool } from 'undici';
import type { Logger } from '../log.ts';
import { maskNumber, toInternationalDigits } from '../sms/numbers.ts';
import type { Gateway, RecipientResult, SmsSubmission, SubmissionResult } from './types.ts';

export interface IntelliSoftwareGatewayOptions {
  /** Base URLs, primary first (e.g. `https://www.intellisoftware.co.uk`); may carry a path prefix. */
  readonly endpoints: readonly string[];
  readonly username: string;
  readonly password: string;
  readonly connectTimeoutMs: number;
  readonly responseTimeoutMs: number;
  readonly connectionsPerEndpoint: number;
  readonly logger: Logger;
}

const PROVIDER = 'intellisoftware';

/** The vendor documents "a maximum of 100 numbers" in `to`. */
const MAX_RECIPIENTS_PER_REQUEST = 100;

/**
 * The vendor documents no ceiling for `maxconcat`; its Java SDK cuts `text` at 800 characters and
 * `hex` at 400 UTF-16 units, and both need up to 6 concatenated parts (153 septets / 67 units each).
 */
const MAX_PARTS = 6;

const SEND_PATH = '/smsgateway/sendmsg.aspx';

/** Enough of an unexpected body (error page, unknown reply) to recognise it, without filling logs. */
const BODY_DETAIL_CHARS = 200;

/**
 * A full answer is one line of about 40 bytes per recipient (100 × 40 ≈ 4 KB). Anything much longer
 * is an error page; reading on would only cost memory.
 */
const MAX_RESPONSE_BODY_BYTES = 64 * 1024;

/**
 * Failures that prove the request never reached the gateway, so the SMS can go to the backup at
 * once without risking a duplicate: the name did not resolve, the TCP connection was refused or
 * unreachable, or it (or the TLS handshake, which undici counts in its connect timeout) did not
 * complete, so no byte of the HTTP request was written. Everything else — resets, socket closes,
 * header/body timeouts — may come after the gateway processed the request and is reported as
 * `phase: 'response'`. Codes not listed fall on that conservative side, so only handshake-time TLS
 * codes are here (an `ERR_SSL_*` alert can also arrive mid-stream).
 */
const CONNECT_PHASE_CODES: ReadonlySet<string> = new Set([
  // DNS
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_FAIL',
  // TCP
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  // TLS handshake: certificate verification and protocol negotiation
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_UNSUPPORTED_PROTOCOL',
  'ERR_SSL_NO_PROTOCOLS_AVAILABLE',
  'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION',
  'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE',
  'ERR_SSL_TLSV1_UNRECOGNIZED_NAME',
  // undici refuses to dispatch on a closed pool before touching any socket
  'UND_ERR_CLOSED',
]);

interface Endpoint {
  /** The base URL as configured, for logs (credentials in it, if any, removed). */
  readonly label: string;
  readonly pool: Pool;
  readonly sendPath: string;
}

export function createIntelliSoftwareGateway(options: IntelliSoftwareGatewayOptions): Gateway {
  if (options.endpoints.length === 0) throw new RangeError('intellisoftware: at least one endpoint is required');
  const endpoints = options.endpoints.map((base) => openEndpoint(base, options));
  const logger = options.logger.child({ provider: PROVIDER });
  let closing: Promise<void> | undefined;

  return {
    provider: PROVIDER,
    capabilities: { maxRecipientsPerRequest: MAX_RECIPIENTS_PER_REQUEST, maxParts: MAX_PARTS },
    endpoints: [...options.endpoints],
    async send(submission, endpointIndex) {
      const endpoint = endpoints[endpointIndex];
      if (endpoint === undefined) throw new RangeError(`intellisoftware: no endpoint #${endpointIndex}`);
      assertSubmissionFits(submission);
      const log = logger.child({ msgId: submission.messageId });
      const started = performance.now();
      const { result, status } = await submit(endpoint, submission, options, log);
      log.debug(
        {
          endpoint: endpoint.label,
          recipients: submission.recipients.length,
          status,
          ms: Math.round(performance.now() - started),
          kind: result.kind,
          ...(result.kind === 'answered' ? {} : { code: result.code }),
        },
        'intellisoftware: send',
      );
      return result;
    },
    close() {
      closing ??= Promise.all(endpoints.map((endpoint) => endpoint.pool.close())).then(() => undefined);
      return closing;
    },
  };
}

function openEndpoint(base: string, options: IntelliSoftwareGatewayOptions): Endpoint {
  const url = new URL(base);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new RangeError(`intellisoftware: endpoint must be http(s): ${url.protocol}`);
  }
  const prefix = url.pathname.replace(/\/+$/, '');
  const pool = new Pool(url.origin, {
    connections: options.connectionsPerEndpoint,
    // One request per connection at a time: a send is not idempotent, and a connection lost with
    // several pipelined sends on it would leave every one of them in doubt.
    pipelining: 1,
    connect: { timeout: options.connectTimeoutMs },
    headersTimeout: options.responseTimeoutMs,
    bodyTimeout: options.responseTimeoutMs,
  });
  return { label: `${url.origin}${prefix}`, pool, sendPath: `${prefix}${SEND_PATH}` };
}

/** A caller breaking the contract is a bug to surface, not a provider answer to report. */
function assertSubmissionFits(submission: SmsSubmission): void {
  const count = submission.recipients.length;
  if (count === 0 || count > MAX_RECIPIENTS_PER_REQUEST) {
    throw new RangeError(`intellisoftware: ${count} recipients (1–${MAX_RECIPIENTS_PER_REQUEST} per request)`);
  }
}

async function submit(
  endpoint: Endpoint,
  submission: SmsSubmission,
  options: IntelliSoftwareGatewayOptions,
  logger: Logger,
): Promise<{ result: SubmissionResult; status?: number }> {
  try {
    const response = await endpoint.pool.request({
      method: 'POST',
      path: endpoint.sendPath,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: buildSendForm(submission, options).toString(),
    });
    const body = await readBodyCapped(response.body);
    const status = response.statusCode;
    if (status < 200 || status > 299) {
      const detail = body.text.trim().slice(0, BODY_DETAIL_CHARS);
      return { status, result: { kind: 'refused', code: `HTTP_${status}`, ...(detail ? { detail } : {}) } };
    }
    if (body.truncated) return { status, result: unparseable(body.text) };
    return { status, result: parseSendReply(body.text, submission.recipients, logger) };
  } catch (error) {
    return { result: transportFailure(error) };
  }
}

/** The request form (PROTOCOLS §1.2). URLSearchParams percent-encodes UTF-8, as the gateway expects. */
function buildSendForm(
  submission: SmsSubmission,
  credentials: { readonly username: string; readonly password: string },
): URLSearchParams {
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

async function readBodyCapped(
  body: AsyncIterable<Buffer> & { destroy(): unknown },
): Promise<{ text: string; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    if (size > MAX_RESPONSE_BODY_BYTES) {
      body.destroy();
      return { text: Buffer.concat(chunks).toString('utf8'), truncated: true };
    }
  }
  return { text: Buffer.concat(chunks).toString('utf8'), truncated: false };
}

const ID_RESULT = /^ID:([^\s,]+)$/;
const ERR_RESULT = /^(ERR:[A-Z0-9_]+)(?:\s+(.*))?$/;
const DELAY_RESULT = /^DELAY:\d+$/;
const RECIPIENT_LINE = /^([^,\s]+)\s*,\s*(.+)$/;

type LineResult = { readonly id: string } | { readonly code: string; readonly detail?: string };

/**
 * The reply grammar of PROTOCOLS §1.2: one line `ID:`/`ERR:`/`DELAY:` for a single recipient or a
 * whole-request failure, else one `<msisdn>,<result>` line per recipient. Lines are matched to the
 * submitted numbers by digits, never by position: the gateway renormalises and deduplicates them.
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
    const result = match?.[2] === undefined ? undefined : parseLineResult(match[2]);
    if (match?.[1] === undefined || result === undefined) return unparseable(body);
    const digits = normaliseReplyNumber(match[1]);
    if (!byNumber.has(digits)) byNumber.set(digits, result);
  }

  const submitted = new Set(recipients.map(toInternationalDigits));
  const unexpected = [...byNumber.keys()].filter((digits) => !submitted.has(digits));
  if (unexpected.length > 0) {
    logger.warn(
      { numbers: unexpected.map((digits) => maskNumber(`+${digits}`)) },
      'intellisoftware: reply names numbers that were not submitted; ignored',
    );
  }
  return {
    kind: 'answered',
    results: recipients.map((number) => recipientResult(number, byNumber.get(toInternationalDigits(number)))),
  };
}

function parseWholeRequestLine(line: string, recipients: readonly string[]): SubmissionResult | undefined {
  if (DELAY_RESULT.test(line)) return { kind: 'refused', code: line };
  const result = parseLineResult(line);
  if (result === undefined) return undefined;
  if ('code' in result) return { kind: 'refused', ...result };
  return {
    kind: 'answered',
    results: recipients.map((number) => ({ number, status: 'accepted', providerId: result.id })),
  };
}

function parseLineResult(text: string): LineResult | undefined {
  const id = ID_RESULT.exec(text)?.[1];
  if (id !== undefined) return { id };
  const error = ERR_RESULT.exec(text);
  if (error?.[1] === undefined) return undefined;
  return error[2] ? { code: error[1], detail: error[2] } : { code: error[1] };
}

function recipientResult(number: string, line: LineResult | undefined): RecipientResult {
  if (line === undefined) return { number, status: 'rejected', code: 'MISSING_RESULT' };
  if ('id' in line) return { number, status: 'accepted', providerId: line.id };
  return { number, status: 'rejected', ...line };
}

/** The gateway may answer `+44…` or `0044…` for a submitted `44…`. */
function normaliseReplyNumber(number: string): string {
  if (number.startsWith('+')) return number.slice(1);
  if (number.startsWith('00')) return number.slice(2);
  return number;
}

function unparseable(body: string): SubmissionResult {
  return { kind: 'refused', code: 'UNPARSEABLE', detail: body.slice(0, BODY_DETAIL_CHARS) };
}

function transportFailure(error: unknown): SubmissionResult {
  const code = errorCode(error);
  const detail = (error instanceof Error ? error.message : String(error)).trim() || code;
  return { kind: 'transport', phase: CONNECT_PHASE_CODES.has(code) ? 'connect' : 'response', code, detail };
}

/**
 * Node reports a failed multi-address connect (happy eyeballs) as an AggregateError whose own
 * `code` may be missing; undici sometimes wraps the socket error as `cause`.
 */
function errorCode(error: unknown): string {
  if (typeof error !== 'object' || error === null) return 'UNKNOWN';
  const { code, errors, cause, name } = error as Partial<Record<'code' | 'errors' | 'cause' | 'name', unknown>>;
  if (typeof code === 'string' && code !== '') return code;
  if (Array.isArray(errors) && errors.length > 0) return errorCode(errors[0]);
  if (cause !== undefined) return errorCode(cause);
  return typeof name === 'string' && name !== '' ? name : 'UNKNOWN';
}
