import { convert, type HtmlToTextOptions } from 'html-to-text';
import { RelayError } from '../errors.ts';

/**
 * Where Outlook (desktop and web) starts the copy of the mail replied to. Outlook always writes
 * above it, so the HTML is cut there; the copy is no element of its own that could be skipped.
 */
const OUTLOOK_REPLY_HEADER = /<(?:div|hr)\b[^>]*\bid=["']?(?:appendonsend|divRplyFwdMsg|stopSpelling)\b|<div\b[^>]*\bclass=["']?OutlookMessageHeader\b/i;

/** Elements that hold quoted history or signatures in the HTML of common clients. */
const QUOTE_AND_SIGNATURE_ELEMENTS = [
  'div.gmail_quote',
  'div.gmail_signature',
  'blockquote[type=cite]',
  '.moz-cite-prefix',
  '.moz-signature',
  'div.yahoo_quoted',
  'blockquote.protonmail_quote',
];

const OPTIONS: HtmlToTextOptions = {
  wordwrap: false,
  selectors: [
    { selector: 'a', options: { ignoreHref: true } },
    // Tracking pixels, logos and their alt texts are nothing a phone should show.
    { selector: 'img', format: 'skip' },
    ...['h1', 'h2', 'h3', 'h4', 'h5', 'h6'].map((selector) => ({ selector, options: { uppercase: false } })),
    { selector: 'ul', options: { itemPrefix: '- ' } },
    { selector: 'ol', format: 'unorderedList', options: { itemPrefix: '- ' } },
    { selector: 'table', format: 'dataTable', options: { uppercaseHeaderCells: false, colSpacing: 1, maxColumnWidth: Number.MAX_SAFE_INTEGER } },
    ...QUOTE_AND_SIGNATURE_ELEMENTS.map((selector) => ({ selector, format: 'skip' })),
  ],
};

/**
 * The visible text of an HTML body, without the quoted mail and signature blocks clients mark. HTML
 * nested thousands of levels deep overflows html-to-text's recursion: that mail can never be read,
 * so it is refused for good (554), not deferred as a local problem.
 */
export function htmlToText(html: string): string {
  const reply = html.search(OUTLOOK_REPLY_HEADER);
  try {
    return convert(reply >= 0 ? html.slice(0, reply) : html, OPTIONS);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    throw new RelayError('UNREADABLE_MAIL', 'The mail cannot be read: its HTML is nested too deeply; send it as plain text');
  }
}
