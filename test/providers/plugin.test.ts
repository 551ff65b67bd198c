/**
 * A provider plug-in defined only here, registered by name, end to end over real sockets: its own
 * `gateway:` keys validated by its schema, an SMS sent over SMTP reaching this file's tiny HTTP
 * gateway, a delivery report and a reply posted to `/webhooks/<its name>/…` updating the SMS and
 * landing as a reply mail in the Maildir. No central file names it. A second plug-in has no webhooks and
 * pushes what it receives into the sink its gateway is started with (the shape of a provider with a
 * persistent connection, such as SMPP). Then the start-up refusals:
 * an unknown provider, a plug-in missing a part, two plug-ins claiming one name (and its webhook paths).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { z } from 'zod';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import type { Gateway, GatewayOptions, InboundParse, InboundRequest, ProviderPlugin } from '../../src/providers/contract.ts';
import { composeRegistry } from '../../src/providers/registry.ts';
import type { InboundSink, ReceivedSms, StatusReport } from '../../src/vocabulary.ts';
import { maildirMessages, relayEnvironment, removeDir, startTestRelay, tempDir, type TestRelay, waitFor } from '../helpers/relay.ts';
import { queuedId, sendMail } from '../helpers/smtp.ts';

const BIN = fileURLToPath(new URL('../../bin/smsrelay.js', import.meta.url));
const NAME = 'tinygw';
const API_KEY = 'tiny-key-123';
const PHONE = '447700900150';

const tinySettings = z.object({
  apiKey: z.string().min(8, 'expected an API key of at least 8 characters').optional(),
  region: z.enum(['eu', 'us']).default('eu'),
});
type TinySettings = z.output<typeof tinySettings>;

/** The wire format: a JSON POST to `/send`, answered `{"id": …}`; MO and DR come back as JSON posts. */
function createTinyGateway(options: GatewayOptions<TinySettings>): Gateway {
  return {
    provider: NAME,
    capabilities: { maxRecipientsPerRequest: 1, maxParts: 1 },
    endpoints: [...options.endpoints],
    start: () => Promise.resolve(),
    health: () => ({ ok: true }),
    async send(submission, endpoint) {
      const number = submission.recipients[0] ?? '';
      try {
        const response = await request(`${options.endpoints[endpoint]}/send`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-api-key': options.settings.apiKey ?? '' },
          body: JSON.stringify({ to: number, text: submission.text, region: options.settings.region, user: options.username }),
        });
        const { id } = (await response.body.json()) as { id: string };
        return { kind: 'answered', results: [{ number, code: 'TINY:OK', providerId: id, trackingId: id }] };
      } catch (error) {
        return { kind: 'transport', phase: 'response', code: 'TINY_TRANSPORT', detail: String(error) };
      }
    },
    close: () => Promise.resolve(),
  };
}

function parseJson<T>(inbound: InboundRequest, read: (body: Record<string, string>) => T): InboundParse<T> {
  try {
    return { ok: true, items: [read(JSON.parse(inbound.body) as Record<string, string>)] };
  } catch (error) {
    return { ok: false, reason: String(error) };
  }
}

const tinyPlugin: ProviderPlugin<TinySettings> = {
  name: NAME,
  capabilities: { maxRecipientsPerRequest: 1, maxParts: 1, replyTracking: 'tracking-id', scheduling: false },
  settings: {
    schema: tinySettings,
    environment: {},
    required: ['apiKey'],
    defaultUrls: { url: 'https://tinygw.example' },
    account: () => ({ accountId: undefined, sessions: false, signature: undefined }),
  },
  outcomeRules: [{ match: /^recipient\/TINY:OK$/, action: 'sent', category: 'sent', reason: 'accepted by the tiny gateway' }],
  createGateway: createTinyGateway,
  parseReceived: (inbound) =>
    parseJson<ReceivedSms>(inbound, (body) => ({
      providerId: body['id'] ?? '',
      number: `+${body['from']}`,
      text: body['text'] ?? '',
      sentAt: undefined,
      userContext: undefined,
      trackingId: body['ref'],
    })),
  parseReport: (inbound) =>
    parseJson<StatusReport>(inbound, (body) => ({ providerId: body['id'] ?? '', number: `+${body['to']}`, code: 1, state: 'delivered' })),
  describeStatus: () => 'delivered to the phone',
  senderIdProblem: () => undefined,
};

interface Received {
  readonly headers: IncomingMessage['headers'];
  readonly body: Record<string, string>;
}

/** The test's own gateway: records each send and answers it with a fresh id. */
async function startTinyGateway(): Promise<{ server: Server; url: string; sent: Received[] }> {
  const sent: Received[] = [];
  const server = createServer((incoming, response) => {
    let text = '';
    incoming.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    incoming.on('end', () => {
      sent.push({ headers: incoming.headers, body: JSON.parse(text) as Record<string, string> });
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: `tiny-${sent.length}` }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sent };
}

function postWebhook(relay: TestRelay, kind: 'mo' | 'dr', body: object) {
  return request(`http://127.0.0.1:${relay.relay.httpPort}/webhooks/${NAME}/${kind}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

describe('a provider plug-in registered by a test', () => {
  let gateway: Awaited<ReturnType<typeof startTinyGateway>>;
  let relay: TestRelay;

  before(async () => {
    gateway = await startTinyGateway();
    relay = await startTestRelay(
      {
        gateway: { provider: NAME, url: gateway.url, username: 'tiny-user', password: 'tiny-pass', apiKey: API_KEY, region: 'us' },
        sms: { domains: ['sms.example.com'], defaultRegion: 'GB' },
      },
      {},
      tempDir(),
      { providers: [tinyPlugin] },
    );
  });
  after(async () => {
    await relay.stop();
    await new Promise((resolve) => gateway.server.close(resolve));
    removeDir(relay.dir);
  });

  test('its settings are parsed by its schema and kept for it in the config', () => {
    assert.equal(relay.config.gateway.provider, NAME);
    assert.deepEqual(relay.config.gateway.settings, { apiKey: API_KEY, region: 'us' });
  });

  test('mail → its gateway → its DR webhook → its MO webhook → a reply mail in the Maildir', async () => {
    const sent = await sendMail(relay.relay.smtpPort, {
      from: 'alice@example.com',
      to: [`${PHONE}@sms.example.com`],
      subject: 'Tank 7',
      body: 'Tank 7 is full',
      headers: { From: 'alice@example.com', 'Message-ID': '<tiny-1@example.com>' },
    });
    const id = queuedId(sent.data);
    const received = await waitFor('the SMS at the tiny gateway', () => gateway.sent[0]);
    assert.equal(received.headers['x-api-key'], API_KEY);
    assert.deepEqual(received.body, { to: `+${PHONE}`, text: 'Tank 7 is full', region: 'us', user: 'tiny-user' });
    await waitFor('sent', async () => (await relay.relay.store.smsOf(id))[0]?.status === 'sent');

    const report = await postWebhook(relay, 'dr', { id: 'tiny-1', to: PHONE });
    assert.equal(report.statusCode, 200);
    await report.body.dump();
    await waitFor('delivered', async () => (await relay.relay.store.smsOf(id))[0]?.delivery === 'delivered');

    const reply = await postWebhook(relay, 'mo', { id: 'tiny-mo-1', from: PHONE, text: 'Emptying it now', ref: 'tiny-1' });
    assert.equal(reply.statusCode, 200);
    await reply.body.dump();
    const mail = await waitFor('the reply mail', () => maildirMessages(relay.maildir).find((raw) => raw.includes('Emptying it now')));
    assert.match(mail, /^To: .*alice@example\.com/m);
    assert.match(mail, /^In-Reply-To: <tiny-1@example\.com>/m);
  });
});

const PUSH_NAME = 'pushgw';

/**
 * A provider without webhooks: its gateway keeps the sink it is started with and the test pushes a
 * report and a reply through it, as a connection-based provider pushes what arrives on its socket.
 */
function pushPlugin(onStart: (sink: InboundSink) => void, sent: string[]): ProviderPlugin {
  return {
    name: PUSH_NAME,
    capabilities: { maxRecipientsPerRequest: 1, maxParts: 1, replyTracking: 'tracking-id', scheduling: false },
    settings: {
      schema: z.object({}),
      environment: {},
      required: [],
      defaultUrls: { url: 'push://127.0.0.1' },
      account: () => ({ accountId: undefined, sessions: false, signature: undefined }),
    },
    outcomeRules: [{ match: /^recipient\/PUSH:OK$/, action: 'sent', category: 'sent', reason: 'taken by the push gateway' }],
    createGateway: (options) => ({
      provider: PUSH_NAME,
      capabilities: { maxRecipientsPerRequest: 1, maxParts: 1 },
      endpoints: [...options.endpoints],
      start: ({ inbound }) => {
        onStart(inbound);
        return Promise.resolve();
      },
      health: () => ({ ok: true }),
      send: (submission) => {
        sent.push(submission.text);
        const id = `push-${sent.length}`;
        return Promise.resolve({ kind: 'answered', results: [{ number: submission.recipients[0] ?? '', code: 'PUSH:OK', providerId: id, trackingId: id }] });
      },
      close: () => Promise.resolve(),
    }),
    describeStatus: () => 'delivered to the phone',
    senderIdProblem: () => undefined,
  };
}

describe('a provider plug-in that pushes what it receives', () => {
  const sent: string[] = [];
  let sink: InboundSink | undefined;
  let relay: TestRelay;

  before(async () => {
    relay = await startTestRelay(
      { gateway: { provider: PUSH_NAME, username: 'push-user', password: 'push-pass' }, sms: { domains: ['sms.example.com'], defaultRegion: 'GB' } },
      {},
      tempDir(),
      { providers: [pushPlugin((given) => (sink = given), sent)] },
    );
  });
  after(async () => {
    await relay.stop();
    removeDir(relay.dir);
  });

  test('its gateway is started with the inbound service as its sink; reports and replies pushed there are committed once', async () => {
    const id = queuedId(
      (
        await sendMail(relay.relay.smtpPort, {
          from: 'bob@example.com',
          to: [`${PHONE}@sms.example.com`],
          subject: 'Pump 3',
          body: 'Pump 3 stopped',
          headers: { From: 'bob@example.com', 'Message-ID': '<push-1@example.com>' },
        })
      ).data,
    );
    await waitFor('sent', async () => (await relay.relay.store.smsOf(id))[0]?.status === 'sent');
    assert.deepEqual(sent, ['Pump 3 stopped']);
    assert.ok(sink, 'the gateway was started with a sink');

    assert.deepEqual(await sink.reported([{ providerId: 'push-1', number: `+${PHONE}`, code: 1, state: 'delivered' }]), ['advanced']);
    assert.equal((await relay.relay.store.smsOf(id))[0]?.delivery, 'delivered');

    const reply: ReceivedSms = {
      providerId: 'push-mo-1',
      number: `+${PHONE}`,
      text: 'Restarting it',
      sentAt: undefined,
      userContext: undefined,
      trackingId: 'push-1',
    };
    const [first] = await sink.received([reply]);
    assert.equal(first?.status, 'accepted');
    assert.deepEqual(await sink.received([reply]), [{ status: 'duplicate' }], 'a repeated push is recognised, not mailed twice');
    const mail = await waitFor('the reply mail', () => maildirMessages(relay.maildir).find((raw) => raw.includes('Restarting it')));
    assert.match(mail, /^In-Reply-To: <push-1@example\.com>/m);
    assert.equal(maildirMessages(relay.maildir).filter((raw) => raw.includes('Restarting it')).length, 1);

    const webhook = await request(`http://127.0.0.1:${relay.relay.httpPort}/webhooks/${PUSH_NAME}/mo`, { method: 'POST', body: '{}' });
    await webhook.body.dump();
    assert.equal(webhook.statusCode, 404, 'a provider without webhook parsers gets no webhook routes');
  });
});

describe('provider plug-ins at start-up', () => {
  const dirs: string[] = [];
  after(() => dirs.forEach(removeDir));

  function problems(yaml: object, providers: readonly ProviderPlugin[] = []): readonly string[] {
    const dir = tempDir('smsrelay-plugin-');
    dirs.push(dir);
    try {
      loadConfig(relayEnvironment(dir, yaml), dir, { providers });
    } catch (error) {
      assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
      return error.problems;
    }
    assert.fail('expected the configuration to be refused');
  }

  test("the plug-in's own keys are validated by its schema, and its required keys named", () => {
    assert.deepEqual(problems({ gateway: { provider: NAME, username: 'u', password: 'p', apiKey: 'short' } }, [tinyPlugin]), [
      `${dirs.at(-1)}/smsrelay.yaml: gateway.apiKey: expected an API key of at least 8 characters`,
    ]);
    assert.deepEqual(problems({ gateway: { provider: NAME, username: 'u', password: 'p' } }, [tinyPlugin]), [
      `${dirs.at(-1)}/smsrelay.yaml: gateway.apiKey: required for the tinygw gateway`,
    ]);
  });

  test("a setting its schema takes in another form is a warning giving that form, but never for a secret's key", () => {
    // Its schema trims a secret (as a provider may, from a pasted token) and takes the region in lower case.
    const trimming: ProviderPlugin<TinySettings> = {
      ...tinyPlugin,
      settings: {
        ...tinyPlugin.settings,
        schema: tinySettings.extend({
          apiKey: z.string().trim().optional(),
          apiSecret: z.string().trim().optional(),
          statusUrl: z
            .string()
            .transform((url) => url.replace(/\/+$/, ''))
            .optional(),
          region: z
            .string()
            .transform((region) => region.toLowerCase())
            .pipe(z.enum(['eu', 'us']))
            .default('eu'),
        }),
      },
    };
    const dir = tempDir('smsrelay-plugin-');
    dirs.push(dir);
    const gateway = {
      provider: NAME,
      username: 'u',
      password: 'p',
      apiKey: ' tiny-key-123 ',
      apiSecret: 'hunter2-secret\n',
      region: 'US',
      statusUrl: 'https://u:hunter2@dr.example/?key=hunter2/',
    };
    const { warnings } = loadConfig(relayEnvironment(dir, { gateway }), dir, { providers: [trimming] });
    // The key named apiKey is no secret by the project's rule (SECRET_KEYS): the apiSecret's value stays unsaid, a URL's secrets masked.
    assert.deepEqual(
      warnings.map((line) => line.replace(/^\S*smsrelay\.yaml: /, '')),
      [
        'gateway.apiKey: taken as "tiny-key-123", the form the tinygw gateway uses; write that',
        'gateway.region: taken as "us", the form the tinygw gateway uses; write that',
        'gateway.statusUrl: taken as "https://***@dr.example/?key=***", the form the tinygw gateway uses; write that',
      ],
    );
    assert.ok(!warnings.join('\n').includes('hunter2'));
  });

  test('an unknown provider is one line listing the known ones, registered plug-ins included', () => {
    assert.deepEqual(problems({ gateway: { provider: 'carrier-pigeon' } }, [tinyPlugin]), [
      `${dirs.at(-1)}/smsrelay.yaml: gateway.provider: expected one of simulator, intellisoftware, puzzel, interactsms, twilio, vonage, smpp, tinygw, intellisoftware-simulator, puzzel-simulator, interactsms-simulator, twilio-simulator, vonage-simulator, smpp-simulator`,
    ]);
  });

  test('the command refuses an unknown provider with exit 78 and one line', () => {
    const cwd = tempDir('smsrelay-plugin-');
    dirs.push(cwd);
    const result = spawnSync(process.execPath, [BIN, 'start'], {
      cwd,
      env: { PATH: process.env.PATH ?? '', SMSRELAY_GATEWAY: 'carrier-pigeon', SMSRELAY_DATA_DIR: `${cwd}/data` },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(result.status, 78);
    assert.deepEqual(result.stderr.trim().split('\n'), [
      'smsrelay: config: SMSRELAY_GATEWAY="carrier-pigeon": expected one of simulator, intellisoftware, puzzel, interactsms, twilio, vonage, smpp, intellisoftware-simulator, puzzel-simulator, interactsms-simulator, twilio-simulator, vonage-simulator, smpp-simulator',
    ]);
  });

  test('a plug-in missing a part is one line naming the part', () => {
    const { outcomeRules: _rules, ...withoutRules } = tinyPlugin;
    assert.deepEqual(problems({}, [withoutRules as unknown as ProviderPlugin]), ['provider plug-in "tinygw" lacks outcomeRules']);
    const { parseReport: _report, ...withoutReport } = tinyPlugin;
    assert.deepEqual(problems({}, [withoutReport as ProviderPlugin]), ['provider plug-in "tinygw" lacks parseReport']);
  });

  test('an outcome rule holding the sender on an action other than retry is one line naming the rule', () => {
    const rule = { match: /^recipient\/QUEUE_FULL$/, action: 'fail', category: 'sender-busy', reason: 'the queue is full', holdsSender: true } as const;
    assert.deepEqual(problems({}, [{ ...tinyPlugin, outcomeRules: [...tinyPlugin.outcomeRules, rule] }]), [
      'provider plug-in "tinygw": outcome rule /^recipient\\/QUEUE_FULL$/ holds the sender (holdsSender) with action "fail"; holdsSender is for "retry" rules only',
    ]);
    assert.doesNotThrow(() => composeRegistry([{ ...tinyPlugin, outcomeRules: [...tinyPlugin.outcomeRules, { ...rule, action: 'retry' }] }]));
  });

  test('an outcome rule saying what a sent SMS is (recognisedResend, withoutId, heldAtGateway) on an action other than sent is one line naming the rule', () => {
    const rule = { match: /^recipient\/SEEN$/, action: 'retry', category: 'seen', reason: 'seen before', recognisedResend: true } as const;
    assert.deepEqual(problems({}, [{ ...tinyPlugin, outcomeRules: [...tinyPlugin.outcomeRules, rule] }]), [
      'provider plug-in "tinygw": outcome rule /^recipient\\/SEEN$/ says what a sent SMS is (recognisedResend, withoutId, heldAtGateway) with action "retry"; they are for "sent" rules only',
    ]);
    const held = { match: /^recipient\/HELD$/, action: 'fail', category: 'held', reason: 'held', heldAtGateway: 'approve it' } as const;
    assert.match(
      String(problems({}, [{ ...tinyPlugin, outcomeRules: [...tinyPlugin.outcomeRules, held] }])[0]),
      /\/\^recipient\\\/HELD\$\/ says what a sent SMS is .* with action "fail"/,
    );
    assert.doesNotThrow(() =>
      composeRegistry([{ ...tinyPlugin, outcomeRules: [...tinyPlugin.outcomeRules, { ...rule, action: 'sent', withoutId: 'no id' }] }]),
    );
    assert.deepEqual(problems({}, [{ ...tinyPlugin, outcomeRules: [...tinyPlugin.outcomeRules, { ...rule, action: 'sent', withoutId: ' ' }] }]), [
      'provider plug-in "tinygw": outcome rule /^recipient\\/SEEN$/ has an empty withoutId; say what the history should read or leave it out',
    ]);
  });

  test('two plug-ins claiming one name, and so its webhook paths, is one line', () => {
    assert.deepEqual(problems({}, [tinyPlugin, { ...tinyPlugin }]), [
      'two provider plug-ins claim the name "tinygw" and its webhook paths /webhooks/tinygw/mo, /webhooks/tinygw/dr',
    ]);
    assert.deepEqual(problems({}, [{ ...tinyPlugin, name: 'puzzel' } as ProviderPlugin]), [
      'two provider plug-ins claim the name "puzzel" and its webhook paths /webhooks/puzzel/mo, /webhooks/puzzel/dr',
    ]);
  });
});
