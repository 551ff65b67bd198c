import { hash } from 'node:crypto';
import type { Resubmission } from '../store/types.ts';

/** A Date field kept past this is cut (an RFC 5322 date is ≈ 31 characters): stored and compared as cut, alike on every resend. */
const MAX_DATE_CHARS = 200;
/** The first Date field of a header block, with its folded lines (RFC 5322 §2.2.3). */
const DATE_FIELD = /^Date[ \t]*:[ \t]*((?:[^\r\n]|\r?\n(?=[ \t]))*)/im;

/** The mail's Date as written (unfolded, trimmed), or undefined without one: an MTA's queued retry carries it unchanged. */
export function writtenDate(header: string): string | undefined {
  const date = DATE_FIELD.exec(header)?.[1]?.replace(/\r?\n/g, '').trim().slice(0, MAX_DATE_CHARS);
  return date || undefined;
}

/**
 * What recognises a mail as "the same mail sent again" (Store#acceptMail): an earlier mail with this fingerprint (its
 * Message-ID, the same set of numbers, the same text) and its Subject, and either its Date (the same mail queued again
 * by a server, whatever came between) or no mail of another text or Subject under the Message-ID since. A client that
 * lost our 250 sends that again (RFC 5321 §6.1 makes it retry), and the relay must not text the phone twice. Without a
 * Message-ID nothing identifies a mail as a resubmission rather than a second alert with the same words, so none is
 * recognised. The hash is the one every release since schema 2 stored, so a mail stored before an upgrade, or by an
 * older relay of a rolling one, is recognised by its resend.
 */
export function resubmissionOf(
  messageIdHeader: string | undefined,
  numbers: readonly string[],
  text: string,
  since: number,
  date?: string | undefined,
): Resubmission | undefined {
  if (!messageIdHeader) return undefined;
  // One-shot hash: a Hash object per mail cost several µs more (createHash, update, digest), the same digest.
  const fingerprint = hash('sha256', `${messageIdHeader}\n${[...numbers].sort().join(',')}\n${text}`, 'base64url');
  return { fingerprint, since, date };
}
