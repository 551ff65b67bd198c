/**
 * The IntelliSoftware simulator as the benchmarks' gateway, on its own process and port (a real
 * gateway is another machine; in the relay's process it would take the relay's CPU): validates every
 * request as the real gateway does, at ~140 µs of CPU per mail (2026-12-04). `BENCH_GATEWAY=simulator`;
 * the default is nginx (gateway-nginx.ts). No webhooks: delivery reports are traffic of their own,
 * measured by the MO bench. Prints its URL, then answers the bench (gateway-protocol.ts).
 */
import { IntelliSoftwareSimulator } from '../src/simulators/intellisoftware.ts';
import { createLogger } from '../src/log.ts';
import { answerBench } from './gateway-protocol.ts';

export const BENCH_ACCOUNT = { username: 'bench', password: 'bench-password' } as const;

const { url, simulator, close } = await IntelliSoftwareSimulator.listen({ ...BENCH_ACCOUNT, logger: createLogger('silent') });
// Answering (and closing on SIGTERM) before the URL is out: the bench may stop this process as soon as it reads it.
answerBench(
  () => simulator.received.splice(0).map((sms) => [sms.text, sms.receivedAt.getTime()] as const),
  () => close(),
);
console.log(JSON.stringify({ url }));
