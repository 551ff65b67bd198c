import { isStoreFailure } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ReportedRecipient, ReportKind } from '../mailer/dsn.ts';
import type { PassingFailure } from '../providers/contract.ts';
import { maskNumber } from '../sms/numbers.ts';
import type { DueNotice, NewOutgoingMail, StoredMessage, Store } from '../store/types.ts';

/** Notices built per pass; the rest follow in the next pass at once. */
const NOTICES_PER_PASS = 50;
/**
 * A delivery report can make a notice due inside another write (a report that arrived before its
 * send result); this sweep finds those, and any left by a crash, without a signal.
 */
const SWEEP_INTERVAL_MS = 10_000;

export interface DeliveryNoticeOptions {
  readonly store: Store;
  readonly logger: Logger;
  readonly report: (kind: ReportKind, message: StoredMessage, recipients: readonly ReportedRecipient[]) => Promise<NewOutgoingMail | undefined>;
  readonly onMailQueued: () => void;
  /** The plain words for a delivery status code of the provider that sent to `number` (its route's, with routes). */
  readonly describeStatus: (code: number, number: string) => string;
  /** That provider's own words for the code, where the code is the relay's (`ProviderPlugin.statusCode`). */
  readonly statusCode?: (code: number, number: string) => string | undefined;
  /** Whose passing state that provider's code reports, if any (`ProviderPlugin.temporaryStatus`). */
  readonly temporaryStatus?: (code: number, number: string) => PassingFailure | undefined;
}

/**
 * Mails the sender what the network's delivery reports said, when the sender wants it: a final
 * failure by default, delivery when asked (NOTIFY=SUCCESS or `X-SMS-Delivery-Report: all`). The due
 * mark and the queued mail change in one transaction, and each notice has a once-key, so a crash
 * between building and recording sends it once, later.
 */
export class DeliveryNotices {
  readonly #options: DeliveryNoticeOptions;
  #running: Promise<void> | undefined;
  #again = false;
  /** A pass found the store unavailable and said so; quiet until a pass succeeds. */
  #storeDown = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: DeliveryNoticeOptions) {
    this.#options = options;
  }

  start(): void {
    this.#timer = setInterval(() => this.kick(), SWEEP_INTERVAL_MS);
    this.#timer.unref();
    this.kick();
  }

  kick(): void {
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#drain()
      .then(
        () => {
          this.#storeDown = false;
        },
        (error: unknown) => {
          // The store's outage is logged by the store's health (one line each way); a pass says it once, without a stack.
          if (isStoreFailure(error)) {
            if (!this.#storeDown)
              this.#options.logger.warn({ reason: error.message }, 'notices: the store is unavailable; passes are retried at each sweep until it answers');
            this.#storeDown = true;
            return;
          }
          this.#options.logger.error({ err: error }, 'notices: pass failed; retried at the next sweep');
        },
      )
      .finally(() => {
        this.#running = undefined;
        if (this.#again) {
          this.#again = false;
          this.kick();
        }
      });
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
  }

  async #drain(): Promise<void> {
    const { store, report, onMailQueued, logger } = this.#options;
    for (;;) {
      const due = await store.dueNotices(NOTICES_PER_PASS);
      if (due.length === 0) return;
      // One report per mail and kind: the numbers of a mail that fail together are told in one bounce.
      const groups = new Map<string, [DueNotice, ...DueNotice[]]>();
      for (const notice of due) {
        const key = `${notice.message.id} ${kindOf(notice)}`;
        const group = groups.get(key);
        if (group) group.push(notice);
        else groups.set(key, [notice]);
      }
      const built: Array<{ readonly notices: readonly DueNotice[]; readonly mail: NewOutgoingMail | undefined }> = [];
      for (const group of groups.values()) {
        const [first] = group;
        const mail = await report(
          kindOf(first),
          first.message,
          group.map((notice) => reported(notice, this.#options)),
        );
        // No report (a sender of this relay's own, which takes none): `report` has logged why; its marks are cleared all the same.
        const states = [...new Set(group.map((notice) => notice.state))].join('+');
        built.push({ notices: group, mail: mail && { ...mail, onceKey: `report:${group.map((notice) => notice.smsId).join(',')}:${states}` } });
      }
      const recorded = await store.recordNotices(built.map(({ notices, mail }) => ({ smsIds: notices.map((notice) => notice.smsId), mail })));
      const mailed = built.filter((group, index) => recorded[index] && group.mail);
      for (const notice of mailed.flatMap((group) => group.notices))
        logger.info(
          { msgId: notice.message.id, to: maskNumber(notice.recipient.number), state: notice.state, code: notice.code },
          'notices: delivery report mailed to the sender',
        );
      if (mailed.length > 0) onMailQueued();
      // A group some of whose SMS were locked (another relay recording them, or a commit touching one) or no longer due is
      // left: its rest is built again by the next pass (the next sweep, or at once when a report was applied meanwhile).
      if (recorded.includes(false)) return;
    }
  }
}

/** The report's category of a failure by whose passing state it was (src/mailer/dsn.ts gives each its status). */
const PASSING_CATEGORY: Readonly<Record<PassingFailure | 'permanent', string>> = {
  phone: 'network-temporary',
  network: 'network-busy',
  permanent: 'undeliverable',
};

const kindOf = (notice: DueNotice): ReportKind => (notice.state === 'delivered' ? 'delivered' : 'failed');

function reported(
  notice: DueNotice,
  { describeStatus, statusCode, temporaryStatus }: Pick<DeliveryNoticeOptions, 'describeStatus' | 'statusCode' | 'temporaryStatus'>,
): ReportedRecipient {
  const { recipient, state, code, message } = notice;
  const asked = message.reportAll && state === 'delivered' ? { notify: ['SUCCESS'] } : {};
  return {
    ...recipient,
    ...asked,
    // Sent, then not delivered: not the relay's giving up at the maximum age (`expired`), which the bounce words apart.
    category: state === 'expired' ? 'network-expired' : PASSING_CATEGORY[temporaryStatus?.(code, recipient.number) ?? 'permanent'],
    reason: describeStatus(code, recipient.number),
    code: statusCode?.(code, recipient.number) ?? `status ${code}`,
  };
}
