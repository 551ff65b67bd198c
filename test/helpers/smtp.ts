import { connect, type Socket } from 'node:net';

/** One SMTP reply: basic code, RFC 3463 enhanced code when present, text of every line. */
export interface Reply {
  readonly code: number;
  readonly enhanced: string | undefined;
  readonly text: string;
  readonly lines: readonly string[];
}

/**
 * A raw SMTP client over a real socket, line by line, so tests can send exactly what a client (or an
 * attacker) would and assert the exact reply codes.
 */
export class SmtpDialog {
  readonly #socket: Socket;
  #buffer = '';
  #waiters: Array<() => void> = [];
  #closed = false;
  greeting!: Reply;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.#buffer += chunk;
      this.#wake();
    });
    socket.on('close', () => {
      this.#closed = true;
      this.#wake();
    });
    socket.on('error', () => {});
  }

  /** `keepsItsSideOpen`: a client that does not close its side when the server closes its own (Node's sockets do by default). */
  static async open(
    port: number,
    options: { host?: string; localAddress?: string; waitForGreeting?: boolean; keepsItsSideOpen?: boolean } = {},
  ): Promise<SmtpDialog> {
    const socket = connect({
      host: options.host ?? '127.0.0.1',
      port,
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      allowHalfOpen: options.keepsItsSideOpen ?? false,
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const dialog = new SmtpDialog(socket);
    if (options.waitForGreeting !== false) dialog.greeting = await dialog.reply();
    return dialog;
  }

  /** Writes raw bytes (no CRLF added). */
  write(raw: string | Buffer): void {
    this.#socket.write(raw);
  }

  /** Closes the client's sending side (FIN) after `raw`, as `printf … | nc -N`; the replies still come. */
  endSending(raw: string | Buffer = ''): void {
    this.#socket.end(raw);
  }

  async command(line: string): Promise<Reply> {
    this.#socket.write(`${line}\r\n`);
    return this.reply();
  }

  /** DATA, the message (dot-stuffed, CRLF line ends), the final dot; returns the final reply. */
  async data(message: string): Promise<Reply> {
    const go = await this.command('DATA');
    if (go.code !== 354) return go;
    const body = message.replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..');
    this.#socket.write(`${body}${body.endsWith('\r\n') ? '' : '\r\n'}.\r\n`);
    return this.reply();
  }

  /** Reads one (possibly multi-line) reply. */
  async reply(timeoutMs = 10_000): Promise<Reply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const parsed = takeReply(this.#buffer);
      if (parsed) {
        this.#buffer = parsed.rest;
        return parsed.reply;
      }
      if (this.#closed) throw new Error(`connection closed; unread: ${JSON.stringify(this.#buffer)}`);
      if (Date.now() > deadline) throw new Error(`no SMTP reply within ${timeoutMs} ms; unread: ${JSON.stringify(this.#buffer)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Closes the connection with a TCP RST, as a client that crashes or is killed. */
  reset(): void {
    this.#socket.resetAndDestroy();
  }

  async close(): Promise<void> {
    if (!this.#closed) {
      this.#socket.end('QUIT\r\n');
      await new Promise<void>((resolve) => {
        if (this.#closed) resolve();
        else this.#socket.once('close', () => resolve());
      });
    }
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

function takeReply(buffer: string): { reply: Reply; rest: string } | undefined {
  const lines: string[] = [];
  let offset = 0;
  for (;;) {
    const end = buffer.indexOf('\r\n', offset);
    if (end < 0) return undefined;
    const line = buffer.slice(offset, end);
    offset = end + 2;
    lines.push(line);
    if (line[3] !== '-') break;
  }
  const code = Number(lines[0]?.slice(0, 3));
  const texts = lines.map((line) => line.slice(4));
  const enhanced = /^([245]\.\d{1,3}\.\d{1,3}) /.exec(texts[0] ?? '')?.[1];
  return { reply: { code, enhanced, text: texts.join('\n'), lines }, rest: buffer.slice(offset) };
}

export interface MailSpec {
  readonly from?: string;
  readonly to: readonly string[];
  readonly subject?: string;
  readonly body?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** MAIL FROM parameters, e.g. 'RET=HDRS ENVID=x'. */
  readonly mailParams?: string;
  /** RCPT TO parameters, e.g. 'NOTIFY=NEVER'. */
  readonly rcptParams?: string;
}

/** A plain RFC 5322 message. */
export function message(spec: MailSpec): string {
  const headers = {
    From: spec.from ?? 'alice@example.com',
    To: spec.to.join(', '),
    Subject: spec.subject ?? 'test',
    'Message-ID': `<${Math.random().toString(36).slice(2)}@example.com>`,
    Date: new Date().toUTCString(),
    'MIME-Version': '1.0',
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Transfer-Encoding': '8bit',
    ...spec.headers,
  };
  return `${Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}`)
    .join('\r\n')}\r\n\r\n${spec.body ?? 'hello'}\r\n`;
}

export interface Transaction {
  readonly mail: Reply;
  readonly rcpt: readonly Reply[];
  readonly data: Reply | undefined;
}

/** One complete mail transaction on a new connection; DATA only when a recipient was accepted. */
export async function sendMail(port: number, spec: MailSpec, options: { host?: string; localAddress?: string; helo?: string } = {}): Promise<Transaction> {
  const dialog = await SmtpDialog.open(port, options);
  try {
    await dialog.command(`EHLO ${options.helo ?? 'client.example.com'}`);
    const from = spec.from ?? 'alice@example.com';
    const mail = await dialog.command(`MAIL FROM:<${from}>${spec.mailParams ? ` ${spec.mailParams}` : ''}`);
    if (mail.code !== 250) return { mail, rcpt: [], data: undefined };
    const rcpt: Reply[] = [];
    for (const to of spec.to) rcpt.push(await dialog.command(`RCPT TO:<${to}>${spec.rcptParams ? ` ${spec.rcptParams}` : ''}`));
    const data = rcpt.some((reply) => reply.code === 250) ? await dialog.data(message(spec)) : undefined;
    return { mail, rcpt, data };
  } finally {
    await dialog.close();
  }
}

/** The relay's message id from a 250 reply ("queued as <id>"). */
export function queuedId(reply: Reply | undefined): string {
  const id = /queued as (\S+)/.exec(reply?.text ?? '')?.[1];
  if (!id) throw new Error(`not a queued reply: ${reply?.code} ${reply?.text}`);
  return id;
}

/**
 * A mail from alice@example.com (who gets the replies) to `phone`@sms.localhost with `text` as subject
 * and body: the end-of-data reply, or the RCPT reply when that refused it.
 */
export async function textTo(port: number, phone: string, text: string): Promise<Reply | undefined> {
  const sent = await sendMail(port, { to: [`${phone}@sms.localhost`], subject: text, body: text, headers: { From: 'alice@example.com' } });
  return sent.data ?? sent.rcpt[0];
}

/** The reply that refused a mail transaction, whichever step it came at. */
export function refusalOf(transaction: Transaction): Reply | undefined {
  return [transaction.mail, ...transaction.rcpt, transaction.data].find((reply) => reply?.code !== 250);
}
