/**
 * The PostgreSQL server's CPU per execution of the store's hot statements (issue #17, item 8): a fresh
 * database with the relay's migrations, each statement run COUNT times as the group writer sends it
 * (BEGIN, the statement, COMMIT in one round trip, named), and the backend's CPU read from
 * /proc/<pg_backend_pid()>/schedstat before and after. The empty transaction's cost is measured too and
 * taken off, so each figure is the statement's own. Needs the server on this machine (the throwaway one).
 *
 *   node --import tsx bench/statement-cpu.ts   (COUNT=3000 by default; on an otherwise idle machine)
 */
import { acceptStatement } from '../src/store/postgres/accept.ts';
import { runBatch, type Statement } from '../src/store/postgres/batch.ts';
import { BEGIN_STATEMENTS } from '../src/store/postgres/group-writer.ts';
import { toWire } from '../src/store/postgres/prepared.ts';
import { ADOPT_ORPHANS, SENT_ORPHANS } from '../src/store/postgres/migrations.ts';
import { inboundStatement, ONE_SMS_SENT, SMS_SENT } from '../src/store/postgres/store.ts';
import { mail } from '../test/helpers/store.ts';
import { measuredBackend } from './measured-backend.ts';

const COUNT = Number(process.env.COUNT ?? 3_000);
/** Statements per transaction: a commit group of a relay under load holds several writes. */
const GROUP = 4;
/** Runs of COUNT executions per statement, the least taken: other processes on the machine only add. */
const RUNS = 3;
/** Executions before each measured run: the connection prepares the statement and the server caches its plan. */
const WARM_UP = 25;
const measured = await measuredBackend('statements');
const { client } = measured;
const backendCpuUs = () => measured.cpuUs();

const inTransaction = (statements: readonly Statement[]) =>
  runBatch(
    client,
    [...BEGIN_STATEMENTS, ...statements.map((statement) => ({ text: statement.text, values: toWire(statement.values) })), { text: 'COMMIT', values: [] }],
    undefined,
  );

/** The backend's CPU (µs) per transaction of `statements(index)`: the least of RUNS runs of COUNT / GROUP, after WARM_UP. */
async function cpuPerTransaction(statements: (index: number) => Statement[]): Promise<number> {
  let index = 0;
  for (const end = WARM_UP; index < end; index++) await inTransaction(statements(index));
  let least = Number.POSITIVE_INFINITY;
  for (let run = 0; run < RUNS; run++) {
    const before = backendCpuUs();
    for (const end = index + COUNT / GROUP; index < end; index++) await inTransaction(statements(index));
    least = Math.min(least, (backendCpuUs() - before) / (COUNT / GROUP));
  }
  return least;
}

const figures: Record<string, number> = {};
const empty = await cpuPerTransaction(() => []);
figures['empty transaction'] = empty;
/** The CPU of one execution of `statement(index)`, GROUP to a transaction (the commit's share is in it). */
const measure = async (name: string, statement: (index: number) => Statement) => {
  const group = (index: number) => Array.from({ length: GROUP }, (_, position) => statement(index * GROUP + position));
  figures[name] = ((await cpuPerTransaction(group)) - empty) / GROUP;
};

const number = (index: number) => `+4477009${String(index).padStart(5, '0')}`;
await measure('accept, plain', (index) => acceptStatement(mail([number(index)]), 1_000));
await measure('accept, fingerprint', (index) => acceptStatement(mail([number(index)], { resubmission: { fingerprint: `f${index}`, since: 0 } }), 1_000));
await measure('accept, conversation', (index) =>
  acceptStatement(
    mail([number(index)], { conversation: { mailbox: 'alice@example.com', continues: false }, sms: { ...mail([]).sms, userContext: `c${index}` } }),
    1_000,
  ),
);
const ids = (await client.query<{ id: string }>("SELECT id FROM outbound WHERE status = 'queued' ORDER BY id")).rows.map((row) => Number(row.id));
const smsId = (index: number) => ids[index % ids.length] ?? 0;
const sent = (index: number): Statement => ({ text: SMS_SENT, values: [5_000, [smsId(index)], [`p-${index}`], [null], [`id p-${index}`], null] });
await measure('SMS_SENT', (index) => sent(index));
await measure('ONE_SMS_SENT', (index) => ({
  text: ONE_SMS_SENT,
  values: [5_000, smsId(index + Math.floor(ids.length / 2)), `p-${index}`, null, `id p-${index}`, null],
}));
await measure('accept inbound, a mailbox', (index) =>
  inboundStatement({
    id: `in-${index}`,
    provider: 'intellisoftware',
    providerId: `G${index}`,
    number: number(index),
    text: 'on it',
    sentAt: undefined,
    userContext: undefined,
    receivedAt: 1_000 + index,
    route: {
      mailbox: 'ops@example.com',
      context: undefined,
      messageIdHeader: `<reply-${index}@relay.example>`,
      mail: { kind: 'reply', messageId: `in-${index}`, envelopeFrom: 'relay@relay.example', recipients: ['ops@example.com'], raw: Buffer.alloc(900, 65) },
    },
  }),
);
await measure('SENT_ORPHANS', (index) => ({ text: SENT_ORPHANS, values: [5_000, [smsId(index)]] }));
await measure('ADOPT_ORPHANS', (index) => ({ text: ADOPT_ORPHANS, values: [5_000, [smsId(index)]] }));
await measured.close();
console.log(
  JSON.stringify({
    count: COUNT,
    group: GROUP,
    serverCpuUsPerExecution: Object.fromEntries(Object.entries(figures).map(([name, us]) => [name, Math.round(us)])),
  }),
);
