import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { captureLog } from '../helpers/log-lines.ts';
import { GATEWAY_ACCOUNT, relayEnvironment, removeDir, runCommand, startTestRelay, tempDir, waitFor } from '../helpers/relay.ts';
import { type RecordedRequest, type ReplayAnswer, ReplayServer } from '../helpers/replay-server.ts';
import { queuedId, sendMail } from '../helpers/smtp.ts';

/**
 * A gateway URL's query (a proxy's or API gateway's token in front of the provider) is sent with every
 * request, and shown nowhere: not in an SMS's history (the store, `smsrelay log`, `smsrelay status`), not
 * in a log line. Its credentials (`user:pass@`) are refused at start, naming the setting.
 */

const KEY = 'QueryS3cretXYZ';
const dirs: string[] = [];
const servers: ReplayServer[] = [];
after(async () => {
  await Promise.all(servers.map((server) => server.close()));
  dirs.forEach(removeDir);
});

async function gateway(answer: ReplayServer['answer']): Promise<ReplayServer> {
  const server = await new ReplayServer({ contentType: 'text/plain', answer }).start();
  servers.push(server);
  return server;
}

/** Every file under `dir`, as bytes read as Latin-1: a value stored anywhere in it, in the database or its WAL. */
function filesHolding(dir: string, value: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
    .filter((path) => readFileSync(path).toString('latin1').includes(value));
}

describe("a gateway URL's query", () => {
  test('is sent to the primary and the backup as written, and every history line, log line and command shows it masked', async () => {
    const primary = await gateway({ status: 503, body: 'down' });
    const backup = await gateway({ status: 200, body: 'ID:B-1' });
    // The backup's first answer comes after responseTimeout: the SMS waits, and the host is "not answering".
    let held = false;
    backup.respond = async () => {
      if (held) return backup.answer;
      held = true;
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      return backup.answer;
    };
    const query = `?apikey=${KEY}&v=2`;
    const dir = tempDir('smsrelay-url-secrets-');
    dirs.push(dir);
    const yaml = {
      gateway: {
        provider: 'intellisoftware',
        url: `${primary.url}/gw${query}`,
        backupUrl: `${backup.url}/gw${query}`,
        ...GATEWAY_ACCOUNT,
        responseTimeout: '1s',
      },
      delivery: { retryMinDelay: '200ms', retryMaxDelay: '400ms' },
    };
    const { logger, lines } = captureLog('info');
    const relay = await startTestRelay(yaml, {}, dir, {}, logger);
    try {
      const sent = await sendMail(relay.relay.smtpPort, { to: ['447700900911@sms.localhost'], body: 'a query secret' });
      const id = queuedId(sent.data);
      await waitFor('the SMS sent by the backup', async () => (await relay.relay.store.smsOf(id))[0]?.status === 'sent', 30_000);
      for (const server of [primary, backup]) assert.equal(server.requests[0]?.path, `/gw/smsgateway/sendmsg.aspx${query}`, 'the query as written');
      const env = relayEnvironment(dir, yaml);
      const log = runCommand(dir, env, 'log', id);
      assert.equal(log.status, 0, log.stderr);
      const history = log.stdout;
      const shown = (server: ReplayServer) => `via ${server.url}/gw?apikey=***&v=***`;
      assert.ok(history.includes(`failed over: HTTP_503: `) && history.includes(`"down"); ${shown(primary)}\n`), history);
      assert.ok(history.includes(`deferred: RESPONSE_TIMEOUT: `) && history.includes(`may have been sent; ${shown(backup)}\n`), history);
      const status = runCommand(dir, env, 'status');
      assert.equal(status.status, 0, status.stderr);
      assert.ok(
        lines.some((line) => line.includes(`the SMS gateway at ${backup.url}/gw?apikey=***&v=*** is not answering`)),
        'the warn line names the host, masked',
      );
      for (const [what, text] of [
        ['smsrelay log', history],
        ['smsrelay status', status.stdout + status.stderr],
        ['the log', lines.join('\n')],
      ] as const) {
        assert.ok(!text.includes(KEY), `${what} holds the query's secret`);
      }
      await relay.stop();
      assert.deepEqual(filesHolding(join(dir, 'data'), KEY), [], 'the store holds it nowhere');
    } finally {
      await relay.stop();
    }
  });
});

describe("a gateway URL's query echoed by the gateway or a proxy in front of it", () => {
  // Three values: one long (a key), one short under a secret's name (a signature), one common (`json`), which stays.
  const query = `?apikey=${KEY}&format=json&sig=Zq9w`;
  const cases: ReadonlyArray<readonly [string, (request: RecordedRequest) => ReplayAnswer, string]> = [
    [
      'a redirect keeping the query (nginx `return 301 https://$host$request_uri`)',
      (request) => ({ status: 301, body: '', headers: { location: `https://gw.example.net${request.path}` } }),
      'redirected to https://gw.example.net/gw/smsgateway/sendmsg.aspx?apikey=***&format=***&sig=***',
    ],
    [
      'a relative redirect',
      (request) => ({ status: 302, body: '', headers: { location: `/moved${request.path}` } }),
      'redirected to http://127.0.0.1:PORT/moved/gw/smsgateway/sendmsg.aspx?apikey=***&format=***&sig=***',
    ],
    [
      'an error page quoting the URL asked for (IIS\'s "Requested URL")',
      (request) => ({ status: 404, body: `<html><body>Not Found. Requested URL: http://127.0.0.1${request.path} (format json)</body></html>` }),
      '/gw/smsgateway/sendmsg.aspx?apikey=***&format=***&sig=*** (format json)',
    ],
  ];
  for (const [name, answer, said] of cases) {
    test(`${name}: the history, smsrelay log and status, and the log lines carry no query secret, a common value left in its words`, async () => {
      const server = await gateway({ status: 200, body: 'ID:1' });
      server.respond = answer;
      const dir = tempDir('smsrelay-url-echo-');
      dirs.push(dir);
      const yaml = { gateway: { provider: 'intellisoftware', url: `${server.url}/gw${query}`, ...GATEWAY_ACCOUNT, responseTimeout: '1s' } };
      const { logger, lines } = captureLog('info');
      const relay = await startTestRelay(yaml, {}, dir, {}, logger);
      try {
        const id = queuedId((await sendMail(relay.relay.smtpPort, { to: ['447700900911@sms.localhost'], body: 'an echo' })).data);
        await waitFor(
          'the refusal in the history',
          async () => (await relay.relay.store.events(id)).some((event) => event.detail?.includes('the gateway said')),
          20_000,
        );
        assert.equal(server.requests[0]?.path, `/gw/smsgateway/sendmsg.aspx${query}`, 'the query sent as written');
        const env = relayEnvironment(dir, yaml);
        const log = runCommand(dir, env, 'log', id);
        assert.equal(log.status, 0, log.stderr);
        assert.ok(log.stdout.includes(said.replace('PORT', new URL(server.url).port)), log.stdout);
        const status = runCommand(dir, env, 'status');
        for (const [what, text] of [
          ['smsrelay log', log.stdout],
          ['smsrelay status', status.stdout + status.stderr],
          ['the log', lines.join('\n')],
        ] as const) {
          assert.ok(!text.includes(KEY) && !text.includes('Zq9w'), `${what} holds a query secret:\n${text}`);
        }
      } finally {
        await relay.stop();
      }
    });
  }
});

test('a history an older relay wrote with a gateway URL as written (its query or credentials) is shown masked by smsrelay log', async () => {
  const primary = await gateway({ status: 503, body: 'down' });
  const backup = await gateway({ status: 200, body: 'ID:B-1' });
  const dir = tempDir('smsrelay-url-old-history-');
  dirs.push(dir);
  const yaml = {
    gateway: { provider: 'intellisoftware', url: `${primary.url}/gw?apikey=${KEY}`, backupUrl: `${backup.url}/gw?apikey=${KEY}`, ...GATEWAY_ACCOUNT },
  };
  const relay = await startTestRelay(yaml, {}, dir, {}, undefined);
  let id: string;
  try {
    id = queuedId((await sendMail(relay.relay.smtpPort, { to: ['447700900911@sms.localhost'], body: 'old history' })).data);
    await waitFor('the SMS sent by the backup', async () => (await relay.relay.store.smsOf(id))[0]?.status === 'sent', 30_000);
  } finally {
    await relay.stop();
  }
  // What a relay before masking wrote: the URL as configured, and one with credentials as such a relay took them.
  const db = new BetterSqlite3(join(dir, 'data', 'smsrelay.db'));
  db.prepare("UPDATE events SET detail = replace(detail, 'apikey=***', ?) WHERE detail LIKE '%via%'").run(`apikey=${KEY}`);
  db.prepare("UPDATE events SET detail = detail || ? WHERE kind = 'sent'").run(` (was http://u:${KEY}@127.0.0.1/gw)`);
  db.close();
  const log = runCommand(dir, relayEnvironment(dir, yaml), 'log', id);
  assert.equal(log.status, 0, log.stderr);
  assert.ok(log.stdout.includes(`via ${primary.url}/gw?apikey=***`) && log.stdout.includes('http://***@127.0.0.1/gw'), log.stdout);
  assert.ok(!log.stdout.includes(KEY), log.stdout);
});

describe("a gateway URL's credentials", () => {
  for (const [variable, key] of [
    ['SMSRELAY_GATEWAY_URL', 'url'],
    ['SMSRELAY_GATEWAY_BACKUP_URL', 'backupUrl'],
  ] as const) {
    test(`in gateway.${key}, from the file or ${variable}, are refused at start naming the setting and the account's settings, the password masked`, async () => {
      const dir = tempDir('smsrelay-url-credentials-');
      dirs.push(dir);
      const written = 'https://proxyuser:Pr0xyS3cret@gw.example.com/gw';
      const account = { provider: 'intellisoftware', url: 'https://gw.example.com', ...GATEWAY_ACCOUNT };
      const fromFile = runCommand(dir, relayEnvironment(dir, { gateway: { ...account, [key]: written } }), 'start');
      const fromVariable = runCommand(dir, relayEnvironment(dir, { gateway: account }, { [variable]: written }), 'start');
      for (const [source, result] of [
        [`smsrelay.yaml: gateway.${key}`, fromFile],
        [`${variable}="https://***@gw.example.com/gw"`, fromVariable],
      ] as const) {
        assert.equal(result.status, 78, result.stderr);
        const refusal = `${source}: carries a user name or password before the host, which the relay does not send; put the account's in gateway.username and gateway.password`;
        assert.ok(result.stderr.includes(refusal), result.stderr);
        assert.ok(!result.stderr.includes('Pr0xyS3cret'), result.stderr);
      }
    });
  }
});
