import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import { hashPassword } from '../../src/policy/passwords.ts';
import { type Relay, startRelay } from '../../src/relay.ts';
import { signinFormAt } from '../helpers/console.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { relayEnvironment, removeDir, tempDir } from '../helpers/relay.ts';
import { SmtpDialog } from '../helpers/smtp.ts';

/**
 * Failed SMTP AUTH and console sign-ins over the wire: the name tried reaches the log as written only
 * when it is a configured account or user; any other (a password typed as the user, a phone number)
 * as a tag.
 */

const ACCOUNT_PASSWORD = 'erp-secret-pass';
const CONSOLE_PASSWORD = 'console-pass-123';
const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

describe('the user name of a failed sign-in in the log', () => {
  const dir = tempDir();
  const { logger, lines } = captureLog('info');
  let relay: Relay;
  before(async () => {
    const yaml = {
      accounts: [{ username: 'erp', passwordHash: await hashPassword(ACCOUNT_PASSWORD), senders: ['@erp.example.com'] }],
      console: { users: [{ name: 'olivia', passwordHash: await hashPassword(CONSOLE_PASSWORD), role: 'operator' }] },
    };
    const { config } = loadConfig(relayEnvironment(dir, yaml), dir);
    relay = await startRelay(config, logger, { loginPause: async () => {} });
  });
  after(async () => {
    await relay.stop();
    removeDir(dir);
  });

  /** What the log says of each failure, `component: user`, in order. */
  const failures = () =>
    lines
      .map((line) => JSON.parse(line) as { msg?: string; component?: string; user?: string })
      .filter((line) => line.msg === 'acceptance: authentication failed' || line.msg === 'console: sign-in failed')
      .map((line) => String(line.user));

  async function smtpAuth(...commands: string[]): Promise<number | undefined> {
    const dialog = await SmtpDialog.open(relay.smtpPort);
    await dialog.command('EHLO client.example.com');
    let reply: Awaited<ReturnType<SmtpDialog['command']>> | undefined;
    for (const command of commands) reply = await dialog.command(command);
    await dialog.close();
    return reply?.code;
  }

  async function consoleSignIn(name: string, password: string): Promise<number> {
    const base = `http://127.0.0.1:${relay.httpPort}`;
    const { cookie, token } = await signinFormAt(base);
    const response = await fetch(`${base}/console/signin`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      body: new URLSearchParams({ name, password, _csrf: token }),
      redirect: 'manual',
    });
    return response.status;
  }

  test('SMTP AUTH: a password given as the user, a phone number: neither is logged; a known account is, by name', async () => {
    lines.length = 0;
    // AUTH LOGIN with the fields swapped: the password as the user name.
    assert.equal(await smtpAuth('AUTH LOGIN', base64(ACCOUNT_PASSWORD), base64('erp')), 535);
    assert.equal(await smtpAuth(`AUTH PLAIN ${base64('\0+44 7700 900919\0pw')}`), 535);
    assert.equal(await smtpAuth(`AUTH PLAIN ${base64(`\0${ACCOUNT_PASSWORD}\0erp`)}`), 535, 'the same unknown name again');
    assert.equal(await smtpAuth(`AUTH PLAIN ${base64('\0erp\0typo')}`), 535);
    const [swapped, number, again, known] = failures();
    assert.match(swapped ?? '', /^unknown#[0-9a-f]{8}$/);
    assert.match(number ?? '', /^unknown#[0-9a-f]{8}$/);
    assert.notEqual(swapped, number, 'two names, two tags');
    assert.equal(again, swapped, 'one name tried again shows as one tag');
    assert.equal(known, 'erp');
    const logged = lines.join('');
    for (const secret of [ACCOUNT_PASSWORD, '+44 7700 900919', '7700', '900919']) assert.ok(!logged.includes(secret), `${secret} logged`);
  });

  test('AUTH PLAIN acting as another: the user and the authorisation id are logged as any sign-in name is', async () => {
    lines.length = 0;
    assert.equal(await smtpAuth(`AUTH PLAIN ${base64(`${ACCOUNT_PASSWORD}\0+44 7700 900918\0pw`)}`), 535);
    assert.equal(await smtpAuth(`AUTH PLAIN ${base64(`olivia\0erp\0${ACCOUNT_PASSWORD}`)}`), 535, 'a console user is no account');
    const refused = lines
      .map((line) => JSON.parse(line) as { msg?: string; user?: string; authzid?: string; session?: string })
      .filter((line) => line.msg === 'acceptance: authentication refused');
    const [strangers, known] = refused;
    assert.equal(refused.length, 2, lines.join('\n'));
    for (const line of refused) assert.match(line.session ?? '', /^[a-z0-9]+$/, 'the SMTP session id, to match the line to its connection');
    assert.match(strangers?.user ?? '', /^unknown#[0-9a-f]{8}$/);
    assert.match(strangers?.authzid ?? '', /^unknown#[0-9a-f]{8}$/);
    assert.equal(known?.user, 'erp');
    assert.match(known?.authzid ?? '', /^unknown#[0-9a-f]{8}$/);
    const logged = lines.join('');
    for (const secret of [ACCOUNT_PASSWORD, '+44 7700 900918', '7700', '900918']) assert.ok(!logged.includes(secret), `${secret} logged`);
  });

  test('console sign-in: a number or a password as the name is not logged; a configured user is, by name', async () => {
    lines.length = 0;
    assert.equal(await consoleSignIn('447700900920', 'x'), 401);
    assert.equal(await consoleSignIn(`${CONSOLE_PASSWORD}x`, 'x'), 401);
    assert.equal(await consoleSignIn('olivia', 'x'), 401);
    const [number, password, known] = failures();
    assert.match(number ?? '', /^unknown#[0-9a-f]{8}$/);
    assert.match(password ?? '', /^unknown#[0-9a-f]{8}$/);
    assert.equal(known, 'olivia');
    const logged = lines.join('');
    for (const secret of ['447700900920', CONSOLE_PASSWORD]) assert.ok(!logged.includes(secret), `${secret} logged`);
  });
});
