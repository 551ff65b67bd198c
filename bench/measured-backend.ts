/**
 * One PostgreSQL backend whose CPU a measurement reads (bench/statement-cpu.ts, bench/claim-cpu.ts): a
 * throwaway server, a fresh database with the relay's migrations, one connection that prepares the
 * relay's statements as its pool's do, and that connection's backend's time on a CPU from
 * /proc/<pid>/schedstat (ns; /proc/<pid>/stat counts 10 ms ticks, too coarse).
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { startThrowawayPostgres } from '../scripts/throwaway-postgres.js';
import { prepareStatements } from '../src/store/postgres/prepared.ts';
import { PostgresStore } from '../src/store/postgres/store.ts';

export interface MeasuredBackend {
  readonly client: pg.Client;
  /** The backend's CPU time so far, µs. */
  cpuUs(): number;
  /** Whether the backend sleeps, waiting for the next message (its state in /proc/<pid>/stat is S). */
  waiting(): boolean;
  close(): Promise<void>;
}

export async function measuredBackend(database: string): Promise<MeasuredBackend> {
  const server = await startThrowawayPostgres();
  const url = new URL(server.url);
  url.pathname = `/${database}`;
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  await admin.end();
  await (await PostgresStore.open({ url: url.toString() })).close();
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  prepareStatements(client);
  const backend = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
  return {
    client,
    cpuUs: () => Number(readFileSync(`/proc/${backend}/schedstat`, 'utf8').split(' ')[0]) / 1_000,
    waiting: () => readFileSync(`/proc/${backend}/stat`, 'utf8').split(') ')[1]?.startsWith('S') === true,
    close: async () => {
      await client.end();
      await server.destroy();
    },
  };
}
