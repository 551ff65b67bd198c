import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { compileRoutes } from '../../src/dispatch/routes.ts';
import type { ProviderSimulator } from '../../src/simulators/contract.ts';
import { loadConfig } from '../../src/config/load.ts';
import {
  freePort,
  GATEWAY_ACCOUNT,
  maildirMessages,
  relayEnvironment,
  removeDir,
  startSimulator,
  startTestRelay,
  type TestRelay,
  tempDir,
  waitFor,
} from '../helpers/relay.ts';
import { queuedId, sendMail } from '../helpers/smtp.ts';

/**
 * Issue #21 item 4: routes across providers. Real relays with several providers' simulators on their
 * HTTP port at once (and a real IntelliSoftware simulator on its own port, or none, as a provider that
 * is down), real SMTP; the dispatcher's clock is moved instead of waiting for a breaker.
 */

const BIN = fileURLToPath(new URL('../../bin/smsrelay.js', import.meta.url));
const NORWAY = '4791234567';
const BRITAIN = '447700900123';

const dirs: string[] = [];
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  dirs.forEach(removeDir);
});

async function relayWith(yaml: object, options: Parameters<typeof startTestRelay>[3] = {}): Promise<TestRelay> {
  const relay = await startTestRelay(yaml, {}, undefined, options);
  dirs.push(relay.dir);
  cleanups.push(() => relay.stop());
  return relay;
}

/** A relay whose dispatcher's clock the test moves on (`advance`) instead of waiting. */
async function relayWithClock(yaml: object): Promise<{ relay: TestRelay; advance(ms: number): void }> {
  let skipped = 0;
  const relay = await relayWith(yaml, { dispatchClock: () => Date.now() + skipped });
  return { relay, advance: (ms) => (skipped += ms) };
}

/** IntelliSoftware at `url` first, with this relay's account. */
function intellisoftwareAt(url: string) {
  return { intellisoftware: { url, ...GATEWAY_ACCOUNT } };
}

async function standalone(options: Parameters<typeof startSimulator>[0] = {}) {
  const started = await startSimulator(options);
  cleanups.push(() => started.close());
  return started;
}

function simulatorOf(relay: TestRelay, provider: string): ProviderSimulator {
  const simulator = relay.relay.simulators.get(provider);
  assert.ok(simulator, `the ${provider} simulator runs`);
  return simulator;
}

/** Waits until the message's history (its events, `kind: detail` a line) says that a provider took its SMS. */
function sentVia(relay: TestRelay, id: string, provider: string): Promise<string> {
  const line = new RegExp(`^sent: id \\S+; via ${provider}$`, 'm');
  return waitFor(`the history of ${id} to say "via ${provider}"`, async () => {
    const events = (await relay.relay.store.events(id)).map((event) => `${event.kind}: ${event.detail ?? ''}`).join('\n');
    return line.test(events) && events;
  });
}

/** A text of two SMS parts (GSM-7: more than 160 characters). */
const TWO_PARTS = 'Disk full on db-1. '.repeat(10);

describe('the route table', () => {
  const table = (() => {
    const compiled = compileRoutes([
      { name: 'rest', match: ['*'] },
      { name: 'plus47', match: ['+47'] },
      { name: 'norway', match: ['NO'] },
      { name: 'telenor', match: ['+4791'] },
    ]);
    assert.ok(compiled.ok);
    return compiled.table;
  })();

  test('the most specific match wins, whatever the order: a longer prefix, then a country, then its calling code, then *', () => {
    assert.equal(table.routeOf('+4791234567')?.name, 'telenor');
    assert.equal(table.routeOf('+4741234567')?.name, 'norway');
    // Svalbard shares +47 with Norway: the country is narrower than the calling code.
    assert.equal(table.routeOf('+4779023456')?.name, 'plus47');
    assert.equal(table.routeOf('+447700900123')?.name, 'rest');
  });

  test('two routes matching the same prefix, country or * are ambiguous; without * a number may match nothing', () => {
    const ambiguous = compileRoutes([
      { name: 'a', match: ['+47', '*'] },
      { name: 'b', match: ['NO', '+47'] },
      { name: 'c', match: ['*'] },
    ]);
    assert.ok(!ambiguous.ok);
    assert.deepEqual(
      ambiguous.problems.map((entry) => [entry.route, /^"([^"]+)" is matched by route (\w+)/.exec(entry.problem)?.slice(1)]),
      [
        [1, ['+47', 'a']],
        [2, ['*', 'a']],
      ],
    );
    const partial = compileRoutes([{ name: 'norway', match: ['NO'] }]);
    assert.ok(partial.ok);
    assert.equal(partial.table.routeOf('+447700900123'), undefined);
    assert.equal(partial.table.hasCatchAll, false);
  });
});

describe('routes across providers', () => {
  test('one mail to a Norwegian and a British number: each SMS at its own provider, each delivery report through its own webhooks', async () => {
    const relay = await relayWith({
      gateway: {
        routes: [
          { name: 'norway', match: ['NO'], providers: ['puzzel-simulator'] },
          { name: 'rest', match: '*', providers: ['twilio-simulator'] },
        ],
      },
    });
    const puzzel = simulatorOf(relay, 'puzzel');
    const twilio = simulatorOf(relay, 'twilio');
    const id = queuedId(
      (await sendMail(relay.relay.smtpPort, { to: [`${NORWAY}@sms.localhost`, `${BRITAIN}@sms.localhost`], body: 'Disk full on db-1' })).data,
    );
    await waitFor('an SMS at each provider', () => puzzel.records.length === 1 && twilio.records.length === 1);
    assert.deepEqual(
      puzzel.records.map((sms) => [sms.to, sms.text]),
      [[NORWAY, 'Disk full on db-1']],
    );
    assert.deepEqual(
      twilio.records.map((sms) => [sms.to, sms.text]),
      [[BRITAIN, 'Disk full on db-1']],
    );
    const delivered = await waitFor('both delivered', async () => {
      const sms = await relay.relay.store.smsOf(id);
      return sms.every((entry) => entry.delivery === 'delivered') && sms;
    });
    assert.equal(delivered.length, 2);
    await sentVia(relay, id, 'puzzel');
    await sentVia(relay, id, 'twilio');
    // Each phone's reply comes through its own provider's webhook to the mailbox that wrote.
    puzzel.reply(NORWAY, 'On it from Oslo', puzzel.records[0]);
    twilio.reply(BRITAIN, 'On it from London', twilio.records[0]);
    await waitFor('both replies mailed', () => {
      const mails = maildirMessages(relay.maildir).filter((mail) => /^To: alice@example\.com/m.test(mail));
      return ['On it from Oslo', 'On it from London'].every((text) => mails.some((mail) => mail.includes(text)));
    });
    // Several simulators run at once, each under its own path; the unprefixed paths would be ambiguous.
    const base = `http://127.0.0.1:${relay.relay.httpPort}`;
    for (const [provider, to] of [
      ['puzzel', NORWAY],
      ['twilio', BRITAIN],
    ] as const) {
      const listed = (await (await fetch(`${base}/simulator/${provider}/messages`)).json()) as Array<{ to: string }>;
      assert.deepEqual(
        listed.map((sms) => sms.to),
        [to],
      );
    }
    assert.equal((await fetch(`${base}/simulator/messages`)).status, 404);
  });

  test('the first provider down: the second delivers at once; a breaker per provider skips the first for failoverRecovery, and another route is untouched', async () => {
    const port = await freePort();
    const { relay, advance } = await relayWithClock({
      gateway: {
        failoverRecovery: '3s',
        connectTimeout: '1s',
        routes: [
          { name: 'norway', match: ['+47'], providers: ['intellisoftware', 'twilio-simulator'] },
          { name: 'rest', match: '*', providers: ['vonage-simulator'] },
        ],
        providers: intellisoftwareAt(`http://127.0.0.1:${port}`),
      },
      delivery: { retryMinDelay: '30s' },
    });
    const twilio = simulatorOf(relay, 'twilio');
    const vonage = simulatorOf(relay, 'vonage');
    const smtpPort = relay.relay.smtpPort;
    const first = queuedId((await sendMail(smtpPort, { to: [`${NORWAY}@sms.localhost`], body: 'one' })).data);
    await waitFor('the second provider took it', () => twilio.records.length === 1, 5_000);
    await sentVia(relay, first, 'twilio');

    const intellisoftware = await standalone({ port });
    queuedId((await sendMail(smtpPort, { to: [`${NORWAY}@sms.localhost`], body: 'two' })).data);
    queuedId((await sendMail(smtpPort, { to: [`${BRITAIN}@sms.localhost`], body: 'other route' })).data);
    await waitFor('the second provider again, and the other route', () => twilio.records.length === 2 && vonage.records.length === 1, 5_000);
    assert.equal(intellisoftware.simulator.requests, 0, 'while its breaker is open the first provider is not tried');

    advance(3_100); // failoverRecovery passes for the dispatcher, without the test waiting it
    const third = queuedId((await sendMail(smtpPort, { to: [`${NORWAY}@sms.localhost`], body: 'three' })).data);
    await intellisoftware.simulator.waitForMessages(1, 5_000);
    assert.equal(intellisoftware.simulator.received[0]?.text, 'three');
    await sentVia(relay, third, 'intellisoftware');
    assert.equal(twilio.records.length, 2);
  });

  test('a temporary refusal goes to the next provider at once; an account refusal too, and pauses only that provider until its probe', async () => {
    const intellisoftware = await standalone();
    const { relay, advance } = await relayWithClock({
      gateway: {
        failoverRecovery: '1s',
        routes: [{ name: 'everything', match: '*', providers: ['intellisoftware', 'twilio-simulator'] }],
        providers: intellisoftwareAt(intellisoftware.url),
      },
      delivery: { retryMinDelay: '30s', pauseProbeInterval: '1m' },
    });
    const twilio = simulatorOf(relay, 'twilio');
    const smtpPort = relay.relay.smtpPort;
    intellisoftware.simulator.setBehaviour({ mode: 'error', code: 'GATEWAY_ERROR', times: 1 });
    const started = Date.now();
    const busyFirst = queuedId((await sendMail(smtpPort, { to: [`${BRITAIN}@sms.localhost`], body: 'busy first' })).data);
    // Half the 30 s retry delay tells "at once" from "after the delay" on a loaded machine as well.
    await waitFor('the next provider took it', () => twilio.records.length === 1, 15_000);
    assert.ok(Date.now() - started < 15_000, 'at once, not after a retry delay');
    // The clock may only move once the relay has recorded the round (and with it the first provider's pause), not when the gateway has the SMS.
    await sentVia(relay, busyFirst, 'twilio');

    assert.equal(intellisoftware.simulator.requests, 1);

    advance(1_100); // its breaker closes again
    intellisoftware.simulator.setBehaviour({ mode: 'error', code: 'LOGIN_INVALID' });
    const refused = queuedId((await sendMail(smtpPort, { to: [`${BRITAIN}@sms.localhost`], body: 'refused account' })).data);
    await waitFor('the next provider took it', () => twilio.records.length === 2, 5_000);
    const requests = intellisoftware.simulator.requests;
    assert.equal(requests, 2, 'the first provider was asked');
    const whilePaused = queuedId((await sendMail(smtpPort, { to: [`${BRITAIN}@sms.localhost`], body: 'while paused' })).data);
    await waitFor('the next provider took it', () => twilio.records.length === 3, 5_000);
    assert.equal(intellisoftware.simulator.requests, requests, 'the refusing provider is paused, not asked for every SMS');
    // The gateway has the SMS before the relay has committed its outcome: the clock may only jump past the
    // leases once both outcomes are stored, or a lease still held would expire and the SMS go again.
    await sentVia(relay, refused, 'twilio');
    await sentVia(relay, whilePaused, 'twilio');

    intellisoftware.simulator.setBehaviour({ mode: 'ok' });
    advance(61_000); // its probe is due
    queuedId((await sendMail(smtpPort, { to: [`${BRITAIN}@sms.localhost`], body: 'probe' })).data);
    await intellisoftware.simulator.waitForMessages(1, 5_000);
    assert.equal(intellisoftware.simulator.received[0]?.text, 'probe');
  });

  test("a provider paused after a 5xx is probed when its probe is due, ahead of the route's next provider, not after failoverRecovery", async () => {
    const intellisoftware = await standalone();
    const { relay, advance } = await relayWithClock({
      gateway: {
        failoverRecovery: '5m',
        routes: [{ name: 'everything', match: '*', providers: ['intellisoftware', 'twilio-simulator'] }],
        providers: intellisoftwareAt(intellisoftware.url),
      },
      delivery: { retryMinDelay: '5s' },
    });
    const twilio = simulatorOf(relay, 'twilio');
    const smtpPort = relay.relay.smtpPort;
    intellisoftware.simulator.setBehaviour({ mode: 'error', code: 'GATEWAY_ERROR', times: 1 });
    const failedOver = queuedId((await sendMail(smtpPort, { to: [`${BRITAIN}@sms.localhost`], body: 'failed over' })).data);
    await sentVia(relay, failedOver, 'twilio');
    // The pause commits beside the failed-over send, not before it: waited for, as a loaded machine may see the send first.
    await waitFor('the provider paused', async () =>
      (await relay.relay.store.gatewayState(Date.now())).pauses.some((pause) => pause.provider === 'intellisoftware' && pause.nextProbeAt !== undefined),
    );

    advance(6_000); // its probe (retryMinDelay after the first failure) is due; its host's breaker would hold it 5 minutes
    const probe = queuedId((await sendMail(smtpPort, { to: [`${BRITAIN}@sms.localhost`], body: 'probe' })).data);
    await sentVia(relay, probe, 'intellisoftware');
    assert.equal(intellisoftware.simulator.received[0]?.text, 'probe');
    assert.equal(twilio.records.length, 1, 'the probe was not overtaken by the next provider');
    // The pause ends with the probe's outcome, which commits beside its send record: waited for.
    await waitFor('the answered probe ends the pause', async () =>
      (await relay.relay.store.gatewayState(Date.now())).pauses.every((pause) => pause.provider !== 'intellisoftware'),
    );
    const after = queuedId((await sendMail(smtpPort, { to: [`${BRITAIN}@sms.localhost`], body: 'after' })).data);
    await sentVia(relay, after, 'intellisoftware');
  });

  test("failing over to the route's next provider: the first provider's failed request is in the SMS's history and counts as an attempt", async () => {
    const intellisoftware = await standalone();
    const relay = await relayWith({
      gateway: {
        routes: [{ name: 'everything', match: '*', providers: ['intellisoftware', 'twilio-simulator'] }],
        providers: intellisoftwareAt(intellisoftware.url),
      },
    });
    intellisoftware.simulator.setBehaviour({ mode: 'error', code: 'GATEWAY_ERROR', times: 1 });
    const id = queuedId((await sendMail(relay.relay.smtpPort, { to: [`${BRITAIN}@sms.localhost`], body: 'failed over' })).data);
    const history = (await sentVia(relay, id, 'twilio')).split('\n');
    const failed = history.findIndex((line) => /^failed over: ERR:GATEWAY_ERROR: .*; via intellisoftware$/.test(line));
    assert.ok(failed >= 0, history.join('\n'));
    assert.ok(failed < history.findIndex((line) => line.startsWith('sent: ')), 'before the line of the request that took it');
    const [sms] = await relay.relay.store.smsOf(id);
    assert.equal(sms?.attempts, 2, 'two requests: the failed one and the one that took it');
  });

  test("a route's limits at RCPT and DATA: no route is 550 5.1.1; parts and sender ids are the route's providers'", async () => {
    const relay = await relayWith({
      gateway: {
        routes: [
          { name: 'norway', match: ['NO'], providers: ['puzzel-simulator'] },
          { name: 'britain', match: ['GB'], providers: ['twilio-simulator'] },
        ],
        providers: { 'twilio-simulator': { maxParts: 1 } },
      },
    });
    const port = relay.relay.smtpPort;
    const german = await sendMail(port, { to: ['4915123456789@sms.localhost'] });
    assert.equal(german.rcpt[0]?.code, 550);
    assert.equal(german.rcpt[0]?.enhanced, '5.1.1');
    assert.match(
      german.rcpt[0]?.text ?? '',
      /No route: no SMS provider of this relay takes \+491\S+ \(routes: norway NO; britain GB\): it is in DE \(Germany\); add DE to a route's match$/,
    );
    // A route's country is the number's own region: GB does not take the Isle of Man's +44 7624, and the answer says so.
    const manx = await sendMail(port, { to: ['447624123456@sms.localhost'] });
    assert.equal(
      manx.rcpt[0]?.text,
      "5.1.1 No route: no SMS provider of this relay takes +447624123456 (routes: norway NO; britain GB): it is in IM (Isle of Man); add IM to a route's match",
    );
    // The same number in a sendsms@ subject, refused at end of DATA: named whole too, as its sender wrote it.
    const inSubject = await sendMail(port, { to: ['sendsms@sms.localhost'], subject: `To:${BRITAIN},4915123456789`, body: 'x' });
    assert.equal(inSubject.data?.code, 550);
    assert.equal(
      inSubject.data?.text,
      "5.1.1 No route: no SMS provider of this relay takes +4915123456789 (routes: norway NO; britain GB): it is in DE (Germany); add DE to a route's match",
    );

    const long = await sendMail(port, { to: [`${BRITAIN}@sms.localhost`], body: TWO_PARTS });
    assert.equal(long.data?.code, 554);
    assert.match(long.data?.text ?? '', /^5\.3\.4 Text too long: .* the limit is 1 part/);
    queuedId((await sendMail(port, { to: [`${NORWAY}@sms.localhost`], body: TWO_PARTS })).data);
    const both = await sendMail(port, { to: [`${NORWAY}@sms.localhost`, `${BRITAIN}@sms.localhost`], body: TWO_PARTS });
    assert.equal(both.data?.code, 554, 'a mail to both routes fits the fewest parts');

    // Puzzel shows a number without "+" as an international originator; Twilio refuses it.
    const sender = { headers: { 'X-SMS-From': '447700900999' }, body: 'from a number' };
    const twilioSender = await sendMail(port, { to: [`${BRITAIN}@sms.localhost`], ...sender });
    assert.equal(twilioSender.data?.code, 554);
    assert.match(twilioSender.data?.text ?? '', /^5\.6\.0 Invalid sender id: The sender id "447700900999" is a number without "\+".*\(route britain\)$/s);
    queuedId((await sendMail(port, { to: [`${NORWAY}@sms.localhost`], ...sender })).data);
  });
});

describe('routes that cannot start', () => {
  function start(yaml: object | undefined, env: Record<string, string> = {}) {
    const cwd = tempDir('smsrelay-routes-');
    dirs.push(cwd);
    if (yaml) writeFileSync(join(cwd, 'smsrelay.yaml'), stringify(yaml));
    const result = spawnSync(process.execPath, [BIN, 'start'], {
      cwd,
      env: { PATH: process.env.PATH ?? '', SMSRELAY_DATA_DIR: join(cwd, 'data'), SMSRELAY_SMTP_PORT: '0', SMSRELAY_HTTP_PORT: '0', ...env },
      encoding: 'utf8',
      timeout: 30_000,
    });
    return { status: result.status, lines: result.stderr.trim().split('\n').toSorted(), file: join(cwd, 'smsrelay.yaml') };
  }

  test('an unknown provider, a route without provider and an ambiguous overlap: exit 78, one line each naming the route', () => {
    const { status, lines, file } = start({
      gateway: {
        routes: [
          { name: 'norway', match: ['+47', 'NO'], providers: ['puzzel-simulator'] },
          { name: 'britain', match: ['GB'], providers: ['twillio'] },
          { name: 'rest', match: '*', providers: [] },
          { name: 'telenor', match: ['+47'], providers: ['vonage-simulator'] },
        ],
      },
    });
    assert.equal(status, 78);
    assert.deepEqual(lines, [
      `smsrelay: config: ${file}: gateway.routes.1: route britain names an unknown provider "twillio"; expected one of simulator, intellisoftware, puzzel, interactsms, twilio, vonage, smpp, intellisoftware-simulator, puzzel-simulator, interactsms-simulator, twilio-simulator, vonage-simulator, smpp-simulator (did you mean twilio?)`,
      `smsrelay: config: ${file}: gateway.routes.2: route rest leaves * with no provider: name at least one under providers`,
      `smsrelay: config: ${file}: gateway.routes.3: route telenor: "+47" is matched by route norway too, at the same specificity: which of the two takes such a number is ambiguous; keep it in one route`,
    ]);
  });

  test('one account per provider, a list member without route, an account beyond its provider, a prefix YAML read as a number: each one line; an account no route names is a warning', () => {
    const dir = tempDir('smsrelay-routes-');
    dirs.push(dir);
    const problems = (yaml: object): readonly string[] => {
      try {
        loadConfig(relayEnvironment(dir, yaml), dir);
      } catch (error) {
        return (error as { problems: readonly string[] }).problems.map((problem) => problem.replace(`${join(dir, 'smsrelay.yaml')}: `, '')).toSorted();
      }
      assert.fail('the config loaded');
    };
    /** Norway by a simulator, Sweden by the real Twilio, a list with a British number. */
    const sweden = (match: unknown) => ({
      sms: { lists: { 'oncall@sms.localhost': ['+4791234567', '+447700900123'] } },
      gateway: {
        routes: [
          { name: 'norway', match: ['NO'], providers: ['twilio-simulator'] },
          { name: 'sweden', match: [match], providers: ['twilio'] },
        ],
        providers: { 'twilio-simulator': { maxParts: 20 } },
      },
    });
    // A section that does not parse is reported alone: the routes are checked once it does.
    assert.deepEqual(problems(sweden(46)), ['gateway.routes.1.match.0: write the prefix in quotes: "+46" (YAML read it as the number 46)']);
    assert.deepEqual(problems(sweden('+46')), [
      'gateway.providers.twilio-simulator.maxParts: twilio sends at most 10 parts per SMS',
      'gateway.routes.1: route sweden names twilio, another route twilio-simulator: the relay runs one account per provider (its webhooks are /webhooks/twilio/…); name the same one',
      'sms.lists.oncall@sms.localhost: +447700900123 matches no route of gateway.routes (add its prefix or country, or a route for *)',
    ]);
    const { warnings } = loadConfig(
      relayEnvironment(dir, {
        gateway: { provider: 'vonage-simulator', routes: [{ match: '*', providers: ['twilio-simulator'] }], providers: { puzzel: {} } },
      }),
      dir,
    );
    assert.deepEqual(warnings.map((warning) => warning.replace(`${join(dir, 'smsrelay.yaml')}: `, '')).toSorted(), [
      'gateway.provider: named by no route of gateway.routes; its account sends nothing',
      'gateway.providers.puzzel: named by no route; ignored',
    ]);
    assert.deepEqual(problems({ gateway: { providers: { puzzel: { username: 'acme' } } } }), [
      'gateway.providers: used only by gateway.routes, which is not set',
    ]);
  });

  test('a prefix is "+" and 1 to 15 digits, single-digit calling codes (+1, +7) included; only two letters are read as a country, and a refusal says how the value was read', () => {
    const dir = tempDir('smsrelay-routes-');
    dirs.push(dir);
    const routed = (match: readonly string[]) =>
      loadConfig(
        relayEnvironment(dir, {
          gateway: {
            routes: [
              { name: 'some', match, providers: ['twilio-simulator'] },
              { match: '*', providers: ['simulator'] },
            ],
          },
        }),
        dir,
      );
    const { config } = routed(['+1', '+7', '+1202']);
    assert.deepEqual(config.gateway.routes?.[0]?.match, ['+1', '+7', '+1202']);
    const refused = (match: string) => {
      try {
        routed([match]);
      } catch (error) {
        return (error as { problems: readonly string[] }).problems.map((problem) => problem.replace(`${join(dir, 'smsrelay.yaml')}: `, ''));
      }
      assert.fail(`${match} loaded`);
    };
    assert.deepEqual(refused(' xx '), ['gateway.routes.0.match.0: read as the country "XX": expected a two-letter country code such as GB or US']);
    assert.deepEqual(refused('+1-202'), [
      'gateway.routes.0.match.0: read as "+1-202": expected a prefix ("+" and 1 to 15 digits, such as +1 or +47), a country such as NO, or * for every other number',
    ]);
  });

  test('routes from the environment (one JSON variable) are checked alike, and a real provider needs its account', () => {
    const routes = JSON.stringify([{ name: 'norway', match: ['NO'], providers: ['puzzel'] }]);
    const { status, lines } = start(undefined, {
      SMSRELAY_GATEWAY_ROUTES: routes,
      SMSRELAY_GATEWAY_PROVIDERS: JSON.stringify({ puzzel: { username: 'acme' } }),
    });
    assert.equal(status, 78);
    assert.deepEqual(lines, [
      'smsrelay: config: SMSRELAY_GATEWAY_PROVIDERS at puzzel.password: required for the puzzel gateway',
      'smsrelay: config: SMSRELAY_GATEWAY_PROVIDERS at puzzel.serviceId: required for the puzzel gateway',
    ]);
    const unknown = start(undefined, { SMSRELAY_GATEWAY_ROUTES: JSON.stringify([{ match: '*', providers: ['puzel'] }]) });
    assert.equal(unknown.status, 78);
    assert.match(
      unknown.lines.join('\n'),
      /^smsrelay: config: SMSRELAY_GATEWAY_ROUTES at 0: route \* names an unknown provider "puzel"; .* \(did you mean puzzel\?\)$/,
    );
  });
});
