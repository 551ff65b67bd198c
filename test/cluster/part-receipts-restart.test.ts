/**
 * One relay on SQLite, restarted between the receipts of a long SMS's parts (#18): the parts and what
 * their receipts said are in the store, so the receipts after the restart complete the SMS. Vonage:
 * a relay process stopped and started again between two receipts. SMPP: the SMSC holds the receipts
 * while the relay is away and delivers them on its new bind.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { createLogger } from '../../src/log.ts';
import { STORE_FILE } from '../../src/relay.ts';
import { SmppSimulator } from '../../src/simulators/smpp.ts';
import { VonageSimulator } from '../../src/simulators/vonage.ts';
import { waitEvery } from '../helpers/cluster.ts';
import { mailLong, PART_SMS, PATIENCE_MS } from '../helpers/part-receipts.ts';
import { GATEWAY_ACCOUNT, killSpawnedRelays, relayEnvironment, removeDir, spawnRelay, startTestRelay, tempDir } from '../helpers/relay.ts';

after(() => killSpawnedRelays());

/** The SMS's status and delivery state in the relay's SQLite file (read-only, beside the running relay). */
function smsRow(dataDir: string, messageId: string): { status: string; delivery: string | null } | undefined {
  const db = new BetterSqlite3(join(dataDir, STORE_FILE), { readonly: true });
  try {
    return db.prepare('SELECT status, delivery FROM outbound WHERE message_id = ?').get(messageId) as { status: string; delivery: string | null } | undefined;
  } finally {
    db.close();
  }
}

describe('Vonage on SQLite: the relay process restarts between two parts’ receipts', () => {
  const TOKEN = 'part-restart-webhook-token-01234';
  const dir = tempDir('smsrelay-parts-restart-');
  let gateway: Awaited<ReturnType<typeof VonageSimulator.listen>>;
  let env: Record<string, string>;

  before(async () => {
    // No webhook URL: the test posts the receipts itself, around the restart.
    gateway = await VonageSimulator.listen({ ...GATEWAY_ACCOUNT, accountId: undefined, logger: createLogger('silent') });
    env = relayEnvironment(dir, {
      gateway: { provider: 'vonage', url: gateway.url, ...GATEWAY_ACCOUNT, from: '447700900000' },
      sms: PART_SMS,
      inbound: { webhookToken: TOKEN },
    });
  });
  after(async () => {
    await gateway.close();
    removeDir(dir);
  });

  test('two parts delivered before the restart, the third after: delivered', async () => {
    let relay = await spawnRelay(dir, env);
    const phone = '447700900521';
    const id = await mailLong(relay.smtpPort, phone, 'Restarted', 'alice@example.com');
    const sms = await waitEvery('the SMS at the gateway', () => gateway.simulator.records.find((record) => record.to === phone), PATIENCE_MS);
    await waitEvery('the send recorded', () => smsRow(env.SMSRELAY_DATA_DIR ?? '', id)?.status === 'sent', PATIENCE_MS);
    const post = async (partId: string) => {
      const response = await fetch(`http://127.0.0.1:${relay.httpPort}/webhooks/vonage/dr?token=${TOKEN}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          msisdn: phone,
          to: '447700900000',
          messageId: partId,
          status: 'delivered',
          'err-code': '0',
          'client-ref': sms.clientRef ?? '',
        }),
      });
      assert.equal(response.status, 200);
    };
    assert.equal(sms.parts.length, 3);
    await post(sms.parts[0] ?? '');
    await post(sms.parts[1] ?? '');
    await relay.stop();
    relay = await spawnRelay(dir, env);
    try {
      await post(sms.parts[2] ?? '');
      await waitEvery('delivered', () => smsRow(env.SMSRELAY_DATA_DIR ?? '', id)?.delivery === 'delivered', PATIENCE_MS);
    } finally {
      await relay.stop();
    }
  });
});

describe('SMPP on SQLite: the relay restarts while the SMSC holds its parts’ receipts', () => {
  const account = { username: 'smpp-test', password: 'smpp-pw' };
  const UNDELIVERABLE = '447700900666';
  /** Long enough for the relay to record the send and stop before the SMSC has the receipts ready. */
  const REPORT_DELAY_MS = 1_500;
  const smsc = new SmppSimulator({
    ...account,
    accountId: undefined,
    logger: createLogger('silent'),
    undeliverableNumbers: [UNDELIVERABLE],
    reportDelayMs: REPORT_DELAY_MS,
  });
  const dir = tempDir('smsrelay-parts-smpp-restart-');
  let yaml: object;

  before(async () => {
    const smscUrl = new URL(await smsc.listen());
    yaml = { gateway: { provider: 'smpp', host: smscUrl.hostname, port: Number(smscUrl.port), ...account }, sms: PART_SMS };
  });
  after(async () => {
    await smsc.close();
    removeDir(dir);
  });

  for (const [phone, expected] of [
    ['447700900522', 'delivered'],
    [UNDELIVERABLE, 'failed'],
  ] as const) {
    test(`a long SMS sent, the relay restarted, its parts' receipts after: ${expected}`, async () => {
      const first = await startTestRelay(yaml, {}, dir);
      const id = await mailLong(first.relay.smtpPort, phone, `Restart ${expected}`, 'bob@example.com');
      await waitEvery('the send recorded', async () => (await first.relay.store.smsOf(id))[0]?.status === 'sent', PATIENCE_MS);
      await first.stop();
      const answered = (smsc.status()['answered'] as { dr: number }).dr;
      const second = await startTestRelay(yaml, {}, dir);
      try {
        // Every part's receipt came after the restart.
        await smsc.waitForWebhookPosts('dr', answered + 3, PATIENCE_MS);
        await waitEvery(expected, async () => (await second.relay.store.smsOf(id))[0]?.delivery === expected, PATIENCE_MS);
      } finally {
        await second.stop();
      }
    });
  }
});
