/**
 * The benchmarks' SMTP load generator: raw sockets and one command at a time, cheap enough that the
 * client is not what is measured. Each session takes the next mail from a shared counter; it keeps
 * its connection (persistent) or opens one per mail. Records, per mail, when its final dot went out
 * and how long the 250 took.
 */
import { connect, type Socket } from 'node:net';

export interface LoadOptions {
  readonly port: number;
  readonly sessions: number;
  readonly mails: number;
  readonly persistent: boolean;
  /** Goes into each mail's text, with the mail's index, so the gateway's arrivals can be matched. */
  readonly label: string;
  /** Paces the mails to this rate (all sessions together); unset = as fast as the server answers. */
  readonly perSecond?: number;
}

export interface LoadResult {
  readonly elapsedMs: number;
  /** ms from the final dot to the 250, per mail. */
  readonly latencies: number[];
  /** When each mail's final dot was written (epoch ms), by its SMS text. */
  readonly dataEndAt: Map<string, number>;
  readonly refused: number;
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
    this.#socket.write(`${line}\r\n`);
    return this.reply();
  }

  reply(): Promise<string> {
    return new Promise((resolve) => {
      this.#waiting = resolve;
      this.#deliver();
    });
  }

  write(data: string): void {
    this.#socket.write(data);
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

export async function load(options: LoadOptions): Promise<LoadResult> {
  let next = 0;
  let refused = 0;
  const latencies: number[] = [];
  const dataEndAt = new Map<string, number>();
  const started = performance.now();
  const send = async (session: Session, index: number) => {
    if (options.perSecond) {
      const due = started + (index * 1000) / options.perSecond;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    await session.command('MAIL FROM:<bench@example.com>');
    await session.command(`RCPT TO:<447700900${String(index % 1000).padStart(3, '0')}@sms.localhost>`);
    await session.command('DATA');
    const text = textOf(options.label, index);
    session.write(`From: bench@example.com\r\nTo: x@sms.localhost\r\nSubject: ${options.label} ${index}\r\nMessage-ID: <${options.label}-${index}@bench.example.com>\r\n\r\n${text}\r\n.\r\n`);
    const sent = performance.now();
    dataEndAt.set(text, Date.now());
    const reply = await session.reply();
    latencies.push(performance.now() - sent);
    if (!reply.startsWith('250')) refused++;
  };
  await Promise.all(
    Array.from({ length: options.sessions }, async () => {
      let session = options.persistent ? await Session.open(options.port) : undefined;
      for (let index = next++; index < options.mails; index = next++) {
        const current = session ?? (await Session.open(options.port));
        await send(current, index);
        if (!options.persistent) current.close();
      }
      session?.close();
      session = undefined;
    }),
  );
  return { elapsedMs: performance.now() - started, latencies, dataEndAt, refused };
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}
