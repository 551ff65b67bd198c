import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BEGIN } from '../../src/store/postgres/group-writer.ts';
import { runBatch } from '../../src/store/postgres/batch.ts';
import { prepareStatements, toWire } from '../../src/store/postgres/prepared.ts';
import { ADOPT_ORPHANS, SENT_ORPHANS } from '../../src/store/postgres/migrations.ts';
import {
  MAIL_CLAIM,
  ONE_SMS_SENT,
  PostgresStore,
  REPORTED_SMS,
  SMS_CLAIM,
  SMS_CLAIM_ONE_PER_BATCH,
  SMS_SENT,
  walkingDueIndex,
} from '../../src/store/postgres/store.ts';
import { describeOnPostgres, freshDatabase, withClient } from '../helpers/postgres.ts';
import { mail } from '../helpers/store.ts';

interface PlanNode {
  readonly 'Node Type': string;
  readonly 'Relation Name'?: string;
  readonly Plans?: readonly PlanNode[];
}

const nodes = (plan: PlanNode | undefined): PlanNode[] => (plan ? [plan, ...(plan.Plans ?? []).flatMap(nodes)] : []);

/** #17 item 8: where the PostgreSQL server's CPU per mail went. */
describeOnPostgres('PostgreSQL plans of the writes', async (url) => {
  test("the sent outcomes, their orphans' look-up and the claim go by index in a fresh database: the plan a named statement keeps must not read the whole queue once it has grown", async () => {
    const store = await PostgresStore.open({ url });
    // A fresh database's first mails: a few rows in never-analysed tables, when a named statement gets the plan it keeps (its sixth use).
    for (let index = 0; index < 8; index++) await store.acceptMail(mail([0, 1, 2, 3, 4].map((n) => `+447700901${index}${n}`)));
    await store.close();
    const scans = await withClient(url, async (client) => {
      await client.query(BEGIN);
      const explain = async (sql: string) =>
        (await client.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(`EXPLAIN (GENERIC_PLAN, FORMAT JSON) ${sql}`)).rows[0]?.['QUERY PLAN'][0]?.Plan;
      const plans = [
        await explain(SMS_SENT),
        await explain(ONE_SMS_SENT),
        await explain(SENT_ORPHANS),
        await explain(SMS_CLAIM),
        await explain(SMS_CLAIM_ONE_PER_BATCH),
      ];
      await client.query('ROLLBACK');
      return plans.flatMap(nodes).filter((node) => node['Relation Name'] === 'outbound' && node['Node Type'].endsWith('Scan'));
    });
    assert.ok(scans.length >= 6, JSON.stringify(scans));
    for (const scan of scans) assert.notEqual(scan['Node Type'], 'Seq Scan', JSON.stringify(scans));
  });

  test("a claim walks its due index in order and stops at its limit: no bitmap of every due row to sort, the plan a fresh database's tables get (the relay's own mail as the SMS)", async () => {
    const url = (await freshDatabase()) ?? '';
    const store = await PostgresStore.open({ url });
    // A queue that grew in a database no ANALYZE has seen yet (autovacuum's first comes after a minute or so): the
    // server sizes the tables by their pages, and for the generic plan's unknown due time and limit reading every
    // due row in a bitmap and sorting them looked cheaper than walking the due index. Seen through a relay: its
    // reply mails' claim read 266 blocks a time during the bench's MO, 1.2 ms of the server's CPU each.
    await withClient(url, (client) =>
      client.query('ALTER TABLE outbound SET (autovacuum_enabled = false); ALTER TABLE mail_out SET (autovacuum_enabled = false)'),
    );
    const raw = Buffer.from('x'.repeat(500));
    for (let batch = 0; batch < 30; batch++) {
      await store.acceptMail(mail(Array.from({ length: 100 }, (_, n) => `+4477009${String(batch).padStart(2, '0')}${String(n).padStart(3, '0')}`)));
      await store.enqueueMail(
        Array.from({ length: 100 }, (_, n) => ({
          kind: 'bounce' as const,
          messageId: undefined,
          envelopeFrom: '',
          recipients: [`a${batch}-${n}@example.com`],
          raw,
        })),
      );
    }
    await store.close();
    const scans = await withClient(url, async (client) => {
      await client.query(BEGIN);
      // As a claim's batch runs it: the statement before it turns bitmap scans off.
      const [off] = walkingDueIndex({ text: '', values: [] });
      await client.query(off?.text ?? '');
      const explain = async (sql: string) =>
        (await client.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(`EXPLAIN (GENERIC_PLAN, FORMAT JSON) ${sql}`)).rows[0]?.['QUERY PLAN'][0]?.Plan;
      const plans = [await explain(MAIL_CLAIM), await explain(SMS_CLAIM), await explain(SMS_CLAIM_ONE_PER_BATCH)];
      await client.query('ROLLBACK');
      return plans
        .flatMap(nodes)
        .filter((node) => (node['Relation Name'] === 'outbound' || node['Relation Name'] === 'mail_out') && node['Node Type'].endsWith('Scan'));
    });
    assert.ok(scans.length >= 9, JSON.stringify(scans));
    for (const scan of scans) assert.equal(scan['Node Type'], 'Index Scan', JSON.stringify(scans));
  });

  test("a delivery report's look-up of its SMS keeps its BitmapOr in a group after a claim: not a walk of every SMS ever sent to its number", async () => {
    const url = (await freshDatabase()) ?? '';
    const store = await PostgresStore.open({ url });
    // An on-call number's history: 3,000 SMS to it (outbound rows are never deleted), analysed.
    await Promise.all(Array.from({ length: 3_000 }, () => store.acceptMail(mail(['+447700900999']))));
    await store.close();
    const scans = await withClient(url, async (client) => {
      await client.query('ANALYZE outbound; ANALYZE messages');
      const explain = async () =>
        (await client.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(`EXPLAIN (GENERIC_PLAN, FORMAT JSON) ${REPORTED_SMS}`)).rows[0]?.['QUERY PLAN'][0]
          ?.Plan;
      await client.query(BEGIN);
      const first = await explain();
      // A claim's batch ran before it in the group: its setting is back to the default after it.
      for (const statement of walkingDueIndex({ text: 'SELECT 1', values: [] })) await client.query(statement.text);
      const afterClaim = await explain();
      await client.query('ROLLBACK');
      return [first, afterClaim].flatMap(nodes).filter((node) => node['Relation Name'] === 'outbound');
    });
    assert.ok(scans.length > 0, JSON.stringify(scans));
    for (const scan of scans) assert.equal(scan['Node Type'], 'Bitmap Heap Scan', JSON.stringify(scans));
  });

  test('an SMS sent and a claim run their generic plans, planned once per connection: not planned again for the values of every call', async () => {
    const store = await PostgresStore.open({ url });
    const accepted = Array.from({ length: 12 }, (_, index) => mail([`+44770090200${String(index).padStart(2, '0')}`]));
    for (const item of accepted) await store.acceptMail(item);
    const ids = (await store.claimDueSms({ owner: 'plans', now: Date.now(), leaseUntil: Date.now() + 60_000, maxBatches: 12, batchSize: 1 })).map(
      (batch) => batch.sms[0]?.id ?? 0,
    );
    await store.close();
    const plans = await withClient(url, async (client) => {
      prepareStatements(client);
      // Groups with an SMS sent and with a claim, opened as the store opens them: past the fifth call the server
      // settles on a generic plan or keeps planning each call (a custom plan).
      const group = async (text: string, values: unknown[]) => {
        await client.query(BEGIN);
        await runBatch(
          client,
          [
            { text, values: toWire(values) },
            { text: 'COMMIT', values: [] },
          ],
          undefined,
        );
      };
      for (const smsId of ids) {
        const now = Date.now();
        await group(SMS_SENT, [now, [smsId], [`p-${smsId}`], [null], [`id p-${smsId}`], null]);
        await group(ADOPT_ORPHANS, [now, [smsId]]);
        await group(SMS_CLAIM, [now, 5, 4, 1, 'plans', 60_000, []]);
        await group(SMS_CLAIM_ONE_PER_BATCH, [now, 5, 4, 1, 'plans', 60_000, []]);
      }
      const plans = await client.query<{ statement: string; generic_plans: number; custom_plans: number }>(
        'SELECT statement, generic_plans::int, custom_plans::int FROM pg_prepared_statements WHERE statement = ANY($1)',
        [[SMS_SENT, SMS_CLAIM, SMS_CLAIM_ONE_PER_BATCH]],
      );
      const names = new Map([
        [SMS_SENT, 'sent'],
        [SMS_CLAIM, 'claim'],
        [SMS_CLAIM_ONE_PER_BATCH, 'claim, one per batch'],
      ]);
      return Object.fromEntries(plans.rows.map((row) => [names.get(row.statement), { generic: row.generic_plans, custom: row.custom_plans }]));
    });
    const once = { generic: ids.length, custom: 0 };
    assert.deepEqual(plans, { sent: once, claim: once, 'claim, one per batch': once });
  });
});
