/**
 * IntelliSoftware's JSON forwarding ("Message Type" JSON under Preferences → Forwarding), over the relay's real
 * webhooks, store and Maildir: the receive-SMS page's examples verbatim, a batch, a repeat, what cannot be read, and
 * the simulator's JSON forwards of a reply and of delivery reports.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { webhookPaths } from '../../src/http/webhooks.ts';
import { maildirMessages, relayWithSimulator, waitFor } from '../helpers/relay.ts';
import { queuedId, sendMail } from '../helpers/smtp.ts';

const MAILBOX = 'ops@example.com';
const PATHS = webhookPaths('intellisoftware');

/** The receive-SMS page's two examples, byte for byte (the emoji as the page writes it: a JSON surrogate pair escape). */
const VENDOR_TEXT =
  '{"messages":[{"to":"44771012346","from":"44771012345","messageid":"21ba6a2ee454d1710d88f357df34fdb3f5","channel":"sms","sent":"2025-06-03T13:50:05-00:00","content":{"msgtype":"text","text":"Message Text"}}]}';
const VENDOR_UNICODE =
  '{"messages":[{"from":"44771012345","to":"44771012346","messageid":"21ba6a2ee454d1710d88f357df34fdb3f6","channel":"sms","sent":"2025-06-03T13:50:05-00:00","content":{"msgtype":"unicode","text":"Simley Emoji \\uD83D\\uDE03"}}]}';

/** The status-report page's example, byte for byte: its messageid is no SMS of this relay's. */
const VENDOR_REPORT =
  '{"notifications":[{"notificationtype":"status","messageid":"21ba6a2ee454d1710d88f357df34fdb3f5","to":"44771012345","status":"delivered","status_code":4,"category":"success","userkey":"UserKey"}]}';

const message = (messageid: string, from: string, text: string, msgtype = 'text') => ({
  to: '44771012346',
  from,
  messageid,
  channel: 'sms',
  sent: '2026-07-01T12:00:00+01:00',
  content: { msgtype, text },
});

describe("IntelliSoftware's JSON forwarding", () => {
  const suite = relayWithSimulator(
    { sms: { domains: ['sms.example.com'], defaultRegion: 'GB' }, inbound: { defaultMailbox: MAILBOX } },
    { simulator: { webhookRetryMs: 100, reportDelayMs: 0, forwarding: 'json' } },
  );
  before(() => {
    const base = `http://127.0.0.1:${suite.relay.relay.httpPort}`;
    suite.gateway.simulator.setWebhooks({ moUrl: `${base}${PATHS.mo}`, drUrl: `${base}${PATHS.dr}` });
  });

  const post = async (path: string, body: string, contentType = 'application/json') => {
    const response = await fetch(`http://127.0.0.1:${suite.relay.relay.httpPort}${path}`, { method: 'POST', headers: { 'content-type': contentType }, body });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const mailsWith = (text: string) => maildirMessages(suite.relay.maildir).filter((mail) => mail.includes(text));
  const mailedText = async (marker: string) => {
    const raw = await waitFor(`the mail of "${marker}"`, () => mailsWith(marker)[0]);
    return (await simpleParser(raw)).text ?? '';
  };

  test("the receive-SMS page's examples verbatim, msgtype text and unicode, are each stored and mailed", async () => {
    const text = await post(PATHS.mo, VENDOR_TEXT);
    assert.equal(text.status, 200);
    assert.equal(text.body['status'], 'accepted', JSON.stringify(text.body));
    const unicode = await post(PATHS.mo, VENDOR_UNICODE, 'application/json; charset=utf-8');
    assert.equal(unicode.status, 200);
    assert.equal(unicode.body['status'], 'accepted', JSON.stringify(unicode.body));
    assert.match(await mailedText('Message Text'), /Message Text/);
    assert.match(await mailedText('Simley Emoji'), /Simley Emoji \u{1F603}/u);
    const stored = await suite.relay.relay.store.listQuarantine(100);
    assert.equal(stored.length, 0, 'nothing quarantined');
  });

  test('a batch of 3 messages: each stored and mailed, the 200 lists the three', async () => {
    const body = JSON.stringify({
      messages: [
        message('batch-1', '447700900301', 'batch one'),
        message('batch-2', '447700900302', 'batch two', 'unicode'),
        message('batch-3', '447700900303', 'batch three'),
      ],
    });
    const answer = await post(PATHS.mo, body);
    assert.equal(answer.status, 200);
    assert.equal(answer.body['status'], 'accepted');
    const outcomes = answer.body['messages'] as { status: string }[];
    assert.deepEqual(
      outcomes.map((outcome) => outcome.status),
      ['accepted', 'accepted', 'accepted'],
    );
    // The 200 came after each was committed: the three are in the store already, read with no wait.
    const { store } = suite.relay.relay;
    assert.deepEqual(await Promise.all(['batch-1', 'batch-2', 'batch-3'].map((id) => store.knowsInbound('intellisoftware', id))), [true, true, true]);
    for (const text of ['batch one', 'batch two', 'batch three']) await mailedText(text);
  });

  test('the same messageid posted twice is a duplicate: one mail', async () => {
    const body = JSON.stringify({ messages: [message('dup-1', '447700900311', 'said once')] });
    assert.equal((await post(PATHS.mo, body)).body['status'], 'accepted');
    const again = await post(PATHS.mo, body);
    assert.equal(again.status, 200);
    assert.equal(again.body['status'], 'duplicate');
    await mailedText('said once');
    assert.equal(mailsWith('said once').length, 1);
  });

  test('a malformed JSON body, one with no messages list, and an unknown msgtype are quarantined with a 200 and why', async () => {
    const before = (await suite.relay.relay.store.listQuarantine(100)).length;
    const broken = await post(PATHS.mo, '{"messages":[{"from":"447700900321",');
    assert.equal(broken.status, 200);
    assert.deepEqual(broken.body, { status: 'quarantined', reason: 'the JSON body does not parse' });
    const notOurs = await post(PATHS.mo, '{"notifications":[]}');
    assert.deepEqual(notOurs.body, { status: 'quarantined', reason: 'the JSON body has no "messages" list' });
    const binary = await post(PATHS.mo, JSON.stringify({ messages: [message('odd-1', '447700900322', 'x', 'vcard')] }));
    assert.equal(binary.body['status'], 'quarantined');
    // The reason names the field, never its value (reasons are logged at warn: the provider contract).
    assert.equal(binary.body['reason'], 'messages[0]: content.msgtype is neither text nor unicode');
    assert.equal((await suite.relay.relay.store.listQuarantine(100)).length, before + 3);
  });

  test('a batch with a binary message (content.ud, no text): the others are taken, the request is kept for that one', async () => {
    const binary = { ...message('mixed-2', '447700900332', ''), content: { msgtype: 'text', ud: '32F40100480E0100' } };
    const body = JSON.stringify({ messages: [message('mixed-1', '447700900331', 'mixed good'), binary] });
    const before = (await suite.relay.relay.store.listQuarantine(100)).length;
    const answer = await post(PATHS.mo, body);
    assert.equal(answer.body['status'], 'accepted');
    assert.deepEqual(answer.body['quarantined'], ['messages[1]: a binary SMS (content.ud): no text to mail']);
    assert.equal((await suite.relay.relay.store.listQuarantine(100)).length, before + 1);
    await mailedText('mixed good');
  });

  test("the status-report page's example verbatim is read (a report of no SMS of the relay's), not quarantined; a malformed one is", async () => {
    const before = (await suite.relay.relay.store.listQuarantine(100)).length;
    const report = await post(PATHS.dr, VENDOR_REPORT);
    assert.equal(report.status, 200);
    assert.notEqual(report.body['status'], 'quarantined', JSON.stringify(report.body));
    assert.equal((await suite.relay.relay.store.listQuarantine(100)).length, before);
    const unknown = await post(PATHS.dr, VENDOR_REPORT.replace('"status_code":4', '"status_code":99'));
    assert.deepEqual(unknown.body, { status: 'quarantined', reason: 'notifications[0]: status_code is missing or not a known status code' });
    // The legacy form's alike: the reason names the field, not what it held.
    const form = await post(PATHS.dr, 'msgid=1234&toaddr=447700900333&status=secret-99', 'application/x-www-form-urlencoded');
    assert.deepEqual(form.body, { status: 'quarantined', reason: 'status is missing or not a known status code' });
  });

  test("a mail's SMS, its JSON delivery reports and the phone's JSON reply: the reply reaches the writer's Maildir", async () => {
    const phone = '447700900341';
    const sent = await sendMail(suite.port, { from: 'alice@example.com', to: [`${phone}@sms.example.com`], subject: 'Pump 3', body: 'Pump 3 stopped' });
    const id = queuedId(sent.data);
    const sms = await waitFor('the SMS', () => suite.gateway.simulator.received.find((entry) => entry.to === phone));
    await waitFor('delivered by the JSON report', async () => (await suite.relay.relay.store.smsOf(id))[0]?.delivery === 'delivered');
    // Recorded once answered, just after the relay committed it: waited for, not read at once.
    const reports = await waitFor('both reports answered', () => {
      const answered = suite.gateway.simulator.webhookPosts.filter((entry) => entry.kind === 'dr' && entry.status === 200 && entry.body.includes(sms.id));
      return answered.length >= 2 ? answered : undefined;
    });
    assert.ok(reports.every((entry) => JSON.parse(entry.body).notifications[0].messageid === sms.id));
    suite.gateway.simulator.sendMo({ from: phone, text: 'Restarting it \u{1F527}' });
    const raw = await waitFor('the reply mail', () => maildirMessages(suite.relay.maildir).find((mail) => mail.includes('To: alice@example.com')));
    const reply = await simpleParser(raw);
    assert.match(reply.text ?? '', /Restarting it \u{1F527}/u);
    const mo = await waitFor('the MO answered', () => suite.gateway.simulator.webhookPosts.find((entry) => entry.kind === 'mo' && entry.status === 200));
    assert.equal(JSON.parse(mo.body).messages[0].content.msgtype, 'unicode');
  });
});
