/**
 * Round trips between the relay's main thread and its SQLite store thread, per mail, on one of the bench's
 * shapes: the messages each way (each a structured clone and a wake-up of the other thread, whatever it
 * carries) and the store calls by method. Counts, not timings: they hold on a machine too loaded to time.
 * Each given commit (`STORE_CALLS_COMMITS`, comma list, `.` for this checkout: the default) runs in a
 * relay of its own, one after the other, against nginx answering `ID:…` as in the bench.
 * Run: STORE_CALLS_SHAPE=corpus STORE_CALLS_COMMITS=.,2dbfcbc7 node --import tsx bench/store-calls.ts
 */
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { baselineCheckout } from './baseline.ts';
import { corpusMessages } from './corpus.ts';
import { startGateway } from './gateways.ts';
import { ALL_SHAPES, awaitArrivals, drive, GATEWAY_ACCOUNT, gatewayCount } from './harness.ts';
import { startRelay } from './processes.ts';

/** Longer than the hook's write interval (store-calls-hook.mjs): the counts read after a run include its last calls. */
const SETTLE_MS = 1_000;

type Counts = { toStore: number; fromStore: number; calls: Record<string, number> };

const mails = Number(process.env.BENCH_MAILS ?? 3000);
const shapeId = process.env.STORE_CALLS_SHAPE ?? 'source-800';
const shape = ALL_SHAPES.find((candidate) => candidate.id === shapeId);
if (!shape) throw new Error(`STORE_CALLS_SHAPE=${shapeId}: one of ${ALL_SHAPES.map((candidate) => candidate.id).join(', ')}`);
const corpus = shape.corpus ? corpusMessages() : [];
const hook = fileURLToPath(new URL('./store-calls-hook.mjs', import.meta.url));
const settle = () => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

const gateway = await startGateway('nginx');
try {
  for (const ref of (process.env.STORE_CALLS_COMMITS ?? '.').split(',')) {
    const file = join(tmpdir(), `smsrelay-store-calls-${process.pid}.json`);
    const root = ref === '.' ? undefined : baselineCheckout(ref).root;
    const relay = await startRelay(
      { SMSRELAY_GATEWAY: 'intellisoftware', SMSRELAY_GATEWAY_URL: gateway.url, ...GATEWAY_ACCOUNT, STORE_CALLS_FILE: file },
      { nodeArgs: ['--import', hook], ...(root ? { root } : {}) },
    );
    try {
      // A first run warms the relay (compiled code, numbers known not opted out), as the bench's runs follow one another.
      for (const label of ['warm', 'counted']) {
        await settle();
        const before = JSON.parse(readFileSync(file, 'utf8')) as Counts;
        const arrived = await gatewayCount(gateway.child);
        const run = await drive(shape, relay.smtpPort, `store-calls-${label}`, mails, corpus);
        const reached = (await awaitArrivals(gateway.child, arrived + mails)) - arrived;
        await settle();
        const after = JSON.parse(readFileSync(file, 'utf8')) as Counts;
        if (label === 'warm') continue;
        const perMail = (count: number) => Number((count / mails).toFixed(3));
        const calls = Object.entries(after.calls)
          .map(([method, count]) => [method, perMail(count - (before.calls[method] ?? 0))] as const)
          .filter(([, count]) => count > 0)
          .sort((a, b) => b[1] - a[1]);
        console.log(
          JSON.stringify({
            relay: ref,
            shape: shape.id,
            mails,
            atGateway: reached,
            refusals: Object.fromEntries(run.refusals),
            messagesToStorePerMail: perMail(after.toStore - before.toStore),
            messagesFromStorePerMail: perMail(after.fromStore - before.fromStore),
            callsPerMail: Number(calls.reduce((sum, [, count]) => sum + count, 0).toFixed(3)),
            calls: Object.fromEntries(calls),
          }),
        );
      }
    } finally {
      await relay.stop();
      rmSync(file, { force: true });
    }
  }
} finally {
  await gateway.child.stop();
}
