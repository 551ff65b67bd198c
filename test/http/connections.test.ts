import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
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
const statuses = (transcript: string) => [...transcript.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((match) => match[1]);

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

  const healthz = (headers = '') => `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}\r\n`;

  test('after a request with Connection: close, what follows in the same write is ignored: the request gets its own answer (RFC 9112 section 9.6)', async () => {
    const port = relay.relay.httpPort;
    const webhook = await exchange(port, postMo(moForm('90000000000000000311', 'close pipelined'), 'Connection: close\r\n') + healthz(), false);
    assert.deepEqual(statuses(webhook), ['200'], webhook);
    const retried = await exchange(port, postMo(moForm('90000000000000000311', 'close pipelined')), true);
    assert.match(retried, /duplicate/, 'the SMS was taken once, with the 200 its sender saw');
    assert.deepEqual(statuses(await exchange(port, healthz('Connection: close\r\n') + healthz(), false)), ['200']);
    assert.deepEqual(statuses(await exchange(port, 'GET /healthz HTTP/1.0\r\n\r\nGET /healthz HTTP/1.0\r\n\r\n', false)), ['200']);
  });

  test('a request followed by bytes the parser refuses: its own answer first, then 400, then the close', async () => {
    const port = relay.relay.httpPort;
    const garbage = await exchange(port, `${healthz()}garbage here\r\n\r\n`, false);
    assert.deepEqual(statuses(garbage), ['200', '400'], garbage);
    // A gateway that counts Content-Length in characters: the request ends 3 bytes early and those bytes read as a request.
    const form = moForm('90000000000000000313', 'Grüße aus Köln');
    const counted = `POST /webhooks/intellisoftware/mo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${form.length - 3}\r\n\r\n${form}`;
    const answered = await exchange(port, counted, false);
    assert.deepEqual(statuses(answered), ['200', '400'], answered);
  });

  test('Expect: 100-continue with a declared body over the limit is 413 at once, not 100 Continue; one within it gets 100 and its answer', async () => {
    const port = relay.relay.httpPort;
    const head = (length: number) =>
      `POST /webhooks/intellisoftware/mo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nExpect: 100-continue\r\nContent-Length: ${length}\r\n\r\n`;
    const refused = await exchange(port, head(5_000_000), true);
    assert.deepEqual(statuses(refused), ['413'], refused);
    assert.match(refused, /"error":"MESSAGE_TOO_BIG"/);
    const form = moForm('90000000000000000314', 'asked first');
    const taken = await exchange(port, head(Buffer.byteLength(form)) + form, true);
    assert.deepEqual(statuses(taken), ['100', '200'], taken);
  });

  test('a webhook body with Content-Encoding (gzip, br) is 415 naming the coding, not read as a form and quarantined', async () => {
    const form = gzipSync(moForm('90000000000000000315', 'compressed'));
    const head = (coding: string, length: number) =>
      `POST /webhooks/intellisoftware/mo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Encoding: ${coding}\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n`;
    const gzip = await exchange(relay.relay.httpPort, Buffer.concat([Buffer.from(head('gzip', form.length)), form]), false);
    assert.deepEqual(statuses(gzip), ['415'], gzip);
    assert.match(gzip, /accept-encoding: identity/i);
    assert.match(gzip, /"error":"UNSUPPORTED_MEDIA_TYPE","message":"Content-Encoding gzip is not accepted: send the body uncompressed/);
    const plain = moForm('90000000000000000316', 'declared br');
    const br = await exchange(relay.relay.httpPort, head('br', Buffer.byteLength(plain)) + plain, false);
    assert.deepEqual(statuses(br), ['415'], br);
  });

  test('a webhook body with a transfer coding besides chunked (gzip, chunked) is 501 naming the coding, not read as a form and quarantined', async () => {
    const form = gzipSync(moForm('90000000000000000317', 'compressed in transfer'));
    const chunked = Buffer.concat([Buffer.from(`${form.length.toString(16)}\r\n`), form, Buffer.from('\r\n0\r\n\r\n')]);
    const head =
      'POST /webhooks/intellisoftware/mo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: gzip, chunked\r\n\r\n';
    const answer = await exchange(relay.relay.httpPort, Buffer.concat([Buffer.from(head), chunked]), false);
    assert.deepEqual(statuses(answer), ['501'], answer);
    assert.match(answer, /"error":"BAD_REQUEST","message":"Transfer-Encoding gzip is not implemented: send the body with Content-Length or chunked alone"/);
    // chunked alone is read as ever.
    const plain = moForm('90000000000000000318', 'chunked alone');
    const alone = await exchange(
      relay.relay.httpPort,
      `POST /webhooks/intellisoftware/mo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${Buffer.byteLength(plain).toString(16)}\r\n${plain}\r\n0\r\n\r\n`,
      false,
    );
    assert.deepEqual(statuses(alone), ['200'], alone);
  });

  test('an Expect other than 100-continue is 417 with the JSON error every refusal has', async () => {
    const transcript = await exchange(relay.relay.httpPort, healthz('Expect: foo=bar\r\n'), true);
    assert.deepEqual(statuses(transcript), ['417'], transcript);
    assert.match(transcript, /\{"error":"BAD_REQUEST","message":"Expect: foo=bar cannot be met: the only expectation this server meets is 100-continue"\}/);
  });

  test('a URL over the head limit is 414 URI Too Long; long headers stay 431', async () => {
    const longUrl = await exchange(relay.relay.httpPort, `GET /healthz?${'a'.repeat(20_000)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, false);
    assert.deepEqual(statuses(longUrl), ['414'], longUrl.slice(0, 300));
    assert.match(longUrl, /"message":"URI too long: the request line alone is over 16 KB"/);
    const longHeaders = await exchange(relay.relay.httpPort, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`, false);
    assert.deepEqual(statuses(longHeaders), ['431'], longHeaders.slice(0, 300));
  });
});
