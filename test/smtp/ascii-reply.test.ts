import assert from 'node:assert/strict';
import { test } from 'node:test';
import { asciiReply } from '../../src/smtp/patches.ts';

/**
 * asciiReply sees every reply line the relay sends: one in printable ASCII (nearly all) is given back as it is,
 * without the Unicode normalisation and replacements that only a line with other characters needs.
 */
test('a reply line in printable ASCII is given back without being normalised; others still become ASCII', () => {
  const normalize = String.prototype.normalize;
  let normalised = 0;
  String.prototype.normalize = function counted(this: string, form?: string) {
    normalised++;
    return normalize.call(this, form);
  };
  try {
    const plain = '250 2.0.0 Ok: queued as 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b (2 SMS parts, ~ [x] {y} | z)';
    assert.equal(asciiReply(plain), plain);
    assert.equal(normalised, 0, 'an ASCII line was normalised');
  } finally {
    String.prototype.normalize = normalize;
  }
  assert.equal(asciiReply('550 5.1.3 Türkiye — see RFC 5321 § 4.2… “quoted” → ×2'), '550 5.1.3 Turkiye - see RFC 5321 section 4.2... "quoted" -> x2');
  assert.equal(asciiReply('451 tab\there'), '451 tabU+0009here');
  assert.equal(
    asciiReply('250 2.6.0 Ok ("¬" sent as "~", "😀" dropped)'),
    '250 2.6.0 Ok ("U+00AC" sent as "~", "U+1F600" dropped)',
    'a character the note is about is named',
  );
});
