/** ClusterStore on SQLite (src/store/cluster-types.ts): one relay per file, so the row only shows it in `status`. */
import type { Database } from 'better-sqlite3';
import { CLUSTER_SQL, type RelayMember, type RelayRow, type RelaySeen, toRelaySeen } from './cluster-types.ts';

export function prepareClusterStatements(db: Database) {
  const prepare = (sql: string) => db.prepare(sql.replaceAll('$now', '@now'));
  return {
    upsert: prepare(CLUSTER_SQL.upsert),
    renewSms: prepare(CLUSTER_SQL.renewSms),
    renewMail: prepare(CLUSTER_SQL.renewMail),
    seen: prepare(CLUSTER_SQL.seen),
    leave: prepare(CLUSTER_SQL.leave),
  };
}

export type ClusterStatements = ReturnType<typeof prepareClusterStatements>;

export function heartbeat(sql: ClusterStatements, member: RelayMember, leaseTtlMs: number, now: number): void {
  sql.upsert.run({ ...member, now });
  sql.renewSms.run({ name: member.name, ttl: leaseTtlMs, now });
  sql.renewMail.run({ name: member.name, ttl: leaseTtlMs, now });
}

export function relaysSeen(sql: ClusterStatements, withinMs: number, now: number): RelaySeen[] {
  return (sql.seen.all({ within: withinMs, now }) as RelayRow[]).map(toRelaySeen);
}

export function leaveCluster(sql: ClusterStatements, member: RelayMember, now: number): void {
  sql.leave.run({ name: member.name, instance: member.instance, now });
}
