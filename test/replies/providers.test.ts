import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { simpleParser } from 'mailparser';
import { history } from '../../src/admin.ts';
import { STORE_FILE } from '../../src/relay.ts';
import type { ProviderSimulator } from '../../src/simulators/contract.ts';
import type { BuiltInProviderName as ProviderName } from '../../src/vocabulary.ts';
import type { PuzzelSimulator } from '../../src/simulators/puzzel.ts';
import { webhookPaths } from '../../src/http/webhooks.ts';
import { removeDir, startTestRelay, type TestRelay, waitFor } from '../helpers/relay.ts';
import { queuedId, sendMail } from '../helpers/smtp.ts';
import { SmtpSink } from '../helpers/smtp-sink.ts';
import { ReplayServer } from '../helpers/replay-server.ts';
import { maildirMessages } from '../helpers/relay.ts';
import { sleep } from '../helpers/wait.ts';

/**
 * Each provider's whole loop on its simulator, over real sockets: mail → SMS → delivery report →
 * the phone's reply → reply mail → the mailbox's answer → SMS in the same conversation.
 */
/** What a provider's account needs besides the simulator's defaults (Twilio: its sender, and the token it signs with). */
const GATEWAY_SETTINGS: Partial<Record<ProviderName, object>> = {
  twilio: { messagingServiceSid: `MG${'1'.repeat(32)}`, authToken: 'loop-auth-token' },
  vonage: { from: '447700900000', signatureSecret: 'loop-signature-secret', signatureMethod: 'sha256' },
};

/** The providers whose forward of an SMS names the number the phone texted (Vonage's `to`, Twilio's `To`, InteractSMS's `SMS-To`, SMPP's `destination_addr`). */
const NAMES_TEXTED: ReadonlySet<ProviderName> = new Set(['interactsms', 'twilio', 'vonage', 'smpp']);

/**
 * The providers whose simulator reports an undeliverable number with a code of a passing state (Vonage's err-code 2,
 * absent subscriber; Twilio's 30003, unreachable handset); the others' codes are permanent failures.
 */
const TEMPORARY_FAILURE: ReadonlySet<ProviderName> = new Set(['twilio', 'vonage']);

for (const provider of ['intellisoftware', 'puzzel', 'interactsms', 'twilio', 'vonage', 'smpp'] as const satisfies readonly ProviderName[]) {
  describe(`the full loop through ${provider}`, () => {
    let relay: TestRelay;
    let sink: SmtpSink;
    let simulator: ProviderSimulator;

    before(async () => {
      sink = await new SmtpSink().start();
      relay = await startTestRelay({
        gateway: { provider: `${provider}-simulator`, ...GATEWAY_SETTINGS[provider] },
        sms: { domains: ['sms.example.com'], defaultRegion: 'GB' },
        mail: { url: sink.url, retryMinDelay: '100ms', retryMaxDelay: '300ms' },
      });
      assert.ok(relay.relay.simulator);
      simulator = relay.relay.simulator;
    });
    after(async () => {
      await relay.stop();
      await sink.stop();
      removeDir(relay.dir);
    });

    test('mail, SMS, delivery report, reply mail, and the answer back in the same conversation', async () => {
      const phone = '447700900140';
      const first = await sendMail(relay.relay.smtpPort, {
        from: 'alice@example.com',
        to: [`${phone}@sms.example.com`],
        subject: 'Pump 3',
        body: 'Pump 3 stopped',
        headers: { From: 'alice@example.com', 'Message-ID': `<${provider}-1@example.com>` },
      });
      const id = queuedId(first.data);
      const sms = await waitFor('the SMS', () => simulator.records.find((record) => record.to === phone));
      assert.equal(sms.text, 'Pump 3 stopped');
      await waitFor('delivered', async () => (await relay.relay.store.smsOf(id))[0]?.delivery === 'delivered');

      simulator.reply(phone, 'Restarting it', sms);
      const mail = await waitFor('the reply mail', () => sink.received.find((entry) => entry.to.includes('alice@example.com')));
      const reply = await simpleParser(mail.raw);
      assert.match(reply.subject ?? '', /^Re: Pump 3 \[UserContext: [A-Za-z0-9._-]+\]$/);
      assert.equal(reply.inReplyTo, `<${provider}-1@example.com>`);
      assert.match(reply.text ?? '', /^Restarting it/);
      assert.match(
        reply.text ?? '',
        /^SMS from \+44[\d ]+(?: to \+?[\d ]+)?, \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$/m,
        'the time in one form (ISO 8601 with offset) whatever the provider wrote',
      );
      // The account's number the phone texted, where the provider's forward names it (an account may have several).
      assert.equal(/^SMS from \+44[\d ]+ to \+?\d/m.test(reply.text ?? ''), NAMES_TEXTED.has(provider), reply.text);

      const answer = await sendMail(relay.relay.smtpPort, {
        from: 'alice@example.com',
        to: [`${phone}@sms.example.com`],
        subject: reply.subject ?? '',
        body: `Thanks!\r\n\r\n> Restarting it\r\n`,
        headers: { From: 'alice@example.com', 'In-Reply-To': reply.messageId ?? '' },
      });
      assert.equal(answer.data?.code, 250);
      const second = await waitFor('the answer SMS', () => simulator.records.filter((record) => record.to === phone)[1]);
      assert.equal(second.text, 'Thanks!');
      const context = /\[UserContext: ([^\]]+)\]/.exec(reply.subject ?? '')?.[1];
      const db = new BetterSqlite3(join(relay.config.dataDir, STORE_FILE), { readonly: true });
      const rows = db.prepare('SELECT user_context AS context FROM messages WHERE id IN (?, ?)').all(id, queuedId(answer.data)) as Array<{ context: string }>;
      db.close();
      assert.deepEqual(
        rows.map((row) => row.context),
        [context, context],
        'the answer continues the conversation',
      );
    });

    test('a failure report says 4.x.x and "could not take it for now" where the provider\'s code names a passing state of the phone, else 5.x.x', async () => {
      const phone = '447700900149';
      const control = await fetch(`http://127.0.0.1:${relay.relay.httpPort}/simulator/control`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ undeliverableNumbers: [phone] }),
      });
      assert.equal(control.status, 200, await control.text());
      const sent = await sendMail(relay.relay.smtpPort, {
        from: 'dora@example.com',
        to: [`${phone}@sms.example.com`],
        subject: 'Door open',
        body: 'Door open',
      });
      assert.equal(sent.data?.code, 250, sent.data?.text);
      const report = await waitFor('the failure report', () =>
        sink.received.find((mail) => mail.to.includes('dora@example.com') && mail.raw.includes('Diagnostic-Code')),
      );
      if (TEMPORARY_FAILURE.has(provider)) {
        assert.match(report.raw, /^Status: 4\.\d\.\d/m);
        assert.match((await simpleParser(report.raw)).text?.replace(/\s+/g, ' ') ?? '', /could not take it for now/);
      } else {
        assert.match(report.raw, /^Status: 5\.\d\.\d/m);
      }
    });

    test('POST /simulator/mo takes the documented {from, text, usercontext}; an unknown key gets 400 listing the accepted ones', async () => {
      const phone = '447700900141';
      await sendMail(relay.relay.smtpPort, {
        from: 'carol@example.com',
        to: [`${phone}@sms.example.com`],
        subject: 'Valve 9',
        body: 'Valve 9 open',
        headers: { From: 'carol@example.com', 'Message-ID': `<${provider}-mo@example.com>` },
      });
      const sms = await waitFor('the SMS', () => simulator.records.find((record) => record.to === phone));
      const post = (body: object) =>
        fetch(`http://127.0.0.1:${relay.relay.httpPort}/simulator/mo`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const posted = await post({ from: phone, text: 'Closing it', usercontext: sms.tracking });
      assert.equal(posted.status, 202, await posted.clone().text());
      const mail = await waitFor('the reply mail', () => sink.received.find((entry) => entry.raw.includes('Closing it')));
      assert.equal((await simpleParser(mail.raw)).inReplyTo, `<${provider}-mo@example.com>`);

      const refused = await post({ from: phone, text: 'x', userContext: 'typo' });
      assert.equal(refused.status, 400);
      const error = (await refused.json()) as { error: string; acceptedKeys: string[] };
      assert.equal(error.error, 'invalid MO');
      assert.ok(
        error.acceptedKeys.includes('usercontext') && error.acceptedKeys.includes('from') && error.acceptedKeys.includes('text'),
        JSON.stringify(error),
      );
    });
  });
}

describe('Puzzel specifics through the relay', () => {
  let relay: TestRelay;
  let sink: SmtpSink;
  let simulator: PuzzelSimulator;
  const paths = webhookPaths('puzzel');

  before(async () => {
    sink = await new SmtpSink().start();
    relay = await startTestRelay({
      gateway: { provider: 'puzzel-simulator', responseTimeout: '1s' },
      sms: { domains: ['sms.example.com'], defaultRegion: 'GB' },
      mail: { url: sink.url, retryMinDelay: '100ms', retryMaxDelay: '300ms' },
      delivery: { retryMinDelay: '200ms', retryMaxDelay: '500ms' },
      inbound: { defaultMailbox: 'ops@example.com' },
    });
    simulator = relay.relay.simulator as PuzzelSimulator;
  });
  after(async () => {
    await relay.stop();
    await sink.stop();
    removeDir(relay.dir);
  });

  const post = (path: string, contentType: string, body: string) =>
    fetch(`http://127.0.0.1:${relay.relay.httpPort}${path}`, { method: 'POST', headers: { 'content-type': contentType }, body });

  test('an answer lost in flight: the resend gets statusCode 25 and counts as sent, the phone gets one SMS and no possible duplicate is left', async () => {
    // No DR meanwhile: one would record the SMS sent before its resend (the next describe).
    const hooks = simulator.webhooks;
    simulator.setWebhooks({ moUrl: hooks.moUrl });
    simulator.setBehaviour({ mode: 'hang', times: 1 });
    const { data } = await sendMail(relay.relay.smtpPort, { to: ['447700900150@sms.example.com'], body: 'only once' });
    const id = queuedId(data);
    await waitFor('sent', async () => (await relay.relay.store.smsOf(id))[0]?.status === 'sent', 10_000).finally(() => simulator.setWebhooks(hooks));
    const [state] = await relay.relay.store.smsOf(id);
    assert.equal(state?.attempts, 2);
    assert.equal(state?.possibleDuplicates, 0, 'Puzzel said the resend was not sent: the lost answer counted a duplicate that is no more');
    assert.equal(simulator.records.filter((record) => record.to === '447700900150').length, 1);
    const log = await history(relay.relay.store, id, Date.now());
    assert.match(log, /: sent, 2 attempts\n/, 'smsrelay log counts no possible duplicate');
    assert.match(log, /deferred: RESPONSE_TIMEOUT: /);
    assert.match(log, /sent: the gateway recognised a resend and gave no id; its delivery reports are matched by the SMS's reference/);
  });

  test('X-SMS-Send-At becomes a sendWindow; the relay does not hold the SMS itself', async () => {
    const at = new Date(Date.now() + 3_600_000);
    at.setUTCMilliseconds(0);
    await sendMail(relay.relay.smtpPort, { to: ['447700900151@sms.example.com'], headers: { 'X-SMS-Send-At': at.toISOString() }, body: 'later' });
    const record = await waitFor('the SMS', () => simulator.records.find((entry) => entry.to === '447700900151'));
    assert.equal(record.sendAt, at.getTime());
  });

  test('a sender id Puzzel cannot show is refused at the SMTP stage with the reason', async () => {
    const { data } = await sendMail(relay.relay.smtpPort, { to: ['447700900152@sms.example.com'], headers: { 'X-SMS-From': 'Ab_cd' }, body: 'x' });
    assert.equal(data?.code, 554);
    assert.match(data?.text ?? '', /^5\.6\.0 Invalid sender id: .*Puzzel/);
  });

  test('several MOs in one JSON request, and an XML one: each mailed once', async () => {
    const mo = (id: string, from: string, content: string) => ({
      messageid: id,
      serviceid: 1000,
      sno: '1960',
      originator: from,
      content,
      type: 1,
      timestamp: '20261123 10:00:00',
      sessionid: '',
    });
    const json = await post(
      paths.mo,
      'application/json',
      JSON.stringify({ mo: [mo('pz-mo-1', '+447700900153', 'first'), mo('pz-mo-2', '+447700900154', 'second')] }),
    );
    assert.equal(json.status, 200);
    const xml = await post(
      paths.mo,
      'application/xml',
      '<mo><message><messageid>pz-mo-3</messageid><serviceid>1000</serviceid><sno>1960</sno><originator>+447700900155</originator><content>third &amp; last</content><type>1</type><timestamp>20261123 10:00:01</timestamp><sessionid/></message></mo>',
    );
    assert.equal(xml.status, 200);
    await waitFor('three mails', () => sink.received.filter((mail) => /first|second|third &|third &amp;/.test(mail.raw)).length === 3);
    const again = await post(paths.mo, 'application/json', JSON.stringify({ mo: [mo('pz-mo-1', '+447700900153', 'first')] }));
    assert.deepEqual(await again.json(), { status: 'duplicate' });
  });

  test('an originator written with the international prefix 00 (JSON and GET) is a number in E.164: its mail can be answered; a short code stays one', async () => {
    const mo = (id: string, from: string, content: string) => ({
      messageid: id,
      serviceid: '1000',
      sno: '1960',
      originator: from,
      content,
      type: '1',
      sessionid: '',
    });
    const json = await post(paths.mo, 'application/json', JSON.stringify({ mo: [mo('pz-00-1', '004791234201', 'prefix by JSON')] }));
    assert.equal(json.status, 200);
    const get = await fetch(
      `http://127.0.0.1:${relay.relay.httpPort}${paths.mo}?${new URLSearchParams(mo('pz-00-2', '004791234212', 'prefix by GET')).toString()}`,
    );
    assert.equal(get.status, 200);
    const short = await post(paths.mo, 'application/json', JSON.stringify({ mo: [mo('pz-00-3', '1960', 'from a short code')] }));
    assert.equal(short.status, 200);
    for (const [content, from] of [
      ['prefix by JSON', '4791234201@sms.example.com'],
      ['prefix by GET', '4791234212@sms.example.com'],
      ['from a short code', 'no-reply@sms.example.com'],
    ] as const) {
      const mail = await waitFor(content, () => sink.received.find((entry) => entry.raw.includes(content)));
      const parsed = await simpleParser(mail.raw);
      assert.equal(parsed.from?.value[0]?.address, from, content);
      assert.equal(/cannot receive SMS/.test(parsed.text ?? ''), from.startsWith('no-reply'), content);
    }
  });

  test('a batch with one unreadable MO: the readable one is mailed, the request quarantined for the other, and a replay mails nothing twice', async () => {
    const body = JSON.stringify({
      mo: [
        {
          messageid: 'pz-mixed-1',
          serviceid: 1000,
          sno: '1960',
          originator: '+447700900159',
          content: 'valid in a bad batch',
          timestamp: '20261123 10:00:00',
          sessionid: '',
        },
        { messageid: 'pz-mixed-2', serviceid: 1000, sno: '1960', originator: '', content: 'broken', timestamp: '20261123 10:00:01', sessionid: '' },
      ],
    });
    const unreadable = 'mo[1]: originator is missing or not a sender (a number, a short code or a name of up to 11 characters)';
    const before = (await relay.relay.store.listQuarantine(100)).length;
    const answer = await post(paths.mo, 'application/json', body);
    assert.equal(answer.status, 200);
    const outcome = (await answer.json()) as { status: string; messages: Array<{ status: string }>; quarantined: string[] };
    assert.deepEqual([outcome.status, outcome.messages.map((message) => message.status), outcome.quarantined], ['accepted', ['accepted'], [unreadable]]);
    await waitFor('the valid MO mailed', () => sink.received.some((mail) => mail.raw.includes('valid in a bad batch')));
    const kept = (await relay.relay.store.listQuarantine(100)).slice(before);
    assert.equal(kept.length, 1);
    assert.equal(kept[0]?.reason, `${unreadable} (the request's other items were taken)`);
    assert.equal((await relay.relay.store.quarantined(kept[0]?.id ?? 0))?.body.toString(), body, 'the whole request, to read or replay');

    const replay = await post(paths.mo, 'application/json', body);
    const again = (await replay.json()) as { messages: Array<{ status: string }> };
    assert.deepEqual(
      again.messages.map((message) => message.status),
      ['duplicate'],
      'the readable MO is recognised by its id: no second mail',
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(sink.received.filter((mail) => mail.raw.includes('valid in a bad batch')).length, 1);
  });

  test("GET callbacks (Puzzel's other method): an MO and a DR as query parameters, named as in the POST forms", async () => {
    const get = (path: string, fields: Record<string, string>) =>
      fetch(`http://127.0.0.1:${relay.relay.httpPort}${path}?${new URLSearchParams(fields).toString()}`);
    const mo = { messageid: 'pz-get-1', serviceid: '1000', sno: '1960', originator: '+447700900159', content: 'by GET', type: '1', sessionid: '' };
    const received = await get(paths.mo, mo);
    assert.equal(received.status, 200);
    assert.equal(((await received.json()) as { status?: string }).status, 'accepted');
    await waitFor('the mail', () => sink.received.some((mail) => /by GET/.test(mail.raw)));
    assert.deepEqual(await (await get(paths.mo, mo)).json(), { status: 'duplicate' });

    const hooks = simulator.webhooks;
    simulator.setWebhooks({ moUrl: hooks.moUrl });
    try {
      const { data } = await sendMail(relay.relay.smtpPort, { to: ['447700900160@sms.example.com'], body: 'dr by get' });
      const id = queuedId(data);
      const record = await waitFor('the SMS', () => simulator.records.find((entry) => entry.to === '447700900160'));
      await waitFor('sent', async () => (await relay.relay.store.smsOf(id))[0]?.status === 'sent');
      const report = await get(paths.dr, {
        messageid: record.id,
        customermessagereference: `${id}:447700900160`,
        serviceid: '1000',
        type: '6',
        statuscode: '0',
      });
      assert.deepEqual(await report.json(), { status: 'advanced' });
      assert.equal((await relay.relay.store.smsOf(id))[0]?.delivery, 'delivered');
    } finally {
      simulator.setWebhooks(hooks);
    }
  });

  test('a DR batch of several reports, in JSON and in XML, applies each', async () => {
    // The simulator's own reports stay off, so the batch posted here is the only news.
    const hooks = simulator.webhooks;
    simulator.setWebhooks({ moUrl: hooks.moUrl });
    try {
      const sent: Array<{ id: string; digits: string; providerId: string }> = [];
      for (const digits of ['447700900156', '447700900157', '447700900158']) {
        const { data } = await sendMail(relay.relay.smtpPort, { to: [`${digits}@sms.example.com`], body: 'dr batch' });
        const id = queuedId(data);
        const record = await waitFor('the SMS', () => simulator.records.find((entry) => entry.to === digits));
        await waitFor('sent', async () => (await relay.relay.store.smsOf(id))[0]?.status === 'sent');
        sent.push({ id, digits, providerId: record.id });
      }
      const report = ({ id, digits, providerId }: (typeof sent)[number], statuscode: number) => ({
        messageid: providerId,
        customermessagereference: `${id}:${digits}`,
        serviceid: 1000,
        type: 6,
        statuscode,
      });
      const [first, second, third] = sent as [(typeof sent)[number], (typeof sent)[number], (typeof sent)[number]];
      const json = await post(paths.dr, 'application/json', JSON.stringify({ dr: [report(first, 0), report(second, 351)] }));
      assert.deepEqual(await json.json(), { status: 'accepted', reports: ['advanced', 'advanced'] });
      const xml = await post(
        paths.dr,
        'application/xml',
        `<dr><message><messageid>${third.providerId}</messageid><customermessagereference>${third.id}:${third.digits}</customermessagereference><serviceid>1000</serviceid><type>6</type><statuscode>0</statuscode></message></dr>`,
      );
      assert.deepEqual(await xml.json(), { status: 'advanced' });
      const states = await Promise.all(sent.map(async ({ id }) => (await relay.relay.store.smsOf(id))[0]?.delivery));
      assert.deepEqual(states, ['delivered', 'failed', 'delivered']);
    } finally {
      simulator.setWebhooks(hooks);
    }
  });

  test("DR codes read as Puzzel's table says: 390 a success, 364 temporary (4.x.x), 362 expired, an unknown code quarantined; the history has Puzzel's words", async () => {
    const hooks = simulator.webhooks;
    simulator.setWebhooks({ moUrl: hooks.moUrl });
    try {
      const sent: Array<{ id: string; digits: string; providerId: string }> = [];
      for (const digits of ['447700900190', '447700900191', '447700900192', '447700900193']) {
        const { data } = await sendMail(relay.relay.smtpPort, { to: [`${digits}@sms.example.com`], body: `dr codes ${digits}` });
        const id = queuedId(data);
        const record = await waitFor('the SMS', () => simulator.records.find((entry) => entry.to === digits));
        await waitFor('sent', async () => (await relay.relay.store.smsOf(id))[0]?.status === 'sent');
        sent.push({ id, digits, providerId: record.id });
      }
      const [billed, unreachable, timedOut, unknown] = sent as [(typeof sent)[number], (typeof sent)[number], (typeof sent)[number], (typeof sent)[number]];
      const report = ({ id, digits, providerId }: (typeof sent)[number], statuscode: number, statusdescription: string) => ({
        messageid: providerId,
        customermessagereference: `${id}:${digits}`,
        type: 6,
        statuscode,
        statusdescription,
        extstatusdescription: 'from the network',
      });
      const answer = await post(
        paths.dr,
        'application/json',
        JSON.stringify({
          dr: [
            report(billed, 390, 'Sent, not billed'),
            report(unreachable, 364, 'Subscription temporary not reachable'),
            report(timedOut, 362, 'Timed out in SMSC'),
            report(unknown, 999, 'Something new'),
          ],
        }),
      );
      const body = (await answer.json()) as { reports: string[]; quarantined: string[] };
      assert.deepEqual(body.reports, ['advanced', 'advanced', 'advanced']);
      assert.deepEqual(body.quarantined, ['dr[3]: statuscode 999 is not a status code Puzzel documents']);
      const states = await Promise.all(sent.map(async ({ id }) => (await relay.relay.store.smsOf(id))[0]?.delivery));
      assert.deepEqual(states, ['delivered', 'failed', 'expired', undefined]);
      assert.match(
        await history(relay.relay.store, unreachable.id, Date.now()),
        / delivery report: failed \(statuscode=364, statusdescription=Subscription temporary not reachable, extstatusdescription=from the network\)/,
      );
      const bounce = await waitFor('the failure report', () =>
        sink.received.find((mail) => mail.raw.includes('Diagnostic-Code') && mail.raw.includes(unreachable.id)),
      );
      assert.match(bounce.raw, /^Status: 4\.2\.0/m);
      assert.match(bounce.raw, /could not take it for now/);
      await waitFor('the expiry report', () => sink.received.find((mail) => mail.raw.includes('Diagnostic-Code') && mail.raw.includes(timedOut.id)));
      assert.equal(sink.received.filter((mail) => mail.raw.includes(billed.id) && mail.raw.includes('Diagnostic-Code')).length, 0, '390 bounces nothing');
    } finally {
      simulator.setWebhooks(hooks);
    }
  });
});

describe('InteractSMS specifics through the relay', () => {
  let relay: TestRelay;
  let sink: SmtpSink;
  const paths = webhookPaths('interactsms');

  before(async () => {
    sink = await new SmtpSink().start();
    relay = await startTestRelay({
      gateway: { provider: 'interactsms-simulator', webhookSecret: 'portal-secret-123' },
      sms: { domains: ['sms.example.com'], defaultRegion: 'GB' },
      mail: { url: sink.url },
      inbound: { defaultMailbox: 'ops@example.com' },
    });
  });
  after(async () => {
    await relay.stop();
    await sink.stop();
    removeDir(relay.dir);
  });

  test('line breaks travel as ¬ and arrive as line breaks', async () => {
    const simulator = relay.relay.simulator;
    assert.ok(simulator);
    await sendMail(relay.relay.smtpPort, { to: ['447700900160@sms.example.com'], body: 'Line one\r\nLine two' });
    const record = await waitFor('the SMS', () => simulator.records.find((entry) => entry.to === '447700900160'));
    assert.equal(record.text, 'Line one\nLine two');
  });

  test("a literal ¬ (the wire's line break) is sent as its declared stand-in, not as a line break, and the 250 says so", async () => {
    const simulator = relay.relay.simulator;
    assert.ok(simulator);
    const { data } = await sendMail(relay.relay.smtpPort, { to: ['447700900161@sms.example.com'], body: 'Valve ¬open' });
    assert.equal(data?.code, 250, data?.text);
    assert.match(data?.text ?? '', /\("U\+00AC" sent as "~": the SMS provider cannot carry it\)$/);
    const note = /\(([^()]*)\)$/.exec(data?.text ?? '')?.[1] ?? '';
    const readme = readFileSync(fileURLToPath(new URL('../../src/providers/interactsms/README.md', import.meta.url)), 'utf8');
    assert.ok(readme.replace(/\s+/g, ' ').includes(`(\`${note}\`)`), `the provider's README shows the 250's note as it is: (\`${note}\`)`);
    const record = await waitFor('the SMS', () => simulator.records.find((entry) => entry.to === '447700900161'));
    assert.equal(record.text, 'Valve ~open');
  });

  test("a failed receipt is told in InteractSMS's words (SMS-Success=False), not as a status code it never sent", async () => {
    const control = await fetch(`http://127.0.0.1:${relay.relay.httpPort}/simulator/control`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ undeliverableNumbers: ['447700900162'] }),
    });
    assert.equal(control.status, 200, await control.clone().text());
    const id = queuedId((await sendMail(relay.relay.smtpPort, { to: ['447700900162@sms.example.com'], body: 'never arrives' })).data);
    const bounce = await waitFor('the failure report', () => sink.received.find((mail) => mail.raw.includes('Diagnostic-Code') && mail.raw.includes(id)));
    const diagnostic = /^Diagnostic-Code: (.*(?:\r?\n[ \t].*)*)/m.exec(bounce.raw)?.[1]?.replace(/\r?\n[ \t]+/g, ' ');
    assert.equal(diagnostic, 'X-SMS; SMS-Success=False (InteractSMS reports it not delivered to the phone (not every part of it arrived))');
    assert.match(
      await history(relay.relay.store, id, Date.now()),
      / delivery report: failed \(SMS-Success=False, SMS-TotalToSend=1, SMS-TotalSent=0, SMS-TotalFailed=1\)/,
    );
  });

  test('a forged SMS-Verify gets 403 and no mail; a signed one is taken', async () => {
    const form = new URLSearchParams({
      'SMS-Type': 'Text',
      'SMS-Content': 'forged',
      'SMS-Keyphrase': 'forged',
      'SMS-From': '353861234567',
      'SMS-To': '353870000000',
      'SMS-NotifyId': '',
      'SMS-TimeStamp': '2026-11-23 10:00:00',
      'SMS-Verify': createHash('md5').update('353861234567forgedwrong-secret').digest('hex'),
    });
    const forged = await fetch(`http://127.0.0.1:${relay.relay.httpPort}${paths.mo}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
    });
    assert.equal(forged.status, 403);
    form.set('SMS-Verify', createHash('md5').update('353861234567forgedportal-secret-123').digest('hex'));
    const signed = await fetch(`http://127.0.0.1:${relay.relay.httpPort}${paths.mo}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
    });
    assert.equal(signed.status, 200);
    await waitFor('the signed one mailed', () => sink.received.some((mail) => mail.raw.includes('forged')));
    assert.equal(sink.received.filter((mail) => mail.raw.includes('forged')).length, 1);
  });

  test('SMS-Verify over the bytes a Latin-1 gateway sent is taken; Latin-1 under charset=utf-8 so signed is quarantined, not forged', async () => {
    // `Grüße £` in Latin-1: the gateway signs the bytes it sends, From + Content + secret.
    const content = Buffer.from('Gr\u00fc\u00dfe \u00a3', 'latin1');
    const verify = createHash('md5')
      .update(Buffer.concat([Buffer.from('447700900303'), content, Buffer.from('portal-secret-123')]))
      .digest('hex');
    const escaped = [...content].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join('');
    const body = (timestamp: string) =>
      `SMS-Type=Inbound&SMS-From=447700900303&SMS-To=447700900000&SMS-Content=${escaped}&SMS-TimeStamp=${timestamp}&SMS-Verify=${verify}`;
    const post = (contentType: string, timestamp: string) =>
      fetch(`http://127.0.0.1:${relay.relay.httpPort}${paths.mo}`, { method: 'POST', headers: { 'content-type': contentType }, body: body(timestamp) });
    const latin = await post('application/x-www-form-urlencoded', '2026-12-06+05:50:01');
    assert.equal(latin.status, 200, await latin.clone().text());
    const mailed = await waitFor('the Latin-1 SMS mailed', async () => {
      for (const mail of sink.received) {
        const parsed = await simpleParser(mail.raw);
        if (parsed.text?.includes('Grüße £')) return parsed;
      }
      return undefined;
    });
    assert.ok(mailed);
    const mislabelled = await post('application/x-www-form-urlencoded; charset=utf-8', '2026-12-06+05:50:02');
    assert.equal(mislabelled.status, 200);
    assert.equal(((await mislabelled.json()) as { status: string }).status, 'quarantined');
  });

  test("a captured SMS-Verify does not sign other fields hidden in UTF-16LE beside the captured ones in ASCII; the text's own signature does", async () => {
    // The one signed request an attacker holds: From 447700900304, Content "ok".
    const captured = createHash('md5').update('447700900304okportal-secret-123').digest('hex');
    const utf16 = (text: string) => [...Buffer.from(text, 'utf16le')].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('');
    const body = (from: string, content: string, verify: string, extra: string) =>
      [
        ...Object.entries({
          'SMS-Type': 'Inbound',
          'SMS-From': from,
          'SMS-To': '447700900000',
          'SMS-Content': content,
          'SMS-TimeStamp': '2026-12-06 05:51:01',
          'SMS-Verify': verify,
        }).map(([name, value]) => `${utf16(name)}=${utf16(value)}`),
        ...(extra ? [extra] : []),
      ].join('&');
    const post = (text: string) =>
      fetch(`http://127.0.0.1:${relay.relay.httpPort}${paths.mo}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-16le' },
        body: text,
      });
    const forged = await post(body('447700900999', 'FORGED wire the money', captured, 'sms-from=447700900304&sms-content=ok'));
    assert.equal(forged.status, 403, await forged.clone().text());
    const signed = createHash('md5').update('447700900305Grüße in UTF-16portal-secret-123').digest('hex');
    const genuine = await post(body('447700900305', 'Grüße in UTF-16', signed, ''));
    assert.equal(genuine.status, 200, await genuine.clone().text());
    await waitFor('the UTF-16LE SMS mailed', async () => {
      for (const mail of sink.received) if ((await simpleParser(mail.raw)).text?.includes('Grüße in UTF-16')) return true;
      return undefined;
    });
    for (const mail of sink.received) assert.ok(!(await simpleParser(mail.raw)).text?.includes('FORGED'), 'the forged SMS was mailed');
  });

  test('a signed UTF-8 request posted again under another single-byte charset (koi8-r, windows-1251) is refused 403, not mailed as other text', async () => {
    const text = 'Привет, ок';
    const verify = createHash('md5').update(`447700900306${text}portal-secret-123`).digest('hex');
    const body = new URLSearchParams({
      'SMS-Type': 'Inbound',
      'SMS-From': '447700900306',
      'SMS-To': '447700900000',
      'SMS-Content': text,
      'SMS-TimeStamp': '2026-12-06 05:52:01',
      'SMS-Verify': verify,
    }).toString();
    for (const charset of ['koi8-r', 'windows-1251']) {
      const replayed = await fetch(`http://127.0.0.1:${relay.relay.httpPort}${paths.mo}`, {
        method: 'POST',
        headers: { 'content-type': `application/x-www-form-urlencoded; charset=${charset}` },
        body,
      });
      assert.equal(replayed.status, 403, `${charset}: ${await replayed.clone().text()}`);
    }
  });
});

describe("delivery reports that name their SMS by the relay's own reference", () => {
  const started: Array<{ relay: TestRelay; gateway: ReplayServer }> = [];
  after(async () => {
    for (const { relay, gateway } of started) {
      await relay.stop();
      await gateway.close();
      removeDir(relay.dir);
    }
  });
  const relayOn = async (gateway: ReplayServer, settings: object) => {
    await gateway.start();
    const relay = await startTestRelay({
      gateway: { url: gateway.url, username: 'acme', password: 'secretpw', responseTimeout: '1s', ...settings },
      sms: { domains: ['sms.example.com'], defaultRegion: 'GB' },
      delivery: { retryMinDelay: '3s', retryMaxDelay: '3s' },
    });
    started.push({ relay, gateway });
    return relay;
  };
  const postReport = (relay: TestRelay, provider: 'interactsms' | 'puzzel', contentType: string, body: string) =>
    fetch(`http://127.0.0.1:${relay.relay.httpPort}${webhookPaths(provider).dr}`, { method: 'POST', headers: { 'content-type': contentType }, body });

  test('InteractSMS: a receipt for an SMS waiting to be sent again after no answer records it sent; it is not sent twice', async () => {
    const gateway = new ReplayServer({ contentType: 'text/plain', answer: { status: 200, body: '0\r\nRequest deferred successfully' } });
    gateway.respond = (request) => (gateway.requests.length === 1 && request.method === 'POST' ? 'destroy' : gateway.answer);
    const relay = await relayOn(gateway, { provider: 'interactsms', apiId: '1234' });
    const id = queuedId((await sendMail(relay.relay.smtpPort, { to: ['447700900951@sms.example.com'], body: 'once only' })).data);
    await waitFor('deferred after no answer', async () => (await relay.relay.store.smsOf(id))[0]?.possibleDuplicates === 1);
    const notifyId = new URLSearchParams(gateway.requests[0]?.body).get('notify_id') ?? '';
    const receipt = new URLSearchParams({
      'SMS-Type': 'Notification',
      'SMS-NotifyId': notifyId,
      'SMS-Success': 'True',
      'SMS-To': '447700900951',
      'SMS-TotalToSend': '1',
      'SMS-TotalSent': '1',
      'SMS-TotalFailed': '0',
    });
    const answer = await postReport(relay, 'interactsms', 'application/x-www-form-urlencoded', receipt.toString());
    assert.deepEqual(await answer.json(), { status: 'advanced' });
    const [sms] = await relay.relay.store.smsOf(id);
    assert.deepEqual([sms?.status, sms?.delivery], ['sent', 'delivered']);
    await sleep(3_500);
    assert.equal(gateway.requests.length, 1, 'the SMS is not sent again');
    const log = await history(relay.relay.store, id, Date.now());
    assert.match(log, /sent: id \w+; the gateway's delivery report for it came while it waited to be sent again/);
    // Its one request reached the gateway and none other was made: the possible duplicate its lost answer counted is taken back.
    assert.equal((await relay.relay.store.smsOf(id))[0]?.possibleDuplicates, 0);
    assert.match(log, /: sent, delivery report: delivered, 1 attempt, gateway id /, 'smsrelay log counts no possible duplicate');
  });

  test('Puzzel: a DR by customermessagereference for an SMS waiting to be sent again after no answer records it sent, its possible duplicate taken back', async () => {
    const gateway = new ReplayServer({ contentType: 'application/json', answer: { status: 200, body: '{}' } });
    // The one request is held past responseTimeout (1 s): no answer, the SMS waits 3 s to be sent again.
    gateway.respond = () => new Promise((resolve) => setTimeout(() => resolve(gateway.answer), 2_000));
    const relay = await relayOn(gateway, { provider: 'puzzel', serviceId: 4242 });
    const id = queuedId((await sendMail(relay.relay.smtpPort, { to: ['+4791234561@sms.example.com'], body: 'held' })).data);
    await waitFor('deferred after no answer', async () => (await relay.relay.store.smsOf(id))[0]?.possibleDuplicates === 1);
    const sent = JSON.parse(gateway.requests[0]?.body ?? '{}') as { message: Array<{ clientReference: string }> };
    const dr = { messageid: 'pzw1', customermessagereference: sent.message[0]?.clientReference, serviceid: 4242, type: 6, statuscode: 0 };
    const answer = await postReport(relay, 'puzzel', 'application/json', JSON.stringify({ dr: [dr] }));
    assert.deepEqual(await answer.json(), { status: 'advanced' });
    const [sms] = await relay.relay.store.smsOf(id);
    assert.deepEqual([sms?.status, sms?.delivery, sms?.attempts, sms?.possibleDuplicates], ['sent', 'delivered', 1, 0]);
    assert.equal(gateway.requests.length, 1, 'the SMS is not sent again');
    assert.match(await history(relay.relay.store, id, Date.now()), /: sent, delivery report: delivered, 1 attempt, gateway id pzw1/);
  });

  test("InteractSMS: an SMS recorded sent by its receipt keeps its notify id for replies: the phone's answer naming it goes to its sender", async () => {
    const gateway = new ReplayServer({ contentType: 'text/plain', answer: { status: 200, body: '0\r\nRequest deferred successfully' } });
    gateway.respond = (request) => (gateway.requests.length === 1 && request.method === 'POST' ? 'destroy' : gateway.answer);
    const relay = await relayOn(gateway, { provider: 'interactsms', apiId: '1234' });
    const id = queuedId((await sendMail(relay.relay.smtpPort, { to: ['447700900961@sms.example.com'], body: 'from alice' })).data);
    await waitFor('deferred after no answer', async () => (await relay.relay.store.smsOf(id))[0]?.possibleDuplicates === 1);
    const notifyId = new URLSearchParams(gateway.requests[0]?.body).get('notify_id') ?? '';
    const receipt = new URLSearchParams({ 'SMS-Type': 'Notification', 'SMS-NotifyId': notifyId, 'SMS-Success': 'True', 'SMS-To': '447700900961' });
    assert.deepEqual(await (await postReport(relay, 'interactsms', 'application/x-www-form-urlencoded', receipt.toString())).json(), { status: 'advanced' });
    // Bob writes to the same phone after Alice: his is its latest conversation, so only the notify id can name Alice's.
    const bobs = queuedId((await sendMail(relay.relay.smtpPort, { from: 'bob@example.com', to: ['447700900961@sms.example.com'], body: 'from bob' })).data);
    await waitFor('sent', async () => (await relay.relay.store.smsOf(bobs))[0]?.status === 'sent');
    const answer = new URLSearchParams({
      'SMS-Type': 'Text',
      'SMS-From': '447700900961',
      'SMS-To': '447700900000',
      'SMS-Content': 'answer to alice',
      'SMS-NotifyId': notifyId,
      'SMS-TimeStamp': '2026-12-06 06:00:00',
    });
    const taken = await fetch(`http://127.0.0.1:${relay.relay.httpPort}${webhookPaths('interactsms').mo}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: answer.toString(),
    });
    assert.equal(taken.status, 200, await taken.clone().text());
    const reply = await waitFor('the reply mail', () => maildirMessages(relay.maildir).find((mail) => mail.includes('answer to alice')));
    assert.match(reply, /^To: .*alice@example\.com/m);
  });

  test('InteractSMS: a False receipt for several numbers with some sent: one bounce for them all, saying each may have got it', async () => {
    const gateway = new ReplayServer({ contentType: 'text/plain', answer: { status: 200, body: '0\r\nRequest deferred successfully' } });
    const relay = await relayOn(gateway, { provider: 'interactsms', apiId: '1234' });
    const numbers = ['447700900711', '447700900712', '447700900713'];
    const id = queuedId((await sendMail(relay.relay.smtpPort, { to: numbers.map((number) => `${number}@sms.example.com`), body: 'to three' })).data);
    await waitFor('sent', async () => (await relay.relay.store.smsOf(id)).every((sms) => sms.status === 'sent'));
    assert.equal(gateway.requests.length, 1, 'one request for the three');
    const receipt = new URLSearchParams({
      'SMS-Type': 'Notification',
      'SMS-NotifyId': new URLSearchParams(gateway.requests[0]?.body).get('notify_id') ?? '',
      'SMS-Success': 'False',
      'SMS-To': numbers.join(','),
      'SMS-TotalToSend': '3',
      'SMS-TotalSent': '2',
      'SMS-TotalFailed': '1',
    });
    const answer = await postReport(relay, 'interactsms', 'application/x-www-form-urlencoded', receipt.toString());
    assert.deepEqual(await answer.json(), { status: 'accepted', reports: ['advanced', 'advanced', 'advanced'] });
    const bounce = await waitFor('the bounce', () => maildirMessages(relay.maildir).find((mail) => mail.includes('Diagnostic-Code')));
    await sleep(500);
    assert.equal(
      maildirMessages(relay.maildir).filter((mail) => mail.includes('Diagnostic-Code')).length,
      1,
      'one bounce for the numbers that failed together',
    );
    for (const number of numbers) assert.match(bounce, new RegExp(`Final-Recipient: [^\\n]*${number}`));
    assert.match(bounce.replace(/\r?\n[ \t]+/g, ' '), /only some of the numbers it was sent to got it, not which: this one may have got it/);
  });

  for (const messageId of [null, 'resent-4711']) {
    test(`Puzzel: a DR matches its SMS by customermessagereference when the send answer was statusCode 25 with ${messageId === null ? 'no messageId' : 'a messageId of its own'}`, async () => {
      const gateway = new ReplayServer({
        contentType: 'application/json',
        answer: {
          status: 200,
          body: JSON.stringify({ messageStatus: [{ statusCode: 25, statusMessage: 'Duplicate message', messageId, sequenceIndex: 1 }] }),
        },
      });
      const relay = await relayOn(gateway, { provider: 'puzzel', serviceId: 4242 });
      const ids: string[] = [];
      for (const to of ['4791234701', '4791234702']) {
        const id = queuedId((await sendMail(relay.relay.smtpPort, { to: [`+${to}@sms.example.com`], body: 'no id' })).data);
        await waitFor('sent', async () => (await relay.relay.store.smsOf(id))[0]?.status === 'sent');
        ids.push(id);
      }
      const report = (id: string, digits: string, statuscode: number) => ({
        messageid: `orig${digits}`,
        customermessagereference: `${id}:${digits}`,
        statuscode,
        type: 6,
      });
      const answer = await postReport(
        relay,
        'puzzel',
        'application/json',
        JSON.stringify({ dr: [report(ids[0] ?? '', '4791234701', 351), report(ids[1] ?? '', '4791234702', 0)] }),
      );
      assert.deepEqual(await answer.json(), { status: 'accepted', reports: ['advanced', 'advanced'] });
      const states = await Promise.all(ids.map(async (id) => (await relay.relay.store.smsOf(id))[0]?.delivery));
      assert.deepEqual(states, ['failed', 'delivered']);
      // The line comes from Puzzel's outcome: its reports are matched without an id, as they just were.
      const log = await history(relay.relay.store, ids[1] ?? '', Date.now());
      assert.match(log, /sent: the gateway recognised a resend and gave no id; its delivery reports are matched by the SMS's reference/);
      assert.doesNotMatch(log, /cannot be matched/);
      await waitFor('the bounce', () => maildirMessages(relay.maildir).some((mail) => mail.includes(ids[0] ?? '') && mail.includes('Diagnostic-Code')));
    });
  }
});

describe('a sender the gateway writes nationally (a trunk 0) is read as a number of its country', () => {
  const started: Array<{ relay: TestRelay; gateway?: ReplayServer }> = [];
  after(async () => {
    for (const { relay, gateway } of started) {
      await relay.stop();
      await gateway?.close();
      removeDir(relay.dir);
    }
  });
  const start = async (yaml: object, gateway?: ReplayServer) => {
    const relay = await startTestRelay(yaml);
    started.push({ relay, ...(gateway ? { gateway } : {}) });
    return relay;
  };
  const post = (relay: TestRelay, provider: ProviderName, form: Record<string, string>) =>
    fetch(`http://127.0.0.1:${relay.relay.httpPort}${webhookPaths(provider).mo}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });
  const mailWith = (relay: TestRelay, text: string) =>
    waitFor(`the mail of "${text}"`, () => maildirMessages(relay.maildir).find((mail) => mail.includes(text)));

  test("InteractSMS (a UK gateway), no sms.defaultRegion: an answer from 07700900981 naming Alice's SMS to +44 7700 900981 reaches Alice, answerable", async () => {
    const gateway = new ReplayServer({ contentType: 'text/plain', answer: { status: 200, body: '0\r\nRequest deferred successfully' } });
    await gateway.start();
    const relay = await start(
      { gateway: { provider: 'interactsms', url: gateway.url, username: 'acme', password: 'secretpw', apiId: '1234' }, sms: { domains: ['sms.example.com'] } },
      gateway,
    );
    const id = queuedId((await sendMail(relay.relay.smtpPort, { from: 'alice@example.com', to: ['447700900981@sms.example.com'], body: 'Fire door' })).data);
    await waitFor('sent', async () => (await relay.relay.store.smsOf(id))[0]?.status === 'sent');
    const notifyId = new URLSearchParams(gateway.requests[0]?.body).get('notify_id') ?? '';
    const answer = { 'SMS-Type': 'Text', 'SMS-To': '447700900000', 'SMS-NotifyId': notifyId, 'SMS-TimeStamp': '2026-12-06 06:00:00' };
    const taken = await post(relay, 'interactsms', { ...answer, 'SMS-From': '07700900981', 'SMS-Content': 'national form reply' });
    assert.equal(((await taken.json()) as { status: string }).status, 'accepted');
    const mail = await mailWith(relay, 'national form reply');
    assert.match(mail, /^To: .*alice@example\.com/m);
    assert.match(mail, /^From: "\+44 7700 900981" <447700900981@sms\.example\.com>/m);
  });

  for (const [region, recipient, national] of [
    [undefined, '353861234567', '0861234567'],
    ['IE', '447700900984', '07700900984'],
    ['GB', '353861234568', '0861234568'],
  ] as const) {
    test(`InteractSMS (Irish), sms.defaultRegion ${region ?? 'unset'}: an answer from ${national} naming the SMS to +${recipient} is placed by that SMS's number, whichever its country`, async () => {
      const gateway = new ReplayServer({ contentType: 'text/plain', answer: { status: 200, body: '0\r\nRequest deferred successfully' } });
      await gateway.start();
      const relay = await start(
        {
          gateway: { provider: 'interactsms', url: gateway.url, username: 'acme', password: 'secretpw', apiId: '1234' },
          sms: { domains: ['sms.example.com'], ...(region ? { defaultRegion: region } : {}) },
        },
        gateway,
      );
      const id = queuedId((await sendMail(relay.relay.smtpPort, { from: 'alice@example.com', to: [`+${recipient}@sms.example.com`], body: 'Fire door' })).data);
      await waitFor('sent', async () => (await relay.relay.store.smsOf(id))[0]?.status === 'sent');
      const notifyId = new URLSearchParams(gateway.requests[0]?.body).get('notify_id') ?? '';
      const answer = { 'SMS-Type': 'Text', 'SMS-To': '353870000000', 'SMS-NotifyId': notifyId, 'SMS-TimeStamp': '2026-12-06 06:00:00' };
      const taken = await post(relay, 'interactsms', { ...answer, 'SMS-From': national, 'SMS-Content': `answer from ${national}` });
      assert.equal(((await taken.json()) as { status: string }).status, 'accepted');
      const mail = await mailWith(relay, `answer from ${national}`);
      assert.match(mail, /^To: .*alice@example\.com/m);
      assert.match(mail, new RegExp(`^From: "[^"]*" <${recipient}@sms\\.example\\.com>`, 'm'));
    });
  }

  test("InteractSMS without tracking and no sms.defaultRegion: a national sender is read as Irish (its platform's country)", async () => {
    const gateway = new ReplayServer({ contentType: 'text/plain', answer: { status: 200, body: '0\r\nRequest deferred successfully' } });
    await gateway.start();
    const relay = await start(
      {
        gateway: { provider: 'interactsms', url: gateway.url, username: 'acme', password: 'secretpw', apiId: '1234' },
        sms: { domains: ['sms.example.com'] },
        inbound: { defaultMailbox: 'ops@example.com' },
      },
      gateway,
    );
    const answer = { 'SMS-Type': 'Text', 'SMS-To': '353870000000', 'SMS-TimeStamp': '2026-12-06 06:00:00' };
    assert.equal(
      ((await (await post(relay, 'interactsms', { ...answer, 'SMS-From': '0861234569', 'SMS-Content': 'untracked Irish' })).json()) as { status: string })
        .status,
      'accepted',
    );
    assert.match(await mailWith(relay, 'untracked Irish'), /^From: "\+353 86 123 4569" <353861234569@sms\.example\.com>/m);
  });

  test('InteractSMS, sms.defaultRegion FR: an answer from 0612345678 naming an SMS to a French and a Dutch mobile is neither (nor what the region reads)', async () => {
    const gateway = new ReplayServer({ contentType: 'text/plain', answer: { status: 200, body: '0\r\nRequest deferred successfully' } });
    await gateway.start();
    const relay = await start(
      {
        gateway: { provider: 'interactsms', url: gateway.url, username: 'acme', password: 'secretpw', apiId: '1234' },
        sms: { domains: ['sms.example.com'], defaultRegion: 'FR' },
        inbound: { defaultMailbox: 'ops@example.com' },
      },
      gateway,
    );
    const id = queuedId(
      (
        await sendMail(relay.relay.smtpPort, {
          from: 'alice@example.com',
          to: ['33612345678@sms.example.com', '31612345678@sms.example.com'],
          body: 'Fire door',
        })
      ).data,
    );
    await waitFor('sent', async () => (await relay.relay.store.smsOf(id)).every((sms) => sms.status === 'sent'));
    const notifyId = new URLSearchParams(gateway.requests[0]?.body).get('notify_id') ?? '';
    const answer = { 'SMS-Type': 'Text', 'SMS-To': '353870000000', 'SMS-NotifyId': notifyId, 'SMS-TimeStamp': '2026-12-06 06:00:00' };
    const taken = await post(relay, 'interactsms', { ...answer, 'SMS-From': '0612345678', 'SMS-Content': 'which phone am I' });
    assert.equal(((await taken.json()) as { status: string }).status, 'accepted');
    // Either number would answer one phone's reply from the other's: it reaches the default mailbox, unanswerable.
    const mail = await mailWith(relay, 'which phone am I');
    assert.match(mail, /^To: .*ops@example\.com/m);
    assert.match(mail, /^From: .*<no-reply@sms\.example\.com>/m);
    assert.match(mail, /^0612345678 is a number written nationally, of a =$/m);
  });

  test('IntelliSoftware with sms.defaultRegion GB: an answer from 07700900982 with its context reaches its conversation', async () => {
    const relay = await start({ gateway: { provider: 'intellisoftware-simulator' }, sms: { domains: ['sms.example.com'], defaultRegion: 'GB' } });
    const simulator = relay.relay.simulator;
    assert.ok(simulator);
    await sendMail(relay.relay.smtpPort, { from: 'bob@example.com', to: ['447700900982@sms.example.com'], body: 'Gate 7' });
    const sms = await waitFor('the SMS', () => simulator.records.find((record) => record.to === '447700900982'));
    const form = { from: '07700900982', text: 'answer in national form', msgid: '10000000000000000982', usercontext: sms.tracking ?? '' };
    assert.equal(((await (await post(relay, 'intellisoftware', form)).json()) as { status: string }).status, 'accepted');
    assert.match(await mailWith(relay, 'answer in national form'), /^To: .*bob@example\.com/m);
  });

  test('no region to read it in: mailed to the default mailbox as a national number, never called a short code', async () => {
    const relay = await start({
      gateway: { provider: 'intellisoftware-simulator' },
      sms: { domains: ['sms.example.com'] },
      inbound: { defaultMailbox: 'ops@example.com' },
    });
    const form = { from: '07700900983', text: 'who is this', msgid: '10000000000000000983' };
    assert.equal(((await (await post(relay, 'intellisoftware', form)).json()) as { status: string }).status, 'accepted');
    const mail = (await simpleParser(await mailWith(relay, 'who is this'))).text ?? '';
    assert.match(
      mail,
      /07700900983 is a number written nationally, of a country the relay cannot tell, so the relay cannot text it: a reply to this mail is not delivered\./,
    );
    assert.doesNotMatch(mail, /short code/);
    // A mail to it is refused as what it is, not as a short code.
    const answer = await sendMail(relay.relay.smtpPort, { from: 'ops@example.com', to: ['07700900983@sms.example.com'], body: 'who are you' });
    assert.match(answer.rcpt[0]?.text ?? '', /"07700900983" is a number written nationally, of a country the relay cannot tell/);
  });
});

describe('every simulator sends with nothing configured but its name', () => {
  for (const provider of ['intellisoftware', 'puzzel', 'interactsms', 'twilio', 'vonage', 'smpp'] as const) {
    test(`${provider}-simulator takes the SMS (no bounce) out of the box`, async () => {
      const relay = await startTestRelay({ gateway: { provider: `${provider}-simulator` } });
      try {
        const id = queuedId((await sendMail(relay.relay.smtpPort, { to: ['447700900150@sms.localhost'], body: 'out of the box' })).data);
        const simulator = relay.relay.simulator;
        assert.ok(simulator);
        await waitFor('the SMS at the simulator', () => simulator.records.find((record) => record.text === 'out of the box'));
        await waitFor('sent', async () => (await relay.relay.store.smsOf(id))[0]?.status === 'sent');
      } finally {
        await relay.stop();
        removeDir(relay.dir);
      }
    });
  }
});

describe('a simulator fills in only what is not configured', () => {
  test('puzzel-simulator with gateway.serviceId: the relay sends that serviceId, and the simulator takes it', async () => {
    const relay = await startTestRelay({ gateway: { provider: 'puzzel-simulator', serviceId: 4242 } });
    try {
      const id = queuedId((await sendMail(relay.relay.smtpPort, { to: ['447700900160@sms.localhost'], body: 'own service' })).data);
      const simulator = relay.relay.simulator as PuzzelSimulator;
      const record = await waitFor('the SMS at the simulator', () => simulator.records.find((entry) => entry.text === 'own service'));
      assert.equal(record.serviceId, 4242);
      await waitFor('sent', async () => (await relay.relay.store.smsOf(id))[0]?.status === 'sent');
    } finally {
      await relay.stop();
      removeDir(relay.dir);
    }
  });
});
