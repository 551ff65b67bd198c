/**
 * Delivery reports that write the phone number nationally (`0871234281`, `07700900291`), as InteractSMS and
 * IntelliSoftware write numbers: a relay over real SMTP, HTTP and SQLite, against a stand-in gateway, reads them as
 * it reads these gateways' replies. The report's id names its SMS; the number is the one of that SMS's numbers it is
 * in that number's own country, else read in the configured region, and one it cannot place is quarantined.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import { createLogger } from '../../src/log.ts';
import { startRelay } from '../../src/relay.ts';
import { relayEnvironment, removeDir, tempDir, waitFor } from '../helpers/relay.ts';
import { ReplayServer } from '../helpers/replay-server.ts';
import { queuedId, sendMail } from '../helpers/smtp.ts';

type Relay = Awaited<ReturnType<typeof startRelay>>;

/** A stand-in gateway answering `body` to every send, and a relay sending through it as `gateway` says. */
function relayThrough(gateway: object, body: string, extra: object = {}) {
  const server = new ReplayServer({ contentType: 'text/plain', answer: { status: 200, body } });
  const dir = tempDir();
  const started: { relay?: Relay } = {};
  before(async () => {
    await server.start();
    const yaml = { gateway: { ...gateway, url: server.url, username: 'acme', password: 'secret' }, ...extra };
    started.relay = await startRelay(loadConfig(relayEnvironment(dir, yaml), dir).config, createLogger('silent'));
  });
  after(async () => {
    await started.relay?.stop();
    await server.close();
    removeDir(dir);
  });
  const relay = () => started.relay as Relay;
  return {
    server,
    relay,
    /** Mails the numbers; resolves with the message id once every SMS of it is sent. */
    async sent(...numbers: string[]): Promise<string> {
      const id = queuedId(
        (await sendMail(relay().smtpPort, { to: numbers.map((number) => `${number}@sms.localhost`), subject: 'Tank', body: 'Tank 7 is full' })).data,
      );
      await waitFor('the SMS sent', async () => ((await relay().store.smsOf(id)).every((sms) => sms.status === 'sent') ? true : undefined));
      return id;
    },
    /** Posts a report form to the relay's DR webhook: its JSON answer. */
    async report(provider: string, fields: Record<string, string>): Promise<{ status: string; reason?: string }> {
      const response = await fetch(`http://127.0.0.1:${relay().httpPort}/webhooks/${provider}/dr`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(fields).toString(),
      });
      assert.equal(response.status, 200);
      return (await response.json()) as { status: string; reason?: string };
    },
    async deliveries(id: string): Promise<Array<[string, string | undefined]>> {
      return (await relay().store.smsOf(id)).map((sms) => [sms.number, sms.delivery]);
    },
  };
}

describe('InteractSMS receipts writing SMS-To nationally', () => {
  const it = relayThrough({ provider: 'interactsms', apiId: 1234 }, '0\r\nRequest deferred successfully');
  const notifyId = () => new URLSearchParams(it.server.requests.at(-1)?.body).get('notify_id') ?? '';
  const failed = (id: string, to: string) => ({ 'SMS-Type': 'Notification', 'SMS-NotifyId': id, 'SMS-Success': 'False', 'SMS-To': to });

  test("a national SMS-To is the number of its notify id it is in that number's own country: an Irish and a UK number of one SMS alike", async () => {
    const irish = await it.sent('353871234281');
    assert.deepEqual(await it.report('interactsms', failed(notifyId(), '0871234281')), { status: 'advanced' });
    assert.deepEqual(await it.deliveries(irish), [['+353871234281', 'failed']]);

    // One SMS to a UK and an Irish number (one notify id): the provider's country is Ireland, yet 07700… is the UK one.
    const both = await it.sent('353871234282', '447700900282');
    assert.deepEqual(await it.report('interactsms', failed(notifyId(), '07700900282')), { status: 'advanced' });
    assert.deepEqual((await it.deliveries(both)).sort(), [
      ['+353871234282', undefined],
      ['+447700900282', 'failed'],
    ]);
  });

  test("a national SMS-To that is none of its notify id's numbers is a check that fails: it does not decide the SMS", async () => {
    const id = await it.sent('353871234283');
    // Read in Ireland (the provider's country): another number, kept as an orphan of the id, as a wrong +353 one is.
    assert.deepEqual(await it.report('interactsms', failed(notifyId(), '0871234999')), { status: 'orphan' });
    assert.deepEqual(await it.deliveries(id), [['+353871234283', undefined]]);
  });

  test('a national SMS-To that is two numbers of its notify id (a French and a Dutch mobile) decides neither: it is quarantined', async () => {
    const both = await it.sent('33612345678', '31612345678');
    assert.deepEqual(await it.report('interactsms', failed(notifyId(), '0612345678')), {
      status: 'quarantined',
      reason:
        'the report for id "' +
        notifyId() +
        '" writes its number nationally, as more than one of the numbers that id was sent to (each in its own country): the relay cannot tell which one it is about',
    });
    assert.deepEqual((await it.deliveries(both)).sort(), [
      ['+31612345678', undefined],
      ['+33612345678', undefined],
    ]);
  });
});

describe('IntelliSoftware reports writing toaddr nationally, without sms.defaultRegion', () => {
  const it = relayThrough({ provider: 'intellisoftware' }, 'ID:T1');

  test('a national toaddr is the number its msgid was sent to; one it cannot be, with no region to read it in, is quarantined', async () => {
    const id = await it.sent('447700900291');
    assert.deepEqual(await it.report('intellisoftware', { msgid: 'T1', status: '6', toaddr: '07700900291' }), { status: 'advanced' });
    assert.deepEqual(await it.deliveries(id), [['+447700900291', 'failed']]);
    assert.deepEqual(await it.report('intellisoftware', { msgid: 'T-unknown', status: '6', toaddr: '07700900292' }), {
      status: 'quarantined',
      reason:
        'the report for id "T-unknown" writes its number nationally, as none of the numbers that id was sent to, and the relay has no region to read it in (set sms.defaultRegion)',
    });
  });
});

describe('IntelliSoftware reports writing toaddr nationally, with sms.defaultRegion: GB', () => {
  const it = relayThrough({ provider: 'intellisoftware' }, 'ID:T2', { sms: { defaultRegion: 'GB' } });

  test('the report is applied; one whose SMS is not recorded yet waits as an orphan under the number read in GB', async () => {
    const id = await it.sent('447700900293');
    assert.deepEqual(await it.report('intellisoftware', { msgid: 'T2', status: '6', toaddr: '07700900293' }), { status: 'advanced' });
    assert.deepEqual(await it.deliveries(id), [['+447700900293', 'failed']]);
    assert.deepEqual(await it.report('intellisoftware', { msgid: 'T-later', status: '6', toaddr: '07700900294' }), { status: 'orphan' });
  });
});

describe('IntelliSoftware reports for a French and a Dutch number under one id, with sms.defaultRegion: FR', () => {
  const it = relayThrough({ provider: 'intellisoftware' }, 'ID:B1', { sms: { defaultRegion: 'FR' } });

  test('a national toaddr that is both numbers is quarantined, the region deciding nothing; the international one is applied', async () => {
    const id = await it.sent('33612345678', '31612345678');
    assert.deepEqual(await it.report('intellisoftware', { msgid: 'B1', status: '6', toaddr: '0612345678' }), {
      status: 'quarantined',
      reason:
        'the report for id "B1" writes its number nationally, as more than one of the numbers that id was sent to (each in its own country): the relay cannot tell which one it is about',
    });
    assert.deepEqual((await it.deliveries(id)).sort(), [
      ['+31612345678', undefined],
      ['+33612345678', undefined],
    ]);
    assert.deepEqual(await it.report('intellisoftware', { msgid: 'B1', status: '6', toaddr: '33612345678' }), { status: 'advanced' });
    assert.deepEqual((await it.deliveries(id)).sort(), [
      ['+31612345678', undefined],
      ['+33612345678', 'failed'],
    ]);
  });
});

describe('IntelliSoftware answering a request of several numbers with the numbers written nationally', () => {
  const it = relayThrough({ provider: 'intellisoftware' }, '07700900281,ID:N1\r\n0871234282,ID:N2\r\n');

  test("each line is the submitted number it is in that number's own country: each SMS sent once, under its own id", async () => {
    const id = await it.sent('447700900281', '353871234282');
    assert.deepEqual((await it.relay().store.smsOf(id)).map((sms) => [sms.number, sms.providerId, sms.attempts, sms.possibleDuplicates]).sort(), [
      ['+353871234282', 'N2', 1, 0],
      ['+447700900281', 'N1', 1, 0],
    ]);
    assert.equal(it.server.requests.length, 1, 'no number sent again');
  });
});

describe('IntelliSoftware answering a French and a Dutch number with lines that write their number nationally', () => {
  const it = relayThrough({ provider: 'intellisoftware' }, '31612345678,ID:R1\r\n33612345678,ID:R2\r\n', {
    delivery: { retryMinDelay: '1s' },
  });

  test('a line that is both numbers places neither: neither is refused or sent on it, and both are sent again', async () => {
    it.server.next = [{ status: 200, body: '0612345678,ERR:INVALID_NUMBER\r\n0612345678,ID:N9\r\n447700900296,ID:N10\r\n' }];
    const id = queuedId(
      (
        await sendMail(it.relay().smtpPort, {
          to: ['31612345678@sms.localhost', '33612345678@sms.localhost', '447700900296@sms.localhost'],
          subject: 'Tank',
          body: 'Tank 7 is full',
        })
      ).data,
    );
    await waitFor('the first answer taken', async () => ((await it.relay().store.smsOf(id)).some((sms) => sms.status === 'sent') ? true : undefined));
    const rows = (await it.relay().store.smsOf(id)).map((sms) => [
      sms.number,
      sms.status,
      sms.providerId,
      sms.possibleDuplicates,
      /^[A-Z_]+/.exec(sms.lastError ?? '')?.[0],
    ]);
    assert.deepEqual(rows.sort(), [
      ['+31612345678', 'queued', undefined, 1, 'MISSING_RESULT'],
      ['+33612345678', 'queued', undefined, 1, 'MISSING_RESULT'],
      ['+447700900296', 'sent', 'N10', 0, undefined],
    ]);
    await waitFor('both sent again', async () => ((await it.relay().store.smsOf(id)).every((sms) => sms.status === 'sent') ? true : undefined));
    assert.deepEqual((await it.relay().store.smsOf(id)).map((sms) => [sms.number, sms.providerId, sms.attempts]).sort(), [
      ['+31612345678', 'R1', 2],
      ['+33612345678', 'R2', 2],
      ['+447700900296', 'N10', 1],
    ]);
  });
});
