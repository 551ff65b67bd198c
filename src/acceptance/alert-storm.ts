import { FOLDED_CATEGORY, type ReportedRecipient } from '../mailer/dsn.ts';
import type { NewMail, NewOutgoingMail, NewRecipient, StoredMessage } from '../store/types.ts';

/** Builds a report of a kind (the acceptance service's `report`); undefined when none goes out. */
export type BuildReport = (
  kind: 'failed' | 'relayed',
  message: StoredMessage,
  recipients: readonly ReportedRecipient[],
) => Promise<NewOutgoingMail | undefined>;

/**
 * `mail` with the report each of its numbers that asked for success reports (RFC 3461 NOTIFY=SUCCESS) gets if the store
 * folds it as a repeat (AlertStorm.reports): `Action: relayed`, for this mail is handed on to the earlier one, whose SMS
 * stands for it, as a gateway is handed an SMS. Built before the commit (templates are read outside the store) and queued
 * in it only for a number folded, so a crash after the 250 loses none. A number without SUCCESS gets none, as for an SMS
 * sent: it asked to hear of failures, and this mail fails nothing. With the window off, or no number asking, nothing runs.
 */
export async function withFoldReports(mail: NewMail, report: BuildReport | undefined): Promise<NewMail> {
  if (mail.alertStorm === undefined || report === undefined || !mail.recipients.some(asksSuccess)) return mail;
  const reports: { number: string; report: NewOutgoingMail }[] = [];
  for (const recipient of mail.recipients) {
    if (!asksSuccess(recipient)) continue;
    const built = await report('relayed', { ...mail.sms, ...mail }, [{ ...recipient, category: FOLDED_CATEGORY, reason: foldedReason(mail.id), code: '' }]);
    if (built) reports.push({ number: recipient.number, report: built });
  }
  return reports.length === 0 ? mail : { ...mail, alertStorm: { ...mail.alertStorm, reports } };
}

/** It asked for success reports (RFC 3461 NOTIFY=SUCCESS). */
const asksSuccess = (recipient: NewRecipient) => recipient.notify?.includes('SUCCESS') === true;

/** The words of a folded number's report: what was done instead, and where the earlier mail is named. */
const foldedReason = (id: string) =>
  `not sent again: the latest SMS to this number, of an earlier mail within policy.alertStormWindow, is of this same text and has not failed; it stands for this mail (the relay's history of ${id} names it)`;
