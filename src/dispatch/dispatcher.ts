import type { Gateway, SmsSubmission, SubmissionResult } from '../gateways/types.ts';
import type { Logger } from '../log.ts';
import type { FailedRecipient } from '../mailer/dsn.ts';
import { maskNumber } from '../sms/numbers.ts';
import type { ClaimedSms, NewOutgoingMail, SmsBatch, SmsOutcome, Store, StoredMessage } from '../store/types.ts';
import { providerDelayMs, retryDelay } from './backoff.ts';
import { type Classified, classifyRecipient } from './outcomes.ts';
import { WorkLoop } from '../work-loop.ts';

/** A lease outlives the longest request (connect + response timeouts) by this much. */
const LEASE_MARGIN_MS = 60_000;

export interface DispatcherOptions {
  readonly store: Store;
  readonly gateway: Gateway;
  readonly logger: Logger;
  /** Identifies this process's leases. */
  readonly owner: string;
  readonly maxConcurrentRequests: number;
  readonly requestTimeoutMs: number;
  readonly retryMinDelayMs: number;
  readonly retryMaxDelayMs: number;
  readonly maxAgeMs: number;
  /** Builds the bounce for numbers that failed for good (undefined when none may be sent). */
  readonly bounce: (message: StoredMessage, failures: readonly FailedRecipient[]) => Promise<NewOutgoingMail | undefined>;
  /** Called after bounces were queued, so the mailer can send them now. */
  readonly onMailQueued: () => void;
  readonly clock?: () => number;
}

/**
 * The outbound worker: claims due SMS jobs with a lease, sends each batch (one mail's numbers, one
 * gateway request) and records every number's outcome in one transaction. Concurrency is bounded by
 * `maxConcurrentRequests`; new mail wakes it through `kick()`, retries through the loop's timer;
 * `stop()` waits until the requests in flight are recorded.
 */
export class Dispatcher extends WorkLoop<SmsBatch> {
  readonly #options: DispatcherOptions;
  readonly #clock: () => number;

  constructor(options: DispatcherOptions) {
    const clock = options.clock ?? Date.now;
    const { store, gateway, owner, requestTimeoutMs } = options;
    super({
      name: 'dispatch',
      logger: options.logger,
      concurrency: options.maxConcurrentRequests,
      clock,
      claim: (free) => {
        const now = clock();
        return store.claimDueSms({
          owner,
          now,
          leaseUntil: now + requestTimeoutMs + LEASE_MARGIN_MS,
          maxBatches: free,
          batchSize: gateway.capabilities.maxRecipientsPerRequest,
        });
      },
      process: (batch) => this.#sendBatch(batch),
      nextDueAt: () => store.nextSmsDueAt(),
    });
    this.#options = options;
    this.#clock = clock;
  }

  async #sendBatch(batch: SmsBatch): Promise<void> {
    const { logger } = this.#options;
    const { message } = batch;
    const log = logger.child({ msgId: message.id });
    try {
      const decided = await this.#attempt(batch, log);
      await this.#record(batch, decided, log);
    } catch (error) {
      // The outcome could not be recorded: the lease runs out and the jobs are sent again then.
      log.error({ err: error }, 'dispatch: could not record the gateway outcome; the SMS will be retried when its lease ends');
    }
  }

  /**
   * Sends to the primary endpoint, and to the next one at once for the numbers whose outcome says
   * the request never reached a working host. Returns each number's final classification.
   */
  async #attempt(batch: SmsBatch, log: Logger): Promise<Map<ClaimedSms, Classified>> {
    const { gateway } = this.#options;
    const decided = new Map<ClaimedSms, Classified>();
    let pending: readonly ClaimedSms[] = batch.sms;
    for (let endpoint = 0; endpoint < gateway.endpoints.length && pending.length > 0; endpoint += 1) {
      const started = this.#clock();
      const result = await gateway.send(toSubmission(batch.message, pending), endpoint);
      logResult(log, result, pending, endpoint, this.#clock() - started);
      const failOver: ClaimedSms[] = [];
      for (const sms of pending) {
        const classified = classifyRecipient(result, sms.number);
        decided.set(sms, classified);
        if (classified.action === 'failover') failOver.push(sms);
      }
      pending = failOver;
    }
    return decided;
  }

  async #record(batch: SmsBatch, decided: ReadonlyMap<ClaimedSms, Classified>, log: Logger): Promise<void> {
    const { store, bounce, onMailQueued } = this.#options;
    const now = this.#clock();
    const outcomes: SmsOutcome[] = [];
    const failures: FailedRecipient[] = [];
    for (const [sms, classified] of decided) {
      const outcome = this.#decide(batch.message, sms, classified, now);
      outcomes.push(outcome);
      if (outcome.kind === 'failed' || outcome.kind === 'expired') {
        failures.push({ ...sms, category: classified.category, reason: classified.reason, code: classified.code, expired: outcome.kind === 'expired' });
        log.warn({ to: maskNumber(sms.number), code: classified.code, final: outcome.kind }, `dispatch: SMS ${outcome.kind}: ${classified.reason}`);
      } else if (outcome.kind === 'retry') {
        log.info(
          { to: maskNumber(sms.number), code: classified.code, action: classified.action, retryInMs: outcome.nextAttemptAt - now },
          `dispatch: SMS deferred: ${classified.reason}`,
        );
      }
    }
    const bounceMail = failures.length > 0 ? await bounce(batch.message, failures) : undefined;
    await store.recordSmsOutcomes(outcomes, bounceMail ? [bounceMail] : []);
    if (bounceMail) onMailQueued();
  }

  #decide(message: StoredMessage, sms: ClaimedSms, classified: Classified, now: number): SmsOutcome {
    const { retryMinDelayMs, retryMaxDelayMs, maxAgeMs } = this.#options;
    switch (classified.action) {
      case 'sent':
        return { smsId: sms.id, kind: 'sent', providerId: classified.providerId ?? '' };
      case 'fail':
        return { smsId: sms.id, kind: 'failed', error: `${classified.code}: ${classified.reason}` };
      default: {
        const wait =
          classified.action === 'delay' && classified.waitSeconds !== undefined
            ? providerDelayMs(classified.waitSeconds)
            : retryDelay(sms.attempts + 1, retryMinDelayMs, retryMaxDelayMs);
        const note = classified.action === 'ambiguous' ? ' (possible duplicate)' : '';
        if (now + wait > message.receivedAt + maxAgeMs) {
          return { smsId: sms.id, kind: 'expired', error: `${classified.code}: ${classified.reason}; gave up after the maximum age` };
        }
        return { smsId: sms.id, kind: 'retry', nextAttemptAt: now + wait, error: `${classified.code}: ${classified.reason}${note}`, attempted: true };
      }
    }
  }
}

function toSubmission(message: StoredMessage, sms: readonly ClaimedSms[]): SmsSubmission {
  return {
    messageId: message.id,
    recipients: sms.map((entry) => entry.number),
    text: message.text,
    encoding: message.encoding,
    maxParts: message.maxParts,
    senderId: message.senderId,
    userContext: message.userContext,
  };
}

function logResult(log: Logger, result: SubmissionResult, sms: readonly ClaimedSms[], endpoint: number, ms: number): void {
  const summary = result.kind === 'answered' ? `${result.results.filter((entry) => entry.status === 'accepted').length}/${sms.length} accepted` : result.code;
  log.info({ endpoint, numbers: sms.length, result: result.kind, summary, ms }, 'dispatch: gateway answered');
}
