/** ClusterStore on PostgreSQL (src/store/cluster-types.ts): the statements SQLite runs, on the database's clock. */
import type pg from 'pg';
import { CLUSTER_SQL, type HeldLeases, RELAY_STALE_MS, type RelayMember, type RelayRow, type RelaySeen, toRelaySeen } from '../cluster-types.ts';
import type { Statement } from './batch.ts';
import { DB_NOW_MS } from './clock.ts';

/** A transaction's connection, or the pool for a read. */
type Queryable = pg.ClientBase | pg.Pool;

/** A statement of CLUSTER_SQL with `$now` as the database's clock and its `@names` as positions, in order of appearance. */
function positional(sql: string, values: Readonly<Record<string, unknown>>): { text: string; values: unknown[] } {
  const names: string[] = [];
  const text = sql.replaceAll('$now', DB_NOW_MS).replace(/@(\w+)/g, (_match, name: string) => {
    if (!names.includes(name)) names.push(name);
    return `$${names.indexOf(name) + 1}`;
  });
  return { text, values: names.map((name) => values[name]) };
}

async function run<R extends pg.QueryResultRow>(client: Queryable, sql: string, values: Readonly<Record<string, unknown>>): Promise<R[]> {
  const statement = positional(sql, values);
  return (await client.query<R>(statement.text, statement.values)).rows;
}

/**
 * A heartbeat's statements (this relay's row, its leases renewed), and last how many other relays ran
 * within RELAY_STALE_MS (`others`) with the database's clock (`now`, clockOffset): while none does, nobody listens to this relay's notifications.
 */
export function heartbeatStatements(member: RelayMember, leaseTtlMs: number, held: HeldLeases): Statement[] {
  return [
    positional(CLUSTER_SQL.upsert, { ...member }),
    ...renewals('outbound', held.sms, member.name, leaseTtlMs),
    ...renewals('mail_out', held.mail, member.name, leaseTtlMs),
    positional('SELECT COUNT(*)::int AS others, $now AS now FROM relays WHERE name <> @name AND stopped_at IS NULL AND heartbeat_at >= $now - @within', {
      name: member.name,
      within: RELAY_STALE_MS,
    }),
  ];
}

/**
 * How far the database's clock (`now`, read between `sent` and `received` by this process's) is ahead of this process's,
 * at least: the reading may have been taken anywhere in that round trip, so the offset is the part of it beyond.
 */
export function clockOffset(now: number | undefined, sent: number, received: number): number {
  if (now === undefined) return 0;
  if (now > received) return now - received;
  return now < sent ? now - sent : 0;
}

/** The leases of `ids` this relay still holds, renewed (HeldLeases); none when it holds none. */
function renewals(table: 'outbound' | 'mail_out', ids: readonly number[], name: string, ttl: number): Statement[] {
  if (ids.length === 0) return [];
  return [positional(CLUSTER_SQL.renew(table, '= ANY(@ids::bigint[])'), { name, ttl, ids })];
}

export async function relaysSeen(client: Queryable, withinMs: number): Promise<RelaySeen[]> {
  return (await run<RelayRow>(client, CLUSTER_SQL.seen, { within: withinMs })).map(toRelaySeen);
}

/**
 * `relaysSeen` on a database of any schema, before its migration: none where it has no `relays` yet
 * (a new database, or one of a schema before 12, when relays first recorded themselves). Every column
 * `toRelaySeen` reads is there since 12, but `settings` (20), which reads as none where it is missing.
 */
export async function relaysSeenAsItIs(client: Queryable, withinMs: number): Promise<RelaySeen[]> {
  const { rows } = await client.query<{ relays: string | null }>("SELECT to_regclass('relays')::text AS relays");
  return rows[0]?.relays ? relaysSeen(client, withinMs) : [];
}

export async function leaveCluster(client: Queryable, member: RelayMember): Promise<void> {
  await run(client, CLUSTER_SQL.leave, { name: member.name, instance: member.instance });
}
