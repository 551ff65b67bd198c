/**
 * Named (prepared) statements on every connection of the store's pool. node-postgres sends a
 * parameterised query unnamed, so the server parses and plans it again on every call: measured
 * through a relay (2026-12-03), planning alone cost the server 1.3 ms per mail, as much as running
 * the statements. A name per distinct text lets each connection parse it once and the server reuse
 * its plan. The texts are the store's own constants, so their number is small; past
 * MAX_NAMED_TEXTS a new text runs unnamed, as before (a bound, should a text ever carry a value).
 */
import { createRequire } from 'node:module';
import type pg from 'pg';

/** node-postgres's own conversion of a value for the wire (not in its type declarations). */
const { prepareValue } = createRequire(import.meta.url)('pg/lib/utils.js') as { prepareValue: (value: unknown) => unknown };

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

/** `values` converted for the wire as node-postgres converts them; throws on a value that cannot be sent. */
export function toWire(values: readonly unknown[]): unknown[] {
  return values.map((value) => prepareValue(value));
}

/**
 * Makes `client.query(text, values)` run `text` as a named statement. Only calls with a values
 * array: a text without them goes by the simple protocol, which may hold several statements.
 *
 * The values are converted for the wire here, before node-postgres sees them: when its own
 * conversion throws (a value that cannot be sent), it closes the named statement on the server but
 * still counts it as prepared, and every later use of that name on the connection fails ("prepared
 * statement does not exist"), failing the writes grouped with the faulty one.
 */
export function prepareStatements(client: pg.ClientBase): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as { query: unknown }).query = (...args: unknown[]) => {
    const [text, values, callback] = args;
    const name = typeof text === 'string' && Array.isArray(values) ? statementName(text) : undefined;
    if (name === undefined) return query(...args);
    let wire: unknown[];
    try {
      wire = toWire(values as unknown[]);
    } catch (error) {
      // pool.query passes a callback; the client's own callers take the promise.
      if (typeof callback !== 'function') return Promise.reject(error);
      queueMicrotask(() => (callback as (error: unknown) => void)(error));
      return undefined;
    }
    return query({ name, text, values: wire }, callback);
  };
}
