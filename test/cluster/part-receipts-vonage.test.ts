/**
 * The receipts of a long SMS's parts reaching different relays (#18): each part has its own id and
 * receipt (here Vonage's), and the relays share one PostgreSQL database. Whichever relay gets a
 * part's receipt finds its SMS in the store; the SMS is delivered once every part is, failed at the
 * first part that fails, and its sender hears of it once. Real relay processes (what one process
 * keeps in memory is not another's), the part receipts posted alternately to both; and both restarted
 * between two parts' receipts. SMPP: part-receipts-smpp.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createLogger } from '../../src/log.ts';
import { VonageSimulator } from '../../src/simulators/vonage.ts';
import type { Standalone } from '../../src/simulators/kit.ts';
import { waitEvery } from '../helpers/cluster.ts';
import { describeOnPostgres } from '../helpers/postgres.ts';
import { GATEWAY_ACCOUNT, killSpawnedRelays, type RelayProcess, relayEnvironment, removeDir, spawnRelay, tempDir } from '../helpers/relay.ts';
import { SmtpSink } from '../helpers/smtp-sink.ts';
import { endsOnceNoticed, mailLong, noticesOf, PART_SMS, PATIENCE_MS, smsRow } from '../helpers/part-receipts.ts';

const TOKEN = 'part-receipts-webhook-token-0123';

after(() => killSpawnedRelays());

describeOnPostgres("Vonage: the receipts of a long SMS's parts posted alternately to two relay processes", async (url) => {
  const sink = new SmtpSink();
  let gateway: Standalone<VonageSimulator>;
  const relays: Array<{ dir: string; env: Record<string, string>; process: RelayProcess }> = [];

  before(async () => {
    await sink.start();
    // No webhook URL: the simulator posts no receipts of its own; the test posts them, to the relay it picks.
    gateway = await VonageSimulator.listen({ ...GATEWAY_ACCOUNT, accountId: undefined, logger: createLogger('silent') });
    for (const name of ['relay-a', 'relay-b']) {
      const dir = tempDir(`smsrelay-${name}-`);
      const env = relayEnvironment(
        dir,
        { gateway: { provider: 'vonage', url: gateway.url, ...GATEWAY_ACCOUNT, from: '447700900000' }, sms: PART_SMS, inbound: { webhookToken: TOKEN } },
        { SMSRELAY_DATABASE_URL: url, SMSRELAY_RELAY_NAME: name, SMSRELAY_MAIL_URL: sink.url },
      );
      relays.push({ dir, env, process: await spawnRelay(dir, env) });
    }
  });
  after(async () => {
    for (const relay of relays) await relay.process.stop();
    await gateway.close();
    await sink.stop();
    for (const relay of relays) removeDir(relay.dir);
  });

  /** Relay A took the mail and sent the SMS: its parts, as the gateway answered them. */
  const sentInParts = async (phone: string, subject: string, from: string) => {
    const id = await mailLong((relays[0] as (typeof relays)[0]).process.smtpPort, phone, subject, from);
    const sms = await waitEvery('the SMS at the gateway', () => gateway.simulator.records.find((record) => record.to === phone), PATIENCE_MS);
    assert.equal(sms.parts.length, 3, 'a long SMS of three parts');
    await waitEvery('the send recorded', async () => (await smsRow(url, id)).status === 'sent', PATIENCE_MS);
    return { id, sms };
  };
  /** A part's delivery receipt as Vonage posts it (a form), to relay `index`. */
  const receipt = async (index: number, fields: { phone: string; partId: string; clientRef: string | undefined; status: string; errCode: string }) => {
    const relay = relays[index] as (typeof relays)[0];
    const response = await fetch(`http://127.0.0.1:${relay.process.httpPort}/webhooks/vonage/dr?token=${TOKEN}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        msisdn: fields.phone,
        to: '447700900000',
        'network-code': '23410',
        messageId: fields.partId,
        status: fields.status,
        'err-code': fields.errCode,
        'client-ref': fields.clientRef ?? '',
        'message-timestamp': '2026-12-03 09:00:00',
      }).toString(),
    });
    assert.equal(response.status, 200, await response.text());
  };

  test('every part delivered, their receipts on A, B, A (and repeated on the other): delivered once, the success notice mailed once', async () => {
    const phone = '447700900501';
    const { id, sms } = await sentInParts(phone, 'Pump four', 'alice@example.com');
    const parts = sms.parts.map((partId) => ({ phone, partId, clientRef: sms.clientRef, status: 'delivered', errCode: '0' }));
    await receipt(0, parts[0] as (typeof parts)[0]);
    await receipt(1, parts[1] as (typeof parts)[0]);
    assert.equal((await smsRow(url, id)).delivery, null, 'not delivered while a part is not');
    await receipt(0, parts[2] as (typeof parts)[0]);
    // Vonage retrying two of them, on the other relay.
    await receipt(1, parts[2] as (typeof parts)[0]);
    await receipt(0, parts[1] as (typeof parts)[0]);
    await endsOnceNoticed(url, id, 'delivered', sink, 'alice@example.com', 'Pump four');
  });

  test('a part fails (its receipt on B, the others on A): failed once, the failure notice mailed once', async () => {
    const phone = '447700900502';
    const { id, sms } = await sentInParts(phone, 'Pump five', 'bob@example.com');
    const [first, second, third] = sms.parts;
    await receipt(0, { phone, partId: first ?? '', clientRef: sms.clientRef, status: 'delivered', errCode: '0' });
    await receipt(1, { phone, partId: second ?? '', clientRef: sms.clientRef, status: 'failed', errCode: '3' });
    await receipt(0, { phone, partId: third ?? '', clientRef: sms.clientRef, status: 'failed', errCode: '3' });
    await endsOnceNoticed(url, id, 'failed', sink, 'bob@example.com', 'Pump five');
  });

  test('both relays restart between two parts’ receipts: the parts delivered before count', async () => {
    const phone = '447700900503';
    const { id, sms } = await sentInParts(phone, 'Pump six', 'carol@example.com');
    const parts = sms.parts.map((partId) => ({ phone, partId, clientRef: sms.clientRef, status: 'delivered', errCode: '0' }));
    await receipt(1, parts[0] as (typeof parts)[0]);
    await receipt(0, parts[1] as (typeof parts)[0]);
    for (const relay of relays) {
      await relay.process.stop();
      relay.process = await spawnRelay(relay.dir, relay.env);
    }
    await receipt(1, parts[2] as (typeof parts)[0]);
    await waitEvery('delivered', async () => (await smsRow(url, id)).delivery === 'delivered', PATIENCE_MS);
    await waitEvery('the success notice', () => noticesOf(sink, 'carol@example.com', 'Pump six').length > 0, PATIENCE_MS);
  });
});
