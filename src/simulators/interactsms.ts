/**
 * A stand-in for the InteractSMS (Phonovation) legacy v1 gateway (InteractSMS's developer documentation), for tests and
 * demos. Written from the protocol notes, independently of the adapter (src/providers/interactsms/),
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
 * Like the real platform it posts to the customer's URLs: a delivery receipt for every
 * accepted number of an SMS sent with a notify id, and a received SMS (MO) for each `reply()` or
 * `POST /simulator/mo`, each signed with `SMS-Verify` and retried until answered HTTP 200.
 */
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Logger } from '../log.ts';
import { maskNumber } from '../sms/numbers.ts';
import type { ProviderSimulator, SimulatedSmsRecord, SimulatorOptions } from './contract.ts';
import {
  aspNetErrorPage,
  RecordingSimulator,
  listenStandalone,
  readAspNetFields,
  useFormParser,
  type GatewaySimulatorOptions,
  type HttpApp,
  type Standalone,
  type StandaloneOptions,
} from './kit.ts';

/** Undeliverable numbers get a receipt saying `SMS-Success=False`. */
export interface InteractSmsSimulatorOptions extends SimulatorOptions, GatewaySimulatorOptions {
  /** How `SMS-Verify` is computed (InteractSMS's developer documentation). Default `portal`. */
  readonly webhookFormula?: 'portal' | 'kb' | undefined;
  /**
   * The account's long code: `SMS-To` of every MO, and `SMS-From` of delivery receipts of SMS sent
   * without `from`. Default `353870000000`.
   */
  readonly longCode?: string | undefined;
  /** Time source for `SMS-TimeStamp` (ms since the epoch); tests fix it to compare exact bytes. */
  readonly clock?: (() => number) | undefined;
}

const timesSchema = z.number().int().positive().optional();
const behaviourSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('ok') }).strict(),
  z
    .object({
      mode: z.literal('error'),
      code: z
        .number()
        .int()
        .min(-999_999)
        .max(999_999)
        .refine((code) => code !== 0, 'an error code is not 0'),
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
const FORM_BODY_LIMIT_BYTES = 64 * 1024;
const FORM_MEDIA_TYPE = 'application/x-www-form-urlencoded';
const MO_TEXT_MAX_CHARS = 10_000;

const GARBAGE_PAGE =
  '<!DOCTYPE html>\r\n<html><head><title>Runtime Error</title></head>\r\n' + "<body><h1>Server Error in '/' Application.</h1></body></html>\r\n";

const digitsSchema = z.string().regex(/^\d{7,15}$/, 'international digits without +');
const moSchema = z
  .object({
    from: digitsSchema,
    text: z.string().max(MO_TEXT_MAX_CHARS),
    notifyId: z.string().max(MAX_NOTIFY_ID_CHARS).optional(),
  })
  .strict();

type Fields = ReadonlyMap<string, string>;
type Processed = { readonly body: string; readonly accepted: readonly SimulatedSmsRecord[] };

export class InteractSmsSimulator extends RecordingSimulator<InteractSmsBehaviour, SimulatedSmsRecord> implements ProviderSimulator {
  readonly #username: string;
  readonly #password: string;
  readonly #accountId: string | undefined;
  readonly #logger: Logger;
  readonly #secret: string;
  readonly #formula: 'portal' | 'kb';
  readonly #longCode: string;
  readonly #clock: () => number;
  #nextLocalId = 0;

  constructor(options: InteractSmsSimulatorOptions) {
    // The host names the component (the relay's child logger says "simulator"); a second `component`
    // here would put the key twice on every line.
    super(options, { behaviourSchema, label: 'simulator', noun: 'webhook', contentType: FORM_MEDIA_TYPE });
    this.#username = options.username;
    this.#password = options.password;
    this.#accountId = options.accountId;
    this.#logger = options.logger;
    this.#secret = options.webhookSecret ?? options.password;
    this.#formula = options.webhookFormula ?? 'portal';
    this.#longCode = options.longCode ?? DEFAULT_LONG_CODE;
    if (!/^\d{3,15}$/.test(this.#longCode)) throw new RangeError('simulator: longCode must be 3–15 digits');
    this.#clock = options.clock ?? Date.now;
  }

  /** A standalone simulated gateway (default 127.0.0.1, ephemeral port) for tests and demos. */
  static listen(options: InteractSmsSimulatorOptions & StandaloneOptions): Promise<Standalone<InteractSmsSimulator>> {
    return listenStandalone(new InteractSmsSimulator(options), options);
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

  /** The form parser is the scope's own, so that it stays off the app's other routes. */
  protected addGatewayRoutes(scope: HttpApp): void {
    useFormParser(scope, FORM_BODY_LIMIT_BYTES);
    for (const url of SEND_PATHS) {
      scope.route({ method: ['GET', 'POST'], url, handler: (request, reply) => this.#onSend(request, reply) });
    }
  }

  async #onSend(request: FastifyRequest, reply: FastifyReply): Promise<string> {
    const behaviour = this.takeBehaviour();
    reply.type('text/plain; charset=utf-8');
    switch (behaviour.mode) {
      case 'error':
        return `${behaviour.code}\n${behaviour.text ?? DEFAULT_ERROR_TEXT}\n`;
      case 'http':
      case 'garbage':
        return aspNetErrorPage(reply, behaviour, GARBAGE_PAGE);
      case 'hang':
      case 'ok':
        return this.answer(reply, behaviour, this.#answerSend(request, reply));
    }
  }

  /** Processes the request and, once the response has gone out, starts the receipts of SMS sent with a notify id. */
  #answerSend(request: FastifyRequest, reply: FastifyReply): string {
    const { body, accepted } = this.#processSend(readAspNetFields(request));
    const reported = accepted.filter((sms) => sms.tracking !== undefined);
    this.reportWhenAnswered(reply, reported, (sms, drUrl) => this.#reportDelivery(sms, drUrl));
    return body;
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
    if (numbers.some((number) => !NUMBER.test(number) || this.isInvalidNumber(number))) return refuse(REFUSALS.badNumber);
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

  protected onMo(request: FastifyRequest, reply: FastifyReply) {
    return this.acceptMo(reply, request.body, moSchema, 'notifyId', (mo) => ({ id: this.#sendMo(mo) }));
  }

  #sendMo(mo: z.infer<typeof moSchema>): string {
    const url = this.forwarder.moUrlOrThrow();
    const timestamp = gatewayTime(this.#clock());
    const notifyId = mo.notifyId ?? '';
    const keyphrase = mo.text.trim().split(/\s+/)[0] || '*';
    const verify = this.#formula === 'portal' ? md5Hex(`${mo.from}${mo.text}${this.#secret}`) : md5Hex(`${notifyId}${this.#secret}`);
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
    const id = createHash('sha256').update(`${mo.from}\n${this.#longCode}\n${timestamp}\n${mo.text}`, 'utf8').digest('hex').slice(0, 40);
    this.forwarder.postSoon('mo', url, body, { moId: id, from: maskNumber(`+${mo.from}`) });
    return id;
  }

  /** One receipt per accepted number, after `reportDelayMs`, retried until answered 200. */
  #reportDelivery(accepted: readonly SimulatedSmsRecord[], drUrl: string): void {
    for (const sms of accepted) {
      const notifyId = sms.tracking ?? '';
      const success = this.isUndeliverable(sms.to) ? 'False' : 'True';
      this.forwarder.run(async () => {
        await this.forwarder.wait(this.reportDelayMs);
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
        await this.forwarder.deliver('dr', drUrl, body, { notifyId, success, to: maskNumber(`+${sms.to}`) });
      });
    }
  }
}

/** `yyyy-MM-dd HH:mm:ss` in UTC, as the platform stamps its posts. */
function gatewayTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

function md5Hex(text: string): string {
  return createHash('md5').update(text, 'utf8').digest('hex');
}
