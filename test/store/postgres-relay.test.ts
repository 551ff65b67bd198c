import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { webhookPaths } from '../../src/http/webhooks.ts';
import { copySqliteToPostgres } from '../../src/store/postgres/copy.ts';
import { PostgresStore } from '../../src/store/postgres/store.ts';
import { redactUrl } from '../../src/store/postgres/url.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { describeOnPostgres, freshDatabase, ownPostgres, withClient, withDatabase } from '../helpers/postgres.ts';
import {
  gatewayYaml,
  killSpawnedRelays,
  maildirMessages,
  relayEnvironment,
  removeDir,
  spawnRelay,
  startSimulator,
  startTestRelay,
  tempDir,
  waitFor,
} from '../helpers/relay.ts';
import { queuedId, textTo } from '../helpers/smtp.ts';
import { mail, storeFile } from '../helpers/store.ts';

const BIN = fileURLToPath(new URL('../../bin/smsrelay.js', import.meta.url));
const PHONE = '447700900123';
const TOKEN = 'test-webhook-token-0123456789';
const HOUR_MS = 3_600_000;

after(killSpawnedRelays);

/** A mail from alice (who gets the replies) to PHONE: the end-of-data reply, or the RCPT reply when that refused it. */
const mailTo = (port: number, text: string) => textTo(port, PHONE, text);

describeOnPostgres('the relay on PostgreSQL', async (probe) => {
  test('the whole loop: mail → SMS at the simulator, the phone answers (MO webhook) → reply mail in the Maildir', async () => {
    const url = (await freshDatabase()) ?? '';
    const relay = await startTestRelay({}, { SMSRELAY_DATABASE_URL: url });
    try {
      const simulator = relay.relay.simulator;
      assert.ok(simulator);
      queuedId(await mailTo(relay.relay.smtpPort, 'Disk full on db1'));
      const sms = await waitFor('the SMS at the simulator', () => simulator.records.find((record) => record.to === PHONE));
      assert.match(sms.text, /Disk full on db1/);
      simulator.reply(PHONE, 'On it', sms);
      const reply = await waitFor('the reply mail', () => maildirMessages(relay.maildir).find((raw) => raw.includes('On it')));
      assert.match(reply, /^To: .*alice@example\.com/m);
    } finally {
      await relay.stop();
      removeDir(relay.dir);
    }
  });

  test('wrong credentials or a missing database at start: one config line naming the setting (password masked), exit 78', async () => {
    const dir = tempDir();
    try {
      const wrong = new URL(probe);
      wrong.password = 'not-the-password';
      await assert.rejects(
        spawnRelay(dir, relayEnvironment(dir, {}, { SMSRELAY_DATABASE_URL: wrong.toString() })),
        /relay exited \(78\) before it was ready: smsrelay: config: SMSRELAY_DATABASE_URL="postgres:\/\/postgres:\*\*\*@[^"]+": password authentication failed/,
      );
      await assert.rejects(
        spawnRelay(dir, relayEnvironment(dir, {}, { SMSRELAY_DATABASE_URL: withDatabase(probe, 'no_such_database') })),
        /relay exited \(78\) before it was ready: .*database "no_such_database" does not exist/,
      );
    } finally {
      removeDir(dir);
    }
  });

  test('store copy: a relay started on the copy delivers the queued mail and routes a reply of a copied conversation', async () => {
    const dir = tempDir();
    const first = await startTestRelay({}, {}, dir);
    await first.relay.store.setDispatchPaused(true, Date.now());
    const id = queuedId(await mailTo(first.relay.smtpPort, 'Queued before the move'));
    const url = (await freshDatabase()) ?? '';
    const whileRunning = spawnSync(process.execPath, [BIN, 'store', 'copy', '--from', join(first.config.dataDir, 'smsrelay.db'), '--to', url], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '' },
    });
    assert.equal(whileRunning.status, 69);
    assert.match(whileRunning.stderr, /a relay \(pid \d+\) is running on .*smsrelay\.db: stop it first/);
    await first.stop();

    const tables = await copySqliteToPostgres(join(first.config.dataDir, 'smsrelay.db'), url);
    assert.equal(tables.find((table) => table.table === 'messages')?.rows, 1);
    await assert.rejects(copySqliteToPostgres(join(first.config.dataDir, 'smsrelay.db'), url), /not empty/, 'a second copy into it is refused');
    // Analysed with the copy: the planner knows the copied rows (a never-analysed table has reltuples -1).
    const planned = await withClient(
      url,
      async (client) => (await client.query("SELECT relname, reltuples FROM pg_class WHERE relname IN ('messages', 'outbound')")).rows,
    );
    assert.deepEqual(planned.map((row) => [row.relname, row.reltuples]).sort(), [
      ['messages', 1],
      ['outbound', 1],
    ]);

    const second = await startTestRelay({}, { SMSRELAY_DATABASE_URL: url }, dir);
    try {
      const simulator = second.relay.simulator;
      assert.ok(simulator);
      assert.equal((await second.relay.store.smsOf(id))[0]?.status, 'queued');
      await second.relay.store.setDispatchPaused(false, Date.now());
      const sms = await waitFor('the copied SMS at the simulator', () => simulator.records.find((record) => record.to === PHONE));
      assert.match(sms.text, /Queued before the move/);
      simulator.reply(PHONE, 'Reply after the move', sms);
      const reply = await waitFor('the reply mail', () => maildirMessages(second.maildir).find((raw) => raw.includes('Reply after the move')));
      assert.match(reply, /^To: .*alice@example\.com/m);
    } finally {
      await second.stop();
      removeDir(dir);
    }
  });

  test("store copy: PostgreSQL's quarantine ids continue after the highest SQLite gave, the deleted last request's included", async () => {
    const file = storeFile();
    const sqlite = await SqliteStore.open({ file, busyTimeoutMs: 100 });
    const keep = (body: string) =>
      sqlite.quarantine({ receivedAt: 1_000, provider: 'intellisoftware', kind: 'mo', reason: 'unreadable', body: Buffer.from(body) });
    const first = await keep('first');
    const last = await keep('last');
    assert.equal(await sqlite.deleteQuarantined({ id: last }), 1);
    await sqlite.close();
    const url = (await freshDatabase()) ?? assert.fail('no database');
    await copySqliteToPostgres(file, url);
    const postgres = await PostgresStore.open({ url });
    try {
      const next = await postgres.quarantine({ receivedAt: 2_000, provider: 'intellisoftware', kind: 'mo', reason: 'unreadable', body: Buffer.from('next') });
      assert.ok(next > last, `the next id (${next}) is above the deleted request's (${last}), which old links and forms name`);
      assert.deepEqual(
        (await postgres.listQuarantine(10)).map((entry) => entry.id),
        [first, next],
      );
    } finally {
      await postgres.close();
    }
  });

  test('store copy: a quarantined body an older relay kept on SQLite as text holding a NUL is copied as its bytes, not refused by PostgreSQL', async () => {
    const file = storeFile();
    const sqlite = await SqliteStore.open({ file, busyTimeoutMs: 100 });
    await sqlite.quarantine({ receivedAt: 1_000, provider: 'intellisoftware', kind: 'mo', reason: 'unreadable', body: Buffer.from('new') });
    await sqlite.close();
    const old = Buffer.from('{"text":"a\u0000b caf\u00e9"}');
    const db = new BetterSqlite3(file);
    const id = Number(
      db
        .prepare("INSERT INTO quarantine (received_at, provider, kind, reason, body) VALUES (1000, 'intellisoftware', 'mo', 'older', ?)")
        .run(old.toString('utf8')).lastInsertRowid,
    );
    db.close();
    const url = (await freshDatabase()) ?? assert.fail('no database');
    await copySqliteToPostgres(file, url);
    const postgres = await PostgresStore.open({ url });
    try {
      assert.deepEqual((await postgres.quarantined(id))?.body, old);
      assert.equal((await postgres.listQuarantine(10)).find((entry) => entry.id === id)?.bytes, old.length);
    } finally {
      await postgres.close();
    }
  });

  test("store copy: a queued SMS and mail an hour old read an hour old on PostgreSQL, their accepting relay's stamps, not the copy's time", async () => {
    const file = storeFile();
    const sqlite = await SqliteStore.open({ file, busyTimeoutMs: 100 });
    const hourAgo = Date.now() - HOUR_MS;
    await sqlite.acceptMail(mail([`+${PHONE}`], { receivedAt: hourAgo }));
    await sqlite.enqueueMail([{ kind: 'bounce', messageId: undefined, envelopeFrom: '', recipients: ['alice@example.com'], raw: Buffer.from('x') }]);
    await sqlite.close();
    // The mail queued an hour ago as well: enqueueMail stamps it with the clock's now.
    const db = new BetterSqlite3(file);
    db.prepare('UPDATE mail_out SET created_at = ?').run(hourAgo);
    db.close();
    const url = (await freshDatabase()) ?? assert.fail('no database');
    await copySqliteToPostgres(file, url);
    const postgres = await PostgresStore.open({ url });
    try {
      const { sms, mail: own } = await postgres.queueStats(Date.now());
      for (const [queue, age] of [
        ['sms', sms.oldestAgeSeconds],
        ['mail', own.oldestAgeSeconds],
      ] as const) {
        assert.ok(Math.abs(age - HOUR_MS / 1000) < 60, `the ${queue} queue's oldest reads ${age} s, not about 3600 s`);
      }
    } finally {
      await postgres.close();
    }
  });

  test("store copy: a target column the source lacks other than the database's stamps (schema 37's) is refused by name, nothing copied, its default never overriding", async () => {
    const file = storeFile();
    const sqlite = await SqliteStore.open({ file, busyTimeoutMs: 100 });
    await sqlite.acceptMail(mail([`+${PHONE}`]));
    await sqlite.close();
    for (const [table, column] of [
      ['messages', "extra_note TEXT NOT NULL DEFAULT 'kept'"],
      ['outbound', 'extra_flag INTEGER'],
    ] as const) {
      const url = (await freshDatabase()) ?? assert.fail('no database');
      await (await PostgresStore.open({ url })).close();
      await withClient(url, (client) => client.query(`ALTER TABLE ${table} ADD COLUMN ${column}`));
      const name = column.split(' ')[0] ?? '';
      // As the operator meets it (docs/operations.md): one line naming the table and column, and the database to copy into.
      const copy = spawnSync(process.execPath, [BIN, 'store', 'copy', '--from', file, '--to', url], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(copy.status, 73, copy.stderr);
      assert.match(
        copy.stderr,
        new RegExp(
          `^smsrelay: store copy: the target database's table ${table} has a column the source lacks .*\\(${name}\\).*only this smsrelay's migrations made .*by hand or by another program.*nothing was committed$`,
          'm',
        ),
      );
      const counts = await withClient(
        url,
        async (client) => (await client.query('SELECT (SELECT COUNT(*) FROM messages) AS m, (SELECT COUNT(*) FROM outbound) AS o')).rows[0],
      );
      assert.deepEqual([Number(counts?.m), Number(counts?.o)], [0, 0], `nothing copied (${table}.${name})`);
    }
  });

  test('PostgreSQL down at start, then restarted under load: 451 4.3.0 / 503 / not ready meanwhile, every mail answered 250 reaches the gateway, the relay never restarts', async () => {
    const server = await ownPostgres();
    const url = withDatabase(server.url, 'postgres');
    const gateway = await startSimulator();
    const dir = tempDir();
    await server.stop();
    const relay = await spawnRelay(
      dir,
      relayEnvironment(dir, { ...gatewayYaml(gateway.url), inbound: { webhookToken: TOKEN } }, { SMSRELAY_DATABASE_URL: url }),
    );
    const get = (path: string) => fetch(`http://127.0.0.1:${relay.httpPort}${path}`);
    try {
      assert.ok(
        relay.logs.some((line) => line.level === 'warn' && line.msg === 'relay: listening, store not ready (mail 451, webhooks 503) until it connects'),
        'the start says the store is not ready',
      );
      assert.ok(!relay.logs.some((line) => line.msg === 'relay: ready'), 'never "ready" while the store is unreachable');
      const refused = await mailTo(relay.smtpPort, 'while down');
      assert.equal(refused?.code, 451);
      assert.match(refused?.text ?? '', /^4\.3\.0 /);
      assert.equal((await get('/readyz')).status, 503);
      const webhook = await fetch(`http://127.0.0.1:${relay.httpPort}${webhookPaths('intellisoftware').mo}?token=${TOKEN}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ msgid: 'mo-1', from: PHONE, text: 'hi' }).toString(),
      });
      assert.equal(webhook.status, 503);

      await server.start();
      await waitFor('ready once PostgreSQL is up', async () => (await get('/readyz')).status === 200, 15_000);
      const ready = await waitFor('"relay: ready" once PostgreSQL is up', () => relay.logs.find((line) => line.msg === 'relay: ready'), 15_000);
      assert.equal(typeof ready.notReadyMs, 'number', 'with how long it was not ready');
      assert.equal(ready.store, redactUrl(url), "with the start line's fields");

      const accepted: string[] = [];
      let refusedWhileRunning = 0;
      const load = (async () => {
        for (let index = 0; index < 300; index += 1) {
          const reply = await mailTo(relay.smtpPort, `load ${index}`);
          if (reply?.code === 250) accepted.push(`load ${index}`);
          else {
            assert.match(`${reply?.code} ${reply?.text}`, /^451 4\.3\.0 /, 'anything but 250 is a temporary 451');
            refusedWhileRunning += 1;
          }
        }
      })();
      await waitFor('some mail accepted', () => accepted.length >= 50, 15_000);
      await server.stop();
      await waitFor('a mail refused while PostgreSQL is down', () => refusedWhileRunning > 0, 15_000);
      assert.equal((await get('/readyz')).status, 503, 'not ready while the database is away');
      assert.equal((await get('/healthz')).status, 200, 'alive: a restart would cure nothing');
      await server.start();
      await load;
      await waitFor('ready again, without a restart', async () => (await get('/readyz')).status === 200, 15_000);
      assert.ok(accepted.length >= 100, `${accepted.length} of 300 accepted`);
      await waitFor(
        'every accepted mail at the gateway',
        () => accepted.every((text) => gateway.simulator.received.some((record) => record.text.includes(text))),
        30_000,
      );
      assert.equal(relay.child.exitCode, null, 'the relay kept running');
      assert.equal(relay.logs.filter((line) => line.msg === 'relay: ready').length, 1, "once: an outage while running has the store's own lines");
      assert.ok(!JSON.stringify(relay.logs).includes(`:${new URL(url).password}@`), 'the password is in no log line');
    } finally {
      await relay.stop();
      await gateway.close();
      removeDir(dir);
    }
  });

  test('PostgreSQL stopped under webhook traffic: one "store: commits fail" error line and one "succeed again", none per webhook answered 503, per mail refused 451 or per mail whose outcome could not be recorded', async () => {
    const server = await ownPostgres();
    const gateway = await startSimulator();
    const dir = tempDir();
    const relay = await spawnRelay(
      dir,
      relayEnvironment(
        dir,
        { ...gatewayYaml(gateway.url), inbound: { webhookToken: TOKEN, defaultMailbox: 'operator@example.com' } },
        { SMSRELAY_DATABASE_URL: withDatabase(server.url, 'postgres') },
      ),
    );
    const statuses: number[] = [];
    let sending = true;
    const sender = async (first: number) => {
      for (let index = first; sending; index += 4) {
        const answer = await fetch(`http://127.0.0.1:${relay.httpPort}${webhookPaths('intellisoftware').mo}?token=${TOKEN}`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ msgid: `outage-${index}`, from: PHONE, text: `reply ${index}` }).toString(),
        });
        await answer.arrayBuffer();
        statuses.push(answer.status);
      }
    };
    const senders = [0, 1, 2, 3].map(sender);
    const logged = (level: string, msg: string) => relay.logs.filter((line) => line.level === level && String(line.msg).startsWith(msg)).length;
    try {
      await waitFor('webhooks taken', () => statuses.filter((status) => status === 200).length >= 20, 15_000);
      await server.stop();
      await waitFor('webhooks answered 503 while PostgreSQL is down', () => statuses.filter((status) => status === 503).length >= 100, 15_000);
      // Mail during the outage: each refused 451 (at MAIL FROM once the relay knows, else at DATA), none an error line.
      for (let mail = 0; mail < 5; mail++) assert.equal((await mailTo(relay.smtpPort, `during the outage ${mail}`))?.code, 451, `mail ${mail}`);
      await server.start();
      await waitFor('the outage logged as over', () => logged('info', 'store: commits succeed again') === 1, 30_000);
      sending = false;
      await Promise.all(senders);
      // The heartbeat's one line (docs/operations.md) comes only when the outage outlasts a heartbeat interval: on a
      // loaded machine it may, so it is allowed, once, beside the store's.
      const heartbeat =
        'relay: cannot write its heartbeat; if this lasts longer than delivery.leaseTtl, other relays take over the work in flight (an SMS may reach the gateway twice)';
      const errors = relay.logs.filter((line) => (line.level === 'error' || line.level === 'fatal') && line.msg !== heartbeat);
      assert.ok(relay.logs.filter((line) => line.msg === heartbeat).length <= 1, 'the heartbeat says it once at most');
      assert.deepEqual(
        errors.map((line) => line.msg),
        ['store: commits fail: not ready (mail 451 4.3.0, webhooks 503) until one succeeds'],
        `one error line for ${statuses.filter((status) => status === 503).length} webhooks answered 503`,
      );
      const stacks = relay.logs.filter((line) => JSON.stringify(line).includes('"stack"'));
      assert.deepEqual(
        stacks.map((line) => line.msg),
        [],
        'no stack for an expected outcome of the outage',
      );
    } finally {
      sending = false;
      await Promise.all(senders);
      await relay.stop();
      await gateway.close();
      removeDir(dir);
    }
  });

  test('a start that fails at the SMTP port: the config line only, exit 78, nothing from the loops or the sweep about the store being closed under them', async () => {
    const url = await freshDatabase();
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = String((taken.address() as AddressInfo).port);
    const dir = tempDir();
    try {
      const env = relayEnvironment(dir, {}, { SMSRELAY_DATABASE_URL: url ?? '', SMSRELAY_SMTP_PORT: port, SMSRELAY_LOG_LEVEL: 'info' });
      const result = spawnSync(process.execPath, [BIN, 'start'], {
        cwd: dir,
        env: { PATH: process.env.PATH ?? '', ...env },
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.equal(result.status, 78, result.stderr);
      assert.match(result.stderr, /SMSRELAY_SMTP_PORT=".*the port is in use by another program/);
      const lines = result.stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      const closed = lines.filter((line) => JSON.stringify(line).includes('the store is closed'));
      assert.deepEqual(
        closed.map((line) => line.msg),
        [],
        'the loops and the sweep end before the store closes',
      );
    } finally {
      taken.close();
      removeDir(dir);
    }
  });

  test("PostgreSQL down at the start's sweep: each of its lines gives the store's code and reason, never a stack (docs/operations.md: a stack means a bug)", async () => {
    const server = await ownPostgres();
    const url = withDatabase(server.url, 'postgres');
    const dir = tempDir();
    await server.stop();
    // With store.retention, every step of the sweep meets the store unreachable: the purge too.
    const relay = await spawnRelay(dir, relayEnvironment(dir, { store: { retention: '30d' } }, { SMSRELAY_DATABASE_URL: url }));
    try {
      const sweep = [
        'relay: retention purge failed; tried again later',
        'inbound: dropping expired orphan delivery reports failed; tried again later',
        'inbound: forgetting old part ids of long SMS failed; tried again later',
        'relay: pruning old sending-limit counts, failed logins and failed gateway hosts failed; tried again later',
      ];
      const lines = await waitFor('every step of the sweep failed', () => {
        const found = sweep.map((msg) => relay.logs.find((line) => line.msg === msg));
        return found.every(Boolean) ? found : undefined;
      });
      for (const line of lines) {
        assert.equal(line?.level, 'warn', String(line?.msg));
        assert.equal(line?.code, 'STORE_UNAVAILABLE', String(line?.msg));
        assert.match(String(line?.reason), /ECONNREFUSED/, String(line?.msg));
        assert.equal(line?.err, undefined, `${line?.msg}: no error object, so no stack`);
      }
    } finally {
      await relay.stop();
      removeDir(dir);
    }
  });
});
