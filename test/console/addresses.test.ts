/** Mail addresses in the console (findings 5 and 6): masked for viewers, never a reroute to the relay itself, a Test send to a number only. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { v7 as uuidv7 } from 'uuid';
import { hashPassword } from '../../src/policy/passwords.ts';
import { signInAt } from '../helpers/console.ts';
import { removeDir, startTestRelay, type TestRelay } from '../helpers/relay.ts';
import { queuedId, sendMail } from '../helpers/smtp.ts';
import { mail } from '../helpers/store.ts';

const PASSWORD = 'console-pass-123';
/** What a number field says of an address at a domain that is not the relay's SMS domain. */
const ELSEWHERE = (domain: string) =>
  `is an address at ${domain}, not at the relay's SMS domain (sms.localhost): write the number alone, or as <number>@sms.localhost`;
/**
 * What names another recipient beside the number, or another phone than it: refused in Test send and in both searches,
 * naming what was read, since sending (or searching) for the one number read would reach someone else.
 */
const ELSEWHERE_TOO: Record<string, string> = {
  'ops@example.com, <447700900127@sms.localhost>':
    'names more than one address (before the <…>, "ops@example.com," holds an @ or a comma outside quotes): paste one',
  'Ops, on call <447700900127@sms.localhost>': 'names more than one address (before the <…>, "Ops, on call" holds an @ or a comma outside quotes): paste one',
  'mailto:447700900128@sms.localhost?to=447700900129@sms.localhost': 'is a mailto: link that also sends to its to= recipients: write the number alone',
  'mailto:447700900128@sms.localhost?subject=Re&Cc=ops@example.com': 'is a mailto: link that also sends to its cc= recipients: write the number alone',
  'tel:+447700900127;ext=123': 'is a link whose ;ext= names an extension behind the number, another phone than the number alone: write the number alone',
  'tel:7700900127;phone-context=+44':
    'is a link whose ;phone-context= names the context its number is local to, another phone than the number alone: write the number alone',
  'sms:+447700900127;isub=1?body=hi':
    'is a link whose ;isub= names an ISDN subaddress behind the number, another phone than the number alone: write the number alone',
};
/** A number as an operator pastes it from a mail or a link: each is that number, in Test send and in both searches. */
const PASTED = [
  '447700900123@sms.localhost',
  '<447700900123@sms.localhost>',
  '"Ops, on call" <447700900123@SMS.localhost>',
  'Phone <447700900123@sms.localhost>',
  ' <447700900123@sms.localhost> ',
  'mailto:447700900123@sms.localhost?subject=Re',
  'tel:+44-7700-900123',
  'tel:+447700900123;npdi',
  'sms:+447700900123?body=hi',
];

describe('mail addresses in the console', () => {
  let relay: TestRelay;
  let base: string;
  let operator: string;
  let viewer: string;
  /** A mail from a sender whose local part is a number, to a phone that answered it. */
  const messageId = uuidv7();

  const signIn = (name: string) => signInAt(base, name, PASSWORD);
  async function html(path: string, cookie: string): Promise<string> {
    const response = await fetch(`${base}${path}`, { headers: { cookie } });
    assert.equal(response.status, 200, path);
    return response.text();
  }
  /** An operator's form, as a script sends it (JSON answers). */
  async function post(path: string, fields: Record<string, string>) {
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await html('/console/queue', operator))?.[1] ?? assert.fail('no CSRF token');
    const response = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { cookie: operator, accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf, ...fields }),
      redirect: 'manual',
    });
    return { status: response.status, location: response.headers.get('location') ?? '', body: await response.text() };
  }

  before(async () => {
    const hash = await hashPassword(PASSWORD);
    relay = await startTestRelay({
      sms: { defaultRegion: 'GB', domains: ['sms.localhost'] },
      accounts: [{ username: 'erp', passwordHash: hash, senders: ['alerts@erp.example.com', '@erp.example.com'] }],
      console: {
        users: [
          { name: 'olivia', passwordHash: hash, role: 'operator', account: 'erp' },
          { name: 'vic', passwordHash: hash, role: 'viewer' },
        ],
      },
    });
    base = `http://127.0.0.1:${relay.relay.httpPort}`;
    const { store } = relay.relay;
    await store.setDispatchPaused(true, Date.now());
    await store.acceptMail(mail(['+447700900123'], { id: messageId, receivedAt: Date.now() - 60_000, envelopeFrom: '447700900556@erp.example.com' }));
    const route = {
      mailbox: '447700900556@erp.example.com',
      context: undefined,
      messageIdHeader: '<in-1@relay>',
      mail: {
        kind: 'reply' as const,
        messageId: 'in-1',
        envelopeFrom: '447700900123@sms.localhost',
        recipients: ['447700900556@erp.example.com'],
        raw: Buffer.from('x'),
      },
    };
    const inbound = { provider: 'intellisoftware', number: '+447700900123', text: 'answer', sentAt: undefined, userContext: undefined };
    await store.acceptInbound({ ...inbound, id: 'in-1', providerId: 'mo-1', receivedAt: Date.now() - 30_000, route });
    await store.acceptInbound({ ...inbound, id: 'in-2', providerId: 'mo-2', receivedAt: Date.now() - 20_000, route: undefined });
    operator = await signIn('olivia');
    viewer = await signIn('vic');
  });
  after(async () => {
    await relay.stop();
    removeDir(relay.dir);
  });

  test('a viewer sees the number in a sender or mailbox address masked, as the info log masks it; an operator in full', async () => {
    // The viewer opens the conversation from the list: a search by number is an operator's (next test).
    const ref = /href="(\/console\/conversations\/[^"]+)"/.exec(await html('/console/conversations', viewer))?.[1] ?? assert.fail('no conversation listed');
    const pages = ['/console/messages', `/console/messages/${messageId}`, ref, '/console/queue'];
    for (const path of pages) {
      const page = await html(path, viewer);
      assert.ok(!page.includes('447700900556'), `${path}: the sender's number in full`);
      assert.ok(!page.includes('447700900123'), `${path}: the phone's number in full`);
    }
    assert.match(await html(`/console/messages/${messageId}`, viewer), /Accepted from<\/dt><dd>4477\*{6}56@erp\.example\.com at/);
    assert.match(await html(ref, viewer), /reply mailed to 4477\*{6}56@erp\.example\.com/);
    assert.match(await html(`/console/messages/${messageId}`, operator), /Accepted from<\/dt><dd>447700900556@erp\.example\.com at/);
  });

  test('a viewer may not search by a number, nor by a sender holding one (each answer would tell whether a guess is a masked number): 403 saying so, no Number field; an operator may', async () => {
    const refusal = 'viewers see numbers masked and cannot search by one (each answer would tell whether a guess is the masked number): ask an operator';
    for (const [path, field] of [
      ['/console/messages?number=%2B447700900123', 'Number'],
      ['/console/messages?number=%2B447700900199', 'Number'],
      ['/console/conversations?number=%2B447700900123', 'Number'],
      ['/console/messages?sender=447700900556%40erp.example.com', 'Sender: it holds a number;'],
    ] as const) {
      // Found or not, the same answer: nothing to tell the one guess from the other.
      const page = await fetch(`${base}${path}`, { headers: { cookie: viewer } });
      assert.equal(page.status, 403, path);
      const body = await page.text();
      assert.ok(body.includes(`${field} ${refusal}`) || body.includes(`${field}: ${refusal}`), `${path}: ${body}`);
      assert.doesNotMatch(body, /<tr>\s*<td>|\/console\/messages\/[0-9a-f-]{36}/, `${path}: no result listed`);
      const script = await fetch(`${base}${path}`, { headers: { cookie: viewer, accept: 'application/json' } });
      assert.equal(script.status, 403);
      assert.equal(((await script.json()) as { error: string }).error, 'FORBIDDEN');
    }
    for (const path of ['/console/messages', '/console/conversations']) {
      assert.doesNotMatch(await html(path, viewer), /name="number"/, `${path}: no Number field for a viewer`);
      assert.match(await html(path, operator), /name="number"/, `${path}: the operator's Number field`);
    }
    // A sender without a number, and every other field, stay the viewer's.
    assert.match(await html('/console/messages?sender=%40erp.example.com', viewer), new RegExp(`/console/messages/${messageId}`));
    assert.match(await html('/console/messages?number=%2B447700900123', operator), new RegExp(`/console/messages/${messageId}`));
  });

  test("a viewer sees a number in the client's HELO/EHLO name masked (a modem or printer named by its number), as the sender beside it; an operator in full", async () => {
    for (const [helo, shown] of [
      ['phone-447700900777.example', 'phone-4477******77.example'],
      ['+447700900781', '+4477******81'],
    ] as const) {
      const id = queuedId((await sendMail(relay.relay.smtpPort, { to: ['447700900209@sms.localhost'], body: 'from a modem' }, { helo })).data);
      const page = await html(`/console/messages/${id}`, viewer);
      assert.ok(!page.includes(helo.replace(/^\D+/, '').slice(0, 12)), `${helo}: the number in full`);
      assert.match(page, new RegExp(`at 127\\.0\\.0\\.1 \\(${shown.replace(/[+.*]/g, '\\$&')}\\)`), helo);
      assert.ok((await html(`/console/messages/${id}`, operator)).includes(`(${helo})`), `${helo}: the operator's page`);
    }
  });

  test("a reroute to an address at the relay's own SMS domain is refused 400, saying why; a person's address is taken", async () => {
    for (const mailbox of ['447700900123@sms.localhost', 'postmaster@SMS.localhost']) {
      const refused = await post('/console/undeliverable/in-2/reroute', { mailbox });
      assert.equal(refused.status, 400, mailbox);
      assert.deepEqual(JSON.parse(refused.body), {
        error: 'BAD_PARAMETER',
        message: `Reroute to mailbox: "${mailbox}" is at the relay's own SMS domain sms.localhost: a mail there comes back to this relay (texted, or to its postmaster), not to a person; write a person's mail address`,
      });
    }
    assert.equal((await relay.relay.store.undeliverableInboundById('in-2'))?.id, 'in-2', 'still waiting for a mailbox');
    const taken = await post('/console/undeliverable/in-2/reroute', { mailbox: 'ops@example.com' });
    assert.equal(taken.status, 303);
  });

  test('Test send takes a number, or <number>@<SMS domain> as that number; anything else, the postmaster included, is 422 naming what was read', async () => {
    const refusals: Record<string, string> = {
      postmaster: '"postmaster" is not a phone number',
      POSTMASTER: '"POSTMASTER" is not a phone number',
      'postmaster@sms.localhost': '"postmaster" (read from "postmaster@sms.localhost") is not a phone number',
      '+447700900123,+447700900124': '"+447700900123,+447700900124" is not a phone number',
      '447700900123@other.example': `"447700900123@other.example" ${ELSEWHERE('other.example')}`,
      'ops@example.com': `"ops@example.com" ${ELSEWHERE('example.com')}`,
      ...Object.fromEntries(Object.entries(ELSEWHERE_TOO).map(([to, why]) => [to, `"${to}" ${why}`])),
    };
    for (const [to, refusal] of Object.entries(refusals)) {
      const refused = await post('/console/send', { to, text: 'hello' });
      assert.equal(refused.status, 422, to);
      assert.deepEqual(JSON.parse(refused.body), { error: 'BAD_NUMBER', message: `Bad recipient: ${refusal}` }, to);
    }
    const taken = await post('/console/send', { to: '447700900124@sms.localhost', text: 'hello' });
    assert.equal(taken.status, 303);
    assert.match(decodeURIComponent(taken.location.replaceAll('+', ' ')), /done=Test SMS accepted as [0-9a-f-]{36}: 1 part\(s\), gsm7\./);
    const id = /messages\/([0-9a-f-]{36})/.exec(taken.location)?.[1] ?? assert.fail('no message id');
    assert.deepEqual(
      (await relay.relay.store.smsOf(id)).map((sms) => sms.number),
      ['+447700900124'],
    );
  });

  test('Messages and Conversations take a number pasted as Test send takes it (a mail\'s To, <…>, "Name" <…>, a tel:, sms: or mailto: link); others are refused naming what was read', async () => {
    const json = (path: string) => fetch(`${base}${path}`, { headers: { cookie: operator, accept: 'application/json' } });
    for (const number of PASTED) {
      const query = new URLSearchParams({ number }).toString();
      assert.match(await html(`/console/messages?${query}`, operator), new RegExp(`/console/messages/${messageId}`), `Messages: ${number}`);
      assert.match(await html(`/console/conversations?${query}`, operator), /With <strong>\+447700900123<\/strong>/, `Conversations: ${number}`);
    }
    const refused: Record<string, string> = {
      '<ops@example.com>': `Number: "<ops@example.com>" ${ELSEWHERE('example.com')}`,
      '"Ops" <447700900123@other.example>': `Number: ""Ops" <447700900123@other.example>" ${ELSEWHERE('other.example')}`,
      'mailto:ops@example.com': `Number: "mailto:ops@example.com" ${ELSEWHERE('example.com')}`,
      ...Object.fromEntries(Object.entries(ELSEWHERE_TOO).map(([number, why]) => [number, `Number: "${number}" ${why}`])),
    };
    for (const path of ['messages', 'conversations']) {
      for (const [number, message] of Object.entries(refused)) {
        const answer = await json(`/console/${path}?${new URLSearchParams({ number })}`);
        assert.equal(answer.status, 400, `${path}: ${number}`);
        assert.deepEqual(await answer.json(), { error: 'BAD_PARAMETER', message }, `${path}: ${number}`);
      }
      const postmaster = await json(`/console/${path}?${new URLSearchParams({ number: '"Ops" <postmaster@sms.localhost>' })}`);
      assert.equal(postmaster.status, 400);
      assert.match(((await postmaster.json()) as { message: string }).message, /^Number: "postmaster" .*\(read from ""Ops" <postmaster@sms\.localhost>"\)$/);
    }
    for (const to of ['"Ops" <447700900125@sms.localhost>', 'tel:+447700900126']) {
      const taken = await post('/console/send', { to, text: 'hello' });
      assert.equal(taken.status, 303, to);
      const id = /messages\/([0-9a-f-]{36})/.exec(taken.location)?.[1] ?? assert.fail('no message id');
      assert.equal((await relay.relay.store.smsOf(id))[0]?.number, `+${/\d{12}/.exec(to)?.[0]}`, to);
    }
  });
});
