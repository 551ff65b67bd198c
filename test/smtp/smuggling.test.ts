import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DataScanner, type SmugglingFinding } from '../../src/smtp/smuggling.ts';

const HEAD = 'From: alice@example.com\r\nTo: 447700900123@sms.localhost\r\nSubject: test\r\n\r\n';

function mail(body: string): Buffer {
  return Buffer.from(`${HEAD}${body}`, 'latin1');
}

/** A whole message in one write. */
function scan(raw: Uint8Array): SmugglingFinding | undefined {
  return new DataScanner().write(raw).end();
}

/** The finding as a plain `offset sequence` string, for compact comparisons. */
function summary(finding: SmugglingFinding | undefined): string | undefined {
  return finding && `${finding.offset} ${finding.sequence}`;
}

/** Scans `raw` cut at the given offsets. */
function scanSplit(raw: Buffer, cuts: readonly number[]): SmugglingFinding | undefined {
  const scanner = new DataScanner();
  let from = 0;
  for (const cut of [...cuts, raw.length]) {
    scanner.write(raw.subarray(from, cut));
    from = cut;
  }
  return scanner.end();
}

/**
 * The finding by a deliberately naive definition (look at each byte and its neighbours), to check
 * the state machine against.
 */
function reference(raw: Buffer): string | undefined {
  const at = (index: number) => (index >= 0 && index < raw.length ? raw[index] : -1);
  const ending = (index: number) => (index < 0 ? 'start' : at(index) === 0x0a ? (at(index - 1) === 0x0d ? 'crlf' : 'lf') : 'cr');
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] !== 0x2e) continue;
    if (i > 0 && at(i - 1) !== 0x0a && at(i - 1) !== 0x0d) continue;
    const before = ending(i - 1);
    const after = at(i + 1) === 0x0a ? 'lf' : at(i + 1) === 0x0d ? (at(i + 2) === 0x0a ? 'crlf' : 'cr') : undefined;
    if (!after) continue;
    if (before === 'lf' || before === 'cr' || after === 'lf' || after === 'cr') {
      const spell = (what: string) => ({ start: '', crlf: '<CR><LF>', lf: '<LF>', cr: '<CR>' })[what];
      return `${i} ${spell(before)}.${spell(after)}`;
    }
  }
  return undefined;
}

describe('SMTP smuggling in the DATA stream', () => {
  test('a clean message, or one with bare line endings but no lone dot, has no finding', () => {
    assert.equal(scan(mail('Disk full on db1.\r\nRegards\r\n')), undefined);
    assert.equal(scan(Buffer.from('ok\r\nunix line\nold mac\rnul:\0 again\0\n')), undefined);
    assert.equal(scan(Buffer.alloc(0)), undefined);
  });

  test('a line holding only a dot between proper CR LF is content (a stuffed ".." from the client), not smuggling', () => {
    assert.equal(scan(mail('before\r\n.\r\nafter\r\n')), undefined);
    assert.equal(scan(Buffer.from('.\r\nfirst line was a dot\r\n')), undefined, 'a dot line at the very start');
    assert.equal(scan(mail('..\r\n.x\r\n...\r\n')), undefined, 'lines that start with a dot but are not a lone dot');
  });

  test('the example reason names the sequence and the offset of the dot', () => {
    const raw = mail('first\nsecond\n.\r\nMAIL FROM:<evil@example.com>\r\n');
    const dot = raw.indexOf('\n.\r\n') + 1;
    const smuggling = scan(raw);
    assert.equal(smuggling?.reason, `bare LF before a dot at byte ${dot}: a smuggled end of data (<LF>.<CR><LF>)`);
    assert.equal(smuggling?.offset, dot);
  });

  const SMUGGLED: ReadonlyArray<{ bytes: string; sequence: string; reason: string }> = [
    { bytes: '\n.\r\n', sequence: '<LF>.<CR><LF>', reason: 'bare LF before a dot' },
    { bytes: '\r\n.\n', sequence: '<CR><LF>.<LF>', reason: 'bare LF after a dot' },
    { bytes: '\n.\n', sequence: '<LF>.<LF>', reason: 'bare LF before and after a dot' },
    { bytes: '\r.\r\n', sequence: '<CR>.<CR><LF>', reason: 'bare CR before a dot' },
    { bytes: '\r\n.\rX', sequence: '<CR><LF>.<CR>', reason: 'bare CR after a dot' },
    { bytes: '\r.\rX', sequence: '<CR>.<CR>', reason: 'bare CR before and after a dot' },
    { bytes: '\n.\rX', sequence: '<LF>.<CR>', reason: 'bare LF before and bare CR after a dot' },
    { bytes: '\r.\n', sequence: '<CR>.<LF>', reason: 'bare CR before and bare LF after a dot' },
  ];

  for (const { bytes, sequence, reason } of SMUGGLED) {
    test(`${JSON.stringify(bytes)} is a smuggled end of data: ${reason}`, () => {
      const raw = mail(`line one\r\nline two${bytes}RCPT TO:<victim@example.com>\r\n`);
      const dot = raw.indexOf('.', HEAD.length + 10);
      const smuggling = scan(raw);
      assert.equal(smuggling?.sequence, sequence);
      assert.equal(smuggling?.offset, dot);
      assert.equal(smuggling?.reason, `${reason} at byte ${dot}: a smuggled end of data (${sequence})`);
    });
  }

  test('a lone dot at the very start of the data with a bare ending is smuggling too', () => {
    assert.equal(scan(Buffer.from('.\nMAIL FROM:<x@example.com>\r\n'))?.reason, 'bare LF after a dot at byte 0: a smuggled end of data (.<LF>)');
    assert.equal(scan(Buffer.from('.\rX\r\n'))?.sequence, '.<CR>');
  });

  test('a dot and CR at the very end of the stream are judged at end()', () => {
    assert.equal(new DataScanner().write(Buffer.from('x\n.\r')).end()?.sequence, '<LF>.<CR>');
    assert.equal(new DataScanner().write(Buffer.from('x\r\n.\r')).end()?.sequence, '<CR><LF>.<CR>');
    assert.equal(new DataScanner().write(Buffer.from('abc\r')).end(), undefined);
  });

  test('sequences split at every possible chunk boundary are still caught', () => {
    const cases = [...SMUGGLED.map(({ bytes }) => `hello${bytes}world\r\n`), 'a\r\n.\r\nb\r\n', '\0x\r\r\n..\n', '.\n', 'a\r'];
    for (const text of cases) {
      const raw = Buffer.from(text, 'latin1');
      const whole = summary(scan(raw));
      assert.equal(whole, reference(raw), `reference: ${JSON.stringify(text)}`);
      for (let cut = 0; cut <= raw.length; cut++) {
        assert.deepEqual(summary(scanSplit(raw, [cut])), whole, `${JSON.stringify(text)} cut at ${cut}`);
        for (let second = cut; second <= raw.length; second++) {
          assert.deepEqual(summary(scanSplit(raw, [cut, second])), whole, `${JSON.stringify(text)} cut at ${cut} and ${second}`);
        }
      }
      const byteByByte = Array.from({ length: raw.length }, (_, index) => index);
      assert.deepEqual(summary(scanSplit(raw, byteByByte)), whole, `${JSON.stringify(text)} one byte at a time`);
    }
  });

  test('random buffers of CR, LF, dots and NUL: whole, chunked and the naive reference agree', () => {
    // mulberry32, seed 0x5eed
    let seed = 0x5eed;
    const random = () => {
      seed = (seed + 0x6d2b79f5) >>> 0;
      let t = seed;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const alphabet = [0x0d, 0x0a, 0x2e, 0x2e, 0x61, 0x00, 0x0d, 0x0a];
    for (let round = 0; round < 5000; round++) {
      const raw = Buffer.from(Array.from({ length: Math.floor(random() * 12) }, () => alphabet[Math.floor(random() * alphabet.length)] ?? 0x61));
      const whole = summary(scan(raw));
      assert.equal(whole, reference(raw), `reference: ${JSON.stringify(raw.toString('latin1'))}`);
      const cuts = [Math.floor(random() * (raw.length + 1)), Math.floor(random() * (raw.length + 1))].sort((a, b) => a - b);
      assert.deepEqual(summary(scanSplit(raw, cuts)), whole, `${JSON.stringify(raw.toString('latin1'))} cut at ${cuts.join(',')}`);
    }
  });

  test('offsets count across chunks', () => {
    const scanner = new DataScanner();
    scanner.write(Buffer.from('0123456789\r\n'));
    scanner.write(Buffer.from('abc\n'));
    scanner.write(Buffer.from('.'));
    scanner.write(Buffer.from('\r'));
    scanner.write(Buffer.from('\nrest\0'));
    assert.equal(summary(scanner.end()), '16 <LF>.<CR><LF>');
    assert.throws(() => scanner.write(Buffer.from('x')), /after end/);
  });

  test('a clean 10 MB message is scanned whole and in 64 KiB chunks, and a smuggled dot at its end is found', () => {
    const line = 'The quick brown fox jumps over the lazy dog. 0123456789 äöü\r\n';
    const lines = Math.ceil((10 * 1024 * 1024) / Buffer.byteLength(line));
    const body = Buffer.from(`${HEAD}${line.repeat(lines)}.\r\n.leading dot\r\n`, 'utf8');
    assert.ok(body.length >= 10 * 1024 * 1024);
    assert.equal(scan(body), undefined);
    const scanner = new DataScanner();
    for (let from = 0; from < body.length; from += 65_536) scanner.write(body.subarray(from, from + 65_536));
    assert.equal(scanner.end(), undefined);

    const smuggled = Buffer.concat([body, Buffer.from('last\n.\r\nDATA\r\n')]);
    assert.equal(scan(smuggled)?.offset, body.length + 5);

    const unixLines = Buffer.from(line.replaceAll('\r\n', '\n').repeat(lines));
    assert.equal(scan(unixLines), undefined);
    const oneLongLine = Buffer.alloc(10 * 1024 * 1024, 0x61);
    assert.equal(scan(oneLongLine), undefined);
    const allCr = Buffer.alloc(1024 * 1024, 0x0d);
    assert.equal(scan(allCr), undefined);
  });
});
