import { isUtf8 } from 'node:buffer';

/** A character's UTF-8 length by its first byte; 0 for a byte that starts none (a continuation byte, 0xC0, 0xC1, 0xF5 and up). */
function sequenceLength(lead: number): number {
  return lead < 0x80 ? 1 : lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0;
}

/**
 * The length of the UTF-8 character at `at` in `bytes`, or 0 where the byte there starts none (a Latin-1 `ü`, 0xFC).
 * isUtf8 over the one sequence: it refuses overlong forms, surrogates and a sequence cut short, as the decoder does.
 */
function utf8Length(bytes: Buffer, at: number): number {
  const length = sequenceLength(bytes[at] ?? 0);
  return length > 0 && at + length <= bytes.length && (length === 1 || isUtf8(bytes.subarray(at, at + length))) ? length : 0;
}

/** Where the first byte that is not UTF-8 is in `bytes`, or -1 when they are UTF-8 throughout. */
export function firstNonUtf8Byte(bytes: Buffer): number {
  if (isUtf8(bytes)) return -1;
  for (let at = 0, length = 0; at < bytes.length; at += length) {
    length = utf8Length(bytes, at);
    if (length === 0) return at;
  }
  return -1;
}

/** A byte as the relay names it in a reply or a display: `0xFC`. */
export function byteName(byte: number): string {
  return `0x${byte.toString(16).toUpperCase().padStart(2, '0')}`;
}

/** Control characters but tab and the line ends (C0, DEL, C1): a terminal acts on them (ESC), a page shows none of them. */
const SHOWN_ESCAPED = /(?![\t\n\r])\p{Cc}/u;

/** Whether the UTF-8 character of `length` bytes at `at` is one SHOWN_ESCAPED names, read from its bytes (C1 is 0xC2 0x80–0x9F). */
function isShownEscaped(bytes: Buffer, at: number, length: number): boolean {
  const lead = bytes[at] ?? 0;
  if (length === 1) return (lead < 0x20 && lead !== 0x09 && lead !== 0x0a && lead !== 0x0d) || lead === 0x7f;
  return length === 2 && lead === 0xc2 && (bytes[at + 1] ?? 0) <= 0x9f;
}

/** Each byte's escape, `\xHH`, made once: a body of 256 KB of control bytes is 256 K of them. */
const BYTE_ESCAPES: readonly string[] = Array.from({ length: 256 }, (_, byte) => `\\x${byteName(byte).slice(2)}`);

/**
 * Bytes kept as received (a quarantined webhook request's body) as text to read: UTF-8 as it is; a byte that is not
 * UTF-8, and a control character's bytes (but tab and the line ends), as `\xHH`, and then a backslash as `\\`, so
 * that the text is the bytes exactly (bash's `printf '%b'` gives them back), never re-encoded. `escaped` says
 * whether any was. One pass: each run of UTF-8 text between escapes is decoded at once (a page may show 256 KB).
 */
export function bytesAsText(bytes: Buffer): { readonly text: string; readonly escaped: boolean } {
  const plain = bytes.toString('utf8');
  if (isUtf8(bytes) && !SHOWN_ESCAPED.test(plain)) return { text: plain, escaped: false };
  const out: string[] = [];
  let run = 0;
  const endRun = (at: number) => {
    if (at > run) out.push(bytes.toString('utf8', run, at).replaceAll('\\', '\\\\'));
  };
  for (let at = 0; at < bytes.length; ) {
    const length = utf8Length(bytes, at);
    if (length > 0 && !isShownEscaped(bytes, at, length)) {
      at += length;
      continue;
    }
    endRun(at);
    for (const end = at + Math.max(length, 1); at < end; at++) out.push(BYTE_ESCAPES[bytes[at] ?? 0] ?? '');
    run = at;
  }
  endRun(bytes.length);
  return { text: out.join(''), escaped: true };
}
