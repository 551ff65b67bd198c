import { FOLDED_CATEGORY, type ReportedRecipient } from '../mailer/dsn.ts';
import type { FoldedRecipient, LatestSms, NewMail, NewOutgoingMail, Store, StoredMessage } from '../store/types.ts';

/**
 * Alert-storm control (`policy.alertStormWindow`): a monitor re-sending one alert texts each number once. A number is
 * folded only onto its latest SMS within the window (foldsOnto), and only once the gateway took that SMS: nothing
 * queued, held, scheduled or in flight can later fail, expire or be deleted with a folded mail depending on it. Two
 * identical alerts committed at once are both queued, so both are sent: a duplicate, never a lost alert. Read before
 * the commit (one indexed read per number); the folded numbers leave `recipients`, so they count against no budget.
 */
export async function foldRepeats(mail: NewMail, store: Pick<Store, 'latestSmsTo'>, since: number): Promise<NewMail> {
  const latest = await store.latestSmsTo(
    mail.recipients.map((recipient) => recipient.number),
    since,
  );
  const onto = new Map(latest.filter((sms) => foldsOnto(sms, mail)).map((sms) => [sms.number, sms]));
  if (onto.size === 0) return mail;
  const folded: FoldedRecipient[] = [];
  for (const recipient of mail.recipients) {
    const earlier = onto.get(recipient.number);
    if (earlier) folded.push({ ...recipient, earlier: earlier.messageId, earlierSms: earlier.smsId });
  }
  return { ...mail, recipients: mail.recipients.filter((recipient) => !onto.has(recipient.number)), folded };
}

/**
 * `mail` repeats the number's latest SMS `sms`: the gateway took it (sent or delivered, no failure reported), and it is
 * of the same text from the same sender: the envelope sender, the account it came in under, the gateway account and
 * sender id it went out with, and the phone's replies to it reach the mailbox this mail's would (its conversation's
 * mailbox, or its very context where this mail continues a conversation), so a fold changes nothing the phone sees or
 * answers. Another text since (PROBLEM, RECOVERY, PROBLEM) makes another SMS the latest: the next is sent.
 */
function foldsOnto(sms: LatestSms, mail: NewMail): boolean {
  const replies = mail.conversation?.continues
    ? sms.userContext === mail.sms.userContext
    : sms.mailbox?.toLowerCase() === mail.conversation?.mailbox.toLowerCase();
  return (
    sms.accepted &&
    sms.text === mail.sms.text &&
    sms.envelopeFrom.toLowerCase() === mail.envelopeFrom.toLowerCase() &&
    sms.account === mail.account &&
    sms.gatewayAccount === mail.gatewayAccount &&
    sms.senderId === mail.sms.senderId &&
    replies
  );
}

/** Builds a report of a kind (the acceptance service's `report`); undefined when none goes out. */
export type BuildReport = (
  kind: 'failed' | 'relayed',
  message: StoredMessage,
  recipients: readonly ReportedRecipient[],
) => Promise<NewOutgoingMail | undefined>;

/**
 * The report of `mail`'s folded numbers that asked for success reports (RFC 3461 NOTIFY=SUCCESS), built before the
 * commit and queued in it: `Action: relayed`, naming the earlier mail whose SMS the gateway took, as a gateway's taking
 * is reported for an SMS sent. A number without SUCCESS gets none, as for an SMS sent.
 */
export async function foldReport(mail: NewMail, report: BuildReport | undefined): Promise<NewOutgoingMail | undefined> {
  const asking = (mail.folded ?? []).filter((recipient) => recipient.notify?.includes('SUCCESS') === true);
  if (asking.length === 0 || report === undefined) return undefined;
  return report(
    'relayed',
    { ...mail.sms, ...mail },
    asking.map((recipient) => ({ ...recipient, category: FOLDED_CATEGORY, reason: foldedReason(recipient.earlier), code: '' })),
  );
}

/** The words of a folded number's report: what was done instead, naming the earlier mail. */
const foldedReason = (earlier: string) =>
  `not sent again: the same alert from you within policy.alertStormWindow, mail ${earlier}, was taken by the SMS network for this number; that SMS stands for this mail`;
