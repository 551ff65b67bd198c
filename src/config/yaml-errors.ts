import { type Document, type ErrorCode, isCollection, isPair, isScalar, isSeq, type LineCounter, parseAllDocuments, visit, type YAMLError } from 'yaml';

/**
 * The settings file's YAML errors in the relay's words, one line each: `<file>:<line>: what is wrong; what to write`. The
 * yaml package's own messages speak to a programmer ("please use YAML.parseAllDocuments()") and name no key; a code
 * not worded here keeps the package's message, with any value it quotes cut out: the file holds passwords, and these
 * lines go to stderr and the journal.
 */
export function yamlErrorLines(file: string, text: string, document: Document, lineCounter: LineCounter): string[] {
  const lineOf = (offset: number) => lineCounter.linePos(offset).line;
  const duplicates = duplicateKeys(document, lineOf);
  const said: string[] = [];
  let last: { readonly code: ErrorCode; line: number } | undefined;
  for (const error of document.errors) {
    const line = lineOf(error.pos[0]);
    // One fault gives several codes on its line (a line indented too far: BLOCK_AS_IMPLICIT_KEY, MULTILINE_IMPLICIT_KEY,
    // MISSING_CHAR), and a block out of place one UNEXPECTED_TOKEN per token over its lines: said once, by the first.
    // A key repeated again on one line (a flow mapping) is another fault each time.
    const sameFault =
      last !== undefined &&
      error.code !== 'DUPLICATE_KEY' &&
      (line === last.line || (error.code === 'UNEXPECTED_TOKEN' && last.code === error.code && line === last.line + 1));
    if (last && sameFault) {
      last.line = line;
      continue;
    }
    last = { code: error.code, line };
    const [at, words] = wordsOf(error, line, text, duplicates, lineOf);
    said.push(`${file}:${at}: ${words}`);
  }
  // A key written three times on one line: its two repetitions read alike.
  return [...new Set(said)];
}

/** What each common code says, and the fix; the package's first line for the others (anchors, tags, aliases: rare in settings). */
const WORDS: Partial<Record<ErrorCode, string>> = {
  TAB_AS_INDENT: 'a tab indents this line; YAML indents with spaces only: replace the tab with spaces',
  BAD_INDENT: 'indented less than the section it belongs to: indent it with spaces as far as the other lines of that section',
  MULTILINE_IMPLICIT_KEY:
    'a line that is neither "key: value" nor "- item" (a key without its colon, or a key going on over two lines): end each key with a colon and a space',
  BAD_DQ_ESCAPE: 'in double quotes a backslash starts an escape (\\n, \\"): write \\\\ for a backslash, or put the value in single quotes',
  BAD_SCALAR_START: 'a value starts with a character YAML reserves (such as @, ` or %): put the value in quotes',
  KEY_OVER_1024_CHARS: 'a key longer than 1024 characters: a key is a setting\'s name, its value goes after "key: "',
  // Reported on the line after the fault: a line indented at the top level, a stray character. The package names the token.
  UNEXPECTED_TOKEN:
    "text the settings do not expect here: check this line's indentation against the lines above it (the first setting starts at column 1, a section's settings are indented alike) and its punctuation",
};

/** A `: ` inside a line's value after the key's: YAML reads a second key (`password: abc: def`). */
const COLON_IN_VALUE = /:(\s|$)/;

/** The line the error is at, and its words. */
function wordsOf(
  error: YAMLError,
  line: number,
  text: string,
  duplicates: ReadonlyMap<number, DuplicateKey>,
  lineOf: (offset: number) => number,
): [number, string] {
  switch (error.code) {
    case 'MULTIPLE_DOCS':
      return [line, multipleDocuments(text, line)];
    case 'DUPLICATE_KEY': {
      const duplicate = duplicates.get(error.pos[0]);
      if (!duplicate) break;
      const fix = duplicate.section ? 'merge them into one (their settings under it once each)' : 'keep one';
      return [line, `${duplicate.path} given twice, at lines ${duplicate.firstLine} and ${line}: ${fix}`];
    }
    case 'BLOCK_AS_IMPLICIT_KEY': {
      // At a value (`port: 1` before a line indented under it) or inside one (`password: abc: def`).
      const lineEnd = text.indexOf('\n', error.pos[0]);
      const rest = text.slice(error.pos[0], lineEnd === -1 ? undefined : lineEnd);
      if (/\S/.test(rest.charAt(0)) && COLON_IN_VALUE.test(rest)) {
        return [line, 'a ": " inside a value, where YAML reads a key: put the value in quotes, or write each "key: value" on a line of its own'];
      }
      const next = nextContent(text, /\S/.test(rest.charAt(0)) ? (lineEnd === -1 ? text.length : lineEnd) : error.pos[0]);
      const at = next === undefined ? line : lineOf(next);
      return [
        at,
        'indented further than the line before it, which has a value: indent it as far as that line, or, if it belongs under that key, leave its value out ("key:" alone)',
      ];
    }
    case 'BAD_INDENT': {
      // An unclosed [ or { runs on into the next lines, which the package then finds indented too little.
      const flow = /^Flow (sequence|map)/.exec(error.message)?.[1];
      if (flow === 'sequence') return [line, 'a list opened with [ above is not closed: end it with ] on its line'];
      if (flow === 'map') return [line, 'a section opened with { above is not closed: end it with } on its line'];
      break;
    }
  }
  return [line, WORDS[error.code] ?? withoutValues(error.message.split('\n')[0] ?? error.code)];
}

/** The package's message without the token or value it quotes (`…in YAML stream: "Sup3rS3cret"`, `Unresolved tag: !x`). */
function withoutValues(message: string): string {
  return message
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'/g, '(…)')
    .replace(/: \S+$/, '')
    .replace(/: \(…\)$/, '');
}

/** The offset of the first text after `from` that is not blank nor a comment line. */
function nextContent(text: string, from: number): number | undefined {
  const found = /[^\s#]|#[^\n]*/g;
  found.lastIndex = from;
  for (let match = found.exec(text); match; match = found.exec(text)) if (!match[0].startsWith('#')) return match.index;
  return undefined;
}

function multipleDocuments(text: string, line: number): string {
  const count = parseAllDocuments(text).length;
  // The second document starts at a `---`, or after a `...` that ended the first.
  const lines = text.split(/\r?\n/);
  const marker = lines.slice(0, line).findLastIndex((each) => /^(---|\.\.\.)(\s|$)/.test(each));
  const mark = lines[marker]?.slice(0, 3) ?? '---';
  const where = mark === '...' ? `a \`...\` at line ${marker + 1} ends the first` : `a \`---\` at line ${marker + 1} starts the second`;
  return `the file holds ${count} YAML documents (${where}); the settings are one document: remove the \`${mark}\` and merge their sections`;
}

interface DuplicateKey {
  /** Its path as the other config lines name a setting (`smtp.port`, `console.users.0.name`). */
  readonly path: string;
  readonly firstLine: number;
  /** A section (its value a mapping or a list), whose two halves are merged, rather than a value to keep once. */
  readonly section: boolean;
}

/** Each key written again in its mapping, by the offset of the repetition (where DUPLICATE_KEY points). */
function duplicateKeys(document: Document, lineOf: (offset: number) => number): Map<number, DuplicateKey> {
  const found = new Map<number, DuplicateKey>();
  if (!document.errors.some((error) => error.code === 'DUPLICATE_KEY')) return found;
  const name = (key: unknown) => (isScalar(key) ? String(key.value) : String(key));
  visit(document, {
    Map(_key, map, path) {
      const first = new Map<string, number>();
      // A list item is named by its index, as the validation's paths name it.
      const chain = [...path, map];
      const section = chain.flatMap((node, index) =>
        isPair(node) ? [name(node.key)] : isSeq(node) ? [String(node.items.indexOf(chain[index + 1] as never))] : [],
      );
      for (const pair of map.items) {
        const key = name(pair.key);
        const at = isScalar(pair.key) ? pair.key.range?.[0] : undefined;
        if (at === undefined) continue;
        const seen = first.get(key);
        if (seen === undefined) first.set(key, at);
        else found.set(at, { path: [...section, key].join('.'), firstLine: lineOf(seen), section: isCollection(pair.value) });
      }
    },
  });
  return found;
}
