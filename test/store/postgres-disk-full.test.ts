import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, type TestContext, test } from 'node:test';
import type { RelayError } from '../../src/errors.ts';
import { PROBE_INTERVAL_MS, WRITE_PROBE_BYTES } from '../../src/store/group-commit.ts';
import { PostgresStore } from '../../src/store/postgres/store.ts';
import { storeFailureCode } from '../../src/store/rows.ts';
import { describeOnPostgres, ownPostgres, withClient, withDatabase } from '../helpers/postgres.ts';
import { httpStatus, killSpawnedRelays, type RelayProcess, relayEnvironment, removeDir, spawnRelay, tempDir, waitFor } from '../helpers/relay.ts';
import { type Reply, refusalOf, sendMail } from '../helpers/smtp.ts';
import { mail } from '../helpers/store.ts';
import { sleep } from '../helpers/wait.ts';

/**
 * PostgreSQL's disk full under a running relay (docs/operations.md, "Health"): the relay's tables in a
 * tablespace on a small tmpfs the test mounts (the WAL stays on the server's own disk: on a full disk what
 * fails first is a table that must grow, "could not extend file", as when the whole data directory is full).
 */

after(killSpawnedRelays);

/** Big enough for a fresh database's catalogues and the relay's tables (~8 MB), small enough to fill at once. */
const TABLESPACE_MB = 24;

/** Takes every byte the filesystem at `dir` has left, in one file (as `cat /dev/zero > file`): a real full disk. */
function fillUp(dir: string): string {
  const file = join(dir, 'filler');
  const fd = openSync(file, 'w');
  try {
    // Large writes until one does not fit, then pages: the server may be writing meanwhile.
    for (const size of [1024 * 1024, 4096]) {
      const chunk = Buffer.alloc(size);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
      }
    }
  } finally {
    closeSync(fd);
  }
  return file;
}

test("PostgreSQL's class 53 by what a client should do: disk_full is a full disk, the rest unavailable (too_many_connections too: it may not free itself)", () => {
  const of = (code: string) => storeFailureCode(Object.assign(new Error(code), { code }));
  assert.equal(of('53100'), 'DISK_FULL');
  assert.equal(of('53300'), 'STORE_UNAVAILABLE');
  assert.equal(of('SQLITE_BUSY'), 'STORE_BUSY');
  assert.equal(of('53000'), 'STORE_UNAVAILABLE');
  assert.equal(of('53200'), 'STORE_UNAVAILABLE');
  assert.equal(of('53400'), 'STORE_UNAVAILABLE');
  assert.equal(of('SQLITE_FULL'), 'DISK_FULL');
});

/**
 * How many server sessions the relay's database has had (pg_stat_database.sessions): a session counts as it
 * starts, told by its backend when it ends or at its next report, so one that lasted a moment counts too.
 */
async function sessions(url: string): Promise<number> {
  // A session still running reports within a second (PostgreSQL's stats flush).
  await sleep(1_500);
  return withClient(url, async (client) =>
    Number((await client.query<{ sessions: string }>("SELECT sessions FROM pg_stat_database WHERE datname = 'relay'")).rows[0]?.sessions),
  );
}

/** A database `relay` in a tablespace on a small tmpfs of its own, with the way to fill and free it. */
interface SmallDisk {
  readonly dir: string;
  /** The server's URL (a superuser's), and the database's. */
  readonly server: string;
  readonly url: string;
  /** Takes every byte the disk has left (fill), until free(). */
  readonly fill: () => void;
  readonly free: () => void;
  /** A step to undo after the test: undone in reverse order, each whatever the others did. */
  readonly cleanup: (step: () => unknown) => void;
}

/** SmallDisk for `context`'s test; undefined when it skipped (no root to mount a tmpfs). */
async function smallDisk(context: TestContext): Promise<SmallDisk | undefined> {
  const dir = tempDir('smsrelay-pg-full-');
  const disk = join(dir, 'disk');
  mkdirSync(disk);
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${TABLESPACE_MB}m`, 'tmpfs', disk], { encoding: 'utf8' });
  if (mounted.status !== 0) {
    removeDir(dir);
    context.skip(`cannot mount a tmpfs here (${mounted.stderr.trim()}): the test needs root`);
    return undefined;
  }
  // Their first failure fails the test once every step ran.
  const steps: Array<() => unknown> = [];
  context.after(async () => {
    const failures: unknown[] = [];
    for (const step of steps.reverse()) {
      try {
        await step();
      } catch (error) {
        failures.push(error);
      }
    }
    if (failures.length > 0) throw failures[0];
  });
  steps.push(() => removeDir(dir));
  steps.push(() => {
    const unmounted = spawnSync('umount', [disk], { encoding: 'utf8' });
    // Still busy (a server that did not let go): detached now, freed once nothing holds it.
    if (unmounted.status !== 0) execFileSync('umount', ['-l', disk]);
  });
  const server = (await ownPostgres()).url;
  // The server runs as its own user, which must reach the tablespace's directory and own it.
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres']).toString());
  chmodSync(dir, 0o755);
  chownSync(disk, id('-u'), id('-g'));
  await withClient(server, (client) => client.query(`CREATE TABLESPACE small LOCATION '${disk}'`));
  steps.push(() => withClient(server, (client) => client.query('DROP TABLESPACE IF EXISTS small')));
  await withClient(server, (client) => client.query('CREATE DATABASE relay TABLESPACE small'));
  steps.push(() => withClient(server, (client) => client.query('DROP DATABASE IF EXISTS relay WITH (FORCE)')));
  let filler: string | undefined;
  const free = () => {
    if (filler !== undefined) rmSync(filler);
    filler = undefined;
  };
  steps.push(free);
  return {
    dir,
    server,
    url: withDatabase(server, 'relay'),
    fill: () => {
      filler = fillUp(disk);
    },
    free,
    cleanup: (step) => steps.push(step),
  };
}

describeOnPostgres('a full disk under PostgreSQL', () => {
  test('mail gets 452 4.3.1 (DISK_FULL) and /readyz stays 503 with one "commits fail" line until space is freed (heartbeats and write probes that fit in pages the tables hold do not count), over the connections it had; then 200, and mail 250; a relay started on the full disk is not ready until space is freed', async (context) => {
    const small = await smallDisk(context);
    if (small === undefined) return;
    const { dir, server, fill, free } = small;
    const exitCodes: Array<number | null> = [];
    let relay: RelayProcess | undefined;
    const stopRelay = async () => {
      const running = relay;
      relay = undefined;
      if (running !== undefined) exitCodes.push(await running.stop());
    };
    // Before the database is dropped and the disk freed, in case the test stopped half-way.
    small.cleanup(stopRelay);
    const environment = relayEnvironment(dir, {}, { SMSRELAY_DATABASE_URL: small.url });
    relay = await spawnRelay(dir, environment);
    const { smtpPort, httpPort, logs } = relay;
    const before = await sendMail(smtpPort, { to: ['447700900381@sms.localhost'], body: 'before the disk filled' });
    assert.equal(before.data?.code, 250, before.data?.text);
    assert.equal(await httpStatus(httpPort, '/readyz'), 200);

    fill();
    // The first mails may still fit in pages the tables hold; one that needs a new page is refused as the disk is.
    let refused: Reply | undefined;
    for (let index = 0; index < 200 && refused === undefined; index++) {
      const to = `4477009004${String(index).padStart(2, '0')}@sms.localhost`;
      refused = refusalOf(await sendMail(smtpPort, { to: [to], body: `full ${index} ${'x'.repeat(400)}` }));
    }
    assert.equal(refused?.code, 452, refused?.text);
    assert.equal(refused?.text, '4.3.1 Insufficient system storage: the relay is not taking mail until disk space is freed; try again later');

    // Five seconds: heartbeats, claims and the write probes of /readyz (one a second), each failing on the
    // disk over a connection that works: none of them may cost a new server session.
    const sessionsBefore = await sessions(server);
    const answers: number[] = [];
    for (let tries = 0; tries < 20; tries++) {
      answers.push(await httpStatus(httpPort, '/readyz'));
      await sleep(250);
    }
    assert.deepEqual(new Set(answers), new Set([503]), `/readyz answered ${answers.join(' ')}`);
    // One or two at most, as the pool opens a connection for a moment of more work: not one per failed commit.
    const newSessions = (await sessions(server)) - sessionsBefore;
    assert.ok(newSessions <= 2, `${newSessions} new server sessions while the disk was full`);
    const lines = (text: string) => logs.filter((line) => String(line.msg).startsWith(`store: commits ${text}`));
    assert.equal(lines('succeed again').length, 0, 'no recovery announced while mail is refused');
    assert.equal(lines('fail').length, 1);
    const [failing] = lines('fail');
    assert.equal(failing?.code, 'DISK_FULL');
    assert.match(String(failing?.msg), /\(mail 452 4\.3\.1, webhooks 503\)/);
    assert.match(String(failing?.reason), /No space left on device/);

    free();
    await waitFor('ready again', async () => (await httpStatus(httpPort, '/readyz')) === 200, 5_000);
    await waitFor('one recovery line', () => lines('succeed again').length === 1, 3_000);
    assert.equal(lines('fail').length, 1);
    const after = await sendMail(smtpPort, { to: ['447700900382@sms.localhost'], body: 'after space was freed' });
    assert.equal(after.data?.code, 250, after.data?.text);

    // A relay that starts on the full disk connects and finds its schema, but is not ready: its write probe fails.
    await stopRelay();
    fill();
    relay = await spawnRelay(dir, environment);
    const restarted = relay;
    const started = restarted.logs.find((line) => line.msg === 'relay: ready' || String(line.msg).startsWith('relay: listening, '));
    assert.match(String(started?.msg), /^relay: listening, store not ready/);
    for (let tries = 0; tries < 8; tries++) {
      assert.equal(await httpStatus(restarted.httpPort, '/readyz'), 503);
      await sleep(250);
    }
    const failingAtStart = restarted.logs.find((line) => String(line.msg).startsWith('store: commits fail'));
    assert.equal(failingAtStart?.code, 'DISK_FULL', 'its mail gets 452 meanwhile');
    assert.equal(
      restarted.logs.some((line) => line.msg === 'relay: ready'),
      false,
      'not ready while the disk is full',
    );
    free();
    await waitFor('ready once space is freed', async () => (await httpStatus(restarted.httpPort, '/readyz')) === 200, 10_000);
    await waitFor('relay: ready', () => restarted.logs.some((line) => line.msg === 'relay: ready'), 3_000);
    const afterRestart = await sendMail(restarted.smtpPort, { to: ['447700900385@sms.localhost'], body: 'after the restart' });
    assert.equal(afterRestart.data?.code, 250, afterRestart.data?.text);
    await stopRelay();
    // The relay stopped as it should each time (a stop is where a store fault left unhandled would show).
    assert.deepEqual(exitCodes, [0, 0]);
  });
});

describeOnPostgres('write probes on a full PostgreSQL disk', () => {
  test('none within a second of a commit that told (one that failed, a mail whose commit showed mail is taken again), as operations.md says', async (context) => {
    const small = await smallDisk(context);
    if (small === undefined) return;
    const healths: string[] = [];
    const store = await PostgresStore.open({ url: small.url }, (health) => healths.push(health.state === 'failing' ? health.code : health.state));
    small.cleanup(() => store.close());
    // Counts the probes tried, failed ones too: a sequence moves outside the transaction, in a page it already has.
    await withClient(small.url, (client) =>
      client.query(`CREATE SEQUENCE probes;
        CREATE FUNCTION count_probe() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM nextval('probes'); RETURN NEW; END $$;
        CREATE TRIGGER count_probe BEFORE INSERT ON control FOR EACH ROW WHEN (NEW.key = 'write_probe') EXECUTE FUNCTION count_probe();`),
    );
    const probes = () =>
      withClient(small.url, async (client) => {
        const [row] = (await client.query<{ last_value: string; is_called: boolean }>('SELECT last_value, is_called FROM probes')).rows;
        return row?.is_called ? Number(row.last_value) : 0;
      });

    small.fill();
    // Mails as large as the probe, of text that does not compress, until one finds no room.
    let refused: unknown;
    for (let index = 0; index < 200 && refused === undefined; index++) {
      const headers = `X-Pad: ${randomBytes((WRITE_PROBE_BYTES * 3) / 4).toString('base64')}\r\n\r\n`;
      refused = await store.acceptMail(mail([`4477009005${String(index).padStart(2, '0')}`], { headers })).then(
        () => undefined,
        (error: unknown) => error,
      );
    }
    assert.equal((refused as RelayError | undefined)?.code, 'DISK_FULL', String(refused));
    assert.deepEqual(healths, ['DISK_FULL']);
    // The mail's failed commit is the answer a probe would give now.
    const before = await probes();
    assert.equal((await store.probeWrites()).state, 'failing');
    assert.equal(await probes(), before, 'no probe right after a failed commit');

    await sleep(PROBE_INTERVAL_MS + 100);
    small.free();
    await store.acceptMail(mail(['447700900599']));
    assert.deepEqual(healths, ['DISK_FULL', 'ok']);
    // A probe set off by the mail's own commit would be running now.
    await sleep(200);
    assert.equal(await probes(), before, 'no probe after the mail that showed mail is taken');
  });
});
