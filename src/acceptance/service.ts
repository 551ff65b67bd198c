import { setTimeout as sleep } from 'node:timers/promises';
import { asRelayError, RELAY_ERRORS, RelayError, type RelayErrorCode } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { LoginThrottle, sharedLoginFailures, signInName } from '../policy/logins.ts';
import { verifyPassword } from '../policy/passwords.ts';
import { RateLimits, type RateTicket } from '../policy/rates.ts';
import { type Principal, SenderPolicy } from '../policy/senders.ts';
import { maskContext, maskNumber, maskNumbersIn } from '../sms/numbers.ts';
import { newMessageId } from '../random-ids.ts';
import type { ReplyTracking } from '../replies/tracking.ts';
import type { FoldedRecipient, Store } from '../store/types.ts';
import { returnPathOf } from '../replies/return-path.ts';
import { bounceOf, takeBounce } from './bounces.ts';
import { type BuildReport, foldReport } from './alert-storm.ts';
import { buildNewMail, notifyOfBoth } from './new-mail.ts';
import { admitMembers, checkListSize, checkNumberCount, checkRecipientCount, hasRecipient, routeOf, type ShownNumber, shownToSender } from './number-checks.ts';
import { postmasterMail, postmasterOf } from './postmaster.ts';
import { holdsFormatCharacter, isPostmasterAddress, knownSenderOf, type ResolvedRecipient, resolveRecipient, writtenBySender } from './recipient-addresses.ts';
import type {
  AcceptanceSettings,
  AcceptedBounce,
  AdmittedRecipient,
  AcceptedForPostmaster,
  AcceptedMail,
  AcceptedOwnMail,
  Outcome,
  ProviderLimits,
  RecipientRequest,
  Routes,
  SenderRequest,
  TaggedNumber,
  Transaction,
} from './types.ts';

/**
 * Where a password may travel without TLS: this host's own loopback address only. Not all of 127/8:
 * tests and local setups use other 127.x addresses to stand for remote clients.
 */
export const LOOPBACK_ADDRESSES: ReadonlySet<string> = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);
/** AUTH_FAILED's reason for an AUTH PLAIN that asks to act as another account. */
const NO_PROXY_AUTH = 'this relay lets no account act as another; leave the authorization identity empty';

/** A valid hash of a random password, verified against when the user name is unknown. */
export const DUMMY_HASH = 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

export interface AcceptanceOptions {
  readonly settings: AcceptanceSettings;
  readonly store: Store;
  /** The limits of the provider that will send. */
  readonly provider: ProviderLimits;
  /** Routes across providers (`gateway.routes`): each number's route's limits apply instead; unset = `provider`'s. */
  readonly routes?: Routes | undefined;
  readonly tracking: ReplyTracking;
  readonly logger: Logger;
  /** Called after each mail is committed, so dispatch can start at once. */
  readonly onAccepted: () => void;
  /** Called after a mail for the postmaster (or a bounce) is queued, so the mailer can deliver it at once. */
  readonly onMailQueued: () => void;
  /** Builds the bounce of a list's members refused while the others were taken (the dispatcher's reports), queued with the mail; unset = none. */
  readonly report?: BuildReport | undefined;
  readonly metrics?: Metrics | undefined;
  /** Why the relay cannot take mail now (the disk is nearly full, shutting down), or undefined. */
  readonly unavailable?: () => RelayError | undefined;
  readonly clock?: () => number;
  /** How a failed sign-in's answer waits (a timer; tests record the delays instead of sleeping them). */
  readonly pause?: (ms: number) => Promise<void>;
}

/**
 * What every input (SMTP, the web console) must pass before the relay promises to send: one entry
 * point per stage of a submission. `sender` decides who is sending (trusted network, listed network
 * or account) and whether that sender may; `recipient` decides each address (valid numbers, allowed,
 * not opted out, not too many); `message` turns the raw mail into SMS text under the sender's rules
 * and limits and commits it with one job per number. Each answers with an Outcome: a refusal is a
 * value with its catalogue code, for the input to put in its own words (an SMTP reply, a JSON error).
 */
export class AcceptanceService {
  readonly #options: AcceptanceOptions;
  readonly #clock: () => number;
  readonly #senders: SenderPolicy;
  readonly #logins: LoginThrottle;
  readonly #rates: RateLimits;

  constructor(options: AcceptanceOptions) {
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
    this.#senders = new SenderPolicy(options.settings.senders);
    this.#logins = new LoginThrottle(sharedLoginFailures(options.store));
    this.#rates = new RateLimits(options.store);
  }

  /** Whether anyone can sign in at all (an input without accounts offers no sign-in). */
  get hasAccounts(): boolean {
    return this.#senders.hasAccounts;
  }

  /** Clients in the trusted networks: no AUTH, no limits but the destination blocklists. */
  isTrusted(address: string): boolean {
    return this.#senders.isTrusted(address);
  }

  /** Clients sending without AUTH by their address: the trusted networks and the devices listed under `networks`. */
  knownByAddress(address: string): boolean {
    return this.#senders.knownByAddress(address);
  }

  /** Why `client` may not send a password on this connection (no TLS, and not this host itself), or undefined. */
  insecureAuth(client: string, secure: boolean): RelayError | undefined {
    return secure || LOOPBACK_ADDRESSES.has(client) ? undefined : new RelayError('ENCRYPTION_REQUIRED');
  }

  /**
   * An account's sign-in from `client`: over TLS (`secure`) or from loopback only, slowed and then
   * blocked per client address after failures (counted across the relays sharing the store). A
   * failure is answered only after its delay; a store that cannot count answers STORE_UNAVAILABLE.
   * `authzid`, AUTH PLAIN's authorization identity: one other than `username` asks to act as another
   * account, which no account may (RFC 4616 §2), refused before the password is checked and not counted.
   * `session`, the protocol's id of the connection (SMTP's), which the log lines carry to match them to it.
   */
  async authenticate(
    username: string,
    password: string,
    client: string,
    secure: boolean,
    authzid?: string,
    session?: string,
  ): Promise<Outcome<{ readonly user: string }>> {
    if (authzid !== undefined && authzid !== username) {
      const refusal = new RelayError('AUTH_FAILED', `${RELAY_ERRORS.AUTH_FAILED.text}: ${NO_PROXY_AUTH}`);
      // Either name may be a password typed into the wrong field: both are logged as every sign-in name is.
      this.#options.logger.info(
        { session, client, user: this.#signInName(username), authzid: this.#signInName(authzid), code: refusal.code },
        'acceptance: authentication refused',
      );
      return refused(refusal);
    }
    const insecure = this.insecureAuth(client, secure);
    if (insecure) return refused(insecure);
    try {
      const account = this.#senders.account(username);
      // A missing account costs the same scrypt as a wrong password: timing tells no user names.
      const logged = this.#signInName(username);
      const attempt = await this.#logins.attempt(client, logged, this.#clock(), async () =>
        (await verifyPassword(password, account?.passwordHash ?? DUMMY_HASH)) ? account : undefined,
      );
      if (attempt.outcome === 'blocked') return refused(new RelayError('LOGIN_BLOCKED'));
      if (attempt.outcome === 'passed') {
        this.#options.logger.info({ session, client, user: username }, 'acceptance: authenticated');
        return { ok: true, user: username };
      }
      this.#options.logger.warn({ session, client, user: logged, delayMs: attempt.delayMs }, 'acceptance: authentication failed');
      await (this.#options.pause ?? sleep)(attempt.delayMs);
      return refused(new RelayError('AUTH_FAILED'));
    } catch (error) {
      return refused(error);
    }
  }

  /** A sign-in name as every log line (and the failure counts) shows it: an account's as written, any other as a tag (signInName). */
  #signInName(name: string): string {
    return signInName(name, this.#senders.account(name) !== undefined);
  }

  /** MAIL: who sends, and whether they may use this envelope sender. Starts a transaction. */
  sender(request: SenderRequest): Outcome<{ readonly transaction: Transaction }> {
    const unavailable = this.#options.unavailable?.();
    if (unavailable) return refused(unavailable);
    const principal = request.user === undefined ? this.#senders.byAddress(request.client.address) : this.#senders.account(request.user)?.principal;
    if (!principal) return refused(new RelayError('AUTH_REQUIRED'));
    const problem = request.envelopeFrom === '' ? undefined : this.#senders.senderProblem(principal, request.envelopeFrom);
    if (problem) return refused(new RelayError('POLICY_DENIED', `Sender refused: ${problem}`));
    // Written out, not a spread of the request: a copy grown by two properties regrew its property store (~0.6 kB a mail).
    const { client, user, protocol, envelopeFrom, dsn } = request;
    return { ok: true, transaction: { client, user, protocol, envelopeFrom, dsn, principal, recipients: new Map() } };
  }

  /**
   * RCPT: the numbers an address stands for, each allowed for this sender; the transaction with it
   * added. The postmaster is taken from every sender, the null sender too (bounces and reports are
   * what it is for), but not in a transaction with numbers: a transaction is one commit, so the later
   * kind is deferred (452) for the client to send in a transaction of its own.
   */
  async recipient(
    transaction: Transaction,
    rcpt: RecipientRequest,
  ): Promise<
    Outcome<{ readonly transaction: Transaction; readonly repeated?: true; readonly tagged?: TaggedNumber }> & {
      readonly transaction?: Transaction | undefined;
      readonly ofTheNumber?: true;
    }
  > {
    let numbers: readonly string[] = [];
    try {
      const key = rcpt.address.toLowerCase();
      const { domains } = this.#options.settings.recipients;
      // Before the null sender's refusal: a bounce of a reply mail comes from it (RFC 5321 §4.5.5), or from an address (Exchange).
      // A local part written with blanks or format characters (spaced) is the postmaster's or a return path only as
      // written without them: resolveRecipient says what to write.
      const returnPath = rcpt.spaced === undefined ? returnPathOf(rcpt.address, domains) : undefined;
      if (returnPath) {
        if (transaction.recipients.size > 0) throw new RelayError('TOO_MANY_NUMBERS', "Too many recipients: a reply mail's bounce goes in a mail of its own");
        const mailbox = await this.#options.store.returnPathMailbox(returnPath.inboundId, returnPath.returnPath);
        if (mailbox === undefined) throw new RelayError('UNKNOWN_RETURN_PATH');
        return withRecipient(transaction, key, { rcpt, target: { bounce: { ...returnPath, mailbox } } });
      }
      if (rcpt.spaced === undefined && isPostmasterAddress(rcpt.address, domains)) {
        const mailbox = this.#options.settings.postmaster;
        if (mailbox === undefined) throw new RelayError('NO_POSTMASTER');
        deferOtherKinds(transaction);
        if (transaction.recipients.size > 0 && postmasterOf(transaction) === undefined) {
          throw new RelayError('TOO_MANY_NUMBERS', "Too many recipients: this mail goes to phone numbers; send the postmaster's copy in a mail of its own");
        }
        return withRecipient(transaction, key, { rcpt, target: { postmaster: mailbox } });
      }
      if (transaction.envelopeFrom === '') {
        throw new RelayError('AUTOMATED_MAIL', 'Mail from the null sender <> (a bounce or an auto-reply) is never sent as SMS');
      }
      // Every refusal for good comes before the deferrals below: a 452 is for the count or the kind of
      // recipients alone (RFC 5321 §4.5.3.1.10), and a recipient no mail could take must get its 550 at
      // once, not be queued and retried by the client's server only to bounce days later.
      const { principal } = transaction;
      const target = await this.#resolve(rcpt.address, rcpt.spaced);
      if ('numbers' in target) numbers = target.numbers;
      checkListSize(rcpt.address, target, this.#options.settings.maxNumbersPerMail, principal);
      const admitted = await this.#admitted(principal, target, this.#shownIn(rcpt.address, target));
      deferOtherKinds(transaction);
      if (postmasterOf(transaction) !== undefined) {
        throw new RelayError('TOO_MANY_NUMBERS', 'Too many recipients: this mail goes to the postmaster; send the SMS in a mail of its own');
      }
      checkRecipientCount(transaction.recipients, { rcpt, target: admitted }, this.#options.settings.maxRecipients);
      // The mail's recipients with this one in place of any it repeats, in one list (not a copy filtered, mapped and spread).
      const entries: { readonly target: ResolvedRecipient }[] = [];
      for (const [other, entry] of transaction.recipients) if (other !== key) entries.push(entry);
      entries.push({ target: admitted });
      checkNumberCount(entries, this.#options.settings.maxNumbersPerMail, principal, 'rcpt');
      const added = withRecipient(transaction, key, { rcpt, target: admitted });
      // A `+tag` left out of the number: the reply says so, and which number is texted.
      const [number] = numbers;
      return 'tag' in target && target.tag !== undefined && number !== undefined ? { ...added, tagged: { number, tag: target.tag } } : added;
    } catch (error) {
      const refusal = { ...refused(error), ...(refusedForItsNumber(error, rcpt.address, numbers) ? { ofTheNumber: true as const } : {}) };
      // Every number of it refused by policy (admitMembers refuses a list only when none is left): the transaction keeps them.
      if (refusal.error.code !== 'POLICY_DENIED' || numbers.length === 0) return refusal;
      return { ...refusal, transaction: { ...transaction, refusedAtRcpt: new Set([...(transaction.refusedAtRcpt ?? []), ...numbers]) } };
    }
  }

  /**
   * An address's numbers `principal` may text: each taken by a route, and by the destination rules and the opt-out
   * list; a list's others refused (admitMembers), for their bounce at DATA. `shown` writes a number in a refusal.
   */
  async #admitted(principal: Principal, target: ResolvedRecipient, shown: ShownNumber): Promise<ResolvedRecipient> {
    if (!('numbers' in target)) return target;
    const { routes } = this.#options;
    for (const number of target.numbers) if (routes) routeOf(number, routes, shown);
    const { admitted, refused } = await admitMembers(principal, target.numbers, this.#options.store, this.#senders, shown);
    return refused.length === 0 ? { numbers: admitted } : { numbers: admitted, refused };
  }

  /**
   * How a refusal of a RCPT writes its number: whole when the client wrote that number itself in it (writtenBySender),
   * which tells the client nothing it did not write, whoever it is; masked for a distribution list's member, which is
   * the relay's to know (and in the log, which masks every number).
   */
  #shownIn(address: string, target: ResolvedRecipient): ShownNumber {
    const [number, ...others] = 'numbers' in target ? target.numbers : [];
    const written = number !== undefined && others.length === 0 && writtenBySender(address, number, this.#options.settings.recipients);
    return shownToSender(written);
  }

  /** The numbers of an address; for a local part that is no valid number, what its SMS said it is. */
  async #resolve(address: string, spaced: string | undefined): Promise<ResolvedRecipient> {
    try {
      return resolveRecipient(address, this.#options.settings.recipients, spaced);
    } catch (error) {
      if (!(error instanceof RelayError && error.code === 'BAD_NUMBER')) throw error;
      // A number with a format character in it (a bidi override shows its digits in another order) is refused as the
      // docs say, even when the number without it once texted the relay: never read past what its writer saw.
      if (spaced !== undefined && holdsFormatCharacter(spaced)) throw error;
      const known = await knownSenderOf(address, (sender) => this.#options.store.knowsSender(sender));
      if (known === undefined) throw error;
      return known;
    }
  }

  /**
   * DATA: the raw mail made into SMS under the sender's rules and limits, committed, and dispatch
   * told; a mail for the postmaster queued as it is for the mailer. A refusal names the id the mail
   * would have had, for the log.
   */
  async message(
    transaction: Transaction,
    raw: Buffer,
  ): Promise<Outcome<AcceptedMail | AcceptedForPostmaster | AcceptedBounce | AcceptedOwnMail> & { readonly id: string }> {
    const id = newMessageId();
    try {
      const returnPath = bounceOf(transaction);
      if (returnPath !== undefined)
        return { ok: true, id, by: transaction.principal.name, bounce: await takeBounce(returnPath, transaction.envelopeFrom, raw, this.#options.store) };
      const postmaster = postmasterOf(transaction);
      if (postmaster !== undefined) return await this.#forPostmaster(id, transaction, raw, postmaster);
      const { principal } = transaction;
      const { store, provider, routes, tracking, settings } = this.#options;
      const built = await buildNewMail(id, raw, transaction, { settings, store, provider, routes, senders: this.#senders, tracking }, this.#clock());
      if ('returned' in built) {
        const { messageIdHeader, listId } = built.trace;
        return { ok: true, id, by: principal.name, returned: built.returned, messageIdHeader, listId };
      }
      const { mail, cutFrom, attachments, subjectForBody, unread, contextNotTaken, posedAs, replyToAddresses, mailboxNote, partsCapped, standIns, refused } =
        built;
      // Built before the commit and queued in it: a crash after the 250 cannot lose the refused members' bounce, nor the
      // folded numbers' report (awaited only for a mail with a folded number: any other pays no microtask for it).
      const bounce = refused.length === 0 ? undefined : await this.#options.report?.('failed', { ...mail.sms, ...mail }, refused);
      const folded = mail.folded ?? NOTHING_FOLDED;
      const relayed = folded.length === 0 ? undefined : await foldReport(mail, this.#options.report);
      // Folded numbers are not in `recipients`: they send nothing, so they take nothing of the sender's budgets.
      const parts = mail.sms.parts * mail.recipients.length;
      // A try, not a .catch handler: a closure and a promise more per mail, and a microtask on the 250's way.
      let ticket: RateTicket;
      let accepted: Awaited<ReturnType<Store['acceptMail']>>;
      try {
        ticket = await this.#rates.take(principal, parts, this.#clock());
      } catch (error) {
        // A resend sends nothing either: refused by a limit (the one its first copy filled), it is still taken as the
        // resubmission it is, and only as one, lest the client's retry come after delivery.resubmissionWindow and text
        // the phone again. A new mail is never stored without its count.
        if (mail.resubmission === undefined || !isRateRefusal(error)) throw error;
        accepted = await store.acceptMail(mail, [], { onlyAsResubmission: true });
        if (accepted.duplicateOf === undefined) throw error;
        ticket = undefined;
      }
      try {
        // A resubmission the store folds sends nothing: its count is given back in that commit (rateTicket).
        accepted ??= await store.acceptMail(mail, relayed ? [...(bounce ? [bounce] : []), relayed] : bounce ? [bounce] : [], { rateTicket: ticket?.id });
      } catch (error) {
        await this.#rates.release(ticket);
        throw error;
      }
      const { duplicateOf } = accepted;
      this.#options.onAccepted();
      this.#options.metrics?.accepted.inc();
      // A resubmission stored neither: its original did.
      if (refused.length > 0 && duplicateOf === undefined) {
        this.#options.logger.info(
          { msgId: id, numbers: refused.map((member) => maskNumber(member.number)) },
          'acceptance: list members refused; the others are sent',
        );
        if (bounce) this.#options.onMailQueued();
      }
      if (relayed && duplicateOf === undefined) this.#options.onMailQueued();
      if (contextNotTaken) {
        const { named, given, numbers } = contextNotTaken;
        this.#options.logger.info(
          { msgId: id, named: maskContext(named), given: maskContext(given), numbers: numbers.map(maskNumber) },
          "acceptance: the mail names the user context of another mailbox's conversation with its number; sent under a new one",
        );
      }
      if (posedAs !== undefined)
        this.#options.logger.warn(
          {
            msgId: id,
            by: principal.name,
            posedAs: maskNumbersIn(posedAs),
            ...(mail.sms.userContext === undefined ? {} : { context: maskContext(mail.sms.userContext) }),
          },
          "acceptance: the mail's From or Reply-To is a conversation's mailbox its sender may not write as (not among its senders); sent in a conversation of its own",
        );
      if (mailboxNote)
        this.#options.logger.info(
          { msgId: id, note: maskNumbersIn(mailboxNote) },
          "acceptance: the mail's headers name no mailbox the phone's replies may go to as written",
        );
      if (replyToAddresses) {
        this.#options.logger.info(
          { msgId: id, replyToAddresses: replyToAddresses.count },
          'acceptance: the Reply-To names several addresses; replies go to the first only',
        );
      }
      return {
        ok: true,
        id,
        by: principal.name,
        numbers: mail.recipients.length,
        encoding: mail.sms.encoding,
        parts: mail.sms.parts,
        cutFrom,
        // A resubmission stored nothing of a fold: its original's numbers were sent or folded.
        repeated: duplicateOf === undefined ? folded : NOTHING_FOLDED,
        duplicateOf,
        attachments,
        subjectForBody,
        unread,
        context: mail.sms.userContext,
        contextNotTaken,
        replyToAddresses,
        mailboxNote,
        partsCapped,
        standIns,
      };
    } catch (error) {
      return { ...refused(error), id };
    }
  }

  /** A mail for the postmaster: counted as one mail of no SMS parts against the sender's limits, then queued. */
  async #forPostmaster(id: string, transaction: Transaction, raw: Buffer, mailbox: string): Promise<{ readonly ok: true } & AcceptedForPostmaster> {
    const { store, settings } = this.#options;
    const now = this.#clock();
    const ticket = await this.#rates.take(transaction.principal, 0, now);
    await store.enqueueMail([postmasterMail(id, transaction, raw, mailbox, settings.hostname, now)]).catch(async (error: unknown) => {
      await this.#rates.release(ticket);
      throw error;
    });
    this.#options.onMailQueued();
    this.#options.metrics?.accepted.inc();
    return { ok: true, id, by: transaction.principal.name, postmaster: mailbox };
  }
}

/**
 * The transaction with a RCPT's recipient added under `key`. A recipient the mail already has, however written, is
 * accepted again and adds nothing (the SMTP session counts it as such). The same address again (in any case) keeps its
 * first RCPT, with the reports either asked for and the first ORCPT given, as toRecipients merges two writings of one
 * number: replaced, a later NOTIFY=NEVER lost the failure report the first asked for. A module function, not a closure
 * per RCPT: tsx names each closure it makes.
 */
function withRecipient(
  transaction: Transaction,
  key: string,
  added: AdmittedRecipient,
): { readonly ok: true; readonly transaction: Transaction; readonly repeated?: true } {
  const first = transaction.recipients.get(key)?.rcpt;
  const rcpt =
    first === undefined
      ? added.rcpt
      : { ...first, dsn: { notify: notifyOfBoth(first.dsn?.notify, added.rcpt.dsn?.notify), orcpt: first.dsn?.orcpt ?? added.rcpt.dsn?.orcpt } };
  return {
    ok: true,
    transaction: { ...transaction, recipients: new Map(transaction.recipients).set(key, { rcpt, target: added.target }) },
    ...(hasRecipient(transaction.recipients.values(), added) ? { repeated: true as const } : {}),
  };
}

/** A mail none of whose numbers was folded (the alert-storm window off, or no repeat). */
const NOTHING_FOLDED: readonly FoldedRecipient[] = [];

/** A transaction that is the bounce of a reply mail takes nothing else: 452, for the client to send it in a mail of its own. */
function deferOtherKinds(transaction: Transaction): void {
  if (bounceOf(transaction)) {
    throw new RelayError('TOO_MANY_NUMBERS', 'Too many recipients: this mail is the bounce of a reply mail; send anything else in a mail of its own');
  }
}

/** The refusals of a RCPT that are for its number(s) themselves, once the address was read as a number or a list. */
const NUMBER_REFUSALS: ReadonlySet<string> = new Set(['POLICY_DENIED', 'NO_ROUTE', 'LIST_TOO_LARGE'] satisfies RelayErrorCode[]);
/**
 * A local part written as a number: digits of any script and a phone number's punctuation (`+`, `(`, `)`, `.`, `-`,
 * as in `<number>-<serviceId>`), after a `tel:` or `sms:` if any. A mistyped one is a bad number; a name with a digit
 * among letters (`noc1`, `team2`) is a list name guessed, which counts.
 */
const WRITTEN_AS_A_NUMBER = /^(?:(?:tel|sms):)?\+?[\p{Nd}().-]*\p{Nd}[\p{Nd}().-]*$/iu;

/**
 * Whether a RCPT was refused for a reason of its number itself (opted out, premium or blocked, outside the
 * destinations, no route, a list too long, or a number that is no valid number), the relay's own per-number
 * policy, which a sender mailing a roster cannot foresee; not an unknown name, a foreign domain or a routing trick,
 * which is what scanners and dictionary attacks get. The SMTP session's limit on refusals tells them apart.
 */
function refusedForItsNumber(error: unknown, address: string, numbers: readonly string[]): boolean {
  const { code } = asRelayError(error);
  if (numbers.length > 0) return NUMBER_REFUSALS.has(code);
  return code === 'BAD_NUMBER' && WRITTEN_AS_A_NUMBER.test(address.slice(0, Math.max(address.lastIndexOf('@'), 0)));
}

/** The refusals of a sender's limits (RateLimits#take): a resend, which sends nothing, is not held to them. */
const isRateRefusal = (error: unknown): boolean => error instanceof RelayError && (error.code === 'RATE_LIMITED' || error.code === 'OVER_DAILY_BUDGET');

function refused(error: unknown): { readonly ok: false; readonly error: RelayError } {
  return { ok: false, error: asRelayError(error) };
}
