/**
 * Import cycles: the strongly connected components of the import graph (Tarjan), each shown as
 * one shortest cycle through its first file, so a knot of many files still reads as a path.
 */

export type ImportGraph = ReadonlyMap<string, ReadonlySet<string>>;

export interface ImportKnot {
  /** Files in import order, the first repeated at the end. */
  cycle: string[];
  /** Every file in the knot, sorted; more than the cycle when several cycles share files. */
  files: string[];
}

export function findImportKnots(graph: ImportGraph): ImportKnot[] {
  return stronglyConnected(graph)
    .filter((files) => files.length > 1 || graph.get(files[0] ?? '')?.has(files[0] ?? ''))
    .map((files) => {
      const sorted = [...files].sort();
      return { cycle: shortestCycle(graph, new Set(sorted), sorted[0] ?? ''), files: sorted };
    })
    .sort((left, right) => (left.files[0] ?? '').localeCompare(right.files[0] ?? ''));
}

function stronglyConnected(graph: ImportGraph): string[][] {
  const indexOf = new Map<string, number>();
  const lowLink = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];

  const visit = (file: string): void => {
    indexOf.set(file, indexOf.size);
    lowLink.set(file, indexOf.size - 1);
    stack.push(file);
    onStack.add(file);
    for (const imported of graph.get(file) ?? []) {
      if (!indexOf.has(imported)) {
        visit(imported);
        lowLink.set(file, Math.min(lowLink.get(file) ?? 0, lowLink.get(imported) ?? 0));
      } else if (onStack.has(imported)) {
        lowLink.set(file, Math.min(lowLink.get(file) ?? 0, indexOf.get(imported) ?? 0));
      }
    }
    if (lowLink.get(file) !== indexOf.get(file)) return;
    const component: string[] = [];
    let member: string | undefined;
    do {
      member = stack.pop();
      if (member !== undefined) {
        onStack.delete(member);
        component.push(member);
      }
    } while (member !== undefined && member !== file);
    components.push(component);
  };

  for (const file of [...graph.keys()].sort()) if (!indexOf.has(file)) visit(file);
  return components;
}

/** Breadth-first from `start` back to itself, staying inside the knot. */
function shortestCycle(graph: ImportGraph, knot: ReadonlySet<string>, start: string): string[] {
  const cameFrom = new Map<string, string>();
  const queue = [start];
  for (let head = 0; head < queue.length; head++) {
    const file = queue[head] ?? '';
    for (const imported of [...(graph.get(file) ?? [])].sort()) {
      if (imported === start) return [...pathTo(cameFrom, start, file), start];
      if (!knot.has(imported) || cameFrom.has(imported)) continue;
      cameFrom.set(imported, file);
      queue.push(imported);
    }
  }
  return [start];
}

function pathTo(cameFrom: ReadonlyMap<string, string>, start: string, end: string): string[] {
  const path = [end];
  for (let file = end; file !== start; ) {
    file = cameFrom.get(file) ?? start;
    path.unshift(file);
  }
  return path;
}
