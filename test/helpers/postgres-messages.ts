/**
 * A TCP proxy on 127.0.0.1 to a PostgreSQL server that reads the server's messages on their way to
 * the client: how many of each type, and the command tags of its CommandComplete messages.
 */
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';

const COMMAND_COMPLETE = 0x43;

export interface MessageCountingProxy {
  /** The URL to connect through the proxy. */
  readonly url: string;
  /** How many messages of `type` (its type byte) the server sent so far. */
  count(type: number): number;
  /** The command tags the server sent so far ("BEGIN", "INSERT 0 1", "COMMIT"), in order. */
  tags(): readonly string[];
  close(): Promise<void>;
}

export async function messageCountingProxy(url: string): Promise<MessageCountingProxy> {
  const target = new URL(url);
  const counts = new Map<number, number>();
  const tags: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
    }
    let pending = Buffer.alloc(0);
    upstream.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 5) {
        const length = pending.readUInt32BE(1);
        if (pending.length < 1 + length) break;
        const type = pending[0] ?? 0;
        counts.set(type, (counts.get(type) ?? 0) + 1);
        // The tag is a C string after the length.
        if (type === COMMAND_COMPLETE) tags.push(pending.toString('utf8', 5, length));
        pending = pending.subarray(1 + length);
      }
    });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const proxied = new URL(url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String((server.address() as AddressInfo).port);
  return {
    url: proxied.toString(),
    count: (type) => counts.get(type) ?? 0,
    tags: () => [...tags],
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
