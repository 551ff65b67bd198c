import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { Mailer } from '../../src/mailer/mailer.ts';
import { smarthostTransport } from '../../src/mailer/smarthost.ts';
import { PostgresStore } from '../../src/store/postgres/store.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import type { NewOutgoingMail, Store } from '../../src/store/types.ts';
import { createLogger, type Logger } from '../../src/log.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { describeOnPostgres, ownPostgres, withDatabase } from '../helpers/postgres.ts';
import { waitFor } from '../helpers/relay.ts';
import { SmtpSink } from '../helpers/smtp-sink.ts';
import { replyAnswer, storeFile } from '../helpers/store.ts';
import { sleep } from '../helpers/wait.ts';

/**
 * findings/cluster.md 1 (round 2): a mail the smarthost took while the store could not record that
 * outcome was delivered again once its lease ended. The store fails for real (SQLite: another connection
 * holds the write lock; PostgreSQL: the server is stopped) while a real smarthost holds its 250.
 */

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** Short, so the outage outlasts it: a claim after it would take the mail again if the mailer had let it go. */
const LEASE_MS = 1_000;
const MESSAGE_ID = '<owed-reply-1@sms.localhost>';
const RELAY = { hostname: 'relay.example.com', from: 'MAILER-DAEMON@sms.example.com', logger: createLogger('silent') };

const reply: NewOutgoingMail = {
  kind: 'reply',
  messageId: 'm-owed',
  envelopeFrom: '447700900123@sms.localhost',
  recipients: ['alice@example.com'],
  raw: Buffer.from(`From: 447700900123@sms.localhost\r\nTo: alice@example.com\r\nMessage-ID: ${MESSAGE_ID}\r\nSubject: Re: hi\r\n\r\nyes\r\n`),
};

function logged(lines: readonly string[], pattern: RegExp): Array<{ level: string; msg: string } & Record<string, unknown>> {
  return lines.map((line) => JSON.parse(line) as { level: string; msg: string }).filter((entry) => pattern.test(entry.msg));
}

/** A mailer of relay `owner` delivering to `sink`, started, on `clock` (its lease LEASE_MS, its retries quick). */
function startMailer(store: Store, sink: SmtpSink, owner: string, logger: Logger, clock: { now: number }): Mailer {
  const transport = smarthostTransport(sink.url, RELAY);
  cleanups.push(() => transport.close());
  const mailer = new Mailer({
    store,
    transport,
    logger,
    owner,
    leaseMs: LEASE_MS,
    idleWaitMs: 100,
    retryMinDelayMs: 50,
    retryMaxDelayMs: 200,
    clock: () => clock.now,
  });
  cleanups.push(() => mailer.stop());
  mailer.start();
  return mailer;
}

/** The smarthost holds its answer to the mail while `fail` breaks the store, answers 250, and the store comes back (`heal`) past the lease. */
async function deliveredDuringOutage(store: Store, fail: () => Promise<void>, heal: () => Promise<void>): Promise<void> {
  const sink = await new SmtpSink().start();
  cleanups.push(() => sink.stop());
  let answer: () => void = () => undefined;
  sink.answerAfter = new Promise((resolve) => (answer = resolve));
  const { logger, lines } = captureLog('debug');
  await store.enqueueMail([reply]);
  // After the enqueue: the mail is due by it.
  const clock = { now: Date.now() };
  const mailer = startMailer(store, sink, 'test', logger, clock);
  await waitFor('the smarthost holding its answer', () => sink.holding === 1, 5_000);
  const [leased] = mailer.held();
  await fail();
  sink.answerAfter = undefined;
  answer();
  const [owed] = await waitFor(
    'the outcome the store refused',
    () => {
      const found = logged(lines, /could not record the mail outcome/);
      return found.length > 0 && found;
    },
    15_000,
  );
  // The store's outage, not a bug: a debug line, no stack.
  assert.equal(owed?.level, 'debug');
  assert.equal('err' in (owed ?? {}), false);
  assert.deepEqual(mailer.held(), [leased], 'the mail stays among the leases the heartbeat renews');
  // Past the lease by both clocks (the injected one SQLite's claims compare with, the database's PostgreSQL's).
  clock.now += 10 * 60_000;
  await sleep(LEASE_MS + 1_000);
  await heal();
  await waitFor('the outcome recorded', () => logged(lines, /^mailer: mail outcomes recorded now that the store takes writes again$/).length === 1, 30_000);
  // Time for a claim that would take the mail again.
  await sleep(1_500);
  const copies = sink.received.filter((mail) => mail.raw.includes(`Message-ID: ${MESSAGE_ID}`));
  assert.equal(copies.length, 1, 'the smarthost got the mail once');
  assert.deepEqual(
    (await store.events('m-owed')).filter((event) => event.kind.startsWith('mail')).map((event) => event.kind),
    ['mail sent'],
  );
  assert.equal(await store.nextMailDueAt(), undefined, 'nothing left in the queue');
  assert.deepEqual(mailer.held(), []);
  assert.equal(logged(lines, /mail delivered/).length, 1);
}

describe('a mail the smarthost took while the store could not record it (findings/cluster.md 1)', () => {
  test('on SQLite (its write lock held by another connection): kept with its lease, recorded when the store takes writes, delivered once', async () => {
    const file = storeFile();
    const store = SqliteStore.open({ file, busyTimeoutMs: 100 });
    cleanups.push(() => store.close());
    let locker: BetterSqlite3.Database | undefined;
    await deliveredDuringOutage(
      store,
      async () => {
        locker = new BetterSqlite3(file);
        locker.exec('BEGIN IMMEDIATE');
      },
      async () => {
        locker?.exec('ROLLBACK');
        locker?.close();
      },
    );
  });
});

describeOnPostgres('a mail the smarthost took while PostgreSQL was stopped (findings/cluster.md 1)', () => {
  test('kept with its lease, recorded when the server is back, delivered once', { timeout: 90_000 }, async () => {
    const server = await ownPostgres();
    const store = await PostgresStore.open({ url: withDatabase(server.url, 'postgres') });
    cleanups.push(() => store.close());
    await deliveredDuringOutage(
      store,
      () => server.stop(),
      () => server.start(),
    );
  });
});

/**
 * A mailer that answers after its lease ended and another relay took the mail over (the relay frozen, or
 * its heartbeat cut off, while the smarthost held its answer): its outcome is only history, so the
 * relay holding the lease is the only one delivering the mail. On SQLite, whose claims go by the
 * relay's clock: relay-a's stands still while relay-b's is past relay-a's lease, so relay-a's own loop
 * does not take its lease back meanwhile (on PostgreSQL's database clock it would, with no heartbeat
 * here to renew it); test/store/mail-lease.test.ts holds both stores' statements to the same rule.
 */

/** How far relay-b's clock is ahead of relay-a's stopped one: well past relay-a's lease. */
const FROZEN_MS = 10 * 60_000;

describe('mailer: an outcome that comes after another relay took the mail over', () => {
  test("is kept as a history line and logged: the other relay's lease stands, and nobody delivers the mail again", async () => {
    const store = SqliteStore.open({ file: storeFile(), busyTimeoutMs: 100 });
    cleanups.push(() => store.close());
    const sink = await new SmtpSink().start();
    cleanups.push(() => sink.stop());
    let release: () => void = () => undefined;
    sink.answerAfter = new Promise((resolve) => (release = resolve));
    sink.refuseWith = 451;
    const { logger, lines } = captureLog('debug');
    await store.acceptInbound(replyAnswer('in-taken'));
    const clock = { now: Date.now() };
    const mailer = startMailer(store, sink, 'relay-a', logger, clock);
    await waitFor('the smarthost holding its answer', () => sink.holding === 1, 5_000);

    // relay-a stands still past its lease, and relay-b takes the mail over.
    const later = clock.now + FROZEN_MS;
    const [taken] = await store.claimDueMail({ owner: 'relay-b', now: later, leaseUntil: later + 60_000, limit: 5 });
    assert.ok(taken);
    // relay-a's smarthost defers it now: under relay-b's lease, that frees the mail for nobody.
    sink.answerAfter = undefined;
    release();
    const [late] = await waitFor(
      "relay-a's late answer",
      () => {
        const found = lines
          .map((line) => JSON.parse(line) as { level: string; msg: string; mailId?: number })
          .filter((entry) => /^mailer: late answer/.test(entry.msg));
        return found.length > 0 && found;
      },
      10_000,
    );
    assert.equal(late?.level, 'warn');
    assert.equal(late?.mailId, taken.id);
    // relay-a runs again, and the smarthost takes mail: time for relay-a's loop to claim the mail, were it free.
    clock.now = later;
    sink.refuseWith = undefined;
    await sleep(1_000);
    assert.equal(sink.received.length, 0, 'relay-a did not deliver it again');
    assert.deepEqual(await store.claimDueMail({ owner: 'relay-c', now: later, leaseUntil: later + 60_000, limit: 5 }), [], "relay-b's lease stands");
    assert.deepEqual(mailer.held(), []);

    assert.equal(await store.recordMailOutcome({ id: taken.id, kind: 'sent', response: '250 2.0.0 queued as B' }, 'relay-b'), 'recorded');
    assert.deepEqual(
      (await store.events('in-taken')).map((event) => [event.kind, event.detail]),
      [
        ['reply queued', `mail ${taken.id} to alice@example.com`],
        ['mail taken over', 'lease of relay relay-a expired: sent again by relay-b, possibly a duplicate'],
        ['late answer', 'from relay-a, after its lease was taken over: mail deferred: 451 refused by the test sink'],
        ['mail sent', '250 2.0.0 queued as B'],
      ],
    );
  });
});
