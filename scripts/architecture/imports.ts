/**
 * Finds the module specifiers a source file imports: `import … from '…'`, `import '…'`,
 * `export … from '…'` (type-only forms too) and `import('…')` with a string literal.
 */
import { type Token, tokenize } from './tokens.ts';

export interface ImportLine {
  /** The specifier as written, e.g. `'../store/types.ts'` without the quotes. */
  specifier: string;
  /** Line of the `import`/`export` keyword that starts the statement. */
  line: number;
}

/** Tokens that end an import or export clause without a `from`: `export const x = …`, `import x = require(…)`. */
const CLAUSE_ENDS = new Set([';', '=', '(']);

export function findImports(source: string): ImportLine[] {
  const tokens = tokenize(source);
  const found: ImportLine[] = [];
  tokens.forEach((token, index) => {
    if (token.kind !== 'word' || (token.text !== 'import' && token.text !== 'export')) return;
    // `something.import` or `{ import: … }` is a property, not the keyword.
    if (isPunctuation(tokens[index - 1], '.') || isPunctuation(tokens[index + 1], ':')) return;
    const specifier = token.text === 'import' ? importedBy(tokens, index) : reExportedBy(tokens, index);
    if (specifier !== undefined) found.push({ specifier, line: token.line });
  });
  return found;
}

function importedBy(tokens: Token[], keyword: number): string | undefined {
  const next = tokens[keyword + 1];
  if (next?.kind === 'string') return next.text;
  if (isPunctuation(next, '(')) {
    // Only a literal argument names a module; `import(variable)` cannot be checked.
    const argument = tokens[keyword + 2];
    const after = tokens[keyword + 3];
    const literal = argument?.kind === 'string' && (isPunctuation(after, ')') || isPunctuation(after, ','));
    return literal ? argument.text : undefined;
  }
  return fromClause(tokens, keyword + 1);
}

function reExportedBy(tokens: Token[], keyword: number): string | undefined {
  const next = tokens[keyword + 1];
  const reExports = isPunctuation(next, '{') || isPunctuation(next, '*') || (next?.kind === 'word' && next.text === 'type');
  return reExports ? fromClause(tokens, keyword + 1) : undefined;
}

/** The string after the clause's `from`, if the clause has one before it ends. */
function fromClause(tokens: Token[], start: number): string | undefined {
  for (let index = start; index < tokens.length; index++) {
    const token = tokens[index];
    if (token === undefined) break;
    if (token.kind === 'punctuation' && CLAUSE_ENDS.has(token.text)) return undefined;
    if (token.kind === 'word' && (token.text === 'import' || token.text === 'export')) return undefined;
    const next = tokens[index + 1];
    if (token.kind === 'word' && token.text === 'from' && next?.kind === 'string') return next.text;
  }
  return undefined;
}

function isPunctuation(token: Token | undefined, text: string): boolean {
  return token?.kind === 'punctuation' && token.text === text;
}
