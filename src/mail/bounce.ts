import type { ParsedMail } from './mime.ts';
import { anyOf, BOUNCE_SUBJECTS } from './wordings.ts';

/** What a bounce says of the mail it is about. */
export interface Bounce {
  /** The mail was refused for good (RFC 3464 `Action: failed`, or a 5.x.x status); false for a delay or success report. */
  readonly failed: boolean;
  /** The remote reason on one line, bounded: the status and the remote server's words where the bounce gives them. */
  readonly reason: string;
}

/** The reason kept from a bounce: a remote server's reply line fits, a pasted mail does not. */
const MAX_REASON_CHARS = 300;
const BOUNCE_SUBJECT = new RegExp(`^\\s*(?:${anyOf(BOUNCE_SUBJECTS)})\\b`, 'iu');
/** An RFC 3463 enhanced status code, as DSNs and NDRs write it. */
const STATUS_CODE = /\b([245])\.\d{1,3}\.\d{1,3}\b/;

/**
 * Whether a mail is a bounce: from the null sender (RFC 5321 §4.5.5), an RFC 3464 report (`text` then
 * holds its `message/delivery-status` fields), or an MTA's own bounce from an address (BOUNCE_SUBJECTS).
 */
export function isBounce(mail: ParsedMail, envelopeFrom: string): boolean {
  return envelopeFrom === '' || deliveryStatus(mail.text ?? '') !== undefined || BOUNCE_SUBJECT.test(mail.subject ?? '');
}

/**
 * What a bounce says: its report's first recipient's Action, Status and Diagnostic-Code (RFC 3464
 * §2.3), else (an NDR or an MTA's text) the first line of its text holding an enhanced status code.
 * A bounce that names no status at all reads as failed: a bounce is the refusal, and a delay warning
 * says "delayed" in a report or a 4.x.x status.
 */
export function readBounce(mail: ParsedMail): Bounce {
  const text = mail.text ?? '';
  const report = deliveryStatus(text);
  if (report) {
    const status = report.get('status');
    const action = report.get('action')?.toLowerCase();
    const failed = action === undefined ? !status?.startsWith('2') && !status?.startsWith('4') : action === 'failed';
    const words = [status, report.get('diagnostic-code')].filter((part) => part !== undefined).join(' ');
    return { failed, reason: bounded(words || `${action ?? 'failed'} (no status given)`) };
  }
  const line = text.split(/\r?\n/).find((candidate) => STATUS_CODE.test(candidate));
  const status = line === undefined ? undefined : STATUS_CODE.exec(line)?.[1];
  const subject = mail.subject?.trim() ?? '';
  return { failed: status === undefined || status === '5', reason: bounded(line?.trim() || subject || 'a bounce naming no reason') };
}

/** The fields of a report's first per-recipient block, by lower-case name, folded lines unfolded; undefined when `text` holds none. */
function deliveryStatus(text: string): Map<string, string> | undefined {
  const unfolded = text.replace(/\r?\n[ \t]+/g, ' ');
  const blocks = unfolded.split(/\r?\n\s*\r?\n/);
  const block = blocks.find((candidate) => /^(?:Final|Original)-Recipient\s*:/im.test(candidate) && /^(?:Action|Status)\s*:/im.test(candidate));
  if (block === undefined) return undefined;
  const fields = new Map<string, string>();
  for (const line of block.split(/\r?\n/)) {
    const field = /^([A-Za-z-]+)\s*:\s*(.*)$/.exec(line);
    if (field?.[1] && field[2] !== undefined && !fields.has(field[1].toLowerCase())) fields.set(field[1].toLowerCase(), field[2].trim());
  }
  return fields;
}

function bounded(words: string): string {
  return words
    .replace(/\s+/g, ' ')
    .replace(/\p{Cc}/gu, '')
    .trim()
    .slice(0, MAX_REASON_CHARS);
}
