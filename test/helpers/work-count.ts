/**
 * The work a synchronous piece of text code does, counted rather than timed: a bound on time fails on a loaded
 * machine (the suite's files run side by side on few cores), a count is the same on any machine under any load.
 * What is counted is what the string, regular-expression and array built-ins it calls go over, each patched while
 * it runs: a character read (`charCodeAt`, `codePointAt`), the characters a `slice`, `toLowerCase` or `join` makes,
 * those a search passes (`indexOf`, `lastIndexOf`, `includes`, `startsWith`, `endsWith`, and RegExp.prototype.exec,
 * which `test`, `replace` and `match` call once it is patched), the characters `substring` and `split` make or go over,
 * a character `at` reads, an item pushed. Reading an input again from each of its positions shows as the square of its
 * length, so a count that grows as the input does (`linearly`) says the reading is linear.
 *
 * What it cannot see, for no built-in is called: a character read by indexing (`text[i]`), a spread or `for…of` over
 * a string, and the work of a loop that calls nothing counted (an automaton stepping over `text[i]`). A quadratic
 * reading written so counts as linear: the text code under test reads its input through `charCodeAt`/`codePointAt` in
 * its hot loops (echoes.ts' findAll), and a test of a search's worst case also runs it on a long input under a
 * generous time limit (finishes.ts), which such a reading runs past. A step hook in the code itself would see every
 * step, but is a parameter production code carries for tests alone.
 */
import assert from 'node:assert/strict';

/**
 * What a call of a built-in went over besides its own step, from `self` (the string, array or expression it was called
 * on), its arguments, its result and, for an expression, its lastIndex before the call.
 */
type Cost = (self: never, args: readonly unknown[], result: never, lastIndex: number) => number;

/** How much a search from `from` went over: to the end of what it found, or to the end of the text. */
const searched = (text: string, from: number, found: number, length: number) => (found === -1 ? text.length - from : found - from + length);

const COUNTED: ReadonlyArray<readonly [object, string, Cost]> = [
  [String.prototype, 'charCodeAt', () => 0],
  [String.prototype, 'codePointAt', () => 0],
  [String.prototype, 'slice', (_self, _args, made: string) => made.length],
  [String.prototype, 'toLowerCase', (self: string) => self.length],
  [Array.prototype, 'join', (_self, _args, made: string) => made.length],
  [Array.prototype, 'push', (_self, args) => args.length],
  [String.prototype, 'indexOf', (self: string, [needle, from = 0], found: number) => searched(self, Number(from), found, String(needle).length)],
  [String.prototype, 'lastIndexOf', (self: string, _args, found: number) => (found === -1 ? self.length : self.length - found)],
  // Where `includes` found its needle is not returned: it is counted as searching to the end, as when it finds none.
  [String.prototype, 'includes', (self: string, [, from = 0]) => self.length - Number(from)],
  [String.prototype, 'startsWith', (self: string, [needle, from = 0]) => Math.min(String(needle).length, self.length - Number(from))],
  [String.prototype, 'endsWith', (self: string, [needle, to = self.length]) => Math.min(String(needle).length, Number(to))],
  [String.prototype, 'substring', (_self, _args, made: string) => made.length],
  [String.prototype, 'at', () => 0],
  [String.prototype, 'split', (self: string) => self.length],
  [
    RegExp.prototype,
    'exec',
    (self: RegExp, [text], match: RegExpExecArray | null, lastIndex) =>
      self.sticky && match === null ? 0 : searched(String(text), self.global || self.sticky ? lastIndex : 0, match?.index ?? -1, match?.[0].length ?? 0),
  ],
];

/** The work `run` does, and what it returns. */
export function workOf<T>(run: () => T): { readonly work: number; readonly result: T } {
  let work = 0;
  const originals = COUNTED.map(([target, name]) => (target as Record<string, (...args: unknown[]) => unknown>)[name] as (...args: unknown[]) => unknown);
  // Counted from here only: patching is itself no work of `run`'s.
  COUNTED.forEach(([target, name, cost], index) => {
    const original = originals[index] as (...args: unknown[]) => unknown;
    (target as Record<string, unknown>)[name] = function counted(this: unknown, ...args: unknown[]) {
      const lastIndex = this instanceof RegExp ? this.lastIndex : 0;
      const result = original.apply(this, args);
      work += 1 + cost(this as never, args, result as never, lastIndex);
      return result;
    };
  });
  let result: T;
  try {
    result = run();
  } finally {
    COUNTED.forEach(([target, name], index) => {
      (target as Record<string, unknown>)[name] = originals[index];
    });
  }
  return { work, result };
}

/**
 * Fails unless `work(size)` grows at most linearly: four times the input may cost at most `slack` times four the
 * work (what does not grow with it, reading the values looked for, makes it less); a reading repeated from each
 * position of its input costs sixteen times.
 */
export function linearly(work: (size: number) => number, size: number, slack = 1.25): void {
  const [small, large] = [work(size), work(4 * size)];
  assert.ok(large <= 4 * slack * small, `four times the input cost ${(large / small).toFixed(1)} times the work (${small} → ${large}): more than linear`);
}
