import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import type { StoreHealth } from '../../src/store/types.ts';
import { PROBE_INTERVAL_MS } from '../../src/store/group-commit.ts';
import { PostgresStore } from '../../src/store/postgres/store.ts';
import { describeOnPostgres, freshDatabase, withClient } from '../helpers/postgres.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

/**
 * A PostgreSQL store's health from a connect (docs/operations.md, "Health"): what the write probe at a
 * relay's connect says, and what a connect that met the server's own shortage says.
 */

const ROOM_TO_WRITE = 'the database server to have room to write (disk, memory)';

/** A fresh database holding the relay's schema, as a relay's first start leaves it. */
async function storeDatabase(): Promise<string> {
  const url = (await freshDatabase()) ?? '';
  await (await PostgresStore.open({ url })).close();
  return url;
}

/** A TCP way to `url`'s server that resets every connection until `open()`: the database unreachable at start. */
async function resettingUntilOpened(url: string): Promise<{ url: string; open: () => void; close: () => void }> {
  const target = new URL(url);
  let opened = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('error', () => undefined);
    if (!opened) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const forwarded = new URL(url);
  forwarded.hostname = '127.0.0.1';
  forwarded.port = String((server.address() as { port: number }).port);
  return {
    url: forwarded.toString(),
    open: () => {
      opened = true;
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

const said = (health: StoreHealth) => (health.state === 'failing' ? `${health.code}: ${health.reason}` : health.state);

describeOnPostgres("a PostgreSQL store's health from a connect", () => {
  test('a relay reconnecting at start stays ready once ready: a probe that onConnected\'s write set off and that committed is not overwritten by "writes not proven yet"', async () => {
    const url = await storeDatabase();
    const way = await resettingUntilOpened(url);
    const healths: string[] = [];
    const store = await PostgresStore.open(
      {
        url: way.url,
        proveWrites: true,
        // A small write, as the relay's heartbeat makes, then the rest of its start-up work (resuming leases) for a moment.
        onConnected: async (opened) => {
          await opened.setDispatchPaused(true, Date.now());
          await sleep(200);
        },
      },
      (health) => healths.push(said(health)),
    );
    try {
      setTimeout(way.open, 300);
      await waitFor('ready', () => healths.at(-1) === 'ok', 10_000);
      // Past the probe interval, when a probe declined at the connect would have been possible again.
      await sleep(PROBE_INTERVAL_MS + 500);
      assert.equal(healths.at(-1), 'ok', healths.join('\n'));
      assert.deepEqual(healths.slice(healths.indexOf('ok')), ['ok'], 'no flip back to failing once ready');
    } finally {
      await store.close();
      way.close();
    }
  });

  test('a full disk met by an upgrade step keeps its code while the store waits for room (mail 452 DISK_FULL, not 451 STORE_UNAVAILABLE)', async () => {
    const url = (await freshDatabase()) ?? '';
    // The server's own disk_full, as a step's CREATE TABLE meets it on a full disk.
    await withClient(url, (client) =>
      client.query(`CREATE FUNCTION full_disk() RETURNS event_trigger LANGUAGE plpgsql AS $$
          BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; END $$;
        CREATE EVENT TRIGGER full_disk ON ddl_command_start EXECUTE FUNCTION full_disk();`),
    );
    const waits: string[] = [];
    const healths: StoreHealth[] = [];
    const store = await PostgresStore.open({ url, proveWrites: true, onWaiting: (waitingFor) => waits.push(waitingFor) }, (health) => healths.push(health));
    try {
      assert.deepEqual(waits, [ROOM_TO_WRITE]);
      const health = healths.at(-1);
      assert.equal(health?.state === 'failing' && health.code, 'DISK_FULL', JSON.stringify(healths));
      assert.match(health?.state === 'failing' ? health.reason : '', /No space left on device: waiting for the database server to have room/);
      await withClient(url, (client) => client.query('DROP EVENT TRIGGER full_disk'));
      await waitFor('ready once there is room', () => healths.at(-1)?.state === 'ok', 10_000);
    } finally {
      await store.close();
    }
  });

  test("a full disk met by onConnected's write waits for room with its code, not for the database to be reachable", async () => {
    const url = await storeDatabase();
    // Outside the store's schema (a table of another application there is refused).
    await withClient(url, (client) =>
      client.query(`CREATE SCHEMA disk; CREATE TABLE disk.state (full_now boolean NOT NULL); INSERT INTO disk.state VALUES (true);
        CREATE FUNCTION disk.refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
          IF (SELECT full_now FROM disk.state) THEN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; END IF;
          RETURN COALESCE(NEW, OLD); END $$;
        CREATE TRIGGER refuse BEFORE INSERT OR UPDATE OR DELETE ON control FOR EACH ROW EXECUTE FUNCTION disk.refuse();`),
    );
    const waits: string[] = [];
    const healths: StoreHealth[] = [];
    const store = await PostgresStore.open(
      { url, proveWrites: true, onConnected: (opened) => opened.setDispatchPaused(true, Date.now()), onWaiting: (waitingFor) => waits.push(waitingFor) },
      (health) => healths.push(health),
    );
    try {
      assert.deepEqual(waits, [ROOM_TO_WRITE]);
      const health = healths.at(-1);
      assert.equal(health?.state === 'failing' && health.code, 'DISK_FULL', JSON.stringify(healths));
      await withClient(url, (client) => client.query('UPDATE disk.state SET full_now = false'));
      await waitFor('ready once there is room', () => healths.at(-1)?.state === 'ok', 10_000);
    } finally {
      await store.close();
    }
  });

  test("the operator's commands open the store without a write probe; the relay's open writes one", async () => {
    const url = await storeDatabase();
    // Counts the probes tried: a sequence moves outside the transaction.
    await withClient(url, (client) =>
      client.query(`CREATE SCHEMA counted; CREATE SEQUENCE counted.probes;
        CREATE FUNCTION counted.probe() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM nextval('counted.probes'); RETURN NEW; END $$;
        CREATE TRIGGER count_probe BEFORE INSERT OR UPDATE ON control FOR EACH ROW WHEN (NEW.key = 'write_probe') EXECUTE FUNCTION counted.probe();`),
    );
    const probes = () =>
      withClient(url, async (client) => {
        const [row] = (await client.query<{ last_value: string; is_called: boolean }>('SELECT last_value, is_called FROM counted.probes')).rows;
        return row?.is_called ? Number(row.last_value) : 0;
      });
    // As `smsrelay status`, `log`, `queue`, `quarantine`, `config check` and `preview` open it.
    const healths: string[] = [];
    await (await PostgresStore.open({ url, create: false }, (health) => healths.push(said(health)))).close();
    assert.equal(await probes(), 0, 'no probe for a command');
    assert.deepEqual(healths, [], 'ok without one');
    await (await PostgresStore.open({ url, proveWrites: true })).close();
    assert.equal(await probes(), 1, "the relay's connect proves its writes");
  });

  test('a probe refused for a reason that is no server failure (a read-only standby, 25006) names it as the reason, not "writes not proven yet"', async () => {
    const url = await storeDatabase();
    await withClient(url, (client) =>
      client.query(`DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET default_transaction_read_only = on', current_database()); END $$`),
    );
    const healths: StoreHealth[] = [];
    const store = await PostgresStore.open({ url, proveWrites: true }, (health) => healths.push(health));
    try {
      assert.equal(healths.length, 1, JSON.stringify(healths));
      const health = healths[0];
      assert.equal(health?.state, 'failing');
      assert.match(health?.state === 'failing' ? health.reason : '', /read-only transaction/);
    } finally {
      await store.close();
    }
  });
});
