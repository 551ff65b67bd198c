/**
 * A stand-in for the IntelliSoftware legacy HTTP gateway (PROTOCOLS.md §1, §6), for tests and demos.
 * It is written from the protocol notes, independently of the adapter, and shares no code with it:
 * both are held to the same wire fixtures, so neither can hide a mistake of the other.
 *
 * Like the real platform it also calls the customer's forwarding URLs (§1.4, §1.5): a delivery
 * report form for every accepted SMS, and a received-SMS (MO) form for each MO injected through
 * `POST /simulator/mo` or `sendMo()`, each retried every few minutes until answered HTTP 200.
 */
import { EventEmitter } from 'node:events';
import { setImmediate as nextTurn, setTimeout as pause } from 'node:timers/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
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

export interface IntelliSoftwareSimulatorOptions {
  readonly username: string;
  readonly password: string;
  readonly logger: Logger;
  /** International digits the simulated network cannot route: answered `ERR:INVALID_NUMBER`. */
  readonly invalidNumbers?: readonly string[] | undefined;
  /**
   * International digits the gateway accepts (`ID:`) but cannot deliver to: their final delivery
   * report is status 6 (unable to deliver) instead of 4 (delivered).
   */
  readonly undeliverableNumbers?: readonly string[] | undefined;
  /** The account's forwarding URLs; also settable later with `setWebhooks`. */
  readonly webhooks?: SimulatorWebhooks | undefined;
  /** Wait between attempts of a forward that was not answered HTTP 200. Default 300 000 (the platform's 5 min). */
  readonly webhookRetryMs?: number | undefined;
  /** Each forwarding attempt gives up after this long and counts as failed. Default 60 000. */
  readonly webhookTimeoutMs?: number | undefined;
  /** How long after the send response has gone out the first delivery report is posted. Default 50. */
  readonly reportDelayMs?: number | undefined;
}

/**
 * The account's forwarding URLs (the platform's Preferences → Forwarding tab). A secret can ride in
 * the query string (§1.8); it is never logged.
 */
export interface SimulatorWebhooks {
  /** Receives each MO as the form `from, text, msgid, sent[, networkcode][, usercontext]`. */
  readonly moUrl?: string | undefined;
  /** Receives the form `msgid, status, toaddr` for each status change of each accepted SMS. */
  readonly drUrl?: string | undefined;
}

/** One attempt to post to a forwarding URL, whatever came of it. */
export interface WebhookPost {
  readonly kind: 'mo' | 'dr';
  /** As configured, query string included. */
  readonly url: string;
  /** The `application/x-www-form-urlencoded` body, identical on every attempt of one forward. */
  readonly body: string;
  /** The HTTP status answered, or `'error'` for a connection error, a timeout or a cancelled attempt. */
  readonly status: number | 'error';
  /** When the attempt started. */
  readonly at: Date;
}

/** A received SMS to forward, as `POST /simulator/mo` takes it (JSON) and `sendMo()` takes it. */
export interface SimulatedMo {
  /** The sender, international digits without `+`. */
  readonly from: string;
  readonly text: string;
  /** Forwarded only when given (an empty string is forwarded as an empty field). */
  readonly usercontext?: string | undefined;
  /** Only for messages received on shortcodes (§1.4); forwarded only when given. */
  readonly networkcode?: string | undefined;
  /** The platform's id for the MO; a fresh 20-digit id when absent. */
  readonly msgid?: string | undefined;
}

/** One SMS the simulated gateway accepted: one per recipient of a request. */
export interface SimulatedSms {
  readonly id: string;
  /** International digits, as renormalised by the gateway. */
  readonly to: string;
  /** Decoded text, also for type 2 (hex). */
  readonly text: string;
  readonly from?: string;
  readonly userContext?: string;
  readonly maxconcat: number;
  readonly type: number;
  /** `/smsgateway/sendmsg.aspx` or the Java SDK's `/smsgateway/default.aspx`. */
  readonly endpointPath: string;
  readonly receivedAt: Date;
}

const timesSchema = z.number().int().positive().optional();
const behaviourSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('ok') }).strict(),
  z.object({ mode: z.literal('error'), code: z.string().regex(/^[A-Z0-9_]+$/), times: timesSchema }).strict(),
  z.object({ mode: z.literal('delay'), seconds: z.number().int().nonnegative(), times: timesSchema }).strict(),
  z.object({ mode: z.literal('http'), status: z.number().int().min(200).max(599), times: timesSchema }).strict(),
  z.object({ mode: z.literal('garbage'), times: timesSchema }).strict(),
  z.object({ mode: z.literal('hang'), times: timesSchema }).strict(),
]);

/**
 * How the next send requests are answered. `times` limits it to that many requests, after which the
 * simulator is `ok` again. `hang` processes the request (the SMS is recorded, as the gateway got it)
 * but never answers: a response lost in flight.
 */
export type SimulatorBehaviour = z.infer<typeof behaviourSchema>;

export const SEND_PATHS = ['/smsgateway/sendmsg.aspx', '/smsgateway/default.aspx'] as const;
export const BALANCE_PATHS = ['/smsgateway/getbalance.aspx', '/smsgateway/getbalance/default.aspx'] as const;
const CONTROL_PATH = '/simulator/control';
const MESSAGES_PATH = '/simulator/messages';
const MO_PATH = '/simulator/mo';

/** The vendor documents "a maximum of 100 numbers" per request. */
const MAX_NUMBERS_PER_REQUEST = 100;
/** E.164 allows at most 15 digits; fewer than 7 cannot hold a country code and a subscriber number. */
const MIN_NUMBER_DIGITS = 7;
const MAX_NUMBER_DIGITS = 15;
/** The vendor's documented default when `maxconcat` is absent. */
const DEFAULT_MAXCONCAT = 1;
/** Large enough for 100 numbers and 6 parts of percent-encoded UCS-2 text, small enough to refuse junk. */
const FORM_BODY_LIMIT_BYTES = 64 * 1024;
/** `GET /simulator/messages` is for eyes and demos, not a full dump. */
const MESSAGES_LISTED = 100;
const DEFAULT_WAIT_MS = 5_000;
/** Credits of a fresh simulated account; each accepted part costs one (credits are charged per part). */
const STARTING_BALANCE = 10_000;

/** The platform retries a forward that was not answered 200 "every 5 minutes until it succeeds" (§1.4, §1.5). */
const DEFAULT_WEBHOOK_RETRY_MS = 300_000;
const DEFAULT_WEBHOOK_TIMEOUT_MS = 60_000;
const DEFAULT_REPORT_DELAY_MS = 50;
/** §1.5 status codes the simulator reports. */
const DR_SENT = 3;
const DR_DELIVERED = 4;
const DR_UNABLE_TO_DELIVER = 6;
const FORM_MEDIA_TYPE = 'application/x-www-form-urlencoded';
const WEBHOOK_POST_EVENT = 'webhookPost';
/** Room for a long concatenated MO; the simulator refuses anything bigger as junk. */
const MO_TEXT_MAX_CHARS = 10_000;
const MO_FIELD_MAX_CHARS = 256;
const MAX_UNDELIVERABLE_NUMBERS = 10_000;

const digitsSchema = z
  .string()
  .regex(new RegExp(`^\\d{${MIN_NUMBER_DIGITS},${MAX_NUMBER_DIGITS}}$`), 'international digits without +');
const undeliverableSchema = z.array(digitsSchema).max(MAX_UNDELIVERABLE_NUMBERS);
/** `POST /simulator/control` takes a behaviour, or the numbers whose final delivery report is 6. */
const controlSchema = z.union([behaviourSchema, z.object({ undeliverableNumbers: undeliverableSchema }).strict()]);
const moSchema = z
  .object({
    from: digitsSchema,
    text: z.string().max(MO_TEXT_MAX_CHARS),
    usercontext: z.string().max(MO_FIELD_MAX_CHARS).optional(),
    networkcode: z.string().regex(/^\d{1,10}$/).optional(),
    msgid: z.string().regex(/^[A-Za-z0-9]{1,64}$/).optional(),
  })
  .strict();

/** GSM 03.38 default alphabet (PROTOCOLS §4.1): one septet each. */
const GSM_BASIC_CHARS = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
    '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
/** GSM 03.38 extension table (PROTOCOLS §4.2): escape + code, two septets each. */
const GSM_EXTENSION_CHARS = new Set('\f^{}\\[~]|€');
const GSM_SINGLE_PART_SEPTETS = 160;
const GSM_CONCAT_PART_SEPTETS = 153;
const UCS2_SINGLE_PART_UNITS = 70;
const UCS2_CONCAT_PART_UNITS = 67;

const TYPE_TEXT = 1;
const TYPE_UNICODE = 2;

/**
 * What the simulator answers when in `garbage` mode: what an IIS/ASP.NET front end shows when the
 * application behind it fails, i.e. a 200 that is not the gateway's grammar.
 */
const GARBAGE_PAGE =
  '<!DOCTYPE html>\r\n<html><head><title>Runtime Error</title></head>\r\n' +
  '<body><h1>Server Error in \'/smsgateway\' Application.</h1>\r\n' +
  '<h2><i>Runtime Error</i></h2></body></html>\r\n';

/** Any plain-HTTP fastify app, whatever logger it was built with (the relay passes its pino). */
type HttpApp<AppLogger extends FastifyBaseLogger> = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  AppLogger
>;
type Fields = ReadonlyMap<string, string>;
type SendContent = { readonly type: number; readonly text: string; readonly parts: number };
type HeldRequest = { readonly answer: () => void; readonly destroy: () => void };
type Accepted = { readonly body: string; readonly accepted: readonly SimulatedSms[] };
/** What a forward's log lines say about it besides the URL: never the token, never a whole number. */
type PostContext = Readonly<Record<string, string | number>>;

export class IntelliSoftwareSimulator extends EventEmitter {
  /** Every accepted SMS, oldest first (grows without bound: the simulator is for tests and demos). */
  readonly received: SimulatedSms[] = [];
  balance = STARTING_BALANCE;
  #requests = 0;
  #behaviour: SimulatorBehaviour = { mode: 'ok' };
  #behaviourRemaining: number | undefined;
  readonly #hanging = new Set<HeldRequest>();
  readonly #username: string;
  readonly #password: string;
  readonly #logger: Logger;
  readonly #invalidNumbers: ReadonlySet<string>;
  /** Every attempt to post to a forwarding URL, oldest first (grows without bound, like `received`). */
  readonly webhookPosts: WebhookPost[] = [];
  #webhooks: SimulatorWebhooks = {};
  #undeliverable: ReadonlySet<string>;
  #webhookRetryMs: number;
  readonly #webhookTimeoutMs: number;
  readonly #reportDelayMs: number;
  /** Aborted by close(): cancels the waits between retries and the attempts in flight. */
  readonly #closing = new AbortController();
  /** Forwards (one MO, or one recipient's delivery reports) not yet answered 200 nor cancelled. */
  readonly #deliveries = new Set<Promise<void>>();

  constructor(options: IntelliSoftwareSimulatorOptions) {
    super();
    this.#username = options.username;
    this.#password = options.password;
    this.#logger = options.logger;
    this.#invalidNumbers = new Set(options.invalidNumbers ?? []);
    this.#undeliverable = new Set(undeliverableSchema.parse(options.undeliverableNumbers ?? []));
    this.#webhookRetryMs = checkMs('webhookRetryMs', options.webhookRetryMs ?? DEFAULT_WEBHOOK_RETRY_MS, 1);
    this.#webhookTimeoutMs = checkMs('webhookTimeoutMs', options.webhookTimeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS, 1);
    this.#reportDelayMs = checkMs('reportDelayMs', options.reportDelayMs ?? DEFAULT_REPORT_DELAY_MS, 0);
    if (options.webhooks) this.setWebhooks(options.webhooks);
  }

  /** Send requests seen on either send path, whatever was answered. */
  get requests(): number {
    return this.#requests;
  }

  /** Requests held by `hang` whose client is still waiting. */
  get pendingRequests(): number {
    return this.#hanging.size;
  }

  get behaviour(): SimulatorBehaviour {
    return this.#behaviour;
  }

  get webhooks(): SimulatorWebhooks {
    return { ...this.#webhooks };
  }

  /**
   * Replaces both forwarding URLs (an absent one is unset). Forwards already under way keep the URL
   * they started with. Throws for a URL that is not absolute http(s) or that carries credentials.
   */
  setWebhooks(webhooks: SimulatorWebhooks): void {
    this.#webhooks = {
      ...(webhooks.moUrl === undefined ? {} : { moUrl: checkWebhookUrl('moUrl', webhooks.moUrl) }),
      ...(webhooks.drUrl === undefined ? {} : { drUrl: checkWebhookUrl('drUrl', webhooks.drUrl) }),
    };
  }

  get webhookRetryMs(): number {
    return this.#webhookRetryMs;
  }

  /** The wait before each later retry; a wait already running keeps its length. */
  setWebhookRetry(ms: number): void {
    this.#webhookRetryMs = checkMs('webhookRetryMs', ms, 1);
  }

  get undeliverableNumbers(): readonly string[] {
    return [...this.#undeliverable];
  }

  /**
   * International digits whose final delivery report is 6 (unable to deliver), replacing the list;
   * applies to SMS whose send response goes out from now on. Throws a ZodError for anything else.
   */
  setUndeliverableNumbers(numbers: readonly string[]): void {
    this.#undeliverable = new Set(undeliverableSchema.parse(numbers));
  }

  /** Forwards (one MO, or one recipient's delivery reports) not yet answered 200 nor cancelled. */
  get pendingWebhooks(): number {
    return this.#deliveries.size;
  }

  /**
   * Forwards a received SMS to the MO URL, as the platform does, after this call returns; returns the
   * MO's msgid. Throws a ZodError for input `POST /simulator/mo` would refuse, and an Error when no
   * MO URL is set or the simulator is closed.
   */
  sendMo(mo: SimulatedMo): string {
    const input = moSchema.parse(mo);
    const url = this.#webhooks.moUrl;
    if (url === undefined) throw new Error('simulator: no MO URL set; call setWebhooks({ moUrl }) first');
    if (this.#closing.signal.aborted) throw new Error('simulator: closed');
    const msgid = input.msgid ?? nextMessageId();
    const form = new URLSearchParams({ from: input.from, text: input.text, msgid, sent: w3cdtf(new Date()) });
    if (input.networkcode !== undefined) form.set('networkcode', input.networkcode);
    if (input.usercontext !== undefined) form.set('usercontext', input.usercontext);
    const body = form.toString();
    this.#track(async () => {
      await nextTurn(undefined, { signal: this.#closing.signal });
      await this.#forward('mo', url, body, { msgid, from: maskNumber(`+${input.from}`) });
    });
    return msgid;
  }

  /**
   * Resolves with the first post (already made or still to come) `predicate` accepts; rejects after
   * `timeoutMs`, or when `predicate` throws.
   */
  waitForWebhookPosts(predicate: (post: WebhookPost) => boolean, timeoutMs = DEFAULT_WAIT_MS): Promise<WebhookPost> {
    const made = this.webhookPosts.find(predicate);
    if (made) return Promise.resolve(made);
    return new Promise((resolve, reject) => {
      const settle = (outcome: () => void) => {
        clearTimeout(timer);
        this.off(WEBHOOK_POST_EVENT, onPost);
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
      const timer = setTimeout(() => {
        settle(() =>
          reject(new Error(`simulator: no matching webhook post within ${timeoutMs} ms (${this.webhookPosts.length} posts made)`)),
        );
      }, timeoutMs);
      this.on(WEBHOOK_POST_EVENT, onPost);
    });
  }

  /**
   * Cancels every forward still waiting for a retry or in flight, and sends none from now on.
   * Idempotent; run by `listen()`'s close and when an app the simulator is registered on closes.
   */
  async close(): Promise<void> {
    this.#closing.abort();
    await Promise.allSettled([...this.#deliveries]);
  }

  /** Throws a ZodError for a behaviour that does not fit `SimulatorBehaviour`. */
  setBehaviour(behaviour: SimulatorBehaviour): void {
    this.#behaviour = behaviourSchema.parse(behaviour);
    this.#behaviourRemaining = 'times' in this.#behaviour ? this.#behaviour.times : undefined;
  }

  /** Answers every held request as `ok` would have; returns how many there were. */
  releaseHanging(): number {
    return this.#settleHanging((held) => held.answer());
  }

  /** Drops every held request's connection, as a gateway that went away would. */
  destroyHanging(): number {
    return this.#settleHanging((held) => held.destroy());
  }

  /** Resolves once `received.length >= count`. */
  waitForMessages(count: number, timeoutMs = DEFAULT_WAIT_MS): Promise<SimulatedSms[]> {
    if (this.received.length >= count) return Promise.resolve(this.received);
    return new Promise((resolve, reject) => {
      const onSms = () => {
        if (this.received.length < count) return;
        clearTimeout(timer);
        this.off('sms', onSms);
        resolve(this.received);
      };
      const timer = setTimeout(() => {
        this.off('sms', onSms);
        reject(new Error(`simulator: expected ${count} SMS within ${timeoutMs} ms, received ${this.received.length}`));
      }, timeoutMs);
      this.on('sms', onSms);
    });
  }

  /** Adds the gateway's routes to `app`, inside their own scope so their form parser stays theirs. */
  register<AppLogger extends FastifyBaseLogger>(app: HttpApp<AppLogger>): void {
    app.register(async (scope) => {
      useFormParser(scope);
      scope.addHook('preClose', async () => {
        this.destroyHanging();
        await this.close();
      });
      for (const url of SEND_PATHS) {
        scope.route({ method: ['GET', 'POST'], url, handler: (request, reply) => this.#onSend(request, reply) });
      }
      for (const url of BALANCE_PATHS) {
        scope.route({ method: ['GET', 'POST'], url, handler: (request, reply) => this.#onBalance(request, reply) });
      }
      scope.post(CONTROL_PATH, async (request, reply) => this.#onControl(request, reply));
      scope.get(CONTROL_PATH, async () => this.#status());
      scope.get(MESSAGES_PATH, async () => this.received.slice(-MESSAGES_LISTED));
      scope.post(MO_PATH, async (request, reply) => this.#onMo(request, reply));
    });
  }

  /** A standalone simulated gateway (default 127.0.0.1, ephemeral port) for tests and demos. */
  static async listen(
    options: IntelliSoftwareSimulatorOptions & { host?: string; port?: number },
  ): Promise<{ simulator: IntelliSoftwareSimulator; url: string; close(): Promise<void> }> {
    const simulator = new IntelliSoftwareSimulator(options);
    const app = Fastify({
      loggerInstance: options.logger,
      // One line per SMS (see #record) says more than a line per request.
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

  async #onSend(request: FastifyRequest, reply: FastifyReply): Promise<string> {
    this.#requests++;
    const behaviour = this.#takeBehaviour();
    reply.type('text/plain; charset=utf-8');
    switch (behaviour.mode) {
      case 'error':
        return `ERR:${behaviour.code}`;
      case 'delay':
        return `DELAY:${behaviour.seconds}`;
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

  /**
   * Processes the request and, once its response has gone out (or was lost: the gateway has the SMS
   * all the same), starts the delivery reports of what it accepted.
   */
  #answerSend(request: FastifyRequest, reply: FastifyReply): string {
    const { body, accepted } = this.#processSend(request);
    const drUrl = this.#webhooks.drUrl;
    if (accepted.length > 0 && drUrl !== undefined) {
      reply.raw.once('close', () => this.#reportDelivery(accepted, drUrl));
    }
    return body;
  }

  /** Consumes one use of the current behaviour and falls back to `ok` when its `times` run out. */
  #takeBehaviour(): SimulatorBehaviour {
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
      // A client that gave up is no longer pending (the SMS stays received); settling lets fastify
      // finish the request instead of keeping it open forever.
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

  /** Validates like the real gateway, records what it accepts and returns the response body. */
  #processSend(request: FastifyRequest): Accepted {
    const refuse = (body: string): Accepted => ({ body, accepted: [] });
    const fields = readFields(request);
    const loginError = this.#checkLogin(fields);
    if (loginError) return refuse(loginError);

    const numbers = (fields.get('to') ?? '')
      .split(',')
      .map((number) => number.trim())
      .filter((number) => number !== '');
    if (numbers.length === 0) return refuse('ERR:NO_TO');
    if (numbers.length > MAX_NUMBERS_PER_REQUEST) return refuse('ERR:TOO_MANY_NUMBERS');

    const content = readContent(fields);
    if (typeof content === 'string') return refuse(content);
    const maxconcat = readMaxconcat(fields);
    if (maxconcat === undefined) return refuse('ERR:PARAMETER_INVALID');
    // What the real gateway does with text longer than `maxconcat` parts is unknown (cut or refuse,
    // PROTOCOLS §8.3). Refusing makes an adapter that forgets `maxconcat` fail loudly in tests.
    if (content.parts > maxconcat) return refuse('ERR:INVALID_REQUEST');

    const sms = { ...content, maxconcat, from: fields.get('from'), userContext: fields.get('usercontext') };
    return this.#accept(unique(numbers.map(renormaliseNumber)), sms, endpointPath(request));
  }

  #checkLogin(fields: Fields): string | undefined {
    const username = fields.get('username');
    const password = fields.get('password');
    if (!username) return 'ERR:NO_USERNAME';
    if (!password) return 'ERR:NO_PASSWORD';
    if (username !== this.#username || password !== this.#password) return 'ERR:LOGIN_INVALID';
    return undefined;
  }

  /**
   * One line for a single number, else `<msisdn>,<result>` per (renormalised) number, all accepted
   * numbers sharing the submission's id. Lines are joined by `\n` (PROTOCOLS §1.2 names `\n`;
   * `\r\n` is only "possible"), without a trailing line break.
   */
  #accept(
    numbers: readonly string[],
    sms: SendContent & { maxconcat: number; from: string | undefined; userContext: string | undefined },
    path: string,
  ): Accepted {
    let id: string | undefined;
    const accepted: SimulatedSms[] = [];
    const lines = numbers.map((to) => {
      if (!this.#isRoutable(to)) return { to, result: 'ERR:INVALID_NUMBER' };
      id ??= nextMessageId();
      const record: SimulatedSms = {
        id,
        to,
        text: sms.text,
        ...(sms.from ? { from: sms.from } : {}),
        ...(sms.userContext ? { userContext: sms.userContext } : {}),
        maxconcat: sms.maxconcat,
        type: sms.type,
        endpointPath: path,
        receivedAt: new Date(),
      };
      this.#record(record, sms.parts);
      accepted.push(record);
      return { to, result: `ID:${id}` };
    });
    const [only] = lines;
    if (lines.length === 1 && only) return { body: only.result, accepted };
    return { body: lines.map((line) => `${line.to},${line.result}`).join('\n'), accepted };
  }

  #isRoutable(digits: string): boolean {
    return (
      /^\d+$/.test(digits) &&
      digits.length >= MIN_NUMBER_DIGITS &&
      digits.length <= MAX_NUMBER_DIGITS &&
      !this.#invalidNumbers.has(digits)
    );
  }

  #record(sms: SimulatedSms, parts: number): void {
    this.received.push(sms);
    this.balance -= parts;
    this.#logger.info(
      { simId: sms.id, to: maskNumber(`+${sms.to}`), parts, text: sms.text },
      'simulator: SMS received',
    );
    this.emit('sms', sms);
  }

  async #onBalance(request: FastifyRequest, reply: FastifyReply): Promise<string> {
    reply.type('text/plain; charset=utf-8');
    return this.#checkLogin(readFields(request)) ?? `BALANCE:${this.balance}`;
  }

  #onControl(request: FastifyRequest, reply: FastifyReply) {
    const parsed = controlSchema.safeParse(request.body);
    if (!parsed.success) {
      return reply.code(400).send({ error: 'invalid control request', detail: z.prettifyError(parsed.error) });
    }
    if ('mode' in parsed.data) this.setBehaviour(parsed.data);
    else this.setUndeliverableNumbers(parsed.data.undeliverableNumbers);
    return this.#status();
  }

  #status() {
    return {
      behaviour: this.#behaviour,
      remaining: this.#behaviourRemaining ?? null,
      requests: this.#requests,
      received: this.received.length,
      pendingRequests: this.pendingRequests,
      undeliverableNumbers: this.undeliverableNumbers,
      // Whether set, not the URLs: they may carry a secret.
      webhooks: { mo: this.#webhooks.moUrl !== undefined, dr: this.#webhooks.drUrl !== undefined },
      webhookPosts: this.webhookPosts.length,
      pendingWebhooks: this.pendingWebhooks,
    };
  }

  #onMo(request: FastifyRequest, reply: FastifyReply) {
    const parsed = moSchema.safeParse(request.body);
    if (!parsed.success) {
      return reply.code(400).send({ error: 'invalid MO', detail: z.prettifyError(parsed.error) });
    }
    if (this.#webhooks.moUrl === undefined) {
      return reply.code(409).send({ error: 'no MO URL set: call setWebhooks({ moUrl }) first' });
    }
    if (this.#closing.signal.aborted) return reply.code(503).send({ error: 'simulator closed' });
    return reply.code(202).send({ msgid: this.sendMo(parsed.data) });
  }

  /** Each recipient's reports in order, 3 (sent) then 4 or 6, each only once the one before got its 200. */
  #reportDelivery(accepted: readonly SimulatedSms[], drUrl: string): void {
    for (const sms of accepted) {
      const final = this.#undeliverable.has(sms.to) ? DR_UNABLE_TO_DELIVER : DR_DELIVERED;
      this.#track(async () => {
        await pause(this.#reportDelayMs, undefined, { signal: this.#closing.signal });
        for (const status of [DR_SENT, final]) {
          const body = new URLSearchParams({ msgid: sms.id, status: String(status), toaddr: sms.to }).toString();
          const context = { msgid: sms.id, drStatus: status, to: maskNumber(`+${sms.to}`) };
          if (!(await this.#forward('dr', drUrl, body, context))) return;
        }
      });
    }
  }

  /**
   * Runs a forward in the background and keeps it in `#deliveries` until it ends. After close() a
   * forward is not started; one already started ends at its next wait or attempt.
   */
  #track(forward: () => Promise<void>): void {
    if (this.#closing.signal.aborted) return;
    const delivery = (async () => {
      try {
        await forward();
      } catch (error) {
        if (this.#closing.signal.aborted) return;
        this.#logger.error({ err: error }, 'simulator: a webhook forward failed unexpectedly');
      }
    })();
    this.#deliveries.add(delivery);
    void delivery.finally(() => this.#deliveries.delete(delivery));
  }

  /**
   * Posts `body` until the answer is HTTP 200, waiting `webhookRetryMs` between attempts: the same
   * body every time. Returns false when close() cancelled it first.
   */
  async #forward(kind: WebhookPost['kind'], target: string, body: string, context: PostContext): Promise<boolean> {
    for (let attempt = 1; !this.#closing.signal.aborted; attempt++) {
      if ((await this.#attempt(kind, target, body, context, attempt)) === 200) return true;
      try {
        await pause(this.#webhookRetryMs, undefined, { signal: this.#closing.signal });
      } catch {
        return false;
      }
    }
    return false;
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
        // A redirect is an answer other than 200 (the platform is not known to follow one).
        redirect: 'manual',
        signal: AbortSignal.any([this.#closing.signal, AbortSignal.timeout(this.#webhookTimeoutMs)]),
      });
      status = response.status;
      // The body is ignored (§1.4), but read so the connection can be reused.
      await response.arrayBuffer().catch(() => undefined);
    } catch (cause) {
      status = 'error';
      error = this.#closing.signal.aborted ? 'cancelled by close()' : describeFetchError(cause);
    }
    const post: WebhookPost = { kind, url: target, body, status, at };
    this.webhookPosts.push(post);
    this.#logger.info(
      { ...context, kind, url: withoutSecrets(target), attempt, httpStatus: status, ...(error ? { error } : {}) },
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
 * Form bodies as the gateway's ASP.NET front end takes them: any `application/x-www-form-urlencoded`
 * media type, whatever its parameters (the Java SDK sends the malformed `; charset:utf-8`). The
 * parser lives in the simulator's scope; an inherited one is replaced there, and only there.
 */
function useFormParser(scope: HttpApp<FastifyBaseLogger>): void {
  const mediaType = 'application/x-www-form-urlencoded';
  if (scope.hasContentTypeParser(mediaType)) scope.removeContentTypeParser(mediaType);
  scope.addContentTypeParser(
    mediaType,
    { parseAs: 'string', bodyLimit: FORM_BODY_LIMIT_BYTES },
    (_request, body, done) => done(null, new URLSearchParams(body as string)),
  );
}

/**
 * Query string and form fields together, names case-insensitive and repeated names joined with
 * commas, as ASP.NET's request collections present them. Unknown fields are simply never read.
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

function endpointPath(request: FastifyRequest): string {
  return request.url.split('?', 1)[0] ?? request.url;
}

/** Text (type 1) or Unicode hex (type 2); any other type is outside what the simulator models. */
function readContent(fields: Fields): SendContent | string {
  const type = Number(fields.get('type') ?? TYPE_TEXT);
  if (type === TYPE_TEXT) {
    const text = fields.get('text');
    if (!text) return 'ERR:NO_TEXT';
    return { type, text, parts: countTextParts(text) };
  }
  if (type === TYPE_UNICODE) {
    const hex = fields.get('hex');
    if (!hex) return 'ERR:PARAMETER_MISSING';
    if (!/^(?:[0-9A-Fa-f]{4})+$/.test(hex)) return 'ERR:PARAMETER_INVALID';
    const units = hex.match(/.{4}/g)?.map((unit) => Number.parseInt(unit, 16)) ?? [];
    return { type, text: String.fromCharCode(...units), parts: countUcs2Parts(units.length) };
  }
  return 'ERR:INVALID_REQUEST';
}

function readMaxconcat(fields: Fields): number | undefined {
  const value = fields.get('maxconcat');
  if (value === undefined || value === '') return DEFAULT_MAXCONCAT;
  if (!/^\d+$/.test(value) || Number(value) < 1) return undefined;
  return Number(value);
}

/** GSM-7 when every character is in the default alphabet or its extension, else UCS-2. */
function countTextParts(text: string): number {
  let septets = 0;
  for (const char of text) {
    if (GSM_BASIC_CHARS.has(char)) septets += 1;
    else if (GSM_EXTENSION_CHARS.has(char)) septets += 2;
    else return countUcs2Parts(text.length);
  }
  return septets <= GSM_SINGLE_PART_SEPTETS ? 1 : Math.ceil(septets / GSM_CONCAT_PART_SEPTETS);
}

function countUcs2Parts(units: number): number {
  return units <= UCS2_SINGLE_PART_UNITS ? 1 : Math.ceil(units / UCS2_CONCAT_PART_UNITS);
}

function checkMs(name: string, ms: number, min: number): number {
  if (!Number.isSafeInteger(ms) || ms < min) throw new RangeError(`simulator: ${name} must be an integer >= ${min}, got ${ms}`);
  return ms;
}

/** An absolute http(s) URL without credentials (fetch refuses those), as given. */
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

/** For logs: the forwarding URL without its query string and fragment, where a token may ride. */
function withoutSecrets(target: string): string {
  const parsed = new URL(target);
  parsed.search = '';
  parsed.hash = '';
  return parsed.toString();
}

/** W3CDTF with a numeric offset, as the platform's `sent` field: `2026-11-23T13:50:05+00:00` (UTC). */
function w3cdtf(date: Date): string {
  return `${date.toISOString().slice(0, 19)}+00:00`;
}

/** `ECONNREFUSED`, `TimeoutError`…: what went wrong, without echoing the request (and its URL). */
function describeFetchError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause;
  if (cause instanceof Error) return 'code' in cause && typeof cause.code === 'string' ? cause.code : cause.message;
  return error.name === 'Error' ? error.message : error.name;
}

/** The gateway answers international digits: `+44…` and `0044…` become `44…`. */
function renormaliseNumber(number: string): string {
  if (number.startsWith('+')) return number.slice(1);
  if (number.startsWith('00')) return number.slice(2);
  return number;
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

/**
 * 20-digit ids like the vendor's (`10011000000000000001`), increasing and unique: derived from the
 * clock so a restarted simulator does not reissue old ids, and shared by every simulator in the
 * process because the real primary and backup gateways serve one account.
 */
let lastIssuedId = 0n;
const ID_CLOCK_BASE = 10n ** 19n;
const IDS_PER_MILLISECOND = 1_000_000n;

function nextMessageId(): string {
  const fromClock = ID_CLOCK_BASE + BigInt(Date.now()) * IDS_PER_MILLISECOND;
  lastIssuedId = fromClock > lastIssuedId ? fromClock : lastIssuedId + 1n;
  return lastIssuedId.toString();
}
