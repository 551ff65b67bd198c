import assert from 'node:assert/strict';
import { test } from 'node:test';
import { printableAscii } from '../../src/mail/ascii.ts';

test('printable ASCII keeps letters by their base letter and makes the rest "?"', () => {
  assert.equal(printableAscii('Résumé Größe Ærø.pdf'), 'Resume Gro?e ?r?.pdf');
  assert.equal(printableAscii('ﬁle①.txt'), 'file1.txt');
  // One "?" per character, an emoji's two UTF-16 units included; controls too (no line break gets through).
  assert.equal(printableAscii('报告 📎\r\n\tend'), '?? ????end');
});
