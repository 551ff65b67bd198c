import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger, type LogLevel, type Logger } from '../../src/log.ts';

/** A logger whose lines land in `lines`, one JSON line each, for tests of what gets logged. */
export function captureLog(level: LogLevel): { readonly logger: Logger; readonly lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString('utf8'));
      callback();
    },
  });
  return { logger: createLogger(level, sink), lines };
}

/** Fails, naming what leaked, when any line holds one of `secrets` (what it is → the secret). */
export function assertNeverLogged(lines: readonly string[], secrets: Readonly<Record<string, string>>): void {
  const everything = lines.join('');
  for (const [what, secret] of Object.entries(secrets)) assert.ok(!everything.includes(secret), `${what} logged`);
}
