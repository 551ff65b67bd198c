/**
 * One SMPP bind: a TCP (or TLS) connection, bound as transceiver, transmitter or receiver, kept
 * alive with enquire_link and made again with backoff when it drops or the SMSC refuses it. It
 * holds at most `windowSize` submit_sm outstanding; a submit_sm not answered in `submitTimeoutMs`
 * is given up (the SMS may have gone), and its answer coming later still told to its sender (LATE_ANSWER_MS). After ESME_RTHROTTLED or ESME_RMSGQFUL it waits before the
 * next submit_sm, longer each time, until one is taken again (one submit_sm at a time tries the SMSC
 * after the pause), and writes the refused one again then (it was not taken, so it cannot go twice).
 */
import { connect as connectTcp, isIP, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import type { Logger } from '../../log.ts';
import { randomUint64 } from '../../random-ids.ts';
import { REAL_TIMERS, type Timers } from '../../timers.ts';
import { TLS_CERTIFICATE_CODES, UNTRUSTED_CERTIFICATE_KINDS } from '../outcome-reasons.ts';
import {
  type BindFields,
  COMMAND,
  commandName,
  decodeMessageId,
  decodeTlvs,
  encodeBind,
  encodeMessageId,
  encodePdu,
  type Pdu,
  PduError,
  PduReader,
  RESPONSE_BIT,
  STATUS,
  statusName,
} from './pdu.ts';

export type BindKind = 'transceiver' | 'transmitter' | 'receiver';

export interface SmscAddress {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
}

export interface BindOptions {
  readonly address: SmscAddress;
  readonly kind: BindKind;
  readonly account: BindFields;
  readonly windowSize: number;
  readonly submitTimeoutMs: number;
  readonly enquireLinkMs: number;
  readonly connectTimeoutMs: number;
  readonly logger: Logger;
  /**
   * A deliver_sm or data_sm from the SMSC: resolves to its answer (or just its command_status). `link`: the
   * connection it came on, which its answer goes back on.
   */
  readonly onDeliver: (pdu: Pdu, link: DeliveryLink) => Promise<number | DeliveryAnswer>;
  /** A bind attempt ended bound, or refused by the SMSC. */
  readonly onAttempted?: () => void;
  /**
   * The connection ended and the bind is tried again in `retryInMs`: `wasBound`, it was bound until then;
   * `reason`, why. The gateway tells from these whether it has been unable to send for long.
   */
  readonly onDown?: (down: { readonly wasBound: boolean; readonly reason: string | undefined; readonly retryInMs: number }) => void;
  /** A bind was made: whether that ended the gateway's outage, whose end the gateway then logged (this bind's own end is in it). */
  readonly onBound?: () => boolean;
  readonly timers?: Timers;
}

/**
 * The connection a deliver_sm came on, one object per connection (two deliver_sm came on one bind when
 * their links are the same). Its answer is written on it only while it is still the bind's and writable
 * (not ending): once it is not, the SMSC never gets that answer.
 */
export interface DeliveryLink {
  /**
   * Random, one per connection: with a deliver_sm's sequence number (the SMSC numbers each connection's
   * PDUs on their own) it names that deliver_sm alone, on any bind of any relay.
   */
  readonly id: string;
  isUp(): boolean;
  /**
   * Whether the SMSC has answered a request the relay wrote on this connection after the PDU at `place`
   * (DeliveryAnswer.written): it has then read that PDU, TCP keeping their order. Until then a PDU written
   * may have been lost, however long the connection seems up (a dead path, no RST: the relay learns it
   * only when a request goes unanswered).
   */
  readPast(place: number): boolean;
}

/**
 * The answer to a deliver_sm or data_sm. `written`, when given, is told where the answer went once the bind
 * wrote it (its place among the PDUs written on its connection, for DeliveryLink.readPast) or could not
 * (undefined: the connection was gone); the bind then asks for an enquire_link_resp at once, so that
 * whether the SMSC read it is known within a round trip, not at the next idle enquire_link.
 */
export interface DeliveryAnswer {
  readonly status: number;
  readonly written?: (place: number | undefined) => void;
}

export type SubmitAnswer =
  /**
   * `idProblem`: what is wrong with the message_id the SMSC gave: kept all the same with `idKept` (no
   * terminating NUL), else not kept (messageId is then ''). `bindsLost`: the answer
   * is ESME_RINVBNDSTS on at least LOST_BINDS_FOR_ACCOUNT new binds in a row: no lost session table, which
   * one new bind mends, but an SMSC that does not let this account send.
   */
  | {
      readonly kind: 'answered';
      readonly status: number;
      readonly messageId: string;
      readonly idProblem?: string;
      readonly idKept?: boolean;
      readonly bindsLost?: number;
    }
  /** The SMSC could not read the submit_sm (§4.3): it did not take it. */
  | { readonly kind: 'nacked'; readonly status: number }
  /** No answer within the submit timeout, or the bind dropped first: the SMS may have gone. */
  | { readonly kind: 'timeout' | 'dropped' }
  /** Not bound (or the bind is ending): the submit_sm was never written. */
  | { readonly kind: 'unbound' };

/** Reconnect backoff: the first try soon, doubling up to a minute; a refused bind waits at least this long. */
const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 60_000;
const REFUSED_MIN_MS = 5_000;
/**
 * Each reconnect waits up to this fraction longer, at random: the binds an SMSC's fail-over or restart
 * dropped together (a transmitter and a receiver, several relays on one account) otherwise come back in
 * step, binding at the same instants each cycle, which is what an SMSC counts as a bind storm.
 */
const RECONNECT_JITTER = 0.2;
/**
 * ESME_RINVBNDSTS on a submit_sm of this many new binds in a row (each lost within STABLE_BIND_MS of its
 * bind_resp): a fail-over that lost the SMSC's session table is mended by one new bind, so binds the
 * SMSC accepts and then never takes as bound are the account's trouble (its rights or system_type at the
 * SMSC), for the operator: sending is paused as for a refused bind, not retried on a new bind for ever.
 */
const LOST_BINDS_FOR_ACCOUNT = 3;
/**
 * A bind that lived this long worked: a drop after it starts the reconnect backoff over. One dropped
 * sooner was accepted and dropped at once (an SMSC that unbinds or closes right after bind_resp), and
 * making it again without the backoff would be a bind storm, for which SMSCs ban an address.
 */
const STABLE_BIND_MS = 30_000;
/** Throttling backoff: the pause after the first ESME_RTHROTTLED, doubling up to the maximum. */
const THROTTLE_MIN_MS = 200;
const THROTTLE_MAX_MS = 10_000;
/**
 * A throttled submit_sm is written again on its bind after the pause, this many times (pauses of 200 ms
 * doubling: about 6 s in all), before its SMS goes back to the queue, whose retry is seconds away and
 * holds the whole provider: an SMSC's throughput limit is met by the bind slowing down, not by a pause.
 */
const THROTTLED_RESUBMITS = 5;
/**
 * How long an unbind waits for its unbind_resp before the connection is closed anyway; and how long a
 * bind being closed waits, before it unbinds, for the deliver_sm it is committing (a commit takes
 * milliseconds; one left unanswered is delivered again to the next relay, a second mail).
 */
const UNBIND_WAIT_MS = 1_000;
/**
 * How long a connection the relay has ended waits for the SMSC to close its side: long enough for the
 * last PDU written to leave and the FIN to come back on any working link, short enough that an SMSC
 * that never closes does not keep the bind down (it is made again once the connection is gone).
 */
const HALF_CLOSE_WAIT_MS = 3_000;
/**
 * How long a submit_sm given up at submitTimeout is still remembered by its sequence number: its answer coming
 * later is the SMSC's word on it (a slow SMSC, not a lost PDU), which the SMS's retry, due seconds to a minute
 * later, uses rather than writing it again. Past this, a retry has long been written: an answer then is noise.
 */
const LATE_ANSWER_MS = 2 * 60_000;
/**
 * Why a bind attempt ended with no bind_resp, by what the operator checks: the code the SMS's history, `smsrelay status`
 * and the pause name (the outcome rules' words for it: outcomes.ts), the log lines giving the attempt's own reason. A
 * connection refused or not made at all keeps Node's code (ECONNREFUSED…): the SMSC could not be reached.
 */
export const BIND_FAILURE = {
  /** Connected, then closed or reset by the SMSC before bind_resp (or during the TLS handshake): an allow-list, or TLS on one side. */
  closed: 'SMPP_CLOSED_BEFORE_BIND',
  /** A plain bind answered with TLS records: the port speaks TLS. */
  portSpeaksTls: 'SMPP_PORT_SPEAKS_TLS',
  /** `tls: true`, and the TLS hello answered with what is no TLS record: the port speaks plain SMPP. */
  portNotTls: 'SMPP_PORT_NOT_TLS',
  /** `tls: true`, connected, and no TLS handshake within connectTimeout. */
  handshakeTimeout: 'SMPP_TLS_HANDSHAKE_TIMEOUT',
  /** `tls: true`, and the SMSC ended the handshake with an alert: no TLS version, cipher or client certificate it takes. */
  handshakeRefused: 'SMPP_TLS_HANDSHAKE_REFUSED',
  /** The bind answered with octets that frame no PDU: the port of another protocol, or a proxy. */
  notSmpp: 'SMPP_NOT_SMPP',
  /** Connected, and the bind unanswered within connectTimeout. */
  bindTimeout: 'SMPP_BIND_TIMEOUT',
  /** No TCP connection within connectTimeout. */
  connectTimeout: 'SMPP_CONNECT_TIMEOUT',
} as const;
/** The words of the `error` line for the failures each try meets alike (the configuration's, or the SMSC's TLS): said as they start or change. */
const TLS_ONE_SIDE_LINE = 'smpp: TLS on one side only: the SMSC and the relay (gateway.tls) disagree';
const HANDSHAKE_TIMEOUT_LINE =
  "smpp: the SMSC did not answer the TLS handshake (a hung SMSC, or a port that speaks plain SMPP: TLS on the relay's side only, check port and tls)";
const HANDSHAKE_REFUSED_LINE =
  "smpp: the SMSC refused the TLS handshake (a TLS version, cipher or client certificate it requires that the relay's does not offer)";
const NOT_SMPP_LINE = 'smpp: the SMSC answered the bind with what is no SMPP PDU (answered generic_nack): check gateway.host and port';
/**
 * OpenSSL's codes (as Node names them) for a TLS hello answered with bytes that are no TLS record: what a plain SMPP
 * port writes back (a generic_nack, an unbind) read as a record header.
 */
const NOT_TLS_ANSWER_CODES: ReadonlySet<string> = new Set([
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_PACKET_LENGTH_TOO_LONG',
  'ERR_SSL_UNKNOWN_PROTOCOL',
  'ERR_SSL_RECORD_LAYER_FAILURE',
]);
/** OpenSSL's reason for its error, in one line ('tlsv1 alert protocol version'), as Node gives it beside the message. */
function openSslReason(error: NodeJS.ErrnoException | undefined): string | undefined {
  const reason = (error as { reason?: unknown } | undefined)?.reason;
  return typeof reason === 'string' && reason !== '' ? reason : undefined;
}
/** A TLS record's first octets: its content type (change_cipher_spec, alert, handshake, application data) and major version 3. */
function looksLikeTls(octets: Buffer): boolean {
  const type = octets[0] ?? 0;
  return type >= 0x14 && type <= 0x17 && octets[1] === 0x03;
}

/** One connection's course before its bind is made, for why it ended (BIND_FAILURE). */
interface Attempt {
  /** The TCP connection was made. */
  connected: boolean;
  /** The first octets the SMSC wrote (up to a TLS record header's). */
  firstOctets: Buffer;
  error: NodeJS.ErrnoException | undefined;
  /** Why it ended, once known for certain (a timeout, a refusal): the close does not guess it then. */
  explained: boolean;
}
/** How many of the SMSC's first octets tell a TLS record (looksLikeTls). */
const TLS_HEADER_OCTETS = 3;

/** Sequence numbers run 1 … 0x7FFFFFFF (§5.1.4). */
const MAX_SEQUENCE = 0x7fffffff;

const BIND_COMMANDS: Readonly<Record<BindKind, number>> = {
  transceiver: COMMAND.bind_transceiver,
  transmitter: COMMAND.bind_transmitter,
  receiver: COMMAND.bind_receiver,
};

function isBindCommand(command: number): boolean {
  return Object.values(BIND_COMMANDS).includes(command);
}

type Outstanding = { readonly command: number; readonly settle: (pdu: Pdu | undefined) => void; readonly timer: unknown };

/** A submit_sm's answer that came after its timeout (LATE_ANSWER_MS): what the SMSC said, as an answer in time would. */
export type LateAnswer = Extract<SubmitAnswer, { readonly kind: 'answered' | 'nacked' }>;

/** What a submit_sm's SMS knows of its earlier copies (bind.submit). */
export interface SubmitAttempt {
  /** Told the SMSC's answer if it comes after the timeout (within LATE_ANSWER_MS, on the same connection), once the submit resolved as `timeout`. */
  readonly late: (answer: LateAnswer) => void;
  /**
   * Called right before each write of the submit_sm: an answer the SMS already has (an earlier copy the SMSC took
   * after its timeout) is the submit's answer instead, and nothing is written; undefined, the submit_sm is written.
   */
  readonly writing: () => SubmitAnswer | undefined;
  /** Called when the copy just written was answered with anything but a take: it cannot reach the phone, so an earlier copy's late answer counts again. */
  readonly notTaken: () => void;
}

/** A submit_sm given up at its timeout, still remembered by its sequence number until `until`. */
interface GivenUp {
  readonly until: number;
  readonly late: (pdu: Pdu) => void;
}

/** One connection's PDUs written so far, and the place of the latest request among them the SMSC answered (DeliveryLink.readPast). */
interface Wire {
  written: number;
  answeredThrough: number;
}

export class SmppBind {
  readonly #options: BindOptions;
  readonly #timers: Timers;
  readonly #log: Logger;
  #socket: Socket | undefined;
  /** The current connection's count of what was written and read (a new one per connection). */
  #wire: Wire = { written: 0, answeredThrough: 0 };
  /** An enquire_link is due right after the answers just written, one for all of them (#probe). */
  #probeDue = false;
  /** `unbinding`: the connection is ending (the SMSC unbound, or sent what cannot be framed); nothing more is written on it. */
  #state: 'idle' | 'connecting' | 'bound' | 'unbinding' | 'closed' = 'idle';
  #sequence = 0;
  readonly #outstanding = new Map<number, Outstanding>();
  /** submit_sm given up at their timeout on this connection, by sequence number (LATE_ANSWER_MS). */
  readonly #givenUp = new Map<number, GivenUp>();
  /** deliver_sm and data_sm being committed, each settled once its answer is written (or cannot be). */
  readonly #delivering = new Set<Promise<void>>();
  /** submit_sm waiting for a window slot. */
  #queue: Array<() => void> = [];
  #submitting = 0;
  #reconnectMs = RECONNECT_MIN_MS;
  /** Binds in a row the SMSC answered ESME_RINVBNDSTS on (the last ones new): an episode, which any other answer to a submit_sm ends. */
  #bindsLost = 0;
  /** The relay unbound this connection for a lost session (#rebind), which said so: its end is no news. */
  #rebinding = false;
  #reconnectTimer: unknown;
  #enquireTimer: unknown;
  #throttleMs = 0;
  #slowUntil = 0;
  /** The submit_sm written first after a pause, while it is unanswered (#paced): settled once it is answered or lost, and when it went. */
  #trying: { readonly answered: Promise<void>; readonly since: number } | undefined;
  /** When the pause last grew: throttled answers to submit_sm written by then grow it no more (they were written before the pause). */
  #throttledAt = Number.NEGATIVE_INFINITY;
  /** Why the last bind attempt failed: the SMSC's refusal, or the connection's error. */
  #lastRefusal: number | undefined;
  /**
   * The SMSC's answer to the last bind attempt, while it is the account's trouble: a refusal's status, or the
   * other kind of bind's response it answered with. Alerted as it starts or changes; the next attempt waits
   * at least REFUSED_MIN_MS.
   */
  #refusedWith: string | undefined;
  #lastError: string | undefined;
  /** The code of why the last bind attempt ended without bind_resp (BIND_FAILURE, or Node's), until a bind is made. */
  #failureCode: string | undefined;
  /** The last attempt's failure, code and reason, until a bind is made: an `error` line is said as it starts or changes (#explain). */
  #failure: string | undefined;
  /** The current connection's course until it is bound. */
  #attempt: Attempt = { connected: false, firstOctets: Buffer.alloc(0), error: undefined, explained: false };
  /** Node's code for the SMSC's TLS certificate the relay does not trust, while that is why it cannot bind. */
  #certificateError: string | undefined;
  /** When the bind was last made, and whether the binds lately were dropped right after (logged once while so). */
  #boundAt = 0;
  #dropping = false;
  /**
   * The relay dropped this connection itself, its enquire_link unanswered; and since when the SMSC has answered no
   * enquire_link on the binds made since (an episode, warned once as it starts and once as it ends, `info` between).
   */
  #keepAliveDropped = false;
  #keepAliveLostAt: number | undefined;
  /** When the bind was lost with a warning (`bind lost`), until it is made again: its end is a warning too, for a log kept at `warn`. */
  #lostWarnedAt: number | undefined;
  /** Settled at each bind attempt's end, for start(). */
  #attempted: Array<() => void> = [];

  constructor(options: BindOptions) {
    this.#options = options;
    this.#timers = options.timers ?? REAL_TIMERS;
    this.#log = options.logger;
  }

  get kind(): BindKind {
    return this.#options.kind;
  }

  get bound(): boolean {
    return this.#state === 'bound';
  }

  /** submit_sm written and not yet answered, plus those waiting for a slot. */
  get load(): number {
    return this.#submitting + this.#queue.length;
  }

  /** The SMSC refused the last bind with this status (undefined once a bind succeeds). */
  get refusal(): number | undefined {
    return this.#lastRefusal;
  }

  get lastError(): string | undefined {
    return this.#lastError;
  }

  /** Why the last bind attempt ended without bind_resp, as a code (BIND_FAILURE, or Node's for a connection not made); undefined once bound. */
  get failureCode(): string | undefined {
    return this.#failureCode;
  }

  /**
   * New binds in a row the SMSC answered ESME_RINVBNDSTS on, while that is the account's trouble (at least
   * LOST_BINDS_FOR_ACCOUNT, and no submit_sm answered otherwise since): the bind is made, but the SMSC will
   * not take it as bound, so it cannot send. Undefined otherwise.
   */
  get bindsLostForAccount(): number | undefined {
    return this.#bindsLost >= LOST_BINDS_FOR_ACCOUNT ? this.#bindsLost : undefined;
  }

  /** Node's code for the SMSC's certificate the relay does not trust, when that is why it is not bound. */
  get certificateError(): string | undefined {
    return this.#certificateError;
  }

  /** Connects and binds; resolves after the first attempt, bound or not (it keeps trying). */
  start(): Promise<void> {
    const attempted = new Promise<void>((resolve) => this.#attempted.push(resolve));
    this.#connect();
    return attempted;
  }

  /** Sends a submit_sm body and resolves with its answer; never rejects. `attempt`: what its SMS knows of its earlier copies. */
  async submit(body: Buffer, attempt?: SubmitAttempt): Promise<SubmitAnswer> {
    const late = attempt?.late;
    if (!this.bound) return { kind: 'unbound' };
    await this.#slot();
    try {
      /** When this SMS may be written again after a throttled answer (its own backoff). */
      let earliest = 0;
      for (let resubmits = 0; ; resubmits++) {
        const trial = await this.#paced(earliest);
        // Checked right before the write: a submit_sm that never left cannot reach the phone, so it is no possible duplicate.
        if (!this.#writable()) {
          trial?.();
          return { kind: 'unbound' };
        }
        // As late as can be: a window slot or a pause may have held it while an earlier copy's answer came.
        const known = attempt?.writing();
        if (known) {
          trial?.();
          return known;
        }
        const writtenAt = this.#timers.now();
        const pdu = await this.#request(COMMAND.submit_sm, body, this.#options.submitTimeoutMs, late && ((answer) => late(submitAnswer(answer))));
        // Some SMSCs say ESME_RTHROTTLED in a generic_nack: the bind slows down either way. Paced before the trial
        // ends, so that the submit_sm waiting for it see the pause its refusal made longer.
        const throttled = pdu !== undefined && this.#paceAfter(pdu.status, writtenAt);
        trial?.();
        if (pdu === undefined) return { kind: this.bound ? 'timeout' : 'dropped' };
        if (pdu.commandId !== COMMAND.submit_sm_resp || pdu.status !== STATUS.ESME_ROK) attempt?.notTaken();
        if (throttled && resubmits < THROTTLED_RESUBMITS) {
          // Each SMS's own resubmits space out, 200 ms doubling (about 6 s in all), whatever the bind's pause: a
          // success of another SMS resets that, and against an SMSC allowing n a second the later ones of a burst
          // were throttled five times within one second and handed back to the queue.
          earliest = this.#timers.now() + Math.min(THROTTLE_MAX_MS, THROTTLE_MIN_MS * 2 ** resubmits);
          continue;
        }
        if (pdu.commandId === COMMAND.generic_nack) {
          // The bind stays: the relay's own PDUs are framed right, and a nack about one says nothing of the next.
          this.#log.warn({ status: statusName(pdu.status) }, 'smpp: the SMSC answered a submit_sm with generic_nack; the SMS is sent again later');
          return { kind: 'nacked', status: pdu.status };
        }
        // The SMSC does not take this session as bound (a fail-over lost its session table): only a new bind mends it.
        if (pdu.status === STATUS.ESME_RINVBNDSTS) {
          this.#rebind('the SMSC answered a submit_sm with ESME_RINVBNDSTS: it does not take this bind as bound');
          const bindsLost = this.bindsLostForAccount;
          if (bindsLost !== undefined) return { kind: 'answered', status: pdu.status, messageId: '', bindsLost };
        } else this.#sessionKept();
        return submitAnswer(pdu);
      }
    } finally {
      this.#release();
    }
  }

  /**
   * Answers what is being committed and unbinds (waiting briefly for each: UNBIND_WAIT_MS), then closes;
   * no reconnect after it. A deliver_sm committed but unanswered as the bind goes is delivered again to
   * the next relay, a second mail of it at each graceful stop; so one arriving meanwhile is not committed
   * but answered ESME_RX_T_APPN (#receive), and the SMSC delivers it again on another bind.
   */
  async close(): Promise<void> {
    const wasBound = this.bound;
    this.#state = 'closed';
    this.#timers.clearTimeout(this.#reconnectTimer);
    this.#timers.clearTimeout(this.#enquireTimer);
    if (wasBound) {
      let timer: unknown;
      const waited = new Promise<void>((resolve) => {
        timer = this.#timers.setTimeout(resolve, UNBIND_WAIT_MS);
      });
      await Promise.race([Promise.allSettled(this.#delivering), waited]);
      this.#timers.clearTimeout(timer);
      await this.#request(COMMAND.unbind, Buffer.alloc(0), UNBIND_WAIT_MS);
    }
    this.#socket?.destroy();
    this.#dropOutstanding();
  }

  #connect(): void {
    if (this.#state === 'closed') return;
    this.#state = 'connecting';
    const { address, connectTimeoutMs } = this.#options;
    const socket = address.tls
      ? connectTls({ host: address.host, port: address.port, ...(isIP(address.host) ? {} : { servername: address.host }) })
      : connectTcp({ host: address.host, port: address.port });
    this.#socket = socket;
    const attempt: Attempt = { connected: false, firstOctets: Buffer.alloc(0), error: undefined, explained: false };
    this.#attempt = attempt;
    socket.setNoDelay(true);
    socket.once('connect', () => {
      attempt.connected = true;
    });
    socket.setTimeout(connectTimeoutMs, () => {
      if (address.tls && attempt.connected)
        this.#explain(BIND_FAILURE.handshakeTimeout, `no TLS handshake within ${connectTimeoutMs} ms`, HANDSHAKE_TIMEOUT_LINE);
      else this.#explain(BIND_FAILURE.connectTimeout, `no connection within ${connectTimeoutMs} ms`);
      socket.destroy();
    });
    const reader = new PduReader();
    const wire: Wire = { written: 0, answeredThrough: 0 };
    this.#wire = wire;
    const link: DeliveryLink = {
      id: randomUint64().toString(36),
      isUp: () => this.#socket === socket && socket.writable,
      readPast: (place) => wire.answeredThrough > place,
    };
    socket.once(address.tls ? 'secureConnect' : 'connect', () => {
      socket.setTimeout(0);
      void this.#bind();
    });
    socket.on('data', (chunk: Buffer) => {
      if (this.#state === 'connecting' && attempt.firstOctets.length < TLS_HEADER_OCTETS) {
        attempt.firstOctets = Buffer.concat([attempt.firstOctets, chunk]).subarray(0, TLS_HEADER_OCTETS);
        // A TLS server's alert to a plain bind (some close without one: that is SMPP_CLOSED_BEFORE_BIND), no PDU to frame.
        if (!address.tls && attempt.firstOctets.length === TLS_HEADER_OCTETS && looksLikeTls(attempt.firstOctets)) {
          socket.destroy();
          return;
        }
      }
      let pdus: Pdu[];
      try {
        pdus = reader.push(chunk);
      } catch (error) {
        // Where the next PDU starts is unknown: say so (§2.9) and make the bind again. Before bind_resp it is no SMSC
        // that speaks: each try meets the same, and the close keeps this reason rather than guess one.
        if (this.#state === 'connecting')
          this.#explain(BIND_FAILURE.notSmpp, 'the SMSC answered the bind with what is no SMPP PDU (wrong port or a proxy?)', NOT_SMPP_LINE);
        else {
          this.#log.warn({ err: error }, 'smpp: the SMSC sent a PDU that cannot be framed; answered generic_nack, reconnecting');
          this.#lastError = 'the SMSC sent a PDU that cannot be framed';
        }
        this.#end(socket, encodePdu(COMMAND.generic_nack, error instanceof PduError ? error.status : STATUS.ESME_RINVCMDLEN, 0));
        return;
      }
      for (const pdu of pdus) this.#receive(pdu, link);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      attempt.error = error;
      // An attempt already explained keeps its reason: a port that resets after its non-SMPP answer is still no SMSC.
      if (!attempt.explained) this.#lastError = error.message;
      const untrusted = error.code !== undefined && TLS_CERTIFICATE_CODES.has(error.code) ? error.code : undefined;
      // Each retry meets the same certificate: an error for the operator as it starts or changes, as an HTTP gateway's is (docs/delivery.md).
      if (untrusted !== undefined && untrusted !== this.#certificateError)
        this.#log.error(
          { alert: 'gateway-tls', code: untrusted, reason: error.message },
          `smpp: the SMSC's TLS certificate is not trusted (${UNTRUSTED_CERTIFICATE_KINDS}): check the host and the CAs, or what intercepts the connection`,
        );
      this.#certificateError = untrusted;
    });
    socket.on('close', () => {
      if (this.#socket !== socket) return;
      // Unbinding: it was bound until the SMSC (or the relay, for a lost session) unbound it.
      const wasBound = this.#state === 'bound' || this.#state === 'unbinding';
      this.#socket = undefined;
      this.#timers.clearTimeout(this.#enquireTimer);
      // Sequence numbers are the connection's: no answer to those comes on the next.
      this.#givenUp.clear();
      this.#dropOutstanding();
      this.#settleAttempt();
      if (this.#state === 'closed') return;
      if (this.#state === 'connecting' && !attempt.explained) this.#endedBeforeBind(attempt);
      // Bound, and no error said why: the SMSC closed it (an unbind, a keep-alive lost, a frame error each say theirs).
      if (wasBound && this.#lastError === undefined) this.#lastError = 'the SMSC closed the connection without unbinding';
      this.#state = 'idle';
      const droppedAtOnce = wasBound && this.#timers.now() - this.#boundAt < STABLE_BIND_MS;
      if (wasBound && !droppedAtOnce) this.#reconnectMs = RECONNECT_MIN_MS;
      const backoff = this.#refusedWith === undefined ? this.#reconnectMs : Math.max(this.#reconnectMs, REFUSED_MIN_MS);
      const delay = Math.round(backoff * (1 + RECONNECT_JITTER * (this.#timers.random ?? Math.random)()));
      const fields = { reason: this.#lastError, retryInMs: delay };
      const keepAlive = this.#keepAliveDropped;
      this.#keepAliveDropped = false;
      if (this.#rebinding) this.#log.info(fields, 'smpp: unbound for the session the SMSC lost; binding again');
      else if (keepAlive) this.#keepAliveLost(fields);
      else if (droppedAtOnce && !this.#dropping)
        this.#log.warn(fields, 'smpp: the SMSC dropped the bind right after accepting it; binding again, waiting longer each time');
      else if (wasBound && !droppedAtOnce) {
        this.#lostWarnedAt = this.#timers.now();
        this.#log.warn(fields, 'smpp: bind lost; binding again');
      } else this.#log.info(fields, wasBound ? 'smpp: the bind was dropped again right after it was made; binding again' : 'smpp: no bind; trying again');
      this.#options.onDown?.({ wasBound, ...fields });
      // The relay's own drop says nothing of an SMSC dropping binds right after accepting them.
      if (!keepAlive) this.#dropping = droppedAtOnce;
      this.#rebinding = false;
      this.#reconnectMs = Math.min(RECONNECT_MAX_MS, this.#reconnectMs * 2);
      this.#reconnectTimer = this.#timers.setTimeout(() => this.#connect(), delay);
      (this.#reconnectTimer as { unref?: () => unknown }).unref?.();
    });
  }

  async #bind(): Promise<void> {
    const { kind, account, connectTimeoutMs } = this.#options;
    const answer = await this.#request(BIND_COMMANDS[kind], encodeBind(account), connectTimeoutMs);
    if (this.#state !== 'connecting') return;
    if (answer === undefined) {
      // The SMSC refused nothing: it hangs, something on the way drops the PDUs, or the port speaks TLS (or not) unlike `tls`.
      this.#lastRefusal = undefined;
      this.#refusedWith = undefined;
      this.#explain(BIND_FAILURE.bindTimeout, `no bind_resp within ${connectTimeoutMs} ms`);
      this.#log.error(
        { kind, waitedMs: connectTimeoutMs },
        `smpp: the SMSC did not answer the ${kind} bind (a hung SMSC, a firewall, or TLS on one side only: check host, port and tls)`,
      );
      this.#socket?.destroy();
      return;
    }
    const asked = BIND_COMMANDS[kind];
    const otherKind = answer.commandId !== COMMAND.generic_nack && answer.commandId !== (asked | RESPONSE_BIT) >>> 0;
    if (otherKind && answer.status === STATUS.ESME_ROK) {
      // The SMSC took the bind, in time and to this bind's sequence number, but as another kind of bind: the bind
      // mode is at fault, not the link. The account's trouble as a refused bind is (an alert as it starts, the
      // refusal's wait): binding again at once meets the same answer, a storm for the SMSC. It took the session,
      // so the relay leaves it as it leaves any: unbind, then close.
      const other = commandName(answer.commandId);
      const alert = other !== this.#refusedWith ? { alert: 'gateway-account' } : {};
      this.#lastRefusal = undefined;
      this.#refusedWith = other;
      this.#explain(undefined, `${commandName(asked)} answered with ${other}`);
      this.#log.error(
        { ...alert, kind, command: other, status: statusName(answer.status) },
        `smpp: the SMSC answered ${commandName(asked)} with ${other}: ${
          kind === 'transceiver'
            ? 'it may not take transceiver binds on this account: set gateway.bindMode: transmitter-receiver'
            : 'it may take only transceiver binds on this account: set gateway.bindMode: transceiver'
        }`,
      );
      this.#options.onAttempted?.();
      const socket = this.#socket;
      await this.#request(COMMAND.unbind, Buffer.alloc(0), UNBIND_WAIT_MS);
      if (socket && this.#socket === socket) this.#end(socket);
      return;
    }
    if (answer.status !== STATUS.ESME_ROK) {
      // The account's trouble (docs/delivery.md): alerted once as it starts or changes, not at each retry.
      const alert = statusName(answer.status) !== this.#refusedWith ? { alert: 'gateway-account' } : {};
      this.#lastRefusal = answer.status;
      this.#refusedWith = statusName(answer.status);
      this.#explain(undefined, `bind refused: ${statusName(answer.status)}`);
      // A refusal answered as another kind of bind is a refusal first (the account's trouble): the mismatch is said with it.
      const mismatch = otherKind ? ` (answered with ${commandName(answer.commandId)} to ${commandName(asked)}, another kind of bind)` : '';
      this.#log.error({ ...alert, kind, status: statusName(answer.status) }, `${bindRefusal(kind, answer)}${mismatch}`);
      this.#options.onAttempted?.();
      this.#socket?.destroy();
      return;
    }
    this.#state = 'bound';
    this.#boundAt = this.#timers.now();
    this.#lastRefusal = undefined;
    this.#refusedWith = undefined;
    this.#lastError = undefined;
    this.#failureCode = undefined;
    this.#failure = undefined;
    this.#certificateError = undefined;
    // An episode that was warned about ends at the same level, for a log kept at `warn`: the gateway's
    // outage (its line says it all), or this bind's loss.
    const outageEnded = this.#options.onBound?.() ?? false;
    if (this.#lostWarnedAt !== undefined && !outageEnded)
      this.#log.warn({ kind, unboundMs: this.#boundAt - this.#lostWarnedAt }, 'smpp: bound again after the bind was lost');
    else this.#log.info({ kind }, 'smpp: bound');
    this.#lostWarnedAt = undefined;
    if (this.#dropping) this.#watchHold();
    this.#settleAttempt();
    this.#options.onAttempted?.();
    this.#scheduleEnquireLink();
  }

  /**
   * Why the current bind attempt ends: `code` for the SMS's history (undefined: a refusal, which the bind's refusal names).
   * `errorLine`: a failure each try meets alike, an `error` line as it starts or changes (its reason or another failure
   * between), `info` (the try's line) after it.
   */
  #explain(code: string | undefined, reason: string, errorLine?: string): void {
    const failure = `${code}: ${reason}`;
    if (errorLine !== undefined && failure !== this.#failure) this.#log.error({ kind: this.#options.kind, code, reason }, errorLine);
    this.#attempt.explained = true;
    this.#failureCode = code;
    this.#failure = failure;
    this.#lastError = reason;
  }

  /**
   * Why a connection ended before bind_resp, nothing else having said so: from how far it got and what the SMSC wrote.
   * TLS on one side only, or a handshake the SMSC refused, is an `error` line as it starts or changes (each try meets
   * the same port), `info` after it.
   */
  #endedBeforeBind(attempt: Attempt): void {
    const { error } = attempt;
    const { tls } = this.#options.address;
    const code = error?.code;
    if (!tls && looksLikeTls(attempt.firstOctets))
      this.#explain(BIND_FAILURE.portSpeaksTls, 'the SMSC answered the plain bind in TLS: its port speaks TLS (set gateway.tls: true)', TLS_ONE_SIDE_LINE);
    else if (tls && code !== undefined && NOT_TLS_ANSWER_CODES.has(code))
      this.#explain(
        BIND_FAILURE.portNotTls,
        `the SMSC answered the TLS handshake with no TLS (${code}): its port speaks plain SMPP (set gateway.tls: false, or use its TLS port)`,
        TLS_ONE_SIDE_LINE,
      );
    // OpenSSL's other codes on a connection made: the SMSC's alert to the relay's hello or, TLS 1.3's certificate_required,
    // to the bind after it. Its one-line reason (Node's `reason`), not the message's OpenSSL text with source paths.
    else if (tls && attempt.connected && code?.startsWith('ERR_SSL_') && !TLS_CERTIFICATE_CODES.has(code))
      this.#explain(
        BIND_FAILURE.handshakeRefused,
        `the SMSC refused the TLS handshake (${openSslReason(error) ?? code}): a TLS version, cipher or client certificate it requires`,
        HANDSHAKE_REFUSED_LINE,
      );
    else if (attempt.connected && (error === undefined || code === 'ECONNRESET' || code === 'EPIPE'))
      this.#explain(
        BIND_FAILURE.closed,
        `the SMSC ${error === undefined ? 'closed' : 'reset'} the connection before answering the bind${tls ? ' (during the TLS handshake)' : ''}: an address allow-list, or TLS on one side only (check gateway.tls)`,
      );
    else this.#explain(code ?? BIND_FAILURE.closed, error?.message ?? 'the connection ended before the bind was answered');
  }

  /**
   * The binds lately were dropped right after they were made (one warning said so): the episode ends with a
   * bind that holds STABLE_BIND_MS, a warning too, for a log kept at `warn`. Each drop before then is an `info` line.
   */
  #watchHold(): void {
    const socket = this.#socket;
    const timer = this.#timers.setTimeout(() => {
      if (this.#socket !== socket || this.#state !== 'bound' || !this.#dropping) return;
      this.#dropping = false;
      this.#log.warn(
        { kind: this.#options.kind, heldMs: STABLE_BIND_MS },
        'smpp: bound again, and the bind holds: the SMSC no longer drops it right after accepting it',
      );
    }, STABLE_BIND_MS);
    (timer as { unref?: () => unknown }).unref?.();
  }

  /** The SMSC no longer takes this bind as bound: unbind (briefly waiting for unbind_resp) and bind again, with the reconnect backoff. */
  #rebind(reason: string): void {
    const socket = this.#socket;
    if (!socket || this.#state !== 'bound') return;
    // A bind that had worked a while starts an episode; one lost as soon as it was made continues it. Once
    // the episode is the account's, only a submit_sm answered otherwise ends it (#sessionKept): the pause's
    // probe comes minutes after the bind was made, and its ESME_RINVBNDSTS is the same trouble, not a new one.
    const continues = this.bindsLostForAccount !== undefined || this.#timers.now() - this.#boundAt < STABLE_BIND_MS;
    this.#bindsLost = continues ? this.#bindsLost + 1 : 1;
    const fields = { reason, binds: this.#bindsLost };
    if (this.#bindsLost === 1) this.#log.warn(fields, 'smpp: the SMSC lost this bind; unbinding and binding again');
    else if (this.#bindsLost === LOST_BINDS_FOR_ACCOUNT)
      this.#log.error(
        { ...fields, alert: 'gateway-account' },
        "smpp: the SMSC accepts binds but takes none as bound (ESME_RINVBNDSTS on each new one): sending is paused as for a refused account; check the account's rights and system_type with the SMSC",
      );
    else this.#log.info(fields, 'smpp: the SMSC lost the new bind too; unbinding and binding again');
    this.#lastError = reason;
    this.#rebinding = true;
    this.#state = 'unbinding';
    void this.#request(COMMAND.unbind, Buffer.alloc(0), UNBIND_WAIT_MS).then(() => {
      if (this.#socket === socket) this.#end(socket);
    });
  }

  /** A submit_sm answered with anything but ESME_RINVBNDSTS: the SMSC takes the bind as bound, and an episode of lost binds is over. */
  #sessionKept(): void {
    if (this.#bindsLost >= LOST_BINDS_FOR_ACCOUNT) this.#log.info({ binds: this.#bindsLost }, 'smpp: the SMSC takes the bind as bound again');
    this.#bindsLost = 0;
  }

  #settleAttempt(): void {
    const waiting = this.#attempted;
    this.#attempted = [];
    for (const resolve of waiting) resolve();
  }

  #scheduleEnquireLink(): void {
    this.#enquireTimer = this.#timers.setTimeout(async () => {
      if (this.bound && (await this.#enquire())) this.#scheduleEnquireLink();
    }, this.#options.enquireLinkMs);
    (this.#enquireTimer as { unref?: () => unknown }).unref?.();
  }

  /** An enquire_link; whether the connection goes on. Unanswered within submitTimeout, the path is dead: the bind is dropped and made again. */
  async #enquire(): Promise<boolean> {
    const socket = this.#socket;
    const answer = await this.#request(COMMAND.enquire_link, Buffer.alloc(0), this.#options.submitTimeoutMs);
    if (!this.bound || this.#socket !== socket) return false;
    if (answer === undefined) {
      // The connection's end logs it, once per episode (#keepAliveLost): a half-hung SMSC fails each new bind's so.
      this.#lastError = `enquire_link not answered within ${this.#options.submitTimeoutMs} ms`;
      this.#keepAliveDropped = true;
      socket?.destroy();
      return false;
    }
    if (this.#keepAliveLostAt !== undefined) {
      this.#log.warn({ kind: this.#options.kind, unansweredMs: this.#timers.now() - this.#keepAliveLostAt }, 'smpp: the SMSC answers enquire_link again');
      this.#keepAliveLostAt = undefined;
    }
    return true;
  }

  /**
   * The relay dropped the bind, its enquire_link unanswered within submitTimeout: the SMSC (or the path to it)
   * stopped answering, whoever closed the connection. A warning as that starts; each new bind it fails the same
   * way while it lasts is an `info` line, until an enquire_link is answered again (#enquire, a warning too).
   */
  #keepAliveLost(fields: { readonly reason: string | undefined; readonly retryInMs: number }): void {
    const line = { ...fields, unansweredMs: this.#options.submitTimeoutMs };
    const seconds = this.#options.submitTimeoutMs / 1000;
    if (this.#keepAliveLostAt === undefined) {
      this.#keepAliveLostAt = this.#timers.now();
      this.#log.warn(line, `smpp: the SMSC stopped answering enquire_link (keep-alive unanswered for ${seconds} s): the relay dropped the bind; binding again`);
    } else
      this.#log.info(
        line,
        `smpp: the SMSC still does not answer enquire_link (unanswered for ${seconds} s on the new bind): the relay dropped it again; binding again`,
      );
  }

  /** An enquire_link right after the answers written in this turn (DeliveryAnswer.written): its answer tells the SMSC read them. */
  #probe(): void {
    if (this.#probeDue) return;
    this.#probeDue = true;
    queueMicrotask(() => {
      this.#probeDue = false;
      if (this.bound) void this.#enquire();
    });
  }

  /** Writes a PDU on the current connection; its place among those written there. */
  #write(pdu: Buffer): number {
    this.#socket?.write(pdu);
    this.#wire.written += 1;
    return this.#wire.written;
  }

  /**
   * Writes a request; resolves with its response, or undefined after `timeoutMs` or a dropped connection. `late`:
   * told the response if it comes after `timeoutMs` (within LATE_ANSWER_MS, on this connection).
   */
  #request(command: number, body: Buffer, timeoutMs: number, late?: (pdu: Pdu) => void): Promise<Pdu | undefined> {
    const socket = this.#socket;
    // An ending connection ("write after end"): never written, so nothing to wait for.
    if (!socket?.writable) return Promise.resolve(undefined);
    this.#sequence = this.#sequence >= MAX_SEQUENCE ? 1 : this.#sequence + 1;
    const sequence = this.#sequence;
    const wire = this.#wire;
    return new Promise((resolve) => {
      let place = 0;
      const timer = this.#timers.setTimeout(() => {
        if (!this.#outstanding.delete(sequence)) return;
        if (late && this.#wire === wire) this.#giveUp(sequence, late);
        resolve(undefined);
      }, timeoutMs);
      this.#outstanding.set(sequence, {
        command,
        timer,
        settle: (pdu) => {
          this.#timers.clearTimeout(timer);
          // Answered: the SMSC has read everything written before the request too.
          if (pdu) wire.answeredThrough = Math.max(wire.answeredThrough, place);
          resolve(pdu);
        },
      });
      place = this.#write(encodePdu(command, 0, sequence, body));
    });
  }

  /** `link`: the connection it came on (a deliver_sm's answer goes back on it, or nowhere). */
  #receive(pdu: Pdu, link: DeliveryLink): void {
    if (pdu.commandId & RESPONSE_BIT) {
      this.#response(pdu);
      return;
    }
    switch (pdu.commandId) {
      case COMMAND.enquire_link: {
        this.#answer(COMMAND.enquire_link_resp, STATUS.ESME_ROK, pdu.sequence);
        return;
      }
      case COMMAND.unbind:
        // The connection's end logs it, once (a bind the SMSC unbinds right after it is made would log each cycle).
        this.#log.debug('smpp: the SMSC unbound');
        this.#answer(COMMAND.unbind_resp, STATUS.ESME_ROK, pdu.sequence);
        this.#lastError = 'the SMSC unbound';
        if (this.#socket) this.#end(this.#socket);
        return;
      case COMMAND.deliver_sm:
      case COMMAND.data_sm: {
        const response = (pdu.commandId | RESPONSE_BIT) >>> 0;
        if (this.#options.kind === 'transmitter') {
          // Per SMPP 3.4 a transmitter takes none; the SMSC routes this account's SMS and receipts to it wrongly, and keeps them.
          this.#log.warn(
            { command: commandName(pdu.commandId), sequence: pdu.sequence },
            'smpp: the SMSC delivered to a transmitter bind, which takes no deliver_sm or data_sm: answered ESME_RINVBNDSTS (check that the SMSC routes them to the receiver bind)',
          );
          this.#answer(response, STATUS.ESME_RINVBNDSTS, pdu.sequence, encodeMessageId(''));
          return;
        }
        if (this.#state === 'closed') {
          // Closing (close() waits only for what is being committed): committed now, it might go unanswered and be mailed twice.
          this.#log.debug({ sequence: pdu.sequence }, 'smpp: a deliver_sm while the bind is closing: answered ESME_RX_T_APPN, for another bind');
          this.#answer(response, STATUS.ESME_RX_T_APPN, pdu.sequence, encodeMessageId(''));
          return;
        }
        // Not on a newer connection: its sequence number is this one's. The adapter reads link.isUp() as this does.
        const answered: Promise<void> = this.#options
          .onDeliver(pdu, link)
          .then((answer) => {
            const { status, written } = typeof answer === 'number' ? { status: answer, written: undefined } : answer;
            const place = link.isUp() ? this.#write(encodePdu(response, status, pdu.sequence, encodeMessageId(''))) : undefined;
            written?.(place);
            if (written && place !== undefined) this.#probe();
          })
          .finally(() => this.#delivering.delete(answered));
        this.#delivering.add(answered);
        return;
      }
      case COMMAND.alert_notification:
        // SMPP 3.4 §4.12: it has no response. A phone the relay texted is reachable again; the relay keeps no such wait.
        this.#log.info({ sequence: pdu.sequence }, 'smpp: the SMSC sent an alert_notification (a phone is reachable again); nothing to do');
        return;
      default:
        this.#log.warn(
          { command: commandName(pdu.commandId), sequence: pdu.sequence },
          'smpp: the SMSC sent a command the relay does not take; answered generic_nack',
        );
        {
          this.#answer(COMMAND.generic_nack, STATUS.ESME_RINVCMDID, pdu.sequence);
          return;
        }
    }
  }

  /** Remembers a request given up at its timeout for its late answer (LATE_ANSWER_MS), forgetting those past it. */
  #giveUp(sequence: number, late: (pdu: Pdu) => void): void {
    const now = this.#timers.now();
    for (const [given, { until }] of this.#givenUp) if (until <= now) this.#givenUp.delete(given);
    this.#givenUp.set(sequence, { until: now + LATE_ANSWER_MS, late });
  }

  #response(pdu: Pdu): void {
    const outstanding = this.#outstanding.get(pdu.sequence);
    const fields = { command: commandName(pdu.commandId), sequence: pdu.sequence, status: statusName(pdu.status) };
    const givenUp = this.#givenUp.get(pdu.sequence);
    const lateAnswer = pdu.commandId === COMMAND.submit_sm_resp || pdu.commandId === COMMAND.generic_nack;
    if (!outstanding && givenUp && givenUp.until > this.#timers.now() && lateAnswer) {
      // The SMSC was slow, not deaf: its answer is what became of the submit_sm, for the SMS's retry to use.
      this.#givenUp.delete(pdu.sequence);
      this.#log.info(fields, 'smpp: the SMSC answered a submit_sm after its timeout; the answer is kept for the SMS');
      givenUp.late(pdu);
      return;
    }
    if (!outstanding) {
      this.#log.warn(fields, 'smpp: a response to no request the relay has outstanding (a late answer after its timeout, or a wrong sequence number); ignored');
      return;
    }
    // A generic_nack answers whatever request had its sequence number; so does another bind's response a
    // bind (#bind names it: the SMSC took another kind of bind than was asked).
    const answersIt =
      pdu.commandId === COMMAND.generic_nack ||
      pdu.commandId === (outstanding.command | RESPONSE_BIT) >>> 0 ||
      (isBindCommand(outstanding.command) && isBindCommand((pdu.commandId & ~RESPONSE_BIT) >>> 0));
    if (!answersIt) {
      this.#log.warn(
        { ...fields, request: commandName(outstanding.command) },
        "smpp: a response of another type than the outstanding request with its sequence number (the SMSC's fault); ignored",
      );
      return;
    }
    this.#outstanding.delete(pdu.sequence);
    outstanding.settle(pdu);
  }

  #answer(command: number, status: number, sequence: number, body?: Buffer): void {
    if (this.#socket?.writable) this.#write(encodePdu(command, status, sequence, body));
  }

  /** Ends the connection (after `last`, if given), and destroys it if the SMSC does not close its side in time. */
  #end(socket: Socket, last?: Buffer): void {
    if (this.#state === 'bound') this.#state = 'unbinding';
    if (last) socket.end(last);
    else socket.end();
    const timer = this.#timers.setTimeout(() => socket.destroy(), HALF_CLOSE_WAIT_MS);
    (timer as { unref?: () => unknown }).unref?.();
    socket.once('close', () => this.#timers.clearTimeout(timer));
  }

  /** Bound, and the connection not ending: a PDU written now leaves. */
  #writable(): boolean {
    return this.bound && this.#socket?.writable === true;
  }

  /**
   * Waits until a submit_sm may be written on this bind: past the bind's pause (looked at again after each
   * wait, as another SMS's refusal may have made it longer meanwhile) and this SMS's own `earliest`; and,
   * while the bind is slowed down, until no other submit_sm is trying the SMSC after the pause: one goes,
   * and the others follow once it is taken (the pause is over) or wait for the next pause, rather than all
   * being written together at its end and refused together. A trial unanswered for a pause is taken as lost:
   * the next submit_sm tries instead, so that an SMSC losing one PDU holds the bind's SMS a pause, not the
   * submit timeout. While slowed down, the one returning is the trial: the returned function ends it, once it
   * is answered or lost (set before returning, so that no other waiter passes with it).
   */
  async #paced(earliest: number): Promise<(() => void) | undefined> {
    for (;;) {
      const now = this.#timers.now();
      const wait = Math.max(this.#slowUntil, earliest) - now;
      const trying = this.#throttleMs > 0 ? this.#trying : undefined;
      const lostAt = trying === undefined ? now : trying.since + this.#throttleMs;
      if (wait > 0) await this.#sleep(wait);
      else if (trying !== undefined && lostAt > now) await this.#sleep(lostAt - now, trying.answered);
      else return this.#throttleMs > 0 ? this.#tryingAfterPause() : undefined;
    }
  }

  /** Waits `ms` on the bind's timers, or less if `until` settles first. */
  async #sleep(ms: number, until?: Promise<void>): Promise<void> {
    let timer: unknown;
    const slept = new Promise<void>((resolve) => {
      timer = this.#timers.setTimeout(resolve, ms);
    });
    try {
      await (until === undefined ? slept : Promise.race([slept, until]));
    } finally {
      this.#timers.clearTimeout(timer);
    }
  }

  /** Marks a submit_sm as the one trying the SMSC after a pause (#paced); the returned function ends that, once it is answered or lost. */
  #tryingAfterPause(): () => void {
    let done: () => void = () => undefined;
    const answered = new Promise<void>((resolve) => {
      done = resolve;
    });
    const trying = { answered, since: this.#timers.now() };
    this.#trying = trying;
    return () => {
      if (this.#trying === trying) this.#trying = undefined;
      done();
    };
  }

  /**
   * Slows the bind down after a throttled answer to a submit_sm written at `writtenAt`; whether it was
   * throttled. The window's other submit_sm were written in the same burst: their answers say the same,
   * so the pause grows once per burst, not once per answer. A warning when the pause grows (up to its
   * most, THROTTLE_MAX_MS); a refusal that finds it there already is an info line, not one warning each.
   */
  #paceAfter(status: number, writtenAt: number): boolean {
    if (status === STATUS.ESME_ROK) this.#throttleMs = 0;
    if (status !== STATUS.ESME_RTHROTTLED && status !== STATUS.ESME_RMSGQFUL) return false;
    if (writtenAt <= this.#throttledAt) return true;
    const now = this.#timers.now();
    const pauseMs = Math.min(THROTTLE_MAX_MS, Math.max(THROTTLE_MIN_MS, this.#throttleMs * 2));
    const line = { status: statusName(status), pauseMs };
    if (pauseMs > this.#throttleMs) this.#log.warn(line, 'smpp: the SMSC asks the relay to slow down; pausing submits on this bind');
    else this.#log.info(line, 'smpp: the SMSC still asks the relay to slow down; submits on this bind stay paused at the longest pause');
    this.#throttleMs = pauseMs;
    this.#throttledAt = now;
    this.#slowUntil = now + pauseMs;
    return true;
  }

  #slot(): Promise<void> {
    if (this.#submitting < this.#options.windowSize) {
      this.#submitting++;
      return Promise.resolve();
    }
    return new Promise((resolve) =>
      this.#queue.push(() => {
        this.#submitting++;
        resolve();
      }),
    );
  }

  #release(): void {
    this.#submitting--;
    this.#queue.shift()?.();
  }

  /** Every outstanding request ends unanswered; queued submits go on and find the bind down. */
  #dropOutstanding(): void {
    const outstanding = [...this.#outstanding.values()];
    this.#outstanding.clear();
    for (const entry of outstanding) {
      this.#timers.clearTimeout(entry.timer);
      entry.settle(undefined);
    }
    const queued = this.#queue;
    this.#queue = [];
    for (const next of queued) next();
  }
}

/** A submit_sm_resp or generic_nack as the SMS's answer. */
function submitAnswer(pdu: Pdu): LateAnswer {
  if (pdu.commandId === COMMAND.generic_nack) return { kind: 'nacked', status: pdu.status };
  return { kind: 'answered', status: pdu.status, ...(pdu.status === STATUS.ESME_ROK ? messageIdOf(pdu.body) : { messageId: '' }) };
}

/** SMPP 3.4 §4.4.2: message_id is a C-octet string of at most 65 octets, its NUL included. */
const MESSAGE_ID_OCTETS = 65;
/** How much of an id too long to keep a warning shows. */
const SHOWN_ID_CHARS = 80;

/** The octets an SMSC writes in a message_id: printable ASCII. A byte outside it ends an id written without its NUL. */
const ID_OCTET = (octet: number): boolean => octet >= 0x20 && octet <= 0x7e;

/**
 * The id of a submit_sm_resp, or why it is not kept: longer than SMPP 3.4 allows. An id whose C-octet
 * string has no terminating NUL, as several SMSCs write it, is kept with `idProblem` saying so (`idKept`):
 * receipts name it as written. It ends where the body does, or, when TLVs follow it (SMPP 5.0's
 * submit_sm_resp may carry some), at its first byte that no id holds: the TLVs' bytes, the NUL inside
 * their length too, are no part of it.
 */
function messageIdOf(body: Buffer): { readonly messageId: string; readonly idProblem?: string; readonly idKept?: boolean } {
  const stop = body.findIndex((octet) => !ID_OCTET(octet));
  if (stop >= 0 && body[stop] !== 0 && readsAsTlvs(body.subarray(stop))) return unterminatedId(body.subarray(0, stop));
  try {
    return { messageId: decodeMessageId(body) };
  } catch {
    const end = body.indexOf(0);
    if (end < 0) return unterminatedId(body);
    return { messageId: '', idProblem: tooLong(body.subarray(0, end), '') };
  }
}

/** An id written without its NUL: kept when SMPP 3.4 allows its length. */
function unterminatedId(octets: Buffer): { readonly messageId: string; readonly idProblem: string; readonly idKept?: boolean } {
  const unterminated = ', its C-octet string has no terminating NUL';
  if (octets.length >= MESSAGE_ID_OCTETS) return { messageId: '', idProblem: tooLong(octets, unterminated) };
  const id = octets.toString('latin1');
  return { messageId: id, idProblem: `a message_id of ${octets.length} octets${unterminated}: "${id}"`, idKept: true };
}

function tooLong(octets: Buffer, unterminated: string): string {
  const shown = octets.subarray(0, SHOWN_ID_CHARS).toString('latin1');
  return `a message_id of ${octets.length} octets${unterminated}, over SMPP 3.4's ${MESSAGE_ID_OCTETS - 1} (${MESSAGE_ID_OCTETS} with its NUL): "${shown}${octets.length > SHOWN_ID_CHARS ? '…' : ''}"`;
}

function readsAsTlvs(bytes: Buffer): boolean {
  try {
    decodeTlvs(bytes);
    return true;
  } catch (error) {
    if (!(error instanceof PduError)) throw error;
    return false;
  }
}

/** Why the SMSC refused a bind, in words that point at the fix. */
function bindRefusal(kind: BindKind, answer: Pdu): string {
  if (answer.commandId === COMMAND.generic_nack && answer.status === STATUS.ESME_RINVCMDID && kind === 'transceiver')
    return 'smpp: the SMSC does not know bind_transceiver (an SMSC without transceivers): set gateway.bindMode: transmitter-receiver';
  return `smpp: the SMSC refused the ${kind} bind (system_id, password, system_type or too many binds)`;
}
