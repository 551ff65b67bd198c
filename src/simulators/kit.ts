/**
 * What the gateway simulators share besides the gateway each stands in for: posting to the
 * customer's webhook URLs until answered 200, holding requests for `hang`, behaviours that wear off
 * after `times` requests, the `/simulator/*` routes, the ASP.NET way of reading a request's fields,
 * and running standalone. No provider's wire format is read or written here: each simulator keeps
 * its own, written independently of its adapter, so that the two cannot hide each other's mistakes.
 */
import { EventEmitter, setMaxListeners } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setImmediate as nextTurn, setTimeout as pause } from 'node:timers/promises';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest, type RawServerDefault } from 'fastify';
import { z } from 'zod';
import type { Logger } from '../log.ts';
import type { SimulatedSmsRecord, SimulatorMount, SimulatorOptions } from './contract.ts';

/** Any plain-HTTP fastify app, whatever logger it was built with (the relay passes its pino). */
export type HttpApp<AppLogger extends FastifyBaseLogger = FastifyBaseLogger> = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, AppLogger>;

export const DEFAULT_WAIT_MS = 5_000;

/** Throws a RangeError naming `name` unless `ms` is a safe integer of at least `min`. */
function checkMs(label: string, name: string, ms: number, min: number): number {
  if (!Number.isSafeInteger(ms) || ms < min) throw new RangeError(`${label}: ${name} must be an integer >= ${min}, got ${ms}`);
  return ms;
}

// ---------------------------------------------------------------------------------------------------
// Webhooks

export type WebhookKind = 'mo' | 'dr';

/** The customer's URLs for received SMS (MO) and delivery reports; a token may ride in the query. */
export interface WebhookUrls {
  readonly moUrl?: string | undefined;
  readonly drUrl?: string | undefined;
}

/** One attempt to post to a webhook URL, whatever came of it. */
export interface WebhookPost {
  readonly kind: WebhookKind;
  /** As configured, query string included. */
  readonly url: string;
  /** Identical on every attempt of one post. */
  readonly body: string;
  /** The HTTP status answered, or `'error'` for a connection error, a timeout or a cancelled attempt. */
  readonly status: number | 'error';
  /** When the attempt started. */
  readonly at: Date;
}

/** What a post's log lines say about it besides the URL: never a token, never a whole number. */
type PostContext = Readonly<Record<string, string | number>>;

/** How one post goes besides its body, for gateways that sign each (Twilio) or call by GET (Vonage). */
export interface PostShape {
  /** Added to the forwarder's headers for this post (a signature over its URL and body). */
  readonly headers?: Readonly<Record<string, string>> | undefined;
  /** GET sends the body as the URL's query (after any query the URL has), with no content type. */
  readonly method?: 'GET' | 'POST' | undefined;
}

interface WebhookForwarderOptions {
  /** Starts every log line and error message, e.g. `puzzel simulator`. */
  readonly label: string;
  /** What the provider calls its posts in the log lines, e.g. `callback`. */
  readonly noun: string;
  readonly logger: Logger;
  readonly contentType: string;
  /** Sent with every post besides the content type. */
  readonly headers?: Readonly<Record<string, string>> | undefined;
  /**
   * Wait between attempts of a post not answered 200. Default 300 000: IntelliSoftware retries
   * "every 5 minutes until it succeeds" (the providers' documentation); the others do not say.
   */
  readonly retryMs?: number | undefined;
  /** Each attempt gives up after this long and counts as failed. Default 60 000. */
  readonly timeoutMs?: number | undefined;
}

const DEFAULT_RETRY_MS = 300_000;
const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * Posts to the customer's webhook URLs as the real platforms do: each body again and again, the same
 * bytes every time, `retryMs` apart until answered HTTP 200, every attempt recorded in `posts`.
 * close() cancels the waits between attempts and the attempts in flight, and starts no more.
 */
class WebhookForwarder {
  /** Every attempt, oldest first (grows without bound: the simulators are for tests and demos). */
  readonly posts: WebhookPost[] = [];
  readonly #options: WebhookForwarderOptions;
  readonly #timeoutMs: number;
  #urls: WebhookUrls = {};
  #retryMs: number;
  readonly #closing = new AbortController();
  /** Jobs (one MO, or one SMS's delivery reports) not yet answered 200 nor cancelled. */
  readonly #running = new Set<Promise<void>>();
  readonly #onPost = new Set<(post: WebhookPost) => void>();

  constructor(options: WebhookForwarderOptions) {
    // Every pending report's wait and every attempt listens on this one signal: under load that is far
    // more than Node's default of 10, whose "possible memory leak" warning a relay on the built-in
    // simulator printed at its first busy second. The listeners end with their jobs.
    setMaxListeners(0, this.#closing.signal);
    this.#options = { ...options, headers: { ...options.headers } };
    this.#retryMs = checkMs(options.label, 'webhookRetryMs', options.retryMs ?? DEFAULT_RETRY_MS, 1);
    this.#timeoutMs = checkMs(options.label, 'webhookTimeoutMs', options.timeoutMs ?? DEFAULT_TIMEOUT_MS, 1);
  }

  get urls(): WebhookUrls {
    return { ...this.#urls };
  }

  /**
   * Replaces both URLs (an absent one is unset); posts under way keep the URL they started with.
   * Throws for a URL that is not absolute http(s) or that carries credentials (fetch refuses those).
   */
  setUrls(urls: WebhookUrls): void {
    this.#urls = {
      ...(urls.moUrl === undefined ? {} : { moUrl: this.#checkUrl('moUrl', urls.moUrl) }),
      ...(urls.drUrl === undefined ? {} : { drUrl: this.#checkUrl('drUrl', urls.drUrl) }),
    };
  }

  get retryMs(): number {
    return this.#retryMs;
  }

  /** The wait before each later retry; a wait already running keeps its length. */
  set retryMs(ms: number) {
    this.#retryMs = checkMs(this.#options.label, 'webhookRetryMs', ms, 1);
  }

  get pending(): number {
    return this.#running.size;
  }

  get closed(): boolean {
    return this.#closing.signal.aborted;
  }

  /** For `GET /simulator/control`: whether each URL is set, not the URLs, which may carry a secret. */
  status() {
    return {
      webhooks: { mo: this.#urls.moUrl !== undefined, dr: this.#urls.drUrl !== undefined },
      webhookPosts: this.posts.length,
      pendingWebhooks: this.pending,
    };
  }

  /** The MO URL an MO is to be posted to; throws when none is set or after close(). */
  moUrlOrThrow(): string {
    const url = this.#urls.moUrl;
    if (url === undefined) throw new Error(`${this.#options.label}: no MO URL set; call setWebhooks({ moUrl }) first`);
    if (this.closed) throw new Error(`${this.#options.label}: closed`);
    return url;
  }

  /** Posts `body` once the current call has returned, so that its caller can hand out the id first. */
  postSoon(kind: WebhookKind, url: string, body: string, context: PostContext, shape: PostShape = {}): void {
    this.run(async () => {
      await nextTurn(undefined, { signal: this.#closing.signal });
      await this.deliver(kind, url, body, context, shape);
    });
  }

  /**
   * Runs `job` in the background until it ends. After close() no job starts; one under way ends at
   * its next `wait` or attempt.
   */
  run(job: () => Promise<void>): void {
    if (this.closed) return;
    const running = (async () => {
      try {
        await job();
      } catch (error) {
        if (this.closed) return;
        this.#options.logger.error({ err: error }, `${this.#options.label}: a ${this.#options.noun} failed unexpectedly`);
      }
    })();
    this.#running.add(running);
    void running.finally(() => this.#running.delete(running));
  }

  /** Resolves after `ms`; rejects when close() comes first, which ends the job that waits. */
  wait(ms: number): Promise<void> {
    return pause(ms, undefined, { signal: this.#closing.signal });
  }

  /** Posts `body` until answered HTTP 200; false when close() cancelled it first. */
  async deliver(kind: WebhookKind, url: string, body: string, context: PostContext, shape: PostShape = {}): Promise<boolean> {
    for (let attempt = 1; !this.closed; attempt++) {
      if ((await this.#attempt(kind, url, body, context, attempt, shape)) === 200) return true;
      try {
        await this.wait(this.#retryMs);
      } catch {
        return false;
      }
    }
    return false;
  }

  /**
   * Resolves with the first post (already made or still to come) `predicate` accepts; rejects after
   * `timeoutMs`, or when `predicate` throws.
   */
  waitFor(
    predicate: (post: WebhookPost) => boolean,
    timeoutMs = DEFAULT_WAIT_MS,
    describeTimeout = () => `no matching webhook post within ${timeoutMs} ms (${this.posts.length} posts made)`,
  ): Promise<WebhookPost> {
    const made = this.posts.find(predicate);
    if (made) return Promise.resolve(made);
    return new Promise((resolve, reject) => {
      const settle = (outcome: () => void) => {
        clearTimeout(timer);
        this.#onPost.delete(onPost);
        outcome();
      };
      const onPost = (post: WebhookPost) => {
        let matches: boolean;
        try {
          matches = predicate(post);
        } catch (error) {
          settle(() => reject(error));
          return;
        }
        if (matches) settle(() => resolve(post));
      };
      const timer = setTimeout(() => settle(() => reject(new Error(`${this.#options.label}: ${describeTimeout()}`))), timeoutMs);
      this.#onPost.add(onPost);
    });
  }

  /** Resolves once `count` posts of `kind` were answered 200 in all; rejects after `timeoutMs`. */
  async waitForAnswered(kind: WebhookKind, count: number, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    const answered = () => this.posts.filter((post) => post.kind === kind && post.status === 200).length;
    if (answered() >= count) return;
    await this.waitFor(
      () => answered() >= count,
      timeoutMs,
      () => `${answered()} of ${count} ${kind} posts answered 200 within ${timeoutMs} ms`,
    );
  }

  /** Cancels every post waiting for a retry or in flight, and starts none from now on. Idempotent. */
  async close(): Promise<void> {
    this.#closing.abort();
    await Promise.allSettled([...this.#running]);
  }

  async #attempt(kind: WebhookKind, url: string, body: string, context: PostContext, attempt: number, shape: PostShape): Promise<number | 'error'> {
    const { label, noun, logger, contentType, headers } = this.#options;
    const at = new Date();
    const get = shape.method === 'GET';
    let status: number | 'error';
    let error: string | undefined;
    try {
      const response = await fetch(get ? `${url}${url.includes('?') ? '&' : '?'}${body}` : url, {
        method: get ? 'GET' : 'POST',
        headers: { ...headers, ...shape.headers, ...(get ? {} : { 'content-type': contentType }) },
        ...(get ? {} : { body }),
        // A redirect is an answer other than 200 (no platform is known to follow one).
        redirect: 'manual',
        signal: AbortSignal.any([this.#closing.signal, AbortSignal.timeout(this.#timeoutMs)]),
      });
      status = response.status;
      // The platforms ignore the body, but it is read so that the connection can be reused.
      await response.arrayBuffer().catch(() => undefined);
    } catch (cause) {
      status = 'error';
      error = this.closed ? 'cancelled by close()' : describeFetchError(cause);
    }
    const post: WebhookPost = { kind, url, body, status, at };
    this.posts.push(post);
    logger.info(
      { ...context, kind, url: withoutQuery(url), attempt, httpStatus: status, ...(error ? { error } : {}) },
      status === 200 ? `${label}: ${noun} posted` : this.closed ? `${label}: ${noun} cancelled` : `${label}: ${noun} not answered 200; will retry`,
    );
    for (const notify of [...this.#onPost]) notify(post);
    return status;
  }

  #checkUrl(name: string, value: string): string {
    const { label } = this.#options;
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      throw new TypeError(`${label}: ${name} is not an absolute URL`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new TypeError(`${label}: ${name} must be http or https, not ${parsed.protocol}`);
    }
    if (parsed.username !== '' || parsed.password !== '') {
      throw new TypeError(`${label}: ${name} must not carry credentials; put a token in the query string`);
    }
    return value;
  }
}

/** For logs: the URL without its query string and fragment, where a token may ride. */
function withoutQuery(url: string): string {
  const parsed = new URL(url);
  parsed.search = '';
  parsed.hash = '';
  return parsed.toString();
}

/** `ECONNREFUSED`, `TimeoutError`…: what went wrong, without echoing the request (and its URL). */
function describeFetchError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause;
  if (cause instanceof Error) return 'code' in cause && typeof cause.code === 'string' ? cause.code : cause.message;
  return error.name === 'Error' ? error.message : error.name;
}

// ---------------------------------------------------------------------------------------------------
// The simulator around the gateway

type BehaviourShape = { readonly mode: string; readonly times?: number | undefined };

/**
 * How the next send requests are answered: a behaviour with `times` holds for that many requests,
 * after which the simulator is back to normal; one without holds until replaced.
 */
class CountedBehaviour<Behaviour extends BehaviourShape> {
  readonly #schema: z.ZodType<Behaviour>;
  readonly #normal: Behaviour;
  #current: Behaviour;
  #remaining: number | undefined;

  constructor(schema: z.ZodType<Behaviour>, normal: Behaviour) {
    this.#schema = schema;
    this.#normal = normal;
    this.#current = normal;
  }

  get current(): Behaviour {
    return this.#current;
  }

  /** Requests the current behaviour still holds for; undefined when it holds until replaced. */
  get remaining(): number | undefined {
    return this.#remaining;
  }

  /** Throws a ZodError for a behaviour that does not fit the schema. */
  set(behaviour: Behaviour): void {
    this.#current = this.#schema.parse(behaviour);
    this.#remaining = this.#current.times;
  }

  /** Consumes one use of the current behaviour and falls back to normal when its `times` run out. */
  take(): Behaviour {
    const behaviour = this.#current;
    if (this.#remaining !== undefined && --this.#remaining <= 0) {
      this.#current = this.#normal;
      this.#remaining = undefined;
    }
    return behaviour;
  }
}

type HeldRequest = { readonly answer: () => void; readonly destroy: () => void };

/** Requests `hang` processed but does not answer until they are released or dropped. */
class HeldRequests {
  readonly #held = new Set<HeldRequest>();

  /** Held requests whose client is still waiting. */
  get size(): number {
    return this.#held.size;
  }

  /** Resolves with `answer` once released, or dropped, or given up by the client. */
  hold(reply: FastifyReply, answer: string): Promise<string> {
    return new Promise((resolve) => {
      const held: HeldRequest = {
        answer: () => resolve(answer),
        destroy: () => {
          reply.raw.destroy();
          resolve(answer);
        },
      };
      this.#held.add(held);
      // A client that gave up is no longer pending (the SMS stays received); settling lets fastify
      // finish the request instead of keeping it open forever.
      reply.raw.once('close', () => {
        this.#held.delete(held);
        resolve(answer);
      });
    });
  }

  /** Answers every held request as `ok` would have; returns how many there were. */
  releaseAll(): number {
    return this.#settleAll((held) => held.answer());
  }

  /** Drops every held request's connection, as a gateway that went away would; returns how many. */
  destroyAll(): number {
    return this.#settleAll((held) => held.destroy());
  }

  #settleAll(settle: (held: HeldRequest) => void): number {
    const held = [...this.#held];
    this.#held.clear();
    held.forEach(settle);
    return held.length;
  }
}

/** E.164 allows at most 15 digits; fewer than 7 cannot hold a country code and a subscriber number. */
export const undeliverableNumbersSchema = z.array(z.string().regex(/^\d{7,15}$/, 'international digits without +')).max(10_000);

/**
 * A control request read by the one control its keys name, each control keyed by the key that names it
 * (`mode` for a behaviour, `undeliverableNumbers`…): a union of them answers a mistake only "Invalid
 * input", the control itself which key is wrong. The refusal says what is accepted.
 */
export function readControl<T>(
  body: unknown,
  controls: Readonly<Record<string, z.ZodType<T>>>,
): { readonly ok: true; readonly data: T } | { readonly ok: false; readonly refusal: object } {
  const keys = Object.keys(controls);
  const accepted = `one control per request: ${keys.map((key) => (key === 'mode' ? '{"mode": …, its own keys}' : `{"${key}": …} alone`)).join(', or ')}`;
  const key = typeof body === 'object' && body !== null ? keys.find((name) => name in body) : undefined;
  const parsed = key === undefined ? undefined : controls[key]?.safeParse(body);
  if (parsed?.success) return { ok: true, data: parsed.data };
  const detail = parsed ? z.prettifyError(parsed.error) : `none of the keys ${keys.join(', ')}`;
  return { ok: false, refusal: { error: 'invalid control request', detail, accepted } };
}

/** The options every simulator takes, whatever gateway it stands in for. */
export interface GatewaySimulatorOptions
  extends Pick<SimulatorOptions, 'logger' | 'invalidNumbers' | 'undeliverableNumbers' | 'webhookRetryMs' | 'reportDelayMs'> {
  /** The customer's webhook URLs; also settable later with `setWebhooks`. */
  readonly webhooks?: WebhookUrls | undefined;
  /** Each webhook post attempt gives up after this long and counts as failed. Default 60 000. */
  readonly webhookTimeoutMs?: number | undefined;
}

/** What sets one gateway's simulator apart, as far as the kit is concerned. */
export interface GatewayTraits<Behaviour> {
  /** Every behaviour the simulator takes; `{ mode: 'ok' }` must be one. */
  readonly behaviourSchema: z.ZodType<Behaviour>;
  /** Starts every log line and error message, e.g. `puzzel simulator`. */
  readonly label: string;
  /** What the provider calls its webhook posts in the log lines, e.g. `callback`. */
  readonly noun: string;
  /** Of the webhook posts. */
  readonly contentType: string;
  /** Sent with every webhook post besides the content type. */
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

const DEFAULT_REPORT_DELAY_MS = 50;
const SIMULATOR_ROOT = '/simulator';
const CONTROL_PATH = `${SIMULATOR_ROOT}/control`;
const MESSAGES_PATH = `${SIMULATOR_ROOT}/messages`;
const MO_PATH = `${SIMULATOR_ROOT}/mo`;
/** The reply key `POST /simulator/mo` takes on every simulator (docs/replies.md, "Try the whole loop"). */
const MO_REPLY_KEY = 'usercontext';
/** `GET /simulator/messages` is for eyes and demos, not a full dump. */
const MESSAGES_LISTED = 100;

/**
 * A simulated gateway less the gateway: send requests counted and answered as the current behaviour
 * says, `hang`ing ones held, numbers whose delivery fails, webhook posts, close(), and the
 * `/simulator/*` routes. A subclass is the gateway itself: its send API and its wire formats.
 */
export abstract class GatewaySimulator<Behaviour extends BehaviourShape> extends EventEmitter {
  /** Posts the subclass's MOs and delivery reports. */
  protected readonly forwarder: WebhookForwarder;
  /** How long after the send response has gone out the first delivery report is posted. */
  protected readonly reportDelayMs: number;
  readonly #behaviour: CountedBehaviour<Behaviour>;
  /** `POST /simulator/control` takes a behaviour or the undeliverable numbers. */
  readonly #controls: Readonly<Record<string, z.ZodType<Behaviour | { readonly undeliverableNumbers: string[] }>>>;
  readonly #held = new HeldRequests();
  readonly #invalidNumbers: ReadonlySet<string>;
  #undeliverable: ReadonlySet<string>;
  #requests = 0;

  protected constructor(options: GatewaySimulatorOptions, traits: GatewayTraits<Behaviour>) {
    super();
    const { behaviourSchema, label, noun, contentType, headers } = traits;
    this.#behaviour = new CountedBehaviour(behaviourSchema, behaviourSchema.parse({ mode: 'ok' }));
    this.#controls = { mode: behaviourSchema, undeliverableNumbers: z.object({ undeliverableNumbers: undeliverableNumbersSchema }).strict() };
    this.#invalidNumbers = new Set(options.invalidNumbers ?? []);
    this.#undeliverable = new Set(undeliverableNumbersSchema.parse(options.undeliverableNumbers ?? []));
    this.forwarder = new WebhookForwarder({
      label,
      noun,
      logger: options.logger,
      contentType,
      headers,
      retryMs: options.webhookRetryMs,
      timeoutMs: options.webhookTimeoutMs,
    });
    this.reportDelayMs = checkMs(label, 'reportDelayMs', options.reportDelayMs ?? DEFAULT_REPORT_DELAY_MS, 0);
    if (options.webhooks) this.setWebhooks(options.webhooks);
  }

  /** Every SMS accepted, oldest first. */
  protected abstract get accepted(): readonly object[];
  /** Adds the gateway's own routes, and the body parsers they need, to the simulator's scope. */
  protected abstract addGatewayRoutes(scope: HttpApp): void;
  /**
   * `POST /simulator/control`: a behaviour or the undeliverable numbers, answered with `status()` once
   * applied. A simulator with more controls (Puzzel's auth failures) overrides it.
   */
  protected onControl(request: FastifyRequest, reply: FastifyReply): unknown {
    const parsed = readControl(request.body, this.#controls);
    if (!parsed.ok) return reply.code(400).send(parsed.refusal);
    if ('undeliverableNumbers' in parsed.data) this.setUndeliverableNumbers(parsed.data.undeliverableNumbers);
    else this.setBehaviour(parsed.data);
    return this.status();
  }
  /** `POST /simulator/mo`: an MO to post as the gateway would. */
  protected abstract onMo(request: FastifyRequest, reply: FastifyReply): unknown;

  /** Send requests seen, whatever was answered. */
  get requests(): number {
    return this.#requests;
  }

  /** Requests held by `hang` whose client is still waiting. */
  get pendingRequests(): number {
    return this.#held.size;
  }

  get behaviour(): Behaviour {
    return this.#behaviour.current;
  }

  /** Throws a ZodError for a behaviour that does not fit the simulator's. */
  setBehaviour(behaviour: Behaviour): void {
    this.#behaviour.set(behaviour);
  }

  get undeliverableNumbers(): readonly string[] {
    return [...this.#undeliverable];
  }

  /**
   * International digits whose delivery report says the SMS failed, replacing the list; applies to
   * SMS whose send response goes out from now on. Throws a ZodError for anything else.
   */
  setUndeliverableNumbers(numbers: readonly string[]): void {
    this.#undeliverable = new Set(undeliverableNumbersSchema.parse(numbers));
  }

  get webhooks(): WebhookUrls {
    return this.forwarder.urls;
  }

  /**
   * Replaces both webhook URLs (an absent one is unset); posts already under way keep the URL they
   * started with. Throws for a URL that is not absolute http(s) or that carries credentials.
   */
  setWebhooks(webhooks: WebhookUrls): void {
    this.forwarder.setUrls(webhooks);
  }

  /** Every attempt to post to a webhook URL, oldest first (grows without bound, like the SMS). */
  get webhookPosts(): readonly WebhookPost[] {
    return this.forwarder.posts;
  }

  /** Posts (one MO, or one SMS's delivery reports) not yet answered 200 nor cancelled. */
  get pendingWebhooks(): number {
    return this.forwarder.pending;
  }

  /** Answers every held request as `ok` would have; returns how many there were. */
  releaseHanging(): number {
    return this.#held.releaseAll();
  }

  /** Drops every held request's connection, as a gateway that went away would; returns how many. */
  destroyHanging(): number {
    return this.#held.destroyAll();
  }

  /**
   * Cancels every post still waiting for a retry or in flight, and starts none from now on.
   * Idempotent; run by `listen()`'s close and when an app the simulator is registered on closes.
   */
  close(): Promise<void> {
    return this.forwarder.close();
  }

  /**
   * Adds the gateway's routes and `/simulator/*` to `app`, in a scope of their own; with a prefix,
   * all of them under it, the control routes without their `/simulator` (`<prefix>/control`).
   */
  register<AppLogger extends FastifyBaseLogger>(app: HttpApp<AppLogger>, mount: SimulatorMount = {}): void {
    const control = (path: string) => (mount.prefix ? path.slice(SIMULATOR_ROOT.length) : path);
    app.register(
      async (scope) => {
        this.addGatewayRoutes(scope);
        scope.addHook('preClose', async () => {
          this.destroyHanging();
          await this.close();
        });
        scope.post(control(CONTROL_PATH), async (request, reply) => this.onControl(request, reply));
        scope.get(control(CONTROL_PATH), async () => this.status());
        scope.get(control(MESSAGES_PATH), async () => this.accepted.slice(-MESSAGES_LISTED));
        scope.post(control(MO_PATH), async (request, reply) => this.onMo(request, reply));
      },
      mount.prefix ? { prefix: mount.prefix } : {},
    );
  }

  /**
   * Once the send response has gone out (or was lost: the gateway has the SMS all the same), hands
   * what it accepted to `report` with the DR URL set now; nothing when none is set.
   */
  protected reportWhenAnswered<Sms>(reply: FastifyReply, accepted: readonly Sms[], report: (accepted: readonly Sms[], drUrl: string) => void): void {
    const drUrl = this.webhooks.drUrl;
    if (accepted.length > 0 && drUrl !== undefined) reply.raw.once('close', () => report(accepted, drUrl));
  }

  /**
   * Reads the JSON of `POST /simulator/mo` by the simulator's schema, and answers it: 202 with what
   * `post` returns, 400 naming what is wrong and every key accepted. Every simulator takes the same
   * documented reply key, `usercontext` (the value the SMS being answered carried), besides its
   * provider's own name for it (`nativeReplyKey`: notifyId, sessionid), so one curl line works for each.
   */
  protected acceptMo<Mo>(
    reply: FastifyReply,
    body: unknown,
    schema: z.ZodType<Mo> & { readonly shape: Readonly<Record<string, unknown>> },
    nativeReplyKey: string,
    post: (mo: Mo) => Readonly<Record<string, string>>,
  ) {
    const accepted = [...new Set([...Object.keys(schema.shape), MO_REPLY_KEY])];
    const given = typeof body === 'object' && body !== null ? { ...(body as Record<string, unknown>) } : body;
    if (typeof given === 'object' && given !== null && MO_REPLY_KEY in given && nativeReplyKey !== MO_REPLY_KEY) {
      const record = given as Record<string, unknown>;
      if (record[nativeReplyKey] === undefined) record[nativeReplyKey] = record[MO_REPLY_KEY];
      delete record[MO_REPLY_KEY];
    }
    const parsed = schema.safeParse(given);
    if (!parsed.success) return reply.code(400).send({ error: 'invalid MO', detail: z.prettifyError(parsed.error), acceptedKeys: accepted });
    return this.postMo(reply, () => post(parsed.data));
  }

  /** Answers a read MO: 202 with what `post` returns, unless it cannot be posted. */
  protected postMo(reply: FastifyReply, post: () => Readonly<Record<string, string>>) {
    if (this.webhooks.moUrl === undefined) return reply.code(409).send({ error: 'no MO URL set: call setWebhooks({ moUrl }) first' });
    if (this.forwarder.closed) return reply.code(503).send({ error: 'simulator closed' });
    return reply.code(202).send(post());
  }

  /** Counts a send request and consumes one use of the behaviour that answers it. */
  protected takeBehaviour(): Behaviour {
    this.#requests++;
    return this.#behaviour.take();
  }

  /**
   * `body` as the answer to a processed send request: at once, or under `hang` not before the request
   * is released (or dropped, or given up by its client).
   */
  protected answer(reply: FastifyReply, behaviour: Behaviour, body: string): string | Promise<string> {
    return behaviour.mode === 'hang' ? this.#held.hold(reply, body) : body;
  }

  /** Whether the simulated network refuses `digits` at send time. */
  protected isInvalidNumber(digits: string): boolean {
    return this.#invalidNumbers.has(digits);
  }

  protected isUndeliverable(digits: string): boolean {
    return this.#undeliverable.has(digits);
  }

  /** What `GET /simulator/control` answers. */
  protected status(): Record<string, unknown> {
    return {
      behaviour: this.behaviour,
      remaining: this.#behaviour.remaining ?? null,
      requests: this.requests,
      received: this.accepted.length,
      pendingRequests: this.pendingRequests,
      undeliverableNumbers: this.undeliverableNumbers,
      ...this.forwarder.status(),
    };
  }
}

/**
 * A simulator of a provider plug-in (src/simulators/contract.ts's ProviderSimulator): it keeps what it
 * accepted as records and is waited on by webhook kind. IntelliSoftware's, the relay's own, keeps
 * its SMS in its own form.
 */
export abstract class RecordingSimulator<Behaviour extends BehaviourShape, Sms extends SimulatedSmsRecord> extends GatewaySimulator<Behaviour> {
  /** Every SMS accepted, oldest first (grows without bound: the simulator is for tests and demos). */
  readonly records: Sms[] = [];

  protected get accepted(): readonly Sms[] {
    return this.records;
  }

  /** Resolves once `count` posts of `kind` were answered 200 in all; rejects after `timeoutMs`. */
  waitForWebhookPosts(kind: WebhookKind, count: number, timeoutMs?: number): Promise<void> {
    return this.forwarder.waitForAnswered(kind, count, timeoutMs);
  }
}

// ---------------------------------------------------------------------------------------------------
// ASP.NET front ends (IntelliSoftware, InteractSMS)

const FORM_MEDIA_TYPE = 'application/x-www-form-urlencoded';

/**
 * Form bodies as the gateways' front ends take them: any `application/x-www-form-urlencoded` media
 * type, whatever its parameters (IntelliSoftware's Java SDK sends the malformed `; charset:utf-8`). The
 * parser lives in the simulator's scope; an inherited one is replaced there, and only there.
 */
export function useFormParser(scope: HttpApp, bodyLimit: number): void {
  if (scope.hasContentTypeParser(FORM_MEDIA_TYPE)) scope.removeContentTypeParser(FORM_MEDIA_TYPE);
  scope.addContentTypeParser(FORM_MEDIA_TYPE, { parseAs: 'string', bodyLimit }, (_request, body, done) => done(null, new URLSearchParams(body as string)));
}

/**
 * What an ASP.NET front end shows instead of the gateway's answer: for `http` a bare error page with
 * that status, for `garbage` the application's error page `page` with a 200.
 */
export function aspNetErrorPage(
  reply: FastifyReply,
  behaviour: { readonly mode: 'http'; readonly status: number } | { readonly mode: 'garbage' },
  page: string,
): string {
  reply.type('text/html; charset=utf-8');
  if (behaviour.mode === 'garbage') return page;
  reply.code(behaviour.status);
  return `<html><body><h1>HTTP ${behaviour.status}</h1></body></html>`;
}

/**
 * Query string and form fields together, names in lower case and a repeated name's values joined
 * with commas, as ASP.NET's request collections present them. Unknown fields are simply never read.
 */
export function readAspNetFields(request: FastifyRequest): ReadonlyMap<string, string> {
  const fields = new Map<string, string>();
  const query = new URL(request.url, 'http://simulator.invalid').searchParams;
  const form = request.body instanceof URLSearchParams ? request.body : new URLSearchParams();
  for (const source of [query, form]) {
    for (const [name, value] of source) {
      const key = name.toLowerCase();
      const previous = fields.get(key);
      fields.set(key, previous === undefined ? value : `${previous},${value}`);
    }
  }
  return fields;
}

// ---------------------------------------------------------------------------------------------------
// Standalone

export interface StandaloneOptions {
  readonly logger: Logger;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default ephemeral. */
  readonly port?: number;
}

export interface Standalone<Simulator> {
  readonly simulator: Simulator;
  readonly url: string;
  /** Drops held requests, cancels pending posts and closes the server. Idempotent. */
  close(): Promise<void>;
}

/** Serves `simulator` on its own fastify app, for tests and demos. */
export async function listenStandalone<Simulator extends GatewaySimulator<BehaviourShape>>(
  simulator: Simulator,
  options: StandaloneOptions,
): Promise<Standalone<Simulator>> {
  const app = Fastify({
    loggerInstance: options.logger,
    // A simulator logs a line per SMS, which says more than a line per request.
    logController: new LogController({ disableRequestLogging: true }),
    // Held (`hang`) requests must not keep close() waiting.
    forceCloseConnections: true,
  });
  simulator.register(app);
  const host = options.host ?? '127.0.0.1';
  await app.listen({ host, port: options.port ?? 0 });
  const { port } = app.server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      simulator.destroyHanging();
      await simulator.close();
      await app.close();
    })();
    return closing;
  };
  return { simulator, url, close };
}
