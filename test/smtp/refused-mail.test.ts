import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { STORE_FILE } from '../../src/relay.ts';
import { relayWithSimulator } from '../helpers/relay.ts';
import { type Reply, SmtpDialog } from '../helpers/smtp.ts';

const said = (reply: Reply) => `${reply.code} ${reply.text}`;

/**
 * RFC 5321 section 4.1.1.2: a refused MAIL starts no transaction and leaves nothing in the session. The
 * next MAIL of the same session is judged, and its mail committed, with only the parameters it carries.
 */
describe('a refused MAIL leaves nothing of its parameters', () => {
  const suite = relayWithSimulator({ smtp: { trustedNetworks: ['127.0.0.1/32'], maxMessageBytes: 20_000 }, sms: { domains: ['sms.localhost'] } });

  /** On one connection: the refused MAIL (its reply checked against `refusal`), then `next` and, when it is taken, a mail. */
  async function afterRefusal(refused: string, refusal: RegExp, next: string, number: string): Promise<{ next: Reply; data?: Reply }> {
    const dialog = await SmtpDialog.open(suite.port);
    try {
      await dialog.command('EHLO client.example');
      const first = await dialog.command(refused);
      assert.match(said(first), refusal);
      const nextReply = await dialog.command(next);
      if (nextReply.code !== 250) return { next: nextReply };
      assert.equal((await dialog.command(`RCPT TO:<${number}@sms.localhost> NOTIFY=SUCCESS,FAILURE`)).code, 250);
      return { next: nextReply, data: await dialog.data('Subject: UPS\r\n\r\nUPS on battery\r\n') };
    } finally {
      await dialog.close();
    }
  }

  /** The ENVID and RET the store kept for the mail a `250 … queued as <id>` names. */
  function storedDsn(data: Reply | undefined): { dsn_envid: string | null; dsn_ret: string | null } {
    const id = /queued as (\S+)/.exec(data?.text ?? '')?.[1];
    assert.ok(id, data?.text);
    const db = new BetterSqlite3(join(suite.relay.config.dataDir, STORE_FILE), { readonly: true });
    try {
      return db.prepare('SELECT dsn_envid, dsn_ret FROM messages WHERE id = ?').get(id) as { dsn_envid: string | null; dsn_ret: string | null };
    } finally {
      db.close();
    }
  }

  test('ENVID: an overlong one refused does not refuse the next MAIL, which carries none', async () => {
    const result = await afterRefusal(
      `MAIL FROM:<a@example.com> ENVID=${'a'.repeat(200)}`,
      /^501 .*ENVID too long/,
      'MAIL FROM:<a@example.com>',
      '447700900650',
    );
    assert.equal(result.next.code, 250, said(result.next));
    assert.equal(result.data?.code, 250);
    assert.deepEqual(storedDsn(result.data), { dsn_envid: null, dsn_ret: null });
  });

  test('ENVID and RET of a MAIL refused for another parameter do not go with the next mail (its reports carry none)', async () => {
    const result = await afterRefusal('MAIL FROM:<a@example.com> RET=HDRS ENVID=STALE-ENVID-1 FOO=BAR', /^555 /, 'MAIL FROM:<a@example.com>', '447700900651');
    assert.deepEqual(storedDsn(result.data), { dsn_envid: null, dsn_ret: null });
    const own = await afterRefusal(
      'MAIL FROM:<a@example.com> RET=HDRS ENVID=STALE-ENVID-2 FOO=BAR',
      /^555 /,
      'MAIL FROM:<a@example.com> RET=FULL ENVID=OWN',
      '447700900652',
    );
    assert.deepEqual(storedDsn(own.data), { dsn_envid: 'OWN', dsn_ret: 'FULL' });
  });

  test('SMTPUTF8 of a refused MAIL does not let the next MAIL give a UTF-8 sender without declaring it', async () => {
    const result = await afterRefusal('MAIL FROM:<a@example.com> SMTPUTF8 FOO=BAR', /^555 /, 'MAIL FROM:<jürgen@example.com>', '447700900653');
    assert.equal(said(result.next), '553 5.6.7 Must declare SMTPUTF8 to send a UTF-8 address: add SMTPUTF8 to MAIL FROM');
  });

  test('SIZE and BODY: a MAIL refused for its declared size does not hold the next one to it', async () => {
    const result = await afterRefusal('MAIL FROM:<a@example.com> SIZE=50000 BODY=8BITMIME', /^552 /, 'MAIL FROM:<a@example.com> SIZE=100', '447700900654');
    assert.equal(result.next.code, 250, said(result.next));
    assert.equal(result.data?.code, 250);
  });
});
