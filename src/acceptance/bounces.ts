import { RELAY_ERRORS, RelayError } from '../errors.ts';
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

/** The refusal of an unread bounce quotes its subject so far: enough to know it again in the log. */
const MAX_SUBJECT_CHARS = 100;

/**
 * A mail to a reply mail's return path: a bounce from a server behind the smarthost, which took the
 * mail (docs/replies.md). One that says the mail was refused for good at its mailbox fails the mail
 * with the remote reason and lists its SMS as undeliverable; a delay or success report, or a refusal
 * of an address behind the mailbox (a list's member), changes nothing; an auto-reply is refused
 * (NOT_A_BOUNCE), and so is a mail read as neither (UNREAD_BOUNCE, which the SMTP layer logs at warn:
 * it may be a bounce in words the relay does not know): nothing sent to this address is texted or kept.
 */
export async function takeBounce(
  returnPath: ReturnPath,
  envelopeFrom: string,
  raw: Buffer,
  store: Pick<ReplyStore, 'bounceReplyMail'>,
): Promise<AcceptedBounce['bounce']> {
  const mail = await parseMail(raw);
  const bounce = readBounce({ mail, raw, envelopeFrom, recipient: returnPath.mailbox, returnPath: returnPath.returnPath });
  if ('notABounce' in bounce) {
    if (bounce.notABounce === 'auto-reply') throw new RelayError('NOT_A_BOUNCE');
    throw new RelayError(
      'UNREAD_BOUNCE',
      `${RELAY_ERRORS.UNREAD_BOUNCE.text} (subject: ${JSON.stringify(mail.subject?.trim().slice(0, MAX_SUBJECT_CHARS) ?? '')})`,
    );
  }
  const { failed, reason, behind } = bounce;
  if (!failed) return { failed: false, reason, ...(behind === undefined ? {} : { behind: { address: behind, mailbox: returnPath.mailbox } }) };
  const bounced = await store.bounceReplyMail(returnPath.inboundId, returnPath.returnPath, `bounced after the smarthost took it: ${reason}`);
  // RCPT found the mail, and no mail row is ever deleted: only a store restored from an older backup in between lacks it.
  if (!bounced) throw new RelayError('UNKNOWN_RETURN_PATH');
  return { failed: true, reason, ...bounced };
}
