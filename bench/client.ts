/**
 * The benchmarks' own SMTP load generator: raw sockets, cheap enough that the client is not what is
 * measured. With `pipelining` (RFC 2920, as Postfix's smtp client does it) MAIL, RCPT and DATA go out
 * in one write and their replies come back together: one round trip fewer per recipient and two per
 * mail; without it, one command at a time. Each session takes the next mail from a shared counter;
 * it keeps its connection (persistent) or opens one per mail. Records, per mail, when its final dot
 * went out and how long the 250 took, and every refusal by its reply.
 */
import { connect, type Socket } from 'node:net';

export interface LoadOptions {
  /** One port, or several (relays sharing one database): session i connects to port i mod their count. */
  readonly port: number | readonly number[];
  readonly sessions: number;
  readonly mails: number;
  readonly persistent: boolean;
  /** Goes into each mail's text, with the mail's index, so the gateway's arrivals can be matched. */
  readonly label: string;
  /** Paces the mails to this rate (all sessions together); unset = as fast as the server answers. */
  readonly perSecond?: number;
  readonly pipelining?: boolean;
  /** Mail number `index`: its recipients and message (any line ends); unset = a short alert text (textOf). */
  readonly mail?: (index: number) => BenchMail;
}

export interface BenchMail {
  readonly recipients: readonly string[];
  readonly message: string;
}

export interface LoadResult {
  readonly elapsedMs: number;
  /** ms from the final dot to the 250, per mail. */
  readonly latencies: number[];
  /** When each mail's final dot was written (epoch ms), by its SMS text. */
  readonly dataEndAt: Map<string, number>;
  /** Mails not answered 250, by the first reply that refused them ("550 5.1.1 …" → count). */
  readonly refusals: Map<string, number>;
  /** The indexes of the mails refused. */
  readonly refusedIndexes: number[];
}

class Session {
  readonly #socket: Socket;
  #buffer = '';
  #waiting: ((reply: string) => void) | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    socket.on('data', (chunk: string) => {
      this.#buffer += chunk;
      this.#deliver();
    });
  }

  static async open(port: number): Promise<Session> {
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const session = new Session(socket);
    await session.reply();
    await session.command('EHLO bench.example.com');
    return session;
  }

  command(line: string): Promise<string> {
    this.write(`${line}\r\n`);
    return this.reply();
  }

  reply(): Promise<string> {
    return new Promise((resolve) => {
      this.#waiting = resolve;
      this.#deliver();
    });
  }

  /** latin1: one byte per char, so a fixture read as latin1 goes out byte for byte (8-bit and UTF-8 alike). */
  write(data: string): void {
    this.#socket.write(data, 'latin1');
  }

  close(): void {
    this.#socket.end('QUIT\r\n');
  }

  #deliver(): void {
    if (!this.#waiting) return;
    // A reply ends with a line "NNN text" (no dash after the code).
    const match = /(?:^|\r\n)(\d{3}) [^\r\n]*\r\n/.exec(this.#buffer);
    if (!match) return;
    const end = match.index + match[0].length;
    const reply = this.#buffer.slice(0, end);
    this.#buffer = this.#buffer.slice(end);
    const resolve = this.#waiting;
    this.#waiting = undefined;
    resolve(reply);
  }
}

export function textOf(label: string, index: number): string {
  return `${label} mail ${index}: disk usage 91% on db-${index % 7}`;
}

/** The message as it goes on the wire: CRLF line ends, dot-stuffed, ended by the final dot. */
export function wireData(message: string): string {
  const crlf = message.replace(/\r?\n/g, '\r\n').replace(/(^|\r\n)\./g, '$1..');
  return `${crlf}${crlf.endsWith('\r\n') ? '' : '\r\n'}.\r\n`;
}

/** One of the thousand numbers Ofcom keeps for drama (+44 7700 900000–900999), by index. */
export function benchRecipient(index: number): string {
  return `447700900${String(index % 1000).padStart(3, '0')}@sms.localhost`;
}

function defaultMail(label: string, index: number): BenchMail {
  const text = textOf(label, index);
  return {
    recipients: [benchRecipient(index)],
    message: `From: bench@example.com\r\nTo: x@sms.localhost\r\nSubject: ${label} ${index}\r\nMessage-ID: <${label}-${index}@bench.example.com>\r\n\r\n${text}\r\n`,
  };
}

export async function load(options: LoadOptions): Promise<LoadResult> {
  let next = 0;
  const refusals = new Map<string, number>();
  const refusedIndexes: number[] = [];
  const refuse = (reply: string, index: number) => {
    refusedIndexes.push(index);
    const line = reply.split('\r\n')[0] ?? reply;
    refusals.set(line, (refusals.get(line) ?? 0) + 1);
  };
  const latencies: number[] = [];
  const dataEndAt = new Map<string, number>();
  const started = performance.now();
  const send = async (session: Session, index: number) => {
    if (options.perSecond) {
      const due = started + (index * 1000) / options.perSecond;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    const mail = options.mail ? options.mail(index) : defaultMail(options.label, index);
    const commands = ['MAIL FROM:<bench@example.com>', ...mail.recipients.map((rcpt) => `RCPT TO:<${rcpt}>`), 'DATA'];
    const replies: string[] = [];
    if (options.pipelining) {
      session.write(`${commands.join('\r\n')}\r\n`);
      for (const _ of commands) replies.push(await session.reply());
    } else {
      for (const command of commands) {
        const reply = await session.command(command);
        replies.push(reply);
        if (!reply.startsWith('2')) break;
      }
    }
    const refusal = replies.find((reply) => !reply.startsWith('2') && !reply.startsWith('354'));
    if (!replies.at(-1)?.startsWith('354')) {
      refuse(refusal ?? replies.at(-1) ?? 'no reply', index);
      await session.command('RSET');
      return;
    }
    session.write(wireData(mail.message));
    const sent = performance.now();
    if (!options.mail) dataEndAt.set(textOf(options.label, index), Date.now());
    const reply = await session.reply();
    latencies.push(performance.now() - sent);
    if (!reply.startsWith('250')) refuse(reply, index);
    // A recipient refused while the mail itself was taken is a refusal too.
    else if (refusal) refuse(refusal, index);
  };
  const ports = typeof options.port === 'number' ? [options.port] : options.port;
  await Promise.all(
    Array.from({ length: options.sessions }, async (_, number) => {
      const port = ports[number % ports.length] ?? 0;
      let session = options.persistent ? await Session.open(port) : undefined;
      for (let index = next++; index < options.mails; index = next++) {
        const current = session ?? (await Session.open(port));
        await send(current, index);
        if (!options.persistent) current.close();
      }
      session?.close();
      session = undefined;
    }),
  );
  return { elapsedMs: performance.now() - started, latencies, dataEndAt, refusals, refusedIndexes };
}

/** How many mails were refused, over all reasons. */
export function refusedCount(refusals: ReadonlyMap<string, number>): number {
  return [...refusals.values()].reduce((sum, count) => sum + count, 0);
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}
