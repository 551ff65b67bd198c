/**
 * Files uuencoded into a text body (`begin 644 report.txt` … `end`): Outlook Express's and Eudora's
 * "uuencode" attachment setting, `uuencode file name | mail` on Unix. Mail readers show such a block
 * as an attachment; sent as text it is binary garbage that costs parts and buries the note.
 */
import type { Removal } from './strip.ts';

/** POSIX uuencode's header line: `begin`, the file's octal mode, its name. */
const BEGIN = /^begin[ \t]+[0-7]{3,4}[ \t]+(\S.*?)\s*$/;
/** An encoded line: a length character, then characters from space to backquote (POSIX); blank when a mailer trimmed a space-only line. */
const ENCODED = /^[ -`]*$/;
const END = /^end\s*$/;
const UUENCODED_REASON = 'uuencoded attachment (an SMS carries text only)';

/** The text without its uuencoded blocks, the files' names, and what was removed (for `smsrelay preview`). */
export function withoutUuencoded(text: string): { text: string; files: string[]; removed: Removal[] } {
  const files: string[] = [];
  const removed: Removal[] = [];
  if (!text.includes('begin')) return { text, files, removed };
  const lines = text.split('\n');
  const kept: string[] = [];
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index] ?? '';
    const name = line.match(BEGIN)?.[1];
    const end = name === undefined ? -1 : blockEnd(lines, index + 1);
    if (name === undefined || end < 0) {
      kept.push(line);
      continue;
    }
    files.push(name);
    removed.push({ reason: UUENCODED_REASON, first: line, lines: end - index + 1 });
    index = end;
  }
  return { text: kept.join('\n'), files, removed };
}

/** The index of the `end` line of a block whose encoded lines start at `from`, or -1 when a line between is no uuencoding. */
function blockEnd(lines: readonly string[], from: number): number {
  for (let index = from; index < lines.length; index++) {
    const line = lines[index] ?? '';
    if (END.test(line)) return index > from ? index : -1;
    if (!ENCODED.test(line)) return -1;
  }
  return -1;
}
