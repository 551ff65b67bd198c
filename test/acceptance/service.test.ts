import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import type { AcceptanceService } from '../../src/acceptance/service.ts';
import { type RelayErrorCode, toSmtpError } from '../../src/errors.ts';
import { relayWithSimulator, waitFor } from '../helpers/relay.ts';
import { message, type Reply, sendMail } from '../helpers/smtp.ts';

const OPTED_OUT = '+447700900301';

/**
 * Another input than SMTP (the web console's "send a test SMS") drives the acceptance service's
 * stages directly, on a relay with its real SQLite store: the same refusals, with the same codes, as
 * a mail over SMTP gets; an accepted submission is committed and reaches the gateway.
 */
describe('the acceptance service: one entry point per stage, for every input', () => {
  const suite = relayWithSimulator({
    smtp: { trustedNetworks: ['127.0.0.1/32'] },
    sms: { domains: ['sms.example.com'], defaultRegion: 'GB' },
  });
  let service: AcceptanceService;

  before(async () => {
    service = suite.relay.relay.acceptance;
    await suite.relay.relay.store.acceptInbound({
      id: 'stop-1',
      provider: 'intellisoftware',
      providerId: 'stop-1',
      number: OPTED_OUT,
      text: 'STOP',
      sentAt: undefined,
      userContext: undefined,
      receivedAt: Date.now(),
      optOut: { action: 'stop', keyword: 'STOP' },
      route: undefined,
    });
  });

  /** A submission without SMTP: sender, each recipient, the message; the first refusal or the accepted mail. */
  async function submit(to: readonly string[], body: string) {
    const from = 'console@example.com';
    const sender = service.sender({
      client: { address: '127.0.0.1', helo: 'console' },
      user: undefined,
      protocol: 'ESMTP',
      envelopeFrom: from,
      dsn: { ret: undefined, envid: undefined },
    });
    if (!sender.ok) return sender;
    let { transaction } = sender;
    for (const address of to) {
      const added = await service.recipient(transaction, { address });
      if (!added.ok) return added;
      transaction = added.transaction;
    }
    return service.message(transaction, Buffer.from(message({ from, to, body })));
  }

  const refusals: ReadonlyArray<{ what: string; to: string; body?: string; code: RelayErrorCode; stage: 'rcpt' | 'data' }> = [
    { what: 'an opted-out number', to: `${OPTED_OUT.slice(1)}@sms.example.com`, code: 'POLICY_DENIED', stage: 'rcpt' },
    { what: 'a premium-rate number', to: '449012345678@sms.example.com', code: 'POLICY_DENIED', stage: 'rcpt' },
    { what: 'not a phone number', to: '12@sms.example.com', code: 'BAD_NUMBER', stage: 'rcpt' },
    { what: 'a foreign domain', to: '447700900302@example.com', code: 'RELAY_DENIED', stage: 'rcpt' },
    { what: 'too long a text', to: '447700900303@sms.example.com', body: 'x'.repeat(1_000), code: 'TEXT_TOO_LONG', stage: 'data' },
  ];
  for (const { what, to, body = 'hello', code, stage } of refusals) {
    test(`${what}: refused with ${code}, and SMTP answers the same`, async () => {
      const outcome = await submit([to], body);
      assert.ok(!outcome.ok, 'refused');
      assert.equal(outcome.error.code, code);
      const smtp = await sendMail(suite.port, { to: [to], body });
      const reply: Reply | undefined = stage === 'rcpt' ? smtp.rcpt[0] : smtp.data;
      const expected = toSmtpError(outcome.error);
      assert.equal(`${reply?.code} ${reply?.text}`, `${expected.responseCode} ${expected.message}`);
    });
  }

  test('an accepted submission is committed and dispatched: the gateway gets the SMS', async () => {
    const outcome = await submit(['447700900310@sms.example.com', '07700900311@sms.example.com'], 'from the console');
    assert.ok(outcome.ok && 'numbers' in outcome, outcome.ok ? 'texted' : outcome.error.message);
    assert.equal(outcome.numbers, 2);
    assert.deepEqual((await suite.relay.relay.store.smsOf(outcome.id)).map((sms) => sms.number).sort(), ['+447700900310', '+447700900311']);
    await waitFor('both SMS', () =>
      ['447700900310', '447700900311'].every((to) => suite.gateway.simulator.received.some((sms) => sms.to === to && sms.text === 'from the console')),
    );
  });

  test("a mail without the empty line after its headers: the bounce's header copy holds its headers only, not its body lines", async () => {
    const sender = service.sender({
      client: { address: '127.0.0.1', helo: 'plc' },
      user: undefined,
      protocol: 'ESMTP',
      envelopeFrom: 'plc@example.com',
      dsn: { ret: undefined, envid: undefined },
    });
    assert.ok(sender.ok);
    const added = await service.recipient(sender.transaction, { address: '447700900312@sms.example.com' });
    assert.ok(added.ok);
    const outcome = await service.message(added.transaction, Buffer.from('From: plc@example.com\r\nSubject: pump\r\nPump 3 failure\r\n'));
    assert.ok(outcome.ok, outcome.ok ? '' : outcome.error.message);
    const db = new BetterSqlite3(join(suite.relay.config.dataDir, 'smsrelay.db'), { readonly: true });
    try {
      const row = db.prepare('SELECT headers, text FROM messages WHERE id = ?').get(outcome.id) as { headers: string; text: string };
      assert.equal(row.headers, 'From: plc@example.com\r\nSubject: pump\r\n');
      assert.equal(row.text, 'Pump 3 failure');
    } finally {
      db.close();
    }
  });

  test('sign-in is policy too: not without TLS from afar, and a wrong password fails', async () => {
    const insecure = await service.authenticate('erp', 'secret', '192.0.2.1', false);
    assert.equal(insecure.ok ? 'signed in' : insecure.error.code, 'ENCRYPTION_REQUIRED');
    const unknown = await service.authenticate('erp', 'secret', '192.0.2.1', true);
    assert.equal(unknown.ok ? 'signed in' : unknown.error.code, 'AUTH_FAILED');
  });
});
