/**
 * A relay whose clock is off from the database's (a host without NTP) says so at start, with the fix: leases go by the
 * database's clock, but the history lines and retry times it writes go by its own (docs/several-relays.md, clocks).
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { describeOnPostgres, freshDatabase } from '../helpers/postgres.ts';
import { SmtpSink } from '../helpers/smtp-sink.ts';
import { gatewayYaml, killSpawnedRelays, relayEnvironment, removeDir, spawnRelay, startSimulator, tempDir, waitFor } from '../helpers/relay.ts';

const SHIFT = fileURLToPath(new URL('../fixtures/clock-shift/shift.cjs', import.meta.url));
const WARNING = /^relay: this relay's clock is (\d+\.\d) s (ahead of|behind) the database's; .*NTP/;

after(killSpawnedRelays);

describeOnPostgres("a relay whose clock is off from the database's", async () => {
  test('is warned of at start, once, naming how far, which way and the fix; a relay whose clock agrees is not', { timeout: 60_000 }, async () => {
    const url = (await freshDatabase()) ?? '';
    const gateway = await startSimulator();
    // Relays sharing a database send their own mail through a smarthost.
    const sink = await new SmtpSink().start();
    const dirs = [tempDir(), tempDir()];
    const start = (dir: string, name: string, shiftMs: number) =>
      spawnRelay(
        dir,
        {
          ...relayEnvironment(dir, gatewayYaml(gateway.url), { SMSRELAY_DATABASE_URL: url, SMSRELAY_RELAY_NAME: name, SMSRELAY_MAIL_URL: sink.url }),
          CLOCK_SHIFT_MS: String(shiftMs),
        },
        undefined,
        { nodeArgs: ['--require', SHIFT] },
      );
    const [ahead, synced] = await Promise.all([start(dirs[0] as string, 'ahead', 300_000), start(dirs[1] as string, 'synced', 0)]);
    try {
      const warned = (relay: typeof ahead) => relay.logs.filter((line) => WARNING.test(String(line['msg'])));
      const [line] = await waitFor('the warning', () => (warned(ahead).length > 0 ? warned(ahead) : undefined), 20_000);
      const [, seconds, way] = WARNING.exec(String(line?.['msg'])) ?? [];
      assert.equal(way, 'ahead of');
      assert.ok(Math.abs(Number(seconds) - 300) < 2, `${seconds} s`);
      assert.equal(line?.['level'], 'warn');
      // Heartbeats go on (every 5 s); the warning is not repeated with each.
      await new Promise((resolve) => setTimeout(resolve, 6_000));
      assert.equal(warned(ahead).length, 1);
      assert.deepEqual(warned(synced), []);
    } finally {
      await Promise.all([ahead.stop(), synced.stop()]);
      await gateway.close();
      await sink.stop();
      for (const dir of dirs) removeDir(dir);
    }
  });
});
