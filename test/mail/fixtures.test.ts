import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { configSchema } from '../../src/config/schema.ts';
import { extractRequest, parseMail } from '../../src/mail/extract.ts';
import { textPolicyFor } from '../../src/mail/policy.ts';
import { analyseText } from '../../src/sms/encoding.ts';
import { loadMailFixtures } from '../helpers/mail-fixtures.ts';

/** The text rules of a relay with no configuration. */
const DEFAULT_POLICY = textPolicyFor(configSchema.shape.text.parse(undefined), 'sender@example.com');
const fixtures = loadMailFixtures();

describe('real-world mails: the SMS each one becomes', () => {
  test('there are at least 30 of them', () => {
    assert.ok(fixtures.length >= 30, `only ${fixtures.length} fixtures`);
  });

  for (const { name, raw, expected } of fixtures) {
    test(`${name}: ${expected.description}`, async () => {
      const request = extractRequest(await parseMail(raw), DEFAULT_POLICY, false);
      const sms = analyseText(request.text);
      const { description: _description, ...want } = expected;
      assert.deepEqual(
        {
          text: sms.text,
          encoding: sms.encoding,
          parts: sms.parts,
          ...(request.userContext === undefined ? {} : { userContext: request.userContext }),
          ...(request.senderId === undefined ? {} : { senderId: request.senderId }),
        },
        want,
      );
    });
  }
});
