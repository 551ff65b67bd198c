import type { NewMail, NewOutgoingMail, NewRecipient } from './types.ts';

/**
 * Alert-storm control (`policy.alertStormWindow`), decided inside the transaction that commits the mail (Store#acceptMail),
 * by both stores alike: on SQLite's single writer, and on PostgreSQL after ALERT_STORM_LOCK_CLASS's lock of each of its
 * numbers, so two mails of one text committed at once fold (one is sent), where a read before the commit let both through.
 */

/**
 * The latest SMS to a number (its highest id, by the index outbound_number), with its mail's time, whether its text is
 * `$text`, and whether it is live: queued (held, scheduled, in flight) or sent, with no delivery report of failure. A
 * failed, expired or deleted one, a list member refused at acceptance, one the network reported failed, never reached
 * the phone: a resend of it is sent. `number`: the SQL of the number looked up; `text`: of the mail's text.
 */
export const latestSmsTo = (number: string, text: string) => `
  SELECT o.id AS sms_id, o.message_id, m.received_at, m.text = ${text} AS same,
    o.status IN ('queued', 'sent') AND (o.delivery IS NULL OR o.delivery NOT IN ('failed', 'expired')) AS live
  FROM outbound o JOIN messages m ON m.id = o.message_id WHERE o.number = ${number} ORDER BY o.id DESC LIMIT 1`;

/** A row of latestSmsTo (SQLite answers its conditions 0 or 1, PostgreSQL true or false). */
export interface LatestSms {
  readonly sms_id: number | string;
  readonly message_id: string;
  readonly received_at: number | string;
  readonly same: boolean | number;
  readonly live: boolean | number;
}

/**
 * The earlier mail a number's SMS of this mail is a true repeat of: the latest text to it within the window is this
 * same text (no other text to it since: PROBLEM, RECOVERY, PROBLEM are three SMS) and that SMS is live. Undefined: sent.
 */
export function foldedInto(latest: LatestSms | undefined, since: number): { readonly earlier: string; readonly smsId: number } | undefined {
  if (latest === undefined || !latest.same || !latest.live || Number(latest.received_at) < since) return undefined;
  return { earlier: latest.message_id, smsId: Number(latest.sms_id) };
}

/** The history lines of a fold: on the folded mail (no SMS of its own to that number), and on the earlier SMS. */
export const FOLDED_EVENT = 'folded';
export const REPEATED_EVENT = 'repeated';
export const foldedDetail = (recipient: NewRecipient, earlier: string) =>
  `${recipient.rcpt} -> ${recipient.number}: the same text as ${earlier}, the latest to it, within policy.alertStormWindow: not sent again`;
export const repeatedDetail = (mail: Pick<NewMail, 'id'>) => `the same text again in ${mail.id}, within policy.alertStormWindow: not sent again`;

/** The report queued for a folded number that asked for one (AlertStorm.reports). */
export const foldReportOf = (mail: NewMail, number: string): NewOutgoingMail | undefined =>
  mail.alertStorm?.reports?.find((entry) => entry.number === number)?.report;
