import { failureLogFields, type RelayErrorCode } from '../errors.ts';
import type { Gateway, SmsSubmission, SubmissionResult } from '../providers/contract.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { ReportedRecipient, ReportKind } from '../mailer/dsn.ts';
import { maskNumber, maskNumbersIn } from '../sms/numbers.ts';
import { lateAnswerLine, OwedOutcomes, type OwedWords } from '../owed-outcomes.ts';
import { Takeovers } from '../takeovers.ts';
import type { ClaimedSms, NewOutgoingMail, SmsBatch, SmsOutcome, Store, StoredMessage } from '../store/types.ts';
import { WorkLoop } from '../work-loop.ts';
import { recordGatewayOptOut } from '../replies/opt-outs.ts';
import { EndpointBreaker } from './endpoints.ts';
import { TLS_CERTIFICATE } from '../providers/outcome-reasons.ts';
import { type Classified, PROXY_NO_ANSWER, pausedForUnreadable, unreadable } from './outcomes.ts';
import { ProviderPause } from './pause.ts';
import type { DispatchProvider, DispatchRouting } from './routing.ts';
import { deadline, nextStep, providerDelayMs, type RetryPolicy, retryAfterMs } from './schedule.ts';
import { type SenderHold, senderKey, SenderHolds } from './sender-holds.ts';
import { GatewaySilence, processCpuMs, type RequestEnding, SILENCE_WARN_MS } from './silence.ts';
import { ACCOUNT_FIX } from '../vocabulary.ts';

/** How often the requests in flight are looked at for a silent gateway (the monotonic clock says how long they waited). */
const SILENCE_CHECK_INTERVAL_MS = 1_000;

/**
 * How stale the view of the account pauses and failed hosts that every relay on the store shares
 * may be: it is read again at a claim at most this often (one small read a second per relay), and
 * written through at once on each change. Real time: the injected clock may stand still in tests.
 */
const SHARED_STATE_REFRESH_MS = 1_000;

/**
 * The shared pause or failover state's failed writes are said at most this often: a relay cut off from the
 * store fails one write per provider and host that changes, several in the same millisecond, and one line
 * says the outage as well as six. The others are debug lines.
 */
const SHARED_WRITE_WARN_INTERVAL_MS = 60_000;

/**
 * How many requests in a row may get a 2xx answer the relay cannot read before the provider is paused with an alert
 * (gateway-protocol). One such answer may be a mangled one (a proxy's page served once); several, to different
 * requests with no answer read between them, say the gateway's answers are not what the provider's adapter reads (a
 * wrong URL or product, a changed format, a firewall's page, a proxy's cached answer): only the operator can fix that, and
 * meanwhile each SMS may be texted and sent again at every retry. An answer read but with no result for any number of the
 * request (an empty list, references not the relay's) is counted as one that cannot be read. Requests, not SMS: one
 * answer to a request of several numbers is one.
 */
const UNREADABLE_PAUSE_REQUESTS = 3;

/** What the operator does about a gateway whose answers cannot be read (the pause's alert, gateway-protocol). */
const UNREADABLE_FIX =
  "check gateway.url and gateway.provider against the provider's documentation: its answers are not the ones the relay reads for this provider (a URL or product that is not the gateway's, a changed answer format, or a proxy's or firewall's page in front of it)";

/** Plain words for an SMS given up at its maximum age, whatever the last failure was. */
const EXPIRED = { category: 'expired', code: 'EXPIRED' } as const;

export interface DispatcherOptions {
  readonly store: Store;
  /** Whether the store's commits succeed now (WorkLoopOptions.storeCommits). */
  readonly storeCommits?: (() => boolean) | undefined;
  /** The providers, and which of them each number goes to (`singleProvider` without routes). */
  readonly routing: DispatchRouting;
  readonly logger: Logger;
  /** Identifies this process's leases. */
  readonly owner: string;
  readonly maxConcurrentRequests: number;
  /** A claim's lease (`delivery.leaseTtl`): the heartbeat renews it while the request runs (src/cluster/membership.ts). */
  readonly leaseMs: number;
  /** The work loop's longest idle wait (tests). */
  readonly idleWaitMs?: number | undefined;
  readonly retry: RetryPolicy;
  /** A sender whose SMS still waits after this long gets one delay notice. */
  readonly delayNoticeMs: number;
  /** How long a failed gateway host is skipped. */
  readonly failoverRecoveryMs: number;
  /** While the account is refused, one probe request this often. */
  readonly pauseProbeIntervalMs: number;
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
  /** The wall clock (epoch ms): leases, retry times, pauses shared with other relays, times people read. */
  readonly clock?: () => number;
  /**
   * Monotonic ms (performance.now unless a test moves it): how long a request took or has waited, for the
   * silent-gateway warning and `smsrelay_gateway_request_seconds`. The wall clock jumps with an NTP step or a
   * VM restore; neither may be taken for a gateway's wait.
   */
  readonly monotonic?: () => number;
  readonly random?: () => number;
}

/** Outcomes of one batch, with the reports they queue: one store transaction. */
interface Outcomes {
  readonly outcomes: readonly SmsOutcome[];
  readonly mail: readonly NewOutgoingMail[];
  /**
   * Each SMS's line (deferred, failed, expired, or sent but held by the gateway), by its id: told once the store has it, as this relay's outcome,
   * or as a late answer when another relay took the SMS over meanwhile (its outcome is that relay's); or, when the
   * stop could not record it, as not recorded.
   */
  readonly lines: ReadonlyMap<number, (told: Told) => void>;
  /** The batch's logger (its mail), for the late answers' lines. */
  readonly log: Logger;
}

/**
 * How an SMS's line is told: its outcome recorded (`owedMs`: how long it waited for the store, when it did), or
 * not, the stop having given up on the store (the next start sends the SMS again).
 */
type Told = { readonly recorded: true; readonly owedMs?: number } | { readonly recorded: false; readonly owedMs: number };

/** How the dispatcher's lines name what it owes the store, and a late answer. */
const SMS_WORDS: OwedWords = {
  loop: 'dispatch',
  one: 'gateway outcome',
  several: 'gateway outcomes',
  unit: 'sms',
  item: 'SMS',
  atNextStart: 'those SMS are sent again at the next start, counted as possible duplicates',
};

/** One provider with its breaker (a host that failed is skipped) and its pause (account refused, every host down, or busy). */
interface Lane {
  readonly provider: DispatchProvider;
  readonly breaker: EndpointBreaker;
  readonly pause: ProviderPause;
  /** Why this relay last paused it: its end is said in the same terms (another relay's pause is taken for an account's). */
  heldFor: Hold['kind'] | undefined;
  /** Requests in a row whose 2xx answer gave no result the relay could read for any of their numbers (UNREADABLE_PAUSE_REQUESTS); any result read ends the run. */
  unreadableRequests: number;
  /**
   * The certificate code each host (endpoint) was last refused for (TLS_CERTIFICATE): the error line with its alert is
   * said as that starts or changes, not at each retry or probe, which meets the same certificate until the operator acts.
   * A request whose connection was made ends it; a host that could not be reached at all says nothing of its certificate.
   */
  readonly untrusted: Map<number, string>;
}

/**
 * Why a provider is paused after a request: its account refused, or its answers unreadable (UNREADABLE_PAUSE_REQUESTS;
 * both probed every `delivery.pauseProbeInterval`), every host of it failed (probed at growing intervals), or it asked
 * for a wait (probed after it).
 */
interface Hold {
  readonly kind: 'account' | 'protocol' | 'down' | 'busy';
  readonly classified: Classified;
  readonly probeInMs: number;
}

/** Where a request went: a provider and one of its hosts. */
interface Host {
  readonly lane: Lane;
  readonly endpoint: number;
}

/** What became of one number in one attempt. */
interface Decision {
  readonly sms: ClaimedSms;
  readonly classified: Classified;
  /**
   * The host that gave the answer; undefined when no request was made: the SMS expired or its phone opted out (`fail`), its
   * route's every provider refuses the relay's account until its probe (`pause`), or no route takes it.
   */
  readonly via: Host | undefined;
  /** For an SMS held without a request (its route's every provider paused): when the first of their probes is due. */
  readonly heldUntil?: number | undefined;
  /** The requests of this round that failed over to the host that gave the answer (SmsOutcome's FailedOver). */
  readonly failedOver?: readonly string[] | undefined;
  /** How many of those may have been processed (SmsOutcome's FailedOver). */
  readonly failedOverDuplicates?: number | undefined;
}

/** The decisions of one batch, and what each provider asked said of itself (a reason to pause it, or undefined). */
interface Attempt {
  readonly decisions: Decision[];
  readonly asked: Map<Lane, Hold | undefined>;
}

/** An SMS whose number no route takes any more: the routes changed after it was accepted. Waits for a fix, bounces at its age. */
const NO_ROUTE: Classified = {
  action: 'retry',
  category: 'no-route',
  code: 'NO_ROUTE',
  reason: 'no route of gateway.routes takes this number any more (the routes changed after the mail was accepted)',
};

/**
 * An SMS whose phone texted STOP after its mail was accepted: RCPT refuses the number from then on, and
 * what was already queued for it is not sent either. The catalogue's code of RCPT's refusal.
 */
const OPTED_OUT: Classified = {
  action: 'fail',
  category: 'opted-out',
  code: 'POLICY_DENIED' satisfies RelayErrorCode,
  reason: 'the phone opted out of SMS from this relay after the mail was accepted',
};

/**
 * The outbound worker: claims due SMS jobs with a lease, sends each batch (one mail's numbers, one
 * gateway request per route) and records every number's outcome in one transaction, with any report
 * to the sender. Temporary failures go to the next host at once when the request provably did not
 * get through — the provider's backup, then the next provider of the route (a failed host is skipped
 * for a while, a provider all of whose hosts failed is tried last) — else back to the queue with
 * backoff; an account refusal pauses that provider and probes it (the route's next provider takes
 * its SMS meanwhile); an SMS is given up exactly at its maximum age.
 *
 * An outcome the store cannot take (disk full, lock held) is owed: kept in memory and written before
 * anything else is claimed, so its SMS is never sent again by this process; if the process dies
 * first, the next start resumes the lease and counts the resend as a possible duplicate.
 */
export class Dispatcher extends WorkLoop<SmsBatch> {
  readonly #options: DispatcherOptions;
  readonly #clock: () => number;
  readonly #monotonic: () => number;
  readonly #lanes: ReadonlyMap<string, Lane>;
  readonly #silence: GatewaySilence;
  #silenceTimer: NodeJS.Timeout | undefined;
  /** Outcomes the store refused: written before anything else is claimed. */
  readonly #owed: OwedOutcomes<Outcomes>;
  readonly #takeovers: Takeovers;
  /** The senders whose own queue at a provider is full: their SMS there wait for a probe. */
  readonly #senderHolds = new SenderHolds();
  /** When the shared state was last read (performance.now()). */
  #sharedReadAt = -Infinity;
  /** While every provider is paused: when the first queued SMS reaches its maximum age, as nextDueAt last found it. */
  #nextExpiryAt: number | undefined;

  constructor(options: DispatcherOptions) {
    const clock = options.clock ?? Date.now;
    const { store, routing, owner, leaseMs } = options;
    let sharedWriteWarnedAt = Number.NEGATIVE_INFINITY;
    const storeFailed = (error: unknown) => {
      // Real time: the injected clock may stand still in tests.
      const at = performance.now();
      const said = at - sharedWriteWarnedAt < SHARED_WRITE_WARN_INTERVAL_MS;
      if (!said) sharedWriteWarnedAt = at;
      options.logger[said ? 'debug' : 'warn'](
        failureLogFields(error),
        'dispatch: the shared pause or failover state could not be written; this relay goes by its own view meanwhile',
      );
    };
    const lanes = routing.providers.map((provider) => ({
      provider,
      breaker: new EndpointBreaker(provider.name, provider.gateway, options.failoverRecoveryMs, store, storeFailed),
      pause: new ProviderPause(provider.name, options.pauseProbeIntervalMs, store, storeFailed),
      heldFor: undefined as Hold['kind'] | undefined,
      unreadableRequests: 0,
      untrusted: new Map<number, string>(),
    }));
    // Every provider can take a batch whole, whichever route its numbers take.
    const batchSize = Math.min(...routing.providers.map((provider) => provider.gateway.capabilities.maxRecipientsPerRequest));
    super({
      name: 'dispatch',
      logger: options.logger,
      concurrency: options.maxConcurrentRequests,
      clock,
      idleWaitMs: options.idleWaitMs,
      storeCommits: options.storeCommits,
      claim: async (free) => {
        // Until the store took what it is owed, those SMS may look due (their lease ran out): claim nothing.
        await this.#owed.write();
        await this.#readShared();
        const now = clock();
        const allowed = await allowance(lanes, now, free);
        // Its own SMS in flight are never claimed again: after a store outage or a stall past the lease, theirs has ended
        // with their request still open at the gateway, and a claim of them would send them twice, uncounted.
        const lease = { owner, now, leaseUntil: now + leaseMs, batchSize, inFlight: this.held() };
        // Every provider paused and no probe to take: only SMS past their maximum age, bounced without a request at that age, not at
        // the probe; before the first reaches it (nextDueAt found when), no claim (a write transaction) at each wake of the pause.
        if (allowed === 0) {
          if (this.#nextExpiryAt === undefined || now < this.#nextExpiryAt) return [];
          this.#nextExpiryAt = undefined;
          return this.#tookOver(await store.claimDueSms({ ...lease, maxBatches: free, startedBy: now - options.retry.maxAgeMs }));
        }
        // A probe taken for a claim that fails (the store went away meanwhile) is given back, as one that found nothing:
        // kept, it would hold every later claim to none (a probe under way) with no request to end it.
        const batches = await store.claimDueSms({ ...lease, maxBatches: allowed }).catch(async (error: unknown) => {
          await this.#probesUnused(now);
          throw error;
        });
        if (batches.length === 0) await this.#probesUnused(now);
        return this.#tookOver(batches);
      },
      process: (batch, release) => this.#sendBatch(batch, release),
      leaseIds: (batch) => batch.sms.map((sms) => sms.id),
      nextDueAt: async () => {
        // While every provider is paused, nothing is due before the first probe, or before the shared view
        // is read again: the operator (`queue retry`) or another relay may have made a probe due sooner;
        // but an SMS reaching its maximum age is given up then (the claim waits for that time).
        const probes = lanes.map((lane) => lane.pause.nextProbeAt);
        if (probes.includes(undefined)) return store.nextSmsDueAt();
        const [due, expiry] = await Promise.all([store.nextSmsDueAt(), store.nextSmsExpiryAt(options.retry.maxAgeMs)]);
        this.#nextExpiryAt = expiry;
        if (due === undefined) return due;
        const probe = Math.max(due, Math.min(...(probes as number[]), clock() + SHARED_STATE_REFRESH_MS));
        return expiry === undefined ? probe : Math.min(probe, expiry);
      },
    });
    this.#options = options;
    this.#clock = clock;
    this.#monotonic = options.monotonic ?? (() => performance.now());
    this.#lanes = new Map(lanes.map((lane) => [lane.provider.name, lane]));
    this.#silence = new GatewaySilence(SILENCE_WARN_MS, options.logger);
    this.#takeovers = new Takeovers({
      logger: options.logger,
      clock,
      leaseMs,
      words: {
        unit: 'numbers',
        line: "dispatch: taking over SMS whose relay's lease ended with no outcome (it died, froze or lost the store); the phones may get them twice",
      },
    });
    this.#owed = new OwedOutcomes<Outcomes>({
      logger: options.logger,
      clock,
      write: async (owed, keptAt) => {
        const late = await store.recordSmsOutcomes(owed.outcomes, owed.mail, owner);
        this.#recorded(owed, late, clock() - keptAt);
        return late.length;
      },
      ids: (owed) => owed.outcomes.map((outcome) => outcome.smsId),
      unrecorded: ({ outcomes, lines }, owedMs) => {
        for (const { smsId } of outcomes) lines.get(smsId)?.({ recorded: false, owedMs });
      },
      words: SMS_WORDS,
    });
  }

  /**
   * Another process committed SMS work (PostgreSQL's NOTIFY: another relay, or an operator's `queue
   * retry` releasing a probe): while a provider is paused, that may be its probe made due, so the next
   * claim reads the shared view anew rather than up to SHARED_STATE_REFRESH_MS later.
   */
  notified(): void {
    if ([...this.#lanes.values()].some((lane) => lane.pause.nextProbeAt !== undefined)) this.#sharedReadAt = Number.NEGATIVE_INFINITY;
    this.kick();
  }

  /**
   * A provider's gateway changed with no request (a connection-based provider's bind made, or refused),
   * which a pause's next probe, minutes away after a long outage, would learn late: a gateway back makes
   * the probe due now (a wait it asked for stays); a pause this relay holds for another reason (not
   * bound, a dropped bind) names a refusal at once, as an account's.
   */
  gatewayChanged(provider: string): void {
    const lane = this.#lanes.get(provider);
    if (!lane?.pause.paused) return;
    const health = lane.provider.gateway.health();
    if (health.ok) {
      if (lane.heldFor !== 'busy') void lane.pause.probeNow(this.#clock()).then(() => this.kick());
      return;
    }
    const refusal = health.refusal;
    if (refusal === undefined || lane.heldFor === 'account') return;
    const classified = lane.provider.outcomes.classify('request', refusal);
    if (classified.action !== 'pause') return;
    const hold: Hold = { kind: 'account', classified, probeInMs: this.#options.pauseProbeIntervalMs };
    // The pause's store writes report their own failures; nothing else can throw here.
    void this.#notePause(lane, hold, this.#options.logger);
  }

  /** The SMS of a claim, with those taken over from a relay whose lease ended told in the log (Takeovers). */
  #tookOver(batches: readonly SmsBatch[]): readonly SmsBatch[] {
    // One call for the claim: after a stop each call writes its own line, and a claim's takeovers are one line.
    this.#takeovers.claimed(
      batches.flatMap((batch) => batch.sms),
      takenOverFrom,
    );
    return batches;
  }

  /** A probe this relay took reached no gateway (nothing claimed, the claim failed, the batch ended before its request): the next may go. */
  async #probesUnused(now: number): Promise<void> {
    for (const lane of this.#lanes.values()) await lane.pause.probeSkipped(now);
  }

  /** Besides the batches in flight, the SMS whose outcome is owed: their lease stays until it is written. */
  override held(): number[] {
    const ids = super.held();
    // A loop, not a spread into push: an outage can leave more owed than a call takes arguments.
    for (const id of this.#owed.held()) ids.push(id);
    return ids;
  }

  /**
   * The pauses and failed hosts as the store has them (other relays' findings too), at most every
   * SHARED_STATE_REFRESH_MS. A failed read keeps the last view: the claim after it fails alike and says so.
   */
  async #readShared(): Promise<void> {
    const at = performance.now();
    if (at - this.#sharedReadAt < SHARED_STATE_REFRESH_MS) return;
    this.#sharedReadAt = at;
    const lanes = [...this.#lanes.values()];
    const marks = lanes.map((lane) => [lane.pause.mark, lane.breaker.mark] as const);
    const state = await this.#options.store.gatewayState(this.#clock()).catch(() => undefined);
    if (!state) return;
    for (const [index, lane] of lanes.entries()) {
      const [pauseMark, breakerMark] = marks[index] ?? [-1, -1];
      lane.pause.load(
        state.pauses.find((pause) => pause.provider === lane.provider.name),
        pauseMark,
      );
      lane.breaker.load(state.failures, breakerMark);
      if (lane.pause.outlived) await this.#notePause(lane, undefined, this.#options.logger);
    }
  }

  override start(): void {
    super.start();
    if (this.#silenceTimer) return;
    // Real time, whatever the injected clock: how late the relay's own timer runs is the relay's stall, and the
    // process's CPU time meanwhile tells its own work (a loop busy on one mail) from a stop or a starved machine.
    let due = performance.now() + SILENCE_CHECK_INTERVAL_MS;
    let cpu = processCpuMs();
    this.#silenceTimer = setInterval(() => {
      const at = performance.now();
      const used = processCpuMs();
      this.#silence.check(this.#monotonic(), at - due, used - cpu);
      due = at + SILENCE_CHECK_INTERVAL_MS;
      cpu = used;
    }, SILENCE_CHECK_INTERVAL_MS);
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
    // A claim still under way resolves after this: its line is written at once.
    this.#takeovers.stop();
    await this.#owed.writeAtStop();
  }

  /** Sends one batch; its slot frees (`release`) once the gateway answered, and its outcome is committed after. */
  async #sendBatch(batch: SmsBatch, release: () => void): Promise<void> {
    const log = this.#options.logger.child({ msgId: batch.message.id });
    const giveUpAt = deadline(startOf(batch.message), this.#options.retry);
    const now = this.#clock();
    const due = now < giveUpAt ? batch.sms : [];
    const optedOut = await this.#optedOut(due).catch((error: unknown) => {
      log.warn({ ...failureLogFields(error) }, 'dispatch: could not check the numbers against the opt-outs; the SMS are tried again when their lease ends');
      return undefined;
    });
    // No request goes: a probe this batch carried is given back, or no other would go.
    if (!optedOut) return this.#probesUnused(this.#clock());
    const live = due.filter((sms) => !optedOut.has(sms));
    const unsent: Decision[] = [
      ...(now < giveUpAt ? [] : batch.sms.map((sms) => ({ sms, classified: expiredOutcome(sms), via: undefined }))),
      ...[...optedOut].map((sms) => ({ sms, classified: OPTED_OUT, via: undefined })),
    ];
    const attempted: Attempt = live.length > 0 ? await this.#attempt(batch.message, live, giveUpAt, log) : { decisions: [], asked: new Map() };
    // The slot bounds gateway requests: the next batch's request need not wait for this one's commit.
    release();
    if (this.abandoned) {
      log.info({ numbers: batch.sms.length }, 'dispatch: request still in flight when the stop gave up waiting; the next start sends it again');
      return;
    }
    const tried = this.#ownAccountRefusals(batch.message, attempted.decisions, log);
    const decisions = unsent.length === 0 ? tried : [...unsent, ...tried];
    // This relay's view of each provider changes now, before the commit (no further request to a gateway that
    // just refused); the shared state once the commit says the answer came on the batch's lease: one that came
    // after another relay took all its SMS over (this relay frozen or cut off past its lease) is that relay's to
    // act on (docs/several-relays.md). An outcome the store could not take counts as on the lease.
    // A batch on an account's own credentials says nothing about the relay's account.
    // Nearly always nothing changes (no pause known, no probe held, a plain answer, noted at once): no lease to wait for,
    // no promise per provider. No closure is made per batch either (saysOf is the module's): tsx names each closure it
    // makes (esbuild's keepNames, an Object.defineProperty), ~1.5 µs each (#15).
    const changing = [...this.#lanes.values()].filter((lane) =>
      saysOf(attempted, batch.message, lane) ? attempted.asked.get(lane) !== undefined || !lane.pause.noteAnswerIfClear(now) : lane.pause.probing,
    );
    let answeredOnLease: ((onLease: boolean) => void) | undefined;
    let noted: Promise<unknown> | undefined;
    if (changing.length > 0) {
      const onLease = new Promise<boolean>((resolve) => {
        answeredOnLease = resolve;
      });
      noted = Promise.all(
        changing.map((lane) =>
          saysOf(attempted, batch.message, lane) ? this.#notePause(lane, attempted.asked.get(lane), log, onLease, now) : lane.pause.probeSkipped(this.#clock()),
        ),
      );
    }
    try {
      const outcomes = await this.#outcomes(batch.message, decisions, log);
      const late = await this.#record(outcomes, log);
      answeredOnLease?.(late === undefined || late.length < outcomes.outcomes.length);
      // A user's own gateway account's opt-outs are that account's, not the relay's: RCPT would refuse every sender.
      if (late !== undefined && !batch.message.gatewayAccount) await this.#recordOptOuts(decisions, log);
    } finally {
      answeredOnLease?.(true);
      if (noted) await noted;
    }
  }

  /**
   * Records a batch's outcomes: the ids of those kept as late answers (another relay holds their lease),
   * or undefined when the store failed, the outcomes then kept until it takes writes again.
   */
  async #record(outcomes: Outcomes, log: Logger): Promise<readonly number[] | undefined> {
    let late: readonly number[];
    try {
      late = await this.#options.store.recordSmsOutcomes(outcomes.outcomes, outcomes.mail, this.#options.owner);
    } catch (error) {
      this.#owed.keep(outcomes, error, log);
      // New work for the loop: the next claim writes what is owed first, even when the last found nothing more due.
      this.kick();
      return undefined;
    }
    this.#recorded(outcomes, late);
    return late;
  }

  /** The numbers a provider refused as opted out of the account's messages (an outcome rule's `optsOut`), kept as a STOP is. */
  async #recordOptOuts(decisions: readonly Decision[], log: Logger): Promise<void> {
    for (const { sms, classified } of decisions.filter((decision) => decision.classified.action === 'fail' && decision.classified.optsOut)) {
      await recordGatewayOptOut(this.#options.store, { number: sms.number, code: classified.code, at: this.#clock() }, log, 'dispatch', { smsId: sms.id });
    }
  }

  /**
   * The SMS whose phone opted out since its mail was accepted, asked as RCPT asks (the store remembers
   * the numbers it found not opted out, so a regular number costs no read).
   */
  async #optedOut(sms: readonly ClaimedSms[]): Promise<Set<ClaimedSms>> {
    const answers = await Promise.all(sms.map((entry) => this.#options.store.isOptedOut(entry.number)));
    return new Set(sms.filter((_, index) => answers[index]));
  }

  /**
   * Counts what the outcomes ended in (`smsrelay_sms_outcomes_total`) and tells each SMS's line, but for the late
   * answers among them (`late`): those changed nothing of their SMS, whose outcome is the relay's that took it
   * over, and are in its history only; each is told as a late answer. `owedMs`: how long they waited for the store, when they did.
   */
  #recorded({ outcomes, mail, lines, log }: Outcomes, late: readonly number[], owedMs?: number): void {
    const kept = new Set(late);
    for (const outcome of outcomes) {
      if (kept.has(outcome.smsId)) {
        log.warn({ smsId: outcome.smsId, outcome: outcome.kind }, lateAnswerLine(SMS_WORDS));
        continue;
      }
      this.#options.metrics?.smsOutcomes.inc({ outcome: outcome.kind });
      lines.get(outcome.smsId)?.(owedMs === undefined ? { recorded: true } : { recorded: true, owedMs });
    }
    if (mail.length > 0) this.#options.onMailQueued();
  }

  /**
   * Sends each route's numbers to its best host, and at once to the next for the numbers whose
   * outcome says the request never reached a working host, or whose provider refuses the relay's
   * account (nothing was sent: the route's next provider takes them). One decision per number.
   */
  async #attempt(message: StoredMessage, sms: readonly ClaimedSms[], giveUpAt: number, log: Logger): Promise<Attempt> {
    const attempt: Attempt = { decisions: [], asked: new Map() };
    const byRoute = new Map<readonly DispatchProvider[], ClaimedSms[]>();
    for (const entry of sms) {
      const providers = this.#options.routing.providersOf(entry.number);
      // Pushed, not copied with each number: a copy per number was quadratic in a batch's numbers (100: 5,050 copies).
      const numbers = byRoute.get(providers);
      if (numbers) numbers.push(entry);
      else byRoute.set(providers, [entry]);
    }
    for (const [providers, numbers] of byRoute) {
      if (this.abandoned) break;
      if (providers.length === 0) {
        log.error({ numbers: numbers.length }, `dispatch: ${NO_ROUTE.reason}; the SMS waits for a route and bounces at its maximum age`);
        attempt.decisions.push(...numbers.map((entry) => ({ sms: entry, classified: NO_ROUTE, via: undefined })));
      } else await this.#attemptRoute(message, providers, numbers, giveUpAt, log, attempt);
    }
    return attempt;
  }

  async #attemptRoute(
    message: StoredMessage,
    providers: readonly DispatchProvider[],
    sms: readonly ClaimedSms[],
    giveUpAt: number,
    log: Logger,
    attempt: Attempt,
  ): Promise<void> {
    const now = this.#clock();
    const reachable = await this.#hostsOf(providers, now);
    // A provider whose every host failed before this round (its probe): its other hosts are as failed as the one asked.
    // Its hosts, not a set of providers: nearly always none, and only a proxy's answer reads it.
    const allFailed = reachable.filter(({ lane }) => !lane.breaker.healthy(now));
    const hosts = this.#notSenderHeld(message, reachable, sms, attempt);
    if (hosts === undefined) return;
    if (hosts.length === 0) {
      // Every provider of the route is paused (its account refused, down or busy): the SMS waits for a probe, no request is made.
      const lanes = providers.map((provider) => this.#laneOf(provider));
      const refused: Classified = {
        action: 'pause',
        category: 'account',
        code: 'PAUSED',
        reason: lanes[0]?.pause.reason ?? 'the SMS gateway refuses the account',
      };
      const heldUntil = Math.min(...lanes.map((lane) => lane.pause.nextProbeAt ?? Infinity));
      attempt.decisions.push(...sms.map((entry) => ({ sms: entry, classified: refused, via: undefined, heldUntil })));
      return;
    }
    // The providers this round leaves for the route's next: their account refused, or the sender's own queue full there (whichever host).
    const leftLanes = new Set<Lane>();
    const failedOver = new Map<ClaimedSms, string[]>();
    const failedOverDuplicates = new Map<ClaimedSms, number>();
    let pending = sms;
    for (const [position, host] of hosts.entries()) {
      // The stop gave up on this batch: no request to the next host.
      if (this.abandoned) break;
      const { lane, endpoint } = host;
      if (leftLanes.has(lane)) continue;
      const gateway = this.#gatewayOf(message, lane.provider);
      const started = this.#monotonic();
      const ended = this.#silence.requested(gateway.endpoints[endpoint] ?? `endpoint ${endpoint}`, started);
      const submission = toSubmission(message, pending, giveUpAt, lane.provider.sessions);
      let result: SubmissionResult;
      try {
        result = await gateway.send(submission, endpoint);
      } catch (error) {
        // A send must not throw (its contract); if one does, it is no silence of the host.
        ended('dropped', this.#monotonic());
        throw error;
      }
      if (this.abandoned) {
        // The stop gave up on this request and closed the gateway under it: its end means nothing.
        ended('dropped', this.#monotonic());
        break;
      }
      const endedAt = this.#monotonic();
      const failure = requestFailure(lane.provider, result);
      ended(endingOf(result, failure), endedAt);
      const tookMs = endedAt - started;
      const classifiedOf = new Map(
        pending.map((entry) => [entry, namingTheSender(lane.provider.outcomes.classifyRecipient(result, entry.number, message.text), message, lane.provider)]),
      );
      const read = readAnswers(classifiedOf.values());
      // By category, never by code: a gateway's codes are its own words (`ERR:CODE4_447700900123`), one series each;
      // the log line says the same word as the metric, so one can be matched to the other.
      const outcome = failure?.category ?? refusedAs(result, read) ?? 'answered';
      const protocol = message.gatewayAccount ? undefined : this.#unreadableRun(lane, result, read);
      logResult(
        log,
        lane.provider,
        result,
        failure,
        { numbers: pending.length, endpoint, ms: Math.round(tookMs), outcome, accepted: read.sent },
        read.unreadable,
        certificateChanged(lane, endpoint, result, failure),
      );
      this.#options.metrics?.gatewaySeconds.observe({ result: outcome }, tookMs / 1000);
      const remaining = hosts.slice(position + 1).filter((next) => !leftLanes.has(next.lane));
      // Another provider of the route can take what this account, or this sender's queue, may not send: nothing was sent here.
      const nextProvider = !message.gatewayAccount && remaining.some((next) => next.lane !== lane);
      const earlier = attempt.asked.get(lane);
      const refusal = earlier?.kind === 'account' ? earlier.classified : read.pause;
      const senderFull = read.senderFull !== undefined;
      // This provider's other hosts are left before any SMS is moved on: one failed over (a host down) in the same answer
      // goes to a host still asked, never to one this round skips (it was left without an outcome). A full queue leaves
      // them only for another provider: without one, the same provider's next host still takes what failed over.
      // A proxy's 502 or 504 from a provider whose every host had failed leaves it too: its next host, failed as well, would
      // most likely be as silent, and each request the gateway may have taken is one more copy the phone may get; the round
      // ends there (one possible duplicate per probe) but for another provider of the route.
      const proxyOfFailed = failure?.category === PROXY_NO_ANSWER && allFailed.some((failed) => failed.lane === lane);
      if (refusal || (senderFull && nextProvider) || proxyOfFailed) leftLanes.add(lane);
      const later = remaining.filter((next) => !leftLanes.has(next.lane));
      const hasNext = later.length > 0;
      const failOver: ClaimedSms[] = [];
      let hostFailed: Classified | undefined;
      let busy: Hold | undefined;
      const answeredAt = this.#clock();
      for (const [entry, classified] of classifiedOf) {
        const failsHost = failsTheHost(classified);
        if (failsHost) hostFailed ??= classified;
        if ((failsHost && hasNext) || ((classified.action === 'pause' || classified.holdsSender) && nextProvider)) {
          failOver.push(entry);
          // A request was made: an attempt, which the SMS's history shows with the answer that moved it on.
          const via = this.#sentVia(host);
          failedOver.set(entry, [...(failedOver.get(entry) ?? []), `${recordedError(classified)}${via ? `; ${via}` : ''}`]);
          // A proxy's 502 or 504 left it unknown whether the gateway behind it took the SMS: the next host's copy may be a second.
          if (classified.action === 'ambiguous') failedOverDuplicates.set(entry, (failedOverDuplicates.get(entry) ?? 0) + 1);
          continue;
        }
        // Without a host left to fail over to, the SMS waits for its retry like any temporary failure (a possible duplicate still one).
        const decided: Classified = classified.action === 'failover' ? { ...classified, action: 'retry' } : classified;
        attempt.decisions.push({
          sms: entry,
          classified: decided,
          via: host,
          failedOver: failedOver.get(entry),
          failedOverDuplicates: failedOverDuplicates.get(entry),
        });
        // A busy answer that names no wait (a bare 429, a throttling code) holds the provider too, probed as a down one is.
        const wait = busy
          ? undefined
          : (this.#waitFor(decided, answeredAt) ?? (decided.category === 'busy' ? this.#grownProbeMs(lane, answeredAt) : undefined));
        if (wait !== undefined) busy = { kind: 'busy', classified: decided, probeInMs: wait };
      }
      if (hostFailed) await lane.breaker.markFailed(endpoint, this.#clock());
      else if (result.kind === 'answered' && lane.breaker.knowsFailed(endpoint)) await lane.breaker.markWorking(endpoint);
      // No answer at all (a timeout, a reset) says the host is down as surely, though it is not failed over from.
      const down = hostFailed ?? (result.kind === 'transport' ? failure : undefined);
      // A sender's own queue full says nothing of the provider: its pause is neither started nor ended by it.
      if (this.#notedSender(message, lane, result, read, endedAt)) attempt.asked.set(lane, this.#holdOf(host, refusal ?? protocol, down, busy));
      if (failOver.length > 0 && hasNext) {
        const next = later.find((candidate) => !leftLanes.has(candidate.lane));
        if (next && next.lane !== lane) {
          log.warn(
            { numbers: failOver.length, from: lane.provider.name, to: next.lane.provider.name },
            'dispatch: failing over to the next provider of the route',
          );
        }
      }
      pending = failOver;
      if (pending.length === 0) break;
    }
  }

  /**
   * The hosts a message's SMS may go to now: those of providers where its sender is not held (or its
   * probe is due). Undefined when its sender is held at every reachable one: its SMS then wait without a
   * request until the first of those probes (an attempt's decisions say so).
   */
  #notSenderHeld(message: StoredMessage, hosts: readonly Host[], sms: readonly ClaimedSms[], attempt: Attempt): readonly Host[] | undefined {
    // No sender held anywhere (nearly always): no key to make for each of the message's providers.
    if (this.#senderHolds.empty) return hosts;
    const now = this.#monotonic();
    const holds = new Map<Lane, SenderHold | undefined>();
    for (const { lane } of hosts) {
      if (!holds.has(lane)) holds.set(lane, this.#senderHolds.take(this.#senderKeyOf(message, lane), now));
    }
    const open = hosts.filter(({ lane }) => holds.get(lane) === undefined);
    const held = [...holds.values()].filter((hold) => hold !== undefined);
    if (hosts.length === 0 || open.length > 0) return open;
    const first = held.reduce((earliest, hold) => (hold.nextProbeAt < earliest.nextProbeAt ? hold : earliest));
    // The store's times are the wall clock's: the probe's time as far from now on it as on the monotonic one.
    const heldUntil = this.#clock() + (first.nextProbeAt - now);
    attempt.decisions.push(...sms.map((entry) => ({ sms: entry, classified: first.classified, via: undefined, heldUntil })));
    return undefined;
  }

  /**
   * The pause a run of unreadable answers calls for: once UNREADABLE_PAUSE_REQUESTS requests in a row got a 2xx answer
   * from which the relay read no result for any of their numbers (unreadable, or listing none for them), one like a refused account's (`protocol`), with the last answer's words and
   * what to check. Any answer read, a refusal included (an HTTP 4xx or 5xx, an `ERR:` line), or a part of one (a
   * number confirmed) ends the run; no answer at all (a timeout, a reset) is none of either.
   */
  #unreadableRun(lane: Lane, result: SubmissionResult, read: AnswersRead): Classified | undefined {
    if (result.kind === 'transport') return undefined;
    const { last } = read;
    if (last === undefined || !read.allUnreadable) {
      lane.unreadableRequests = 0;
      return undefined;
    }
    lane.unreadableRequests++;
    // Paused for it already (by this relay before a restart, or by another on the store): a probe's unreadable answer keeps
    // the pause; this relay's count, kept in its memory only, would end it.
    if (lane.unreadableRequests < UNREADABLE_PAUSE_REQUESTS && !pausedForUnreadable(lane.pause.reason)) return undefined;
    return {
      action: 'pause',
      category: 'protocol',
      code: last.code,
      reason: `the SMS gateway's answers to ${UNREADABLE_PAUSE_REQUESTS} requests in a row could not be read or had no result for their numbers (it may have sent their SMS)`,
      ...(last.detail === undefined ? {} : { detail: last.detail }),
      fix: UNREADABLE_FIX,
    };
  }

  /**
   * Holds or frees the message's sender at the provider by its answer (OutcomeRule.holdsSender); whether the
   * answer says anything of the provider itself (a sender's queue full says nothing). Only a message its queue
   * took (`sent`, or `ambiguous`: maybe taken) says the queue drains: a refusal of the number alone (invalid,
   * opted out, not a mobile) is answered before the queue is reached, and ending the hold on it sent a bulk
   * list's every SMS again at each of its bad numbers. A failure of the sender itself (a mail's own Messaging Service
   * deleted while its queue was full) ends it too: its SMS all fail alike, at once rather than one at each probe.
   * `now`: the monotonic clock's, as the holds are kept.
   */
  #notedSender(message: StoredMessage, lane: Lane, result: SubmissionResult, read: AnswersRead, now: number): boolean {
    const full = read.senderFull;
    if (full) this.#senderHolds.held(this.#senderKeyOf(message, lane), full, now, (since) => this.#grownFrom(since, now));
    // No sender held anywhere (nearly always): no hold to end, no key to make.
    else if (result.kind === 'answered' && read.sendersQueueTook && !this.#senderHolds.empty) this.#senderHolds.answered(this.#senderKeyOf(message, lane));
    return read.aboutProvider;
  }

  /** Whose queue the message's SMS fill at the provider: its sender id as the provider names the queue (a Twilio Messaging Service SID in either case is one). */
  #senderKeyOf(message: StoredMessage, { provider }: Lane): string {
    const { senderId } = message;
    return senderKey(provider.name, message.gatewayAccount, senderId === undefined ? undefined : (provider.senderQueue?.(senderId) ?? senderId));
  }

  /**
   * Whether a provider is paused after its request, and why: its account refused; every host of it
   * failed (all skipped by the breaker), with probes as far apart as the outage is long so far,
   * within the retry delays and `gateway.failoverRecovery` (as a failed SMS's own backoff grows, but once
   * for all its SMS: each SMS retrying on its own schedule hammered a gateway that was down); or
   * it asked for a wait (Retry-After, DELAY), which holds all its SMS, not only the one answered.
   */
  #holdOf({ lane, endpoint }: Host, refusal: Classified | undefined, down: Classified | undefined, busy: Hold | undefined): Hold | undefined {
    if (refusal) return { kind: refusal.category === 'protocol' ? 'protocol' : 'account', classified: refusal, probeInMs: this.#options.pauseProbeIntervalMs };
    const now = this.#clock();
    if (down && !(lane.breaker.healthy(now) && lane.breaker.order(now).some((other) => other !== endpoint))) {
      return { kind: 'down', classified: down, probeInMs: Math.max(this.#grownProbeMs(lane, now), busy?.probeInMs ?? 0) };
    }
    return busy;
  }

  /** The wait before a held provider's next probe: as long as it has been held so far, within the retry delays and `gateway.failoverRecovery`. */
  #grownProbeMs(lane: Lane, now: number): number {
    return this.#grownFrom(lane.pause.since ?? now, now);
  }

  /** The wait before the next probe of something held since `since` (a provider, a sender's queue): as long as it has been held. */
  #grownFrom(since: number, now: number): number {
    const { minDelayMs, maxDelayMs } = this.#options.retry;
    return Math.min(Math.max(minDelayMs, now - since), maxDelayMs, this.#options.failoverRecoveryMs);
  }

  /**
   * The hosts to try for a route, best first: its providers in order, those with a host not skipped
   * by the breaker before those whose every host failed lately, each provider's hosts in its
   * breaker's order. A paused provider (account refused, down, busy) is left out until this relay takes
   * its due probe, and then keeps its place in the route: the pause, not the breaker, decides when a
   * provider whose every host failed is tried again, or its probe would be answered by the provider
   * ahead of it and never reach it until `gateway.failoverRecovery` had passed.
   */
  async #hostsOf(providers: readonly DispatchProvider[], now: number): Promise<Host[]> {
    const lanes: Lane[] = [];
    for (const provider of providers) {
      const lane = this.#laneOf(provider);
      // A provider not paused may be tried: no promise to wait for (nearly every round).
      if (!lane.pause.paused || (await lane.pause.mayTry(now))) lanes.push(lane);
    }
    const ordered = [...lanes.filter((lane) => goesFirst(lane, now)), ...lanes.filter((lane) => !goesFirst(lane, now))];
    return ordered.flatMap((lane) => lane.breaker.order(now).map((endpoint) => ({ lane, endpoint })));
  }

  #laneOf(provider: DispatchProvider): Lane {
    const lane = this.#lanes.get(provider.name);
    if (!lane) throw new RangeError(`dispatch: provider ${provider.name} is not one of the routing's providers`);
    return lane;
  }

  #gatewayOf(message: StoredMessage, provider: DispatchProvider): Gateway {
    return (message.gatewayAccount ? provider.gatewayFor?.(message.gatewayAccount) : undefined) ?? provider.gateway;
  }

  /**
   * The gateway refusing an account's own credentials must not pause everyone else's SMS: that
   * account's SMS are retried on the backoff schedule instead (and bounce only at their maximum age).
   */
  #ownAccountRefusals(message: StoredMessage, decisions: readonly Decision[], log: Logger): readonly Decision[] {
    if (!message.gatewayAccount) return decisions;
    return decisions.map((decision) => {
      if (decision.classified.action !== 'pause') return decision;
      const code = maskNumbersIn(decision.classified.code);
      log.error(
        { alert: 'gateway-account', account: message.gatewayAccount, code },
        `dispatch: the gateway refuses account ${message.gatewayAccount}'s credentials (${code}); its SMS are retried`,
      );
      return { ...decision, classified: { ...decision.classified, action: 'retry' } };
    });
  }

  /**
   * A provider's refusal of the relay's account pauses it (alerting once), as does every host of it
   * failing or its asking for a wait (one warning): its SMS go to the route's next provider, or wait
   * for its probe; any other answer of it ends its pause. `sentAt`: when the batch's request went.
   */
  async #notePause(lane: Lane, hold: Hold | undefined, log: Logger, onLease?: Promise<boolean>, sentAt?: number): Promise<void> {
    const provider = this.#providerLabel(lane);
    if (hold) {
      const { classified, kind, probeInMs } = hold;
      const { starts, changes } = await lane.pause.refused(`${classified.code}: ${classified.reason}`, this.#clock(), probeInMs, onLease);
      lane.heldFor = kind;
      // A refused account (or unreadable answers) alerts as it starts and at each change of reason (a gateway down or
      // busy that comes back refusing the account); a down or busy gateway's reason may alternate at every probe.
      if (!(starts || (changes && (kind === 'account' || kind === 'protocol')))) return;
      const code = maskNumbersIn(classified.code);
      if (kind === 'protocol') {
        const gatewayText = maskNumbersIn(classified.detail ?? '');
        log.error(
          { alert: 'gateway-protocol', ...provider, code, gatewayText, probeEveryMs: probeInMs },
          `dispatch: sending paused, ${classified.reason}: "${gatewayText}"; the queue is kept and probed; ${classified.fix ?? UNREADABLE_FIX}, then \`smsrelay queue retry all\` probes it at once`,
        );
      } else if (kind === 'account') {
        log.error(
          { alert: 'gateway-account', ...provider, code, probeEveryMs: probeInMs },
          `dispatch: sending paused, the gateway refuses the account (${code}); the queue is kept and probed; ${classified.fix ?? ACCOUNT_FIX}, then \`smsrelay queue retry all\` probes it at once`,
        );
      } else {
        log.warn(
          { ...provider, code, probeInMs },
          `dispatch: sending paused, ${kind === 'down' ? 'every host of the gateway failed' : 'the gateway asked the relay to wait'} (${code}: ${classified.reason}); the queue is kept and probed`,
        );
      }
      return;
    }
    const ended = await lane.pause.answered(this.#clock(), onLease, sentAt);
    if (!ended) return;
    const fields = { ...provider, pausedMs: this.#clock() - ended.since, reason: maskNumbersIn(ended.reason) };
    // A pause this relay only read (another relay's) is of a kind it does not know: the neutral words.
    if (lane.heldFor === 'account') log.warn(fields, 'dispatch: the gateway accepts the account again; sending resumed');
    else if (lane.heldFor === 'protocol') log.warn(fields, "dispatch: the gateway's answers can be read again; sending resumed");
    else log.info(fields, 'dispatch: the gateway answers again; sending resumed');
    lane.heldFor = undefined;
  }

  /** The provider's name in a log line, when there are several. */
  #providerLabel(lane: Lane): { provider?: string } {
    return this.#lanes.size > 1 ? { provider: lane.provider.name } : {};
  }

  /** The outcome of each number, with the reports to its sender; logs each. */
  async #outcomes(message: StoredMessage, decisions: readonly Decision[], log: Logger): Promise<Outcomes> {
    const { report, retry, delayNoticeMs } = this.#options;
    const now = this.#clock();
    const outcomes: SmsOutcome[] = [];
    const lines = new Map<number, (told: Told) => void>();
    const reported: Record<Exclude<ReportKind, 'delivered'>, ReportedRecipient[]> = { failed: [], delayed: [], relayed: [] };
    const giveUpAt = deadline(startOf(message), retry);
    for (const { sms: claimed, classified, via, heldUntil, failedOver, failedOverDuplicates } of decisions) {
      // The requests that failed over count as its attempts: its backoff, its expiry's report.
      const sms = failedOver ? { ...claimed, attempts: claimed.attempts + failedOver.length } : claimed;
      const decided = this.#decide(message, sms, classified, now, via, heldUntil);
      const outcome: SmsOutcome = failedOver ? { ...decided, failedOver, ...(failedOverDuplicates ? { failedOverDuplicates } : {}) } : decided;
      outcomes.push(outcome);
      const recipient: ReportedRecipient = {
        ...sms,
        category: classified.category,
        reason: classified.reason,
        code: classified.code,
        ...(classified.detail === undefined ? {} : { detail: classified.detail }),
      };
      if (outcome.kind === 'sent') {
        reported.relayed.push(outcome.providerId ? { ...recipient, gatewayId: outcome.providerId } : recipient);
        const { heldAtGateway } = classified;
        if (heldAtGateway !== undefined) {
          lines.set(sms.id, (told) =>
            log.warn(
              { ...smsLineFields(sms, classified), ...toldFields(told) },
              `dispatch: SMS taken but held by the gateway: ${maskNumbersIn(classified.reason)}; ${heldAtGateway}`,
            ),
          );
        }
      } else if (outcome.kind === 'retry' && now >= giveUpAt) {
        // An answer lost at the maximum age (#decide): no delay notice, which the bounce or the report would follow at once.
        lines.set(sms.id, (told) =>
          log.warn(
            { ...smsLineFields(sms, classified), action: classified.action, ...toldFields(told) },
            `dispatch: SMS's answer lost at its maximum age: ${maskNumbersIn(classified.reason)}; given up unless a delivery report shows the gateway took it`,
          ),
        );
      } else if (outcome.kind === 'retry') {
        if (now - startOf(message) >= delayNoticeMs) reported.delayed.push(recipient);
        const { nextAttemptAt } = outcome;
        lines.set(sms.id, (told) =>
          log.info(
            { ...smsLineFields(sms, classified), action: classified.action, ...toldFields(told, { at: nextAttemptAt, now: this.#clock() }) },
            `dispatch: SMS deferred: ${maskNumbersIn(classified.reason)}`,
          ),
        );
      } else {
        reported.failed.push(outcome.kind === 'expired' ? { ...recipient, ...expiredReport(sms, classified, outcome.attempted !== false) } : recipient);
        const final = outcome.kind;
        lines.set(sms.id, (told) =>
          log.warn({ ...smsLineFields(sms, classified), final, ...toldFields(told) }, `dispatch: SMS ${final}: ${maskNumbersIn(classified.reason)}`),
        );
      }
    }
    // One notice per mail (its once-key): it lists every number still waiting, not only this batch's,
    // whose retries may have drifted apart from the others'.
    if (reported.delayed.length > 0) reported.delayed.push(...(await this.#othersWaiting(message, decisions)));
    const mail: NewOutgoingMail[] = [];
    for (const kind of ['failed', 'delayed', 'relayed'] as const) {
      if (reported[kind].length === 0) continue;
      const built = await report(kind, message, reported[kind], kind === 'delayed' ? giveUpAt : undefined);
      if (built) mail.push(built);
    }
    return { outcomes, mail, lines, log };
  }

  /** The message's SMS still waiting besides this batch's, as their last attempt left them. */
  async #othersWaiting(message: StoredMessage, decisions: readonly Decision[]): Promise<ReportedRecipient[]> {
    const here = new Set(decisions.map((decision) => decision.sms.id));
    const waiting = await this.#options.store.waitingSms(message.id);
    return waiting.filter((sms) => !here.has(sms.id)).map((sms) => ({ ...sms, ...lastAttemptOf(sms) }));
  }

  #decide(message: StoredMessage, sms: ClaimedSms, classified: Classified, now: number, via: Host | undefined, heldUntil?: number): SmsOutcome {
    const { retry, random } = this.#options;
    // An expired SMS is given up without a request; a failure without one (an opt-out) is failed below.
    if (via === undefined && classified.category === EXPIRED.category) return { smsId: sms.id, kind: 'expired', error: classified.reason, attempted: false };
    if (classified.action === 'sent' && via) {
      // Held at the gateway: the history says so, in the code's words and the gateway's, before what the gateway adds and what took it.
      const held = classified.heldAtGateway === undefined ? undefined : recordedError(classified);
      const note = [held, classified.note, this.#sentVia(via)].filter((part) => part !== undefined).join('; ');
      return {
        smsId: sms.id,
        kind: 'sent',
        providerId: classified.providerId ?? '',
        ...(classified.trackingId === undefined ? {} : { trackingId: classified.trackingId }),
        ...(note ? { note } : {}),
        ...(classified.withoutId === undefined ? {} : { withoutId: classified.withoutId }),
        ...(classified.recognisedResend ? { recognisedResend: true } : {}),
      };
    }
    // Held without a request: its last error stays the last one a gateway gave, which its bounce at the maximum age names.
    const error = heldUntil !== undefined && sms.lastError !== undefined ? sms.lastError : recordedError(classified);
    // Which host gave this answer, where there is a choice: the history line names it, as a sent or failed-over one's.
    const took = via && this.#sentVia(via);
    const named = took === undefined ? {} : { via: took };
    if (classified.action === 'fail') return { smsId: sms.id, kind: 'failed', error, attempted: via !== undefined, ...named };
    const waitMs = heldUntil === undefined ? this.#waitFor(classified, now) : this.#heldFor(classified, heldUntil, now);
    const step = nextStep({ attempts: sms.attempts + 1, receivedAt: startOf(message), now, waitMs }, retry, random);
    // An attempt at the maximum age whose answer was lost may have sent it, and a delivery report that came while it was
    // in flight proves it did: queued again, due at once, the store records it sent with that report as any retry's
    // (Store.recordSmsOutcomes); with none the next claim gives it up without a request, its bounce naming this attempt.
    if (step.kind === 'expire' && classified.action === 'ambiguous')
      return { smsId: sms.id, kind: 'retry', nextAttemptAt: now, error, attempted: true, possibleDuplicate: true, ...named };
    if (step.kind === 'expire')
      return { smsId: sms.id, kind: 'expired', error: `${error}; given up at the maximum age`, attempted: via !== undefined, ...named };
    return {
      smsId: sms.id,
      kind: 'retry',
      nextAttemptAt: step.at,
      error,
      ...named,
      // An SMS held back by a pause or its sender's hold (no request) has not failed: its backoff does not grow while
      // it is held. A probe that reached the gateway is an attempt, as its history line says, and its expiry bounce counts it.
      attempted: via !== undefined || heldUntil === undefined,
      possibleDuplicate: classified.action === 'ambiguous',
    };
  }

  /**
   * How long an SMS held without a request waits: until the probe, when it may go if the probe finds the way
   * clear. A provider's pause is looked at again every `delivery.pauseProbeInterval` at the latest (another
   * relay or `queue retry` may make its probe due sooner, in the store). A sender's hold is this relay's
   * alone, so its time holds: its SMS wait for it, spread over `delivery.retryMinDelay` after it, so that one
   * takes the probe and the others are not all claimed in the same millisecond.
   */
  #heldFor(classified: Classified, heldUntil: number, now: number): number {
    const { retry, random = Math.random, pauseProbeIntervalMs } = this.#options;
    if (classified.holdsSender) return Math.max(retry.minDelayMs, heldUntil - now) + Math.round(random() * retry.minDelayMs);
    return Math.max(retry.minDelayMs, Math.min(heldUntil - now, pauseProbeIntervalMs));
  }

  /** What the SMS's history says took it: the provider when there are several, the host when it has several. */
  #sentVia({ lane, endpoint }: Host): string | undefined {
    const { name, gateway } = lane.provider;
    const host = gateway.endpoints.length > 1 ? gateway.endpoints[endpoint] : undefined;
    if (this.#lanes.size === 1) return host && `via ${host}`;
    return `via ${name}${host ? ` at ${host}` : ''}`;
  }

  /** A wait the provider (`DELAY:n`, an HTTP `Retry-After`) or the pause decides; undefined means the backoff schedule. */
  #waitFor(classified: Classified, now: number): number | undefined {
    if (classified.action === 'delay' && classified.waitSeconds !== undefined) return providerDelayMs(classified.waitSeconds, this.#options.retry);
    if (classified.action === 'retry' && classified.retryAfter !== undefined) return retryAfterMs(classified.retryAfter, now, this.#options.retry);
    if (classified.action === 'pause') return this.#options.pauseProbeIntervalMs;
    return undefined;
  }

  /**
   * Each provider's hosts (a failed one: when it failed and, while the breaker skips it, until when) and its account
   * pause: a plain snapshot (the console's overview).
   */
  health() {
    const now = this.#clock();
    return [...this.#lanes.values()].map(({ provider, breaker, pause }) => ({
      provider: provider.name,
      // With every host failed the breaker tries them all anyway (its pause says when), but each is still failed until its time.
      hosts: provider.gateway.endpoints.map((endpoint, index) => ({ endpoint, failed: breaker.failure(index, now) })),
      // Its next probe is read from the store (src/admin.ts nextProbe): this relay's view moves with each probe it takes.
      pause: pause.paused ? { since: pause.since ?? now, reason: pause.reason ?? '' } : undefined,
    }));
  }
}

/** Whether a batch's answer says something of a provider's account: it was asked, on the relay's own account. */
function saysOf(attempted: Attempt, message: StoredMessage, lane: Lane): boolean {
  return attempted.asked.has(lane) && !message.gatewayAccount;
}

/** A provider whose hosts are asked before the others': one probing its pause, or with a host not failed now. */
function goesFirst(lane: Lane, now: number): boolean {
  return lane.pause.probing || lane.breaker.healthy(now);
}

/**
 * What an SMS's line (deferred, failed, held at the gateway) names: its number and code masked, and the gateway's
 * words, which may name the number, masked as the number is at info; the line's reason is masked too, as it may name a
 * sender id that is a phone number (namingTheSender), which only the bounce to the mail's own sender shows in full. Made when the line is told: a sent SMS has none.
 */
function smsLineFields(sms: ClaimedSms, classified: Classified): { to: string; code: string; gatewayText?: string } {
  const fields = { to: maskNumber(sms.number), code: maskNumbersIn(classified.code) };
  return classified.detail === undefined ? fields : { ...fields, gatewayText: maskNumbersIn(classified.detail) };
}

/**
 * What an SMS's line adds to its words as told (Told): how long its outcome was owed, when it was, or that it was not
 * recorded; a retry's time (`retry.at`) counted from when the line is told (`retry.now`), as an owed outcome's may have come meanwhile
 * (0: due at once). A retry not recorded has none: the next start sends the SMS again.
 */
function toldFields(told: Told, retry?: { readonly at: number; readonly now: number }): { recorded?: false; owedMs?: number; retryInMs?: number } {
  const fields: { recorded?: false; owedMs?: number; retryInMs?: number } = {};
  if (told.owedMs !== undefined) fields.owedMs = told.owedMs;
  if (!told.recorded) fields.recorded = false;
  else if (retry) fields.retryInMs = Math.max(0, retry.at - retry.now);
  return fields;
}

/** What an SMS's recorded error puts before the gateway's own words, which end it. */
const GATEWAY_SAID = ' (the gateway said: "';
const GATEWAY_SAID_END = '")';

/** An attempt's error as the SMS's history and its `last_error` keep it: the code, the reason, the gateway's words. */
function recordedError(classified: Classified): string {
  return `${classified.code}: ${classified.reason}${classified.detail === undefined ? '' : `${GATEWAY_SAID}${classified.detail}${GATEWAY_SAID_END}`}`;
}

/** An SMS's last recorded error (recordedError) taken apart again: its code and reason, and the gateway's words. */
function splitRecorded(last: string): { readonly error: string; readonly detail?: string } {
  const said = last.endsWith(GATEWAY_SAID_END) ? last.indexOf(GATEWAY_SAID) : -1;
  if (said < 0) return { error: last };
  return { error: last.slice(0, said), detail: last.slice(said + GATEWAY_SAID.length, -GATEWAY_SAID_END.length) };
}

/** What an SMS waiting in the queue is reported with when this round did not try it: its last attempt, or that none was made yet. */
const NOT_TRIED = { category: 'queued', code: 'QUEUED', reason: 'not tried yet: it waits in the queue' } as const;

function lastAttemptOf(sms: ClaimedSms): Pick<ReportedRecipient, 'category' | 'code' | 'reason' | 'detail'> {
  if (sms.lastError === undefined) return NOT_TRIED;
  const { error, detail } = splitRecorded(sms.lastError);
  const colon = error.indexOf(': ');
  // The category is not kept with the error: such a number gets the report's general status.
  return {
    category: 'unknown',
    code: colon < 0 ? error : error.slice(0, colon),
    reason: colon < 0 ? error : error.slice(colon + 2),
    ...(detail === undefined ? {} : { detail }),
  };
}

/** What the bounce of an SMS given up at the maximum age says: counting this round's request, if one was made. */
function expiredReport(sms: ClaimedSms, classified: Classified, attempted: boolean): Classified {
  if (classified.category === EXPIRED.category) return classified;
  return expiredOutcome({ ...sms, attempts: sms.attempts + (attempted ? 1 : 0), lastError: recordedError(classified) });
}

/**
 * An SMS given up at the maximum age, with its last attempt's error: the code and reason join the
 * expiry's reason, the gateway's words are its detail, as in the delay notice before (so the log
 * masks them and the Diagnostic-Code keeps them US-ASCII).
 */
function expiredOutcome(sms: ClaimedSms): Classified {
  const { error, detail } = splitRecorded(sms.lastError ?? '');
  const last = error ? `, the last: ${error}` : '';
  // An SMS an account pause held back from its first request has no attempt, but the pause's reason as its last error.
  const attempts = ` (${sms.attempts === 0 ? 'no attempt' : `${sms.attempts} attempt${sms.attempts === 1 ? '' : 's'}`}${last})`;
  return {
    action: 'fail',
    ...EXPIRED,
    reason: `the relay could not send it before it was too old to be useful${attempts}`,
    ...(detail === undefined ? {} : { detail }),
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

function endingOf(result: SubmissionResult, failure: Classified | undefined): RequestEnding {
  // A proxy's 502 or 504 is its word that the gateway behind it did not answer: the gateway's silence, not an answer.
  if (failure?.category === PROXY_NO_ANSWER) return 'unanswered';
  if (result.kind !== 'transport') return 'answered';
  return result.phase === 'connect' ? 'unreachable' : 'unanswered';
}

/**
 * Whether an answer marks its host failed and moves the SMS to the next host: a failover's, and a proxy's 502 or 504, the
 * usual "gateway down behind its load balancer" a backup is there for (a possible duplicate all the same: the gateway may have it).
 */
function failsTheHost(classified: Classified): boolean {
  return classified.action === 'failover' || classified.category === PROXY_NO_ANSWER;
}

/** How a request that got no answer per number failed (classified as its numbers are); undefined for an answer per number. */
function requestFailure(provider: DispatchProvider, result: SubmissionResult): Classified | undefined {
  if (result.kind === 'answered') return undefined;
  return provider.outcomes.classify(result.kind === 'transport' ? result.phase : 'request', result.code);
}

/** The label prefix of a request whose every number was refused for one reason (refusedAs). */
const REFUSED_NUMBER_LABEL = 'refused-number:';

/**
 * What a request's metric and log line say when every number of the answered request (`classified`, each
 * number's outcome) was refused for one reason (an SMPP submit_sm_resp with an error status answers one
 * number): `REFUSED_NUMBER_LABEL` and the reason's category. The prefix keeps them apart from a request's
 * own failures, whose categories a number's refusal may share (`gateway-error` for ESME_RSUBMITFAIL and an
 * HTTP 503, `unreachable` for a number no SMS reaches and a host that cannot be connected to).
 */
function refusedAs(result: SubmissionResult, read: AnswersRead): string | undefined {
  if (result.kind !== 'answered' || read.refusedFor === undefined) return undefined;
  return `${REFUSED_NUMBER_LABEL}${read.refusedFor}`;
}

/** What the outcomes of one request's numbers say together, read in one pass over them. */
interface AnswersRead {
  /** How many numbers the gateway took. */
  readonly sent: number;
  /** The last number's outcome (undefined for a request of none). */
  readonly last: Classified | undefined;
  /** The first outcome the relay could not read, the first that pauses the provider, the first that holds the sender's queue. */
  readonly unreadable: Classified | undefined;
  readonly pause: Classified | undefined;
  readonly senderFull: Classified | undefined;
  /** Whether every outcome is unreadable (a run of such requests pauses the provider). */
  readonly allUnreadable: boolean;
  /** The one category every number was refused for (none taken), if there is one (refusedAs). */
  readonly refusedFor: string | undefined;
  /** Whether the sender's queue took a message (sent or maybe sent), or one failed the sender outright (#notedSender). */
  readonly sendersQueueTook: boolean;
  /** Whether some outcome says something of the provider: one other than the sender's queue being full. */
  readonly aboutProvider: boolean;
}

function readAnswers(outcomes: Iterable<Classified>): AnswersRead {
  let sent = 0;
  let first: Classified | undefined;
  let last: Classified | undefined;
  let unreadableAnswer: Classified | undefined;
  let pause: Classified | undefined;
  let senderFull: Classified | undefined;
  let allUnreadable = true;
  let oneRefusal = true;
  let sendersQueueTook = false;
  let aboutProvider = false;
  for (const outcome of outcomes) {
    first ??= outcome;
    last = outcome;
    if (outcome.action === 'sent') sent++;
    if (outcome.action === 'sent' || outcome.category !== first.category) oneRefusal = false;
    if (unreadable(outcome)) unreadableAnswer ??= outcome;
    else allUnreadable = false;
    if (outcome.action === 'pause') pause ??= outcome;
    if (outcome.holdsSender) senderFull ??= outcome;
    else aboutProvider = true;
    if (outcome.action === 'sent' || outcome.action === 'ambiguous' || failsTheSender(outcome)) sendersQueueTook = true;
  }
  return {
    sent,
    last,
    unreadable: unreadableAnswer,
    pause,
    senderFull,
    allUnreadable,
    refusedFor: oneRefusal ? first?.category : undefined,
    sendersQueueTook,
    aboutProvider,
  };
}

function logResult(
  log: Logger,
  provider: DispatchProvider,
  result: SubmissionResult,
  failure: Classified | undefined,
  request: { readonly numbers: number; readonly endpoint: number; readonly ms: number; readonly outcome: string; readonly accepted: number },
  unreadableAnswer: Classified | undefined,
  certificateNews: boolean,
): void {
  const summary = result.kind === 'answered' ? `${request.accepted}/${request.numbers} accepted` : maskNumbersIn(failure?.code ?? result.code);
  const { numbers, endpoint, ms, outcome } = request;
  const fields = { provider: provider.name, endpoint, numbers, result: outcome, summary, ms };
  // The gateway may have sent the SMS, and its answer is not what the relay expects: the operator hears of each (its words masked as at info).
  if (unreadableAnswer) {
    log.warn({ ...fields, gatewayText: maskNumbersIn(unreadableAnswer.detail ?? '') }, `dispatch: ${unreadableAnswer.reason}`);
    return;
  }
  if (result.kind !== 'transport') {
    log.info(fields, 'dispatch: gateway answered');
    return;
  }
  const detail = maskNumbersIn(result.detail);
  // Nothing passes by itself, the operator must act: an error as it starts or changes, then info at each retry and probe.
  if (failure?.category === TLS_CERTIFICATE && certificateNews)
    log.error({ ...fields, alert: 'gateway-tls', detail }, `dispatch: ${failure.reason} (${detail})`);
  else if (failure?.category === TLS_CERTIFICATE) log.info({ ...fields, detail }, `dispatch: ${failure.reason} (${detail}), as before`);
  // A refused connection never reached the gateway; a timeout or a reset is the absence of its answer.
  else if (result.phase === 'connect') log.info({ ...fields, detail }, `dispatch: ${failure?.reason ?? 'the SMS gateway could not be reached'}`);
  else log.info({ ...fields, reason: failure?.reason, detail }, 'dispatch: no answer from the gateway');
}

/** Whether a request's untrusted certificate is news for its host (Lane.untrusted), which it records. */
function certificateChanged(lane: Lane, endpoint: number, result: SubmissionResult, failure: Classified | undefined): boolean {
  if (failure?.category === TLS_CERTIFICATE && result.kind === 'transport') {
    const news = lane.untrusted.get(endpoint) !== result.code;
    lane.untrusted.set(endpoint, result.code);
    return news;
  }
  // The connection was made (an answer, or none after the request was written): its certificate was trusted.
  if (result.kind !== 'transport' || result.phase !== 'connect') lane.untrusted.delete(endpoint);
  return false;
}

/**
 * Batches that may be claimed now: all while some provider takes the relay's account; while every
 * one refuses it, one probe when this relay takes the due probe of one of them (each provider whose
 * probe it takes is probed with it).
 */
async function allowance(lanes: readonly Lane[], now: number, free: number): Promise<number> {
  if (lanes.some((lane) => !lane.pause.paused)) return free;
  let probes = 0;
  for (const lane of lanes) if (await lane.pause.takeDueProbe(now)) probes++;
  if (lanes.some((lane) => !lane.pause.paused)) return free;
  return probes === 0 ? 0 : Math.min(free, 1);
}

/** The relay whose lease on an SMS ended before this one took it over, if another's did. */
function takenOverFrom(sms: ClaimedSms): string | undefined {
  return sms.takenOverFrom;
}

/**
 * A refusal of the sender (Vonage's 15, SMPP's ESME_RINVSRCADR, Twilio's 21212) names the sender sent, and where it
 * came from: the gateway's words seldom do, and a user whose mail named none cannot otherwise tell that the relay's
 * own `gateway.from` was refused. Without either, the account's own default at the provider was refused, unnamed.
 */
function namingTheSender(classified: Classified, message: StoredMessage, provider: DispatchProvider): Classified {
  if (classified.category !== 'sender') return classified;
  const sender =
    message.senderId !== undefined
      ? `"${message.senderId}", which the mail named`
      : provider.defaultSenderId === undefined
        ? undefined
        : `"${provider.defaultSenderId}", the relay's gateway.from`;
  return sender === undefined ? classified : { ...classified, reason: `${classified.reason} (the sender ${sender})` };
}

/** An answer that fails the sender the mail named outright (its Messaging Service deleted, a From Twilio refuses): no queue of it to wait for. */
function failsTheSender(classified: Classified): boolean {
  return classified.action === 'fail' && classified.category === 'sender';
}
