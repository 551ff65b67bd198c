import { pino, type Logger } from 'pino';
import { codePointName } from './mail/ascii.ts';

export type { Logger };

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/**
 * Structured JSON lines on stdout. Every line about a message carries `msgId` (the relay's message
 * id) so one grep follows a message from SMTP through the gateway and back. Phone numbers are logged
 * masked at every level (see `maskNumber`): debug is turned on to chase a fault, often with the logs
 * shipped elsewhere, and the msgId leads to the full number in the store (`smsrelay log`).
 */
export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      // Read through a call, not the function: a test that fakes Date.now after the logger is made still sees its time.
      timestamp: isoTimeOf(() => Date.now()),
      formatters: { level: (label) => ({ level: label }), log: withNestedPasswordsCensored },
      // A password one field down is censored by withNestedPasswordsCensored, not by a `*.password` path: pino runs a
      // wildcard path's redactor on every field of every line (it parses the path and clones at each call), 2–3 µs and
      // about 5 KiB a line, where a look at each field's own keys costs a tenth of that (#15). A child logger's bindings
      // never reach this formatter (pino gives each child a pass-through one): they must be names (component, provider,
      // msgId); a top-level `password` among them is still censored by the paths below, one a level down would not be.
      redact: { paths: ['password', 'config.gateway.password'], censor: PASSWORD_CENSOR },
      hooks: { streamWrite: withUnseenCharactersNamed },
    },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}

/**
 * pino's `stdTimeFunctions.isoTime` (`,"time":"2026-12-07T05:31:08.123Z"`, UTC), the same text, with all but the
 * milliseconds made once a second: Date#toISOString was a third of a line's cost (~0.8 of ~2.6 µs, #15), two lines a mail.
 * Any change of second, a step back of the clock too, makes the prefix again.
 */
export function isoTimeOf(clock: () => number): () => string {
  let second = Number.NaN;
  let prefix = '';
  return () => {
    const now = clock();
    const start = Math.floor(now / 1000) * 1000;
    if (start !== second) {
      second = start;
      // Everything before the milliseconds and the `Z` (`.mmmZ` ends every ISO string, a year past 9999's too).
      prefix = `,"time":"${new Date(start).toISOString().slice(0, -4)}`;
    }
    return `${prefix}${String(now - start).padStart(3, '0')}Z"`;
  };
}

/**
 * Characters a terminal or log viewer acts on instead of showing, which JSON leaves raw (it escapes the C0 controls itself):
 * DEL and the C1 controls, the bidi controls (marks, embeddings, overrides, isolates), the line and paragraph
 * separators. A sender's address or a gateway's words holding U+202E read reversed in a terminal (Trojan Source), a spoofed
 * line the operator trusts. Other format characters are text: the joiners U+200D/U+200C inside emoji and Persian or Indic words.
 */
const UNSEEN = /[\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/u;
const EVERY_UNSEEN = new RegExp(UNSEEN.source, 'gu');

/**
 * A line with each such character named by its code point (`U+202E`), as SMTP replies quote it; the line stays JSON (each
 * can stand only inside a string, and its name is ASCII). One test per line: only a line holding one is rewritten. The
 * commands' output to the terminal goes through it too (cli.ts printOutput): a quarantined request's reason and body are
 * a stranger's bytes.
 */
export function withUnseenCharactersNamed(line: string): string {
  return UNSEEN.test(line) ? line.replace(EVERY_UNSEEN, codePointName) : line;
}

/** What stands in a line for a password, wherever the line has one. */
const PASSWORD_CENSOR = '***';

/**
 * The fields of a line with any field's own `password` censored: a settings or credentials object logged whole. The censored field is a copy, its other properties and prototype kept (an
 * Error's message and stack too, for pino's err serializer to read); the object logged is left as it was. Made for
 * plain objects and errors: an array, Date or Buffer with a `password` of its own would be logged as a plain object.
 */
function withNestedPasswordsCensored(fields: Record<string, unknown>): Record<string, unknown> {
  let censored: Record<string, unknown> | undefined;
  for (const key in fields) {
    const value = fields[key];
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, 'password')) continue;
    // The censor goes into the descriptors before the copy is made: a frozen object's `password` (the loaded config's
    // accounts are deep-frozen) cannot be redefined on a copy that took it as it was.
    const descriptors = Object.getOwnPropertyDescriptors(value);
    descriptors.password = { value: PASSWORD_CENSOR, enumerable: true, writable: true, configurable: true };
    const copy = Object.create(Object.getPrototypeOf(value), descriptors);
    censored ??= { ...fields };
    censored[key] = copy;
  }
  return censored ?? fields;
}

/**
 * Connections turned away are logged at most once per this interval (per reason), with how many were
 * turned away since: a flood of connections, the very case, must not flood the log too.
 */
const TURNED_AWAY_LOG_INTERVAL_MS = 60_000;

/**
 * Connections, sessions and requests a listener turned away, in the log (`message`): one line per
 * reason (code, or `key` where one code covers cases an operator tells apart) at most every
 * TURNED_AWAY_LOG_INTERVAL_MS, naming the last client (and what else `about` it tells) and how many
 * were turned away for that reason since the previous line. At warn, or at `level` for what is the
 * client's doing alone (a client that reset its connection).
 */
export function turnedAwayLog(
  logger: Logger,
  clock: () => number,
  message: string,
  level: 'warn' | 'info' = 'warn',
): (refusal: { readonly code: string; readonly message: string; readonly key?: string }, client: string, about?: object) => void {
  const last = new Map<string, { at: number; since: number }>();
  return (refusal, client, about = {}) => {
    const key = refusal.key ?? refusal.code;
    const seen = last.get(key);
    const now = clock();
    if (seen && now - seen.at < TURNED_AWAY_LOG_INTERVAL_MS) {
      seen.since++;
      return;
    }
    last.set(key, { at: now, since: 0 });
    logger[level]({ ...about, client, code: refusal.code, reason: refusal.message, ...(seen?.since ? { alsoTurnedAway: seen.since } : {}) }, message);
  };
}

/** How many holders of the slots a "turned away" line names: the busiest, enough to block them at a firewall. */
const HOLDERS_LOGGED = 10;

/**
 * The addresses holding the most of a listener's connections (one address per connection), busiest first, as
 * `address (count)`: what a "turned away" line of a full listener names besides the client it turned away.
 */
export function busiestHolders(addresses: Iterable<string>): string {
  const counts = new Map<string, number>();
  for (const address of addresses) counts.set(address, (counts.get(address) ?? 0) + 1);
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, HOLDERS_LOGGED)
    .map(([address, count]) => `${address} (${count})`)
    .join(', ');
}
