/**
 * A plain node:http server standing in for a gateway (its adapter's tests) or for the relay's webhooks
 * (a simulator's tests): it records each request as it came over the wire and answers what the test
 * set, so that neither side of a test is checked through the code it tests.
 */
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before } from 'node:test';

export interface RecordedRequest {
  readonly method: string;
  /** Query string included. */
  readonly path: string;
  readonly contentType: string | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly socket: Socket;
  /** The HTTP status it was answered; undefined while unanswered, or when its connection was dropped. */
  answered: number | undefined;
}

export interface ReplayAnswer {
  readonly status: number;
  /** Default: the server's. */
  readonly contentType?: string | undefined;
  readonly body: string;
  /** Further response headers. */
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

/** An answer, or `'destroy'` to drop the connection unanswered. */
export type Reply = ReplayAnswer | 'destroy';

export class ReplayServer {
  readonly requests: RecordedRequest[] = [];
  /** What requests are answered when neither `respond` nor `next` says otherwise. */
  answer: ReplayAnswer;
  /** Answered to the next requests, one each, before `answer` again. */
  next: ReplayAnswer[] = [];
  /** Answers each request by its content instead; a promise holds the answer back until it settles. */
  respond: ((request: RecordedRequest) => Reply | Promise<Reply>) | undefined;
  readonly #contentType: string;
  readonly #server: Server;

  /** `contentType` is that of every answer that names none. */
  constructor(options: { readonly contentType: string; readonly answer?: ReplayAnswer }) {
    this.#contentType = options.contentType;
    this.answer = options.answer ?? { status: 200, body: '' };
    this.#server = createServer((request, response) => void this.#onRequest(request, response));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async start(): Promise<this> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    return this;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    this.#server.close();
    await once(this.#server, 'close');
  }

  async #onRequest(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const recorded: RecordedRequest = {
      method: request.method ?? '',
      path: request.url ?? '',
      contentType: request.headers['content-type'],
      headers: request.headers,
      body: Buffer.concat(chunks).toString('utf8'),
      socket: request.socket,
      answered: undefined,
    };
    this.requests.push(recorded);
    const reply = this.respond ? await this.respond(recorded) : (this.next.shift() ?? this.answer);
    if (reply === 'destroy') {
      request.socket.destroy();
      return;
    }
    recorded.answered = reply.status;
    response.writeHead(reply.status, { 'content-type': reply.contentType ?? this.#contentType, ...reply.headers });
    response.end(reply.body);
  }
}

/** Runs `servers` for the tests of the suite this is called in: started before them, closed after. */
export function serveDuringSuite(...servers: ReplayServer[]): void {
  before(() => Promise.all(servers.map((server) => server.start())));
  after(() => Promise.all(servers.map((server) => server.close())));
}

/** The relay's webhooks, for a simulator's tests: records each post and answers 200 unless told otherwise. */
export function startWebhookReceiver(): Promise<ReplayServer> {
  return new ReplayServer({ contentType: 'text/plain; charset=utf-8', answer: { status: 200, body: 'OK' } }).start();
}

/** How a webhook receiver asks for a post again. */
export const TRY_LATER: ReplayAnswer = { status: 500, body: 'try later' };
