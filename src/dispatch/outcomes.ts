import type { RecipientResult, SubmissionResult } from '../gateways/types.ts';
import type { OutcomeAction } from '../vocabulary.ts';


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
  /** The provider's id for an accepted message. */
  readonly providerId?: string;
  /** What the provider's replies to it carry (session or notify id). */
  readonly trackingId?: string;
}

interface OutcomeRule {
  /** Matched against `<where>/<code>`: where = connect | response | request | recipient. */
  readonly match: RegExp;
  readonly action: OutcomeAction;
  readonly category: string;
  readonly reason: string;
}

const ACCOUNT_CODES = 'LOGIN_INVALID|INSUFFICIENT_CREDIT|DAILY_ALLOWANCE_EXCEEDED|AUTH_PARAMETER_\\w+|CONNECTION_NOT_SECURE';

/**
 * The one table. First match wins; the last rule keeps anything unknown in the queue (a code
 * nobody classified must not bounce a message, nor be dropped) and says so in the log.
 */
export const OUTCOME_RULES: readonly OutcomeRule[] = [
  // Acceptance. IntelliSoftware answers `ID:`; Puzzel statusCode 1, 24 (held by its spam filter for
  // approval: accepted), 25 (the clientReference was seen: our retry of an SMS it already has);
  // InteractSMS status line 0.
  { match: /^recipient\/(ID|PUZZEL:1|INTERACT:0)$/, action: 'sent', category: 'sent', reason: 'accepted by the SMS gateway' },
  { match: /^recipient\/PUZZEL:24$/, action: 'sent', category: 'held', reason: "accepted by the SMS gateway and held by its spam filter for approval" },
  { match: /^recipient\/PUZZEL:25$/, action: 'sent', category: 'duplicate', reason: 'the SMS gateway already had this SMS (a retry after a lost answer)' },
  {
    match: /^connect\//,
    action: 'failover',
    category: 'unreachable',
    reason: 'the SMS gateway could not be reached',
  },
  {
    match: /^response\//,
    action: 'ambiguous',
    category: 'no-answer',
    reason: 'the SMS gateway did not answer in time; the message may have been sent',
  },
  {
    match: /^(request|recipient)\/ERR:(GATEWAY_ERROR|INTERNAL_ERROR)$/,
    action: 'failover',
    category: 'gateway-error',
    reason: 'the SMS gateway had a temporary problem',
  },
  {
    match: /^(request|recipient)\/PUZZEL:6$/,
    action: 'retry',
    category: 'gateway-error',
    reason: 'the SMS gateway had a temporary problem',
  },
  {
    match: /^request\/HTTP_5\d\d$/,
    action: 'failover',
    category: 'gateway-error',
    reason: 'the SMS gateway had a temporary problem',
  },
  {
    match: /^request\/UNPARSEABLE$/,
    action: 'failover',
    category: 'gateway-error',
    reason: 'the SMS gateway gave an answer the relay could not read',
  },
  { match: /^request\/DELAY:\d+$/, action: 'delay', category: 'busy', reason: 'the SMS gateway is busy' },
  { match: /^request\/HTTP_429$/, action: 'retry', category: 'busy', reason: 'the SMS gateway is busy' },
  {
    match: new RegExp(`^(request|recipient)/ERR:(${ACCOUNT_CODES})$`),
    action: 'pause',
    category: 'account',
    reason: "the relay's SMS gateway account cannot send at the moment (login, credit or allowance)",
  },
  {
    // InteractSMS publishes no code table: its adapter names an answer about the login, the api_id or
    // the credit INTERACT:ACCOUNT, so that a wrong password pauses instead of bouncing the queue.
    match: /^(request|recipient)\/INTERACT:ACCOUNT$/,
    action: 'pause',
    category: 'account',
    reason: "the SMS gateway refused the relay's account (login, api id or credit)",
  },
  {
    match: /^(request|recipient)\/PUZZEL:2$/,
    action: 'pause',
    category: 'account',
    reason: "the SMS gateway refused the relay's account (access error)",
  },
  {
    match: /^request\/HTTP_4\d\d$/,
    action: 'pause',
    category: 'account',
    reason: "the SMS gateway refused the relay's requests (check the gateway URL and account)",
  },
  {
    match: /^(request|recipient)\/ERR:INVALID_NUMBER$/,
    action: 'fail',
    category: 'invalid-number',
    reason: 'the SMS gateway cannot deliver to this number',
  },
  {
    match: /^(request|recipient)\/ERR:(NO_\w+|INVALID_REQUEST|PARAMETER_\w+|TOO_MANY_NUMBERS)$/,
    action: 'fail',
    category: 'refused',
    reason: 'the SMS gateway refused the message',
  },
  {
    match: /^(request|recipient)\/(PUZZEL:\d+|INTERACT:-?\d+)$/,
    action: 'fail',
    category: 'refused',
    reason: 'the SMS gateway refused the message',
  },
  {
    match: /^recipient\/MISSING_RESULT$/,
    action: 'ambiguous',
    category: 'no-answer',
    reason: 'the SMS gateway did not say whether it took the message for this number',
  },
  { match: /./, action: 'retry', category: 'unclassified', reason: 'the SMS gateway gave an unexpected answer' },
];

/** The outcome for one recipient of a submission. */
export function classifyRecipient(result: SubmissionResult, number: string): Classified {
  switch (result.kind) {
    case 'transport':
      return classify(result.phase, result.code);
    case 'refused':
      return classify('request', result.code);
    case 'answered': {
      const own = result.results.find((entry) => entry.number === number);
      return own ? classifyAnswer(own) : classify('recipient', 'MISSING_RESULT');
    }
  }
}

function classifyAnswer(result: RecipientResult): Classified {
  const classified = classify('recipient', result.code);
  return {
    ...classified,
    ...(result.providerId === undefined ? {} : { providerId: result.providerId }),
    ...(result.trackingId === undefined ? {} : { trackingId: result.trackingId }),
  };
}

export function classify(where: 'connect' | 'response' | 'request' | 'recipient', code: string): Classified {
  const key = `${where}/${code}`;
  const rule = OUTCOME_RULES.find((candidate) => candidate.match.test(key)) as OutcomeRule;
  const delay = /^DELAY:(\d+)$/.exec(code);
  return {
    action: rule.action,
    category: rule.category,
    reason: rule.reason,
    code,
    ...(delay ? { waitSeconds: Number(delay[1]) } : {}),
  };
}
