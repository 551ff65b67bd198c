import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cutEchoes, echoNeedles, MIN_REDACTED_CHARS } from '../../src/dispatch/echoes.ts';
import { finishes } from '../helpers/finishes.ts';
import { linearly, workOf } from '../helpers/work-count.ts';

const cut = (said: string, ...values: string[]) => cutEchoes(said, echoNeedles(values), '***');

describe("a value in a gateway's echo, in its language's escaping", () => {
  const secret = "kQ9/vX2+Lä'm 😀";
  const forms: Array<[string, string]> = [
    ['as written', secret],
    ['JSON, JavaScript', JSON.stringify(secret).slice(1, -1)],
    ['JSON, PHP (\\/ and \\u, lower hex, surrogate pair)', "kQ9\\/vX2+L\\u00e4'm \\ud83d\\ude00"],
    ['JSON, upper hex', "kQ9/vX2+L\\u00E4'm \\uD83D\\uDE00"],
    ['RFC 3986, upper hex', 'kQ9%2FvX2%2BL%C3%A4%27m%20%F0%9F%98%80'],
    ['RFC 3986, lower hex', 'kQ9%2fvX2%2bL%c3%a4%27m%20%f0%9f%98%80'],
    ['form encoding', 'kQ9%2FvX2%2BL%C3%A4%27m+%F0%9F%98%80'],
    ['Latin-1 percent-encoding', 'kQ9%2FvX2%2BL%E4%27m+%F0%9F%98%80'],
    ["JavaScript's escape()", 'kQ9/vX2+L%u00E4%27m%20%uD83D%uDE00'],
    ['XML, decimal', 'kQ9/vX2+L&#228;&#39;m &#128512;'],
    ['XML, hex and named', 'kQ9/vX2+L&#xE4;&apos;m &#x1F600;'],
    ['HTML, numeric without ;, a named Latin-1 letter, a no-break space', 'kQ9/vX2+L&auml;&#39m&nbsp;&#128512'],
    ["Python's bytes (\\x, UTF-8)", "kQ9/vX2+L\\xc3\\xa4'm \\xf0\\x9f\\x98\\x80"],
    ["Python's str (\\x, \\U)", "kQ9/vX2+L\\xe4'm \\U0001F600"],
    ['percent-encoded twice', 'kQ9%252FvX2%252BL%25C3%25A4%2527m%2520%25F0%259F%2598%2580'],
    ['XML-escaped JSON', 'kQ9\\/vX2+L\\u00e4&#039;m \\ud83d\\ude00'],
    ['form-encoded PHP JSON', 'kQ9%5C%2FvX2%2BL%5Cu00e4%27m+%5Cud83d%5Cude00'],
    ['uppercased, the space a line end', "KQ9/VX2+LÄ'M\n😀"],
  ];
  for (const [name, form] of forms) {
    test(`${name}: cut, the words around it kept`, () => {
      assert.equal(cut(`auth failed for "${form}" & more`, secret), 'auth failed for "***" & more');
    });
  }

  test('words of exactly MIN_REDACTED_CHARS characters are searched: the whole value, or the start of a longer one; shorter words are left', () => {
    assert.equal(cut('abcd', 'abcd'), '***');
    assert.equal(cut('abcd', 'abcdefgh'), '***');
    assert.equal(cut('abc', 'abcdefgh'), 'abc');
  });

  test('a value holding an escape of its own is cut as written too', () => {
    assert.equal(cut('pw=ab%41cd; again: ab%2541cd', 'ab%41cd'), 'pw=***; again: ***');
  });

  test('the start of a value where a long answer was cut, in the middle of an escape too', () => {
    assert.equal(cut('failed for kQ9\\/vX2+L\\u00', secret), 'failed for ***');
    assert.equal(cut('failed for kQ9%2FvX2%2BL%C', secret), 'failed for ***');
    assert.equal(cut('failed for kQ9%2FvX2%2', secret), 'failed for ***');
    assert.equal(cut('failed for kQ9%2', secret), 'failed for kQ9%2', 'fewer than 4 characters of it are left alone');
  });

  test('a query string in the words is no run of character references: the value around it is found', () => {
    // Read as a page's text, `&region=` was `®ion=`, `&notify` `¬ify`, `&times7` `×7`, in the same pass as the JSON escapes.
    const track = 'Track https://x.example/t?id=42&region=eu';
    assert.equal(cut('Invalid request: {"text":"Track https:\\/\\/x.example\\/t?id=42&region=eu"}', track), 'Invalid request: {"text":"***"}');
    assert.equal(cut('bad: {"text": "Zahlung f\\u00fcr Sie&notify=1 best\\u00e4tigt"}', 'Zahlung für Sie&notify=1 bestätigt'), 'bad: {"text": "***"}');
    assert.equal(cut('auth failed: {"password":"Xk9\\/q&times7Lw"}', 'Xk9/q&times7Lw'), 'auth failed: {"password":"***"}');
    assert.equal(cut('a page: &eacute;t&eacute &copy 2024', 'été ©'), 'a page: *** 2024', 'references without their ; are still read where no letter follows');
  });

  test("a value's own escape undone in the same pass as the gateway's is found", () => {
    // `p&amp;ss/w%41rd` is `p&ss/wArd` once read: the gateway's `&amp;` and the secret's own `%41` go in one layer.
    assert.equal(cut('auth failed for p&amp;ss/w%41rd+1 &quot;x&quot;', 'p&ss/w%41rd+1 "x"'), 'auth failed for ***');
    assert.equal(cut('failed for p%26ss%2', 'p&ss/w%41rd'), 'failed for ***', 'its start at a cut too');
  });

  test('a & and a word where a long answer was cut is the start of a value, unless a reference may begin there', () => {
    assert.equal(cut('auth failed for user=erp&pass=x&Secret202', 'x&Secret2024!'), 'auth failed for user=erp&pass=***');
    assert.equal(cut('auth failed for x&Sc', 'x&Scary2024!'), 'auth failed for ***', '&Sc may start &Scaron;, and is the secret as written');
    assert.equal(cut('failed for Cr&egrave;m&eacu', 'Crème brûlée'), 'failed for ***');
  });

  test('a numeric reference past Unicode, of hundreds of digits, is read as U+FFFD, and cuts no less', () => {
    for (const huge of [`&#${'9'.repeat(309)}`, `&#${'9'.repeat(309)};`, `&#x${'f'.repeat(256)}`, `&#x${'f'.repeat(300)}; x`]) {
      assert.equal(cut(`said ${huge} kQ9/vX2`, 'kQ9/vX2'), `said ${huge} ***`);
    }
  });

  test('words holding escapes but not the value are left as they came; shorter values are not cut', () => {
    const said = 'ERR 100%25 & &amp; \\u0041 \\N \\Uffffffff %zz &#xZZ; &copy kQ9/ abc';
    assert.equal(cut(said, secret, 'abc'), said);
  });

  /**
   * Each character of a value as an escaping writes it, so that the answer can be cut between any two
   * of the escapes' characters: at every cut, the characters whole before it are known.
   */
  const escapings: Array<[string, (character: string) => string]> = [
    ['RFC 3986', (c) => encodeURIComponent(c)],
    ['percent-encoded twice', (c) => encodeURIComponent(encodeURIComponent(c))],
    ['JSON', (c) => [...c].map((unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')],
    ["Python's bytes", (c) => [...Buffer.from(c, 'utf8')].map((byte) => `\\x${byte.toString(16)}`).join('')],
    ['HTML, decimal', (c) => `&#${c.codePointAt(0)};`],
    ['HTML inside XML', (c) => `&amp;#x${(c.codePointAt(0) as number).toString(16)};`],
    ['percent-encoded JSON', (c) => encodeURIComponent(`\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)],
  ];
  const values: Array<[string, string]> = [
    ['Cyrillic text', 'Привет, мир: код 4821'],
    ['accented Latin text', 'Crème brûlée à Zürich'],
    ['a secret of mixed scripts', "kQ9/ä'Łm€Ω"],
  ];
  for (const [what, value] of values) {
    test(`${what} cut anywhere in its escapes: none of its start is shown at any cut`, () => {
      for (const [escaping, written] of escapings) {
        const characters = [...value].map(written);
        const form = characters.join('');
        const ends = characters.map((_, index) => characters.slice(0, index + 1).join('').length);
        for (let at = 1; at <= form.length; at++) {
          const said = `failed for ${form.slice(0, at)}`;
          const whole = ends.filter((end) => end <= at).length;
          const expected = whole >= MIN_REDACTED_CHARS ? 'failed for ***' : said;
          assert.equal(cut(said, value), expected, `${escaping}, cut after ${JSON.stringify(form.slice(0, at))}`);
        }
      }
    });
  }

  test('a value that repeats itself in a long answer that repeats it too is found in one pass', () => {
    // Searching again one unit after each match compared the whole value at every unit of the run
    // (64 KB of `a` with a 17,000-character value: over a second; the run below: minutes), and a
    // string search's own worst case (`a…ab a…a` in a run of `a`) does much the same.
    const out = finishes(`
      import { cutEchoes, echoNeedles } from './src/dispatch/echoes.ts';
      const runs = cutEchoes('x ' + 'ab'.repeat(300_000) + ' y', echoNeedles(['ab'.repeat(30_000)]), '***');
      const aaaa = cutEchoes('a'.repeat(65_536), echoNeedles(['a'.repeat(17_000)]), '***');
      const near = 'a'.repeat(16_000) + 'b' + 'a'.repeat(16_000);
      const missed = cutEchoes('a'.repeat(131_072) + '.', echoNeedles([near]), '***');
      process.stdout.write(JSON.stringify({ runs, aaaa, missed: missed.length }));
    `);
    const { runs, aaaa, missed } = JSON.parse(out) as { runs: string; aaaa: string; missed: number };
    assert.equal(runs, 'x *** y', 'the whole run cut, overlapping matches as one');
    assert.equal(aaaa, '***');
    assert.equal(missed, 131_073, 'a value that is not there cuts nothing');
    // Counted, not timed: the answer and the value four times as long, the work four times, not sixteen.
    const search = (answer: string, value: string) => (length: number) =>
      workOf(() => cutEchoes(answer.repeat(length), echoNeedles([value.repeat(length / 10)]), '***')).work;
    linearly(search('ab', 'ab'), 2_000);
    linearly(search('a', 'a'), 4_000);
  });

  test('overlapping matches that are not a period apart are cut as one', () => {
    assert.equal(cut('<aabaabaa aabaaabaa>', 'aabaa'), '<*** ***>');
  });

  test('one pass per layer: a long answer full of escapes is read with work that grows as it does', () => {
    // Counted, not timed (a bound on time failed on a loaded machine): each layer and each search one pass.
    linearly((repeats) => {
      const { work, result } = workOf(() => cut('%C3%A4\\u00e4&#228;'.repeat(repeats), 'ääää'));
      assert.equal(result, '***');
      return work;
    }, 5_000);
  });
});
