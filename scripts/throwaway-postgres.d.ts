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
export function startThrowawayPostgres(): Promise<ThrowawayPostgres>;
