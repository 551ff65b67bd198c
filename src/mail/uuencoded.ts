/**
 * Files encoded into a text body: uuencode (`begin 644 report.txt` … `end`: Outlook Express's and
 * Eudora's "uuencode" attachment setting, `uuencode file name | mail` on Unix), its base64 form
 * (`begin-base64 644 report.txt` … `====`: POSIX `uuencode -m`) and BinHex 4.0 (old Mac mailers:
 * Eudora, Outlook Express for Mac, Entourage). Mail readers show such a block as an attachment; sent
 * as text it is binary garbage that costs parts and buries the note.
 */
import type { Removal } from './strip.ts';

/** A kind of encoded block: how it starts (naming the file), which lines it holds, how it ends. */
interface Encoding {
  readonly begin: RegExp;
  readonly encoded: RegExp;
  readonly end: RegExp;
  /** A line only a file's data is (a full line of the encoding): one makes a block cut short before its end line a file still. */
  readonly data: RegExp;
  readonly reason: string;
}

/** A header line's file name: from its first non-blank to its last, blanks inside kept ("my report.txt"). */
const FILE_NAME = String.raw`(\S(?:.*\S)?)`;

const ENCODINGS: readonly Encoding[] = [
  {
    // POSIX uuencode's header line: `begin`, the file's octal mode, its name. An encoded line: a length
    // character, then characters from space to backquote; blank when a mailer trimmed a space-only line.
    // The name ends at its last non-blank (FILE_NAME): a lazy name before `\s*$` retried the trailing run
    // at each of its characters, seconds on a header line padded with blanks.
    begin: new RegExp(`^begin[ \\t]+[0-7]{3,4}[ \\t]+${FILE_NAME}\\s*$`),
    encoded: /^[ -`]*$/,
    end: /^end\s*$/,
    // A full uuencoded line: `M` (45 bytes) and 60 characters.
    data: /^M[ -`]{60}\s*$/,
    reason: 'uuencoded attachment (an SMS carries text only)',
  },
  {
    // POSIX `uuencode -m`: the same header as `begin-base64`, base64 lines, and `====` as its end.
    begin: new RegExp(`^begin-base64[ \\t]+[0-7]{3,4}[ \\t]+${FILE_NAME}\\s*$`),
    encoded: /^[A-Za-z0-9+/]*={0,2}\s*$/,
    end: /^====\s*$/,
    // A base64 line as encoders write them (60 or 76 characters); no word is one.
    data: /^[A-Za-z0-9+/]{60,}={0,2}\s*$/,
    reason: 'uuencoded attachment, base64 form (an SMS carries text only)',
  },
];

/** BinHex 4.0's marker line above its block. */
const BINHEX_MARKER = /^\(This file must be converted with BinHex 4\.0\)\s*$/;
/** BinHex's 64 characters, in the order of the 6-bit values they stand for. */
const BINHEX_ALPHABET = '!"#$%&\'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr';
const BINHEX_LINE = /^[!-r]*\s*$/;
/** BinHex's run-length marker: the byte after it repeats the byte before it that many times. */
const BINHEX_RUN = 0x90;
/** BinHex's header opens with the file name's length (1 to 63, a Mac file name) and the name: the few bytes decoded for it. */
const BINHEX_NAME_BYTES = 64;
const BINHEX_REASON = 'BinHex attachment (an SMS carries text only)';

/** The text without its encoded files, the files' names, and what was removed (for `smsrelay preview`). */
export function withoutUuencoded(text: string): { text: string; files: string[]; removed: Removal[] } {
  const files: string[] = [];
  const removed: Removal[] = [];
  if (!text.includes('begin') && !text.includes('BinHex')) return { text, files, removed };
  const lines = text.split('\n');
  const kept: string[] = [];
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index] ?? '';
    const block = encodedBlock(lines, index);
    if (block === undefined) {
      kept.push(line);
      continue;
    }
    files.push(block.name);
    removed.push({ reason: block.reason, first: line, lines: block.end - index + 1 });
    index = block.end;
  }
  return { text: kept.join('\n'), files, removed };
}

/** The encoded file whose first line is `lines[index]`: its name, last line and why it goes. */
function encodedBlock(lines: readonly string[], index: number): { name: string; end: number; reason: string } | undefined {
  const line = lines[index] ?? '';
  if (BINHEX_MARKER.test(line)) return binHexBlock(lines, index);
  for (const encoding of ENCODINGS) {
    const name = line.match(encoding.begin)?.[1];
    if (name === undefined) continue;
    const end = blockEnd(lines, index + 1, encoding);
    return end < 0 ? undefined : { name, end, reason: encoding.reason };
  }
  return undefined;
}

/**
 * The index of the end line of a block whose encoded lines start at `from`, or -1 when a line between
 * is not of its encoding. A block cut short (a script's output truncated: no end line) is a file still
 * when a line of it is the encoding's full data line, and runs to its first blank line or the text's end.
 */
function blockEnd(lines: readonly string[], from: number, encoding: Encoding): number {
  let data = false;
  // A block cut short ends at its first blank line: what follows is text written after it ("Thanks", "DUMP TRUNCATED").
  let blank = -1;
  for (let index = from; index < lines.length; index++) {
    const line = lines[index] ?? '';
    if (encoding.end.test(line)) return index > from ? index : -1;
    // A blank line is the block's (uuencode's last line, a space, stripped by a mailer) only right above its end line.
    if (line.trim() === '' && !encoding.end.test(lines[index + 1] ?? '')) {
      blank = index;
      break;
    }
    if (!encoding.encoded.test(line)) return -1;
    data ||= encoding.data.test(line);
  }
  if (!data) return -1;
  return blank >= 0 ? blank - 1 : lines.length - 1;
}

/** A BinHex 4.0 block under its marker: from the first `:` to the next, its lines of BinHex characters only. */
function binHexBlock(lines: readonly string[], marker: number): { name: string; end: number; reason: string } | undefined {
  let start = marker + 1;
  while (start < lines.length && (lines[start] ?? '').trim() === '') start++;
  if (!(lines[start] ?? '').startsWith(':')) return undefined;
  let data = '';
  for (let index = start; index < lines.length; index++) {
    const line = (lines[index] ?? '').trim();
    if (!BINHEX_LINE.test(line)) return undefined;
    // The first line opens with ":"; the block ends at the next ":".
    const closing = line.indexOf(':', index === start ? 1 : 0);
    if (closing >= 0) {
      data += line.slice(index === start ? 1 : 0, closing);
      return { name: binHexName(data) ?? 'BinHex file', end: index, reason: BINHEX_REASON };
    }
    data += index === start ? line.slice(1) : line;
  }
  return undefined;
}

/** The file name in a BinHex header (its length byte, then the name), or undefined when the data does not decode. */
function binHexName(data: string): string | undefined {
  const bytes: number[] = [];
  let bits = 0;
  let value = 0;
  for (const char of data.slice(0, Math.ceil((BINHEX_NAME_BYTES * 2 * 8) / 6))) {
    const digit = BINHEX_ALPHABET.indexOf(char);
    if (digit < 0) return undefined;
    value = (value << 6) | digit;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((value >> bits) & 0xff);
    }
  }
  const header = withoutRuns(bytes);
  const length = header[0] ?? 0;
  if (length === 0 || header.length < 1 + length) return undefined;
  const name = Buffer.from(header.slice(1, 1 + length)).toString('latin1');
  return /^[\x20-\x7e\xa0-\xff]+$/.test(name) ? name : undefined;
}

/** BinHex's run-length encoding undone: `byte 0x90 n` is the byte n times, `0x90 0` a literal 0x90. */
function withoutRuns(bytes: readonly number[]): number[] {
  const out: number[] = [];
  for (let index = 0; index < bytes.length; index++) {
    const byte = bytes[index] ?? 0;
    if (byte !== BINHEX_RUN) {
      out.push(byte);
      continue;
    }
    const count = bytes[++index] ?? 0;
    if (count === 0) out.push(BINHEX_RUN);
    else for (let more = 1; more < count; more++) out.push(out.at(-1) ?? 0);
  }
  return out;
}
