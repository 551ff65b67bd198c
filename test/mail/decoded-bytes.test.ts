/**
 * Decoding a part's bytes, from a review of the decoding bounds: unlabelled ISO-2022 escapes beside terminal codes, a
 * multipart whose last line opens a part, a cut of the bytes told to the sender, and where that cut falls.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configSchema } from '../../src/config/schema.ts';
import { extractRequest, parseMail } from '../../src/mail/extract.ts';
import { textPolicyFor } from '../../src/mail/policy.ts';
const POLICY = textPolicyFor(configSchema.shape.text.parse(undefined), 'sender@example.com');
const hdr = 'From: x@example.com\r\nTo: 447700900123@sms.example.com\r\nSubject: Rechnung\r\n';
const sms = async (raw: string) => extractRequest(await parseMail(Buffer.from(raw, 'latin1')), POLICY, false).text;

test('1: ANSI colour codes beside unlabelled JIS keep being removed whole', async () => {
  // An ESC that is not ISO-2022-JP's own leaves the text to the ASCII rules, which remove escape sequences whole, the
  // designations too (as a terminal draws them); read as JIS, the decoder ate ESC [ 3 and left "1m", "m" (and "K" of ESC [ K).
  assert.equal(await sms(`${hdr}\r\n\x1b[31mERROR\x1b[0m \x1b$B%]%s%W\x1b(B\r\n`), 'ERROR %]%s%W');
  assert.equal(await sms(`${hdr}\r\n50%\x1b[K\r100%\x1b[K \x1b$B%]%s%W\x1b(J\r\n`), '50%\n100% %]%s%W');
  // Its own escapes alone (back to ASCII or to JIS-Roman, katakana, JIS X 0212) keep it read as JIS, KR's as KR.
  assert.equal(await sms(`${hdr}\r\nERROR \x1b$B%]%s%W\x1b(J ok \x1b$@%]\x1b(B\r\n`), 'ERROR ポンプ ok ポ');
  assert.equal(await sms(`${hdr}\r\n\x1b$)C\x0e0!\x0f pump\r\n`), '가 pump');
});

test('2: PHP MIME whose last line is an opening delimiter (--b, no --) keeps Latin-1', async () => {
  const raw = `${hdr}MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="P"\r\n\r\n--P\r\nContent-Type: text/plain\r\n\r\nRechnung f\xfcr M\xfcller\r\n--P\r\nContent-Type: application/pdf; name="r.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--P\r\n`;
  assert.equal(await sms(raw), 'Rechnung für Müller'); // branch: "Rechnung f�r M�ller"
});

test('3: text beyond the decoded byte bound is not dropped silently', async () => {
  // Only the first 8 bytes a character read are decoded (1 MiB of a text part): shift bytes with no text
  // between them fill them, so the text after is cut; the sender is told, as a text past MAX_READ_CHARS.
  const raw = `${hdr}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-2022-kr\r\n\r\n\x1b$)C${'\x0e\x0f'.repeat(600_000)}\r\nIMPORTANT: pump 3 down\r\n`;
  const request = extractRequest(await parseMail(Buffer.from(raw, 'latin1')), POLICY, false);
  assert.equal(request.unread, true);
  // Left to simpleParser (an attached message), a labelled part cut by its charset decoder is told too.
  const left = `${hdr}MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=iso-2022-kr\r\n\r\n\x1b$)C${'\x0e\x0f'.repeat(1_100_000)}\r\nIMPORTANT\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: x\r\n\r\ny\r\n--b--\r\n`;
  assert.equal(extractRequest(await parseMail(Buffer.from(left, 'latin1')), POLICY, false).unread, true);
  // A body within the bound is read whole: nothing is said.
  const whole = `${hdr}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-2022-kr\r\n\r\n\x1b$)C${'\x0e\x0f'.repeat(1_000)}\r\nIMPORTANT\r\n`;
  assert.equal(extractRequest(await parseMail(Buffer.from(whole, 'latin1')), POLICY, false).unread, undefined);
});

test('4: the bytes are cut where no character or shift is split: a line break, else a UTF-8 character start', async () => {
  const text = async (body: string, type = '') => (await sms(`${hdr}${type}\r\n${body}`)).slice(0, 6);
  // 7-bit JIS, no label: cut within a kanji's pair, its decode is unclean and the whole text is read as ASCII.
  const jisLine = `\x1b$B${'%]%s%W'.repeat(21)}\x1b(B\r\n`;
  assert.equal(await text(jisLine.repeat(Math.ceil((1.1 * 1024 * 1024) / jisLine.length))), 'ポンプポンプ');
  // UTF-8 labelled Latin-1 (read as UTF-8 where it is UTF-8), no line break: cut within a character, it is no UTF-8 and reads as Latin-1 (`Ã©`).
  const utf8 = Buffer.from(`a${'é'.repeat(600_000)}`).toString('latin1');
  assert.equal(await text(utf8, 'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\n'), 'aééééé');
});
