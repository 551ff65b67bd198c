/**
 * Just enough of a JavaScript/TypeScript tokenizer to find import lines: words, punctuation and
 * string literals, with comments, template text and regular expressions skipped, so that an
 * `import` written inside any of those is not mistaken for a real one.
 */

export interface Token {
  /** `value` stands for a regular expression or a template with substitutions: a value, not text to read. */
  kind: 'word' | 'string' | 'punctuation' | 'value';
  /** The word, the punctuation character, or a string literal's contents (escapes kept as written). */
  text: string;
  line: number;
}

/** Words after which a `/` starts a regular expression rather than a division. */
const KEYWORDS_BEFORE_EXPRESSION = new Set([
  'return',
  'typeof',
  'instanceof',
  'in',
  'of',
  'new',
  'delete',
  'void',
  'throw',
  'case',
  'do',
  'else',
  'yield',
  'await',
]);

const WORD_CHARACTER = /[\p{ID_Continue}$\u200c\u200d]/u;

export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  // Brace depth at which each open template substitution (`${`) closes, innermost last.
  const templateSubstitutions: number[] = [];
  let braceDepth = 0;
  let line = 1;
  let at = 0;

  const push = (kind: Token['kind'], text: string, startLine: number): void => {
    tokens.push({ kind, text, line: startLine });
  };

  /** Moves `at` to `end`, counting the line breaks passed over. */
  const advanceTo = (end: number): void => {
    for (; at < end; at++) if (source[at] === '\n') line++;
  };

  /** Reads template text from `at` up to its closing backtick or the next `${`. */
  const readTemplateText = (opensTemplate: boolean): void => {
    const startLine = line;
    const start = at;
    let end = at;
    while (end < source.length && source[end] !== '`' && !(source[end] === '$' && source[end + 1] === '{')) {
      end += source[end] === '\\' ? 2 : 1;
    }
    const text = source.slice(start, end);
    const closes = source[end] === '`';
    advanceTo(Math.min(end + (closes ? 1 : 2), source.length));
    if (!closes) templateSubstitutions.push(braceDepth);
    // A template with no substitution is a plain string: `import(\`./x.ts\`)` is a literal import.
    if (opensTemplate && closes) push('string', text, startLine);
    else if (opensTemplate) push('value', '`', startLine);
  };

  const regularExpressionMayStart = (): boolean => {
    const previous = tokens.at(-1);
    if (previous === undefined) return true;
    if (previous.kind === 'punctuation') return !')]}'.includes(previous.text);
    return previous.kind === 'word' && KEYWORDS_BEFORE_EXPRESSION.has(previous.text);
  };

  const skipRegularExpression = (): void => {
    let end = at + 1;
    let inCharacterClass = false;
    while (end < source.length && source[end] !== '\n') {
      const character = source[end];
      if (character === '/' && !inCharacterClass) break;
      if (character === '[') inCharacterClass = true;
      if (character === ']') inCharacterClass = false;
      end += character === '\\' ? 2 : 1;
    }
    end++;
    while (end < source.length && WORD_CHARACTER.test(source[end] ?? '')) end++;
    push('value', '/', line);
    advanceTo(end);
  };

  while (at < source.length) {
    const character = source[at] ?? '';
    const next = source[at + 1];
    if (/\s/.test(character)) {
      advanceTo(at + 1);
    } else if (character === '/' && next === '/') {
      const end = source.indexOf('\n', at);
      advanceTo(end === -1 ? source.length : end);
    } else if (character === '/' && next === '*') {
      const end = source.indexOf('*/', at + 2);
      advanceTo(end === -1 ? source.length : end + 2);
    } else if (character === '"' || character === "'") {
      const startLine = line;
      let end = at + 1;
      while (end < source.length && source[end] !== character && source[end] !== '\n') {
        end += source[end] === '\\' ? 2 : 1;
      }
      push('string', source.slice(at + 1, end), startLine);
      advanceTo(end + 1);
    } else if (character === '`') {
      advanceTo(at + 1);
      readTemplateText(true);
    } else if (character === '}' && templateSubstitutions.at(-1) === braceDepth) {
      templateSubstitutions.pop();
      advanceTo(at + 1);
      readTemplateText(false);
    } else if (character === '/' && regularExpressionMayStart()) {
      skipRegularExpression();
    } else if (WORD_CHARACTER.test(character)) {
      let end = at + 1;
      while (end < source.length && WORD_CHARACTER.test(source[end] ?? '')) end++;
      push('word', source.slice(at, end), line);
      advanceTo(end);
    } else {
      if (character === '{') braceDepth++;
      if (character === '}') braceDepth--;
      push('punctuation', character, line);
      advanceTo(at + 1);
    }
  }
  return tokens;
}
