/**
 * Plain words for configuration problems: what to write instead of a validator's "Invalid input:
 * expected array, received string", and "did you mean" for a mistyped name. The schema's own
 * messages (a port, a domain, a duration) win over these; these fill in the rest.
 */
import type { z } from 'zod';

/** An empty value (often a `${VAR}` never defined) said as such, not as a malformed one. */
export const EMPTY_VALUE = 'write a value: it must not be empty';

/** zod's per-parse error map: a hint for each kind of issue the schema has no message of its own for. */
export function plainHint(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'required: not set';
      return TYPE_HINTS[issue.expected] ?? `write a ${issue.expected}`;
    case 'invalid_value': {
      const choices = issue.values.map(String);
      const suggestion = typeof issue.input === 'string' ? didYouMean(issue.input, choices) : undefined;
      return `write one of: ${choices.join(', ')}${suggestion ? ` (did you mean ${suggestion}?)` : ''}`;
    }
    case 'invalid_format':
      return issue.format === 'email' ? 'write a mail address such as ops@example.com' : undefined;
    case 'too_small':
      return issue.origin === 'string' && issue.minimum === 1 ? EMPTY_VALUE : undefined;
    default:
      return undefined;
  }
}

const TYPE_HINTS: Readonly<Record<string, string>> = {
  array: 'write a list: [first, second]',
  object: 'write its settings indented under it, one "key: value" per line',
  boolean: 'write true or false',
  number: 'write a number',
  string: 'write a text value',
};

/**
 * The known name closest to a mistyped one, when it is close enough to be what was meant: up to one
 * edit in four characters (at most three), a swap of two neighbours counting as one; case is ignored.
 */
export function didYouMean(typed: string, known: readonly string[]): string | undefined {
  const target = typed.toLowerCase();
  const allowed = Math.min(3, Math.max(1, Math.floor(target.length / 4)));
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    const distance = editDistance(target, name.toLowerCase());
    if (distance <= allowed && (!best || distance < best.distance)) best = { name, distance };
  }
  return best?.name;
}

/** Optimal-string-alignment distance: insertions, deletions, substitutions and adjacent swaps. */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number) => rows[i]?.[j] ?? Number.POSITIVE_INFINITY;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let distance = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) distance = Math.min(distance, at(i - 2, j - 2) + 1);
      (rows[i] as number[])[j] = distance;
    }
  }
  return at(a.length, b.length);
}

/**
 * The keys a strict object in the schema takes at `path` (array indexes and record keys step into
 * the element), for "did you mean" on an unknown key there.
 */
export function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  const node = unwrap(schemaAt(schema, path));
  const shape = node && defOf(node).shape;
  return shape ? Object.keys(shape) : [];
}

/**
 * The schema of the setting at `path` as its parent holds it, defaults and optional wrappers included (so
 * that it can say what an absent value becomes); undefined where the schema has no such key.
 */
export function schemaAt(schema: z.ZodType, path: readonly PropertyKey[]): z.ZodType | undefined {
  let node: z.core.$ZodType | undefined = schema;
  for (let index = 0; node && index < path.length; index++) {
    const def = defOf(unwrap(node) as z.core.$ZodType);
    node = def.shape ? def.shape[path[index] as PropertyKey] : def.type === 'array' || def.type === 'record' ? (def['element'] ?? def['valueType']) : undefined;
  }
  return node as z.ZodType | undefined;
}

/** The dotted paths of the settings, in nested objects, whose schema is `leaf` (e.g. every duration). */
export function pathsOf(schema: z.ZodType, leaf: z.ZodType, prefix = ''): string[] {
  const node = unwrapTo(schema, leaf);
  if (node === leaf) return [prefix];
  const shape = node && defOf(node).shape;
  if (!shape) return [];
  return Object.entries(shape).flatMap(([key, child]) => pathsOf(child as z.ZodType, leaf, prefix ? `${prefix}.${key}` : key));
}

type Def = Readonly<Record<string, z.core.$ZodType | undefined>> & { readonly type: string; readonly shape?: Readonly<Record<PropertyKey, z.core.$ZodType>> };

function defOf(node: z.core.$ZodType): Def {
  return node._zod.def as unknown as Def;
}

const WRAPPERS: ReadonlySet<string> = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly']);

/** Through optional/default wrappers and preprocess pipes to the schema that holds the value. */
function unwrap(node: z.core.$ZodType | undefined): z.core.$ZodType | undefined {
  return unwrapTo(node, undefined);
}

function unwrapTo(node: z.core.$ZodType | undefined, stop: z.core.$ZodType | undefined): z.core.$ZodType | undefined {
  while (node && node !== stop) {
    const def = defOf(node);
    if (WRAPPERS.has(def.type)) node = def['innerType'];
    // A transform's pipe leads to the schema it feeds (preprocess) or came from (string → duration).
    else if (def.type === 'pipe') node = def['in']?._zod.def.type === 'transform' ? def['out'] : def['in'];
    else break;
  }
  return node;
}
