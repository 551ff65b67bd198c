import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { relayWithSimulator, waitFor } from '../helpers/relay.ts';
import { SmtpDialog } from '../helpers/smtp.ts';

/**
 * The relay's socket writes, counted where node hands a socket's buffered data to the kernel
 * (`_write` for one chunk, `_writev` for several): the relay runs in this process, so its side of
 * each SMTP connection is a socket whose local port is the relay's.
 */
function countFlushes(port: () => number): { readonly flushes: () => number; readonly restore: () => void } {
  const prototype = Socket.prototype as unknown as Record<'_write' | '_writev', (...args: unknown[]) => unknown>;
  const originals = { _write: prototype._write, _writev: prototype._writev };
  let flushes = 0;
  for (const name of ['_write', '_writev'] as const) {
    const original = originals[name];
    prototype[name] = function counted(this: Socket, ...args: unknown[]) {
      if (this.localPort === port()) flushes += 1;
      return original.apply(this, args);
    };
  }
  return {
    flushes: () => flushes,
    restore: () => Object.assign(prototype, originals),
  };
}

describe('SMTP replies to pipelined commands', () => {
  const suite = relayWithSimulator({ smtp: { trustedNetworks: ['127.0.0.1/32'] } });
  let writes: ReturnType<typeof countFlushes>;

  before(() => {
    writes = countFlushes(() => suite.port);
  });
  after(() => {
    writes.restore();
  });

  test('MAIL, RCPT and DATA sent in one packet get their three replies, in order, in fewer socket writes', async () => {
    const dialog = await SmtpDialog.open(suite.port);
    try {
      assert.equal((await dialog.command('EHLO client.example.com')).code, 250);
      const before = writes.flushes();
      dialog.write('MAIL FROM:<alice@example.com>\r\nRCPT TO:<447700900123@sms.localhost>\r\nDATA\r\n');
      const replies = [await dialog.reply(), await dialog.reply(), await dialog.reply()];
      assert.deepEqual(
        replies.map((reply) => reply.code),
        [250, 250, 354],
      );
      const flushes = writes.flushes() - before;
      assert.ok(flushes < 3, `${flushes} socket writes for three replies`);
      dialog.write('Subject: pipelined\r\n\r\nDisk full on db1\r\n.\r\n');
      assert.match((await dialog.reply()).text, /queued as/);
      await waitFor('the SMS', () => suite.gateway.simulator.received.some((sms) => sms.text === 'Disk full on db1'));
    } finally {
      await dialog.close();
    }
  });
});
