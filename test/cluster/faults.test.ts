import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { allSettled, type ClusterRelay, leasedSms, MailLoad, postWebhook, query, startCluster, waitEvery } from '../helpers/cluster.ts';
import { describeOnPostgres, freshDatabase, ownPostgres, withDatabase } from '../helpers/postgres.ts';
import { killSpawnedRelays, removeDir, startSimulator } from '../helpers/relay.ts';
import { sendMail } from '../helpers/smtp.ts';
import { SmtpSink } from '../helpers/smtp-sink.ts';
import { sleep } from '../helpers/wait.ts';

after(killSpawnedRelays);

/** The figure for the kill under load. */
const MAILS = 2_000;
/** SMTP transactions under way at once, over both relays (an MTA's parallel deliveries). */
const SMTP_CONCURRENCY = 16;
/**
 * How long one phase (a load, a takeover, a recovery) may take before the test gives up: generous, for
 * a 2-core machine shared with other work; the printed figures, not this bound, tell how fast it went.
 */
const PATIENCE_MS = 240_000;
/** The per-relay default of `gateway.maxConcurrentRequests`: what two relays can have in flight at once. */
const REQUESTS_IN_FLIGHT_PER_RELAY = 8;

/** Phones of the load from the UK's range for drama (07700 900000–900999), so that per-number rules (alert storms) barely shape it. */
const loadAddress = (index: number) => `44770090${String(index % 1_000).padStart(4, '0')}@sms.localhost`;
/** Which load mail a gateway record is (`#<index>#` in its text). */
const loadIndex = (text: string) => Number(/#(\d+)#/.exec(text)?.[1] ?? -1);

/** How often each load mail reached the gateway: the lost (accepted, never sent) and the duplicates. */
function tally(texts: readonly string[], accepted: ReadonlySet<number>): { duplicates: number; lost: number } {
  const seen = new Map<number, number>();
  for (const text of texts) seen.set(loadIndex(text), (seen.get(loadIndex(text)) ?? 0) + 1);
  const duplicates = [...seen.values()].reduce((sum, count) => sum + count - 1, 0);
  const lost = [...accepted].filter((index) => !seen.has(index)).length;
  return { duplicates, lost };
}

/** The tally once every mail answered 250 reached the gateway (or the wait gave up). */
async function atTheGateway(
  gateway: { readonly received: readonly { readonly text: string }[] },
  load: MailLoad,
): Promise<{ duplicates: number; lost: number }> {
  const now = () =>
    tally(
      gateway.received.map((sms) => sms.text),
      load.accepted,
    );
  await waitEvery('every mail answered 250 at the gateway', () => now().lost === 0, PATIENCE_MS);
  return now();
}

const stopAll = async (relays: readonly ClusterRelay[]) => {
  for (const relay of relays) {
    if (relay.process.child.exitCode === null && relay.process.child.signalCode === null) await relay.process.stop();
    removeDir(relay.dir);
  }
};

/**
 * Faults of a cluster with real processes, sockets and PostgreSQL (issue #18 item 7): relays
 * spawned as `bin/smsrelay.js start` on one database, mail over SMTP, webhooks over HTTP, one relay
 * killed with SIGKILL or the database restarted under load. Each scenario prints its figures on one line.
 */
describeOnPostgres('a cluster of relays under faults', { concurrency: true }, async () => {
  test('(a) 2,000 mails over SMTP split across two relays, one killed with SIGKILL mid-load: every 250 reaches the gateway, duplicates within what was in flight', async () => {
    const url = (await freshDatabase()) ?? '';
    const gateway = await startSimulator();
    const sink = await new SmtpSink().start();
    const relays = await startCluster({ databaseUrl: url, gatewayUrl: gateway.url, mailUrl: sink.url, relays: 2 });
    const [killed, survivor] = relays as [ClusterRelay, ClusterRelay];
    let alive = relays;
    const load = new MailLoad(() => alive);
    try {
      const started = performance.now();
      const running = load.run(MAILS, SMTP_CONCURRENCY, loadAddress);
      await waitEvery('half the mails accepted', () => load.acceptedCount() >= MAILS / 2, PATIENCE_MS);
      // The gateway takes each SMS but holds its answer for a moment, so that relay-a surely has SMS out
      // at the gateway when it dies (with instant answers its leases last milliseconds and a kill often
      // finds none): the kill leaves leases behind, on SMS the gateway already has.
      gateway.simulator.setBehaviour({ mode: 'hang' });
      await waitEvery('relay-a has SMS in flight', async () => (await leasedSms(url, killed.name)).length > 0, PATIENCE_MS);
      const smtpOpenAtKill = load.open.get(killed.process.smtpPort) ?? 0;
      alive = [survivor];
      await killed.process.kill9();
      const killedAt = performance.now();
      // The dead relay's leases stay until they run out: exactly its SMS in flight.
      const inFlight = await leasedSms(url, killed.name);
      // The survivor's held requests are answered (no resend); the dead relay's went with its sockets.
      gateway.simulator.setBehaviour({ mode: 'ok' });
      gateway.simulator.releaseHanging();
      // Timed while the load goes on: from the kill until the survivor has sent the dead relay's SMS.
      const takeover = waitEvery("relay-b took relay-a's SMS in flight over", () => allSettled(url, inFlight), PATIENCE_MS).then(
        () => (performance.now() - killedAt) / 1000,
      );
      await running;
      const loadSeconds = (performance.now() - started) / 1000;
      const takeoverSeconds = await takeover;
      const { duplicates, lost } = await atTheGateway(gateway.simulator, load);
      console.log(
        `faults (a) kill under load: mails=${MAILS} accepted=${load.accepted.size} kills=1 resent-by-client=${load.retried} ` +
          `in-flight-at-kill=${inFlight.length} sms+${smtpOpenAtKill} smtp duplicates=${duplicates} lost=${lost} takeover=${takeoverSeconds.toFixed(1)}s load=${loadSeconds.toFixed(1)}s`,
      );
      assert.equal(load.accepted.size, MAILS, 'every mail was answered 250 by one relay or the other');
      assert.ok(inFlight.length > 0, 'the kill left leases to take over');
      assert.equal(lost, 0);
      assert.ok(duplicates <= inFlight.length + smtpOpenAtKill, `${duplicates} duplicates, ${inFlight.length + smtpOpenAtKill} in flight`);
      assert.equal(survivor.process.child.exitCode, null, 'the survivor kept running');
    } finally {
      load.stop();
      await stopAll(relays);
      await sink.stop();
      await gateway.close();
    }
  });

  test('(b) MO and DR webhooks alternated between two relays, one killed mid-stream, retries to the other: every SMS ends as exactly one mail in the right mailbox', async () => {
    const PHONES = 40;
    const url = (await freshDatabase()) ?? '';
    const gateway = await startSimulator();
    const sink = await new SmtpSink().start();
    const relays = await startCluster({ databaseUrl: url, gatewayUrl: gateway.url, mailUrl: sink.url, relays: 2 });
    const [killed, survivor] = relays as [ClusterRelay, ClusterRelay];
    let alive = relays;
    const phone = (k: number) => `44770090${String(900 + k).padStart(4, '0')}`;
    const user = (k: number) => `user${k}@example.com`;
    try {
      // Each user writes to a phone (through either relay) and asks to hear of its delivery.
      for (let k = 0; k < PHONES; k += 1) {
        const relay = relays[k % 2] as ClusterRelay;
        const sent = await sendMail(relay.process.smtpPort, {
          from: user(k),
          to: [`${phone(k)}@sms.localhost`],
          subject: `Alert ${k}`,
          body: `Alert for ${k}`,
          headers: { From: user(k) },
          rcptParams: 'NOTIFY=SUCCESS',
        });
        assert.equal(sent.data?.code, 250);
      }
      const sms = await waitEvery('every SMS at the gateway', () => gateway.simulator.received.length >= PHONES && gateway.simulator.received, PATIENCE_MS);
      // What the gateway then posts back, interleaved: a delivery report and two replies per phone.
      const events: Array<{ kind: 'mo' | 'dr'; form: Record<string, string> }> = [];
      for (let k = 0; k < PHONES; k += 1) {
        const record = sms.find((candidate) => candidate.to === phone(k));
        assert.ok(record?.userContext, `the SMS to phone ${k} carries a user context`);
        events.push({ kind: 'dr', form: { msgid: record.id, status: '4', toaddr: record.to } });
        events.push({ kind: 'mo', form: { msgid: `mo-${k}-1`, from: phone(k), text: `Answer #${k}-1#`, usercontext: record.userContext } });
        events.push({ kind: 'mo', form: { msgid: `mo-${k}-2`, from: phone(k), text: `Answer #${k}-2#` } });
      }
      let posted = 0;
      let retried = 0;
      const deliver = async (index: number) => {
        const event = events[index] as (typeof events)[number];
        for (let attempt = 0; attempt < 10; attempt += 1) {
          const relay = alive[(index + attempt) % alive.length] as ClusterRelay;
          if ((await postWebhook(relay, event.kind, event.form)) === 200) return;
          retried += 1;
        }
        throw new Error(`webhook ${event.kind} ${event.form.msgid} never answered 200`);
      };
      let next = 0;
      const stream = Promise.all(
        Array.from({ length: 4 }, async () => {
          for (let index = next++; index < events.length; index = next++) {
            await deliver(index);
            posted += 1;
          }
        }),
      );
      await waitEvery('half the webhooks answered', () => posted >= events.length / 2, PATIENCE_MS);
      alive = [survivor];
      await killed.process.kill9();
      const mailHeld = Number(
        (await query<{ n: string }>(url, "SELECT COUNT(*) AS n FROM mail_out WHERE lease_owner = $1 AND status = 'queued'", [killed.name]))[0]?.n,
      );
      await stream;
      // No restart: the survivor takes the dead relay's mail over once its leases end (delivery.leaseTtl).
      // Each user's mail: the two replies of its phone, and (NOTIFY=SUCCESS) the notices "sent" and "delivered".
      const expected = (k: number) => [new RegExp(`#${k}-1#`), new RegExp(`#${k}-2#`), /Action: relayed/, /Action: delivered/];
      const mailOf = (k: number) => sink.received.filter((mail) => mail.to.includes(user(k)));
      const counts = () => Array.from({ length: PHONES }, (_, k) => expected(k).map((pattern) => mailOf(k).filter((mail) => pattern.test(mail.raw)).length));
      await waitEvery('every reply and notice in its mailbox', () => counts().every((kinds) => kinds.every((count) => count > 0)), PATIENCE_MS);
      // Anything doubled would be on its way by now.
      await sleep(500);
      const final = counts().flat();
      const lost = final.filter((count) => count === 0).length;
      const duplicates = final.reduce((sum, count) => sum + Math.max(0, count - 1), 0);
      const misrouted = sink.received.filter((mail) => {
        const k = Number(/#(\d+)-[12]#/.exec(mail.raw)?.[1] ?? -1);
        return k >= 0 && !mail.to.includes(user(k));
      }).length;
      const stored = async (sql: string) => Number((await query<{ n: string }>(url, sql))[0]?.n);
      console.log(
        `faults (b) webhooks across a kill: webhooks=${events.length} (mo=${PHONES * 2} dr=${PHONES}) kills=1 resent-by-gateway=${retried} ` +
          `mails=${sink.received.length} of ${PHONES * 4} misrouted=${misrouted} duplicates=${duplicates} lost=${lost} mail-in-flight-at-kill=${mailHeld}`,
      );
      assert.equal(lost, 0);
      assert.equal(misrouted, 0);
      assert.equal(await stored('SELECT COUNT(*) AS n FROM inbound'), PHONES * 2, 'each SMS from a phone stored once');
      assert.equal(await stored('SELECT COUNT(*) AS n FROM mail_out'), PHONES * 4, 'each reply and notice queued once');
      // A mail the killed relay was handing to the smarthost may arrive twice: SMTP cannot tell it that the smarthost's 250 came before the kill.
      assert.ok(duplicates <= mailHeld, `${duplicates} duplicates, ${mailHeld} mails in flight at the kill`);
    } finally {
      await stopAll(relays);
      await sink.stop();
      await gateway.close();
    }
  });

  test('(c) PostgreSQL restarted under load from two relays: no loss, both recover by themselves, no relay restarts', async () => {
    const COUNT = 600;
    const server = await ownPostgres();
    const url = withDatabase(server.url, 'postgres');
    const gateway = await startSimulator();
    const sink = await new SmtpSink().start();
    const relays = await startCluster({ databaseUrl: url, gatewayUrl: gateway.url, mailUrl: sink.url, relays: 2 });
    const ready = async (relay: ClusterRelay) => (await fetch(`http://127.0.0.1:${relay.process.httpPort}/readyz`)).status === 200;
    const load = new MailLoad(() => relays);
    try {
      const running = load.run(COUNT, 8, loadAddress);
      await waitEvery('a quarter of the mails accepted', () => load.acceptedCount() >= COUNT / 4, PATIENCE_MS);
      const downAt = performance.now();
      await server.stop();
      await waitEvery('mail refused (451) while the database is away', () => load.retried > 0, PATIENCE_MS);
      assert.equal(await ready(relays[0] as ClusterRelay), false, 'not ready while the database is away');
      await server.start();
      await running;
      await waitEvery(
        'both relays ready again, by themselves',
        async () => (await ready(relays[0] as ClusterRelay)) && ready(relays[1] as ClusterRelay),
        PATIENCE_MS,
      );
      const recoveredSeconds = (performance.now() - downAt) / 1000;
      const { duplicates, lost } = await atTheGateway(gateway.simulator, load);
      console.log(
        `faults (c) PostgreSQL restart under load: mails=${COUNT} accepted=${load.accepted.size} restarts=1 refused-451-then-resent=${load.retried} ` +
          `duplicates=${duplicates} lost=${lost} down-to-ready=${recoveredSeconds.toFixed(1)}s relay-restarts=0`,
      );
      assert.equal(load.accepted.size, COUNT);
      assert.equal(lost, 0);
      assert.ok(duplicates <= 2 * REQUESTS_IN_FLIGHT_PER_RELAY, `${duplicates} duplicates`);
      for (const relay of relays) assert.equal(relay.process.child.exitCode, null, `${relay.name} kept running`);
    } finally {
      load.stop();
      await stopAll(relays);
      await sink.stop();
      await gateway.close();
    }
  });
});
