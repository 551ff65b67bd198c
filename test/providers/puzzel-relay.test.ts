/**
 * A relay sending through Puzzel, against a stand-in answering Puzzel's JSON wire format over real HTTP,
 * mails over real SMTP and a real SQLite store: the sender ids it sends (and refuses at SMTP), and an SMS
 * Puzzel takes but holds for approval (statusCode 24).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import { startRelay } from '../../src/relay.ts';
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
