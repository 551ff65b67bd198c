import {
  type Document,
  type ErrorCode,
  isAlias,
  isCollection,
  isNode,
  isPair,
  isScalar,
  isSeq,
  type LineCounter,
  type Node,
  parseAllDocuments,
  visit,
  type YAMLError,
} from 'yaml';

/**
 * The settings file's YAML faults in the relay's words, one line each: `<file>:<line>: what is wrong; what to write`. The
 * yaml package's own messages speak to a programmer ("please use YAML.parseAllDocuments()") and name no key; a code
 * not worded here keeps the package's message, with any value it quotes cut out: the file holds passwords, and these
 * lines go to stderr and the journal. Its warnings are faults too (an unknown tag: `password: !x7 secret` would be read
 * as `secret`), and so are the anchors and aliases it reads without a word (`referenceFaults`): a generated password
 * starting with `*`, `&` or `!` is the usual cause, never meant as YAML.
 */
export function yamlErrorLines(
  file: string,
  text: string,
  document: Document,
  lineCounter: LineCounter,
): { readonly faults: string[]; readonly warnings: string[] } {
  const lineOf = (offset: number) => lineCounter.linePos(offset).line;
  const duplicates = duplicateKeys(document, lineOf);
  const said: string[] = [];
  let last: { readonly code: ErrorCode; line: number } | undefined;
  for (const error of [...document.errors, ...document.warnings]) {
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
    // A value starting with a character YAML reserves is the usual cause on its line (a generated password), whatever
    // the package makes of the rest; its own words (a tag, an alias) already say it.
    const reserved = OF_A_VALUE.has(error.code) || OWN_WORDS.has(error.code) ? undefined : reservedStart(text, lineCounter, line);
    // Quoted text goes on over the lines below until its quote: the package says so where the file ends, said where it opens.
    const unclosed = /^Missing closing (['"])quote/.test(error.message) ? unclosedQuote(document, error.pos[0]) : undefined;
    if (unclosed) said.push(`${file}:${lineOf(unclosed.offset)}: ${unclosed.setting}: ${UNCLOSED[unclosed.quote]}`);
    else if (reserved) said.push(`${file}:${line}: ${settingAt(document, reserved.offset) ?? reserved.key}: ${RESERVED_STARTS[reserved.first]}`);
    else {
      const setting = OF_A_VALUE.has(error.code) ? settingAt(document, error.pos[0]) : undefined;
      said.push(`${file}:${at}: ${setting === undefined ? '' : `${setting}: `}${words}`);
    }
  }
  // Said once a line too: an alias ending in a colon is a warning and unresolved, a list of aliases one fault.
  const lines = new Set(said.map((each) => each.slice(file.length + 1, each.indexOf(':', file.length + 1))));
  const references = referenceFaults(document);
  for (const [offset, words] of references.faults) {
    const line = String(lineOf(offset));
    if (lines.has(line)) continue;
    lines.add(line);
    said.push(`${file}:${line}: ${words}`);
  }
  const warnings = references.unusedAnchors.map(([offset, words]) => `${file}:${lineOf(offset)}: ${words}`);
  // A key written three times on one line: its two repetitions read alike.
  return { faults: [...new Set(said)], warnings };
}

/** The fix for a value YAML reads as other than text: single quotes take any character but their own, written twice. */
const QUOTE_IT = "write it in single quotes ('…', a ' inside written twice)";

/** A value opened with a quote that the file does not close. */
const UNCLOSED = {
  "'": `a value starting with ' is not closed by a ' on its line (it runs on to the end of the file): a ' inside single quotes is written twice ('it''s')`,
  '"': `a value starting with " is not closed by a " on its line (it runs on to the end of the file): a " inside double quotes is written \\", or ${QUOTE_IT}`,
} as const;

/** The quoted value running on to `offset`, where the package finds its closing quote missing: where it opens, its setting and quote. */
function unclosedQuote(document: Document, offset: number): { offset: number; setting: string; quote: keyof typeof UNCLOSED } | undefined {
  let found: { offset: number; setting: string; quote: keyof typeof UNCLOSED } | undefined;
  visit(document, {
    Scalar(_key, node, path) {
      const [start, end] = node.range ?? [];
      if (start === undefined || end === undefined || end < offset || (node.type !== 'QUOTE_SINGLE' && node.type !== 'QUOTE_DOUBLE')) return;
      found = { offset: start, setting: settingPath([...path, node]) || '(the top level)', quote: node.type === 'QUOTE_SINGLE' ? "'" : '"' };
    },
  });
  return found;
}

/** The codes whose words say the fault on a line better than its value's first character. */
const OWN_WORDS: ReadonlySet<ErrorCode> = new Set(['DUPLICATE_KEY', 'BAD_DQ_ESCAPE']);

/** What YAML reads a value starting with each character as, and the fix. */
const RESERVED_STARTS = {
  '*': `a value starting with * is read by YAML as an alias (a repeat of an earlier value marked &name), not as text: ${QUOTE_IT}`,
  '&': `a value starting with & is read by YAML as an anchor (a name for the value after it), not as text: ${QUOTE_IT}`,
  '!': `a value starting with ! is read by YAML as a tag (a type for the value after it), not as text: ${QUOTE_IT}`,
  '%': `a value starting with % is read by YAML as a directive, not as text: ${QUOTE_IT}`,
  '@': `a value starting with @ is reserved by YAML, not read as text: ${QUOTE_IT}`,
  '`': `a value starting with \` is reserved by YAML, not read as text: ${QUOTE_IT}`,
  '|': `a value starting with | is read by YAML as a block of text on the lines below it, not as text: ${QUOTE_IT}`,
  '>': `a value starting with > is read by YAML as a block of text on the lines below it, not as text: ${QUOTE_IT}`,
  '[': `a value starting with [ is read by YAML as a list on one line ([a, b]), and this one is not well formed: correct it, or, if it is one value, ${QUOTE_IT}`,
  "'": `a value starting with ' is read by YAML as quoted text, which ends at the next ': a ' inside single quotes is written twice ('it''s')`,
  '"': `a value starting with " is read by YAML as quoted text, which ends at the next " (\\ starts an escape in it): ${QUOTE_IT}`,
  '{': `a value starting with { is read by YAML as a section on one line ({key: value}), and this one is not well formed: correct it, or, if it is one value, ${QUOTE_IT}`,
} as const;

/** `key: value` on a line, the value starting with a character of RESERVED_STARTS (a list item's key too). */
const RESERVED_START = /^\s*(?:-\s+)?([A-Za-z0-9][\w.@+-]*):[ \t]+([*&!%@`|>[{'"])/;

/** Where the value starts on line `line` (1-based) if it starts with a character YAML reserves, its key as written, and the character. */
function reservedStart(
  text: string,
  lineCounter: LineCounter,
  line: number,
): { readonly offset: number; readonly key: string; readonly first: keyof typeof RESERVED_STARTS } | undefined {
  const start = lineCounter.lineStarts[line - 1];
  if (start === undefined) return undefined;
  const end = text.indexOf('\n', start);
  const match = RESERVED_START.exec(text.slice(start, end === -1 ? undefined : end));
  const [whole, key = '', first] = match ?? [];
  if (whole === undefined || first === undefined) return undefined;
  return { offset: start + whole.length - 1, key: key.trim(), first: first as keyof typeof RESERVED_STARTS };
}

/** The codes about one value, said with its setting's path: a tag or an anchor stands before the value, on its key's line. */
const OF_A_VALUE: ReadonlySet<ErrorCode> = new Set(['TAG_RESOLVE_FAILED', 'BAD_ALIAS']);

/** What each common code says, and the fix; the package's first line for the others (rare in settings). */
const WORDS: Partial<Record<ErrorCode, string>> = {
  // An unknown tag (a warning: the value is read without it), or a known one the value does not fit (`!!timestamp x`).
  TAG_RESOLVE_FAILED: `a value starting with ! is read by YAML as a tag (a type for the value after it), one the settings cannot take: ${QUOTE_IT}`,
  // `*name:` or `&name:`, a warning.
  BAD_ALIAS: `a value starting with * or & is read by YAML as an alias or an anchor: ${QUOTE_IT}`,
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

/** What each anchor and alias fault says: the package reads these without an error (or throws when the value is read). */
const REFERENCE_WORDS = {
  unresolved: `a value starting with * is read by YAML as an alias (a repeat of an earlier value marked &name), and no such &name comes before it: ${QUOTE_IT}`,
  circular: 'an alias (*name) inside the very value it repeats, which would never end: write the value out',
  unused: `a value starting with & is read by YAML as an anchor (a name for the value after it, for an alias *name to repeat), and no alias repeats it: ${QUOTE_IT}`,
  // Not said as the value: the setting takes the value after the anchor, as a file read before these faults did.
  unusedBeforeValue:
    'an anchor (&name) that no alias (*name) repeats stands before the value, which is read without it: remove the anchor, or quote the value if & is part of it',
} as const;

/**
 * The offset and words of each alias naming no anchor before it (the package throws when the value is read, its
 * message quoting the name, which is the rest of a password written `*…`), each alias inside the value it repeats, and
 * each anchor no alias repeats on an empty value (a password written `&…` read as an anchor and nothing). An anchor no
 * alias repeats before a value is a warning (`unusedAnchors`), not a fault: files left with one (`perDay: &limit 2000`,
 * its alias since deleted) were read, and the setting takes its value; a password written `&… …` read as what follows
 * the space is said there too.
 */
function referenceFaults(document: Document): { faults: [number, string][]; unusedAnchors: [number, string][] } {
  const faults: [number, string][] = [];
  const unusedAnchors: [number, string][] = [];
  const anchors = new Map<string, Node>();
  const repeated = new Set<Node>();
  const anchored: [Node, number, string][] = [];
  visit(document, {
    Node(_key, node, path) {
      // A setting's line is its key's: a section's anchor stands on it, its value starts below.
      const parent = path.at(-1);
      const at = (isPair(parent) && isNode(parent.key) ? parent.key.range?.[0] : undefined) ?? node.range?.[0] ?? 0;
      const setting = `${settingPath([...path, node]) || '(the top level)'}: `;
      if (isAlias(node)) {
        const target = anchors.get(node.source);
        if (target === undefined) faults.push([at, setting + REFERENCE_WORDS.unresolved]);
        else if (path.includes(target)) faults.push([at, setting + REFERENCE_WORDS.circular]);
        if (target !== undefined) repeated.add(target);
      } else if (node.anchor !== undefined) {
        // Visited before what it holds, as the package resolves: the last anchor of a name before the alias.
        anchors.set(node.anchor, node);
        anchored.push([node, at, setting]);
      }
    },
  });
  for (const [node, at, setting] of anchored) {
    if (repeated.has(node)) continue;
    if (isScalar(node) && (node.value === null || node.value === '')) faults.push([at, setting + REFERENCE_WORDS.unused]);
    else unusedAnchors.push([at, setting + REFERENCE_WORDS.unusedBeforeValue]);
  }
  const byOffset = ([a]: [number, string], [b]: [number, string]) => a - b;
  return { faults: faults.sort(byOffset), unusedAnchors: unusedAnchors.sort(byOffset) };
}

/**
 * What `document.toJS()` may still throw once `referenceFaults` found each alias naming an anchor before it: the
 * package's limit on how much aliases repeat (against a few lines that would fill the memory). Its message is not said.
 */
export const ALIASES_REPEAT_TOO_MUCH =
  'its aliases (*name) repeat more than the YAML library reads (its limit against a file that would fill the memory): write the values out';

/**
 * The dotted path of the setting a node is in (`gateway.password`, `console.users.0.name`), from the chain of nodes above
 * it, up to the first `{…}` or `[…]` written on one line or key that is not plain text (an alias, a quoted key): those
 * are not named, as a value YAML reads otherwise (a password starting with `{` or `*`) makes keys of its text.
 */
function settingPath(chain: readonly unknown[]): string {
  const names: string[] = [];
  for (const [index, node] of chain.entries()) {
    if (isPair(node)) {
      if (!isScalar(node.key) || node.key.type !== 'PLAIN') break;
      names.push(String(node.key.value));
    } else if (isCollection(node) && node.flow === true) break;
    else if (isSeq(node) && index < chain.length - 1) names.push(String(node.items.indexOf(chain[index + 1] as never)));
  }
  return names.join('.');
}

/** The path of the innermost setting whose key and value hold `offset` (where the package puts a tag's warning), if any. */
function settingAt(document: Document, offset: number): string | undefined {
  let found: string | undefined;
  visit(document, {
    Pair(_key, pair, path) {
      const start = isNode(pair.key) ? pair.key.range?.[0] : undefined;
      const end = isNode(pair.value) ? pair.value.range?.[2] : undefined;
      if (start !== undefined && end !== undefined && start <= offset && offset <= end) found = settingPath([...path, pair]);
    },
  });
  return found;
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
      const section = settingPath([...path, map]);
      const inFlow = [...path, map].some((node) => isCollection(node) && node.flow === true);
      for (const pair of map.items) {
        const key = name(pair.key);
        // A key on one line in {…} may be a value's text (settingPath): not said.
        const named = inFlow ? `${section || '(the top level)'}: a key in its {…}` : section ? `${section}.${key}` : key;
        const at = isScalar(pair.key) ? pair.key.range?.[0] : undefined;
        if (at === undefined) continue;
        const seen = first.get(key);
        if (seen === undefined) first.set(key, at);
        else found.set(at, { path: named, firstLine: lineOf(seen), section: isCollection(pair.value) });
      }
    },
  });
  return found;
}
