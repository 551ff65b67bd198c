/**
 * The PostgreSQL server's CPU per claim of due SMS (issue #17, item 8), by the number of SMS due: a fresh
 * database with the relay's migrations; before each claim DUE one-number mails are accepted (not
 * measured), then one claim runs as the group writer sends it (BEGIN, the claim as claimDueSms sends it, COMMIT in
 * one round trip, named), and after it the SMS it left are marked sent (not measured), as the relay's outcomes do.
 * The backend's CPU is read from /proc/<pid>/schedstat once the backend waits for the next message
 * (its state in /proc/<pid>/stat is S: the kernel counted its run up to then), so each round trip is
 * measured alone; the median of COUNT claims, less the median of as many empty transactions.
 *
 *   node --import tsx bench/claim-cpu.ts   (COUNT=300 by default; on an otherwise idle machine)
 */
import { acceptStatement } from '../src/store/postgres/accept.ts';
import { runBatch, type Statement } from '../src/store/postgres/batch.ts';
import { BEGIN_STATEMENTS } from '../src/store/postgres/group-writer.ts';
import { toWire } from '../src/store/postgres/prepared.ts';
import { SMS_CANDIDATES, SMS_CLAIM, SMS_CLAIM_ONE_PER_BATCH, smsClaimStatements, walkingDueIndex } from '../src/store/postgres/store.ts';
import { mail } from '../test/helpers/store.ts';
import { measuredBackend } from './measured-backend.ts';

const COUNT = Number(process.env.COUNT ?? 300);
/** Claims before the measured ones: the connection prepares the statement and the server caches its plan. */
const WARM_UP = 25;
/** Due SMS before a claim: one, a few (the relay's usual claim took ~3 under load), and more than its batches take. */
const DUE_COUNTS = [1, 3, 10] as const;
/** The batches a claim may take: the relay's free gateway slots (8 by default). */
const MAX_BATCHES = 8;
/** Numbers per gateway request (the bench gateway's provider takes many). */
const BATCH_SIZE = 10;
const LEASE_MS = 60_000;

const measured = await measuredBackend('claims');
const { client } = measured;
/** The backend's time on a CPU (µs) once it waits for the next message. */
const backendCpuUs = () => {
  while (!measured.waiting()) {
    // The backend still finishes its answer (it sent ReadyForQuery before it went to sleep).
  }
  return measured.cpuUs();
};

const inTransaction = (statements: readonly Statement[]) =>
  runBatch(
    client,
    [...BEGIN_STATEMENTS, ...statements.map((statement) => ({ text: statement.text, values: toWire(statement.values) })), { text: 'COMMIT', values: [] }],
    undefined,
  );

let sequence = 0;
const number = () => `+4477009${String(sequence++ % 100_000).padStart(5, '0')}`;

/** Accepts `due` one-number mails (not measured). */
const queue = (due: number) => inTransaction(Array.from({ length: due }, () => acceptStatement(mail([number()]), 1_000)));
/** Marks every queued SMS sent (not measured), as the relay's outcomes do after a claim. */
const drain = () => client.query("UPDATE outbound SET status = 'sent', lease_owner = NULL WHERE status = 'queued'", []);

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

/**
 * The backend's CPU (µs) of one transaction of each form's statements after `due` mails were queued, the
 * forms taking turns (each claim finds the table as the others left it): the median of COUNT after
 * WARM_UP, and the SMS each leased.
 */
async function cpuPerClaim(due: number, forms: ReadonlyArray<readonly Statement[]>): Promise<Array<{ us: number; rows: number }>> {
  const spent = forms.map((): number[] => []);
  const rows = forms.map(() => 0);
  for (let index = 0; index < WARM_UP + COUNT; index++) {
    for (const [form, statements] of forms.entries()) {
      await queue(due);
      const before = backendCpuUs();
      const results = await inTransaction(statements);
      const after = backendCpuUs();
      await drain();
      if (index < WARM_UP) continue;
      spent[form]?.push(after - before);
      rows[form] = (rows[form] ?? 0) + (results.at(statements.length > 1 ? -3 : -2)?.rows.filter((row) => (row as { id?: unknown }).id !== null).length ?? 0);
    }
  }
  return forms.map((_, form) => ({ us: median(spent[form] ?? []), rows: (rows[form] ?? 0) / COUNT }));
}

/** A claim's values as claimDueSms passes them for its first statement: the candidates of MAX_BATCHES batches and the one that would need another. */
const claimValues = [2_000, MAX_BATCHES + 1, MAX_BATCHES, BATCH_SIZE, 'bench', LEASE_MS, []];
const forms: Record<string, Statement[]> = {
  // As claimDueSms sends them: between bitmap scans off and back, with the reports' adoption (none here) after them.
  SMS_CLAIM: smsClaimStatements(SMS_CLAIM, claimValues),
  SMS_CLAIM_ONE_PER_BATCH: smsClaimStatements(SMS_CLAIM_ONE_PER_BATCH, claimValues),
  // The same without the adoption after it: what that costs a claim that recorded no SMS sent by a report (the usual one).
  'SMS_CLAIM_ONE_PER_BATCH, no adoption': walkingDueIndex({ text: SMS_CLAIM_ONE_PER_BATCH, values: claimValues }),
  // What reading the candidates alone costs, without the lock and the lease.
  // (Walking the due index as the claims do; the claim's values, `$3`–`$6` given a type the server cannot infer where they are not read.)
  SMS_CANDIDATES: walkingDueIndex({
    text: `SELECT * FROM (${SMS_CANDIDATES}) c WHERE $3::int IS NOT NULL AND $4::int IS NOT NULL AND $5::text IS NOT NULL AND $6::bigint IS NOT NULL`,
    values: claimValues,
  }),
};

const figures: Record<string, Record<number, string>> = {};
for (const due of DUE_COUNTS) {
  const [empty, ...measured] = await cpuPerClaim(due, [[], ...Object.values(forms)]);
  const emptyUs = empty?.us ?? 0;
  figures['empty transaction'] = { ...figures['empty transaction'], [due]: `${Math.round(emptyUs)} µs` };
  for (const [position, name] of Object.keys(forms).entries()) {
    const { us, rows } = measured[position] ?? { us: Number.NaN, rows: 0 };
    const own = us - emptyUs;
    figures[name] = { ...figures[name], [due]: `${Math.round(own)} µs, ${rows} SMS returned, ${rows > 0 ? Math.round(own / rows) : '-'} µs/SMS` };
  }
}
await measured.close();
console.log(JSON.stringify({ count: COUNT, maxBatches: MAX_BATCHES, batchSize: BATCH_SIZE, serverCpuPerClaimByDueSms: figures }, null, 1));
