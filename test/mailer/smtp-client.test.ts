import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createServer, type Server, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { buffer } from 'node:stream/consumers';
import DataStream from 'nodemailer/lib/smtp-connection/data-stream';
import { SMTPServer } from 'smtp-server';
import { createLogger } from '../../src/log.ts';
import { SMARTHOST_POOL_SIZE, smarthostTransport } from '../../src/mailer/smarthost.ts';
import { dotStuffed, originalRecipient, SmtpError, SmtpSession } from '../../src/mailer/smtp-client.ts';
import type { ClaimedMail } from '../../src/store/types.ts';
import { assertNeverLogged, captureLog } from '../helpers/log-lines.ts';
import { testSmarthost } from '../helpers/smtp-sink.ts';

/** The relay's smtp.hostname, its EHLO name to the smarthost. */
const HOSTNAME = 'relay.example.com';
/** The relay's settings the smarthost client takes. */
const RELAY = { hostname: HOSTNAME, from: 'MAILER-DAEMON@sms.example.com', logger: createLogger('silent') };

const TLS = {
  key: readFileSync(new URL('../fixtures/tls/key.pem', import.meta.url)),
  cert: readFileSync(new URL('../fixtures/tls/cert.pem', import.meta.url)),
};

const mail = (index: number, to = 'alice@example.com'): ClaimedMail => ({
  id: index,
  kind: 'reply',
  messageId: `m-${index}`,
  envelopeFrom: '447700900123@sms.example.com',
  recipients: [to],
  raw: Buffer.from(`From: 447700900123@sms.example.com\r\nTo: ${to}\r\nSubject: ${index}\r\n\r\nreply ${index}\r\n`),
  attempts: 0,
  createdAt: 0,
});

const listening = (server: Server | SMTPServer) =>
  new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const address = (server instanceof SMTPServer ? server.server : server).address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    }),
  );

describe('the smarthost client', () => {
  test("the content goes as nodemailer's DataStream sent it: dots doubled, bare CR and LF made CRLF, the final dot line", async () => {
    const contents = [
      '',
      'x',
      'line\r\n',
      '.',
      '.starts with a dot\r\n..two\r\n',
      'a\r\n.\r\nb',
      'bare LF\nand .dot after it\n.\n',
      'bare CR\r.dot\rend\r',
      'CR LF then bare CR\r\n\r.\r\n',
      'ends without a break',
      '\n.leading LF',
      '\r',
      'héllo ☕ .\r\n.',
    ];
    for (const content of contents) {
      const stream = new DataStream();
      const output = buffer(stream);
      stream.end(Buffer.from(content));
      assert.equal(dotStuffed(Buffer.from(content)).toString('latin1'), (await output).toString('latin1'), JSON.stringify(content));
    }
  });

  for (const authMethods of [['PLAIN', 'LOGIN'], ['LOGIN']])
    test(`STARTTLS when the smarthost offers it, then AUTH ${authMethods[0]}; a wrong password defers the mail, naming mail.url, with the reply`, async () => {
      const sessions: Array<{ secure: boolean; user: string | undefined }> = [];
      const received: string[] = [];
      const server = new SMTPServer({
        ...TLS,
        authMethods,
        logger: false,
        disableReverseLookup: true,
        onAuth: (auth, _session, callback) =>
          auth.username === 'relay' && auth.password === 'pa:ss word'
            ? callback(null, { user: auth.username })
            : callback(Object.assign(new Error('Authentication credentials invalid'), { responseCode: 535 })),
        onData: (stream, session, callback) => {
          sessions.push({ secure: session.secure, user: typeof session.user === 'string' ? session.user : undefined });
          void buffer(stream).then((raw) => {
            received.push(raw.toString());
            callback();
          });
        },
      });
      server.on('error', () => undefined);
      const port = await listening(server);
      // The fixture's certificate is self-signed; the relay trusts only the system's roots (or NODE_EXTRA_CA_CERTS).
      const before = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
      const good = smarthostTransport(`smtp://relay:${encodeURIComponent('pa:ss word')}@localhost:${port}`, RELAY);
      const bad = smarthostTransport(`smtp://relay:wrong@localhost:${port}`, RELAY);
      try {
        const result = await good.deliver(mail(1));
        assert.ok(result.ok, JSON.stringify(result));
        assert.deepEqual(sessions, [{ secure: true, user: 'relay' }]);
        assert.equal(received[0], mail(1).raw.toString());
        const refused = await bad.deliver(mail(2));
        assert.equal(refused.ok, false);
        assert.ok(!refused.ok && !refused.permanent && refused.setting === 'mail.url', "a refused login is the relay's setup, not the mail's end");
        assert.match(!refused.ok ? refused.error : '', /^invalid login: 535 .*credentials invalid/);
      } finally {
        process.env.NODE_TLS_REJECT_UNAUTHORIZED = before;
        if (before === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
        await Promise.all([good.close(), bad.close()]);
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });

  // The relay process trusts a private CA as an operator makes it: NODE_EXTRA_CA_CERTS, read at start, so in a process of its own.
  const deliverWithTestCa = async (url: string): Promise<{ ok: boolean; error?: string }> => {
    const script = `const { smarthostTransport } = await import(process.argv[1]);
      const { createLogger } = await import(process.argv[2]);
      const transport = smarthostTransport(process.argv[3], { hostname: 'relay.example.com', from: 'MAILER-DAEMON@sms.example.com', logger: createLogger('silent') });
      const raw = Buffer.from('Subject: tls\\r\\n\\r\\nbody\\r\\n');
      const result = await transport.deliver({ id: 1, kind: 'bounce', messageId: 'm', envelopeFrom: '', recipients: ['a@example.com'], raw, attempts: 0, createdAt: 0 });
      await transport.close();
      process.stdout.write(JSON.stringify(result));`;
    const source = (path: string) => fileURLToPath(new URL(path, import.meta.url));
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script, source('../../src/mailer/smarthost.ts'), source('../../src/log.ts'), url],
      { env: { ...process.env, NODE_EXTRA_CA_CERTS: source('../fixtures/tls/ca.pem'), NODE_TLS_REJECT_UNAUTHORIZED: '1' } },
    );
    return JSON.parse(stdout) as { ok: boolean; error?: string };
  };

  for (const secure of [false, true])
    test(`${secure ? 'smtps' : 'STARTTLS'}: the certificate is checked against mail.url's host, an IP address against the certificate's addresses`, async () => {
      const started: Array<() => Promise<void>> = [];
      const smarthost = async (cert: 'ip' | 'dns', host: string) => {
        const { port, close } = await testSmarthost(
          {
            secure,
            key: readFileSync(new URL('../fixtures/tls/smarthost-key.pem', import.meta.url)),
            cert: readFileSync(new URL(`../fixtures/tls/smarthost-${cert}.pem`, import.meta.url)),
            disabledCommands: ['AUTH'],
            onData: (stream, _session, callback) => {
              stream.resume();
              stream.on('end', () => callback());
            },
          },
          host,
        );
        started.push(close);
        return `${secure ? 'smtps' : 'smtp'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
      };
      try {
        assert.deepEqual(await deliverWithTestCa(await smarthost('ip', '127.0.0.1')), { ok: true, response: '250 OK: message queued' });
        const named = await deliverWithTestCa(await smarthost('dns', '127.0.0.1'));
        assert.equal(named.ok, false, 'a certificate for "localhost" only is not one for 127.0.0.1');
        assert.match(named.error ?? '', /IP: 127\.0\.0\.1 is not in the cert's list/);
        assert.equal((await deliverWithTestCa((await smarthost('dns', '127.0.0.1')).replace('127.0.0.1', 'localhost'))).ok, true, 'a name goes as itself');
        assert.equal((await deliverWithTestCa(await smarthost('ip', '::1'))).ok, true, 'IPv6 too');
      } finally {
        await Promise.all(started.map((close) => close()));
      }
    });

  test("a password for a smarthost that is not this machine goes only over TLS: without STARTTLS the session fails before AUTH, as the relay's setup to fix", async () => {
    const commands: string[] = [];
    const server = createServer((socket: Socket) => {
      socket.write('220 plain sink\r\n');
      socket.on('data', (chunk: Buffer) => {
        const line = chunk.toString('latin1').toUpperCase();
        commands.push(line.split(' ')[0]?.trim() ?? '');
        if (line.startsWith('EHLO')) socket.write('250-plain sink\r\n250 AUTH PLAIN LOGIN\r\n');
        else socket.write('502 5.5.1 no\r\n');
      });
      socket.on('error', () => undefined);
    });
    const port = await listening(server);
    try {
      // requireTLS as smarthostOptions sets it for a host other than loopback (the test's smarthost is on loopback).
      const opening = SmtpSession.open({
        host: '127.0.0.1',
        port,
        secure: false,
        requireTLS: true,
        auth: { user: 'relay', pass: 'secret' },
        hostname: HOSTNAME,
      });
      await assert.rejects(opening, (error: unknown) => {
        assert.ok(error instanceof SmtpError && error.ofSession && !error.permanent, String(error));
        assert.match(error.message, /offers no STARTTLS, and the password in mail\.url goes only over TLS/);
        return true;
      });
      assert.deepEqual(commands, ['EHLO'], 'neither STARTTLS nor AUTH was sent');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test("the client greets with the relay's smtp.hostname (an address as an address literal); credentials the smarthost cannot take are logged", async () => {
    const greetings: string[] = [];
    const smarthost = await testSmarthost({
      onMailFrom: (_address, session, callback) => {
        greetings.push(session.hostNameAppearsAs);
        callback();
      },
      onData: (stream, _session, callback) => {
        stream.resume();
        stream.on('end', () => callback());
      },
    });
    const { logger, lines } = captureLog('info');
    const named = smarthostTransport(`smtp://relay:secret@127.0.0.1:${smarthost.port}`, { ...RELAY, logger });
    const addressed = smarthostTransport(`smtp://127.0.0.1:${smarthost.port}`, { ...RELAY, hostname: '192.0.2.7', logger });
    try {
      assert.ok((await named.deliver(mail(1))).ok);
      assert.ok((await named.deliver(mail(2))).ok);
      assert.ok((await addressed.deliver(mail(3))).ok);
      assert.deepEqual(greetings, ['relay.example.com', 'relay.example.com', '[192.0.2.7]']);
      const told = lines.filter((line) => line.includes('offers no AUTH'));
      assert.equal(told.length, 1, 'once, not for every connection');
      assert.match(told[0] ?? '', /"setting":"mail.url"/);
      assertNeverLogged(lines, { 'the password': 'secret' });
    } finally {
      await Promise.all([named.close(), addressed.close()]);
      await smarthost.close();
    }
  });

  test('to a smarthost that offers DSN for headers only and a reply mail asks for headers only and names each recipient as ORCPT (RFC 3461, RFC 6533); a forward to the postmaster asks nothing', async () => {
    const envelopes: string[] = [];
    const smarthost = await testSmarthost({
      hideDSN: false,
      onMailFrom: (address, _session, callback) => {
        envelopes.push(`MAIL ${address.address} ${JSON.stringify(address.args)}`);
        callback();
      },
      onRcptTo: (address, _session, callback) => {
        envelopes.push(`RCPT ${address.address} ${JSON.stringify(address.args)}`);
        callback();
      },
      onData: (stream, _session, callback) => {
        stream.resume();
        stream.on('end', () => callback());
      },
    });
    const transport = smarthostTransport(`smtp://127.0.0.1:${smarthost.port}`, RELAY);
    try {
      for (const to of ['alice@example.com', 'alice+sms=1@example.com', 'alice@bücher.example'])
        assert.equal((await transport.deliver(mail(1, to))).ok, true, to);
      assert.equal((await transport.deliver({ ...mail(2), kind: 'postmaster', envelopeFrom: 'bob@example.net' })).ok, true);
      assert.deepEqual(envelopes, [
        'MAIL 447700900123@sms.example.com {"RET":"HDRS"}',
        'RCPT alice@example.com {"ORCPT":"rfc822;alice@example.com"}',
        'MAIL 447700900123@sms.example.com {"RET":"HDRS"}',
        // smtp-server decodes the xtext (alice+2Bsms+3D1 as written, below).
        'RCPT alice+sms=1@example.com {"ORCPT":"rfc822;alice+sms=1@example.com"}',
        'MAIL 447700900123@sms.example.com {"SMTPUTF8":true,"BODY":"8BITMIME","RET":"HDRS"}',
        String.raw`RCPT alice@bücher.example {"ORCPT":"utf-8;alice@b\\x{FC}cher.example"}`,
        'MAIL bob@example.net false',
        'RCPT alice@example.com false',
      ]);
      assert.equal(originalRecipient('alice+sms=1@example.com'), 'rfc822;alice+2Bsms+3D1@example.com');
    } finally {
      await transport.close();
      await smarthost.close();
    }
  });

  test('to a smarthost without 8BITMIME only the 8-bit parts go quoted-printable; without SMTPUTF8 a UTF-8 recipient is refused for good, nothing sent', async () => {
    const received: Buffer[] = [];
    const commands: string[] = [];
    const smarthost = await testSmarthost({
      hide8BITMIME: true,
      hideSMTPUTF8: true,
      onMailFrom: (address, _session, callback) => {
        commands.push(address.address);
        callback();
      },
      onData: (stream, _session, callback) => {
        void buffer(stream).then((raw) => {
          received.push(raw);
          callback();
        });
      },
    });
    const transport = smarthostTransport(`smtp://127.0.0.1:${smarthost.port}`, RELAY);
    const structure = (eightBit: string, encoding: string) =>
      [
        'From: a@example.com',
        'MIME-Version: 1.0',
        'Content-Type: multipart/mixed; boundary="b1"',
        '',
        '--b1',
        encoding,
        'Content-Type: text/plain; charset=utf-8',
        '',
        eightBit,
        '--b1',
        'Content-Type: application/octet-stream',
        'Content-Transfer-Encoding: base64',
        '',
        'AAECAw==',
        '--b1--',
        '',
      ].join('\r\n');
    try {
      const result = await transport.deliver({ ...mail(1), raw: Buffer.from(structure('Grüße\r\n.a dot', 'Content-Transfer-Encoding: 8bit')) });
      assert.ok(result.ok, JSON.stringify(result));
      // mailsplit ends a re-encoded part with a line break of its own: the text gains one at its end.
      assert.equal(received[0]?.toString('latin1'), structure('Gr=C3=BC=C3=9Fe\r\n.a dot\r\n', 'Content-Transfer-Encoding: quoted-printable'));
      // A header block past mailsplit's limit (1 MiB): it cannot be taken apart, so it goes as it is rather than hang in its lane.
      const hugeHeader = Buffer.from(`X-Long: ${'a'.repeat(1_100_000)}\r\n\r\nGrüße\r\n`);
      assert.ok((await transport.deliver({ ...mail(3), raw: hugeHeader })).ok);
      assert.equal(received[1]?.length, hugeHeader.length);
      const refused = await transport.deliver(mail(2, 'jörg@example.com'));
      assert.ok(!refused.ok && refused.permanent, JSON.stringify(refused));
      assert.match(refused.ok ? '' : refused.error, /does not offer SMTPUTF8, which the UTF-8 address jörg@example\.com needs/);
      assert.equal(commands.length, 2, 'no MAIL for the mail that cannot go');
    } finally {
      await transport.close();
      await smarthost.close();
    }
  });

  test('bytes sent in clear after the STARTTLS reply end the session before TLS (no injected answers read inside it)', async () => {
    let secured = false;
    const server = createServer((socket: Socket) => {
      socket.write('220 injecting sink\r\n');
      socket.on('data', (chunk: Buffer) => {
        const line = chunk.toString('latin1').toUpperCase();
        if (line.startsWith('EHLO')) socket.write('250-injecting sink\r\n250 STARTTLS\r\n');
        else if (line.startsWith('STARTTLS')) socket.write('220 go ahead\r\n250-injected');
        // A TLS ClientHello: the client went on into TLS.
        else if (chunk[0] === 0x16) secured = true;
      });
      socket.on('error', () => undefined);
    });
    const port = await listening(server);
    const transport = smarthostTransport(`smtp://127.0.0.1:${port}`, RELAY);
    try {
      const result = await transport.deliver(mail(1));
      assert.ok(!result.ok && !result.permanent, JSON.stringify(result));
      assert.match(!result.ok ? result.error : '', /data after its STARTTLS reply/);
      assert.equal(secured, false, 'the client started TLS over the injected bytes');
    } finally {
      await transport.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  for (const hidePIPELINING of [false, true])
    test(`a refused recipient is RSET and the connection carries the next mail (${hidePIPELINING ? 'one command at a time' : 'PIPELINING'})`, async () => {
      let connections = 0;
      const received: string[] = [];
      const server = new SMTPServer({
        hidePIPELINING,
        logger: false,
        authOptional: true,
        disabledCommands: ['STARTTLS', 'AUTH'],
        disableReverseLookup: true,
        onConnect: (_session, callback) => {
          connections += 1;
          callback();
        },
        onRcptTo: (address, _session, callback) =>
          address.address === 'nobody@example.com' ? callback(Object.assign(new Error('5.1.1 no such mailbox'), { responseCode: 550 })) : callback(),
        onData: (stream, _session, callback) => {
          void buffer(stream).then((raw) => {
            received.push(raw.toString());
            callback();
          });
        },
      });
      const port = await listening(server);
      const transport = smarthostTransport(`smtp://127.0.0.1:${port}`, RELAY);
      try {
        const refused = await transport.deliver(mail(1, 'nobody@example.com'));
        assert.ok(!refused.ok && refused.permanent, JSON.stringify(refused));
        assert.match(!refused.ok ? refused.error : '', /^550 5\.1\.1 no such mailbox/);
        for (const index of [2, 3]) {
          const next = await transport.deliver(mail(index));
          assert.ok(next.ok, JSON.stringify(next));
        }
        assert.deepEqual(received, [mail(2).raw.toString(), mail(3).raw.toString()]);
        assert.equal(connections, 1, 'the refusal did not end the session');
      } finally {
        await transport.close();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });

  // A server that holds its reply to a mail's content until the next mail's MAIL FROM arrives (or 1 s
  // passes): a client that waits for each reply before the next envelope (no pipelining across mails)
  // gets every reply only after the wait.
  const servers: Server[] = [];
  after(() => {
    for (const server of servers) server.close();
  });

  test("with PIPELINING the next mail's envelope follows the content without waiting for its reply (RFC 2920 §3.1)", async () => {
    let connections = 0;
    let followed = 0;
    let timedOut = 0;
    const server = createServer((socket: Socket) => {
      connections += 1;
      socket.write('220 holding sink\r\n');
      let buffered = '';
      let inData = false;
      let held: NodeJS.Timeout | undefined;
      const answerHeld = () => {
        clearTimeout(held);
        held = undefined;
        socket.write('250 2.0.0 queued\r\n');
      };
      socket.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('latin1');
        for (;;) {
          if (inData) {
            const end = buffered.indexOf('\r\n.\r\n');
            if (end < 0) return;
            buffered = buffered.slice(end + 5);
            inData = false;
            held = setTimeout(() => {
              timedOut += 1;
              answerHeld();
            }, 1_000);
            continue;
          }
          const lineEnd = buffered.indexOf('\r\n');
          if (lineEnd < 0) return;
          const line = buffered.slice(0, lineEnd).toUpperCase();
          buffered = buffered.slice(lineEnd + 2);
          if (line.startsWith('EHLO')) socket.write('250-holding sink\r\n250 PIPELINING\r\n');
          else if (line.startsWith('MAIL')) {
            if (held) {
              followed += 1;
              answerHeld();
            }
            socket.write('250 2.1.0 ok\r\n');
          } else if (line.startsWith('DATA')) {
            socket.write('354 go ahead\r\n');
            inData = true;
            buffered = `\r\n${buffered}`;
          } else if (line.startsWith('QUIT')) socket.end('221 bye\r\n');
          else socket.write('250 ok\r\n');
        }
      });
      socket.on('error', () => undefined);
      socket.on('close', () => clearTimeout(held));
    });
    servers.push(server);
    const port = await listening(server);
    const transport = smarthostTransport(`smtp://127.0.0.1:${port}`, RELAY);
    try {
      const mails = Array.from({ length: 24 }, (_, index) => mail(index));
      const started = performance.now();
      const results = await Promise.all(mails.map((each) => transport.deliver(each)));
      assert.ok(
        results.every((result) => result.ok),
        JSON.stringify(results.find((result) => !result.ok)),
      );
      assert.ok(connections <= SMARTHOST_POOL_SIZE, `${connections} connections`);
      // Only each connection's last mail has no follower and waits for the timer.
      assert.ok(timedOut <= connections, `${timedOut} replies waited for the next envelope in vain over ${connections} connections`);
      assert.equal(followed + timedOut, mails.length);
      assert.ok(performance.now() - started < 5_000);
    } finally {
      await transport.close();
    }
  });
});
