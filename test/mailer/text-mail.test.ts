import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import MimeNode from 'nodemailer/lib/mime-node';
import { buildTextMail, textNode } from '../../src/mailer/text-mail.ts';

const FIXTURES = fileURLToPath(new URL('../mail/fixtures/', import.meta.url));

/** The reply mail's node as reply-mail.ts makes it, with a subject and sender name of the text's own kind. */
function node(text: string, root = new MimeNode('text/plain; charset=utf-8', { hostname: 'sms.example.com', newline: 'windows' })): MimeNode {
  root.setHeader({
    From: { name: `+44 7700 900123 ${text.slice(0, 12)}`, address: '447700900123@sms.example.com' },
    To: 'alice@example.com',
    Subject: `Re: ${text.replace(/[\r\n]+/g, ' ').slice(0, 120)} [UserContext: 42]`,
    Date: new Date(Date.UTC(2026, 11, 3, 10)),
    'Message-ID': '<0193a0b0-0000-7000-8000-000000000000@sms.example.com>',
    'X-SMSRelay-Loop': 'relay.example.com',
    'In-Reply-To': '<abc@example.com>',
    References: '<abc@example.com>',
  });
  return root;
}

describe('buildTextMail', () => {
  const made = [
    '',
    'On my way',
    'Café at 10? ☕ See you — Zoë',
    '前回の会議の議事録を送ります。よろしくお願いします。',
    'Привет! Буду через 10 минут.',
    '😀😃😄😁😆😅😂🤣🥲☺️😊😇🙂🙃😉😌😍🥰😘😗😙😚😋😛😝😜🤪🤨🧐🤓😎🥸🤩🥳',
    `A long line ${'word '.repeat(60)}end`,
    `Ünïcödé long line ${'wörd '.repeat(60)}end`,
    'trailing spaces   ',
    'trailing tab\t',
    'ends with a break\n',
    'CRLF\r\nlines\r\n',
    'lone CR\rinside',
    'ends with CR\r',
    'a = sign and =3D and ==',
    '.\n.leading dot\nFrom the start',
    '\n\nleading breaks',
    `${'x'.repeat(75)}=\n${'y'.repeat(76)}\n${'z'.repeat(77)}`,
    `${'é'.repeat(200)}`,
  ];
  const fixtures = readdirSync(FIXTURES)
    .filter((file) => file.endsWith('.json'))
    .map((file) => (JSON.parse(readFileSync(`${FIXTURES}${file}`, 'utf8')) as { text?: string }).text ?? '');

  test("gives build()'s bytes for made texts and every fixture's SMS, in a reply mail's template", async () => {
    assert.ok(fixtures.length >= 30);
    for (const sms of [...made, ...fixtures]) {
      const content = `${sms}\n\n-- \nSMS from +44 7700 900123, 2026-12-03T10:00:00+00:00\nReply to this mail to answer by SMS: only the text above your quote is sent.\n`;
      for (const body of [content, sms]) {
        const built = await node(sms).setContent(body).build();
        assert.equal(buildTextMail(node(sms), body).toString('latin1'), built.toString('latin1'), JSON.stringify(body.slice(0, 60)));
        // The relay's own node (header names remembered, no random boundary) makes the same bytes.
        assert.equal(
          buildTextMail(node(sms, textNode('sms.example.com')), body).toString('latin1'),
          built.toString('latin1'),
          JSON.stringify(body.slice(0, 60)),
        );
      }
    }
  });
});
