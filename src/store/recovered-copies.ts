import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { StoreFileError } from '../errors.ts';
import { prepareAdminStatements, queueStats } from './sqlite-admin.ts';
import type { QueueStats } from './types.ts';

/** A lost store's copy is `smsrelay.db` + this + the time it was saved (ISO, `:` and `.` as `-`): start and the commands look for it. */
export const RECOVERED_SUFFIX = '.recovered-';

/** The time in a copy's name as the relay writes it: a sqlite3 shell's `-wal`, `-shm` or `-journal` beside the copy is no copy. */
const SAVED_AT = /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z$/;

/**
 * A copy larger than this is not read for its queue: it is read whole into memory (opening the file would make a WAL
 * and index beside it that a read-only connection cannot remove), at a start or a command that should take milliseconds.
 */
const COUNTED_COPY_MAX_BYTES = 64 * 1024 * 1024;

/** A lost store's copy found beside its store, with what it holds queued when that was cheap to read. */
export interface RecoveredCopy {
  readonly file: string;
  readonly queue: QueueStats | { readonly unread: string };
}

/** The copies a relay saved of store `file` deleted or replaced under it, oldest first (the names sort by the time in them). */
export function recoveredCopies(file: string, now: number): RecoveredCopy[] {
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
    .map((copy) => ({ file: copy, queue: queueOf(copy, now) }));
}

/** What the copy holds queued, read from it in memory; or why not. */
function queueOf(copy: string, now: number): RecoveredCopy['queue'] {
  try {
    const { size } = statSync(copy);
    if (size > COUNTED_COPY_MAX_BYTES) return { unread: `${Math.round(size / 1024 / 1024)} MB, not read here` };
    const image = readFileSync(copy);
    // The header's read and write versions say WAL (2); an image in memory has none: as a rollback-journal file (1), it opens.
    image[18] = 1;
    image[19] = 1;
    const db = new BetterSqlite3(image, { readonly: true });
    try {
      return queueStats(prepareAdminStatements(db), now);
    } finally {
      db.close();
    }
  } catch (error) {
    return { unread: `unreadable: ${error instanceof Error ? error.message : String(error)}` };
  }
}

/**
 * The refusal to run on store `file` (a start creating it anew, a command reading the one started since) while a copy of
 * a lost store waits beside it: the SMS and mail answered 250 into the lost store are only in the copy, and a store
 * started beside it never sends them. The line names each copy, what it holds and both ways on: restore the newest (the
 * restore docs/operations.md#health gives, as commands), or move the copies out of the directory to go on knowingly.
 */
export function recoveredCopyRefusal(file: string, now: number): StoreFileError | undefined {
  const copies = recoveredCopies(file, now);
  const newest = copies.at(-1);
  if (newest === undefined) return undefined;
  const dir = dirname(file);
  const [wal, shm] = [`${file}-wal`, `${file}-shm`];
  const held = copies.map(({ file: copy, queue }) => `${copy} (${'unread' in queue ? queue.unread : queued(queue)})`).join(', ');
  const others = copies.length > 1 ? `; then move the older ${copies.length === 2 ? 'copy' : 'copies'} out of ${dir} as below` : '';
  const exists = statSync(file, { throwIfNoEntry: false }) !== undefined;
  const replaces = exists ? `, which replaces the ${basename(file)} started since (copy it first if it took mail: smsrelay backup <file>)` : '';
  return new StoreFileError(
    `${dir} holds ${copies.length === 1 ? 'a copy' : `${copies.length} copies`} a relay saved of its store when it was deleted or replaced under it: ${held}; what was answered 250 into it is sent only from there. Restore it: stop the relay if one runs, then mv ${newest.file} ${file} && rm -f ${wal} ${shm}${replaces}${others}, and start it (docs/operations.md#health); or, to run on ${exists ? `${basename(file)} as it is` : 'a new, empty store'} and leave that queue unsent, move the ${copies.length === 1 ? 'copy' : 'copies'} out of ${dir} (mv ${copies.map((copy) => copy.file).join(' ')} <another directory>/)`,
  );
}

/** A copy's queue in a few words. */
function queued({ sms, mail, undeliverableInbound }: QueueStats): string {
  const held = sms.held > 0 ? ` (${sms.held} held)` : '';
  return `${sms.queued + sms.held} SMS${held} and ${mail.queued} mail queued, ${undeliverableInbound} received SMS undeliverable`;
}
