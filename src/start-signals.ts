/**
 * The signals `smsrelay start` answers itself (docs/operations.md, Stopping), from the process's first
 * moment. Loading the relay's modules takes seconds on a loaded machine, and until a handler is set Node's
 * default ends the process with no log line: a SIGTERM leaves the lock behind, and a SIGHUP (`systemctl
 * reload` right after a start) ends it in a way systemd counts as clean and does not restart. bin/smsrelay.js
 * holds them before loading anything else; `start` takes them over with those that came meanwhile, and
 * every other command lets them go, so that they end it as before.
 */
const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
export type StartSignal = (typeof SIGNALS)[number];

const held: StartSignal[] = [];
const hold = (signal: StartSignal) => held.push(signal);

/** Keeps these signals, in order, until `takeOverSignals` or `releaseSignals`. */
export function holdSignals(): void {
  for (const signal of SIGNALS) process.on(signal, hold);
}

/*
 * Node closes a signal's handle with its last listener, and a signal the OS delivered while JavaScript was busy (evaluating
 * cli.ts's imports: seconds) waits in that handle until the event loop reads it: closed first, it is dropped. So the next
 * listener is always added before `hold` goes.
 */

/** `handle` answers the signals from now on, after those held so far, in the order they came. */
export function takeOverSignals(handle: (signal: StartSignal) => void): void {
  for (const signal of SIGNALS) {
    process.on(signal, handle);
    process.off(signal, hold);
  }
  for (const signal of held.splice(0)) handle(signal);
}

/** Node's default again for these signals; one held meanwhile, or still on its way, is sent again, and ends the process as it would have. */
export function releaseSignals(): void {
  const resend = (signal: StartSignal) => {
    // The last listener gone, Node's default applies to the signal sent again.
    process.off(signal, resend);
    process.kill(process.pid, signal);
  };
  for (const signal of SIGNALS) {
    process.on(signal, resend);
    process.off(signal, hold);
  }
  for (const signal of held.splice(0)) resend(signal);
  // Signals on their way are read in the event loop's poll phase. Called from that phase, one setImmediate runs before the
  // next poll; the second runs after it.
  setImmediate(() =>
    setImmediate(() => {
      for (const signal of SIGNALS) process.off(signal, resend);
    }),
  );
}
