import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { simpleParser } from 'mailparser';
import { webhookPaths } from '../../src/http/webhooks.ts';
import type { InboundRequest } from '../../src/providers/contract.ts';
import { outcomeClassifier } from '../../src/dispatch/outcomes.ts';
import { clientRefFor, createVonageGateway } from '../../src/providers/vonage/adapter.ts';
import { vonagePlugin } from '../../src/providers/vonage/index.ts';
import { vonageSignature } from '../../src/providers/vonage/signature.ts';
import type { VonageSimulator } from '../../src/simulators/vonage.ts';
import { MIGRATIONS } from '../../src/store/migrations.ts';
import { migrate } from '../../src/store/postgres/migrate.ts';
import { TEST_GATEWAY_SETTINGS, withFreshGateway } from '../helpers/gateway.ts';
import { describeOnPostgres, freshDatabase, withClient } from '../helpers/postgres.ts';
import { removeDir, startTestRelay, tempDir, type TestRelay, waitFor } from '../helpers/relay.ts';
import { queuedId, sendMail } from '../helpers/smtp.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { SmtpSink } from '../helpers/smtp-sink.ts';
import { ReplayServer, serveDuringSuite } from '../helpers/replay-server.ts';

const get = (fields: Record<string, string>): InboundRequest => ({ contentType: '', body: '', query: new URLSearchParams(fields), headers: {}, method: 'GET' });
const form = (fields: Record<string, string>): InboundRequest => ({
  contentType: 'application/x-www-form-urlencoded',
  body: new URLSearchParams(fields).toString(),
  query: new URLSearchParams(),
  headers: {},
  method: 'POST',
});
const json = (fields: Record<string, string>): InboundRequest => ({
  contentType: 'application/json',
  body: JSON.stringify(fields),
  query: new URLSearchParams(),
  headers: {},
  method: 'POST',
});

/** A form POST of `fields` to a relay's Vonage webhook at `path`, signed as the relays of these tests check (sha512). */
const postSigned = (httpPort: number, path: string, fields: Record<string, string>) =>
  fetch(`http://127.0.0.1:${httpPort}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...fields, sig: vonageSignature('relay-signature', 'sha512', new Map(Object.entries(fields))) }).toString(),
  });

/** The signature examples of Vonage's server SDK tests (secret "secret"), https://developer.vonage.com/en/getting-started/concepts/signing-messages. */
describe('Vonage signatures: the published vectors', () => {
  const fields = new Map([
    ['a', '1'],
    ['b', '2'],
    ['timestamp', '1461605396'],
  ]);
  const vectors = {
    md5hash: '6af838ef94998832dbfc29020b564830',
    sha1: '3e19a4e6880fdc2c1426bfd0587c98b9532f0210',
    sha256: 'a321e824b9b816be7c3f28859a31749a098713d39f613c80d455bbaffae1cd24',
    sha512: '812a18f76680fa0fe1b8bd9ee1625466ceb1bd96242e4d050d2cfd9a7b40166c63ed26ec9702168781b6edcf1633db8ff95af9341701004eec3fcf9550572ee8',
  } as const;
  for (const [method, sig] of Object.entries(vectors)) {
    test(`${method}: computed, and a request carrying it verifies (GET, form and JSON alike); one changed field does not`, () => {
      assert.equal(vonageSignature('secret', method as keyof typeof vectors, fields), sig);
      const signed = { a: '1', b: '2', timestamp: '1461605396', sig: sig.toUpperCase() };
      for (const request of [get(signed), form(signed), json(signed)]) assert.equal(vonagePlugin.verify!(request, 'mo', 'secret', method), true);
      assert.equal(vonagePlugin.verify!(get({ ...signed, b: '3' }), 'mo', 'secret', method), false);
      assert.equal(vonagePlugin.verify!(get({ a: '1', b: '2', timestamp: '1461605396' }), 'mo', 'secret', method), false, 'no sig');
    });
  }
});

describe('Vonage payloads', () => {
  // The delivery receipt example of https://developer.vonage.com/en/messaging/sms/guides/delivery-receipts.
  const receipt = {
    msisdn: '447700900000',
    to: 'AcmeInc',
    'network-code': '12345',
    messageId: '0A0000001234567B',
    price: '0.03330000',
    status: 'delivered',
    scts: '2001011400',
    'err-code': '0',
    'api-key': 'abcd1234',
    'message-timestamp': '2020-01-01 12:00:00',
  };
  // The inbound example of https://developer.vonage.com/en/messaging/sms/guides/inbound-sms.
  const inbound = {
    msisdn: '447700900001',
    to: '447700900000',
    messageId: '0A0000000123ABCD1',
    text: 'Hello world',
    type: 'text',
    keyword: 'HELLO',
    'api-key': 'abcd1234',
    'message-timestamp': '2020-01-01 12:00:00',
  };

  test('the documented receipt and inbound SMS read the same by GET, form POST and JSON POST', () => {
    for (const shape of [get, form, json]) {
      assert.deepEqual(vonagePlugin.parseReport!(shape(receipt)), {
        ok: true,
        // No client-ref: the id may be a part's of a long SMS, or an SMS of one part (the store knows which).
        items: [
          {
            providerId: '0A0000001234567B',
            number: '+447700900000',
            code: 0,
            state: 'delivered',
            said: 'status delivered, err-code 0',
            part: { id: '0A0000001234567B' },
          },
        ],
      });
      const parsed = vonagePlugin.parseReceived!(shape(inbound));
      assert.ok(parsed.ok);
      assert.deepEqual(parsed.items[0], {
        providerId: '0A0000000123ABCD1',
        number: '+447700900001',
        text: 'Hello world',
        sentAt: '2020-01-01T12:00:00+00:00',
        userContext: undefined,
        trackingId: undefined,
        to: '+447700900000',
      });
    }
  });

  test("a long SMS's receipts name its client-ref and each its part (the relay combines them); a one-part SMS's receipt names Vonage's message-id", () => {
    const ref = `${'a'.repeat(25)}.2`;
    const part = (messageId: string, status: string, errCode = '0') =>
      vonagePlugin.parseReport!(get({ ...receipt, messageId, status, 'err-code': errCode, 'client-ref': ref }));
    assert.deepEqual(part('0A01', 'delivered'), {
      ok: true,
      items: [{ providerId: ref, number: '+447700900000', code: 0, state: 'delivered', part: { id: '0A01', of: 2 } }],
    });
    assert.deepEqual(part('0A02', 'failed', '3'), {
      ok: true,
      items: [{ providerId: ref, number: '+447700900000', code: 3, state: 'failed', part: { id: '0A02', of: 2 } }],
    });
    // The client-ref names the relay's message: the SMS is found by it while no message-id names it (an answer lost in flight).
    const message = '0194f3b2-7c1e-7a3d-8f21-3c4b5d6e7f81';
    const single = vonagePlugin.parseReport!(get({ ...receipt, messageId: '0B01', 'client-ref': clientRefFor(message, 1) }));
    assert.deepEqual(single, {
      ok: true,
      items: [
        {
          providerId: '0B01',
          number: '+447700900000',
          code: 0,
          state: 'delivered',
          said: 'status delivered, err-code 0',
          formerId: '03ddaaswvcywy77nbawyv3tkx.1',
          messageId: message,
        },
      ],
    });
    assert.match(vonagePlugin.describeStatus(3), /no longer in service/);
    // 9 "Illegal Number" is Vonage's opt-out: "User has requested not to receive messages from a specific service".
    assert.deepEqual(part('0A03', 'failed', '9'), {
      ok: true,
      items: [
        {
          providerId: ref,
          number: '+447700900000',
          code: 9,
          state: 'failed',
          part: { id: '0A03', of: 2 },
          optedOut: { code: 'VONAGE:err-code 9', at: Date.UTC(2020, 0, 1, 12, 0, 0) },
        },
      ],
    });
    assert.match(vonagePlugin.describeStatus(9), /opted out/);
    // Opted out when Vonage says it had the receipt (message-timestamp, UTC), not when the relay got it.
    const dated = vonagePlugin.parseReport!(
      get({ ...receipt, messageId: '0A04', status: 'rejected', 'err-code': '9', 'client-ref': ref, 'message-timestamp': '2026-12-06 08:00:00' }),
    );
    assert.deepEqual(dated.ok && dated.items[0]?.optedOut, { code: 'VONAGE:err-code 9', at: Date.UTC(2026, 11, 6, 8, 0, 0) });
    // A status named like a property every object has is as unknown as any other (it was read as a state).
    assert.deepEqual(part('0A05', 'constructor'), { ok: false, reason: 'unknown status constructor' });
  });

  test('inbound concat parts: each is an SMS with its place in the long one (the relay reassembles them)', () => {
    const part = (index: number, text: string) =>
      vonagePlugin.parseReceived!(
        get({
          ...inbound,
          msisdn: '447700900009',
          messageId: `0C0${index}`,
          text,
          concat: 'true',
          'concat-ref': '77',
          'concat-total': '3',
          'concat-part': String(index),
        }),
      );
    const third = part(3, 'three');
    assert.ok(third.ok);
    assert.deepEqual(
      third.items.map((sms) => [sms.providerId, sms.text, sms.part]),
      [['0C03', 'three', { reference: 77, total: 3, index: 3 }]],
    );
    assert.equal(part(4, 'four').ok, false, 'a part beyond the total is refused (quarantined)');
  });
});

describe('Vonage through the relay', () => {
  let relay: TestRelay;
  let sink: SmtpSink;
  let simulator: VonageSimulator;
  const paths = webhookPaths('vonage');

  before(async () => {
    sink = await new SmtpSink().start();
    relay = await startTestRelay({
      gateway: { provider: 'vonage-simulator', from: '447700900000', signatureSecret: 'relay-signature', signatureMethod: 'sha512' },
      sms: { domains: ['sms.example.com'], defaultRegion: 'GB' },
      mail: { url: sink.url },
      inbound: { defaultMailbox: 'ops@example.com' },
    });
    simulator = relay.relay.simulator as VonageSimulator;
  });
  after(async () => {
    await relay.stop();
    await sink.stop();
    removeDir(relay.dir);
  });

  test("a long SMS goes out in parts, and is delivered once every part's receipt is in", async () => {
    const { data } = await sendMail(relay.relay.smtpPort, { to: ['447700900180@sms.example.com'], body: 'x'.repeat(300) });
    const id = queuedId(data);
    const record = await waitFor('the SMS', () => simulator.records.find((entry) => entry.to === '447700900180'));
    assert.equal(record.parts.length, 2);
    await waitFor('delivered', async () => (await relay.relay.store.smsOf(id))[0]?.delivery === 'delivered');
  });

  test("a long SMS a part of which fails: its history and its bounce name the receipt's err-code in Vonage's words, never a status", async () => {
    const phone = '447700900181';
    simulator.setUndeliverableNumbers([phone]);
    const { data } = await sendMail(relay.relay.smtpPort, { to: [`${phone}@sms.example.com`], body: 'y'.repeat(300) });
    const id = queuedId(data);
    await waitFor('failed', async () => (await relay.relay.store.smsOf(id))[0]?.delivery === 'failed');
    const reports = (await relay.relay.store.events(id)).filter((event) => event.kind === 'delivery report').map((event) => event.detail);
    // "status 2" is Vonage's send status Missing Parameters: the receipt's code is its err-code.
    assert.deepEqual(reports, ['failed (err-code 2)']);
    const bounce = await waitFor('the bounce', () => sink.received.find((mail) => mail.raw.includes('Action: failed') && mail.raw.includes(phone)));
    assert.match(bounce.raw.replace(/\r?\n\s+/g, ' '), /Diagnostic-Code: X-SMS; err-code 2 \(the phone was out of reach/);
  });

  test('a long reply arrives in parts, last first: every part is kept and acknowledged at once, and one mail carries the whole text', async () => {
    const text = `${'Restarting pump three now. '.repeat(8)}Done.`;
    simulator.reply('447700900181', text);
    const mail = await waitFor('the reply mail', () => sink.received.find((entry) => entry.raw.includes('Done.')));
    assert.equal(((await simpleParser(mail.raw)).text ?? '').includes(text.slice(0, 60)), true);
    const refused = simulator.webhookPosts.filter((post) => post.kind === 'mo' && post.status !== 200);
    assert.equal(refused.length, 0, 'a part is acknowledged once it is stored, not held back until its siblings come');
    assert.equal(sink.received.filter((entry) => entry.raw.includes('Done.')).length, 1);
  });

  test('the reply mail names the number the phone texted: an account may have several, and an answer goes from gateway.from', async () => {
    const fields = {
      msisdn: '447700900611',
      to: '447700900777',
      messageId: '0F000002',
      text: 'pump down?',
      type: 'text',
      timestamp: '1764700000',
      nonce: 'n2',
    };
    const answer = await fetch(`http://127.0.0.1:${relay.relay.httpPort}${paths.mo}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...fields, sig: vonageSignature('relay-signature', 'sha512', new Map(Object.entries(fields))) }).toString(),
    });
    assert.equal(answer.status, 200);
    const mail = await waitFor('the reply mail', () => sink.received.find((entry) => entry.raw.includes('pump down?')));
    assert.match((await simpleParser(mail.raw)).text ?? '', /^SMS from \+44 7700 900611 to \+44 7700 900777, /m);
  });

  test("two long SMS from one phone to two of the account's numbers under one concat-ref are two SMS: no part is a duplicate, each mail names its number", async () => {
    const post = async (to: string, messageId: string, index: number, text: string) => {
      const fields = {
        msisdn: '447700900885',
        to,
        messageId,
        text,
        type: 'text',
        timestamp: '1764700000',
        nonce: messageId,
        concat: 'true',
        'concat-ref': '33',
        'concat-total': '2',
        'concat-part': String(index),
      };
      const answer = await postSigned(relay.relay.httpPort, paths.mo, fields);
      assert.equal(answer.status, 200);
      return (await answer.json()) as { status?: string };
    };
    assert.equal((await post('447700900777', '0F00A001', 1, 'Alpha one, ')).status, 'part');
    assert.equal((await post('447700900888', '0F00B001', 1, 'Bravo one, ')).status, 'part', 'another number texted: another SMS, not a repeat');
    await post('447700900777', '0F00A002', 2, 'alpha two');
    await post('447700900888', '0F00B002', 2, 'bravo two');
    const alpha = await waitFor('the Alpha mail', () => sink.received.find((entry) => entry.raw.includes('alpha two')));
    const bravo = await waitFor('the Bravo mail', () => sink.received.find((entry) => entry.raw.includes('bravo two')));
    assert.match((await simpleParser(alpha.raw)).text ?? '', /^Alpha one, alpha two\n[\s\S]*^SMS from \+44 7700 900885 to \+44 7700 900777, /m);
    assert.match((await simpleParser(bravo.raw)).text ?? '', /^Bravo one, bravo two\n[\s\S]*^SMS from \+44 7700 900885 to \+44 7700 900888, /m);
  });

  test('a long SMS whose emoji the phone split between two parts is one mail with the emoji whole, no part quarantined', async () => {
    const post = async (index: number, text: string) => {
      const fields = {
        msisdn: '447700900886',
        to: '447700900777',
        messageId: `0F00C00${index}`,
        text,
        type: 'unicode',
        timestamp: '1764700000',
        nonce: `half-${index}`,
        concat: 'true',
        'concat-ref': '44',
        'concat-total': '2',
        'concat-part': String(index),
      };
      // JSON, as Vonage posts it when the account says so: a form's UTF-8 cannot carry half a pair, JSON's escapes can.
      const answer = await fetch(`http://127.0.0.1:${relay.relay.httpPort}${paths.mo}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...fields, sig: vonageSignature('relay-signature', 'sha512', new Map(Object.entries(fields))) }),
      });
      assert.equal(answer.status, 200);
      return (await answer.json()) as { status?: string };
    };
    assert.equal((await post(1, 'Fixed it \uD83D')).status, 'part', "half a pair at a part's end is the phone's cut, not unreadable");
    await post(2, '\uDE00 thanks');
    const mail = await waitFor('the joined mail', () => sink.received.find((entry) => entry.raw.includes('thanks')));
    assert.match((await simpleParser(mail.raw)).text ?? '', /^Fixed it \u{1F600} thanks\n/mu);
  });

  test('a forged or missing sig: 403, by GET and by POST', async () => {
    const fields = { msisdn: '447700900182', to: '447700900000', messageId: '0F000001', text: 'forged', type: 'text', timestamp: '1764700000', nonce: 'n' };
    const base = `http://127.0.0.1:${relay.relay.httpPort}${paths.mo}`;
    const byGet = await fetch(`${base}?${new URLSearchParams({ ...fields, sig: 'ab'.repeat(64) })}`);
    assert.equal(byGet.status, 403);
    const byPost = await fetch(base, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
    assert.equal(byPost.status, 403);
    const signed = vonageSignature('relay-signature', 'sha512', new Map(Object.entries(fields)));
    const taken = await fetch(base, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...fields, sig: signed }).toString(),
    });
    assert.equal(taken.status, 200);
  });
});

/**
 * A long SMS whose part 1 a relay of schema 30 kept (its set names no number texted: recipient NULL, as every
 * relay before schema 31 left it) and whose part 2 reaches this relay, on that store, after the upgrade.
 */
function aLongSmsAcrossTheUpgrade(
  store: string,
  olderStore: (dir: string, steps: readonly string[], rows: readonly string[]) => Promise<Record<string, string>>,
) {
  test(`on ${store}: the part after the upgrade joins the part kept before it, one mail naming the number texted`, async () => {
    const dir = tempDir();
    const sink = await new SmtpSink().start();
    const now = Date.now();
    // The two parts' times, seconds apart as one SMS's are: part 1's as the older relay kept it, part 2's as Vonage
    // posts it (`message-timestamp`, UTC to the second).
    const sentFirst = new Date(now - 3_000).toISOString();
    const sentSecond = new Date(now).toISOString().slice(0, 19).replace('T', ' ');
    const env = await olderStore(dir, MIGRATIONS.slice(0, 30), [
      `INSERT INTO part_sets (provider, sender, reference, total, first_seen) VALUES ('vonage', '+447700900501', 77, 2, ${now})`,
      `INSERT INTO sms_parts (set_id, part_index, provider_id, text, sent_at, received_at)
        SELECT id, 1, '0A0000000000AB01', 'First half of the answer ', '${sentFirst}', ${now} FROM part_sets WHERE reference = 77`,
    ]);
    const relay = await startTestRelay(
      {
        gateway: { provider: 'vonage-simulator', from: '447700900000', signatureSecret: 'relay-signature', signatureMethod: 'sha512' },
        mail: { url: sink.url },
        inbound: { defaultMailbox: 'ops@example.com' },
      },
      env,
      dir,
    );
    try {
      const answer = await postSigned(relay.relay.httpPort, webhookPaths('vonage').mo, {
        msisdn: '447700900501',
        to: '447700900000',
        messageId: '0A0000000000AB02',
        text: 'and the second half.',
        type: 'text',
        'message-timestamp': sentSecond,
        timestamp: String(Math.floor(now / 1000)),
        nonce: 'across-the-upgrade',
        concat: 'true',
        'concat-ref': '77',
        'concat-total': '2',
        'concat-part': '2',
      });
      assert.equal(answer.status, 200);
      assert.notEqual(((await answer.json()) as { status?: string }).status, 'part', 'part 2 completes the set part 1 is in');
      const mail = await waitFor('the reply mail', () => sink.received.find((entry) => entry.raw.includes('second half')));
      assert.match(
        (await simpleParser(mail.raw)).text ?? '',
        /^First half of the answer and the second half\.\n[\s\S]*^SMS from \+44 7700 900501 to \+44 7700 900000, /m,
      );
      assert.equal(sink.received.length, 1);
    } finally {
      await relay.stop();
      await sink.stop();
      removeDir(dir);
    }
  });
}

describe('Vonage: a long SMS whose parts arrive either side of an upgrade from before schema 31', () => {
  aLongSmsAcrossTheUpgrade('SQLite', async (dir, steps, rows) => {
    mkdirSync(join(dir, 'data'));
    const older = new BetterSqlite3(join(dir, 'data', 'smsrelay.db'));
    for (const sql of steps) older.exec(sql);
    older.pragma(`user_version = ${steps.length}`);
    for (const row of rows) older.exec(row);
    older.close();
    return {};
  });
});
describeOnPostgres('Vonage on PostgreSQL: a long SMS whose parts arrive either side of an upgrade from before schema 31', async () => {
  aLongSmsAcrossTheUpgrade('PostgreSQL', async (_dir, steps, rows) => {
    const url = (await freshDatabase()) ?? '';
    await withClient(url, async (client) => {
      await migrate(client, { create: true, migrations: steps });
      for (const row of rows) await client.query(row);
    });
    return { SMSRELAY_DATABASE_URL: url };
  });
});

describe('Vonage: a long SMS some of whose parts were taken and another refused', () => {
  const gateway = new ReplayServer({ contentType: 'application/json' });
  serveDuringSuite(gateway);
  let relay: TestRelay | undefined;
  after(async () => {
    await relay?.stop();
    if (relay) removeDir(relay.dir);
  });

  test('is retried as a possible duplicate, and its history says the taken parts may reach the phone twice', async () => {
    const part = (status: string, id: string) => ({ to: '447700900180', 'message-id': id, status, ...(status === '0' ? {} : { 'error-text': 'Throttled' }) });
    gateway.next = [{ status: 200, body: JSON.stringify({ 'message-count': '2', messages: [part('0', 'p1'), part('1', 'p2')] }) }];
    gateway.answer = { status: 200, body: JSON.stringify({ 'message-count': '2', messages: [part('0', 'p3'), part('0', 'p4')] }) };
    relay = await startTestRelay({
      gateway: { provider: 'vonage', url: gateway.url, username: 'key', password: 'secret', from: 'Acme' },
      sms: { domains: ['sms.example.com'], defaultRegion: 'GB' },
      delivery: { retryMinDelay: '100ms', retryMaxDelay: '200ms' },
    });
    const store = relay.relay.store;
    const id = queuedId((await sendMail(relay.relay.smtpPort, { to: ['447700900180@sms.example.com'], body: 'long '.repeat(50) })).data);
    const [state] = await waitFor('the SMS sent', async () => {
      const sms = await store.smsOf(id);
      return sms[0]?.status === 'sent' && sms;
    });
    assert.equal(gateway.requests.length, 2);
    assert.equal(state?.possibleDuplicates, 1);
    const deferred = (await store.events(id)).find((event) => event.kind === 'deferred');
    assert.match(deferred?.detail ?? '', /VONAGE:1: .*already taken 1 part of it, which the phone may get twice/);
  });
});
describe('Vonage: a sender id that is a number goes as international digits; one written nationally is refused in a mail, read in sms.defaultRegion in gateway.from', () => {
  const gateway = new ReplayServer({ contentType: 'application/json' });
  serveDuringSuite(gateway);
  let relay: TestRelay | undefined;
  after(async () => {
    await relay?.stop();
    if (relay) removeDir(relay.dir);
  });

  test('"+", "00" or neither: `from` is the digits alone; a trunk 0 is refused at DATA naming the rule, as Twilio refuses it; gateway.from with one goes in international digits', async () => {
    gateway.answer = { status: 200, body: JSON.stringify({ 'message-count': '1', messages: [{ to: '447700900190', 'message-id': 'S1', status: '0' }] }) };
    relay = await startTestRelay({
      // As a configuration older releases ran with writes it: read in sms.defaultRegion.
      gateway: { provider: 'vonage', url: gateway.url, username: 'key', password: 'secret', from: '07700900996' },
      sms: { domains: ['sms.example.com'], defaultRegion: 'GB' },
    });
    const port = relay.relay.smtpPort;
    for (const [sender, from] of [
      [undefined, '447700900996'],
      ['+447700900999', '447700900999'],
      ['00447700900998', '447700900998'],
      ['447700900997', '447700900997'],
      ['ACME Ops', 'ACME Ops'],
    ] as const) {
      const seen = gateway.requests.length;
      const headers: Record<string, string> = sender === undefined ? {} : { 'X-SMS-From': sender };
      queuedId((await sendMail(port, { to: ['447700900190@sms.example.com'], body: 'from a number', headers })).data);
      const request = await waitFor(`the request from ${sender}`, () => gateway.requests[seen]);
      assert.equal(new URLSearchParams(request.body).get('from'), from, sender);
    }
    // gateway.from takes the forms X-SMS-From does (test/config/load.test.ts: a national one is read in sms.defaultRegion).
    for (const from of ['+447700900999', '00447700900999']) assert.equal(vonagePlugin.settings.schema.safeParse({ from }).success, true, from);
    const national = await sendMail(port, { to: ['447700900190@sms.example.com'], body: 'national', headers: { 'X-SMS-From': '07700900999' } });
    assert.equal(national.data?.code, 554);
    assert.match(
      national.data?.text ?? '',
      /^5\.6\.0 Invalid sender id: The sender id "07700900999" is a number written nationally \(with its leading 0\): Vonage takes a number in international digits/,
    );
  });
});

/** One SMS (`hi`, message `messageId`) to `number` through a Vonage gateway whose API is `server`, ACME its sender. */
const sendOneVia = (server: ReplayServer, messageId: string, number: string) =>
  withFreshGateway(
    createVonageGateway,
    {
      ...TEST_GATEWAY_SETTINGS,
      endpoints: [server.url],
      username: 'key',
      password: 'secret',
      accountId: undefined,
      sessions: false,
      settings: { from: 'ACME' },
    },
    (gateway) => gateway.send({ messageId, recipients: [number], text: 'hi', encoding: 'gsm7', maxParts: 1 }, 0),
  );

describe('Vonage adapter: an answer whose message-count disagrees with its messages', () => {
  const server = new ReplayServer({ contentType: 'application/json' });
  serveDuringSuite(server);
  const number = '+447700900217';
  const send = () => sendOneVia(server, 'm1', number);

  test('is the unreadable answer: retried as a possible duplicate, not taken as a one-part send', async () => {
    const { classifyRecipient } = outcomeClassifier(vonagePlugin.outcomeRules);
    server.next = [{ status: 200, body: JSON.stringify({ 'message-count': '2', messages: [{ to: '447700900217', 'message-id': '0C01', status: '0' }] }) }];
    assert.equal(classifyRecipient(await send(), number).action, 'ambiguous');
    server.next = [{ status: 200, body: JSON.stringify({ 'message-count': '1', messages: [{ to: '447700900217', 'message-id': '0C02', status: '0' }] }) }];
    const agreeing = classifyRecipient(await send(), number);
    assert.deepEqual([agreeing.action, agreeing.providerId], ['sent', '0C02']);
  });
});

describe('Vonage adapter: a 429 in RFC 7807 problem details', () => {
  const server = new ReplayServer({ contentType: 'application/problem+json' });
  serveDuringSuite(server);
  const number = '+447700900218';

  test("is retried with the problem's words as its reason, not the JSON quoted whole, and its Retry-After", async () => {
    const { classifyRecipient } = outcomeClassifier(vonagePlugin.outcomeRules);
    const problem = {
      type: 'https://developer.nexmo.com/api-errors#throttled',
      title: 'Throttled',
      detail: 'Please wait, then retry your request',
      instance: 'bf0ca0bf927b3b52e3cb03217e1a1ddf',
    };
    server.next = [{ status: 429, body: JSON.stringify(problem), headers: { 'retry-after': '2' } }];
    const result = await sendOneVia(server, 'm429', number);
    assert.deepEqual(result.kind === 'refused' ? [result.code, result.detail, result.retryAfter] : result, [
      'HTTP_429',
      'Please wait, then retry your request',
      '2',
    ]);
    assert.equal(classifyRecipient(result, number).action, 'retry');
  });
});

describe("Vonage: the gateway id is Vonage's message-id", () => {
  const gateway = new ReplayServer({ contentType: 'application/json' });
  serveDuringSuite(gateway);
  let relay: TestRelay | undefined;
  let sink: SmtpSink | undefined;
  after(async () => {
    await relay?.stop();
    await sink?.stop();
    if (relay) removeDir(relay.dir);
  });

  test('an SMS of one part: its history and its relayed report name the message-id, and a receipt naming it without client-ref is applied', async () => {
    const messageId = '0A00000012345678';
    gateway.next = [
      {
        status: 200,
        body: JSON.stringify({ 'message-count': '1', messages: [{ to: '447700900213', 'message-id': messageId, status: '0', 'remaining-balance': '3.1' }] }),
      },
    ];
    sink = await new SmtpSink().start();
    relay = await startTestRelay({
      gateway: {
        provider: 'vonage',
        url: gateway.url,
        username: 'key',
        password: 'secret',
        from: '447700900000',
        signatureSecret: 'relay-signature',
        signatureMethod: 'sha256',
      },
      sms: { domains: ['sms.example.com'], defaultRegion: 'GB' },
      mail: { url: sink.url },
    });
    const store = relay.relay.store;
    const id = queuedId(
      (await sendMail(relay.relay.smtpPort, { to: ['447700900213@sms.example.com'], body: 'notify success', rcptParams: 'NOTIFY=SUCCESS,FAILURE' })).data,
    );
    const [sent] = await waitFor('the SMS sent', async () => {
      const sms = await store.smsOf(id);
      return sms[0]?.status === 'sent' && sms;
    });
    assert.equal(sent?.providerId, messageId);
    const history = (await store.events(id)).map((event) => `${event.kind}: ${event.detail ?? ''}`);
    assert.ok(history.includes(`sent: id ${messageId}`), history.join('\n'));
    const report = await waitFor('the relayed report', () => sink?.received.find((mail) => mail.raw.includes('Action: relayed')));
    assert.match(report.raw, new RegExp(`Diagnostic-Code: X-SMS; gateway id ${messageId} `));

    const fields = { msisdn: '447700900213', to: '447700900000', messageId, status: 'delivered', 'err-code': '0', timestamp: '1764700000', nonce: 'n1' };
    const signed = vonageSignature('relay-signature', 'sha256', new Map(Object.entries(fields)));
    const answer = await fetch(`http://127.0.0.1:${relay.relay.httpPort}${webhookPaths('vonage').dr}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...fields, sig: signed }).toString(),
    });
    assert.equal(answer.status, 200);
    assert.doesNotMatch(await answer.text(), /orphan/);
    await waitFor('delivered', async () => (await store.smsOf(id))[0]?.delivery === 'delivered');
  });

  test('an interim receipt (accepted, unknown), then the final one with the same err-code: the final one is applied, and a failure bounces', async () => {
    const started = relay as TestRelay;
    const store = started.relay.store;
    const receipt = async (fields: Record<string, string>) => {
      const answer = await fetch(`http://127.0.0.1:${started.relay.httpPort}${webhookPaths('vonage').dr}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ ...fields, sig: vonageSignature('relay-signature', 'sha256', new Map(Object.entries(fields))) }).toString(),
      });
      return ((await answer.json()) as { status: string }).status;
    };
    const sendOne = async (to: string, messageId: string) => {
      gateway.next = [{ status: 200, body: JSON.stringify({ 'message-count': '1', messages: [{ to, 'message-id': messageId, status: '0' }] }) }];
      const id = queuedId((await sendMail(started.relay.smtpPort, { to: [`${to}@sms.example.com`], body: `interim then final to ${to}` })).data);
      await waitFor('the SMS sent', async () => (await store.smsOf(id))[0]?.status === 'sent');
      return id;
    };
    const delivered = await sendOne('447700900215', '0A000000000B0001');
    const failed = await sendOne('447700900216', '0A000000000B0002');
    const fields = (to: string, messageId: string, status: string, errCode: string, nonce: string) => ({
      msisdn: to,
      to: '447700900000',
      messageId,
      status,
      'err-code': errCode,
      timestamp: '1764700000',
      nonce,
    });
    assert.equal(await receipt(fields('447700900215', '0A000000000B0001', 'accepted', '0', 'i1')), 'advanced');
    assert.equal(await receipt(fields('447700900215', '0A000000000B0001', 'delivered', '0', 'i2')), 'advanced');
    assert.equal(await receipt(fields('447700900215', '0A000000000B0001', 'delivered', '0', 'i3')), 'duplicate');
    assert.equal(await receipt(fields('447700900216', '0A000000000B0002', 'unknown', '1', 'i4')), 'advanced');
    assert.equal(await receipt(fields('447700900216', '0A000000000B0002', 'failed', '1', 'i5')), 'advanced');
    assert.equal((await store.smsOf(delivered))[0]?.delivery, 'delivered');
    assert.equal((await store.smsOf(failed))[0]?.delivery, 'failed');
    // In Vonage's words, as its dashboard shows them.
    assert.deepEqual(
      (await store.events(failed)).filter((event) => event.kind === 'delivery report').map((event) => event.detail),
      ['sent (status unknown, err-code 1)', 'failed (status failed, err-code 1)'],
    );
    const bounce = await waitFor('the bounce', () => sink?.received.find((mail) => mail.raw.includes('Action: failed') && mail.raw.includes('447700900216')));
    // It went out: the network did not deliver it.
    assert.match(bounce.raw.replace(/=\r?\n/g, '').replace(/\r?\n\s*/g, ' '), /was sent as a text message but not delivered to:/);
    // The network's validity ran out: sent and not delivered, not the relay giving up at the maximum age.
    await sendOne('447700900217', '0A000000000B0003');
    assert.equal(await receipt(fields('447700900217', '0A000000000B0003', 'expired', '0', 'i6')), 'advanced');
    const expired = await waitFor('the expiry bounce', () =>
      sink?.received.find((mail) => mail.raw.includes('Action: failed') && mail.raw.includes('447700900217')),
    );
    const expiredText = expired.raw.replace(/=\r?\n/g, '').replace(/\r?\n\s*/g, ' ');
    assert.match(expiredText, /was sent as a text message but not delivered to:/);
    assert.match(expiredText, /validity ran out/);
    assert.doesNotMatch(expiredText, /kept trying/);
    assert.match(expired.raw, /Status: 4\.4\.7/);
  });

  test("a failed receipt with err-code 9 (the user asked not to receive the service's messages) records the opt-out: the next mail to the number is refused at RCPT", async () => {
    const started = relay as TestRelay;
    const to = '447700900218';
    const messageId = '0A000000000B0009';
    gateway.next = [{ status: 200, body: JSON.stringify({ 'message-count': '1', messages: [{ to, 'message-id': messageId, status: '0' }] }) }];
    const id = queuedId((await sendMail(started.relay.smtpPort, { to: [`${to}@sms.example.com`], body: 'to an opted-out phone' })).data);
    await waitFor('the SMS sent', async () => (await started.relay.store.smsOf(id))[0]?.status === 'sent');
    const fields = { msisdn: to, to: '447700900000', messageId, status: 'rejected', 'err-code': '9', timestamp: '1764700000', nonce: 'o9' };
    const answer = await fetch(`http://127.0.0.1:${started.relay.httpPort}${webhookPaths('vonage').dr}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...fields, sig: vonageSignature('relay-signature', 'sha256', new Map(Object.entries(fields))) }).toString(),
    });
    assert.equal(answer.status, 200);
    await waitFor('the opt-out recorded', () => started.relay.store.isOptedOut(`+${to}`));
    const refused = await sendMail(started.relay.smtpPort, { to: [`${to}@sms.example.com`], body: 'again' });
    assert.equal(refused.rcpt[0]?.code, 550);
    assert.match(refused.rcpt[0]?.text ?? '', /has opted out of SMS from this relay \(the gateway refused an SMS to it as opted out, VONAGE:err-code 9\)/);
    const bounce = await waitFor('the bounce', () => sink?.received.find((mail) => mail.raw.includes('Action: failed') && mail.raw.includes(to)));
    assert.match(bounce.raw.replace(/\r?\n\s+/g, ' '), /err-code 9 \(the recipient has asked not to receive messages from this service \(opted out\)\)/);
  });

  test("an SMS of one part kept under its client-ref (an earlier version's, or an answer without message-id) gets the receipt that names both", async () => {
    gateway.next = [{ status: 200, body: JSON.stringify({ 'message-count': '1', messages: [{ to: '447700900214', status: '0' }] }) }];
    const started = relay as TestRelay;
    const store = started.relay.store;
    const id = queuedId((await sendMail(started.relay.smtpPort, { to: ['447700900214@sms.example.com'], body: 'kept under the ref' })).data);
    const [sent] = await waitFor('the SMS sent', async () => {
      const sms = await store.smsOf(id);
      return sms[0]?.status === 'sent' && sms;
    });
    const clientRef = sent?.providerId ?? '';
    assert.match(clientRef, /^[0-9a-z]{25}\.1$/, 'kept under the client-ref');
    const fields = {
      msisdn: '447700900214',
      to: '447700900000',
      messageId: '0A00000087654321',
      'client-ref': clientRef,
      status: 'delivered',
      'err-code': '0',
      timestamp: '1764700000',
      nonce: 'n2',
    };
    const answer = await fetch(`http://127.0.0.1:${started.relay.httpPort}${webhookPaths('vonage').dr}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...fields, sig: vonageSignature('relay-signature', 'sha256', new Map(Object.entries(fields))) }).toString(),
    });
    assert.equal(answer.status, 200);
    assert.doesNotMatch(await answer.text(), /orphan/);
    await waitFor('delivered', async () => (await store.smsOf(id))[0]?.delivery === 'delivered');
  });
});

describe("Vonage: a refused sender's bounce names it; an account status pauses with its own fix", () => {
  let relay: TestRelay;
  let sink: SmtpSink;
  let simulator: VonageSimulator;
  const log = captureLog('info');
  const lines = () => log.lines.map((line) => JSON.parse(line) as Record<string, unknown>);

  before(async () => {
    sink = await new SmtpSink().start();
    relay = await startTestRelay(
      {
        gateway: { provider: 'vonage-simulator', from: 'MYBRAND', publicUrl: 'https://sms.example.com/relay' },
        sms: { domains: ['sms.example.com'], defaultRegion: 'GB' },
        mail: { url: sink.url },
      },
      {},
      tempDir(),
      {},
      log.logger,
    );
    simulator = relay.relay.simulator as VonageSimulator;
  });
  after(async () => {
    await relay.stop();
    await sink.stop();
    removeDir(relay.dir);
  });

  test("status 15: the bounce names the sender sent, the mail's own or the relay's gateway.from", async () => {
    for (const [phone, headers, named] of [
      ['447700900481', { 'X-SMS-From': 'ACME' }, '"ACME", which the mail named'],
      ['447700900482', {}, `"MYBRAND", the relay's gateway.from`],
    ] as const) {
      simulator.setBehaviour({ mode: 'error', status: 15, times: 1 });
      await sendMail(relay.relay.smtpPort, { to: [`${phone}@sms.example.com`], body: 'sender refused', headers });
      const bounce = await waitFor('the bounce', () => sink.received.find((mail) => mail.raw.includes('Action: failed') && mail.raw.includes(phone)));
      const unfolded = bounce.raw.replace(/\r?\n\s+/g, ' ');
      assert.match(
        unfolded,
        new RegExp(`Diagnostic-Code: X-SMS; VONAGE:15 \\(the sender id is not one the Vonage account may send from \\(the sender ${named}\\)`),
      );
    }
  });

  // Last: it pauses sending for the suite's relay.
  test('status 23 (the callback URL refused) pauses sending with an alert naming gateway.publicUrl as the fix, not the credentials', async () => {
    simulator.setBehaviour({ mode: 'error', status: 23, times: 1 });
    await sendMail(relay.relay.smtpPort, { to: ['447700900483@sms.example.com'], body: 'callback refused' });
    const paused = await waitFor('the pause alert', () =>
      lines().find((line) => line['alert'] === 'gateway-account' && String(line['msg']).startsWith('dispatch: sending paused')),
    );
    assert.match(
      String(paused['msg']),
      /probed; set gateway\.publicUrl to the https address at which Vonage reaches the relay, then `smsrelay queue retry all`/,
    );
    assert.doesNotMatch(String(paused['msg']), /credentials/);
  });
});
