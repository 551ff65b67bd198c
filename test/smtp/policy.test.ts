import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { before, describe, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import metadata from 'libphonenumber-js/metadata.max.json';
import nodemailer from 'nodemailer';
import { webhookPaths } from '../../src/http/webhooks.ts';
import { hashPassword } from '../../src/policy/passwords.ts';
import { maildirMessages, relayWithSimulator, waitFor } from '../helpers/relay.ts';
import { queuedId, SmtpDialog, sendMail } from '../helpers/smtp.ts';

const TLS = {
  key: fileURLToPath(new URL('../fixtures/tls/key.pem', import.meta.url)),
  cert: fileURLToPath(new URL('../fixtures/tls/cert.pem', import.meta.url)),
};
const PASSWORD = 'correct horse battery';
const PASSWORD_HASH = await hashPassword(PASSWORD);

/** Who may send, to whom, how much (issue #7), over real sockets from 127.0.0.x addresses. */
describe('sender policy', () => {
  let offset = 0;
  /** The delays failed sign-ins were answered after, as the relay asked for them. */
  const loginDelays: number[] = [];
  const suite = relayWithSimulator(
    {
      // 30 sign-ins in parallel from one address test the login limiter, not smtp.maxConnectionsPerClient.
      smtp: { trustedNetworks: ['127.0.0.1/32'], tls: TLS, tlsPort: 0, maxConnectionsPerClient: 40 },
      sms: { domains: ['sms.example.com'], defaultRegion: 'GB' },
      accounts: [
        { username: 'erp', passwordHash: PASSWORD_HASH, senders: ['@erp.example.com'], holdToOwnFrom: true, perMinute: 2 },
        { username: 'billing', passwordHash: PASSWORD_HASH, gateway: { username: 'billing-at-gateway', password: 'expired' } },
      ],
      networks: [{ name: 'printers', cidr: ['127.0.0.3/32'], senders: ['@printers.example.com'], destinations: ['+4477'] }],
      policy: { blockedPrefixes: ['+4479'] },
    },
    {
      simulator: { webhookRetryMs: 100, reportDelayMs: 0 },
      start: { smtpClock: () => Date.now() + offset, loginPause: async (ms) => void loginDelays.push(ms) },
    },
  );

  before(() => {
    const base = `http://127.0.0.1:${suite.relay.relay.httpPort}`;
    suite.gateway.simulator.setWebhooks({ moUrl: `${base}${webhookPaths('intellisoftware').mo}`, drUrl: `${base}${webhookPaths('intellisoftware').dr}` });
  });
  const erp = (localAddress = '127.0.0.2') =>
    nodemailer.createTransport({
      host: '127.0.0.1',
      port: suite.port,
      secure: false,
      requireTLS: true,
      localAddress,
      tls: { rejectUnauthorized: false },
      auth: { user: 'erp', pass: PASSWORD },
    });

  test('an untrusted client cannot send without AUTH, and cannot AUTH before STARTTLS', async () => {
    const anonymous = await sendMail(suite.port, { to: ['447700900181@sms.example.com'] }, { localAddress: '127.0.0.2' });
    assert.match(`${anonymous.mail.code} ${anonymous.mail.text}`, /^530 5\.7\.0 /);
    const dialog = await SmtpDialog.open(suite.port, { localAddress: '127.0.0.2' });
    const ehlo = await dialog.command('EHLO client.example.com');
    assert.ok(ehlo.lines.some((line) => /^250[- ]STARTTLS$/.test(line)));
    assert.ok(!ehlo.lines.some((line) => /^250[- ]AUTH/.test(line)), `AUTH not offered in clear: ${ehlo.lines.join(' | ')}`);
    const auth = await dialog.command(`AUTH PLAIN ${Buffer.from(`\0erp\0${PASSWORD}`).toString('base64')}`);
    assert.equal(auth.code, 538);
    assert.match(auth.text, /^5\.7\.11 Encryption required/);
    // AUTH LOGIN is refused at once: no prompt for the user name and password to be sent in clear.
    const login = await dialog.command('AUTH LOGIN');
    await dialog.close();
    assert.equal(login.code, 538);
    assert.match(login.text, /^5\.7\.11 Encryption required/);
  });

  test('loopback itself is offered AUTH without TLS', async () => {
    const dialog = await SmtpDialog.open(suite.port);
    const ehlo = await dialog.command('EHLO client.example.com');
    await dialog.close();
    assert.ok(
      ehlo.lines.some((line) => /^250[- ]AUTH PLAIN LOGIN$/.test(line)),
      ehlo.lines.join(' | '),
    );
  });

  test('MAIL parameters of extensions EHLO did not offer get 555 5.5.4: AUTH= where AUTH is not offered, REQUIRETLS with or without TLS', async () => {
    const said = (reply: { code: number; text: string }) => `${reply.code} ${reply.text}`;
    const clear = await SmtpDialog.open(suite.port, { localAddress: '127.0.0.2' });
    await clear.command('EHLO client.example.com');
    assert.equal(said(await clear.command('MAIL FROM:<a@erp.example.com> AUTH=<>')), '555 5.5.4 Unsupported MAIL FROM parameter AUTH');
    assert.equal(said(await clear.command('MAIL FROM:<a@erp.example.com> AUTH=erp@erp.example.com')), '555 5.5.4 Unsupported MAIL FROM parameter AUTH');
    assert.equal(said(await clear.command('MAIL FROM:<a@erp.example.com> REQUIRETLS')), '555 5.5.4 Unsupported MAIL FROM parameter REQUIRETLS');
    await clear.close();
    // Loopback is offered AUTH: its parameter is taken (Postfix sends AUTH=<>).
    const loopback = await SmtpDialog.open(suite.port);
    await loopback.command('EHLO client.example.com');
    assert.equal((await loopback.command('MAIL FROM:<a@erp.example.com> AUTH=<>')).code, 250);
    await loopback.close();
    // Over TLS, where smtp-server took REQUIRETLS though no EHLO listed it.
    const socket = tlsConnect({ host: '127.0.0.1', port: suite.relay.relay.smtpTlsPort ?? 0, rejectUnauthorized: false });
    let seen = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (seen += chunk));
    const line = async (pattern: RegExp) => waitFor(`a reply matching ${pattern}`, () => pattern.exec(seen)?.[0]);
    await line(/^220 [^\r\n]*\r\n/);
    socket.write('EHLO client.example.com\r\n');
    const ehlo = await line(/^250 [^\r\n]*\r\n/m);
    assert.doesNotMatch(seen, /REQUIRETLS/, `EHLO offers no REQUIRETLS: ${ehlo}`);
    seen = '';
    socket.write('MAIL FROM:<orders@erp.example.com> REQUIRETLS\r\n');
    assert.equal((await line(/^\d{3} [^\r\n]*/))?.trim(), '555 5.5.4 Unsupported MAIL FROM parameter REQUIRETLS');
    socket.destroy();
  });

  test('the trace on a mail for the postmaster names how it came (RFC 3848): ESMTPSA after STARTTLS and AUTH, ESMTPS over TLS alone', async () => {
    const billing = nodemailer.createTransport({
      host: '127.0.0.1',
      port: suite.port,
      requireTLS: true,
      localAddress: '127.0.0.2',
      tls: { rejectUnauthorized: false },
      auth: { user: 'billing', pass: PASSWORD },
    });
    const anonymous = nodemailer.createTransport({ host: '127.0.0.1', port: suite.port, requireTLS: true, tls: { rejectUnauthorized: false } });
    try {
      const signedIn = await billing.sendMail({ from: 'billing@example.com', to: 'postmaster@sms.example.com', subject: 'trace', text: 'signed in' });
      const encrypted = await anonymous.sendMail({ from: 'ops@example.com', to: 'postmaster@sms.example.com', subject: 'trace', text: 'only encrypted' });
      for (const [info, body, protocol] of [
        [signedIn, 'signed in', 'ESMTPSA'],
        [encrypted, 'only encrypted', 'ESMTPS'],
      ] as const) {
        const id = /queued as (\S+)/.exec(info.response)?.[1];
        const file = await waitFor(`the postmaster's copy of "${body}"`, () => maildirMessages(suite.relay.maildir).find((each) => each.includes(body)));
        assert.match(file, new RegExp(`^Received: from \\S+ \\(\\[127\\.0\\.0\\.[12]\\]\\)\\n\\tby \\S+ with ${protocol} id ${id};`, 'm'));
      }
    } finally {
      billing.close();
      anonymous.close();
    }
  });

  test('an account sends after STARTTLS and AUTH, and on the implicit-TLS port', async () => {
    const client = erp();
    const info = await client.sendMail({ from: 'orders@erp.example.com', to: '447700900182@sms.example.com', subject: 'x', text: 'Order 42 shipped' });
    client.close();
    assert.match(info.response, /^250 2\.6\.0 Ok: queued as /);
    const implicit = nodemailer.createTransport({
      host: '127.0.0.1',
      port: suite.relay.relay.smtpTlsPort,
      secure: true,
      tls: { rejectUnauthorized: false },
      auth: { user: 'erp', pass: PASSWORD },
    });
    await implicit.verify();
    implicit.close();
    // SIGHUP's work: the key and certificate read again; new sessions use them.
    suite.relay.relay.reloadTls();
    const again = erp();
    await again.verify();
    again.close();
  });

  test('a wrong password is answered slowly and refused; many in a row block that address', async () => {
    loginDelays.length = 0;
    const wrong = nodemailer.createTransport({
      host: '127.0.0.1',
      port: suite.port,
      requireTLS: true,
      localAddress: '127.0.0.4',
      tls: { rejectUnauthorized: false },
      auth: { user: 'erp', pass: 'guess' },
    });
    await assert.rejects(wrong.verify(), (error: Error & { responseCode?: number }) => error.responseCode === 535);
    assert.deepEqual(loginDelays, [500], 'the failure is answered after a delay');
    wrong.close();
    let last: number | undefined;
    for (let attempt = 0; attempt < 10; attempt++) {
      const again = nodemailer.createTransport({
        host: '127.0.0.1',
        port: suite.port,
        requireTLS: true,
        localAddress: '127.0.0.4',
        tls: { rejectUnauthorized: false },
        auth: { user: 'erp', pass: `guess${attempt}` },
      });
      await again.verify().catch((error: Error & { responseCode?: number }) => {
        last = error.responseCode;
      });
      again.close();
      if (last === 454) break;
    }
    assert.equal(last, 454, 'blocked after repeated failures');
    assert.deepEqual(
      loginDelays,
      [500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 4500, 5000],
      'each failure waits longer, up to 5 s; a blocked address is refused at once',
    );
  });

  /** The reply to AUTH as `user` from the client address `localAddress` (loopback's 127/8): 235, or the refusal's code. */
  const authReply = (localAddress: string, user: string, pass: string) => {
    const client = nodemailer.createTransport({
      host: '127.0.0.1',
      port: suite.port,
      requireTLS: true,
      localAddress,
      tls: { rejectUnauthorized: false },
      auth: { user, pass },
    });
    return client
      .verify()
      .then(
        () => 235,
        (error: Error & { responseCode?: number }) => error.responseCode,
      )
      .finally(() => client.close());
  };
  test('wrong passwords sent in parallel are stopped after as many as sent one by one; the right one among them is blocked too', async () => {
    loginDelays.length = 0;
    const attempt = (pass: string) => authReply('127.0.0.9', 'erp', pass);
    const codes = await Promise.all(Array.from({ length: 30 }, (_, index) => attempt(`guess${index}`)));
    assert.equal(codes.filter((code) => code === 535).length, 10, `checked: ${codes.join(' ')}`);
    assert.equal(codes.filter((code) => code === 454).length, 20);
    assert.equal(loginDelays.length, 10, 'only the checked ones were failures');
    assert.equal(await attempt(PASSWORD), 454);
  });

  test("a success with one account forgets only that account's failures: guesses at another from the same address still block", async () => {
    const attempt = (user: string, pass: string) => authReply('127.0.0.10', user, pass);
    // erp mistypes once and then signs in: its own slip is forgotten.
    assert.equal(await attempt('erp', 'typo'), 535);
    assert.equal(await attempt('erp', PASSWORD), 235);
    // The owner of billing guesses at erp, signing in to billing between guesses.
    const codes: Array<number | undefined> = [];
    for (let guess = 0; guess < 12; guess++) {
      codes.push(await attempt('erp', `guess${guess}`));
      if (guess % 3 === 2) codes.push(await attempt('billing', PASSWORD));
    }
    assert.deepEqual(codes.slice(0, 13), [535, 535, 535, 235, 535, 535, 535, 235, 535, 535, 535, 235, 535], 'billing signs in while under the limit');
    assert.deepEqual(new Set(codes.slice(13)), new Set([454]), `blocked at the tenth failure: ${codes.join(' ')}`);
    assert.equal(await attempt('erp', PASSWORD), 454, 'the address stays blocked, for the right password too');
  });

  test('AUTH PLAIN asking to act as another account is refused (RFC 4616); a response that is not base64 gets 501 (RFC 4954), neither counted as a failed login', async () => {
    loginDelays.length = 0;
    const plain = (authzid: string, authcid: string, password: string) => `AUTH PLAIN ${Buffer.from(`${authzid}\0${authcid}\0${password}`).toString('base64')}`;
    const answer = async (...lines: string[]) => {
      const dialog = await SmtpDialog.open(suite.port);
      await dialog.command('EHLO client.example.com');
      let last = { code: 0, text: '' };
      for (const line of lines) last = await dialog.command(line);
      await dialog.close();
      return `${last.code} ${last.text}`;
    };
    assert.equal(
      await answer(plain('billing', 'erp', PASSWORD)),
      '535 5.7.8 Authentication credentials invalid: this relay lets no account act as another; leave the authorization identity empty',
    );
    assert.match(await answer(plain('erp', 'erp', PASSWORD)), /^235 /, 'acting as itself is no proxy');
    assert.match(await answer(plain('', 'erp', PASSWORD).replace(/=+$/, '')), /^235 /, 'a token without its padding is base64 still');
    const notBase64 = '501 5.5.2 Cannot decode the response: it is not base64; AUTH is cancelled';
    assert.equal(await answer('AUTH LOGIN', '!!!notb64'), notBase64, 'the user name');
    assert.equal(await answer('AUTH LOGIN', Buffer.from('erp').toString('base64'), '@@@'), notBase64, 'the password');
    assert.equal(await answer('AUTH PLAIN ###'), notBase64);
    assert.equal(await answer('AUTH PLAIN', 'AGVycABw%%%'), notBase64);
    assert.equal(await answer('AUTH LOGIN', '*'), '501 5.5.4 Authentication aborted', 'the cancel is as before');
    assert.deepEqual(loginDelays, [], 'no failed login counted');
  });

  test('allowlists: an account keeps to its senders and its own From; a listed network sends without AUTH within its rules', async () => {
    const client = erp();
    await assert.rejects(
      client.sendMail({ from: 'someone@example.com', to: '447700900183@sms.example.com', text: 'x' }),
      (error: Error & { response?: string }) => /^550 5\.7\.1 Sender refused: someone@example\.com may not send through account erp/.test(error.response ?? ''),
    );
    await assert.rejects(
      client.sendMail({ envelope: { from: 'orders@erp.example.com', to: '447700900183@sms.example.com' }, from: 'ceo@bank.example', text: 'x' }),
      (error: Error & { response?: string }) =>
        /^550 5\.7\.1 Sender refused: the From: address ceo@bank\.example is not one of account erp's own addresses/.test(error.response ?? ''),
    );
    client.close();

    const printer = await sendMail(
      suite.port,
      { from: 'hp@printers.example.com', to: ['447700900184@sms.example.com'], body: 'Toner low' },
      { localAddress: '127.0.0.3' },
    );
    assert.equal(printer.data?.code, 250);
    const stranger = await sendMail(suite.port, { from: 'x@example.com', to: ['447700900184@sms.example.com'] }, { localAddress: '127.0.0.3' });
    assert.match(stranger.mail.text, /^5\.7\.1 Sender refused: x@example\.com may not send through printers/);
    const abroad = await sendMail(suite.port, { from: 'hp@printers.example.com', to: ['353861234567@sms.example.com'] }, { localAddress: '127.0.0.3' });
    assert.equal(
      abroad.rcpt[0]?.text,
      '5.7.1 Recipient refused: +353861234567 is in IE (Ireland), outside the destinations allowed for this sender (+4477): add IE to its destinations',
    );
  });

  test('a premium-rate number, a blocked prefix and (for an account) a foreign country are refused at RCPT', async () => {
    const trusted = await sendMail(suite.port, { to: ['449012345678@sms.example.com', '447912345678@sms.example.com'] });
    assert.equal(trusted.rcpt[0]?.code, 550);
    assert.match(trusted.rcpt[0]?.text ?? '', /^5\.7\.1 Recipient refused: \+449012345678 is a premium-rate number/, 'whole: the client wrote it');
    assert.match(trusted.rcpt[1]?.text ?? '', /numbers starting \+4479 are blocked/);
    const client = erp();
    // A country is the number's own region: the Isle of Man, Jersey and Guernsey share GB's +44 but are not GB.
    const outside = (number: string, region: string) =>
      `550 5.7.1 Recipient refused: ${number} is in ${region}, outside the default region GB that an account without destinations may text: give the account destinations: [GB, ${region.slice(0, 2)}]`;
    for (const [to, number, region] of [
      ['33612345678', '+33612345678', 'FR (France)'],
      ['07624123456', '+447624123456', 'IM (Isle of Man)'],
      ['+447797123456', '+447797123456', 'JE (Jersey)'],
      ['07781123456', '+447781123456', 'GG (Guernsey)'],
    ] as const) {
      await assert.rejects(
        client.sendMail({ from: 'orders@erp.example.com', to: `${to}@sms.example.com`, text: 'x' }),
        (error: Error & { response?: string }) => {
          assert.equal(error.response, outside(number, region));
          return true;
        },
      );
    }
    client.close();
  });

  test("every ITU global service (libphonenumber's non-geographic calling codes) is refused at RCPT but International Freephone, +878 UPT too", async () => {
    // A valid number of each code, as libphonenumber types it: the code refuses it, whatever the type (+878 is VOIP).
    const examples: Readonly<Record<string, string>> = {
      '800': '+80012345678',
      '808': '+80812345678',
      '870': '+870773123456',
      '878': '+878101234567890',
      '881': '+8816123456789',
      '882': '+88213700000',
      '883': '+883510012345',
      '888': '+88812345678901',
      '979': '+979123456789',
    };
    assert.deepEqual(Object.keys(metadata.nonGeographic).sort(), Object.keys(examples).sort(), 'an example for each global service the metadata knows');
    const to = Object.values(examples).map((e164) => `${e164}@sms.example.com`);
    const sent = await sendMail(suite.port, { to });
    const answers = Object.values(examples).map((e164, index) => [e164, `${sent.rcpt[index]?.code} ${sent.rcpt[index]?.text}`]);
    for (const [e164, answer] of answers) {
      if (e164 === examples['800']) assert.match(answer ?? '', /^250 /, `${e164}: freephone costs the caller nothing`);
      else
        assert.match(
          answer ?? '',
          new RegExp(
            `^550 5\\.7\\.1 Recipient refused: \\${e164} is (a premium-rate|a shared-cost|a non-geographic \\(universal access\\)|an international satellite, network or global-service) number`,
          ),
          `${e164}: ${answer}`,
        );
    }
  });

  test('a rate limit answers 451 4.7.1, and the same mail is accepted once the minute has passed', async () => {
    const client = erp('127.0.0.5');
    const send = () => client.sendMail({ from: 'orders@erp.example.com', to: '447700900185@sms.example.com', text: 'rate' });
    await send();
    await send().catch(() => undefined);
    await assert.rejects(send(), (error: Error & { response?: string }) =>
      /^451 4\.7\.1 Sending limit reached: erp may send 2 mails a minute/.test(error.response ?? ''),
    );
    offset += 61_000;
    const later = await send();
    assert.match(later.response, /^250 /);
    offset = 0;
    client.close();
  });

  test('an account with its own gateway credentials sends with them; their refusal holds only its SMS', async () => {
    const billing = nodemailer.createTransport({
      host: '127.0.0.1',
      port: suite.port,
      tls: { rejectUnauthorized: false },
      auth: { user: 'billing', pass: PASSWORD },
    });
    const info = await billing.sendMail({ from: 'invoices@example.com', to: '447700900189@sms.example.com', text: 'Invoice due' });
    billing.close();
    const id = /queued as (\S+)/.exec(info.response)?.[1] ?? '';
    const events = await waitFor('a deferral', async () => {
      const history = await suite.relay.relay.store.events(id);
      return history.some((event) => event.kind === 'deferred') && history;
    });
    assert.match(events.find((event) => event.kind === 'deferred')?.detail ?? '', /ERR:LOGIN_INVALID/);
    // Everyone else's SMS still go: the relay's own account is not paused.
    const other = queuedId((await sendMail(suite.port, { to: ['447700900190@sms.example.com'], body: 'not paused' })).data);
    await waitFor('the other SMS', async () => (await suite.relay.relay.store.smsOf(other))[0]?.status === 'sent');
    assert.equal((await suite.relay.relay.store.smsOf(id))[0]?.status, 'queued');
  });

  test('STOP (any opt-out keyword) opts a number out (refused at RCPT, naming it) and START opts it back in', async () => {
    const number = '447700900186';
    assert.equal((await sendMail(suite.port, { to: [`${number}@sms.example.com`], body: 'first' })).data?.code, 250);
    const sms = await waitFor('the SMS', () => suite.gateway.simulator.received.find((entry) => entry.to === number));
    suite.gateway.simulator.sendMo({ from: number, text: ' Unsubscribe\n', usercontext: sms.userContext });
    await waitFor('opted out', async () => suite.relay.relay.store.isOptedOut(`+${number}`));
    const refused = await sendMail(suite.port, { to: [`${number}@sms.example.com`], body: 'second' });
    assert.equal(refused.rcpt[0]?.code, 550);
    assert.match(refused.rcpt[0]?.text ?? '', /has opted out of SMS from this relay \(they texted UNSUBSCRIBE\)/, 'the keyword it texted');
    suite.gateway.simulator.sendMo({ from: number, text: 'START' });
    await waitFor('opted in', async () => !(await suite.relay.relay.store.isOptedOut(`+${number}`)));
    assert.equal((await sendMail(suite.port, { to: [`${number}@sms.example.com`], body: 'third' })).data?.code, 250);
  });
});

describe('accounts on a relay without smtp.tls', () => {
  const suite = relayWithSimulator({ accounts: [{ username: 'erp', passwordHash: PASSWORD_HASH }] });

  test('another host is told that this relay has no TLS, not pointed to a STARTTLS it does not offer; loopback signs in', async () => {
    const dialog = await SmtpDialog.open(suite.port, { localAddress: '127.0.0.2' });
    const ehlo = await dialog.command('EHLO client.example.com');
    assert.ok(!ehlo.lines.some((line) => /^250[- ](STARTTLS|AUTH)/.test(line)), ehlo.lines.join(' | '));
    for (const command of ['AUTH LOGIN', `AUTH PLAIN ${Buffer.from(`\0erp\0${PASSWORD}`).toString('base64')}`]) {
      const auth = await dialog.command(command);
      assert.equal(
        `${auth.code} ${auth.text}`,
        "538 5.7.11 Encryption required: this relay offers no TLS (smtp.tls is not set), so AUTH works only from the relay's own host",
      );
    }
    await dialog.close();
    const local = await SmtpDialog.open(suite.port);
    await local.command('EHLO client.example.com');
    assert.equal((await local.command(`AUTH PLAIN ${Buffer.from(`\0erp\0${PASSWORD}`).toString('base64')}`)).code, 235);
    await local.close();
  });
});
