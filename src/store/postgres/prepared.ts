/**
 * Named (prepared) statements on every connection of the store's pool. node-postgres sends a
 * parameterised query unnamed, so the server parses and plans it again on every call: measured
 * through a relay (2026-12-03), planning alone cost the server 1.3 ms per mail, as much as running
 * the statements. A name per distinct text lets each connection parse it once and the server reuse
 * its plan. The texts are the store's own constants, so their number is small; past
 * MAX_NAMED_TEXTS a new text runs unnamed, as before (a bound, should a text ever carry a value).
 */
import type pg from 'pg';

/** Distinct statement texts named, over the process; each connection prepares those it runs. */
const MAX_NAMED_TEXTS = 500;

/**
 * A statement whose result columns come from `*` is not named: after a newer relay on the same
 * database added a column (an additive migration, src/store/schema-readers.ts) the server would
 * refuse the prepared one ("cached plan must not change result type") until the connection closed.
 */
const STAR_RESULT = /\bSELECT\s+(?:DISTINCT\s+)?(?:\w+\.)?\*|\bRETURNING\s+\*/i;

const names = new Map<string, string>();

/** The name `text` is prepared under, or undefined when it runs unnamed. */
export function statementName(text: string): string | undefined {
  const known = names.get(text);
  if (known !== undefined) return known;
  if (names.size >= MAX_NAMED_TEXTS || STAR_RESULT.test(text)) return undefined;
  const name = `smsrelay_${names.size + 1}`;
  names.set(text, name);
  return name;
}

/**
 * Makes `client.query(text, values)` run `text` as a named statement. Only calls with a values
 * array: a text without them goes by the simple protocol, which may hold several statements.
 */
export function prepareStatements(client: pg.ClientBase): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as { query: unknown }).query = (...args: unknown[]) => {
    const [text, values, callback] = args;
    const name = typeof text === 'string' && Array.isArray(values) ? statementName(text) : undefined;
    // pool.query passes a callback; the client's own callers do not.
    return name === undefined ? query(...args) : query({ name, text, values }, callback);
  };
}
