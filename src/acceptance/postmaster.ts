import { printableAscii } from '../mail/ascii.ts';
import { rfc5322Date } from '../mailer/dsn.ts';
import type { NewOutgoingMail } from '../store/types.ts';
import type { Transaction } from './types.ts';

/** A client's greeting in the trace is cut to this: the longest domain name (RFC 1035 §2.3.4). */
const TRACE_HELO_CHARS = 255;

/** The mailbox of a transaction to the postmaster, or undefined for one to numbers (RCPT keeps the two apart). */
export function postmasterOf(transaction: Transaction): string | undefined {
  for (const { target } of transaction.recipients.values()) if ('postmaster' in target) return target.postmaster;
  return undefined;
}

/**
 * The relay's own mail that carries a mail for the postmaster to `mailbox`: the bytes as received,
 * under a Received: line (RFC 5321 §4.4: a server that takes a mail on adds its trace), and the
 * envelope sender as it came, so that a bounce's null sender stays null and is never bounced again.
 */
export function postmasterMail(id: string, transaction: Transaction, raw: Buffer, mailbox: string, hostname: string, now: number): NewOutgoingMail {
  return {
    kind: 'postmaster',
    messageId: id,
    envelopeFrom: transaction.envelopeFrom,
    recipients: [mailbox],
    raw: Buffer.concat([Buffer.from(receivedLine(id, transaction, hostname, now)), raw]),
  };
}

/** The trace line; the client's greeting is its own text, so it is kept to printable ASCII without the comment's parentheses. */
function receivedLine(id: string, { client, protocol }: Transaction, hostname: string, now: number): string {
  const helo =
    printableAscii(client.helo)
      .replace(/[()\s]/g, '')
      .slice(0, TRACE_HELO_CHARS) || 'unknown';
  // RFC 5321 §4.1.3: an IPv6 address literal is tagged.
  const literal = client.address.includes(':') ? `IPv6:${client.address}` : client.address;
  return `Received: from ${helo} ([${literal}])\r\n\tby ${hostname} with ${protocol} id ${id};\r\n\t${rfc5322Date(new Date(now))}\r\n`;
}
