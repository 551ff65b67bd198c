import { readFileSync } from 'node:fs';

/** This relay's version, as package.json says. */
export function relayVersion(): string {
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}
