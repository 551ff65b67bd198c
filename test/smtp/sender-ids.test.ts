import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { hashPassword } from '../../src/policy/passwords.ts';
import { relayEnvironment, relayWithSimulator, removeDir, startTestRelay, type TestRelay, tempDir, waitFor } from '../helpers/relay.ts';
import { message, SmtpDialog } from '../helpers/smtp.ts';

/**
 * Finding 3 of the security round: which sender ids (X-SMS-From, a subject's From:) an account or a
 * network may choose. Over real SMTP to a relay with the IntelliSoftware simulator.
 */

const PASSWORD = 'erp-secret-pass';
const HASH = await hashPassword(PASSWORD);

describe('sender ids an account or network may choose', () => {
  const suite = relayWithSimulator({
    smtp: { trustedNetworks: ['127.0.0.2/32'] },
    sms: { allowedSenderIds: ['Relay'] },
    networks: [{ name: 'lab', cidr: ['127.0.0.3/32'], senderIds: ['*'] }],
    accounts: [
      { username: 'erp', passwordHash: HASH, senders: ['@erp.example.com'], senderIds: ['Acme', '+4477009001*'] },
      { username: 'billing', passwordHash: HASH, senders: ['@erp.example.com'] },
      { username: 'payroll', passwordHash: HASH, senders: ['@erp.example.com'], senderIds: [] },
    ],
  });

  /** The end-of-data reply of one mail, as `user` (AUTH from loopback) or without AUTH from `localAddress`. */
  async function send(
    headers: Record<string, string>,
    { user, localAddress = '127.0.0.1', subject = 'hi' }: { user?: string; localAddress?: string; subject?: string },
  ) {
    const dialog = await SmtpDialog.open(suite.port, { localAddress });
    try {
      await dialog.command('EHLO client.example.com');
      if (user) assert.equal((await dialog.command(`AUTH PLAIN ${Buffer.from(`\0${user}\0${PASSWORD}`).toString('base64')}`)).code, 235);
      assert.equal((await dialog.command('MAIL FROM:<a@erp.example.com>')).code, 250);
      assert.equal((await dialog.command('RCPT TO:<447700900371@sms.localhost>')).code, 250);
      const reply = await dialog.data(
        message({ to: ['447700900371@sms.localhost'], from: 'a@erp.example.com', subject, body: 'Your card is blocked', headers }),
      );
      return `${reply.code} ${reply.text}`;
    } finally {
      await dialog.close();
    }
  }

  test("an account's own senderIds: a name in any case, a number or prefix, with or without +; any other refused 554 5.7.1 at end of DATA", async () => {
    const before = suite.gateway.simulator.received.length;
    assert.match(await send({ 'X-SMS-From': 'acme' }, { user: 'erp' }), /^250 /);
    assert.match(await send({ 'X-SMS-From': '+447700900111' }, { user: 'erp' }), /^250 /);
    assert.match(await send({ 'X-SMS-From': '447700900199' }, { user: 'erp' }), /^250 /);
    assert.match(await send({}, { user: 'erp' }), /^250 /, 'no sender id: the relay sends as its own');
    assert.equal(
      await send({ 'X-SMS-From': 'HSBC' }, { user: 'erp' }),
      `554 5.7.1 Sender id refused: "HSBC" is not a sender id account erp may send as (Acme, +4477009001*); leave X-SMS-From out to send as the relay's own`,
    );
    assert.match(await send({ 'X-SMS-From': '447700900222' }, { user: 'erp' }), /^554 5\.7\.1 Sender id refused: "447700900222"/);
    assert.equal(
      await send({}, { user: 'erp', subject: 'From:Barclays your account' }),
      `554 5.7.1 Sender id refused: "Barclays" is not a sender id account erp may send as (Acme, +4477009001*); leave the subject's From: out to send as the relay's own`,
      "the subject's From: too, named as where the id came from",
    );
    await waitFor('the accepted SMS', () => suite.gateway.simulator.received.length >= before + 4);
    const froms = suite.gateway.simulator.received.slice(before).map((sms) => sms.from ?? '(the relay’s)');
    assert.ok(!froms.some((from) => /HSBC|Barclays|222$/.test(from)), `the gateway got only allowed ids: ${froms.join(', ')}`);
  });

  test('an account or the trusted networks without their own: sms.allowedSenderIds; a network listing * may choose any', async () => {
    assert.match(await send({ 'X-SMS-From': 'Relay' }, { user: 'billing' }), /^250 /);
    assert.match(
      await send({ 'X-SMS-From': 'Acme' }, { user: 'billing' }),
      /^554 5\.7\.1 Sender id refused: "Acme" is not a sender id account billing may send as \(Relay\)/,
    );
    assert.match(
      await send({ 'X-SMS-From': 'HSBC' }, { localAddress: '127.0.0.2' }),
      /^554 5\.7\.1 Sender id refused: "HSBC" is not a sender id trusted networks may send as \(Relay\)/,
    );
    assert.match(await send({ 'X-SMS-From': 'HSBC' }, { localAddress: '127.0.0.3' }), /^250 /);
  });

  test('an empty list written on purpose: the refusal says the account may choose none, not "()"', async () => {
    assert.equal(
      await send({ 'X-SMS-From': 'Acme' }, { user: 'payroll' }),
      `554 5.7.1 Sender id refused: "Acme" is not a sender id account payroll may send as: it may choose none; leave X-SMS-From out to send as the relay's own`,
    );
    assert.match(await send({}, { user: 'payroll' }), /^250 /, 'no sender id: the relay sends as its own');
  });
});

describe("the relay's own sender id (gateway.from)", () => {
  let relay: TestRelay;
  let twoFroms: TestRelay;
  before(async () => {
    const policy = { sms: { allowedSenderIds: ['Acme'] }, accounts: [{ username: 'erp', passwordHash: HASH, senders: ['@erp.example.com'] }] };
    relay = await startTestRelay({ gateway: { provider: 'vonage-simulator', from: '447700900555' }, ...policy });
    // One route over two providers that send as different ids when a mail names none.
    twoFroms = await startTestRelay({
      gateway: {
        provider: 'vonage-simulator',
        from: '447700900555',
        routes: [{ match: '*', providers: ['vonage-simulator', 'smpp-simulator'] }],
        providers: { 'smpp-simulator': { from: '447700900666' } },
      },
      ...policy,
    });
  });
  after(async () => {
    for (const started of [relay, twoFroms]) {
      await started.stop();
      removeDir(started.dir);
    }
  });

  const sendVia = async (via: TestRelay, senderId: string) => {
    const dialog = await SmtpDialog.open(via.relay.smtpPort);
    try {
      await dialog.command('EHLO client.example.com');
      assert.equal((await dialog.command(`AUTH PLAIN ${Buffer.from(`\0erp\0${PASSWORD}`).toString('base64')}`)).code, 235);
      assert.equal((await dialog.command('MAIL FROM:<a@erp.example.com>')).code, 250);
      assert.equal((await dialog.command('RCPT TO:<447700900371@sms.localhost>')).code, 250);
      const reply = await dialog.data(
        message({ to: ['447700900371@sms.localhost'], from: 'a@erp.example.com', body: 'Shift moved', headers: { 'X-SMS-From': senderId } }),
      );
      return `${reply.code} ${reply.text}`;
    } finally {
      await dialog.close();
    }
  };

  test("with providers of different own ids, neither is taken unlisted: the route's other provider (or a failover) would send it as an id not its own", async () => {
    assert.match(await sendVia(twoFroms, '447700900555'), /^554 5\.7\.1 Sender id refused: "447700900555" is not a sender id account erp may send as \(Acme\)/);
    assert.match(await sendVia(twoFroms, '447700900666'), /^554 5\.7\.1 Sender id refused/);
    assert.match(await sendVia(twoFroms, 'Acme'), /^250 /);
  });

  test('naming it is leaving X-SMS-From out: taken from anyone, written with + or 00 too, though no list names it', async () => {
    const send = (senderId: string) => sendVia(relay, senderId);
    assert.match(await send('447700900555'), /^250 /);
    assert.match(await send('+447700900555'), /^250 /);
    assert.match(await send('00447700900555'), /^250 /);
    assert.match(await send('447700900556'), /^554 5\.7\.1 Sender id refused: "447700900556" is not a sender id account erp may send as \(Acme\)/);
  });
});

describe('sender id settings', () => {
  const problems = (yaml: object, env: Record<string, string> = {}) => {
    const dir = tempDir();
    try {
      loadConfig(relayEnvironment(dir, yaml, env), dir);
      return [];
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    } finally {
      removeDir(dir);
    }
  };

  test('SMSRELAY_ALLOWED_SENDER_IDS is a comma list; a pattern that is no name, number or prefix is refused, saying what is', () => {
    const dir = tempDir();
    const { config } = loadConfig(relayEnvironment(dir, {}, { SMSRELAY_ALLOWED_SENDER_IDS: 'Acme,+447700900123,+4477009001*' }), dir);
    removeDir(dir);
    assert.deepEqual(config.sms.allowedSenderIds, ['Acme', '+447700900123', '+4477009001*']);
    for (const bad of ['x'.repeat(65), '+44abc', 'Ac*me', '4477009001*']) {
      const [line] = problems({ sms: { allowedSenderIds: [bad] } });
      assert.match(String(line), /expected a sender name such as Acme, a number such as \+447700900123, a prefix such as \+4477009001\*, or \*/, bad);
    }
  });
});
