import { type ParsedMail, simpleParser } from 'mailparser';
import { RelayError } from '../errors.ts';
import { htmlToText } from './html.ts';
import {
  headerParameters,
  parseSubjectCommand,
  type RelayParameters,
  takeContextTag,
  takeLeadingContextLine,
  takeSubjectTokens,
} from './parameters.ts';
import { type StripRules, stripBody, tidy } from './strip.ts';

/** Whether the subject becomes SMS text: only when the body is empty, always in front, or never. */
export type SubjectUse = 'fallback' | 'prepend' | 'never';

export interface TextRules extends StripRules {
  readonly subject: SubjectUse;
}

/** What a mail asks the relay to send, before encoding. */
export interface OutboundRequest extends RelayParameters {
  readonly text: string;
  readonly subject: string | undefined;
  readonly messageIdHeader: string | undefined;
  /** Numbers the subject names (a mail to the subject address), not yet normalised. */
  readonly subjectNumbers: readonly string[];
  /** The user context came from the `[UserContext: …]` tag: the mail answers one of the relay's replies. */
  readonly contextFromReplyTag: boolean;
  /** Message-IDs this mail answers (In-Reply-To, References), newest first. */
  readonly threadIds: readonly string[];
  /** Where replies to this mail go: Reply-To, else From. */
  readonly mailbox: string | undefined;
  /** The From: header's addresses. */
  readonly fromAddresses: readonly string[];
  /** Set when the mail is automatic and must never become an SMS: the reason. */
  readonly automated: string | undefined;
  /** `X-SMS-Delivery-Report: all`: tell the sender of every final delivery state. */
  readonly reportAll: boolean;
  /** `X-SMS-Send-At`: not to be delivered before (ms since the epoch). */
  readonly sendAt: number | undefined;
}

/** The header the relay's own mails carry, so that they never come back as SMS. */
export const LOOP_HEADER = 'X-SMSRelay-Loop';

/** Mail parsing done once per mail; the parts the relay never needs are not produced. */
export async function parseMail(raw: Buffer): Promise<ParsedMail> {
  // skipHtmlToText: mailparser's own conversion would hide whether there was a text/plain part.
  return simpleParser(raw, { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true, skipTextLinks: true });
}

/**
 * The text a person meant to send and the relay parameters the mail carries. `subjectCommand`: the
 * mail went to the subject address, so its subject holds parameters only and its body is the text.
 */
export function extractRequest(mail: ParsedMail, rules: TextRules, subjectCommand: boolean): OutboundRequest {
  const subject = mail.subject?.trim() || undefined;
  const fromHeaders = headerParameters((name) => {
    const value = mail.headers.get(name);
    return value === undefined ? undefined : String(value);
  });

  const leading = takeLeadingContextLine(chosenBody(mail));
  const body = takeContextTag(stripBody(leading.rest, rules), 'the body');

  let fromSubject: RelayParameters & { readonly to?: readonly string[] } = {};
  let subjectText = '';
  let contextFromReplyTag = false;
  if (subjectCommand) {
    fromSubject = parseSubjectCommand(subject ?? '');
  } else if (subject) {
    const tagged = takeContextTag(subject, 'the subject');
    const tokens = takeSubjectTokens(tagged.rest);
    fromSubject = { ...tokens.parameters, ...(tagged.userContext ? { userContext: tagged.userContext } : {}) };
    contextFromReplyTag = tagged.userContext !== undefined && fromHeaders.userContext === undefined;
    subjectText = tokens.rest;
  }

  const text = tidy(body.rest);
  return {
    text: withSubject(text, subjectText, subjectCommand ? 'never' : rules.subject),
    subject,
    messageIdHeader: mail.messageId,
    subjectNumbers: fromSubject.to ?? [],
    contextFromReplyTag,
    threadIds: threadIds(mail),
    mailbox: mail.replyTo?.value[0]?.address || mail.from?.value[0]?.address || undefined,
    fromAddresses: (mail.from?.value ?? []).flatMap((entry) => (entry.address ? [entry.address] : [])),
    automated: automation(mail),
    reportAll: String(mail.headers.get('x-sms-delivery-report') ?? '').trim().toLowerCase() === 'all',
    sendAt: sendAtOf(mail),
    ...pick(fromHeaders, fromSubject, { userContext: leading.userContext ?? body.userContext }),
  };
}

/** text/plain when the mail has it; else its HTML as text; attachments never. */
function chosenBody(mail: ParsedMail): string {
  if (typeof mail.text === 'string' && mail.text.trim() !== '') return mail.text;
  if (typeof mail.html === 'string') return htmlToText(mail.html);
  return '';
}

function withSubject(body: string, subject: string, use: SubjectUse): string {
  if (use === 'never' || subject === '') return body;
  if (use === 'fallback') return body || subject;
  return body ? `${subject}\n${body}` : subject;
}

/** Each parameter from the first source that has it: headers, then the subject, then the body. */
function pick(...sources: readonly RelayParameters[]): RelayParameters {
  const result: { userContext?: string; senderId?: string; maxParts?: number } = {};
  for (const source of sources) {
    result.userContext ??= source.userContext;
    result.senderId ??= source.senderId;
    result.maxParts ??= source.maxParts;
  }
  return Object.fromEntries(Object.entries(result).filter(([, value]) => value !== undefined));
}


function threadIds(mail: ParsedMail): string[] {
  const references = typeof mail.references === 'string' ? [mail.references] : (mail.references ?? []);
  return [...(mail.inReplyTo ? [mail.inReplyTo] : []), ...references.toReversed()].filter((id, index, all) => all.indexOf(id) === index);
}

/**
 * RFC 3834: auto-replies must not be answered, and the relay's own mail must not loop back. Alerts
 * (`Auto-Submitted: auto-generated`) are what the relay is for and pass.
 */
function automation(mail: ParsedMail): string | undefined {
  if (mail.headers.has(LOOP_HEADER.toLowerCase())) return `it carries ${LOOP_HEADER}: it is the relay's own mail`;
  const autoSubmitted = String(mail.headers.get('auto-submitted') ?? '').trim().toLowerCase();
  if (autoSubmitted.startsWith('auto-replied')) return 'it is an auto-reply (Auto-Submitted: auto-replied)';
  return undefined;
}

/** A relay is no calendar: an SMS scheduled further ahead than this is refused. */
const MAX_SCHEDULE_AHEAD_MS = 30 * 24 * 3_600_000;

/** `X-SMS-Send-At`, an RFC 5322 date (as in a Date header) or ISO 8601 with a zone. */
function sendAtOf(mail: ParsedMail): number | undefined {
  const raw = mail.headers.get('x-sms-send-at');
  if (raw === undefined) return undefined;
  const text = raw instanceof Date ? raw.toISOString() : String(raw).trim();
  const at = Date.parse(text);
  const zoned = /(?:Z|[+-]\d{2}:?\d{2}|GMT|UT|[ECMP][SD]T)$/i.test(text);
  if (Number.isNaN(at) || !zoned) {
    throw new RelayError('BAD_PARAMETER', `Invalid X-SMS-Send-At "${text.slice(0, 60)}": expected a date with a time zone, e.g. 2026-11-24T08:00:00+01:00 or Tue, 24 Nov 2026 08:00:00 +0100`);
  }
  if (at - Date.now() > MAX_SCHEDULE_AHEAD_MS) {
    throw new RelayError('BAD_PARAMETER', `Invalid X-SMS-Send-At "${text.slice(0, 60)}": at most 30 days ahead`);
  }
  return at;
}
