/**
 * Heap snapshots of the relay's threads (over the inspector: `inspectRelay`) and their difference by
 * constructor: what each heap grew by between two moments, so that RSS growth is explained, not
 * guessed at; and what the process's resident memory is made of (`residentParts`).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { portOpen } from './processes.ts';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Self size and count per "type:constructor" (strings, code and arrays as one group each). */
function byConstructor(path: string): { total: number; groups: Map<string, { count: number; bytes: number }> } {
  const { snapshot, nodes, strings } = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
  const fields = snapshot.meta.node_fields;
  const types = snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = [fields.indexOf('type'), fields.indexOf('name'), fields.indexOf('self_size')];
  const groups = new Map<string, { count: number; bytes: number }>();
  let total = 0;
  for (let at = 0; at < nodes.length; at += fields.length) {
    const type = types[nodes[at + typeAt] ?? 0] ?? '?';
    const size = nodes[at + sizeAt] ?? 0;
    const name = type === 'object' || type === 'closure' || type === 'native' ? `${type}:${strings[nodes[at + nameAt] ?? 0] ?? '?'}` : `(${type})`;
    const group = groups.get(name) ?? { count: 0, bytes: 0 };
    group.count++;
    group.bytes += size;
    groups.set(name, group);
    total += size;
  }
  return { total, groups };
}

export interface HeapDiff {
  readonly firstMb: number;
  readonly lastMb: number;
  readonly growth: Array<{ readonly name: string; readonly countDelta: number; readonly bytesDelta: number }>;
}

/** The 12 groups that grew most between two snapshots. */
export function heapDiff(firstPath: string, lastPath: string): HeapDiff {
  const first = byConstructor(firstPath);
  const last = byConstructor(lastPath);
  const growth = [...last.groups].map(([name, group]) => {
    const before = first.groups.get(name) ?? { count: 0, bytes: 0 };
    return { name, countDelta: group.count - before.count, bytesDelta: group.bytes - before.bytes };
  });
  growth.sort((a, b) => b.bytesDelta - a.bytesDelta);
  const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
  return { firstMb: mb(first.total), lastMb: mb(last.total), growth: growth.slice(0, 12) };
}

/** One JS thread of the relay as the inspector sees it: the main thread, or a worker by its session. */
type Thread = 'main' | { readonly session: string };

/**
 * The relay's threads over the DevTools protocol (the relay started with `inspectableArgs(port)`):
 * the main thread directly, the store thread through `NodeWorker` — a worker takes no signal, and
 * `--heapsnapshot-signal` writes the main thread's heap only.
 */
export interface RelayInspector {
  /** The store thread's session: the relay's only worker of its own. */
  readonly store: Thread;
  /** A heap snapshot of `thread`, written to `path`. */
  snapshot(thread: Thread, path: string): Promise<string>;
  /** `process.memoryUsage()` as `thread` sees it (heapTotal, heapUsed are that thread's isolate). */
  memoryUsage(thread: Thread): Promise<NodeJS.MemoryUsage>;
  /** The JSON text `expression` evaluates to in `thread`. */
  evaluate(thread: Thread, expression: string): Promise<unknown>;
  close(): void;
}

/** An answer (by id) or an event (by method) of the DevTools protocol. */
interface ProtocolMessage {
  readonly id?: number;
  readonly method?: string;
  readonly params?: { readonly chunk?: string };
  readonly result?: unknown;
  readonly error?: { readonly message: string };
}

/**
 * Node's flags for a relay whose heaps the bench reads: the inspector's port, not the inspector. Started with
 * `--inspect`, the relay's tsx would put each module's TypeScript source into its source map for the debugger
 * (`sourcesContent`; without it the map names the file only), which Node keeps: ~12 MB more of the main thread's heap
 * than the relay holds as `npm start` runs it (53 against 65 MB live after 20,000 mails). `inspectRelay` opens it.
 */
export const inspectableArgs = (port: number): string[] => [`--inspect-port=127.0.0.1:${port}`];

/** How long the relay has to open its inspector once told to (SIGUSR1). */
const INSPECTOR_OPEN_MS = 10_000;
/** How often the inspector's port, then its list of workers, is looked at meanwhile: well under a second, a few dozen times per wait. */
const INSPECTOR_POLL_MS = 50;
/** How long the inspector has to report the store thread once workers are enabled (tries of INSPECTOR_POLL_MS: 5 s). */
const WORKER_REPORT_TRIES = 100;

/** The relay `pid`, started with `inspectableArgs(port)`, over its inspector, which SIGUSR1 opens (Node's own handler). */
export async function inspectRelay(pid: number, port: number): Promise<RelayInspector> {
  process.kill(pid, 'SIGUSR1');
  const until = performance.now() + INSPECTOR_OPEN_MS;
  while (!(await portOpen(port))) {
    if (performance.now() > until) {
      // Node opens the inspector on SIGUSR1 only while no listener of the process's own handles that signal.
      throw new Error(
        `the relay opened no inspector on port ${port} within ${INSPECTOR_OPEN_MS} ms after SIGUSR1: has the relay a SIGUSR1 listener of its own (process.on('SIGUSR1')), which replaces Node's handler that opens it?`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, INSPECTOR_POLL_MS));
  }
  const { WebSocket } = await import('undici');
  const [target] = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ webSocketDebuggerUrl: string }>;
  if (!target) throw new Error('the relay lists no inspector target');
  const socket = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  let next = 0;
  const waiting = new Map<string, (message: ProtocolMessage) => void>();
  const chunks = new Map<string, string[]>();
  const workers: string[] = [];
  /** A protocol message of `thread`: answers by "<session>:<id>", snapshot chunks by session. */
  const receive = (session: string, message: ProtocolMessage) => {
    if (message.id !== undefined) waiting.get(`${session}:${message.id}`)?.(message);
    else if (message.method === 'HeapProfiler.addHeapSnapshotChunk') chunks.get(session)?.push(message.params?.chunk ?? '');
  };
  socket.onmessage = (event) => {
    const message = JSON.parse(String(event.data));
    if (message.method === 'NodeWorker.attachedToWorker') workers.push(message.params.sessionId);
    else if (message.method === 'NodeWorker.receivedMessageFromWorker') receive(message.params.sessionId, JSON.parse(message.params.message));
    else receive('main', message);
  };
  const send = (thread: Thread, method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((resolve, reject) => {
      const id = next++;
      const session = thread === 'main' ? 'main' : thread.session;
      waiting.set(`${session}:${id}`, (message) => {
        waiting.delete(`${session}:${id}`);
        if (message.error) reject(new Error(`${method}: ${message.error.message}`));
        else resolve(message.result);
      });
      const text = JSON.stringify({ id, method, params });
      if (thread === 'main') socket.send(text);
      else socket.send(JSON.stringify({ id: next++, method: 'NodeWorker.sendMessageToWorker', params: { sessionId: thread.session, message: text } }));
    });
  await send('main', 'NodeWorker.enable', { waitForDebuggerOnStart: false });
  for (let tries = 0; workers.length === 0 && tries < WORKER_REPORT_TRIES; tries++) await new Promise((resolve) => setTimeout(resolve, INSPECTOR_POLL_MS));
  const session = workers[0];
  if (!session) throw new Error('the inspector shows no store thread');
  const store: Thread = { session };
  const evaluate = async (thread: Thread, expression: string): Promise<unknown> => {
    const answer = (await send(thread, 'Runtime.evaluate', { expression, returnByValue: true })) as { result: { value: string } };
    return JSON.parse(answer.result.value);
  };
  return {
    store,
    async snapshot(thread, path) {
      const key = thread === 'main' ? 'main' : thread.session;
      chunks.set(key, []);
      await send(thread, 'HeapProfiler.takeHeapSnapshot', { reportProgress: false });
      writeFileSync(path, (chunks.get(key) ?? []).join(''));
      chunks.delete(key);
      return path;
    },
    memoryUsage: async (thread) => (await evaluate(thread, 'JSON.stringify(process.memoryUsage())')) as NodeJS.MemoryUsage,
    evaluate,
    close: () => socket.close(),
  };
}

/** glibc reserves each thread arena as a 64 MiB region aligned to its size (HEAP_MAX_SIZE on 64-bit). */
const ARENA_BYTES = 64 * 2 ** 20;

/**
 * The process's resident memory by kind of mapping (/proc/<pid>/smaps), in MB: files (the Node binary,
 * libraries, native addons: shared with other processes running them), glibc's main arena (`[heap]`),
 * its thread arenas (a read-write mapping at a 64 MiB boundary whose unreadable reservation runs on to
 * the next one), and the other anonymous memory (V8's heaps and code of every thread, large mallocs
 * mapped on their own, thread stacks).
 */
export function residentParts(pid: number): { files: number; mainArena: number; threadArenas: number; otherAnonymous: number; total: number } {
  const maps = readFileSync(`/proc/${pid}/smaps`, 'utf8')
    .split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/)
    .map((block) => {
      const [range = '', mode = '', , , inode = '0', name = ''] = block.split('\n', 1)[0]?.split(/\s+/) ?? [];
      const [start = 0, end = 0] = range.split('-').map((hex) => Number.parseInt(hex, 16));
      return { start, end, mode, file: inode !== '0', name, rss: Number(/\nRss:\s+(\d+)/.exec(block)?.[1] ?? 0) / 1024 };
    });
  const parts = { files: 0, mainArena: 0, threadArenas: 0, otherAnonymous: 0, total: 0 };
  for (const [index, map] of maps.entries()) {
    const reservation = maps[index + 1];
    const arena =
      map.mode === 'rw-p' &&
      map.start % ARENA_BYTES === 0 &&
      (map.end - map.start === ARENA_BYTES || (reservation?.mode === '---p' && reservation.start === map.end && reservation.end === map.start + ARENA_BYTES));
    parts.total += map.rss;
    if (map.name === '[heap]') parts.mainArena += map.rss;
    else if (map.file) parts.files += map.rss;
    else if (arena) parts.threadArenas += map.rss;
    else parts.otherAnonymous += map.rss;
  }
  const mb = Math.round;
  return {
    files: mb(parts.files),
    mainArena: mb(parts.mainArena),
    threadArenas: mb(parts.threadArenas),
    otherAnonymous: mb(parts.otherAnonymous),
    total: mb(parts.total),
  };
}
