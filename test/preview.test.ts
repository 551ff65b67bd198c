/**
 * `smsrelay preview < mail.eml`: the acceptance service's text stage on a mail from stdin, run as the
 * real command: what the phone gets, and why each removed block was removed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { relayEnvironment, removeDir, tempDir } from './helpers/relay.ts';

const BIN = fileURLToPath(new URL('../bin/smsrelay.js', import.meta.url));
const CORPUS = fileURLToPath(new URL('./mail/corpus/tuning/', import.meta.url));
const dirs: string[] = [];
after(() => dirs.forEach(removeDir));

function preview(input: Buffer | string, args: readonly string[] = []) {
  const cwd = tempDir('smsrelay-preview-');
  dirs.push(cwd);
  return spawnSync(process.execPath, [BIN, 'preview', ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...relayEnvironment(cwd, { text: { subject: 'fallback' } }) },
    input,
    encoding: 'utf8',
    timeout: 30_000,
  });
}

describe('smsrelay preview', () => {
  test('prints the text, its encoding and parts, the parameters, and each removed block with its reason', () => {
    const result = preview(readFileSync(`${CORPUS}reply-outlook-web-de-5.eml`), ['--to', '447700900123@sms.localhost']);
    assert.equal(result.status, 0, result.stderr);
    const lines = result.stdout.trim().split('\n');
    assert.equal(lines[0], 'text:       "Kannst du Oma um drei vom Arzt abholen?"');
    assert.equal(lines[1], 'encoding:   gsm7, 1 part');
    assert.match(lines[2] ?? '', /^parameters: userContext=- senderId=- maxParts=-$/);
    assert.equal(lines[3], 'thread:     skipped (no store here, or no --to number)');
    assert.equal(lines[4], 'removed:');
    assert.match(lines[5] ?? '', /^ {2}- rule line beside the quote \(1 line\): "_{32}"$/);
    assert.equal(lines[6], '  - header block of the mail answered (8 lines): "Von: Ana Silva <ana.silva@example.com>"');
  });

  test('a reply that adds nothing: the refusal it would get, and what was removed (exit 65)', () => {
    const result = preview(readFileSync(`${CORPUS}no-new-text-gmail-web-en-0.eml`));
    assert.equal(result.status, 65);
    assert.match(result.stdout, /^refused: {4}554 5\.6\.0 Not sent as SMS: the reply has no new text above the quoted mail/);
    assert.match(result.stdout, /- reply attribution above the quote \(1 line\): "On Tue, 20 Mar 2026/);
  });

  test('says which attachments the SMS leaves out', () => {
    const mail = [
      'From: alice@example.com',
      'Subject: Report',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b"',
      '',
      '--b',
      'Content-Type: text/plain',
      '',
      'Report attached',
      '--b',
      'Content-Type: application/pdf; name="report.pdf"',
      'Content-Disposition: attachment; filename="report.pdf"',
      'Content-Transfer-Encoding: base64',
      '',
      'JVBERi0xLjQ=',
      '--b--',
      '',
    ].join('\r\n');
    const result = preview(mail);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^text: {7}"Report attached"$/m);
    assert.match(result.stdout, /^attachments: the attachment "report\.pdf" is not sent: an SMS carries text only$/m);
  });

  test('input without header fields is previewed as SMTP takes it: all body, as Postfix reads it', () => {
    const result = preview('Pump 3 failure\nPressure: low\n');
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^text: {7}"Pump 3 failure\\nPressure: low"$/m);
  });

  test('names the characters that made the SMS UCS-2, and none for a GSM-7 one', () => {
    const mail = (body: string) => `From: alice@example.com\nSubject: s\nContent-Type: text/plain; charset=utf-8\n\n${body}\n`;
    const ucs2 = preview(mail('Temp 20\u00b0C \u201cok\u201d \u00e7a \u00e7a \u2060'));
    assert.equal(ucs2.status, 0, ucs2.stderr);
    assert.match(ucs2.stdout, /^encoding: {3}ucs2, 1 part; not in GSM-7: U\+00B0 \u00b0, U\+00E7 \u00e7$/m);
    const gsm7 = preview(mail('Temp 20 C \u201cok\u201d \u2060'));
    assert.match(gsm7.stdout, /^encoding: {3}gsm7, 1 part$/m);
  });
});
