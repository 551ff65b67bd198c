import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { connect as connectTcp, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect as connectTls, type SecureVersion } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/load.ts';
import { type Relay, startRelay } from '../../src/relay.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { relayEnvironment, removeDir, tempDir, waitFor } from '../helpers/relay.ts';

const TLS = {
  key: fileURLToPath(new URL('../fixtures/tls/key.pem', import.meta.url)),
  cert: fileURLToPath(new URL('../fixtures/tls/cert.pem', import.meta.url)),
};

/** A TLS handshake over `socket` (or a new connection to `port`) offering at most `maxVersion`: its error, or undefined when it succeeds. */
function handshake(maxVersion: SecureVersion, target: { socket: Socket } | { port: number }): Promise<string | undefined> {
  return new Promise((resolve) => {
    // SECLEVEL=0: the client's own OpenSSL would otherwise refuse TLS 1.0 before the relay sees it.
    const secure = connectTls({ ...target, host: '127.0.0.1', maxVersion, minVersion: 'TLSv1', rejectUnauthorized: false, ciphers: 'DEFAULT@SECLEVEL=0' });
    secure.once('secureConnect', () => {
      secure.end();
      resolve(undefined);
    });
    secure.once('error', (error) => resolve(error.message));
  });
}

/** EHLO and STARTTLS over a raw socket (after the greeting), then the handshake once STARTTLS is answered 220. */
function startTls(port: number, maxVersion: SecureVersion): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp({ host: '127.0.0.1', port });
    let seen = '';
    socket.setEncoding('utf8');
    socket.on('error', reject);
    socket.on('data', (chunk: string) => {
      const greeted = seen.includes('\r\n');
      seen += chunk;
      if (!greeted && seen.includes('\r\n')) socket.write('EHLO device.example.com\r\nSTARTTLS\r\n');
      if (/\r\n220 [^\r\n]*\r\n$/.test(seen)) {
        socket.removeAllListeners('data');
        handshake(maxVersion, { socket }).then(resolve, reject);
      }
    });
  });
}

describe('TLS versions', () => {
  let relay: Relay;
  let dir: string;
  const log = captureLog('info');
  const lines = () => log.lines.map((line) => JSON.parse(line) as Record<string, unknown>);

  before(async () => {
    dir = tempDir();
    // On every address: its IPv4 clients' sockets say ::ffff:127.0.0.1, logged as 127.0.0.1 all the same.
    const { config } = loadConfig(relayEnvironment(dir, { smtp: { host: '::', tls: TLS, tlsPort: 0 } }), dir);
    relay = await startRelay(config, log.logger);
  });
  after(async () => {
    await relay.stop();
    removeDir(dir);
  });

  test('a client offering only TLS 1.0 or 1.1 (STARTTLS or the TLS port) is refused: an info line saying what is required, no OpenSSL stack, at most once a minute per version offered', async () => {
    const attempts = [
      () => startTls(relay.smtpPort, 'TLSv1'),
      () => startTls(relay.smtpPort, 'TLSv1.1'),
      () => handshake('TLSv1', { port: relay.smtpTlsPort ?? 0 }),
      () => handshake('TLSv1.1', { port: relay.smtpTlsPort ?? 0 }),
    ];
    for (const attempt of attempts) assert.ok(await attempt(), 'the handshake fails');
    const expected = [
      ['TLSv1', 'TLS 1.0'],
      ['TLSv1.1', 'TLS 1.1'],
    ].map(([tls, name]) => ({
      level: 'info',
      client: '127.0.0.1',
      code: 'ERR_SSL_UNSUPPORTED_PROTOCOL',
      tls,
      reason: `the client offered only ${name}; TLS 1.2 or newer is required`,
      msg: 'smtp: TLS handshake failed',
    }));
    const logged = () =>
      lines()
        .filter((line) => line.component === 'smtp')
        .map(({ level, client, code, tls, reason, msg, err }) => ({ level, client, code, tls, reason, msg, ...(err ? { err } : {}) }));
    await waitFor('the log lines', () => logged().length >= expected.length);
    // Nothing more comes: the second attempt with each version falls within the minute.
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(logged(), expected);
  });

  test('failed handshakes (a client that does not trust the certificate, plain text on the TLS port, an abandoned ClientHello) are info lines with the client and the reason, no stack, at most once a minute per reason', async () => {
    log.lines.length = 0;
    const tlsPort = relay.smtpTlsPort ?? 0;
    const plainText = () =>
      new Promise<void>((resolve) => {
        const socket = connectTcp({ host: '127.0.0.1', port: tlsPort }, () => socket.write('EHLO plain\r\n'));
        socket.on('error', () => {});
        socket.on('data', () => {});
        socket.once('close', () => resolve());
      });
    // A TLS record header and the start of a ClientHello, then the client's FIN: a scanner, a load balancer's probe.
    const abandoned = () =>
      new Promise<void>((resolve) => {
        const socket = connectTcp({ host: '127.0.0.1', port: tlsPort }, () => socket.end(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00])));
        socket.on('error', () => {});
        socket.on('data', () => {});
        socket.once('close', () => resolve());
      });
    // A client that verifies the certificate against the system's CAs: OpenSSL's client alerts "unknown CA".
    const distrustful = () =>
      new Promise<void>((resolve) => {
        const client = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${tlsPort}`, '-verify_return_error'], { stdio: ['pipe', 'ignore', 'ignore'] });
        client.on('error', () => resolve());
        client.stdin.end('QUIT\n');
        client.once('close', () => resolve());
      });
    for (let index = 0; index < 3; index++) await plainText();
    for (let index = 0; index < 3; index++) await abandoned();
    const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
    if (hasOpenssl) for (let index = 0; index < 3; index++) await distrustful();
    const expected = [
      { code: 'ERR_SSL_WRONG_VERSION_NUMBER', reason: 'the client spoke plain text (not TLS) to a TLS port, or its TLS is not TLS' },
      { code: 'HANDSHAKE_ABANDONED', reason: 'the client closed the connection during the TLS handshake' },
      ...(hasOpenssl ? [{ code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', reason: "the client does not trust the relay's certificate (unknown CA)" }] : []),
    ].map((line) => ({ level: 'info', client: '127.0.0.1', ...line, msg: 'smtp: TLS handshake failed' }));
    const logged = () =>
      lines()
        .filter((line) => line.component === 'smtp')
        .map(({ level, client, code, reason, msg, err }) => ({ level, client, code, reason, msg, ...(err ? { err } : {}) }));
    await waitFor('the log lines', () => logged().length >= expected.length);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(logged(), expected);
  });

  test('TLS 1.2 and 1.3 clients are taken', async () => {
    assert.equal(await startTls(relay.smtpPort, 'TLSv1.2'), undefined);
    assert.equal(await startTls(relay.smtpPort, 'TLSv1.3'), undefined);
    assert.equal(await handshake('TLSv1.2', { port: relay.smtpTlsPort ?? 0 }), undefined);
  });
});

describe('SIGHUP with bad or expiring TLS files', () => {
  let relay: Relay;
  let dir: string;
  const log = captureLog('info');
  const smtpLines = () =>
    log.lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => typeof line.msg === 'string' && /TLS|smtp\.tls/.test(line.msg));
  const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/tls/${name}`, import.meta.url));
  let files: { key: string; cert: string };

  before(async () => {
    dir = tempDir();
    files = { key: join(dir, 'key.pem'), cert: join(dir, 'cert.pem') };
    copyFileSync(TLS.key, files.key);
    copyFileSync(TLS.cert, files.cert);
    const { config } = loadConfig(relayEnvironment(dir, { smtp: { tls: files, tlsPort: 0 } }), dir);
    relay = await startRelay(config, log.logger);
  });
  after(async () => {
    await relay.stop();
    removeDir(dir);
  });

  test('a certificate of another key is refused whole: one error line naming the setting and the file, and STARTTLS and the TLS port keep the previous pair', async () => {
    copyFileSync(fixture('smarthost-ip.pem'), files.cert);
    log.lines.length = 0;
    relay.reloadTls();
    assert.deepEqual(
      smtpLines().map(({ level, msg, err }) => ({ level, msg, err })),
      [
        {
          level: 'error',
          msg: `smtp: TLS reload failed: smtp.tls.cert: ${files.cert} is the certificate of another key than ${files.key}; name the certificate issued for this key (or the key of this certificate); the previous key and certificate stay in use`,
          err: undefined,
        },
      ],
    );
    assert.equal(await startTls(relay.smtpPort, 'TLSv1.3'), undefined);
    assert.equal(await handshake('TLSv1.3', { port: relay.smtpTlsPort ?? 0 }), undefined);
  });

  test('an expired certificate is taken with a warning naming its expiry date', async () => {
    copyFileSync(fixture('expired-cert.pem'), files.cert);
    log.lines.length = 0;
    relay.reloadTls();
    assert.deepEqual(
      smtpLines().map(({ level, msg }) => ({ level, msg })),
      [
        {
          level: 'warn',
          msg: `smtp: smtp.tls.cert: ${files.cert}: the certificate expired on 2020-01-01: clients that check certificates refuse it; renew it, then send SIGHUP`,
        },
        { level: 'info', msg: 'smtp: TLS key and certificate reloaded' },
      ],
    );
    assert.equal(await startTls(relay.smtpPort, 'TLSv1.3'), undefined);
  });
});
