import { type ParsedMail, simpleParser } from 'mailparser';
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
}

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
  if (subjectCommand) {
    fromSubject = parseSubjectCommand(subject ?? '');
  } else if (subject) {
    const tagged = takeContextTag(subject, 'the subject');
    const tokens = takeSubjectTokens(tagged.rest);
    fromSubject = { ...(tagged.userContext ? { userContext: tagged.userContext } : {}), ...tokens.parameters };
    subjectText = tokens.rest;
  }

  const text = tidy(body.rest);
  return {
    text: withSubject(text, subjectText, subjectCommand ? 'never' : rules.subject),
    subject,
    messageIdHeader: mail.messageId,
    subjectNumbers: fromSubject.to ?? [],
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

