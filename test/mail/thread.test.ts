/**
 * Thread-first cutting (src/mail/thread.ts) on answers to the relay's real reply mail, built by its
 * own template: the quoted copy goes with its attribution or header block, and nothing of the
 * writer's text above it; a cut by the thread and the general rules (no store, as `smsrelay preview`
 * without `--to`) send the same text.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { configSchema } from '../../src/config/schema.ts';
import { extractRequest, parseMail } from '../../src/mail/extract.ts';
import { textPolicyFor } from '../../src/mail/policy.ts';
import { Templates } from '../../src/mailer/templates.ts';
import { buildReplyMail, replyMailOptions } from '../../src/replies/reply-mail.ts';

const POLICY = textPolicyFor(configSchema.shape.text.parse(undefined), 'alice@example.com');
const PHONE = '+447700900840';
const PHONE_ADDRESS = '447700900840@sms.localhost';
const ATTRIBUTION = `On Sat, 5 Dec 2026 at 06:20, +44 7700 900840 <${PHONE_ADDRESS}> wrote:`;

/** Lines a person types above the quote that hold a colon without ending in one. */
const COLON_LINES = [
  'Meet at 8: room 4B.',
  'Note: the gate code changed.',
  'Ring me at 07700 900123: urgent',
  'As Bob wrote: the rack is on fire.',
  'Bob said: the rack is on fire.',
  'Bob wrote: the rack is on fire',
];

describe("thread-first cutting keeps the writer's lines above the quoted reply mail", () => {
  let sent = '';
  let subject = '';
  let messageId = '';

  before(async () => {
    const options = replyMailOptions({ sms: { domains: ['sms.localhost'] }, smtp: { hostname: 'relay.test' }, mail: {} }, new Templates());
    const received = { number: PHONE, text: 'When do we meet?', sentAt: '2026-12-05T06:20:00Z', receivedAt: Date.now(), userContext: undefined };
    const built = await buildReplyMail(received, { mailbox: 'alice@example.com', conversation: undefined }, options, '01900000-0000-7000-8000-000000000001');
    const parsed = await parseMail(built.mail.raw);
    sent = parsed.text ?? '';
    subject = parsed.subject ?? '';
    messageId = built.messageIdHeader;
  });

  async function answer(body: string) {
    const raw = [
      'From: alice@example.com',
      `To: ${PHONE_ADDRESS}`,
      `Subject: Re: ${subject}`,
      `In-Reply-To: ${messageId}`,
      'Content-Type: text/plain; charset=utf-8',
      '',
      body.replace(/\n/g, '\r\n'),
    ].join('\r\n');
    const mail = await parseMail(Buffer.from(raw));
    return { thread: extractRequest(mail, POLICY, false, [sent]), general: extractRequest(mail, POLICY, false) };
  }

  const quoted = () =>
    sent
      .split(/\r?\n/)
      .map((line) => `> ${line}`)
      .join('\n');
  const outlook = () =>
    `From: +44 7700 900840 <${PHONE_ADDRESS}>\nSent: Saturday, December 5, 2026 6:20 AM\nTo: alice@example.com\nSubject: ${subject}\n\n${sent}`;

  for (const line of COLON_LINES) {
    test(`"${line}" above a quote, an attribution or Outlook's header block is sent`, async () => {
      const shapes = [
        { body: `Call me back please.\n${line}\n\n${ATTRIBUTION}\n${quoted()}`, text: `Call me back please.\n${line}` },
        { body: `Call me back please.\n${line}\n${ATTRIBUTION}\n${quoted()}`, text: `Call me back please.\n${line}` },
        { body: `${line}\n\n${ATTRIBUTION}\n${quoted()}`, text: line },
        { body: `${line}\n\nCall me back please.\n\n${ATTRIBUTION}\n${quoted()}`, text: `${line}\n\nCall me back please.` },
        { body: `Call me back please.\n${line}\n\n${outlook()}`, text: `Call me back please.\n${line}` },
        { body: `${line}\n\n${outlook()}`, text: line },
      ];
      for (const { body, text } of shapes) {
        const { thread, general } = await answer(body);
        assert.equal(thread.thread, 'cut', body);
        assert.equal(thread.text, text, body);
        assert.equal(general.text, text, body);
        // The cut starts at the attribution or the header block: the writer's line is not in it.
        assert.match(thread.removed[0]?.first ?? '', /^(?:On Sat|From:)/, body);
      }
    });
  }

  test('a header block in an unknown language and an attribution wrapped over two lines still go whole', async () => {
    const albanian = `Nga: ${PHONE_ADDRESS}\nDërguar: e shtunë, 5 dhjetor 2026 6:20 pd\nPër: Alice\nSubjekti: ${subject}\n\n${sent}`;
    const unknown = await answer(`Note: I am on my way.\n\n${albanian}`);
    assert.equal(unknown.thread.text, 'Note: I am on my way.');
    assert.equal(unknown.thread.removed[0]?.first, `Nga: ${PHONE_ADDRESS}`);
    const wrapped = await answer(`Meet at 8: room 4B.\n\nOn Sat, Dec 5, 2026 at 6:20 AM +44 7700 900840 <\n${PHONE_ADDRESS}> wrote:\n\n${quoted()}`);
    assert.equal(wrapped.thread.text, 'Meet at 8: room 4B.');
    assert.equal(wrapped.thread.removed[0]?.first, 'On Sat, Dec 5, 2026 at 6:20 AM +44 7700 900840 <');
  });

  test("an unmarked header block above a > copy, in a language the labels lack, goes with it; the writer's Label: value lines stay", async () => {
    const date = '5 2026 6:20';
    const blocks: Record<string, string> = {
      malay: `Daripada: SMS Relay <${PHONE_ADDRESS}>\nDihantar: Sabtu, ${date} PG\nKepada: Alice <alice@example.com>\nSubjek: ${subject}`,
      kazakh: `Кімнен: SMS Relay <${PHONE_ADDRESS}>\nЖіберілді: ${date}\nКімге: Alice <alice@example.com>\nТақырып: ${subject}`,
      serbian: `Од: SMS Relay <${PHONE_ADDRESS}>\nПослато: субота, ${date}\nЗа: Alice <alice@example.com>\nТема: ${subject}`,
      albanian: `Nga: SMS Relay <${PHONE_ADDRESS}>\nDërguar: e shtunë, ${date} pd\nPër: Alice <alice@example.com>\nSubjekti: ${subject}`,
      azerbaijani: `Kimdən: SMS Relay <${PHONE_ADDRESS}>\nGöndərilib: ${date}\nKimə: Alice <alice@example.com>\nMövzu: ${subject}`,
      welsh: `Oddi wrth: SMS Relay <${PHONE_ADDRESS}>\nAnfonwyd: ${date}\nAt: Alice <alice@example.com>\nPwnc: ${subject}`,
      irish: `Ó: SMS Relay <${PHONE_ADDRESS}>\nSeolta: ${date}\nChuig: Alice <alice@example.com>\nÁbhar: ${subject}`,
      georgian: `გამგზავნი: SMS Relay <${PHONE_ADDRESS}>\nგაგზავნილია: ${date}\nმიმღები: Alice <alice@example.com>\nთემა: ${subject}`,
      // No address nor date in it: a rule or an "Original Message" marker right above shows it is a mail's.
      ruled: `________________________________\nTalaan: SMS Relay\nIpinadala: Sabado\nSa: Alice`,
      marked: `-----Mesej Asal-----\nTalaan: SMS Relay\nIpinadala: Sabado\nSa: Alice`,
    };
    for (const [name, block] of Object.entries(blocks)) {
      const { thread } = await answer(`Ok, I am coming.\n\n${block}\n\n${quoted()}`);
      assert.equal(thread.text, 'Ok, I am coming.', name);
    }
    const { thread } = await answer(`Please check:\nHost: db2\nState: DOWN\nSince: 10:05\n\n${quoted()}`);
    assert.equal(thread.text, 'Please check:\nHost: db2\nState: DOWN\nSince: 10:05');
  });

  test("the writer's own Label: value lines above a > copy stay, with an address, a date or a typed underline in them: only the answered mail's header names the relay's address", async () => {
    const own = [
      'Meeting: 7 Dec 2026 10:00\nRoom: B12\nContact: bob@example.com',
      'Ok, here it is:\n\nMeeting: 7 Dec 2026 10:00\nRoom: B12\nContact: bob@example.com',
      'Please check:\nHost: db2\nState: DOWN\nSince: 10:05\nOwner: ops@example.com',
      'Fixed.\n\nUser: bob@example.com\nVersion: 2.14\nTicket: INC-443',
      'Backup report\n-------------\nHost: db2\nState: FAILED\nJob: nightly',
      'Status\n==========\nHost: db2\nState: DOWN\nSince: 10:05',
    ];
    for (const text of own) {
      const { thread, general } = await answer(`${text}\n\n${quoted()}`);
      assert.equal(thread.text, text);
      assert.equal(general.text, thread.text, text);
    }
    // The relay's number without its address, as Outlook shows a sender by name, names it too.
    const { thread } = await answer(
      `Ok, I am coming.\n\nDaripada: +44 7700 900840\nDihantar: Sabtu, 5 Disember 2026 6:20 PG\nKepada: Alice\nSubjek: ${subject}\n\n${quoted()}`,
    );
    assert.equal(thread.text, 'Ok, I am coming.');
  });
});
