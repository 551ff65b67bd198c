import { RELAY_ERRORS, RelayError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { REAL_TIMERS, type Timers } from '../timers.ts';
import type { Store, StoreHealth } from './types.ts';

/** How to get a usable SQLite store again once its file is damaged (docs/operations.md, "Health"). */
export const DAMAGED_STORE_FIX =
  'stop the relay, move it and its -wal and -shm aside, put the last `smsrelay backup` copy in its place (or recover what it holds with `sqlite3 <file> .recover`), start the relay';

/**
 * How long commits must keep succeeding before an outage is logged as over. As a database goes away its
 * pooled connections fail one by one while a commit on one still open succeeds: each flip was a pair of
 * lines (6 in 40 ms). Readiness follows each flip at once; only the log waits for the outage to be over.
 */
export const RECOVERY_SETTLED_MS = 1_000;

/**
 * The store's health as the relay acts on it (docs/operations.md, "Health"). Failing commits make the relay
 * not ready at once and ready again with the next commit that shows mail is taken (a mail's or the write
 * probe's: group-commit.ts), and are
 * logged once when they start and once when they have ended (RECOVERY_SETTLED_MS). A lost store file stays lost: mail and
 * webhooks are refused up front, and the line that says so names the copy to restore.
 */
export class StoreHealthMonitor {
  #health: StoreHealth = { state: 'ok' };
  /** The outage logged as begun and not yet as ended; `settling` while commits succeed again but not yet for RECOVERY_SETTLED_MS. */
  #outage: { readonly since: number; settling?: unknown } | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly timers: Timers = REAL_TIMERS,
  ) {}

  /** Whether commits succeed now (the relay is not ready while they fail). */
  get ok(): boolean {
    return this.#health.state === 'ok';
  }

  /** What the store thread reports. Readiness follows every report at once; the log one line per outage each way. */
  update(health: StoreHealth): void {
    const before = this.#health;
    this.#health = health;
    const outage = this.#outage;
    if (health.state === 'failing' && before.state === 'ok') {
      if (outage) {
        // Still the same outage: it had not stayed over for RECOVERY_SETTLED_MS.
        if (outage.settling !== undefined) this.timers.clearTimeout(outage.settling);
        outage.settling = undefined;
      } else {
        this.#outage = { since: this.timers.now() };
        // The answers named are the catalogue's for the commit's failure, as the SMTP reply and the webhook's status are.
        const { smtp, enhanced, http } = RELAY_ERRORS[health.code];
        this.logger.error(
          { code: health.code, reason: health.reason, alert: 'store' },
          `store: commits fail: not ready (mail ${smtp} ${enhanced}, webhooks ${http}) until one succeeds`,
        );
      }
    } else if (health.state === 'ok' && before.state === 'failing') {
      if (outage && outage.settling === undefined) {
        const settling = this.timers.setTimeout(() => {
          this.#outage = undefined;
          this.logger.info({ outageMs: this.timers.now() - outage.since }, 'store: commits succeed again: ready');
        }, RECOVERY_SETTLED_MS);
        settling.unref?.();
        outage.settling = settling;
      }
    } else if (health.state === 'damaged') {
      this.logger.error(
        { reason: health.reason, alert: 'store' },
        `store: damaged: ${health.reason}; refusing mail (451) and webhooks (503) from now on: ${DAMAGED_STORE_FIX}`,
      );
    } else if (health.state === 'lost' && health.recovery && 'file' in health.recovery) {
      this.logger.error(
        { reason: health.reason, recovery: health.recovery.file, alert: 'store' },
        `store: lost: ${health.reason}; refusing mail (451) and webhooks (503) from now on; everything accepted is saved in ${health.recovery.file}: stop the relay, put that file back as the store (smsrelay.db in the data directory), start it`,
      );
    } else if (health.state === 'lost' && health.recovery && !(before.state === 'lost' && before.recovery && 'error' in before.recovery)) {
      this.logger.error(
        { reason: health.reason, recoveryError: 'error' in health.recovery ? health.recovery.error : undefined, alert: 'store' },
        `store: lost: ${health.reason}; refusing mail (451) and webhooks (503) from now on; copying what was accepted failed: it is only in this running process: keep it running and make room; the copy is tried again with each /readyz`,
      );
    }
  }

  /**
   * A store unusable until the relay is restarted on another file (lost, damaged), in an operator's words: what is
   * refused, that nothing done meanwhile is kept, and what to do, as the `store: lost` line and docs/operations.md
   * ("Health") say it; undefined otherwise (failing commits pass by themselves).
   */
  get lasting(): string | undefined {
    const health = this.#health;
    const refused = 'the relay refuses every mail (451) and webhook (503) and keeps nothing written meanwhile until it is restarted';
    if (health.state === 'damaged')
      return `The store is damaged (${health.reason}): ${refused} on a good store: ${DAMAGED_STORE_FIX} (docs/operations.md#health).`;
    if (health.state !== 'lost') return undefined;
    const recovery = health.recovery;
    const restore =
      recovery === undefined
        ? 'on the copy of everything accepted, being written now: the log line "store: lost" names it and how to restore it'
        : 'file' in recovery
          ? `on the copy of everything accepted, ${recovery.file}: stop the relay, delete smsrelay.db-wal and smsrelay.db-shm in the data directory, move that file there as smsrelay.db, start the relay`
          : 'on a copy, which could not be written yet: what was accepted is only in this running process: keep the relay running and make room (the log line "store: lost" says more)';
    return `The store is lost (${health.reason}): ${refused} ${restore} (docs/operations.md#health).`;
  }

  /** Refuses traffic up front once the store is lost (every commit would be refused anyway). */
  get fault(): RelayError | undefined {
    return this.#health.state === 'lost' || this.#health.state === 'damaged'
      ? new RelayError('STORE_UNAVAILABLE', `Temporary local problem: the message store is unavailable (${this.#health.reason}); try again later`)
      : undefined;
  }

  /**
   * For /readyz: why the store takes no traffic, undefined when it does. While commits fail, a
   * (rate-limited) write probe may find they succeed again; a lost store whose copy failed tries the
   * copy again. The words name no file or server: /readyz answers whoever reaches the HTTP port, and
   * the error line has the details.
   */
  async notReady(store: Pick<Store, 'probeWrites'>): Promise<string | undefined> {
    if (this.#health.state !== 'ok') await store.probeWrites().catch(() => undefined);
    switch (this.#health.state) {
      case 'ok':
        return undefined;
      case 'failing':
        return 'commits fail (see the log line "store: commits fail")';
      case 'lost':
        return 'the store file or its write-ahead log was deleted or replaced under the running relay (see the log line "store: lost")';
      case 'damaged':
        return 'the store file is damaged (see the log line "store: damaged")';
    }
  }
}
