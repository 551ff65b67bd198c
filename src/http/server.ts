import { type IncomingMessage, maxHeaderSize, STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { Server, type Socket } from 'node:net';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import { LOOPBACK_ADDRESSES } from '../acceptance/service.ts';
import {
  failureLogFields,
  isStoreFailure,
  ListenError,
  QUOTED_CLIENT_TEXT_CHARS,
  RELAY_ERRORS,
  RelayError,
  type RelayErrorCode,
  toHttpError,
} from '../errors.ts';
import { busiestHolders, type Logger, turnedAwayLog } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { ANY_HOST_PATHS, foreignHost, hostMatcher, misdirected, repeatsHost, targetPath } from './hosts.ts';
import { hostBeforePort, networkMatcher, peerAddress, reservedSlots } from '../policy/networks.ts';
import { maskNumbersIn } from '../sms/numbers.ts';

/** Webhook and control bodies are small forms or JSON; anything bigger is not from a gateway. */
const MAX_BODY_BYTES = 256 * 1024;
/**
 * The longest path parameter the router passes to a route (fastify's default, 100, answered longer ones itself: a bare 414
 * JSON of its own code that echoed the URL, numbers in it unmasked, before the console's access checks and the webhooks'
 * own refusals). Every parameter is checked by its route (an id looked up, a provider named), which answers an unknown one
 * 404 in the relay's form; Node's limit on a request's head (maxHeaderSize, 16 KB) bounds the whole request line already.
 */
const MAX_PARAM_CHARS = maxHeaderSize;
/** A request (head and body) that has not arrived completely this long after its first byte is cut off (slow clients hold sockets). */
const REQUEST_TIMEOUT_MS = 30_000;
/**
 * How often Node looks for requests past their time (its `connectionsCheckingInterval`): its default,
 * 30 s, let a request run up to twice REQUEST_TIMEOUT_MS, and one whose last byte came in between was
 * taken. A look over the open connections each second costs nothing next to a request.
 */
const TIMEOUT_CHECK_INTERVAL_MS = 1_000;
/** HTTP methods a path may take, to name in a 405's `Allow`. */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;
/**
 * A connection that sends nothing this long (before its first request, or between requests) is
 * closed: a provider's or a browser's request head comes in one packet, and an idle connection holds a
 * file descriptor and a slot of http.maxConnections for nothing. Node's own timeouts count only from a
 * request's first byte (a connection that never sends one stayed open), and fastify's keep-alive
 * default between requests is 72 s: both are set to this.
 */
export const IDLE_TIMEOUT_MS = 10_000;

/**
 * At the stop, a connection with no request under way is closed this long after: a keep-alive client may have sent
 * its next request as the stop came, not yet read, which closing resets (a lost answer); it gets its 503 instead.
 */
export const IDLE_CLOSE_GRACE_MS = 100;

/**
 * At the end of a stop, how long a request on a connection accepted just before the listener closed has to get its
 * 503 before the connection is closed: the answer is at once, the rest is the client's reading it.
 */
const CLOSE_GRACE_MS = 500;

/**
 * The share of `http.maxConnections` kept for this host's loopback (`/healthz` from a load balancer's agent
 * or systemd's watchdog), `http.trustedProxies` and `inbound.allowedNetworks` (the providers' webhooks):
 * other clients fill the rest at most, so that clients trickling request heads cannot turn them away.
 */
export const HTTP_RESERVE_SHARE = 0.1;
/**
 * Once the other clients fill their room, a connection of theirs with no request being answered that has
 * been open, or idle since its last answer, this long is closed to let a new client in, the longest first
 * (nginx's client_header_timeout, shortened under pressure as Postfix shortens its timeouts): a provider's
 * or a browser's request head arrives in one packet, so a head still coming after 2 s is a slow client's.
 */
export const HTTP_STRESSED_HEAD_MS = 2_000;

/** The slots of `maxConnections` kept for loopback, proxies and webhook sources (reservedSlots: none at 1). */
export function httpReserve(maxConnections: number): number {
  return reservedSlots(maxConnections, HTTP_RESERVE_SHARE);
}

/**
 * After answering a request the parser refused, what else the client sends is read and dropped this
 * long before the connection closes: closing with unread data resets it, and the client loses the answer.
 */
const LINGER_MS = 2_000;

export interface HealthCheck {
  readonly name: string;
  check(): Promise<boolean>;
}

export interface HttpServerOptions {
  readonly host: string;
  readonly port: number;
  /** Connections at once (`http.maxConnections`); more are closed at once, counted and logged. */
  readonly maxConnections: number;
  /**
   * Connections at once from one address (`http.maxConnectionsPerClient`), so that one client cannot
   * hold every slot; more are closed at once, counted and logged as over maxConnections. Not counted:
   * this host's loopback (a local health checker or proxy) and `trustedProxies`, which carry everyone's.
   */
  readonly maxConnectionsPerClient: number;
  readonly trustedProxies: readonly string[];
  /** `inbound.allowedNetworks`: the providers' webhook sources, which share the loopback's reserved room (HTTP_RESERVE_SHARE). */
  readonly webhookNetworks?: readonly string[] | undefined;
  /** When a connection opened or its last request was answered (HTTP_STRESSED_HEAD_MS); tests move it instead of waiting. */
  readonly clock?: () => number;
  /**
   * The names requests may be sent to besides IP addresses and `localhost` (servedHostNames); a request
   * to another is 421, but on ANY_HOST_PATHS and under `hostCheckedBy`.
   */
  readonly allowedHosts: readonly string[];
  /** Path prefixes whose routes refuse another name themselves (the console, with its page). */
  readonly hostCheckedBy?: readonly string[];
  readonly logger: Logger;
  /** Everything /healthz reports; the answer is 200 only when all pass. */
  readonly health: readonly HealthCheck[];
  /** Route sets mounted on the server (webhooks, the simulator when selected). */
  readonly mounts: ReadonlyArray<(app: FastifyInstance) => void>;
  /** Served at /metrics. */
  readonly metrics?: Metrics | undefined;
  /**
   * /readyz: why the relay takes no traffic now (not started or stopping, disk full, commits fail, a
   * gateway that cannot send), by part, in words without paths or addresses; empty when it does.
   */
  readonly notReady?: () => Promise<Readonly<Record<string, string>>>;
  /** /readyz: what it says besides, that leaves the relay ready (the operator's pause: mail is still taken, and waits queued). */
  readonly notes?: () => Readonly<Record<string, string>>;
  /** REQUEST_TIMEOUT_MS and IDLE_TIMEOUT_MS unless given (tests give shorter ones). */
  readonly timeouts?: { readonly requestMs: number; readonly idleMs: number };
}

export interface HttpServer {
  readonly port: number;
  /**
   * The stop's first steps (docs/operations.md, "Stopping"): idle connections close at once; a request begun
   * later, one pipelined behind a request under way too, is answered 503 SHUTTING_DOWN (the probes their own
   * 503) and not taken, its connection closed; one begun before (its head or body still arriving, or being
   * handled) is answered as usual, its connection closed after the answer; one already answered whose body
   * still arrives (a refusal) holds nothing, its connection closed once the body is read. Resolves once those are answered, or at `timeoutMs`, when the connections still
   * holding one are closed and counted in a warning. The listener stays open until close().
   */
  drain(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Whether Node's parser has begun a request on the connection since its last one: the empty lines it skips before a
 * request line (RFC 9112 section 2.2), as a client's stray CRLF after its body (old PHP curl), begin none. It is what
 * server.closeIdleConnections() reads; a Node without the parser's duration() says begun, as bytes alone did.
 */
function messageBegun(socket: Socket): boolean {
  const parser = (socket as Socket & { parser?: { duration?: () => number } | null }).parser;
  return parser?.duration?.() !== 0;
}

/** A request Node's parser refused or cut, answered in the catalogue's JSON form (fastify's own has another shape). */
function answerClientError(error: Error & { code?: string; rawPacket?: unknown }, socket: Duplex, requestMs: number): void {
  if (error.code === 'ECONNRESET') return;
  if (error.code === 'HPE_HEADER_OVERFLOW' && requestLineOver(error.rawPacket)) {
    // RFC 9110 section 15.5.15: the target alone is over the limit: 414, the status its client understands.
    answerAndClose(new RelayError('BAD_REQUEST', `URI too long: the request line alone is over ${maxHeaderSize / 1024} KB`), socket, 414);
    return;
  }
  const refusal =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? new RelayError('HEADERS_TOO_BIG', `Request headers too big: the limit is ${maxHeaderSize / 1024} KB`)
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new RelayError('REQUEST_TIMEOUT', `The request did not arrive within ${requestMs / 1000} s`)
        : new RelayError('BAD_REQUEST', `Malformed HTTP request (${error.code ?? 'unreadable'})`);
  answerAndClose(refusal, socket);
}

/** Whether the bytes the parser refused hold a request line that alone is longer than the head may be (a URL too long). */
function requestLineOver(packet: unknown): boolean {
  if (!Buffer.isBuffer(packet)) return false;
  const end = packet.indexOf('\n');
  return (end < 0 ? packet.length : end) > maxHeaderSize;
}

/**
 * The refusal in the catalogue's JSON form on a connection that is then closed (what the client sends meanwhile is
 * read and dropped); with the refusal's own status unless `status` says (a parser's refusal that HTTP names apart).
 */
function answerAndClose(refusal: RelayError, socket: Duplex, status = toHttpError(refusal).status): void {
  // Answered once: Node's request timeout may find a connection already answered at its idle timeout.
  if (socket.writableEnded || socket.destroyed) return;
  const { body } = toHttpError(refusal);
  const json = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`,
  );
  socket.resume();
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}

/**
 * The relay's HTTP port: /healthz, /readyz, /metrics, the webhooks and the simulator. Errors are answered as JSON
 * `{error, message}` with no stack trace; 5xx are logged, those of a failing store at debug only (its outage has its own lines).
 */
/**
 * The methods `path` has a route for (RFC 9110 §15.5.6: a path that exists for other methods is 405 naming them,
 * not 404), for the port's not-found handler and the console's.
 */
export function allowedMethods(app: FastifyInstance, path: string): string[] {
  return METHODS.filter((method) => app.findRoute({ method, url: path }) !== null);
}

/**
 * A client error (its `status`, 4xx) fastify or a plugin raised before a route answered, as the
 * catalogue's refusal and the status to answer, for the port's JSON and the console's page alike;
 * undefined for a body sent to a path (or with a method) that has no route, which gets the path's own
 * 404 or 405 whatever the body.
 */
export function clientRefusal(
  error: Error & { readonly code?: string | undefined },
  status: number,
  request: Pick<FastifyRequest, 'is404'>,
): { status: number; refusal: RelayError } | undefined {
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    const refusal = bodyTooBig();
    return { status: refusal.spec.http, refusal };
  }
  // A plugin's refusal already in the catalogue's words (the webhooks' rate limit, RATE_LIMITED) keeps them.
  if (isRelayErrorCode(error.code)) return { status, refusal: new RelayError(error.code, error.message) };
  if (request.is404) return undefined;
  // fastify's other client errors (a JSON body that is not JSON, a media type no route reads) keep their status, in the
  // catalogue's words: its own code (FST_ERR_…) means nothing to a client, and BAD_REQUEST is for a body that does not parse.
  const code = error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'UNSUPPORTED_MEDIA_TYPE' : 'BAD_REQUEST';
  return { status, refusal: new RelayError(code, `Request body not read: ${error.message}`) };
}

function bodyTooBig(): RelayError {
  return new RelayError('MESSAGE_TOO_BIG', `Request body too big: the limit is ${MAX_BODY_BYTES / 1024} KB`);
}

function isRelayErrorCode(code: string | undefined): code is RelayErrorCode {
  return code !== undefined && Object.hasOwn(RELAY_ERRORS, code);
}

/** How a part answers the router's refusal of a path under its prefix (a `%zz`): `error` is the catalogue's 400. */
export type BadPathAnswer = (request: FastifyRequest, reply: FastifyReply, error: RelayError) => unknown;
/** Each server's parts that answer a path the router cannot read in their own form, by path prefix. */
const badPathAnswers = new WeakMap<object, Map<string, BadPathAnswer>>();

/** Paths under `prefix` that the router cannot read are answered by `answer` (the console: its page, with its headers). */
export function answerBadPathsUnder(app: FastifyInstance, prefix: string, answer: BadPathAnswer): void {
  const answers = badPathAnswers.get(app.server) ?? new Map<string, BadPathAnswer>();
  answers.set(prefix, answer);
  badPathAnswers.set(app.server, answers);
}

/**
 * The most of a path a 404 names: enough to tell a mistyped one; a path may be up to Node's head limit (MAX_PARAM_CHARS),
 * and its sender has it whole.
 */
const SHOWN_PATH_CHARS = 64;
/** A path as a refusal names it: numbers masked as info logs write them (a webhook path may carry one), cut at SHOWN_PATH_CHARS. */
function shownPath(path: string): string {
  const masked = maskNumbersIn(path);
  return masked.length > SHOWN_PATH_CHARS ? `${masked.slice(0, SHOWN_PATH_CHARS)}…` : masked;
}

export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const { requestMs, idleMs } = options.timeouts ?? { requestMs: REQUEST_TIMEOUT_MS, idleMs: IDLE_TIMEOUT_MS };
  // A connection's latest request and its response until the response is done, and the connections whose refusal waits for it.
  const inFlight = new WeakMap<object, { readonly request: IncomingMessage; readonly response: ServerResponse }>();
  const refusing = new WeakSet<object>();
  const refuseInTurn = (error: Error & { code?: string }, socket: Duplex) => {
    // What follows a request that closes the connection (Connection: close, HTTP/1.0) is ignored (RFC 9112
    // section 9.6): Node closes the connection once that request is answered.
    if (error.code === 'HPE_CLOSED_CONNECTION' || refusing.has(socket)) return;
    const pending = inFlight.get(socket);
    // Responses go in the order of the requests (RFC 9112 section 9.3): a request read whole (a webhook
    // already taken) gets its own answer before the refusal of the bytes after it.
    if (pending?.request.complete) {
      refusing.add(socket);
      pending.response.once('close', () => answerClientError(error, socket, requestMs));
      return;
    }
    answerClientError(error, socket, requestMs);
  };
  const app = Fastify({
    loggerInstance: options.logger.child({ component: 'http' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: MAX_BODY_BYTES,
    routerOptions: { maxParamLength: MAX_PARAM_CHARS },
    // The router's own refusal, before any hook: a path parameter whose percent-encoding does not decode (`%zz`). Its default
    // answer was fastify's JSON with its own code, echoing the path (any number in it unmasked): the catalogue's, naming none.
    // A part that answers people with pages (the console) answers it under its paths in its own form (answerBadPathsUnder).
    frameworkErrors: (error, request, reply) => {
      const refusal = new RelayError(
        'BAD_REQUEST',
        error.code === 'FST_ERR_BAD_URL'
          ? 'Malformed request: its path holds a percent-encoding that does not decode'
          : 'Malformed request: its path cannot be read',
      );
      const path = targetPath(request.url);
      const answers = badPathAnswers.get(request.server.server) ?? new Map<string, BadPathAnswer>();
      const own = [...answers].find(([prefix]) => path === prefix || path.startsWith(`${prefix}/`))?.[1];
      if (own) return void own(request as FastifyRequest, reply as FastifyReply, refusal);
      const { status, body } = toHttpError(refusal);
      void (reply as FastifyReply).status(status).send(body);
    },
    requestTimeout: requestMs,
    connectionTimeout: idleMs,
    // Node sets a socket's timeout to this after each response, replacing connectionTimeout's until the next request.
    keepAliveTimeout: idleMs,
    forceCloseConnections: true,
    // Node derives headersTimeout from a requestTimeout given when the server is made, which fastify sets only
    // afterwards: left at Node's 60 s, it held a request whose body stopped for 60 s, whatever requestTimeout said.
    // Node answers an HTTP/1.1 request without Host a bare 400 of its own: the hook below answers it in the catalogue's form.
    http: { connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS, headersTimeout: requestMs, requireHostHeader: false },
    clientErrorHandler: refuseInTurn,
  });
  app.server.maxConnections = options.maxConnections;
  // A client may close its sending side once its request is written (RFC 9112 section 9.6): Node then
  // aborted the request and ended the connection, and a webhook already taken was never answered. With
  // this, Node answers what it read and closes after the last answer. No option of createServer sets it;
  // test/http/connections.test.ts fails if a Node release drops the property.
  (app.server as typeof app.server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  const turnedAway = turnedAwayLog(app.log as Logger, Date.now, 'http: connection turned away');
  const busy = { code: 'SERVER_BUSY', message: `http.maxConnections (${options.maxConnections}) connections are open` };
  // A request being answered may take longer (a store that waits for a lock): only an idle connection is closed.
  const answering = new WeakMap<Socket, number>();
  // The bytes a connection had sent when its last request was read and answered: more since, with no request begun, is a request head cut short.
  const readWhenAnswered = new WeakMap<Socket, number>();
  const clock = options.clock ?? Date.now;
  // When each connection opened or its last response ended: how long it has waited on its client.
  const waitingSince = new WeakMap<Socket, number>();
  // When its last request head was read: a body still coming long after is trickled like a head.
  const headRead = new WeakMap<Socket, number>();
  // Every open connection, for the stop.
  const connections = new Set<Socket>();
  // The request each connection began last: during the stop, its answer is the connection's last.
  const lastRequest = new WeakMap<Socket, IncomingMessage>();
  // Once the stop began: the connections with a request under way at it, each until its answers are done or it closes.
  let heldOver: Set<Socket> | undefined;
  let heldOverAnswered = () => {};
  const release = (socket: Socket) => {
    if (heldOver?.delete(socket) && heldOver.size === 0) heldOverAnswered();
  };
  // Of those, the connections whose request head was arriving at the stop: that one request is still taken.
  const headArriving = new WeakSet<Socket>();
  // The requests begun after the stop, a pipelined one behind the request under way too: answered 503, nothing taken.
  const late = new WeakSet<IncomingMessage>();
  /**
   * During the stop, closes those of `sockets` that read nothing more for IDLE_CLOSE_GRACE_MS and answer nothing: a
   * request its client sent meanwhile gets its 503 rather than a reset.
   */
  const closeWhenQuiet = async (sockets: readonly Socket[]) => {
    const read = sockets.map((socket) => [socket, socket.bytesRead] as const);
    await sleep(IDLE_CLOSE_GRACE_MS);
    // The grace is read in the relay's own turns: an event loop that stalled through it (a loaded machine, a long GC)
    // runs its timer before reading the sockets, and a request that arrived meanwhile would be reset unread. The
    // immediate runs after the next poll of the sockets, which reads it first.
    await nextTurn();
    for (const [socket, bytesRead] of read) if (socket.bytesRead === bytesRead && !answering.get(socket)) socket.destroy();
  };
  // Before fastify's own listener: a request is known late, and its connection's last, before any hook of its runs.
  app.server.prependListener('request', (request: IncomingMessage, response: ServerResponse) => {
    const { socket } = request;
    if (heldOver !== undefined && !headArriving.delete(socket)) late.add(request);
    lastRequest.set(socket, request);
    const settled = () => {
      readWhenAnswered.set(socket, socket.bytesRead);
      waitingSince.set(socket, clock());
    };
    answering.set(socket, (answering.get(socket) ?? 0) + 1);
    headRead.set(socket, clock());
    inFlight.set(socket, { request, response });
    response.once('close', () => {
      answering.set(socket, (answering.get(socket) ?? 1) - 1);
      if (inFlight.get(socket)?.response === response) inFlight.delete(socket);
      settled();
      // Released once its last answer is done: a request pipelined behind gets its 503 first.
      if (!answering.get(socket)) release(socket);
    });
    // A body answered before it was read (a refusal) is read to its end after the answer; during the stop its connection
    // then has nothing under way.
    request.once('end', () => {
      settled();
      if (heldOver !== undefined && !answering.get(socket)) void closeWhenQuiet([socket]);
    });
  });
  app.server.on('timeout', (socket: Socket) => {
    if (answering.get(socket)) return;
    // A client that stopped in the middle of a request head is told why it is closed, as one cut at requestMs.
    if (socket.bytesRead > (readWhenAnswered.get(socket) ?? 0)) {
      answerAndClose(new RelayError('REQUEST_TIMEOUT', `The request stood still for ${idleMs / 1000} s before it was complete`), socket);
      return;
    }
    socket.destroy();
  });
  // RFC 9110 section 10.1.1: a client that asks before sending its body (Expect: 100-continue) and declares
  // one over the limit is refused at once, not told to send it all first (Node answers 100 by itself).
  app.server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
    if (Number(request.headers['content-length']) > MAX_BODY_BYTES) {
      const { status, body } = toHttpError(bodyTooBig());
      response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', connection: 'close' }).end(JSON.stringify(body));
      return;
    }
    response.writeContinue();
    app.server.emit('request', request, response);
  });
  // An expectation other than 100-continue cannot be met (RFC 9110 section 10.1.1): 417, in the JSON every refusal has
  // (Node's own 417 has an empty body).
  app.server.on('checkExpectation', (request: IncomingMessage, response: ServerResponse) => {
    const expectation = String(request.headers.expect).slice(0, QUOTED_CLIENT_TEXT_CHARS);
    const { body } = toHttpError(new RelayError('BAD_REQUEST', `Expect: ${expectation} cannot be met: the only expectation this server meets is 100-continue`));
    response.writeHead(417, { 'content-type': 'application/json; charset=utf-8', connection: 'close' }).end(JSON.stringify(body));
  });
  app.server.on('drop', (dropped) => {
    options.metrics?.httpTurnedAway.inc();
    turnedAway(busy, peerAddress(dropped?.remoteAddress));
  });
  const proxy = networkMatcher(options.trustedProxies);
  const crowded = {
    code: 'TOO_MANY_CONNECTIONS',
    message: `http.maxConnectionsPerClient (${options.maxConnectionsPerClient}) connections are open from this address`,
  };
  const fromClient = new Map<string, number>();
  const webhookSource = networkMatcher(options.webhookNetworks ?? []);
  /** What the clients outside the reserve (loopback, proxies, webhook sources) may fill of maxConnections. */
  const othersRoom = options.maxConnections - httpReserve(options.maxConnections);
  /** Their connections. */
  const others = new Set<Socket>();
  /**
   * Room for one more of `others`: when they fill theirs, those waiting on their client for HTTP_STRESSED_HEAD_MS or
   * more, the longest first, are closed at once (no answer lingering in a slot); false when too few are.
   */
  const madeRoom = (): boolean => {
    const needed = others.size + 1 - othersRoom;
    if (needed <= 0) return true;
    const now = clock();
    // Waiting on the client: idle or mid-head since the last answer, or mid-body since the head (a provider's body
    // arrives with its head). A request whose body is complete is being answered and is left alone.
    const since = (socket: Socket) => {
      if (!answering.get(socket)) return waitingSince.get(socket) ?? now;
      const request = inFlight.get(socket)?.request;
      return request && !request.complete ? (headRead.get(socket) ?? now) : now;
    };
    const waiting = [...others].filter((socket) => now - since(socket) >= HTTP_STRESSED_HEAD_MS);
    if (waiting.length < needed) return false;
    // An idle keep-alive connection (answered, nothing since) goes last: its client may be sending a POST on it right
    // now, which a reset loses, where a head or body trickled or a connection that never asked costs no one a request.
    const idle = (socket: Socket) => (!answering.get(socket) && readWhenAnswered.get(socket) === socket.bytesRead ? 1 : 0);
    for (const socket of waiting.sort((a, b) => idle(a) - idle(b) || since(a) - since(b)).slice(0, needed)) {
      // Read before the socket is destroyed, which may leave it no address.
      const client = peerAddress(socket.remoteAddress);
      others.delete(socket);
      socket.destroy();
      options.metrics?.httpMadeRoom.inc();
      // At debug, one line a connection: a client that keeps the room full closes one with each connection it opens
      // (the line it gets when none is left is the rate-limited "turned away"); the counter says how often.
      app.log.debug(
        { client },
        'http: connection closed to make room: it waited on its client while the other clients filled their share of http.maxConnections',
      );
    }
    return true;
  };
  app.server.on('connection', (socket: Socket) => {
    const address = peerAddress(socket.remoteAddress);
    waitingSince.set(socket, clock());
    connections.add(socket);
    socket.once('close', () => {
      connections.delete(socket);
      release(socket);
    });
    if (LOOPBACK_ADDRESSES.has(address) || proxy(address)) return;
    const open = (fromClient.get(address) ?? 0) + 1;
    if (open > options.maxConnectionsPerClient) {
      options.metrics?.httpTurnedAway.inc();
      turnedAway(crowded, address);
      socket.destroy();
      return;
    }
    // A webhook source may use the reserve but is still held to its per-client share: a wide provider range
    // (a provider with no fixed addresses) is anyone who rents an address there, and must not fill every slot.
    const reserved = webhookSource(address);
    if (!reserved && !madeRoom()) {
      options.metrics?.httpTurnedAway.inc();
      // The log names who holds the slots, not only the client turned away.
      turnedAway(busy, address, { holders: busiestHolders([...others].map((socket) => peerAddress(socket.remoteAddress))) });
      socket.destroy();
      return;
    }
    if (!reserved) others.add(socket);
    fromClient.set(address, open);
    socket.once('close', () => {
      others.delete(socket);
      const left = (fromClient.get(address) ?? 1) - 1;
      if (left > 0) fromClient.set(address, left);
      else fromClient.delete(address);
    });
  });

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    if (error instanceof RelayError || !error.statusCode || error.statusCode >= 500) {
      const { status, body } = toHttpError(error);
      // The path only: a webhook's query carries its token.
      const path = request.url.split('?')[0];
      // A 503 while the store fails is the answer the provider retries: the store's health says the outage once each way (store/health.ts).
      if (isStoreFailure(error)) request.log.debug({ path, ...failureLogFields(error) }, 'http: request answered 503: the store fails');
      // The stop's refusal is no failure: the stop has its own lines.
      else if (status >= 500 && error.code !== 'SHUTTING_DOWN') request.log.error({ err: error, path }, 'http: request failed');
      return reply.status(status).send(body);
    }
    const refused = clientRefusal(error, error.statusCode, request);
    if (refused === undefined) return notFound(request, reply);
    return reply.status(refused.status).send(toHttpError(refused.refusal).body);
  });
  // The stop: a request begun after it is not taken (the probes say why in their own words), refused in the form of its
  // scope's other errors (the console's page); a connection closes after its last answer.
  app.addHook('onRequest', async (request) => {
    if (late.has(request.raw) && !ANY_HOST_PATHS.has(targetPath(request.url))) throw new RelayError('SHUTTING_DOWN');
  });
  app.addHook('onSend', async (request, reply, payload) => {
    if (heldOver !== undefined && lastRequest.get(request.raw.socket) === request.raw) reply.header('connection', 'close');
    return payload;
  });
  // RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host, and to any with more than one.
  app.addHook('onRequest', async (request, reply) => {
    const problem = repeatsHost(request.raw.rawHeaders)
      ? 'more than one Host header'
      : request.raw.httpVersion === '1.1' && request.headers.host === undefined
        ? 'HTTP/1.1 needs a Host header'
        : undefined;
    if (problem === undefined) return;
    const { status, body } = toHttpError(new RelayError('BAD_REQUEST', `Malformed HTTP request: ${problem} (RFC 9112 §3.2)`));
    return reply.status(status).header('connection', 'close').send(body);
  });
  // RFC 9110 section 8.4.1: the relay decodes no content coding, and a compressed body read as it came is
  // garbage (a gzip'd webhook form was quarantined as "msgid is missing"). 415 names the coding (section 15.5.16).
  app.addHook('onRequest', async (request, reply) => {
    const coding = request.headers['content-encoding']?.trim().toLowerCase();
    if (!coding || coding === 'identity') return;
    const refusal = new RelayError(
      'UNSUPPORTED_MEDIA_TYPE',
      `Content-Encoding ${coding.slice(0, QUOTED_CLIENT_TEXT_CHARS)} is not accepted: send the body uncompressed, without Content-Encoding`,
    );
    return reply.status(415).header('accept-encoding', 'identity').send(toHttpError(refusal).body);
  });
  // RFC 9112 section 6.1: Node takes `chunked` as the last transfer coding and hands the body on with any coding
  // before it still applied (`gzip, chunked`: a compressed form read as it came). Such a request gets 501 naming the coding.
  app.addHook('onRequest', async (request, reply) => {
    const codings = (request.headers['transfer-encoding'] ?? '').split(',').map((coding) => coding.trim().toLowerCase());
    const unknown = codings.find((coding) => coding !== '' && coding !== 'chunked');
    if (unknown === undefined) return;
    const refusal = new RelayError(
      'BAD_REQUEST',
      `Transfer-Encoding ${unknown.slice(0, QUOTED_CLIENT_TEXT_CHARS)} is not implemented: send the body with Content-Length or chunked alone`,
    );
    return reply.status(501).header('connection', 'close').send(toHttpError(refusal).body);
  });
  // DNS rebinding: a web page whose name is re-pointed to this relay's address calls it under that name.
  const servedHost = hostMatcher(options.allowedHosts);
  const checkedElsewhere = (path: string) => (options.hostCheckedBy ?? []).some((prefix) => path === prefix || path.startsWith(`${prefix}/`));
  app.addHook('onRequest', async (request, reply) => {
    const path = targetPath(request.url);
    // Only HTTP/1.0 may omit Host (HTTP/1.1 without it is answered 400 above): no browser does, so no web page is behind it.
    const foreign = foreignHost(request, proxy, servedHost);
    if (foreign === undefined || ANY_HOST_PATHS.has(path) || checkedElsewhere(path)) return;
    const { status, body } = toHttpError(misdirected(foreign));
    return reply.status(status).send(body);
  });
  const notFound = (request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0] ?? '/';
    // RFC 9110 §15.5.6: a path that exists for other methods is 405 with those methods, not 404 (an operator checking a webhook URL in a browser).
    const allowed = allowedMethods(app, path);
    if (allowed.length > 0) {
      const { status, body } = toHttpError(new RelayError('METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${path}: use ${allowed.join(', ')}`));
      return reply.status(status).header('allow', allowed.join(', ')).send(body);
    }
    return reply.status(404).send({ error: 'NOT_FOUND', message: `no route for ${request.method} ${shownPath(path)}` });
  };
  app.setNotFoundHandler(notFound);

  app.get('/healthz', async (_request, reply) => {
    const results = await Promise.all(options.health.map(async (item) => [item.name, await item.check().catch(() => false)] as const));
    const healthy = results.every(([, ok]) => ok);
    return reply.status(healthy ? 200 : 503).send({ status: healthy ? 'ok' : 'unavailable', checks: Object.fromEntries(results) });
  });
  app.get('/readyz', async (_request, reply) => {
    const reasons = (await options.notReady?.()) ?? {};
    const notes = options.notes?.() ?? {};
    const noted = Object.keys(notes).length === 0 ? {} : { notes };
    return Object.keys(reasons).length === 0
      ? reply.status(200).send({ status: 'ready', ...noted })
      : reply.status(503).send({ status: 'not ready', reasons, ...noted });
  });
  const { metrics } = options;
  if (metrics) {
    app.get('/metrics', async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  }
  for (const mount of options.mounts) mount(app);

  await app.listen({ host: options.host, port: options.port }).catch(async (error: unknown) => {
    await app.close();
    throw new ListenError('HTTP', { host: 'http.host', port: 'http.port' }, `${hostBeforePort(options.host)}:${options.port}`, error);
  });
  const address = app.server.address();
  const drain = async (timeoutMs: number) => {
    const held = new Set<Socket>();
    heldOver = held;
    const idle: Socket[] = [];
    for (const socket of connections) {
      // A connection whose side is ended (a refusal lingering) has nothing more to answer.
      if (socket.writableEnded) continue;
      // Under way: a request being answered, or bytes of one since the last answer (a head still arriving).
      if (answering.get(socket)) held.add(socket);
      else if (socket.bytesRead === (readWhenAnswered.get(socket) ?? 0) || !messageBegun(socket)) idle.push(socket);
      // Bytes since the last answer are a head arriving unless its request's body still is: that request was answered
      // before its body was read (a refusal), and the connection closes once the body is read ('end' above).
      else if (lastRequest.get(socket)?.readableEnded !== false) {
        held.add(socket);
        headArriving.add(socket);
      }
    }
    const idleClosed = closeWhenQuiet(idle);
    const heldAnswered = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        if (held.size > 0) {
          app.log.warn(
            { requests: held.size },
            'http: stopping: shutdownTimeout reached with requests under way, the relay closed their connections unanswered',
          );
          for (const socket of [...held]) socket.destroy();
        }
        resolve();
      }, timeoutMs);
      heldOverAnswered = () => {
        clearTimeout(timer);
        resolve();
      };
      if (held.size === 0) heldOverAnswered();
    });
    // The listener closes (close()) only after the grace: Node's close would reset the idle connections at once.
    await Promise.all([idleClosed, heldAnswered]);
  };
  return {
    port: typeof address === 'object' && address ? address.port : options.port,
    drain,
    async close() {
      // A stop while starting has no drain: what comes now is refused all the same.
      heldOver ??= new Set();
      // No new connection; one accepted just before, whose request is arriving, gets its 503 (the stop began) within
      // CLOSE_GRACE_MS, not a reset; fastify closes what is left. net's close: HTTP's would reset the silent ones at once.
      Server.prototype.close.call(app.server);
      const closed = [...connections].map((socket) => new Promise((resolve) => socket.once('close', resolve)));
      await Promise.race([Promise.all(closed), sleep(CLOSE_GRACE_MS, undefined, { ref: false })]);
      await app.close();
    },
  };
}
