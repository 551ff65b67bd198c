import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { SMTPServer, type SMTPServerAuthentication, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { v7 as uuidv7 } from 'uuid';
import type { Config } from '../config/load.ts';
import { RelayError, toSmtpError } from '../errors.ts';
import type { ProviderPlugin } from '../providers/contract.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { LoginThrottle } from '../policy/logins.ts';
import { verifyPassword } from '../policy/passwords.ts';
import { RateLimits } from '../policy/rates.ts';
import { SenderPolicy } from '../policy/senders.ts';
import type { Conversations } from '../replies/conversations.ts';
import type { Store } from '../store/types.ts';
import { admitNumber, buildMail, checkNumberCount, type ResolvedRecipients, type Transaction } from './mail-builder.ts';
import { applySmtpServerPatches } from './patches.ts';
import { resolveRecipient } from './recipients.ts';
import { type DataFindings, DataScanner } from './smuggling.ts';

/** RFC 5321 §4.5.3.1.4 allows 512 octets per command line; some clients send long ESMTP parameters. */
const MAX_COMMAND_LINE_BYTES = 4096;
/** Unauthenticated clients get this many commands before being cut off (smtp-server's guard). */
const MAX_UNAUTHENTICATED_COMMANDS = 250;
/**
 * Where AUTH may go without TLS: this host's own loopback address only. Not all of 127/8: tests and
 * local setups use other 127.x addresses to stand for remote clients.
 */
const LOOPBACK_ADDRESSES: ReadonlySet<string> = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

export interface SmtpIntakeOptions {
  readonly config: Config;
  readonly store: Store;
  readonly logger: Logger;
  /** The gateway's limits: parts, sender ids, scheduling. */
  readonly provider: ProviderPlugin;
  /** Told which conversations a committed mail changed. */
  readonly conversations: Conversations;
  /** Called after each mail is committed, so dispatch can start at once. */
  readonly onAccepted: () => void;
  readonly metrics?: Metrics | undefined;
  /** Why the relay cannot take mail now (the disk is nearly full), or undefined. */
  readonly unavailable?: () => RelayError | undefined;
  readonly clock?: () => number;
}

export interface SmtpIntake {
  readonly port: number;
  /** The implicit-TLS listener's port, when `smtp.tlsPort` is set. */
  readonly tlsPort: number | undefined;
  /** Reads the key and certificate again (after the operator renewed them; SIGHUP). */
  reloadTls(): void;
  close(): Promise<void>;
}

/**
 * The SMTP listener(s). MAIL FROM decides who is sending (trusted network, listed network or
 * account) and whether that sender may; RCPT decides each number (valid, allowed, not opted out);
 * DATA is parsed once, turned into SMS text, checked against the sender's limits, committed with
 * one row per number, and only then answered 250.
 */
export async function startSmtpIntake(options: SmtpIntakeOptions): Promise<SmtpIntake> {
  applySmtpServerPatches();
  const { config, store, logger, onAccepted, conversations, provider, metrics } = options;
  /** The error's SMTP answer, counted by reason. */
  const refuse = (error: unknown) => {
    metrics?.refused.inc({ code: error instanceof RelayError ? error.code : 'INTERNAL' });
    return toSmtpError(error);
  };
  const clock = options.clock ?? Date.now;
  const policy = new SenderPolicy(config);
  const logins = new LoginThrottle();
  const rates = new RateLimits();
  const transactions = new WeakMap<object, Transaction>();
  const tls = () => (config.smtp.tls ? { key: readFileSync(config.smtp.tls.key), cert: readFileSync(config.smtp.tls.cert) } : {});

  const handlers = {
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
    disabledCommands: [...(config.smtp.tls ? [] : ['STARTTLS']), ...(policy.hasAccounts ? [] : ['AUTH'])],
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: true,
    // AUTH is offered everywhere; onAuth refuses it without TLS except from loopback (smtp-server's
    // own switch would refuse loopback too, where TLS protects nothing).
    allowInsecureAuth: true,
    ...tls(),
    logger: false,
    skipGreetingDelay: (address: string) => policy.isTrusted(address),
    // smtp-server's default defers with setImmediate; answering at once lets the greeting of a
    // trusted client go out before its first bytes are read.
    onConnect(_session: SMTPServerSession, callback: (error?: Error) => void) {
      callback();
    },
    onAuth(auth: SMTPServerAuthentication, session: SMTPServerSession, callback: (error: Error | null, response?: { user: string }) => void) {
      authenticate(auth, session).then(
        (user) => callback(null, { user }),
        (error: unknown) => callback(refuse(error)),
      );
    },
    onMailFrom(address: { address: string }, session: SMTPServerSession, callback: (error?: Error) => void) {
      try {
        const unavailable = options.unavailable?.();
        if (unavailable) throw unavailable;
        const principal = session.user ? policy.account(String(session.user))?.principal : policy.byAddress(session.remoteAddress);
        if (!principal) throw new RelayError('AUTH_REQUIRED');
        // smtp-server sets session.envelope.mailFrom only after this handler accepts the address.
        const problem = address.address === '' ? undefined : policy.senderProblem(principal, address.address);
        if (problem) throw new RelayError('POLICY_DENIED', `Sender refused: ${problem}`);
        transactions.set(session.envelope, { principal, recipients: new Map() });
        callback();
      } catch (error) {
        logger.info({ client: session.remoteAddress, user: session.user, reason: (error as Error).message }, 'smtp: sender refused');
        callback(refuse(error));
      }
    },
    onRcptTo(address: { address: string } & Parameters<ResolvedRecipients['set']>[1]['rcpt'], session: SMTPServerSession, callback: (error?: Error) => void) {
      admitRecipient(address, session).then(
        () => callback(),
        (error: unknown) => {
          logger.info({ rcpt: address.address, reason: (error as Error).message }, 'smtp: recipient refused');
          callback(refuse(error));
        },
      );
    },
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback: (error: Error | null, message?: string) => void) {
      const started = clock();
      readLimited(stream, config.smtp.maxMessageBytes)
        .then(async ({ raw, findings }) => {
          // Before the size: a smuggled second mail is an attack, whatever its size.
          if (findings.smuggling) throw new RelayError('SMUGGLING', `Refused: ${findings.smuggling.reason}`);
          if (stream.sizeExceeded || raw === undefined) {
            throw new RelayError('MESSAGE_TOO_BIG', `Message too big: the limit is ${config.smtp.maxMessageBytes} bytes`);
          }
          const transaction = transactionOf(session);
          const id = uuidv7();
          const { mail, cutFrom, repeated } = await buildMail(id, raw, session, transaction, { config, store, provider, senders: policy }, clock());
          const parts = mail.sms.parts * mail.recipients.length;
          const limited = rates.problem(transaction.principal, parts, clock());
          if (limited) throw new RelayError('RATE_LIMITED', `Sending limit reached: ${limited}`);
          const { duplicateOf } = await store.acceptMail(mail);
          rates.record(transaction.principal, parts, clock());
          const { recipients } = mail;
          if (mail.sms.userContext) conversations.forget(mail.sms.userContext, recipients.map((recipient) => recipient.number));
          logger.info(
            {
              msgId: id,
              from: mail.envelopeFrom || '<>',
              by: transaction.principal.name,
              numbers: recipients.length,
              encoding: mail.sms.encoding,
              parts: mail.sms.parts,
              ...(cutFrom ? { cutFromParts: cutFrom } : {}),
              ...(repeated ? { alertStormRepeats: repeated } : {}),
              bytes: raw.length,
              ms: clock() - started,
              ...(duplicateOf ? { resubmissionOf: duplicateOf } : {}),
            },
            duplicateOf ? 'smtp: mail accepted again (resubmission): not sent twice' : 'smtp: mail accepted',
          );
          onAccepted();
          metrics?.accepted.inc();
          const note = [
            cutFrom ? `text cut from ${cutFrom} to ${mail.sms.parts} parts by policy` : '',
            duplicateOf ? `the same mail as ${duplicateOf}: sent once` : '',
            repeated > 0 ? `${repeated} of its numbers got this text within the alert-storm window: not sent again` : '',
          ].filter(Boolean);
          callback(null, `Ok: queued as ${id}${note.length > 0 ? ` (${note.join('; ')})` : ''}`);
        })
        .catch((error: unknown) => {
          const level = error instanceof RelayError && error.code !== 'STORE_UNAVAILABLE' && error.code !== 'INTERNAL' ? 'info' : 'error';
          logger[level]({ err: error, from: session.envelope.mailFrom ? session.envelope.mailFrom.address : undefined }, 'smtp: mail refused');
          callback(refuse(error));
        });
    },
  };

  /** AUTH PLAIN/LOGIN against the configured accounts: over TLS or from loopback, slowed after failures. */
  async function authenticate(auth: SMTPServerAuthentication, session: SMTPServerSession): Promise<string> {
    const address = session.remoteAddress;
    if (!session.secure && !LOOPBACK_ADDRESSES.has(address)) throw new RelayError('ENCRYPTION_REQUIRED');
    if (logins.blocked(address, clock())) throw new RelayError('LOGIN_BLOCKED');
    const account = policy.account(auth.username ?? '');
    // A missing account costs the same scrypt as a wrong password: timing tells no user names.
    const valid = await verifyPassword(auth.password ?? '', account?.passwordHash ?? DUMMY_HASH);
    if (account && valid) {
      logins.succeeded(address);
      logger.info({ client: address, user: auth.username }, 'smtp: authenticated');
      return auth.username ?? '';
    }
    const delay = logins.failed(address, clock());
    logger.warn({ client: address, user: auth.username, delayMs: delay }, 'smtp: authentication failed');
    await new Promise((resolve) => setTimeout(resolve, delay));
    throw new RelayError('AUTH_FAILED');
  }

  async function admitRecipient(address: Parameters<ResolvedRecipients['set']>[1]['rcpt'], session: SMTPServerSession): Promise<void> {
    if (!session.envelope.mailFrom || session.envelope.mailFrom.address === '') {
      throw new RelayError('AUTOMATED_MAIL', 'Mail from the null sender <> (a bounce or an auto-reply) is never sent as SMS');
    }
    const { principal, recipients } = transactionOf(session);
    const target = resolveRecipient(address.address, config.sms);
    if ('numbers' in target) for (const number of target.numbers) await admitNumber(principal, number, store, policy);
    const key = address.address.toLowerCase();
    const others = [...recipients].filter(([other]) => other !== key).map(([, entry]) => entry);
    checkNumberCount([...others, { rcpt: address, target }], config, principal, 'rcpt');
    recipients.set(key, { rcpt: address, target });
  }

  function transactionOf(session: SMTPServerSession): Transaction {
    const transaction = transactions.get(session.envelope);
    if (!transaction) throw new RelayError('INTERNAL', 'Temporary local problem: no sender for this transaction');
    return transaction;
  }

  const plain = new SMTPServer(handlers as ConstructorParameters<typeof SMTPServer>[0]);
  const implicit = config.smtp.tls && config.smtp.tlsPort !== undefined ? new SMTPServer({ ...handlers, secure: true } as ConstructorParameters<typeof SMTPServer>[0]) : undefined;
  const servers = [plain, ...(implicit ? [implicit] : [])];
  for (const server of servers) server.on('error', (error) => logger.warn({ err: error }, 'smtp: connection error'));
  const port = await listen(plain, config.smtp.port, config.smtp.host);
  const tlsPort = implicit ? await listen(implicit, config.smtp.tlsPort ?? 0, config.smtp.host) : undefined;
  return {
    port,
    tlsPort,
    reloadTls() {
      const context = tls();
      for (const server of servers) server.updateSecureContext(context);
      logger.info('smtp: TLS key and certificate reloaded');
    },
    close: () => Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())))).then(() => undefined),
  };
}

/** A valid hash of a random password, verified against when the user name is unknown. */
const DUMMY_HASH = 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

function listen(server: SMTPServer, port: number, host: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(port, host, () => {
      server.server.off('error', reject);
      const address = server.server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

/**
 * Buffers the DATA stream up to `limit` bytes, scanning all of it for smuggled ends of data (a line
 * of a lone dot with a bare CR or LF: what a lenient MTA downstream would read as two mails, the
 * 2023 SMTP smuggling attacks). Past the limit the rest is read and discarded (the client must still
 * get its answer after the final dot) and `raw` is undefined.
 */
function readLimited(stream: SMTPServerDataStream | Readable, limit: number): Promise<{ raw: Buffer | undefined; findings: DataFindings }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const scanner = new DataScanner();
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      scanner.write(chunk);
      if (size <= limit) chunks.push(chunk);
    });
    stream.once('error', reject);
    stream.once('end', () => resolve({ raw: size <= limit ? Buffer.concat(chunks, size) : undefined, findings: scanner.end() }));
  });
}
