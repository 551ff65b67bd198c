/** Raw RFC 5322 / MIME as mail clients put it on the wire: CRLF, QP or base64 UTF-8, RFC 2047 headers. */

export interface MailParts {
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly plain?: string | undefined;
  readonly html?: string | undefined;
  /** How the text parts are encoded. */
  readonly transfer: 'quoted-printable' | 'base64' | '8bit';
  /** text/plain with format=flowed (Thunderbird, Apple Mail). */
  readonly flowed?: boolean;
}

const CRLF = '\r\n';

export function buildMail({ headers, plain, html, transfer, flowed }: MailParts, boundarySeed: string): string {
  const head = headers.map(([name, value]) => `${name}: ${encodeHeader(value)}`).join(CRLF);
  const plainPart = plain === undefined ? undefined : part(`text/plain; charset="UTF-8"${flowed ? '; format=flowed' : ''}`, plain, transfer, flowed);
  const htmlPart = html === undefined ? undefined : part('text/html; charset="UTF-8"', html, transfer, false);
  if (plainPart && htmlPart) {
    const boundary = `000000000000${boundarySeed}`;
    return `${head}${CRLF}MIME-Version: 1.0${CRLF}Content-Type: multipart/alternative; boundary="${boundary}"${CRLF}${CRLF}--${boundary}${CRLF}${plainPart}${CRLF}--${boundary}${CRLF}${htmlPart}${CRLF}--${boundary}--${CRLF}`;
  }
  return `${head}${CRLF}MIME-Version: 1.0${CRLF}${plainPart ?? htmlPart ?? ''}`;
}

function part(type: string, body: string, transfer: MailParts['transfer'], flowed: boolean | undefined): string {
  const text = (flowed ? flow(body) : body).replace(/\r?\n/g, CRLF);
  const encoded = transfer === 'base64' ? base64(text) : transfer === 'quoted-printable' ? quotedPrintable(text) : text;
  return `Content-Type: ${type}${CRLF}Content-Transfer-Encoding: ${transfer}${CRLF}${CRLF}${encoded}${CRLF}`;
}

/** RFC 3676: long lines broken after a space that stays at the line end (a soft break). */
function flow(text: string): string {
  return text
    .split('\n')
    .map((line) => {
      if (line.length <= 72 || line.startsWith('>')) return line;
      const out: string[] = [];
      let rest = line;
      while (rest.length > 72) {
        const at = rest.lastIndexOf(' ', 72);
        if (at <= 0) break;
        out.push(rest.slice(0, at + 1));
        rest = rest.slice(at + 1);
      }
      out.push(rest);
      return out.join('\n');
    })
    .join('\n');
}

function base64(text: string): string {
  return (Buffer.from(text, 'utf8').toString('base64').match(/.{1,76}/g) ?? []).join(CRLF);
}

function quotedPrintable(text: string): string {
  return text
    .split(CRLF)
    .map((line) => {
      let encoded = '';
      for (const byte of Buffer.from(line, 'utf8')) {
        const plain = byte >= 33 && byte <= 126 && byte !== 61;
        encoded += plain || byte === 32 ? String.fromCharCode(byte) : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
      }
      if (encoded.endsWith(' ')) encoded = `${encoded.slice(0, -1)}=20`;
      const out: string[] = [];
      while (encoded.length > 75) {
        let cut = 75;
        const escape = encoded.lastIndexOf('=', cut);
        if (escape > cut - 3) cut = escape;
        out.push(`${encoded.slice(0, cut)}=`);
        encoded = encoded.slice(cut);
      }
      out.push(encoded);
      return out.join(CRLF);
    })
    .join(CRLF);
}

/** Non-ASCII header values as one RFC 2047 B-word per 30 characters (as most clients split them). */
function encodeHeader(value: string): string {
  if (/^[\x20-\x7e]*$/.test(value)) return value;
  const address = value.match(/^(.*?)(\s*<[^<>]+>)$/);
  const [text, tail] = address && !/[^\x20-\x7e]/.test(address[2] ?? '') ? [address[1] ?? '', address[2] ?? ''] : [value, ''];
  const chunks = Array.from(text).reduce<string[]>((all, character, index) => {
    if (index % 30 === 0) all.push('');
    all[all.length - 1] += character;
    return all;
  }, []);
  return `${chunks.map((chunk) => `=?UTF-8?B?${Buffer.from(chunk, 'utf8').toString('base64')}?=`).join(`${CRLF} `)}${tail}`;
}

/** Text as HTML: one <div> per line (Gmail, Apple Mail, Yahoo), <div><br></div> for a blank line. */
export function divs(text: string): string {
  return text
    .split('\n')
    .map((line) => (line === '' ? '<div><br></div>' : `<div>${escapeHtml(line)}</div>`))
    .join('\n');
}

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function quote(text: string, prefix = '> '): string {
  return text
    .split('\n')
    .map((line) => (line === '' ? prefix.trimEnd() : `${prefix}${line}`))
    .join('\n');
}
