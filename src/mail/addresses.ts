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

/**
 * The first address of an address header (From:, Reply-To:) that is a mailbox, or undefined. A
 * header mailparser reads with garbage for an address (a stray quote in the display name turns
 * `""><img src=x onerror=alert(1)>" <mallory@evil.example>` into `img src=x onerror=alert`) names none.
 */
export function mailboxOf(header: { readonly value: readonly { readonly address?: string | undefined }[] } | undefined): string | undefined {
  return header?.value.map((entry) => entry.address ?? '').find(isMailbox);
}
