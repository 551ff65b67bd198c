/**
 * A relay sending through Puzzel, against a stand-in answering Puzzel's JSON wire format over real HTTP,
 * mails over real SMTP and a real SQLite store: the sender ids it sends (and refuses at SMTP), and an SMS
 * Puzzel takes but holds for approval (statusCode 24).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import { createLogger } from '../../src/log.ts';
import { startRelay } from '../../src/relay.ts';
import { PuzzelSimulator } from '../../src/simulators/puzzel.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { relayEnvironment, removeDir, tempDir, waitFor } from '../helpers/relay.ts';
import { type RecordedRequest, ReplayServer } from '../helpers/replay-server.ts';
import { queuedId, sendMail } from '../helpers/smtp.ts';

interface SentMessage {
  readonly recipient: string;
  readonly clientReference: string;
  readonly settings?: { readonly originatorSettings?: { readonly originatorType: string; readonly originator: string } };
}

const sentMessages = (request: RecordedRequest) => (JSON.parse(request.body) as { message: SentMessage[] }).message;

describe('a relay sending through Puzzel', () => {
  const gateway = new ReplayServer({ contentType: 'application/json' });
  let statusCode = 1;
  let statusMessage = 'OK';
  gateway.respond = (request) => ({
    status: 200,
    body: JSON.stringify({
      messageStatus: sentMessages(request).map((message, index) => ({
        statusCode,
        statusMessage,
        clientReference: message.clientReference,
        recipient: message.recipient,
        messageId: `m${message.recipient.slice(1)}`,
        sequenceIndex: index + 1,
      })),
    }),
  });
  const dir = tempDir();
  const { logger, lines } = captureLog('info');
  let relay: Awaited<ReturnType<typeof startRelay>>;
  before(async () => {
    await gateway.start();
    const yaml = {
      gateway: { provider: 'puzzel', url: gateway.url, username: 'acme', password: 'secret', serviceId: 1000 },
      sms: { allowedSenderIds: ['+4791234999', 'Acme'] },
    };
    relay = await startRelay(loadConfig(relayEnvironment(dir, yaml), dir).config, logger);
  });
  after(async () => {
    await relay.stop();
    await gateway.close();
    removeDir(dir);
  });

  const send = (number: string, headers: Record<string, string> = {}) =>
    sendMail(relay.smtpPort, { to: [`${number}@sms.localhost`], subject: 'Shift', body: 'Shift moved', headers });
  const requestFor = (number: string) =>
    waitFor(`the request for ${number}`, () => gateway.requests.find((request) => sentMessages(request)[0]?.recipient === `+${number}`));

  test('a sender id written with 00 goes out as the + number the allow-list names; a national one or +0… is refused at SMTP', async () => {
    for (const [number, senderId] of [
      ['4791234501', '004791234999'],
      ['4791234502', '+004791234999'],
      ['4791234503', '+4791234999'],
    ] as const) {
      const reply = (await send(number, { 'X-SMS-From': senderId })).data;
      assert.equal(reply?.code, 250, `${senderId}: ${reply?.text}`);
      const [message] = sentMessages(await requestFor(number));
      assert.deepEqual(message?.settings?.originatorSettings, { originatorType: 'INTERNATIONAL', originator: '+4791234999' }, senderId);
    }
    const national = (await send('4791234504', { 'X-SMS-From': '07700900123' })).data;
    assert.equal(national?.code, 554);
    assert.match(
      national?.text ?? '',
      /^5\.6\.0 .*"07700900123" is a national number, which names no country: write it as \+ and the country code, then the number without its leading 0$/,
    );
    const noCountry = (await send('4791234505', { 'X-SMS-From': '+07700900123' })).data;
    assert.equal(noCountry?.code, 554);
    assert.match(noCountry?.text ?? '', /^5\.6\.0 .*"\+07700900123" has no country code \(none begins with 0\)/);
    assert.ok(
      !gateway.requests.some((request) => sentMessages(request).some((message) => message.settings?.originatorSettings?.originator.startsWith('+0'))),
      'no +0… originator sent',
    );
  });

  /** A DR to the relay's webhook: by GET, its fields the query, or POSTed as Puzzel's JSON batch of one. */
  const report = async (method: 'GET' | 'POST', fields: Record<string, string>) => {
    const url = `http://127.0.0.1:${relay.httpPort}/webhooks/puzzel/dr`;
    const response =
      method === 'GET'
        ? await fetch(`${url}?${new URLSearchParams(fields)}`)
        : await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ dr: [fields] }) });
    assert.equal(response.status, 200);
    return (await response.json()) as { status: string; reason?: string };
  };
  /** A mail to `number`, once Puzzel took its SMS: its message id and the clientReference the relay sent. */
  const sentTo = async (number: string) => {
    const id = queuedId((await send(number)).data);
    await waitFor(`the SMS to ${number} sent`, async () => (await relay.store.smsOf(id))[0]?.status === 'sent');
    return { id, reference: sentMessages(await requestFor(number))[0]?.clientReference ?? '' };
  };
  const deliveryOf = async (id: string) => (await relay.store.smsOf(id))[0]?.delivery;

  test("a DR by GET in Puzzel's own template (customerMessageReference, customerBatchReference camel-cased) is applied", async () => {
    const { id, reference } = await sentTo('4791234511');
    const template = {
      messageid: 'm4791234511',
      statuscode: '351',
      statusdescription: 'Unknown recipient',
      extstatuscode: '1',
      extstatusdescription: 'Absent',
      customerMessageReference: reference,
      customerBatchReference: 'b1',
      serviceid: '1000',
      servicename: 'Test',
      mcc: '242',
      mnc: '1',
      type: '6',
    };
    assert.deepEqual(await report('GET', template), { status: 'advanced' });
    assert.equal(await deliveryOf(id), 'failed');
    // The same names in another case, by POST: Puzzel's pages mix messageId and messageid too.
    const other = await sentTo('4791234512');
    assert.deepEqual(await report('POST', { messageId: 'm4791234512', StatusCode: '0', CustomerMessageReference: other.reference }), { status: 'advanced' });
    assert.equal(await deliveryOf(other.id), 'delivered');
  });

  test('a DR whose messageid names an SMS needs no reference, by GET or POST; one naming no SMS without it is quarantined', async () => {
    const byGet = await sentTo('4791234513');
    assert.deepEqual(await report('GET', { messageid: 'm4791234513', statuscode: '0' }), { status: 'advanced' });
    assert.equal(await deliveryOf(byGet.id), 'delivered');
    const byPost = await sentTo('4791234514');
    // A reference the relay did not write is no evidence either way: the id alone names the SMS.
    assert.deepEqual(await report('POST', { messageid: 'm4791234514', statuscode: '351', customermessagereference: 'theirs' }), { status: 'advanced' });
    assert.equal(await deliveryOf(byPost.id), 'failed');
    assert.deepEqual(await report('GET', { messageid: 'm-unknown', statuscode: '0' }), {
      status: 'quarantined',
      reason: 'the report for id "m-unknown" names no number, and that id names no SMS the relay sent (yet) to take it from',
    });
  });

  test('statusCode 24: taken and awaiting its report, its history says Puzzel holds it until approved, and a warn tells the operator', async () => {
    statusCode = 24;
    statusMessage = 'QUOTA_EXCEEDED';
    try {
      const id = queuedId((await send('4791234573')).data);
      const sent = await waitFor('the SMS taken', async () => (await relay.store.events(id)).find((event) => event.kind === 'sent'));
      assert.equal(
        sent.detail,
        'id m4791234573; PUZZEL:24: taken by Puzzel but held until approved there: too many messages to the same number (its quota per number) (the gateway said: "QUOTA_EXCEEDED")',
      );
      const warn = await waitFor('the warn line', () =>
        lines.map((text) => JSON.parse(text) as Record<string, unknown>).find((entry) => String(entry['msg']).startsWith('dispatch: SMS taken but held')),
      );
      assert.equal(warn['level'], 'warn');
      assert.equal(warn['gatewayText'], 'QUOTA_EXCEEDED');
      assert.match(String(warn['msg']), /held until approved there: .*; approve it at Puzzel \(its portal or support\) to have it sent/);
    } finally {
      statusCode = 1;
      statusMessage = 'OK';
    }
  });
});

describe("a relay whose Puzzel service calls back by GET (the simulator in Puzzel's GET templates)", () => {
  let gateway: Awaited<ReturnType<typeof PuzzelSimulator.listen>>;
  const dir = tempDir();
  let relay: Awaited<ReturnType<typeof startRelay>>;
  before(async () => {
    const account = { username: 'acme', password: 'secret' };
    gateway = await PuzzelSimulator.listen({
      ...account,
      accountId: '1000',
      logger: createLogger('silent'),
      webhookMethod: 'GET',
      reportDelayMs: 0,
      webhookRetryMs: 60_000,
      undeliverableNumbers: ['4791234622'],
    });
    const yaml = { gateway: { provider: 'puzzel', url: gateway.url, ...account, serviceId: 1000 } };
    relay = await startRelay(loadConfig(relayEnvironment(dir, yaml), dir).config, createLogger('silent'));
    const webhooks = `http://127.0.0.1:${relay.httpPort}/webhooks/puzzel`;
    gateway.simulator.setWebhooks({ moUrl: `${webhooks}/mo`, drUrl: `${webhooks}/dr` });
  });
  after(async () => {
    await relay.stop();
    await gateway.close();
    removeDir(dir);
  });

  test('each SMS is decided by its DR, and a reply is taken: nothing is quarantined', async () => {
    const ids = await Promise.all(
      ['4791234621', '4791234622'].map(async (number) =>
        queuedId((await sendMail(relay.smtpPort, { to: [`${number}@sms.localhost`], subject: 'Shift', body: 'Shift moved' })).data),
      ),
    );
    const states = () => Promise.all(ids.map(async (id) => (await relay.store.smsOf(id))[0]?.delivery));
    await waitFor('both SMS decided', async () => ((await states()).every((state) => state !== undefined) ? true : undefined));
    assert.deepEqual(await states(), ['delivered', 'failed']);
    const dr = gateway.simulator.webhookPosts.find((post) => post.kind === 'dr');
    assert.match(dr?.body ?? '', /(^|&)customerMessageReference=[^&]+/, "the simulator writes Puzzel's GET template");
    gateway.simulator.reply('4791234621', 'On my way', gateway.simulator.records[0]);
    await gateway.simulator.waitForWebhookPosts('mo', 1, 5_000);
    assert.deepEqual(
      gateway.simulator.webhookPosts.map((post) => [post.kind, post.status]),
      [
        ['dr', 200],
        ['dr', 200],
        ['mo', 200],
      ],
    );
    assert.equal(await relay.store.quarantined(1), undefined, 'nothing quarantined');
  });
});
