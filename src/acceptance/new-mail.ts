import { foldRepeats } from './alert-storm.ts';
import { mailboxChoice, mailboxesOf } from '../mail/addresses.ts';
import { latinSpelling, printableAscii } from '../mail/ascii.ts';
import { type ParsedMail, readMail, withHeaderEnd } from '../mail/mime.ts';
import { RelayError, type RelayErrorCode } from '../errors.ts';
import { answeredThread, extractRequest, MAX_READ_CHARS, type OutboundRequest, parsedByMailparser, parseMail } from '../mail/extract.ts';
import { redactSecrets } from '../mail/parameters.ts';
import { ENGLISH_LIST, removedKinds, signOffOf } from '../mail/removals.ts';
import { NOTIFY_BY_DEFAULT, OVER_LIMIT_CATEGORY, REFUSED_MEMBER_CATEGORY, type ReportedRecipient } from '../mailer/dsn.ts';
import { type TextPolicy, textPolicyFor } from '../mail/policy.ts';
import type { SenderPolicy } from '../policy/senders.ts';
import type { ReplyTracking } from '../replies/tracking.ts';
import { analyseText, charactersThatFit, SEGMENT_LIMITS, type SegmentLimits, type SmsText, truncateToParts } from '../sms/encoding.ts';
import { storable } from '../store/storable.ts';
import type { NewMail, NewRecipient, Store } from '../store/types.ts';
import { admitMembers, checkNumberCount, limitsFor, routeOf, shownToSender, subjectWithinLimit } from './number-checks.ts';
import { type RefusedMember, subjectNumber } from './recipient-addresses.ts';
import { type MailTrace, NO_TRACE, returnedOwnMail, TRACED_FIELD, traceOf } from './own-mail.ts';
import { resubmissionOf, writtenDate } from './resubmission-fingerprint.ts';
import type { AcceptanceSettings, AcceptedMail, ContextNotTaken, ProviderLimits, Routes, Transaction } from './types.ts';

export interface NewMailContext {
  readonly settings: AcceptanceSettings;
  readonly store: Store;
  readonly provider: ProviderLimits;
  /** Routes across providers: the limits of the routes the numbers take apply instead of `provider`'s. */
  readonly routes?: Routes | undefined;
  readonly senders: SenderPolicy;
  readonly tracking: ReplyTracking;
}

/**
 * The mail to commit for a submission's raw message: parsed once, its text under the sender's text
 * rules, its parameters and From: checked, its subject's numbers admitted, its length fitted to the
 * parts limit, its conversation tracked, numbers whose latest SMS it repeats left out (alert storms).
 */
export async function buildNewMail(
  id: string,
  raw: Buffer,
  transaction: Transaction,
  { settings, store, provider: single, routes, senders, tracking }: NewMailContext,
  now: number,
): Promise<
  | { returned: string; trace: MailTrace }
  | {
      mail: NewMail;
      cutFrom: number | undefined;
      attachments: string | undefined;
      subjectForBody: AcceptedMail['subjectForBody'];
      unread: AcceptedMail['unread'];
      contextNotTaken: ContextNotTaken | undefined;
      posedAs: string | undefined;
      replyToAddresses: AcceptedMail['replyToAddresses'];
      mailboxNote: AcceptedMail['mailboxNote'];
      partsCapped: AcceptedMail['partsCapped'];
      standIns: AcceptedMail['standIns'];
      refused: readonly ReportedRecipient[];
    }
> {
  const { principal, envelopeFrom, dsn } = transaction;
  // The header end is found once, for the trace, the parse and the header block kept.
  const ended = withHeaderEnd(raw);
  const header = headerBlock(ended);
  // Most mails carry none of the fields whose reading needs the trace (a scan of the whole header): they go without it.
  const trace = TRACED_FIELD.test(header) ? traceOf(header) : NO_TRACE;
  // Awaited only for a mail that carries the relay's loop header: any other pays no microtask for it.
  const returned =
    trace.loopHeaders === 0
      ? undefined
      : await returnedOwnMail(trace, envelopeFrom, { hostname: settings.hostname, domains: settings.recipients.domains, store });
  if (returned !== undefined) return { returned, trace };
  const textPolicy = textPolicyFor(settings.text, envelopeFrom);
  const { subjectCommand, rcptNumbers } = rcptTargets(transaction);
  // parseMail, awaited only where mailparser reads the mail: most mails readMail reads at once, and a promise awaited
  // costs a microtask on the 250's way.
  const parsed = readMail(ended) ?? (await parsedByMailparser(ended));
  const reads = new ConversationReadsOnce(store);
  const request = await readText(parsed, textPolicy, subjectCommand, rcptNumbers, reads, trace);
  const fromProblem = senders.fromHeaderProblem(principal, request.fromAddresses);
  if (fromProblem) throw new RelayError('POLICY_DENIED', `Sender refused: ${fromProblem}`);
  // RCPT numbers were admitted at RCPT; the subject's are known only now. The sender wrote them: a refusal names them whole.
  const written = request.subjectNumbers.map((number) => subjectNumber(number, settings.recipients));
  const shown = shownToSender(true);
  // Numbers accepted at RCPT keep their 250: the subject's refused by policy or beyond the mail's limit are bounced, not the mail.
  const othersTaken = rcptNumbers.length > 0;
  const subject = written.length === 0 ? { admitted: [], refused: [] } : await admitMembers(principal, written, store, senders, shown, othersTaken);
  if (routes) for (const number of subject.admitted) routeOf(number, routes, shown);
  const { admitted, overLimit } = subjectWithinLimit(rcptNumbers, subject.admitted, settings.maxNumbersPerMail, principal);
  const recipients = toRecipients(transaction, admitted, settings.maxNumbersPerMail);
  const refused = refusedMembers(transaction, [...subject.refused, ...overLimit], recipients);
  const provider = limitsFor(
    recipients.map((recipient) => recipient.number),
    single,
    routes,
  );
  const { senderId } = request;
  if (senderId !== undefined) {
    const invalid = provider.senderIdProblem(senderId);
    if (invalid) throw new RelayError('BAD_PARAMETER', `Invalid sender id: ${invalid}`, { quotes: [senderId] });
    const refused = senders.senderIdProblem(principal, senderId, request.senderIdGivenIn ?? 'X-SMS-From');
    if (refused) throw new RelayError('SENDER_ID_REFUSED', `Sender id refused: ${refused}`, { quotes: [senderId] });
  }
  const { sms, maxParts, partsCapped, standIns } = smsOnProvider(
    request,
    Math.min(settings.maxParts, principal.maxParts ?? Number.POSITIVE_INFINITY),
    textPolicy,
    provider,
  );
  const numbers = recipients.map((recipient) => recipient.number);
  const choice = mailboxChoice(parsed, settings.recipients.domains);
  const { userContext, conversation, notTaken, mailboxTaken, posedAs } = await tracking.outgoing(
    // The clues alone, not a spread of the request and the choice: a copy of some twenty properties added one by one
    // grew its property store each time, ~2.8 kB per mail. Bound, not an arrow: tsx names every closure it makes.
    {
      userContext: request.userContext,
      threadIds: request.threadIds,
      mailbox: choice.mailbox,
      author: choice.author,
      mayWriteAs: senders.mayWriteAs.bind(senders, principal),
    },
    numbers,
    reads,
  );
  // Replies go to one mailbox (the conversation's): a Reply-To naming several loses the others, and says so where its first is
  // the one taken (a first one passed over is named by the mailbox note). A mail continuing another mailbox's conversation
  // through its thread leaves the phone's replies there: its headers chose nothing, so neither note says where they go.
  const replyTo = mailboxesOf(parsed.replyTo);
  const chose = conversation !== undefined && mailboxTaken;
  const built: NewMail = {
    id,
    receivedAt: now,
    envelopeFrom,
    client: transaction.client,
    // Headers as written (8BITMIME) may hold a NUL, which PostgreSQL's text cannot: kept without on either store. The SMS's
    // text has no control character (its text policy), a sender id and a context are checked: only these are as written.
    messageIdHeader: storable(request.messageIdHeader),
    subject: request.subject === undefined ? undefined : storable(redactSecrets(request.subject)),
    headers: storable(redactSecrets(header)),
    sms: {
      text: sms.text,
      encoding: sms.encoding,
      parts: sms.parts,
      maxParts,
      senderId: request.senderId,
      userContext,
    },
    dsn,
    recipients,
    resubmission: resubmissionOf(request.messageIdHeader, numbers, sms.text, now - settings.resubmissionWindowMs, storable(writtenDate(header))),
    conversation,
    reportAll: request.reportAll,
    sendAt: request.sendAt,
    holdUntilSendAt: !provider.capabilities.scheduling,
    gatewayAccount: principal.gatewayAccount,
    account: principal.kind === 'account' ? principal.name : undefined,
    refused,
  };
  // Alert-storm control (`policy.alertStormWindow`, off by default): a monitor repeating one alert texts each number once
  // (alert-storm.ts). Off, nothing is looked up and no promise awaited.
  const window = settings.alertStormWindowMs;
  return {
    mail: window === undefined ? built : await foldRepeats(built, store, now - window),
    cutFrom: sms.cutFrom,
    attachments: attachmentsNote(request.attachments),
    subjectForBody: subjectForBodyNote(request),
    unread: unreadNote(request),
    contextNotTaken: notTaken ? { named: notTaken.context, given: userContext, numbers: notTaken.numbers } : undefined,
    posedAs,
    replyToAddresses:
      chose && choice.mailbox !== undefined && replyTo.length > 1 && replyTo[0] === choice.mailbox
        ? { count: replyTo.length, mailbox: choice.mailbox }
        : undefined,
    mailboxNote: conversation === undefined || chose ? choice.note : undefined,
    partsCapped,
    standIns,
    refused,
  };
}

/**
 * The members of lists (and numbers of the subject) refused while the others were taken, once each, as the bounce
 * reports them: under the RCPT that named them, with its NOTIFY and ORCPT. None of the numbers the mail goes to, nor of those refused at their own RCPT.
 */
function refusedMembers(transaction: Transaction, subject: readonly RefusedMember[], recipients: readonly NewRecipient[]): ReportedRecipient[] {
  // The client reports the 550 of a number's own RCPT: the relay's bounce would name it twice.
  const sent = new Set([...recipients.map((recipient) => recipient.number), ...(transaction.refusedAtRcpt ?? [])]);
  const byNumber = new Map<string, ReportedRecipient>();
  for (const { rcpt, target } of transaction.recipients.values()) {
    const members = 'subject' in target ? subject : 'refused' in target ? (target.refused ?? []) : [];
    // A list's member is the relay's to know, not its sender's: its bounce masks it. The subject's numbers the sender wrote.
    const masked = !('subject' in target);
    for (const { number, reason, overLimit } of members) {
      if (sent.has(number) || byNumber.has(number)) continue;
      byNumber.set(number, {
        number,
        rcpt: rcpt.address,
        notify: rcpt.dsn?.notify,
        orcpt: rcpt.dsn?.orcpt,
        category: overLimit ? OVER_LIMIT_CATEGORY : REFUSED_MEMBER_CATEGORY,
        reason: `not sent: ${reason}`,
        code: (overLimit ? 'TOO_MANY_NUMBERS' : 'POLICY_DENIED') satisfies RelayErrorCode,
        masked,
      });
    }
  }
  return [...byNumber.values()];
}

/** Whether a RCPT named the subject address, and the numbers the RCPTs named, in one pass over them. */
function rcptTargets({ recipients }: Transaction): { subjectCommand: boolean; rcptNumbers: string[] } {
  let subjectCommand = false;
  const rcptNumbers: string[] = [];
  for (const { target } of recipients.values()) {
    if ('subject' in target) subjectCommand = true;
    // One at a time: a spread of a list's members is a call's arguments, which overflow the stack past ~125,000.
    if ('numbers' in target) for (const number of target.numbers) rcptNumbers.push(number);
  }
  return { subjectCommand, rcptNumbers };
}

/**
 * The store's reads of the conversation a mail continues, each asked once per mail: the text stage (thread-first
 * cutting) and the tracking ask which conversation the thread continues with the same Message-IDs and, unless the
 * subject names numbers, the same numbers, then read the same conversation rows; each read is a round trip (the
 * store's thread, or PostgreSQL's server) on the mail's way to its 250. Asked with other arguments, it is read again.
 * A class, not closures over the store: most mails continue no thread and ask nothing, and make only this object.
 */
class ConversationReadsOnce implements Pick<Store, 'contextOfMail' | 'conversation' | 'sentReplies' | 'answeredNumbers' | 'repliedIn'> {
  readonly #store: Store;
  /** Each answer by its arguments (JSON), the first answer's promise kept for the mail. */
  #contexts: Map<string, ReturnType<Store['contextOfMail']>> | undefined;
  #conversations: Map<string, ReturnType<Store['conversation']>> | undefined;

  constructor(store: Store) {
    this.#store = store;
  }

  contextOfMail(...args: Parameters<Store['contextOfMail']>): ReturnType<Store['contextOfMail']> {
    this.#contexts ??= new Map();
    return askedOnce(this.#contexts, JSON.stringify(args), () => this.#store.contextOfMail(...args));
  }

  conversation(...args: Parameters<Store['conversation']>): ReturnType<Store['conversation']> {
    this.#conversations ??= new Map();
    return askedOnce(this.#conversations, JSON.stringify(args), () => this.#store.conversation(...args));
  }

  sentReplies(...args: Parameters<Store['sentReplies']>): ReturnType<Store['sentReplies']> {
    return this.#store.sentReplies(...args);
  }

  answeredNumbers(...args: Parameters<Store['answeredNumbers']>): ReturnType<Store['answeredNumbers']> {
    return this.#store.answeredNumbers(...args);
  }

  repliedIn(...args: Parameters<Store['repliedIn']>): ReturnType<Store['repliedIn']> {
    return this.#store.repliedIn(...args);
  }
}

/** The answer `answers` holds under `key`, else `read`'s, kept there. */
function askedOnce<T>(answers: Map<string, T>, key: string, read: () => T): T {
  const known = answers.get(key);
  if (known !== undefined) return known;
  const answer = read();
  answers.set(key, answer);
  return answer;
}

/**
 * The SMS a request's text becomes on `provider`: its stand-ins in, fitted to the parts the mail asks
 * for within the relay's limit (`relayMaxParts`: sms.maxParts, the sender's) and the provider's. The
 * acceptance service and `smsrelay preview` both run this, so the preview is what is sent.
 */
export function smsOnProvider(
  request: Pick<OutboundRequest, 'text' | 'noNewText' | 'attachments' | 'maxParts' | 'removed' | 'unread'>,
  relayMaxParts: number,
  policy: TextPolicy,
  provider: ProviderLimits,
): {
  readonly sms: SmsText & { cutFrom?: number };
  readonly maxParts: number;
  readonly partsCapped: AcceptedMail['partsCapped'];
  readonly standIns: AcceptedMail['standIns'];
} {
  const partLimit = Math.min(relayMaxParts, provider.capabilities.maxParts);
  // The mail asks for at most that many parts: where the relay's limit is lower, the limit is what it can keep to (the 250 says so).
  const maxParts = Math.min(request.maxParts ?? partLimit, partLimit);
  const standIns = withStandIns(request.text, provider.capabilities.standIns);
  return {
    // The request itself when no stand-in changed its text (most mails): a spread copy of it cost ~2.8 kB per mail.
    sms: fitText(standIns.text === request.text ? request : { ...request, text: standIns.text }, maxParts, policy, provider.segmentLimits),
    maxParts,
    partsCapped: request.maxParts !== undefined && request.maxParts > partLimit ? { asked: request.maxParts, limit: partLimit } : undefined,
    standIns: standIns.note,
  };
}

/** How the 250 (and `smsrelay preview`) says that the relay's part limit applies instead of the mail's. */
export function partsCappedNote({ asked, limit }: NonNullable<AcceptedMail['partsCapped']>): string {
  return `the mail asked for at most ${asked} parts; this relay sends at most ${limit}, so that limit applies`;
}

/**
 * The text with the characters the provider cannot carry (ProviderCapabilities.standIns) replaced
 * by their stand-ins, and the note saying which: the alert still goes, and its sender knows how.
 */
function withStandIns(text: string, standIns: Readonly<Record<string, string>> = {}): { readonly text: string; readonly note?: string } {
  const found = Object.entries(standIns).filter(([char]) => text.includes(char));
  if (found.length === 0) return { text };
  return {
    text: found.reduce((replaced, [char, standIn]) => replaced.replaceAll(char, standIn), text),
    note: `${found.map(([char, standIn]) => `"${char}" sent as "${standIn}"`).join(', ')}: the SMS provider cannot carry ${found.length === 1 ? 'it' : 'them'}`,
  };
}

/**
 * The text stage: the request a parsed mail makes, its text cut thread-first when it answers one
 * of the relay's reply mails to `numbers` (`store` undefined: not looked up); automatic mail is
 * refused, and so is a mail marked as no person's that may answer one of the relay's reply mails
 * (answersReplyMail). The marks a mailing list writes on every copy count only where the list did not
 * (`trace`): `Precedence: bulk` in ezmlm's copies, `X-Loop` in any list's; so a person's post through a list that
 * answers the conversation is texted, as any person's answer, and a machine's answer through it (an autoresponder's
 * `Precedence: junk` or `bulk`, `Auto-Submitted`) is refused. The relay's own mail come back (returnedOwnMail) is
 * judged before. `smsrelay preview` runs exactly this and smsOnProvider.
 */
export async function readText(
  mail: ParsedMail,
  policy: TextPolicy,
  subjectCommand: boolean,
  numbers: readonly string[],
  store: Pick<Store, 'contextOfMail' | 'sentReplies' | 'conversation' | 'repliedIn'> | undefined,
  trace: Pick<MailTrace, 'listCopy' | 'listPrecedence'>,
): Promise<OutboundRequest> {
  const answered = store ? await answeredConversation(mail, numbers, store) : undefined;
  const request = extractRequest(mail, policy, subjectCommand, answered?.bodies, answered?.subjects);
  if (request.automated) throw new RelayError('AUTOMATED_MAIL', `Not sent as SMS: ${request.automated}`);
  const mark = request.automaticMark ?? (trace.listPrecedence ? undefined : request.precedenceMark) ?? (trace.listCopy ? undefined : request.loopMark);
  if (mark !== undefined && store && (await answersReplyMail(request, answered?.context, numbers, store))) {
    throw new RelayError('AUTOMATED_MAIL', `Not sent as SMS: it is an automatic answer to the relay's reply mail, not a person's (${mark})`);
  }
  return request;
}

/** The relay's reply mails looked at for thread-first cutting: the newest few of the conversation. */
const SENT_REPLIES_LOOKED_AT = 5;

/**
 * The conversation a mail answers (its reply tag or In-Reply-To/References name it): its context, the
 * bodies of the relay's reply mails in it, for thread-first cutting ([] when retention erased what was
 * sent: the general rules decide then), and its subjects (the first mail's, the reply mails'), which a
 * reply's subject repeats unless edited.
 * Undefined when it answers none.
 */
async function answeredConversation(
  mail: ParsedMail,
  numbers: readonly string[],
  store: Pick<Store, 'contextOfMail' | 'sentReplies' | 'conversation'>,
): Promise<{ context: string; bodies: string[]; subjects: string[] } | undefined> {
  const thread = answeredThread(mail);
  if (numbers.length === 0 || (thread.userContext === undefined && thread.messageIds.length === 0)) return undefined;
  const context = thread.userContext ?? (await store.contextOfMail(thread.messageIds, numbers));
  if (context === undefined) return undefined;
  const raws = await store.sentReplies(context, numbers, SENT_REPLIES_LOOKED_AT);
  const sent = await Promise.all(raws.map((raw) => parseMail(raw)));
  const conversations = await Promise.all(numbers.map((number) => store.conversation(context, number)));
  return {
    context,
    bodies: sent.flatMap(({ text }) => (text?.trim() ? [text] : [])),
    subjects: [...conversations, ...sent].flatMap((mail) => (mail?.subject ? [mail.subject] : [])),
  };
}

/**
 * Whether a mail marked as no person's (an out-of-office, a ticket system's receipt, an ERP's alert) may
 * answer one of the relay's reply mails to `numbers`, and is refused: it quotes one (thread-first cutting
 * found the copy), or its In-Reply-To/References name a reply mail the relay sent, or a mail of a
 * conversation the relay sent reply mails in, or the context it names in any form (`[UserContext: …]`,
 * `UserContext:` in the subject, `X-UserContext`, its answered tag) is one the relay sent reply mails
 * under. The store's rows decide, every reply mail however old and whatever retention erased.
 * Conservative by design: a machine's answer to a reply mail can bear any subject (`[Acme Support] Re: …`,
 * `Request received: …`, `… - Out of office`) and no ids, and texted it draws the phone's autoresponder
 * again, a loop; under a context the phone has answered, it cannot be told from an alert, so a later
 * automatic mail there is refused too. A context no reply mail was sent under (an ERP's first alerts of
 * a new ticket) names no reply mail and is sent. Read only for a marked mail: a person's costs no read.
 */
async function answersReplyMail(
  request: OutboundRequest,
  answeredContext: string | undefined,
  numbers: readonly string[],
  store: Pick<Store, 'repliedIn'>,
): Promise<boolean> {
  if (numbers.length === 0) return false;
  if (request.thread === 'cut') return true;
  const contexts = [...new Set([request.userContext, answeredContext].filter((context) => context !== undefined))];
  return store.repliedIn(contexts, request.threadIds, numbers);
}

/**
 * The SMS for a request's text under the sender's length policy: refused when a reply adds nothing
 * or nothing is left, refused past `maxParts` or cut to fit.
 */
export function fitText(
  {
    text,
    noNewText,
    emptyReply,
    attachments,
    unendedHeader,
    removed = [],
    unread = false,
    subjectNumbers = [],
  }: Pick<OutboundRequest, 'text' | 'noNewText' | 'attachments'> &
    Partial<Pick<OutboundRequest, 'unendedHeader' | 'removed' | 'emptyReply' | 'unread' | 'subjectNumbers'>>,
  maxParts: number,
  policy: TextPolicy,
  segmentLimits: SegmentLimits = SEGMENT_LIMITS,
): SmsText & { cutFrom?: number } {
  // Only a reply that quoted the mail answered is told to write above its quote.
  if (noNewText) {
    const quoted = emptyReply === undefined || emptyReply === 'quote';
    // A reply of only "Kind regards" was typed: told "no new text", its writer sees a fault, so it is named.
    const signOff = emptyReply === 'reaction' ? undefined : signOffOf(removed);
    if (signOff !== undefined) {
      // One in a script ASCII cannot show ("祝好" is "??") is not named.
      const shown = quotable(signOff, SIGN_OFF_CHARS);
      const named = /[a-z]/i.test(shown) ? ` ("${shown}")` : '';
      throw new RelayError(
        'NO_NEW_TEXT',
        `Not sent as SMS: the reply holds only a sign-off${named}; write the message ${quoted ? 'above the quote' : 'in the mail'}`,
      );
    }
    throw quoted ? new RelayError('NO_NEW_TEXT') : new RelayError('NO_NEW_TEXT', UNQUOTED_EMPTY_REPLY[emptyReply]);
  }
  const sms = analyseText(text, segmentLimits);
  if (sms.parts === 0) {
    // Numbers in the subject: the mail went to the subject address, whose subject is never text (it has one, so "no subject" would mislead).
    const subject =
      subjectNumbers.length > 0
        ? ' (a mail to the subject address, sms.subjectAddress, takes its text from the body: its subject holds only To:, From:, UserContext:, MaxConcat:)'
        : policy.subject === 'never'
          ? ''
          : ' and the mail has no subject';
    const dropped = attachmentsNote(attachments);
    // Said as it happened: a device's or script's only line read as a header field (and how to send
    // it), a body of only what the relay removes (a quote, an encoded file…), or an empty mail.
    const why = unendedHeader
      ? `it has no body: with no empty line after the header, each line was read as a header field (the last "${quotable(unendedHeader, UNENDED_HEADER_CHARS)}"); start the text after an empty line, or put it in the subject`
      : removed.length > 0
        ? `the body held only ${removedKinds(removed)}${subject}`
        : `the body is empty${subject}`;
    throw new RelayError('NO_TEXT', `The mail has no text to send as SMS: ${why}${dropped ? `; ${dropped}` : ''}`);
  }
  if (sms.parts <= maxParts) return sms;
  if (policy.overLength === 'truncate') return { ...truncateToParts(text, maxParts, segmentLimits), cutFrom: sms.parts };
  // Septets, not characters: `€ [ ] { } \ ~ ^ |` take two, and a part never splits them; so what fits is counted.
  const unit = sms.encoding === 'gsm7' ? 'GSM-7 septets' : 'UCS-2 units';
  const fit = charactersThatFit(text, maxParts, segmentLimits);
  throw new RelayError(
    'TEXT_TOO_LONG',
    `Text too long: ${unread ? `its first ${MAX_READ_CHARS} characters alone (the rest was not read) give ` : ''}${sms.units} ${unit} need ${sms.parts} SMS parts; the limit is ${maxParts} ${maxParts === 1 ? 'part, which holds' : 'parts, which hold'} the first ${fit} characters`,
  );
}

/** Why a reply that quotes nothing is refused: it holds no text of its own, or only a reaction. */
const UNQUOTED_EMPTY_REPLY = {
  reaction: "Not sent as SMS: the reply is only an emoji reaction (Gmail's), with no text; write the message in the mail",
  nothing: 'Not sent as SMS: the reply has no new text; write the message in the mail',
} as const;

/** The writer's text as an SMTP reply quotes it: printable ASCII (ß as ss), its double quotes made single, cut to `chars`. */
function quotable(text: string, chars: number): string {
  return printableAscii(text, latinSpelling).replaceAll('"', "'").slice(0, chars);
}

/** A sign-off named in a refusal is cut to this length: the longest are a bilingual pair ("Mit freundlichen Grüßen / Kind regards"). */
const SIGN_OFF_CHARS = 60;
/** A header line quoted in a reply is cut to this length: an SMTP reply line must stay short (RFC 5321 §4.5.3.1.5: 512 octets). */
const UNENDED_HEADER_CHARS = 80;
/** Attachment names shown in a reply: this many, then "and N more"; each cut to this length. */
const NAMED_ATTACHMENTS = 3;
const ATTACHMENT_NAME_CHARS = 40;
/** Where a name was cut: an ellipsis as a reply writes one, in ASCII (RFC 5321 §4.2). */
const CUT_MARK = '...';
/** A file name's extension, kept past a cut (`.pdf`, `.eml`, `.docx`): the file's kind, which the sender knows it by. */
const EXTENSION = /\.[A-Za-z0-9]{1,8}$/;

/** What the sender is told when the body ran past MAX_READ_CHARS: what was sent is the text of its first part alone. */
export function unreadNote(request: Pick<OutboundRequest, 'unread'>): string | undefined {
  return request.unread ? `only the body's first ${MAX_READ_CHARS} characters were read: the rest was not sent` : undefined;
}

/**
 * What the sender is told when the body's text was all removed (a quote, a signature, an encoded
 * file…) and the subject went in its place, or alone where the sender's policy prepends it: a forward
 * or a note the relay misread must not look as if it had reached the phone. It names the kinds removed; `smsrelay preview` names each block.
 */
export function subjectForBodyNote(request: Pick<OutboundRequest, 'subjectForBody' | 'removed'>): string | undefined {
  if (request.subjectForBody === undefined) return undefined;
  // With `prepend` the subject goes anyway: only the body's part of the text is missing.
  const sent = request.subjectForBody === 'alone' ? 'only the subject was sent' : 'the subject was sent in its place';
  return `the body held only ${removedKinds(request.removed)}: ${sent}`;
}

/**
 * What the sender is told about attachments (in the 250 and in the "no text" 554), or undefined for
 * none: a mail with a PDF must not look as if the PDF went to the phone. Names go into an SMTP reply
 * line, so they are cut short and kept to printable ASCII.
 */
export function attachmentsNote(names: readonly string[]): string | undefined {
  if (names.length === 0) return undefined;
  const shown = names.slice(0, NAMED_ATTACHMENTS).map((name) => `"${shownName(name)}"`);
  const more = names.length - shown.length;
  const listed = ENGLISH_LIST.format(more > 0 ? [...shown, `${more} more`] : shown);
  return `${names.length === 1 ? 'the attachment' : `${names.length} attachments`} ${listed} ${names.length === 1 ? 'is' : 'are'} not sent: an SMS carries text only`;
}

/**
 * An attachment's name as a reply line shows it: printable ASCII, at most ATTACHMENT_NAME_CHARS; a longer one cut
 * before its extension, which is kept, and the cut marked, so that no name shows that no file has
 * (`Pump station 4 - maintenance report....pdf`).
 */
function shownName(name: string): string {
  const printable = printableAscii(name).replaceAll('"', "'");
  if (printable.length <= ATTACHMENT_NAME_CHARS) return printable;
  const extension = EXTENSION.exec(printable)?.[0] ?? '';
  return `${printable.slice(0, ATTACHMENT_NAME_CHARS - CUT_MARK.length - extension.length).trimEnd()}${CUT_MARK}${extension}`;
}

/**
 * One recipient per distinct number; the first RCPT that named a number is the one reported. A number
 * named again with other DSN parameters gets both RCPTs' NOTIFY (notifyOfBoth) and the first ORCPT given,
 * as Postfix merges them. The subject address stands for the numbers its subject names, known only now.
 */
function toRecipients({ recipients, principal }: Transaction, subjectNumbers: readonly string[], maxNumbersPerMail: number): NewRecipient[] {
  const entries = [...recipients.values()].map(({ rcpt, target }) => ({
    rcpt,
    target: 'subject' in target ? { numbers: subjectNumbers } : target,
  }));
  checkNumberCount(entries, maxNumbersPerMail, principal, 'subject');
  const byNumber = new Map<string, NewRecipient>();
  for (const { rcpt, target } of entries) {
    for (const number of 'numbers' in target ? target.numbers : []) {
      const first = byNumber.get(number);
      byNumber.set(
        number,
        first
          ? { ...first, notify: notifyOfBoth(first.notify, rcpt.dsn?.notify), orcpt: first.orcpt ?? rcpt.dsn?.orcpt }
          : { number, rcpt: rcpt.address, notify: rcpt.dsn?.notify, orcpt: rcpt.dsn?.orcpt },
      );
    }
  }
  return [...byNumber.values()];
}

/** RFC 3461 §4.1's NOTIFY values, in the order the relay writes them. */
const NOTIFY_ORDER: readonly string[] = ['SUCCESS', 'FAILURE', 'DELAY'];

/** The reports either RCPT of one number asked for: NEVER only when both said NEVER; none given by either stays none. */
export function notifyOfBoth(first: readonly string[] | undefined, second: readonly string[] | undefined): readonly string[] | undefined {
  if (first === undefined && second === undefined) return undefined;
  const asked = new Set([...(first ?? NOTIFY_BY_DEFAULT), ...(second ?? NOTIFY_BY_DEFAULT)]);
  const merged = NOTIFY_ORDER.filter((value) => asked.has(value));
  return merged.length > 0 ? merged : ['NEVER'];
}

/** The header block as received, for bounces and the mail's trace: `raw` is the mail as the MIME reader ends its header (withHeaderEnd). */
export function headerBlock(raw: Buffer): string {
  const crlf = raw.indexOf('\r\n\r\n');
  const lf = raw.indexOf('\n\n');
  const end = crlf >= 0 && (lf < 0 || crlf < lf) ? crlf + 2 : lf >= 0 ? lf + 1 : raw.length;
  return raw.subarray(0, end).toString('utf8');
}
