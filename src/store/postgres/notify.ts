/**
 * Wake-ups across relays (#18): once a write that queued work has committed, the channel is notified
 * (WakeSender: never before the commit, so a relay woken finds the work); each relay listens on
 * a connection of its own, outside the pool (a pooled connection goes back to the pool between
 * statements, and a transaction-pooling proxy would drop the LISTEN), and kicks its loops. A
 * notification sent while the listener was disconnected is lost, so every (re)connection kicks once to
 * catch up; the loops' idle poll stays the floor under all of it.
 */
import pg from 'pg';
import type { Logger } from '../../log.ts';
import { answerWithin, cutConnection } from './silence-watch.ts';

export const WORK_CHANNEL = 'smsrelay_work';

/** Which loop a notification wakes: the SMS dispatcher or the outgoing-mail worker. */
export type WorkQueue = 'sms' | 'mail';
const QUEUES: readonly WorkQueue[] = ['sms', 'mail'];
/**
 * What a notification tells: work queued, or `opt-outs` added to (a STOP received, a provider's opt-out): every
 * other relay forgets the numbers it remembered as not opted out (src/store/not-opted-out.ts).
 */
export type Notice = WorkQueue | 'opt-outs';
const NOTICES: readonly Notice[] = [...QUEUES, 'opt-outs'];

/** Reconnecting the listener: first wait, and the most it grows to (doubling). */
const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 30_000;
/**
 * The listening connection only reads, so a database gone silent (its host lost, a partition: nothing
 * closes the connection) would leave it deaf for good; it asks the server this often whether it is
 * there, and a question unanswered within LISTENER_ANSWER_MS counts as the connection lost.
 */
const LISTENER_CHECK_MS = 30_000;
const LISTENER_ANSWER_MS = 5_000;

/**
 * The notification of `queues` woken, from `tag` (the sender's process: it kicked its own loops
 * already and ignores its own notification). Both are plain words.
 */
export function notifyStatement(queues: readonly Notice[], tag: string): string {
  return `SELECT pg_notify('${WORK_CHANNEL}', '${queues.join(',')}/${tag.replace(/[^A-Za-z0-9]/g, '')}')`;
}

/**
 * Sends the notifications of committed writes, in a statement of their own after the COMMIT, one at a
 * time: what commits while one is on its way goes in the next. Inside the writes' transactions they
 * cost every relay's throughput: PostgreSQL serialises the commits of transactions that notify under
 * one lock held through their WAL flush (measured 2026-12-03: commits queued on `Lock:object`
 * behind one another); a transaction that only notifies writes no WAL to flush. A notification lost
 * with the process between the COMMIT and its sending is covered by the listeners' idle poll, as one
 * lost while a listener is disconnected.
 */
export class WakeSender {
  readonly #send: (sql: string) => Promise<unknown>;
  readonly #tag: () => string;
  #waiting = new Set<Notice>();
  /** The notifications on their way, while some are. */
  #sending: Promise<void> | undefined;

  constructor(send: (sql: string) => Promise<unknown>, tag: () => string) {
    this.#send = send;
    this.#tag = tag;
  }

  /** `queues` got work (or opt-outs changed) in a commit that has returned. */
  wake(queues: readonly Notice[]): void {
    for (const queue of queues) this.#waiting.add(queue);
    if (!this.#sending && this.#waiting.size > 0) this.#sending = this.#sendWaiting();
  }

  /**
   * Once the notifications of the commits so far are sent (or failed): a store closes after it, or
   * the operator's command that released an SMS would end its process before the notification left,
   * and the relays would see that SMS only at their next poll.
   */
  async sent(): Promise<void> {
    await this.#sending;
  }

  /** A notification that wakes no loop: it tells the listeners that this process runs (WorkListener's onHeard). */
  hello(): void {
    this.#send(notifyStatement([], this.#tag())).catch(() => undefined);
  }

  async #sendWaiting(): Promise<void> {
    while (this.#waiting.size > 0) {
      const queues = NOTICES.filter((notice) => this.#waiting.has(notice));
      this.#waiting.clear();
      // A notification that fails (the database going away) is left to the listeners' poll.
      await this.#send(notifyStatement(queues, this.#tag())).catch(() => undefined);
    }
    this.#sending = undefined;
  }
}

function readPayload(payload: string | undefined): { queues: WorkQueue[]; optOuts: boolean; tag: string } {
  const [notices = '', tag = ''] = (payload ?? '').split('/');
  const told = notices.split(',');
  return { queues: QUEUES.filter((queue) => told.includes(queue)), optOuts: told.includes('opt-outs'), tag };
}

export interface WorkListenerOptions {
  readonly connection: pg.ClientConfig;
  /** This process's tag: its own notifications are not news to it. */
  readonly tag: string;
  readonly onWake: (queues: readonly WorkQueue[]) => void;
  /** Another process notified: someone else runs on this database. */
  readonly onHeard?: () => void;
  /** Another process changed the opt-outs. */
  readonly onOptOuts?: () => void;
  /**
   * Whether every notification is heard from now on (LISTEN in place) or some may be missed (the
   * connection lost, or stopped): told at each change.
   */
  readonly onListening?: (listening: boolean) => void;
  readonly logger: Logger;
  /** How often the connection is checked: LISTENER_CHECK_MS unless a test needs it sooner. */
  readonly checkEveryMs?: number;
}

/** The listening connection: connects, LISTENs, kicks, and reconnects with backoff when it is lost. */
export class WorkListener {
  readonly #options: WorkListenerOptions;
  #client: pg.Client | undefined;
  #retry: NodeJS.Timeout | undefined;
  #check: NodeJS.Timeout | undefined;
  #delay = RECONNECT_MIN_MS;
  /** Since when the listener is down, while it is: one line per episode. */
  #lostSince: number | undefined;
  #stopped = false;

  constructor(options: WorkListenerOptions) {
    this.#options = options;
  }

  start(): void {
    void this.#connect();
  }

  async #connect(): Promise<void> {
    if (this.#stopped) return;
    const { connection, tag, onWake, onHeard, onOptOuts, onListening, logger } = this.#options;
    const client = new pg.Client(connection);
    this.#client = client;
    let lost = false;
    const onLost = (error: unknown) => {
      if (lost || this.#stopped) return;
      lost = true;
      onListening?.(false);
      clearInterval(this.#check);
      cutConnection(client);
      this.#lost(error);
    };
    client.on('error', onLost);
    client.on('end', () => onLost(new Error('the connection ended')));
    client.on('notification', (message) => {
      if (message.channel !== WORK_CHANNEL) return;
      const { queues, optOuts, tag: from } = readPayload(message.payload);
      if (from === tag) return;
      onHeard?.();
      if (optOuts) onOptOuts?.();
      if (queues.length > 0) onWake(queues);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${WORK_CHANNEL}`);
    } catch (error) {
      onLost(error);
      return;
    }
    if (this.#stopped) return;
    onListening?.(true);
    // One check at a time: a second query on a client still waiting for the first is queued behind it (and deprecated by pg).
    let checking = false;
    this.#check = setInterval(() => {
      if (checking) return;
      checking = true;
      answerWithin(client.query('SELECT 1'), LISTENER_ANSWER_MS, `the database did not answer within ${LISTENER_ANSWER_MS / 1000} s`)
        .then(() => {
          checking = false;
        })
        .catch(onLost);
    }, this.#options.checkEveryMs ?? LISTENER_CHECK_MS);
    this.#check.unref();
    this.#delay = RECONNECT_MIN_MS;
    if (this.#lostSince !== undefined) {
      logger.info({ downMs: Date.now() - this.#lostSince }, "store: listening for other relays' work again; looking for what came meanwhile");
      this.#lostSince = undefined;
    }
    // Whatever was committed while nobody listened: look once.
    onWake(QUEUES);
  }

  #lost(error: unknown): void {
    if (this.#lostSince === undefined) {
      this.#lostSince = Date.now();
      // The database's words, without a stack: the connection going is the outage the store's health logs, not a bug here.
      this.#options.logger.warn(
        { reason: error instanceof Error ? error.message : String(error) },
        "store: lost the connection that hears other relays' work; their work is seen at the next poll until it is back",
      );
    }
    this.#retry = setTimeout(() => void this.#connect(), this.#delay);
    this.#retry.unref();
    this.#delay = Math.min(this.#delay * 2, RECONNECT_MAX_MS);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#options.onListening?.(false);
    clearTimeout(this.#retry);
    clearInterval(this.#check);
    await this.#client?.end().catch(() => undefined);
  }
}
