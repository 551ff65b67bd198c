/**
 * Generated passwords whose first character YAML reserves (an alias `*`, an anchor `&`, a tag `!`, a directive `%`,
 * a block `|` `>`, a flow `{` `[`, a quote, a comment `#`…), for the tests that a settings file's YAML fault never
 * says the value (test/config/load.test.ts in-process, test/cli.test.ts through config check, start and SIGHUP).
 */
import { mulberry32 } from './fuzz-cases.ts';

export const YAML_SPECIAL_FIRST = ['*', '&', '!', '%', '@', '`', '|', '>', '{', '[', "'", '"', '#'] as const;

/** What follows the first character: what password generators use, a space and YAML's punctuation too. */
export const PUNCTUATED = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789$-_.!*&%@#:,[]{}\'"\\/?+=~^ ';

/** The rest of a password as most generators make it, which YAML reads as one name after `*`, `&` or `!`. */
export const PLAIN = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789$-_.';

/** `count` secrets of seed `seed`, cycling through the special first characters, the rest from `rest`; 13 to 27 characters each. */
export function yamlSpecialSecrets(count: number, seed = 0x5ec7e75, rest = PUNCTUATED): string[] {
  const next = mulberry32(seed);
  const pick = (from: string | readonly string[]) => from[Math.floor(next() * from.length)] ?? '';
  return Array.from({ length: count }, (_, index) => {
    const length = 9 + Math.floor(next() * 15);
    // Letters at its end: a part a fault could quote is never only punctuation the words themselves hold.
    return `${YAML_SPECIAL_FIRST[index % YAML_SPECIAL_FIRST.length]}${Array.from({ length }, () => pick(rest)).join('')}Zq7`;
  });
}

/**
 * The parts of `secret` an output must not hold: its run of 6 characters from each place (a message quoting the
 * value without its first character, or a token of it), less those that are only the punctuation and spaces any
 * line may hold.
 */
export function secretParts(secret: string): string[] {
  const parts: string[] = [];
  for (let at = 1; at + 6 <= secret.length; at++) {
    const part = secret.slice(at, at + 6);
    if (/[A-Za-z0-9]{2}/.test(part)) parts.push(part);
  }
  return parts;
}
