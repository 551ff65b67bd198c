/**
 * The HTTP side every provider adapter shares: one undici pool per configured base URL, a capped
 * response body, and the one decision that must not differ between providers: whether a failed
 * request provably never reached the provider (`connect`: safe to send elsewhere at once) or may
 * have been processed (`response`: a resend may duplicate).
 */
import { Pool } from 'undici';
import type { Logger } from '../log.ts';
import { hostKey, maskedUrl, REDACTED } from '../masked-url.ts';
import { maskNumbersIn } from '../sms/numbers.ts';
import { relayVersion } from '../version.ts';
import type { Gateway, GatewayCapabilities, GatewayOptions, SmsSubmission, SubmissionResult } from './contract.ts';
import { TLS_CERTIFICATE_CODES } from './outcome-reasons.ts';
import { problemDetail } from './problem-details.ts';

/** Enough of a gateway's words (an error page, a refusal's text) to recognise them, without filling logs or bounces. */
export const BODY_DETAIL_CHARS = 200;

/**
 * Send answers are a few KB (IntelliSoftware: one ~40-byte line per recipient, 100 per request;
 * Puzzel: one small JSON object per message). Anything much longer is an error page.
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
  ...TLS_CERTIFICATE_CODES,
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_UNSUPPORTED_PROTOCOL',
  'ERR_SSL_NO_PROTOCOLS_AVAILABLE',
  'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION',
  'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE',
  'ERR_SSL_TLSV1_UNRECOGNIZED_NAME',
  // undici refuses to dispatch on a closed pool before touching any socket
  'UND_ERR_CLOSED',
]);

/**
 * The relay's code for an answer not complete within `gateway.responseTimeout`, named after the setting as
 * SMPP's `SMPP_SUBMIT_TIMEOUT` is after its own: the log line and the stored error tell the operator which
 * setting ran out, where undici's codes (UND_ERR_HEADERS_TIMEOUT, UND_ERR_BODY_TIMEOUT: its own timeouts,
 * set to the same value) name a library's internals and which part of the answer was missing.
 */
const RESPONSE_TIMEOUT = 'RESPONSE_TIMEOUT';
const UNDICI_RESPONSE_TIMEOUTS: ReadonlySet<string> = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/**
 * Sent with every gateway request (RFC 9110 §10.1.5: a client SHOULD): CDNs and firewalls in front of HTTP APIs
 * refuse requests without one (a 403, which reads as a refused account), and the provider's support can find the
 * relay's traffic by it. A provider's own headers cannot drop it.
 */
const USER_AGENT = `smsrelay/${relayVersion()}`;

const FORM_TYPE = 'application/x-www-form-urlencoded';

/**
 * A form POST's headers when the provider adds none of its own (IntelliSoftware, InteractSMS), made once: each
 * request built them anew in two spread copies (#15). The same headers in the same order as with a provider's own.
 */
const FORM_HEADERS: Readonly<Record<string, string>> = Object.freeze({ 'content-type': FORM_TYPE, 'user-agent': USER_AGENT });

/** The part of a provider's gateway options this layer needs. */
export type HttpEndpointOptions = Pick<GatewayOptions, 'endpoints' | 'connectTimeoutMs' | 'responseTimeoutMs' | 'connectionsPerEndpoint'>;

export interface HttpRequest {
  readonly method: 'GET' | 'POST';
  /** Appended to the base URL's path. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

/** An HTTP answer (any status), or the transport failure classified by phase. */
export type HttpOutcome =
  | {
      readonly kind: 'http';
      readonly status: number;
      readonly text: string;
      readonly truncated: boolean;
      readonly retryAfter?: string;
      /**
       * A redirect's `Location`: where the gateway sends the relay instead (gateway.url is not its address), as shown to
       * people (`shownLocation`).
       */
      readonly location?: string;
    }
  | Extract<SubmissionResult, { kind: 'transport' }>;

/**
 * Where the requests to the base URL `base` go: to `origin` (its scheme and host lower-cased, a default port left out),
 * each at its path after `prefix` (the base's path, trailing slashes cut), with `query`; undefined for a URL that is not
 * http(s). Two bases with the same are the same gateway (src/cluster/settings.ts compares them so).
 */
export function sentTo(base: string): { readonly origin: string; readonly prefix: string; readonly query: string } | undefined {
  const url = new URL(base);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  // The query is sent as written with every request (a proxy's or API gateway's token in front of the provider,
  // `?apikey=`): no provider's send path carries a query of its own. Credentials (`user:pass@`) the configuration refuses.
  return { origin: url.origin, prefix: url.pathname.replace(/\/+$/, ''), query: url.search };
}

/** The base URLs of one provider account, primary first, each with its own connection pool. */
export class HttpEndpoints {
  /** Base URLs as shown to people (logs, SMS histories, status): as configured, their query values masked (maskedUrl). */
  readonly labels: readonly string[];
  /** Each base URL told apart exactly, with no secret in it (Gateway.hostKeys): two labels may be one. */
  readonly keys: readonly string[];
  readonly #endpoints: ReadonlyArray<{ readonly pool: Pool; readonly origin: string; readonly prefix: string; readonly query: string }>;
  readonly #provider: string;
  readonly #responseTimeoutMs: number;
  #closing: Promise<void> | undefined;

  /** `provider` names it in errors; `options.endpoints` are the base URLs, primary first. */
  constructor(provider: string, options: HttpEndpointOptions) {
    if (options.endpoints.length === 0) throw new RangeError(`${provider}: at least one endpoint is required`);
    this.#provider = provider;
    this.#responseTimeoutMs = options.responseTimeoutMs;
    const opened = options.endpoints.map((base) => {
      const sent = sentTo(base);
      if (sent === undefined) throw new RangeError(`${provider}: endpoint must be http(s): ${new URL(base).protocol}`);
      const { origin, prefix, query } = sent;
      const pool = new Pool(origin, {
        connections: options.connectionsPerEndpoint,
        // One request per connection at a time: a send is not idempotent, and a connection lost with
        // several pipelined sends on it would leave every one of them in doubt.
        pipelining: 1,
        connect: { timeout: options.connectTimeoutMs },
        headersTimeout: options.responseTimeoutMs,
        bodyTimeout: options.responseTimeoutMs,
      });
      return { pool, origin, prefix, query, label: maskedUrl(base), key: hostKey(provider, base) };
    });
    this.#endpoints = opened;
    this.labels = opened.map((endpoint) => endpoint.label);
    this.keys = opened.map((endpoint) => endpoint.key);
  }

  /** A form POST (`application/x-www-form-urlencoded`), as the gateways' send APIs take it, with any headers of the provider's own. */
  postForm(index: number, path: string, form: URLSearchParams, headers?: Readonly<Record<string, string>>): Promise<HttpOutcome> {
    const sent = headers === undefined ? FORM_HEADERS : { 'content-type': FORM_TYPE, ...headers, 'user-agent': USER_AGENT };
    return this.#send(index, 'POST', path, sent, form.toString());
  }

  /**
   * Sends one request to endpoint `index`; never throws for network trouble, reports it. Dispatched
   * with a handler of its own rather than `pool.request`: that one wraps every answer in an async
   * resource, a header object and a readable stream read back chunk by chunk, which the relay
   * paid per SMS request (#15: undici was 13% of the main thread's time under load). The bytes on
   * the wire are the same.
   */
  request(index: number, request: HttpRequest): Promise<HttpOutcome> {
    return this.#send(index, request.method, request.path, { ...request.headers, 'user-agent': USER_AGENT }, request.body);
  }

  /** `headers`: every header sent, the user agent's among them. */
  #send(index: number, method: HttpRequest['method'], path: string, headers: Readonly<Record<string, string>>, body: string | undefined): Promise<HttpOutcome> {
    const endpoint = this.#endpoints[index];
    if (endpoint === undefined) return Promise.reject(new RangeError(`${this.#provider}: no endpoint #${index}`));
    return new Promise((resolve) => {
      const target = `${endpoint.prefix}${path}${endpoint.query}`;
      const answer = new CappedAnswer(resolve, this.#responseTimeoutMs, `${endpoint.origin}${target}`);
      try {
        endpoint.pool.dispatch({ method, path: target, headers, ...(body === undefined ? {} : { body }) }, answer);
      } catch (error) {
        answer.onError(error);
      }
    });
  }

  /**
   * Ends every connection at once, aborting requests still in flight: the relay closes its gateways
   * only after the dispatcher waited for them as long as the stop allows, and the next start sends
   * what they carried again (counted as possible duplicates).
   */
  close(): Promise<void> {
    this.#closing ??= Promise.all(this.#endpoints.map((endpoint) => endpoint.pool.destroy())).then(() => undefined);
    return this.#closing;
  }
}

/**
 * The lifecycle of a gateway that opens a connection per request: nothing to set up before the first
 * send (its pools connect on demand), and nothing received outside the relay's webhooks. Its health
 * is each send's own answer, which the dispatcher already acts on.
 */
const HTTP_LIFECYCLE: Pick<Gateway, 'start' | 'health'> = {
  start: () => Promise.resolve(),
  health: () => ({ ok: true }),
};

/** What an HTTP provider does with one checked submission: `log` is its logger for that message. */
type HttpSend = (submission: SmsSubmission, endpointIndex: number, log: Logger) => Promise<SubmissionResult>;

/**
 * The Gateway of a provider spoken to over HTTP through `endpoints`, with HTTP_LIFECYCLE: each
 * submission is checked against the capabilities' recipient limit (assertRecipients) before `send`.
 */
export function httpGateway(
  provider: string,
  options: Pick<GatewayOptions, 'logger'>,
  endpoints: HttpEndpoints,
  capabilities: GatewayCapabilities,
  send: HttpSend,
): Gateway {
  const logger = options.logger.child({ provider });
  return {
    provider,
    capabilities,
    endpoints: endpoints.labels,
    hostKeys: endpoints.keys,
    ...HTTP_LIFECYCLE,
    async send(submission, endpointIndex) {
      assertRecipients(provider, submission.recipients, capabilities.maxRecipientsPerRequest);
      return send(submission, endpointIndex, logger.child({ msgId: submission.messageId }));
    },
    close: () => endpoints.close(),
  };
}

/**
 * A submission with no number, too many for one request, or one number twice is a caller's bug to
 * surface, not a provider answer to report.
 */
function assertRecipients(provider: string, recipients: readonly string[], max: number): void {
  const count = recipients.length;
  if (count === 0 || count > max) throw new RangeError(`${provider}: ${count} recipients (1–${max} per request)`);
  if (new Set(recipients).size !== count) throw new RangeError(`${provider}: recipients must be distinct`);
}

/** The debug line each adapter writes per request: where, how many numbers, how it ended, how long. */
export function logRequest(
  log: Logger,
  provider: string,
  request: { readonly endpoint: string | undefined; readonly recipients: number; readonly started: number },
  outcome: HttpOutcome,
  result: SubmissionResult,
  extra: Record<string, unknown> = {},
): void {
  // Every request's, built for nothing at info (a dozen fields and a masking pass): only when debug is on.
  if (!log.isLevelEnabled('debug')) return;
  log.debug(
    {
      endpoint: request.endpoint,
      recipients: request.recipients,
      ...extra,
      ...(outcome.kind === 'http' ? { status: outcome.status } : {}),
      ms: Math.round(performance.now() - request.started),
      kind: result.kind,
      ...(result.kind === 'answered' ? {} : { code: maskNumbersIn(result.code) }),
    },
    `${provider}: send`,
  );
}

/**
 * A 2xx answer no grammar of the provider fits, reported with enough of the body to recognise it.
 * Only for a 2xx: the gateway took the request, so the SMS may have gone (a non-2xx is `httpRefusal`).
 */
export function unparseable(body: string): SubmissionResult {
  return { kind: 'refused', code: 'UNPARSEABLE', detail: body.slice(0, BODY_DETAIL_CHARS) };
}

/**
 * A non-2xx status the provider's grammar does not cover, with its `Retry-After`; the detail is the
 * start of the body unless the adapter read a better one from it (`detail`).
 */
export function httpRefusal(outcome: Extract<HttpOutcome, { kind: 'http' }>, detail = refusalDetail(outcome)): SubmissionResult {
  return {
    kind: 'refused',
    code: `HTTP_${outcome.status}`,
    ...(detail ? { detail } : {}),
    ...(outcome.retryAfter === undefined ? {} : { retryAfter: outcome.retryAfter }),
  };
}

/**
 * A redirect names where it leads (the body of one is a server's boilerplate); a refusal in RFC 7807's JSON, its
 * words (problemDetail); any other, the start of its body.
 */
function refusalDetail(outcome: Extract<HttpOutcome, { kind: 'http' }>): string {
  if (outcome.location !== undefined) return `redirected to ${outcome.location}`.slice(0, BODY_DETAIL_CHARS);
  return (outcome.truncated ? undefined : problemDetail(outcome.text))?.slice(0, BODY_DETAIL_CHARS) ?? outcome.text.trim().slice(0, BODY_DETAIL_CHARS);
}

/**
 * A redirect's `Location` as shown to people, read against the URL asked for (`url`): with its query values and any
 * credentials masked (maskedUrl), as a redirect that keeps the path keeps the query the relay was sent with, a proxy's
 * token among them (`return 301 https://$host$request_uri`). `***` for one that is no URL.
 */
function shownLocation(location: string, url: string): string {
  try {
    return maskedUrl(new URL(location, url).href);
  } catch {
    return REDACTED;
  }
}

/**
 * undici's handler for one request: the status and the body up to MAX_RESPONSE_BODY_BYTES (a longer
 * body ends the request, as an error page would be read no further), then one outcome. A transport
 * error reported after the outcome (the abort of a body too long) changes nothing.
 *
 * The whole answer, headers and body, must come within `responseTimeoutMs` of the request being
 * written: undici's own body timeout starts again with every chunk, so a gateway trickling a byte a
 * second would hold a request slot (and, with all of them, all sending) for as long as it likes.
 */
class CappedAnswer {
  readonly #resolve: (outcome: HttpOutcome) => void;
  readonly #responseTimeoutMs: number;
  /** The URL asked for, which a relative `Location` is read against. */
  readonly #url: string;
  readonly #chunks: Buffer[] = [];
  #size = 0;
  #status = 0;
  #retryAfter: string | undefined;
  #location: string | undefined;
  #abort: ((reason?: Error) => void) | undefined;
  #deadline: NodeJS.Timeout | undefined;
  #settled = false;

  constructor(resolve: (outcome: HttpOutcome) => void, responseTimeoutMs: number, url: string) {
    this.#resolve = resolve;
    this.#responseTimeoutMs = responseTimeoutMs;
    this.#url = url;
  }

  onConnect(abort: (reason?: Error) => void): void {
    this.#abort = abort;
    this.#deadline ??= setTimeout(() => this.#giveUp(), this.#responseTimeoutMs);
  }

  /** The deadline passed: reported as undici's own timeouts are (RESPONSE_TIMEOUT), the detail naming the part still missing. */
  #giveUp(): void {
    const late = this.#status === 0 ? 'headers' : 'body';
    const error = Object.assign(new Error(`the gateway's answer (${late}) was not complete within ${this.#responseTimeoutMs} ms`), {
      code: RESPONSE_TIMEOUT,
    });
    this.#settle(transportFailure(error));
    this.#abort?.(error);
  }

  onHeaders(statusCode: number, headers: Buffer[] | null): boolean {
    // 1xx (103 Early Hints) precede the answer; the final status comes with its own headers.
    if (statusCode < 200) return true;
    this.#status = statusCode;
    // Retry-After (429, 503) and Location (3xx) only matter with a refusal: a 2xx's headers, every SMS's, are not read.
    if (statusCode < 300) return true;
    // undici's raw headers: name, value, name, value…
    for (let index = 0; headers && index + 1 < headers.length; index += 2) {
      const name = headers[index]?.toString('latin1').toLowerCase();
      const value = headers[index + 1]?.toString('latin1').trim();
      if (name === 'retry-after') this.#retryAfter = value;
      if (name === 'location' && statusCode < 400 && value !== undefined) this.#location = shownLocation(value, this.#url);
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    if (this.#size <= MAX_RESPONSE_BODY_BYTES) return true;
    this.#settle(this.#answer(Buffer.concat(this.#chunks).toString('utf8'), true));
    this.#abort?.(new Error(`response body longer than ${MAX_RESPONSE_BODY_BYTES} bytes`));
    return false;
  }

  onComplete(): void {
    this.#settle(this.#answer(Buffer.concat(this.#chunks, this.#size).toString('utf8'), false));
  }

  #answer(text: string, truncated: boolean): HttpOutcome {
    return {
      kind: 'http',
      status: this.#status,
      text,
      truncated,
      ...(this.#retryAfter ? { retryAfter: this.#retryAfter } : {}),
      ...(this.#location ? { location: this.#location } : {}),
    };
  }

  onError(error: unknown): void {
    this.#settle(transportFailure(error));
  }

  #settle(outcome: HttpOutcome): void {
    if (this.#settled) return;
    this.#settled = true;
    clearTimeout(this.#deadline);
    this.#resolve(outcome);
  }
}

function transportFailure(error: unknown): Extract<SubmissionResult, { kind: 'transport' }> {
  const raw = errorCode(error);
  const code = UNDICI_RESPONSE_TIMEOUTS.has(raw) ? RESPONSE_TIMEOUT : raw;
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
