/**
 * Thread-first cutting: a mail that answers one of the relay's own reply mails quotes what the relay
 * sent. The relay knows that text, so it finds the quoted copy as a block where it sits (with or
 * without `>` prefixes, re-wrapped, with the template's lines) by comparing words from the start of
 * lines, never by searching for a substring: an SMS "OK" cannot erase an "OK" of the new text.
 */
import { lineAsRead, quoteHeaderStart, quoteMarksRead, type Removal } from './strip.ts';

/** Words of the sent mail compared at most: enough to be sure, bounded so the search stays linear. */
const MAX_COMPARED_WORDS = 40;
/** A block this many words long is the sent mail even when the quote is interrupted (inline answers). */
const MIN_BLOCK_WORDS = 8;

export const THREAD_REASON = "the relay's reply mail this mail answers, quoted (found by the thread)";

interface Word {
  readonly word: string;
  readonly line: number;
  readonly startsLine: boolean;
}

/**
 * The body lines without the quoted copy of one of `sent` (the bodies of the relay's mails the mail
 * answers) and what it was: from its attribution or header block on. A copy with `>` prefixes is
 * only that block (the text may go on below it, bottom-posted or inline); a copy without them is the
 * rest of the mail (top-posted). `answered`: the addresses of the relay's mail answered (its phone
 * address), which a header block above the copy names. Undefined when no copy is found: the general rules decide.
 */
export function cutSentCopy(lines: readonly string[], sent: readonly string[], answered: readonly string[]): { lines: string[]; removal: Removal } | undefined {
  // Read with every mark that may quote as `>` ("AS> ", "＞"): the copy quoted so is found, and is only that block.
  const read = quoteMarksRead(lines, true);
  const words = lineWords(read);
  let best: { start: number; end: number } | undefined;
  for (const body of sent) {
    const wanted = wordsOf(body).slice(0, MAX_COMPARED_WORDS);
    if (wanted.length === 0) continue;
    const found = findBlock(words, wanted, read);
    if (found && (!best || found.start < best.start)) best = found;
  }
  if (!best) return undefined;
  const quoted = isQuoted(read[best.start] ?? '');
  const from = quoteHeaderStart(read, best.start, answered);
  const to = quoted ? best.end : lines.length - 1;
  return {
    lines: [...lines.slice(0, from), ...lines.slice(to + 1)],
    removal: { reason: THREAD_REASON, first: (lines[from] ?? '').trim().slice(0, 80), lines: to - from + 1 },
  };
}

function findBlock(words: readonly Word[], wanted: readonly string[], lines: readonly string[]): { start: number; end: number } | undefined {
  for (let at = 0; at < words.length; at++) {
    const first = words[at];
    if (!first?.startsLine || first.word !== wanted[0]) continue;
    let matched = 1;
    while (matched < wanted.length && words[at + matched]?.word === wanted[matched]) matched++;
    const start = first.line;
    const end = words[at + matched - 1]?.line ?? start;
    const whole = matched === wanted.length;
    // A short sent text is trusted only inside a quote: unquoted, it could be the writer's own words.
    const sure = wanted.length >= MIN_BLOCK_WORDS ? matched >= MIN_BLOCK_WORDS || whole : whole && isQuoted(lines[start] ?? '');
    if (sure) return { start, end };
  }
  return undefined;
}

function lineWords(lines: readonly string[]): Word[] {
  return lines.flatMap((line, index) =>
    wordsOf(lineAsRead(line).replace(/^[\s>]+/, '')).map((word, position) => ({ word, line: index, startsLine: position === 0 })),
  );
}

/** Letters and digits only, case and width folded: quoting, re-wrapping and HTML change nothing else. */
function wordsOf(text: string): string[] {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((word) => word !== '');
}

function isQuoted(line: string): boolean {
  return /^\s*>/.test(line);
}
