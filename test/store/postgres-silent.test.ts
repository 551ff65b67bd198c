/**
 * A database host that vanishes without a word (power lost, a network partition, a firewall that drops):
 * no reset, no FIN, the relay's sockets simply stop getting answers. A stopped server (postgres-relay's
 * outage test) closes its connections and the relay notices at once; here only the relay's own watch
 * can notice. Through a TCP proxy on 127.0.0.1 that goes silent: it keeps every socket open and forwards
 * nothing, and new connections are accepted and never answered.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { webhookPaths } from '../../src/http/webhooks.ts';
import pg from 'pg';
import { notifyStatement, WorkListener, type WorkQueue } from '../../src/store/postgres/notify.ts';
import { PostgresStore } from '../../src/store/postgres/store.ts';
import { createLogger } from '../../src/log.ts';
import { postgresProxy } from '../helpers/postgres-proxy.ts';
import { describeOnPostgres, freshDatabase, ownPostgres, withClient, withDatabase } from '../helpers/postgres.ts';
import { mail } from '../helpers/store.ts';
import { gatewayYaml, killSpawnedRelays, relayEnvironment, removeDir, spawnRelay, startSimulator, tempDir, waitFor } from '../helpers/relay.ts';
import { textTo } from '../helpers/smtp.ts';

const PHONE = '447700900123';
const TOKEN = 'test-webhook-token-0123456789';

after(killSpawnedRelays);

/** A mail from alice (who gets the replies) to PHONE: the end-of-data reply, or the RCPT reply when that refused it. */
const mailTo = (port: number, text: string) => textTo(port, PHONE, text);

describeOnPostgres('the relay on PostgreSQL whose host goes silent', async () => {
  test('a database that stops answering without closing: 451 4.3.0 / 503 / not ready within seconds, nothing answered 250 is lost, ready again without a restart when it answers', {
    timeout: 60_000,
  }, async () => {
    const server = await ownPostgres();
    const proxy = await postgresProxy(withDatabase(server.url, 'postgres'));
    const gateway = await startSimulator();
    const dir = tempDir();
    const relay = await spawnRelay(
      dir,
      relayEnvironment(dir, { ...gatewayYaml(gateway.url), inbound: { webhookToken: TOKEN } }, { SMSRELAY_DATABASE_URL: proxy.url }),
    );
    // A health check answers within seconds, whatever the database does: load balancers give up after 2–5 s.
    const get = (path: string) => fetch(`http://127.0.0.1:${relay.httpPort}${path}`, { signal: AbortSignal.timeout(3_000) });
    try {
      await waitFor('ready', async () => (await get('/readyz')).status === 200, 15_000);
      assert.equal((await mailTo(relay.smtpPort, 'before'))?.code, 250);

      proxy.silence();
      const started = Date.now();
      const during = await mailTo(relay.smtpPort, 'during');
      const waited = Date.now() - started;
      assert.equal(during?.code, 451, `a mail while the database is silent: ${during?.code} ${during?.text} after ${waited} ms`);
      assert.match(during?.text ?? '', /^4\.3\.0 /);
      assert.ok(waited < 15_000, `answered after ${waited} ms`);
      await waitFor('not ready', async () => (await get('/readyz')).status === 503, 15_000);
      const healthStarted = Date.now();
      assert.equal((await get('/readyz')).status, 503);
      assert.ok(Date.now() - healthStarted < 1_500, `/readyz answered after ${Date.now() - healthStarted} ms`);
      const webhook = await fetch(`http://127.0.0.1:${relay.httpPort}${webhookPaths('intellisoftware').mo}?token=${TOKEN}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ msgid: 'mo-1', from: PHONE, text: 'hi' }).toString(),
        signal: AbortSignal.timeout(20_000),
      });
      assert.equal(webhook.status, 503);

      proxy.heal();
      await waitFor('ready again, without a restart', async () => (await get('/readyz')).status === 200, 30_000);
      assert.equal((await mailTo(relay.smtpPort, 'after'))?.code, 250);
      await waitFor(
        'the mails answered 250 at the gateway',
        () => ['before', 'after'].every((text) => gateway.simulator.received.some((record) => record.text.includes(text))),
        30_000,
      );
      assert.equal(relay.child.exitCode, null, 'the relay kept running');
    } finally {
      await relay.stop();
      await gateway.close();
      await proxy.close();
      removeDir(dir);
    }
  });

  test('a slow statement on a server that answers is not cut: a mail whose commit waits 8 s on a lock is accepted', { timeout: 60_000 }, async () => {
    const url = (await freshDatabase()) ?? '';
    const proxy = await postgresProxy(url);
    const healths: string[] = [];
    const store = await PostgresStore.open({ url: proxy.url }, (health) => healths.push(health.state));
    const locker = new pg.Client({ connectionString: url });
    locker.on('error', () => undefined);
    await locker.connect();
    try {
      await store.acceptMail(mail(['447700900001']));
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE messages IN ACCESS EXCLUSIVE MODE');
      const started = Date.now();
      const accepted = store.acceptMail(mail(['447700900002']));
      // Past the watch's suspicion (3 s) and its question to the server (answered at once): held by the lock only.
      await new Promise((resolve) => setTimeout(resolve, 8_000));
      await locker.query('COMMIT');
      await accepted;
      assert.ok(Date.now() - started >= 8_000);
      assert.deepEqual(healths, [], 'never failing');
    } finally {
      await locker.end();
      await store.close();
      await proxy.close();
    }
  });

  test("the connection that hears other relays' work goes silent: its check notices, it connects again and hears again", { timeout: 60_000 }, async () => {
    const url = (await freshDatabase()) ?? '';
    const proxy = await postgresProxy(url);
    const woken: WorkQueue[][] = [];
    const listener = new WorkListener({
      connection: { connectionString: proxy.url },
      tag: 'this',
      onWake: (queues) => woken.push([...queues]),
      logger: createLogger('silent'),
      checkEveryMs: 500,
    });
    listener.start();
    try {
      // Each connection, the first included, looks once for what came while nobody listened.
      await waitFor('listening', () => woken.length === 1, 10_000);
      proxy.silence();
      proxy.heal();
      await waitFor('listening again on a new connection', () => woken.length === 2, 20_000);
      await withClient(url, (client) => client.query(notifyStatement(['sms'], 'other')));
      await waitFor("another relay's notification heard", () => woken.length === 3, 10_000);
      assert.deepEqual(woken[2], ['sms']);
    } finally {
      await listener.stop();
      await proxy.close();
    }
  });
});
