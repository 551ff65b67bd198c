/**
 * A TCP proxy on 127.0.0.1 to a PostgreSQL server, for tests that watch or break the way to it: it
 * reads the server's messages on their way to the client (how many of each type, the command tags,
 * the round trips), and it can go silent as a vanished host does: nothing passes either way, on the
 * open connections or new ones, and nothing is closed.
 */
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';

const COMMAND_COMPLETE = 0x43;
const READY_FOR_QUERY = 0x5a;

export interface PostgresProxy {
  /** The URL to connect through the proxy. */
  readonly url: string;
  /** How many messages of `type` (its type byte) the server sent so far. */
  count(type: number): number;
  /** The command tags the server sent so far ("BEGIN", "INSERT 0 1", "COMMIT"), in order. */
  tags(): readonly string[];
  /** The server's ReadyForQuery messages after each connection's start-up: one per round trip. */
  roundTrips(): number;
  /** From now on nothing passes, either way, on old connections or new ones; nothing is closed. */
  silence(): void;
  /** The host is back: new connections pass (the silenced ones stay dead, as after a real outage). */
  heal(): void;
  close(): Promise<void>;
}

export async function postgresProxy(url: string): Promise<PostgresProxy> {
  const target = new URL(url);
  const counts = new Map<number, number>();
  const tags: string[] = [];
  const sockets = new Set<Socket>();
  let roundTrips = 0;
  let silent = false;
  /** Each proxied connection's way through: cut for good by a silence, as a real one stays dead. */
  const ways: Array<{ dead: boolean }> = [];
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  };
  const server = createServer((client) => {
    track(client);
    if (silent) return;
    const upstream = connect(Number(target.port), target.hostname);
    track(upstream);
    const way = { dead: false };
    ways.push(way);
    let pending = Buffer.alloc(0);
    let started = false;
    const read = (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 5) {
        const length = pending.readUInt32BE(1);
        if (pending.length < 1 + length) break;
        const type = pending[0] ?? 0;
        counts.set(type, (counts.get(type) ?? 0) + 1);
        // The tag is a C string after the length.
        if (type === COMMAND_COMPLETE) tags.push(pending.toString('utf8', 5, length));
        if (type === READY_FOR_QUERY) {
          if (started) roundTrips += 1;
          started = true;
        }
        pending = pending.subarray(1 + length);
      }
    };
    const forward = (from: Socket, to: Socket, seen?: (chunk: Buffer) => void) => {
      from.on('data', (chunk: Buffer) => {
        if (way.dead) return;
        seen?.(chunk);
        to.write(chunk);
      });
      from.on('end', () => {
        if (!way.dead) to.end();
      });
    };
    forward(client, upstream);
    forward(upstream, client, read);
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
    roundTrips: () => roundTrips,
    silence: () => {
      silent = true;
      for (const way of ways) way.dead = true;
    },
    heal: () => {
      silent = false;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
