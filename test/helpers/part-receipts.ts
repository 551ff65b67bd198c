/** What the tests of long SMS's part receipts across relays share (test/cluster/part-receipts-*.test.ts). */
import assert from 'node:assert/strict';
import { query, waitEvery } from './cluster.ts';
import { queuedId, sendMail } from './smtp.ts';
import type { SmtpSink } from './smtp-sink.ts';
import { sleep } from './wait.ts';

export const PART_SMS = { domains: ['sms.example.com'], defaultRegion: 'GB' };
/** Time for anything doubled to show up after the first copy did. */
export const SETTLE_MS = 600;
export const PATIENCE_MS = 15_000;

/** Three parts of 153 GSM-7 characters. */
const longText = (label: string) => `${label}: ${'Pump 4 tripped twice, standby pump running, pressure holding. '.repeat(6)}End.`;

/** Mails `phone` a text of three parts through the relay on `smtpPort`, asking for success notices too; the relay's message id. */
export async function mailLong(smtpPort: number, phone: string, subject: string, from: string): Promise<string> {
  const sent = await sendMail(smtpPort, {
    from,
    to: [`${phone}@sms.example.com`],
    subject,
    body: longText(subject),
    headers: { From: from },
    rcptParams: 'NOTIFY=SUCCESS,FAILURE',
  });
  return queuedId(sent.data);
}

/** The SMS's status and delivery state, as the shared database has them. */
export async function smsRow(url: string, messageId: string): Promise<{ status: string; delivery: string | null }> {
  const [row] = await query<{ status: string; delivery: string | null }>(url, 'SELECT status, delivery FROM outbound WHERE message_id = $1', [messageId]);
  return row ?? { status: 'none', delivery: null };
}

/** The notices mailed to `to` about `subject`: 'SMS delivered: …' / 'Undelivered SMS: …'. */
export function noticesOf(sink: SmtpSink, to: string, subject: string) {
  return sink.received.filter((mail) => mail.to.includes(to) && new RegExp(`^Subject: (SMS delivered|Undelivered SMS): ${subject}`, 'm').test(mail.raw));
}

/** The SMS `messageId` ends `state` in the shared database, and its sender `to` gets exactly one notice of it. */
export async function endsOnceNoticed(
  url: string,
  messageId: string,
  state: 'delivered' | 'failed',
  sink: SmtpSink,
  to: string,
  subject: string,
): Promise<void> {
  await waitEvery(state, async () => (await smsRow(url, messageId)).delivery === state, PATIENCE_MS);
  await waitEvery('the notice', () => noticesOf(sink, to, subject).length > 0, PATIENCE_MS);
  await sleep(SETTLE_MS);
  const notices = noticesOf(sink, to, subject);
  assert.equal(notices.length, 1, 'one notice');
  assert.match(notices[0]?.raw ?? '', new RegExp(`^Subject: ${state === 'delivered' ? 'SMS delivered' : 'Undelivered SMS'}: ${subject}`, 'm'));
}
