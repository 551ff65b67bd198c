/**
 * The IntelliSoftware simulator held to the same raw wire fixtures as the adapter: each fixture's
 * request bytes are sent as they are, and the simulator must answer the fixture's body (ids aside,
 * which it makes up). Then the simulator's own features: paths, behaviours, control, records.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { request } from 'undici';
import {
  IntelliSoftwareSimulator,
  type IntelliSoftwareSimulatorOptions,
  type SimulatorBehaviour,
} from '../../src/gateways/intellisoftware-simulator.ts';
import { createLogger } from '../../src/log.ts';
import { sleep, waitFor } from '../helpers/wait.ts';
import { loadWireFixtures, simulatorFixtures } from '../helpers/fixtures.ts';

const FIXTURE_DIR = fileURLToPath(new URL('./fixtures/intellisoftware/', import.meta.url));
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

async function send(
  url: string,
  options: { method?: 'GET' | 'POST'; path?: string; contentType?: string; body?: string } = {},
): Promise<{ status: number; contentType: string | undefined; body: string }> {
  const response = await request(`${url}${options.path ?? '/smsgateway/sendmsg.aspx'}`, {
    method: options.method ?? 'POST',
    ...(options.body === undefined
      ? {}
      : { body: options.body, headers: { 'content-type': options.contentType ?? FORM } }),
  });
  const contentType = response.headers['content-type'];
  return {
    status: response.statusCode,
    contentType: typeof contentType === 'string' ? contentType : undefined,
    body: await response.body.text(),
  };
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

describe('IntelliSoftware simulator: wire fixtures', () => {
  it('has fixtures to run', () => {
    assert.ok(fixtures.length >= 15, `only ${fixtures.length} simulator fixtures found in ${FIXTURE_DIR}`);
  });

  for (const fixture of fixtures) {
    it(`${fixture.name}: ${fixture.description}`, async () => {
      const setup = fixture.simulator === false ? undefined : fixture.simulator;
      const sim = await IntelliSoftwareSimulator.listen(simulatorOptions({ invalidNumbers: setup?.invalidNumbers }));
      try {
        if (setup?.behaviour !== undefined) sim.simulator.setBehaviour(setup.behaviour as SimulatorBehaviour);
        const response = await send(sim.url, fixture.request);

        assert.equal(response.status, fixture.response.status);
        const actual = withoutIds(response.body);
        const expected = withoutIds(fixture.response.body);
        assert.equal(actual.shape, expected.shape);
        assert.equal(actual.ids.length, expected.ids.length, 'one id per submission, on every accepted line');
      } finally {
        await sim.close();
      }
    });
  }
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
