import { isUtf8 } from 'node:buffer';
import { createHash, timingSafeEqual } from 'node:crypto';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import iconv from 'iconv-lite';
import { publicBase } from '../config/schema.ts';
import { RelayError, toHttpError } from '../errors.ts';
import { type InboundParse, type InboundRequest, type WebhookProvider, webhookPaths } from '../providers/contract.ts';
import { type Logger, turnedAwayLog } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { halfCharacter } from '../sms/half-characters.ts';
import { forwardedClient, headerList, networkMatcher, peerAddress } from '../policy/networks.ts';
import type { InboundKind, InboundSink, ReceivedSms } from '../vocabulary.ts';

export { webhookPaths };

/** One provider account's webhooks: how its requests read and where they go. */
export interface WebhookReceiver {
  /** How the provider's requests read: its name (the paths), its parsers, its signature check. */
  readonly provider: Pick<WebhookProvider, 'name' | 'parseReceived' | 'parseReport' | 'verify' | 'acknowledge' | 'webhookMethods'>;
  /** The inbound service, bound to this provider: decides and commits everything. */
  readonly sink: InboundSink;
  /** The provider's own signature secret and formula (InteractSMS), when configured. */
  readonly signature: { readonly secret: string; readonly formula: string } | undefined;
}

export interface WebhookOptions {
  /** Every provider whose webhooks the relay answers: they share the guards below, the rate's buckets too. */
  readonly receivers: readonly WebhookReceiver[];
  readonly logger: Logger;
  /** Callers must present it; undefined = no check (loopback demos). */
  readonly token: string | undefined;
  /** The token before `token`, taken beside it while the token is changed (inbound.previousWebhookToken). */
  readonly previousToken?: string | undefined;
  /** Source networks allowed to call; undefined = any. */
  readonly allowedNetworks: readonly string[] | undefined;
  /** Requests per minute from one address over all webhook routes; beyond, 429 (providers retry later). */
  readonly perMinute: number;
  /** Reverse proxies whose X-Forwarded-For names the client (`http.trustedProxies`). */
  readonly trustedProxies: readonly string[];
  /** A header that may carry the token, besides `?token=` and `Authorization: Bearer`. */
  readonly tokenHeader: string | undefined;
  /**
   * The base URL the provider calls the relay's HTTP port by (`gateway.publicUrl`), when a proxy
   * stands between them: URL signatures are checked against it, not against what the relay sees.
   */
  readonly publicUrl?: string | undefined;
  /** Why the relay cannot take data now (the disk is nearly full): a 503, and the provider retries. */
  readonly unavailable?: () => RelayError | undefined;
  /** Counts the requests refused (`smsrelay_webhook_refused_total`). */
  readonly metrics?: Metrics | undefined;
}

/** Why a request was refused as not the provider's: the metric's `reason` label. */
type Refusal = 'browser' | 'network' | 'token' | 'signature';

/**
 * What an operator checks for each refusal: a flood of them (anyone who reaches the port can send one)
 * is the very case the log must not grow with, so each is logged at most once a minute, with a count.
 */
const REFUSAL_LINES: Readonly<Record<Refusal, string>> = {
  browser: 'webhook: refused: sent by a web browser',
  network: 'webhook: refused: not from an allowed network; if the provider sent it, add its addresses to inbound.allowedNetworks',
  token:
    'webhook: refused: missing or wrong token; if the provider sent it, the token in its forwarding URL (or header) must be inbound.webhookToken (SMSRELAY_WEBHOOK_TOKEN)',
  signature:
    "webhook: refused: the provider signature does not match; if the provider sent it, check the account's signing secret and, behind a proxy, gateway.publicUrl",
};

/** Counts a refused request and logs it, at most once a minute per reason. */
type RefusalRecorder = (reason: Refusal, request: FastifyRequest, provider: string, error: RelayError) => void;

function refusalRecorder(options: WebhookOptions, client: (request: FastifyRequest) => string): RefusalRecorder {
  const lines = Object.fromEntries(
    Object.entries(REFUSAL_LINES).map(([reason, message]) => [reason, turnedAwayLog(options.logger, Date.now, message)]),
  ) as Record<Refusal, ReturnType<typeof turnedAwayLog>>;
  return (reason, request, provider, error) => {
    options.metrics?.webhookRefused.inc({ provider, reason });
    lines[reason](error, client(request), { provider, path: request.url.split('?')[0], ...(request.headers.origin ? { origin: request.headers.origin } : {}) });
  };
}

/**
 * The provider's forwarding endpoints: they check who calls and translate requests to the inbound
 * sink and its outcomes to answers. Providers retry anything but a 200 (IntelliSoftware every
 * 5 minutes, for ever): so a 200 means "durably stored" (or "seen before"), a request that cannot be
 * understood is kept in quarantine and answered 200 too, and only a store outage is a 503 (the retry
 * then keeps the SMS). A missing or wrong token is a 401, a forged signature a 403: operator matters.
 * A request with several SMS or reports (Puzzel batches) is answered once all of them are committed;
 * when some of its items cannot be read, the others are committed first, then the request is
 * quarantined for those (a replay of it takes only what was not taken: the others are repeats), and
 * the answer lists them under `quarantined`.
 */
export function mountWebhooks(app: FastifyInstance, options: WebhookOptions): void {
  const client = clientAddress(options.trustedProxies);
  const refused = refusalRecorder(options, client);
  const providerOf = new Map(options.receivers.flatMap(({ provider }) => Object.values(webhookPaths(provider.name)).map((path) => [path, provider.name])));
  app.register(async (scope) => {
    await scope.register(rateLimit, {
      // Not per route (its hook would run after the token check below): every request from an
      // address counts, one with a wrong token too, so guessing the token is limited as well. One
      // registration for every provider's routes: an address has one bucket, not one per provider.
      global: false,
      max: options.perMinute,
      timeWindow: 60_000,
      keyGenerator: client,
      errorResponseBuilder: (_request, context) => ({
        statusCode: 429,
        code: 'RATE_LIMITED',
        ...toHttpError(new RelayError('RATE_LIMITED', `Too many webhook requests from this address: at most ${context.max} a minute; try again later`)).body,
      }),
    });
    // Raw text for every media type: a body the provider's grammar does not fit is quarantined, not refused with a 415.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) => {
      const { text, charset, undecodable } = bodyText(body as Buffer, request.headers['content-type']);
      if (undecodable) undecodableRequests.set(request, undecodable);
      rawBodies.set(request, { bytes: body as Buffer, charset });
      done(null, text);
    });
    const allowed = options.allowedNetworks ? networkMatcher(options.allowedNetworks) : () => true;
    scope.addHook('onRequest', scope.rateLimit());
    scope.addHook('onRequest', async (request, reply) => {
      // A route of this scope is a provider's, and the label one of theirs (a path no provider has never gets here: a 404).
      const provider = providerOf.get(request.routeOptions.url ?? '') ?? 'unknown';
      const refusal = (reason: Refusal, error: RelayError) => {
        refused(reason, request, provider, error);
        return refuse(reply, error);
      };
      if (fromBrowser(request)) return refusal('browser', new RelayError('FORBIDDEN', 'Forbidden: a web page may not call the webhooks'));
      if (!allowed(client(request))) return refusal('network', new RelayError('FORBIDDEN', 'Forbidden: this address may not call the webhooks'));
      const unavailable = options.unavailable?.();
      if (unavailable) return refuse(reply, unavailable);
      if (
        options.token !== undefined &&
        !presentsToken(request, [options.token, ...(options.previousToken ? [options.previousToken] : [])], options.tokenHeader)
      )
        return refusal('token', new RelayError('UNAUTHORIZED'));
    });
    for (const receiver of options.receivers) mountReceiver(scope, receiver, options, refused);
  });
}

/** One provider's routes, in the scope whose hooks have checked who calls. */
function mountReceiver(scope: FastifyInstance, { provider, sink, signature }: WebhookReceiver, options: WebhookOptions, refused: RefusalRecorder): void {
  const paths = webhookPaths(provider.name);
  const methods = provider.webhookMethods ?? ['POST'];
  /** One webhook: signed, then parsed (or quarantined), then taken by the sink and acknowledged. */
  type Taken = { readonly reason: string } | { readonly outcome: object; readonly unreadable: readonly string[] };
  const route = (kind: InboundKind, take: (inbound: InboundRequest) => Promise<Taken>) =>
    scope.route({
      method: [...methods],
      url: paths[kind],
      handler: async (request, reply) => {
        const inbound = inboundOf(request, options.publicUrl);
        if (!signed(inbound, kind)) return forged(request, reply);
        // Text that is not in its charset would reach the mailbox as U+FFFD: kept for the operator instead.
        const undecodable = undecodableRequests.get(request) ?? (inbound.method === 'GET' ? undecodableQuery(request.url) : undefined);
        if (undecodable) return quarantine(reply, kind, undecodable, inbound);
        const taken = await take(inbound);
        if ('reason' in taken) return quarantine(reply, kind, taken.reason, inbound);
        if (taken.unreadable.length === 0) return acknowledged(reply, kind, taken.outcome);
        // The readable items are committed: the request is kept for the others alone.
        await keep(kind, `${taken.unreadable.join('; ')} (the request's other items were taken)`, inbound);
        return acknowledged(reply, kind, { ...taken.outcome, quarantined: taken.unreadable });
      },
    });
  const ignoring = (kind: InboundKind) => (why: string) =>
    options.logger.debug({ provider: provider.name, kind, why }, 'webhook: the request carries nothing for the relay: acknowledged, ignored');
  route('mo', async (inbound) => {
    const parsed = wholeCharacters(readable(provider.parseReceived(inbound), ignoring('mo')));
    if ('reason' in parsed) return parsed;
    const outcomes = await sink.received(parsed.items);
    const [one] = outcomes;
    return {
      outcome: one && outcomes.length === 1 && parsed.unreadable.length === 0 ? one : { status: 'accepted', messages: outcomes },
      unreadable: parsed.unreadable,
    };
  });
  route('dr', async (inbound) => {
    const parsed = readable(provider.parseReport(inbound), ignoring('dr'));
    if ('reason' in parsed) return parsed;
    // A report whose number the sink cannot place is unreadable as one the parse could not read.
    const { reports, unplaced } = await sink.placeReports(parsed.items);
    const unreadable = [...parsed.unreadable, ...unplaced];
    if (reports.length === 0 && unreadable.length > 0) return { reason: unreadable.join('; ') };
    const outcomes = await sink.reported(reports);
    const [one] = outcomes;
    return {
      outcome: one && outcomes.length === 1 && unreadable.length === 0 ? { status: one } : { status: 'accepted', reports: outcomes },
      unreadable,
    };
  });

  /** The provider's own acknowledgement (TwiML), or the relay's JSON outcome. */
  function acknowledged(reply: FastifyReply, kind: InboundKind, outcome: unknown) {
    const own = provider.acknowledge?.(kind);
    return own ? reply.type(own.contentType).send(own.body) : reply.send(outcome);
  }

  function signed(inbound: InboundRequest, kind: InboundKind): boolean {
    if (!signature || !provider.verify) return true;
    return provider.verify(inbound, kind, signature.secret, signature.formula);
  }

  function forged(request: FastifyRequest, reply: FastifyReply) {
    const error = new RelayError('FORBIDDEN');
    refused('signature', request, provider.name, error);
    return refuse(reply, error);
  }

  /** Answered 200 so the gateway does not retry it for ever; the operator finds it in `smsrelay status`. */
  async function quarantine(reply: FastifyReply, kind: InboundKind, reason: string, inbound: InboundRequest) {
    await keep(kind, reason, inbound);
    return acknowledged(reply, kind, { status: 'quarantined', reason });
  }

  /** Kept exactly as received, its bytes: the parsers' text of a form not in UTF-8 is rewritten (bodyText), no evidence of what came. */
  function keep(kind: InboundKind, reason: string, inbound: InboundRequest): Promise<void> {
    return sink.quarantine(kind, reason, inbound.method === 'GET' ? queryWithoutToken(inbound.url ?? '') : (inbound.rawBody ?? Buffer.from(inbound.body)));
  }
}

/**
 * A browser says where a request comes from: `Origin` on every cross-site POST (and on same-site ones),
 * `Sec-Fetch-Site` on every request of current browsers. A provider's server sends neither, so a web
 * page's form or script (faking a STOP from any number) is refused. `Sec-Fetch-Mode` alone does not
 * count: Node's own fetch sends it, as a provider's server on Node may.
 */
function fromBrowser(request: FastifyRequest): boolean {
  return request.headers.origin !== undefined || request.headers['sec-fetch-site'] !== undefined;
}

/**
 * The client: the socket's peer or, when the peer is one of the trusted proxies, the right-most
 * `X-Forwarded-For` hop that is not (hops further left are whatever the client wrote).
 */
function clientAddress(trustedProxies: readonly string[]): (request: FastifyRequest) => string {
  const proxy = networkMatcher(trustedProxies);
  return (request) => forwardedClient(proxy, peerAddress(request.socket.remoteAddress), headerList(request.headers['x-forwarded-for']));
}

/** Why the body of a request could not be read as text, for its quarantine; set by the body parser. */
const undecodableRequests = new WeakMap<FastifyRequest, string>();
/** Each webhook request's body as it arrived and the charset its text was read in (InboundRequest.rawBody, charset). */
const rawBodies = new WeakMap<FastifyRequest, { readonly bytes: Buffer; readonly charset: string }>();

/**
 * The charset of a body that names none and is not UTF-8 (its bytes, or a form's %-escapes): what a
 * gateway or proxy that names no charset writes besides UTF-8 is Latin-1 or its Windows superset, and
 * windows-1252 reads both (every byte is a character), so the phone's text reaches its mailbox as
 * written, not as U+FFFD and not held in quarantine. A body that names UTF-8 and is not is quarantined.
 */
const UNDECLARED_FALLBACK = 'windows-1252';

/** How far into an XML body its declaration is looked for: it must come first, and is short. */
const XML_DECLARATION_MAX_BYTES = 200;

/**
 * A body's text in its Content-Type's `charset`, else (an XML body) its XML declaration's encoding
 * (XML 1.0 §4.3.3; RFC 7303: the HTTP charset wins over it), else UTF-8; `undecodable` says why it
 * is not text in that charset (bytes, or a form's %-escapes, that are not UTF-8).
 */
function bodyText(body: Buffer, contentType: string | undefined): { readonly text: string; readonly charset: string; readonly undecodable?: string } {
  const type = contentType ?? '';
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(type)?.[1] ?? (/^[\w.+-]+\/(?:[\w.-]+\+)?xml\s*(?:;|$)/i.test(type) ? xmlEncoding(body) : undefined);
  const form = /^application\/x-www-form-urlencoded\b/i.test(type);
  const decoder = textDecoder(charset ?? (isUtf8(body) && (!form || escapesUtf8(body.toString('latin1'))) ? undefined : UNDECLARED_FALLBACK));
  if (decoder.utf8) {
    // Only a body that names UTF-8 gets here not being it (one that names nothing is read as UNDECLARED_FALLBACK).
    const undecodable = !isUtf8(body)
      ? `the body is not UTF-8 text (its charset: ${charset})`
      : form && !escapesUtf8(body.toString('latin1'))
        ? `the form's %-escapes are not UTF-8 text (its charset: ${charset})`
        : undefined;
    return { text: decoder.decode(body), charset: decoder.charset, ...(undecodable ? { undecodable } : {}) };
  }
  if (!form) return { text: decoder.decode(body), charset: decoder.charset };
  // A form's %XX escapes are bytes in its charset too: each field is decoded from its bytes and written again in UTF-8, as the parsers read it.
  const decodeField = (field: string) => encodeURIComponent(decoder.decode(Buffer.from(unescapeBytes(field.replace(/\+/g, ' ')), 'latin1')));
  return {
    charset: decoder.charset,
    text: body
      .toString('latin1')
      .split('&')
      .map((pair) => pair.split('=').map(decodeField).join('='))
      .join('&'),
  };
}

/** The encoding an XML declaration names (`<?xml version="1.0" encoding="ISO-8859-1"?>`), if any; a UTF-8 BOM says UTF-8. */
function xmlEncoding(body: Buffer): string | undefined {
  const head = body.subarray(0, XML_DECLARATION_MAX_BYTES).toString('latin1');
  if (head.startsWith('\xEF\xBB\xBF')) return undefined;
  return /^<\?xml\s[^>]*?\bencoding\s*=\s*(["'])([A-Za-z][\w.:-]*)\1/.exec(head)?.[2];
}

/** Whether the %XX escapes of a form or query stand for UTF-8 text, as a GET's must (it can name no charset). */
function escapesUtf8(encoded: string): boolean {
  return isUtf8(Buffer.from(unescapeBytes(encoded), 'latin1'));
}

/** Why a GET's query is not text, if so: %-escapes that are not UTF-8 (Latin-1 ones, say). */
function undecodableQuery(url: string): string | undefined {
  const query = url.slice(url.indexOf('?') + 1);
  return url.includes('?') && !escapesUtf8(query) ? "the query's %-escapes are not UTF-8 text (a GET callback can name no other charset)" : undefined;
}

/**
 * The charset's decoder (UTF-8 when none, or one the relay does not know). iconv-lite, not Node 20's
 * TextDecoder, which reads windows-1252 as Latin-1 (its € at 0x80 lost).
 */
function textDecoder(charset: string | undefined): { readonly charset: string; readonly utf8: boolean; decode(bytes: Buffer): string } {
  const known = charset !== undefined && iconv.encodingExists(charset) ? charset : 'utf-8';
  return { charset: known, utf8: /^utf-?8$/i.test(known), decode: (bytes) => iconv.decode(bytes, known) };
}

/** `%XX` escapes as the bytes they stand for, one latin1 character each (other characters kept as they are). */
function unescapeBytes(part: string): string {
  return part.replace(/%([0-9A-Fa-f]{2})/g, (_escape, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

/** The items to take and why the others cannot be, or why the request cannot be read at all; `ignoring` hears why a request carries nothing to take. */
function readable<T>(
  parsed: InboundParse<T>,
  ignoring: (why: string) => void,
): { readonly reason: string } | { readonly items: readonly T[]; readonly unreadable: readonly string[] } {
  if (parsed.ok && parsed.ignored !== undefined) ignoring(parsed.ignored);
  return parsed.ok ? { items: parsed.items, unreadable: parsed.unreadable ?? [] } : { reason: parsed.reason };
}

/**
 * Text that is not in its charset would reach the mailbox as U+FFFD (the rule for a body's bytes, mountReceiver): so
 * would an SMS's text holding half a character, which JSON's `\uD83D` escapes carry past any charset check, whatever
 * the provider (sms/half-characters.ts). Such an SMS is an unreadable item, kept.
 */
function wholeCharacters(parsed: ReturnType<typeof readable<ReceivedSms>>): ReturnType<typeof readable<ReceivedSms>> {
  if ('reason' in parsed) return parsed;
  const halves = parsed.items.flatMap((sms) => {
    const half = halfCharacter(sms);
    return half === undefined ? [] : [`the SMS "${sms.providerId}": ${half}`];
  });
  if (halves.length === 0) return parsed;
  const items = parsed.items.filter((sms) => halfCharacter(sms) === undefined);
  const unreadable = [...parsed.unreadable, ...halves];
  return items.length === 0 ? { reason: unreadable.join('; ') } : { items, unreadable };
}

/**
 * A GET carries its fields in the query: they are what is kept, as written (its %-escapes as sent, Latin-1 ones too), less
 * the relay's token.
 */
function queryWithoutToken(url: string): Buffer {
  const query = url.includes('?') ? url.slice(url.indexOf('?') + 1) : '';
  const fields = query.split('&').filter((field) => !new URLSearchParams(field).has('token'));
  return Buffer.from(fields.join('&'), 'latin1');
}

function refuse(reply: FastifyReply, error: RelayError) {
  const { status, body } = toHttpError(error);
  return reply.status(status).send(body);
}

/**
 * A webhook request as the provider plug-ins read it (needs a parser that keeps the body as text).
 * `publicUrl`: the base URL the provider calls (`gateway.publicUrl`), else what the relay saw.
 */
export function inboundOf(request: FastifyRequest, publicUrl?: string): InboundRequest {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(request.headers)) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  return {
    contentType: (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '',
    body: typeof request.body === 'string' ? request.body : '',
    rawBody: rawBodies.get(request)?.bytes,
    charset: rawBodies.get(request)?.charset,
    query: new URL(request.url, 'http://relay.invalid').searchParams,
    headers,
    url: `${publicUrl === undefined ? `${request.protocol}://${request.host}` : publicBase(publicUrl)}${request.url}`,
    method: request.method === 'GET' ? 'GET' : 'POST',
  };
}

/** `?token=`, `Authorization: Bearer` or the configured header, one of `tokens`, compared in constant time (digests: equal lengths). */
function presentsToken(request: FastifyRequest, tokens: readonly string[], header: string | undefined): boolean {
  const query = new URL(request.url, 'http://relay.invalid').searchParams.get('token');
  const bearer = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
  const custom = header ? request.headers[header.toLowerCase()] : undefined;
  const expected = tokens.map(digest);
  return [query, bearer, typeof custom === 'string' ? custom : undefined].some(
    (given) => given !== null && given !== undefined && expected.some((token) => timingSafeEqual(digest(given), token)),
  );
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
