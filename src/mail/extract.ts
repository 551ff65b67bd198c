import { simpleParser } from 'mailparser';
import { RelayError } from '../errors.ts';
import { mailboxesOf } from './addresses.ts';
import { asciiQuoted, printableAscii } from './ascii.ts';
import { htmlWithoutNoncharacters, withoutNoncharacters } from './html-lines.ts';
import { asHtmlWrites, htmlToText, plainWithoutSignature, withoutRelayMarkers } from './html.ts';
import {
  LabelledCharsetDecoder,
  MAILSPLIT_MAX_HEADER_BYTES,
  MAX_READ_CHARS,
  MAILSPLIT_MAX_HEADER_LINES,
  type MailAttachment,
  type ParsedMail,
  readMail,
  type ShownText,
  stuffedLinesOf,
  tooManyParts,
  withHeaderEnd,
} from './mime.ts';
import { headerParameters, parseSubjectCommand, type RelayParameters, takeContextTag, takeLeadingContextLine, takeSubjectTokens } from './parameters.ts';
import { hasVisibleText, withLineFeeds } from '../sms/encoding.ts';
import { isSignature, unsealedText } from './sealed.ts';
import { asTerminalShows } from './terminal.ts';
import { dashedMarkerWithin, hasOriginalMarker, type Removal, type StripRules, stripText, tidy, withoutControls } from './strip.ts';
import { cutSentCopy } from './thread.ts';
import { withoutUuencoded } from './uuencoded.ts';
import {
  AMBIGUOUS_FORWARD_FROM_LABELS,
  AMBIGUOUS_FORWARD_MARKERS,
  AMBIGUOUS_PREFIXES,
  AUTO_REPLY_SUBJECTS,
  anyOf,
  FORWARD_MARKERS,
  FORWARD_PREFIXES,
  HEADER_LABELS,
  REPLY_PREFIXES,
  SUBJECT_TAG_WORDS,
} from './wordings.ts';

/** Whether the subject becomes SMS text: only when the body is empty, always in front, or never. */
export type SubjectUse = 'fallback' | 'prepend' | 'never';

export interface TextRules extends StripRules {
  readonly subject: SubjectUse;
}

/** What a mail asks the relay to send, before encoding. */
export interface OutboundRequest extends RelayParameters {
  /** Where the mail gave its sender id, as its writer names it (`X-SMS-From`, `the subject's From:`): a refusal says what to leave out. */
  readonly senderIdGivenIn?: string;
  readonly text: string;
  readonly subject: string | undefined;
  readonly messageIdHeader: string | undefined;
  /** Numbers the subject names (a mail to the subject address), not yet normalised. */
  readonly subjectNumbers: readonly string[];
  /** Message-IDs this mail answers (In-Reply-To, References), newest first. */
  readonly threadIds: readonly string[];
  /** The From: header's addresses. */
  readonly fromAddresses: readonly string[];
  /** Set when the mail is automatic and must never become an SMS: the reason. */
  readonly automated: string | undefined;
  /**
   * A mark of mail no person wrote that alerts carry too (AUTOMATIC_MARKS, an auto-reply's subject), as
   * `Header: value`: the mail is refused only if it may answer one of the relay's reply mails (acceptance's answersReplyMail).
   */
  readonly automaticMark: string | undefined;
  /**
   * `Precedence: bulk`, as `Header: value`: a mark as automaticMark is, but one that ezmlm writes on every copy in
   * place of the writer's: it does not count in such a list's copy (acceptance's MailTrace.listPrecedence).
   */
  readonly precedenceMark: string | undefined;
  /**
   * `X-Loop` (procmail's autoresponders write it): a mark as automaticMark is, but one that SmartList writes on
   * every copy too: it does not count in a list's copy (MailTrace.listCopy), where an autoresponder's answer carries
   * `Precedence: junk` as well.
   */
  readonly loopMark: string | undefined;
  /** `X-SMS-Delivery-Report: all`: tell the sender of every final delivery state. */
  readonly reportAll: boolean;
  /** `X-SMS-Send-At`: not to be delivered before (ms since the epoch). */
  readonly sendAt: number | undefined;
  /** A reply whose quote was removed and that has no new text: refused (NO_NEW_TEXT), not sent as its subject. */
  readonly noNewText: boolean;
  /** The body ran past MAX_READ_CHARS: the text is what the rules made of its first ones, the rest unread. */
  readonly unread?: boolean;
  /**
   * What such a reply held besides nothing typed, for its refusal to say: the quoted mail answered, only
   * a reaction (Gmail's emoji reaction part, with no text version), or nothing at all.
   */
  readonly emptyReply: 'quote' | 'reaction' | 'nothing' | undefined;
  /**
   * The body had text, all of it removed (a quote, a signature, a disclaimer…), and the subject is sent:
   * `instead` of it (`fallback`), or `alone` where it goes before any body (`prepend`); the sender is told.
   */
  readonly subjectForBody: 'instead' | 'alone' | undefined;
  /** What was removed from the body and why (for `smsrelay preview`). */
  readonly removed: readonly Removal[];
  /** The mail forwards another: its forwarded body is the text. */
  readonly forward: boolean;
  /** Whether the thread's sent mail was looked for: found and cut, not found in the body, or not given. */
  readonly thread: 'cut' | 'not-found' | 'skipped';
  /** Every line of the mail was read as a header field (no empty line ends its header section): its last one (ParsedMail). */
  readonly unendedHeader: string | undefined;
  /** Attachments an SMS cannot carry, by file name (or type when unnamed), uuencoded files in the text too; images inside the HTML (a signature logo) are not counted. */
  readonly attachments: readonly string[];
}

/** What a mail answers: the context of its reply tag, and the Message-IDs of In-Reply-To and References. */
export interface AnsweredThread {
  readonly userContext: string | undefined;
  readonly messageIds: readonly string[];
}

/** The header the relay's own mails carry, so that they never come back as SMS. */
export const LOOP_HEADER = 'X-SMSRelay-Loop';

/**
 * Mail parsing done once per mail; the parts the relay never needs are not produced. `readMail`
 * reads the usual structures synchronously; what it leaves (embedded messages, malformed structure)
 * goes through mailparser, which gives the same result for everything `readMail` reads.
 */
export async function parseMail(raw: Buffer): Promise<ParsedMail> {
  const mail = withHeaderEnd(raw);
  return readMail(mail) ?? parsedByMailparser(mail);
}

/** What readMail leaves, read by mailparser as parseMail does: `mail` is the mail with its header end (withHeaderEnd). */
export async function parsedByMailparser(mail: Buffer): Promise<ParsedMail> {
  // skipHtmlToText: mailparser's own conversion would hide whether there was a text/plain part.
  let cut = false;
  const Iconv = class extends LabelledCharsetDecoder {
    protected override cut(): void {
      cut = true;
    }
  };
  const parsed: ParsedMail = await simpleParser(mail, { ...MAILPARSER_OPTIONS, Iconv }).catch(mailsplitRefusal);
  const stuffed = await stuffedLinesOf(mail);
  return { ...parsed, ...(stuffed.length > 0 ? { stuffed } : {}), ...(cut ? { cut: true } : {}) };
}

/**
 * mailsplit's own limits end simpleParser with a plain error (code EMAXLEN), told apart by its words
 * only: a header section over MAILSPLIT_MAX_HEADER_BYTES (or MAILSPLIT_MAX_HEADER_LINES short lines), more than MAX_MIME_PARTS parts. No retry can
 * pass either, so each is the mail's refusal for good, not a failure of the relay (a 4xx and a stack).
 */
function mailsplitRefusal(error: unknown): never {
  if (error instanceof Error && (error as { code?: unknown }).code === 'EMAXLEN') {
    if (/header size/i.test(error.message)) {
      throw new RelayError(
        'MESSAGE_TOO_BIG',
        `Message too big: a header section is over ${MAILSPLIT_MAX_HEADER_BYTES / 1024 / 1024} MiB or ${MAILSPLIT_MAX_HEADER_LINES} lines, more than the relay reads; send the mail with fewer or shorter header fields`,
        { cause: error },
      );
    }
    if (/child nodes/i.test(error.message)) throw tooManyParts();
  }
  throw error;
}

/** What the relay asks of mailparser; `readMail` follows the same options, and mailparser decodes a labelled charset as `readMail` does. */
export const MAILPARSER_OPTIONS = {
  skipHtmlToText: true,
  skipTextToHtml: true,
  skipImageLinks: true,
  skipTextLinks: true,
  Iconv: LabelledCharsetDecoder,
} as const;

/**
 * How far before MAX_READ_CHARS the last line break may stand for the body to be cut there rather than
 * within the line that crosses the bound: a line of text is shorter. Cut at a line break far before it,
 * an alert's first line above a long log or JSON line would be sent alone, as if it were the whole text.
 */
const READ_CUT_SLACK = 1024;

/** The part of a body the text rules read: whole up to MAX_READ_CHARS, else up to the last line break near it, else within the line. */
export function readPart(text: string): { readonly text: string; readonly unread: boolean } {
  if (text.length <= MAX_READ_CHARS) return { text, unread: false };
  const lineEnd = text.lastIndexOf('\n', MAX_READ_CHARS);
  // A line crossing the bound far from its start (a base64 body or a log on one line) is cut within, never between a surrogate pair.
  const end =
    lineEnd >= MAX_READ_CHARS - READ_CUT_SLACK ? lineEnd : /[\uD800-\uDBFF]/.test(text[MAX_READ_CHARS - 1] ?? '') ? MAX_READ_CHARS - 1 : MAX_READ_CHARS;
  return { text: text.slice(0, end), unread: true };
}

export { MAX_READ_CHARS };

/** Gmail's emoji reaction in its machine form: beside a text version it is a reader's version, alone the mail's only content. */
const isReaction = ({ contentType }: MailAttachment) => contentType === 'text/vnd.google.email-reaction+json';

/**
 * The addresses a mail is sent to (To, Cc): a reply goes to the sender of the mail it answers, so
 * for an answer to the relay's reply mail they hold its phone address.
 */
function recipientsOf(mail: ParsedMail): string[] {
  return ['to', 'cc'].flatMap((name) => [mail.headers.get(name)].flat().flatMap((header) => mailboxesOf(header as Parameters<typeof mailboxesOf>[0])));
}

/** The relay reply a mail may answer: known before its text is cut, so the store can be asked for it. */
export function answeredThread(mail: ParsedMail): AnsweredThread {
  const subject = mail.subject?.trim() ?? '';
  return { userContext: subject ? takeContextTag(subject, 'the subject').userContext : undefined, messageIds: threadIds(mail) };
}

/**
 * The text a person meant to send and the relay parameters the mail carries. `subjectCommand`: the
 * mail went to the subject address, so its subject holds parameters only and its body is the text.
 * `sent`: the bodies of the relay's reply mails it may answer (undefined = not looked up): the quoted
 * copy of one of them is cut first, then the general rules apply.
 */
export function extractRequest(
  mail: ParsedMail,
  rules: TextRules,
  subjectCommand: boolean,
  sent?: readonly string[],
  conversationSubjects: readonly string[] = [],
): OutboundRequest {
  const subjectLine = withoutControls(mail.subject ?? '').trim();
  // A subject of only invisible characters is none: a mail without a body is refused, not sent blank.
  const subject = hasVisibleText(subjectLine) ? subjectLine : undefined;
  const fromHeaders = headerParameters((name) => {
    const value = mail.headers.get(name);
    return value === undefined ? undefined : [value].flat().map(String);
  });

  const thread = threadIds(mail);
  // The subject from its first reply or forward prefix, the mail systems' tags before it aside: read once per mail.
  const prefixed = withoutLeadingTags(subject ?? '');
  const chosen = chosenBody(mail, prefixed, thread.length > 0);
  const read = readPart(withLineFeeds(chosen.text));
  const unsealed = unsealedText(read.text, mail.attachments);
  const uuencoded = withoutUuencoded(unsealed.text);
  const written = uuencoded.text;
  const leading = takeLeadingContextLine(withoutControls(written));
  // Split into lines only to cut the sent copy: stripping takes the text, and most mails answer none of the relay's.
  const cut = sent && sent.length > 0 ? cutSentCopy(leading.rest.split('\n'), sent, recipientsOf(mail)) : undefined;
  const invitation = mail.attachments.some(({ contentType }) => contentType === 'text/calendar');
  const images =
    (typeof mail.html === 'string' && mail.html !== '') || mail.attachments.some(({ related, contentType }) => related && contentType.startsWith('image/'));
  // The stuffed lines as the text rules see them: without the controls taken out above.
  const stuffed = chosen.stuffed.map((line) => withoutControls(withoutNoncharacters(line)).trim());
  const stripped = stripText(cut ? cut.lines.join('\n') : leading.rest, rules, { forward: chosen.forward, reply: chosen.reply, invitation, images, stuffed });
  const body = takeContextTag(stripped.text, 'the body');
  const quoteRemoved = chosen.quoteRemoved || stripped.quoteRemoved || cut !== undefined;

  let fromSubject: RelayParameters & { readonly to?: readonly string[] } = {};
  let subjectText = '';
  if (subjectCommand) {
    fromSubject = parseSubjectCommand(subject ?? '');
  } else if (subject) {
    const tagged = takeContextTag(subject, 'the subject');
    const tokens = takeSubjectTokens(tagged.rest);
    fromSubject = { ...tokens.parameters, ...(tagged.userContext ? { userContext: tagged.userContext } : {}) };
    subjectText = tokens.rest;
  }

  // Only reading HTML puts the relay's markers in (the mail's own noncharacters went before it was read).
  const unmarked = chosen.html ? withoutRelayMarkers(body.rest) : body.rest;
  // stripText's text is tidy, and tidying it again changes nothing: only what a context tag or the markers left is tidied once more.
  const bodyText = unmarked === stripped.text ? unmarked : tidy(unmarked);
  // A reply names its conversation (`sent` was looked up): with nothing typed, its old subject is no text, quote or not.
  const answers = quoteRemoved || sent !== undefined;
  const subjectNew = subjectIsNew(prefixed, written, conversationSubjects);
  // An edited reply subject is sent as the writer typed it: the reply prefixes carry no words of theirs.
  const sentSubject = answers && subjectNew ? stripReplyPrefixes(subjectText) : subjectText;
  const subjectUse = subjectCommand ? 'never' : rules.subject;
  // A body of filler beside a subject that goes in its place when the body is empty (not a reply's old subject) is empty.
  const filler = subjectUse !== 'never' && (!answers || subjectNew) && isFiller(bodyText) && sentSubject.trim() !== '' && !isFiller(sentSubject);
  const text = filler ? '' : bodyText;
  const noNewText = text === '' && answers && !subjectCommand && !subjectNew;
  const smsText = noNewText ? '' : withSubject(text, sentSubject, subjectUse);
  // A removed block's first line is named as the writer's HTML has it, not as the text rules read it.
  const strippedRemoved = chosen.html ? stripped.removed.map((removal) => ({ ...removal, first: asHtmlWrites(removal.first) })) : stripped.removed;
  const removed = [
    ...unsealed.removed,
    ...uuencoded.removed,
    ...(cut ? [cut.removal] : []),
    ...strippedRemoved,
    ...(filler ? [{ reason: FILLER_REASON, first: bodyText.split('\n')[0] ?? '', lines: bodyText.split('\n').length }] : []),
  ];
  return {
    text: smsText,
    noNewText,
    ...(read.unread || mail.cut ? { unread: true } : {}),
    emptyReply: noNewText ? (quoteRemoved ? 'quote' : mail.attachments.some(isReaction) ? 'reaction' : 'nothing') : undefined,
    subjectForBody: text === '' && smsText !== '' && (removed.length > 0 || quoteRemoved) ? (subjectUse === 'prepend' ? 'alone' : 'instead') : undefined,
    removed,
    forward: chosen.forward,
    thread: sent === undefined ? 'skipped' : cut ? 'cut' : 'not-found',
    subject,
    messageIdHeader: validMessageId(mail.messageId),
    subjectNumbers: fromSubject.to ?? [],
    threadIds: thread,
    fromAddresses: (mail.from?.value ?? []).flatMap((entry) => (entry.address ? [entry.address] : [])),
    automated: automation(mail, written),
    automaticMark: markedBy(mail, AUTOMATIC_MARKS) ?? (AUTO_REPLY_SUBJECT.test(prefixed) ? 'its subject says so' : undefined),
    precedenceMark: markedBy(mail, PRECEDENCE_MARKS),
    loopMark: markedBy(mail, LOOP_MARKS),
    reportAll:
      String(mail.headers.get('x-sms-delivery-report') ?? '')
        .trim()
        .toLowerCase() === 'all',
    sendAt: sendAtOf(mail),
    unendedHeader: mail.unendedHeader,
    attachments: mail.attachments
      .filter(
        (attachment) => !attachment.related && !attachment.version && !attachment.resourceFork && !isSignature(attachment) && !chosen.read.includes(attachment),
      )
      // mailparser (the fallback reader) gives `false` for a part whose Content-Type names no type.
      .map((attachment) => attachment.filename?.trim() || attachment.contentType || 'application/octet-stream')
      .concat(uuencoded.files),
    ...pick(fromHeaders, fromSubject, { userContext: leading.userContext ?? body.userContext }),
    ...(fromHeaders.senderId === undefined && fromSubject.senderId !== undefined ? { senderIdGivenIn: "the subject's From:" } : {}),
  };
}

/**
 * The mail's text parts in order, each a paragraph (a plain part Apple Mail split around an image
 * continues the one before it); of an alternative, text/plain unless it is a placeholder for its
 * HTML, else the HTML as text; attachments never, but a forward's attached messages (Outlook's
 * "forward as attachment") are read as mails of their own and their text follows. Whether it
 * forwards another mail or answers one decides how both are read: a forward's quote is its content,
 * and only a reply's `>` lines and blockquotes are quotes by themselves. `read`: the attachments
 * that became text; `stuffed`: the flowed lines its clients space-stuffed before a `>` (ParsedMail.stuffed);
 * `html`: text was read from HTML, with the relay's markers in it.
 */
function chosenBody(
  mail: ParsedMail,
  prefixed: string,
  answersThread: boolean,
  depth = 0,
): { text: string; forward: boolean; reply: boolean; quoteRemoved: boolean; html: boolean; read: MailAttachment[]; stuffed: string[] } {
  const shown = mail.shown ?? [{ plain: mail.text, html: typeof mail.html === 'string' ? mail.html : undefined }];
  const versions = shown.flatMap(versionOf);
  const forward = isForward(prefixed, versions.map((version) => version.plain ?? version.html).join('\n'));
  const reply = !forward && (REPLY_SUBJECT.test(prefixed) || AMBIGUOUS_SUBJECT.test(prefixed) || answersThread);
  const read = shown.flatMap(({ from }) => (from ? [from] : []));
  const stuffed = [...(mail.stuffed ?? [])];
  const texts: Array<{ text: string; separator?: string }> = [];
  let quoteRemoved = false;
  let html = false;
  for (const version of versions) {
    const rendered = version.html === undefined ? { text: version.plain, quoteRemoved: false } : htmlText(version, forward, reply);
    // Plain text goes on as written; an HTML document's text ends with its last block, so the next one starts a line.
    texts.push({ text: rendered.text, ...(version.continues ? { separator: version.html === undefined ? '' : '\n' } : {}) });
    quoteRemoved ||= rendered.quoteRemoved;
    html ||= version.html !== undefined;
  }
  if (forward && depth < MAX_FORWARD_DEPTH) {
    for (const message of mail.messages ?? []) {
      const forwarded = readMail(message.raw);
      if (!forwarded) continue;
      const body = chosenBody(forwarded, withoutLeadingTags(forwarded.subject ?? ''), threadIds(forwarded).length > 0, depth + 1);
      texts.push({ text: body.text });
      html ||= body.html;
      read.push(message.attachment);
      stuffed.push(...body.stuffed);
    }
  }
  return { text: joinedTexts(texts), forward, reply, quoteRemoved, html, read, stuffed };
}

/** A forward of a forward is read this deep: each level is read again, and a mail nesting messages deeper is no one's forward. */
const MAX_FORWARD_DEPTH = 3;

/** The version of a text that is sent: its plain text unless that is empty or a placeholder for its HTML (kept as a fallback). */
type Version = { plain: string; html?: undefined; continues?: boolean } | { html: string; plain?: string; continues?: boolean };

function versionOf(shown: ShownText): Version[] {
  const { continues } = shown;
  // A noncharacter is no text (it is not for interchange), and the relay's markers are noncharacters (html-lines.ts).
  const plain = shown.plain === undefined ? undefined : withoutNoncharacters(shown.plain);
  const html = shown.html === undefined ? undefined : htmlWithoutNoncharacters(shown.html);
  // Each plain part as a terminal shows it (cron output's redraws), before parts are joined: one part's line ends are no other's.
  const written = plain !== undefined && plain.trim() !== '' ? asTerminalShows(plain) : undefined;
  if (written !== undefined && (html === undefined || !isPlaceholder(written, html))) {
    // The plain part is sent (it keeps what the writer typed as typed), less the signature its HTML marks.
    return [{ plain: html === undefined ? written : plainWithoutSignature(written, html), ...(continues ? { continues } : {}) }];
  }
  return html === undefined ? [] : [{ html, ...(written === undefined ? {} : { plain: written }), ...(continues ? { continues } : {}) }];
}

/** The HTML's text; HTML the relay cannot read (htmlToText's UNREADABLE_MAIL) beside a plain part taken for its placeholder: the plain part after all. */
function htmlText({ html, plain }: { html: string; plain?: string }, forward: boolean, reply: boolean): { text: string; quoteRemoved: boolean } {
  try {
    return htmlToText(html, forward, reply);
  } catch (error) {
    if (plain === undefined || !(error instanceof RelayError) || error.code !== 'UNREADABLE_MAIL') throw error;
    return { text: plain, quoteRemoved: false };
  }
}

/** Separate parts are paragraphs; a part that continues the one before it follows after its separator. */
function joinedTexts(texts: ReadonlyArray<{ text: string; separator?: string }>): string {
  let joined = '';
  for (const { text, separator } of texts) {
    if (text.trim() === '') continue;
    joined = joined === '' ? text : separator !== undefined ? joined + separator + text : `${joined.trimEnd()}\n\n${text.trimStart()}`;
  }
  return joined;
}

/**
 * A plain part this long is the text even when it says something else than the HTML; shorter, it
 * may be a placeholder ("This message is in HTML format. Please use an HTML-capable mail client…"),
 * which runs to two sentences.
 */
const PLACEHOLDER_MAX_WORDS = 40;

/** Links and addresses: a plain rendering writes them out, the HTML shows a link by its text. */
const LINK_OR_ADDRESS = /:\/\/|^<?(?:www\.|mailto:)|@/i;

/**
 * The words of a text, lower-case: letters only, as numbers (times, values) are what a plain and an
 * HTML template of one alert format each their own way. Split at blanks first, so that no pattern
 * runs over a long unbroken string more than once.
 */
const wordsOf = (text: string): string[] => {
  const words: string[] = [];
  eachWord(text, (word) => {
    words.push(word);
    return false;
  });
  return words;
};

/** A run of letters and their marks: a word of wordsOf. */
const LETTERS = /[\p{L}\p{M}]+/gu;

/**
 * Each word of a text in order (wordsOf), until `take` says it has seen enough (true). A loop, not
 * split/filter/flatMap: the chain built an array per step and a closure per token, most of what
 * isPlaceholder cost on a reply's HTML.
 */
function eachWord(text: string, take: (word: string) => boolean): void {
  for (const token of text.toLowerCase().split(/\s+/)) {
    if (LINK_OR_ADDRESS.test(token)) continue;
    for (const word of token.match(LETTERS) ?? []) if (take(word)) return;
  }
}

/** What of an HTML part is no text a reader sees: the head, style sheets and scripts, then every tag, comment and character reference. */
const HTML_NOT_TEXT = [/<(head|style|script)\b[\s\S]*?<\/\1\s*>/gi, /<!--[\s\S]*?-->|<[^>]*>|&[#\w]+;/g];

/**
 * Whether a short plain part is no rendering of the HTML beside it but a placeholder: most of its
 * words are not in the HTML's text (which has words). A rendering shares nearly all of them, a
 * monitoring tool's own text template most; a placeholder only a "to" or an "in". By words rather
 * than a list of placeholder sentences, it knows every language and wording. The HTML's text here
 * is its markup taken out, not its rendering (htmlToText): rendering cost 60–100 µs per mail with a
 * short plain part, most mails of a real mix (bench/stages.ts, corpus extraction 27 → 90 µs), to
 * tell apart only words the HTML holds but hides, which a placeholder hardly is.
 */
function isPlaceholder(plain: string, html: string): boolean {
  const words = wordsOf(plain);
  // Without words, a plain part with a number, a link or an emoji ("42", "https://…/4711", Gmail's reaction "👍") says something; one of punctuation alone (".") does not.
  if ((words.length === 0 && /[\p{L}\p{N}\p{Extended_Pictographic}]/u.test(plain)) || words.length > PLACEHOLDER_MAX_WORDS) return false;
  const distinct = new Set(words);
  // The HTML's words are read only until the answer is known: a rendering's words are most of the
  // HTML's first ones (the corpus's alternatives: 21 → 12 µs each, read all against read so far).
  const kept = new Set<string>();
  let shown = false;
  eachWord(
    HTML_NOT_TEXT.reduce((text, markup) => text.replace(markup, ' '), html),
    (word) => {
      shown = true;
      if (distinct.has(word)) kept.add(word);
      // Without words of its own (a template that fills only its HTML and leaves "." in the plain part),
      // the plain part is a placeholder once the HTML has one; with words, it is none once half are shown.
      return words.length === 0 || kept.size * 2 >= distinct.size;
    },
  );
  // An HTML part without words has no text to prefer to the plain one.
  if (!shown) return false;
  return words.length === 0 || kept.size * 2 < distinct.size;
}

/** A reply or forward prefix: its word, perhaps a period ("Réf. :", "Odp.:") and a count ("Re[2]:"), the colon. */
const subjectPrefix = (words: readonly string[]) => new RegExp(`^\\s*(?:${anyOf(words)})\\.?\\s*(?:\\[\\d+\\])?\\s*[:：]`, 'iu');
const FORWARD_SUBJECT = subjectPrefix(FORWARD_PREFIXES);
const AMBIGUOUS_SUBJECT = subjectPrefix(AMBIGUOUS_PREFIXES);
/**
 * A header block's From label in a language whose "VS:" forwards: Outlook's forward header, with no
 * marker above it, at a line's start in plain text or at an element's (`<b>Fra:</b>`) in HTML.
 */
const AMBIGUOUS_FORWARD_HEADER = new RegExp(`(?:^|>)[\\s>]*\\*?(?:${anyOf(AMBIGUOUS_FORWARD_FROM_LABELS)})\\s?\\*?\\s?[:：]`, 'mu');
const AMBIGUOUS_FORWARD_MARKER = dashedMarkerWithin(anyOf(AMBIGUOUS_FORWARD_MARKERS));
const REPLY_SUBJECT = subjectPrefix(REPLY_PREFIXES);
/** The longest tag a mail system puts in a subject ("[CAUTION: External Sender]", "*** Suspected SPAM ***"). */
const MAX_SUBJECT_TAG_CHARS = 40;
/**
 * A bracketed or starred phrase of letters at the subject's start ("[EXTERNAL]", "[CAUTION: External]",
 * "*** SPAM ***"): a mail system's tag when one of its words is a tag word (SUBJECT_TAG_WORDS). No
 * digits ("[Ticket #4411]" names the matter), and stars three or more, as filters write them ("*not*"
 * is the writer's emphasis).
 */
const TAG_PHRASE = new RegExp(`^\\s*(?:\\[([\\p{L} :'’-]{1,${MAX_SUBJECT_TAG_CHARS}})\\]|\\*{3,}([\\p{L} :'’-]{1,${MAX_SUBJECT_TAG_CHARS}})\\*{3,})`, 'u');
const TAG_WORD = new RegExp(`(?<!\\p{L})(?:${anyOf(SUBJECT_TAG_WORDS)})(?!\\p{L})`, 'iu');
/**
 * A tag word with a colon ("EXTERNAL:", "SPAM:"): a tag only where a reply or forward prefix follows
 * it, as the system put it before the "Re:" of the mail it passed. Elsewhere it is the subject's own
 * ("External: the auditors arrive Monday").
 */
const TAG_WORD_COLON = new RegExp(`^\\s*(?:${anyOf(SUBJECT_TAG_WORDS)})\\s*:`, 'iu');
const FORWARD_MARKER = new RegExp(`(?:${anyOf(FORWARD_MARKERS)})`, 'i');
const QUOTED_SUBJECT = new RegExp(`^\\s*[>\\s]*\\*?(?:${anyOf(HEADER_LABELS.subject)})\\s?\\*?\\s?[:：]\\*?\\s*(.*)$`, 'imu');
const CONTEXT_TAG = /\s*\[\s*UserContext:[^\]]*\]/gi;

/**
 * A forward (sent to the phone on purpose): a forward prefix in the subject, or a forward or
 * "Original Message" marker in a mail whose subject does not say it is a reply. "VS:" is either: a
 * forward with a forward marker, or with a marker or header block in a language where it forwards
 * (Danish, Norwegian); a Finnish Outlook's reply has its own ("Alkuperäinen viesti", "Lähettäjä:").
 * `prefixed`: the subject from its first prefix (withoutLeadingTags).
 */
function isForward(prefixed: string, body: string): boolean {
  if (FORWARD_SUBJECT.test(prefixed)) return true;
  const forwardMarked = FORWARD_MARKER.test(body);
  if (AMBIGUOUS_SUBJECT.test(prefixed)) return forwardMarked || AMBIGUOUS_FORWARD_MARKER.test(body) || AMBIGUOUS_FORWARD_HEADER.test(body);
  return !REPLY_SUBJECT.test(prefixed) && (forwardMarked || hasOriginalMarker(body));
}

/**
 * Whether a reply's subject says something new: its words (reply prefixes, mail systems' tags and the
 * context tag aside) differ from those of every subject it answers, the conversation's
 * (`conversationSubjects`) and the one its quoted header block shows ("RE: On my way" answering "SMS
 * from …"): a word appended, inserted or replaced is an edit. With no subject to compare, a reply
 * subject says nothing new and any other does. `prefixed`: the subject from its first prefix.
 */
function subjectIsNew(prefixed: string, body: string, conversationSubjects: readonly string[]): boolean {
  const quoted = body.match(QUOTED_SUBJECT)?.[1];
  const answered = [...conversationSubjects, ...(quoted === undefined ? [] : [quoted])];
  if (answered.length === 0) return !REPLY_SUBJECT.test(prefixed) && prefixed !== '';
  const words = subjectWords(prefixed);
  return words !== '' && answered.every((old) => subjectWords(old) !== words);
}

/**
 * A subject's words for comparing: no context tag, no reply or forward prefixes, no mail system's tag
 * (also one right after the last prefix: the mail answered came tagged, "Re: [EXTERNAL] SMS from …"),
 * case and spacing folded.
 */
function subjectWords(subject: string): string {
  return withoutLeadingTags(stripReplyPrefixes(subject.replace(CONTEXT_TAG, ' ')))
    .replace(/\s+/g, ' ')
    .toLowerCase();
}

/**
 * The subject without its reply and forward prefixes and the mail systems' tags before and between
 * them; what follows the last prefix is the writer's subject as it stands ("Re: [Urgent] call me").
 */
export function stripReplyPrefixes(subject: string): string {
  let base = subject.trim();
  for (;;) {
    const prefixed = withoutLeadingTags(base);
    const rest = prefixed.replace(REPLY_SUBJECT, '').replace(FORWARD_SUBJECT, '');
    if (rest === prefixed) return base;
    base = rest.trim();
  }
}

/**
 * The subject without the mail systems' tags at its start, so that its first prefix is at the start
 * (trimmed). A tag word with a colon goes only with a prefix after it (and the tags between); one
 * pass over the tags, however many a subject has.
 */
function withoutLeadingTags(subject: string): string {
  let rest = subject.trim();
  // From the first tag word with a colon on: the subject's own words unless a prefix follows.
  let unsure: string | undefined;
  for (;;) {
    const phrase = TAG_PHRASE.exec(rest);
    const tag = phrase !== null && TAG_WORD.test(phrase[1] ?? phrase[2] ?? '') ? phrase[0] : TAG_WORD_COLON.exec(rest)?.[0];
    if (tag === undefined) break;
    if (phrase?.[0] !== tag) unsure ??= rest;
    rest = rest.slice(tag.length).trim();
  }
  return unsure === undefined || REPLY_SUBJECT.test(rest) || FORWARD_SUBJECT.test(rest) || AMBIGUOUS_SUBJECT.test(rest) ? rest : unsure;
}

/**
 * A text of filler only: the marks that fill a template's empty body, rule it or pad it (`.`, `-`,
 * `___`, `***`, `==`, `…`, dashes) and blanks, as `echo . | mail -s "ALERT …"` writes (BSD and Heirloom
 * `mail` complain of an empty body; device templates refuse one). Narrow on purpose: any other mark
 * says something (`?`, `!`, `:-)`, `#`), and so do a letter, a digit and an emoji.
 */
const FILLER = /^[\s.\-_*=…‐‒–—―]+$/u;
const isFiller = (text: string) => FILLER.test(text);
/** The removal of a body of filler whose subject is sent in its place (removals.ts names it to the sender). */
const FILLER_REASON = 'punctuation alone, no words: the subject is the text';

function withSubject(body: string, subject: string, use: SubjectUse): string {
  if (use === 'never' || subject === '') return body;
  if (use === 'fallback') return body || subject;
  return body ? `${subject}\n${body}` : subject;
}

/** Each parameter from the first source that has it: headers, then the subject, then the body. */
function pick(...sources: readonly RelayParameters[]): RelayParameters {
  const result: { userContext?: string; senderId?: string; maxParts?: number } = {};
  for (const source of sources) {
    result.userContext ??= source.userContext;
    result.senderId ??= source.senderId;
    result.maxParts ??= source.maxParts;
  }
  return Object.fromEntries(Object.entries(result).filter(([, value]) => value !== undefined));
}

function threadIds(mail: ParsedMail): string[] {
  const references = typeof mail.references === 'string' ? [mail.references] : (mail.references ?? []);
  return [...(mail.inReplyTo ? [mail.inReplyTo] : []), ...references.toReversed()].filter(
    (id, index, all) => validMessageId(id) !== undefined && all.indexOf(id) === index,
  );
}

/**
 * Longer Message-IDs are no mail client's (theirs are a random part and a host name, well under 100
 * characters): the reply mail's In-Reply-To and References copy it, and must stay far under RFC
 * 5322's 998-character line limit.
 */
const MAX_MESSAGE_ID_CHARS = 250;
/** One RFC 5322 msg-id: `<id-left@id-right>`, printable ASCII without spaces, quotes, angle brackets or a second `@`. */
const MESSAGE_ID = /^<[!#-;=?A-~]+@[!#-;=?A-~]+>$/;

/**
 * The Message-ID as given when it is one well-formed msg-id, else undefined: the relay's reply mail
 * copies it into its headers, where a space, a second id or a folded `Bcc:` would be mail the relay
 * never meant to write. A mail whose id is not read so is threaded without it.
 */
function validMessageId(id: string | undefined): string | undefined {
  return id !== undefined && id.length <= MAX_MESSAGE_ID_CHARS && MESSAGE_ID.test(id) ? id : undefined;
}

/**
 * The marks of an auto-reply that vacation responders and ticket systems set instead of (or besides)
 * RFC 3834's `Auto-Submitted: auto-replied`: without them an out-of-office answer to a reply mail
 * would be texted back to the phone, and the phone's answer mailed again. `Precedence: bulk` and
 * `list` are not among them: monitoring systems mark their alerts so.
 */
const AUTO_REPLY_MARKS: ReadonlyArray<readonly [header: string, value: RegExp]> = [
  ['auto-submitted', /^auto-replied\b/],
  ['x-autoreply', /^(?:yes|true|1)\b/],
  ['x-autorespond', /./],
  ['precedence', /^auto[-_]reply\b/],
];

/** The auto-reply mark the mail carries (`Header: value`: RFC 3834's or a responder's own), if any: one list for every reader of mail. */
export function autoReplyMark(mail: ParsedMail): string | undefined {
  return markedBy(mail, AUTO_REPLY_MARKS);
}

/**
 * Marks of mail no person wrote that alerts carry too (monitoring systems send `Auto-Submitted:
 * auto-generated` and `Precedence: bulk`), so they count only in a mail that answers one of the relay's
 * reply mails (acceptance's answersReplyMail): there they make it an automatic answer to the phone's text, such as Exchange's
 * out-of-office (auto-generated, `X-Auto-Response-Suppress`, "Automatic reply:"), and texting it would
 * answer the phone with a machine's words, and the phone's next SMS would draw another.
 */
const AUTOMATIC_MARKS: ReadonlyArray<readonly [header: string, value: RegExp]> = [
  ['auto-submitted', /^(?!no\b)./],
  ['x-auto-response-suppress', /./],
  // Vacation responders and procmail's (`junk (autoreply)`): no list writes it.
  ['precedence', /^junk\b/],
];
/**
 * `Precedence: bulk` (vacation responders, ticket systems' receipts): a mark as AUTOMATIC_MARKS are, but ezmlm writes
 * it on every copy (OutboundRequest.precedenceMark). `Precedence: list` is none in an answer to a reply mail: lists
 * write it (Mailman, Sympa, Google Groups where the writer wrote no Precedence), and so do some bulk mailers, but
 * those never answer a reply mail; an autoresponder writes `bulk` or `junk`.
 */
const PRECEDENCE_MARKS: ReadonlyArray<readonly [header: string, value: RegExp]> = [['precedence', /^bulk\b/]];
/** procmail's loop guard, which its autoresponder recipes write (`formail -A "X-Loop: …"`): OutboundRequest.loopMark. */
const LOOP_MARKS: ReadonlyArray<readonly [header: string, value: RegExp]> = [['x-loop', /./]];
/** A subject that opens with an auto-reply's word (`Automatic reply:`, `Abwesend:`): bounce.ts reads it too. */
export const AUTO_REPLY_SUBJECT = new RegExp(`^\\s*(?:${anyOf(AUTO_REPLY_SUBJECTS)})\\s*[:：]`, 'iu');

/**
 * RFC 3834: auto-replies must not be answered: mail that is automatic whatever it answers (the relay's own
 * mail come back, which carries LOOP_HEADER, acceptance's own-mail.ts judges before the text is read). Alerts
 * (`Auto-Submitted: auto-generated`) are what the relay is for and pass here: their marks
 * (OutboundRequest.automaticMark) count only in an answer to one of the relay's reply mails, which the store tells.
 */
function automation(mail: ParsedMail, body: string): string | undefined {
  const autoReply = markedBy(mail, AUTO_REPLY_MARKS);
  if (autoReply) return `it is an auto-reply (${autoReply})`;
  return reportKind(mail) ?? clientNotice(mail.subject ?? '', body);
}

/**
 * Client mail that is no one's text and carries no report type or header that says so: Outlook's
 * recall of a mail, as Exchange turns it into plain mail for a recipient outside the organisation (an
 * SMS cannot be taken back), and a read receipt some clients send as plain text. Known only by the
 * subject's prefix and the client's sentence in the body together, never by the subject alone: "Read:
 * page 4" from a person is text. In English, German and French, as Outlook writes them.
 */
const CLIENT_NOTICES: ReadonlyArray<{ readonly kind: string; readonly subject: RegExp; readonly body: RegExp }> = [
  {
    kind: 'a recall of an earlier mail (Outlook\'s "Recall:"; an SMS sent cannot be taken back)',
    subject: /^\s*(?:recall|rückruf|rappel)\s*:/iu,
    body: /\bwould like to recall the message\b|\bmöchte die Nachricht\b[^\n]{0,300}\bzurückrufen\b|\bsouhaite rappeler le message\b/iu,
  },
  {
    kind: 'a read receipt (plain text: "Read:", "was read on")',
    subject: /^\s*(?:read|gelesen|lu)\s*:/iu,
    body: /\bwas read on\b|\bwurde am\b[^\n]{0,100}\bgelesen\b|\ba été lue? le\b/iu,
  },
];

function clientNotice(subject: string, body: string): string | undefined {
  const notice = CLIENT_NOTICES.find((candidate) => candidate.subject.test(subject) && candidate.body.test(body));
  return notice && `it is ${notice.kind}`;
}

/** The first of `marks` the mail carries, as `Header: value`. */
function markedBy(mail: ParsedMail, marks: typeof AUTO_REPLY_MARKS): string | undefined {
  for (const [header, value] of marks) {
    const raw = mail.headers.get(header);
    if (raw === undefined) continue;
    const text = String(raw).trim().toLowerCase();
    if (value.test(text)) return `${canonicalHeaderName(header)}: ${printableAscii(text.slice(0, 40))}`;
  }
  return undefined;
}

/**
 * Bounces and read receipts (RFC 3464, RFC 8098; the `global-` types of RFC 6533), as a report's
 * type or as the whole mail's: they are due the null sender, but some systems (Exchange's NDRs,
 * forwarding services) send them from an address and without Auto-Submitted. Texted, each one
 * would answer an SMS reply mail and risk a loop.
 */
const REPORT_KINDS = new Map(
  [
    ['delivery-status', 'a bounce or delivery report'],
    ['global-delivery-status', 'a bounce or delivery report'],
    ['disposition-notification', 'a read receipt'],
    ['global-disposition-notification', 'a read receipt'],
  ].flatMap(([report, kind]) => [
    [`multipart/report; report-type=${report}`, kind],
    [`message/${report}`, kind],
  ]),
);

function reportKind(mail: ParsedMail): string | undefined {
  const contentType = mail.headers.get('content-type') as { value?: string; params?: Record<string, string> } | undefined;
  const type = contentType?.value?.toLowerCase() ?? '';
  const described = type === 'multipart/report' ? `${type}; report-type=${contentType?.params?.['report-type']?.toLowerCase()}` : type;
  const kind = REPORT_KINDS.get(described);
  return kind && `it is ${kind} (${described})`;
}

/** `x-autoreply` as mail writes it, `X-Autoreply`. */
const canonicalHeaderName = (name: string) => name.replace(/(^|-)([a-z])/g, (_, dash: string, letter: string) => dash + letter.toUpperCase());

/** A relay is no calendar: an SMS scheduled further ahead than this is refused. */
const MAX_SCHEDULE_AHEAD_MS = 30 * 24 * 3_600_000;

/** `X-SMS-Send-At`, an RFC 5322 date (as in a Date header) or ISO 8601 with a zone. */
function sendAtOf(mail: ParsedMail): number | undefined {
  const raw = mail.headers.get('x-sms-send-at');
  if (raw === undefined) return undefined;
  const text = raw instanceof Date ? raw.toISOString() : String(raw).trim();
  const at = Date.parse(text);
  const zoned = /(?:Z|[+-]\d{2}:?\d{2}|GMT|UT|[ECMP][SD]T)$/i.test(text);
  // Quoted as written, beyond ASCII by code point: fullwidth digits never folded into a valid-looking date.
  const written = asciiQuoted(text.slice(0, 60));
  if (Number.isNaN(at) || !zoned) {
    throw new RelayError(
      'BAD_PARAMETER',
      `Invalid X-SMS-Send-At "${written}": expected a date with a time zone, e.g. 2026-11-24T08:00:00+01:00 or Tue, 24 Nov 2026 08:00:00 +0100`,
    );
  }
  if (at - Date.now() > MAX_SCHEDULE_AHEAD_MS) {
    throw new RelayError('BAD_PARAMETER', `Invalid X-SMS-Send-At "${written}": at most 30 days ahead`);
  }
  return at;
}
