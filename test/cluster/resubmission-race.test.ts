/**
 * docs/delivery.md: a mail sent again under its Message-ID is answered `250 … (the same mail as <id>: sent once)` and
 * the phone gets one SMS, also when the first copy's commit is still in flight as the resend arrives (a client that
 * gave up waiting on one relay while its commit waited on a lock, and sent the mail to another). On PostgreSQL each
 * copy's check ran in a snapshot without the other's uncommitted row, and both were texted (accept.ts,
 * resubmissionLocks). The race is made certain: a session holds `messages`, so both copies' commits queue behind it.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import pg from 'pg';
import { query, waitEvery } from '../helpers/cluster.ts';
import { describeOnPostgres } from '../helpers/postgres.ts';
import { gatewayYaml, removeDir, startSimulator, startTestRelay, type TestRelay, waitFor } from '../helpers/relay.ts';
import { type MailSpec, queuedId, sendMail } from '../helpers/smtp.ts';
import { SmtpSink } from '../helpers/smtp-sink.ts';

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The relays' statements waiting on a lock: an accept behind the held table, or one behind another accept's key. */
const waitingAccepts = async (url: string) =>
  Number(
    (
      await query<{ n: string }>(
        url,
        `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
          AND (query LIKE '%INSERT INTO messages%' OR query LIKE '%pg_advisory_xact_lock%')`,
      )
    )[0]?.n,
  );

describeOnPostgres('two relays on one PostgreSQL: copies of one mail committed at once are folded', async (url) => {
  const gateway = await startSimulator({ reportDelayMs: 0 });
  cleanups.push(() => gateway.close());
  const smarthost = await new SmtpSink().start();
  cleanups.push(() => smarthost.stop());
  const relays: TestRelay[] = [];
  for (const name of ['relay-a', 'relay-b']) {
    const relay = await startTestRelay(
      { ...gatewayYaml(gateway.url), smtp: { trustedNetworks: ['127.0.0.1/32'] } },
      { SMSRELAY_DATABASE_URL: url, SMSRELAY_RELAY_NAME: name, SMSRELAY_MAIL_URL: smarthost.url },
    );
    cleanups.push(() => removeDir(relay.dir));
    cleanups.push(() => relay.stop());
    relays.push(relay);
  }
  const [a, b] = relays as [TestRelay, TestRelay];

  /** `sends` started one after the other, each once its commit waits, while a session holds `messages`; their DATA replies. */
  async function whileMessagesHeld(sends: ReadonlyArray<() => Promise<Awaited<ReturnType<typeof sendMail>>>>) {
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      // As a schema step or an idle psql transaction would (the finding's reproduction): inserts wait, reads go on.
      await holder.query('LOCK TABLE messages IN SHARE MODE');
      const replies = [];
      for (const [index, send] of sends.entries()) {
        replies.push(send());
        await waitEvery(`copy ${index + 1}'s commit waiting`, async () => (await waitingAccepts(url)) === index + 1, 20_000, 20);
      }
      await holder.query('COMMIT');
      return (await Promise.all(replies)).map((sent) => sent.data);
    } finally {
      await holder.end();
    }
  }

  test('a resend to the other relay while the first copy waits to commit: one SMS, the later answered "the same mail as"', async () => {
    const to = '447700900470';
    const spec: MailSpec = {
      to: [`${to}@sms.localhost`],
      subject: 'UPS on battery',
      body: 'UPS on battery',
      headers: { 'Message-ID': '<ups-lock-1@example.com>', Date: 'Mon, 07 Dec 2026 18:00:00 +0000' },
    };
    const replies = await whileMessagesHeld([() => sendMail(a.relay.smtpPort, spec), () => sendMail(b.relay.smtpPort, spec)]);
    const ids = replies.map(queuedId);
    const folded = replies.filter((reply) => /the same mail as/.test(reply?.text ?? ''));
    assert.equal(folded.length, 1, `one copy folded into the other: ${replies.map((reply) => reply?.text).join(' | ')}`);
    const original = ids.find((id) => !folded[0]?.text.includes(`queued as ${id}`));
    assert.match(folded[0]?.text ?? '', new RegExp(`the same mail as ${original}: sent once`));
    const sms = await query<{ message_id: string }>(url, 'SELECT message_id FROM outbound WHERE number = $1', [`+${to}`]);
    assert.deepEqual(
      sms.map((row) => row.message_id),
      [original],
      'one SMS, of the first copy',
    );
    await waitFor('the SMS at the gateway', () => gateway.simulator.received.some((received) => received.to === to));
    assert.equal(gateway.simulator.received.filter((received) => received.to === to).length, 1);
  });
});
