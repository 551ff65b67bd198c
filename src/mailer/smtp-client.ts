import { isAscii } from 'node:buffer';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

/** Waiting for the TCP (and TLS) connection: nodemailer's `connectionTimeout`, which the relay used before. */
const CONNECT_TIMEOUT_MS = 120_000;
/** Waiting for the server's greeting once connected: nodemailer's `greetingTimeout`, which the relay used before. */
const GREETING_TIMEOUT_MS = 30_000;
/** Waiting for any one reply while a command is out: nodemailer's `socketTimeout`, which the relay used before. */
const REPLY_TIMEOUT_MS = 600_000;
/** A reply longer than this is no SMTP server's (RFC 5321 §4.5.3.1.5: 512 octets a line, a few lines). */
const MAX_REPLY_BYTES = 64 * 1024;

export interface SmtpClientOptions {
  readonly host: string;
  readonly port: number;
  /** TLS from the first byte (`smtps:`); otherwise STARTTLS when the server offers it or `requireTLS`. */
  readonly secure: boolean;
  /** No session without TLS: a server that does not offer STARTTLS is an error. */
  readonly requireTLS: boolean;
  readonly auth?: { readonly user: string; readonly pass: string } | undefined;
  /** The name the client greets with in EHLO: the relay's `smtp.hostname`, as in its own greeting. */
  readonly hostname: string;
}

/**
 * A refusal at MAIL that says the session must log in (or be encrypted) first: RFC 4954's 530 5.7.0,
 * 538 5.7.11, or an MTA's policy refusal with the same enhanced code (Exim's ACL: `550 5.7.0 auth
 * required`). It is about the relay's session, not the mail it was about to send.
 */
const SESSION_REFUSAL = /^(?:53[08][ -]|5\d\d[ -]5\.7\.(?:0|8|11)\b)/;

/** What went wrong, shaped as nodemailer's SMTP client shaped it (code, the server's reply, its code, 5xx = permanent). */
export class SmtpError extends Error {
  readonly code: 'ECONNECTION' | 'ETIMEDOUT' | 'ETLS' | 'EAUTH' | 'EENVELOPE' | 'EMESSAGE' | 'EPROTOCOL';
  readonly response: string | undefined;
  readonly responseCode: number | undefined;
  readonly permanent: boolean;
  /**
   * The smarthost refused the relay's own session (its login, its missing login or TLS), not the mail:
   * only a change of `mail.url` (or of the smarthost) helps, and every mail would meet the same refusal.
   */
  readonly ofSession: boolean;

  constructor(code: SmtpError['code'], message: string, reply?: Reply) {
    super(reply ? `${message}: ${reply.text}` : message);
    this.code = code;
    this.response = reply?.text;
    this.responseCode = reply?.code;
    this.ofSession = code === 'EAUTH';
    this.permanent = !this.ofSession && reply !== undefined && reply.code >= 500 && reply.code < 600;
  }
}

interface Reply {
  readonly code: number;
  /** The whole reply, its lines joined with `\n`, as nodemailer reported it. */
  readonly text: string;
}

/** EHLO's argument (RFC 5321 §4.1.1.1): the relay's name, an address as an address literal. */
function greetingName(hostname: string): string {
  const family = isIP(hostname);
  return family === 4 ? `[${hostname}]` : family === 6 ? `[IPv6:${hostname}]` : hostname;
}

/**
 * One SMTP client session to the smarthost: greeting, EHLO (HELO when EHLO is refused), STARTTLS
 * (when offered, or required), AUTH PLAIN or LOGIN, then mails in turn. With PIPELINING (RFC 2920) a
 * mail's content, its final dot and the next mail's MAIL, RCPT and DATA leave in one write, so a mail
 * costs one write and one round trip. nodemailer's client, which the relay used before, waited for
 * each mail's reply before the next envelope and wrote the content and its dot apart: two round trips
 * and three writes per mail; against a light SMTP sink 63-74 µs of CPU per mail against 38-40 here,
 * 15,000 mails/s over four connections against 25,000 (#15). The content goes as nodemailer's
 * DataStream sent it: dots at the start of a line doubled, bare CR and LF made CRLF, a final line break.
 */
export class SmtpSession {
  #socket: Socket | TLSSocket;
  readonly #pending: Array<(reply: Reply | SmtpError) => void> = [];
  #buffered = '';
  #extensions: readonly string[] = [];
  #dead = false;
  #loggedIn = false;
  readonly #hostname: string;
  /** Settles when the mail before may be followed by the next (see `send`). */
  #turn: Promise<void> = Promise.resolve();
  readonly #onEnd: Array<() => void> = [];

  private constructor(socket: Socket, hostname: string) {
    this.#socket = socket;
    this.#hostname = hostname;
  }

  /**
   * Connects, greets, secures and logs in; rejects with an SmtpError. `signal` gives the opening up: its
   * connection is destroyed at once (a stop does not wait up to CONNECT_TIMEOUT_MS for a smarthost that never answers).
   */
  static async open(options: SmtpClientOptions, signal?: AbortSignal): Promise<SmtpSession> {
    const socket = options.secure ? tlsConnect({ ...tlsIdentity(options.host), port: options.port }) : netConnect({ host: options.host, port: options.port });
    const session = new SmtpSession(socket, options.hostname);
    session.#attach(socket);
    const giveUp = () => session.destroy();
    signal?.addEventListener('abort', giveUp, { once: true });
    try {
      if (signal?.aborted) throw new SmtpError('ECONNECTION', 'the connection was closed');
      await session.#connected(socket, options.secure ? 'secureConnect' : 'connect');
      socket.setTimeout(GREETING_TIMEOUT_MS);
      await session.#expect(session.#next(), 220, 'ECONNECTION', 'the smarthost did not greet');
      socket.setTimeout(REPLY_TIMEOUT_MS);
      await session.#hello();
      const offersTls = session.#extensions.includes('STARTTLS');
      // Asked anyway, STARTTLS would be refused with a 5xx, read as a refusal of the mail: it is the smarthost's setup.
      if (!options.secure && !offersTls && options.requireTLS)
        throw new SmtpError(
          'EAUTH',
          'the smarthost offers no STARTTLS, and the password in mail.url goes only over TLS (use smtps: or a smarthost with STARTTLS)',
        );
      if (!options.secure && offersTls) await session.#startTls(options.host);
      if (options.auth && session.#extensions.some((line) => /^AUTH[\s=]/i.test(line))) {
        await session.#login(options.auth);
        session.#loggedIn = true;
      }
      return session;
    } catch (error) {
      session.destroy();
      throw error instanceof SmtpError ? error : new SmtpError('ECONNECTION', (error as Error).message);
    } finally {
      signal?.removeEventListener('abort', giveUp);
    }
  }

  /** Whether the session logged in: mail.url's credentials are not used with a smarthost that offers no AUTH. */
  get loggedIn(): boolean {
    return this.#loggedIn;
  }

  /** Whether the server's EHLO offered `extension` (SMTPUTF8, 8BITMIME, …). */
  offers(extension: string): boolean {
    return this.#extensions.includes(extension);
  }

  /** The server ended the session or it failed: it takes no more mail. */
  get dead(): boolean {
    return this.#dead;
  }

  /** Called once when the session ends, whoever ended it. */
  onEnd(listener: () => void): void {
    this.#onEnd.push(listener);
  }

  /**
   * Sends one mail; resolves with the server's reply to its content. Mails sent on one session go in
   * turn; `written` is called once this one no longer holds the turn: with PIPELINING as soon as its
   * content is written, so the next mail's MAIL, RCPT and DATA follow the content's final dot in the
   * same write (RFC 2920 §3.1) and a mail costs one write and one round trip; without it once the
   * reply came. At least one recipient must be accepted (the others are left, as nodemailer left them).
   * A refused envelope is followed by RSET, so the session stays usable.
   */
  async send(from: string, to: readonly string[], raw: Buffer, written: () => void = () => undefined, options: SendOptions = {}): Promise<string> {
    const previous = this.#turn;
    let free: () => void = () => undefined;
    this.#turn = new Promise((resolve) => (free = resolve));
    try {
      await previous;
      return await this.#transaction(from, to, raw, options, () => {
        free();
        written();
      });
    } finally {
      free();
      written();
    }
  }

  async #transaction(from: string, to: readonly string[], raw: Buffer, { dsn: asksDsn = false }: SendOptions, contentWritten: () => void): Promise<string> {
    const unsafe = [from, ...to].find((address) => /[\r\n<>]/.test(address));
    if (unsafe !== undefined) throw new SmtpError('EENVELOPE', `invalid address ${JSON.stringify(unsafe)}`);
    if (to.length === 0) throw new SmtpError('EENVELOPE', 'no recipients');
    const pipelining = this.#extensions.includes('PIPELINING');
    const utf8 = [from, ...to].some(needsSmtpUtf8) && this.#extensions.includes('SMTPUTF8') ? ' SMTPUTF8' : '';
    // RFC 6152 §3: 8-bit content is declared (a server without 8BITMIME gets it made 7-bit first: smarthost.ts).
    const body = this.#extensions.includes('8BITMIME') && !isAscii(raw) ? ' BODY=8BITMIME' : '';
    const dsn = asksDsn && this.#extensions.includes('DSN');
    const commands = [
      `MAIL FROM:<${from}>${utf8}${body}${dsn ? ' RET=HDRS' : ''}`,
      ...to.map((address) => `RCPT TO:<${address}>${dsn ? ` ORCPT=${originalRecipient(address)}` : ''}`),
      'DATA',
    ];
    // One reply per command sent; DATA's last, when it was sent.
    const replies: Array<Promise<Reply>> = [];
    if (pipelining) {
      for (const _command of commands) replies.push(this.#next());
      this.#socket.write(`${commands.join('\r\n')}\r\n`);
    } else {
      // Without PIPELINING each command waits for the one before: a refused MAIL, or no recipient taken, ends the envelope.
      let taken = false;
      for (const command of commands) {
        if (command === 'DATA' && !taken) break;
        const reply = this.#command(command);
        replies.push(reply);
        const { code } = await reply;
        if (command.startsWith('MAIL') && code !== 250) break;
        if (command.startsWith('RCPT')) taken ||= code === 250 || code === 251;
      }
    }
    const answered = await Promise.all(replies);
    const [mail, ...recipients] = answered.slice(0, 1 + to.length);
    const data = answered[1 + to.length];
    const refused = recipients.find((reply) => reply.code !== 250 && reply.code !== 251);
    const accepted = recipients.some((reply) => reply.code === 250 || reply.code === 251);
    if (data?.code === 354 && !accepted) {
      // A server that answered DATA despite no recipient gets an empty message, which it must refuse.
      await this.#command('.');
    }
    if (mail?.code !== 250 || data?.code !== 354 || !accepted) {
      const error =
        mail?.code !== 250
          ? SESSION_REFUSAL.test(mail?.text ?? '')
            ? new SmtpError('EAUTH', 'the smarthost asks the relay to log in (or use TLS) before MAIL', mail)
            : new SmtpError('EENVELOPE', 'the smarthost refused the sender', mail)
          : accepted
            ? new SmtpError('EENVELOPE', 'the smarthost refused DATA', data)
            : new SmtpError('EENVELOPE', 'the smarthost refused every recipient', refused ?? data);
      // The transaction may still be open at the server: the next mail's MAIL would be out of sequence.
      await this.#expect(this.#command('RSET'), 250, 'EPROTOCOL', 'the smarthost refused RSET').catch(() => this.destroy());
      throw error;
    }
    const result = this.#next();
    if (pipelining) {
      // The content, its dot and the next mail's envelope in one segment: the socket is held until this turn of the loop ends.
      this.#socket.cork();
      setImmediate(() => this.#socket.uncork());
    }
    this.#socket.write(dotStuffed(raw));
    if (pipelining) contentWritten();
    const reply = await result;
    if (reply.code !== 250) throw new SmtpError('EMESSAGE', 'the smarthost refused the message', reply);
    return reply.text;
  }

  /** QUIT, then the connection closes; nothing waits for it. */
  quit(): void {
    if (this.#dead) return;
    this.#pending.push(() => this.destroy());
    this.#socket.end('QUIT\r\n');
  }

  destroy(): void {
    this.#socket.destroy();
    this.#ended(new SmtpError('ECONNECTION', 'the connection was closed'));
  }

  #attach(socket: Socket | TLSSocket): void {
    socket.setTimeout(CONNECT_TIMEOUT_MS);
    // Bytes as they come (latin1 keeps each byte one character): a reply's UTF-8 is decoded once it is whole.
    socket.on('data', (chunk: Buffer) => this.#read(chunk.toString('latin1')));
    socket.on('timeout', () => {
      if (this.#pending.length === 0) return;
      socket.destroy();
      this.#ended(new SmtpError('ETIMEDOUT', 'the smarthost did not answer in time'));
    });
    socket.on('error', (error) => this.#ended(new SmtpError('ECONNECTION', error.message)));
    socket.on('close', () => this.#ended(new SmtpError('ECONNECTION', 'the smarthost closed the connection')));
  }

  #connected(socket: Socket, event: 'connect' | 'secureConnect'): Promise<void> {
    return new Promise((resolve, reject) => {
      const failed = (error: Error) => reject(new SmtpError('ECONNECTION', error.message));
      const late = () => {
        socket.destroy();
        reject(new SmtpError('ETIMEDOUT', 'no connection to the smarthost in time'));
      };
      // Destroyed before it connected (the opening given up): no 'error' comes, only 'close'.
      const closed = () => reject(new SmtpError('ECONNECTION', 'the connection was closed'));
      socket.once('error', failed);
      socket.once('timeout', late);
      socket.once('close', closed);
      socket.once(event, () => {
        socket.off('error', failed);
        socket.off('timeout', late);
        socket.off('close', closed);
        socket.setTimeout(REPLY_TIMEOUT_MS);
        resolve();
      });
    });
  }

  async #hello(): Promise<void> {
    const name = greetingName(this.#hostname);
    const ehlo = await this.#command(`EHLO ${name}`);
    if (ehlo.code === 250) {
      this.#extensions = ehlo.text
        .split('\n')
        .slice(1)
        .map((line) => line.slice(4).trim().toUpperCase());
      return;
    }
    await this.#expect(this.#command(`HELO ${name}`), 250, 'ECONNECTION', 'the smarthost refused EHLO and HELO');
    this.#extensions = [];
  }

  async #startTls(host: string): Promise<void> {
    await this.#expect(this.#command('STARTTLS'), 220, 'ETLS', 'the smarthost could not start TLS');
    // Bytes after the 220 came in clear and would be read as the first answers inside TLS (CVE-2011-0411's
    // injection): a smarthost, or someone on the way, that sends them gets no session.
    if (this.#buffered !== '') throw new SmtpError('ETLS', 'the smarthost sent data after its STARTTLS reply');
    const plain = this.#socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('timeout');
    plain.removeAllListeners('close');
    plain.setTimeout(0);
    const secured = tlsConnect({ socket: plain, ...tlsIdentity(host) });
    this.#socket = secured;
    this.#attach(secured);
    await this.#connected(secured, 'secureConnect');
    await this.#hello();
  }

  async #login({ user, pass }: { readonly user: string; readonly pass: string }): Promise<void> {
    const offered = this.#extensions.find((line) => /^AUTH[\s=]/i.test(line)) ?? '';
    const mechanisms = offered.slice(5).split(/[\s=]+/);
    if (!mechanisms.includes('PLAIN') && mechanisms.includes('LOGIN')) {
      await this.#expect(this.#command('AUTH LOGIN'), 334, 'EAUTH', 'the smarthost refused AUTH LOGIN');
      await this.#expect(this.#command(Buffer.from(user).toString('base64')), 334, 'EAUTH', 'the smarthost refused the user name');
      await this.#expect(this.#command(Buffer.from(pass).toString('base64')), 235, 'EAUTH', 'invalid login');
      return;
    }
    const plain = Buffer.from(`\u0000${user}\u0000${pass}`).toString('base64');
    await this.#expect(this.#command(`AUTH PLAIN ${plain}`), 235, 'EAUTH', 'invalid login');
  }

  #command(line: string): Promise<Reply> {
    const reply = this.#next();
    this.#socket.write(`${line}\r\n`);
    return reply;
  }

  async #expect(reply: Promise<Reply>, code: number, errorCode: SmtpError['code'], message: string): Promise<Reply> {
    const answered = await reply;
    if (answered.code !== code) throw new SmtpError(errorCode, message, answered);
    return answered;
  }

  /** The next reply the server sends; rejects when the session ends first. */
  #next(): Promise<Reply> {
    if (this.#dead) return Promise.reject(new SmtpError('ECONNECTION', 'the connection is closed'));
    return new Promise((resolve, reject) => this.#pending.push((reply) => (reply instanceof SmtpError ? reject(reply) : resolve(reply))));
  }

  #read(chunk: string): void {
    this.#buffered += chunk;
    for (;;) {
      const reply = /^(?:\d{3}-[^\n]*\n)*(\d{3})(?: [^\n]*)?\r?\n/.exec(this.#buffered);
      if (!reply) break;
      this.#buffered = this.#buffered.slice(reply[0].length);
      const answer = this.#pending.shift();
      const parsed = { code: Number(reply[1]), text: Buffer.from(reply[0].trim(), 'latin1').toString('utf8').replace(/\r\n/g, '\n') };
      // A reply nobody waits for (421 on an idle connection) ends the session.
      if (!answer) this.destroy();
      else answer(parsed);
    }
    if (this.#buffered.length > MAX_REPLY_BYTES || /^(?!\d{3}[ -])[^\n]*\n/.test(this.#buffered)) {
      this.#socket.destroy();
      this.#ended(new SmtpError('EPROTOCOL', `the smarthost sent what is no SMTP reply: ${JSON.stringify(this.#buffered.slice(0, 80))}`));
    }
  }

  #ended(error: SmtpError): void {
    if (this.#dead) return;
    this.#dead = true;
    for (const answer of this.#pending.splice(0)) answer(error);
    for (const listener of this.#onEnd.splice(0)) listener();
  }
}

export interface SendOptions {
  /**
   * Ask for RFC 3461's DSN where the server offers it: headers only in a bounce (`RET=HDRS`) and each
   * recipient named as it was sent to (`ORCPT`), which a bounce then gives as its Original-Recipient
   * however the servers behind rewrote it (an alias, a stripped +tag, a Unicode domain).
   */
  readonly dsn?: boolean;
}

/**
 * An ORCPT value (RFC 3461 §4.2): an ASCII address as `rfc822;` xtext (a character outside `!`..`~`, and
 * `+` and `=`, as `+HH`); one with UTF-8 as RFC 6533's `utf-8;` utf-8-addr-xtext (`+`, `=`, `\` and every
 * character beyond ASCII as `\x{HEX}`).
 */
export function originalRecipient(address: string): string {
  if (!needsSmtpUtf8(address))
    return `rfc822;${address.replace(/[^!-*,-<>-~]/g, (char) => `+${char.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`)}`;
  return `utf-8;${address.replace(/[^!-*,-<>-[\]-~]/gu, (char) => `\\x{${(char.codePointAt(0) ?? 0).toString(16).toUpperCase()}}`)}`;
}

/** An address with UTF-8 in it: it goes only with SMTPUTF8 (RFC 6531). */
export function needsSmtpUtf8(address: string): boolean {
  return /[\x80-\uFFFF]/.test(address);
}

/**
 * What the smarthost's certificate is checked against: the host of `mail.url`. A name also goes as SNI;
 * an address may not (RFC 6066 §3) and is checked against the certificate's IP addresses. Without
 * `host`, Node checks a STARTTLS upgrade's certificate against "localhost".
 */
function tlsIdentity(host: string): { readonly host: string; readonly servername?: string } {
  return isIP(host) ? { host } : { host, servername: host };
}

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;

/** The content as SMTP carries it, as nodemailer's DataStream made it, with the final `.` line. */
export function dotStuffed(raw: Buffer): Buffer {
  const pieces: Buffer[] = [];
  let from = 0;
  for (let at = 0; at < raw.length; at++) {
    const byte = raw[at];
    const previous = at === 0 ? undefined : raw[at - 1];
    let insert: string | undefined;
    // A bare CR becomes CRLF (and a dot after it is doubled: no "\r.\r" can end the data early: SMTP smuggling).
    if (previous === CR && byte !== LF) insert = byte === DOT ? '\n.' : '\n';
    else if (byte === LF && previous !== CR) insert = '\r';
    else if (byte === DOT && (previous === LF || previous === undefined)) insert = '.';
    if (insert === undefined) continue;
    pieces.push(raw.subarray(from, at), Buffer.from(insert));
    from = at;
  }
  const last = raw.length === 0 ? undefined : raw[raw.length - 1];
  pieces.push(raw.subarray(from), Buffer.from(last === LF ? '.\r\n' : last === CR ? '\n.\r\n' : '\r\n.\r\n'));
  return Buffer.concat(pieces);
}
