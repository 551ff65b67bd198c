/**
 * What a bench gateway process (gateway.ts: the simulator; gateway-nginx.ts: nginx) says to the bench,
 * whichever gateway answers the relay. The bench asks by line on stdin: "count" prints {count} (every
 * SMS since the start); "times" prints one JSON line of [text, ms] of the SMS since the last "times" or
 * "forget", which drop them (a soak of 100,000 long texts would otherwise grow the process by the
 * texts). The end of stdin means the bench is gone (even by a crash): the process closes and exits,
 * as on SIGTERM.
 */

/** One SMS the gateway got: its text and when (ms since the epoch). */
export type Arrival = readonly [text: string, receivedAtMs: number];

/**
 * Answers the bench's questions; `takeArrivals` hands over the SMS that arrived since its last call
 * (read only when the bench asks, so that a gateway process does no bench work during a run).
 */
export function answerBench(takeArrivals: () => readonly Arrival[], close: () => Promise<void>): void {
  let forgotten = 0;
  let kept: Arrival[] = [];
  const catchUp = () => {
    for (const arrival of takeArrivals()) kept.push(arrival);
  };
  const forget = () => {
    forgotten += kept.length;
    kept = [];
  };
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    catchUp();
    if (chunk.includes('times')) {
      console.log(JSON.stringify(kept));
      forget();
    }
    if (chunk.includes('forget')) forget();
    if (chunk.includes('count')) console.log(JSON.stringify({ count: forgotten + kept.length }));
  });
  const exit = () => void close().then(() => process.exit(0));
  process.on('SIGTERM', exit);
  process.stdin.on('end', exit);
}
