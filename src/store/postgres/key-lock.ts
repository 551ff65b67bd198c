import type pg from 'pg';
import type { Statement } from './batch.ts';

/**
 * Waits for the transaction-level advisory lock of one key and holds it until the transaction ends:
 * what two relays do with one thing (the parts of one SMS, one long SMS's sets) that no row exists
 * yet to lock, or that rows FOR UPDATE would not order, is done one after the other. `key` names the
 * table first, so that keys of two kinds only meet by a hash collision (which only makes one wait).
 */
export async function lockKey(client: pg.ClientBase, table: string, ...key: ReadonlyArray<string | number | null>): Promise<void> {
  const { text, values } = keyLockStatement(table, ...key);
  await client.query(text, values as unknown[]);
}

/**
 * The same lock as a statement of a write said up front (group-writer.ts): put before the statements it orders, so
 * that theirs read (in their own snapshots, READ COMMITTED) what the transaction that held it last committed.
 */
export function keyLockStatement(table: string, ...key: ReadonlyArray<string | number | null>): Statement {
  return { text: 'SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', values: [lockedKey(table, ...key)] };
}

/** The text one key's lock is taken on (its hash): the same lock whether taken alone (lockKey) or with others (keysLocked). */
export const lockedKey = (table: string, ...key: ReadonlyArray<string | number | null>): string => [table, ...key].join('\n');

/**
 * SQL (a scalar subquery) that takes the locks of the keys (lockedKey) in the text array `keysSql`, each once, in the
 * order of their hashes: two transactions that take theirs this way never wait on each other in a cycle, whatever
 * keys they share. For a group of writes (group-writer.ts, Statements.locks), folded into a statement it sends anyway.
 * Each lock is waited for at most `waitMs` (lock_timeout: a key still held then fails the statement, 55P03); the
 * server's own lock_timeout holds again for the rest of the transaction. The order is the data's, not the target
 * list's: the bound is set as the keys are read, all of them before the sort returns its first, and put back once the
 * count has taken every lock.
 */
export const keysLocked = (keysSql: string, waitMs: number): string =>
  `(SELECT set_config('lock_timeout', NULL, true) FROM (SELECT count(pg_advisory_xact_lock(hash)) FROM (SELECT DISTINCT hashtextextended(key, 0) AS hash FROM unnest(${keysSql}::text[]) AS key WHERE set_config('lock_timeout', '${waitMs}ms', true) IS NOT NULL ORDER BY hash) sorted) locked)`;

/**
 * SQL: of the keys (lockedKey) in the text array `$1`, those whose locks another transaction holds, as `busy`; every
 * other's lock it takes, for the rest of the transaction. It waits for none, so it takes them in any order.
 */
export const KEYS_BUSY =
  "SELECT coalesce(array_agg(key), '{}') AS busy FROM unnest($1::text[]) AS key WHERE NOT pg_try_advisory_xact_lock(hashtextextended(key, 0))";
