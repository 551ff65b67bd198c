/**
 * `smsrelay preview < mail.eml`: the acceptance service's text stage on a mail from stdin, run as the
 * real command: what the phone gets, and why each removed block was removed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { relayEnvironment, removeDir, startTestRelay, type TestRelay, tempDir, waitFor } from './helpers/relay.ts';
import { type MailSpec, message, sendMail } from './helpers/smtp.ts';

const BIN = fileURLToPath(new URL('../bin/smsrelay.js', import.meta.url));
const CORPUS = fileURLToPath(new URL('./mail/corpus/tuning/', import.meta.url));
const dirs: string[] = [];
after(() => dirs.forEach(removeDir));

function preview(input: Buffer | string, args: readonly string[] = [], yaml: object = { text: { subject: 'fallback' } }) {
  const cwd = tempDir('smsrelay-preview-');
  dirs.push(cwd);
  return spawnSync(process.execPath, [BIN, 'preview', ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...relayEnvironment(cwd, yaml) },
    input,
    encoding: 'utf8',
    timeout: 30_000,
  });
}

describe('smsrelay preview', () => {
  test('--to at a domain that is not an SMS domain is refused as the relay refuses its RCPT, 550 5.7.1 and exit 65, before its local part is read', () => {
    for (const to of ['447700900123@example.com', 'someone@example.com']) {
      const result = preview('Subject: x\n\nDisk full\n', ['--to', to]);
      assert.equal(result.status, 65, result.stderr);
      assert.match(result.stderr, /^smsrelay: preview: 550 5\.7\.1 Relaying denied: example\.com is not an SMS domain of this relay$/m);
    }
    const bad = preview('Subject: x\n\nDisk full\n', ['--to', 'someone@sms.localhost']);
    assert.equal(bad.status, 65, bad.stderr);
    assert.match(bad.stderr, /^smsrelay: preview: 550 5\.1\.3 Bad recipient: "someone" is not a phone number$/m);
  });

  test('a body past what the text rules read: a note says the rest was not read', () => {
    const result = preview(`Subject: x\n\nDisk full on db1\n\n${'log line of the monitor output\n'.repeat(5_000)}`, [], {
      text: { subject: 'fallback', overLength: 'truncate' },
    });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^note: {7}only the body's first 131072 characters were read: the rest was not sent$/m);
    const whole = preview('Subject: x\n\nDisk full on db1\n');
    assert.doesNotMatch(whole.stdout, /were read/);
  });

  test('removed: lists the text the start and end markers cut, each with its marker', () => {
    const result = preview('Subject: x\n\nheader junk\n[StartOfMessage]\nDisk full\n[EndOfMessage]\nfooter junk\n-- \nsig\n');
    assert.equal(result.status, 0, result.stderr);
    const lines = result.stdout.trim().split('\n');
    assert.equal(lines[0], 'text:       "Disk full"');
    assert.deepEqual(lines.slice(lines.indexOf('removed:') + 1), [
      '  - above the start marker "[StartOfMessage]" (1 line): "header junk"',
      '  - below the end marker "[EndOfMessage]" (3 lines): "footer junk"',
    ]);
  });

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
    assert.equal(lines[6], '  - header block of the mail answered (6 lines): "Von: Ana Silva <ana.silva@example.com>"');
  });

  test('a reply that adds nothing: the refusal it would get, and what was removed (exit 65)', () => {
    const result = preview(readFileSync(`${CORPUS}no-new-text-gmail-web-en-0.eml`));
    assert.equal(result.status, 65);
    assert.match(result.stdout, /^refused: {4}554 5\.6\.0 Not sent as SMS: the reply has no new text above the quoted mail/);
    assert.match(result.stdout, /- reply attribution above the quote \(1 line\): "On Tue, 20 Mar 2026/);
  });

  test("without --from, the envelope sender is the saved mail's Return-Path, as the relay would have had it", () => {
    const yaml = { text: { subject: 'fallback' }, smtp: { hostname: 'relay.example.com' } };
    // A list's copy of a reply mail, saved by the phone's mailbox: the list's bounce address delivered it.
    const copy = (returnPath: string) =>
      `Return-Path: <${returnPath}>\nList-Id: Ops <ops.lists.example>\nX-SMSRelay-Loop: relay.example.com\nMessage-ID: <r1@sms.localhost>\nSubject: Re: x\n\nI can, 10 min\n`;
    const listed = preview(copy('ops-bounces@lists.example'), [], yaml);
    assert.equal(listed.status, 65, listed.stderr);
    // Judged as from the list: without relay data no Message-ID is known as a reply mail's, not "the null sender".
    assert.match(listed.stdout, /^refused: {4}550 5\.7\.1 Not sent as SMS: .* its Message-ID <r1@sms\.localhost> is none of the relay's reply mails$/m);
    assert.match(preview(copy(''), [], yaml).stdout, /it comes from the null sender <>, as no list sends$/m);
    assert.match(preview(copy(''), ['--from', 'ops-bounces@lists.example'], yaml).stdout, /is none of the relay's reply mails$/m);
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

  test('a mail file saved with a UTF-8 byte order mark before its headers (Notepad, PowerShell 5) is previewed by its headers', () => {
    const mail =
      'From: erp@example.com\r\nSubject: Lieferung\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nDie Lieferung f=FCr M=FCller ist versandbereit.\r\n';
    const result = preview(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(mail)]));
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^text: {7}"Die Lieferung für Müller ist versandbereit\."$/m);
  });

  test("names a clear-signed text's PGP armor and signature block among the removed blocks", () => {
    const result = preview(readFileSync(fileURLToPath(new URL('./mail/fixtures/thunderbird-pgp-inline-signed.eml', import.meta.url))));
    assert.equal(result.status, 0, result.stderr);
    const removed = result.stdout.slice(result.stdout.indexOf('removed:')).trim().split('\n');
    assert.deepEqual(removed.slice(1, 3), [
      '  - PGP armor line and its headers (clear-signed text) (3 lines): "-----BEGIN PGP SIGNED MESSAGE-----"',
      '  - PGP signature block (6 lines): "-----BEGIN PGP SIGNATURE-----"',
    ]);
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

/** The same mail through `smsrelay preview` and through a relay of the same configuration over SMTP. */
describe('smsrelay preview agrees with a real send', () => {
  // InteractSMS: one part per SMS, and `¬` is its wire's line break (sent as `~`).
  const yaml = { gateway: { provider: 'interactsms-simulator' }, sms: { domains: ['sms.example.com'], defaultRegion: 'GB' } };
  let relay: TestRelay;
  before(async () => {
    relay = await startTestRelay(yaml);
  });
  after(async () => {
    await relay.stop();
    removeDir(relay.dir);
  });

  async function both(spec: MailSpec) {
    const to = spec.to[0] ?? '';
    const shown = preview(message(spec), ['--to', to], yaml);
    const { data } = await sendMail(relay.relay.smtpPort, spec);
    return { shown, data };
  }

  test("MaxConcat above the relay's limit: the limit applies in both, and both say so", async () => {
    const long = await both({ to: ['447700900171@sms.example.com'], subject: 'Disk full MaxConcat:9', body: 'x'.repeat(200) });
    assert.equal(long.data?.code, 554);
    assert.equal(long.shown.status, 65);
    assert.equal(long.shown.stdout.split('\n')[0], `refused:    554 ${long.data?.text}`);
    const short = await both({ to: ['447700900172@sms.example.com'], subject: 'Disk full MaxConcat:9', body: 'Disk full' });
    assert.equal(short.data?.code, 250, short.data?.text);
    assert.match(short.data?.text ?? '', /\(the mail asked for at most 9 parts; this relay sends at most 1, so that limit applies\)$/);
    assert.equal(short.shown.status, 0, short.shown.stderr);
    assert.match(short.shown.stdout, /^note: {7}the mail asked for at most 9 parts; this relay sends at most 1, so that limit applies$/m);
  });

  test("a character the provider cannot carry: the preview shows the stand-in the phone gets, and the 250's note", async () => {
    const { shown, data } = await both({ to: ['447700900173@sms.example.com'], body: 'Valve \u00acopen' });
    assert.equal(data?.code, 250, data?.text);
    const simulator = relay.relay.simulator;
    assert.ok(simulator);
    const record = await waitFor('the SMS', () => simulator.records.find((entry) => entry.to === '447700900173'));
    assert.equal(shown.status, 0, shown.stderr);
    assert.match(shown.stdout, new RegExp(`^text: {7}${JSON.stringify(record.text)}$`, 'm'));
    assert.match(shown.stdout, /^note: {7}"\u00ac" sent as "~": the SMS provider cannot carry it$/m);
  });
});
