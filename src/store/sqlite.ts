import {
  chmodSync,
  closeSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readlinkSync,
  renameSync,
  rmdirSync,
  rmSync,
  statfsSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import BetterSqlite3, { type Database, type Statement } from 'better-sqlite3';
import { GroupCommitter, WRITE_PROBE_BYTES, type WriteKind } from './group-commit.ts';
import { type Migrated, MigrationError, migrate, NewerSchemaError, OlderSchemaError } from './migrations.ts';
import { BackupTargetError, type RelayError, StoreFileError, storeFileDenied } from '../errors.ts';
import { BACKUP_GENERATION, foreignWal, generationOnDisk, renewGeneration } from './generation.ts';
import { DAMAGED_STORE_FIX } from './health.ts';
import { DATA_DIR_MODE, realFile } from './lock.ts';
import { ELSEWHERE_SUFFIX, RECOVERED_SUFFIX } from './recovered-copies.ts';
import {
  asStoreError,
  type BouncedMailRow,
  bouncedReply,
  replyMailbox,
  inboundFinished,
  REPLY_BOUNCE_WINDOW_MS,
  REFUSED_EVENT,
  refusedDetail,
  PARTS_FINISHED,
  RESUMED_DETAIL,
  MAIL_RESUMED,
  MAIL_RESUMED_DETAIL,
  MAIL_TAKEN_OVER,
  TAKEN_OVER,
  takenOverDetail,
  takenOverFrom,
  leaseExpired,
  STOPPED_IN_FLIGHT,
  LATE_ANSWER,
  lateAnswerDetail,
  mailHeldBy,
  mailOutcomeLine,
  sentDetail,
  attemptDetail,
  withoutLateReports,
  queuedMailErrorsSql,
  toQueuedMailError,
  type ClaimedSmsRow,
  claimAt,
  groupIntoBatches,
  NEVER_TRIED,
  type MessageRow,
  selectBatchRows,
  toStoredMessage,
  type MailRow,
  toClaimedMail,
  type SmsStateRow,
  smsStateColumns,
  toClaimedSms,
  toSmsState,
  FOLDED_EVENT,
  foldedDetail,
  latestSmsTo,
  REPEATED_EVENT,
  repeatedDetail,
  toLatestSms,
  countedByProvider,
  quarantineColumn,
  ONE_DUPLICATE_TAKEN_BACK,
  sentByReportInFlightDetail,
  MAIL_SENT_OR_TO_BE_SENT,
} from './rows.ts';
import {
  type AdminStatements,
  applyQueueAction,
  listQuarantine,
  listQueued,
  prepareAdminStatements,
  quarantinedRequest,
  queueStats,
  receivedReply,
  repliesOfNumber,
  SQLITE_NOW_MS,
  sqliteLimit,
} from './sqlite-admin.ts';
import type { NewSmsPart, PartAdded, PartSet } from './reassembly.ts';
import { addPart, expirePartSets, overduePartSets, prepareReassemblyStatements, type ReassemblyStatements } from './sqlite-reassembly.ts';
import type { PauseChange, ProbeClaim, RateLimitSettings, RateTaken, SharedGatewayState } from './shared-state-types.ts';
import * as shared from './sqlite-shared-state.ts';
import * as clockStep from './sqlite-clock-step.ts';
import type { LongestWaits, Rescheduled } from './clock-step-types.ts';
import type { HeldLeases, RelayMember, RelaySeen } from './cluster-types.ts';
import { type ClusterStatements, heartbeat, leaveCluster, prepareClusterStatements, relaysSeen } from './sqlite-cluster.ts';
import {
  adoptOrphans,
  applyReport,
  type ConversationRow,
  insertInbound,
  prepareReplyStatements,
  recordConversation,
  type ReplyStatements,
  toConversation,
  toRecipient,
  toUndeliverable,
  type UndeliverableRow,
} from './sqlite-replies.ts';
import type { DeliveryState } from '../vocabulary.ts';
import type { PartReceipt, PartReceiptResult, PartsOfSms, SentParts } from './part-receipts-types.ts';
import * as sentParts from './sqlite-part-receipts.ts';
import type {
  ClaimedSms,
  Conversation,
  DeliveryReportResult,
  DueNotice,
  LatestSms,
  NewDeliveryReport,
  InboundPosition,
  NewInbound,
  QuarantinedBody,
  QuarantineDeletion,
  QuarantineEntry,
  QuarantineSpan,
  ReceivedReply,
  QuarantinedRequest,
  QueueAction,
  QueueActionDone,
  QueueTarget,
  QueuedMailError,
  QueuedSms,
  QueueStats,
  ClaimedMail,
  CommitStats,
  ClaimRequest,
  MailOutcome,
  MailOutcomeRecorded,
  SmsClaimRequest,
  BouncedReply,
  StaleMail,
  NewMail,
  NewRecipient,
  Resubmission,
  NewOutgoingMail,
  NoticeGroup,
  ReroutedConversation,
  SmsBatch,
  SmsOutcome,
  SmsState,
  Store,
  StoredEvent,
  StoreHealth,
  UndeliverableInbound,
} from './types.ts';
import { type AcceptOptions, FAILED_OVER, OPERATOR, RESUBMISSION_WALK_ROWS } from './types.ts';

/**
 * When a mail's SMS starts counting towards its maximum age, in a query joining `outbound o` to
 * `messages m`: its arrival, or its X-SMS-Send-At (startOf, src/dispatch/dispatcher.ts).
 */
const STARTED = 'MAX(m.received_at, COALESCE(m.send_at, 0))';

/**
 * The writes nobody was promised anything on (docs/delivery.md, "How it keeps messages"): a claim's
 * lease, and an outcome that says the next hop took the message with nothing queued on it. A power
 * loss can cost such a write, and with it the SMS or mail is sent again; never a message lost.
 */
const UNPROMISED = { synced: false } as const;
/**
 * An unpromised write that nobody awaits either (an SMS's outcome once the gateway took it): it
 * may wait a moment for the next commit to ride in (group-commit.ts, UNSYNCED_WAIT_MS). A claim's
 * lease does not: dispatch waits for it.
 */
const UNPROMISED_UNAWAITED = { synced: false, waits: true } as const;
/** A mail's write: once commits failed, its commit is what shows mail is taken again (group-commit.ts). */
const A_MAIL = { proves: true } as const;

/**
 * The leases a start releases, of the relay's name (`?`, its own before it stopped or crashed) or ended by the time given
 * (`?`): only a queued row holds one, and the status read first makes the statement walk the queue's lease_end index
 * (migrations 18, 19), the one index of leases (36).
 */
const STALE_LEASES = "status = 'queued' AND lease_owner IS NOT NULL AND (lease_owner = ? OR next_attempt_at <= ?)";

/** `PRAGMA synchronous` levels by number. */
const SYNCHRONOUS_NAMES = ['OFF', 'NORMAL', 'FULL', 'EXTRA'];

export interface SqliteStoreOptions {
  readonly file: string;
  readonly busyTimeoutMs: number;
  /** Check the file's pages before use (QUICK_CHECK_MAX_BYTES): the relay at start, not the operator's commands next to it. */
  readonly check?: boolean;
  /**
   * Bring an older schema to this version's (the relay at start, the default); false: an older store is
   * refused (the operator's commands), for the relay of the release that wrote it may still run on it.
   */
  readonly upgrade?: boolean;
  /** Mark the store with a new generation once open (generation.ts): the relay at start, the one writer of the data directory. */
  readonly renewGeneration?: boolean;
}

/**
 * Up to this size the relay's start runs `PRAGMA quick_check` (every page and row of the file read
 * once; measured at ~4.4 ms per MB on a loaded 2-core machine: 1.6 s for 370 MB, where
 * integrity_check took 8.7 s), so a damaged store is refused before it answers any 250. A larger store
 * would delay every start by more than ~10 s: it gets only what every open does (the header and the
 * schema read), and damage elsewhere is found by the statement that meets it (the store is then damaged for good).
 */
const QUICK_CHECK_MAX_BYTES = 2 * 1024 ** 3;

/**
 * WAL frames after which a commit copies the WAL's pages into the database file (SQLite's automatic, passive
 * checkpoint, run by the commit that crosses it; SQLite's default is 1,000). A checkpoint copies each page the WAL holds
 * once, however many commits wrote it, and the pages mails share (the queue's and the history's newest leaves, the
 * time-ordered indexes' last leaves) are written by nearly every commit: the rarer the checkpoints, the fewer copies.
 * Measured under smtp-source -d -s 10 -l 800 (strace -f -y over 6,000 mails): at 1,000, 4.3 pages per mail were copied
 * (a pread from the WAL and a pwrite into the database each) in a checkpoint every ~70 mails; at 10,000, 1.2. The cost: a
 * WAL of ~41 MB on disk (4 KiB pages and a 24-byte header each; within store.minFreeMegabytes' default room), a
 * checkpoint's pause of the commit that runs it ten times rarer and ~4 times longer (~1,200 pages copied, not ~320), and a start after a crash (kill -9)
 * that reads the WAL whole to recover it: 25–120 ms at 10,000 frames where 6–40 ms at 1,000 (docs/operations.md).
 */
const WAL_AUTOCHECKPOINT_PAGES = 10_000;

/**
 * The size a WAL larger than this is cut back to when a checkpoint has copied it whole and the next commit starts it
 * again (`PRAGMA journal_size_limit`; SQLite's default keeps it at its largest for good): above the WAL of
 * WAL_AUTOCHECKPOINT_PAGES with the commit that crossed it (~41 MB), so that under steady load it is written over in place,
 * never cut and grown again; a WAL that grew past it while a reader held an older snapshot (a long `smsrelay backup`),
 * which no checkpoint could empty meanwhile, gives its space back.
 */
const WAL_SIZE_LIMIT_BYTES = 64 * 1024 ** 2;

/** SQLite's words for a file that is not a database, or one whose pages contradict each other. */
const DAMAGE = /^SQLITE_(CORRUPT|NOTADB)/;

/** Whether an error is SQLite meeting a damaged store file (any statement: a read as much as a commit). */
export function isDamage(error: unknown): boolean {
  return DAMAGE.test(String((error as { code?: unknown } | undefined)?.code ?? ''));
}

/** An error opening the store `file` as the one line that names it and the fix (StoreFileError), when it is the file's. */
function unusableFile(error: unknown, file: string): unknown {
  if (error instanceof NewerSchemaError)
    return new StoreFileError(`the store ${file} ${error.message}: upgrade smsrelay, or start this one on a backup of its own schema`, { cause: error });
  if (error instanceof OlderSchemaError) return new StoreFileError(`the store ${file} ${error.message}`, { cause: error });
  if (error instanceof MigrationError) return new StoreFileError(`the store ${file}: ${error.message}`, { cause: error });
  if (isDamage(error))
    return new StoreFileError(`the store ${file} is damaged or not a smsrelay store (${(error as Error).message}): ${DAMAGED_STORE_FIX}`, { cause: error });
  // A file this user may not write is found before the open (SqliteStore.open); one refused since, or a WAL or index
  // SQLite could not make, is the file's or the directory's.
  const code = String((error as { code?: unknown } | undefined)?.code ?? '');
  // The directory SQLite writes the WAL into: a link's target's, not the link's (storeFiles names them there too).
  if (OPEN_REFUSED.test(code)) return deniedPath(file, [...storeFiles(file), dirname(realFile(file))]) ?? error;
  return UNUSABLE_PATH.test(code) ? unusablePath(file, error) : error;
}

/** The system's refusal of a store path that names no file SQLite can open (UNUSABLE_PATH), as the line naming it and the fix. */
const unusablePath = (file: string, error: unknown) =>
  new StoreFileError(`the store ${file} cannot be opened (${(error as Error).message}): ${UNUSABLE_PATH_FIX}`, { cause: error });

/** What makes a store path that names no file into one that does. */
const UNUSABLE_PATH_FIX = 'make it the store file, or a link to one, or remove it to start a new store';

/** The system's words for a store path that names no file SQLite can open: a directory, a loop of links, a path too long. */
const UNUSABLE_PATH = /^(EISDIR|ELOOP|ENOTDIR|ENAMETOOLONG)$/;

/** The system's and SQLite's words for a file it could not open or make: a permission, or a disk refusing it (read-only, failing). */
const OPEN_REFUSED = /^(EACCES|EPERM|SQLITE_CANTOPEN|SQLITE_READONLY)/;

/**
 * The store's files: the database, its WAL and the WAL's index. SQLite makes the last two with the database's mode
 * beside the file it opens, its links resolved: a store moved to another disk and linked back into the data directory
 * has them beside itself there, not beside the link.
 */
export function storeFiles(file: string): [database: string, wal: string, walIndex: string] {
  const real = realFile(file);
  return [file, `${real}-wal`, `${real}-shm`];
}

/**
 * The store path as the one line naming it and the fix where it names no file a store can be in (a link to nothing,
 * a loop of links, a directory); undefined where it does or is not there yet. A link to nothing is not followed:
 * opening it would make a new, empty store where it points (under the mount point of a disk not mounted), and the
 * relay would start without what it had accepted.
 */
export function unusableStorePath(file: string): StoreFileError | undefined {
  try {
    if (!lstatSync(file, { throwIfNoEntry: false })) return undefined;
    const target = statSync(file, { throwIfNoEntry: false });
    if (!target)
      return new StoreFileError(
        `the store ${file} is a link to ${readlinkSync(file)}, which does not exist: mount the disk it is on (or point the link at the store), or remove the link to start a new store`,
      );
    return target.isDirectory() ? new StoreFileError(`the store ${file} is a directory: ${UNUSABLE_PATH_FIX}`) : undefined;
  } catch (error) {
    // Another failure to look (a directory this user may not enter, a failing disk) is met again by what follows, which says it.
    const code = String((error as NodeJS.ErrnoException).code);
    return UNUSABLE_PATH.test(code) ? unusablePath(file, error) : undefined;
  }
}

/**
 * Does to `path` what SQLite will, and undoes it: a file opened to read and write, then closed; a directory given an
 * entry (as SQLite makes the WAL and its index in it), then none. Tried, not asked with access(2), which judges by
 * the real user without the process's capabilities: a relay given CAP_DAC_OVERRIDE (systemd's AmbientCapabilities)
 * or started by a setuid wrapper may write what access refuses. Throws the system's error where it may not.
 * Never in a process that has the store open: closing any descriptor of a file drops all of the process's POSIX
 * locks on it, SQLite's WAL locks among them (it runs before a process's first connection, or after one failed).
 */
export function tryWriting(path: string): void {
  if (statSync(path).isDirectory()) rmdirSync(mkdtempSync(join(path, '.smsrelay-write-check-')));
  else closeSync(openSync(path, 'r+'));
}

/**
 * The first of `paths` (of the store `file`) this user may not read and write, as the StoreFileError naming it and
 * the fix; undefined when each may be, is missing, or is on a disk that refuses writes (EROFS: the disk's own line).
 */
function deniedPath(file: string, paths: readonly string[]): StoreFileError | undefined {
  for (const path of paths) {
    try {
      tryWriting(path);
    } catch (error) {
      const { code } = error as NodeJS.ErrnoException;
      if (code === 'EACCES' || code === 'EPERM') return storeFileDenied(file, path, code, relayUser());
    }
  }
  return undefined;
}

/** The user this process runs as, by name where the system has one. */
function relayUser(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? 'this user');
  }
}

/** What an SMS's `sent` update returns: what its orphan reports and its history line need. */
type SentSms = { readonly number: string; readonly message_id: string };

/** A backup being written is its target's name + this + the writer's pid, until it is whole. */
const PARTIAL_COPY_SUFFIX = '.partial-';

/**
 * The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so a commit is on disk
 * (WAL fsynced) before any promise resolves. One connection, one writer: all writes go through the
 * group committer; reads run directly between transactions.
 */
export class SqliteStore implements Store {
  readonly #db: Database;
  readonly #writes: GroupCommitter;
  readonly #sql: ReturnType<typeof prepareStatements>;
  readonly #replies: ReplyStatements;
  readonly #admin: AdminStatements;
  readonly #reassembly: ReassemblyStatements;
  readonly #shared: shared.SharedStateStatements;
  readonly #clockStep: clockStep.ClockStepStatements;
  readonly #cluster: ClusterStatements;
  readonly #parts: sentParts.PartReceiptStatements;
  readonly #file: string;
  /**
   * The files the connection holds open (the database, its WAL and the WAL's index), to notice when a
   * path names another file or none (deleted under the relay): commits into a deleted WAL are lost at
   * the next restart, and another process (`smsrelay status`, an admin command) opening the database
   * would make a new WAL or index beside the relay's and write over or miss its commits.
   */
  readonly #opened: ReadonlyArray<{ readonly path: string; readonly dev: number; readonly ino: number }>;
  readonly #onHealth: (health: StoreHealth) => void;
  readonly migrated: Migrated;
  #lost: Extract<StoreHealth, { state: 'lost' }> | undefined;
  #damaged: Extract<StoreHealth, { state: 'damaged' }> | undefined;
  #recovering: Promise<void> | undefined;

  private constructor(db: Database, file: string, onHealth: (health: StoreHealth) => void, migrated: Migrated) {
    this.#db = db;
    this.#file = file;
    this.migrated = migrated;
    // Both exist from the first read in WAL mode (the migrations' at open) until the connection closes.
    this.#opened = storeFiles(file).map((path) => {
      const { dev, ino } = statSync(path);
      return { path, dev, ino };
    });
    this.#onHealth = onHealth;
    this.#writes = new GroupCommitter(db, {
      guard: () => this.#checkFile(),
      probe: () => {
        // Deleted again in the same transaction; its pages still go to the WAL, as a mail's would.
        this.#sql.probe.run('x'.repeat(WRITE_PROBE_BYTES));
        this.#sql.unprobe.run();
      },
      onHealth: (health) => {
        if (!this.#lost && !this.#damaged) onHealth(health);
      },
    });
    this.#sql = prepareStatements(db);
    this.#replies = prepareReplyStatements(db);
    this.#admin = prepareAdminStatements(db);
    this.#reassembly = prepareReassemblyStatements(db);
    this.#shared = shared.prepareSharedStateStatements(db);
    this.#clockStep = clockStep.prepareClockStepStatements(db);
    this.#cluster = prepareClusterStatements(db);
    this.#parts = sentParts.preparePartReceiptStatements(db);
  }

  /** `onHealth`: told when commits start failing, succeed again, or the file is lost (see StoreHealth). */
  static open(options: SqliteStoreOptions, onHealth: (health: StoreHealth) => void = () => undefined): SqliteStore {
    mkdirSync(dirname(options.file), { recursive: true, mode: DATA_DIR_MODE });
    // Checked first: SQLite opens a WAL this user may only read as it is, and fails at the first write (SQLITE_READONLY,
    // which reads as a read-only disk), and a file restored as root would fail below on Node's bare words. A foreign WAL
    // again though the CLI checked it (storeFileCheck, to order it against a lost store's copy): every other opener is
    // covered too, and the check costs a stat unless the headers differ.
    const files = storeFiles(options.file);
    const denied = unusableStorePath(options.file) ?? deniedPath(options.file, files) ?? foreignWal(files);
    if (denied) throw denied;
    // SQLite gives the WAL and shared-memory files the mode of the database file: a new store is made its owner's alone.
    try {
      createPrivately(options.file);
    } catch (error) {
      throw unusableFile(error, options.file);
    }
    // Read before the open: once a connection is open in this process, no descriptor of the file may be (generationOnDisk).
    const onDisk = options.renewGeneration ? generationOnDisk(options.file) : undefined;
    const db = new BetterSqlite3(options.file, { timeout: options.busyTimeoutMs });
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
      db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
      db.pragma('foreign_keys = ON');
      // What retention erases (and any row updated or deleted) is zeroed, not left readable in free space or on
      // free pages of the file and its backups. FAST would leave freed overflow pages (long mails) as they were.
      db.pragma('secure_delete = ON');
      if (options.check && statSync(options.file).size <= QUICK_CHECK_MAX_BYTES) {
        // One line per problem, under a heading line; the first says where, the count how much.
        const problems = (db.pragma('quick_check') as Array<{ quick_check: string }>).flatMap((row) => row.quick_check.split('\n'));
        const found = problems.filter((line) => line !== 'ok' && !line.startsWith('***'));
        if (found.length > 0)
          throw Object.assign(new Error(`quick_check: ${found[0]}${found.length > 1 ? ` and ${found.length - 1} more` : ''}`), { code: 'SQLITE_CORRUPT' });
      }
      const migrated = migrate(db, { upgrade: options.upgrade ?? true });
      if (options.renewGeneration) renewGeneration(db, options.file, onDisk);
      return new SqliteStore(db, options.file, onHealth, migrated);
    } catch (error) {
      db.close();
      throw unusableFile(error, options.file);
    }
  }

  /**
   * SQLite's online copy of the store `file` into `target`, as it is: read on a read-only connection,
   * never migrated, so that the backup taken before an upgrade (or under the relay of an older release)
   * is of the schema that release reads; a newer store's backup is as good as any.
   */
  static async backupAsItIs(file: string, busyTimeoutMs: number, target: string): Promise<void> {
    const foreign = foreignWal(storeFiles(file));
    if (foreign) throw foreign;
    let db: Database;
    try {
      db = new BetterSqlite3(file, { readonly: true, fileMustExist: true, timeout: busyTimeoutMs });
    } catch (error) {
      throw unusableFile(error, file);
    }
    // Written beside the target and renamed onto it once whole: a copy that fails (a full disk) leaves no
    // empty or partial file that looks like a backup, and a file --force would replace is kept until then.
    const partial = `${target}${PARTIAL_COPY_SUFFIX}${process.pid}`;
    let made = false;
    try {
      privateCopy(partial);
      made = true;
      await db.backup(partial);
      // Not the store's generation: put back in its place, it is told from the file a crashed relay's WAL belongs to.
      const copy = new BetterSqlite3(partial);
      try {
        copy.pragma(`application_id = ${BACKUP_GENERATION}`);
        // In rollback-journal mode, unlike the store: any reader opens the copy where it lies (a backups directory it may
        // not write, a read-only snapshot), where a WAL-mode file needs its -shm made beside it. The start puts it back in WAL.
        copy.pragma('journal_mode = DELETE');
      } finally {
        copy.close();
      }
      renameSync(partial, target);
    } catch (error) {
      // The partial copy and the journal files SQLite writes beside it, all this copy's own.
      if (made) for (const own of [partial, `${partial}-journal`, `${partial}-wal`, `${partial}-shm`]) rmSync(own, { force: true });
      if (isDamage(error)) throw unusableFile(error, file);
      throw new BackupTargetError(target, error, diskNearlyFull(dirname(resolve(partial))));
    } finally {
      db.close();
    }
  }

  acceptMail(mail: NewMail, reports: readonly NewOutgoingMail[] = [], options: AcceptOptions = {}): Promise<{ duplicateOf: string | undefined }> {
    return this.#write(() => {
      const sql = this.#sql;
      const found = mail.resubmission ? resubmitted(sql.findResubmitted, mail, mail.resubmission) : undefined;
      // A mail none of whose SMS was sent, may have been or is still to be sent (every one failed, expired or deleted
      // unsent) is not what a resend repeats: folded, it would never be texted (rows.ts, MAIL_SENT_OR_TO_BE_SENT).
      const original = found && (sql.sentOrToBeSent.get({ id: found.id }) as { sent: number }).sent === 1 ? found : undefined;
      if (options.onlyAsResubmission && !original) return { duplicateOf: undefined };
      sql.insertMessage.run({
        id: mail.id,
        received_at: mail.receivedAt,
        envelope_from: mail.envelopeFrom,
        client_address: mail.client.address,
        client_helo: mail.client.helo,
        message_id_header: mail.messageIdHeader ?? null,
        subject: mail.subject ?? null,
        headers: mail.headers,
        text: mail.sms.text,
        encoding: mail.sms.encoding,
        parts: mail.sms.parts,
        max_parts: mail.sms.maxParts,
        sender_id: mail.sms.senderId ?? null,
        user_context: mail.sms.userContext ?? null,
        dsn_ret: mail.dsn.ret ?? null,
        dsn_envid: mail.dsn.envid ?? null,
        fingerprint: mail.resubmission?.fingerprint ?? null,
        date_header: mail.resubmission?.date ?? null,
        duplicate_of: original?.id ?? null,
        report_all: mail.reportAll ? 1 : 0,
        send_at: mail.sendAt ?? null,
        gateway_account: mail.gatewayAccount ?? null,
        account: mail.account ?? null,
      });
      if (original) {
        sql.insertEvent.run(mail.receivedAt, mail.id, null, 'resubmission', `same mail as ${original.id}, sent once`);
        sql.insertEvent.run(mail.receivedAt, original.id, null, 'resubmitted', `the client sent it again as ${mail.id}`);
        if (options.rateTicket !== undefined) this.#shared.deleteRate.run(options.rateTicket);
        return { duplicateOf: original.id };
      }
      // An SMS row's columns from its mail and number, for a queued SMS and a refused one alike.
      const row = (recipient: NewRecipient) => ({
        message_id: mail.id,
        number: recipient.number,
        rcpt: recipient.rcpt,
        notify: recipient.notify?.join(',') ?? null,
        orcpt: recipient.orcpt ?? null,
        now: mail.receivedAt,
      });
      const due = mail.holdUntilSendAt && mail.sendAt !== undefined ? Math.max(mail.sendAt, mail.receivedAt) : mail.receivedAt;
      for (const recipient of mail.recipients) {
        const { lastInsertRowid } = sql.insertSms.run({ ...row(recipient), due });
        sql.insertEvent.run(mail.receivedAt, mail.id, lastInsertRowid, 'accepted', `${recipient.rcpt} -> ${recipient.number}`);
      }
      for (const recipient of mail.refused ?? []) {
        const { lastInsertRowid } = sql.insertRefusedSms.run({ ...row(recipient), reason: recipient.reason });
        sql.insertEvent.run(mail.receivedAt, mail.id, lastInsertRowid, REFUSED_EVENT, refusedDetail(recipient));
      }
      for (const folded of mail.folded ?? []) {
        sql.insertEvent.run(mail.receivedAt, mail.id, null, FOLDED_EVENT, foldedDetail(folded));
        sql.insertRepeated.run({ at: mail.receivedAt, earlier: folded.earlier, sms: folded.earlierSms, detail: repeatedDetail(mail.id) });
      }
      this.#insertMail(reports, Date.now());
      if (mail.conversation && mail.sms.userContext) recordConversation(this.#replies, mail, mail.conversation, mail.sms.userContext);
      return { duplicateOf: undefined };
    }, A_MAIL);
  }

  claimDueSms(request: SmsClaimRequest): Promise<SmsBatch[]> {
    return this.#write(() => {
      const sql = this.#sql;
      const due =
        request.startedBy === undefined
          ? dueInClaimOrder(sql, request.now)
          : (sql.dueExpiredSms.iterate({
              now: request.now,
              startedBy: request.startedBy,
              // The SMS in flight are read to be passed over (selectBatchRows): as many more.
              limit: request.maxBatches * request.batchSize + (request.inFlight?.length ?? 0),
            }) as IterableIterator<DueSmsRow>);
      const rows = selectBatchRows(due, request);
      const claimed = rows.flatMap((row) => {
        const lease = { now: request.now, owner: request.owner, until: request.leaseUntil, id: row.id };
        const was = row.lease_owner !== null && row.lease_owner !== request.owner ? row.lease_owner : undefined;
        // An attempt that a report named in flight reached the gateway: sent by the report, not sent again, whoever held the
        // lease (the claimant's own: a claim whose answer was lost, which sent nothing and counts no attempt, postgres/store.ts's leaseChosen).
        const counts = was === undefined ? ([0, 0] as const) : ([1, 1] as const);
        const ended = (id: number) => sql.sentByReportAtTakeover.run(request.now, was ?? request.owner, id);
        if (row.lease_owner !== null && this.#sentByReport(row.id, request.now, ended, counts)) return [];
        // Written only for another relay's lease (takenOverFrom, the row's as read in this transaction), which the lease
        // then counts the same way: not run for a row nobody else held, in which it would find nothing.
        const takenOver = was !== undefined && sql.takenOver.run(lease).changes > 0;
        sql.leaseSms.run(lease);
        return [takenOver ? { ...row, attempts: row.attempts + 1, was } : row];
      });
      return this.#groupIntoBatches(claimed, request.batchSize);
    }, UNPROMISED);
  }

  /**
   * Records as sent, in the write under way, SMS `id` if a delivery report named it while an attempt of it was in flight
   * (sqlite-replies.ts, applyReport: the report's id on the queued row) and that attempt ended with no answer: at its
   * outcome, or never (its relay stopped or gone: released at a start, taken over). The attempt counts (`counts`: an
   * attempt and a possible duplicate, as a lease's end counts them), one possible duplicate is taken back, `line` writes
   * its history line, and the reports that came before are adopted. Whether it was such an SMS.
   */
  #sentByReport(id: number, now: number, line: (id: number) => void, counts: readonly [number, number] = [1, 1]): boolean {
    const sms = this.#sql.smsSentByReport.get(...counts, now, id) as (SentSms & { provider_id: string }) | undefined;
    if (!sms) return false;
    line(id);
    adoptOrphans(this.#replies, id, sms.number, sms.provider_id, now);
    return true;
  }

  async commitStats(): Promise<CommitStats> {
    return this.#writes.stats;
  }

  async nextSmsDueAt(): Promise<number | undefined> {
    return this.#read(() => (this.#sql.nextSmsDue.get() as { at: number | null }).at ?? undefined);
  }

  async nextSmsExpiryAt(maxAgeMs: number): Promise<number | undefined> {
    return this.#read(() => (this.#sql.nextSmsExpiry.get(maxAgeMs) as { at: number | null }).at ?? undefined);
  }

  recordSmsOutcomes(outcomes: readonly SmsOutcome[], mail: readonly NewOutgoingMail[] = [], owner?: string): Promise<readonly number[]> {
    const durability = mail.length === 0 && outcomes.every((outcome) => outcome.kind === 'sent') ? UNPROMISED_UNAWAITED : undefined;
    return this.#write(() => {
      const now = Date.now();
      const sql = this.#sql;
      const lateMessages = new Set<string>();
      const late: number[] = [];
      for (const outcome of outcomes) {
        const lease = owner === undefined ? undefined : (sql.leaseOf.get(outcome.smsId) as { message_id: string; lease_owner: string | null } | undefined);
        if (lease && lease.lease_owner !== owner) {
          lateMessages.add(lease.message_id);
          late.push(outcome.smsId);
          sql.lateAnswer.run({ now, owner, said: outcome.kind === 'sent' ? sentDetail(outcome) : attemptDetail(outcome), id: outcome.smsId });
          continue;
        }
        for (const detail of outcome.failedOver ?? []) sql.insertEventForSms.run(now, FAILED_OVER, detail, outcome.smsId);
        if (outcome.failedOver?.length) sql.addAttempts.run(outcome.failedOver.length, outcome.failedOverDuplicates ?? 0, outcome.smsId);
        switch (outcome.kind) {
          case 'sent': {
            // The row's number and message come back with the update: no statement of their own.
            const sms = sql.smsSent.get(outcome.providerId, outcome.trackingId ?? null, now, outcome.smsId) as SentSms | undefined;
            if (!sms) break; // an SMS no longer in the store has no reports to adopt nor history
            // Its history says it was sent before what the reports that came first say of it.
            sql.insertEvent.run(now, sms.message_id, outcome.smsId, 'sent', sentDetail(outcome));
            // The gateway sent nothing this time and proves an earlier attempt of its own sent it: one possible duplicate
            // fewer. Only one: the others may be attempts at another provider (failover) or a taken-over lease's.
            if (outcome.recognisedResend) sql.resendRecognised.run(outcome.smsId);
            adoptOrphans(this.#replies, outcome.smsId, sms.number, outcome.providerId, now);
            break;
          }
          case 'retry': {
            const counts = [outcome.attempted ? 1 : 0, outcome.possibleDuplicate ? 1 : 0] as const;
            if (sql.smsRetry.run(outcome.nextAttemptAt, outcome.error, ...counts, now, outcome.smsId).changes > 0) {
              sql.insertEventForSms.run(now, 'deferred', attemptDetail(outcome), outcome.smsId);
              break;
            }
            // Not queued again: a report that names it came while this attempt was in flight (sqlite-replies.ts, applyReport),
            // which proves the gateway took it (or it is no longer in the store).
            this.#sentByReport(outcome.smsId, now, (id) => sql.insertSentByReportEvent.run(now, attemptDetail(outcome), id), counts);
            break;
          }
          case 'failed':
          case 'expired':
            sql.smsFinal.run(outcome.kind, outcome.error, outcome.attempted === false ? 0 : 1, now, outcome.smsId);
            sql.insertEventForSms.run(now, outcome.kind, attemptDetail(outcome), outcome.smsId);
            break;
        }
      }
      this.#insertMail(withoutLateReports(mail, lateMessages), now);
      return late;
    }, durability);
  }

  enqueueMail(mail: readonly NewOutgoingMail[]): Promise<void> {
    return this.#write(() => this.#insertMail(mail, Date.now()));
  }

  claimDueMail(request: ClaimRequest): Promise<ClaimedMail[]> {
    return this.#write(() => {
      const sql = this.#sql;
      // Another relay's lease that ended is taken over (takenOverFrom): the attempt it was for counts (ClaimedMail.attempts), as at
      // releaseStaleLeases, and is a possible duplicate. The relay's own ended lease is only leased again.
      // Those in flight are read to be passed over (ClaimRequest.inFlight): as many more.
      const inFlight = new Set(request.inFlight);
      const ended = (sql.endedMailLeases.all({ now: request.now, owner: request.owner, limit: request.limit + inFlight.size }) as MailRow[])
        .filter((row) => !inFlight.has(row.id))
        .slice(0, request.limit)
        .map((row) => (row.was ? { ...row, attempts: row.attempts + 1 } : row));
      const due = sql.dueMail.all(request.now, request.limit - ended.length) as MailRow[];
      for (const row of ended) {
        if (!row.was) continue;
        sql.mailTakenOver.run({ now: request.now, was: row.was, owner: request.owner, id: row.id });
        sql.leaseTakenOverMail.run(request.owner, request.leaseUntil, row.id);
      }
      for (const row of [...ended.filter((row) => !row.was), ...due]) sql.leaseMail.run(request.owner, request.leaseUntil, row.id);
      return [...ended, ...due].map(toClaimedMail);
    }, UNPROMISED);
  }

  async nextMailDueAt(): Promise<number | undefined> {
    return this.#read(() => (this.#sql.nextMailDue.get() as { at: number | null }).at ?? undefined);
  }

  recordMailOutcome(outcome: MailOutcome, owner?: string): Promise<MailOutcomeRecorded> {
    const durability = outcome.kind === 'sent' ? UNPROMISED : undefined;
    return this.#write(() => {
      const now = Date.now();
      const sql = this.#sql;
      const mail = { now, id: outcome.id, owner: owner ?? null };
      const { changes } =
        outcome.kind === 'retry'
          ? sql.mailRetry.run({ ...mail, next: outcome.nextAttemptAt, error: outcome.error })
          : sql.mailFinal.run({ ...mail, status: outcome.kind, error: outcome.kind === 'sent' ? null : outcome.error });
      const { kind, detail } = mailOutcomeLine(outcome);
      if (changes === 0 && owner !== undefined) {
        sql.lateMailAnswer.run({ now, owner, said: `${kind}: ${detail}`, id: outcome.id });
        return 'late';
      }
      if (outcome.kind === 'failed') this.#replies.unrouteRefusedReply.run(outcome.id);
      sql.insertEventForMail.run(now, kind, detail, outcome.id);
      return 'recorded';
    }, durability);
  }

  mailDueNow(now: number): Promise<number> {
    return this.#write(() => this.#sql.mailDueNow.run(now, now).changes);
  }

  releaseStaleLeases(owner: string, now: number, outgoing: StaleMail): Promise<{ sms: number; mail: number }> {
    return this.#write(() => {
      const sql = this.#sql;
      const leased = sql.leasedSmsIds.all(owner, now) as Array<{ id: number }>;
      for (const { id } of leased) {
        // One a report named in flight reached the gateway: sent by the report, neither resumed nor counted as such.
        if (this.#sentByReport(id, now, () => sql.insertSentByReportEvent.run(now, STOPPED_IN_FLIGHT, id))) continue;
        sql.insertEventForSms.run(now, 'resumed', RESUMED_DETAIL, id);
      }
      if (outgoing.possiblyTwice)
        for (const { id } of sql.leasedMailIds.all(owner, now) as Array<{ id: number }>) sql.insertEventForMail.run(now, MAIL_RESUMED, MAIL_RESUMED_DETAIL, id);
      const sms = sql.releaseSms.run(now, owner, now).changes;
      const mail = sql.releaseMail.run(now, outgoing.possiblyTwice ? 1 : 0, owner, now).changes;
      return { sms, mail };
    });
  }

  async heartbeat(member: RelayMember, leaseTtlMs: number, held: HeldLeases): Promise<number> {
    await this.#write(() => heartbeat(this.#cluster, member, leaseTtlMs, held, Date.now()));
    return 0;
  }

  async relaysSeen(withinMs: number): Promise<RelaySeen[]> {
    return this.#read(() => relaysSeen(this.#cluster, withinMs, Date.now()));
  }

  leaveCluster(member: RelayMember): Promise<void> {
    return this.#write(() => leaveCluster(this.#cluster, member, Date.now()));
  }

  async durability(): Promise<{ journalMode: string; synchronous: string }> {
    return this.#read(() => ({
      journalMode: String(this.#db.pragma('journal_mode', { simple: true })),
      synchronous: SYNCHRONOUS_NAMES[Number(this.#db.pragma('synchronous', { simple: true }))] ?? 'unknown',
    }));
  }

  async smsOf(messageId: string): Promise<SmsState[]> {
    return this.#read(() => (this.#sql.smsOf.all(messageId) as SmsStateRow[]).map(toSmsState));
  }

  async waitingSms(messageId: string): Promise<ClaimedSms[]> {
    return this.#read(() => (this.#sql.waitingSms.all(messageId) as ClaimedSmsRow[]).map(toClaimedSms));
  }

  async ping(): Promise<void> {
    this.#read(() => this.#sql.ping.get());
  }

  async probeWrites(): Promise<StoreHealth> {
    // A write into a damaged file may well succeed: it proves nothing about the pages it did not touch.
    if (this.#damaged) return this.#damaged;
    if (this.#lost) {
      const { recovery } = this.#lost;
      if (recovery && 'error' in recovery) {
        this.#lost = { ...this.#lost, recovery: undefined };
        this.#recovering = this.#saveRecovery(this.#lost);
      }
      return this.#lost;
    }
    return this.#writes.probe();
  }

  async events(messageId: string): Promise<StoredEvent[]> {
    return this.#read(() =>
      (this.#sql.eventsOf.all(messageId) as Array<{ at: number; kind: string; sms_id: number | null; detail: string | null }>).map((row) => ({
        at: row.at,
        kind: row.kind,
        smsId: row.sms_id ?? undefined,
        detail: row.detail ?? undefined,
      })),
    );
  }

  async conversation(context: string, number: string): Promise<Conversation | undefined> {
    return this.#read(() => toConversation(this.#replies.conversation.get(context, number) as ConversationRow | undefined));
  }

  async latestConversation(number: string, windowMs: number, now: number): Promise<Conversation | undefined> {
    return this.#read(() => toConversation(this.#replies.latestConversation.get(number, now - windowMs) as ConversationRow | undefined));
  }

  async numbersOfTracking(tracking: string): Promise<string[]> {
    return this.#read(() => (this.#replies.numbersOfTracking.all(tracking, tracking) as Array<{ number: string }>).map((row) => row.number));
  }

  async contextOfTracking(trackingId: string, number: string): Promise<string | undefined> {
    return this.#read(() => (this.#replies.contextOfTracking.get(trackingId, number) as { context: string | null } | undefined)?.context ?? undefined);
  }

  async contextOfMail(messageIdHeaders: readonly string[], numbers: readonly string[]): Promise<string | undefined> {
    return this.#read(() => {
      for (const header of messageIdHeaders) {
        for (const number of numbers) {
          const row = this.#replies.contextOfMail.get(header, number) as { context: string } | undefined;
          if (row) return row.context;
        }
      }
      return undefined;
    });
  }

  async isReplyMail(messageIdHeader: string): Promise<boolean> {
    return this.#read(() => this.#replies.isReplyMail.get({ id: messageIdHeader }) !== undefined);
  }

  async answeredNumbers(context: string, messageIdHeaders: readonly string[], numbers: readonly string[]): Promise<string[]> {
    if (messageIdHeaders.length === 0 || numbers.length === 0) return [];
    return this.#read(() =>
      (this.#replies.answeredNumbers.all(context, JSON.stringify(messageIdHeaders), JSON.stringify(numbers)) as Array<{ number: string }>).map(
        (row) => row.number,
      ),
    );
  }

  async repliedIn(contexts: readonly string[], messageIdHeaders: readonly string[], numbers: readonly string[]): Promise<boolean> {
    if (numbers.length === 0 || (contexts.length === 0 && messageIdHeaders.length === 0)) return false;
    return this.#read(
      () =>
        this.#replies.repliedIn.get({ contexts: JSON.stringify(contexts), ids: JSON.stringify(messageIdHeaders), numbers: JSON.stringify(numbers) }) !==
        undefined,
    );
  }

  async sentReplies(context: string, numbers: readonly string[], limit: number): Promise<Buffer[]> {
    return this.#read(() =>
      numbers.flatMap((number) => (this.#replies.sentReplies.all(context, number, limit) as Array<{ raw: Buffer }>).map((row) => row.raw)).slice(0, limit),
    );
  }

  async knowsInbound(provider: string, providerId: string): Promise<boolean> {
    return this.#read(() => this.#replies.knowsInbound.get(provider, providerId) !== undefined);
  }

  async knowsSender(sender: string): Promise<boolean> {
    return this.#read(() => this.#replies.knowsSender.get(sender) !== undefined);
  }

  async returnPathMailbox(inboundId: string, returnPath: string): Promise<string | undefined> {
    return this.#read(() => {
      const mail = this.#replies.replyMailOfReturnPath.get(inboundId, returnPath) as BouncedMailRow | undefined;
      return mail && replyMailbox(mail);
    });
  }

  bounceReplyMail(inboundId: string, returnPath: string, error: string): Promise<BouncedReply | undefined> {
    return this.#write(() => {
      const replies = this.#replies;
      const mail = replies.replyMailOfReturnPath.get(inboundId, returnPath) as BouncedMailRow | undefined;
      if (!mail) return undefined;
      const now = Date.now();
      const failed = replies.bounceReplyMail.run({ id: mail.id, error, now }).changes > 0;
      if (failed) {
        replies.unrouteRefusedReply.run(mail.id);
        this.#sql.insertEventForMail.run(now, 'mail failed', error, mail.id);
      }
      return bouncedReply(mail, !failed);
    });
  }

  acceptInbound(inbound: NewInbound): Promise<{ duplicate: boolean }> {
    return this.#write(() => {
      if (!insertInbound(this.#replies, inbound)) return { duplicate: true };
      if (inbound.route) this.#insertMail([inbound.route.mail], inbound.receivedAt);
      return { duplicate: false };
    });
  }

  async purgeContent(before: number, now: number): Promise<number> {
    const erased = await this.#write(() => {
      const sql = this.#sql;
      const inbound = sql.purgeInbound.run(before, now - REPLY_BOUNCE_WINDOW_MS).changes;
      return [sql.purgeMessages, sql.purgeParts, sql.purgeSubjects, sql.purgeMailOut, sql.purgeQuarantine].reduce(
        (sum, statement) => sum + statement.run(before).changes,
        inbound,
      );
    });
    // The WAL keeps the pages as they were before the erasure until it is checkpointed and emptied (a reader
    // still on an older snapshot defers that to a later checkpoint).
    if (erased > 0) this.#read(() => this.#db.pragma('wal_checkpoint(TRUNCATE)'));
    return erased;
  }

  async latestSmsTo(numbers: readonly string[], since: number): Promise<readonly LatestSms[]> {
    return this.#read(() =>
      numbers.flatMap((number) => {
        const row = this.#sql.latestSmsTo.get({ number, since }) as Record<string, unknown> | undefined;
        return row ? [toLatestSms(row)] : [];
      }),
    );
  }

  async queueStats(now: number): Promise<QueueStats> {
    return this.#read(() => queueStats(this.#admin, now));
  }

  async queuedMailErrors(limit: number): Promise<QueuedMailError[]> {
    return this.#read(() => (this.#sql.queuedMailErrors.all(limit) as Parameters<typeof toQueuedMailError>[0][]).map(toQueuedMailError));
  }

  async listQueued(limit: number, afterSmsId = 0): Promise<QueuedSms[]> {
    return this.#read(() => listQueued(this.#admin, limit, afterSmsId));
  }

  applyQueueAction(action: QueueAction, target: QueueTarget, now: number, by = OPERATOR): Promise<QueueActionDone> {
    return this.#write(() => applyQueueAction(this.#admin, action, target, now, by));
  }

  async listQuarantine(limit: number, afterId = 0): Promise<QuarantineEntry[]> {
    return this.#read(() => listQuarantine(this.#admin, limit, afterId));
  }

  async quarantined(id: number): Promise<QuarantinedBody | undefined> {
    return this.#read(() => quarantinedRequest(this.#admin, id));
  }

  async quarantineSpan(): Promise<QuarantineSpan> {
    return this.#read(() => {
      const row = this.#admin.quarantineSpan.get() as { count: number; newest_id: number | null };
      return { count: row.count, newestId: row.newest_id ?? undefined };
    });
  }

  deleteQuarantined(which: QuarantineDeletion): Promise<number> {
    return this.#write(() =>
      'id' in which
        ? this.#admin.quarantineDelete.run({ id: which.id }).changes
        : which.through === undefined
          ? this.#admin.quarantineDeleteAll.run().changes
          : this.#admin.quarantineDeleteThrough.run({ through: which.through, count: which.count }).changes,
    );
  }

  setDispatchPaused(paused: boolean, now: number): Promise<void> {
    return this.#write(() => {
      if (paused) this.#admin.pause.run(String(now));
      else this.#admin.resume.run();
    });
  }

  async dispatchPausedSince(): Promise<number | undefined> {
    return this.#read(() => {
      const row = this.#admin.paused.get() as { value: string } | undefined;
      return row ? Number(row.value) : undefined;
    });
  }

  async repliesOfNumber(number: string, limit: number): Promise<ReceivedReply[]> {
    return this.#read(() => repliesOfNumber(this.#admin, number, limit));
  }

  async receivedReply(id: string): Promise<ReceivedReply | undefined> {
    return this.#read(() => receivedReply(this.#admin, id));
  }

  async messagesOfNumber(number: string, limit: number): Promise<string[]> {
    return this.#read(() => (this.#admin.messagesOfNumber.all(number, limit) as Array<{ message_id: string }>).map((row) => row.message_id));
  }

  async isOptedOut(number: string): Promise<boolean> {
    return this.#read(() => this.#replies.isOptedOut.get(number) !== undefined);
  }

  async optOutKeyword(number: string): Promise<string | undefined> {
    return this.#read(() => (this.#replies.optOutKeyword.get(number) as { keyword: string } | undefined)?.keyword);
  }

  recordOptOut(number: string, at: number, keyword: string): Promise<boolean> {
    return this.#write(() => {
      if (this.#replies.optedInSince.get(number, at) !== undefined) return false;
      this.#replies.optOut.run(number, at, keyword);
      return true;
    });
  }

  quarantine(request: QuarantinedRequest): Promise<number> {
    return this.#write(() =>
      Number(
        this.#replies.insertQuarantine.run(request.receivedAt, request.provider, request.kind, request.reason, quarantineColumn(request.body)).lastInsertRowid,
      ),
    );
  }

  async undeliverableInbound(limit: number, before?: InboundPosition): Promise<UndeliverableInbound[]> {
    return this.#read(() =>
      (this.#replies.undeliverable.all({ limit, at: before?.receivedAt ?? null, id: before?.id ?? null }) as UndeliverableRow[]).map(toUndeliverable),
    );
  }

  async undeliverableInboundById(id: string): Promise<UndeliverableInbound | undefined> {
    return this.#read(() => {
      const row = this.#replies.undeliverableById.get(id) as UndeliverableRow | undefined;
      return row ? toUndeliverable(row) : undefined;
    });
  }

  rerouteInbound(id: string, mailbox: string, mail: NewOutgoingMail, conversation?: ReroutedConversation): Promise<boolean> {
    return this.#write(() => {
      if (this.#replies.setMailbox.run(mailbox, id).changes === 0) return false;
      if (conversation) {
        this.#replies.moveConversation.run(mailbox, conversation.context, conversation.number, conversation.from);
        this.#replies.insertConversationMail.run(conversation.messageIdHeader, conversation.number, conversation.context);
      }
      this.#insertMail([mail], Date.now());
      return true;
    });
  }

  applyDeliveryReport(report: NewDeliveryReport): Promise<DeliveryReportResult> {
    return this.#write(() => applyReport(this.#replies, report));
  }

  async numbersSentUnder(provider: string, providerId: string): Promise<string[]> {
    return this.#read(() => (this.#replies.numbersSentUnder.all(providerId, provider, providerId) as Array<{ number: string }>).map((row) => row.number));
  }

  expireOrphanReports(before: number): Promise<Readonly<Record<string, number>>> {
    return this.#write(() => countedByProvider(this.#replies.expireOrphans.all(before) as Array<{ provider: string }>));
  }

  async dueNotices(limit: number): Promise<DueNotice[]> {
    return this.#read(() =>
      (this.#replies.dueNotices.all(limit) as Array<ClaimedSmsRow & { delivery: DeliveryState; delivery_code: number }>).map((row) => ({
        smsId: row.id,
        message: toStoredMessage(this.#sql.messageById.get(row.message_id) as MessageRow),
        recipient: toRecipient(row),
        state: row.delivery,
        code: row.delivery_code,
      })),
    );
  }

  recordNotices(groups: readonly NoticeGroup[]): Promise<boolean[]> {
    return this.#write(() => {
      const now = Date.now();
      return groups.map(({ smsIds, mail }) => {
        if (!smsIds.every((id) => this.#replies.noticeDue.get(id) !== undefined)) return false;
        for (const id of smsIds) this.#replies.clearNotice.run(id);
        if (mail) this.#insertMail([mail], now);
        return true;
      });
    });
  }

  /** An online copy of the store (consistent while the relay writes), for backups. */
  addPart(part: NewSmsPart): Promise<PartAdded> {
    return this.#write(() => addPart(this.#reassembly, part));
  }

  async overduePartSets(before: number, limit: number): Promise<PartSet[]> {
    return this.#read(() => overduePartSets(this.#reassembly, before, limit));
  }

  closePartSet(id: number, closedAt: number): Promise<void> {
    return this.#write(() => void this.#reassembly.close.run(closedAt, id));
  }

  expirePartSets(before: number): Promise<number> {
    return this.#write(() => expirePartSets(this.#reassembly, before));
  }

  takeRate(principal: string, limits: RateLimitSettings, parts: number, now: number): Promise<RateTaken> {
    return this.#write(() => shared.takeRate(this.#shared, principal, limits, parts, now));
  }

  releaseRate(id: number): Promise<void> {
    return this.#write(() => void this.#shared.deleteRate.run(id));
  }

  async authFailures(client: string, windowMs: number, now: number): Promise<number> {
    return this.#read(() => (this.#shared.loginFailures.get(client, now - windowMs) as { failures: number }).failures);
  }

  addAuthFailure(client: string, account: string, windowMs: number, now: number): Promise<number> {
    return this.#write(() => shared.addAuthFailure(this.#shared, client, account, windowMs, now));
  }

  clearAuthFailures(client: string, account: string): Promise<void> {
    return this.#write(() => void this.#shared.clearAuthFailures.run(client, account));
  }

  async gatewayState(): Promise<SharedGatewayState> {
    return this.#read(() => shared.gatewayState(this.#shared));
  }

  pauseAccount(provider: string, reason: string, probeInMs: number, now: number): Promise<PauseChange> {
    return this.#write(() => shared.pauseAccount(this.#shared, provider, reason, probeInMs, now));
  }

  claimProbe(provider: string, probeInMs: number, now: number): Promise<ProbeClaim> {
    return this.#write(() => shared.claimProbe(this.#shared, provider, probeInMs, now));
  }

  releaseProbe(provider: string, now: number): Promise<void> {
    return this.#write(() => void this.#shared.releaseProbe.run(now, provider));
  }

  resumeAccount(provider: string): Promise<{ readonly reason: string; readonly since: number } | undefined> {
    return this.#write(() => this.#shared.resume.get(provider) as { reason: string; since: number } | undefined);
  }

  markHostFailed(provider: string, endpoint: string, now: number): Promise<void> {
    return this.#write(() => void this.#shared.hostFailed.run(provider, endpoint, now));
  }

  markHostWorking(provider: string, endpoint: string): Promise<void> {
    return this.#write(() => void this.#shared.hostWorking.run(provider, endpoint));
  }

  pruneSharedState(now: number, failoverRecoveryMs: number): Promise<number> {
    return this.#write(() => shared.pruneSharedState(this.#shared, now, failoverRecoveryMs));
  }

  rescheduleBeyond(now: number, longest: LongestWaits, stepMs: number, setSince: number): Promise<Rescheduled> {
    return this.#write(() => clockStep.rescheduleBeyond(this.#clockStep, now, longest, stepMs, setSince));
  }

  recordSentParts(sent: SentParts): Promise<PartsOfSms> {
    return this.#write(() => sentParts.recordSentParts(this.#parts, sent));
  }

  applyPartReceipt(receipt: PartReceipt): Promise<PartReceiptResult> {
    return this.#write(() => sentParts.applyPartReceipt(this.#parts, receipt));
  }

  expireSentParts(before: number): Promise<number> {
    return this.#write(() => sentParts.expireSentParts(this.#parts, before));
  }

  async close(): Promise<void> {
    this.#writes.flushNow();
    await this.#recovering;
    this.#db.close();
  }

  /**
   * Before each commit: does each path still name the file opened? A commit into a file deleted (or
   * replaced) under the relay is durable nowhere a restart looks, so none is made from then on, and
   * what the open files hold (everything answered 250) is copied where an operator can restore it.
   */
  #checkFile(): void {
    if (this.#damaged) throw new Error(this.#damaged.reason);
    if (!this.#lost) {
      for (const opened of this.#opened) {
        const now = statSync(opened.path, { throwIfNoEntry: false });
        if (now?.dev === opened.dev && now.ino === opened.ino) continue;
        this.#lost = { state: 'lost', reason: `its file ${opened.path} was ${now ? 'replaced' : 'deleted'} while the relay ran`, recovery: undefined };
        this.#onHealth(this.#lost);
        this.#recovering = this.#saveRecovery(this.#lost);
        break;
      }
      if (!this.#lost) return;
    }
    throw new Error(this.#lost.reason);
  }

  /**
   * Copies the open database (SQLite's backup API reads the open handle) next to the lost file, or to the temp dir. A
   * failed attempt's file is removed: an empty or partial file of a copy's name would be restored as the store. A copy in
   * the temp dir is named by a small marker in the data directory, which start and the commands read.
   */
  async #saveRecovery(lost: Extract<StoreHealth, { state: 'lost' }>): Promise<void> {
    const name = `${basename(this.#file)}${RECOVERED_SUFFIX}${new Date().toISOString().replace(/[:.]/g, '-')}`;
    const [beside, elsewhere] = [join(dirname(this.#file), name), join(tmpdir(), name)];
    let failure: unknown;
    for (const file of [beside, elsewhere]) {
      try {
        mkdirSync(dirname(file), { recursive: true, mode: DATA_DIR_MODE });
        privateCopy(file);
        await this.#db.backup(file);
        if (file === elsewhere) markElsewhere(`${beside}${ELSEWHERE_SUFFIX}`, file);
        this.#lost = { ...lost, recovery: { file } };
        this.#onHealth(this.#lost);
        return;
      } catch (error) {
        failure = error;
        removeAttempt(file);
      }
    }
    this.#lost = { ...lost, recovery: { error: failure instanceof Error ? failure.message : String(failure) } };
    this.#onHealth(this.#lost);
  }

  #insertMail(mail: readonly NewOutgoingMail[], now: number): void {
    for (const item of mail) {
      const { lastInsertRowid, changes } = this.#sql.insertMail.run({
        created_at: now,
        kind: item.kind,
        message_id: item.messageId ?? null,
        envelope_from: item.envelopeFrom,
        recipients: JSON.stringify(item.recipients),
        raw: item.raw,
        once_key: item.onceKey ?? null,
      });
      if (changes === 0) continue;
      this.#sql.insertEvent.run(now, item.messageId ?? null, null, `${item.kind} queued`, `mail ${lastInsertRowid} to ${item.recipients.join(', ')}`);
    }
  }

  #groupIntoBatches(rows: readonly ClaimedSmsRow[], batchSize: number): SmsBatch[] {
    return groupIntoBatches(rows, batchSize, (id) => toStoredMessage(this.#sql.messageById.get(id) as MessageRow));
  }

  /** Store failures are one error to callers: temporary, "the store is unavailable". Synced unless `durability` says otherwise. */
  async #write<T>(work: (db: Database) => T, durability?: WriteKind): Promise<T> {
    try {
      return await this.#writes.run(work, durability);
    } catch (error) {
      throw this.#failed(error);
    }
  }

  #read<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      throw this.#failed(error);
    }
  }

  /**
   * A statement that met a damaged file (another store copied over it in place, same inode: no `stat`
   * tells) makes the store damaged for good: a later write that touches other pages would succeed and
   * make the relay look ready on a file whose reads fail.
   */
  #failed(error: unknown): RelayError {
    if (isDamage(error) && !this.#damaged) {
      this.#damaged = { state: 'damaged', reason: `its file ${this.#file} is damaged (${(error as Error).message})` };
      this.#onHealth(this.#damaged);
    }
    return asStoreError(error);
  }
}

/** Creates `file` if missing, readable by its owner alone; an existing file keeps the mode its operator gave it. */
function createPrivately(file: string): void {
  closeSync(openSync(file, 'a', PRIVATE_FILE_MODE));
}

/**
 * Below this much free space a store's (or a backup's) I/O error is the space running out: opening it takes the
 * WAL's index (32 KB of shared memory) and its first pages, a commit a mail's pages (64 KB of write probe).
 */
const NEARLY_FULL_BYTES = 1024 * 1024;

/** Whether the filesystem of `dir` has less than NEARLY_FULL_BYTES left for this user. */
export function diskNearlyFull(dir: string): boolean {
  try {
    const { bavail, bsize } = statfsSync(dir);
    return bavail * bsize < NEARLY_FULL_BYTES;
  } catch {
    return false;
  }
}

/** The marker naming copy `file` saved outside the data directory; its line (`store: lost`) names the copy if none can be written. */
function markElsewhere(marker: string, file: string): void {
  try {
    writeFileSync(marker, `${file}\n`, { mode: 0o600 });
  } catch {
    removeAttempt(marker);
  }
}

/** A failed write's file, removed so that no empty or partial file is taken for a copy; one that cannot be (its directory gone read-only) keeps nothing else from trying. */
function removeAttempt(file: string): void {
  try {
    rmSync(file, { force: true });
  } catch {
    // The temp dir's attempt, or the `store: lost` line naming the copy, follows all the same.
  }
}

/** A file a copy of the store is written to: its owner's alone, also when it replaces an older file. */
function privateCopy(file: string): void {
  createPrivately(file);
  chmodSync(file, PRIVATE_FILE_MODE);
}

/** The store's files and its copies: readable and writable by the relay's user alone. */
const PRIVATE_FILE_MODE = 0o600;

/** A claimed SMS's row with the relay whose lease on it ended (null when nobody leased it). */
type DueSmsRow = ClaimedSmsRow & { lease_owner: string | null; next_attempt_at: number };

/**
 * The SMS due at `now` in claim order: those whose lease ended, then the others by claimAt (a never-tried
 * one ahead of the retries due less than NEVER_TRIED_HEAD_START_MS before it), as CLAIM_ORDER on
 * PostgreSQL. Read lazily, a claim stopping early: the never-tried through their own index merged with
 * every waiting SMS in due order, of which a never-tried one comes out of the first read before the
 * second reaches it, and is passed there.
 */
function* dueInClaimOrder(sql: ReturnType<typeof prepareStatements>, now: number): Generator<DueSmsRow> {
  yield* sql.endedLeases.iterate(now) as IterableIterator<DueSmsRow>;
  const neverTried = sql.dueNeverTriedSms.iterate(now) as IterableIterator<DueSmsRow>;
  const waiting = sql.dueSms.iterate(now) as IterableIterator<DueSmsRow>;
  try {
    const taken = new Set<number>();
    let first = neverTried.next();
    let other = waiting.next();
    while (!first.done || !other.done) {
      if (!other.done && taken.has(other.value.id)) other = waiting.next();
      else if (!first.done && (other.done || (claimAt(first.value) - claimAt(other.value) || first.value.id - other.value.id) <= 0)) {
        taken.add(first.value.id);
        yield first.value;
        first = neverTried.next();
      } else if (!other.done) {
        yield other.value;
        other = waiting.next();
      }
    }
  } finally {
    neverTried.return?.();
    waiting.return?.();
  }
}

/**
 * The original `mail` is a resubmission of (Store#acceptMail), read by `findResubmitted` newest first: the latest of its
 * matches (its fingerprint and Subject) with its Date (the same mail queued again, whatever came between) or with no
 * mail of another text or Subject (to any numbers) since. A stored resubmission is its original sent again, no alert
 * of its own: it folds by its Date alone and neither continues nor breaks the chain (else a device's next alert after a
 * late retry of its earlier one would fold into that retry). Without a Date the first mail of another text ends the
 * walk; one that reaches `rows` without either folds nothing (a possible duplicate, never a loss).
 */
function resubmitted(
  findResubmitted: Statement,
  mail: NewMail,
  { fingerprint, since, date, rows = RESUBMISSION_WALK_ROWS }: Resubmission,
): { id: string } | undefined {
  const walked = findResubmitted.iterate({
    message_id_header: mail.messageIdHeader ?? null,
    since,
    fingerprint,
    date: date ?? null,
    text: mail.sms.text,
    subject: mail.subject ?? null,
    rows,
  }) as IterableIterator<{ id: string; match: number; requeued: number | null; repeat: number; other: number }>;
  let otherSince = false;
  for (const row of walked) {
    if (row.match && (row.requeued || (!row.repeat && !otherSince))) return { id: row.id };
    if (row.other && !row.repeat) {
      if (date === undefined) return undefined;
      otherSince = true;
    }
  }
  return undefined;
}

function prepareStatements(db: Database) {
  return {
    insertMessage: db.prepare(`
      INSERT INTO messages (id, received_at, envelope_from, client_address, client_helo, message_id_header, subject,
        headers, text, encoding, parts, max_parts, sender_id, user_context, dsn_ret, dsn_envid, fingerprint,
        date_header, duplicate_of, report_all, send_at, gateway_account, account)
      VALUES (@id, @received_at, @envelope_from, @client_address, @client_helo, @message_id_header, @subject,
        @headers, @text, @encoding, @parts, @max_parts, @sender_id, @user_context, @dsn_ret, @dsn_envid, @fingerprint,
        @date_header, @duplicate_of, @report_all, @send_at, @gateway_account, @account)`),
    // Store#acceptMail: the mails under a Message-ID since a time, newest first, in the index messages_message_id (schema
    // 38; a later rowid is a later insert, which orders two mails stamped in the same ms), at most @rows of them, each
    // read for its text: whether it is the mail's match (fingerprint and Subject), with its Date too, or of another text
    // or Subject (resubmitted walks them).
    findResubmitted: db.prepare(`
      SELECT COALESCE(duplicate_of, id) AS id, fingerprint = @fingerprint AND subject IS @subject AS match,
        date_header = @date AS requeued, duplicate_of IS NOT NULL AS repeat, text IS NOT @text OR subject IS NOT @subject AS other
      FROM messages WHERE message_id_header = @message_id_header AND received_at >= @since
      ORDER BY received_at DESC, rowid DESC ${sqliteLimit('@rows')}`),
    sentOrToBeSent: db.prepare(`SELECT ${MAIL_SENT_OR_TO_BE_SENT('@id')} AS sent`),
    insertSms: db.prepare(`
      INSERT INTO outbound (message_id, number, rcpt, notify, orcpt, status, next_attempt_at, updated_at)
      VALUES (@message_id, @number, @rcpt, @notify, @orcpt, 'queued', @due, @now)`),
    insertRefusedSms: db.prepare(`
      INSERT INTO outbound (message_id, number, rcpt, notify, orcpt, status, last_error, next_attempt_at, updated_at)
      VALUES (@message_id, @number, @rcpt, @notify, @orcpt, 'failed', @reason, @now, @now)`),
    insertEvent: db.prepare('INSERT INTO events (at, message_id, sms_id, kind, detail) VALUES (?, ?, ?, ?, ?)'),
    insertEventForSms: db.prepare('INSERT INTO events (at, message_id, sms_id, kind, detail) SELECT ?, message_id, id, ?, ? FROM outbound WHERE id = ?'),
    insertEventForMail: db.prepare('INSERT INTO events (at, message_id, sms_id, kind, detail) SELECT ?, message_id, NULL, ?, ? FROM mail_out WHERE id = ?'),
    // A claim takes the SMS whose lease ended before the others (postgres/store.ts, CLAIM_ORDER), found by their own index.
    endedLeases: db.prepare(`
      SELECT id, message_id, number, rcpt, notify, orcpt, attempts, last_error, lease_owner FROM outbound
      WHERE status = 'queued' AND lease_owner IS NOT NULL AND next_attempt_at <= ? AND held = 0
        AND NOT EXISTS (SELECT 1 FROM control WHERE key = 'dispatch_paused')
      ORDER BY next_attempt_at, id`),
    dueSms: db.prepare(`
      SELECT id, message_id, number, rcpt, notify, orcpt, attempts, last_error, lease_owner, next_attempt_at FROM outbound
      WHERE status = 'queued' AND lease_owner IS NULL AND next_attempt_at <= ? AND held = 0
        AND NOT EXISTS (SELECT 1 FROM control WHERE key = 'dispatch_paused')
      ORDER BY next_attempt_at, id`),
    dueNeverTriedSms: db.prepare(`
      SELECT id, message_id, number, rcpt, notify, orcpt, attempts, last_error, lease_owner, next_attempt_at FROM outbound
      WHERE status = 'queued' AND ${NEVER_TRIED} AND next_attempt_at <= ? AND held = 0
        AND NOT EXISTS (SELECT 1 FROM control WHERE key = 'dispatch_paused')
      ORDER BY next_attempt_at, id`),
    // A job another relay still leases (takenOverFrom) is one whose lease ended with no outcome (that relay died or
    // lost the store): its attempt may have reached the gateway, an attempt and a possible duplicate.
    leaseSms: db.prepare(`
      UPDATE outbound SET possible_duplicates = possible_duplicates + (${takenOverFrom('lease_owner', '@owner')} IS NOT NULL),
        attempts = attempts + (${takenOverFrom('lease_owner', '@owner')} IS NOT NULL), lease_owner = @owner, next_attempt_at = @until WHERE id = @id`),
    takenOver: db.prepare(`
      INSERT INTO events (at, message_id, sms_id, kind, detail)
      SELECT @now, message_id, id, '${TAKEN_OVER}', ${takenOverDetail('lease_owner', '@owner')} FROM outbound
      WHERE id = @id AND ${takenOverFrom('lease_owner', '@owner')} IS NOT NULL`),
    nextSmsDue: db.prepare(`
      SELECT MIN(next_attempt_at) AS at FROM outbound WHERE status = 'queued' AND held = 0
        AND NOT EXISTS (SELECT 1 FROM control WHERE key = 'dispatch_paused')`),
    // An SMS is past its age at its start (STARTED) + maxAge, and claimable once its lease (if any) has
    // ended; a queued SMS's next attempt is never after its age.
    nextSmsExpiry: db.prepare(`
      SELECT MIN(MAX(${STARTED} + ?, o.next_attempt_at)) AS at
      FROM outbound o JOIN messages m ON m.id = o.message_id WHERE o.status = 'queued' AND o.held = 0
        AND NOT EXISTS (SELECT 1 FROM control WHERE key = 'dispatch_paused')`),
    dueExpiredSms: db.prepare(`
      SELECT o.id, o.message_id, o.number, o.rcpt, o.notify, o.orcpt, o.attempts, o.last_error, o.lease_owner, o.next_attempt_at
      FROM outbound o JOIN messages m ON m.id = o.message_id
      WHERE o.status = 'queued' AND o.held = 0 AND o.next_attempt_at <= @now AND ${STARTED} <= @startedBy
        AND NOT EXISTS (SELECT 1 FROM control WHERE key = 'dispatch_paused')
      ORDER BY o.lease_owner IS NULL, o.next_attempt_at, o.id ${sqliteLimit('@limit')}`),
    messageById: db.prepare('SELECT * FROM messages WHERE id = ?'),
    leaseOf: db.prepare('SELECT message_id, lease_owner FROM outbound WHERE id = ?'),
    lateAnswer: db.prepare(`
      INSERT INTO events (at, message_id, sms_id, kind, detail)
      SELECT @now, message_id, id, '${LATE_ANSWER}', ${lateAnswerDetail('@owner', '@said')} FROM outbound WHERE id = @id`),
    smsSent: db.prepare(`
      UPDATE outbound SET status = 'sent', provider_id = ?, tracking_id = ?, attempts = attempts + 1, lease_owner = NULL,
        last_error = NULL, updated_at = ? WHERE id = ? RETURNING number, message_id`),
    // A queued SMS has no gateway id unless a report named it in flight (smsSentByReport).
    smsRetry: db.prepare(`
      UPDATE outbound SET next_attempt_at = ?, last_error = ?, attempts = attempts + ?,
        possible_duplicates = possible_duplicates + ?, lease_owner = NULL, updated_at = ? WHERE id = ? AND NOT (status = 'queued' AND COALESCE(provider_id, '') <> '')`),
    /** A retry's SMS that a report named while its attempt was in flight: sent (ONE_DUPLICATE_TAKEN_BACK after the attempt's count). */
    smsSentByReport: db.prepare(`
      UPDATE outbound SET status = 'sent', attempts = attempts + ?, possible_duplicates = MAX(possible_duplicates + ? - 1, 0), lease_owner = NULL,
        last_error = NULL, updated_at = ? WHERE id = ? AND status = 'queued' AND provider_id <> '' RETURNING number, message_id, provider_id`),
    insertSentByReportEvent: db.prepare(`
      INSERT INTO events (at, message_id, sms_id, kind, detail)
      SELECT ?, message_id, id, 'sent', ${sentByReportInFlightDetail('provider_id', '?')} FROM outbound WHERE id = ?`),
    // The same at a claim that finds a lease (`?` its relay's) ended.
    sentByReportAtTakeover: db.prepare(`
      INSERT INTO events (at, message_id, sms_id, kind, detail)
      SELECT ?, message_id, id, 'sent', ${sentByReportInFlightDetail('provider_id', leaseExpired('?'))} FROM outbound WHERE id = ?`),
    addAttempts: db.prepare('UPDATE outbound SET attempts = attempts + ?, possible_duplicates = possible_duplicates + ? WHERE id = ?'),
    resendRecognised: db.prepare(`UPDATE outbound SET ${ONE_DUPLICATE_TAKEN_BACK} WHERE id = ?`),
    // A report that named it in flight stays an orphan: the gateway refused it, or it was given up without a request (an attempt
    // whose answer was lost is a retry, which smsSentByReport turns into sent).
    smsFinal: db.prepare(`
      UPDATE outbound SET status = ?, last_error = ?, attempts = attempts + ?, lease_owner = NULL, provider_id = NULL, updated_at = ?
      WHERE id = ?`),
    leasedSmsIds: db.prepare(`SELECT id FROM outbound WHERE ${STALE_LEASES}`),
    releaseSms: db.prepare(`
      UPDATE outbound SET lease_owner = NULL, next_attempt_at = MIN(next_attempt_at, ?),
        possible_duplicates = possible_duplicates + 1, attempts = attempts + 1
      WHERE ${STALE_LEASES}`),
    leasedMailIds: db.prepare(`SELECT id FROM mail_out WHERE ${STALE_LEASES}`),
    releaseMail: db.prepare(`
      UPDATE mail_out SET lease_owner = NULL, next_attempt_at = MIN(next_attempt_at, ?), attempts = attempts + 1,
        possible_duplicates = possible_duplicates + ?
      WHERE ${STALE_LEASES}`),
    insertMail: db.prepare(`
      INSERT INTO mail_out (created_at, kind, message_id, envelope_from, recipients, raw, status, next_attempt_at, updated_at,
        once_key)
      VALUES (@created_at, @kind, @message_id, @envelope_from, @recipients, @raw, 'queued', @created_at, @created_at,
        @once_key)
      ON CONFLICT (once_key) WHERE once_key IS NOT NULL DO NOTHING`),
    // A claim takes the mail whose lease ended before the others (postgres/store.ts, CLAIM_ORDER), found by their own index.
    endedMailLeases: db.prepare(`
      SELECT id, created_at, kind, message_id, envelope_from, recipients, raw, attempts, ${takenOverFrom('lease_owner', '@owner')} AS was FROM mail_out
      WHERE status = 'queued' AND lease_owner IS NOT NULL AND next_attempt_at <= @now ORDER BY next_attempt_at, id ${sqliteLimit('@limit')}`),
    dueMail: db.prepare(`
      SELECT id, created_at, kind, message_id, envelope_from, recipients, raw, attempts FROM mail_out
      WHERE status = 'queued' AND lease_owner IS NULL AND next_attempt_at <= ? ORDER BY next_attempt_at, id ${sqliteLimit('?')}`),
    leaseMail: db.prepare('UPDATE mail_out SET lease_owner = ?, next_attempt_at = ? WHERE id = ?'),
    mailTakenOver: db.prepare(`
      INSERT INTO events (at, message_id, sms_id, kind, detail)
      SELECT @now, message_id, NULL, '${MAIL_TAKEN_OVER}', ${takenOverDetail('@was', '@owner')} FROM mail_out WHERE id = @id`),
    leaseTakenOverMail: db.prepare(
      'UPDATE mail_out SET lease_owner = ?, next_attempt_at = ?, attempts = attempts + 1, possible_duplicates = possible_duplicates + 1 WHERE id = ?',
    ),
    mailDueNow: db.prepare("UPDATE mail_out SET next_attempt_at = ? WHERE status = 'queued' AND lease_owner IS NULL AND next_attempt_at > ?"),
    queuedMailErrors: db.prepare(queuedMailErrorsSql('?')),
    nextMailDue: db.prepare("SELECT MIN(next_attempt_at) AS at FROM mail_out WHERE status = 'queued'"),
    mailRetry: db.prepare(`
      UPDATE mail_out SET next_attempt_at = @next, last_error = @error, attempts = attempts + 1, lease_owner = NULL,
        updated_at = @now WHERE id = @id AND ${mailHeldBy('@owner')}`),
    mailFinal: db.prepare(`
      UPDATE mail_out SET status = @status, last_error = @error, attempts = attempts + 1, lease_owner = NULL,
        updated_at = @now WHERE id = @id AND ${mailHeldBy('@owner')}`),
    lateMailAnswer: db.prepare(`
      INSERT INTO events (at, message_id, sms_id, kind, detail)
      SELECT @now, message_id, NULL, '${LATE_ANSWER}', ${lateAnswerDetail('@owner', '@said')} FROM mail_out WHERE id = @id`),
    ping: db.prepare('SELECT 1'),
    probe: db.prepare("INSERT INTO control (key, value) VALUES ('write_probe', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
    unprobe: db.prepare("DELETE FROM control WHERE key = 'write_probe'"),
    latestSmsTo: db.prepare(latestSmsTo('@number', '@since')),
    insertRepeated: db.prepare(`
      INSERT INTO events (at, message_id, sms_id, kind, detail) SELECT @at, @earlier, @sms, '${REPEATED_EVENT}', @detail
      WHERE NOT EXISTS (SELECT 1 FROM events WHERE message_id = @earlier AND sms_id = @sms AND kind = '${REPEATED_EVENT}')`),
    purgeMessages: db.prepare(`
      UPDATE messages SET text = '', headers = '', subject = NULL
      WHERE received_at < ? AND (text != '' OR headers != '')
        AND NOT EXISTS (SELECT 1 FROM outbound WHERE outbound.message_id = messages.id AND outbound.status = 'queued')`),
    purgeInbound: db.prepare(`UPDATE inbound SET text = '' WHERE received_at < ? AND text != '' AND ${inboundFinished('?')}`),
    purgeParts: db.prepare(`UPDATE sms_parts SET text = '', octets = NULL WHERE received_at < ? AND text != '' AND ${PARTS_FINISHED}`),
    purgeSubjects: db.prepare('UPDATE conversations SET subject = NULL WHERE last_used_at < ? AND subject IS NOT NULL'),
    purgeMailOut: db.prepare("UPDATE mail_out SET raw = x'' WHERE created_at < ? AND status != 'queued' AND length(raw) > 0"),
    purgeQuarantine: db.prepare("UPDATE quarantine SET body = '', body_erased = 1 WHERE received_at < ? AND body != ''"),
    waitingSms: db.prepare("SELECT id, number, rcpt, notify, orcpt, attempts, last_error FROM outbound WHERE message_id = ? AND status = 'queued' ORDER BY id"),
    smsOf: db.prepare(`SELECT ${smsStateColumns(SQLITE_NOW_MS)} FROM outbound o JOIN messages m ON m.id = o.message_id WHERE o.message_id = ? ORDER BY o.id`),
    eventsOf: db.prepare('SELECT at, kind, sms_id, detail FROM events WHERE message_id = ? ORDER BY id'),
  };
}
