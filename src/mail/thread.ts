/**
 * Thread-first cutting: a mail that answers one of the relay's own reply mails quotes what the relay
 * sent. The relay knows that text, so it finds the quoted copy as a block where it sits (with or
 * without `>` prefixes, re-wrapped, with the template's lines) by comparing words from the start of
 * lines, never by searching for a substring: an SMS "OK" cannot erase an "OK" of the new text.
 */
import { lineAsRead, quoteHeaderStart, type Removal } from './strip.ts';

/** Words of the sent mail compared at most: enough to be sure, bounded so the search stays linear. */
const MAX_COMPARED_WORDS = 40;
/** A block this many words long is the sent mail even when the quote is interrupted (inline answers). */
const MIN_BLOCK_WORDS = 8;
/**
 * Words of the sent mail aligned at most with an unquoted copy to find what the writer typed into it:
 * a reply mail is an SMS and the template's lines. The alignment is quadratic in them.
 */
const MAX_ALIGNED_WORDS = 300;
/** Words of the mail an alignment reads beyond the sent mail's: room for the inline answers typed into the copy. */
const MAX_INSERTED_WORDS = 300;
/** An alignment is tried only where this many of the sent mail's first words open a line in a row: few lines of a mail do. */
const MIN_ALIGNED_START = 2;
/** An unquoted copy with answers typed into it is the sent mail when this share of its words stands in it, in order. */
const MIN_ALIGNED_SHARE = 0.9;
/** A link Outlook's plain part writes after a linked text (`text<https://…>`), an inline image's `[cid:…]`: no words of the copy. */
const LINK_SUFFIX = /<(?:https?|mailto|tel):[^>]*>|\[cid:[^\]]*\]/gi;

export const THREAD_REASON = "the relay's reply mail this mail answers, quoted (found by the thread)";

interface Word {
  readonly word: string;
  readonly line: number;
  readonly startsLine: boolean;
  /** Where the word stands in its line as read (lineAsRead). */
  readonly from: number;
  readonly to: number;
}

interface Block {
  readonly start: number;
  readonly end: number;
  /** What the writer typed into an unquoted copy (Outlook's inline answers), a line per run, in order. */
  readonly answers: readonly string[];
}

/**
 * The body lines without the quoted copy of one of `sent` (the bodies of the relay's mails the mail
 * answers) and what it was: from its attribution or header block on. A copy with `>` prefixes is
 * only that block (the text may go on below it, bottom-posted or inline); a copy without them is the
 * rest of the mail (top-posted), less what the writer typed into it (Outlook's "answers inline
 * below"): its words that are not the sent mail's, between the copy's first and last, stay below the
 * text above the copy. `answered`: the addresses of the relay's mail answered (its phone address),
 * which a header block above the copy names. Undefined when no copy is found: the general rules decide.
 */
export function cutSentCopy(lines: readonly string[], sent: readonly string[], answered: readonly string[]): { lines: string[]; removal: Removal } | undefined {
  const read = lines.map((line) => lineAsRead(line).replace(LINK_SUFFIX, (link) => ' '.repeat(link.length)));
  const words = lineWords(read);
  let best: Block | undefined;
  for (const body of sent) {
    const wanted = wordsOf(body).map(({ word }) => word);
    if (wanted.length === 0) continue;
    const found = findBlock(words, wanted, lines, read);
    if (found && (!best || found.start < best.start)) best = found;
  }
  if (!best) return undefined;
  const quoted = isQuoted(lines[best.start] ?? '');
  const from = quoteHeaderStart(lines, best.start, answered);
  const to = quoted ? best.end : lines.length - 1;
  const answers = best.answers.length > 0 ? ['', ...best.answers] : [];
  return {
    lines: [...lines.slice(0, from), ...answers, ...lines.slice(to + 1)],
    removal: { reason: THREAD_REASON, first: (lines[from] ?? '').trim().slice(0, 80), lines: to - from + 1 },
  };
}

function findBlock(words: readonly Word[], sent: readonly string[], lines: readonly string[], read: readonly string[]): Block | undefined {
  const wanted = sent.slice(0, MAX_COMPARED_WORDS);
  for (let at = 0; at < words.length; at++) {
    const first = words[at];
    if (!first?.startsLine || first.word !== wanted[0]) continue;
    let matched = 1;
    while (matched < wanted.length && words[at + matched]?.word === wanted[matched]) matched++;
    const start = first.line;
    const end = words[at + matched - 1]?.line ?? start;
    const whole = matched === wanted.length;
    const quoted = isQuoted(lines[start] ?? '');
    // A short sent text is trusted only inside a quote: unquoted, it could be the writer's own words.
    const sure = wanted.length >= MIN_BLOCK_WORDS ? matched >= MIN_BLOCK_WORDS || whole : whole && quoted;
    if (quoted) {
      if (sure) return { start, end, answers: [] };
      continue;
    }
    // Unquoted, the copy runs to the mail's end: what the writer typed into it is found by aligning it with the sent mail.
    const aligned = sent.length >= MIN_BLOCK_WORDS && matched >= MIN_ALIGNED_START ? alignedCopy(words, at, sent.slice(0, MAX_ALIGNED_WORDS), read) : undefined;
    if (aligned) return { start, end: aligned.end, answers: aligned.answers };
    if (sure) return { start, end, answers: [] };
  }
  return undefined;
}

/**
 * The copy of `sent` from the word at `at` on, aligned with it (a longest common subsequence of
 * words), when most of its words stand there in order (MIN_ALIGNED_SHARE): its last line, and the
 * runs of words between its first and last that are not the sent mail's, as the writer typed them
 * (the run's lines from its first word to its last, with the signs around them: "[Alice] No!"), where
 * the copy goes on after them. A run of the sent mail's words alone is a repetition, no answer.
 */
function alignedCopy(words: readonly Word[], at: number, sent: readonly string[], read: readonly string[]): { end: number; answers: string[] } | undefined {
  const copy = words.slice(at, at + sent.length + MAX_INSERTED_WORDS);
  const width = sent.length + 1;
  // common[i * width + j]: the longest common subsequence of copy[i…] and sent[j…].
  const common = new Uint16Array((copy.length + 1) * width);
  for (let i = copy.length - 1; i >= 0; i--) {
    for (let j = sent.length - 1; j >= 0; j--) {
      common[i * width + j] =
        copy[i]?.word === sent[j] ? (common[(i + 1) * width + j + 1] ?? 0) + 1 : Math.max(common[(i + 1) * width + j] ?? 0, common[i * width + j + 1] ?? 0);
    }
  }
  if ((common[0] ?? 0) < Math.max(MIN_BLOCK_WORDS, sent.length * MIN_ALIGNED_SHARE)) return undefined;
  const inCopy: boolean[] = [];
  let last = 0;
  for (let i = 0, j = 0; i < copy.length && j < sent.length; ) {
    if (copy[i]?.word === sent[j]) {
      inCopy[i] = true;
      last = i;
      i++;
      j++;
    } else if ((common[(i + 1) * width + j] ?? 0) >= (common[i * width + j + 1] ?? 0)) i++;
    else j++;
  }
  const known = new Set(sent);
  const answers: string[] = [];
  let run: Word[] = [];
  for (let i = 0; i <= last; i++) {
    const word = copy[i];
    if (word && !inCopy[i]) {
      run.push(word);
      continue;
    }
    // The copy goes on after an answer: two of its words in a row (a stray word of the mail further down is no copy's).
    const resumes = inCopy[i] === true && inCopy[i + 1] === true;
    if (resumes && run.some(({ word: typed }) => !known.has(typed))) answers.push(...runText(run, read));
    run = [];
  }
  return { end: copy[last]?.line ?? 0, answers };
}

/** The lines a run of words stands on, each from its first word of the run to its last, with the signs right around them. */
function runText(run: readonly Word[], read: readonly string[]): string[] {
  const byLine = new Map<number, { from: number; to: number }>();
  for (const { line, from, to } of run) {
    const span = byLine.get(line);
    byLine.set(line, span ? { from: span.from, to } : { from, to });
  }
  return [...byLine].map(([line, { from, to }]) => {
    const text = read[line] ?? '';
    let start = from;
    let end = to;
    while (start > 0 && !/[\s>]/.test(text[start - 1] ?? ' ')) start--;
    while (end < text.length && !/\s/.test(text[end] ?? ' ')) end++;
    return text.slice(start, end);
  });
}

function lineWords(read: readonly string[]): Word[] {
  return read.flatMap((line, index) => wordsOf(line).map((word, position) => ({ ...word, line: index, startsLine: position === 0 })));
}

/** Letters and digits only, case and width folded: quoting, re-wrapping and HTML change nothing else. Each with where it stands. */
function wordsOf(text: string): Array<{ word: string; from: number; to: number }> {
  return Array.from(text.matchAll(/[\p{L}\p{N}]+/gu), (match) => ({
    word: match[0].normalize('NFKC').toLowerCase(),
    from: match.index ?? 0,
    to: (match.index ?? 0) + match[0].length,
  }));
}

function isQuoted(line: string): boolean {
  return /^\s*>/.test(line);
}
