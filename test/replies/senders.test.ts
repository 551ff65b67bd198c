/**
 * SMS from senders that are not phone numbers libphonenumber knows — a short code, a sender name, a
 * number from a range opened after the library's release — reach a mailbox like any other, over the
 * real webhook, store and Maildir. Who can be texted back is answered from: the others' mails come
 * from the no-reply address, say so, and a reply to them is refused with the reason at RCPT. What
 * cannot be a sender is quarantined, and `smsrelay quarantine` shows and deletes it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { simpleParser } from 'mailparser';
import { resolveRecipient } from '../../src/acceptance/recipient-addresses.ts';
import { loadConfig } from '../../src/config/load.ts';
import { RelayError } from '../../src/errors.ts';
import { webhookPaths } from '../../src/http/webhooks.ts';
import { type Relay, startRelay } from '../../src/relay.ts';
import { assertNeverLogged, captureLog } from '../helpers/log-lines.ts';
import { gatewayYaml, maildirMessages, relayEnvironment, removeDir, type Simulator, startSimulator, tempDir, waitFor } from '../helpers/relay.ts';
import { queuedId, SmtpDialog, sendMail } from '../helpers/smtp.ts';

const BIN = fileURLToPath(new URL('../../bin/smsrelay.js', import.meta.url));
const TOKEN = 'test-webhook-token-0123456789';
const MAILBOX = 'ops@example.com';
/** A UK mobile range libphonenumber's metadata does not list: only the gateway vouches for it. */
const UNLISTED = '447700955555';

describe('senders that are not known phone numbers', () => {
  const dir = tempDir();
  const { logger, lines } = captureLog('info');
  let gateway: Simulator;
  let relay: Relay;
  let sequence = 0;
  let env: Record<string, string> = {};

  before(async () => {
    gateway = await startSimulator({ reportDelayMs: 0 });
    const yaml = {
      ...gatewayYaml(gateway.url),
      sms: { domains: ['sms.example.com'], defaultRegion: 'GB' },
      inbound: { defaultMailbox: MAILBOX, webhookToken: TOKEN },
    };
    env = relayEnvironment(dir, yaml);
    const { config } = loadConfig(env, dir);
    relay = await startRelay(config, logger);
  });
  after(async () => {
    await relay.stop();
    await gateway.close();
    removeDir(dir);
  });

  /** Posts an MO as IntelliSoftware forwards it; the relay's JSON answer. */
  const receive = async (from: string, text: string) => {
    sequence += 1;
    const response = await fetch(`http://127.0.0.1:${relay.httpPort}${webhookPaths('intellisoftware').mo}?token=${TOKEN}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ msgid: `sender-test-${sequence}`, from, text }).toString(),
    });
    assert.equal(response.status, 200);
    return (await response.json()) as { status: string };
  };
  const mailWith = (text: string) => waitFor(`the mail of "${text}"`, () => maildirMessages(join(dir, 'data', 'maildir')).find((raw) => raw.includes(text)));
  /** Mails `local@` the SMS domain: the RCPT reply, and the end-of-data reply when the RCPT was taken. */
  const rcpt = async (local: string) => {
    const sent = await sendMail(relay.smtpPort, {
      from: MAILBOX,
      to: [`${local}@sms.example.com`],
      subject: 'Re: x',
      body: 'Thanks',
      headers: { From: MAILBOX },
    });
    return sent.data ?? sent.rcpt[0];
  };

  for (const [what, from, name] of [
    ['a short code', '12345', 'a short code'],
    ['a sender name', 'ACME', 'a sender name'],
    ['a sender name with a space and digits', 'Bank 24', 'a sender name'],
  ] as const) {
    test(`${what} (${from}) is mailed to the default mailbox from the no-reply address, saying it cannot be answered`, async () => {
      assert.equal((await receive(from, `Your code from ${from} is 4711`)).status, 'accepted');
      const mail = await simpleParser(await mailWith(`Your code from ${from} is 4711`));
      assert.equal(mail.to && 'value' in mail.to ? mail.to.value[0]?.address : undefined, MAILBOX);
      assert.equal(mail.from?.value[0]?.address, 'no-reply@sms.example.com');
      assert.equal(mail.from?.value[0]?.name, from);
      assert.match(mail.text ?? '', new RegExp(`${from} is ${name} and cannot receive SMS: a reply to this mail is not delivered\\.`));
    });
  }

  test('a reply to the no-reply address, or to a sender name or short code that texted the relay, is refused at RCPT with the reason', async () => {
    const noReply = await rcpt('no-reply');
    assert.equal(noReply?.code, 550);
    assert.match(noReply?.text ?? '', /^5\.1\.1 This address takes no mail: it sends the SMS of senders that cannot receive SMS/);
    const name = await rcpt('ACME');
    assert.equal(name?.code, 550);
    assert.match(name?.text ?? '', /^5\.1\.1 "ACME" is a sender name and cannot receive SMS/);
    const shortCode = await rcpt('12345');
    assert.match(shortCode?.text ?? '', /^5\.1\.1 "12345" is a short code and cannot receive SMS/);
    const stranger = await rcpt('hello');
    assert.match(stranger?.text ?? '', /^5\.1\.3 Bad recipient: "hello" is not a phone number/, 'a name the relay never heard from is a bad number, as before');
  });

  test('a reply to a sender name beyond ASCII quotes it as written, by code point: not folded into another name', async () => {
    assert.equal((await receive('Café', 'Table for two at 8')).status, 'accepted');
    await mailWith('Table for two at 8');
    const dialog = await SmtpDialog.open(relay.smtpPort);
    await dialog.command('EHLO client.example.com');
    assert.equal((await dialog.command(`MAIL FROM:<${MAILBOX}> SMTPUTF8`)).code, 250);
    const name = await dialog.command('RCPT TO:<Café@sms.example.com>');
    await dialog.close();
    assert.equal(name.code, 550, name.text);
    assert.match(name.text, /^5\.1\.1 "CafU\+00E9" is a sender name and cannot receive SMS/);
  });

  test("a reply to the relay's own sender (mail.from, here MAILER-DAEMON@ by default), in any case, is refused at RCPT saying what the address is", async () => {
    for (const local of ['MAILER-DAEMON', 'mailer-daemon']) {
      const own = await rcpt(local);
      assert.equal(own?.code, 550);
      assert.match(own?.text ?? '', /^5\.1\.1 This address takes no mail: it is the relay's own, the sender of its bounces and delivery reports/);
    }
  });

  test("whatever mail.from is, that address is the one refused as the relay's own; another local part is still read as a number", () => {
    const rules = { domains: ['sms.example.com'], defaultRegion: 'GB' as const, lists: {}, subjectAddress: '', relaySender: 'reports@sms.example.com' };
    assert.throws(
      () => resolveRecipient('Reports@SMS.example.com', rules),
      (error: unknown) => error instanceof RelayError && error.code === 'NOT_TEXTABLE',
    );
    assert.throws(
      () => resolveRecipient('MAILER-DAEMON@sms.example.com', rules),
      (error: unknown) => error instanceof RelayError && error.code === 'BAD_NUMBER',
    );
  });

  test('a number libphonenumber does not know yet is taken, and can be answered once it has texted the relay', async () => {
    const before = await rcpt(UNLISTED);
    assert.equal(before?.code, 550, 'an unlisted number nobody vouched for is still refused (a typo)');
    assert.match(before?.text ?? '', /^5\.1\.3 /);

    assert.equal((await receive(UNLISTED, 'Hello from a new range')).status, 'accepted');
    const mail = await simpleParser(await mailWith('Hello from a new range'));
    assert.equal(mail.from?.value[0]?.address, `${UNLISTED}@sms.example.com`);
    assert.match(mail.text ?? '', /Reply to this mail to answer by SMS/);

    const answer = await rcpt(UNLISTED);
    assert.equal(answer?.code, 250, answer?.text);
    queuedId(answer);
    const sms = await waitFor('the answer at the gateway', () => gateway.simulator.received.find((sent) => sent.to === UNLISTED));
    assert.equal(sms.text, 'Thanks');
  });

  test('an SMS from a sender that cannot be one is quarantined, not mailed', async () => {
    assert.equal((await receive('<b>x</b>', 'markup as a sender')).status, 'quarantined');
  });

  test('smsrelay quarantine lists, shows and deletes the kept requests', () => {
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [BIN, 'quarantine', ...args], { cwd: dir, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' });
    const listed = run('list');
    assert.equal(listed.status, 0, listed.stderr);
    const [entry, ...others] = listed.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { id: number; provider: string; kind: string; reason: string; bytes: number });
    assert.equal(others.length, 0);
    assert.equal(entry?.provider, 'intellisoftware');
    assert.equal(entry?.kind, 'mo');
    assert.match(entry?.reason ?? '', /from is missing or not a sender/);
    const shown = run('show', String(entry?.id));
    assert.equal(shown.status, 0, shown.stderr);
    const [fields, body] = shown.stdout.split('\n');
    assert.equal((JSON.parse(fields ?? '') as { bytes: number }).bytes, Buffer.byteLength(body ?? ''));
    assert.equal(new URLSearchParams(body).get('from'), '<b>x</b>');
    const unknown = run('show', '999');
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /no quarantined request with id 999/);
    assert.match(run('delete').stderr, /quarantine delete needs a request id, or "all"/);
    assert.equal(run('delete', String(entry?.id)).stdout.trim(), 'deleted 1 quarantined request');
    const none = run('list');
    assert.equal(none.stdout, '', 'JSON lines only on stdout');
    assert.match(none.stderr, /\nsmsrelay: quarantine list: no quarantined requests\n$/);
  });

  test('info lines mask every form of sender', () => {
    assertNeverLogged(lines, { 'the short code': '"12345"', 'the sender name': '"ACME"', 'the unlisted number': UNLISTED });
  });
});
