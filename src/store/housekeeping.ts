import { failureLogFields, isStoreFailure } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { BuiltInProviderName } from '../vocabulary.ts';
import type { Store } from './types.ts';

/** How often the store is swept for what outlived its time (retention, orphan reports: days, not minutes). */
const SWEEP_INTERVAL_MS = 60 * 60_000;
/** The provider whose unmatched receipts may be a setting's fault (gateway.receiptIdFormat): its line names it. */
const SMPP_PROVIDER: BuiltInProviderName = 'smpp';

export interface HousekeepingOptions {
  readonly store: Pick<Store, 'purgeContent' | 'expireOrphanReports' | 'pruneSharedState' | 'expireSentParts'>;
  readonly logger: Logger;
  /** `store.retention`: contents older than this are erased once finished; undefined = kept. */
  readonly retentionMs: number | undefined;
  /** `inbound.orphanReportTtl`: delivery reports that matched no SMS for this long are dropped, and the part ids of long SMS sent that long ago. */
  readonly orphanReportTtlMs: number;
  /** `gateway.failoverRecovery`: a failed gateway host's row outlives it (hostFailureKeptMs). */
  readonly failoverRecoveryMs: number;
  readonly clock?: () => number;
}

/** Sweeps the store at start and then hourly; a failed sweep is tried again at the next. */
export class Housekeeping {
  readonly #options: HousekeepingOptions;
  readonly #clock: () => number;
  #timer: NodeJS.Timeout | undefined;
  /** The sweep under way, if any: the stop waits for it, as the store closes after. */
  #sweeping: Promise<void> | undefined;

  constructor(options: HousekeepingOptions) {
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
  }

  start(): void {
    this.#sweepInBackground();
    this.#timer = setInterval(() => this.#sweepInBackground(), SWEEP_INTERVAL_MS);
    this.#timer.unref();
  }

  /** No sweep starts from now on; one under way ends first (a failed start closed the store under the first: a warning per step). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#sweeping;
  }

  #sweepInBackground(): void {
    const sweeping = this.sweep().finally(() => {
      if (this.#sweeping === sweeping) this.#sweeping = undefined;
    });
    this.#sweeping = sweeping;
  }

  async sweep(): Promise<void> {
    const { store, logger, retentionMs: retention, orphanReportTtlMs: ttl } = this.#options;
    const now = this.#clock();
    // The store failing is an outage its health logs once (store/health.ts): its code and reason, no stack; anything else is a bug, with its stack.
    const failed = (what: string) => (error: unknown) =>
      logger[isStoreFailure(error) ? 'warn' : 'error'](failureLogFields(error), `${what} failed; tried again later`);
    if (retention !== undefined) {
      await store
        .purgeContent(now - retention, now)
        .then((rows) => rows > 0 && logger.info({ rows, retention }, 'relay: message contents past their retention erased'), failed('relay: retention purge'));
    }
    await store.expireOrphanReports(now - ttl).then((dropped) => {
      for (const [provider, reports] of Object.entries(dropped)) {
        // An info line, SMPP's naming the setting that mends an SMSC writing its receipts' ids otherwise than its
        // submit_sm_resp (another base). Not a warning: a long SMS's part receipts leave rows under their part ids
        // that the part path answered, so SMPP's count is not all SMS whose fate is unknown.
        logger.info(
          { provider, reports, ttl },
          provider === SMPP_PROVIDER
            ? "inbound: SMPP delivery receipts that matched no SMS within inbound.orphanReportTtl dropped: their submit_sm were sent again under other ids, a long SMS's parts, or the SMSC's receipts write ids otherwise than its submit_sm_resp (check gateway.receiptIdFormat)"
            : 'inbound: delivery reports that matched no SMS within inbound.orphanReportTtl dropped (their requests were resent under other ids)',
        );
      }
    }, failed('inbound: dropping expired orphan delivery reports'));
    // A part's receipt may come as late as an orphan report may: as long as the gateway tries to deliver (Vonage: up to 7 days).
    await store
      .expireSentParts(now - ttl)
      .then(
        (parts) => parts > 0 && logger.debug({ parts, ttl }, 'inbound: the part ids of long SMS sent more than inbound.orphanReportTtl ago forgotten'),
        failed('inbound: forgetting old part ids of long SMS'),
      );
    // Mails counted against sending limits and failed logins, past every window, and failed gateway hosts no relay skips
    // any more (the store's own clock on PostgreSQL).
    await store
      .pruneSharedState(now, this.#options.failoverRecoveryMs)
      .then(
        (rows) => rows > 0 && logger.debug({ rows }, 'relay: sending-limit counts, failed logins and failed gateway hosts older than a day pruned'),
        failed('relay: pruning old sending-limit counts, failed logins and failed gateway hosts'),
      );
  }
}
