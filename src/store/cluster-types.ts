/**
 * Several relays on one database (#18): who shares it, and the leases each holds. A relay's row is its
 * heartbeat (by the database's clock on PostgreSQL); the same write renews the leases it holds, so a
 * live relay never loses a lease while its request runs, and a dead relay's leases end `leaseTtl`
 * after its last heartbeat, when the others take its work over.
 */

/** A relay writes its heartbeat this often (or every third of its `delivery.leaseTtl`, if that is shorter). */
export const HEARTBEAT_INTERVAL_MS = 5_000;
/**
 * A relay whose last heartbeat is older than this is gone (three missed heartbeats): it no longer
 * counts as live for the start-up checks (a second relay of the same name, a Maildir in a cluster).
 */
export const RELAY_STALE_MS = 3 * HEARTBEAT_INTERVAL_MS;
/** `smsrelay status` and `/metrics` list the relays whose last heartbeat is this recent. */
export const RELAYS_SEEN_MS = 60 * 60_000;

/** How a relay mails its own mail (bounces, replies): only a smarthost is shared by every relay. */
export type RelayMailTransport = 'smarthost' | 'maildir';

/** One relay process, as it describes itself in its heartbeat. */
export interface RelayMember {
  /** `store.relayName`: the owner of its leases. */
  readonly name: string;
  /** Random per process: tells a second process of the same name from this one. */
  readonly instance: string;
  readonly version: string;
  /** The schema this relay's code knows (its migrations). */
  readonly schema: number;
  readonly startedAt: number;
  /** For people: where to look for it. */
  readonly pid: number;
  readonly host: string;
  readonly mail: RelayMailTransport;
  /** The digests of the settings relays must share (src/cluster/settings.ts), as JSON. */
  readonly settings: string;
}

/** A relay as the store last heard of it. */
export interface RelaySeen extends Omit<RelayMember, 'settings'> {
  /** Undefined from a relay of a version before schema 20, which keeps none. */
  readonly settings: string | undefined;
  /** Its last heartbeat, by the store's clock (the database's on PostgreSQL). */
  readonly heartbeatAt: number;
  /** How long ago that was, by the same clock. */
  readonly heartbeatAgeMs: number;
  /** When it stopped cleanly; undefined while it runs (or since it died). */
  readonly stoppedAt: number | undefined;
  /** The queued SMS and mails it holds leases on. */
  readonly leases: { readonly sms: number; readonly mail: number };
}

/**
 * The leases a relay's work loops hold now (SMS and mail ids in flight). Only these are renewed: a
 * lease under the relay's name that no loop holds — a claim that committed while its answer was lost
 * with the connection to PostgreSQL — runs out `leaseTtlMs` later and its work is claimed again,
 * instead of being renewed for as long as the relay lives.
 */
export interface HeldLeases {
  readonly sms: readonly number[];
  readonly mail: readonly number[];
}

export interface ClusterStore {
  /**
   * Records `member`'s heartbeat now and renews the leases in `held` that it still holds to end
   * `leaseTtlMs` from now, in one transaction. Resolves with how far the store's clock was from this process's
   * (ms, positive when the store's is ahead), at least: what its round trip leaves certain; 0 on SQLite, whose clock is the relay's.
   */
  heartbeat(member: RelayMember, leaseTtlMs: number, held: HeldLeases): Promise<number>;
  /** The relays whose last heartbeat is at most `withinMs` old, by name. */
  relaysSeen(withinMs: number): Promise<RelaySeen[]>;
  /** `member` stopped cleanly: no longer live (its row stays, for `status`). */
  leaveCluster(member: RelayMember): Promise<void>;
}

/**
 * A relay may not join the database as configured (a second live relay of its name, a Maildir among
 * several relays): the configuration must change. `setting` names what to change; exit 78.
 */
export class ClusterError extends Error {
  readonly setting: string;

  constructor(setting: string, message: string) {
    super(message);
    this.setting = setting;
  }
}

/** A relay's row as both stores return it, with the lease counts and the age by the store's clock. */
export interface RelayRow {
  readonly name: string;
  readonly instance: string;
  readonly version: string;
  readonly schema_version: number;
  readonly started_at: number;
  readonly heartbeat_at: number;
  readonly stopped_at: number | null;
  readonly pid: number;
  readonly host: string;
  readonly mail: string;
  readonly settings: string | null;
  readonly age: number;
  readonly sms_leases: number;
  readonly mail_leases: number;
}

export function toRelaySeen(row: RelayRow): RelaySeen {
  return {
    name: row.name,
    instance: row.instance,
    version: row.version,
    schema: row.schema_version,
    startedAt: row.started_at,
    pid: row.pid,
    host: row.host,
    mail: row.mail === 'maildir' ? 'maildir' : 'smarthost',
    settings: row.settings ?? undefined,
    heartbeatAt: row.heartbeat_at,
    heartbeatAgeMs: Math.max(0, row.age),
    stoppedAt: row.stopped_at ?? undefined,
    leases: { sms: Number(row.sms_leases), mail: Number(row.mail_leases) },
  };
}

/**
 * The statements both stores run, `$now` being the store's clock in ms: parameters by name for
 * SQLite, rewritten to positions for PostgreSQL (src/store/postgres/cluster.ts).
 */
export const CLUSTER_SQL = {
  upsert: `INSERT INTO relays (name, instance, version, schema_version, started_at, heartbeat_at, stopped_at, pid, host, mail, settings)
    VALUES (@name, @instance, @version, @schema, @startedAt, $now, NULL, @pid, @host, @mail, @settings)
    ON CONFLICT (name) DO UPDATE SET instance = excluded.instance, version = excluded.version, schema_version = excluded.schema_version,
      started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, stopped_at = NULL, pid = excluded.pid, host = excluded.host,
      mail = excluded.mail, settings = excluded.settings`,
  seen: `SELECT r.*, $now - r.heartbeat_at AS age,
      (SELECT COUNT(*) FROM outbound o WHERE o.lease_owner = r.name AND o.status = 'queued') AS sms_leases,
      (SELECT COUNT(*) FROM mail_out m WHERE m.lease_owner = r.name AND m.status = 'queued') AS mail_leases
    FROM relays r WHERE r.heartbeat_at >= $now - @within ORDER BY r.name`,
  leave: `UPDATE relays SET stopped_at = $now WHERE name = @name AND instance = @instance`,
  /**
   * The leases of `table` held under @name that its loops still hold (HeldLeases), renewed for @ttl ms;
   * `heldIds` is how the store's SQL says "id among the held ids" (@ids).
   */
  renew: (table: 'outbound' | 'mail_out', heldIds: string) =>
    `UPDATE ${table} SET next_attempt_at = $now + @ttl WHERE lease_owner = @name AND status = 'queued' AND id ${heldIds}`,
} as const;
