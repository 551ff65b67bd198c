import { isAscii } from 'node:buffer';
import { Readable, Writable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { Joiner, Rewriter, Splitter } from '@zone-eu/mailsplit';

/**
 * The mail for a server that does not offer 8BITMIME (RFC 6152 §3: an 8-bit body may not go to it):
 * each part whose body has 8-bit octets is re-encoded quoted-printable, its Content-Transfer-Encoding
 * said so; the structure, the boundaries and every other part stay byte for byte (mailsplit's
 * Rewriter and Joiner). Headers are left as they are: 8-bit header text is UTF-8 headers (RFC 6532),
 * which no transfer encoding covers.
 */
export async function sevenBitBody(raw: Buffer): Promise<Buffer> {
  // The parts to re-encode, by their place among the mail's nodes: a node's headers come before its body.
  const eightBit = new Set<number>();
  let node = -1;
  await pipeline(
    Readable.from([raw]),
    new Splitter(),
    new Writable({
      objectMode: true,
      write(data: { type: string; value?: Buffer }, _encoding, done) {
        if (data.type === 'node') node += 1;
        else if (data.type === 'body' && data.value && !isAscii(data.value)) eightBit.add(node);
        done();
      },
    }),
  );
  let seen = -1;
  const rewriter = new Rewriter(() => eightBit.has(++seen));
  rewriter.on('node', ({ decoder, encoder }) => decoder.pipe(encoder));
  const joiner = new Joiner();
  const [joined] = await Promise.all([buffer(joiner), pipeline(Readable.from([raw]), new Splitter(), rewriter, joiner)]);
  return joined;
}
