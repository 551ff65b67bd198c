import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toBuffers } from '../../src/store/thread-wire.ts';

test('what crossed to the store thread gets its Buffers back, in place: views over the cloned bytes, no copy of the objects around them', () => {
  const sent = {
    id: 'mail-1',
    raw: Buffer.from('raw bytes'),
    recipients: ['alice@example.com'],
    mail: [{ kind: 'bounce', raw: Buffer.from('a bounce'), onceKey: undefined }],
    client: { address: '127.0.0.1', helo: null },
    seen: new Set(['x']),
  };
  // What the other thread receives: the structured clone postMessage makes (Buffers arrive as Uint8Arrays).
  const received = structuredClone(sent) as unknown as typeof sent;
  assert.ok(!Buffer.isBuffer(received.raw));
  const mail = received.mail;
  const first = mail[0];
  const converted = toBuffers(received) as typeof sent;
  assert.equal(converted, received, 'the same object');
  assert.equal(converted.mail, mail, 'the same array');
  assert.equal(converted.mail[0], first, 'the same nested object');
  assert.ok(Buffer.isBuffer(converted.raw) && Buffer.isBuffer(converted.mail[0]?.raw));
  assert.deepEqual(converted, sent);
  const bytes = (structuredClone({ raw: Buffer.from('view') }) as { raw: Uint8Array }).raw;
  const view = toBuffers(bytes) as Buffer;
  bytes[0] = 'V'.charCodeAt(0);
  assert.equal(view.toString(), 'View', 'a view over the received bytes, not a copy');
  assert.deepEqual(toBuffers([1, 'two', null, undefined]), [1, 'two', null, undefined]);
});
