/**
 * A simulated SMSC speaking SMPP 3.4 on a TCP port of its own, with the `smpp` package's PDU codec
 * (the relay's adapter has its own: test/providers/smpp-golden.test.ts holds both to the
 * specification's bytes). It takes binds of the configured account, answers submit_sm with an id,
 * sends a delivery receipt per part (DELIVRD, or UNDELIV for undeliverable numbers), sends a phone's
 * reply as deliver_sm, a long one in parts (by default last part first and one part twice), and
 * delivers again whatever is not answered ESME_ROK. `POST /simulator/control` changes how it
 * behaves: throttling, a full queue, refused binds, dropped binds, unanswered submits, and how the
 * parts of a reply arrive.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import smpp, { type PDU } from 'smpp';
import { z } from 'zod';
import type { Logger } from '../log.ts';
import type { ProviderSimulator, SimulatedSmsRecord, SimulatorMount, SimulatorOptions } from './contract.ts';
import { DEFAULT_WAIT_MS, readControl, undeliverableNumbersSchema } from './kit.ts';

const behaviourSchema = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('ok') }),
  /** The next `times` submit_sm (all without it) answered ESME_RTHROTTLED / ESME_RMSGQFUL / the given status. */
  z.strictObject({ mode: z.literal('throttle'), times: z.number().int().positive().optional() }),
  z.strictObject({ mode: z.literal('queue-full'), times: z.number().int().positive().optional() }),
  z.strictObject({ mode: z.literal('error'), status: z.number().int().min(1).max(0xffff), times: z.number().int().positive().optional() }),
  /** Binds refused with ESME_RBINDFAIL (or `status`) until changed. */
  z.strictObject({ mode: z.literal('refuse-binds'), status: z.number().int().min(1).max(0xffff).optional() }),
  /** The next `times` submit_sm taken but not answered, then every bind dropped (as a crashed SMSC). */
  z.strictObject({ mode: z.literal('drop'), times: z.number().int().positive().optional() }),
  /** The next `times` submit_sm taken and answered ESME_ROK only `delayMs` later: an SMSC slower than the relay's submit timeout. */
  z.strictObject({ mode: z.literal('slow'), delayMs: z.number().int().positive(), times: z.number().int().positive().optional() }),
]);
type Behaviour = z.infer<typeof behaviourSchema>;

/** How a long reply's parts arrive. */
const moSchema = z.strictObject({
  order: z.enum(['in-order', 'last-first']).default('last-first'),
  /**
   * One part delivered again after the relay answered it ESME_ROK, which an SMPP 3.4 SMSC does not do
   * (it redelivers only without its OK): the relay takes it for a new SMS's part.
   */
  repeat: z.boolean().default(false),
  /** How the parts say where they belong. */
  concatenation: z.enum(['udh8', 'udh16', 'sar']).default('udh8'),
  /** Parts (1-based) never sent: a part lost in the network. */
  withhold: z.array(z.number().int().positive()).default([]),
  /** The concatenation reference to use (a part sent late names its SMS's); unset = the next one. */
  reference: z.number().int().min(0).max(0xffff).optional(),
});
type MoShape = z.output<typeof moSchema>;

const controls = {
  mode: behaviourSchema,
  undeliverableNumbers: z.strictObject({ undeliverableNumbers: undeliverableNumbersSchema }),
  mo: z.strictObject({ mo: moSchema }),
  /** Receipts name the id in decimal in their text although submit_sm_resp gave it in hex. */
  receiptIds: z.strictObject({ receiptIds: z.enum(['as-submitted', 'decimal']) }),
  /**
   * How receipts write their addresses: the phone as source_addr (`swapped`, the usual form), source_addr
   * left empty, the phone in national form (TON 2, a trunk 0 in place of the 44 of a UK number), or
   * the addresses as submitted (`not-swapped`: the SMS's sender as source_addr, the phone as destination).
   */
  receiptAddresses: z.strictObject({ receiptAddresses: z.enum(['swapped', 'empty', 'national', 'not-swapped']) }),
  /** An ENROUTE receipt (err:000, as the final one) before each final receipt, as SMSCs that acknowledge first send. */
  interimReceipts: z.strictObject({ interimReceipts: z.boolean() }),
};
const controlSchema = z.union([
  controls.mode,
  controls.undeliverableNumbers,
  controls.mo,
  controls.receiptIds,
  controls.receiptAddresses,
  controls.interimReceipts,
]);

const moBodySchema = z.strictObject({ from: z.string().regex(/^\d{3,15}$/), text: z.string().min(1).max(2_000), usercontext: z.string().optional() });

const ESME = { ROK: 0, RINVDSTADR: 0x0b, RBINDFAIL: 0x0d, RMSGQFUL: 0x14, RTHROTTLED: 0x58, RINVBNDSTS: 0x04 } as const;
const GSM_PART_CHARS = 153;
const UCS2_PART_CHARS = 67;
const SINGLE_GSM_CHARS = 160;
const SINGLE_UCS2_CHARS = 70;
const GSM_ONLY = /^[@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&'()*+,\-./0-9:;<=>?¡A-ZÄÖÑÜ§¿a-zäöñüà]*$/;
const DEFAULT_RETRY_MS = 1_000;
const DEFAULT_REPORT_DELAY_MS = 50;
const MESSAGES_LISTED = 100;

interface Bind {
  readonly socket: Socket;
  kind: 'transceiver' | 'transmitter' | 'receiver' | undefined;
  sequence: number;
  /** deliver_sm written and not answered, by sequence number. */
  readonly unanswered: Map<number, Delivery>;
  pending: Buffer;
}

interface Delivery {
  readonly kind: 'mo' | 'dr';
  readonly fields: Readonly<Record<string, unknown>>;
}

export class SmppSimulator implements ProviderSimulator {
  readonly #options: SimulatorOptions;
  readonly #log: Logger;
  readonly #server: Server;
  readonly #binds = new Set<Bind>();
  readonly #records: SimulatedSmsRecord[] = [];
  /** Parts of long SMS by "<to> <reference>", until every part is in. */
  readonly #parts = new Map<string, Map<number, { id: string; text: string }>>();
  readonly #outbox: Delivery[] = [];
  readonly #answered = { mo: 0, dr: 0 };
  readonly #waiters = new Set<() => void>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #behaviour: Behaviour = { mode: 'ok' };
  #remaining: number | undefined;
  #undeliverable: ReadonlySet<string>;
  #mo: MoShape = moSchema.parse({});
  #receiptIds: 'as-submitted' | 'decimal' = 'as-submitted';
  #receiptAddresses: z.output<typeof controls.receiptAddresses>['receiptAddresses'] = 'swapped';
  #interimReceipts = false;
  #nextId = 0x10000;
  #reference = 0;
  #closed = false;
  /** submit_sm seen in all, whatever was answered. */
  requests = 0;

  constructor(options: SimulatorOptions) {
    this.#options = options;
    this.#log = options.logger.child({ simulator: 'smpp' });
    this.#undeliverable = new Set(options.undeliverableNumbers ?? []);
    this.#server = createServer((socket) => this.#accept(socket));
  }

  get records(): readonly SimulatedSmsRecord[] {
    return this.#records;
  }

  /** Binds open now (any kind). */
  get bindCount(): number {
    return [...this.#binds].filter((bind) => bind.kind !== undefined).length;
  }

  async listen(): Promise<string> {
    if (!this.#server.listening) await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    const address = this.#server.address();
    return `smpp://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  }

  /**
   * Its control routes on the relay's HTTP port (the SMSC itself listens on a port of its own): at
   * `/simulator/*`, or with a prefix (several simulators at once, `gateway.routes`) at `<prefix>/*`.
   */
  register(app: FastifyInstance, mount: SimulatorMount = {}): void {
    const root = mount.prefix ?? '/simulator';
    app.register(async (scope) => {
      scope.addHook('preClose', async () => this.close());
      scope.post(`${root}/control`, async (request, reply) => {
        const parsed = readControl<z.infer<typeof controlSchema>>(request.body, controls);
        if (!parsed.ok) return reply.code(400).send(parsed.refusal);
        this.control(parsed.data);
        return this.status();
      });
      scope.get(`${root}/control`, async () => this.status());
      scope.get(`${root}/messages`, async () => this.#records.slice(-MESSAGES_LISTED));
      scope.post(`${root}/mo`, async (request, reply) => {
        const parsed = moBodySchema.safeParse(request.body);
        if (!parsed.success)
          return reply.code(400).send({ error: 'invalid MO', detail: z.prettifyError(parsed.error), acceptedKeys: ['from', 'text', 'usercontext'] });
        return reply.code(202).send({ id: this.reply(parsed.data.from, parsed.data.text) });
      });
    });
  }

  /** What `POST /simulator/control` takes; throws a ZodError for anything else. */
  control(request: z.input<typeof controlSchema>): void {
    const parsed = controlSchema.parse(request);
    if ('undeliverableNumbers' in parsed) this.#undeliverable = new Set(parsed.undeliverableNumbers);
    else if ('mo' in parsed) this.#mo = parsed.mo;
    else if ('receiptIds' in parsed) this.#receiptIds = parsed.receiptIds;
    else if ('receiptAddresses' in parsed) this.#receiptAddresses = parsed.receiptAddresses;
    else if ('interimReceipts' in parsed) this.#interimReceipts = parsed.interimReceipts;
    else this.setBehaviour(parsed);
  }

  setBehaviour(behaviour: Behaviour): void {
    this.#behaviour = behaviourSchema.parse(behaviour);
    this.#remaining = 'times' in this.#behaviour ? this.#behaviour.times : undefined;
  }

  status(): Record<string, unknown> {
    return {
      behaviour: this.#behaviour,
      remaining: this.#remaining ?? null,
      requests: this.requests,
      received: this.#records.length,
      binds: this.bindCount,
      mo: this.#mo,
      answered: { ...this.#answered },
    };
  }

  setWebhooks(): void {
    // Nothing to set: an SMSC delivers on the binds, not to URLs.
  }

  /** The phone `from` sends `text`: one deliver_sm, or its parts as the MO control says. */
  reply(from: string, text: string): string {
    const gsm = GSM_ONLY.test(text);
    const single = gsm ? SINGLE_GSM_CHARS : SINGLE_UCS2_CHARS;
    const size = gsm ? GSM_PART_CHARS : UCS2_PART_CHARS;
    const base = {
      source_addr_ton: 1,
      source_addr_npi: 1,
      source_addr: from,
      dest_addr_ton: 1,
      dest_addr_npi: 1,
      destination_addr: '447700900000',
      data_coding: gsm ? 0 : 8,
    };
    const id = `mo-${++this.#nextId}`;
    if (text.length <= single) {
      this.#deliver({ kind: 'mo', fields: { ...base, short_message: text } });
      return id;
    }
    const chunks = Array.from({ length: Math.ceil(text.length / size) }, (_, index) => text.slice(index * size, (index + 1) * size));
    const mo = this.#mo;
    this.#reference = (this.#reference + 1) % (mo.concatenation === 'udh8' ? 0x100 : 0x10000);
    const reference = mo.reference ?? this.#reference;
    const parts = chunks.map((chunk, index): Delivery => {
      const total = chunks.length;
      const seq = index + 1;
      if (mo.concatenation === 'sar') {
        return { kind: 'mo', fields: { ...base, short_message: chunk, sar_msg_ref_num: reference, sar_total_segments: total, sar_segment_seqnum: seq } };
      }
      const udh =
        mo.concatenation === 'udh8'
          ? Buffer.from([0x05, 0x00, 0x03, reference, total, seq])
          : Buffer.from([0x06, 0x08, 0x04, reference >> 8, reference & 0xff, total, seq]);
      return { kind: 'mo', fields: { ...base, esm_class: 0x40, short_message: { udh, message: chunk } } };
    });
    const sent = parts.filter((_, index) => !mo.withhold.includes(index + 1));
    if (mo.order === 'last-first') sent.reverse();
    if (mo.repeat && sent[0]) sent.push(sent[0]);
    for (const part of sent) this.#deliver(part);
    return id;
  }

  /** Resolves once `count` deliver_sm of `kind` were answered ESME_ROK in all. */
  waitForWebhookPosts(kind: 'mo' | 'dr', count: number, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.#answered[kind] < count) return;
        this.#waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`smpp simulator: ${this.#answered[kind]} of ${count} ${kind} deliver_sm answered after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.add(check);
      check();
    });
  }

  /** Drops every bind at once, as an SMSC that restarts (what was outstanding stays unanswered). */
  dropBinds(): void {
    for (const bind of this.#binds) bind.socket.destroy();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.dropBinds();
    await new Promise<void>((resolve) => (this.#server.listening ? this.#server.close(() => resolve()) : resolve()));
  }

  #accept(socket: Socket): void {
    const bind: Bind = { socket, kind: undefined, sequence: 0, unanswered: new Map(), pending: Buffer.alloc(0) };
    this.#binds.add(bind);
    socket.on('data', (chunk: Buffer) => {
      bind.pending = Buffer.concat([bind.pending, chunk]);
      while (bind.pending.length >= 16 && bind.pending.length >= bind.pending.readUInt32BE(0)) {
        const length = bind.pending.readUInt32BE(0);
        const octets = bind.pending.subarray(0, length);
        bind.pending = bind.pending.subarray(length);
        this.#receive(bind, new smpp.PDU(Buffer.from(octets)));
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.#binds.delete(bind);
      // What the bind never answered is delivered again on another bind.
      for (const delivery of bind.unanswered.values()) this.#outbox.push(delivery);
      bind.unanswered.clear();
    });
  }

  #receive(bind: Bind, pdu: PDU): void {
    if (pdu.isResponse()) {
      this.#response(bind, pdu);
      return;
    }
    switch (pdu.command) {
      case 'bind_transceiver':
      case 'bind_transmitter':
      case 'bind_receiver': {
        this.#bind(bind, pdu);
        return;
      }
      case 'enquire_link': {
        this.#write(bind, pdu.response());
        return;
      }
      case 'unbind':
        this.#write(bind, pdu.response());
        bind.socket.end();
        return;
      case 'submit_sm': {
        this.#submit(bind, pdu);
        return;
      }
      default: {
        this.#write(bind, pdu.response({ command_status: 0x03 }));
        return;
      }
    }
  }

  #bind(bind: Bind, pdu: PDU): void {
    const refused = this.#behaviour.mode === 'refuse-binds';
    const wrong = pdu['system_id'] !== this.#options.username || pdu['password'] !== this.#options.password;
    if (refused || wrong) {
      const status = refused && 'status' in this.#behaviour && this.#behaviour.status !== undefined ? this.#behaviour.status : ESME.RBINDFAIL;
      this.#write(bind, pdu.response({ command_status: wrong ? 0x0e : status }));
      return;
    }
    bind.kind = pdu.command.slice('bind_'.length) as Bind['kind'];
    this.#write(bind, pdu.response({ system_id: 'SIMSMSC' }));
    this.#flush();
  }

  #submit(bind: Bind, pdu: PDU): void {
    this.requests++;
    if (bind.kind === 'receiver' || bind.kind === undefined) {
      this.#write(bind, pdu.response({ command_status: ESME.RINVBNDSTS }));
      return;
    }
    const behaviour = this.#take();
    if (behaviour.mode === 'drop') {
      // Taken, and maybe sent on, but never answered: the relay cannot know, and sends it again.
      this.#record((++this.#nextId).toString(16).toUpperCase(), String(pdu['destination_addr']), pdu);
      if (this.#remaining === 0 || this.#remaining === undefined) setImmediate(() => this.dropBinds());
      return;
    }
    const status = { throttle: ESME.RTHROTTLED, 'queue-full': ESME.RMSGQFUL, error: behaviour.mode === 'error' ? behaviour.status : 0 }[
      behaviour.mode as string
    ];
    if (status) {
      this.#write(bind, pdu.response({ command_status: status }));
      return;
    }
    const to = String(pdu['destination_addr']);
    if ((this.#options.invalidNumbers ?? []).includes(to)) {
      this.#write(bind, pdu.response({ command_status: ESME.RINVDSTADR }));
      return;
    }
    const id = (++this.#nextId).toString(16).toUpperCase();
    const answer = () => this.#write(bind, pdu.response({ message_id: id }));
    if (behaviour.mode === 'slow') this.#later(behaviour.delayMs, answer);
    else answer();
    this.#record(id, to, pdu);
    const delay = this.#options.reportDelayMs ?? DEFAULT_REPORT_DELAY_MS;
    const from = String(pdu['source_addr'] ?? '');
    if (Number(pdu['registered_delivery']) & 0x01) this.#later(delay, () => this.#receipt(id, to, from));
  }

  /** The SMS the parts make, once they are all in; a single part is the SMS. */
  #record(id: string, to: string, pdu: PDU): void {
    const message = (pdu['message_payload'] ?? pdu['short_message']) as { message?: unknown; udh?: Buffer[] } | undefined;
    const text = typeof message?.message === 'string' ? message.message : '';
    const from = String(pdu['source_addr'] ?? '') || undefined;
    const concat = message?.udh?.find((element) => element[0] === 0x00 || element[0] === 0x08);
    if (!concat) {
      this.#records.push({ id, to, text, from });
      return;
    }
    const reference = concat[0] === 0x00 ? concat[2] : concat.readUInt16BE(2);
    const total = concat.at(-2) ?? 1;
    const index = concat.at(-1) ?? 1;
    const key = `${to} ${reference}`;
    const parts = this.#parts.get(key) ?? new Map<number, { id: string; text: string }>();
    parts.set(index, { id, text });
    this.#parts.set(key, parts);
    if (parts.size < total) return;
    this.#parts.delete(key);
    const ordered = [...parts.entries()].sort(([a], [b]) => a - b).map(([, part]) => part);
    this.#records.push({ id: ordered[0]?.id ?? id, to, text: ordered.map((part) => part.text).join(''), from });
  }

  /** `from`: the SMS's source_addr, which an SMSC that does not swap the addresses writes back. */
  #receipt(id: string, to: string, from: string): void {
    const delivered = !this.#undeliverable.has(to);
    if (this.#interimReceipts) this.#receiptOf(id, to, from, { stat: 'ENROUTE', err: '000', delivered: false, messageState: 1 });
    this.#receiptOf(
      id,
      to,
      from,
      delivered ? { stat: 'DELIVRD', err: '000', delivered, messageState: 2 } : { stat: 'UNDELIV', err: '001', delivered, messageState: 5 },
    );
  }

  #receiptOf(id: string, to: string, from: string, receipt: { stat: string; err: string; delivered: boolean; messageState: number }): void {
    const textId = this.#receiptIds === 'decimal' ? String(Number.parseInt(id, 16)) : id;
    const date = '2601011200';
    this.#deliver({
      kind: 'dr',
      fields: {
        ...this.#receiptAddressFields(to, from),
        esm_class: 0x04,
        // The package would call the text ASCII (1); an SMSC writes its receipts in its default alphabet.
        data_coding: 0,
        short_message: `id:${textId} sub:001 dlvrd:${receipt.delivered ? '001' : '000'} submit date:${date} done date:${date} stat:${receipt.stat} err:${receipt.err} text:`,
        // The TLVs only where the text keeps the submitted form: a converting SMSC is the text-only kind.
        ...(this.#receiptIds === 'as-submitted' ? { receipted_message_id: id, message_state: receipt.messageState } : {}),
      },
    });
  }

  #receiptAddressFields(to: string, from: string): Record<string, unknown> {
    switch (this.#receiptAddresses) {
      case 'empty':
        return { source_addr_ton: 0, source_addr_npi: 0, source_addr: '', destination_addr: from };
      case 'national':
        return { source_addr_ton: 2, source_addr_npi: 1, source_addr: to.replace(/^44/, '0'), destination_addr: from };
      case 'not-swapped':
        return { source_addr_ton: 5, source_addr_npi: 0, source_addr: from, dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: to };
      default:
        return { source_addr_ton: 1, source_addr_npi: 1, source_addr: to, destination_addr: '' };
    }
  }

  #deliver(delivery: Delivery): void {
    this.#outbox.push(delivery);
    this.#flush();
  }

  /** Writes what waits to a bind that may receive; keeps it while none is bound. */
  #flush(): void {
    const receiver = [...this.#binds].find((bind) => bind.kind === 'transceiver' || bind.kind === 'receiver');
    if (!receiver) return;
    for (const delivery of this.#outbox.splice(0)) {
      receiver.sequence = (receiver.sequence % 0x7fffffff) + 1;
      receiver.unanswered.set(receiver.sequence, delivery);
      this.#write(receiver, new smpp.PDU('deliver_sm', { ...delivery.fields, sequence_number: receiver.sequence }));
    }
  }

  #response(bind: Bind, pdu: PDU): void {
    const delivery = bind.unanswered.get(pdu.sequence_number);
    if (!delivery || pdu.command !== 'deliver_sm_resp') return;
    bind.unanswered.delete(pdu.sequence_number);
    if (pdu.command_status === ESME.ROK) {
      this.#answered[delivery.kind]++;
      for (const check of [...this.#waiters]) check();
      return;
    }
    // ESME_RX_T_APPN and the like: the SMSC tries again later.
    this.#log.debug({ status: pdu.command_status }, 'smpp simulator: deliver_sm refused; delivering it again later');
    this.#later(this.#options.webhookRetryMs ?? DEFAULT_RETRY_MS, () => this.#deliver(delivery));
  }

  #take(): Behaviour {
    const behaviour = this.#behaviour;
    if (this.#remaining !== undefined) {
      this.#remaining--;
      if (this.#remaining <= 0 && behaviour.mode !== 'drop') this.setBehaviour({ mode: 'ok' });
      if (this.#remaining <= 0 && behaviour.mode === 'drop') {
        this.#remaining = 0;
        this.#behaviour = { mode: 'ok' };
      }
    }
    return behaviour;
  }

  #later(ms: number, run: () => void): void {
    if (this.#closed) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      run();
    }, ms);
    this.#timers.add(timer);
  }

  #write(bind: Bind, pdu: PDU): void {
    if (!bind.socket.destroyed) bind.socket.write(pdu.toBuffer());
  }
}
