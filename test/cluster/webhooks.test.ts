import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { webhookPaths } from '../../src/http/webhooks.ts';
import { describeOnPostgres } from '../helpers/postgres.ts';
import { removeDir, startTestRelay, type TestRelay, waitFor } from '../helpers/relay.ts';
import { queuedId, sendMail } from '../helpers/smtp.ts';
import { SmtpSink } from '../helpers/smtp-sink.ts';

const PHONE = '447700900123';
const TOKEN = 'test-webhook-token-0123456789';
/** How far apart the two relays' clocks are: far more than any two SMS of a conversation. */
const SKEW_MS = 10 * 60_000;

/**
 * Two relays in this process on one PostgreSQL database, with clocks minutes apart, their own mail
 * through one smarthost: a phone's reply goes where it would on one relay, whichever relay the
 * webhook reaches and whichever relay took the mails.
 */
describeOnPostgres('webhooks on any relay of a cluster', async (url) => {
  const sink = new SmtpSink();
  let ahead: TestRelay;
  let behind: TestRelay;
  before(async () => {
    await sink.start();
    const relay = (name: string, offset: number) =>
      startTestRelay({ inbound: { webhookToken: TOKEN } }, { SMSRELAY_DATABASE_URL: url, SMSRELAY_MAIL_URL: sink.url, SMSRELAY_RELAY_NAME: name }, undefined, {
        smtpClock: () => Date.now() + offset,
      });
    ahead = await relay('ahead', SKEW_MS);
    behind = await relay('behind', -SKEW_MS);
  });
  after(async () => {
    await ahead.stop();
    await behind.stop();
    await sink.stop();
    removeDir(ahead.dir);
    removeDir(behind.dir);
  });

  const mail = async (relay: TestRelay, from: string, text: string, headers: Record<string, string> = {}) =>
    queuedId(
      (await sendMail(relay.relay.smtpPort, { from, to: [`${PHONE}@sms.localhost`], subject: text, body: text, headers: { From: from, ...headers } })).data,
    );
  /** The phone answers; the gateway posts it to `relay` (no user context unless given). */
  const mo = async (relay: TestRelay, msgid: string, text: string, usercontext?: string) => {
    const response = await fetch(`http://127.0.0.1:${relay.relay.httpPort}${webhookPaths('intellisoftware').mo}?token=${TOKEN}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ msgid, from: PHONE, text, ...(usercontext ? { usercontext } : {}) }).toString(),
    });
    assert.equal(response.status, 200, await response.text());
  };
  const mailedTo = (text: string) => waitFor(`the reply mail "${text}"`, () => sink.received.find((sunk) => sunk.raw.includes(text))?.to);

  test("the phone's latest conversation is the one the database saw last, not the one with the latest relay clock", async () => {
    // Alice writes through the relay whose clock is ahead, Bob after her through the one behind.
    await mail(ahead, 'alice@example.com', 'Disk full on db1');
    await mail(behind, 'bob@example.com', 'Disk full on db2');
    await mo(ahead, 'skew-1', 'Which one? (via ahead)');
    await mo(behind, 'skew-2', 'Which one? (via behind)');
    assert.deepEqual(await mailedTo('Which one? (via ahead)'), ['bob@example.com']);
    assert.deepEqual(await mailedTo('Which one? (via behind)'), ['bob@example.com']);
  });

  test("a conversation's mailbox moved on one relay routes the next reply there on the other (no stale cache)", async () => {
    await mail(ahead, 'alice@example.com', 'Backup failed', { 'X-UserContext': 'ctx-backup' });
    await mo(behind, 'cache-1', 'Looking (first)', 'ctx-backup');
    assert.deepEqual(await mailedTo('Looking (first)'), ['alice@example.com']);
    // Alice hands the conversation to Carol through the other relay: its cache was not told.
    await mail(ahead, 'alice@example.com', 'Backup failed again', { 'X-UserContext': 'ctx-backup', 'Reply-To': 'carol@example.com' });
    await mo(behind, 'cache-2', 'Looking (second)', 'ctx-backup');
    assert.deepEqual(await mailedTo('Looking (second)'), ['carol@example.com']);
  });

  test('a repeated MO posted to the other relay is stored once and mailed once', async () => {
    await mo(ahead, 'dup-1', 'Only once please');
    await mo(behind, 'dup-1', 'Only once please');
    await mailedTo('Only once please');
    const counts = await Promise.all([ahead, behind].map((relay) => relay.relay.store.repliesOfNumber(`+${PHONE}`, 100)));
    assert.equal(counts[0]?.length, counts[1]?.length, 'both relays read the same rows');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(sink.received.filter((sunk) => sunk.raw.includes('Only once please')).length, 1);
  });
});
