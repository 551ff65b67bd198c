import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { PostgresStore, StoreConfigError } from '../../src/store/postgres/store.ts';
import { databaseUrl } from '../../src/store/postgres/url.ts';
import { ownPostgres, describeOnPostgres } from '../helpers/postgres.ts';
import { removeDir, tempDir } from '../helpers/relay.ts';

/** The tests' self-signed certificate (CN=localhost, SAN localhost and 127.0.0.1). */
const TLS = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));

/** What docs/operations.md's sslmode table says each mode verifies, against a server with that certificate. */
describeOnPostgres('sslmode, as documented', async () => {
  const server = await ownPostgres();
  const dir = tempDir('smsrelay-pg-tls-');
  after(() => removeDir(dir));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  copyFileSync(join(TLS, 'cert.pem'), cert);
  copyFileSync(join(TLS, 'key.pem'), key);
  chmodSync(key, 0o600);
  // The server refuses a key it does not own; as root it runs as the postgres user.
  if (userInfo().uid === 0) {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres']).toString());
    for (const path of [dir, cert, key]) chownSync(path, id('-u'), id('-g'));
  }
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query(`ALTER SYSTEM SET ssl_cert_file = '${cert}'`);
  await admin.query(`ALTER SYSTEM SET ssl_key_file = '${key}'`);
  await admin.query('ALTER SYSTEM SET ssl = on');
  await admin.query('SELECT pg_reload_conf()');
  await admin.end();

  /** Connects as `store.url` would; whether the connection is encrypted, or why it failed. */
  const connect = async (query: string, host = '127.0.0.1') => {
    const url = new URL(server.url);
    url.hostname = host;
    url.search = query;
    const client = new pg.Client(databaseUrl(url.toString()).pool);
    try {
      await client.connect();
      const { rows } = await client.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
      return rows[0]?.ssl ? 'encrypted' : 'clear';
    } catch (error) {
      return `refused: ${(error as Error).message}`;
    } finally {
      await client.end().catch(() => undefined);
    }
  };

  test('disable: clear (and the default on loopback); require: encrypted, any certificate', async () => {
    assert.equal(await connect('?sslmode=disable'), 'clear');
    assert.equal(await connect(''), 'clear');
    assert.equal(await connect('?sslmode=require'), 'encrypted');
  });

  test('verify-ca and verify-full: only a certificate that chains to sslrootcert (or the system CAs); verify-full also the host name', async () => {
    assert.match(await connect('?sslmode=verify-full'), /^refused: self[- ]signed certificate/);
    assert.match(await connect('?sslmode=verify-ca'), /^refused: self[- ]signed certificate/);
    assert.equal(await connect(`?sslmode=verify-ca&sslrootcert=${encodeURIComponent(cert)}`), 'encrypted');
    assert.equal(await connect(`?sslmode=verify-full&sslrootcert=${encodeURIComponent(cert)}`), 'encrypted');
    assert.equal(await connect(`?sslmode=verify-full&sslrootcert=${encodeURIComponent(cert)}`, 'localhost'), 'encrypted');
    // The host check itself (no second name reaches this server): verify-ca waives it, verify-full keeps Node's.
    const ssl = (mode: string) =>
      databaseUrl(`postgres://u:p@db.example.com/relay?sslmode=${mode}`).pool.ssl as { checkServerIdentity?: (host: string) => unknown };
    assert.equal(ssl('verify-ca').checkServerIdentity?.('another.example.com'), undefined);
    assert.equal(ssl('verify-full').checkServerIdentity, undefined, "verify-full: Node's own host name check");
  });

  test('a certificate that fails verify-full is a config error naming the fix (the relay exits 78), not a store that retries for ever', async () => {
    const url = new URL(server.url);
    url.search = 'sslmode=verify-full';
    await assert.rejects(PostgresStore.open({ url: url.toString() }), (error: unknown) => {
      assert.ok(error instanceof StoreConfigError, String(error));
      assert.match(
        error.message,
        /the server's certificate does not pass sslmode's check \(self[- ]signed certificate\): name the CA that signed it with sslrootcert=<file>/,
      );
      return true;
    });
  });
});
