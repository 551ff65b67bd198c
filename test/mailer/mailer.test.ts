import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import { createLogger } from '../../src/log.ts';
import { Mailer, type MailerOptions } from '../../src/mailer/mailer.ts';
import { SMARTHOST_POOL_SIZE, smarthostOptions, smarthostTransport } from '../../src/mailer/smarthost.ts';
import { maildirTransport, type MailTransport } from '../../src/mailer/transports.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import type { NewOutgoingMail } from '../../src/store/types.ts';
import { removeDir, tempDir, waitFor } from '../helpers/relay.ts';
import { SmtpSink, testSmarthost } from '../helpers/smtp-sink.ts';
import { assertNeverLogged, captureLog } from '../helpers/log-lines.ts';

/** The relay's smtp.hostname, its EHLO name to the smarthost. */
const HOSTNAME = 'relay.example.com';
/** The relay's settings the smarthost client takes. */
const RELAY = { hostname: HOSTNAME, from: 'MAILER-DAEMON@sms.example.com', logger: createLogger('silent') };

const dirs: string[] = [];
after(() => dirs.forEach(removeDir));

const report = (text: string): NewOutgoingMail => ({
  kind: 'bounce',
  messageId: 'm-1',
  envelopeFrom: '',
  recipients: ['alice@example.com'],
  raw: Buffer.from(`From: MAILER-DAEMON@sms.localhost\r\nTo: alice@example.com\r\nSubject: ${text}\r\n\r\n${text}\r\n`),
});

describe('mail-out queue', () => {
  let dir: string;
  let store: SqliteStore;
  let mailer: Mailer | undefined;
  let transport: MailTransport | undefined;

  beforeEach(() => {
    dir = tempDir('smsrelay-mailer-');
    dirs.push(dir);
    store = SqliteStore.open({ file: join(dir, 'smsrelay.db'), busyTimeoutMs: 100 });
  });
  afterEach(async () => {
    await mailer?.stop();
    await transport?.close();
    await store.close();
  });

  /** `through`: the store as the mailer sees it (the test's own, unless a test holds some of its writes back). */
  function startMailer(chosen: MailTransport, through: MailerOptions['store'] = store, options: Partial<MailerOptions> = {}): Mailer {
    transport = chosen;
    mailer = new Mailer({
      store: through,
      transport: chosen,
      logger: createLogger('silent'),
      owner: 'test',
      leaseMs: 30_000,
      retryMinDelayMs: 50,
      retryMaxDelayMs: 200,
      ...options,
    });
    mailer.start();
    return mailer;
  }

  test('smarthost down: the mail waits in the queue and goes out once when it is back', async () => {
    const sink = await new SmtpSink().start();
    const url = sink.url;
    await sink.stop();
    await store.enqueueMail([report('while down')]);
    startMailer(smarthostTransport(url, RELAY));
    await waitFor('a failed attempt', async () => (await store.events('m-1')).some((event) => event.kind === 'mail deferred'));
    await sink.start();
    try {
      const [mail] = await waitFor('the mail at the smarthost', () => sink.received.length > 0 && sink.received);
      assert.equal(mail?.from, '', 'reports go out with the null sender');
      assert.deepEqual(mail?.to, ['alice@example.com']);
      assert.match(mail?.raw ?? '', /Subject: while down/);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(sink.received.length, 1, 'sent once');
      assert.equal(await store.nextMailDueAt(), undefined, 'nothing left in the queue');
    } finally {
      await sink.stop();
    }
  });

  test("the smarthost gets the stored bytes as they are, many mails over the pool's few reused connections", async () => {
    const sink = await new SmtpSink().start();
    try {
      const mails = Array.from({ length: 30 }, (_, index) => ({ ...report(`pooled ${index}`), messageId: `p-${index}` }));
      await store.enqueueMail(mails);
      startMailer(smarthostTransport(sink.url, RELAY));
      await waitFor('every mail at the smarthost', () => sink.received.length === mails.length);
      const sent = new Map(mails.map((mail) => [mail.raw.toString(), mail]));
      for (const mail of sink.received) assert.ok(sent.has(mail.raw), `sent byte for byte: ${JSON.stringify(mail.raw)}`);
      assert.ok(sink.connections <= SMARTHOST_POOL_SIZE, `${sink.connections} connections for ${mails.length} mails`);
    } finally {
      await sink.stop();
    }
  });

  test("a mail's slot frees once the smarthost took it: mail keeps going out while outcomes wait for their commit", async () => {
    const sink = await new SmtpSink().start();
    // The real store, its outcome writes held back (a slow disk) until the test lets them through.
    let letThrough: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (letThrough = resolve));
    const slowOutcomes = new Proxy(store, {
      get: (target, name) => {
        if (name === 'recordMailOutcome')
          return async (...args: Parameters<SqliteStore['recordMailOutcome']>) => {
            await held;
            return target.recordMailOutcome(...args);
          };
        const value = Reflect.get(target, name);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    try {
      // More mails than slots (twice the pool), within the work loop's bound on outcomes waiting for their commit.
      const mails = Array.from({ length: 4 * SMARTHOST_POOL_SIZE }, (_, index) => ({ ...report(`slot ${index}`), messageId: `s-${index}` }));
      await store.enqueueMail(mails);
      const running = startMailer(smarthostTransport(sink.url, RELAY), slowOutcomes);
      await waitFor('every mail at the smarthost while no outcome is committed', () => sink.received.length === mails.length);
      assert.equal(new Set(running.held()).size, mails.length, 'the leases the heartbeat renews: every mail whose outcome waits');
      letThrough();
      await waitFor('every outcome committed', async () => (await store.nextMailDueAt()) === undefined);
      assert.equal(sink.received.length, mails.length, 'each sent once');
      await waitFor('no lease held once every outcome is committed', () => running.held().length === 0);
    } finally {
      letThrough();
      await sink.stop();
    }
  });

  test('a smarthost restarted between two mails: the second goes out on a new connection at once, not deferred', async () => {
    const sink = await new SmtpSink().start();
    try {
      await store.enqueueMail([report('before the restart')]);
      startMailer(smarthostTransport(sink.url, RELAY));
      await waitFor('the first mail', () => sink.received.length === 1);
      await sink.stop();
      await sink.start();
      await store.enqueueMail([{ ...report('after the restart'), messageId: 'm-2' }]);
      mailer?.kick();
      await waitFor('the second mail', () => sink.received.length === 2);
      assert.deepEqual(
        (await store.events('m-2')).filter((event) => event.kind === 'mail deferred'),
        [],
        'no deferral',
      );
      assert.equal(sink.connections, 2, 'one connection before the restart, one after');
    } finally {
      await sink.stop();
    }
  });

  test('a temporary refusal (451) is retried; a permanent one (554) ends the mail without retrying', async () => {
    const sink = await new SmtpSink().start();
    try {
      sink.refuseWith = 451;
      await store.enqueueMail([report('temporary')]);
      startMailer(smarthostTransport(sink.url, RELAY));
      await waitFor('a deferral', async () => (await store.events('m-1')).some((event) => event.kind === 'mail deferred'));
      sink.refuseWith = undefined;
      await waitFor('delivery', () => sink.received.length === 1);

      sink.refuseWith = 554;
      await store.enqueueMail([{ ...report('permanent'), messageId: 'm-2' }]);
      mailer?.kick();
      await waitFor('the permanent failure', async () => (await store.events('m-2')).some((event) => event.kind === 'mail failed'));
      assert.equal(await store.nextMailDueAt(), undefined, 'not retried');
    } finally {
      await sink.stop();
    }
  });

  test("a reply mail the smarthost refuses for good leaves the phone's SMS undeliverable, with the refusal, for the operator to reroute", async () => {
    const sink = await new SmtpSink().start();
    try {
      sink.refuseWith = 550;
      const mail: NewOutgoingMail = { ...report('the phone answered'), kind: 'reply', messageId: 'in-1', recipients: ['gone@example.com'] };
      await store.acceptInbound({
        id: 'in-1',
        provider: 'intellisoftware',
        providerId: 'G1',
        number: '+447700900123',
        text: 'the phone answered',
        sentAt: undefined,
        userContext: 'c1',
        receivedAt: Date.now(),
        route: { mailbox: 'gone@example.com', context: 'c1', mail, messageIdHeader: '<in-1@relay>' },
      });
      startMailer(smarthostTransport(sink.url, RELAY));
      const [kept] = await waitFor('the SMS among the undeliverable ones', async () => {
        const listed = await store.undeliverableInbound(10);
        return listed.length > 0 && listed;
      });
      assert.equal(kept?.id, 'in-1');
      assert.equal(kept?.refused?.mailbox, 'gone@example.com');
      assert.match(kept?.refused?.error ?? '', /^550 /);
      assert.equal(await store.nextMailDueAt(), undefined, 'not retried');
    } finally {
      await sink.stop();
    }
  });

  for (const refusal of ['535 at AUTH', '550 5.7.0 at MAIL', '530 5.7.0 at MAIL'] as const)
    test(`a smarthost refusing the relay's own session (${refusal}) keeps the mail queued and retried, logged at error naming mail.url`, async () => {
      const atAuth = refusal.endsWith('AUTH');
      let refusing = true;
      let delivered = 0;
      const smarthost = await testSmarthost({
        authMethods: ['PLAIN'],
        // A loopback smarthost: mail.url's password may go to it without TLS.
        allowInsecureAuth: true,
        disabledCommands: ['STARTTLS'],
        onAuth: (auth, _session, callback) =>
          !refusing && auth.password === 'right'
            ? callback(null, { user: auth.username })
            : callback(Object.assign(new Error('5.7.8 Authentication credentials invalid'), { responseCode: 535 })),
        onMailFrom: (_address, session, callback) => {
          if (atAuth || !refusing || session.user) return callback();
          const [code, text] = refusal.startsWith('530') ? [530, '5.7.0 Authentication required'] : [550, '5.7.0 auth required here'];
          callback(Object.assign(new Error(text), { responseCode: code }));
        },
        onData: (stream, _session, callback) => {
          stream.resume();
          stream.on('end', () => {
            delivered += 1;
            callback();
          });
        },
      });
      const { logger, lines } = captureLog('info');
      try {
        await store.enqueueMail([report('a bounce')]);
        startMailer(smarthostTransport(`smtp://${atAuth ? 'relay:right@' : ''}127.0.0.1:${smarthost.port}`, { ...RELAY, logger }), store, { logger });
        await waitFor('two deferrals', async () => (await store.events('m-1')).filter((event) => event.kind === 'mail deferred').length >= 2);
        assert.ok(!(await store.events('m-1')).some((event) => event.kind === 'mail failed'), 'not refused for good');
        const logged = lines.map((line) => JSON.parse(line) as { level: string; msg: string; setting?: string; error?: string });
        const deferred = logged.find((line) => line.msg.startsWith('mailer: delivery deferred'));
        assert.equal(deferred?.level, 'error', 'a setting to fix');
        assert.equal(deferred?.setting, 'mail.url');
        assert.match(deferred?.msg ?? '', /check mail\.url/);
        assert.match(deferred?.error ?? '', atAuth ? /^invalid login: 535 / : /log in .* before MAIL: 5[35]0 5\.7\.0/);
        // The operator fixed the smarthost's side (or mail.url): the queued mail goes out.
        refusing = false;
        await waitFor('the mail at the smarthost', () => delivered === 1);
      } finally {
        await smarthost.close();
      }
    });

  test("a smarthost's refusal that echoes a number is logged with the number masked; the store keeps it whole", async () => {
    const smarthost = await testSmarthost({
      onMailFrom: (address, _session, callback) => callback(Object.assign(new Error(`5.7.1 sender ${address.address} not allowed`), { responseCode: 550 })),
    });
    const { logger, lines } = captureLog('info');
    try {
      await store.enqueueMail([{ ...report('a reply'), envelopeFrom: '447700900422@sms.test' }]);
      startMailer(smarthostTransport(`smtp://127.0.0.1:${smarthost.port}`, { ...RELAY, logger }), store, { logger });
      await waitFor('the refusal', async () => (await store.events('m-1')).some((event) => event.kind === 'mail failed'));
      const refused = lines.find((line) => line.includes('refused for good'));
      assert.match(refused ?? '', /sender 4477\*{6}22@sms\.test not allowed/);
      assertNeverLogged(lines, { 'the number': '447700900422' });
      const failed = (await store.events('m-1')).find((event) => event.kind === 'mail failed');
      assert.match(failed?.detail ?? '', /447700900422/, 'the store keeps what the smarthost said');
    } finally {
      await smarthost.close();
    }
  });

  test('without a smarthost, mail lands in a Maildir (tmp → new), readable with the envelope', async () => {
    const maildir = join(dir, 'maildir');
    await store.enqueueMail([report('to the maildir')]);
    startMailer(maildirTransport(maildir));
    const [name] = await waitFor('a file in new/', () => {
      const names = readdirSync(join(maildir, 'new'));
      return names.length > 0 && names;
    });
    assert.deepEqual(readdirSync(join(maildir, 'tmp')), []);
    const bytes = readFileSync(join(maildir, 'new', name ?? ''));
    assert.deepEqual(
      bytes,
      Buffer.from(
        'Return-Path: <>\nDelivered-To: alice@example.com\nFrom: MAILER-DAEMON@sms.localhost\nTo: alice@example.com\nSubject: to the maildir\n\nto the maildir\n',
      ),
      'LF line ends, as Maildir readers expect: no CR anywhere',
    );
  });

  test('a Maildir delivery that cannot be moved into new/ fails (to be retried) and leaves nothing in tmp/', async () => {
    const maildir = join(dir, 'maildir-broken');
    const broken = maildirTransport(maildir);
    // new/ replaced by a file: the rename fails (ENOTDIR) for root too, as on a directory the relay cannot write.
    rmSync(join(maildir, 'new'), { recursive: true });
    writeFileSync(join(maildir, 'new'), '');
    const result = await broken.deliver({ ...report('unmovable'), id: 1, attempts: 0, createdAt: Date.now() });
    assert.equal(result.ok, false);
    assert.deepEqual(readdirSync(join(maildir, 'tmp')), [], 'no stray file for each retry');
  });

  test('a Maildir delivery whose commit the crash lost is found at the retry, in cur/ with its flags too: marked delivered, not written twice', async () => {
    const maildir = join(dir, 'maildir-crash');
    await store.enqueueMail([report('written before the crash'), report('queued after the restart')]);
    const now = Date.now();
    const [written] = await store.claimDueMail({ owner: 'test', now, leaseUntil: now + 30_000, limit: 1 });
    assert.ok(written);
    // The file is in new/, the relay dies before the commit that marks it delivered; a reader reads it.
    assert.equal((await maildirTransport(maildir).deliver(written)).ok, true);
    const [name] = readdirSync(join(maildir, 'new'));
    renameSync(join(maildir, 'new', name ?? ''), join(maildir, 'cur', `${name}:2,S`));
    await store.releaseStaleLeases('test', Date.now(), { possiblyTwice: false });
    startMailer(maildirTransport(maildir));
    await waitFor('both marked delivered', async () => (await store.events('m-1')).filter((event) => event.kind === 'mail sent').length === 2);
    assert.deepEqual(readdirSync(join(maildir, 'cur')), [`${name}:2,S`]);
    const fresh = readdirSync(join(maildir, 'new'));
    assert.equal(fresh.length, 1, 'the other mail only');
    assert.match(readFileSync(join(maildir, 'new', fresh[0] ?? '')).toString(), /queued after the restart/);
    const found = (await store.events('m-1')).filter((event) => event.kind === 'mail sent' && event.detail?.includes(`already stored as cur/${name}:2,S`));
    assert.equal(found.length, 1, "the history says where the earlier attempt's file is");
  });

  test('a Maildir that cannot be written: one line when deliveries start failing and one when they work again, and the deferred mail goes out then, not at its backoff', async () => {
    const maildir = join(dir, 'maildir-full');
    const unwritable = maildirTransport(maildir);
    // new/ replaced by a file: every rename fails (ENOTDIR), as on a full or read-only file system.
    rmSync(join(maildir, 'new'), { recursive: true });
    writeFileSync(join(maildir, 'new'), '');
    await store.enqueueMail([report('first'), report('second'), report('third')]);
    const { logger, lines } = captureLog('info');
    const hour = 3_600_000;
    startMailer(unwritable, store, { logger, retryMinDelayMs: hour, retryMaxDelayMs: hour, idleWaitMs: 100 });
    await waitFor('three deferred', async () => (await store.events('m-1')).filter((event) => event.kind === 'mail deferred').length === 3);
    const deferred = () => lines.map((line) => JSON.parse(line)).filter((line) => String(line.msg).startsWith('mailer: delivery deferred'));
    assert.equal(deferred().length, 1, 'one line for the outage, not one per mail');
    assert.match(String(deferred()[0]?.nextAttemptAt), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'when, as the log gives times');
    rmSync(join(maildir, 'new'));
    mkdirSync(join(maildir, 'new'));
    await store.enqueueMail([report('after the fix')]);
    await waitFor('all four in new/, the deferred ones long before their backoff', () => readdirSync(join(maildir, 'new')).length === 4, 5_000);
    const over = lines.map((line) => JSON.parse(line)).filter((line) => String(line.msg).startsWith('mailer: the mail transport works again'));
    assert.equal(over.length, 1);
    assert.equal(over[0]?.deferred, 3);
    assert.equal(over[0]?.level, 'info', 'a recovery is no warning');
    assert.equal(deferred().length, 1);
  });

  test('a Maildir file keeps every octet but the CR of CRLF: 8-bit text and a lone CR stay', async () => {
    const maildir = join(dir, 'maildir-8bit');
    const body = Buffer.from(
      'Subject: =?UTF-8?Q?caf=C3=A9?=\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\ncafé \xff\rx\r\n',
      'latin1',
    );
    await store.enqueueMail([{ ...report('8bit'), raw: body }]);
    startMailer(maildirTransport(maildir));
    const [name] = await waitFor('a file in new/', () => {
      const names = readdirSync(join(maildir, 'new'));
      return names.length > 0 && names;
    });
    const bytes = readFileSync(join(maildir, 'new', name ?? ''));
    const expected = Buffer.from(
      'Subject: =?UTF-8?Q?caf=C3=A9?=\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\ncafé \xff\rx\n',
      'latin1',
    );
    assert.deepEqual(bytes.subarray(bytes.length - expected.length), expected);
  });
});

describe('the smarthost URL', () => {
  test('an IPv6 literal connects without its brackets, and counts as loopback only when it is ::1; every 127.x address is loopback', () => {
    const loopback = smarthostOptions('smtp://relay:secret@[::1]:2525', HOSTNAME);
    assert.equal(loopback.host, '::1');
    assert.equal(loopback.port, 2525);
    assert.equal(loopback.requireTLS, false, 'a password may go to this machine without TLS');
    const remote = smarthostOptions('smtp://relay:secret@[2001:db8::25]', HOSTNAME);
    assert.equal(remote.host, '2001:db8::25');
    assert.equal(remote.port, 25);
    assert.equal(remote.requireTLS, true, 'a password to another machine only over TLS');
    for (const host of ['127.0.0.2', 'localhost']) {
      assert.equal(smarthostOptions(`smtp://relay:secret@${host}:2525`, HOSTNAME).requireTLS, false, `${host} is loopback: all of 127.0.0.0/8 is`);
    }
    assert.equal(smarthostOptions('smtps://mail.example.com', HOSTNAME).port, 465);
    assert.deepEqual(smarthostOptions('smtp://user%40example.com:p%3Ass@mail.example.com', HOSTNAME).auth, { user: 'user@example.com', pass: 'p:ss' });
  });
});
