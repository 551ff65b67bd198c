/**
 * Several statements in one round trip: Parse (only where the connection lacks the named
 * statement), Bind, Describe and Execute for each, then one Sync. The server runs them in order and
 * answers all at once; after an error it skips to the Sync, so the statements after the failed one do
 * not run. A commit group (group-writer.ts) goes as BEGIN, its writes' statements and COMMIT in one
 * socket write: one wake-up, read, ReadyForQuery and send of the server instead of one per statement
 * (6.4 round trips per mail through a relay before, 2026-12-03).
 *
 * Hand-written as a node-postgres Submittable (the object `client.query()` accepts, as pg-cursor is)
 * because node-postgres sends a query only after the previous one's ReadyForQuery, and its
 * `pipeline` client option (8.23) still sends a Sync per query (a ReadyForQuery and a flush of the
 * server per statement, a socket write each) for every query of the pool; switching drivers would
 * change the documented `sslmode` behaviour (docs/operations.md). It keeps the connection's own
 * bookkeeping of named statements (`parsedStatements`, `submittedNamedStatements`) as node-postgres's
 * Query does, and parses rows with the client's type parsers through node-postgres's Result.
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

interface Message {
  readonly fields?: unknown;
}

/** node-postgres's Result (exported, its methods are not in the type declarations). */
interface Result extends pg.QueryResult {
  addFields(fields: unknown): void;
  parseRow(fields: unknown): pg.QueryResultRow;
  addRow(row: pg.QueryResultRow): void;
  addCommandComplete(message: unknown): void;
}
const ResultOf = pg.Result as unknown as new (rowMode: undefined, types: unknown) => Result;

/**
 * Runs `statements` in one round trip on `client`; resolves with their results in order, or rejects
 * with the error of the statement that failed (those after it did not run) or the connection's. `types`: the pool's type
 * parsers, as the client's own queries use them.
 */
export function runBatch(client: pg.ClientBase, statements: readonly Statement[], types: unknown): Promise<pg.QueryResult[]> {
  return new Promise((resolve, reject) => {
    (client.query as unknown as (submittable: Batch) => void)(new Batch(statements, types, resolve, reject));
  });
}

class Batch {
  readonly #statements: readonly Statement[];
  readonly #types: unknown;
  readonly #resolve: (results: pg.QueryResult[]) => void;
  readonly #reject: (error: unknown) => void;
  readonly #results: Result[] = [];
  #current: Result;
  /** The names whose Parse was sent and not answered yet, in order ('' for an unnamed statement). */
  #parsing: string[] = [];
  #connection: Connection | undefined;
  readonly #parsed = () => {
    const name = this.#parsing.shift();
    if (!name || !this.#connection) return;
    const connection = this.#connection;
    connection.parsedStatements[name] = connection.submittedNamedStatements[name] ?? '';
    delete connection.submittedNamedStatements[name];
  };
  #settled = false;
  /** A row the type parsers could not read: the batch fails with it once the server has answered (as a Query does). */
  #unreadable: unknown;

  constructor(statements: readonly Statement[], types: unknown, resolve: (results: pg.QueryResult[]) => void, reject: (error: unknown) => void) {
    this.#statements = statements;
    this.#types = types;
    this.#resolve = resolve;
    this.#reject = reject;
    this.#current = new ResultOf(undefined, types);
  }

  submit(connection: Connection): null {
    this.#connection = connection;
    connection.on('parseComplete', this.#parsed);
    connection.stream.cork?.();
    try {
      for (const { text, values } of this.#statements) {
        const name = statementName(text) ?? '';
        if (name === '' || (connection.parsedStatements[name] === undefined && connection.submittedNamedStatements[name] === undefined)) {
          connection.parse({ text, name });
          if (name !== '') connection.submittedNamedStatements[name] = text;
          this.#parsing.push(name);
        }
        connection.bind({ statement: name, values });
        connection.describe({ type: 'P', name: '' });
        connection.execute({ portal: '' });
      }
      connection.sync();
    } finally {
      connection.stream.uncork?.();
    }
    return null;
  }

  handleRowDescription(message: Message): void {
    this.#current.addFields(message.fields);
  }

  handleDataRow(message: Message): void {
    if (this.#unreadable !== undefined) return;
    try {
      this.#current.addRow(this.#current.parseRow(message.fields));
    } catch (error) {
      this.#unreadable = error;
    }
  }

  handleCommandComplete(message: unknown): void {
    this.#current.addCommandComplete(message);
    this.#results.push(this.#current);
    this.#current = new ResultOf(undefined, this.#types);
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

  #end(): void {
    this.#connection?.off('parseComplete', this.#parsed);
  }

  #settle(settle: () => void): void {
    if (this.#settled) return;
    this.#settled = true;
    settle();
  }
}
