import { encode as base64Encode, wrap as base64Wrap } from 'nodemailer/lib/base64';
import MimeNode from 'nodemailer/lib/mime-node';
import { encode as qpEncode, wrap as qpWrap } from 'nodemailer/lib/qp';

/** nodemailer's body line length for quoted-printable and base64. */
const ENCODED_LINE_LENGTH = 76;

/**
 * A one-part node has no boundary, so the random part nodemailer draws for one (crypto.randomBytes,
 * a tenth of a reply mail's build) is given instead: it never reaches the mail's bytes.
 */
const NO_BOUNDARY = 'one-part';
/** Header names as nodemailer writes them: the relay's code names the headers, so this stays a few entries. */
const headerNames = new Map<string, string>();
const nodemailerHeaderName = (MimeNode.prototype as unknown as { _normalizeHeaderKey(key: string): string })._normalizeHeaderKey;

/**
 * nodemailer's node for a one-part text mail, with its header names' spelling remembered: it runs
 * three regular expressions per header name each time it sets, reads or writes a header, a sixth of
 * a reply mail's build (#15). Same bytes (`test/mailer/text-mail.test.ts`).
 */
class TextNode extends MimeNode {
  _normalizeHeaderKey(key: string): string {
    let name = headerNames.get(key);
    if (name === undefined) {
      name = nodemailerHeaderName.call(this, key);
      headerNames.set(key, name);
    }
    return name;
  }
}

/** A node for `buildTextMail`: `text/plain; charset=utf-8`, CRLF line ends, Message-IDs under `hostname`. */
export function textNode(hostname: string): MimeNode {
  return new TextNode('text/plain; charset=utf-8', { hostname, newline: 'windows', baseBoundary: NO_BOUNDARY });
}

/**
 * What nodemailer's `build()` makes of a one-part text node created with `newline: 'windows'`, in one
 * synchronous step: the same header block (`buildHeaders`, which also picks the transfer encoding),
 * the body through nodemailer's own encoders, a final line break (its LastNewline) and CRLF line ends
 * (its LeWindows). `build()` streams through a pipeline per mail (a PassThrough, transforms, an
 * AbortController and the DOMException it raises at the end): about a fifth of a reply mail's CPU.
 * `test/mailer/text-mail.test.ts` holds the bytes to `build()`'s.
 */
export function buildTextMail(root: MimeNode, content: string): Buffer {
  root.setContent(content);
  const headers = root.buildHeaders();
  const encoding = root.getTransferEncoding();
  const body =
    encoding === 'quoted-printable'
      ? qpWrap(qpEncode(Buffer.from(content)), ENCODED_LINE_LENGTH)
      : encoding === 'base64'
        ? base64Wrap(base64Encode(Buffer.from(content)), ENCODED_LINE_LENGTH)
        : content;
  const message = `${headers}\r\n\r\n${body}`;
  const ended = message.endsWith('\n') ? message : message.endsWith('\r') ? `${message}\n` : `${message}\r\n`;
  return Buffer.from(ended.replace(/\r?\n/g, '\r\n'));
}
