/**
 * Mail a client sealed: signed (PGP inline or PGP/MIME, S/MIME), encrypted, packed in Outlook's
 * TNEF, or split into fragments (message/partial). A signature is no text and no attachment; what is
 * encrypted, packed or split the relay cannot read, and sending the subject in its place would be a
 * 250 for a text that never reaches the phone.
 */
import { RelayError } from '../errors.ts';
import { type MailAttachment, PGP_SIGNATURE_START as SIGNATURE_START, PGP_SIGNED_MESSAGE as SIGNED_MESSAGE } from './mime.ts';
import type { Removal } from './strip.ts';

/** Detached signature parts (RFC 3156 §5, RFC 8551 §3.5; x- as older Outlook writes it): the sender attached nothing. */
const SIGNATURE_TYPES = new Set(['application/pgp-signature', 'application/pkcs7-signature', 'application/x-pkcs7-signature']);

export function isSignature(attachment: MailAttachment): boolean {
  return SIGNATURE_TYPES.has(attachment.contentType);
}

/** What to send instead, said once for every kind of encryption. */
const SEND_UNENCRYPTED = 'send it unencrypted to this address';

const isSmimeObject = ({ contentType }: MailAttachment) => contentType === 'application/pkcs7-mime' || contentType === 'application/x-pkcs7-mime';

/** S/MIME's smime-type parameter (RFC 8551 §3.2.2), lower-cased: what the CMS object holds; '' when the client wrote none. */
function smimeType(attachment: MailAttachment): string {
  const contentType = attachment.headers?.get('content-type') as { params?: Record<string, string> } | undefined;
  return (contentType?.params?.['smime-type'] ?? '').trim().toLowerCase();
}

/**
 * Parts that hold a mail's whole content in a form the relay cannot read, and why: PGP/MIME's
 * control part (RFC 3156 §4), S/MIME's CMS object (RFC 8551 §3.3: enveloped, or signed with no
 * clear copy), Outlook's rich text packed as winmail.dat (Exchange names it so whatever its type), a
 * fragment of a split mail.
 */
const SEALED_PARTS: ReadonlyArray<{ readonly matches: (attachment: MailAttachment) => boolean; readonly reason: string }> = [
  { matches: ({ contentType }) => contentType === 'application/pgp-encrypted', reason: `it is encrypted (PGP/MIME); ${SEND_UNENCRYPTED}` },
  {
    // Opaque signing wraps the text in the signature, where the relay does not read it; signing it
    // clear (multipart/signed, as most clients offer) keeps a readable copy beside the signature.
    matches: (attachment) => isSmimeObject(attachment) && smimeType(attachment) === 'signed-data',
    reason:
      'it is signed with no readable copy (S/MIME opaque signing, smime.p7m); send it clear-signed to this address (a detached signature, multipart/signed)',
  },
  {
    matches: (attachment) => isSmimeObject(attachment) && /^(?:auth)?enveloped-data$/.test(smimeType(attachment)),
    reason: `it is encrypted (S/MIME, smime.p7m); ${SEND_UNENCRYPTED}`,
  },
  {
    // Without smime-type (older clients omit it) only the CMS content could tell, which the relay does not parse.
    matches: isSmimeObject,
    reason: 'it is encrypted, or signed with no readable copy (S/MIME, smime.p7m); send it unencrypted, or clear-signed (multipart/signed), to this address',
  },
  {
    matches: ({ contentType, filename }) => /^application\/(?:vnd\.)?ms-tnef$/.test(contentType) || filename?.trim().toLowerCase() === 'winmail.dat',
    reason: "it is only in Outlook's rich text format (winmail.dat, TNEF); send it as HTML or plain text",
  },
  {
    // RFC 2046 §5.2.2: one fragment of a mail split in several (Outlook Express's "Break apart messages
    // larger than …"); each fragment alone holds a piece of a part, never the text to send.
    matches: ({ contentType }) => contentType === 'message/partial',
    reason: 'it is one fragment of a mail split into several (message/partial); send it unsplit (turn off the client\'s "break apart messages" setting)',
  },
];

/** An inline PGP message (RFC 4880 §6.2), unquoted: a `>` in front is a quoted one, removed with the quote. */
const PGP_MESSAGE = /^-----BEGIN PGP MESSAGE-----[ \t]*$/m;

/** RFC 4880 §7's lines (SIGNED_MESSAGE and SIGNATURE_START from mime.ts), each alone on its line (trailing blanks allowed). */
const SIGNATURE_END = '-----END PGP SIGNATURE-----';
/** An armor header under the first line (`Hash: SHA256`), up to the empty line before the text. */
const ARMOR_HEADER = /^[A-Za-z][\w-]*: /;
/**
 * RFC 4880 §6.2's armor header keys: where a client put a blank line after every line (HTML with a
 * `<p>` per line, `<pre>` with `<br>`, double-spaced plain text), only these are taken for headers
 * across blank lines, so a text's own first "Note: …" line stays text.
 */
const ARMOR_HEADER_KEY = /^(?:Version|Comment|MessageID|Hash|Charset): /;

/**
 * The text of a mail's chosen body as the sender wrote it: a clear-signed text without its armor
 * and signature, its dash-escaping undone (RFC 4880 §7.1: `- --` is `--`). Refused as unreadable
 * when the content is encrypted or TNEF and no text part stands beside it (`text`, line ends LF,
 * is empty), or when the text is an inline PGP message. `removed`: the armor and signature blocks,
 * for preview to name.
 */
export function unsealedText(text: string, attachments: readonly MailAttachment[]): { text: string; removed: readonly Removal[] } {
  const sealed = text.trim() === '' ? SEALED_PARTS.find(({ matches }) => attachments.some(matches)) : undefined;
  if (sealed) throw new RelayError('UNREADABLE_MAIL', `The mail cannot be read: ${sealed.reason}`);
  if (PGP_MESSAGE.test(text)) throw new RelayError('UNREADABLE_MAIL', `The mail cannot be read: it is encrypted (inline PGP); ${SEND_UNENCRYPTED}`);
  if (!text.includes(SIGNED_MESSAGE)) return { text, removed: [] };
  const removed: Removal[] = [];
  return { text: clearSignedText(text.split('\n'), removed).join('\n'), removed };
}

/**
 * The line after a clear-signed block's armor headers starting at `from`: that is the blank line
 * before the text (RFC 4880 §7). Headers right under each other are read as the RFC writes them;
 * one of its keys past blank lines is a header too, since a client spaced every line.
 */
function armorHeadersEnd(lines: readonly string[], from: number): number {
  let end = from;
  for (;;) {
    while (ARMOR_HEADER.test(lines[end] ?? '')) end++;
    let next = end;
    while (next < lines.length && lines[next]?.trim() === '') next++;
    if (next === end || !ARMOR_HEADER_KEY.test(lines[next] ?? '')) return end;
    end = next;
  }
}

/**
 * Each clear-signed block's text in place of the block; what stands around it stays. Line by line,
 * each line looked at once: a block without its whole signature is left as it is, and so is the rest.
 */
function clearSignedText(lines: readonly string[], removed: Removal[]): string[] {
  const isAt = (index: number, line: string) => lines[index]?.trimEnd() === line;
  const kept: string[] = [];
  let index = 0;
  while (index < lines.length) {
    let text = index + 1;
    if (isAt(index, SIGNED_MESSAGE)) text = armorHeadersEnd(lines, text);
    if (!isAt(index, SIGNED_MESSAGE) || lines[text]?.trim() !== '') {
      kept.push(lines[index++] ?? '');
      continue;
    }
    text++;
    let signature = text;
    while (signature < lines.length && !isAt(signature, SIGNATURE_START)) signature++;
    let end = signature;
    while (end < lines.length && !isAt(end, SIGNATURE_END)) end++;
    if (end === lines.length) return [...kept, ...lines.slice(index)];
    kept.push(...lines.slice(text, signature).map((line) => (line.startsWith('- ') ? line.slice(2) : line)));
    removed.push(
      { reason: 'PGP armor line and its headers (clear-signed text)', first: SIGNED_MESSAGE, lines: text - index },
      { reason: 'PGP signature block', first: SIGNATURE_START, lines: end - signature + 1 },
    );
    index = end + 1;
  }
  return kept;
}
