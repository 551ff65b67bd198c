/**
 * InteractSMS (Phonovation, Ireland) legacy v1 HTTP interface (InteractSMS's developer documentation): a form POST to
 * `/api/v1/sendmessage.aspx`, always answered HTTP 200 with a text/plain status line (`0` = taken),
 * and form posts back to the relay for received SMS (MO) and delivery receipts (DLR),
 * signed with an MD5 `SMS-Verify`. This module only speaks the wire format: what a code means
 * (sent, bounce, pause) is decided by its outcome rules (outcomes.ts).
 *
 * Decisions where the vendor's documents are silent or disagree:
 * - Line breaks: the gateway turns `¬` (U+00AC) into a line break, so every LF is sent as `¬`. A
 *   literal `¬` in the text therefore cannot be expressed: the capabilities declare `~` (the ASCII
 *   sign for "not") as its stand-in, which the relay puts in its place when it accepts the mail and
 *   names in the 250. One that still arrives (a mail queued before) is sent as it is and logged.
 * - Unicode: the legacy API says nothing about UCS-2. The text goes as UTF-8 in the form (what
 *   URLSearchParams does, and what an ASP.NET front end decodes by default); whether the gateway
 *   then sends it as UCS-2 or mangles it is unknown. The `¬` is sent as UTF-8 too (`%C2%AC`); the KB
 *   calls it "ASCII 172", which a Latin-1 decoder would read differently (unverified).
 * - Scheduling: the two documents disagree on `deliverytime` (minutes of delay vs a Unix time), so
 *   it is never sent (`capabilities.scheduling` is false: the relay holds the SMS itself).
 * - No validity period and no user context exist in this API: `expiresAt` and `userContext` are
 *   not sent; replies are tracked through `notify_id` instead (`replyTracking: 'tracking-id'`).
 * - The non-zero status codes are not published, so the gateway's text says what a refusal is
 *   about, read by the ordered READING_RULES: about the account (its state, login, password, api id, key or token,
 *   the IP address it calls from, credit, allowance, access) it is `INTERACT:ACCOUNT`, so a password typo pauses the
 *   queue instead of bouncing it; about the number, the sender or the message (and not about a passing state:
 *   "temporarily", "try again"…) `INTERACT:REFUSED:<n>`, which bounces; anything else `INTERACT:<n>`, which the
 *   relay retries (an unknown answer never bounces).
 * - One status line answers a request with several numbers: when it refuses one for the number or
 *   the message, each number is sent alone (each-alone.ts) so that one invalid number does not fail the others.
 * - The MO carries no id: the relay's id for it is derived from fields a retry repeats (see
 *   `parseReceived` in inbound.ts); the simulator computes the same on its own.
 */
import { messageKey } from '../../random-ids.ts';
import { toInternationalDigits } from '../../sms/numbers.ts';
import type { Gateway, GatewayOptions, ProviderCapabilities, RecipientResult, SmsSubmission, SubmissionResult } from '../contract.ts';
import { sendEachAlone } from '../each-alone.ts';
import { BODY_DETAIL_CHARS, HttpEndpoints, httpGateway, type HttpOutcome, httpRefusal, unparseable } from '../http-endpoint.ts';

export const PROVIDER = 'interactsms';

export const SEND_PATH = '/api/v1/sendmessage.aspx';

/**
 * `to` takes comma-separated numbers and no limit is documented: 50 is a conservative batch (the
 * form stays a few KB). The answer is one status line for all of them; when it refuses a request,
 * each number is then sent alone to learn which one it refuses (see `sendEachAlone`), so at worst
 * a doomed message costs 51 requests.
 */
const MAX_RECIPIENTS_PER_REQUEST = 50;

/**
 * The legacy API takes `text` of 0–160 characters and documents no concatenation, so the relay
 * must fit every SMS in one part (160 GSM-7 septets, or 70 UCS-2 units).
 */
const MAX_PARTS = 1;

/** The gateway turns this character back into a line break. */
const NEWLINE_MARK = '\u00ac';

export const INTERACTSMS_CAPABILITIES: ProviderCapabilities = {
  maxRecipientsPerRequest: MAX_RECIPIENTS_PER_REQUEST,
  maxParts: MAX_PARTS,
  replyTracking: 'tracking-id',
  scheduling: false,
  standIns: { [NEWLINE_MARK]: '~' },
};

/** What the gateway answers on the first line for a request it took. */
const ACCEPTED_STATUS = 0;
const CODE_PREFIX = 'INTERACT:';
/** Its outcome rules pause on this code (account trouble) instead of bouncing. */
export const ACCOUNT_CODE = `${CODE_PREFIX}ACCOUNT`;
/** Its outcome rules bounce on codes with this prefix (a refusal of the number or the message). */
const REFUSED_PREFIX = `${CODE_PREFIX}REFUSED:`;

/** The vendor's `notify_id` limit. */
const NOTIFY_ID_MAX_CHARS = 30;

/**
 * The status reply: an integer on the first line, then the gateway's message (`0\nRequest
 * deferred successfully\n`). A bare integer is taken too; anything else is no status reply.
 */
const STATUS_REPLY = /^(-?\d{1,9})[ \t]*(?:\r?\n([\s\S]*))?$/;

/**
 * Words that can only be about the account: its login (user name, password), api id, key or token,
 * credentials, credit or balance, authentication, an allowance or a quota. Every SMS is refused alike until
 * the operator fixes the account, whatever else the answer names ("Invalid password for this sender").
 * Matched case-insensitively on the gateway's text, as all the words below.
 */
const ACCOUNT_ONLY_WORDS =
  /\b(?:user[ _-]?names?|password|log[ -]?in|log[ -]?on|api[ _-]?(?:id|keys?|tokens?)|credentials?|credits?|balance|auth(?!ori[sz])\w*|allowances?|quotas?)\b/i;

/**
 * Words of the account that a party of one SMS also has: an account, a user (the phone's: "User has opted out"),
 * being authorised ("Sender ID not authorised"). The account's only where no party (PARTY_WORDS) is their subject.
 */
const SHARED_ACCOUNT_WORDS = /\b(?:accounts?|users?|(?:un)?authori[sz]\w*)\b/i;

/**
 * Words of an access refusal, which gateways also use for one SMS ("Forbidden content", "Sender ID not
 * whitelisted", "Permission denied for destination country"): the account's where no number or message
 * (MESSAGE_WORDS) is their subject ("Access denied", "Forbidden", "Caller not on the allowlist").
 */
const ACCESS_WORDS = /\b(?:access[ _-]?denied|permission[ _-]?denied|forbidden|(?:white|allow)[ _-]?list\w*|access[ _-]?tokens?)\b/i;

/** The account's credentials by other names: a token, or the IP address the relay calls from ("Invalid IP", "Session token expired"). */
const CREDENTIAL_WORDS = /\b(?:ips?|tokens?)\b/i;
/** Words refusing what they stand beside, before or after it ("Invalid token", "IP address is blocked", "IP not in whitelist"). */
const REFUSAL_WORDS =
  /\b(?:invalid|expired|revoked|missing|blocked|denied|bad|wrong|unknown|not (?:valid|allowed|permitted|whitelisted|allowlisted|registered|recogni[sz]ed|in (?:the )?(?:white|allow)[ _-]?list))\b/i;

/**
 * A period of an account's allowance ("daily", "per month", "this week", "today"). With a limit word
 * anywhere in the same answer, whatever stands between ("Daily limit exceeded", "Daily message limit
 * exceeded", "Monthly SMS cap reached", "Limit of texts per day reached"), the answer is about the
 * account's allowance, which no resend of this SMS can cure before the period renews. A second is no
 * such period: "10 per second" is a rate limit, which passes.
 */
const PERIOD_WORDS = /\b(?:hourly|daily|weekly|monthly|yearly|annual|today|(?:per|a|each|this)[ _-]?(?:hour|day|week|month|year))\b/i;
/**
 * A limit word; `limit` also as the start of a constant's word (`LimitExceeded`). A bare one ("Rate limit
 * exceeded") is not the account's: a rate limit passes, a character limit is the message's.
 */
const LIMIT_WORDS = /\b(?:limit|caps?\b|capped\b)/i;

/** The parties of one SMS: its number (destination, recipient, MSISDN, one who opted out) or its sender. */
const PARTY_WORDS = /\b(?:(?:phone[ _-]?)?numbers?|destinations?|recipients?|msisdns?|opted[ _-]?out|senders?|originators?)\b/i;
/** The text of one SMS. */
const TEXT_WORDS = /\b(?:text|messages?|content)\b/i;
/** A refusal whose words are about this SMS (PARTY_WORDS or TEXT_WORDS): only such a refusal bounces. */
const MESSAGE_WORDS = new RegExp(`${PARTY_WORDS.source}|${TEXT_WORDS.source}`, 'i');
/**
 * Messages as what the caller was doing ("not allowed to send messages", "cannot send text messages", "for
 * sending messages"): sending in general, which an account's refusal names, not one SMS as its subject.
 */
const SENDING_MESSAGES = /\bsend(?:ing)? (?:(?:any|an?|the|text|sms) )*(?:messages?|texts?|sms)\b/gi;

/** Words of a passing state, which make a refusal worth retrying whatever else it names (a rate limit passes: "Rate limit exceeded: 10 messages per second"). */
const PASSING_WORDS =
  /\b(?:temporar\w*|unavailable|try(?:ing)? again|later|busy|throttl\w*|rate[ _-]?limit\w*|too many|per second|queue\w*|time[ -]?out|timed out|overload\w*|maintenance)\b/i;

/**
 * Where one statement of an answer ends: a sentence's end, a colon, semicolon, comma or bracket, a dash between
 * spaces ("Access denied - message not sent"). A dot inside a word or an address ("203.0.113.5") ends none.
 */
const CLAUSE_END = /[.!?](?=\s|$)|[:;,()[\]]|\s[-–—]+\s/;

/** The gateway's answer as the rules read it: its words written apart (see wordsApart), and cut into its statements. */
interface Answer {
  readonly text: string;
  readonly clauses: readonly string[];
}

/**
 * Whether the words `own` lead the answer without a subject from `subjects`: the first statement naming either
 * decides, as an answer says first what it is about ("Access denied: invalid sender" is the account's, "Message
 * blocked: forbidden keyword" the message's), and `own` beside a subject in one statement are that subject's
 * ("Sender ID not whitelisted", "Number not permitted on this account"). Messages as what the caller was sending
 * are no subject (SENDING_MESSAGES).
 */
function leadsWithoutSubject(answer: Answer, own: RegExp, subjects: RegExp): boolean {
  for (const clause of answer.clauses) {
    const named = clause.replace(SENDING_MESSAGES, ' ');
    if (subjects.test(named)) return false;
    if (own.test(named)) return true;
  }
  return false;
}

/**
 * Whether the answer refuses a token or the caller's IP address, the account's credentials: one of them, and a
 * refusal word anywhere in the answer ("IP not whitelisted. Message rejected.", "Invalid token: abc123"). A token or
 * an IP address in a statement naming the text is the text's ("Invalid token in message", "URL with IP address not
 * allowed in message"), and a mere mention refuses nothing ("Contains an IP address", "Token count exceeded").
 */
function credentialRefused(answer: Answer): boolean {
  if (!REFUSAL_WORDS.test(answer.text)) return false;
  return answer.clauses.some((clause) => CREDENTIAL_WORDS.test(clause) && !TEXT_WORDS.test(clause.replace(SENDING_MESSAGES, ' ')));
}

type Reading = 'account' | 'message' | 'passing';

/**
 * How a refusal's text is read, in this order; the first rule that holds decides, and an answer none holds is
 * unknown (retried: an unknown answer never bounces). Account readings come first, since an account's answer often
 * names the message too, and bouncing every SMS for the account's trouble loses the whole queue; each account rule
 * is written so that a refusal of one SMS is not read as one (which would stop all sending for one client's SMS).
 */
const READING_RULES: ReadonlyArray<{ readonly holds: (answer: Answer) => boolean; readonly reading: Reading }> = [
  // An allowance over a period names what it counts ("Daily message limit exceeded"): first, before the message's words.
  { holds: (answer) => PERIOD_WORDS.test(answer.text) && LIMIT_WORDS.test(answer.text), reading: 'account' },
  // Words no single SMS has: the account's whatever else is named.
  { holds: (answer) => ACCOUNT_ONLY_WORDS.test(answer.text), reading: 'account' },
  // A refused token or caller IP, wherever in the answer and before the message's words ("IP not whitelisted.
  // Message rejected."): the refusal's own words tell a text's IP or token apart.
  { holds: credentialRefused, reading: 'account' },
  // Account, user, authorised: before the access words, and the sender or number as their subject makes them one SMS's.
  { holds: (answer) => leadsWithoutSubject(answer, SHARED_ACCOUNT_WORDS, PARTY_WORDS), reading: 'account' },
  // An access refusal leading the answer, before the message's words it goes on to name ("Access denied. Unable to send message.").
  { holds: (answer) => leadsWithoutSubject(answer, ACCESS_WORDS, MESSAGE_WORDS), reading: 'account' },
  // One SMS's refusal that speaks of a passing state: before the message's reading, as a retry may go through.
  { holds: (answer) => MESSAGE_WORDS.test(answer.text) && PASSING_WORDS.test(answer.text), reading: 'passing' },
  // Only now one SMS's refusal, which bounces it alone.
  { holds: (answer) => MESSAGE_WORDS.test(answer.text), reading: 'message' },
];

/**
 * The answer's words written apart, as the word patterns read them: an error constant's `Daily_limit`,
 * `DailyLimit` or `dailylimit` is `Daily limit`.
 */
function wordsApart(text: string): string {
  return (
    text
      .replaceAll('_', ' ')
      // Only a period glued to a limit word: split anywhere a capital starts, `UserContext` would read as the account's `user`.
      .replace(/(hourly|daily|weekly|monthly|yearly|annual)(limit|cap)/gi, '$1 $2')
  );
}

/**
 * The `notify_id` of the SMS of one relay message: the DLR key and the reply-tracking key, so it
 * must be unique per message and the same on every attempt (a retry must not change it). The relay's
 * message ids are UUIDs (v7): their 128 bits in base 36 are 25 characters (messageKey), within the vendor's 30,
 * which a report's notify id gives back (messageIdOfKey).
 */
export function notifyIdFor(messageId: string): string {
  const notifyId = messageKey(messageId);
  if (notifyId.length > NOTIFY_ID_MAX_CHARS) throw new RangeError(`interactsms: notify id too long: ${notifyId}`);
  return notifyId;
}

export function createInteractSmsGateway(options: GatewayOptions): Gateway {
  const endpoints = new HttpEndpoints(PROVIDER, options);
  const capabilities = { maxRecipientsPerRequest: MAX_RECIPIENTS_PER_REQUEST, maxParts: MAX_PARTS };
  return httpGateway(PROVIDER, options, endpoints, capabilities, async (submission, endpointIndex, log) => {
    const notifyId = notifyIdFor(submission.messageId);
    if (submission.text.includes(NEWLINE_MARK)) {
      log.warn('interactsms: the text holds a literal "¬", which the gateway turns into a line break');
    }
    const post = async (recipients: readonly string[]): Promise<SubmissionResult> => {
      const started = performance.now();
      const outcome = await endpoints.postForm(endpointIndex, SEND_PATH, buildSendForm({ ...submission, recipients }, notifyId, options));
      const result = toResult(outcome, recipients, notifyId);
      log.debug(
        {
          endpoint: endpoints.labels[endpointIndex],
          recipients: recipients.length,
          notifyId,
          ...(outcome.kind === 'http' ? { status: outcome.status } : {}),
          ms: Math.round(performance.now() - started),
          kind: result.kind,
          code: result.kind === 'answered' ? result.results[0]?.code : result.code,
        },
        'interactsms: send',
      );
      return result;
    };
    const result = await post(submission.recipients);
    if (!refusedAsAWhole(result, submission.recipients)) return result;
    log.info(
      { recipients: submission.recipients.length, code: result.results[0]?.code },
      'interactsms: the gateway refused a request with several numbers; sending each alone to learn which it refuses',
    );
    return sendEachAlone(submission.recipients, post, (entry) => entry.code === `${CODE_PREFIX}${ACCEPTED_STATUS}`);
  });
}

/**
 * The legacy answer is one status line for the whole request: a refusal of a request with several
 * numbers for the number or the message does not say which number it is about (one invalid number
 * refuses them all), and the gateway took none of them. Account refusals and unknown answers
 * concern every number alike and are left as they are.
 */
function refusedAsAWhole(result: SubmissionResult, recipients: readonly string[]): result is Extract<SubmissionResult, { kind: 'answered' }> {
  if (result.kind !== 'answered' || recipients.length < 2) return false;
  return result.results[0]?.code.startsWith(REFUSED_PREFIX) === true;
}

/**
 * The request form (InteractSMS's developer documentation), field names as the dev portal writes them. `api_id` is left
 * out when the account has none configured (the gateway then refuses the login: a pause, not a
 * bounce). `notify_id` is always set: without it the gateway sends no delivery receipts, and
 * replies could not be matched to the SMS they answer.
 */
function buildSendForm(
  submission: SmsSubmission,
  notifyId: string,
  account: { readonly username: string; readonly password: string; readonly accountId: string | undefined },
): URLSearchParams {
  const form = new URLSearchParams();
  form.set('user', account.username);
  form.set('password', account.password);
  if (account.accountId) form.set('api_id', account.accountId);
  form.set('to', submission.recipients.map(toInternationalDigits).join(','));
  form.set('text', submission.text.replaceAll('\n', NEWLINE_MARK));
  if (submission.senderId) form.set('from', submission.senderId);
  form.set('notify_id', notifyId);
  return form;
}

function toResult(outcome: HttpOutcome, recipients: readonly string[], notifyId: string): SubmissionResult {
  if (outcome.kind === 'transport') return outcome;
  // The gateway answers 200 whatever it thinks of the request; a non-2xx is no gateway answer.
  if (outcome.status < 200 || outcome.status > 299) return httpRefusal(outcome);
  if (outcome.truncated) return unparseable(outcome.text);
  const match = STATUS_REPLY.exec(outcome.text.replace(/^\uFEFF/, '').trimStart());
  if (match?.[1] === undefined) return unparseable(outcome.text);
  const status = Number(match[1]);
  if (status === ACCEPTED_STATUS) {
    const code = `${CODE_PREFIX}${ACCEPTED_STATUS}`;
    return {
      kind: 'answered',
      results: recipients.map((number) => ({ number, code, providerId: notifyId, trackingId: notifyId })),
    };
  }
  const detail = (match[2] ?? '').replace(/\s+/g, ' ').trim().slice(0, BODY_DETAIL_CHARS);
  const code = refusalCode(status, detail);
  // One status line speaks for every number of the request: the legacy API has no per-number answer.
  // (A refusal of several numbers is then narrowed down by `sendEachAlone`.)
  return {
    kind: 'answered',
    results: recipients.map((number): RecipientResult => ({ number, code, ...(detail ? { detail } : {}) })),
  };
}

/** What a non-zero status line is about, by its words (the vendor publishes no code table): READING_RULES. */
function refusalCode(status: number, text: string): string {
  const apart = wordsApart(text);
  const answer: Answer = { text: apart, clauses: apart.split(CLAUSE_END) };
  const reading = READING_RULES.find((rule) => rule.holds(answer))?.reading;
  if (reading === 'account') return ACCOUNT_CODE;
  if (reading === 'message') return `${REFUSED_PREFIX}${status}`;
  return `${CODE_PREFIX}${status}`;
}
