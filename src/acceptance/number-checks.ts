import { RelayError } from '../errors.ts';
import { countryOf, regionDescribed } from '../policy/destinations.ts';
import type { Principal, SenderPolicy } from '../policy/senders.ts';
import { maskNumber } from '../sms/numbers.ts';
import type { ReplyStore } from '../store/types.ts';
import { optOutCause } from '../vocabulary.ts';
import type { RefusedMember, ResolvedRecipient } from './recipient-addresses.ts';
import { everyStandIn, tightestSegmentLimits } from './route-limits.ts';
import type { AdmittedRecipient, ProviderLimits, RouteLimits, Routes } from './types.ts';

/** How a refusal writes the number it is about: masked (maskNumber), or whole to whoever has it already. */
export type ShownNumber = (e164: string) => string;

/**
 * How a refusal (the SMTP reply, a bounce's reason) writes a number to the mail's sender: whole where the sender wrote
 * that number itself (at its own address, in a subject's `To:`), which tells it nothing it did not write; masked where it
 * is the relay's to know (a distribution list's member). Info logs mask every number either way.
 */
export function shownToSender(writtenBySender: boolean): ShownNumber {
  return writtenBySender ? (whole) => whole : maskNumber;
}

/**
 * The limits of the route that takes `number`; NO_ROUTE (550 5.1.1) when none does, the number written by `shown`
 * (masked by default: a list's member is the relay's to know).
 */
export function routeOf(number: string, routes: Routes, shown: ShownNumber = maskNumber): RouteLimits {
  const limits = routes.limitsOf(number);
  if (!limits) throw noRoute(number, routes, shown);
  return limits;
}

/** A route's country is the number's own region, as a sender's destinations read it (destinations.ts): the refusal names it. */
function noRoute(number: string, routes: Routes, shown: ShownNumber): RelayError {
  const region = countryOf(number);
  const fix = region === undefined ? '' : `: it is in ${regionDescribed(region)}; add ${region} to a route's match`;
  return new RelayError('NO_ROUTE', `No route: no SMS provider of this relay takes ${shown(number)} (routes: ${routes.described})${fix}`);
}

/** Why `principal` may not text `number` by the destination rules (premium, blocked, allowed): POLICY_DENIED, or undefined. */
function destinationRefusal(principal: Principal, number: string, senders: SenderPolicy, shown: ShownNumber): RelayError | undefined {
  return refusal(senders.destinationProblem(principal, number, shown));
}

/** A destination rule's refusal (POLICY_DENIED, 550 5.7.1), for a problem there is. */
function refusal(problem: string | undefined): RelayError | undefined {
  return problem === undefined ? undefined : new RelayError('POLICY_DENIED', `Recipient refused: ${problem}`);
}

/**
 * Why the relay texts `number` for no sender at all (RCPT would refuse it whoever wrote): no route takes it, or every
 * sender's destination rules refuse it (SenderPolicy.refusedToEverySender); undefined when one of them may. The
 * opt-out list aside: the store's, which the inbound side reads with the SMS.
 */
export function refusedForEveryone(number: string, routes: Routes | undefined, senders: SenderPolicy, shown: ShownNumber = maskNumber): RelayError | undefined {
  if (routes && !routes.limitsOf(number)) return noRoute(number, routes, shown);
  return refusal(senders.refusedToEverySender(number, shown));
}

/**
 * What a mail to `numbers` must fit: the provider's limits, or with routes those of every route its
 * numbers take — the fewest parts, and each route's first provider's sender-id rules.
 */
export function limitsFor(numbers: readonly string[], provider: ProviderLimits, routes: Routes | undefined): ProviderLimits {
  if (!routes) return provider;
  const taken = [...new Set(numbers.map((number) => routeOf(number, routes)))];
  return {
    capabilities: {
      maxParts: Math.min(...taken.map((limits) => limits.capabilities.maxParts)),
      scheduling: taken.every((limits) => limits.capabilities.scheduling),
      standIns: everyStandIn(taken),
    },
    segmentLimits: tightestSegmentLimits(taken.map((limits) => limits.segmentLimits)),
    senderIdProblem(senderId) {
      for (const limits of taken) {
        const problem = limits.senderIdProblem(senderId);
        if (problem) return `${problem} (route ${limits.route})`;
      }
      return undefined;
    },
  };
}

/** Whether `principal` may text `number`: destinations (premium, blocked, allowed) and the opt-out list; `shown` writes the number. */
async function admitNumber(
  principal: Principal,
  number: string,
  store: Pick<ReplyStore, 'isOptedOut' | 'optOutKeyword'>,
  senders: SenderPolicy,
  shown: ShownNumber,
): Promise<void> {
  const refusal = destinationRefusal(principal, number, senders, shown);
  if (refusal) throw refusal;
  // The cheap check first (a number is rarely opted out); the keyword is read only to say which the phone
  // texted. None by then: a START came between the two, and the number may be texted again.
  const keyword = (await store.isOptedOut(number)) ? await store.optOutKeyword(number) : undefined;
  if (keyword !== undefined) {
    throw new RelayError('POLICY_DENIED', `Recipient refused: ${shown(number)} has opted out of SMS from this relay (${optOutCause(keyword)})`);
  }
}

/**
 * The numbers of a list (or a subject) `principal` may text, and those it may not with why: one member opted out,
 * premium-rate or outside the sender's destinations must not keep the mail from the others (docs/configuration.md,
 * `sms.lists`). Refused whole, with the first member's refusal, only when no member is left and the mail has no other
 * numbers (`othersTaken`: a subject's beside numbers accepted at RCPT, which its refusal must not take back); a refusal
 * that is no member's own (the store unavailable) refuses whole at once. `shown` writes the numbers in the refusals (masked by default).
 */
export async function admitMembers(
  principal: Principal,
  numbers: readonly string[],
  store: Pick<ReplyStore, 'isOptedOut' | 'optOutKeyword'>,
  senders: SenderPolicy,
  shown: ShownNumber = maskNumber,
  othersTaken = false,
): Promise<{ readonly admitted: readonly string[]; readonly refused: readonly RefusedMember[] }> {
  // All at once, not one after another: a list's opt-out reads share the store's turn (PostgreSQL asks them in one
  // statement), where awaiting each would cost a round trip per member.
  const settled = await Promise.allSettled(numbers.map((number) => admitNumber(principal, number, store, senders, shown)));
  const admitted: string[] = [];
  const refused: { readonly number: string; readonly error: RelayError }[] = [];
  for (const [index, outcome] of settled.entries()) {
    const number = numbers[index] as string;
    if (outcome.status === 'fulfilled') admitted.push(number);
    else if (outcome.reason instanceof RelayError && outcome.reason.code === 'POLICY_DENIED') refused.push({ number, error: outcome.reason });
    else throw outcome.reason;
  }
  const [first] = refused;
  if (admitted.length === 0 && first && !othersTaken) throw first.error;
  return { admitted, refused: refused.map(({ number, error }) => ({ number, reason: error.message })) };
}

/** The most distinct numbers one mail of `principal` may go to, and the setting that says so. */
function numberLimit(maxNumbersPerMail: number, principal: Principal): { readonly limit: number; readonly setting: string } {
  const own = principal.maxRecipients;
  if (own !== undefined && own < maxNumbersPerMail) return { limit: own, setting: `maxRecipients of ${principal.kind} ${principal.name}` };
  return { limit: maxNumbersPerMail, setting: 'smtp.maxNumbersPerMail' };
}

/**
 * At most `maxNumbersPerMail` (and the sender's `maxRecipients`) distinct numbers per mail. At RCPT
 * the refusal is temporary (TOO_MANY_NUMBERS, 452): the client sends the rest in another mail. The
 * numbers of a subject (`stage: 'subject'`) are refused at the end of DATA, where a 4xx would have the
 * client's server retry for days a mail that can never pass: a bad relay parameter, permanent.
 */
export function checkNumberCount(
  entries: readonly { readonly target: ResolvedRecipient }[],
  maxNumbersPerMail: number,
  principal: Principal,
  stage: 'rcpt' | 'subject',
): void {
  const { limit, setting } = numberLimit(maxNumbersPerMail, principal);
  // No more numbers named than the limit, so no more distinct ones: each RCPT asks, and builds no Set for it.
  let named = 0;
  for (const { target } of entries) if ('numbers' in target) named += target.numbers.length;
  if (named <= limit) return;
  const distinct = new Set(entries.flatMap(({ target }) => ('numbers' in target ? target.numbers : [])));
  if (distinct.size <= limit) return;
  // Which limit, as the list's and the subject's refusals say: the operator sees whether the sender's or the relay's.
  const tooMany = `Too many phone numbers: this mail would go to more than ${limit} (${setting})`;
  if (stage === 'rcpt') throw new RelayError('TOO_MANY_NUMBERS', `${tooMany}; send the rest in another mail`);
  throw new RelayError('BAD_PARAMETER', `${tooMany}: split the numbers over several mails`);
}

/**
 * The subject's numbers a mail takes within its number limit, and those beyond it: numbers accepted at RCPT (`taken`)
 * got their 250 and keep it, so a subject that adds more than the mail has room for is not refused whole at the end of
 * DATA; its numbers fill the room left in the order written (one the mail has already takes none) and the rest are
 * bounced, as a subject's number policy refuses is. A mail with no other numbers is refused whole by checkNumberCount
 * (554) when its subject alone is over the limit: none of it was accepted yet.
 */
export function subjectWithinLimit(
  taken: readonly string[],
  subject: readonly string[],
  maxNumbersPerMail: number,
  principal: Principal,
): { readonly admitted: readonly string[]; readonly overLimit: readonly RefusedMember[] } {
  if (taken.length === 0) return { admitted: subject, overLimit: [] };
  const { limit, setting } = numberLimit(maxNumbersPerMail, principal);
  const numbers = new Set(taken);
  const admitted: string[] = [];
  const overLimit: RefusedMember[] = [];
  for (const number of subject) {
    if (numbers.has(number) || numbers.size < limit) {
      numbers.add(number);
      admitted.push(number);
    } else {
      const reason = `Too many phone numbers: this mail goes to ${limit}, the most one mail may (${setting}); send this number in another mail`;
      overLimit.push({ number, reason, overLimit: true });
    }
  }
  return { admitted, overLimit };
}

/**
 * What `smtp.maxRecipients` counts a recipient as: a number once however it is written (`+44…`,
 * `0044…`, national, on any SMS domain), which is one SMS; a distribution list or the subject address
 * as the one RCPT it is (its numbers count against `maxNumbersPerMail`; a list of one is its number).
 */
function recipientKey({ rcpt, target }: AdmittedRecipient): string {
  const only = 'numbers' in target && target.numbers.length === 1 ? target.numbers[0] : undefined;
  return only ?? rcpt.address.toLowerCase();
}

/** Whether a mail's recipients already have `added`, however written: a RCPT that adds nothing to the mail. */
export function hasRecipient(admitted: Iterable<AdmittedRecipient>, added: AdmittedRecipient): boolean {
  const key = recipientKey(added);
  for (const entry of admitted) if (recipientKey(entry) === key) return true;
  return false;
}

/**
 * At most `maxRecipients` recipients per mail, counted by recipientKey. A repeat, however written,
 * passes and changes nothing; one more is deferred (TOO_MANY_NUMBERS, 452) for the client to send
 * in another mail.
 */
export function checkRecipientCount(admitted: ReadonlyMap<string, AdmittedRecipient>, added: AdmittedRecipient, maxRecipients: number): void {
  // Fewer recipients than the limit count fewer keys: each RCPT asks, and builds no Set for it until the mail nears the limit.
  if (admitted.size < maxRecipients) return;
  const counted = new Set([...admitted.values()].map(recipientKey));
  if (counted.size < maxRecipients || counted.has(recipientKey(added))) return;
  throw new RelayError(
    'TOO_MANY_NUMBERS',
    `Too many recipients: this mail goes to ${counted.size}, the most one mail may (smtp.maxRecipients); send the rest in another mail`,
  );
}

/**
 * A distribution list that alone has more numbers than a mail may go to fits no mail: refused for
 * good (LIST_TOO_LARGE), where the 452 of checkNumberCount would have the client retry it for days.
 */
export function checkListSize(address: string, target: ResolvedRecipient, maxNumbersPerMail: number, principal: Principal): void {
  const { limit, setting } = numberLimit(maxNumbersPerMail, principal);
  const size = 'numbers' in target ? target.numbers.length : 0;
  if (size <= limit) return;
  throw new RelayError(
    'LIST_TOO_LARGE',
    `Too many phone numbers: the list ${address} has ${size}, more than the ${limit} one mail may go to (${setting}); split the list or raise the limit`,
  );
}
