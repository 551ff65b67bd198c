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
/** What draws on a line: a terminal control sequence (`ESC[K` erases to the line's end, a colour takes no cell), or one character. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it reads.
const DRAWN = /\x1b\[([0-?]*)[ -/]*([@-~])|[\s\S]/gu;

/**
 * The text with each line as a terminal shows it last. A text whose lines all end in a bare CR (no
 * line feed but at its end: classic Mac OS text) has CR as its line end, as before; in any other, a CR
 * followed by more of its line returns to the line's start, and what follows overwrites it.
 */
export function asTerminalShows(text: string): string {
  if (!REDRAWN.test(text)) return text;
  const lineFeeds = text.replace(/\r\n/g, '\n');
  const crLineEnds = !lineFeeds.replace(/[\r\n]+$/, '').includes('\n');
  return (crLineEnds ? lineFeeds.split(/[\r\n]/) : lineFeeds.split('\n')).map(shownLine).join('\n');
}

function shownLine(line: string): string {
  if (!REDRAWN.test(line)) return line;
  const cells: string[] = [];
  let cursor = 0;
  for (const [drawn, parameter, command] of line.matchAll(DRAWN)) {
    if (drawn === '\r') cursor = 0;
    else if (drawn === '\b') cursor = Math.max(0, cursor - 1);
    else if (command === 'K' && (parameter === '' || parameter === '0')) cells.length = Math.min(cells.length, cursor);
    else if (command === undefined) cells[cursor++] = drawn;
  }
  return cells.join('');
}
