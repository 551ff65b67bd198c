/**
 * A stand-in for Twilio's Messages API (https://www.twilio.com/docs/messaging/api/message-resource),
 * for tests and demos. Written from Twilio's public documentation, independently of the adapter
 * (src/providers/twilio/), sharing no parsing, formatting or signing code with it.
 *
 * Send API: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, a form with HTTP Basic
 * authentication (the account's SID and auth token), one `To` per request. It answers 201 with the
 * Message resource (JSON, `sid` SM…), or an error object `{ code, message, more_info, status }`:
 *
 * | status | code  | when                                                                |
 * | ------ | ----- | ------------------------------------------------------------------- |
 * | 401    | 20003 | no or wrong credentials, or another account's SID in the path        |
 * | 400    | 21211 | `To` not an E.164 number, or a number the simulated network refuses |
 * | 400    | 21602 | no `Body`                                                            |
 * | 400    | 21617 | `Body` longer than 1 600 characters                                  |
 * | 400    | 21603 | neither `From` nor `MessagingServiceSid`                             |
 *
 * Like Twilio it then posts status callbacks (`sent`, then `delivered`, or `undelivered` with
 * `ErrorCode` 30003 for an undeliverable number) to the message's `StatusCallback`, else to the
 * configured DR URL (the Messaging Service's status callback), and incoming messages to the MO URL
 * (the number's "A message comes in" webhook); every post is a form signed with
 * `X-Twilio-Signature` (HMAC-SHA1 of the URL and the sorted fields, with the auth token).
 * Twilio does not retry a failed webhook by default; the simulator does (every `webhookRetryMs`),
 * standing in for a fallback URL and a retry policy (`#rp`), so that tests see the relay's answers.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Logger } from '../log.ts';
import { maskNumber } from '../sms/numbers.ts';
import type { ProviderSimulator, SimulatedSmsRecord, SimulatorOptions } from './contract.ts';
import {
  RecordingSimulator,
  listenStandalone,
  type GatewaySimulatorOptions,
  type HttpApp,
  type Standalone,
  type StandaloneOptions,
  useFormParser,
} from './kit.ts';

export interface TwilioSimulatorOptions extends SimulatorOptions, GatewaySimulatorOptions {
  /** The account's number: `To` of every incoming message. Default +15005550006. */
  readonly accountNumber?: string | undefined;
}

const timesSchema = z.number().int().positive().optional();
const behaviourSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('ok') }).strict(),
  z
    .object({
      mode: z.literal('error'),
      code: z.number().int().min(10_000).max(99_999),
      status: z.number().int().min(400).max(599).optional(),
      message: z.string().max(500).optional(),
      times: timesSchema,
    })
    .strict(),
  z.object({ mode: z.literal('http'), status: z.number().int().min(200).max(599), times: timesSchema }).strict(),
  z.object({ mode: z.literal('garbage'), times: timesSchema }).strict(),
  z.object({ mode: z.literal('hang'), times: timesSchema }).strict(),
]);

/**
 * How the next send requests are answered: `error` a Twilio error object (default status 400),
 * `http` a bare status with an HTML page, `garbage` a 201 that is no Message resource, `hang`
 * takes the SMS but never answers.
 */
export type TwilioBehaviour = z.infer<typeof behaviourSchema>;

const API_VERSION = '2010-04-01';
const SEND_PATH = `/${API_VERSION}/Accounts/:accountSid/Messages.json`;
const FORM_MEDIA_TYPE = 'application/x-www-form-urlencoded';
const FORM_BODY_LIMIT_BYTES = 64 * 1024;
const MAX_BODY_CHARS = 1_600;
const E164 = /^\+[1-9]\d{6,14}$/;
const DEFAULT_ACCOUNT_NUMBER = '+15005550006';
/** The delivery error of an undeliverable number: "Unreachable destination handset". */
const UNREACHABLE_ERROR = '30003';
const MO_TEXT_MAX_CHARS = 1_600;

/** `usercontext` is taken and ignored: Twilio's incoming messages name no message they answer. */
const moSchema = z
  .object({
    from: z.string().regex(/^\d{7,15}$/, 'international digits without +'),
    text: z.string().max(MO_TEXT_MAX_CHARS),
    usercontext: z.string().optional(),
  })
  .strict();

interface TwilioSms extends SimulatedSmsRecord {
  readonly statusCallback?: string | undefined;
  readonly messagingServiceSid?: string | undefined;
}

interface Answer {
  readonly status: number;
  readonly body: string;
  readonly accepted?: TwilioSms;
}

export class TwilioSimulator extends RecordingSimulator<TwilioBehaviour, TwilioSms> implements ProviderSimulator {
  readonly #username: string;
  readonly #password: string;
  readonly #accountSid: string;
  readonly #authToken: string;
  readonly #accountNumber: string;
  readonly #logger: Logger;

  constructor(options: TwilioSimulatorOptions) {
    const logger = options.logger.child({ component: 'twilio-simulator' });
    super({ ...options, logger }, { behaviourSchema, label: 'twilio simulator', noun: 'webhook', contentType: FORM_MEDIA_TYPE });
    this.#username = options.username;
    this.#password = options.password;
    this.#accountSid = options.accountId ?? options.username;
    // Twilio signs with the account's primary auth token, whatever credentials the sender uses.
    this.#authToken = options.webhookSecret ?? options.password;
    this.#accountNumber = options.accountNumber ?? DEFAULT_ACCOUNT_NUMBER;
    if (!E164.test(this.#accountNumber)) throw new RangeError('twilio simulator: accountNumber must be E.164');
    this.#logger = logger;
  }

  static listen(options: TwilioSimulatorOptions & StandaloneOptions): Promise<Standalone<TwilioSimulator>> {
    return listenStandalone(new TwilioSimulator(options), options);
  }

  /** The phone `from` (international digits) texts the account's number; returns the MessageSid. */
  reply(from: string, text: string): string {
    return this.#sendMo(moSchema.parse({ from, text }));
  }

  protected addGatewayRoutes(scope: HttpApp): void {
    useFormParser(scope, FORM_BODY_LIMIT_BYTES);
    scope.post(SEND_PATH, (request, reply) => this.#onSend(request, reply));
  }

  async #onSend(request: FastifyRequest, reply: FastifyReply): Promise<string> {
    const behaviour = this.takeBehaviour();
    if (behaviour.mode === 'http') {
      reply.code(behaviour.status).type('text/html; charset=utf-8');
      return `<html><body><h1>HTTP ${behaviour.status}</h1></body></html>`;
    }
    reply.type('application/json; charset=utf-8');
    if (behaviour.mode === 'garbage') {
      reply.code(201);
      return '{"unexpected": true}';
    }
    if (behaviour.mode === 'error') {
      const status = behaviour.status ?? 400;
      reply.code(status);
      return errorBody(behaviour.code, behaviour.message ?? 'Simulated error', status).body;
    }
    const answer = this.#processSend(request);
    reply.code(answer.status);
    if (answer.accepted) this.#callbackWhenAnswered(reply, answer.accepted);
    return this.answer(reply, behaviour, answer.body);
  }

  #processSend(request: FastifyRequest): Answer {
    const { accountSid } = request.params as { accountSid: string };
    if (!this.#authenticated(request.headers.authorization) || accountSid !== this.#accountSid) {
      return errorBody(20003, 'Authenticate', 401);
    }
    const form = request.body instanceof URLSearchParams ? request.body : new URLSearchParams();
    const to = form.get('To') ?? '';
    if (!E164.test(to) || this.isInvalidNumber(to.slice(1))) return errorBody(21211, `Invalid 'To' Phone Number: ${to.slice(0, 4)}XXXX`, 400);
    const text = form.get('Body');
    if (!text) return errorBody(21602, 'Message body is required.', 400);
    if (text.length > MAX_BODY_CHARS) return errorBody(21617, 'The concatenated message body exceeds the 1600 character limit.', 400);
    const from = form.get('From') || undefined;
    const messagingServiceSid = form.get('MessagingServiceSid') || undefined;
    if (from === undefined && messagingServiceSid === undefined) return errorBody(21603, "A 'From' phone number is required.", 400);

    const sid = newSid('SM');
    const sms: TwilioSms = {
      id: sid,
      to: to.slice(1),
      text,
      ...(from ? { from } : {}),
      ...(form.get('StatusCallback') ? { statusCallback: form.get('StatusCallback') ?? undefined } : {}),
      ...(messagingServiceSid ? { messagingServiceSid } : {}),
    };
    this.records.push(sms);
    this.#logger.info({ simId: sid, to: maskNumber(to), chars: text.length }, 'twilio simulator: SMS received');
    this.emit('sms', sms);
    const now = new Date().toUTCString().replace('GMT', '+0000');
    const resource = {
      account_sid: this.#accountSid,
      api_version: API_VERSION,
      body: text,
      date_created: now,
      date_sent: null,
      date_updated: now,
      direction: 'outbound-api',
      error_code: null,
      error_message: null,
      from: from ?? null,
      messaging_service_sid: messagingServiceSid ?? null,
      num_media: '0',
      num_segments: String(Math.max(1, Math.ceil(text.length / 153))),
      price: null,
      price_unit: 'USD',
      sid,
      status: messagingServiceSid ? 'accepted' : 'queued',
      subresource_uris: { media: `/${API_VERSION}/Accounts/${this.#accountSid}/Messages/${sid}/Media.json` },
      to,
      uri: `/${API_VERSION}/Accounts/${this.#accountSid}/Messages/${sid}.json`,
    };
    return { status: 201, body: JSON.stringify(resource), accepted: sms };
  }

  #authenticated(header: string | undefined): boolean {
    const encoded = /^Basic\s+(\S+)$/i.exec(header ?? '')?.[1];
    if (encoded === undefined) return false;
    return Buffer.from(encoded, 'base64').toString('utf8') === `${this.#username}:${this.#password}`;
  }

  /** Once the 201 has gone out: `sent`, then the final status, to the message's callback URL. */
  #callbackWhenAnswered(reply: FastifyReply, sms: TwilioSms): void {
    reply.raw.once('close', () => {
      const url = sms.statusCallback ?? this.webhooks.drUrl;
      if (url === undefined) return;
      const failed = this.isUndeliverable(sms.to);
      this.forwarder.run(async () => {
        await this.forwarder.wait(this.reportDelayMs);
        for (const status of ['sent', failed ? 'undelivered' : 'delivered']) {
          const fields: Array<[string, string]> = [
            ['AccountSid', this.#accountSid],
            ['ApiVersion', API_VERSION],
            ['From', sms.from ?? this.#accountNumber],
            ['MessageSid', sms.id],
            ['MessageStatus', status],
            ['SmsSid', sms.id],
            ['SmsStatus', status],
            ['To', `+${sms.to}`],
            ...(sms.messagingServiceSid ? ([['MessagingServiceSid', sms.messagingServiceSid]] as Array<[string, string]>) : []),
            ...(status === 'undelivered' ? ([['ErrorCode', UNREACHABLE_ERROR]] as Array<[string, string]>) : []),
          ];
          const delivered = await this.forwarder.deliver(
            'dr',
            url,
            new URLSearchParams(fields).toString(),
            { sid: sms.id, status, to: maskNumber(`+${sms.to}`) },
            this.#signed(url, fields),
          );
          if (!delivered) return;
        }
      });
    });
  }

  protected onMo(request: FastifyRequest, reply: FastifyReply) {
    return this.acceptMo(reply, request.body, moSchema, 'usercontext', (mo) => ({ sid: this.#sendMo(mo) }));
  }

  #sendMo(mo: z.infer<typeof moSchema>): string {
    const url = this.forwarder.moUrlOrThrow();
    const sid = newSid('SM');
    const fields: Array<[string, string]> = [
      ['ToCountry', 'US'],
      ['SmsMessageSid', sid],
      ['NumMedia', '0'],
      ['SmsSid', sid],
      ['SmsStatus', 'received'],
      ['Body', mo.text],
      ['To', this.#accountNumber],
      ['NumSegments', String(Math.max(1, Math.ceil(mo.text.length / 153)))],
      ['MessageSid', sid],
      ['AccountSid', this.#accountSid],
      ['From', `+${mo.from}`],
      ['ApiVersion', API_VERSION],
    ];
    this.forwarder.postSoon('mo', url, new URLSearchParams(fields).toString(), { sid, from: maskNumber(`+${mo.from}`) }, this.#signed(url, fields));
    return sid;
  }

  /** `X-Twilio-Signature`: base64 HMAC-SHA1 of the URL and every field's name and value, sorted by name. */
  #signed(url: string, fields: ReadonlyArray<readonly [string, string]>): { headers: Record<string, string> } {
    const data = [...fields].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).reduce((text, [name, value]) => `${text}${name}${value}`, url);
    return { headers: { 'x-twilio-signature': createHmac('sha1', this.#authToken).update(data, 'utf8').digest('base64') } };
  }
}

function errorBody(code: number, message: string, status: number): Answer {
  return { status, body: JSON.stringify({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }) };
}

function newSid(prefix: string): string {
  return `${prefix}${randomBytes(16).toString('hex')}`;
}
