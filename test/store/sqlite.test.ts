import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { RelayError } from '../../src/errors.ts';
import { MIGRATIONS } from '../../src/store/migrations.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import type { Store } from '../../src/store/types.ts';
import { mail, storeFile } from '../helpers/store.ts';

const numbers = (count: number, from = 100): string[] => Array.from({ length: count }, (_, index) => `+447700900${from + index}`);
const claim = (store: Store, maxBatches: number, batchSize: number, now = 2_000) =>
  store.claimDueSms({ owner: 'test', now, leaseUntil: now + 60_000, maxBatches, batchSize });

describe('SQLite store', () => {
  let file: string;
  let store: SqliteStore;
  beforeEach(async () => {
    file = storeFile();
    store = SqliteStore.open({ file, busyTimeoutMs: 100 });
  });

  test('uses WAL with synchronous=FULL, and records its schema version', async () => {
    assert.deepEqual(await store.durability(), { journalMode: 'wal', synchronous: 'FULL' });
    await store.close();
    const db = new BetterSqlite3(file);
    assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
    db.close();
  });

  test('an accepted mail survives closing and reopening, one SMS job per number', async () => {
    await store.acceptMail(mail(['+447700900123', '+447700900124']));
    await store.close();
    store = SqliteStore.open({ file, busyTimeoutMs: 100 });
    const batches = await claim(store, 10, 100);
    assert.equal(batches.length, 1);
    assert.deepEqual(
      batches[0]?.sms.map((sms) => sms.number),
      ['+447700900123', '+447700900124'],
    );
    assert.equal(batches[0]?.message.subject, 'Server down');
    await store.close();
  });

  test('group commit: writes queued together commit together, and one failing write fails alone', async () => {
    const first = mail(['+447700900123']);
    const results = await Promise.allSettled([
      store.acceptMail(first),
      store.acceptMail(mail(['+447700900124'])),
      store.acceptMail({ ...first, recipients: [] }), // same id: the primary key refuses it
      store.acceptMail(mail(['+447700900125'])),
    ]);
    assert.deepEqual(
      results.map((result) => result.status),
      ['fulfilled', 'fulfilled', 'rejected', 'fulfilled'],
    );
    const refused = (results[2] as PromiseRejectedResult).reason;
    assert.ok(refused instanceof RelayError && refused.code === 'STORE_UNAVAILABLE');
    const batches = await claim(store, 10, 100);
    assert.equal(batches.length, 3);
    await store.close();
  });

  test('a store locked by someone else fails writes with STORE_UNAVAILABLE, and recovers', async () => {
    const intruder = new BetterSqlite3(file);
    intruder.exec('BEGIN IMMEDIATE');
    await assert.rejects(store.acceptMail(mail(['+447700900123'])), (error: unknown) => {
      assert.ok(error instanceof RelayError);
      assert.equal(error.code, 'STORE_UNAVAILABLE');
      return true;
    });
    intruder.exec('ROLLBACK');
    intruder.close();
    await store.acceptMail(mail(['+447700900123']));
    await store.close();
  });

  test('claims never take more batches than asked, numbers of one mail together, at most batchSize each', async () => {
    await store.acceptMail(mail(numbers(250)));
    await store.acceptMail(mail(['+447700900999']));
    const batches = await claim(store, 2, 100);
    assert.deepEqual(
      batches.map((batch) => batch.sms.length),
      [100, 100],
    );
    const rest = await claim(store, 5, 100);
    assert.deepEqual(
      rest.map((batch) => batch.sms.length),
      [50, 1],
    );
    assert.deepEqual(await claim(store, 5, 100), [], 'leased jobs are not due');
    await store.close();
  });

  test('outcomes: sent is final, retry comes back when due, failed/expired are final', async () => {
    await store.acceptMail(mail(numbers(4)));
    const [batch] = await claim(store, 1, 100);
    const [a, b, c, d] = batch?.sms ?? [];
    assert.ok(a && b && c && d);
    await store.recordSmsOutcomes([
      { smsId: a.id, kind: 'sent', providerId: 'ID1' },
      { smsId: b.id, kind: 'retry', nextAttemptAt: 5_000, error: 'ERR:GATEWAY_ERROR', attempted: true },
      { smsId: c.id, kind: 'failed', error: 'ERR:INVALID_NUMBER' },
      { smsId: d.id, kind: 'expired', error: 'too old' },
    ]);
    assert.equal(await store.nextSmsDueAt(), 5_000);
    assert.deepEqual(await claim(store, 5, 100, 4_999), []);
    const again = await claim(store, 5, 100, 5_000);
    assert.equal(again[0]?.sms.length, 1);
    assert.equal(again[0]?.sms[0]?.number, b.number);
    assert.equal(again[0]?.sms[0]?.attempts, 1);
    const kinds = (await store.events(batch?.message.id ?? '')).map((event) => event.kind);
    assert.deepEqual(kinds.slice(4), ['sent', 'deferred', 'failed', 'expired']);
    await store.close();
  });

  test('a restart frees the dead process leases and makes those jobs due at once', async () => {
    await store.acceptMail(mail(numbers(3)));
    await claim(store, 1, 100);
    assert.equal(await store.nextSmsDueAt(), 62_000, 'leased until the lease ends');
    await store.close();
    store = SqliteStore.open({ file, busyTimeoutMs: 100 });
    assert.deepEqual(await store.releaseStaleLeases(3_000), { sms: 3, mail: 0 });
    assert.equal(await store.nextSmsDueAt(), 3_000);
    const [batch] = await claim(store, 1, 100, 3_000);
    assert.equal(batch?.sms.length, 3);
    const kinds = (await store.events(batch?.message.id ?? '')).map((event) => event.kind);
    assert.equal(kinds.filter((kind) => kind === 'resumed').length, 3);
    await store.close();
  });

  test('outgoing mail queue: enqueue, claim with a lease, retry, sent', async () => {
    await store.enqueueMail([{ kind: 'bounce', messageId: undefined, envelopeFrom: '', recipients: ['alice@example.com'], raw: Buffer.from('x') }]);
    const now = Date.now();
    const [claimed] = await store.claimDueMail({ owner: 'test', now, leaseUntil: now + 1000, limit: 5 });
    assert.ok(claimed);
    assert.deepEqual(claimed.recipients, ['alice@example.com']);
    assert.equal(claimed.raw.toString(), 'x');
    assert.deepEqual(await store.claimDueMail({ owner: 'test', now, leaseUntil: now + 1000, limit: 5 }), []);
    await store.recordMailOutcome({ id: claimed.id, kind: 'retry', nextAttemptAt: now + 10, error: 'smarthost down' });
    const [retried] = await store.claimDueMail({ owner: 'test', now: now + 10, leaseUntil: now + 1000, limit: 5 });
    assert.equal(retried?.attempts, 1);
    await store.recordMailOutcome({ id: claimed.id, kind: 'sent', response: '250 ok' });
    assert.equal(await store.nextMailDueAt(), undefined);
    await store.close();
  });

  test('a database written by a newer relay is refused rather than misread', async () => {
    await store.close();
    const db = new BetterSqlite3(file);
    db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    db.close();
    assert.throws(() => SqliteStore.open({ file, busyTimeoutMs: 100 }), /newer smsrelay/);
    store = SqliteStore.open({ file: storeFile(), busyTimeoutMs: 100 });
    await store.close();
  });
});
