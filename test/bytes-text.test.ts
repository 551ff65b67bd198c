/** Bytes kept as received shown as text: exact, and in time a page can afford. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { bytesAsText, firstNonUtf8Byte } from '../src/bytes-text.ts';

/** The bytes a text of bytesAsText's stands for, as bash's `printf '%b'` reads it. */
function bytesOf(text: string): Buffer {
  const parts: Buffer[] = [];
  let from = 0;
  for (const found of text.matchAll(/\\x([0-9A-F]{2})|\\\\/g)) {
    parts.push(Buffer.from(text.slice(from, found.index)), found[1] === undefined ? Buffer.from('\\') : Buffer.from([Number.parseInt(found[1], 16)]));
    from = found.index + found[0].length;
  }
  return Buffer.concat([...parts, Buffer.from(text.slice(from))]);
}

/** The largest body a webhook request may have (src/http/server.ts MAX_BODY_BYTES). */
const LARGEST_BODY = 256 * 1024;
/** CPU a page may spend on the largest body, generous for a busy machine: one pass over it takes some 20–40 ms, a character at a time took 300 ms to a second. */
const CPU_BOUND_MS = 150;

describe('bytesAsText', () => {
  it('shows UTF-8 as it is, each byte that is not and each control character as \\xHH, a backslash as \\\\', () => {
    const bytes = Buffer.concat([
      Buffer.from('caf\u00e9 \u20ac\t\n\\ \u0085 \ud83d\ude00'),
      Buffer.from([0xfc, 0x00, 0x1b, 0x7f, 0xe2, 0x82, 0x41, 0xc0, 0xaf]),
    ]);
    assert.deepEqual(bytesAsText(bytes), { text: 'caf\u00e9 \u20ac\t\n\\\\ \\xC2\\x85 \ud83d\ude00\\xFC\\x00\\x1B\\x7F\\xE2\\x82A\\xC0\\xAF', escaped: true });
    assert.deepEqual(bytesAsText(Buffer.from('plain\\ text')), { text: 'plain\\ text', escaped: false });
    assert.equal(firstNonUtf8Byte(bytes), bytes.indexOf(0xfc));
  });

  it('is the bytes exactly, whatever they are', () => {
    for (let round = 0; round < 200; round++) {
      const bytes = randomBytes(1 + (round % 64));
      assert.deepEqual(bytesOf(bytesAsText(bytes).text), bytes, bytes.toString('hex'));
    }
  });

  it('takes tens of ms of CPU for the largest body of control bytes or of Latin-1 text, not a second of the event loop', () => {
    for (const bytes of [Buffer.alloc(LARGEST_BODY, 0x1b), Buffer.from('caf\u00e9 '.repeat(LARGEST_BODY / 5), 'latin1')]) {
      const before = process.cpuUsage();
      const { text } = bytesAsText(bytes);
      const used = process.cpuUsage(before);
      assert.ok(text.length >= bytes.length);
      assert.ok((used.user + used.system) / 1000 < CPU_BOUND_MS, `${(used.user + used.system) / 1000} ms`);
    }
  });
});
