/**
 * #17 and #15: the opt-out check at RCPT on PostgreSQL. A relay remembers the numbers the database
 * said are not opted out (src/store/not-opted-out.ts) only while its listener hears every other
 * relay's notifications (src/store/postgres/notify.ts): a STOP received by any relay notifies
 * `opt-outs` after its commit, and every relay that hears it forgets them all; a START, which takes no
 * number's answer from "not opted out", notifies nothing. Before the
 * listener is up, and once it is down, every check asks the database.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { createLogger } from '../../src/log.ts';
import { WORK_CHANNEL } from '../../src/store/postgres/notify.ts';
import { PostgresStore } from '../../src/store/postgres/store.ts';
import { keyword, OPT_OUT_PHONE } from '../helpers/opt-outs.ts';
import { describeOnPostgres, freshDatabase } from '../helpers/postgres.ts';
import { mail, NONE_HELD, relayMember } from '../helpers/store.ts';
import { waitFor } from '../helpers/wait.ts';

const PHONE = OPT_OUT_PHONE;
const member = relayMember;

/** Whether the check was answered before the database could be asked (its statement leaves at a setImmediate). */
async function answeredAtOnce(check: Promise<boolean>): Promise<unknown> {
  const first = await Promise.race([check.then((optedOut) => ({ optedOut })), new Promise((resolve) => setImmediate(() => resolve('the database')))]);
  await check;
  return first;
}

/** Waits until `store` answers a number it was told about at once, from memory: its listener is up. */
const listening = (store: PostgresStore) =>
  waitFor('the listener', async () => {
    await store.isOptedOut('+447700900999');
    return (await answeredAtOnce(store.isOptedOut('+447700900999'))) !== 'the database';
  });

describeOnPostgres('PostgreSQL: numbers not opted out are remembered while every change is heard', async () => {
  test('asked of the database until the listener is up; then from memory; a STOP here or at another relay forgets them; asked again once the listener stops', async () => {
    const url = (await freshDatabase()) ?? '';
    const alpha = await PostgresStore.open({ url, wakeTag: 'alpha' });
    const beta = await PostgresStore.open({ url, wakeTag: 'beta' });
    try {
      assert.equal(await alpha.isOptedOut(PHONE), false);
      assert.equal(await answeredAtOnce(alpha.isOptedOut(PHONE)), 'the database', 'no listener: nothing remembered');
      const listener = alpha.listenForWork('alpha', () => undefined, createLogger('silent'));
      await listening(alpha);
      assert.equal(await alpha.isOptedOut(PHONE), false);
      assert.deepEqual(await answeredAtOnce(alpha.isOptedOut(PHONE)), { optedOut: false });

      // A STOP received here: forgotten at once, the database's answer after its commit.
      await alpha.acceptInbound(keyword('stop'));
      assert.equal(await alpha.isOptedOut(PHONE), true);
      await alpha.acceptInbound(keyword('start'));
      assert.equal(await alpha.isOptedOut(PHONE), false);
      assert.deepEqual(await answeredAtOnce(alpha.isOptedOut(PHONE)), { optedOut: false });

      // A STOP received by another relay, which by its heartbeat runs alone (it notifies no work then): alpha hears of it.
      await beta.heartbeat(member('beta'), 30_000, NONE_HELD);
      await beta.acceptInbound(keyword('stop'));
      await waitFor("beta's STOP at alpha", async () => (await alpha.isOptedOut(PHONE)) === true, 2_000);

      await listener.stop();
      await alpha.acceptInbound(keyword('start'));
      assert.equal(await alpha.isOptedOut(PHONE), false);
      assert.equal(await answeredAtOnce(alpha.isOptedOut(PHONE)), 'the database', 'listener stopped: nothing remembered');
    } finally {
      await Promise.all([alpha.close(), beta.close()]);
    }
  });

  test('a START from a number that had not opted out tells no relay to forget: their remembered answers stand', async () => {
    const url = (await freshDatabase()) ?? '';
    const alpha = await PostgresStore.open({ url, wakeTag: 'alpha' });
    const beta = await PostgresStore.open({ url, wakeTag: 'beta' });
    const heard: string[] = [];
    const observer = new pg.Client({ connectionString: url });
    await observer.connect();
    observer.on('notification', (notification) => heard.push(notification.payload ?? ''));
    await observer.query(`LISTEN ${WORK_CHANNEL}`);
    const listener = alpha.listenForWork('alpha', () => undefined, createLogger('silent'));
    try {
      await listening(alpha);
      // Two relays running: beta notifies its work too, which tells when its earlier notifications have gone.
      await alpha.heartbeat(member('alpha'), 30_000, NONE_HELD);
      await beta.heartbeat(member('beta'), 30_000, NONE_HELD);
      assert.equal(await alpha.isOptedOut(PHONE), false);
      assert.deepEqual(await answeredAtOnce(alpha.isOptedOut(PHONE)), { optedOut: false });

      // An on-call "Yes" (Twilio's opt-in word) from a number that never opted out, at beta; then a mail queued there.
      await beta.acceptInbound(keyword('start', '+447700900456'));
      await beta.acceptMail(mail(['+447700900457']));
      await waitFor("beta's mail notification", () => heard.some((payload) => payload.startsWith('sms')), 2_000);
      assert.deepEqual(
        heard.filter((payload) => payload.includes('opt-outs')),
        [],
        'no notification that opt-outs changed',
      );
      assert.deepEqual(await answeredAtOnce(alpha.isOptedOut(PHONE)), { optedOut: false }, "alpha's answers stand");
      // Nor at the relay that took it.
      assert.equal(await beta.isOptedOut(PHONE), false);
    } finally {
      await listener.stop();
      await observer.end();
      await Promise.all([alpha.close(), beta.close()]);
    }
  });
});
