import BetterSqlite3 from 'better-sqlite3';
import { describe } from 'node:test';
import type { ConsoleStore } from '../../src/store/console-types.ts';
import { PostgresConsoleStore } from '../../src/store/postgres/console.ts';
import { PostgresStore } from '../../src/store/postgres/store.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { SqliteConsoleStore } from '../../src/store/sqlite-console.ts';
import type { Store } from '../../src/store/types.ts';
import { freshDatabase, describeOnPostgres, withClient } from './postgres.ts';
import { storeFile } from './store.ts';

/** One of the store implementations, as the contract suite drives it. */
export interface StoreUnderTest {
  readonly name: 'SQLite' | 'PostgreSQL';
  /** A store on fresh, empty data. */
  fresh(): Promise<Store>;
  /** Another store on the data of the last `fresh()`: the relay restarted (close the previous one first). */
  reopen(): Promise<Store>;
  /** The web console's store on the data of the last `fresh()`, as the relay opens it beside its store. */
  console(): ConsoleStore;
  /** The rows `sql` reads from the data of the last `fresh()`, read beside the store as an operator would: what is really kept. */
  rows(sql: string): Promise<Record<string, unknown>[]>;
}

/**
 * Declares the same suite once per store implementation: SQLite (a fresh file per store) and
 * PostgreSQL (a fresh database per store on the run's server). Without a PostgreSQL server its suite
 * is one skipped test with the reason, announced loudly by freshDatabase (a failure under CI=true).
 */
export function forEachStore(define: (kind: StoreUnderTest) => void): void {
  describe('on SQLite', () => {
    let file = '';
    define({
      name: 'SQLite',
      fresh: async () => {
        file = storeFile();
        return SqliteStore.open({ file, busyTimeoutMs: 100 });
      },
      reopen: async () => SqliteStore.open({ file, busyTimeoutMs: 100 }),
      console: () => SqliteConsoleStore.open(file, 100),
      rows: async (sql) => {
        const db = new BetterSqlite3(file, { readonly: true });
        try {
          return db.prepare(sql).all() as Record<string, unknown>[];
        } finally {
          db.close();
        }
      },
    });
  });
  describeOnPostgres('on PostgreSQL', async () => {
    let url = '';
    define({
      name: 'PostgreSQL',
      fresh: async () => {
        url = (await freshDatabase()) ?? '';
        return PostgresStore.open({ url });
      },
      reopen: async () => PostgresStore.open({ url }),
      console: () => PostgresConsoleStore.open(url),
      rows: (sql) => withClient(url, async (client) => (await client.query(sql)).rows as Record<string, unknown>[]),
    });
  });
}
