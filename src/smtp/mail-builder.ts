import { randomBytes } from 'node:crypto';
import type { SMTPServerAddress, SMTPServerSession } from 'smtp-server';
import type { Config } from '../config/load.ts';
import { RelayError } from '../errors.ts';
import type { ProviderPlugin } from '../providers/contract.ts';
import { extractRequest, parseMail } from '../mail/extract.ts';
import { redactSecrets } from '../mail/parameters.ts';
import { type TextPolicy, textPolicyFor } from '../mail/policy.ts';
import { analyseText, SEGMENT_LIMITS, type SmsText, truncateToParts } from '../sms/encoding.ts';
import type { Principal, SenderPolicy } from '../policy/senders.ts';
import { maskNumber } from '../sms/numbers.ts';
import type { NewMail, NewRecipient, Store } from '../store/types.ts';
import { recipientNumber, type ResolvedRecipient } from './recipients.ts';
import { resubmissionFingerprint } from './resubmission.ts';

/** A transaction's recipients: lower-cased RCPT address → what it stands for (a repeated RCPT replaces). */
export type ResolvedRecipients = Map<string, { rcpt: SMTPServerAddress; target: ResolvedRecipient }>;

/** The sender of a transaction and what its RCPTs stand for. */
export interface Transaction {
  readonly principal: Principal;
  readonly recipients: ResolvedRecipients;
}

export async function buildMail(
  id: string,
  raw: Buffer,
  session: SMTPServerSession,
  { principal, recipients: resolved }: Transaction,
  { config, store, provider, senders }: { config: Config; store: Store; provider: ProviderPlugin; senders: SenderPolicy },
  now: number,
): Promise<{ mail: NewMail; cutFrom: number | undefined; repeated: number }> {
  const { mailFrom, dsn } = session.envelope;
  const envelopeFrom = mailFrom ? mailFrom.address : '';
  const textPolicy = textPolicyFor(config.text, envelopeFrom);
  const subjectCommand = [...resolved.values()].some(({ target }) => 'subject' in target);
  const request = extractRequest(await parseMail(raw), textPolicy, subjectCommand);
  if (request.automated) throw new RelayError('AUTOMATED_MAIL', `Not sent as SMS: ${request.automated}`);
  const fromProblem = senders.fromHeaderProblem(principal, request.fromAddresses);
  if (fromProblem) throw new RelayError('POLICY_DENIED', `Sender refused: ${fromProblem}`);
  // RCPT numbers were admitted at RCPT; the subject's are known only now.
  const subjectNumbers = request.subjectNumbers.map((number) => recipientNumber(number, config.sms));
  for (const number of subjectNumbers) await admitNumber(principal, number, store, senders);
  const recipients = toRecipients(resolved, subjectNumbers, config, principal);
  const partLimit = Math.min(config.sms.maxParts, provider.capabilities.maxParts, principal.maxParts ?? Number.POSITIVE_INFINITY);
  if (request.maxParts !== undefined && request.maxParts > partLimit) {
    throw new RelayError('BAD_PARAMETER', `Invalid maximum parts ${request.maxParts}: this relay sends at most ${partLimit} parts per SMS`);
  }
  const senderIdProblem = request.senderId === undefined ? undefined : provider.senderIdProblem(request.senderId);
  if (senderIdProblem) throw new RelayError('BAD_PARAMETER', `Invalid sender id: ${senderIdProblem}`);
  const maxParts = request.maxParts ?? partLimit;
  const sms = fitText(request.text, maxParts, textPolicy);
  const repeated = await stormRepeats(store, config, recipients, sms.text, now);
  const thread = request.userContext === undefined ? await threadContext(store, request.threadIds, recipients) : undefined;
  const userContext = request.userContext ?? thread ?? newUserContext();
  return {
    mail: {
      id,
      receivedAt: now,
      envelopeFrom,
      client: { address: session.remoteAddress, helo: session.hostNameAppearsAs || '' },
      messageIdHeader: request.messageIdHeader,
      subject: request.subject === undefined ? undefined : redactSecrets(request.subject),
      headers: redactSecrets(headerBlock(raw)),
      sms: {
        text: sms.text,
        encoding: sms.encoding,
        parts: sms.parts,
        maxParts,
        senderId: request.senderId,
        userContext,
      },
      dsn: { ret: dsn?.ret === 'FULL' || dsn?.ret === 'HDRS' ? dsn.ret : undefined, envid: dsn?.envid ?? undefined },
      recipients: recipients.filter((recipient) => !repeated.has(recipient.number)),
      resubmission: resubmissionOf(request.messageIdHeader, recipients, sms.text, now, config),
      conversation: request.mailbox ? { mailbox: request.mailbox, continues: request.contextFromReplyTag || thread !== undefined } : undefined,
      reportAll: request.reportAll,
      sendAt: request.sendAt,
      holdUntilSendAt: !provider.capabilities.scheduling,
      gatewayAccount: principal.gatewayAccount,
    },
    cutFrom: sms.cutFrom,
    repeated: repeated.size,
  };
}

/**
 * Alert-storm control (`policy.alertStormWindow`, off by default): a flapping monitor sends the same
 * alert again and again; each number gets a text it already got within the window only once.
 */
async function stormRepeats(store: Store, config: Config, recipients: readonly NewRecipient[], text: string, now: number): Promise<ReadonlySet<string>> {
  const window = config.policy.alertStormWindow;
  if (window === undefined) return new Set();
  return store.numbersSentText(recipients.map((recipient) => recipient.number), text, now - window);
}

/** The context of the conversation a reply mail continues, found by the Message-IDs it answers. */
async function threadContext(store: Store, threadIds: readonly string[], recipients: readonly NewRecipient[]): Promise<string | undefined> {
  if (threadIds.length === 0) return undefined;
  return store.contextOfMail(threadIds, recipients.map((recipient) => recipient.number));
}

/**
 * A user context for a mail that brings none: the gateway echoes it with the phone's reply, which
 * finds this mail's mailbox among everyone who writes to that phone. 8 characters of base 36 (41 bits):
 * unique enough per number, short enough for any gateway field.
 */
function newUserContext(): string {
  return BigInt(`0x${randomBytes(8).toString('hex')}`).toString(36).slice(0, 8).padStart(8, '0');
}

/** The SMS for a text under the sender's length policy: refused past `maxParts`, or cut to fit. */
function fitText(text: string, maxParts: number, policy: TextPolicy): SmsText & { cutFrom?: number } {
  const sms = analyseText(text);
  if (sms.parts === 0) {
    const where = policy.subject === 'never' ? 'the body is' : 'the body and the subject are';
    throw new RelayError('NO_TEXT', `The mail has no text to send as SMS: ${where} empty once quotes, signatures and disclaimers are removed`);
  }
  if (sms.parts <= maxParts) return sms;
  if (policy.overLength === 'truncate') return { ...truncateToParts(text, maxParts), cutFrom: sms.parts };
  const unit = sms.encoding === 'gsm7' ? 'GSM-7 characters' : 'UCS-2 units';
  const limits = SEGMENT_LIMITS[sms.encoding];
  const capacity = maxParts === 1 ? limits.singlePart : maxParts * limits.concatenatedPart;
  throw new RelayError(
    'TEXT_TOO_LONG',
    `Text too long: ${sms.units} ${unit} need ${sms.parts} SMS parts; the limit is ${maxParts} ${maxParts === 1 ? 'part' : 'parts'} (${capacity} ${unit})`,
  );
}

function resubmissionOf(messageIdHeader: string | undefined, recipients: readonly NewRecipient[], text: string, now: number, config: Config) {
  const fingerprint = resubmissionFingerprint(messageIdHeader, recipients.map((recipient) => recipient.number), text);
  return fingerprint ? { fingerprint, since: now - config.delivery.resubmissionWindow } : undefined;
}

/**
 * One recipient per distinct number; the first RCPT that named a number is the one reported. The
 * subject address stands for the numbers its subject names, known only now.
 */
function toRecipients(resolved: ResolvedRecipients, subjectNumbers: readonly string[], config: Config, principal: Principal): NewRecipient[] {
  const entries = [...resolved.values()].map(({ rcpt, target }) => ({
    rcpt,
    target: 'subject' in target ? { numbers: subjectNumbers } : target,
  }));
  checkNumberCount(entries, config, principal, 'subject');
  const byNumber = new Map<string, NewRecipient>();
  for (const { rcpt, target } of entries) {
    for (const number of 'numbers' in target ? target.numbers : []) {
      if (byNumber.has(number)) continue;
      byNumber.set(number, { number, rcpt: rcpt.address, notify: rcpt.dsn?.notify, orcpt: rcpt.dsn?.orcpt });
    }
  }
  return [...byNumber.values()];
}

/**
 * At most `maxNumbersPerMail` (and the sender's `maxRecipients`) distinct numbers per mail. At RCPT
 * the refusal is temporary (452): the client sends the rest in another mail. The numbers of a
 * subject (`stage: 'subject'`) cannot be split by the client, so there it is permanent.
 */
export function checkNumberCount(entries: readonly { target: ResolvedRecipient }[], config: Config, principal: Principal, stage: 'rcpt' | 'subject'): void {
  const distinct = new Set(entries.flatMap(({ target }) => ('numbers' in target ? target.numbers : [])));
  const limit = Math.min(config.smtp.maxNumbersPerMail, principal.maxRecipients ?? Number.POSITIVE_INFINITY);
  if (distinct.size <= limit) return;
  const tooMany = `Too many phone numbers: this mail would go to more than ${limit}`;
  if (stage === 'rcpt') throw new RelayError('TOO_MANY_NUMBERS', `${tooMany}; send the rest in another mail`);
  throw new RelayError('BAD_PARAMETER', `${tooMany}: split the numbers over several mails`);
}

/** The header block as received (up to the first empty line), for bounces. */
function headerBlock(raw: Buffer): string {
  const crlf = raw.indexOf('\r\n\r\n');
  const lf = raw.indexOf('\n\n');
  const end = crlf >= 0 && (lf < 0 || crlf < lf) ? crlf + 2 : lf >= 0 ? lf + 1 : raw.length;
  return raw.subarray(0, end).toString('utf8');
}

/** Whether `principal` may text `number`: destinations (premium, blocked, allowed) and the opt-out list. */
export async function admitNumber(principal: Principal, number: string, store: Store, senders: SenderPolicy): Promise<void> {
  const problem = senders.destinationProblem(principal, number);
  if (problem) throw new RelayError('POLICY_DENIED', `Recipient refused: ${problem}`);
  if (await store.isOptedOut(number)) {
    throw new RelayError('POLICY_DENIED', `Recipient refused: ${maskNumber(number)} has opted out of SMS from this relay (they texted STOP)`);
  }
}

