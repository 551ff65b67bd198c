import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { history } from '../../src/admin.ts';
import { STORE_FILE } from '../../src/relay.ts';
import { maildirMessages, removeDir, startTestRelay, type TestRelay, waitFor } from '../helpers/relay.ts';
import { queuedId, sendMail } from '../helpers/smtp.ts';
import { sleep } from '../helpers/wait.ts';

/** The on-call list; its last member texts STOP. */
const MEMBERS = ['447700900601', '447700900602', '447700900603'];
const OPTED_OUT = '447700900603';
/** A UK premium-rate number: policy.premiumBlocklist refuses it for every sender. */
const PREMIUM = '449098790000';

/**
 * A list (or a sendsms@ subject) with a member the relay may not text (opted out, premium-rate): the mail goes to the
 * others, and its sender gets a bounce naming that member, 5.7.1, as a number that opted out after its mail was
 * accepted is bounced. Refused whole at RCPT only when no member is left. Real relay, simulated gateway, real SMTP.
 */
describe('a list with a member the relay may not text', () => {
  let relay: TestRelay;
  const sentTo = (number: string) => relay.relay.simulator?.records.filter((record) => record.to === number) ?? [];
  const bounceOf = (id: string) =>
    waitFor(`the bounce of ${id}`, () => maildirMessages(relay.maildir).find((mail) => mail.includes(`X-SMSRelay-Message-Id: ${id}`)));

  before(async () => {
    relay = await startTestRelay({
      sms: { lists: { 'oncall@sms.localhost': MEMBERS.map((number) => `+${number}`), 'solo@sms.localhost': [`+${OPTED_OUT}`] } },
    });
    relay.relay.simulator?.reply(OPTED_OUT, 'STOP');
    await waitFor('the STOP taken', () => relay.relay.store.isOptedOut(`+${OPTED_OUT}`));
  });
  after(async () => {
    await relay.stop();
    removeDir(relay.dir);
  });

  test('a member that texted STOP: the list is taken, the others are sent, and the bounce names the member with 5.7.1', async () => {
    const sent = await sendMail(relay.relay.smtpPort, { to: ['oncall@sms.localhost'], body: 'Disk full on db1' });
    assert.deepEqual([sent.rcpt.map((reply) => reply.code), sent.data?.code], [[250], 250]);
    const id = queuedId(sent.data);
    for (const number of MEMBERS.slice(0, 2)) await waitFor(`the SMS to ${number}`, () => sentTo(number).length > 0);
    const bounce = (await bounceOf(id)).replace(/=\r?\n/g, '');
    // The sender wrote the list, not the member's number: masked, as RCPT's refusal of it would be.
    assert.match(bounce, /\+4477\*{6}03 \(via oncall@sms\.localhost\)/);
    assert.match(bounce, /Final-Recipient: rfc822; 4477\*{6}03@sms\.localhost/);
    assert.doesNotMatch(bounce, /7700 ?900 ?603/);
    assert.match(bounce, /Status: 5\.7\.1/);
    assert.match(bounce, /Diagnostic-Code: X-SMS; POLICY_DENIED \(not sent: Recipient refused: \+4477\*{6}03 has opted out/);
    await sleep(300);
    assert.equal(sentTo(OPTED_OUT).length, 0, 'the gateway never got the SMS');
  });

  test('the refused member is kept as a failed SMS with its reason, its bounce queued with the mail: smsrelay log names it', async () => {
    const sent = await sendMail(relay.relay.smtpPort, { to: ['oncall@sms.localhost'], body: 'Disk full on db4' });
    const id = queuedId(sent.data);
    const log = await history(relay.relay.store, id, Date.now());
    assert.match(log, /\+447700900603: failed, 0 attempts/);
    assert.match(log, /\+447700900603: refused: oncall@sms\.localhost -> \+447700900603: not sent: Recipient refused: \+4477\*{6}03 has opted out/);
    await bounceOf(id);
  });

  test('a resubmitted mail (its client lost the 250) bounces the refused member once', async () => {
    const mail = { to: ['oncall@sms.localhost'], body: 'Disk full on db5', headers: { 'Message-ID': '<resubmitted-list@example.com>' } };
    const first = await sendMail(relay.relay.smtpPort, mail);
    const again = await sendMail(relay.relay.smtpPort, mail);
    assert.match(again.data?.text ?? '', /the same mail as/);
    const id = queuedId(first.data);
    await bounceOf(id);
    await sleep(500);
    const bounces = maildirMessages(relay.maildir).filter((message) => message.includes('In-Reply-To: <resubmitted-list@example.com>'));
    assert.equal(bounces.length, 1, 'one bounce, of the first');
    assert.doesNotMatch(await history(relay.relay.store, queuedId(again.data), Date.now()), /refused|bounce queued/);
  });

  test('a bounce the store cannot queue fails the mail with it: 4xx, nothing sent, nothing lost after a 250', async () => {
    const db = new BetterSqlite3(join(relay.config.dataDir, STORE_FILE));
    db.exec("CREATE TRIGGER fail_bounce BEFORE INSERT ON mail_out WHEN NEW.kind = 'bounce' BEGIN SELECT RAISE(ABORT, 'no bounce'); END");
    try {
      const sent = await sendMail(relay.relay.smtpPort, { to: ['oncall@sms.localhost'], body: 'Disk full on db6' });
      assert.equal(Math.floor((sent.data?.code ?? 0) / 100), 4, sent.data?.text);
    } finally {
      db.exec('DROP TRIGGER fail_bounce');
      db.close();
    }
    await sleep(500);
    assert.equal(relay.relay.simulator?.records.filter((record) => record.text === 'Disk full on db6').length, 0, 'no member texted');
  });

  test('a member also named by a RCPT of its own gets that 550 only: the mail to the list neither bounces nor stores it again', async () => {
    const sent = await sendMail(relay.relay.smtpPort, { to: [`${OPTED_OUT}@sms.localhost`, 'oncall@sms.localhost'], body: 'Disk full on db7' });
    assert.deepEqual([sent.rcpt.map((reply) => reply.code), sent.data?.code], [[550, 250], 250]);
    const id = queuedId(sent.data);
    for (const number of MEMBERS.slice(0, 2)) await waitFor(`the SMS to ${number}`, () => sentTo(number).some((record) => record.text === 'Disk full on db7'));
    await sleep(500);
    assert.equal(maildirMessages(relay.maildir).filter((mail) => mail.includes(`X-SMSRelay-Message-Id: ${id}`)).length, 0, 'no bounce');
    assert.doesNotMatch(await history(relay.relay.store, id, Date.now()), /refused/);
  });

  test("every report of a list's members masks them, as the bounce at acceptance does; a number the sender wrote is shown whole", async () => {
    const reportOf = (id: string) =>
      waitFor(`the report of ${id}`, () =>
        maildirMessages(relay.maildir).find((mail) => mail.includes(`X-SMSRelay-Message-Id: ${id}`) && mail.includes('Action: relayed')),
      );
    const viaList = await sendMail(relay.relay.smtpPort, { to: ['oncall@sms.localhost'], body: 'Disk full on db5', rcptParams: 'NOTIFY=SUCCESS,FAILURE' });
    const listed = (await reportOf(queuedId(viaList.data))).replace(/=\r?\n/g, '');
    assert.match(listed, /Final-Recipient: rfc822; 4477\*{6}01@sms\.localhost/);
    assert.match(listed, /Final-Recipient: rfc822; 4477\*{6}02@sms\.localhost/);
    assert.doesNotMatch(listed, /7700 ?900 ?60[12]/);
    const own = await sendMail(relay.relay.smtpPort, { to: [`${MEMBERS[0]}@sms.localhost`], body: 'Disk full on db6', rcptParams: 'NOTIFY=SUCCESS,FAILURE' });
    const written = (await reportOf(queuedId(own.data))).replace(/=\r?\n/g, '');
    assert.match(written, /Final-Recipient: rfc822; 447700900601@sms\.localhost/);
  });

  test('a list whose every member is refused is refused at RCPT, as one number is', async () => {
    const sent = await sendMail(relay.relay.smtpPort, { to: ['solo@sms.localhost'], body: 'x' });
    assert.equal(sent.rcpt[0]?.code, 550);
    assert.match(sent.rcpt[0]?.text ?? '', /^5\.7\.1 Recipient refused: \+4477\*{6}03 has opted out/);
  });

  test('a sendsms@ subject naming a premium-rate number among others: the others are sent, the premium one bounced, named whole as the sender wrote it', async () => {
    const sent = await sendMail(relay.relay.smtpPort, { to: ['sendsms@sms.localhost'], subject: `To:447700900604,+${PREMIUM}`, body: 'Pump 3 stopped' });
    assert.equal(sent.data?.code, 250, sent.data?.text);
    await waitFor('the SMS to 447700900604', () => sentTo('447700900604').length > 0);
    const bounce = (await bounceOf(queuedId(sent.data))).replace(/=\r?\n/g, '');
    assert.match(bounce, /Status: 5\.7\.1/);
    // The sender wrote the number in its subject, as at RCPT: its reason names it whole, as its listing does.
    assert.match(bounce, /POLICY_DENIED \(not sent: Recipient refused: \+449098790000 is a premium-rate number/);
    assert.match(bounce, /\+44 909 879 0000\b|\+44 90 9879 0000|Final-Recipient: rfc822; 449098790000@/, 'a number the sender wrote is shown whole');
    const alone = await sendMail(relay.relay.smtpPort, { to: ['sendsms@sms.localhost'], subject: `To:+${PREMIUM}`, body: 'x' });
    assert.equal(alone.data?.code, 550, 'a subject whose every number is refused is refused whole');
    assert.equal(alone.data?.text, '5.7.1 Recipient refused: +449098790000 is a premium-rate number; this relay does not text those');
    const optedOut = await sendMail(relay.relay.smtpPort, { to: ['sendsms@sms.localhost'], subject: `To:${OPTED_OUT}`, body: 'x' });
    assert.match(optedOut.data?.text ?? '', /^5\.7\.1 Recipient refused: \+447700900603 has opted out of SMS from this relay/);
  });
});
