/**
 * Every way an SMPP bind can end without bind_resp names its own reason, against raw TCP and TLS servers on
 * loopback: in the bind's log lines (`reason`), the gateway's `still no bind` warning, and the code and words the
 * SMS's history, `smsrelay status` and the pause take from the outcome rules. A connection the SMSC accepted is never
 * "could not be reached"; TLS on one side only is an `error` line saying so.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { COMMAND, encodePdu, STATUS } from '../../src/providers/smpp/pdu.ts';
import { CONNECT_TIMEOUT_MS, failedBinds, type Line } from '../helpers/smpp-bind-failure.ts';

/** A TLS alert record (fatal, protocol_version), as an OpenSSL server writes one to what is no TLS hello. */
const TLS_ALERT = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46]);

/** A loopback server doing `onSocket` with each connection; its URL for the relay (`smpp://` or `smpps://`). */
async function rawServer(onSocket: (socket: Socket) => void, relayTls: boolean): Promise<{ readonly url: string; readonly close: () => Promise<void> }> {
  const server: Server = createServer((socket) => {
    socket.on('error', () => undefined);
    onSocket(socket);
  });
  return listening(server, relayTls);
}

async function listening(server: Server, relayTls: boolean): Promise<{ readonly url: string; readonly close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `${relayTls ? 'smpps' : 'smpp'}://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The attempts' reason, the warning's, the SMS's code and reason are all this failure's. */
function assertNamed(result: Awaited<ReturnType<typeof failedBinds>>, code: string, reason: RegExp, ruleReason: RegExp): void {
  for (const line of result.tries) assert.match(String(line.reason), reason, 'each attempt says why');
  const warning = result.lines.find((line) => line.msg === 'smpp: still no bind; trying again');
  assert.match(String(warning?.reason), reason, 'the still-no-bind warning says why');
  assert.equal(result.outcome.code, code, "the SMS's history and the pause name the failure");
  assert.match(result.outcome.reason, ruleReason);
  assert.doesNotMatch(result.outcome.reason, /could not be reached/, 'the SMSC was reached');
  assert.match(String(result.health.detail), reason, "the gateway's health (status, /readyz) says why");
}

const CLOSED_REASON = /the SMSC (closed|reset) the connection before answering the bind.*allow-list, or TLS on one side only/;
const CLOSED_RULE = /closed the connection before answering the bind: an address allow-list, or TLS on one side only/;

function tlsErrors(lines: readonly Line[]): Line[] {
  return lines.filter((line) => line.level === 'error' && /TLS/.test(String(line.msg)));
}

/** A TLS SMSC with `options` that refuse the relay's hello (or its missing certificate). */
async function refusedHandshake(options: TlsOptions) {
  const server = createTlsServer({
    key: readFileSync(new URL('../fixtures/tls/key.pem', import.meta.url)),
    cert: readFileSync(new URL('../fixtures/tls/cert.pem', import.meta.url)),
    ...options,
  });
  server.on('tlsClientError', () => undefined);
  const smsc = await listening(server, true);
  try {
    return await failedBinds(smsc.url);
  } finally {
    await smsc.close();
  }
}

/** Its own code and words, never "could not be reached"; OpenSSL's reason in one line, without its source paths; one error line. */
function assertRefusedHandshake(result: Awaited<ReturnType<typeof failedBinds>>, openSsl: RegExp): void {
  assertNamed(
    result,
    'SMPP_TLS_HANDSHAKE_REFUSED',
    /the SMSC refused the TLS handshake \(.+\): a TLS version, cipher or client certificate/,
    /refused the TLS handshake/,
  );
  for (const line of result.tries) {
    assert.match(String(line.reason), openSsl);
    assert.doesNotMatch(String(line.reason), /\n|\.c:\d|deps\/openssl|error:[0-9A-F]{8}/, 'one line, no OpenSSL internals');
  }
  assert.deepEqual(
    result.lines.filter((line) => line.level === 'error').map((line) => [line.code, line.msg]),
    [
      [
        'SMPP_TLS_HANDSHAKE_REFUSED',
        "smpp: the SMSC refused the TLS handshake (a TLS version, cipher or client certificate it requires that the relay's does not offer)",
      ],
    ],
    'one error line for the episode',
  );
}

describe('SMPP: why a bind ended without bind_resp', () => {
  test('an SMSC that closes each connection as it is accepted (an address allow-list): closed before the bind was answered', async () => {
    const smsc = await rawServer((socket) => socket.end(), false);
    try {
      assertNamed(await failedBinds(smsc.url), 'SMPP_CLOSED_BEFORE_BIND', CLOSED_REASON, CLOSED_RULE);
    } finally {
      await smsc.close();
    }
  });

  test('an SMSC that closes on the bind it reads (a TLS port given a plain bind, without an alert): closed before the bind was answered', async () => {
    const smsc = await rawServer((socket) => socket.once('data', () => socket.end()), false);
    try {
      assertNamed(await failedBinds(smsc.url), 'SMPP_CLOSED_BEFORE_BIND', CLOSED_REASON, CLOSED_RULE);
    } finally {
      await smsc.close();
    }
  });

  test("a plain bind to Node's TLS server (it closes without a word): closed before the bind was answered", async () => {
    const server = createTlsServer({
      key: readFileSync(new URL('../fixtures/tls/key.pem', import.meta.url)),
      cert: readFileSync(new URL('../fixtures/tls/cert.pem', import.meta.url)),
    });
    server.on('tlsClientError', () => undefined);
    const smsc = await listening(server, false);
    try {
      assertNamed(await failedBinds(smsc.url), 'SMPP_CLOSED_BEFORE_BIND', CLOSED_REASON, CLOSED_RULE);
    } finally {
      await smsc.close();
    }
  });

  test('a plain bind answered with a TLS alert: the port speaks TLS, an error line once that says so', async () => {
    const smsc = await rawServer((socket) => socket.once('data', () => socket.end(TLS_ALERT)), false);
    try {
      const result = await failedBinds(smsc.url);
      assertNamed(result, 'SMPP_PORT_SPEAKS_TLS', /its port speaks TLS \(set gateway\.tls: true\)/, /port speaks TLS.*set gateway\.tls: true/);
      assert.equal(tlsErrors(result.lines).length, 1, 'one error line for the episode');
      assert.equal(result.lines.filter((line) => String(line.msg).includes('cannot be framed')).length, 0, 'no frame error: it is TLS');
    } finally {
      await smsc.close();
    }
  });

  test('tls: true to a plain SMSC that answers the TLS hello with a generic_nack: the port speaks plain SMPP, an error line once', async () => {
    const nack = encodePdu(COMMAND.generic_nack, STATUS.ESME_RINVCMDLEN, 0);
    const smsc = await rawServer((socket) => socket.once('data', () => socket.write(nack)), true);
    try {
      const result = await failedBinds(smsc.url);
      assertNamed(result, 'SMPP_PORT_NOT_TLS', /its port speaks plain SMPP/, /port speaks plain SMPP.*gateway\.tls is true/);
      assert.equal(tlsErrors(result.lines).length, 1, 'one error line for the episode');
    } finally {
      await smsc.close();
    }
  });

  test('tls: true to a plain SMSC that waits for a PDU: no TLS handshake in time, an error line naming TLS on one side', async () => {
    const smsc = await rawServer(() => undefined, true);
    try {
      const result = await failedBinds(smsc.url);
      assertNamed(result, 'SMPP_TLS_HANDSHAKE_TIMEOUT', new RegExp(`no TLS handshake within ${CONNECT_TIMEOUT_MS} ms`), /TLS handshake in time.*plain SMPP/);
      assert.equal(tlsErrors(result.lines).length, 1, 'one error line for the episode, not one at each try');
      assert.ok(result.tries.length >= 2);
      assert.match(String(tlsErrors(result.lines)[0]?.msg), /plain SMPP: TLS on the relay's side only/);
    } finally {
      await smsc.close();
    }
  });

  test('tls: true to a plain SMSC that closes on the TLS hello: closed before the bind was answered, during the handshake', async () => {
    const smsc = await rawServer((socket) => socket.once('data', () => socket.end()), true);
    try {
      const result = await failedBinds(smsc.url);
      assertNamed(result, 'SMPP_CLOSED_BEFORE_BIND', /during the TLS handshake.*allow-list, or TLS on one side only/, CLOSED_RULE);
    } finally {
      await smsc.close();
    }
  });

  test('tls: true to an SMSC that speaks only TLS 1.0/1.1: it refused the handshake, one error line, a one-line reason', async () => {
    const result = await refusedHandshake({ minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' });
    assertRefusedHandshake(result, /protocol version/);
  });

  test('tls: true to an SMSC that wants a client certificate (TLS 1.2): it refused the handshake, one error line, a one-line reason', async () => {
    const result = await refusedHandshake({ maxVersion: 'TLSv1.2', requestCert: true, rejectUnauthorized: true });
    assertRefusedHandshake(result, /handshake failure/);
  });

  test("tls: true to a trusted SMSC that wants a client certificate (TLS 1.3: its alert comes after the relay's handshake, on the bind): it refused the handshake", async () => {
    const server = createTlsServer({
      key: readFileSync(new URL('../fixtures/tls/smarthost-key.pem', import.meta.url)),
      cert: readFileSync(new URL('../fixtures/tls/smarthost-ip.pem', import.meta.url)),
      minVersion: 'TLSv1.3',
      requestCert: true,
      rejectUnauthorized: true,
    });
    server.on('tlsClientError', () => undefined);
    const smsc = await listening(server, true);
    // The relay trusts the SMSC's CA as an operator makes it (NODE_EXTRA_CA_CERTS, read at start): in a process of its own.
    const script = `const { failedBinds } = await import(process.argv[1]);
      process.stdout.write(JSON.stringify(await failedBinds(process.argv[2])));`;
    const source = (path: string) => fileURLToPath(new URL(path, import.meta.url));
    try {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', script, source('../helpers/smpp-bind-failure.ts'), smsc.url],
        { env: { ...process.env, NODE_EXTRA_CA_CERTS: source('../fixtures/tls/ca.pem'), NODE_TLS_REJECT_UNAUTHORIZED: '1' } },
      );
      assertRefusedHandshake(JSON.parse(stdout) as Awaited<ReturnType<typeof failedBinds>>, /certificate required/);
    } finally {
      await smsc.close();
    }
  });

  for (const then of ['waits', 'resets'] as const)
    test(`a plain bind answered with what frames no PDU (an HTTP port that ${then}): no SMPP there, kept through the close, an error line once`, async () => {
      const smsc = await rawServer(
        (socket) =>
          socket.once('data', () => {
            socket.write('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
            // The reset comes when the relay writes again after reading the answer (its generic_nack, or its close), as
            // an HTTP server resets a client that goes on writing after its 400: a reset on a timer could come before the
            // relay (in this process, on a loaded machine) had read the answer, and Linux drops what a reset socket has
            // not read, leaving only ECONNRESET to see.
            if (then === 'resets') {
              const reset = () => socket.resetAndDestroy();
              socket.once('data', reset).once('end', reset);
            }
          }),
        false,
      );
      try {
        const result = await failedBinds(smsc.url);
        assertNamed(
          result,
          'SMPP_NOT_SMPP',
          /answered the bind with what is no SMPP PDU \(wrong port or a proxy\?\)/,
          /no SMPP PDU: the port of another service, or a proxy/,
        );
        const errors = result.lines.filter((line) => line.level === 'error');
        assert.deepEqual(
          errors.map((line) => line.code),
          ['SMPP_NOT_SMPP'],
          'one error line for the episode',
        );
      } finally {
        await smsc.close();
      }
    });

  test('a connected SMSC that never answers the bind: the bind timed out, its error line and code', async () => {
    const smsc = await rawServer(() => undefined, false);
    try {
      const result = await failedBinds(smsc.url);
      assertNamed(
        result,
        'SMPP_BIND_TIMEOUT',
        new RegExp(`no bind_resp within ${CONNECT_TIMEOUT_MS} ms`),
        /did not answer the bind in time.*TLS on one side only/,
      );
    } finally {
      await smsc.close();
    }
  });

  test('a port nothing listens on: refused, which is "could not be reached"', async () => {
    const smsc = await rawServer(() => undefined, false);
    await smsc.close();
    const result = await failedBinds(smsc.url);
    for (const line of result.tries) assert.match(String(line.reason), /ECONNREFUSED/);
    assert.equal(result.outcome.code, 'ECONNREFUSED');
    assert.match(result.outcome.reason, /could not be reached/);
  });
});
