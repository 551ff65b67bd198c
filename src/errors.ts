/**
 * The relay's error catalogue. Every refusal or failure a sender, a provider or an operator can see
 * is one of these codes, mapped here once to its SMTP reply (basic and RFC 3463 enhanced code), its
 * HTTP status and, where a message can bounce for it, the plain-words reason of the bounce.
 */
interface ErrorSpec {
  readonly smtp: number;
  readonly enhanced: string;
  readonly http: number;
  /** Default human text; a RelayError may carry a more specific detail. */
  readonly text: string;
  /**
   * The relay's own failure: its detail (a database's or a library's words, addresses, ports) is for
   * the log; a reply or an HTTP answer carries `text` only.
   */
  readonly internal?: true;
}

export const RELAY_ERRORS = {
  RELAY_DENIED: {
    smtp: 550,
    enhanced: '5.7.1',
    http: 403,
    text: 'Relaying denied: this relay accepts mail only for <phone number>@<its SMS domains>',
  },
  AUTH_REQUIRED: {
    smtp: 530,
    enhanced: '5.7.0',
    http: 401,
    text: 'Authentication required: only trusted networks may send without AUTH',
  },
  BAD_NUMBER: { smtp: 550, enhanced: '5.1.3', http: 422, text: 'Not a valid phone number' },
  NOT_TEXTABLE: {
    smtp: 550,
    enhanced: '5.1.1',
    http: 422,
    text: 'This address cannot receive SMS: short codes and sender names only send',
  },
  /** No route of `gateway.routes` takes the number (#21): permanent, as a mailbox that does not exist. */
  NO_ROUTE: { smtp: 550, enhanced: '5.1.1', http: 422, text: 'No route: this relay has no SMS provider for this number' },
  /** RCPT postmaster (RFC 5321 §4.5.1) when the relay's mail goes to a smarthost and no mailbox is set for it. */
  NO_POSTMASTER: {
    smtp: 550,
    enhanced: '5.1.1',
    http: 422,
    text: 'No postmaster mailbox: this relay sends its mail through a smarthost and mail.postmaster (SMSRELAY_MAIL_POSTMASTER) is not set',
  },
  POLICY_DENIED: { smtp: 550, enhanced: '5.7.1', http: 403, text: "Not allowed by this relay's sender policy" },
  /** A sender id the account or network may not choose (its senderIds, sms.allowedSenderIds): at end of DATA, RFC 3463 X.7.1. */
  SENDER_ID_REFUSED: { smtp: 554, enhanced: '5.7.1', http: 403, text: 'Sender id refused: this sender may not send as it' },
  RATE_LIMITED: { smtp: 451, enhanced: '4.7.1', http: 429, text: 'Sending limit reached; try again later' },
  /**
   * A mail that needs more SMS parts than the sender's whole daily budget: no later day can take it,
   * so not RATE_LIMITED's 451. RFC 3463 X.3.4: larger than a per-message limit set for administrative
   * reasons (X.7.1 would say the sender may not send at all).
   */
  OVER_DAILY_BUDGET: { smtp: 552, enhanced: '5.3.4', http: 422, text: "The mail needs more SMS parts than the sender's whole daily budget" },
  /** AUTH on a relay without `accounts`: clients there send from a network the relay trusts instead. */
  AUTH_UNAVAILABLE: {
    smtp: 502,
    enhanced: '5.5.1',
    http: 400,
    text: 'This relay has no accounts: send without AUTH from a network it trusts (smtp.trustedNetworks or networks)',
  },
  AUTH_FAILED: { smtp: 535, enhanced: '5.7.8', http: 401, text: 'Authentication credentials invalid' },
  /** RFC 4954 §4: a SASL response (AUTH PLAIN's token, AUTH LOGIN's user name or password) that is not base64. SMTP only. */
  AUTH_NOT_BASE64: { smtp: 501, enhanced: '5.5.2', http: 400, text: 'Cannot decode the response: it is not base64; AUTH is cancelled' },
  ENCRYPTION_REQUIRED: {
    smtp: 538,
    enhanced: '5.7.11',
    http: 403,
    text: 'Encryption required: use STARTTLS (or the TLS port) before AUTH',
  },
  LOGIN_BLOCKED: { smtp: 454, enhanced: '4.7.0', http: 429, text: 'Too many failed logins from your address; try again later' },
  SMUGGLING: {
    smtp: 550,
    enhanced: '5.5.2',
    http: 400,
    text: 'Bare line endings in the message (an SMTP smuggling pattern); use CRLF line endings',
  },
  TOO_MANY_NUMBERS: {
    smtp: 452,
    enhanced: '4.5.3',
    http: 422,
    text: 'Too many phone numbers in one mail; send the rest in another mail',
  },
  /**
   * A distribution list with more numbers than one mail may go to: no later mail can take it, so not
   * TOO_MANY_NUMBERS's 452. 550, not RFC 821's 552, which RFC 5321 §4.5.3.1.10 has clients read as
   * temporary at RCPT.
   */
  LIST_TOO_LARGE: {
    smtp: 550,
    enhanced: '5.5.3',
    http: 422,
    text: 'The distribution list has more numbers than one mail may go to',
  },
  MESSAGE_TOO_BIG: { smtp: 552, enhanced: '5.3.4', http: 413, text: 'Message too big' },
  TEXT_TOO_LONG: { smtp: 554, enhanced: '5.3.4', http: 422, text: 'Text too long for an SMS' },
  NO_TEXT: { smtp: 554, enhanced: '5.6.0', http: 422, text: 'The mail has no text to send as SMS' },
  /** A reply that only quotes: its subject is the old mail's, not something to send. */
  NO_NEW_TEXT: {
    smtp: 554,
    enhanced: '5.6.0',
    http: 422,
    text: 'Not sent as SMS: the reply has no new text above the quoted mail; write the message above the quote',
  },
  UNREADABLE_MAIL: { smtp: 554, enhanced: '5.6.0', http: 422, text: 'The mail cannot be read' },
  BAD_PARAMETER: { smtp: 554, enhanced: '5.6.0', http: 422, text: 'Invalid relay parameter in the mail' },
  /** RFC 5321 §4.1.1.11: a MAIL or RCPT parameter of an extension the relay does not offer. */
  UNKNOWN_SMTP_PARAMETER: { smtp: 555, enhanced: '5.5.4', http: 400, text: 'Unsupported MAIL FROM or RCPT TO parameter' },
  /** RFC 5321 §4.2.3 501 (a syntax error in the parameters), RFC 3463 X.5.4: the parameter is known, its value is not valid. */
  BAD_SMTP_PARAMETER: { smtp: 501, enhanced: '5.5.4', http: 400, text: 'Invalid MAIL FROM or RCPT TO parameter value' },
  /** RFC 5321 §4.2.3 501, RFC 3463 X.1.7: a MAIL FROM address the relay cannot read as one (a name written before it), as Postfix answers. */
  BAD_SENDER_SYNTAX: { smtp: 501, enhanced: '5.1.7', http: 400, text: 'Bad sender address syntax' },
  /** RFC 5321 §4.1.1.1: HELO and EHLO take the client's domain or address literal (a name of several words is taken joined, as Postfix takes it); RFC 3463 X.5.4. */
  BAD_GREETING: { smtp: 501, enhanced: '5.5.4', http: 400, text: "HELO/EHLO needs an argument: the client's host name, or its address in brackets" },
  /** RFC 5321 §4.1.1: DATA, RSET and QUIT take no argument; a syntax error in the arguments is 501 (§4.2.3), RFC 3463 X.5.4. SMTP only. */
  BAD_COMMAND_SYNTAX: { smtp: 501, enhanced: '5.5.4', http: 400, text: 'Syntax error: this command takes no argument' },
  /** RFC 5321 §4.2.3 503, RFC 3463 X.5.1: a command valid in itself, out of its place (RFC 4954 §4: AUTH during a mail transaction, or a second AUTH). SMTP only. */
  BAD_SEQUENCE: { smtp: 503, enhanced: '5.5.1', http: 400, text: 'Bad sequence of commands' },
  /** RFC 5321 §4.2.4: a command of SMTP the relay does not implement (EXPN, STARTTLS without smtp.tls), 502, not an unknown one's 500. SMTP only. */
  NOT_IMPLEMENTED: { smtp: 502, enhanced: '5.5.1', http: 501, text: 'Command not implemented' },
  /** RFC 5321 §4.2.4 500: a command the relay does not know (smtp-server's answer, counted). SMTP only. */
  UNKNOWN_COMMAND: { smtp: 500, enhanced: '5.5.2', http: 400, text: 'Command not recognized' },
  /** RFC 4954 §4 504: an AUTH mechanism the relay does not offer (it offers PLAIN and LOGIN). SMTP only. */
  UNKNOWN_AUTH_MECHANISM: { smtp: 504, enhanced: '5.5.4', http: 400, text: 'Unrecognized authentication type' },
  /** RFC 5321 §4.2.3 501, RFC 3463 X.1.3: a RCPT TO address the relay cannot read as one. SMTP only. */
  BAD_RECIPIENT_SYNTAX: { smtp: 501, enhanced: '5.1.3', http: 400, text: 'Bad recipient address syntax' },
  /** A session silent for `smtp.idleTimeout`: closed (RFC 5321 §4.5.3.2.7), in smtp-server's words. SMTP only. */
  IDLE_TIMEOUT: { smtp: 421, enhanced: '4.4.2', http: 408, text: 'Timeout - closing connection' },
  /** A command line longer than the relay reads: the session is closed, as what follows cannot be read as meant. SMTP only. */
  LINE_TOO_LONG: { smtp: 421, enhanced: '4.4.2', http: 400, text: 'Command line too long' },
  /** A client that wrote before the greeting (a spam-bot tell) or sent an HTTP request (a browser made to): closed. SMTP only. */
  NOT_AN_SMTP_CLIENT: { smtp: 421, enhanced: '4.4.2', http: 400, text: 'The client does not speak SMTP: it wrote before the greeting, or sent HTTP' },
  /** RFC 9110 §15.5.6: an existing path that does not take the request's method (answered with `Allow`). HTTP only. */
  METHOD_NOT_ALLOWED: { smtp: 502, enhanced: '5.5.1', http: 405, text: 'Method not allowed' },
  /**
   * The relay offers SMTPUTF8 (RFC 6531), so an address with UTF-8 in a transaction that did not ask for
   * it gets RFC 6531's 553 X.6.7, "non-ASCII addresses not permitted" (as Postfix: "Must declare SMTPUTF8").
   */
  SMTPUTF8_REQUIRED: {
    smtp: 553,
    enhanced: '5.6.7',
    http: 400,
    text: 'Must declare SMTPUTF8 to send a UTF-8 address: add SMTPUTF8 to MAIL FROM',
  },
  AUTOMATED_MAIL: {
    smtp: 550,
    enhanced: '5.7.1',
    http: 422,
    text: "Automatic mail (bounces, auto-replies, the relay's own mail) is never sent as SMS",
  },
  /**
   * RCPT to a reply mail's return path (`bounces+…@<SMS domain>`, src/replies/return-path.ts) that names no
   * reply mail the relay sent: a bounce for a mail it never sent (forged, or misrouted).
   */
  UNKNOWN_RETURN_PATH: {
    smtp: 550,
    enhanced: '5.1.1',
    http: 404,
    text: 'No such return path: this address names no reply mail this relay sent; the bounce is not taken',
  },
  /** Mail to a reply mail's return path that is no bounce (a person, an auto-reply): the address takes bounces only. */
  NOT_A_BOUNCE: {
    smtp: 550,
    enhanced: '5.7.1',
    http: 422,
    text: "This address takes bounces only: it is the return path of one of the relay's reply mails, and this mail is no bounce (write to the phone's address, the reply mail's From)",
  },
  /**
   * Mail to a reply mail's return path read as neither a bounce nor an auto-reply: no report, no
   * failure or delay in words the relay knows (src/mail/bounce.ts). Refused as NOT_A_BOUNCE is, and
   * logged at warn: it may be a bounce in a language or form the relay does not read, whose failure
   * is then lost.
   */
  UNREAD_BOUNCE: {
    smtp: 550,
    enhanced: '5.7.1',
    http: 422,
    text: "This address takes bounces only, and this mail reads as neither a bounce nor an auto-reply: no delivery report, no failure or delay status the relay knows (write to the phone's address, the reply mail's From)",
  },
  /** An HTTP path or a console item that does not exist; over SMTP it would be an unknown destination (X.1.1). */
  NOT_FOUND: { smtp: 550, enhanced: '5.1.1', http: 404, text: 'Not found' },
  UNAUTHORIZED: { smtp: 530, enhanced: '5.7.0', http: 401, text: 'Missing or wrong webhook token' },
  FORBIDDEN: { smtp: 550, enhanced: '5.7.1', http: 403, text: 'The request signature does not match: not from the provider' },
  /**
   * An HTTP request Node's parser refuses (Content-Length with Transfer-Encoding, two Content-Lengths,
   * a folded header, a bare LF: RFC 9112 forbids them, as request smuggling's tools). HTTP only.
   */
  BAD_REQUEST: { smtp: 500, enhanced: '5.5.2', http: 400, text: 'Malformed HTTP request' },
  /**
   * RFC 9110 §15.5.16: a body in a media type or content coding the path does not read (the console takes a form or JSON,
   * not `text/plain`; no path decodes a `Content-Encoding`). RFC 3463 X.6.1: media not supported. HTTP only.
   */
  UNSUPPORTED_MEDIA_TYPE: { smtp: 554, enhanced: '5.6.1', http: 415, text: 'Unsupported media type' },
  /**
   * RFC 9110 §15.5.20: a request whose `Host` is not a name of this relay (a web page's own name
   * re-pointed to the relay's address: DNS rebinding). HTTP only.
   */
  MISDIRECTED_REQUEST: { smtp: 550, enhanced: '5.7.1', http: 421, text: 'Misdirected request: the Host is not a name of this relay' },
  /** Request headers beyond Node's limit (http.maxHeaderSize, 16 KB). HTTP only. */
  HEADERS_TOO_BIG: { smtp: 500, enhanced: '5.5.2', http: 431, text: 'Request headers too big' },
  /** An HTTP request not complete within the server's request timeout (a slow client holding a connection). HTTP only. */
  REQUEST_TIMEOUT: { smtp: 421, enhanced: '4.4.2', http: 408, text: 'The request did not arrive in time' },
  DISK_FULL: {
    smtp: 452,
    enhanced: '4.3.1',
    http: 503,
    text: 'Insufficient system storage: the relay is not taking mail until disk space is freed; try again later',
  },
  SHUTTING_DOWN: { smtp: 421, enhanced: '4.3.2', http: 503, text: 'The relay is shutting down; try again in a moment' },
  /**
   * A new connection while `smtp.maxConnections` are open. RFC 3463 X.3.2 (the system is not accepting
   * network messages): the relay's capacity, not anything of the client's (Postfix's "421 4.3.2 All
   * server ports are busy"); X.7.0 is for the limits below, which are about the client.
   */
  SERVER_BUSY: { smtp: 421, enhanced: '4.3.2', http: 503, text: 'Too many connected clients, try again in a moment' },
  /** A new connection from an address that has `smtp.maxConnectionsPerClient` open (Postfix: smtpd_client_connection_count_limit). */
  TOO_MANY_CONNECTIONS: { smtp: 421, enhanced: '4.7.0', http: 429, text: 'Too many connections from your address; try again later' },
  /** A session that was refused, or sent commands without mail, too often: closed so that it cannot hold a connection slot. */
  TOO_MANY_COMMANDS: { smtp: 421, enhanced: '4.7.0', http: 429, text: 'Too many refused commands in this session; closing the connection' },
  STORE_UNAVAILABLE: {
    smtp: 451,
    enhanced: '4.3.0',
    http: 503,
    text: 'Temporary local problem: the message store is unavailable, try again later',
    internal: true,
  },
  /**
   * SQLite's lock was held by another process (an operator's command, a backup) past `store.busyTimeout`. On PostgreSQL
   * only the console's own wait, for a lock another session holds or a read, ended (src/store/postgres/console.ts): the
   * relay's store never, its server full of connections (53300) may not free itself (STORE_UNAVAILABLE, src/store/rows.ts).
   */
  STORE_BUSY: {
    smtp: 451,
    enhanced: '4.3.0',
    http: 503,
    text: 'Temporary local problem: the message store is busy, try again in a moment',
    internal: true,
  },
  /**
   * PostgreSQL: the lock of the mail's Message-ID, which its resubmission check is ordered by, held by another
   * transaction committing a mail under it past both waits (src/store/postgres/group-writer.ts, KEY_WAIT_MS, KEY_WAIT_ALONE_MS): a
   * commit that waits itself, or a relay stopped in the middle of one. The client's retry then folds into that mail (or
   * is texted if it never commits), where a 250 now could text it twice. The relay and its store work: not internal.
   */
  MESSAGE_ID_BUSY: {
    smtp: 451,
    enhanced: '4.3.0',
    http: 503,
    text: 'A mail under this Message-ID is still being stored (by another relay or session); try again in a moment',
  },
  /**
   * The store lost or damaged (StoreHealthMonitor.lasting): nothing is taken until an operator restarts the relay on a
   * good store, so no "try again later" and no Retry-After. The console's refusal; mail and webhooks get
   * STORE_UNAVAILABLE, since a sender's retries outlast the restart.
   */
  STORE_LOST: {
    smtp: 451,
    enhanced: '4.3.0',
    http: 503,
    text: 'Local problem: the message store is lost or damaged; nothing is taken until an operator restarts the relay on a good store',
  },
  INTERNAL: { smtp: 451, enhanced: '4.3.0', http: 500, text: 'Temporary local problem, try again later', internal: true },
} as const satisfies Record<string, ErrorSpec>;

export type RelayErrorCode = keyof typeof RELAY_ERRORS;

export class RelayError extends Error {
  readonly code: RelayErrorCode;
  /**
   * Values of the client's that the detail quotes and that may be phone numbers however written (a sender id with
   * letters attached, one digit too many): info logs mask them where the detail shows them, whole or cut short, as
   * they mask a refused recipient, since the masking of free text leaves words of letters and digits alone (a
   * gateway's ids).
   */
  readonly quotes: readonly string[];
  /**
   * Values of the relay's own configuration that the detail names (`smtp.maxMessageBytes`): no one's phone number, so
   * logs show them whole where the masking of free text would take a long one for a number (`10****60 bytes`).
   */
  readonly configured: readonly string[];

  constructor(code: RelayErrorCode, detail?: string, options?: { cause?: unknown; quotes?: readonly string[]; configured?: readonly string[] }) {
    super(detail ?? RELAY_ERRORS[code].text, options);
    this.name = 'RelayError';
    this.code = code;
    this.quotes = options?.quotes ?? [];
    this.configured = options?.configured ?? [];
  }

  get spec(): ErrorSpec {
    return RELAY_ERRORS[this.code];
  }

  /** What a client is told: the detail, or for the relay's own failures the catalogue's text only. */
  get publicReason(): string {
    return this.spec.internal ? this.spec.text : this.message;
  }
}

/**
 * The most characters of a client's own text (a parameter, a header value, a field name) a refusal quotes: enough to
 * recognise what was sent, never the whole of it, so a refusal stays one short line (an SMTP reply line is at most 512
 * octets, RFC 5321 §4.5.3.1.5) and echoes no large input back.
 */
export const QUOTED_CLIENT_TEXT_CHARS = 40;
/** The store's failures, by what the client is told: unavailable, busy, or its disk full. */
export type StoreFailureCode = 'STORE_UNAVAILABLE' | 'STORE_BUSY' | 'DISK_FULL';
export const STORE_FAILURE_CODES: ReadonlySet<RelayErrorCode> = new Set<StoreFailureCode>(['STORE_UNAVAILABLE', 'STORE_BUSY', 'DISK_FULL']);

/** Whether an error is the store failing (as opposed to a bug or a refusal): retried, logged once per outage. */
export function isStoreFailure(error: unknown): error is RelayError {
  return error instanceof RelayError && STORE_FAILURE_CODES.has(error.code);
}

/**
 * A failure's log fields: the store failing, an expected outage whose cause the store's health already
 * logged once, by its code and the database's words (its cause's; the client's reply only when it has
 * none) without a stack; anything else, a bug, with its stack.
 */
export function failureLogFields(error: unknown): { readonly code: RelayErrorCode; readonly reason: string } | { readonly err: unknown } {
  if (!isStoreFailure(error)) return { err: error };
  return { code: error.code, reason: storeFailureReason(error) };
}

/** Why the store failed, in the database's words (its cause's; the client's reply only when it has none). */
export function storeFailureReason(error: RelayError): string {
  return error.cause instanceof Error ? error.cause.message : error.message;
}

/** Any thrown value as a RelayError; unknown failures become INTERNAL (a temporary 4xx, never a 250). */
export function asRelayError(error: unknown): RelayError {
  if (error instanceof RelayError) return error;
  return new RelayError('INTERNAL', undefined, { cause: error });
}

/** The error shape smtp-server expects from its handlers: `responseCode` and the reply text. */
export function toSmtpError(error: unknown): Error & { responseCode: number } {
  const relayError = asRelayError(error);
  const reply = Object.assign(new Error(`${relayError.spec.enhanced} ${relayError.publicReason}`), {
    responseCode: relayError.spec.smtp,
  });
  return reply;
}

/** The JSON body and status of an HTTP error answer. */
export function toHttpError(error: unknown): { status: number; body: { error: RelayErrorCode; message: string } } {
  const relayError = asRelayError(error);
  return { status: relayError.spec.http, body: { error: relayError.code, message: relayError.publicReason } };
}

/** Why a listener could not bind, in the words an operator acts on; the setting to change is `host` for the last two. */
const LISTEN_FAILURES: Readonly<Record<string, string>> = {
  EADDRINUSE: 'the port is in use by another program (another relay on this machine?); stop it or choose another port',
  EACCES: 'permission denied: ports below 1024 need root or CAP_NET_BIND_SERVICE; choose a port above 1023',
  EADDRNOTAVAIL: "the address is not one of this machine's; use 127.0.0.1, 0.0.0.0 or an address of this host",
  ENOTFOUND: 'the host name does not resolve; use an IP address or a name of this host',
};

/**
 * A listener could not bind its address at start-up. Only a change of its setting (or stopping
 * whatever holds the port) helps, so the CLI reports it as a configuration problem (exit 78): one
 * line naming the listener and the setting, e.g. `smtp.port`.
 */
export class ListenError extends Error {
  /** The dotted setting to change: the port's, or the host's when the address itself is wrong. */
  readonly setting: string;

  constructor(listener: string, settings: { readonly host: string; readonly port: string }, address: string, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code ?? '';
    const reason = LISTEN_FAILURES[code] ?? (cause instanceof Error ? cause.message : String(cause));
    super(`the ${listener} listener cannot listen on ${address}: ${reason}`, { cause });
    this.name = 'ListenError';
    this.setting = code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' ? settings.host : settings.port;
  }
}

/** Why the data directory cannot be used, in the words an operator acts on (by the errno of the failing step). */
const DATA_DIR_FAILURES: Readonly<Record<string, string>> = {
  ENOTDIR: 'a part of the path is a file, not a directory',
  EEXIST: 'it is a file, not a directory',
  EROFS: 'it is on a read-only filesystem',
  EACCES: 'permission denied for the user the relay runs as',
  EPERM: 'permission denied for the user the relay runs as',
  ENOENT: 'no directory can be created there (a filesystem such as /proc, or a path that vanished)',
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota of the user the relay runs as is used up',
  ENAMETOOLONG: 'the path is too long',
};

/** Failures that pass by themselves or by freeing space: the directory is right, a restart later succeeds. */
const TEMPORARY_DATA_DIR_FAILURES: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT']);

/**
 * Failures of the directory's disk, not of the directory (a filesystem remounted read-only after an error, an I/O
 * error): fixing that disk is the fix, as the commands say (exit 74), and a supervisor's restart then succeeds.
 */
const DISK_DATA_DIR_FAILURES: Readonly<Record<string, string>> = {
  EROFS: 'remount it read-write',
  EIO: 'check that filesystem (failing, out of inodes)',
};

/**
 * The data directory cannot be used: not creatable, not writable, or in use by another relay. Only
 * another `dataDir` (or fixing that directory, or stopping the other relay) helps, so the CLI
 * reports it as a configuration problem (exit 78) naming where `dataDir` came from; but a full disk
 * is `temporary` (exit 75): freeing space there is the fix, and a supervisor's restart then succeeds;
 * and a disk that refuses it (read-only, an I/O error) is exit 74, as the commands say it.
 */
export class DataDirError extends Error {
  readonly setting = 'dataDir';
  readonly temporary: boolean;
  /** Its disk refuses it (read-only, an I/O error): EX_IOERR, as the commands, rather than a configuration to change. */
  readonly diskRefuses: boolean;

  /** `problem` follows "data directory <dataDir>" ("cannot be written"). */
  constructor(dataDir: string, problem: string, cause?: unknown) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code ?? '';
    const why = DATA_DIR_FAILURES[code] ?? (cause instanceof Error ? cause.message : undefined);
    const temporary = TEMPORARY_DATA_DIR_FAILURES.has(code);
    const diskFix = DISK_DATA_DIR_FAILURES[code];
    const fix = temporary ? `free space in ${dataDir}` : (diskFix ?? 'choose a directory the relay can write');
    const reason = `data directory ${dataDir} ${problem}`;
    super(why === undefined ? reason : `${reason}: ${why}; ${fix}`, { cause });
    this.name = 'DataDirError';
    this.temporary = temporary;
    this.diskRefuses = diskFix !== undefined;
  }
}

/**
 * The store file in the data directory cannot be used as it is: not a SQLite database, damaged, or of a
 * newer smsrelay's schema. Starting again changes nothing, so the CLI reports it as a configuration
 * problem (exit 78) naming where `dataDir` came from; the message names the file and the fix.
 */
export class StoreFileError extends Error {
  readonly setting = 'dataDir';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreFileError';
  }
}

/**
 * The store cannot be opened because this user may not read and write `path`, one of its files (the database, its
 * WAL or the WAL's index) or their directory (`code`: EACCES, EPERM): a backup restored as root is root's, a file made
 * read-only stays so. Starting again changes nothing (exit 78): the fix is the path's owner or mode, named with
 * `user`, the one smsrelay runs as (the relay's, for `start`).
 */
export function storeFileDenied(file: string, path: string, code: string, user: string): StoreFileError {
  return new StoreFileError(
    `the store ${file} cannot be opened: ${user}, the user smsrelay runs as, may not write ${path} (${code}, permission denied; a file restored or copied as root is root's): chown ${user} ${path}; chmod u+rwX ${path}`,
  );
}

/**
 * How a backup's target failed, by what helps (sysexits.h): `full`, a full disk (freeing space there helps,
 * EX_TEMPFAIL); `uncreatable`, the file cannot be made where it is named (a missing directory, a file in its
 * path, permissions: EX_CANTCREAT); `refused`, its disk refuses writing (read-only, an I/O error: EX_IOERR).
 */
export type BackupTargetFailure = 'full' | 'uncreatable' | 'refused';

const TARGET_FULL = { failure: 'full', why: 'its disk is full', fix: 'free space there, or name a file on another disk' } as const;
const TARGET_READ_ONLY = { failure: 'refused', why: 'it is on a read-only filesystem', fix: 'remount it read-write, or name a file on another disk' } as const;
const TARGET_DENIED = { failure: 'uncreatable', why: 'permission denied for this user', fix: 'name a file in a directory this user may write' } as const;

/** Why a backup's target cannot take the copy and what helps, by the errno or SQLite code met. */
const BACKUP_TARGET_FAILURES: Readonly<Record<string, { readonly failure: BackupTargetFailure; readonly why: string; readonly fix: string }>> = {
  ENOENT: { failure: 'uncreatable', why: 'its directory does not exist', fix: 'create it, or name a file in a directory that exists' },
  ENOTDIR: { failure: 'uncreatable', why: 'a part of its path is a file, not a directory', fix: 'name a file in a directory' },
  EACCES: TARGET_DENIED,
  EPERM: TARGET_DENIED,
  ENAMETOOLONG: { failure: 'uncreatable', why: 'the path is too long', fix: 'name a shorter one' },
  EROFS: TARGET_READ_ONLY,
  SQLITE_READONLY: TARGET_READ_ONLY,
  ENOSPC: TARGET_FULL,
  SQLITE_FULL: TARGET_FULL,
  EDQUOT: { ...TARGET_FULL, why: "this user's disk quota there is used up" },
};

/**
 * `smsrelay backup` could not write its copy: the target's fault, never the store's (a full backup disk is not
 * the relay's), so the line names the target, why and the fix; the partial copy is gone by then. `nearlyFull`:
 * the target's disk is almost full, so an I/O error there is the space running out (SQLite says "disk I/O
 * error" where a full disk refused a journal's pages).
 */
export class BackupTargetError extends Error {
  readonly failure: BackupTargetFailure;

  constructor(target: string, cause: unknown, nearlyFull: boolean) {
    const code = String((cause as { code?: unknown } | undefined)?.code ?? '');
    const known = BACKUP_TARGET_FAILURES[code] ?? (code.startsWith('SQLITE_IOERR') && nearlyFull ? TARGET_FULL : undefined);
    const words = cause instanceof Error ? cause.message : String(cause);
    super(
      known
        ? `backup ${target}: ${known.why} (${code}); ${known.fix}`
        : `backup ${target}: its disk refuses the copy (${words.startsWith(code) ? words : `${code}: ${words}`}); check that filesystem, or name a file on another disk`,
      { cause },
    );
    this.name = 'BackupTargetError';
    this.failure = known?.failure ?? 'refused';
  }
}
