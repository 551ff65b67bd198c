/**
 * The operator's commands (`smsrelay status | log | queue | quarantine | config check | backup`), and the
 * web console's actions (the same code). The CLI opens the store file next to a running relay (SQLite in
 * WAL mode takes readers and short writers alongside it); they print plain text, one line per item, or
 * JSON lines where a script will read them.
 */
import { bytesAsText } from './bytes-text.ts';
import { settingsDiffering } from './cluster/settings.ts';
import { type Config, DURATION_SETTINGS } from './config/load.ts';
import type { GatewayAccount } from './config/routes.ts';
import { formatDuration } from './config/schema.ts';
import { maskedSecrets } from './config/secrets.ts';
import { maskedUrlsIn } from './masked-url.ts';
import { isStoreFailure, storeFailureReason } from './errors.ts';
import type { CountryCode } from 'libphonenumber-js';
import { type AccountIdAddresses, localPartNumber } from './acceptance/recipient-addresses.ts';
import { isAtSmsDomain, isMailbox, numberWritten, smsDomainOf } from './mail/addresses.ts';
import { normaliseNumber } from './sms/numbers.ts';
import { RELAY_STALE_MS, RELAYS_SEEN_MS, type RelaySeen } from './store/cluster-types.ts';
import { upgradeAhead } from './store/migrations.ts';
import { sentOrToBeSent } from './store/rows.ts';
import type { SharedPause } from './store/shared-state-types.ts';
import { redactUrl } from './store/postgres/url.ts';
import type { ReplyMailSettings } from './replies/reply-mail.ts';
import type { ReplyNotes } from './replies/reply-notes.ts';
import {
  type LeasedSms,
  OPERATOR,
  type QuarantineDeletion,
  type QuarantineSpan,
  type QueueAction,
  type QueueStats,
  type QueueTarget,
  type SmsState,
  smsQueueDepth,
  type Store,
  type StoredEvent,
} from './store/types.ts';

/** What a list prints unless told otherwise: a page a terminal scrolls back through (`queue list --limit` takes more). */
export const LISTED = 1000;
/** The most `queue list --limit` takes: a page is read and printed as one text in memory; a longer queue is read page by page (`--after`). */
export const MOST_LISTED = 10_000;

/** A command's arguments are missing or wrong: the CLI prints the reason and its usage, exit 64. */
export class UsageError extends Error {}

/**
 * What a command names is not there (any more: another operator, or another relay, may have handled
 * it): exit 1; the console answers 404. `what` names it without the CLI's hint.
 */
/** The quarantined requests up to the newest a confirmation named are not the ones it showed: nothing was deleted; `now`, what is kept now. */
export class QuarantineChanged extends Error {
  constructor(readonly now: QuarantineSpan) {
    super('The quarantined requests changed since the confirmation was shown: nothing was deleted. Confirm again with the numbers now.');
  }
}

export class NotFound extends Error {
  constructor(
    readonly what: string,
    hint = '',
  ) {
    super(`no ${what}${hint}`);
  }
}

/** An action's answer, and how many things it changed (an action that changed nothing joins no history). */
export interface Outcome {
  readonly said: string;
  readonly changed: number;
  /** A retry that changed no SMS made a paused provider's probe due: it acted, and is audited as one that changed something. */
  readonly probed?: boolean;
}

/** A due probe waits for an SMS to probe with: said so, rather than a time already past. */
const PROBE_WITH_NEXT_SMS = 'with the next SMS for it';

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** A store of an older schema (`olderSchema`), which only `start` upgrades: `config check` opens none of it. */
export interface OlderStore {
  readonly olderSchema: number;
}

/** No store yet in the data directory `dataDir` (a new installation, before its first start). */
export interface NoStoreYet {
  readonly noStoreIn: string;
  /** Start refuses to create it (a lost store's copy beside it): the check's next line says why. */
  readonly startRefused?: boolean;
}

/**
 * The effective configuration with every secret masked and durations as written (`5m`), and the store's
 * durability. A store that cannot be reached now does not hide the configuration (the first thing to
 * read when it cannot be reached): its line says so, and `unreachable` is told; nor does one of an older
 * schema (what to check before upgrading): its line says `start` will upgrade it.
 */
export async function configCheck(config: Config, store: Store | OlderStore | NoStoreYet, unreachable: () => void = () => undefined): Promise<string> {
  const shown = JSON.stringify(masked(asWritten(config)), null, 2);
  if ('olderSchema' in store) return `${shown}\n${upgradeAhead(store.olderSchema)}`;
  // A new installation's configuration is checked before its first start, which creates the store.
  if ('noStoreIn' in store) return `${shown}\nstore: none yet in ${store.noStoreIn}${store.startRefused ? '' : '; `smsrelay start` creates it'}`;
  let durability: Awaited<ReturnType<Store['durability']>>;
  try {
    durability = await store.durability();
  } catch (error) {
    if (!isStoreFailure(error)) throw error;
    unreachable();
    return `${shown}\nstore: cannot be reached now (${storeFailureReason(error)})`;
  }
  const line = durability.server
    ? `store: ${durability.server} ${durability.journalMode} synchronous_commit=${durability.synchronous}`
    : `store: journal_mode=${durability.journalMode} synchronous=${durability.synchronous}`;
  return `${shown}\n${line}`;
}

/**
 * The gateway section as a file writes it, so that the output is a configuration to copy back: each
 * provider as configured (`simulator`, `puzzel-simulator`), its own keys beside the shared ones, routes
 * naming their providers and the accounts they name under `providers`; none of what the relay derives
 * from them (the plug-in's name, the account's meaning to it). A simulator shows no URL: it runs on the
 * relay's own HTTP port, not at the provider's hosts.
 */
function gatewayAsWritten(gateway: Config['gateway']): Record<string, unknown> {
  const shared = Object.fromEntries(SHARED_GATEWAY_KEYS.map((key) => [key, gateway[key]]));
  const named = (gateway.routes ?? []).flatMap((route) => route.providers).filter((account) => account.configuredAs !== gateway.configuredAs);
  return {
    provider: gateway.configuredAs,
    ...shared,
    ...accountAsWritten(gateway),
    routes: gateway.routes?.map(({ name, match, providers }) => ({ name, match, providers: providers.map((account) => account.configuredAs) })),
    providers: named.length === 0 ? undefined : Object.fromEntries(named.map((account) => [account.configuredAs, accountAsWritten(account)])),
  };
}

/** The keys of the gateway section that are neither an account's nor the routes'. */
const SHARED_GATEWAY_KEYS = ['publicUrl', 'connectTimeout', 'responseTimeout', 'maxConcurrentRequests', 'failoverRecovery'] as const;

/**
 * One account's keys as written: the shared account keys (no URL for a simulator, nor for a gateway reached at
 * a host of its own settings: SMPP's `host`) and its plug-in's own, its durations as a file writes them.
 */
function accountAsWritten({ simulated, ownHost, url, backupUrl, username, password, maxParts, settings, durations }: GatewayAccount): Record<string, unknown> {
  const own = Object.entries(settings).map(([key, value]) => [key, durations.includes(key) && typeof value === 'number' ? formatDuration(value) : value]);
  return { ...(simulated || ownHost ? {} : { url, backupUrl }), username, password, maxParts, ...Object.fromEntries(own) };
}

function masked(value: unknown): unknown {
  return maskedSecrets(value, (leaf, path) => {
    if (DURATION_SETTINGS.has(path) && typeof leaf === 'number') return formatDuration(leaf);
    // The database's user helps to tell which account a relay uses; its password never shows.
    if (path === 'store.url' && typeof leaf === 'string') return redactUrl(leaf);
    return undefined;
  });
}

/**
 * The configuration as a file writes it, a valid one to copy back: the gateway as configured
 * (`gatewayAsWritten`); an unset retention as `keep` (JSON would leave the setting out as if there were
 * none); the trusted proxies under their name, not also under the old `console.trustedProxies`; the
 * postmaster's mailbox only when written (the default at an SMS domain would be refused as a loop if
 * written); no file name.
 */
function asWritten({ file: _file, gateway, store, console: { trustedProxies: _oldName, ...console }, mail, sms, ...config }: Config): unknown {
  const defaultPostmaster = mail.postmaster !== undefined && isAtSmsDomain(mail.postmaster, sms.domains);
  return {
    ...config,
    sms,
    gateway: gatewayAsWritten(gateway),
    mail: { ...mail, postmaster: defaultPostmaster ? undefined : mail.postmaster },
    store: { ...store, retention: store.retention ?? 'keep' },
    console,
  };
}

/**
 * `here` is the relay of this data directory: its pid while it holds the directory (from its lock
 * file), and its name (`store.relayName`), which tells it from the other relays sharing the store; with its
 * configuration's `settings` (src/cluster/settings.ts), the relays whose settings differ say which.
 */
export async function status(
  store: Store,
  now: number,
  here: { readonly pid: number | undefined; readonly name: string; readonly settings?: string | undefined; readonly database: boolean },
): Promise<string> {
  const stats = await store.queueStats(now);
  const paused = await store.dispatchPausedSince();
  const { pauses } = await store.gatewayState(now);
  const nextDue = await store.nextSmsDueAt();
  const relays = await store.relaysSeen(RELAYS_SEEN_MS);
  // On a shared database the queue is everyone's: the others send it while this one is down.
  const others = relays.filter((relay) => relay.name !== here.name && running(relay)).map((relay) => relay.name);
  const sentBy = others.length > 0 ? `queued SMS are sent by ${others.join(', ')}, running on this database` : undefined;
  // On PostgreSQL a fresh heartbeat under this name is news the lock cannot give (it may run elsewhere): said as its row says it (relayLines).
  const ownHeard = here.database && relays.some((relay) => relay.name === here.name && running(relay));
  const notRunning = ownHeard
    ? `${OWN_NAME_HEARD}${sentBy ? `; ${sentBy}` : ''}`
    : sentBy
      ? `not running here (${sentBy})`
      : 'not running (queued SMS wait for it to start)';
  return [
    `relay: ${here.pid === undefined ? notRunning : `running (pid ${here.pid})`}`,
    ...dispatchLines(paused, pauses, nextDue, now),
    // Held SMS are queued too; a scheduled one waits for its time (its age counts from it).
    `sms queued: ${counted.format(smsQueueDepth(stats.sms))} (held: ${counted.format(stats.sms.held)}${scheduledNote(stats.sms)}), oldest ${stats.sms.oldestAgeSeconds} s`,
    `mail queued: ${counted.format(stats.mail.queued)}, oldest ${stats.mail.oldestAgeSeconds} s`,
    // Both kinds are listed and rerouted alike: no mailbox found, or their reply mail refused or bounced.
    `inbound SMS undeliverable (no mailbox, or their mail refused or bounced): ${stats.undeliverableInbound} (smsrelay undeliverable)`,
    `quarantined webhook requests: ${stats.quarantined}`,
    ...(await store.listQueued(5))
      .filter((sms) => sms.lastError)
      .map((sms) => `last error ${sms.messageId} ${sms.number}: ${maskedUrlsIn(sms.lastError ?? '')}`),
    ...(await store.queuedMailErrors(5)).map(
      (mail) => `last error mail ${mail.mailId} (${mail.kind}${mail.messageId ? ` about ${mail.messageId}` : ''}): ${maskedUrlsIn(mail.lastError)}`,
    ),
    ...relayLines(relays, here),
  ].join('\n');
}

/**
 * Whether sending goes on: paused by the operator (`queue pause`), or for a provider whose gateway
 * refuses the account, is down or asked for a wait (the dispatcher's pause, shared by every relay on
 * the store), with why and since when.
 * The next probe as nextProbeAt finds it (`nextDue`: the store's nextSmsDueAt).
 */
function dispatchLines(
  pausedSince: number | undefined,
  pauses: readonly SharedPause[],
  nextDue: number | undefined,
  now: number,
  time = CLI_WORDING.time,
): string[] {
  const lines = [
    ...(pausedSince === undefined ? [] : [`dispatch: paused since ${time(pausedSince)}`]),
    ...pauses.map((pause) => `${pauseLine(pause, time)}; next probe ${nextProbe(pause, nextDue, now, time)}`),
  ];
  return lines.length > 0 ? lines : ['dispatch: running'];
}

/**
 * When a paused provider's probe goes, for `smsrelay status` and the console's overview alike (`time`
 * writes a time as each shows times): a probe is an SMS for it, so at the pause's probe time or when the
 * next queued SMS comes due, whichever is later (one released or retried is due at its own time, not at
 * the probe's); with none queued, once the probe's time has passed, the next one that comes probes
 * (PROBE_WITH_NEXT_SMS). `nextDue` is the store's nextSmsDueAt, read from the store as the pause is, so
 * that every reader sees the same.
 */
export function nextProbe(pause: Pick<SharedPause, 'nextProbeAt'>, nextDue: number | undefined, now: number, time: (at: number) => string): string {
  const at = Math.max(pause.nextProbeAt, nextDue ?? Number.NEGATIVE_INFINITY);
  if (at > now) return time(at);
  return nextDue === undefined ? PROBE_WITH_NEXT_SMS : 'now';
}

/** A provider's pause (its account refused, every host of it down, or a wait it asked for): which, since when, why. */
function pauseLine(pause: SharedPause, time: (at: number) => string): string {
  return `dispatch: paused for ${pause.provider} since ${time(pause.since)} (${pause.reason})`;
}

/** The scheduled SMS among the queued, if any: `, scheduled: 2, next at <time>`. */
function scheduledNote(sms: QueueStats['sms']): string {
  return sms.nextScheduledAt === undefined ? '' : `, scheduled: ${counted.format(sms.scheduled)}, next at ${new Date(sms.nextScheduledAt).toISOString()}`;
}

/** What a relay's line adds when its settings are not this configuration's (src/cluster/settings.ts). */
function otherSettings(differing: readonly string[]): string {
  return differing.length === 0
    ? ''
    : `; other settings than this configuration's: ${differing.join(', ')} (queued work goes by the claiming relay's, a webhook or mail by the receiving relay's)`;
}

/**
 * This configuration's relay on PostgreSQL, not running where `status` runs, its heartbeat fresh: the database knows
 * only that, and the data directory's lock nothing of a relay elsewhere. Stale, it reads as any relay silent.
 */
const OWN_NAME_HEARD = `not running here, heard from on this database within ${RELAY_STALE_MS / 1000} s (it stopped without recording its stop, or runs elsewhere under this store.relayName)`;

/** Heard from within RELAY_STALE_MS and not stopped. */
function running(relay: RelaySeen): boolean {
  return relay.stoppedAt === undefined && relay.heartbeatAgeMs <= RELAY_STALE_MS;
}

/**
 * The relays on the store heard from in the last hour (several on one PostgreSQL: docs/several-relays.md), one
 * line each. This data directory's relay is running only while it holds the directory (`here.pid`, from its
 * lock), as the first line of `status` says: on SQLite a fresh heartbeat without it is a relay that stopped without
 * recording its stop (its store lost, then restored), not one that runs; on PostgreSQL (`here.database`), shared
 * by relays elsewhere, its row says what the database knows, its heartbeat, as the others' do.
 */
function relayLines(
  relays: readonly RelaySeen[],
  here: { readonly pid: number | undefined; readonly name: string; readonly settings?: string | undefined; readonly database: boolean },
): string[] {
  const notHere = (relay: RelaySeen) => relay.name === here.name && here.pid === undefined;
  const state = (relay: RelaySeen) =>
    relay.stoppedAt !== undefined
      ? `stopped ${new Date(relay.stoppedAt).toISOString()}`
      : notHere(relay) && !here.database
        ? 'not running here (no relay holds this data directory: it stopped without recording its stop)'
        : running(relay)
          ? notHere(relay)
            ? OWN_NAME_HEARD
            : 'running'
          : 'silent (not stopped cleanly: its leases are taken over as they end)';
  return [
    `relays seen in the last hour: ${relays.length}`,
    ...relays.map(
      (relay) =>
        `  ${relay.name}: ${state(relay)}, version ${relay.version} (schema ${relay.schema}), pid ${relay.pid} on ${relay.host}, ` +
        `last heartbeat ${Math.round(relay.heartbeatAgeMs / 1000)} s ago, leases: ${relay.leases.sms} SMS, ${plural(relay.leases.mail, 'mail')}` +
        otherSettings(here.settings === undefined ? [] : settingsDiffering(here.settings, relay.settings)),
    ),
  ];
}

/**
 * A queued SMS's X-SMS-Send-At: still ahead, or passed while it waits (a paused dispatch or account, a
 * busy queue), when "scheduled for" a past time would read as a time still to come.
 */
function scheduleOf(scheduledFor: number | undefined, now: number): string {
  if (scheduledFor === undefined) return '';
  const at = new Date(scheduledFor).toISOString();
  return scheduledFor > now ? `, scheduled for ${at}` : `, due since ${at} (its X-SMS-Send-At)`;
}

/** What reads as a phone number rather than a message id: digits, with a `+` and the separators people write. */
const LOOKS_LIKE_A_NUMBER = /^\+?[\d\s().-]{6,}$/;

/** A UUID, either case: the shape of a relay message id (UUIDv7) and of a console test send's form id alike. */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A mail's own Message-ID as an operator pastes it, angle brackets optional: one `left@right`, as the relay keeps them (mail/extract.ts). */
const MAIL_MESSAGE_ID = /^<?([!#-;=?A-~]+@[!#-;=?A-~]+)>?$/;

/**
 * A message id as an operator gives it, to the console's Messages search and to `smsrelay log` alike: the relay's
 * (a UUID, any case), or the mail's own Message-ID as its sender knows it (`<abc@example.com>`, brackets optional),
 * kept with its brackets as the store keeps it; undefined for neither.
 */
export function messageIdSearch(text: string): { readonly messageId: string } | { readonly messageIdHeader: string } | undefined {
  const id = text.trim();
  if (UUID.test(id)) return { messageId: id.toLowerCase() };
  const header = MAIL_MESSAGE_ID.exec(id)?.[1];
  return header === undefined ? undefined : { messageIdHeader: `<${header}>` };
}

/**
 * A message's whole history, or the newest messages to a number (newest first) with theirs: LOGGED unless `limit` says, a list cut short said through `note`.
 * `smsrelay log`: a number as a sender would write it (`+44 7700 900123`, `07700 900123` in `defaultRegion`)
 * is read as the SMTP side reads it. Nothing known is an error (exit 1), as for `queue` on an unknown id.
 */
export async function history(
  store: Store,
  subject: string,
  now: number,
  defaultRegion?: CountryCode,
  {
    limit,
    note = () => undefined,
    withMessageId,
    smsDomains = [],
    accountIdAddresses,
  }: {
    readonly limit?: string | undefined;
    readonly note?: (line: string) => void;
    /** sms.domains: `<number>@<one of them>` (copied from a mail's To or a bounce) is that number. */
    readonly smsDomains?: readonly string[];
    /** A provider that sends reads `<number>-<account id>@` (Puzzel's), with these ids: so does this, as RCPT does. */
    readonly accountIdAddresses?: AccountIdAddresses | undefined;
    /** The relay's ids of the mails with this Message-ID header, newest first, at most `limit`: the console's Messages search. */
    readonly withMessageId?: (header: string, limit: number) => Promise<readonly string[]>;
  } = {},
): Promise<string> {
  if (subject === '') throw new UsageError('log needs a message id or a phone number');
  const written = numberWritten(subject, smsDomains);
  // An address is read as RCPT reads it (Puzzel's `<number>-<serviceId>@` too); a number typed alone as a sender writes one.
  const read = !LOOKS_LIKE_A_NUMBER.test(written)
    ? undefined
    : written === subject
      ? normaliseNumber(written, defaultRegion)
      : localPartNumber(written, defaultRegion, accountIdAddresses);
  const number = read?.ok ? read.e164 : undefined;
  // Digits that cannot be read as a number get why (a national one without sms.defaultRegion) before what --limit counts.
  if (limit !== undefined && read !== undefined && !read.ok) throw new UsageError(`log: ${read.reason}`);
  if (limit !== undefined && !number)
    throw new UsageError(`log: --limit counts the messages to a number; ${subject} is no number, and a message's history is shown whole`);
  const most = logLimit(limit);
  // Read up to one more than log ever shows: how many there are (up to that), said on stderr with the --limit that shows them.
  const newest = async <T>(kind: { readonly one: string; readonly many: string }, rows: readonly T[]): Promise<readonly T[]> => {
    if (rows.length > most) {
      const shown = most === 1 ? kind.one : `${counted.format(most)} ${kind.many}`;
      const of = rows.length > MOST_LOGGED ? `more than ${counted.format(MOST_LOGGED)}` : counted.format(rows.length);
      const more = most < MOST_LOGGED ? `; more: smsrelay log ${number} --limit ${Math.min(rows.length, MOST_LOGGED)}` : ', the most log shows';
      note(`log: the newest ${shown} ${number} only, of ${of}${more}`);
    }
    return rows.slice(0, most);
  };
  const ids = number
    ? await newest({ one: 'message to', many: 'messages to' }, await store.messagesOfNumber(number, MOST_LOGGED + 1))
    : await idsOf(subject, withMessageId);
  const lines: string[] = [];
  const received = { one: 'SMS received from', many: 'SMS received from' };
  for (const reply of number ? await newest(received, await store.repliesOfNumber(number, MOST_LOGGED + 1)) : []) {
    // A mail another relay sent again after its relay's lease ended: the mailbox may have it twice, as an SMS's phone.
    const duplicates = reply.mail && reply.mail.possibleDuplicates > 0 ? ` (${plural(reply.mail.possibleDuplicates, 'possible duplicate')})` : '';
    const mail = reply.mail ? `mail ${reply.mail.status}${duplicates}${reply.mail.error ? ` (${reply.mail.error})` : ''}` : undefined;
    // An SMS whose mail failed (refused, or bounced after the smarthost took it) names the mailbox that mail went to.
    const mailed = reply.mailbox
      ? `to ${reply.mailbox}${mail ? `, ${mail}` : ''}`
      : reply.mail
        ? `to ${reply.mail.to}, ${mail}: kept as undeliverable`
        : 'no mailbox: kept as undeliverable';
    const erased = reply.textErased ? '; its text was erased by store.retention' : '';
    lines.push(`reply ${reply.id} ${new Date(reply.receivedAt).toISOString()}${reply.context ? ` [UserContext: ${reply.context}]` : ''}: ${mailed}${erased}`);
  }
  for (const id of ids) {
    const events = await store.events(id);
    if (events.length === 0) continue;
    lines.push(`message ${id}`);
    const smsOfMessage = await store.smsOf(id);
    const numberOf = eventNumbers(smsOfMessage);
    for (const sms of smsOfMessage) {
      const delivery = sms.delivery && sms.delivery !== sms.status ? `, delivery report: ${sms.delivery}` : '';
      // A request that may have reached the gateway without an answer: the phone may have this SMS twice.
      const duplicates = sms.possibleDuplicates > 0 ? ` (${plural(sms.possibleDuplicates, 'possible duplicate')})` : '';
      lines.push(
        `  ${sms.number}: ${sms.status}${sms.held && sms.status === 'queued' ? ' (held)' : ''}${scheduleOf(sms.scheduledFor, now)}${delivery}, ${attemptsOf(sms)}${duplicates}${sms.providerId ? `, gateway id ${sms.providerId}` : ''}`,
      );
    }
    for (const event of events) {
      const number = numberOf(event);
      lines.push(`  ${new Date(event.at).toISOString()} ${number ? `${number}: ` : ''}${describeEvent(event.kind, event.detail)}`);
    }
  }
  // Digits that are no message id and cannot be read as a number (a national one without sms.defaultRegion)
  // were written wrongly, not unknown: say why and how to write them, as RCPT's refusal does.
  if (lines.length === 0 && read !== undefined && !read.ok) throw new UsageError(`log: ${read.reason}`);
  if (lines.length === 0)
    throw new Error(
      `nothing known about ${subject}${number ? ` (${number})` : ''}: no message with that id or Message-ID${number ? ', no SMS to or from that number' : ''}`,
    );
  return lines.join('\n');
}

/**
 * What a relay that stopped (or was killed) with a request for an SMS in flight leaves known of it: the console and
 * `log` alike. The history has no line for it until the next start's "resumed".
 */
export const ATTEMPT_CUT_OFF = `answer unknown (the relay sending it stopped, or was not heard from for ${RELAY_STALE_MS / 1000} s, first; the gateway may have it, and it is sent again when that relay starts, or by another once the lease ends)`;

/** An SMS's attempts as `log` says them, the one under way or cut off (its answer unknown) counted. */
function attemptsOf(sms: SmsState): string {
  if (sms.attemptCutOff) return `${plural(sms.attempts + 1, 'attempt')}, the last one's ${ATTEMPT_CUT_OFF}`;
  if (sms.beingSent && sms.leasedUntil !== undefined)
    return `${plural(sms.attempts + 1, 'attempt')}, the last being sent now (its answer due by ${new Date(sms.leasedUntil).toISOString()})`;
  return plural(sms.attempts, 'attempt');
}

/** The messages `log <id>` shows: the relay's id as given, or those of a mail's Message-ID (messageIdSearch), newest first. */
async function idsOf(subject: string, withMessageId: ((header: string, limit: number) => Promise<readonly string[]>) | undefined): Promise<readonly string[]> {
  const search = messageIdSearch(subject);
  if (search && 'messageIdHeader' in search && withMessageId) return withMessageId(search.messageIdHeader, MOST_LOGGED);
  return [search && 'messageId' in search ? search.messageId : subject];
}

/** How many messages to a number (and SMS from it) `smsrelay log <number>` shows unless --limit says: a burst's latest on one screen. */
const LOGGED = 20;
/** The most `log --limit` takes: each message's history is read with queries of its own, and all of it printed as one text. */
export const MOST_LOGGED = 1000;

/** `log`'s `--limit <n>`: from 1 to MOST_LOGGED; LOGGED when not given. */
function logLimit(limit: string | undefined): number {
  if (limit === undefined) return LOGGED;
  const number = /^\d{1,15}$/.test(limit) ? Number(limit) : Number.NaN;
  if (!(number >= 1 && number <= MOST_LOGGED)) throw new UsageError(`log: --limit needs a number from 1 to ${counted.format(MOST_LOGGED)}`);
  return number;
}

/**
 * The number each line of a message's history is about, for a mail to several numbers (its SMS's lines: sent, a
 * report, an operator's action); undefined for a mail to one (its SMS table says it) and for the mail's own lines.
 * `smsrelay log` and the console's timeline name it alike.
 */
export function eventNumbers(sms: readonly SmsState[]): (event: StoredEvent) => string | undefined {
  const numbers = new Map(sms.length > 1 ? sms.map((item) => [item.smsId, item.number]) : []);
  return (event) => (event.smsId === undefined ? undefined : numbers.get(event.smsId));
}

/** An event as a line: `operator hold` reads "held by the operator" (or by whom the console names), not "operator hold: by the operator". */
function describeEvent(kind: string, detail: string | undefined): string {
  const operator = /^operator (hold|release|retry|send now|delete)$/.exec(kind)?.[1];
  if (operator)
    return `${{ hold: 'held', release: 'released', retry: 'retried now', 'send now': 'sent now, before its scheduled time,', delete: 'deleted from the queue' }[operator]} ${detail ?? OPERATOR}`;
  return `${kind}${detail ? `: ${maskedUrlsIn(detail)}` : ''}`;
}

/**
 * `queue list [--after <sms id>] [--limit <n>] | hold | release | retry | delete [<message id> | all] | pause | resume`.
 * A list cut short, or empty, says so to `note` (the CLI's stderr), with how many are queued and how to read on:
 * its output is JSON lines only, for a pipe into jq.
 */
export async function queue(store: Store, args: readonly string[], now: number, note: (line: string) => void = () => undefined): Promise<string> {
  checkQueueArgs(args);
  const [command = 'list', target, option] = args;
  if (command === 'list') return listQueue(store, args.slice(1), now, note);
  return (await queueAction(store, command === 'retry' && option === SEND_NOW ? 'send now' : command, target, now)).said;
}

/** `queue`'s arguments as `queue` reads them, checked without a store: the CLI refuses a mistake before it opens one. */
export function checkQueueArgs(args: readonly string[]): void {
  const [command = 'list', target] = args;
  if (command === 'list') {
    queueListOptions(args.slice(1));
    return;
  }
  const pauseOrResume = command === 'pause' || command === 'resume';
  const sendNow = command === 'retry' && args[2] === SEND_NOW;
  // `retry --now` with no id: the option is not an id (nor is it one of hold's or the others').
  if ((sendNow && target === 'all') || (command === 'retry' && target === SEND_NOW)) {
    throw new UsageError(`queue retry ${SEND_NOW} needs a message id: it sends scheduled SMS one message at a time`);
  }
  if (command !== 'retry' && args.includes(SEND_NOW)) throw new UsageError(`queue ${command} takes no ${SEND_NOW}: only queue retry <message id> ${SEND_NOW}`);
  const most = pauseOrResume ? 1 : sendNow ? 3 : 2;
  if (args.length > most) throw new UsageError(`queue ${command}: unexpected argument "${args.slice(most).join(' ')}"`);
  if (!pauseOrResume) checkQueueAction(command, target);
}

/** A queue action on SMS (not pause or resume): one of the four, with a message id or `all`. */
function checkQueueAction(command: string, target: string | undefined): asserts target is string {
  if (!['hold', 'release', 'retry', 'delete'].includes(command)) throw new UsageError(`unknown queue command "${command}"`);
  if (!target) throw new UsageError(`queue ${command} needs a message id, or "all"`);
}

/** `queue retry <message id> --now`: sends that message's scheduled SMS before their time too (a plain retry leaves them). */
const SEND_NOW = '--now';

/** A count as the operator reads it: 40,002. */
export const counted = new Intl.NumberFormat('en');

/** `queue list`: a page of the queued SMS in the order they were queued, one JSON line each (queue). */
async function listQueue(store: Store, options: readonly string[], now: number, note: (line: string) => void): Promise<string> {
  const { after, limit } = queueListOptions(options);
  // One more than the page: whether there is a next one, without counting the queue every time.
  const queued = await store.listQueued(limit + 1, after);
  const page = queued.slice(0, limit);
  const last = page.at(-1);
  if (queued.length > limit && last) {
    const { sms } = await store.queueStats(now);
    note(
      `queue list: ${after > 0 ? `${counted.format(limit)} after SMS ${after}` : `the first ${counted.format(limit)}`} of ${counted.format(smsQueueDepth(sms))} queued SMS; the next: smsrelay queue list --after ${last.smsId}`,
    );
  }
  if (!last) note(after > 0 ? `queue list: no queued SMS after SMS ${after}` : 'queue list: no queued SMS');
  return page
    .map((sms) => JSON.stringify({ ...sms, receivedAt: new Date(sms.receivedAt).toISOString(), nextAttemptAt: new Date(sms.nextAttemptAt).toISOString() }))
    .join('\n');
}

/** `queue list`'s options: `--after <sms id>` (the smsId of the last line of the page before), `--limit <n>` (at most MOST_LISTED). */
function queueListOptions(words: readonly string[]): { after: number; limit: number } {
  let after = 0;
  let limit = LISTED;
  for (let index = 0; index < words.length; index += 2) {
    const [name, value = ''] = [words[index], words[index + 1]];
    if (name !== '--after' && name !== '--limit') {
      // The stray words alone, not the options after them: `extra --limit 2` is "extra".
      const stray = words.slice(index);
      const next = stray.findIndex((word, at) => at > 0 && word.startsWith('--'));
      throw new UsageError(`queue list: unexpected argument "${stray.slice(0, next < 0 ? undefined : next).join(' ')}"`);
    }
    const number = /^\d{1,15}$/.test(value) ? Number(value) : Number.NaN;
    if (name === '--after') {
      if (Number.isNaN(number)) throw new UsageError('queue list: --after needs an SMS id (the smsId of the last line listed)');
      after = number;
    } else {
      if (!(number >= 1 && number <= MOST_LISTED)) throw new UsageError(`queue list: --limit needs a number from 1 to ${counted.format(MOST_LISTED)}`);
      limit = number;
    }
  }
  return { after, limit };
}

/**
 * How an action's answer names what its reader does next and when: the CLI's (commands, ISO times) or the
 * console's (its buttons, times as its pages show them).
 */
export interface Wording {
  /** How this user resumes dispatch. */
  readonly resume: string;
  /** How this user makes a paused provider's probe due now. */
  readonly probeNow: string;
  /** How this user sends a message's scheduled SMS before their time. */
  readonly sendNow: (messageId: string) => string;
  readonly time: (at: number) => string;
}

const CLI_WORDING: Wording = {
  resume: '`smsrelay queue resume`',
  probeNow: "`smsrelay queue retry all` (the console's Retry all now)",
  sendNow: (messageId) => `smsrelay queue retry ${messageId} ${SEND_NOW}`,
  time: (at) => new Date(at).toISOString(),
};

/**
 * A queue action on a message (or one SMS of it) that could change none of its SMS, for a reason the operator must read
 * rather than a "0 changed" that reads as done: the CLI exits 1, as for an id no message has; the console answers 409.
 */
export class NothingChanged extends Error {}

/**
 * One SMS being sent (a relay's attempt on it going on) that a delete left: the gateway may have it already, and its answer
 * decides whether it was sent, so it is not said deleted (nor failed).
 */
export class BeingSent extends NothingChanged {}

/**
 * `queue hold | release | retry | delete <message id | all>`, `queue pause | resume`: the CLI's and the
 * console's queue actions (the console's rows: on one SMS of a message), each line of the answer one line of `said`, in the reader's `wording`; `by`
 * names who in each changed SMS's history (the console's user; the CLI knows none).
 */
export async function queueAction(
  store: Store,
  command: string,
  target: QueueTarget | 'all',
  now: number,
  wording = CLI_WORDING,
  by?: string,
): Promise<Outcome> {
  if (command === 'pause') {
    await store.setDispatchPaused(true, now);
    return { said: `dispatch paused: queued SMS stay queued until ${wording.resume}`, changed: 1 };
  }
  if (command === 'resume') {
    await store.setDispatchPaused(false, now);
    return { said: ['dispatch resumed', ...(await accountPauseLines(store, now, 'hint', wording))].join('\n'), changed: 1 };
  }
  const sendNow = command === 'send now';
  const one = typeof target === 'object' ? target : undefined;
  const messageId = typeof target === 'object' ? target.messageId : target;
  checkQueueAction(sendNow ? 'retry' : command, messageId);
  const { changed, due, leased } = await store.applyQueueAction(command as QueueAction, messageId === 'all' ? undefined : (one ?? messageId), now, by);
  const ofMail = messageId === 'all' ? undefined : await store.smsOf(messageId);
  const sms = ofMail?.filter((item) => !one || item.smsId === one.smsId);
  // A mistyped id changes nothing, as a message whose SMS are all sent does: only the first is a mistake.
  if (changed === 0 && sms?.length === 0) {
    throw new NotFound(one ? `SMS ${one.smsId} of message ${one.messageId}` : `message with id ${messageId}`, ' (see smsrelay queue list)');
  }
  // Every SMS of it finished (sent, failed, expired, deleted): no action changes one; each is said how it ended.
  if (changed === 0 && sms?.every((item) => item.status !== 'queued')) throw new NothingChanged(nothingQueued(command as QueueAction, sms, ofMail ?? sms));
  if (command === 'delete')
    return deleted(
      changed,
      leased.filter((item) => !item.ended),
      wording,
    );
  if (command === 'hold') return { said: `${command}: ${counted.format(changed)} queued SMS changed`, changed };
  // A retry that found nothing due nor made anything due has nothing to probe with: no probe promised, nor a retry offered to probe.
  // The operator's pause keeps every SMS queued, due or not: without a word, a retry or release looks done and nothing goes.
  const waiting = changed + due;
  const operatorPause =
    waiting > 0 && (await store.dispatchPausedSince()) !== undefined
      ? [`dispatch paused: ${waiting === 1 ? 'it stays' : 'they stay'} queued until ${wording.resume}`]
      : [];
  const probing = command !== 'release' && waiting > 0;
  const accountPauses = await accountPauseLines(store, now, command === 'release' ? 'hint' : probing ? 'probe' : 'plain', wording);
  const pauses = [...operatorPause, ...accountPauses];
  if (command === 'release') return { said: [`release: ${counted.format(changed)} queued SMS changed`, ...pauses].join('\n'), changed };
  // A retry makes due only SMS that are not held, nor scheduled for later, nor leased: each left alone is said so, rather than counted as retried.
  const left = sms ? leftOf(sms, now) : await leftInQueue(store, now);
  const [sending, cutOff] = [leased.filter((item) => !item.ended), leased.filter((item) => item.ended)];
  const notDone = sendNow ? 'sent now' : 'retried';
  const leftAlone = [
    ...(sending.length > 0
      ? [
          `${counted.format(sending.length)} being sent, not ${notDone}: the gateway may have ${sending.length === 1 ? 'it' : 'them'} already, and its answer decides what comes next (due by ${wording.time(lastEnd(sending))})`,
        ]
      : []),
    // Due already, never leased or its last attempt answered: a retry changes nothing, and the next claim takes it as it is.
    ...(due > 0 ? [`${counted.format(due)} due already, not ${notDone}: the next claim takes ${due === 1 ? 'it' : 'them'}`] : []),
    // Due already (an ended lease is due, as a retry would make it): the next claim takes it, naming the relay that held it.
    ...(cutOff.length > 0
      ? [
          `${counted.format(cutOff.length)} due already, not ${notDone}: the relay sending ${cutOff.length === 1 ? 'it' : 'them'} stopped before the answer, and the next claim takes ${cutOff.length === 1 ? 'it' : 'them'} again`,
        ]
      : []),
    ...(left.held > 0 ? [`${counted.format(left.held)} held: release ${left.held === 1 ? 'it' : 'them'} first`] : []),
    ...(left.scheduled > 0
      ? [
          `${counted.format(left.scheduled)} scheduled (X-SMS-Send-At), left until ${sms ? '' : 'each one’s time, the first at '}${wording.time(left.firstAt)}${
            sms ? `: to send ${left.scheduled === 1 ? 'it' : 'them'} now, ${wording.sendNow(messageId)}` : ''
          }`,
        ]
      : []),
  ];
  return {
    said: [`${sendNow ? 'send now' : 'retry'}: ${counted.format(changed)} queued SMS changed${leftAlone.map((line) => `; ${line}`).join('')}`, ...pauses].join(
      '\n',
    ),
    changed,
    // In probe mode each line is a paused provider whose probe it made due.
    probed: probing && accountPauses.length > 0,
  };
}

/**
 * A delete's answer: how many went, and each SMS of the target it left because a relay is sending it now (BeingSent when
 * that is every one): the gateway's answer to that attempt decides it, and a delete once the attempt ended takes it if
 * it is still queued then. `sending`: as the store judged the leases (by the database's clock on PostgreSQL).
 */
function deleted(changed: number, sending: readonly LeasedSms[], wording: Wording): Outcome {
  const said = `delete: ${counted.format(changed)} queued SMS changed`;
  if (sending.length === 0) return { said, changed };
  const line = `${counted.format(sending.length)} being sent, not deleted: the gateway may have ${sending.length === 1 ? 'it' : 'them'} already, and its answer decides; delete again once the attempt ends (by ${wording.time(lastEnd(sending))}) if still queued`;
  if (changed === 0) throw new BeingSent(`delete: ${line}`);
  return { said: `${said}; ${line}`, changed };
}

/**
 * How to send a finished SMS again (retry, send now). The mail sent again under its Message-ID within
 * delivery.resubmissionWindow is the same mail, folded (sent once), while one of its SMS was sent, may have been (an
 * attempt whose answer was lost) or is queued (Store#acceptMail, sentOrToBeSent); once none is (each failed, expired
 * or deleted unsent), it is texted.
 */
const RESEND_ADVICE = {
  folded: 'a finished SMS is not sent again: to send it again, send the mail again with a new Message-ID (or after delivery.resubmissionWindow)',
  texted:
    'a finished SMS is not sent again: to send it again, send the mail again (none of its SMS was sent, so a resend under its Message-ID is texted, not folded into it)',
} as const;

/** What each action by id says instead when none of its SMS is queued any more, after how each ended. */
const FINISHED_ADVICE: Readonly<Record<Exclude<QueueAction, 'retry' | 'send now'>, string>> = {
  hold: 'only a queued SMS can be held',
  release: 'only a held SMS can be released',
  delete: 'a finished SMS has left the queue already (its history stays)',
};

/** The answer to an action by id on SMS that are all finished (NothingChanged); `ofMail`: every SMS of their mail. */
function nothingQueued(command: QueueAction, sms: readonly SmsState[], ofMail: readonly SmsState[]): string {
  const ended = new Map<string, number>();
  for (const how of sms.map(howFinished)) ended.set(how, (ended.get(how) ?? 0) + 1);
  const counts = [...ended].map(([how, count]) => `${counted.format(count)} ${how}`).join(', ');
  const resend = ofMail.some(sentOrToBeSent) ? RESEND_ADVICE.folded : RESEND_ADVICE.texted;
  const advice = command === 'retry' || command === 'send now' ? resend : FINISHED_ADVICE[command];
  return `${command}: nothing to ${command}: ${sms.length === 1 ? 'its SMS is no longer queued' : 'none of its SMS is queued any more'}: ${counts}; ${advice}`;
}

/**
 * How an SMS that left the queue ended, as its delivery report (if any) tells it. One given up after attempts whose
 * answer was lost is not called unsent: the gateway may have taken it (possibleDuplicates).
 */
function howFinished(sms: SmsState): string {
  const maybeSent = sms.possibleDuplicates > 0 ? ` but may have been sent (${plural(sms.possibleDuplicates, 'attempt')} whose answer was lost)` : '';
  if (sms.status === 'expired') return maybeSent ? `expired (past its maximum age)${maybeSent}` : 'expired unsent (past its maximum age)';
  if (sms.status === 'deleted') return `deleted from the queue${maybeSent}`;
  if (sms.status === 'failed') return `failed for good${maybeSent}`;
  if (sms.delivery === 'delivered') return 'delivered';
  if (sms.delivery === 'failed' || sms.delivery === 'expired') return `failed for good (delivery report: ${sms.delivery})`;
  return 'sent (no final delivery report yet)';
}

/** When the last of these leases ends: every attempt's answer is due by then. */
function lastEnd(leased: readonly LeasedSms[]): number {
  return Math.max(...leased.map((item) => item.until));
}

/** The SMS a retry leaves alone: held ones, and ones scheduled for later with the first of their times. */
interface LeftAlone {
  readonly held: number;
  readonly scheduled: number;
  readonly firstAt: number;
}

/** Of one message's SMS. */
function leftOf(sms: readonly SmsState[], now: number): LeftAlone {
  const queued = sms.filter((item) => item.status === 'queued');
  const times = queued.flatMap((item) => (!item.held && item.scheduledFor !== undefined && item.scheduledFor > now ? [item.scheduledFor] : []));
  return { held: queued.filter((item) => item.held).length, scheduled: times.length, firstAt: Math.min(...times) };
}

/** Of the whole queue (`all`), as its statistics count them. */
async function leftInQueue(store: Store, now: number): Promise<LeftAlone> {
  const { held, scheduled, nextScheduledAt } = (await store.queueStats(now)).sms;
  return { held, scheduled, firstAt: nextScheduledAt ?? now };
}

/**
 * What a command that makes SMS due adds while a provider's gateway refuses the account: that
 * provider sends nothing but its probe, so without a word the command would look ignored. `probe`
 * (a retry that made SMS due) makes each such probe due at once, for the operator who fixed the account
 * and should not wait `delivery.pauseProbeInterval`: the probe, not the command, ends the pause. `hint`
 * names how to do that; `plain` (a retry that made nothing due, so nothing to probe with) only the pause.
 */
async function accountPauseLines(store: Store, now: number, mode: 'probe' | 'hint' | 'plain', wording: Wording): Promise<string[]> {
  const { pauses } = await store.gatewayState(now);
  if (pauses.length === 0) return [];
  if (mode !== 'probe') {
    const lines = dispatchLines(undefined, pauses, await store.nextSmsDueAt(), now, wording.time);
    return mode === 'hint' ? [...lines, `dispatch: ${wording.probeNow} probes a paused provider now`] : lines;
  }
  for (const pause of pauses) await store.releaseProbe(pause.provider, now);
  return pauses.map((pause) => `${pauseLine(pause, wording.time)}; probing it now`);
}

/**
 * `quarantine list | show <id> | delete <id|all>`: the webhook requests kept because they could not
 * be read. `list` prints the oldest LISTED, one JSON line each without the body (JSON lines only, for a pipe
 * into jq: an empty list, or one cut short, says so to `note`, the CLI's stderr, as queue list does); `show` prints the request's fields and
 * then its body exactly as received, for the operator to read or to replay to the webhook by hand.
 */
export async function quarantine(store: Store, args: readonly string[], note: (line: string) => void): Promise<string> {
  const { command, id } = checkQuarantineArgs(args);
  const target = args[1];
  const when = (entry: { readonly receivedAt: number }) => new Date(entry.receivedAt).toISOString();
  if (command === 'list') {
    // One more than listed: whether the list was cut, said on stderr as queue list says it.
    const entries = await store.listQuarantine(LISTED + 1);
    if (entries.length === 0) note('quarantine list: no quarantined requests');
    if (entries.length > LISTED) {
      const { count } = await store.quarantineSpan();
      note(
        `quarantine list: the oldest ${counted.format(LISTED)} of ${counted.format(count)} quarantined requests; delete those dealt with (smsrelay quarantine delete <id>) to list the next`,
      );
    }
    return entries
      .slice(0, LISTED)
      .map((entry) => JSON.stringify({ ...entry, receivedAt: when(entry) }))
      .join('\n');
  }
  if (command === 'delete') return (await deleteQuarantined(store, id === undefined ? { through: undefined } : { id })).said;
  const entry = id === undefined ? undefined : await store.quarantined(id);
  if (!entry) throw new NotFound(`quarantined request with id ${target}`);
  const { body, ...fields } = entry;
  // The bytes as received, as text: escaped where they are not UTF-8 text (or are control characters), and then said so.
  const shown = bytesAsText(body);
  const line = JSON.stringify({ ...fields, receivedAt: when(entry), ...(shown.escaped ? { bodyEscaped: true } : {}) });
  return `${line}\n${entry.bodyErased ? '(body erased by store.retention)' : body.length === 0 ? '(empty body)' : shown.text}`;
}

/**
 * `quarantine`'s arguments as `quarantine` reads them, checked without a store (the CLI refuses a mistake
 * before it opens one): the command, and for show or delete the request id (undefined: delete all).
 */
export function checkQuarantineArgs(args: readonly string[]): { command: 'list' | 'show' | 'delete'; id: number | undefined } {
  const [command = 'list', target] = args;
  const most = command === 'list' ? 1 : 2;
  if (args.length > most) throw new UsageError(`quarantine ${command}: unexpected argument "${args.slice(most).join(' ')}"`);
  if (command === 'list') return { command, id: undefined };
  if (command !== 'show' && command !== 'delete') throw new UsageError(`unknown quarantine command "${command}": use list, show <id> or delete <id|all>`);
  const id = target === 'all' && command === 'delete' ? undefined : Number(target);
  if (id !== undefined && !(Number.isInteger(id) && id > 0))
    throw new UsageError(`quarantine ${command} needs a request id${command === 'delete' ? ', or "all"' : ''} (see smsrelay quarantine list)`);
  return { command, id };
}

/**
 * `quarantine delete <id|all>`, the CLI's and the console's: one request, or all of them up to the newest one the operator
 * saw (the console's confirmation names it and how many it showed; the CLI's `all` acts now, on every one). Requests kept
 * after that stay, and the answer says how many; when those up to it are not the ones shown, none is deleted
 * (QuarantineChanged, with the numbers now).
 */
export async function deleteQuarantined(store: Store, which: QuarantineDeletion): Promise<Outcome> {
  const deleted = await store.deleteQuarantined(which);
  if ('id' in which && deleted === 0) throw new NotFound(`quarantined request with id ${which.id}`);
  // A confirmation names at least one request: none deleted is one kept or deleted meanwhile up to its newest; or every one of
  // them deleted already (the same confirmation sent twice: a double click, a second tab), which is what it asked.
  if ('count' in which && deleted === 0) {
    const [oldest] = await store.listQuarantine(1);
    if (oldest !== undefined && oldest.id <= which.through) throw new QuarantineChanged(await store.quarantineSpan());
  }
  const said =
    'count' in which && deleted === 0
      ? `the ${plural(which.count, 'quarantined request')} up to request ${which.through} ${which.count === 1 ? 'was' : 'were'} deleted already (this confirmation was sent again, or someone else deleted ${which.count === 1 ? 'it' : 'them'}): none is left to delete`
      : `deleted ${deleted} quarantined request${deleted === 1 ? '' : 's'}`;
  const newer = 'id' in which || which.through === undefined ? 0 : (await store.quarantineSpan()).count;
  if (newer === 0) return { said, changed: deleted };
  return {
    said: `${said}; ${newer} kept since the confirmation was shown ${newer === 1 ? 'was' : 'were'} not deleted: read ${newer === 1 ? 'it' : 'them'} first`,
    changed: deleted,
  };
}

/** The words a reroute's refusal of its address begins with: the CLI's command, or the console's field (`Reroute to mailbox`). */
const REROUTE = 'undeliverable reroute';

/**
 * Mails an SMS that found no mailbox to the one the operator names (a running relay's mailer sends it). Its mail says
 * what the inbound side's would say now about replying (`notes`, the relay's: a STOP or START, the number's opt-out as
 * it stands, a refusal of every reply). A refusal of the address begins with `asked`, what the operator wrote it in:
 * the CLI's command, or the console's field.
 */
export async function rerouteUndeliverable(
  store: Store,
  config: ReplyMailSettings,
  notes: ReplyNotes,
  id: string,
  mailbox: string,
  asked = REROUTE,
): Promise<string> {
  checkRerouteArgs(id, mailbox, asked);
  const domain = smsDomainOf(mailbox, config.sms.domains);
  if (domain !== undefined) {
    throw new UsageError(
      `${asked}: "${mailbox}" is at the relay's own SMS domain ${domain}: a mail there comes back to this relay (texted, or to its postmaster), not to a person; write a person's mail address`,
    );
  }
  // Mail building (nodemailer, the templates) loads only for this command.
  const [{ Templates }, { buildReplyMail, replyMailOptions }, { earlierReply }] = await Promise.all([
    import('./mailer/templates.ts'),
    import('./replies/reply-mail.ts'),
    import('./replies/tracking.ts'),
  ]);
  const gone = async () => (await notUndeliverable(store, id)) ?? new NotFound(`undeliverable SMS with id ${id}`, ' (see smsrelay undeliverable)');
  const sms = await store.undeliverableInboundById(id);
  if (!sms) throw await gone();
  // An SMS that answered a conversation keeps it (subject, tag, thread): a reply from the new mailbox continues it.
  const conversation = sms.context === undefined ? undefined : await store.conversation(sms.context, sms.number);
  const said = await notes.reread(sms.provider, sms, store);
  // Threaded as a route's reply mail is: under the relay's latest one where the writer gave no Message-ID.
  let unthreaded: string | undefined;
  const earlier = conversation && (await earlierReply(conversation, store, (why) => (unthreaded = why)));
  const { mail, messageIdHeader } = await buildReplyMail(
    { ...sms, ...said },
    { mailbox, conversation, earlierReply: earlier },
    replyMailOptions(config, new Templates()),
    id,
  );
  const answered = conversation && { context: conversation.context, number: sms.number, from: conversation.mailbox, messageIdHeader };
  // Rerouted meanwhile (by another operator or relay): that mail goes, this one would be a second.
  if (!(await store.rerouteInbound(id, mailbox, mail, answered))) throw await gone();
  // The operator who asked is told why it goes unthreaded, as a route's is logged.
  const unthreadedNote = unthreaded === undefined ? '' : `, unthreaded: ${unthreaded}`;
  if (sms.textErased)
    return `SMS ${id} queued for ${mailbox}${unthreadedNote}, without its text: store.retention erased it after its first reply mail was sent (that mail bounced later); the mail says so`;
  return `SMS ${id} queued for ${mailbox}${unthreadedNote}`;
}

/**
 * A received SMS that has its mailbox (rerouted already, by this operator, another or the console; or mailed to its
 * conversation's): where its mail went, when and how that mail stands, as NothingChanged (the CLI exits 1, the console
 * 409), so that it does not read as a mistyped id; undefined for an id no received SMS has.
 */
async function notUndeliverable(store: Store, id: string): Promise<NothingChanged | undefined> {
  const sms = await store.receivedReply(id);
  if (sms?.mailbox === undefined) return undefined;
  const mail = sms.mail && ` (queued ${new Date(sms.mail.queuedAt).toISOString()}, ${sms.mail.status === 'queued' ? 'not sent yet' : sms.mail.status})`;
  return new NothingChanged(
    `SMS ${id} is not undeliverable: its mail goes to ${sms.mailbox}${mail ?? ''}, rerouted there already or the mailbox it found when received; no second mail is queued`,
  );
}

/** `undeliverable reroute <id> <mailbox>`'s arguments, checked without a store (the CLI refuses a mistake before it opens one). */
export function checkRerouteArgs(id: string, mailbox: string, asked = REROUTE): void {
  if (!id || !mailbox) throw new UsageError(`${REROUTE} needs an inbound SMS id and a mail address`);
  if (!isMailbox(mailbox)) throw new UsageError(`${asked}: "${mailbox}" is not a mail address the relay can mail (write it as name@example.com)`);
}
