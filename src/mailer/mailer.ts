import type { UrlSecrets } from '../config/secrets.ts';
import { failureSaidOnce, secretCutter } from '../dispatch/echoes.ts';
import { retryDelay } from '../dispatch/schedule.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { maskNumbersIn } from '../sms/numbers.ts';
import { lateAnswerLine, OwedOutcomes, type OwedWords } from '../owed-outcomes.ts';
import { Takeovers } from '../takeovers.ts';
import type { ClaimedMail, MailOutcome, Store } from '../store/types.ts';
import { WorkLoop } from '../work-loop.ts';
import { SMARTHOST_POOL_SIZE } from './smarthost.ts';
import type { DeliveryResult, MailTransport } from './transports.ts';

/**
 * Mails in their slot at once: twice the smarthost pool, so each connection finds its next mail
 * waiting when it is done with one. A slot frees once the smarthost answered; the outcome commits
 * outside it (the work loop bounds how many wait for their commit).
 */
const CONCURRENT_DELIVERIES = 2 * SMARTHOST_POOL_SIZE;

export interface MailerOptions {
  readonly store: Store;
  /** Whether the store's commits succeed now (WorkLoopOptions.storeCommits). */
  readonly storeCommits?: (() => boolean) | undefined;
  readonly transport: MailTransport;
  readonly logger: Logger;
  readonly owner: string;
  /** A claim's lease (`delivery.leaseTtl`): the heartbeat renews it while the delivery runs (src/cluster/membership.ts). */
  readonly leaseMs: number;
  /** The work loop's longest idle wait (tests). */
  readonly idleWaitMs?: number | undefined;
  readonly retryMinDelayMs: number;
  readonly retryMaxDelayMs: number;
  readonly clock?: () => number;
  /** Counts each attempt's end (`smsrelay_mails_sent_total`). */
  readonly metrics?: Metrics | undefined;
  /**
   * The secret the transport is sent (`urlSecrets` of `mail.url`: its password and the AUTH forms it is sent in): cut
   * from the transport's words before they are logged or stored, the base64 forms as a gateway's secrets are, the
   * password in clear only where it stands as itself in any escaping (standingNeedles): the smarthost quotes what it was
   * sent as it was sent, and a short password (`mail`) cut in any case and inside words garbled its answers
   * (`*** rejected`).
   */
  readonly secrets?: UrlSecrets | undefined;
}

/**
 * What the transport's words go through before any log line or history has them: `secrets`' base64 forms cut in any
 * escaping and case, as a gateway's secrets are, the password in clear where it stands as itself (standingNeedles).
 */
export function smarthostCutter(secrets: UrlSecrets | undefined, logger: Logger | undefined): (said: string) => string {
  return secretCutter(
    secrets?.encoded ?? [],
    failureSaidOnce(logger, "mailer: the transport's words could not be searched for a secret; a mark stands for them"),
    secrets?.clear ?? [],
  );
}

/** How the mailer's lines name what it owes the store, and a late answer. */
const MAIL_WORDS: OwedWords = {
  loop: 'mailer',
  one: 'mail outcome',
  several: 'mail outcomes',
  unit: 'mail',
  item: 'mail',
  atNextStart: "those mails are sent again at the next start, counted in the relay's resuming line",
};

/**
 * The outgoing-mail worker: sends what the relay queued (bounces, notices, SMS replies, mail for the
 * postmaster) through the transport. A temporary failure (smarthost down, 4xx) is retried with backoff
 * for as long as it takes; nothing is dropped. A permanent refusal (5xx) ends the mail: logged, never
 * bounced (these are the relay's own reports, and a bounce about a bounce would loop; a refusal of
 * the operator's own postmaster mailbox is the operator's to see in the log). A refused reply mail
 * leaves its SMS undeliverable, listed for the operator to reroute (`smsrelay undeliverable`).
 *
 * An outcome the store cannot take is owed, as the dispatcher's (OwedOutcomes): kept with its lease and
 * written before anything else is claimed, so a mail the smarthost took is not delivered again.
 */
export class Mailer extends WorkLoop<ClaimedMail> {
  readonly #options: MailerOptions;
  /** The transport failing (DeliveryResult `down`) since, and how many deliveries it deferred: logged when it begins and ends. */
  #outage: { readonly since: number; readonly error: string; deferred: number } | undefined;
  /** Outcomes the store refused: written before anything else is claimed. */
  readonly #owed: OwedOutcomes<MailOutcome>;
  /** Mail claimed from a relay whose lease ended with no outcome: told in the log, once per takeover. */
  readonly #takeovers: Takeovers;
  /** The transport's words with every secret cut out (a smarthost may quote the login it refused). */
  readonly #cutSecrets: (said: string) => string;

  constructor(options: MailerOptions) {
    const clock = options.clock ?? Date.now;
    super({
      name: 'mailer',
      logger: options.logger,
      concurrency: CONCURRENT_DELIVERIES,
      clock,
      idleWaitMs: options.idleWaitMs,
      storeCommits: options.storeCommits,
      claim: async (free) => {
        // Until the store took what it is owed, those mails may look due (their lease ran out): claim nothing.
        await this.#owed.write();
        const now = clock();
        // Its own mail in flight is never claimed again: its lease may have ended in a store outage with the delivery still open.
        const claimed = await options.store.claimDueMail({ owner: options.owner, now, leaseUntil: now + options.leaseMs, limit: free, inFlight: this.held() });
        return this.#takeovers.claimed(claimed, (mail) => mail.takenOverFrom);
      },
      process: (mail, release) => this.#deliver(mail, clock, release),
      nextDueAt: () => options.store.nextMailDueAt(),
      leaseIds: (mail) => [mail.id],
    });
    this.#options = options;
    this.#takeovers = new Takeovers({
      logger: options.logger,
      clock,
      leaseMs: options.leaseMs,
      words: {
        unit: 'mails',
        // SMTP has no idempotency: a smarthost that took the mail before that relay stopped gets it again.
        line: "mailer: taking over mail whose relay's lease ended with no outcome (it died, froze or lost the store); the mailboxes may get them twice",
      },
    });
    this.#owed = new OwedOutcomes<MailOutcome>({
      logger: options.logger,
      clock,
      write: (outcome) => this.#write(outcome),
      ids: (outcome) => [outcome.id],
      words: MAIL_WORDS,
    });
    this.#cutSecrets = smarthostCutter(options.secrets, options.logger);
  }

  /** Besides the mails in flight, those whose outcome is owed: their lease stays until it is written. */
  override held(): number[] {
    return [...super.held(), ...this.#owed.held()];
  }

  /**
   * Claims nothing from now on, waits for the deliveries in flight at most `graceMs`, then gives the store one
   * last chance to take what it is owed. Deliveries still in flight then are given up as the dispatcher's
   * gateway requests are: the transport closes under them, so none completes behind the stop (the lock
   * released, another relay delivering the same mail) and no socket keeps the process alive.
   */
  override async stop(graceMs?: number): Promise<void> {
    await super.stop(graceMs);
    if (this.abandoned) await this.#options.transport.close();
    // A claim still under way resolves after this: its line is written at once.
    this.#takeovers.stop();
    await this.#owed.writeAtStop();
  }

  /**
   * Writes a mail's outcome on the lease it was claimed on: one that comes after another relay took the
   * mail over (this relay frozen or cut off past its lease, its outcome owed that long) is that relay's
   * to record, and the store keeps this one as a history line only.
   */
  async #write(outcome: MailOutcome): Promise<number> {
    const { store, owner, logger } = this.#options;
    if ((await store.recordMailOutcome(outcome, owner)) !== 'late') return 0;
    logger.warn({ mailId: outcome.id, outcome: outcome.kind }, lateAnswerLine(MAIL_WORDS));
    return 1;
  }

  /** Records a mail's outcome (true), or owes one the store refuses (false): kept with its lease until the store takes writes again. */
  async #record(outcome: MailOutcome): Promise<boolean> {
    try {
      await this.#write(outcome);
      return true;
    } catch (error) {
      this.#owed.keep(outcome, error);
      // New work for the loop: the next claim writes what is owed first, even when the last found nothing more due.
      this.kick();
      return false;
    }
  }

  async #deliver(mail: ClaimedMail, clock: () => number, release: () => void): Promise<void> {
    const { transport, logger, retryMinDelayMs, retryMaxDelayMs, metrics } = this.#options;
    // One line per mail: the ids go in it, not in a child logger made for that one line (#15).
    const about = { msgId: mail.messageId, mailId: mail.id, kind: mail.kind, via: transport.description };
    const result = this.#withSecretsCut(await transport.deliver(mail));
    // The smarthost answered: the next mail starts while this outcome commits; its lease stays until then (#15).
    release();
    if (this.abandoned) {
      // The stop gave up on this delivery and closed the transport under it: its end means nothing, its lease stays.
      logger.info(about, 'mailer: delivery still in flight when the stop gave up waiting; the next start sends it again');
      return;
    }
    // The smarthost's words may echo a number (the envelope sender of a reply mail): masked as the numbers of any log line.
    const error = result.ok ? undefined : maskNumbersIn(result.error);
    metrics?.ownMail.inc({ kind: mail.kind, result: result.ok ? 'delivered' : result.permanent ? 'refused' : 'deferred' });
    if (result.ok) {
      logger.info({ ...about, response: result.response }, 'mailer: mail delivered');
      // An outcome owed to a failing store: the store cannot make the deferred mail due now either; a later delivery ends the outage.
      if (await this.#record({ id: mail.id, kind: 'sent', response: result.response })) await this.#outageOver(clock());
    } else if (result.permanent) {
      // A reply mail's SMS goes back among the undeliverable ones in the same commit (Store.recordMailOutcome).
      const kept = mail.kind === 'reply' ? '; its SMS is kept as undeliverable (smsrelay undeliverable)' : '';
      logger.error({ ...about, error }, `mailer: mail refused for good; not retried${kept}`);
      await this.#record({ id: mail.id, kind: 'failed', error: result.error });
    } else {
      const nextAttemptAt = clock() + retryDelay(mail.attempts + 1, retryMinDelayMs, retryMaxDelayMs);
      // As the log's own times: an operator reads when, not epoch milliseconds.
      const retry = { ...about, error, nextAttemptAt: new Date(nextAttemptAt).toISOString() };
      if (!result.down) logger.warn(retry, 'mailer: delivery deferred');
      else if (this.#outage) {
        this.#outage.deferred += 1;
        logger.debug(retry, 'mailer: delivery deferred');
      } else {
        this.#outage = { since: clock(), error: error ?? '', deferred: 1 };
        const once = '(one line now, one when a delivery succeeds again)';
        if (result.setting === undefined) logger.warn(retry, `mailer: delivery deferred: the mail transport fails; every mail waits for it ${once}`);
        else
          logger.error(
            { ...retry, setting: result.setting },
            `mailer: delivery deferred: the smarthost refused the relay's own login or session, check ${result.setting}; every mail stays queued ${once}`,
          );
      }
      await this.#record({ id: mail.id, kind: 'retry', nextAttemptAt, error: result.error });
    }
  }

  /** The transport's answer as the relay keeps it: no log line, history or `smsrelay status` gets a secret it quoted. */
  #withSecretsCut(result: DeliveryResult): DeliveryResult {
    return result.ok ? { ...result, response: this.#cutSecrets(result.response) } : { ...result, error: this.#cutSecrets(result.error) };
  }

  /** A delivery succeeded: an outage of the transport is over, and the mail it deferred is due now rather than at its backoff. */
  async #outageOver(now: number): Promise<void> {
    const outage = this.#outage;
    if (!outage) return;
    this.#outage = undefined;
    const due = await this.#options.store.mailDueNow(now);
    // A recovery is news, not a problem: info, as the store's "commits succeed again".
    this.#options.logger.info(
      { outageMs: now - outage.since, deferred: outage.deferred, error: outage.error, due, via: this.#options.transport.description },
      'mailer: the mail transport works again; the mail it deferred is sent now',
    );
    this.kick();
  }
}
