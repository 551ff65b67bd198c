/**
 * The gateway the benchmarks send to: the IntelliSoftware simulator on its own process and port (a
 * real gateway is another machine; in the relay's process it would take the relay's CPU). No
 * webhooks: delivery reports are traffic of their own, measured by the MO bench. Prints its URL.
 */
import { IntelliSoftwareSimulator } from '../src/simulators/intellisoftware.ts';
import { createLogger } from '../src/log.ts';

export const BENCH_ACCOUNT = { username: 'bench', password: 'bench-password' } as const;

const { url, simulator, close } = await IntelliSoftwareSimulator.listen({ ...BENCH_ACCOUNT, logger: createLogger('silent') });
console.log(JSON.stringify({ url }));
// The bench asks for arrival times by line on stdin: "times" prints one JSON line of [text, ms].
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  if (chunk.includes('times')) console.log(JSON.stringify(simulator.received.map((sms) => [sms.text, sms.receivedAt.getTime()])));
  if (chunk.includes('count')) console.log(JSON.stringify({ count: simulator.received.length }));
});
process.on('SIGTERM', () => void close().then(() => process.exit(0)));
