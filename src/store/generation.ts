import { closeSync, fsyncSync, openSync, readFileSync, readSync, renameSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { basename, dirname } from 'node:path';
import type { Database } from 'better-sqlite3';
import { StoreFileError } from '../errors.ts';
import { realFile } from './lock.ts';
import { recoveredCopyFiles } from './recovered-copies.ts';
import { storeFailureCode } from './rows.ts';

/**
 * A WAL holds pages, not the identity of the file they belong to: SQLite applies a non-empty `-wal` to whatever
 * `smsrelay.db` it finds beside it at the first open, so a file put in the store's place after a crash (a backup
 * restored with `cp`, which writes in place: inode and device stay) is overwritten or mixed into a malformed store.
 * Each start of the relay marks its store with a new random generation in the file's header (`PRAGMA application_id`,
 * bytes 68–71 of page 1, which SQLite keeps for the application and smsrelay uses for nothing else) and records it in
 * this file beside the store: the WAL left by a crash belongs to a file whose header holds one of the recorded values.
 */
export const GENERATION_SUFFIX = '.generation';

/** Where page 1's header keeps `PRAGMA application_id` (SQLite's file format, "The Database Header"). */
const APPLICATION_ID_OFFSET = 68;

/** application_id is a signed 32-bit integer (SQLite's file format, "The Database Header"): a generation is any of them. */
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/** The application_id `smsrelay backup` gives its copies: no relay's generation, so a copy of this run is told apart. */
export const BACKUP_GENERATION = 0;

/**
 * The record of store `file`'s generations: beside the file itself, its links resolved, as SQLite puts its WAL there
 * (storeFiles): a relay and a command that reach one file by different paths (a link into another data directory) share it.
 */
function recordOf(file: string): string {
  return `${realFile(file)}${GENERATION_SUFFIX}`;
}

/** The generations recorded beside store `file`, or undefined where none is (a store of a release before this check). */
function recordedGenerations(file: string): number[] | undefined {
  let text: string;
  try {
    text = readFileSync(recordOf(file), 'utf8');
  } catch {
    return undefined;
  }
  const values = text.split(/\s+/).filter((word) => /^-?\d+$/.test(word));
  return values.length > 0 ? values.map(Number) : undefined;
}

/**
 * The generation in store `file`'s header as it is on disk (read without SQLite, which would apply the WAL first); undefined
 * where the file has no header. Never in a process that has the store open: closing any descriptor of a file drops all
 * of the process's POSIX locks on it, SQLite's shared lock among them, and the next other process whose connection
 * closes (an operator's `sqlite3` read) then takes it for the last one, checkpoints and deletes the WAL under the relay.
 */
export function generationOnDisk(file: string): number | undefined {
  return readingFile(file, (fd) => {
    const bytes = Buffer.alloc(4);
    return readSync(fd, bytes, 0, 4, APPLICATION_ID_OFFSET) === 4 ? bytes.readInt32BE(0) : undefined;
  });
}

/** `read` of `file` opened for reading, closed after; undefined where it cannot be opened. */
function readingFile<T>(file: string, read: (fd: number) => T | undefined): T | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    return read(fd);
  } finally {
    closeSync(fd);
  }
}

/** SQLite's WAL format ("Write-Ahead Log File Format"): a 32-byte header, then frames of a 24-byte header and a page. */
const WAL_HEADER_BYTES = 32;
const WAL_FRAME_HEADER_BYTES = 24;
/** The WAL header's magic; its low bit set: the checksums read the words big-endian. */
const WAL_MAGIC = 0x377f0682;
/** The WAL read at a time: 64 whole frames of its own page size (at most ~4 MB, at MAX_PAGE_SIZE). */
const WAL_READ_FRAMES = 64;
/** The page sizes SQLite allows: powers of two from 512 to 65536 (SQLite's file format, "The Database Header"). */
const MIN_PAGE_SIZE = 512;
const MAX_PAGE_SIZE = 65536;
/** 65536 as a 16-bit page-size field writes it (the database header's); read so in a WAL header's field too. */
const MAX_PAGE_SIZE_CODE = 1;

/**
 * The application_id in the last committed page 1 of WAL `wal` (frames whose salts and running checksum match its
 * header, up to the last commit frame: what SQLite itself would apply), that is the header its writer saw; undefined
 * where the WAL is unreadable or holds no such frame. The application_id changes only at a relay's renewal, which the
 * record covers while it is in flight.
 */
function walApplicationId(wal: string): number | undefined {
  return readingFile(wal, (fd) => {
    const header = Buffer.alloc(WAL_HEADER_BYTES);
    if (readSync(fd, header, 0, WAL_HEADER_BYTES, 0) !== WAL_HEADER_BYTES) return undefined;
    const magic = header.readUInt32BE(0);
    if ((magic & ~1) !== WAL_MAGIC) return undefined;
    const bigEndian = (magic & 1) === 1;
    const pageSize = header.readUInt32BE(8) === MAX_PAGE_SIZE_CODE ? MAX_PAGE_SIZE : header.readUInt32BE(8);
    if (pageSize < MIN_PAGE_SIZE || pageSize > MAX_PAGE_SIZE || (pageSize & (pageSize - 1)) !== 0) return undefined;
    let sum = walChecksum(header, 0, 24, [0, 0], bigEndian);
    if (sum[0] !== header.readUInt32BE(24) || sum[1] !== header.readUInt32BE(28)) return undefined;
    const frameBytes = WAL_FRAME_HEADER_BYTES + pageSize;
    const chunk = Buffer.alloc(frameBytes * WAL_READ_FRAMES);
    let position = WAL_HEADER_BYTES;
    let pending: number | undefined; // page 1's application_id in a frame not yet committed
    let committed: number | undefined;
    for (;;) {
      const read = readSync(fd, chunk, 0, chunk.length, position);
      const frames = Math.floor(read / frameBytes);
      for (let index = 0; index < frames; index++) {
        const at = index * frameBytes;
        if (!chunk.subarray(at + 8, at + 16).equals(header.subarray(16, 24))) return committed;
        sum = walChecksum(chunk, at, 8, sum, bigEndian);
        sum = walChecksum(chunk, at + WAL_FRAME_HEADER_BYTES, pageSize, sum, bigEndian);
        if (sum[0] !== chunk.readUInt32BE(at + 16) || sum[1] !== chunk.readUInt32BE(at + 20)) return committed;
        if (chunk.readUInt32BE(at) === 1) pending = chunk.readInt32BE(at + WAL_FRAME_HEADER_BYTES + APPLICATION_ID_OFFSET);
        if (chunk.readUInt32BE(at + 4) !== 0) committed = pending ?? committed;
      }
      if (frames < WAL_READ_FRAMES) return committed;
      position += read;
    }
  });
}

/** SQLite's WAL checksum over `length` bytes of `bytes` from `at` (a multiple of 8), continuing from `[s0, s1]`. */
function walChecksum(bytes: Buffer, at: number, length: number, [first, second]: readonly [number, number], bigEndian: boolean): [number, number] {
  let s0 = first;
  let s1 = second;
  for (let offset = at; offset < at + length; offset += 8) {
    const x0 = bigEndian ? bytes.readUInt32BE(offset) : bytes.readUInt32LE(offset);
    const x1 = bigEndian ? bytes.readUInt32BE(offset + 4) : bytes.readUInt32LE(offset + 4);
    s0 = (s0 + x0 + s1) >>> 0;
    s1 = (s1 + x1 + s0) >>> 0;
  }
  return [s0, s1];
}

/**
 * The refusal to open store `file` (the relay's start and every command, before SQLite opens it; its files as
 * storeFiles names them) where its non-empty WAL `wal` was written against another file: the header's generation is not one recorded beside it. SQLite would apply
 * that WAL at the open, and the file put in place would be overwritten or damaged, the WAL then deleted. A store with no
 * record beside it (an older release's, a copy elsewhere) is opened as before.
 */
export function foreignWal([file, wal, walIndex]: readonly [database: string, wal: string, walIndex: string]): StoreFileError | undefined {
  if (!statSync(wal, { throwIfNoEntry: false })?.size) return undefined;
  const recorded = recordedGenerations(file);
  if (recorded === undefined) return undefined;
  const header = generationOnDisk(file);
  if (header !== undefined && recorded.includes(header)) return undefined;
  // The WAL's own word first: a writer that does not renew the record (an older release after a rollback) left one
  // stale, and its WAL, written against this very file, holds the header it saw. The record speaks only where the WAL
  // holds no page 1.
  const seen = walApplicationId(wal);
  if (seen !== undefined && seen === header) return undefined;
  // Read again: a start renewing between the two reads above (the record, then the header) is not a foreign WAL.
  const again = recordedGenerations(file);
  if (again === undefined || (header !== undefined && again.includes(header))) return undefined;
  const what =
    header === undefined
      ? 'the file is missing (deleted or moved) or has no SQLite header'
      : header === BACKUP_GENERATION
        ? 'the file is a backup (smsrelay backup) put in its place'
        : "the file is another one (another store's, or a copy of an earlier run) put in its place";
  return new StoreFileError(
    `${wal} was not written against the store ${file}: ${what} after the relay that wrote that WAL stopped without a checkpoint; SQLite would apply the WAL's pages to it and overwrite or damage it; move ${basename(wal)} and ${basename(walIndex)} aside (mv ${wal} ${walIndex} <another directory>/) and run it again; what was committed only into that WAL (answered 250 since the old file's last checkpoint) is then not in the store${lostCopy(file)}; but if an older smsrelay ran on this file since (a rollback), the WAL is its own: start that release once and stop it with SIGTERM, or remove ${basename(recordOf(file))}, instead (docs/operations.md#restoring-a-backup)`,
  );
}

/**
 * Where a relay saved a copy of store `file` when it was replaced under it (recovered-copies.ts), that copy holds what the
 * WAL's relay committed up to then: the refusal names the newest, so that moving the WAL aside is not read as a loss.
 */
function lostCopy(file: string): string {
  const newest = recoveredCopyFiles(file)
    .filter((copy) => !('unread' in copy))
    .at(-1);
  return newest
    ? `, except in the lost store's copy ${newest.file} that relay saved when its file was replaced (restore that one: docs/operations.md#health)`
    : '';
}

/**
 * Writes the generations `values` beside store `file`, renamed into place whole. `durable`: fsynced (the file and its
 * directory) before anything relies on them; a record that only drops a value may be lost to a power cut, which leaves
 * the record before it (the old value accepted a while longer) or none (the store opened unchecked), never a refusal.
 */
function record(file: string, values: readonly number[], durable: boolean): boolean {
  const sidecar = recordOf(file);
  const partial = `${sidecar}.partial-${process.pid}`;
  try {
    writeFileSync(partial, `${[...new Set(values)].join(' ')}\n`, { mode: 0o600 });
    if (durable) fsyncPath(partial);
    renameSync(partial, sidecar);
  } catch (error) {
    // A disk that takes no write (full, over quota, read-only): the relay starts as it did before the record (it sends its
    // queue and answers 452 until space is freed), the record as it was on disk, no partial file left behind.
    if (!NO_ROOM_CODES.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
    rmSync(partial, { force: true });
    return false;
  }
  if (durable) fsyncPath(dirname(sidecar));
  return true;
}

/** The errors of a disk that takes no write now, which a start outlives (docs/operations.md, the health table). */
const NO_ROOM_CODES: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT', 'EROFS']);

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Gives store `file`, open on `db` (its WAL recovered), a new generation: by the relay at start, the one process that
 * writes the store until it stops (the data directory's lock). `onDisk`: the header's generation as generationOnDisk
 * read it before `db` opened the file (never after: see there). Until the new value is in the file on disk, the record
 * holds the old one too, so that a crash at any point of the switch leaves a WAL the next start accepts. The new value
 * differs from the old, so that a file of an earlier run of this relay (a copy of it taken with `cp`) is told apart.
 * Measured on a loaded 2-core machine: 20–60 ms after a clean stop (a commit, a checkpoint of one page, one fsynced
 * record); after a crash the checkpoint also copies the recovered WAL, ~0.4–0.5 s for ~9,000 pages, which the next
 * automatic checkpoint would have done in a commit instead.
 */
export function renewGeneration(db: Database, file: string, onDisk: number | undefined): void {
  const before = [onDisk ?? BACKUP_GENERATION, db.pragma('application_id', { simple: true }) as number];
  let next: number;
  do next = randomInt(INT32_MIN, INT32_MAX + 1);
  while (next === BACKUP_GENERATION || before.includes(next));
  const switching = [...before, next];
  // Not recorded: no new value is set either; the header keeps one the record on disk (if any) already holds.
  if (!record(file, switching, true)) return;
  let copied: boolean;
  try {
    db.pragma(`application_id = ${next}`);
    // A disk that may lack the room for the file to grow by what the WAL adds (a crash on a nearly full disk) keeps the
    // WAL as it is, as the relay did before this renewal: it starts, sends its queue and answers 452 until space is
    // freed, its own checkpoints taking the WAL in later; the record keeps every value the file may hold meanwhile.
    if (!roomToCheckpoint(file)) return;
    // Copies the WAL into the file whole (with the new header) and empties it; a reader of another process (a command
    // run alongside) may hold it back, and the file on disk may then still hold any of the values.
    copied = checkpointedWhole(db.pragma('wal_checkpoint(TRUNCATE)') as CheckpointResult[]);
  } catch (error) {
    // The same where the room was gone by then: a checkpoint cut short by a full disk is one a reader held back.
    if (storeFailureCode(error) === 'DISK_FULL') return;
    throw error;
  }
  record(file, copied ? [next] : switching, false);
}

/** A row of `PRAGMA wal_checkpoint` (SQLite's sqlite3_wal_checkpoint_v2): held back, frames in the WAL, frames copied. */
interface CheckpointResult {
  readonly busy: number;
  readonly log: number;
  readonly checkpointed: number;
}

/** Every frame of the WAL, the new header's among them, is in the file: SQLite's own word, not a read of the file beside its connection. */
const checkpointedWhole = (rows: readonly CheckpointResult[]) => rows.length > 0 && rows.every((row) => row.busy === 0 && row.log === row.checkpointed);

/** The disk holding store `file` has room for all its WAL, the most a checkpoint adds to the file (statfs; unknown: assumed). */
function roomToCheckpoint(file: string): boolean {
  const wal = `${realFile(file)}-wal`;
  try {
    const { bavail, bsize } = statfsSync(dirname(wal));
    return bavail * bsize > (statSync(wal, { throwIfNoEntry: false })?.size ?? 0);
  } catch {
    return true;
  }
}
