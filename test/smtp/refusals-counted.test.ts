import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { relayWithSimulator } from '../helpers/relay.ts';
import { type Reply, SmtpDialog } from '../helpers/smtp.ts';

const MAX_MESSAGE_BYTES = 20_000;
/** The shortest idle timeout the configuration takes. */
const IDLE_TIMEOUT_MS = 10_000;

const said = (reply: Reply) => `${reply.code} ${reply.text}`;

/**
 * smsrelay_smtp_refused_total counts every refusal the relay answers, smtp-server's own included, and
 * every session it closes on a limit, by catalogue code (over real SMTP, the metric read over HTTP).
 */
describe('every SMTP refusal and limit close is counted', () => {
  const suite = relayWithSimulator({
    smtp: { trustedNetworks: ['127.0.0.1/32'], maxMessageBytes: MAX_MESSAGE_BYTES, idleTimeout: `${IDLE_TIMEOUT_MS / 1000}s` },
  });
  const counts = async () => {
    const metrics = await (await fetch(`http://127.0.0.1:${suite.relay.relay.httpPort}/metrics`)).text();
    return new Map([...metrics.matchAll(/^smsrelay_smtp_refused_total\{code="(\w+)"\} (\d+)$/gm)].map((match) => [match[1], Number(match[2])]));
  };
  /** What `session` added to the counter, by code. */
  const counted = async (session: () => Promise<void>) => {
    const before = await counts();
    await session();
    const after = await counts();
    return Object.fromEntries(
      [...after].filter(([code, count]) => count !== (before.get(code) ?? 0)).map(([code, count]) => [code, count - (before.get(code) ?? 0)]),
    );
  };
  const closedByRelay = async (dialog: SmtpDialog) => assert.rejects(dialog.reply(2000), /connection closed/);

  test('SIZE over the limit at MAIL is 552 5.3.4 in the catalogue words, as at the end of DATA, and counted', async () => {
    const delta = await counted(async () => {
      const dialog = await SmtpDialog.open(suite.port);
      await dialog.command('EHLO client.example.com');
      const refused = await dialog.command('MAIL FROM:<a@example.com> SIZE=999999');
      assert.equal(said(refused), `552 5.3.4 Message too big: the limit is ${MAX_MESSAGE_BYTES} bytes`);
      assert.equal((await dialog.command(`MAIL FROM:<a@example.com> SIZE=${MAX_MESSAGE_BYTES}`)).code, 250);
      await dialog.close();
    });
    assert.deepEqual(delta, { MESSAGE_TOO_BIG: 1 });
  });

  test("smtp-server's own refusals and the relay's own answers in patches are counted by their catalogue code", async () => {
    const delta = await counted(async () => {
      const dialog = await SmtpDialog.open(suite.port);
      await dialog.command('EHLO client.example.com');
      assert.equal((await dialog.command('DATA')).code, 503);
      assert.equal((await dialog.command('EXPN staff')).code, 502);
      assert.equal((await dialog.command('FOO')).code, 500);
      assert.equal(said(await dialog.command('AUTH')).slice(0, 9), '502 5.5.1', 'no AUTH on a relay without accounts');
      assert.equal((await dialog.command('MAIL FROM:<a@example.com>')).code, 250);
      assert.equal((await dialog.command('RCPT TO:<447 700 900 123@sms.localhost>')).code, 501);
      assert.equal((await dialog.command('RCPT TO:<447700900123@sms.localhost>')).code, 250);
      assert.equal((await dialog.command('DATA 100')).code, 501);
      await dialog.close();
    });
    assert.deepEqual(delta, { BAD_SEQUENCE: 1, NOT_IMPLEMENTED: 1, UNKNOWN_COMMAND: 1, AUTH_UNAVAILABLE: 1, BAD_COMMAND_SYNTAX: 1, BAD_RECIPIENT_SYNTAX: 1 });
  });

  test('sessions closed on a limit are counted: too many unrecognized commands (421 4.7.0, as the other session limits), an over-long line', async () => {
    const delta = await counted(async () => {
      const junk = await SmtpDialog.open(suite.port);
      await junk.command('EHLO client.example.com');
      for (let index = 0; index < 9; index++) assert.equal((await junk.command('FOO')).code, 500);
      assert.equal(said(await junk.command('FOO')), '421 4.7.0 Too many unrecognized commands in this session; closing the connection');
      await closedByRelay(junk);
      const long = await SmtpDialog.open(suite.port);
      const reply = await long.command(`NOOP ${'a'.repeat(5000)}`);
      assert.equal(reply.code, 421, reply.text);
      await closedByRelay(long);
    });
    assert.deepEqual(delta, { UNKNOWN_COMMAND: 9, TOO_MANY_COMMANDS: 1, LINE_TOO_LONG: 1 });
  });

  test('a session closed at the idle timeout is counted', async () => {
    const delta = await counted(async () => {
      const dialog = await SmtpDialog.open(suite.port);
      await dialog.command('EHLO client.example.com');
      const reply = await dialog.reply(IDLE_TIMEOUT_MS * 2);
      assert.equal(`${reply.code} ${reply.enhanced}`, '421 4.4.2', reply.text);
      await closedByRelay(dialog);
    });
    assert.deepEqual(delta, { IDLE_TIMEOUT: 1 });
  });

  test("after HELO or without a greeting, the offered extensions' parameters are taken as after EHLO (as Postfix does); only an unknown one is 555", async () => {
    const delta = await counted(async () => {
      const helo = await SmtpDialog.open(suite.port);
      await helo.command('HELO client.example.com');
      for (const parameters of ['SIZE=100', 'BODY=7BIT', 'BODY=8BITMIME SMTPUTF8', 'RET=HDRS ENVID=alert-1']) {
        assert.equal(said(await helo.command(`MAIL FROM:<a@example.com> ${parameters}`)), '250 2.1.0 Accepted', parameters);
        assert.equal((await helo.command('RCPT TO:<447700900124@sms.localhost> NOTIFY=FAILURE ORCPT=rfc822;ops@example.com')).code, 250);
        await helo.command('RSET');
      }
      assert.equal(said(await helo.command('MAIL FROM:<a@example.com> SIZE=999999')), `552 5.3.4 Message too big: the limit is ${MAX_MESSAGE_BYTES} bytes`);
      assert.equal(said(await helo.command('MAIL FROM:<a@example.com> FOO=BAR')), '555 5.5.4 Unsupported MAIL FROM parameter FOO');
      assert.equal((await helo.command('MAIL FROM:<a@example.com> BODY=7BIT')).code, 250);
      assert.equal(said(await helo.command('RCPT TO:<447700900124@sms.localhost> FOO=BAR')), '555 5.5.4 Unsupported RCPT TO parameter FOO');
      await helo.close();
      // A device that skips the greeting: its MAIL is taken as after HELO, parameters too.
      const bare = await SmtpDialog.open(suite.port);
      assert.equal(said(await bare.command('MAIL FROM:<ups@example.com> BODY=7BIT')), '250 2.1.0 Accepted');
      assert.equal((await bare.command('RCPT TO:<447700900125@sms.localhost>')).code, 250);
      assert.equal((await bare.data('Subject: on battery\r\n\r\nUPS on battery')).code, 250);
      await bare.close();
    });
    assert.deepEqual(delta, { MESSAGE_TOO_BIG: 1, UNKNOWN_SMTP_PARAMETER: 2 });
  });
});
