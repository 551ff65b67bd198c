import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import iconv from 'iconv-lite';
import { relayWithSimulator, waitFor } from '../helpers/relay.ts';
import { sendMail } from '../helpers/smtp.ts';

/**
 * The most CPU time the relay's event loop may spend without a break while one 9 MB mail is read and
 * refused: the same mail in UTF-8 takes 60–130 ms at most in one go; decoding the whole body took 3–4 s
 * in UTF-7, half a second in ISO-2022-KR. CPU time, not the timer's delay: on a loaded machine (the
 * suite's files run side by side) the delay grows with the wait for a core.
 */
const MAX_STALL_CPU_MS = 300;
/** How often the stall is sampled. */
const TICK_MS = 10;

const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

/** The most CPU time this process (the relay's, in this process) spent between two ticks of a timer while `work` runs: its longest task. */
async function longestStall(work: () => Promise<unknown>): Promise<number> {
  let last = cpuMs();
  let longest = 0;
  const timer = setInterval(() => {
    const now = cpuMs();
    longest = Math.max(longest, now - last);
    last = now;
  }, TICK_MS);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return longest;
}

/** A body of these bytes, in base64 (lines of 76) when they are not ASCII (UTF-32's). */
const written = (bytes: Buffer) =>
  bytes.every((byte) => byte < 0x80)
    ? { encoding: '8bit', body: bytes.toString('latin1') }
    : { encoding: 'base64', body: bytes.toString('base64').replace(/.{76}/g, '$&\r\n') };

/** About 9 MB of a line repeated. */
const nineMegabytes = (line: Buffer) => Buffer.concat(Array.from({ length: Math.ceil(9_000_000 / line.length) }, () => line));

describe('SMTP: decoding a large body in a costly charset does not hold up the relay', () => {
  const suite = relayWithSimulator({ sms: { domains: ['sms.example.com'], defaultRegion: 'GB' } });

  // Each body's charset decoder is at its costliest per byte: a shift in and out for every character.
  const mails: ReadonlyArray<readonly [string, string, Buffer]> = [
    ['UTF-7, a shifted run per character', 'text/plain; charset=utf-7', Buffer.from(`${'+AGE-'.repeat(16_000)}\r\n`)],
    ['UTF-7 HTML', 'text/html; charset=utf-7', Buffer.from(`<p>${'+AGE-'.repeat(16_000)}\r\n`)],
    ['ISO-2022-KR, a shift every five bytes', 'text/plain; charset=iso-2022-kr', Buffer.from(`\x1b$)C${'a\x0eGQ\x0f'.repeat(16_000)}\r\n`, 'latin1')],
    ['UTF-32', 'text/plain; charset=utf-32be', iconv.encode(`${'a'.repeat(20_000)}\n`, 'utf-32be')],
  ];
  for (const [name, contentType, line] of mails)
    test(`${name}: the loop never runs ${MAX_STALL_CPU_MS} ms of CPU without a break, and the mail is refused for its first characters`, async () => {
      const { encoding, body } = written(nineMegabytes(line));
      let refusal = '';
      const stall = await longestStall(async () => {
        const { data } = await sendMail(suite.port, {
          to: ['447700900123@sms.example.com'],
          headers: { 'Content-Type': contentType, 'Content-Transfer-Encoding': encoding },
          body,
        });
        refusal = `${data?.code} ${data?.text}`;
      });
      assert.match(refusal, /^554 5\.3\.4 Text too long: its first 131072 characters alone \(the rest was not read\)/);
      assert.ok(stall < MAX_STALL_CPU_MS, `${name}: the event loop ran ${Math.round(stall)} ms of CPU without a break`);
    });

  test('a usual mail in each of these charsets reads as before', async () => {
    const sent: ReadonlyArray<readonly [string, string, Buffer]> = [
      ['447700900124', 'text/plain; charset=utf-7', Buffer.from('Caf+AOk- M+APw-ller +ZeVnLIqe- +-1')],
      ['447700900125', 'text/html; charset=utf-7', Buffer.from('<p>Caf+AOk-</p><p>M+APw-ller</p>')],
      // ISO-2022-KR is EUC-KR's bytes without their high bit, between SO and SI.
      [
        '447700900126',
        'text/plain; charset=iso-2022-kr',
        Buffer.from(
          `\x1b$)C\x0e${iconv.decode(
            iconv.encode('안녕하세요', 'euc-kr').map((byte) => byte & 0x7f),
            'latin1',
          )}\x0f`,
          'latin1',
        ),
      ],
      ['447700900127', 'text/plain; charset=utf-32be', iconv.encode('Grüße 👋', 'utf-32be')],
    ];
    for (const [to, contentType, bytes] of sent) {
      const { encoding, body } = written(bytes);
      const headers = { 'Content-Type': contentType, 'Content-Transfer-Encoding': encoding };
      const { data } = await sendMail(suite.port, { to: [`${to}@sms.example.com`], headers, body });
      assert.equal(data?.code, 250, data?.text);
    }
    const texts = await Promise.all(
      sent.map(([to]) => waitFor(`the SMS to ${to}`, () => suite.gateway.simulator.received.find((sms) => sms.to === to)).then((sms) => sms.text)),
    );
    assert.deepEqual(texts, ['Café Müller 日本語 +1', 'Café\n\nMüller', '안녕하세요', 'Grüße 👋']);
  });
});
