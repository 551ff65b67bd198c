import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import type { ClaimedMail } from '../store/types.ts';

/** Connections kept open to the smarthost; outgoing mail is a trickle next to SMS traffic. */
const SMARTHOST_POOL_SIZE = 2;
/** Hosts to which the smarthost password may travel without TLS. */
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

export type DeliveryResult = { ok: true; response: string } | { ok: false; permanent: boolean; error: string };

/** Where the relay's own mail goes: a smarthost, or a Maildir when none is configured. */
export interface MailTransport {
  readonly description: string;
  deliver(mail: ClaimedMail): Promise<DeliveryResult>;
  close(): Promise<void>;
}

/** SMTP to `SMSRELAY_MAIL_URL` over a small pool; 5xx answers are permanent, the rest temporary. */
export function smarthostTransport(url: string): MailTransport {
  const parsed = new URL(url);
  const sendsPassword = parsed.username !== '' || parsed.password !== '';
  const transport = nodemailer.createTransport({
    pool: true,
    maxConnections: SMARTHOST_POOL_SIZE,
    host: decodeURIComponent(parsed.hostname),
    port: parsed.port ? Number(parsed.port) : parsed.protocol === 'smtps:' ? 465 : 25,
    secure: parsed.protocol === 'smtps:',
    // Credentials only over TLS, unless the smarthost is this machine.
    requireTLS: sendsPassword && !LOOPBACK_HOSTS.has(parsed.hostname),
    ...(sendsPassword ? { auth: { user: decodeURIComponent(parsed.username), pass: decodeURIComponent(parsed.password) } } : {}),
  });
  return {
    description: `smarthost ${parsed.hostname}:${parsed.port || 25}`,
    async deliver(mail) {
      try {
        const info = await transport.sendMail({
          envelope: { from: mail.envelopeFrom, to: [...mail.recipients] },
          raw: mail.raw,
        });
        return { ok: true, response: info.response };
      } catch (error) {
        const failure = error as { message?: string; permanent?: boolean; response?: string };
        return { ok: false, permanent: failure.permanent === true, error: failure.response ?? failure.message ?? String(error) };
      }
    },
    async close() {
      transport.close();
    },
  };
}

/**
 * Delivers into a Maildir (tmp/ → fsync → rename into new/), the embedded default: `npm start`
 * needs no mail server, and any mail client or `cat` can read what the relay sent.
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
          await file.writeFile(mail.raw);
          await file.sync();
        } finally {
          await file.close();
        }
        await rename(temporary, join(directory, 'new', name));
        return { ok: true, response: `stored as ${name}` };
      } catch (error) {
        return { ok: false, permanent: false, error: (error as Error).message };
      }
    },
    async close() {},
  };
}

/** What an MTA adds on local delivery, so that a reader of the Maildir sees the envelope. */
function deliveryHeaders(mail: ClaimedMail): string {
  return `Return-Path: <${mail.envelopeFrom}>\r\nDelivered-To: ${mail.recipients.join(', ')}\r\n`;
}
