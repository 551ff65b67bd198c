/**
 * An SMS whose only oddity is the form of its gateway time is mailed, over the real webhooks, store and Maildir: a
 * form gateways write (ISO 8601 with or without a zone, the documented form with fractions or an offset, an epoch) is
 * read; one the relay cannot read leaves the time the relay got it, with a warning naming the field and value.
 * Only a request that cannot be told apart as an SMS stays in quarantine (InteractSMS without its SMS-TimeStamp).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { webhookPaths } from '../../src/http/webhooks.ts';
import type { BuiltInProviderName } from '../../src/vocabulary.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { maildirMessages, removeDir, startTestRelay, type TestRelay, waitFor } from '../helpers/relay.ts';

const MAILBOX = 'ops@example.com';
/** A reply mail's last line but one: `SMS from <number>[ to <number>], <time>`. */
const TIME_LINE = /^SMS from [^,\n]+, (\S+)$/m;

describe("an SMS is mailed whatever the form of its gateway's time", () => {
  const { logger, lines } = captureLog('warn');
  let relay: TestRelay;

  before(async () => {
    relay = await startTestRelay(
      {
        inbound: { defaultMailbox: MAILBOX },
        gateway: {
          provider: 'simulator',
          routes: [
            { name: 'no', match: ['+47'], providers: ['puzzel-simulator'] },
            { name: 'uk', match: ['+44'], providers: ['vonage-simulator'] },
            { name: 'ie', match: ['+353'], providers: ['interactsms-simulator'] },
            { name: 'rest', match: '*', providers: ['simulator'] },
          ],
        },
      },
      {},
      undefined,
      {},
      logger,
    );
  });
  after(async () => {
    await relay.stop();
    removeDir(relay.dir);
  });

  const post = async (provider: BuiltInProviderName, fields: Record<string, string>, method: 'GET' | 'POST' = 'POST') => {
    const query = new URLSearchParams(fields).toString();
    const url = `http://127.0.0.1:${relay.relay.httpPort}${webhookPaths(provider).mo}`;
    const response =
      method === 'GET'
        ? await fetch(`${url}?${query}`)
        : await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: query });
    assert.equal(response.status, 200);
    return JSON.stringify(await response.json());
  };
  /** The time the reply mail of the SMS `text` shows. */
  const mailedTime = async (text: string) => {
    const raw = await waitFor(`the mail of "${text}"`, () => maildirMessages(relay.maildir).find((mail) => mail.includes(text)));
    const body = (await simpleParser(raw)).text ?? '';
    return TIME_LINE.exec(body)?.[1];
  };
  /** A time the relay got the SMS at (the relay's zone), not one the gateway wrote: within the test's run. */
  const isRelayTime = (time: string | undefined, from: number) => {
    const at = Date.parse(time ?? '');
    return at >= Math.floor(from / 1000) * 1000 && at <= Date.now();
  };
  const warned = (field: string, value: string) =>
    lines.some((line) => {
      const entry = JSON.parse(line) as { msg?: string; field?: string; value?: string };
      return entry.field === field && entry.value === value && /time of an SMS is in a form the relay does not read/.test(entry.msg ?? '');
    });

  /**
   * Posts an SMS per time through `send` (its text, its time): each is accepted, each time `read` is mailed as read,
   * and the one `unread` is mailed with the relay's own time and named in a warning as its `field`.
   */
  const mailedAsRead = async (
    name: string,
    send: (text: string, time: string) => Promise<string>,
    read: readonly (readonly [string, string])[],
    unread: { readonly field: string; readonly value: string },
  ) => {
    const started = Date.now();
    for (const [time] of read) assert.match(await send(`${name} ${time}`, time), /"accepted"/, time);
    assert.match(await send(`${name} unread`, unread.value), /"accepted"/, unread.value);
    for (const [time, shown] of read) assert.equal(await mailedTime(`${name} ${time}`), shown, time);
    assert.ok(isRelayTime(await mailedTime(`${name} unread`), started));
    assert.ok(warned(unread.field, unread.value), lines.join(''));
  };

  test('Puzzel: the documented form with a fraction of a second or an offset, ISO 8601 and an epoch are read; another form leaves the relay its own time', async () => {
    let sequence = 0;
    const send = (content: string, timestamp: string) => post('puzzel', { messageid: `p${++sequence}`, originator: '004791234201', content, timestamp }, 'GET');
    await mailedAsRead(
      'puzzel',
      send,
      [
        ['20260701 12:00:00.123', '2026-07-01T12:00:00+02:00'],
        ['2026-07-01T12:00:00', '2026-07-01T12:00:00+02:00'],
        ['20260701 12:00:00+0100', '2026-07-01T12:00:00+01:00'],
        ['1782900000', '2026-07-01T12:00:00+02:00'],
      ],
      { field: 'timestamp', value: '01.07.2026 12:00' },
    );
  });

  test('IntelliSoftware: a time without an offset (UK time), with +hhmm or as an epoch is read; another form leaves the relay its own time', async () => {
    let sequence = 0;
    const send = (text: string, sent: string) => post('intellisoftware', { msgid: `i${++sequence}`, from: '12025550123', text, sent });
    await mailedAsRead(
      'intelli',
      send,
      [
        ['2026-07-01T12:00:00', '2026-07-01T12:00:00+01:00'],
        ['2026-07-01T12:00:00+0100', '2026-07-01T12:00:00+01:00'],
        ['1782903600000', '2026-07-01T12:00:00+01:00'],
      ],
      { field: 'sent', value: 'Wed, 01 Jul 2026 12:00:00' },
    );
  });

  test('InteractSMS: ISO 8601 is read and another form leaves the relay its own time; without any SMS-TimeStamp the SMS cannot be told apart: quarantined', async () => {
    const send = (content: string, timestamp?: string) =>
      post('interactsms', {
        'SMS-Type': 'Inbound',
        'SMS-From': '447700900801',
        'SMS-To': '447700900000',
        'SMS-Content': content,
        ...(timestamp === undefined ? {} : { 'SMS-TimeStamp': timestamp }),
      });
    await mailedAsRead(
      'interact',
      send,
      [
        ['2026-07-01T12:00:00', '2026-07-01T12:00:00+01:00'],
        ['2026-07-01T12:00:00.5Z', '2026-07-01T12:00:00+00:00'],
      ],
      { field: 'SMS-TimeStamp', value: '01/07/2026 12:00:00' },
    );
    assert.match(await send('interact no time'), /"quarantined".*SMS-TimeStamp is missing/);
  });

  test("Vonage: ISO 8601 with Z is read, not left to the relay's time", async () => {
    const fields = {
      msisdn: '447700900401',
      to: '447700900777',
      messageId: 'V1',
      type: 'text',
      text: 'vonage iso',
      'message-timestamp': '2026-07-01T12:00:00Z',
    };
    assert.match(await post('vonage', fields), /"accepted"/);
    assert.equal(await mailedTime('vonage iso'), '2026-07-01T12:00:00+00:00');
  });

  test('no warning holds the phone number whole', () => {
    assert.doesNotMatch(lines.join(''), /4791234201|12025550123|447700900801/);
  });
});
