import { z } from 'zod';

/**
 * A mailbox the relay mails to and writes into To: and Delivered-To: WHATWG's "valid e-mail address"
 * (zod's html5Email): a local part of RFC 5322 atext and dots, "@", a host name (`localhost` too, as
 * a monitoring host's own mail has it). Nothing a header or an SMTP command treats specially (CR/LF,
 * blanks, quotes, angle brackets, commas) can be in one. The rarer forms of RFC 5322 (a quoted local
 * part, a domain literal) and non-ASCII addresses are not taken.
 */
const MAILBOX = z.email({ pattern: z.regexes.html5Email });

export function isMailbox(address: string): boolean {
  return MAILBOX.safeParse(address).success;
}

/** An address of an address header as read: a mailbox, or an RFC 5322 group (`Team: a@x, b@y;`) of them. */
interface HeaderAddress {
  readonly address?: string | undefined;
  readonly group?: readonly HeaderAddress[] | undefined;
}

/**
 * The addresses of an address header (From:, Reply-To:) that are mailboxes, in order, a group's
 * members where the group stands (RFC 5322 §3.4: an address is a mailbox or a group). A header
 * mailparser reads with garbage for an address (a stray quote in the display name turns
 * `""><img src=x onerror=alert(1)>" <mallory@evil.example>` into `img src=x onerror=alert`) names none.
 */
export function mailboxesOf(header: { readonly value: readonly HeaderAddress[] } | undefined): string[] {
  return (header?.value ?? []).flatMap((entry) => (entry.group ?? [entry]).map((member) => member.address ?? '')).filter(isMailbox);
}

/** The first of `mailboxesOf(header)`, or undefined. */
export function mailboxOf(header: { readonly value: readonly HeaderAddress[] } | undefined): string | undefined {
  return mailboxesOf(header)[0];
}
