import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { ClaimedMail } from '../store/types.ts';

export type DeliveryResult =
  | { ok: true; response: string }
  /**
   * `setting`: the failure is of the relay's own setup, named by the setting to fix (the smarthost refused
   * its login): never the mail's end, as every mail would meet it.
   */
  | { ok: false; permanent: boolean; error: string; setting?: string };

/** Where the relay's own mail goes: a smarthost, or a Maildir when none is configured. */
export interface MailTransport {
  readonly description: string;
  deliver(mail: ClaimedMail): Promise<DeliveryResult>;
  close(): Promise<void>;
}

/**
 * Delivers into a Maildir (tmp/ → fsync → rename into new/), the embedded default: `npm start`
 * needs no mail server, and any mail client or `cat` can read what the relay sent. Lines end in LF
 * there, as in every Maildir (Dovecot, Courier and mutt read a CR as part of the line); the queue
 * keeps the mail as SMTP sends it, with CRLF.
 */
export function maildirTransport(directory: string): MailTransport {
  for (const sub of ['tmp', 'new', 'cur']) mkdirSync(join(directory, sub), { recursive: true });
  const host = hostname().replace(/[/:]/g, '_');
  let sequence = 0;
  return {
    description: `Maildir ${directory}`,
    async deliver(mail) {
      sequence += 1;
      const name = `${Date.now()}.P${process.pid}Q${sequence}R${randomBytes(4).toString('hex')}.${host}`;
      const temporary = join(directory, 'tmp', name);
      try {
        const file = await open(temporary, 'wx');
        try {
          await file.writeFile(deliveryHeaders(mail));
          await file.writeFile(withLfLines(mail.raw));
          await file.sync();
        } finally {
          await file.close();
        }
        await rename(temporary, join(directory, 'new', name));
        return { ok: true, response: `stored as ${name}` };
      } catch (error) {
        // A half-written or unmoved file in tmp/ is no mail: the retry writes a new one (Maildir readers never look in tmp/).
        await rm(temporary, { force: true }).catch(() => undefined);
        return { ok: false, permanent: false, error: (error as Error).message };
      }
    },
    async close() {},
  };
}

/** What an MTA adds on local delivery, so that a reader of the Maildir sees the envelope. */
function deliveryHeaders(mail: ClaimedMail): string {
  return `Return-Path: <${mail.envelopeFrom}>\nDelivered-To: ${mail.recipients.join(', ')}\n`;
}

/** The mail's CRLF line ends as LF; every other octet as it is (latin1 maps each octet to one character and back). */
function withLfLines(raw: Buffer): Buffer {
  return Buffer.from(raw.toString('latin1').replaceAll('\r\n', '\n'), 'latin1');
}
