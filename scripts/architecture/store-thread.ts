/**
 * The store thread's modules are compiled as CommonJS by tsx's require hook (src/store/thread.mjs), where an
 * `import()` of a .ts file rejects with ERR_UNKNOWN_FILE_EXTENSION when it is called (on the first backup, on a rare
 * path: never at start), and a top-level await stops the relay's start. Both are found here, in every module the
 * thread's entry reaches.
 */
import { tokenize } from './tokens.ts';

/** The module the store thread requires first (src/store/thread.mjs). */
export const STORE_THREAD_ENTRY = 'src/store/thread-server.ts';

export const STORE_THREAD_RULE =
  "the store thread's modules use no import() and no top-level await: tsx's require hook compiles them as CommonJS (src/store/thread.mjs), where import() of a .ts file fails only when called and a top-level await stops the relay at start";

/** The files `entry` reaches through `graph` (itself included); type-only imports count, as the scanner cannot tell them apart. */
export function reachedFrom(entry: string, graph: ReadonlyMap<string, ReadonlySet<string>>): Set<string> {
  const reached = new Set<string>();
  const next = [entry];
  for (let file = next.pop(); file !== undefined; file = next.pop()) {
    if (reached.has(file)) continue;
    reached.add(file);
    next.push(...(graph.get(file) ?? []));
  }
  return reached;
}

/** Lines and words of the `import(` calls and of the `await`s outside any braces (a top-level await) in `source`. */
export function moduleOnlyForms(source: string): Array<{ line: number; form: string }> {
  const tokens = tokenize(source);
  const found: Array<{ line: number; form: string }> = [];
  let depth = 0;
  tokens.forEach((token, index) => {
    if (token.kind === 'punctuation' && token.text === '{') depth++;
    if (token.kind === 'punctuation' && token.text === '}') depth--;
    if (token.kind !== 'word') return;
    const before = tokens[index - 1];
    if (before?.kind === 'punctuation' && before.text === '.') return;
    const after = tokens[index + 1];
    if (token.text === 'import' && after?.kind === 'punctuation' && after.text === '(') found.push({ line: token.line, form: 'import()' });
    if (token.text === 'await' && depth === 0) found.push({ line: token.line, form: 'top-level await' });
  });
  return found;
}
