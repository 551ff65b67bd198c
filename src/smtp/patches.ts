import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

/**
 * Narrow adjustments to smtp-server's internals, applied once. Each is covered by tests that fail if
 * a newer smtp-server changes the behaviour it relies on (test/smtp/intake.test.ts); package.json pins
 * smtp-server to an exact version for the same reason: an upgrade is a deliberate step with those
 * tests run, never a side effect of `npm install`.
 */

const ENHANCED_CODE = /^([245]\.\d{1,3}\.\d{1,3}) (.*)$/s;

/**
 * smtp-server derives the RFC 3463 enhanced status code from the basic code alone (550 → 5.1.1),
 * and a handler error cannot carry its own. Senders act on the difference between 5.1.3 (bad
 * number), 5.7.1 (relaying denied) and 5.3.4 (too long), so a reply text that starts with an
 * enhanced code keeps it and gets no second one.
 */
function keepHandlerEnhancedCodes(): void {
  const send = SMTPConnection.prototype.send;
  SMTPConnection.prototype.send = function sendWithOwnEnhancedCode(code, data, context) {
    if (typeof data === 'string' && ENHANCED_CODE.test(data)) {
      send.call(this, code, data, false);
      return;
    }
    send.call(this, code, data, context);
  };
}

/**
 * smtp-server waits a hard-coded 100 ms before the greeting to catch clients that talk too soon (a
 * spam-bot tell). For clients in trusted networks — the monitoring system or ERP next door, sending
 * one mail per connection — that pause caps a session near 10 mails/s and buys nothing. The server
 * marks them with `skipGreetingDelay(address)`; everyone else keeps the pause.
 */
function skipGreetingDelayForTrusted(): void {
  const init = SMTPConnection.prototype.init;
  SMTPConnection.prototype.init = function initWithoutDelayForTrusted() {
    const options = this._server.options as { skipGreetingDelay?: (address: string) => boolean; maxClients?: number };
    if (!options.skipGreetingDelay?.(this.remoteAddress)) {
      init.call(this);
      return;
    }
    this._setListeners(() => {
      if (options.maxClients && this._server.connections.size > options.maxClients) {
        this.send(421, `${this.name} Too many connected clients, try again in a moment`, false);
        return;
      }
      this.connectionReady();
    });
  };
}

/** `RCPT TO:<447 700 900123@sms.example.com>`, the local part quoted or not: a number with spaces. */
const SPACED_RECIPIENT = /^RCPT\s+TO\s*:\s*<\s*("?)([^<>@"]*?\s[^<>@"]*?)\1\s*@([^<>\s@]+)>/i;
/** What is left of the local part once the spaces are out: a number as people write it. */
const WRITTEN_NUMBER = /^\+?\(?\d[\d().-]*\d$/;

/**
 * smtp-server splits a command at whitespace, so a number pasted as it is printed
 * (`RCPT TO:<447 700 900123@sms.example.com>`) gets its "501 Bad recipient address syntax" before
 * any handler sees the address. A recipient whose local part is a phone number written with spaces
 * gets the relay's answer instead: what to write (501 5.1.3, a bad destination mailbox address).
 * Anything else goes on to acceptEnvelopeAddressesAsWritten.
 */
function explainSpacedNumbers(): void {
  const handle = SMTPConnection.prototype.handler_RCPT;
  SMTPConnection.prototype.handler_RCPT = function rcptWithSpacedNumber(command, callback) {
    const spaced = SPACED_RECIPIENT.exec(command.toString());
    const number = spaced?.[2]?.replace(/\s+/g, '');
    if (spaced && number && WRITTEN_NUMBER.test(number)) {
      this.send(501, `5.1.3 Write the number without spaces: <${number}@${spaced[3]}>`);
      callback();
      return;
    }
    handle.call(this, command, callback);
  };
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
 * smtp-server refuses any envelope address outside RFC 5321's strict form with a vague "501 Error: Bad
 * sender address syntax" (or recipient). It keeps parsing what it takes as before; what it refuses is
 * read as old devices write it (`parseWrittenAddress`), and what is still refused gets a reply that says
 * what to write. Every check after the parse (relaying, routing characters, sender policy) sees the
 * address as for any other.
 */
function acceptEnvelopeAddressesAsWritten(): void {
  const parse = SMTPConnection.prototype._parseAddressCommand;
  SMTPConnection.prototype._parseAddressCommand = function parseAsWritten(rawName, rawCommand) {
    return parse.call(this, rawName, rawCommand) || parseWrittenAddress(parse, this, rawName, String(rawCommand ?? ''));
  };
  const mail = SMTPConnection.prototype.handler_MAIL;
  SMTPConnection.prototype.handler_MAIL = function mailWithSpecificRefusal(command, callback) {
    if (this._parseAddressCommand('mail from', command)) {
      mail.call(this, command, callback);
      return;
    }
    this.send(501, '5.1.7 Bad sender address syntax: write MAIL FROM:<name@example.com>, then any parameters');
    callback();
  };
  const rcpt = SMTPConnection.prototype.handler_RCPT;
  SMTPConnection.prototype.handler_RCPT = function rcptWithSpecificRefusal(command, callback) {
    const parsed = this._parseAddressCommand('rcpt to', command);
    if (parsed !== false && parsed.address !== '') {
      rcpt.call(this, command, callback);
      return;
    }
    this.send(501, '5.1.3 Bad recipient address syntax: write RCPT TO:<phone number@SMS domain>, then any parameters');
    callback();
  };
}

/** A refusal of AUTH on this connection (no accounts, or a password must not travel in clear from there), or undefined. */
type AuthRefusal = (address: string, secure: boolean) => (Error & { responseCode: number }) | undefined;

/**
 * smtp-server offers AUTH before STARTTLS either to every client (`allowInsecureAuth`) or to none,
 * and refuses AUTH LOGIN only after the client has sent its user name and password. The relay lets
 * this host's own loopback authenticate in clear and no one else, and a relay without accounts no one
 * (smtp-server's disabled AUTH would answer a vague "500 command not recognized"): the server's
 * `authRefusal(address, secure)` says which. To a refused client, EHLO does not offer AUTH, and the
 * AUTH command itself gets the refusal before any credential is sent.
 */
function authOnlyWherePasswordsMayTravel(): void {
  const refusalOf = (connection: SMTPConnection) =>
    (connection._server.options as { authRefusal?: AuthRefusal }).authRefusal?.(connection.remoteAddress, connection.secure);
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
    const refusal = refusalOf(this);
    if (!refusal) {
      auth.call(this, command, callback);
      return;
    }
    this.send(refusal.responseCode, refusal.message);
    callback();
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
 * cannot pipeline (PIPELINING is an ESMTP extension): its replies are written as they come.
 */
function coalesceReplies(): void {
  const send = SMTPConnection.prototype.send;
  SMTPConnection.prototype.send = function sendCoalesced(code, data, context) {
    const socket = this._socket;
    if (code === READY) {
      while (socket.writableCorked > 0) socket.uncork();
    } else if (this.openingCommand === 'EHLO' && socket.writableCorked === 0 && !socket.destroyed) {
      socket.cork();
      setImmediate(() => socket.uncork());
    }
    send.call(this, code, data, context);
  };
}

let applied = false;

export function applySmtpServerPatches(): void {
  if (applied) return;
  applied = true;
  keepHandlerEnhancedCodes();
  skipGreetingDelayForTrusted();
  // Before explainSpacedNumbers, which then answers a spaced number before this reads the address.
  acceptEnvelopeAddressesAsWritten();
  explainSpacedNumbers();
  authOnlyWherePasswordsMayTravel();
  coalesceReplies();
}
