import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { open, readdir, rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { ClaimedMail } from '../store/types.ts';

export type DeliveryResult =
  | { ok: true; response: string }
  /**
   * `down`: the transport itself fails (a Maildir that cannot be written, a smarthost that cannot be
   * reached, drops the session or refuses the relay's login), not this mail: every mail waits for it,
   * and it is logged once. `setting`: the failure is of the relay's own setup, named by the setting to
   * fix (the smarthost refused its login): never the mail's end, as every mail would meet it.
   */
  | { ok: false; permanent: boolean; error: string; down: boolean; setting?: string };

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
 *
 * Exactly once: a mail's file name is the same at every attempt (maildirName), so an attempt after a
 * crash between the rename and the commit that marks the mail delivered (the store counts that lease as
 * an attempt) finds the file, in new/ or in cur/ where a reader moved it, and writes nothing again.
 */
export function maildirTransport(directory: string): MailTransport {
  for (const sub of ['tmp', 'new', 'cur']) mkdirSync(join(directory, sub), { recursive: true });
  const host = hostname().replace(/[/:]/g, '_');
  return {
    description: `Maildir ${directory}`,
    async deliver(mail) {
      const name = maildirName(mail, host);
      const temporary = join(directory, 'tmp', name);
      try {
        // Only an attempt after one that may have written it looks (the store counts a lease that ended or was resumed as an
        // attempt): a listing of new/ and cur/ grows with the Maildir, which may keep every mail it was ever given.
        const earlier = mail.attempts > 0 ? await deliveredAs(directory, name) : undefined;
        if (earlier) return { ok: true, response: `already stored as ${earlier} by an earlier attempt; not written again` };
        // Not `wx`: a file left in tmp/ by an attempt cut short has this name too, and is no mail.
        const file = await open(temporary, 'w');
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
        // A half-written or unmoved file in tmp/ is no mail: the retry writes it again (Maildir readers never look in tmp/).
        await rm(temporary, { force: true }).catch(() => undefined);
        return { ok: false, permanent: false, error: (error as Error).message, down: true };
      }
    },
    async close() {},
  };
}

/**
 * Hex digits of the digest in a file name: 64 bits, so that two mails with one id and second (a store
 * begun afresh) differ but by chance of 1 in 2^64, in a name short enough for any file system.
 */
const MAILDIR_DIGEST_CHARS = 16;

/**
 * A mail's Maildir file name (time.unique.host): the time it was queued, and as the unique part its
 * queue id with a digest of its envelope and bytes: a store begun afresh numbers its mail from 1 again,
 * and such a mail must not be taken for an earlier one delivered under the same id.
 */
function maildirName(mail: ClaimedMail, host: string): string {
  const digest = createHash('sha256').update(mail.envelopeFrom).update('\0').update(mail.recipients.join(',')).update('\0').update(mail.raw);
  return `${Math.floor(mail.createdAt / 1000)}.S${mail.id}H${digest.digest('hex').slice(0, MAILDIR_DIGEST_CHARS)}.${host}`;
}

/**
 * The name an earlier attempt delivered `name` as, if any: in new/, or in cur/ where a reader moved it
 * and may have added its flags (`:2,S`). The host part is not compared: the machine's name may have
 * changed since that attempt.
 */
async function deliveredAs(directory: string, name: string): Promise<string | undefined> {
  const unique = name.slice(0, name.lastIndexOf('.') + 1);
  for (const sub of ['new', 'cur']) {
    const found = (await readdir(join(directory, sub))).find((entry) => entry.startsWith(unique));
    if (found) return `${sub}/${found}`;
  }
  return undefined;
}

/** What an MTA adds on local delivery, so that a reader of the Maildir sees the envelope. */
function deliveryHeaders(mail: ClaimedMail): string {
  return `Return-Path: <${mail.envelopeFrom}>\nDelivered-To: ${mail.recipients.join(', ')}\n`;
}

/** The mail's CRLF line ends as LF; every other octet as it is (latin1 maps each octet to one character and back). */
function withLfLines(raw: Buffer): Buffer {
  return Buffer.from(raw.toString('latin1').replaceAll('\r\n', '\n'), 'latin1');
}
