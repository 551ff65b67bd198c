import type { Gateway, SmsSubmission, SubmissionResult } from '../providers/contract.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { ReportedRecipient, ReportKind } from '../mailer/dsn.ts';
import { maskNumber } from '../sms/numbers.ts';
import type { ClaimedSms, NewOutgoingMail, SmsBatch, SmsOutcome, Store, StoredMessage } from '../store/types.ts';
import { WorkLoop } from '../work-loop.ts';
import { EndpointBreaker } from './endpoints.ts';
import type { Classified, OutcomeClassifier } from './outcomes.ts';
import { AccountPause } from './pause.ts';
import { deadline, nextStep, providerDelayMs, type RetryPolicy } from './schedule.ts';
import { GatewaySilence, type RequestEnding, SILENCE_WARN_MS } from './silence.ts';

/** A lease outlives the longest request (connect + response timeouts) by this much. */
const LEASE_MARGIN_MS = 60_000;

/** How often the requests in flight are looked at for a silent gateway (the clock says how long they waited). */
const SILENCE_CHECK_INTERVAL_MS = 1_000;

/** Plain words for an SMS given up at its maximum age, whatever the last failure was. */
const EXPIRED = { category: 'expired', code: 'EXPIRED' } as const;

export interface DispatcherOptions {
  readonly store: Store;
  readonly gateway: Gateway;
  /** The active provider's outcome rules, with the generic ones after them. */
  readonly outcomes: OutcomeClassifier;
  readonly logger: Logger;
  /** Identifies this process's leases. */
  readonly owner: string;
  readonly maxConcurrentRequests: number;
  readonly requestTimeoutMs: number;
  readonly retry: RetryPolicy;
  /** A sender whose SMS still waits after this long gets one delay notice. */
  readonly delayNoticeMs: number;
  /** How long a failed gateway host is skipped. */
  readonly failoverRecoveryMs: number;
  /** While the account is refused, one probe request this often. */
  readonly pauseProbeIntervalMs: number;
  /** Ask the provider for a reply session per SMS (Puzzel). */
  readonly sessions: boolean;
  /** The gateway with an account's own credentials (`accounts[].gateway`), when it has them. */
  readonly gatewayFor?: (account: string) => Gateway | undefined;
  readonly metrics?: Metrics | undefined;
  /** Builds a delivery status notification (undefined when none may be sent). */
  readonly report: (
    kind: ReportKind,
    message: StoredMessage,
    recipients: readonly ReportedRecipient[],
    retryUntil?: number,
  ) => Promise<NewOutgoingMail | undefined>;
  /** Called after reports were queued, so the mailer can send them now. */
  readonly onMailQueued: () => void;
  readonly clock?: () => number;
  readonly random?: () => number;
}

/** Outcomes of one batch, with the reports they queue: one store transaction. */
interface Outcomes {
  readonly outcomes: readonly SmsOutcome[];
  readonly mail: readonly NewOutgoingMail[];
}

/** What became of one number in one attempt. */
interface Decision {
  readonly sms: ClaimedSms;
  readonly classified: Classified;
  /** The endpoint that gave the answer; undefined when no request was made (expired). */
  readonly endpoint: number | undefined;
}

/**
 * The outbound worker: claims due SMS jobs with a lease, sends each batch (one mail's numbers, one
 * gateway request) and records every number's outcome in one transaction, with any report to the
 * sender. Temporary failures go to the backup host at once when the request provably did not get
 * through (a failed host is skipped for a while), else back to the queue with backoff; account
 * refusals pause sending and probe; an SMS is given up exactly at its maximum age.
 *
 * An outcome the store cannot take (disk full, lock held) is owed: kept in memory and written before
 * anything else is claimed, so its SMS is never sent again by this process; if the process dies
 * first, the next start resumes the lease and counts the resend as a possible duplicate.
 */
export class Dispatcher extends WorkLoop<SmsBatch> {
  readonly #options: DispatcherOptions;
  readonly #clock: () => number;
  readonly #breaker: EndpointBreaker;
  readonly #pause: AccountPause;
  readonly #silence: GatewaySilence;
  #silenceTimer: NodeJS.Timeout | undefined;
  /** Outcomes the store refused, oldest first, and since when the first waits. */
  readonly #owed: Outcomes[] = [];
  #owedSince = 0;
  #recordingOwed: Promise<void> | undefined;

  constructor(options: DispatcherOptions) {
    const clock = options.clock ?? Date.now;
    const { store, gateway, owner, requestTimeoutMs } = options;
    const pause = new AccountPause(options.pauseProbeIntervalMs);
    super({
      name: 'dispatch',
      logger: options.logger,
      concurrency: options.maxConcurrentRequests,
      clock,
      claim: async (free) => {
        // Until the store took what it is owed, those SMS may look due (their lease ran out): claim nothing.
        await this.#recordOwed();
        const now = clock();
        const allowed = pause.allowance(now, free);
        if (allowed === 0) return [];
        if (pause.paused) pause.probeStarted();
        const batches = await store.claimDueSms({
          owner,
          now,
          leaseUntil: now + requestTimeoutMs + LEASE_MARGIN_MS,
          maxBatches: allowed,
          batchSize: gateway.capabilities.maxRecipientsPerRequest,
        });
        if (batches.length === 0) pause.probeSkipped();
        return batches;
      },
      process: (batch) => this.#sendBatch(batch),
      nextDueAt: async () => {
        const due = await store.nextSmsDueAt();
        const probe = pause.nextProbeAt;
        return due === undefined || probe === undefined ? due : Math.max(due, probe);
      },
    });
    this.#options = options;
    this.#clock = clock;
    this.#breaker = new EndpointBreaker(gateway.endpoints.length, options.failoverRecoveryMs);
    this.#pause = pause;
    this.#silence = new GatewaySilence(SILENCE_WARN_MS, options.logger);
  }

  override start(): void {
    super.start();
    this.#silenceTimer ??= setInterval(() => this.#silence.check(this.#clock()), SILENCE_CHECK_INTERVAL_MS);
    this.#silenceTimer.unref();
  }

  /**
   * Claims nothing from now on; waits for the requests in flight at most `graceMs` and records their
   * outcomes; then gives the store one last chance to take what it is owed. What stays unrecorded
   * keeps its lease: the next start sends it again and counts it as a possible duplicate.
   */
  override async stop(graceMs?: number): Promise<void> {
    await super.stop(graceMs);
    clearInterval(this.#silenceTimer);
    const owed = this.#owed.reduce((sum, item) => sum + item.outcomes.length, 0);
    await this.#recordOwed().catch((error: unknown) =>
      this.#options.logger.error(
        { err: error, sms: owed },
        'dispatch: gateway outcomes could not be recorded before the stop; those SMS are sent again at the next start, counted as possible duplicates',
      ),
    );
  }

  async #sendBatch(batch: SmsBatch): Promise<void> {
    const log = this.#options.logger.child({ msgId: batch.message.id });
    const giveUpAt = deadline(startOf(batch.message), this.#options.retry);
    const now = this.#clock();
    const live = now < giveUpAt ? batch.sms : [];
    const expired: Decision[] = now < giveUpAt ? [] : batch.sms.map((sms) => ({ sms, classified: expiredOutcome(sms), endpoint: undefined }));
    const attempted = live.length > 0 ? await this.#attempt(batch.message, live, giveUpAt, log) : [];
    if (this.abandoned) {
      log.info({ numbers: batch.sms.length }, 'dispatch: request still in flight when the stop gave up waiting; the next start sends it again');
      return;
    }
    const decisions = [...expired, ...this.#ownAccountRefusals(batch.message, attempted, log)];
    // A batch on an account's own credentials says nothing about the relay's account.
    if (live.length === 0 || batch.message.gatewayAccount) this.#pause.probeSkipped();
    else this.#noteAccountState(decisions, log);
    const outcomes = await this.#outcomes(batch.message, decisions, log);
    try {
      await this.#options.store.recordSmsOutcomes(outcomes.outcomes, outcomes.mail);
    } catch (error) {
      if (this.#owed.length === 0) this.#owedSince = this.#clock();
      this.#owed.push(outcomes);
      log.error(
        { err: error, owedBatches: this.#owed.length },
        'dispatch: could not record the gateway outcome; it is kept until the store takes writes again, and the SMS is not sent again',
      );
      return;
    }
    this.#recorded(outcomes);
  }

  /** Writes what the store is owed, in one transaction; throws (keeping it owed) while the store fails. */
  #recordOwed(): Promise<void> {
    if (this.#owed.length === 0) return Promise.resolve();
    this.#recordingOwed ??= (async () => {
      const owed = [...this.#owed];
      await this.#options.store.recordSmsOutcomes(
        owed.flatMap((item) => item.outcomes),
        owed.flatMap((item) => item.mail),
      );
      this.#owed.splice(0, owed.length);
      for (const item of owed) this.#recorded(item);
      this.#options.logger.warn(
        { sms: owed.reduce((sum, item) => sum + item.outcomes.length, 0), owedMs: this.#clock() - this.#owedSince },
        'dispatch: gateway outcomes recorded now that the store takes writes again',
      );
    })().finally(() => {
      this.#recordingOwed = undefined;
    });
    return this.#recordingOwed;
  }

  #recorded({ outcomes, mail }: Outcomes): void {
    for (const outcome of outcomes) this.#options.metrics?.smsOutcomes.inc({ outcome: outcome.kind });
    if (mail.length > 0) this.#options.onMailQueued();
  }

  /**
   * Sends to the best endpoint, and at once to the next for the numbers whose outcome says the
   * request never reached a working host. Returns one decision per number.
   */
  async #attempt(message: StoredMessage, sms: readonly ClaimedSms[], giveUpAt: number, log: Logger): Promise<Decision[]> {
    const decisions: Decision[] = [];
    const order = this.#breaker.order(this.#clock());
    let pending = sms;
    for (const [position, endpoint] of order.entries()) {
      // The stop gave up on this batch: no request to the next host.
      if (this.abandoned) break;
      const gateway = this.#gatewayOf(message);
      const started = this.#clock();
      const ended = this.#silence.requested(gateway.endpoints[endpoint] ?? `endpoint ${endpoint}`, started);
      const result = await gateway.send(toSubmission(message, pending, giveUpAt, this.#options.sessions), endpoint).catch((error: unknown) => {
        // A send must not throw (its contract); if one does, it is no silence of the host.
        ended('dropped', this.#clock());
        throw error;
      });
      if (this.abandoned) {
        // The stop gave up on this request and closed the gateway under it: its end means nothing.
        ended('dropped', this.#clock());
        break;
      }
      ended(endingOf(result), this.#clock());
      logResult(log, this.#options.outcomes, result, pending.length, endpoint, this.#clock() - started);
      this.#options.metrics?.gatewaySeconds.observe({ result: result.kind === 'answered' ? 'answered' : result.code }, (this.#clock() - started) / 1000);
      const hasNext = position < order.length - 1;
      const failOver: ClaimedSms[] = [];
      let hostFailed = false;
      for (const entry of pending) {
        const classified = this.#options.outcomes.classifyRecipient(result, entry.number);
        hostFailed ||= classified.action === 'failover';
        if (classified.action === 'failover' && hasNext) failOver.push(entry);
        // Without a host left to fail over to, the SMS waits for its retry like any temporary failure.
        else decisions.push({ sms: entry, classified: classified.action === 'failover' ? { ...classified, action: 'retry' } : classified, endpoint });
      }
      if (hostFailed) this.#breaker.markFailed(endpoint, this.#clock());
      else if (result.kind === 'answered') this.#breaker.markWorking(endpoint);
      pending = failOver;
      if (pending.length === 0) break;
    }
    return decisions;
  }

  #gatewayOf(message: StoredMessage): Gateway {
    return (message.gatewayAccount ? this.#options.gatewayFor?.(message.gatewayAccount) : undefined) ?? this.#options.gateway;
  }

  /**
   * The gateway refusing an account's own credentials must not pause everyone else's SMS: that
   * account's SMS are retried on the backoff schedule instead (and bounce only at their maximum age).
   */
  #ownAccountRefusals(message: StoredMessage, decisions: readonly Decision[], log: Logger): Decision[] {
    if (!message.gatewayAccount) return [...decisions];
    return decisions.map((decision) => {
      if (decision.classified.action !== 'pause') return decision;
      log.error(
        { alert: 'gateway-account', account: message.gatewayAccount, code: decision.classified.code },
        `dispatch: the gateway refuses account ${message.gatewayAccount}'s credentials (${decision.classified.code}); its SMS are retried`,
      );
      return { ...decision, classified: { ...decision.classified, action: 'retry' } };
    });
  }

  /** An account refusal pauses sending (alerting once); any other answer ends a pause. */
  #noteAccountState(decisions: readonly Decision[], log: Logger): void {
    const refusal = decisions.find((decision) => decision.classified.action === 'pause');
    if (refusal) {
      const starts = this.#pause.refused(`${refusal.classified.code}: ${refusal.classified.reason}`, this.#clock());
      if (starts) {
        log.error(
          { alert: 'gateway-account', code: refusal.classified.code, probeEveryMs: this.#options.pauseProbeIntervalMs },
          `dispatch: sending paused, the gateway refuses the account (${refusal.classified.code}); the queue is kept and probed`,
        );
      }
      return;
    }
    const ended = this.#pause.answered();
    if (ended) {
      log.warn({ pausedMs: this.#clock() - ended.since, reason: ended.reason }, 'dispatch: the gateway accepts the account again; sending resumed');
    }
  }

  /** The outcome of each number, with the reports to its sender; logs each. */
  async #outcomes(message: StoredMessage, decisions: readonly Decision[], log: Logger): Promise<Outcomes> {
    const { report, retry, delayNoticeMs } = this.#options;
    const now = this.#clock();
    const outcomes: SmsOutcome[] = [];
    const reported: Record<Exclude<ReportKind, 'delivered'>, ReportedRecipient[]> = { failed: [], delayed: [], relayed: [] };
    for (const { sms, classified, endpoint } of decisions) {
      const outcome = this.#decide(message, sms, classified, now, endpoint);
      outcomes.push(outcome);
      const recipient: ReportedRecipient = { ...sms, category: classified.category, reason: classified.reason, code: classified.code };
      const to = maskNumber(sms.number);
      if (outcome.kind === 'sent') {
        reported.relayed.push(recipient);
      } else if (outcome.kind === 'retry') {
        if (now - startOf(message) >= delayNoticeMs) reported.delayed.push(recipient);
        log.info(
          { to, code: classified.code, action: classified.action, retryInMs: outcome.nextAttemptAt - now },
          `dispatch: SMS deferred: ${classified.reason}`,
        );
      } else {
        reported.failed.push(outcome.kind === 'expired' ? { ...recipient, ...EXPIRED } : recipient);
        log.warn({ to, code: classified.code, final: outcome.kind }, `dispatch: SMS ${outcome.kind}: ${classified.reason}`);
      }
    }
    const mail: NewOutgoingMail[] = [];
    for (const kind of ['failed', 'delayed', 'relayed'] as const) {
      if (reported[kind].length === 0) continue;
      const built = await report(kind, message, reported[kind], kind === 'delayed' ? deadline(startOf(message), retry) : undefined);
      if (built) mail.push(built);
    }
    return { outcomes, mail };
  }

  #decide(message: StoredMessage, sms: ClaimedSms, classified: Classified, now: number, endpoint: number | undefined): SmsOutcome {
    const { retry, random, gateway } = this.#options;
    if (endpoint === undefined) return { smsId: sms.id, kind: 'expired', error: classified.reason };
    if (classified.action === 'sent') {
      const via = gateway.endpoints.length > 1 ? `via ${gateway.endpoints[endpoint]}` : undefined;
      return {
        smsId: sms.id,
        kind: 'sent',
        providerId: classified.providerId ?? '',
        ...(classified.trackingId === undefined ? {} : { trackingId: classified.trackingId }),
        ...(via ? { note: via } : {}),
      };
    }
    const error = `${classified.code}: ${classified.reason}`;
    if (classified.action === 'fail') return { smsId: sms.id, kind: 'failed', error };
    const step = nextStep({ attempts: sms.attempts + 1, receivedAt: startOf(message), now, waitMs: this.#waitFor(classified) }, retry, random);
    if (step.kind === 'expire') return { smsId: sms.id, kind: 'expired', error: `${error}; given up at the maximum age` };
    return {
      smsId: sms.id,
      kind: 'retry',
      nextAttemptAt: step.at,
      error,
      // A pause is not this SMS's failure: its backoff does not grow while the account is refused.
      attempted: classified.action !== 'pause',
      possibleDuplicate: classified.action === 'ambiguous',
    };
  }

  /** A wait the provider or the pause decides; undefined means the backoff schedule. */
  #waitFor(classified: Classified): number | undefined {
    if (classified.action === 'delay' && classified.waitSeconds !== undefined) return providerDelayMs(classified.waitSeconds);
    if (classified.action === 'pause') return this.#options.pauseProbeIntervalMs;
    return undefined;
  }
}

function expiredOutcome(sms: ClaimedSms): Classified {
  return {
    action: 'fail',
    ...EXPIRED,
    reason: `the relay could not send it before it was too old to be useful${sms.attempts > 0 ? ` (${sms.attempts} attempts)` : ''}`,
  };
}

/**
 * When a message's life starts for retries, delay notices and expiry: its arrival, or the time its
 * sender scheduled it for (an SMS for tomorrow morning must not expire tonight).
 */
function startOf(message: StoredMessage): number {
  return Math.max(message.receivedAt, message.sendAt ?? 0);
}

function toSubmission(message: StoredMessage, sms: readonly ClaimedSms[], expiresAt: number, sessions: boolean): SmsSubmission {
  return {
    messageId: message.id,
    recipients: sms.map((entry) => entry.number),
    text: message.text,
    encoding: message.encoding,
    maxParts: message.maxParts,
    senderId: message.senderId,
    userContext: message.userContext,
    expiresAt,
    deliveryReport: true,
    ...(message.sendAt === undefined ? {} : { sendAt: message.sendAt }),
    ...(sessions ? { newSession: true } : {}),
  };
}

function endingOf(result: SubmissionResult): RequestEnding {
  if (result.kind !== 'transport') return 'answered';
  return result.phase === 'connect' ? 'unreachable' : 'unanswered';
}

function logResult(log: Logger, outcomes: OutcomeClassifier, result: SubmissionResult, numbers: number, endpoint: number, ms: number): void {
  const summary =
    result.kind === 'answered'
      ? `${result.results.filter((entry) => outcomes.classify('recipient', entry.code).action === 'sent').length}/${numbers} accepted`
      : result.code;
  log.info({ endpoint, numbers, result: result.kind, summary, ms }, 'dispatch: gateway answered');
}
