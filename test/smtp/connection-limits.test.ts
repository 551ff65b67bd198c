import assert from 'node:assert/strict';
import { connect as connectTcp } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { connect as connectTls } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { type Config, loadConfig } from '../../src/config/load.ts';
import { type Relay, startRelay } from '../../src/relay.ts';
import { STRESSED_IDLE_MS, trustedReserve } from '../../src/smtp/intake.ts';
import { MAX_COMMANDS_WITHOUT_MAIL, MAX_SESSION_REFUSALS } from '../../src/smtp/patches.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { relayEnvironment, removeDir, tempDir, waitFor } from '../helpers/relay.ts';
import { type Reply, SmtpDialog } from '../helpers/smtp.ts';

const OUTSIDER = '127.0.0.2';
const LISTED = '127.0.0.3';
const MAX_CONNECTIONS = 8;
const PER_CLIENT = 2;

/**
 * Clients outside the trusted networks cannot take the connection slots a real sender needs (over real
 * SMTP, the log captured): per-address connections, refusals and commands without mail are limited,
 * each ending in a 421 that is counted and logged; a sender that sends mail is not limited.
 */
describe('SMTP connection and session limits', () => {
  let relay: Relay;
  let config: Config;
  let dir: string;
  const log = captureLog('info');
  const lines = () => log.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  const refusedCount = async (code: string) => {
    const metrics = await (await fetch(`http://127.0.0.1:${relay.httpPort}/metrics`)).text();
    return Number(new RegExp(`^smsrelay_smtp_refused_total\\{code="${code}"\\} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 0);
  };
  const closed = async (dialog: SmtpDialog) => assert.rejects(dialog.reply(2000), /connection closed/);

  before(async () => {
    dir = tempDir();
    ({ config } = loadConfig(
      relayEnvironment(dir, {
        smtp: { maxConnections: MAX_CONNECTIONS, maxConnectionsPerClient: PER_CLIENT, trustedNetworks: ['127.0.0.1/32'] },
        networks: [{ name: 'lab', cidr: [`${LISTED}/32`] }],
      }),
      dir,
    ));
    relay = await startRelay(config, log.logger);
  });
  after(async () => {
    await relay.stop();
    removeDir(dir);
  });

  test('one address outside the trusted networks gets smtp.maxConnectionsPerClient connections, then 421 4.7.0; past smtp.maxConnections 421 4.3.2; counted, logged once a minute', async () => {
    const open: SmtpDialog[] = [];
    try {
      for (let index = 0; index < PER_CLIENT; index++) open.push(await SmtpDialog.open(relay.smtpPort, { localAddress: OUTSIDER }));
      const over = await SmtpDialog.open(relay.smtpPort, { localAddress: OUTSIDER });
      assert.equal(
        `${over.greeting.code} ${over.greeting.text}`,
        `421 4.7.0 ${config.smtp.hostname} Too many connections from ${OUTSIDER} (${PER_CLIENT}); try again later`,
      );
      await closed(over);
      // Others still get in; the trusted networks are not limited per address.
      open.push(await SmtpDialog.open(relay.smtpPort, { localAddress: LISTED }));
      while (open.length < MAX_CONNECTIONS) open.push(await SmtpDialog.open(relay.smtpPort));
      for (const dialog of open) assert.equal(dialog.greeting.code, 220);
      const busy: Reply[] = [];
      for (let index = 0; index < 2; index++) {
        const dialog = await SmtpDialog.open(relay.smtpPort);
        busy.push(dialog.greeting);
        await closed(dialog);
      }
      for (const reply of busy)
        assert.equal(`${reply.code} ${reply.text}`, `421 4.3.2 ${config.smtp.hostname} Too many connected clients, try again in a moment`);
    } finally {
      await Promise.all(open.map((dialog) => dialog.close()));
    }
    assert.equal(await refusedCount('TOO_MANY_CONNECTIONS'), 1);
    assert.equal(await refusedCount('SERVER_BUSY'), 2);
    const logged = lines().filter((line) => line.msg === 'smtp: connection turned away');
    assert.deepEqual(
      logged.map((line) => [line.level, line.code, line.client]),
      [
        ['warn', 'TOO_MANY_CONNECTIONS', OUTSIDER],
        ['warn', 'SERVER_BUSY', '127.0.0.1'],
      ],
      'one line per reason within a minute',
    );
  });

  test(`a session outside the trusted networks refused ${MAX_SESSION_REFUSALS} times is closed with 421 4.7.0`, async () => {
    const before = await refusedCount('TOO_MANY_COMMANDS');
    const dialog = await SmtpDialog.open(relay.smtpPort, { localAddress: OUTSIDER });
    assert.equal((await dialog.command('EHLO outsider.example.com')).code, 250);
    for (let index = 0; index < MAX_SESSION_REFUSALS; index++) {
      const mail = await dialog.command('MAIL FROM:<someone@example.com>');
      assert.equal(`${mail.code} ${mail.enhanced}`, '530 5.7.0');
    }
    const last = await dialog.reply();
    assert.equal(`${last.code} ${last.text}`, `421 4.7.0 Too many refused commands in this session (${MAX_SESSION_REFUSALS}); closing the connection`);
    await closed(dialog);
    assert.equal(await refusedCount('TOO_MANY_COMMANDS'), before + 1);
  });

  test(`NOOPs do not keep a session outside the trusted networks open: ${MAX_COMMANDS_WITHOUT_MAIL} commands without mail, then 421 4.7.0`, async () => {
    const dialog = await SmtpDialog.open(relay.smtpPort, { localAddress: OUTSIDER });
    // The greeting a session owes is no junk: 100 NOOPs after it pass, the 101st is one too many.
    assert.equal((await dialog.command('EHLO outsider.example.com')).code, 250);
    for (let index = 0; index < MAX_COMMANDS_WITHOUT_MAIL; index++) assert.equal((await dialog.command('NOOP')).code, 250);
    const over = await dialog.command('NOOP');
    assert.equal(`${over.code} ${over.text}`, `421 4.7.0 Too many commands without a mail (${MAX_COMMANDS_WITHOUT_MAIL}); closing the connection`);
    await closed(dialog);
  });

  test('a greeting again counts among the commands without mail', async () => {
    const dialog = await SmtpDialog.open(relay.smtpPort, { localAddress: OUTSIDER });
    assert.equal((await dialog.command('EHLO outsider.example.com')).code, 250);
    assert.equal((await dialog.command('HELO outsider.example.com')).code, 250);
    for (let index = 1; index < MAX_COMMANDS_WITHOUT_MAIL; index++) assert.equal((await dialog.command('NOOP')).code, 250);
    const over = await dialog.command('NOOP');
    assert.equal(`${over.code} ${over.text}`, `421 4.7.0 Too many commands without a mail (${MAX_COMMANDS_WITHOUT_MAIL}); closing the connection`);
    await closed(dialog);
  });

  test(`a roster from a listed network with ${MAX_SESSION_REFUSALS} numbers that texted STOP is sent to the others: a number's refusal does not count once the mail holds an accepted recipient`, async () => {
    const roster = Array.from({ length: 30 }, (_, index) => `+4477009008${String(index).padStart(2, '0')}`);
    const optedOut = roster.slice(0, MAX_SESSION_REFUSALS);
    for (const number of optedOut) relay.simulator?.reply(number.slice(1), 'STOP');
    for (const number of optedOut) await waitFor(`${number}'s STOP`, () => relay.store.isOptedOut(number));
    const dialog = await SmtpDialog.open(relay.smtpPort, { localAddress: LISTED });
    try {
      assert.equal((await dialog.command('EHLO lab.example.com')).code, 250);
      assert.equal((await dialog.command('MAIL FROM:<monitoring@example.com>')).code, 250);
      // The accepted ones first and last: the refusals fall between them, as a roster's order has them.
      const answers: number[] = [];
      for (const number of [...roster.slice(MAX_SESSION_REFUSALS, 25), ...optedOut, ...roster.slice(25)]) {
        answers.push((await dialog.command(`RCPT TO:<${number}@sms.localhost>`)).code);
      }
      assert.deepEqual(answers.toSorted(), [...Array(10).fill(250), ...Array(MAX_SESSION_REFUSALS).fill(550)]);
      const data = await dialog.data('Subject: roster\r\n\r\nDisk full on db6');
      assert.equal(data.code, 250, data.text);
      assert.equal((await dialog.command('QUIT')).code, 221);
    } finally {
      await dialog.close();
    }
    await waitFor('the 10 SMS', () => (relay.simulator?.records.filter((record) => record.text === 'Disk full on db6').length ?? 0) >= 10);
    assert.deepEqual(
      relay.simulator?.records
        .filter((record) => record.text === 'Disk full on db6')
        .map((record) => `+${record.to}`)
        .toSorted(),
      roster.slice(MAX_SESSION_REFUSALS),
    );
  });

  test(`a scanner refused for numbers ${MAX_SESSION_REFUSALS} times without a recipient accepted is still closed`, async () => {
    const dialog = await SmtpDialog.open(relay.smtpPort, { localAddress: LISTED });
    assert.equal((await dialog.command('EHLO lab.example.com')).code, 250);
    assert.equal((await dialog.command('MAIL FROM:<scan@example.com>')).code, 250);
    for (let index = 0; index < MAX_SESSION_REFUSALS; index++) {
      // Opted out (the roster's above) or no valid number: refusals of a number, but none accepted before them.
      const address = index % 2 === 0 ? `+4477009008${String(index).padStart(2, '0')}` : `12${index}`;
      assert.equal((await dialog.command(`RCPT TO:<${address}@sms.localhost>`)).code, 550);
    }
    const last = await dialog.reply();
    assert.equal(`${last.code} ${last.text}`, `421 4.7.0 Too many refused commands in this session (${MAX_SESSION_REFUSALS}); closing the connection`);
    await closed(dialog);
  });

  /** Opens a session from the listed network with a mail from `from` holding `number` (accepted). */
  const mailHolding = async (number: string, from = 'scan@example.com') => {
    const dialog = await SmtpDialog.open(relay.smtpPort, { localAddress: LISTED });
    assert.equal((await dialog.command('EHLO lab.example.com')).code, 250);
    await nextMail(dialog, number, from);
    return dialog;
  };
  const nextMail = async (dialog: SmtpDialog, number: string, from = 'scan@example.com') => {
    assert.equal((await dialog.command(`MAIL FROM:<${from}>`)).code, 250);
    assert.equal((await dialog.command(`RCPT TO:<${number}@sms.localhost>`)).code, 250);
  };
  /** A premium-rate number: refused for the number itself. */
  const premium = (index: number) => `+44909879${String(index).padStart(4, '0')}`;
  const refuse = async (dialog: SmtpDialog, addresses: readonly string[], code = 550) => {
    for (const address of addresses) assert.equal((await dialog.command(`RCPT TO:<${address}>`)).code, code, address);
  };
  const premiums = (count: number) => Array.from({ length: count }, (_, index) => `${premium(index)}@sms.localhost`);
  const relaying = (count: number) => Array.from({ length: count }, (_, index) => `someone${index}@example.com`);
  const closedAfterAnswer = async (dialog: SmtpDialog, limit: string) => {
    const last = await dialog.reply();
    assert.equal(`${last.code} ${last.text}`, `421 4.7.0 ${limit}; closing the connection`);
    await closed(dialog);
  };
  const REFUSED = `Too many refused commands in this session (${MAX_SESSION_REFUSALS})`;
  /** A mail holding `number` whose `refused` RCPTs leave the session open after its 250, then one whose refusals close it right after its 250. */
  const goesOnThenClosed = async (...mails: readonly [readonly [string, readonly string[]], readonly [string, readonly string[]]]) => {
    const dialog = await SmtpDialog.open(relay.smtpPort, { localAddress: LISTED });
    assert.equal((await dialog.command('EHLO lab.example.com')).code, 250);
    for (const [number, refused] of mails) {
      await nextMail(dialog, number);
      await refuse(dialog, refused);
      const data = await dialog.data(`Subject: roster\r\n\r\nSent to ${number}`);
      assert.equal(data.code, 250, data.text);
    }
    await closedAfterAnswer(dialog, REFUSED);
  };
  const WITHOUT_MAIL = `Too many commands without a mail (${MAX_COMMANDS_WITHOUT_MAIL})`;

  test(`a session refused ${MAX_SESSION_REFUSALS} times while its mail holds an accepted recipient is closed right after that mail's answer`, async () => {
    const dialog = await mailHolding('+447700900900');
    // Relaying attempts count, whatever the mail holds.
    await refuse(dialog, relaying(MAX_SESSION_REFUSALS));
    const data = await dialog.data('Subject: held\r\n\r\nStill sent');
    assert.equal(data.code, 250, data.text);
    await closedAfterAnswer(dialog, REFUSED);
  });

  test(`a session refused ${2 * MAX_SESSION_REFUSALS} times within one mail holding an accepted recipient is closed at once`, async () => {
    const dialog = await mailHolding('+447700900901');
    await refuse(dialog, relaying(2 * MAX_SESSION_REFUSALS));
    await closedAfterAnswer(dialog, REFUSED);
  });

  test(`one accepted recipient, then smtp.maxRecipients + ${MAX_SESSION_REFUSALS} numbers refused: the first smtp.maxRecipients go uncounted, the mail is answered, then 421`, async () => {
    const dialog = await mailHolding('+447700900902');
    await refuse(dialog, premiums(config.smtp.maxRecipients + MAX_SESSION_REFUSALS));
    const data = await dialog.data('Subject: roster\r\n\r\nSent to the one');
    assert.equal(data.code, 250, data.text);
    await closedAfterAnswer(dialog, REFUSED);
  });

  test(`a name with a digit (noc1@, a list name guessed) counts, where a mistyped number does not: ${MAX_SESSION_REFUSALS} names close the session after the mail's answer`, async () => {
    const guessed = (count: number) => Array.from({ length: count }, (_, index) => `${['noc', 'team', 'ops-', 'x.'][index % 4]}${index}@sms.localhost`);
    // Numbers that are no valid number, as a roster may hold them: not counted, so the session goes on.
    await goesOnThenClosed(
      ['+447700900908', [...['+4477009', '0770-090', '(0)12', 'tel:+999'].map((local) => `${local}@sms.localhost`), ...guessed(MAX_SESSION_REFUSALS - 1)]],
      ['+447700900909', guessed(MAX_SESSION_REFUSALS)],
    );
  });

  test('the numbers refused uncounted are smtp.maxRecipients for the whole session: a mail accepted does not give more', async () => {
    // The session goes on (the refusals start afresh), but the next numbers refused count.
    await goesOnThenClosed(
      ['+447700900903', [...premiums(config.smtp.maxRecipients), ...relaying(MAX_SESSION_REFUSALS - 1)]],
      ['+447700900904', premiums(MAX_SESSION_REFUSALS)],
    );
  });

  test('the 250 of a mail held past the limit does not start the counts afresh (a resubmission, sent once, bought 139 more probes a mail): closed after it', async () => {
    const dialog = await mailHolding('+447700900905');
    await refuse(dialog, [
      ...Array.from({ length: 2 * MAX_SESSION_REFUSALS - 1 }, (_, index) => `nolist${index}@sms.localhost`),
      ...premiums(config.smtp.maxRecipients),
    ]);
    const data = await dialog.data('Message-ID: <same-probe@example.com>\r\nSubject: probe\r\n\r\nprobe text');
    assert.equal(data.code, 250, data.text);
    await closedAfterAnswer(dialog, REFUSED);
  });

  test(`a recipient accepted again (however written) is a command without a mail: past ${MAX_COMMANDS_WITHOUT_MAIL} the session is closed after the mail's answer, past twice that at once`, async () => {
    const number = '447700900906';
    const again = (count: number) => Array.from({ length: count }, (_, index) => (index % 2 === 0 ? `+${number}` : `00${number}`));
    const dialog = await mailHolding(`+${number}`);
    for (const address of again(MAX_COMMANDS_WITHOUT_MAIL + 1)) assert.equal((await dialog.command(`RCPT TO:<${address}@sms.localhost>`)).code, 250);
    const data = await dialog.data('Subject: again\r\n\r\nSent once');
    assert.equal(data.code, 250, data.text);
    await closedAfterAnswer(dialog, WITHOUT_MAIL);
    const scanner = await mailHolding(`+${number}`);
    for (const address of again(2 * MAX_COMMANDS_WITHOUT_MAIL + 1)) assert.equal((await scanner.command(`RCPT TO:<${address}@sms.localhost>`)).code, 250);
    await closedAfterAnswer(scanner, WITHOUT_MAIL);
  });

  test(`RCPTs answered 452 past smtp.maxRecipients are commands without a mail: a full mail cannot be used to scan numbers for ever`, async () => {
    const fresh = (from: number, count: number) =>
      Array.from({ length: count }, (_, index) => `+4477009${String(from + index).padStart(5, '0')}@sms.localhost`);
    const dialog = await mailHolding('+447700900907');
    for (const address of fresh(100, config.smtp.maxRecipients - 1)) assert.equal((await dialog.command(`RCPT TO:<${address}>`)).code, 250);
    await refuse(dialog, fresh(200, 2 * MAX_COMMANDS_WITHOUT_MAIL + 1), 452);
    await closedAfterAnswer(dialog, WITHOUT_MAIL);
  });

  test('a sender that sends mail is not limited: the counts start afresh at each mail accepted', async () => {
    // Two commands without mail and one refusal per mail: both limits passed many times over.
    const mails = Math.max(MAX_SESSION_REFUSALS, MAX_COMMANDS_WITHOUT_MAIL);
    const dialog = await SmtpDialog.open(relay.smtpPort, { localAddress: LISTED });
    try {
      assert.equal((await dialog.command('EHLO lab.example.com')).code, 250);
      for (let index = 0; index < mails; index++) {
        assert.equal((await dialog.command('RSET')).code, 250);
        assert.equal((await dialog.command('NOOP')).code, 250);
        assert.equal((await dialog.command('MAIL FROM:<ups@example.com>')).code, 250);
        assert.equal((await dialog.command('RCPT TO:<12@sms.localhost>')).code, 550, 'a refused recipient in every mail');
        assert.equal((await dialog.command(`RCPT TO:<+4477009${String(index).padStart(5, '0')}@sms.localhost>`)).code, 250);
        const data = await dialog.data(`Subject: alert ${index}\r\n\r\nUPS on battery ${index}`);
        assert.equal(data.code, 250, data.text);
      }
    } finally {
      await dialog.close();
    }
  });
});

describe('smtp.maxConnectionsPerClient across the SMTP listeners', () => {
  let relay: Relay;
  let config: Config;
  let dir: string;

  before(async () => {
    dir = tempDir();
    const tls = {
      key: fileURLToPath(new URL('../fixtures/tls/key.pem', import.meta.url)),
      cert: fileURLToPath(new URL('../fixtures/tls/cert.pem', import.meta.url)),
    };
    ({ config } = loadConfig(
      relayEnvironment(dir, { smtp: { maxConnectionsPerClient: PER_CLIENT, trustedNetworks: ['127.0.0.1/32'], tls, tlsPort: 0 } }),
      dir,
    ));
    relay = await startRelay(config, captureLog('info').logger);
  });
  after(async () => {
    await relay.stop();
    removeDir(dir);
  });

  /** The greeting on the implicit-TLS port, from `localAddress`. */
  const tlsGreeting = (localAddress: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = connectTls({ socket: connectTcp({ host: '127.0.0.1', port: relay.smtpTlsPort ?? 0, localAddress }), rejectUnauthorized: false });
      let seen = '';
      socket.setEncoding('utf8');
      socket.on('error', reject);
      socket.on('data', (chunk: string) => {
        seen += chunk;
        if (seen.includes('\r\n')) {
          socket.destroy();
          resolve(seen.trimEnd());
        }
      });
    });

  test('connections on the plain port count against the TLS port too: one address gets the limit on both together', async () => {
    const open: SmtpDialog[] = [];
    try {
      for (let index = 0; index < PER_CLIENT; index++) open.push(await SmtpDialog.open(relay.smtpPort, { localAddress: OUTSIDER }));
      assert.equal(await tlsGreeting(OUTSIDER), `421 4.7.0 ${config.smtp.hostname} Too many connections from ${OUTSIDER} (${PER_CLIENT}); try again later`);
      assert.match(await tlsGreeting(LISTED), /^220 /);
    } finally {
      await Promise.all(open.map((dialog) => dialog.close()));
    }
  });
});

/**
 * Outsiders holding silent connections (each within smtp.maxConnectionsPerClient, never a command) cannot
 * keep the trusted networks, or any sender, out: a share of the slots is the trusted networks' alone, and
 * once the server is full an outsider quiet for STRESSED_IDLE_MS (by the SMTP clock, moved by the test) is
 * closed to make room, the longest quiet first; the log names who holds the slots.
 */
describe('SMTP slots under outsiders holding silent connections', () => {
  const MAX = 10;
  const HOLDERS = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
  let relay: Relay;
  let config: Config;
  let dir: string;
  let now = Date.now();
  const log = captureLog('info');
  const closed = async (dialog: SmtpDialog) => assert.rejects(dialog.reply(2000), /connection closed/);

  before(async () => {
    dir = tempDir();
    ({ config } = loadConfig(relayEnvironment(dir, { smtp: { maxConnections: MAX, maxConnectionsPerClient: 3, trustedNetworks: ['127.0.0.1/32'] } }), dir));
    relay = await startRelay(config, log.logger, { smtpClock: () => now });
  });
  after(async () => {
    await relay.stop();
    removeDir(dir);
  });

  test('the trusted networks keep their share of smtp.maxConnections; when full, outsiders quiet for 10 s make room, longest quiet first; the log names the holders', async () => {
    const open: SmtpDialog[] = [];
    const busy = `421 4.3.2 ${config.smtp.hostname} Too many connected clients, try again in a moment`;
    const answer = (reply: Reply) => `${reply.code} ${reply.text}`;
    try {
      const reserve = trustedReserve(MAX);
      assert.equal(reserve, 1);
      // The outsiders take every slot they may: all but the trusted networks' share.
      for (const address of HOLDERS) {
        for (let index = 0; index < 3; index++) {
          const dialog = await SmtpDialog.open(relay.smtpPort, { localAddress: address });
          assert.equal(dialog.greeting.code, 220);
          open.push(dialog);
          now += 1;
        }
      }
      assert.equal(open.length, MAX - reserve);
      const outsider = await SmtpDialog.open(relay.smtpPort, { localAddress: '127.0.0.5' });
      assert.equal(answer(outsider.greeting), busy, 'an outsider finds no room left');
      await closed(outsider);
      const turnedAway = log.lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => line.code === 'SERVER_BUSY');
      assert.equal(turnedAway?.holders, '127.0.0.2 (3), 127.0.0.3 (3), 127.0.0.4 (3)', 'the log names who holds the slots');

      const trusted = await SmtpDialog.open(relay.smtpPort);
      assert.equal(trusted.greeting.code, 220, 'the trusted networks get their share');
      open.push(trusted);
      const second = await SmtpDialog.open(relay.smtpPort);
      assert.equal(answer(second.greeting), busy, 'full, and no outsider has been quiet long enough to make room');
      await closed(second);

      // Past the stressed idle timeout; the oldest holder speaks, so it is no longer the longest quiet.
      now += STRESSED_IDLE_MS;
      const [oldest, nextOldest, third] = open as [SmtpDialog, SmtpDialog, SmtpDialog];
      assert.equal((await oldest.command('NOOP')).code, 250);
      const trustedAgain = await SmtpDialog.open(relay.smtpPort);
      assert.equal(trustedAgain.greeting.code, 220, 'a trusted client gets in once an outsider quiet for 10 s made room');
      open.push(trustedAgain);
      const made = await nextOldest.reply(2000);
      assert.match(answer(made), /^421 4\.4\.2 No command for 10 s while the server is full; closing the connection to make room$/);
      await closed(nextOldest);
      // An outsider too, once another quiet one makes room; the one that spoke stays.
      const newcomer = await SmtpDialog.open(relay.smtpPort, { localAddress: '127.0.0.5' });
      assert.equal(newcomer.greeting.code, 220);
      open.push(newcomer);
      assert.equal((await third.reply(2000)).code, 421);
      assert.equal((await oldest.command('NOOP')).code, 250, 'a connection that sent a command within 10 s is kept');
    } finally {
      await Promise.all(open.map((dialog) => dialog.close().catch(() => undefined)));
    }
  });
});

/**
 * Quiet is counted from the relay's last reply, which answers every command and a DATA too (Postfix's smtpd_timeout):
 * a sender from a listed network whose DATA took longer than STRESSED_IDLE_MS is not closed right after its 250.
 */
describe('SMTP slots: a sender just answered is not quiet', () => {
  const MAX = 10;
  let relay: Relay;
  let config: Config;
  let dir: string;
  let now = Date.now();
  const log = captureLog('info');

  before(async () => {
    dir = tempDir();
    ({ config } = loadConfig(
      relayEnvironment(dir, {
        smtp: { maxConnections: MAX, maxConnectionsPerClient: 9, trustedNetworks: ['127.0.0.1/32'] },
        networks: [{ name: 'lab', cidr: ['127.0.0.2/32'] }],
      }),
      dir,
    ));
    relay = await startRelay(config, log.logger, { smtpClock: () => now });
  });
  after(async () => {
    await relay.stop();
    removeDir(dir);
  });

  test('a mail whose DATA took more than 10 s while the server is full: the sender sends its next MAIL after the 250', async () => {
    const open: SmtpDialog[] = [];
    try {
      const sender = await SmtpDialog.open(relay.smtpPort, { localAddress: '127.0.0.2' });
      open.push(sender);
      assert.equal((await sender.command('EHLO mta.example.net')).code, 250);
      assert.equal((await sender.command('MAIL FROM:<erp@lab.example>')).code, 250);
      await sender.command('RCPT TO:<postmaster>');
      assert.equal((await sender.command('DATA')).code, 354);
      // Another outside MTA fills the outsiders' room, busy.
      for (let index = 0; index < MAX - trustedReserve(MAX) - 1; index++) open.push(await SmtpDialog.open(relay.smtpPort, { localAddress: '127.0.0.3' }));
      now += STRESSED_IDLE_MS + 5000;
      for (const dialog of open.slice(1)) assert.equal((await dialog.command('NOOP')).code, 250);
      sender.write('Subject: hi\r\nFrom: erp@lab.example\r\n\r\nbody\r\n.\r\n');
      assert.equal((await sender.reply()).code, 250);
      // Right after its 250, a new client arrives: none is quiet, so it is turned away, and the sender stays.
      open.push(await SmtpDialog.open(relay.smtpPort, { localAddress: '127.0.0.4' }));
      const next = await sender.command('MAIL FROM:<erp@lab.example>');
      assert.equal(next.code, 250, `the sender's next MAIL got: ${next.code} ${next.text}`);
    } finally {
      await Promise.all(open.map((dialog) => dialog.close().catch(() => undefined)));
    }
  });
});
