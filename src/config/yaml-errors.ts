import { type Document, type ErrorCode, isPair, isScalar, type LineCounter, parseAllDocuments, visit, type YAMLError } from 'yaml';

/**
 * The settings file's YAML errors in the relay's words, one line each: `<file>:<line>: what is wrong; what to write`. The
 * yaml package's own messages speak to a programmer ("please use YAML.parseAllDocuments()") and name no key; a code
 * not worded here keeps the package's message.
 */
export function yamlErrorLines(file: string, text: string, document: Document, lineCounter: LineCounter): string[] {
  const lineOf = (offset: number) => lineCounter.linePos(offset).line;
  const duplicates = duplicateKeys(document, lineOf);
  // One fault may give two codes on one line (a line indented too far): said once.
  return [
    ...new Set(
      document.errors.map((error) => {
        const line = lineOf(error.pos[0]);
        return `${file}:${line}: ${wordsOf(error, line, text, duplicates)}`;
      }),
    ),
  ];
}

/** What each common code says, and the fix; the package's first line for the others (anchors, tags, aliases: rare in settings). */
const WORDS: Partial<Record<ErrorCode, string>> = {
  TAB_AS_INDENT: 'a tab indents this line; YAML indents with spaces only: replace the tab with spaces',
  BAD_INDENT: 'indented less than the section it belongs to: indent it with spaces as far as the other lines of that section',
  BLOCK_AS_IMPLICIT_KEY:
    'a setting indented more than the one before it, or a section\'s settings on its own line: put each "key: value" on a line of its own, indented as far as the others of its section',
  MULTILINE_IMPLICIT_KEY:
    'a line that is neither "key: value" nor "- item" (a key without its colon, or a key going on over two lines): end each key with a colon and a space',
  BAD_DQ_ESCAPE: 'in double quotes a backslash starts an escape (\\n, \\"): write \\\\ for a backslash, or put the value in single quotes',
  BAD_SCALAR_START: 'a value starts with a character YAML reserves (@ or `): put the value in quotes',
  KEY_OVER_1024_CHARS: 'a key longer than 1024 characters: a key is a setting\'s name, its value goes after "key: "',
};

function wordsOf(error: YAMLError, line: number, text: string, duplicates: ReadonlyMap<number, DuplicateKey>): string {
  if (error.code === 'MULTIPLE_DOCS') {
    const count = parseAllDocuments(text).length;
    return `the file holds ${count} YAML documents (a \`---\` at line ${line} starts the second); the settings are one document: remove the \`---\` and merge their sections`;
  }
  const duplicate = error.code === 'DUPLICATE_KEY' ? duplicates.get(error.pos[0]) : undefined;
  if (duplicate) return `${duplicate.path} given twice, at lines ${duplicate.firstLine} and ${line}: keep one, its settings merged`;
  return WORDS[error.code] ?? error.message.split('\n')[0] ?? error.code;
}

interface DuplicateKey {
  /** Its dotted path (`smtp.port`), as the other config lines name a setting. */
  readonly path: string;
  readonly firstLine: number;
}

/** Each key written again in its mapping, by the offset of the repetition (where DUPLICATE_KEY points). */
function duplicateKeys(document: Document, lineOf: (offset: number) => number): Map<number, DuplicateKey> {
  const found = new Map<number, DuplicateKey>();
  if (!document.errors.some((error) => error.code === 'DUPLICATE_KEY')) return found;
  const name = (key: unknown) => (isScalar(key) ? String(key.value) : String(key));
  visit(document, {
    Map(_key, map, path) {
      const first = new Map<string, number>();
      const section = path.filter(isPair).map((pair) => name(pair.key));
      for (const pair of map.items) {
        const key = name(pair.key);
        const at = isScalar(pair.key) ? pair.key.range?.[0] : undefined;
        if (at === undefined) continue;
        const seen = first.get(key);
        if (seen === undefined) first.set(key, at);
        else found.set(at, { path: [...section, key].join('.'), firstLine: lineOf(seen) });
      }
    },
  });
  return found;
}
