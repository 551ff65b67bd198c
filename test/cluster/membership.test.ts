/**
 * Several relays on one database (#18): membership and leases. The heartbeat lists a relay and renews
 * its leases (both stores); on PostgreSQL a dead relay's work is taken over within `delivery.leaseTtl`
 * plus a poll, a live relay keeps its lease however long its request runs, and the start refuses a
 * second live relay of the same name and a Maildir among several relays.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { status } from '../../src/admin.ts';
import { Membership } from '../../src/cluster/membership.ts';
import { relayVersion } from '../../src/version.ts';
import { settingsDigest } from '../../src/cluster/settings.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { ProviderPlugin } from '../../src/providers/contract.ts';
import { intellisoftwarePlugin } from '../../src/providers/intellisoftware/index.ts';
import { startRelay } from '../../src/relay.ts';
import { ClusterError } from '../../src/store/cluster-types.ts';
import { MIGRATIONS, refusedAfterUpgrade } from '../../src/store/migrations.ts';
import { DB_NOW_MS } from '../../src/store/postgres/clock.ts';
import { migrate } from '../../src/store/postgres/migrate.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { freshDatabase, describeOnPostgres, ownPostgres, withClient, withDatabase } from '../helpers/postgres.ts';
import {
  BIN,
  GATEWAY_ACCOUNT,
  gatewayYaml,
  killSpawnedRelays,
  relayEnvironment,
  removeDir,
  spawnRelay,
  startSimulator,
  startTestRelay,
  tempDir,
  waitFor,
} from '../helpers/relay.ts';
import { SmtpSink } from '../helpers/smtp-sink.ts';
import { queuedId, sendMail } from '../helpers/smtp.ts';
import { mail, relayMember, storeFile } from '../helpers/store.ts';
import { forEachStore } from '../helpers/stores.ts';

after(killSpawnedRelays);

const member = relayMember;

describe('the heartbeat', () => {
  test("heartbeats that fail on SQLite: one error in the database's words, no takeover by other relays, and one info line when they are written again", async () => {
    const file = storeFile();
    const store = SqliteStore.open({ file, busyTimeoutMs: 50 });
    const log = captureLog('info');
    const membership = new Membership({ member: member('alpha'), leaseTtlMs: 300, logger: log.logger, shared: false, held: () => ({ sms: [], mail: [] }) });
    const lines = () => log.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    try {
      await membership.join(store);
      // Another process holds the write lock (an operator's sqlite3 shell): every heartbeat fails.
      const other = new BetterSqlite3(file);
      other.exec('BEGIN IMMEDIATE');
      const failing = await waitFor('the failure', () => lines().find((line) => String(line.msg).startsWith('relay: cannot write its heartbeat')));
      assert.equal(failing.level, 'error');
      assert.match(String(failing.reason), /locked|busy/i);
      assert.equal(failing.err, undefined, 'no stack');
      // One relay per SQLite data directory: no other relay to take its work over.
      assert.doesNotMatch(String(failing.msg), /other relays take over/);
      assert.match(String(failing.msg), /no other relay runs on this data directory/);
      other.exec('ROLLBACK');
      other.close();
      const again = await waitFor('written again', () => lines().find((line) => String(line.msg).startsWith('relay: heartbeats written again')));
      assert.equal(again.level, 'info', 'a recovery is no warning');
    } finally {
      await membership.stop();
      store.close();
    }
  });

  forEachStore((kind) => {
    test(`${kind.name}: lists the relay with its version, schema and leases, renews the leases it holds, records a clean stop`, async () => {
      const store = await kind.fresh();
      try {
        const now = Date.now();
        await store.acceptMail(mail(['+447700900001', '+447700900002', '+447700900003'], { receivedAt: now }));
        const [batch, lost] = await store.claimDueSms({ owner: 'alpha', now, leaseUntil: now + 1_000, maxBatches: 2, batchSize: 1 });
        assert.ok(batch && lost);
        const leaseEnd = async (id: number | undefined) => (await store.listQueued(10)).find((sms) => sms.smsId === id)?.nextAttemptAt ?? 0;
        const held = batch.sms[0]?.id;
        assert.ok((await leaseEnd(held)) < Date.now() + 5_000, 'claimed with a lease of a second');

        // `lost` stands for a claim that committed while its answer was lost: alpha's loops do not hold it.
        await store.heartbeat(member('alpha'), 60_000, { sms: held === undefined ? [] : [held], mail: [] });
        await store.heartbeat(member('beta', { mail: 'maildir' }), 60_000, { sms: lost.sms.map((sms) => sms.id), mail: [] });
        assert.ok((await leaseEnd(held)) >= now + 55_000, 'the heartbeat renewed the lease to leaseTtl from now');
        assert.ok((await leaseEnd(lost.sms[0]?.id)) < now + 5_000, "a lease alpha's loops do not hold is not renewed, nor by another relay");
        const other = (await store.listQueued(10)).find((sms) => sms.smsId !== held && sms.smsId !== lost.sms[0]?.id);
        assert.ok(other && other.nextAttemptAt <= now, 'a job nobody leased stays due');

        const seen = await store.relaysSeen(60_000);
        assert.deepEqual(
          seen.map((relay) => [relay.name, relay.version, relay.schema, relay.mail, relay.leases.sms, relay.stoppedAt]),
          [
            ['alpha', '9.9.9', MIGRATIONS.length, 'smarthost', 2, undefined],
            ['beta', '9.9.9', MIGRATIONS.length, 'maildir', 0, undefined],
          ],
        );
        assert.ok(seen.every((relay) => relay.heartbeatAgeMs < 5_000));

        await store.leaveCluster(member('alpha'));
        assert.notEqual((await store.relaysSeen(60_000)).find((relay) => relay.name === 'alpha')?.stoppedAt, undefined);
        await store.leaveCluster(member('beta', { instance: 'another process' }));
        assert.equal((await store.relaysSeen(60_000)).find((relay) => relay.name === 'beta')?.stoppedAt, undefined, "another instance's stop is not beta's");
      } finally {
        await store.close();
      }
    });
  });
});

describe("a relay's settings digests", () => {
  forEachStore((kind) => {
    test(`${kind.name}: kept with its heartbeat, each heartbeat writing the current ones, and listed with the relay`, async () => {
      const store = await kind.fresh();
      try {
        await store.heartbeat(member('alpha', { settings: '{"sms.domains":"0123456789abcdef"}' }), 60_000, { sms: [], mail: [] });
        await store.heartbeat(member('beta'), 60_000, { sms: [], mail: [] });
        // beta restarted with other settings.
        await store.heartbeat(member('beta', { settings: '{"sms.domains":"fedcba9876543210"}' }), 60_000, { sms: [], mail: [] });
        const seen = await store.relaysSeen(60_000);
        assert.deepEqual(
          seen.map((relay) => [relay.name, relay.settings]),
          [
            ['alpha', '{"sms.domains":"0123456789abcdef"}'],
            ['beta', '{"sms.domains":"fedcba9876543210"}'],
          ],
          "each heartbeat writes the relay's current digests",
        );
      } finally {
        await store.close();
      }
    });
  });
});

describe('a lease that ended', () => {
  forEachStore((kind) => {
    test(`${kind.name}: is taken over by the next claim, counted as an attempt and a possible duplicate (it may have reached the gateway), with a history line`, async () => {
      const store = await kind.fresh();
      try {
        const now = Date.now();
        await store.acceptMail(mail(['+447700900001'], { receivedAt: now }));
        const [first] = await store.claimDueSms({ owner: 'alpha', now, leaseUntil: now + 1, maxBatches: 1, batchSize: 1 });
        assert.ok(first);
        await new Promise((resolve) => setTimeout(resolve, 20));
        const later = Date.now() + 50;
        const [again] = await store.claimDueSms({ owner: 'beta', now: later, leaseUntil: later + 30_000, maxBatches: 1, batchSize: 1 });
        assert.equal(again?.sms[0]?.id, first.sms[0]?.id, "beta took over alpha's ended lease");
        assert.equal(again?.sms[0]?.attempts, 1, "alpha's attempt counts");
        await store.recordSmsOutcomes([{ smsId: again?.sms[0]?.id ?? 0, kind: 'sent', providerId: 'p-1' }]);
        assert.deepEqual(
          (await store.smsOf(first.message.id)).map((sms) => [sms.status, sms.attempts, sms.possibleDuplicates]),
          [['sent', 2, 1]],
          'two requests may have reached the gateway',
        );
        assert.deepEqual(
          (await store.events(first.message.id)).filter((event) => event.kind === 'taken over').map((event) => event.detail),
          ['lease of relay alpha expired: sent again by beta, possibly a duplicate'],
        );
      } finally {
        await store.close();
      }
    });
  });
});

describe('a late answer', () => {
  forEachStore((kind) => {
    test(`${kind.name}: from a relay whose lease was taken over is kept as history; the SMS keeps the result, the id and the reports of the relay holding its lease`, async () => {
      const store = await kind.fresh();
      try {
        const now = Date.now();
        const number = '+447700900001';
        await store.acceptMail(mail([number], { receivedAt: now }));
        // alpha's lease has ended when it answers (it was frozen): no real wait, on either clock.
        const [first] = await store.claimDueSms({ owner: 'alpha', now, leaseUntil: now - 1_000, maxBatches: 1, batchSize: 1 });
        const smsId = first?.sms[0]?.id ?? 0;
        const [again] = await store.claimDueSms({ owner: 'beta', now, leaseUntil: now + 30_000, maxBatches: 1, batchSize: 1 });
        assert.equal(again?.sms[0]?.id, smsId, "beta took over alpha's ended lease");
        const messageId = first?.message.id ?? '';
        const relayed = { kind: 'notice' as const, messageId, envelopeFrom: '', recipients: ['alice@example.com'], raw: Buffer.from('relayed') };

        // alpha's late failure comes while beta's request is in flight, its success after beta's result.
        // Each answer says which outcomes it kept as late answers: the dispatcher lets those change no shared state.
        assert.deepEqual(
          await store.recordSmsOutcomes([{ smsId, kind: 'retry', nextAttemptAt: now, error: 'TIMEOUT: no answer', attempted: true }], [], 'alpha'),
          [smsId],
        );
        assert.deepEqual(await store.recordSmsOutcomes([{ smsId, kind: 'sent', providerId: '477' }], [relayed], 'beta'), []);
        assert.deepEqual(await store.recordSmsOutcomes([{ smsId, kind: 'sent', providerId: '351' }], [relayed], 'alpha'), [smsId]);

        assert.deepEqual(
          (await store.smsOf(messageId)).map((sms) => [sms.status, sms.attempts, sms.possibleDuplicates, sms.providerId]),
          [['sent', 2, 1, '477']],
          "beta's result stands; alpha's attempt was counted once, at the takeover",
        );
        assert.deepEqual(
          (await store.events(messageId))
            .filter((event) => ['sent', 'deferred', 'late answer'].includes(event.kind))
            .map((event) => [event.kind, event.detail]),
          [
            ['late answer', 'from alpha, after its lease was taken over: TIMEOUT: no answer'],
            ['sent', 'id 477'],
            ['late answer', 'from alpha, after its lease was taken over: id 351'],
          ],
        );
        const queued = await store.claimDueMail({ owner: 'beta', now: Date.now() + 1_000, leaseUntil: Date.now() + 60_000, limit: 10 });
        assert.equal(queued.length, 1, "only beta's report is queued");
        const report = await store.applyDeliveryReport({
          provider: 'intellisoftware',
          providerId: '477',
          number,
          code: 2,
          state: 'delivered',
          receivedAt: now,
        });
        assert.equal(report.kind, 'advanced', "a report of beta's copy finds its SMS");
      } finally {
        await store.close();
      }
    });

    test(`${kind.name}: a late success with nothing to report is history alone, beside the new holder's lease`, async () => {
      const store = await kind.fresh();
      try {
        const now = Date.now();
        await store.acceptMail(mail(['+447700900002', '+447700900003'], { receivedAt: now }));
        const [first] = await store.claimDueSms({ owner: 'alpha', now, leaseUntil: now - 1_000, maxBatches: 1, batchSize: 2 });
        const ids = first?.sms.map((sms) => sms.id) ?? [];
        await store.claimDueSms({ owner: 'beta', now, leaseUntil: now + 30_000, maxBatches: 1, batchSize: 2 });
        // Both SMS of one batch, and one alone: the two shapes a sent outcome takes.
        const late = await store.recordSmsOutcomes(
          [
            { smsId: ids[0] ?? 0, kind: 'sent', providerId: '351' },
            { smsId: ids[1] ?? 0, kind: 'sent', providerId: '352' },
          ],
          [],
          'alpha',
        );
        assert.deepEqual([...late].sort(), [...ids].sort(), 'both kept as late answers');
        assert.deepEqual(await store.recordSmsOutcomes([{ smsId: ids[0] ?? 0, kind: 'sent', providerId: '353' }], [], 'alpha'), [ids[0]]);
        assert.deepEqual(await store.recordSmsOutcomes([{ smsId: ids[1] ?? 0, kind: 'failed', error: 'ERR: refused' }], [], 'alpha'), [ids[1]]);
        const messageId = first?.message.id ?? '';
        assert.deepEqual(
          (await store.smsOf(messageId)).map((sms) => [sms.status, sms.providerId ?? null]),
          [
            ['queued', null],
            ['queued', null],
          ],
          "beta's lease stands",
        );
        assert.deepEqual(
          (await store.events(messageId)).filter((event) => ['sent', 'late answer'].includes(event.kind)).map((event) => event.detail),
          [
            'from alpha, after its lease was taken over: id 351',
            'from alpha, after its lease was taken over: id 352',
            'from alpha, after its lease was taken over: id 353',
            'from alpha, after its lease was taken over: ERR: refused',
          ],
        );
      } finally {
        await store.close();
      }
    });
  });
});

const PHONE = '447700900123';
const mailTo = async (port: number, text: string) =>
  queuedId((await sendMail(port, { to: [`${PHONE}@sms.localhost`], subject: text, body: text, headers: { From: 'alice@example.com' } })).data);

describeOnPostgres('several relays on one PostgreSQL', async () => {
  const sink = await new SmtpSink().start();
  after(() => sink.stop());
  /** A relay's environment: this database, the smarthost, a short lease so the test waits seconds. */
  const clusterEnv = (url: string, name: string, extra: Record<string, string> = {}) => ({
    SMSRELAY_DATABASE_URL: url,
    SMSRELAY_RELAY_NAME: name,
    SMSRELAY_MAIL_URL: sink.url,
    SMSRELAY_DELIVERY_LEASE_TTL: '3s',
    ...extra,
  });

  test('a relay killed with a request in flight: the other relay sends its SMS within leaseTtl + one poll; the killed relay restarts at once', async (t) => {
    const url = (await freshDatabase()) ?? '';
    const standalone = await startSimulator();
    const gateway = standalone.simulator;
    const dir = tempDir();
    // The first request is processed (the SMS reached the gateway) and never answered: the relay dies waiting.
    gateway.setBehaviour({ mode: 'hang', times: 1 });
    const env = relayEnvironment(dir, gatewayYaml(standalone.url), clusterEnv(url, 'alpha'));
    const alpha = await spawnRelay(dir, env);
    let beta: Awaited<ReturnType<typeof startTestRelay>> | undefined;
    try {
      const id = await mailTo(alpha.smtpPort, 'Disk full on db1');
      await waitFor('alpha sending it', () => gateway.pendingRequests === 1);
      // Started now, beta finds the SMS leased to alpha and leaves it alone while alpha lives.
      beta = await startTestRelay(gatewayYaml(standalone.url), clusterEnv(url, 'beta'));
      await alpha.kill9();
      const killedAt = Date.now();
      await waitFor('beta sending it again', () => gateway.requests === 2, 15_000);
      const takeover = Date.now() - killedAt;
      t.diagnostic(`takeover after ${takeover} ms (leaseTtl 3 s)`);
      assert.ok(takeover <= 3_000 + 5_000, `taken over within leaseTtl + one poll (${takeover} ms)`);
      const store = beta.relay.store;
      const sms = await waitFor('the SMS sent', async () => (await store.smsOf(id)).find((state) => state.status === 'sent'));
      assert.equal(sms.status, 'sent');
      assert.equal(gateway.requests, 2, 'sent twice: once by alpha (in flight when it died), once by beta');

      // Its own crashed process (same host, pid gone) is not waited out (up to the 15 s staleness bound).
      const again = await spawnRelay(dir, env);
      await again.stop();
      assert.deepEqual(
        again.logs.filter((line) => /waiting up to/.test(String(line.msg))),
        [],
        'the restart after the crash did not wait for its old heartbeat to go stale',
      );
    } finally {
      await beta?.stop();
      await standalone.close();
      removeDir(dir);
      if (beta) removeDir(beta.dir);
    }
  });

  test('a live relay keeps its lease while its request runs longer than leaseTtl: the other relay does not send it too; status and /metrics list both relays and the lease', async () => {
    const url = (await freshDatabase()) ?? '';
    const standalone = await startSimulator();
    const gateway = standalone.simulator;
    gateway.setBehaviour({ mode: 'hang', times: 1 });
    // The request hangs until its 5 s response timeout: longer than the 3 s lease.
    const yaml = gatewayYaml(standalone.url, { responseTimeout: '5s' });
    const alpha = await startTestRelay(yaml, clusterEnv(url, 'alpha'));
    const beta = await startTestRelay(yaml, clusterEnv(url, 'beta'));
    try {
      await mailTo(alpha.relay.smtpPort, 'Disk full on db2');
      await waitFor('the request in flight', () => gateway.pendingRequests === 1);
      // Meanwhile `smsrelay status` and /metrics show both relays, and the lease the sender holds.
      const holder = (await alpha.relay.store.relaysSeen(60_000)).find((relay) => relay.leases.sms === 1)?.name;
      assert.ok(holder === 'alpha' || holder === 'beta');
      const shown = await status(alpha.relay.store, Date.now(), { pid: undefined, name: 'gamma', settings: settingsDigest(alpha.config), database: true });
      assert.match(shown, /^relay: not running here \(queued SMS are sent by (alpha, beta|beta, alpha), running on this database\)$/m);
      // As alpha's status would read just after alpha died, its heartbeat still fresh: beta sends its queue.
      const afterAlpha = await status(alpha.relay.store, Date.now(), {
        pid: undefined,
        name: 'alpha',
        settings: settingsDigest(alpha.config),
        database: true,
      });
      // Its first line says what the database knows too (alpha may run elsewhere), and who sends its queue.
      assert.match(
        afterAlpha,
        /^relay: not running here, heard from on this database within 15 s \(it stopped without recording its stop, or runs elsewhere under this store\.relayName\); queued SMS are sent by beta, running on this database$/m,
      );
      // Its own row agrees: not running here, and what the database knows, its fresh heartbeat.
      assert.match(
        afterAlpha,
        /^ {2}alpha: not running here, heard from on this database within 15 s \(it stopped without recording its stop, or runs elsewhere under this store\.relayName\), version /m,
      );
      assert.match(afterAlpha, /^ {2}beta: running, /m);
      for (const name of ['alpha', 'beta']) {
        const leases = name === holder ? 1 : 0;
        assert.match(
          shown,
          new RegExp(
            `^  ${name}: running, version ${relayVersion()} \\(schema ${MIGRATIONS.length}\\), pid ${process.pid} on \\S+, last heartbeat [0-3] s ago, leases: ${leases} SMS, 0 mails$`,
            'm',
          ),
        );
      }
      assert.match(shown, /^relays seen in the last hour: 2$/m);
      const metrics = await (await fetch(`http://127.0.0.1:${beta.relay.httpPort}/metrics`)).text();
      assert.match(metrics, new RegExp(`^smsrelay_relays_seen\\{relay="alpha",version="${relayVersion()}"\\} 1$`, 'm'));
      assert.match(metrics, new RegExp(`^smsrelay_relay_leases\\{relay="${holder}",queue="sms"\\} 1$`, 'm'));
      assert.match(metrics, /^smsrelay_relay_heartbeat_age_seconds\{relay="beta"\} [0-3](\.\d+)?$/m);
      await waitFor('the response timeout', () => gateway.pendingRequests === 0, 8_000);
      assert.equal(gateway.requests, 1, 'no second request while the first ran');
    } finally {
      await Promise.all([alpha.stop(), beta.stop()]);
      await standalone.close();
      removeDir(alpha.dir);
      removeDir(beta.dir);
    }
  });

  test("status where no relay of its name runs: that relay's row says what the database knows, its heartbeat, not a data directory's lock", async () => {
    const url = (await freshDatabase()) ?? '';
    const alpha = await startTestRelay({}, clusterEnv(url, 'alpha'));
    await alpha.stop();
    removeDir(alpha.dir);
    // As in a copy of a backup taken while alpha ran: its row not stopped, its heartbeat as old as the copy.
    const heartbeat = (at: string) =>
      withClient(url, (client) => client.query(`UPDATE relays SET stopped_at = NULL, heartbeat_at = ${at} WHERE name = 'alpha'`));
    const dir = tempDir();
    const statusOfAlpha = () => {
      const env = relayEnvironment(dir, {}, clusterEnv(url, 'alpha'));
      const result = spawnSync(process.execPath, [BIN, 'status'], {
        cwd: dir,
        env: { PATH: process.env.PATH ?? '', ...env },
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.equal(result.status, 0, result.stderr);
      return result.stdout;
    };
    try {
      await heartbeat(`${DB_NOW_MS} - 600000`);
      const silent = statusOfAlpha();
      assert.match(silent, /^relay: not running \(queued SMS wait for it to start\)$/m);
      assert.match(silent, /^ {2}alpha: silent \(not stopped cleanly: its leases are taken over as they end\), .*last heartbeat 6\d\d s ago/m);
      assert.doesNotMatch(silent, /data directory/, 'no data directory holds a database');
      await heartbeat(DB_NOW_MS);
      const heard = statusOfAlpha();
      assert.match(
        heard,
        /^relay: not running here, heard from on this database within 15 s \(it stopped without recording its stop, or runs elsewhere under this store\.relayName\)$/m,
        'the first line says what its row says',
      );
      assert.match(
        heard,
        /^ {2}alpha: not running here, heard from on this database within 15 s \(it stopped without recording its stop, or runs elsewhere under this store\.relayName\), /m,
      );
    } finally {
      removeDir(dir);
    }
  });

  test('a second live relay of the same name is refused at start: exit 78, one line', async () => {
    const url = (await freshDatabase()) ?? '';
    const alpha = await startTestRelay({}, clusterEnv(url, 'alpha'));
    const dir = tempDir();
    try {
      await assert.rejects(
        spawnRelay(dir, relayEnvironment(dir, {}, clusterEnv(url, 'alpha'))),
        /relay exited \(78\) before it was ready: smsrelay: config: SMSRELAY_RELAY_NAME="alpha": another relay named "alpha" is running on this database \(pid \d+ on [^)]+\): give each relay its own store\.relayName\n$/,
      );
    } finally {
      await alpha.stop();
      removeDir(alpha.dir);
      removeDir(dir);
    }
  });

  test("the wait for a relay of the same name logs that relay's pid as otherPid, apart from the line's own pid", async () => {
    const url = (await freshDatabase()) ?? '';
    const alpha = await startTestRelay({}, clusterEnv(url, 'alpha'));
    const dir = tempDir();
    try {
      const { config } = loadConfig(relayEnvironment(dir, {}, clusterEnv(url, 'alpha')), dir);
      const { logger, lines } = captureLog('info');
      await assert.rejects(startRelay(config, logger), /another relay named "alpha" is running on this database/);
      const waiting = lines.find((line) => line.includes('waiting up to'));
      assert.ok(waiting, lines.join(''));
      assert.equal(waiting.match(/"pid":/g)?.length, 1, waiting);
      assert.equal((JSON.parse(waiting) as { otherPid?: unknown }).otherPid, process.pid, 'alpha runs in this process too');
    } finally {
      await alpha.stop();
      removeDir(alpha.dir);
      removeDir(dir);
    }
  });

  test('a relay started with other SMS domains and gateway account than a live one is warned at start, naming both; status names them too, never a value', async () => {
    const url = (await freshDatabase()) ?? '';
    const standalone = await startSimulator();
    const alpha = await startTestRelay(gatewayYaml(standalone.url), clusterEnv(url, 'alpha'));
    const dir = tempDir();
    let delta: Awaited<ReturnType<typeof startRelay>> | undefined;
    try {
      const other = { ...gatewayYaml(standalone.url, { username: 'delta-account' }), sms: { domains: ['sms.test'] } };
      const { config } = loadConfig(relayEnvironment(dir, other, clusterEnv(url, 'delta')), dir);
      const { logger, lines } = captureLog('info');
      delta = await startRelay(config, logger);
      const warned = lines.map((line) => JSON.parse(line) as { msg: string; relay?: string; settings?: string[] }).find((line) => line.relay === 'alpha');
      assert.ok(warned, lines.join(''));
      assert.deepEqual(warned.settings, ['sms.domains', 'gateway accounts']);
      assert.match(
        warned.msg,
        /^relay: relay alpha on this database runs with other sms\.domains, gateway accounts: queued work is sent with the settings of the relay that claims it/,
      );
      const shown = await status(delta.store, Date.now(), { pid: process.pid, name: 'delta', settings: settingsDigest(config), database: true });
      assert.match(
        shown,
        /^ {2}alpha: running, .*; other settings than this configuration's: sms\.domains, gateway accounts \(queued work goes by the claiming relay's, a webhook or mail by the receiving relay's\)$/m,
      );
      assert.doesNotMatch(shown, /^ {2}delta: .*other settings/m, 'its own row matches its configuration');
      assert.doesNotMatch(shown + JSON.stringify(warned), /delta-account|sms\.test/, 'digests, never the values');
    } finally {
      await delta?.stop();
      await alpha.stop();
      await standalone.close();
      removeDir(alpha.dir);
      removeDir(dir);
    }
  });

  test('a relay started with other webhook tokens than a live one is warned at start and in status, never a token; the same tokens in the other order are no difference', async () => {
    const url = (await freshDatabase()) ?? '';
    const standalone = await startSimulator();
    const [current, previous, other] = ['current-token-0123456789', 'previous-token-0123456789', 'another-token-0123456789'];
    const tokens = (webhookToken: string, previousWebhookToken?: string) => ({
      SMSRELAY_WEBHOOK_TOKEN: webhookToken,
      ...(previousWebhookToken ? { SMSRELAY_PREVIOUS_WEBHOOK_TOKEN: previousWebhookToken } : {}),
    });
    const alpha = await startTestRelay(gatewayYaml(standalone.url), clusterEnv(url, 'alpha', tokens(current, previous)));
    const dirs = [tempDir(), tempDir()];
    const started: Array<Awaited<ReturnType<typeof startRelay>>> = [];
    /** A relay started beside alpha with these tokens: its log lines and its configuration's digests. */
    const beside = async (dir: string, name: string, env: Record<string, string>) => {
      const { config } = loadConfig(relayEnvironment(dir, gatewayYaml(standalone.url), clusterEnv(url, name, env)), dir);
      const { logger, lines } = captureLog('info');
      started.push(await startRelay(config, logger));
      return {
        config,
        lines,
        warned: lines.map((line) => JSON.parse(line) as { msg: string; relay?: string; settings?: string[] }).find((line) => line.relay === 'alpha'),
      };
    };
    try {
      const swapped = await beside(dirs[0] as string, 'beta', tokens(previous, current));
      assert.equal(swapped.warned, undefined, `the tokens taken are the same: ${swapped.lines.join('')}`);

      const odd = await beside(dirs[1] as string, 'delta', tokens(other));
      assert.ok(odd.warned, odd.lines.join(''));
      assert.deepEqual(odd.warned.settings, ['inbound.webhookToken']);
      assert.match(odd.warned.msg, /^relay: relay alpha on this database runs with other inbound\.webhookToken: /);
      const store = started[1]?.store;
      assert.ok(store);
      const shown = await status(store, Date.now(), { pid: process.pid, name: 'delta', settings: settingsDigest(odd.config), database: true });
      assert.match(shown, /^ {2}alpha: running, .*; other settings than this configuration's: inbound\.webhookToken \(/m);
      assert.match(shown, /^ {2}beta: running, .*; other settings than this configuration's: inbound\.webhookToken \(/m);
      const rows = JSON.stringify(await store.relaysSeen(60_000));
      for (const token of [current, previous, other]) {
        assert.ok(!(shown + odd.lines.join('') + swapped.lines.join('') + rows).includes(token), 'digests, never a token');
      }
    } finally {
      for (const relay of started) await relay.stop();
      await alpha.stop();
      await standalone.close();
      removeDir(alpha.dir);
      for (const dir of dirs) removeDir(dir);
    }
  });

  test("PostgreSQL unreachable at start, then back: a start it refuses (a relay of the same name, a Maildir among several, another application's database) is refused as at a start, one line and exit 78, not retried as an outage", async () => {
    const server = await ownPostgres();
    const database = async (name: string, sql = '') => {
      await withClient(server.url, (client) => client.query(`CREATE DATABASE ${name}`));
      const url = withDatabase(server.url, name);
      if (sql) await withClient(url, (client) => client.query(sql));
      return url;
    };
    const url = await database('relays');
    const foreign = await database('crm', 'CREATE TABLE customers (id int)');
    const alpha = await startTestRelay({}, clusterEnv(url, 'alpha'));
    const dirs = { twin: tempDir(), maildir: tempDir(), other: tempDir() };
    try {
      await server.stop();
      const { SMSRELAY_MAIL_URL: _smarthost, ...withoutSmarthost } = clusterEnv(url, 'beta');
      const [twin, maildir, other] = await Promise.all([
        spawnRelay(dirs.twin, relayEnvironment(dirs.twin, {}, clusterEnv(url, 'alpha'))),
        spawnRelay(dirs.maildir, relayEnvironment(dirs.maildir, {}, withoutSmarthost)),
        spawnRelay(dirs.other, relayEnvironment(dirs.other, {}, clusterEnv(foreign, 'gamma'))),
      ]);
      for (const relay of [twin, maildir, other])
        assert.ok(
          relay.logs.some((line) => String(line.msg).startsWith('relay: listening, store not ready')),
          'each listens, not ready, while the database is down',
        );
      await server.start();
      /** How the relay ended, or that it still runs well after the database's return (retrying the refusal as an outage). */
      const refusal = async (relay: typeof twin) => {
        const code = await Promise.race([relay.exited, sleep(40_000, undefined, { ref: false }).then(() => 'still running')]);
        return { code, stderr: relay.stderr() };
      };
      const [refusedTwin, refusedMaildir, refusedOther] = await Promise.all([refusal(twin), refusal(maildir), refusal(other)]);
      for (const { code, stderr } of [refusedTwin, refusedMaildir, refusedOther]) assert.equal(code, 78, stderr);
      assert.match(
        refusedTwin.stderr,
        /^smsrelay: config: SMSRELAY_RELAY_NAME="alpha": another relay named "alpha" is running on this database \(pid \d+ on [^)]+\): give each relay its own store\.relayName\n$/,
      );
      assert.match(
        refusedMaildir.stderr,
        /^smsrelay: config: mail\.url .*: unset \(a Maildir in the data directory\), but relays alpha share this database: .*set mail\.url on every relay\n$/,
      );
      assert.match(
        refusedOther.stderr,
        /^smsrelay: config: SMSRELAY_DATABASE_URL=".*": the database holds tables that are not smsrelay's \(customers\): give smsrelay a database of its own .*\n$/,
      );
    } finally {
      await alpha.stop();
      removeDir(alpha.dir);
      for (const dir of Object.values(dirs)) removeDir(dir);
    }
  });

  /** A fresh database one schema step behind, whose sessions give up on a lock after 200 ms: its URL. */
  async function oneStepBehindWithLockTimeout(): Promise<string> {
    const url = (await freshDatabase()) ?? '';
    await withClient(url, async (client) => {
      await migrate(client, { create: true, migrations: MIGRATIONS.slice(0, -1) });
      await client.query(`DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET lock_timeout = %L', current_database(), '200ms'); END $$`);
    });
    return url;
  }

  test("a step of the upgrade that meets another session's lock past the server's lock_timeout is waited for, not refused: the relay becomes ready once the lock goes", async () => {
    const url = await oneStepBehindWithLockTimeout();
    // Every upgrade first alters the version table (migrate.ts), whichever step is last: a transaction
    // that read it holds a lock the upgrade waits for.
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    const dir = tempDir();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT * FROM smsrelay_schema');
      const relay = await spawnRelay(dir, relayEnvironment(dir, {}, clusterEnv(url, 'alpha')));
      await waitFor('the wait named', () =>
        relay.logs.find((line) => line.level === 'warn' && String(line.msg).startsWith('store: not ready, waiting for a lock another session holds')),
      );
      await holder.query('COMMIT');
      await waitFor('relay: ready once the lock is released', () => relay.logs.some((line) => line.msg === 'relay: ready'), 15_000);
      assert.equal(await relay.stop(), 0, relay.stderr());
      await withClient(url, async (client) =>
        assert.equal(Number((await client.query('SELECT version FROM smsrelay_schema')).rows[0].version), MIGRATIONS.length),
      );
    } finally {
      await holder.end();
      removeDir(dir);
    }
  });

  test('a refusal met while the relay still starts, after this start upgraded the store, says once that the store stays upgraded', async () => {
    const url = await oneStepBehindWithLockTimeout();
    // The relay's first heartbeat waits past the lock timeout for this session's lock: the start, already upgraded, retries.
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE relays IN EXCLUSIVE MODE');
    // A gateway whose first bind never ends: startRelay is still starting when the refusal comes.
    const held: ProviderPlugin = {
      ...intellisoftwarePlugin,
      name: 'heldgw',
      settings: { ...intellisoftwarePlugin.settings, environment: {} },
      createGateway: (options) => {
        const gateway = intellisoftwarePlugin.createGateway(options);
        return { ...gateway, provider: 'heldgw', start: () => new Promise<void>(() => undefined), close: () => gateway.close() };
      },
    };
    const dir = tempDir();
    const { config } = loadConfig(
      relayEnvironment(dir, { gateway: { provider: 'heldgw', url: 'http://127.0.0.1:1', ...GATEWAY_ACCOUNT } }, clusterEnv(url, 'alpha')),
      dir,
      { providers: [held] },
    );
    const { logger, lines } = captureLog('info');
    const stopAsked = new AbortController();
    let beating: NodeJS.Timeout | undefined;
    try {
      const started = startRelay(config, logger, { providers: [held], stopAsked: stopAsked.signal, onRefused: (refusal) => stopAsked.abort(refusal) });
      await waitFor('the heartbeat waiting for the lock', () => lines.some((line) => line.includes('store: not ready, waiting for')), 15_000);
      // Then a live relay of its name appears: the retry's look refuses the start.
      await holder.query(
        `INSERT INTO relays (name, instance, version, schema_version, started_at, heartbeat_at, stopped_at, pid, host, mail)
          VALUES ('alpha', 'twin', '1.0.0', ${MIGRATIONS.length}, ${DB_NOW_MS}, ${DB_NOW_MS}, NULL, 1, 'elsewhere', 'smarthost')`,
      );
      await holder.query('COMMIT');
      beating = setInterval(
        () => void withClient(url, (client) => client.query(`UPDATE relays SET heartbeat_at = ${DB_NOW_MS} WHERE name = 'alpha'`)).catch(() => undefined),
        200,
      );
      const refusal = await started.then(
        () => assert.fail('the start is refused'),
        (error: unknown) => error as Error,
      );
      assert.ok(refusal instanceof ClusterError, String(refusal));
      assert.equal(refusal.message.split(refusedAfterUpgrade({ from: MIGRATIONS.length - 1, to: MIGRATIONS.length })).length, 2, refusal.message);
    } finally {
      clearInterval(beating);
      await holder.end();
      removeDir(dir);
    }
  });

  test('a stop signal while a late start watches a relay of its name: the stop runs once, with the exit of a stop, not a refusal', async () => {
    const server = await ownPostgres();
    await withClient(server.url, (client) => client.query('CREATE DATABASE relays'));
    const url = withDatabase(server.url, 'relays');
    const alpha = await startTestRelay({}, clusterEnv(url, 'alpha'));
    const dir = tempDir();
    try {
      await server.stop();
      const twin = await spawnRelay(dir, relayEnvironment(dir, {}, clusterEnv(url, 'alpha')));
      await server.start();
      await waitFor(
        'the twin watching the heartbeat of alpha',
        () => twin.logs.some((line) => String(line.msg).startsWith('relay: a relay named "alpha" wrote a heartbeat')),
        20_000,
      );
      assert.equal(await twin.stop(), 0, twin.stderr());
      assert.equal(twin.stderr(), '');
      assert.equal(twin.logs.filter((line) => line.msg === 'relay: stopped').length, 1);
    } finally {
      await alpha.stop();
      removeDir(alpha.dir);
      removeDir(dir);
    }
  });

  test('a Maildir among several relays is refused, naming mail.url', async () => {
    const url = (await freshDatabase()) ?? '';
    const alpha = await startTestRelay({}, clusterEnv(url, 'alpha'));
    try {
      const { SMSRELAY_MAIL_URL: _smarthost, ...withoutSmarthost } = clusterEnv(url, 'beta');
      await assert.rejects(startTestRelay({}, withoutSmarthost), (error: Error & { setting?: string }) => {
        assert.equal(error.setting, 'mail.url');
        assert.match(
          error.message,
          /^unset \(a Maildir in the data directory\), but relays alpha share this database: a relay's own mail goes through the smarthost/,
        );
        return true;
      });
    } finally {
      await alpha.stop();
      removeDir(alpha.dir);
    }
  });
});
