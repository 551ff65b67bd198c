/**
 * A stand-in for the IntelliSoftware legacy HTTP gateway (IntelliSoftware's HTTP interface documentation), for tests and demos.
 * It is written from the protocol notes, independently of the adapter, and shares no code with it:
 * both are held to the same wire fixtures, so neither can hide a mistake of the other.
 *
 * Like the real platform it also calls the customer's forwarding URLs: a delivery
 * report form for every accepted SMS, and a received-SMS (MO) form for each MO injected through
 * `POST /simulator/mo` or `sendMo()`, each retried every few minutes until answered HTTP 200.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Logger } from '../log.ts';
import { maskNumber, maskNumbersIn } from '../sms/numbers.ts';
import type { ProviderSimulator } from './contract.ts';
import {
  aspNetErrorPage,
  DEFAULT_WAIT_MS,
  GatewaySimulator,
  listenStandalone,
  readAspNetFields,
  useFormParser,
  type GatewaySimulatorOptions,
  type HttpApp,
  type Standalone,
  type StandaloneOptions,
  type WebhookPost,
} from './kit.ts';

/**
 * Invalid numbers are answered `ERR:INVALID_NUMBER`. Undeliverable ones are accepted (`ID:`), but
 * their final delivery report is status 6 (unable to deliver) instead of 4 (delivered). A forward
 * not answered HTTP 200 is retried every 5 minutes unless `webhookRetryMs` says otherwise.
 */
export interface IntelliSoftwareSimulatorOptions extends GatewaySimulatorOptions {
  readonly username: string;
  readonly password: string;
  /** The account's forwarding URLs; also settable later with `setWebhooks`. */
  readonly webhooks?: SimulatorWebhooks | undefined;
  /**
   * The forwarding "Message Type" of the account (Preferences → Forwarding): the legacy form fields (the default) or
   * JSON, one `{"messages":[…]}` per MO and one `{"notifications":[…]}` per status report, as the receive-SMS and
   * status-report pages show them (JSON carries no usercontext).
   */
  readonly forwarding?: ForwardingType | undefined;
}

export type ForwardingType = 'form' | 'json';

/**
 * The account's forwarding URLs (the platform's Preferences → Forwarding tab). A secret can ride in
 * the query string; it is never logged.
 */
export interface SimulatorWebhooks {
  /** Receives each MO as the form `from, text, msgid, sent[, networkcode][, usercontext]` (or its JSON, `forwarding`). */
  readonly moUrl?: string | undefined;
  /** Receives the form `msgid, status, toaddr` for each status change of each accepted SMS (or its JSON, `forwarding`). */
  readonly drUrl?: string | undefined;
}

/** A received SMS to forward, as `POST /simulator/mo` takes it (JSON) and `sendMo()` takes it. */
export interface SimulatedMo {
  /** The sender, international digits without `+`. */
  readonly from: string;
  readonly text: string;
  /** Forwarded only when given (an empty string is forwarded as an empty field). */
  readonly usercontext?: string | undefined;
  /** Only for messages received on shortcodes; forwarded only when given. */
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

/** The vendor documents "a maximum of 100 numbers" per request. */
const MAX_NUMBERS_PER_REQUEST = 100;
/** E.164 allows at most 15 digits; fewer than 7 cannot hold a country code and a subscriber number. */
const MIN_NUMBER_DIGITS = 7;
const MAX_NUMBER_DIGITS = 15;
/** The vendor's documented default when `maxconcat` is absent. */
const DEFAULT_MAXCONCAT = 1;
/** Large enough for 100 numbers and 6 parts of percent-encoded UCS-2 text, small enough to refuse junk. */
const FORM_BODY_LIMIT_BYTES = 64 * 1024;
/** Credits of a fresh simulated account; each accepted part costs one (credits are charged per part). */
const STARTING_BALANCE = 10_000;

/** The documented status codes the simulator reports. */
const DR_SENT = 3;
const DR_DELIVERED = 4;
const DR_UNABLE_TO_DELIVER = 6;
type ReportedStatus = typeof DR_SENT | typeof DR_DELIVERED | typeof DR_UNABLE_TO_DELIVER;
const FORM_MEDIA_TYPE = 'application/x-www-form-urlencoded';
const JSON_MEDIA_TYPE = 'application/json';
/** The JSON MO's `to`, the account's virtual number the phone texted: the simulated account has one, a UK long number. */
const VIRTUAL_NUMBER = '447700900000';
/** The status-report page's JSON names and categories of the codes the simulator reports. */
const JSON_STATUSES: Readonly<Record<ReportedStatus, { readonly status: string; readonly category: string }>> = {
  3: { status: 'sent', category: 'interim' },
  4: { status: 'delivered', category: 'success' },
  6: { status: 'unable_to_deliver', category: 'failure' },
};
/** Room for a long concatenated MO; the simulator refuses anything bigger as junk. */
const MO_TEXT_MAX_CHARS = 10_000;
const MO_FIELD_MAX_CHARS = 256;

const digitsSchema = z.string().regex(new RegExp(`^\\d{${MIN_NUMBER_DIGITS},${MAX_NUMBER_DIGITS}}$`), 'international digits without +');
/** `POST /simulator/control` takes a behaviour, or the numbers whose final delivery report is 6. */
const moSchema = z
  .object({
    from: digitsSchema,
    text: z.string().max(MO_TEXT_MAX_CHARS),
    usercontext: z.string().max(MO_FIELD_MAX_CHARS).optional(),
    networkcode: z
      .string()
      .regex(/^\d{1,10}$/)
      .optional(),
    msgid: z
      .string()
      .regex(/^[A-Za-z0-9]{1,64}$/)
      .optional(),
  })
  .strict();

/** GSM 03.38 default alphabet (3GPP TS 23.038): one septet each. */
const GSM_BASIC_CHARS = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' + '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
/** GSM 03.38 extension table (3GPP TS 23.038): escape + code, two septets each. */
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
  "<body><h1>Server Error in '/smsgateway' Application.</h1>\r\n" +
  '<h2><i>Runtime Error</i></h2></body></html>\r\n';

type Fields = ReadonlyMap<string, string>;
type SendContent = { readonly type: number; readonly text: string; readonly parts: number };
type Accepted = { readonly body: string; readonly accepted: readonly SimulatedSms[] };

export class IntelliSoftwareSimulator extends GatewaySimulator<SimulatorBehaviour> {
  /** Every accepted SMS, oldest first (grows without bound: the simulator is for tests and demos). */
  readonly received: SimulatedSms[] = [];
  balance = STARTING_BALANCE;
  readonly #username: string;
  readonly #password: string;
  readonly #logger: Logger;
  readonly #forwarding: ForwardingType;

  constructor(options: IntelliSoftwareSimulatorOptions) {
    const forwarding = options.forwarding ?? 'form';
    super(options, { behaviourSchema, label: 'simulator', noun: 'webhook', contentType: forwarding === 'json' ? JSON_MEDIA_TYPE : FORM_MEDIA_TYPE });
    this.#forwarding = forwarding;
    this.#username = options.username;
    this.#password = options.password;
    this.#logger = options.logger;
  }

  protected get accepted(): readonly SimulatedSms[] {
    return this.received;
  }

  /** A standalone simulated gateway (default 127.0.0.1, ephemeral port) for tests and demos. */
  static listen(options: IntelliSoftwareSimulatorOptions & StandaloneOptions): Promise<Standalone<IntelliSoftwareSimulator>> {
    return listenStandalone(new IntelliSoftwareSimulator(options), options);
  }

  get webhookRetryMs(): number {
    return this.forwarder.retryMs;
  }

  /** The wait before each later retry; a wait already running keeps its length. */
  setWebhookRetry(ms: number): void {
    this.forwarder.retryMs = ms;
  }

  /**
   * Forwards a received SMS to the MO URL, as the platform does, after this call returns; returns the
   * MO's msgid. Throws a ZodError for input `POST /simulator/mo` would refuse, and an Error when no
   * MO URL is set or the simulator is closed.
   */
  sendMo(mo: SimulatedMo): string {
    const input = moSchema.parse(mo);
    const url = this.forwarder.moUrlOrThrow();
    const msgid = input.msgid ?? nextMessageId();
    const sent = w3cdtf(new Date());
    this.forwarder.postSoon('mo', url, this.#forwarding === 'json' ? jsonMo(input, msgid, sent) : formMo(input, msgid, sent), {
      msgid,
      from: maskNumber(`+${input.from}`),
    });
    return msgid;
  }

  /**
   * Resolves with the first post (already made or still to come) `predicate` accepts; rejects after
   * `timeoutMs`, or when `predicate` throws.
   */
  waitForWebhookPosts(predicate: (post: WebhookPost) => boolean, timeoutMs?: number): Promise<WebhookPost> {
    return this.forwarder.waitFor(predicate, timeoutMs);
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

  /** The form parser is the scope's own, so that it stays off the app's other routes. */
  protected addGatewayRoutes(scope: HttpApp): void {
    useFormParser(scope, FORM_BODY_LIMIT_BYTES);
    for (const url of SEND_PATHS) {
      scope.route({ method: ['GET', 'POST'], url, handler: (request, reply) => this.#onSend(request, reply) });
    }
    for (const url of BALANCE_PATHS) {
      scope.route({ method: ['GET', 'POST'], url, handler: (request, reply) => this.#onBalance(request, reply) });
    }
  }

  async #onSend(request: FastifyRequest, reply: FastifyReply): Promise<string> {
    const behaviour = this.takeBehaviour();
    reply.type('text/plain; charset=utf-8');
    switch (behaviour.mode) {
      case 'error':
        return `ERR:${behaviour.code}`;
      case 'delay':
        return `DELAY:${behaviour.seconds}`;
      case 'http':
      case 'garbage':
        return aspNetErrorPage(reply, behaviour, GARBAGE_PAGE);
      case 'hang':
      case 'ok':
        return this.answer(reply, behaviour, this.#answerSend(request, reply));
    }
  }

  /**
   * Processes the request and, once its response has gone out (or was lost: the gateway has the SMS
   * all the same), starts the delivery reports of what it accepted.
   */
  #answerSend(request: FastifyRequest, reply: FastifyReply): string {
    const { body, accepted } = this.#processSend(request);
    this.reportWhenAnswered(reply, accepted, (sms, drUrl) => this.#reportDelivery(sms, drUrl));
    return body;
  }

  /** Validates like the real gateway, records what it accepts and returns the response body. */
  #processSend(request: FastifyRequest): Accepted {
    const refuse = (body: string): Accepted => ({ body, accepted: [] });
    const fields = readAspNetFields(request);
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
    // What the real gateway does with text longer than `maxconcat` parts is unknown (cut or refuse:
    // the documentation does not say). Refusing makes an adapter that forgets `maxconcat` fail loudly in tests.
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
   * numbers sharing the submission's id. Lines are joined by `\n` (the documentation names `\n`;
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
    return /^\d+$/.test(digits) && digits.length >= MIN_NUMBER_DIGITS && digits.length <= MAX_NUMBER_DIGITS && !this.isInvalidNumber(digits);
  }

  #record(sms: SimulatedSms, parts: number): void {
    this.received.push(sms);
    this.balance -= parts;
    // Texts are private: info logs carry their length only, debug the text with its numbers masked as at every level
    // (GET /simulator/messages has it as sent).
    this.#logger.info({ simId: sms.id, to: maskNumber(`+${sms.to}`), parts, chars: sms.text.length }, 'simulator: SMS received');
    this.#logger.debug({ simId: sms.id, text: maskNumbersIn(sms.text) }, 'simulator: SMS text');
    this.emit('sms', sms);
  }

  async #onBalance(request: FastifyRequest, reply: FastifyReply): Promise<string> {
    reply.type('text/plain; charset=utf-8');
    return this.#checkLogin(readAspNetFields(request)) ?? `BALANCE:${this.balance}`;
  }

  protected onMo(request: FastifyRequest, reply: FastifyReply) {
    return this.acceptMo(reply, request.body, moSchema, 'usercontext', (mo) => ({ msgid: this.sendMo(mo) }));
  }

  /** Each recipient's reports in order, 3 (sent) then 4 or 6, each only once the one before got its 200. */
  #reportDelivery(accepted: readonly SimulatedSms[], drUrl: string): void {
    for (const sms of accepted) {
      const final = this.isUndeliverable(sms.to) ? DR_UNABLE_TO_DELIVER : DR_DELIVERED;
      this.forwarder.run(async () => {
        await this.forwarder.wait(this.reportDelayMs);
        for (const status of [DR_SENT, final] as const) {
          const body =
            this.#forwarding === 'json' ? jsonReport(sms, status) : new URLSearchParams({ msgid: sms.id, status: String(status), toaddr: sms.to }).toString();
          const context = { msgid: sms.id, drStatus: status, to: maskNumber(`+${sms.to}`) };
          if (!(await this.forwarder.deliver('dr', drUrl, body, context))) return;
        }
      });
    }
  }
}

function formMo(mo: SimulatedMo, msgid: string, sent: string): string {
  const form = new URLSearchParams({ from: mo.from, text: mo.text, msgid, sent });
  if (mo.networkcode !== undefined) form.set('networkcode', mo.networkcode);
  if (mo.usercontext !== undefined) form.set('usercontext', mo.usercontext);
  return form.toString();
}

/** The receive-SMS page's JSON: `unicode` for a text outside GSM's alphabet, as the platform's Message Type says. */
function jsonMo(mo: SimulatedMo, msgid: string, sent: string): string {
  const msgtype = [...mo.text].every((char) => GSM_BASIC_CHARS.has(char) || GSM_EXTENSION_CHARS.has(char)) ? 'text' : 'unicode';
  const message = { from: mo.from, to: VIRTUAL_NUMBER, messageid: msgid, channel: 'sms', sent, content: { msgtype, text: mo.text } };
  return JSON.stringify({ messages: [message] });
}

/** The status-report page's JSON of one status change. */
function jsonReport(sms: SimulatedSms, code: ReportedStatus): string {
  return JSON.stringify({ notifications: [{ notificationtype: 'status', messageid: sms.id, to: sms.to, ...JSON_STATUSES[code], status_code: code }] });
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

/** W3CDTF with a numeric offset, as the platform's `sent` field: `2026-11-23T13:50:05+00:00` (UTC). */
function w3cdtf(date: Date): string {
  return `${date.toISOString().slice(0, 19)}+00:00`;
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

/** The IntelliSoftware simulator seen through the provider-neutral interface the tests and the relay use. */
export function intellisoftwareSimulatorView(simulator: IntelliSoftwareSimulator): ProviderSimulator & { readonly native: IntelliSoftwareSimulator } {
  return {
    native: simulator,
    register: (app, mount) => simulator.register(app, mount),
    get records() {
      return simulator.received.map((sms) => ({ id: sms.id, to: sms.to, text: sms.text, from: sms.from, tracking: sms.userContext }));
    },
    setWebhooks: (webhooks) => simulator.setWebhooks(webhooks),
    reply: (from, text, answering) => simulator.sendMo({ from, text, ...(answering?.tracking ? { usercontext: answering.tracking } : {}) }),
    waitForWebhookPosts: async (kind, count, timeoutMs) => {
      const answered = () => simulator.webhookPosts.filter((post) => post.kind === kind && post.status === 200).length >= count;
      await simulator.waitForWebhookPosts(answered, timeoutMs);
    },
    close: () => simulator.close(),
  };
}
