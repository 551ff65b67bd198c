import { isAscii } from 'node:buffer';
import type { Logger } from '../log.ts';
import { isLoopbackHost } from '../policy/networks.ts';
import type { ClaimedMail } from '../store/types.ts';
import { needsSmtpUtf8, type SmtpClientOptions, type SmtpError, SmtpSession } from './smtp-client.ts';
import { sevenBitBody } from './seven-bit.ts';
import type { DeliveryResult, MailTransport } from './transports.ts';

/**
 * Connections kept open to the smarthost. Every SMS from a phone is a mail, so under a burst of
 * replies this is the mailer's pace: with PIPELINING each connection carries one mail per round
 * trip (a mail's content and the next mail's envelope in one write). Four is far below any MTA's per-client limit (Postfix: 50).
 */
export const SMARTHOST_POOL_SIZE = 4;
/** Messages one connection carries before it is replaced (nodemailer's pool default, which the relay used before). */
const MESSAGES_PER_CONNECTION = 100;
/**
 * An idle connection is closed after this long, well inside the 5 minutes RFC 5321 §4.5.3.2.7 asks a
 * server to wait: a mail is not handed to a connection the smarthost is about to drop.
 */
const IDLE_CLOSE_MS = 30_000;

interface Session {
  readonly connection: SmtpSession;
  sent: number;
  /** The server ended it or it failed: it takes no more mail. */
  dead: boolean;
  idleTimer?: NodeJS.Timeout | undefined;
}

/**
 * Where and how the client connects for `url`. An IPv6 literal is bracketed in a URL (`smtp://[::1]:2525`)
 * but not in a socket's host: with its brackets it was looked up as a name, and never connected.
 */
export function smarthostOptions(url: string, hostname: string): SmtpClientOptions {
  const parsed = new URL(url);
  const sendsPassword = parsed.username !== '' || parsed.password !== '';
  return {
    host: decodeURIComponent(parsed.hostname).replace(/^\[(.*)\]$/, '$1'),
    port: parsed.port ? Number(parsed.port) : parsed.protocol === 'smtps:' ? 465 : 25,
    secure: parsed.protocol === 'smtps:',
    // Credentials only over TLS, unless the smarthost is this machine.
    requireTLS: sendsPassword && !isLoopbackHost(parsed.hostname),
    auth: sendsPassword ? { user: decodeURIComponent(parsed.username), pass: decodeURIComponent(parsed.password) } : undefined,
    hostname,
  };
}

/** What the client takes from the relay's settings. */
export interface SmarthostRelay {
  /** `smtp.hostname`: the EHLO name. */
  readonly hostname: string;
  /** `mail.from`: the envelope sender of a forward whose own sender the smarthost cannot take (UTF-8 without SMTPUTF8). */
  readonly from: string;
  readonly logger: Logger;
}

/**
 * SMTP to `SMSRELAY_MAIL_URL` over a small pool of SMTP client sessions (`smtp-client.ts`); 5xx
 * answers are permanent, the rest temporary. The stored mail is already the finished message, so it
 * goes to the session as it is: nodemailer's `sendMail` would wrap it in a MIME node, give it a
 * Message-ID it never uses and stream it through a pipeline per mail, which was two fifths of the main
 * thread's work while it mailed SMS replies (#15). The client pipelines (RFC 2920) when the smarthost
 * offers it, also from one mail to the next, negotiates STARTTLS and logs in.
 */
export function smarthostTransport(url: string, relay: SmarthostRelay): MailTransport {
  const { hostname, from, logger } = relay;
  const parsed = new URL(url);
  const options = smarthostOptions(url, hostname);
  let toldNoLogin = false;
  const idle: Session[] = [];
  const waiting: Array<{ readonly mail: ClaimedMail; readonly done: (result: DeliveryResult) => void }> = [];
  /** Every session not yet retired, idle or carrying a mail: the close destroys those that carry one. */
  const live = new Set<Session>();
  let lanes = 0;
  let closed = false;
  /** Aborted at the close: a connection still being opened is given up with the rest. */
  const closing = new AbortController();

  const retire = (session: Session) => {
    session.dead = true;
    live.delete(session);
    clearTimeout(session.idleTimer);
    const at = idle.indexOf(session);
    if (at >= 0) idle.splice(at, 1);
  };

  const open = async (): Promise<Session> => {
    const connection = await SmtpSession.open(options, closing.signal);
    // Once per run: mail goes out (the smarthost may trust this host), but the credentials were meant for something.
    if (options.auth && !connection.loggedIn && !toldNoLogin) {
      toldNoLogin = true;
      logger.warn(
        { setting: 'mail.url', via: `${parsed.hostname}:${options.port}` },
        'mailer: mail.url has credentials but the smarthost offers no AUTH: sending without logging in',
      );
    }
    const session: Session = { connection, sent: 0, dead: false };
    live.add(session);
    // The server dropped an idle session, or a send failed: it is retired; a send's own error reaches its caller.
    connection.onEnd(() => retire(session));
    return session;
  };

  /** Back to the idle list, or closed once it carried its share; QUIT follows any reply still due. */
  const release = (session: Session) => {
    if (closed || session.dead || session.sent >= MESSAGES_PER_CONNECTION) {
      retire(session);
      session.connection.quit();
      return;
    }
    session.idleTimer = setTimeout(() => {
      retire(session);
      session.connection.quit();
    }, IDLE_CLOSE_MS).unref();
    idle.push(session);
  };

  /**
   * Starts `mail` on a pooled session; resolves once that session can take the next mail (its content
   * is written, see SmtpSession.send), with the mail's result still to come.
   */
  const start = async (mail: ClaimedMail, mayRetry: boolean): Promise<{ readonly result: Promise<DeliveryResult> }> => {
    if (closed) return { result: Promise.resolve(CLOSED) };
    const reused = idle.pop();
    if (reused) clearTimeout(reused.idleTimer);
    let session: Session;
    try {
      session = reused ?? (await open());
    } catch (error) {
      return { result: Promise.resolve(failure(error as SmtpError)) };
    }
    const fitted = await fit(mail, session.connection);
    if ('refused' in fitted) {
      release(session);
      return { result: Promise.resolve(fitted.refused) };
    }
    session.sent += 1;
    let written: () => void = () => undefined;
    const turnFree = new Promise<void>((resolve) => (written = resolve));
    // A reply mail's bounce comes back to the relay (its return path), read by its Original-Recipient, without the SMS text;
    // the other mails go as they came (a forward to the postmaster keeps its sender's own) or from <> (bounces, notices).
    const result = session.connection.send(fitted.from, mail.recipients, fitted.raw, written, { dsn: mail.kind === 'reply' }).then(
      (response): DeliveryResult => ({ ok: true, response }),
      async (error: SmtpError): Promise<DeliveryResult> => {
        // A refusal of this mail leaves the session usable; anything else (421, a dropped connection) ends it.
        if (!refusesThisMail(error)) retire(session);
        // A connection the server dropped while it sat idle: the mail goes once more, on a fresh one.
        if (reused && mayRetry && !closed && error.responseCode === undefined) return (await start(mail, false)).result;
        return failure(error);
      },
    );
    await turnFree;
    release(session);
    return { result };
  };

  /**
   * The envelope and content as this smarthost can take them, never sent raw to be refused (RFC 6531 §3.4,
   * RFC 6152 §3): without 8BITMIME an 8-bit body goes quoted-printable; without SMTPUTF8 a UTF-8 sender
   * (a mail forwarded to the postmaster) is replaced by `mail.from`, and a UTF-8 recipient cannot be
   * reached through it at all.
   */
  const fit = async (mail: ClaimedMail, connection: SmtpSession): Promise<{ from: string; raw: Buffer } | { refused: DeliveryResult }> => {
    let { envelopeFrom: sender, raw } = mail;
    if (!connection.offers('SMTPUTF8')) {
      const unreachable = mail.recipients.find(needsSmtpUtf8);
      if (unreachable !== undefined) {
        const error = `the smarthost does not offer SMTPUTF8, which the UTF-8 address ${unreachable} needs (RFC 6531)`;
        return { refused: { ok: false, permanent: true, error, down: false } };
      }
      if (needsSmtpUtf8(sender)) {
        logger.info(
          { msgId: mail.messageId, mailId: mail.id, kind: mail.kind },
          `mailer: the smarthost does not offer SMTPUTF8: the mail's UTF-8 envelope sender is replaced by mail.from (${from})`,
        );
        sender = from;
      }
    }
    // A mail mailsplit cannot take apart (a header block past its limit) goes as it is: the smarthost decides, nothing is lost here.
    if (!connection.offers('8BITMIME') && !isAscii(raw)) raw = await sevenBitBody(raw).catch(() => raw);
    return { from: sender, raw };
  };

  /** Each lane keeps one mail being written; its result is awaited apart, so the session's next mail follows at once. */
  const lane = async () => {
    lanes += 1;
    try {
      for (let job = waiting.shift(); job; job = waiting.shift()) {
        const { done } = job;
        const { result } = await start(job.mail, true);
        void result.then(done);
      }
    } finally {
      lanes -= 1;
    }
  };

  return {
    description: `smarthost ${parsed.hostname}:${options.port}`,
    deliver(mail) {
      if (closed) return Promise.resolve(CLOSED);
      return new Promise((done) => {
        waiting.push({ mail, done });
        if (lanes < SMARTHOST_POOL_SIZE) void lane();
      });
    },
    /**
     * Idle sessions end with QUIT; a mail still being opened, written or awaiting its reply is given up at
     * once, its connection destroyed (docs/operations.md, "Stopping": a stop does not wait for a smarthost
     * that does not answer, nor does the smarthost's late answer deliver a mail the relay can no longer record).
     */
    async close() {
      closed = true;
      for (const session of [...idle]) {
        retire(session);
        session.connection.quit();
      }
      closing.abort();
      for (const session of [...live]) {
        retire(session);
        session.connection.destroy();
      }
    },
  };
}

/** A delivery asked of, or given up by, a closed transport: temporary, the mail stays queued. */
const CLOSED: DeliveryResult = { ok: false, permanent: false, error: 'the smarthost transport is closed', down: true };

/** A refusal of the relay's own session keeps the client's words before the smarthost's ("invalid login: 535 …"): they say which step. */
function failure(error: SmtpError): DeliveryResult {
  // Every mail would meet a refusal of the relay's own session: the transport is down until mail.url changes.
  if (error.ofSession) return { ok: false, permanent: false, error: error.message, setting: 'mail.url', down: true };
  return { ok: false, permanent: error.permanent, error: error.response ?? error.message, down: !refusesThisMail(error) };
}

/** The smarthost answered about this mail (its envelope or content), in a session still usable: not an outage. */
function refusesThisMail(error: SmtpError): boolean {
  return (error.code === 'EENVELOPE' || error.code === 'EMESSAGE') && error.responseCode !== 421;
}
