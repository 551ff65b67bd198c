/** The console's pages over real HTTP against a relay on loopback: what they list, page by page, and what they say. */
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeHTML } from 'entities';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { hashPassword } from '../../src/policy/passwords.ts';
import { signInAt, signinFormAt } from '../helpers/console.ts';
import { describeOnPostgres } from '../helpers/postgres.ts';
import { postgresProxy } from '../helpers/postgres-proxy.ts';
import { removeDir, startTestRelay, type TestRelay, waitFor } from '../helpers/relay.ts';
import { SmtpSink } from '../helpers/smtp-sink.ts';
import { mail } from '../helpers/store.ts';
import { textTo } from '../helpers/smtp.ts';

const PASSWORD = 'correct horse battery';
/** Rows a page of the console shows. */
const PAGE = 50;
/** More than two pages, not a multiple of a page: the last page is short. */
const QUEUED = 120;
/** More than a page of each; replies in pairs received in the same millisecond, a page boundary falling between a pair. */
const UNDELIVERABLE = 61;
const QUARANTINED = 55;

/** A queue form posted as the page posts it, signed in with `cookie`: the answer, its redirect not followed. */
function postQueue(base: string, cookie: string, form: Record<string, string>): Promise<Response> {
  return fetch(`${base}/console/queue`, {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form),
    redirect: 'manual',
  });
}

describe('console pages', () => {
  let relay: TestRelay;
  let base: string;
  let operator: string;

  const signinForm = () => signinFormAt(base);
  const signIn = (name: string) => signInAt(base, name, PASSWORD);

  async function html(path: string, cookie = operator): Promise<string> {
    const response = await fetch(`${base}${path}`, { headers: { cookie } });
    assert.equal(response.status, 200, path);
    return response.text();
  }

  /** An operator's queue form sent as the page sends it (its token, then the POST): the notice of the page it leads to. */
  async function queueNotice(form: Record<string, string>): Promise<string | undefined> {
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await html('/console/queue'))?.[1] ?? assert.fail('no CSRF token');
    const response = await postQueue(base, operator, { _csrf: csrf, ...form });
    assert.equal(response.status, 303);
    return /<p class="notice" role="status">([^<]*)<\/p>/.exec(await html(response.headers.get('location') ?? ''))?.[1];
  }

  /** The target of the page's link that reads `label`. */
  function link(page: string, label: string): string | undefined {
    for (const [, href, text] of page.matchAll(/<a href="([^"]*)">([^<]*)<\/a>/g)) if (text === label) return href?.replaceAll('&amp;', '&');
    return undefined;
  }

  before(async () => {
    const hash = await hashPassword(PASSWORD);
    relay = await startTestRelay({
      sms: { defaultRegion: 'GB' },
      // A setting that holds a number (no test texts it): the viewer's Settings masks it, as any number.
      policy: { blockedPrefixes: ['+4477009009999'] },
      console: {
        users: [
          { name: 'olivia', passwordHash: hash, role: 'operator' },
          { name: 'victor', passwordHash: hash, role: 'viewer' },
        ],
      },
    });
    base = `http://127.0.0.1:${relay.relay.httpPort}`;
    // Paused: the SMS stay queued while the pages list them.
    await relay.relay.store.setDispatchPaused(true, Date.now());
    for (let index = 0; index < QUEUED; index++) {
      const number = `+447700900${String(index).padStart(3, '0')}`;
      // Exactly two pages of messages from one sender.
      const envelopeFrom = index < 2 * PAGE ? 'twopages@example.com' : 'alice@example.com';
      await relay.relay.store.acceptMail(mail([number], { id: uuidv7(), receivedAt: Date.now() - (QUEUED - index) * 1000, envelopeFrom }));
    }
    // From the queued SMS' numbers and older than their mails: the conversations list as before.
    for (let index = 0; index < UNDELIVERABLE; index++) {
      const number = `+447700900${String(index).padStart(3, '0')}`;
      const sms = { provider: 'intellisoftware', providerId: `mo-${index}`, number, text: `reply ${index}`, sentAt: undefined, userContext: undefined };
      await relay.relay.store.acceptInbound({ ...sms, id: uuidv7(), receivedAt: Date.now() - 1_000_000 + Math.floor(index / 2), route: undefined });
    }
    for (let index = 0; index < QUARANTINED; index++) {
      await relay.relay.store.quarantine({
        receivedAt: Date.now(),
        provider: 'intellisoftware',
        kind: 'mo',
        reason: `unreadable ${index}`,
        body: Buffer.from('{'),
      });
    }
    operator = await signIn('olivia');
  });
  after(async () => {
    await relay.stop();
    removeDir(relay.dir);
  });

  test('the queue page gives the total and pages through every queued SMS, 50 at a time', async () => {
    const seen: string[] = [];
    let path: string | undefined = '/console/queue';
    const pages: number[] = [];
    while (path) {
      const page = await html(path);
      assert.match(page, new RegExp(`${QUEUED} queued SMS, 0 of them held`));
      const rows = [...page.matchAll(/<input type="hidden" name="target" value="([0-9a-f-]{36})">/g)].map((found) => found[1] ?? '');
      pages.push(rows.length);
      seen.push(...rows);
      path = link(page, 'Next queued SMS');
      if (pages.length > 1) assert.ok(link(page, 'Oldest queued SMS'), 'a later page leads back to the first');
    }
    assert.deepEqual(pages, [50, 50, 20]);
    assert.equal(new Set(seen).size, QUEUED, 'each SMS once');
  });

  test('the queue page gives the totals of replies without a mailbox and quarantined requests and pages each on its own', async () => {
    const replies = (page: string) => [...page.matchAll(/<span class="text clip">reply (\d+)<\/span>/g)].map((found) => Number(found[1]));
    const requests = (page: string) => [...page.matchAll(/<a href="\/console\/quarantine\/\d+">Request (\d+)<\/a>/g)].map((found) => Number(found[1]));
    const first = await html('/console/queue');
    assert.match(first, new RegExp(`${UNDELIVERABLE} replies without a mailbox, newest first\\.`));
    assert.match(first, new RegExp(`${QUARANTINED} quarantined requests, oldest first\\.`));
    assert.equal(replies(first).length, PAGE);
    assert.equal(requests(first).length, PAGE);

    const olderReplies = await html(link(first, 'Older replies without a mailbox') ?? assert.fail('no second page of replies'));
    assert.match(olderReplies, /newest first, a later page\./);
    assert.equal(link(olderReplies, 'Older replies without a mailbox'), undefined, 'no link to an empty page');
    const seenReplies = [...replies(first), ...replies(olderReplies)];
    assert.equal(new Set(seenReplies).size, UNDELIVERABLE, 'each reply once, a pair in one millisecond split across pages alike');
    assert.equal(seenReplies[0], UNDELIVERABLE - 1, 'newest first');

    // The quarantine's next page keeps the replies on theirs, and its way back leaves them there too.
    const nextRequests = await html(link(olderReplies, 'Next quarantined requests') ?? assert.fail('no second page of requests'));
    assert.deepEqual(replies(nextRequests), replies(olderReplies));
    assert.equal(link(nextRequests, 'Next quarantined requests'), undefined);
    assert.equal(new Set([...requests(first), ...requests(nextRequests)]).size, QUARANTINED, 'each request once');
    assert.equal(requests(nextRequests).length, QUARANTINED - PAGE);
    const back = await html(link(nextRequests, 'Oldest quarantined requests') ?? assert.fail('no way back'));
    assert.deepEqual(requests(back), requests(first));
    assert.deepEqual(replies(back), replies(olderReplies));
    assert.deepEqual(replies(await html(link(back, 'Newest replies without a mailbox') ?? assert.fail('no way back'))), replies(first));

    for (const position of ['replies=nonsense', 'quarantine=-1']) {
      const response = await fetch(`${base}/console/queue?${position}`, { headers: { cookie: operator } });
      assert.equal(response.status, 400, position);
    }
  });

  test('a retry of a held SMS from the queue page says it is held, and neither counts nor records a retry', async () => {
    const queue = await html('/console/queue');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(queue)?.[1] ?? assert.fail('no CSRF token');
    const targets = [...queue.matchAll(/name="target" value="([0-9a-f-]{36})"/g)];
    const id = targets.at(-1)?.[1] ?? assert.fail('no queued SMS');
    const act = async (action: string) => {
      const response = await fetch(`${base}/console/queue`, {
        method: 'POST',
        headers: { cookie: operator, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: csrf, action, target: id }),
        redirect: 'manual',
      });
      assert.equal(response.status, 303);
      return /<p class="notice" role="status">([^<]*)<\/p>/.exec(await html(response.headers.get('location') ?? ''))?.[1];
    };
    assert.equal(await act('hold'), 'hold: 1 queued SMS changed');
    assert.equal(await act('retry'), 'retry: 0 queued SMS changed; 1 held: release it first');
    assert.ok(!(await relay.relay.store.events(id)).some((event) => event.kind === 'operator retry'), 'no retry in its history');
    assert.ok((await relay.relay.store.smsOf(id)).every((sms) => sms.status === 'queued' && sms.held));
  });

  test('an action on what is gone (deleted, rerouted, unknown) is a 404 saying so, leading back to the queue, not to CLI commands', async () => {
    const queue = await html('/console/queue');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(queue)?.[1] ?? assert.fail('no CSRF token');
    const request = /href="\/console\/quarantine\/(\d+)"/.exec(queue)?.[1] ?? assert.fail('no quarantined request');
    const reply = /action="\/console\/undeliverable\/([^/"]+)\/reroute"/.exec(queue)?.[1] ?? assert.fail('no reply without a mailbox');
    const post = (path: string, form: Record<string, string>, accept = 'text/html') =>
      fetch(`${base}${path}`, {
        method: 'POST',
        headers: { cookie: operator, 'content-type': 'application/x-www-form-urlencoded', accept },
        body: new URLSearchParams({ _csrf: csrf, ...form }),
        redirect: 'manual',
      });
    assert.equal((await post(`/console/quarantine/${request}/delete`, {})).status, 303);
    assert.equal((await post(`/console/undeliverable/${reply}/reroute`, { mailbox: 'ops@example.com' })).status, 303);
    // Rerouted already: where its mail went, not "no such SMS".
    const again = await post(`/console/undeliverable/${reply}/reroute`, { mailbox: 'ops@example.com' });
    assert.equal(again.status, 409);
    assert.match(await again.text(), /is not undeliverable: its mail goes to ops@example\.com \(queued .*\), rerouted there already/);
    const gone: Array<[string, Record<string, string>, RegExp]> = [
      [`/console/quarantine/${request}/delete`, {}, new RegExp(`There is no quarantined request with id ${request} any more`)],
      // Messages are never deleted: an id found nowhere never named one, and the words say so.
      ['/console/queue', { action: 'retry', target: uuidv7() }, /There is no message with id [0-9a-f-]{36}: no such id was ever kept\./],
      ['/console/quarantine/nonsense/delete', {}, /There is no quarantined request with id nonsense any more: it was probably handled by someone else/],
    ];
    for (const [path, form, said] of gone) {
      const response = await post(path, form);
      assert.equal(response.status, 404, path);
      const page = await response.text();
      assert.match(page, said, path);
      assert.match(page, /<a href="\/console\/queue">Back to the queue<\/a>/, path);
      assert.doesNotMatch(page, /smsrelay (queue|quarantine|undeliverable)/, `${path}: no CLI command`);
      const json = await post(path, form, 'application/json');
      assert.equal(json.status, 404, path);
      assert.equal(((await json.json()) as { error: string }).error, 'NOT_FOUND', path);
    }
  });

  test('an action that changed nothing joins no timeline and no audit', async () => {
    const queue = await html('/console/queue');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(queue)?.[1] ?? assert.fail('no CSRF token');
    const id = /name="target" value="([0-9a-f-]{36})"/.exec(queue)?.[1] ?? assert.fail('no queued SMS');
    const send = (action: string) =>
      fetch(`${base}/console/queue`, {
        method: 'POST',
        headers: { cookie: operator, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: csrf, action, target: id, back: `/console/messages/${id}` }),
        redirect: 'manual',
      });
    const act = async (action: string) => {
      const response = await send(action);
      assert.equal(response.status, 303);
      return /<p class="notice" role="status">([^<]*)<\/p>/.exec(await html(response.headers.get('location') ?? ''))?.[1];
    };
    assert.equal(await act('delete'), 'delete: 1 queued SMS changed');
    // Its SMS no longer queued: no action changes it, and the answer says why (409), not "0 changed".
    for (const action of ['retry', 'delete']) {
      const response = await send(action);
      assert.equal(response.status, 409, action);
      const page = await response.text();
      assert.match(page, new RegExp(`${action}: nothing to ${action}: its SMS is no longer queued: 1 deleted from the queue`), action);
      assert.match(page, new RegExp(`<a href="/console/messages/${id}">Back to the message</a>`), `${action}: back to the page it was sent from`);
    }
    // A crafted action is named as the form's field, not in the CLI's words.
    const crafted = await send('explode');
    assert.equal(crafted.status, 400);
    const refusal = await crafted.text();
    assert.match(refusal, /Action: expected one of pause, resume, retry, hold, release, delete/);
    assert.doesNotMatch(refusal, /queue command/);
    const timeline = await html(`/console/messages/${id}`);
    assert.equal([...timeline.matchAll(/<strong>operator delete<\/strong>: by olivia from 127\.0\.0\.1/g)].length, 1, 'the delete that deleted, once, by whom');
    assert.doesNotMatch(timeline, /console queue|operator retry/);
    const audit = await html('/console/settings');
    assert.equal([...audit.matchAll(new RegExp(`queue (retry|delete)[^\n]*${id}`, 'g'))].length, 1, 'one action in the audit');
  });

  test('the conversations page gives the total and pages through every number, 50 at a time', async () => {
    const seen: string[] = [];
    let path: string | undefined = '/console/conversations';
    const pages: number[] = [];
    while (path) {
      const page = await html(path);
      assert.match(page, new RegExp(`${QUEUED} numbers in the latest 500 SMS sent`));
      const numbers = [...page.matchAll(/<a href="\/console\/conversations\/[^"]+">([^<]+)<\/a>/g)].map((found) => found[1] ?? '');
      pages.push(numbers.length);
      seen.push(...numbers);
      path = link(page, 'Older conversations');
    }
    assert.deepEqual(pages, [50, 50, 20]);
    assert.equal(new Set(seen).size, QUEUED, 'each number once');
    assert.equal(seen[0], '+447700900119', 'newest first');
  });

  test('a conversation pages through every mail and reply, 50 at a time, by number or by its ref; one with no traffic says so', async () => {
    const number = '+447700900150';
    const now = Date.now();
    for (let index = 0; index < 110; index++) {
      await relay.relay.store.acceptMail(
        mail([number], { id: uuidv7(), receivedAt: now - 200_000 + index * 1_000, sms: { ...mail([]).sms, text: `thread msg ${index + 1}` } }),
      );
    }
    const sms = { provider: 'intellisoftware', number, sentAt: undefined, userContext: undefined };
    await relay.relay.store.acceptInbound({ ...sms, providerId: 'T150', id: uuidv7(), text: 'thread reply', receivedAt: now - 150_000, route: undefined });
    const texts: string[] = [];
    const pages: number[] = [];
    let path: string | undefined = '/console/conversations?number=07700900150';
    while (path) {
      const page = await html(path);
      pages.push(0);
      for (const [, text] of page.matchAll(/<p class="text">([^<]+)<\/p>/g)) {
        texts.push(text ?? '');
        pages[pages.length - 1] = (pages.at(-1) ?? 0) + 1;
      }
      if (pages.length > 1) assert.ok(link(page, 'Newest'), 'a later page links the newest');
      path = link(page, 'Older mails and replies');
      if (path) assert.match(path, /^\/console\/conversations\?number=07700900150&before=/, 'the number as asked, and the position');
    }
    assert.deepEqual(pages, [50, 50, 11]);
    assert.equal(new Set(texts).size, 111, 'each mail and reply once');
    assert.equal(texts[0], 'thread msg 110', 'newest first');
    assert.equal(texts.at(-1), 'thread msg 1', 'down to the first mail');
    const nothing = await html('/console/conversations?number=07700900777');
    assert.match(nothing, /No mails or replies with this number\./);
    const beyond = await html('/console/conversations?number=07700900150&before=m1r1_x');
    assert.match(beyond, /<p>No older mails or replies with this number\.<\/p>/);
    assert.match(beyond, /newest first, 50 a page, a later page\./);
    const bad = await fetch(`${base}/console/conversations?number=07700900150&before=12_x9`, { headers: { cookie: operator, accept: 'application/json' } });
    assert.equal(bad.status, 400);
    assert.deepEqual(await bad.json(), { error: 'BAD_PARAMETER', message: 'Page: not a position in the conversation; start again' });
  });

  test('a notice shows only when the console issued it for this session: ?done= from a link is not shown', async () => {
    const spoofed = await html('/console/queue?done=Your+password+expired%3A+sign+in+at+evil.example');
    assert.doesNotMatch(spoofed, /evil\.example/);
    assert.doesNotMatch(spoofed, /role="status"/);
    const queue = await html('/console/queue');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(queue)?.[1] ?? assert.fail('no CSRF token');
    const target = /name="target" value="([0-9a-f-]{36})"/.exec(queue)?.[1] ?? assert.fail('no queued SMS');
    const acted = await fetch(`${base}/console/queue`, {
      method: 'POST',
      headers: { cookie: operator, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf, action: 'retry', target }),
      redirect: 'manual',
    });
    assert.equal(acted.status, 303);
    const location = acted.headers.get('location') ?? '';
    // Dispatch is paused in this suite: the retry says the SMS, due already, still waits for "Resume dispatch".
    assert.match(
      await html(location),
      /<p class="notice" role="status">retry: 0 queued SMS changed; 1 due already, not retried: the next claim takes it\ndispatch paused: it stays queued until &quot;Resume dispatch&quot;</,
    );
    const otherSession = await signIn('olivia');
    assert.doesNotMatch(await html(location, otherSession), /role="status"/, "another session's link shows no notice");
    const altered = location.replace(/done=[^&]*/, 'done=All+SMS+deleted');
    assert.doesNotMatch(await html(altered), /All SMS deleted/);
  });

  test("a message's page shows its own buttons' notices, a held SMS as held, and only the buttons that apply", async () => {
    const queue = await html('/console/queue');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(queue)?.[1] ?? assert.fail('no CSRF token');
    const id = /name="target" value="([0-9a-f-]{36})"/.exec(queue)?.[1] ?? assert.fail('no queued SMS');
    const buttons = (page: string) => [...page.matchAll(/<button name="action" value="(\w+)">/g)].map((found) => found[1]);
    assert.deepEqual(buttons(await html(`/console/messages/${id}`)), ['hold', 'delete'], 'no Retry: its SMS is due already');
    const held = await postQueue(base, operator, { _csrf: csrf, action: 'hold', target: id, back: `/console/messages/${id}` });
    assert.equal(held.status, 303);
    const location = held.headers.get('location') ?? '';
    assert.ok(location.startsWith(`/console/messages/${id}?`), location);
    const page = await html(location);
    assert.match(page, /<p class="notice" role="status">hold: 1 queued SMS changed<\/p>/);
    assert.match(page, /<td class="whole">queued \(held\)<\/td>/);
    assert.deepEqual(buttons(page), ['release', 'delete'], 'no Hold (it is held) and no Retry (held SMS are not sent)');
  });

  test('the message page of a mail the alert-storm window folded links the earlier mail whose SMS stands for it', async () => {
    const earlier = uuidv7();
    await relay.relay.store.acceptMail(mail(['+447700900304'], { id: earlier, receivedAt: Date.now() }));
    const [sms] = await relay.relay.store.smsOf(earlier);
    const repeat = uuidv7();
    const [recipient] = mail(['+447700900304']).recipients;
    await relay.relay.store.acceptMail(
      mail([], { id: repeat, receivedAt: Date.now(), folded: recipient ? [{ ...recipient, earlier, earlierSms: sms?.smsId ?? 0 }] : [] }),
    );
    const page = await html(`/console/messages/${repeat}`);
    assert.equal(link(page, earlier), `/console/messages/${earlier}`);
    assert.match(decodeHTML(page), /<strong>folded<\/strong>: 447700900304@sms\.localhost -> \+447700900304: the same alert as /);
    assert.equal(link(await html(`/console/messages/${earlier}`), repeat), undefined, 'the earlier page names the repeat in its timeline, as text');
  });

  test("a message to several numbers: each line of an SMS's history names its number, masked for a viewer", async () => {
    const id = uuidv7();
    await relay.relay.store.acceptMail(mail(['+447700900301', '+447700900302'], { id, receivedAt: Date.now() }));
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await html('/console/queue'))?.[1] ?? assert.fail('no CSRF token');
    const held = await fetch(`${base}/console/queue`, {
      method: 'POST',
      headers: { cookie: operator, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf, action: 'hold', target: id }),
      redirect: 'manual',
    });
    assert.equal(held.status, 303);
    const lines = (page: string) => [...page.matchAll(/<strong>operator hold<\/strong>([^<]*)<\/li>/g)].map((line) => line[1]);
    assert.deepEqual(lines(await html(`/console/messages/${id}`)), [
      ' (+447700900301): by olivia from 127.0.0.1',
      ' (+447700900302): by olivia from 127.0.0.1',
    ]);
    assert.deepEqual(lines(await html(`/console/messages/${id}`, await signIn('victor'))), [
      ' (+4477******01): by olivia from 127.0.0.1',
      ' (+4477******02): by olivia from 127.0.0.1',
    ]);
    // To one number, its lines name none: the SMS table above says it.
    const single = uuidv7();
    await relay.relay.store.acceptMail(mail(['+447700900303'], { id: single, receivedAt: Date.now() }));
    await relay.relay.store.applyQueueAction('hold', single, Date.now(), 'by olivia from 127.0.0.1');
    assert.deepEqual(lines(await html(`/console/messages/${single}`)), [': by olivia from 127.0.0.1']);
  });

  test('the message page: a held SMS deleted is "deleted", not held nor failed, and Messages lists and finds it so; a scheduled SMS gets no "Retry now", nor one whose send time passed (due already); an SMS reported failed is "failed", as Messages lists it', async () => {
    const status = (page: string) => /<tr><td class="whole">[^<]*<\/td><td class="whole">([^<]*)<\/td>/.exec(page)?.[1];
    const deleted = uuidv7();
    await relay.relay.store.acceptMail(mail(['+447700900421'], { id: deleted, receivedAt: Date.now() }));
    await relay.relay.store.applyQueueAction('hold', deleted, Date.now(), 'by olivia from 127.0.0.1');
    await relay.relay.store.applyQueueAction('delete', deleted, Date.now(), 'by olivia from 127.0.0.1');
    const deletedPage = await html(`/console/messages/${deleted}`);
    assert.equal(status(deletedPage), 'deleted');
    assert.doesNotMatch(deletedPage, /<td>deleted from the queue by the operator<\/td>/, 'the state says it, not a last error');
    const found = await html('/console/messages?number=07700900421&status=deleted');
    assert.match(found, new RegExp(`${deleted}[^]*<td class="whole">deleted</td>`));
    assert.doesNotMatch(await html('/console/messages?number=07700900421&status=failed'), new RegExp(deleted));

    const scheduled = uuidv7();
    const sendAt = Date.now() + 86_400_000;
    await relay.relay.store.acceptMail(mail(['+447700900422'], { id: scheduled, receivedAt: Date.now(), sendAt, holdUntilSendAt: true }));
    const page = await html(`/console/messages/${scheduled}`);
    assert.match(status(page) ?? '', /^queued, scheduled for /);
    assert.doesNotMatch(page, />Retry now</, 'a retry would leave it until its time');
    assert.match(page, />Hold</);
    // Gone again: the scheduled SMS test counts the queue's scheduled ones.
    await relay.relay.store.applyQueueAction('delete', scheduled, Date.now(), 'by olivia from 127.0.0.1');

    // Its X-SMS-Send-At passed, never tried yet (dispatch is paused): due like any other, no longer scheduled.
    const due = uuidv7();
    await relay.relay.store.acceptMail(
      mail(['+447700900423'], { id: due, receivedAt: Date.now() - 120_000, sendAt: Date.now() - 60_000, holdUntilSendAt: true }),
    );
    const duePage = await html(`/console/messages/${due}`);
    assert.equal(status(duePage), 'queued', 'not "scheduled for" a time gone');
    assert.doesNotMatch(duePage, />Retry now</, 'due already: a retry would change nothing');
    await relay.relay.store.applyQueueAction('delete', due, Date.now(), 'by olivia from 127.0.0.1');

    const reported = uuidv7();
    await relay.relay.store.acceptMail(mail(['+447700900667'], { id: reported, receivedAt: Date.now() }));
    const [sms] = await relay.relay.store.smsOf(reported);
    await relay.relay.store.recordSmsOutcomes([{ smsId: sms?.smsId ?? assert.fail('no SMS'), kind: 'sent', providerId: 'F667' }]);
    await relay.relay.store.applyDeliveryReport({
      provider: 'intellisoftware',
      providerId: 'F667',
      number: '+447700900667',
      code: 5,
      state: 'failed',
      receivedAt: Date.now(),
    });
    assert.equal(status(await html(`/console/messages/${reported}`)), 'failed');
    assert.match(await html('/console/messages?number=07700900667&status=failed'), new RegExp(reported));
  });

  test("a resubmission is listed to its original's numbers as a resubmission, and found by them and by that status; a mail by its own Message-ID", async () => {
    const original = uuidv7();
    const resent = uuidv7();
    const again = { fingerprint: 'dup-431', since: 0 };
    for (const id of [original, resent]) {
      await relay.relay.store.acceptMail(
        mail(['+447700900431'], { id, receivedAt: Date.now(), messageIdHeader: '<dup-431@example.com>', resubmission: again }),
      );
    }
    const row = (page: string, id: string) =>
      new RegExp(`<tr>\\s*<td><a href="/console/messages/${id}">[^]*?</tr>`).exec(page)?.[0] ?? assert.fail(`no row ${id}`);
    const byNumber = await html('/console/messages?number=07700900431');
    assert.match(row(byNumber, resent), /<span class="whole">\+447700900431<\/span>/, "To: its original's number");
    assert.match(row(byNumber, resent), new RegExp(`resubmission \\(sent once, as <a href="/console/messages/${original}">its original</a>\\)`));
    assert.match(row(byNumber, original), /<td class="whole">queued<\/td>/);
    const resubmissions = await html('/console/messages?status=resubmission');
    assert.match(resubmissions, new RegExp(resent));
    assert.doesNotMatch(resubmissions, new RegExp(`messages/${original}">[0-9]`), 'the original sent its SMS');
    assert.match(await html('/console/messages'), /<option>resubmission<\/option>/);

    for (const written of ['<dup-431@example.com>', ' dup-431@example.com ']) {
      const found = await html(`/console/messages?${new URLSearchParams({ id: written })}`);
      assert.deepEqual(
        [...found.matchAll(/<tr>\s*<td><a href="\/console\/messages\/([0-9a-f-]{36})">/g)].map((match) => match[1]),
        [resent, original],
        written,
      );
    }
    const refused = await fetch(`${base}/console/messages?id=not-an-id`, { headers: { cookie: operator } });
    assert.equal(refused.status, 400);
    assert.match(await refused.text(), /Message id: expected a relay message id such as [^<]*, or a mail’s Message-ID such as &lt;abc@example.com&gt;/);

    const originalPage = await html(`/console/messages/${original}`);
    assert.match(originalPage, /<dt>Message-ID<\/dt><dd class="text">&lt;dup-431@example.com&gt;<\/dd>/);
    const resentPage = await html(`/console/messages/${resent}`);
    assert.match(
      resentPage,
      new RegExp(`sent once, as <a href="/console/messages/${original}">${original}</a>, to <span class="whole">\\+447700900431</span>`),
    );
    assert.doesNotMatch(resentPage, /aria-label="SMS of this message"/, 'no empty SMS table');
    await relay.relay.store.applyQueueAction('delete', original, Date.now(), 'by olivia from 127.0.0.1');
  });

  test('a day its month does not have is refused, naming the field; a leap day in a leap year is a day', async () => {
    const refused = async (query: string) => {
      const response = await fetch(`${base}/console/messages?${query}`, { headers: { cookie: operator } });
      assert.equal(response.status, 400, query);
      return /<p class="error" role="alert">([^<]*)<\/p>/.exec(await response.text())?.[1];
    };
    assert.equal(await refused('since=2026-02-30T00:00'), 'From: there is no 2026-02-30 (that month has fewer days)');
    assert.equal(await refused('until=2026-04-31T10:00'), 'To: there is no 2026-04-31 (that month has fewer days)');
    assert.equal(await refused('since=2026-02-29T00:00'), 'From: there is no 2026-02-29 (that month has fewer days)');
    await html('/console/messages?since=2028-02-29T00:00');
  });

  test('Retry shows, changes and records only SMS waiting for a later attempt: SMS due already (never tried) get no button, and a retry of them changes nothing, each time', async () => {
    const id = uuidv7();
    await relay.relay.store.acceptMail(mail(['+447700900411', '+447700900412'], { id, receivedAt: Date.now() }));
    const buttons = (page: string) => [...page.matchAll(/<button name="action" value="(\w+)">([^<]*)</g)].map((found) => found[2]);
    assert.deepEqual(buttons(await html(`/console/messages/${id}`)), ['Hold all 2 SMS', 'Delete all 2 SMS'], 'no Retry: both are due already');
    const retry = () => queueNotice({ action: 'retry', target: id, back: `/console/messages/${id}` });
    for (let click = 0; click < 3; click++) {
      assert.equal(
        await retry(),
        'retry: 0 queued SMS changed; 2 due already, not retried: the next claim takes them\ndispatch paused: they stay queued until &quot;Resume dispatch&quot;',
      );
    }
    assert.doesNotMatch(await html(`/console/messages/${id}`), /operator retry/, 'no timeline line');
    assert.doesNotMatch(await html('/console/settings'), new RegExp(`queue retry[^\n]*${id}`), 'no audit line');
    // One the gateway deferred waits for its next attempt: Retry shows for it alone and changes it, once.
    const [first] = await relay.relay.store.smsOf(id);
    await relay.relay.store.recordSmsOutcomes([
      { smsId: first?.smsId ?? assert.fail('no SMS'), kind: 'retry', nextAttemptAt: Date.now() + 600_000, error: 'HTTP_500: gateway error', attempted: true },
    ]);
    assert.deepEqual(buttons(await html(`/console/messages/${id}`)), ['Retry now', 'Hold all 2 SMS', 'Delete all 2 SMS']);
    assert.equal(
      await retry(),
      'retry: 1 queued SMS changed; 1 due already, not retried: the next claim takes it\ndispatch paused: they stay queued until &quot;Resume dispatch&quot;',
    );
    assert.equal([...(await html(`/console/messages/${id}`)).matchAll(/<strong>operator retry<\/strong>/g)].length, 1);
    assert.equal([...(await html('/console/settings')).matchAll(new RegExp(`queue retry</td><td>${id}`, 'g'))].length, 1);
    await relay.relay.store.applyQueueAction('delete', id, Date.now(), 'by olivia from 127.0.0.1');
  });

  test("a viewer reads a mail's Message-ID as written, digits and all, and finds the mail by it; Settings' numeric limits are not masked", async () => {
    const viewer = await signIn('victor');
    for (const messageIdHeader of ['<1733505600.123456789@web01.example.com>', '<20261206172000.1A2B3C4D@mail.example.com>', '<447700900123@example.com>']) {
      const id = uuidv7();
      await relay.relay.store.acceptMail(mail(['+447700900312'], { id, receivedAt: Date.now(), messageIdHeader }));
      const shown = messageIdHeader.replace('<', '&lt;').replace('>', '&gt;');
      assert.match(await html(`/console/messages/${id}`, viewer), new RegExp(`<dt>Message-ID</dt><dd class="text">${shown}</dd>`), messageIdHeader);
      assert.match(await html(`/console/messages?${new URLSearchParams({ id: messageIdHeader })}`, viewer), new RegExp(`/console/messages/${id}`));
    }
    const settings = await html('/console/settings', viewer);
    assert.match(settings, /&quot;maxMessageBytes&quot;: 10485760,/);
    assert.deepEqual(settings.match(/\d[\d*]*\*[\d*]*\d/g), ['4477*******99'], 'only the number masked');
  });

  test("a viewer reads a mail's numeric sender id and the numbers in its user context masked, an operator whole", async () => {
    const viewer = await signIn('victor');
    for (const [senderId, userContext] of [
      ['+447700900999', 'cust 447700900888'],
      ['447700900997', 'on call 07700900886'],
    ] as const) {
      const id = uuidv7();
      const sent = mail(['+447700900313'], { id, receivedAt: Date.now() });
      await relay.relay.store.acceptMail({ ...sent, sms: { ...sent.sms, senderId, userContext } });
      const parts = async (cookie: string) => /<dt>Parts<\/dt><dd>([^<]*)<\/dd>/.exec(await html(`/console/messages/${id}`, cookie))?.[1] ?? '';
      const seen = await parts(viewer);
      assert.ok(!seen.includes(senderId.slice(-6)) && !seen.includes(userContext.slice(-6)), seen);
      assert.match(seen, /sender id \S*\*{4}/);
      assert.equal(await parts(operator), `1 (gsm7), sender id ${senderId}, user context ${userContext}`);
      await relay.relay.store.applyQueueAction('delete', id, Date.now(), 'by olivia from 127.0.0.1');
    }
  });

  test('a viewer reads a user context that is an id after a word (-, _, #, :, /, a blank) as written, as the log names it', async () => {
    const viewer = await signIn('victor');
    for (const userContext of ['order_1234567', 'ticket#1234567', 'SO#12345678', 'case/2026/1234567', 'order 20261206-0042']) {
      const id = uuidv7();
      const sent = mail(['+447700900313'], { id, receivedAt: Date.now() });
      await relay.relay.store.acceptMail({ ...sent, sms: { ...sent.sms, userContext } });
      const page = await html(`/console/messages/${id}`, viewer);
      assert.equal(/<dt>Parts<\/dt><dd>([^<]*)<\/dd>/.exec(page)?.[1], `1 (gsm7), user context ${userContext}`);
      await relay.relay.store.applyQueueAction('delete', id, Date.now(), 'by olivia from 127.0.0.1');
    }
  });

  test('a sender stored with capitals is found however it is typed, as written or in lower case', async () => {
    for (const envelopeFrom of ['Alerts@Example.com', '"John Doe"@Example.com']) {
      const id = uuidv7();
      await relay.relay.store.acceptMail(mail(['+447700900314'], { id, receivedAt: Date.now(), envelopeFrom }));
      for (const sender of [envelopeFrom, envelopeFrom.toLowerCase(), envelopeFrom.toUpperCase()]) {
        assert.match(await html(`/console/messages?${new URLSearchParams({ sender })}`), new RegExp(`/console/messages/${id}`), sender);
      }
      await relay.relay.store.applyQueueAction('delete', id, Date.now(), 'by olivia from 127.0.0.1');
    }
  });

  test('a mail whose sender has no domain is found by that sender', async () => {
    const id = uuidv7();
    await relay.relay.store.acceptMail(mail(['+447700900310'], { id, receivedAt: Date.now(), envelopeFrom: 'script' }));
    assert.match(await html('/console/messages?sender=script'), new RegExp(`/console/messages/${id}`));
  });

  test('a mail whose sender has a quoted local part (RFC 5321, as SMTP accepts it) is found by that sender as listed, blanks and @ inside the quotes', async () => {
    for (const sender of ['"john doe"@example.com', '"ops@night"@example.com', '"a\\"b"@example.com']) {
      const id = uuidv7();
      await relay.relay.store.acceptMail(mail(['+447700900311'], { id, receivedAt: Date.now(), envelopeFrom: sender }));
      const found = await html(`/console/messages?${new URLSearchParams({ sender })}`);
      assert.match(found, new RegExp(`/console/messages/${id}`), sender);
    }
    // Still one address: a blank or a second @ outside the quotes is none.
    for (const sender of ['john doe@example.com', '"john"doe"@example.com', 'a@b@example.com', ' ']) {
      const response = await fetch(`${base}/console/messages?${new URLSearchParams({ sender })}`, { headers: { cookie: operator } });
      assert.equal(response.status, 400, sender);
    }
  });

  test('the queue says when each SMS is next tried: a time ahead, or what a due one waits for; a held one, once released', async () => {
    const page = await html('/console/queue');
    // Dispatch is paused by the operator (before): the queued SMS are due and wait for it.
    assert.match(page, /<td>due, when dispatch resumes \(Resume dispatch\)<\/td>/);
    assert.match(page, /\(held\)<\/td>[\s\S]*?<td>once released<\/td>/);
    assert.doesNotMatch(page, /<td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC<\/td>/, 'no time that has passed');
  });

  test('the overview says what its failed figure leaves out: SMS deleted from the queue', async () => {
    assert.match(await html('/console'), /an SMS an operator deleted from the queue is not counted here \(Messages lists it as deleted/);
  });

  test('results that fill their last page exactly have no link to an empty page', async () => {
    const first = await html('/console/messages?sender=twopages%40example.com');
    const second = link(first, 'Older messages') ?? assert.fail('no second page');
    const last = await html(second);
    assert.equal([...last.matchAll(/<a href="\/console\/messages\/[0-9a-f-]{36}">/g)].length, PAGE);
    assert.equal(link(last, 'Older messages'), undefined);
  });

  test('an unknown console page is an HTML page for a browser and JSON for a script; a known page asked the wrong way is 405', async () => {
    const page = await fetch(`${base}/console/nothing`, { headers: { cookie: operator, accept: 'text/html,*/*' } });
    assert.equal(page.status, 404);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(await page.text(), /No console page \/console\/nothing/);
    const json = await fetch(`${base}/console/nothing`, { headers: { cookie: operator, accept: 'application/json' } });
    assert.equal(json.status, 404);
    assert.equal(((await json.json()) as { error: string }).error, 'NOT_FOUND');
    const wrong = await fetch(`${base}/console/queue`, { method: 'DELETE', headers: { cookie: operator, accept: 'application/json' } });
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get('allow'), 'GET, HEAD, POST', 'HEAD too: every page read with GET answers it');
    assert.equal(((await wrong.json()) as { error: string }).error, 'METHOD_NOT_ALLOWED');
  });

  test('every console 404 is a "not found" page for a browser and NOT_FOUND for a script: a missing asset, item or page, a POST to no page by a viewer', async () => {
    const viewer = await signIn('victor');
    const missing: Array<[string, RequestInit, RegExp]> = [
      ['/console/assets/missing.css', {}, /No console asset missing\.css/],
      [`/console/messages/${uuidv7()}`, { headers: { cookie: operator } }, /No message with id/],
      ['/console/conversations/nobody', { headers: { cookie: operator } }, /No such conversation/],
      ['/console/quarantine/999999', { headers: { cookie: operator } }, /No such quarantined request/],
      ['/console/nothing', { method: 'POST', headers: { cookie: viewer } }, /No console page \/console\/nothing/],
    ];
    for (const [path, init, named] of missing) {
      const page = await fetch(`${base}${path}`, { ...init, headers: { ...init.headers, accept: 'text/html,*/*' } });
      assert.equal(page.status, 404, path);
      assert.match(page.headers.get('content-type') ?? '', /^text\/html/, path);
      const text = await page.text();
      assert.match(text, /<title>404 Not Found/, path);
      assert.match(text, named, path);
      const json = await fetch(`${base}${path}`, { ...init, headers: { ...init.headers, accept: 'application/json' } });
      assert.equal(json.status, 404, path);
      assert.equal(((await json.json()) as { error: string }).error, 'NOT_FOUND', path);
    }
  });

  test('every page names its icon, served by the console (a browser asks for no /favicon.ico)', async () => {
    const icon = /<link rel="icon" href="([^"]+)"/.exec(await html('/console'))?.[1] ?? assert.fail('no icon link');
    const served = await fetch(`${base}${icon}`);
    assert.equal(served.status, 200);
    assert.equal(served.headers.get('content-type'), 'image/svg+xml');
  });

  test('bidi controls in a text show as their codes and NUL is dropped: nothing reorders the page', async () => {
    const id = uuidv7();
    const text = 'invoice \u202Efdp.exe\u0000 and \u2066isolated\u2069';
    await relay.relay.store.acceptMail(
      mail(['+447700900999'], { id, sms: { text, encoding: 'ucs2', parts: 1, maxParts: 6, senderId: undefined, userContext: undefined } }),
    );
    const page = await html(`/console/messages/${id}`);
    assert.match(page, /invoice \[U\+202E\]fdp\.exe and \[U\+2066\]isolated\[U\+2069\]/);
    assert.doesNotMatch(page, /[\u202a-\u202e\u2066-\u2069]/);
    assert.ok(!page.includes('\0'), 'no NUL');
  });

  test('the overview counts held SMS among the queued ones, as its oldest-queued age does', async () => {
    const stats = await relay.relay.store.queueStats(Date.now());
    assert.ok(stats.sms.held > 0, 'an earlier test held one');
    const page = await html('/console');
    assert.match(page, new RegExp(`<dt>SMS queued</dt><dd>${stats.sms.queued + stats.sms.held}</dd>`));
    assert.match(page, new RegExp(`<dt>SMS held</dt><dd>${stats.sms.held}</dd>`));
  });

  test("a viewer's test send page says viewers cannot send, not how to configure an account", async () => {
    const page = await html('/console/send', await signIn('victor'));
    assert.match(page, /Viewers cannot send/);
    assert.doesNotMatch(page, /console\.users\[\]\.account/);
  });

  test("a reroute without a mailbox is refused in the form's words; an operator without an account gets no Test send form", async () => {
    const queue = await html('/console/queue');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(queue)?.[1] ?? assert.fail('no CSRF token');
    const reply = /action="\/console\/undeliverable\/([^/"]+)\/reroute"/.exec(queue)?.[1] ?? assert.fail('no reply without a mailbox');
    for (const form of [{ mailbox: '  ' }, {}] as Record<string, string>[]) {
      const refused = await fetch(`${base}/console/undeliverable/${reply}/reroute`, {
        method: 'POST',
        headers: { cookie: operator, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ _csrf: csrf, ...form }),
      });
      assert.equal(refused.status, 400);
      assert.deepEqual(await refused.json(), { error: 'BAD_PARAMETER', message: 'Reroute to mailbox: write the mail address to send this reply to' });
    }
    const send = await html('/console/send');
    assert.match(send, /Your user has no account to send as/);
    assert.doesNotMatch(send, /<form method="post" action="\/console\/send"/, 'no form it may not use');
  });

  test('a cookie used after sign-out is a session that ended, not one that expired', async () => {
    const cookie = await signIn('olivia');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await html('/console', cookie))?.[1] ?? assert.fail('no CSRF token');
    const out = await fetch(`${base}/console/signout`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf }),
      redirect: 'manual',
    });
    assert.equal(out.status, 303);
    const again = await fetch(`${base}/console/queue`, { headers: { cookie }, redirect: 'manual' });
    assert.equal(again.headers.get('location'), '/console/signin?next=%2Fconsole%2Fqueue&ended=1');
    const signin = await (await fetch(`${base}${again.headers.get('location')}`)).text();
    assert.match(signin, /Your session has ended: sign in again/);
    assert.doesNotMatch(signin, /expired/);
  });

  test('a field given twice, or a form field that is not text, is a 400 page naming the field, never a 500', async () => {
    const pages: Array<[string, RegExp]> = [
      ['/console/messages?sender=a@example.com&sender=c@example.com', /Sender: give one value/],
      ['/console/messages?number=07700900001&number=07700900002', /Number: give one value/],
      ['/console/messages?id=a&id=b', /Message id: give one value/],
      [`/console/messages?sender=${'a'.repeat(321)}`, /Sender: too long \(at most 320 characters\)/],
      ['/console/conversations?number=1&number=2', /Number: give one value/],
      ['/console/queue?after=1&after=2', /Page \(after\): give one value/],
      ['/console/messages?before=1&before=2', /Page \(before\): give one value/],
      ['/console/queue?done=a&done=b&sig=c', /Notice \(done\): give one value/],
      ['/console/signin?next=/console&next=/console/queue', /Next page: give one value/],
    ];
    for (const [path, named] of pages) {
      const response = await fetch(`${base}${path}`, { headers: { cookie: operator, accept: 'text/html' } });
      assert.equal(response.status, 400, path);
      assert.match(response.headers.get('content-type') ?? '', /^text\/html/, path);
      assert.match(await response.text(), named, path);
    }
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await html('/console', operator))?.[1] ?? assert.fail('no CSRF token');
    const posts: Array<[string, unknown, RegExp]> = [
      ['/console/send', { to: 447700900001, text: 'hello' }, /Number: give one value, as text/],
      ['/console/queue', { action: ['retry', 'hold'] }, /Action: give one value/],
      ['/console/undeliverable/x/reroute', { mailbox: { at: 'x' } }, /Mailbox: give one value/],
      ['/console/queue', ['retry'], /Expected the fields of a form/],
    ];
    for (const [path, body, named] of posts) {
      const response = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { cookie: operator, 'x-csrf-token': csrf, 'content-type': 'application/json', accept: 'text/html' },
        body: JSON.stringify(body),
      });
      assert.equal(response.status, 400, path);
      assert.match(await response.text(), named, path);
    }
    // A browser's form alike: the last of two values is not taken (it deleted what was to be held).
    const target = /name="target" value="([0-9a-f-]{36})"/.exec(await html('/console/queue'))?.[1] ?? assert.fail('no queued SMS');
    const forms: Array<[string, string, RegExp]> = [
      ['/console/queue', `target=${target}&action=hold&action=delete`, /Action: give one value/],
      ['/console/queue', `target=${target}&target=${target}&action=release`, /Target: give one value/],
      ['/console/queue', `target=${target}&action=hold&back=/console/queue&back=/console`, /Back: give one value/],
      ['/console/undeliverable/x/reroute', 'mailbox=a@example.com&mailbox=b@example.com', /Mailbox: give one value/],
      ['/console/send', 'to=07700900001&text=a&text=b', /Text: give one value/],
    ];
    for (const [path, body, named] of forms) {
      const response = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { cookie: operator, 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
        body: `_csrf=${encodeURIComponent(csrf)}&${body}`,
        redirect: 'manual',
      });
      assert.equal(response.status, 400, body);
      assert.match(await response.text(), named, body);
    }
    assert.ok(
      (await relay.relay.store.smsOf(target)).every((sms) => sms.status === 'queued'),
      'nothing deleted',
    );
    const form = await signinForm();
    const signin = await fetch(`${base}/console/signin`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: form.cookie },
      body: JSON.stringify({ name: ['olivia'], password: PASSWORD, _csrf: form.token }),
    });
    assert.equal(signin.status, 400);
    assert.match(await signin.text(), /User name: give one value/);
  });

  test('a refused field is JSON {error, message} for a script that asks for JSON, on every form page and sign-in', async () => {
    const json = { cookie: operator, accept: 'application/json' };
    const gets: Array<[string, RegExp]> = [
      ['/console/messages?status=lost', /^Status: expected one of/],
      ['/console/messages?sender=a&sender=b', /^Sender: give one value/],
      ['/console/conversations?number=abc', /^Number: /],
      ['/console/signin?next=/console&next=/console/queue', /^Next page: give one value/],
    ];
    for (const [path, named] of gets) {
      const response = await fetch(`${base}${path}`, { headers: json });
      assert.equal(response.status, 400, path);
      assert.match(response.headers.get('content-type') ?? '', /^application\/json/, path);
      const body = (await response.json()) as { error: string; message: string };
      assert.equal(body.error, 'BAD_PARAMETER', path);
      assert.match(body.message, named, path);
    }
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await html('/console', operator))?.[1] ?? assert.fail('no CSRF token');
    const send = await fetch(`${base}/console/send`, {
      method: 'POST',
      headers: { ...json, 'x-csrf-token': csrf, 'content-type': 'application/json' },
      body: JSON.stringify({ to: 447700900001, text: 'hello' }),
    });
    assert.equal(send.status, 400);
    assert.deepEqual(await send.json(), { error: 'BAD_PARAMETER', message: 'Number: give one value, as text' });
    const form = await signinForm();
    const signin = await fetch(`${base}/console/signin`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', cookie: form.cookie },
      body: JSON.stringify({ name: ['olivia'], password: PASSWORD, _csrf: form.token }),
    });
    assert.equal(signin.status, 400);
    assert.deepEqual(await signin.json(), { error: 'BAD_PARAMETER', message: 'User name: give one value, as text' });
  });

  test('"Delete all quarantined requests" on the queue page asks first, then deletes every one its page named; a form without that bound is refused', async () => {
    const queue = await html('/console/queue');
    assert.match(queue, /<form method="get" action="\/console\/quarantine\/all\/delete" class="actions">/);
    assert.doesNotMatch(await html('/console/queue', await signIn('victor')), /Delete all quarantined requests/, 'not for a viewer');
    const kept = (await relay.relay.store.queueStats(Date.now())).quarantined;
    assert.ok(kept > 1);
    const confirmation = await html('/console/quarantine/all/delete');
    assert.match(confirmation, new RegExp(`${kept} quarantined requests are kept now`));
    const csrf = /name="_csrf" value="([^"]+)"/.exec(confirmation)?.[1] ?? assert.fail('no CSRF token');
    const through = /name="through" value="(\d+)"/.exec(confirmation)?.[1] ?? assert.fail('no bound');
    assert.match(confirmation, new RegExp(`name="count" value="${kept}"`));
    const post = (fields: Record<string, string>, accept = 'application/json') =>
      fetch(`${base}/console/quarantine/all/delete`, {
        method: 'POST',
        headers: { cookie: operator, 'content-type': 'application/x-www-form-urlencoded', accept },
        body: new URLSearchParams({ _csrf: csrf, ...fields }),
        redirect: 'manual',
      });
    for (const fields of [{}, { through }, { through, count: '0' }] as Array<Record<string, string>>) {
      const unbounded = await post(fields);
      assert.equal(unbounded.status, 400, JSON.stringify(fields));
      assert.deepEqual(await unbounded.json(), {
        error: 'BAD_PARAMETER',
        message: 'Confirm first: the deletion takes the requests its confirmation named (Through: the newest of them; Count: how many)',
      });
    }
    assert.equal((await relay.relay.store.queueStats(Date.now())).quarantined, kept, 'nothing deleted');
    // Not the requests the confirmation showed (one more kept below its newest, as PostgreSQL may commit late): none is
    // deleted, and the confirmation shows again with the numbers now.
    const changed = await post({ through, count: String(kept - 1) }, 'text/html');
    assert.equal(changed.status, 409);
    const again = await changed.text();
    assert.match(again, /The quarantined requests changed since the confirmation was shown: nothing was deleted\. Confirm again with the numbers now\./);
    assert.match(again, new RegExp(`${kept} quarantined requests are kept now`));
    assert.match(again, new RegExp(`name="count" value="${kept}"`));
    assert.equal((await relay.relay.store.queueStats(Date.now())).quarantined, kept, 'nothing deleted');
    const response = await post({ through, count: String(kept) });
    assert.equal(response.status, 303);
    const after = await html(response.headers.get('location') ?? '');
    assert.match(after, new RegExp(`<p class="notice" role="status">deleted ${kept} quarantined requests</p>`));
    assert.match(after, /0 quarantined requests, oldest first\./);
    assert.doesNotMatch(after, /Delete all quarantined requests/, 'no button with none to delete');
    assert.equal((await relay.relay.store.queueStats(Date.now())).quarantined, 0);
  });

  test('delete with target all is refused 400, naming the CLI command: the page offers no "delete all", and nothing is deleted', async () => {
    // One moment for both reads: the oldest SMS's age in seconds must not tick between them.
    const now = Date.now();
    const queued = async () => (await relay.relay.store.queueStats(now)).sms;
    const before = await queued();
    assert.ok(before.queued + before.held > 0, 'SMS are queued');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await html('/console/queue'))?.[1] ?? assert.fail('no CSRF token');
    for (const accept of ['text/html', 'application/json']) {
      const response = await fetch(`${base}/console/queue`, {
        method: 'POST',
        headers: { cookie: operator, accept, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: csrf, action: 'delete', target: 'all' }),
        redirect: 'manual',
      });
      assert.equal(response.status, 400, accept);
      assert.match(await response.text(), /Action: delete takes one message, not all; on the relay host, smsrelay queue delete all deletes every queued SMS/);
    }
    assert.deepEqual(await queued(), before);
  });

  test('one number refused leaves the gateway up; an SMS deferred after the last send makes it down, saying why', async () => {
    const store = relay.relay.store;
    const [sent, refused, deferred] = await store.listQueued(3);
    assert.ok(sent && refused && deferred, 'three queued SMS');
    const gatewayLine = async () => /<th scope="row">Gateway<\/th><td>[^;]*;\s*<span class="\w+">(up|down[^<]*)</.exec(await html('/console'))?.[1];
    // Each outcome a few milliseconds after the one before: the overview compares their times.
    const later = () => new Promise((resolve) => setTimeout(resolve, 5));
    await store.recordSmsOutcomes([{ smsId: sent.smsId, kind: 'sent', providerId: 'gw-1' }]);
    await later();
    await store.recordSmsOutcomes([{ smsId: refused.smsId, kind: 'failed', error: 'INVALID_NUMBER: the gateway refused the number' }]);
    assert.equal(await gatewayLine(), 'up');
    await later();
    await store.recordSmsOutcomes([
      { smsId: deferred.smsId, kind: 'retry', nextAttemptAt: Date.now() + 60_000, error: 'HTTP_500: gateway error', attempted: true },
    ]);
    assert.match((await gatewayLine()) ?? '', /^down \(the last attempt failed, none sent since\)/);
  });

  test('a scheduled SMS: counted apart with its time on the overview, shown with it on its page, left alone by Retry all and by its own Retry', async () => {
    const sendAt = Math.floor(Date.now() / 1000) * 1000 + 86_400_000;
    const id = uuidv7();
    await relay.relay.store.acceptMail(mail(['+447700900990'], { id, receivedAt: Date.now(), sendAt, holdUntilSendAt: true }));
    const shown = new Date(sendAt).toISOString().replace('T', ' ').slice(0, 19);
    assert.match(await html('/console'), new RegExp(`<dt>SMS scheduled</dt><dd>1, next at ${shown} UTC</dd>`));
    assert.match(await html(`/console/messages/${id}`), new RegExp(`<td class="whole">queued, scheduled for ${shown} UTC</td>`));
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await html('/console/queue'))?.[1] ?? assert.fail('no CSRF token');
    const act = async (target: string) => {
      const response = await fetch(`${base}/console/queue`, {
        method: 'POST',
        headers: { cookie: operator, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: csrf, action: 'retry', target }),
        redirect: 'manual',
      });
      assert.equal(response.status, 303);
      return /<p class="notice" role="status">([^<]*)<\/p>/.exec(await html(response.headers.get('location') ?? ''))?.[1];
    };
    assert.match((await act('all')) ?? '', /; 1 scheduled \(X-SMS-Send-At\), left until each one’s time, the first at /);
    assert.match(
      (await act(id)) ?? '',
      new RegExp(
        `^retry: 0 queued SMS changed; 1 scheduled \\(X-SMS-Send-At\\), left until .*: to send it now, on the relay host, smsrelay queue retry ${id} --now`,
      ),
    );
    assert.deepEqual(
      (await relay.relay.store.smsOf(id)).map((sms) => sms.scheduledFor),
      [sendAt],
      'still waiting for its time',
    );
  });

  test('a quarantined body that is not UTF-8 text is shown as its bytes: each one that is not, and each control character, as \\xHH; its size as received', async () => {
    const body = Buffer.from('from=447700900123&text=caf\u00e9 <b>\u0000\u001b\\', 'latin1');
    const id = await relay.relay.store.quarantine({ receivedAt: Date.now(), provider: 'intellisoftware', kind: 'mo', reason: 'msgid is missing', body });
    const page = await html(`/console/quarantine/${id}`);
    assert.match(page, new RegExp(`${body.length} bytes, not all UTF-8 text`));
    assert.match(page, /<pre class="raw">from=447700900123&amp;text=caf\\xE9 &lt;b&gt;\\x00\\x1B\\\\<\/pre>/);
    // A viewer's numbers masked as in any body.
    assert.match(await html(`/console/quarantine/${id}`, await signIn('victor')), /from=4477\*{6}23&amp;text=caf\\xE9/);
  });

  test("a viewer reads a quarantined body's numbers masked where a byte shown as \\xHH stands beside or between their digits (Latin-1, ESC, UTF-16)", async () => {
    const viewer = await signIn('victor');
    for (const [text, encoding, number] of [
      ['from=447700900123&text=Tel\u00b0447700900124', 'latin1', '447700900124'],
      ['text=\u001b447700900125', 'latin1', '447700900125'],
      ['{"from":"+447700900126"}', 'utf16le', '447700900126'],
    ] as const) {
      const id = await relay.relay.store.quarantine({
        receivedAt: Date.now(),
        provider: 'intellisoftware',
        kind: 'mo',
        reason: 'msgid is missing',
        body: Buffer.from(text, encoding),
      });
      const raw = /<pre class="raw">([^<]*)<\/pre>/.exec(await html(`/console/quarantine/${id}`, viewer))?.[1] ?? assert.fail('no body');
      const digits = raw.replace(/\\x[0-9A-F]{2}/g, '');
      assert.doesNotMatch(digits, new RegExp(number.slice(4)), raw);
      assert.match(digits, new RegExp(`${number.slice(0, 4)}\\*{6}${number.slice(-2)}`), raw);
      assert.match(await html(`/console/quarantine/${id}`), new RegExp(number.split('').join('(?:\\\\x00)?')), 'an operator reads it whole');
    }
  });

  test("a viewer reads numbers masked in a quarantined body, its reason, an SMS's last error and timeline, whatever escape or reference stands between or before their groups, and in an SMPP PDU kept as hex", async () => {
    const viewer = await signIn('victor');
    const store = relay.relay.store;
    // The page's text as a reader sees it, its digits as the numbers they are: references and escapes read, blanks between digits dropped.
    const digitsOf = (page: string) =>
      decodeHTML(decodeHTML(page).replace(/\\+u([0-9a-f]{4})/gi, (_, code: string) => String.fromCharCode(Number.parseInt(code, 16))))
        .replace(/\\+[nrt]/g, ' ')
        .replace(/(?<=\d)\s+(?=\d)/g, '');
    const numbers = ['447700900181', '447700900182', '447700900183', '447700900662', '447700900591'];
    const leaks = (page: string) => numbers.filter((number) => digitsOf(page).includes(number.slice(-6)));
    const json = String.raw`{"text":"call me:\n447700900181 or +44\n7700\t900182","msisdn":"notanumber\r\n447700900183","page":"+44&nbsp;7700&#160;900662"}`;
    const request = await store.quarantine({
      receivedAt: Date.now(),
      provider: 'vonage',
      kind: 'mo',
      reason: 'source_addr "44 7700 900591" is no sender',
      body: Buffer.from(json),
    });
    assert.deepEqual(leaks(await html(`/console/quarantine/${request}`)), numbers, 'an operator reads them whole');
    assert.deepEqual(leaks(await html(`/console/quarantine/${request}`, viewer)), []);
    assert.deepEqual(leaks(await html(`/console/queue`, viewer)), []);
    // A deliver_sm from 447700900150 to 447700900000 in 8-bit data, and a UCS-2 text naming +447700900151, as the SMPP adapter keeps them.
    const ucs2 = Buffer.concat([
      Buffer.from('000101', 'hex'),
      Buffer.from('447700900150\u0000', 'latin1'),
      Buffer.from('0101', 'hex'),
      Buffer.from('+447700900151', 'utf16le').swap16(),
    ]);
    for (const pdu of ['00010034343737303039303031353000000034343737303039303030303000000000000000000400050102030405', ucs2.toString('hex')]) {
      const id = await store.quarantine({
        receivedAt: Date.now(),
        provider: 'smpp',
        kind: 'mo',
        reason: 'smpp: data_coding 0x4 is not text the relay can mail',
        body: Buffer.from(pdu),
      });
      const shown = (cookie?: string) => async () =>
        Buffer.from(/<pre class="raw">([0-9a-f]*)<\/pre>/.exec(await html(`/console/quarantine/${id}`, cookie))?.[1] ?? assert.fail('no hex body'), 'hex')
          .toString('latin1')
          .replaceAll('\u0000', '');
      assert.match(await shown()(), /447700900150.*447700900151|447700900150.*447700900000/s, 'an operator reads the PDU whole');
      const masked = await shown(viewer)();
      assert.doesNotMatch(masked, /0900150|0900000|0900151/, masked);
      assert.match(masked, /4477\*{6}50/, masked);
    }
    // The gateway's words in an SMS's last error and timeline.
    const id = uuidv7();
    await store.acceptMail(mail(['+447700900401'], { id, receivedAt: Date.now() }));
    const [sms] = await store.smsOf(id);
    const said = String.raw`HTTP_400: the gateway refused the request (the gateway said: "<p>Invalid: +44&nbsp;7700&nbsp;900662 / {"m":"x\n447700900591"}</p>")`;
    await store.recordSmsOutcomes([
      { smsId: sms?.smsId ?? assert.fail('no SMS'), kind: 'retry', nextAttemptAt: Date.now() + 600_000, error: said, attempted: true },
    ]);
    assert.deepEqual(leaks(await html(`/console/messages/${id}`)), ['447700900662', '447700900591'], 'an operator reads them whole');
    assert.deepEqual(leaks(await html(`/console/messages/${id}`, viewer)), []);
    await store.applyQueueAction('delete', id, Date.now(), 'by olivia from 127.0.0.1');
  });

  test('every time a page shows is marked UTC, counts are written as the CLI writes them, and erased text is worded alike everywhere', async () => {
    const store = relay.relay.store;
    // A message sent long ago, its text erased by retention: the lists, its conversation and its page say so alike.
    const id = uuidv7();
    await store.acceptMail(mail(['+447700900995'], { id, receivedAt: Date.now() - 10_000 }));
    const [sms] = await store.waitingSms(id);
    await store.recordSmsOutcomes([{ smsId: sms?.id ?? assert.fail('no SMS'), kind: 'sent', providerId: 'gw-erased' }]);
    // A quarantined request's body erased alike: its 0 bytes are not shown as a request that came empty.
    const request = await store.quarantine({
      receivedAt: Date.now() - 10_000,
      provider: 'puzzel',
      kind: 'mo',
      reason: 'unreadable',
      body: Buffer.from('{"mo":[]}'),
    });
    assert.ok((await store.purgeContent(Date.now(), Date.now())) > 0, 'its text erased');
    assert.match(
      await html(`/console/queue?quarantine=${request - 1}`),
      new RegExp(`Request ${request}</a>: puzzel mo, <span class="clip">unreadable</span> \\(body erased by store\\.retention, `),
    );
    assert.match(await html(`/console/quarantine/${request}`), /<em>Erased by store\.retention<\/em>/);
    const pages = {
      overview: await html('/console'),
      queue: await html('/console/queue'),
      messages: await html('/console/messages?number=%2B447700900995'),
      message: await html(`/console/messages/${id}`),
      conversations: await html('/console/conversations'),
      conversation: await html('/console/conversations?number=%2B447700900995'),
    };
    for (const [name, page] of Object.entries(pages)) {
      for (const [time] of page.matchAll(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?! UTC)/g)) assert.fail(`${name}: ${time} not marked UTC`);
    }
    for (const name of ['messages', 'message', 'conversation'] as const) assert.match(pages[name], /<em>Erased by store\.retention<\/em>/, name);
    assert.doesNotMatch(pages.conversation + pages.messages, /erased by retention/);
    assert.match(pages.overview, /Free disk<\/th><td[^>]*>\d{1,3}(,\d{3})* MB \(refuses mail below [\d,]+ MB\)/);
    const disk = Number(/Free disk<\/th><td[^>]*>([\d,]+) MB/.exec(pages.overview)?.[1]?.replaceAll(',', ''));
    if (disk >= 1000) assert.match(pages.overview, /Free disk<\/th><td[^>]*>\d{1,3},\d{3}/, 'a thousands separator');
  });

  test('a page position that is not one is refused, naming the page', async () => {
    for (const path of ['/console/queue?after=x', '/console/conversations?before=nonsense']) {
      const response = await fetch(`${base}${path}`, { headers: { cookie: operator } });
      assert.equal(response.status, 400, path);
      assert.match(await response.text(), /Page: not a position/);
    }
  });
});

/** A relay on the PostgreSQL at `storeUrl` whose console has olivia, an operator, and its HTTP address. */
async function operatorRelayOn(storeUrl: string): Promise<{ relay: TestRelay; base: string }> {
  const relay = await startTestRelay(
    { console: { users: [{ name: 'olivia', passwordHash: await hashPassword(PASSWORD), role: 'operator' }] } },
    { SMSRELAY_DATABASE_URL: storeUrl },
  );
  return { relay, base: `http://127.0.0.1:${relay.relay.httpPort}` };
}

/** A session of its own on `url`, to hold a lock as a VACUUM FULL or an administrator's transaction would. */
async function sessionApart(url: string): Promise<pg.Client> {
  const session = new pg.Client({ connectionString: url });
  await session.connect();
  return session;
}

describeOnPostgres('console pages while the database does not answer', async (url) => {
  test('a browser gets the console page saying the store is unavailable and that it tries again (503), a script its JSON', { timeout: 90_000 }, async () => {
    const proxy = await postgresProxy(url);
    const { relay, base } = await operatorRelayOn(proxy.url);
    try {
      const signin = await fetch(`${base}/console/signin`);
      const form = {
        cookie: (signin.headers.get('set-cookie') ?? '').split(';')[0] ?? '',
        token: /name="_csrf" value="([^"]+)"/.exec(await signin.text())?.[1] ?? '',
      };
      const signedIn = await fetch(`${base}/console/signin`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: form.cookie },
        body: new URLSearchParams({ name: 'olivia', password: PASSWORD, _csrf: form.token }),
        redirect: 'manual',
      });
      const cookie = (signedIn.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
      assert.equal((await fetch(`${base}/console/queue`, { headers: { cookie } })).status, 200);
      proxy.silence();
      const browser = await fetch(`${base}/console/queue`, { headers: { cookie, accept: 'text/html,application/xhtml+xml' }, redirect: 'manual' });
      assert.equal(browser.status, 503);
      assert.match(browser.headers.get('content-type') ?? '', /^text\/html/);
      assert.equal(browser.headers.get('retry-after'), '15');
      const page = await browser.text();
      assert.match(page, /<h1>503 Service Unavailable<\/h1>/);
      assert.match(page, /the message store is unavailable, try again later\. The relay keeps trying the store; this page tries again every 15 s\./);
      assert.match(page, /<meta http-equiv="refresh" content="15">/);
      const script = await fetch(`${base}/console/queue`, { headers: { cookie, accept: 'application/json' } });
      assert.equal(script.status, 503);
      assert.equal(((await script.json()) as { error: string }).error, 'STORE_UNAVAILABLE');
    } finally {
      proxy.heal();
      await relay.stop();
      await proxy.close();
      removeDir(relay.dir);
    }
  });
});

describeOnPostgres('console pages while another session holds a lock on a console table', async (url) => {
  test('a page waits a few seconds, not the read timeout, and is answered 503 STORE_BUSY ("busy … try again in a moment"), as a script and as a browser', {
    timeout: 90_000,
  }, async () => {
    const { relay, base } = await operatorRelayOn(url);
    const holder = await sessionApart(url);
    try {
      const cookie = await signInAt(base, 'olivia', PASSWORD);
      assert.equal((await fetch(`${base}/console/queue`, { headers: { cookie } })).status, 200);
      // As a VACUUM FULL, a migration or an administrator's LOCK would: every console request reads its session first.
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE console_sessions IN ACCESS EXCLUSIVE MODE');
      for (const accept of ['application/json', 'text/html']) {
        const started = performance.now();
        const answer = await fetch(`${base}/console/queue`, { headers: { cookie, accept }, redirect: 'manual' });
        const waited = performance.now() - started;
        assert.equal(answer.status, 503, accept);
        assert.equal(answer.headers.get('retry-after'), '15');
        assert.ok(waited < 8_000, `${accept}: answered after ${Math.round(waited)} ms, well before the 10-s read timeout`);
        const body = await answer.text();
        if (accept === 'application/json') assert.equal((JSON.parse(body) as { error: string }).error, 'STORE_BUSY');
        else {
          assert.match(body, /data-code="STORE_BUSY">Temporary local problem: the message store is busy, try again in a moment\./);
          // Only a console table is locked: mail is taken as usual, which the page must not deny.
          assert.match(body, /whether the relay takes mail meanwhile, \/readyz says/);
          assert.doesNotMatch(body, /mail and webhooks the relay cannot store are refused/);
        }
      }
      assert.equal((await fetch(`${base}/readyz`)).status, 200, 'the database answers: the relay is ready');
      await holder.query('ROLLBACK');
      assert.equal((await fetch(`${base}/console/queue`, { headers: { cookie } })).status, 200, 'once the lock is gone');
    } finally {
      await holder.end();
      await relay.stop();
      removeDir(relay.dir);
    }
  });
});

describeOnPostgres("console pages while another session holds a lock on one of the relay's tables (as a VACUUM FULL mail_out)", async (url) => {
  test("overviews left open read on the console's own connections, one read at a time, and are answered 503 STORE_BUSY; mail is taken meanwhile", {
    timeout: 120_000,
  }, async () => {
    const { relay, base } = await operatorRelayOn(url);
    const holder = await sessionApart(url);
    // Apart from the holder: a transaction sees pg_stat_activity as it was at its first look.
    const watcher = await sessionApart(url);
    /** The sessions waiting for the lock in the overview's queue figures (queueStats), by application name. */
    const waiting = async () =>
      (
        await watcher.query<{ application_name: string }>(
          "SELECT application_name FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%s.queued, s.held%'",
        )
      ).rows.map((row) => row.application_name);
    // Held past every answer below, as a VACUUM FULL would be; let go in the end whatever happens.
    const release = setTimeout(() => void holder.query('ROLLBACK').catch(() => undefined), 90_000);
    try {
      const cookie = await signInAt(base, 'olivia', PASSWORD);
      const overview = (accept = 'application/json') => fetch(`${base}/console`, { headers: { cookie, accept, 'x-console-refresh': '1' }, redirect: 'manual' });
      assert.equal((await overview('text/html')).status, 200);
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE mail_out IN ACCESS EXCLUSIVE MODE');
      // Two operators' overviews, each refreshed every 15 s by a browser that sends up to six at once.
      const answers = Array.from({ length: 12 }, () => overview());
      await waitFor('the overview reading behind the lock', async () => (await waiting()).length > 0);
      for (let look = 0; look < 5; look++) {
        assert.deepEqual(await waiting(), ['smsrelay console'], 'one read of the figures, on the console’s connections');
      }
      const sent = await textTo(relay.relay.smtpPort, '+447700900123', 'taken while the overviews wait');
      assert.equal(sent?.code, 250, `mail is taken: ${sent?.code} ${sent?.text}`);
      assert.equal((await fetch(`${base}/readyz`)).status, 200, 'the relay is ready');
      for (const answer of await Promise.all(answers)) {
        assert.equal(answer.status, 503);
        assert.equal(answer.headers.get('retry-after'), '15');
        assert.equal(((await answer.json()) as { error: string }).error, 'STORE_BUSY');
      }
      // The queue page reads the same figures: bounded alike, as a person sees it.
      const queue = await fetch(`${base}/console/queue`, { headers: { cookie, accept: 'text/html' } });
      assert.equal(queue.status, 503);
      assert.match(await queue.text(), /data-code="STORE_BUSY">Temporary local problem: the message store is busy, try again in a moment\./);
      await waitFor('nothing left waiting on the lock', async () => (await waiting()).length === 0);
      await holder.query('ROLLBACK');
      assert.equal((await overview('text/html')).status, 200, 'once the lock is gone');
    } finally {
      clearTimeout(release);
      await holder.query('ROLLBACK').catch(() => undefined);
      await holder.end();
      await watcher.end();
      await relay.stop();
      removeDir(relay.dir);
    }
  });
});

describeOnPostgres("console pages while the console's own read connections are all taken by reads behind a lock", async (url) => {
  /** A relay on `url` with olivia signed in, a message kept, and a session apart to hold a lock. */
  async function signedIn() {
    const { relay, base } = await operatorRelayOn(url);
    assert.equal((await textTo(relay.relay.smtpPort, '+447700900123', 'a message to look at'))?.code, 250);
    const holder = await sessionApart(url);
    const [kept] = (await holder.query<{ id: string }>('SELECT id FROM messages LIMIT 1')).rows;
    const cookie = await signInAt(base, 'olivia', PASSWORD);
    const get = (path: string) => fetch(`${base}${path}`, { headers: { cookie, accept: 'application/json' }, redirect: 'manual' });
    const codeOf = async (answer: Response) => (answer.status === 200 ? 200 : ((await answer.json()) as { error: string }).error);
    return { relay, holder, id: kept?.id ?? assert.fail('no message kept'), get, codeOf };
  }

  test('queue pages waiting behind a mail_out lock share one read of the figures: a message page meanwhile is answered', { timeout: 90_000 }, async () => {
    const { relay, holder, id, get, codeOf } = await signedIn();
    const release = setTimeout(() => void holder.query('ROLLBACK').catch(() => undefined), 60_000);
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE mail_out IN ACCESS EXCLUSIVE MODE');
      const queues = Array.from({ length: 3 }, () => get('/console/queue'));
      const watcher = new pg.Client({ connectionString: url });
      await watcher.connect();
      try {
        // The queue figures' read (queueStats), the one that waits for mail_out, by the sessions waiting in it.
        const waiting = async () =>
          (await watcher.query("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%s.queued, s.held%'")).rowCount;
        await waitFor('the queue figures reading behind the lock', async () => (await waiting()) !== 0);
        for (let look = 0; look < 5; look++) assert.equal(await waiting(), 1, 'one read of the figures for the three pages');
      } finally {
        await watcher.end();
      }
      const message = await get(`/console/messages/${id}`);
      assert.equal(message.status, 200, await message.text());
      for (const queue of await Promise.all(queues)) assert.equal(await codeOf(queue), 'STORE_BUSY');
    } finally {
      clearTimeout(release);
      await holder.query('ROLLBACK').catch(() => undefined);
      await holder.end();
      await relay.stop();
      removeDir(relay.dir);
    }
  });

  test('a page that waits past the connect timeout for a console connection is STORE_BUSY, not STORE_UNAVAILABLE', { timeout: 90_000 }, async () => {
    const { relay, holder, id, get, codeOf } = await signedIn();
    const release = setTimeout(() => void holder.query('ROLLBACK').catch(() => undefined), 60_000);
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE messages IN ACCESS EXCLUSIVE MODE');
      // Two at a time wait out the 3-s lock wait on the two read connections: the later ones wait past 5 s for one.
      const codes = await Promise.all(Array.from({ length: 10 }, async () => codeOf(await get(`/console/messages/${id}`))));
      assert.deepEqual(
        codes,
        Array.from({ length: 10 }, () => 'STORE_BUSY'),
      );
      assert.equal((await fetch(`http://127.0.0.1:${relay.relay.httpPort}/readyz`)).status, 200, 'the relay is ready');
    } finally {
      clearTimeout(release);
      await holder.query('ROLLBACK').catch(() => undefined);
      await holder.end();
      await relay.stop();
      removeDir(relay.dir);
    }
  });
});

describeOnPostgres('a console action while another session holds a lock on the audit table', async (url) => {
  /** An operator signed in on a relay on `url`, with the queue form's CSRF token; a pause of all dispatch posted as a script. */
  async function operatorOn(relay: TestRelay) {
    const base = `http://127.0.0.1:${relay.relay.httpPort}`;
    const cookie = await signInAt(base, 'olivia', PASSWORD);
    const page = await (await fetch(`${base}/console/queue`, { headers: { cookie } })).text();
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page)?.[1] ?? assert.fail('no CSRF token');
    return () =>
      fetch(`${base}/console/queue`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie, accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: csrf, action: 'pause', target: 'all' }),
      });
  }

  test("the action done waits for the lock and its audit line is kept: the short lock wait is the reads' only", { timeout: 90_000 }, async () => {
    const { relay } = await operatorRelayOn(url);
    const holder = await sessionApart(url);
    try {
      const pause = await operatorOn(relay);
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE console_actions IN ACCESS EXCLUSIVE MODE');
      // Held past the reads' lock wait (3 s), as a VACUUM FULL or an administrator's transaction would.
      const release = setTimeout(() => void holder.query('ROLLBACK'), 5_000);
      const answer = await pause();
      clearTimeout(release);
      await holder.query('ROLLBACK').catch(() => undefined);
      assert.equal(answer.status, 303, await answer.text());
      assert.notEqual(await relay.relay.store.dispatchPausedSince(), undefined, 'the pause is done');
      const audits = await holder.query("SELECT username FROM console_actions WHERE action = 'queue pause'");
      assert.deepEqual(audits.rows, [{ username: 'olivia' }], 'the pause is in the audit');
    } finally {
      await holder.end();
      await relay.stop();
      removeDir(relay.dir);
    }
  });

  test("the server's own lock_timeout ending the audit's wait is 503 STORE_BUSY, as a read's is", { timeout: 90_000 }, async () => {
    const holder = await sessionApart(url);
    await holder.query(`ALTER DATABASE "${new URL(url).pathname.slice(1)}" SET lock_timeout = '1s'`);
    const { relay } = await operatorRelayOn(url);
    try {
      const pause = await operatorOn(relay);
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE console_actions IN ACCESS EXCLUSIVE MODE');
      const answer = await pause();
      await holder.query('ROLLBACK');
      assert.equal(answer.status, 503);
      assert.equal((JSON.parse(await answer.text()) as { error: string }).error, 'STORE_BUSY');
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await holder.end();
      await relay.stop();
      removeDir(relay.dir);
    }
  });
});

describe('console: a message that arrived while its provider is paused', () => {
  let relay: TestRelay;
  let base: string;

  before(async () => {
    relay = await startTestRelay({
      sms: { defaultRegion: 'GB' },
      console: { users: [{ name: 'olivia', passwordHash: await hashPassword(PASSWORD), role: 'operator' }] },
    });
    base = `http://127.0.0.1:${relay.relay.httpPort}`;
  });
  after(async () => {
    await relay.stop();
    removeDir(relay.dir);
  });

  test('its SMS, due and waiting for the probe, can be retried: the retry probes the provider now, and is audited', async () => {
    const { store } = relay.relay;
    const operator = await signInAt(base, 'olivia', PASSWORD);
    const get = async (path: string) => (await fetch(`${base}${path}`, { headers: { cookie: operator } })).text();
    // Its next probe ten minutes away: until then the relay claims nothing.
    await store.pauseAccount('intellisoftware', 'LOGIN_INVALID: account refused', 600_000, Date.now());
    const id = uuidv7();
    await store.acceptMail(mail(['+447700900602'], { id, receivedAt: Date.now() }));
    const page = await get(`/console/messages/${id}`);
    assert.match(page, /<button name="action" value="retry">Retry now<\/button>/);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page)?.[1] ?? assert.fail('no CSRF token');
    const response = await postQueue(base, operator, { _csrf: csrf, action: 'retry', target: id, back: `/console/messages/${id}` });
    assert.equal(response.status, 303);
    const notice = /<p class="notice" role="status">([^<]*)<\/p>/.exec(await get(response.headers.get('location') ?? ''))?.[1] ?? '';
    assert.match(notice, /^retry: 0 queued SMS changed; 1 due already, not retried: the next claim takes it\n.*intellisoftware.*probing it now/s);
    assert.equal([...(await get('/console/settings')).matchAll(new RegExp(`queue retry</td><td>${id}`, 'g'))].length, 1, 'the retry is audited');
  });
});

describe('a reply whose mail was refused for good, on its conversation', () => {
  let relay: TestRelay;
  let sink: SmtpSink;
  let base: string;

  before(async () => {
    sink = await new SmtpSink().start();
    // Every reply mail refused for good, as by a mailbox that is gone.
    sink.refuseWith = 550;
    const hash = await hashPassword(PASSWORD);
    relay = await startTestRelay({
      sms: { defaultRegion: 'GB' },
      mail: { url: sink.url },
      console: {
        users: [
          { name: 'olivia', passwordHash: hash, role: 'operator' },
          { name: 'victor', passwordHash: hash, role: 'viewer' },
        ],
      },
    });
    base = `http://127.0.0.1:${relay.relay.httpPort}`;
  });
  after(async () => {
    await relay.stop();
    await sink.stop();
    removeDir(relay.dir);
  });

  test("names the mailbox its mail went to and the server's answer, as the queue page does; a reply that never had one says so", async () => {
    const { store } = relay.relay;
    const number = '+447700900903';
    const sms = { provider: 'intellisoftware', number, sentAt: undefined, userContext: undefined };
    const refusedId = uuidv7();
    await store.acceptInbound({
      ...sms,
      id: refusedId,
      providerId: 'mo-refused',
      text: 'first answer',
      receivedAt: Date.now() - 1_000,
      route: {
        mailbox: 'gone@example.com',
        context: 'c1',
        mail: {
          kind: 'reply',
          messageId: refusedId,
          envelopeFrom: '',
          recipients: ['gone@example.com'],
          raw: Buffer.from('Subject: x\r\n\r\nfirst answer\r\n'),
        },
        messageIdHeader: '<c1@relay>',
      },
    });
    await store.acceptInbound({ ...sms, id: uuidv7(), providerId: 'mo-none', text: 'second answer', receivedAt: Date.now(), route: undefined });
    // More newer replies without a mailbox, from another number, than the queue page lists at once: the refused one is on a later page.
    for (let i = 0; i < 60; i++) {
      await store.acceptInbound({
        ...sms,
        number: '+447700900904',
        id: uuidv7(),
        providerId: `mo-more-${i}`,
        text: 'more',
        receivedAt: Date.now(),
        route: undefined,
      });
    }
    const deadline = Date.now() + 20_000;
    let refused: string | undefined;
    while (!refused && Date.now() < deadline) {
      refused = (await store.undeliverableInboundById(refusedId))?.refused?.error;
      if (!refused) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(refused, 'the smarthost refused the reply mail for good');
    // A viewer reads it too: the mailbox is no number, the answer's numbers would be masked. The viewer opens it from the
    // list (a search by number is an operator's), at the address the operator's list links.
    const listed = await (await fetch(`${base}/console/conversations`, { headers: { cookie: await signInAt(base, 'olivia', PASSWORD) } })).text();
    const thread = new RegExp(`href="(/console/conversations/[^"]+)">\\${number}<`).exec(listed)?.[1] ?? assert.fail(listed);
    for (const name of ['olivia', 'victor']) {
      const cookie = await signInAt(base, name, PASSWORD);
      const page = await (await fetch(`${base}${thread}`, { headers: { cookie } })).text();
      const lines = [...page.matchAll(/<p class="meta">(.*?)<\/p><\/li>/gs)].map((found) => found[1] ?? '');
      assert.equal(lines.length, 2, page);
      // An operator is asked to reroute it, a viewer (who gets no form) to see it.
      const asked = name === 'olivia' ? 'reroute it' : 'see it';
      assert.match(lines[0] ?? '', new RegExp(`reply with no mailbox \\(undeliverable\\): <a href="[^"]+">${asked} on the queue page</a>`));
      assert.match(lines[1] ?? '', /reply to gone@example\.com: its mail was refused for good \(550 [^)]*\), undeliverable/);
      assert.doesNotMatch(lines[1] ?? '', /with no mailbox/);
      // The link lands on the queue page that lists it, at its row.
      const link = /href="([^"]+)"/.exec(lines[1] ?? '')?.[1]?.replaceAll('&amp;', '&') ?? '';
      assert.ok(link.startsWith('/console/queue') && link.endsWith(`#reply-${refusedId}`), link);
      assert.match(await (await fetch(`${base}${link}`, { headers: { cookie } })).text(), new RegExp(`<li id="reply-${refusedId}">`), link);
    }
  });
});

describe('the store file deleted under the running relay', () => {
  let relay: TestRelay;
  let base: string;

  before(async () => {
    relay = await startTestRelay({ console: { users: [{ name: 'olivia', passwordHash: await hashPassword(PASSWORD), role: 'operator' }] } });
    base = `http://127.0.0.1:${relay.relay.httpPort}`;
  });
  after(async () => {
    await relay.stop();
    removeDir(relay.dir);
  });

  test("every page says the store is lost, mail refused and how to restore; a form is refused in those words, a sign-in in short ones naming no file, never 'try again later' nor a Retry-After", async () => {
    const operator = await signInAt(base, 'olivia', PASSWORD);
    const dataDir = relay.config.dataDir;
    await relay.relay.store.setDispatchPaused(true, Date.now());
    const id = uuidv7();
    await relay.relay.store.acceptMail(mail(['+447700900604'], { id, receivedAt: Date.now() }));
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await (await fetch(`${base}/console/queue`, { headers: { cookie: operator } })).text())?.[1] ?? '';
    const signin = await signinFormAt(base);
    for (const name of readdirSync(dataDir).filter((file) => file.startsWith('smsrelay.db'))) rmSync(join(dataDir, name));
    // The next commit notices the loss.
    await relay.relay.store.acceptMail(mail(['+447700900605'], { id: uuidv7(), receivedAt: Date.now() })).catch(() => undefined);
    const copy = await waitFor('the copy saved', () => readdirSync(dataDir).find((file) => file.startsWith('smsrelay.db.recovered-')));
    const said = new RegExp(
      `The store is lost \\(.*\\): the relay refuses every mail \\(451\\) and webhook \\(503\\).*${copy.replaceAll('.', '\\.')}.*docs/operations\\.md#health`,
    );
    // The copy named once written (the page before says it is being written).
    for (const path of ['/console', '/console/queue']) {
      await waitFor(path, async () => said.test(await (await fetch(`${base}${path}`, { headers: { cookie: operator } })).text()));
    }
    const action = await fetch(`${base}/console/queue`, {
      method: 'POST',
      headers: { cookie: operator, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf, action: 'resume' }),
      redirect: 'manual',
    });
    assert.equal(action.status, 503);
    assert.equal(action.headers.get('retry-after'), null, 'only a restart brings a lost store back');
    const refusal = await action.text();
    assert.match(refusal, /Not done: The store is lost/);
    assert.match(refusal, said);
    assert.doesNotMatch(refusal, /try again later|keeps trying/);
    // A sign-in would be written into the deleted file, gone after the restore: refused, saying why.
    const signedIn = await fetch(`${base}/console/signin`, {
      method: 'POST',
      headers: { cookie: signin.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: signin.token, name: 'olivia', password: PASSWORD, next: '/console' }),
      redirect: 'manual',
    });
    assert.equal(signedIn.status, 503);
    assert.equal(signedIn.headers.get('retry-after'), null);
    const shortRefusal = await signedIn.text();
    assert.match(shortRefusal, /the message store is lost or damaged; nothing is taken until an operator restarts the relay/);
    // Not signed in: no file of the relay's named (its data directory, the copy), as /readyz names none.
    assert.doesNotMatch(shortRefusal, said);
    assert.ok(!shortRefusal.includes(dataDir) && !shortRefusal.includes(copy), shortRefusal);
    assert.equal(signedIn.headers.get('set-cookie'), null, 'no session');
    // A script signed in is told the lasting code, not a temporary one.
    const json = await fetch(`${base}/console/queue`, {
      method: 'POST',
      headers: { cookie: operator, accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded', 'x-csrf-token': csrf },
      body: new URLSearchParams({ _csrf: csrf, action: 'resume' }),
    });
    assert.equal(json.status, 503);
    assert.equal(json.headers.get('retry-after'), null);
    assert.equal(((await json.json()) as { error: string }).error, 'STORE_LOST');
  });
});
