/**
 * A stand-in for the Puzzel SMS Gateway REST interface (Puzzel's SMS Gateway documentation), for tests and demos.
 * Written from the protocol notes, independently of the adapter (src/providers/puzzel/): it shares
 * no parsing or formatting code with it, and both are held to the same wire fixtures, so neither
 * can hide a mistake of the other.
 *
 * `POST /gw/rs/sendMessages` takes JSON, XML or a web form (and `GET` with the form fields in the
 * query), answers JSON or XML as the `Accept` header asks (XML by default, as Puzzel does), and
 * validates like the gateway: credentials (statusCode 2, or HTTP 401 ProblemDetails), required
 * fields and GSM-7 content (5), duplicate clientReference (25). Like Puzzel it then calls the
 * service's callback URLs: a delivery report `{"dr":[…]}` per accepted SMS, and `{"mo":[…]}` for
 * each reply injected through `reply()` or `POST /simulator/mo`, each retried until answered 200. A
 * service set up for HTTP GET callbacks gets each as one GET in the parameters of Puzzel's GET templates
 * (its HTTP GET interface documentation), which camel-case the DR's `customerMessageReference` and
 * `customerBatchReference`.
 */
import { randomBytes } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Logger } from '../log.ts';
import { maskNumber } from '../sms/numbers.ts';
import type { ProviderSimulator, SimulatedSmsRecord, SimulatorOptions } from './contract.ts';
import {
  RecordingSimulator,
  listenStandalone,
  readControl,
  undeliverableNumbersSchema,
  type GatewaySimulatorOptions,
  type HttpApp,
  type PostShape,
  type Standalone,
  type StandaloneOptions,
} from './kit.ts';

/**
 * Undeliverable numbers get delivery report 351 (unknown recipient) instead of 0 (delivered). A
 * callback attempt gives up after 60 s unless `webhookTimeoutMs` says otherwise, as Puzzel's do.
 */
export interface PuzzelSimulatorOptions extends SimulatorOptions, GatewaySimulatorOptions {
  /** A fixed header sent with every callback (its "fixed header" option), e.g. `{ 'x-api-key': '…' }`. */
  readonly webhookHeaders?: Readonly<Record<string, string>> | undefined;
  /** How the service's callbacks are made: POST JSON (default), or GET in the parameters of Puzzel's GET templates. */
  readonly webhookMethod?: 'GET' | 'POST' | undefined;
}

/** One SMS the simulated gateway accepted: one per accepted `message`. */
export interface PuzzelSimulatedSms extends SimulatedSmsRecord {
  readonly serviceId: number;
  readonly batchReference: string;
  readonly clientReference: string | undefined;
  readonly originatorType: string | undefined;
  readonly validity: number | undefined;
  readonly autoDetectEncoding: boolean;
  readonly newSession: boolean;
  readonly receivedAt: Date;
}

const timesSchema = z.number().int().positive().optional();
const behaviourSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('ok') }).strict(),
  /** Every request answered with this HTTP status and a ProblemDetails body (401 = the OpenAPI-era login refusal). */
  z.object({ mode: z.literal('http'), status: z.number().int().min(400).max(599), times: timesSchema }).strict(),
  /** Every message answered statusCode 6 (INTERNAL_ERROR); nothing is sent. */
  z.object({ mode: z.literal('internal-error'), times: timesSchema }).strict(),
  /** The request is processed (its SMS are sent) but not answered until released: an answer lost in flight. */
  z.object({ mode: z.literal('hang'), times: timesSchema }).strict(),
]);

/**
 * How the next send requests are answered; `times` limits it to that many requests, after which
 * the simulator is `ok` again.
 */
export type PuzzelSimulatorBehaviour = z.infer<typeof behaviourSchema>;

/**
 * How wrong credentials are answered: `status-code` = statusCode 2 per message in a 200 (the older
 * docs), `http-401` = HTTP 401 with ProblemDetails (the OpenAPI-era gateway).
 */
export type AuthFailureMode = 'status-code' | 'http-401';

const SEND_PATH = '/gw/rs/sendMessages';

const RESPONSE_NAMESPACE = 'http://chimera.intele.com/gw/xsd/SMSGateway/Response/2013/02';
const STATUS_OK = 1;
const STATUS_ACCESS_ERROR = 2;
const STATUS_SYNTAX_ERROR = 5;
const STATUS_INTERNAL_ERROR = 6;
const STATUS_NOT_UNIQUE = 25;
const MESSAGE_OK = 'Message enqueued for sending';
const MESSAGE_ACCESS_ERROR = 'Access error: wrong serviceId, username or password';
const MESSAGE_INTERNAL_ERROR = 'Internal error: please try again later';
const MESSAGE_NOT_UNIQUE = 'Not unique: clientReference was used within the last hour';
/** Identifier validation remembers references this long. */
const UNIQUENESS_WINDOW_MS = 60 * 60 * 1000;

/** DR status codes the simulator reports. */
const DR_DELIVERED = 0;
const DR_UNKNOWN_RECIPIENT = 351;
const DR_DESCRIPTIONS: Readonly<Record<number, string>> = {
  [DR_DELIVERED]: 'OK. Message processed successfully.',
  [DR_UNKNOWN_RECIPIENT]: 'Unknown recipient or illegal recipient',
};
const DR_TYPE = 6;
const MO_TYPE = 1;
/** The short number simulated MOs were sent to. */
const MO_SHORT_NUMBER = '1960';

/** Room for 100 messages of 6 UCS-2 parts, JSON-escaped; anything bigger is junk. */
const BODY_LIMIT_BYTES = 1024 * 1024;
/** setTimeout's longest wait; a send window further away is waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const MIN_NUMBER_DIGITS = 7;
const MAX_NUMBER_DIGITS = 15;
const MAX_PARTS = 6;
const GSM_SINGLE_SEPTETS = 160;
const GSM_PART_SEPTETS = 153;
const UCS2_SINGLE_UNITS = 70;
const UCS2_PART_UNITS = 67;
const MAX_VALIDITY = 173;
/** Without a zone Puzzel reads send window times as CET (modelled as a fixed +01:00, no summer time). */
const DEFAULT_ZONE_MINUTES = 60;

/** GSM 03.38 basic table (3GPP TS 23.038). */
const GSM_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' + '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
/** GSM 03.38 extension table: two septets each. */
const GSM_EXTENDED = new Set('\f^{}\\[~]|€');

const digitsSchema = z.string().regex(new RegExp(`^\\d{${MIN_NUMBER_DIGITS},${MAX_NUMBER_DIGITS}}$`), 'international digits without +');
const controls = {
  mode: behaviourSchema,
  undeliverableNumbers: z.object({ undeliverableNumbers: undeliverableNumbersSchema }).strict(),
  authFailure: z.object({ authFailure: z.enum(['status-code', 'http-401']) }).strict(),
};
const moSchema = z
  .object({
    from: digitsSchema,
    text: z.string().max(10_000),
    sessionid: z.string().max(128).optional(),
  })
  .strict();

/** A decoded request body, whatever format it came in: objects, lists and scalar leaves. */
type Tree = string | number | boolean | null | Tree[] | { [name: string]: Tree };
type TreeObject = { [name: string]: Tree };

/**
 * A tree's object with no prototype: a field or element named `__proto__` (`__proto__.x=1`) is a name
 * like any other, never a way to Object.prototype, which the relay's own process shares with the simulator.
 */
const emptyTreeObject = (): TreeObject => Object.create(null) as TreeObject;

interface StatusEntry {
  readonly statusCode: number;
  readonly statusMessage: string;
  readonly clientReference: string | null;
  readonly recipient: string | null;
  readonly messageId: string | null;
  readonly sessionId: string | null;
  readonly sequenceIndex: number;
}

interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
  readonly accepted: readonly PuzzelSimulatedSms[];
}

/** A message that passed validation, before it is given an id. */
interface ValidMessage {
  readonly to: string;
  readonly text: string;
  readonly clientReference: string | undefined;
  readonly originator: { readonly type: string; readonly value: string } | undefined;
  readonly validity: number | undefined;
  readonly autoDetectEncoding: boolean;
  readonly newSession: boolean;
  readonly sessionId: string | undefined;
  readonly sendAt: number | undefined;
}

type Checked =
  | { readonly ok: true; readonly message: ValidMessage }
  | { readonly ok: false; readonly statusMessage: string; readonly recipient: string | null };

export class PuzzelSimulator extends RecordingSimulator<PuzzelSimulatorBehaviour, PuzzelSimulatedSms> implements ProviderSimulator {
  #authFailure: AuthFailureMode = 'status-code';
  readonly #username: string;
  readonly #password: string;
  /** undefined: the simulator takes any numeric serviceId. */
  readonly #serviceId: number | undefined;
  readonly #logger: Logger;
  readonly #webhookMethod: 'GET' | 'POST';
  /** clientReference → when it was accepted (identifier validation). */
  readonly #references = new Map<string, number>();

  constructor(options: PuzzelSimulatorOptions) {
    super(options, {
      behaviourSchema,
      label: 'puzzel simulator',
      noun: 'callback',
      contentType: 'application/json',
      headers: options.webhookHeaders,
    });
    this.#username = options.username;
    this.#password = options.password;
    const account = options.accountId?.trim();
    if (account !== undefined && !/^\d{1,9}$/.test(account)) throw new RangeError(`puzzel simulator: accountId must be a numeric service id, got "${account}"`);
    this.#serviceId = account === undefined ? undefined : Number(account);
    this.#logger = options.logger;
    this.#webhookMethod = options.webhookMethod ?? 'POST';
  }

  /** A standalone simulated gateway (default 127.0.0.1, ephemeral port) for tests and demos. */
  static listen(options: PuzzelSimulatorOptions & StandaloneOptions): Promise<Standalone<PuzzelSimulator>> {
    return listenStandalone(new PuzzelSimulator(options), options);
  }

  setAuthFailure(mode: AuthFailureMode): void {
    this.#authFailure = mode;
  }

  /**
   * The phone `from` (international digits) sends `text`; when it answers an SMS that carried a
   * session, the MO names that session. Posted to the MO URL after this call returns; returns the
   * MO's messageid. Throws when `from` is no number, no MO URL is set or the simulator is closed.
   */
  reply(from: string, text: string, answering?: SimulatedSmsRecord): string {
    return this.#sendMo(moSchema.parse({ from, text, ...(answering?.tracking ? { sessionid: answering.tracking } : {}) }));
  }

  /** Every body in the simulator's scope is read as text: the send API takes JSON, XML and forms. */
  protected addGatewayRoutes(scope: HttpApp): void {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit: BODY_LIMIT_BYTES }, (_request, body, done) => done(null, body));
    scope.route({ method: ['GET', 'POST'], url: SEND_PATH, handler: (request, reply) => this.#onSend(request, reply) });
  }

  // -------------------------------------------------------------------------------------------------
  // The send API

  async #onSend(request: FastifyRequest, reply: FastifyReply): Promise<string> {
    const behaviour = this.takeBehaviour();
    const answer =
      behaviour.mode === 'http'
        ? problem(behaviour.status, `Simulated HTTP ${behaviour.status}`)
        : this.#processSend(request, behaviour.mode === 'internal-error');
    reply.code(answer.status).type(answer.contentType);
    this.reportWhenAnswered(reply, answer.accepted, (sms, drUrl) => this.#reportDelivery(sms, drUrl));
    return this.answer(reply, behaviour, answer.body);
  }

  #processSend(request: FastifyRequest, internalError: boolean): Answer {
    const decoded = decodeRequest(request);
    if (typeof decoded === 'string') return decoded === 'unsupported' ? problem(415, 'Unsupported content type') : problem(400, decoded);
    const messages = asList(decoded['message']);
    if (messages.length === 0) return problem(400, 'Syntax error: missing parameter message');
    const batchReference = scalar(decoded['batchReference']) || generatedBatchReference();
    const format = wantsJson(request) ? 'json' : 'xml';
    const respond = (statuses: StatusEntry[], accepted: PuzzelSimulatedSms[] = []): Answer => ({
      status: 200,
      contentType: format === 'json' ? 'application/json' : 'application/xml',
      body: format === 'json' ? jsonResponse(batchReference, statuses) : xmlResponse(batchReference, statuses),
      accepted,
    });
    const refuseAll = (statusCode: number, statusMessage: string) =>
      respond(messages.map((message, index) => refusal(index, statusCode, statusMessage, message)));

    if (internalError) return refuseAll(STATUS_INTERNAL_ERROR, MESSAGE_INTERNAL_ERROR);
    const serviceId = scalar(decoded['serviceId']);
    if (
      !/^\d{1,9}$/.test(serviceId) ||
      (this.#serviceId !== undefined && Number(serviceId) !== this.#serviceId) ||
      scalar(decoded['username']) !== this.#username ||
      scalar(decoded['password']) !== this.#password
    ) {
      if (this.#authFailure === 'http-401') return problem(401, MESSAGE_ACCESS_ERROR);
      return refuseAll(STATUS_ACCESS_ERROR, MESSAGE_ACCESS_ERROR);
    }

    const now = Date.now();
    const accepted: PuzzelSimulatedSms[] = [];
    const statuses = messages.map((raw, index): StatusEntry => {
      const checked = checkMessage(raw);
      if (!checked.ok) return refusal(index, STATUS_SYNTAX_ERROR, checked.statusMessage, raw, checked.recipient);
      const { message } = checked;
      const to = `+${message.to}`;
      if (this.isInvalidNumber(message.to)) {
        return refusal(index, STATUS_SYNTAX_ERROR, 'Syntax error: invalid parameter recipient: not a mobile number', raw, to);
      }
      if (message.clientReference !== undefined && this.#seenRecently(message.clientReference, now)) {
        return refusal(index, STATUS_NOT_UNIQUE, MESSAGE_NOT_UNIQUE, raw, to);
      }
      const id = nextMessageId();
      const sessionId = message.newSession ? newSessionId() : message.sessionId;
      const sms: PuzzelSimulatedSms = {
        id,
        to: message.to,
        text: message.text,
        from: message.originator?.value,
        tracking: sessionId,
        sendAt: message.sendAt,
        serviceId: Number(serviceId),
        batchReference,
        clientReference: message.clientReference,
        originatorType: message.originator?.type,
        validity: message.validity,
        autoDetectEncoding: message.autoDetectEncoding,
        newSession: message.newSession,
        receivedAt: new Date(now),
      };
      if (message.clientReference !== undefined) this.#references.set(message.clientReference, now);
      this.#record(sms);
      accepted.push(sms);
      return {
        statusCode: STATUS_OK,
        statusMessage: MESSAGE_OK,
        clientReference: message.clientReference ?? null,
        recipient: to,
        messageId: id,
        sessionId: sessionId ?? null,
        sequenceIndex: index + 1,
      };
    });
    return respond(statuses, accepted);
  }

  #seenRecently(reference: string, now: number): boolean {
    const at = this.#references.get(reference);
    return at !== undefined && now - at < UNIQUENESS_WINDOW_MS;
  }

  #record(sms: PuzzelSimulatedSms): void {
    this.records.push(sms);
    this.#logger.info(
      { simId: sms.id, to: maskNumber(`+${sms.to}`), chars: sms.text.length, ...(sms.tracking ? { session: sms.tracking } : {}) },
      'puzzel simulator: SMS received',
    );
    this.emit('sms', sms);
  }

  // -------------------------------------------------------------------------------------------------
  // Control

  protected override onControl(request: FastifyRequest, reply: FastifyReply) {
    let body: unknown;
    try {
      body = JSON.parse(typeof request.body === 'string' ? request.body : '');
    } catch {
      return reply.code(400).send({ error: 'the control request must be JSON' });
    }
    const parsed = readControl<z.infer<(typeof controls)[keyof typeof controls]>>(body, controls);
    if (!parsed.ok) return reply.code(400).send(parsed.refusal);
    if ('mode' in parsed.data) this.setBehaviour(parsed.data);
    else if ('authFailure' in parsed.data) this.setAuthFailure(parsed.data.authFailure);
    else this.setUndeliverableNumbers(parsed.data.undeliverableNumbers);
    return this.status();
  }

  protected override status(): Record<string, unknown> {
    return { ...super.status(), authFailure: this.#authFailure };
  }

  protected onMo(request: FastifyRequest, reply: FastifyReply) {
    let body: unknown;
    try {
      body = JSON.parse(typeof request.body === 'string' ? request.body : '');
    } catch {
      return reply.code(400).send({ error: 'the MO must be JSON {from, text, usercontext?}' });
    }
    return this.acceptMo(reply, body, moSchema, 'sessionid', (mo) => ({ messageid: this.#sendMo(mo) }));
  }

  // -------------------------------------------------------------------------------------------------
  // Callbacks

  #sendMo(mo: z.infer<typeof moSchema>): string {
    const url = this.forwarder.moUrlOrThrow();
    const messageid = nextMessageId();
    const fields = {
      messageid,
      serviceid: this.#serviceId ?? 0,
      sno: MO_SHORT_NUMBER,
      originator: `+${mo.from}`,
      content: mo.text,
      timestamp: puzzelTimestamp(new Date()),
      type: MO_TYPE,
      sessionid: mo.sessionid ?? '',
    };
    const { body, shape } = this.#callback('mo', fields);
    this.forwarder.postSoon('mo', url, body, { messageid, from: maskNumber(`+${mo.from}`) }, shape);
    return messageid;
  }

  /** One DR per accepted SMS, after `reportDelayMs`, and not before its send window opens. */
  #reportDelivery(accepted: readonly PuzzelSimulatedSms[], drUrl: string): void {
    for (const sms of accepted) {
      const statuscode = this.isUndeliverable(sms.to) ? DR_UNKNOWN_RECIPIENT : DR_DELIVERED;
      // Puzzel's GET template camel-cases the two references its JSON and XML name in lower case.
      const get = this.#webhookMethod === 'GET';
      const { body, shape } = this.#callback('dr', {
        messageid: sms.id,
        [get ? 'customerBatchReference' : 'customerbatchreference']: sms.batchReference,
        ...(sms.clientReference === undefined ? {} : { [get ? 'customerMessageReference' : 'customermessagereference']: sms.clientReference }),
        serviceid: sms.serviceId,
        type: DR_TYPE,
        statuscode,
        statusdescription: DR_DESCRIPTIONS[statuscode] ?? '',
      });
      this.forwarder.run(async () => {
        const due = Math.max(Date.now() + this.reportDelayMs, sms.sendAt ?? 0);
        for (let left = due - Date.now(); left > 0; left = due - Date.now()) {
          await this.forwarder.wait(Math.min(left, MAX_TIMER_MS));
        }
        await this.forwarder.deliver('dr', drUrl, body, { messageid: sms.id, statuscode, to: maskNumber(`+${sms.to}`) }, shape);
      });
    }
  }

  /** One message's callback in the service's method: a list of one in JSON, or the GET's query. */
  #callback(kind: 'mo' | 'dr', fields: Readonly<Record<string, string | number>>): { readonly body: string; readonly shape: PostShape } {
    if (this.#webhookMethod === 'POST') return { body: JSON.stringify({ [kind]: [fields] }), shape: {} };
    const query = new URLSearchParams(Object.entries(fields).map(([name, value]): [string, string] => [name, String(value)]));
    return { body: query.toString(), shape: { method: 'GET' } };
  }
}

// ---------------------------------------------------------------------------------------------------
// Request decoding: JSON, XML and web forms into one tree

/** The request as a tree, 'unsupported' for a media type Puzzel does not take, or why it is unreadable. */
function decodeRequest(request: FastifyRequest): TreeObject | string {
  if (request.method === 'GET') return formTree(new URL(request.url, 'http://simulator.invalid').searchParams);
  const body = typeof request.body === 'string' ? request.body : '';
  const mediaType = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (mediaType === 'application/json') {
    let value: unknown;
    try {
      value = JSON.parse(body);
    } catch {
      return 'Syntax error: the body is not JSON';
    }
    return isTreeObject(value) ? value : 'Syntax error: the body is not a JSON object';
  }
  if (mediaType === 'application/xml' || mediaType === 'text/xml') {
    const tree = xmlTree(body);
    if (typeof tree === 'string') return `Syntax error: ${tree}`;
    if (tree.name !== 'request' || !isTreeObject(tree.value)) return 'Syntax error: the XML root must be <request>';
    return tree.value;
  }
  if (mediaType === 'application/x-www-form-urlencoded') return formTree(new URLSearchParams(body));
  return 'unsupported';
}

function isTreeObject(value: unknown): value is TreeObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Form fields with dotted, indexed names (`message[0].settings.originatorSettings.originator`)
 * as a tree; indexed names become objects keyed by index, which `asList` orders.
 */
function formTree(fields: URLSearchParams): TreeObject | string {
  const root = emptyTreeObject();
  for (const [name, value] of fields) {
    const path: string[] = [];
    for (const segment of name.split('.')) {
      const match = /^([A-Za-z_][\w-]*)((?:\[\d{1,4}\])*)$/.exec(segment);
      if (match?.[1] === undefined) return `Syntax error: unknown field name "${name.slice(0, 80)}"`;
      path.push(match[1], ...[...(match[2] ?? '').matchAll(/\[(\d+)\]/g)].map((index) => `${Number(index[1])}`));
    }
    let node: TreeObject = root;
    for (const [position, key] of path.entries()) {
      if (position === path.length - 1) {
        node[key] = value;
        break;
      }
      const next = node[key];
      if (next === undefined) node = node[key] = emptyTreeObject();
      else if (isTreeObject(next)) node = next;
      else return `Syntax error: field "${name.slice(0, 80)}" conflicts with another`;
    }
  }
  return root;
}

/**
 * A small XML reader for the request document: elements become objects (a name repeated becomes a
 * list), leaf elements their unescaped text; namespace prefixes and attributes are dropped.
 */
function xmlTree(source: string): { name: string; value: Tree } | string {
  const token =
    /<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<!\[CDATA\[([\s\S]*?)\]\]>|<\/\s*([\w.:-]+)\s*>|<([\w.:-]+)(?:\s+[\w.:-]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*(\/?)>|([^<]+)|(<)/g;
  type Frame = { qname: string; name: string; fields: Map<string, Tree[]>; text: string };
  const stack: Frame[] = [];
  let result: { name: string; value: Tree } | undefined;
  const finish = (frame: Frame): Tree => {
    if (frame.fields.size === 0) return frame.text;
    if (frame.text.trim() !== '') throw new Error(`<${frame.qname}> mixes text and elements`);
    const object = emptyTreeObject();
    for (const [name, values] of frame.fields) object[name] = values.length === 1 ? (values[0] ?? null) : values;
    return object;
  };
  const attach = (name: string, value: Tree) => {
    const parent = stack.at(-1);
    if (parent === undefined) {
      if (result !== undefined) throw new Error('more than one root element');
      result = { name, value };
      return;
    }
    const list = parent.fields.get(name) ?? [];
    list.push(value);
    parent.fields.set(name, list);
  };
  try {
    for (const match of source.replace(/^\uFEFF/, '').matchAll(token)) {
      const [whole, cdata, closing, opening, selfClosing, text, stray] = match;
      // A DOCTYPE, a malformed tag or a lone "<" is no token: refused.
      if (stray !== undefined) throw new Error(`unreadable markup at offset ${match.index}`);
      if (whole.startsWith('<!--') || whole.startsWith('<?')) continue;
      const top = stack.at(-1);
      if (cdata !== undefined || text !== undefined) {
        if (top === undefined) {
          if ((text ?? cdata ?? '').trim() !== '') throw new Error('text outside the root element');
          continue;
        }
        top.text += cdata ?? unescapeXml((text ?? '').replace(/\r\n?/g, '\n'));
      } else if (closing !== undefined) {
        if (top === undefined || top.qname !== closing) throw new Error(`unexpected </${closing}>`);
        stack.pop();
        attach(top.name, finish(top));
      } else if (opening !== undefined) {
        if (stack.length === 0 && result !== undefined) throw new Error('more than one root element');
        const name = opening.includes(':') ? opening.slice(opening.lastIndexOf(':') + 1) : opening;
        if (selfClosing === '/') attach(name, '');
        else stack.push({ qname: opening, name, fields: new Map(), text: '' });
      }
    }
    if (stack.length > 0) throw new Error(`<${stack.at(-1)?.qname}> is not closed`);
    if (result === undefined) throw new Error('no root element');
    return result;
  } catch (error) {
    return `the body is not well-formed XML (${(error as Error).message})`;
  }
}

/** XML's five predefined entities (a Map: a reference such as `&constructor;` names none). */
const PREDEFINED_ENTITIES: ReadonlyMap<string, string> = new Map([
  ['amp', '&'],
  ['lt', '<'],
  ['gt', '>'],
  ['quot', '"'],
  ['apos', "'"],
]);

function unescapeXml(text: string): string {
  return text.replace(/&([^;&\s]*);?/g, (whole, reference: string) => {
    if (!whole.endsWith(';')) throw new Error('a bare "&"');
    const named = PREDEFINED_ENTITIES.get(reference);
    if (named !== undefined) return named;
    const code = /^#x[0-9a-f]+$/i.test(reference) ? Number.parseInt(reference.slice(2), 16) : /^#\d+$/.test(reference) ? Number(reference.slice(1)) : NaN;
    if (!Number.isInteger(code) || code < 1 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) throw new Error(`unknown entity &${reference};`);
    return String.fromCodePoint(code);
  });
}

/** A list field: a JSON array, a repeated XML element, indexed form fields; a lone value is a list of one. */
function asList(value: Tree | undefined): Tree[] {
  if (value === undefined || value === null || value === '') return [];
  if (Array.isArray(value)) return value;
  if (isTreeObject(value)) {
    const keys = Object.keys(value);
    if (keys.length > 0 && keys.every((key) => /^\d+$/.test(key))) {
      return keys.sort((a, b) => Number(a) - Number(b)).map((key) => value[key] ?? null);
    }
  }
  return [value];
}

/** A scalar as the text Puzzel would see; '' for absent, null and structures. */
function scalar(value: Tree | undefined): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return '';
}

function field(object: Tree | undefined, name: string): Tree | undefined {
  return isTreeObject(object) ? object[name] : undefined;
}

/** true / false in any case, as JSON booleans or text; undefined when absent, 'invalid' otherwise. */
function flag(value: Tree | undefined): boolean | undefined | 'invalid' {
  if (value === undefined || value === null || value === '') return undefined;
  const text = scalar(value).toLowerCase();
  if (text === 'true') return true;
  if (text === 'false') return false;
  return 'invalid';
}

/** A non-negative integer, as a JSON number or digits; undefined when absent, NaN when not one. */
function integer(value: Tree | undefined): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : NaN;
  const text = scalar(value).trim();
  return /^\d{1,9}$/.test(text) ? Number(text) : NaN;
}

// ---------------------------------------------------------------------------------------------------
// Message validation

function checkMessage(raw: Tree): Checked {
  const given = scalar(field(raw, 'recipient'));
  const refuse = (statusMessage: string, recipient: string | null = given || null): Checked => ({ ok: false, statusMessage, recipient });
  if (!isTreeObject(raw)) return refuse('Syntax error: invalid parameter message');
  if (given === '') return refuse('Syntax error: missing parameter recipient');
  const digits = renormalise(given);
  if (digits === undefined) return refuse('Syntax error: invalid parameter recipient');
  const recipient = `+${digits}`;
  const content = scalar(raw['content']);
  if (content === '') return refuse('Syntax error: missing parameter content', recipient);
  const price = integer(raw['price']);
  if (Number.isNaN(price)) return refuse('Syntax error: invalid parameter price', recipient);
  const settings = raw['settings'];
  if (settings !== undefined && settings !== null && settings !== '' && !isTreeObject(settings)) {
    return refuse('Syntax error: invalid parameter settings', recipient);
  }

  const autoDetect = flag(field(settings, 'autoDetectEncoding'));
  if (autoDetect === 'invalid') return refuse('Syntax error: invalid parameter settings.autoDetectEncoding', recipient);
  const parts = countParts(content, autoDetect === true);
  if (parts === undefined) {
    return refuse('Syntax error: invalid parameter content: characters outside the GSM 03.38 alphabet (set autoDetectEncoding)', recipient);
  }
  if (parts > MAX_PARTS) return refuse(`Syntax error: invalid parameter content: longer than ${MAX_PARTS} parts`, recipient);

  const originatorSettings = field(settings, 'originatorSettings');
  let originator: ValidMessage['originator'];
  if (originatorSettings !== undefined && originatorSettings !== null && originatorSettings !== '') {
    if ((price ?? 0) > 0) return refuse('Syntax error: invalid parameter settings.originatorSettings: not allowed with a price', recipient);
    originator = checkOriginator(originatorSettings);
    if (originator === undefined) return refuse('Syntax error: invalid parameter settings.originatorSettings', recipient);
  }
  const validity = integer(field(settings, 'validity'));
  if (validity !== undefined && !(validity <= MAX_VALIDITY)) return refuse('Syntax error: invalid parameter settings.validity', recipient);
  const newSession = flag(field(settings, 'newSession'));
  if (newSession === 'invalid') return refuse('Syntax error: invalid parameter settings.newSession', recipient);
  const sessionId = scalar(field(settings, 'sessionId'));
  const window = field(settings, 'sendWindow');
  let sendAt: number | undefined;
  if (window !== undefined && window !== null && window !== '') {
    sendAt = windowStart(window);
    if (sendAt === undefined) return refuse('Syntax error: invalid parameter settings.sendWindow', recipient);
  }
  const clientReference = scalar(raw['clientReference']);
  return {
    ok: true,
    message: {
      to: digits,
      text: content,
      clientReference: clientReference === '' ? undefined : clientReference,
      originator,
      validity,
      autoDetectEncoding: autoDetect === true,
      // Puzzel starts sessions only for Norwegian numbers from a short number; the simulator starts
      // one whenever asked, so that reply tracking can be exercised with any number.
      newSession: newSession === true,
      sessionId: sessionId === '' ? undefined : sessionId,
      sendAt,
    },
  };
}

/** `+47 41 00 00 00` and `004741000000` are `4741000000`; undefined for anything else. */
function renormalise(recipient: string): string | undefined {
  const compact = recipient.replace(/[\s-]/g, '');
  const digits = compact.startsWith('+') ? compact.slice(1) : compact.startsWith('00') ? compact.slice(2) : undefined;
  if (digits === undefined || !/^\d+$/.test(digits)) return undefined;
  return digits.length >= MIN_NUMBER_DIGITS && digits.length <= MAX_NUMBER_DIGITS ? digits : undefined;
}

/** The documented originator types; XML writes them `International | Alphanumeric | Network`. */
function checkOriginator(settings: Tree): ValidMessage['originator'] {
  const type = scalar(field(settings, 'originatorType')).toUpperCase();
  const value = scalar(field(settings, 'originator'));
  const rules: Record<string, RegExp> = {
    ALPHANUMERIC: /^[a-zA-Z0-9 %&\-+.,]{1,11}$/,
    INTERNATIONAL: /^\+\d{1,15}$/,
    NETWORK: /^\d{1,14}$/,
  };
  const rule = rules[type];
  return rule?.test(value) ? { type, value } : undefined;
}

/**
 * Parts the content needs: GSM-7 septets (extension characters count two), else, when the sender
 * allowed it, UCS-2 units; undefined when it is not GSM-7 and UCS-2 was not allowed.
 */
function countParts(content: string, ucs2Allowed: boolean): number | undefined {
  let septets = 0;
  for (const char of content) {
    if (GSM_BASIC.has(char)) septets += 1;
    else if (GSM_EXTENDED.has(char)) septets += 2;
    else {
      if (!ucs2Allowed) return undefined;
      const units = content.length;
      return units <= UCS2_SINGLE_UNITS ? 1 : Math.ceil(units / UCS2_PART_UNITS);
    }
  }
  return septets <= GSM_SINGLE_SEPTETS ? 1 : Math.ceil(septets / GSM_PART_SEPTETS);
}

/**
 * The send window's start, ms since the epoch: XSD date `YYYY-MM-DD[Z|±hh:mm]` and time
 * `hh:mm:ss[.fff][Z|±hh:mm]`; the time's zone, else the date's, else CET. Undefined when malformed.
 */
function windowStart(window: Tree): number | undefined {
  const date = /^(\d{4})-(\d{2})-(\d{2})(Z|[+-]\d{2}:\d{2})?$/.exec(scalar(field(window, 'startDate')));
  const time = /^(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(Z|[+-]\d{2}:\d{2})?$/.exec(scalar(field(window, 'startTime')));
  if (date === null || time === null) return undefined;
  const [year, month, day] = [date[1], date[2], date[3]].map(Number) as [number, number, number];
  const [hour, minute, second] = [time[1], time[2], time[3]].map(Number) as [number, number, number];
  const local = Date.UTC(year, month - 1, day, hour, minute, second);
  const check = new Date(local);
  if (check.getUTCDate() !== day || check.getUTCMonth() !== month - 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  const zone = time[4] ?? date[4];
  let offsetMinutes = DEFAULT_ZONE_MINUTES;
  if (zone === 'Z') offsetMinutes = 0;
  else if (zone !== undefined) {
    const sign = zone.startsWith('-') ? -1 : 1;
    offsetMinutes = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  }
  return local - offsetMinutes * 60_000;
}

// ---------------------------------------------------------------------------------------------------
// Answers

function refusal(index: number, statusCode: number, statusMessage: string, raw: Tree, recipient?: string | null): StatusEntry {
  const clientReference = scalar(field(raw, 'clientReference'));
  const given = scalar(field(raw, 'recipient'));
  return {
    statusCode,
    statusMessage,
    clientReference: clientReference === '' ? null : clientReference,
    recipient: recipient === undefined ? (given === '' ? null : given) : recipient,
    messageId: null,
    sessionId: null,
    sequenceIndex: index + 1,
  };
}

function wantsJson(request: FastifyRequest): boolean {
  return /\bapplication\/json\b/i.test(request.headers.accept ?? '');
}

/** The documented JSON, fields in the doc's order. */
function jsonResponse(batchReference: string, statuses: readonly StatusEntry[]): string {
  return JSON.stringify({
    batchReference,
    messageStatus: statuses.map((status) => ({
      statusCode: status.statusCode,
      statusMessage: status.statusMessage,
      clientReference: status.clientReference,
      recipient: status.recipient,
      messageId: status.messageId,
      sessionId: status.sessionId,
      sequenceIndex: status.sequenceIndex,
    })),
  });
}

/** The documented XML: `ns2:response`, XSD sequence order, absent values left out. */
function xmlResponse(batchReference: string, statuses: readonly StatusEntry[]): string {
  const element = (name: string, value: string | number | null) => (value === null ? '' : `<${name}>${escapeXml(String(value))}</${name}>`);
  const entries = statuses
    .map(
      (status) =>
        `<messageStatus>${element('statusCode', status.statusCode)}${element('statusMessage', status.statusMessage)}` +
        `${element('clientReference', status.clientReference)}${element('recipient', status.recipient)}` +
        `${element('messageId', status.messageId)}${element('sessionId', status.sessionId)}` +
        `${element('sequenceIndex', status.sequenceIndex)}</messageStatus>`,
    )
    .join('');
  return (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' +
    `<ns2:response xmlns:ns2="${RESPONSE_NAMESPACE}">${element('batchReference', batchReference)}${entries}</ns2:response>`
  );
}

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[char] ?? char);
}

/** RFC 7807 ProblemDetails, as the OpenAPI-era gateway answers errors. */
function problem(status: number, detail: string): Answer {
  return {
    status,
    contentType: 'application/problem+json',
    body: JSON.stringify({ type: 'about:blank', title: STATUS_CODES[status] ?? 'Error', status, detail, instance: SEND_PATH }),
    accepted: [],
  };
}

// ---------------------------------------------------------------------------------------------------
// Ids and times

/**
 * 12-character base-36 ids like Puzzel's (`760081j1ll00`), increasing and unique in the process:
 * derived from the clock so a restarted simulator does not reissue old ones.
 */
let lastIssuedId = 0n;
const IDS_PER_MILLISECOND = 4096n;

function nextMessageId(): string {
  const fromClock = BigInt(Date.now()) * IDS_PER_MILLISECOND;
  lastIssuedId = fromClock > lastIssuedId ? fromClock : lastIssuedId + 1n;
  return lastIssuedId.toString(36).padStart(12, '0');
}

/** 20 base-36 characters, like the doc's `01bxmt7f8b8h3zkwe2vg`. */
function newSessionId(): string {
  return BigInt(`0x${randomBytes(13).toString('hex')}`)
    .toString(36)
    .padStart(20, '0')
    .slice(-20);
}

function generatedBatchReference(): string {
  return `sim-${nextMessageId()}`;
}

/** `yyyyMMdd HH:mm:ss`, in UTC (the zone Puzzel uses is not documented). */
function puzzelTimestamp(date: Date): string {
  const iso = date.toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)} ${iso.slice(11, 19)}`;
}
