import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { basename } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { MigrationError, MIGRATIONS, untraceableSchema } from '../migrations.ts';
import { quarantineColumn } from '../rows.ts';
import { LockWaitError, migrate, TABLES, tablesOf } from './migrate.ts';
import { DATABASE_STAMP_COLUMNS } from './migrations.ts';
import { configProblem, StoreConfigError } from './store.ts';
import { databaseUrl } from './url.ts';

/** Rows per INSERT: a multi-row statement well under PostgreSQL's 65,535 parameters for our widest table. */
const ROWS_PER_INSERT = 500;

/** Where a copy stands, for a progress bar. */
export interface CopyProgress {
  readonly table: string;
  readonly copied: number;
  readonly total: number;
}

export interface TableCopy {
  readonly table: string;
  readonly rows: number;
  /** SHA-256 over the table's rows, the same on both sides (see rowDigest). */
  readonly checksum: string;
}

/** The copy cannot be made or does not match; nothing was committed to the target. */
export class CopyError extends Error {}

/**
 * The source is no smsrelay store (`notAStore`: not SQLite, no schema of ours, other tables), or one of
 * another schema version than this smsrelay's; it was only read, and nothing was written anywhere.
 */
export class SourceError extends Error {
  constructor(
    message: string,
    readonly notAStore: boolean,
  ) {
    super(message);
  }
}

function notAStore(from: string, why: string): SourceError {
  return new SourceError(`${from} is not a smsrelay store: ${why}; name the smsrelay.db in the relay's data directory`, true);
}

/**
 * The source, opened read-only and checked to be a smsrelay store of this version's schema: the copy
 * never writes into the file it reads, so a wrong `--from` (another program's database, an empty
 * file) is refused as it was found. A store of an older schema is refused rather than read: its
 * upgrade is the relay's (migrations.ts), which the copy does not repeat on its own.
 */
function openSource(from: string): BetterSqlite3.Database {
  let source: BetterSqlite3.Database;
  try {
    source = new BetterSqlite3(from, { readonly: true, fileMustExist: true });
  } catch (error) {
    throw new SourceError(`${from} cannot be opened: ${(error as Error).message}`, true);
  }
  try {
    const version = source.pragma('user_version', { simple: true }) as number;
    const tables = source.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'").pluck().all() as string[];
    const foreign = tables.filter((name) => !TABLES.includes(name));
    const missing = tablesOf(MIGRATIONS.slice(0, version)).filter((name) => !tables.includes(name));
    const listed = (names: readonly string[]) => `${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''}`;
    const untraceable = untraceableSchema(version, tables);
    if (untraceable) throw new SourceError(`${from} ${untraceable}`, false);
    const why =
      foreign.length > 0
        ? `it holds tables that are not smsrelay's (${listed(foreign)})`
        : version === 0
          ? 'it has no smsrelay schema version'
          : missing.length > 0
            ? `it lacks tables of smsrelay's schema ${version} (${listed(missing)})`
            : undefined;
    if (why) throw notAStore(from, why);
    if (version > MIGRATIONS.length) {
      throw new SourceError(
        `${from} was written by a newer smsrelay (schema ${version}, this one knows ${MIGRATIONS.length}): copy it with that version`,
        false,
      );
    }
    if (version < MIGRATIONS.length) {
      throw new SourceError(
        `${from} holds schema ${version} of an older smsrelay, this one copies schema ${MIGRATIONS.length}: start this smsrelay on it once (it upgrades the store at start), stop it, then copy`,
        false,
      );
    }
    return source;
  } catch (error) {
    source.close();
    const code = (error as { code?: string }).code ?? '';
    if (code === 'SQLITE_NOTADB') throw notAStore(from, 'it is not a SQLite database');
    // A stopped store is in WAL mode (a backup copy is not): even a read-only open must make its -shm file beside it, which
    // a read-only filesystem or a directory this user may not write refuses. The file itself is readable: say where to copy it.
    if (/^SQLITE_(CANTOPEN|READONLY)/.test(code)) {
      // A crashed relay's store (a failed machine's disk, a snapshot) has commits in its WAL only: the file alone is not all.
      const wal = `${basename(from)}-wal`;
      const what =
        (statSync(`${from}-wal`, { throwIfNoEntry: false })?.size ?? 0) > 0 ? `the file together with ${wal} (it holds commits the file lacks)` : 'the file';
      throw new SourceError(
        `${from} cannot be read here: SQLite opens a store in WAL mode only where it may create ${basename(from)}-shm beside it (${(error as Error).message}); copy ${what} to a directory this user may write (or take \`smsrelay backup\` there) and copy from that, or run as the directory's owner`,
        true,
      );
    }
    throw error;
  }
}

/**
 * Copies a SQLite store into an empty PostgreSQL database, table by table (the tables and columns
 * are the same on both: src/store/postgres/migrate.ts), in one transaction: an interrupted or failed
 * copy leaves the target empty. Refuses a target holding any row, and a source that is not a
 * smsrelay store of this version's schema (SourceError; it is only read). A target that refuses us
 * for good (credentials, no such database, another application's tables, no TLS) is StoreConfigError. At the end every table's row count
 * and checksum are read back from the target and compared with the source's before COMMIT. The
 * source should not be in use by a relay (stop it first): what it commits meanwhile is not copied.
 */
export async function copySqliteToPostgres(from: string, to: string, onProgress: (progress: CopyProgress) => void = () => undefined): Promise<TableCopy[]> {
  const source = openSource(from);
  const config = {
    ...databaseUrl(to).pool,
    types: { getTypeParser: (oid: number, format?: 'text' | 'binary') => (oid === 20 ? Number : pg.types.getTypeParser(oid, format)) },
  } as pg.ClientConfig;
  const client = new pg.Client(config);
  // A connection lost between statements fails the next one (and so the copy), not the process.
  client.on('error', () => undefined);
  let connected = false;
  try {
    await client.connect();
    connected = true;
    await migrate(client, {
      create: true,
      lookupSession: async () => {
        const lookup = new pg.Client(config);
        lookup.on('error', () => undefined);
        await lookup.connect();
        return { client: lookup, close: () => lookup.end() };
      },
    });
    for (const table of TABLES) {
      const { rows } = await client.query(`SELECT 1 FROM ${table} LIMIT 1`);
      if (rows.length > 0) throw new CopyError(`the target database is not empty (table ${table} holds rows): copy only into a new, empty database`);
    }
    await client.query('BEGIN');
    const copied: TableCopy[] = [];
    for (const table of TABLES) copied.push(await copyTable(source, client, table, onProgress));
    for (const expected of copied) {
      const actual = await targetChecksum(client, expected.table, columnsOf(source, expected.table));
      if (actual.rows !== expected.rows || actual.checksum !== expected.checksum) {
        throw new CopyError(
          `table ${expected.table} differs after the copy (source ${expected.rows} rows ${expected.checksum.slice(0, 12)}, target ${actual.rows} rows ${actual.checksum.slice(0, 12)}); nothing was committed`,
        );
      }
    }
    // The planner's statistics of the copied tables, committed with them: a relay started on a copied
    // backlog otherwise plans its first claims for empty tables and keeps those plans until autovacuum
    // analyses them (a claim read every queued SMS: 20.7 ms at 40,000 queued against 2.8 ms analysed).
    await client.query(`ANALYZE ${TABLES.join(', ')}`);
    await client.query('COMMIT');
    return copied;
  } catch (error) {
    // A statement on a client that never connected waits for a connection forever.
    if (connected) await client.query('ROLLBACK').catch(() => undefined);
    // A lock another session holds on the target's tables passes with time, but the copy does not wait for it: it
    // stops with nothing copied, naming that session (its code makes it exit 69, unavailable, as an unreachable target).
    if (error instanceof MigrationError && error.cause instanceof LockWaitError)
      throw new LockWaitError(`${error.message}; nothing was copied: run the copy again once that session has ended`, error.cause.holders, { cause: error });
    const problem = configProblem(error);
    throw problem === undefined ? error : new StoreConfigError(problem);
  } finally {
    source.close();
    await client.end().catch(() => undefined);
  }
}

interface Column {
  readonly name: string;
  readonly primaryKey: number;
}

function columnsOf(source: BetterSqlite3.Database, table: string): Column[] {
  return (source.pragma(`table_info(${table})`) as Array<{ name: string; pk: number }>).map((column) => ({ name: column.name, primaryKey: column.pk }));
}

/**
 * The target's columns of `table` the source lacks, which must be PostgreSQL's own stamps its clock makes at each insert
 * (DATABASE_STAMP_COLUMNS, step 37). A copied row was not inserted at the copy, so it gets none (NULL, read as its accepting
 * relay's stamp, as a row stored before the step): their default would make a copied backlog's oldest age the copy's. Any
 * other is refused: the copy does not know what it should hold.
 */
async function databaseStamps(client: pg.Client, table: string, names: readonly string[]): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    'SELECT column_name AS name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position',
    [table],
  );
  const targetOnly = rows.map((row) => row.name).filter((name) => !names.includes(name));
  const stamps = DATABASE_STAMP_COLUMNS[table] ?? [];
  const unknown = targetOnly.filter((name) => !stamps.includes(name));
  if (unknown.length > 0)
    throw new CopyError(
      `the target database's table ${table} has ${unknown.length === 1 ? 'a column' : 'columns'} the source lacks and this smsrelay does not know (${unknown.join(', ')}), which the copy cannot fill: copy only into a database only this smsrelay's migrations made (a new, empty one, with no column added by hand or by another program); nothing was committed`,
    );
  return targetOnly;
}

async function copyTable(source: BetterSqlite3.Database, client: pg.Client, table: string, onProgress: (progress: CopyProgress) => void): Promise<TableCopy> {
  const columns = columnsOf(source, table);
  const names = columns.map((column) => column.name);
  const unstamped = await databaseStamps(client, table, names);
  const total = (source.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
  const digest = new Checksum();
  let batch: unknown[][] = [];
  let copied = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const values = batch.flat();
    const tuples = batch.map(
      (_, row) => `(${[...names.map((__, column) => `$${row * names.length + column + 1}`), ...unstamped.map(() => 'NULL')].join(', ')})`,
    );
    await client.query(`INSERT INTO ${table} (${[...names, ...unstamped].join(', ')}) VALUES ${tuples.join(', ')}`, values);
    copied += batch.length;
    batch = [];
    onProgress({ table, copied, total });
  };
  onProgress({ table, copied: 0, total });
  for (const row of source
    .prepare(`SELECT ${names.join(', ')} FROM ${table}`)
    .raw()
    .iterate() as IterableIterator<unknown[]>) {
    const kept = row.map((value, index) => asKeptNow(table, names[index], value));
    digest.add(kept);
    batch.push(kept);
    if (batch.length === ROWS_PER_INSERT) await flush();
  }
  await flush();
  // Identity columns continue after the copied ids (explicit ids do not move their sequence), and after the highest id
  // SQLite gave a table of AUTOINCREMENT (schema 26's quarantine), a deleted one's included: an id is never given twice.
  const sequence = names.includes('id')
    ? (await client.query<{ name: string | null }>('SELECT pg_get_serial_sequence($1, $2) AS name', [table, 'id'])).rows[0]?.name
    : undefined;
  if (sequence) await client.query(`SELECT setval($1, GREATEST((SELECT MAX(id) FROM ${table}), $2, 1))`, [sequence, highestGiven(source, table)]);
  return { table, rows: copied, checksum: digest.value };
}

/**
 * A value as this release keeps it. An older release kept a quarantined body holding a NUL (a JSON body with `\u0000`
 * sent raw) as its text on SQLite, which PostgreSQL's text refuses: it is taken into quarantineColumn's form, its bytes
 * the same, as this release keeps such a body on either store. Every other value is copied as it is.
 */
function asKeptNow(table: string, column: string | undefined, value: unknown): unknown {
  return table === 'quarantine' && column === 'body' && typeof value === 'string' && value.includes('\0')
    ? quarantineColumn(Buffer.from(value, 'utf8'))
    : value;
}

/** The highest id SQLite gave `table` when it is of AUTOINCREMENT (sqlite_sequence), deleted rows' included; else 0. */
function highestGiven(source: BetterSqlite3.Database, table: string): number {
  const autoincrement = source.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'").get() !== undefined;
  return autoincrement ? ((source.prepare('SELECT seq FROM sqlite_sequence WHERE name = ?').pluck().get(table) as number | undefined) ?? 0) : 0;
}

async function targetChecksum(client: pg.Client, table: string, columns: readonly Column[]): Promise<{ rows: number; checksum: string }> {
  const digest = new Checksum();
  const { rows } = await client.query({ text: `SELECT ${columns.map((column) => column.name).join(', ')} FROM ${table}`, rowMode: 'array' });
  for (const row of rows as unknown[][]) digest.add(row);
  return { rows: rows.length, checksum: digest.value };
}

/**
 * An order-independent checksum of a table: the XOR of each row's SHA-256 over its values (numbers
 * as decimal, text as UTF-8, blobs as hex, NULL apart from every value). Rows are distinct (every
 * table has a primary key), so a missing, extra or changed row changes it.
 */
class Checksum {
  readonly #sum = Buffer.alloc(32);

  add(row: readonly unknown[]): void {
    const hash = createHash('sha256');
    for (const value of row) {
      const text = value === null ? '\u0000NULL' : Buffer.isBuffer(value) ? `x${value.toString('hex')}` : `v${String(value)}`;
      hash.update(`${text.length}:${text}`);
    }
    const digest = hash.digest();
    for (let index = 0; index < 32; index += 1) this.#sum[index] = (this.#sum[index] ?? 0) ^ (digest[index] ?? 0);
  }

  get value(): string {
    return this.#sum.toString('hex');
  }
}
