import type pg from 'pg';

/**
 * Waits for the transaction-level advisory lock of one key and holds it until the transaction ends:
 * what two relays do with one thing (the parts of one SMS, one long SMS's sets) that no row exists
 * yet to lock, or that rows FOR UPDATE would not order, is done one after the other. `key` names the
 * table first, so that keys of two kinds only meet by a hash collision (which only makes one wait).
 */
export async function lockKey(client: pg.ClientBase, table: string, ...key: ReadonlyArray<string | number | null>): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [[table, ...key].join('\n')]);
}
