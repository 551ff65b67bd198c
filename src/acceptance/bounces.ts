import { RelayError } from '../errors.ts';
import { readBounce } from '../mail/bounce.ts';
import { parseMail } from '../mail/extract.ts';
import type { ReplyStore } from '../store/types.ts';
import type { ReturnPath } from './recipient-addresses.ts';
import type { AcceptedBounce, Transaction } from './types.ts';

/** The reply mail's return path a transaction's bounce goes to, or undefined for one to numbers or the postmaster (RCPT keeps them apart). */
export function bounceOf(transaction: Transaction): ReturnPath | undefined {
  for (const { target } of transaction.recipients.values()) if ('bounce' in target) return target.bounce;
  return undefined;
}

/**
 * A mail to a reply mail's return path: a bounce from a server behind the smarthost, which took the
 * mail (docs/replies.md). One that says the mail was refused for good at its mailbox fails the mail
 * with the remote reason and lists its SMS as undeliverable; a delay or success report, or a refusal
 * of an address behind the mailbox (a list's member), changes nothing; a mail that is no bounce (an
 * auto-reply) is refused (NOT_A_BOUNCE): nothing sent to this address is texted or kept.
 */
export async function takeBounce(returnPath: ReturnPath, raw: Buffer, store: Pick<ReplyStore, 'bounceReplyMail'>): Promise<AcceptedBounce['bounce']> {
  const bounce = readBounce(await parseMail(raw), returnPath.mailbox);
  if (bounce === undefined) throw new RelayError('NOT_A_BOUNCE');
  const { failed, reason, behind } = bounce;
  if (!failed) return { failed: false, reason, ...(behind === undefined ? {} : { behind: { address: behind, mailbox: returnPath.mailbox } }) };
  const bounced = await store.bounceReplyMail(returnPath.inboundId, returnPath.returnPath, `bounced after the smarthost took it: ${reason}`);
  // RCPT found the mail, and no mail row is ever deleted: only a store restored from an older backup in between lacks it.
  if (!bounced) throw new RelayError('UNKNOWN_RETURN_PATH');
  return { failed: true, reason, ...bounced };
}
