/**
 * Heap snapshots of the relay's main thread (Node's --heapsnapshot-signal=SIGUSR2, written into the
 * relay's working directory) and their difference by constructor: what the heap grew by between two
 * moments, so that RSS growth is explained, not guessed at.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Signals the relay and resolves with the new snapshot's path once it is written completely. */
export async function takeHeapSnapshot(dir: string, pid: number): Promise<string> {
  const existing = new Set(readdirSync(dir).filter((file) => file.endsWith('.heapsnapshot')));
  process.kill(pid, 'SIGUSR2');
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const file = readdirSync(dir).find((name) => name.endsWith('.heapsnapshot') && !existing.has(name));
    if (!file) continue;
    const path = join(dir, file);
    const size = statSync(path).size;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    // Written in one go by the relay's main thread: a file that stopped growing and parses is complete.
    if (size > 0 && statSync(path).size === size && readFileSync(path, 'utf8').trimEnd().endsWith('}')) return path;
  }
}

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
