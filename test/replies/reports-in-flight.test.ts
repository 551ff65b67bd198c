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
import { maildirMessages, removeDir, startTestRelay, type TestRelay, waitFor } from '../helpers/relay.ts';
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

async function relayOn(provider: 'interactsms-simulator' | 'vonage-simulator', delivery: object = {}): Promise<TestRelay> {
  const relay = await startTestRelay({
    gateway: { provider, responseTimeout: RESPONSE_TIMEOUT },
    sms: { domains: ['sms.example.com'], defaultRegion: 'GB' },
    delivery: { retryMinDelay: RETRY_DELAY, retryMaxDelay: RETRY_DELAY, ...delivery },
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

/** InteractSMS's receipt that the SMS to `number` under `notifyId` was sent, as its gateway posts it: the relay's answer. */
async function postReceipt(relay: TestRelay, number: string, notifyId: string): Promise<unknown> {
  const receipt = new URLSearchParams({
    'SMS-Type': 'Notification',
    'SMS-NotifyId': notifyId,
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
  return answer.json();
}

/** An InteractSMS relay whose send waits for an answer that never comes, a mail to `number`, and the gateway's record of it. */
async function hangingInteractSms(number: string, delivery: object = {}) {
  const relay = await relayOn('interactsms-simulator', delivery);
  const simulator = relay.relay.simulator as InteractSmsSimulator;
  // The receipt is posted by the test, while the send waits for its answer: none of the simulator's own.
  simulator.setWebhooks({ moUrl: simulator.webhooks.moUrl });
  simulator.setBehaviour({ mode: 'hang', times: 1 });
  const id = queuedId((await sendMail(relay.relay.smtpPort, { to: [`${number}@sms.example.com`], body: 'hello ia' })).data);
  const record = await waitFor('the gateway took it', () => simulator.records.find((sms) => sms.to === number));
  return { relay, simulator, id, record };
}

describe('a delivery report that comes while its SMS has no answer yet', () => {
  test('InteractSMS: its receipt by notify_id is kept, and the attempt that ends with no answer records the SMS sent: one SMS', async () => {
    const number = '447700900501';
    const { relay, simulator, id, record } = await hangingInteractSms(number);
    assert.deepEqual(await postReceipt(relay, number, record.tracking ?? ''), { status: 'orphan' }, 'kept for the attempt in flight');
    assert.equal((await relay.relay.store.smsOf(id))[0]?.status, 'queued', 'its attempt decides');
    await assertSentOnceByTheReport(relay, id, record.tracking ?? '', () => simulator.records.filter((sms) => sms.to === number).length);
  });

  test('InteractSMS: the attempt with no answer that ends past the maximum age is not given up but recorded sent with the receipt: no bounce', async () => {
    // The answer is given up on a response timeout after the mail's maximum age (both 1 s, the request made after the 250).
    const number = '447700900503';
    const { relay, simulator, id, record } = await hangingInteractSms(number, { maxAge: '1s' });
    assert.deepEqual(await postReceipt(relay, number, record.tracking ?? ''), { status: 'orphan' }, 'kept for the attempt in flight');
    await assertSentOnceByTheReport(relay, id, record.tracking ?? '', () => simulator.records.filter((sms) => sms.to === number).length);
    assert.deepEqual(maildirMessages(relay.maildir), [], 'no failure report for an SMS the phone got');
  });

  test('InteractSMS: with no receipt, the attempt with no answer past the maximum age is given up, its bounce naming that attempt', async () => {
    const number = '447700900504';
    const { relay, id } = await hangingInteractSms(number, { maxAge: '1s' });
    const [sms] = await waitFor('given up', async () => {
      const found = await relay.relay.store.smsOf(id);
      return found[0]?.status === 'expired' && found;
    });
    assert.deepEqual([sms?.attempts, sms?.possibleDuplicates], [1, 1], 'the attempt counted, in doubt');
    const [bounce = ''] = await waitFor('the bounce', () => maildirMessages(relay.maildir).length > 0 && maildirMessages(relay.maildir));
    assert.match(bounce, /too old to be useful \(1 attempt, the last: RESPONSE_TIMEOUT/);
    assert.doesNotMatch(bounce, /delayed|Action: delayed/i, 'no delay notice before it');
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
