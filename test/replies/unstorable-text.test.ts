/**
 * What a provider sends that one store could not keep as written, over the relay's real webhooks, store and Maildir, on
 * SQLite and on PostgreSQL alike: a NUL (PostgreSQL's text holds none) is removed from what is kept, whatever field and
 * form brought it, and the SMS is mailed as ever; half a character (a lone UTF-16 surrogate escaped in JSON) is an
 * unreadable item, quarantined, whichever provider's JSON carries it. A mail's headers holding a NUL are taken the same.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { webhookPaths } from '../../src/http/webhooks.ts';
import { describeOnPostgres } from '../helpers/postgres.ts';
import { sendMail } from '../helpers/smtp.ts';
import { gatewayYaml, maildirMessages, removeDir, type Simulator, startSimulator, startTestRelay, type TestRelay, tempDir, waitFor } from '../helpers/relay.ts';

const MAILBOX = 'ops@example.com';
const INTELLISOFTWARE = webhookPaths('intellisoftware');

const jsonMessage = (messageid: string, from: string, text: string) =>
  JSON.stringify({
    messages: [{ to: '44771012346', from, messageid, channel: 'sms', sent: '2026-07-01T12:00:00+01:00', content: { msgtype: 'unicode', text } }],
  });

function suite(store: object): void {
  let simulator: Simulator | undefined;
  let relay: TestRelay | undefined;
  before(async () => {
    simulator = await startSimulator({});
    relay = await startTestRelay(
      { ...gatewayYaml(simulator.url), ...store, sms: { domains: ['sms.example.com'], defaultRegion: 'GB' }, inbound: { defaultMailbox: MAILBOX } },
      {},
      tempDir(),
    );
  });
  after(async () => {
    await relay?.stop();
    await simulator?.close();
    if (relay) removeDir(relay.dir);
  });
  const started = () => relay ?? assert.fail('the relay did not start');
  const post = async (path: string, body: string, contentType: string) => {
    const response = await fetch(`http://127.0.0.1:${started().relay.httpPort}${path}`, { method: 'POST', headers: { 'content-type': contentType }, body });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const mailedText = async (marker: string) => {
    const raw = await waitFor(`the mail of "${marker}"`, () => maildirMessages(started().maildir).find((mail) => mail.includes(marker)));
    return (await simpleParser(raw)).text ?? '';
  };

  test('a NUL in a JSON text, a form text and a form user context is removed: stored, mailed without it, on the first try', async () => {
    const json = await post(INTELLISOFTWARE.mo, jsonMessage('nul-json-1', '447700900801', 'json nul \u0000 here\u0000'), 'application/json');
    assert.equal(json.status, 200, JSON.stringify(json.body));
    assert.equal(json.body['status'], 'accepted', JSON.stringify(json.body));
    const form = await post(
      INTELLISOFTWARE.mo,
      'from=447700900802&text=form%20nul%00here&msgid=nul-form-1&usercontext=%00ctx%00',
      'application/x-www-form-urlencoded',
    );
    assert.equal(form.status, 200, JSON.stringify(form.body));
    assert.equal(form.body['status'], 'accepted', JSON.stringify(form.body));
    assert.match(await mailedText('json nul'), /json nul {2}here/);
    assert.match(await mailedText('form nul'), /form nulhere/);
    // The provider's retry is the same SMS, known as such: not a second mail, not a refusal.
    const again = await post(INTELLISOFTWARE.mo, jsonMessage('nul-json-1', '447700900801', 'json nul \u0000 here\u0000'), 'application/json');
    assert.deepEqual([again.status, again.body['status']], [200, 'duplicate']);
    assert.equal((await started().relay.store.listQuarantine(100)).length, 0, 'nothing quarantined');
  });

  test('a mail whose subject, Message-ID and other headers hold a raw NUL (8BITMIME) is taken on the first try, its SMS sent', async () => {
    const { data } = await sendMail(started().relay.smtpPort, {
      to: ['447700900806@sms.example.com'],
      subject: 'nul\u0000subject',
      body: 'mail with nul headers',
      mailParams: 'BODY=8BITMIME',
      headers: { 'Message-ID': '<nul\u0000id@example.com>', 'X-Note': 'a\u0000b' },
    });
    assert.equal(data?.code, 250, JSON.stringify(data));
    await waitFor('the SMS sent', () => simulator?.simulator.received.find((sms) => sms.text.includes('mail with nul headers')));
  });

  test("a lone UTF-16 surrogate in a JSON text (one of a batch, or a request's only SMS) is quarantined, the batch's other SMS taken", async () => {
    const batch = JSON.stringify({
      messages: [
        { from: '447700900803', messageid: 'half-1', content: { msgtype: 'unicode', text: 'whole \u{1F603}' } },
        { from: '447700900804', messageid: 'half-2', content: { msgtype: 'unicode', text: 'half \uD83D here' } },
      ],
    });
    const answer = await post(INTELLISOFTWARE.mo, batch, 'application/json');
    assert.equal(answer.status, 200);
    assert.deepEqual(
      (answer.body['messages'] as { status: string }[]).map((outcome) => outcome.status),
      ['accepted'],
    );
    assert.match(String(answer.body['quarantined']), /half-2.*lone UTF-16 surrogate/);
    // Every SMS of the request half a character: the request is kept whole, as one no item of which is readable.
    const alone = await post(INTELLISOFTWARE.mo, jsonMessage('half-3', '447700900805', 'alone \uDE03 half'), 'application/json');
    assert.deepEqual([alone.status, alone.body['status']], [200, 'quarantined'], JSON.stringify(alone.body));
    assert.match(await mailedText('whole'), /whole \u{1F603}/u);
    assert.equal(
      maildirMessages(started().maildir).some((mail) => mail.includes('half')),
      false,
      'no mail of half a character',
    );
    const reasons = (await started().relay.store.listQuarantine(100)).map((entry) => entry.reason);
    assert.equal(reasons.filter((reason) => /lone UTF-16 surrogate/.test(reason)).length, 2, JSON.stringify(reasons));
  });
}

describe('text a store could not keep as written', () => {
  describe('on SQLite', () => suite({}));
  describeOnPostgres('on PostgreSQL', (url) => suite({ store: { url } }));
});
