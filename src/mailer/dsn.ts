import MimeNode from 'nodemailer/lib/mime-node';
import { RELAY_ERRORS } from '../errors.ts';
import { printableAscii } from '../mail/ascii.ts';
import { withCanonicalDomain } from '../mail/addresses.ts';
import { LOOP_HEADER } from '../mail/extract.ts';
import { formatNumber, maskNumber, toInternationalDigits } from '../sms/numbers.ts';
import type { NewOutgoingMail, NewRecipient, StoredMessage } from '../store/types.ts';
import type { Templates } from './templates.ts';

/**
 * The delivery status notifications (RFC 3464) the relay sends its senders: an SMS failed for good,
 * is still waiting, was handed to the SMS network (RFC 3461 "relayed": the gateway does not report
 * in DSN terms), or the network's delivery report said it reached the phone.
 */
export type ReportKind = 'failed' | 'delayed' | 'relayed' | 'delivered';

interface ReportStyle {
  /** RFC 3461 NOTIFY value that asks for this report; reports the sender did not forbid go out too when marked. */
  readonly notify: 'FAILURE' | 'DELAY' | 'SUCCESS';
  /** Sent when the client gave no NOTIFY at all (RFC 3461 §4.1 leaves it to the MTA: failures and delays, as MTAs do). */
  readonly byDefault: boolean;
  readonly subject: string;
  readonly template: string;
  readonly action: string;
}

const STYLES: Readonly<Record<ReportKind, ReportStyle>> = {
  failed: { notify: 'FAILURE', byDefault: true, subject: 'Undelivered SMS', template: 'bounce.txt', action: 'failed' },
  delayed: { notify: 'DELAY', byDefault: true, subject: 'Delayed SMS', template: 'delay.txt', action: 'delayed' },
  relayed: { notify: 'SUCCESS', byDefault: false, subject: 'SMS sent', template: 'relayed.txt', action: 'relayed' },
  delivered: { notify: 'SUCCESS', byDefault: false, subject: 'SMS delivered', template: 'delivered.txt', action: 'delivered' },
};

/** The NOTIFY values a RCPT without NOTIFY stands for (FAILURE and DELAY). */
export const NOTIFY_BY_DEFAULT: readonly string[] = [...new Set(Object.values(STYLES).flatMap((style) => (style.byDefault ? [style.notify] : [])))];

/** The outcome category of a list's member refused at acceptance (opted out, premium-rate, outside the sender's destinations): its bounce's status is RCPT's refusal's. */
export const REFUSED_MEMBER_CATEGORY = 'policy-denied';
/** The category of a number the alert-storm window folded (a true repeat of an earlier mail's SMS): its relayed report says so. */
export const FOLDED_CATEGORY = 'alert-storm-repeat';
/** The outcome category of a subject's number beyond the mail's number limit: RFC 3463's too many recipients. */
export const OVER_LIMIT_CATEGORY = 'too-many-numbers';

/** RFC 3463 status per kind and outcome category. */
const STATUS: Readonly<Record<ReportKind, Readonly<Record<string, string>> & { default: string }>> = {
  failed: {
    'invalid-number': '5.1.1',
    refused: '5.6.0',
    expired: '4.4.7',
    'network-expired': '4.4.7',
    // Sent, and the phone or its subscription was in a passing state (temporarily unreachable or barred): the number may take a later SMS.
    'network-temporary': '4.2.0',
    // Sent, and the provider or the network was too busy to take it (a queue full, congestion): RFC 3463's congestion, not the phone's state.
    'network-busy': '4.4.5',
    // A phone that opted out after its mail was accepted: the status RCPT refuses it with from then on.
    'opted-out': RELAY_ERRORS.POLICY_DENIED.enhanced,
    [REFUSED_MEMBER_CATEGORY]: RELAY_ERRORS.POLICY_DENIED.enhanced,
    // Bounced where the mail was taken for the numbers of its RCPTs.
    [OVER_LIMIT_CATEGORY]: '5.5.3',
    default: '5.0.0',
  },
  delayed: { unreachable: '4.4.1', 'no-answer': '4.4.2', busy: '4.4.5', account: '4.3.0', default: '4.4.0' },
  relayed: { default: '2.0.0' },
  delivered: { default: '2.0.0' },
};

export interface ReportedRecipient extends NewRecipient {
  /**
   * Outcome category from the outcome table (`invalid-number`, `unreachable`…), `expired` (the relay gave up at
   * the maximum age), or from a delivery report: `undeliverable`, `network-expired` (sent, and the network's validity ran out), `network-temporary` (sent, and the phone was in a passing state), `network-busy` (sent, and the provider or network was too busy).
   */
  readonly category: string;
  /** Plain words: what happened to this number. */
  readonly reason: string;
  /** The provider's code, for Diagnostic-Code. */
  readonly code: string;
  /** The gateway's own words about it, on one line and bounded (src/dispatch/outcomes.ts `oneLine`, `cutToLength`). */
  readonly detail?: string;
  /** The id the gateway gave the SMS it took (a relayed report), when it gave one. */
  readonly gatewayId?: string;
  /**
   * The sender did not write the number (a list's member refused at acceptance) and may not be entitled to it: the report
   * shows it masked (`+4477******03`), as RCPT's refusal of it would.
   */
  readonly masked?: boolean;
}

export interface ReportOptions {
  /** The relay's own address (From of the report). */
  readonly from: string;
  /** Host name for Reporting-MTA and Message-IDs. */
  readonly reportingHost: string;
  readonly templates: Templates;
  /** Told when a template fails to render (a built-in text is used instead). */
  readonly onTemplateError?: (error: unknown) => void;
  /** Whether a recipient that does not say (its `masked` unset) is shown masked: asked only of a report that goes out. */
  readonly masked?: (recipient: ReportedRecipient) => boolean;
}

/**
 * Builds the report, or undefined when none may be sent: never to the null sender (RFC 5321 §4.5.5:
 * a report must not cause a report), and only for recipients whose NOTIFY asks for this kind.
 * A delay report carries a once-key: one per mail, however many batches its numbers went in.
 */
export async function buildReport(
  kind: ReportKind,
  message: StoredMessage,
  recipients: readonly ReportedRecipient[],
  options: ReportOptions & { readonly retryUntil?: number },
): Promise<NewOutgoingMail | undefined> {
  const style = STYLES[kind];
  if (message.envelopeFrom === '') return undefined;
  const reported = recipients.filter((recipient) => wants(style, recipient.notify));
  if (reported.length === 0) return undefined;

  const now = new Date();
  const root = new MimeNode('multipart/report; report-type=delivery-status', { hostname: options.reportingHost, newline: 'windows' });
  root.setHeader({
    From: `Mail Delivery System <${options.from}>`,
    To: message.envelopeFrom,
    Subject: `${style.subject}${message.subject ? `: ${message.subject}` : ''}`,
    Date: now,
    // RFC 3834: a report is an automatic response; mail robots must not answer it.
    'Auto-Submitted': 'auto-replied',
    // As on every mail the relay writes: a report that comes back to it is never texted, whatever a forwarder stripped.
    [LOOP_HEADER]: options.reportingHost,
  });
  if (message.messageIdHeader) root.setHeader({ 'In-Reply-To': message.messageIdHeader, References: message.messageIdHeader });

  const shown = reported.map((given) => {
    const recipient = given.masked === undefined && options.masked ? { ...given, masked: options.masked(given) } : given;
    return { ...recipient, address: finalRecipient(recipient), number: recipient.masked ? maskNumber(recipient.number) : formatNumber(recipient.number) };
  });
  root.createChild('text/plain; charset=utf-8').setContent(humanPart(style, message, shown, options));
  root.createChild('message/delivery-status').setContent(deliveryStatus(kind, message, shown, options.reportingHost, now, options.retryUntil));
  root.createChild('text/rfc822-headers').setContent(message.headers);

  return {
    kind: kind === 'failed' ? 'bounce' : 'notice',
    messageId: message.id,
    envelopeFrom: '',
    recipients: [message.envelopeFrom],
    raw: await root.build(),
    ...(kind === 'delayed' ? { onceKey: `delay:${message.id}` } : {}),
  };
}

/** RFC 3461 §4.1: NEVER means nothing; a NOTIFY list means exactly those; none means the MTA default. */
function wants(style: ReportStyle, notify: readonly string[] | undefined): boolean {
  return notify === undefined ? style.byDefault : notify.includes(style.notify);
}

function finalRecipient(recipient: ReportedRecipient): string {
  const domain = recipient.rcpt.slice(recipient.rcpt.lastIndexOf('@') + 1);
  return `${toInternationalDigits(recipient.masked ? maskNumber(recipient.number) : recipient.number)}@${domain}`;
}

/**
 * The human-readable part from templates/. An operator's broken template must not keep the report
 * from going out (nor block recording the SMS outcomes): it falls back to a plain text.
 */
function humanPart(
  style: ReportStyle,
  message: StoredMessage,
  recipients: ReadonlyArray<ReportedRecipient & { address: string }>,
  options: ReportOptions & { readonly retryUntil?: number },
): string {
  try {
    return options.templates.render(style.template, {
      reportingHost: options.reportingHost,
      subject: message.subject,
      receivedAt: rfc5322Date(new Date(message.receivedAt)),
      retryUntil: options.retryUntil === undefined ? undefined : rfc5322Date(new Date(options.retryUntil)),
      recipients,
    });
  } catch (error) {
    options.onTemplateError?.(error);
    const lines = recipients.map(
      (recipient) => `  ${recipient.number}: ${recipient.reason}${recipient.detail === undefined ? '' : ` (the gateway said: "${recipient.detail}")`}.`,
    );
    return `${style.subject}${message.subject ? `: ${message.subject}` : ''}\n\n${lines.join('\n')}\n`;
  }
}

function deliveryStatus(
  kind: ReportKind,
  message: StoredMessage,
  recipients: ReadonlyArray<ReportedRecipient & { address: string }>,
  reportingHost: string,
  now: Date,
  retryUntil: number | undefined,
): string {
  const perMessage = [
    `Reporting-MTA: dns; ${reportingHost}`,
    ...(message.dsn.envid ? [`Original-Envelope-Id: ${message.dsn.envid}`] : []),
    `X-SMSRelay-Message-Id: ${message.id}`,
    `Arrival-Date: ${rfc5322Date(new Date(message.receivedAt))}`,
  ];
  const statuses = STATUS[kind];
  const perRecipient = recipients.map((recipient) =>
    [
      ...originalRecipient(recipient),
      // RFC 3464 §2.1.2: an rfc822 address is ASCII; an SMS domain written in UTF-8 goes as its A-labels.
      `Final-Recipient: rfc822; ${withCanonicalDomain(recipient.address)}`,
      `Action: ${STYLES[kind].action}`,
      `Status: ${statuses[recipient.category] ?? statuses.default}`,
      `Diagnostic-Code: X-SMS; ${diagnostic(kind, recipient)}`,
      `Last-Attempt-Date: ${rfc5322Date(now)}`,
      ...(retryUntil === undefined ? [] : [`Will-Retry-Until: ${rfc5322Date(new Date(retryUntil))}`]),
    ].join('\r\n'),
  );
  return `${[perMessage.join('\r\n'), ...perRecipient].join('\r\n\r\n')}\r\n`;
}

/**
 * What the gateway said of a number: its code and the reason. For an SMS the gateway took, the code
 * only means "taken" (IntelliSoftware's `ID`, `VONAGE:0`, `SMPP:ESME_ROK`): the id it gave the SMS stands there
 * instead, which the sender can quote to the provider, and without one there is only the reason.
 */
function diagnostic(kind: ReportKind, recipient: ReportedRecipient): string {
  const words = `${recipient.reason}${recipient.detail === undefined ? '' : `; the gateway said: "${printableAscii(recipient.detail)}"`}`;
  if (kind !== 'relayed') return `${recipient.code} (${words})`;
  return recipient.gatewayId ? `gateway id ${printableAscii(recipient.gatewayId)} (${words})` : words;
}

/**
 * RFC 3464 §2.3.1: only from an ORCPT the client gave (a list's address is in the plain words), written
 * `type; address` as Final-Recipient is.
 */
function originalRecipient(recipient: ReportedRecipient): string[] {
  if (!recipient.orcpt) return [];
  const semicolon = recipient.orcpt.indexOf(';');
  return [`Original-Recipient: ${recipient.orcpt.slice(0, semicolon).trim()}; ${recipient.orcpt.slice(semicolon + 1).trim()}`];
}

/** RFC 5322 date-time with a numeric zone. */
export function rfc5322Date(date: Date): string {
  return date.toUTCString().replace(/GMT$/, '+0000');
}
