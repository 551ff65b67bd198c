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
// The bench asks by line on stdin: "count" prints {count} (every SMS since the start); "times" prints
// one JSON line of [text, ms] of the SMS since the last "times" or "forget", which drop them (a soak
// of 100,000 long texts would otherwise grow this process by the texts).
let forgotten = 0;
const forget = () => {
  forgotten += simulator.received.length;
  simulator.received.length = 0;
};
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  if (chunk.includes('times')) {
    console.log(JSON.stringify(simulator.received.map((sms) => [sms.text, sms.receivedAt.getTime()])));
    forget();
  }
  if (chunk.includes('forget')) forget();
  if (chunk.includes('count')) console.log(JSON.stringify({ count: forgotten + simulator.received.length }));
});
const exit = () => void close().then(() => process.exit(0));
process.on('SIGTERM', exit);
// The bench holds stdin open while it runs: its end means the bench is gone (even by a crash), so go too.
process.stdin.on('end', exit);
