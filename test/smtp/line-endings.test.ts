import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { loadConfig } from '../../src/config/load.ts';
import { type Relay, STORE_FILE, startRelay } from '../../src/relay.ts';
import { BARE_END_GRACE_MS } from '../../src/smtp/patches.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { GATEWAY_ACCOUNT, relayEnvironment, removeDir, type Simulator, startSimulator, tempDir, waitFor } from '../helpers/relay.ts';
import { type Reply, SmtpDialog } from '../helpers/smtp.ts';
import { sleep } from '../helpers/wait.ts';

/** Each line ending in a bare LF, as an old UPS card sends it. */
const lfLines = (...lines: string[]) => lines.map((line) => `${line}\n`).join('');

async function commandLf(dialog: SmtpDialog, line: string): Promise<Reply> {
  dialog.write(`${line}\n`);
  return dialog.reply();
}

/** Resolves once the relay has closed the connection (the QUIT the dialog sends then goes nowhere). */
async function closedByRelay(dialog: SmtpDialog): Promise<void> {
  await assert.rejects(dialog.reply(2000), /connection closed/);
}

/**
 * Line endings over raw sockets: a client that ends every line with a bare LF (commands and data, the
 * data with <LF>.<LF>) is answered; a CRLF session keeps the strict rule against smuggled ends of data,
 * and one that stalls after <LF>.<LF> is refused at once, not at the idle timeout.
 */
describe('bare LF line endings', () => {
  let gateway: Simulator;
  let relay: Relay;
  let dir: string;
  let port: number;
  const log = captureLog('info');
  const lines = () => log.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  const received = (to: string) => gateway.simulator.received.filter((sms) => sms.to === to);

  before(async () => {
    gateway = await startSimulator();
    dir = tempDir();
    const yaml = {
      gateway: { provider: 'intellisoftware', url: gateway.url, ...GATEWAY_ACCOUNT },
      smtp: { trustedNetworks: ['127.0.0.1/32'] },
      sms: { domains: ['sms.localhost'] },
    };
    const { config } = loadConfig(relayEnvironment(dir, yaml), dir);
    relay = await startRelay(config, log.logger);
    port = relay.smtpPort;
  });
  after(async () => {
    await relay.stop();
    await gateway.close();
    removeDir(dir);
  });

  test('a device that ends every line with a bare LF gets 250 at its <LF>.<LF>, and the SMS has its text intact', async () => {
    const dialog = await SmtpDialog.open(port);
    try {
      assert.equal((await commandLf(dialog, 'HELO 192.168.1.50')).code, 250);
      assert.equal((await commandLf(dialog, 'MAIL FROM:<ups@example.com>')).code, 250);
      assert.equal((await commandLf(dialog, 'RCPT TO:<447700900301@sms.localhost>')).code, 250);
      assert.equal((await commandLf(dialog, 'DATA')).code, 354);
      dialog.write(lfLines('From: ups@example.com', 'Subject: UPS on battery', '', 'UPS: On battery power.', '..a line starting with a dot, stuffed', '.'));
      const reply = await dialog.reply(BARE_END_GRACE_MS / 2);
      assert.equal(`${reply.code} ${reply.enhanced}`, '250 2.6.0', reply.text);
      assert.equal((await commandLf(dialog, 'QUIT')).code, 221);
    } finally {
      await dialog.close();
    }
    const [sms] = await waitFor('the SMS', () => received('447700900301').length > 0 && received('447700900301'));
    assert.equal(sms?.text, 'UPS: On battery power.\n.a line starting with a dot, stuffed');
  });

  test('an LF-only session cannot smuggle a second mail: what follows its <LF>.<LF> is read as commands after the 250', async () => {
    const dialog = await SmtpDialog.open(port);
    try {
      await commandLf(dialog, 'HELO 192.168.1.51');
      await commandLf(dialog, 'MAIL FROM:<ups@example.com>');
      assert.equal((await commandLf(dialog, 'RCPT TO:<447700900302@sms.localhost>')).code, 250);
      assert.equal((await commandLf(dialog, 'DATA')).code, 354);
      dialog.write(
        lfLines('Subject: first', '', 'the first mail', '.', 'MAIL FROM:<ceo@example.com>', 'RCPT TO:<447700900303@sms.localhost>', 'DATA') +
          lfLines('Subject: second', '', 'the second mail', '.'),
      );
      const replies = [];
      for (let i = 0; i < 5; i += 1) replies.push(await dialog.reply(BARE_END_GRACE_MS / 2));
      assert.deepEqual(
        replies.map((reply) => reply.code),
        [250, 250, 250, 354, 250],
        replies.map((reply) => reply.text).join(' | '),
      );
    } finally {
      await dialog.close();
    }
    const [first] = await waitFor('the first SMS', () => received('447700900302').length > 0 && received('447700900302'));
    assert.equal(first?.text, 'the first mail');
    const [second] = await waitFor('the second SMS', () => received('447700900303').length > 0 && received('447700900303'));
    assert.equal(second?.text, 'the second mail');
  });

  test('a CRLF session whose data stands still after <LF>.<LF> gets 550 5.5.2 within the grace, not at the idle timeout, and is closed', async () => {
    const dialog = await SmtpDialog.open(port);
    try {
      await dialog.command('HELO client.example.com');
      await dialog.command('MAIL FROM:<alice@example.com>');
      assert.equal((await dialog.command('RCPT TO:<447700900304@sms.localhost>')).code, 250);
      assert.equal((await dialog.command('DATA')).code, 354);
      const sent = performance.now();
      dialog.write('Subject: lf end\r\n\r\nended the lenient way\n.\n');
      const reply = await dialog.reply(BARE_END_GRACE_MS * 2);
      assert.ok(performance.now() - sent >= BARE_END_GRACE_MS - 100, 'answered only after the grace');
      assert.equal(`${reply.code} ${reply.enhanced}`, '550 5.5.2', reply.text);
      assert.match(reply.text, /bare LF before and after a dot at byte \d+: a smuggled end of data \(<LF>\.<LF>\)/);
      await closedByRelay(dialog);
    } finally {
      await dialog.close();
    }
    const refused = lines().filter((line) => line.msg === 'smtp: mail refused' && line.code === 'SMUGGLING');
    assert.equal(refused.length, 1, JSON.stringify(lines()));
    assert.ok(!lines().some((line) => line.msg === 'smtp: client left during DATA; nothing accepted'));
    await sleep(100);
    assert.deepEqual(received('447700900304'), []);
  });

  /** A CRLF session up to its 354 for `number`. */
  async function inData(number: string): Promise<SmtpDialog> {
    const dialog = await SmtpDialog.open(port);
    await dialog.command('EHLO client.example.com');
    await dialog.command('MAIL FROM:<alice@example.com>');
    assert.equal((await dialog.command(`RCPT TO:<${number}@sms.localhost>`)).code, 250);
    assert.equal((await dialog.command('DATA')).code, 354);
    return dialog;
  }

  test('a CRLF session whose data stands still after <LF>.<CR><LF> (a Unix body file, then the dot with CRLF) gets 550 5.5.2 within the grace', async () => {
    const dialog = await inData('447700900310');
    try {
      const sent = performance.now();
      dialog.write('Subject: s\n\nline one\nline two\n');
      dialog.write('.\r\n');
      const reply = await dialog.reply(BARE_END_GRACE_MS * 2);
      assert.ok(performance.now() - sent >= BARE_END_GRACE_MS - 100, 'answered only after the grace');
      assert.equal(`${reply.code} ${reply.enhanced}`, '550 5.5.2', reply.text);
      assert.match(reply.text, /bare LF before a dot at byte \d+: a smuggled end of data \(<LF>\.<CR><LF>\)/);
      await closedByRelay(dialog);
    } finally {
      await dialog.close();
    }
    await sleep(100);
    assert.deepEqual(received('447700900310'), []);
  });

  for (const [index, end] of ['\n.\r', '\r.\r'].entries()) {
    test(`a CRLF session whose data stands still after ${JSON.stringify(end)} (a dot and a bare CR after a bare line ending) gets 550 5.5.2 within the grace`, async () => {
      const dialog = await inData(`44770090034${index}`);
      try {
        const sent = performance.now();
        dialog.write(`Subject: s\r\n\r\nended with a bare CR${end}`);
        const reply = await dialog.reply(BARE_END_GRACE_MS * 2);
        assert.ok(performance.now() - sent >= BARE_END_GRACE_MS - 100, 'answered only after the grace');
        assert.equal(`${reply.code} ${reply.enhanced}`, '550 5.5.2', reply.text);
        assert.match(reply.text, new RegExp(`a smuggled end of data \\(${end === '\n.\r' ? '<LF>' : '<CR>'}\\.<CR>\\)`));
        await closedByRelay(dialog);
      } finally {
        await dialog.close();
      }
    });
  }

  test('a CRLF session standing still after <CR><LF>.<CR> (the real end, its LF still to come) is not refused: its LF ends the mail', async () => {
    const dialog = await inData('447700900342');
    try {
      dialog.write('Subject: s\r\n\r\nthe end comes slowly\r\n.\r');
      await assert.rejects(dialog.reply(BARE_END_GRACE_MS + 500), /no SMTP reply/);
      dialog.write('\n');
      const reply = await dialog.reply();
      assert.equal(reply.code, 250, reply.text);
    } finally {
      await dialog.close();
    }
    const [sms] = await waitFor('the SMS', () => received('447700900342').length > 0 && received('447700900342'));
    assert.equal(sms?.text, 'the end comes slowly');
  });

  test("a DATA's stand-still is its own: a refused mail pipelined after a clean one leaves nothing to refuse the next clean mail with", async () => {
    const dialog = await inData('447700900343');
    try {
      // The clean mail's end, and a second mail holding <LF>.<LF> pipelined behind it in the same packet.
      dialog.write(
        'Subject: one\r\n\r\nclean\r\n.\r\nMAIL FROM:<alice@example.com>\r\nRCPT TO:<447700900344@sms.localhost>\r\nDATA\r\nSubject: two\n\nx\n.\nmore\r\n',
      );
      const pipelined = performance.now();
      assert.deepEqual(
        [await dialog.reply(), await dialog.reply(), await dialog.reply(), await dialog.reply()].map((reply) => reply.code),
        [250, 250, 250, 354],
      );
      await sleep(BARE_END_GRACE_MS / 6);
      dialog.write('\r\n.\r\n');
      const refused = await dialog.reply();
      assert.equal(`${refused.code} ${refused.enhanced}`, '550 5.5.2', refused.text);
      await dialog.command('MAIL FROM:<alice@example.com>');
      assert.equal((await dialog.command('RCPT TO:<447700900345@sms.localhost>')).code, 250);
      assert.equal((await dialog.command('DATA')).code, 354);
      // The third mail pauses past the moment the second one's stand-still would have come to an end.
      dialog.write('Subject: three\r\n\r\nclean three, part 1\r\n');
      await sleep(BARE_END_GRACE_MS + 300 - (performance.now() - pipelined));
      dialog.write('part 2\r\n.\r\n');
      const third = await dialog.reply();
      assert.equal(third.code, 250, third.text);
    } finally {
      await dialog.close();
    }
    const [sms] = await waitFor('the SMS', () => received('447700900345').length > 0 && received('447700900345'));
    assert.equal(sms?.text, 'clean three, part 1\npart 2');
    assert.deepEqual(received('447700900344'), []);
  });

  for (const [index, end] of ['\n.\n', '\n.\r\n', '\r\n.\n', '\r\n.\n\r\n', '\r.\r\n', '\r\n.\r'].entries()) {
    test(`a CRLF session whose data ends in ${JSON.stringify(end)} and then a FIN gets 550 5.5.2 at once, and the refusal's log line`, async () => {
      const number = `44770090032${index}`;
      const before = lines().length;
      const dialog = await inData(number);
      try {
        const sent = performance.now();
        dialog.endSending(`Subject: s\r\n\r\nmixed endings with nc -N${end}`);
        const reply = await dialog.reply(BARE_END_GRACE_MS / 2);
        assert.ok(performance.now() - sent < BARE_END_GRACE_MS / 2, 'answered at the FIN, not after the grace');
        assert.equal(`${reply.code} ${reply.enhanced}`, '550 5.5.2', reply.text);
        assert.match(reply.text, /a smuggled end of data/);
        await closedByRelay(dialog);
      } finally {
        await dialog.close();
      }
      const mine = await waitFor('the DATA log line', () => {
        const found = lines()
          .slice(before)
          .filter((line) => String(line.msg).startsWith('smtp: mail refused') || String(line.msg).includes('DATA'));
        return found.length > 0 && found;
      });
      assert.deepEqual(
        mine.map((line) => [line.msg, line.code]),
        [['smtp: mail refused', 'SMUGGLING']],
      );
      await sleep(100);
      assert.deepEqual(received(number), []);
    });
  }

  test('a CRLF session whose data is cut short by a FIN without any end still gets no answer: it left during DATA', async () => {
    const before = lines().length;
    const dialog = await inData('447700900330');
    try {
      dialog.endSending('Subject: s\r\n\r\ncut short\r\n');
      await closedByRelay(dialog);
    } finally {
      await dialog.close();
    }
    await waitFor('the DATA log line', () =>
      lines()
        .slice(before)
        .some((line) => line.msg === 'smtp: client left during DATA; nothing accepted'),
    );
  });

  test('a CRLF session whose <LF>.<LF> is followed by more data within the grace gets the smuggling refusal at its CRLF.CRLF, as before', async () => {
    const dialog = await SmtpDialog.open(port);
    try {
      await dialog.command('EHLO client.example.com');
      await dialog.command('MAIL FROM:<alice@example.com>');
      assert.equal((await dialog.command('RCPT TO:<447700900305@sms.localhost>')).code, 250);
      assert.equal((await dialog.command('DATA')).code, 354);
      dialog.write('Subject: first\r\n\r\nthe first mail\r\n.\n');
      await sleep(BARE_END_GRACE_MS / 3);
      dialog.write('MAIL FROM:<ceo@example.com>\r\nRCPT TO:<447700900306@sms.localhost>\r\nDATA\r\nSubject: forged\r\n\r\nforged\r\n.\r\n');
      const reply = await dialog.reply(BARE_END_GRACE_MS * 2);
      assert.equal(`${reply.code} ${reply.enhanced}`, '550 5.5.2', reply.text);
      assert.match(reply.text, /\(<CR><LF>\.<LF>\)/);
      assert.equal((await dialog.command('NOOP')).code, 250, 'the session goes on');
    } finally {
      await dialog.close();
    }
    await sleep(100);
    assert.deepEqual([...received('447700900305'), ...received('447700900306')], []);
  });

  test('MAIL before any HELO/EHLO is taken as after HELO <client address>, and the mail is sent', async () => {
    const dialog = await SmtpDialog.open(port);
    let reply: Reply;
    try {
      const early = await dialog.command('RCPT TO:<447700900307@sms.localhost>');
      assert.equal(`${early.code} ${early.enhanced} ${early.text}`, '503 5.5.1 5.5.1 Error: send HELO/EHLO first', 'RCPT still needs a greeting');
      assert.equal((await dialog.command('MAIL FROM:<ups@example.com>')).code, 250);
      assert.equal((await dialog.command('RCPT TO:<447700900307@sms.localhost>')).code, 250);
      reply = await dialog.data('Subject: no greeting\r\n\r\nsent without HELO');
      assert.equal(reply.code, 250, reply.text);
    } finally {
      await dialog.close();
    }
    const [sms] = await waitFor('the SMS', () => received('447700900307').length > 0 && received('447700900307'));
    assert.equal(sms?.text, 'sent without HELO');
    const id = /queued as (\S+)/.exec(reply.text)?.[1];
    const db = new BetterSqlite3(join(dir, 'data', STORE_FILE), { readonly: true });
    try {
      assert.deepEqual(db.prepare('SELECT client_helo FROM messages WHERE id = ?').get(id), { client_helo: '127.0.0.1' });
    } finally {
      db.close();
    }
  });
});

describe('a DATA the relay times out', () => {
  test('is answered 421 4.4.2 and logged as closed by the relay, not as a client that left', async () => {
    const dir = tempDir();
    const log = captureLog('info');
    const { config } = loadConfig(relayEnvironment(dir, { smtp: { trustedNetworks: ['127.0.0.1/32'], idleTimeout: '10s' } }), dir);
    const relay = await startRelay(config, log.logger);
    try {
      const dialog = await SmtpDialog.open(relay.smtpPort);
      try {
        await dialog.command('HELO client.example.com');
        await dialog.command('MAIL FROM:<alice@example.com>');
        assert.equal((await dialog.command('RCPT TO:<447700900308@sms.localhost>')).code, 250);
        assert.equal((await dialog.command('DATA')).code, 354);
        dialog.write('Subject: half\r\n\r\nand then nothing\r\n');
        const reply = await dialog.reply(15_000);
        assert.equal(`${reply.code} ${reply.enhanced}`, '421 4.4.2', reply.text);
      } finally {
        await dialog.close();
      }
      const messages = await waitFor('the DATA line', () => {
        const all = log.lines.map((line) => (JSON.parse(line) as { msg: string }).msg).filter((msg) => msg.includes('DATA'));
        return all.length > 0 && all;
      });
      assert.deepEqual(messages, ['smtp: DATA timed out, the relay closed the connection; nothing accepted']);
    } finally {
      await relay.stop();
      removeDir(dir);
    }
  });
});
