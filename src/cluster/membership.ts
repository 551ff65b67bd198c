/**
 * A relay among several on one database (#18, docs/several-relays.md): it joins by checking that it
 * may (no live relay of its name, no Maildir among several relays), warns of relays with other settings, then writes its heartbeat every
 * few seconds. The heartbeat renews the leases its work loops hold, so a live relay keeps its leases however long
 * a request runs, and a dead one's end `delivery.leaseTtl` after its last heartbeat (as does a lease
 * no loop holds: a claim whose answer was lost with the connection).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { failureLogFields } from '../errors.ts';
import type { Logger } from '../log.ts';
import { settingsDiffering } from './settings.ts';
import {
  ClusterError,
  type ClusterStore,
  HEARTBEAT_INTERVAL_MS,
  type HeldLeases,
  RELAY_STALE_MS,
  type RelayMember,
  type RelaySeen,
} from '../store/cluster-types.ts';

/** While another process's heartbeat under this relay's name may still be live, look this often whether it moves. */
const JOIN_LOOK_MS = 1_000;
/** A lease is renewed at least this many times before it would end. */
const RENEWALS_PER_LEASE = 3;

/**
 * A relay whose clock is further than this from the database's is warned of: leases and heartbeats go by the
 * database's clock, but its history lines and retry times by its own, so such an offset puts them out of order
 * with the other relays' (seconds: NTP keeps clocks within milliseconds; a heartbeat's round trip is not counted).
 */
export const CLOCK_OFFSET_WARN_MS = 1_000;
/** While the offset lasts, the warning again at most this often: a line an operator sees, not one a heartbeat. */
export const CLOCK_OFFSET_REPEAT_MS = 10 * 60_000;
/**
 * A warned offset counts as ended only below this: a heartbeat's reading is a lower bound (its round trip, longer under
 * load, hides part of the offset), so an offset near CLOCK_OFFSET_WARN_MS would otherwise flip between a warning and
 * an "agrees again" line at every heartbeat.
 */
export const CLOCK_OFFSET_AGREES_MS = CLOCK_OFFSET_WARN_MS / 2;

/**
 * What a heartbeat's clock offset (the database's clock `offsetMs` ahead of this relay's) calls for, given when the
 * offset was last warned of (`warnedAt`, real ms; undefined when it was not, or has ended) and the time `at`: a warning
 * past CLOCK_OFFSET_WARN_MS at the first heartbeat that finds it and every CLOCK_OFFSET_REPEAT_MS while it lasts, an
 * "agrees again" line once a warned offset is below CLOCK_OFFSET_AGREES_MS, else nothing.
 */
export function clockOffsetLine(offsetMs: number, warnedAt: number | undefined, at: number): 'warn' | 'agrees' | undefined {
  const offset = Math.abs(offsetMs);
  if (offset > CLOCK_OFFSET_WARN_MS) return warnedAt === undefined || at - warnedAt >= CLOCK_OFFSET_REPEAT_MS ? 'warn' : undefined;
  return warnedAt !== undefined && offset <= CLOCK_OFFSET_AGREES_MS ? 'agrees' : undefined;
}

/** How often a relay with leases of `leaseTtlMs` writes its heartbeat. */
export function heartbeatInterval(leaseTtlMs: number): number {
  return Math.min(HEARTBEAT_INTERVAL_MS, Math.floor(leaseTtlMs / RENEWALS_PER_LEASE));
}

export interface MembershipOptions {
  readonly member: RelayMember;
  readonly leaseTtlMs: number;
  readonly logger: Logger;
  /** Other relays may share the store (PostgreSQL); on SQLite the data directory's lock already keeps a second relay out. */
  readonly shared: boolean;
  /** The leases the relay's work loops hold now: the heartbeat renews these, and no other lease under its name. */
  readonly held: () => HeldLeases;
}

export class Membership {
  readonly #options: MembershipOptions;
  #timer: NodeJS.Timeout | undefined;
  #beating: Promise<void> | undefined;
  /** Since when heartbeats fail, while they do: one line per episode. */
  #failingSince: number | undefined;
  #store: ClusterStore | undefined;
  /** When the clock offset was last warned of (performance.now()), while it lasts. */
  #offsetWarnedAt: number | undefined;

  constructor(options: MembershipOptions) {
    this.#options = options;
  }

  /**
   * Whether this relay may join the shared store as configured; throws ClusterError when not: a second
   * live relay of this name, a Maildir among several relays. Reads only the `relays` rows (`store` may be
   * one of an older schema, before its migration: a start refused for these reasons leaves it as it was).
   * A heartbeat under this name from another process may be this relay's own before a crash: when that
   * process is provably gone (same host, no such pid) the relay goes on at once; otherwise it watches the
   * heartbeat until it moves (a live relay: refused) or goes stale (gone: goes on), at most RELAY_STALE_MS.
   * Returns the other live relays.
   */
  async admit(store: Pick<ClusterStore, 'relaysSeen'>): Promise<RelaySeen[]> {
    const { member, logger, shared } = this.#options;
    let watched: RelaySeen | undefined;
    while (shared) {
      const live = (await store.relaysSeen(RELAY_STALE_MS)).filter((relay) => relay.stoppedAt === undefined);
      const twin = live.find((relay) => relay.name === member.name && relay.instance !== member.instance && !provablyGone(relay, member));
      if (twin) {
        if (watched && twin.heartbeatAt !== watched.heartbeatAt) {
          throw new ClusterError(
            'store.relayName',
            `another relay named "${member.name}" is running on this database (pid ${twin.pid} on ${twin.host}): give each relay its own store.relayName`,
          );
        }
        if (!watched) {
          logger.warn(
            // The other relay's pid under a name of its own: `pid` is this process's, on every line.
            { otherPid: twin.pid, host: twin.host, heartbeatAgeMs: twin.heartbeatAgeMs },
            `relay: a relay named "${member.name}" wrote a heartbeat ${Math.round(twin.heartbeatAgeMs / 1000)} s ago; waiting up to ${RELAY_STALE_MS / 1000} s to tell whether it still runs`,
          );
        }
        watched = twin;
        await sleep(JOIN_LOOK_MS);
        continue;
      }
      const others = live.filter((relay) => relay.name !== member.name);
      const refused = maildirRefusal(member, others);
      if (refused) throw refused;
      return others;
    }
    return [];
  }

  /**
   * Before the relay takes back any lease: admitted again (`admit`: a relay may have joined since the
   * start's first look, before the migration), warned of relays with other settings, then writes the
   * first heartbeat and keeps writing them.
   */
  async join(store: ClusterStore): Promise<void> {
    const { member, logger, leaseTtlMs } = this.#options;
    warnOfOtherSettings(member, await this.admit(store), logger);
    this.#clockOffset(await store.heartbeat(member, leaseTtlMs, this.#options.held()));
    this.#store = store;
    this.#timer = setInterval(() => void this.#beat(), heartbeatInterval(leaseTtlMs));
    this.#timer.unref();
  }

  async #beat(): Promise<void> {
    const store = this.#store;
    if (!store || this.#beating) return;
    const { member, leaseTtlMs, logger, held } = this.#options;
    this.#beating = store.heartbeat(member, leaseTtlMs, held()).then(
      (offsetMs) => {
        this.#clockOffset(offsetMs);
        if (this.#failingSince === undefined) return;
        // A recovery is news, not a problem: info, as the store's "commits succeed again".
        logger.info({ failedMs: Date.now() - this.#failingSince }, 'relay: heartbeats written again; leases renewed');
        this.#failingSince = undefined;
      },
      (error: unknown) => {
        if (this.#failingSince !== undefined) return;
        this.#failingSince = Date.now();
        // A store failure is the outage the store's own line tells of: its words, not a stack.
        // Only a shared store has other relays to take the work over; on SQLite the work waits for the store.
        logger.error(
          { ...failureLogFields(error), leaseTtlMs },
          this.#options.shared
            ? 'relay: cannot write its heartbeat; if this lasts longer than delivery.leaseTtl, other relays take over the work in flight (an SMS may reach the gateway twice)'
            : "relay: cannot write its heartbeat; it is written again once the store takes writes (the store's own line says why); no other relay runs on this data directory, so its work in flight waits for it",
        );
      },
    );
    await this.#beating;
    this.#beating = undefined;
  }

  /** The database's clock `offsetMs` ahead of this relay's (a heartbeat's measure): its line, if any (clockOffsetLine). */
  #clockOffset(offsetMs: number): void {
    const { logger } = this.#options;
    // Real time: the wall clock is the one in question.
    const at = performance.now();
    const line = clockOffsetLine(offsetMs, this.#offsetWarnedAt, at);
    if (line === 'agrees') {
      this.#offsetWarnedAt = undefined;
      logger.info({ clockOffsetMs: -offsetMs }, "relay: this relay's clock agrees with the database's again");
    } else if (line === 'warn') {
      this.#offsetWarnedAt = at;
      const seconds = (Math.abs(offsetMs) / 1000).toFixed(1);
      logger.warn(
        { clockOffsetMs: -offsetMs },
        `relay: this relay's clock is ${seconds} s ${offsetMs < 0 ? 'ahead of' : 'behind'} the database's; leases go by the database's clock, but the history lines and retry times this relay writes go by its own: sync its clock (NTP: chrony or systemd-timesyncd) (docs/several-relays.md)`,
      );
    }
  }

  /** After the work loops stopped: no more heartbeats, and the row says the relay stopped (its leases, if any, run out). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    const store = this.#store;
    this.#store = undefined;
    await this.#beating;
    await store
      ?.leaveCluster(this.#options.member)
      .catch((error: unknown) =>
        this.#options.logger.warn(failureLogFields(error), 'relay: could not record its stop; it shows as gone once its heartbeat is stale'),
      );
  }
}

/** A heartbeat of this name from a process on this host that no longer exists: this relay before a crash. */
function provablyGone(relay: RelaySeen, member: RelayMember): boolean {
  if (relay.host !== member.host) return false;
  try {
    process.kill(relay.pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Relays that run with other settings than this one's (src/cluster/settings.ts): the relay that claims
 * queued work sends it with its own, so an SMS accepted at one may go out through another's gateway
 * account. A warning, not a refusal: a rolling change of the configuration passes through this state.
 */
function warnOfOtherSettings(member: RelayMember, others: readonly RelaySeen[], logger: Logger): void {
  for (const relay of others) {
    const differing = settingsDiffering(member.settings, relay.settings);
    if (differing.length === 0) continue;
    logger.warn(
      { relay: relay.name, settings: differing },
      `relay: relay ${relay.name} on this database runs with other ${differing.join(', ')}: queued work is sent with the settings of the relay that claims it, a webhook or mail taken by those of the relay it reaches; give every relay the same configuration (docs/several-relays.md)`,
    );
  }
}

/** How a relay of this `mail.url` delivers its own mail, as the other relays on the database see it. */
export const mailModeOf = (mailUrl: string | undefined): RelayMember['mail'] => (mailUrl ? 'smarthost' : 'maildir');

/**
 * `config check`'s look at the relays on the database before an upgrade (docs/operations.md#upgrading,
 * step 1): the refusal a start of `member` would meet beside the live ones. A relay of its own name is
 * left aside: that is the relay being upgraded, stopped before the start.
 */
export function refusalBeside(member: Pick<RelayMember, 'name' | 'mail'>, seen: readonly RelaySeen[]): ClusterError | undefined {
  return maildirRefusal(
    member,
    seen.filter((relay) => relay.stoppedAt === undefined && relay.name !== member.name),
  );
}

/**
 * Each relay's own mail must reach the same mailboxes whichever relay sends it: a Maildir is one machine's.
 * The refusal, when `member` may not run beside the live relays `others` (of other names); `config check` tells it too.
 */
function maildirRefusal(member: Pick<RelayMember, 'mail'>, others: readonly Pick<RelaySeen, 'name' | 'mail'>[]): ClusterError | undefined {
  if (others.length === 0) return undefined;
  const names = others.map((relay) => relay.name).join(', ');
  if (member.mail === 'maildir') {
    return new ClusterError(
      'mail.url',
      `unset (a Maildir in the data directory), but relays ${names} share this database: a relay's own mail goes through the smarthost when several relays run; set mail.url on every relay`,
    );
  }
  const maildir = others.filter((relay) => relay.mail === 'maildir').map((relay) => relay.name);
  if (maildir.length === 0) return undefined;
  return new ClusterError(
    'mail.url',
    `relay ${maildir.join(', ')} on this database delivers its own mail to a Maildir: a relay's own mail goes through the smarthost when several relays run; set mail.url on it and restart it first`,
  );
}
