import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configSchema } from '../../src/config/schema.ts';
import { extractRequest, MAX_READ_CHARS, parseMail, readPart } from '../../src/mail/extract.ts';
import { textPolicyFor } from '../../src/mail/policy.ts';

const POLICY = textPolicyFor(configSchema.shape.text.parse(undefined), 'sender@example.com');
const request = async (body: string, headers = 'Subject: Disk\r\n') =>
  extractRequest(await parseMail(Buffer.from(`From: a@example.com\r\n${headers}Content-Type: text/plain; charset=utf-8\r\n\r\n${body}`)), POLICY, false);

/** The text rules read a body's first MAX_READ_CHARS characters: a larger mail is read as its bounded prefix is. */
describe('the part of a body the text rules read', () => {
  const quote = (lines: number) => Array.from({ length: lines }, (_, at) => `> line ${at} of the quoted report: disk usage at ${at % 100}%`).join('\n');
  const reply = 'Subject: Re: Disk\r\nIn-Reply-To: <a@example.com>\r\n';
  const bodies: Record<string, [string, string?]> = {
    'plain text far over the bound (9 MB of lines)': [`${`${'hello world '.repeat(6)}\n`.repeat(117_000)}`],
    'one line over the bound (a base64 body on one line)': [`${'QUJD'.repeat(MAX_READ_CHARS)}\n`],
    'a line of emoji over the bound (surrogate pairs)': [`${'😀'.repeat(MAX_READ_CHARS)}\n`],
    'a top-posted reply over a long quoted thread': [`Restarted db1, all fine.\n\nOn Mon, 7 Dec 2026, Bob <bob@example.com> wrote:\n${quote(8_000)}\n`, reply],
    'a signed-off text over the bound': [`${'Please check rack 4.\n'.repeat(10_000)}\nBest regards,\nAlice\n`],
  };
  for (const [name, [body, headers]] of Object.entries(bodies))
    it(`reads ${name} as its bounded prefix`, async () => {
      assert.ok(body.length > MAX_READ_CHARS, name);
      const prefix = readPart(body).text;
      assert.ok(prefix.length <= MAX_READ_CHARS && body.startsWith(prefix), name);
      const [whole, bounded] = await Promise.all([request(body, headers), request(prefix, headers)]);
      assert.equal(whole.text, bounded.text, name);
      assert.equal(whole.unread, true, name);
      assert.equal(bounded.unread, undefined, name);
    });

  it('reads a reply within the bound whole: a bottom-posted or inline answer under a long quote is kept', async () => {
    const bottom = await request(`On Mon, 7 Dec 2026, Bob <bob@example.com> wrote:\n${quote(1_500)}\n\nRestarted db1, all fine.\n`, reply);
    assert.equal(bottom.text, 'Restarted db1, all fine.');
    const inline = await request(`${quote(800)}\n\nDone.\n\n${quote(800)}\n\nAlso done.\n`, reply);
    assert.equal(inline.text, 'Done.\n\nAlso done.');
  });
});
