/**
 * A delivery report that comes while its SMS's attempt has no answer yet (the gateway took the send, its answer is lost
 * or late): the report names the SMS by the relay's own reference (InteractSMS's notify_id, Vonage's client-ref), and
 * the attempt that then ends without an answer records the SMS as sent with it, never sends it again.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { history } from '../../src/admin.ts';
import { webhookPaths } from '../../src/http/webhooks.ts';
import type { InteractSmsSimulator } from '../../src/simulators/interactsms.ts';
import type { VonageSimulator } from '../../src/simulators/vonage.ts';
import { removeDir, startTestRelay, type TestRelay, waitFor } from '../helpers/relay.ts';
import { queuedId, sendMail } from '../helpers/smtp.ts';
import { sleep } from '../helpers/wait.ts';

/** The relay gives up on the answer after RESPONSE_TIMEOUT, and would send again RETRY_DELAY later. */
const RESPONSE_TIMEOUT = '1s';
const RETRY_DELAY = '2s';
/** Past the time a resend would have gone. */
const PAST_THE_RESEND_MS = 2_500;

const started: TestRelay[] = [];
after(async () => {
  for (const relay of started) {
    // The send the gateway never answered: held until dropped, which the relay's stop would wait for.
    (relay.relay.simulator as InteractSmsSimulator | VonageSimulator | undefined)?.destroyHanging();
    await relay.stop();
    removeDir(relay.dir);
  }
});

async function relayOn(provider: 'interactsms-simulator' | 'vonage-simulator'): Promise<TestRelay> {
  const relay = await startTestRelay({
    gateway: { provider, responseTimeout: RESPONSE_TIMEOUT },
    sms: { domains: ['sms.example.com'], defaultRegion: 'GB' },
    delivery: { retryMinDelay: RETRY_DELAY, retryMaxDelay: RETRY_DELAY },
  });
  started.push(relay);
  return relay;
}

/** The SMS's history after its attempt with no answer ended: sent with the report, once, with no possible duplicate. */
async function assertSentOnceByTheReport(relay: TestRelay, id: string, gatewayId: string, sentTo: () => number): Promise<void> {
  const store = relay.relay.store;
  await waitFor('the attempt ended', async () => (await store.smsOf(id))[0]?.status !== 'queued', 10_000);
  await sleep(PAST_THE_RESEND_MS);
  assert.equal(sentTo(), 1, 'the phone got the SMS once: it is not sent again');
  const [sms] = await store.smsOf(id);
  assert.deepEqual([sms?.status, sms?.delivery, sms?.attempts, sms?.possibleDuplicates, sms?.providerId], ['sent', 'delivered', 1, 0, gatewayId]);
  const log = await history(store, id, Date.now());
  assert.match(
    log,
    /sent: id \S+; the gateway's delivery report for it came while an attempt had no answer yet, which then ended with none \(RESPONSE_TIMEOUT/,
  );
  assert.match(log, /delivery report: delivered/);
  assert.doesNotMatch(log, /deferred/);
  assert.match(log, /: sent, delivery report: delivered, 1 attempt, gateway id /, 'smsrelay log counts no possible duplicate');
}

describe('a delivery report that comes while its SMS has no answer yet', () => {
  test('InteractSMS: its receipt by notify_id is kept, and the attempt that ends with no answer records the SMS sent: one SMS', async () => {
    const relay = await relayOn('interactsms-simulator');
    const simulator = relay.relay.simulator as InteractSmsSimulator;
    // The receipt is posted by the test, while the send waits for its answer: none of the simulator's own.
    simulator.setWebhooks({ moUrl: simulator.webhooks.moUrl });
    simulator.setBehaviour({ mode: 'hang', times: 1 });
    const number = '447700900501';
    const id = queuedId((await sendMail(relay.relay.smtpPort, { to: [`${number}@sms.example.com`], body: 'hello ia' })).data);
    const record = await waitFor('the gateway took it', () => simulator.records.find((sms) => sms.to === number));
    const receipt = new URLSearchParams({
      'SMS-Type': 'Notification',
      'SMS-NotifyId': record.tracking ?? '',
      'SMS-Success': 'True',
      'SMS-To': number,
      'SMS-TotalToSend': '1',
      'SMS-TotalSent': '1',
      'SMS-TotalFailed': '0',
    });
    const answer = await fetch(`http://127.0.0.1:${relay.relay.httpPort}${webhookPaths('interactsms').dr}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: receipt.toString(),
    });
    assert.deepEqual(await answer.json(), { status: 'orphan' }, 'kept for the attempt in flight');
    assert.equal((await relay.relay.store.smsOf(id))[0]?.status, 'queued', 'its attempt decides');
    await assertSentOnceByTheReport(relay, id, record.tracking ?? '', () => simulator.records.filter((sms) => sms.to === number).length);
  });

  test("Vonage: its receipt by the relay's client-ref is kept, and the attempt that ends with no answer records the SMS sent: one SMS", async () => {
    const relay = await relayOn('vonage-simulator');
    const simulator = relay.relay.simulator as VonageSimulator;
    simulator.setWebhooks({ moUrl: simulator.webhooks.moUrl });
    simulator.setBehaviour({ mode: 'hang', times: 1 });
    const number = '447700900502';
    const id = queuedId((await sendMail(relay.relay.smtpPort, { to: [`${number}@sms.example.com`], body: 'hello vonage' })).data);
    const record = await waitFor('the gateway took it', () => simulator.records.find((sms) => sms.to === number));
    const [messageId = ''] = record.parts;
    const receipt = new URLSearchParams({
      msisdn: number,
      to: '447700900000',
      messageId,
      status: 'delivered',
      'err-code': '0',
      'client-ref': record.clientRef ?? '',
      'message-timestamp': '2026-12-07 17:52:10',
    });
    const answer = await fetch(`http://127.0.0.1:${relay.relay.httpPort}${webhookPaths('vonage').dr}?${receipt}`);
    assert.deepEqual(await answer.json(), { status: 'orphan' }, 'kept for the attempt in flight');
    assert.equal((await relay.relay.store.smsOf(id))[0]?.status, 'queued', 'its attempt decides');
    await assertSentOnceByTheReport(relay, id, messageId, () => simulator.records.filter((sms) => sms.to === number).length);
  });
});
