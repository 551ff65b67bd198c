import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import { Housekeeping } from '../../src/store/housekeeping.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { removeDir, tempDir } from '../helpers/relay.ts';
import { mail } from '../helpers/store.ts';
import { forEachStore } from '../helpers/stores.ts';

const DAY = 24 * 3600_000;
const PHONE = '+447700900123';
const T0 = Date.UTC(2026, 0, 1);

describe('orphan delivery reports', () => {
  test('inbound.orphanReportTtl: 7 days by default, SMSRELAY_ORPHAN_REPORT_TTL or the file sets it', () => {
    const dir = tempDir('smsrelay-ttl-');
    try {
      assert.equal(loadConfig({}, dir).config.inbound.orphanReportTtl, 7 * DAY);
      assert.equal(loadConfig({ SMSRELAY_ORPHAN_REPORT_TTL: '2d' }, dir).config.inbound.orphanReportTtl, 2 * DAY);
      writeFileSync(join(dir, 'smsrelay.yaml'), 'inbound:\n  orphanReportTtl: 36h\n');
      assert.equal(loadConfig({}, dir).config.inbound.orphanReportTtl, 36 * 3600_000);
    } finally {
      removeDir(dir);
    }
  });

  forEachStore((kind) =>
    test("a report that matched no SMS within the TTL is dropped with an info line per provider, an SMPP receipt's naming receiptIdFormat; younger ones and matched ones stay", async () => {
      const store = await kind.fresh();
      const report = (providerId: string, receivedAt: number, provider = 'intellisoftware') =>
        store.applyDeliveryReport({ provider, providerId, number: PHONE, code: 6, state: 'failed', receivedAt });
      /** Accepts a mail to PHONE and records its SMS as sent with `providerId`: its delivery state after. */
      let accepted = mail([PHONE]);
      const sendAs = async (providerId: string) => {
        accepted = mail([PHONE]);
        await store.acceptMail(accepted);
        const [batch] = await store.claimDueSms({ owner: 't', now: 5_000, leaseUntil: 65_000, maxBatches: 1, batchSize: 10 });
        await store.recordSmsOutcomes([{ smsId: batch?.sms[0]?.id ?? 0, kind: 'sent', providerId }]);
        return (await store.smsOf(accepted.id))[0]?.delivery;
      };
      assert.equal(await sendAs('MATCHED'), undefined);
      const matched = await report('MATCHED', T0);
      // When its SMS was sent (a provider's opt-out it carries is dated by it): the store's clock, whichever store.
      assert.ok('sentAt' in matched && typeof matched.sentAt === 'number', 'the report names when its SMS was sent');
      assert.deepEqual({ ...matched, sentAt: 0 }, { kind: 'advanced', smsId: 1, messageId: accepted.id, gatewayAccount: undefined, sentAt: 0 });
      // The gateway's report for a request that hung (the relay resent it and got another id)…
      assert.deepEqual(await report('HUNG', T0), { kind: 'orphan' });
      // An SMSC's receipt for an id no submit_sm_resp gave (another base than receiptIdFormat says, most often).
      assert.deepEqual(await report('FFFF0001', T0, 'smpp'), { kind: 'orphan' });
      assert.deepEqual(await report('FFFF0002', T0, 'smpp'), { kind: 'orphan' });
      // …and one for an SMS whose send result is not recorded yet.
      assert.deepEqual(await report('EARLY', T0 + 6 * DAY), { kind: 'orphan' });

      let now = T0 + 7 * DAY;
      const { logger, lines } = captureLog('info');
      const housekeeping = new Housekeeping({
        store,
        logger,
        retentionMs: undefined,
        orphanReportTtlMs: 7 * DAY,
        failoverRecoveryMs: 300_000,
        clock: () => now,
      });
      await housekeeping.sweep();
      assert.deepEqual(lines, [], 'exactly 7 days old: kept');
      now += 1;
      await housekeeping.sweep();
      const said = lines.map((line) => JSON.parse(line) as Record<string, unknown>).sort((a, b) => String(a.provider).localeCompare(String(b.provider)));
      assert.deepEqual(
        said.map((line) => [line.provider, line.level, line.reports]),
        [
          ['intellisoftware', 'info', 1],
          ['smpp', 'info', 2],
        ],
        "SMPP's: a setting may be why its receipts never matched (a long SMS's parts leave such rows too, so no warning); others' are requests resent",
      );
      assert.match(String(said[1]?.msg), /inbound\.orphanReportTtl.*gateway\.receiptIdFormat/);
      assert.doesNotMatch(String(said[0]?.msg), /receiptIdFormat/, 'not blaming SMPP for another provider');
      await housekeeping.sweep();
      assert.equal(lines.length, 2, 'nothing more to drop, nothing logged');

      assert.equal(await sendAs('EARLY'), 'failed', 'a younger orphan is still matched when its SMS is recorded');
      assert.equal(await sendAs('HUNG'), undefined, 'the expired one is gone');
      assert.deepEqual(await report('MATCHED', T0), { kind: 'duplicate', sms: { gatewayAccount: undefined } }, 'a matched report is never dropped');
      await store.close();
    }),
  );
});
