/**
 * The IntelliSoftware simulator held to the same raw wire fixtures as the adapter: each fixture's
 * request bytes are sent as they are, and the simulator must answer the fixture's body (ids aside,
 * which it makes up). Then the simulator's own features: paths, behaviours, control, records.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { request } from 'undici';
import { IntelliSoftwareSimulator, type IntelliSoftwareSimulatorOptions, type SimulatorBehaviour } from '../../src/simulators/intellisoftware.ts';
import { createLogger } from '../../src/log.ts';
import { loadWireFixtures, simulatorFixtures } from '../helpers/fixtures.ts';
import { assertNeverLogged, captureLog } from '../helpers/log-lines.ts';
import { describeSimulatorFixtures } from '../helpers/gateway-suites.ts';
import { sendRaw, type RawRequest } from '../helpers/raw-http.ts';
import { startWebhookReceiver, TRY_LATER, type ReplayServer } from '../helpers/replay-server.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

const FIXTURE_DIR = fileURLToPath(new URL('../providers/fixtures/intellisoftware/', import.meta.url));
const fixtures = simulatorFixtures(loadWireFixtures(FIXTURE_DIR));

/** The account the fixtures are written for (login-invalid sends another password on purpose). */
const USERNAME = 'relaytest';
const PASSWORD = 'p@ss w0rd&=+';
const FORM = 'application/x-www-form-urlencoded';
const ID_PATTERN = /ID:(\d{20})/g;
const BALANCE = '/smsgateway/getbalance.aspx';

type Listening = Awaited<ReturnType<typeof IntelliSoftwareSimulator.listen>>;

function simulatorOptions(overrides: Partial<IntelliSoftwareSimulatorOptions> = {}): IntelliSoftwareSimulatorOptions {
  return { username: USERNAME, password: PASSWORD, logger: createLogger('silent'), ...overrides };
}

function credentialsForm(fields: Record<string, string>): string {
  return new URLSearchParams({ username: USERNAME, password: PASSWORD, ...fields }).toString();
}

/** To the send path unless told otherwise; a body is a form unless told otherwise. */
function send(url: string, options: Partial<RawRequest> = {}) {
  const contentType = options.body === undefined ? undefined : (options.contentType ?? FORM);
  return sendRaw(url, { path: '/smsgateway/sendmsg.aspx', ...options, contentType });
}

/** POSTs the fixtures' account credentials plus `fields` as a form to the send path. */
function sendForm(url: string, fields: Record<string, string>) {
  return send(url, { body: credentialsForm(fields) });
}

/** Body with every id replaced, plus the distinct ids it held. */
function withoutIds(body: string): { shape: string; ids: string[] } {
  const ids = [...body.matchAll(ID_PATTERN)].map((match) => match[1] ?? '');
  return { shape: body.replace(ID_PATTERN, 'ID:<id>'), ids: [...new Set(ids)] };
}

describeSimulatorFixtures('IntelliSoftware simulator: wire fixtures', {
  fixtures,
  atLeast: 15,
  listen: (invalidNumbers) => IntelliSoftwareSimulator.listen(simulatorOptions({ invalidNumbers })),
  checkResponse: (response, fixture) => {
    const actual = withoutIds(response.body);
    const expected = withoutIds(fixture.response.body);
    assert.equal(actual.shape, expected.shape);
    assert.equal(actual.ids.length, expected.ids.length, 'one id per submission, on every accepted line');
  },
});

describe('IntelliSoftware simulator: requests and records', () => {
  let sim: Listening;
  before(async () => {
    sim = await IntelliSoftwareSimulator.listen(simulatorOptions({ invalidNumbers: ['447700900999'] }));
  });
  after(() => sim.close());

  it('answers text/plain with HTTP 200, also for errors', async () => {
    const ok = await sendForm(sim.url, { to: '447700900123', text: 'Hi' });
    const refused = await sendForm(sim.url, { password: 'nope', to: '447700900123', text: 'Hi' });
    for (const response of [ok, refused]) {
      assert.equal(response.status, 200);
      assert.match(response.contentType ?? '', /^text\/plain/);
    }
    assert.match(ok.body, /^ID:\d{20}$/);
    assert.equal(refused.body, 'ERR:LOGIN_INVALID');
  });

  it('checks username and password before anything else', async () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ password: PASSWORD, to: '447700900123', text: 'x' }, 'ERR:NO_USERNAME'],
      [{ username: USERNAME, to: '447700900123', text: 'x' }, 'ERR:NO_PASSWORD'],
      [{ username: 'someone', password: PASSWORD }, 'ERR:LOGIN_INVALID'],
    ];
    for (const [fields, expected] of cases) {
      const response = await send(sim.url, { body: new URLSearchParams(fields).toString() });
      assert.equal(response.body, expected, JSON.stringify(fields));
    }
  });

  it('records each accepted SMS, decoding type=2 hex, and emits it', async () => {
    const before = sim.simulator.received.length;
    const emitted: unknown[] = [];
    sim.simulator.on('sms', (sms) => emitted.push(sms));
    const response = await send(sim.url, {
      body: credentialsForm({
        to: '447700900123,447700900999,447700900124',
        type: '2',
        hex: '004F006C00E10020D83DDE00',
        from: 'AcmeCo',
        usercontext: 'c-7f3a9b',
        maxconcat: '2',
      }),
    });
    const [id] = withoutIds(response.body).ids;
    assert.ok(id);
    const added = sim.simulator.received.slice(before);
    assert.equal(added.length, 2, 'the invalid number is not recorded');
    assert.deepEqual(
      added.map(({ receivedAt, ...rest }) => {
        assert.ok(receivedAt instanceof Date);
        return rest;
      }),
      ['447700900123', '447700900124'].map((to) => ({
        id,
        to,
        text: 'Olá 😀',
        from: 'AcmeCo',
        userContext: 'c-7f3a9b',
        maxconcat: 2,
        type: 2,
        endpointPath: '/smsgateway/sendmsg.aspx',
      })),
    );
    assert.deepEqual(emitted, added);
  });

  it('issues 20-digit ids that increase from one submission to the next', async () => {
    const ids: bigint[] = [];
    for (let index = 0; index < 5; index++) {
      const response = await sendForm(sim.url, { to: '447700900123', text: `n${index}` });
      const match = /^ID:(\d{20})$/.exec(response.body);
      assert.ok(match?.[1], response.body);
      ids.push(BigInt(match[1]));
    }
    for (let index = 1; index < ids.length; index++) assert.ok(ids[index]! > ids[index - 1]!);
  });

  it('records the Java SDK path and the defaults it relies on', async () => {
    await send(sim.url, {
      path: '/smsgateway/default.aspx',
      contentType: `${FORM}; charset:utf-8`,
      body: credentialsForm({ to: '+447700900123', text: 'Grüße', clientid: 'IntelliSMSJavaSDK' }),
    });
    const last = sim.simulator.received.at(-1);
    assert.equal(last?.endpointPath, '/smsgateway/default.aspx');
    assert.equal(last?.to, '447700900123');
    assert.equal(last?.text, 'Grüße');
    assert.equal(last?.maxconcat, 1);
    assert.equal(last?.type, 1);
    assert.equal(last?.from, undefined);
  });

  it('counts parts with GSM-7 septets (extension chars count 2) and UCS-2 units against maxconcat', async () => {
    const ANSWERS = { accepted: 'accepted', refused: 'ERR:INVALID_REQUEST' } as const;
    const cases: Array<[string, string, keyof typeof ANSWERS]> = [
      ['160 plain GSM chars fit one part', 'a'.repeat(160), 'accepted'],
      ['161 need two parts', 'a'.repeat(161), 'refused'],
      ['80 euro signs are 160 septets', '€'.repeat(80), 'accepted'],
      ['81 euro signs are 162 septets', '€'.repeat(81), 'refused'],
      ['70 UCS-2 units fit one part', 'ą'.repeat(70), 'accepted'],
      ['71 UCS-2 units need two', 'ą'.repeat(71), 'refused'],
      ['35 emoji are 70 units', '😀'.repeat(35), 'accepted'],
      ['one non-GSM char makes 100 chars UCS-2', `${'a'.repeat(99)}ą`, 'refused'],
    ];
    for (const [label, text, expected] of cases) {
      const response = await sendForm(sim.url, { to: '447700900123', text, maxconcat: '1' });
      assert.equal(response.body.startsWith('ID:') ? 'accepted' : response.body, ANSWERS[expected], label);
    }
    const twoParts = await sendForm(sim.url, { to: '447700900123', text: 'a'.repeat(306), maxconcat: '2' });
    assert.match(twoParts.body, /^ID:/, '306 septets are two parts of 153');
    const threeParts = await sendForm(sim.url, { to: '447700900123', text: 'a'.repeat(307), maxconcat: '2' });
    assert.equal(threeParts.body, 'ERR:INVALID_REQUEST', '307 septets are three parts');
  });

  it('answers the balance on both balance paths, GET and POST', async () => {
    const get = await send(sim.url, {
      method: 'GET',
      path: `${BALANCE}?${credentialsForm({})}`,
    });
    assert.match(get.body, /^BALANCE:\d+$/);
    const post = await send(sim.url, { path: '/smsgateway/getbalance/default.aspx', body: credentialsForm({}) });
    assert.equal(post.body, get.body);
    const wrong = await send(sim.url, { path: BALANCE, body: credentialsForm({ password: 'x' }) });
    assert.equal(wrong.body, 'ERR:LOGIN_INVALID');
  });

  it('lists the last received messages as JSON', async () => {
    const response = await send(sim.url, { method: 'GET', path: '/simulator/messages' });
    assert.equal(response.status, 200);
    const listed = JSON.parse(response.body) as Array<{ id: string; to: string }>;
    assert.ok(listed.length > 0 && listed.length <= 100);
    assert.equal(listed.at(-1)?.id, sim.simulator.received.at(-1)?.id);
  });

  it('logs the text of an SMS at debug with the numbers in it masked, as at every level', async () => {
    const { logger, lines } = captureLog('debug');
    const debugged = await IntelliSoftwareSimulator.listen(simulatorOptions({ logger }));
    try {
      await sendForm(debugged.url, { to: '447700900123', text: 'ring +44 7700 900702 please' });
      const line = lines.map((text) => JSON.parse(text) as { msg: string; text?: string }).find((entry) => entry.msg === 'simulator: SMS text');
      assert.equal(line?.text, 'ring +44 77** ****02 please');
      assertNeverLogged(lines, { 'the number in the text': '900702', 'the recipient': '447700900123' });
    } finally {
      await debugged.close();
    }
  });

  it('counts send requests, whatever they were answered', async () => {
    const before = sim.simulator.requests;
    await send(sim.url, { body: 'junk' });
    await send(sim.url, { method: 'GET', path: '/smsgateway/default.aspx' });
    await send(sim.url, { method: 'GET', path: '/smsgateway/getbalance.aspx' });
    assert.equal(sim.simulator.requests, before + 2);
  });

  it('waitForMessages resolves when enough arrived and rejects clearly on timeout', async () => {
    const count = sim.simulator.received.length + 1;
    const waiting = sim.simulator.waitForMessages(count, 2_000);
    await sendForm(sim.url, { to: '447700900123', text: 'wake up' });
    assert.equal((await waiting).length, count);
    await assert.rejects(sim.simulator.waitForMessages(count + 5, 50), /expected \d+ SMS within 50 ms/);
  });
});

describe('IntelliSoftware simulator: behaviours', () => {
  let sim: Listening;
  before(async () => {
    sim = await IntelliSoftwareSimulator.listen(simulatorOptions());
  });
  after(() => sim.close());

  const form = () => credentialsForm({ to: '447700900123,447700900124', text: 'Hello' });
  const TWO_ACCEPTED = /^447700900123,ID:\d{20}\n447700900124,ID:\d{20}$/;

  it('error, delay, http and garbage answer instead of processing, for `times` requests', async () => {
    const cases: Array<[SimulatorBehaviour, number, RegExp]> = [
      [{ mode: 'error', code: 'INSUFFICIENT_CREDIT', times: 2 }, 200, /^ERR:INSUFFICIENT_CREDIT$/],
      [{ mode: 'error', code: 'INTERNAL_ERROR', times: 1 }, 200, /^ERR:INTERNAL_ERROR$/],
      [{ mode: 'delay', seconds: 7, times: 1 }, 200, /^DELAY:7$/],
      [{ mode: 'http', status: 502, times: 1 }, 502, /HTTP 502/],
      [{ mode: 'garbage', times: 1 }, 200, /^<!DOCTYPE html>/],
    ];
    for (const [behaviour, status, body] of cases) {
      sim.simulator.setBehaviour(behaviour);
      const received = sim.simulator.received.length;
      for (let time = 0; time < (behaviour.mode === 'ok' ? 0 : (behaviour.times ?? 1)); time++) {
        const response = await send(sim.url, { body: form() });
        assert.equal(response.status, status, behaviour.mode);
        assert.match(response.body, body);
      }
      assert.equal(sim.simulator.received.length, received, `${behaviour.mode} must not record anything`);
      const after = await send(sim.url, { body: form() });
      assert.match(after.body, TWO_ACCEPTED, `${behaviour.mode} did not wear off`);
    }
  });

  it('a behaviour without `times` stays until changed', async () => {
    sim.simulator.setBehaviour({ mode: 'error', code: 'GATEWAY_ERROR' });
    for (let index = 0; index < 3; index++) {
      assert.equal((await send(sim.url, { body: form() })).body, 'ERR:GATEWAY_ERROR');
    }
    sim.simulator.setBehaviour({ mode: 'ok' });
    assert.match((await send(sim.url, { body: form() })).body, /ID:/);
  });

  it('hang records the SMS but holds the answer until released', async () => {
    sim.simulator.setBehaviour({ mode: 'hang', times: 1 });
    const before = sim.simulator.received.length;
    const pending = send(sim.url, { body: form() });
    await sim.simulator.waitForMessages(before + 2, 2_000);
    await waitFor('sim.simulator.pendingRequests === 1', () => sim.simulator.pendingRequests === 1, 2_000);
    let settled = false;
    void pending.then(() => (settled = true));
    await sleep(100);
    assert.equal(settled, false, 'a hanging request must not be answered');

    const next = await send(sim.url, { body: form() });
    assert.match(next.body, /ID:/, 'times: 1 applies to one request only');

    assert.equal(sim.simulator.releaseHanging(), 1);
    const released = await pending;
    assert.equal(released.status, 200);
    assert.match(released.body, TWO_ACCEPTED);
    assert.equal(withoutIds(released.body).ids[0], sim.simulator.received[before]?.id);
    assert.equal(sim.simulator.pendingRequests, 0);
  });

  it('a client that gives up on a hanging request is no longer pending', async () => {
    sim.simulator.setBehaviour({ mode: 'hang', times: 1 });
    const controller = new AbortController();
    const pending = request(`${sim.url}/smsgateway/sendmsg.aspx`, {
      method: 'POST',
      body: form(),
      headers: { 'content-type': FORM },
      signal: controller.signal,
    });
    await waitFor('sim.simulator.pendingRequests === 1', () => sim.simulator.pendingRequests === 1, 2_000);
    controller.abort();
    await assert.rejects(pending);
    await waitFor('sim.simulator.pendingRequests === 0', () => sim.simulator.pendingRequests === 0, 2_000);
  });

  it('close() does not wait for hanging requests', async () => {
    const own = await IntelliSoftwareSimulator.listen(simulatorOptions());
    own.simulator.setBehaviour({ mode: 'hang' });
    const pending = send(own.url, { body: form() });
    await waitFor('own.simulator.pendingRequests === 1', () => own.simulator.pendingRequests === 1, 2_000);
    const started = performance.now();
    await own.close();
    assert.ok(performance.now() - started < 1_000, 'close() waited for a hanging request');
    await assert.rejects(pending);
  });

  it('POST /simulator/control sets the behaviour and refuses a bad body with a JSON 400', async () => {
    const set = await send(sim.url, {
      path: '/simulator/control',
      contentType: 'application/json',
      body: JSON.stringify({ mode: 'delay', seconds: 3, times: 1 }),
    });
    assert.equal(set.status, 200);
    assert.deepEqual(sim.simulator.behaviour, { mode: 'delay', seconds: 3, times: 1 });
    assert.equal((await send(sim.url, { body: form() })).body, 'DELAY:3');

    for (const bad of [
      { mode: 'explode' },
      { mode: 'error' },
      { mode: 'error', code: 'lower case' },
      { mode: 'delay', seconds: -1 },
      { mode: 'http', status: 99 },
      { mode: 'hang', times: 0 },
      { mode: 'ok', extra: true },
      'ok',
    ]) {
      const response = await send(sim.url, {
        path: '/simulator/control',
        contentType: 'application/json',
        body: JSON.stringify(bad),
      });
      assert.equal(response.status, 400, JSON.stringify(bad));
      assert.match(response.contentType ?? '', /^application\/json/);
      assert.ok('error' in (JSON.parse(response.body) as object));
    }
    const broken = await send(sim.url, { path: '/simulator/control', contentType: 'application/json', body: '{' });
    assert.equal(broken.status, 400);
    assert.deepEqual(sim.simulator.behaviour, { mode: 'ok' }, 'a refused body must not change the behaviour');
  });

  it('a control request mixing two controls is refused naming the key that is wrong, and what is accepted', async () => {
    const response = await send(sim.url, {
      path: '/simulator/control',
      contentType: 'application/json',
      body: JSON.stringify({ mode: 'ok', undeliverableNumbers: ['447700900123'] }),
    });
    assert.equal(response.status, 400);
    const { detail, accepted } = JSON.parse(response.body) as { detail: string; accepted: string };
    assert.match(detail, /undeliverableNumbers/);
    assert.equal(accepted, 'one control per request: {"mode": …, its own keys}, or {"undeliverableNumbers": …} alone');
    const none = JSON.parse((await send(sim.url, { path: '/simulator/control', contentType: 'application/json', body: '{"moed":"ok"}' })).body);
    assert.equal(none.detail, 'none of the keys mode, undeliverableNumbers');
  });

  it('setBehaviour refuses a behaviour that does not fit', () => {
    assert.throws(() => sim.simulator.setBehaviour({ mode: 'delay', seconds: 1.5 }));
    assert.throws(() => sim.simulator.setBehaviour({ mode: 'nonsense' } as unknown as SimulatorBehaviour));
  });
});

describe('IntelliSoftware simulator: mounted on another app', () => {
  it('keeps its form parser to its own routes and coexists with the app’s parser', async () => {
    const app = Fastify();
    app.addContentTypeParser(FORM, { parseAs: 'string' }, (_request, body, done) => done(null, { appParsed: body }));
    app.post('/webhooks/form', async (request) => request.body);
    const simulator = new IntelliSoftwareSimulator(simulatorOptions());
    simulator.register(app);
    try {
      await app.ready();
      const webhook = await app.inject({
        method: 'POST',
        url: '/webhooks/form',
        headers: { 'content-type': FORM },
        payload: 'a=1',
      });
      assert.deepEqual(webhook.json(), { appParsed: 'a=1' });
      const sms = await app.inject({
        method: 'POST',
        url: '/smsgateway/sendmsg.aspx',
        headers: { 'content-type': `${FORM}; charset:utf-8` },
        payload: credentialsForm({ to: '447700900123', text: 'mounted' }),
      });
      assert.match(sms.body, /^ID:\d{20}$/);
      assert.equal(simulator.received.at(-1)?.text, 'mounted');
    } finally {
      await app.close();
    }
  });
});

const drBody = (msgid: string, status: number, toaddr: string) => `msgid=${msgid}&status=${status}&toaddr=${toaddr}`;
const formOf = (body: string) => Object.fromEntries(new URLSearchParams(body));
const bodiesTo = (receiver: ReplayServer, path: string) => receiver.requests.filter((hit) => hit.path.split('?')[0] === path).map((hit) => hit.body);

describe('IntelliSoftware simulator: forwarding delivery reports and MO', () => {
  let receiver: ReplayServer;
  let sim: Listening;
  before(async () => {
    receiver = await startWebhookReceiver();
    sim = await IntelliSoftwareSimulator.listen(
      simulatorOptions({
        undeliverableNumbers: ['447700900666'],
        invalidNumbers: ['447700900999'],
        webhookRetryMs: 50,
        reportDelayMs: 5,
      }),
    );
  });
  after(async () => {
    await sim.close();
    await receiver.close();
  });
  const useWebhooks = (token: string) => sim.simulator.setWebhooks({ moUrl: `${receiver.url}/mo?token=${token}`, drUrl: `${receiver.url}/dr?token=${token}` });

  it('posts status 3 then 4 with the answered ID', async () => {
    useWebhooks('s3cret');
    const response = await sendForm(sim.url, { to: '447700900123', text: 'Hi' });
    const id = /^ID:(\d{20})$/.exec(response.body)?.[1];
    assert.ok(id, response.body);

    const delivered = await sim.simulator.waitForWebhookPosts(
      (post) => post.kind === 'dr' && post.body === drBody(id, 4, '447700900123') && post.status === 200,
      2_000,
    );
    const mine = receiver.requests.filter((hit) => hit.body.startsWith(`msgid=${id}&`));
    assert.deepEqual(
      mine.map((hit) => hit.body),
      [drBody(id, 3, '447700900123'), drBody(id, 4, '447700900123')],
    );
    for (const hit of mine) {
      assert.equal(hit.path, '/dr?token=s3cret');
      assert.equal(hit.contentType, FORM);
    }
    const posts = sim.simulator.webhookPosts.filter((post) => post.body.startsWith(`msgid=${id}&`));
    assert.equal(posts.length, 2);
    assert.equal(posts[0]?.url, `${receiver.url}/dr?token=s3cret`);
    assert.deepEqual(
      posts.map((post) => post.status),
      [200, 200],
    );
    assert.equal(posts[1], delivered);
  });

  it('never posts a report before the send response has gone out', async () => {
    useWebhooks('t');
    sim.simulator.setBehaviour({ mode: 'hang', times: 1 });
    const before = sim.simulator.received.length;
    const pending = sendForm(sim.url, { to: '447700900124', text: 'held' });
    const [sms] = (await sim.simulator.waitForMessages(before + 1, 2_000)).slice(before);
    assert.ok(sms);
    await sleep(150);
    assert.equal(sim.simulator.webhookPosts.filter((post) => post.body.includes(`msgid=${sms.id}&`)).length, 0, 'reported while the answer was held');
    assert.equal(sim.simulator.releaseHanging(), 1);
    assert.equal((await pending).body, `ID:${sms.id}`);
    await sim.simulator.waitForWebhookPosts((post) => post.body === drBody(sms.id, 4, '447700900124'), 2_000);
  });

  it('reports 6 (unable to deliver) for an undeliverable number, set by option, method or control', async () => {
    useWebhooks('t');
    const byOption = withoutIds((await sendForm(sim.url, { to: '447700900666', text: 'x' })).body).ids[0];
    assert.ok(byOption);
    await sim.simulator.waitForWebhookPosts((post) => post.body === drBody(byOption, 6, '447700900666'), 2_000);
    assert.deepEqual(
      sim.simulator.webhookPosts.filter((post) => post.body.startsWith(`msgid=${byOption}&`)).map((post) => post.body),
      [drBody(byOption, 3, '447700900666'), drBody(byOption, 6, '447700900666')],
    );

    const control = await send(sim.url, {
      path: '/simulator/control',
      contentType: 'application/json',
      body: JSON.stringify({ undeliverableNumbers: ['447700900777'] }),
    });
    assert.equal(control.status, 200);
    assert.deepEqual((JSON.parse(control.body) as { undeliverableNumbers: string[] }).undeliverableNumbers, ['447700900777']);
    assert.deepEqual(sim.simulator.undeliverableNumbers, ['447700900777']);
    assert.deepEqual(sim.simulator.behaviour, { mode: 'ok' }, 'setting numbers leaves the behaviour alone');
    const both = (await sendForm(sim.url, { to: '447700900777,447700900666', text: 'x' })).body;
    const id = withoutIds(both).ids[0];
    assert.ok(id);
    await sim.simulator.waitForWebhookPosts((post) => post.body === drBody(id, 6, '447700900777'), 2_000);
    await sim.simulator.waitForWebhookPosts((post) => post.body === drBody(id, 4, '447700900666'), 2_000);

    for (const bad of [{ undeliverableNumbers: ['+447700900777'] }, { undeliverableNumbers: 'x' }, { undeliverableNumbers: [], mode: 'ok' }]) {
      const refused = await send(sim.url, { path: '/simulator/control', contentType: 'application/json', body: JSON.stringify(bad) });
      assert.equal(refused.status, 400, JSON.stringify(bad));
    }
    assert.throws(() => sim.simulator.setUndeliverableNumbers(['07700900123x']));
    sim.simulator.setUndeliverableNumbers(['447700900666']);
  });

  it('reports each accepted recipient of a multi-recipient request under the one msgid', async () => {
    useWebhooks('t');
    const response = await sendForm(sim.url, { to: '447700900123,447700900999,+447700900124', text: 'all' });
    const { ids } = withoutIds(response.body);
    assert.equal(ids.length, 1);
    const id = ids[0]!;
    for (const to of ['447700900123', '447700900124']) {
      await sim.simulator.waitForWebhookPosts((post) => post.body === drBody(id, 4, to), 2_000);
    }
    await sleep(50);
    const reports = bodiesTo(receiver, '/dr').filter((body) => body.startsWith(`msgid=${id}&`));
    assert.deepEqual(
      reports.map(formOf).sort((a, b) => `${a.toaddr}${a.status}`.localeCompare(`${b.toaddr}${b.status}`)),
      ['447700900123', '447700900124'].flatMap((toaddr) => [
        { msgid: id, status: '3', toaddr },
        { msgid: id, status: '4', toaddr },
      ]),
      'no report for the invalid number',
    );
    for (const to of ['447700900123', '447700900124']) {
      const own = reports.filter((body) => body.endsWith(`toaddr=${to}`));
      assert.deepEqual(own, [drBody(id, 3, to), drBody(id, 4, to)], 'per recipient, 3 comes before 4');
    }
  });

  it('posts no report while no DR URL is set', async () => {
    sim.simulator.setWebhooks({ moUrl: `${receiver.url}/mo` });
    const id = withoutIds((await sendForm(sim.url, { to: '447700900123', text: 'quiet' })).body).ids[0];
    assert.ok(id);
    await sleep(100);
    assert.equal(sim.simulator.webhookPosts.filter((post) => post.body.includes(`msgid=${id}&`)).length, 0);
  });

  it('forwards an MO from POST /simulator/mo with exactly from, text, msgid, sent and usercontext', async () => {
    useWebhooks('m0');
    const started = Date.now();
    const posted = await send(sim.url, {
      path: '/simulator/mo',
      contentType: 'application/json',
      body: JSON.stringify({ from: '447700900123', text: 'On it & more 😀', usercontext: 'ab12' }),
    });
    assert.equal(posted.status, 202);
    const { msgid } = JSON.parse(posted.body) as { msgid: string };
    assert.match(msgid, /^\d{20}$/);
    const post = await sim.simulator.waitForWebhookPosts((p) => p.kind === 'mo' && formOf(p.body).msgid === msgid, 2_000);
    assert.equal(post.status, 200);
    assert.equal(post.url, `${receiver.url}/mo?token=m0`);
    const hit = receiver.requests.find((h) => h.body === post.body);
    assert.equal(hit?.path, '/mo?token=m0');
    assert.equal(hit?.contentType, FORM);
    const fields = [...new URLSearchParams(post.body)];
    assert.deepEqual(
      fields.map(([name]) => name),
      ['from', 'text', 'msgid', 'sent', 'usercontext'],
    );
    const form = formOf(post.body);
    assert.equal(form.from, '447700900123');
    assert.equal(form.text, 'On it & more 😀');
    assert.equal(form.usercontext, 'ab12');
    assert.match(form.sent ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/);
    const sentAt = Date.parse(form.sent ?? '');
    assert.ok(sentAt >= Math.floor(started / 1000) * 1000 && sentAt <= Date.now(), form.sent);
  });

  it('forwards an MO without usercontext with no usercontext field, keeping a given msgid', async () => {
    useWebhooks('m1');
    const posted = await send(sim.url, {
      path: '/simulator/mo',
      contentType: 'application/json',
      body: JSON.stringify({ from: '447700900123', text: 'No context', msgid: '10011000000000000042' }),
    });
    assert.equal(posted.status, 202);
    assert.deepEqual(JSON.parse(posted.body), { msgid: '10011000000000000042' });
    const post = await sim.simulator.waitForWebhookPosts((p) => p.kind === 'mo' && p.body.includes('msgid=10011000000000000042'), 2_000);
    assert.deepEqual(
      [...new URLSearchParams(post.body)].map(([name]) => name),
      ['from', 'text', 'msgid', 'sent'],
    );
    assert.match(post.body, /^from=447700900123&text=No\+context&msgid=10011000000000000042&sent=/);
  });

  it('sendMo forwards in-process and returns the msgid; an empty usercontext is forwarded empty', async () => {
    useWebhooks('m2');
    const msgid = sim.simulator.sendMo({ from: '353861234567', text: 'in process', usercontext: '' });
    assert.match(msgid, /^\d{20}$/);
    assert.equal(
      sim.simulator.webhookPosts.some((post) => post.body.includes(`msgid=${msgid}`)),
      false,
      'posted before sendMo returned',
    );
    const post = await sim.simulator.waitForWebhookPosts((p) => p.body.includes(`msgid=${msgid}`), 2_000);
    assert.equal(formOf(post.body).usercontext, '');
    assert.throws(() => sim.simulator.sendMo({ from: '+353861234567', text: 'x' }));
  });

  it('refuses an invalid MO with a JSON 400, and an MO without MO URL with a JSON 409', async () => {
    useWebhooks('t');
    const bad: unknown[] = [
      {},
      { from: '447700900123' },
      { text: 'no sender' },
      { from: '+447700900123', text: 'plus' },
      { from: 'AcmeCo', text: 'alpha' },
      { from: '447700900123', text: 42 },
      { from: '447700900123', text: 'x', msgid: 'has space' },
      { from: '447700900123', text: 'x', extra: true },
      'text',
    ];
    for (const body of bad) {
      const response = await send(sim.url, { path: '/simulator/mo', contentType: 'application/json', body: JSON.stringify(body) });
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.match(response.contentType ?? '', /^application\/json/);
      assert.ok('error' in (JSON.parse(response.body) as object));
    }
    const form = await send(sim.url, { path: '/simulator/mo', body: 'from=447700900123&text=x' });
    assert.equal(form.status, 400, 'a form body is not the JSON the endpoint takes');

    sim.simulator.setWebhooks({ drUrl: `${receiver.url}/dr` });
    const conflict = await send(sim.url, {
      path: '/simulator/mo',
      contentType: 'application/json',
      body: JSON.stringify({ from: '447700900123', text: 'nowhere to go' }),
    });
    assert.equal(conflict.status, 409);
    assert.match(conflict.contentType ?? '', /^application\/json/);
    assert.ok('error' in (JSON.parse(conflict.body) as object));
    assert.throws(() => sim.simulator.sendMo({ from: '447700900123', text: 'x' }), /no MO URL/);
  });

  it('retries a post answered 500 with the same body until it gets 200, and holds 4 back until 3 got its 200', async () => {
    useWebhooks('retry');
    receiver.next = [TRY_LATER, TRY_LATER];
    const id = withoutIds((await sendForm(sim.url, { to: '447700900125', text: 'again' })).body).ids[0];
    assert.ok(id);
    await sim.simulator.waitForWebhookPosts((post) => post.body === drBody(id, 4, '447700900125') && post.status === 200, 3_000);
    const attempts = sim.simulator.webhookPosts.filter((post) => post.body.startsWith(`msgid=${id}&`));
    assert.deepEqual(
      attempts.map((post) => [formOf(post.body).status, post.status]),
      [
        ['3', 500],
        ['3', 500],
        ['3', 200],
        ['4', 200],
      ],
    );
    const gaps = attempts.slice(1, 3).map((post, index) => post.at.getTime() - attempts[index]!.at.getTime());
    assert.ok(
      gaps.every((gap) => gap >= 45),
      `retried sooner than webhookRetryMs: ${gaps.join(', ')} ms`,
    );
    assert.deepEqual(
      receiver.requests.filter((hit) => hit.body.startsWith(`msgid=${id}&`)).map((hit) => formOf(hit.body).status),
      ['3', '3', '3', '4'],
    );

    receiver.next = [TRY_LATER, TRY_LATER];
    const msgid = sim.simulator.sendMo({ from: '447700900123', text: 'keep trying' });
    await sim.simulator.waitForWebhookPosts((post) => post.kind === 'mo' && post.body.includes(msgid) && post.status === 200, 3_000);
    const moAttempts = sim.simulator.webhookPosts.filter((post) => post.body.includes(`msgid=${msgid}`));
    assert.deepEqual(
      moAttempts.map((post) => post.status),
      [500, 500, 200],
    );
    assert.equal(new Set(moAttempts.map((post) => post.body)).size, 1, 'the same body (and sent time) on every attempt');
    await waitFor('no pending webhooks', () => sim.simulator.pendingWebhooks === 0, 2_000);
  });

  it('counts a refused connection as a failed attempt and retries it', async () => {
    const gone = await startWebhookReceiver();
    const goneUrl = `${gone.url}/dr`;
    await gone.close();
    sim.simulator.setWebhooks({ drUrl: goneUrl });
    const id = withoutIds((await sendForm(sim.url, { to: '447700900126', text: 'nobody home' })).body).ids[0];
    assert.ok(id);
    await waitFor('two failed attempts', () => sim.simulator.webhookPosts.filter((post) => post.body.startsWith(`msgid=${id}&`)).length >= 2, 3_000);
    const attempts = sim.simulator.webhookPosts.filter((post) => post.body.startsWith(`msgid=${id}&`));
    assert.ok(attempts.every((post) => post.status === 'error' && post.body === drBody(id, 3, '447700900126')));
    // Pointing the account elsewhere does not redirect a forward already under way.
    useWebhooks('t');
    await sleep(120);
    assert.equal(receiver.requests.filter((hit) => hit.body.startsWith(`msgid=${id}&`)).length, 0);
  });

  it('waitForWebhookPosts finds past posts and rejects clearly on timeout', async () => {
    const first = sim.simulator.webhookPosts[0];
    assert.ok(first);
    assert.equal(await sim.simulator.waitForWebhookPosts((post) => post === first, 10), first);
    await assert.rejects(
      sim.simulator.waitForWebhookPosts(() => false, 30),
      /no matching webhook post within 30 ms/,
    );
  });

  it('refuses forwarding URLs it could not post to', () => {
    assert.throws(() => sim.simulator.setWebhooks({ drUrl: '/relative' }), /absolute/);
    assert.throws(() => sim.simulator.setWebhooks({ moUrl: 'ftp://example.invalid/mo' }), /http or https/);
    assert.throws(() => sim.simulator.setWebhooks({ moUrl: 'http://user:pw@127.0.0.1/mo' }), /credentials/);
    assert.throws(() => sim.simulator.setWebhookRetry(0), RangeError);
  });
});

describe('IntelliSoftware simulator: close() and pending forwards', () => {
  it('close() cancels a pending retry at once and posts nothing more', async () => {
    const receiver = await startWebhookReceiver();
    receiver.answer = TRY_LATER;
    const own = await IntelliSoftwareSimulator.listen(simulatorOptions({ webhooks: { drUrl: `${receiver.url}/dr`, moUrl: `${receiver.url}/mo` } }));
    try {
      assert.equal(own.simulator.webhookRetryMs, 300_000, 'the platform retries every 5 minutes');
      await sendForm(own.url, { to: '447700900123,447700900124', text: 'x' });
      own.simulator.sendMo({ from: '447700900123', text: 'y' });
      await waitFor('three failed first attempts', () => receiver.requests.length === 3, 2_000);
      assert.equal(own.simulator.pendingWebhooks, 3);
      const started = performance.now();
      await own.close();
      assert.ok(performance.now() - started < 1_000, 'close() waited for a retry');
      assert.equal(own.simulator.pendingWebhooks, 0);
      const posts = own.simulator.webhookPosts.length;
      await sleep(100);
      assert.equal(own.simulator.webhookPosts.length, posts);
      assert.throws(() => own.simulator.sendMo({ from: '447700900123', text: 'late' }), /closed/);
    } finally {
      await own.close();
      await receiver.close();
    }
  });

  it('many reports waiting at once raise no listener-leak warning', async () => {
    // Each waiting report listens on the forwarder's one close signal; a relay on the built-in simulator
    // under load printed Node's MaxListenersExceededWarning at its eleventh SMS in flight.
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', onWarning);
    const app = await startWebhookReceiver();
    const own = await IntelliSoftwareSimulator.listen(simulatorOptions({ webhooks: { drUrl: `${app.url}/dr` }, reportDelayMs: 200 }));
    try {
      for (let sms = 0; sms < 15; sms++) await sendForm(own.url, { to: `4477009001${String(sms).padStart(2, '0')}`, text: 'x' });
      await waitFor('every report', () => app.requests.length === 30, 5_000);
      await nextTurn();
      assert.deepEqual(warnings, []);
    } finally {
      process.off('warning', onWarning);
      await own.close();
      await app.close();
    }
  });

  it('close() cuts an attempt in flight short', async () => {
    // A receiver that never answers: the attempt would otherwise wait for the 60 s timeout.
    const app = await startWebhookReceiver();
    app.respond = () => new Promise(() => {});
    const own = await IntelliSoftwareSimulator.listen(simulatorOptions({ webhooks: { drUrl: `${app.url}/dr` } }));
    try {
      await sendForm(own.url, { to: '447700900123', text: 'x' });
      await waitFor('the report to arrive', () => app.requests.length === 1, 2_000);
      const started = performance.now();
      await own.close();
      assert.ok(performance.now() - started < 1_000);
      assert.deepEqual(
        own.simulator.webhookPosts.map((post) => post.status),
        ['error'],
      );
    } finally {
      await own.close();
      await app.close();
    }
  });

  it('an attempt that outlasts webhookTimeoutMs fails and is retried', async () => {
    const app = await startWebhookReceiver();
    app.respond = async (post) => {
      if (post === app.requests[0]) await sleep(300);
      return app.answer;
    };
    const own = await IntelliSoftwareSimulator.listen(
      simulatorOptions({ webhooks: { drUrl: `${app.url}/dr` }, webhookTimeoutMs: 100, webhookRetryMs: 20, reportDelayMs: 0 }),
    );
    try {
      const id = withoutIds((await sendForm(own.url, { to: '447700900123', text: 'x' })).body).ids[0];
      assert.ok(id);
      await own.simulator.waitForWebhookPosts((post) => post.body === drBody(id, 4, '447700900123'), 2_000);
      assert.deepEqual(
        own.simulator.webhookPosts.map((post) => post.status),
        ['error', 200, 200],
      );
    } finally {
      await own.close();
      await app.close();
    }
  });

  it('closing an app the simulator is registered on cancels its pending retries', async () => {
    const receiver = await startWebhookReceiver();
    receiver.answer = TRY_LATER;
    const app = Fastify();
    const simulator = new IntelliSoftwareSimulator(simulatorOptions({ webhooks: { moUrl: `${receiver.url}/mo` } }));
    simulator.register(app);
    try {
      await app.ready();
      const response = await app.inject({
        method: 'POST',
        url: '/simulator/mo',
        payload: { from: '447700900123', text: 'mounted' },
      });
      assert.equal(response.statusCode, 202);
      await waitFor('the first attempt', () => receiver.requests.length === 1, 2_000);
      assert.equal(simulator.pendingWebhooks, 1);
      await app.close();
      assert.equal(simulator.pendingWebhooks, 0);
    } finally {
      await app.close();
      await receiver.close();
    }
  });

  it('reports an SMS sent through app.inject too', async () => {
    const receiver = await startWebhookReceiver();
    const app = Fastify();
    const simulator = new IntelliSoftwareSimulator(simulatorOptions({ webhooks: { drUrl: `${receiver.url}/dr` }, reportDelayMs: 0 }));
    simulator.register(app);
    try {
      const sms = await app.inject({
        method: 'POST',
        url: '/smsgateway/sendmsg.aspx',
        headers: { 'content-type': FORM },
        payload: credentialsForm({ to: '447700900123', text: 'injected' }),
      });
      const id = /^ID:(\d{20})$/.exec(sms.body)?.[1];
      assert.ok(id);
      await simulator.waitForWebhookPosts((post) => post.body === drBody(id, 4, '447700900123'), 2_000);
    } finally {
      await app.close();
      await receiver.close();
    }
  });
});
