import { setTimeout as sleep } from 'node:timers/promises';
import type { CountryCode } from 'libphonenumber-js';
import { isStoreFailure, QUOTED_CLIENT_TEXT_CHARS } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { newMessageId } from '../random-ids.ts';
import type { Gateway, RecipientResult } from '../providers/contract.ts';
import { PartReassembly } from '../sms/concat.ts';
import { maskContext, maskNumber, maskNumbersIn } from '../sms/numbers.ts';
import { nationalSender, nationalSenderAmong, type Placing, reportNumber, senderKind } from '../sms/senders.ts';
import type { PartReceiptStore, PartsOfSms } from '../store/part-receipts-types.ts';
import type { ReassemblyStore } from '../store/reassembly.ts';
import { storable } from '../store/storable.ts';
import type { DeliveryReportResult, ReplyStore } from '../store/types.ts';
import {
  type DeliveryState,
  type InboundKind,
  type InboundSink,
  type PlacedReports,
  type ReceivedOutcome,
  type ReceivedSms,
  REPORTED_ACCOUNT_FIX,
  type ReportOutcome,
  type StatusReport,
  type WrittenReport,
} from '../vocabulary.ts';
import { recordGatewayOptOut } from './opt-outs.ts';
import { buildReplyMail, type ReplyMailOptions } from './reply-mail.ts';
import { ReplyNotes, type ReplyNotesOptions } from './reply-notes.ts';
import type { ReplyTracking } from './tracking.ts';

/** What applying a report did: the store's answer about its SMS, or a long SMS's part moved while its SMS waits for the others. */
type Applied = DeliveryReportResult | { readonly kind: 'advanced' | 'duplicate'; readonly partOnly: true };

const lateCommitKey = (provider: string, providerId: string) => `${provider}\n${providerId}`;

/**
 * A commit the store failed to confirm (its connection cut while the database was stopped or silent:
 * the webhook got a 503) may still complete when the database runs again. Whether it did is looked up
 * this often: a database back is noticed within a second, at one small read a second.
 */
const LATE_COMMIT_CHECK_MS = 1_000;
/** How long that is looked for: beyond the longest outage a provider keeps retrying a webhook through. */
const LATE_COMMIT_WATCH_MS = 30 * 60_000;
/**
 * SMS looked for at once. Only the commits in flight when the store failed can complete late (a few
 * groups' worth), but every webhook refused during an outage asks: beyond this many, a late commit goes
 * without its line (the provider's retry is then answered as a repeat), rather than a read a second each.
 */
const MAX_LATE_COMMITS_WATCHED = 1_000;

/**
 * A delivery report that blames the provider account (StatusReport.accountWide) comes for every SMS sent
 * while it lasts: its alert line is repeated for the same provider and code at most this often, each
 * report still logged as a warning, so that a suspended account is one alert, not one per SMS.
 */
const ACCOUNT_ALERT_REPEAT_MS = 10 * 60_000;

/** The keywords and the refusal its mails' notes are read by (ReplyNotesOptions), and what it works with. */
export interface InboundOptions extends ReplyNotesOptions {
  readonly store: Pick<
    ReplyStore,
    | 'knowsInbound'
    | 'acceptInbound'
    | 'applyDeliveryReport'
    | 'numbersSentUnder'
    | 'numbersOfTracking'
    | 'quarantine'
    | 'recordOptOut'
    | 'isOptedOut'
    | 'optOutKeyword'
  > &
    Pick<PartReceiptStore, 'recordSentParts' | 'applyPartReceipt'>;
  readonly tracking: ReplyTracking;
  readonly replyMail: ReplyMailOptions;
  readonly logger: Logger;
  /** A reply mail was queued: the mailer can send it. */
  readonly onMailQueued: () => void;
  /** A delivery report moved an SMS forward: its sender may be due a notice. */
  readonly onReportApplied: () => void;
  readonly metrics?: Metrics | undefined;
  /**
   * A provider's own words for a report's code where the code is the relay's (ProviderPlugin.statusCode): a long
   * SMS's history says its deciding part's state as a whole SMS's does, never the relay's private encoding.
   */
  readonly statusCode?: ((provider: string, code: number) => string | undefined) | undefined;
  readonly clock?: () => number;
  /**
   * The country a sender `provider`'s gateway writes nationally is read in (sms.defaultRegion, else the provider's own):
   * undefined = kept as written.
   */
  readonly nationalRegion?: ((provider: string) => CountryCode | undefined) | undefined;
  /** Whether the relay has begun to stop (InboundSink.stopping): its mailer then sends nothing more until the next start. */
  readonly stopping?: (() => boolean) | undefined;
  /** Where the parts of long SMS are kept until whole (`inbound.reassemblyTimeout`); without it a part is mailed as it comes. */
  readonly reassembly?: { readonly store: ReassemblyStore; readonly timeoutMs: number } | undefined;
}

/**
 * What becomes of what phones and providers send back, whatever brought it (a webhook, a pushed
 * PDU). A received SMS: a repeat (the provider retrying) is recognised before any work; otherwise
 * its conversation is found, a STOP/START keyword noted, its mail built and signed, and all of it
 * committed at once. A delivery report moves its SMS forward. What cannot be understood is kept.
 * A long SMS sent in parts, each with its own receipt: the parts' ids and states are kept in the store
 * (whichever relay sent it or gets a receipt), and the SMS is failed or expired at the first part that
 * is, delivered once every part is, decided from the stored states alone.
 */
export class InboundService {
  readonly #options: InboundOptions;
  readonly #clock: () => number;
  readonly #reassembly: PartReassembly | undefined;
  /** The SMS (provider and id) whose commit is being looked for after the store failed to confirm it. */
  readonly #lateCommits = new Set<string>();
  /** What each SMS's mail says about replying to it (its STOP/START, an opt-out, a refusal). */
  readonly #notes: ReplyNotes;
  /** When each provider's account-wide code (`provider code`) was last alerted (ACCOUNT_ALERT_REPEAT_MS). */
  readonly #accountAlerts = new Map<string, number>();

  constructor(options: InboundOptions) {
    this.#options = options;
    this.#notes = new ReplyNotes(options);
    this.#clock = options.clock ?? monotonicNow();
    this.#reassembly =
      options.reassembly &&
      new PartReassembly({
        ...options.reassembly,
        clock: this.#clock,
        logger: options.logger,
        // A long SMS's text is decoded again from its parts' octets (UCS-2 may hold a NUL): storable as a single SMS's is.
        deliver: (provider, sms, latestContext) => this.#receive(provider, storable(sms), latestContext),
      });
  }

  /** Starts mailing long SMS whose missing parts are overdue (`inbound.reassemblyTimeout`). */
  start(): void {
    this.#reassembly?.start();
  }

  async stop(): Promise<void> {
    await this.#reassembly?.stop();
  }

  /** Mails the long SMS overdue by now (what the timer does; tests call it after moving the clock). */
  sweepParts(): Promise<void> {
    return this.#reassembly?.sweep() ?? Promise.resolve();
  }

  /** The sink a provider hands its SMS and reports to. */
  sinkFor(provider: string): InboundSink {
    return {
      received: async (given) => {
        const items = await this.#placed(provider, given.map(storable));
        for (const sms of items) if (sms.unreadTime) this.#unreadTime(provider, sms, sms.unreadTime);
        const outcomes = await Promise.all(
          items.map(({ part, ...sms }) =>
            part && part.total > 1 && this.#reassembly ? this.#addPart(this.#reassembly, provider, { ...sms, part }) : this.#receive(provider, sms),
          ),
        );
        for (const outcome of outcomes) this.#options.metrics?.inbound.inc({ kind: 'mo', result: outcome.status });
        return outcomes;
      },
      reported: async (items) => {
        const outcomes = await Promise.all(items.map((report) => this.#report(provider, storable(report))));
        for (const outcome of outcomes) this.#options.metrics?.inbound.inc({ kind: 'dr', result: outcome });
        if (outcomes.includes('advanced')) this.#options.onReportApplied();
        return outcomes;
      },
      placeReports: (items) => this.#placedReports(provider, items.map(storable)),
      numbersSentUnder: (providerId) => this.#options.store.numbersSentUnder(provider, storable(providerId)),
      // The body is kept as bytes (rows.ts quarantineColumn); the reason is text, and may quote what the provider sent.
      quarantine: (kind, reason, body) => this.#quarantine(provider, kind, storable(reason), body),
      stopping: () => this.#options.stopping?.() === true,
    };
  }

  /**
   * The SMS with their senders as the relay keeps numbers, so that it finds the conversation a mail to that number
   * opened and can be answered: one the gateway wrote nationally is, for an answer echoing a tracking id or context,
   * the number that tracking was sent to in that number's own country (an account texting UK and Irish phones places
   * both: nationalSenderAmong, one store read); else read in sms.defaultRegion or the provider's country
   * (nationalSender). One that is more than one of the tracking's numbers (FR's and NL's `0612345678`) is neither: it is
   * not guessed, as a guess would answer one phone's reply from the other's number, and reading it in the region would
   * guess the same. One still national is a warning: its mail cannot be answered, and only the default mailbox takes it.
   */
  #placed(provider: string, items: readonly ReceivedSms[]): Promise<ReceivedSms[]> {
    const region = this.#options.nationalRegion?.(provider);
    const tracked = async ({ number, trackingId, userContext }: ReceivedSms): Promise<Placing> => {
      const tracking = trackingId ?? userContext;
      return senderKind(number) === 'national' && tracking !== undefined
        ? nationalSenderAmong(number, await this.#options.store.numbersOfTracking(tracking))
        : { kind: 'none' };
    };
    return Promise.all(
      items.map(async (sms) => {
        const among = await tracked(sms);
        const number = among.kind === 'one' ? among.number : among.kind === 'ambiguous' ? sms.number : nationalSender(sms.number, region);
        if (senderKind(number) === 'national') {
          this.#options.logger.warn(
            { provider, providerId: sms.providerId, from: maskNumber(number), region },
            among.kind === 'ambiguous'
              ? 'inbound: the gateway wrote the sender as a national number that is more than one of the numbers its tracking was sent to (each in its own country): it finds no conversation and cannot be answered'
              : region === undefined
                ? 'inbound: the gateway wrote the sender as a national number and the relay has no region to read it in (set sms.defaultRegion): it finds no conversation and cannot be answered'
                : `inbound: the gateway wrote the sender as a national number that is none in ${region}: it finds no conversation and cannot be answered`,
          );
        }
        return number === sms.number ? sms : { ...sms, number };
      }),
    );
  }

  /**
   * Reports with their numbers as the relay keeps them: one the gateway wrote nationally, or not at all, is found by its
   * id among the numbers that id was sent under (reportNumber, one store read), as a reply's sender is placed (#placed).
   * One it cannot place, or that fits more than one of them, is named: its request is quarantined for it, as for an
   * unreadable item, rather than the report decide a phone it may not be about.
   */
  async #placedReports(provider: string, items: readonly WrittenReport[]): Promise<PlacedReports> {
    const region = this.#options.nationalRegion?.(provider);
    const placed = await Promise.all(
      items.map(async (report) => {
        const { number: written, providerId } = report;
        if (written !== undefined && senderKind(written) === 'number') return { ...report, number: written };
        const placing = reportNumber(written, await this.#options.store.numbersSentUnder(provider, providerId), region);
        if (placing.kind === 'one') return { ...report, number: placing.number };
        return unplacedReason(providerId, written, placing, region);
      }),
    );
    return {
      reports: placed.filter((report): report is StatusReport => typeof report !== 'string'),
      unplaced: placed.filter((reason): reason is string => typeof reason === 'string'),
    };
  }

  /**
   * An SMS whose gateway time the relay could not read is mailed with the time the relay got it (docs/replies.md); the
   * operator is told which field held what, as a gateway that changed its form would hold every SMS's time from then on.
   * The value as the info logs show free text: numbers masked, cut short.
   */
  #unreadTime(provider: string, sms: ReceivedSms, { field, value }: NonNullable<ReceivedSms['unreadTime']>): void {
    this.#options.logger.warn(
      { provider, providerId: sms.providerId, from: maskNumber(sms.number), field, value: maskNumbersIn(value.slice(0, QUOTED_CLIENT_TEXT_CHARS)) },
      "inbound: the gateway's time of an SMS is in a form the relay does not read: mailed with the time the relay got it",
    );
  }

  /**
   * `gateway` whose send results' part ids are kept before the result goes on (to the dispatcher),
   * so that a part's receipt on any relay finds its SMS; what receipts said before is applied then.
   */
  keepingParts(provider: string, gateway: Gateway): Gateway {
    return {
      provider: gateway.provider,
      capabilities: gateway.capabilities,
      endpoints: gateway.endpoints,
      ...(gateway.hostKeys === undefined ? {} : { hostKeys: gateway.hostKeys }),
      start: (context) => gateway.start(context),
      health: () => gateway.health(),
      close: () => gateway.close(),
      send: async (submission, endpoint) => {
        const result = await gateway.send(submission, endpoint);
        if (result.kind === 'answered') {
          const sent = result.results.filter((entry) => entry.providerId !== undefined && (entry.parts?.length ?? 0) > 1);
          await Promise.all(sent.map((entry) => this.#keepParts(provider, entry, submission.messageId)));
        }
        return result;
      },
    };
  }

  async #keepParts(provider: string, result: RecipientResult, msgId: string): Promise<void> {
    const { store, logger } = this.#options;
    const fields = { msgId, to: maskNumber(result.number), providerId: result.providerId, parts: result.parts?.length };
    try {
      const sms = await store.recordSentParts({
        provider,
        providerId: result.providerId ?? '',
        number: result.number,
        partIds: result.parts ?? [],
        sentAt: this.#clock(),
      });
      // Receipts of its parts may have come first (on this relay's bind, or on another relay).
      if (sms.reported.length > 0 && (await this.#decide(sms, fields))?.kind === 'advanced') this.#options.onReportApplied();
    } catch (error) {
      // The SMS was sent: its result must reach the dispatcher. Its parts' receipts then stay orphans and it stays "sent".
      logger.warn({ ...fields, err: error }, "inbound: the ids of a long SMS's parts could not be kept: its parts' receipts will not find it");
    }
  }

  /**
   * Keeps a part of a long SMS with the phone's latest conversation now: should it open its set, the set
   * goes where a whole SMS sent now would go, however long its other parts take.
   */
  async #addPart(
    reassembly: PartReassembly,
    provider: string,
    sms: ReceivedSms & { readonly part: NonNullable<ReceivedSms['part']> },
  ): Promise<ReceivedOutcome> {
    return reassembly.add(provider, sms, await this.#options.tracking.latestContext(sms.number, this.#clock()));
  }

  /**
   * Routes one SMS to its mailbox and commits it with its mail. `latestContext`: for an SMS begun
   * earlier (a long SMS), the phone's latest conversation then, which stands for its latest now.
   */
  async #receive(provider: string, sms: ReceivedSms, latestContext?: string): Promise<ReceivedOutcome> {
    const { store, tracking, logger } = this.#options;
    const seen = { providerId: sms.providerId, from: maskNumber(sms.number) };
    const now = this.#clock();
    const optOut = this.#notes.optOutOf(provider, sms);
    // The repeat check, the route's reads and whether the number is opted out go to the store together: a webhook waits
    // for one answer, not several in turn (#15). A START's mail says what it changed; any other's whether Reply reaches
    // the phone (the store remembers the many numbers not opted out).
    const routing = tracking.contextOf(sms).then(async (context) => ({ context, route: await tracking.route(sms.number, context, now, latestContext) }));
    const [known, { context, route }, optedOut] = await Promise.all([
      store.knowsInbound(provider, sms.providerId),
      routing,
      optOut?.action === 'stop' ? undefined : store.isOptedOut(sms.number),
    ]);
    if (known) return this.#repeated(seen);
    const id = newMessageId();
    // An SMS with no mailbox gets no mail to say a refusal in.
    const notes = await this.#notes.notes(sms.number, optOut, optedOut, route !== undefined, store);
    const built = route && (await buildReplyMail({ ...sms, userContext: context, receivedAt: now, ...notes }, route, this.#options.replyMail, id));
    // A context may be a number (a system keying its conversations by the customer's): masked as every number in the log.
    const fields = { inboundId: id, ...seen, context: context === undefined ? undefined : maskContext(context), optOut: optOut?.action };
    if (built) logger.debug({ ...fields, mailbox: route.mailbox }, 'inbound: reply mail built');
    const accepted = () => {
      if (!route) {
        logger.warn(fields, 'inbound: SMS received but no conversation or default mailbox: kept as undeliverable');
        return;
      }
      // The conversation's context is on the line of the mail it answers (`smtp: mail accepted`): one grep finds both.
      // Committed as the relay stops (it came before the stop began): this relay's mailer sends nothing more, so its mail waits
      // in the queue for another relay's on the same store, or this one's at the next start.
      logger.info(
        {
          ...fields,
          ...(route.conversation ? { context: maskContext(route.conversation.context) } : {}),
          via: route.conversation ? `conversation ${maskContext(route.conversation.context)}` : 'default mailbox',
        },
        this.#options.stopping?.() ? "inbound: SMS received; its mail is queued (this relay's mailer has stopped)" : 'inbound: SMS received and mailed',
      );
      this.#options.onMailQueued();
    };
    const { duplicate } = await store
      .acceptInbound({
        id,
        provider,
        providerId: sms.providerId,
        number: sms.number,
        text: sms.text,
        sentAt: sms.sentAt,
        userContext: context,
        receivedAt: now,
        optOut,
        route:
          route && built
            ? { mailbox: route.mailbox, context: route.conversation?.context, mail: built.mail, messageIdHeader: built.messageIdHeader }
            : undefined,
      })
      .catch((error: unknown) => {
        if (isStoreFailure(error)) void this.#lateCommit(provider, sms.providerId, accepted);
        throw error;
      });
    // Two deliveries of one SMS at the same moment both pass the check above; the store keeps one.
    if (duplicate) return this.#repeated(fields);
    // The provider's retry was committed: the earlier attempt was not, and this one's line says it all.
    this.#lateCommits.delete(lateCommitKey(provider, sms.providerId));
    accepted();
    return route ? { status: 'accepted', id } : { status: 'undeliverable', id };
  }

  /**
   * Looks, until the store answers, whether an SMS whose commit it failed to confirm was committed
   * after all, and if so logs it as received (`accepted`) as a commit in time would have: without it
   * the SMS and its mail were in the store with no line saying so.
   */
  async #lateCommit(provider: string, providerId: string, accepted: () => void): Promise<void> {
    const key = lateCommitKey(provider, providerId);
    if (this.#lateCommits.has(key) || this.#lateCommits.size >= MAX_LATE_COMMITS_WATCHED) return;
    this.#lateCommits.add(key);
    try {
      for (let waited = 0; waited < LATE_COMMIT_WATCH_MS; waited += LATE_COMMIT_CHECK_MS) {
        await sleep(LATE_COMMIT_CHECK_MS, undefined, { ref: false });
        if (!this.#lateCommits.has(key)) return;
        const known = await this.#options.store.knowsInbound(provider, providerId).catch(() => undefined);
        if (known === undefined) continue;
        if (known) accepted();
        return;
      }
    } finally {
      this.#lateCommits.delete(key);
    }
  }

  #repeated(fields: object): ReceivedOutcome {
    this.#options.logger.info(fields, 'inbound: SMS received again (the provider retried): already stored, no second mail');
    return { status: 'duplicate' };
  }

  async #report(provider: string, { optedOut, accountWide, fix, ...report }: StatusReport): Promise<ReportOutcome> {
    const receivedAt = this.#clock();
    const fields = { providerId: report.providerId, to: maskNumber(report.number), code: report.code, state: report.state };
    const applied = await this.#applyReport(provider, report, receivedAt, fields);
    // Only a report that moved its SMS keeps its opt-out: a repeat or a stale one says nothing new (a START texted
    // since stands), and an orphan's SMS is not known yet (the next send to the number meets the opt-out again).
    const moved = applied.kind === 'advanced' && !('partOnly' in applied) ? applied : undefined;
    const sender = senderOf(applied);
    const account = sender === NOT_YET_KNOWN ? undefined : sender.account;
    // A repeat (the provider posting the same report again) was alerted at its first delivery.
    if (accountWide && applied.kind !== 'duplicate') this.#accountWide(provider, report.code, fix ?? REPORTED_ACCOUNT_FIX, receivedAt, sender, fields);
    if (optedOut !== undefined && moved !== undefined) {
      // A user's own gateway account's opt-outs are that account's, not the relay's: RCPT would refuse every sender (as dispatch keeps them).
      if (account === undefined) {
        // Dated when the gateway says it happened, else when its SMS was sent (a Twilio callback carries no time), and
        // never before that send: a refusal comes after its send. An opt-out dated at or before the number's last START
        // does not count. Not the report's arrival: a refusal of an SMS sent before a START, reported after it, would
        // opt out for good a phone just told it is subscribed again (RCPT refuses its every mail, so nothing is sent to
        // show otherwise), where a missed later STOP mends itself: the next send's refusal is dated after the START.
        const opted = { number: report.number, code: optedOut.code, at: Math.max(optedOut.at ?? moved.sentAt ?? receivedAt, moved.sentAt ?? 0) };
        await recordGatewayOptOut(this.#options.store, opted, this.#options.logger, 'inbound', { providerId: report.providerId });
      } else {
        this.#options.logger.info(
          { ...fields, account },
          `inbound: the gateway says the number opted out of account ${account}'s own messages: not a STOP for the relay's`,
        );
      }
    }
    return applied.kind;
  }

  async #applyReport(provider: string, { part, ...report }: StatusReport, receivedAt: number, fields: object): Promise<Applied> {
    const { logger } = this.#options;
    // A receipt naming its SMS and its parts is about one part: it never speaks for the whole SMS alone.
    if (part?.of !== undefined && part.of > 1) return this.#partReport(provider, { ...report, part }, receivedAt, fields);
    const result = await this.#options.store.applyDeliveryReport({ provider, ...report, receivedAt });
    // An id that is no SMS may be a part of one; a repeat may be a part's whose first delivery did not get that far.
    if (part && (result.kind === 'orphan' || result.kind === 'duplicate')) {
      const outcome = await this.#partReport(provider, { ...report, part }, receivedAt, fields);
      if (outcome.kind !== 'orphan') return outcome;
    }
    if (result.kind === 'orphan')
      logger.info(fields, 'inbound: delivery report for an id not (yet) recorded: kept and matched when it is, or dropped after inbound.orphanReportTtl');
    else if (result.kind === 'advanced') {
      this.#options.metrics?.deliveryStates.inc({ state: report.state });
      logger.info({ msgId: result.messageId, ...fields, smsId: result.smsId }, 'inbound: delivery report applied');
    } else logger.debug({ ...fields, result: result.kind }, 'inbound: delivery report changes nothing');
    return result;
  }

  /**
   * A report that blames the provider account: an alert, as a send refused for the account gets (ACCOUNT_ALERT_REPEAT_MS),
   * naming the user's account when its own credentials sent the SMS, as dispatch's alert does, and saying so when
   * whose sent it is not known yet (an orphan: its SMS's send result not recorded yet).
   */
  #accountWide(provider: string, code: number, fix: string, now: number, sender: Sender, fields: object): void {
    const account = sender === NOT_YET_KNOWN ? undefined : sender.account;
    const key = `${provider} ${sender === NOT_YET_KNOWN ? NOT_YET_KNOWN : (account ?? '')} ${code}`;
    const last = this.#accountAlerts.get(key);
    const whose =
      sender === NOT_YET_KNOWN
        ? "a gateway account not yet known (the relay's or a user's own: the report's SMS is not matched yet)"
        : account === undefined
          ? "the gateway's account"
          : `account ${account}'s own gateway account`;
    const words = `inbound: a delivery report says ${whose} or sender cannot send (${provider} status ${code}): every SMS sent meets it; ${fix}`;
    const line = { ...fields, provider, ...(account === undefined ? {} : { account }) };
    if (last !== undefined && now - last < ACCOUNT_ALERT_REPEAT_MS) {
      this.#options.logger.warn(line, words);
      return;
    }
    this.#accountAlerts.set(key, now);
    this.#options.logger.error({ alert: 'gateway-account', ...line }, words);
  }

  /** One part's receipt: kept with its part; its SMS moves once its parts' states decide. */
  async #partReport(
    provider: string,
    report: StatusReport & { readonly part: NonNullable<StatusReport['part']> },
    receivedAt: number,
    fields: object,
  ): Promise<Applied> {
    const { part } = report;
    const result = await this.#options.store.applyPartReceipt({
      provider,
      partId: part.id,
      // The part's id is the report's (no SMS named): the id the part may have been recorded under before is its too.
      ...(part.of === undefined && part.id === report.providerId && report.formerId !== undefined ? { formerPartId: report.formerId } : {}),
      number: report.number,
      state: report.state,
      code: report.code,
      receivedAt,
      sms: part.of === undefined ? undefined : { providerId: report.providerId, parts: part.of },
    });
    if (result.kind === 'unknown') return { kind: 'orphan' };
    const decided = await this.#decide(result.sms, { ...fields, partId: part.id }, result.changed);
    if (decided !== undefined) return decided;
    // A part's words that decide nothing (a state word the gateway's own, an unknown one) go in the SMS's
    // history as a whole SMS's do; a repeat of them is a repeat there too. Only a state not final: a final
    // one is the parts' to decide.
    if (report.said !== undefined && (report.state === 'sent' || report.state === 'queued')) {
      const { providerId, number } = result.sms;
      await this.#options.store.applyDeliveryReport({ provider, providerId, number, state: report.state, code: report.code, said: report.said, receivedAt });
    }
    return { kind: result.changed ? 'advanced' : 'duplicate', partOnly: true };
  }

  /**
   * Applies the SMS's state once its parts decide it; undefined while they do not yet. Each receipt is an
   * info line, one that changed nothing too (`changed` false: a repeat, or a state its part has passed):
   * a long SMS that stays "sent" shows which receipts came.
   */
  async #decide(sms: PartsOfSms, fields: object, changed = true): Promise<DeliveryReportResult | undefined> {
    const { logger } = this.#options;
    const decided = stateOfParts(sms);
    const progress = { ...fields, smsProviderId: sms.providerId, receiptsAwaited: sms.receiptsAwaited, reported: sms.reported.length };
    if (decided === undefined) {
      logger.info(
        progress,
        changed
          ? "inbound: a long SMS's part reported; the SMS waits for its other parts"
          : "inbound: a long SMS's part reported again with nothing new (a repeat, or a state the part has passed); the SMS waits for its other parts",
      );
      return undefined;
    }
    // The parts keep their codes, not their words: the provider says them again.
    const said = this.#options.statusCode?.(sms.provider, decided.code);
    const result = await this.#options.store.applyDeliveryReport({
      provider: sms.provider,
      providerId: sms.providerId,
      number: sms.number,
      ...decided,
      ...(said === undefined ? {} : { said }),
      receivedAt: this.#clock(),
    });
    if (result.kind === 'advanced') {
      this.#options.metrics?.deliveryStates.inc({ state: decided.state });
      logger.info({ msgId: result.messageId, ...progress, ...decided, smsId: result.smsId }, "inbound: a long SMS's parts decided its delivery state");
    } else logger.info({ ...progress, ...decided, result: result.kind }, "inbound: a long SMS's parts decided what its delivery state already says");
    return result;
  }

  async #quarantine(provider: string, kind: InboundKind, reason: string, body: Buffer): Promise<void> {
    const quarantineId = await this.#options.store.quarantine({ receivedAt: this.#clock(), provider, kind, reason, body });
    this.#options.metrics?.inbound.inc({ kind, result: 'quarantined' });
    this.#options.logger.warn(
      // The reason may quote the request (a status, a field): its numbers masked as every info line's; the store keeps it whole.
      { provider, kind, reason: maskNumbersIn(reason), quarantineId },
      'inbound: request not understood: quarantined (smsrelay quarantine show <quarantineId>)',
    );
  }
}

/** A report whose SMS the store does not know (yet): whose gateway account sent it is not known either. */
const NOT_YET_KNOWN = 'not-yet-known';

/**
 * Why #placedReports quarantines a report reportNumber did not place: named by its id, never its number (the reason is
 * shown and kept as the quarantine's).
 */
function unplacedReason(providerId: string, written: string | undefined, placing: Placing, region: CountryCode | undefined): string {
  const report = `the report for id "${providerId}"`;
  if (written === undefined) {
    return placing.kind === 'ambiguous'
      ? `${report} names no number, and that id was sent to more than one number: the relay cannot tell which one it is about`
      : `${report} names no number, and that id names no SMS the relay sent (yet) to take it from`;
  }
  if (placing.kind === 'ambiguous') {
    return `${report} writes its number nationally, as more than one of the numbers that id was sent to (each in its own country): the relay cannot tell which one it is about`;
  }
  return region === undefined
    ? `${report} writes its number nationally, as none of the numbers that id was sent to, and the relay has no region to read it in (set sms.defaultRegion)`
    : `${report} writes its number nationally, as none of the numbers that id was sent to nor a number in ${region}`;
}

/** Whose gateway account sent a report's SMS: a user's own (`account`), the relay's (`account` undefined), or not known yet. */
type Sender = { readonly account: string | undefined } | typeof NOT_YET_KNOWN;

function senderOf(applied: Applied): Sender {
  // A long SMS's part is matched by its parts' ids, which do not say whose account sent it.
  if ('partOnly' in applied || applied.kind === 'orphan') return NOT_YET_KNOWN;
  if (applied.kind === 'advanced') return { account: applied.gatewayAccount };
  return applied.sms === undefined ? NOT_YET_KNOWN : { account: applied.sms.gatewayAccount };
}

/**
 * A long SMS's state from its parts' receipts, oldest first: failed or expired at the first part that
 * is, delivered once every part is (with the last receipt's code); undefined while it is on its way.
 */
function stateOfParts(sms: PartsOfSms): { readonly state: DeliveryState; readonly code: number } | undefined {
  const failed = sms.reported.find((part) => part.state === 'failed' || part.state === 'expired');
  if (failed) return { state: failed.state, code: failed.code };
  const delivered = sms.reported.filter((part) => part.state === 'delivered');
  const last = delivered.at(-1);
  return last && delivered.length >= sms.receiptsAwaited ? { state: 'delivered', code: last.code } : undefined;
}

/**
 * Milliseconds that never repeat: two SMS from one phone in the same millisecond still order, so
 * "the conversation the phone used last" has one answer.
 */
function monotonicNow(): () => number {
  let last = 0;
  return () => {
    last = Math.max(Date.now(), last + 1);
    return last;
  };
}
