import { hash } from 'node:crypto';

/**
 * What makes two submissions "the same mail sent again": its Message-ID, the numbers it goes to and
 * the text. A client that lost our 250 sends exactly that again (RFC 5321 §6.1 makes it retry), and
 * the relay must not text the phone twice. Without a Message-ID nothing identifies a mail as a
 * resubmission rather than a second alert with the same words, so none is recognised.
 */
export function resubmissionFingerprint(messageIdHeader: string | undefined, numbers: readonly string[], text: string): string | undefined {
  if (!messageIdHeader) return undefined;
  // One-shot hash: a Hash object per mail cost several µs more (createHash, update, digest), the same digest.
  return hash('sha256', `${messageIdHeader}\n${[...numbers].sort().join(',')}\n${text}`, 'base64url');
}
