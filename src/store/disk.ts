import { statfs } from 'node:fs/promises';
import type { Logger } from '../log.ts';

/** How often free space is looked at; a busy relay writes a few MB a minute at most. */
const CHECK_INTERVAL_MS = 10_000;

/**
 * Free space in the data directory against a watermark. Below it the relay stops taking new mail and
 * webhooks (they are retried by their senders) instead of failing in the middle of a commit, and
 * takes them again once space is freed.
 */
export class DiskWatermark {
  #full = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly directory: string,
    private readonly minFreeBytes: number,
    private readonly logger: Logger,
    /** Called when the verdict flips either way. */
    private readonly onChange: () => void = () => undefined,
  ) {}

  get full(): boolean {
    return this.#full;
  }

  /** Checks now (so the first client already meets the verdict), then every CHECK_INTERVAL_MS; never with no watermark (0: off). */
  async start(): Promise<void> {
    if (this.minFreeBytes === 0) return;
    await this.check();
    this.#timer = setInterval(() => void this.check(), CHECK_INTERVAL_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async check(): Promise<void> {
    try {
      const stats = await statfs(this.directory);
      const free = stats.bavail * stats.bsize;
      const full = free < this.minFreeBytes;
      if (full === this.#full) return;
      this.#full = full;
      if (full)
        this.logger.error(
          { directory: this.directory, freeBytes: free, minFreeBytes: this.minFreeBytes, alert: 'disk' },
          `relay: disk nearly full in ${this.directory}: refusing new mail and webhooks until space is freed there (store.minFreeMegabytes)`,
        );
      else this.logger.info({ freeBytes: free }, 'relay: disk space freed: taking mail again');
      this.onChange();
    } catch (error) {
      this.logger.warn({ err: error }, 'relay: cannot read free disk space');
    }
  }
}
