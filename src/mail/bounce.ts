import { canonicalDomain } from './addresses.ts';
import { AUTO_REPLY_SUBJECT, autoReplyMark, LOOP_HEADER } from './extract.ts';
import type { ParsedMail } from './mime.ts';
import { anyOf, BOUNCE_SUBJECTS, DELAY_SUBJECTS, DELAY_WORDINGS, PERSONS_QUOTE_MARKER, RETURNED_MESSAGE_MARKERS } from './wordings.ts';

/** What a bounce says of the mail it is about. */
export interface Bounce {
  /** The mail was refused for good (RFC 3464 `Action: failed` for its recipient, or a bounce's subject); false for a delay or success report. */
  readonly failed: boolean;
  /** The remote reason on one line, bounded: the status and the remote server's words where the bounce gives them. */
  readonly reason: string;
  /**
   * The address a report refused for good when it is not the mail's recipient but one behind it (a
   * list's member, an alias's target): the mail reached its recipient, so it is not failed.
   */
  readonly behind?: string;
}

/**
 * A mail to a return path that is no bounce: an auto-reply (a vacation answer), or one read as neither
 * (`unclassified`: a bounce in words the relay does not know, or a person's mail), which the operator
 * should see.
 */
export interface NotABounce {
  readonly notABounce: 'auto-reply' | 'unclassified';
}

/** A mail to a reply mail's return path, as readBounce reads it. */
export interface ToReturnPath {
  readonly mail: ParsedMail;
  /** The mail as it came: the returned reply mail may be an attached message, which `mail.text` leaves out. */
  readonly raw: Buffer;
  /** The envelope sender: `''` for the null sender, which bounces come from (RFC 5321 §4.5.5). */
  readonly envelopeFrom: string;
  /** The mailbox the reply mail went to. */
  readonly recipient: string;
  /** The reply mail's return path (its envelope sender), which a returned copy names. */
  readonly returnPath: string;
}

/** The reason kept from a bounce: a remote server's reply line fits, a pasted mail does not. */
const MAX_REASON_CHARS = 300;

/** A subject beginning with one of `words`; some end in punctuation, after which `\b` would need a letter, so "no letter or digit next". */
function subjectStarting(words: readonly string[]): RegExp {
  return new RegExp(`^\\s*(?:${anyOf(words)})(?![\\p{L}\\p{N}])`, 'iu');
}

const BOUNCE_SUBJECT = subjectStarting(BOUNCE_SUBJECTS);
const DELAY_SUBJECT = subjectStarting(DELAY_SUBJECTS);
/**
 * An RFC 3463 enhanced status code, as DSNs and NDRs write it: not part of a longer dotted number (an
 * IP address such as `[5.9.10.11]`, a version) nor inside brackets.
 */
const STATUS_CODE = /(?<![\d.[])([245])\.\d{1,3}\.\d{1,3}(?![\d.\]])/;
/** An SMTP reply code (RFC 5321 §4.2) where a bounce quotes the remote server: a line's start, after a colon (`host …: 550`), or "returned '550". */
const SMTP_REPLY = /(?:^\s*|:\s+|\breturned\s+'?)([45])\d\d(?=[\s-]|$)/i;
/** The line where a bounce starts quoting the returned mail: what follows is the reply mail's own text (the SMS), no reason. */
const RETURNED_MESSAGE = new RegExp(`^[\\s-]*(?:${anyOf(RETURNED_MESSAGE_MARKERS)})`, 'im');
const DELAY_WORDING = new RegExp(anyOf(DELAY_WORDINGS), 'iu');
/**
 * What only a bounce writes around a status: Exim's "SMTP error from remote mail server", an RFC 3464
 * field pasted into a plain bounce, qmail's `(#5.1.1)`, Gmail's "The error that the other server returned
 * was" and "Technical details of permanent failure". MTAs mark their bounces as auto-replies too
 * (Exim, Postfix), and a vacation answer may hold a phone number (`555 0100`) or a date (`5.1.25`) that
 * reads as a status: in a mail with an auto-reply's mark, a status counts only with one of these (or
 * the returned mail's marker) beside it.
 */
const BOUNCE_CONTEXT =
  /\bSMTP error\b|^\s*(?:Diagnostic-Code|Remote-MTA)\s*:|\(#[45]\.\d{1,3}\.\d{1,3}\)|\bThe error that the other server returned was\b|\bTechnical details of (?:permanent|temporary) failure\b/im;
/** The one returned-mail marker (RETURNED_MESSAGE_MARKERS) that a person's quote writes too. */
const PERSONS_QUOTE = new RegExp(anyOf([PERSONS_QUOTE_MARKER]), 'i');
/** The relay's own header on a line of its own: a returned copy of its reply mail carries it. */
const OWN_HEADER = new RegExp(`^${LOOP_HEADER}\\s*:`, 'im');

/**
 * What a mail to a reply mail's return path says of that mail. An RFC 3464 report (`text` then holds
 * its `message/delivery-status` fields; RFC 6533's `global-` form is an attachment) fails the mail when a block that
 * failed names `recipient`, the mail's mailbox, as its Final- or Original-Recipient (RFC 3464 §2.3);
 * one failed for another address only says so (`behind`). Without a report the content decides before
 * the subject: a mail from `<>` that is no auto-reply fails it when, above the returned mail, it gives
 * a permanent status (5.x.x, a 5xx reply) or, giving no delay (a 4.x.x status, an MTA's delay words),
 * returns the reply mail below a returned mail's marker; it changes nothing when it gives a delay. In
 * a mail with an auto-reply's mark (extract.ts's list), a status counts only beside a bounce's own words
 * (BOUNCE_CONTEXT, or the marker). What content leaves open the subject decides (an NDR sent from an
 * address: a bounce subject fails it, a delay subject with a delay's content changes nothing). An
 * auto-reply (a mark without a bounce's content, its subject) or a read receipt (RFC 8098) is no
 * bounce; neither is anything else, `unclassified`.
 */
export function readBounce(bounce: ToReturnPath): Bounce | NotABounce {
  const { mail } = bounce;
  if (isDispositionNotification(mail)) return { notABounce: 'auto-reply' };
  const text = mail.text ?? '';
  const returned = text.search(RETURNED_MESSAGE);
  const told = returned < 0 ? text : text.slice(0, returned);
  // A report's fields are its own part; a plain bounce's lines below the marker are the returned mail's words.
  const blocks = recipientBlocks(isReport(mail) ? [text, ...globalReports(mail)].join('\n\n') : told);
  if (blocks.length > 0) return fromReport(blocks, bounce.recipient);
  const subject = mail.subject?.trim() ?? '';
  const lines = told.split(/\r?\n/);
  const marker = returned >= 0;
  // Outlook's "-----Original Message-----" is also how a person's (or an out-of-office's) quote begins: beside an
  // auto-reply's mark it is no bounce's own word, where qmail's or Exim's copy markers are.
  const bounceMarker = marker && !PERSONS_QUOTE.test(RETURNED_MESSAGE.exec(text)?.[0] ?? '');
  // An auto-reply's mark (RFC 3834's, which MTAs set on bounces too, or a responder's own) leaves a bare
  // number no status: a phone number or a date in a vacation answer reads as one. Only a bounce's own words beside it make it one.
  const autoMarked = autoReplyMark(mail) !== undefined;
  const codesCount = !autoMarked || bounceMarker || BOUNCE_CONTEXT.test(told);
  const coded = (digit: string) => (codesCount ? lines.find((line) => codeClass(line) === digit) : undefined);
  const permanent = coded('5');
  const delay = coded('4') ?? lines.find((line) => DELAY_WORDING.test(line));
  // Only below a bounce's marker is a copy of the reply mail returned: quoted anywhere else (a vacation answer quoting it), it is anyone's quote.
  const returnsReplyMail = (autoMarked ? bounceMarker : marker) && returnsMail(bounce);
  if (AUTO_REPLY_SUBJECT.test(subject) || (autoMarked && !permanent && !delay && !returnsReplyMail && !BOUNCE_SUBJECT.test(subject)))
    return { notABounce: 'auto-reply' };
  const reason = (line: string | undefined) => bounded(unlabelled(line) || underMailbox(lines, bounce.recipient) || subject);
  if (bounce.envelopeFrom === '') {
    if (permanent) return { failed: true, reason: reason(permanent) };
    if (delay) return { failed: false, reason: reason(delay) };
    if (returnsReplyMail) return { failed: true, reason: reason(undefined) };
  }
  if (BOUNCE_SUBJECT.test(subject)) return { failed: true, reason: reason(permanent ?? delay) };
  if (DELAY_SUBJECT.test(subject) && delay) return { failed: false, reason: reason(delay) };
  return { notABounce: 'unclassified' };
}

/** Sendmail's `(reason: 550 5.1.1 … User unknown)`: the server's words without the label around them. */
const REASON_LABEL = /^\(reason:\s*(.*)\)$/i;

function unlabelled(line: string | undefined): string | undefined {
  const trimmed = line?.trim();
  return trimmed && (REASON_LABEL.exec(trimmed)?.[1] ?? trimmed);
}

/**
 * The line a plain bounce writes under the failed address when it gives no status on it: Exim's
 * `retry timeout exceeded` or `Unrouteable address` below `  alice@example.com`, qmail's `Sorry, I
 * couldn't find any host named …` and Yahoo's `554: delivery error: …` below `<alice@example.com>:`.
 * Only above the returned mail (`lines`), so never the SMS's words.
 */
function underMailbox(lines: readonly string[], mailbox: string): string | undefined {
  const named = new RegExp(`^\\s*<?${anyOf([mailbox])}>?:?\\s*$`, 'i');
  const at = lines.findIndex((line) => named.test(line));
  return at < 0
    ? undefined
    : lines
        .slice(at + 1)
        .find((line) => line.trim() !== '')
        ?.trim();
}

/** The class of the first status or SMTP reply code on `line` ('5' permanent, '4' transient, '2' success), if any. */
function codeClass(line: string): string | undefined {
  return STATUS_CODE.exec(line)?.[1] ?? SMTP_REPLY.exec(line)?.[1];
}

/** RFC 6533's UTF-8 delivery reports, which simpleParser leaves attachments (it reads only the ASCII form into the text). */
function globalReports(mail: ParsedMail): string[] {
  return mail.attachments.flatMap(({ contentType, content }) =>
    contentType === 'message/global-delivery-status' && content !== undefined ? [content.toString('utf8')] : [],
  );
}

/** A read receipt (RFC 8098, `report-type=disposition-notification`): the reply mail was delivered, and read. */
function isDispositionNotification(mail: ParsedMail): boolean {
  const contentType = mail.headers.get('content-type') as { params?: Record<string, string> } | undefined;
  return isReport(mail) && /^(?:global-)?disposition-notification$/i.test(contentType?.params?.['report-type'] ?? '');
}

function isReport(mail: ParsedMail): boolean {
  return /^multipart\/report\b/i.test(contentTypeOf(mail.headers.get('content-type')));
}

function contentTypeOf(header: unknown): string {
  return typeof header === 'object' && header !== null && 'value' in header ? String(header.value) : String(header ?? '');
}

/** Whether the bounce holds a copy of the reply mail (inline or attached, whole or its headers): below its own header section, the relay's header or the return path. */
function returnsMail({ raw, returnPath }: ToReturnPath): boolean {
  const whole = raw.toString('latin1');
  const end = /\r?\n\r?\n/.exec(whole);
  const body = end === null ? '' : whole.slice(end.index);
  return OWN_HEADER.test(body) || body.toLowerCase().includes(returnPath.toLowerCase());
}

type Block = ReadonlyMap<string, string>;

function fromReport(blocks: readonly Block[], recipient: string): Bounce {
  const failed = blocks.filter(isFailed);
  const first = failed[0];
  if (first === undefined) return { failed: false, reason: reasonOf(blocks[0] as Block) };
  const own = failed.find((block) => namesMailbox(block, recipient));
  if (own) return { failed: true, reason: reasonOf(own) };
  const original = first.get('original-recipient');
  return {
    failed: false,
    reason: reasonOf(first),
    behind: (original === undefined ? addressOf(first.get('final-recipient')) : addressOf(original, true)) ?? '',
  };
}

/**
 * Whether a report's block is about `mailbox`. Its Original-Recipient, where given, is the address the
 * relay sent to (the ORCPT it passes, RFC 3461 §4.2), as sendmail and Exim print it still encoded
 * (`alice+2Bsms@`: decoded by addressOf); either it or the Final-Recipient naming the mailbox makes the
 * block the mailbox's. An MTA may write the Final-Recipient as the base address of a subaddress
 * (`alice@` for `alice+sms@`) after stripping the tag for delivery: with no Original-Recipient to say
 * otherwise, that is the mailbox too.
 */
function namesMailbox(block: Block, mailbox: string): boolean {
  const original = block.get('original-recipient');
  const final = addressOf(block.get('final-recipient'));
  if (original !== undefined) return sameMailbox(addressOf(original, true), mailbox) || sameMailbox(final, mailbox);
  if (sameMailbox(final, mailbox)) return true;
  const at = mailbox.lastIndexOf('@');
  const tag = mailbox.indexOf('+');
  return tag > 0 && tag < at && sameMailbox(final, `${mailbox.slice(0, tag)}${mailbox.slice(at)}`);
}

/** A block that says its recipient failed: `Action: failed`, or without an Action a status neither 2.x.x nor 4.x.x. */
function isFailed(block: Block): boolean {
  const action = block.get('action')?.toLowerCase();
  const status = block.get('status');
  return action === undefined ? !status?.startsWith('2') && !status?.startsWith('4') : action === 'failed';
}

function reasonOf(block: Block): string {
  const words = [block.get('status'), block.get('diagnostic-code')].filter((part) => part !== undefined).join(' ');
  return bounded(words || `${block.get('action') ?? 'failed'} (no status given)`);
}

/**
 * A recipient field's address: `rfc822; <bob@example.com>` → `bob@example.com` (RFC 3464 §2.3.2, the
 * address type before the `;`). An Original-Recipient (`orcpt`) copied into the report as the ORCPT was
 * sent is still encoded: xtext's `+HH` (RFC 3461 §4: `alice+2Bsms@` is `alice+sms@`) or, in a `utf-8`
 * one, `\x{HEX}` (RFC 6533 §3): decoded. A Final-Recipient is a plain address (`ops+DB@` stays so).
 */
function addressOf(field: string | undefined, orcpt = false): string | undefined {
  if (field === undefined) return undefined;
  const address = field
    .slice(field.indexOf(';') + 1)
    .trim()
    .replace(/^<(.*)>$/, '$1');
  const decoded = orcpt ? decodedOrcpt(address) : address;
  return decoded === '' ? undefined : decoded;
}

function decodedOrcpt(address: string): string {
  return address
    .replace(/\+([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)))
    .replace(/\\x\{([0-9A-Fa-f]{1,6})\}/g, (_, hex: string) => String.fromCodePoint(Math.min(Number.parseInt(hex, 16), 0x10ffff)));
}

/**
 * Whether a report's address is `mailbox` written another way: its domain in Unicode (RFC 6533's
 * `utf-8;` type: `alice@bücher.example` is `alice@xn--bcher-kva.example`, RFC 5890), with the root's
 * trailing dot, or in other letter case; its local part quoted where it needs no quotes (RFC 5321
 * §4.1.2: `"alice"` is `alice`). Letter case is ignored in the local part as well: the relay never takes
 * two mailboxes that differ only by it, and MTAs report the case they were given or their own.
 */
function sameMailbox(address: string | undefined, mailbox: string): boolean {
  const key = address === undefined ? undefined : mailboxKey(address);
  return key !== undefined && key === mailboxKey(mailbox);
}

/** A mailbox in one form: its local part unquoted, its domain as A-labels without the trailing dot, all lower case. */
function mailboxKey(address: string): string | undefined {
  const at = address.lastIndexOf('@');
  if (at <= 0) return undefined;
  const written = address.slice(0, at);
  const local = /^"(.*)"$/s.test(written) ? written.slice(1, -1).replace(/\\(.)/gs, '$1') : written;
  const domain = address.slice(at + 1);
  // canonicalDomain gives '' for a domain IDNA refuses: such a domain is compared as written.
  return `${local.toLowerCase()}@${canonicalDomain(domain) || domain.toLowerCase()}`;
}

/** The fields of each of a report's per-recipient blocks, by lower-case name, folded lines unfolded; none when `text` holds no report. */
function recipientBlocks(text: string): Block[] {
  const unfolded = text.replace(/\r?\n[ \t]+/g, ' ');
  return unfolded
    .split(/\r?\n\s*\r?\n/)
    .filter((candidate) => /^(?:Final|Original)-Recipient\s*:/im.test(candidate) && /^(?:Action|Status)\s*:/im.test(candidate))
    .map((block) => {
      const fields = new Map<string, string>();
      for (const line of block.split(/\r?\n/)) {
        const field = /^([A-Za-z-]+)\s*:\s*(.*)$/.exec(line);
        if (field?.[1] && field[2] !== undefined && !fields.has(field[1].toLowerCase())) fields.set(field[1].toLowerCase(), field[2].trim());
      }
      return fields;
    });
}

function bounded(words: string): string {
  return words
    .replace(/\s+/g, ' ')
    .replace(/\p{Cc}/gu, '')
    .trim()
    .slice(0, MAX_REASON_CHARS);
}
