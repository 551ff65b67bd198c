/**
 * What a person wrote, without what their mail client, their company and the conversation added:
 * quoted history, signatures, device lines, disclaimers, text outside start/end markers.
 *
 * Written here rather than taken from a reply parser: the maintained one (email-reply-parser) treats
 * any line starting "Sent from" and any `----` rule as a signature, which deletes most of a monitoring
 * alert ("Sent from nagios01 …"), and its patterns cannot be changed. The rules recognise structure,
 * not sentences: an attribution is a line (or up to three wrapped lines) ending in a colon with a date,
 * an address or a "wrote" verb, above quoted or copied lines; a header block is a run of `Label: value`
 * lines whose labels are From/Sent/To/Subject in some language (or Lotus Notes' labels alone on their
 * lines, without colons); a device line, a sign-off block or a contact block counts only at the end.
 * The words of each language are data (wordings.ts). Machine mail (runs of `Label: value` lines) keeps
 * its last lines. Every rule is one pass over the lines.
 */
import { decodeHTMLStrict } from 'entities';
import { hasFormatCharacter, hasVisibleText, withoutEdgeFormat } from '../sms/encoding.ts';
import { HTML_RULE } from './html-lines.ts';
import { ESCAPE_SEQUENCE_SOURCE } from './escape-sequences.ts';
import {
  anyOf,
  STOCK_DEVICE_PHONES,
  STOCK_MAIL_APP_PLATFORMS,
  STOCK_MAIL_APPS,
  STOCK_APP_LINES,
  AQUAMAIL_LINE,
  AQUAMAIL_LINK_HOSTS,
  CLOSING_LINE_WORDS,
  ATTACHED_ONE_LETTER_WORDS,
  ATTRIBUTION_VERBS,
  CALENDAR_FOOTER_OPENINGS,
  DEVICE_LINE_ENDS,
  DEVICE_LINE_NAME_FOLLOWERS,
  DEVICE_LINE_NAME_STEMS,
  DEVICE_LINE_NAMES,
  DEVICE_LINE_OWNED_NAMES,
  DEVICE_LINE_OWNERS,
  DEVICE_LINE_OWNERS_AFTER,
  DEVICE_LINE_STARTS,
  DISCLAIMER_HEADINGS,
  DISCLAIMER_OPENINGS,
  DISCLAIMER_WORDS,
  DISCLAIMER_MAIL_WORDS,
  FOOTER_PHRASES,
  WRITERS_FOOTER_PHRASES,
  FOOTER_WORDS,
  FORWARD_MARKERS,
  NOTES_FORWARD_MARKERS,
  OUTLOOK_GET_VERBS,
  OUTLOOK_SENT_LABELS,
  HEADER_LABELS,
  ORIGINAL_MESSAGE,
  POSTSCRIPTS,
  REPLY_ABOVE_MARKERS,
  SIGN_OFFS,
  COLON_SIGN_OFFS,
  SIGNATURE_LABELS,
  STATUS_WORDS,
  withTurkishI,
} from './wordings.ts';
import { NOT_ASCII } from './ascii.ts';

export interface StripRules {
  /** Text from one of these on is dropped (IntelliSoftware-style `[EndOfMessage]`). */
  readonly endMarkers: readonly string[];
  /** Text up to and including one of these is dropped. */
  readonly startMarkers: readonly string[];
  /** Line beginnings (case-insensitive) that open a disclaimer: it and all below it are dropped. */
  readonly disclaimers: readonly string[];
}

/** A block of the body that is not the writer's text, and why. */
export interface Removal {
  readonly reason: string;
  /** Its first line, for the operator to recognise it, at most REMOVAL_FIRST_LINE_CHARS of it. */
  readonly first: string;
  readonly lines: number;
}

export interface StrippedText {
  readonly text: string;
  readonly removed: readonly Removal[];
  /** A quote of (or the copy below) the mail answered was removed: the mail is a reply. */
  readonly quoteRemoved: boolean;
}

export interface StripOptions {
  /** The mail forwards another: its markers and forwarded header lines go, its body stays. */
  readonly forward?: boolean;
  /**
   * The mail answers another (a reply subject, In-Reply-To or References): its `>` lines are quotes
   * (the default). In a mail that answers nothing they are quotes only under an attribution that
   * names who wrote when: a line such as ">90% for 10 minutes" in an alert is its text.
   */
  readonly reply?: boolean;
  /** The mail carries a calendar invitation (a text/calendar part): the calendar's own footer below its text goes. */
  readonly invitation?: boolean;
  /**
   * The mail shows images in its text (an image part of a multipart/related, or an HTML version of its
   * text): only then is a plain part's `[cid:…]` or `[image: …]` the placeholder of one, and goes.
   */
  readonly images?: boolean;
  /**
   * Lines (trimmed) of a format=flowed text that its client space-stuffed before a `>` (ParsedMail.stuffed),
   * once per stuffed line: RFC 3676 §4.5 reads their quote depth before the stuffing goes, so each is the
   * writer's text beginning with `>`, never a quote (nor GroupWise's header, nor a forwarded quote line
   * to unquote). Named by their text, which the readers before this one may move by lines: as many `>`
   * lines with that text as were stuffed are read so, the first ones. A text of `>` and blanks alone is
   * none: it says nothing, and would take the quote's empty `>` lines for the writer's.
   */
  readonly stuffed?: readonly string[];
}

export const BUILT_IN_DISCLAIMERS = DISCLAIMER_OPENINGS;

/**
 * A removed block's first line is kept to this many characters: enough to recognise it (an attribution, a disclaimer's
 * opening, a sign-off) in `smsrelay preview` and the mail's log line, a terminal's line, where a disclaimer's one
 * unwrapped paragraph ran on for thousands.
 */
const REMOVAL_FIRST_LINE_CHARS = 80;
/** Lines longer than this are never attributions or device lines (and never run through their patterns). */
export const MAX_ATTRIBUTION_LINE = 400;
/**
 * Shorter text is never read as an attribution: a short line of the writer's that ends in a colon may carry a time or a
 * date (`12:30:`, `1/2/26:`), and the shortest attribution of a script with word spaces, a one-letter name and its verb
 * (`A wrote:`), has this many. A Chinese one without its date (`张三 写道：`) has fewer, and is kept as the writer's.
 */
const MIN_ATTRIBUTION_CHARS = 8;
/** An attribution wrapped by the client spans at most this many lines. */
export const MAX_ATTRIBUTION_LINES = 3;
/** A sign-off's block (name, title, company, phone) has at most this many lines. */
const MAX_SIGNATURE_LINES = 6;
/** A sign-off is looked for among this many last lines, and what follows a bare `--` within as many (a signature and a disclaimer fit). */
const MAX_SIGN_OFF_DISTANCE = 60;
/** A paragraph this long below a signature is legal text, not the writer's. */
const MIN_DISCLAIMER_CHARS = 120;
/**
 * A character of a script written without word spaces (Chinese, Japanese) carries about a word, as
 * much as this many Latin letters: a disclaimer in such a script has a third of the characters.
 */
const UNSPACED_CHAR_WEIGHT = 3;
/** A Hangul syllable (Korean, written with word spaces) is a syllable of two or three letters: counted as two Latin letters. */
const HANGUL_CHAR_WEIGHT = 2;
const HANGUL_CHARS = /\p{Script=Hangul}/gu;
/** A disclaimer names the mail it is appended to in its first words: "This e-mail…", "The information contained in this communication…". */
const MAIL_NAMED_CHARS = 60;
/** A greeting line is short ("Hi Bob,", "Hallo zusammen,", "Dear Mr Smith,"): this many characters at most, its comma last. */
const MAX_GREETING_CHARS = 40;
const GREETING = new RegExp(`^[^,\\n]{1,${MAX_GREETING_CHARS - 1}}[,，]$`, 'u');
/** A writer's first name alone in a line, as they sign ("Alice"): a company's name below a disclaimer is no such word. */
const FIRST_NAME = /^\p{Lu}\p{Ll}+$/u;
/**
 * A line that an Exchange rule or a mail gateway appends below a disclaimer: a thanks, a print or
 * environment line, a scan notice, an external-sender banner, a views/opinions or privacy line, or
 * one that names the mail itself.
 */
const GATEWAY_LINE =
  /^(?:thank you|thanks)\b.{0,40}$|\bprint|\bscanned\b|\bvirus|\bmalware|\boriginated (?:from )?outside|\bexternal (?:sender|email)|\b(?:views|opinions)\b|\bprivacy\b|\bthis (?:e-?mail|message|communication)\b/iu;
/** A quoted line this long was probably wrapped by the client: its unquoted continuation is quote too. */
const MIN_WRAPPED_QUOTE = 50;
/** Device lines are short: the longest known, GMX's and WEB.DE's "Diese Nachricht wurde von meinem Android-Mobiltelefon mit WEB.DE Mail gesendet.", has 79 characters. */
const MAX_DEVICE_LINE = 80;
/** Contact-block lines (a name, a number, an address) are short. */
const MAX_CONTACT_LINE = 60;
/** Machine mail has at least this many `Label: value` lines: its last lines are content, not a signature. */
const MACHINE_LABEL_LINES = 3;
/**
 * A list or notification footer is short: Google Groups' has 3 lines, Slack's with its postal address
 * 3, a Mailman digest's end 6. A longer last block is the mail's own, whatever it mentions.
 */
const MAX_FOOTER_LINES = 8;
/** Mailman's digest header (Mailman 2 and 3) has 12 lines of notes between its first and last line. */
const MAX_DIGEST_HEADER_LINES = 16;

const QUOTED = /^\s*>/;
/**
 * A quote mark of the quoted writer's initials or nickname (The Bat!'s and Emacs Supercite's `AS> `,
 * FidoNet's ` +4> `): up to four letters, digits or `+` right before the `>`.
 */
const INITIALS_QUOTE = /^\s*([\p{L}\p{N}+]{1,4})>/u;
/** The full-width `＞` Japanese mobile mailers and writers quote with, in a line's leading marks. */
const FULL_WIDTH_QUOTE = /^[\s>＞]*＞/;

/**
 * The lines with every quote mark read as `>`: the full-width `＞`, and an initials prefix (`AS> `)
 * where it is one. A mark is a quote's only where the first line it opens stands under a reply's
 * attribution ("…, you wrote:", "Вы писали …:", "…のメール:"), and no line it opens has a line of
 * other text right below it: a prompt a writer pastes ("SQL> select …" / its output, a bare `SQL>`,
 * "R1> show ip route", "ftp> bye"), a chat log and a note's "＞90%" are theirs. `searched`: every such
 * mark is read so, for the thread cut to look for the relay's copy in (cutSentCopy): found there, its
 * words are the proof, and only that block goes. Only for reading: a kept line is sent as written.
 */
export function quoteMarksRead(lines: readonly string[], searched = false): readonly string[] {
  const marks = quoteMarks(lines, initialsQuotePrefix, searched);
  const fullWidth = quoteMarks(lines, (line) => (FULL_WIDTH_QUOTE.test(line) ? '＞' : undefined), searched).size > 0;
  if (marks.size === 0 && !fullWidth) return lines;
  return lines.map((line) => {
    const prefix = initialsQuotePrefix(line);
    const read = prefix !== undefined && marks.has(prefix) ? line.replace(INITIALS_QUOTE, '>') : line;
    return fullWidth ? read.replace(FULL_WIDTH_QUOTE, (marks) => marks.replace(/＞/g, '>')) : read;
  });
}

/** The initials or digits a line's quote mark carries (INITIALS_QUOTE), if it has one. A function of the module's, not a closure per call (tsx names each: ~1.5 µs, #15). */
function initialsQuotePrefix(line: string): string | undefined {
  return INITIALS_QUOTE.exec(line)?.[1];
}

/**
 * The marks (`markOf` a line) that quote: each one's first line under an attribution (blank lines
 * between), and each line it opens followed by another it opens, a blank line or nothing, never by a
 * line of other text (a command's output below its prompt); with `searched`, every mark. One pass.
 */
function quoteMarks(lines: readonly string[], markOf: (line: string) => string | undefined, searched: boolean): Set<string> {
  const seen = new Map<string, { first: number; session: boolean }>();
  lines.forEach((line, index) => {
    const mark = markOf(line);
    if (mark === undefined) return;
    const next = lines[index + 1];
    const session = next !== undefined && next.trim() !== '' && markOf(next) !== mark;
    const known = seen.get(mark);
    if (known) known.session ||= session;
    else seen.set(mark, { first: index, session });
  });
  return new Set([...seen].filter(([, { first, session }]) => searched || (!session && isAttributionAbove(lines, first))).map(([mark]) => mark));
}

/** A reply's attribution ends right above `index` (blank lines between): what a quote's first line stands under. */
function isAttributionAbove(lines: readonly string[], index: number): boolean {
  const end = previousNonBlank(lines, index - 1);
  if (end < 0) return false;
  const start = attributionStart(lines, end);
  return start !== undefined && isStrongAttribution(joinLines(lines, start, end));
}
const WRAPPED_ADDRESS_END = /^>\s*[:：]$/;
const RULE = /^\s*(?:[-_=*~]\s?){4,}\s*$/;
/** A rule line, typed or an HTML rule (`<hr>`). */
const isRuleLine = (line: string) => RULE.test(line) || line === HTML_RULE;
/** RFC 3676 §4.3's signature delimiter, "-- " (a client may add more blanks). */
const SIGNATURE_SEPARATOR = /^\s*--[ \t]+$/;
/** Two dashes alone: a signature delimiter that lost its space, or a separator inside the content. */
const BARE_SEPARATOR = '--';
/**
 * A bare `--` that Smart Punctuation (iOS, macOS) turned into an em dash as it was typed, or an en
 * dash: a signature delimiter only where a bare `--` is one, a line alone under a blank line with a
 * signature block below (#signatureBelow). A dash in the writer's prose has words beside it.
 */
const TYPOGRAPHIC_SEPARATOR = /^[—–]$/;
/** Outlook's rule above the reply header block. */
const OUTLOOK_RULE = /^_{10,}$/;
const DATE = /\d{1,4}[./-]\s?\d{1,2}[./-]\s?\d{1,4}|\b(?:19|20)\d{2}\b|\d{4}\s?[年년]|\b\d{1,2}[:.]\d{2}\b/;
/**
 * A date with its year: what the first line of a wrapped attribution carries (or an address or a verb). A year is
 * one the calendars mail is written in use now (Gregorian 19xx–20xx, Persian and Hijri 13xx–14xx, Thai 25xx; 2026年),
 * not any four digits (a room, a port, an extension, a sensor: "Meet in room 1234"), or a numeric date's. Read on the
 * line with its digits as ASCII (asciiDigits: Thai 2569, Hijri 1448, Persian ۱۴۰۵/۰۹/۱۶).
 */
const DATE_WITH_YEAR = /\b(?:19|20|13|14|25)\d{2}\b|\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|\d{4}\s?[年년]/;
/** The zeros of the digit runs dates are written in besides ASCII: Arabic-Indic, Persian, Devanagari, Bengali, Thai, fullwidth. */
const DIGIT_ZEROS = [0x0660, 0x06f0, 0x0966, 0x09e6, 0x0e50, 0xff10];
const OTHER_DIGIT = /[\u0660-\u0669\u06f0-\u06f9\u0966-\u096f\u09e6-\u09ef\u0e50-\u0e59\uff10-\uff19]/g;

/** `line` with the digits of DIGIT_ZEROS's runs as ASCII digits (the same length: one code unit each). */
function asciiDigits(line: string): string {
  return line.replace(OTHER_DIGIT, (digit) => {
    const code = digit.charCodeAt(0);
    const zero = DIGIT_ZEROS.find((start) => code >= start && code <= start + 9) ?? code;
    return String(code - zero);
  });
}

/** Whether `line` holds a date with its year (DATE_WITH_YEAR), in any of the digits asciiDigits reads. */
function hasDateWithYear(line: string): boolean {
  return DATE_WITH_YEAR.test(line) || (line.search(OTHER_DIGIT) >= 0 && DATE_WITH_YEAR.test(asciiDigits(line)));
}

/** Whether `text` holds a date or a time (DATE), in any of the digits asciiDigits reads: Gmail in Persian writes `۱۷:۱۷`. */
function hasDate(text: string): boolean {
  return DATE.test(text) || (text.search(OTHER_DIGIT) >= 0 && DATE.test(asciiDigits(text)));
}
/**
 * An HTML character reference in plain text: QQ Mail's plain part (and other webmail's plain-text exports)
 * writes its reply header with the entities of its HTML (`------------------&nbsp;原始邮件&nbsp;------------------`,
 * `发件人:&nbsp;"Name"<addr&gt;;`). Only with its `;` (as HTML's strict reading): "AT&T" and "R&D" are text.
 */
const LEAKED_ENTITY = /&(?:[a-z][a-z\d]{1,31}|#\d{1,7}|#x[\da-f]{1,6});/i;

/**
 * A line as the text rules read it: without the invisible format characters at its edges (see
 * withoutEdgeFormat: an RLM does not change what a line is) and with leaked HTML entities read as the
 * characters they name (LEAKED_ENTITY), so a header, marker or attribution is one however its client
 * wrote its spaces and brackets. Only for reading: a kept line is sent as written.
 */
export function lineAsRead(line: string): string {
  const bare = withoutEdgeFormat(line);
  if (!LEAKED_ENTITY.test(bare)) return bare;
  const read = decodeHTMLStrict(bare);
  // A `>` an entity writes at the line's start is the writer's ("&gt; 90% for 10 minutes"), never a
  // quote mark (no client quotes so), nor a header, marker or attribution line: it is read as written.
  return QUOTED.test(read) && !QUOTED.test(bare) ? bare : read;
}
const ADDRESS = /[^\s<>()"[\]]+@[^\s<>()"[\]]+\.[^\s<>()"[\]]+/;
/**
 * A line framed by `>>>` marks at both ends: a writer's banner (">>> Deadline moved to 12/5/2026 >>>"),
 * never a quote, whose marks open a line only; or GroupWise's reply header.
 */
const FRAMED_LINE = /^>>>\s.*\s>>>$/;
/**
 * GroupWise's reply header, `>>> Bob Smith <bob@example.com> 12/5/2026 5:00 PM >>>`, above the mail
 * answered, which GroupWise copies without `>`: between the marks the sender (a name, an address in
 * angle brackets or both, the address right after the name too: `Bob Smith<bob@example.com>`), then a
 * date and a time (17:00, or 17.00 as European locales write it) right before the closing marks.
 */
const GROUPWISE_HEADER =
  /^>>>\s+(?:[^\s<>]*\p{L}[^<>]*?|(?:[^<>]*\S)?\s*<[^\s<>]+@[^\s<>]+>)\s+\d{1,4}[./-]\d{1,2}[./-]\d{1,4}\s+\d{1,2}[:.]\d{2}(?:[:.]\d{2})?(?:\s?[AaPp]\.?[Mm]\.?)?\s+>>>$/u;
const isGroupWiseHeader = (line: string) => line.length <= MAX_ATTRIBUTION_LINE && GROUPWISE_HEADER.test(line);
const LABEL_LINE = /^[\p{L}][\p{L}\p{N} /()._-]{0,30}:\s+\S|^-\s+\S+\s+=\s+\S/u;
/**
 * An address, "www." or a URL in a line. Written for test() only: one character before and after the
 * "@" decide as well as whole runs, and trying a run from every position of a long line cost ~0.8 µs.
 */
const CONTACT_LINE = /[^\s@]@[^\s@]+\.\w|\bwww\.|https?:\/\//i;
/** A phone number: at least this many digits in a run of digits, spaces and ()./- . */
const PHONE = /\+?\d[\d ()./-]{6,}\d/;
const MIN_PHONE_DIGITS = 8;
/** Sentence punctuation at a line's end, in any script (Unicode's Sentence_Terminal): `.` `!` `?`, `。` `！` `？`, Arabic's `؟`, Urdu's `۔`, Devanagari's `।` … */
const SENTENCE_END = /\p{Sentence_Terminal}$/u;
/** A colon inside a line, followed by more: a label's or a sentence's, never an attribution's (its colon ends it). */
const INNER_COLON = /[:：]\s/;
/** A line that ends in a colon announces what follows it: a list, a contact to call. */
const ANNOUNCING = /[:：]$/;
/** A sentence has a word in lower case; a name, title or company line ending in a dot ("ACME Ltd.", "Hans Müller, M.Sc.") has none. */
const LOWER_CASE_WORD = /(?:^|\s)\p{Ll}/u;
/** A letter of a script without case (Hebrew, Arabic, Chinese, Japanese, Devanagari …); not Latin's ordinal ª and º. */
const CASELESS_LETTER = /(?![ªº])\p{Lo}/u;
/**
 * A sentence: it ends in sentence punctuation and has a word in lower case or, written in a script
 * without case, any word: there no capital tells a name from a sentence, only its punctuation does
 * ("נתראה מחר בבוקר בשער.", "明日の10時に来てください。"). A name or title line has no such end.
 */
const isSentence = (line: string) => SENTENCE_END.test(line) && (LOWER_CASE_WORD.test(line) || CASELESS_LETTER.test(line));

const VERB = new RegExp(`(?:^|[\\s,(])(?:${anyOf(ATTRIBUTION_VERBS)})`, 'iu');
/** Zoho's "---- On … Ana wrote ----". */
const DASHED_ATTRIBUTION = /^-{2,}\s+(.+?)\s+-{2,}$/;
/** The most lines a header block has (From, Sent, To, Cc, Bcc, Subject, Importance…): bounds each look. */
const MAX_HEADER_LINES = 10;
/** Scripts written without spaces between words: a device line's next word follows its start directly ("发自我的iPhone"). */
const UNSPACED_SCRIPTS = '\\p{Script=Han}\\p{Script=Hiragana}\\p{Script=Katakana}\\p{Script=Thai}\\p{Script=Lao}\\p{Script=Khmer}\\p{Script=Myanmar}';
/** A label of a script without word spaces ("主题", "件名"). */
const UNSPACED_LABEL = new RegExp(`^[${UNSPACED_SCRIPTS}]+$`, 'u');
/**
 * `labels` as alternatives, a blank allowed between the characters of one of a script without word
 * spaces: Alibaba Mail and DingTalk pad two-character labels to the width of three ("主　题", "抄　送").
 */
const labelAlternatives = (labels: readonly string[]) =>
  labels.map((label) => (UNSPACED_LABEL.test(label) ? [...label].map((character) => anyOf([character])).join('\\s?') : anyOf([label]))).join('|');
/** A label's characters of a script without word spaces closed up again ("主　题" is "主题"), to look it up. */
const closedUp = (label: string) => label.replace(new RegExp(`(?<=[${UNSPACED_SCRIPTS}])\\s+(?=[${UNSPACED_SCRIPTS}])`, 'gu'), '');
/**
 * A header label's colon: an ASCII one with a blank or the line's end after it, or the full-width
 * one, which the value follows directly ("发件人：Alice", "主题：Re: …").
 */
const HEADER_COLON = '\\s?\\*?\\s?(?::\\*?(?:\\s|$)|：\\*?)';
const HEADER_LINE = new RegExp(
  `^\\*?(${labelAlternatives([...HEADER_LABELS.from, ...HEADER_LABELS.sent, ...HEADER_LABELS.to, ...HEADER_LABELS.subject])})${HEADER_COLON}`,
  'i',
);
/** A header line with one of `labels` (bold in Outlook's HTML: `*Sent:*`, or its colon spaced off: `Envoyé :`). */
const labelledLine = (labels: readonly string[]) => new RegExp(`^\\*?(?:${labelAlternatives(labels)})${HEADER_COLON}`, 'i');
/** A header block's date line ("Sent:", "Gesendet:", "Date:" …). */
const SENT_LINE = labelledLine(HEADER_LABELS.sent);
/** Outlook's own date line ("Sent:", "Gesendet:", "Envoyé :" …), never a notice's or web form's "Date:". */
const OUTLOOK_SENT_LINE = labelledLine(OUTLOOK_SENT_LABELS);
const SUBJECT_LINE = labelledLine(HEADER_LABELS.subject);
/**
 * A From: value that is a phone number alone (`+44 20 7946 0000`, an extension `2001`): a fax's or
 * voicemail's caller. No mail client writes a sender so, whatever a number's length.
 */
const PHONE_NUMBER = /^\+?\(?\d[\d ()./-]*$/;
/** A value that is a date or a time and nothing else: digits and their separators, a time or a numeric date among them. */
const DATE_TIME_ONLY = /^(?=.*(?:\b\d{1,2}:\d{2}\b|\d{1,4}[./-]\d{1,2}[./-]\d{1,4}))[\d\s.,:/-]+$/;
const FROM_LABELS = new Set(HEADER_LABELS.from.map((label) => label.toLowerCase()));
/**
 * A header block has a From, a date and a subject line at least: a shorter run of `Label: value`
 * lines is the writer's ("Note: …"), unless a From line or a rule above says it is a header.
 */
const MIN_HEADER_LINES = 3;
/** Lotus Notes' older reply header writes each label alone on its line, its value on the next ones. */
const BARE_TO_LABEL = new RegExp(`^(?:${anyOf(HEADER_LABELS.to)})$`, 'i');
const BARE_SUBJECT_LABEL = new RegExp(`^(?:${anyOf(HEADER_LABELS.subject)})$`, 'i');
/**
 * A text longer than every bare label is none of them: the labels are literal and a case-insensitive match (without
 * the u flag) keeps a text's length, so the alternations (over a hundred labels) are not tried on each line of a body.
 */
const LONGEST_BARE_LABEL = Math.max(...[...HEADER_LABELS.to, ...HEADER_LABELS.subject].map((label) => label.length));
/**
 * Lotus Notes' colon-less header runs over this many lines at most: the sender (name and address may
 * take two), the date, To/cc/bcc each over a value that may wrap, blank lines between, Subject and its value.
 */
const MAX_NOTES_HEADER_LINES = 16;
/**
 * The sender of Lotus Notes' colon-less header takes at most this many lines above its date line or
 * To label: a name, and an address Notes may wrap in its column (`<447700900110@sms.localh` / `ost>`).
 */
const MAX_NOTES_SENDER_LINES = 3;
/** Notes wraps a long subject in its column: its value takes at most this many lines. */
const MAX_NOTES_SUBJECT_LINES = 3;
/**
 * A label Notes prints at the right of a line, after a wide gap of blanks (its own column). The left
 * column ends at a non-blank, so the gap is tried once per gap, not once per blank in it: a lazy left
 * column retried a long run of blanks followed by another space (U+00A0) from each of its blanks.
 */
const NOTES_RIGHT_LABEL = /^(\S(?:.*?\S)?)(?:[ \t]{3,}|[ \t]*\t)(\S[\s\S]*)$/;
/** Outlook's "Original Message" in the languages it writes it, Turkish's İ and ı as i (see withTurkishI). */
const ORIGINAL_MESSAGE_WORDS = anyOf(ORIGINAL_MESSAGE.map(withTurkishI));
const ORIGINAL_MARKER = new RegExp(`^[-_=\\s]*(?:${ORIGINAL_MESSAGE_WORDS})[-_=\\s]*$`, 'i');
/** An "Original Message" marker line. */
const isOriginalMarker = (line: string) => ORIGINAL_MARKER.test(withTurkishI(line));
/**
 * A marker's shape, words alone between runs of dashes (`-----Thư gốc-----`, `-------- Původní zpráva --------`):
 * right above a header block that goes as the mail answered's, it is that mail's marker in whatever
 * language its client writes it, ORIGINAL_MESSAGE's or not. No digits, colons or other signs: a
 * writer's `--- 10:00 update ---` is no marker.
 */
const DASHED_MARKER = /^-{3,}\s*[\p{L}\p{M}][\p{L}\p{M}\s'’.]{0,60}-{3,}$/u;
/**
 * A marker of `words` between runs of dashes anywhere in a text, a plain part or an HTML document (where
 * it need not stand on a line of its own): `-----Original Message-----`, its blanks written as `&nbsp;`
 * too (an HTML source, QQ Mail's plain part). (?<!-): its dashes are counted from their first, so that
 * a long line of dashes is read once.
 */
export const dashedMarkerWithin = (words: string) => new RegExp(`(?<!-)-{3,}(?:\\s|&nbsp;)*(?:${words})(?:\\s|&nbsp;)*-{3,}`, 'i');
const ORIGINAL_MARKER_WITHIN = dashedMarkerWithin(ORIGINAL_MESSAGE_WORDS);
export const hasOriginalMarker = (text: string) => ORIGINAL_MARKER_WITHIN.test(withTurkishI(text));
const FORWARD_MARKER = new RegExp(`^[-_=\\s]*(?:${anyOf(FORWARD_MARKERS)})\\s*[:：]?[-_=\\s]*$`, 'i');
/** Notes' marker names the forwarder and a date: a Notes name and domain (`Alice Meyer/ACME/DE`) fit in this many characters. */
const MAX_NOTES_FORWARD_MARKER_LINE = 160;
const NOTES_FORWARD_MARKER = new RegExp(`^-{3,}\\s*(?:${anyOf(NOTES_FORWARD_MARKERS)})\\s\\S.*\\s-{3,}$`, 'i');
/** A forward marker line: one of FORWARD_MARKERS, or Notes' with its forwarder and date (NOTES_FORWARD_MARKERS). */
const isForwardMarker = (line: string) =>
  FORWARD_MARKER.test(line) || (line.length <= MAX_NOTES_FORWARD_MARKER_LINE && NOTES_FORWARD_MARKER.test(line) && hasDateWithYear(line));
/** A forward marker is one short line (Apple Mail's are under 40 characters in every language): a longer line ending in a colon is a sentence. */
const MAX_FORWARD_MARKER_LINE = 80;
/**
 * Device lines are compared without diacritics: Arabic and Hebrew vowel signs are optional
 * ("أُرسلت" is "أرسلت"), and a decomposed accent (macOS) is the composed one.
 */
// ASCII has no diacritics to take off: most last lines need no decomposition.
const withoutMarks = (text: string) => (NOT_ASCII.test(text) ? text.normalize('NFD').replace(/\p{Mn}/gu, '') : text);
/** Characters of those scripts: counted for the length of a legal paragraph (see UNSPACED_CHAR_WEIGHT). */
const UNSPACED_CHARS = new RegExp(`[${UNSPACED_SCRIPTS}]`, 'gu');
/**
 * Scripts whose one-letter words (prepositions, the article) are written onto the next word: Hebrew's
 * "נשלח מ" + "ה-iPhone" is "נשלח מה-iPhone", Arabic's "ب" + "هاتفي" is "بهاتفي".
 */
const ATTACHING_SCRIPTS = '\\p{Script=Hebrew}\\p{Script=Arabic}';
/**
 * A device line's start ends a word: "Sent from" is not "Sent fromage" (JavaScript's \\b knows only
 * ASCII letters: "Отправлено с iPhone" needs a Unicode word end), unless the start ends in a script
 * without word spaces or in a one-letter word of a script that attaches those to the next one.
 */
const DEVICE_START = new RegExp(
  `^(?:${anyOf(DEVICE_LINE_STARTS.map(withoutMarks))})(?:(?<=[${UNSPACED_SCRIPTS}]|(?:^|\\s)[${ATTACHING_SCRIPTS}])|(?![\\p{L}\\p{N}]))`,
  'iu',
);
const unspaced = (word: string) => new RegExp(`^[${UNSPACED_SCRIPTS}]`, 'u').test(word);
const DEVICE_END = new RegExp(`(?:${anyOf(DEVICE_LINE_ENDS.map(withoutMarks))})$`, 'iu');
const spacedOwners = anyOf(DEVICE_LINE_OWNERS.filter((word) => !unspaced(word)).map(withoutMarks));
const unspacedOwners = anyOf(DEVICE_LINE_OWNERS.filter(unspaced));
/**
 * A possessive right after a device line's opening ("Sent from my …"), or ending the opening ("Von
 * meinem", "发自我的"): a whole word followed by the word it owns, never by a hyphen ("Sent via
 * min-max monitor"). Further on ("Sent from sensor 4 at 10 min past 3") it is no owner.
 */
const OWNER_FIRST = new RegExp(`^\\s*(?:(?:${spacedOwners})(?=\\s+[\\p{L}\\p{N}]|[${UNSPACED_SCRIPTS}])|${unspacedOwners})`, 'iu');
const OWNER_ENDING = new RegExp(`(?:(?<![\\p{L}\\p{N}])(?:${spacedOwners})|${unspacedOwners})$`, 'iu');
/** A device's, app's or carrier's name (DEVICE_LINE_NAMES as whole words, before a word of an unspaced script too: "Galaxyから送信"; stems with their endings, after a hyphen too: "iPhone-omról"). */
const DEVICE_NAME_WORD = `(?:(?:${anyOf(DEVICE_LINE_NAME_STEMS.map(withoutMarks))})[\\p{L}\\p{N}]*(?:-\\p{Ll}+)?|(?:${anyOf(DEVICE_LINE_NAMES.map(withoutMarks))})(?:(?![\\p{L}\\p{N}])|(?=[${UNSPACED_SCRIPTS}])))`;
const DEVICE_NAME = new RegExp(`(?<![\\p{L}\\p{N}])${DEVICE_NAME_WORD}`, 'giu');
/**
 * A possessive written after its device (DEVICE_LINE_OWNERS_AFTER), ending the line right after the
 * device's name ("Dikirim dari iPhone saya", "Στάλθηκε από το κινητό μου", "Dikirim dari HP saya": a
 * name of DEVICE_LINE_OWNED_NAMES too); the name may carry the one-letter words Hebrew and Arabic
 * attach ("נשלח מהטלפון שלי"). After any other word it is the writer's ("Dikirim dari kantor tolong
 * hubungi saya": "… call me").
 */
const OWNER_LAST = new RegExp(
  `(?<![\\p{L}\\p{N}])(?:[${ATTACHING_SCRIPTS}]{1,2}-?)?(?:${DEVICE_NAME_WORD}|(?:${anyOf(DEVICE_LINE_OWNED_NAMES)})(?![\\p{L}\\p{N}]))\\s+(?:${anyOf(DEVICE_LINE_OWNERS_AFTER.map(withoutMarks))})[.!]?$`,
  'iu',
);
/** The lower-case word after a name, across blanks or a hyphen ("mobile crane", "Android-Mobiltelefon" has none). */
const NEXT_LOWER_CASE_WORD = /^[\s-]+(\p{Ll}[\p{L}\p{N}]*)/u;
const NAME_FOLLOWERS = new Set(DEVICE_LINE_NAME_FOLLOWERS.map(withoutMarks));
const NAME_WORD = new RegExp(`^(?:${DEVICE_NAME.source})$`, 'iu');

/**
 * The line names a device or app: one of its names not followed by a lower-case word that says it is
 * something else ("Edison substation 4"); a closing word ("Az iPhone-omról küldve") is no such word.
 */
function namesDevice(bare: string): boolean {
  const line = bare.replace(DEVICE_END, '');
  for (const match of line.matchAll(DEVICE_NAME)) {
    const next = NEXT_LOWER_CASE_WORD.exec(line.slice((match.index ?? 0) + match[0].length))?.[1];
    if (next === undefined || NAME_FOLLOWERS.has(next) || NAME_WORD.test(next)) return true;
  }
  return false;
}

/** The line's opening or, without one, its start is followed by a possessive, or the line ends in one written after its device. */
function ownsDevice(line: string): boolean {
  const opening = DEVICE_START.exec(line)?.[0] ?? '';
  return OWNER_ENDING.test(opening) || OWNER_FIRST.test(line.slice(opening.length)) || OWNER_LAST.test(line);
}
/**
 * A sign-off line: one of SIGN_OFFS, or several joined by `/` or `|` as bilingual signatures write them
 * ("Mit freundlichen Grüßen / Kind regards"). Each i also as Turkish's İ and ı, which a case-insensitive
 * expression does not fold (see withTurkishI): "İyi çalışmalar" opens with one. In the expression, so
 * no line is rewritten to test it.
 */
const signOffWords = (words: readonly string[]) => anyOf(words.map(withTurkishI)).replace(/i/g, '[iİı]');
/** What may follow a sign-off: blanks and a comma, a stop or an exclamation mark, in the scripts' own forms too (`،` `。` `，` `！`). */
const SIGN_OFF_END = '[\\s,.!،。，！]*';
const signOffs = `(?:(?:${signOffWords(SIGN_OFFS)})${SIGN_OFF_END}|(?:${signOffWords(COLON_SIGN_OFFS)})\\s*:\\s*)`;
const SIGN_OFF = new RegExp(`^${signOffs}(?:[/|]\\s*${signOffs})*$`, 'iu');
/** A list item's words (a brand, a carrier, a grade) fit in this many characters; a sentence is longer or reads as one. */
const MAX_LIST_ITEM_NAME = 30;
/** Words that each open with a capital or a digit ("Samsung", "T-Mobile", "Unit 12", "Screen Scratched"): a name, no sentence. */
const NAME_LIKE = /^[\p{Lu}\p{N}][\p{L}\p{N}&'’.-]*(?:\s+[\p{Lu}\p{N}][\p{L}\p{N}&'’.-]*)*$/u;
/** A line opening with thanks or a short closing word ("Thanks Bob", "TIA", "Vielen Dank", "OK"): the writer's closing, no list's item. */
const CLOSING_LINE = new RegExp(`^(?:${anyOf(CLOSING_LINE_WORDS)})(?![\\p{L}\\p{N}])`, 'iu');
/** A sign-off of one word, as a list's item can be ("LG", "ATT", "Best", "BR", "Atte."); "Best regards" never is one. */
const ONE_WORD = /^[\p{L}\p{N}]+[\s,.!]*$/u;
/** A line ending in a question mark: what a list's heading may ask ("Which network?"), or the writer's question. */
const ASKING = /[?？]$/;
/**
 * A word in capitals, as a brand's, carrier's or grade's name is ("LG", "ATT", "VG"): under a question
 * only such a sign-off word can be the first answer; a closing typed as a word ("Best", "Cheers") closes it.
 */
const CAPITALS = /^[\p{Lu}\p{N}]+[\s,.!]*$/u;
/**
 * A closing word of the writer's as a whole line (CLOSING_LINE_WORDS: a thanks, "OK", "Done"), a first name after it
 * allowed, ending in at most a stop, comma or exclamation mark ("Cheers", "Cheers!", "Cheers, Bob", "Thanks."): as a
 * mail's only text it is its message, and is sent (signOffIsMessage). A bare sign-off is none ("Best", "Kind regards",
 * "Thanks & Regards"): alone it says nothing, and the mail is refused, unless it is exclaimed ("Best!": EXCLAIMED).
 */
const LONE_THANKS = new RegExp(`^(?:${anyOf(CLOSING_LINE_WORDS)})(?:[\\s,]+\\p{Lu}\\p{Ll}+)?[\\s.!,]*$`, 'iu');
/** A company's statement that the mail's views are its author's alone, under a "Disclaimer:" heading: boilerplate without a legal word. */
const AUTHORS_VIEWS = /\b(?:views|opinions)\b.{0,80}\b(?:this|the) (?:e-?mail|message)\b.{0,80}\b(?:author|sender)\b/isu;
/** A line said with an exclamation mark at its end ("Cheers!", "Best!", "Danke！"). */
const EXCLAIMED = /[!！]\s*$/;
/** A sign-off or the writer's closing ("Thanks,", "Cheers", "Kind regards"). */
const isClosing = (line: string) => SIGN_OFF.test(line) || CLOSING_LINE.test(line);
/**
 * A short name-like line, as a list's item is, and not a sentence ("Thanks." ends one), a sign-off of
 * its own or the writer's closing ("Thanks Bob" / "Cheers" closes a mail).
 */
const isListItemName = (line: string) => line.length <= MAX_LIST_ITEM_NAME && NAME_LIKE.test(line) && !SENTENCE_END.test(line) && !isClosing(line);
/**
 * Whether the list item at `index` stands in a list: under another item or a question, or under a line
 * announcing it, blank lines between ("Ranking of the offers:" / "" / "Worst"). Under a sentence
 * ("Please restart db1." / "" / "Happy Friday") it is the writer's own line.
 */
const isInList = (lines: readonly string[], index: number) =>
  isListItemName(lines[index - 1] ?? '') || ASKING.test(lines[index - 1] ?? '') || ANNOUNCING.test(lines[previousNonBlank(lines, index - 1)] ?? '');
/**
 * Whether the sign-off at `index` of `lines` is a list's item, by the lines right around it (no blank
 * between): one word ("LG", "ATT", "Best") right under an item that is itself in a list ("Samsung" /
 * "Apple" / "LG"), or first right under a line announcing the list ("Shortlist:" / "LG" / "Sony") or
 * asking it, as a word in capitals ("Which network?" / "ATT" / "Verizon"), with another item right
 * below. A sign-off opening its paragraph ("Could you check db1?" / "" / "Cheers" / "Alice") or under
 * a sentence, a question ("Is the rack back up?" / "Best" / "Alice"), the writer's closing ("TIA" /
 * "Regards") or a line of theirs ("" / "Happy Friday" / "Best") is a sign-off: a list whose first item
 * is a sign-off word below a blank line is cut with it, a signature sent whole costs more.
 */
function isListItemSignOff(lines: readonly string[], index: number): boolean {
  const line = lines[index] ?? '';
  if (!ONE_WORD.test(line)) return false;
  const above = lines[index - 1] ?? '';
  if (isListItemName(above)) return isInList(lines, index - 1);
  return (ANNOUNCING.test(above) || (ASKING.test(above) && CAPITALS.test(line))) && isListItemName(lines[index + 1] ?? '');
}
const POSTSCRIPT = new RegExp(`^(?:${anyOf(POSTSCRIPTS)})(?![\\p{L}\\p{N}])`, 'iu');
/** One or two of the one-letter words Hebrew and Arabic attach to the next (ATTACHED_ONE_LETTER_WORDS), or none. */
const ATTACHED_WORDS = `(?:[${ATTACHED_ONE_LETTER_WORDS.join('')}]{1,2})?`;
const attaching = (word: string) => new RegExp(`^[${ATTACHING_SCRIPTS}]`, 'u').test(word);
/**
 * DISCLAIMER_WORDS from a word's start: no letter or digit before one (but the one-letter words Hebrew
 * and Arabic attach), unless it is of a script written without word spaces. Turkish's İ and ı as i.
 */
const DISCLAIMER_WORD = new RegExp(
  DISCLAIMER_WORDS.map((word) =>
    unspaced(word) ? anyOf([word]) : `(?<![\\p{L}\\p{N}])${attaching(word) ? ATTACHED_WORDS : ''}${anyOf([withTurkishI(word)])}`,
  ).join('|'),
  'iu',
);
const hasDisclaimerWord = (text: string) => DISCLAIMER_WORD.test(withTurkishI(text));
const MAIL_NAMED = new RegExp(anyOf(DISCLAIMER_MAIL_WORDS), 'iu');
const DISCLAIMER_HEADING = new RegExp(`^(?:${anyOf(DISCLAIMER_HEADINGS)})\\s*:`, 'iu');
/** Outlook's "print nothing" leaf is a Wingdings "P": in plain text "P Please consider the environment…". */
const WINGDINGS_LEAF = /p\s+/;
/** A `Label: value` line's label, up to its colon (also "Tel.:+49…", which has no space). */
const LABEL = /^([\p{L}][\p{L}\p{N} /().-]{0,30}?)\s*:\s*\S/u;
/** Labels are compared without case, dots, dashes, slashes and spaces: "Tel.", "E-Mail", "email". */
const labelKey = (label: string) => label.toLowerCase().replace(/[\s./-]/g, '');
const SIGNATURE_LABEL_KEYS = new Set(SIGNATURE_LABELS.map(labelKey));
const FOOTER_LINE = new RegExp(anyOf([...FOOTER_PHRASES, ...FOOTER_WORDS]), 'i');
const FOOTER_PHRASES_ALL = new RegExp(anyOf(FOOTER_PHRASES), 'gi');
const WRITERS_FOOTER_PHRASE_SET = new Set(WRITERS_FOOTER_PHRASES);
const FOOTER_WORD = new RegExp(anyOf(FOOTER_WORDS), 'i');
/**
 * A footer word where a template writes it: after "To" opening the line ("To unsubscribe from this
 * group, …"), before a colon or a link ("Unsubscribe: https://…", "or unsubscribe<https://…>",
 * "[Unsubscribe](…)", "unsubscribe here: …"), or inside an address or a link ("ops+unsubscribe@…",
 * "…/unsubscribe?t=…"). Around the writer's words it is their sentence ("add bob@… to the mailing
 * list.", "Unsubscribe me from …").
 */
const TEMPLATE_FOOTER_WORD = new RegExp(
  `^\\W*to\\s+(?:${anyOf(FOOTER_WORDS)})|(?:${anyOf(FOOTER_WORDS)})(?:\\s+here)?\\]?\\s*(?::|<|\\(|https?:)|[+/=_-](?:${anyOf(FOOTER_WORDS)})|(?:${anyOf(FOOTER_WORDS)})[@?&=/]`,
  'i',
);
/** A link in a footer's line: its unsubscribe or settings page. */
const FOOTER_LINK = /\bwww\.|https?:\/\//i;
/** A line of rule characters alone above a footer: GitHub's "—", Google Groups' "---", Listserv's "####". */
const FOOTER_SEPARATOR = /^(?:[-_=*~#—–]\s?)+$/;
/** What sets off a footer: a typed separator or an HTML rule (`<hr>`), in any mail. */
const isFooterSeparator = (line: string) => FOOTER_SEPARATOR.test(line) || line === HTML_RULE;
const REPLY_ABOVE = new RegExp(anyOf(REPLY_ABOVE_MARKERS), 'i');
const CALENDAR_FOOTER = new RegExp(`^(?:${anyOf(CALENDAR_FOOTER_OPENINGS)})`, 'i');
/** Mailman's digest header: "Send <list> mailing list submissions to" … 'than "Re: Contents of <list> digest..."'. */
const DIGEST_HEADER_START = /^Send .{1,100} mailing list submissions to$/i;
const DIGEST_HEADER_END = /^than "Re: Contents of .{1,100} digest\.\.\."$/i;

/** The new text of a mail body, tidied: see the module comment for what goes. */
export function stripBody(body: string, rules: StripRules, options: StripOptions = {}): string {
  return stripText(body, rules, options).text;
}

/** The new text of a mail body and what was removed from it, and why. */
export function stripText(body: string, rules: StripRules, options: StripOptions = {}): StrippedText {
  const text = body.replace(/\r\n?/g, '\n');
  const images = options.images ? withoutImagePlaceholders(text) : { text, removed: [] };
  const marked = withinMarkers(images.text, rules);
  const scan = new Scan(marked.text.split('\n'), rules, options);
  return { text: tidyLines(scan.lines()), removed: [...images.removed, ...marked.above, ...scan.removed, ...marked.below], quoteRemoved: scan.quoteRemoved };
}

/** An image's file name or alt text in a placeholder is at most this long (a file name's longest on common file systems). */
const MAX_IMAGE_NAME_CHARS = 255;
/**
 * What a plain part writes where its HTML shows an inline image, exactly as the clients write it:
 * Outlook's `[cid:image001.jpg@01DB4A2C.7F3E1A20]` (the image's Content-ID: a name, `@`, two groups of
 * eight hex digits), Gmail's `[image: IMG_1234.jpg]` (the file name or the image's alt text). An image
 * is no text: the HTML alternative's text has none of it, and the phone cannot show the picture the
 * words stand for. A `[` ends the name, so a line of `[cid:` is read once; a number in brackets
 * ("[CID:+4930123456]") or the writer's "[Image: the diagram]" is no placeholder.
 */
const IMAGE_PLACEHOLDER = new RegExp(
  `\\[(?:cid:[^\\[\\]\\s@]{1,${MAX_IMAGE_NAME_CHARS}}@[0-9A-F]{8}\\.[0-9A-F]{8}|image: [^\\[\\]\\n]{1,${MAX_IMAGE_NAME_CHARS}})\\]`,
  'g',
);

function withoutImagePlaceholders(text: string): { readonly text: string; readonly removed: readonly Removal[] } {
  const removed: Removal[] = [];
  const kept = text.replace(IMAGE_PLACEHOLDER, (placeholder) => {
    removed.push({ reason: 'inline image placeholder', first: placeholder, lines: 1 });
    return '';
  });
  return { text: kept, removed };
}

/** The text between the start and end markers, and what they cut, each with the marker that cut it (`smsrelay preview` lists them). */
function withinMarkers(text: string, rules: StripRules): { readonly text: string; readonly above: readonly Removal[]; readonly below: readonly Removal[] } {
  let result = text;
  const above: Removal[] = [];
  const below: Removal[] = [];
  for (const marker of rules.startMarkers) {
    const at = result.indexOf(marker);
    if (at < 0) continue;
    above.push(...cutByMarker(result.slice(0, at), `above the start marker ${JSON.stringify(marker)}`));
    result = result.slice(at + marker.length);
  }
  for (const marker of rules.endMarkers) {
    const at = result.indexOf(marker);
    if (at < 0) continue;
    below.unshift(...cutByMarker(result.slice(at + marker.length), `below the end marker ${JSON.stringify(marker)}`));
    result = result.slice(0, at);
  }
  return { text: result, above, below };
}

/** Text a marker cut, as a removed block (none when it held only blank lines). */
function cutByMarker(cut: string, reason: string): Removal[] {
  const lines = cut.split('\n').filter((line) => line.trim() !== '');
  return lines.length === 0 ? [] : [{ reason, first: (lines[0] ?? '').trim().slice(0, REMOVAL_FIRST_LINE_CHARS), lines: lines.length }];
}

/** One pass over a body's lines: what is kept, what is removed and why. */
class Scan {
  readonly removed: Removal[] = [];
  quoteRemoved = false;
  /** The lines as classified (lineAsRead): without the format characters at their edges, with leaked entities read. */
  readonly #lines: readonly string[];
  /** The lines as written, for the kept ones: an RLM may set a line's direction in right-to-left text. */
  readonly #written: readonly string[];
  /** Whether a line (as disclaimerKey makes it) opens a disclaimer: the built-in openings and the operator's. */
  readonly #disclaimer: DisclaimerOpenings;
  readonly #forward: boolean;
  /** The mail answers another: see StripOptions.reply. */
  readonly #reply: boolean;
  /** See StripOptions.invitation. */
  readonly #invitation: boolean;
  readonly #kept: string[] = [];
  /** Whether `>` lines are quotes here: in a reply, or below an attribution. */
  #quoting: boolean;
  /** The indexes of the lines that StripOptions.stuffed names: `>` lines that are no quotes. */
  readonly #stuffed: ReadonlySet<number>;
  /** A ticket system's reply-above marker opened the mail: below the newest comment comes the ticket's history. */
  #ticket = false;
  #comments = 0;

  constructor(lines: readonly string[], rules: StripRules, { forward = false, reply = true, invitation = false, stuffed }: StripOptions) {
    this.#stuffed = stuffedIndexes(lines, stuffed ?? []);
    this.#written = forward ? unquoteForwarded(lines, this.#stuffed) : lines;
    // Most mail has no format character nor entity: its lines are classified as written, with no copy to map back.
    const quotes = quoteMarksRead(lines);
    const marked = quotes !== lines || lines.some((line) => hasFormatCharacter(line) || LEAKED_ENTITY.test(line));
    const bare = marked ? quotes.map(lineAsRead) : lines;
    this.#lines = !marked ? this.#written : forward ? unquoteForwarded(bare, this.#stuffed) : bare;
    this.#disclaimer = disclaimerOpening(rules.disclaimers);
    this.#forward = forward;
    this.#reply = reply;
    this.#invitation = invitation;
    this.#quoting = reply;
  }

  /** The kept lines, in order: tidied by the caller as they are, not joined into a text to be split again. */
  lines(): readonly string[] {
    this.#scan();
    this.#trimEnd();
    this.#dropFooter();
    const machine = this.#isMachineMail();
    // An alert's last line is its content ("Sent via Windows Task Scheduler on SRV-BACKUP01", "Sent
    // from my Raspberry Pi"); a phone client's stock line is not, even under a reply typed on the phone
    // with `Host:`/`State:` lines: in machine mail only that one goes (see isDeviceLine's `stock`).
    this.#dropDeviceLine(machine);
    if (!machine) {
      this.#dropSignOff();
      this.#dropContactBlock();
    }
    return this.#asWritten();
  }

  /** The kept lines with their format characters back: they are the written lines, in order, as classified. */
  #asWritten(): string[] {
    if (this.#lines === this.#written) return this.#kept;
    let at = 0;
    return this.#kept.map((line) => {
      if (line === '') return line;
      while (at < this.#lines.length && (this.#lines[at] ?? '').trim() !== line) at++;
      const written = this.#written[at++] ?? '';
      const read = lineAsRead(written).trim();
      // A quote line kept (a mail that answers none) is sent with its own marks: "AS> …", "＞…" (quoteMarksRead).
      const sameText = read === line || (QUOTED.test(line) && read.endsWith(line.replace(/^[>\s]+/, '')));
      return sameText ? written.trim() : line;
    });
  }

  #remove(reason: string, from: number, to: number): void {
    const first = (this.#lines[from] ?? '').trim();
    const last = this.removed.at(-1);
    // A block's count is of its written lines: the blank lines that end the body (its final line break) are none.
    let end = to;
    if (to === this.#lines.length - 1) while (end > from && (this.#lines[end] ?? '').trim() === '') end--;
    // Consecutive quoted lines are one block.
    if (last && last.reason === reason && reason === QUOTE_REASON && this.#lastRemovedEnd === from - 1) {
      this.removed[this.removed.length - 1] = { ...last, lines: last.lines + end - from + 1 };
    } else {
      this.removed.push({ reason, first: first.slice(0, REMOVAL_FIRST_LINE_CHARS), lines: end - from + 1 });
    }
    this.#lastRemovedEnd = to;
  }

  #lastRemovedEnd = -2;

  #scan(): void {
    const lines = this.#lines;
    for (let index = this.#skipLeadingNotes(); index < lines.length; index++) {
      const line = (lines[index] ?? '').trim();
      if (this.#reply && !this.#stuffed.has(index) && isGroupWiseHeader(line)) {
        this.#trimEnd();
        this.#end(COPY_ATTRIBUTION_REASON, index);
        return;
      }
      if (this.#quoting && this.#quoted(index)) {
        this.#remove(QUOTE_REASON, index, index);
        this.quoteRemoved = true;
        continue;
      }
      if (line === '') {
        this.#kept.push('');
        continue;
      }
      if (this.#ticket && this.#opensComment(index) && this.#comments++ > 0) {
        this.#trimEnd();
        this.#end(HISTORY_REASON, index);
        return;
      }
      if (this.#quoting && this.#isOrphanedContinuation(index)) {
        this.#remove(QUOTE_REASON, index, index);
        continue;
      }
      const attribution = this.#attributionEnd(index);
      if (attribution !== undefined) {
        const next = nextNonBlank(lines, attribution + 1);
        const strong = isStrongAttribution(joinLines(lines, index, attribution));
        if (next < lines.length && this.#quoted(next) && (this.#quoting || strong)) {
          this.#quoting = true;
          this.#trimEnd();
          this.#remove('reply attribution above the quote', index, attribution);
          index = attribution;
          continue;
        }
        if (strong) {
          this.#trimEnd();
          this.#end(COPY_ATTRIBUTION_REASON, index);
          return;
        }
      }
      if (this.#isQuoteRule(line) && this.#ruleGoesWithQuote(index)) {
        this.#remove('rule line beside the quote', index, index);
        continue;
      }
      if (isForwardMarker(line) || (this.#forward && (isOriginalMarker(line) || this.#isQuoteRule(line) || isForwardMarkerShape(lines, index)))) {
        this.#remove('forward marker', index, index);
        index = this.#skipForwardHeader(index + 1) - 1;
        continue;
      }
      const header = headerBlockEnd(lines, index);
      if (header !== undefined && this.#forward) {
        this.#remove('forwarded message header', index, header);
        index = header;
        continue;
      }
      if (header !== undefined && (this.#isAnsweredHeader(index, header) || (this.#ruleOrMarkerAbove(index) && this.#headsMail(index, header)))) {
        this.#trimEnd();
        this.#end('header block of the mail answered', this.#takeMarkerAbove(index));
        return;
      }
      const ending = this.#endsText(line, index);
      if (ending) {
        this.#end(ending, index);
        return;
      }
      this.#kept.push(line);
    }
  }

  /**
   * Where the mail answered starts whose header block is at `index`: at the dashed marker line right
   * above it (DASHED_MARKER, blank lines between), taken back from what is kept, or at the block.
   */
  #takeMarkerAbove(index: number): number {
    const above = previousNonBlank(this.#lines, index - 1);
    const marker = line0(this.#lines, above);
    if (above < 0 || this.#kept.at(-1) !== marker || !DASHED_MARKER.test(marker)) return index;
    this.#kept.pop();
    this.#trimEnd();
    return above;
  }

  /** Everything from `index` on is removed. */
  #end(reason: string, index: number): void {
    this.#remove(reason, index, this.#lines.length - 1);
    if (!NOT_QUOTES.has(reason)) this.quoteRemoved = true;
  }

  #endsText(line: string, index: number): string | undefined {
    const delimiter = SIGNATURE_SEPARATOR.test(this.#lines[index] ?? '');
    const undelimited = line === BARE_SEPARATOR || TYPOGRAPHIC_SEPARATOR.test(line);
    const signature =
      delimiter || (undelimited && !this.#announces(index) && (line === BARE_SEPARATOR ? this.#signatureBelow(index) : this.#typographicSignatureBelow(index)));
    // Mailman's and Slack's footers stand below an Outlook-like rule, Google Groups' and GitLab's below "-- ".
    if ((signature || OUTLOOK_RULE.test(line)) && isFooter(this.#lines.slice(index + 1).map((below) => below.trim()))) return FOOTER_REASON;
    if (signature) return delimiter ? SIGNATURE_REASON : BARE_SIGNATURE_REASON;
    if (isOriginalMarker(line)) return 'original-message marker';
    // Above a quoted mail the text rules know (a header block, an attribution) the rule went with the
    // quote already (#ruleGoesWithQuote), in a reply or not. In a reply it opens the mail answered
    // whatever stands below it (a header block in a language HEADER_LABELS lacks, one wrapped or spaced
    // out, old text alone), unless all below it are `Label: value` lines: an alert threaded under the
    // one it follows (Icinga's RECOVERY under its PROBLEM: In-Reply-To makes it a reply). In a mail that
    // answers none it is a separator a script or a notification template draws ("Notification Type:
    // PROBLEM" / "____" / "Host: db1"), except above an invitation's join details.
    if (OUTLOOK_RULE.test(line) && this.#invitation) return RULED_BLOCK_REASON;
    if (OUTLOOK_RULE.test(line) && this.#reply && !this.#onlyLabelsBelow(index)) return 'Outlook rule above the mail answered';
    if (this.#invitation && CALENDAR_FOOTER.test(line)) return INVITATION_FOOTER_REASON;
    const opening = this.#disclaimer.opens(line) && this.#opensBlock(index);
    const headed = DISCLAIMER_HEADING.test(line) ? this.#paragraphFrom(index).replace(DISCLAIMER_HEADING, '') : undefined;
    const heading = opening || (headed !== undefined && (isLegalText(headed) || AUTHORS_VIEWS.test(headed)));
    if (heading && this.#endsWithDisclaimer(index)) return DISCLAIMER_REASON;
    if (this.#opensDisclaimer(index)) return DISCLAIMER_REASON;
    return undefined;
  }

  /**
   * Whether the line at `index` starts a block, as a disclaimer does: it is the text's first, stands
   * under a blank line or a rule, or, written with its capital, under a signature's last line or a
   * finished sentence, or any line when legal text follows (an Exchange rule appends its text right
   * below the signature). Inside a
   * hard-wrapped paragraph (Outlook's plain text, mutt, scripts wrap at 72–76) any line may start with
   * "the information in this email" or "disclaimer": that is the writer's sentence going on.
   */
  #opensBlock(index: number): boolean {
    const above = line0(this.#lines, index - 1);
    if (index === 0 || !/[\p{L}\p{N}]/u.test(above)) return true;
    if (!/^\P{L}*\p{Lu}/u.test(line0(this.#lines, index))) return false;
    // Legal text from here on is the rule's, whatever signature line it was appended under
    // ("ACME Water Ltd | 1 Main Street, London EC1A 1AA").
    return SENTENCE_END.test(above) || isAddressOrPhone(above) || isSignatureLabel(above) || isNameLine(above) || isLegalText(this.#paragraphFrom(index));
  }

  /**
   * Whether a disclaimer's block at `index` ends the writer's text: a disclaimer is appended below
   * everything the writer wrote, so a paragraph of theirs below it (a sentence that is no legal text, a
   * sign-off, their name) makes it their own ("This email is confidential: door code 4711." / "" /
   * "Also pump 4 is down"); so does a greeting alone above it ("Hi Bob," / "The information in this
   * email is what the vendor sent me: …"), for no mail is a greeting with a disclaimer. Below the
   * blocks looked at comes what ends the text anyway: the quoted mail, its attribution or header.
   */
  #endsWithDisclaimer(index: number): boolean {
    const lines = this.#lines;
    // A paragraph that is legal text in a disclaimer's own opening is a company's, whatever stands above
    // it: a greeting, the attachment and nothing typed, then Exchange's disclaimer is a real shape. Under
    // a mere heading ("IMPORTANT NOTICE: the pump room is closed…") it may be the writer's.
    const body = this.#paragraphFrom(index).replace(DISCLAIMER_HEADING, '').trim();
    const legal = isLegalText(body) && this.#disclaimer.opens(body);
    if (!legal && this.#onlyGreeting()) return false;
    for (let start = nextNonBlank(lines, paragraphEnd(lines, index) + 1); start < lines.length; start = nextNonBlank(lines, paragraphEnd(lines, start) + 1)) {
      if (this.#opensMailAnswered(start)) return true;
      const paragraph = lines.slice(start, paragraphEnd(lines, start) + 1).map((line) => line.trim());
      const text = paragraph.join(' ');
      if (isLegalText(text) || this.#disclaimer.opens(text)) continue;
      if (
        legal
          ? writerBelowLegalText(paragraph)
          : isWritersParagraph(paragraph) || isClosing(paragraph[0] ?? '') || (paragraph.length === 1 && FIRST_NAME.test(text))
      )
        return false;
    }
    return true;
  }

  /** Whether the line at `index` opens what the scan ends the writer's text at: a quote, an attribution, a header block, a marker or rule. */
  #opensMailAnswered(index: number): boolean {
    const line = line0(this.#lines, index);
    return (
      this.#quoted(index) ||
      isOriginalMarker(line) ||
      isForwardMarker(line) ||
      OUTLOOK_RULE.test(line) ||
      SIGNATURE_SEPARATOR.test(this.#lines[index] ?? '') ||
      headerBlockEnd(this.#lines, index) !== undefined ||
      this.#attributionEnd(index) !== undefined
    );
  }

  /** Whether the text kept so far is one greeting line ("Hi Bob,", "Hallo Bob,", "Dear all,"): a short line ending in a comma. */
  #onlyGreeting(): boolean {
    const text = this.#kept.filter((line) => line !== '');
    return text.length === 1 && GREETING.test(text[0] ?? '');
  }

  /** The paragraph that starts at `index`, its lines joined. */
  #paragraphFrom(index: number): string {
    return joinLines(this.#lines, index, paragraphEnd(this.#lines, index));
  }

  /**
   * Legal text a company appends, in any wording: a paragraph below the writer's text that names the
   * mail in its first words ("Der Inhalt dieser E-Mail…", "Dit bericht kan…", "The information
   * contained in this communication…") and is legal text, with nothing below it but more of it (its
   * translation, an environment line). The openings of DISCLAIMER_OPENINGS need neither; a person's own
   * paragraph about a confidential matter is the mail's first or has their text below it. Like those
   * openings it stands under a blank line or a rule (a gateway draws `-----` right above its footer).
   */
  #opensDisclaimer(index: number): boolean {
    const lines = this.#lines;
    const above = line0(lines, index - 1);
    if (index === 0 || (above !== '' && !isRuleLine(above))) return false;
    let end = paragraphEnd(lines, index);
    // Asked of every paragraph of every mail: the cheap test of its first words first.
    if (!MAIL_NAMED.test(paragraphHead(lines, index, end, MAIL_NAMED_CHARS)) || !this.#hasText() || this.#onlyGreeting()) return false;
    if (!isLegalText(joinLines(lines, index, end))) return false;
    for (let start = nextNonBlank(lines, end + 1); start < lines.length; start = nextNonBlank(lines, end + 1)) {
      end = paragraphEnd(lines, start);
      const below = joinLines(lines, start, end);
      if (!isLegalText(below) && !this.#disclaimer.opens(below)) return false;
    }
    return true;
  }

  /**
   * Whether what follows a bare `--` looks like a signature: a short first block of name, title,
   * company and contact lines, not the mail's data (machine mail's `Label: value` lines, see
   * #isMachineMail) nor a script's output below an `echo --` ("md1: DEGRADED", "exit code 2").
   */
  #signatureBelow(index: number): boolean {
    const below = this.#lines.slice(index + 1, index + 1 + MAX_SIGN_OFF_DISTANCE).map((line) => line.trim());
    if (below.filter((line) => LABEL_LINE.test(line)).length >= MACHINE_LABEL_LINES) return false;
    const first = nextNonBlank(below, 0);
    const blank = below.indexOf('', first);
    const block = below.slice(first, blank < 0 ? below.length : blank);
    // A state word ("Disk FULL on backup volume") marks a script's line anywhere in a block without contacts; among contacts, only as its last word.
    const contacts = block.some(isAddressOrPhone);
    return block.length <= MAX_SIGNATURE_LINES && block.every((line) => isAddressOrPhone(line) || isSignatureLabel(line) || isNameLine(line, contacts));
  }

  /**
   * An em or en dash alone is more often the writer's than `--` is (a break between parts of a text),
   * so it delimits only the mail's last block, under a blank line, opening with a person's name, with a
   * contact line in it, with nothing below it but a device line: "— " / "Alice Smith" / "Ops Lead" / "+44 …" / "Sent from my iPhone".
   */
  #typographicSignatureBelow(index: number): boolean {
    const lines = this.#lines;
    if (line0(lines, index - 1) !== '' || !this.#signatureBelow(index)) return false;
    const first = nextNonBlank(lines, index + 1);
    if (!PERSON_NAME.test(line0(lines, first))) return false;
    const end = paragraphEnd(lines, first);
    // A name alone is a roster's as well ("Crew for tonight" / "—" / "Alice Smith" / "Bob Jones"): a signature has a contact.
    if (!lines.slice(first, end + 1).some(isAddressOrPhone)) return false;
    return lines.slice(end + 1).every((below) => below.trim() === '' || isDeviceLine(withoutLinks(below)));
  }

  /**
   * Whether the writer's last line above `index` ends in a colon, announcing what follows ("If it
   * trips again, call:" / "—" / "Bob Smith" / "+44 …"): a dash line or a bare `--` between is then the
   * writer's break, as a frame is (FRAMED_LINE), not a signature's delimiter. A sign-off written with
   * its colon ("Üdvözlettel:") announces nothing.
   */
  #announces(index: number): boolean {
    const above = line0(this.#lines, previousNonBlank(this.#lines, index - 1));
    return ANNOUNCING.test(above) && !SIGN_OFF.test(above);
  }

  /** Whether every line below `index` that is not blank is a `Label: value` line: machine data, no quoted mail. */
  #onlyLabelsBelow(index: number): boolean {
    return this.#lines.slice(index + 1).every((below) => below.trim() === '' || LABEL_LINE.test(below.trim()));
  }

  #hasText(): boolean {
    return this.#kept.some((line) => line !== '');
  }

  /**
   * Where the text starts after a list's or ticket system's notes at the top, which are no message:
   * a ticket system's reply-above marker (its mail then holds the ticket's history), Mailman's digest
   * header. Only the first line is tested: stripping runs for every mail.
   */
  #skipLeadingNotes(): number {
    const lines = this.#lines;
    const first = nextNonBlank(lines, 0);
    const line = line0(lines, first);
    if (line.length <= MAX_DEVICE_LINE && REPLY_ABOVE.test(line)) {
      this.#remove("ticket system's reply-above marker", first, first);
      this.#ticket = true;
      return first + 1;
    }
    if (!DIGEST_HEADER_START.test(line)) return 0;
    for (let end = first + 1; end < Math.min(lines.length, first + MAX_DIGEST_HEADER_LINES); end++) {
      if (!DIGEST_HEADER_END.test(line0(lines, end))) continue;
      this.#remove('mailing-list digest header', first, end);
      return end + 1;
    }
    return 0;
  }

  /** A ticket comment's author ("Sam Agent (Acme Support)") with its date line below. */
  #opensComment(index: number): boolean {
    const line = line0(this.#lines, index);
    return (
      line.length <= MAX_CONTACT_LINE && !SENTENCE_END.test(line) && !isDateLine(line) && isDateLine(line0(this.#lines, nextNonBlank(this.#lines, index + 1)))
    );
  }

  /**
   * Whether a header block ending at `end` heads the mail answered. In a reply the text above it
   * says so; in a mail that answers nothing a heading above is no evidence (a voicemail notice's "You
   * received a new voicemail." above its From:/To:/Date:, a digest's messages), only quoted text right
   * below it is.
   */
  #isAnsweredHeader(index: number, end: number): boolean {
    const quoted = this.#quoted(nextNonBlank(this.#lines, end + 1));
    if (!this.#reply) return quoted;
    // A mail's header dates it with its year or names an address; a notice's own labels in a reply
    // ("Oddi wrth: synhwyrydd 4" / "Anfonwyd: 10:05" / "Pwnc: …") do neither, and are its text.
    const block = this.#lines.slice(index, end + 1);
    // Written with the full-width colon, labels are also a Chinese or Japanese writer's everyday note
    // ("发件人：李四" / "收件人：张三" / "日期：2026年12月8日" of a parcel): a mail's header names its sender's address.
    const fullWidth = block.some((line) => HEADER_LINE.exec(line)?.[0].includes('：'));
    const headed = fullWidth ? block.some((line) => isFromLine(line) && ADDRESS.test(line)) : block.some((line) => hasDateWithYear(line) || ADDRESS.test(line));
    return this.#hasText() && (quoted || headed);
  }

  /** The line is a `>` line its client did not stuff (StripOptions.stuffed), and no banner framed by `>>>` (FRAMED_LINE). */
  #quoted(index: number): boolean {
    const line = (this.#lines[index] ?? '').trim();
    return QUOTED.test(line) && !this.#stuffed.has(index) && !FRAMED_LINE.test(line);
  }

  /** The last line of a run of attribution lines starting at `index`, or undefined. */
  #attributionEnd(index: number): number | undefined {
    const lines = this.#lines;
    for (let end = index; end < Math.min(lines.length, index + MAX_ATTRIBUTION_LINES); end++) {
      const line = (lines[end] ?? '').trim();
      // ">:" is the end of an address wrapped by the client ("Ana Silva <" / "ana@…" / ">:"), not a quote.
      if (line === '' || (this.#quoted(end) && !WRAPPED_ADDRESS_END.test(line)) || line.length > MAX_ATTRIBUTION_LINE) return undefined;
      // Asked at every line of every mail: the lines are joined only below a last line that ends as an attribution
      // must (they end as it does), for isAttribution's patterns flatten the joined lines, a copy each time.
      if (!mayEndAttribution(line)) continue;
      const joined = end === index ? line : joinLines(lines, index, end);
      if (!isAttribution(joined)) continue;
      if (end === index || opensWrappedAttribution(line0(lines, index))) return end;
      // The writer's own last line ("Hello", "See you at 10") is never the start of a wrapped
      // attribution: when the lines below it are one, they are.
      for (let later = index + 1; later <= end; later++) if (isAttribution(joinLines(lines, later, end))) return undefined;
      return end;
    }
    return undefined;
  }

  /** An unquoted line right below a long quoted line that did not end its sentence: the client wrapped it. */
  #isOrphanedContinuation(index: number): boolean {
    const above = this.#lines[index - 1] ?? '';
    if (!this.#quoted(index - 1)) return false;
    const quoted = above.replace(/^[\s>]+/, '').trim();
    if (quoted.length < MIN_WRAPPED_QUOTE || /[.!?:;。]$/.test(quoted)) return false;
    const next = this.#lines[index + 1];
    return next === undefined || next.trim() === '' || this.#quoted(index + 1);
  }

  #ruleGoesWithQuote(index: number): boolean {
    if (this.#lastRemovedEnd >= 0 && nextNonBlank(this.#lines, this.#lastRemovedEnd + 1) === index) return true;
    const next = nextNonBlank(this.#lines, index + 1);
    if (next >= this.#lines.length) return true;
    const header = headerBlockEnd(this.#lines, next);
    return (this.#quoting && this.#quoted(next)) || this.#attributionEnd(next) !== undefined || (header !== undefined && this.#headsMail(next, header));
  }

  /**
   * Whether a header block from `index` to `end` under a rule or marker is a mail's. In a reply it is.
   * In a mail that answers nothing it must look like one. A fax or voicemail notice's own block under
   * its rule names its caller by number (From: a phone number, or one in its `<…>`) and is the notice's
   * content (docs/text.md, machine mail). Any other is a mail's with Outlook's own Sent: and a Subject:
   * line (Outlook writes its sender as a name alone, `From: Smith, John`, and may add `Importance:`
   * below), or with a From: naming a mail address and no more `Label: value` lines running on below it;
   * a web form's own From:/Date:/Subject: fields, with a name alone, are neither.
   */
  #headsMail(index: number, end: number): boolean {
    if (this.#reply) return true;
    const block = this.#lines.slice(index, end + 1).map((line) => line.trim());
    const from = block.find(isFromLine);
    if (from === undefined || PHONE_NUMBER.test(senderOf(from))) return false;
    if (block.some((line) => OUTLOOK_SENT_LINE.test(line)) && block.some((line) => SUBJECT_LINE.test(line))) return true;
    return ADDRESS.test(from) && !LABEL_LINE.test(line0(this.#lines, end + 1));
  }

  #ruleOrMarkerAbove(index: number): boolean {
    let above = index - 1;
    while (above >= 0 && (this.#lines[above] ?? '').trim() === '') above--;
    const line = (this.#lines[above] ?? '').trim();
    return above >= 0 && (this.#isQuoteRule(line) || isOriginalMarker(line) || isForwardMarker(line));
  }

  /**
   * Whether a rule line may stand above a quoted mail. An HTML rule (`<hr>`) does only in a mail that
   * answers one, forwards one or carries an invitation: in any other a web form or notification draws
   * it between its heading and its own `From:`/`Date:`/`Subject:` fields, which are its content. Below
   * it a footer is still found (#dropFooter).
   */
  #isQuoteRule(line: string): boolean {
    return line === HTML_RULE ? this.#reply || this.#forward || this.#invitation : RULE.test(line);
  }

  /** After a forward marker: blank lines and the forwarded header lines. */
  #skipForwardHeader(from: number): number {
    let index = nextNonBlank(this.#lines, from);
    const end = headerBlockEnd(this.#lines, index);
    if (end !== undefined) {
      this.#remove('forwarded message header', index, end);
      index = end + 1;
    }
    return index;
  }

  /** Blank and rule lines at the end of what is kept: a rule just above a block that turned out to be the quote goes with it. */
  #trimEnd(): void {
    while (this.#kept.length > 0 && (this.#kept.at(-1) === '' || isRuleLine(this.#kept.at(-1) ?? ''))) this.#kept.pop();
  }

  /** A list or notification footer at the end, with the rule line above it, when text stays above it. */
  #dropFooter(): void {
    const kept = this.#kept;
    const start = footerStart(kept);
    if (start < 0 || !kept.slice(0, start).some((line) => line !== '' && !isFooterSeparator(line))) return;
    this.removed.push({ reason: FOOTER_REASON, first: kept[start] ?? '', lines: kept.length - start });
    kept.length = start;
    this.#trimEnd();
  }

  /**
   * Alerts are runs of `Label: value`: their last lines (contacts, links) are content. Contact and
   * register lines under a sign-off and a name ("Tel.: …", "Registergericht: …") are a signature's, not
   * an alert's, and do not count.
   */
  #isMachineMail(): boolean {
    const kept = this.#kept;
    const signOff = this.#signOffAt((index) => {
      const name = kept[nextNonBlank(kept, index + 1)];
      return name !== undefined && !LABEL_LINE.test(name);
    });
    const labels = kept.filter(
      (line, index) => LABEL_LINE.test(line) && !POSTSCRIPT.test(line) && !(signOff >= 0 && index > signOff && isSignatureLabel(line)),
    );
    return labels.length >= MACHINE_LABEL_LINES;
  }

  /**
   * The first sign-off line among the last lines for which `fits` holds, or -1; a list's item
   * ("Samsung" / "LG" / "Sony", "Verizon" / "ATT", "Worst" / "Best") is none (isListItemSignOff).
   */
  #signOffAt(fits: (index: number) => boolean): number {
    const kept = this.#kept;
    const nearEnd = Math.max(0, kept.length - MAX_SIGN_OFF_DISTANCE);
    return kept.findIndex((line, index) => index >= nearEnd && SIGN_OFF.test(line) && !isListItemSignOff(kept, index) && fits(index));
  }

  /** `stock`: only a phone client's own line goes (machine mail). */
  #dropDeviceLine(stock: boolean): void {
    const kept = this.#kept;
    const linkLine = AQUAMAIL_LINK.test(kept.at(-1) ?? '') && AQUAMAIL_STOCK_LINE.test(kept.at(-2) ?? '');
    const last = kept.at(linkLine ? -2 : -1) ?? '';
    // Outlook for Android appends its link: "Get Outlook for Android<https://aka.ms/…>".
    const bare = withoutLinks(last);
    if (bare.length > MAX_DEVICE_LINE || !isDeviceLine(bare, OUTLOOK_LINK.test(last), stock)) return;
    if (linkLine) kept.pop();
    kept.pop();
    this.#trimEnd();
    // K-9 Mail writes its line as a signature: a "--" right above it (its space lost) is that signature's delimiter.
    const delimited = this.#kept.at(-1) === BARE_SEPARATOR;
    if (delimited) this.#kept.pop();
    this.removed.push({ reason: 'device or app line', first: last, lines: (delimited ? 2 : 1) + (linkLine ? 1 : 0) });
    this.#trimEnd();
  }

  /**
   * "Kind regards," with a short block under it, and nothing below but legal text, contacts or the
   * writer's afterthoughts (a P.S., a sentence paragraph): those stay, below the text.
   */
  #dropSignOff(): void {
    const kept = this.#kept;
    let afterthoughts: string[][] | undefined;
    const at = this.#signOffAt((index) => {
      afterthoughts = writersTextBelowSignOff(kept, index);
      return afterthoughts !== undefined;
    });
    if (at < 0 || afterthoughts === undefined || this.#signOffIsMessage(at)) return;
    const stays = afterthoughts.flatMap((paragraph) => ['', ...paragraph]);
    this.removed.push({ reason: SIGN_OFF_REASON, first: kept[at] ?? '', lines: kept.length - at - stays.length + afterthoughts.length });
    kept.splice(at, kept.length - at, ...stays);
    this.#trimEnd();
  }

  /**
   * Whether the sign-off at `at`, the first text of the mail, is its message: a lone line that is a
   * thank-you and a closing ("Cheers", "Cheers, Bob", as "Thanks, Bob" is one) or one said with an
   * exclamation mark ("Best!"), with at most a first name under it. A bare closing ("Kind regards",
   * "Best", "Thanks & Regards") says nothing and goes, and so does a whole signature block under any
   * closing: the client's auto-signature alone is no message.
   */
  #signOffIsMessage(at: number): boolean {
    const kept = this.#kept;
    if (!kept.slice(0, at).every((above) => above === '')) return false;
    const [line = '', name, ...more] = kept.slice(at).filter((below) => below !== '');
    if (more.length > 0 || (name !== undefined && !FIRST_NAME.test(name))) return false;
    return LONE_THANKS.test(line) || EXCLAIMED.test(line);
  }

  /**
   * A last paragraph of name, phone, mail and web lines below the text, unless the line above it
   * announces it ("Call the on-call engineer:", "Your driver:"): then it is what that line points to.
   */
  #dropContactBlock(): void {
    const kept = this.#kept;
    const blank = kept.lastIndexOf('');
    if (blank < 0 || ANNOUNCING.test(kept[previousNonBlank(kept, blank)] ?? '')) return;
    const block = kept.slice(blank + 1);
    if (block.length > MAX_SIGNATURE_LINES || !isContactBlock(block) || !isSignersBlock(block)) return;
    this.removed.push({ reason: 'contact-block signature', first: block[0] ?? '', lines: block.length });
    kept.length = blank;
    this.#trimEnd();
  }
}

const QUOTE_REASON = 'quoted text of the mail answered';
const COPY_ATTRIBUTION_REASON = 'attribution above a copy of the mail answered';
const SIGNATURE_REASON = 'signature (below "-- ")';
const BARE_SIGNATURE_REASON = 'signature (below "--", its space lost)';
const DISCLAIMER_REASON = 'disclaimer';
/** A sign-off's removal: a reply of only one is refused naming it (src/acceptance, removals.ts's signOffOf). */
export const SIGN_OFF_REASON = 'sign-off and signature block';
const FOOTER_REASON = 'mailing-list or notification footer';
const HISTORY_REASON = "ticket's older comments";
/** Below Outlook's rule in an invitation that answers none stands what Outlook or a service added: Teams' or Zoom's meeting block. */
const RULED_BLOCK_REASON = "Outlook rule and the block below it (an invitation's online-meeting join details)";
const INVITATION_FOOTER_REASON = "calendar's footer below an invitation";
/** Removals that are no quote of a mail answered: the mail is no reply for them. */
const NOT_QUOTES = new Set([
  SIGNATURE_REASON,
  BARE_SIGNATURE_REASON,
  DISCLAIMER_REASON,
  FOOTER_REASON,
  HISTORY_REASON,
  RULED_BLOCK_REASON,
  INVITATION_FOOTER_REASON,
]);

/**
 * A footer's line: no sentence (a company's postal address, a ticket token), or one with a footer
 * phrase or a link. A sentence without either is the mail's own text. Tested in this order: most
 * last lines are answered by the first test.
 */
function isFooterLine(line: string): boolean {
  return !SENTENCE_END.test(line) || !LOWER_CASE_WORD.test(line) || FOOTER_LINE.test(line) || CONTACT_LINE.test(line);
}

/**
 * A footer's line without a rule above it: a footer word beside a link ("you may unsubscribe at any
 * time: https://…"), or where a template writes it beside an address ("To unsubscribe …, send an
 * email to ops+unsubscribe@…"); a footer phrase no person writes ("Please do not reply to this
 * email", "Manage notification settings"), or two footer phrases on the line; or a phrase a writer may
 * use (WRITERS_FOOTER_PHRASES) that a link, an address or a footer word backs (`backed`: on its line or
 * below it, as every template has its unsubscribe or settings link; Opsgenie's "…because you are on
 * call. Unsubscribe"). The writer's own sentence with those words and no such backing is their text:
 * "You are receiving this because you are on call this week.", "Reply to this email directly if it
 * trips again.", "Please add bob@example.com to the on-call mailing list.", "Unsubscribe me from …: alice@…".
 */
function footerOnItsOwn(line: string, backed: boolean): boolean {
  // Found leftmost first, so "do not reply to this email" is that phrase, not "reply to this email".
  const phrases = (line.match(FOOTER_PHRASES_ALL) ?? []).map((phrase) => phrase.toLowerCase());
  const sure =
    phrases.length > 1 || phrases.some((phrase) => !WRITERS_FOOTER_PHRASE_SET.has(phrase)) || (phrases.length === 1 && (backed || CONTACT_LINE.test(line)));
  return sure || (FOOTER_WORD.test(line) && FOOTER_LINK.test(line)) || (TEMPLATE_FOOTER_WORD.test(line) && CONTACT_LINE.test(line));
}

/** Trimmed lines that are a footer: a few footer lines, one of them with a footer phrase. */
function isFooter(lines: readonly string[]): boolean {
  const text = lines.filter((line) => line !== '');
  return text.length <= MAX_FOOTER_LINES && text.every(isFooterLine) && text.some((line) => FOOTER_LINE.test(line));
}

/**
 * Where a footer at the end of trimmed `lines` starts, or -1: at the first line with a footer phrase
 * among the last footer lines (or the top of its paragraph when a typed rule stands above it: Slack's
 * postal address above its "You're receiving…"), with the rule lines above it.
 */
function footerStart(lines: readonly string[]): number {
  let start = -1;
  // Without a rule above, the footer starts at a line that is one for sure (footerOnItsOwn).
  let sure = -1;
  let count = 0;
  // A link or a footer word on a footer line at or below the one looked at.
  let backed = false;
  for (let index = lines.length - 1; index >= 0 && count < MAX_FOOTER_LINES; index--) {
    const line = lines[index] ?? '';
    if (line === '') continue;
    if (!isFooterLine(line)) break;
    count++;
    backed ||= FOOTER_LINK.test(line) || FOOTER_WORD.test(line);
    if (FOOTER_LINE.test(line)) start = index;
    if (footerOnItsOwn(line, backed)) sure = index;
  }
  if (start < 0) return -1;
  let top = start;
  while (top > 0 && lines[top - 1] !== '' && !isFooterSeparator(lines[top - 1] ?? '') && isFooterLine(lines[top - 1] ?? '')) top--;
  const separator = lines[previousNonBlank(lines, top - 1)] ?? '';
  // Notifications draw an HTML rule between their own blocks too: under one the footer starts at a line
  // that is one for sure where there is one ("Contact the on-call: +49 …" above "Manage notifications
  // at …" is the alert's), and at its paragraph's top only where none is.
  if (isFooterSeparator(separator) && isFooter(lines.slice(top))) start = separator === HTML_RULE && sure >= 0 ? sure : top;
  else if (sure < 0) return -1;
  else start = sure;
  let from = start;
  for (let above = start - 1; above >= 0 && (lines[above] === '' || isFooterSeparator(lines[above] ?? '')); above--) {
    if (lines[above] !== '') from = above;
  }
  return from;
}

/**
 * Where the quote of a block starting at `start` begins: the attribution, header block, marker and
 * rule lines right above it (thread-first cutting found the block itself).
 */
export function quoteHeaderStart(lines: readonly string[], start: number, answered: readonly string[] = []): number {
  const unquoted = (index: number) =>
    lineAsRead(lines[index] ?? '')
      .replace(/^[\s>]+/, '')
      .trim();
  const marks = (index: number) => (/^[\s>]*/.exec(lines[index] ?? '')?.[0] ?? '').replace(/\s/g, '').length;
  const copyMarks = marks(start);
  /** The top of a header block whose last line is `above`, its lines those `headerLine` takes, if it is one and `fits`. */
  const headerBlockTop = (above: number, headerLine: (index: number) => boolean, fits = (_top: number) => true): number | undefined => {
    if (!headerLine(above)) return undefined;
    let top = above;
    while (top > 0 && top > above - MAX_HEADER_LINES && !isFromLine(unquoted(top)) && headerLine(top - 1)) top--;
    // GMX, WEB.DE and mail.com write the date first: "Gesendet:" / "Sent:" and a date above the From line;
    // T-Online writes the subject above that date line: known labels above it are the block's too.
    if (top > 0 && isFromLine(unquoted(top)) && SENT_LINE.test(unquoted(top - 1)) && DATE.test(unquoted(top - 1))) {
      top--;
      while (top > 0 && top > above - MAX_HEADER_LINES && HEADER_LINE.test(unquoted(top - 1)) && !isFromLine(unquoted(top - 1))) top--;
    }
    const block = above - top + 1 >= MIN_HEADER_LINES || (above > top && isFromLine(unquoted(top)));
    return block && fits(top) ? top : undefined;
  };
  /**
   * A header block from `top` to the copy shows the answered mail's: a line names its sender or
   * recipient (`answered`) and another carries a date with its year, or Outlook's underscore rule or
   * an "Original Message" marker stands right above. A writer's own run ("Meeting: 7 Dec 2026 10:00" /
   * "Contact: bob@example.com") names neither, and a typed underline ("Status" / "=====") is no mail's.
   */
  const showsMailHeader = (top: number): boolean => {
    const block = Array.from({ length: start - top }, (_, offset) => unquoted(top + offset));
    const naming = block.findIndex((line) => namesAddress(line, answered));
    if (naming >= 0 && block.some((line, index) => index !== naming && hasDateWithYear(line))) return true;
    let over = top - 1;
    while (over >= 0 && unquoted(over) === '') over--;
    return over >= 0 && (OUTLOOK_RULE.test(unquoted(over)) || isOriginalMarker(unquoted(over)));
  };
  let from = start;
  // A header block was found right above the copy: a dashed marker line above it is its client's (DASHED_MARKER).
  let headed = false;
  for (;;) {
    let above = from - 1;
    while (above >= 0 && unquoted(above) === '') above--;
    if (above < 0) return from;
    const line = unquoted(above);
    if (isRuleLine(line) || isOriginalMarker(line) || isForwardMarker(line) || (headed && DASHED_MARKER.test(line))) {
      from = above;
      headed = false;
      continue;
    }
    // Right above the sent mail (a header block stands on it, not on an attribution), a run of
    // `Label: value` lines is its header block, in any language; a From line is its top. Fewer lines
    // than a header block has are the writer's ("Meet at 8: room 4B."). A client copies the block
    // with the mail, so a line in any language carries the copy's `>` marks: the writer's own
    // unquoted lines above a `>` copy ("Host: db2" / "State: DOWN" / "Since: 10:05") are text. Only
    // the labels clients write (Outlook prefixes the copy, not its From:/Sent:/To:/Subject:) stand
    // without them, and so does an unmarked run in a language those lack (Malay, Georgian, Welsh…)
    // that shows the answered mail's header (showsMailHeader).
    if (from === start) {
      // The unmarked run first: the known labels alone would leave its unknown ones ("Ó:") above the cut.
      const top =
        headerBlockTop(above, (index) => HEADER_LINE.test(unquoted(index)) || LABEL_LINE.test(unquoted(index)), showsMailHeader) ??
        headerBlockTop(above, (index) => HEADER_LINE.test(unquoted(index)) || (marks(index) === copyMarks && LABEL_LINE.test(unquoted(index))));
      if (top !== undefined) {
        from = top;
        headed = true;
        continue;
      }
    }
    // The nearest start that makes an attribution, unless a line further up opens one the client
    // wrapped ("On …, 2026 at 4:44 AM Ana <" / "ana@example.com> wrote:"): then that line is its
    // start. A finished sentence or a "Label: value" line up there is the writer's ("See you on 6 Dec 2026.").
    let attribution: number | undefined;
    for (let first = above; first >= Math.max(0, above - MAX_ATTRIBUTION_LINES + 1) && unquoted(first) !== ''; first--) {
      const text = Array.from({ length: above - first + 1 }, (_, offset) => unquoted(first + offset)).join(' ');
      if (isAttribution(text) && (attribution === undefined || opensWrappedAttribution(unquoted(first)))) attribution = first;
    }
    if (attribution === undefined) return from;
    from = attribution;
  }
}

/** Digits a phone number's address has at least, for a header line naming it by its number alone ("From: +44 7700 900840"). */
const MIN_NUMBER_DIGITS = 7;

/**
 * Whether a header line names one of `addresses`: the address itself, or, for a phone's address
 * (`447700900840@sms.example`), its number in any spacing, as a client shows the sender's name.
 */
function namesAddress(line: string, addresses: readonly string[]): boolean {
  const lower = line.toLowerCase();
  const digits = line.replace(/\D/g, '');
  return addresses.some((address) => {
    if (lower.includes(address.toLowerCase())) return true;
    const number = address.slice(0, address.lastIndexOf('@')).replace(/^\+/, '');
    return /^\d+$/.test(number) && number.length >= MIN_NUMBER_DIGITS && digits.includes(number);
  });
}

/** A line of `>` marks and blanks alone: an empty quoted line, whatever its depth. */
const EMPTY_QUOTED = /^[>\s]*$/;

/**
 * The indexes of the `>` lines that StripOptions.stuffed names: per text, as many as were stuffed, the
 * first ones; never a line of `>` and blanks alone (EMPTY_QUOTED).
 */
function stuffedIndexes(lines: readonly string[], stuffed: readonly string[]): ReadonlySet<number> {
  const indexes = new Set<number>();
  if (stuffed.length === 0) return indexes;
  const left = new Map<string, number>();
  for (const text of stuffed) if (!EMPTY_QUOTED.test(text)) left.set(text, (left.get(text) ?? 0) + 1);
  lines.forEach((line, index) => {
    const text = line.trim();
    const count = QUOTED.test(text) ? left.get(text) : undefined;
    if (!count) return;
    indexes.add(index);
    left.set(text, count - 1);
  });
  return indexes;
}

/**
 * Apple Mail quotes a plain-text forward with `>` under "Begin forwarded message:": in a forward that
 * block is the forwarded message, so one level of `>` is taken off it (a quote inside it stays one). A
 * line its client stuffed (`stuffed`: by index) is the writer's, no quote: it ends that block.
 */
function unquoteForwarded(lines: readonly string[], stuffed: ReadonlySet<number>): readonly string[] {
  let forwarded = false;
  return lines.map((raw, index) => {
    const line = raw.trim();
    if (isForwardMarker(line) || isForwardMarkerShape(lines, index)) forwarded = true;
    else if (forwarded && line !== '') {
      if (QUOTED.test(line) && !stuffed.has(index)) return line.replace(/^>[ \t]?/, '');
      forwarded = false;
    }
    return raw;
  });
}

/**
 * A forward's marker in a wording not in FORWARD_MARKERS: a short line ending in a colon (and with
 * none inside) right above the forwarded header block, quoted with `>` or not, as Apple Mail writes
 * it in every language ("Początek przekazywanej wiadomości:", "以下为转发的邮件：").
 */
function isForwardMarkerShape(lines: readonly string[], index: number): boolean {
  const line = line0(lines, index);
  if (line.length > MAX_FORWARD_MARKER_LINE || !/[:：]$/.test(line) || INNER_COLON.test(line) || QUOTED.test(line)) return false;
  const below = nextNonBlank(lines, index + 1);
  const header = lines.slice(below, below + MAX_HEADER_LINES).map((quoted) => quoted.replace(/^\s*>[ \t]?/, ''));
  return labelledHeaderEnd(header, 0) !== undefined;
}

/**
 * The first line of an attribution the client wrapped ("On Fri, Mar 20, 2026 at 8:48 AM Ana <"): it
 * opens one (a date with its year, an address or a "wrote" verb), ends no sentence and has no colon
 * before the attribution's own at its end. "As Bob wrote: the rack is on fire" is the writer's. A
 * parenthesis the line leaves open goes on below it, so what it holds is neither: Gmail's Hungarian
 * "… ezt írta (időpont: 2026. dec." has its colon there and breaks after an abbreviation's dot, inside it.
 */
function opensWrappedAttribution(line: string): boolean {
  if (!(hasDateWithYear(line) || ADDRESS.test(line) || VERB.test(line))) return false;
  const open = line.lastIndexOf('(');
  const outside = open > line.lastIndexOf(')') ? line.slice(0, open) : line;
  return !SENTENCE_END.test(outside) && !INNER_COLON.test(outside);
}

function line0(lines: readonly string[], index: number): string {
  return (lines[index] ?? '').trim();
}

/** The first `chars` characters of joinLines(lines, from, to), reading no more lines than they need. */
function paragraphHead(lines: readonly string[], from: number, to: number, chars: number): string {
  let head = (lines[from] ?? '').trim();
  for (let at = from + 1; at <= to && head.length < chars; at++) head = `${head} ${(lines[at] ?? '').trim()}`;
  return head.slice(0, chars);
}

/** Lines `from` to `to` as one, each trimmed: an attribution its client wrapped. */
export function joinLines(lines: readonly string[], from: number, to: number): string {
  return lines
    .slice(from, to + 1)
    .map((line) => line.trim())
    .join(' ');
}

/**
 * Where the attribution whose last line is `end` starts, or undefined: that line, or the lines above
 * it the client wrapped it from (up to MAX_ATTRIBUTION_LINES, none blank, the first opening one), as
 * #attributionEnd reads one downwards. The HTML reader removes it above a quote element it removes, as
 * these rules remove it above `>` lines.
 */
export function attributionStart(lines: readonly string[], end: number): number | undefined {
  let found: number | undefined;
  for (let start = end; start >= 0 && start > end - MAX_ATTRIBUTION_LINES; start--) {
    const line = line0(lines, start);
    if (line === '' || line.length > MAX_ATTRIBUTION_LINE) break;
    if (isAttribution(joinLines(lines, start, end)) && (start === end || opensWrappedAttribution(line))) found = start;
  }
  return found;
}

/**
 * Whether the last of `lines` ends an attribution that marks what stands below it as quoted where
 * nothing else marks it (a blockquote with no client's mark is an indent as often): one with a "wrote"
 * verb, or a date beside an address. A date alone is as often the writer's heading ("Meeting moved to
 * Monday 7 Dec 2026 at 10:00:").
 */
export function endsInQuoteAttribution(lines: readonly string[]): boolean {
  const end = lines.length - 1;
  const start = attributionStart(lines, end);
  if (start === undefined) return false;
  const text = joinLines(lines, start, end);
  return VERB.test(text) || isStrongAttribution(text);
}

/** Whether a text ends as an attribution must (isAttribution): in a colon, or in a dashed one's dash. */
function mayEndAttribution(text: string): boolean {
  return text.endsWith(':') || text.endsWith('：') || text.endsWith('-');
}

/** Ends in a colon and carries a date, an address or a "wrote" verb: "On … Ana <ana@…> wrote:". */
function isAttribution(text: string): boolean {
  if (text.length > MAX_ATTRIBUTION_LINE || text.length < MIN_ATTRIBUTION_CHARS) return false;
  const dashed = text.match(DASHED_ATTRIBUTION);
  if (dashed) return VERB.test(dashed[1] ?? '') || ADDRESS.test(dashed[1] ?? '');
  if (!/[:：]$/.test(text)) return false;
  return VERB.test(text) || ADDRESS.test(text) || hasDate(text);
}

/** An attribution certain enough to end the text when no quote follows it (a copy without `>`). */
export function isStrongAttribution(text: string): boolean {
  if (DASHED_ATTRIBUTION.test(text)) return true;
  const verb = VERB.test(text);
  const address = ADDRESS.test(text);
  return (hasDate(text) && (verb || address)) || (verb && address);
}

/**
 * A From line: a From label with a sender, never a date or time alone. A notice's time window
 * (Serbian's `Од: 07.12.2026 22:00` / `До: 08.12.2026 02:00` / `Тема: …`: "from" / "to" / "subject")
 * wears a header block's labels, but no mail client writes a date for its sender.
 */
function isFromLine(line: string): boolean {
  const label = line.match(HEADER_LINE);
  return FROM_LABELS.has(closedUp(label?.[1] ?? '').toLowerCase()) && !DATE_TIME_ONLY.test(line.slice(label?.[0].length).trim());
}

/** The sender a From: line names: its value, or the address in its `<…>` ("John Smith <+442079460000>"). */
function senderOf(fromLine: string): string {
  const value = fromLine.replace(HEADER_LINE, '').trim();
  return /<([^<>]*)>$/.exec(value)?.[1]?.trim() ?? value;
}

/** The last line of a header block of the mail answered starting at `index`: `Label: value` lines, or Lotus Notes' without colons. */
function headerBlockEnd(lines: readonly string[], index: number): number | undefined {
  return labelledHeaderEnd(lines, index) ?? notesHeaderEnd(lines, index);
}

/** The last line of 3+ header lines (From/Sent/To/Subject family, a From among them), or of 2 after a rule. */
function labelledHeaderEnd(lines: readonly string[], index: number): number | undefined {
  let end = index;
  let from = false;
  while (end < lines.length && end - index < MAX_HEADER_LINES) {
    const line = (lines[end] ?? '').trim();
    if (!HEADER_LINE.test(line)) break;
    from ||= isFromLine(line);
    end++;
  }
  const count = end - index;
  if (!from || count < 2) return undefined;
  if (count >= MIN_HEADER_LINES) return end - 1;
  const above = (lines[index - 1] ?? '').trim();
  return RULE.test(above) || isOriginalMarker(above) ? end - 1 : undefined;
}

/**
 * The last line of Lotus Notes' older reply header starting at `index`, or undefined: a paragraph that
 * opens with the sender (a line or a few) and has a date line, a To (or cc) label and, below them, a
 * Subject label; each label's value is on the lines after it. A label stands alone on its line, or,
 * as Notes prints its columns, at the right end of a sender's or date line after a wide gap
 * (`ost>          To`, `06.12.2026 01:15          cc`). It ends with the subject's value: the line
 * after the label, and the lines under it at the same indent (a subject Notes wrapped in its column).
 */
function notesHeaderEnd(lines: readonly string[], index: number): number | undefined {
  if (index > 0 && line0(lines, index - 1) !== '') return undefined;
  const last = Math.min(lines.length, index + MAX_NOTES_HEADER_LINES);
  let dated = false;
  let addressed = false;
  for (let at = index; at < last; at++) {
    const { left, label } = notesColumns(lines[at] ?? '');
    const date = isDateLine(left);
    if (!dated && !addressed && !date) {
      // A name or an address: the writer's sentence, or a line that leads into a list, is no sender.
      if (left === '' || SENTENCE_END.test(left) || /[:：]$/.test(left) || at - index >= MAX_NOTES_SENDER_LINES) return undefined;
    }
    dated ||= date;
    if (label === 'to') addressed = true;
    if (label !== 'subject') continue;
    if (!dated || !addressed) return undefined;
    return notesValueEnd(lines, at);
  }
  return undefined;
}

/** A line of Notes' header: its left column, and a To/cc or Subject label alone or at its right end. */
function notesColumns(raw: string): { left: string; label?: 'to' | 'subject' } {
  const line = raw.trim();
  const columns = line.match(NOTES_RIGHT_LABEL);
  const left = columns ? (columns[1] ?? '') : line;
  const label = columns ? (columns[2] ?? '') : line;
  if (label.length > LONGEST_BARE_LABEL) return { left: line };
  if (BARE_TO_LABEL.test(label)) return { left: columns ? left : '', label: 'to' };
  if (BARE_SUBJECT_LABEL.test(label)) return { left: columns ? left : '', label: 'subject' };
  return { left: line };
}

/** The last line of the value under Notes' Subject label at `label`: the next line and those under it at its indent. */
function notesValueEnd(lines: readonly string[], label: number): number {
  if (line0(lines, label + 1) === '') return label;
  const indent = (lines[label + 1] ?? '').search(/\S/);
  let end = label + 1;
  while (indent > 0 && end - label < MAX_NOTES_SUBJECT_LINES && line0(lines, end + 1) !== '' && (lines[end + 1] ?? '').search(/\S/) === indent) end++;
  return end;
}

/** A line that is a date and little else ("03.12.2026 17:02", "12/03/2026 05:02 PM"): a header's, not a sentence. */
function isDateLine(line: string): boolean {
  return line.length <= MAX_DEVICE_LINE && hasDateWithYear(line) && !SENTENCE_END.test(line);
}

/**
 * Below a sign-off at `index`: a short block (name, title…), then only legal text, contacts or the
 * writer's afterthoughts. Returns the afterthoughts (which stay), or undefined when what is below is
 * no signature (a sentence right under the sign-off, a long block). Contact and register lines
 * ("Tel.: …", "Sitz der Gesellschaft: …") are the signature's however many.
 */
function writersTextBelowSignOff(kept: readonly string[], index: number): string[][] | undefined {
  const below = kept.slice(index + 1);
  const paragraphs = paragraphsOf(below);
  const first = paragraphs[0];
  // Right under the sign-off (no blank line between) stands the name: a sentence there means the
  // "Best" or "Cheers" was a word of the text.
  if (first && below[0] !== '' && !POSTSCRIPT.test(first[0] ?? '') && isWritersParagraph(first)) return undefined;
  const afterthoughts = paragraphs.filter(isWritersParagraph);
  const signature = paragraphs.filter((paragraph) => !afterthoughts.includes(paragraph));
  const named = (lines: readonly string[]) => lines.filter((line) => !isSignatureLabel(line)).length;
  if (named(signature.flat()) <= MAX_SIGNATURE_LINES) return afterthoughts;
  const [block, ...rest] = signature;
  if (!block || named(block) > MAX_SIGNATURE_LINES) return undefined;
  const signatureOnly = rest.every((paragraph) => isLegalText(paragraph.join('\n')) || isContactBlock(paragraph) || paragraph.every(isSignatureLabel));
  return signatureOnly ? afterthoughts : undefined;
}

/** Paragraphs of non-blank lines; a postscript ("P.S. …") starts one of its own. */
function paragraphsOf(lines: readonly string[]): string[][] {
  const paragraphs: string[][] = [];
  let current: string[] = [];
  for (const line of lines) {
    if (line === '' || POSTSCRIPT.test(line)) {
      if (current.length > 0) paragraphs.push(current);
      current = line === '' ? [] : [line];
    } else current.push(line);
  }
  if (current.length > 0) paragraphs.push(current);
  return paragraphs;
}

/** Below a signature, a P.S. or a paragraph of sentences that is not legal text is the writer's afterthought. */
/**
 * Whether a paragraph below legal text is the writer's. Exchange rules and mail gateways append short
 * lines of their own there ("Thank you.", "Think before you print.", "This email has been scanned by
 * Mimecast", "This message originated from outside your organisation", a views/opinions or privacy
 * line, the company's name), so only positive evidence counts: a sign-off with a name under it or
 * alone ("Cheers", never "Thank you."), a full name alone, or a sentence that is none of that boilerplate.
 */
function writerBelowLegalText(paragraph: readonly string[]): boolean {
  const [first = '', second] = paragraph;
  if (isClosing(first)) return second === undefined ? !GATEWAY_LINE.test(first) : isNameLine(second);
  // A person's full name, not a single word or a company ("Acme", "Acme Water Ltd"), which a rule appends.
  if (paragraph.length === 1 && PERSON_NAME.test(first) && !COMPANY_FORM.test(first)) return true;
  return isWritersParagraph(paragraph) && !paragraph.some((line) => GATEWAY_LINE.test(line));
}

function isWritersParagraph(paragraph: readonly string[]): boolean {
  if (POSTSCRIPT.test(paragraph[0] ?? '')) return true;
  return !hasDisclaimerWord(paragraph.join(' ')) && paragraph.some(isSentence);
}

/**
 * A short last line that is a client's: it opens (or, where the verb comes last, ends) as a device
 * line does ("Sent via …", "Von meinem iPhone gesendet"), or it offers Outlook's app in some language
 * ("Get Outlook for Android", "Outlook für Android herunterladen"). Commas only set off the device's
 * or carrier's name ("…, an AT&T 5G smartphone", "Sent from my Verizon, Samsung Galaxy smartphone"):
 * a clause after one ("Sent from the warehouse, call me") is the writer's, and so is a line with a
 * colon or a semicolon. It names the writer's device or app (ownsDevice, namesDevice): "Sent from
 * sensor 4 in cold room B" names where an alarm is, and is the alert's. `linked`: the line carried
 * Outlook's aka.ms link (taken out of `bare`). `stock`: only a phone client's own line, Outlook's app
 * line or one with both the writer's possessive and a phone's or app's name ("Sent from my iPhone",
 * "Von meinem iPhone gesendet"): a machine's line names it without a possessive ("Sent from Home
 * Assistant app", "Envoyé depuis Windows") or owns no phone ("Sent from my Raspberry Pi").
 */
function isDeviceLine(bare: string, linked = false, stock = false): boolean {
  const compared = withoutMarks(bare);
  const outlook = OUTLOOK_APP_LINE.test(compared) || (OUTLOOK_PLATFORM_FIRST.test(compared) && (linked || OUTLOOK_GET_VERB.test(compared)));
  if (STOCK_APP_LINE.test(compared)) return true;
  if (!(DEVICE_START.test(compared) || DEVICE_END.test(compared) || outlook) || /[;:]/.test(bare)) return false;
  const [named = '', ...appositions] = bare.split(',');
  // A mail app's line describes it after its name: "Sent with Tutanota, the secure & ad-free mailbox."
  if (!stock && appositions.length === 1 && isAppNamed(withoutMarks(named)) && MAIL_APP_DESCRIPTION.test(appositions[0] ?? '')) return true;
  const owns = ownsDevice(compared);
  const names = namesDevice(compared);
  if (stock ? !outlook && !(owns && names) && !STOCK_OBJECT.test(deviceObject(compared)) : !owns && !names) return false;
  return appositions.every((apposition) => NAMING_PHRASE.test(apposition));
}

/**
 * Outlook's app line in any language: a verb or two, "Outlook", a preposition or two, the platform,
 * perhaps a verb after it ("Get Outlook for Android", "Outlook für Android herunterladen").
 */
const OUTLOOK_APP_LINE = /^(?:\p{L}+\s){0,2}Outlook\s(?:\p{L}+\s){1,2}(?:Android|iOS)(?:\s\p{L}+)?$/u;
/**
 * Its shape where the language names the platform first: up to three words, the platform with its
 * ending or a word after it, "Outlook" with its ending, perhaps a word after it. A sentence can have
 * it too ("Please reinstall the Android Outlook app"): it is Outlook's only with its "get"
 * (OUTLOOK_GET_VERB) or its aka.ms link.
 */
const OUTLOOK_PLATFORM_FIRST = /^(?:\p{L}+\s){0,3}(?:Android|iOS)(?:-?\p{L}+)?\s(?:\p{L}+\s)?Outlook(?:['’]\p{L}+)?(?:\s\p{L}+)?$/u;
/** OUTLOOK_GET_VERBS as whole words (in a script without word spaces, anywhere: "Outlook を入手"), compared as device lines are (withoutMarks). */
const OUTLOOK_GET_VERB = new RegExp(
  OUTLOOK_GET_VERBS.map(withoutMarks)
    .map((verb) => (unspaced(verb) ? anyOf([verb]) : `(?<![\\p{L}\\p{N}])${anyOf([verb])}(?![\\p{L}\\p{N}])`))
    .join('|'),
  'iu',
);
/** A phone client's stock line's whole object: a phone's name, or a mail app's with its platform or not. */
const STOCK_OBJECT = new RegExp(
  `^(?:${anyOf(STOCK_DEVICE_PHONES)}|(?:${anyOf(STOCK_MAIL_APPS)})(?:\\s+(?:(?:on|for)\\s+)?(?:${anyOf(STOCK_MAIL_APP_PLATFORMS)}))?)[.!]?$`,
  'iu',
);
/** An enterprise or Android mail app's whole stock line (STOCK_APP_LINES). */
const STOCK_APP_LINE = new RegExp(`^(?:${anyOf(STOCK_APP_LINES)})[.!]?$`, 'iu');
const AQUAMAIL_STOCK_LINE = new RegExp(`^${anyOf([AQUAMAIL_LINE])}[.!]?$`, 'iu');
/**
 * The link AquaMail puts under its line, to its own site ("https://www.mobisystems.com/aqua-mail"):
 * any other link there, or under another app's or a phone's line, is the writer's.
 */
const AQUAMAIL_LINK = new RegExp(`^<?https?://(?:www\\.)?(?:${anyOf(AQUAMAIL_LINK_HOSTS)})(?:[/?#]\\S*)?>?$`, 'i');

/** What a device line names, between its opening and its closing ("Sent from Yahoo Mail on Android", "iPhoneから送信"). */
function deviceObject(compared: string): string {
  const opening = DEVICE_START.exec(compared)?.[0] ?? '';
  return compared.slice(opening.length).replace(DEVICE_END, '').trim();
}

/** A device line without the links an app puts in it. */
const withoutLinks = (line: string) => line.replace(/<[^<>]*>|https?:\/\/\S+/g, '').trim();
/** The link Outlook's mobile app puts after its line: "Get Outlook for Android<https://aka.ms/ghei36>". */
const OUTLOOK_LINK = /https?:\/\/aka\.ms\//i;
/** What a comma sets off in a device line: a name (a capital or a digit first), after an article ("an AT&T …") or not. */
const NAMING_PHRASE = /^\s*(?:\p{Ll}{1,3}\s+)?[\p{Lu}\p{N}]/u;

/** A device line's start and one name after it, an app's ("Sent with Tutanota"). */
function isAppNamed(line: string): boolean {
  const start = DEVICE_START.exec(line)?.[0];
  return start !== undefined && /^\s+\p{Lu}[\p{L}\p{N}.]*$/u.test(line.slice(start.length));
}

/**
 * How a mail app describes itself after its name, ending with the mail word: "the secure email", "the
 * secure & ad-free mailbox" (not "the train is late", "your mail arrives Monday", "the whole mail team!").
 */
const MAIL_APP_DESCRIPTION = /^\s*(?:the|your)\s[^.!?]*\b(?:e-?)?mail(?:box)?[.!]?\s*$/i;

/**
 * Per set of the operator's openings (the config's array, the same object for every mail): one
 * anchored alternation of every opening, after Outlook's Wingdings leaf or not. Checking each line
 * against the hundred-odd openings one by one, each made anew per mail, doubled the stripping time of
 * an 800-byte mail (27 → 52 µs).
 */
const disclaimerOpenings = new WeakMap<readonly string[], DisclaimerOpenings>();
function disclaimerOpening(custom: readonly string[]): DisclaimerOpenings {
  let opening = disclaimerOpenings.get(custom);
  if (opening === undefined) {
    // A built-in opening in capitals is a heading only so ("DISCLAIMER", "CONFIDENTIALITY NOTICE"): in
    // lower case it is a word of the writer's sentence ("review the new legal disclaimer"); the
    // operator's openings are compared without case, as configured.
    const capitals = BUILT_IN_DISCLAIMERS.filter(isCapitals);
    const others = [...BUILT_IN_DISCLAIMERS.filter((opening) => !isCapitals(opening)), ...custom];
    opening = new DisclaimerOpenings(others.map(disclaimerKey), capitals);
    disclaimerOpenings.set(custom, opening);
  }
  return opening;
}

/** The disclaimer openings (disclaimerKey's) a text may start with, after Outlook's Wingdings leaf or not. */
class DisclaimerOpenings {
  readonly #pattern: RegExp;
  /** The first characters (UTF-16 codes) of the keys the pattern takes: the leaf's `p`, each opening's; undefined when an opening is empty. */
  readonly #firsts: ReadonlySet<number> | undefined;

  /** The openings compared as written, in capitals. */
  readonly #capitals: RegExp;

  constructor(keys: readonly string[], capitals: readonly string[]) {
    this.#pattern = new RegExp(`^(?:${WINGDINGS_LEAF.source})?(?:${anyOf(keys)})`);
    this.#capitals = new RegExp(`^(?:${WINGDINGS_LEAF.source.replace('p', 'P')})?(?:${anyOf(capitals)})`);
    this.#firsts = keys.includes('') ? undefined : new Set(['p', ...keys, ...capitals.map(disclaimerKey)].map((key) => key.charCodeAt(0)));
  }

  /**
   * Whether the text opens a disclaimer. A text whose first character is ASCII has its lower case first in its key:
   * one that opens none there (most lines of every mail) is told so without its key, a lower-cased copy of it.
   */
  opens(text: string): boolean {
    const first = text.charCodeAt(0);
    const lower = first >= 0x41 && first <= 0x5a ? first + 0x20 : first;
    if (this.#firsts !== undefined && first < 0x80 && !this.#firsts.has(lower)) return false;
    return this.#capitals.test(text) || this.#pattern.test(disclaimerKey(text));
  }
}

/** A text whose letters are all capitals. */
function isCapitals(text: string): boolean {
  return /\p{Lu}/u.test(text) && !/[\p{Ll}\p{Lt}]/u.test(text);
}

/** A disclaimer's opening as compared: without case, with a typewriter apostrophe for the typographic one. */
function disclaimerKey(text: string): string {
  return text.toLowerCase().replace(/’/g, "'");
}

/** A long paragraph with the words of a disclaimer. */
function isLegalText(paragraph: string): boolean {
  const notAscii = NOT_ASCII.test(paragraph);
  const unspaced = notAscii ? (paragraph.match(UNSPACED_CHARS)?.length ?? 0) : 0;
  const hangul = notAscii ? (paragraph.match(HANGUL_CHARS)?.length ?? 0) : 0;
  const weighed = paragraph.length + unspaced * (UNSPACED_CHAR_WEIGHT - 1) + hangul * (HANGUL_CHAR_WEIGHT - 1);
  return weighed >= MIN_DISCLAIMER_CHARS && hasDisclaimerWord(paragraph);
}

/** A contact or company-register line of a signature: "Tel.: +49 …", "E-Mail: …", "Registergericht: …". */
function isSignatureLabel(line: string): boolean {
  const label = line.match(LABEL)?.[1];
  return label !== undefined && SIGNATURE_LABEL_KEYS.has(labelKey(label));
}

/** A contact line of a signature: an address, a link or a phone number. */
function isAddressOrPhone(line: string): boolean {
  return CONTACT_LINE.test(line) || (line.match(PHONE)?.[0].replace(/\D/g, '').length ?? 0) >= MIN_PHONE_DIGITS;
}

/** A state in capitals (STATUS_WORDS) as a word of its own: "Database DOWN", not "Down Street". */
const STATUS_WORD = new RegExp(`(?:^|[^\\p{L}])(?:${STATUS_WORDS.join('|')})(?![\\p{L}])`, 'u');
/** The same as a line's last word ("Database DOWN"): in a block with contact lines a state word elsewhere is a title's ("Head of IT, UP Campus"). */
const LAST_STATUS_WORD = new RegExp(`(?:^|[^\\p{L}])(?:${STATUS_WORDS.join('|')})[^\\p{L}\\p{N}]*$`, 'u');
/** A line ending in `;`: a statement (SQL in a mysqldump, code), never a name. */
const STATEMENT_END = /;\s*$/;

/**
 * A name, title or team line ("John Smith", "Head of Operations", "Ops team", "ACME GmbH & Co. KG"):
 * short, starting with a capital (or a letter of a script without case), no digits, no colon inside,
 * no sentence. A script's output has them: "md1: DEGRADED", "exit code 2", "see /var/log/backup.log";
 * a state in capitals ("Database DOWN", "Backup FAILED"), a statement ("DROP TABLE users;").
 */
function isNameLine(line: string, amongContacts = false): boolean {
  if (line.length > MAX_CONTACT_LINE || /\d/.test(line) || INNER_COLON.test(line) || STATEMENT_END.test(line)) return false;
  if ((amongContacts ? LAST_STATUS_WORD : STATUS_WORD).test(line)) return false;
  return /^\P{L}*[\p{Lu}\p{Lt}\p{Lo}]/u.test(line) && !isSentence(line);
}

function isContactBlock(block: readonly string[]): boolean {
  if (block.length === 0 || POSTSCRIPT.test(block[0] ?? '') || block.some((line) => line.length > MAX_CONTACT_LINE || SENTENCE_END.test(line))) return false;
  return block.filter(isAddressOrPhone).length >= 2;
}

/**
 * A link to a machine rather than to a person's or company's site: its host an IP address or a name
 * without a domain (`http://192.168.1.50`, `http://10.0.0.63/live`, `http://nas01/`): a device's own page.
 */
const DEVICE_LINK = /\bhttps?:\/\/(?:[^\s/@]*@)?(?:\d{1,3}(?:\.\d{1,3}){3}|\[[\d:a-f]+\]|[a-z\d-]+)(?=[:/\s]|$)/i;

/**
 * Whether a contact block is a signer's, not a device's identity: only positive evidence makes it a
 * device's, a link to the device itself (DEVICE_LINK) under a first line that is no person's name, or
 * a model or asset line ("HP LaserJet 4250 (PRN-04, 2nd floor)"); a block not opening with a person's
 * name is also an alert's own list of labelled contacts when a label line stands between two contact
 * lines ("Dashboard" / link / "On-call" / phone). A person's name above an intranet link is a signature.
 */
function isSignersBlock(block: readonly string[]): boolean {
  const person = PERSON_NAME.test(block[0] ?? '');
  if (!person && block.some((line) => DEVICE_LINK.test(line))) return false;
  if (block.some((line) => !isAddressOrPhone(line) && MODEL_OR_ASSET.test(line))) return false;
  if (person) return true;
  return !block.some(
    (line, index) => index > 0 && !isAddressOrPhone(line) && isAddressOrPhone(block[index - 1] ?? '') && isAddressOrPhone(block[index + 1] ?? ''),
  );
}

/** A person's name as a signature opens with it: two or three capitalised words, a middle initial allowed ("Jane Doe", "John A. Smith"). */
const PERSON_NAME = /^\p{Lu}[\p{Ll}'’-]+(?:\s+\p{Lu}\.)?(?:\s+\p{Lu}[\p{Ll}'’-]+){1,2}$/u;
/** A company's legal form or kind, which no person's name holds. */
const COMPANY_FORM = /\b(?:Ltd|Limited|Inc|Plc|Llc|Gmbh|Corp|Group|Company)\b/;
/** A device's model or asset tag: a word joining capitals and digits ("LaserJet 4250", "PRN-04", "CAM3"), which no person's signature line holds. */
const MODEL_OR_ASSET = /(?:^|[\s(])(?:\p{Lu}+-?\d+|\p{Lu}\p{L}+\s\d{3,})(?=[\s),]|$)/u;

/** The last line of the paragraph that starts at `index`. */
function paragraphEnd(lines: readonly string[], index: number): number {
  let end = index;
  while (end + 1 < lines.length && (lines[end + 1] ?? '').trim() !== '') end++;
  return end;
}

function previousNonBlank(lines: readonly string[], from: number): number {
  let index = from;
  while (index >= 0 && (lines[index] ?? '').trim() === '') index--;
  return index;
}

function nextNonBlank(lines: readonly string[], from: number): number {
  let index = from;
  while (index < lines.length && (lines[index] ?? '').trim() === '') index++;
  return index;
}

/**
 * Control characters show nothing on a phone, and any of them makes the SMS UCS-2 (GSM 03.38 has
 * only LF and CR): terminal escape sequences (ESCAPE_SEQUENCE_SOURCE) and the C0 and C1 controls are removed, vertical
 * tab and form feed become a space (tabs are spaces to tidy), line breaks stay. Removing the ESC alone would leave its
 * printable followers in the SMS (`ERROR(B`, `]0;root@db1: ~`). Tested first: almost no mail has any.
 */
const CONTROL_CHARACTER = String.raw`[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]`;
const CONTROL = new RegExp(`${ESCAPE_SEQUENCE_SOURCE}|${CONTROL_CHARACTER}`, 'u');
const CONTROLS = new RegExp(CONTROL.source, 'gu');
/** The control characters alone, for text no terminal wrote (an SMS). */
const CONTROL_CHARACTERS = new RegExp(CONTROL_CHARACTER, 'g');
/** `ESC E` (NEL): the cursor to the next line's start, a line break as the terminal shows it. */
const NEXT_LINE = '\x1bE';

/**
 * A run of DEC line drawing (`ESC ( 0` … `ESC ( B`, as `dialog`, `whiptail` and `tput smacs`/`rmacs` write a box) within
 * a line: between the two, a terminal draws `lqqqk` as `┌───┐`. The box's corners, lines and tees carry no words and
 * would cost the SMS a character each (UCS-2 for a box character), so they are dropped; the few symbols of the set that
 * do mean something (`°`, `±`, `≤`, `≥`, `π`, `≠`, `£`, `·`) are written as such. A run without its `ESC ( B` on the
 * line is left as written (only the escapes go): such letters are far more likely text than a box.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: ESC starts the sequence.
const LINE_DRAWING = /\x1b\(0([^\x1b\n]*)\x1b\(B/g;
/** DEC special graphics' symbols, by the letter that stands for each in line drawing mode; its other letters (0x5F–0x7E) draw box parts. */
const DRAWN_SYMBOLS: Readonly<Record<string, string>> = { f: '°', g: '±', y: '≤', z: '≥', '{': 'π', '|': '≠', '}': '£', '~': '·' };
/** The characters DEC special graphics draws in place of (the rest are drawn as themselves). */
const DRAWN_IN_LINE_MODE = /[_-~]/g;

/**
 * An SMS's text without its control characters, each removed alone (vertical tab and form feed a space): a phone's text
 * holds no terminal's escape sequences, and a stray ESC (GSM 03.38's escape to its extension table, left by a gateway)
 * must not take the character after it, as reading it as a sequence would.
 */
export function withoutControlCharacters(text: string): string {
  return text.replace(CONTROL_CHARACTERS, (control) => (control === '\v' || control === '\f' ? ' ' : ''));
}

export function withoutControls(text: string): string {
  if (!CONTROL.test(text)) return text;
  return text
    .replace(LINE_DRAWING, (_run, drawn: string) => drawn.replace(DRAWN_IN_LINE_MODE, (letter) => DRAWN_SYMBOLS[letter] ?? ''))
    .replace(CONTROLS, (control) => (control === NEXT_LINE ? '\n' : control === '\v' || control === '\f' ? ' ' : ''));
}

/**
 * Bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069): they reorder what
 * follows where a text is shown (`\u202etxt.exe` reads `exe.txt`). The marks U+200E/U+200F are not
 * among them: right-to-left texts need those to show as written.
 */
export const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/g;

/**
 * Blanks a run of which is one space on a phone: tabs, and the no-break and other Unicode spaces HTML
 * mail writes (`&nbsp;` beside a space), which GSM-7 has not and would keep a run of three.
 */
const BLANK = '[ \\t\\u00a0\\u2000-\\u200a\\u202f\\u205f\\u3000]';
const BLANKS = new RegExp(`${BLANK}+`, 'g');
/**
 * A blank that is no lone plain space (another blank, or a second in a run): BLANKS changes a line only where it has
 * one, so a line without (most lines) is kept as it is, not copied by `replace` (a new string for any match, a space
 * between two words too).
 */
const UNTIDY_BLANKS = new RegExp(`(?! )${BLANK}| ${BLANK}`);

/**
 * Each line trimmed with its inner runs of spaces and tabs made one space, at most one blank line in
 * a row, none at the edges: what costs characters on a phone and carries no meaning. A line that
 * shows nothing (a zero-width space, a bidi mark) is blank, so a text of such lines is empty.
 */
export function tidy(text: string): string {
  return tidiedLines(text.replace(/\r\n?/g, '\n').split('\n'));
}

/** A line break of either kind within a line: such lines are tidied as the text they make. */
const LINE_BREAK = /[\r\n]/;

/**
 * tidy(lines.join('\n')), without the text made only to be split again: the kept lines of every mail's stripping.
 * A line holding a line break (an entity read as one) is rare enough to take the text's way.
 */
function tidyLines(lines: readonly string[]): string {
  return lines.some((line) => LINE_BREAK.test(line)) ? tidy(lines.join('\n')) : tidiedLines(lines);
}

/** tidy's work on a text's lines, none holding a line break. */
function tidiedLines(lines: readonly string[]): string {
  return lines
    .map((line) => {
      const tidied = (UNTIDY_BLANKS.test(line) ? line.replace(BLANKS, ' ') : line).trim();
      return hasVisibleText(tidied) ? tidied : '';
    })
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}
