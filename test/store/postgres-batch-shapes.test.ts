/**
 * #17 item 8: a named statement is described once per connection (src/store/postgres/batch.ts,
 * shapesOf). Its later executions go without a Describe, so the server sends no RowDescription or
 * NoData for them, and their rows are still read with the columns and type parsers of the first.
 * The server's messages are counted by type through a TCP proxy (test/helpers/postgres-proxy.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { runBatch, type Statement } from '../../src/store/postgres/batch.ts';
import { toWire } from '../../src/store/postgres/prepared.ts';
import { describeOnPostgres, freshDatabase, withClient } from '../helpers/postgres.ts';
import { postgresProxy } from '../helpers/postgres-proxy.ts';

const ROW_DESCRIPTION = 0x54;
const NO_DATA = 0x6e;

/** The store's type parsers (int8 as a number), as src/store/postgres/store.ts gives them to its pool. */
const types = { getTypeParser: (oid: number, format?: 'text' | 'binary') => (oid === 20 ? Number : pg.types.getTypeParser(oid, format)) };

const wire = (text: string, values: unknown[] = []): Statement => ({ text, values: toWire(values) });

/** A transaction's statements: rows of several types (int8, text, null, boolean, array), an insert returning, an update without rows. */
const TRANSACTION: readonly Statement[] = [
  wire('BEGIN'),
  wire('SELECT $1::bigint AS big, $2::text AS label, NULL::text AS nothing, $3::boolean AS yes, ARRAY[1, 2]::int[] AS pair', [9_007_199_254_740, 'a', true]),
  wire('INSERT INTO shapes (label) SELECT unnest($1::text[]) RETURNING id, label', [['x', 'y']]),
  wire('UPDATE shapes SET label = label WHERE id = 0'),
  wire('COMMIT'),
];

const plain = (results: readonly pg.QueryResult[]) =>
  results.map(({ command, rowCount, rows, fields }) => ({ command, rowCount, rows, columns: fields.map((field) => field.name) }));

describeOnPostgres('PostgreSQL: a named statement described once per connection', async () => {
  test('the second run of the same statements on a connection gets no RowDescription or NoData, and reads the same rows; another connection describes them again', async () => {
    const url = (await freshDatabase()) ?? '';
    await withClient(url, (client) => client.query('CREATE TABLE shapes (id bigserial PRIMARY KEY, label text)'));
    const proxy = await postgresProxy(url);
    const described = () => proxy.count(ROW_DESCRIPTION) + proxy.count(NO_DATA);
    try {
      await withClient(proxy.url, async (client) => {
        const before = described();
        const first = plain(await runBatch(client, TRANSACTION, types));
        // Every statement described: a RowDescription for the three with rows, NoData for BEGIN, the update and COMMIT.
        assert.equal(described() - before, TRANSACTION.length);
        assert.deepEqual(first[1], {
          command: 'SELECT',
          rowCount: 1,
          rows: [{ big: 9_007_199_254_740, label: 'a', nothing: null, yes: true, pair: [1, 2] }],
          columns: ['big', 'label', 'nothing', 'yes', 'pair'],
        });
        assert.deepEqual(
          first[2]?.rows.map((row) => typeof row.id),
          ['number', 'number'],
        );
        assert.deepEqual(
          first.map(({ command, rowCount }) => ({ command, rowCount })),
          [
            { command: 'BEGIN', rowCount: null },
            { command: 'SELECT', rowCount: 1 },
            { command: 'INSERT', rowCount: 2 },
            { command: 'UPDATE', rowCount: 0 },
            { command: 'COMMIT', rowCount: null },
          ],
        );

        const again = described();
        const second = plain(await runBatch(client, TRANSACTION, types));
        assert.equal(described() - again, 0, 'nothing described the second time');
        const ids = (result: (typeof first)[number] | undefined) => result?.rows.map((row) => Number(row.id));
        // The same answers, but for the ids the insert made.
        assert.deepEqual(
          ids(second[2]),
          (ids(first[2]) ?? []).map((id) => id + 2),
        );
        assert.deepEqual(
          second.map((result, index) => (index === 2 ? { ...result, rows: [] } : result)),
          first.map((result, index) => (index === 2 ? { ...result, rows: [] } : result)),
        );
      });
      await withClient(proxy.url, async (client) => {
        const before = described();
        await runBatch(client, TRANSACTION, types);
        assert.equal(described() - before, TRANSACTION.length, 'a new connection describes its statements again');
      });
    } finally {
      await proxy.close();
    }
  });

  test('an unnamed statement (it reads `*`) is described at every run, beside named ones that are not', async () => {
    const url = (await freshDatabase()) ?? '';
    await withClient(url, (client) => client.query("CREATE TABLE shapes (id bigserial PRIMARY KEY, label text); INSERT INTO shapes (label) VALUES ('s')"));
    const proxy = await postgresProxy(url);
    try {
      await withClient(proxy.url, async (client) => {
        const statements = [wire('SELECT * FROM shapes'), wire('SELECT $1::int AS n', [7])];
        await runBatch(client, statements, types);
        const before = proxy.count(ROW_DESCRIPTION);
        const results = await runBatch(client, statements, types);
        assert.equal(proxy.count(ROW_DESCRIPTION) - before, 1);
        assert.deepEqual(
          results.map((result) => result.rows),
          [[{ id: 1, label: 's' }], [{ n: 7 }]],
        );
      });
    } finally {
      await proxy.close();
    }
  });

  test('a statement parsed again after a failed batch is described again and read right', async () => {
    const url = (await freshDatabase()) ?? '';
    const proxy = await postgresProxy(url);
    try {
      await withClient(proxy.url, async (client) => {
        const named = wire('SELECT $1::int * 2 AS doubled', [4]);
        // The server refuses the first statement's Parse: the named one after it is skipped, never parsed.
        await assert.rejects(runBatch(client, [wire('SELECT FROM no_such_table'), named], types), /no_such_table/);
        const before = proxy.count(ROW_DESCRIPTION);
        const [result] = await runBatch(client, [named], types);
        assert.equal(proxy.count(ROW_DESCRIPTION) - before, 1);
        assert.deepEqual(result?.rows, [{ doubled: 8 }]);
        const [again] = await runBatch(client, [named], types);
        assert.equal(proxy.count(ROW_DESCRIPTION) - before, 1);
        assert.deepEqual(again?.rows, [{ doubled: 8 }]);
      });
    } finally {
      await proxy.close();
    }
  });
});
