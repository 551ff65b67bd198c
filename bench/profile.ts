/**
 * Summarises a V8 CPU profile (node --cpu-prof, BENCH_CPU_PROF=dir): idle and GC share and the
 * functions with the most self time, and the inclusive share of functions matching a pattern.
 * Run: node --import tsx bench/profile.ts <file.cpuprofile> [pattern]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
const [file, pattern] = process.argv.slice(2);
if (!file) throw new Error('usage: bench/profile.ts <file.cpuprofile> [pattern]');
const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[] };
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
const label = (node: ProfileNode) =>
  `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.replace(/^.*\/(node_modules\/|src\/)/, '$1')}:${node.callFrame.lineNumber + 1}`;
const self = new Map<string, number>();
const inclusive = new Map<string, number>();
for (const id of profile.samples) {
  const node = byId.get(id);
  if (!node) continue;
  self.set(label(node), (self.get(label(node)) ?? 0) + 1);
  const seen = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const name = label(byId.get(at) as ProfileNode);
    if (!seen.has(name)) inclusive.set(name, (inclusive.get(name) ?? 0) + 1);
    seen.add(name);
  }
}
const total = profile.samples.length;
const share = (count: number) => `${((count / total) * 100).toFixed(1)}%`;
console.log(`${total} samples`);
for (const [name, count] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`self ${share(count).padStart(6)}  ${name}`);
if (pattern) {
  const match = new RegExp(pattern);
  for (const [name, count] of [...inclusive]
    .filter(([name]) => match.test(name))
    .sort((a, b) => b[1] - a[1])
    .slice(0, 30))
    console.log(`incl ${share(count).padStart(6)}  ${name}`);
}
