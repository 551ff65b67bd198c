/** A throwaway PostgreSQL server (see throwaway-postgres.js). */
export interface ThrowawayPostgres {
  /** Superuser URL, database `postgres`, on 127.0.0.1. */
  readonly url: string;
  readonly port: number;
  /** Starts it again after `stop()`, same data, same port. */
  start(): Promise<void>;
  /** Stops the server, keeping its data. */
  stop(): Promise<void>;
  /** Stops it and removes its data. */
  destroy(): Promise<void>;
}
/** `settings`: server settings by name on its command line (bench/server-cpu.ts loads pg_stat_statements). */
export function startThrowawayPostgres(options?: { readonly settings?: Readonly<Record<string, string>> }): Promise<ThrowawayPostgres>;
