import { randomBytes } from 'node:crypto';
import { BlockList, isIPv6 } from 'node:net';
import type { Readable } from 'node:stream';
import { SMTPServer, type SMTPServerAddress, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { v7 as uuidv7 } from 'uuid';
import type { Config } from '../config/load.ts';
import { RelayError, toSmtpError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { extractRequest, parseMail } from '../mail/extract.ts';
import { redactSecrets } from '../mail/parameters.ts';
import { type TextPolicy, textPolicyFor } from '../mail/policy.ts';
import type { ProviderModule } from '../gateways/provider.ts';
import type { Conversations } from '../replies/conversations.ts';
import { analyseText, SEGMENT_LIMITS, type SmsText, truncateToParts } from '../sms/encoding.ts';
import type { NewMail, NewRecipient, Store } from '../store/types.ts';
import { applySmtpServerPatches } from './patches.ts';
import { recipientNumber, type ResolvedRecipient, resolveRecipient } from './recipients.ts';
import { resubmissionFingerprint } from './resubmission.ts';

/** RFC 5321 §4.5.3.1.4 allows 512 octets per command line; some clients send long ESMTP parameters. */
const MAX_COMMAND_LINE_BYTES = 4096;
/** Unauthenticated clients get this many commands before being cut off (smtp-server's guard). */
const MAX_UNAUTHENTICATED_COMMANDS = 250;

export interface SmtpIntakeOptions {
  readonly config: Config;
  readonly store: Store;
  readonly logger: Logger;
  /** The gateway's limits: parts, sender ids, scheduling. */
  readonly provider: ProviderModule;
  /** Told which conversations a committed mail changed. */
  readonly conversations: Conversations;
  /** Called after each mail is committed, so dispatch can start at once. */
  readonly onAccepted: () => void;
  readonly clock?: () => number;
}

export interface SmtpIntake {
  readonly port: number;
  close(): Promise<void>;
}

/** A transaction's recipients: lower-cased RCPT address → what it stands for (a repeated RCPT replaces). */
type ResolvedRecipients = Map<string, { rcpt: SMTPServerAddress; target: ResolvedRecipient }>;

/**
 * The SMTP listener. RCPT is where policy is decided (numbers, lists, relaying); DATA is parsed once,
 * turned into SMS text, committed with one row per number, and only then answered 250.
 */
export async function startSmtpIntake(options: SmtpIntakeOptions): Promise<SmtpIntake> {
  applySmtpServerPatches();
  const { config, store, logger, onAccepted, conversations, provider } = options;
  const clock = options.clock ?? Date.now;
  const isTrusted = networkMatcher(config.smtp.trustedNetworks);
  const recipientsOf = new WeakMap<object, ResolvedRecipients>();

  const server = new SMTPServer({
    name: config.smtp.hostname,
    banner: 'smsrelay: mail to <phone number>@<SMS domain> is sent as SMS',
    size: config.smtp.maxMessageBytes,
    maxRecipients: config.smtp.maxRecipients,
    maxClients: config.smtp.maxConnections,
    socketTimeout: config.smtp.idleTimeout,
    maxCommandLength: MAX_COMMAND_LINE_BYTES,
    maxAllowedUnauthenticatedCommands: MAX_UNAUTHENTICATED_COMMANDS,
    // Off by default in smtp-server: senders act on enhanced codes (5.1.3 vs 5.7.1), and bounces
    // honour RFC 3461 NOTIFY/RET/ENVID.
    hideENHANCEDSTATUSCODES: false,
    hideDSN: false,
    // Reverse DNS per connection costs a lookup (and up to its timeout) and decides nothing here.
    disableReverseLookup: true,
    // TLS and AUTH come with sender policy (issue #7); until then only trusted networks may send.
    disabledCommands: ['STARTTLS', 'AUTH'],
    authOptional: true,
    logger: false,
    skipGreetingDelay: isTrusted,
    // smtp-server's default defers with setImmediate; answering at once lets the greeting of a
    // trusted client go out before its first bytes are read.
    onConnect(_session, callback) {
      callback();
    },
    onMailFrom(_address, session, callback) {
      if (!isTrusted(session.remoteAddress)) return callback(toSmtpError(new RelayError('AUTH_REQUIRED')));
      recipientsOf.set(session.envelope, new Map());
      callback();
    },
    onRcptTo(address, session, callback) {
      try {
        if (!session.envelope.mailFrom || session.envelope.mailFrom.address === '') {
          throw new RelayError('AUTOMATED_MAIL', 'Mail from the null sender <> (a bounce or an auto-reply) is never sent as SMS');
        }
        const target = resolveRecipient(address.address, config.sms);
        const resolved: ResolvedRecipients = recipientsOf.get(session.envelope) ?? new Map();
        recipientsOf.set(session.envelope, resolved);
        const key = address.address.toLowerCase();
        const others = [...resolved].filter(([other]) => other !== key).map(([, entry]) => entry);
        checkNumberCount([...others, { rcpt: address, target }], config);
        resolved.set(key, { rcpt: address, target });
        callback();
      } catch (error) {
        logger.info({ rcpt: address.address, reason: (error as Error).message }, 'smtp: recipient refused');
        callback(toSmtpError(error));
      }
    },
    onData(stream, session, callback) {
      const started = clock();
      readLimited(stream, config.smtp.maxMessageBytes)
        .then(async (raw) => {
          if (stream.sizeExceeded || raw === undefined) {
            throw new RelayError('MESSAGE_TOO_BIG', `Message too big: the limit is ${config.smtp.maxMessageBytes} bytes`);
          }
          const id = uuidv7();
          const { mail, cutFrom } = await buildMail(id, raw, session, recipientsOf.get(session.envelope) ?? new Map(), { config, store, provider }, clock());
          const { recipients } = mail;
          const { duplicateOf } = await store.acceptMail(mail);
          if (mail.sms.userContext) conversations.forget(mail.sms.userContext, recipients.map((recipient) => recipient.number));
          logger.info(
            {
              msgId: id,
              from: mail.envelopeFrom || '<>',
              numbers: recipients.length,
              encoding: mail.sms.encoding,
              parts: mail.sms.parts,
              ...(cutFrom ? { cutFromParts: cutFrom } : {}),
              bytes: raw.length,
              ms: clock() - started,
              ...(duplicateOf ? { resubmissionOf: duplicateOf } : {}),
            },
            duplicateOf ? 'smtp: mail accepted again (resubmission): not sent twice' : 'smtp: mail accepted',
          );
          onAccepted();
          const note = [
            cutFrom ? `text cut from ${cutFrom} to ${mail.sms.parts} parts by policy` : '',
            duplicateOf ? `the same mail as ${duplicateOf}: sent once` : '',
          ].filter(Boolean);
          callback(null, `Ok: queued as ${id}${note.length > 0 ? ` (${note.join('; ')})` : ''}`);
        })
        .catch((error: unknown) => {
          const level = error instanceof RelayError && error.code !== 'STORE_UNAVAILABLE' && error.code !== 'INTERNAL' ? 'info' : 'error';
          logger[level]({ err: error, from: session.envelope.mailFrom ? session.envelope.mailFrom.address : undefined }, 'smtp: mail refused');
          callback(toSmtpError(error));
        });
    },
  } as ConstructorParameters<typeof SMTPServer>[0]);

  server.on('error', (error) => logger.warn({ err: error }, 'smtp: connection error'));
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(config.smtp.port, config.smtp.host, () => {
      server.server.off('error', reject);
      resolve();
    });
  });
  const address = server.server.address();
  return {
    port: typeof address === 'object' && address ? address.port : config.smtp.port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function buildMail(
  id: string,
  raw: Buffer,
  session: SMTPServerSession,
  resolved: ResolvedRecipients,
  { config, store, provider }: { config: Config; store: Store; provider: ProviderModule },
  now: number,
): Promise<{ mail: NewMail; cutFrom: number | undefined }> {
  const { mailFrom, dsn } = session.envelope;
  const envelopeFrom = mailFrom ? mailFrom.address : '';
  const policy = textPolicyFor(config.text, envelopeFrom);
  const subjectCommand = [...resolved.values()].some(({ target }) => 'subject' in target);
  const request = extractRequest(await parseMail(raw), policy, subjectCommand);
  if (request.automated) throw new RelayError('AUTOMATED_MAIL', `Not sent as SMS: ${request.automated}`);
  const recipients = toRecipients(resolved, request.subjectNumbers, config);
  const partLimit = Math.min(config.sms.maxParts, provider.capabilities.maxParts);
  if (request.maxParts !== undefined && request.maxParts > partLimit) {
    throw new RelayError('BAD_PARAMETER', `Invalid maximum parts ${request.maxParts}: this relay sends at most ${partLimit} parts per SMS`);
  }
  const senderIdProblem = request.senderId === undefined ? undefined : provider.senderIdProblem(request.senderId);
  if (senderIdProblem) throw new RelayError('BAD_PARAMETER', `Invalid sender id: ${senderIdProblem}`);
  const maxParts = request.maxParts ?? partLimit;
  const sms = fitText(request.text, maxParts, policy);
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
      recipients,
      resubmission: resubmissionOf(request.messageIdHeader, recipients, sms.text, now, config),
      conversation: request.mailbox ? { mailbox: request.mailbox, continues: request.contextFromReplyTag || thread !== undefined } : undefined,
      reportAll: request.reportAll,
      sendAt: request.sendAt,
      holdUntilSendAt: !provider.capabilities.scheduling,
    },
    cutFrom: sms.cutFrom,
  };
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
function toRecipients(resolved: ResolvedRecipients, subjectNumbers: readonly string[], config: Config): NewRecipient[] {
  const entries = [...resolved.values()].map(({ rcpt, target }) => ({
    rcpt,
    target: 'subject' in target ? { numbers: subjectNumbers.map((number) => recipientNumber(number, config.sms)) } : target,
  }));
  checkNumberCount(entries, config);
  const byNumber = new Map<string, NewRecipient>();
  for (const { rcpt, target } of entries) {
    for (const number of 'numbers' in target ? target.numbers : []) {
      if (byNumber.has(number)) continue;
      byNumber.set(number, { number, rcpt: rcpt.address, notify: rcpt.dsn?.notify, orcpt: rcpt.dsn?.orcpt });
    }
  }
  return [...byNumber.values()];
}

function checkNumberCount(entries: readonly { target: ResolvedRecipient }[], config: Config): void {
  const distinct = new Set(entries.flatMap(({ target }) => ('numbers' in target ? target.numbers : [])));
  if (distinct.size > config.smtp.maxNumbersPerMail) {
    throw new RelayError('TOO_MANY_NUMBERS', `Too many phone numbers: this mail would go to more than ${config.smtp.maxNumbersPerMail}; send the rest in another mail`);
  }
}

/**
 * Buffers the DATA stream up to `limit` bytes. Past the limit the rest is read and discarded (the
 * client must still get its answer after the final dot) and undefined is returned.
 */
function readLimited(stream: SMTPServerDataStream | Readable, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    stream.once('error', reject);
    stream.once('end', () => resolve(size <= limit ? Buffer.concat(chunks, size) : undefined));
  });
}

/** The header block as received (up to the first empty line), for bounces. */
function headerBlock(raw: Buffer): string {
  const crlf = raw.indexOf('\r\n\r\n');
  const lf = raw.indexOf('\n\n');
  const end = crlf >= 0 && (lf < 0 || crlf < lf) ? crlf + 2 : lf >= 0 ? lf + 1 : raw.length;
  return raw.subarray(0, end).toString('utf8');
}

/** A predicate for "this client address is in one of these networks" (IPv4-mapped IPv6 included). */
export function networkMatcher(cidrs: readonly string[]): (address: string) => boolean {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [network = '', bits] = cidr.split('/');
    const family = isIPv6(network) ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(network, family);
    else list.addSubnet(network, Number(bits), family);
  }
  return (address) => {
    try {
      return list.check(address, isIPv6(address) ? 'ipv6' : 'ipv4');
    } catch {
      return false;
    }
  };
}
