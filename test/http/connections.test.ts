import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { removeDir, startTestRelay, type TestRelay } from '../helpers/relay.ts';

/**
 * Writes `raw` in one write on a new connection, closes the sending side at once when `halfClose`
 * (what a client does with shutdown(SHUT_WR) after its request), and reads every byte until the relay
 * closes its side.
 */
function exchange(port: number, raw: string | Buffer, halfClose: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => {
      socket.write(raw);
      if (halfClose) socket.end();
    });
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      received += chunk;
    });
    socket.on('error', reject);
    socket.on('end', () => {
      socket.destroy();
      resolve(received);
    });
  });
}

/** The status lines of the responses in `transcript`, in order. */
const statuses = (transcript: string) => [...transcript.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((match) => match[1]);

const moForm = (msgid: string, text: string) => new URLSearchParams({ from: '447700900311', text, msgid, sent: '2026-12-06T08:00:00Z' }).toString();

const postMo = (form: string, headers = '') =>
  `POST /webhooks/intellisoftware/mo HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${Buffer.byteLength(form)}\r\n\r\n${form}`;

/** How the HTTP port treats a connection as a whole: a client that half-closes, requests pipelined after one. */
describe('HTTP connections', () => {
  let relay: TestRelay;

  before(async () => {
    relay = await startTestRelay();
  });
  after(async () => {
    await relay.stop();
    removeDir(relay.dir);
  });

  test('a webhook client that closes its sending side after its request gets its answer, then the close (RFC 9112 section 9.6)', async () => {
    const transcript = await exchange(relay.relay.httpPort, postMo(moForm('90000000000000000060', 'half closed')), true);
    assert.deepEqual(statuses(transcript), ['200'], transcript);
    const again = await exchange(relay.relay.httpPort, postMo(moForm('90000000000000000060', 'half closed')), true);
    assert.deepEqual(statuses(again), ['200'], again);
    assert.match(again, /duplicate/);
  });

  test('GET /healthz, then FIN: 200 before the close', async () => {
    const transcript = await exchange(relay.relay.httpPort, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', true);
    assert.deepEqual(statuses(transcript), ['200'], transcript);
  });

  test('a request cut short by the FIN (head or body) is answered 400 and nothing is taken', async () => {
    const form = moForm('90000000000000000062', 'cut');
    const cutBody = await exchange(relay.relay.httpPort, postMo(form).slice(0, -5), true);
    assert.deepEqual(statuses(cutBody), ['400'], cutBody);
    const cutHead = await exchange(relay.relay.httpPort, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n', true);
    assert.deepEqual(statuses(cutHead), ['400'], cutHead);
    const retried = await exchange(relay.relay.httpPort, postMo(form), true);
    assert.deepEqual(statuses(retried), ['200'], retried);
    assert.doesNotMatch(retried, /duplicate/, retried);
  });
});
