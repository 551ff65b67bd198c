import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { outcomeClassifier } from '../../src/dispatch/outcomes.ts';
import { inboundOf } from '../../src/http/webhooks.ts';
import { BUILT_IN_PROVIDERS } from '../../src/providers/registry.ts';
import {
  type Gateway,
  type InboundRequest,
  type ProviderPlugin,
  receivesWebhooks,
  type SmsSubmission,
  type SubmissionResult,
  type WebhookParsing,
} from '../../src/providers/contract.ts';
import type { ProviderSimulator } from '../../src/simulators/contract.ts';
import { createSimulator } from '../../src/simulators/index.ts';
import type { ReceivedSms, StatusReport } from '../../src/vocabulary.ts';
import { collectingSink } from '../helpers/gateway.ts';
import { createLogger } from '../../src/log.ts';
import { waitFor } from '../helpers/wait.ts';

/** An SMPP bind's password is at most 8 characters. */
const ACCOUNT = { username: 'contract-user', password: 'c-secret', accountId: '4711' };
const INVALID = '447700900999';
const UNDELIVERABLE = '447700900666';
const logger = createLogger('silent');
/** Each provider's own settings a real account needs to send at all (Twilio's sender). */
const SETTINGS: Readonly<Record<string, Readonly<Record<string, unknown>>>> = {
  twilio: { messagingServiceSid: `MG${'0'.repeat(32)}` },
  vonage: { from: '447700900000' },
};
/** The signature formula each provider's receiver checks with (the simulators sign with the default). */
const FORMULAS: Readonly<Record<string, string>> = { vonage: 'md5hash' };

/** A webhook receiver that reads what a simulator posts with the adapter's own parsers. */
async function receiver(module: ProviderPlugin & WebhookParsing) {
  const received: ReceivedSms[] = [];
  const reports: StatusReport[] = [];
  const failures: string[] = [];
  const app: FastifyInstance = Fastify();
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));
  for (const kind of ['mo', 'dr'] as const) {
    app.route({
      method: [...(module.webhookMethods ?? ['POST'])],
      url: `/${kind}`,
      handler: async (request) => {
        const inbound = inboundOf(request);
        if (module.verify && !module.verify(inbound, kind, ACCOUNT.password, FORMULAS[module.name] ?? 'portal')) failures.push(`${kind}: signature`);
        const parsed = kind === 'mo' ? module.parseReceived(inbound) : module.parseReport(inbound);
        if (!parsed.ok) failures.push(`${kind}: ${parsed.reason}`);
        else if (kind === 'mo') received.push(...(parsed.items as ReceivedSms[]));
        else reports.push(...(parsed.items as StatusReport[]));
        return { ok: true };
      },
    });
  }
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return { received, reports, failures, url, sink: undefined, close: () => app.close() };
}

/** What a provider that pushes what it receives (SMPP) hands its gateway's sink, collected the same way. */
function pushed() {
  const { sink, received, reports, quarantined } = collectingSink();
  return { received, reports, failures: quarantined, url: undefined, sink, close: () => Promise.resolve() };
}

/**
 * Sends `submission` in requests of at most the provider's `maxRecipientsPerRequest` numbers (one
 * for Twilio and Vonage), as the dispatcher does, and merges the answers.
 */
async function sendAll(gateway: Gateway, submission: SmsSubmission): Promise<SubmissionResult> {
  const size = gateway.capabilities.maxRecipientsPerRequest;
  const results: Extract<SubmissionResult, { kind: 'answered' }>['results'][number][] = [];
  for (let start = 0; start < submission.recipients.length; start += size) {
    const result = await gateway.send({ ...submission, recipients: submission.recipients.slice(start, start + size) }, 0);
    if (result.kind !== 'answered') return result;
    results.push(...result.results);
  }
  return { kind: 'answered', results };
}

/**
 * The same behaviour from every provider module against its own simulator, over real sockets: HTTP
 * and its webhooks, or the provider's own connection (SMPP) and the sink its gateway pushes to.
 */
for (const module of BUILT_IN_PROVIDERS) {
  const { classifyRecipient } = outcomeClassifier(module.outcomeRules);
  const webhooks = receivesWebhooks(module) ? module : undefined;
  describe(`provider contract: ${module.name}`, () => {
    let simulator: ProviderSimulator;
    let app: FastifyInstance;
    let gateway: Gateway;
    let wrongPassword: Gateway;
    let hooks: Awaited<ReturnType<typeof receiver>> | ReturnType<typeof pushed>;

    before(async () => {
      hooks = webhooks ? await receiver(webhooks) : pushed();
      simulator = await createSimulator(module.name, {
        ...ACCOUNT,
        logger,
        invalidNumbers: [INVALID],
        undeliverableNumbers: [UNDELIVERABLE],
        webhookRetryMs: 100,
        reportDelayMs: 0,
        webhookSecret: ACCOUNT.password,
      });
      app = Fastify();
      simulator.register(app);
      await app.listen({ host: '127.0.0.1', port: 0 });
      const address = app.server.address();
      const url = (await simulator.listen?.()) ?? `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
      simulator.setWebhooks({ moUrl: `${hooks.url}/mo`, drUrl: `${hooks.url}/dr` });
      const options = {
        endpoints: [url],
        ...ACCOUNT,
        sessions: true,
        connectTimeoutMs: 2_000,
        responseTimeoutMs: 5_000,
        connectionsPerEndpoint: 2,
        logger,
        settings: module.settings.schema.parse(SETTINGS[module.name] ?? {}),
      };
      gateway = module.createGateway(options);
      wrongPassword = module.createGateway({ ...options, password: 'wrong' });
      const inbound = hooks.sink ?? pushed().sink;
      await gateway.start({ inbound });
      await wrongPassword.start({ inbound });
    });
    after(async () => {
      await gateway.close();
      await wrongPassword.close();
      await simulator.close();
      await app.close();
      await hooks.close();
    });

    const submission = (recipients: string[], text = 'Server down\nCall me: €5 [now]'): SmsSubmission => ({
      messageId: `0192d3a4-5b6c-7d8e-9f00-${String(Math.floor(Math.random() * 1e12)).padStart(12, '0')}`,
      recipients,
      text,
      encoding: 'gsm7',
      maxParts: module.capabilities.maxParts,
      userContext: 'ctx-42',
      deliveryReport: true,
      newSession: true,
    });

    test('capabilities are stated', () => {
      assert.ok(module.capabilities.maxRecipientsPerRequest >= 1);
      assert.ok(module.capabilities.maxParts >= 1);
      if (webhooks) assert.match(module.settings.defaultUrls.url, /^https:\/\//);
    });

    test('a batch is accepted per recipient, with the ids delivery reports and replies use, and arrives as sent', async () => {
      const numbers = ['+447700900101', '+447700900102'];
      const result = await sendAll(gateway, submission(numbers));
      for (const number of numbers) {
        const classified = classifyRecipient(result, number);
        assert.equal(classified.action, 'sent', `${number}: ${classified.code}`);
        assert.ok(classified.providerId, 'a provider id for delivery reports');
      }
      const records = simulator.records.filter((record) => ['447700900101', '447700900102'].includes(record.to));
      assert.equal(records.length, 2);
      for (const record of records) assert.equal(record.text, 'Server down\nCall me: €5 [now]');
    });

    test('delivery reports name the id the send gave, and end delivered or failed', async () => {
      const result = await sendAll(gateway, submission(['+447700900103', `+${UNDELIVERABLE}`], 'report me'));
      const ids = ['+447700900103', `+${UNDELIVERABLE}`].map((number) => classifyRecipient(result, number).providerId);
      const final = (number: string) => hooks.reports.filter((report) => report.number === number).at(-1);
      await waitFor('both final reports', () =>
        ['delivered', 'failed'].every((state, index) => final(index === 0 ? '+447700900103' : `+${UNDELIVERABLE}`)?.state === state),
      );
      assert.equal(final('+447700900103')?.providerId, ids[0]);
      assert.equal(final(`+${UNDELIVERABLE}`)?.providerId, ids[1]);
      assert.ok(module.describeStatus(final(`+${UNDELIVERABLE}`)?.code ?? -1).length > 0);
    });

    test('a reply to an SMS carries what finds its conversation again', async () => {
      const result = await sendAll(gateway, submission(['+447700900104'], 'answer me'));
      const classified = classifyRecipient(result, '+447700900104');
      const record = simulator.records.find((entry) => entry.to === '447700900104');
      assert.ok(record);
      simulator.reply('447700900104', 'On it', record);
      const mo = await waitFor('the MO', () => hooks.received.find((sms) => sms.number === '+447700900104'));
      assert.equal(mo.text, 'On it');
      if (module.capabilities.replyTracking === 'usercontext') assert.equal(mo.userContext, 'ctx-42');
      if (module.capabilities.replyTracking === 'tracking-id') assert.equal(mo.trackingId, classified.trackingId);
      assert.deepEqual(hooks.failures, []);
    });

    test('an invalid number is refused for good, the others still go', async () => {
      const result = await sendAll(gateway, submission(['+447700900105', `+${INVALID}`], 'one bad'));
      assert.equal(classifyRecipient(result, `+${INVALID}`).action, 'fail');
      assert.equal(classifyRecipient(result, '+447700900105').action, 'sent');
    });

    test('a wrong password pauses sending instead of bouncing', async () => {
      const result = await sendAll(wrongPassword, submission(['+447700900106']));
      assert.equal(classifyRecipient(result, '+447700900106').action, 'pause');
    });

    // A provider without webhooks (SMPP) reads PDUs instead: its bad input is tested in smpp.test.ts.
    if (webhooks) {
      test("a body that is not the provider's format is malformed, never a crash", () => {
        const junk: InboundRequest = { contentType: 'text/plain', body: '<<garbage>>', query: new URLSearchParams(), headers: {} };
        assert.equal(webhooks.parseReceived(junk).ok, false);
        assert.equal(webhooks.parseReport(junk).ok, false);
      });
    }

    test('a sender id the provider cannot show is explained', () => {
      assert.equal(module.senderIdProblem('Acme'), undefined);
      assert.match(module.senderIdProblem('Far Too Long Sender') ?? '', /\w/);
      // A number written with spaces is refused as a number, never for "characters other than letters, digits and spaces".
      const spaced = module.senderIdProblem('+1 555 0100');
      if (spaced !== undefined) assert.doesNotMatch(spaced, /characters other than letters, digits and spaces/);
    });
  });
}
