import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { connect as connectTls } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { relayWithSimulator, waitFor } from '../helpers/relay.ts';
import { sleep } from '../helpers/wait.ts';

/**
 * Writes `session` as one client would (each string a write, `pauseMs` between them), closes its
 * sending side (FIN), and reads every reply until the relay closes its own: `printf … | nc -N`, which
 * waits for the greeting.
 */
async function halfClosingSession(port: number, session: readonly string[], pauseMs = 0, overTls = false): Promise<string> {
  const socket: Socket = overTls
    ? connectTls({ host: '127.0.0.1', port, rejectUnauthorized: false })
    : connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  socket.setEncoding('utf8');
  let replies = '';
  socket.on('data', (chunk: string) => {
    replies += chunk;
  });
  const ended = new Promise<void>((resolve, reject) => {
    socket.once('end', resolve);
    socket.once('error', reject);
  });
  await waitFor('the greeting', () => replies.includes('\r\n'));
  for (const [index, part] of session.entries()) {
    if (index > 0) await sleep(pauseMs);
    socket.write(part);
  }
  socket.end();
  await ended;
  socket.destroy();
  return replies;
}

/** The reply codes of a session's transcript, line by line (a multi-line reply's last line only). */
const codes = (transcript: string) =>
  transcript
    .split('\r\n')
    .filter((line) => /^\d{3} /.test(line))
    .map((line) => line.slice(0, 3));

const mail = (number: string, text: string) =>
  `MAIL FROM:<ups@example.com>\r\nRCPT TO:<${number}@sms.localhost>\r\nDATA\r\nSubject: UPS\r\n\r\n${text}\r\n.\r\n`;

/**
 * RFC 5321 section 4.1.1.10: the relay closes the channel only once it has answered what it received.
 * A client that closes its sending side after its last write (nc -N, socat, shutdown(SHUT_WR)) still
 * reads every reply on the other direction: the 250 of each mail, written after its commit, and the 221.
 */
describe('a client that half-closes after writing its session', () => {
  const tls = {
    key: fileURLToPath(new URL('../fixtures/tls/key.pem', import.meta.url)),
    cert: fileURLToPath(new URL('../fixtures/tls/cert.pem', import.meta.url)),
  };
  const setup = relayWithSimulator({ smtp: { trustedNetworks: ['127.0.0.1/32'], tls, tlsPort: 0 }, sms: { domains: ['sms.localhost'] } });
  const sent = (number: string) => setup.gateway.simulator.received.filter((sms) => sms.to === number);

  test('the whole session in one write, then FIN: every command answered, the mail sent once, 221 last', async () => {
    const transcript = await halfClosingSession(setup.port, [`EHLO ups\r\n${mail('447700900620', 'one write')}QUIT\r\n`]);
    assert.deepEqual(codes(transcript), ['220', '250', '250', '250', '354', '250', '221'], transcript);
    await waitFor('the SMS', () => sent('447700900620').length > 0);
    await sleep(200);
    assert.equal(sent('447700900620').length, 1);
  });

  test('paced commands, then the body, QUIT and FIN in one write: the 250 of the mail and the 221 come', async () => {
    const transcript = await halfClosingSession(
      setup.port,
      [
        'HELO script\r\n',
        'MAIL FROM:<ups@example.com>\r\n',
        'RCPT TO:<447700900860@sms.localhost>\r\n',
        'DATA\r\n',
        'Subject: UPS\r\n\r\nUPS on battery\r\n.\r\nQUIT\r\n',
      ],
      100,
    );
    assert.deepEqual(codes(transcript), ['220', '250', '250', '250', '354', '250', '221'], transcript);
    await waitFor('the SMS', () => sent('447700900860').length === 1);
  });

  test('two mails pipelined and no QUIT: both answered 250 before the relay closes its side', async () => {
    const transcript = await halfClosingSession(setup.port, [`EHLO ups\r\n${mail('447700900621', 'first')}${mail('447700900622', 'second')}`]);
    assert.deepEqual(codes(transcript), ['220', '250', '250', '250', '354', '250', '250', '250', '354', '250'], transcript);
    await waitFor('both SMS', () => sent('447700900621').length === 1 && sent('447700900622').length === 1);
  });

  test('over implicit TLS, the whole session then close_notify and FIN: the 250 and the 221 come', async () => {
    const tlsPort = setup.relay.relay.smtpTlsPort;
    assert.ok(tlsPort);
    const transcript = await halfClosingSession(tlsPort, [`EHLO ups\r\n${mail('447700900624', 'over TLS')}QUIT\r\n`], 0, true);
    assert.deepEqual(codes(transcript), ['220', '250', '250', '250', '354', '250', '221'], transcript);
    await waitFor('the SMS', () => sent('447700900624').length === 1);
  });

  test('a FIN in the middle of DATA: the relay closes its side and commits nothing', async () => {
    const transcript = await halfClosingSession(
      setup.port,
      ['EHLO ups\r\nMAIL FROM:<ups@example.com>\r\nRCPT TO:<447700900623@sms.localhost>\r\nDATA\r\nSubject: cut\r\n\r\nhalf a'],
      100,
    );
    assert.deepEqual(codes(transcript), ['220', '250', '250', '250', '354'], transcript);
    await sleep(500);
    assert.equal(sent('447700900623').length, 0);
  });

  test('OpenBSD netcat with -N (when installed): printf … | nc -N gets the 250 and the 221', async (t) => {
    const session = `EHLO ups\r\n${mail('447700900941', 'sent with nc -N')}QUIT\r\n`;
    const nc = spawn('nc', ['-N', '-w', '5', '127.0.0.1', String(setup.port)], { stdio: ['pipe', 'pipe', 'ignore'] });
    const spawned = await new Promise<boolean>((resolve) => {
      nc.once('spawn', () => resolve(true));
      nc.once('error', () => resolve(false));
    });
    if (!spawned) {
      t.skip('nc is not installed');
      return;
    }
    let transcript = '';
    nc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      transcript += chunk;
    });
    nc.stdin.end(session);
    await new Promise((resolve) => nc.once('close', resolve));
    assert.deepEqual(codes(transcript), ['220', '250', '250', '250', '354', '250', '221'], transcript);
    await waitFor('the SMS', () => sent('447700900941').length === 1);
  });
});

/**
 * Half-open only while a session reads the socket: a client's FIN during a TLS handshake closes the
 * connection at once. A connect-then-close probe (nc -z, a Kubernetes tcpSocket probe) on the
 * implicit-TLS port held its socket until smtp.idleTimeout (5 minutes), and smtp-server's bound on
 * handshakes in progress (smtp.maxConnections) then dropped every real TLS client.
 */
describe('a client that closes its side during a TLS handshake', () => {
  const MAX_CONNECTIONS = 10;
  /** Past smtp.maxConnections: each would take a handshake slot if the relay held it. */
  const PROBES = MAX_CONNECTIONS + 2;
  /** Far below smtp.idleTimeout (its default, 5 minutes): the relay closes at the FIN, it does not time out. */
  const CLOSED_WITHIN_MS = 3000;
  const tls = {
    key: fileURLToPath(new URL('../fixtures/tls/key.pem', import.meta.url)),
    cert: fileURLToPath(new URL('../fixtures/tls/cert.pem', import.meta.url)),
  };
  const setup = relayWithSimulator({
    smtp: { trustedNetworks: ['127.0.0.1/32'], tls, tlsPort: 0, maxConnections: MAX_CONNECTIONS },
    sms: { domains: ['sms.localhost'] },
  });

  /** Resolves once the relay has closed the connection, or fails after CLOSED_WITHIN_MS. */
  const closedByRelay = (socket: Socket, what: string) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what}: the relay still holds the connection after ${CLOSED_WITHIN_MS} ms`)), CLOSED_WITHIN_MS);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });

  test(`${PROBES} connect-then-FIN probes on the TLS port are closed at once, and a TLS client then gets its 220`, async () => {
    const tlsPort = setup.relay.relay.smtpTlsPort;
    assert.ok(tlsPort);
    await Promise.all(
      Array.from({ length: PROBES }, async (_, index) => {
        const probe = connect({ host: '127.0.0.1', port: tlsPort, allowHalfOpen: true });
        probe.on('error', () => {});
        await new Promise((resolve) => probe.once('connect', resolve));
        const closed = closedByRelay(probe, `probe ${index + 1}`);
        probe.end();
        await closed;
      }),
    );
    const client = connectTls({ host: '127.0.0.1', port: tlsPort, rejectUnauthorized: false });
    client.setEncoding('utf8');
    let greeting = '';
    client.on('data', (chunk: string) => {
      greeting += chunk;
    });
    client.on('error', () => {});
    try {
      await waitFor('the greeting over TLS', () => greeting.includes('\r\n') || client.destroyed, CLOSED_WITHIN_MS);
      assert.match(greeting, /^220 /);
    } finally {
      client.destroy();
    }
  });

  test('STARTTLS, then FIN before the handshake: the relay closes the connection', async () => {
    const client = connect({ host: '127.0.0.1', port: setup.port, allowHalfOpen: true });
    client.setEncoding('utf8');
    let replies = '';
    client.on('data', (chunk: string) => {
      replies += chunk;
    });
    await waitFor('the greeting', () => replies.includes('\r\n'));
    client.write('EHLO probe\r\n');
    await waitFor("EHLO's 250", () => /^250 /m.test(replies));
    client.write('STARTTLS\r\n');
    await waitFor("STARTTLS's 220", () => /^220 .*TLS/im.test(replies));
    const closed = closedByRelay(client, 'STARTTLS then FIN');
    client.end();
    await closed;
  });
});
