/**
 * Several statements in one round trip: Parse (only where the connection lacks the named
 * statement), Bind, Describe (only where the connection has not run it yet: shapesOf) and Execute for
 * each, then one Sync. The server runs them in order and answers all at once; after an error it skips
 * to the Sync, so the statements after the failed one do not run. Without a BEGIN among them they are
 * one implicit transaction, committed at the Sync. A commit group (group-writer.ts) goes as its writes'
 * statements in one socket write: one wake-up, read, ReadyForQuery and send of the server instead of
 * one per statement (6.4 round trips per mail through a relay before, 2026-12-03).
 *
 * Hand-written as a node-postgres Submittable (the object `client.query()` accepts, as pg-cursor is)
 * because node-postgres sends a query only after the previous one's ReadyForQuery, and its
 * `pipeline` client option (8.23) still sends a Sync per query (a ReadyForQuery and a flush of the
 * server per statement, a socket write each) for every query of the pool; switching drivers would
 * change the documented `sslmode` behaviour (docs/operations.md). It keeps the connection's own
 * bookkeeping of named statements (`parsedStatements`, `submittedNamedStatements`) as node-postgres's
 * Query does, and parses rows with the client's type parsers, into results shaped as node-postgres's.
 */
import pg from 'pg';
import { statementName } from './prepared.ts';

/** A statement of a batch: its values already converted for the wire (prepared.ts, toWire). */
export interface Statement {
  readonly text: string;
  readonly values: readonly unknown[];
}

/** The parts of node-postgres's Connection a batch uses (not in its type declarations). */
interface Connection {
  readonly stream: { cork?: () => void; uncork?: () => void };
  readonly parsedStatements: Record<string, string>;
  readonly submittedNamedStatements: Record<string, string>;
  parse(query: { text: string; name: string }): void;
  bind(config: { statement: string; values: readonly unknown[] }): void;
  describe(message: { type: 'P'; name: string }): void;
  execute(config: { portal: string }): void;
  sync(): void;
  on(event: 'parseComplete', listener: () => void): void;
  off(event: 'parseComplete', listener: () => void): void;
}

/** The type parsers of the pool (pg.CustomTypesConfig): a value's text to what the store reads. */
export interface TypeParsers {
  getTypeParser(oid: number, format?: 'text' | 'binary'): (text: string) => unknown;
}

/** A statement's result columns as a RowDescription tells them, and how to read a row of them. */
interface RowShape {
  readonly fields: pg.FieldDef[];
  readonly parsers: ReadonlyArray<(text: string) => unknown>;
}

/** node-postgres's own type parsers, for a caller without a pool's (as a Query without `types` uses them). */
const DEFAULT_TYPES = pg.types as TypeParsers;

const NO_COLUMNS: RowShape = { fields: [], parsers: [] };

/**
 * The result columns of each named statement a connection has run, so that its next executions go
 * without a Describe: the server then sends no RowDescription (or NoData) per execution, and the relay
 * parses none and builds no type parsers for it (node-postgres's Result rebuilt them for every result,
 * 1.5% of the relay's busy main thread, driver 2026-12-04). A named statement's columns cannot change
 * under it: the server refuses to run a prepared statement whose result type changed ("cached plan must
 * not change result type"), and texts that read `*` are not named (prepared.ts). Per connection, as
 * its prepared statements are; a statement parsed again is described again.
 */
const shapesOf = new WeakMap<Connection, Map<string, RowShape>>();

/** A command tag ("INSERT 0 3", "UPDATE 2", "COMMIT"): its command, and its row count where it has one. */
const COMMAND_TAG = /^([A-Za-z]+)(?: (\d+))?(?: (\d+))?/;

/**
 * Runs `statements` in one round trip on `client`; resolves with their results in order, or rejects
 * with the error of the statement that failed (those after it did not run) or the connection's. `types`: the pool's type
 * parsers, as the client's own queries use them.
 */
export function runBatch(client: pg.ClientBase, statements: readonly Statement[], types: TypeParsers | undefined): Promise<pg.QueryResult[]> {
  return new Promise((resolve, reject) => {
    (client.query as unknown as (submittable: Batch) => void)(new Batch(statements, types ?? DEFAULT_TYPES, resolve, reject));
  });
}

/** A statement as sent: its name ('' for unnamed), and its columns when known (else it was described). */
interface Sent {
  readonly name: string;
  readonly shape: RowShape | undefined;
}

class Batch {
  readonly #statements: readonly Statement[];
  readonly #types: TypeParsers;
  readonly #resolve: (results: pg.QueryResult[]) => void;
  readonly #reject: (error: unknown) => void;
  readonly #results: pg.QueryResult[] = [];
  #sent: Sent[] = [];
  /** The columns of the statement whose answer is being read (undefined until its RowDescription). */
  #shape: RowShape | undefined;
  #rows: pg.QueryResultRow[] = [];
  /** The names whose Parse was sent and not answered yet, in order ('' for an unnamed statement). */
  #parsing: string[] = [];
  #connection: Connection | undefined;
  /** Listens for the ParseCompletes while some are due: most batches parse nothing (the connection has their statements). */
  #onParsed: (() => void) | undefined;
  #settled = false;
  /** A row the type parsers could not read: the batch fails with it once the server has answered (as a Query does). */
  #unreadable: unknown;

  constructor(statements: readonly Statement[], types: TypeParsers, resolve: (results: pg.QueryResult[]) => void, reject: (error: unknown) => void) {
    this.#statements = statements;
    this.#types = types;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  submit(connection: Connection): null {
    this.#connection = connection;
    let shapes = shapesOf.get(connection);
    if (!shapes) {
      shapes = new Map();
      shapesOf.set(connection, shapes);
    }
    connection.stream.cork?.();
    try {
      for (const { text, values } of this.#statements) {
        const name = statementName(text) ?? '';
        let shape = name === '' ? undefined : shapes.get(name);
        if (name === '' || (connection.parsedStatements[name] === undefined && connection.submittedNamedStatements[name] === undefined)) {
          connection.parse({ text, name });
          if (name !== '') connection.submittedNamedStatements[name] = text;
          this.#parsing.push(name);
          shape = undefined;
        }
        connection.bind({ statement: name, values });
        if (shape === undefined) connection.describe({ type: 'P', name: '' });
        connection.execute({ portal: '' });
        this.#sent.push({ name, shape });
      }
      connection.sync();
    } finally {
      connection.stream.uncork?.();
    }
    // Before any answer: the server's messages are read at a later turn of the event loop.
    if (this.#parsing.length > 0) {
      this.#onParsed = this.#parsed.bind(this);
      connection.on('parseComplete', this.#onParsed);
    }
    this.#shape = this.#sent[0]?.shape;
    return null;
  }

  handleRowDescription(message: { readonly fields: pg.FieldDef[] }): void {
    const fields = message.fields;
    this.#shape = { fields, parsers: fields.map((field) => this.#types.getTypeParser(field.dataTypeID, field.format as 'text' | 'binary')) };
  }

  handleDataRow(message: { readonly fields: ReadonlyArray<string | null> }): void {
    if (this.#unreadable !== undefined) return;
    try {
      this.#rows.push(this.#row(message.fields));
    } catch (error) {
      this.#unreadable = error;
    }
  }

  #row(values: ReadonlyArray<string | null>): pg.QueryResultRow {
    const shape = this.#shape;
    if (shape === undefined) throw new Error('a row came before its columns were described');
    const row: pg.QueryResultRow = {};
    for (let index = 0; index < values.length; index++) {
      const field = shape.fields[index];
      const parser = shape.parsers[index];
      if (field === undefined || parser === undefined) throw new Error(`a row has more values than its ${shape.fields.length} columns`);
      const value = values[index];
      row[field.name] = value === null || value === undefined ? null : parser(value);
    }
    return row;
  }

  handleCommandComplete(message: { readonly text?: string }): void {
    const sent = this.#sent[this.#results.length];
    const shape = this.#shape ?? NO_COLUMNS;
    // A described statement's columns, kept for its next executions on this connection.
    if (sent !== undefined && sent.name !== '' && sent.shape === undefined) shapesOf.get(this.#connection as Connection)?.set(sent.name, shape);
    const tag = COMMAND_TAG.exec(message.text ?? '');
    const [count, oid] = tag?.[3] ? [tag[3], tag[2]] : [tag?.[2], undefined];
    this.#results.push({
      command: tag?.[1] ?? '',
      rowCount: count === undefined ? null : Number(count),
      oid: oid === undefined ? 0 : Number(oid),
      fields: shape.fields,
      rows: this.#rows,
    });
    this.#rows = [];
    this.#shape = this.#sent[this.#results.length]?.shape;
  }

  handleEmptyQuery(): void {
    this.handleCommandComplete({});
  }
  handlePortalSuspended(): void {}

  handleCopyInResponse(): void {}

  handleCopyData(): void {}

  /** A statement's error (the server skips the rest to the Sync) or the connection's. */
  handleError(error: unknown): void {
    this.#end();
    // A Parse not answered was refused or skipped: the connection does not have that statement.
    for (const name of this.#parsing.splice(0)) if (name !== '') delete this.#connection?.submittedNamedStatements[name];
    this.#settle(() => this.#reject(this.#unreadable ?? error));
  }

  handleReadyForQuery(): void {
    this.#end();
    const unreadable = this.#unreadable;
    this.#settle(() => (unreadable === undefined ? this.#resolve(this.#results) : this.#reject(unreadable)));
  }

  #parsed(): void {
    const name = this.#parsing.shift();
    if (!name || !this.#connection) return;
    const connection = this.#connection;
    connection.parsedStatements[name] = connection.submittedNamedStatements[name] ?? '';
    delete connection.submittedNamedStatements[name];
  }

  #end(): void {
    if (this.#onParsed) this.#connection?.off('parseComplete', this.#onParsed);
  }

  #settle(settle: () => void): void {
    if (this.#settled) return;
    this.#settled = true;
    settle();
  }
}
