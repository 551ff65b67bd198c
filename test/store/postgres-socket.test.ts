/**
 * `store.url` naming the server's Unix socket directory (`?host=/dir`, as libpq reads it): the way to a
 * database on the relay's own machine, without TCP. A real store over the socket of the test server (the
 * URL's rules: postgres.test.ts).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PostgresStore } from '../../src/store/postgres/store.ts';
import { describeOnPostgres, freshDatabase, withClient } from '../helpers/postgres.ts';
import { mail } from '../helpers/store.ts';

describeOnPostgres('PostgreSQL over its Unix socket', async () => {
  test('a store opened on host=<socket directory> connects over the socket and commits', async (t) => {
    const url = (await freshDatabase()) ?? '';
    const directory = await withClient(
      url,
      async (client) =>
        String((await client.query('SHOW unix_socket_directories')).rows[0]?.unix_socket_directories ?? '')
          .split(',')[0]
          ?.trim() ?? '',
    );
    const tcp = new URL(url);
    if (!directory || !existsSync(join(directory, `.s.PGSQL.${tcp.port || 5432}`))) {
      t.skip(`*** SKIPPED: the test server's Unix socket is not on this machine (unix_socket_directories="${directory}") ***`);
      return;
    }
    const socketUrl = new URL(url);
    socketUrl.hostname = '';
    socketUrl.searchParams.set('host', directory);
    const store = await PostgresStore.open({ url: socketUrl.toString() });
    try {
      await store.acceptMail(mail(['447700900001']));
      const own = await withClient(
        url,
        async (client) =>
          (
            await client.query(
              "SELECT count(*)::int AS n, count(client_addr)::int AS over_tcp FROM pg_stat_activity WHERE application_name = 'smsrelay' AND datname = current_database()",
            )
          ).rows[0],
      );
      assert.ok(own.n >= 1, 'the store holds a connection');
      assert.equal(own.over_tcp, 0, 'none of them over TCP');
      const stored = await withClient(url, async (client) => (await client.query('SELECT count(*)::int AS n FROM outbound')).rows[0]);
      assert.equal(stored.n, 1);
    } finally {
      await store.close();
    }
  });
});
