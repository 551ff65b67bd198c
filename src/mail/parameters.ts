import { RelayError } from '../errors.ts';
import { asciiQuoted } from './ascii.ts';
import { decodeWords } from './mime.ts';

/**
 * Relay parameters a mail can carry, wherever it carries them: headers, `Name:Value` tokens in the
 * subject (the IntelliSoftware email interface's style), a leading `UserContext: value` body line, or
 * the `[UserContext: value]` tag the relay's own reply mails carry. Every form is taken out of the text.
 */
export interface RelayParameters {
  readonly userContext?: string;
  readonly senderId?: string;
  readonly maxParts?: number;
}

/**
 * The token syntax of providers' email interfaces is not documented beyond `Name:Value`;
 * values made of these characters survive every provider and every subject line unquoted.
 */
const USER_CONTEXT = /^[A-Za-z0-9._-]{1,64}$/;
/**
 * What a sender id may be is the provider's rule (ProviderPlugin.senderIdProblem), whose refusal names
 * it: most show at most 11 characters or a number of up to 15 digits (GSM 03.40), Twilio also takes a
 * Messaging Service SID (34 characters). Here only what no provider takes is refused: anything but
 * printable ASCII, or longer than SENDER_ID_MAX, which keeps the refusal that quotes it short.
 */
const SENDER_ID_MAX = 64;
const SENDER_ID = new RegExp(`^(?=.*\\S)[\\x20-\\x7E]{1,${SENDER_ID_MAX}}$`);
const MAX_PARTS = /^[1-9][0-9]{0,2}$/;

interface ParameterSyntax {
  readonly name: string;
  readonly syntax: RegExp;
  readonly rule: string;
}

const SYNTAX = {
  userContext: { name: 'UserContext', syntax: USER_CONTEXT, rule: 'ASCII letters, digits, ".", "_" or "-", at most 64' },
  senderId: {
    name: 'sender id',
    syntax: SENDER_ID,
    rule: `printable ASCII, at most ${SENDER_ID_MAX} characters (which ones and how many: the SMS provider's rule)`,
  },
  maxParts: { name: 'maximum parts', syntax: MAX_PARTS, rule: "a whole number from 1 to 999 (above the relay's own limit, that limit applies)" },
} as const satisfies Record<keyof RelayParameters, ParameterSyntax>;

/** A sender id may be a number however written: a refusal quoting it names it, for the log to mask (RelayError.quotes). */
function quotedSenderIds(kind: keyof typeof SYNTAX, values: readonly string[]): { readonly quotes?: readonly string[] } {
  return kind === 'senderId' ? { quotes: values } : {};
}

function valid(kind: keyof typeof SYNTAX, value: string, source: string): string {
  const { name, syntax, rule } = SYNTAX[kind];
  const text = value.trim();
  if (!syntax.test(text)) {
    // As written, beyond ASCII by code point (`cafU+00E9-42`): the SMTP reply's ASCII folding would quote `cafe-42`, a
    // value the rule after it takes, and the writer could not see what is wrong.
    const shown = asciiQuoted(text.slice(0, 80));
    throw new RelayError('BAD_PARAMETER', `Invalid ${name} "${shown}" in ${source}: expected ${rule}`, quotedSenderIds(kind, [shown]));
  }
  return text;
}

function build(userContext: string | undefined, senderId: string | undefined, maxParts: string | undefined): RelayParameters {
  return {
    ...(userContext === undefined ? {} : { userContext }),
    ...(senderId === undefined ? {} : { senderId }),
    ...(maxParts === undefined ? {} : { maxParts: Number(maxParts) }),
  };
}

/** The headers that carry each parameter, as written (looked up lower-cased, as mailparser keeps names). */
const HEADER_NAMES = {
  userContext: ['UserContext', 'X-UserContext'],
  senderId: ['X-SMS-From'],
  maxParts: ['X-SMS-Max-Parts'],
} as const satisfies Record<keyof RelayParameters, readonly string[]>;

/** Each header name of HEADER_NAMES in lower case, as HeaderValues is asked: lowered once, not for every mail. */
const HEADER_KEYS: ReadonlyMap<string, string> = new Map(
  Object.values(HEADER_NAMES).flatMap((names) => names.map((name) => [name, name.toLowerCase()] as const)),
);

/**
 * `UserContext`/`X-UserContext`, `X-SMS-From`, `X-SMS-Max-Parts`, their encoded words decoded as the
 * subject's are: a mailer may encode any unstructured header (RFC 2047). `header` gives each value of
 * a header (mailparser lower-cases names; a repeated header is a list). A parameter given by several
 * headers (repeated, or both UserContext and X-UserContext) must be given the same in each: different
 * values are refused, naming the headers, not joined nor one picked (which the sender meant is unknown).
 */
export function headerParameters(header: HeaderValues): RelayParameters {
  return build(headerParameter('userContext', header), headerParameter('senderId', header), headerParameter('maxParts', header));
}

/** Each value of a header, by its lower-cased name (a repeated header a list), as mailparser keeps them. */
type HeaderValues = (name: string) => string | readonly string[] | undefined;

/** One parameter's value from its headers (headerParameters). A module function, not a closure per mail: tsx names each closure it makes. */
function headerParameter(kind: keyof typeof SYNTAX, header: HeaderValues): string | undefined {
  // A loop over the names, not a flatMap of lists: asked for each parameter of every mail, whose headers mostly give none.
  const given: { readonly name: string; readonly value: string }[] = [];
  for (const name of HEADER_NAMES[kind]) {
    const key = HEADER_KEYS.get(name) ?? name.toLowerCase();
    const values = header(key);
    if (values === undefined) continue;
    for (const value of typeof values === 'string' ? [values] : values) given.push({ name, value: valid(kind, decodeWords(value), `the ${key} header`) });
  }
  if (given.length > 1 && new Set(given.map(({ value }) => value)).size > 1) {
    const named = given.map(({ name, value }) => `${name}: ${value.slice(0, 80)}`).join(', ');
    throw new RelayError(
      'BAD_PARAMETER',
      `The mail's headers give different ${SYNTAX[kind].name} values (${named}): give one`,
      quotedSenderIds(
        kind,
        given.map(({ value }) => value),
      ),
    );
  }
  return given[0]?.value;
}

/** The reply tag `[UserContext: value]`, wherever it stands. */
const CONTEXT_TAG = /\[\s*UserContext:\s*([^\]\s]*)\s*\]/gi;

/** Takes the `[UserContext: value]` tags out of a text; the first one's value is returned. */
export function takeContextTag(text: string, source: string): { readonly rest: string; readonly userContext?: string } {
  let userContext: string | undefined;
  const rest = text.replace(CONTEXT_TAG, (_tag, value: string) => {
    userContext ??= valid('userContext', value, source);
    return '';
  });
  return userContext === undefined ? { rest } : { rest, userContext };
}

const LEADING_CONTEXT_LINE = /^\s*UserContext:[ \t]*(\S*)[ \t]*(?:\n|$)/i;

/** A first body line `UserContext: value`, taken out of the body. */
export function takeLeadingContextLine(body: string): { readonly rest: string; readonly userContext?: string } {
  const match = LEADING_CONTEXT_LINE.exec(body);
  if (!match) return { rest: body };
  return { rest: body.slice(match[0].length), userContext: valid('userContext', match[1] ?? '', 'the first body line') };
}

/** `Name:Value` with nothing between the colon and the value: how the seed gateways write them. */
const SUBJECT_TOKEN = /^([A-Za-z]+):(\S+)$/;

/** Tokens an ordinary subject may carry (a Map: a subject's word such as `constructor:` names nothing); other `Word:value` text there is left alone. */
const SUBJECT_NAMES: ReadonlyMap<string, keyof RelayParameters> = new Map([
  ['usercontext', 'userContext'],
  ['from', 'senderId'],
  ['maxparts', 'maxParts'],
  ['maxconcat', 'maxParts'],
]);

/**
 * A sender id as a subject token may give it: a name without spaces (a token ends at one) of up to 11
 * letters and digits, or a number. Anything else in an ordinary subject is a word of its text
 * ("Job From:nightly-backup failed"); X-SMS-From takes what else a provider shows.
 */
const SUBJECT_SENDER_ID = /^(?:[A-Za-z0-9]{1,11}|\+?[0-9]{1,15})$/;
const SUBJECT_VALUE: Readonly<Record<keyof RelayParameters, RegExp>> = { userContext: USER_CONTEXT, senderId: SUBJECT_SENDER_ID, maxParts: MAX_PARTS };

/** The parameter a subject word gives, or undefined when it is a word of the text. */
function subjectToken(word: string): { readonly kind: keyof RelayParameters; readonly value: string } | undefined {
  const [, name = '', value = ''] = SUBJECT_TOKEN.exec(word) ?? [];
  const kind = SUBJECT_NAMES.get(name.toLowerCase());
  return kind !== undefined && SUBJECT_VALUE[kind].test(value) ? { kind, value } : undefined;
}

/**
 * An ordinary subject with its relay tokens taken out. The body is the text there, so the subject is
 * a sentence that may hold `From:` or `MaxConcat:` of its own ("Shift moved From:Mon To:Tue"): only
 * the tokens standing together at its start or its end are parameters ("UserContext:42 From:Acme
 * Pump alarm", "Pump alarm UserContext:42"), and only with a value of the token's form; any other
 * such word is text, never a reason to refuse the mail.
 */
export function takeSubjectTokens(subject: string): { readonly rest: string; readonly parameters: RelayParameters } {
  const words = subject.split(/\s+/).filter(Boolean);
  const tokens = words.map(subjectToken);
  let start = 0;
  while (start < words.length && tokens[start]) start++;
  let end = words.length;
  while (end > start && tokens[end - 1]) end--;
  const found: Partial<Record<keyof RelayParameters, string>> = {};
  for (const token of [...tokens.slice(0, start), ...tokens.slice(end)]) if (token) found[token.kind] ??= token.value;
  return { rest: words.slice(start, end).join(' '), parameters: build(found.userContext, found.senderId, found.maxParts) };
}

/** A subject word that starts a `Name:Value` token. */
const SUBJECT_COMMAND_TOKEN = /^([A-Za-z]+):/;
/**
 * A subject word that goes on with the `To:` before it: what a list of numbers is written with (digits of any
 * script, which the number reading refuses by name; `+`, parentheses, `.`, `-`; the `,` or `;` between numbers).
 * People type `To:447700900193, 447700900194` and `To:+44 7700 900197`; a word of letters is no number's part.
 */
const TO_CONTINUATION = /^[\p{Nd}+().,;-]+$/u;

/**
 * The IntelliSoftware email interface's "Format Option 1" (docs/configuration.md, `sms.subjectAddress`): a subject made only of
 * `Name:Value` tokens, `To:` naming the numbers, separated by `,` or `;`, each read as a RCPT's local part is (spaces, `.`, `-`
 * and parentheses in it ignored). `Username`/`Password` are accepted and ignored (the relay sends with its own gateway
 * account); anything else unknown is refused, never guessed at.
 */
export function parseSubjectCommand(subject: string): RelayParameters & { readonly to: readonly string[] } {
  const words = subject.trim().split(/\s+/).filter(Boolean);
  const found: Partial<Record<keyof RelayParameters, string>> = {};
  const lists: string[] = [];
  let afterTo = false;
  /** A token written with a blank after its colon (`From: Acme`), as `To: 447700900123` is: the next word is its value. */
  let awaiting: { readonly token: string; readonly kind: keyof RelayParameters | undefined } | undefined;
  for (const word of words) {
    const name = SUBJECT_COMMAND_TOKEN.exec(word)?.[1]?.toLowerCase();
    if (name === undefined && afterTo && TO_CONTINUATION.test(word)) {
      lists[lists.length - 1] += ` ${word}`;
      continue;
    }
    if (awaiting) {
      if (name !== undefined) throw noValue(awaiting.token);
      if (awaiting.kind) found[awaiting.kind] ??= valid(awaiting.kind, word, 'the subject');
      awaiting = undefined;
      continue;
    }
    afterTo = name === 'to';
    const value = word.slice((name?.length ?? -1) + 1);
    const kind = name === undefined ? undefined : SUBJECT_NAMES.get(name);
    if (afterTo) lists.push(value);
    else if ((kind || name === 'username' || name === 'password') && value === '') awaiting = { token: word, kind };
    else if (name === 'username' || name === 'password') continue;
    else if (kind) found[kind] ??= valid(kind, value, 'the subject');
    else {
      throw new RelayError(
        'BAD_PARAMETER',
        `Unknown parameter "${asciiQuoted(word.slice(0, 40))}" in the subject: expected To:<number>[,<number>…] and optionally From:, UserContext:, MaxConcat:`,
      );
    }
  }
  if (awaiting) throw noValue(awaiting.token);
  const to = lists.flatMap((list) => list.split(/[,;]/).map((number) => number.trim())).filter(Boolean);
  if (to.length === 0) throw new RelayError('BAD_PARAMETER', 'No number in the subject: expected To:<number>[,<number>…]');
  return { ...build(found.userContext, found.senderId, found.maxParts), to };
}

/** A subject token with nothing after it but another token or the subject's end: named, with how to write it. */
function noValue(token: string): RelayError {
  const name = asciiQuoted(token.slice(0, 40));
  return new RelayError('BAD_PARAMETER', `"${name}" in the subject has no value: write its value after the colon (${name}<value>)`);
}

/**
 * The password token as parseSubjectCommand reads it: its value right after the colon (`Password:x`, whatever x is), or, with
 * blanks after the colon (a header's folding too), the next word unless that word starts a token of its own (`Password: To:…`
 * names no password, and the To: stays readable). Blanks never cross a line end that starts another header.
 */
const SECRET_TOKEN = /\b(Password):(?:\S+|((?:[ \t]|\r?\n(?=[ \t]))+)(?![A-Za-z]+:)\S+)/gi;

/** A subject or header block with the gateway password a legacy system put in its subject hidden. */
export function redactSecrets(text: string): string {
  return text.replace(SECRET_TOKEN, (_token, name: string, blanks: string | undefined) => `${name}:${blanks ?? ''}[redacted]`);
}
