/**
 * The InteractSMS simulator held to the same raw wire fixtures as the adapter: each fixture's request
 * bytes are sent as they are and the answer must be the fixture's body, byte for byte. Its webhook
 * posts are held to the inbound fixtures the adapter parses (with a fixed clock). Then the round
 * trip through the real adapter, behaviours, control, retries and close().
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { request } from 'undici';
import type { InboundRequest } from '../../src/providers/contract.ts';
import { createInteractSmsGateway, notifyIdFor } from '../../src/providers/interactsms/adapter.ts';
import { parseReceived, parseReport, verify } from '../../src/providers/interactsms/inbound.ts';
import type { SimulatedSmsRecord } from '../../src/simulators/contract.ts';
import { InteractSmsSimulator, type InteractSmsSimulatorOptions } from '../../src/simulators/interactsms.ts';
import { createLogger } from '../../src/log.ts';
import { loadInteractSmsInboundFixtures, loadWireFixtures, simulatorFixtures } from '../helpers/fixtures.ts';
import { describeSimulatorFixtures } from '../helpers/gateway-suites.ts';
import { assertNeverLogged, captureLog } from '../helpers/log-lines.ts';
import { sendRaw, type RawRequest } from '../helpers/raw-http.ts';
import { startWebhookReceiver, TRY_LATER, type ReplayServer } from '../helpers/replay-server.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

const FIXTURE_DIR = fileURLToPath(new URL('../providers/fixtures/interactsms/', import.meta.url));
const fixtures = simulatorFixtures(loadWireFixtures(FIXTURE_DIR));
const INBOUND_DIR = fileURLToPath(new URL('../providers/fixtures/interactsms/inbound/', import.meta.url));

const inboundFixtures = loadInteractSmsInboundFixtures(INBOUND_DIR);

/** The account the fixtures are written for. */
const USERNAME = 'relaytest';
const PASSWORD = 'p@ss w0rd&=+';
const API_ID = '4321';
const FORM = 'application/x-www-form-urlencoded';
const SEND_PATH = '/api/v1/sendmessage.aspx';
const ACCEPTED = '0\nRequest deferred successfully\n';

type Listening = Awaited<ReturnType<typeof InteractSmsSimulator.listen>>;

function simulatorOptions(overrides: Partial<InteractSmsSimulatorOptions> = {}): InteractSmsSimulatorOptions {
  return { username: USERNAME, password: PASSWORD, accountId: API_ID, logger: createLogger('silent'), ...overrides };
}

/** To the send path unless told otherwise; a body is a form unless told otherwise. */
function send(url: string, options: Partial<RawRequest> = {}) {
  const contentType = options.body === undefined ? undefined : (options.contentType ?? FORM);
  return sendRaw(url, { path: SEND_PATH, ...options, contentType });
}

function sendForm(url: string, fields: Record<string, string>) {
  return send(url, { body: new URLSearchParams({ user: USERNAME, password: PASSWORD, api_id: API_ID, ...fields }).toString() });
}

function json(url: string, path: string, body: unknown, method: 'GET' | 'POST' = 'POST') {
  return request(`${url}${path}`, {
    method,
    ...(method === 'POST' ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
  }).then(async (response) => ({ status: response.statusCode, body: (await response.body.json()) as Record<string, unknown> }));
}

function inboundOf(body: string): InboundRequest {
  return { contentType: FORM, body, query: new URLSearchParams(), headers: {} };
}

describeSimulatorFixtures('InteractSMS simulator: wire fixtures', {
  fixtures,
  atLeast: 20,
  listen: (invalidNumbers) => InteractSmsSimulator.listen(simulatorOptions({ invalidNumbers })),
  checkResponse: (response, fixture, simulator) => {
    assert.equal(response.body, fixture.response.body);
    if (response.status === 200 && /^-?\d/.test(response.body)) assert.match(response.contentType ?? '', /^text\/plain/);
    assert.equal(simulator.records.length > 0, response.body === ACCEPTED, 'records exactly what it accepts');
  },
});

describe('InteractSMS simulator: records, and the round trip through the real adapter', () => {
  let sim: Listening;
  before(async () => {
    sim = await InteractSmsSimulator.listen(simulatorOptions({ invalidNumbers: ['353861234999'] }));
  });
  after(() => sim.close());

  it('the adapter’s ¬ comes back as a line break, one record per number, notify id as id and tracking', async () => {
    const before = sim.simulator.records.length;
    const gateway = createInteractSmsGateway({
      endpoints: [sim.url],
      username: USERNAME,
      password: PASSWORD,
      accountId: API_ID,
      sessions: false,
      connectTimeoutMs: 1_000,
      responseTimeoutMs: 2_000,
      connectionsPerEndpoint: 1,
      logger: createLogger('silent'),
      settings: {},
    });
    const messageId = '0194f3b2-7c1e-7a3d-8f21-3c4b5d6e7f80';
    const text = 'Meeting moved\nto 3pm\n\nRoom 2 – see you';
    try {
      const result = await gateway.send(
        { messageId, recipients: ['+353861234567', '+447700900123'], text, encoding: 'ucs2', maxParts: 1, senderId: 'AcmeCo' },
        0,
      );
      const notifyId = notifyIdFor(messageId);
      assert.deepEqual(result, {
        kind: 'answered',
        results: ['+353861234567', '+447700900123'].map((number) => ({ number, code: 'INTERACT:0', providerId: notifyId, trackingId: notifyId })),
      });
      assert.deepEqual(sim.simulator.records.slice(before), [
        { id: notifyId, to: '353861234567', text, from: 'AcmeCo', tracking: notifyId },
        { id: notifyId, to: '447700900123', text, from: 'AcmeCo', tracking: notifyId },
      ]);

      // One invalid number: the simulator refuses the request as a whole, the adapter then sends each alone.
      const records = sim.simulator.records.length;
      const requests = sim.simulator.requests;
      const mixed = await gateway.send(
        { messageId: '0194f3b2-7c1e-7a3d-8f21-3c4b5d6e7f82', recipients: ['+353861234999', '+353861234568'], text: 'x', encoding: 'gsm7', maxParts: 1 },
        0,
      );
      assert.deepEqual(mixed.kind === 'answered' && mixed.results.map((entry) => [entry.number, entry.code]), [
        ['+353861234999', 'INTERACT:REFUSED:4'],
        ['+353861234568', 'INTERACT:0'],
      ]);
      assert.equal(sim.simulator.requests, requests + 3);
      assert.deepEqual(
        sim.simulator.records.slice(records).map((record) => record.to),
        ['353861234568'],
      );
    } finally {
      await gateway.close();
    }
  });

  it('an SMS without notify id gets an id of the simulator’s own and no tracking', async () => {
    const response = await sendForm(sim.url, { to: '353861234567', text: 'untracked' });
    assert.equal(response.body, ACCEPTED);
    const last = sim.simulator.records.at(-1);
    assert.match(last?.id ?? '', /^sim-\d+$/);
    assert.equal(last?.tracking, undefined);
    assert.equal(last?.from, undefined);
  });

  it('takes ¬ in a GET query string too, and joins repeated names as ASP.NET does', async () => {
    const query = new URLSearchParams({ user: USERNAME, password: PASSWORD, api_id: API_ID, text: 'a¬b' });
    query.append('to', '353861234567');
    query.append('TO', '447700900123');
    const response = await send(sim.url, { method: 'GET', path: `${SEND_PATH}?${query}` });
    assert.equal(response.body, ACCEPTED);
    assert.deepEqual(
      sim.simulator.records.slice(-2).map((record) => [record.to, record.text]),
      [
        ['353861234567', 'a\nb'],
        ['447700900123', 'a\nb'],
      ],
    );
  });

  it('answers the older /HTTP_API/V1 path the same way', async () => {
    const response = await send(sim.url, {
      path: '/HTTP_API/V1/sendmessage.aspx',
      body: new URLSearchParams({ user: USERNAME, password: PASSWORD, api_id: API_ID, to: '353861234567', text: 'old' }).toString(),
    });
    assert.equal(response.body, ACCEPTED);
  });

  it('lists the last records as JSON and counts requests', async () => {
    const requests = sim.simulator.requests;
    await sendForm(sim.url, { to: '353861234567', text: 'listed' });
    const listed = await json(sim.url, '/simulator/messages', undefined, 'GET');
    assert.equal(listed.status, 200);
    const messages = listed.body as unknown as SimulatedSmsRecord[];
    assert.equal(messages.at(-1)?.text, 'listed');
    assert.equal(sim.simulator.requests, requests + 1);
  });
});

describe('InteractSMS simulator: behaviours', () => {
  let sim: Listening;
  before(async () => {
    sim = await InteractSmsSimulator.listen(simulatorOptions());
  });
  after(() => sim.close());

  it('error, http and garbage answer instead of processing, for `times` requests', async () => {
    const before = sim.simulator.records.length;
    sim.simulator.setBehaviour({ mode: 'error', code: 99, text: 'Busy', times: 1 });
    assert.equal((await sendForm(sim.url, { to: '353861234567', text: 'x' })).body, '99\nBusy\n');
    sim.simulator.setBehaviour({ mode: 'error', code: -2, times: 1 });
    assert.equal((await sendForm(sim.url, { to: '353861234567', text: 'x' })).body, '-2\nSimulated error\n');
    sim.simulator.setBehaviour({ mode: 'http', status: 502, times: 2 });
    assert.equal((await sendForm(sim.url, { to: '353861234567', text: 'x' })).status, 502);
    assert.equal((await sendForm(sim.url, { to: '353861234567', text: 'x' })).status, 502);
    sim.simulator.setBehaviour({ mode: 'garbage', times: 1 });
    assert.match((await sendForm(sim.url, { to: '353861234567', text: 'x' })).body, /^<!DOCTYPE html>/);
    assert.equal(sim.simulator.records.length, before, 'nothing recorded');
    assert.equal((await sendForm(sim.url, { to: '353861234567', text: 'x' })).body, ACCEPTED);
    assert.equal(sim.simulator.records.length, before + 1);
  });

  it('hang records the SMS but holds the answer until released', async () => {
    sim.simulator.setBehaviour({ mode: 'hang', times: 1 });
    const before = sim.simulator.records.length;
    const pending = sendForm(sim.url, { to: '353861234567', text: 'held' });
    await waitFor('the held request', () => sim.simulator.pendingRequests === 1, 2_000);
    assert.equal(sim.simulator.records.length, before + 1);
    assert.equal(sim.simulator.releaseHanging(), 1);
    assert.equal((await pending).body, ACCEPTED);
  });

  it('POST /simulator/control sets behaviours and undeliverable numbers; a bad body is a JSON 400', async () => {
    const set = await json(sim.url, '/simulator/control', { mode: 'error', code: 3, text: 'Insufficient credit', times: 1 });
    assert.equal(set.status, 200);
    assert.deepEqual(set.body.behaviour, { mode: 'error', code: 3, text: 'Insufficient credit', times: 1 });
    assert.equal((await sendForm(sim.url, { to: '353861234567', text: 'x' })).body, '3\nInsufficient credit\n');
    const numbers = await json(sim.url, '/simulator/control', { undeliverableNumbers: ['353861234567'] });
    assert.deepEqual(numbers.body.undeliverableNumbers, ['353861234567']);
    for (const bad of [{ mode: 'error', code: 0 }, { mode: 'nope' }, { undeliverableNumbers: ['+353'] }, { mode: 'ok', extra: 1 }]) {
      const refused = await json(sim.url, '/simulator/control', bad);
      assert.equal(refused.status, 400, JSON.stringify(bad));
      assert.ok('error' in refused.body);
    }
    const status = await json(sim.url, '/simulator/control', undefined, 'GET');
    assert.deepEqual(status.body.behaviour, { mode: 'ok' });
  });
});

describe('InteractSMS simulator: webhook posts held to the inbound fixtures', () => {
  const withSimulator = inboundFixtures.filter((fixture) => fixture.simulator !== undefined);

  it('has fixtures of both kinds the simulator reproduces', () => {
    assert.ok(withSimulator.some((fixture) => fixture.kind === 'mo'));
    assert.ok(withSimulator.some((fixture) => fixture.kind === 'dr'));
  });

  for (const fixture of withSimulator) {
    it(`${fixture.kind} ${fixture.name}: posts exactly the fixture's body`, async () => {
      const setup = fixture.simulator;
      assert.ok(setup);
      const receiver = await startWebhookReceiver();
      const sim = await InteractSmsSimulator.listen(
        simulatorOptions({
          clock: () => Date.parse(setup.clock),
          webhookSecret: fixture.secret,
          undeliverableNumbers: setup.undeliverableNumbers,
          reportDelayMs: 0,
          webhooks: { moUrl: `${receiver.url}/mo?token=t`, drUrl: `${receiver.url}/dr?token=t` },
        }),
      );
      try {
        if (fixture.kind === 'dr') {
          assert.equal((await send(sim.url, { body: setup.send ?? '' })).body, ACCEPTED);
          await sim.simulator.waitForWebhookPosts('dr', 1, 2_000);
        } else {
          const answering = sim.simulator.records[0];
          assert.equal(answering, undefined);
          const id = sim.simulator.reply(
            setup.from ?? '',
            setup.text ?? '',
            setup.notifyId === undefined ? undefined : { id: setup.notifyId, to: '0', text: '', tracking: setup.notifyId },
          );
          await sim.simulator.waitForWebhookPosts('mo', 1, 2_000);
          const derived = fixture.parsed.ok ? fixture.parsed.items[0]?.providerId : undefined;
          assert.equal(id, derived, 'reply() returns the id the relay derives');
        }
        assert.deepEqual(
          receiver.requests.map(({ path, contentType, body }) => ({ path, contentType, body })),
          [{ path: `/${fixture.kind}?token=t`, contentType: FORM, body: fixture.body }],
        );
        // And the adapter takes what the simulator posts.
        const parsed = fixture.kind === 'mo' ? parseReceived(inboundOf(fixture.body)) : parseReport(inboundOf(fixture.body));
        assert.ok(parsed.ok);
        assert.equal(verify(inboundOf(fixture.body), fixture.kind, fixture.secret ?? '', 'portal'), true);
      } finally {
        await sim.close();
        await receiver.close();
      }
    });
  }
});

describe('InteractSMS simulator: webhooks', () => {
  let receiver: ReplayServer;
  let sim: Listening;
  before(async () => {
    receiver = await startWebhookReceiver();
    sim = await InteractSmsSimulator.listen(simulatorOptions({ undeliverableNumbers: ['447700900666'], webhookRetryMs: 50, reportDelayMs: 5 }));
    sim.simulator.setWebhooks({ moUrl: `${receiver.url}/mo?token=s3cret`, drUrl: `${receiver.url}/dr?token=s3cret` });
  });
  after(async () => {
    await sim.close();
    await receiver.close();
  });
  const postsFor = (notifyId: string) => sim.simulator.webhookPosts.filter((post) => new URLSearchParams(post.body).get('SMS-NotifyId') === notifyId);

  it('posts one receipt per accepted number, False for an undeliverable one, signed with the password by default', async () => {
    const answered = sim.simulator.webhookPosts.filter((post) => post.kind === 'dr' && post.status === 200).length;
    await sendForm(sim.url, { to: '353861234567,447700900666', text: 'hi', notify_id: 'n-two' });
    await sim.simulator.waitForWebhookPosts('dr', answered + 2, 2_000);
    const forms = postsFor('n-two').map((post) => Object.fromEntries(new URLSearchParams(post.body)));
    const byNumber = new Map(forms.map((form) => [form['SMS-To'], form]));
    assert.equal(byNumber.get('353861234567')?.['SMS-Success'], 'True');
    assert.equal(byNumber.get('447700900666')?.['SMS-Success'], 'False');
    assert.equal(byNumber.get('447700900666')?.['SMS-TotalFailed'], '1');
    for (const post of postsFor('n-two')) {
      assert.equal(verify(inboundOf(post.body), 'dr', PASSWORD, 'portal'), true);
      assert.match(new URLSearchParams(post.body).get('SMS-TimeStamp') ?? '', /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    }
    const reports = postsFor('n-two').flatMap((post) => {
      const parsed = parseReport(inboundOf(post.body));
      return parsed.ok ? parsed.items.map((item) => [item.number, item.state]) : [];
    });
    assert.deepEqual(reports.sort(), [
      ['+353861234567', 'delivered'],
      ['+447700900666', 'failed'],
    ]);
  });

  it('posts no receipt for an SMS sent without notify id', async () => {
    const posts = sim.simulator.webhookPosts.length;
    await sendForm(sim.url, { to: '353861234567', text: 'no receipt' });
    await sleep(60);
    assert.equal(sim.simulator.webhookPosts.length, posts);
  });

  it('reply() posts an MO carrying the notify id of the SMS it answers; keyphrase = first word', async () => {
    await sendForm(sim.url, { to: '353861234567', text: 'Come?', notify_id: 'n-ask' });
    const asked = sim.simulator.records.at(-1);
    assert.equal(asked?.tracking, 'n-ask');
    const answered = sim.simulator.webhookPosts.filter((post) => post.kind === 'mo' && post.status === 200).length;
    const id = sim.simulator.reply('353861234567', '  Yes\nat 5', asked);
    await sim.simulator.waitForWebhookPosts('mo', answered + 1, 2_000);
    const post = sim.simulator.webhookPosts.filter((candidate) => candidate.kind === 'mo').at(-1);
    assert.ok(post);
    const form = new URLSearchParams(post.body);
    assert.equal(form.get('SMS-Type'), 'Text');
    assert.equal(form.get('SMS-Content'), '  Yes\nat 5');
    assert.equal(form.get('SMS-Keyphrase'), 'Yes');
    assert.equal(form.get('SMS-From'), '353861234567');
    assert.equal(form.get('SMS-To'), '353870000000');
    assert.equal(form.get('SMS-NotifyId'), 'n-ask');
    assert.equal(verify(inboundOf(post.body), 'mo', PASSWORD, 'portal'), true);
    assert.equal(verify(inboundOf(post.body), 'mo', 'other', 'portal'), false);
    const parsed = parseReceived(inboundOf(post.body));
    assert.ok(parsed.ok);
    assert.deepEqual(
      { providerId: parsed.items[0]?.providerId, trackingId: parsed.items[0]?.trackingId, number: parsed.items[0]?.number },
      { providerId: id, trackingId: 'n-ask', number: '+353861234567' },
    );
  });

  it('POST /simulator/mo forwards JSON {from, text, notifyId}; 400 for a bad body, 409 without MO URL', async () => {
    const answered = sim.simulator.webhookPosts.filter((post) => post.kind === 'mo' && post.status === 200).length;
    const accepted = await json(sim.url, '/simulator/mo', { from: '447700900123', text: 'Hi there', notifyId: 'n-9' });
    assert.equal(accepted.status, 202);
    assert.match(String(accepted.body.id), /^[0-9a-f]{40}$/);
    await sim.simulator.waitForWebhookPosts('mo', answered + 1, 2_000);
    const form = new URLSearchParams(sim.simulator.webhookPosts.filter((post) => post.kind === 'mo').at(-1)?.body);
    assert.equal(form.get('SMS-NotifyId'), 'n-9');
    assert.equal(form.get('SMS-Content'), 'Hi there');
    for (const bad of [{ from: '+447700900123', text: 'x' }, { from: '447700900123' }, { from: '447700900123', text: 'x', extra: 1 }]) {
      assert.equal((await json(sim.url, '/simulator/mo', bad)).status, 400, JSON.stringify(bad));
    }
    const other = await InteractSmsSimulator.listen(simulatorOptions());
    try {
      assert.equal((await json(other.url, '/simulator/mo', { from: '447700900123', text: 'x' })).status, 409);
      assert.throws(() => other.simulator.reply('447700900123', 'x'), /no MO URL/);
    } finally {
      await other.close();
    }
  });

  it('retries a post not answered 200 with the same body, webhookRetryMs apart', async () => {
    receiver.next = [TRY_LATER, TRY_LATER];
    const answered = sim.simulator.webhookPosts.filter((post) => post.kind === 'dr' && post.status === 200).length;
    await sendForm(sim.url, { to: '353861234567', text: 'again', notify_id: 'n-retry' });
    await sim.simulator.waitForWebhookPosts('dr', answered + 1, 3_000);
    const attempts = postsFor('n-retry');
    assert.deepEqual(
      attempts.map((post) => post.status),
      [500, 500, 200],
    );
    assert.equal(new Set(attempts.map((post) => post.body)).size, 1, 'the same body (and time stamp) every attempt');
    const gaps = attempts.slice(1).map((post, index) => post.at.getTime() - attempts[index]!.at.getTime());
    assert.ok(
      gaps.every((gap) => gap >= 45),
      `retried sooner than webhookRetryMs: ${gaps.join(', ')} ms`,
    );
    await waitFor('no pending posts', () => sim.simulator.pendingWebhooks === 0, 2_000);
  });

  it('waitForWebhookPosts rejects clearly on timeout', async () => {
    await assert.rejects(sim.simulator.waitForWebhookPosts('mo', 10_000, 20), /\d+ of 10000 mo posts answered 200 within 20 ms/);
  });

  it('refuses webhook URLs it could not post to', () => {
    assert.throws(() => sim.simulator.setWebhooks({ drUrl: 'not a url' }), TypeError);
    assert.throws(() => sim.simulator.setWebhooks({ drUrl: 'ftp://x.example/' }), TypeError);
    assert.throws(() => sim.simulator.setWebhooks({ drUrl: 'http://user:pw@x.example/' }), TypeError);
  });
});

describe('InteractSMS simulator: formulas, logs and close()', () => {
  it('signs with the kb formula when told to', async () => {
    const receiver = await startWebhookReceiver();
    const sim = await InteractSmsSimulator.listen(
      simulatorOptions({ webhookFormula: 'kb', webhookSecret: 'k', reportDelayMs: 0, webhooks: { moUrl: `${receiver.url}/mo`, drUrl: `${receiver.url}/dr` } }),
    );
    try {
      await sendForm(sim.url, { to: '353861234567', text: 'x', notify_id: 'n-kb' });
      sim.simulator.reply('353861234567', 'Yes', sim.simulator.records[0]);
      await sim.simulator.waitForWebhookPosts('dr', 1, 2_000);
      await sim.simulator.waitForWebhookPosts('mo', 1, 2_000);
      const mo = receiver.requests.find((hit) => hit.path === '/mo');
      assert.ok(mo);
      assert.equal(verify(inboundOf(mo.body), 'mo', 'k', 'kb'), true);
      assert.equal(verify(inboundOf(mo.body), 'mo', 'k', 'portal'), false);
    } finally {
      await sim.close();
      await receiver.close();
    }
  });

  it('logs numbers masked and webhook URLs without their query string', async () => {
    const { logger, lines } = captureLog('info');
    const receiver = await startWebhookReceiver();
    const sim = await InteractSmsSimulator.listen(
      simulatorOptions({
        logger,
        reportDelayMs: 0,
        webhooks: { moUrl: `${receiver.url}/mo?token=Sekrit99`, drUrl: `${receiver.url}/dr?token=Sekrit99` },
      }),
    );
    try {
      await sendForm(sim.url, { to: '353861234567', text: 'x', notify_id: 'n-log' });
      sim.simulator.reply('447700900123', 'y');
      await sim.simulator.waitForWebhookPosts('dr', 1, 2_000);
      await sim.simulator.waitForWebhookPosts('mo', 1, 2_000);
    } finally {
      await sim.close();
      await receiver.close();
    }
    assert.ok(lines.join('').includes('webhook posted'), lines.join(''));
    assertNeverLogged(lines, { 'a whole number': '353861234567', 'another whole number': '447700900123', 'the webhook token': 'Sekrit99' });
  });

  it('logs under the component its host names, once per line (no second "component" key)', async () => {
    const { logger, lines } = captureLog('info');
    const sim = await InteractSmsSimulator.listen(simulatorOptions({ logger: logger.child({ component: 'simulator' }) }));
    try {
      await sendForm(sim.url, { to: '353861234567', text: 'x', notify_id: 'n-component' });
    } finally {
      await sim.close();
    }
    const simulatorLines = lines.filter((line) => line.includes('"msg":"simulator:'));
    assert.ok(simulatorLines.length > 0, lines.join(''));
    for (const line of simulatorLines) assert.equal(line.match(/"component":/g)?.length, 1, line);
  });

  it('close() cancels a pending retry at once and posts nothing more', async () => {
    const receiver = await startWebhookReceiver();
    receiver.answer = TRY_LATER;
    const sim = await InteractSmsSimulator.listen(simulatorOptions({ webhookRetryMs: 60_000, reportDelayMs: 0, webhooks: { drUrl: `${receiver.url}/dr` } }));
    try {
      await sendForm(sim.url, { to: '353861234567', text: 'x', notify_id: 'n-close' });
      await waitFor('the first attempt', () => sim.simulator.webhookPosts.length === 1, 2_000);
      const started = performance.now();
      await sim.close();
      assert.ok(performance.now() - started < 1_000, 'close() waited for the retry');
      assert.equal(sim.simulator.pendingWebhooks, 0);
      await sleep(50);
      assert.equal(receiver.requests.length, 1);
    } finally {
      await sim.close();
      await receiver.close();
    }
  });

  it('keeps its form parser to its own routes when mounted on another app, and stops posting when the app closes', async () => {
    const app = Fastify();
    app.addContentTypeParser(FORM, { parseAs: 'string' }, (_request, body, done) => done(null, { appParsed: body }));
    app.post('/webhooks/form', async (request) => request.body);
    const simulator = new InteractSmsSimulator(simulatorOptions());
    simulator.register(app);
    try {
      await app.ready();
      const webhook = await app.inject({ method: 'POST', url: '/webhooks/form', headers: { 'content-type': FORM }, payload: 'a=1' });
      assert.deepEqual(webhook.json(), { appParsed: 'a=1' });
      const sms = await app.inject({
        method: 'POST',
        url: SEND_PATH,
        headers: { 'content-type': `${FORM}; charset=utf-8` },
        payload: new URLSearchParams({ user: USERNAME, password: PASSWORD, api_id: API_ID, to: '353861234567', text: 'mounted¬ok' }).toString(),
      });
      assert.equal(sms.body, ACCEPTED);
      assert.equal(simulator.records.at(-1)?.text, 'mounted\nok');
    } finally {
      await app.close();
    }
    simulator.setWebhooks({ moUrl: 'http://127.0.0.1:1/mo' });
    assert.throws(() => simulator.reply('353861234567', 'x'), /closed/);
  });
});
