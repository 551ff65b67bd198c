import { setTimeout as sleep } from 'node:timers/promises';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { SMTPServer, type SMTPServerAddress, type SMTPServerAuthentication, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { AcceptanceService } from '../acceptance/service.ts';
import { readTlsPair, type TlsFiles } from '../config/tls.ts';
import { partsCappedNote } from '../acceptance/new-mail.ts';
import type { AcceptedBounce, AcceptedForPostmaster, AcceptedMail, ContextNotTaken, Transaction } from '../acceptance/types.ts';
import { asRelayError, ListenError, QUOTED_CLIENT_TEXT_CHARS, RELAY_ERRORS, RelayError, STORE_FAILURE_CODES, toSmtpError } from '../errors.ts';
import { busiestHolders, type Logger, turnedAwayLog } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { hostBeforePort, peerAddress, reservedSlots } from '../policy/networks.ts';
import { maskContext, maskNumber, maskNumbersIn, maskNumbersInBut } from '../sms/numbers.ts';
import {
  ANSWERS_AFTER_CLIENTS_END,
  applySmtpServerPatches,
  DataTimedOut,
  closeToMakeRoom,
  messageTooBig,
  quietFor,
  recipientAcceptedAs,
  recipientNoted,
  SAYS_WHAT_TO_WRITE,
  spacedLocalPart,
} from './patches.ts';
import { DataScanner, type SmugglingFinding } from './smuggling.ts';
import { asciiQuoted, NOT_ASCII } from '../mail/ascii.ts';

/**
 * How long an outside client's connection may go without a command once the server is full, when a new
 * client needs its slot: Postfix's stress-adaptive smtpd_timeout (`${stress?{10}:{300}}s`). Under
 * `smtp.idleTimeout` alone (minutes) a few hosts holding silent connections kept every sender out, the
 * trusted networks' too, and reconnected when they were closed; a real sender is never silent that long
 * between its commands, only while it reads or writes a DATA (not counted as quiet).
 */
export const STRESSED_IDLE_MS = 10_000;
/**
 * The share of `smtp.maxConnections` kept for the trusted networks (the operator's ERP, monitoring, the
 * relay's own host): outside clients fill the rest at most, so that they never turn the operator's own
 * systems away, as Postfix's postscreen keeps mynetworks out of its limits (reservedSlots: none at 1).
 */
export const TRUSTED_RESERVE_SHARE = 0.1;

/** The slots of `maxConnections` the trusted networks keep (TRUSTED_RESERVE_SHARE). */
export function trustedReserve(maxConnections: number): number {
  return reservedSlots(maxConnections, TRUSTED_RESERVE_SHARE);
}

/** Who holds the listeners' connections, without the one of `turnedAway` being refused. */
function holdersBesides(servers: readonly SMTPServer[], turnedAway: string): string {
  const addresses = servers.flatMap((server) => [...server.connections].map((connection) => connection.remoteAddress));
  const refused = addresses.lastIndexOf(turnedAway);
  if (refused >= 0) addresses.splice(refused, 1);
  return busiestHolders(addresses);
}

/** RFC 5321 §4.5.3.1.4 allows 512 octets per command line; some clients send long ESMTP parameters. */
const MAX_COMMAND_LINE_BYTES = 4096;
/**
 * smtp-server's own cap on the addresses of a transaction, as a multiple of `smtp.maxRecipients`.
 * The limit itself is the acceptance service's: it counts a number once however it is written
 * (`+44…`, `0044…`, `…-<service id>`, on each SMS domain), where smtp-server counts addresses and would
 * defer a repeat written another way. This cap only bounds what the relay keeps for a client that
 * writes one number in endless ways; a client that names each number once or twice never meets it.
 */
export const RCPT_ADDRESSES_PER_RECIPIENT = 10;
/**
 * The oldest TLS the listeners take. smtp-server's default is TLS 1.0 for old clients, but OpenSSL 3
 * at Node's default security level refuses the SHA-1 signatures TLS 1.0 and 1.1 need: such a client
 * failed later anyway, with a TLS "internal error". Said here, its handshake ends at the version.
 */
const MIN_TLS_VERSION = 'TLSv1.2';
/** smtp-server's own wait when `closeTimeoutMs` is not given. */
const DEFAULT_CLOSE_TIMEOUT_MS = 30_000;
/** How often a stop looks whether the open transactions have ended: a stop ends at most this much after the last. */
const CLOSE_POLL_MS = 50;
/**
 * How long a stop gives the sessions it hangs up on for their 421 to be written, and the DATA it cut off to be
 * logged, before their sockets are closed: within the "about a second" past shutdownTimeout that a stop takes
 * (docs/operations.md, "Stopping"). smtp-server itself waits 5 s for a client that keeps its side open.
 */
const HANG_UP_MS = 500;

/** The listener's settings (`smtp.*`). */
export interface SmtpSettings {
  readonly host: string;
  readonly port: number;
  /** Name in the greeting. */
  readonly hostname: string;
  readonly maxMessageBytes: number;
  readonly maxRecipients: number;
  readonly maxConnections: number;
  /** Connections open at once from one address outside the trusted networks. */
  readonly maxConnectionsPerClient: number;
  readonly idleTimeout: number;
  /** Key and certificate files: STARTTLS, and the implicit-TLS listener when `tlsPort` is set. */
  readonly tls?: { readonly key: string; readonly cert: string } | undefined;
  readonly tlsPort?: number | undefined;
}

export interface SmtpIntakeOptions {
  readonly settings: SmtpSettings;
  /** Decides every stage; this layer only speaks SMTP. */
  readonly acceptance: AcceptanceService;
  readonly logger: Logger;
  readonly metrics?: Metrics | undefined;
  readonly clock?: () => number;
  /**
   * How long `close` lets the transactions in progress (MAIL accepted) finish before it answers the
   * sessions still open 421 and hangs up.
   */
  readonly closeTimeoutMs?: number;
}

export interface SmtpIntake {
  readonly port: number;
  /** The implicit-TLS listener's port, when `smtp.tlsPort` is set. */
  readonly tlsPort: number | undefined;
  /** Reads the key and certificate again (after the operator renewed them; SIGHUP). */
  reloadTls(): void;
  close(): Promise<void>;
}

/** ENCRYPTION_REQUIRED where the relay has no TLS to offer. */
const NO_TLS_FOR_AUTH = "Encryption required: this relay offers no TLS (smtp.tls is not set), so AUTH works only from the relay's own host";

/**
 * The SMTP listener(s): the protocol around the acceptance service. MAIL, RCPT, DATA and AUTH each
 * ask the service's stage and answer with its outcome in the error catalogue's codes; DATA is read
 * here (size limit, smuggled ends of data) and answered 250 only once the service has committed it.
 */
export async function startSmtpIntake(options: SmtpIntakeOptions): Promise<SmtpIntake> {
  applySmtpServerPatches();
  const { settings, acceptance, logger, metrics } = options;
  /** The error's SMTP answer, counted by reason. */
  const refuse = (error: unknown) => {
    metrics?.refused.inc({ code: asRelayError(error).code });
    return toSmtpError(error);
  };
  /**
   * Why AUTH is refused to a client, or undefined where it is offered (EHLO lists it only then: patches.ts).
   * Without smtp.tls there is no STARTTLS to point to (RFC 3207 offers only what the server has): the
   * refusal says AUTH works from this host alone.
   */
  const authRefusal = (address: string, secure: boolean) => {
    if (!acceptance.hasAccounts) return new RelayError('AUTH_UNAVAILABLE');
    const insecure = acceptance.insecureAuth(address, secure);
    return insecure && !settings.tls ? new RelayError('ENCRYPTION_REQUIRED', NO_TLS_FOR_AUTH) : insecure;
  };
  const clock = options.clock ?? Date.now;
  const turnedAway = turnedAwayLog(logger, clock, 'smtp: connection turned away');
  // A client that is no SMTP client (it wrote before the greeting, or sent HTTP) is its own doing, not the relay's limits: info.
  const notSmtpClients = turnedAwayLog(logger, clock, 'smtp: connection turned away', 'info');
  const clientsGone = turnedAwayLog(logger, clock, 'smtp: connection ended by the client', 'info');
  const handshakesFailed = turnedAwayLog(logger, clock, 'smtp: TLS handshake failed', 'info');
  /** Each connection's transaction in progress, by session id: set at MAIL, dropped when the connection closes. */
  const transactions = new Map<string, Transaction>();
  /** The stop's last step has begun: a DATA cut off now was cut off by the relay, not left by its client. */
  let hangingUp = false;
  /** Each DATA being read or answered, until it is answered and logged: a stop waits for those it cut off. */
  const readingData = new Set<Promise<unknown>>();
  const tls = settings.tls ? startingPair(settings.tls) : {};

  const handlers = {
    name: settings.hostname,
    banner: 'smsrelay: mail to <phone number>@<SMS domain> is sent as SMS',
    size: settings.maxMessageBytes,
    maxRecipients: settings.maxRecipients * RCPT_ADDRESSES_PER_RECIPIENT,
    // smtp-server's own bound on sockets still in their TLS handshake; a session's connection is
    // admitted by connectionRefusal below, which answers with an enhanced code and counts and logs it.
    maxClients: settings.maxConnections,
    socketTimeout: settings.idleTimeout,
    maxCommandLength: MAX_COMMAND_LINE_BYTES,
    // `close` below waits for the transactions itself: by then smtp-server's close only hangs up
    // (it reads 0 as "its default", 30 s, so the shortest wait is 1).
    closeTimeout: 1,
    // Off by default in smtp-server: senders act on enhanced codes (5.1.3 vs 5.7.1), and bounces
    // honour RFC 3461 NOTIFY/RET/ENVID.
    hideENHANCEDSTATUSCODES: false,
    hideDSN: false,
    // No allowHalfOpen here: it would hold every socket from accept on, a TLS handshake's too, and a
    // connect-then-FIN probe would stay until smtp.idleTimeout. patches.ts makes a socket half-open only
    // while a session's parser reads it, so the replies owed after a client's FIN still go out.
    [ANSWERS_AFTER_CLIENTS_END]: true,
    // Reverse DNS per connection costs a lookup (and up to its timeout) and decides nothing here.
    disableReverseLookup: true,
    // AUTH stays a known command without accounts too: authRefusal answers it with what to do instead.
    disabledCommands: settings.tls ? [] : ['STARTTLS'],
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: true,
    // smtp-server's own switch would refuse AUTH without TLS from loopback too, where TLS protects
    // nothing: the service decides per client instead, and a refused client is not offered AUTH and
    // is refused at the AUTH command, before it sends a password (patches.ts); so is every client of a
    // relay without accounts.
    allowInsecureAuth: true,
    authRefusal,
    // Counted only when an AUTH command gets it: every EHLO asks authRefusal whether to offer AUTH.
    authRefused: refuse,
    ...tls,
    minVersion: MIN_TLS_VERSION,
    logger: false,
    isTrusted: (address: string) => acceptance.isTrusted(address),
    knownByAddress: (address: string) => acceptance.knownByAddress(address),
    now: clock,
    connectionRefusal(address: string) {
      // Counted across the listeners: the limits are the relay's, and the TLS port must not double them.
      const trusted = acceptance.isTrusted(address);
      const now = clock();
      const open: SMTPConnection[] = [];
      const quiet: Array<{ readonly connection: SMTPConnection; readonly for: number }> = [];
      let fromClient = 0;
      for (const server of servers) {
        for (const connection of server.connections) {
          const quietMs = quietFor(connection, now);
          if (quietMs === undefined) continue;
          open.push(connection);
          if (connection.remoteAddress === address) fromClient++;
          if (quietMs >= STRESSED_IDLE_MS && !acceptance.isTrusted(connection.remoteAddress)) quiet.push({ connection, for: quietMs });
        }
      }
      // As Postfix exempts mynetworks from smtpd_client_connection_count_limit: the operator's own MTA may open many.
      if (fromClient > settings.maxConnectionsPerClient && !trusted) {
        return new RelayError(
          'TOO_MANY_CONNECTIONS',
          `${settings.hostname} Too many connections from ${address} (${settings.maxConnectionsPerClient}); try again later`,
        );
      }
      // The trusted networks' room kept: outsiders fill the rest at most.
      const room = trusted ? settings.maxConnections : settings.maxConnections - trustedReserve(settings.maxConnections);
      const over = open.length - room;
      if (over > 0) {
        // Full: outsiders quiet for STRESSED_IDLE_MS make room, the longest quiet first, before anyone is turned away.
        const made = quiet.sort((a, b) => b.for - a.for).slice(0, over);
        if (made.length < over) return new RelayError('SERVER_BUSY', `${settings.hostname} ${RELAY_ERRORS.SERVER_BUSY.text}`);
        for (const { connection, for: quietMs } of made) {
          closeToMakeRoom(
            connection,
            new RelayError('IDLE_TIMEOUT', `No command for ${Math.floor(quietMs / 1000)} s while the server is full; closing the connection to make room`),
          );
        }
      }
      return undefined;
    },
    connectionRefused(refusal: RelayError, address: string) {
      // Full: the log names who holds the slots, not only the client turned away.
      if (refusal.code === 'NOT_AN_SMTP_CLIENT') notSmtpClients(refusal, address);
      else turnedAway(refusal, address, refusal.code === 'SERVER_BUSY' ? { holders: holdersBesides(servers, address) } : {});
      return refuse(refusal);
    },
    // The refusals patches.ts answers itself, smtp-server's own among them: counted as the handlers' are.
    refused: refuse,
    recipientsPerMail: settings.maxRecipients,
    // smtp-server's default defers with setImmediate; answering at once lets the greeting of a
    // trusted client go out before its first bytes are read.
    onConnect(_session: SMTPServerSession, callback: (error?: Error) => void) {
      callback();
    },
    onClose(session: SMTPServerSession) {
      transactions.delete(session.id);
    },
    onAuth(auth: SMTPServerAuthentication, session: SMTPServerSession, callback: (error: Error | null, response?: { user: string }) => void) {
      // smtp-server takes a lone identity as the user name; AUTH PLAIN's authorization identity, when given, is the acceptance service's to judge.
      acceptance.authenticate(auth.username ?? '', auth.password ?? '', session.remoteAddress, session.secure, auth.authzid || undefined, session.id).then(
        (outcome) => (outcome.ok ? callback(null, { user: outcome.user }) : callback(refuse(outcome.error))),
        (error: unknown) => callback(refuse(error)),
      );
    },
    onMailFrom(address: SMTPServerAddress, session: SMTPServerSession, callback: (error?: Error) => void) {
      transactions.delete(session.id);
      // smtp-server sets session.envelope.mailFrom only after this handler accepts the address; its
      // DSN and SMTPUTF8 parameters are already in the envelope.
      const { dsn, smtpUtf8 } = session.envelope;
      // AUTH= belongs to the AUTH extension (RFC 4954 §5): in effect once signed in, or where EHLO offered it.
      // Asked only of a MAIL that names it: authRefusal makes an error (its stack) wherever AUTH is not offered.
      const namesAuth = Object.keys(address.args || {}).some((key) => key.toUpperCase() === 'AUTH');
      const offersAuth = !namesAuth || session.user !== undefined || authRefusal(session.remoteAddress, session.secure) === undefined;
      const unfit =
        nameBeforeSender(address) ??
        unknownParameter(address, offersAuth ? MAIL_PARAMETERS : MAIL_PARAMETERS_WITHOUT_AUTH, 'MAIL FROM') ??
        overlongEnvid(dsn?.envid) ??
        undeclaredUtf8(address, smtpUtf8);
      if (unfit) {
        logRefusal(logger, unfit, { session: session.id, client: session.remoteAddress }, 'smtp: sender refused');
        return callback(refuse(unfit));
      }
      const outcome = acceptance.sender({
        client: { address: session.remoteAddress, helo: session.hostNameAppearsAs || '' },
        user: session.user ? String(session.user) : undefined,
        protocol: session.transmissionType,
        envelopeFrom: address.address,
        dsn: { ret: dsn?.ret === 'FULL' || dsn?.ret === 'HDRS' ? dsn.ret : undefined, envid: dsn?.envid ?? undefined },
      });
      if (!outcome.ok) {
        logRefusal(logger, outcome.error, { session: session.id, client: session.remoteAddress, user: session.user }, 'smtp: sender refused');
        return callback(refuse(outcome.error));
      }
      transactions.set(session.id, outcome.transaction);
      callback();
    },
    onRcptTo(address: SMTPServerAddress, session: SMTPServerSession, callback: (error?: Error) => void) {
      const unfit =
        unknownParameter(address, RCPT_PARAMETERS, 'RCPT TO') ?? overlongOrcpt(address.dsn?.orcpt) ?? undeclaredUtf8(address, session.envelope.smtpUtf8);
      if (unfit) {
        const { rcpt } = maskedRecipient(address.address);
        logRefusal(logger, unfit, { session: session.id, client: session.remoteAddress, rcpt }, 'smtp: recipient refused');
        return callback(refuse(unfit));
      }
      admitRecipient(address, session).then(
        () => callback(),
        (error: unknown) => {
          const { rcpt: asRead, quoted } = maskedRecipient(address.address);
          // A number written with blanks is logged as written (`81234 85678@…`, its digits masked in its own layout), not as
          // the joined number nobody wrote; the reason's hint quotes the joined one, masked by `quoted`.
          const spaced = spacedLocalPart(session);
          const rcpt = spaced === undefined ? asRead : `${maskNumbersIn(spaced)}${address.address.slice(address.address.lastIndexOf('@'))}`;
          logRefusal(logger, asRelayError(error), { session: session.id, client: session.remoteAddress, rcpt }, 'smtp: recipient refused', quoted);
          callback(refuse(error));
        },
      );
    },
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback: (error: Error | null, message?: string) => void) {
      const started = clock();
      // Read now: smtp-server empties the envelope once the mail is answered, and a line logged after the answer (a bug's)
      // still names the sender. refuseMail and dataLineFields are the intake's own functions, not closures made per mail:
      // tsx names each closure it makes (esbuild's keepNames: an Object.defineProperty), ~1.5 µs each (#15).
      const data: DataAnswer = { session, sender: session.envelope.mailFrom ? session.envelope.mailFrom.address : undefined, callback };
      const reading = readLimited(stream, settings.maxMessageBytes)
        .then(
          async ({ raw, smuggling }) => {
            // Before the size: a smuggled second mail is an attack, whatever its size.
            if (smuggling) return refuseMail(data, new RelayError('SMUGGLING', `Refused: ${smuggling.reason}`));
            if (stream.sizeExceeded || raw === undefined) {
              return refuseMail(data, messageTooBig(settings.maxMessageBytes));
            }
            const transaction = transactions.get(session.id);
            if (!transaction) return refuseMail(data, noTransaction());
            const outcome = await acceptance.message(transaction, raw);
            if (!outcome.ok) return refuseMail(data, outcome.error, outcome.id);
            if ('postmaster' in outcome) {
              const { id: msgId, by, postmaster } = outcome;
              logger.info(
                { msgId, session: session.id, from: loggedSender(transaction.envelopeFrom), by, to: postmaster, bytes: raw.length, ms: clock() - started },
                'smtp: mail for the postmaster queued',
              );
              return callback(null, queuedReply(outcome));
            }
            if ('returned' in outcome) {
              logger.info(
                {
                  msgId: outcome.id,
                  session: session.id,
                  from: loggedSender(transaction.envelopeFrom),
                  by: outcome.by,
                  to: [...transaction.recipients.keys()].map((address) => maskedRecipient(address).rcpt),
                  messageId: outcome.messageIdHeader,
                  list: outcome.listId === undefined ? undefined : maskNumbersIn(outcome.listId.slice(0, QUOTED_CLIENT_TEXT_CHARS)),
                  bytes: raw.length,
                  ms: clock() - started,
                },
                "smtp: the relay's own reply mail came back through a mailing list; taken, not sent as SMS",
              );
              metrics?.ownMail.inc({ kind: 'reply', result: 'returned' });
              return callback(null, `Ok: taken as ${outcome.id}, not sent as SMS (${outcome.returned})`);
            }
            if ('bounce' in outcome) {
              const { id: msgId, by, bounce } = outcome;
              const fields = { msgId, session: session.id, from: loggedSender(transaction.envelopeFrom), by, reason: maskNumbersIn(bounce.reason) };
              if (!bounce.failed && bounce.behind)
                logger.info(
                  { ...fields, to: bounce.behind.mailbox, behind: maskNumbersIn(bounce.behind.address) },
                  'smtp: a reply mail bounced for an address behind its mailbox (a list member, a forward); nothing changed',
                );
              else if (!bounce.failed) logger.info(fields, 'smtp: a delay or success report about a reply mail taken; nothing changed');
              else if (bounce.alreadyFailed) logger.info({ ...fields, to: bounce.mailbox }, 'smtp: a reply mail bounced again; it was failed already');
              else {
                logger.warn(
                  { ...fields, to: bounce.mailbox, number: maskNumber(bounce.number) },
                  'smtp: a reply mail bounced after the smarthost took it: failed; its SMS is kept as undeliverable (smsrelay undeliverable)',
                );
                // Its attempt counted `delivered` at the smarthost's 250: the loss shows beside it, once per mail.
                metrics?.ownMail.inc({ kind: 'reply', result: 'bounced' });
              }
              return callback(null, bounceReply(outcome));
            }
            logger.info(
              {
                msgId: outcome.id,
                // A recipient refused earlier in the same mail was logged under this session.
                session: session.id,
                from: loggedSender(transaction.envelopeFrom),
                by: outcome.by,
                numbers: outcome.numbers,
                encoding: outcome.encoding,
                parts: outcome.parts,
                // A context may be a number (a system keying its conversations by the customer's), masked as the console's viewers see it.
                ...(outcome.context === undefined ? {} : { context: maskContext(outcome.context) }),
                ...(outcome.cutFrom ? { cutFromParts: outcome.cutFrom } : {}),
                ...(outcome.repeated.length > 0 ? { alertStormRepeats: outcome.repeated.length, foldedInto: earlierMails(outcome.repeated) } : {}),
                bytes: raw.length,
                ms: clock() - started,
                ...(outcome.duplicateOf ? { resubmissionOf: outcome.duplicateOf } : {}),
              },
              outcome.duplicateOf ? 'smtp: mail accepted again (resubmission): not sent twice' : 'smtp: mail accepted',
            );
            callback(null, queuedReply(outcome));
          },
          (error: unknown) => {
            // A stalled smuggled end of data, refused by the connection itself (patches.ts): its answer has gone out.
            if (error instanceof RelayError) return refuseMail(data, error);
            // The client closed the connection, or went silent and the relay closed it, before the final dot: nothing to answer.
            const message =
              error instanceof DataTimedOut
                ? 'smtp: DATA timed out, the relay closed the connection; nothing accepted'
                : hangingUp
                  ? 'smtp: stopping: shutdownTimeout reached during DATA, the relay closed the connection; nothing accepted'
                  : 'smtp: client left during DATA; nothing accepted';
            logger.info({ ...dataLineFields(data), reason: error instanceof Error ? error.message : String(error) }, message);
            callback(toSmtpError(error));
          },
        )
        // A bug past this point must still be answered (451) and logged, not left an unhandled rejection.
        .catch((error: unknown) => refuseMail(data, asRelayError(error)))
        .finally(() => readingData.delete(reading));
      readingData.add(reading);
    },
  };

  /** A DATA refused: its line, then its answer. */
  function refuseMail(data: DataAnswer, error: RelayError, msgId?: string): void {
    logRefusal(logger, error, { msgId, ...dataLineFields(data) }, 'smtp: mail refused');
    data.callback(refuse(error));
  }

  async function admitRecipient(address: SMTPServerAddress, session: SMTPServerSession): Promise<void> {
    const outcome = await acceptance.recipient(transactionOf(session), { address: address.address, dsn: address.dsn, spaced: spacedLocalPart(session) });
    // A refusal may still change the transaction: the numbers it refused, which the mail's own reports then leave out.
    if (outcome.transaction) transactions.set(session.id, outcome.transaction);
    if (outcome.ok) {
      if (outcome.repeated) recipientNoted(session, 'repeated');
      if (outcome.tagged) recipientAcceptedAs(session, `Accepted as ${outcome.tagged.number}: "+${outcome.tagged.tag}" is a tag, not part of the number`);
      return;
    }
    if (outcome.ofTheNumber) recipientNoted(session, 'number refused');
    throw outcome.error;
  }

  function transactionOf(session: SMTPServerSession): Transaction {
    const transaction = transactions.get(session.id);
    if (!transaction) throw noTransaction();
    return transaction;
  }

  const plain = new SMTPServer(handlers as ConstructorParameters<typeof SMTPServer>[0]);
  const implicit =
    settings.tls && settings.tlsPort !== undefined ? new SMTPServer({ ...handlers, secure: true } as ConstructorParameters<typeof SMTPServer>[0]) : undefined;
  const servers = [plain, ...(implicit ? [implicit] : [])];
  // A failure to bind is the caller's (a ListenError), not a connection error to log. smtp-server
  // reports a failed STARTTLS handshake twice, with the same error: it is logged once.
  const reported = new WeakSet<Error>();
  for (const server of servers) {
    server.on('error', (error) => {
      if (!server.server.listening || reported.has(error)) return;
      reported.add(error);
      logConnectionError(logger, error, clientsGone, handshakesFailed);
    });
  }
  const port = await listen(plain, settings.port, settings.host).catch((error: unknown) => {
    throw new ListenError('SMTP', { host: 'smtp.host', port: 'smtp.port' }, `${hostBeforePort(settings.host)}:${settings.port}`, error);
  });
  const tlsPort = implicit
    ? await listen(implicit, settings.tlsPort ?? 0, settings.host).catch(async (error: unknown) => {
        await new Promise<void>((resolve) => plain.close(() => resolve()));
        throw new ListenError('SMTP TLS', { host: 'smtp.host', port: 'smtp.tlsPort' }, `${hostBeforePort(settings.host)}:${settings.tlsPort}`, error);
      })
    : undefined;
  return {
    port,
    tlsPort,
    reloadTls() {
      if (!settings.tls) {
        logger.info('smtp: SIGHUP: no smtp.tls configured, nothing to reload');
        return;
      }
      // Checked whole before any listener takes it: smtp-server's updateSecureContext takes the files
      // into its options before it builds the context, and a pair that fails there left STARTTLS
      // with no context at all while the TLS port kept the previous one.
      const pair = readTlsPair(settings.tls, clock());
      if (!pair.ok) {
        logger.error(`smtp: TLS reload failed: smtp.tls.${pair.setting}: ${pair.reason}; the previous key and certificate stay in use`);
        return;
      }
      for (const server of servers) server.updateSecureContext({ key: pair.key, cert: pair.cert });
      if (pair.warning) logger.warn(`smtp: smtp.tls.cert: ${pair.warning}`);
      logger.info('smtp: TLS key and certificate reloaded');
    },
    async close() {
      // smtp-server's close answers every command from then on "421 4.4.2 Server shutting down", the
      // DATA of a transaction whose recipients were accepted included (docs/operations.md, "Stopping",
      // promises it may finish). So the listeners stop taking connections, a new MAIL is refused by the
      // acceptance service (421 4.3.2, the relay is stopping, which ends its connection), a transaction
      // already started runs to its answer, and only then, or at closeTimeoutMs, smtp-server hangs up
      // on the sessions still open.
      for (const server of servers) server.server.close();
      const deadline = performance.now() + (options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS);
      const inTransaction = () => servers.some((server) => [...server.connections].some((connection) => Boolean(connection.session?.envelope?.mailFrom)));
      while (inTransaction() && performance.now() < deadline) await sleep(CLOSE_POLL_MS);
      hangingUp = true;
      // smtp-server forgets a connection once it has answered 421 and ended its side of it.
      const sockets = servers.flatMap((server) => [...server.connections].map((connection) => socketOf(connection)));
      await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
      // A client that keeps its side open (one in the middle of DATA) would hold its socket, and the process, for
      // smtp-server's own wait after the relay said it stopped, and the DATA it cut off would be logged after that.
      // Both within the same HANG_UP_MS, not one after the other.
      await Promise.all([...sockets.map((socket) => closeOnceWritten(socket)), Promise.race([Promise.allSettled(readingData), sleep(HANG_UP_MS)])]);
    },
  };
}

/** A session's socket: smtp-server keeps it to itself (patches.ts reaches it the same way). */
function socketOf(connection: unknown): Socket {
  return (connection as { _socket: Socket })._socket;
}

/** Closes a socket whose side smtp-server ended, once what it wrote (the 421) is out, or at HANG_UP_MS. */
function closeOnceWritten(socket: Socket): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const close = () => {
      clearTimeout(timer);
      socket.destroy();
    };
    const timer = setTimeout(close, HANG_UP_MS);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    if (socket.writableFinished) close();
    else socket.once('finish', close);
  });
}

/** The key and certificate at start: loadConfig has checked them (a problem there is a config error), so one now is the files changing meanwhile. */
function startingPair(files: TlsFiles): { key: Buffer; cert: Buffer } {
  const pair = readTlsPair(files);
  if (!pair.ok) throw new Error(`smtp.tls.${pair.setting}: ${pair.reason}`);
  return { key: pair.key, cert: pair.cert };
}

/** Node's name of a TLS version as people write it: `TLSv1` is TLS 1.0. */
function tlsName(protocol: string): string {
  return protocol === 'TLSv1' ? 'TLS 1.0' : protocol.replace(/^TLSv/, 'TLS ');
}

/**
 * Socket errors that mean the client went away (smtp-server's own set, which it reports only within a
 * mail transaction): a reset in the middle of DATA is the client's doing, whose mail already has its
 * info line (`smtp: client left during DATA; nothing accepted`).
 */
const CLIENT_GONE_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * OpenSSL's reasons for a failed handshake that an operator meets most, in words saying what happened
 * (OpenSSL's name a record layer and a C file). Any other is given as OpenSSL's short reason.
 */
const HANDSHAKE_FAILURES: Readonly<Record<string, string>> = {
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: "the client does not trust the relay's certificate (unknown CA)",
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: "the client refused the relay's certificate (bad certificate)",
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN: "the client refused the relay's certificate (certificate unknown)",
  ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR: "the client refused the relay's certificate (decrypt error)",
  ERR_SSL_WRONG_VERSION_NUMBER: 'the client spoke plain text (not TLS) to a TLS port, or its TLS is not TLS',
  ERR_SSL_HTTP_REQUEST: 'the client sent an HTTP request to a TLS port',
  ERR_SSL_NO_SHARED_CIPHER: 'the client offered no cipher the relay takes',
};
/** smtp-server's error for a client that closed its connection before its TLS handshake was done (a probe, a scanner). */
const HANDSHAKE_ABANDONED = 'Socket closed while initiating TLS';

/**
 * A connection's failure in the log. A client that went away is `clientsGone`'s (at info, without a
 * stack, at most once a minute per code: any client may do it as often as it likes). A failed TLS
 * handshake (the client's trust, plain text on the TLS port, a probe's abandoned ClientHello) is as much
 * the client's doing: `handshakesFailed`'s, the same way, with OpenSSL's reason in words; so is a client
 * whose TLS is older than MIN_TLS_VERSION (scanners offer old versions by the thousand), its reason
 * saying what is required (OpenSSL's own words name a C file and say nothing an operator can act on), at
 * most once a minute per version offered, as such a device is told what to do in docs/security.md.
 * Anything else, which may be the relay's own fault, is logged with its error and stack.
 */
function logConnectionError(
  logger: Logger,
  error: Error & { code?: string; reason?: string; remoteAddress?: string; meta?: { tlsProtocol?: string | null; remoteAddress?: string } },
  clientsGone: ReturnType<typeof turnedAwayLog>,
  handshakesFailed: ReturnType<typeof turnedAwayLog>,
): void {
  const client = peerAddress(error.remoteAddress ?? error.meta?.remoteAddress);
  if (error.code && CLIENT_GONE_CODES.has(error.code)) {
    clientsGone({ code: error.code, message: error.message }, client);
    return;
  }
  const offered = error.meta?.tlsProtocol;
  if (error.code === 'ERR_SSL_UNSUPPORTED_PROTOCOL') {
    const reason = `the client offered only ${offered ? tlsName(offered) : 'an older TLS'}; ${tlsName(MIN_TLS_VERSION)} or newer is required`;
    handshakesFailed({ code: error.code, message: reason, key: `${error.code} ${offered ?? ''}` }, client, { tls: offered ?? undefined });
    return;
  }
  // OpenSSL's errors have its code (ERR_SSL_…) and its short reason; the code names the reason, a bounded set.
  if (error.code?.startsWith('ERR_SSL_')) {
    handshakesFailed({ code: error.code, message: HANDSHAKE_FAILURES[error.code] ?? error.reason ?? error.code }, client);
    return;
  }
  if (error.message === HANDSHAKE_ABANDONED) {
    handshakesFailed({ code: 'HANDSHAKE_ABANDONED', message: 'the client closed the connection during the TLS handshake' }, client);
    return;
  }
  logger.warn({ err: error }, 'smtp: connection error');
}

/** The distinct earlier mails a mail's numbers were folded into (the alert-storm window), in the numbers' order. */
const earlierMails = (folded: AcceptedMail['repeated']): string[] => [...new Set(folded.map((fold) => fold.earlier))];

/** The 250's note of numbers the alert-storm window folded: how many, and the earlier mail (the first, and how many others) whose SMS stands for this one's. */
function repeatsNote(folded: AcceptedMail['repeated']): string {
  const [first, ...others] = earlierMails(folded);
  const more = others.length === 0 ? '' : ` and ${others.length} other ${others.length === 1 ? 'mail' : 'mails'}`;
  return `${folded.length} of its numbers got this same alert from you as ${first}${more}, taken by the SMS network within the alert-storm window: not sent again`;
}

/** The 250 text: the message id, and what the relay did differently from what was asked (nothing, for the postmaster's mail). */
function queuedReply(accepted: AcceptedMail | AcceptedForPostmaster): string {
  const note =
    'postmaster' in accepted
      ? []
      : [
          accepted.cutFrom ? `text cut from ${accepted.cutFrom} to ${accepted.parts} ${accepted.parts === 1 ? 'part' : 'parts'} by policy` : '',
          accepted.standIns ?? '',
          accepted.partsCapped ? partsCappedNote(accepted.partsCapped) : '',
          accepted.duplicateOf ? `the same mail as ${accepted.duplicateOf}: sent once` : '',
          accepted.repeated.length > 0 ? repeatsNote(accepted.repeated) : '',
          accepted.subjectForBody ?? '',
          accepted.unread ?? '',
          accepted.attachments ?? '',
          accepted.contextNotTaken ? contextNote(accepted.contextNotTaken, accepted.numbers) : '',
          accepted.replyToAddresses
            ? `the Reply-To names ${accepted.replyToAddresses.count} addresses: replies from the phone go to the first, ${accepted.replyToAddresses.mailbox}, only`
            : '',
          accepted.mailboxNote ?? '',
        ].filter(Boolean);
  return `Ok: queued as ${accepted.id}${note.length > 0 ? ` (${note.join('; ')})` : ''}`;
}

/** The 250 text of a bounce taken at a reply mail's return path: what it changed. */
function bounceReply({ id, bounce }: AcceptedBounce): string {
  const what = !bounce.failed
    ? bounce.behind
      ? `a bounce for an address behind ${bounce.behind.mailbox}, not the mailbox itself: nothing changed`
      : 'a delay or success report: nothing changed'
    : bounce.alreadyFailed
      ? `the reply mail to ${bounce.mailbox} was failed already: nothing changed`
      : `the reply mail to ${bounce.mailbox} is failed; its SMS is listed as undeliverable`;
  return `Ok: bounce taken as ${id} (${what})`;
}

/** Why the mail went under another context than it named; "this number" only when it has one. */
function contextNote({ named, given, numbers }: ContextNotTaken, total: number): string {
  const whose = total === 1 ? 'this number' : `${numbers.length} of its numbers`;
  return `UserContext ${named} is another mailbox's conversation with ${whose}: sent under its own context ${given}`;
}

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
function readLimited(stream: SMTPServerDataStream | Readable, limit: number): Promise<{ raw: Buffer | undefined; smuggling: SmugglingFinding | undefined }> {
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
    stream.once('end', () => resolve({ raw: size <= limit ? Buffer.concat(chunks, size) : undefined, smuggling: scanner.end() }));
  });
}

/**
 * The parameters of the extensions the relay offers (smtp-server checks their values): SIZE, 8BITMIME
 * (BODY), SMTPUTF8, DSN (RET, ENVID; NOTIFY, ORCPT), and AUTH (AUTH=<>, which Postfix sends) where AUTH
 * is offered. Any other is an extension the client may not use here: REQUIRETLS too (RFC 8689), which
 * the relay does not offer, as it cannot hold its own mail and the SMS to it.
 */
const MAIL_PARAMETERS: ReadonlySet<string> = new Set(['SIZE', 'BODY', 'SMTPUTF8', 'RET', 'ENVID', 'AUTH']);
const MAIL_PARAMETERS_WITHOUT_AUTH: ReadonlySet<string> = new Set([...MAIL_PARAMETERS].filter((name) => name !== 'AUTH'));
const RCPT_PARAMETERS: ReadonlySet<string> = new Set(['NOTIFY', 'ORCPT']);

/**
 * A name written before the sender's address ("MAIL FROM:John Smith <a@example.com>", as in a From:
 * header): smtp-server reads its first word as an address without a domain, which MAIL FROM takes
 * (`<root>`), and the rest as parameters, so the client would be told of an unsupported parameter
 * "SMITH". Its address is what is wrong, and what to write is said. (RCPT TO needs a domain: such an
 * address is refused as one before any parameter is looked at.)
 */
function nameBeforeSender(address: SMTPServerAddress): RelayError | undefined {
  const words = Object.keys(address.args || {});
  return words.some((word) => /[<@]/.test(word)) ? new RelayError('BAD_SENDER_SYNTAX', SAYS_WHAT_TO_WRITE.SENDER_SYNTAX_ERROR) : undefined;
}

/** RFC 5321 §4.1.1.11: a parameter the server does not recognise gets 555, not a silent 250. */
function unknownParameter(address: SMTPServerAddress, known: ReadonlySet<string>, command: string): RelayError | undefined {
  const name = Object.keys(address.args || {}).find((key) => !known.has(key.toUpperCase()));
  // The name only, bounded: it is the client's text, echoed in the reply.
  return name === undefined
    ? undefined
    : new RelayError('UNKNOWN_SMTP_PARAMETER', `Unsupported ${command} parameter ${name.slice(0, QUOTED_CLIENT_TEXT_CHARS)}`);
}

/** RFC 3461 §4.4: an ENVID is at most 100 characters (it is carried into every bounce of the mail). */
const MAX_ENVID_CHARACTERS = 100;
/**
 * RFC 3461 §4.2: an ORCPT's address is at most 500 characters, so that its `Original-Recipient` line
 * in a report stays within RFC 5322's 998 (a strict smarthost refuses a longer line, and the bounce with it).
 */
const MAX_ORCPT_CHARACTERS = 500;

function overlongEnvid(envid: string | null | undefined): RelayError | undefined {
  if (!envid || envid.length <= MAX_ENVID_CHARACTERS) return undefined;
  return new RelayError('BAD_SMTP_PARAMETER', `ENVID too long: ${envid.length} characters, at most ${MAX_ENVID_CHARACTERS} (RFC 3461 §4.4)`);
}

function overlongOrcpt(orcpt: string | undefined): RelayError | undefined {
  // The limit is the address's, after its type (`rfc822;`).
  const address = orcpt?.slice(orcpt.indexOf(';') + 1) ?? '';
  if (address.length <= MAX_ORCPT_CHARACTERS) return undefined;
  return new RelayError('BAD_SMTP_PARAMETER', `ORCPT too long: ${address.length} characters, at most ${MAX_ORCPT_CHARACTERS} (RFC 3461 §4.2)`);
}

/**
 * A local part in UTF-8 in a transaction without SMTPUTF8, which the relay offers (RFC 6531). The
 * domain is not looked at: an A-label (`xn--…`) is kept as written, ASCII, fine without SMTPUTF8.
 */
function undeclaredUtf8(address: SMTPServerAddress, smtpUtf8: boolean | undefined): RelayError | undefined {
  const at = address.address.lastIndexOf('@');
  const local = at < 0 ? address.address : address.address.slice(0, at);
  return !smtpUtf8 && NOT_ASCII.test(local) ? new RelayError('SMTPUTF8_REQUIRED') : undefined;
}

/** A stage reached without the MAIL that starts a transaction: smtp-server's order makes it a bug of the relay. */
function noTransaction(): RelayError {
  return new RelayError('INTERNAL', 'Temporary local problem: no sender for this transaction');
}

/**
 * A refusal in the log. A client's is at info: its code and reason with every number masked (and
 * `quoted`, what the reason quotes of the client's input), without a stack, as no fault of the relay.
 * The relay's own failure (the store, a bug) is at error with all its detail; the client's reply
 * carries none of it.
 */
function logRefusal(logger: Logger, error: RelayError, fields: Readonly<Record<string, unknown>>, message: string, quoted?: Quoted): void {
  // A store outage is one "store: commits fail" error line (docs/operations.md); each mail it refuses is a
  // refusal like any other, at info with the store's own words, not an error with a stack.
  if (STORE_FAILURE_CODES.has(error.code)) {
    logger.info({ ...fields, code: error.code, reason: error.message }, message);
    return;
  }
  if (error.spec.internal) {
    logger.error({ ...fields, code: error.code, err: error }, message);
    return;
  }
  const reason = quoted ? maskedByCodePoint(error.message.split(quoted.text).join(quoted.masked), quoted.text) : maskQuotedValues(error.message, error.quotes);
  // An unread bounce may be a reply mail's failure in words the relay does not know: the operator sees it.
  const level = error.code === 'UNREAD_BOUNCE' ? 'warn' : 'info';
  logger[level]({ ...fields, code: error.code, reason: maskNumbersInBut(reason, error.configured) }, message);
}

/**
 * What a DATA's refusal or its end unanswered logs about the session. Made for those lines only, so the sender is masked
 * only then: a sender holding a number costs maskNumbersIn ~10 µs, and an accepted mail's line masks it once already (#15).
 */
function dataLineFields({ session, sender }: DataAnswer): { session: string; client: string; from: string | undefined } {
  return { session: session.id, client: session.remoteAddress, from: sender === undefined ? undefined : loggedSender(sender) };
}

/** A DATA being answered: its session, its sender as MAIL FROM gave it, and smtp-server's callback for the answer. */
interface DataAnswer {
  readonly session: SMTPServerSession;
  readonly sender: string | undefined;
  readonly callback: (error: Error | null, message?: string) => void;
}

/** A sender as the info log shows it: an SMS address (a phone's reply, `447700900777@<SMS domain>`) with its number masked. */
function loggedSender(address: string): string {
  return address === '' ? '<>' : maskNumbersIn(address);
}

/** A digit of any script: a number written in full-width or Arabic-Indic digits is still a number to mask. */
const A_DIGIT = /\p{Nd}/u;

/**
 * A refused recipient for an info line: a local part that may hold a number (a digit in it: a number,
 * a short code, one written with letters) masked, in the address and wherever the reason quotes it.
 * One without digits holds no number and reads as written (`postmaster`): masking it would mask the
 * same word in the relay's own reason ("the postmaster's copy").
 */
function maskedRecipient(address: string): { readonly rcpt: string; readonly quoted?: Quoted } {
  const local = address.slice(0, Math.max(address.lastIndexOf('@'), 0));
  const quoted = maskedQuote(local);
  return quoted ? { rcpt: `${quoted.masked}${address.slice(local.length)}`, quoted } : { rcpt: address };
}

/**
 * A reason with the client's values it quotes (RelayError.quotes) masked digit for digit: in quotes, whole or cut
 * short (`"447700900123XXXXXXXX…"`: a provider quotes so many characters), or standing alone, where no letter or digit
 * touches it (a short value such as `77` stays readable inside the operator's own `+447700900*`).
 */
function maskQuotedValues(reason: string, values: readonly string[]): string {
  let masked = reason;
  for (const value of values.filter((given) => A_DIGIT.test(given))) {
    masked = masked.replace(/"([^"]+)"/g, (whole, inner: string) => {
      const shown = inner.endsWith('…') ? inner.slice(0, -1) : inner;
      return A_DIGIT.test(shown) && value.startsWith(shown) ? `"${maskNumber(shown)}${inner.slice(shown.length)}"` : whole;
    });
    masked = maskedByCodePoint(maskStandingAlone(masked, value), value);
  }
  return masked;
}

/**
 * `text` with `value` masked where a reason quoted it by code point (asciiQuoted: a number in full-width digits,
 * `U+FF14U+FF14…`), as written: the free-text masker reads those as digits, but leaves a run of more than 15 as an id.
 */
function maskedByCodePoint(text: string, value: string): string {
  const quoted = asciiQuoted(value);
  return quoted === value ? text : text.split(quoted).join(asciiQuoted(maskNumber(value)));
}

const LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;

/** `text` with each occurrence of `value` that no letter or digit touches masked. */
function maskStandingAlone(text: string, value: string): string {
  let out = '';
  let from = 0;
  for (let at = text.indexOf(value); at !== -1; at = text.indexOf(value, at + value.length)) {
    if (LETTER_OR_DIGIT.test(text.charAt(at - 1)) || LETTER_OR_DIGIT.test(text.charAt(at + value.length))) continue;
    out += `${text.slice(from, at)}${maskNumber(value)}`;
    from = at + value.length;
  }
  return out + text.slice(from);
}

/** A client's value a reason quotes, and how the info log shows it. */
interface Quoted {
  readonly text: string;
  readonly masked: string;
}

/** A quoted value with a digit in it masked digit for digit (it may hold a number); one without digits holds none. */
function maskedQuote(value: string): Quoted | undefined {
  return A_DIGIT.test(value) ? { text: value, masked: maskNumber(value) } : undefined;
}
