import MimeNode from 'nodemailer/lib/mime-node';
import { formatNumber, toInternationalDigits } from '../sms/numbers.ts';
import type { NewOutgoingMail, NewRecipient, StoredMessage } from '../store/types.ts';
import type { Templates } from './templates.ts';

/** RFC 3463 status for each reason an SMS finally failed. */
const STATUS_BY_CATEGORY: Readonly<Record<string, string>> = {
  'invalid-number': '5.1.1',
  refused: '5.6.0',
  expired: '4.4.7',
};
const DEFAULT_FAILURE_STATUS = '5.0.0';

export interface FailedRecipient extends NewRecipient {
  readonly category: string;
  /** Plain words: why this number got nothing. */
  readonly reason: string;
  /** The provider's code, for Diagnostic-Code. */
  readonly code: string;
  readonly expired: boolean;
}

export interface BounceOptions {
  /** The relay's own address (From of the report). */
  readonly from: string;
  /** Host name for Reporting-MTA and Message-IDs. */
  readonly reportingHost: string;
  readonly templates: Templates;
  /** Told when templates/bounce.txt.eta fails to render (the built-in text is used instead). */
  readonly onTemplateError?: (error: unknown) => void;
}

/**
 * RFC 3464 delivery status notifications for SMS that failed for good: a human part from
 * templates/bounce.txt.eta, the machine part (one block per number) and the original headers.
 * Returns undefined when no report may be sent: the null sender (RFC 5321 §4.5.5, a bounce must
 * never cause a bounce) and recipients whose RFC 3461 NOTIFY excludes FAILURE.
 */
export async function buildBounce(
  message: StoredMessage,
  failures: readonly FailedRecipient[],
  options: BounceOptions,
): Promise<NewOutgoingMail | undefined> {
  if (message.envelopeFrom === '') return undefined;
  const reported = failures.filter((failure) => wantsFailureReport(failure.notify));
  if (reported.length === 0) return undefined;

  const now = new Date();
  const root = new MimeNode('multipart/report; report-type=delivery-status', {
    hostname: options.reportingHost,
    newline: 'windows',
  });
  root.setHeader({
    From: `Mail Delivery System <${options.from}>`,
    To: message.envelopeFrom,
    Subject: `Undelivered SMS${message.subject ? `: ${message.subject}` : ''}`,
    Date: now,
    // RFC 3834: a report is an automatic response; mail robots must not answer it.
    'Auto-Submitted': 'auto-replied',
  });
  if (message.messageIdHeader) {
    root.setHeader({ 'In-Reply-To': message.messageIdHeader, References: message.messageIdHeader });
  }

  const recipients = reported.map((failure) => ({
    ...failure,
    address: finalRecipient(failure),
    number: formatNumber(failure.number),
  }));
  root.createChild('text/plain; charset=utf-8').setContent(humanPart(message, recipients, options));
  root.createChild('message/delivery-status').setContent(deliveryStatus(message, recipients, options.reportingHost, now));
  root.createChild('text/rfc822-headers').setContent(message.headers);

  return {
    kind: 'bounce',
    messageId: message.id,
    envelopeFrom: '',
    recipients: [message.envelopeFrom],
    raw: await root.build(),
  };
}

/**
 * The human-readable part from templates/bounce.txt.eta. An operator's broken template must not keep
 * the report from going out (nor block recording the SMS outcomes): it falls back to a plain text.
 */
function humanPart(
  message: StoredMessage,
  recipients: ReadonlyArray<FailedRecipient & { address: string }>,
  options: BounceOptions,
): string {
  try {
    return options.templates.render('bounce.txt', {
      reportingHost: options.reportingHost,
      subject: message.subject,
      receivedAt: rfc5322Date(new Date(message.receivedAt)),
      failures: recipients,
    });
  } catch (error) {
    options.onTemplateError?.(error);
    const lines = recipients.map((failure) => `  ${failure.number}: ${failure.reason}.`);
    return `Your mail could not be sent as a text message to:\n\n${lines.join('\n')}\n`;
  }
}

/** RFC 3461 §4.1: no NOTIFY means failures only; NEVER means nothing; otherwise only what is listed. */
function wantsFailureReport(notify: readonly string[] | undefined): boolean {
  if (notify === undefined) return true;
  return notify.includes('FAILURE');
}

function finalRecipient(failure: FailedRecipient): string {
  const domain = failure.rcpt.slice(failure.rcpt.lastIndexOf('@') + 1);
  return `${toInternationalDigits(failure.number)}@${domain}`;
}

function deliveryStatus(
  message: StoredMessage,
  recipients: ReadonlyArray<FailedRecipient & { address: string }>,
  reportingHost: string,
  now: Date,
): string {
  const perMessage = [
    `Reporting-MTA: dns; ${reportingHost}`,
    ...(message.dsn.envid ? [`Original-Envelope-Id: ${message.dsn.envid}`] : []),
    `X-SMSRelay-Message-Id: ${message.id}`,
    `Arrival-Date: ${rfc5322Date(new Date(message.receivedAt))}`,
  ];
  const perRecipient = recipients.map((failure) =>
    [
      ...(failure.orcpt ? [`Original-Recipient: ${failure.orcpt}`] : failure.rcpt !== failure.address ? [`Original-Recipient: rfc822; ${failure.rcpt}`] : []),
      `Final-Recipient: rfc822; ${failure.address}`,
      'Action: failed',
      `Status: ${failure.expired ? STATUS_BY_CATEGORY.expired : (STATUS_BY_CATEGORY[failure.category] ?? DEFAULT_FAILURE_STATUS)}`,
      `Diagnostic-Code: X-SMS; ${failure.code} (${failure.reason})`,
      `Last-Attempt-Date: ${rfc5322Date(now)}`,
    ].join('\r\n'),
  );
  return [perMessage.join('\r\n'), ...perRecipient].join('\r\n\r\n') + '\r\n';
}

/** RFC 5322 date-time with a numeric zone. */
export function rfc5322Date(date: Date): string {
  return date.toUTCString().replace(/GMT$/, '+0000');
}
