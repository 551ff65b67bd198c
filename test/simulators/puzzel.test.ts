/**
 * The Puzzel simulator held to the same raw wire fixtures as the adapter: each fixture's request
 * bytes are sent as they are, and the simulator must answer the fixture's status, content type and
 * body byte for byte, the ids it makes up (messageId, sessionId) aside. Then its own features:
 * records, behaviours, control, callbacks with retries, and a round trip through the real adapter.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { outcomeClassifier } from '../../src/dispatch/outcomes.ts';
import { parseReceived, parseReport } from '../../src/providers/puzzel/inbound.ts';
import { puzzelPlugin as puzzelModule } from '../../src/providers/puzzel/index.ts';
import { createSimulator } from '../../src/simulators/index.ts';
import { PuzzelSimulator, type PuzzelSimulatorBehaviour, type PuzzelSimulatorOptions } from '../../src/simulators/puzzel.ts';
import { createLogger } from '../../src/log.ts';
import { loadPuzzelWireFixtures, simulatorFixtures } from '../helpers/fixtures.ts';
import { describeSimulatorFixtures } from '../helpers/gateway-suites.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { sendRaw, type RawRequest, type RawResponse } from '../helpers/raw-http.ts';
import { startWebhookReceiver, type ReplayServer } from '../helpers/replay-server.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

const FIXTURE_DIR = fileURLToPath(new URL('../providers/fixtures/puzzel/', import.meta.url));
const { classifyRecipient } = outcomeClassifier(puzzelModule.outcomeRules);
const SEND_PATH = '/gw/rs/sendMessages';
const ACCOUNT = { accountId: '1000', username: 'relaytest', password: 'p@ss "w0rd"&<>' };

const fixtures = simulatorFixtures(loadPuzzelWireFixtures(FIXTURE_DIR));

type Listening = Awaited<ReturnType<typeof PuzzelSimulator.listen>>;

function simulatorOptions(overrides: Partial<PuzzelSimulatorOptions> = {}): PuzzelSimulatorOptions {
  return { ...ACCOUNT, logger: createLogger('silent'), ...overrides };
}

/** To the send path unless told otherwise. */
function send(url: string, options: Partial<RawRequest>): Promise<RawResponse> {
  return sendRaw(url, { path: SEND_PATH, ...options });
}

/** A JSON send request in the fixtures' account. */
function jsonRequest(messages: unknown[], extra: Record<string, unknown> = {}) {
  return {
    contentType: 'application/json',
    accept: 'application/json',
    body: JSON.stringify({ serviceId: 1000, username: ACCOUNT.username, password: ACCOUNT.password, batchReference: 'b-test', ...extra, message: messages }),
  };
}

interface Status {
  statusCode: number;
  statusMessage: string;
  clientReference: string | null;
  recipient: string | null;
  messageId: string | null;
  sessionId: string | null;
  sequenceIndex: number;
}

function statuses(body: string): Status[] {
  return (JSON.parse(body) as { messageStatus: Status[] }).messageStatus;
}

const MESSAGE_ID = /("messageId":"|<messageId>)[0-9a-z]{12}(?=["<])/g;
const SESSION_ID = /("sessionId":"|<sessionId>)[0-9a-z]{20}(?=["<])/g;

/** The body with made-up ids replaced, and how many distinct ones it held. */
function withoutIds(body: string): { shape: string; ids: number; sessions: number } {
  const ids = new Set([...body.matchAll(MESSAGE_ID)].map((match) => match[0]));
  const sessions = new Set([...body.matchAll(SESSION_ID)].map((match) => match[0]));
  return { shape: body.replace(MESSAGE_ID, '$1<id>').replace(SESSION_ID, '$1<session>'), ids: ids.size, sessions: sessions.size };
}

// ---------------------------------------------------------------------------------------------------

describeSimulatorFixtures('Puzzel simulator: wire fixtures', {
  fixtures,
  atLeast: 20,
  listen: (invalidNumbers) => PuzzelSimulator.listen(simulatorOptions({ invalidNumbers })),
  prepare: async (sim, fixture) => {
    const setup = fixture.simulator === false ? undefined : fixture.simulator;
    if (setup?.authFailure !== undefined) sim.simulator.setAuthFailure(setup.authFailure);
    for (let index = 0; index < (setup?.priorRequests ?? 0); index++) await send(sim.url, fixture.request);
  },
  checkResponse: (response, fixture) => {
    assert.equal(response.contentType?.split(';')[0], fixture.response.contentType);
    const actual = withoutIds(response.body);
    const expected = withoutIds(fixture.response.body);
    assert.equal(actual.shape, expected.shape);
    assert.equal(actual.ids, expected.ids, 'one fresh messageId per accepted message');
    assert.equal(actual.sessions, expected.sessions, 'one fresh sessionId per new session');
  },
});

describe('Puzzel simulator: requests and records', () => {
  let sim: Listening;
  before(async () => {
    sim = await PuzzelSimulator.listen(simulatorOptions({ invalidNumbers: ['447700900999'] }));
  });
  after(() => sim.close());

  it('records each accepted SMS with what the relay needs to compare', async () => {
    const before = sim.simulator.records.length;
    const response = await send(
      sim.url,
      jsonRequest([
        {
          recipient: '+4741000000',
          content: 'Olá 😀',
          clientReference: 'rec-1',
          settings: {
            originatorSettings: { originatorType: 'NETWORK', originator: '1960' },
            validity: 29,
            newSession: true,
            sendWindow: { startDate: '2099-06-30', startTime: '22:15:00+02:00' },
            autoDetectEncoding: true,
          },
        },
        { recipient: '+447700900999', content: 'refused', clientReference: 'rec-2' },
        { recipient: '+447700900123', content: 'Plain', settings: { sessionId: 'continued-session' } },
      ]),
    );
    const [first, refused, third] = statuses(response.body);
    assert.equal(refused?.statusCode, 5);
    const added = sim.simulator.records.slice(before);
    assert.equal(added.length, 2, 'the refused number is not recorded');
    const [record, plain] = added;
    assert.ok(record && plain && first && third);
    assert.ok(record.receivedAt instanceof Date);
    assert.deepEqual(
      { ...record, receivedAt: undefined },
      {
        id: first.messageId,
        to: '4741000000',
        text: 'Olá 😀',
        from: '1960',
        tracking: first.sessionId,
        sendAt: Date.parse('2099-06-30T20:15:00Z'),
        serviceId: 1000,
        batchReference: 'b-test',
        clientReference: 'rec-1',
        originatorType: 'NETWORK',
        validity: 29,
        autoDetectEncoding: true,
        newSession: true,
        receivedAt: undefined,
      },
    );
    assert.match(first.sessionId ?? '', /^[0-9a-z]{20}$/);
    assert.equal(plain.tracking, 'continued-session', 'a given session id is the tracking value');
    assert.equal(third.sessionId, 'continued-session');
    assert.equal(plain.from, undefined);
    assert.equal(plain.sendAt, undefined);
  });

  it('reads send windows: CET without a zone, the time zone before the date zone', async () => {
    const windows: Array<[Record<string, string>, string]> = [
      [{ startDate: '2099-01-15', startTime: '09:00:00' }, '2099-01-15T08:00:00Z'],
      [{ startDate: '2099-01-15Z', startTime: '09:00:00' }, '2099-01-15T09:00:00Z'],
      [{ startDate: '2099-01-15+05:00', startTime: '09:00:00.250-03:30' }, '2099-01-15T12:30:00Z'],
    ];
    for (const [sendWindow, expected] of windows) {
      await send(sim.url, jsonRequest([{ recipient: '+447700900123', content: 'w', settings: { sendWindow } }]));
      assert.equal(sim.simulator.records.at(-1)?.sendAt, Date.parse(expected), JSON.stringify(sendWindow));
    }
    for (const sendWindow of [
      { startDate: '2099-02-30', startTime: '09:00:00' },
      { startDate: '2099-01-15', startTime: '24:00:00' },
      { startTime: '09:00:00' },
    ]) {
      const response = await send(sim.url, jsonRequest([{ recipient: '+447700900123', content: 'w', settings: { sendWindow } }]));
      assert.equal(statuses(response.body)[0]?.statusMessage, 'Syntax error: invalid parameter settings.sendWindow', JSON.stringify(sendWindow));
    }
  });

  it('refuses bad settings with statusCode 5 naming them', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ validity: 174 }, 'settings.validity'],
      [{ validity: 'soon' }, 'settings.validity'],
      [{ autoDetectEncoding: 'yes' }, 'settings.autoDetectEncoding'],
      [{ newSession: 1 }, 'settings.newSession'],
      [{ originatorSettings: { originatorType: 'SHORT', originator: '1960' } }, 'settings.originatorSettings'],
      [{ originatorSettings: { originatorType: 'INTERNATIONAL', originator: '4799999999' } }, 'settings.originatorSettings'],
    ];
    for (const [settings, name] of cases) {
      const response = await send(sim.url, jsonRequest([{ recipient: '+447700900123', content: 'x', settings }]));
      const [status] = statuses(response.body);
      assert.equal(status?.statusCode, 5, JSON.stringify(settings));
      assert.equal(status?.statusMessage, `Syntax error: invalid parameter ${name}`, JSON.stringify(settings));
    }
    const priced = await send(
      sim.url,
      jsonRequest([
        { recipient: '+447700900123', content: 'x', price: 200, settings: { originatorSettings: { originatorType: 'ALPHANUMERIC', originator: 'Acme' } } },
      ]),
    );
    assert.equal(statuses(priced.body)[0]?.statusMessage, 'Syntax error: invalid parameter settings.originatorSettings: not allowed with a price');
  });

  it('counts parts with GSM-7 septets (extension characters two) and UCS-2 units', async () => {
    const cases: Array<[string, boolean, number]> = [
      ['a'.repeat(918), false, 1],
      ['a'.repeat(919), false, 5],
      ['€'.repeat(459), false, 1],
      ['€'.repeat(460), false, 5],
      ['ą'.repeat(402), true, 1],
      ['ą'.repeat(403), true, 5],
      ['😀'.repeat(201), true, 1],
      ['😀'.repeat(202), true, 5],
      ['ą', false, 5],
      ['`', false, 5],
    ];
    for (const [content, autoDetectEncoding, statusCode] of cases) {
      const response = await send(sim.url, jsonRequest([{ recipient: '+447700900123', content, settings: { autoDetectEncoding } }]));
      assert.equal(statuses(response.body)[0]?.statusCode, statusCode, `${content.slice(0, 3)}… × ${[...content].length}`);
    }
  });

  it('answers statusCode 25 for a clientReference it accepted before, even in the same request, but not for one it refused', async () => {
    const first = await send(
      sim.url,
      jsonRequest([
        { recipient: '+447700900123', content: 'a', clientReference: 'dup-1' },
        { recipient: '+447700900124', content: 'b', clientReference: 'dup-1' },
        { recipient: '+447700900125', content: '', clientReference: 'dup-2' },
      ]),
    );
    assert.deepEqual(
      statuses(first.body).map((status) => status.statusCode),
      [1, 25, 5],
    );
    const again = await send(
      sim.url,
      jsonRequest([
        { recipient: '+447700900123', content: 'a', clientReference: 'dup-1' },
        { recipient: '+447700900125', content: 'c', clientReference: 'dup-2' },
      ]),
    );
    assert.deepEqual(
      statuses(again.body).map((status) => [status.statusCode, status.messageId === null]),
      [
        [25, true],
        [1, false],
      ],
    );
  });

  it('checks service id, username and password', async () => {
    for (const extra of [{ serviceId: 1001 }, { serviceId: '1000x' }, { username: 'someone' }, { password: '' }]) {
      const response = await send(sim.url, jsonRequest([{ recipient: '+447700900123', content: 'x' }], extra));
      assert.equal(response.status, 200);
      assert.equal(statuses(response.body)[0]?.statusCode, 2, JSON.stringify(extra));
    }
    const asText = await send(sim.url, jsonRequest([{ recipient: '+447700900123', content: 'x' }], { serviceId: '1000' }));
    assert.equal(statuses(asText.body)[0]?.statusCode, 1, 'a service id written as text is read');
  });

  it('refuses requests without messages with HTTP 400', async () => {
    for (const body of ['[]', '{"serviceId":1000}', '{"serviceId":1000,"message":[]}']) {
      const response = await send(sim.url, { contentType: 'application/json', accept: 'application/json', body });
      assert.equal(response.status, 400, body);
      assert.match(response.contentType ?? '', /^application\/problem\+json/);
    }
    const xml = await send(sim.url, { contentType: 'application/xml', body: '<request><serviceId>1000</serviceId><!DOCTYPE x></request>' });
    assert.equal(xml.status, 400);
    assert.match(JSON.parse(xml.body).detail, /not well-formed XML/);
  });

  it('a form or XML field named __proto__ is a field like any other: nothing reaches Object.prototype of the process it shares with the relay', async () => {
    const form = await send(sim.url, { method: 'GET', path: `${SEND_PATH}?__proto__.pollutedByForm=yes&serviceId=1000` });
    assert.equal(form.status, 400);
    const xml = await send(sim.url, { contentType: 'application/xml', body: '<request><__proto__><pollutedByXml>yes</pollutedByXml></__proto__></request>' });
    assert.equal(xml.status, 400);
    // An entity named like a property every object has is as unknown as any other, as Puzzel's XML parser has it.
    const entity = await send(sim.url, { contentType: 'application/xml', body: '<request><serviceId>1000</serviceId><x>a&constructor;b</x></request>' });
    assert.equal(entity.status, 400);
    assert.match(JSON.parse(entity.body).detail, /unknown entity &constructor;/);
    const plain: Record<string, unknown> = {};
    const polluted = { form: plain.pollutedByForm, xml: plain.pollutedByXml };
    // A failure must not leak into the tests after it.
    delete (Object.prototype as Record<string, unknown>).pollutedByForm;
    delete (Object.prototype as Record<string, unknown>).pollutedByXml;
    assert.deepEqual(polluted, { form: undefined, xml: undefined });
  });

  it('issues 12-character base-36 ids that increase', async () => {
    const ids: string[] = [];
    for (let index = 0; index < 5; index++) {
      const response = await send(sim.url, jsonRequest([{ recipient: '+447700900123', content: `n${index}` }]));
      ids.push(statuses(response.body)[0]?.messageId ?? '');
    }
    for (const id of ids) assert.match(id, /^[0-9a-z]{12}$/);
    for (let index = 1; index < ids.length; index++) assert.ok(parseInt(ids[index]!, 36) > parseInt(ids[index - 1]!, 36));
  });

  it('lists the last records at GET /simulator/messages and its state at GET /simulator/control', async () => {
    const listed = JSON.parse((await send(sim.url, { method: 'GET', path: '/simulator/messages' })).body) as Array<{ id: string }>;
    assert.ok(listed.length > 0 && listed.length <= 100);
    assert.equal(listed.at(-1)?.id, sim.simulator.records.at(-1)?.id);
    const state = JSON.parse((await send(sim.url, { method: 'GET', path: '/simulator/control' })).body) as Record<string, unknown>;
    assert.equal(state['received'], sim.simulator.records.length);
    assert.deepEqual(state['behaviour'], { mode: 'ok' });
    assert.deepEqual(state['webhooks'], { mo: false, dr: false });
  });
});

describe('Puzzel simulator: behaviours and control', () => {
  let sim: Listening;
  before(async () => {
    sim = await PuzzelSimulator.listen(simulatorOptions());
  });
  after(() => sim.close());

  const two = () =>
    jsonRequest([
      { recipient: '+447700900123', content: 'a' },
      { recipient: '+447700900124', content: 'b' },
    ]);
  const control = async (body: unknown) => send(sim.url, { path: '/simulator/control', contentType: 'application/json', body: JSON.stringify(body) });

  it('http and internal-error answer instead of processing, for `times` requests', async () => {
    const cases: Array<[PuzzelSimulatorBehaviour, (response: RawResponse) => void]> = [
      [
        { mode: 'http', status: 500, times: 2 },
        (response) => {
          assert.equal(response.status, 500);
          assert.deepEqual(JSON.parse(response.body), {
            type: 'about:blank',
            title: 'Internal Server Error',
            status: 500,
            detail: 'Simulated HTTP 500',
            instance: SEND_PATH,
          });
        },
      ],
      [
        { mode: 'internal-error', times: 1 },
        (response) =>
          assert.deepEqual(
            statuses(response.body).map((status) => [status.statusCode, status.messageId]),
            [
              [6, null],
              [6, null],
            ],
          ),
      ],
    ];
    for (const [behaviour, check] of cases) {
      assert.equal((await control(behaviour)).status, 200);
      const records = sim.simulator.records.length;
      for (let time = 0; time < ('times' in behaviour ? (behaviour.times ?? 1) : 1); time++) check(await send(sim.url, two()));
      assert.equal(sim.simulator.records.length, records, `${behaviour.mode} must not record anything`);
      assert.deepEqual(
        statuses((await send(sim.url, two())).body).map((status) => status.statusCode),
        [1, 1],
        `${behaviour.mode} did not wear off`,
      );
    }
  });

  it('switches wrong credentials to HTTP 401 ProblemDetails and back', async () => {
    const wrong = () => send(sim.url, jsonRequest([{ recipient: '+447700900123', content: 'x' }], { password: 'nope' }));
    assert.equal((await control({ authFailure: 'http-401' })).status, 200);
    const refused = await wrong();
    assert.equal(refused.status, 401);
    assert.equal(JSON.parse(refused.body).detail, 'Access error: wrong serviceId, username or password');
    await control({ authFailure: 'status-code' });
    assert.equal(statuses((await wrong()).body)[0]?.statusCode, 2);
  });

  it('hang records the SMS but holds the answer until released', async () => {
    await control({ mode: 'hang', times: 1 });
    const records = sim.simulator.records.length;
    const pending = send(sim.url, two());
    await waitFor('held request', () => sim.simulator.pendingRequests === 1, 2_000);
    assert.equal(sim.simulator.records.length, records + 2, 'the gateway has the SMS');
    let settled = false;
    void pending.then(() => (settled = true));
    await sleep(100);
    assert.equal(settled, false);
    assert.deepEqual(
      statuses((await send(sim.url, two())).body).map((status) => status.statusCode),
      [1, 1],
      'times: 1',
    );
    assert.equal(sim.simulator.releaseHanging(), 1);
    const released = await pending;
    assert.deepEqual(
      statuses(released.body).map((status) => status.messageId),
      sim.simulator.records.slice(records, records + 2).map((record) => record.id),
    );
  });

  it('refuses control requests that fit nothing', async () => {
    for (const body of [{ mode: 'http', status: 200 }, { mode: 'nap' }, { authFailure: 'maybe' }, { undeliverableNumbers: ['+44'] }]) {
      assert.equal((await control(body)).status, 400, JSON.stringify(body));
    }
    assert.equal((await send(sim.url, { path: '/simulator/control', contentType: 'application/json', body: 'not json' })).status, 400);
    assert.deepEqual(sim.simulator.behaviour, { mode: 'ok' });
  });
});

describe('Puzzel simulator: callbacks', () => {
  let sim: Listening;
  let receiver: ReplayServer;
  const { logger, lines } = captureLog('info');
  before(async () => {
    receiver = await startWebhookReceiver();
    sim = await PuzzelSimulator.listen(
      simulatorOptions({
        logger,
        undeliverableNumbers: ['447700900666'],
        webhookRetryMs: 50,
        reportDelayMs: 0,
        webhookHeaders: { 'x-api-key': 'k-123' },
      }),
    );
    sim.simulator.setWebhooks({ moUrl: `${receiver.url}/mo?token=s3cret`, drUrl: `${receiver.url}/dr?token=s3cret` });
  });
  after(async () => {
    await sim.close();
    await receiver.close();
  });

  it('posts one delivery report per accepted SMS, 0 or 351, naming our references', async () => {
    const posted = receiver.requests.length;
    const response = await send(
      sim.url,
      jsonRequest([
        { recipient: '+447700900201', content: 'a', clientReference: 'm-1:447700900201' },
        { recipient: '+447700900666', content: 'b', clientReference: 'm-1:447700900666' },
        { recipient: '+447700900202', content: 'c' },
      ]),
    );
    const ids = statuses(response.body).map((status) => status.messageId);
    await waitFor('three DRs', () => receiver.requests.length >= posted + 3, 5_000);
    const posts = receiver.requests.slice(posted);
    for (const post of posts) {
      assert.equal(post.path, '/dr?token=s3cret');
      assert.equal(post.contentType, 'application/json');
      assert.equal(post.headers['x-api-key'], 'k-123');
    }
    const bodies = posts.map((post) => JSON.parse(post.body) as { dr: Array<Record<string, unknown>> });
    const byId = new Map(bodies.map((body) => [body.dr[0]?.['messageid'], body]));
    assert.deepEqual(byId.get(ids[0]), {
      dr: [
        {
          messageid: ids[0],
          customerbatchreference: 'b-test',
          customermessagereference: 'm-1:447700900201',
          serviceid: 1000,
          type: 6,
          statuscode: 0,
          statusdescription: 'OK. Message processed successfully.',
        },
      ],
    });
    assert.equal(byId.get(ids[1])?.dr[0]?.['statuscode'], 351);
    assert.equal(byId.get(ids[2])?.dr[0]?.['customermessagereference'], undefined, 'no clientReference, none in the DR');
    // What the relay reads of them.
    const parsed = posts.map((post) => parseReport({ contentType: 'application/json', body: post.body, query: new URLSearchParams(), headers: {} }));
    assert.deepEqual(
      parsed.slice(0, 3).map((result) => (result.ok ? result.items.map((item) => [item.number, item.state]) : result.reason)),
      posts.map(
        (post) =>
          post.body.includes('447700900201')
            ? [['+447700900201', 'delivered']]
            : post.body.includes('447700900666')
              ? [['+447700900666', 'failed']]
              : [[undefined, 'delivered']], // no reference: the relay takes the number from the SMS its messageid names
      ),
    );
  });

  it('retries a callback not answered 200 with the same body until it is', async () => {
    const posted = receiver.requests.length;
    receiver.next = [
      { status: 500, body: '' },
      { status: 503, body: '' },
    ];
    const answered = sim.simulator.webhookPosts.filter((post) => post.kind === 'mo' && post.status === 200).length;
    const id = sim.simulator.reply('447700900203', 'Yes please');
    await sim.simulator.waitForWebhookPosts('mo', answered + 1, 5_000);
    const posts = receiver.requests.slice(posted);
    assert.deepEqual(
      posts.map((post) => post.answered),
      [500, 503, 200],
    );
    assert.equal(new Set(posts.map((post) => post.body)).size, 1, 'the same body every time');
    const body = JSON.parse(posts[0]?.body ?? '{}') as { mo: Array<Record<string, unknown>> };
    assert.deepEqual(
      { ...body.mo[0], timestamp: undefined },
      {
        messageid: id,
        serviceid: 1000,
        sno: '1960',
        originator: '+447700900203',
        content: 'Yes please',
        timestamp: undefined,
        type: 1,
        sessionid: '',
      },
    );
    assert.match(String(body.mo[0]?.['timestamp']), /^\d{8} \d{2}:\d{2}:\d{2}$/);
    assert.match(id, /^[0-9a-z]{12}$/);
  });

  it('a reply to an SMS with a session carries its session id; POST /simulator/mo does the same', async () => {
    const response = await send(sim.url, jsonRequest([{ recipient: '+447700900204', content: 'Reply YES', settings: { newSession: true } }]));
    const [status] = statuses(response.body);
    const record = sim.simulator.records.find((entry) => entry.id === status?.messageId);
    assert.ok(record?.tracking);
    const posted = receiver.requests.length;
    sim.simulator.reply('447700900204', 'YES', record);
    const injected = await send(sim.url, {
      path: '/simulator/mo',
      contentType: 'application/json',
      body: JSON.stringify({ from: '447700900205', text: 'Hi', sessionid: 'abc' }),
    });
    assert.equal(injected.status, 202);
    const { messageid } = JSON.parse(injected.body) as { messageid: string };
    await waitFor('two MOs', () => receiver.requests.filter((post, index) => index >= posted && post.path.startsWith('/mo')).length >= 2, 5_000);
    const mos = receiver.requests.slice(posted).filter((post) => post.path.startsWith('/mo'));
    const parsed = mos.map((post) => parseReceived({ contentType: 'application/json', body: post.body, query: new URLSearchParams(), headers: {} }));
    const items = parsed.flatMap((result) => (result.ok ? result.items : []));
    assert.deepEqual(items.map((item) => [item.number, item.text, item.trackingId]).sort(), [
      ['+447700900204', 'YES', record.tracking],
      ['+447700900205', 'Hi', 'abc'],
    ]);
    assert.ok(items.some((item) => item.providerId === messageid));
    for (const body of [{ from: '+447700900205', text: 'x' }, { from: '447700900205' }, { from: '447700900205', text: 'x', extra: 1 }]) {
      const refused = await send(sim.url, { path: '/simulator/mo', contentType: 'application/json', body: JSON.stringify(body) });
      assert.equal(refused.status, 400, JSON.stringify(body));
    }
  });

  it('holds the delivery report of a scheduled SMS until its send window opens', async () => {
    const posted = receiver.requests.length;
    // A whole second (the window has no finer unit), 0.5 to 1.5 s away.
    const start = new Date(Math.ceil((Date.now() + 500) / 1000) * 1000);
    const response = await send(
      sim.url,
      jsonRequest([
        {
          recipient: '+447700900206',
          content: 'later',
          clientReference: 'm-2:447700900206',
          settings: { sendWindow: { startDate: `${start.toISOString().slice(0, 10)}Z`, startTime: `${start.toISOString().slice(11, 19)}Z` } },
        },
      ]),
    );
    assert.equal(statuses(response.body)[0]?.statusCode, 1);
    await waitFor('the DR', () => receiver.requests.length > posted, 5_000);
    assert.ok(Date.now() >= start.getTime(), 'not before the window');
    assert.equal(sim.simulator.records.at(-1)?.sendAt, start.getTime());
  });

  it('logs numbers masked and URLs without their query string', () => {
    const log = lines.join('');
    assert.match(log, /puzzel simulator: callback posted/);
    assert.match(log, /puzzel simulator: SMS received/);
    assert.doesNotMatch(log, /447700900201|447700900203|4477009002/);
    assert.doesNotMatch(log, /s3cret|k-123/);
  });
});

describe('Puzzel simulator: close', () => {
  it('cancels pending retries and refuses new replies', async () => {
    const receiver = await startWebhookReceiver();
    receiver.answer = { status: 500, body: '' };
    const simulator = new PuzzelSimulator(simulatorOptions({ webhookRetryMs: 60_000 }));
    simulator.setWebhooks({ moUrl: `${receiver.url}/mo` });
    try {
      simulator.reply('447700900207', 'never answered');
      await waitFor('first attempt', () => receiver.requests.length === 1, 5_000);
      assert.equal(simulator.pendingWebhooks, 1);
      const started = Date.now();
      await simulator.close();
      assert.ok(Date.now() - started < 5_000, 'close does not wait for the retry');
      assert.equal(simulator.pendingWebhooks, 0);
      assert.throws(() => simulator.reply('447700900207', 'again'), /closed/);
      await assert.rejects(simulator.waitForWebhookPosts('mo', 1, 50), /0 of 1 mo posts answered 200 within 50 ms/);
    } finally {
      await receiver.close();
    }
  });

  it('refuses webhook URLs it cannot post to and options out of range', () => {
    const simulator = new PuzzelSimulator(simulatorOptions());
    assert.throws(() => simulator.setWebhooks({ moUrl: 'relay/mo' }), /absolute URL/);
    assert.throws(() => simulator.setWebhooks({ drUrl: 'ftp://x/dr' }), /http or https/);
    assert.throws(() => simulator.setWebhooks({ drUrl: 'http://u:p@x/dr' }), /credentials/);
    assert.throws(() => simulator.reply('447700900207', 'x'), /no MO URL/);
    assert.throws(() => new PuzzelSimulator(simulatorOptions({ accountId: 'abc' })), /numeric service id/);
    assert.throws(() => new PuzzelSimulator(simulatorOptions({ webhookRetryMs: 0 })), /webhookRetryMs/);
    void simulator.close();
  });
});

describe('Puzzel simulator: through the provider module and the real adapter', () => {
  it("registers on an app, takes the adapter's requests, and its callbacks parse back to the numbers and session", async () => {
    const receiver = await startWebhookReceiver();
    const simulator = await createSimulator('puzzel', { ...ACCOUNT, logger: createLogger('silent'), reportDelayMs: 0, webhookRetryMs: 50 });
    const app = Fastify();
    simulator.register(app);
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    simulator.setWebhooks({ moUrl: `${receiver.url}/mo`, drUrl: `${receiver.url}/dr` });
    const gateway = puzzelModule.createGateway({
      endpoints: [url],
      ...ACCOUNT,
      sessions: true,
      connectTimeoutMs: 1_000,
      responseTimeoutMs: 2_000,
      connectionsPerEndpoint: 1,
      settings: {},
      logger: createLogger('silent'),
    });
    try {
      const numbers = ['+447700900301', '+4741000000'];
      const result = await gateway.send(
        {
          messageId: '0192d3a4-5b6c-7d8e-9f00-00000000bbbb',
          recipients: numbers,
          text: 'Server down\nCall me: €5 [now]',
          encoding: 'gsm7',
          maxParts: 6,
          senderId: 'Acme',
          newSession: true,
          expiresAt: Date.now() + 3_600_000,
        },
        0,
      );
      assert.equal(result.kind, 'answered');
      for (const number of numbers) assert.equal(classifyRecipient(result, number).action, 'sent', number);
      assert.deepEqual(
        simulator.records.map((record) => [record.to, record.text, record.from]),
        [
          ['447700900301', 'Server down\nCall me: €5 [now]', 'Acme'],
          ['4741000000', 'Server down\nCall me: €5 [now]', 'Acme'],
        ],
      );
      await simulator.waitForWebhookPosts('dr', 2, 5_000);
      const reports = receiver.requests
        .filter((post) => post.path === '/dr')
        .flatMap((post) => {
          const parsed = parseReport({ contentType: 'application/json', body: post.body, query: new URLSearchParams(), headers: {} });
          return parsed.ok ? parsed.items : [];
        });
      assert.deepEqual(
        reports.map((report) => [report.number, report.providerId, report.state]).sort(),
        numbers.map((number) => [number, classifyRecipient(result, number).providerId, 'delivered']).sort(),
      );
      const record = simulator.records[0];
      simulator.reply('447700900301', 'On it', record);
      await simulator.waitForWebhookPosts('mo', 1, 5_000);
      const mo = receiver.requests.find((post) => post.path === '/mo');
      const parsed = parseReceived({ contentType: 'application/json', body: mo?.body ?? '', query: new URLSearchParams(), headers: {} });
      assert.ok(parsed.ok);
      assert.equal(parsed.items[0]?.trackingId, classifyRecipient(result, '+447700900301').trackingId);
      assert.ok(parsed.items[0]?.trackingId);
    } finally {
      await gateway.close();
      await simulator.close();
      await app.close();
      await receiver.close();
    }
  });
});
