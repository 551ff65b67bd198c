import { isUtf8 } from 'node:buffer';

/** A character's UTF-8 length by its first byte; 0 for a byte that starts none (a continuation byte, 0xC0, 0xC1, 0xF5 and up). */
function sequenceLength(lead: number): number {
  return lead < 0x80 ? 1 : lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0;
}

/** `bytes` piece by piece: each character of UTF-8 as text, each byte that is not UTF-8 (a Latin-1 `ü`, 0xFC) as itself. */
function* utf8Pieces(bytes: Buffer): Generator<{ readonly at: number; readonly text: string } | { readonly at: number; readonly byte: number }> {
  let at = 0;
  while (at < bytes.length) {
    const lead = bytes[at] ?? 0;
    const length = sequenceLength(lead);
    // isUtf8 over the one sequence: it refuses overlong forms, surrogates and a sequence cut short, as the decoder does.
    if (length > 0 && at + length <= bytes.length && (length === 1 || isUtf8(bytes.subarray(at, at + length)))) {
      yield { at, text: bytes.toString('utf8', at, at + length) };
      at += length;
    } else {
      yield { at, byte: lead };
      at += 1;
    }
  }
}

/** Where the first byte that is not UTF-8 is in `bytes`, or -1 when they are UTF-8 throughout. */
export function firstNonUtf8Byte(bytes: Buffer): number {
  if (isUtf8(bytes)) return -1;
  for (const piece of utf8Pieces(bytes)) if ('byte' in piece) return piece.at;
  return -1;
}

/** A byte as the relay names it in a reply or a display: `0xFC`. */
export function byteName(byte: number): string {
  return `0x${byte.toString(16).toUpperCase().padStart(2, '0')}`;
}

/** Control characters but tab and the line ends (C0, DEL, C1): a terminal acts on them (ESC), a page shows none of them. */
const SHOWN_ESCAPED = /(?![\t\n\r])\p{Cc}/u;

/**
 * Bytes kept as received (a quarantined webhook request's body) as text to read: UTF-8 as it is; a byte that is not
 * UTF-8, and a control character's bytes (but tab and the line ends), as `\xHH`, and then a backslash as `\\`, so
 * that the text is the bytes exactly (bash's `printf '%b'` gives them back), never re-encoded. `escaped` says
 * whether any was.
 */
export function bytesAsText(bytes: Buffer): { readonly text: string; readonly escaped: boolean } {
  const plain = bytes.toString('utf8');
  if (isUtf8(bytes) && !SHOWN_ESCAPED.test(plain)) return { text: plain, escaped: false };
  let text = '';
  for (const piece of utf8Pieces(bytes)) {
    if ('byte' in piece) text += `\\x${byteName(piece.byte).slice(2)}`;
    else if (SHOWN_ESCAPED.test(piece.text)) for (const byte of Buffer.from(piece.text)) text += `\\x${byteName(byte).slice(2)}`;
    else text += piece.text === '\\' ? '\\\\' : piece.text;
  }
  return { text, escaped: true };
}
