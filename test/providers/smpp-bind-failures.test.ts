/**
 * Every way an SMPP bind can end without bind_resp names its own reason, against raw TCP and TLS servers on
 * loopback: in the bind's log lines (`reason`), the gateway's `still no bind` warning, and the code and words the
 * SMS's history, `smsrelay status` and the pause take from the outcome rules. A connection the SMSC accepted is never
 * "could not be reached"; TLS on one side only is an `error` line saying so.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { describe, test } from 'node:test';
import { outcomeClassifier } from '../../src/dispatch/outcomes.ts';
import type { SmsSubmission } from '../../src/providers/contract.ts';
import { createSmppGateway } from '../../src/providers/smpp/adapter.ts';
import { smppPlugin } from '../../src/providers/smpp/index.ts';
import { COMMAND, encodePdu, STATUS } from '../../src/providers/smpp/pdu.ts';
import { REAL_TIMERS, type Timers } from '../../src/timers.ts';
import { collectingSink } from '../helpers/gateway.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { waitFor } from '../helpers/wait.ts';

const { classifyRecipient } = outcomeClassifier(smppPlugin.outcomeRules);
const CONNECT_TIMEOUT_MS = 1_000;
/** A TLS alert record (fatal, protocol_version), as an OpenSSL server writes one to what is no TLS hello. */
const TLS_ALERT = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46]);

const sms: SmsSubmission = {
  messageId: 'm-bind-failure',
  recipients: ['+447700900230'],
  text: 'hello',
  encoding: 'gsm7',
  maxParts: 10,
  deliveryReport: true,
};

type Line = Record<string, unknown>;

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

/**
 * Binds against `url` until two attempts failed, then sends an SMS (no bind: its outcome is why); `timers` moved 11 s
 * on after the first attempt, so the next failure is the gateway's `still no bind` warning.
 */
async function failedBinds(url: string) {
  const log = captureLog('info');
  let skew = 0;
  const timers: Timers = { ...REAL_TIMERS, now: () => REAL_TIMERS.now() + skew };
  const gateway = createSmppGateway(
    {
      sharedQueue: false,
      endpoints: [url],
      username: 'smpp-test',
      password: 'smpp-pw',
      accountId: undefined,
      sessions: false,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      responseTimeoutMs: 2_000,
      connectionsPerEndpoint: 1,
      logger: log.logger,
      settings: smppPlugin.settings.schema.parse({}),
      defaultRegion: 'GB',
    },
    timers,
  );
  const lines = () => log.lines.map((line) => JSON.parse(line) as Line);
  const tries = () => lines().filter((line) => line.msg === 'smpp: no bind; trying again');
  try {
    await gateway.start({ inbound: collectingSink().sink });
    await waitFor('a first failed bind', () => tries().length >= 1, 10_000);
    skew = 11_000;
    await waitFor('the still-no-bind warning', () => lines().some((line) => line.msg === 'smpp: still no bind; trying again'), 10_000);
    const outcome = classifyRecipient(await gateway.send(sms, 0), '+447700900230');
    return { lines: lines(), tries: tries(), outcome, health: gateway.health() };
  } finally {
    await gateway.close();
  }
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
      assert.ok(tlsErrors(result.lines).length >= 1, 'an error line');
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
