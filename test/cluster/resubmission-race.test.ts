/**
 * docs/delivery.md, docs/several-relays.md: a mail sent again under its Message-ID is answered `250 … (the same mail as
 * <id>: sent once)` and the phone gets one SMS, also when the first copy's commit is still in flight as the resend
 * arrives (a client that gave up waiting on one relay while its commit waited on a lock, and sent the mail to another).
 * On PostgreSQL each copy's check ran in a snapshot without the other's uncommitted row, and both were texted (accept.ts,
 * resubmissionLocks). The race is made certain: a session holds `messages`, so the first copy's commit waits behind it
 * with its Message-ID's lock; the resend, which waits for that lock no longer than KEY_WAIT_MS (group-writer.ts), is
 * refused 451 (MESSAGE_ID_BUSY) meanwhile, and folded when sent again after. A Message-ID whose lock a stalled session
 * holds holds up only its own mail, never the mails committed at once with it.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import pg from 'pg';
import { query, waitEvery } from '../helpers/cluster.ts';
import { describeOnPostgres } from '../helpers/postgres.ts';
import { gatewayYaml, removeDir, startSimulator, startTestRelay, type TestRelay, waitFor } from '../helpers/relay.ts';
import { type MailSpec, queuedId, type Reply, sendMail } from '../helpers/smtp.ts';
import { SmtpSink } from '../helpers/smtp-sink.ts';

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * The relays' statements waiting on a lock: an accept behind the held table (its text is longer than pg_stat_activity
 * keeps), or one behind another accept's Message-ID lock.
 */
const waitingAccepts = async (url: string) =>
  Number(
    (
      await query<{ n: string }>(
        url,
        `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
          AND wait_event IN ('relation', 'advisory')`,
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

  /** The reply MESSAGE_ID_BUSY gives (docs/smtp-replies.md). */
  const busy = (reply: Reply | undefined) =>
    reply?.code === 451 &&
    reply.enhanced === '4.3.0' &&
    reply.text.includes('A mail under this Message-ID is still being stored (by another relay or session); try again in a moment');

  test('a resend to the other relay while the first copy waits to commit: 451 meanwhile, then folded when sent again; one SMS', async () => {
    const to = '447700900470';
    const spec: MailSpec = {
      to: [`${to}@sms.localhost`],
      subject: 'UPS on battery',
      body: 'UPS on battery',
      headers: { 'Message-ID': '<ups-lock-1@example.com>', Date: 'Mon, 07 Dec 2026 18:00:00 +0000' },
    };
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    let first: Promise<Awaited<ReturnType<typeof sendMail>>> | undefined;
    try {
      await holder.query('BEGIN');
      // As a schema step or an idle psql transaction would (the finding's reproduction): inserts wait, reads go on.
      await holder.query('LOCK TABLE messages IN SHARE MODE');
      first = sendMail(a.relay.smtpPort, spec);
      await waitEvery("the first copy's commit waiting", async () => (await waitingAccepts(url)) === 1, 20_000, 20);
      // The resend's commit waits for the first's Message-ID lock, not past its bound: refused while the first still waits.
      const resent = (await sendMail(b.relay.smtpPort, spec)).data;
      assert.ok(busy(resent), `${resent?.code} ${resent?.text}`);
      assert.equal(await waitingAccepts(url), 1, 'the first copy still waits');
      await holder.query('COMMIT');
    } finally {
      await holder.end();
    }
    const original = queuedId((await first).data);
    const again = (await sendMail(b.relay.smtpPort, spec)).data;
    assert.match(again?.text ?? '', new RegExp(`the same mail as ${original}: sent once`));
    const sms = await query<{ message_id: string }>(url, 'SELECT message_id FROM outbound WHERE number = $1', [`+${to}`]);
    assert.deepEqual(
      sms.map((row) => row.message_id),
      [original],
      'one SMS, of the first copy',
    );
    await waitFor('the SMS at the gateway', () => gateway.simulator.received.some((received) => received.to === to));
    assert.equal(gateway.simulator.received.filter((received) => received.to === to).length, 1);
  });

  test('a Message-ID held by a stalled session: the mails sent with it get their 250 while it is held, it gets 451, never a hang', async () => {
    const held = '<held-1@example.com>';
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      // As a relay stopped in the middle of committing a copy of that mail (SIGSTOP, a frozen VM) holds it.
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`messages\n${held}`]);
      const sends = Array.from({ length: 31 }, (_, index) => {
        const spec: MailSpec = {
          to: [`4477009004${String(index).padStart(2, '0')}@sms.localhost`],
          subject: `disk ${index}`,
          body: `disk ${index} full`,
          // The first under the held Message-ID; half of the others under their own, half with none.
          headers: { 'Message-ID': index === 0 ? held : index % 2 === 0 ? `<free-${index}@example.com>` : '' },
        };
        let reply: Reply | undefined;
        let answered = false;
        void sendMail(a.relay.smtpPort, spec).then(
          (sent) => {
            reply = sent.data;
            answered = true;
          },
          () => {
            answered = true;
          },
        );
        return { answered: () => answered, reply: () => reply };
      });
      const [heldSend, ...others] = sends as [(typeof sends)[number], ...typeof sends];
      await waitEvery('every mail but the held one answered while its Message-ID is held', () => others.every((other) => other.answered()), 30_000, 20);
      assert.deepEqual(
        others.map((other) => other.reply()?.code),
        others.map(() => 250),
      );
      await waitEvery('the held one answered while its Message-ID is held', () => heldSend.answered(), 30_000, 20);
      assert.ok(busy(heldSend.reply()), `${heldSend.reply()?.code} ${heldSend.reply()?.text}`);
      await holder.query('COMMIT');
    } finally {
      await holder.end();
    }
    const retried = await sendMail(a.relay.smtpPort, {
      to: ['447700900400@sms.localhost'],
      subject: 'disk 0',
      body: 'disk 0 full',
      headers: { 'Message-ID': held },
    });
    assert.equal(retried.data?.code, 250, retried.data?.text);
  });
});
