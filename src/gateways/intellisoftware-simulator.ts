/**
 * A stand-in for the IntelliSoftware legacy HTTP gateway (PROTOCOLS.md §1, §6), for tests and demos.
 * It is written from the protocol notes, independently of the adapter, and shares no code with it:
 * both are held to the same wire fixtures, so neither can hide a mistake of the other.
 */
import { EventEmitter } from 'node:events';
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

  constructor(options: IntelliSoftwareSimulatorOptions) {
    super();
    this.#username = options.username;
    this.#password = options.password;
    this.#logger = options.logger;
    this.#invalidNumbers = new Set(options.invalidNumbers ?? []);
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
      scope.addHook('preClose', (done) => {
        this.destroyHanging();
        done();
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
        return this.#hold(reply, this.#processSend(request));
      case 'ok':
        return this.#processSend(request);
    }
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
  #processSend(request: FastifyRequest): string {
    const fields = readFields(request);
    const loginError = this.#checkLogin(fields);
    if (loginError) return loginError;

    const numbers = (fields.get('to') ?? '')
      .split(',')
      .map((number) => number.trim())
      .filter((number) => number !== '');
    if (numbers.length === 0) return 'ERR:NO_TO';
    if (numbers.length > MAX_NUMBERS_PER_REQUEST) return 'ERR:TOO_MANY_NUMBERS';

    const content = readContent(fields);
    if (typeof content === 'string') return content;
    const maxconcat = readMaxconcat(fields);
    if (maxconcat === undefined) return 'ERR:PARAMETER_INVALID';
    // What the real gateway does with text longer than `maxconcat` parts is unknown (cut or refuse,
    // PROTOCOLS §8.3). Refusing makes an adapter that forgets `maxconcat` fail loudly in tests.
    if (content.parts > maxconcat) return 'ERR:INVALID_REQUEST';

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
  ): string {
    let id: string | undefined;
    const lines = numbers.map((to) => {
      if (!this.#isRoutable(to)) return { to, result: 'ERR:INVALID_NUMBER' };
      id ??= nextMessageId();
      this.#record({
        id,
        to,
        text: sms.text,
        ...(sms.from ? { from: sms.from } : {}),
        ...(sms.userContext ? { userContext: sms.userContext } : {}),
        maxconcat: sms.maxconcat,
        type: sms.type,
        endpointPath: path,
        receivedAt: new Date(),
      }, sms.parts);
      return { to, result: `ID:${id}` };
    });
    const [only] = lines;
    if (lines.length === 1 && only) return only.result;
    return lines.map((line) => `${line.to},${line.result}`).join('\n');
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
    const parsed = behaviourSchema.safeParse(request.body);
    if (!parsed.success) {
      return reply.code(400).send({ error: 'invalid behaviour', detail: z.prettifyError(parsed.error) });
    }
    this.setBehaviour(parsed.data);
    return this.#status();
  }

  #status() {
    return {
      behaviour: this.#behaviour,
      remaining: this.#behaviourRemaining ?? null,
      requests: this.#requests,
      received: this.received.length,
      pendingRequests: this.pendingRequests,
    };
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
