import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cutEchoes, echoNeedles } from '../../src/dispatch/echoes.ts';

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

  test('a value holding an escape of its own is cut as written too', () => {
    assert.equal(cut('pw=ab%41cd; again: ab%2541cd', 'ab%41cd'), 'pw=***; again: ***');
  });

  test('the start of a value where a long answer was cut, in the middle of an escape too', () => {
    assert.equal(cut('failed for kQ9\\/vX2+L\\u00', secret), 'failed for ***');
    assert.equal(cut('failed for kQ9%2FvX2%2BL%C', secret), 'failed for ***');
    assert.equal(cut('failed for kQ9%2FvX2%2', secret), 'failed for ***');
    assert.equal(cut('failed for kQ9%2', secret), 'failed for kQ9%2', 'fewer than 4 characters of it are left alone');
  });

  test('words holding escapes but not the value are left as they came; shorter values are not cut', () => {
    const said = 'ERR 100%25 & &amp; \\u0041 %zz &#xZZ; kQ9/ abc';
    assert.equal(cut(said, secret, 'abc'), said);
  });

  test('one pass per layer: a long answer full of escapes is read at once', () => {
    const said = '%C3%A4\\u00e4&#228;'.repeat(50_000);
    const started = performance.now();
    assert.equal(cut(said, 'ääää'), '***');
    assert.ok(performance.now() - started < 5_000, `${performance.now() - started} ms`);
  });
});
