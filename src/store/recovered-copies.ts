import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { StoreFileError } from '../errors.ts';
import { prepareAdminStatements, queueStats } from './sqlite-admin.ts';
import type { QueueStats } from './types.ts';

/** A lost store's copy is `smsrelay.db` + this + the time it was saved (ISO, `:` and `.` as `-`): start and the commands look for it. */
export const RECOVERED_SUFFIX = '.recovered-';

/**
 * A copy the data directory could not take (its disk full) goes to the system's temp directory: a file of the copy's name
 * and this suffix is left in the data directory instead, holding the copy's path, so that start and the commands name it.
 */
export const ELSEWHERE_SUFFIX = '.elsewhere';

/** The time in a copy's name as the relay writes it, or a marker's: a sqlite3 shell's `-wal`, `-shm` or `-journal` beside the copy is no copy. */
const SAVED_AT = /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z(\.elsewhere)?$/;

/**
 * A copy larger than this is not read for its queue: it is read whole into memory (opening the file would make a WAL
 * and index beside it that a read-only connection cannot remove), at a start or a command that should take milliseconds.
 */
const COUNTED_COPY_MAX_BYTES = 64 * 1024 * 1024;

/** A lost store's copy found beside its store (or named there by a marker), with what it holds when that was cheap to read. */
export interface RecoveredCopy {
  /** The copy itself: in the data directory, or where its marker says. */
  readonly file: string;
  /** The marker in the data directory naming a copy saved elsewhere. */
  readonly marker?: string;
  readonly queue: QueueStats | { readonly unread: string; readonly noCopy: boolean };
  /** The copy's newest SMS to send and newest received SMS, where read: a store holding both holds the copy. */
  readonly newest?: Newest;
}

interface Newest {
  readonly outbound?: { readonly id: number; readonly message_id: string };
  readonly inbound?: { readonly id: string };
}

/** The copies a relay saved of store `file` deleted or replaced under it, oldest first (the names sort by the time in them). */
function recoveredCopies(file: string, now: number): RecoveredCopy[] {
  return recoveredCopyFiles(file).map((found) =>
    'unread' in found ? { file: found.file, queue: { unread: found.unread, noCopy: true } } : { ...found, ...readCopy(found.file, now) },
  );
}

/**
 * Where those copies are, each named by its file (in the data directory, or where its marker says), nothing read from
 * them: what a line naming the newest needs, where reading each (up to COUNTED_COPY_MAX_BYTES) would be wasted.
 */
export function recoveredCopyFiles(
  file: string,
): Array<{ readonly file: string; readonly marker?: string } | { readonly file: string; readonly unread: string }> {
  const prefix = `${basename(file)}${RECOVERED_SUFFIX}`;
  let names: string[];
  try {
    names = readdirSync(dirname(file));
  } catch {
    return [];
  }
  return names
    .filter((name) => name.startsWith(prefix) && SAVED_AT.test(name.slice(prefix.length)))
    .sort()
    .map((name) => join(dirname(file), name))
    .map((found) => {
      if (!found.endsWith(ELSEWHERE_SUFFIX)) return { file: found };
      try {
        return { file: readFileSync(found, 'utf8').trim(), marker: found };
      } catch (error) {
        return { file: found, unread: `unreadable: ${messageOf(error)}` };
      }
    });
}

/** What the copy holds queued and its newest rows, read from it in memory; or why not, and whether it is no copy at all. */
function readCopy(copy: string, now: number): Pick<RecoveredCopy, 'queue' | 'newest'> {
  try {
    const { size } = statSync(copy);
    // A failed copy attempt's file (an older release left it, its disk full): nothing in it to restore.
    if (size === 0) return { queue: { unread: 'empty', noCopy: true } };
    if (size > COUNTED_COPY_MAX_BYTES) return { queue: { unread: `${Math.round(size / 1024 / 1024)} MB, not read here`, noCopy: false } };
    const image = readFileSync(copy);
    // The header's read and write versions say WAL (2); an image in memory has none: as a rollback-journal file (1), it opens.
    image[18] = 1;
    image[19] = 1;
    const db = new BetterSqlite3(image, { readonly: true });
    try {
      return { queue: queueStats(prepareAdminStatements(db), now), newest: newestOf(db) };
    } finally {
      db.close();
    }
  } catch (error) {
    return { queue: { unread: `unreadable: ${messageOf(error)}`, noCopy: true } };
  }
}

/** The newest SMS to send and received SMS of a store. */
function newestOf(db: Database): Newest {
  return {
    outbound: db.prepare('SELECT id, message_id FROM outbound ORDER BY id DESC LIMIT 1').get() as Newest['outbound'],
    inbound: db.prepare('SELECT id FROM inbound ORDER BY rowid DESC LIMIT 1').get() as Newest['inbound'],
  };
}

/**
 * Whether store `file` holds the copy's newest SMS to send and received SMS: the copy was restored already (by `cp`, or
 * under an older release that left no copy beside it): nothing in it waits unsent. A store that cannot be read holds nothing.
 */
function holds(file: string, { outbound, inbound }: Newest): boolean {
  try {
    const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
    try {
      const hasOutbound = !outbound || db.prepare('SELECT 1 FROM outbound WHERE id = ? AND message_id = ?').get(outbound.id, outbound.message_id) !== undefined;
      return hasOutbound && (!inbound || db.prepare('SELECT 1 FROM inbound WHERE id = ?').get(inbound.id) !== undefined);
    } finally {
      db.close();
    }
  } catch {
    return false;
  }
}

/** What a copy beside store `file` means for a start or a command: refuse (a queue only the copy holds), or warn (restored already). */
export type CopyCheck = { readonly refusal: StoreFileError } | { readonly warning: string };

/**
 * The refusal to run on store `file` (a start creating it anew, a command reading the one started since) while a copy of
 * a lost store waits beside it: the SMS and mail answered 250 into the lost store are only in the copy, and a store
 * started beside it never sends them. The line names each copy, what it holds and both ways on: restore the newest (the
 * restore docs/operations.md#health gives, as commands), or move the copies out of the directory to go on knowingly.
 * A copy the store already holds is only warned of; a file that is no copy (empty, unreadable) is never offered to restore.
 */
export function recoveredCopyCheck(file: string, now: number): CopyCheck | undefined {
  const copies = recoveredCopies(file, now);
  if (copies.length === 0) return undefined;
  const dir = dirname(file);
  const exists = statSync(file, { throwIfNoEntry: false }) !== undefined;
  const restored = copies.filter((copy) => exists && copy.newest !== undefined && holds(file, copy.newest));
  const left = copies.filter((copy) => !restored.includes(copy));
  const inDir = (copies: readonly RecoveredCopy[]) => copies.map((copy) => shellQuoted(copy.marker ?? copy.file)).join(' ');
  if (left.length === 0) {
    return {
      warning: `store: ${dir} holds ${copiesOf(restored)} a relay saved of its store when it was deleted or replaced under it, but ${basename(file)} holds what ${restored.length === 1 ? 'it holds' : 'they hold'}: restored already; remove ${restored.length === 1 ? 'it' : 'them'} (rm ${inDir(restored)})`,
    };
  }
  const restorable = left.filter(({ queue }) => !('unread' in queue && queue.noCopy));
  const noCopies = left.filter((copy) => !restorable.includes(copy));
  const newest = restorable.at(-1);
  const notCopies = noCopies.length
    ? `${noCopies.map(({ file: copy, marker, queue }) => `${marker ? `${marker} names ${copy}, ` : `${copy} `}${'unread' in queue ? queue.unread : ''}`).join(', ')}: no copy, never restore ${noCopies.length === 1 ? 'it' : 'them'}`
    : '';
  const [wal, shm] = [`${file}-wal`, `${file}-shm`].map(shellQuoted);
  if (newest === undefined) {
    return {
      refusal: new StoreFileError(
        `${dir} holds what a relay left when its store was deleted or replaced under it: ${notCopies}. The copy of what was answered 250 went where that relay's "store: lost" line names (the system's temp directory ${tmpdir()} when the data directory could not take it): restore that one: stop the relay if one runs, then rm -f ${wal} ${shm} && mv <that copy> ${shellQuoted(file)}, remove ${inDir(noCopies)} and start it (docs/operations.md#health); or, to run on ${exists ? `${basename(file)} as it is` : 'a new, empty store'}, remove ${inDir(noCopies)}`,
      ),
    };
  }
  const held = restorable
    .map(({ file: copy, marker, queue }) => `${copy}${marker ? ` (named by ${marker})` : ''} (${'unread' in queue ? queue.unread : queued(queue)})`)
    .join(', ');
  const others = left.length > 1 ? `; then move the other ${left.length === 2 ? 'file' : 'files'} out of ${dir} as below` : '';
  const replaces = exists ? `, which replaces the ${basename(file)} started since (copy it first if it took mail: smsrelay backup <file>)` : '';
  const alsoMarker = newest.marker ? ` && rm ${shellQuoted(newest.marker)}` : '';
  return {
    refusal: new StoreFileError(
      `${dir} holds ${copiesOf(restorable)} a relay saved of its store when it was deleted or replaced under it: ${held}; what was answered 250 into it is sent only from there${notCopies ? `; ${notCopies}` : ''}. Restore it: stop the relay if one runs, then rm -f ${wal} ${shm} && mv ${shellQuoted(newest.file)} ${shellQuoted(file)}${alsoMarker}${replaces}${others}, and start it (docs/operations.md#health); or, to run on ${exists ? `${basename(file)} as it is` : 'a new, empty store'} and leave that queue unsent, move the ${left.length === 1 ? 'copy' : 'files'} out of ${dir} (mv ${inDir(left)} <another directory>/)`,
    ),
  };
}

/** "a copy" or "N copies". */
function copiesOf(copies: readonly unknown[]): string {
  return copies.length === 1 ? 'a copy' : `${copies.length} copies`;
}

/** A path as a POSIX shell reads it back: as it is when it holds nothing the shell would take apart, else in single quotes. */
function shellQuoted(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replaceAll("'", `'\\''`)}'`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A copy's queue in a few words. */
function queued({ sms, mail, undeliverableInbound }: QueueStats): string {
  const held = sms.held > 0 ? ` (${sms.held} held)` : '';
  return `${sms.queued + sms.held} SMS${held} and ${mail.queued} mail queued, ${undeliverableInbound} received SMS undeliverable`;
}
