import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { describeOnPostgres, freshDatabase } from '../helpers/postgres.ts';
import { maildirMessages, removeDir, startTestRelay, waitFor } from '../helpers/relay.ts';
import { queuedId, sendMail } from '../helpers/smtp.ts';
import { sleep } from '../helpers/wait.ts';

/**
 * A phone that texts STOP while an SMS to it waits in the queue: the opt-out counts from its 200 for
 * what was queued too, on either store. Real relay, its built-in simulated gateway, real SMTP.
 */

/** How far ahead the SMS is scheduled: time enough for the STOP to be taken before it is due. */
const SEND_AFTER_MS = 2_500;

async function stopWhileQueued(env: Record<string, string>): Promise<void> {
  const relay = await startTestRelay({}, env);
  try {
    const simulator = relay.relay.simulator;
    assert.ok(simulator);
    const number = '447700900187';
    const sendAt = new Date(Date.now() + SEND_AFTER_MS).toISOString();
    const id = queuedId(
      (await sendMail(relay.relay.smtpPort, { to: [`${number}@sms.localhost`], headers: { 'X-SMS-Send-At': sendAt }, body: 'Disk full on db1' })).data,
    );
    simulator.reply(number, 'STOP');
    await waitFor('the STOP taken', () => relay.relay.store.isOptedOut(`+${number}`));
    const [failed] = await waitFor('the SMS failed', async () => {
      const sms = await relay.relay.store.smsOf(id);
      return sms[0]?.status === 'failed' && sms;
    });
    assert.match(failed?.lastError ?? '', /^POLICY_DENIED: the phone opted out of SMS from this relay after the mail was accepted/);
    const events = await relay.relay.store.events(id);
    assert.ok(
      events.some((event) => event.kind === 'failed' && /opted out/.test(event.detail ?? '')),
      `the history says why: ${JSON.stringify(events)}`,
    );
    const bounce = await waitFor('the bounce', () => maildirMessages(relay.maildir).find((mail) => mail.includes(`X-SMSRelay-Message-Id: ${id}`)));
    assert.match(bounce, /Status: 5\.7\.1/);
    assert.match(bounce, /Diagnostic-Code: X-SMS; POLICY_DENIED \(the phone opted out of SMS from this relay after/);
    assert.match(bounce.replace(/=\n/g, ''), /It gets them again once it texts START/);
    await sleep(300);
    assert.equal(simulator.records.filter((record) => record.to === number).length, 0, 'the gateway never got the SMS');
  } finally {
    await relay.stop();
    removeDir(relay.dir);
  }
}

describe('an SMS queued before its phone texted STOP', () => {
  test('on SQLite: not sent; failed, saying why, and bounced 5.7.1', () => stopWhileQueued({}));
});

describeOnPostgres('an SMS queued before its phone texted STOP', () => {
  test('on PostgreSQL: not sent; failed, saying why, and bounced 5.7.1', async () => stopWhileQueued({ SMSRELAY_DATABASE_URL: (await freshDatabase()) ?? '' }));
});
