import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildReport } from '../../src/mailer/dsn.ts';
import { Templates } from '../../src/mailer/templates.ts';
import { DeliveryNotices } from '../../src/replies/notices.ts';
import { PostgresStore } from '../../src/store/postgres/store.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { mail, storeFile } from '../helpers/store.ts';

test('passes that find the store unavailable: one warning without a stack for the outage, not an error with its stack at every sweep', async () => {
  // A database nobody listens on: every call fails with STORE_UNAVAILABLE, as in an outage.
  const store = await PostgresStore.open({ url: 'postgres://relay:s3cret@127.0.0.1:1/relay' });
  const { logger, lines } = captureLog('debug');
  const notices = new DeliveryNotices({
    store,
    logger,
    report: async () => undefined,
    onMailQueued: () => undefined,
    describeStatus: () => '',
  });
  try {
    for (let pass = 0; pass < 3; pass += 1) {
      notices.kick();
      await notices.stop();
    }
  } finally {
    await store.close();
  }
  const logged = lines.map((line) => JSON.parse(line) as { level: string; msg: string; err?: unknown; reason?: string });
  assert.equal(logged.length, 1, lines.join(''));
  assert.equal(logged[0]?.level, 'warn');
  assert.equal(logged[0]?.msg, 'notices: the store is unavailable; passes are retried at each sweep until it answers');
  assert.equal(logged[0]?.err, undefined, 'no stack');
  assert.match(logged[0]?.reason ?? '', /ECONNREFUSED/);
});

test('a failure whose sender takes no report is not logged as a report mailed; one whose sender takes it is', async () => {
  const store = SqliteStore.open({ file: storeFile(), busyTimeoutMs: 100 });
  const { logger, lines } = captureLog('info');
  const reportOptions = { from: 'MAILER-DAEMON@sms.localhost', reportingHost: 'relay.example.com', templates: new Templates() };
  const notices = new DeliveryNotices({
    store,
    logger,
    report: (kind, message, recipients) => buildReport(kind, message, recipients, reportOptions),
    onMailQueued: () => undefined,
    describeStatus: () => 'no such number',
  });
  try {
    // The null sender takes no report, as a sender of the relay's own: the report comes back empty.
    const senders = ['', 'alice@example.com'];
    const ids: string[] = [];
    for (const [index, envelopeFrom] of senders.entries()) {
      const number = `+44770090012${index}`;
      const accepted = mail([number], { envelopeFrom });
      ids.push(accepted.id);
      await store.acceptMail(accepted);
      const [batch] = await store.claimDueSms({ owner: 'test', now: 2_000, leaseUntil: 62_000, maxBatches: 1, batchSize: 1 });
      await store.recordSmsOutcomes([{ smsId: batch?.sms[0]?.id ?? 0, kind: 'sent', providerId: `P${index}` }]);
      await store.applyDeliveryReport({ provider: 'intellisoftware', providerId: `P${index}`, number, code: 6, state: 'failed', receivedAt: 3_000 });
    }
    notices.kick();
    await notices.stop();
    assert.deepEqual(await store.dueNotices(10), [], 'both notices done');
    const queued = await store.claimDueMail({ owner: 'test', now: Date.now(), leaseUntil: Date.now() + 60_000, limit: 10 });
    assert.deepEqual(
      queued.map((queuedMail) => queuedMail.messageId),
      [ids[1]],
    );
    const logged = lines.map((line) => JSON.parse(line) as { msg: string; msgId?: string });
    assert.deepEqual(
      logged.filter((line) => line.msg === 'notices: delivery report mailed to the sender').map((line) => line.msgId),
      [ids[1]],
    );
  } finally {
    await store.close();
  }
});
