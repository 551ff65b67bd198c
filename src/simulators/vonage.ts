/**
 * A stand-in for Vonage's SMS API (https://developer.vonage.com/en/api/sms), for tests and demos,
 * written from Vonage's public documentation independently of the adapter (src/providers/vonage/),
 * sharing no parsing, formatting or signing code with it.
 *
 * Send API: `GET|POST /sms/json` (query, form or JSON), answered 200 with `message-count` and one
 * entry per part (160/153 GSM-7 characters, 70/67 for `type=unicode`), each with its `message-id`
 * and `status` ("0" taken; 2 missing parameter, 3 invalid parameter (also a number the simulated
 * network refuses), 4 bad credentials). For each accepted part it sends a delivery receipt
 * (`delivered`, or `failed` with err-code 2 for an undeliverable number) to the message's
 * `callback`, else the configured DR URL, echoing `client-ref`. An MO longer than one part is sent
 * as concatenated parts (`concat`, `concat-ref`, `concat-total`, `concat-part`), last part first,
 * as a network may deliver them. Webhooks go by GET (the dashboard's default), POST or POST-JSON,
 * signed (`timestamp`, `nonce`, `sig`) when a signature secret is set.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
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
  type WebhookKind,
  useFormParser,
} from './kit.ts';

export type VonageWebhookMethod = 'GET' | 'POST' | 'POST-JSON';

export interface VonageSimulatorOptions extends SimulatorOptions, GatewaySimulatorOptions {
  /** How the account's webhooks are called. Default GET. */
  readonly webhookMethod?: VonageWebhookMethod | undefined;
  /** The account's virtual number: `to` of every inbound SMS. Default 447700900000. */
  readonly virtualNumber?: string | undefined;
}

const timesSchema = z.number().int().positive().optional();
const behaviourSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('ok') }).strict(),
  z.object({ mode: z.literal('error'), status: z.number().int().min(1).max(99), times: timesSchema }).strict(),
  z.object({ mode: z.literal('http'), status: z.number().int().min(200).max(599), times: timesSchema }).strict(),
  z.object({ mode: z.literal('garbage'), times: timesSchema }).strict(),
  z.object({ mode: z.literal('hang'), times: timesSchema }).strict(),
]);
/** `error` answers every part with that status; `http` a bare status; `garbage` HTML with 200; `hang` never answers. */
export type VonageBehaviour = z.infer<typeof behaviourSchema>;

const SEND_PATH = '/sms/json';
const FORM_MEDIA_TYPE = 'application/x-www-form-urlencoded';
const BODY_LIMIT_BYTES = 64 * 1024;
const DIGITS = /^\d{7,15}$/;
const METHODS = { md5hash: 'md5', md5: 'md5', sha1: 'sha1', sha256: 'sha256', sha512: 'sha512' } as const;
/** `usercontext` is taken and ignored: an inbound SMS names no message it answers. */
const moSchema = z
  .object({ from: z.string().regex(DIGITS, 'international digits without +'), text: z.string().min(1).max(2_000), usercontext: z.string().optional() })
  .strict();

interface VonageSms extends SimulatedSmsRecord {
  readonly parts: readonly string[];
  readonly clientRef?: string | undefined;
  readonly callback?: string | undefined;
}

export class VonageSimulator extends RecordingSimulator<VonageBehaviour, VonageSms> implements ProviderSimulator {
  readonly #options: VonageSimulatorOptions;
  readonly #logger: Logger;
  readonly #method: VonageWebhookMethod;
  readonly #virtualNumber: string;
  #nextConcatRef = 0;

  constructor(options: VonageSimulatorOptions) {
    const logger = options.logger.child({ component: 'vonage-simulator' });
    super({ ...options, logger }, { behaviourSchema, label: 'vonage simulator', noun: 'webhook', contentType: FORM_MEDIA_TYPE });
    this.#options = options;
    this.#logger = logger;
    this.#method = options.webhookMethod ?? 'GET';
    this.#virtualNumber = options.virtualNumber ?? '447700900000';
    if (options.webhookSigning !== undefined && !Object.hasOwn(METHODS, options.webhookSigning))
      throw new RangeError(`vonage simulator: unknown signature method ${options.webhookSigning}`);
  }

  static listen(options: VonageSimulatorOptions & StandaloneOptions): Promise<Standalone<VonageSimulator>> {
    return listenStandalone(new VonageSimulator(options), options);
  }

  /** The phone texts the virtual number; a long text comes as parts. Returns the first part's messageId. */
  reply(from: string, text: string): string {
    return this.#sendMo(moSchema.parse({ from, text }));
  }

  protected addGatewayRoutes(scope: HttpApp): void {
    useFormParser(scope, BODY_LIMIT_BYTES);
    scope.route({ method: ['GET', 'POST'], url: SEND_PATH, handler: (request, reply) => this.#onSend(request, reply) });
  }

  async #onSend(request: FastifyRequest, reply: FastifyReply): Promise<string> {
    const behaviour = this.takeBehaviour();
    if (behaviour.mode === 'http' || behaviour.mode === 'garbage') {
      reply.code(behaviour.mode === 'http' ? behaviour.status : 200).type('text/html; charset=utf-8');
      return '<html><body><h1>Error</h1></body></html>';
    }
    reply.type('application/json; charset=utf-8');
    const fields = requestFields(request);
    const refuse = (status: number, errorText: string) =>
      JSON.stringify({ 'message-count': '1', messages: [{ to: fields.get('to') ?? '', status: String(status), 'error-text': errorText }] });
    if (behaviour.mode === 'error') return refuse(behaviour.status, 'Simulated error');
    if (fields.get('api_key') !== this.#options.username || fields.get('api_secret') !== this.#options.password) return refuse(4, 'Bad Credentials');
    const from = fields.get('from');
    if (!from) return refuse(2, 'Missing from param');
    const to = fields.get('to') ?? '';
    if (!DIGITS.test(to) || this.isInvalidNumber(to)) return refuse(3, 'Invalid to param');
    const text = fields.get('text');
    if (!text) return refuse(2, 'Missing text param');
    const parts = split(text, fields.get('type') === 'unicode');
    const sms: VonageSms = {
      id: randomId(),
      to,
      text,
      from,
      parts: parts.map(() => randomId()),
      clientRef: fields.get('client-ref'),
      callback: fields.get('callback'),
    };
    this.records.push(sms);
    this.#logger.info({ simId: sms.id, to: maskNumber(`+${to}`), parts: parts.length }, 'vonage simulator: SMS received');
    this.emit('sms', sms);
    if (fields.get('status-report-req') !== '0') {
      reply.raw.once('close', () => this.#receipts(sms));
    }
    return this.answer(
      reply,
      behaviour,
      JSON.stringify({
        'message-count': String(parts.length),
        messages: sms.parts.map((id) => ({
          to,
          'message-id': id,
          status: '0',
          'remaining-balance': '10.00',
          'message-price': '0.0333',
          network: '23410',
          ...(sms.clientRef ? { 'client-ref': sms.clientRef } : {}),
        })),
      }),
    );
  }

  #receipts(sms: VonageSms): void {
    const url = sms.callback ?? this.webhooks.drUrl;
    if (url === undefined) return;
    const failed = this.isUndeliverable(sms.to);
    this.forwarder.run(async () => {
      await this.forwarder.wait(this.reportDelayMs);
      for (const partId of sms.parts) {
        const fields: Array<[string, string]> = [
          ['msisdn', sms.to],
          ['to', sms.from ?? this.#virtualNumber],
          ['network-code', '23410'],
          ['messageId', partId],
          ['price', '0.03330000'],
          ['status', failed ? 'failed' : 'delivered'],
          ['scts', '2612021200'],
          ['err-code', failed ? '2' : '0'],
          ['api-key', this.#options.username],
          ['message-timestamp', timestamp(new Date())],
          ...(sms.clientRef ? ([['client-ref', sms.clientRef]] as Array<[string, string]>) : []),
        ];
        if (!(await this.#call('dr', url, fields, { partId, status: failed ? 'failed' : 'delivered' }))) return;
      }
    });
  }

  protected onMo(request: FastifyRequest, reply: FastifyReply) {
    return this.acceptMo(reply, request.body, moSchema, 'usercontext', (mo) => ({ messageId: this.#sendMo(mo) }));
  }

  #sendMo(mo: z.infer<typeof moSchema>): string {
    const url = this.forwarder.moUrlOrThrow();
    const unicode = /[^\x20-\x7e\n\r]/.test(mo.text);
    const parts = split(mo.text, unicode);
    const ids = parts.map(() => randomId());
    this.#nextConcatRef = (this.#nextConcatRef + 1) % 256;
    const reference = this.#nextConcatRef;
    const common: Array<[string, string]> = [
      ['msisdn', mo.from],
      ['to', this.#virtualNumber],
      ['type', unicode ? 'unicode' : 'text'],
      ['keyword', (mo.text.trim().split(/\s+/)[0] ?? '').toUpperCase()],
      ['api-key', this.#options.username],
      ['message-timestamp', timestamp(new Date())],
    ];
    // Last part first: the relay must not depend on their order.
    for (const index of parts.map((_, offset) => offset).reverse()) {
      const fields: Array<[string, string]> = [
        ...common,
        ['messageId', ids[index] ?? ''],
        ['text', parts[index] ?? ''],
        ...(parts.length > 1
          ? ([
              ['concat', 'true'],
              ['concat-ref', String(reference)],
              ['concat-total', String(parts.length)],
              ['concat-part', String(index + 1)],
            ] as Array<[string, string]>)
          : []),
      ];
      this.forwarder.run(() => this.#call('mo', url, fields, { moId: ids[index] ?? '', from: maskNumber(`+${mo.from}`) }).then(() => undefined));
    }
    return ids[0] ?? '';
  }

  /** One webhook call in the account's method, signed when a secret is set. */
  #call(kind: WebhookKind, url: string, fields: Array<[string, string]>, context: Record<string, string>): Promise<boolean> {
    const signed = this.#sign(fields);
    if (this.#method === 'POST-JSON') {
      return this.forwarder.deliver(kind, url, JSON.stringify(Object.fromEntries(signed)), context, { headers: { 'content-type': 'application/json' } });
    }
    return this.forwarder.deliver(kind, url, new URLSearchParams(signed).toString(), context, { method: this.#method === 'GET' ? 'GET' : 'POST' });
  }

  #sign(fields: Array<[string, string]>): Array<[string, string]> {
    const secret = this.#options.webhookSecret;
    if (secret === undefined) return fields;
    const method = (this.#options.webhookSigning ?? 'md5hash') as keyof typeof METHODS;
    const all: Array<[string, string]> = [...fields, ['timestamp', String(Math.floor(Date.now() / 1000))], ['nonce', randomBytes(8).toString('hex')]];
    const data = [...all]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, value]) => `&${name}=${value.replaceAll('&', '_').replaceAll('=', '_')}`)
      .join('');
    const sig =
      method === 'md5hash'
        ? createHash('md5')
            .update(data + secret)
            .digest('hex')
        : createHmac(METHODS[method], secret).update(data).digest('hex');
    return [...all, ['sig', sig]];
  }
}

/** Query, form and JSON fields together (the SMS API takes any). */
function requestFields(request: FastifyRequest): Map<string, string> {
  const fields = new Map<string, string>(new URL(request.url, 'http://simulator.invalid').searchParams);
  if (request.body instanceof URLSearchParams) for (const [name, value] of request.body) fields.set(name, value);
  else if (typeof request.body === 'object' && request.body !== null) {
    for (const [name, value] of Object.entries(request.body)) if (typeof value === 'string' || typeof value === 'number') fields.set(name, String(value));
  }
  return fields;
}

/** The parts a network sends: one of 160 (70) characters, else parts of 153 (67). */
function split(text: string, unicode: boolean): string[] {
  const [single, part] = unicode ? [70, 67] : [160, 153];
  const chars = [...text];
  if (chars.length <= single) return [text];
  const parts: string[] = [];
  for (let start = 0; start < chars.length; start += part) parts.push(chars.slice(start, start + part).join(''));
  return parts;
}

function randomId(): string {
  return randomBytes(8).toString('hex').toUpperCase();
}

/** `YYYY-MM-DD HH:MM:SS`, UTC. */
function timestamp(date: Date): string {
  return date.toISOString().slice(0, 19).replace('T', ' ');
}
