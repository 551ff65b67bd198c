import { type ParsedMail, simpleParser } from 'mailparser';
import { RelayError } from '../errors.ts';

/** What a mail asks the relay to send, before encoding. */
export interface OutboundRequest {
  readonly text: string;
  readonly subject: string | undefined;
  readonly messageIdHeader: string | undefined;
  readonly userContext: string | undefined;
  readonly senderId: string | undefined;
}

/**
 * PROTOCOLS §1.7: the token syntax of providers' email interfaces is unknown beyond `Name:Value`;
 * values made of these characters survive every provider and every subject line unquoted.
 */
const USER_CONTEXT = /^[A-Za-z0-9._-]{1,64}$/;
/** GSM 03.40 originator: up to 11 alphanumerics (shown as a name) or up to 15 digits (a number). */
const SENDER_ID = /^(?:[A-Za-z0-9 ]{1,11}|\+?[0-9]{1,15})$/;

/** Mail parsing done once per mail; the parts the relay never needs are not produced. */
export async function parseMail(raw: Buffer): Promise<ParsedMail> {
  return simpleParser(raw, { skipTextToHtml: true, skipImageLinks: true, skipTextLinks: true });
}

/**
 * The text a person meant to send and the relay parameters the mail carries. Text: the plain-text
 * body (mailparser derives it from HTML when there is none), else the subject; relay parameters come
 * from `UserContext`/`X-UserContext` and `X-SMS-From` headers.
 */
export function extractRequest(mail: ParsedMail): OutboundRequest {
  const body = tidy(mail.text ?? '');
  const subject = mail.subject?.trim() || undefined;
  return {
    text: body || subject || '',
    subject,
    messageIdHeader: mail.messageId,
    userContext: parameter(mail, ['usercontext', 'x-usercontext'], USER_CONTEXT, 'UserContext', 'letters, digits, ".", "_" or "-", at most 64'),
    senderId: parameter(mail, ['x-sms-from'], SENDER_ID, 'X-SMS-From', 'up to 11 letters and digits, or a number of up to 15 digits'),
  };
}

function parameter(mail: ParsedMail, headers: readonly string[], syntax: RegExp, name: string, rule: string): string | undefined {
  for (const header of headers) {
    const value = mail.headers.get(header);
    if (value === undefined) continue;
    const text = String(value).trim();
    if (!syntax.test(text)) throw new RelayError('BAD_PARAMETER', `Invalid ${name} "${text.slice(0, 80)}": expected ${rule}`);
    return text;
  }
  return undefined;
}

/** Trailing spaces off each line, runs of blank lines down to one, no blank edges. */
function tidy(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .replace(/[ \t]+$/gm, '')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}
