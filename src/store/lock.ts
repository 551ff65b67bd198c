import { mkdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DataDirError } from '../errors.ts';

/** The store's file inside the data directory. */
export const STORE_FILE = 'smsrelay.db';

/** Name of the file that marks a data directory as in use by one relay process. */
const LOCK_FILE = 'smsrelay.pid';

/** A lock file left by a dead relay, taken over: why it was stale. */
export interface StaleLock {
  readonly pid: number;
  readonly reason: 'not running' | 'pid reused';
}

/** The data directory's lock, held by this process until releaseDataDirLock. */
export interface DataDirLock {
  readonly stale: StaleLock | undefined;
}

/** The directory of a linked store file this process locked (lockDataDir), to release it whatever the link says by then. */
let lockedStoreDir: string | undefined;

/**
 * One relay process per data directory: the embedded store has one writer, and start-up frees every
 * lease in the store, which is only right when the process that held them is dead. The lock file
 * holds the owner's pid and, where the system tells it (Linux), the owner's start time: a pid alone
 * cannot tell a live relay from another process that got a dead relay's pid (kill -9, then a reboot
 * or a busy system), its start time can. A file left by a dead process is taken over.
 *
 * The file is written beside its place and renamed onto it, which needs the right to create files in
 * the directory: a directory that lost it (its mode changed, the lock and store files of an earlier
 * run still writable in place) is refused at start, not met later by what must create a file there
 * (SQLite's WAL at open, the copy of a lost store, the Maildir, removing the lock at the stop).
 */
export function lockDataDir(dataDir: string, { embeddedStore }: { readonly embeddedStore: boolean }): DataDirLock {
  const own = lockDir(dataDir);
  const storeDir = embeddedStore ? linkedStoreDir(dataDir) : undefined;
  if (storeDir === undefined) return own;
  // One relay per store file, as per data directory: the directory a link puts it in is locked too, so that a relay
  // started there, or on another data directory linking the same file, is refused as a second one here would be.
  let store: DataDirLock;
  try {
    store = lockDir(storeDir);
    lockedStoreDir = storeDir;
  } catch (error) {
    releaseLockFile(dataDir);
    if (error instanceof Error) error.message = `${join(dataDir, STORE_FILE)} is a link into ${storeDir}: ${error.message}`;
    throw error;
  }
  return { stale: own.stale ?? store.stale };
}

/**
 * The directory the embedded store's file is in when a link in `dataDir` puts it elsewhere (a store moved to another
 * disk and linked back); undefined when it is in `dataDir`, is not there yet, or cannot be resolved (its open says why).
 */
function linkedStoreDir(dataDir: string): string | undefined {
  try {
    const dir = dirname(realFile(join(dataDir, STORE_FILE)));
    return realpathSync(dir) === realpathSync(dataDir) ? undefined : dir;
  } catch {
    return undefined;
  }
}

/**
 * `file` with its links (and those of its directories) resolved, as SQLite opens it; one not there yet, or that cannot
 * be resolved (a loop of links, a directory this user may not enter), is named as given: what opens it says why.
 */
export function realFile(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return file;
  }
}

/** The lock file of one directory (lockDataDir). */
function lockDir(dataDir: string): DataDirLock {
  const file = join(dataDir, LOCK_FILE);
  const owner = readOwner(file);
  let stale: StaleLock | undefined;
  if (owner !== undefined && owner.pid !== process.pid) {
    stale = staleness(owner);
    if (stale === undefined) {
      throw new DataDirError(
        dataDir,
        `is in use by another smsrelay (pid ${owner.pid}); stop it or give this relay another data directory` +
          (owner.startTime === undefined ? ` (if no smsrelay runs there, delete ${file})` : ''),
      );
    }
  }
  const startTime = startTimeOf(process.pid);
  const written = `${file}.${process.pid}`;
  try {
    writeFileSync(written, startTime === undefined ? `${process.pid}\n` : `${process.pid}\n${startTime}\n`);
    renameSync(written, file);
  } catch (error) {
    try {
      rmSync(written, { force: true });
    } catch {
      // It could not be written or cannot be removed either: the error below says why.
    }
    throw new DataDirError(dataDir, 'cannot be written', error);
  }
  return { stale };
}

/**
 * Removes the data directory's lock file if this process holds it, at the end of a stop. A failure (the directory made unwritable under the running relay) is
 * returned, not thrown: the stop ends all the same, and the next start takes the file over as a dead relay's.
 */
export function releaseDataDirLock(dataDir: string): DataDirError | undefined {
  // The directory a linked store file was in when lockDataDir locked it too (the link may have changed since).
  const storeFailed = lockedStoreDir === undefined ? undefined : releaseLockFile(lockedStoreDir);
  lockedStoreDir = undefined;
  return releaseLockFile(dataDir) ?? storeFailed;
}

/** Removes one directory's lock file if this process holds it. */
function releaseLockFile(dataDir: string): DataDirError | undefined {
  const file = join(dataDir, LOCK_FILE);
  try {
    if (readOwner(file)?.pid === process.pid) unlinkSync(file);
    return undefined;
  } catch (error) {
    return new DataDirError(dataDir, `keeps its lock file: ${LOCK_FILE} cannot be removed`, error);
  }
}

/**
 * A directory the relay creates for what it keeps: never world-accessible, and its group's to enter only where the
 * umask allows (mkdir masks it: 0027 gives 0750, so a Maildir reader in the relay's group reaches `maildir`; 0077 gives 0700).
 */
export const DATA_DIR_MODE = 0o750;

/**
 * Creates the data directory (DATA_DIR_MODE) and its missing parents one level at a time. Node's recursive mkdir
 * never gives up where a directory exists but refuses children (mkdir in /proc answers ENOENT, so it
 * makes the parent again, which exists, and tries again: a start that hung); any failure here is a
 * DataDirError naming why.
 */
export function makeDataDir(dataDir: string): void {
  for (const path of missingDataDirs(dataDir).reverse()) {
    try {
      // The data directory holds the store, its backups and the Maildir: never world-accessible (parents as the umask has them).
      mkdirSync(path, path === dataDir ? { mode: DATA_DIR_MODE } : undefined);
    } catch (error) {
      throw new DataDirError(dataDir, 'cannot be created', error);
    }
  }
}

/**
 * The data directory and those of its parents that do not exist, deepest first; a DataDirError where it
 * or a parent is something else than a directory (a file), or cannot be looked at. Creates nothing: the
 * operator's commands check with it what `start` would refuse.
 */
export function missingDataDirs(dataDir: string): string[] {
  const missing: string[] = [];
  for (let path = dataDir; ; path = dirname(path)) {
    let isDirectory: boolean;
    try {
      isDirectory = statSync(path).isDirectory();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(path) === path) throw new DataDirError(dataDir, 'cannot be used', error);
      missing.push(path);
      continue;
    }
    if (!isDirectory) {
      const code = path === dataDir ? 'EEXIST' : 'ENOTDIR';
      throw new DataDirError(dataDir, 'cannot be used', Object.assign(new Error(code), { code }));
    }
    return missing;
  }
}

/** The pid of the relay that holds the data directory now, or undefined when none does (for `smsrelay status`). */
export function runningRelay(dataDir: string): number | undefined {
  // A relay on the directory a linked store file is in holds that directory's lock, not this one's.
  const storeDir = linkedStoreDir(dataDir);
  for (const dir of storeDir === undefined ? [dataDir] : [dataDir, storeDir]) {
    const owner = readOwner(join(dir, LOCK_FILE));
    if (owner !== undefined && staleness(owner) === undefined) return owner.pid;
  }
  return undefined;
}

/** Why a lock file's owner no longer holds it, or undefined when it is alive. */
function staleness(owner: { pid: number; startTime: string | undefined }): StaleLock | undefined {
  if (!isAlive(owner.pid)) return { pid: owner.pid, reason: 'not running' };
  if (owner.startTime !== undefined && startTimeOf(owner.pid) !== owner.startTime) return { pid: owner.pid, reason: 'pid reused' };
  return undefined;
}

function readOwner(file: string): { pid: number; startTime: string | undefined } | undefined {
  let lines: string[];
  try {
    lines = readFileSync(file, 'utf8').split('\n');
  } catch {
    return undefined;
  }
  const pid = Number.parseInt(lines[0] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  // A file written by a relay that could not read start times (or an older one) has the pid only.
  const startTime = lines[1]?.trim();
  return { pid, startTime: startTime || undefined };
}

/** Whether the process runs: one killed but not yet reaped by its parent (a zombie) holds nothing and never runs again. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return procStat(pid)?.[0] !== 'Z';
}

/**
 * When a process started, in clock ticks since boot (field 22 of /proc/<pid>/stat). Undefined where
 * there is no /proc: the pid alone decides there.
 */
function startTimeOf(pid: number): string | undefined {
  return procStat(pid)?.[19];
}

/**
 * The fields of /proc/<pid>/stat from the third (the state) on: after the command name, which may
 * hold spaces and parentheses, hence the last ')'. Undefined where there is no /proc.
 */
function procStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}
