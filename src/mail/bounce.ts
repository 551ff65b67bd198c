import type { ParsedMail } from './mime.ts';
import { anyOf, BOUNCE_SUBJECTS, DELAY_SUBJECTS, RETURNED_MESSAGE_MARKERS } from './wordings.ts';

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

/** The reason kept from a bounce: a remote server's reply line fits, a pasted mail does not. */
const MAX_REASON_CHARS = 300;

/** A subject beginning with one of `words`; some end in punctuation, after which `\b` would need a letter, so "no letter or digit next". */
function subjectStarting(words: readonly string[]): RegExp {
  return new RegExp(`^\\s*(?:${anyOf(words)})(?![\\p{L}\\p{N}])`, 'iu');
}

const BOUNCE_SUBJECT = subjectStarting(BOUNCE_SUBJECTS);
const DELAY_SUBJECT = subjectStarting(DELAY_SUBJECTS);
/** An RFC 3463 enhanced status code, as DSNs and NDRs write it. */
const STATUS_CODE = /\b([245])\.\d{1,3}\.\d{1,3}\b/;
/** An SMTP reply code (RFC 5321 §4.2) where a bounce quotes the remote server: a line's start, after a colon (`host …: 550`), or "returned '550". */
const SMTP_REPLY = /(?:^\s*|:\s+|\breturned\s+'?)[45]\d\d(?=[\s-]|$)/i;
/** The line where a bounce starts quoting the returned mail: what follows is the reply mail's own text (the SMS), no reason. */
const RETURNED_MESSAGE = new RegExp(`^[\\s-]*(?:${anyOf(RETURNED_MESSAGE_MARKERS)})`, 'im');

/**
 * What a mail to a reply mail's return path says of that mail, or undefined when it is no bounce.
 * An RFC 3464 report (`text` then holds its `message/delivery-status` fields) fails the mail when a
 * block that failed names `recipient`, the mail's mailbox, as its Final- or Original-Recipient (RFC
 * 3464 §2.3); one failed for another address only says so (`behind`). Without a report the subject
 * decides (the sender does not: Sieve's vacation answers from `<>` too, RFC 3834): an MTA's bounce
 * subject fails it, a delay warning's changes nothing, anything else (an auto-reply) is no bounce.
 */
export function readBounce(mail: ParsedMail, recipient: string): Bounce | undefined {
  const text = mail.text ?? '';
  const blocks = recipientBlocks(text);
  if (blocks.length > 0) return fromReport(blocks, recipient);
  const subject = mail.subject?.trim() ?? '';
  const failed = BOUNCE_SUBJECT.test(subject);
  if (!failed && !DELAY_SUBJECT.test(subject)) return undefined;
  const returned = text.search(RETURNED_MESSAGE);
  const told = returned < 0 ? text : text.slice(0, returned);
  const line = told.split(/\r?\n/).find((candidate) => STATUS_CODE.test(candidate) || SMTP_REPLY.test(candidate));
  return { failed, reason: bounded(line?.trim() || subject) };
}

type Block = ReadonlyMap<string, string>;

function fromReport(blocks: readonly Block[], recipient: string): Bounce {
  const failed = blocks.filter(isFailed);
  const first = failed[0];
  if (first === undefined) return { failed: false, reason: reasonOf(blocks[0] as Block) };
  const own = failed.find((block) => ['final-recipient', 'original-recipient'].some((name) => sameAddress(addressOf(block.get(name)), recipient)));
  if (own) return { failed: true, reason: reasonOf(own) };
  return { failed: false, reason: reasonOf(first), behind: addressOf(first.get('final-recipient') ?? first.get('original-recipient')) ?? '' };
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

/** A recipient field's address: `rfc822; <bob@example.com>` → `bob@example.com` (RFC 3464 §2.3.2, the address type before the `;`). */
function addressOf(field: string | undefined): string | undefined {
  if (field === undefined) return undefined;
  const address = field
    .slice(field.indexOf(';') + 1)
    .trim()
    .replace(/^<(.*)>$/, '$1');
  return address === '' ? undefined : address;
}

function sameAddress(address: string | undefined, recipient: string): boolean {
  return address !== undefined && address.toLowerCase() === recipient.toLowerCase();
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
