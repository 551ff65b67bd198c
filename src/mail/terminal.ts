import { ESCAPE_SEQUENCE_SOURCE } from './escape-sequences.ts';

/**
 * Terminal output as the terminal showed it. cron mails a job's output as the job wrote it: a
 * progress meter (wget, curl -#, rsync --progress, pv) redraws its line after a bare CR, and `man`
 * or `nroff` output overstrikes with a backspace (`N\bN` bold, `_\bX` underlined). A terminal, `less`
 * and `col -b` show each line's last state, each overstruck letter once; read as line breaks, every
 * redraw would cost a line of the SMS (a download's 101 states: 19 parts).
 */

/** A CR that ends no line, a backspace: what only a terminal reads. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds.
const REDRAWN = /\r(?!\n)|\x08/;
/**
 * What draws on a line: a CSI sequence (`ESC[K` erases to the line's end, a colour takes no cell), any other terminal
 * escape sequence (a charset designation, an OSC title: no cell either), or one character.
 */
const DRAWN = new RegExp(String.raw`\x1b\[(?<parameter>[0-?]*)[ -/]*(?<command>[@-~])|(?<sequence>${ESCAPE_SEQUENCE_SOURCE})|[\s\S]`, 'gu');
/** `ESC[K` (`ESC[0K`): erase to the line's end, what a redraw shorter than the one before writes. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: ESC starts the sequence.
const ERASE_TO_END = /\x1b\[0?K/;
/** A terminal escape sequence, which takes no cell. */
const ESCAPE_SEQUENCE = new RegExp(ESCAPE_SEQUENCE_SOURCE, 'gu');

/**
 * One text part (plain text, never HTML: a bare CR there is markup's white space) with each line as a
 * terminal shows it last. A part whose lines all end in a bare CR (no line feed but at its end) is
 * classic Mac OS text: CR is its line end. In any other, a CR redraws its line only where the line
 * shows a redraw: every text after a CR in it at least as long as the text before that CR (a meter's
 * states are of one width or grow), or erasing the rest (`ESC[K`). Elsewhere a bare CR is a line end
 * still: Mac text with a line-feed line added by a list server or gateway, whose lines of any length
 * would otherwise overwrite each other.
 */
export function asTerminalShows(text: string): string {
  if (!REDRAWN.test(text)) return text;
  const lineFeeds = text.replace(/\r\n/g, '\n');
  const crLineEnds = !lineFeeds.replace(/[\r\n]+$/, '').includes('\n');
  return lineFeeds
    .split('\n')
    .flatMap((line) => (!crLineEnds && showsRedraw(line) ? [line] : line.split(/\r(?!$)/)))
    .map(shownLine)
    .join('\n');
}

/** Whether each bare CR of a line (but one ending it) is followed by a redraw: as long a text as before it, or one erasing the rest. */
function showsRedraw(line: string): boolean {
  const drawn = line.replace(/\r$/, '').split('\r');
  return drawn.every((after, index) => index === 0 || ERASE_TO_END.test(after) || cellsOf(after) >= cellsOf(drawn[index - 1] ?? ''));
}

function cellsOf(text: string): number {
  return [...text.replace(ESCAPE_SEQUENCE, '')].length;
}

function shownLine(line: string): string {
  if (!REDRAWN.test(line)) return line;
  const cells: string[] = [];
  let cursor = 0;
  for (const { 0: drawn, groups } of line.matchAll(DRAWN)) {
    const { parameter, command, sequence } = groups ?? {};
    if (drawn === '\r') cursor = 0;
    else if (drawn === '\b') cursor = Math.max(0, cursor - 1);
    else if (command === 'K' && (parameter === '' || parameter === '0')) cells.length = Math.min(cells.length, cursor);
    else if (command === undefined && sequence === undefined) cells[cursor++] = drawn;
  }
  return cells.join('');
}
