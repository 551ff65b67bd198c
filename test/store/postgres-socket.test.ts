/**
 * `store.url` naming the server's Unix socket directory (`?host=/dir`, as libpq reads it): the way to a
 * database on the relay's own machine, without TCP. Config rules, and a real store over the socket of
 * the test server.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { PostgresStore } from '../../src/store/postgres/store.ts';
import { databaseUrl } from '../../src/store/postgres/url.ts';
import { describeOnPostgres, freshDatabase, withClient } from '../helpers/postgres.ts';
import { removeDir, tempDir } from '../helpers/relay.ts';
import { mail } from '../helpers/store.ts';

const problems = (url: string) => {
  const dir = tempDir();
  try {
    loadConfig({ SMSRELAY_DATABASE_URL: url }, dir);
    return [];
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  } finally {
    removeDir(dir);
  }
};

describe('store.url with a Unix socket directory', () => {
  test('host=/dir is taken, with or without a host before the database; clear by default, since it only reaches this machine', () => {
    assert.deepEqual(problems('postgres://relay:s3cret@/relay?host=/var/run/postgresql'), []);
    assert.deepEqual(problems('postgres://relay:s3cret@localhost:5433/relay?host=/var/run/postgresql&sslmode=disable'), []);
    const { pool, sslMode } = databaseUrl('postgres://relay:s3cret@/relay?host=/var/run/postgresql');
    assert.equal(sslMode, 'disable');
    assert.equal(pool.host, '/var/run/postgresql');
    assert.equal(pool.ssl, false);
    assert.equal(pool.port, 5432);
  });

  test('a host parameter that is not a directory path, or TLS asked of a socket: a config error naming the fix', () => {
    assert.match(
      problems('postgres://relay:s3cret@/relay?host=db.example.com')[0] ?? '',
      /host="db\.example\.com" is not a directory path: the host parameter names the directory of the server's Unix socket/,
    );
    assert.match(
      problems('postgres://relay:s3cret@/relay?host=/var/run/postgresql&sslmode=verify-full')[0] ?? '',
      /sslmode "verify-full" with host=\/var\/run\/postgresql: a Unix socket is never encrypted .*: leave sslmode out or use disable/,
    );
    assert.match(problems('postgres://relay:s3cret@/relay')[0] ?? '', /the URL names no host/);
  });
});

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
