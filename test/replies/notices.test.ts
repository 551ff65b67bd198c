import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeliveryNotices } from '../../src/replies/notices.ts';
import { PostgresStore } from '../../src/store/postgres/store.ts';
import { captureLog } from '../helpers/log-lines.ts';

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
