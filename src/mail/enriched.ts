/**
 * RFC 1896 text/enriched as plain text: a formatting command (`<bold>`, `</italic>`, names of up to
 * 60 letters, digits and hyphens) is markup, `<<` is a `<`, and what a `<param>` holds (a font name,
 * a colour) is the command's argument, no text. Line breaks follow the RFC's filling: a single one
 * is a space, a run of n is n-1 line breaks, and inside `<nofill>` each is kept. The text comes with
 * LF line ends (decodedText).
 */
const TOKEN = /(<<|<\/?[A-Za-z0-9-]{1,60}>|\n+)/;

export function enrichedToPlain(enriched: string): string {
  let text = '';
  let nofill = 0;
  let param = 0;
  for (const [index, token] of enriched.split(TOKEN).entries()) {
    // split with a capturing group: odd indices are the separators (commands, `<<`, line breaks).
    if (index % 2 === 0) {
      if (param === 0) text += token;
    } else if (token === '<<') {
      if (param === 0) text += '<';
    } else if (token.startsWith('<')) {
      const closing = token[1] === '/';
      const name = token.slice(closing ? 2 : 1, -1).toLowerCase();
      const depth = closing ? -1 : 1;
      if (name === 'nofill') nofill = Math.max(0, nofill + depth);
      else if (name === 'param') param = Math.max(0, param + depth);
    } else if (param === 0) {
      const breaks = token.length;
      text += nofill > 0 ? '\n'.repeat(breaks) : breaks === 1 ? ' ' : '\n'.repeat(breaks - 1);
    }
  }
  return text;
}
