/** ClusterStore on SQLite (src/store/cluster-types.ts): one relay per file, so the row only shows it in `status`. */
import type { Database } from 'better-sqlite3';
import { CLUSTER_SQL, type HeldLeases, type RelayMember, type RelayRow, type RelaySeen, toRelaySeen } from './cluster-types.ts';

/** The held ids (CLUSTER_SQL.renew) as a JSON array. */
const HELD_IDS = 'IN (SELECT value FROM json_each(@ids))';

export function prepareClusterStatements(db: Database) {
  const prepare = (sql: string) => db.prepare(sql.replaceAll('$now', '@now'));
  return {
    upsert: prepare(CLUSTER_SQL.upsert),
    renewSms: prepare(CLUSTER_SQL.renew('outbound', HELD_IDS)),
    renewMail: prepare(CLUSTER_SQL.renew('mail_out', HELD_IDS)),
    seen: prepare(CLUSTER_SQL.seen),
    leave: prepare(CLUSTER_SQL.leave),
  };
}

export type ClusterStatements = ReturnType<typeof prepareClusterStatements>;

export function heartbeat(sql: ClusterStatements, member: RelayMember, leaseTtlMs: number, held: HeldLeases, now: number): void {
  sql.upsert.run({ ...member, now });
  if (held.sms.length > 0) sql.renewSms.run({ name: member.name, ttl: leaseTtlMs, now, ids: JSON.stringify(held.sms) });
  if (held.mail.length > 0) sql.renewMail.run({ name: member.name, ttl: leaseTtlMs, now, ids: JSON.stringify(held.mail) });
}

export function relaysSeen(sql: ClusterStatements, withinMs: number, now: number): RelaySeen[] {
  return (sql.seen.all({ within: withinMs, now }) as RelayRow[]).map(toRelaySeen);
}

export function leaveCluster(sql: ClusterStatements, member: RelayMember, now: number): void {
  sql.leave.run({ name: member.name, instance: member.instance, now });
}
