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
 * Anything else keeps smtp-server's own reply.
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
  explainSpacedNumbers();
  authOnlyWherePasswordsMayTravel();
  coalesceReplies();
}
