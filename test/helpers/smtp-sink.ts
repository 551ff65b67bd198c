import { SMTPServer, type SMTPServerOptions } from 'smtp-server';

/**
 * A test's smarthost, unless its options say otherwise: plain SMTP without AUTH, quiet, and closed at once
 * (an outage is abrupt: close() drops pooled client connections instead of waiting 30 s for them).
 */
const SMARTHOST_DEFAULTS: SMTPServerOptions = {
  authOptional: true,
  disabledCommands: ['STARTTLS', 'AUTH'],
  disableReverseLookup: true,
  logger: false,
  closeTimeout: 100,
};

export interface SunkMail {
  readonly from: string;
  readonly to: readonly string[];
  readonly raw: string;
}

/**
 * A real SMTP server standing in for the smarthost: it keeps what it receives, can refuse with a
 * chosen reply, and can be closed and reopened on the same port to model an outage.
 */
export class SmtpSink {
  readonly received: SunkMail[] = [];
  /** When set, every DATA is answered with this code (e.g. 451 or 554). */
  refuseWith: number | undefined;
  /** While set, each DATA is answered only once it settles (a smarthost slow to answer); `holding` counts the answers waiting. */
  answerAfter: Promise<void> | undefined;
  holding = 0;
  /** SMTP sessions opened by clients so far (a pooled client opens few). */
  connections = 0;
  #server: SMTPServer | undefined;
  #port = 0;

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.#port}`;
  }

  async start(port = this.#port): Promise<this> {
    const server = new SMTPServer({
      ...SMARTHOST_DEFAULTS,
      onConnect: (_session, callback) => {
        this.connections += 1;
        callback();
      },
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', async () => {
          if (this.answerAfter) {
            this.holding += 1;
            await this.answerAfter;
            this.holding -= 1;
          }
          if (this.refuseWith) {
            callback(Object.assign(new Error('refused by the test sink'), { responseCode: this.refuseWith }));
            return;
          }
          this.received.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
            raw: Buffer.concat(chunks).toString('utf8'),
          });
          callback();
        });
      },
    });
    // A client that goes away mid-session (a relay killed while it delivers) resets its connection:
    // smtp-server reports that as an 'error' event, which is no failure of the sink.
    server.on('error', () => undefined);
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
    const address = server.server.address();
    this.#port = typeof address === 'object' && address ? address.port : port;
    this.#server = server;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

export interface TestSmarthost {
  readonly server: SMTPServer;
  readonly port: number;
  close(): Promise<void>;
}

/** An smtp-server with a test's own handlers (`options` over SMARTHOST_DEFAULTS), listening on `host`. */
export async function testSmarthost(options: SMTPServerOptions, host = '127.0.0.1'): Promise<TestSmarthost> {
  const server = new SMTPServer({ ...SMARTHOST_DEFAULTS, ...options });
  server.on('error', () => undefined);
  const port = await new Promise<number>((resolve) => server.listen(0, host, () => resolve((server.server.address() as { port: number }).port)));
  return { server, port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
