import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { decodeHTML } from 'entities';
import { history, status } from '../../src/admin.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { GATEWAY_ACCOUNT, gatewayYaml, maildirMessages, removeDir, startTestRelay, type TestRelay, waitFor } from '../helpers/relay.ts';
import { ReplayServer } from '../helpers/replay-server.ts';
import { queuedId, sendMail } from '../helpers/smtp.ts';

/**
 * Answers that leave it unknown whether the gateway took the SMS (a 2xx the relay cannot read), and passing ones about
 * a request that say nothing of the account (a 408): a real relay, a test gateway over HTTP answering each case, real SMTP.
 */

const dirs: string[] = [];
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  dirs.forEach(removeDir);
});

const fast = { retryMinDelay: '100ms', retryMaxDelay: '200ms' };

async function gateway(answer: { status: number; body: string }, contentType = 'text/html'): Promise<ReplayServer> {
  const server = await new ReplayServer({ contentType, answer }).start();
  cleanups.push(() => server.close());
  return server;
}

async function relayWith(yaml: object): Promise<TestRelay & { readonly lines: string[] }> {
  const { logger, lines } = captureLog('info');
  const relay = await startTestRelay(yaml, {}, undefined, {}, logger);
  dirs.push(relay.dir);
  cleanups.push(() => relay.stop());
  return { ...relay, lines };
}

const logged = (lines: readonly string[]) => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
const sendOne = async (relay: TestRelay, to: string, body: string) =>
  queuedId((await sendMail(relay.relay.smtpPort, { to: [`${to}@sms.localhost`], body })).data);

/** What a proxy's or a firewall's page, or a changed answer format, looks like to the adapter: a 2xx it cannot read. */
const UNREADABLE = { status: 200, body: '<html><body>Message submitted to 447700900180</body></html>' };
const UNREADABLE_WARNING = 'dispatch: the SMS gateway took the request but gave an answer the relay could not read; the message may have been sent';

/** The relay's lines from its first to the gateway-protocol alert (all of them when there is none). */
const untilAlert = (lines: readonly string[]) => {
  const all = logged(lines);
  const at = all.findIndex((line) => line.alert === 'gateway-protocol');
  return at < 0 ? all : all.slice(0, at);
};
const unreadableWarnings = (lines: readonly Record<string, unknown>[]) => lines.filter((line) => line.level === 'warn' && line.msg === UNREADABLE_WARNING);
const alerted = (relay: { readonly lines: string[] }) => logged(relay.lines).some((line) => line.alert === 'gateway-protocol');

describe('a 2xx answer the relay cannot read', () => {
  test("each is a warn line with the start of the body, numbers masked, secrets and the SMS's text cut, at most 200 characters", async () => {
    const server = await gateway({ status: 200, body: 'ID:9001' }, 'text/plain');
    const page = `<html><body>Submitted for 447700900187 by ${GATEWAY_ACCOUNT.password}: rotate the db1 keys now ${'padding '.repeat(60)}</body></html>`;
    server.next = [{ status: 200, body: page }];
    const relay = await relayWith({ ...gatewayYaml(server.url), delivery: fast });
    const id = await sendOne(relay, '447700900187', 'rotate the db1 keys now');
    await waitFor('the SMS sent', async () => (await relay.relay.store.smsOf(id))[0]?.status === 'sent', 5_000);
    const [warning, ...more] = unreadableWarnings(logged(relay.lines));
    assert.ok(warning, 'a warning');
    assert.deepEqual(more, [], 'one per unreadable answer');
    const text = String(warning.gatewayText);
    assert.ok(text.length <= 200, `bounded: ${text.length}`);
    assert.match(text, /^<html><body>Submitted for 4477\*+87 by /);
    assert.ok(!text.includes(GATEWAY_ACCOUNT.password), 'the password cut');
    assert.ok(!text.includes('rotate the db1 keys'), "the SMS's text cut");
    assert.ok(!JSON.stringify(warning).includes('447700900187'), 'no number whole');
    assert.ok(!alerted(relay), 'one unreadable answer pauses nothing');
  });

  test('unreadable answers to 3 requests in a row pause the provider with a gateway-protocol error; a readable answer resumes it in its own words', async () => {
    const server = await gateway(UNREADABLE);
    const relay = await relayWith({ ...gatewayYaml(server.url), delivery: { ...fast, pauseProbeInterval: '1s' } });
    const here = { pid: process.pid, name: relay.config.store.relayName, database: false };
    const id = await sendOne(relay, '447700900188', 'db1 down');
    await waitFor('the alert', async () => alerted(relay), 10_000);
    assert.equal(unreadableWarnings(untilAlert(relay.lines)).length, 3, 'the third unreadable answer pauses, not an earlier one');
    const [alert, ...again] = logged(relay.lines).filter((line) => line.alert === 'gateway-protocol');
    assert.deepEqual(again, [], 'alerted once');
    assert.equal(alert?.level, 'error');
    assert.match(String(alert?.msg), /answers to 3 requests in a row could not be read/);
    assert.match(String(alert?.msg), /check gateway\.url and gateway\.provider/);
    assert.match(String(alert?.msg), /a proxy's or firewall's page/);
    assert.match(String(alert?.gatewayText), /^<html><body>Message submitted to 4477\*+80<\/body><\/html>$/);
    assert.match(await status(relay.relay.store, Date.now(), here), /^dispatch: paused for intellisoftware since .+ \(UNPARSEABLE: /m);
    server.answer = { status: 200, body: 'ID:77' };
    await waitFor('the SMS sent', async () => (await relay.relay.store.smsOf(id))[0]?.status === 'sent', 10_000);
    await waitFor('the resume', async () =>
      logged(relay.lines).some((line) => line.msg === "dispatch: the gateway's answers can be read again; sending resumed"),
    );
    assert.ok(!relay.lines.some((line) => line.includes('accepts the account again')), 'not the account wording');
    assert.match(await status(relay.relay.store, Date.now(), here), /^dispatch: running$/m);
  });

  test('requests are counted, not SMS, and an answer the relay reads (a DELAY) ends the run: 3 numbers in one request are one', async () => {
    const server = await gateway(UNREADABLE);
    server.next = [UNREADABLE, UNREADABLE, { status: 200, body: 'DELAY:1' }, UNREADABLE, UNREADABLE];
    const relay = await relayWith({ ...gatewayYaml(server.url), delivery: { ...fast, pauseProbeInterval: '60s' } });
    await sendMail(relay.relay.smtpPort, { to: ['447700900189', '447700900190', '447700900191'].map((to) => `${to}@sms.localhost`), body: 'db2 down' });
    await waitFor('the alert', async () => alerted(relay), 15_000);
    assert.equal(server.requests[0]?.body.split('%2C').length, 3, 'the first request carried the three numbers');
    assert.equal(unreadableWarnings(untilAlert(relay.lines)).length, 5, 'the two before the DELAY do not count');
    assert.equal(server.requests.length, 6);
  });
});

describe("a 2xx answer that lists its numbers' results but has none for an SMS", () => {
  const NO_RESULT_WARNING = 'dispatch: the SMS gateway took the request but its answer had no result for this number; the message may have been sent';
  const noResultWarnings = (lines: readonly Record<string, unknown>[]) => lines.filter((line) => line.level === 'warn' && line.msg === NO_RESULT_WARNING);
  const puzzel = (url: string, delivery: object) => ({ ...gatewayYaml(url, { provider: 'puzzel', serviceId: 1000 }), delivery });
  /** Puzzel taking every message of a request, each under the reference the relay gave it. */
  const takesAll = (request: { readonly body: string }) => {
    const { message } = JSON.parse(request.body) as { message: Array<{ recipient: string; clientReference: string }> };
    const messageStatus = message.map(({ recipient, clientReference }, index) => ({
      statusCode: 1,
      recipient,
      clientReference,
      messageId: `pz${index}`,
      sequenceIndex: index + 1,
    }));
    return { status: 200, body: JSON.stringify({ messageStatus }) };
  };

  for (const [shape, body] of [
    ['an empty messageStatus', { batchReference: 'b1', messageStatus: [] }],
    [
      "an entry for the number whose clientReference is not the relay's",
      { messageStatus: [{ statusCode: 1, clientReference: 'rewritten:447700900192', recipient: '+447700900192', messageId: 'pz9', sequenceIndex: 1 }] },
    ],
  ] as const) {
    test(`Puzzel, ${shape}: a warn line each, 3 requests in a row pause with a gateway-protocol error; each attempt a possible duplicate`, async () => {
      const server = await gateway({ status: 200, body: JSON.stringify(body) }, 'application/json');
      const relay = await relayWith(puzzel(server.url, { ...fast, pauseProbeInterval: '1s' }));
      const id = await sendOne(relay, '447700900192', 'no result for me');
      await waitFor('the alert', async () => alerted(relay), 10_000);
      const before = untilAlert(relay.lines);
      assert.equal(server.requests.length, 3, 'the third request without a result pauses, not a later one');
      assert.equal(noResultWarnings(before).length, 3, 'a warn line for each answer');
      assert.match(String(noResultWarnings(before)[0]?.gatewayText), /^\{"/, "the answer's start, what the gateway said instead");
      const [alert] = logged(relay.lines).filter((line) => line.alert === 'gateway-protocol');
      assert.match(String(alert?.msg), /answers to 3 requests in a row could not be read or had no result for their numbers/);
      const [sms] = await relay.relay.store.smsOf(id);
      assert.equal(sms?.possibleDuplicates, 3, 'the gateway may have taken each');
      assert.match(String(sms?.lastError), /^MISSING_RESULT: .*its answer had no result for this number; the message may have been sent/);
      server.respond = takesAll;
      await waitFor('the SMS sent', async () => (await relay.relay.store.smsOf(id))[0]?.status === 'sent', 10_000);
      await waitFor('the resume', async () =>
        logged(relay.lines).some((line) => line.msg === "dispatch: the gateway's answers can be read again; sending resumed"),
      );
    });
  }

  test('a result for any number of the request ends the run; the number an IntelliSoftware answer leaves out is a warn line and a possible duplicate', async () => {
    const numbers = ['447700900193', '447700900194', '447700900195'];
    const server = await gateway({ status: 200, body: 'ID:8299' }, 'text/plain');
    const partial = { status: 200, body: `${numbers[0]},ID:8201\r\n${numbers[1]},ID:8202\r\n` };
    server.next = [partial];
    const relay = await relayWith({ ...gatewayYaml(server.url), delivery: { ...fast, pauseProbeInterval: '60s' } });
    const id = queuedId((await sendMail(relay.relay.smtpPort, { to: numbers.map((to) => `${to}@sms.localhost`), body: 'one line missing' })).data);
    await waitFor('every SMS sent', async () => (await relay.relay.store.smsOf(id)).every((sms) => sms.status === 'sent'), 10_000);
    const [warning, ...more] = noResultWarnings(logged(relay.lines));
    assert.match(String(warning?.gatewayText), /^4477\*+93,ID:8201 4477\*+94,ID:8202$/, "the answer's start, numbers masked");
    assert.deepEqual(more, [], 'the number was sent alone next, and answered');
    assert.ok(!alerted(relay), 'two numbers confirmed: no run');
    const sms = await relay.relay.store.smsOf(id);
    assert.deepEqual(
      sms.map((entry) => [entry.number, entry.attempts, entry.possibleDuplicates]),
      [
        [`+${numbers[0]}`, 1, 0],
        [`+${numbers[1]}`, 1, 0],
        [`+${numbers[2]}`, 2, 1],
      ],
    );
  });
  const foreign = '447700900999';
  const own = '447700900196';
  const cached = (recipient: string) =>
    JSON.stringify({
      messageStatus: [
        { statusCode: 1, recipient, clientReference: 'other', messageId: 'pz9', sequenceIndex: 1 },
        { statusCode: 1, recipient: own, clientReference: 'another', messageId: 'pz10', sequenceIndex: 2 },
      ],
    });
  for (const [written, answer, ownWritten] of [
    ['as it is', { contentType: 'application/json', body: cached(`+${foreign}`) }, `"recipient":"${own}"`],
    // .NET's System.Text.Json writes `+` as \u002B by default; a JSON answer may escape any character.
    [
      'with JSON escapes',
      { contentType: 'application/json', body: cached(`+${foreign}`).replace('"+44', '"\\u002B44').replace('900999', '\\u0039\\u00a000999') },
      `"recipient":"${own}"`,
    ],
    ['split by a line break and a tab', { contentType: 'text/html', body: `<p>Sent to +44 7700\n900999 and\r\n447700\t900999, and ${own}</p>` }, `and ${own}`],
    // JSON writes a message's line breaks and tabs as `\n`, `\r\n`, `\t` (C and Python as `\x0a`; JSON inside JSON as `\\n`).
    [
      'after or between escaped line breaks and tabs',
      {
        contentType: 'application/json',
        body: `{"message":"Invalid destination:\\n447700900999 / +44\\r\\n7700\\t900999 / 07700\\u000a900999 / \\x0a447700900999 / x\\\\n447700900999, and ${own}"}`,
      },
      `and ${own}`,
    ],
    // An error page writes a number's groups apart with no-break spaces, named or numbered.
    [
      'between HTML no-break spaces',
      { contentType: 'text/html', body: `<p>Invalid: +44&nbsp;7700&nbsp;900999 / 07700&#160;900999 / +44&#xA0;7700&#xa0;900999, and ${own}</p>` },
      `and ${own}`,
    ],
  ] as const) {
    test(`another recipient's number in such an answer, written ${written} (a proxy's cached answer to another request), reaches no history, last error, notice or bounce: masked, the SMS's own kept`, async () => {
      const server = await gateway({ status: 200, body: answer.body }, answer.contentType);
      const relay = await relayWith(puzzel(server.url, { ...fast, pauseProbeInterval: '500ms', delayNotice: '1s', maxAge: '3s' }));
      const id = queuedId((await sendMail(relay.relay.smtpPort, { to: [`${own}@sms.localhost`], rcptParams: 'NOTIFY=DELAY,FAILURE', body: 'leak' })).data);
      const reports = await waitFor(
        'the delay notice and the bounce',
        () => {
          const found = maildirMessages(relay.maildir).filter((mail) => mail.includes(`X-SMSRelay-Message-Id: ${id}`));
          return found.length >= 2 && found;
        },
        15_000,
      );
      const [sms] = await relay.relay.store.smsOf(id);
      const log = await history(relay.relay.store, id, Date.now());
      assert.match(String(sms?.lastError), /(MISSING_RESULT|UNPARSEABLE): /);
      const said: ReadonlyArray<readonly [string, string]> = [
        ['last error', String(sms?.lastError)],
        ['history', log],
        ...reports.map((report, n) => [`report ${n}`, report] as const),
        ...relay.lines.map((line, n) => [`log line ${n}`, line] as const),
      ];
      // Its digits read as the number they are: escapes and references decoded, blanks between digits dropped.
      const digitsOf = (text: string) =>
        decodeHTML(
          text
            .replace(/\\+u([0-9a-f]{4})|\\+x([0-9a-f]{2})/gi, (_, code: string | undefined, byte: string | undefined) =>
              String.fromCharCode(Number.parseInt(code ?? byte ?? '', 16)),
            )
            .replace(/\\+[nrt]/g, ' '),
        ).replace(/(?<=\d)\s+(?=\d)/g, '');
      for (const [where, text] of said) {
        assert.ok(!digitsOf(text).includes(foreign.slice(-6)), `${where} names the other recipient: ${text}`);
      }
      assert.match(log, /77\*\*/, 'masked, as in the log');
      assert.ok(log.includes(ownWritten), "the SMS's own number kept: it is no other sender's");
    });
  }
});

describe('a passing answer about the request', () => {
  test('a 408 is retried and pauses nothing for the account: no error, no credentials alert', async () => {
    const server = await gateway({ status: 200, body: 'ID:8008' }, 'text/plain');
    server.next = [{ status: 408, body: '<html><body><h1>408 Request Time-out</h1></body></html>' }];
    const relay = await relayWith({ ...gatewayYaml(server.url), delivery: { ...fast, pauseProbeInterval: '60s' } });
    const id = await sendOne(relay, '447700900186', 'timed out');
    await waitFor('the SMS sent', async () => (await relay.relay.store.smsOf(id))[0]?.status === 'sent', 5_000);
    assert.equal(server.requests.length, 2);
    assert.deepEqual(
      logged(relay.lines).filter((line) => line.level === 'error' || line.alert !== undefined),
      [],
      'no account alert',
    );
  });
});
