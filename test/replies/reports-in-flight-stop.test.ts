/**
 * A delivery report that names its SMS by the relay's own reference (Vonage's client-ref) while the SMS's attempt is in
 * flight, and the relay then killed (`kill -9`) or stopped (its stop giving the request up past shutdownTimeout) before
 * the gateway answered: the relay started again on the same data, or another relay on the database taking the lease over,
 * records the SMS sent by the report (the gateway took it) and never sends it again. Real relay processes, a real gateway
 * simulator whose send hangs, the receipt posted to the relay's webhook.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '../../src/log.ts';
import type { Standalone } from '../../src/simulators/kit.ts';
import { VonageSimulator } from '../../src/simulators/vonage.ts';
import { waitEvery } from '../helpers/cluster.ts';
import { describeOnPostgres, freshDatabase, POSTGRES_SKIP } from '../helpers/postgres.ts';
import { GATEWAY_ACCOUNT, killSpawnedRelays, type RelayProcess, relayEnvironment, removeDir, runCommand, spawnRelay, tempDir } from '../helpers/relay.ts';
import { queuedId, sendMail } from '../helpers/smtp.ts';
import { SmtpSink } from '../helpers/smtp-sink.ts';

const TOKEN = 'in-flight-stop-webhook-token-0123';
/** How long the relay waits for the simulator's relays, sends and answers to come. */
const PATIENCE_MS = 20_000;

after(() => killSpawnedRelays());

let gateway: Standalone<VonageSimulator>;
before(async () => {
  // No webhook URL: the simulator posts no receipt of its own; the test posts it while the send hangs.
  gateway = await VonageSimulator.listen({ ...GATEWAY_ACCOUNT, accountId: undefined, logger: createLogger('silent') });
});
after(async () => {
  gateway.simulator.destroyHanging();
  await gateway.close();
});

/** A relay's environment in `dir` on the simulator: the answer waited for long (the request stays in flight). */
function relayEnv(dir: string, env: Record<string, string>, yaml: object = {}): Record<string, string> {
  return relayEnvironment(
    dir,
    {
      gateway: { provider: 'vonage', url: gateway.url, ...GATEWAY_ACCOUNT, from: '447700900000', responseTimeout: '60s' },
      inbound: { webhookToken: TOKEN },
      ...yaml,
    },
    { SMSRELAY_SHUTDOWN_TIMEOUT: '500ms', ...env },
  );
}

/** How many times the gateway got an SMS to `number`. */
const sentTo = (number: string) => gateway.simulator.records.filter((record) => record.to === number).length;

/**
 * A mail to `number` through `relay`, whose send the gateway holds unanswered, and the gateway's receipt for it posted to
 * the relay `webhooks` gives once the request is in flight, while it hangs: kept for the attempt in flight. The mail's
 * id and the receipt's id.
 */
async function inFlightWithReceipt(
  relay: RelayProcess,
  number: string,
  webhooks: () => Promise<RelayProcess> = async () => relay,
): Promise<{ id: string; gatewayId: string }> {
  gateway.simulator.setBehaviour({ mode: 'hang', times: 1 });
  const id = queuedId((await sendMail(relay.smtpPort, { to: [`${number}@sms.localhost`], body: `in flight to ${number}` })).data);
  const record = await waitEvery('the gateway took it', () => gateway.simulator.records.find((sms) => sms.to === number), PATIENCE_MS);
  const [gatewayId = ''] = record.parts;
  const receipt = new URLSearchParams({
    msisdn: number,
    to: '447700900000',
    messageId: gatewayId,
    status: 'delivered',
    'err-code': '0',
    'client-ref': record.clientRef ?? '',
  });
  const answer = await fetch(`http://127.0.0.1:${(await webhooks()).httpPort}/webhooks/vonage/dr?token=${TOKEN}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: receipt.toString(),
  });
  assert.deepEqual(await answer.json(), { status: 'orphan' }, 'kept for the attempt in flight');
  return { id, gatewayId };
}

/** `smsrelay log <id>` in `dir`: the SMS's line and its history. */
function log(dir: string, env: Record<string, string>, id: string): string {
  const result = runCommand(dir, env, 'log', id);
  assert.equal(result.status, 0, result.stderr);
  return result.stdout;
}

/** Once the SMS is no longer queued: the gateway got it once, and its history says the report proved it sent. */
async function assertSentOnceByTheReport(dir: string, env: Record<string, string>, id: string, number: string, gatewayId: string, ended: string) {
  const history = await waitEvery(
    'the SMS no longer queued',
    () => {
      const text = log(dir, env, id);
      return /: queued/.test(text) ? undefined : text;
    },
    PATIENCE_MS,
    300,
  );
  assert.equal(sentTo(number), 1, `the phone got the SMS once: it is not sent again\n${history}`);
  assert.match(history, new RegExp(`: sent, delivery report: delivered, 1 attempt, gateway id ${gatewayId}\\n`), 'no possible duplicate counted');
  assert.ok(
    history.includes(
      `sent: id ${gatewayId}; the gateway's delivery report for it came while an attempt had no answer yet, which then ended with none (${ended}): the gateway took it, so it is not sent again`,
    ),
    history,
  );
  assert.match(history, /delivery report: delivered/);
  assert.doesNotMatch(history, /resumed|taken over/, history);
}

describe('a report kept while its SMS was in flight, then the relay killed or stopped before the answer, and started again', () => {
  let number = 447700900530;
  // Each store's start, and each way a relay ends with the request in flight: a relay process starts slowly on a busy host.
  for (const [store, how] of [
    ['SQLite', 'killed'],
    ['PostgreSQL', 'stopped'],
  ] as const) {
    test(`${store}, ${how}: the restart records the SMS sent by the report, and sends it no more`, async (t) => {
      const url = store === 'PostgreSQL' ? await freshDatabase() : undefined;
      if (store === 'PostgreSQL' && url === undefined) return t.skip(POSTGRES_SKIP);
      const phone = String(number++);
      const dir = tempDir('smsrelay-in-flight-stop-');
      const env = relayEnv(dir, url ? { SMSRELAY_DATABASE_URL: url } : {});
      try {
        const first = await spawnRelay(dir, env);
        const { id, gatewayId } = await inFlightWithReceipt(first, phone);
        if (how === 'killed') await first.kill9();
        else assert.equal(await first.stop(), 0, 'the stop gives the request up and exits');
        const second = await spawnRelay(dir, env);
        try {
          await assertSentOnceByTheReport(dir, env, id, phone, gatewayId, 'the relay sending it stopped');
          assert.equal(
            second.logs.find((line) => String(line.msg).startsWith('relay: resuming')),
            undefined,
            'nothing is resumed: no SMS may reach the gateway twice',
          );
        } finally {
          await second.stop();
        }
      } finally {
        removeDir(dir);
      }
    });
  }
});

describeOnPostgres('a report kept while its SMS was in flight, then the relay killed and its lease taken over by another', async (url) => {
  const sink = new SmtpSink();
  const relays: Array<{ dir: string; env: Record<string, string> }> = [];
  before(async () => {
    await sink.start();
    for (const name of ['relay-a', 'relay-b']) {
      const dir = tempDir(`smsrelay-${name}-`);
      // Another relay's work is taken over this long after its last heartbeat (the shortest allowed).
      const env = relayEnv(dir, { SMSRELAY_DATABASE_URL: url, SMSRELAY_RELAY_NAME: name, SMSRELAY_MAIL_URL: sink.url }, { delivery: { leaseTtl: '3s' } });
      relays.push({ dir, env });
    }
  });
  after(async () => {
    await sink.stop();
    for (const relay of relays) removeDir(relay.dir);
  });

  test('the relay taking it over records the SMS sent by the report, and does not send it again', async () => {
    const [a, b] = relays as [(typeof relays)[0], (typeof relays)[0]];
    // relay-a alone claims the SMS; relay-b, started once the request is in flight, keeps the receipt.
    const relayA = await spawnRelay(a.dir, a.env);
    let relayB: RelayProcess | undefined;
    try {
      const phone = '447700900540';
      const { id, gatewayId } = await inFlightWithReceipt(relayA, phone, async () => {
        relayB = await spawnRelay(b.dir, b.env);
        return relayB;
      });
      await relayA.kill9();
      await assertSentOnceByTheReport(b.dir, b.env, id, phone, gatewayId, 'lease of relay relay-a expired');
    } finally {
      await relayA.kill9();
      await relayB?.stop();
    }
  });
});
