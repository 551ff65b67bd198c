import { hash } from 'node:crypto';
import type { Resubmission } from '../store/types.ts';

/**
 * What recognises a mail as "the same mail sent again" (Store#acceptMail): an earlier mail with this fingerprint (its
 * Message-ID, the same set of numbers, the same text) and its Subject, with no mail of another text or Subject under
 * the Message-ID since. A client that lost our 250 sends that again (RFC 5321 §6.1 makes it retry), and the relay
 * must not text the phone twice. Without a Message-ID nothing identifies a mail as a resubmission rather than a second
 * alert with the same words, so none is recognised. The hash is the one every release since schema 2 stored, so a mail
 * stored before an upgrade, or by an older relay of a rolling one, is recognised by its resend.
 */
export function resubmissionOf(messageIdHeader: string | undefined, numbers: readonly string[], text: string, since: number): Resubmission | undefined {
  if (!messageIdHeader) return undefined;
  // One-shot hash: a Hash object per mail cost several µs more (createHash, update, digest), the same digest.
  return { fingerprint: hash('sha256', `${messageIdHeader}\n${[...numbers].sort().join(',')}\n${text}`, 'base64url'), since };
}
