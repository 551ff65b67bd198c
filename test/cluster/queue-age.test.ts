/**
 * The queue's oldest age on relays whose clocks differ (docs/several-relays.md, clocks): measured on the database's
 * clock from the database's stamp, it reads the same at a relay whose clock agrees whichever relay accepted the mail;
 * the accepting relay's stamp read on the reader's clock would read its offset too old (a false alert) or too young (a
 * stuck SMS hidden at 0).
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { request } from 'undici';
import { PostgresStore } from '../../src/store/postgres/store.ts';
import { describeOnPostgres, freshDatabase } from '../helpers/postgres.ts';
import { SmtpSink } from '../helpers/smtp-sink.ts';
import { queuedId, sendMail } from '../helpers/smtp.ts';
import { gatewayYaml, killSpawnedRelays, relayEnvironment, removeDir, runCommand, spawnRelay, startSimulator, tempDir, waitFor } from '../helpers/relay.ts';

const SHIFT = fileURLToPath(new URL('../fixtures/clock-shift/shift.cjs', import.meta.url));
/** How far the two skewed relays' clocks are off, either way: well beyond any test's own delays. */
const SKEW_MS = 300_000;

after(killSpawnedRelays);

describeOnPostgres('the queue age on relays whose clocks differ', async () => {
  test("is the database's measure at a relay whose clock agrees, for mail accepted by a relay ahead and one behind", { timeout: 90_000 }, async () => {
    const url = (await freshDatabase()) ?? '';
    const gateway = await startSimulator();
    const sink = await new SmtpSink().start();
    const dirs = [tempDir(), tempDir(), tempDir()];
    const environment = (dir: string, name: string) =>
      relayEnvironment(dir, gatewayYaml(gateway.url), { SMSRELAY_DATABASE_URL: url, SMSRELAY_RELAY_NAME: name, SMSRELAY_MAIL_URL: sink.url });
    const start = (dir: string, name: string, shiftMs: number) =>
      spawnRelay(dir, { ...environment(dir, name), CLOCK_SHIFT_MS: String(shiftMs) }, undefined, { nodeArgs: ['--require', SHIFT] });
    const [readerDir, aheadDir, behindDir] = dirs as [string, string, string];
    const reader = await start(readerDir, 'reader', 0);
    const [ahead, behind] = await Promise.all([start(aheadDir, 'ahead', SKEW_MS), start(behindDir, 'behind', -SKEW_MS)]);
    const cli = (...args: string[]) => {
      const run = runCommand(readerDir, environment(readerDir, 'reader'), ...args);
      assert.equal(run.status, 0, run.stderr);
      return run.stdout;
    };
    const metricAge = async () => {
      // A connection of its own: the first scrape's, kept alive, may be closed by the relay's idle timeout by the second.
      const text = await (await request(`http://127.0.0.1:${reader.httpPort}/metrics`, { reset: true })).body.text();
      return Number(/^smsrelay_queue_oldest_age_seconds\{queue="sms"\} ([0-9.e+-]+)$/m.exec(text)?.[1]);
    };
    const statusAge = () => Number(/^sms queued: \d+ .*oldest (\d+) s/m.exec(cli('status'))?.[1]);
    const accept = async (port: number, text: string) =>
      queuedId((await sendMail(port, { to: ['447700900123@sms.localhost'], subject: text, body: text, headers: { From: 'alice@example.com' } })).data);
    try {
      // Queued SMS stay queued: what is read is their age alone.
      cli('queue', 'pause');
      const first = Date.now();
      await accept(ahead.smtpPort, 'Disk full on db1');
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      const bound = () => Math.ceil((Date.now() - first) / 1000) + 1;
      // Stamped 300 s ahead, read by a clock that agrees: 0 until those 300 s pass, however long it is stuck.
      for (const [how, age] of [
        ['metrics', await metricAge()],
        ['status', statusAge()],
      ] as const) {
        assert.ok(age >= 2 && age <= bound(), `${how}: the SMS accepted by the relay ahead reads ${age} s, ~3 s old`);
      }
      await accept(behind.smtpPort, 'Disk full on db2');
      await waitFor('both queued', () => /^sms queued: 2 /m.test(cli('status')), 10_000);
      // Stamped 300 s behind: it would read 300 s older than it is, and as the queue's oldest.
      for (const [how, age] of [
        ['metrics', await metricAge()],
        ['status', statusAge()],
      ] as const) {
        assert.ok(age >= 2 && age <= bound(), `${how}: the oldest of the two reads ${age} s, the first's age`);
      }
    } finally {
      await Promise.all([reader.stop(), ahead.stop(), behind.stop()]);
      await gateway.close();
      await sink.stop();
      for (const dir of dirs) removeDir(dir);
    }
  });

  test("of the relays' own mail is the database's measure too, for mail queued by a relay behind and one ahead", async (t) => {
    const store = await PostgresStore.open({ url: (await freshDatabase()) ?? '' });
    const realNow = Date.now;
    /** A mail of the relay's own (a bounce) queued by a relay whose clock is `shiftMs` off. */
    const queueAt = async (shiftMs: number) => {
      const shifted = t.mock.method(Date, 'now', () => realNow() + shiftMs);
      try {
        await store.enqueueMail([{ kind: 'bounce', messageId: undefined, envelopeFrom: '', recipients: ['alice@example.com'], raw: Buffer.from('x') }]);
      } finally {
        shifted.mock.restore();
      }
    };
    try {
      await queueAt(SKEW_MS);
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      // Stamped 300 s ahead, it would read 0 s for 300 s.
      assert.ok((await store.queueStats(Date.now())).mail.oldestAgeSeconds >= 1);
      await queueAt(-SKEW_MS);
      // Stamped 300 s behind, it would read 300 s old, and the queue's oldest.
      const age = (await store.queueStats(Date.now())).mail.oldestAgeSeconds;
      assert.ok(age >= 1 && age <= 10, `${age} s`);
    } finally {
      await store.close();
    }
  });
});
