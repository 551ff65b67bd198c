import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { ClaimedMail } from '../store/types.ts';
import type { DeliveryResult, MailTransport } from './transports.ts';

/**
 * Connections kept open to the smarthost. Every SMS from a phone is a mail, so under a burst of
 * replies this is the mailer's pace: each connection carries one mail per two round trips (the
 * pipelined envelope, then the data). Four is far below any MTA's per-client limit (Postfix: 50).
 */
export const SMARTHOST_POOL_SIZE = 4;
/** Messages one connection carries before it is replaced (nodemailer's pool default, which the relay used before). */
const MESSAGES_PER_CONNECTION = 100;
/**
 * An idle connection is closed after this long, well inside the 5 minutes RFC 5321 §4.5.3.2.7 asks a
 * server to wait: a mail is not handed to a connection the smarthost is about to drop.
 */
const IDLE_CLOSE_MS = 30_000;
/** Hosts to which the smarthost password may travel without TLS. */
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

/** What nodemailer's SMTP client puts on its errors. */
type SmtpFailure = Error & { code?: string; responseCode?: number; response?: string; permanent?: boolean };

interface Session {
  readonly connection: SMTPConnection;
  sent: number;
  /** The server ended it or it failed: it takes no more mail. */
  dead: boolean;
  idleTimer?: NodeJS.Timeout | undefined;
}

/**
 * SMTP to `SMSRELAY_MAIL_URL` over a small pool of nodemailer's SMTP client connections; 5xx answers
 * are permanent, the rest temporary. The stored mail is already the finished message, so it goes to
 * the connection as it is: nodemailer's `sendMail` would wrap it in a MIME node, give it a Message-ID
 * it never uses and stream it through a pipeline per mail, which was two fifths of the main thread's
 * work while it mailed SMS replies (#15). The client pipelines MAIL/RCPT/DATA (RFC 2920) when the
 * smarthost offers it, negotiates STARTTLS and logs in.
 */
export function smarthostTransport(url: string): MailTransport {
  const parsed = new URL(url);
  const sendsPassword = parsed.username !== '' || parsed.password !== '';
  const options = {
    host: decodeURIComponent(parsed.hostname),
    port: parsed.port ? Number(parsed.port) : parsed.protocol === 'smtps:' ? 465 : 25,
    secure: parsed.protocol === 'smtps:',
    // Credentials only over TLS, unless the smarthost is this machine.
    requireTLS: sendsPassword && !LOOPBACK_HOSTS.has(parsed.hostname),
  };
  const auth = sendsPassword ? { user: decodeURIComponent(parsed.username), pass: decodeURIComponent(parsed.password) } : undefined;
  const idle: Session[] = [];
  const waiting: Array<{ readonly mail: ClaimedMail; readonly done: (result: DeliveryResult) => void }> = [];
  let lanes = 0;
  let closed = false;

  const retire = (session: Session) => {
    session.dead = true;
    clearTimeout(session.idleTimer);
    const at = idle.indexOf(session);
    if (at >= 0) idle.splice(at, 1);
  };

  const open = () =>
    new Promise<Session>((resolve, reject) => {
      const connection = new SMTPConnection(options);
      const session: Session = { connection, sent: 0, dead: false };
      let opening = true;
      const failed = (error: SmtpFailure) => {
        retire(session);
        connection.close();
        if (opening) reject(error);
        opening = false;
      };
      // Errors outside a send (the server dropped an idle connection) only retire it; a send's own error reaches its callback.
      connection.on('error', failed);
      connection.once('end', () => retire(session));
      connection.connect((error) => {
        if (error) return failed(error);
        if (!auth || !connection.allowsAuth) {
          opening = false;
          return resolve(session);
        }
        connection.login(auth, (loginError) => {
          if (loginError) return failed(loginError);
          opening = false;
          resolve(session);
        });
      });
    });

  const send = (session: Session, mail: ClaimedMail) =>
    new Promise<string>((resolve, reject) =>
      session.connection.send({ from: mail.envelopeFrom, to: [...mail.recipients] }, mail.raw, (error, info) =>
        error ? reject(error) : resolve(info?.response ?? ''),
      ),
    );

  /** Back to the idle list, or closed once it carried its share or after a refusal it could not reset. */
  const release = async (session: Session, refused: boolean) => {
    if (!session.dead && refused)
      await new Promise<void>((resolve) =>
        session.connection.reset((error) => {
          if (error) retire(session);
          resolve();
        }),
      );
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

  const attempt = async (mail: ClaimedMail, mayRetry: boolean): Promise<DeliveryResult> => {
    const reused = idle.pop();
    if (reused) clearTimeout(reused.idleTimer);
    let session: Session;
    try {
      session = reused ?? (await open());
    } catch (error) {
      return failure(error as SmtpFailure);
    }
    try {
      const response = await send(session, mail);
      session.sent += 1;
      await release(session, false);
      return { ok: true, response };
    } catch (error) {
      const smtp = error as SmtpFailure;
      session.sent += 1;
      // A refusal of this mail leaves the session usable; anything else (421, a dropped connection) ends it.
      const refusal = (smtp.code === 'EENVELOPE' || smtp.code === 'EMESSAGE') && smtp.responseCode !== 421;
      if (!refusal) retire(session);
      await release(session, refusal);
      // A connection the server dropped while it sat idle: the mail goes once more, on a fresh one.
      if (reused && mayRetry && smtp.responseCode === undefined) return attempt(mail, false);
      return failure(smtp);
    }
  };

  const lane = async () => {
    lanes += 1;
    try {
      for (let job = waiting.shift(); job; job = waiting.shift()) job.done(await attempt(job.mail, true));
    } finally {
      lanes -= 1;
    }
  };

  return {
    description: `smarthost ${parsed.hostname}:${parsed.port || 25}`,
    deliver(mail) {
      if (closed) return Promise.resolve({ ok: false, permanent: false, error: 'the smarthost transport is closed' });
      return new Promise((done) => {
        waiting.push({ mail, done });
        if (lanes < SMARTHOST_POOL_SIZE) void lane();
      });
    },
    async close() {
      closed = true;
      for (const session of [...idle]) {
        retire(session);
        session.connection.quit();
      }
    },
  };
}

function failure(error: SmtpFailure): DeliveryResult {
  return { ok: false, permanent: error.permanent === true, error: error.response ?? error.message ?? String(error) };
}
