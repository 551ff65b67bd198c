/**
 * A stand-in for the InteractSMS (Phonovation) legacy v1 gateway (PROTOCOLS.md §3), for tests and
 * demos. Written from the protocol notes, independently of the adapter (src/gateways/interactsms.ts),
 * sharing no parsing or formatting code with it: both are held to the same wire fixtures.
 *
 * Send API: `GET|POST /api/v1/sendmessage.aspx` (and the older `/HTTP_API/V1/sendmessage.aspx`),
 * fields from the query string and the form, names case-insensitive (ASP.NET). It answers HTTP 200
 * text/plain, a status line then a message: `0\nRequest deferred successfully\n` when it takes the
 * SMS. The vendor publishes no other code, so the refusals below are INVENTED (the adapter must not
 * rely on them, except that the login one speaks of the username and password, as a real one would):
 *
 * | code | text                                        | when                                            |
 * | ---- | ------------------------------------------- | ----------------------------------------------- |
 * | 1    | Invalid username or password                | `user` or `password` missing or wrong           |
 * | 2    | Invalid api_id                              | `api_id` missing or wrong (when one is set)     |
 * | 3    | No destination number                       | `to` empty                                      |
 * | 4    | Invalid destination number                  | a number not 7–15 digits, or an invalid number  |
 * | 5    | No text                                     | no `text` field                                 |
 * | 6    | Text is longer than 160 characters          | after `¬` became a line break                   |
 * | 7    | Too many destination numbers                | more than 100 (the real limit is not published) |
 * | 8    | Invalid sender                              | `from` neither ≤ 11 letters/digits nor ≤ 15 digits |
 * | 9    | Notify id is longer than 30 characters      |                                                 |
 *
 * One status line answers the whole request, so one invalid number refuses all of them.
 * `deliverytime` is accepted and ignored (its meaning is disputed; the adapter never sends it).
 *
 * Like the real platform it posts to the customer's URLs (§3.4, §3.5): a delivery receipt for every
 * accepted number of an SMS sent with a notify id, and a received SMS (MO) for each `reply()` or
 * `POST /simulator/mo`, each signed with `SMS-Verify` and retried until answered HTTP 200.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setImmediate as nextTurn, setTimeout as pause } from 'node:timers/promises';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type RawServerDefault,
} from 'fastify';
import { z } from 'zod';
import type { Logger } from '../log.ts';
import { maskNumber } from '../sms/numbers.ts';
import type { ProviderSimulator, SimulatedSmsRecord, SimulatorOptions } from './provider.ts';

export interface InteractSmsSimulatorOptions extends SimulatorOptions {
  /** The account's forwarding URLs; also settable later with `setWebhooks`. */
  readonly webhooks?: SimulatorWebhooks | undefined;
  /** Each post attempt gives up after this long and counts as failed. Default 60 000. */
  readonly webhookTimeoutMs?: number | undefined;
  /** How `SMS-Verify` is computed (PROTOCOLS §3.6). Default `portal`. */
  readonly webhookFormula?: 'portal' | 'kb' | undefined;
  /**
   * The account's long code: `SMS-To` of every MO, and `SMS-From` of delivery receipts of SMS sent
   * without `from`. Default `353870000000`.
   */
  readonly longCode?: string | undefined;
  /** Time source for `SMS-TimeStamp` (ms since the epoch); tests fix it to compare exact bytes. */
  readonly clock?: (() => number) | undefined;
}

export interface SimulatorWebhooks {
  readonly moUrl?: string | undefined;
  readonly drUrl?: string | undefined;
}

/** One attempt to post to a webhook URL, whatever came of it. */
export interface WebhookPost {
  readonly kind: 'mo' | 'dr';
  /** As configured, query string included. */
  readonly url: string;
  /** The form body, identical on every attempt of one post. */
  readonly body: string;
  /** The HTTP status answered, or `'error'` for a connection error, a timeout or a cancelled attempt. */
  readonly status: number | 'error';
  readonly at: Date;
}

const timesSchema = z.number().int().positive().optional();
const behaviourSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('ok') }).strict(),
  z
    .object({
      mode: z.literal('error'),
      code: z.number().int().min(-999_999).max(999_999).refine((code) => code !== 0, 'an error code is not 0'),
      text: z.string().max(500).optional(),
      times: timesSchema,
    })
    .strict(),
  z.object({ mode: z.literal('http'), status: z.number().int().min(200).max(599), times: timesSchema }).strict(),
  z.object({ mode: z.literal('garbage'), times: timesSchema }).strict(),
  z.object({ mode: z.literal('hang'), times: timesSchema }).strict(),
]);

/**
 * How the next send requests are answered; `times` limits it to that many requests, then `ok` again.
 * `error` answers `<code>\n<text>` (HTTP 200, as the platform does), `http` another HTTP status,
 * `garbage` an HTML error page with 200, `hang` takes the SMS but never answers (a lost answer).
 */
export type InteractSmsBehaviour = z.infer<typeof behaviourSchema>;

export const SEND_PATHS = ['/api/v1/sendmessage.aspx', '/HTTP_API/V1/sendmessage.aspx'] as const;
const CONTROL_PATH = '/simulator/control';
const MESSAGES_PATH = '/simulator/messages';
const MO_PATH = '/simulator/mo';

const ACCEPTED_BODY = '0\nRequest deferred successfully\n';
const REFUSALS = {
  login: [1, 'Invalid username or password'],
  apiId: [2, 'Invalid api_id'],
  noTo: [3, 'No destination number'],
  badNumber: [4, 'Invalid destination number'],
  noText: [5, 'No text'],
  longText: [6, 'Text is longer than 160 characters'],
  tooManyNumbers: [7, 'Too many destination numbers'],
  badSender: [8, 'Invalid sender'],
  longNotifyId: [9, 'Notify id is longer than 30 characters'],
} as const satisfies Record<string, readonly [number, string]>;
const DEFAULT_ERROR_TEXT = 'Simulated error';

const MAX_TEXT_CHARS = 160;
const MAX_NUMBERS_PER_REQUEST = 100;
const MAX_NOTIFY_ID_CHARS = 30;
const NUMBER = /^\d{7,15}$/;
const ALPHANUMERIC_SENDER = /^[A-Za-z0-9]{1,11}$/;
const NUMERIC_SENDER = /^\d{1,15}$/;
/** The character the gateway turns into a line break. */
const LINE_BREAK_MARK = '\u00ac';

const DEFAULT_LONG_CODE = '353870000000';
const DEFAULT_WEBHOOK_RETRY_MS = 300_000;
const DEFAULT_WEBHOOK_TIMEOUT_MS = 60_000;
const DEFAULT_REPORT_DELAY_MS = 50;
const DEFAULT_WAIT_MS = 5_000;
const FORM_BODY_LIMIT_BYTES = 64 * 1024;
const MESSAGES_LISTED = 100;
const FORM_MEDIA_TYPE = 'application/x-www-form-urlencoded';
const WEBHOOK_POST_EVENT = 'webhookPost';
const MO_TEXT_MAX_CHARS = 10_000;
const MAX_UNDELIVERABLE_NUMBERS = 10_000;

const GARBAGE_PAGE =
  '<!DOCTYPE html>\r\n<html><head><title>Runtime Error</title></head>\r\n' +
  "<body><h1>Server Error in '/' Application.</h1></body></html>\r\n";

const digitsSchema = z.string().regex(/^\d{7,15}$/, 'international digits without +');
const undeliverableSchema = z.array(digitsSchema).max(MAX_UNDELIVERABLE_NUMBERS);
const controlSchema = z.union([behaviourSchema, z.object({ undeliverableNumbers: undeliverableSchema }).strict()]);
const moSchema = z
  .object({
    from: digitsSchema,
    text: z.string().max(MO_TEXT_MAX_CHARS),
    notifyId: z.string().max(MAX_NOTIFY_ID_CHARS).optional(),
  })
  .strict();

type HttpApp<AppLogger extends FastifyBaseLogger> = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, AppLogger>;
type Fields = ReadonlyMap<string, string>;
type HeldRequest = { readonly answer: () => void; readonly destroy: () => void };
type Processed = { readonly body: string; readonly accepted: readonly SimulatedSmsRecord[] };
type PostContext = Readonly<Record<string, string | number>>;

export class InteractSmsSimulator extends EventEmitter implements ProviderSimulator {
  /** Every SMS accepted (one per number), oldest first. */
  readonly records: SimulatedSmsRecord[] = [];
  /** Every attempt to post to a webhook URL, oldest first. */
  readonly webhookPosts: WebhookPost[] = [];
  #requests = 0;
  #behaviour: InteractSmsBehaviour = { mode: 'ok' };
  #behaviourRemaining: number | undefined;
  readonly #hanging = new Set<HeldRequest>();
  readonly #username: string;
  readonly #password: string;
  readonly #accountId: string | undefined;
  readonly #logger: Logger;
  readonly #invalidNumbers: ReadonlySet<string>;
  #undeliverable: ReadonlySet<string>;
  #webhooks: SimulatorWebhooks = {};
  readonly #webhookRetryMs: number;
  readonly #webhookTimeoutMs: number;
  readonly #reportDelayMs: number;
  readonly #secret: string;
  readonly #formula: 'portal' | 'kb';
  readonly #longCode: string;
  readonly #clock: () => number;
  #nextLocalId = 0;
  readonly #closing = new AbortController();
  readonly #deliveries = new Set<Promise<void>>();

  constructor(options: InteractSmsSimulatorOptions) {
    super();
    this.#username = options.username;
    this.#password = options.password;
    this.#accountId = options.accountId;
    this.#logger = options.logger.child({ component: 'interactsms-simulator' });
    this.#invalidNumbers = new Set(options.invalidNumbers ?? []);
    this.#undeliverable = new Set(undeliverableSchema.parse(options.undeliverableNumbers ?? []));
    this.#webhookRetryMs = checkMs('webhookRetryMs', options.webhookRetryMs ?? DEFAULT_WEBHOOK_RETRY_MS, 1);
    this.#webhookTimeoutMs = checkMs('webhookTimeoutMs', options.webhookTimeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS, 1);
    this.#reportDelayMs = checkMs('reportDelayMs', options.reportDelayMs ?? DEFAULT_REPORT_DELAY_MS, 0);
    this.#secret = options.webhookSecret ?? options.password;
    this.#formula = options.webhookFormula ?? 'portal';
    this.#longCode = options.longCode ?? DEFAULT_LONG_CODE;
    if (!/^\d{3,15}$/.test(this.#longCode)) throw new RangeError('simulator: longCode must be 3–15 digits');
    this.#clock = options.clock ?? Date.now;
    if (options.webhooks) this.setWebhooks(options.webhooks);
  }

  /** Send requests seen, whatever was answered. */
  get requests(): number {
    return this.#requests;
  }

  /** Requests held by `hang` whose client is still waiting. */
  get pendingRequests(): number {
    return this.#hanging.size;
  }

  /** Posts (one MO, or one number's receipt) not yet answered 200 nor cancelled. */
  get pendingWebhooks(): number {
    return this.#deliveries.size;
  }

  get behaviour(): InteractSmsBehaviour {
    return this.#behaviour;
  }

  get undeliverableNumbers(): readonly string[] {
    return [...this.#undeliverable];
  }

  /** Throws a ZodError for a behaviour that does not fit `InteractSmsBehaviour`. */
  setBehaviour(behaviour: InteractSmsBehaviour): void {
    this.#behaviour = behaviourSchema.parse(behaviour);
    this.#behaviourRemaining = 'times' in this.#behaviour ? this.#behaviour.times : undefined;
  }

  /** Numbers (international digits) whose receipt says `SMS-Success=False`, replacing the list. */
  setUndeliverableNumbers(numbers: readonly string[]): void {
    this.#undeliverable = new Set(undeliverableSchema.parse(numbers));
  }

  /**
   * Replaces both URLs (an absent one is unset); posts already under way keep theirs. Throws for a
   * URL that is not absolute http(s) or that carries credentials.
   */
  setWebhooks(webhooks: SimulatorWebhooks): void {
    this.#webhooks = {
      ...(webhooks.moUrl === undefined ? {} : { moUrl: checkWebhookUrl('moUrl', webhooks.moUrl) }),
      ...(webhooks.drUrl === undefined ? {} : { drUrl: checkWebhookUrl('drUrl', webhooks.drUrl) }),
    };
  }

  /**
   * The phone `from` (international digits) sends `text` to the account's long code; `answering`
   * is the SMS it replies to, whose notify id the MO carries in `SMS-NotifyId`. Posted after this
   * call returns. Returns the MO's id: the platform gives an MO none, so this is the id the relay
   * derives from what a retry repeats (SHA-256 of From, To, TimeStamp and Content joined by LF,
   * hex, 40 digits) — computed here on its own, so a test can compare the two.
   */
  reply(from: string, text: string, answering?: SimulatedSmsRecord): string {
    return this.#sendMo(moSchema.parse({ from, text, ...(answering?.tracking ? { notifyId: answering.tracking } : {}) }));
  }

  /** Resolves once `count` posts of `kind` were answered 200 in all; rejects after `timeoutMs`. */
  waitForWebhookPosts(kind: 'mo' | 'dr', count: number, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    const done = () => this.webhookPosts.filter((post) => post.kind === kind && post.status === 200).length >= count;
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onPost = () => {
        if (!done()) return;
        clearTimeout(timer);
        this.off(WEBHOOK_POST_EVENT, onPost);
        resolve();
      };
      const timer = setTimeout(() => {
        this.off(WEBHOOK_POST_EVENT, onPost);
        const answered = this.webhookPosts.filter((post) => post.kind === kind && post.status === 200).length;
        reject(new Error(`simulator: expected ${count} ${kind} posts answered 200 within ${timeoutMs} ms, got ${answered}`));
      }, timeoutMs);
      this.on(WEBHOOK_POST_EVENT, onPost);
    });
  }

  /** Answers every held request as `ok` would have; returns how many there were. */
  releaseHanging(): number {
    return this.#settleHanging((held) => held.answer());
  }

  /** Drops every held request's connection; returns how many there were. */
  destroyHanging(): number {
    return this.#settleHanging((held) => held.destroy());
  }

  /** Cancels every post waiting for a retry or in flight and starts none from now on. Idempotent. */
  async close(): Promise<void> {
    this.#closing.abort();
    await Promise.allSettled([...this.#deliveries]);
  }

  /** Adds the routes to `app`, in their own scope so their form parser stays theirs. */
  register<AppLogger extends FastifyBaseLogger>(app: HttpApp<AppLogger>): void {
    app.register(async (scope) => {
      if (scope.hasContentTypeParser(FORM_MEDIA_TYPE)) scope.removeContentTypeParser(FORM_MEDIA_TYPE);
      scope.addContentTypeParser(
        FORM_MEDIA_TYPE,
        { parseAs: 'string', bodyLimit: FORM_BODY_LIMIT_BYTES },
        (_request, body, done) => done(null, new URLSearchParams(body as string)),
      );
      scope.addHook('preClose', async () => {
        this.destroyHanging();
        await this.close();
      });
      for (const url of SEND_PATHS) {
        scope.route({ method: ['GET', 'POST'], url, handler: (request, reply) => this.#onSend(request, reply) });
      }
      scope.post(CONTROL_PATH, async (request, reply) => this.#onControl(request, reply));
      scope.get(CONTROL_PATH, async () => this.#status());
      scope.get(MESSAGES_PATH, async () => this.records.slice(-MESSAGES_LISTED));
      scope.post(MO_PATH, async (request, reply) => this.#onMo(request, reply));
    });
  }

  /** A standalone simulated gateway (default 127.0.0.1, ephemeral port) for tests and demos. */
  static async listen(
    options: InteractSmsSimulatorOptions & { host?: string; port?: number },
  ): Promise<{ simulator: InteractSmsSimulator; url: string; close(): Promise<void> }> {
    const simulator = new InteractSmsSimulator(options);
    const app = Fastify({
      loggerInstance: options.logger,
      logController: new LogController({ disableRequestLogging: true }),
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

  async #onSend(request: FastifyRequest, reply: FastifyReply): Promise<string> {
    this.#requests++;
    const behaviour = this.#takeBehaviour();
    reply.type('text/plain; charset=utf-8');
    switch (behaviour.mode) {
      case 'error':
        return `${behaviour.code}\n${behaviour.text ?? DEFAULT_ERROR_TEXT}\n`;
      case 'http':
        reply.code(behaviour.status).type('text/html; charset=utf-8');
        return `<html><body><h1>HTTP ${behaviour.status}</h1></body></html>`;
      case 'garbage':
        reply.type('text/html; charset=utf-8');
        return GARBAGE_PAGE;
      case 'hang':
        return this.#hold(reply, this.#answerSend(request, reply));
      case 'ok':
        return this.#answerSend(request, reply);
    }
  }

  /** Processes the request and, once the response has gone out (or was lost), starts the receipts. */
  #answerSend(request: FastifyRequest, reply: FastifyReply): string {
    const { body, accepted } = this.#processSend(readFields(request));
    const drUrl = this.#webhooks.drUrl;
    const reported = accepted.filter((sms) => sms.tracking !== undefined);
    if (reported.length > 0 && drUrl !== undefined) {
      reply.raw.once('close', () => this.#reportDelivery(reported, drUrl));
    }
    return body;
  }

  #takeBehaviour(): InteractSmsBehaviour {
    const behaviour = this.#behaviour;
    if (this.#behaviourRemaining !== undefined && --this.#behaviourRemaining <= 0) {
      this.#behaviour = { mode: 'ok' };
      this.#behaviourRemaining = undefined;
    }
    return behaviour;
  }

  #hold(reply: FastifyReply, answer: string): Promise<string> {
    return new Promise((resolve) => {
      const held: HeldRequest = {
        answer: () => resolve(answer),
        destroy: () => {
          reply.raw.destroy();
          resolve(answer);
        },
      };
      this.#hanging.add(held);
      reply.raw.once('close', () => {
        this.#hanging.delete(held);
        resolve(answer);
      });
    });
  }

  #settleHanging(settle: (held: HeldRequest) => void): number {
    const held = [...this.#hanging];
    this.#hanging.clear();
    held.forEach(settle);
    return held.length;
  }

  /** Validates in the order of the table above; records what it accepts. */
  #processSend(fields: Fields): Processed {
    const refuse = ([code, text]: readonly [number, string]): Processed => ({ body: `${code}\n${text}\n`, accepted: [] });
    const user = fields.get('user');
    const password = fields.get('password');
    if (!user || !password || user !== this.#username || password !== this.#password) return refuse(REFUSALS.login);
    if (this.#accountId !== undefined && (fields.get('api_id') ?? fields.get('apiid')) !== this.#accountId) {
      return refuse(REFUSALS.apiId);
    }
    const numbers = [
      ...new Set(
        (fields.get('to') ?? '')
          .split(',')
          .map((number) => number.trim())
          .filter((number) => number !== ''),
      ),
    ];
    if (numbers.length === 0) return refuse(REFUSALS.noTo);
    if (numbers.length > MAX_NUMBERS_PER_REQUEST) return refuse(REFUSALS.tooManyNumbers);
    if (numbers.some((number) => !NUMBER.test(number) || this.#invalidNumbers.has(number))) return refuse(REFUSALS.badNumber);
    const wireText = fields.get('text');
    if (wireText === undefined) return refuse(REFUSALS.noText);
    const text = wireText.replaceAll(LINE_BREAK_MARK, '\n');
    if (text.length > MAX_TEXT_CHARS) return refuse(REFUSALS.longText);
    const from = fields.get('from') || undefined;
    if (from !== undefined && !ALPHANUMERIC_SENDER.test(from) && !NUMERIC_SENDER.test(from)) return refuse(REFUSALS.badSender);
    const notifyId = (fields.get('notify_id') ?? fields.get('notifyid')) || undefined;
    if (notifyId !== undefined && notifyId.length > MAX_NOTIFY_ID_CHARS) return refuse(REFUSALS.longNotifyId);

    const accepted = numbers.map((to): SimulatedSmsRecord => {
      const id = notifyId ?? `sim-${++this.#nextLocalId}`;
      return { id, to, text, ...(from ? { from } : {}), ...(notifyId ? { tracking: notifyId } : {}) };
    });
    for (const sms of accepted) {
      this.records.push(sms);
      this.#logger.info({ simId: sms.id, to: maskNumber(`+${sms.to}`), chars: sms.text.length }, 'simulator: SMS received');
      this.emit('sms', sms);
    }
    return { body: ACCEPTED_BODY, accepted };
  }

  #onControl(request: FastifyRequest, reply: FastifyReply) {
    const parsed = controlSchema.safeParse(request.body);
    if (!parsed.success) return reply.code(400).send({ error: 'invalid control request', detail: z.prettifyError(parsed.error) });
    if ('mode' in parsed.data) this.setBehaviour(parsed.data);
    else this.setUndeliverableNumbers(parsed.data.undeliverableNumbers);
    return this.#status();
  }

  #status() {
    return {
      behaviour: this.#behaviour,
      remaining: this.#behaviourRemaining ?? null,
      requests: this.#requests,
      received: this.records.length,
      pendingRequests: this.pendingRequests,
      undeliverableNumbers: this.undeliverableNumbers,
      // Whether set, not the URLs: they may carry a token.
      webhooks: { mo: this.#webhooks.moUrl !== undefined, dr: this.#webhooks.drUrl !== undefined },
      webhookPosts: this.webhookPosts.length,
      pendingWebhooks: this.pendingWebhooks,
    };
  }

  #onMo(request: FastifyRequest, reply: FastifyReply) {
    const parsed = moSchema.safeParse(request.body);
    if (!parsed.success) return reply.code(400).send({ error: 'invalid MO', detail: z.prettifyError(parsed.error) });
    if (this.#webhooks.moUrl === undefined) return reply.code(409).send({ error: 'no MO URL set: call setWebhooks({ moUrl }) first' });
    if (this.#closing.signal.aborted) return reply.code(503).send({ error: 'simulator closed' });
    return reply.code(202).send({ id: this.#sendMo(parsed.data) });
  }

  #sendMo(mo: z.infer<typeof moSchema>): string {
    const url = this.#webhooks.moUrl;
    if (url === undefined) throw new Error('simulator: no MO URL set; call setWebhooks({ moUrl }) first');
    if (this.#closing.signal.aborted) throw new Error('simulator: closed');
    const timestamp = gatewayTime(this.#clock());
    const notifyId = mo.notifyId ?? '';
    const keyphrase = mo.text.trim().split(/\s+/)[0] || '*';
    const verify =
      this.#formula === 'portal' ? md5Hex(`${mo.from}${mo.text}${this.#secret}`) : md5Hex(`${notifyId}${this.#secret}`);
    const body = new URLSearchParams([
      ['SMS-Type', 'Text'],
      ['SMS-Content', mo.text],
      ['SMS-Keyphrase', keyphrase],
      ['SMS-Network', ''],
      ['SMS-From', mo.from],
      ['SMS-To', this.#longCode],
      ['SMS-NotifyId', notifyId],
      ['SMS-TimeStamp', timestamp],
      ['SMS-Verify', verify],
    ]).toString();
    const id = createHash('sha256')
      .update(`${mo.from}\n${this.#longCode}\n${timestamp}\n${mo.text}`, 'utf8')
      .digest('hex')
      .slice(0, 40);
    this.#track(async () => {
      await nextTurn(undefined, { signal: this.#closing.signal });
      await this.#forward('mo', url, body, { moId: id, from: maskNumber(`+${mo.from}`) });
    });
    return id;
  }

  /** One receipt per accepted number, after `reportDelayMs`, retried until answered 200. */
  #reportDelivery(accepted: readonly SimulatedSmsRecord[], drUrl: string): void {
    for (const sms of accepted) {
      const notifyId = sms.tracking ?? '';
      const success = this.#undeliverable.has(sms.to) ? 'False' : 'True';
      this.#track(async () => {
        await pause(this.#reportDelayMs, undefined, { signal: this.#closing.signal });
        const body = new URLSearchParams([
          ['SMS-Type', 'Notification'],
          ['SMS-NotifyId', notifyId],
          ['SMS-Success', success],
          ['SMS-To', sms.to],
          ['SMS-From', sms.from ?? this.#longCode],
          ['SMS-Verify', md5Hex(`${notifyId}${success}${this.#secret}`)],
          ['SMS-TotalToSend', '1'],
          ['SMS-TotalSent', success === 'True' ? '1' : '0'],
          ['SMS-TotalFailed', success === 'True' ? '0' : '1'],
          ['SMS-TimeStamp', gatewayTime(this.#clock())],
        ]).toString();
        await this.#forward('dr', drUrl, body, { notifyId, success, to: maskNumber(`+${sms.to}`) });
      });
    }
  }

  #track(post: () => Promise<void>): void {
    if (this.#closing.signal.aborted) return;
    const delivery = (async () => {
      try {
        await post();
      } catch (error) {
        if (this.#closing.signal.aborted) return;
        this.#logger.error({ err: error }, 'simulator: a webhook post failed unexpectedly');
      }
    })();
    this.#deliveries.add(delivery);
    void delivery.finally(() => this.#deliveries.delete(delivery));
  }

  /** Posts `body` until answered 200, `webhookRetryMs` apart, the same body every time. */
  async #forward(kind: WebhookPost['kind'], target: string, body: string, context: PostContext): Promise<void> {
    for (let attempt = 1; !this.#closing.signal.aborted; attempt++) {
      if ((await this.#attempt(kind, target, body, context, attempt)) === 200) return;
      try {
        await pause(this.#webhookRetryMs, undefined, { signal: this.#closing.signal });
      } catch {
        return;
      }
    }
  }

  async #attempt(
    kind: WebhookPost['kind'],
    target: string,
    body: string,
    context: PostContext,
    attempt: number,
  ): Promise<number | 'error'> {
    const at = new Date();
    let status: number | 'error';
    let error: string | undefined;
    try {
      const response = await fetch(target, {
        method: 'POST',
        headers: { 'content-type': FORM_MEDIA_TYPE },
        body,
        redirect: 'manual',
        signal: AbortSignal.any([this.#closing.signal, AbortSignal.timeout(this.#webhookTimeoutMs)]),
      });
      status = response.status;
      await response.arrayBuffer().catch(() => undefined);
    } catch (cause) {
      status = 'error';
      error = this.#closing.signal.aborted ? 'cancelled by close()' : describeFetchError(cause);
    }
    const post: WebhookPost = { kind, url: target, body, status, at };
    this.webhookPosts.push(post);
    this.#logger.info(
      { ...context, kind, url: withoutQuery(target), attempt, httpStatus: status, ...(error ? { error } : {}) },
      status === 200
        ? 'simulator: webhook posted'
        : this.#closing.signal.aborted
          ? 'simulator: webhook post cancelled'
          : 'simulator: webhook post not answered 200; will retry',
    );
    this.emit(WEBHOOK_POST_EVENT, post);
    return status;
  }
}

/**
 * Query string and form fields together, names in lower case, a repeated name's values joined
 * with commas: how ASP.NET's request collections present them.
 */
function readFields(request: FastifyRequest): Fields {
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

/** `yyyy-MM-dd HH:mm:ss` in UTC, as the platform stamps its posts. */
function gatewayTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

function md5Hex(text: string): string {
  return createHash('md5').update(text, 'utf8').digest('hex');
}

function checkMs(name: string, ms: number, min: number): number {
  if (!Number.isSafeInteger(ms) || ms < min) throw new RangeError(`simulator: ${name} must be an integer >= ${min}, got ${ms}`);
  return ms;
}

function checkWebhookUrl(name: string, value: string): string {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new TypeError(`simulator: ${name} is not an absolute URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new TypeError(`simulator: ${name} must be http or https, not ${parsed.protocol}`);
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new TypeError(`simulator: ${name} must not carry credentials; put a token in the query string`);
  }
  return value;
}

/** For logs: the URL without query string and fragment, where a token may ride. */
function withoutQuery(target: string): string {
  const parsed = new URL(target);
  parsed.search = '';
  parsed.hash = '';
  return parsed.toString();
}

function describeFetchError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause;
  if (cause instanceof Error) return 'code' in cause && typeof cause.code === 'string' ? cause.code : cause.message;
  return error.name === 'Error' ? error.message : error.name;
}
