import type { Socket } from 'node:net';
import SASL from 'smtp-server/lib/sasl.js';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import type { SMTPStream } from 'smtp-server/lib/smtp-stream.js';
import { QUOTED_CLIENT_TEXT_CHARS, RelayError, type RelayErrorCode, toSmtpError } from '../errors.ts';
import { byteName, firstNonUtf8Byte } from '../bytes-text.ts';
import { asciiQuoted, codePointName, NOT_ASCII, printableAscii } from '../mail/ascii.ts';
import { DataScanner, type SmugglingFinding } from './smuggling.ts';

/**
 * Narrow adjustments to smtp-server's internals, applied once. Each is covered by tests that fail if
 * a newer smtp-server changes the behaviour it relies on (test/smtp/intake.test.ts); package.json pins
 * smtp-server to an exact version for the same reason: an upgrade is a deliberate step with those
 * tests run, never a side effect of `npm install`.
 */

/** A reply text that starts with its own enhanced status code (RFC 3463) and a space. */
const ENHANCED_CODE = /^[245]\.\d{1,3}\.\d{1,3} /;
/** smtp-server's words when it refuses a command or hangs up because it is closing (421 4.4.2 from its table). */
const SMTP_SERVER_SHUTDOWN = 'Server shutting down';

/** ASCII for the characters the relay's own reply texts use beyond it, before the code point's name for anything else. */
const ASCII_LOOK_ALIKES: Readonly<Record<string, string>> = { '—': '-', '–': '-', '…': '...', '‘': "'", '’': "'", '“': '"', '”': '"', '→': '->', '×': 'x' };

/** Nothing but printable US-ASCII: what nearly every reply is, and what asciiReply leaves as it is. */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/**
 * A reply text in US-ASCII: a section sign as the word, letters without their accents (Türkiye: Turkiye), look-alikes,
 * and any other character by its code point (U+00AC): a 250 that names a character sent in another's place
 * (`("U+00AC" sent as "~" …)`) must still say which one.
 */
export function asciiReply(text: string): string {
  // Every reply line goes through here: one test instead of normalising and four replacements for the ASCII ones.
  if (PRINTABLE_ASCII.test(text)) return text;
  return printableAscii(
    text.replace(/§ ?/g, 'section ').replace(/[—–…‘’“”→×]/g, (character) => ASCII_LOOK_ALIKES[character] ?? character),
    codePointName,
  );
}

/**
 * RFC 5321 section 4.2: a reply's text is US-ASCII (textstring), and a client that did not ask for
 * SMTPUTF8 may not read more. The relay's reasons quote RFC sections (§), country names and dashes:
 * every reply is written in ASCII at the one place smtp-server writes it (writeReplies).
 */
function inAscii(data: string | string[] | null | undefined): string | string[] | null | undefined {
  return Array.isArray(data) ? data.map(asciiReply) : typeof data === 'string' ? asciiReply(data) : data;
}

/**
 * smtp-server derives the RFC 3463 enhanced status code from the basic code alone (550 → 5.1.1),
 * and a handler error cannot carry its own. Senders act on the difference between 5.1.3 (bad
 * number), 5.7.1 (relaying denied) and 5.3.4 (too long), so a reply text that starts with an
 * enhanced code keeps it and gets no second one (writeReplies). A reply with an enhanced code is the
 * relay's own, counted where it was made (countedReply, the intake's handlers); smtp-server's own
 * refusals (a text without one) are counted and worded here.
 */
function smtpServersReplyText(
  connection: SMTPConnection,
  code: number,
  data: string,
  context: string | false | undefined,
): { text: string; context: string | false | undefined } {
  const { refusal, inCatalogueWords, turnsAway } = smtpServersRefusal(connection, code, data, context);
  const answer = refusal && (turnsAway ? closingReply(connection, refusal) : countedReply(connection, refusal));
  if (answer && inCatalogueWords) return { text: answer.message, context: false };
  const instead = typeof context === 'string' && Object.hasOwn(SAYS_WHAT_TO_WRITE, context) && SAYS_WHAT_TO_WRITE[context as keyof typeof SAYS_WHAT_TO_WRITE];
  const text = instead ? (addressProblems.get(connection) ?? instead) : data;
  return { text, context: ENHANCED_CODE.test(text) ? false : context };
}

/** smtp-server's own refusals of a MAIL or RCPT address, by their reply context. */
const ADDRESS_REFUSALS: Readonly<Record<string, RelayErrorCode>> = { SENDER_SYNTAX_ERROR: 'BAD_SENDER_SYNTAX', MAILBOX_SYNTAX_ERROR: 'BAD_RECIPIENT_SYNTAX' };
/** smtp-server's own 421s (each closes the session), by their words; any other of its 421s is to a client that wrote too soon or sent HTTP. */
const SMTP_SERVER_CLOSINGS: Readonly<Record<string, RelayErrorCode>> = {
  'Timeout - closing connection': 'IDLE_TIMEOUT',
  'Error: Command line too long': 'LINE_TOO_LONG',
};
/** smtp-server's other refusals by their basic code (each code it answers with is here: they are all counted). */
const SMTP_SERVER_REFUSALS: Readonly<Record<number, RelayErrorCode>> = {
  421: 'NOT_AN_SMTP_CLIENT',
  451: 'INTERNAL',
  452: 'TOO_MANY_NUMBERS',
  500: 'UNKNOWN_COMMAND',
  501: 'BAD_COMMAND_SYNTAX',
  502: 'NOT_IMPLEMENTED',
  503: 'BAD_SEQUENCE',
  504: 'UNKNOWN_AUTH_MECHANISM',
  530: 'AUTH_REQUIRED',
  535: 'AUTH_FAILED',
  538: 'ENCRYPTION_REQUIRED',
  550: 'POLICY_DENIED',
  552: 'MESSAGE_TOO_BIG',
};
/** smtp-server's refusal of a MAIL whose SIZE is over the limit, and its 552 after DATA, which name the limit. */
const SMTP_SERVER_TOO_BIG = /^Error: message exceeds fixed maximum message size (\d+)$/;
/** The end of smtp-server's 421 to a client that wrote before the greeting (`<host> You talk too soon`). */
const SMTP_SERVER_TOO_SOON = ' You talk too soon';
/** smtp-server's 421 to a client that sent an HTTP request line. */
const SMTP_SERVER_HTTP = 'HTTP requests not allowed';
/** smtp-server's 421 after its tenth unrecognized command (its own limit, not configurable). */
const SMTP_SERVER_TOO_MANY_UNRECOGNIZED = 'Error: too many unrecognized commands';
/** smtp-server's refusals of a MAIL or RCPT parameter (duplicate, without its value, SIZE, BODY, NOTIFY, ORCPT, RET): 501 too. */
const SMTP_SERVER_PARAMETER = /parameter|message size syntax/i;

/**
 * A refusal smtp-server makes itself (its text has no enhanced code) as the catalogue error it is
 * counted as (smsrelay_smtp_refused_total counts every refusal, RFC 5321 §4.1.1.11's and the idle
 * timeout's alike), and whether the reply is written in the catalogue's words: the shutdown (as the
 * relay's own refusal of a MAIL while stopping), a bad greeting, a message over the limit (as at the end
 * of DATA), too many unrecognized commands (as the relay's other session limits), a client that wrote before the
 * greeting (its "<host> You talk too soon" had no enhanced code after a HELO). The rest keep smtp-server's words, which
 * say what they are. `turnsAway`: a client that is no SMTP client, turned away as the connection limits turn one away
 * (counted and logged: an operator whose device's mail never came finds its address in the log).
 */
function smtpServersRefusal(
  connection: SMTPConnection,
  code: number,
  text: string,
  context: unknown,
): { refusal?: RelayError; inCatalogueWords?: boolean; turnsAway?: boolean } {
  if (code === 421 && text === SMTP_SERVER_SHUTDOWN) return { refusal: new RelayError('SHUTTING_DOWN'), inCatalogueWords: true };
  if (code === 421 && text === SMTP_SERVER_TOO_MANY_UNRECOGNIZED) {
    return { refusal: new RelayError('TOO_MANY_COMMANDS', 'Too many unrecognized commands in this session; closing the connection'), inCatalogueWords: true };
  }
  if (code === 421 && text.endsWith(SMTP_SERVER_TOO_SOON)) return { refusal: new RelayError('NOT_AN_SMTP_CLIENT'), inCatalogueWords: true, turnsAway: true };
  if (code === 421 && text === SMTP_SERVER_HTTP) return { refusal: new RelayError('NOT_AN_SMTP_CLIENT'), turnsAway: true };
  const greeting = code === 501 ? GREETING_REFUSALS[text] : undefined;
  if (greeting) return { refusal: new RelayError('BAD_GREETING', greeting), inCatalogueWords: true };
  const limit = SMTP_SERVER_TOO_BIG.exec(text)?.[1];
  if (limit !== undefined) return { refusal: messageTooBig(Number(limit)), inCatalogueWords: true };
  const address = typeof context === 'string' && Object.hasOwn(ADDRESS_REFUSALS, context) ? ADDRESS_REFUSALS[context] : undefined;
  if (address) return { refusal: new RelayError(addressProblems.get(connection)?.startsWith('5.5.4 ') ? 'BAD_SMTP_PARAMETER' : address) };
  const byCode = code === 421 ? (SMTP_SERVER_CLOSINGS[text] ?? SMTP_SERVER_REFUSALS[code]) : SMTP_SERVER_REFUSALS[code];
  if (byCode === 'BAD_COMMAND_SYNTAX' && SMTP_SERVER_PARAMETER.test(text)) return { refusal: new RelayError('BAD_SMTP_PARAMETER') };
  return byCode === undefined ? {} : { refusal: new RelayError(byCode) };
}

/** The refusal of a message over `smtp.maxMessageBytes`, at MAIL (its SIZE) or at the end of DATA: one wording, its limit the relay's own. */
export function messageTooBig(limit: number): RelayError {
  return new RelayError('MESSAGE_TOO_BIG', `Message too big: the limit is ${limit} bytes`, { configured: [String(limit)] });
}

/**
 * smtp-server's refusals of an envelope address it cannot read even as written
 * (acceptEnvelopeAddressesAsWritten), by their reply context (which gives the enhanced code, 5.1.7 and
 * 5.1.3): in words that say what to write instead of its vague "Error: Bad sender address syntax".
 */
export const SAYS_WHAT_TO_WRITE = {
  SENDER_SYNTAX_ERROR: 'Bad sender address syntax: write MAIL FROM:<name@example.com>, then any parameters',
  MAILBOX_SYNTAX_ERROR: 'Bad recipient address syntax: write RCPT TO:<phone number@SMS domain>, then any parameters',
} as const;

/**
 * smtp-server's refusals of a HELO/EHLO argument (none, or a name it cannot take; one of several words
 * never reaches them: greetingAsWritten), which it sends without an enhanced code, in words that say what to write.
 */
const GREETING_REFUSALS: Readonly<Record<string, string>> = {
  'Error: syntax: EHLO hostname': "Syntax: EHLO <host name>: the client's host name or its address in brackets",
  'Error: Syntax: HELO hostname': "Syntax: HELO <host name>: the client's host name or its address in brackets",
  'Error: Bad hostname syntax': 'Bad HELO/EHLO host name: at most 300 characters, without control characters',
};

/** What the server tells these patches about its clients (intake.ts). */
export interface ClientOptions {
  /** Clients of the operator's own networks: no per-session limits. */
  isTrusted?: (address: string) => boolean;
  /** Clients the relay knows by their address (its trusted networks, and the devices listed under `networks`): no greeting pause. */
  knownByAddress?: (address: string) => boolean;
  /** Why a connection just opened (and already counted among the open ones) is turned away. */
  connectionRefusal?: (address: string) => RelayError | undefined;
  /** The 421 that turns a connection away or ends a session: counted and logged there. */
  connectionRefused?: (refusal: RelayError, address: string) => Error & { responseCode: number };
  /** The answer to a refusal these patches (or smtp-server itself) make: counted there, as the intake's own are. */
  refused?: (refusal: RelayError) => Error & { responseCode: number };
  /** The recipients a mail may have (smtp.maxRecipients): as many RCPTs refused for their number go uncounted in a session. */
  recipientsPerMail?: number;
  /** The intake's clock: when each connection was last answered (quietFor). */
  now?: () => number;
}

const clientOptions = (connection: SMTPConnection) => connection._server.options as ClientOptions;

/** Counts a refusal (the server's `refused`) and returns its reply. */
function countedReply(connection: SMTPConnection, refusal: RelayError): Error & { responseCode: number } {
  return (clientOptions(connection).refused ?? toSmtpError)(refusal);
}

/** Answers a refusal these patches make, counted as every other. */
function sendRefusal(connection: SMTPConnection, refusal: RelayError): void {
  const answer = countedReply(connection, refusal);
  connection.send(answer.responseCode, answer.message);
}

/**
 * smtp-server's pause before the greeting, to catch clients that talk too soon: a spam bot writes its session without
 * waiting for the server (Postfix's postscreen pregreet test), an SMTP client never does.
 */
const GREETING_DELAY_MS = 100;

/** The 421 that turns the client away: counted and logged with its address (the server's `connectionRefused`). */
function closingReply(connection: SMTPConnection, refusal: RelayError): Error & { responseCode: number } {
  return (clientOptions(connection).connectionRefused ?? toSmtpError)(refusal, connection.remoteAddress);
}

/** A 421 for the client (smtp-server closes the connection after sending it). */
function sendClosing(connection: SMTPConnection, refusal: RelayError): void {
  const answer = closingReply(connection, refusal);
  connection.send(answer.responseCode, answer.message);
}

/**
 * A new connection is admitted by the server's `connectionRefusal` (smtp.maxConnections, and
 * smtp.maxConnectionsPerClient, so that one address cannot take every slot), whose 421 carries an
 * enhanced code and is counted and logged, where smtp-server's own check answered a bare "421 Too
 * many connected clients" no one saw. smtp-server's pause before the greeting is kept for everyone
 * but the clients the relay knows by their address: its trusted networks (the monitoring system or ERP next
 * door, sending one mail per connection, where it caps a session near 10 mails/s) and the devices listed under
 * `networks` (a UPS's script that pipes its whole session, `printf … | nc -N`, without waiting for the 220).
 * Neither is a spam bot, the tell the pause looks for; a client it catches is turned away with the catalogue's 421.
 */
function admitConnections(): void {
  SMTPConnection.prototype.init = function initAdmitted() {
    const options = clientOptions(this);
    heard(this);
    this._setListeners(() => {
      const refusal = options.connectionRefusal?.(this.remoteAddress);
      if (refusal) {
        sendClosing(this, refusal);
        return;
      }
      if (options.knownByAddress?.(this.remoteAddress)) {
        this.connectionReady();
        return;
      }
      setTimeout(() => this.connectionReady(), GREETING_DELAY_MS).unref();
    });
  };
}

/**
 * When each connection opened or was last answered (its greeting too), by the intake's clock. Stamped at the replies
 * alone (writeReplies), not at the commands as well: every command line smtp-server reads is answered, at once or when
 * its handler calls back (not quiet meanwhile: quietFor), so a command's answer comes at or after it and its own stamp
 * was always overwritten; the reply also counts where no command came (the 250 after a long DATA). The lines it reads
 * and answers not, those sent during a TLS handshake, which it discards, are no sign of a sender at work.
 */
const lastHeard = new WeakMap<SMTPConnection, number>();
/** Connections closed to make room (closeToMakeRoom): still open until their 421 is written, no longer counted. */
const madeRoom = new WeakSet<SMTPConnection>();

function heard(connection: SMTPConnection): void {
  lastHeard.set(connection, (clientOptions(connection).now ?? Date.now)());
}

/**
 * How long the connection and the relay have said nothing, as a connection that may be closed to make room sees
 * it: never (0) while a DATA is being read (its bytes are no command lines), while a command's handler has not
 * answered yet (the relay owes the reply: a store waiting for a lock) or once it signed in (AUTH: one of the
 * operator's senders); undefined once it was closed to make room (no longer counted as open).
 */
export function quietFor(connection: SMTPConnection, now: number): number | undefined {
  if (madeRoom.has(connection)) return undefined;
  if (connection._dataStream || connection._handlerPending || connection.session.user) return 0;
  return now - (lastHeard.get(connection) ?? now);
}

/** Ends a connection with `refusal`'s 421 (counted and logged) to make room for a new one; from now on it is not counted as open. */
export function closeToMakeRoom(connection: SMTPConnection, refusal: RelayError): void {
  madeRoom.add(connection);
  sendClosing(connection, refusal);
}

/**
 * Postfix's smtpd_hard_error_limit (20): a session refused this often (4xx or 5xx to any command)
 * without a mail accepted in between is closed. A sender that can act on a refusal acts long before
 * (an MTA gives up a transaction at its first 5xx, and retries a 4xx later, in another session); one
 * that goes on is probing numbers, passwords or relaying, or holding a connection slot with answers it
 * never acts on (an outsider refused 530 at every MAIL held one for as long as it liked).
 */
export const MAX_SESSION_REFUSALS = 20;
/**
 * Postfix's smtpd_junk_command_limit (100): commands that carry no mail (NOOP, RSET, HELP, VRFY, a
 * greeting again…) a session may send without a mail accepted in between. Each restarts the idle
 * timeout, so without a limit a NOOP every few minutes held a connection slot for ever. smtp-server's
 * maxAllowedUnauthenticatedCommands would not do: it counts only where AUTH is required of everyone,
 * and trusted networks and listed networks send without it.
 */
export const MAX_COMMANDS_WITHOUT_MAIL = 100;
/** The commands of a mail transaction: every other one counts against MAX_COMMANDS_WITHOUT_MAIL. */
const MAIL_COMMANDS: ReadonlySet<string> = new Set(['MAIL', 'RCPT', 'DATA']);
const GREETINGS: ReadonlySet<string> = new Set(['HELO', 'EHLO']);
/**
 * RFC 5321 §4.5.3.1.10: a 452 for too many recipients (or numbers) is no error; the client sends the
 * rest in another transaction, and an MTA may well have pipelined more RCPTs than the limit.
 */
const NOT_AN_ERROR = 452;

/** A session's counts since its last accepted mail, and the command being answered. */
interface SessionCounts {
  command: string;
  refusals: number;
  withoutMail: number;
  /** RCPTs refused for their number while the mail held an accepted recipient: not refusals, up to recipientsPerMail in the session. */
  numbersRefused: number;
}

/**
 * What the intake says of the RCPT it is answering (recipientNoted): refused for a reason of the number itself
 * (opted out, premium, outside the destinations, no route, no valid number: the relay's own per-number policy),
 * or accepted again, a recipient the mail already has (however written), which adds nothing to it.
 */
export type RecipientNote = 'number refused' | 'repeated';
const recipientNotes = new WeakMap<object, RecipientNote>();

/** The intake's word on the RCPT it is answering, for countReply. */
export function recipientNoted(session: object, note: RecipientNote): void {
  recipientNotes.set(session, note);
}

/** The words of a RCPT's 250 where the relay took the address otherwise than as written (a `+tag` left out), for writeReplies. */
const acceptedAs = new WeakMap<object, string>();

/** What the 250 to the RCPT being accepted says in place of smtp-server's bare "Accepted". */
export function recipientAcceptedAs(session: object, text: string): void {
  acceptedAs.set(session, text);
}

/**
 * How far past its limit a session whose mail holds an accepted recipient may go before it is closed at once
 * rather than after that mail's answer: a client pipelining a roster sends its RCPTs before it reads an
 * answer, but one refused twice the limit within one mail is acting on nothing.
 */
const HARD_BOUND_WHILE_HOLDING = 2;

/** Each connection's counts; null for a client of the trusted networks (not limited), asked once per connection. */
const sessionCounts = new WeakMap<SMTPConnection, SessionCounts | null>();

/** The 421 for a session past a limit (each multiplied by `factor`), if it is. */
function pastLimit(counts: SessionCounts, factor: number): RelayError | undefined {
  if (counts.refusals >= factor * MAX_SESSION_REFUSALS) {
    return new RelayError('TOO_MANY_COMMANDS', `Too many refused commands in this session (${MAX_SESSION_REFUSALS}); closing the connection`);
  }
  if (counts.withoutMail > factor * MAX_COMMANDS_WITHOUT_MAIL) {
    return new RelayError('TOO_MANY_COMMANDS', `Too many commands without a mail (${MAX_COMMANDS_WITHOUT_MAIL}); closing the connection`);
  }
  return undefined;
}

/** Whether the session's mail holds an accepted recipient, as the command being answered leaves it (DATA's answer ends the mail). */
const holdsRecipient = (connection: SMTPConnection, counts: SessionCounts) => counts.command !== 'DATA' && connection.session.envelope.rcptTo.length > 0;

/** The connection's counts, made at its first command; null for a client of the trusted networks. */
function countsOf(connection: SMTPConnection): SessionCounts | null {
  let counts = sessionCounts.get(connection);
  if (counts === undefined) {
    counts = clientOptions(connection).isTrusted?.(connection.remoteAddress) ? null : { command: '', refusals: 0, withoutMail: 0, numbersRefused: 0 };
    sessionCounts.set(connection, counts);
  }
  return counts;
}

/**
 * A session of a client outside the trusted networks is closed with 421 4.7.0 after
 * MAX_SESSION_REFUSALS refusals or MAX_COMMANDS_WITHOUT_MAIL commands that carry no mail; both counts
 * start afresh at each mail accepted (a device sending a thousand mails in one session, with RSET before
 * each, goes on). Clients of trusted networks are the operator's own and are not limited (as for the
 * sending limits).
 *
 * A RCPT that adds nothing to the mail (a 452, the mail being full, or a recipient it already has) is a command
 * without mail: a client cannot scan numbers for ever past smtp.maxRecipients (a 452 tells a number that is
 * not opted out from one that is). A RCPT refused for its number while the mail holds an accepted recipient is
 * no refusal, for as many as a mail may have recipients (smtp.maxRecipients) in the whole session: a roster with
 * numbers that texted STOP is sent to the others. Before an accepted recipient, such a refusal counts (a scanner
 * probing numbers gets none accepted), and so do unknown names, foreign domains and routing tricks.
 *
 * A session that reaches a limit while its mail holds an accepted recipient is closed right after that mail
 * is answered (its DATA, or the transaction dropped), not before, so a client that pipelined its roster loses
 * no mail; past HARD_BOUND_WHILE_HOLDING times the limit it is closed at once.
 *
 * Here a command (`verb`, upper-cased) is counted, with the 421 for a session it takes past a limit;
 * countReply counts the replies.
 */
function commandPastLimit(connection: SMTPConnection, verb: string): RelayError | undefined {
  const counts = countsOf(connection);
  if (!counts) return undefined;
  counts.command = verb;
  // The greeting a session owes (its first, or the one after STARTTLS) is no junk; one again is.
  const owedGreeting = GREETINGS.has(verb) && !connection.hostNameAppearsAs;
  if (MAIL_COMMANDS.has(verb) || owedGreeting) return undefined;
  counts.withoutMail++;
  return pastLimit(counts, holdsRecipient(connection, counts) ? HARD_BOUND_WHILE_HOLDING : 1);
}

/** A reply just sent (commandPastLimit's limits): counted against the session's limits, and its 421 sent when it takes the session past one. */
function countReply(connection: SMTPConnection, code: number): void {
  const counts = sessionCounts.get(connection);
  if (!counts || connection._closing) return;
  // DATA's 354 and AUTH's 334 answer nothing yet; after QUIT's 221 the session closes anyway.
  if ((code >= 300 && code < 400) || counts.command === 'QUIT') return;
  const note = counts.command === 'RCPT' ? recipientNotes.get(connection.session) : undefined;
  recipientNotes.delete(connection.session);
  const holding = holdsRecipient(connection, counts);
  if (code === 250 && counts.command === 'DATA') {
    // A mail accepted starts the counts afresh, unless the session reached a limit while it held the mail.
    if (!pastLimit(counts, 1)) {
      counts.refusals = 0;
      counts.withoutMail = 0;
      return;
    }
  } else if (counts.command === 'RCPT' && (code === NOT_AN_ERROR || note === 'repeated')) {
    counts.withoutMail++;
  } else if (code >= 400 && code !== NOT_AN_ERROR) {
    if (note === 'number refused' && holding && counts.numbersRefused < (clientOptions(connection).recipientsPerMail ?? 0)) counts.numbersRefused++;
    else counts.refusals++;
  }
  const closing = pastLimit(counts, holding ? HARD_BOUND_WHILE_HOLDING : 1);
  if (closing) sendClosing(connection, closing);
}

/** A command line's words, its verb first, split at blanks as smtp-server splits them. */
function commandWords(command: Buffer): string[] {
  return command.toString().trim().split(/\s+/);
}

/** RFC 5321 §4.1.1.4, §4.1.1.5, §4.1.1.10: DATA, RSET and QUIT take no argument (NOOP may have one, §4.1.1.9). */
const WITHOUT_ARGUMENT = ['DATA', 'RSET', 'QUIT'] as const;

/**
 * smtp-server ignores what follows DATA, RSET and QUIT. A client that writes `DATA 100` (BDAT's size in
 * DATA's place) is confused about the protocol: its 354 made the commands it sent next the text of an
 * SMS. Such a command gets 501 5.5.4 and does nothing, so a refused DATA starts no data and what the
 * client sends next is read as commands.
 */
function commandsWithoutArguments(): void {
  for (const verb of WITHOUT_ARGUMENT) {
    const handle = SMTPConnection.prototype[`handler_${verb}`];
    SMTPConnection.prototype[`handler_${verb}`] = function withoutArgument(command, callback) {
      // The line as read has no trailing blanks (lineAsRead): the verb alone, as nearly every one is, has no argument.
      if (command.length > verb.length && commandWords(command).length > 1) {
        sendRefusal(this, new RelayError('BAD_COMMAND_SYNTAX', `Syntax: ${verb} takes no argument`));
        callback();
        return;
      }
      handle.call(this, command, callback);
    };
  }
}

/**
 * Commands of SMTP the relay does not implement: EXPN (RFC 5321 §3.5.2, it has no lists to show) and
 * RFC 821's TURN, SEND, SOML and SAML (RFC 5321 Appendix F). STARTTLS joins them where smtp.tls is not set.
 */
const NOT_IMPLEMENTED_COMMANDS: ReadonlySet<string> = new Set(['EXPN', 'TURN', 'SEND', 'SOML', 'SAML']);
/** Room for the longest name above and the space after it: what is read of a command line to name it. */
const COMMAND_NAME_BYTES = 9;

/**
 * smtp-server answers a command it has no handler for `500 5.5.2 command not recognized` and counts it
 * towards closing the session. RFC 5321 §4.2.4 has a command the server knows but does not implement
 * answered 502, so the client learns it is not offered rather than misspelt: the refusal for such a
 * command (`verb`, upper-cased), if it is one.
 */
function notImplemented(connection: SMTPConnection, verb: string): RelayError | undefined {
  const unimplemented = NOT_IMPLEMENTED_COMMANDS.has(verb) || (verb === 'STARTTLS' && !connection._isSupported(verb));
  return unimplemented ? new RelayError('NOT_IMPLEMENTED', `Command not implemented: ${verb}`) : undefined;
}

/** `RCPT TO:<` as smtp-server reads it (any blanks around the colon): where the path of a RCPT line starts. */
const RCPT_PATH = /^RCPT\s+TO\s*:\s*</iu;
/**
 * A blank (JavaScript's \s) or a character that shows nothing (Unicode's format characters, Cf: a zero-width space, a
 * bidi embedding, a byte order mark), which smtp-server refuses in any address or splits the command at (U+FEFF is white
 * space to JavaScript): what a number pasted from a page, a PDF or a contact card may carry.
 */
const UNSEEN = /[\s\p{Cf}]/u;
/** Blanks and invisible characters, all of them: what is taken out of a number written with them. */
const UNSEEN_IN_NUMBER = /[\s\p{Cf}]+/gu;
/** A blank (which no domain holds). */
const BLANK = /\s/u;
/** A blank that is no format character: what the local part as written is kept without at its ends (U+FEFF is kept, to be named). */
const PLAIN_BLANK = /[^\S\p{Cf}]/u;
/** What is left of the local part once the spaces are out: a number as people write it. */
const WRITTEN_NUMBER = /^\+?\(?\d[\d().-]*\d$/;

/**
 * `RCPT TO:<447 700 900123@sms.example.com>`, the local part quoted or not (blanks about the quotes): a local part
 * holding a blank or an invisible character (UNSEEN), with its domain and what follows the path. Read by index, each
 * character of the line once, never by one expression of lazy parts around a blank, which backtracks over a run of
 * blanks in cubic time (a 4 KB RCPT of spaces held the event loop for minutes). A path longer than a mailbox may be
 * (MAX_MAILBOX_OCTETS) is none: smtp-server's parse refuses it as too long.
 */
function spacedRecipient(line: string): { readonly written: string; readonly domain: string; readonly rest: string } | undefined {
  const start = RCPT_PATH.exec(line)?.[0].length;
  const end = start === undefined ? -1 : line.indexOf('>', start);
  if (start === undefined || end < 0 || end - start > MAX_MAILBOX_OCTETS) return undefined;
  const path = line.slice(start, end);
  const at = path.indexOf('@');
  const domain = path.slice(at + 1);
  if (at < 0 || path.includes('<') || domain === '' || domain.includes('@') || BLANK.test(domain)) return undefined;
  let from = 0;
  let to = at;
  while (from < to && PLAIN_BLANK.test(path.charAt(from))) from++;
  while (to > from && PLAIN_BLANK.test(path.charAt(to - 1))) to--;
  // Quoted, the local part is what the quotes hold: blanks may stand about them, nothing else.
  const quoted = to - from >= 2 && path.charAt(from) === '"' && path.charAt(to - 1) === '"';
  const local = quoted ? path.slice(from + 1, to - 1) : path.slice(from, to);
  if (local.includes('"') || !UNSEEN.test(quoted ? local : path.slice(0, at))) return undefined;
  return { written: local, domain, rest: line.slice(end + 1) };
}

/** The local part as written with blanks, per session, of the RCPT being handled: read by the intake (spacedLocalPart). */
const spacedLocalParts = new WeakMap<object, string>();

/** The local part of the RCPT being handled as its client wrote it with blanks (`447 700 900123`), if it was. */
export function spacedLocalPart(session: object): string | undefined {
  return spacedLocalParts.get(session);
}

/**
 * smtp-server splits a command at whitespace, so a number pasted as it is printed
 * (`RCPT TO:<447 700 900123@sms.example.com>`) gets its "501 Bad recipient address syntax" before
 * any handler sees the address; so does one holding a zero-width space or a byte order mark, which it
 * refuses in any address. A recipient whose local part is a phone number written with spaces or
 * invisible characters is read with them out instead, the local part as written kept for the intake: every check before
 * the number's comes first (503 before MAIL, a bad parameter, a foreign domain), then the relay's
 * answer, what to write (501 5.1.3) or why the words are no one number (resolveRecipient).
 * Anything else goes on to acceptEnvelopeAddressesAsWritten unchanged.
 */
function explainSpacedNumbers(): void {
  const handle = SMTPConnection.prototype.handler_RCPT;
  SMTPConnection.prototype.handler_RCPT = function rcptWithSpacedNumber(command, callback) {
    const line = command.toString();
    const spaced = spacedRecipient(line);
    const number = spaced?.written.replace(UNSEEN_IN_NUMBER, '');
    // With blanks, a number's words; with format characters alone, any local part (a list's, `<number>-<id>`): the
    // intake reads it without them as a RCPT of it, and names them.
    if (!spaced || !number || !(WRITTEN_NUMBER.test(number) || !PLAIN_BLANK.test(spaced.written))) {
      handle.call(this, command, callback);
      return;
    }
    const session = this.session;
    spacedLocalParts.set(session, spaced.written);
    handle.call(this, Buffer.from(`RCPT TO:<${number}@${spaced.domain}>${spaced.rest}`), (...args) => {
      spacedLocalParts.delete(session);
      callback(...args);
    });
  };
}

/** How much of a command line before a byte that is not UTF-8 its refusal quotes, to say where the byte is. */
const BEFORE_BAD_BYTE_CHARS = 24;

/**
 * smtp-server reads a command line as UTF-8, and a byte that is not (a Latin-1 `ü`, 0xFC, from an old device) becomes
 * U+FFFD: an address so written was refused as "a UTF-8 address" without SMTPUTF8, and with it taken and kept mangled
 * (`m�ller@example.de`), its bounces and replies going nowhere. RFC 6531 §3.3: an address beyond ASCII is UTF-8; one
 * that is not cannot be read, so MAIL and RCPT holding such a byte are refused 553 5.6.7 (as a non-ASCII address not
 * permitted), naming the byte and what comes before it, under SMTPUTF8 or not, before anything reads the line.
 */
function envelopeInUtf8(): void {
  for (const verb of ['MAIL', 'RCPT'] as const) {
    const handle = SMTPConnection.prototype[`handler_${verb}`];
    SMTPConnection.prototype[`handler_${verb}`] = function envelopeLineInUtf8(command, callback) {
      const at = firstNonUtf8Byte(command);
      // A command out of sequence (a second MAIL, a RCPT before MAIL) is told so (503 5.5.1) whatever its bytes.
      const outOfSequence = (verb === 'MAIL') === Boolean(this.session.envelope.mailFrom);
      if (at < 0 || outOfSequence) {
        handle.call(this, command, callback);
        return;
      }
      const before = asciiQuoted(command.subarray(0, at).toString()).slice(-BEFORE_BAD_BYTE_CHARS);
      const byte = byteName(command[at] ?? 0);
      // Past the `>` that ends the address the byte is in a parameter (ORCPT=, ENVID=), which is ASCII (RFC 3461 xtext).
      const closing = command.indexOf('>');
      sendRefusal(
        this,
        closing >= 0 && closing < at
          ? new RelayError(
              'BAD_SMTP_PARAMETER',
              `Parameter not in ASCII: byte ${byte} after "${before}" is not ASCII; write ${verb}'s parameters in ASCII (xtext, RFC 3461)`,
            )
          : new RelayError(
              'SMTPUTF8_REQUIRED',
              `Address not in UTF-8: byte ${byte} after "${before}" is not UTF-8 (Latin-1?); write the address in UTF-8, with SMTPUTF8 on MAIL FROM (RFC 6531)`,
            ),
      );
      callback();
    };
  }
}

/** `MAIL FROM:` or `RCPT TO:` and the spaces around the colon, as smtp-server reads them. */
const ADDRESS_COMMAND = /^\s*(MAIL FROM|RCPT TO)\s*:[ \t]*/i;
/** RFC 5321 §4.1.3: a source route before the mailbox, which smtp-server drops. */
const SOURCE_ROUTE = /^@[^\s,:@]+(?:,@[^\s,:@]+)*:/;
/** RFC 5321 §4.1.2 Quoted-string, in ASCII: printable characters, `"` and `\\` only escaped (so never a control character). */
const QUOTED_LOCAL_PART = /^"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*"$/;
/** The domain smtp-server checks in place of a sender's missing one; it is dropped again from the address. */
const STAND_IN_DOMAIN = 'localhost';

/** Where the `"` that ends the quoted string opened at `start` is, or -1. */
function closingQuote(text: string, start: number): number {
  for (let index = start + 1; index < text.length; index++) {
    if (text[index] === '\\') index++;
    else if (text[index] === '"') return index;
  }
  return -1;
}

/** The path (without its brackets) and what follows it: `<path> params` or a path written without brackets. */
function splitPath(text: string): { readonly path: string; readonly rest: string } | undefined {
  const bracketed = text.startsWith('<');
  let index = bracketed ? 1 : 0;
  while (index < text.length) {
    const char = text[index] ?? '';
    if (char === '"') {
      index = closingQuote(text, index);
      if (index < 0) return undefined;
    } else if (bracketed ? char === '>' : /\s/.test(char)) break;
    else if (char === '<' || char === '>') return undefined;
    index++;
  }
  if (bracketed && text[index] !== '>') return undefined;
  const rest = text.slice(bracketed ? index + 1 : index);
  return /^(\s|$)/.test(rest) ? { path: text.slice(bracketed ? 1 : 0, index), rest } : undefined;
}

/**
 * An envelope address as old devices write it (UPS cards, BMCs, printers; Postfix takes these with its
 * default `strict_rfc821_envelopes = no`): without angle brackets, with a quoted local part holding
 * spaces, with the domain's trailing dot, a sender without a domain. What it reads is given to
 * smtp-server's own parser in the form it takes (a quoted local part as a stand-in of the same length,
 * a missing domain as a stand-in), so its checks of the domain, the parameters and the length all
 * hold; the address it returns is the one written, brackets added and a trailing dot dropped.
 */
function parseWrittenAddress(parse: SMTPConnection['_parseAddressCommand'], connection: SMTPConnection, name: string, command: string) {
  const verb = ADDRESS_COMMAND.exec(command);
  const written = verb && splitPath(command.slice(verb[0].length));
  if (!verb?.[1] || !written) return false;
  const mailbox = written.path.replace(SOURCE_ROUTE, '');
  const quoted = mailbox.startsWith('"');
  const at = quoted ? closingQuote(mailbox, 0) + 1 : mailbox.lastIndexOf('@');
  const local = at > 0 ? mailbox.slice(0, at) : mailbox;
  const domain = at > 0 && mailbox[at] === '@' ? mailbox.slice(at + 1).replace(/(.)\.$/, '$1') : undefined;
  const sender = verb[1].toUpperCase() === 'MAIL FROM';
  if (local === '' || (quoted ? !QUOTED_LOCAL_PART.test(local) : /\s/.test(local)) || (at > 0 && domain === undefined)) return false;
  if (domain === undefined && !sender) return false;
  const standIn = quoted ? 'q'.repeat(local.length) : local;
  const parsed = parse.call(connection, name, `${verb[1]}:<${standIn}@${domain ?? STAND_IN_DOMAIN}>${written.rest}`);
  if (!parsed) return false;
  const address = domain === undefined ? local : `${local}${parsed.address.slice(standIn.length)}`;
  return { ...parsed, address };
}

/**
 * smtp-server turns a domain's A-labels (`xn--e1a`) into Unicode. The relay's SMS domains are ASCII
 * and its replies to a client without SMTPUTF8 must be (RFC 5321 §2.4): an address whose domain was
 * written in ASCII keeps it as written, so a refusal echoes `xn--e1a.example`, never a look-alike
 * (`е.example`, a Cyrillic е) or a string of combining marks in 8-bit bytes.
 */
function withDomainAsWritten<T extends { readonly address: string }>(parsed: T, command: string): T {
  const at = parsed.address.lastIndexOf('@');
  if (at < 0 || !NOT_ASCII.test(parsed.address.slice(at + 1))) return parsed;
  const verb = ADDRESS_COMMAND.exec(command);
  const path = verb && splitPath(command.slice(verb[0].length))?.path.replace(SOURCE_ROUTE, '');
  const domain = path?.slice(path.lastIndexOf('@') + 1).replace(/(.)\.$/, '$1');
  return domain === undefined || NOT_ASCII.test(domain) ? parsed : { ...parsed, address: `${parsed.address.slice(0, at)}@${domain}` };
}

/**
 * smtp-server refuses any envelope address outside RFC 5321's strict form with a vague "501 Error: Bad
 * sender address syntax" (or recipient). It keeps parsing what it takes as before; what it refuses is
 * read as old devices write it (`parseWrittenAddress`), and what is still refused gets a reply that says
 * what to write (SAYS_WHAT_TO_WRITE). Every check after the parse (relaying, routing characters, sender
 * policy) sees the address as for any other.
 */
function acceptEnvelopeAddressesAsWritten(): void {
  const parse = SMTPConnection.prototype._parseAddressCommand;
  SMTPConnection.prototype._parseAddressCommand = function parseAsWritten(rawName, rawCommand) {
    const command = String(rawCommand ?? '');
    const parsed = parse.call(this, rawName, rawCommand) || parseWrittenAddress(parse, this, rawName, command);
    const read = parsed && withDomainAsWritten(parsed, command);
    // smtp-server decodes xtext leniently (byte by byte, a bad escape kept as written): the written value is checked here.
    const problem = read ? xtextProblem(command) : addressProblem(command);
    if (problem) addressProblems.set(this, problem);
    else addressProblems.delete(this);
    return problem ? false : read;
  };
}

/** smtp-server's longest mailbox (RFC 5321 §4.5.3.1.3: a path of 256 octets, its brackets and a margin included). */
const MAX_MAILBOX_OCTETS = 253;
/** Control characters (C0, DEL, C1: smtp-server's set), which it refuses in a parameter's value, xtext-decoded (`+0A` too). */
const CONTROL_CHARACTER = /\p{Cc}/u;

/** The value of an ESMTP parameter as smtp-server checks it: xtext decoded (RFC 3461 §4). */
function decodeXtext(value: string): string {
  return value.replace(/\+([0-9A-F]{2})/g, (_match, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

/**
 * The reply text for a MAIL or RCPT that smtp-server could not parse, where the generic one (what to
 * write) would mislead: an address too long (with the context's enhanced code: 5.1.7 or 5.1.3), or a
 * parameter holding a control character (5.5.4, naming it). The local part may be longer than RFC
 * 5321's 64 octets: as Postfix, the relay takes it, within smtp-server's limit on the whole mailbox.
 */
function addressProblem(command: string): string | undefined {
  const verb = ADDRESS_COMMAND.exec(command);
  const written = verb?.[1] && splitPath(command.slice(verb[0].length));
  if (!verb?.[1] || !written) return undefined;
  const mailbox = written.path.replace(SOURCE_ROUTE, '');
  const sender = verb[1].toUpperCase() === 'MAIL FROM';
  if (mailbox.length > MAX_MAILBOX_OCTETS) {
    return `${sender ? 'Sender' : 'Recipient'} address too long: ${mailbox.length} characters, at most ${MAX_MAILBOX_OCTETS} (RFC 5321 §4.5.3.1.3)`;
  }
  const bad = written.rest
    .trim()
    .split(/\s+/)
    .find((parameter) => CONTROL_CHARACTER.test(decodeXtext(parameter.slice(parameter.indexOf('=') + 1))));
  if (bad === undefined) return undefined;
  // The name only, bounded: it is the client's text, echoed in the reply.
  const name = bad.split('=')[0]?.slice(0, QUOTED_CLIENT_TEXT_CHARS).toUpperCase() ?? '';
  // smtp-server decodes every value as xtext, so SIZE=+100 reads as holding 0x10; only ENVID and ORCPT
  // are xtext (RFC 3461 section 4), and another value with no control character as written is bad syntax.
  const value = bad.slice(bad.indexOf('=') + 1);
  const why =
    XTEXT_PARAMETERS.has(name) || CONTROL_CHARACTER.test(value)
      ? 'its value holds a control character'
      : name === 'SIZE'
        ? 'the size is written in digits only (RFC 1870)'
        : `"${value.slice(0, QUOTED_CLIENT_TEXT_CHARS)}" is not a value it takes`;
  return toSmtpError(new RelayError('BAD_SMTP_PARAMETER', `Bad ${name} parameter: ${why}`)).message;
}

/** RFC 3461 §4: the DSN parameters whose values are xtext. */
const XTEXT_PARAMETERS: ReadonlySet<string> = new Set(['ENVID', 'ORCPT']);
/** RFC 3461 §4 xtext: printable ASCII but "+" and "=", or "+" and two upper-case hex digits. */
const XTEXT = /^(?:[!-*,-<>-~]|\+[0-9A-F]{2})*$/;
/** An escape of a byte outside US-ASCII: the start of UTF-8, or of another 8-bit charset. */
const NON_ASCII_ESCAPE = /\+[89A-F][0-9A-F]/;

/**
 * An ENVID or ORCPT whose written value is not xtext (`a+ZZb`), or which decodes to more than
 * US-ASCII (`caf+C3+A9`): RFC 3461 §4.4 wants an ENVID of printable US-ASCII, and an ORCPT's
 * rfc822 address is ASCII too unless RFC 6533's utf-8-addr, which the relay does not offer. Both go
 * into the ASCII machine part of every report of the mail. Refused with 501 5.5.4 as Postfix does.
 */
function xtextProblem(command: string): string | undefined {
  // Nearly every MAIL and RCPT has no parameter at all: nothing to look at.
  if (!command.includes('=')) return undefined;
  const verb = ADDRESS_COMMAND.exec(command);
  const written = verb?.[1] && splitPath(command.slice(verb[0].length));
  if (!written) return undefined;
  for (const parameter of written.rest.trim().split(/\s+/)) {
    const equals = parameter.indexOf('=');
    const name = parameter.slice(0, equals).toUpperCase();
    if (equals < 0 || !XTEXT_PARAMETERS.has(name)) continue;
    const value = parameter.slice(equals + 1);
    const why =
      NOT_ASCII.test(value) || NON_ASCII_ESCAPE.test(value)
        ? `it must be US-ASCII (RFC 3461 §4${name === 'ORCPT' ? '.2; utf-8-addr of RFC 6533 is not offered' : '.4'})`
        : XTEXT.test(value)
          ? undefined
          : 'it is not xtext (RFC 3461 §4: "+" starts two upper-case hex digits; "+", "=" and spaces are written so)';
    if (why) return toSmtpError(new RelayError('BAD_SMTP_PARAMETER', `Bad ${name} parameter: ${why}`)).message;
  }
  return undefined;
}

/** A MAIL's or RCPT's problem found by `addressProblem`, until the connection's next MAIL or RCPT. */
const addressProblems = new WeakMap<SMTPConnection, string>();

/** Why a client may not authenticate, asked at each EHLO and AUTH; uncounted, as most asks come from clients that never send AUTH. */
type AuthRefusal = (address: string, secure: boolean) => RelayError | undefined;
/** The answer to an AUTH command refused: counted as a refusal (the intake's `refuse`). */
type AuthRefused = (refusal: RelayError) => Error & { responseCode: number };

/**
 * smtp-server offers AUTH before STARTTLS either to every client (`allowInsecureAuth`) or to none,
 * and refuses AUTH LOGIN only after the client has sent its user name and password. The relay lets
 * this host's own loopback authenticate in clear and no one else, and a relay without accounts no one
 * (smtp-server's disabled AUTH would answer a vague "500 command not recognized"): the server's
 * `authRefusal(address, secure)` says which. To a refused client, EHLO does not offer AUTH, and the
 * AUTH command itself gets the refusal before any credential is sent.
 */
/** Base64 (RFC 4648) with its padding, or without it as some clients send it: what a SASL response may be. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/;

/**
 * RFC 4954 §4: a client's response that is not base64 gets 501. smtp-server decodes with Node's
 * lenient decoder, which skips what is not base64: AUTH LOGIN's garbage was checked as a user name
 * and password (a 535 counted as a failed login, its bytes logged as the user). Such a response is now
 * refused before any check; the cancel `*` and the empty `=` stay smtp-server's.
 */
function saslResponsesInBase64(): void {
  const refuseGarbage = (step: 'PLAIN_token' | 'LOGIN_username' | 'LOGIN_password') => {
    const original = SASL[step] as (this: SMTPConnection, first: unknown, raw: Buffer | string, callback: () => void) => void;
    Object.assign(SASL, {
      [step](this: SMTPConnection, first: unknown, raw: Buffer | string, callback: () => void) {
        const response = (raw || '').toString().trim();
        if (response === '*' || response === '=' || BASE64.test(response)) {
          original.call(this, first, raw, callback);
          return;
        }
        sendRefusal(this, new RelayError('AUTH_NOT_BASE64'));
        callback();
      },
    });
  };
  refuseGarbage('PLAIN_token');
  refuseGarbage('LOGIN_username');
  refuseGarbage('LOGIN_password');
}

/**
 * RFC 4954 §4: AUTH is not permitted during a mail transaction, nor after a successful AUTH; both MUST
 * get 503. smtp-server checks the second only, so a client signing in between RCPT and DATA had its
 * mail charged to the transaction's principal while the session was another's.
 */
function authOutOfSequence(connection: SMTPConnection): RelayError | undefined {
  if (connection.session.user) return new RelayError('BAD_SEQUENCE', 'Already authenticated: a session signs in once (RFC 4954 §4)');
  if (connection.session.envelope?.mailFrom) {
    return new RelayError('BAD_SEQUENCE', 'AUTH is not permitted during a mail transaction (RFC 4954 §4): send it before MAIL, or after RSET');
  }
  return undefined;
}

/** RFC 4954 §4: `"AUTH" SP sasl-mech [SP initial-response]`; a bare AUTH is a syntax error (Postfix: 501 5.5.4), not an unknown mechanism. */
function authWithoutMechanism(command: Buffer): RelayError | undefined {
  return commandWords(command).length < 2
    ? new RelayError('BAD_COMMAND_SYNTAX', 'Syntax: AUTH <mechanism> [initial response], the mechanism PLAIN or LOGIN (RFC 4954 §4)')
    : undefined;
}

function authOnlyWherePasswordsMayTravel(): void {
  const optionsOf = (connection: SMTPConnection) => connection._server.options as { authRefusal?: AuthRefusal; authRefused?: AuthRefused };
  const refusalOf = (connection: SMTPConnection) => optionsOf(connection).authRefusal?.(connection.remoteAddress, connection.secure);
  const ehlo = SMTPConnection.prototype.handler_EHLO;
  SMTPConnection.prototype.handler_EHLO = function ehloWithoutRefusedAuth(command, callback) {
    if (!refusalOf(this)) {
      ehlo.call(this, command, callback);
      return;
    }
    // handler_EHLO writes its features synchronously: for this one call, its reply goes out without the AUTH line.
    const send = this.send;
    this.send = (code, data, context) => send.call(this, code, Array.isArray(data) ? data.filter((line) => !line.startsWith('AUTH ')) : data, context);
    try {
      ehlo.call(this, command, callback);
    } finally {
      this.send = send;
    }
  };
  const auth = SMTPConnection.prototype.handler_AUTH;
  SMTPConnection.prototype.handler_AUTH = function authRefusedBeforeCredentials(command, callback) {
    // Where AUTH is not offered, any AUTH gets that answer first: a bare AUTH's syntax, which names
    // mechanisms, or its sequence would point the client at a command it cannot use here.
    const refusal = refusalOf(this);
    if (refusal) {
      const answer = (optionsOf(this).authRefused ?? toSmtpError)(refusal);
      this.send(answer.responseCode, answer.message);
      callback();
      return;
    }
    const outOfSequence = authWithoutMechanism(command) ?? authOutOfSequence(this);
    if (outOfSequence) {
      sendRefusal(this, outOfSequence);
      callback();
      return;
    }
    auth.call(this, command, callback);
  };
}

/**
 * smtp-server checks REQUIRETLS (RFC 8689) before the MAIL handler even while it does not offer it
 * (hideREQUIRETLS, its default): 530 without TLS, in words of its own, and taken over TLS. The relay
 * does not offer it, so the intake answers it as any parameter of an extension not offered (555 5.5.4).
 */
function requireTlsNotOffered(): void {
  const validate = SMTPConnection.prototype._validateMailParams;
  SMTPConnection.prototype._validateMailParams = function validatedWithoutRequireTls(parsed) {
    const { REQUIRETLS: _unoffered, ...args } = parsed.args || {};
    return validate.call(this, { ...parsed, args });
  };
}

/** The greeting and STARTTLS's go-ahead: written at once, as the TLS handshake after the latter writes below the stream. */
const READY = 220;

/**
 * smtp-server writes each reply with a socket write of its own: a syscall and a packet per reply,
 * 11% of the main thread's work under load (#15). A pipelining client (RFC 2920) sends MAIL, RCPT
 * and DATA in one packet, and the replies its commands get within one turn of the event loop (RCPT's
 * and DATA's 354 come together once the store answered) now leave in one write at the end of that
 * turn: the socket is corked at the first of them and uncorked by setImmediate. Same bytes, same
 * order, no reply waits for anything but the current turn; smtp-server's close() ends the socket,
 * which writes what is corked first. A 220 is never held back, and a client that greeted with HELO
 * cannot pipeline (PIPELINING is an ESMTP extension): its replies are written as they come
 * (writeReplies calls this before each reply).
 */
function coalesce(connection: SMTPConnection, code: number): void {
  const socket = connection._socket;
  if (code === READY) {
    while (socket.writableCorked > 0) socket.uncork();
  } else if (connection.openingCommand === 'EHLO' && socket.writableCorked === 0 && !socket.destroyed) {
    socket.cork();
    setImmediate(() => socket.uncork());
  }
}

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const CRLF = Buffer.from('\r\n');
const CR_ONLY = Buffer.from('\r');

/**
 * How long a CRLF session's data may stand still once it holds a smuggled end of data (`<LF>.<LF>`,
 * `<LF>.<CR><LF>`…) before it is refused. A
 * client that ends its data that way waits for an answer that the strict rule never gives (it would
 * sit out `smtp.idleTimeout`, minutes, and retry the same way for ever); an MTA streaming a message
 * pauses far less than this between its packets, and if it does, what it was sending holds a
 * smuggled end of data anyway and is refused either way.
 */
export const BARE_END_GRACE_MS = 3000;

/** What the line of an LF-only client's data holds so far, as far as its end matters. */
const EMPTY = 0;
const ONLY_DOT = 1;
const DOT_CR = 2;
const OTHER = 3;

/** The reader of one DATA of an LF-only session; see `readLfOnlyClients`. */
interface BareLfReader {
  /** The last byte seen (the DATA command's LF at first), to tell a bare LF from a CRLF split across packets. */
  last: number;
  line: typeof EMPTY | typeof ONLY_DOT | typeof DOT_CR | typeof OTHER;
  /** The line of a lone dot has been read: the bytes after it are commands, left as sent. */
  ended: boolean;
}

/**
 * An LF-only client's data as smtp-server reads CRLF data: a CR before every bare LF, up to and
 * including the LF that ends its line of a lone dot. A line is found with indexOf (memchr); only the
 * first bytes of a line are looked at one by one.
 */
function bareLfToCrlf(chunk: Buffer, reader: BareLfReader): Buffer {
  const parts: Buffer[] = [];
  let copied = 0;
  let i = 0;
  while (i < chunk.length && !reader.ended) {
    if (reader.line === OTHER) {
      i = chunk.indexOf(LF, i);
      if (i === -1) break;
    }
    const byte = chunk[i]!;
    if (byte === LF) {
      if ((i > 0 ? chunk[i - 1] : reader.last) !== CR) {
        parts.push(chunk.subarray(copied, i), CR_ONLY);
        copied = i;
      }
      reader.ended = reader.line === ONLY_DOT || reader.line === DOT_CR;
      reader.line = EMPTY;
    } else if (reader.line === EMPTY && byte === DOT) {
      reader.line = ONLY_DOT;
    } else {
      reader.line = reader.line === ONLY_DOT && byte === CR ? DOT_CR : OTHER;
    }
    i += 1;
  }
  reader.last = chunk[chunk.length - 1] ?? reader.last;
  if (parts.length === 0) return chunk;
  parts.push(chunk.subarray(copied));
  return Buffer.concat(parts);
}

/** One DATA of a strict session, for `watchLineEndings`. */
interface WatchedData {
  readonly scanner: DataScanner;
  /** Armed while the data holds a smuggled end of data: the client may be waiting for an answer. */
  stall: NodeJS.Timeout | undefined;
}

/** Where a DATA stands for `unstuffLoneDots`. */
interface DotState {
  /** The chunk's first byte starts a line. */
  lineStart: boolean;
  /** A dot that starts a line ended the previous chunk: held back until the byte after it shows what it is. */
  held: boolean;
  /** A line of a dot and a line ending came (the end of the data, or a smuggled one, refused whole): the rest is left as sent. */
  done: boolean;
}

const DOT_ONLY = Buffer.from('.');
const LF_DOT = Buffer.from('\n.');

/** The position of the next dot that starts a line, from `from` on, or -1. */
function lineStartDot(chunk: Buffer, from: number): number {
  const at = chunk.indexOf(LF_DOT, from);
  return at === -1 ? -1 : at + 1;
}

/**
 * RFC 5321 §4.5.2: a line whose first character is a dot, with other characters after it, loses that
 * dot. smtp-server drops it only before a second dot (`..x` → `.x`, the stuffing every MTA does), so
 * the line `.hidden` of a client that does not stuff was texted with its dot. Here such a dot is taken
 * out before smtp-server reads the chunk; a dot followed by a dot is left to smtp-server, and a dot
 * followed by CR or LF (the end of the data, or a smuggled one) ends the work for this DATA. Lines are
 * found with indexOf (memchr), as in `bareLfToCrlf`.
 */
function unstuffLoneDots(chunk: Buffer, state: DotState): Buffer {
  if (state.done || chunk.length === 0) return chunk;
  const input = state.held ? Buffer.concat([DOT_ONLY, chunk]) : chunk;
  state.held = false;
  const parts: Buffer[] = [];
  let copied = 0;
  let dot = state.lineStart && input[0] === DOT ? 0 : lineStartDot(input, 0);
  while (dot !== -1) {
    const next = input[dot + 1];
    if (next === undefined) {
      parts.push(input.subarray(copied, dot));
      copied = input.length;
      state.held = true;
      break;
    }
    if (next === CR || next === LF) {
      state.done = true;
      break;
    }
    if (next !== DOT) {
      parts.push(input.subarray(copied, dot));
      copied = dot + 1;
    }
    dot = lineStartDot(input, dot + 1);
  }
  state.lineStart = state.held || input.at(-1) === LF;
  if (parts.length === 0) return input;
  parts.push(input.subarray(copied));
  return Buffer.concat(parts);
}

/**
 * smtp-server reads commands ending in a bare LF but ends DATA only at `<CR><LF>.<CR><LF>`. A device
 * that ends every line with a bare LF (old UPS and embedded network cards) sends `<LF>.<LF>` and waits:
 * it never gets an answer, and the relay refuses that sequence anyway when it sees it (SMTP smuggling,
 * smuggling.ts). Smuggling needs an MTA in between that relays the forged end of data, and an MTA ends
 * its own command lines with CRLF. So a session whose command lines so far all ended in a bare LF is a
 * client talking to the relay directly: its DATA is read as if every bare LF were a CRLF (dot-unstuffing
 * as usual, its line of a lone dot ending the data), and what follows that line in the same packet is
 * read as commands only after the answer, as pipelined commands are. A session that used CRLF keeps the
 * strict rule; once its data holds a smuggled end of data (any of smuggling.ts's, `<LF>.<CR><LF>` as
 * `<LF>.<LF>`; at a stand-still, `<LF>.<CR>` and `<CR>.<CR>` too, but never `<CR><LF>.<CR>`, the real
 * end's start), standing still for `BARE_END_GRACE_MS` or the client's closing its sending side (FIN) is
 * that client waiting for the answer to what it took for its end: the connection's `onStalledEnd`
 * answers at once, instead of at the idle timeout or not at all.
 *
 * The command side is looked at per packet (a CRLF anywhere in it): a packet that also carries the
 * start of the data (a client that did not wait for the 354) can only make a session strict.
 */
function watchLineEndings(parser: SMTPStream, onStalledEnd: (finding: SmugglingFinding) => void): void {
  let spokeCrlf = false;
  let reader: BareLfReader | undefined;
  let dots: DotState = { lineStart: true, held: false, done: false };
  /** The current DATA of a strict session: its data as received, scanned for a smuggled end of data, and its stand-still timer. */
  let watched: WatchedData = { scanner: new DataScanner(), stall: undefined };
  const write = parser._write;
  const startDataMode = parser.startDataMode;
  parser.startDataMode = (maxBytes) => {
    reader = spokeCrlf ? undefined : { last: LF, line: EMPTY, ended: false };
    dots = { lineStart: true, held: false, done: false };
    clearTimeout(watched.stall);
    watched = { scanner: new DataScanner(), stall: undefined };
    return startDataMode.call(parser, maxBytes);
  };
  parser._write = (chunk, encoding, next) => {
    if (!parser._dataMode) {
      spokeCrlf ||= chunk.includes(CRLF) || (chunk[0] === LF && parser._remainder.endsWith('\r'));
      write.call(parser, chunk, encoding, next);
    } else if (reader) {
      write.call(parser, unstuffLoneDots(bareLfToCrlf(chunk, reader), dots), encoding, next);
    } else {
      // This chunk's DATA: smtp-server hands what follows its `<CR><LF>.<CR><LF>` back to this _write as
      // commands, which may start the next DATA before this call's callback runs; the callback then
      // concerns this DATA alone, never the next one's scanner or timer.
      const own = watched;
      clearTimeout(own.stall);
      const data = unstuffLoneDots(chunk, dots);
      own.scanner.write(data);
      write.call(parser, data, encoding, (error) => {
        const finding = !error && own === watched && parser._dataMode ? own.scanner.ifStopped : undefined;
        if (finding) {
          clearTimeout(own.stall);
          own.stall = setTimeout(() => !parser.isClosed && parser._dataMode && onStalledEnd(finding), BARE_END_GRACE_MS);
          own.stall.unref();
        }
        next(error);
      });
    }
  };
  // The client's FIN: no more data can come, so its data never ends; one holding a smuggled end of data is
  // answered as such at once (what the client took for its end), not closed in silence as a client that left.
  const flush = parser._flushData;
  parser._flushData = () => {
    clearTimeout(watched.stall);
    const finding = parser._dataMode && !parser.isClosed && !reader ? watched.scanner.end() : undefined;
    if (finding) onStalledEnd(finding);
    else flush.call(parser);
  };
}

/**
 * The reader of line endings above on every connection's parser (the TLS session's new one too). A
 * stalled or half-closed smuggled end of data gets the smuggling refusal and the connection is closed: the client believes its
 * data ended, the relay does not, so nothing it sends next could be read as it means it. The onData
 * handler sees the refusal as its stream's error (it logs and counts it; its own answer finds the
 * connection closing and is not sent).
 */
function readLfOnlyClients(): void {
  const createParser = SMTPConnection.prototype._createParser;
  SMTPConnection.prototype._createParser = function parserReadingLfOnlyClients() {
    const parser = createParser.call(this);
    watchLineEndings(parser, (finding) => {
      const error = new RelayError('SMUGGLING', `Refused: ${finding.reason}`);
      const reply = toSmtpError(error);
      this.send(reply.responseCode, reply.message);
      this.close();
      if (this._dataStream) this._dataStream.destroy(error);
    });
    return parser;
  };
}

/** The onData handler's stream error when the relay ended a DATA that stood still for `smtp.idleTimeout`. */
export class DataTimedOut extends Error {}

/**
 * At the idle timeout smtp-server answers 421 and closes; a DATA in progress then ends like one whose
 * client hung up. The onData handler's stream gets `DataTimedOut` first, so the log says who left.
 */
function sayWhenDataTimedOut(): void {
  const onTimeout = SMTPConnection.prototype._onTimeout;
  SMTPConnection.prototype._onTimeout = function timeoutNamedInData() {
    if (!this._closing && !this._handlerPending && this._parser !== false && this._parser._dataMode && this._dataStream) {
      this._dataStream.destroy(new DataTimedOut('no data from the client within smtp.idleTimeout: the relay closed the connection'));
    }
    onTimeout.call(this);
  };
}

/**
 * smtp-server answers MAIL before HELO/EHLO `503 Error: send HELO/EHLO first`. Postfix accepts it,
 * and some embedded senders skip the greeting: their alert would be lost. Such a MAIL is taken as if
 * `HELO <client address>` had come first (what the relay records as the client's HELO name; no
 * ESMTP, so no pipelining; readCommands). RCPT, DATA and AUTH before a greeting keep the 503.
 */
function greetAsIfHelo(connection: SMTPConnection): void {
  connection.openingCommand = 'HELO';
  connection.hostNameAppearsAs = connection.remoteAddress.toLowerCase();
  connection._resetSession();
}

/**
 * smtp-server keeps the client's HELO/EHLO name lower-cased; the trace of a mail (its Received line,
 * RFC 5321 §4.4) and the store record it as the client wrote it. It is the argument smtp-server has
 * just accepted, so it passed its own checks. A name of several words, a printer's or MFP's friendly
 * name (`HELO Brother MFC-L2750DW`), smtp-server refuses 501, and a device that stops at a refused
 * greeting, as most embedded clients do, sends nothing: it is taken as Postfix takes it (smtpd's
 * collapse_args), its words joined by a space, the name the device goes by ("Brother" alone names
 * none). smtp-server judges them joined by GREETING_WORD_JOINER instead: its checks (at most 300
 * characters, no control characters) read a name the same with any printable character between its words.
 */
function greetingAsWritten(): void {
  for (const verb of ['HELO', 'EHLO'] as const) {
    const handle = SMTPConnection.prototype[`handler_${verb}`];
    SMTPConnection.prototype[`handler_${verb}`] = function greetedAsWritten(command, callback) {
      const words = commandWords(command).slice(1);
      const judged = words.join(GREETING_WORD_JOINER);
      handle.call(this, words.length > 1 ? Buffer.from(`${verb} ${judged}`) : command, callback);
      if (words.length > 0 && this.hostNameAppearsAs === judged.toLowerCase()) {
        const written = words.join(' ');
        this.hostNameAppearsAs = written;
        this.session.hostNameAppearsAs = written;
      }
    };
  }
}

/** What stands between the words of a HELO/EHLO name for smtp-server to judge it as one (greetingAsWritten). */
const GREETING_WORD_JOINER = '-';

/**
 * smtp-server writes a MAIL's parameters (ENVID, RET, SMTPUTF8, BODY, REQUIRETLS) into the session's
 * envelope before the relay's handler judges the command, and a later MAIL overwrote only the ones it
 * named: a refused MAIL's ENVID went into the next mail's reports, its SMTPUTF8 let the next one's UTF-8
 * sender through, and an overlong ENVID refused every MAIL after it. A refused MAIL starts no
 * transaction (RFC 5321 section 4.1.1.2), so the envelope is set up afresh, as if it had not come.
 */
function refusedMailLeavesNothing(): void {
  const handle = SMTPConnection.prototype.handler_MAIL;
  SMTPConnection.prototype.handler_MAIL = function mailLeavingNothingWhenRefused(command, callback) {
    handle.call(this, command, () => {
      if (!this.session.envelope.mailFrom) this._resetSession();
      callback();
    });
  };
}

/** smtp-server's send on a socket whose reading side the client ended, read as open for that one reply (answerAfterClientsEnd). */
function sendOnHalfClosed(send: () => void, socket: Socket): void {
  Object.defineProperty(socket, 'readyState', { value: 'open', configurable: true });
  try {
    send();
  } finally {
    Reflect.deleteProperty(socket, 'readyState');
  }
}

/** The option of the relay's own SMTP servers (intake.ts) under which answerAfterClientsEnd holds a client's half-closed socket open. */
export const ANSWERS_AFTER_CLIENTS_END = 'smsrelayAnswersAfterClientsEnd';

/**
 * A client may close its sending side once it has written its session (nc -N, socat): its FIN ends only
 * what the relay reads, and the replies to the commands still being handled go out on the direction that
 * stays open (RFC 5321 section 4.1.1.10). A socket is half-open (`allowHalfOpen`) only while a session's
 * parser reads it: never during a TLS handshake (implicit TLS, STARTTLS), where a client's FIN (a
 * connect-then-close probe: nc -z, a Kubernetes tcpSocket probe) closes the socket at once instead of
 * holding it, and a connection slot, until smtp.idleTimeout. The TLS socket of STARTTLS takes its
 * setting from the plain one when it wraps it, once the parser is off it.
 * smtp-server writes a reply only while its socket is fully open, so while a reply goes out on a
 * socket whose reading side the client ended, the socket reads as open. Once the parser has handled every
 * command it received (a last line without its CRLF included, as smtp-server does), the session is
 * over: the relay closes its side as after QUIT, which in DATA ends the mail as one whose client left.
 * (The reply written on a half-closed socket: sendOnHalfClosed.)
 */
function answerAfterClientsEnd(): void {
  const createParser = SMTPConnection.prototype._createParser;
  SMTPConnection.prototype._createParser = function parserEndingTheSession() {
    const parser = createParser.call(this);
    // Node reads allowHalfOpen when the client's FIN arrives: whatever the socket is then, for that moment. Only the
    // relay's own listeners (intake.ts, ANSWERS_AFTER_CLIENTS_END): another smtp-server in the process (a test's
    // smarthost) closes at a client's FIN as smtp-server does, as a real smarthost does.
    parser.on('pipe', (socket: Socket) => {
      if ((this._server.options as { readonly [ANSWERS_AFTER_CLIENTS_END]?: boolean })[ANSWERS_AFTER_CLIENTS_END]) socket.allowHalfOpen = true;
    });
    parser.on('unpipe', (socket: Socket) => {
      socket.allowHalfOpen = false;
    });
    parser._flushData = () => {
      const line = parser._remainder;
      parser._remainder = '';
      const over = () => {
        // A parser replaced by STARTTLS's, or one the connection stopped reading, ends nothing.
        if (this._parser === parser && !parser.isClosed) this.close();
      };
      if (line && !parser.isClosed) parser.oncommand(Buffer.from(line, 'binary'), over);
      else over();
    };
    return parser;
  };
}

const SP = 0x20;
const HTAB = 0x09;
const ONE_SP = Buffer.from(' ');

const isBlank = (byte: number | undefined) => byte === SP || byte === HTAB;

/**
 * A command line as every patch and handler reads it (AUTH's continuation lines are left as sent: SASL's
 * handlers read those themselves):
 *
 * Without trailing blanks. smtp-server names a command by what comes before its first space, so `QUIT<TAB>`
 * was "500 command not recognized" (and counted towards closing the session) where `QUIT ` and
 * `MAIL FROM:<…><TAB>` were read. RFC 5321 wants SP, but blanks at the end of a line carry nothing: as for a
 * trailing space (and as Postfix does), any trailing SP and TAB of a command line is left out.
 *
 * With one SP after its verb. smtp-server reads `MAIL FROM`/`RCPT TO` with one SP between its words:
 * `MAIL<TAB>FROM:<…>` and `EHLO<TAB>name` were "500 command not recognized" (counted towards closing the
 * session), `MAIL  FROM:<…>` a bad *address*, though the address was right. Postfix splits a command into
 * words at any run of blanks (smtpd_token()), and legacy devices write these: the run of SP and TAB after a
 * command's verb (what comes before its first blank) is read as one SP.
 *
 * Nearly every line has neither: it is returned as it came, looked at byte by byte up to its first blank.
 */
function lineAsRead(command: Buffer): Buffer {
  let end = command.length;
  while (end > 0 && isBlank(command[end - 1])) end -= 1;
  let verbEnd = 0;
  while (verbEnd < end && !isBlank(command[verbEnd])) verbEnd += 1;
  let argumentStart = verbEnd;
  while (argumentStart < end && isBlank(command[argumentStart])) argumentStart += 1;
  const oneSpace = argumentStart === verbEnd + 1 && command[verbEnd] === SP;
  if (verbEnd > 0 && argumentStart < end && !oneSpace) return Buffer.concat([command.subarray(0, verbEnd), ONE_SP, command.subarray(argumentStart, end)]);
  return end === command.length ? command : command.subarray(0, end);
}

/**
 * A command line's verb as the patches name it, upper-cased: what comes before its first SP, read byte for
 * byte (latin1), at most COMMAND_NAME_BYTES of it (no verb they know is longer).
 */
function verbOf(line: Buffer): string {
  let end = 0;
  while (end < line.length && end < COMMAND_NAME_BYTES && line[end] !== SP) end += 1;
  return line.toString('latin1', 0, end).toUpperCase();
}

/**
 * Every command line passes here once, before smtp-server's _onCommand: it is read as lineAsRead says,
 * counted against the session's limits (commandPastLimit: a session past one gets its 421 instead of an
 * answer), an EXPN or another command the relay does not implement is answered 502 (notImplemented), and
 * a MAIL before any greeting is taken as if HELO had come first (greetAsIfHelo). One step, with the verb
 * read once, where each rule had its own wrapper reading the line again (#15).
 */
function readCommands(): void {
  const onCommand = SMTPConnection.prototype._onCommand;
  SMTPConnection.prototype._onCommand = function commandRead(command, callback) {
    // An AUTH exchange's continuation lines belong to its AUTH command.
    if (this._nextHandler || !command) {
      onCommand.call(this, command, callback);
      return;
    }
    const line = lineAsRead(command);
    const verb = verbOf(line);
    if (this._ready) {
      const closing = commandPastLimit(this, verb);
      if (closing) {
        sendClosing(this, closing);
        callback?.();
        return;
      }
    }
    if (this._ready && !this._upgrading) {
      const unimplemented = notImplemented(this, verb);
      if (unimplemented) {
        sendRefusal(this, unimplemented);
        callback?.();
        return;
      }
      if (verb === 'MAIL' && line.length > verb.length && !this.hostNameAppearsAs) greetAsIfHelo(this);
    }
    onCommand.call(this, line, callback);
  };
}

/**
 * Every reply passes here once, before smtp-server's send writes it: a RCPT's 250 in the intake's words (recipientAcceptedAs),
 * with its own enhanced code kept, or
 * in the catalogue's words and counted where smtp-server made it (smtpServersReplyText), in ASCII
 * (inAscii), coalesced with the other replies of a pipelining client's turn (coalesce), written on a
 * socket the client half-closed (sendOnHalfClosed), then counted against the session's limits
 * (countReply). One step where each rule had its own wrapper (#15).
 */
function writeReplies(): void {
  const send = SMTPConnection.prototype.send;
  SMTPConnection.prototype.send = function sendReply(code, data, context) {
    let text = data;
    let written = context;
    const said = code === 250 && context === 'RCPT_TO_OK' ? acceptedAs.get(this.session) : undefined;
    if (said !== undefined) {
      acceptedAs.delete(this.session);
      text = said;
    }
    if (typeof data === 'string' && ENHANCED_CODE.test(data)) written = false;
    else if (code >= 400 && typeof data === 'string') ({ text, context: written } = smtpServersReplyText(this, code, data, context));
    text = inAscii(text);
    coalesce(this, code);
    const socket = this._socket;
    if (socket?.readyState === 'writeOnly') sendOnHalfClosed(() => send.call(this, code, text, written), socket);
    else send.call(this, code, text, written);
    countReply(this, code);
    // Quiet counts from the relay's last reply (Postfix's smtpd_timeout): a command's and a DATA's alike (lastHeard).
    heard(this);
  };
}

/**
 * smtp-server finds a command's handler as `this['handler_' + command]`, twice a command (_isSupported, then the
 * handler itself): a name made anew each time, which V8 hashes and looks up among the interned strings before the
 * property lookup (~0.1 µs a call, eight a mail, #15). The name of each command that has a handler, made once (the
 * handlers are a fixed set: a client's unknown verbs are looked up as before, never kept), gives the same lookup.
 */
function handlerNamesMadeOnce(): void {
  const names = new Map<string, string>();
  type Handler = ReturnType<SMTPConnection['_getHandler']>;
  SMTPConnection.prototype._getHandler = function handlerOf(command) {
    const handlers = this as unknown as Readonly<Record<string, Handler>>;
    const known = names.get(command);
    if (known !== undefined) return handlers[known];
    const name = `handler_${command}`;
    const handler = handlers[name];
    if (typeof handler === 'function') names.set(command, name);
    return handler;
  };
}

let applied = false;

export function applySmtpServerPatches(): void {
  if (applied) return;
  applied = true;
  // Every reply, every patch's too, goes through it.
  writeReplies();
  // Before the patches that answer a MAIL themselves: only smtp-server's own handler applies its parameters.
  refusedMailLeavesNothing();
  admitConnections();
  // Before explainSpacedNumbers, which then answers a spaced number before this reads the address.
  acceptEnvelopeAddressesAsWritten();
  explainSpacedNumbers();
  // After the patches above: its refusal comes before any of them reads the line.
  envelopeInUtf8();
  authOnlyWherePasswordsMayTravel();
  saslResponsesInBase64();
  requireTlsNotOffered();
  answerAfterClientsEnd();
  readLfOnlyClients();
  sayWhenDataTimedOut();
  greetingAsWritten();
  commandsWithoutArguments();
  // Every command line, before any handler above reads it.
  readCommands();
  handlerNamesMadeOnce();
}
