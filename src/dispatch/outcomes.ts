import type { Logger } from '../log.ts';
import { cutOrMark, echoNeedles, failureSaidOnce, secretCutter } from './echoes.ts';
import type { OutcomeRule, RecipientResult, SubmissionResult } from '../providers/contract.ts';
import { TLS_CERTIFICATE, TLS_CERTIFICATE_CONNECT, UNTRUSTED_CERTIFICATE_KINDS } from '../providers/outcome-reasons.ts';
import { maskNumbersInBut } from '../sms/numbers.ts';
import type { OutcomeAction } from '../vocabulary.ts';

/**
 * The category of a proxy's answer that it forwarded the request and got no valid answer from the gateway behind it:
 * as for no answer at all, the gateway may have the request (a possible duplicate), and its host is failed as after a
 * 5xx: the backup at once, as the usual case is the gateway app down behind its load balancer.
 */
export const PROXY_NO_ANSWER = 'proxy-no-answer';

/** The code of a 2xx answer (or a number's part of one) no grammar of the provider fits (SubmissionResult's UNPARSEABLE). */
const UNREADABLE_CODE = 'UNPARSEABLE';
/** The code of a number a 2xx answer listing its numbers' results has none for (SubmissionResult's MISSING_RESULT). */
const MISSING_RESULT_CODE = 'MISSING_RESULT';
/**
 * The codes by which the gateway took the request but the relay read no result for a number from its answer. A
 * readable answer that, request after request, has no result for the SMS (an empty list, references not the relay's)
 * is the same evidence as one that cannot be read (a changed format, a proxy's cached answer): both warn and count
 * towards the pause (src/dispatch/dispatcher.ts, UNREADABLE_PAUSE_REQUESTS), as both may text the phone at each retry.
 */
const NO_RESULT_CODES: ReadonlySet<string> = new Set([UNREADABLE_CODE, MISSING_RESULT_CODE]);

/** Whether a provider's pause (its reason, `<code>: <reason>`) is one for unreadable answers, whichever relay paused it. */
export function pausedForUnreadable(pauseReason: string | undefined): boolean {
  return [...NO_RESULT_CODES].some((code) => pauseReason?.startsWith(`${code}:`) === true);
}

/**
 * Whether the gateway took the request but the relay read no result for this number from its answer (unreadable, or
 * none listed for it): warned of, and a run of them pauses the provider.
 */
export function unreadable(classified: Classified): boolean {
  return NO_RESULT_CODES.has(classified.code);
}

/** What the dispatcher does with one recipient's result, and why. */
export interface Classified {
  readonly action: OutcomeAction;
  /** Short stable name for logs and metrics. */
  readonly category: string;
  /** Plain words for the sender (bounces) and the operator (logs). */
  readonly reason: string;
  /** The provider's code verbatim, e.g. `ERR:INVALID_NUMBER`, for the DSN's Diagnostic-Code. */
  readonly code: string;
  /** Seconds the provider asked to wait (`DELAY:n`). */
  readonly waitSeconds?: number;
  /** The HTTP `Retry-After` of a refused request, as it came. */
  readonly retryAfter?: string;
  /** The gateway's own words about it (its error text), on one line and bounded: see `oneLine` and `cutToLength`. */
  readonly detail?: string;
  /** The provider refused the number as opted out (OutcomeRule.optsOut). */
  readonly optsOut?: true;
  /** What the operator does to end the pause (OutcomeRule.fix). */
  readonly fix?: string;
  /** The queue of the sender the mail named is full (OutcomeRule.holdsSender). */
  readonly holdsSender?: true;
  /** The gateway recognised a resend and sent nothing this time (OutcomeRule.recognisedResend). */
  readonly recognisedResend?: true;
  /** The history's words in place of an id the gateway did not give (OutcomeRule.withoutId). */
  readonly withoutId?: string;
  /** The gateway holds the SMS it took until the operator acts there: what to do (OutcomeRule.heldAtGateway). */
  readonly heldAtGateway?: string;
  /** The provider's id for an accepted message. */
  readonly providerId?: string;
  /** What the history says of a sent SMS besides its id (RecipientResult.note). */
  readonly note?: string;
  /** What the provider's replies to it carry (session or notify id). */
  readonly trackingId?: string;
}

/**
 * The rules every provider shares: how the transport failed, HTTP statuses its grammar does not
 * cover, answers the adapter could not read. They apply after the provider's own rules; the last
 * keeps anything unknown in the queue (a code nobody classified must not bounce a message, nor be
 * dropped) and says so in the log.
 */
export const GENERIC_OUTCOME_RULES: readonly OutcomeRule[] = [
  // Node's codes for a certificate the relay does not trust: the host is not the gateway the URL names,
  // a CA is missing, or something on the way intercepts TLS. Not a gateway outage: the operator must act.
  {
    match: TLS_CERTIFICATE_CONNECT,
    action: 'failover',
    category: TLS_CERTIFICATE,
    reason: `the SMS gateway's TLS certificate is not trusted (${UNTRUSTED_CERTIFICATE_KINDS}): check the gateway URL and the CAs, or what intercepts the connection`,
  },
  { match: /^connect\//, action: 'failover', category: 'unreachable', reason: 'the SMS gateway could not be reached' },
  {
    match: /^response\/(ECONNRESET|EPIPE|UND_ERR_SOCKET|SMPP_BIND_DROPPED)$/,
    action: 'ambiguous',
    category: 'connection-lost',
    reason: 'the connection to the SMS gateway was reset or dropped before its answer; the message may have been sent',
  },
  {
    match: /^response\//,
    action: 'ambiguous',
    category: 'no-answer',
    reason: 'the SMS gateway did not answer in time; the message may have been sent',
  },
  // A proxy in front of the gateway that forwarded the request and got no valid answer, or none in time (RFC 9110 §15.6.3
  // 502, §15.6.5 504; Cloudflare's 520 and 524, after its connection to the gateway was made): the gateway may have taken
  // it: a possible duplicate, though its host is failed all the same (the dispatcher's failsTheHost).
  {
    match: /^request\/HTTP_(502|504|520|524)$/,
    action: 'ambiguous',
    category: PROXY_NO_ANSWER,
    reason: 'a proxy in front of the SMS gateway got no valid answer from it in time; the message may have been sent',
  },
  // A 408 says the server gave up waiting for the request and did not process it (RFC 9110 §15.5.9: the client may repeat
  // it), a 425 that it would not process it yet (§15.5.26): passing, and nothing was sent, as with a 5xx.
  {
    match: /^request\/HTTP_(5\d\d|408|425)$/,
    action: 'failover',
    category: 'gateway-error',
    reason: 'the SMS gateway had a temporary problem',
  },
  // A 2xx says the gateway took the request: a body (or a number's line of it) the adapter cannot read may still mean it sent the SMS.
  {
    match: new RegExp(`^(request|recipient)/${UNREADABLE_CODE}$`),
    action: 'ambiguous',
    category: 'no-answer',
    reason: 'the SMS gateway took the request but gave an answer the relay could not read; the message may have been sent',
  },
  { match: /^request\/HTTP_429$/, action: 'retry', category: 'busy', reason: 'the SMS gateway is busy' },
  // About this request, not the account: a paused account lets one due SMS through as its probe,
  // which can be that request again, so one the gateway cannot take (too large, malformed for it)
  // could hold up the whole queue.
  {
    match: /^request\/HTTP_(400|413|414|422)$/,
    action: 'retry',
    category: 'refused-request',
    reason: 'the SMS gateway refused this request (it may take it later; it bounces at its maximum age)',
  },
  // The relay follows no redirect (a POST's body may not survive one, nor its credentials be meant for
  // the other host): every request meets it, so sending pauses and the operator sees where it leads.
  {
    match: /^request\/HTTP_3\d\d$/,
    action: 'pause',
    category: 'account',
    reason: "the SMS gateway redirected the relay's request elsewhere (gateway.url is not the gateway's address: check it against where the redirect leads)",
  },
  {
    match: /^request\/HTTP_4\d\d$/,
    action: 'pause',
    category: 'account',
    reason: "the SMS gateway refused the relay's requests (check the gateway URL and account)",
  },
  // A 2xx that lists its numbers' results but none for this one (MISSING_RESULT_CODE): the gateway took the request, and may have sent it.
  {
    match: new RegExp(`^recipient/${MISSING_RESULT_CODE}$`),
    action: 'ambiguous',
    category: 'no-answer',
    reason: 'the SMS gateway took the request but its answer had no result for this number; the message may have been sent',
  },
  { match: /./, action: 'retry', category: 'unclassified', reason: 'the SMS gateway gave an unexpected answer' },
];

export type Where = 'connect' | 'response' | 'request' | 'recipient';

/** Classifies one provider's results: its own rules first, then the generic ones. */
export interface OutcomeClassifier {
  classify(where: Where, code: string): Classified;
  /** The outcome for one recipient of a submission; `text`, the SMS's, is cut out of the gateway's words. */
  classifyRecipient(result: SubmissionResult, number: string, text?: string): Classified;
}

/** What the SMS's own text is replaced with in the gateway's words, as a secret is with REDACTED. */
export const TEXT_REDACTED = '[text]';

/**
 * `secrets`: the configured secrets (`configuredSecrets`). A gateway may echo its request in what it
 * says (the password in a form body, the Basic authentication header, the SMS's text), escaped as its
 * language writes it: they are cut here (`cutEchoes`), where its code and words enter the relay, so
 * that no log line, history, status or bounce gets them (info logs carry no message text; debug lines
 * of the request may).
 */
export function outcomeClassifier(providerRules: readonly OutcomeRule[], secrets: readonly string[] = [], logger?: Logger): OutcomeClassifier {
  const rules = [...providerRules, ...GENERIC_OUTCOME_RULES];
  const failed = failureSaidOnce(
    logger,
    "dispatch: the gateway's words could not be searched for echoes of a secret or the SMS's text; a mark stands for them",
  );
  const redact = secretCutter(secrets, failed);
  const withDetail = (classified: Classified, detail: string | undefined, smsText: string | undefined, number: string): Classified => {
    if (detail === undefined) return classified;
    const cut = smsText === undefined ? redact(detail) : cutOrMark(redact(detail), () => echoNeedles([smsText]), TEXT_REDACTED, failed);
    // Masked after its blanks are one space (a number split by a line break or a tab reads as one) and before the cut to
    // length (a number the cut would split is still read as one).
    const line = oneLine(cut);
    const said = cutToLength(unreadable(classified) ? othersMasked(line, number) : line);
    return said === undefined ? classified : { ...classified, detail: said };
  };
  const classify = (where: Where, code: string): Classified => {
    const key = `${where}/${code}`;
    const rule = rules.find((candidate) => candidate.match.test(key)) as OutcomeRule;
    const waitSeconds = rule.waitSeconds?.(code);
    return {
      action: rule.action,
      category: rule.category,
      reason: rule.reason,
      code: redact(code),
      ...(waitSeconds === undefined || !Number.isFinite(waitSeconds) ? {} : { waitSeconds }),
      ...(rule.optsOut ? { optsOut: true } : {}),
      ...(rule.fix === undefined ? {} : { fix: rule.fix }),
      ...(rule.holdsSender ? { holdsSender: true } : {}),
      ...(rule.recognisedResend ? { recognisedResend: true } : {}),
      ...(rule.withoutId === undefined ? {} : { withoutId: rule.withoutId }),
      ...(rule.heldAtGateway === undefined ? {} : { heldAtGateway: rule.heldAtGateway }),
    };
  };
  return {
    classify,
    classifyRecipient(result, number, text) {
      switch (result.kind) {
        case 'transport':
          return classify(result.phase, result.code);
        case 'refused': {
          const classified = withDetail(classify('request', result.code), result.detail, text, number);
          return result.retryAfter === undefined ? classified : { ...classified, retryAfter: result.retryAfter };
        }
        case 'answered': {
          const own = result.results.find((entry) => entry.number === number);
          if (!own) return withDetail(classify('recipient', MISSING_RESULT_CODE), listedInstead(result.results), text, number);
          return withIds(withDetail(partly(classify(own.failure ?? 'recipient', own.code), own), own.detail, text, number), own);
        }
      }
    },
  };
}

/**
 * What an answer with no entry for a number said instead, as the gateway's words (an adapter's answer carries its results,
 * not its body): each entry's number and code, the others' numbers masked (othersMasked), cut to length as any words are.
 */
function listedInstead(results: readonly RecipientResult[]): string {
  if (results.length === 0) return 'no result for any number';
  return `results for ${results.map((entry) => `${entry.number} ${entry.code}`).join(', ')}`;
}

/**
 * An answer the relay read no result for the SMS from (unreadable, or none listed for it) with every number in it masked but
 * the SMS's own (`number`, E.164), written with or without its `+`: such an answer is not known to be about the SMS (a
 * proxy's cached answer to another request, a list of other senders' recipients), and its words go into the SMS's history,
 * its last error and its sender's delay notice and bounce, where another recipient's number must not.
 */
function othersMasked(said: string, number: string): string {
  return maskNumbersInBut(said, [number.replace(/^\+/, '')]);
}

/**
 * Enough of the gateway's own words to say what it meant (Twilio's and Vonage's run to a sentence),
 * without letting an error page fill a bounce, a history line or a log line.
 */
export const GATEWAY_TEXT_MAX_CHARS = 200;
const CUT_MARK = '...';

/**
 * The gateway's error text as the relay passes it on to bounces, histories and logs is on one line: control characters
 * (CR and LF among them: it goes into header-like lines) and runs of blanks become one space.
 */
function oneLine(text: string): string {
  return text.replace(/[\p{Cc}\p{Zl}\p{Zp}\s]+/gu, ' ').trim();
}

/** The line cut at GATEWAY_TEXT_MAX_CHARS; undefined when nothing is left. */
function cutToLength(line: string): string | undefined {
  if (!line) return undefined;
  // An ASCII mark: the text also goes into a US-ASCII Diagnostic-Code.
  return line.length > GATEWAY_TEXT_MAX_CHARS ? `${line.slice(0, GATEWAY_TEXT_MAX_CHARS - CUT_MARK.length)}${CUT_MARK}` : line;
}

/**
 * Some parts of a long SMS taken and another refused. Refused for good, the sender hears which parts
 * the phone may show all the same. Otherwise, where the provider sends only the other parts on the
 * retry (`partsKept`: the phone joins them with those it has), it is a plain retry; else a resend texts
 * the phone the taken parts again, so whatever the refusal asks (a retry, a wait, another host) it is
 * retried later on the same host and counted as a possible duplicate, with the reason saying so.
 */
function partly(classified: Classified, result: RecipientResult): Classified {
  const taken = result.partsTaken;
  if (!taken || classified.action === 'sent') return classified;
  const total = result.partsTotal;
  const parts = `${taken}${total === undefined ? '' : ` of ${total}`} part${(total ?? taken) === 1 ? '' : 's'}`;
  if (classified.action === 'fail')
    return { ...classified, reason: `${classified.reason}; the gateway had already taken ${parts} of it, which the phone may show` };
  if (result.partsKept && classified.action !== 'failover')
    return { ...classified, reason: `${classified.reason}; the gateway had already taken ${parts} of it, and the retry sends only the others` };
  const { waitSeconds: _, ...rest } = classified;
  return {
    ...rest,
    action: 'ambiguous',
    reason: `${classified.reason}; the gateway had already taken ${parts} of it, which the phone may get twice`,
  };
}

function withIds(classified: Classified, { providerId, trackingId, note }: RecipientResult): Classified {
  return {
    ...classified,
    ...(providerId === undefined ? {} : { providerId }),
    ...(trackingId === undefined ? {} : { trackingId }),
    ...(note === undefined ? {} : { note }),
  };
}
