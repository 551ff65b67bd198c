import { hash } from 'node:crypto';
import { keyOfJoined } from '../store/numbers-key.ts';
import type { Resubmission } from '../store/types.ts';

/**
 * What recognises a mail as "the same mail sent again" (Store#acceptMail): the latest mail under its Message-ID to the
 * same numbers must have its text, compared by this fingerprint, and its Subject (compared by the store). A client
 * that lost our 250 sends that again (RFC 5321 §6.1 makes it retry), and the relay must not text the phone twice.
 * Without a Message-ID nothing identifies a mail as a resubmission rather than a second alert with the same words, so
 * none is recognised. The fingerprint still hashes the Message-ID and numbers with the text, as it did before schema
 * 38: a mail stored before the upgrade is then recognised by the mail resent after it.
 */
export function resubmissionOf(messageIdHeader: string | undefined, numbers: readonly string[], text: string, since: number): Resubmission | undefined {
  if (!messageIdHeader) return undefined;
  const joined = [...numbers].sort().join(',');
  // One-shot hash: a Hash object per mail cost several µs more (createHash, update, digest), the same digest.
  const fingerprint = hash('sha256', `${messageIdHeader}\n${joined}\n${text}`, 'base64url');
  return { numbersKey: keyOfJoined(joined), fingerprint, since };
}
