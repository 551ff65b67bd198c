import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { request } from 'undici';
import { storeFailureCode } from '../../src/store/rows.ts';
import { describeOnPostgres, ownPostgres, withClient, withDatabase } from '../helpers/postgres.ts';
import { killSpawnedRelays, type RelayProcess, relayEnvironment, removeDir, spawnRelay, tempDir, waitFor } from '../helpers/relay.ts';
import { type Reply, sendMail, type Transaction } from '../helpers/smtp.ts';
import { sleep } from '../helpers/wait.ts';

/**
 * PostgreSQL's disk full under a running relay (docs/operations.md, "Health"): the relay's tables in a
 * tablespace on a small tmpfs the test mounts (the WAL stays on the server's own disk: on a full disk what
 * fails first is a table that must grow, "could not extend file", as when the whole data directory is full).
 */

after(killSpawnedRelays);

/** Big enough for a fresh database's catalogues and the relay's tables (~8 MB), small enough to fill at once. */
const TABLESPACE_MB = 24;

/** The reply that refused a mail transaction, whichever step it came at. */
function refusal(transaction: Transaction): Reply | undefined {
  return [transaction.mail, ...transaction.rcpt, transaction.data].find((reply) => reply?.code !== 250);
}

async function status(httpPort: number, path: string): Promise<number> {
  const response = await request(`http://127.0.0.1:${httpPort}${path}`);
  await response.body.dump();
  return response.statusCode;
}

/** Takes every byte the filesystem at `dir` has left, in one file (as `cat /dev/zero > file`): a real full disk. */
function fill(dir: string): string {
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

test("PostgreSQL's class 53 by what a client should do: disk_full is a full disk, too_many_connections busy, the rest unavailable", () => {
  const of = (code: string) => storeFailureCode(Object.assign(new Error(code), { code }));
  assert.equal(of('53100'), 'DISK_FULL');
  assert.equal(of('53300'), 'STORE_BUSY');
  assert.equal(of('53000'), 'STORE_UNAVAILABLE');
  assert.equal(of('53200'), 'STORE_UNAVAILABLE');
  assert.equal(of('53400'), 'STORE_UNAVAILABLE');
  assert.equal(of('SQLITE_FULL'), 'DISK_FULL');
});

describeOnPostgres('a full disk under PostgreSQL', () => {
  test('mail gets 452 4.3.1 (DISK_FULL) and /readyz stays 503 with one "commits fail" line until space is freed (heartbeats and write probes that fit in pages the tables hold do not count); then 200, and mail 250', async (context) => {
    const dir = tempDir('smsrelay-pg-full-');
    const disk = join(dir, 'disk');
    mkdirSync(disk);
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${TABLESPACE_MB}m`, 'tmpfs', disk], { encoding: 'utf8' });
    if (mounted.status !== 0) {
      removeDir(dir);
      context.skip(`cannot mount a tmpfs here (${mounted.stderr.trim()}): the test needs root`);
      return;
    }
    let server: Awaited<ReturnType<typeof ownPostgres>> | undefined;
    let relay: RelayProcess | undefined;
    let filler: string | undefined;
    try {
      server = await ownPostgres();
      // The server runs as its own user, which must reach the tablespace's directory and own it.
      const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres']).toString());
      chmodSync(dir, 0o755);
      chownSync(disk, id('-u'), id('-g'));
      await withClient(server.url, async (client) => {
        await client.query(`CREATE TABLESPACE small LOCATION '${disk}'`);
        await client.query('CREATE DATABASE relay TABLESPACE small');
      });
      relay = await spawnRelay(dir, relayEnvironment(dir, {}, { SMSRELAY_DATABASE_URL: withDatabase(server.url, 'relay') }));
      const { smtpPort, httpPort, logs } = relay;
      const before = await sendMail(smtpPort, { to: ['447700900381@sms.localhost'], body: 'before the disk filled' });
      assert.equal(before.data?.code, 250, before.data?.text);
      assert.equal(await status(httpPort, '/readyz'), 200);

      filler = fill(disk);
      // The first mails may still fit in pages the tables hold; one that needs a new page is refused as the disk is.
      let refused: Reply | undefined;
      for (let index = 0; index < 200 && refused === undefined; index++) {
        const to = `4477009004${String(index).padStart(2, '0')}@sms.localhost`;
        refused = refusal(await sendMail(smtpPort, { to: [to], body: `full ${index} ${'x'.repeat(400)}` }));
      }
      assert.equal(refused?.code, 452, refused?.text);
      assert.equal(refused?.text, '4.3.1 Insufficient system storage: the relay is not taking mail until disk space is freed; try again later');

      // Five seconds: heartbeats, claims and the write probes of /readyz (one a second).
      const answers: number[] = [];
      for (let tries = 0; tries < 20; tries++) {
        answers.push(await status(httpPort, '/readyz'));
        await sleep(250);
      }
      assert.deepEqual(new Set(answers), new Set([503]), `/readyz answered ${answers.join(' ')}`);
      const lines = (text: string) => logs.filter((line) => String(line.msg).startsWith(`store: commits ${text}`));
      assert.equal(lines('succeed again').length, 0, 'no recovery announced while mail is refused');
      assert.equal(lines('fail').length, 1);
      const [failing] = lines('fail');
      assert.equal(failing?.code, 'DISK_FULL');
      assert.match(String(failing?.msg), /\(mail 452 4\.3\.1, webhooks 503\)/);
      assert.match(String(failing?.reason), /No space left on device/);

      rmSync(filler);
      filler = undefined;
      await waitFor('ready again', async () => (await status(httpPort, '/readyz')) === 200, 5_000);
      await waitFor('one recovery line', () => lines('succeed again').length === 1, 3_000);
      assert.equal(lines('fail').length, 1);
      const after = await sendMail(smtpPort, { to: ['447700900382@sms.localhost'], body: 'after space was freed' });
      assert.equal(after.data?.code, 250, after.data?.text);
    } finally {
      if (filler !== undefined) rmSync(filler);
      if (relay !== undefined) assert.equal(await relay.stop(), 0);
      const url = server?.url;
      if (url !== undefined)
        await withClient(url, async (client) => {
          await client.query('DROP DATABASE IF EXISTS relay WITH (FORCE)');
          await client.query('DROP TABLESPACE IF EXISTS small');
        });
      execFileSync('umount', [disk]);
      removeDir(dir);
    }
  });
});
